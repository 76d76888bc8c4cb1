"""Test session isolation (ROS traffic on this host, in a domain of its own); ros/torch marks."""

import functools
import importlib.util
import os
import random
import re
import sys

import pytest

# Every node process a test starts inherits these, so parallel sessions never cross-talk.
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
if 'ROBOTOK_TEST_DOMAIN_ID' not in os.environ:
    os.environ['ROBOTOK_TEST_DOMAIN_ID'] = str(random.SystemRandom().randint(1, 100))
os.environ['ROS_DOMAIN_ID'] = os.environ['ROBOTOK_TEST_DOMAIN_ID']
os.environ.setdefault('RCUTILS_LOGGING_BUFFERED_STREAM', '0')

# requirements-common.txt pins torch for Python 3.11 only (the CPU wheel this machine has);
# there a missing torch is a broken venv and its tests fail instead of skipping.
TORCH_PINNED_PYTHON = (3, 11)
HAVE_TORCH = importlib.util.find_spec('torch') is not None
# A test module uses ROS when it, or code it runs in another process, imports rclpy, ament, a
# message or service package, the package's nodes or demo stages, or a test helper that
# starts nodes, a launch or a colcon build.
ROS_IMPORT = re.compile(r'^\s*(?:from|import) (?:rclpy|ament_\w+|\w+_(?:msgs|srvs)|rosutil|'
                        r'simutil|launch_support|launch_runner|workspace|'
                        r'robotok_ros\.(?:nodes|demo))\b',
                        re.MULTILINE)

SEVEN_DOF_PROFILE = """\
name: test7
frame_id: base
control_rate_hz: 10
dimensions:
  - {name: dx, unit: m, min: -0.02, max: 0.02}
  - {name: dy, unit: m, min: -0.02, max: 0.02}
  - {name: dz, unit: m, min: -0.02, max: 0.02}
  - {name: droll, unit: rad, min: -0.1, max: 0.1}
  - {name: dpitch, unit: rad, min: -0.1, max: 0.1}
  - {name: dyaw, unit: rad, min: -0.1, max: 0.1}
  - {name: gripper, min: 0, max: 1}
gripper: {dimension: gripper, open_value: 1, closed_value: 0}
safety: {max_linear_speed: 0.25, max_angular_speed: 1.0}
"""


@pytest.fixture
def ros():
    """Yield a RosHarness (a test node, node processes), closed after the test."""
    from rosutil import RosHarness  # rclpy only where a test asks for it
    with RosHarness() as harness:
        yield harness


@pytest.fixture
def profile_path(tmp_path):
    """Write a small valid 7-D profile written to a temporary file."""
    path = tmp_path / 'test7.yaml'
    path.write_text(SEVEN_DOF_PROFILE)
    return path


def data_dir():
    """Return the shared demonstrations folder (ROBOTOK_DATA_DIR, default ../shared/data)."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.environ.get('ROBOTOK_DATA_DIR', os.path.join(here, '..', '..', 'shared', 'data'))


@functools.lru_cache(maxsize=None)
def uses_ros(path):
    """Whether the test module at ``path`` uses ROS (``ROS_IMPORT``)."""
    with open(path, encoding='utf-8') as f:
        return ROS_IMPORT.search(f.read()) is not None


@pytest.hookimpl(tryfirst=True)  # before -m deselects by these marks
def pytest_collection_modifyitems(config, items):
    """Mark the tests of ROS-using modules ``ros``; skip ``torch`` ones where torch is absent."""
    for item in items:
        if uses_ros(str(item.path)) or 'ros' in getattr(item, 'fixturenames', ()):
            item.add_marker(pytest.mark.ros)
    if HAVE_TORCH or sys.version_info[:2] == TORCH_PINNED_PYTHON:
        return
    python = '.'.join(map(str, sys.version_info[:2]))
    skip = pytest.mark.skip(reason=f'needs torch, not installed for Python {python} '
                                   '(requirements-common.txt pins it for 3.11 only)')
    for item in items:
        if item.get_closest_marker('torch'):
            item.add_marker(skip)
