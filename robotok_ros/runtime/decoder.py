"""
ROS-free logic of token_decoder: token ids -> checked actions -> safe, timed commands.

- Message checks: ``layout`` vs data length, per-step length, id ranges, a
  finite decode; every rejection is counted by reason.
- Playout (``runtime.playout.Playout``): ``replace`` plays a chunk's first step
  at once and the rest one per control period; ``ensemble`` is ACT's temporal
  ensembling (Zhao et al., 2023, arXiv:2304.13705) and plays on ticks.
- Commands: velocity = delta x scale x control rate, clamped to the profile's
  linear/angular speed keeping the direction; the gripper value goes through
  the profile's gripper convention.
- Fast path: binning tokenizers decode each dimension independently, so their
  whole decode is a table of ``n_bins`` values per dimension; a one-step
  message is looked up in plain Python (numpy's per-call cost would dominate a
  7-value step).  Any doubt (range, layout) falls back to the checked path.
"""

from dataclasses import dataclass
import time
from typing import List, Optional

import numpy as np
from robotok_ros.errors import RobotokError
from robotok_ros.robot_profile import ANGULAR_NAMES, LINEAR_NAMES
from robotok_ros.runtime.playout import Playout
from robotok_ros.runtime.safety import clamp_speed, Watchdog

REASONS = ('layout', 'length', 'out_of_range', 'non_finite', 'invalid')
MAX_TABLE = 1 << 16


class Rejected(RobotokError):
    """A token message that must not move the robot; ``reason`` is one of REASONS."""

    def __init__(self, reason, detail):
        super().__init__(f'{reason}: {detail}')
        self.reason = reason


@dataclass(frozen=True)
class Command:
    """One control step: action (D floats), linear/angular velocity (3 each), gripper command."""

    action: List[float]
    linear: List[float]
    angular: List[float]
    gripper: Optional[float]
    clamped: bool


def _decode_table(tokenizer, lo, hi):
    """Return per-dimension decode tables (D lists) or None where a table is not exact/small."""
    width = hi - lo + 1
    exact = tokenizer.capabilities.exact_table  # decode elementwise per id: a table is exact
    if not exact or (width != width[0]).any() or width[0] > MAX_TABLE:
        return None
    with np.errstate(over='ignore', invalid='ignore'):  # non-finite: no table, checked path
        table = tokenizer.decode(lo[None, :] + np.arange(width[0])[:, None])
    return table.T.tolist() if np.isfinite(table).all() else None


class DecoderCore:
    """Everything token_decoder does between a message's ids and the commands it publishes."""

    def __init__(self, profile, tokenizer, chunk_policy='replace', command_timeout=0.5,
                 stop_repeats=3, ensemble_decay=0.01):
        self.profile, self.tokenizer = profile, tokenizer
        self.dim = profile.dim
        self.rate = profile.control_rate_hz
        self.per_step = tokenizer.tokens_per_step
        self.playout = Playout(self.dim, chunk_policy, ensemble_decay)
        self.replace = chunk_policy == 'replace'
        self.watchdog = Watchdog(command_timeout, stop_repeats)
        self.enabled = True
        self._lin = [self._axis(n) for n in LINEAR_NAMES]
        self._ang = [self._axis(n) for n in ANGULAR_NAMES]
        self.has_cartesian = any(i is not None for i, _ in self._lin + self._ang)
        self._grip = profile.gripper_index
        self._max_lin = profile.safety.max_linear_speed
        self._max_ang = profile.safety.max_angular_speed
        ranges = getattr(tokenizer, 'dimension_id_ranges', None)
        if self.per_step and ranges is not None:
            self._id_lo, self._id_hi = (np.array(r) for r in zip(*ranges()))
        else:
            self._id_lo, self._id_hi = tokenizer.id_range
        self._table = None
        if self.per_step == self.dim:
            lo = np.broadcast_to(self._id_lo, (self.dim,)).astype(np.int64)
            hi = np.broadcast_to(self._id_hi, (self.dim,)).astype(np.int64)
            self._table = _decode_table(tokenizer, lo, hi)
            self._t_lo, self._t_n = lo.tolist(), int(hi[0] - lo[0] + 1)
            self._t_shared = (lo == lo[0]).all()
        self.counters = {'received': 0, 'decoded': 0, 'steps': 0, 'clamps': 0,
                         'ignored_disabled': 0}
        self.rejected = dict.fromkeys(REASONS, 0)
        self._lat = [0.0, 0, 0.0]  # sum, count, max of decode seconds since the last snapshot
        self._last_snapshot = None

    def _axis(self, name):
        i = self.profile.index(name)
        return i, (0.0 if i is None else self.profile.dimensions[i].scale * self.rate)

    # -- input -----------------------------------------------------------------------------
    def lookup(self, data):
        """Decode one step of D ids through the table; None when it does not apply."""
        if self._table is None or len(data) != self.dim:
            return None
        if self._t_shared:
            lo = self._t_lo[0]
            if min(data) < lo or max(data) >= lo + self._t_n:
                return None
            return [col[i - lo] for col, i in zip(self._table, data)]
        n, out = self._t_n, []
        for col, lo, i in zip(self._table, self._t_lo, data):
            if not 0 <= i - lo < n:
                return None
            out.append(col[i - lo])
        return out

    def check(self, data, dims=(), offset=0):
        """
        Return the decoded actions (T, D) of one message's ids, or raise Rejected.

        ``data``: flat int ids (N,); ``dims``: layout.dim sizes (empty = none given).
        """
        ids = np.asarray(data)
        n = ids.size
        if offset or (dims and int(np.prod(dims)) != n):
            raise Rejected('layout', f'layout.dim {list(dims)} (data_offset {offset}) does '
                           f'not describe {n} ids')
        if self.per_step:
            if n == 0 or n % self.per_step:
                raise Rejected('length', f'{n} ids is not a positive multiple of '
                               f'{self.per_step}')
            if len(dims) > 1 and dims[-1] != self.per_step:
                raise Rejected('layout', f'layout.dim {list(dims)} must end with '
                               f'{self.per_step} ids per step')
            ids = ids.reshape(-1, self.per_step)
        elif n == 0:
            raise Rejected('length', 'no ids')
        outside = (ids < self._id_lo) | (ids > self._id_hi)
        if outside.any():
            raise Rejected('out_of_range', f'id {int(ids[outside][0])} outside the action '
                           f'range [{np.min(self._id_lo)}, {np.max(self._id_hi)}]')
        try:
            with np.errstate(over='ignore', invalid='ignore'):  # non-finite is rejected below
                actions = self.tokenizer.decode_chunk(ids.reshape(-1))
        except Exception as exc:  # noqa: B902 - untrusted ids into any tokenizer: never crash
            raise Rejected('invalid', f'{type(exc).__name__}: {exc}') from None
        if actions.ndim != 2 or actions.shape[1] != self.dim:
            raise Rejected('invalid', f'decoded shape {actions.shape}, expected (T, {self.dim})')
        if not np.isfinite(actions).all():
            raise Rejected('non_finite', 'the decoded action is not finite')
        return actions

    def on_tokens(self, data, now, dims=(), offset=0):
        """
        Take one message's ids (N,); return the Command to publish at once, or None.

        ``replace``: the chunk's first step plays now and the rest on later ticks
        (the caller restarts its timer when ``len(self.playout)`` > 0);
        ``ensemble``: the chunk is merged and plays on ticks.  Rejected
        propagates after it is counted.
        """
        self.counters['received'] += 1
        if not self.enabled:
            self.counters['ignored_disabled'] += 1
            return None
        start = time.perf_counter()
        step = None
        try:
            if self.replace and not offset and (not dims or (
                    dims[-1] == len(data) and all(d == 1 for d in dims[:-1]))):
                step = self.lookup(data)
            if step is None:
                actions = self.check(data, dims, offset)
        except Rejected as exc:
            self.rejected[exc.reason] += 1
            raise
        finally:
            lat = time.perf_counter() - start
            self._lat[0] += lat
            self._lat[1] += 1
            self._lat[2] = max(self._lat[2], lat)
        self.counters['decoded'] += 1
        if step is not None:
            self.playout.clear()
            return self._step(step, now)
        self.playout.push(actions)
        return self.on_tick(now) if self.replace else None

    def _step(self, action, now):
        self.watchdog.feed(now)
        self.counters['steps'] += 1
        return self.command_for(action)

    def command_for(self, action):
        """Command for one decoded action (D floats): scaled, rate-multiplied, speed-clamped."""
        a = action.tolist() if isinstance(action, np.ndarray) else list(action)
        linear, c1 = clamp_speed([0.0 if i is None else a[i] * k for i, k in self._lin],
                                 self._max_lin)
        angular, c2 = clamp_speed([0.0 if i is None else a[i] * k for i, k in self._ang],
                                  self._max_ang)
        if c1 or c2:
            self.counters['clamps'] += 1
        grip = None if self._grip is None else self.gripper_command(a[self._grip])
        return Command(a, linear, angular, grip, c1 or c2)

    def gripper_command(self, value):
        """Return ``profile.gripper.command(value)`` for one float, in plain Python."""
        g = self.profile.gripper
        frac = min(max((value - g.closed_value) / (g.open_value - g.closed_value), 0.0), 1.0)
        if g.mode == 'binary':
            frac = 1.0 if frac >= 0.5 else 0.0
        return g.command_closed + frac * (g.command_open - g.command_closed)

    def on_tick(self, now):
        """Play the next queued step (one control period); None when nothing is queued."""
        if not self.enabled:
            return None
        action = self.playout.pop()
        return None if action is None else self._step(action, now)

    def on_watchdog(self, now):
        """Return True when a watchdog zero command is due at ``now``."""
        return self.enabled and self.watchdog.tick(now)

    def set_enabled(self, flag):
        """Enable or disable; return True when a zero command must go out now (on disable)."""
        was = self.enabled
        self.enabled = bool(flag)
        if not self.enabled:
            self.playout.clear()
            self.watchdog.stop()
        return was and not self.enabled

    # -- health ----------------------------------------------------------------------------
    def snapshot(self, now):
        """Return diagnostics values: counters, rejections, rate (msg/s) and decode latency."""
        received = self.counters['received']
        rate = 0.0
        if self._last_snapshot is not None and now > self._last_snapshot[0]:
            rate = (received - self._last_snapshot[1]) / (now - self._last_snapshot[0])
        self._last_snapshot = (now, received)
        total, count, worst = self._lat
        self._lat = [0.0, 0, 0.0]
        values = dict(self.counters)
        values.update({f'rejected_{k}': v for k, v in self.rejected.items()})
        values.update(rejected=sum(self.rejected.values()), watchdog_trips=self.watchdog.trips,
                      enabled=self.enabled, queued_steps=len(self.playout),
                      input_rate_hz=round(rate, 2),
                      decode_latency_us_mean=round(1e6 * total / count, 1) if count else 0.0,
                      decode_latency_us_max=round(1e6 * worst, 1))
        return values
