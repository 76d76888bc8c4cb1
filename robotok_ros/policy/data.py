"""
Episodes for a policy: each step's robot state beside its action, read from bags.

``observation_state()`` of a bag (``data/observations.py``) gives the as-of
state per step; every episode must hold the same state names (their order may
differ: columns are matched by name, to the first episode's order).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from robotok_ros.errors import DataError


@dataclass
class StateEpisode:
    """One episode: ``states`` (T, S), ``actions`` (T, D), its bag ``path`` and metadata."""

    path: Path
    states: np.ndarray
    actions: np.ndarray
    metadata: dict


def read_state_episodes(paths, names=None):
    """
    Return ``(episodes, names)`` from bag folders (or folders of bags) ``paths``.

    A bag without recorded state, or whose state names differ from the first
    bag's (or from ``names``, given), is a DataError naming the bag.  Leading
    steps without motion are dropped (``idle_start``): before the operator's
    first command the arm waits at its start pose, and a policy trained on those
    labels learns to wait there forever (OpenVLA's data pipeline drops no-op
    actions for the same reason).
    """
    from robotok_ros.data.bags import find_bags, read_bag
    episodes = []
    for path in paths:
        for bag in find_bags(path):
            ep = read_bag(bag)
            state, got, _ = ep.observation_state()
            if not got:
                raise DataError(f'{bag}: no robot state recorded (its metadata lists no '
                                "observation_topics); record with episode_recorder's "
                                'observation_topics set, a policy needs the state it acts on')
            if names is None:
                names = list(got)
            elif set(got) != set(names):
                extra = sorted(set(got) ^ set(names))
                raise DataError(f'{bag}: robot state differs from that of the first bag '
                                f'({extra[0]} in one only); use bags of one setup')
            order = [got.index(n) for n in names]
            start = idle_start(ep.actions, ep.metadata)
            if len(ep.actions) - start == 0:
                continue
            episodes.append(StateEpisode(bag, np.asarray(state[start:, order], np.float64),
                                         np.asarray(ep.actions[start:], np.float64),
                                         ep.metadata))
    if not episodes:
        raise DataError(f'{", ".join(map(str, paths))}: no episode with steps')
    return episodes, names


def idle_start(actions, metadata):
    """Return how many leading steps of ``actions`` (T, D) command no motion."""
    grip = (metadata.get('robot_profile', {}).get('gripper') or {}).get('dimension')
    dims = [d.get('name') for d in metadata.get('robot_profile', {}).get('dimensions', [])]
    motion = [i for i, n in enumerate(dims) if n != grip] or list(range(actions.shape[1]))
    moving = np.flatnonzero(np.any(actions[:, motion] != 0, axis=1))
    return int(moving[0]) if len(moving) else len(actions)


def profile_of(episodes):
    """Return the robot profile recorded in the first episode's metadata."""
    from robotok_ros.profile_loader import profile_from_dict
    meta = episodes[0].metadata
    if 'robot_profile' not in meta:
        raise DataError(f'{episodes[0].path}: no robot profile in its metadata; pass --robot '
                        'or --profile')
    return profile_from_dict(meta['robot_profile'], source=f'{episodes[0].path}: metadata')


def histories(states, k):
    """Return ``(T, k, S)``: for each step the k states up to it, the first repeated."""
    idx = np.arange(len(states))[:, None] + np.arange(1 - k, 1)[None, :]
    return states[np.maximum(idx, 0)]


# Smallest std a state value is divided by (its units: m, rad, or a flag).  A value that
# barely varies (a quaternion component of a hand kept level: std 1e-5) would otherwise be
# blown up into the largest input the policy sees, its noise drowning the real signal.
STD_FLOOR = 1e-2


# A derived state value: ``a - b`` of two recorded ones (the cube's position seen from the TCP).
RELATIVE = ' - '
_TCP = ('ee_pose.x', 'ee_pose.y', 'ee_pose.z')


def relative_pairs(names):
    """
    Return the ``(a, b)`` pairs a policy also sees as ``a - b``: each object position vs the TCP.

    An object position is a task-state triple ``task_state.<obj>.0/.1/.2`` (sim_arm's
    cube); with ``ee_pose.x/y/z`` recorded too, the policy gets where the object is
    from the hand.  A policy fed only absolute positions must learn that difference
    from values normalised by the whole workspace's spread (the TCP's std is ~0.1 m),
    where a 6 mm alignment is 0.06 std: it learns the average path instead and misses
    cubes away from the mean spot.  Relative observations are the usual cure.
    """
    if not all(t in names for t in _TCP):
        return []
    pairs = []
    for name in names:
        head, _, last = name.rpartition('.')
        if name.startswith('task_state.') and last == '0' and \
                all(f'{head}.{i}' in names for i in (1, 2)):
            pairs.extend((f'{head}.{i}', _TCP[i]) for i in range(3))
    return pairs


def split_relative(name):
    """Return ``(a, b)`` of a derived name ``'a - b'``, else None."""
    a, sep, b = name.partition(RELATIVE)
    return (a, b) if sep else None


def with_relative(states, names, pairs):
    """Return ``(states (T, S + P), names)``: ``states`` (T, S) named ``names`` plus the pairs."""
    if not pairs:
        return states, list(names)
    where = {n: i for i, n in enumerate(names)}
    extra = np.stack([states[:, where[a]] - states[:, where[b]] for a, b in pairs], axis=1)
    derived = [a + RELATIVE + b for a, b in pairs]
    return np.concatenate([states, extra], 1), list(names) + derived


def norm_stats(episodes):
    """Return the state mean and std ``(S,)`` over episodes (std at least ``STD_FLOOR``)."""
    stack = np.concatenate([ep.states for ep in episodes])
    return stack.mean(axis=0), np.maximum(stack.std(axis=0), STD_FLOOR)
