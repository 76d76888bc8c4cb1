"""
runtime.decoder at run time: live limits, dry run, lost input, honest diagnostics, log bounds.

The companion of test_decoder_safety.py: what an operator changes or reads while the
decoder runs, each case starting from the hole it closes.
"""

from conftest import SEVEN_DOF_PROFILE
import numpy as np
import pytest
from robotok_ros.errors import ConfigError
from robotok_ros.profile_loader import profile_from_dict
from robotok_ros.runtime.decoder import DecoderCore, Rejected
from robotok_ros.runtime.health import Health, Throttle
from robotok_ros.runtime.limits import Limits
from robotok_ros.tokenizers import make_tokenizer
import yaml


def profile(**safety):
    data = yaml.safe_load(SEVEN_DOF_PROFILE)
    data['safety'].update(safety)
    return profile_from_dict(data, source='test7')


PROFILE = profile(max_linear_accel=2.0)
TOK = make_tokenizer('uniform', PROFILE, n_bins=256)
FAST_STEP = TOK.encode_chunk(np.array([[0.02, 0.02, 0.02, 0.1, 0.1, 0.1, 1.0]]))


def core_for(prof=PROFILE, **kwargs):
    return DecoderCore(prof, make_tokenizer('uniform', prof, n_bins=256), start_enabled=True,
                       **kwargs)


# -- 6: live limits -----------------------------------------------------------------------
def test_lowered_limits_apply_to_the_next_command():
    core = core_for()
    core.set_limits(max_linear_speed=0.05, max_angular_speed=0.2, max_linear_accel=1.0,
                    max_angular_accel=3.0)
    cmd = core.on_tokens(FAST_STEP, 0.0)
    assert np.linalg.norm(cmd.linear) == pytest.approx(0.05)
    assert np.linalg.norm(cmd.angular) == pytest.approx(0.2)
    values = core.snapshot(0.0)
    assert values['max_linear_speed'] == 0.05 and values['max_angular_accel'] == 3.0


@pytest.mark.parametrize('changes,needle', [
    ({'max_linear_speed': 0.3}, "max_linear_speed 0.3 m/s is above the profile's 0.25 m/s: a "
                                'running decoder may only lower its limits'),
    ({'max_linear_accel': 2.5}, "max_linear_accel 2.5 m/s^2 is above the profile's 2 m/s^2"),
    ({'max_linear_accel': None}, 'the profile limits it to 2 m/s^2, so it cannot be turned off'),
    ({'max_angular_speed': -1.0}, 'max_angular_speed must be a finite number > 0'),
    ({'workspace': None}, 'workspace is not a motion limit'),
])
def test_raising_a_limit_above_the_profile_is_refused_with_the_reason(changes, needle):
    core = core_for()
    before = core.limiter.limits
    with pytest.raises(ConfigError) as info:
        core.set_limits(**changes)
    assert needle in str(info.value) and core.limiter.limits == before


def test_an_unset_profile_limit_may_be_set_and_unset():
    core = core_for()
    core.set_limits(max_angular_accel=4.0)  # the profile sets no angular accel limit
    core.set_limits(max_angular_accel=None)
    assert core.limiter.limits.max_angular_accel is None


def test_command_timeout_may_be_lowered_not_raised_past_its_start_value():
    core = core_for(command_timeout=0.5)
    core.set_limits(timeout=0.2)
    assert core.watchdog.timeout == 0.2
    core.set_limits(timeout=0.5)
    with pytest.raises(ConfigError, match='command_timeout 0.6 s is above its start-up value'):
        core.set_limits(timeout=0.6, max_linear_speed=0.1)
    assert core.limiter.limits.max_linear_speed == 0.25  # all or nothing


def test_limits_validate_their_values():
    with pytest.raises(ConfigError, match='workspace must be'):
        Limits(1.0, 1.0, workspace=((0, 0, 1), (1, 1, 0)))
    with pytest.raises(ConfigError, match='max_linear_accel must be a finite number > 0 or '
                                          "unset, got 'fast'"):
        Limits(1.0, 1.0, max_linear_accel='fast')


# -- 1: dry run ---------------------------------------------------------------------------
def test_dry_run_asks_for_one_real_stop_and_counts_would_be_commands():
    core = core_for()
    core.on_tokens(FAST_STEP, 0.0)
    assert core.set_dry_run(True) is True  # the real arm gets a zero now
    assert core.set_dry_run(True) is False
    cmd = core.on_tokens(FAST_STEP, 0.1)
    assert cmd is not None and core.counters['dry_run_commands'] == 1
    # Back to real: the limiter restarts from rest (2 m/s^2 x 0.1 s), not from the dry command.
    assert core.set_dry_run(False) is False
    assert np.linalg.norm(core.on_tokens(FAST_STEP, 0.2).linear) == pytest.approx(0.2)
    assert core.snapshot(0.2)['dry_run'] is False


# -- 4e: lost input -----------------------------------------------------------------------
def test_gaps_in_a_visible_step_sequence_are_counted():
    core = core_for()
    step = TOK.encode_chunk(np.zeros((1, 7)))
    for seq in (0, 1, 2, 5, 6, 10, 3):  # 3..4 and 7..9 missing, then a restart at 3
        core.on_tokens(step, 0.01 * seq, label=f'step={seq};stamp=0')
    chunk = TOK.encode_chunk(np.zeros((3, 7)))
    core.on_tokens(chunk, 0.2, [3, 7], label='step=4;stamp=0')
    core.on_tokens(chunk, 0.3, [3, 7], label='step=7;stamp=0')  # 4 + 3: no gap
    values = core.snapshot(0.3)
    assert values['input_gaps'] == 2 and values['input_missing_steps'] == 5
    assert values['received'] == values['decoded'] == 9 and values['rejected'] == 0
    core.on_tokens(step, 0.4, label='not a step label')  # ignored, not an error
    assert core.snapshot(0.4)['input_gaps'] == 2


# -- 7: diagnostics that recover ----------------------------------------------------------
def test_level_warns_while_trouble_is_recent_and_recovers_after_a_quiet_window():
    core = core_for()
    core.assess(core.snapshot(0.0), 0.0)
    with pytest.raises(Rejected):
        core.on_tokens([0] * 6, 0.5)
    level, message = core.assess(core.snapshot(1.0), 1.0)
    assert level == 'WARN' and 'rejected +1' in message
    for t in (2.0, 3.0, 5.0):
        assert core.assess(core.snapshot(t), t)[0] == 'WARN'
    values = core.snapshot(6.0)
    assert core.assess(values, 6.0) == ('OK', 'enabled')
    assert values['rejected'] == 1 and values['rejected_length'] == 1  # still cumulative


def test_health_lists_each_recent_kind_of_trouble():
    health = Health(window=5.0)
    health.assess({'rejected': 0, 'clamps': 0, 'enabled': True}, 0.0)
    level, message = health.assess({'rejected': 3, 'clamps': 2, 'enabled': True}, 1.0)
    assert level == 'WARN' and message == 'enabled; in the last 5 s: clamps +2, rejected +3'
    assert health.assess({'rejected': 3, 'clamps': 2}, 2.0, fault='no pose') == (
        'ERROR', 'disabled by a fault: no pose')


def test_throttle_bounds_lines_whatever_the_rate():
    clock = [0.0]
    throttle = Throttle(2.0, clock=lambda: clock[0])
    emitted = []
    for i in range(100_000):  # 100 kHz for 10 s
        clock[0] = i * 1e-4
        held = throttle.allow('rejected')
        if held is not None:
            emitted.append(held)
    assert emitted == [0] + [19_999] * 4  # 5 lines in 10 s, each saying how many it held
    assert throttle.allow('pose') == 0  # keys are throttled apart
