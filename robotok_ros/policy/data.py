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
    bag's (or from ``names``, given), is a DataError naming the bag.
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
            if len(ep.actions) == 0:
                continue
            episodes.append(StateEpisode(bag, np.asarray(state[:, order], np.float64),
                                         np.asarray(ep.actions, np.float64), ep.metadata))
    if not episodes:
        raise DataError(f'{", ".join(map(str, paths))}: no episode with steps')
    return episodes, names


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


def norm_stats(episodes):
    """Return the state mean and std ``(S,)`` over episodes (std 1 where constant)."""
    stack = np.concatenate([ep.states for ep in episodes])
    std = stack.std(axis=0)
    return stack.mean(axis=0), np.where(std > 1e-8, std, 1.0)
