"""What the policy trains on: idle starts trimmed, state normalised, relative values."""

import numpy as np
import pytest
from robotok_ros.policy.data import idle_start, norm_stats, relative_pairs, split_relative
from robotok_ros.policy.data import StateEpisode, STD_FLOOR, with_relative

META = {'robot_profile': {'dimensions': [{'name': 'dx'}, {'name': 'dy'}, {'name': 'gripper'}],
                          'gripper': {'dimension': 'gripper'}}}


def test_leading_steps_without_motion_are_not_training_labels():
    acts = np.array([[0, 0, 1], [0, 0, 1], [0.1, 0, 1], [0, 0, 1], [0, 0.2, 0]], float)
    # The gripper's value is not motion; a pause later in the episode is kept.
    assert idle_start(acts, META) == 2
    assert idle_start(np.zeros((4, 3)), META) == 4
    assert idle_start(acts[2:], META) == 0
    # Without profile metadata every dimension counts as motion.
    assert idle_start(acts, {}) == 0


def test_a_value_that_barely_varies_is_not_blown_up_by_normalisation():
    rng = np.random.default_rng(0)
    states = np.stack([rng.normal(0.5, 0.1, 200), 1.0 + rng.normal(0, 1e-5, 200),
                       np.full(200, 3.0)], 1)
    mean, std = norm_stats([StateEpisode('x', states, np.zeros((200, 1)), {})])
    np.testing.assert_allclose(mean, [0.5, 1.0, 3.0], atol=0.02)
    assert abs(std[0] - 0.1) < 0.01 and std[1] == STD_FLOOR and std[2] == STD_FLOOR
    assert np.abs((states - mean) / std)[:, 1].max() < 0.01   # noise stays noise


NAMES = ['ee_pose.x', 'ee_pose.y', 'ee_pose.z', 'task_state.cube.0', 'task_state.cube.1',
         'task_state.cube.2', 'task_state.grasped', 'joint_states.j1']


def test_an_object_position_is_also_seen_from_the_tcp():
    pairs = relative_pairs(NAMES)
    assert pairs == [('task_state.cube.0', 'ee_pose.x'), ('task_state.cube.1', 'ee_pose.y'),
                     ('task_state.cube.2', 'ee_pose.z')]
    # Without the TCP, or without a whole triple, there is nothing to pair.
    assert relative_pairs([n for n in NAMES if n != 'ee_pose.z']) == []
    assert relative_pairs([n for n in NAMES if n != 'task_state.cube.2']) == []
    states = np.arange(16, dtype=float).reshape(2, 8)
    out, names = with_relative(states, NAMES, pairs)
    assert names[8:] == ['task_state.cube.0 - ee_pose.x', 'task_state.cube.1 - ee_pose.y',
                         'task_state.cube.2 - ee_pose.z']
    np.testing.assert_array_equal(out[:, :8], states)
    np.testing.assert_array_equal(out[:, 8:], states[:, 3:6] - states[:, 0:3])
    assert split_relative(names[9]) == ('task_state.cube.1', 'ee_pose.y')
    assert split_relative('joint_states.j-1') is None   # a '-' in a joint name is not one


def test_the_policy_computes_a_derived_value_from_the_values_it_is_given():
    from robotok_ros.policy import NumpyPolicy, PolicyConfig
    from robotok_ros.policy.config import Layout
    from test_policy import random_arrays
    names = ('ee_pose.x', 'task_state.cube.0', 'task_state.cube.0 - ee_pose.x')
    config = PolicyConfig(d_model=16, n_layers=1, n_heads=2)
    lay = Layout(names, 3, 0, 16, False, True, 1, 0)
    policy = NumpyPolicy(config, lay, random_arrays(config, lay))
    np.testing.assert_allclose(policy.select([0.7, 0.2, 9.0], ['task_state.cube.0',
                                                               'ee_pose.x', 'other']),
                               [0.2, 0.7, 0.5])


def test_a_derived_value_of_unrecorded_values_is_refused_in_policy_yaml():
    from robotok_ros.policy import PolicyFileError
    from robotok_ros.policy.config import Layout
    values = {'state_names': ['ee_pose.x', 'task_state.cube.0 - ee_pose.y'], 'seq_len': 3,
              'id_low': 0, 'n_ids': 16, 'variable_length': False, 'per_step': True,
              'chunk_steps': 1, 'span_total': 0}
    with pytest.raises(PolicyFileError, match=r"p.yaml: layout: state 'task_state.cube.0 - "
                                              r"ee_pose.y' is a difference of values that are "
                                              r'not among its recorded state_names'):
        Layout.from_dict(values, 'p.yaml')
