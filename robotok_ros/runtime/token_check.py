"""
Checks of one token message before it may move the robot: layout, length, ids, decode.

Every check rejects, none repairs: a message that is not exactly what the
tokenizer decodes into whole steps raises ``Rejected`` with one of ``REASONS``
(the decoder counts them by reason).  The cheap checks (layout sizes, length,
the motion it would queue) run before any numpy work on the ids, so a
2-million-id message costs a length test, not a decode.

Fast path: binning tokenizers decode each dimension independently, so their
whole decode is a table of ``n_bins`` values per dimension; a one-step message
is looked up in plain Python (numpy's per-call cost would dominate a 7-value
step).  Any doubt (range, layout) falls back to the checked path.
"""

import math

import numpy as np
from robotok_ros.errors import ConfigError, RobotokError

# no_clock: the node's (simulated) clock has not started; set by the node, not here.
# no_prefix, no_actions: a generated sequence without action ids (runtime.streams);
# text_format: an RT-2 text action that is not 'flag b1 .. bD' (runtime.inputs).
REASONS = ('layout', 'length', 'too_long', 'out_of_range', 'non_finite', 'invalid', 'no_clock',
           'no_prefix', 'no_actions', 'text_format')
MAX_TABLE = 1 << 16


class Rejected(RobotokError):
    """A token message that must not move the robot; ``reason`` is one of REASONS."""

    def __init__(self, reason, detail):
        super().__init__(f'{reason}: {detail}')
        self.reason = reason


def _decode_table(tokenizer, lo, hi):
    """Return per-dimension decode tables (D lists) or None where a table is not exact/small."""
    width = hi - lo + 1
    exact = tokenizer.capabilities.exact_table  # decode elementwise per id: a table is exact
    if not exact or (width != width[0]).any() or width[0] > MAX_TABLE:
        return None
    with np.errstate(over='ignore', invalid='ignore'):  # non-finite: no table, checked path
        table = tokenizer.decode(lo[None, :] + np.arange(width[0])[:, None])
    return table.T.tolist() if np.isfinite(table).all() else None


class TokenCheck:
    """
    Decode one message's ids into actions ``(T, D)`` or raise Rejected.

    ``max_steps``: the most steps one message may queue (``max_queue_seconds`` x
    control rate).  A chunk tokenizer always decodes ``chunk_steps`` steps, so
    one longer than ``max_steps`` is a ConfigError here, at start-up, instead
    of a reject of every message.
    """

    def __init__(self, profile, tokenizer, max_steps):
        self.tokenizer, self.dim = tokenizer, profile.dim
        self.per_step = tokenizer.tokens_per_step
        self.max_steps = int(max_steps)
        chunk = int(getattr(tokenizer, 'chunk_steps', 1) or 1)
        if not self.per_step and chunk > self.max_steps:
            raise ConfigError(f'parameter max_queue_seconds allows {self.max_steps} steps per '
                              f'message at {profile.control_rate_hz:g} Hz, but the tokenizer '
                              f'decodes chunks of {chunk} steps: raise max_queue_seconds to at '
                              f'least {chunk / profile.control_rate_hz:g}')
        # Each id of a chunk tokenizer carries at least one value (FAST: >= 1 coefficient).
        self.max_ids = None if self.per_step else chunk * self.dim
        ranges = getattr(tokenizer, 'dimension_id_ranges', None)
        if self.per_step and ranges is not None:
            self.id_lo, self.id_hi = (np.array(r) for r in zip(*ranges()))
        else:
            self.id_lo, self.id_hi = tokenizer.id_range
        self.table = None
        if self.per_step == self.dim:
            lo = np.broadcast_to(self.id_lo, (self.dim,)).astype(np.int64)
            hi = np.broadcast_to(self.id_hi, (self.dim,)).astype(np.int64)
            self.table = _decode_table(tokenizer, lo, hi)
            self._t_lo, self._t_n = lo.tolist(), int(hi[0] - lo[0] + 1)
            self._t_shared = bool((lo == lo[0]).all())

    def lookup(self, data):
        """Decode one step of D ids through the table; None when it does not apply."""
        if self.table is None or len(data) != self.dim:
            return None
        if self._t_shared:
            lo = self._t_lo[0]
            if min(data) < lo or max(data) >= lo + self._t_n:
                return None
            return [col[i - lo] for col, i in zip(self.table, data)]
        n, out = self._t_n, []
        for col, lo, i in zip(self.table, self._t_lo, data):
            if not 0 <= i - lo < n:
                return None
            out.append(col[i - lo])
        return out

    def check(self, data, dims=(), offset=0):
        """
        Return the decoded actions (T, D) of one message's ids, or raise Rejected.

        ``data``: flat int ids (N,); ``dims``: layout.dim sizes (empty = none given).
        The layout product is a Python int: sizes near 2^32 cannot wrap around.
        """
        n = len(data)
        if offset or (dims and math.prod(int(d) for d in dims) != n):
            raise Rejected('layout', f'layout.dim {list(dims)} (data_offset {offset}) does '
                           f'not describe {n} ids')
        if self.per_step:
            if n == 0 or n % self.per_step:
                raise Rejected('length', f'{n} ids is not a positive multiple of '
                               f'{self.per_step}')
            if len(dims) > 1 and dims[-1] != self.per_step:
                raise Rejected('layout', f'layout.dim {list(dims)} must end with '
                               f'{self.per_step} ids per step')
            if n // self.per_step > self.max_steps:
                raise Rejected('too_long', f'{n // self.per_step} steps in one message; '
                               f'max_queue_seconds allows {self.max_steps}')
            ids = np.asarray(data).reshape(-1, self.per_step)
        else:
            if n == 0:
                raise Rejected('length', 'no ids')
            if n > self.max_ids:
                raise Rejected('length', f'{n} ids cannot decode to one chunk of '
                               f'{self.max_ids} values')
            ids = np.asarray(data)
        outside = (ids < self.id_lo) | (ids > self.id_hi)
        if outside.any():
            raise Rejected('out_of_range', f'id {int(ids[outside][0])} outside the action '
                           f'range [{np.min(self.id_lo)}, {np.max(self.id_hi)}]')
        try:
            with np.errstate(over='ignore', invalid='ignore'):  # non-finite is rejected below
                actions = self.tokenizer.decode_chunk(ids.reshape(-1))
        except Exception as exc:  # noqa: B902 - untrusted ids into any tokenizer: never crash
            reason = getattr(exc, 'reason', 'invalid')
            raise Rejected(reason if reason in REASONS else 'invalid',
                           f'{type(exc).__name__}: {exc}') from None
        if actions.ndim != 2 or actions.shape[1] != self.dim:
            raise Rejected('invalid', f'decoded shape {actions.shape}, expected (T, {self.dim})')
        if len(actions) > self.max_steps:
            raise Rejected('too_long', f'{len(actions)} decoded steps; max_queue_seconds '
                           f'allows {self.max_steps}')
        if not np.isfinite(actions).all():
            raise Rejected('non_finite', 'the decoded action is not finite')
        return actions
