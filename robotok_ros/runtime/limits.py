"""
The motion limits of token_decoder: speeds, accelerations and the workspace box.

- ``Limits`` holds what is in force, from the robot profile's ``safety`` block;
  ``lowered`` gives a copy with some limits changed at runtime and refuses to
  raise any above the profile's (which stays the ceiling).
- ``MotionLimiter`` applies them to each command, in this order:

  1. speed: linear and angular velocity scaled to their limits, direction kept;
  2. acceleration: the change of the commanded velocity from the last command
     is at most ``accel x dt`` with ``dt`` = the time since that command, at
     most one control period.  Consecutive commands and chunk boundaries alike
     are blended into a ramp; the limiter starts from rest;
  3. workspace box: a velocity component pointing out of the box covers at most
     the room left to the face in one period (none at or beyond it) and, with
     an acceleration limit, at most the speed that brakes to the face at that
     limit.  A stream aimed through the table stops at the table face.  The box
     comes last: staying inside wins over smoothness.  It is checked at the measured
     point and at the point the commands so far lead to: the arm's servo trails its
     target (about v x 20 ms at 15 Hz bandwidth, 1 cm at 0.5 m/s) and a pose is up to
     a sample old, so the measured point alone let an arm end that lag past the face
     (7 mm at 0.5 m/s in sim_arm). The lead is dead reckoning from the last commands,
     at most (``LEAD_S`` + one period) x the commanded speed ahead of the measured
     point on each axis (a pose later than that still lets the tool pass by the rest
     of its lag; as the arm slows the lead closes on the measured point, so an old gap
     never stops it short), and restarts from it after a pause (the arm then settled
     on its target).

A stop is never rate limited: a zero command (watchdog, disable, shutdown,
fault) goes out at once and ``reset`` restarts the limiter from rest.  Slowing
down to a stop is the controller's job (MoveIt Servo, ros2_control); holding a
moving command in order to ramp it down would keep the arm moving after the
very event that says it must not.
"""

from dataclasses import dataclass, replace
import math
from typing import Optional, Tuple

from robotok_ros.errors import ConfigError
from robotok_ros.runtime.safety import clamp_speed, cut_at_box, limit_change

SPEEDS = (('max_linear_speed', 'm/s'), ('max_angular_speed', 'rad/s'))
ACCELS = (('max_linear_accel', 'm/s^2'), ('max_angular_accel', 'rad/s^2'))
UNITS = dict(SPEEDS + ACCELS)
CLAMP_KINDS = ('speed', 'accel', 'workspace')
ZERO = (0.0, 0.0, 0.0)
# Tracking lag (s) the dead-reckoned point may lead the measured one by, beyond one period.
LEAD_S = 0.05


def _positive(name, value, optional=False):
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not 0 < value < math.inf:
        raise ConfigError(f'{name} must be a finite number > 0{" or unset" if optional else ""}'
                          f', got {value!r}')
    return float(value)


@dataclass(frozen=True)
class Limits:
    """
    Limits every command obeys; accelerations and ``workspace`` may be None (no limit).

    ``workspace``: ``((x, y, z) min, (x, y, z) max)`` in metres in the profile's
    frame, where the measured end-effector pose (``robotok/ee_pose``) is given.
    """

    max_linear_speed: float
    max_angular_speed: float
    max_linear_accel: Optional[float] = None
    max_angular_accel: Optional[float] = None
    workspace: Optional[Tuple[Tuple[float, float, float], Tuple[float, float, float]]] = None

    def __post_init__(self):
        for name, _ in SPEEDS:
            object.__setattr__(self, name, _positive(name, getattr(self, name)))
        for name, _ in ACCELS:
            object.__setattr__(self, name, _positive(name, getattr(self, name), True))
        if self.workspace is not None:
            try:
                lo, hi = (tuple(float(v) for v in corner) for corner in self.workspace)
            except (TypeError, ValueError):
                lo = hi = ()
            if len(lo) != 3 or len(hi) != 3 or not all(
                    math.isfinite(a) and math.isfinite(b) and a < b for a, b in zip(lo, hi)):
                raise ConfigError('workspace must be (min (x, y, z), max (x, y, z)) with min < '
                                  f'max on every axis, got {self.workspace!r}')
            object.__setattr__(self, 'workspace', (lo, hi))

    @classmethod
    def from_profile(cls, profile):
        """Return the limits of ``profile.safety`` (accelerations and box where it has them)."""
        s = profile.safety
        box = getattr(s, 'workspace', None)
        return cls(s.max_linear_speed, s.max_angular_speed,
                   getattr(s, 'max_linear_accel', None), getattr(s, 'max_angular_accel', None),
                   None if box is None else (tuple(box.min), tuple(box.max)))

    def lowered(self, ceiling, **changes):
        """
        Return a copy with ``changes`` (name -> value; None: no limit) applied.

        Each value must be at most the same limit of ``ceiling`` (the profile's):
        a running decoder may lower its limits, never raise them past the profile.
        Raises ConfigError naming the limit, the value and the ceiling.
        """
        for name, value in changes.items():
            if name not in UNITS:
                raise ConfigError(f'{name} is not a motion limit (one of {", ".join(UNITS)})')
            top, unit = getattr(ceiling, name), UNITS[name]
            if top is None:
                continue
            if value is None:
                raise ConfigError(f'{name}: the profile limits it to {top:g} {unit}, so it '
                                  'cannot be turned off (0 means no limit only where the '
                                  'profile sets none)')
            if value > top:
                raise ConfigError(f"{name} {value:g} {unit} is above the profile's {top:g} "
                                  f'{unit}: a running decoder may only lower its limits (raise '
                                  'them in the robot profile and restart)')
        return replace(self, **changes)


class MotionLimiter:
    """Apply ``Limits`` to each commanded velocity; count each clamp by kind (CLAMP_KINDS)."""

    def __init__(self, limits, period):
        self.limits, self.period = limits, float(period)
        self.counts = dict.fromkeys(CLAMP_KINDS, 0)
        self.reset()

    def reset(self):
        """Forget the last command: the arm is at rest (after a stop, at enable)."""
        self._lin, self._ang, self._last, self._ahead = ZERO, ZERO, None, None

    def apply(self, linear, angular, now, point=None):
        """
        Return (linear, angular, clamped) for a command at ``now`` (seconds).

        ``point``: the measured end-effector position (x, y, z), needed when the
        limits hold a workspace box.  ``clamped`` tells whether any limit acted.
        """
        lim = self.limits
        linear, s1 = clamp_speed(linear, lim.max_linear_speed)
        angular, s2 = clamp_speed(angular, lim.max_angular_speed)
        accel = box = False
        a_lin, a_ang = lim.max_linear_accel, lim.max_angular_accel
        if a_lin is not None or a_ang is not None:
            dt = self.period if self._last is None else min(max(now - self._last, 0.0),
                                                            self.period)
            if a_lin is not None:
                linear, accel = limit_change(linear, self._lin, a_lin * dt)
            if a_ang is not None:
                angular, a2 = limit_change(angular, self._ang, a_ang * dt)
                accel = accel or a2
        if lim.workspace is not None:
            ahead = self._lead(point, now)
            linear, box = cut_at_box(linear, point, *lim.workspace, self.period, a_lin)
            linear, box2 = cut_at_box(linear, ahead, *lim.workspace, self.period, a_lin)
            box = box or box2
        self._lin, self._ang, self._last = linear, angular, now
        counts = self.counts
        if s1 or s2:
            counts['speed'] += 1
        if accel:
            counts['accel'] += 1
        if box:
            counts['workspace'] += 1
        return linear, angular, s1 or s2 or accel or box

    def _lead(self, point, now):
        """Return where the commands so far lead from ``point`` (see the module docstring)."""
        last = self._last
        if self._ahead is None or last is None or now - last > 2 * self.period:
            ahead = tuple(point)
        else:
            dt = min(max(now - last, 0.0), self.period)   # a step lasts one period
            # Room per axis from the speed commanded on it: the lag a moving arm may
            # trail by.  A room from the speed *limit* let the lead keep any gap it once
            # had (a pose that jumped at a sim reset, an arm slower than its commands),
            # and a descent then stopped that gap short of the floor (5.8 cm on a Panda).
            ahead = []
            for p, a, v in zip(point, self._ahead, self._lin):
                room = (LEAD_S + self.period) * abs(v)
                ahead.append(p + min(max(a + v * dt - p, -room), room))
            ahead = tuple(ahead)
        self._ahead = ahead
        return ahead
