"""
Teleop steps -> token messages: per-step or per-chunk encoding, clip counting, step labels.

Chunk tokenizers (VQ, FAST; FAST: Pertsch et al., 2025, arXiv:2501.09747)
take K consecutive steps per message; per-step tokenizers one step.  Every
message pair carries its first step index and stamp in the label of its first
layout dimension (``step=<i>;stamp=<ns>``), so tokens and actions can be
matched in a bag without relying on arrival order.
"""

from dataclasses import dataclass

import numpy as np

CLIP_WARN_FRACTION = 0.01


@dataclass(frozen=True)
class Emission:
    """One outgoing message pair: ``actions`` (T, D), ``tokens`` (N,), first step and stamp."""

    step: int
    stamp: float
    actions: np.ndarray
    tokens: np.ndarray


class TeleopEncoder:
    """
    Actions -> token messages: one per step, or one per chunk of ``chunk_steps``.

    Per-step tokenizers emit D ids every step.  Chunk tokenizers (VQ, FAST)
    collect K consecutive steps and emit ``encode_chunk((K, D))``; a dead-man
    release drops an unfinished chunk (``dropped_steps``) rather than pad it
    with motion the operator never made.
    """

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.chunk = max(1, int(getattr(tokenizer, 'chunk_steps', 1) or 1))
        self.clips = ClipMonitor(tokenizer.dim)
        self._buffer = []
        self.dropped_steps = 0

    def push(self, step, stamp, action):
        """Add one step's action ``(D,)``; return an Emission when a message is due, else None."""
        if not self._buffer:
            self._start = (step, stamp)
        self._buffer.append(np.asarray(action, dtype=np.float64))
        if len(self._buffer) < self.chunk:
            return None
        actions = np.stack(self._buffer)
        self._buffer = []
        tokens = np.asarray(self.tokenizer.encode_chunk(actions), dtype=np.int64)
        self.clips.update(self.tokenizer.last_clip_counts, len(actions))
        return Emission(self._start[0], self._start[1], actions, tokens)

    def interrupt(self):
        """Drop an unfinished chunk (dead-man released)."""
        self.dropped_steps += len(self._buffer)
        self._buffer = []


class ClipMonitor:
    """Per-dimension clip counts and the throttled 'ranges do not fit' warning (> 1 %)."""

    def __init__(self, dim, fraction=CLIP_WARN_FRACTION, period_s=5.0):
        self.counts = np.zeros(dim, dtype=np.int64)
        self.samples = 0
        self.fraction = fraction
        self.period_s = period_s
        self._last_warn = None

    def update(self, clipped, n_samples):
        """Add the clip counts ``(D,)`` of ``n_samples`` encoded steps."""
        self.counts = self.counts + np.asarray(clipped, dtype=np.int64)
        self.samples += int(n_samples)

    def rates(self):
        """Return the clipped fraction per dimension ``(D,)``."""
        return self.counts / max(1, self.samples)

    def warning(self, now, names):
        """Return a warning when a dimension clips > 1 % and none was given lately, else None."""
        over = np.flatnonzero(self.rates() > self.fraction)
        if not over.size:
            return None
        if self._last_warn is not None and now - self._last_warn < self.period_s:
            return None
        self._last_warn = now
        parts = ', '.join(f'{names[i]} {100 * self.rates()[i]:.1f}%' for i in over)
        return (f'teleop actions clip in {parts} of {self.samples} samples: the profile '
                'ranges do not fit this operator (lower the scales or widen the ranges)')
