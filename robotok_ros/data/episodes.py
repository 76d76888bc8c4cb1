"""
Episodes as every reader returns them: a list of ``(T, D)`` float64 arrays, checked alike.

``natural_key`` orders files and groups the way a person numbers them
(``episode_2`` before ``episode_10``); ``split_by_episode`` cuts a flat action
table by its episode column.
"""

import re

import numpy as np
from robotok_ros.errors import DataError


def natural_key(text):
    """Sort key that orders ``demo_2`` before ``demo_10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r'(\d+)', str(text))]


def as_episode(values, where):
    """Return ``values`` as a ``(T, D)`` float64 array; 1-D becomes ``(T, 1)``."""
    arr = np.asarray(values)
    if arr.dtype.kind not in 'biuf':
        raise DataError(f'{where}: actions must be numbers, got dtype {arr.dtype}')
    arr = arr.astype(np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise DataError(f'{where}: an episode must be a (T, D) array, got shape {arr.shape}')
    return arr


def check_episodes(episodes, path):
    """Reject empty episodes, mixed D and non-finite values, naming episode, step and dimension."""
    if not episodes:
        raise DataError(f'{path}: holds no episodes')
    dim = episodes[0].shape[1]
    for i, ep in enumerate(episodes):
        if ep.shape[0] == 0 or ep.shape[1] == 0:
            raise DataError(f'{path}: episode {i} is empty (shape {ep.shape})')
        if ep.shape[1] != dim:
            raise DataError(f'{path}: episode {i} has {ep.shape[1]} action dimensions, '
                            f'episode 0 has {dim}')
        bad = np.argwhere(~np.isfinite(ep))
        if bad.size:
            step, d = (int(v) for v in bad[0])
            raise DataError(f'{path}: episode {i} step {step} dimension {d} is not finite: '
                            f'{ep[step, d]!r} ({len(bad)} non-finite values in this episode)')
    return episodes


def split_by_episode(actions, episode_index, where, frame_index=None):
    """Split ``actions (N, D)`` into episodes by ``episode_index (N,)``, ordered by frame."""
    episode_index = np.asarray(episode_index)
    if episode_index.shape != (len(actions),):
        raise DataError(f'{where}: episode_index has shape {episode_index.shape}, actions have '
                        f'{len(actions)} rows')
    order_key = np.arange(len(actions)) if frame_index is None else np.asarray(frame_index)
    order = np.lexsort((order_key, episode_index))
    actions, episode_index = actions[order], episode_index[order]
    cuts = np.flatnonzero(np.diff(episode_index)) + 1
    return np.split(actions, cuts)
