"""
sim_arm beyond motion: gripper, scripted pick, bad input, seeded resets, blow-up recovery.

Skipped only when MuJoCo cannot be imported; the robosuite model files must be installed.
"""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip('mujoco', reason='mujoco (PyPI) is not installed: the simulated arm needs it')

from robotok_ros.errors import ConfigError, RobotokError  # noqa: E402
from robotok_ros.sim import models  # noqa: E402
from robotok_ros.sim import PhysicsBlowUp, ServoSettings, SimArm, SimSettings  # noqa: E402
from robotok_ros.sim.scripted import hold, scripted_pick  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = SimSettings(visual=False)


@pytest.fixture(scope='module')
def panda():
    return SimArm('franka_panda', settings=FAST)


@pytest.fixture
def sim(panda):
    panda.reset(0)
    panda.start()
    return panda


def opening(sim):
    return float(np.abs(sim.joint_state().positions[-2:]).sum())


def test_gripper_closes_and_opens_in_profile_units(sim):
    g = sim.profile.gripper            # franka_panda: 0.08 m open, 0.0 closed
    assert opening(sim) == pytest.approx(0.08, abs=1e-6)
    assert sim.command_gripper(g.command_closed) is None
    hold(sim, 1.0)
    assert opening(sim) < 2e-3
    assert sim.command_gripper(0.05) is None
    hold(sim, 1.0)
    assert opening(sim) == pytest.approx(0.05, abs=2e-3)
    assert sim.command_gripper(g.command_open) is None
    hold(sim, 1.0)
    assert opening(sim) == pytest.approx(0.08, abs=2e-3)


@pytest.mark.parametrize('name', ['franka_panda', 'ur5e'])
@pytest.mark.parametrize('seed', [1, 2])
def test_scripted_pick_lifts_the_cube(name, seed):
    arm = SimArm(name, seed=seed, settings=FAST)
    state = scripted_pick(arm)
    assert state.grasped and state.lifted, state
    assert sum(arm.rejected.values()) == 0 and arm.blowups == 0


def test_robosuite_profile_with_visual_meshes():
    # The default build (visual meshes included) of robosuite's naming and -1/+1 gripper.
    arm = SimArm('robosuite_panda_osc', seed=3)
    assert 'robot0_base' in arm.frames and 'gripper0_grip_site' in arm.frames
    assert arm.joint_state().names[0] == 'robot0_joint1'
    assert arm.command_gripper(1.5) == 'gripper_out_of_range'
    state = scripted_pick(arm)
    assert state.grasped and state.lifted


def test_bad_input_is_rejected_counted_and_ignored(sim):
    frame = sim.profile.frame_id
    nan, inf = float('nan'), float('inf')
    before = sim.ee_pose().position
    cases = [
        (([nan, 0, 0], [0, 0, 0], frame, 0.0), 'non_finite'),
        (([0, 0, 0], [0, inf, 0], frame, 0.0), 'non_finite'),
        (([0, 0, 0], [0, 0, 0], frame, nan), 'non_finite'),
        (([0, 0], [0, 0, 0], frame, 0.0), 'malformed'),
        ((['a', 0, 0], [0, 0, 0], frame, 0.0), 'malformed'),
        (([0.1, 0, 0], [0, 0, 0], 'world', 0.0), 'frame'),
        (([0.1, 0, 0], [0, 0, 0], '', 0.0), 'frame'),
        (([0.6, 0, 0], [0, 0, 0], frame, 0.0), 'too_large'),     # franka limit 0.5 m/s
        (([0, 0, 0], [0, 0, 1.2], frame, 0.0), 'too_large'),     # and 1.0 rad/s
    ]
    for args, reason in cases:
        assert sim.command_twist(*args) == reason
    for value, reason in ((nan, 'gripper_non_finite'), (0.09, 'gripper_out_of_range'),
                          (-0.01, 'gripper_out_of_range'), ('x', 'gripper_non_finite')):
        assert sim.command_gripper(value) == reason
    sim.step(0.5)
    assert np.linalg.norm(sim.ee_pose().position - before) < 1e-4
    assert opening(sim) == pytest.approx(0.08, abs=1e-4)
    expected = {'non_finite': 3, 'malformed': 2, 'frame': 2, 'too_large': 2,
                'gripper_non_finite': 2, 'gripper_out_of_range': 2}
    assert {k: v for k, v in sim.rejected.items() if v} == expected
    # The limit itself passes: token_decoder clamps to exactly the profile's speed.
    assert sim.command_twist([0.5, 0, 0], [0, 0, 1.0], frame, sim.sim_time) is None


def run_episode(arm, seed):
    arm.reset(seed)
    arm.start()
    cube = arm.task_state().cube.position.copy()
    trace = []
    for i in range(40):
        arm.command_twist([0.05, 0.02 * np.sin(i / 5), -0.03], [0, 0.1, 0],
                          arm.profile.frame_id, arm.sim_time)
        arm.step(0.02)
        trace.append(arm.joint_state().positions)
    return cube, np.array(trace)


def test_reset_with_a_seed_is_reproducible(panda):
    cube_a, trace_a = run_episode(panda, 7)
    cube_b, trace_b = run_episode(panda, 7)
    cube_c, _ = run_episode(panda, 8)
    np.testing.assert_array_equal(cube_a, cube_b)
    np.testing.assert_array_equal(trace_a, trace_b)
    assert np.linalg.norm(cube_a - cube_c) > 1e-3
    assert panda.sim_time == pytest.approx(0.8)
    reach = panda.settings.cube_xy_range
    spot = np.array(models.PANDA.cube_xy)
    assert np.all(np.abs(cube_c[:2] - spot) <= reach + 1e-9)


@pytest.mark.parametrize('value', [float('nan'), 1e12])
def test_blow_up_resets_the_scene_and_raises(sim, value, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)         # MuJoCo logs its warning to ./MUJOCO_LOG.TXT
    hold(sim, 0.2)
    sim.data.qvel[1] = value
    with pytest.raises(PhysicsBlowUp, match='non-finite.*reset') as info:
        sim.step(0.02)
    assert isinstance(info.value, RobotokError)
    assert sim.blowups >= 1 and sim.sim_time == 0.0
    np.testing.assert_allclose(sim.joint_state().positions[:7], models.PANDA.home)
    sim.step(0.1)                                   # and it keeps running
    assert np.isfinite(sim.joint_state().positions).all()


@pytest.mark.parametrize('kwargs, match', [
    ({'physics_hz': 100}, 'physics_hz must be >= 500.*100'),
    ({'physics_hz': 750, 'servo': ServoSettings(publish_period=0.001)},
     'publish_period must be a whole number.*0.001'),
    ({'cube_xy_range': -1.0}, 'cube_xy_range.*-1.0'),
    ({'visual': 'yes'}, 'visual must be a bool.*yes'),
    ({'model': 'kuka'}, "no simulated model for profile 'kuka'"),
])
def test_bad_settings_name_the_value(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        SimArm('franka_panda', settings=SimSettings(**{'visual': False, **kwargs}))


def test_missing_robosuite_assets_say_how_to_install(monkeypatch):
    monkeypatch.setattr(models.importlib.util, 'find_spec', lambda name: None)
    with pytest.raises(ConfigError, match='pip install --no-deps robosuite==1.5.2'):
        models.assets_dir()


def test_package_is_ros_free_and_imports_mujoco_lazily():
    code = ('import sys, robotok_ros.sim, robotok_ros.sim.scripted; '
            'print(sorted(m for m in ("mujoco", "rclpy", "robosuite") if m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == '[]'
    folder = os.path.join(ROOT, 'robotok_ros', 'sim')
    for name in os.listdir(folder):
        if name.endswith('.py'):
            with open(os.path.join(folder, name)) as f:
                assert not re.search(r'^\s*(import|from) rclpy', f.read(), re.M), name
