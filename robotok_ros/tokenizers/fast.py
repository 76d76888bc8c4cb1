"""
DCT + BPE action chunk tokenizer, FAST-style, that always decodes to a whole chunk.

FAST (Pertsch et al., 2025, arXiv:2501.09747): normalise a chunk of H steps
to [-1, 1], take the orthonormal DCT-II along time per dimension, multiply by
a scale, round, flatten low frequencies first (every dimension's coefficient
0, then 1, ...) and compress the integer sequence with BPE.

The reference maps integers to text and trains a byte-level BPE; a
coefficient never seen while fitting is then silently dropped, and 3-20 % of
chunks decode to the wrong length.  Here each integer in the clipped range
[-M, M] is one character of the Unicode private use area, all 2M + 1 of them
are in the BPE base alphabet, and coefficients are clipped to [-M, M]
(counted), so every chunk encodes and decodes to exactly H x D coefficients.
Actions are first clipped to the profile's range (and, with ``norm_clip``, to
that many half-ranges of the normalisation around its centre; useful with
``normalization='quantile'`` when min/max hold rare glitches), counted in
``clip_counts``.  With the default M = ceil(scale * sqrt(H) * B) (B = largest
normalised value that box allows; 1 for ``normalization='range'``) no
coefficient of a clipped chunk can exceed M, because an orthonormal basis
vector has L1 norm <= sqrt(H).  The rounding error e (|e| <= 0.5 per coefficient) then maps back
through the orthonormal inverse DCT to at most ``0.5 / scale`` RMS over a
chunk and ``0.5 sqrt(H) / scale`` at any step, times the half-range of the
normalisation (see ``error_bound``).

Decoding is strict: ids that do not make exactly H x D coefficients raise
``ChunkLengthError`` (reason ``length``).  ``relaxed=True`` pads or cuts like
LeRobot, counted in ``length_fixes`` and warned at most once per
``LENGTH_WARN_PERIOD`` s (one warning per message grows memory and logs).

Decoding needs only numpy and scipy; HF ``tokenizers`` is imported to fit and
to encode.  The learned BPE (``symbol_bpe.py``) is saved as HF
``Tokenizer.to_str()`` JSON inside ``state.safetensors`` with its SHA-256;
loading rebuilds a bare BPE model from the validated vocabulary and merges, so
no saved normaliser, pre-tokeniser or code is ever used.
"""

from dataclasses import replace
import math

import numpy as np
from robotok_ros.errors import ConfigError, InvalidTokenError
from robotok_ros.fitting import stack_episodes
from robotok_ros.tokenizers.base import ActionTokenizer, check_actions
# LengthFixWarning and LENGTH_WARN_PERIOD are re-exported: one warning class for both FAST kinds.
from robotok_ros.tokenizers.chunking import LENGTH_WARN_PERIOD, LengthFixWarning, \
    sliding_chunks, warn_length_fix  # noqa: F401
from robotok_ros.tokenizers.settings import Capabilities, FASTSettings
from robotok_ros.tokenizers.symbol_bpe import MAX_SYMBOL_CLIP, SymbolBPE
from scipy.fft import dct, idct

MAX_COEFF_CLIP = MAX_SYMBOL_CLIP


class ChunkLengthError(InvalidTokenError):
    """A token sequence does not decode to exactly chunk_steps x D coefficients."""

    reason = 'length'


class FASTTokenizer(ActionTokenizer):
    """
    Chunks ``(H, D)`` <-> variable-length BPE id sequences over DCT coefficients.

    ``encode`` of one chunk returns ``(N,)`` int64; of a batch ``(B, H, D)`` a
    list of B int64 arrays (lengths differ).  ``decode`` takes one sequence
    (-> ``(H, D)``) or a list / 2-D array of sequences (-> ``(B, H, D)``).
    Ids are ``vocab_offset + BPE id``.  ``vocab`` is the BPE's target size;
    ``vocab_size`` is what fitting reached (2M + 1 before fitting, when every
    coefficient is its own token; less than ``vocab`` when pairs run out).
    """

    kind = 'fast'
    capabilities = Capabilities(per_step=False, exact_table=False, needs_fit=True,
                                fixed_length=False, default_ranges='profile')
    settings_class = FASTSettings
    train_command = 'robotok train-bpe'

    def __init__(self, profile, **settings):
        super().__init__(profile, **settings)
        c = self.config
        self.chunk_steps, self.scale, self.vocab_offset = c.chunk_steps, c.scale, c.vocab_offset
        self.normalization, self.norm_clip = c.normalization, c.norm_clip
        self._set_normalization()
        bound = math.ceil(self.scale * math.sqrt(self.chunk_steps) * self._norm_bound)
        coeff_clip = c.coeff_clip
        if coeff_clip is None:
            if bound > MAX_COEFF_CLIP:
                raise ConfigError(f'scale {self.scale} x sqrt(chunk_steps {self.chunk_steps}) x '
                                  f'{self._norm_bound:.3g} (largest normalised value) needs '
                                  f'coefficients up to {bound} > {MAX_COEFF_CLIP}; lower scale, '
                                  'set norm_clip or give coeff_clip')
            coeff_clip = bound
        # The resolved clip is saved: a loaded tokenizer needs no ranges to know its alphabet.
        self.config = c = replace(c, coeff_clip=coeff_clip)
        self.coeff_clip, self.vocab = c.coeff_clip, c.vocab
        if self.vocab < 2 * self.coeff_clip + 1:
            raise ConfigError(f'vocab {self.vocab} is smaller than the base alphabet: every '
                              f'coefficient in [-{self.coeff_clip}, {self.coeff_clip}] needs a '
                              f'token, so vocab must be >= {2 * self.coeff_clip + 1} (or lower '
                              'scale / norm_clip / coeff_clip)')
        self._inverse = idct(np.eye(self.chunk_steps), axis=0, norm='ortho') / self.scale
        self.coeff_clip_counts = np.zeros(self.dim, dtype=np.int64)
        self.last_coeff_clip_counts = np.zeros(self.dim, dtype=np.int64)
        self.length_fixes = 0
        self._warned_fixes, self._last_warn = 0, None
        self._bpe = SymbolBPE.base(self.coeff_clip)

    # -- normalisation and coefficients ----------------------------------------------------
    def _set_normalization(self):
        p = self.profile
        if self.normalization == 'quantile':
            missing = [d.name for d in p.dimensions if d.q01 is None]
            if missing:
                raise ConfigError(f'{p.source or p.name}: normalization quantile needs q01/q99 '
                                  f'for dimension {missing[0]}; fit the profile on data first')
            lo = np.array([d.q01 for d in p.dimensions])
            hi = np.array([d.q99 for d in p.dimensions])
        else:
            lo, hi = p.lows, p.highs
        self._centre, self._half = 0.5 * (lo + hi), 0.5 * (hi - lo)
        # Actions are clipped to this box: the profile's range, within norm_clip half-ranges.
        self._box_lo, self._box_hi = p.lows, p.highs
        if self.norm_clip is not None:
            self._box_lo = np.maximum(p.lows, self._centre - self.norm_clip * self._half)
            self._box_hi = np.minimum(p.highs, self._centre + self.norm_clip * self._half)
        self._norm_bound = float(np.max(np.maximum(np.abs(self._box_lo - self._centre),
                                                   np.abs(self._box_hi - self._centre))
                                        / self._half))

    def value_ranges(self):
        """
        Return the normalisation's centre +- half as span and the clip box as box.

        The normalisation (range or q01/q99) sets the resolution; the box (the
        profile's range, within norm_clip half-ranges) what is kept.
        """
        span = (self._centre - self._half, self._centre + self._half)
        return span, (self._box_lo, self._box_hi)

    @classmethod
    def quantile_needs(cls, settings, profile):
        """Return every dimension when normalised by q01/q99, else None."""
        if settings.get('normalization') == 'quantile':
            return profile.dimensions, 'normalization=quantile'
        return None

    def error_bound(self):
        """
        Worst-case decode error per dimension, in action units, against the clipped chunk.

        Returns ``(rms, peak)``, each ``(D,)``: the RMS over a chunk's H steps and
        the largest error at one step, valid while no coefficient clips (always
        with the default ``coeff_clip``).
        """
        rms = self._half * 0.5 / self.scale
        return rms, rms * math.sqrt(self.chunk_steps)

    def _check_chunks(self, actions):
        arr = check_actions(actions, self.dim)
        if arr.ndim not in (2, 3) or arr.shape[-2] != self.chunk_steps:
            raise InvalidTokenError(f'a fast chunk must have shape ({self.chunk_steps}, '
                                    f'{self.dim}) '
                                    f'or (B, {self.chunk_steps}, {self.dim}), got {arr.shape}')
        return arr

    def coefficients(self, chunks):
        """
        Chunks ``(B, H, D)`` -> clipped integer coefficients ``(B, H * D)``, low first.

        Returns ``(coeffs, action_clips (D,), coeff_clips (D,))``.
        """
        clipped = np.clip(chunks, self._box_lo, self._box_hi)
        action_clips = (clipped != chunks).sum(axis=(0, 1))
        coef = np.rint(dct((clipped - self._centre) / self._half, axis=1, norm='ortho')
                       * self.scale)
        m = self.coeff_clip
        coeff_clips = (np.abs(coef) > m).sum(axis=(0, 1))
        coef = np.clip(coef, -m, m).astype(np.int64)
        return coef.reshape(len(chunks), -1), action_clips, coeff_clips

    # -- the verb set ------------------------------------------------------------------------
    def fit(self, episodes, progress=False):
        """Train the BPE on every ``stride``-th chunk-long window of ``episodes``; returns self."""
        if isinstance(episodes, np.ndarray):
            episodes = [episodes]
        stack_episodes(episodes, self.dim)
        chunks = sliding_chunks(episodes, self.chunk_steps, self.config.stride)
        self._bpe = SymbolBPE.train(self.coefficients(chunks)[0], self.coeff_clip, self.vocab,
                                    progress)
        return self

    def encode(self, actions):
        """Chunk ``(H, D)`` -> ids ``(N,)`` int64; batch ``(B, H, D)`` -> list of B arrays."""
        arr = self._check_chunks(actions)
        coeffs, action_clips, coeff_clips = self.coefficients(arr.reshape(-1, *arr.shape[-2:]))
        self._record_clips(action_clips)
        self.last_coeff_clip_counts = coeff_clips
        self.coeff_clip_counts = self.coeff_clip_counts + coeff_clips
        ids = self._bpe.encode(coeffs)
        for i in ids:
            i += self.vocab_offset
        return ids[0] if arr.ndim == 2 else ids

    def decode(self, tokens, relaxed=False):
        """One id sequence -> ``(H, D)``; a list / 2-D array -> ``(B, H, D)``; see above."""
        if not isinstance(tokens, (list, tuple)) and np.ndim(tokens) == 0:
            raise InvalidTokenError(f'tokens must be a sequence of ids, got {tokens!r}')
        single = isinstance(tokens, np.ndarray) and tokens.ndim == 1 or (
            isinstance(tokens, (list, tuple)) and not any(np.ndim(t) for t in tokens))
        seqs = [tokens] if single else list(tokens)
        if not seqs:
            raise InvalidTokenError('no token sequences to decode')
        out = self._decode_many(seqs, relaxed)
        return out[0] if single else out

    def encode_chunk(self, actions):
        """Actions ``(H, D)`` -> the flat id sequence one ROS message carries, ``(N,)``."""
        if np.ndim(actions) != 2:
            raise InvalidTokenError(f'encode_chunk takes one chunk ({self.chunk_steps}, '
                                    f'{self.dim}), '
                                    f'got shape {np.shape(actions)}')
        return self.encode(actions)

    def decode_chunk(self, ids, relaxed=False):
        """Flat ids ``(N,)`` from one message -> actions ``(H, D)``; see ``decode``."""
        return self._decode_many([np.asarray(ids).reshape(-1)], relaxed)[0]

    @property
    def vocab_size(self):
        """Return the number of BPE tokens (base alphabet + merges)."""
        return len(self._bpe)

    @property
    def id_range(self):
        """(vocab_offset, vocab_offset + vocab_size - 1)."""
        return self.vocab_offset, self.vocab_offset + self.vocab_size - 1

    @property
    def tokens_per_step(self):
        """Return None: ids cover whole chunks, their count varies."""
        return None

    @classmethod
    def upgrade_settings(cls, settings):
        """Return saved settings in today's names: ``horizon`` became ``chunk_steps``."""
        settings = dict(settings)
        if 'horizon' in settings and 'chunk_steps' not in settings:
            settings['chunk_steps'] = settings.pop('horizon')
        return settings

    # -- decoding ------------------------------------------------------------------------------
    def _checked_ids(self, seqs):
        """Return the sequences' ids, offset removed, concatenated ``(N,)`` and their lengths."""
        arrays = []
        for i, seq in enumerate(seqs):
            arr = np.asarray(seq)
            if arr.dtype.kind == 'f' and np.all(np.isfinite(arr)) and np.all(arr == np.rint(arr)):
                arr = arr.astype(np.int64)
            if arr.ndim != 1 or arr.dtype.kind not in 'iu':
                raise InvalidTokenError(f'sequence {i} must be a 1-D array of integer ids, got '
                                        f'shape {arr.shape} dtype {arr.dtype}')
            if arr.size == 0:
                raise InvalidTokenError(f'sequence {i} is empty: no chunk to decode')
            arrays.append(arr)
        ids = (arrays[0] if len(arrays) == 1 else np.concatenate(arrays)).astype(np.int64)
        lo, hi = self.id_range
        if ids.min() < lo or ids.max() > hi:
            for i, arr in enumerate(arrays):
                bad = np.flatnonzero((arr < lo) | (arr > hi))
                if bad.size:
                    raise InvalidTokenError(f'token id {int(arr[bad[0]])} at position ({i}, '
                                            f'{int(bad[0])}) is outside the action range '
                                            f'[{lo}, {hi}]')
        return ids - self.vocab_offset, [len(a) for a in arrays]

    def _decode_many(self, seqs, relaxed=False):
        ids, counts = self._checked_ids(seqs)
        symbols, lens = self._bpe.symbols(ids)
        n = self.chunk_steps * self.dim
        per_seq = (np.add.reduceat(lens, np.cumsum([0] + counts[:-1])) if len(counts) > 1
                   else np.array([len(symbols)]))
        if (per_seq == n).all():
            coeffs = symbols.reshape(len(counts), self.chunk_steps, self.dim)
        else:
            bad = np.flatnonzero(per_seq != n)
            if not relaxed:
                raise ChunkLengthError(f'fast: sequence {int(bad[0])} holds {per_seq[bad[0]]} '
                                       f'DCT coefficients, not {self.chunk_steps} x {self.dim}'
                                       f' = {n}: not one whole chunk (relaxed=True pads/cuts)')
            coeffs = np.zeros((len(counts), n), dtype=np.int64)
            starts = np.cumsum(per_seq) - per_seq
            for start, count, row in zip(starts, per_seq, coeffs):
                row[:min(count, n)] = symbols[start:start + min(count, n)]
            self._length_fix(int(bad[0]), int(per_seq[bad[0]]), len(bad))
            coeffs = coeffs.reshape(-1, self.chunk_steps, self.dim)
        return self._reconstruct(coeffs)

    def _reconstruct(self, coeffs):
        """Integer coefficients ``(B, H, D)`` -> clipped actions ``(B, H, D)``."""
        # Inverse DCT as one (H, H) matrix (scale folded in): cheaper than an FFT at these H.
        out = np.matmul(self._inverse, coeffs)
        out *= self._half
        out += self._centre
        return np.clip(out, self._box_lo, self._box_hi, out=out)

    def _length_fix(self, index, count, fixes):
        warn_length_fix(self, f'fast (relaxed): sequence {index} holds', count, fixes)

    # -- BPE state -----------------------------------------------------------------------------
    def bpe_json(self):
        """Return the BPE as HF ``Tokenizer.to_str()`` JSON (loadable with ``tokenizers``)."""
        return self._bpe.to_json()

    def state_arrays(self):
        """Return the BPE JSON as uint8 bytes and its SHA-256."""
        return self._bpe.state_arrays()

    def load_state(self, arrays, source='<arrays>'):
        """Restore the BPE after checking its checksum, JSON and alphabet."""
        self._bpe = SymbolBPE.from_state(arrays, self.coeff_clip, source)
