"""
Read recorded demonstrations as action episodes: a list of ``(T, D)`` float64 arrays.

Supported: robomimic / robosuite HDF5 (``data/<demo_k>/actions``), RLDS TFRecord
(``steps/action``, see ``tfrecord.py``), ``.npz``, ``.csv``, LeRobot parquet files or
dataset folders (``action`` grouped by ``episode_index``), and rosbag2 folders or
``.mcap`` files (``robotok_ros.data.bags``).  A plain folder is read file by file.

Every failure is a DataError naming the file and what is wrong; a corrupt file never
surfaces as a raw h5py or pyarrow traceback.
"""

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple
import zipfile

import numpy as np
from robotok_ros.data.columns import (controller_limits, csv_action_names, csv_numeric,
                                      file_info, parse_columns, select_columns)
from robotok_ros.data.episodes import as_episode, check_episodes, natural_key, split_by_episode
from robotok_ros.data.tfrecord import read_tfrecord_episodes, TFRECORD_NAME
from robotok_ros.errors import DataError

FORMATS = ('hdf5', 'tfrecord', 'npz', 'csv', 'parquet', 'rosbag2')
SUFFIXES = {'.hdf5': 'hdf5', '.h5': 'hdf5', '.npz': 'npz', '.csv': 'csv',
            '.parquet': 'parquet', '.mcap': 'rosbag2', '.tfrecord': 'tfrecord'}
ALIASES = {'h5': 'hdf5', 'rlds': 'tfrecord', 'lerobot': 'parquet', 'mcap': 'rosbag2',
           'bag': 'rosbag2'}


def read_hdf5(path, key=None):
    """Read robomimic / robosuite ``data/<demo_k>/<key>`` (default ``actions``), by demo number."""
    import h5py
    key = key or 'actions'
    try:
        with h5py.File(path, 'r') as f:
            if 'data' not in f or not isinstance(f['data'], h5py.Group):
                raise DataError(f'{path}: no group "data" (robomimic layout data/demo_k/'
                                f'{key}); top-level keys: {", ".join(sorted(f)) or "none"}')
            episodes = []
            for name in sorted(f['data'], key=natural_key):
                demo = f['data'][name]
                if not isinstance(demo, h5py.Group):
                    continue
                if key not in demo or not isinstance(demo[key], h5py.Dataset):
                    found = []
                    demo.visititems(lambda n, o: found.append(n)
                                    if isinstance(o, h5py.Dataset) else None)
                    raise DataError(f'{path}: data/{name} has no dataset {key!r}; available: '
                                    f'{", ".join(sorted(found)) or "none"}')
                episodes.append(as_episode(demo[key][()], f'{path}: data/{name}/{key}'))
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f'{path}: cannot be read as HDF5: {exc}') from None
    return episodes


def read_npz(path, key=None):
    """
    Read ``.npz``: ``actions`` as (T, D) or (E, T, D), optionally split by ``episode_index``.

    Without an ``actions`` array (and no ``key`` given) every array is one episode, in
    natural name order (``arr_2`` before ``arr_10``).
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f'{path}: cannot be read as .npz: {exc}') from None
    name = key or 'actions'
    if name not in arrays:
        if key is not None or not arrays:
            raise DataError(f'{path}: no array {name!r}; available: '
                            f'{", ".join(sorted(arrays)) or "none"}')
        return [as_episode(arrays[n], f'{path}: {n}') for n in sorted(arrays, key=natural_key)]
    actions = arrays[name]
    where = f'{path}: {name}'
    if actions.ndim == 3:
        return [as_episode(ep, f'{where}[{i}]') for i, ep in enumerate(actions)]
    actions = as_episode(actions, where)
    if 'episode_index' in arrays:
        return split_by_episode(actions, arrays['episode_index'], where,
                                arrays.get('frame_index'))
    return [actions]


def read_csv(path, key=None):
    """
    Read ``.csv`` with a header row: one row per step.

    Action columns are those named by ``key`` (comma-separated), else every numeric column
    except bookkeeping ones (episode_index, frame_index, index, timestamp, task_index).
    Rows are split by ``episode_index`` and ordered by ``frame_index`` when present.
    """
    try:
        with open(path, newline='') as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f'{path}: cannot be read as CSV: {exc}') from None
    if len(rows) < 2:
        raise DataError(f'{path}: needs a header row and at least one data row')
    header = [h.strip() for h in rows[0]]
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DataError(f'{path}: line {line} has {len(row)} fields, the header has '
                            f'{len(header)}')
    columns = {h: [row[i].strip() for row in rows[1:]] for i, h in enumerate(header)}

    def numeric(name):
        return csv_numeric(columns[name])

    names = csv_action_names(path, key, header, rows[1:])
    actions = np.stack([numeric(n) for n in names], axis=1)
    if 'episode_index' in columns:
        episode_index = numeric('episode_index')
        if episode_index is None:
            raise DataError(f'{path}: column episode_index is not numeric')
        frame = numeric('frame_index') if 'frame_index' in columns else None
        return split_by_episode(actions, episode_index, path, frame)
    return [actions]


def read_parquet(path, key=None):
    """Read LeRobot parquet file(s): list column ``action`` grouped by ``episode_index``."""
    from robotok_ros.data.lerobot import read_parquet_episodes
    return read_parquet_episodes(path, key)


def read_rosbag2(path, key=None):
    """Read a rosbag2 folder or ``.mcap`` file through ``robotok_ros.data.bags``."""
    try:
        from robotok_ros.data.bags import read_bag_episodes
    except ModuleNotFoundError as exc:
        needed = 'robotok_ros.data.bags' if exc.name and exc.name.startswith(
            'robotok_ros') else exc.name
        raise DataError(f'{path}: reading rosbag2 needs {needed}') from None
    return read_bag_episodes(path, key)


READERS = {'hdf5': read_hdf5, 'npz': read_npz, 'csv': read_csv, 'parquet': read_parquet,
           'rosbag2': read_rosbag2}


def detect_format(path):
    """Return the format name of ``path`` from its suffix or folder layout, or None."""
    path = Path(path)
    if path.is_dir():
        if (path / 'metadata.yaml').is_file():
            return 'rosbag2'
        if (path / 'meta' / 'info.json').is_file() or any((path / 'data').glob('**/*.parquet')):
            return 'parquet'
        return None
    if TFRECORD_NAME.search(path.name):
        return 'tfrecord'
    return SUFFIXES.get(path.suffix.lower())


def _read_one(path, fmt, key, dim):
    if fmt == 'tfrecord':
        return read_tfrecord_episodes(path, key, dim)
    return READERS[fmt](path, key)


@dataclass(frozen=True)
class Actions:
    """
    The episodes of one or more paths, with what the files say about their columns.

    ``names``: the dimension name of each column (a ``--columns`` name, else the
    file's), None where neither names it; ``rate_hz``: the control rate the files'
    timestamps give, or None.  ``scales`` and ``limits`` (per column, or None): a
    controller's scale and input limits the files declare (robosuite OSC_POSE HDF5).
    """

    episodes: list
    names: Optional[Tuple[Optional[str], ...]] = None
    rate_hz: Optional[float] = None
    paths: Tuple[str, ...] = ()
    scales: Optional[Tuple[float, ...]] = None
    limits: Optional[Tuple[Tuple[float, float], ...]] = None


def read_actions(paths, key=None, dim=None, columns=None, what='--columns', fmt=None):
    """
    Read and join the episodes of every path in ``paths`` (or one path) as Actions.

    ``columns`` (see ``robotok_ros.data.columns.parse_columns``) chooses and names the
    action columns of each file.  Files whose timestamps disagree on the rate by more
    than 1 % are a DataError naming both.
    """
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    columns = None if columns is None else parse_columns(columns, what)
    episodes, names, rate, rate_from, declared = [], None, None, None, []
    for path in _files(paths):
        eps = read_episodes(path, fmt=fmt, key=key, dim=None if columns else dim)
        kind = ALIASES.get(fmt, fmt) or detect_format(path)
        file_names, file_rate = file_info(path, kind, key)
        if file_names is not None and len(file_names) != eps[0].shape[1]:
            file_names = None  # names of another width describe something else: drop them
        ctrl = controller_limits(path, kind, key, eps[0].shape[1])
        if columns is not None:
            eps, file_names, idx = select_columns(eps, columns, file_names, path, what)
            ctrl = ctrl and ([ctrl[0][i] for i in idx], [ctrl[1][i] for i in idx])
        declared.append(ctrl)
        if file_names is not None and any(n is not None for n in file_names):
            names = names or tuple(file_names)
        if file_rate is not None:
            if rate is not None and abs(file_rate - rate) > 0.01 * rate:
                raise DataError(f'{path}: timestamps give {file_rate:g} Hz, {rate_from} gives '
                                f'{rate:g} Hz; fit data of one control rate')
            rate, rate_from = rate if rate is not None else file_rate, rate_from or path
        if episodes and eps[0].shape[1] != episodes[0].shape[1]:
            raise DataError(f'{path}: episodes have {eps[0].shape[1]} action columns, '
                            f'{paths[0]} has {episodes[0].shape[1]}; choose columns with '
                            f'{what}')
        episodes.extend(eps)
    # Declared limits count only when every file declares the same ones.
    ctrl = declared[0] if all(c == declared[0] for c in declared) else None
    return Actions(episodes, names, rate, tuple(str(p) for p in paths),
                   *((tuple(ctrl[0]), tuple(ctrl[1])) if ctrl else (None, None)))


def _files(paths):
    # A plain folder is read file by file, so each file's names and rate are its own.
    for path in paths:
        path = Path(path)
        if path.is_dir() and detect_format(path) is None:
            files = [p for p in sorted(path.iterdir(), key=lambda p: natural_key(p.name))
                     if detect_format(p) is not None]
            yield from files or [path]  # an empty folder: read_episodes names the problem
        else:
            yield path


def read_episodes(path, fmt=None, key=None, dim=None, columns=None):
    """
    Read every episode in ``path`` as a list of ``(T, D)`` float64 arrays.

    ``fmt`` overrides the suffix (one of hdf5, tfrecord, npz, csv, parquet, rosbag2);
    ``key`` names the action dataset / feature / column; ``dim`` is D for flattened
    TFRecord features.  A plain folder is read file by file in natural name order.
    ``columns`` chooses action columns (``'0:6'``, ``'0,1,2,6'``, names; see read_actions).
    """
    if columns is not None:
        return read_actions(path, key=key, dim=dim, columns=columns, fmt=fmt).episodes
    path = Path(path)
    if not path.exists():
        raise DataError(f'{path}: no such file or folder')
    if fmt is not None:
        fmt = ALIASES.get(str(fmt).lower(), str(fmt).lower())
        if fmt not in FORMATS:
            raise DataError(f'{path}: unknown format {fmt!r}; supported: {", ".join(FORMATS)}')
    else:
        fmt = detect_format(path)
    if fmt is None and path.is_dir():
        files = [p for p in sorted(path.iterdir(), key=lambda p: natural_key(p.name))
                 if detect_format(p) is not None]
        if not files:
            raise DataError(f'{path}: folder holds no supported files (suffixes: '
                            f'{", ".join(sorted(SUFFIXES))}, .tfrecord-NNNNN-of-NNNNN, '
                            'rosbag2 folders, LeRobot datasets)')
        episodes = []
        for file in files:
            episodes.extend(read_episodes(file, key=key, dim=dim))
        return check_episodes(episodes, path)
    if fmt is None:
        raise DataError(f'{path}: unknown file type {path.suffix!r}; supported: '
                        f'{", ".join(sorted(SUFFIXES))} (or a rosbag2 / LeRobot folder)')
    episodes = [as_episode(ep, f'{path}: episode {i}')
                for i, ep in enumerate(_read_one(path, fmt, key, dim))]
    return check_episodes(episodes, path)
