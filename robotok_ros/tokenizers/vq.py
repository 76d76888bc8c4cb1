"""
VQ-VAE chunk tokenizer: K steps of actions -> R codes from codebooks of C entries.

A chunk ``(K, D)`` is normalised with the profile's ranges to [-1, 1]
(values outside clip, counted per dimension), flattened, encoded by an MLP
(``K * D -> 256 -> 128 -> code_dim``), quantised by residual VQ (level r
quantises what levels 0..r-1 left over) and decoded by the mirror MLP.

Id layout (``id_map``): by default code c of level r has id ``vocab_offset + r
* C + c``, so ``vocab_size = R * C``, every position of a chunk's id sequence
has its own disjoint range and a stray id from the wrong level is rejected,
not decoded.  ``minivla`` (MiniVLA, Belkhale & Sadigh 2024, openvla-mini
``VQActionTokenizer``): id ``tokenizer_len - 1 - c`` for every level (the
levels share C ids; the original clips codes, here an id outside them is
rejected).  ``vq_vla`` (VQ-VLA, Wang et al., 2025, arXiv:2507.01016): id
``tokenizer_len - 1 - (c + C r)`` (C = 256 there), disjoint per level.

Training uses torch (``vq_model.py``, imported by ``fit`` only); encode and
decode run in numpy float32 from the saved arrays (``vq_infer.py``), so the
robot side never needs torch.  VQ-VAE: van den Oord et al., 2017, arXiv:1711.00937; residual
VQ: Zeghidour et al., 2021, arXiv:2107.03312; action chunks as codes:
VQ-BeT, Lee et al., 2024, arXiv:2403.03181.
"""

from dataclasses import dataclass
from typing import Optional

import numpy as np
from robotok_ros.errors import ConfigError, InvalidTokenError, TokenizerStateError
from robotok_ros.fitting import fit_ranges
from robotok_ros.tokenizers.base import ActionTokenizer, check_actions, check_token_array
from robotok_ros.tokenizers.chunking import chunk_episodes, usage
from robotok_ros.tokenizers.settings import Capabilities, INT32_MAX, setting, VQSettings
from robotok_ros.tokenizers.vq_infer import expected_shapes, VQInference

ID_MAPS = ('robotok', 'minivla', 'vq_vla')


@dataclass(frozen=True)
class VQMapSettings(VQSettings):
    """VQSettings plus the id map of a published VQ policy (MiniVLA, VQ-VLA)."""

    id_map: str = setting('robotok', 'Ids of code c at level r: robotok (vocab_offset + r C + c), '
                          'minivla (tokenizer_len - 1 - c) or vq_vla (tokenizer_len - 1 - '
                          '(c + r C)).', choices=ID_MAPS)
    tokenizer_len: Optional[int] = setting(None, 'Length of the text tokenizer whose last ids '
                                           'are codes (minivla, vq_vla).', lo=1,
                                           hi=INT32_MAX + 1, optional=True)


class VQTokenizer(ActionTokenizer):
    """
    Residual VQ-VAE over chunks of ``chunk_steps`` actions; see the module docstring.

    Settings (all saved in ``tokenizer.yaml``): model shape (``chunk_steps``,
    ``codebook_size``, ``levels``, ``code_dim``, ``hidden``), id layout
    (``vocab_offset``) and training (``seed``, ``epochs``, ``batch_size``,
    ``learning_rate``, ``stride``, ``kmeans_init``, ``dead_code_threshold`` --
    a code whose EMA use per batch falls below this fraction of the mean use
    (batch / C) is reset to a recent encoder output; 0 disables --, ``decay``
    (of the EMAs), ``codebook_update``: 'ema' or 'loss',
    ``commitment_weight``, ``fit_ranges``: take the normalisation ranges from
    the data in ``fit``).
    """

    kind = 'vq'
    capabilities = Capabilities(per_step=False, exact_table=False, needs_fit=True,
                                fit_needs_torch=True)
    settings_class = VQMapSettings
    train_command = 'robotok train-vq'
    # A comparison, not a training run (`robotok train-vq` trains properly).
    analysis_defaults = {'epochs': 10}

    def __init__(self, profile, **settings):
        super().__init__(profile, **settings)
        for name in VQMapSettings.names():  # model shape and training settings as attributes
            setattr(self, name, getattr(self.config, name))
        self.hidden = list(self.hidden)
        self.history = []
        self._model = None
        self._set_id_map()

    def _set_id_map(self):
        """Set ``_level_offsets`` (R,) and ``_sign``: id = offset[r] + sign * code."""
        levels = np.arange(self.levels, dtype=np.int64)
        if self.id_map == 'robotok':
            if self.tokenizer_len is not None:
                raise ConfigError(f'tokenizer_len {self.tokenizer_len} applies to id_map '
                                  'minivla or vq_vla, not robotok (use vocab_offset)')
            # Level r's codes are ids offset + r * C .. offset + r * C + C - 1.
            self._level_offsets, self._sign = self.vocab_offset + self.codebook_size * levels, 1
            return
        if self.tokenizer_len is None or self.vocab_offset:
            raise ConfigError(f'id_map {self.id_map} needs tokenizer_len (the text tokenizer '
                              f'length) and vocab_offset 0, got tokenizer_len '
                              f'{self.tokenizer_len} and vocab_offset {self.vocab_offset}')
        top = self.tokenizer_len - 1
        stride = 0 if self.id_map == 'minivla' else self.codebook_size
        if top - stride * (self.levels - 1) - (self.codebook_size - 1) < 0:
            raise ConfigError(f'tokenizer_len {self.tokenizer_len} is too small for '
                              f'{self.levels} level(s) of {self.codebook_size} codes with '
                              f'id_map {self.id_map}')
        self._level_offsets, self._sign = top - stride * levels, -1

    # -- layout ------------------------------------------------------------------------------
    @property
    def tokens_per_step(self):
        """Return None: one chunk of K steps is R ids."""
        return None

    @property
    def vocab_size(self):
        """R levels x C codes, disjoint per level (C with minivla's shared ids)."""
        return self.codebook_size * (1 if self.id_map == 'minivla' else self.levels)

    @property
    def id_range(self):
        """Lowest and highest id, inclusive ((offset, offset + R * C - 1) by default)."""
        ends = self._level_offsets + self._sign * (self.codebook_size - 1)
        both = np.concatenate([self._level_offsets, ends])
        return int(both.min()), int(both.max())

    def codebook_shape(self):
        """Return (levels, codes per level)."""
        return self.levels, self.codebook_size

    def describe(self):
        """One line for logs and CLI output."""
        lo, hi = self.id_range
        return (f'vq tokenizer for {self.profile.name}: chunks of {self.chunk_steps} steps -> '
                f'{self.levels} code(s) of {self.codebook_size}; ids [{lo}, {hi}]')

    # -- normalisation ---------------------------------------------------------------------
    def value_ranges(self):
        """Return the profile's (min, max) as both span and box: chunks are normalised to it."""
        box = (self.profile.lows, self.profile.highs)
        return box, box

    def _normalise(self, chunks, dtype=np.float64, record=True):
        lo, hi = self.profile.lows, self.profile.highs
        norm = chunks.astype(dtype)
        norm -= lo.astype(dtype)
        norm *= (2.0 / (hi - lo)).astype(dtype)
        norm -= 1.0
        flat = norm.reshape(-1, self.dim)
        # A value exactly at min/max may land a rounding error outside [-1, 1]: not a clip.
        tol = 1.0 + 1e-5
        if not record:
            pass
        elif flat.size and (flat.min() < -tol or flat.max() > tol):
            self._record_clips(((flat < -tol) | (flat > tol)).sum(axis=0))
        else:
            self._record_clips(np.zeros(self.dim))
        np.clip(norm, -1.0, 1.0, out=norm)
        return norm

    def _denormalise(self, norm):
        lo, hi = self.profile.lows, self.profile.highs
        out = (norm + 1.0) * (0.5 * (hi - lo)) + lo
        # Clip in action units: never command beyond the ranges, not even by a rounding error.
        return np.clip(out, lo, hi, out=out)

    # -- training ------------------------------------------------------------------------------
    def fit(self, episodes, progress=False):
        """
        Train on episodes (list of ``(T, D)``); returns self.

        Chunks are taken every ``stride`` steps (a setting).  ``progress``: True for a
        tqdm bar over epochs, or a callable
        ``(epoch, record)``.  Per-epoch records (loss terms, fraction of codes
        used and perplexity per level) are kept in ``history``.
        """
        if self.fit_ranges:
            self.profile = fit_ranges(episodes, self.profile)
        chunks = chunk_episodes(episodes, self.chunk_steps, self.dim, self.stride)
        norm = self._normalise(chunks, np.float32, record=False).reshape(len(chunks), -1)
        from robotok_ros.tokenizers.vq_model import train
        bar = None
        if progress is True:
            from tqdm import tqdm
            bar = tqdm(total=self.epochs, desc='vq fit', unit='epoch')

            def progress(epoch, record):
                bar.update(1)
                bar.set_postfix(loss=f'{record["loss"]:.4f}', used=f'{min(record["used"]):.0%}')
        try:
            arrays, self.history = train(self.settings(), norm, progress or None)
        finally:
            if bar is not None:
                bar.close()
        self.load_state(arrays, source='<trained model>')
        return self

    # -- inference (numpy) -------------------------------------------------------------------
    def _state(self):
        if self._model is None:
            raise TokenizerStateError('this vq tokenizer has no learned state: fit it on data '
                                      'or load a saved one')
        return self._model

    def encode(self, actions):
        """Chunks ``(..., K, D)`` -> ids ``(..., R)`` int64; out-of-range values clip (counted)."""
        model = self._state()
        arr = check_actions(actions, self.dim)
        if arr.ndim < 2 or arr.shape[-2] != self.chunk_steps:
            raise InvalidTokenError(f'vq chunks must have shape (..., {self.chunk_steps}, '
                                    f'{self.dim}), got {arr.shape}')
        lead = arr.shape[:-2]
        # float32 from here on: the network is float32, and half the memory traffic.
        flat = self._normalise(arr, np.float32).reshape(-1, self.chunk_steps * self.dim)
        idx = model.encode(flat)
        if self._sign < 0:
            np.negative(idx, out=idx)
        idx += self._level_offsets
        return idx.reshape(*lead, self.levels)

    def decode(self, tokens):
        """Ids ``(..., R)`` -> chunks ``(..., K, D)`` float64, within the profile's ranges."""
        model = self._state()
        ids = check_token_array(tokens, self.levels)
        codes = (ids - self._level_offsets) * self._sign
        bad = np.flatnonzero(((codes < 0) | (codes >= self.codebook_size)).ravel())
        if bad.size:
            i = int(bad[0])
            pos = tuple(int(p) for p in np.unravel_index(i, ids.shape))
            ends = sorted((int(self._level_offsets[pos[-1]]), int(self._level_offsets[pos[-1]])
                           + self._sign * (self.codebook_size - 1)))
            raise InvalidTokenError(f'token id {int(ids.flat[i])} at position {pos} is outside '
                                    f'the range [{ends[0]}, {ends[1]}] of vq level {pos[-1]}')
        norm = model.decode(codes.reshape(-1, self.levels))
        if not np.isfinite(norm).all():
            chunk = int(np.flatnonzero(~np.isfinite(norm).all(axis=1))[0])
            raise InvalidTokenError(f'vq: the ids of chunk {chunk} decode to a non-finite '
                                    'action (the model overflows float32)')
        out = self._denormalise(norm.reshape(*ids.shape[:-1], self.chunk_steps, self.dim))
        return out

    def encode_chunk(self, actions):
        """One chunk ``(K, D)`` -> its R ids ``(R,)``."""
        arr = np.asarray(actions)
        if arr.shape != (self.chunk_steps, self.dim):
            raise InvalidTokenError(f'encode_chunk needs one chunk of shape '
                                    f'({self.chunk_steps}, {self.dim}), got {arr.shape}')
        return self.encode(arr)

    def decode_chunk(self, ids):
        """R ids ``(R,)`` from one message -> actions ``(K, D)``."""
        ids = np.asarray(ids).reshape(-1)
        if ids.size != self.levels:
            raise InvalidTokenError(f'a vq message must hold exactly {self.levels} token id(s) '
                                    f'(one per level), got {ids.size}')
        return self.decode(ids)

    # -- persistence ---------------------------------------------------------------------------
    def expected_shapes(self):
        """Name -> shape of every array ``state_arrays`` holds."""
        return expected_shapes(self.chunk_steps * self.dim, self.hidden, self.code_dim,
                               self.levels, self.codebook_size)

    def state_arrays(self):
        """Encoder/decoder weights (torch layout: out x in) and codebooks ``(R, C, d)``."""
        return dict(self._state().arrays)

    def load_state(self, arrays, source='<arrays>'):
        """Restore arrays from ``state_arrays``, checking names, shapes and finiteness."""
        self._model = VQInference(arrays, self.expected_shapes(), source)

    # -- metrics -------------------------------------------------------------------------------
    def evaluate(self, episodes, stride=None):
        """
        Measure on chunks of episodes: RMSE per dimension and codebook use.

        ``stride`` defaults to K: back-to-back chunks, as a policy plays them;
        ``stride=1`` measures every window, as training sees them.

        Returns a dict: ``chunks``, ``rmse`` (action units) and
        ``rmse_physical`` (x profile scale) per dimension name, ``used`` and
        ``perplexity`` per level, ``clips`` per dimension name.
        """
        chunks = chunk_episodes(episodes, self.chunk_steps, self.dim, stride)
        ids = self.encode(chunks)
        clips = self.last_clip_counts.copy()
        err = self.decode(ids) - chunks
        rmse = np.sqrt((err.reshape(-1, self.dim) ** 2).mean(axis=0))
        codes = (ids - self._level_offsets) * self._sign
        counts = np.stack([np.bincount(codes[:, r], minlength=self.codebook_size)
                           for r in range(self.levels)])
        used, perp = usage(counts)
        names = self.profile.names
        return {'chunks': int(len(chunks)), 'tokens_per_chunk': self.levels,
                'rmse': dict(zip(names, rmse.tolist())),
                'rmse_physical': dict(zip(names, (rmse * self.profile.scales).tolist())),
                'used': used.tolist(), 'perplexity': perp.tolist(),
                'clips': dict(zip(names, clips.tolist()))}
