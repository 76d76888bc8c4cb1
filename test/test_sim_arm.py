"""
sim_arm motion in MuJoCo: twists tracked as MoveIt Servo would, timeouts, limits, singularities.

Every test drives the arm only through SimArm's message-level calls. Skipped only when MuJoCo
cannot be imported (the robosuite model files are a hard requirement once it can).
"""

import math
import time

import numpy as np
import pytest

pytest.importorskip('mujoco', reason='mujoco (PyPI) is not installed: the simulated arm needs it')

from robotok_ros.sim import SimArm, SimSettings  # noqa: E402
from robotok_ros.sim.scripted import (matrix_from_rotvec, quat_to_matrix,  # noqa: E402
                                      rotvec_from_matrix)

ROBOTS = ('franka_panda', 'ur5e')
PERIOD = 0.02   # s between twists: 50 Hz, well inside Servo's 0.1 s timeout


@pytest.fixture(scope='module')
def arms():
    """One arm per robot for the module (building costs ~0.1 s), reset by each test."""
    return {name: SimArm(name, settings=SimSettings(visual=False)) for name in ROBOTS}


@pytest.fixture(params=ROBOTS)
def arm(request, arms):
    sim = arms[request.param]
    sim.reset(0)
    sim.start()
    return sim


def drive(sim, linear, angular, frame, duration, period=PERIOD):
    """Send one constant twist every period for duration s; return the poses seen."""
    poses = [sim.ee_pose()]
    end = sim.sim_time + duration - 1e-9
    while sim.sim_time < end:
        assert sim.command_twist(linear, angular, frame, sim.sim_time) is None
        sim.step(period)
        poses.append(sim.ee_pose())
    return poses


def angle_between(r1, r2):
    return float(np.linalg.norm(rotvec_from_matrix(r1 @ r2.T)))


def test_base_frame_twist_is_tracked(arm):
    linear, angular = np.array([0.06, -0.05, 0.04]), np.array([0.0, 0.0, 0.3])
    poses = drive(arm, linear, angular, arm.profile.frame_id, 1.0)
    start, end = poses[0], poses[-1]
    moved = end.position - start.position
    error = np.linalg.norm(moved - linear) / np.linalg.norm(linear)
    r0, r1 = quat_to_matrix(start.quaternion), quat_to_matrix(end.quaternion)
    rot_error = angle_between(r1, matrix_from_rotvec(angular) @ r0) / np.linalg.norm(angular)
    print(f'{arm.profile.name} base-frame tracking: position {error:.2%}, rotation '
          f'{rot_error:.2%}')
    assert error < 0.05 and rot_error < 0.05


def test_end_effector_frame_twist_is_tracked(arm):
    linear, angular = np.array([0.03, 0.04, -0.05]), np.array([0.25, 0.0, 0.2])
    poses = drive(arm, linear, angular, arm.world.ee_frame, 1.0)
    r0 = quat_to_matrix(poses[0].quaternion)
    # The ideal: body-frame angular velocity, R(t) = R0 exp(w t); p = p0 + int R(t) v dt.
    ts = np.linspace(0.0, 1.0, 2001)
    path = np.array([r0 @ matrix_from_rotvec(angular * t) @ linear for t in ts])
    expected = poses[0].position + np.trapezoid(path, ts, axis=0)
    error = np.linalg.norm(poses[-1].position - expected) / np.linalg.norm(linear)
    r1 = quat_to_matrix(poses[-1].quaternion)
    rot_error = angle_between(r1, r0 @ matrix_from_rotvec(angular)) / np.linalg.norm(angular)
    print(f'{arm.profile.name} EE-frame tracking: position {error:.2%}, rotation '
          f'{rot_error:.2%}')
    assert error < 0.05 and rot_error < 0.05


def test_stale_twist_halts_within_one_physics_step(arm):
    drive(arm, [0.1, 0.0, 0.0], [0.0, 0.0, 0.0], arm.profile.frame_id, 0.3)
    stamp = arm.sim_time - PERIOD     # the last twist's stamp
    timeout = arm.settings.servo.incoming_command_timeout
    dt = 1.0 / arm.settings.physics_hz
    records = []
    for _ in range(round(0.6 / dt)):
        start = arm.sim_time
        arm.step(dt)
        records.append((start, arm.velocity_command.any(), arm.ee_pose().position))
    halt = next(t for t, moving, _ in records if not moving)
    assert stamp + timeout - 1e-9 <= halt <= stamp + timeout + dt + 1e-9
    assert all(not moving for t, moving, _ in records if t >= halt)
    at_halt = next(p for t, _, p in records if t >= halt)
    after = [p for t, _, p in records if t >= halt + 0.1]
    speed = np.linalg.norm(after[-1] - after[-2]) / dt
    assert speed < 1e-3, f'still moving at {speed} m/s 0.1 s after the halt'
    assert np.linalg.norm(after[0] - at_halt) < 2e-3        # braking distance at 0.1 m/s
    assert np.linalg.norm(after[-1] - after[0]) < 1e-4      # and no drift once stopped
    assert arm.status == 'stale_command'


def test_nothing_moves_before_start(arms):
    sim = SimArm('franka_panda', settings=SimSettings(visual=False))
    before = sim.ee_pose().position
    sent = 0
    while sim.sim_time < 2.0:
        assert sim.command_twist([0.2, 0, 0], [0, 0, 0.5], sim.profile.frame_id,
                                 sim.sim_time) == 'not_started'
        sent += 1
        sim.step(PERIOD)
    assert np.linalg.norm(sim.ee_pose().position - before) < 1e-4
    assert sim.rejected['not_started'] == sent


def test_pause_holds_and_resume_moves(arm):
    arm.pause(True)
    before = arm.ee_pose().position
    assert arm.command_twist([0.1, 0, 0], [0, 0, 0], arm.profile.frame_id,
                             arm.sim_time) == 'paused'
    arm.step(0.5)
    assert np.linalg.norm(arm.ee_pose().position - before) < 1e-4
    arm.pause(False)
    drive(arm, [0.1, 0, 0], [0, 0, 0], arm.profile.frame_id, 0.2)
    assert arm.ee_pose().position[0] - before[0] > 0.015


def test_joint_limits_hold_under_a_long_push(arm):
    # Spinning the hand about its own axis drives the last joint into its limit.
    lower, upper = arm.world.lower, arm.world.upper
    margin = arm.settings.servo.joint_limit_margin
    n = arm.world.n_arm
    end = arm.sim_time + (4.0 if n == 7 else 8.0)
    worst = math.inf
    while arm.sim_time < end:
        arm.command_twist([0, 0, 0], [0, 0, 0.999], arm.world.ee_frame, arm.sim_time)
        arm.step(PERIOD)
        q = arm.joint_state().positions[:n]
        worst = min(worst, float(np.min(q - lower)), float(np.min(upper - q)))
    assert worst > 0, 'a joint left its range'
    assert arm.status == 'joint_bound'
    q = arm.joint_state().positions[:n]
    assert np.min(np.minimum(q - lower, upper - q)) < margin + 0.02
    assert not arm.velocity_command.any()


def test_singularity_slows_then_stops_without_blow_up(arm):
    # Reaching straight out stretches the arm toward its elbow singularity.
    speeds, statuses, conds = [], set(), []
    prev = arm.ee_pose().position
    end = arm.sim_time + 4.0
    while arm.sim_time < end:
        arm.command_twist([0.2, 0, 0], [0, 0, 0], arm.profile.frame_id, arm.sim_time)
        arm.step(PERIOD)
        pos = arm.ee_pose().position
        speeds.append(np.linalg.norm(pos - prev) / PERIOD)
        statuses.add(arm.status)
        conds.append(arm.servo.condition)
        prev = pos
    hard = arm.settings.servo.hard_stop_singularity_threshold
    assert 'decelerate_for_approaching_singularity' in statuses
    # The first 0.1 s holds the start-up transient: the joint servo saturates its torque
    # on the velocity step and then catches up the lag (a ~20 % overshoot on the Panda).
    assert max(speeds) < 0.2 * 1.3 and max(speeds[5:]) < 0.2 * 1.05
    assert max(speeds[-25:]) < 0.01, 'did not come to a stop near the singularity'
    assert max(conds) <= hard + 0.5 and arm.blowups == 0
    assert np.isfinite(arm.joint_state().positions).all()


def test_runs_much_faster_than_real_time(arm):
    start = time.perf_counter()
    drive(arm, [0.05, 0.0, -0.03], [0.0, 0.2, 0.0], arm.profile.frame_id, 2.0)
    wall = time.perf_counter() - start
    factor = 2.0 / wall
    steps = 2.0 * arm.settings.physics_hz / wall
    print(f'{arm.profile.name}: real-time factor {factor:.1f}, {steps:.0f} physics steps/s')
    # Lenient: other jobs share this machine's two cores.
    assert factor > 3.0
