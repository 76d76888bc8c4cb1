"""
Fuzzing the decoder core's inputs beside plain ids: any message commands safely or is rejected.

Generated sequences (openvla, pi0_fast), RT-2 text and continuous chunks, built by
hypothesis (derandomized): every message gives a command inside the profile and its
speed limits, or exactly one counted reject; each fuzzer asserts it reached both.
"""

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest
from robotok_ros.profile_loader import load_profile
from robotok_ros.runtime.decoder import Rejected
from robotok_ros.runtime.inputs import END
from test_decoder_inputs import core, OFFSET  # noqa: I100 - test-local helpers


@pytest.fixture
def profile(profile_path):
    return load_profile(profile_path)


def safe(dec, cmd, profile):
    """Assert ``cmd`` (a Command, END or None) is within the profile and its speed limits."""
    if cmd is None or cmd is END:
        return
    limits = dec.limiter.limits
    assert np.linalg.norm(cmd.linear) <= limits.max_linear_speed * (1 + 1e-9)
    assert np.linalg.norm(cmd.angular) <= limits.max_angular_speed * (1 + 1e-9)
    lo, hi = np.array(profile.lows), np.array(profile.highs)
    assert np.all(np.isfinite(cmd.action))
    assert np.all(np.asarray(cmd.action) >= lo) and np.all(np.asarray(cmd.action) <= hi)


def run(dec, profile, call, *args):
    before = sum(dec.rejected.values())
    try:
        cmd = call(*args)
    except Rejected:
        assert sum(dec.rejected.values()) == before + 1
        return
    safe(dec, cmd, profile)
    while len(dec.playout):
        safe(dec, dec.on_tick(1.0), profile)
    if not dec.enabled:
        dec.enable(1.0)


ONE_ID = st.one_of(st.integers(-2 ** 31, 2 ** 31 - 1), st.integers(0, 12),
                   st.integers(OFFSET - 2, OFFSET + 257))
# Pieces of a generated sequence: any ids, 7 action ids, EOS, prefix, separator.
PIECE = st.one_of(st.lists(ONE_ID, max_size=8), st.lists(st.integers(OFFSET, OFFSET + 255),
                                                         min_size=7, max_size=7),
                  st.sampled_from([[2], [1], [4, 5], [3]]))
ACTIONS = st.lists(st.integers(OFFSET, OFFSET + 255), min_size=7, max_size=7)
IDS = st.one_of(st.lists(PIECE, max_size=6), st.tuples(st.lists(ONE_ID, max_size=4),
                                                       st.just([4, 5]), ACTIONS,
                                                       st.sampled_from([[2], [3], []]))
                ).map(lambda parts: [i for p in parts for i in p])


@pytest.mark.parametrize('fmt', ['openvla', 'pi0_fast'])
def test_fuzzed_sequences_command_safely_or_reject(profile, fmt):
    dec, _ = core(profile)
    dec.set_stream(fmt, **({'prefix': (4, 5), 'separator': (3,)} if fmt == 'pi0_fast' else {}))

    @settings(max_examples=300, derandomize=True, database=None, deadline=None)
    @given(IDS, st.sampled_from([(), (1,), (2, 3)]))
    def one(ids, dims):
        run(dec, profile, dec.on_tokens, ids, 0.0, dims if dims else ())
    one()
    assert dec.counters['decoded'] > 10 and sum(dec.rejected.values()) > 10


def test_fuzzed_text_commands_safely_or_rejects(profile):
    dec, _ = core(profile)
    dec.add_text_input()
    word = st.one_of(st.integers(0, 300).map(str), st.sampled_from(['-1', '1.5', '01', 'x']))
    bins = st.lists(st.integers(0, 260).map(str), min_size=7, max_size=7)
    text = st.one_of(st.text(max_size=60), st.lists(word, max_size=10).map(' '.join),
                     st.tuples(st.sampled_from(['0', '1', '1', '1', '2']), bins).map(
                         lambda fb: ' '.join([fb[0]] + fb[1])))

    @settings(max_examples=300, derandomize=True, database=None, deadline=None)
    @given(text)
    def one(t):
        run(dec, profile, dec.on_text, t, 0.0)
    one()
    assert dec.counters['decoded'] > 10 and dec.counters['text_rejected'] > 10


def test_fuzzed_chunks_command_safely_or_reject(profile):
    dec, _ = core(profile)
    dec.add_chunk_input()
    value = st.one_of(st.floats(width=32), st.floats(-0.03, 0.03).map(np.float32))
    step = st.lists(st.floats(-0.02, 0.02).map(np.float32), min_size=7, max_size=7)
    values = st.one_of(st.lists(value, max_size=30), st.lists(step, min_size=1, max_size=3).map(
        lambda steps: [v for s in steps for v in s]))

    @settings(max_examples=300, derandomize=True, database=None, deadline=None)
    @given(values, st.sampled_from([(), (), (7,), (2, 7), (3, 5)]))
    def one(values, dims):
        run(dec, profile, dec.on_chunk, np.array(values, np.float32), 0.0, dims)
    one()
    assert dec.counters['decoded'] > 10 and dec.counters['chunk_rejected'] > 10
