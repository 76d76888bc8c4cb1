"""
Seeded fuzzing of a live token_decoder, every kind and input: it never dies or commands unsafely.

A smaller, fixed version of ``bench/fuzz_decoder.py`` (same configurations,
generators and checks).  Plain ids, per kind (uniform, openvla, FAST, VQ,
DCT-table, and fast_hf from the shared hub FAST fixture): hypothesis builds 600
messages (derandomized) from valid chunks, int32 extremes, ids just outside the
range, random and overflowing layouts and labels; then 1000 generated ones go
out in bursts, and one huge (up to 2 M ids).  The other inputs, one node each:
generated sequences (openvla, pi0_fast), RT-2 text and chunks (plain and
q01_q99): 300 hypothesis-built messages, 600 generated ones, one huge; the text
node ends one episode by its terminate flag and moves again after ~/enable.
Every twist and gripper command is checked against the profile; pose-target and
dry-run topics must stay silent.
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
from std_msgs.msg import (Float32MultiArray, Float64MultiArray, Int32MultiArray,
                          MultiArrayDimension, String)
from std_srvs.srv import SetBool

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / 'bench'))
from fuzz_configs import generator, prepare  # noqa: E402,I100
from fuzz_inputs import stream, TEXT_WORDS  # noqa: E402
from fuzz_messages import (build, bursts, Checker, EXTREMES, generate,  # noqa: E402
                           INT32_MAX, INT32_MIN, MAX_LEN, OVERFLOW_DIMS, Target, UINT32_MAX)

pytestmark = pytest.mark.timeout(300)
ROBOT = 'widowx_250'  # no workspace box: the decoder commands without a pose
# A namespace of its own: no other node on the domain shares the fuzzed node's topics.
NS = f'/fuzz_{os.getpid()}'
TOPICS = {'tokens': (f'{NS}/robotok/action_tokens', Int32MultiArray),
          'text': (f'{NS}/robotok/action_text', String),
          'chunk': (f'{NS}/robotok/action_chunk', Float32MultiArray)}
SILENT = tuple(f'{NS}/{t}' for t in ('servo_node/pose_target_cmds',
                                     'robotok/dry_run/delta_twist_cmds',
                                     'robotok/dry_run/pose_target_cmds',
                                     'robotok/dry_run/gripper'))
QUEUE = 10000
EXAMPLES, BULK = 600, 1000  # per kind, plain ids
INPUT_EXAMPLES, INPUT_BULK = 300, 600  # per configuration of another input


@pytest.fixture(scope='module')
def fitted(tmp_path_factory):
    """Return (node parameters, tokenizers, skipped) of every configuration, made once."""
    folder = tmp_path_factory.mktemp('fuzz_tokenizers')
    return prepare(load_profile(ROBOT), folder)


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

    def __init__(self, ros, params, profile, topic='tokens'):
        self.ros, self.checker, self.topic = ros, Checker(profile), topic
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
        name, self.msg_type = TOPICS[self.topic]
        self.pub = ros.publisher(name, self.msg_type, reliable(QUEUE))
        assert ros.wait_for(lambda: self.pub.get_subscription_count(), 20), self.proc.describe()
        self.sent = 0

    def _silent(self, topic):
        return lambda msg: self.checker.unexpected(topic)

    def on_twist(self, msg):
        lin, ang = msg.twist.linear, msg.twist.angular
        self.checker.twist((lin.x, lin.y, lin.z), (ang.x, ang.y, ang.z), msg.header.frame_id)

    def send(self, data, dims=(), offset=0, spin=True):
        msg = self.msg_type()
        if self.topic == 'text':
            msg.data = data
        else:
            code, dtype = ('i', np.int32) if self.topic == 'tokens' else ('f', np.float32)
            msg.data = array(code, np.asarray(data).astype(dtype).tobytes())
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

    def settled(self, timeout=60):
        """Wait until the node counted every message sent; return its counters."""
        assert self.ros.wait_for(lambda: self.counters().get('received') == str(self.sent),
                                 timeout), (self.sent, self.counters(), self.proc.describe())
        return self.counters()

    def finish(self):
        """Stop the node (exit 0); assert what it published was safe, its log short."""
        assert self.proc.stop() == 0, self.proc.describe()
        self.ros.spin_for(0.3)  # the stop's zero commands are checked too
        err = self.proc.stderr
        assert 'Traceback' not in err, err[-3000:]
        assert self.checker.unsafe == 0, self.checker.examples
        assert self.checker.seen['twist'] > 0 and self.checker.seen['other'] == 0
        assert len(err.splitlines()) < 50, err[-3000:]  # throttled logs, whatever the rate


KINDS = ['uniform', 'openvla', 'fast', pytest.param('vq', marks=pytest.mark.torch), 'dct_table',
         'fast_hf']


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
        values = fz.settled()
        fz.finish()
    assert int(values['rejected']) > 0 and int(values['decoded']) > 0, values


def sequence_strategy(gen):
    """Return a strategy of (ids, dims, offset): pieces of generated sequences in any order."""
    t = gen.target
    one_id = st.one_of(st.integers(INT32_MIN, INT32_MAX), st.sampled_from(EXTREMES),
                       st.integers(t.lo, t.hi), st.integers(0, 12))
    piece = st.one_of(st.lists(one_id, max_size=8).map(lambda v: np.array(v, np.int64)),
                      st.integers(0, len(t.pool) - 1).map(lambda i: t.pool[i]),
                      st.sampled_from([gen.prefix, gen.separator, gen.eos]))
    ids = st.lists(piece, max_size=8).map(lambda p: np.concatenate([np.zeros(0), *p]))
    return st.tuples(ids, DIMS, st.one_of(st.just(0), st.integers(0, UINT32_MAX)))


def text_strategy(gen, terminates):
    """Return a strategy of (text,): unicode, word lists, moving actions; never a terminate."""
    word = st.one_of(st.integers(0, 300).map(str), st.integers(0, 2 ** 40).map(str),
                     st.sampled_from(TEXT_WORDS))
    bins = st.lists(st.integers(0, 260).map(str), min_size=gen.dim, max_size=gen.dim)
    action = st.tuples(st.sampled_from(['1', '1', '2', '01', ' 1']), bins).map(
        lambda fb: ' '.join([fb[0]] + fb[1]))
    chars = st.characters(blacklist_characters='\x00', blacklist_categories=('Cs',))
    text = st.one_of(st.text(chars, max_size=200), st.lists(word, max_size=12).map(' '.join),
                     action)
    return text.filter(lambda t: not terminates(t)).map(lambda t: (t,))


def chunk_strategy(gen):
    """Return a strategy of (floats, dims, offset): any float32s, or valid steps."""
    any_floats = st.lists(st.floats(width=32), max_size=40)
    valid = st.integers(0, 2 ** 32 - 1).map(lambda seed: gen._valid(np.random.default_rng(seed)))
    values = st.one_of(any_floats.map(lambda v: np.array(v, np.float32)), valid)
    return st.tuples(values, DIMS, st.one_of(st.just(0), st.integers(0, UINT32_MAX)))


SIZE = st.one_of(st.integers(0, UINT32_MAX), st.sampled_from([0, 1, 2, 7, 14]))
DIMS = st.one_of(st.just([]), st.lists(st.tuples(SIZE, SIZE, st.just('')), max_size=3))


def terminate_oracle(tok, profile):
    """Return ``text -> whether it is a valid terminate action`` (the node's own check)."""
    from robotok_ros.runtime.decoder import DecoderCore, Rejected
    from robotok_ros.runtime.inputs import END
    core = DecoderCore(profile, tok)
    core.add_text_input()

    def terminates(text):
        try:
            return core.text.check(text) is END
        except Rejected:
            return False
    return terminates


INPUTS = ['seq_openvla', 'seq_pi0_fast', 'text', 'chunk', 'chunk_q01_q99']
COUNTED = {'seq_openvla': 'stream_dropped_prefix', 'seq_pi0_fast': 'stream_dropped_prefix',
           'text': 'text_rejected', 'chunk': 'chunk_rejected', 'chunk_q01_q99': 'chunk_rejected'}


@pytest.mark.parametrize('name', INPUTS)
def test_fuzzed_inputs_never_kill_the_decoder_or_command_unsafely(fitted, name):
    params, toks, skipped = fitted
    profile = load_profile(ROBOT)
    rng = np.random.default_rng(11)
    gen = generator(name, toks[name], profile, rng)
    terminates = terminate_oracle(toks[name], profile) if gen.topic == 'text' else None
    strategy = {'tokens': sequence_strategy, 'chunk': chunk_strategy,
                'text': lambda g: text_strategy(g, terminates)}[gen.topic](gen)
    bulk = [m for m in stream(gen, rng, INPUT_BULK) if m.category != 'terminate']
    with RosHarness() as ros:
        fz = Fuzzed(ros, params[name], profile, gen.topic)

        @settings(max_examples=INPUT_EXAMPLES, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(strategy)
        def one(message):
            fz.send(*message)
        one()
        for size in bursts(rng, len(bulk)):
            for msg in bulk[:size]:
                fz.send(msg.data, msg.dims, msg.offset, spin=False)
            del bulk[:size]
            ros.spin_for(0.0)
        huge = gen.build('huge', rng)
        fz.send(huge.data, huge.dims, huge.offset)
        values = fz.settled()
        if gen.topic == 'text':
            end_an_episode_and_start_the_next(ros, fz, gen, rng)
        fz.finish()
    assert int(values['rejected']) > 0 and int(values['decoded']) > 0, values
    assert int(values[COUNTED[name]]) > 0 and values['enabled'] == 'True', values


def end_an_episode_and_start_the_next(ros, fz, gen, rng):
    """End an episode by its terminate flag: later actions are ignored until ~/enable."""
    before = fz.counters()
    fz.send(gen.build('terminate', rng).data)
    fz.send(gen.build('valid', rng).data)
    values = fz.settled()
    assert values['terminations'] == '1' and values['enabled'] == 'False', values
    assert int(values['ignored_disabled']) == int(before['ignored_disabled']) + 1, values
    response = ros.call(SetBool, f'{NS}/token_decoder/enable', SetBool.Request(data=True))
    assert response.success, response.message
    fz.send(gen.build('valid', rng).data)
    values = fz.settled()
    assert int(values['decoded']) == int(before['decoded']) + 1, values


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
