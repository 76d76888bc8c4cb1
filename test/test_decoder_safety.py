"""
Issue J in runtime.decoder: holes an attacker or a real arm finds, each closed and kept closed.

Every test here failed on the decoder before the fix (the queued-motion, overflow, FAST
length and ensemble cases by the numbers in their comments).  Motion is simulated by
integrating the commanded twist over one control period per step: an ideal arm that
tracks its command and reports its pose exactly.
"""

from conftest import SEVEN_DOF_PROFILE
import numpy as np
import pytest
from robotok_ros.errors import ConfigError
from robotok_ros.profile_loader import profile_from_dict
from robotok_ros.runtime.decoder import DecoderCore, Rejected
from robotok_ros.runtime.limits import LEAD_S
from robotok_ros.tokenizers import make_tokenizer
import yaml

QUAT = (0.0, 0.0, 0.0, 1.0)


def profile(**safety):
    data = yaml.safe_load(SEVEN_DOF_PROFILE)
    data['safety'].update(safety)
    return profile_from_dict(data, source='test7')


PROFILE = profile()
TOK = make_tokenizer('uniform', PROFILE, n_bins=256)
PERIOD = 1.0 / PROFILE.control_rate_hz


def core_for(prof=PROFILE, tok=None, **kwargs):
    kwargs.setdefault('start_enabled', True)
    return DecoderCore(prof, tok or make_tokenizer('uniform', prof, n_bins=256), **kwargs)


def ids(actions, tok=TOK):
    return tok.encode_chunk(np.atleast_2d(np.asarray(actions, dtype=np.float64)))


# -- 4c: layout sizes ---------------------------------------------------------------------
def test_layout_product_cannot_overflow_into_a_match():
    core = core_for()
    # 7623851 * 1229673 * 3935371 * 7 wraps to 7 in int64: accepted before the fix.
    with pytest.raises(Rejected) as info:
        core.on_tokens(ids(np.zeros(7)), 0.0, [7623851, 1229673, 3935371, 7])
    assert info.value.reason == 'layout' and core.rejected['layout'] == 1


# -- 4b: the motion one message may queue -------------------------------------------------
def test_a_message_longer_than_max_queue_seconds_is_rejected_before_decoding():
    core = core_for(max_queue_seconds=1.0)
    calls = []
    core.checker.tokenizer = type('Spy', (), {'decode_chunk': lambda self, i: calls.append(i)})()
    for n_steps in (11, 300, 2_000_000 // 7):  # 1.1 s, 30 s, 5.3 hours of motion at 10 Hz
        with pytest.raises(Rejected) as info:
            core.on_tokens(np.zeros(7 * n_steps, np.int32), 0.0)
        assert info.value.reason == 'too_long' and 'max_queue_seconds allows 10' in str(
            info.value)
    assert core.rejected['too_long'] == 3 and calls == [] and len(core.playout) == 0


def test_a_chunk_tokenizer_longer_than_the_queue_is_a_start_up_error():
    eps = [np.random.default_rng(0).uniform(-0.01, 0.01, (60, 7))]
    fast = make_tokenizer('fast', PROFILE, chunk_steps=15, scale=10, vocab=300).fit(eps)
    with pytest.raises(ConfigError, match='max_queue_seconds allows 10 steps .* chunks of 15 '
                                          'steps: raise max_queue_seconds to at least 1.5'):
        core_for(tok=fast)
    assert core_for(tok=fast, max_queue_seconds=1.5).checker.max_steps == 15


def test_only_new_input_feeds_the_watchdog_never_playout():
    core = core_for(command_timeout=0.3)
    # Before the fix every played step fed the watchdog: 300 steps gave 30 s of motion.
    moving = [core.on_tokens(ids(np.full((10, 7), 0.01)), 0.0)]
    t = 0.0
    while True:
        t = round(t + PERIOD, 9)
        if core.on_watchdog(t):
            break
        moving.append(core.on_tick(t))
    assert t == pytest.approx(0.3) and len(moving) == 3  # steps at 0.0, 0.1, 0.2 only
    assert len(core.playout) == 0 and core.on_tick(t + PERIOD) is None
    assert core.watchdog.trips == 1


@pytest.mark.parametrize('policy', ['replace', 'ensemble'])
def test_a_new_message_cancels_what_is_queued_past_it(policy):
    core = core_for(chunk_policy=policy, ensemble_decay=0.0)
    core.on_tokens(ids(np.full((8, 7), 0.01)), 0.0)
    core.on_tokens(ids(np.zeros((2, 7))), 0.01)
    # ensemble before the fix: the 8-step tail stayed queued behind a 2-step message.
    assert len(core.playout) == (1 if policy == 'replace' else 2)
    core.disable()
    assert len(core.playout) == 0


# -- 3: FAST rejects, not repairs ---------------------------------------------------------
@pytest.fixture(scope='module')
def fast():
    rng = np.random.default_rng(1)
    t = np.arange(60)[:, None] / 60
    eps = [0.01 * np.sin(2 * np.pi * rng.uniform(0.2, 1.5, 7) * t + rng.uniform(0, 6, 7))
           for _ in range(6)]
    tok = make_tokenizer('fast', PROFILE, chunk_steps=5, scale=10, vocab=300).fit(eps)
    return tok, tok.encode_chunk(eps[0][:5])


def test_fast_sequences_of_the_wrong_length_are_rejected_as_length(fast):
    tok, good = fast
    core = core_for(tok=tok)
    assert core.on_tokens(good, 0.0) is not None
    for bad in (good[:-1], np.r_[good, good[:2]], np.zeros(36, np.int64) + tok.id_range[0]):
        with pytest.raises(Rejected) as info:
            core.on_tokens(bad, 0.1)
        assert info.value.reason == 'length', info.value
    assert core.rejected['length'] == 3 and core.counters['decoded'] == 1
    assert tok.length_fixes == 0  # nothing was padded or cut on the way


# -- 4a: pose targets only onto a fresh, finite pose -------------------------------------
@pytest.mark.parametrize('position,quat,when,counted', [
    ((np.nan, 0.0, 0.3), QUAT, 0.0, 'non_finite'),
    ((0.4, 0.0, 0.3), (0.0, 0.0, np.inf, 1.0), 0.0, 'non_finite'),
    ((0.4, 0.0, 0.3), (0.0, 0.0, 0.0, 0.0), 0.0, 'non_finite'),
    ((0.4, 0.0, 0.3), QUAT, -0.5, 'stale'),  # received 0.5 s before the tokens
    (None, None, None, 'missing')])
def test_pose_mode_builds_no_target_without_a_fresh_finite_pose(position, quat, when, counted):
    core = core_for(output_mode='pose', pose_max_age=0.2)
    if position is not None:
        core.on_pose(position, quat, 1.0 + when)
    assert core.on_tokens(ids(np.full(7, 0.01)), 1.0) is None
    assert core.pose.counts[counted] == 1 and core.counters['steps'] == 0
    values = core.snapshot(1.0)
    assert values['pose_rejected' if counted == 'non_finite' else 'pose_unavailable'] == 1


def test_a_non_finite_pose_forgets_the_last_good_one_at_once():
    core = core_for(output_mode='pose')
    core.on_pose((0.4, 0.0, 0.3), QUAT, 1.0)
    assert core.on_tokens(ids(np.full(7, 0.01)), 1.0).target is not None
    core.on_pose((0.4, np.nan, 0.3), QUAT, 1.01)
    assert core.on_tokens(ids(np.full(7, 0.01)), 1.02) is None
    assert core.hold_target(1.02) is not None  # a stop holds the last target sent


# -- 5: the workspace box -----------------------------------------------------------------
BOX = {'min': [-0.5, -0.5, 0.0], 'max': [0.5, 0.5, 0.8]}


def test_enable_is_refused_while_a_box_has_no_fresh_pose():
    core = core_for(profile(workspace=BOX), start_enabled=False)
    with pytest.raises(ConfigError, match='not enabled: workspace box set but no valid pose '
                                          'on robotok/ee_pose'):
        core.enable(0.0)
    assert core.assess(core.snapshot(0.0), 0.0)[0] == 'ERROR'
    core.on_pose((0.1, 0.0, 0.2), QUAT, 0.0)
    with pytest.raises(ConfigError, match='the last pose on robotok/ee_pose is 1.00 s old'):
        core.enable(1.0)
    core.on_pose((0.1, 0.0, 0.2), QUAT, 1.0)
    core.enable(1.0)
    assert core.enabled and core.assess(core.snapshot(1.0), 1.0)[0] == 'OK'


def test_start_enabled_with_a_box_waits_for_the_first_pose():
    core = core_for(profile(workspace=BOX))
    assert not core.enabled and core.on_tokens(ids(np.zeros(7)), 0.0) is None
    assert core.on_pose((0.1, 0.0, 0.2), QUAT, 0.1).startswith('enabled')
    assert core.on_tokens(ids(np.zeros(7)), 0.1) is not None


def test_losing_the_pose_while_enabled_stops_by_a_fault():
    core = core_for(profile(workspace=BOX))
    core.on_pose((0.1, 0.0, 0.2), QUAT, 0.0)
    assert not core.on_tokens(ids(np.full(7, 0.01)), 0.0).stop
    cmd = core.on_tokens(ids(np.full(7, 0.01)), 0.5)  # the pose is 0.5 s old
    assert cmd.stop and not core.enabled and 'pose' in core.fault
    level, message = core.assess(core.snapshot(0.5), 0.5)
    assert level == 'ERROR' and message.startswith('disabled by a fault: workspace box')


def simulate(core, point, action, steps, lag=0, start=0):
    """Stream one-step messages ``action``; the arm moves by each twist; return z, vz lists."""
    history, zs, vs = [tuple(point)], [], []
    for k in range(start, start + steps):
        t = k * PERIOD
        core.on_pose(history[max(0, len(history) - 1 - lag)], QUAT, t)
        cmd = core.on_tokens(ids(action), t)
        point = [p + v * PERIOD for p, v in zip(point, cmd.linear)]
        history.append(tuple(point))
        zs.append(point[2])
        vs.append(cmd.linear[2])
    return np.array(zs), np.array(vs)


@pytest.mark.parametrize('accel', [None, 2.0])
def test_a_stream_aimed_through_the_table_stops_at_the_table_face(accel):
    core = core_for(profile(workspace=BOX, max_linear_accel=accel))
    # 0.02 m per step down at 10 Hz (0.2 m/s) and 0.01 m sideways, from 0.15 m above the face.
    zs, vs = simulate(core, (0.1, 0.0, 0.15), [0.01, 0.0, -0.02, 0, 0, 0, 1], 40)
    assert zs.min() >= -1e-12, zs.min()  # never below the face (tolerance 1e-12 m)
    assert zs[-1] == pytest.approx(0.0, abs=1e-9) and vs[-1] == pytest.approx(0.0, abs=1e-9)
    assert core.limiter.counts['workspace'] > 0
    if accel is not None:  # braking toward the face keeps to the limit: 2 m/s^2 -> 0.2 m/s
        assert np.abs(np.diff(vs)).max() <= accel * PERIOD * (1 + 1e-9)


@pytest.mark.parametrize('lag', [0, 1])
def test_a_pose_that_lags_the_commands_does_not_carry_the_tool_past_the_face(lag):
    # The measured pose trails what was commanded (a pose sample late, the arm's servo lag):
    # the box also acts on the point the commands lead to, so the tool stops on the face.
    core = core_for(profile(workspace=BOX, max_linear_accel=2.0))
    zs, vs = simulate(core, (0.1, 0.0, 0.15), [0.0, 0.0, -0.02, 0, 0, 0, 1], 40, lag=lag)
    assert zs.min() >= -1e-12 and vs[-1] == 0.0
    assert zs[-1] == pytest.approx(0.0, abs=1e-9)


def test_a_pose_later_than_the_lead_passes_the_face_by_the_rest_of_its_lag():
    prof = profile(workspace=BOX, max_linear_accel=2.0)
    core = core_for(prof)
    zs, _ = simulate(core, (0.1, 0.0, 0.15), [0.0, 0.0, -0.02, 0, 0, 0, 1], 40, lag=3)
    speed = -TOK.decode_chunk(ids([0.0, 0.0, -0.02, 0, 0, 0, 1]))[0, 2] * 10
    # The lead covers LEAD_S at least, at the speed commanded (not the limit: see below).
    assert zs.min() < 0 and zs.min() >= -(3 * PERIOD - LEAD_S) * speed - 1e-9


def test_a_gap_the_lead_once_had_does_not_stop_a_later_descent_short():
    # An arm that once trailed its commands (held, or a pose that jumped at a sim reset)
    # while the stream goes on: the lead must close on the measured point, not keep the
    # gap (with a room from the speed limit it stayed 5.8 cm below a Panda's TCP, and the
    # floor stopped the tool that far short).
    core = core_for(profile(workspace=BOX))
    down = [0.0, 0.0, -0.02, 0, 0, 0, 1]
    for k in range(10):   # held at 0.15 m: dead reckoning runs below it by its room
        core.on_pose((0.1, 0.0, 0.15), QUAT, k * PERIOD)
        core.on_tokens(ids(down), k * PERIOD)
    zs, vs = simulate(core, (0.1, 0.0, 0.15), down, 40, start=10)
    assert zs.min() >= -1e-12 and zs[-1] == pytest.approx(0.0, abs=1e-6)


def test_an_arm_that_does_not_follow_is_not_stopped_short_by_the_lead():
    # The measured point never moves (blocked, or Servo slowed it): the dead-reckoned point
    # leads it by at most LEAD_S x the speed limit, so motion 0.1 m from the face goes on.
    prof = profile(workspace=BOX)
    core = core_for(prof)
    vs = []
    for k in range(40):
        core.on_pose((0.1, 0.0, 0.1), QUAT, k * PERIOD)
        vs.append(core.on_tokens(ids([0.0, 0.0, -0.02, 0, 0, 0, 1]), k * PERIOD).linear[2])
    lead = (LEAD_S + PERIOD) * prof.safety.max_linear_speed
    assert lead < 0.1 and min(vs) == max(vs) < 0     # every step at the same full speed


def test_the_lead_restarts_from_the_measured_point_after_a_pause():
    core = core_for(profile(workspace=BOX))
    for k in range(5):  # dead reckoning says 0.1 m down, the pose says it stayed at 0.1
        core.on_pose((0.1, 0.0, 0.1), QUAT, k * PERIOD)
        core.on_tokens(ids([0.0, 0.0, -0.02, 0, 0, 0, 1]), k * PERIOD)
    t = 10 * PERIOD   # a pause: the arm settled on its target, the pose is the truth again
    core.on_pose((0.1, 0.0, 0.005), QUAT, t)
    cmd = core.on_tokens(ids([0.0, 0.0, -0.02, 0, 0, 0, 1]), t)
    assert cmd.linear[2] == pytest.approx(-0.005 / PERIOD, rel=1e-6)   # the room left


def test_the_box_lets_motion_back_in_and_along_the_face():
    core = core_for(profile(workspace=BOX))
    core.on_pose((0.1, 0.0, -0.01), QUAT, 0.0)  # 1 cm below the face: only up is allowed
    up = core.on_tokens(ids([0.01, 0.0, 0.01, 0, 0, 0, 1]), 0.0)
    assert up.linear[2] > 0 and up.linear[0] > 0 and core.limiter.counts['workspace'] == 0
    down = core.on_tokens(ids([0.01, 0.0, -0.01, 0, 0, 0, 1]), 0.1)
    assert down.linear[2] == 0.0 and down.linear[0] > 0 and down.clamped


# -- 5: acceleration ----------------------------------------------------------------------
def test_a_chunk_boundary_jump_is_smoothed_to_the_acceleration_limit():
    a_lin, a_ang = 1.0, 2.0
    core = core_for(profile(max_linear_accel=a_lin, max_angular_accel=a_ang))
    fwd = np.tile([0.02, 0.0, 0.0, 0.05, 0, 0, 1], (5, 1))  # +0.2 m/s, +0.5 rad/s
    cmds = [core.on_tokens(ids(fwd), 0.0)]
    cmds += [core.on_tick(k * PERIOD) for k in range(1, 4)]
    back = fwd * [-1, 1, 1, -1, 1, 1, 1]  # the next chunk reverses both: a 0.4 m/s jump
    cmds += [core.on_tokens(ids(back), 4 * PERIOD)]
    cmds += [core.on_tick(k * PERIOD) for k in range(5, 9)]
    lin = np.array([c.linear[0] for c in cmds])
    ang = np.array([c.angular[0] for c in cmds])
    target = TOK.decode_chunk(ids(fwd))[0, [0, 3]] * 10
    # From rest the first step is limited too; then the change per period is a x period.
    assert np.abs(np.diff(np.r_[0.0, lin])).max() <= a_lin * PERIOD * (1 + 1e-12)
    assert np.abs(np.diff(np.r_[0.0, ang])).max() <= a_ang * PERIOD * (1 + 1e-12)
    assert lin[2] == pytest.approx(target[0], abs=1e-12)   # reached in ceil(0.2 / 0.1) steps
    assert lin[-1] == pytest.approx(-target[0], abs=1e-12)  # and back after 4 more
    assert core.limiter.counts['accel'] > 0 and all(c.clamped for c in cmds[4:8])


def test_a_stop_is_never_rate_limited_and_motion_restarts_from_rest():
    core = core_for(profile(max_linear_accel=1.0), command_timeout=0.3)
    fwd = [0.02, 0.0, 0.0, 0, 0, 0, 1]
    for k in range(4):
        core.on_tokens(ids(fwd), k * PERIOD)
    assert core.on_watchdog(0.3 + 3 * PERIOD)  # a zero command goes out at once
    again = core.on_tokens(ids(fwd), 1.0)
    assert np.linalg.norm(again.linear) == pytest.approx(1.0 * PERIOD)  # ramps up from rest
    assert core.disable() and core.limiter._lin == (0.0, 0.0, 0.0)
