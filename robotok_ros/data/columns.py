"""
Choose and name action columns, and read what a file says about them (names, control rate).

A column selection (``--columns``, or a profile's per-dimension ``column``) picks
action columns by index (``3``), by range (``0:6``, ``6:``) or by the name the file
gives a column (a CSV header, LeRobot ``meta/info.json`` names, a robotok bag's
profile), each optionally named for the profile (``torso=7``, ``j1=0``).  So 6-D
data without a gripper, an 8-D arm with a torso joint or joint-velocity actions read
without converting files.

The control rate comes from timestamps where a file has them (LeRobot ``fps`` or
``timestamp``, rosbag2 stamps, a ``timestamp`` column or array); None elsewhere.
"""

from dataclasses import dataclass
import json
from pathlib import Path
import re
from typing import Optional, Tuple, Union

import numpy as np
from robotok_ros.errors import ConfigError, DataError

_RANGE = re.compile(r'^(\d*):(\d*)$')
# Bookkeeping columns of LeRobot-style tables; never action dimensions.
INDEX_COLUMNS = ('episode_index', 'frame_index', 'index', 'timestamp', 'task_index')


@dataclass(frozen=True)
class Column:
    """One item of a selection: ``ref`` (an index, ``(start, stop)`` or a file name), ``name``."""

    ref: Union[int, str, Tuple[int, Optional[int]]]
    name: Optional[str] = None


def parse_columns(spec, what='--columns'):
    """
    Parse ``'0:6'``, ``'0,1,2,6'``, ``'x,y,z'``, ``'dx=0,grip=gripper'`` (or a list) into Columns.

    A bare integer is an index, ``START:STOP`` a range (either end may be left out), any
    other item the name of a column in the file; ``NAME=ITEM`` names the dimension.
    """
    items = spec if isinstance(spec, (list, tuple)) else str(spec).split(',')
    out = []
    for raw in items:
        if isinstance(raw, bool):
            raise ConfigError(f'{what} {spec!r}: {raw!r} is not a column index or name')
        if isinstance(raw, int):
            if raw < 0:
                raise ConfigError(f'{what} {spec!r}: column index {raw} is negative; '
                                  'columns count from 0')
            out.append(Column(raw))
            continue
        text = str(raw).strip()
        name, _, ref = text.rpartition('=')
        name, ref = name.strip() or None, ref.strip()
        if not ref or (name is None and '=' in text):
            raise ConfigError(f'{what} {spec!r}: {text!r} is empty on one side; write NAME=INDEX '
                              'or NAME=COLUMN')
        if ref.lstrip('-').isdigit():
            if int(ref) < 0:
                raise ConfigError(f'{what} {spec!r}: column index {ref} is negative; columns '
                                  'count from 0')
            out.append(Column(int(ref), name))
        elif ':' in ref:
            match = _RANGE.match(ref)
            if not match or name:
                raise ConfigError(f'{what} {spec!r}: {text!r} is not a range START:STOP of '
                                  'column indices (a range cannot be given one name)')
            start, stop = match.groups()
            out.append(Column((int(start or 0), int(stop) if stop else None)))
        else:
            out.append(Column(ref, name))
    if not out:
        raise ConfigError(f'{what} {spec!r}: choose at least one column')
    return tuple(out)


def resolve_columns(columns, width, file_names, where, what='--columns'):
    """
    Return ``(indices, names)`` of a selection on ``width`` action columns.

    ``names`` holds the dimension name of each chosen column: the given one, else the
    file's, else None.  An index out of range or an unknown name is a DataError naming
    ``where`` (the file), the selection and what the file has.
    """
    shown = ','.join(_text(c) for c in columns)
    indices, names = [], []
    for col in columns:
        if isinstance(col.ref, tuple):
            start, stop = col.ref
            stop = width if stop is None else stop
            if stop > width or start >= stop:
                raise DataError(f'{where}: {what} {shown!r}: range {_text(col)} is outside the '
                                f'{width} action columns (0..{width - 1})')
            chosen = list(range(start, stop))
        elif isinstance(col.ref, int):
            if col.ref >= width:
                raise DataError(f'{where}: {what} {shown!r}: column {col.ref} is out of range: '
                                f'the actions have {width} columns (0..{width - 1})')
            chosen = [col.ref]
        else:
            if not file_names or col.ref not in file_names:
                known = (f'the file names them: {", ".join(file_names)}' if file_names else
                         f'the file does not name them; choose by index 0..{width - 1}')
                raise DataError(f'{where}: {what} {shown!r}: no action column named '
                                f'{col.ref!r}; {known}')
            chosen = [list(file_names).index(col.ref)]
        for i in chosen:
            if i in indices:
                raise DataError(f'{where}: {what} {shown!r}: column {i} is chosen twice')
            indices.append(i)
            names.append(col.name or (file_names[i] if file_names else None))
    given = [n for n in names if n is not None]
    if len(set(given)) != len(given):
        twice = next(n for n in given if given.count(n) > 1)
        raise DataError(f'{where}: {what} {shown!r}: dimension name {twice!r} is given twice')
    return indices, names


def _text(col):
    if isinstance(col.ref, tuple):
        start, stop = col.ref
        return f'{start}:{"" if stop is None else stop}'
    return f'{col.name}={col.ref}' if col.name else str(col.ref)


def select_columns(episodes, columns, file_names, where, what='--columns'):
    """Return ``(episodes with the chosen columns, their names, indices)`` (resolve_columns)."""
    indices, names = resolve_columns(columns, episodes[0].shape[1], file_names, where, what)
    return [ep[:, indices] for ep in episodes], names, indices


# -- what a file says about its columns -------------------------------------------------------
def _float_or_none(text):
    try:
        return float(text)
    except ValueError:
        return None


def csv_numeric(values):
    """Return CSV field texts as a float array ('' is NaN), or None if one is not a number."""
    values = [float('nan') if v.strip() == '' else _float_or_none(v) for v in values]
    return None if any(v is None for v in values) else np.array(values)


def csv_action_names(path, key, header, rows):
    """Return the action column names of a CSV table: ``key``'s, else every numeric one."""
    def numeric(name):
        return csv_numeric([row[header.index(name)] for row in rows])

    if key:
        names = [k.strip() for k in key.split(',') if k.strip()]
        for name in names:
            if name not in header:
                raise DataError(f'{path}: no column {name!r}; available: {", ".join(header)}')
            if numeric(name) is None:
                raise DataError(f'{path}: column {name!r} is not numeric')
        return names
    names = [h for h in header if h not in INDEX_COLUMNS and numeric(h) is not None]
    if not names:
        raise DataError(f'{path}: no numeric action columns; columns: {", ".join(header)}')
    return names


def file_info(path, fmt, key=None):
    """Return ``(column names or None, control rate in Hz or None)`` recorded in ``path``."""
    reader = {'csv': _csv_info, 'parquet': _parquet_info, 'rosbag2': _bag_info,
              'npz': _npz_info, 'hdf5': _hdf5_info}.get(fmt)
    return reader(Path(path), key) if reader else (None, None)


# robosuite's OSC_POSE input: position deltas, then axis-angle deltas, then the gripper.
OSC_POSE_NAMES = ('dx', 'dy', 'dz', 'droll', 'dpitch', 'dyaw', 'gripper')


def _osc_pose(path):
    # robosuite / robomimic HDF5 declare their controller in data.attrs['env_info'] (or
    # 'env_args'); only an OSC_POSE delta controller is understood: it fixes what each column
    # means, its input limits and its scale.
    import h5py
    try:
        with h5py.File(path, 'r') as f:
            attrs = f['data'].attrs if 'data' in f else {}
            text = attrs.get('env_info', attrs.get('env_args'))
        info = json.loads(text) if text is not None else {}
    except (OSError, ValueError, TypeError):
        return None
    cfg = info.get('controller_configs') or info.get('env_kwargs', {}).get('controller_configs')
    if not isinstance(cfg, dict) or cfg.get('type') != 'OSC_POSE' or \
            cfg.get('control_delta') is False:
        return None
    try:
        lo, hi = float(cfg['input_min']), float(cfg['input_max'])
        out = [float(v) for v in cfg['output_max']]
    except (KeyError, TypeError, ValueError):
        return None
    if not lo < hi or len(out) != 6:
        return None
    return lo, hi, [v / hi for v in out]


def _hdf5_info(path, key):
    return (list(OSC_POSE_NAMES) if key in (None, 'actions') and _osc_pose(path) else None,
            None)


def controller_limits(path, fmt, key, width):
    """
    Return ``(scales, limits)`` per column that ``path`` declares for its controller, or None.

    robosuite OSC_POSE HDF5: the six motion columns are the controller's input, clipped
    to input_min..input_max and scaled by output_max / input_max; the gripper column
    keeps -1..1 and scale 1.
    """
    if fmt != 'hdf5' or key not in (None, 'actions') or width != len(OSC_POSE_NAMES):
        return None
    osc = _osc_pose(path)
    if osc is None:
        return None
    lo, hi, scales = osc
    return scales + [1.0], [(lo, hi)] * 6 + [(-1.0, 1.0)]


def rate_from_stamps(stamps, where, scale=1.0):
    """Control rate (Hz) from per-episode timestamps (``scale`` converts them to seconds)."""
    steps = np.concatenate([np.diff(np.asarray(s, dtype=np.float64)) for s in stamps]) * scale
    steps = steps[steps > 0]
    if not steps.size:
        return None
    rate = round(1.0 / float(np.median(steps)), 2)
    if not 0.1 <= rate <= 1000:
        raise DataError(f'{where}: the timestamps give {rate:g} Hz, outside 0.1..1000 Hz; '
                        'give --rate-hz')
    return rate


def _by_episode(values, episode):
    if episode is None:
        return [values]
    return [values[episode == e] for e in np.unique(episode)]


def _csv_info(path, key):
    import csv
    with open(path, newline='') as f:
        rows = list(csv.reader(f))
    header = [h.strip() for h in rows[0]]
    names = csv_action_names(path, key, header, rows[1:])
    columns = {h: [row[i] for row in rows[1:]] for i, h in enumerate(header)}
    if 'timestamp' not in columns:
        return names, None
    try:
        stamps = np.array([float(v) for v in columns['timestamp']])
        episode = (np.array([float(v) for v in columns['episode_index']])
                   if 'episode_index' in columns else None)
    except ValueError:
        return names, None
    return names, rate_from_stamps(_by_episode(stamps, episode), path)


def _npz_info(path, key):
    with np.load(path, allow_pickle=False) as z:
        if 'timestamp' not in z.files:
            return None, None
        stamps = np.asarray(z['timestamp'], dtype=np.float64)
        episode = z['episode_index'] if 'episode_index' in z.files else None
    groups = list(stamps) if stamps.ndim == 2 else _by_episode(stamps, episode)
    return None, rate_from_stamps(groups, path)


def _parquet_info(path, key):
    key = key or 'action'
    info = path / 'meta' / 'info.json' if path.is_dir() else None
    if info is not None and info.is_file():
        try:
            meta = json.loads(info.read_text())
        except (OSError, ValueError) as exc:
            raise DataError(f'{info}: cannot be read as JSON: {exc}') from None
        names = (meta.get('features', {}).get(key) or {}).get('names')
        if isinstance(names, dict):  # LeRobot v2 writes {"motors": [...]} for some robots
            names = next(iter(names.values()), None)
        fps = meta.get('fps')
        names = [str(n) for n in names] if isinstance(names, list) else None
        if isinstance(fps, (int, float)) and not isinstance(fps, bool) and fps > 0:
            return names, float(fps)
        return names, None
    import pyarrow.parquet as pq
    files = sorted(path.glob('data/**/*.parquet')) if path.is_dir() else [path]
    stamps = []
    for file in files:
        schema = pq.read_schema(file).names
        if 'timestamp' not in schema:
            return None, None
        wanted = ['timestamp'] + (['episode_index'] if 'episode_index' in schema else [])
        table = pq.read_table(file, columns=wanted)
        episode = table.column('episode_index').to_numpy() if len(wanted) > 1 else None
        stamps += _by_episode(np.asarray(table.column('timestamp').to_numpy(), float), episode)
    return None, rate_from_stamps(stamps, path)


def _bag_info(path, key):
    from robotok_ros.data.bags import ACTION_TOPIC, find_bags, read_bag
    names, stamps = None, []
    for bag in find_bags(path):
        ep = read_bag(bag, action_topic=key or ACTION_TOPIC)
        dims = ep.metadata.get('robot_profile', {}).get('dimensions', [])
        names = names or [d.get('name') for d in dims if isinstance(d, dict)] or None
        if len(ep.stamps_ns) > 1:
            stamps.append(ep.stamps_ns)
    return names, rate_from_stamps(stamps, path, scale=1e-9) if stamps else None
