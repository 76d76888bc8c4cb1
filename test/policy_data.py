"""Synthetic reach bags for policy tests: the action is a clipped P-controller on the state."""

import numpy as np
from robotok_ros.data.bag_writer import episode_metadata, EpisodeWriter
from robotok_ros.data.wire import ACTION_TOPIC, ACTION_TYPE, TOKENS_TOPIC, TOKENS_TYPE
from robotok_ros.tokenizers import make_tokenizer
from test_bags_cli import _msg  # noqa: I100 - test-local helper modules
from test_observations import _joint_state, JOINTS, JS, make_state_bag, STEP_NS  # noqa: F401

REACH3 = """\
name: reach3
frame_id: base
control_rate_hz: 10
dimensions:
  - {name: dx, unit: m, min: -1, max: 1}
  - {name: dy, unit: m, min: -1, max: 1}
  - {name: dz, unit: m, min: -1, max: 1}
safety: {max_linear_speed: 2.0, max_angular_speed: 1.0}
"""
GAIN, SPEED = 2.0, 0.15
NAMES = ('p0', 'p1', 'p2', 't0', 't1', 't2')


def reach_episode(rng, steps, retarget=10):
    """Return ``(states (T, 6), actions (T, 3))``: a = clip(GAIN (target - pos), -1, 1)."""
    pos, states, actions = rng.uniform(-1, 1, 3), [], []
    for t in range(steps):
        if t % retarget == 0:
            target = rng.uniform(-1, 1, 3)
        act = np.clip(GAIN * (target - pos), -1, 1)
        states.append(np.concatenate([pos, target]))
        actions.append(act)
        pos = pos + SPEED * act
    return np.array(states), np.array(actions)


def write_reach_bag(path, profile, index, steps=40, seed=0):
    """Record one reach episode (state on /joint_states at each step's stamp); return it."""
    rng = np.random.default_rng([seed, index])
    states, actions = reach_episode(rng, steps)
    tok = make_tokenizer('uniform', profile)
    types = {ACTION_TOPIC: ACTION_TYPE, TOKENS_TOPIC: TOKENS_TYPE, JOINTS: JS}
    meta = episode_metadata(profile, tok, 'reach', index, observations=(JOINTS,))
    writer = EpisodeWriter(path, types, meta, start_ns=0, fsync=False)
    for step, (state, row) in enumerate(zip(states, actions)):
        t = step * STEP_NS
        writer.write(JOINTS, t, _joint_state(t, state, NAMES))
        writer.write(ACTION_TOPIC, t, _msg(ACTION_TYPE, row, step, len(row)))
        writer.write(TOKENS_TOPIC, t, _msg(TOKENS_TYPE, tok.encode(row), step, len(row)))
    writer.close()
    return states, actions


def write_reach_bags(folder, profile, n, steps=40, seed=0):
    """Record n reach episodes as ``folder/episode_<i>``; return the folder."""
    for i in range(n):
        write_reach_bag(folder / f'episode_{i:06d}', profile, i, steps, seed)
    return folder
