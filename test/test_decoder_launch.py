"""
launch/decoder.launch.py through the real LaunchService, as ``ros2 launch`` runs it on a robot.

For each argument combination a user would pass: the node comes up with exactly
the parameters the launch file means (read back over its parameter services),
its topics and services exist, one token message gives one step's command (the
twist, kept alive until the step ends), and Ctrl-C
gives a zero command and exit status 0.  The full matrix runs on the launch
release that goes with this venv's rclpy (Jazzy's on Jazzy, rolling's on
Kilted); a smoke run covers the other release.
"""

import itertools
import math
from pathlib import Path

from conftest import SEVEN_DOF_PROFILE
from geometry_msgs.msg import PoseStamped, TwistStamped
from launch_support import get_parameters, LaunchProcess, missing_reason, other_releases, \
    releases
import numpy as np
import pytest
from robotok_ros.data.synthetic import generate_episodes
from robotok_ros.profile_loader import load_profile
from robotok_ros.runtime.decoder import DecoderCore
from robotok_ros.tokenizers import make_tokenizer
from std_msgs.msg import Int32MultiArray
from std_srvs.srv import SetBool
from workspace import install_space
import yaml

ROOT = Path(__file__).resolve().parent.parent
FILE_PARAMS = yaml.safe_load((ROOT / 'config' / 'decoder.yaml').read_text())[
    '/**/token_decoder']['ros__parameters']
pytestmark = [pytest.mark.timeout(240),
              pytest.mark.skipif(bool(missing_reason()), reason=missing_reason() or 'ok')]
STEP = np.array([0.004, -0.003, 0.002, 0.01, 0.0, -0.01, 1.0])


@pytest.fixture(scope='module')
def prefix():
    """Return the package as colcon installs it."""
    return install_space()


def stamp(msg):
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


def is_zero(msg):
    t = msg.twist
    return not any((t.linear.x, t.linear.y, t.linear.z, t.angular.x, t.angular.y, t.angular.z))


class LaunchedDecoder:
    """decoder.launch.py with ``args``, plus the test's end of its topics."""

    def __init__(self, ros, prefix, release, args, env=None, noninteractive=False, profile=None):
        self.ros, self.args = ros, args
        self.ns = '/' + args['namespace'] if args.get('namespace') else ''
        self.node = f'{self.ns}/token_decoder'
        self.launch = LaunchProcess(prefix, release, 'decoder.launch.py', args, env=env,
                                    noninteractive=noninteractive)
        ros.procs.append(self.launch)
        self.twist = ros.collect(f'{self.ns}/servo_node/delta_twist_cmds', TwistStamped)
        ros.wait_for_subscribers(f'{self.ns}/robotok/action_tokens', timeout=30)
        ros.wait_for_publishers(f'{self.ns}/servo_node/delta_twist_cmds')
        ros.wait_for_publishers(f'{self.ns}/gripper_controller/commands')
        # The arm's pose at rest, as its state publisher would send it: a profile with a
        # workspace box (franka_panda, ur5e, ...) refuses to enable without one.
        profile = profile or load_profile(args.get('robot', 'franka_panda'))
        pub = ros.node.create_publisher(PoseStamped, f'{self.ns}/robotok/ee_pose', 10)
        ros.node.create_timer(0.02, lambda: pub.publish(rest_pose(profile)))

    def enable(self):
        """Enable once the decoder has our pose (a workspace box refuses without one)."""
        reply = []

        def enabled():
            reply.append(self.ros.call(SetBool, f'{self.node}/enable',
                                       SetBool.Request(data=True)))
            return reply[-1].success or self.ros.spin_for(0.05)
        assert self.ros.wait_for(enabled, 10), reply[-1].message

    def send(self, ids):
        eos = [2] if self.args.get('stream_format') == 'openvla' else []  # a whole sequence
        self.ros.publish(f'{self.ns}/robotok/action_tokens',
                         Int32MultiArray(data=[int(i) for i in np.ravel(ids)] + eos))

    def twists(self, n, timeout=10):
        assert self.ros.wait_for(lambda: len(self.twist) >= n, timeout), self.launch.describe()


def rest_position(profile):
    box = getattr(profile.safety, 'workspace', None)
    return [0.0] * 3 if box is None else [(a + b) / 2 for a, b in zip(box.min, box.max)]


def rest_pose(profile):
    msg = PoseStamped()
    msg.header.frame_id = profile.frame_id
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = rest_position(profile)
    msg.pose.orientation.w = 1.0
    return msg


def expected_twist(profile, tokenizer, ids):
    """Return the twist DecoderCore makes of ``ids`` at rest (decode, then the limits)."""
    core = DecoderCore(profile, tokenizer, start_enabled=True)
    core.on_pose(rest_position(profile), (0.0, 0.0, 0.0, 1.0), 0.0)
    cmd = core.on_tokens(ids, 0.0, [], 0)
    return np.concatenate([cmd.linear, cmd.angular])


def check_one_command_then_ctrl_c(dec, profile, tokenizer, interrupts=1):
    """Enable, one message -> one moving twist, watchdog zeros, Ctrl-C -> zero, exit 0."""
    dec.enable()
    ids = tokenizer.encode_chunk(np.atleast_2d(STEP[:profile.dim]))
    dec.send(ids)
    # The step's twist, repeated (keep-alive) until the step ends with a zero; then the
    # watchdog's zeros, then silence.
    zeros = 1 + FILE_PARAMS['stop_repeats']
    assert dec.ros.wait_for(lambda: sum(map(is_zero, dec.twist)) >= zeros, 10), \
        dec.launch.describe()
    moving = list(itertools.takewhile(lambda m: not is_zero(m), dec.twist))
    period, rate = 1.0 / profile.control_rate_hz, FILE_PARAMS['publish_rate']
    assert 1 <= len(moving) <= math.ceil(period * rate)
    want = expected_twist(profile, tokenizer, ids)
    for m in moving:
        t = m.twist
        got = [t.linear.x, t.linear.y, t.linear.z, t.angular.x, t.angular.y, t.angular.z]
        np.testing.assert_allclose(got, want, atol=1e-9)
        assert m.header.frame_id == profile.frame_id
    assert all(is_zero(m) for m in dec.twist[len(moving):])
    # The step lasted one control period by the node's stamps (the first zero ends it).
    lasted = stamp(dec.twist[len(moving)]) - stamp(moving[0])
    assert period - 0.5 / rate <= lasted < period + 1.0, lasted
    before = len(dec.twist)
    dec.launch.interrupt(times=interrupts)
    assert dec.launch.wait(30) == 0, dec.launch.describe()
    dec.ros.spin_for(0.3)  # the last zero may still be in flight after the exit
    assert len(dec.twist) > before and is_zero(dec.twist[-1]), dec.launch.describe()
    assert 'Traceback' not in dec.launch.output, dec.launch.output


def check_parameters(dec, robot_name, tokenizer='uniform', tokenizer_path=''):
    names = list(FILE_PARAMS) + ['robot', 'tokenizer', 'tokenizer_path', 'start_enabled',
                                 'dry_run', 'use_sim_time']
    values = get_parameters(dec.ros, dec.node, names)
    for key, want in FILE_PARAMS.items():
        want = dec.args.get(key, want)  # a launch argument's value
        assert values[key] == want and type(values[key]) is type(want), key
    assert values['robot'] == robot_name
    assert values['tokenizer'] == tokenizer and values['tokenizer_path'] == tokenizer_path
    assert values['start_enabled'] is False and values['use_sim_time'] is False
    assert values['dry_run'] is False


def binning(kind, profile):
    settings = {'openvla': {'n_bins': 256}}.get(kind, {'n_bins': 256, 'vocab_offset': 0})
    return make_tokenizer(kind, profile, **settings)


@pytest.mark.parametrize('release', releases())
@pytest.mark.parametrize('args', [
    {},
    {'robot': 'widowx_250', 'namespace': 'arm1', 'tokenizer': 'openvla',
     'stream_format': 'openvla'},
    {'robot': 'ur5e', 'tokenizer': 'rt1'},
    {'robot': 'google_robot'},
    {'robot': 'robosuite_panda_osc', 'namespace': 'sim/panda'},
], ids=lambda a: '-'.join(f'{k}={v}' for k, v in a.items()) or 'defaults')
def test_shipped_robots_and_stateless_tokenizers(ros, prefix, release, args):
    dec = LaunchedDecoder(ros, prefix, release, args)
    robot, kind = args.get('robot', 'franka_panda'), args.get('tokenizer', 'uniform')
    check_parameters(dec, robot, kind)
    profile = load_profile(robot)
    check_one_command_then_ctrl_c(dec, profile, binning(kind, profile))


@pytest.mark.parametrize('release', releases())
@pytest.mark.parametrize('where', ['profile_path_env', 'file'])
def test_robot_of_ones_own(ros, prefix, release, where, tmp_path):
    (tmp_path / 'myarm.yaml').write_text(SEVEN_DOF_PROFILE.replace('name: test7', 'name: myarm'))
    if where == 'file':
        robot, env = str(tmp_path / 'myarm.yaml'), None
    else:
        robot, env = 'myarm', {'ROBOTOK_PROFILE_PATH': str(tmp_path)}
    profile = load_profile(tmp_path / 'myarm.yaml')
    dec = LaunchedDecoder(ros, prefix, release, {'robot': robot}, env=env, profile=profile)
    check_parameters(dec, robot)
    check_one_command_then_ctrl_c(dec, profile, binning('uniform', profile))


LEARNED = {'quantile': {'n_bins': 256}, 'fast': {'chunk_steps': 1, 'scale': 100, 'vocab': 400},
           'vq': {'chunk_steps': 1, 'codebook_size': 16, 'levels': 2, 'code_dim': 4,
                  'hidden': (16,), 'epochs': 2}}


@pytest.mark.parametrize('release', releases())
# The torch mark (not importorskip): Jazzy's Python 3.11 run selects it with -m 'torch and ros'.
@pytest.mark.parametrize('kind', [pytest.param(k, marks=pytest.mark.torch) if k == 'vq' else k
                                  for k in sorted(LEARNED)])
def test_saved_tokenizers(ros, prefix, release, kind, tmp_path):
    profile = load_profile('franka_panda')
    episodes = generate_episodes(profile, n_episodes=4, seed=1)
    tok = make_tokenizer(kind, profile, **LEARNED[kind]).fit(episodes)
    tok.save(tmp_path / kind)
    args = {'tokenizer': kind, 'tokenizer_path': str(tmp_path / kind)}
    dec = LaunchedDecoder(ros, prefix, release, args)
    check_parameters(dec, 'franka_panda', kind, str(tmp_path / kind))
    check_one_command_then_ctrl_c(dec, profile, tok)


@pytest.mark.parametrize('release', releases())
def test_two_arms_in_two_namespaces(ros, prefix, release):
    left = LaunchedDecoder(ros, prefix, release, {'robot': 'franka_panda', 'namespace': 'left'})
    right = LaunchedDecoder(ros, prefix, release, {'robot': 'ur5e', 'namespace': 'right'})
    for dec in (left, right):
        dec.enable()
    tok = binning('uniform', load_profile('franka_panda'))
    left.send(tok.encode_chunk(STEP[None]))
    left.twists(1)
    assert left.twist[0].header.frame_id == load_profile('franka_panda').frame_id
    ros.spin_for(0.3)
    assert not right.twist  # the other arm heard nothing
    right.send(tok.encode_chunk(STEP[None]))
    right.twists(1)
    assert right.twist[0].header.frame_id == load_profile('ur5e').frame_id
    for dec in (left, right):
        dec.launch.interrupt()
        assert dec.launch.wait(30) == 0, dec.launch.describe()


@pytest.mark.parametrize('release', releases())
@pytest.mark.parametrize('how', ['double_ctrl_c', 'noninteractive'])
def test_ctrl_c_twice_still_stops_cleanly(ros, prefix, release, how):
    # noninteractive: launch forwards a SIGINT of its own, so the node gets two.
    dec = LaunchedDecoder(ros, prefix, release, {}, noninteractive=how == 'noninteractive')
    profile = load_profile('franka_panda')
    check_one_command_then_ctrl_c(dec, profile, binning('uniform', profile),
                                  interrupts=2 if how == 'double_ctrl_c' else 1)


@pytest.mark.parametrize('release', other_releases())
def test_loads_and_stops_on_the_other_launch_release(ros, prefix, release):
    dec = LaunchedDecoder(ros, prefix, release, {'namespace': 'arm1'})
    check_parameters(dec, 'franka_panda')
    profile = load_profile('franka_panda')
    check_one_command_then_ctrl_c(dec, profile, binning('uniform', profile))


@pytest.mark.parametrize('release', releases())
def test_dry_run_argument_keeps_the_command_topic_silent(ros, prefix, release):
    dec = LaunchedDecoder(ros, prefix, release, {'dry_run': 'true'})
    dry = ros.collect('/robotok/dry_run/delta_twist_cmds', TwistStamped)
    ros.wait_for_publishers('/robotok/dry_run/delta_twist_cmds')
    assert get_parameters(ros, dec.node, ['dry_run'])['dry_run'] is True
    dec.enable()
    profile = load_profile('franka_panda')
    tok = binning('uniform', profile)
    dec.send(tok.encode_chunk(STEP[None]))
    assert ros.wait_for(lambda: dry and not is_zero(dry[0]), 10), dec.launch.describe()
    np.testing.assert_allclose([dry[0].twist.linear.x, dry[0].twist.angular.x],
                               expected_twist(profile, tok, tok.encode_chunk(STEP[None]))[[0, 3]])
    assert ros.wait_for(lambda: len(dry) >= 2, 5)  # the watchdog's zeros go there too
    assert not dec.twist  # the command topic heard nothing
    dec.launch.interrupt()
    assert dec.launch.wait(30) == 0, dec.launch.describe()
    ros.spin_for(0.3)
    assert dec.twist and all(is_zero(m) for m in dec.twist)  # shutdown: a real zero only
