"""Robot profiles: shipped YAML files, every validation error, loader, `robotok profile`."""

import copy
import math
import os
from pathlib import Path
import subprocess
import sys

from conftest import data_dir, SEVEN_DOF_PROFILE
import numpy as np
import pytest
from robotok_ros.cli.main import main
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


BASE = yaml.safe_load(SEVEN_DOF_PROFILE)


def _set(path, value):
    def edit(data):
        *parents, last = path
        for key in parents:
            data = data[key]
        if value is KeyError:
            del data[last]
        else:
            data[last] = value
    return edit


BAD = [  # (edit, key the message must name, bad value it must show)
    (_set(('dimensions', 0, 'max'), -0.02), 'dimensions.dx', 'max=-0.02'),
    (_set(('dimensions', 0, 'min'), 0.05), 'min must be < max', 'min=0.05'),
    (_set(('dimensions', 0, 'min'), math.nan), 'dimensions.dx.min', 'nan'),
    (_set(('dimensions', 1, 'max'), math.inf), 'dimensions.dy.max', 'inf'),
    (_set(('dimensions', 0, 'max'), 'abc'), 'dimensions.dx.max', "'abc'"),
    (_set(('dimensions', 0, 'max'), '0.02'), 'dimensions.dx.max', "'0.02'"),
    (_set(('control_rate_hz',), True), 'control_rate_hz', 'True'),
    (_set(('dimensions', 1, 'name'), 'dx'), 'dimensions', "'dx' appears twice"),
    (_set(('colour',), 'red'), 'unknown key colour', 'colour'),
    (_set(('dimensions', 2, 'offset'), 1), 'dimensions[2].offset', 'offset'),
    (_set(('gripper', 'speed'), 1), 'gripper.speed', 'speed'),
    (_set(('safety', 'max_force'), 5), 'safety.max_force', 'max_force'),
    (_set(('name',), KeyError), 'missing required key', 'name'),
    (_set(('frame_id',), KeyError), 'missing required key', 'frame_id'),
    (_set(('control_rate_hz',), KeyError), 'missing required key', 'control_rate_hz'),
    (_set(('dimensions',), KeyError), 'missing required key', 'dimensions'),
    (_set(('safety',), KeyError), 'missing required key', 'safety'),
    (_set(('dimensions', 3, 'max'), KeyError), 'dimensions[3]', 'max'),
    (_set(('gripper', 'open_value'), KeyError), 'gripper is missing', 'open_value'),
    (_set(('safety', 'max_angular_speed'), KeyError), 'safety is missing', 'max_angular_speed'),
    (_set(('dimensions', 0, 'q01'), -0.01), 'dimensions.dx', 'q01=-0.01 q99=None'),
    (_set(('dimensions', 0, 'q99'), 0.01), 'dimensions.dx', 'q01=None q99=0.01'),
    (lambda d: d['dimensions'][0].update(q01=0.01, q99=-0.01), 'q01 must be < q99', 'q01=0.01'),
    (lambda d: d['dimensions'][0].update(q01=math.nan, q99=0.01), 'dimensions.dx.q01', 'nan'),
    (_set(('gripper', 'dimension'), 'claw'), 'gripper.dimension', "'claw'"),
    (_set(('gripper', 'dimension'), ['gripper']), 'gripper.dimension', "['gripper']"),
    (_set(('gripper', 'mode'), 'sticky'), 'gripper.mode', "'sticky'"),
    (_set(('gripper', 'closed_value'), 1), 'open_value and closed_value', 'both are 1.0'),
    (_set(('control_rate_hz',), 0), 'control_rate_hz must be >= 0.1 and <= 1000 Hz', '0.0'),
    (_set(('control_rate_hz',), -5), 'control_rate_hz must be >= 0.1', 'got -5.0'),
    (_set(('control_rate_hz',), 1e-12), 'control_rate_hz must be >= 0.1', 'got 1e-12'),
    (_set(('control_rate_hz',), 1001), 'control_rate_hz must be >= 0.1 and <= 1000 Hz',
     'got 1001.0'),
    (_set(('safety', 'max_linear_speed'), 1e300), 'safety.max_linear_speed must be > 0 and '
     '<= 10 m/s', 'got 1e+300'),
    (_set(('safety', 'max_linear_speed'), 10.5), 'safety.max_linear_speed', 'got 10.5'),
    (_set(('safety', 'max_angular_speed'), 20.1), 'safety.max_angular_speed must be > 0 and '
     '<= 20 rad/s', 'got 20.1'),
    (_set(('safety', 'max_linear_accel'), 0), 'safety.max_linear_accel must be > 0 and '
     '<= 100 m/s^2', 'got 0.0'),
    (_set(('safety', 'max_linear_accel'), 101), 'safety.max_linear_accel', 'got 101.0'),
    (_set(('safety', 'max_linear_accel'), 'fast'), 'safety.max_linear_accel', "'fast'"),
    (_set(('safety', 'max_angular_accel'), 200.5), 'safety.max_angular_accel must be > 0 and '
     '<= 200 rad/s^2', 'got 200.5'),
    (_set(('safety', 'max_angular_accel'), math.inf), 'safety.max_angular_accel', 'inf'),
    (_set(('safety', 'workspace'), [0, 1]), 'safety.workspace must be a mapping', '[0, 1]'),
    (_set(('safety', 'workspace'), {'min': [0, 0, 0]}), 'safety.workspace is missing required '
     'key', 'max'),
    (_set(('safety', 'workspace'), {'min': [0, 0, 0], 'max': [1, 1, 1], 'frame': 'b'}),
     'unknown key safety.workspace.frame', 'frame'),
    (_set(('safety', 'workspace'), {'min': [0, 0], 'max': [1, 1, 1]}),
     'safety.workspace.min must be a list of 3 numbers', '[0, 0]'),
    (_set(('safety', 'workspace'), {'min': [0, 0, 0], 'max': 1}),
     'safety.workspace.max must be a list of 3 numbers', 'got 1'),
    (_set(('safety', 'workspace'), {'min': [0, 0, 0], 'max': [1, math.nan, 1]}),
     'safety.workspace.max.y must be a finite number', 'nan'),
    (_set(('safety', 'workspace'), {'min': [0, 0, -10.5], 'max': [1, 1, 1]}),
     'safety.workspace.min.z must be within +-10 m', '-10.5'),
    (_set(('safety', 'workspace'), {'min': [0, 0.5, 0], 'max': [1, 0.5, 1]}),
     'safety.workspace: min must be < max on every axis', 'y min=0.5 max=0.5'),
    (_set(('dimensions', 0, 'max'), 2e6), 'dimensions.dx.max must be within +-1e+06',
     '2000000.0'),
    (_set(('dimensions', 1, 'min'), -1e7), 'dimensions.dy.min must be within +-1e+06',
     '-10000000.0'),
    (lambda d: d['dimensions'][0].update(q01=-1e9, q99=0.01), 'dimensions.dx.q01 must be '
     'within', '-1000000000.0'),
    (_set(('safety', 'max_linear_speed'), 0), 'safety.max_linear_speed', '0.0'),
    (_set(('safety', 'max_angular_speed'), -1), 'safety.max_angular_speed', '-1.0'),
    (_set(('dimensions', 0, 'scale'), 0), 'dimensions.dx.scale', '0.0'),
    (_set(('dimensions', 0, 'scale'), -0.05), 'dimensions.dx.scale', '-0.05'),
    (_set(('dimensions', 0, 'unit'), 5), 'dimensions.dx.unit', '5'),
    (_set(('name',), ''), 'name', "''"),
    (_set(('dimensions',), []), 'dimensions', '[]'),
    (_set(('dimensions',), {'dx': 1}), 'dimensions', "{'dx': 1}"),
    (_set(('dimensions', 0), 'dx'), 'dimensions[0]', "'dx'"),
    (_set(('safety',), 'fast'), 'safety', "'fast'"),
    (lambda d: d.update({1: 'x', 'zz': 'y'}), 'unknown key', '1'),
    (_set(('dimensions', 0, 'column'), -1), 'dimensions.dx.column must be a column index '
     '(0, 1, ...) or a column name', '-1'),
    (_set(('dimensions', 0, 'column'), True), 'dimensions.dx.column', 'True'),
    (_set(('dimensions', 0, 'column'), 0), "give every dimension a column or none; 'dy' has "
     'none', 'dimensions'),
    (_set(('dimensions', 0, 'controller_limits'), 'yes'), 'dimensions.dx.controller_limits '
     'must be true or false', "'yes'"),
    (_set(('dimensions', 0, 'columns'), 0), 'unknown key dimensions[0].columns', 'column'),
]


@pytest.mark.parametrize('edit, key, value', BAD)
def test_invalid_profile_names_file_key_and_value(tmp_path, edit, key, value):
    data = copy.deepcopy(BASE)
    edit(data)
    path = tmp_path / 'bad.yaml'
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    msg = str(info.value)
    assert str(path) in msg and key in msg and value in msg, msg
    assert '\n' not in msg


@pytest.mark.parametrize('text, expected', [
    ('name: [x\n', 'not valid YAML: '),
    (SEVEN_DOF_PROFILE + 'name: again\n',
     f"key 'name' appears twice at line {SEVEN_DOF_PROFILE.count(chr(10)) + 1}, column 1"),
    ('- a\n- b\n', 'mapping at the top level, got list'),
    ('', 'the profile is empty'),
    (b'name: \xff\xfe\n', 'not UTF-8 text'),
])
def test_unreadable_file_is_one_line_error(tmp_path, text, expected):
    path = tmp_path / 'odd.yaml'
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError, match='odd.yaml') as info:
        load_profile(path)
    assert expected in str(info.value) and '\n' not in str(info.value)


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


def test_cli_show_prints_every_field(capsys):
    assert main(['profile', 'show', 'franka_panda']) == 0
    out = capsys.readouterr().out
    for text in (*CARTESIAN, 'panda_link0', '15 Hz', '0.075', '-0.77763', '0.759793',
                 '-0.075..0.075 m', 'continuous', 'command open=0.08', '0.5 m/s', '1 rad/s',
                 'max linear 4 m/s^2', 'max angular 10 rad/s^2',
                 'workspace (panda_link0, m): x -0.96..0.96, y -0.96..0.96, z 0.01..1.3',
                 f'fingerprint: {load_profile("franka_panda").fingerprint()}'):
        assert text in out, text


def test_cli_show_path_and_unknown_name(profile_path, capsys):
    assert main(['profile', 'show', str(profile_path)]) == 0
    assert 'test7' in capsys.readouterr().out
    assert main(['profile', 'show', 'no_such_robot']) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('robotok profile: error: unknown robot profile') and '\n' not in err
    assert 'ur5e' in err


def test_cli_list_marks_invalid_profiles(tmp_path, monkeypatch, capsys):
    assert main(['profile', 'list']) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == SHIPPED
    (tmp_path / 'broken.yaml').write_text('name: broken\n')
    monkeypatch.setenv('ROBOTOK_PROFILE_PATH', str(tmp_path))
    assert main(['profile', 'list', '--paths']) == 0
    out = capsys.readouterr().out
    assert 'broken  ' in out and 'INVALID: ' in out and str(tmp_path / 'broken.yaml') in out


def test_cli_validate_reports_each_file(profile_path, tmp_path, capsys):
    shipped = [str(ROBOTS / f'{n}.yaml') for n in SHIPPED]
    assert main(['profile', 'validate', *shipped]) == 0
    assert capsys.readouterr().out.count('ok ') == len(SHIPPED)
    bad = tmp_path / 'bad.yaml'
    bad.write_text(SEVEN_DOF_PROFILE.replace('max_linear_speed: 0.25', 'max_linear_speed: -3'))
    assert main(['profile', 'validate', str(profile_path), str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out.startswith(f'ok {profile_path}: test7, 7 dims, 10 Hz')
    assert captured.err.count('\n') == 1
    assert str(bad) in captured.err and 'safety.max_linear_speed' in captured.err
    assert '-3' in captured.err


def test_installed_robotok_validate_prints_no_traceback(tmp_path):
    exe = Path(sys.executable).parent / 'robotok'
    assert exe.exists(), f'robotok console script not installed next to {sys.executable}'
    bad = tmp_path / 'bad.yaml'
    bad.write_text(SEVEN_DOF_PROFILE.replace('open_value: 1', 'open_value: 0'))
    run = subprocess.run([str(exe), 'profile', 'validate', str(bad)], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 2 and run.stdout == ''
    assert 'Traceback' not in run.stderr and run.stderr.count('\n') == 1
    assert 'gripper' in run.stderr and 'both are 0.0' in run.stderr


def test_column_and_controller_limit_keys_round_trip(tmp_path):
    data = copy.deepcopy(BASE)
    for i, d in enumerate(data['dimensions']):
        d['column'] = i + 1 if d['name'] != 'gripper' else 'grip'
    data['dimensions'][0]['controller_limits'] = True
    path = tmp_path / 'cols.yaml'
    path.write_text(yaml.safe_dump(data))
    profile = load_profile(path)
    assert profile.columns == [1, 2, 3, 4, 5, 6, 'grip']
    assert profile.dimensions[0].keeps_limits and not profile.dimensions[1].keeps_limits
    back = profile_from_dict(profile.to_dict())
    assert back.columns == profile.columns and back.fingerprint() == profile.fingerprint()
    # Shipped profiles declare no columns; robosuite's scaled OSC inputs keep their limits.
    osc = load_profile('robosuite_panda_osc')
    assert osc.columns is None
    assert [d.keeps_limits for d in osc.dimensions] == [True] * 6 + [False]


def test_cli_show_names_columns_and_controller_limits(tmp_path, capsys):
    assert main(['profile', 'show', 'robosuite_panda_osc']) == 0
    out = capsys.readouterr().out
    assert ('controller input limits (kept by `robotok fit`): dx, dy, dz, droll, dpitch, dyaw'
            in out) and 'read from file columns' not in out
    data = copy.deepcopy(BASE)
    for i, d in enumerate(data['dimensions']):
        d['column'] = i
    path = tmp_path / 'cols.yaml'
    path.write_text(yaml.safe_dump(data))
    assert main(['profile', 'show', str(path)]) == 0
    out = capsys.readouterr().out
    assert 'read from file columns: dx=0, dy=1, dz=2, droll=3, dpitch=4, dyaw=5, gripper=6' in out
    assert 'controller input limits' not in out
