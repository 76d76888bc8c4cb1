"""
Robot profiles: what one robot's action vector means and how far it may go.

A profile is a YAML file (``config/robots/<name>.yaml``) loaded into frozen
dataclasses.  Loading validates every number and rejects unknown keys; every
error names the file, the key and the offending value.
"""

from dataclasses import dataclass, field
import math
from typing import Optional, Tuple

import numpy as np
from robotok_ros.errors import ConfigError
import yaml

LINEAR_NAMES = ('dx', 'dy', 'dz')
ANGULAR_NAMES = ('droll', 'dpitch', 'dyaw')
GRIPPER_MODES = ('binary', 'continuous')


def _where(source, key):
    return f'{source}: {key}' if source else key


def _finite(value, source, key):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f'{_where(source, key)} must be a finite number, got {value!r}')
    return float(value)


@dataclass(frozen=True)
class Dimension:
    """
    One action dimension: name, unit, range and optional q01/q99 statistics.

    ``scale`` converts one action unit into physical units per control step
    (robosuite OSC: 0.05 m per unit); it is 1.0 when the action is physical.
    """

    name: str
    low: float
    high: float
    unit: str = ''
    scale: float = 1.0
    q01: Optional[float] = None
    q99: Optional[float] = None
    source: str = field(default='', compare=False, repr=False)

    def __post_init__(self):
        key = f'dimensions.{self.name}'
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f'{_where(self.source, "dimensions.name")} must be a non-empty '
                              f'string, got {self.name!r}')
        if self.unit is None:
            object.__setattr__(self, 'unit', '')
        if not isinstance(self.unit, str):
            raise ConfigError(f'{_where(self.source, key + ".unit")} must be a string, '
                              f'got {self.unit!r}')
        for attr, yaml_key in (('low', 'min'), ('high', 'max'), ('scale', 'scale')):
            object.__setattr__(self, attr, _finite(getattr(self, attr), self.source,
                                                   f'{key}.{yaml_key}'))
        if not self.low < self.high:
            raise ConfigError(f'{_where(self.source, key)}: min must be < max, got '
                              f'min={self.low!r} max={self.high!r}')
        if self.scale <= 0:
            raise ConfigError(f'{_where(self.source, key + ".scale")} must be > 0, '
                              f'got {self.scale!r}')
        if (self.q01 is None) != (self.q99 is None):
            raise ConfigError(f'{_where(self.source, key)}: give both q01 and q99 or neither, '
                              f'got q01={self.q01!r} q99={self.q99!r}')
        if self.q01 is not None:
            for attr in ('q01', 'q99'):
                object.__setattr__(self, attr, _finite(getattr(self, attr), self.source,
                                                       f'{key}.{attr}'))
            if not self.q01 < self.q99:
                raise ConfigError(f'{_where(self.source, key)}: q01 must be < q99, got '
                                  f'q01={self.q01!r} q99={self.q99!r}')


@dataclass(frozen=True)
class Gripper:
    """
    Gripper convention: which action dimension, which value means open, binary or not.

    ``command_open``/``command_closed`` are what the gripper controller is sent
    (e.g. finger opening in metres); a decoded action is mapped linearly from
    ``open_value..closed_value`` onto them, thresholded at the middle if binary.
    """

    dimension: str
    open_value: float
    closed_value: float
    mode: str = 'binary'
    command_open: float = 1.0
    command_closed: float = 0.0
    source: str = field(default='', compare=False, repr=False)

    def __post_init__(self):
        if not isinstance(self.dimension, str) or not self.dimension:
            raise ConfigError(f'{_where(self.source, "gripper.dimension")} must be a non-empty '
                              f'string, got {self.dimension!r}')
        for attr in ('open_value', 'closed_value', 'command_open', 'command_closed'):
            object.__setattr__(self, attr, _finite(getattr(self, attr), self.source,
                                                   f'gripper.{attr}'))
        if self.mode not in GRIPPER_MODES:
            raise ConfigError(f'{_where(self.source, "gripper.mode")} must be one of '
                              f'{GRIPPER_MODES}, got {self.mode!r}')
        if self.open_value == self.closed_value:
            raise ConfigError(f'{_where(self.source, "gripper")}: open_value and closed_value '
                              f'must differ, both are {self.open_value!r}')

    def openness(self, value):
        """Map action value(s) to openness in [0, 1] (1 = open); binary mode rounds."""
        frac = (np.asarray(value, dtype=np.float64) - self.closed_value) / (
            self.open_value - self.closed_value)
        frac = np.clip(frac, 0.0, 1.0)
        return np.where(frac >= 0.5, 1.0, 0.0) if self.mode == 'binary' else frac

    def command(self, value):
        """Gripper controller command for action value(s)."""
        frac = self.openness(value)
        return self.command_closed + frac * (self.command_open - self.command_closed)

    def action_from_openness(self, frac):
        """Inverse of ``openness`` for teleop: openness in [0, 1] -> action value."""
        frac = np.clip(np.asarray(frac, dtype=np.float64), 0.0, 1.0)
        if self.mode == 'binary':
            frac = np.where(frac >= 0.5, 1.0, 0.0)
        return self.closed_value + frac * (self.open_value - self.closed_value)


@dataclass(frozen=True)
class Safety:
    """Speed limits every outgoing command is clamped to."""

    max_linear_speed: float
    max_angular_speed: float
    source: str = field(default='', compare=False, repr=False)

    def __post_init__(self):
        for attr in ('max_linear_speed', 'max_angular_speed'):
            value = _finite(getattr(self, attr), self.source, f'safety.{attr}')
            if value <= 0:
                raise ConfigError(f'{_where(self.source, "safety." + attr)} must be > 0, '
                                  f'got {value!r}')
            object.__setattr__(self, attr, value)


@dataclass(frozen=True)
class RobotProfile:
    """
    Everything robotok knows about one robot's action space.

    ``dimensions`` are in action-vector order; the six Cartesian deltas use the
    names dx, dy, dz, droll, dpitch, dyaw so nodes can map them to a Twist.
    """

    name: str
    frame_id: str
    control_rate_hz: float
    dimensions: Tuple[Dimension, ...]
    safety: Safety
    gripper: Optional[Gripper] = None
    description: str = ''
    source: str = field(default='', compare=False, repr=False)

    def __post_init__(self):
        src = self.source
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f'{_where(src, "name")} must be a non-empty string, '
                              f'got {self.name!r}')
        if not isinstance(self.frame_id, str) or not self.frame_id:
            raise ConfigError(f'{_where(src, "frame_id")} must be a non-empty string, '
                              f'got {self.frame_id!r}')
        rate = _finite(self.control_rate_hz, src, 'control_rate_hz')
        if rate <= 0:
            raise ConfigError(f'{_where(src, "control_rate_hz")} must be > 0, got {rate!r}')
        object.__setattr__(self, 'control_rate_hz', rate)
        object.__setattr__(self, 'dimensions', tuple(self.dimensions))
        if not self.dimensions:
            raise ConfigError(f'{_where(src, "dimensions")} must list at least one dimension')
        seen = set()
        for dim in self.dimensions:
            if dim.name in seen:
                raise ConfigError(f'{_where(src, "dimensions")}: name {dim.name!r} appears '
                                  'twice; names must be unique')
            seen.add(dim.name)
        if self.gripper is not None and self.gripper.dimension not in seen:
            raise ConfigError(f'{_where(src, "gripper.dimension")} must name one of '
                              f'{sorted(seen)}, got {self.gripper.dimension!r}')

    @property
    def dim(self):
        """Return the number of action dimensions D."""
        return len(self.dimensions)

    @property
    def names(self):
        """Dimension names in action-vector order."""
        return tuple(d.name for d in self.dimensions)

    @property
    def lows(self):
        """Per-dimension minimum, shape (D,)."""
        return np.array([d.low for d in self.dimensions])

    @property
    def highs(self):
        """Per-dimension maximum, shape (D,)."""
        return np.array([d.high for d in self.dimensions])

    @property
    def scales(self):
        """Per-dimension action-unit -> physical-unit factor, shape (D,)."""
        return np.array([d.scale for d in self.dimensions])

    @property
    def has_quantiles(self):
        """Tell whether every non-gripper dimension carries q01/q99."""
        return all(d.q01 is not None for d in self.dimensions if d.name != self.gripper_name)

    @property
    def gripper_name(self):
        """Name of the gripper dimension, or None."""
        return self.gripper.dimension if self.gripper else None

    @property
    def gripper_index(self):
        """Index of the gripper dimension, or None."""
        return self.names.index(self.gripper.dimension) if self.gripper else None

    def index(self, name):
        """Index of dimension ``name``, or None when the profile lacks it."""
        return self.names.index(name) if name in self.names else None

    def with_ranges(self, lows, highs, q01=None, q99=None, name=None):
        """Return a copy with new per-dimension ranges (and quantiles), as ``fit`` produces."""
        dims = []
        for i, d in enumerate(self.dimensions):
            dims.append(Dimension(
                name=d.name, unit=d.unit, scale=d.scale, low=float(lows[i]),
                high=float(highs[i]),
                q01=None if q01 is None else float(q01[i]),
                q99=None if q99 is None else float(q99[i]), source=self.source))
        return RobotProfile(name=name or self.name, frame_id=self.frame_id,
                            control_rate_hz=self.control_rate_hz, dimensions=tuple(dims),
                            safety=self.safety, gripper=self.gripper,
                            description=self.description, source=self.source)

    def to_dict(self):
        """Plain-data form that ``profile_from_dict`` reads back."""
        out = {'name': self.name, 'description': self.description, 'frame_id': self.frame_id,
               'control_rate_hz': self.control_rate_hz, 'dimensions': []}
        for d in self.dimensions:
            entry = {'name': d.name, 'unit': d.unit, 'min': d.low, 'max': d.high}
            if d.scale != 1.0:
                entry['scale'] = d.scale
            if d.q01 is not None:
                entry.update(q01=d.q01, q99=d.q99)
            out['dimensions'].append(entry)
        if self.gripper:
            g = self.gripper
            out['gripper'] = {'dimension': g.dimension, 'mode': g.mode,
                              'open_value': g.open_value, 'closed_value': g.closed_value,
                              'command_open': g.command_open,
                              'command_closed': g.command_closed}
        out['safety'] = {'max_linear_speed': self.safety.max_linear_speed,
                         'max_angular_speed': self.safety.max_angular_speed}
        return out

    def to_yaml(self):
        """YAML text of this profile."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)
