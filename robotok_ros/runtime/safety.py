"""
Safety building blocks of token_decoder: clamps on one velocity, and the watchdog.

- ``clamp_speed`` scales a vector down to a speed limit (direction kept).
- ``limit_change`` moves a vector toward a target by at most a step (acceleration).
- ``cut_at_box`` removes the part of a velocity that would carry a point out of a box.
- ``Watchdog``: a few zero commands after a timeout without new input, then silence.

Plain Python on 3-lists: these run once per published step, where numpy's
per-call cost would dominate.
"""

import math

from robotok_ros.errors import ConfigError


def clamp_speed(vec, limit):
    """
    Return (vec scaled so its norm is <= limit, whether it was scaled); direction is kept.

    ``vec``: 3 floats; returns a list.
    """
    x, y, z = vec
    sq = x * x + y * y + z * z
    if sq > limit * limit:
        s = limit / math.sqrt(sq)
        return [x * s, y * s, z * s], True
    return [x, y, z], False


def limit_change(vec, prev, max_step):
    """
    Return (vec, or prev moved toward it by ``max_step``, whether it was limited).

    The change ``vec - prev`` keeps its direction and is cut to norm ``max_step``:
    a velocity jump becomes a ramp at the acceleration limit.
    """
    dx, dy, dz = vec[0] - prev[0], vec[1] - prev[1], vec[2] - prev[2]
    sq = dx * dx + dy * dy + dz * dz
    if sq > max_step * max_step:
        s = max_step / math.sqrt(sq)
        return [prev[0] + dx * s, prev[1] + dy * s, prev[2] + dz * s], True
    return list(vec), False


def cut_at_box(vec, point, lo, hi, period, accel=None):
    """
    Return (velocity that keeps ``point`` inside the box [lo, hi], whether it was cut).

    Per axis, a component pointing at a face may cover at most the room ``r`` left
    to it in one ``period`` (none at or beyond the face), so the point stops on the
    face.  With ``accel`` it is also at most the speed from which slowing by
    ``u = accel x period`` per period stops at the face, ``v`` with
    ``period (v + (v - u) + ... ) = r``: ``-u/2 + sqrt(u^2/4 + 2 accel r)``.
    Components pointing inward are kept.
    """
    out, cut = list(vec), False
    half_u = None if accel is None else 0.5 * accel * period
    for i in range(3):
        v = out[i]
        if v > 0.0:
            room = hi[i] - point[i]
        elif v < 0.0:
            room = point[i] - lo[i]
        else:
            continue
        room = max(room, 0.0)
        cap = room / period
        if half_u is not None:
            cap = min(cap, math.sqrt(half_u * half_u + 2.0 * accel * room) - half_u)
        if abs(v) > cap:
            out[i] = math.copysign(cap, v)
            cut = True
    return out, cut


class Watchdog:
    """Zero commands ``repeats`` times after ``timeout`` s without new input, then silence."""

    def __init__(self, timeout, repeats=3):
        self.timeout = check_timeout(timeout)
        self.repeats = int(repeats)
        self.last_input = None
        self.pending = 0
        self.trips = 0
        self.tripped = False

    def feed(self, now):
        """Record new valid input at ``now`` (seconds); playing queued steps is not input."""
        self.last_input = now
        self.pending = 0

    def stop(self):
        """Forget the last input (disable): no trip until input flows again."""
        self.last_input = None
        self.pending = 0

    def tick(self, now):
        """Return True when a zero command is due at ``now``; ``tripped`` tells a new trip."""
        self.tripped = False
        if self.last_input is not None and now - self.last_input >= self.timeout:
            self.last_input = None
            self.pending = self.repeats
            self.trips += 1
            self.tripped = True
        if self.pending:
            self.pending -= 1
            return True
        return False


def check_timeout(timeout):
    """Return ``timeout`` as a float; not > 0 (or not finite) is a ConfigError."""
    if not (isinstance(timeout, (int, float)) and 0 < timeout < math.inf):
        raise ConfigError(f'command_timeout must be a finite number > 0, got {timeout!r}')
    return float(timeout)
