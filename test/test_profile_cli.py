"""`robotok profile`: show, list and validate, with one-line errors and no traceback."""

import copy
from pathlib import Path
import subprocess
import sys

from conftest import SEVEN_DOF_PROFILE
import pytest
from robotok_ros.cli.main import main
from robotok_ros.profile_loader import load_profile, profile_from_dict
import yaml

ROBOTS = Path(__file__).resolve().parent.parent / 'config' / 'robots'
SHIPPED = sorted(p.stem for p in ROBOTS.glob('*.yaml'))
CARTESIAN = ('dx', 'dy', 'dz', 'droll', 'dpitch', 'dyaw', 'gripper')
BASE = yaml.safe_load(SEVEN_DOF_PROFILE)


@pytest.fixture(autouse=True)
def no_user_profile_path(monkeypatch):
    """Keep a developer's own ROBOTOK_PROFILE_PATH out of these tests."""
    monkeypatch.delenv('ROBOTOK_PROFILE_PATH', raising=False)


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
