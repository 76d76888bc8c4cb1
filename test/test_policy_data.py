"""What the policy trains on: idle starts trimmed, state normalised with a floor."""

import numpy as np
from robotok_ros.policy.data import idle_start, norm_stats, StateEpisode, STD_FLOOR

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
