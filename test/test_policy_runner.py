"""token_policy's runtime: fresh named state -> the policy -> ids; stale or missing -> none."""

from types import SimpleNamespace

import numpy as np
import pytest
from robotok_ros.errors import ConfigError, InvalidTokenError
from robotok_ros.runtime.policy_runner import PolicyRunner

JS, PS = 'sensor_msgs/msg/JointState', 'geometry_msgs/msg/PoseStamped'
TOPICS = {'/joint_states': JS, '/robotok/ee_pose': PS}
MS = 10 ** 6


class FakePolicy:
    """Stands in for NumpyPolicy: records the states it was given; ids = rounded state."""

    state_names = ['ee_pose.x', 'joint_states.j1', 'ee_pose.z']
    chunk_steps = 1

    def __init__(self, fail=False):
        self.seen, self.resets, self.fail = [], 0, fail

    def select(self, values, names):
        where = dict(zip(names, values))
        return np.array([where[n] for n in self.state_names])

    def step(self, state):
        if self.fail:
            raise InvalidTokenError('no such id')
        self.seen.append(state)
        return np.round(state * 10).astype(int)

    def reset(self):
        self.resets += 1


def joints(q):
    return SimpleNamespace(name=['j1', 'finger'], position=[q, 0.04])


def pose(x, z):
    p = SimpleNamespace(x=x, y=0.0, z=z)
    q = SimpleNamespace(x=0.0, y=0.0, z=0.0, w=1.0)
    return SimpleNamespace(pose=SimpleNamespace(position=p, orientation=q))


def test_fresh_state_in_the_policys_order_gives_ids():
    policy = FakePolicy()
    run = PolicyRunner(policy, TOPICS, max_age_s=0.1)
    run.observe('/joint_states', joints(0.3), 100 * MS)
    run.observe('/robotok/ee_pose', pose(0.5, 0.2), 100 * MS)
    ids = run.tick(150 * MS)
    assert ids.tolist() == [5, 3, 2]
    np.testing.assert_allclose(policy.seen[0], [0.5, 0.3, 0.2])  # names, not topic order
    assert run.published == 1 and run.latency_ms()[0] >= 0.0


def test_stale_or_missing_state_gives_no_tokens_and_is_counted_by_topic():
    policy = FakePolicy()
    run = PolicyRunner(policy, TOPICS, max_age_s=0.1)
    run.observe('/joint_states', joints(0.3), 100 * MS)
    assert run.tick(110 * MS) is None                      # no pose yet
    run.observe('/robotok/ee_pose', pose(0.5, 0.2), 100 * MS)
    assert run.tick(201 * MS) is None                      # both 101 ms old
    assert run.stale == {'/joint_states': 1, '/robotok/ee_pose': 2} and not policy.seen
    assert run.tick(200 * MS) is not None                  # exactly max_age: still fresh


def test_reset_forgets_the_state_and_the_policys_history():
    policy = FakePolicy()
    run = PolicyRunner(policy, TOPICS, max_age_s=0.1)
    run.observe('/joint_states', joints(0.3), 0)
    run.observe('/robotok/ee_pose', pose(0.5, 0.2), 0)
    run.reset()
    assert run.tick(10 * MS) is None and policy.resets == 1


def test_a_policy_error_or_a_bad_message_gives_nothing_and_is_counted():
    run = PolicyRunner(FakePolicy(fail=True), TOPICS, max_age_s=0.1)
    run.observe('/joint_states', joints(0.3), 0)
    run.observe('/robotok/ee_pose', pose(0.5, 0.2), 0)
    assert run.tick(10 * MS) is None and run.errors == 1 and 'no such id' in run.last_error
    run.observe('/joint_states', SimpleNamespace(name=['j1', 'j2'], position=[0.1]), 0)
    assert run.errors == 2
    assert run.last_error == '/joint_states: 2 joint names but 1 positions'


def test_a_policy_needing_state_from_a_topic_not_subscribed_is_refused_at_start():
    with pytest.raises(ConfigError) as info:
        PolicyRunner(FakePolicy(), {'/joint_states': JS})
    assert str(info.value).startswith("the policy needs state from a topic named 'ee_pose'")
    assert 'add it to parameter observation_topics (now /joint_states)' in str(info.value)


def test_a_derived_state_value_needs_the_topics_of_both_its_parts():
    class Derived(FakePolicy):
        state_names = ['joint_states.j1', 'task_state.cube.0 - ee_pose.x']
    with pytest.raises(ConfigError, match="needs state from a topic named 'ee_pose'"):
        PolicyRunner(Derived(), {'/joint_states': JS, '/sim_arm/task_state': 'x'})
    PolicyRunner(Derived(), {'/joint_states': JS, '/sim_arm/task_state': 'std_msgs/msg/String',
                             '/robotok/ee_pose': PS})
