"""
Per-dimension binning tokenizers: RT-2 uniform, RT-1, quantile and OpenVLA.

- Uniform: RT-2 (Brohan et al., 2023, arXiv:2307.15818) discretises each
  dimension into N uniform bins over the profile's range; decode returns the
  bin centre, so the round-trip error of an in-range action is at most half a
  bin width.
- RT-1 (Brohan et al., 2022, arXiv:2212.06817; robotics_transformer
  ``action_tokenizer.py``): ``int((a - min) / (max - min) * (N - 1))`` and
  decode ``id / (N - 1) * (max - min) + min`` -- the lower bin edge, which
  returns ``max`` exactly for the top id.
- Quantile: edges fitted so each bin holds the same share of recorded actions.
- OpenVLA: see ``robotok_ros/tokenizers/openvla.py``.
"""

import numpy as np

from robotok_ros.fitting import fit_ranges, stack_episodes, zero_on_a_bin
from robotok_ros.tokenizers.base import (ActionTokenizer, check_actions, check_token_array,
                                         reject_out_of_range)
from robotok_ros.tokenizers.settings import BinningSettings, Capabilities

# Rows per block in the uniform fast path: 8192 x 7 float64 is ~0.5 MB, cache resident.
BLOCK_ROWS = 8192


def _flat(arr, dim):
    return arr.reshape(-1, dim)


class _IndexedBins(ActionTokenizer):
    """Shared id layout: bin b of dimension d has id ``offset + b (+ d * N if per_dimension)``."""

    settings_class = BinningSettings

    def __init__(self, profile, **settings):
        super().__init__(profile, **settings)
        self.n_bins, self.vocab_offset = self.config.n_bins, self.config.vocab_offset
        self.layout = self.config.layout
        step = self.n_bins if self.layout == 'per_dimension' else 0
        self._id_lo = self.vocab_offset + step * np.arange(self.dim, dtype=np.int64)
        self._id_hi = self._id_lo + self.n_bins - 1

    @property
    def vocab_size(self):
        """N ids shared by every dimension, or N x D disjoint ids."""
        return self.n_bins * (self.dim if self.layout == 'per_dimension' else 1)

    @property
    def id_range(self):
        """(offset, offset + vocab_size - 1)."""
        return self.vocab_offset, self.vocab_offset + self.vocab_size - 1

    def dimension_id_ranges(self):
        """Per-dimension (lo, hi) ids, inclusive: a list of D pairs."""
        return [(int(lo), int(hi)) for lo, hi in zip(self._id_lo, self._id_hi)]

    def _bins_of(self, tokens):
        ids = check_token_array(tokens, self.dim)
        flat = _flat(ids, self.dim)
        if flat.size and ((flat.min(axis=0) < self._id_lo).any()
                          or (flat.max(axis=0) > self._id_hi).any()):
            reject_out_of_range(ids, self._id_lo, self._id_hi)
        return ids


class UniformTokenizer(_IndexedBins):
    """RT-2 uniform bins over the profile's (min, max); decode to bin centres."""

    kind = 'uniform'
    capabilities = Capabilities(per_step=True, exact_table=True, needs_fit=False)
    # t = (a - min) / (max - min) * _span; t == _span is still in range (a == max).
    _edge_centre = 0.5

    def __init__(self, profile, **settings):
        super().__init__(profile, **settings)
        self._set_ranges()

    @staticmethod
    def _intervals(n_bins):
        return n_bins

    def _span(self):
        return float(self._intervals(self.n_bins))

    def _set_ranges(self):
        lo, hi = self.profile.lows, self.profile.highs
        span = self._span()
        self._scale = span / (hi - lo)
        self._bias = -lo * self._scale
        width = (hi - lo) / span
        self.bin_width = width
        # decode: value = lo + (bin + c) * width with bin = id - id_lo (exact in float64).
        self._dec_mul = width
        self._dec_add = lo + self._edge_centre * width
        self._scale_t, self._bias_t = self._tile(self._scale), self._tile(self._bias)
        self._dec_mul_t, self._dec_add_t = self._tile(width), self._tile(self._dec_add)
        self._id_lo_t = self._tile(self._id_lo, np.int64)
        self._has_offset = bool(self._id_lo.any())

    def fit(self, episodes, progress=False):
        """Set the profile's ranges to the data's min/max (and q01/q99)."""
        self.profile = fit_ranges(episodes, self.profile)
        self._set_ranges()
        return self

    @classmethod
    def data_profile(cls, actions, profile, settings):
        """Return the data's ranges, each straddling 0 widened (under a bin) so 0 decodes to 0."""
        fitted = fit_ranges(actions, profile)
        n_bins = settings.get('n_bins', cls.settings_class().n_bins)
        lows, highs = zero_on_a_bin(fitted.lows, fitted.highs, cls._intervals(n_bins),
                                    cls._edge_centre)
        quantiles = [d.q01 for d in fitted.dimensions], [d.q99 for d in fitted.dimensions]
        return fitted.with_ranges(lows, highs, *quantiles)

    def value_ranges(self):
        """Return the profile's (min, max) as both span and box: bins cover it and clip at it."""
        box = (self.profile.lows, self.profile.highs)
        return box, box

    def _tile(self, values, dtype=np.float64):
        # numpy broadcasts a (D,) operand over rows with an inner loop of only D elements;
        # operating on flat blocks against pre-tiled constants keeps every pass SIMD-wide.
        return np.tile(np.asarray(values, dtype=dtype), BLOCK_ROWS)

    def encode(self, actions):
        """Actions ``(..., D)`` -> ids ``(..., D)`` int64; out-of-range values clip (counted)."""
        arr = np.asarray(actions, dtype=np.float64)
        if arr.ndim == 0 or arr.shape[-1] != self.dim:
            check_actions(arr, self.dim)
        flat = np.ascontiguousarray(arr).reshape(-1)
        ids = np.empty(flat.shape, dtype=np.int64)
        clips = np.zeros(self.dim, dtype=np.int64)
        step = BLOCK_ROWS * self.dim
        # Blocks that fit in cache: the passes below then cost about one trip to memory.
        for start in range(0, len(flat), step):
            clips += self._encode_block(flat[start:start + step], ids[start:start + step])
        self._record_clips(clips)
        return ids.reshape(arr.shape)

    def _encode_block(self, block, out):
        n = len(block)
        t = np.multiply(block, self._scale_t[:n])
        t += self._bias_t[:n]
        # t is in bin units for every dimension, so whole-block reductions check the range;
        # per-dimension work happens only when something is out of range.
        lo, hi = t.min(), t.max()
        if not (np.isfinite(lo) and np.isfinite(hi)):
            check_actions(block.reshape(-1, self.dim), self.dim)
        # A value exactly at max lands on t == span; allow for its rounding.
        span = self._span() * (1 + 1e-12) + 1e-8  # + RT-1's 1e-9 nudge
        clips = 0
        if lo < -1e-9 or hi > span:
            mask = t < -1e-9
            mask |= t > span
            # Position in the flat block mod D is the dimension; few values clip, so this beats
            # a strided per-dimension sum.
            clips = np.bincount(np.flatnonzero(mask) % self.dim, minlength=self.dim)
        # In-range data never reaches n_bins (only a value exactly at max does): skip the pass.
        if lo < 0 or hi >= self.n_bins:
            np.clip(t, 0, self.n_bins - 1, out=t)
        out[...] = t  # float -> int64 truncation: floor, since t >= 0
        if self._has_offset:
            out += self._id_lo_t[:n]
        return clips

    def decode(self, tokens):
        """Ids ``(..., D)`` -> actions ``(..., D)`` float64 at bin centres (RT-1: lower edges)."""
        ids = check_token_array(tokens, self.dim)
        flat = np.ascontiguousarray(ids).reshape(-1)
        out = np.empty(flat.shape)
        step = BLOCK_ROWS * self.dim
        for start in range(0, len(flat), step):
            block = out[start:start + step]
            n = len(block)
            # Bin numbers as floats (exact below 2**53); their range checks every dimension.
            np.subtract(flat[start:start + step], self._id_lo_t[:n], out=block,
                        casting='unsafe')
            if block.min() < 0 or block.max() > self.n_bins - 1:
                reject_out_of_range(ids, self._id_lo, self._id_hi)
            block *= self._dec_mul_t[:n]
            block += self._dec_add_t[:n]
        return out.reshape(ids.shape)


class RT1Tokenizer(UniformTokenizer):
    """RT-1's formula: ``N - 1`` intervals, decode to the lower edge (``max`` for the top id)."""

    kind = 'rt1'
    _edge_centre = 0.0

    @staticmethod
    def _intervals(n_bins):
        return n_bins - 1

    def _set_ranges(self):
        super()._set_ranges()
        # Decoding lands exactly on a lower edge; a 1e-9-bin nudge keeps rounding from putting
        # it one bin down on re-encode (RT-1's own code has that off-by-one).
        self._bias = self._bias + 1e-9
        self._bias_t = self._tile(self._bias)


class QuantileTokenizer(_IndexedBins):
    """
    Bin edges at data quantiles: every bin holds the same share of the fitted actions.

    ``edges``: (D, N + 1), non-decreasing; decode returns the middle of a bin's edges.
    """

    kind = 'quantile'
    capabilities = Capabilities(per_step=True, exact_table=True, needs_fit=True,
                                ranges_choice=False)
    train_command = 'robotok fit --save-tokenizer'

    def __init__(self, profile, **settings):
        super().__init__(profile, **settings)
        # Until fitted, uniform edges over the profile's range.
        self._set_edges(np.linspace(self.profile.lows, self.profile.highs, self.n_bins + 1).T)

    def _set_edges(self, edges):
        self.edges = np.asarray(edges, dtype=np.float64)
        self.centres = 0.5 * (self.edges[:, :-1] + self.edges[:, 1:])

    def fit(self, episodes, progress=False):
        """Edges at quantiles ``linspace(0, 1, N + 1)`` of each dimension's data."""
        data = stack_episodes(episodes, self.dim)
        qs = np.linspace(0.0, 1.0, self.n_bins + 1)
        self._set_edges(np.quantile(data, qs, axis=0).T)
        return self

    def encode(self, actions):
        """Actions ``(..., D)`` -> ids ``(..., D)``; beyond the outer edges they clip (counted)."""
        arr = check_actions(actions, self.dim)
        out = np.empty(arr.shape, dtype=np.int64)
        clips = np.zeros(self.dim, dtype=np.int64)
        for d in range(self.dim):
            col = arr[..., d]
            clips[d] = np.count_nonzero((col < self.edges[d, 0]) | (col > self.edges[d, -1]))
            out[..., d] = self._bin_index(d, col)
        self._record_clips(clips)
        return out + self._id_lo

    def _bin_index(self, d, col):
        edges = self.edges[d]
        bins = np.searchsorted(edges[1:-1], col, side='right')
        # A value held by many samples (a binary gripper's -1/+1) ties several edges and gets
        # zero-width bins; send it to one of those, which decodes to the value itself, rather
        # than to the wide bin beside it whose middle lies between the two states.
        cand = np.searchsorted(edges[1:-1], col, side='left') + 1
        top = self.n_bins - 1
        safe = np.minimum(cand, top)
        tied = (cand <= top) & (edges[safe] == col) & (edges[safe + 1] == col)
        return np.where(tied, safe, bins)

    def decode(self, tokens):
        """Ids ``(..., D)`` -> the middle of each bin's edges."""
        bins = self._bins_of(tokens) - self._id_lo
        return self.centres[np.arange(self.dim), bins]

    def value_ranges(self):
        """Return the outer edges as both span and box: beyond them values clip."""
        box = (self.edges[:, 0], self.edges[:, -1])
        return box, box

    def state_arrays(self):
        """Return the fitted edges."""
        return {'edges': self.edges}

    def load_state(self, arrays, source='<arrays>'):
        """Restore edges, checking shape and order."""
        from robotok_ros.errors import TokenizerStateError
        edges = arrays.get('edges')
        want = (self.dim, self.n_bins + 1)
        if edges is None or edges.shape != want:
            got = None if edges is None else edges.shape
            raise TokenizerStateError(f'{source}: edges must have shape {want}, got {got}')
        if not np.isfinite(edges).all() or (np.diff(edges, axis=1) < 0).any():
            raise TokenizerStateError(f'{source}: edges must be finite and non-decreasing')
        self._set_edges(edges)
