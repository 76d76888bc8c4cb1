"""Scripted demonstrations: the operator lifts the cube in physics; collect records it whole."""

import json

import numpy as np
import pytest
from robotok_ros.demo.collect import TASK
from robotok_ros.errors import ConfigError
from robotok_ros.profile_loader import load_profile
from robotok_ros.runtime.pick_operator import OperatorSettings, PickOperator


def run_operator(profile, seed, seconds=20.0, push=0.0):
    """Run PickOperator on an in-process SimArm; return (done, final TaskState, steps)."""
    from robotok_ros.sim import SimArm
    sim = SimArm(profile, seed=seed)
    sim.start()
    op = PickOperator(profile, seed=seed, settings=OperatorSettings(push=push))
    period, grip = 1.0 / profile.control_rate_hz, profile.gripper
    done, steps = False, 0
    while sim.sim_time < seconds and not done:
        js, pose, task = sim.joint_state(), sim.ee_pose(), sim.task_state()
        width = sum(abs(q) for n, q in zip(js.names, js.positions) if 'finger' in n)
        linear, angular, closed, done = op.act(pose.position, pose.quaternion,
                                               task.cube.position, width, task.lifted,
                                               task.grasped)
        sim.command_twist(np.add(linear, op.push), angular, profile.frame_id, sim.sim_time)
        sim.command_gripper(grip.command_closed if closed else grip.command_open)
        sim.step(period)
        steps += 1
    return done, sim.task_state(), steps


@pytest.mark.parametrize('seed', range(6))
def test_the_scripted_operator_lifts_the_cube_from_any_start(seed):
    profile = load_profile('franka_panda')
    done, task, steps = run_operator(profile, seed)
    assert done and task.grasped and task.lifted, (seed, steps)
    assert steps < 12 * profile.control_rate_hz   # a pick takes seconds, not the timeout


def test_operators_differ_by_seed_as_people_do():
    profile = load_profile('franka_panda')
    a, b = PickOperator(profile, seed=1), PickOperator(profile, seed=2)
    assert a.speed != b.speed and not np.allclose(a.offset, b.offset)
    q = (1.0, 0.0, 0.0, 0.0)
    la = a.act((0.3, 0.0, 0.5), q, (0.5, 0.0, 0.02), 0.08)[0]
    lb = b.act((0.3, 0.0, 0.5), q, (0.5, 0.0, 0.02), 0.08)[0]
    assert not np.allclose(la, lb)
    assert np.linalg.norm(la) <= profile.safety.max_linear_speed


def test_when_to_descend_is_a_smooth_function_of_the_sideways_error():
    # A ready-radius switch made one pose mean "hover" (dz 0) just outside it and "descend"
    # (dz at full speed) just inside: a policy cloned from that hovered.  The funnel's dz
    # changes by a small step for a small change in the error, and still goes all the way.
    profile = load_profile('franka_panda')
    cube, q = np.array([0.5, 0.0, 0.02]), (1.0, 0.0, 0.0, 0.0)
    settings = OperatorSettings(noise=0.0, grasp_jitter=0.0)
    dz = []
    for error in np.linspace(0.03, 0.0, 61):   # 0.5 mm apart, 0.1 m above the cube
        op = PickOperator(profile, seed=0, settings=settings)
        linear = op.act(cube + (error, 0.0, 0.1), q, cube, 0.08)[0]
        dz.append(linear[2])
    dz = np.array(dz)
    assert abs(dz[0]) < 1e-9 and dz[-1] < -0.9 * op.speed   # far: keeps height; over: down
    assert np.abs(np.diff(dz)).max() < 0.1 * op.speed, np.round(dz, 3)


@pytest.mark.parametrize('seed', range(3))
def test_a_dart_push_moves_the_arm_off_the_path_and_the_operator_still_lifts(seed):
    profile = load_profile('franka_panda')
    done, task, steps = run_operator(profile, seed, push=0.03)
    assert done and task.lifted, (seed, steps)
    seen = {}
    for push in (0.0, 0.03):
        op = PickOperator(profile, seed=seed, settings=OperatorSettings(push=push))
        seen[push] = np.array([op.act((0.3, 0.0, 0.5), (1.0, 0.0, 0.0, 0.0), (0.5, 0.0, 0.02),
                                      0.08) and op.push for _ in range(300)])
    assert not seen[0.0].any()  # no push unless asked
    assert 0.015 < seen[0.03].std() < 0.05   # an OU push of about the amplitude asked


@pytest.mark.parametrize('field, value, needle', [
    ('speed', 0.0, 'operator speed must be a number in (0, 1000), got 0.0'),
    ('noise', 2.0, 'operator noise must be a number in [0, 1), got 2.0'),
    ('gain', 'fast', "operator gain must be a number in (0, 1000), got 'fast'"),
    ('push', -0.1, 'operator push must be a number in [0, 1), got -0.1'),
])
def test_operator_settings_name_the_bad_value(field, value, needle):
    with pytest.raises(ConfigError) as info:
        OperatorSettings(**{field: value})
    assert str(info.value) == needle


@pytest.mark.timeout(240)
def test_collect_records_lifting_demonstrations_through_the_real_nodes(tmp_path, capsys):
    from robotok_ros.cli.main import main
    from robotok_ros.data.bags import find_bags, read_bag
    assert main(['collect', '--out', str(tmp_path), '--episodes', '2', '--seed', '5']) == 0
    assert '2 of 2 demonstrations lifted the cube' in capsys.readouterr().out
    summary = json.loads((tmp_path / 'collect.json').read_text())
    assert [r['done'] for r in summary['episodes']] == [True, True] and summary['task'] == TASK
    starts = [r['cube_start'] for r in summary['episodes']]
    assert starts[0] != starts[1]          # each episode its own cube spot
    profile = load_profile('franka_panda')
    scales = np.array([d.scale for d in profile.dimensions[:3]])
    for bag, start in zip(find_bags(tmp_path / 'bags'), starts):
        ep = read_bag(bag)
        state, names, _ = ep.observation_state()
        assert len(ep.actions) > 30 and state.shape == (len(ep.actions), len(names))
        cube = [names.index(f'task_state.cube.{i}') for i in range(3)]
        tcp = [names.index(f'ee_pose.{a}') for a in 'xyz']
        np.testing.assert_allclose(state[0, cube], start, atol=2e-3)
        # In physics: the recorded state shows the cube 5 cm up by the end, in the hand.
        assert state[-1, cube[2]] > start[2] + 0.05
        assert np.linalg.norm(state[-1, cube] - state[-1, tcp]) < 0.03
        # What was logged is what moved the arm: the deltas add up to the TCP's path.
        moved = state[-1, tcp] - state[0, tcp]
        logged = (ep.actions[:, :3] * scales).sum(0)
        assert np.linalg.norm(moved - logged) < 0.02 + 0.05 * np.linalg.norm(moved), \
            (moved, logged)
        grip = ep.actions[:, profile.gripper_index]
        assert grip[0] == profile.gripper.open_value and grip[-1] == profile.gripper.closed_value
