"""`colcon build` (colcon-core + colcon-ros) installs the package the way a ROS user gets it."""

import os
from pathlib import Path
import shutil
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def project_files():
    """Tracked and new (not ignored) files: what a clone of this tree would hold."""
    out = subprocess.run(['git', 'ls-files', '--cached', '--others', '--exclude-standard'],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [f for f in out.splitlines() if (ROOT / f).is_file()]


@pytest.fixture(scope='module')
def install(tmp_path_factory):
    assert shutil.which('colcon', path=str(BIN)), 'colcon missing: `make venv` installs it'
    ws = tmp_path_factory.mktemp('ws')
    for rel in project_files():
        dest = ws / 'src' / 'robotok_ros' / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest)
    env = dict(os.environ, PATH=f'{BIN}{os.pathsep}{os.environ["PATH"]}')
    proc = subprocess.run([str(BIN / 'colcon'), 'build', '--base-paths', 'src'], cwd=ws,
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return ws / 'install' / 'robotok_ros'


def test_config_and_launch_files_are_installed_to_share(install):
    share = install / 'share' / 'robotok_ros'
    assert (share / 'package.xml').is_file()
    for folder in ('config', 'launch'):
        for src in (ROOT / folder).rglob('*'):
            if src.is_file():
                assert (share / src.relative_to(ROOT)).is_file(), src
    assert sorted((share / 'config' / 'robots').glob('*.yaml'))
    index = install / 'share' / 'ament_index' / 'resource_index' / 'packages' / 'robotok_ros'
    assert index.is_file()


def test_console_scripts_are_installed_where_ros2_run_looks(install):
    lib = install / 'lib' / 'robotok_ros'
    for exe in ('robotok', 'token_decoder', 'teleop_tokenizer', 'episode_recorder'):
        assert (lib / exe).is_file(), exe


def test_installed_package_finds_profiles_through_the_ament_index(install):
    site = next(install.glob('lib/python3*/site-packages'))
    env = dict(os.environ, PYTHONPATH=str(site), AMENT_PREFIX_PATH=str(install))
    env.pop('ROBOTOK_PROFILE_PATH', None)
    code = ('from robotok_ros.profile_loader import find_profile, load_profile;'
            "p = find_profile('franka_panda'); load_profile(p); print(p)")
    proc = subprocess.run([sys.executable, '-c', code], cwd=install, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith(str(install / 'share' / 'robotok_ros' / 'config'))
