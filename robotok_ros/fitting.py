"""
Statistics of recorded actions: ranges and q01/q99 for profiles and tokenizers.

``fit_ranges`` puts the data's extremes into a profile (``analyze-resolution
--fit-ranges``); ``fit_profile`` is what ``robotok fit`` writes: on a base profile it
keeps a controller's declared input limits (robosuite OSC's -1..1: the controller
clips there, so a tokenizer must cover them) and warns when the data go past them;
``new_profile`` makes a complete profile for a robot robotok has never seen.
"""

import math

import numpy as np
from robotok_ros.errors import ConfigError, DataError
from robotok_ros.profile_safety import MAX_ANGULAR_SPEED, MAX_LINEAR_SPEED, Safety
from robotok_ros.robot_profile import (ANGULAR_NAMES, Dimension, LINEAR_NAMES, RobotProfile)

# Units a dimension name implies; any other name's unit is unknown ('') unless given.
NAME_UNITS = {**dict.fromkeys(LINEAR_NAMES, 'm'), **dict.fromkeys(ANGULAR_NAMES, 'rad')}


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


def _statistics(data):
    """Per-dimension (lows, highs, q01, q99); a dimension that never moves gets a small range."""
    lows, highs = data.min(axis=0), data.max(axis=0)
    q01, q99 = np.quantile(data, 0.01, axis=0), np.quantile(data, 0.99, axis=0)
    pad = np.maximum(1e-6, 1e-3 * np.abs(lows))
    flat = highs <= lows
    lows, highs = np.where(flat, lows - pad, lows), np.where(flat, highs + pad, highs)
    flat_q = q99 <= q01
    q01, q99 = np.where(flat_q, q01 - pad, q01), np.where(flat_q, q99 + pad, q99)
    return lows, highs, q01, q99


def fit_ranges(episodes, profile, name=None):
    """
    Profile with min/max and q01/q99 taken from ``episodes`` (a list of ``(T, D)``).

    A dimension that never moves gets a small symmetric range so that min < max.
    """
    return profile.with_ranges(*_statistics(stack_episodes(episodes, profile.dim)), name=name)


def zero_on_a_bin(lows, highs, intervals, centre=0.5):
    """
    Return ranges ``(D,)`` widened as little as possible so that 0 is a bin's decode value.

    A dimension whose range straddles 0 gets ``lo' <= lo`` and ``hi' >= hi`` with
    ``lo' + (k + centre) * w == 0`` for a bin ``k`` of width ``w = (hi' - lo') / intervals``:
    a policy's "hold still" then decodes to exactly 0, not to up to half a bin of drift
    (0.65 mm/s on a Panda's dz fitted on demonstrations: 1.3 cm in 20 s of holding).
    ``centre``: where a bin decodes, 0.5 its middle (RT-2), 0 its lower edge (RT-1).
    """
    lows, highs = np.array(lows, dtype=np.float64), np.array(highs, dtype=np.float64)
    k = np.arange(intervals + 1, dtype=np.float64)
    below, above = k + centre, intervals - k - centre
    # Only bins with room on both sides: 0 on the lowest or highest decode value cannot
    # hold a range that straddles 0.
    room = (below > 0) & (above > 0)
    below, above = below[room], above[room]
    for d, (lo, hi) in enumerate(zip(lows, highs)):
        if not lo < 0.0 < hi:
            continue
        # Bin k holds 0: lo' = -(k + c) w must reach lo and hi' = (n - k - c) w reach hi.
        width = np.maximum(-lo / below, hi / above)
        best = int(np.argmin(width))
        # min/max: the side that set the width must not lose its last digit to rounding.
        lows[d] = min(lo, -below[best] * width[best])
        highs[d] = max(hi, above[best] * width[best])
    return lows, highs


def fit_profile(episodes, base, name=None, keep_ranges=False, columns=None):
    """
    Return ``(profile, warnings)``: ``base`` with the data's ranges and q01/q99.

    A dimension whose range is a controller's input limits (``Dimension.keeps_limits``),
    or every dimension with ``keep_ranges``, keeps its declared min/max; its q01/q99 are
    held inside them, and data beyond them give a warning naming the dimension.
    """
    data = stack_episodes(episodes, base.dim)
    lows, highs, q01, q99 = _statistics(data)
    warnings = []
    for i, d in enumerate(base.dimensions):
        if not (keep_ranges or d.keeps_limits):
            continue
        outside = int(((data[:, i] < d.low) | (data[:, i] > d.high)).sum())
        if outside:
            why = 'the controller clips there' if d.keeps_limits else '--keep-ranges'
            warnings.append(f'{d.name}: {outside} of {len(data)} steps lie outside the declared '
                            f'limits {d.low:g}..{d.high:g} of {base.name} (the data reach '
                            f'{data[:, i].min():.4g}..{data[:, i].max():.4g}); kept the limits '
                            f'({why})')
        lows[i], highs[i] = d.low, d.high
        q01[i], q99[i] = np.clip(q01[i], d.low, d.high), np.clip(q99[i], d.low, d.high)
        if not q01[i] < q99[i]:
            q01[i], q99[i] = d.low, d.high
    return base.with_ranges(lows, highs, q01, q99, name=name, columns=columns), warnings


def _peak_speed(data, profile, names, rate):
    idx = [profile.index(n) for n in names if profile.index(n) is not None]
    if not idx:
        return None
    motion = data[:, idx] * profile.scales[idx] * rate
    return float(np.linalg.norm(motion, axis=1).max())


def _round_up(value):
    # Two significant digits, rounded up, so the limit never clips a recorded step.
    digits = 1 - int(math.floor(math.log10(value)))
    return math.ceil(value * 10 ** digits) / 10 ** digits


def _speed_limit(peak, given, flag, axes, unit, hi, notes):
    if given is not None:
        if peak is not None and peak > given:
            notes.append(f'warning: the demonstrations reach {peak:.3g} {unit}, above {flag} '
                         f'{given:g}: the decoder will slow those steps down')
        return given
    if peak is None or peak <= 0:
        raise ConfigError(f'{flag} {unit.upper()} is required: a profile holds speed limits '
                          f'and the data have no moving {"/".join(axes)} dimensions in '
                          f'{"m" if unit == "m/s" else "rad"} to measure one from')
    limit = _round_up(peak)
    if limit > hi:
        raise ConfigError(f'{flag} {unit.upper()} is required: the demonstrations reach '
                          f'{peak:.3g} {unit}, above the {hi:g} {unit} any profile allows (if '
                          "the actions are a controller's normalized input, fit with --robot "
                          'NAME of a profile that gives their scale)')
    notes.append(f'note: {flag[2:].replace("-", "_")} {limit:g} {unit} is the '
                 f'demonstrations\' peak (|{",".join(axes)}| x scale x rate, rounded up); '
                 'lower it for a real robot')
    return limit


def parse_units(text, names):
    """Return one unit per dimension from ``--units``: one for all, D of them, or NAME=UNIT."""
    units = [NAME_UNITS.get(n, '') for n in names]
    if text is None:
        return units
    items = [u.strip() for u in text.split(',')]
    if all('=' in u for u in items if u):
        for item in filter(None, items):
            name, unit = (s.strip() for s in item.split('=', 1))
            if name not in names:
                raise ConfigError(f'--units {text!r}: no dimension {name!r}; the dimensions '
                                  f'are {", ".join(names)}')
            units[names.index(name)] = unit
        return units
    if len(items) == 1:
        return items * len(names)
    if len(items) != len(names):
        raise ConfigError(f'--units {text!r}: give one unit, {len(names)} units (one per '
                          f'dimension: {", ".join(names)}) or NAME=UNIT pairs, got '
                          f'{len(items)}')
    return items


def new_profile(episodes, names, rate_hz, name, units=None, frame_id='base',
                max_linear_speed=None, max_angular_speed=None, columns=None, scales=None,
                limits=None):
    """
    Return ``(profile, notes)``: a complete profile for a new robot from its demonstrations.

    Dimension ranges and q01/q99 come from the data, except where the file declares a
    controller's input ``limits`` (and ``scales``), which are kept; speed limits are the
    data's peak speed over dx/dy/dz and droll/dpitch/dyaw (rounded up) unless given, and
    must be given when the data have no such dimensions.  No gripper is declared.
    """
    data = stack_episodes(episodes, len(names))
    lows, highs, q01, q99 = _statistics(data)
    units = parse_units(units, list(names))
    dims = tuple(Dimension(name=n, unit=units[i], low=float(lows[i]), high=float(highs[i]),
                           q01=float(q01[i]), q99=float(q99[i]),
                           scale=1.0 if scales is None else scales[i],
                           column=None if columns is None else columns[i],
                           controller_limits=None if limits is None else True)
                 if limits is None else
                 Dimension(name=n, unit=units[i], low=limits[i][0], high=limits[i][1],
                           scale=1.0 if scales is None else scales[i],
                           column=None if columns is None else columns[i],
                           controller_limits=True)
                 for i, n in enumerate(names))
    draft = RobotProfile(name=name, frame_id=frame_id, control_rate_hz=rate_hz,
                         dimensions=dims, safety=Safety(1.0, 1.0),
                         description=f'fitted by robotok fit from {len(episodes)} episodes')
    notes = []
    if limits is not None:
        draft, notes = fit_profile(episodes, draft)   # keeps the limits, warns past them
        notes = [f'warning: {text}' for text in notes]
    # What the controller is sent: values past its input limits are clipped there.
    sent = np.clip(data, draft.lows, draft.highs)
    axes = {unit: [n for n in group if n in names and units[list(names).index(n)] == unit]
            for unit, group in (('m', LINEAR_NAMES), ('rad', ANGULAR_NAMES))}
    linear = _speed_limit(_peak_speed(sent, draft, axes['m'], rate_hz), max_linear_speed,
                          '--max-linear-speed', LINEAR_NAMES, 'm/s', MAX_LINEAR_SPEED, notes)
    angular = _speed_limit(_peak_speed(sent, draft, axes['rad'], rate_hz), max_angular_speed,
                           '--max-angular-speed', ANGULAR_NAMES, 'rad/s', MAX_ANGULAR_SPEED,
                           notes)
    if 'gripper' in names:
        notes.append("note: dimension 'gripper' is fitted as a plain dimension: add a gripper: "
                     'block (dimension, open_value, closed_value) to declare it one')
    return RobotProfile(name=name, frame_id=frame_id, control_rate_hz=rate_hz,
                        dimensions=draft.dimensions, safety=Safety(linear, angular),
                        description=draft.description), notes
