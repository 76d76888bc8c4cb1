"""
Write recorded episodes as a LeRobotDataset v3-style folder (Cadene et al. 2024, "LeRobot").

Layout (lerobot ``LeRobotDataset`` v3.0; no cameras)::

    meta/info.json                          codebase_version, fps, features, totals, paths
    meta/stats.json                         min / max / mean / std / count (+ q01, q99)
    meta/tasks.parquet                      task_index, indexed by task (pandas metadata)
    meta/episodes/chunk-000/file-000.parquet  episode_index, length, tasks, from/to index
    data/chunk-000/file-000.parquet         one row per step

Data columns: ``action`` (fixed-size list<float32>, D), ``action_tokens``
(list<int64>: a step's D ids, or for chunk tokenizers the chunk's ids on its
first frame and an empty list on the others), ``timestamp`` (float32,
``frame_index / fps``), ``frame_index``, ``episode_index``, ``task_index``, ``index``,
and where the bags hold robot state, ``observation.state`` (float32, S: each step's
as-of state, its names in info.json, ``data/observations.py``).
"""

import json
from pathlib import Path

import numpy as np
from robotok_ros.data.observations import align
from robotok_ros.errors import DataError

CODEBASE_VERSION = 'v3.0'
DATA_PATH = 'data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet'
CHUNKS_SIZE = 1000


def _frame_tokens(ep):
    """Return one list of ids per frame of BagEpisode ``ep``."""
    by_step = {int(s): t.tolist() for s, t in zip(ep.token_steps, ep.token_messages)}
    return [by_step.get(int(s), []) for s in ep.steps]


def _stats(values):
    values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    if not len(values):
        return {}
    return {'min': values.min(0).tolist(), 'max': values.max(0).tolist(),
            'mean': values.mean(0).tolist(), 'std': values.std(0).tolist(),
            'count': [int(len(values))], 'q01': np.quantile(values, 0.01, 0).tolist(),
            'q99': np.quantile(values, 0.99, 0).tolist()}


def _states(episodes):
    """
    Return each episode's ``(T, S)`` state and the names, or ``(None, None)`` without state.

    Only state topics with messages count: a robot that never published its pose gives
    no pose columns.  Episodes must agree on the names (else DataError naming both).
    """
    states, names, first = [], None, None
    for ep in episodes:
        state, got, _ = align([s for s in ep.observations if len(s.stamps_ns)], ep.stamps_ns)
        if names is None:
            names, first = got, ep.path
        elif got != names:
            only = sorted(set(names) ^ set(got)) or ['(the order)']
            raise DataError(f'{ep.path}: its robot state differs from that of {first} in '
                            f'{only[0]} ({len(only)} names differ); export them apart')
        states.append(state.astype(np.float32))
    return (states, names) if names else (None, None)


def _integer_fps(fps, path):
    """Return ``fps`` as an int: LeRobot datasets count time in whole frames per second."""
    try:
        value = float(fps)
    except (TypeError, ValueError):
        value = float('nan')
    if not value > 0:
        raise DataError(f'{path}: no control rate recorded; pass --fps')
    if abs(value - round(value)) > 1e-9:
        raise DataError(f'{path}: fps {value:g} is not a whole number, and LeRobot datasets '
                        'need one (info.json "fps" is an int); pass --fps')
    return int(round(value))


def _tasks_table(tasks):
    """Return meta/tasks.parquet: each task's index, with the text as the pandas index."""
    import pyarrow as pa
    # LeRobotDataset reads this file with pandas and looks a frame's task up by position in
    # the index (``tasks.iloc[i].name``): without pandas' index metadata the index is 0..N-1
    # and every frame's task would come back as a number.
    pandas_meta = {'index_columns': ['task'], 'column_indexes': [], 'columns': [
        {'name': 'task_index', 'field_name': 'task_index', 'pandas_type': 'int64',
         'numpy_type': 'int64', 'metadata': None},
        {'name': 'task', 'field_name': 'task', 'pandas_type': 'unicode', 'numpy_type': 'object',
         'metadata': None}], 'creator': {'library': 'robotok_ros'}}
    table = pa.table({'task_index': pa.array(list(tasks.values()), pa.int64()),
                      'task': pa.array(list(tasks), pa.string())})
    return table.replace_schema_metadata({'pandas': json.dumps(pandas_meta)})


def export_lerobot(episodes, out, fps=None, robot_type=None):
    """
    Write BagEpisodes ``episodes`` into the LeRobot folder ``out``; return info.json's dict.

    Episodes are renumbered 0..N-1 in the given order; tasks are indexed in
    order of first appearance.  ``fps`` defaults to the recorded control rate.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise DataError(f'{out}: exists and is not empty; choose a new --out folder')
    episodes = [ep for ep in episodes if len(ep.actions)]
    if not episodes:
        raise DataError('no episode holds any action to export')
    dims = {ep.actions.shape[1] for ep in episodes}
    if len(dims) > 1:
        raise DataError(f'episodes disagree on the action dimension: {sorted(dims)}')
    dim = dims.pop()
    meta = episodes[0].metadata
    fps = _integer_fps(fps or meta.get('control_rate_hz') or 0, episodes[0].path)
    names = [d['name'] for d in meta.get('robot_profile', {}).get('dimensions', [])]
    states, state_names = _states(episodes)
    keys = ('action', 'action_tokens', 'timestamp', 'frame_index', 'episode_index',
            'task_index', 'index')
    tasks, cols, ep_rows = {}, {k: [] for k in keys}, []
    start = 0
    for e, ep in enumerate(episodes):
        n = len(ep.actions)
        task = tasks.setdefault(ep.task, len(tasks))
        frames = np.arange(n)
        cols['action'].append(ep.actions.astype(np.float32))
        cols['action_tokens'].extend(_frame_tokens(ep))
        cols['timestamp'].append((frames / fps).astype(np.float32))
        cols['frame_index'].append(frames)
        cols['episode_index'].append(np.full(n, e))
        cols['task_index'].append(np.full(n, task))
        cols['index'].append(start + frames)
        ep_rows.append({'episode_index': e, 'length': n, 'tasks': [ep.task],
                        'dataset_from_index': start, 'dataset_to_index': start + n,
                        'data/chunk_index': 0, 'data/file_index': 0,
                        'source_bag': str(ep.path)})
        start += n
    action = np.concatenate(cols['action'])
    extra, extra_features = {}, {}
    if states:
        state = np.concatenate(states)
        extra['observation.state'] = pa.FixedSizeListArray.from_arrays(
            pa.array(state.reshape(-1)), len(state_names))
        extra_features['observation.state'] = {'dtype': 'float32',
                                               'shape': [len(state_names)],
                                               'names': state_names}
    table = pa.table({
        **extra,
        'action': pa.FixedSizeListArray.from_arrays(pa.array(action.reshape(-1)), dim),
        'action_tokens': pa.array(cols['action_tokens'], type=pa.list_(pa.int64())),
        **{k: pa.array(np.concatenate(cols[k]).astype(
            np.float32 if k == 'timestamp' else np.int64)) for k in keys[2:]}})
    (out / 'data' / 'chunk-000').mkdir(parents=True, exist_ok=True)
    (out / 'meta' / 'episodes' / 'chunk-000').mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out / DATA_PATH.format(chunk_index=0, file_index=0))
    pq.write_table(pa.Table.from_pylist(ep_rows),
                   out / 'meta' / 'episodes' / 'chunk-000' / 'file-000.parquet')
    pq.write_table(_tasks_table(tasks), out / 'meta' / 'tasks.parquet')
    scalar = {'dtype': 'int64', 'shape': [1], 'names': None}
    tok = meta.get('tokenizer', {})
    info = {
        'codebase_version': CODEBASE_VERSION, 'robot_type': robot_type or meta.get(
            'robot_profile', {}).get('name'), 'total_episodes': len(episodes),
        'total_frames': int(len(action)), 'total_tasks': len(tasks),
        'chunks_size': CHUNKS_SIZE, 'fps': fps, 'splits': {'train': f'0:{len(episodes)}'},
        'data_path': DATA_PATH, 'video_path': None,
        'features': {
            **extra_features,
            'action': {'dtype': 'float32', 'shape': [dim], 'names': names or None},
            'action_tokens': {'dtype': 'int64', 'shape': [tok.get('tokens_per_step') or -1],
                              'names': None, 'tokenizer': tok},
            'timestamp': {'dtype': 'float32', 'shape': [1], 'names': None},
            'frame_index': scalar, 'episode_index': scalar, 'index': scalar,
            'task_index': scalar}}
    (out / 'meta' / 'info.json').write_text(json.dumps(info, indent=2, default=str))
    stats = {**({'observation.state': _stats(state)} if states else {}),
             'action': _stats(action),
             'timestamp': _stats(np.concatenate(cols['timestamp'])),
             'frame_index': _stats(np.concatenate(cols['frame_index'])),
             'episode_index': _stats(np.concatenate(cols['episode_index'])),
             'index': _stats(np.concatenate(cols['index'])),
             'task_index': _stats(np.concatenate(cols['task_index']))}
    (out / 'meta' / 'stats.json').write_text(json.dumps(stats, indent=2))
    return info
