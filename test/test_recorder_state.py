"""episode_recorder records the robot state beside the steps; the export pairs them as-of."""

import json

import numpy as np
import pytest
from robotok_ros.data.bags import read_bag
from robotok_ros.data.wire import ACTION_TOPIC, step_label, TOKENS_TOPIC

pytestmark = pytest.mark.timeout(90)
N = 30


def _status(msgs):
    return json.loads(msgs[-1].data) if msgs else {}


def _publish(ros, n, dim=7):
    """Per step k: joint state k (stamped 1 ms before the step), pose k, then step k."""
    from geometry_msgs.msg import PoseStamped
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray, Int32MultiArray, MultiArrayDimension
    from rosutil import reliable
    qos = reliable(depth=1000)
    pubs = [ros.publisher(ACTION_TOPIC, Float64MultiArray, qos),
            ros.publisher(TOKENS_TOPIC, Int32MultiArray, qos),
            ros.publisher('/joint_states', JointState, qos),
            ros.publisher('/robotok/ee_pose', PoseStamped, qos)]
    assert ros.wait_for(lambda: all(p.get_subscription_count() for p in pubs))
    clock = ros.node.get_clock()
    for k in range(n):
        now = clock.now()
        state_stamp = (now - rclpy_duration(0.001)).to_msg()
        js = JointState(name=['j1', 'finger'], position=[float(k), 0.01 * k])
        js.header.stamp = state_stamp
        pose = PoseStamped()
        pose.header.stamp = state_stamp
        pose.pose.position.x = 0.1 * k
        pose.pose.orientation.w = 1.0
        ros.publish('/joint_states', js)
        ros.publish('/robotok/ee_pose', pose)
        label = [MultiArrayDimension(label=step_label(k, now.nanoseconds), size=1, stride=dim),
                 MultiArrayDimension(label='action', size=dim, stride=dim)]
        act = Float64MultiArray(data=[float(k)] * dim)
        act.layout.dim = label
        tok = Int32MultiArray(data=[k] * dim)
        tok.layout.dim = label
        ros.publish(ACTION_TOPIC, act)
        ros.publish(TOKENS_TOPIC, tok)
        ros.spin_for(0.01)


def rclpy_duration(seconds):
    from rclpy.duration import Duration
    return Duration(nanoseconds=int(seconds * 1e9))


def test_recorded_state_is_paired_with_each_step_and_exported(profile_path, tmp_path):
    from rosutil import RosHarness
    from robotok_ros.cli.main import main
    from std_msgs.msg import String
    from std_srvs.srv import Trigger
    with RosHarness() as ros:
        ros.start_node('episode_recorder', params={
            'profile_path': str(profile_path), 'output_dir': str(tmp_path / 'bags'),
            'flush_period': 0.1})
        status = ros.collect('/episode_recorder/status', String)
        ros.wait_for_subscribers('/joint_states')
        assert ros.call(Trigger, '/episode_recorder/start_episode', Trigger.Request()).success
        _publish(ros, N)
        counts = lambda: _status(status).get('counts', {})  # noqa: E731
        assert ros.wait_for(lambda: counts().get(ACTION_TOPIC) == N
                            and counts().get('/joint_states') == N
                            and counts().get('/robotok/ee_pose') == N), _status(status)
        reply = ros.call(Trigger, '/episode_recorder/stop_episode', Trigger.Request())
        assert ros.wait_for(lambda: _status(status).get('episodes_closed') == 1)
    ep = read_bag(reply.message)
    assert ep.metadata['observation_topics'] == ['/joint_states', '/robotok/ee_pose']
    state, names, early = ep.observation_state()
    assert names[:2] == ['joint_states.j1', 'joint_states.finger'] and early == 0
    assert names[2:5] == ['ee_pose.x', 'ee_pose.y', 'ee_pose.z']
    np.testing.assert_array_equal(state[:, 0], np.arange(N))   # step k saw joint state k
    np.testing.assert_allclose(state[:, 2], 0.1 * np.arange(N))
    assert main(['export-lerobot', str(tmp_path / 'bags'), '--out', str(tmp_path / 'ds')]) == 0
    info = json.loads((tmp_path / 'ds' / 'meta' / 'info.json').read_text())
    assert info['features']['observation.state']['names'] == names


def test_a_state_topic_of_another_type_is_one_fatal_line(profile_path, tmp_path):
    from rosutil import RosHarness
    with RosHarness() as ros:
        proc = ros.start_node('episode_recorder', params={
            'profile_path': str(profile_path), 'output_dir': str(tmp_path),
            'observation_topics': ['joy=sensor_msgs/msg/Joy']})
        assert proc.wait() == 2
    assert 'observation_topics: joy has type sensor_msgs/msg/Joy; state is one of' in \
        proc.stderr and 'Traceback' not in proc.stderr
