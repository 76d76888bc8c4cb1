"""
token_decoder in its own process: safe defaults, dry run, live limits, QoS, the workspace box.

Issue J at the node level; the logic itself is unit-tested in test_decoder_safety.py and
test_decoder_limits.py.  Each case started as the hole it closes (a misspelt parameter
ignored, a best-effort publisher never heard and never reported, ...).
"""

from pathlib import Path

from conftest import SEVEN_DOF_PROFILE
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import PoseStamped, TwistStamped
import numpy as np
import pytest
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from robotok_ros.profile_loader import load_profile
from robotok_ros.tokenizers import make_tokenizer
from std_msgs.msg import Float64MultiArray, Int32MultiArray, MultiArrayDimension
from std_srvs.srv import SetBool
import yaml

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parent.parent
TOKENS, TWIST = '/robotok/action_tokens', '/servo_node/delta_twist_cmds'
DRY_TWIST, DRY_GRIP = '/robotok/dry_run/delta_twist_cmds', '/robotok/dry_run/gripper'
STEP = np.array([[0.02, 0.02, 0.02, 0.1, 0.0, 0.0, 1.0]])  # 0.35 m/s asked, 0.25 allowed


class Node:
    """A token_decoder process, its outputs and diagnostics."""

    def __init__(self, ros, path, **params):
        self.ros = ros
        self.proc = ros.start_node('token_decoder', params={'profile_path': str(path),
                                                            **params})
        self.twist = ros.collect(TWIST, TwistStamped)
        self.dry = ros.collect(DRY_TWIST, TwistStamped)
        self.dry_grip = ros.collect(DRY_GRIP, Float64MultiArray)
        self.diag = ros.collect('/diagnostics', DiagnosticArray)
        ros.wait_for_subscribers(TOKENS)
        self.tok = make_tokenizer('uniform', load_profile(path))

    def send(self, actions=STEP, qos=None, label=None):
        msg = Int32MultiArray(data=[int(i) for i in self.tok.encode_chunk(actions)])
        if label:
            msg.layout.dim = [MultiArrayDimension(label=label, size=1, stride=7),
                              MultiArrayDimension(label='action', size=7, stride=7)]
        self.ros.publish(TOKENS, msg, qos)

    def status(self, condition, timeout=10, since=0):
        """Wait for a diagnostics message (from index ``since``) that meets ``condition``."""
        def found():
            return any(condition(a.status[0], {kv.key: kv.value for kv in a.status[0].values})
                       for a in self.diag[since:])
        assert self.ros.wait_for(found, timeout), (self.diag[-1:], self.proc.describe())

    def set_params(self, **values):
        req = SetParameters.Request(parameters=[Parameter(k, value=v).to_parameter_msg()
                                                for k, v in values.items()])
        return self.ros.call(SetParameters, '/token_decoder/set_parameters', req).results[0]


def speed(msg):
    return float(np.linalg.norm([msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z]))


def test_disabled_until_enable_everywhere(ros, profile_path):
    node = Node(ros, profile_path)  # no start_enabled given
    node.send()
    node.status(lambda s, v: v['ignored_disabled'] == '1' and v['enabled'] == 'False')
    assert not node.twist and not node.dry
    config = yaml.safe_load((ROOT / 'config' / 'decoder.yaml').read_text())
    assert config['/**/token_decoder']['ros__parameters']['start_enabled'] is False
    launch = (ROOT / 'launch' / 'decoder.launch.py').read_text()
    assert "'start_enabled', default_value='false'" in launch


@pytest.mark.parametrize('params,needle', [
    ({'start_enable': False}, 'token_decoder has no parameter start_enable (did you mean '
                              'start_enabled?)'),
    ({'max_lin_speed': 0.1}, 'max_lin_speed (did you mean max_linear_speed'),
    ({'frobnicate': 1}, 'frobnicate (no parameter of that name or close to it)'),
    ({'max_linear_speed': 0.5}, "parameter max_linear_speed 0.5 m/s is above the profile's "
                                '0.25 m/s'),
    ({'token_qos_reliability': 'lossy'}, 'parameter token_qos_reliability must be one of '
                                         "reliable, best_effort, got 'lossy'"),
])
def test_unknown_or_unsafe_parameters_are_one_fatal_line(ros, profile_path, params, needle):
    proc = ros.start_node('token_decoder', params={'profile_path': str(profile_path),
                                                   **params})
    assert proc.wait(20) == 2, proc.describe()
    assert needle in proc.stderr and 'FATAL' in proc.stderr, proc.stderr
    assert 'Traceback' not in proc.stderr


def test_dry_run_publishes_only_on_the_dry_run_topics_and_is_live(ros, profile_path):
    node = Node(ros, profile_path, start_enabled=True, dry_run=True)
    ros.wait_for_publishers(DRY_TWIST)
    node.send()
    assert ros.wait_for(lambda: node.dry and node.dry_grip, 10), node.proc.describe()
    assert speed(node.dry[0]) == pytest.approx(0.25) and list(node.dry_grip[0].data) == [1.0]
    node.status(lambda s, v: v['dry_run_commands'] == '1' and 'dry run' in s.message)
    assert not node.twist  # nothing on the command topic
    assert node.set_params(dry_run=False).successful
    node.send()
    assert ros.wait_for(lambda: node.twist, 10)
    assert speed(node.twist[0]) == pytest.approx(0.25)
    assert node.set_params(dry_run=True).successful  # while moving: the real arm gets a zero
    assert ros.wait_for(lambda: len(node.twist) >= 2 and speed(node.twist[-1]) == 0.0, 5)


def test_limits_may_be_lowered_live_never_raised_past_the_profile(ros, profile_path):
    node = Node(ros, profile_path, start_enabled=True)
    result = node.set_params(max_linear_speed=0.1)
    assert result.successful, result.reason
    node.send()
    assert ros.wait_for(lambda: node.twist, 10)
    assert speed(node.twist[0]) == pytest.approx(0.1)
    result = node.set_params(max_linear_speed=0.3)
    assert not result.successful
    assert "max_linear_speed 0.3 m/s is above the profile's 0.25 m/s" in result.reason
    result = node.set_params(command_timeout=5.0)
    assert not result.successful and 'above its start-up value 0.5 s' in result.reason
    assert not node.set_params(output_mode='pose').successful  # read-only
    node.status(lambda s, v: v['max_linear_speed'] == '0.1')


def test_a_best_effort_publisher_is_reported_and_can_be_heard(ros, profile_path):
    best_effort = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
    node = Node(ros, profile_path, start_enabled=True)
    node.send(qos=best_effort)  # never connects to the default reliable subscription
    node.status(lambda s, v: int(v['qos_incompatible']) >= 1 and s.level ==
                DiagnosticStatus.WARN)
    assert 'offers a QoS incompatible' in node.proc.stderr and not node.twist
    ros.stop(node.proc)
    node = Node(ros, profile_path, start_enabled=True, token_qos_reliability='best_effort',
                token_qos_depth=5)
    assert ros.wait_for(lambda: node.send(qos=best_effort) or node.twist, 10)


def test_gaps_in_the_step_sequence_are_counted(ros, profile_path):
    node = Node(ros, profile_path, start_enabled=True)
    for step in (0, 1, 2, 6):
        node.send(label=f'step={step};stamp=0')
        ros.spin_for(0.02)
    node.status(lambda s, v: v['input_gaps'] == '1' and v['input_missing_steps'] == '3' and
                v['received'] == '4' and v['decoded'] == '4')


def test_the_workspace_box_needs_a_fresh_pose(ros, tmp_path):
    data = yaml.safe_load(SEVEN_DOF_PROFILE)
    data['safety']['workspace'] = {'min': [-0.5, -0.5, 0.0], 'max': [0.5, 0.5, 0.8]}
    path = tmp_path / 'boxed.yaml'
    path.write_text(yaml.safe_dump(data))
    node = Node(ros, path, pose_max_age=0.3, command_timeout=5.0)
    reply = ros.call(SetBool, '/token_decoder/enable', SetBool.Request(data=True))
    assert not reply.success and 'no valid pose on robotok/ee_pose' in reply.message
    node.status(lambda s, v: s.level == DiagnosticStatus.ERROR and 'no valid pose' in s.message)
    pose = PoseStamped()
    pose.header.frame_id, pose.pose.position.z, pose.pose.orientation.w = 'base', 0.2, 1.0
    ros.wait_for_subscribers('/robotok/ee_pose')

    def enabled():
        ros.publish('/robotok/ee_pose', pose)
        ros.spin_for(0.05)
        return ros.call(SetBool, '/token_decoder/enable', SetBool.Request(data=True)).success
    assert ros.wait_for(enabled, 10)
    ros.publish('/robotok/ee_pose', pose)
    node.send()
    assert ros.wait_for(lambda: node.twist, 10) and speed(node.twist[0]) > 0
    ros.spin_for(0.5)  # the pose goes stale: the next message stops the arm by a fault
    since = len(node.diag)
    node.send()
    assert ros.wait_for(lambda: len(node.twist) >= 2 and speed(node.twist[-1]) == 0.0, 10)
    node.status(lambda s, v: s.level == DiagnosticStatus.ERROR and v['enabled'] == 'False'
                and 'disabled by a fault: workspace box set but the last pose' in s.message,
                since=since)
    assert 'motion disabled by a fault' in node.proc.stderr
