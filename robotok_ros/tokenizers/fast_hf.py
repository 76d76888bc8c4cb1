"""
FAST-format tokenizer folders from the Hugging Face hub, decoded as the original does.

FAST (Pertsch et al., 2025, arXiv:2501.09747; ``UniversalActionProcessor`` in
``processing_action_tokenizer.py`` of physical-intelligence/fast, used by
openpi's pi0-FAST and LeRobot's ``pi0_fast``): encode takes the orthonormal
DCT-II of a chunk ``(H, D)`` along time, multiplies by ``scale``, rounds
(``np.around``), flattens time-major, subtracts ``min_token``, maps each
integer to one character and BPE-encodes the string with a byte-level BPE.
Decode BPE-decodes to characters, adds ``min_token`` to their code points,
reshapes to ``(H, D)`` and applies ``idct(coefficients / scale)``.  Here both
are bit-identical to the original on the fixture vectors; the BPE is HF
``tokenizers`` reading ``tokenizer.json`` (no transformers, no remote code).

Where the original returns an all-zeros chunk (a wrong coefficient count, a
negative id) or silently drops ids >= vocab, or decodes invalid UTF-8 as
U+FFFD, this kind raises InvalidTokenError with ``reason`` 'length',
'out_of_range' or 'invalid' (what the decoder counts), and ``cause``.  The
explicit ``relaxed`` setting pads or cuts the coefficients as LeRobot does,
counted in ``length_fixes`` and warned at most once per LENGTH_WARN_PERIOD s.
Encode refuses a chunk the BPE cannot represent (the original drops the
character and returns ids that do not decode).

Model ids are ``id_offset + id_sign * fast_id``: raw FAST ids, PaliGemma
(openpi / LeRobot: ``257152 - 1 - 128 - fast_id``), Qwen (NORA / StarVLA:
``151665 + fast_id``) or a user map.  Actions are normalised per dimension
(``norm_mask``) with openpi or LeRobot statistics before encoding and
un-normalised after decoding, into the robot profile's units.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from robotok_ros.errors import ConfigError, InvalidTokenError
from robotok_ros.tokenizers.base import ActionTokenizer, check_actions
# LengthFixWarning and LENGTH_WARN_PERIOD are re-exported: one warning class for both FAST kinds.
from robotok_ros.tokenizers.chunking import LENGTH_WARN_PERIOD, LengthFixWarning, \
    warn_length_fix  # noqa: F401
from robotok_ros.tokenizers.fast_hf_codec import FastCodec, state_arrays, tokenizer_json
from robotok_ros.tokenizers.settings import Capabilities, INT32_MAX, setting, Settings

ID_MAPS = {'fast': (0, 1), 'paligemma': (257152 - 1 - 128, -1), 'qwen': (151665, 1)}
NORM_MODES = ('none', 'quantile', 'mean_std', 'min_max')


@dataclass(frozen=True)
class FastHFSettings(Settings):
    """A hub FAST processor's numbers, the id map, normalisation and strictness."""

    time_horizon: int = setting(1, 'Steps per chunk H.', lo=1, hi=10000, alias=('H',))
    scale: float = setting(10.0, 'DCT coefficients are multiplied by this and rounded.',
                           lo=1e-9)
    min_token: int = setting(0, 'Lowest coefficient, subtracted before the BPE.',
                             lo=-2 ** 20, hi=2 ** 20)
    vocab: int = setting(1024, 'BPE vocabulary size of processor_config.json.', lo=1,
                         hi=2 ** 20, alias=('V',))
    id_map: str = setting('fast', 'Model id of a FAST id: fast (raw), paligemma (257023 - id), '
                          'qwen (151665 + id) or offset (id_offset + id_sign * id).',
                          choices=tuple(ID_MAPS) + ('offset',))
    id_offset: int = setting(0, 'Model id of FAST id 0 (id_map offset).', lo=0, hi=INT32_MAX)
    id_sign: int = setting(1, 'Direction of the ids (id_map offset): 1 or -1.', lo=-1, hi=1)
    norm_stats: Optional[str] = setting(None, 'openpi norm_stats.json or LeRobot stats.json '
                                        '(null: actions are already normalised).',
                                        optional=True)
    norm_mode: Optional[str] = setting(None, 'quantile, mean_std, min_max or none (null: '
                                       'quantile for openpi, mean_std for LeRobot).',
                                       choices=NORM_MODES, optional=True)
    norm_eps: float = setting(1e-6, 'Added to the normalisation width (openpi 1e-6).', lo=0.0)
    norm_mask: Optional[tuple] = setting(None, 'Per dimension 1: normalised, 0: not (null: '
                                         'all).', lo=0, hi=1, optional=True)
    relaxed: bool = setting(False, 'Pad/cut a wrong coefficient count (LeRobot) instead of '
                            'rejecting it; counted and warned.')
    clip_actions: bool = setting(True, "Clip decoded actions to the profile's range "
                                 '(counted).')


class FastHFTokenizer(ActionTokenizer):
    """
    Chunks ``(H, D)`` <-> variable-length FAST id sequences of a hub tokenizer folder.

    Made with ``from_folder(path, profile, **settings)`` (or loaded from a folder
    it was saved to).  ``encode`` of a chunk gives ``(N,)`` int64 model ids, of
    ``(B, H, D)`` a list of B arrays; ``decode`` of one sequence gives
    ``(H, D)``, of a list ``(B, H, D)``.
    """

    kind = 'fast_hf'
    capabilities = Capabilities(per_step=False, exact_table=False, needs_fit=True,
                                fixed_length=False, default_ranges='profile',
                                ranges_choice=False)
    settings_class = FastHFSettings
    train_command = 'robotok train-bpe --hf-out DIR, or a FAST folder from the hub'

    def __init__(self, profile, **settings):
        super().__init__(profile, **settings)
        c = self.config
        self.chunk_steps, self.scale, self.min_token = c.time_horizon, c.scale, c.min_token
        if c.id_map == 'offset':
            if c.id_sign == 0:
                raise ConfigError('id_sign must be 1 or -1, got 0')
            self.id_offset, self.id_sign = c.id_offset, c.id_sign
        else:
            if (c.id_offset, c.id_sign) != (0, 1):
                raise ConfigError(f'id_offset/id_sign ({c.id_offset}, {c.id_sign}) apply only '
                                  f'to id_map offset, not {c.id_map!r}')
            self.id_offset, self.id_sign = ID_MAPS[c.id_map]
        self._set_normalization()
        self.coeff_clip_counts = np.zeros(self.dim, dtype=np.int64)
        self.decode_clip_counts = np.zeros(self.dim, dtype=np.int64)
        self.length_fixes, self._warned_fixes, self._last_warn = 0, 0, None
        self.codec = None

    def _set_normalization(self):
        from robotok_ros.tokenizers.fast_hf_files import normalisation
        (self._a, self._b, self.norm_format, self.norm_mode,
         self.norm_mask) = normalisation(self.config, self.dim, self.profile.name)

    @classmethod
    def from_folder(cls, folder, profile, **settings):
        """
        Build from a hub folder (``tokenizer.json`` + ``processor_config.json``).

        ``settings`` override the processor config (``time_horizon`` must be
        given when the file has null); ``action_dim``, when the file has one,
        must equal the profile's dimension count.
        """
        from robotok_ros.profile_loader import load_profile
        from robotok_ros.tokenizers.fast_hf_files import (PROCESSOR_FILE, read_processor_config,
                                                          TOKENIZER_FILE)
        profile = load_profile(profile)
        proc = read_processor_config(folder)
        where = f'{folder}/{PROCESSOR_FILE}'
        if proc['action_dim'] is not None and proc['action_dim'] != profile.dim:
            raise ConfigError(f'{where}: action_dim {proc["action_dim"]} but profile '
                              f'{profile.name} has {profile.dim} dimensions')
        given = {'scale': proc['scale'], 'min_token': proc['min_token'],
                 'vocab': proc['vocab_size']}
        if proc['time_horizon'] is not None:
            given['time_horizon'] = proc['time_horizon']
        given.update(settings)
        if 'time_horizon' not in given:
            raise ConfigError(f'{where}: time_horizon is null; give the chunk length H the '
                              'tokenizer was trained on (time_horizon / --time-horizon)')
        try:
            tok = cls(profile, **given)
        except ConfigError as exc:
            raise ConfigError(f'{where}: {exc}') from None
        tok.load_state(state_arrays(Path(folder) / TOKENIZER_FILE), source=str(folder))
        return tok

    # -- the verb set ------------------------------------------------------------------------
    def fit(self, episodes, progress=False):
        """Refuse: a fast_hf tokenizer comes from a hub folder, not from fitting here."""
        raise ConfigError('fast_hf tokenizers are not fitted here: load a hub FAST folder '
                          '(FastHFTokenizer.from_folder, robotok import-fast) or train one '
                          'with robotok train-bpe --hf-out DIR')

    def _codec(self):
        if self.codec is None:
            raise InvalidTokenError('fast_hf tokenizer has no BPE: build it with from_folder '
                                    'or load a saved folder')
        return self.codec

    def encode(self, actions):
        """Chunk ``(H, D)`` -> model ids ``(N,)`` int64; ``(B, H, D)`` -> list of B arrays."""
        arr = check_actions(actions, self.dim)
        if arr.ndim not in (2, 3) or arr.shape[-2] != self.chunk_steps:
            raise InvalidTokenError(f'a fast_hf chunk must have shape ({self.chunk_steps}, '
                                    f'{self.dim}) or (B, {self.chunk_steps}, {self.dim}), got '
                                    f'{arr.shape}')
        chunks = arr.reshape(-1, self.chunk_steps, self.dim)
        lo, hi = self.profile.lows, self.profile.highs
        clipped = np.clip(chunks, lo, hi) if self.config.clip_actions else chunks
        self._record_clips((clipped != chunks).sum(axis=(0, 1)))
        norm = (clipped - self._a) / self._b
        ids, low = self._codec().encode(norm)
        self.coeff_clip_counts = self.coeff_clip_counts + low
        out = [self.id_offset + self.id_sign * i for i in ids]
        return out[0] if arr.ndim == 2 else out

    def decode(self, tokens):
        """One id sequence -> ``(H, D)``; a list / 2-D array of sequences -> ``(B, H, D)``."""
        if not isinstance(tokens, (list, tuple)) and np.ndim(tokens) == 0:
            raise InvalidTokenError(f'tokens must be a sequence of ids, got {tokens!r}')
        single = isinstance(tokens, np.ndarray) and tokens.ndim == 1 or (
            isinstance(tokens, (list, tuple)) and not any(np.ndim(t) for t in tokens))
        seqs = [tokens] if single else list(tokens)
        if not seqs:
            raise InvalidTokenError('no token sequences to decode')
        out = np.stack([self.decode_chunk(s) for s in seqs])
        return out[0] if single else out

    def encode_chunk(self, actions):
        """Actions ``(H, D)`` -> the flat model id sequence one ROS message carries, ``(N,)``."""
        if np.ndim(actions) != 2:
            raise InvalidTokenError(f'encode_chunk takes one chunk ({self.chunk_steps}, '
                                    f'{self.dim}), got shape {np.shape(actions)}')
        return self.encode(actions)

    def decode_chunk(self, ids):
        """Flat model ids ``(N,)`` of one message -> actions ``(H, D)``, or InvalidTokenError."""
        fast = self.fast_ids(ids)
        coeffs, count = self._codec().coefficients(fast, self.config.relaxed)
        if count is not None:
            self._length_fix(count)
        out = self._codec().inverse(coeffs)
        if self.norm_mode != 'none':
            out *= self._b
            out += self._a
        if self.config.clip_actions:
            lo, hi = self.profile.lows, self.profile.highs
            below, above = out < lo, out > hi
            if below.any() or above.any():
                self.decode_clip_counts = self.decode_clip_counts + (below | above).sum(axis=0)
                np.clip(out, lo, hi, out=out)
        return out

    def fast_ids(self, ids):
        """Model ids ``(N,)`` -> FAST ids ``(N,)`` int64; InvalidTokenError outside the map."""
        arr = np.asarray(ids)
        if arr.dtype.kind == 'f' and np.isfinite(arr).all() and (arr == np.rint(arr)).all():
            arr = arr.astype(np.int64)
        if arr.ndim != 1 or arr.dtype.kind not in 'iu':
            raise InvalidTokenError(f'ids must be a 1-D array of integers, got shape '
                                    f'{arr.shape} dtype {arr.dtype}')
        fast = arr.astype(np.int64)
        if self.id_offset:
            fast -= self.id_offset
        if self.id_sign < 0:
            np.negative(fast, out=fast)
        n = self.vocab_size
        if fast.size and (fast.min() < 0 or fast.max() >= n):
            bad = np.flatnonzero((fast < 0) | (fast >= n))
            lo, hi = self.id_range
            exc = InvalidTokenError(f'fast_hf: id {int(arr[bad[0]])} at position '
                                    f'{int(bad[0])} is outside the action ids [{lo}, {hi}] '
                                    f'(FAST ids 0..{n - 1}, id_map {self.config.id_map})')
            exc.reason, exc.cause = 'out_of_range', 'id_range'
            raise exc
        return fast

    @property
    def vocab_size(self):
        """Return the number of FAST ids: the BPE's vocabulary (else the config's ``vocab``)."""
        return len(self.codec.pieces) if self.codec is not None else self.config.vocab

    @property
    def id_range(self):
        """Lowest and highest model id, inclusive."""
        ends = (self.id_offset, self.id_offset + self.id_sign * (self.vocab_size - 1))
        return min(ends), max(ends)

    @property
    def tokens_per_step(self):
        """Return None: ids cover whole chunks, their count varies."""
        return None

    def _length_fix(self, count):
        warn_length_fix(self, 'fast_hf (relaxed):', count)

    # -- state: the BPE's tokenizer.json -------------------------------------------------------
    def tokenizer_json(self):
        """Return the BPE as the ``tokenizer.json`` text it was loaded from."""
        return self._codec().json

    def state_arrays(self):
        """Return ``tokenizer.json`` as uint8 bytes, its SHA-256 and any normalisation (D,)."""
        state = dict(self._codec().state)
        if self.norm_format is not None:
            state.update(norm_offset=np.asarray(self._a, dtype=np.float64),
                         norm_width=np.asarray(self._b, dtype=np.float64))
        return state

    def save(self, path):
        """Write the folder with the normalisation inside its state, not a stats file's path."""
        from robotok_ros.tokenizers.fast_hf_files import SAVED_STATS
        from robotok_ros.tokenizers.folder import write_folder
        settings = self.settings()
        if self.norm_format is not None:
            settings.update(norm_stats=SAVED_STATS, norm_mode=self.norm_mode)
        return write_folder(path, self.kind, settings, self.profile, self.state_arrays())

    def load_state(self, arrays, source='<arrays>'):
        """Restore the BPE (and normalisation) after checking checksum and vocabulary."""
        if self.norm_format == 'saved':
            try:
                a, b = (np.asarray(arrays[k], dtype=np.float64).reshape(self.dim)
                        for k in ('norm_offset', 'norm_width'))
            except (KeyError, ValueError) as exc:
                raise ConfigError(f'{source}: norm_stats is saved in the state, but its '
                                  f'norm_offset/norm_width ({self.dim},) are not: {exc}') from None
            if not (np.isfinite(a).all() and np.isfinite(b).all() and (b > 0).all()):
                raise ConfigError(f'{source}: saved normalisation is not finite and positive: '
                                  f'offset {a.tolist()}, width {b.tolist()}')
            self._a, self._b = a, b
        text = tokenizer_json(arrays, source)
        codec = FastCodec(text, self.chunk_steps, self.dim, self.scale, self.min_token, source)
        if len(codec.pieces) > self.config.vocab:
            raise ConfigError(f'{source}: the BPE has {len(codec.pieces)} tokens, more than '
                              f'vocab {self.config.vocab}')
        self.codec = codec
