"""Unit tests of runtime.decoder: message checks, playout, clamping, watchdog, enable, poses."""

from conftest import SEVEN_DOF_PROFILE
from hypothesis import given, settings, strategies as st
import numpy as np
import pytest
from robotok_ros.errors import InvalidTokenError
from robotok_ros.profile_loader import profile_from_dict
from robotok_ros.runtime.decoder import DecoderCore, Rejected
from robotok_ros.runtime.geometry import integrate_pose, quat_from_rotvec, quat_multiply
from robotok_ros.runtime.playout import Playout
from robotok_ros.runtime.safety import clamp_speed, Watchdog
from robotok_ros.tokenizers import make_tokenizer
from scipy.spatial.transform import Rotation
import yaml

PROFILE = profile_from_dict(yaml.safe_load(SEVEN_DOF_PROFILE), source='test7')
RATE = PROFILE.control_rate_hz


def make_core(**kwargs):
    tok = make_tokenizer('uniform', PROFILE, n_bins=256, vocab_offset=kwargs.pop('offset', 0),
                         layout=kwargs.pop('layout', 'shared'))
    kwargs.setdefault('start_enabled', True)
    return DecoderCore(PROFILE, tok, **kwargs), tok


def ids_for(tok, actions):
    return tok.encode_chunk(np.asarray(actions, dtype=np.float64)).astype(np.int32)


class FakeChunkTokenizer:
    """A chunk tokenizer stand-in: 2 ids -> a (K, D) chunk, or whatever ``out`` says."""

    tokens_per_step = None
    id_range = (0, 99)

    def __init__(self, out):
        self.out = out

    def decode_chunk(self, ids):
        if isinstance(self.out, Exception):
            raise self.out
        return self.out


# -- message checks ------------------------------------------------------------------------
@pytest.mark.parametrize('data,dims,offset,reason', [
    (np.zeros(7, np.int32), [2, 7], 0, 'layout'),        # layout says 14, data has 7
    (np.zeros(14, np.int32), [7, 2], 0, 'layout'),       # 14 ids but 2 per step
    (np.zeros(7, np.int32), [7], 3, 'layout'),           # data_offset unsupported
    (np.zeros(6, np.int32), [], 0, 'length'),            # one id short
    (np.zeros(0, np.int32), [], 0, 'length'),            # empty
    (np.array([0] * 6 + [256], np.int32), [], 0, 'out_of_range'),
    (np.array([-1] + [0] * 6, np.int32), [1, 7], 0, 'out_of_range'),
])
def test_malformed_messages_are_rejected_by_reason(data, dims, offset, reason):
    core, _ = make_core()
    with pytest.raises(Rejected) as info:
        core.on_tokens(data, 0.0, dims, offset)
    assert info.value.reason == reason
    assert core.rejected[reason] == 1
    assert sum(core.rejected.values()) == 1
    assert core.counters['received'] == 1 and core.counters['decoded'] == 0
    assert len(core.playout) == 0 and core.counters['steps'] == 0


def test_offset_ids_below_the_offset_are_out_of_range():
    core, tok = make_core(offset=1000)
    good = ids_for(tok, np.zeros((1, 7)))
    assert core.on_tokens(good, 0.0) is not None
    with pytest.raises(Rejected, match='out_of_range'):
        core.on_tokens(good - 1000, 0.1)


def test_per_dimension_layout_checks_each_dimensions_range():
    core, tok = make_core(layout='per_dimension')
    ids = ids_for(tok, np.zeros((1, 7)))
    ids[0] = ids[1]  # dimension 1's id in dimension 0's slot: inside id_range, wrong slot
    with pytest.raises(Rejected) as info:
        core.on_tokens(ids, 0.0)
    assert info.value.reason == 'out_of_range'


def test_non_finite_and_undecodable_chunks_are_rejected():
    bad = np.zeros((3, 7))
    bad[1, 2] = np.nan
    core = DecoderCore(PROFILE, start_enabled=True, tokenizer=FakeChunkTokenizer(bad))
    with pytest.raises(Rejected, match='non_finite'):
        core.on_tokens(np.array([1, 2], np.int32), 0.0)
    core.checker.tokenizer = FakeChunkTokenizer(InvalidTokenError('unknown merge'))
    with pytest.raises(Rejected, match='invalid'):
        core.on_tokens(np.array([1, 2], np.int32), 0.0)
    core.checker.tokenizer = FakeChunkTokenizer(np.zeros((3, 6)))
    with pytest.raises(Rejected, match='invalid'):
        core.on_tokens(np.array([1, 2], np.int32), 0.0)
    core.checker.tokenizer = FakeChunkTokenizer(IndexError('a bug in a third-party decoder'))
    with pytest.raises(Rejected, match='IndexError'):
        core.on_tokens(np.array([1, 2], np.int32), 0.0)
    assert core.rejected['non_finite'] == 1 and core.rejected['invalid'] == 3


# -- commands ------------------------------------------------------------------------------
def test_command_is_decoded_delta_times_rate_and_gripper_mapped():
    core, tok = make_core()
    action = np.array([[0.01, -0.005, 0.002, 0.03, -0.02, 0.01, 0.9]])
    ids = ids_for(tok, action)
    decoded = tok.decode_chunk(ids)[0]
    cmd = core.on_tokens(ids, 0.0)
    np.testing.assert_allclose(cmd.linear, decoded[:3] * RATE)
    np.testing.assert_allclose(cmd.angular, decoded[3:6] * RATE)
    np.testing.assert_allclose(cmd.action, decoded)
    assert cmd.gripper == PROFILE.gripper.command(decoded[6]) == 1.0
    assert not cmd.clamped and core.counters['clamps'] == 0


def test_clamp_scales_to_the_limit_keeping_direction_and_counts():
    core, tok = make_core()
    # 0.02 m/step * 10 Hz = 0.2 m/s per axis; three axes = 0.346 m/s > 0.25 m/s.
    ids = ids_for(tok, [[0.02, 0.02, -0.02, 0.1, 0.0, 0.0, 0.0]])
    cmd = core.on_tokens(ids, 0.0)
    raw = tok.decode_chunk(ids)[0][:3] * RATE
    assert cmd.clamped and core.counters['clamps'] == 1
    assert np.linalg.norm(cmd.linear) == pytest.approx(PROFILE.safety.max_linear_speed)
    np.testing.assert_allclose(np.divide(cmd.linear, np.linalg.norm(cmd.linear)),
                               raw / np.linalg.norm(raw))
    assert np.linalg.norm(cmd.angular) <= PROFILE.safety.max_angular_speed + 1e-12


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=3, max_size=3), st.floats(1e-3, 10))
def test_clamp_speed_property(vec, limit):
    vec = np.array(vec)
    out, clamped = clamp_speed(vec, limit)
    out = np.array(out)
    assert np.linalg.norm(out) <= limit * (1 + 1e-9)
    assert clamped == (np.linalg.norm(vec) > limit)
    if clamped:
        np.testing.assert_allclose(np.cross(out, vec), 0, atol=1e-6 * np.linalg.norm(vec) ** 2)
        assert out @ vec > 0
    else:
        np.testing.assert_array_equal(out, vec)


# -- playout -------------------------------------------------------------------------------
def test_replace_plays_first_step_now_rest_on_ticks_and_new_chunk_replaces():
    core, tok = make_core()
    chunk = np.linspace(-0.01, 0.01, 4)[:, None] * np.ones((4, 7))
    chunk[:, 6] = 1.0
    decoded = tok.decode_chunk(ids_for(tok, chunk))
    first = core.on_tokens(ids_for(tok, chunk), 0.0)
    np.testing.assert_allclose(first.action, decoded[0])
    assert len(core.playout) == 3
    second = core.on_tick(0.1)
    np.testing.assert_allclose(second.action, decoded[1])
    other = np.zeros((2, 7))
    now = core.on_tokens(ids_for(tok, other), 0.2)
    np.testing.assert_allclose(now.action, tok.decode_chunk(ids_for(tok, other))[0])
    assert len(core.playout) == 1  # decoded[2:] was dropped
    core.on_tick(0.3)
    assert core.on_tick(0.4) is None
    assert core.counters['steps'] == 4


def test_ensemble_averages_overlapping_predictions_with_act_weights():
    m = 0.5
    play = Playout(1, 'ensemble', decay=m)
    play.push(np.array([[1.0], [2.0], [3.0]]))
    assert play.pop()[0] == 1.0
    play.push(np.array([[10.0], [20.0], [30.0]]))  # predicts the steps 2.0 and 3.0 predicted
    w0, w1 = 1.0, np.exp(-m)  # oldest prediction first
    assert play.pop()[0] == pytest.approx((w0 * 2 + w1 * 10) / (w0 + w1))
    play.push(np.array([[100.0]]))  # a shorter chunk cancels the older predictions past it
    assert len(play) == 1
    assert play.pop()[0] == pytest.approx((3 + w1 * 20 + np.exp(-2 * m) * 100) /
                                          (1 + w1 + np.exp(-2 * m)))
    assert play.pop() is None


def test_ensemble_core_plays_only_on_ticks():
    core, tok = make_core(chunk_policy='ensemble', ensemble_decay=0.0)
    a = np.full((2, 7), 0.01)
    b = np.full((2, 7), -0.01)
    assert core.on_tokens(ids_for(tok, a), 0.0) is None
    assert core.on_tokens(ids_for(tok, b), 0.01) is None
    cmd = core.on_tick(0.1)
    expect = (tok.decode_chunk(ids_for(tok, a))[0] + tok.decode_chunk(ids_for(tok, b))[0]) / 2
    np.testing.assert_allclose(cmd.action, expect)


def test_chunk_tokenizer_message_is_one_chunk():
    chunk = np.tile(np.linspace(0, 0.01, 5)[:, None], (1, 7))
    core = DecoderCore(PROFILE, start_enabled=True, tokenizer=FakeChunkTokenizer(chunk))
    played = [core.on_tokens(np.array([3, 4], np.int32), 0.0)]
    played += [core.on_tick(0.1 * i) for i in range(1, 5)]
    np.testing.assert_allclose([c.action for c in played], chunk)
    with pytest.raises(Rejected, match='out_of_range'):
        core.on_tokens(np.array([3, 100], np.int32), 1.0)


# -- watchdog and enable -------------------------------------------------------------------
def test_watchdog_sends_repeats_zeros_then_silence_and_counts_trips():
    dog = Watchdog(0.5, repeats=3)
    assert not any(dog.tick(t) for t in (0.0, 1.0, 2.0))  # nothing ever played: silent
    dog.feed(10.0)
    assert not dog.tick(10.4)
    assert [dog.tick(t) for t in (10.5, 10.6, 10.7, 10.8, 20.0)] == [True] * 3 + [False] * 2
    assert dog.trips == 1
    dog.feed(21.0)
    assert dog.tick(21.6) and dog.trips == 2


def test_core_watchdog_after_last_step():
    core, tok = make_core(command_timeout=0.25, stop_repeats=2)
    core.on_tokens(ids_for(tok, np.zeros((1, 7))), 1.0)
    ticks = [core.on_watchdog(1.0 + 0.1 * i) for i in range(1, 7)]
    assert ticks == [False, False, True, True, False, False]


def test_disable_clears_queue_ignores_tokens_and_asks_for_zero():
    core, tok = make_core()
    core.on_tokens(ids_for(tok, np.zeros((5, 7))), 0.0)
    assert core.disable() is True
    assert core.disable() is False  # already disabled: no second zero needed
    assert len(core.playout) == 0
    assert core.on_tokens(ids_for(tok, np.zeros((1, 7))), 0.1) is None
    assert core.on_tick(5.0) is None
    assert not core.on_watchdog(5.0)  # no watchdog trip while disabled
    assert core.counters['ignored_disabled'] == 1 and core.counters['steps'] == 1
    core.enable(6.0)
    assert core.on_tokens(ids_for(tok, np.zeros((1, 7))), 6.0) is not None


def test_the_core_starts_disabled_unless_asked():
    core = DecoderCore(PROFILE, make_tokenizer('uniform', PROFILE))
    assert core.enabled is False
    assert core.on_tokens([0] * 7, 0.0) is None and core.counters['ignored_disabled'] == 1


def test_snapshot_reports_counters_rate_and_latency():
    core, tok = make_core()
    core.snapshot(0.0)
    for i in range(10):
        core.on_tokens(ids_for(tok, np.zeros((1, 7))), i * 0.1)
    with pytest.raises(Rejected):
        core.on_tokens(np.zeros(3, np.int32), 1.0)
    snap = core.snapshot(2.0)
    assert snap['received'] == 11 and snap['decoded'] == 10 and snap['rejected_length'] == 1
    assert snap['input_rate_hz'] == pytest.approx(5.5)
    assert snap['decode_latency_us_max'] >= snap['decode_latency_us_mean'] > 0
    assert snap['enabled'] is True and snap['rejected'] == 1


# -- pose maths ----------------------------------------------------------------------------
@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-3, 3), min_size=3, max_size=3),
       st.lists(st.floats(-1, 1), min_size=4, max_size=4).filter(
           lambda q: np.linalg.norm(q) > 0.1))
def test_pose_integration_matches_scipy(rotvec, quat):
    pos, out = integrate_pose([1, 2, 3], quat, [0.1, 0, -0.2], rotvec, 0.1)
    np.testing.assert_allclose(pos, [1.01, 2, 2.98])
    expect = (Rotation.from_rotvec(np.array(rotvec) * 0.1) * Rotation.from_quat(quat)).as_quat()
    assert np.linalg.norm(out) == pytest.approx(1.0)
    assert abs(out @ expect) == pytest.approx(1.0)  # q and -q are the same rotation


def test_quaternion_helpers():
    np.testing.assert_allclose(quat_from_rotvec([0, 0, np.pi]), [0, 0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(quat_from_rotvec([1e-9, 0, 0]), [5e-10, 0, 0, 1])
    a, b = Rotation.from_rotvec([0.3, -0.2, 0.1]), Rotation.from_rotvec([-1, 0.5, 2])
    np.testing.assert_allclose(quat_multiply(a.as_quat(), b.as_quat()), (a * b).as_quat())
    with pytest.raises(InvalidTokenError):
        integrate_pose([0, 0, 0], [0, 0, 0, 0], [0, 0, 0], [0, 0, 0], 0.1)


# -- table fast path -----------------------------------------------------------------------
@pytest.mark.parametrize('kind,settings', [
    ('uniform', {'n_bins': 256, 'vocab_offset': 31744}), ('rt1', {'n_bins': 100}),
    ('uniform', {'n_bins': 64, 'layout': 'per_dimension', 'vocab_offset': 7}),
    ('openvla', {'n_bins': 256}), ('quantile', {'n_bins': 32})])
def test_table_lookup_equals_checked_decode_bit_for_bit(kind, settings):
    data = yaml.safe_load(SEVEN_DOF_PROFILE)
    for d in data['dimensions'][:6]:
        d.update(q01=d['min'] * 0.8, q99=d['max'] * 0.9)
    profile = profile_from_dict(data)
    tok = make_tokenizer(kind, profile, **settings)
    if kind == 'quantile':
        tok.fit([np.random.default_rng(0).normal(0, 0.01, (500, 7))])
    core = DecoderCore(profile, tok)
    check = core.checker
    assert check.table is not None
    rng = np.random.default_rng(1)
    lo, hi = check.id_lo, check.id_hi
    for _ in range(300):
        ids = rng.integers(lo, np.asarray(hi) + 1, size=7)
        fast = check.lookup(ids.tolist())
        assert fast == check.check(ids)[0].tolist()
        assert core.command_for(fast) == core.command_for(check.check(ids)[0])
    assert check.lookup((np.asarray(hi, dtype=np.int64) + np.eye(7, dtype=np.int64)[2])
                        .tolist()) is None  # out of range: left to the checked path


def test_table_path_is_used_for_single_steps_only():
    core, tok = make_core()
    calls = []
    real = tok.decode_chunk
    tok.decode_chunk = lambda ids: calls.append(len(ids)) or real(ids)
    core.on_tokens(ids_for(tok, np.zeros((1, 7))), 0.0)
    core.on_tokens(ids_for(tok, np.zeros((1, 7))), 0.0, dims=[1, 7])
    assert calls == []
    core.on_tokens(ids_for(tok, np.zeros((2, 7))), 0.0, dims=[2, 7])
    assert calls == [14]
    with pytest.raises(Rejected, match='layout'):
        core.on_tokens(ids_for(tok, np.zeros((1, 7))), 0.0, dims=[2, 7])


@settings(max_examples=300, deadline=None)
@given(st.floats(-5, 5), st.sampled_from(['binary', 'continuous']), st.booleans())
def test_gripper_command_matches_the_profile(value, mode, inverted):
    data = yaml.safe_load(SEVEN_DOF_PROFILE)
    data['gripper'].update(mode=mode, command_open=0.08, command_closed=0.0)
    if inverted:
        data['gripper'].update(open_value=0, closed_value=1)
    profile = profile_from_dict(data)
    core = DecoderCore(profile, make_tokenizer('uniform', profile))
    assert core.gripper_command(value) == float(profile.gripper.command(value))
