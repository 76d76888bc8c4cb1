"""Robot profile files: every validation error names the file, the key and the value."""

import copy
import math

from conftest import SEVEN_DOF_PROFILE
import pytest
from robotok_ros.errors import ConfigError
from robotok_ros.profile_loader import load_profile
import yaml


@pytest.fixture(autouse=True)
def no_user_profile_path(monkeypatch):
    """Keep a developer's own ROBOTOK_PROFILE_PATH out of these tests."""
    monkeypatch.delenv('ROBOTOK_PROFILE_PATH', raising=False)


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
