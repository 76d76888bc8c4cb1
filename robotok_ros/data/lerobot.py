"""
Read LeRobot datasets (Cadene et al. 2024, "LeRobot"): parquet tables, one row per step.

A LeRobot dataset folder holds ``meta/info.json`` and ``data/chunk-*/*.parquet``; each
row has a list column ``action`` and integer ``episode_index`` / ``frame_index``.
Episodes are gathered across all files, then ordered by ``frame_index``.
"""

from pathlib import Path

import numpy as np
from robotok_ros.errors import DataError


def _list_column(column, where):
    """Return a list<number> (or numeric) arrow column as ``(N, D)`` float64."""
    import pyarrow as pa
    import pyarrow.compute as pc
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)[:, None]
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind)
            or pa.types.is_fixed_size_list(kind)):
        raise DataError(f'{where}: must be a list of numbers per row, got type {kind}')
    if column.null_count:
        row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise DataError(f'{where}: row {row} is null')
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
    if len(lengths) and (lengths != lengths[0]).any():
        row = int(np.flatnonzero(lengths != lengths[0])[0])
        raise DataError(f'{where}: row {row} has {lengths[row]} values, row 0 has '
                        f'{lengths[0]}')
    values = pc.list_flatten(column)
    if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)):
        raise DataError(f'{where}: list items must be numbers, got type {values.type}')
    flat = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
    width = int(lengths[0]) if len(lengths) else 0
    return flat.reshape(len(column), width)


def _read_table(path, key):
    import pyarrow as pa
    import pyarrow.parquet as pq
    try:
        names = pq.read_schema(path).names
        if key not in names:
            raise DataError(f'{path}: no column {key!r}; available: {", ".join(names)}')
        wanted = [key] + [c for c in ('episode_index', 'frame_index') if c in names]
        table = pq.read_table(path, columns=wanted)
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f'{path}: cannot be read as parquet: {exc}') from None
    actions = _list_column(table.column(key), f'{path}: column {key!r}')
    index = {}
    for name in ('episode_index', 'frame_index'):
        if name in wanted:
            col = table.column(name)
            if not pa.types.is_integer(col.type) or col.null_count:
                raise DataError(f'{path}: column {name} must be integers without nulls, '
                                f'got type {col.type}')
            index[name] = col.to_numpy()
    return actions, index


def read_parquet_episodes(path, key=None):
    """Read a parquet file or LeRobot dataset folder as a list of ``(T, D)`` episodes."""
    from robotok_ros.data.episodes import natural_key, split_by_episode
    key = key or 'action'
    path = Path(path)
    files = sorted(path.glob('data/**/*.parquet'), key=lambda p: natural_key(str(p))) \
        if path.is_dir() else [path]
    if not files:
        raise DataError(f'{path}: LeRobot dataset folder has no data/**/*.parquet files')
    tables = [(file, *_read_table(file, key)) for file in files]
    widths = {a.shape[1] for _, a, _ in tables if len(a)}
    if len(widths) > 1:
        raise DataError(f'{path}: files disagree on the width of {key!r}: {sorted(widths)}')
    if any('episode_index' not in idx for _, _, idx in tables):
        if len(tables) > 1:
            missing = next(f for f, _, idx in tables if 'episode_index' not in idx)
            raise DataError(f'{missing}: no episode_index column, needed to join '
                            f'{len(tables)} files')
        file, actions, idx = tables[0]
        if 'frame_index' in idx:
            actions = actions[np.argsort(idx['frame_index'], kind='stable')]
        return [actions]
    actions = np.concatenate([a for _, a, _ in tables])
    episode = np.concatenate([idx['episode_index'] for _, _, idx in tables])
    frame = None
    if all('frame_index' in idx for _, _, idx in tables):
        frame = np.concatenate([idx['frame_index'] for _, _, idx in tables])
    return split_by_episode(actions, episode, path, frame)
