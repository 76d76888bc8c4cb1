"""token_policy in its own process: fresh state -> token messages; stale state -> none."""

import numpy as np
import pytest
from robotok_ros.data.wire import parse_step_label
from robotok_ros.policy.config import Layout, PolicyConfig
from robotok_ros.policy.files import expected_shapes, save_policy
from robotok_ros.profile_loader import load_profile
from robotok_ros.tokenizers import make_tokenizer

pytestmark = pytest.mark.timeout(90)
NAMES = ('ee_pose.x', 'ee_pose.y', 'ee_pose.z', 'joint_states.finger')
STATE = ['joint_states=sensor_msgs/msg/JointState',
         'robotok/ee_pose=geometry_msgs/msg/PoseStamped']


@pytest.fixture
def policy(tmp_path):
    """Save a franka_panda policy over NAMES (random weights: only the plumbing is tested)."""
    profile = load_profile('franka_panda')
    config = PolicyConfig(d_model=16, n_layers=1, n_heads=2, head='parallel')
    layout = Layout(NAMES, profile.dim, 0, 256, False, True, 1, 0)
    rng = np.random.default_rng(0)
    arrays = {k: rng.normal(0, 0.3, s).astype(np.float32)
              for k, s in expected_shapes(config, layout).items()}
    arrays['norm.std'] = np.ones(len(NAMES), np.float32)
    return save_policy(tmp_path / 'pol', config, layout, arrays,
                       make_tokenizer('uniform', profile, n_bins=256))


def _publish_state(ros, x):
    from geometry_msgs.msg import PoseStamped
    from sensor_msgs.msg import JointState
    now = ros.node.get_clock().now().to_msg()
    pose = PoseStamped()
    pose.header.stamp, pose.pose.position.x, pose.pose.orientation.w = now, x, 1.0
    js = JointState(name=['finger'], position=[0.04])
    js.header.stamp = now
    ros.publish('/robotok/ee_pose', pose)
    ros.publish('/joint_states', js)


def test_tokens_follow_fresh_state_and_stop_when_it_goes_stale(policy):
    from diagnostic_msgs.msg import DiagnosticArray
    from rosutil import RosHarness
    from std_msgs.msg import Int32MultiArray
    with RosHarness() as ros:
        ros.start_node('token_policy', params={'policy_path': str(policy),
                                               'observation_topics': STATE,
                                               'max_state_age': 0.2})
        tokens = ros.collect('/robotok/action_tokens', Int32MultiArray)
        diags = ros.collect('/diagnostics', DiagnosticArray)
        ros.wait_for_subscribers('/robotok/ee_pose')
        ros.wait_for_subscribers('/joint_states')
        # State at ~50 Hz until ten token messages (15 Hz) have come.
        assert ros.wait_for(lambda: (_publish_state(ros, 0.4), ros.spin_for(0.02))
                            and len(tokens) >= 10, timeout=30)
        for msg in tokens:
            assert len(msg.data) == 7 and all(0 <= i <= 255 for i in msg.data)
            dims = [(d.size, d.stride) for d in msg.layout.dim]
            assert dims == [(1, 7), (7, 7)]
        steps = [parse_step_label(m.layout.dim[0].label)[0] for m in tokens]
        assert steps == sorted(steps) and len(set(steps)) == len(steps)

        # No more state: once the node says its state is stale, no further tokens come.
        def stale_reported():
            for arr in diags:
                for status in arr.status:
                    values = {kv.key: kv.value for kv in status.values}
                    if status.name.startswith('token_policy') and \
                            int(values.get('stale /robotok/ee_pose', 0)) > 0 and \
                            status.level == status.WARN:
                        return True
            return False
        diags.clear()
        assert ros.wait_for(stale_reported, timeout=10)
        count = len(tokens)
        diags.clear()
        assert ros.wait_for(stale_reported, timeout=10)   # another second, still stale
        assert len(tokens) == count


def test_a_policy_needing_another_topic_is_one_fatal_line(policy):
    from rosutil import RosHarness
    with RosHarness() as ros:
        proc = ros.start_node('token_policy', params={'policy_path': str(policy),
                                                      'observation_topics': STATE[1:]})
        assert proc.wait() == 2
    assert "the policy needs state from a topic named 'joint_states'" in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_no_policy_path_is_one_fatal_line():
    from rosutil import RosHarness
    with RosHarness() as ros:
        proc = ros.start_node('token_policy')
        assert proc.wait() == 2
    assert 'parameter policy_path is required' in proc.stderr and 'Traceback' not in proc.stderr


@pytest.mark.timeout(180)
def test_a_rollout_runs_the_policy_through_the_decoder_into_the_simulated_arm(tmp_path):
    from robotok_ros.demo.rollout import rollout
    # A policy over sim_arm's own state names whose every id is 128 (a zeroed head, one
    # bias): bin 128 of 255 on +-1 is +1/127, so each 15 Hz step asks dx = dy = dz =
    # 0.075 m / 127 (and a small rotation, an open hand).
    profile = load_profile('franka_panda')
    names = ('ee_pose.x', 'ee_pose.y', 'ee_pose.z', 'task_state.cube.0')
    config = PolicyConfig(d_model=16, n_layers=1, n_heads=2, head='parallel')
    layout = Layout(names, profile.dim, 0, 255, False, True, 1, 0)
    rng = np.random.default_rng(1)
    arrays = {k: rng.normal(0, 0.3, s).astype(np.float32)
              for k, s in expected_shapes(config, layout).items()}
    arrays['norm.std'] = np.ones(len(names), np.float32)
    arrays['head.weight'][:] = 0.0
    arrays['head.bias'][:] = 0.0
    arrays['head.bias'][128] = 10.0
    pol = save_policy(tmp_path / 'pol', config, layout, arrays,
                      make_tokenizer('uniform', profile, n_bins=255))
    summary = rollout('franka_panda', pol, pol / 'tokenizer', 2, tmp_path / 'eval',
                      max_seconds=3.0)
    from robotok_ros.sim import SimArm
    home = SimArm(profile).ee_pose().position
    # Twice: the second rollout starts from the reset home pose, and what was still in
    # flight from the first must not count toward its tracking.
    for result in summary['rollouts']:
        assert not result['success'] and 2.9 < result['seconds'] < 4.0
        # One message of 7 ids per 15 Hz step, and the arm followed the decoder's twists.
        assert 90 < result['tokens_per_s'] < 120, result
        assert result['tracking_max_mm'] < 10.0, result
        # In physics: the TCP went where those steps add up to (the first step starts late).
        moved = np.array(result['final_tcp']) - home
        per_step = 0.075 / 127
        assert np.all(moved > 0.8 * 40 * per_step) and np.all(moved < 1.2 * 46 * per_step), \
            moved
    assert summary['policy_ms_p50'] is not None and summary['policy_ms_p50'] < 50
