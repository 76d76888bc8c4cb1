"""Tests of the synthetic demonstration generator: determinism, realism, pose consistency."""

import numpy as np
import pytest
from robotok_ros.data.readers import read_episodes
from robotok_ros.data.synthetic import (
    actions_from_poses, generate_dataset, generate_episodes, generate_pose_trajectory)
from robotok_ros.errors import ConfigError
from robotok_ros.profile_loader import list_profiles, load_profile, profile_from_dict

SHIPPED = ('franka_panda', 'ur5e', 'widowx_250', 'google_robot', 'robosuite_panda_osc')
CARTESIAN = slice(0, 6)


def _profile(**changes):
    data = {
        'name': 'synth', 'frame_id': 'base', 'control_rate_hz': 10,
        'dimensions': [{'name': n, 'min': -0.02, 'max': 0.02} for n in ('dx', 'dy', 'dz')]
        + [{'name': n, 'min': -0.1, 'max': 0.1} for n in ('droll', 'dpitch', 'dyaw')]
        + [{'name': 'gripper', 'min': 0, 'max': 1}],
        'gripper': {'dimension': 'gripper', 'open_value': 1, 'closed_value': 0},
        'safety': {'max_linear_speed': 0.25, 'max_angular_speed': 1.0}}
    data.update(changes)
    return profile_from_dict(data)


def test_same_seed_same_episodes_and_episode_independent_of_count(profile_path):
    a = generate_episodes(profile_path, n_episodes=4, seed=3)
    b = generate_episodes(profile_path, n_episodes=2, seed=3)
    c = generate_episodes(profile_path, n_episodes=2, seed=4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0][:20], c[0][:20])


def test_shapes_follow_duration_and_control_rate(profile_path):
    profile = load_profile(profile_path)
    eps = generate_episodes(profile, n_episodes=8, seed=0, duration_s=(4.0, 6.0))
    assert all(e.dtype == np.float64 and e.shape[1] == profile.dim for e in eps)
    assert all(40 <= len(e) <= 60 for e in eps)
    assert len({len(e) for e in eps}) > 1
    fixed = generate_episodes(profile, n_episodes=2, seed=0, duration_s=3.0)
    assert [len(e) for e in fixed] == [30, 30]
    assert all(np.isfinite(e).all() for e in eps)


def test_motion_is_smooth_not_white_noise(profile_path):
    profile = load_profile(profile_path)
    deltas = np.concatenate(generate_episodes(profile, n_episodes=8, seed=1))[:, CARTESIAN]
    deltas = deltas / profile.highs[CARTESIAN]
    shuffled = np.random.default_rng(0).permutation(deltas)
    jerk = np.diff(deltas, n=2, axis=0)
    # Minimum-jerk reaches plus low-pass noise: second differences far below a random order's.
    ratio = np.sqrt((jerk ** 2).mean()) / np.sqrt((np.diff(shuffled, n=2, axis=0) ** 2).mean())
    assert ratio < 0.5
    assert np.abs(jerk).max() < 1.5


def test_grasps_close_and_reopen_binary_gripper(profile_path):
    profile = load_profile(profile_path)
    g = profile.gripper
    eps = generate_episodes(profile, n_episodes=16, seed=2)
    for e in eps:
        grip = e[:, profile.gripper_index]
        assert set(np.unique(grip)) <= {g.open_value, g.closed_value}
        assert grip[0] == g.open_value
        assert (grip == g.closed_value).any()
    reopened = [((e[1:, 6] == g.open_value) & (e[:-1, 6] == g.closed_value)).any() for e in eps]
    assert np.mean(reopened) >= 0.75


def test_continuous_gripper_ramps_between_its_values():
    profile = _profile(gripper={'dimension': 'gripper', 'open_value': 0, 'closed_value': 1,
                                'mode': 'continuous'})
    grip = np.concatenate(generate_episodes(profile, n_episodes=8, seed=0))[:, 6]
    assert grip.min() == 0.0 and grip.max() == 1.0
    assert ((grip > 0.05) & (grip < 0.95)).mean() > 0.01


def test_few_steps_exceed_the_profile_ranges(profile_path):
    profile = load_profile(profile_path)
    actions = np.concatenate(generate_episodes(profile, n_episodes=32, seed=0))
    outside = ((actions < profile.lows) | (actions > profile.highs)).any(axis=1).mean()
    # Some hasty reaches overshoot, as real teleoperation does; about 1 % of steps.
    assert 0.0 < outside < 0.03
    # Moves are not timid either: the busiest axis reaches half its range at the 99th pct.
    assert np.quantile(np.abs(actions[:, :3]) / profile.highs[:3], 0.99) > 0.5


@pytest.mark.parametrize('name', SHIPPED)
def test_shipped_profiles_inside_ranges_and_quantiles(name):
    assert name in list_profiles()
    profile = load_profile(name)
    actions = np.concatenate(generate_episodes(profile, n_episodes=16, seed=0))
    assert ((actions < profile.lows) | (actions > profile.highs)).any(axis=1).mean() < 0.03
    q01 = np.array([d.low if d.q01 is None else d.q01 for d in profile.dimensions])
    q99 = np.array([d.high if d.q99 is None else d.q99 for d in profile.dimensions])
    assert ((actions < q01) | (actions > q99)).any(axis=1).mean() < 0.05


@pytest.mark.parametrize('profile', [
    'test', _profile(control_rate_hz=20, dimensions=[
        {'name': n, 'min': -1, 'max': 1, 'scale': s} for n, s in
        (('dx', 0.05), ('dy', 0.05), ('dz', 0.05), ('droll', 0.5), ('dpitch', 0.5),
         ('dyaw', 0.5), ('gripper', 1.0))],
        gripper={'dimension': 'gripper', 'open_value': -1, 'closed_value': 1})])
def test_pose_trajectory_deltas_are_the_actions(profile, profile_path):
    profile = load_profile(profile_path) if profile == 'test' else profile
    episode = generate_episodes(profile, n_episodes=3, seed=7)[2]
    positions, quats, gripper = generate_pose_trajectory(profile, seed=7, episode=2)
    assert positions.shape == (len(episode) + 1, 3) and quats.shape == (len(episode) + 1, 4)
    np.testing.assert_allclose(np.linalg.norm(quats, axis=1), 1.0, atol=1e-12)
    assert gripper[0] == profile.gripper.open_value
    np.testing.assert_allclose(actions_from_poses(profile, positions, quats, gripper), episode,
                               atol=1e-9)
    # Scaled profiles: the pose moves in metres, actions in units of ``scale``.
    travel = np.abs(np.diff(positions, axis=0)).max(axis=0)
    np.testing.assert_allclose(travel, np.abs(episode[:, :3]).max(axis=0) * profile.scales[:3])


def test_pose_deltas_match_teleop_convention(profile_path):
    from robotok_ros.runtime.geometry import pose_delta
    episode = generate_episodes(profile_path, n_episodes=1, seed=5)[0]
    p, q, _ = generate_pose_trajectory(profile_path, seed=5)
    deltas = np.array([pose_delta(p[k], q[k], p[k + 1], q[k + 1])
                       for k in range(len(episode))])
    np.testing.assert_allclose(deltas, episode[:, CARTESIAN], atol=1e-9)


def test_partial_profiles_extra_dims_and_no_gripper():
    profile = _profile(dimensions=[{'name': 'dx', 'min': -0.02, 'max': 0.02},
                                   {'name': 'dz', 'min': 0.0, 'max': 0.02},
                                   {'name': 'terminate', 'min': 0.0, 'max': 1.0}],
                       gripper=None)
    eps = generate_episodes(profile, n_episodes=4, seed=0)
    actions = np.concatenate(eps)
    assert actions.shape[1] == 3
    assert actions[:, 2].min() >= 0.0 and actions[:, 2].max() <= 1.0
    assert actions[:, 2].std() > 0.01
    assert (actions[:, 1] < -0.002).mean() < 0.2  # dz cannot be commanded downward
    positions, quats, gripper = generate_pose_trajectory(profile)
    assert np.ptp(positions[:, 1]) == 0.0  # no dy dimension: no sideways motion
    assert np.allclose(quats, quats[0]) and (gripper == 0).all()


def test_generate_dataset_round_trips_through_reader(tmp_path, profile_path):
    eps = generate_dataset(profile_path, n_episodes=3, seed=9, path=tmp_path / 'synth.npz')
    back = read_episodes(tmp_path / 'synth.npz')
    assert len(back) == 3
    for a, b in zip(eps, back):
        np.testing.assert_array_equal(a, b)


def test_bad_arguments_raise_config_error(profile_path):
    with pytest.raises(ConfigError, match=r'duration_s .* got \(5.0, 2.0\)'):
        generate_episodes(profile_path, n_episodes=1, duration_s=(5.0, 2.0))
    with pytest.raises(ConfigError, match='n_episodes must be >= 1, got 0'):
        generate_episodes(profile_path, n_episodes=0)
