"""Robot profiles: shipped YAML files, loader, search path, safety, grippers, columns."""

import copy
import os
from pathlib import Path

from conftest import data_dir, SEVEN_DOF_PROFILE
import numpy as np
import pytest
from robotok_ros.data.readers import read_episodes
from robotok_ros.errors import ConfigError
from robotok_ros.fitting import fit_ranges
from robotok_ros.profile_loader import list_profiles, load_profile, profile_from_dict, save_profile
from robotok_ros.robot_profile import Gripper, Safety, Workspace
import yaml

ROBOTS = Path(__file__).resolve().parent.parent / 'config' / 'robots'
SHIPPED = sorted(p.stem for p in ROBOTS.glob('*.yaml'))
CARTESIAN = ('dx', 'dy', 'dz', 'droll', 'dpitch', 'dyaw', 'gripper')
# Hardware limits the shipped safety limits must stay under (sources in each YAML's comments).
HARDWARE = {'franka_panda': (1.7, 2.5), 'ur5e': (1.0, None)}
FIVE = ('franka_panda', 'google_robot', 'robosuite_panda_osc', 'ur5e', 'widowx_250')
BASE = yaml.safe_load(SEVEN_DOF_PROFILE)


@pytest.fixture(autouse=True)
def no_user_profile_path(monkeypatch):
    """Keep a developer's own ROBOTOK_PROFILE_PATH out of these tests."""
    monkeypatch.delenv('ROBOTOK_PROFILE_PATH', raising=False)


def test_the_five_profiles_ship():
    assert set(FIVE) <= set(SHIPPED) <= set(list_profiles())


@pytest.mark.parametrize('name', SHIPPED)
def test_shipped_profile_is_consistent(name):
    raw = yaml.safe_load((ROBOTS / f'{name}.yaml').read_text())
    p = load_profile(name)
    assert p.name == name and Path(p.source) == ROBOTS / f'{name}.yaml'
    assert p.dim == len(raw['dimensions']) == len(p.to_dict()['dimensions']) == len(p.lows)
    if name in FIVE:
        assert p.names == CARTESIAN and p.gripper_index == 6
    for d in p.dimensions:
        assert d.unit in ('m', 'rad', '')
        if d.q01 is not None:
            assert d.low <= d.q01 < d.q99 <= d.high, d.name
    lo, hi = sorted((p.gripper.open_value, p.gripper.closed_value))
    assert p.lows[p.gripper_index] <= lo and hi <= p.highs[p.gripper_index]
    limits = HARDWARE.get(name, (None, None))
    assert limits[0] is None or p.safety.max_linear_speed < limits[0]
    assert limits[1] is None or p.safety.max_angular_speed < limits[1]


def test_widowx_profile_covers_real_bridge_actions():
    path = Path(data_dir()) / 'bridge' / 'bridge_dataset-train.tfrecord'
    if not path.is_file():
        pytest.skip(f'shared BridgeData sample not found at {path}')
    actions, p = np.concatenate(read_episodes(path)), load_profile('widowx_250')
    assert actions.shape == (250, 7)
    assert np.all((actions >= p.lows) & (actions <= p.highs))
    q01 = np.array([d.q01 for d in p.dimensions])
    q99 = np.array([d.q99 for d in p.dimensions])
    inside = ((actions >= q01) & (actions <= q99)).mean(axis=0)
    assert np.all(inside >= 0.9), inside


def test_robosuite_profile_covers_real_demos():
    files = sorted((Path(data_dir()) / 'robosuite').glob('*.hdf5'))
    if not files:
        pytest.skip(f'shared robosuite demos not found under {data_dir()}')
    p = load_profile('robosuite_panda_osc')
    for path in files:
        actions = np.concatenate(read_episodes(path))
        assert np.all((actions >= p.lows) & (actions <= p.highs)), path.name
        assert set(np.unique(actions[:, 6])) <= {p.gripper.open_value, p.gripper.closed_value}


def test_unknown_name_lists_known_profiles_and_paths_must_exist(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_profile('no_such_robot')
    assert "'no_such_robot'" in str(info.value)
    assert all(name in str(info.value) for name in SHIPPED)
    with pytest.raises(ConfigError, match='does not exist'):
        load_profile(tmp_path / 'missing.yaml')
    (tmp_path / 'folder.yaml').mkdir()
    with pytest.raises(ConfigError, match='is not a file'):
        load_profile(tmp_path / 'folder.yaml')


def test_profile_given_as_path(profile_path, monkeypatch):
    by_str, by_path = load_profile(str(profile_path)), load_profile(profile_path)
    assert by_str == by_path and by_str.name == 'test7' and by_str.source == str(profile_path)
    assert load_profile(by_str) is by_str
    monkeypatch.chdir(profile_path.parent.parent)
    assert load_profile(os.path.join(profile_path.parent.name, 'test7.yaml')) == by_str


def test_description_and_unit_may_be_null(tmp_path):
    data = copy.deepcopy(BASE)
    data['description'] = None
    data['dimensions'][0]['unit'] = None
    p = profile_from_dict(data)
    assert p.description == '' and p.dimensions[0].unit == ''


def test_robotok_profile_path_is_searched_first(tmp_path, monkeypatch):
    lab, flat = tmp_path / 'lab', tmp_path / 'flat'
    (lab / 'robots').mkdir(parents=True)
    flat.mkdir()
    (lab / 'robots' / 'lab_arm.yaml').write_text(SEVEN_DOF_PROFILE.replace('test7', 'lab_arm'))
    (flat / 'flat_arm.yaml').write_text(SEVEN_DOF_PROFILE.replace('test7', 'flat_arm'))
    override = SEVEN_DOF_PROFILE.replace('test7', 'ur5e')
    override = override.replace('control_rate_hz: 10', 'control_rate_hz: 99')
    (lab / 'robots' / 'ur5e.yaml').write_text(override)
    (lab / 'node_params.yaml').write_text('decoder:\n  ros__parameters: {}\n')
    assert 'lab_arm' not in list_profiles()
    monkeypatch.setenv('ROBOTOK_PROFILE_PATH', os.pathsep.join([str(lab), str(flat)]))
    assert {'lab_arm', 'flat_arm', *SHIPPED} <= set(list_profiles())
    assert 'node_params' not in list_profiles()
    assert load_profile('lab_arm').name == 'lab_arm'
    assert load_profile('flat_arm').name == 'flat_arm'
    assert load_profile('ur5e').control_rate_hz == 99.0
    monkeypatch.setenv('ROBOTOK_PROFILE_PATH', '')
    assert load_profile('ur5e').control_rate_hz == 10.0


@pytest.mark.parametrize('name', SHIPPED + ['test7'])
def test_to_dict_round_trip(name, profile_path, tmp_path):
    p = load_profile(profile_path if name == 'test7' else name)
    assert profile_from_dict(p.to_dict()) == p
    assert profile_from_dict(yaml.safe_load(p.to_yaml())) == p
    save_profile(p, tmp_path / 'copy.yaml')
    assert load_profile(tmp_path / 'copy.yaml') == p
    changed = p.to_dict()
    changed['safety']['max_linear_speed'] /= 2
    assert profile_from_dict(changed) != p
    changed = p.to_dict()
    changed['safety']['workspace'] = {'min': [-0.5, -0.5, 0.0], 'max': [0.5, 0.5, 0.9]}
    changed['safety']['max_linear_accel'] = 2.0
    again = profile_from_dict(yaml.safe_load(yaml.safe_dump(changed)))
    assert again != p and again.safety.workspace.max == (0.5, 0.5, 0.9)
    assert again.safety.max_linear_accel == 2.0 and again.to_dict() == changed


def test_optional_safety_fields_default_to_no_limit(profile_path):
    s = load_profile(profile_path).safety
    assert s.max_linear_accel is None and s.max_angular_accel is None and s.workspace is None
    assert 'workspace' not in s.to_dict() and 'max_linear_accel' not in s.to_dict()


def test_shipped_safety_fields_follow_their_sources():
    panda, ur5e = load_profile('franka_panda').safety, load_profile('ur5e').safety
    # Franka's Cartesian limits 13 m/s^2 and 25 rad/s^2; UR's URScript movel/speedl defaults.
    assert (panda.max_linear_accel, panda.max_angular_accel) == (4.0, 10.0)
    assert panda.max_linear_accel < 13.0 and panda.max_angular_accel < 25.0
    assert (ur5e.max_linear_accel, ur5e.max_angular_accel) == (1.2, 1.2)
    for name in ('franka_panda', 'ur5e', 'robosuite_panda_osc'):
        box = load_profile(name).safety.workspace
        assert box.min[2] == 0.01 and box.contains((0.5, 0.0, 0.0175)), name
        assert not box.contains((0.5, 0.0, 0.0)) and box.clip((0.5, 0.0, -0.2))[2] == 0.01
    for name in ('widowx_250', 'google_robot'):
        s = load_profile(name).safety
        assert s.workspace is None and s.max_linear_accel is None, name


def test_workspace_contains_and_clips():
    box = Workspace(min=(-1, -2, 0), max=(1, 2, 3))
    assert box.min == (-1.0, -2.0, 0.0) and all(isinstance(v, float) for v in box.max)
    assert box.contains((1, 2, 3)) and box.contains((0, 0, 0)) and not box.contains((0, 2.1, 1))
    assert box.clip((5, -5, 1.5)) == (1.0, -2.0, 1.5)
    with pytest.raises(ConfigError, match='safety.workspace must be a Workspace or None, got '
                                          r'\{.min.'):
        Safety(max_linear_speed=0.1, max_angular_speed=0.1, workspace={'min': [0, 0, 0]})
    with pytest.raises(ConfigError, match='safety.workspace.min.x must be a finite number, '
                                          'got True'):
        Workspace(min=(True, 0, 0), max=(1, 1, 1))


def test_fingerprint_ignores_ranges_and_limits_but_not_the_action_space(profile_path):
    p = load_profile(profile_path)
    fp = p.fingerprint()
    assert len(fp) == 16 and int(fp, 16) >= 0 and fp == load_profile(profile_path).fingerprint()
    episodes = [np.random.default_rng(0).uniform(-0.01, 0.01, (50, 7))]
    fitted = fit_ranges(episodes, p, name='fitted')
    assert fitted != p and fitted.fingerprint() == fp and p.identity_differences(fitted) == []
    data = p.to_dict()
    data['safety'] = {'max_linear_speed': 0.1, 'max_angular_speed': 0.2, 'max_linear_accel': 1}
    data['gripper']['command_open'] = 0.04
    data['description'] = 'another cell'
    assert profile_from_dict(data).fingerprint() == fp
    changes = {
        'units': lambda d: d['dimensions'][3].update(unit='deg'),
        'names': lambda d: d['dimensions'][0].update(name='x'),
        'scales': lambda d: d['dimensions'][0].update(scale=0.05),
        'rate': lambda d: d.update(control_rate_hz=20),
        'frame': lambda d: d.update(frame_id='world'),
        'gripper': lambda d: d['gripper'].update(mode='continuous'),
    }
    for part, change in changes.items():
        data = p.to_dict()
        change(data)
        other = profile_from_dict(data)
        assert other.fingerprint() != fp, part
        diffs = p.identity_differences(other)
        assert len(diffs) == 1 and diffs[0].startswith(part + ' '), diffs
    data = p.to_dict()
    data['control_rate_hz'] = 20
    assert p.identity_differences(profile_from_dict(data)) == ['rate 10.0 vs 20.0']
    del data['gripper']
    assert profile_from_dict(data).fingerprint() not in (fp, p.fingerprint())


def test_binary_gripper_thresholds_at_the_middle():
    g = Gripper(dimension='g', open_value=1.0, closed_value=0.0, command_open=0.08,
                command_closed=0.0)
    values = np.array([-1.0, 0.0, 0.49, 0.5, 0.8, 1.0, 2.0])
    np.testing.assert_array_equal(g.openness(values), [0, 0, 0, 1, 1, 1, 1])
    np.testing.assert_allclose(g.command(values), [0, 0, 0, 0.08, 0.08, 0.08, 0.08])
    np.testing.assert_array_equal(g.action_from_openness([0.0, 0.4, 0.6, 1.0]), [0, 0, 1, 1])
    robosuite = load_profile('robosuite_panda_osc').gripper  # -1 open, +1 closed
    np.testing.assert_array_equal(robosuite.openness([-1.0, -0.2, 0.2, 1.0]), [1, 1, 0, 0])
    np.testing.assert_array_equal(robosuite.command([-1.0, 1.0]), [-1.0, 1.0])
    np.testing.assert_array_equal(robosuite.action_from_openness([1.0, 0.0]), [-1.0, 1.0])


def test_continuous_gripper_maps_linearly_and_inverts():
    g = load_profile('franka_panda').gripper  # 0 open, 1 closed; 0.08 m open width
    np.testing.assert_allclose(g.openness([0.0, 0.25, 1.0, 1.5, -0.5]), [1, 0.75, 0, 0, 1])
    np.testing.assert_allclose(g.command([0.0, 0.25, 1.0]), [0.08, 0.06, 0.0])
    frac = np.linspace(0, 1, 11)
    np.testing.assert_allclose(g.openness(g.action_from_openness(frac)), frac)
    assert np.shape(g.command(0.5)) == () and g.command(np.zeros((3, 2))).shape == (3, 2)
