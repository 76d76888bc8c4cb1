"""token_decoder with real rclpy: the node runs in its own process, this test talks to it."""

import re
import signal
import subprocess
import sys

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from episodes import sine_episodes
from geometry_msgs.msg import PoseStamped, TwistStamped
import numpy as np
import pytest
from rclpy.qos import DurabilityPolicy, ReliabilityPolicy
from robotok_ros.profile_loader import load_profile
from robotok_ros.runtime.decoder import DecoderCore
from robotok_ros.runtime.geometry import integrate_pose
from robotok_ros.tokenizers import make_tokenizer
from rosgraph_msgs.msg import Clock
from std_msgs.msg import Float64MultiArray, Int32MultiArray, MultiArrayDimension
from std_srvs.srv import SetBool

pytestmark = pytest.mark.timeout(120)
TOKENS = '/robotok/action_tokens'
TWIST = '/servo_node/delta_twist_cmds'
GRIPPER = '/gripper_controller/commands'
DECODED = '/robotok/decoded_action'
REJECTED = 'rejected a token message'


class Decoder:
    """A token_decoder process plus collectors on each of its outputs."""

    def __init__(self, ros, profile_path, **params):
        self.ros = ros
        params.setdefault('start_enabled', True)  # disabled by default: see the gate test
        # One twist per step: these tests count them (test_keepalive_node has the repeats).
        params.setdefault('publish_rate', 0.0)
        self.proc = ros.start_node('token_decoder', params={'profile_path': str(profile_path),
                                                            **params})
        self.twist = ros.collect(TWIST, TwistStamped)
        self.grip = ros.collect(GRIPPER, Float64MultiArray)
        self.decoded = ros.collect(DECODED, Float64MultiArray)
        self.diag = ros.collect('/diagnostics', DiagnosticArray)
        ros.wait_for_subscribers(TOKENS)
        for topic in (GRIPPER, DECODED):
            ros.wait_for_publishers(topic)
        self.profile = load_profile(profile_path)
        self.tok = make_tokenizer('uniform', self.profile)
        self.core = DecoderCore(self.profile, self.tok)

    def send(self, ids, dims=None):
        msg = Int32MultiArray(data=[int(i) for i in np.ravel(ids)])
        if dims:
            msg.layout.dim = [MultiArrayDimension(size=s) for s in dims]
        self.ros.publish(TOKENS, msg)

    def ids(self, actions):
        return self.tok.encode_chunk(np.atleast_2d(actions))

    def diagnostics(self, condition=lambda v: True, timeout=10):
        """Wait for a diagnostics message whose values satisfy ``condition``; return them."""
        found = []

        def check():
            for arr in self.diag[len(found):]:
                found.append({kv.key: kv.value for kv in arr.status[0].values})
            return any(condition(v) for v in found)
        assert self.ros.wait_for(check, timeout), f'diagnostics never matched; last: {found[-1:]}'
        return next(v for v in reversed(found) if condition(v))


def twist_vec(msg):
    t = msg.twist
    return np.array([t.linear.x, t.linear.y, t.linear.z, t.angular.x, t.angular.y, t.angular.z])


def test_one_step_gives_the_core_twist_gripper_and_action(ros, profile_path):
    dec = Decoder(ros, profile_path)
    action = [0.011, -0.004, 0.0, 0.05, -0.03, 0.02, 0.2]
    dec.send(dec.ids(action))
    assert ros.wait_for(lambda: dec.twist and dec.grip and dec.decoded, 10), dec.proc.describe()
    expect = dec.core.command_for(dec.tok.decode_chunk(dec.ids(action))[0])
    msg = dec.twist[0]
    np.testing.assert_allclose(twist_vec(msg), [*expect.linear, *expect.angular], rtol=1e-12)
    assert msg.header.frame_id == 'base'
    assert abs(msg.header.stamp.sec - ros.node.get_clock().now().nanoseconds * 1e-9) < 30
    assert list(dec.grip[0].data) == [0.0]  # 0.2 -> closed (binary, open_value 1)
    np.testing.assert_allclose(dec.decoded[0].data, expect.action)
    info = ros.node.get_publishers_info_by_topic(TWIST)[0].qos_profile
    assert info.reliability == ReliabilityPolicy.RELIABLE
    assert info.durability == DurabilityPolicy.VOLATILE


def test_chunk_plays_in_order_one_step_per_period(ros, profile_path):
    dec = Decoder(ros, profile_path)
    chunk = np.zeros((5, 7))
    chunk[:, 0] = np.linspace(-0.01, 0.01, 5)
    chunk[:, 6] = [0, 0, 1, 1, 1]  # the gripper opens at step 2
    dec.send(dec.ids(chunk), dims=[5, 7])
    assert ros.wait_for(lambda: len(dec.decoded) >= 5, 10)
    # Gripper commands go out when they change (a forward controller holds the last one).
    assert ros.wait_for(lambda: len(dec.grip) >= 2, 2)
    assert [list(m.data) for m in dec.grip] == [[0.0], [1.0]]
    ros.wait_for(lambda: len(dec.twist) >= 5, 2)
    xs = [m.twist.linear.x for m in dec.twist[:5]]
    np.testing.assert_allclose(xs, dec.tok.decode_chunk(dec.ids(chunk))[:, 0] * 10)
    # The node stamps each step when its timer publishes it: one control period apart
    # (arrival times would measure this test's own scheduling instead).
    stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in dec.twist[:5]]
    gaps = np.diff(stamps)
    assert (gaps > 0.05).all() and (gaps < 0.5).all(), gaps  # 10 Hz profile


def test_ensemble_averages_overlapping_chunks(ros, profile_path):
    dec = Decoder(ros, profile_path, chunk_policy='ensemble', ensemble_decay=0.0)
    a, b = np.zeros((3, 7)), np.zeros((3, 7))
    a[:, 0], b[:, 0] = [0.01, 0.01, 0.01], [-0.01, -0.01, -0.01]
    dec.send(dec.ids(a), dims=[3, 7])
    dec.send(dec.ids(b), dims=[3, 7])
    assert ros.wait_for(lambda: len(dec.decoded) >= 3, 10)
    # Playout is over when the watchdog's zero twist follows the last step.
    assert ros.wait_for(lambda: len(dec.twist) > len(dec.decoded), 10)
    got = [m.data[0] for m in dec.decoded]
    da, db = dec.tok.decode_chunk(dec.ids(a))[:, 0], dec.tok.decode_chunk(dec.ids(b))[:, 0]
    # b lands before the first tick (lag 0) or, rarely, one tick after a (lag 1).
    options = {0: [(da[0] + db[0]) / 2, (da[1] + db[1]) / 2, (da[2] + db[2]) / 2],
               1: [da[0], (da[1] + db[0]) / 2, (da[2] + db[1]) / 2, db[2]]}
    assert any(len(got) == len(o) and np.allclose(got, o) for o in options.values()), got


def test_watchdog_sends_zeros_then_goes_silent(ros, profile_path):
    dec = Decoder(ros, profile_path, command_timeout=0.3, stop_repeats=3)
    dec.send(dec.ids(np.full(7, 0.01)))
    assert ros.wait_for(lambda: len(dec.twist) >= 4, 10)
    assert twist_vec(dec.twist[0]).any()
    assert all(not twist_vec(m).any() for m in dec.twist[1:4])
    assert dec.twist.times[1] - dec.twist.times[0] >= 0.25
    values = dec.diagnostics(lambda v: v['watchdog_trips'] == '1')
    ros.spin_for(0.5)
    assert len(dec.twist) == 4 and values['steps'] == '1'


def test_enable_gate_disable_and_shutdown_zero(ros, profile_path):
    dec = Decoder(ros, profile_path, start_enabled=False)
    dec.send(dec.ids(np.full(7, 0.01)))
    dec.diagnostics(lambda v: v['ignored_disabled'] == '1' and v['enabled'] == 'False')
    assert not dec.twist and not dec.grip and not dec.decoded
    assert ros.call(SetBool, '/token_decoder/enable', SetBool.Request(data=True)).success
    dec.send(dec.ids(np.full(7, 0.01)))
    assert ros.wait_for(lambda: len(dec.twist) == 1, 10)
    assert twist_vec(dec.twist[0]).any()
    assert ros.call(SetBool, '/token_decoder/enable', SetBool.Request(data=False)).success
    assert ros.wait_for(lambda: len(dec.twist) == 2, 10)
    assert not twist_vec(dec.twist[1]).any()
    ros.call(SetBool, '/token_decoder/enable', SetBool.Request(data=True))
    assert dec.proc.stop() == 0
    assert ros.wait_for(lambda: len(dec.twist) == 3, 5), 'no zero twist on shutdown'
    assert not twist_vec(dec.twist[2]).any()


@pytest.mark.parametrize('signals', [('SIGINT',), ('SIGTERM',), ('SIGINT', 'SIGINT'),
                                     ('SIGINT', 'SIGTERM', 'SIGINT')])
def test_shutdown_signals_during_motion_zero_first_exit_0(ros, profile_path, signals):
    # 2 s of queued motion that a 5 s watchdog lets play: the signal comes mid-motion.
    dec = Decoder(ros, profile_path, max_queue_seconds=2.0, command_timeout=5.0)
    dec.send(dec.ids(np.tile(np.full(7, 0.01), (20, 1))), dims=[20, 7])
    assert ros.wait_for(lambda: len(dec.twist) == 2, 10)
    assert dec.proc.stop(signals=[getattr(signal, s) for s in signals]) == 0, dec.proc.describe()
    assert ros.wait_for(lambda: not twist_vec(dec.twist[-1]).any(), 5), 'no zero on shutdown'
    moving = [twist_vec(m).any() for m in dec.twist]
    first_zero = moving.index(False)
    assert first_zero < 20 and not any(moving[first_zero:]), moving  # nothing moves after it
    assert 'Traceback' not in dec.proc.stderr, dec.proc.stderr


def test_speed_is_clamped_keeping_direction(ros, profile_path):
    dec = Decoder(ros, profile_path)
    action = [0.02, -0.02, 0.02, 0.1, 0.1, -0.1, 1.0]  # 0.35 m/s and 1.7 rad/s requested
    dec.send(dec.ids(action))
    assert ros.wait_for(lambda: dec.twist, 10)
    got = twist_vec(dec.twist[0])
    raw = dec.tok.decode_chunk(dec.ids(action))[0][:6] * 10
    for part, limit in ((slice(0, 3), 0.25), (slice(3, 6), 1.0)):
        assert np.linalg.norm(got[part]) == pytest.approx(limit)
        np.testing.assert_allclose(got[part] / limit, raw[part] / np.linalg.norm(raw[part]))
    assert dec.diagnostics(lambda v: v['clamps'] == '1')


def test_malformed_messages_rejected_counted_node_alive(ros, profile_path):
    dec = Decoder(ros, profile_path)
    good = dec.ids(np.zeros(7))
    cases = [(good[:6], None, 'length'), ([], None, 'length'),
             (np.r_[good[:6], 256], None, 'out_of_range'),
             (np.r_[-5, good[1:]], None, 'out_of_range'),
             (good, [2, 7], 'layout'), (np.r_[good, good], [7, 2], 'layout')]
    for ids, dims, _ in cases:
        dec.send(ids, dims)
    want = {f'rejected_{r}': str(sum(c[2] == r for c in cases))
            for r in ('length', 'out_of_range', 'layout')}
    values = dec.diagnostics(lambda v: all(v[k] == n for k, n in want.items()))
    assert values['rejected'] == str(len(cases)) and values['decoded'] == '0'
    assert values['rejected_non_finite'] == '0' and values['rejected_invalid'] == '0'
    assert not dec.twist and not dec.grip and not dec.decoded
    assert 1 <= dec.proc.stderr.count(REJECTED) < len(cases)  # throttled
    dec.send(good)
    assert ros.wait_for(lambda: dec.twist, 10), 'node stopped decoding after bad input'
    status = dec.diag[-1].status[0]
    assert status.level == DiagnosticStatus.WARN and status.hardware_id == 'test7'
    assert ros.wait_for(lambda: len(dec.diag) >= 3, 5)
    assert 0.5 < np.median(np.diff(dec.diag.times)) < 2.0  # 1 Hz
    for key in ('received', 'enabled', 'input_rate_hz', 'decode_latency_us_mean',
                'watchdog_trips', 'clamps'):
        assert key in values


def test_pose_mode_integrates_onto_the_measured_pose(ros, profile_path):
    dec = Decoder(ros, profile_path, output_mode='pose')
    targets = ros.collect('/servo_node/pose_target_cmds', PoseStamped)
    ros.wait_for_subscribers('/robotok/ee_pose')
    pose = PoseStamped()
    pose.header.frame_id = 'base'
    pose.pose.position.x, pose.pose.position.z = 0.4, 0.3
    pose.pose.orientation.x, pose.pose.orientation.w = np.sin(0.3), np.cos(0.3)
    action = [0.01, 0.0, -0.01, 0.0, 0.05, 0.02, 1.0]
    ids = dec.ids(action)

    def send_until_target():
        ros.publish('/robotok/ee_pose', pose)
        ros.spin_for(0.05)
        dec.send(ids)
        return ros.wait_for(lambda: targets, 0.3)
    assert ros.wait_for(send_until_target, 10)
    cmd = dec.core.command_for(dec.tok.decode_chunk(ids)[0])
    pos, quat = integrate_pose([0.4, 0, 0.3], [np.sin(0.3), 0, 0, np.cos(0.3)], cmd.linear,
                               cmd.angular, 0.1)
    p, q = targets[0].pose.position, targets[0].pose.orientation
    np.testing.assert_allclose([p.x, p.y, p.z], pos, atol=1e-12)
    np.testing.assert_allclose([q.x, q.y, q.z, q.w], quat, atol=1e-12)
    assert targets[0].header.frame_id == 'base' and not dec.twist


def test_sim_time_stamps_commands(ros, profile_path):
    dec = Decoder(ros, profile_path, use_sim_time=True)
    ids = dec.ids(np.zeros(7))

    def tick():
        clock = Clock()
        clock.clock.sec, clock.clock.nanosec = 1234, 500000000
        ros.publish('/clock', clock)
        dec.send(ids)
        return ros.wait_for(lambda: dec.twist and dec.twist[-1].header.stamp.sec == 1234, 0.3)
    assert ros.wait_for(tick, 10), [m.header.stamp for m in dec.twist]
    assert dec.twist[-1].header.stamp.nanosec == 500000000


@pytest.mark.parametrize('params,needle', [
    ({'n_bins': 5}, 'parameter n_bins must be an integer in [16, 4096], got 5'),
    ({'tokenizer': 'bogus'}, 'parameter tokenizer must be one of'),
    ({'robot': 'no_such_robot'}, "parameter robot='no_such_robot'"),
    ({'chunk_policy': 'mix'}, 'parameter chunk_policy must be one of replace, ensemble, got '
                              "'mix'"),
    ({'tokenizer': 'quantile'}, "parameter tokenizer='quantile' must be fitted"),
])
def test_bad_parameter_is_one_fatal_line(ros, profile_path, params, needle):
    params = {'profile_path': str(profile_path), **params}
    if 'robot' in params:
        del params['profile_path']
    proc = ros.start_node('token_decoder', params=params)
    assert proc.wait(20) == 2, proc.describe()
    assert needle in proc.stderr and 'FATAL' in proc.stderr
    assert 'Traceback' not in proc.stderr


@pytest.mark.timeout(120)
def test_demo_pipeline_commands_within_half_a_bin():
    code = ('import argparse, sys\nfrom robotok_ros.demo.decoder_stage import run\n'
            "sys.exit(run(argparse.Namespace(robot='franka_panda', episodes=6, seed=3)))")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=110)
    assert out.returncode == 0, out.stdout + out.stderr
    match = re.search(r'(\d+) steps commanded; max \|decoded - original action\| (\S+) '
                      r'\(half a bin: up to (\S+)\)', out.stdout)
    assert match, out.stdout
    steps, err, half = int(match[1]), float(match[2]), float(match[3])
    assert steps == 45 and err <= half * (1 + 1e-9)
    assert out.stdout.count('step ') >= 10 and 'linear [' in out.stdout


CHUNK_TOKENIZERS = {
    'fast': {'chunk_steps': 5, 'scale': 10, 'vocab': 300},
    'vq': {'chunk_steps': 5, 'codebook_size': 16, 'levels': 2, 'code_dim': 8,
           'hidden': (32, 16), 'epochs': 3},
}


# Fitting VQ needs torch.
@pytest.mark.parametrize('kind', ['fast', pytest.param('vq', marks=pytest.mark.torch)])
def test_learned_chunk_tokenizer_plugs_in_from_tokenizer_path(ros, profile_path, tmp_path, kind):
    profile = load_profile(profile_path)
    eps = sine_episodes(profile)
    tok = make_tokenizer(kind, profile, **CHUNK_TOKENIZERS[kind]).fit(eps)
    tok.save(tmp_path / kind)
    dec = Decoder(ros, profile_path, tokenizer=kind, tokenizer_path=str(tmp_path / kind))
    ids = tok.encode_chunk(eps[0][:5])
    dec.send(ids)  # one message = one chunk of H (K) = 5 steps, however many ids it holds
    assert ros.wait_for(lambda: len(dec.decoded) >= 5, 10), dec.proc.describe()
    np.testing.assert_allclose([m.data for m in dec.decoded[:5]], tok.decode_chunk(ids))
    dec.send([tok.id_range[1] + 1])
    assert dec.diagnostics(lambda v: v['rejected_out_of_range'] == '1')['decoded'] == '1'


def test_on_sim_time_tokens_wait_for_the_first_clock(ros, profile_path):
    # No /clock publisher: a twist would be stamped 0 and the watchdog could never fire.
    dec = Decoder(ros, profile_path, use_sim_time=True)
    dec.send(dec.ids(np.full(7, 0.01)))
    dec.diagnostics(lambda v: v['rejected_no_clock'] == '1' and v['steps'] == '0')
    assert not dec.twist and not dec.grip
    assert 'no /clock has arrived yet' in dec.proc.stderr
