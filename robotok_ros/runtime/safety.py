"""
Safety building blocks of token_decoder: the speed clamp and the watchdog.

- ``clamp_speed`` scales a vector down to a speed limit (direction kept).
- ``Watchdog``: a few zero commands after a timeout without a step, then silence.
"""

import math

from robotok_ros.errors import ConfigError


def clamp_speed(vec, limit):
    """
    Return (vec scaled so its norm is <= limit, whether it was scaled); direction is kept.

    ``vec``: 3 floats; returns a list.  Plain Python: it runs once per
    published step, where numpy's per-call cost would dominate.
    """
    x, y, z = vec
    sq = x * x + y * y + z * z
    if sq > limit * limit:
        s = limit / math.sqrt(sq)
        return [x * s, y * s, z * s], True
    return [x, y, z], False


class Watchdog:
    """Zero commands ``repeats`` times after ``timeout`` s without a step, then silence."""

    def __init__(self, timeout, repeats=3):
        if not timeout > 0:
            raise ConfigError(f'command_timeout must be > 0, got {timeout!r}')
        self.timeout, self.repeats = float(timeout), int(repeats)
        self.last_step = None
        self.pending = 0
        self.trips = 0

    def feed(self, now):
        """Record a step played at ``now`` (seconds)."""
        self.last_step = now
        self.pending = 0

    def stop(self):
        """Forget the last step (disable): no trip until steps flow again."""
        self.last_step = None
        self.pending = 0

    def tick(self, now):
        """Return True when a zero command is due at ``now``."""
        if self.last_step is not None and now - self.last_step >= self.timeout:
            self.last_step = None
            self.pending = self.repeats
            self.trips += 1
        if self.pending:
            self.pending -= 1
            return True
        return False
