"""
What one decoded action means for the robot: a velocity twist and a gripper command.

``ActionMap`` maps an action (D floats) to velocity = delta x scale x control
rate on dx..dyaw (zero where the profile lacks a dimension) and the gripper
value through the profile's gripper convention, in plain Python: it runs once
per published step, where numpy's per-call cost would dominate.
"""

from dataclasses import dataclass
from typing import List, Optional, Tuple

from robotok_ros.robot_profile import ANGULAR_NAMES, LINEAR_NAMES


@dataclass(frozen=True)
class Command:
    """
    One control step: action (D floats), linear/angular velocity (3 each), gripper command.

    ``target``: the pose target ``(position, quat)`` in pose mode; ``stop``: send a
    stop (zero twist / hold pose) instead, at once.
    """

    action: List[float]
    linear: List[float]
    angular: List[float]
    gripper: Optional[float]
    clamped: bool
    target: Optional[Tuple[tuple, tuple]] = None
    stop: bool = False


STOP = Command([], [0.0] * 3, [0.0] * 3, None, False, stop=True)


class ActionMap:
    """Action (D floats) -> (linear, angular) velocity lists and the gripper command."""

    def __init__(self, profile):
        self.profile = profile
        rate = profile.control_rate_hz
        self._lin = [self._axis(n, rate) for n in LINEAR_NAMES]
        self._ang = [self._axis(n, rate) for n in ANGULAR_NAMES]
        self.has_cartesian = any(i is not None for i, _ in self._lin + self._ang)
        self.grip_index = profile.gripper_index

    def _axis(self, name, rate):
        i = self.profile.index(name)
        return i, (0.0 if i is None else self.profile.dimensions[i].scale * rate)

    def velocity(self, a):
        """Return (linear, angular) velocity lists of action list ``a``, before any limit."""
        return ([0.0 if i is None else a[i] * k for i, k in self._lin],
                [0.0 if i is None else a[i] * k for i, k in self._ang])

    def gripper(self, a):
        """Return ``profile.gripper.command`` of action list ``a``, or None without gripper."""
        if self.grip_index is None:
            return None
        g = self.profile.gripper
        value = a[self.grip_index]
        frac = min(max((value - g.closed_value) / (g.open_value - g.closed_value), 0.0), 1.0)
        if g.mode == 'binary':
            frac = 1.0 if frac >= 0.5 else 0.0
        return g.command_closed + frac * (g.command_open - g.command_closed)
