"""
teleop_tokenizer: an operator's twist or pose stream -> the action tokens a policy would emit.

A thin rclpy shell over ``runtime.teleop``: inputs are stored with their receive
time, a timer at the profile's control rate samples them as of the tick, and
each step (or chunk, for chunk tokenizers) goes out twice with the same step
index and stamp (carried in the first layout dimension's label,
``step=<i>;stamp=<ns>``): ``/robotok/teleop_tokens`` and ``/robotok/teleop_action``.
Input topics (remap them): ``teleop/twist``, ``teleop/pose``, ``joy``,
``teleop/gripper`` and ``joint_states``.
"""

import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped, Twist, TwistStamped
from rclpy.clock import Clock, ClockType
from rclpy.qos import QoSProfile, ReliabilityPolicy
from robotok_ros.data import wire
from robotok_ros.data.wire import relative, step_label
from robotok_ros.nodes.base import RobotokNode, run_node
from robotok_ros.nodes.parameters import declare, declare_tokenizer_parameters, \
    profile_and_tokenizer
from robotok_ros.runtime.teleop import (BUTTON_MODES, GRIPPER_SOURCES, SOURCES, TeleopConfig,
                                        TeleopSampler)
from robotok_ros.runtime.teleop_encoding import TeleopEncoder
from sensor_msgs.msg import JointState, Joy
from std_msgs.msg import Float64, Float64MultiArray, Int32MultiArray, MultiArrayDimension

NAME = 'teleop_tokenizer'
# Relative: in a namespace (one arm of several) they are that arm's topics.
TOKENS_TOPIC, ACTION_TOPIC = relative(wire.TOKENS_TOPIC), relative(wire.ACTION_TOPIC)


def declare_teleop_config(node):
    """Declare the teleop parameters on ``node`` and return a validated TeleopConfig."""
    d = declare
    return TeleopConfig(
        source=d(node, 'teleop_source', 'twist', 'twist: velocity input (SpaceMouse, joy); '
                 'pose: end-effector pose stream (VR, leader arm).', choices=SOURCES),
        linear_scale=d(node, 'linear_scale', [1.0, 1.0, 1.0], 'Per-axis factor on twist '
                       'linear velocity (x, y, z).'),
        angular_scale=d(node, 'angular_scale', [1.0, 1.0, 1.0], 'Per-axis factor on twist '
                        'angular velocity (x, y, z).'),
        max_input_age=d(node, 'max_input_age', 0.2, 'Seconds after which an input counts as '
                        'idle (no motion; dead-man released).', float_range=(0.001, 60.0)),
        gripper_source=d(node, 'gripper_source', 'none', 'Where the gripper comes from: Joy '
                         'button, std_msgs/Float64, or one JointState joint.',
                         choices=GRIPPER_SOURCES),
        gripper_button=d(node, 'gripper_button', 0, 'Joy button index of the gripper.',
                         int_range=(0, 127)),
        gripper_button_mode=d(node, 'gripper_button_mode', 'toggle', 'toggle: each press '
                              'flips open/closed; hold: closed while held.',
                              choices=BUTTON_MODES),
        gripper_joint=d(node, 'gripper_joint', '', 'JointState joint name (gripper_source '
                        'joint).'),
        gripper_input_open=d(node, 'gripper_input_open', 1.0, 'Float64 / joint value that '
                             'means fully open.'),
        gripper_input_closed=d(node, 'gripper_input_closed', 0.0, 'Float64 / joint value '
                               'that means closed.'),
        gripper_start_open=d(node, 'gripper_start_open', True, 'Gripper state before any '
                             'gripper input.'),
        deadman_button=d(node, 'deadman_button', -1, 'Joy button that must be held for any '
                         'sample to be emitted; -1: none.', int_range=(-1, 127)))


def to_messages(out):
    """
    Return (Int32MultiArray, Float64MultiArray) for Emission ``out``, labelled alike.

    Actions have layout ``[T, D]``; tokens ``[T, D]`` when they are D ids per
    step, else one dimension of N ids (chunk tokenizers).
    """
    label = step_label(out.step, out.stamp)
    n, dim = out.actions.shape
    ids = out.tokens
    tok_dims = [(label, n, ids.size), ('action', dim, dim)] if ids.size == n * dim \
        else [(label, ids.size, ids.size)]
    tokens = Int32MultiArray(data=ids.astype('int32').tolist())
    tokens.layout.dim = [MultiArrayDimension(label=a, size=b, stride=c) for a, b, c in tok_dims]
    msg = Float64MultiArray(data=out.actions.reshape(-1).tolist())
    msg.layout.dim = [MultiArrayDimension(label=label, size=n, stride=n * dim),
                      MultiArrayDimension(label='action', size=dim, stride=dim)]
    return tokens, msg


class TeleopTokenizer(RobotokNode):
    """Sample operator input at the control rate; publish tokens and continuous actions."""

    def __init__(self):
        super().__init__(NAME)
        values = declare_tokenizer_parameters(self)
        self.config = declare_teleop_config(self)
        stamped = declare(self, 'twist_stamped', False, 'Twist input is TwistStamped '
                          '(else geometry_msgs/Twist).')
        depth = declare(self, 'qos_depth', 100, 'Queue depth of the reliable outputs.',
                        int_range=(1, 100000))
        self.profile, self.tokenizer = profile_and_tokenizer(values)
        self.sampler = TeleopSampler(self.profile, self.config)
        self.encoder = TeleopEncoder(self.tokenizer)
        qos = QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE)
        self.tokens_pub = self.create_publisher(Int32MultiArray, TOKENS_TOPIC, qos)
        self.action_pub = self.create_publisher(Float64MultiArray, ACTION_TOPIC, qos)
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        in_qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        if self.config.source == 'twist':
            self.create_subscription(TwistStamped if stamped else Twist, 'teleop/twist',
                                     self.on_twist, in_qos)
        else:
            self.create_subscription(PoseStamped, 'teleop/pose', self.on_pose, in_qos)
        self.create_subscription(Joy, 'joy', self.on_joy, in_qos)
        if self.config.gripper_source == 'float':
            self.create_subscription(Float64, 'teleop/gripper', self.on_gripper, in_qos)
        elif self.config.gripper_source == 'joint':
            self.create_subscription(JointState, 'joint_states', self.on_joints, in_qos)
        self.step = 0
        self._was_pressed = False
        self.create_timer(1.0 / self.profile.control_rate_hz, self.on_tick)
        self.create_timer(1.0, self.on_diagnostics, clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.get_logger().info(f'{self.tokenizer.describe()}; {self.config.source} input at '
                               f'{self.profile.control_rate_hz:g} Hz')

    def _now(self):
        return self.get_clock().now().nanoseconds

    # -- inputs ----------------------------------------------------------------------------
    def on_twist(self, msg):
        """Store a velocity command."""
        t = getattr(msg, 'twist', msg)
        self.sampler.on_twist(self._now() * 1e-9, (t.linear.x, t.linear.y, t.linear.z),
                              (t.angular.x, t.angular.y, t.angular.z))

    def on_pose(self, msg):
        """Store an end-effector pose."""
        p, q = msg.pose.position, msg.pose.orientation
        self.sampler.on_pose(self._now() * 1e-9, (p.x, p.y, p.z), (q.x, q.y, q.z, q.w))

    def on_joy(self, msg):
        """Store Joy buttons (gripper button, dead-man)."""
        self.sampler.on_joy(self._now() * 1e-9, msg.buttons)

    def on_gripper(self, msg):
        """Store a Float64 gripper reading."""
        self.sampler.on_gripper_value(self._now() * 1e-9, msg.data)

    def on_joints(self, msg):
        """Take the gripper joint out of a JointState."""
        self.sampler.on_joint_state(self._now() * 1e-9, msg.name, msg.position)

    # -- output ----------------------------------------------------------------------------
    def on_tick(self):
        """Sample as of now; publish tokens and action when a step (or chunk) is complete."""
        now_ns = self._now()
        action = self.sampler.sample(now_ns * 1e-9)
        if action is None:
            if self._was_pressed:
                self.encoder.interrupt()
            self._was_pressed = False
            return
        self._was_pressed = True
        out = self.encoder.push(self.step, now_ns, action)
        self.step += 1
        if out is None:
            return
        tokens, msg = to_messages(out)
        self.tokens_pub.publish(tokens)
        self.action_pub.publish(msg)
        warning = self.encoder.clips.warning(time.monotonic(), self.profile.names)
        if warning:
            self.get_logger().warn(warning)

    def on_diagnostics(self):
        """Publish steps, idle steps, rejected inputs and clip counts per dimension (1 Hz)."""
        clips = self.encoder.clips
        values = {'steps': self.step, 'idle_steps': self.sampler.idle_steps,
                  'rejected_inputs': self.sampler.rejected,
                  'dropped_steps': self.encoder.dropped_steps, 'samples': clips.samples}
        values.update({f'clipped_{n}': int(c) for n, c in zip(self.profile.names, clips.counts)})
        over = clips.rates() > clips.fraction
        status = DiagnosticStatus(name=f'{NAME}: teleop', hardware_id=self.profile.name,
                                  level=DiagnosticStatus.WARN if over.any() else
                                  DiagnosticStatus.OK,
                                  message='actions clip in > 1 % of samples' if over.any()
                                  else 'ok')
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        arr = DiagnosticArray(status=[status])
        arr.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(arr)


def main(args=None):
    """Console script entry point of teleop_tokenizer."""
    raise SystemExit(run_node(TeleopTokenizer, NAME, args))


if __name__ == '__main__':
    main()
