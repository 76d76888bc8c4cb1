"""
DCT + BPE with a quantisation table fitted from data: FAST's pipeline, JPEG's lesson.

FAST (Pertsch et al., 2025, arXiv:2501.09747; ``fast.py``) multiplies every
DCT coefficient by one scale before rounding.  JPEG (Wallace, 1991, "The JPEG
still picture compression standard", CACM 34(4)) divides coefficient (k, d)
by its own entry of a quantisation table.  Here that table, ``steps`` of
shape ``(H, D)``, is fitted on training chunks for a target error by
rate-distortion optimal bit allocation (Shoham and Gersho, 1988, "Efficient
bit allocation for an arbitrary set of quantizers", IEEE TASSP 36(9); Everett
1963, the Lagrangian method): every coefficient (k, d) of the normalised
chunks is quantised with each step of a geometric grid (ratio 2^(1/4), from
the finest step its alphabet allows to one that zeroes it always); rate R is
the empirical entropy of its symbols (bits), distortion D their mean squared
error.  Per dimension d a multiplier lambda_d is found by bisection so that
choosing, for every k, the step minimising R + lambda_d * D keeps the mean
over k of D (the dimension's MSE over a chunk, the DCT being orthonormal)
within ``target_rmse`` squared.  A coefficient the data hardly uses is
zeroed (unless ``max_step`` caps the step: by default at twice the uniform
step, since a coefficient rare in training may matter on held-out episodes);
a dimension that moves little gets coarse steps; the others the finest step
the target needs.  ``rounding`` below 0.5 widens the dead zone
around 0 (the uniform threshold quantiser of H.264), which the fit accounts
for.

Decoding cannot fail on a whole sequence: each integer in [-M, M] is one
symbol of the BPE base alphabet (``symbol_bpe.py``), M is the largest
|coefficient| / step any clipped chunk can reach (an orthonormal basis vector
has L1 norm <= sqrt(H)), so no coefficient clips, and any H x D symbols decode
to a finite chunk inside the action box.  Encoding, the strict/relaxed length
check and the BPE are ``FASTTokenizer``'s; the table and M are state in
``state.safetensors`` beside the BPE, never settings.  Before fitting the
table is uniform (FAST with scale 1 / (sqrt(12) target_rmse)).
"""

from dataclasses import dataclass
import math
from typing import Optional

import numpy as np
from robotok_ros.errors import ConfigError, TokenizerStateError
from robotok_ros.fitting import stack_episodes
from robotok_ros.tokenizers.base import ActionTokenizer
from robotok_ros.tokenizers.chunking import sliding_chunks
from robotok_ros.tokenizers.fast import FASTTokenizer
from robotok_ros.tokenizers.settings import Capabilities, NORMALIZATIONS, setting, Settings
from robotok_ros.tokenizers.symbol_bpe import MAX_SYMBOL_CLIP, SymbolBPE
from scipy.fft import dct, idct

GRID_RATIO = 2.0 ** 0.25
DROP_FACTOR = 4.0  # a step this many times a coefficient's bound always rounds it to 0


@dataclass(frozen=True)
class DCTTableSettings(Settings):
    """DCT + BPE with a fitted step table: chunk, target error, quantiser, BPE, normalisation."""

    chunk_steps: int = setting(10, 'Steps per chunk (the time horizon H).', lo=1, hi=1000,
                               alias=('H', 'K'))
    target_rmse: float = setting(0.03, 'Per-dimension RMSE the step table is fitted for, in '
                                 'half-ranges of the normalisation.', lo=1e-4, hi=1.0,
                                 alias=('T', 'target'))
    rounding: float = setting(0.5, 'Quantiser rounding offset: 0.5 rounds to nearest, less '
                              'widens the dead zone around 0.', lo=0.0, hi=0.5)
    max_step: Optional[float] = setting(2.0, 'Coarsest step, in uniform steps sqrt(12) x '
                                        'target_rmse (null: a coefficient may be zeroed).',
                                        lo=1.0, optional=True)
    max_coeff: int = setting(255, 'Largest coefficient symbol magnitude M the table may need.',
                             lo=1, hi=MAX_SYMBOL_CLIP)
    vocab: int = setting(1024, 'Target BPE vocabulary size.', lo=3, hi=2 ** 20, alias=('V',))
    vocab_offset: int = setting(0, 'Id of the first action token.', lo=0, hi=2 ** 40)
    normalization: str = setting('range', 'Normalise by the profile range or by q01/q99.',
                                 choices=NORMALIZATIONS)
    norm_clip: Optional[float] = setting(None, 'Clip normalised values to this many '
                                         'half-ranges (null: no clip).', lo=1.0, optional=True)
    stride: int = setting(1, 'Fit on every stride-th window.', lo=1, hi=10 ** 6)

    def __post_init__(self):
        """Check each field, then that the base alphabet fits the vocabulary."""
        super().__post_init__()
        if self.vocab < 2 * self.max_coeff + 1:
            raise ConfigError(f'vocab {self.vocab} is smaller than the base alphabet of '
                              f'max_coeff {self.max_coeff}: vocab must be >= '
                              f'{2 * self.max_coeff + 1} (or lower max_coeff)')


def quantise(coeffs, steps, rounding):
    """Coefficients ``(..., H, D)`` -> integer symbols, step table ``steps: (H, D)``."""
    mag = np.floor(np.abs(coeffs) / steps + rounding)
    return (np.sign(coeffs) * mag).astype(np.int64)


def entropy_bits(symbols):
    """Return the empirical entropy in bits of each column of ``symbols: (N, C)``, ``(C,)``."""
    out = np.empty(symbols.shape[1])
    for c in range(symbols.shape[1]):
        counts = np.unique(symbols[:, c], return_counts=True)[1]
        p = counts / counts.sum()
        out[c] = -(p * np.log2(p)).sum()
    return out


def fit_steps(coeffs, target_mse, floor, drop, rounding):
    """
    Fit the step table for normalised DCT coefficients ``coeffs: (N, H, D)``.

    ``floor``/``drop``: ``(H, D)``, the finest step allowed and one that zeroes
    the coefficient.  Returns ``(steps (H, D), fitted MSE per dimension (D,))``.
    """
    n, h, dim = coeffs.shape
    count = int(math.ceil(math.log(drop.max() / floor.min()) / math.log(GRID_RATIO))) + 1
    grid = floor.min() * GRID_RATIO ** np.arange(count)
    steps, mse = np.empty((h, dim)), np.empty(dim)
    for d in range(dim):
        # Candidates per k: the grid within [floor, drop), then drop itself.
        cand = [np.append(grid[(grid >= floor[k, d]) & (grid < drop[k, d])], drop[k, d])
                for k in range(h)]
        rate, dist = [], []
        for k in range(h):
            c = coeffs[:, k, d][:, None]
            sym = quantise(c, cand[k][None, :], rounding)
            rate.append(entropy_bits(sym))
            dist.append(((c - sym * cand[k][None, :]) ** 2).mean(axis=0))

        def choose(lam):
            # On a tie the coarsest step: the same cost now, a zero more often held out.
            picks = [len(r) - 1 - int(np.argmin((r + lam * e)[::-1]))
                     for r, e in zip(rate, dist)]
            return picks, float(np.mean([e[p] for e, p in zip(dist, picks)]))

        lo, hi = 1e-3, 1e12
        picks, err = choose(hi)
        if err <= target_mse:
            for _ in range(60):  # bisection on log lambda: the cheapest table within target
                mid = math.sqrt(lo * hi)
                p, e = choose(mid)
                if e <= target_mse:
                    hi, picks, err = mid, p, e
                else:
                    lo = mid
        steps[:, d] = [cand[k][p] for k, p in enumerate(picks)]
        mse[d] = err
    return steps, mse


class DCTTableTokenizer(FASTTokenizer):
    """
    Chunks ``(H, D)`` <-> BPE ids over DCT coefficients quantised by a fitted ``(H, D)`` table.

    The interface is ``FASTTokenizer``'s (variable-length id sequences, strict or
    relaxed decoding); ``steps`` is the table, ``coeff_clip`` the alphabet's M.
    """

    kind = 'dct_table'
    capabilities = Capabilities(per_step=False, exact_table=False, needs_fit=True,
                                fixed_length=False, default_ranges='data')
    settings_class = DCTTableSettings
    train_command = 'DCTTableTokenizer(profile, ...).fit(episodes).save(path)'

    def __init__(self, profile, **settings):
        ActionTokenizer.__init__(self, profile, **settings)
        c = self.config
        self.chunk_steps, self.vocab_offset, self.vocab = c.chunk_steps, c.vocab_offset, c.vocab
        self.normalization, self.norm_clip = c.normalization, c.norm_clip
        self.rounding = c.rounding
        self._set_normalization()
        h = self.chunk_steps
        self._basis = idct(np.eye(h), axis=0, norm='ortho')  # (H steps, H coefficients)
        # Largest |coefficient| of a clipped, normalised chunk: L1 norm of its basis vector x B_d.
        box = np.maximum(np.abs(self._box_lo - self._centre),
                         np.abs(self._box_hi - self._centre)) / self._half
        self._bound = np.abs(self._basis).sum(axis=0)[:, None] * box[None, :]  # (H, D)
        self._floor = self._bound / c.max_coeff * (1 + 1e-9)
        self._drop = DROP_FACTOR * self._bound
        if c.max_step is not None:  # a coefficient rare in training may matter held out
            coarsest = c.max_step * math.sqrt(12.0) * c.target_rmse
            self._drop = np.minimum(self._drop, np.maximum(self._floor * GRID_RATIO, coarsest))
        self.coeff_clip_counts = np.zeros(self.dim, dtype=np.int64)
        self.last_coeff_clip_counts = np.zeros(self.dim, dtype=np.int64)
        self.length_fixes = 0
        self._warned_fixes, self._last_warn = 0, None
        uniform = np.full((h, self.dim), math.sqrt(12.0) * c.target_rmse)
        self._set_steps(np.maximum(uniform, self._floor))
        self._bpe = SymbolBPE.base(self.coeff_clip)
        self.fitted_mse = None

    def _set_steps(self, steps, source=None):
        need = int(np.ceil((self._bound / steps).max() - 1e-9))
        if need > self.config.max_coeff:
            raise TokenizerStateError(f'{source}: steps need coefficients up to {need} > '
                                      f'max_coeff {self.config.max_coeff}')
        self.steps, self.coeff_clip = steps, max(1, need)

    def error_bound(self):
        """
        Worst-case decode error per dimension, in action units, against the clipped chunk.

        Returns ``(rms, peak)``, each ``(D,)``: no coefficient clips, so each errs
        by at most ``steps x (1 - rounding)`` (or its bound, when zeroed).
        """
        per = np.minimum(self.steps * (1.0 - self.rounding), self._bound)
        rms = self._half * np.sqrt((per ** 2).mean(axis=0))
        return rms, rms * math.sqrt(self.chunk_steps)

    def _normalised_dct(self, chunks):
        clipped = np.clip(chunks, self._box_lo, self._box_hi)
        coef = dct((clipped - self._centre) / self._half, axis=1, norm='ortho')
        return coef, (clipped != chunks).sum(axis=(0, 1))

    def coefficients(self, chunks):
        """
        Chunks ``(B, H, D)`` -> integer symbols ``(B, H * D)``, low frequencies first.

        Returns ``(symbols, action_clips (D,), coeff_clips (D,))``.
        """
        coef, action_clips = self._normalised_dct(chunks)
        sym = quantise(coef, self.steps, self.rounding)
        m = self.coeff_clip
        coeff_clips = (np.abs(sym) > m).sum(axis=(0, 1))
        sym = np.clip(sym, -m, m)
        return sym.reshape(len(chunks), -1), action_clips, coeff_clips

    def _reconstruct(self, coeffs):
        """Symbols ``(B, H, D)`` -> clipped actions ``(B, H, D)``."""
        out = np.matmul(self._basis, coeffs * self.steps)
        out *= self._half
        out += self._centre
        return np.clip(out, self._box_lo, self._box_hi, out=out)

    def fit(self, episodes, progress=False):
        """Fit the step table, then the BPE, on every ``stride``-th window; returns self."""
        if isinstance(episodes, np.ndarray):
            episodes = [episodes]
        stack_episodes(episodes, self.dim)
        chunks = sliding_chunks(episodes, self.chunk_steps, self.config.stride)
        coef = self._normalised_dct(chunks)[0]
        steps, self.fitted_mse = fit_steps(coef, self.config.target_rmse ** 2, self._floor,
                                           self._drop, self.rounding)
        self._set_steps(steps, '<fit>')
        self._bpe = SymbolBPE.train(self.coefficients(chunks)[0], self.coeff_clip, self.vocab,
                                    progress)
        return self

    def state_arrays(self):
        """Return the BPE JSON, its SHA-256 and the step table ``steps: (H, D)`` float64."""
        return {**self._bpe.state_arrays(), 'steps': np.ascontiguousarray(self.steps)}

    def load_state(self, arrays, source='<arrays>'):
        """Restore the step table and the BPE after checking both."""
        steps = arrays.get('steps')
        shape = (self.chunk_steps, self.dim)
        if steps is None or steps.dtype != np.float64 or steps.shape != shape:
            got = 'none' if steps is None else f'{steps.dtype} {steps.shape}'
            raise TokenizerStateError(f'{source}: needs a float64 array steps of shape {shape}, '
                                      f'got {got}')
        if not np.all(np.isfinite(steps)) or not np.all(steps > 0):
            raise TokenizerStateError(f'{source}: steps must be finite and > 0')
        self._set_steps(steps.copy(), source)
        self._bpe = SymbolBPE.from_state(arrays, self.coeff_clip, source)
