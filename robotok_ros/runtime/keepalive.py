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
        self.command, self.end = None, None

    @property
    def enabled(self):
        """Return whether steps are repeated (a rate above the control rate)."""
        return self.interval is not None

    def start(self, command, now):
        """Begin a step of ``command`` sent at ``now`` (s); it lasts one period."""
        if self.enabled:
            self.command, self.end = command, now + self.period

    def cancel(self):
        """Forget the step (a stop was sent: nothing to repeat or end)."""
        self.command = None

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
        self.command = None
        return self.END
