"""
Seeded fuzzing of a live token_decoder, every kind: it never dies and never commands unsafely.

A smaller, fixed version of ``bench/fuzz_decoder.py`` (same generators, same
checks): per kind, hypothesis builds 600 messages (derandomized) from valid
chunks, int32 extremes, ids just outside the range, random and overflowing
layouts and labels; then 1000 generated ones go out in bursts, and one huge
(up to 2 M ids).  Every twist and gripper command is checked against the
profile; pose-target and dry-run topics must stay silent.
"""

from array import array
import os
from pathlib import Path
import sys

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped, TwistStamped
from hypothesis import given, HealthCheck, settings, strategies as st
import numpy as np
import pytest
from robotok_ros.profile_loader import load_profile
from rosutil import reliable, RosHarness
from std_msgs.msg import Float64MultiArray, Int32MultiArray, MultiArrayDimension

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / 'bench'))
from fuzz_messages import (build, bursts, Checker, EXTREMES, fit_tokenizers,  # noqa: E402,I100
                           generate, INT32_MAX, INT32_MIN, MAX_LEN, OVERFLOW_DIMS, Target,
                           UINT32_MAX)

pytestmark = pytest.mark.timeout(300)
ROBOT = 'widowx_250'  # no workspace box: the decoder commands without a pose
# A namespace of its own: no other node on the domain shares the fuzzed node's topics.
NS = f'/fuzz_{os.getpid()}'
TOKENS = f'{NS}/robotok/action_tokens'
SILENT = tuple(f'{NS}/{t}' for t in ('servo_node/pose_target_cmds',
                                     'robotok/dry_run/delta_twist_cmds',
                                     'robotok/dry_run/pose_target_cmds',
                                     'robotok/dry_run/gripper'))
QUEUE = 10000
EXAMPLES = 600
BULK = 1000


@pytest.fixture(scope='module')
def fitted(tmp_path_factory):
    """Return (node parameters, tokenizers, skipped) for every kind, fitted small once."""
    folder = tmp_path_factory.mktemp('fuzz_tokenizers')
    return fit_tokenizers(load_profile(ROBOT), folder)


def message_strategy(target):
    """Return a hypothesis strategy of (ids int32 array, dims, data_offset)."""
    near = [v for v in (target.lo - 1, target.lo, target.hi, target.hi + 1)
            if INT32_MIN <= v <= INT32_MAX]
    one_id = st.one_of(st.integers(INT32_MIN, INT32_MAX), st.sampled_from(EXTREMES),
                       st.sampled_from(near), st.integers(target.lo, target.hi))
    short = st.lists(one_id, max_size=64).map(lambda v: np.array(v, np.int64))
    pooled = st.integers(0, len(target.pool) - 1).map(lambda i: target.pool[i])
    edited = st.tuples(pooled, st.lists(st.tuples(st.integers(0, 10 ** 6), one_id),
                                        max_size=8)).map(_edit)
    long = st.tuples(st.integers(0, MAX_LEN), st.integers(0, 2 ** 32 - 1), st.booleans()).map(
        lambda t: _long(target, *t))
    ids = st.one_of(pooled, edited, short, long)
    # No surrogates: a ROS string is UTF-8, and rclpy cannot even publish one (test-side).
    label = st.text(st.characters(blacklist_characters='\x00', blacklist_categories=('Cs',)),
                    max_size=30)
    size = st.one_of(st.integers(0, UINT32_MAX), st.sampled_from([0, 1, target.dim]))
    dims = st.one_of(st.just([]), st.sampled_from(OVERFLOW_DIMS).map(
        lambda d: [(s, s, '') for s in d]), st.lists(st.tuples(size, size, label), max_size=4))
    offset = st.one_of(st.just(0), st.integers(0, UINT32_MAX))
    return st.tuples(ids, dims, offset)


def _edit(pair):
    ids, edits = pair
    ids = ids.astype(np.int64)
    for where, value in edits:
        if ids.size:
            ids[where % ids.size] = value
    return ids


def _long(target, n, seed, in_range):
    rng = np.random.default_rng(seed)
    lo, hi = (target.lo, target.hi + 1) if in_range else (INT32_MIN, INT32_MAX + 1)
    return rng.integers(lo, hi, n, dtype=np.int64)


class Fuzzed:
    """A token_decoder process under fuzz, and the checks on all it publishes."""

    def __init__(self, ros, params, profile):
        self.ros, self.checker = ros, Checker(profile)
        self.proc = ros.start_node('token_decoder', params=dict(
            params, start_enabled=True, output_mode='twist', token_qos_depth=QUEUE),
            node_args=['-r', f'__ns:={NS}'])
        deep = reliable(1000)
        ros.node.create_subscription(TwistStamped, f'{NS}/servo_node/delta_twist_cmds',
                                     self.on_twist, deep)
        ros.node.create_subscription(Float64MultiArray, f'{NS}/gripper_controller/commands',
                                     lambda m: self.checker.gripper(m.data), deep)
        for topic in SILENT:
            kind = Float64MultiArray if topic.endswith('gripper') else (
                PoseStamped if 'pose' in topic else TwistStamped)
            ros.node.create_subscription(kind, topic, self._silent(topic), deep)
        self.diag = ros.collect('/diagnostics', DiagnosticArray)
        self.pub = ros.publisher(TOKENS, Int32MultiArray, reliable(QUEUE))
        assert ros.wait_for(lambda: self.pub.get_subscription_count(), 20), self.proc.describe()
        self.sent = 0

    def _silent(self, topic):
        return lambda msg: self.checker.unexpected(topic)

    def on_twist(self, msg):
        lin, ang = msg.twist.linear, msg.twist.angular
        self.checker.twist((lin.x, lin.y, lin.z), (ang.x, ang.y, ang.z), msg.header.frame_id)

    def send(self, ids, dims=(), offset=0, spin=True):
        msg = Int32MultiArray()
        msg.data = array('i', np.asarray(ids, np.int64).astype(np.int32).tobytes())
        msg.layout.dim = [MultiArrayDimension(size=s, stride=st_, label=lb)
                          for s, st_, lb in dims]
        msg.layout.data_offset = int(offset)
        self.pub.publish(msg)
        self.sent += 1
        if spin:
            self.ros.executor.spin_once(timeout_sec=0)

    def counters(self):
        for arr in reversed(self.diag):
            status = arr.status[0]
            if status.name.startswith('token_decoder'):
                return {kv.key: kv.value for kv in status.values}
        return {}


KINDS = ['uniform', 'openvla', 'fast', pytest.param('vq', marks=pytest.mark.torch)]


@pytest.mark.parametrize('kind', KINDS)
def test_fuzzed_decoder_never_dies_and_never_commands_unsafely(fitted, kind):
    params, toks, skipped = fitted
    if kind in skipped:
        pytest.skip(skipped[kind])
    profile = load_profile(ROBOT)
    rng = np.random.default_rng(7)
    target = Target(toks[kind], rng)
    with RosHarness() as ros:
        fz = Fuzzed(ros, params[kind], profile)

        @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(message_strategy(target))
        def one(message):
            fz.send(*message)
        one()
        stream = generate(target, rng, BULK)
        for size in bursts(rng, BULK):
            for _ in range(size):
                msg = next(stream)
                fz.send(msg.data, msg.dims, msg.offset, spin=False)
            ros.spin_for(0.0)
        huge = build('huge', target, rng)
        fz.send(huge.data)
        assert ros.wait_for(lambda: fz.counters().get('received') == str(fz.sent), 60), (
            fz.sent, fz.counters(), fz.proc.describe())
        values = fz.counters()
        assert fz.proc.stop() == 0, fz.proc.describe()
        ros.spin_for(0.3)  # the stop's zero commands are checked too
    err = fz.proc.stderr
    assert 'Traceback' not in err, err[-3000:]
    assert fz.checker.unsafe == 0, fz.checker.examples
    assert int(values['rejected']) > 0 and int(values['decoded']) > 0, values
    assert fz.checker.seen['twist'] > 0 and fz.checker.seen['other'] == 0
    assert len(err.splitlines()) < 50, err[-3000:]  # throttled logs, whatever the input rate


def test_checker_flags_every_kind_of_unsafe_command():
    profile = load_profile(ROBOT)  # 0.25 m/s, 1.5 rad/s, gripper commands 0..1
    checker = Checker(profile)
    frame = profile.frame_id
    checker.twist((0.25, 0, 0), (0, 0, 1.5), frame)
    checker.gripper([1.0])
    assert checker.unsafe == 0
    checker.twist((0.2, 0.2, 0), (0, 0, 0), frame)
    checker.twist((0, 0, 0), (1.5, 0.1, 0), frame)
    checker.twist((float('nan'), 0, 0), (0, 0, 0), frame)
    checker.twist((0, 0, 0), (0, 0, 0), 'world')
    checker.gripper([1.5])
    checker.gripper([0.5, 0.5])
    checker.unexpected('/robotok/dry_run/gripper')
    assert checker.unsafe == 7 and checker.examples[0] == 'linear speed 0.282843 m/s > 0.25'
    assert checker.examples[4] == 'gripper command 1.5 outside [0, 1]'
