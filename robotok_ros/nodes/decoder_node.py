"""
token_decoder: policy action tokens -> MoveIt Servo twists (or pose targets) and gripper commands.

A thin rclpy shell over ``runtime.decoder.DecoderCore``; every topic is remappable
and the defaults connect to MoveIt Servo (``command_in_type: speed_units``) and
a ros2_control forward gripper controller with no remapping.  Topic names are
relative (``/diagnostics`` aside), so a node started in a namespace (one decoder
per arm) talks to that arm's Servo and controllers.
"""

from array import array
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped, TwistStamped
import numpy as np
from rclpy.clock import Clock, ClockType
from rclpy.duration import Duration
from rclpy.qos import QoSProfile, ReliabilityPolicy
from robotok_ros.errors import InvalidTokenError
from robotok_ros.nodes.base import RobotokNode, run_node
from robotok_ros.nodes.parameters import declare, declare_tokenizer_parameters, \
    profile_and_tokenizer
from robotok_ros.runtime.decoder import DecoderCore, Rejected
from robotok_ros.runtime.geometry import integrate_pose
from robotok_ros.runtime.playout import POLICIES
from std_msgs.msg import Float64MultiArray, Int32MultiArray, MultiArrayDimension
from std_srvs.srv import SetBool

NAME = 'token_decoder'
QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
# Input: a deeper queue rides out a scheduler stall at high rates instead of dropping steps.
TOKEN_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
WARN_PERIOD = 2.0  # seconds between two warnings about rejected messages
GRIP_RESEND_NS = 10 ** 9


def quiet_events():
    """Return publisher event callbacks without rclpy's defaults (None where unsupported)."""
    try:
        from rclpy.event_handler import PublisherEventCallbacks
    except ImportError:  # Humble
        from rclpy.qos_event import PublisherEventCallbacks
    try:
        return PublisherEventCallbacks(use_default_callbacks=False)
    except TypeError:
        return None


class TokenDecoder(RobotokNode):
    """Subscribe to action tokens, publish safe commands; see the module docstring."""

    def __init__(self, **node_kwargs):
        super().__init__(NAME, **node_kwargs)
        values = declare_tokenizer_parameters(self)
        self.mode = declare(self, 'output_mode', 'twist', 'twist: TwistStamped for Servo; '
                            'pose: PoseStamped targets integrated onto the measured pose.',
                            choices=('twist', 'pose'))
        enabled = declare(self, 'start_enabled', True, 'Move as soon as tokens arrive; false '
                          'waits for ~/enable (use false on a real arm).')
        timeout = declare(self, 'command_timeout', 0.5, 'Seconds without a step before the '
                          'watchdog sends zero commands.', float_range=(0.001, 60.0))
        repeats = declare(self, 'stop_repeats', 3, 'Zero commands sent per watchdog trip.',
                          int_range=(1, 1000))
        policy = declare(self, 'chunk_policy', 'replace', 'How a new chunk meets the queued '
                         'steps of the last one.', choices=POLICIES)
        decay = declare(self, 'ensemble_decay', 0.01, 'ACT ensemble weight exp(-m i).',
                        float_range=(0.0, 10.0))
        self.profile, tok = profile_and_tokenizer(values)
        self.core = DecoderCore(self.profile, tok, policy, timeout, repeats, decay)
        self.core.set_enabled(enabled)
        if not self.core.has_cartesian:
            self.get_logger().warn(f'profile {self.profile.name} has no dx..dyaw dimension: '
                                   'twists and poses will stay zero')
        self.dt = 1.0 / self.profile.control_rate_hz
        self.frame = self.profile.frame_id
        self.pose = None
        if self.mode == 'pose':
            self.pose_pub = self.create_publisher(PoseStamped, 'servo_node/pose_target_cmds',
                                                  QOS)
            self.create_subscription(PoseStamped, 'robotok/ee_pose', self.on_pose, QOS)
        else:
            self.twist_pub = self.create_publisher(TwistStamped, 'servo_node/delta_twist_cmds',
                                                   QOS)
        # The twist/pose publisher and the token subscription keep rclpy's default QoS event
        # handlers (they warn about an incompatible peer); each handler is one more entity
        # the executor polls per message, so the secondary outputs go without.
        quiet = quiet_events()
        self.grip_pub = self.create_publisher(Float64MultiArray, 'gripper_controller/commands',
                                              QOS, event_callbacks=quiet)
        self.action_pub = self.create_publisher(Float64MultiArray, 'robotok/decoded_action',
                                                QOS, event_callbacks=quiet)
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10,
                                              event_callbacks=quiet)
        self.create_subscription(Int32MultiArray, 'robotok/action_tokens', self.on_tokens,
                                 TOKEN_QOS)
        self.create_service(SetBool, '~/enable', self.on_enable)
        # Every timer is one more entity the executor polls per message, so: the playout timer
        # exists once a chunk needs it and rests while nothing is queued; one steady timer
        # checks the watchdog (against the node clock, so sim time holds) five times per
        # command_timeout and publishes diagnostics once a second.
        self.timer = None
        period = min(max(timeout / 5, 0.005), 1.0)
        self._diag_every, self._ticks = max(1, round(1.0 / period)), 0
        self.create_timer(period, self.on_housekeeping,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))
        self._twist_msg = TwistStamped()
        self._twist_msg.header.frame_id = self.frame
        self._grip_msg = Float64MultiArray()
        self._grip_last, self._grip_due = None, 0
        self._action_msg = Float64MultiArray()
        self._action_msg.layout.dim = [MultiArrayDimension(
            label=','.join(self.profile.names), size=self.profile.dim, stride=self.profile.dim)]
        self._last_warn = -WARN_PERIOD
        self.get_logger().info(f'{tok.describe()}; output {self.mode}, '
                               f'{"enabled" if enabled else "disabled: call ~/enable"}')

    # -- callbacks -------------------------------------------------------------------------
    def on_tokens(self, msg):
        """Decode one message; publish its first step at once (replace) or queue it."""
        dims = [d.size for d in msg.layout.dim]
        now = self.get_clock().now()
        try:
            cmd = self.core.on_tokens(msg.data, now.nanoseconds * 1e-9, dims,
                                      msg.layout.data_offset)
        except Rejected as exc:
            self._warn(f'rejected a token message ({exc}); '
                       f'rejections so far: {self.core.rejected}')
            return
        if cmd is not None:
            self.publish(cmd, now)
        if not len(self.core.playout):
            return
        if self.timer is None:
            self.timer = self.create_timer(self.dt, self.on_tick)
        elif cmd is not None or self.timer.is_canceled():
            # replace: the next queued step is one full period after the one just sent;
            # ensemble: start ticking, but keep the phase while it runs.
            self.timer.reset()

    def on_tick(self):
        """Play one queued step per control period; the timer rests while nothing is queued."""
        now = self.get_clock().now()
        cmd = self.core.on_tick(now.nanoseconds * 1e-9)
        if cmd is not None:
            self.publish(cmd, now)
        if not len(self.core.playout):
            self.timer.cancel()

    def on_housekeeping(self):
        """Send the watchdog's zero commands when due; diagnostics once a second."""
        now = self.get_clock().now()
        if self.core.on_watchdog(now.nanoseconds * 1e-9):
            self.publish_zero(now)
        self._ticks += 1
        if self._ticks % self._diag_every == 0:
            self.on_diagnostics()

    def on_enable(self, request, response):
        """~/enable: true lets tokens move the robot; false stops it with a zero command."""
        if self.core.set_enabled(request.data):
            self.publish_zero(self.get_clock().now())
        response.success = True
        response.message = 'enabled' if request.data else 'disabled: zero command sent'
        self.get_logger().info(response.message)
        return response

    def on_pose(self, msg):
        """Keep the latest measured end-effector pose (pose mode)."""
        if msg.header.frame_id and msg.header.frame_id != self.frame:
            self._warn(f'ignored a pose in frame {msg.header.frame_id!r}; '
                       f'expected {self.frame!r}')
            return
        p, q = msg.pose.position, msg.pose.orientation
        self.pose = (np.array([p.x, p.y, p.z]), np.array([q.x, q.y, q.z, q.w]))

    def on_diagnostics(self):
        """Publish counters, enabled state, input rate and decode latency (1 Hz)."""
        values = self.core.snapshot(time.monotonic())
        status = DiagnosticStatus(name=f'{NAME}: decoding', hardware_id=self.profile.name)
        bad = values['rejected'] or values['watchdog_trips']
        status.level = DiagnosticStatus.WARN if bad else DiagnosticStatus.OK
        status.message = ('enabled' if values['enabled'] else 'disabled') + (
            f', {values["rejected"]} rejected' if values['rejected'] else '')
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        arr = DiagnosticArray(status=[status])
        arr.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(arr)

    # -- output ----------------------------------------------------------------------------
    def publish(self, cmd, now):
        """Publish one step: twist or pose target first (latency counts), then gripper, action."""
        if self.mode == 'twist':
            self.twist_pub.publish(self._twist(cmd.linear, cmd.angular, now))
        elif self.pose is None:
            self._warn('no pose received on robotok/ee_pose yet: pose target not sent')
        else:
            self._publish_pose(cmd.linear, cmd.angular, now)
        # Messages are reused: publish() serializes at once, and construction is most of
        # the per-step cost at 1 kHz.
        if cmd.gripper is not None and (cmd.gripper != self._grip_last or
                                        now.nanoseconds >= self._grip_due):
            # A forward controller holds its last command: send changes, plus one a second
            # so a restarted controller catches up, not a copy every step.
            self._grip_last, self._grip_due = cmd.gripper, now.nanoseconds + GRIP_RESEND_NS
            self._grip_msg.data = array('d', (cmd.gripper,))
            self.grip_pub.publish(self._grip_msg)
        if self.action_pub.get_subscription_count():  # a log topic: skip it when unheard
            self._action_msg.data = array('d', cmd.action)
            self.action_pub.publish(self._action_msg)

    def publish_zero(self, now):
        """Stop: a zero twist, or the measured pose as the target; the gripper holds."""
        zero = [0.0, 0.0, 0.0]
        if self.mode == 'twist':
            self.twist_pub.publish(self._twist(zero, zero, now))
        elif self.pose is not None:
            self._publish_pose(zero, zero, now)

    def on_shutdown(self):
        """Send a last zero command (forward controllers never time out on their own)."""
        self.publish_zero(self.get_clock().now())
        pub = self.twist_pub if self.mode == 'twist' else self.pose_pub
        pub.wait_for_all_acked(Duration(seconds=0.5))

    def _twist(self, linear, angular, now):
        msg = self._twist_msg
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now.nanoseconds, 10 ** 9)
        lin, ang = msg.twist.linear, msg.twist.angular
        lin.x, lin.y, lin.z = linear
        ang.x, ang.y, ang.z = angular
        return msg

    def _publish_pose(self, linear, angular, now):
        try:
            pos, quat = integrate_pose(*self.pose, linear, angular, self.dt)
        except InvalidTokenError as exc:
            self._warn(str(exc))
            return
        msg = PoseStamped()
        msg.header.stamp = now.to_msg()
        msg.header.frame_id = self.frame
        p, q = msg.pose.position, msg.pose.orientation
        p.x, p.y, p.z = (float(v) for v in pos)
        q.x, q.y, q.z, q.w = (float(v) for v in quat)
        self.pose_pub.publish(msg)

    def _warn(self, text):
        # Throttled by hand: rclpy's throttle_duration_sec follows the (maybe simulated) clock.
        now = time.monotonic()
        if now - self._last_warn >= WARN_PERIOD:
            self._last_warn = now
            self.get_logger().warn(text)


def main(args=None):
    """Console script entry point of token_decoder."""
    raise SystemExit(run_node(TokenDecoder, NAME, args))


if __name__ == '__main__':
    main()
