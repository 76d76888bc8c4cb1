"""
Robot profiles: what one robot's action vector means and how far it may go.

A profile is a YAML file (``config/robots/<name>.yaml``) loaded into frozen
dataclasses.  Loading validates every number and rejects unknown keys; every
error names the file, the key and the offending value.
"""

from dataclasses import dataclass, field
import hashlib
import json
from typing import Optional, Tuple, Union

import numpy as np
from robotok_ros.errors import ConfigError
from robotok_ros.profile_gripper import Gripper, GRIPPER_MODES
from robotok_ros.profile_safety import (bounded, CONTROL_RATE_HZ, finite as _finite,
                                        MAX_RANGE_VALUE, Safety, where as _where,
                                        Workspace)
import yaml

__all__ = ['ANGULAR_NAMES', 'Dimension', 'Gripper', 'GRIPPER_MODES', 'LINEAR_NAMES',
           'RobotProfile', 'Safety', 'Workspace']

LINEAR_NAMES = ('dx', 'dy', 'dz')
ANGULAR_NAMES = ('droll', 'dpitch', 'dyaw')


def _range_value(value, source, key):
    value = _finite(value, source, key)
    if abs(value) > MAX_RANGE_VALUE:
        raise ConfigError(f'{_where(source, key)} must be within +-{MAX_RANGE_VALUE:g}, '
                          f'got {value!r}')
    return value


@dataclass(frozen=True)
class Dimension:
    """
    One action dimension: name, unit, range and optional q01/q99 statistics.

    ``scale`` converts one action unit into physical units per control step
    (robosuite OSC: 0.05 m per unit); it is 1.0 when the action is physical.
    ``column``: the file column this dimension is read from (an index or the file's
    column name; None: in order).  ``controller_limits``: min/max are the limits the
    controller clips its input to, which ``robotok fit`` keeps; None means "when
    scale != 1", a normalized controller input such as robosuite OSC's -1..1.
    """

    name: str
    low: float
    high: float
    unit: str = ''
    scale: float = 1.0
    q01: Optional[float] = None
    q99: Optional[float] = None
    column: Optional[Union[int, str]] = None
    controller_limits: Optional[bool] = None
    source: str = field(default='', compare=False, repr=False)

    def __post_init__(self):
        key = f'dimensions.{self.name}'
        col = self.column
        if col is not None and (isinstance(col, bool) or not isinstance(col, (int, str))
                                or (isinstance(col, int) and col < 0) or col == ''):
            raise ConfigError(f'{_where(self.source, key + ".column")} must be a column index '
                              f'(0, 1, ...) or a column name, got {col!r}')
        if self.controller_limits is not None and not isinstance(self.controller_limits, bool):
            raise ConfigError(f'{_where(self.source, key + ".controller_limits")} must be '
                              f'true or false, got {self.controller_limits!r}')
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f'{_where(self.source, "dimensions.name")} must be a non-empty '
                              f'string, got {self.name!r}')
        if self.unit is None:
            object.__setattr__(self, 'unit', '')
        if not isinstance(self.unit, str):
            raise ConfigError(f'{_where(self.source, key + ".unit")} must be a string, '
                              f'got {self.unit!r}')
        for attr, yaml_key in (('low', 'min'), ('high', 'max')):
            object.__setattr__(self, attr, _range_value(getattr(self, attr), self.source,
                                                        f'{key}.{yaml_key}'))
        object.__setattr__(self, 'scale', _finite(self.scale, self.source, f'{key}.scale'))
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
                object.__setattr__(self, attr, _range_value(getattr(self, attr), self.source,
                                                            f'{key}.{attr}'))
            if not self.q01 < self.q99:
                raise ConfigError(f'{_where(self.source, key)}: q01 must be < q99, got '
                                  f'q01={self.q01!r} q99={self.q99!r}')

    @property
    def keeps_limits(self):
        """Tell whether min/max are a controller's input limits that ``fit`` must keep."""
        return self.scale != 1.0 if self.controller_limits is None else self.controller_limits


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
        lo, hi = CONTROL_RATE_HZ
        rate = bounded(self.control_rate_hz, src, 'control_rate_hz', hi, 'Hz', lo=lo,
                       lo_inclusive=True)
        object.__setattr__(self, 'control_rate_hz', rate)
        if not isinstance(self.safety, Safety):
            raise ConfigError(f'{_where(src, "safety")} must be a Safety, got {self.safety!r}')
        object.__setattr__(self, 'dimensions', tuple(self.dimensions))
        if not self.dimensions:
            raise ConfigError(f'{_where(src, "dimensions")} must list at least one dimension')
        seen = set()
        for dim in self.dimensions:
            if dim.name in seen:
                raise ConfigError(f'{_where(src, "dimensions")}: name {dim.name!r} appears '
                                  'twice; names must be unique')
            seen.add(dim.name)
        given = [d.column is not None for d in self.dimensions]
        if any(given) and not all(given):
            missing = self.dimensions[given.index(False)].name
            raise ConfigError(f'{_where(src, "dimensions")}: give every dimension a column '
                              f'or none; {missing!r} has none')
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

    @property
    def columns(self):
        """Return the file columns the dimensions are read from (``column`` keys), or None."""
        cols = [d.column for d in self.dimensions]
        return None if cols[0] is None else cols

    def with_ranges(self, lows, highs, q01=None, q99=None, name=None, columns=None):
        """Return a copy with new per-dimension ranges (and quantiles), as ``fit`` produces."""
        dims = []
        for i, d in enumerate(self.dimensions):
            dims.append(Dimension(
                name=d.name, unit=d.unit, scale=d.scale, low=float(lows[i]),
                high=float(highs[i]),
                q01=None if q01 is None else float(q01[i]),
                q99=None if q99 is None else float(q99[i]),
                column=d.column if columns is None else columns[i],
                controller_limits=d.controller_limits, source=self.source))
        return RobotProfile(name=name or self.name, frame_id=self.frame_id,
                            control_rate_hz=self.control_rate_hz, dimensions=tuple(dims),
                            safety=self.safety, gripper=self.gripper,
                            description=self.description, source=self.source)

    def subset(self, names):
        """Return a copy with only the dimensions ``names``, in that order (fit on fewer)."""
        missing = [n for n in names if n not in self.names]
        if missing:
            raise ConfigError(f'profile {self.name} has no dimension {missing[0]!r} (it has '
                              f'{", ".join(self.names)})')
        gripper = self.gripper if self.gripper_name in names else None
        return RobotProfile(name=self.name, frame_id=self.frame_id,
                            control_rate_hz=self.control_rate_hz,
                            dimensions=tuple(self.dimensions[self.index(n)] for n in names),
                            safety=self.safety, gripper=gripper,
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
            for attr in ('column', 'controller_limits'):
                if getattr(d, attr) is not None:
                    entry[attr] = getattr(d, attr)
            out['dimensions'].append(entry)
        if self.gripper:
            g = self.gripper
            out['gripper'] = {'dimension': g.dimension, 'mode': g.mode,
                              'open_value': g.open_value, 'closed_value': g.closed_value,
                              'command_open': g.command_open,
                              'command_closed': g.command_closed}
        out['safety'] = self.safety.to_dict()
        return out

    def fingerprint(self):
        """
        Return a short hex sha256 of the action-space identity a tokenizer is tied to.

        It covers what an action vector *means*: frame_id, control_rate_hz, each
        dimension's name, unit and scale (action unit -> physical unit per step), and
        the gripper's action convention (dimension, mode, open_value, closed_value).
        It leaves out what may change without changing that meaning: the ranges and
        q01/q99 (what ``fit`` learns, so a fitted tokenizer still pairs with its
        robot), the safety limits (operators lower them per cell), the gripper
        controller's command_open/closed (the robot side of the mapping), name and
        description.  Equal fingerprints: the same action space, whose ranges and
        limits may differ.
        """
        text = json.dumps(self.identity(), sort_keys=True, separators=(',', ':'))
        return hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]

    def identity(self):
        """Return the parts ``fingerprint`` hashes, by the name a mismatch message uses."""
        g = self.gripper
        return {'names': list(self.names), 'units': [d.unit for d in self.dimensions],
                'scales': [d.scale for d in self.dimensions], 'rate': self.control_rate_hz,
                'frame': self.frame_id, 'gripper': None if g is None else {
                    'dimension': g.dimension, 'mode': g.mode, 'open_value': g.open_value,
                    'closed_value': g.closed_value}}

    def identity_differences(self, other):
        """Name each part of the fingerprinted identity that differs from ``other``'s."""
        mine, theirs = self.identity(), other.identity()
        return [f'{key} {mine[key]!r} vs {theirs[key]!r}' for key in mine
                if mine[key] != theirs[key]]

    def to_yaml(self):
        """YAML text of this profile."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)
