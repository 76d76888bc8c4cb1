"""
Cutting episodes into chunks, and measuring how much of a codebook chunks use.

Shared by the chunk tokenizers (FAST, FAST-format, VQ), their training and analysis,
so none of them imports another for a helper; also the one throttled warning of a
relaxed FAST decode.
"""

import time
import warnings

import numpy as np
from robotok_ros.errors import DataError
from robotok_ros.fitting import stack_episodes

LENGTH_WARN_PERIOD = 10.0  # seconds between two LengthFixWarnings of one tokenizer


class LengthFixWarning(UserWarning):
    """Token sequences did not make exactly one chunk and were padded or cut (relaxed)."""


def warn_length_fix(tok, what, count, fixes=1):
    """
    Count ``fixes`` relaxed sequences on ``tok``; warn at most once per LENGTH_WARN_PERIOD.

    ``what`` begins the message (which tokenizer, which sequence) and ``count`` is
    the coefficient count it held. One warning per message would grow memory and
    logs without bound (Python keeps every distinct warning it has shown).
    """
    tok.length_fixes, now = tok.length_fixes + fixes, time.monotonic()
    if tok._last_warn is None or now - tok._last_warn >= LENGTH_WARN_PERIOD:
        n, since = tok.chunk_steps * tok.dim, tok.length_fixes - tok._warned_fixes
        tok._last_warn, tok._warned_fixes = now, tok.length_fixes
        warnings.warn(f'{what} {count} DCT coefficients, not {tok.chunk_steps} x {tok.dim} = '
                      f'{n}; {"padded with zeros" if count < n else "cut"}; {since} sequence(s) '
                      f'fixed since the last warning, {tok.length_fixes} in all',
                      LengthFixWarning, stacklevel=5)


def sliding_chunks(episodes, chunk_steps, stride=1):
    """
    Cut episodes (a list of ``(T, D)`` arrays) into windows ``(N, H, D)``.

    Windows start every ``stride`` steps; an episode shorter than H gives one
    window padded by repeating its last action (a robot holding still).
    """
    if isinstance(episodes, np.ndarray):
        episodes = [episodes]
    out = []
    for i, ep in enumerate(episodes):
        arr = np.asarray(ep, dtype=np.float64)
        if arr.ndim != 2 or len(arr) == 0:
            raise DataError(f'episode {i} must have shape (T, D) with T > 0, got {arr.shape}')
        if len(arr) < chunk_steps:
            arr = np.concatenate([arr, np.repeat(arr[-1:], chunk_steps - len(arr), axis=0)])
        starts = np.arange(0, len(arr) - chunk_steps + 1, stride)
        out.append(arr[starts[:, None] + np.arange(chunk_steps)])
    if not out:
        raise DataError('no episodes to cut into chunks')
    return np.concatenate(out)


def chunk_episodes(episodes, steps, dim, stride=None):
    """
    Cut episodes (list of ``(T, D)``) into chunks ``(N, steps, D)`` float64.

    ``stride`` defaults to ``steps`` (non-overlapping, as a policy emits them);
    a tail shorter than ``steps`` is dropped.
    """
    stride = steps if stride is None else stride
    stack_episodes(episodes, dim)  # validates shapes and finiteness
    out = []
    for ep in ([episodes] if isinstance(episodes, np.ndarray) else episodes):
        arr = np.asarray(ep, dtype=np.float64)
        if arr.shape[0] >= steps:
            win = np.lib.stride_tricks.sliding_window_view(arr, steps, axis=0)[::stride]
            out.append(np.swapaxes(win, 1, 2))
    if not out:
        raise DataError(f'no episode has the {steps} steps one chunk needs')
    return np.ascontiguousarray(np.concatenate(out))


def usage(counts):
    """
    Return ``(fraction used, perplexity)`` of each level from code counts ``(R, C)``.

    Perplexity is ``exp(entropy)`` of the code histogram: C when every code is
    equally likely, 1 when one code takes everything.
    """
    counts = np.asarray(counts, dtype=np.float64)
    used = (counts > 0).mean(axis=1)
    probs = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    logs = np.log(np.where(probs > 0, probs, 1.0))
    perplexity = np.exp(-(probs * logs).sum(axis=1))
    return used, perplexity
