"""
A robot profile's gripper convention: which action dimension, which value means open.

Split from robot_profile.py (which re-exports it) to keep that file short.
"""

from dataclasses import dataclass, field

import numpy as np
from robotok_ros.errors import ConfigError
from robotok_ros.profile_safety import finite as _finite, where as _where

GRIPPER_MODES = ('binary', 'continuous')


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
