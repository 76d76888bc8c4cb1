"""Test session isolation: ROS traffic stays on this host, in a domain of this session's own."""

import os
import random

import pytest

# Every node process a test starts inherits these, so parallel sessions never cross-talk.
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
if 'ROBOTOK_TEST_DOMAIN_ID' not in os.environ:
    os.environ['ROBOTOK_TEST_DOMAIN_ID'] = str(random.SystemRandom().randint(1, 100))
os.environ['ROS_DOMAIN_ID'] = os.environ['ROBOTOK_TEST_DOMAIN_ID']
os.environ.setdefault('RCUTILS_LOGGING_BUFFERED_STREAM', '0')

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
def profile_path(tmp_path):
    """Write a small valid 7-D profile written to a temporary file."""
    path = tmp_path / 'test7.yaml'
    path.write_text(SEVEN_DOF_PROFILE)
    return path


def data_dir():
    """Return the shared demonstrations folder (ROBOTOK_DATA_DIR, default ../shared/data)."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.environ.get('ROBOTOK_DATA_DIR', os.path.join(here, '..', '..', 'shared', 'data'))
