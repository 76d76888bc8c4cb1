"""
token_decoder's inputs beside token ids: RT-2 text actions and continuous chunks.

- Text (``TextCheck``): RT-2 detokenizes an action to ``"1 128 91 241 5 101 127
  217"``: RT-1's ``terminate_episode`` token, then one bin per dimension.  RT-1
  keeps ``terminate_episode`` as a one-hot over (terminate, move arm, move base)
  and writes its argmax as the token, so 0 ends the episode and 1 is a moving
  step (SimplerEnv's RT-1 loop: ``terminate_episode[0] > 0`` ends it; RT-2's
  own example above is a moving step).  ``terminate_value`` picks the value
  that ends it (0, RT-1's convention, or 1); the other one moves, anything
  else is rejected.  A terminate disables motion (a zero command, the queue
  dropped; ``~/enable`` starts the next episode).  Parsing is strict: 1 + D
  decimal integers without signs or leading zeros, single spaces between them
  (surrounding whitespace allowed).  The bins become the tokenizer's own ids
  and pass ``TokenCheck``, so a bin outside ``n_bins`` is ``out_of_range``.
- Chunks (``ChunkCheck``): T x D floats in the profile's units, or normalised
  and un-normalised with stats as openpi does (``mean_std``: ``x (std + 1e-6)
  + mean``; ``q01_q99``: ``(x + 1) / 2 (q99 - q01 + 1e-6) + q01``; a stats
  ``mask`` leaves dimensions as they are).  Every check rejects, none repairs:
  layout, length, too_long, non_finite, and out_of_range outside the profile's
  [min, max] (beyond float32 rounding).
"""

import json
import math
from pathlib import Path
import re

import numpy as np
from robotok_ros.errors import ConfigError
from robotok_ros.runtime.commands import Command
from robotok_ros.runtime.token_check import Rejected

NORMALIZATIONS = ('none', 'mean_std', 'q01_q99')
STATS_KEYS = {'mean_std': ('mean', 'std'), 'q01_q99': ('q01', 'q99')}
EPS = 1e-6  # openpi's Unnormalize
TOLERANCE = 1e-6  # of a dimension's span: float32 rounding of a value at its bound
# A terminate: the core disabled motion; the node sends a zero command.
END = Command([], [0.0] * 3, [0.0] * 3, None, False, stop=True)
TEXT = re.compile(r'(?:0|[1-9][0-9]{0,9})(?: (?:0|[1-9][0-9]{0,9}))*', re.ASCII)


class TextCheck:
    """RT-2 text ``'flag b1 .. bD'`` -> actions (1, D), END on a terminate, else Rejected."""

    def __init__(self, tokenizer, checker, terminate_value=0):
        ranges = getattr(tokenizer, 'dimension_id_ranges', None)
        if ranges is None or tokenizer.tokens_per_step != checker.dim:
            raise ConfigError(f'parameter text_topic needs a binning tokenizer (uniform, rt1, '
                              f'quantile) to map bins to ids, got {tokenizer.kind}')
        if terminate_value not in (0, 1):
            raise ConfigError(f'parameter text_terminate_value must be 0 or 1, got '
                              f'{terminate_value!r}')
        self.checker, self.dim, self.terminate = checker, checker.dim, terminate_value
        self.lo = [lo for lo, _ in ranges()]
        self.bins = [hi - lo + 1 for lo, hi in ranges()]
        self.max_chars = 64 + 12 * (1 + self.dim)

    def check(self, text):
        """Return actions (1, D) of one text action, END for a terminate; else Rejected."""
        if len(text) > self.max_chars or not TEXT.fullmatch(text.strip()):
            raise Rejected('text_format', f'{text[:40]!r}{"..." if len(text) > 40 else ""} '
                           'is not decimal integers separated by single spaces')
        values = [int(v) for v in text.split()]
        if len(values) != 1 + self.dim:
            raise Rejected('length', f'{len(values)} integers; expected 1 + {self.dim} '
                           '(terminate flag, then one bin per dimension)')
        flag, bins = values[0], values[1:]
        if flag not in (0, 1):
            raise Rejected('text_format', f'terminate flag {flag}: must be 0 or 1 '
                           f'({self.terminate} ends the episode)')
        for d, (b, n) in enumerate(zip(bins, self.bins)):
            if b >= n:
                raise Rejected('out_of_range', f'bin {b} of dimension {d} outside [0, {n - 1}]')
        if flag == self.terminate:
            return END
        return self.checker.check([lo + b for lo, b in zip(self.lo, bins)])


def _stats_node(obj):
    """Descend openpi / LeRobot / OpenVLA stats files to the dict of the actions' stats."""
    for _ in range(4):
        if not isinstance(obj, dict):
            break
        for key in ('norm_stats', 'actions', 'action'):  # openpi, openpi, LeRobot/OpenVLA
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
        else:
            values = list(obj.values())
            if len(values) == 1 and isinstance(values[0], dict):  # OpenVLA: one dataset key
                obj = values[0]
            else:
                break
    return obj


def load_stats(source, normalization, dim):
    """
    Return ``(a, b, mask)`` arrays (D,) of ``normalization``'s stats.

    ``source``: a JSON file path or an inline JSON object: openpi ``norm_stats.json``,
    LeRobot ``stats.json``, OpenVLA ``dataset_statistics.json`` (one dataset) or a
    plain ``{"mean": [...], "std": [...]}`` / ``{"q01": [...], "q99": [...]}``.
    """
    what = f'parameter chunk_stats={source[:60]!r}'
    try:
        text = source if source.lstrip().startswith('{') else Path(source).read_text()
        obj = _stats_node(json.loads(text))
    except (OSError, ValueError) as exc:
        raise ConfigError(f'{what}: {type(exc).__name__}: {exc}') from None
    out = []
    for key in STATS_KEYS[normalization]:
        values = obj.get(key) if isinstance(obj, dict) else None
        try:
            arr = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            arr = np.zeros(0)
        if arr.shape != (dim,) or not np.isfinite(arr).all():
            raise ConfigError(f'{what}: {normalization} needs {key!r}: {dim} finite numbers, '
                              f'got {values!r:.80}')
        out.append(arr)
    mask = obj.get('mask', [True] * dim)
    if not (isinstance(mask, list) and len(mask) == dim and
            all(isinstance(m, bool) for m in mask)):
        raise ConfigError(f'{what}: mask must be {dim} booleans, got {mask!r:.80}')
    return out[0], out[1], np.array(mask)


class ChunkCheck:
    """T x D floats (the profile's units, or normalised) -> checked actions (T, D)."""

    def __init__(self, profile, max_steps, normalization='none', stats=''):
        if normalization not in NORMALIZATIONS:
            raise ConfigError(f'parameter chunk_normalization must be one of '
                              f'{", ".join(NORMALIZATIONS)}, got {normalization!r}')
        if (normalization == 'none') != (not stats):
            raise ConfigError(f'parameters chunk_normalization={normalization!r} and '
                              f'chunk_stats={stats[:60]!r}: set both or neither')
        self.dim, self.max_steps = profile.dim, int(max_steps)
        self.lo = np.array([d.low for d in profile.dimensions])
        self.hi = np.array([d.high for d in profile.dimensions])
        self.tol = TOLERANCE * (self.hi - self.lo)
        self.normalization = normalization
        if normalization != 'none':
            a, b, self.mask = load_stats(stats, normalization, self.dim)
            if normalization == 'mean_std':
                self.scale, self.shift = b + EPS, a
            else:
                self.scale, self.shift = (b - a + EPS) / 2, (b - a + EPS) / 2 + a

    def check(self, data, dims=(), offset=0):
        """Return the actions (T, D) of one message's floats ``data`` (T*D,), or Rejected."""
        n, d = len(data), self.dim
        if offset or (dims and math.prod(int(s) for s in dims) != n):
            raise Rejected('layout', f'layout.dim {list(dims)} (data_offset {offset}) does '
                           f'not describe {n} values')
        if n == 0 or n % d:
            raise Rejected('length', f'{n} values is not a positive multiple of {d}')
        if len(dims) > 1 and dims[-1] != d:
            raise Rejected('layout', f'layout.dim {list(dims)} must end with {d} values '
                           'per step')
        if n // d > self.max_steps:
            raise Rejected('too_long', f'{n // d} steps in one message; max_queue_seconds '
                           f'allows {self.max_steps}')
        with np.errstate(invalid='ignore'):  # a signalling NaN warns in the cast: rejected
            arr = np.asarray(data, dtype=np.float64).reshape(-1, d)
        if not np.isfinite(arr).all():
            raise Rejected('non_finite', 'the chunk has a NaN or infinite value')
        if self.normalization != 'none':
            arr = np.where(self.mask, arr * self.scale + self.shift, arr)
        outside = (arr < self.lo - self.tol) | (arr > self.hi + self.tol)
        if outside.any():
            t, i = (int(v[0]) for v in np.nonzero(outside))
            raise Rejected('out_of_range', f'value {arr[t, i]:g} (step {t}, dimension {i}) '
                           f'outside the profile range [{self.lo[i]:g}, {self.hi[i]:g}]')
        return np.clip(arr, self.lo, self.hi)
