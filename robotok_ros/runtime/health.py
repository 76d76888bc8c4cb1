"""
What token_decoder reports about itself: a level that recovers, counters that accumulate.

- ``Health`` turns cumulative counters into a diagnostics level over a recent
  window: ERROR while motion is disabled by a fault (the workspace box without
  a fresh pose), WARN while any trouble counter (rejects, clamps, watchdog
  trips, lost input, bad poses) rose within the last ``window`` seconds, OK
  after a quiet window.  It only compares two snapshots, so it costs nothing
  per message.
- ``Throttle`` bounds log volume: at most one line per key per period, whatever
  the input rate, each line saying how many it held back.
"""

from collections import deque
import time

OK, WARN, ERROR = 'OK', 'WARN', 'ERROR'
TROUBLE = ('rejected', 'clamps', 'watchdog_trips', 'input_gaps', 'messages_lost',
           'pose_rejected', 'pose_unavailable', 'qos_incompatible')


class Health:
    """Diagnostics level from what changed in the last ``window`` seconds."""

    def __init__(self, window=5.0):
        self.window = float(window)
        self._prev = {}  # the counters start at zero
        self._recent = deque()  # (time, {counter: increase})

    def assess(self, values, now, fault=None):
        """Return ``(level, message)`` for snapshot ``values`` (cumulative) taken at ``now``."""
        rose = {k: values[k] - self._prev.get(k, 0) for k in TROUBLE
                if values.get(k, 0) > self._prev.get(k, 0)}
        if rose:
            self._recent.append((now, rose))
        self._prev = dict(values)
        while self._recent and now - self._recent[0][0] >= self.window:
            self._recent.popleft()
        state = 'enabled' if values.get('enabled') else 'disabled'
        if values.get('dry_run'):
            state += ' (dry run: commands on robotok/dry_run/*)'
        if fault:
            return ERROR, f'disabled by a fault: {fault}'
        if not self._recent:
            return OK, state
        total = {}
        for _, rose in self._recent:
            for k, v in rose.items():
                total[k] = total.get(k, 0) + v
        recent = ', '.join(f'{k} +{v}' for k, v in sorted(total.items()))
        return WARN, f'{state}; in the last {self.window:g} s: {recent}'


class Throttle:
    """At most one line per key every ``period`` seconds (monotonic clock by default)."""

    def __init__(self, period, clock=time.monotonic):
        self.period, self.clock = float(period), clock
        self._last, self._held = {}, {}

    def allow(self, key):
        """Return None to stay silent, else how many lines of ``key`` were held back."""
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.period:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._held.pop(key, 0)
