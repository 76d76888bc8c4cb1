"""
A robot profile's safety block: speed and acceleration limits and the workspace box.

Every limit has a physical upper bound no real arm reaches, so a typo (``1e300``
m/s, a rate of ``1e-12`` Hz) is a load-time error naming the file, the key and
the value instead of a node that starts and misbehaves later.
"""

from dataclasses import dataclass, field
import math
from typing import Optional, Tuple

from robotok_ros.errors import ConfigError

# Physical upper bounds (inclusive); every lower bound is exclusive 0 except the rate's.
CONTROL_RATE_HZ = (0.1, 1000.0)
MAX_LINEAR_SPEED = 10.0      # m/s
MAX_ANGULAR_SPEED = 20.0     # rad/s
MAX_LINEAR_ACCEL = 100.0     # m/s^2
MAX_ANGULAR_ACCEL = 200.0    # rad/s^2
MAX_WORKSPACE_COORD = 10.0   # m, |x|, |y|, |z| in the base frame
MAX_RANGE_VALUE = 1e6        # |min|, |max|, |q01|, |q99| of a dimension
AXES = ('x', 'y', 'z')


def where(source, key):
    """Return ``source: key`` (or ``key`` alone) for an error message."""
    return f'{source}: {key}' if source else key


def finite(value, source, key):
    """Return ``value`` as a float; a bool, non-number or non-finite value is a ConfigError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f'{where(source, key)} must be a finite number, got {value!r}')
    return float(value)


def bounded(value, source, key, hi, unit, lo=0.0, lo_inclusive=False):
    """Return ``value`` as a float in ``(lo, hi]`` (``[lo, hi]`` if ``lo_inclusive``)."""
    value = finite(value, source, key)
    below = value < lo if lo_inclusive else value <= lo
    if below or value > hi:
        low_text = f'>= {lo:g}' if lo_inclusive else f'> {lo:g}'
        raise ConfigError(f'{where(source, key)} must be {low_text} and <= {hi:g} {unit}, '
                          f'got {value!r}')
    return value


@dataclass(frozen=True)
class Workspace:
    """
    Axis-aligned box the tool centre point must stay in: metres, in the profile's frame_id.

    ``min`` and ``max`` are ``(x, y, z)`` tuples with ``min < max`` on every axis.
    """

    min: Tuple[float, float, float]  # noqa: A003 - the YAML keys min and max
    max: Tuple[float, float, float]  # noqa: A003 - the YAML keys min and max
    source: str = field(default='', compare=False, repr=False)

    def __post_init__(self):
        for attr in ('min', 'max'):
            key = f'safety.workspace.{attr}'
            corner = getattr(self, attr)
            if not isinstance(corner, (list, tuple)) or len(corner) != 3:
                raise ConfigError(f'{where(self.source, key)} must be a list of 3 numbers '
                                  f'[x, y, z] in metres, got {corner!r}')
            values = []
            for axis, value in zip(AXES, corner):
                value = finite(value, self.source, f'{key}.{axis}')
                if abs(value) > MAX_WORKSPACE_COORD:
                    raise ConfigError(f'{where(self.source, key + "." + axis)} must be within '
                                      f'+-{MAX_WORKSPACE_COORD:g} m of the base, got {value!r}')
                values.append(value)
            object.__setattr__(self, attr, tuple(values))
        for axis, lo, hi in zip(AXES, self.min, self.max):
            if not lo < hi:
                raise ConfigError(f'{where(self.source, "safety.workspace")}: min must be < max '
                                  f'on every axis, got {axis} min={lo!r} max={hi!r}')

    def contains(self, point):
        """Tell whether ``point`` (x, y, z) lies inside the box, faces included."""
        return all(lo <= float(v) <= hi for v, lo, hi in zip(point, self.min, self.max))

    def clip(self, point):
        """Return ``point`` (x, y, z) moved onto the nearest point of the box."""
        return tuple(min(max(float(v), lo), hi) for v, lo, hi in zip(point, self.min, self.max))

    def to_dict(self):
        """Plain-data form (the YAML ``workspace`` block)."""
        return {'min': list(self.min), 'max': list(self.max)}


@dataclass(frozen=True)
class Safety:
    """
    Limits every outgoing command obeys: speeds, optional accelerations, optional workspace.

    ``max_linear_accel`` (m/s^2), ``max_angular_accel`` (rad/s^2) and ``workspace``
    are None when the profile sets no such limit.
    """

    max_linear_speed: float
    max_angular_speed: float
    max_linear_accel: Optional[float] = None
    max_angular_accel: Optional[float] = None
    workspace: Optional[Workspace] = None
    source: str = field(default='', compare=False, repr=False)

    def __post_init__(self):
        limits = (('max_linear_speed', MAX_LINEAR_SPEED, 'm/s'),
                  ('max_angular_speed', MAX_ANGULAR_SPEED, 'rad/s'),
                  ('max_linear_accel', MAX_LINEAR_ACCEL, 'm/s^2'),
                  ('max_angular_accel', MAX_ANGULAR_ACCEL, 'rad/s^2'))
        for attr, hi, unit in limits:
            value = getattr(self, attr)
            if value is None and attr.endswith('_accel'):
                continue
            object.__setattr__(self, attr, bounded(value, self.source, f'safety.{attr}',
                                                   hi, unit))
        if self.workspace is not None and not isinstance(self.workspace, Workspace):
            raise ConfigError(f'{where(self.source, "safety.workspace")} must be a Workspace '
                              f'or None, got {self.workspace!r}')

    def to_dict(self):
        """Plain-data form (the YAML ``safety`` block); unset optional limits are left out."""
        out = {'max_linear_speed': self.max_linear_speed,
               'max_angular_speed': self.max_angular_speed}
        for attr in ('max_linear_accel', 'max_angular_accel'):
            if getattr(self, attr) is not None:
                out[attr] = getattr(self, attr)
        if self.workspace is not None:
            out['workspace'] = self.workspace.to_dict()
        return out
