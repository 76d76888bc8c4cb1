"""
token_decoder: policy action tokens -> MoveIt Servo twists (or pose targets) and gripper commands.

A thin rclpy shell over ``runtime.decoder.DecoderCore``; every topic is remappable
and the defaults connect to MoveIt Servo (``command_in_type: speed_units``) and
a ros2_control forward gripper controller with no remapping.  Topic names are
relative (``/diagnostics`` aside), so a node started in a namespace (one decoder
per arm) talks to that arm's Servo and controllers.

Servo-ready: ``~/enable`` activates Servo (``servo_activation``, see
``nodes.servo_activation``), and within each control step the step's twist is repeated
at ``publish_rate`` and ended by a zero (``runtime.keepalive``), so a 5 Hz profile's step
moves the arm by its decoded delta despite Servo's 0.1 s ``incoming_command_timeout``.

Safe by default: motion is disabled until ``~/enable`` (``start_enabled`` false),
``dry_run`` sends would-be commands to ``robotok/dry_run/*`` only, and the
workspace box of the profile needs the measured pose on ``robotok/ee_pose``.
Every log line is throttled per kind (``WARN_PERIOD``), whatever the input rate.
Beside token ids: whole generated sequences, RT-2 text and continuous chunks
(``nodes.decoder_inputs``), each through ``feed`` like a token message.
"""

import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from rclpy.clock import Clock, ClockType
from rclpy.qos import qos_policy_name_from_kind
from robotok_ros.errors import ConfigError
from robotok_ros.nodes.base import RobotokNode, run_node
from robotok_ros.nodes.decoder_inputs import declare_input_parameters, ExtraInputs
from robotok_ros.nodes.decoder_io import Outputs, QOS, quiet_events, throttled_log, \
    token_events, token_qos
from robotok_ros.nodes.decoder_params import accepted, declare_decoder_parameters, \
    declare_limit_parameters, live_changes, refused
from robotok_ros.nodes.parameters import declare_tokenizer_parameters, profile_and_tokenizer
from robotok_ros.nodes.servo_activation import ServoActivation
from robotok_ros.runtime.decoder import DecoderCore, Rejected
from robotok_ros.runtime.health import Throttle
from robotok_ros.runtime.inputs import END
from robotok_ros.runtime.keepalive import KeepAlive
from std_msgs.msg import Int32MultiArray
from std_srvs.srv import SetBool

NAME = 'token_decoder'
WARN_PERIOD = 2.0  # seconds between two log lines of one kind
LEVELS = {'OK': DiagnosticStatus.OK, 'WARN': DiagnosticStatus.WARN,
          'ERROR': DiagnosticStatus.ERROR}


class TokenDecoder(RobotokNode):
    """Subscribe to action tokens, publish safe commands; see the module docstring."""

    def __init__(self, **node_kwargs):
        super().__init__(NAME, **node_kwargs)
        values = declare_tokenizer_parameters(self)
        p = declare_decoder_parameters(self)
        inputs = declare_input_parameters(self)
        self.profile, tok = profile_and_tokenizer(values)
        self.core = core = DecoderCore(
            self.profile, tok, p.chunk_policy, p.command_timeout, p.stop_repeats,
            p.ensemble_decay, p.max_queue_seconds, p.pose_max_age, p.output_mode,
            p.start_enabled)
        declare_limit_parameters(self, core)
        self.inputs = ExtraInputs(self, core, inputs, token_qos(p.token_qos_reliability,
                                                                p.token_qos_depth))
        core.set_dry_run(p.dry_run)
        self.logs = Throttle(WARN_PERIOD)
        if not core.has_cartesian:
            self.get_logger().warn(f'profile {self.profile.name} has no dx..dyaw dimension: '
                                   'twists and poses will stay zero')
        self.out = Outputs(self, self.profile, p.output_mode)
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10,
                                              event_callbacks=quiet_events())
        if core.needs_pose:
            self.create_subscription(PoseStamped, 'robotok/ee_pose', self.on_pose, QOS)
        self._reliability = p.token_qos_reliability
        qos = token_qos(p.token_qos_reliability, p.token_qos_depth)
        for events in token_events(self.on_incompatible_qos, self.on_message_lost):
            try:  # message_lost is not supported by every middleware
                self.create_subscription(Int32MultiArray, 'robotok/action_tokens',
                                         self.on_tokens, qos, event_callbacks=events)
                break
            except Exception:  # noqa: B902 - rclpy's UnsupportedEventTypeError: try the next
                continue
        self.create_service(SetBool, '~/enable', self.on_enable)
        # Every timer is one more entity the executor polls per message, so: the playout timer
        # exists once a chunk needs it and rests while nothing is queued; the watchdog timer
        # (node clock, so sim time holds) is reset by each valid message and fires
        # command_timeout after the last one; one steady timer repeats the stop and
        # publishes diagnostics once a second.
        self.timer = None
        self.dog = self.create_timer(p.command_timeout, self.on_watchdog)
        period = min(max(p.command_timeout / 5, 0.005), 1.0)
        self._diag_every, self._ticks = max(1, round(1.0 / period)), 0
        self.create_timer(period, self.on_housekeeping,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))
        # Keep-alive (twist mode): the step's twist again at publish_rate until the step ends.
        self.keep = KeepAlive(core.period, p.publish_rate if p.output_mode == 'twist' else 0)
        self.keep_timer = None
        self.servo = ServoActivation(self, p.servo_activation, p.output_mode)
        if core.enabled or core.pending_enable:
            self.servo.request()
        self.add_on_set_parameters_callback(self.on_set_parameters)
        state = 'enabled' if core.enabled else (
            'waiting for a pose (workspace box)' if core.pending_enable else
            'disabled: call ~/enable')
        self.get_logger().info(f'{tok.describe()}; {", ".join(self.inputs.describe)}; '
                               f'output {p.output_mode}'
                               f'{" (dry run)" if core.dry_run else ""}, {state}')

    # -- callbacks -------------------------------------------------------------------------
    def on_tokens(self, msg):
        """Decode one message; publish its first step at once (replace) or queue it."""
        layout = msg.layout
        dims = [d.size for d in layout.dim] if layout.dim else ()
        self.feed('token', self.core.on_tokens, msg.data, dims, layout.data_offset,
                  layout.dim[0].label if dims else '')

    def feed(self, what, call, data, *args):
        """Run one input message through ``call(data, now, *args)``; publish what it gives."""
        now = self.get_clock().now()
        if not now.nanoseconds and self.core.enabled:
            # use_sim_time before the first /clock: stamps would be 0 (stale to Servo) and
            # the watchdog's timer could never fire, so nothing may move yet.
            self.core.rejected['no_clock'] += 1
            self._log('clock', f'ignored a {what} message: use_sim_time is true and no '
                      '/clock has arrived yet')
            return
        try:
            cmd = call(data, now.nanoseconds * 1e-9, *args)
        except Rejected as exc:
            self._log('rejected', f'rejected a {what} message ({exc}); rejections so far: '
                      f'{self.core.rejected}')
            return
        if cmd is END:  # the policy ended its episode: the core disabled motion
            self.servo.cancel()
            self.stop(now, everywhere=True)
            self._log('end', 'the policy ended the episode (terminate flag): motion '
                      'disabled; call ~/enable for the next one', 'info')
            return
        if self.core.enabled:
            self.dog.reset()  # only new valid input feeds the watchdog
        if cmd is not None:
            self.send(cmd, now)
        if not len(self.core.playout):
            return
        if self.timer is None:
            self.timer = self.create_timer(self.core.period, self.on_tick)
        elif cmd is not None or self.timer.is_canceled():
            # replace: the next queued step is one full period after the one just sent;
            # ensemble: start ticking, but keep the phase while it runs.
            self.timer.reset()

    def on_tick(self):
        """Play one queued step per control period; the timer rests while nothing is queued."""
        now = self.get_clock().now()
        cmd = self.core.on_tick(now.nanoseconds * 1e-9)
        if cmd is not None:
            self.send(cmd, now)
        if not len(self.core.playout):
            self.timer.cancel()

    def on_watchdog(self):
        """Send the watchdog's zero command when due (and its repeats from housekeeping)."""
        now = self.get_clock().now()
        if self.core.on_watchdog(now.nanoseconds * 1e-9):
            self.stop(now)
        if self.core.watchdog.last_input is None:
            self.dog.cancel()  # nothing armed: rests until the next valid message resets it

    def on_keepalive(self):
        """Repeat the current step's twist; at its end, one zero (unless a step is queued)."""
        now = self.get_clock().now()
        cmd = self.keep.tick(now.nanoseconds * 1e-9, queued=len(self.core.playout) > 0)
        if cmd is KeepAlive.END:
            self.out.stop(now, self.core.dry_run)
        elif cmd is not None:
            self.out.repeat(cmd, now, self.core.dry_run)
        if self.keep.command is None:
            self.keep_timer.cancel()

    def on_housekeeping(self):
        """Repeat the watchdog's zero commands; diagnostics once a second; Servo activation."""
        self.on_watchdog()
        self.servo.poll()
        self._ticks += 1
        if self._ticks % self._diag_every == 0:
            self.on_diagnostics()

    def on_enable(self, request, response):
        """~/enable: true lets tokens move the robot; false stops it with a zero command."""
        now = self.get_clock().now()
        if request.data:
            try:
                self.core.enable(now.nanoseconds * 1e-9)
                response.success, response.message = True, 'enabled'
                self.servo.request()
            except ConfigError as exc:
                response.success, response.message = False, str(exc)
        else:
            self.servo.cancel()
            if self.core.disable():
                self.stop(now)
            response.success, response.message = True, 'disabled: zero command sent'
        self._log('enable', response.message, 'info' if response.success else 'error')
        self.on_diagnostics()
        return response

    def on_pose(self, msg):
        """Keep the latest measured end-effector pose (pose mode, workspace box)."""
        if msg.header.frame_id and msg.header.frame_id != self.profile.frame_id:
            self._log('pose', f'ignored a pose in frame {msg.header.frame_id!r}; expected '
                      f'{self.profile.frame_id!r}')
            return
        p, q = msg.pose.position, msg.pose.orientation
        now = self.get_clock().now().nanoseconds * 1e-9
        started = self.core.on_pose((p.x, p.y, p.z), (q.x, q.y, q.z, q.w), now)
        if started:
            self.get_logger().info(started)
            self.on_diagnostics()

    def on_set_parameters(self, params):
        """Apply live limit / timeout / dry_run changes, all or none, or refuse with why."""
        try:
            limits, timeout, dry = live_changes(params)
            self.core.set_limits(timeout, **limits)
        except ConfigError as exc:
            self._log('parameters', f'refused a parameter change: {exc}', 'error')
            return refused(str(exc))
        if timeout is not None:
            self.destroy_timer(self.dog)
            self.dog = self.create_timer(timeout, self.on_watchdog)
        if dry is not None and self.core.set_dry_run(dry):  # the arm stops; dry run goes on
            now = self.get_clock().now()
            self.out.stop(now, False, self.core.hold_target(now.nanoseconds * 1e-9))
        return accepted()

    def on_incompatible_qos(self, info):
        """Warn (throttled) and count: a token publisher's QoS never connects to ours."""
        self.core.counters['qos_incompatible'] += max(1, info.total_count_change)
        self._log('qos', f'a publisher on robotok/action_tokens offers a QoS incompatible '
                  f'with this subscription ({self._reliability}; incompatible policy: '
                  f'{qos_policy_name_from_kind(info.last_policy_kind)}): none of its messages '
                  'arrive. Set token_qos_reliability to match the publisher, or make it '
                  'reliable.')

    def on_message_lost(self, info):
        """Count messages the middleware reports lost on the token subscription."""
        self.core.counters['messages_lost'] += info.total_count_change
        self._log('lost', f'{info.total_count} token messages lost so far (middleware)')

    def on_diagnostics(self):
        """Publish the level of the last window, cumulative counters, limits and latency."""
        clock = time.monotonic()
        values = self.core.snapshot(clock)
        level, message = self.core.assess(values, clock)
        status = DiagnosticStatus(name=f'{NAME}: decoding', hardware_id=self.profile.name,
                                  level=LEVELS[level], message=message)
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        arr = DiagnosticArray(status=[status])
        arr.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(arr)

    # -- output ----------------------------------------------------------------------------
    def send(self, cmd, now):
        """Publish a command, or a stop (and why) when the core says so."""
        if cmd.stop:
            self.stop(now, everywhere=True)
            self._log('fault', f'motion disabled by a fault: {self.core.fault}; call ~/enable '
                      'once it is fixed', 'error')
        else:
            self.out.send(cmd, now, self.core.dry_run)
            if self.keep.enabled:
                locked = self.keep.start(cmd, now.nanoseconds * 1e-9)
                if self.keep_timer is None:
                    self.keep_timer = self.create_timer(self.keep.interval, self.on_keepalive)
                elif not locked:  # a locked step keeps the stream's phase
                    self.keep_timer.reset()  # phase: the last repeat falls on the step's end

    def stop(self, now, everywhere=False):
        """Stop at once where commands go now (dry run: there); ``everywhere``: real too."""
        self.keep.cancel()
        hold = self.core.hold_target(now.nanoseconds * 1e-9)
        self.out.stop(now, self.core.dry_run, hold)
        if everywhere and self.core.dry_run:
            self.out.stop(now, False, hold)

    def on_shutdown(self):
        """Send a last zero command (forward controllers never time out on their own)."""
        self.stop(self.get_clock().now(), everywhere=True)
        self.out.flush()

    def _log(self, key, text, level='warn'):
        # Throttled by hand: rclpy's throttle_duration_sec follows the (maybe simulated) clock.
        throttled_log(self.get_logger(), self.logs, key, text, level)


def main(args=None):
    """Console script entry point of token_decoder."""
    raise SystemExit(run_node(TokenDecoder, NAME, args))


if __name__ == '__main__':
    main()
