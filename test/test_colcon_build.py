"""`colcon build` (colcon-core + colcon-ros) installs the package the way a ROS user gets it."""

from pathlib import Path
import subprocess
import sys

import pytest
from workspace import install_space, installed_env

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope='module')
def install():
    """Return the package installed by colcon into a workspace (built once per session)."""
    return install_space()


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
    env = installed_env(install)
    code = ('from robotok_ros.profile_loader import find_profile, load_profile;'
            "p = find_profile('franka_panda'); load_profile(p); print(p)")
    proc = subprocess.run([sys.executable, '-c', code], cwd=install, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith(str(install / 'share' / 'robotok_ros' / 'config'))
