"""
Keep-alive of one control step's twist, so Servo moves for the whole step and no longer.

MoveIt Servo halts when the newest twist is older than ``incoming_command_timeout``
(0.1 s by default, judged by the header stamp), and holds the last twist until then.
A profile at 5 Hz (widowx_250) or 3 Hz (google_robot) sends one twist per 0.2 / 0.33 s
step, so one twist per step covers half a step or less. The decoder therefore repeats
the step's twist, freshly stamped, ``ticks`` times per step, and at the step's end sends
one zero twist unless the next step is queued: a step's displacement is its decoded
delta (velocity x period) at any control rate, neither cut short by Servo's timeout nor
carried on by it.

The repeat interval is the period divided into whole ticks (``ceil(period x rate)``),
so the last tick falls on the step's end, not up to one interval after it.

A policy sending one step per message at the control rate delivers each a few
milliseconds off the decoder's step end. A zero between two such steps would halt
Servo for one of its cycles (10 ms at a time) and a 20 Hz stream would stutter and fall
short (measured: 4-6 mm over 0.2-0.3 m of robosuite teleoperation). So a step that
starts within one interval of the running step's end is phase-locked: it ends one
period after that end (early or late, the two steps' total stays two periods); and in
a stream (a step that began at or just after another's end) the zero waits one
interval for the next step. A lone step ends exactly; the last step of a stream can
overrun by at most one interval, and only a stream's first boundary can stutter.
"""

import math


class KeepAlive:
    """Which twist to send at each tick of one step: repeat it, end it, or nothing."""

    END = 'end'

    def __init__(self, period, rate):
        """``period``: s per control step; ``rate``: repeats per second (0: off)."""
        self.period = float(period)
        ticks = math.ceil(self.period * rate - 1e-9) if rate > 0 else 0
        # At or below one repeat per step there is nothing between two steps to fill.
        self.ticks = ticks if ticks > 1 else 0
        self.interval = self.period / self.ticks if self.ticks else None
        self.command, self.end, self.streaming = None, None, False
        self.ended = None  # when the last step ended with a zero (None: after a stop)

    @property
    def enabled(self):
        """Return whether steps are repeated (a rate above the control rate)."""
        return self.interval is not None

    def start(self, command, now):
        """
        Begin a step of ``command`` sent at ``now`` (s); return whether it is phase-locked.

        A locked step continues a stream: it ends one period after the running step's end,
        so the tick timer keeps its phase; any other step lasts one period from ``now``.
        """
        if not self.enabled:
            return False
        locked = self.command is not None and abs(now - self.end) <= self.interval
        # A step just after a step's zero also belongs to a stream: its own end waits.
        follows = self.ended is not None and abs(now - self.ended) <= self.interval
        self.end = self.end + self.period if locked else now + self.period
        self.command, self.streaming = command, locked or follows
        return locked

    def cancel(self):
        """Forget the step (a stop was sent: nothing to repeat or end)."""
        self.command, self.streaming, self.ended = None, False, None

    def tick(self, now, queued=False):
        """
        Return the command to repeat at ``now``, ``END`` once when the step is over, or None.

        ``queued``: the next step is queued, so its own tick follows at the step's end:
        the twist goes on rather than a zero between two steps.
        """
        if self.command is None:
            return None
        # Half an interval of slack: a tick on the step's end may read the clock a hair early.
        if now < self.end - self.interval / 2 or queued:
            return self.command
        if self.streaming and now < self.end + self.interval / 2:
            return None  # Servo holds the last repeat while the stream's next step is due
        self.command, self.streaming, self.ended = None, False, now
        return self.END
