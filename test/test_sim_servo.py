"""MoveIt Servo's twist step (robotok_ros/sim/servo.py) on hand-made Jacobians: no MuJoCo."""

import numpy as np
import pytest
from robotok_ros.errors import ConfigError
from robotok_ros.sim.servo import ServoCalc, ServoSettings

N = 6
LOWER, UPPER, VMAX = -np.full(N, 3.0), np.full(N, 3.0), np.full(N, 2.0)


def calc(**settings):
    return ServoCalc(ServoSettings(**settings), LOWER, UPPER, VMAX, 0.5, 1.0)


def diagonal(q):
    """Joint i moves Cartesian axis i; the last axis's gain is q[5] (singular at 0)."""
    return np.diag([1.0, 1.0, 1.0, 1.0, 1.0, q[5]])


def test_pseudo_inverse_solves_the_twist():
    # A redundant (6 x 7), well-conditioned Jacobian: the minimum-norm solution is exact.
    jac = np.hstack([np.eye(6), np.full((6, 1), 0.1)])
    servo = ServoCalc(ServoSettings(), -np.full(7, 3.0), np.full(7, 3.0), np.full(7, 9.0),
                      10.0, 10.0)
    twist = np.array([0.1, -0.05, 0.02, 0.1, 0.0, -0.2])
    qd, status = servo.joint_velocity(twist, np.zeros(7), lambda q: jac)
    assert status == 'no_warning'
    np.testing.assert_allclose(jac @ qd, twist, atol=1e-12)
    np.testing.assert_allclose(qd, np.linalg.pinv(jac) @ twist, atol=1e-12)


def test_zero_twist_gives_zero_velocity():
    qd, status = calc().joint_velocity(np.zeros(6), np.full(N, 0.5), diagonal)
    assert status == 'no_warning' and not qd.any()


def test_speed_units_are_capped_keeping_direction():
    # scale.linear 0.5 m/s: a 1 m/s command along (3, 4, 0)/5 comes out at 0.5 m/s.
    twist = np.array([0.6, 0.8, 0.0, 0.0, 0.0, 0.0])
    qd, _ = calc().joint_velocity(twist, np.ones(N), diagonal)
    np.testing.assert_allclose(qd[:3], [0.3, 0.4, 0.0], atol=1e-12)


def test_joint_velocity_limit_scales_every_joint_alike():
    servo = ServoCalc(ServoSettings(), LOWER, UPPER, np.array([2, 2, 2, 2, 2, 0.5]), 9.0, 9.0)
    twist = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 1.0])
    qd, _ = servo.joint_velocity(twist, np.ones(N), diagonal)
    np.testing.assert_allclose(qd, [0, 0, 0, 0, 0.5, 0.5], atol=1e-12)


@pytest.mark.parametrize('cond, approaching, expected', [
    (10.0, True, 1.0),
    (20.0, True, 1.0 - 3.0 / 13.0),
    (20.0, False, 1.0 - 3.0 / 26.0),       # leaving: upper = 17 + 13 * 2
    (35.0, True, 0.0),
])
def test_singularity_scaling_follows_servo(cond, approaching, expected):
    q = np.array([0, 0, 0, 0, 0, 1.0 / cond])
    # Moving the last axis negative shrinks q[5] (toward the singularity), positive grows it.
    twist = np.array([0.0, 0.0, 0.0, 0.0, 0.2, -0.01 if approaching else 0.01])
    # A small probe step: this toy Jacobian's singularity is only 1/cond away.
    servo = calc(singularity_step_scale=1e-4)
    qd, status = servo.joint_velocity(twist, q, diagonal)
    unscaled = twist / np.diag(diagonal(q))
    np.testing.assert_allclose(qd, unscaled * expected, atol=1e-12)
    assert servo.condition == pytest.approx(cond)
    if expected == 0.0:
        assert status == 'halt_for_singularity'
    elif expected < 1.0:
        assert status == ('decelerate_for_approaching_singularity' if approaching
                          else 'decelerate_for_leaving_singularity')


def test_exactly_singular_jacobian_halts():
    qd, status = calc().joint_velocity(np.array([0, 0, 0, 0, 0, 0.1]), np.zeros(N), diagonal)
    assert status == 'halt_for_singularity' and not qd.any()


@pytest.mark.parametrize('halt_all', [True, False])
def test_joint_limit_margin_halts(halt_all):
    q = np.array([0.0, 0.0, 0.0, 0.0, 2.95, 1.0])   # joint 4 inside its 0.1 rad margin
    twist = np.array([0.2, 0.0, 0.0, 0.0, 0.1, 0.0])
    servo = calc(halt_all_joints_in_cartesian_mode=halt_all)
    qd, status = servo.joint_velocity(twist, q, diagonal)
    assert status == 'joint_bound'
    np.testing.assert_allclose(qd, [0, 0, 0, 0, 0, 0] if halt_all else [0.2, 0, 0, 0, 0, 0])
    # Moving back out of the margin is allowed.
    qd, status = servo.joint_velocity(-twist, q, diagonal)
    assert status == 'no_warning' and qd[4] < 0


@pytest.mark.parametrize('field, value', [
    ('incoming_command_timeout', 0.0), ('publish_period', -0.01),
    ('lower_singularity_threshold', float('nan')), ('joint_limit_margin', -0.1),
    ('scale_linear', 0.0), ('override_velocity_scaling_factor', 1.5),
    ('halt_all_joints_in_cartesian_mode', 1), ('ik_damping', 'x'),
])
def test_settings_name_the_bad_value(field, value):
    with pytest.raises(ConfigError, match=field):
        ServoSettings(**{field: value})


def test_hard_stop_must_exceed_lower_threshold():
    with pytest.raises(ConfigError, match='hard_stop_singularity_threshold.*got 10'):
        ServoSettings(lower_singularity_threshold=17.0, hard_stop_singularity_threshold=10.0)
