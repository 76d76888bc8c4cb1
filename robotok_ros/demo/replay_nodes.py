"""
Demo nodes around token_decoder: a scripted policy and a listener that grades the commands.

- ``policy_replay`` publishes the token ids of a recorded demonstration (a
  JSON file written by ``write_replay_file``) on ``/robotok/action_tokens``,
  one chunk of ``chunk_size`` steps every ``chunk_size`` control periods, as
  a VLA policy would, once token_decoder reports itself enabled, then exits.
- ``command_listener`` prints what the robot is commanded (twist, gripper)
  step by step and the error against the demonstration's continuous actions,
  then a summary; it exits 0 after ``expect_steps`` steps, 1 on ``timeout``.
  It also stands in for the arm's pose (``/robotok/ee_pose``, integrating the
  twists from the middle of the profile's workspace box), which a decoder
  with a workspace box needs before it moves.
"""

import json
import time

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped, TwistStamped
import numpy as np
from rclpy.qos import QoSProfile, ReliabilityPolicy
from robotok_ros.errors import ConfigError
from robotok_ros.nodes.base import RobotokNode, run_node
from robotok_ros.nodes.parameters import declare, declare_tokenizer_parameters, \
    profile_and_tokenizer
from robotok_ros.runtime.decoder import DecoderCore
from std_msgs.msg import Float64MultiArray, Int32MultiArray, MultiArrayDimension

QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
TOKENS = '/robotok/action_tokens'
DECODED = '/robotok/decoded_action'
TWIST = '/servo_node/delta_twist_cmds'
POSE = '/robotok/ee_pose'


def rest_position(profile):
    """Return where a stand-in arm starts: the middle of the workspace box, else the origin."""
    box = getattr(profile.safety, 'workspace', None)
    return [0.0] * 3 if box is None else [(a + b) / 2 for a, b in zip(box.min, box.max)]


def pose_message(frame, position, stamp):
    """Return a PoseStamped at ``position`` (identity orientation) in ``frame``."""
    msg = PoseStamped()
    msg.header.frame_id, msg.header.stamp = frame, stamp
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in position)
    msg.pose.orientation.w = 1.0
    return msg


def write_replay_file(path, ids, actions, rate_hz):
    """Write ids (T, D) and the original actions (T, D) that ``policy_replay`` reads."""
    data = {'rate_hz': float(rate_hz), 'ids': np.asarray(ids).tolist(),
            'actions': np.asarray(actions, dtype=np.float64).tolist()}
    with open(path, 'w') as f:
        json.dump(data, f)


def read_replay_file(path):
    """Return (ids (T, D) int, actions (T, D) float, rate_hz) from a replay file."""
    try:
        with open(path) as f:
            data = json.load(f)
        ids = np.asarray(data['ids'], dtype=np.int64)
        actions = np.asarray(data['actions'], dtype=np.float64)
        rate = float(data['rate_hz'])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f'replay file {path!r} cannot be read: {exc}') from None
    if ids.ndim != 2 or actions.shape[0] != ids.shape[0] or rate <= 0:
        raise ConfigError(f'replay file {path!r}: ids {ids.shape} / actions {actions.shape} '
                          f'/ rate_hz {rate} do not fit together')
    return ids, actions, rate


class PolicyReplay(RobotokNode):
    """Publish a demonstration's token ids chunk by chunk at the control rate."""

    def __init__(self):
        super().__init__('policy_replay')
        path = declare(self, 'tokens_file', '', 'JSON file from write_replay_file.')
        chunk = declare(self, 'chunk_size', 1, 'Steps per message.', int_range=(1, 1000))
        self.listeners = declare(self, 'wait_for_listeners', 0, 'Also wait for this many '
                                 f'subscribers on {DECODED} and {TWIST} before starting.',
                                 int_range=(0, 100))
        self.ids, _, rate = read_replay_file(path)
        self.chunks = [self.ids[i:i + chunk] for i in range(0, len(self.ids), chunk)]
        self.pub = self.create_publisher(Int32MultiArray, TOKENS, QOS)
        self.decoder_enabled = False
        self.create_subscription(DiagnosticArray, '/diagnostics', self.on_diagnostics, QOS)
        self.sent = 0
        self.create_timer(chunk / rate, self.on_timer)

    def on_diagnostics(self, msg):
        """Note when token_decoder reports itself enabled (it starts disabled)."""
        for status in msg.status:
            if status.name.startswith('token_decoder') and any(
                    kv.key == 'enabled' and kv.value == 'True' for kv in status.values):
                self.decoder_enabled = True

    def on_timer(self):
        """Send the next chunk once the decoder (and listeners) are there; stop at the end."""
        # The listener pairs twists and decoded actions in order, so it must hear both from
        # the first step: wait until both of its subscriptions are in the graph.
        if not self.sent and (not self.decoder_enabled or self.count_subscribers(TOKENS) < 1 or
                              self.count_subscribers(DECODED) < self.listeners or
                              self.count_subscribers(TWIST) < self.listeners):
            return
        if self.sent == len(self.chunks):
            self.pub.wait_for_all_acked()
            self.finish()
            return
        part = self.chunks[self.sent]
        msg = Int32MultiArray(data=part.reshape(-1).tolist())
        msg.layout.dim = [MultiArrayDimension(label='steps', size=len(part),
                                              stride=part.size),
                          MultiArrayDimension(label='ids', size=part.shape[1],
                                              stride=part.shape[1])]
        self.pub.publish(msg)
        self.sent += 1


class CommandListener(RobotokNode):
    """Print each commanded step and its error against the original continuous action."""

    def __init__(self):
        super().__init__('command_listener')
        self.profile, tok = profile_and_tokenizer(declare_tokenizer_parameters(self))
        path = declare(self, 'tokens_file', '', 'JSON replay file with the original actions.')
        self.expect = declare(self, 'expect_steps', 0, 'Exit after this many steps (0: all '
                              'in tokens_file).', int_range=(0, 10 ** 9))
        self.timeout = declare(self, 'timeout', 60.0, 'Exit 1 after this many seconds.',
                               float_range=(0.1, 3600.0))
        self.show = declare(self, 'print_steps', 10, 'Steps printed one by one.',
                            int_range=(0, 10 ** 9))
        _, self.actions, _ = read_replay_file(path)
        self.expect = self.expect or len(self.actions)
        self.core = DecoderCore(self.profile, tok)
        self.bin_width = getattr(tok, 'bin_width', None)
        self.got = {'twist': [], 'action': []}
        self.start = time.monotonic()
        self.create_subscription(TwistStamped, TWIST, self.on_twist,
                                 QOS)
        self.grip = None  # the decoder sends gripper commands when they change
        self.create_subscription(Float64MultiArray, '/gripper_controller/commands',
                                 self.on_grip, QOS)
        self.create_subscription(Float64MultiArray, DECODED,
                                 lambda m: self._add('action', list(m.data)), QOS)
        self.create_timer(0.5, self.on_timeout)
        self.rows = []
        self.position = rest_position(self.profile)
        self.pose_pub = self.create_publisher(PoseStamped, POSE, QOS)
        self.create_timer(0.02, lambda: self.pose_pub.publish(pose_message(
            self.profile.frame_id, self.position, self.get_clock().now().to_msg())))

    def on_twist(self, msg):
        """Keep one twist (6 values)."""
        t = msg.twist
        lin = (t.linear.x, t.linear.y, t.linear.z)
        self.position = [p + v / self.profile.control_rate_hz for p, v in zip(self.position, lin)]
        self._add('twist', [*lin, t.angular.x, t.angular.y, t.angular.z])

    def on_grip(self, msg):
        """Keep the latest gripper command."""
        self.grip = msg.data[0]

    def _add(self, key, value):
        self.got[key].append(value)
        while len(self.rows) < min(len(self.got['twist']), len(self.got['action'])):
            self._row(len(self.rows))
        if len(self.rows) >= self.expect and not self.done:
            self.summary()

    def _row(self, k):
        original = self.actions[k] if k < len(self.actions) else None
        twist = np.array(self.got['twist'][k])
        action = np.array(self.got['action'][k])
        if original is None:
            self.rows.append((np.nan, np.nan, False))
            return
        want = self.core.command_for(original)
        err_a = float(np.max(np.abs(action - original)))
        err_t = float(np.max(np.abs(twist - np.r_[want.linear, want.angular])))
        self.rows.append((err_a, err_t, want.clamped))
        if k < self.show:
            grip = '' if self.grip is None else f'  gripper {self.grip:.4f}'
            print(f'step {k:3d}: linear {np.round(twist[:3], 4)} m/s  angular '
                  f'{np.round(twist[3:], 4)} rad/s{grip}  |action error| {err_a:.2e}  '
                  f'|twist error| {err_t:.2e}', flush=True)
        elif k == self.show:
            print('...', flush=True)

    def summary(self):
        """Print the totals and end the node."""
        errs = np.array([r[0] for r in self.rows], dtype=float)
        terr = np.array([r[1] for r in self.rows], dtype=float)
        clamped = sum(r[2] for r in self.rows)
        bound = ('' if self.bin_width is None else
                 f' (half a bin: up to {float(np.max(self.bin_width)) / 2:.2e})')
        print(f'{len(self.rows)} steps commanded; max |decoded - original action| '
              f'{np.nanmax(errs):.2e}{bound}; max |twist - original x scale x rate| '
              f'{np.nanmax(terr):.2e}; steps clamped to the safety speeds: {clamped}',
              flush=True)
        self.finish()

    def on_timeout(self):
        """Give up after ``timeout`` seconds, saying how far it got."""
        if not self.done and time.monotonic() - self.start > self.timeout:
            print(f'timeout: {len(self.rows)} of {self.expect} steps after {self.timeout} s',
                  flush=True)
            self.finish(1)


def policy_replay_main(args=None):
    """Console script entry point of policy_replay."""
    raise SystemExit(run_node(PolicyReplay, 'policy_replay', args))


def command_listener_main(args=None):
    """Console script entry point of command_listener."""
    raise SystemExit(run_node(CommandListener, 'command_listener', args))
