"""Statistics of recorded actions: ranges and q01/q99 for profiles and tokenizers."""

import numpy as np

from robotok_ros.errors import DataError


def stack_episodes(episodes, dim):
    """Concatenate a list of ``(T, D)`` episodes into ``(sum T, D)``, checking D and finiteness."""
    if isinstance(episodes, np.ndarray):
        episodes = [episodes]
    arrays = []
    for i, ep in enumerate(episodes):
        arr = np.asarray(ep, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != dim:
            raise DataError(f'episode {i} must have shape (T, {dim}), got {arr.shape}')
        if not np.isfinite(arr).all():
            row, col = np.argwhere(~np.isfinite(arr))[0]
            raise DataError(f'episode {i} step {row} dimension {col} is not finite: '
                            f'{arr[row, col]!r}')
        arrays.append(arr)
    if not arrays or sum(len(a) for a in arrays) == 0:
        raise DataError('no action samples to fit on (every episode is empty)')
    return np.concatenate(arrays)


def fit_ranges(episodes, profile, name=None):
    """
    Profile with min/max and q01/q99 taken from ``episodes`` (a list of ``(T, D)``).

    A dimension that never moves gets a small symmetric range so that min < max.
    """
    data = stack_episodes(episodes, profile.dim)
    lows, highs = data.min(axis=0), data.max(axis=0)
    q01, q99 = np.quantile(data, 0.01, axis=0), np.quantile(data, 0.99, axis=0)
    pad = np.maximum(1e-6, 1e-3 * np.abs(lows))
    flat = highs <= lows
    lows, highs = np.where(flat, lows - pad, lows), np.where(flat, highs + pad, highs)
    flat_q = q99 <= q01
    q01, q99 = np.where(flat_q, q01 - pad, q01), np.where(flat_q, q99 + pad, q99)
    return profile.with_ranges(lows, highs, q01, q99, name=name)
