"""
The verb set every robotok tokenizer shares, and the checks they all need.

A tokenizer is saved as a folder: ``tokenizer.yaml`` (kind, settings and the
robot profile, human readable, with the profile's fingerprint and the state
file's SHA-256) and, when it learned something, a ``state.safetensors`` file
of arrays (``folder.py``).  Nothing is pickled, so loading a file never
executes code.

Ids travel in ``std_msgs/Int32MultiArray``, so every tokenizer's ids must fit
int32: constructing one whose highest id does not is a ConfigError.
"""

import functools
from pathlib import Path

import numpy as np
from robotok_ros.errors import ConfigError, InvalidTokenError, TokenizerStateError
from robotok_ros.profile_loader import load_profile
from robotok_ros.tokenizers.folder import (checked_profile, CONFIG_FILE, FORMAT_VERSION,
                                           read_config, read_state, STATE_FILE, write_folder)
from robotok_ros.tokenizers.registry import tokenizer_class
from robotok_ros.tokenizers.settings import Capabilities, Settings

__all__ = ['ActionTokenizer', 'check_actions', 'check_token_array', 'CONFIG_FILE',
           'FORMAT_VERSION', 'INT32_MAX', 'reject_out_of_range', 'STATE_FILE']
INT32_MAX = 2 ** 31 - 1


def _position(flat_index, shape):
    return tuple(int(i) for i in np.unravel_index(flat_index, shape))


def check_actions(actions, dim):
    """Return ``actions`` as float64 ``(..., D)``; reject a wrong last dimension or NaN/inf."""
    arr = np.asarray(actions, dtype=np.float64)
    if arr.ndim == 0 or arr.shape[-1] != dim:
        raise InvalidTokenError(f'actions must have last dimension {dim}, got shape '
                                f'{arr.shape}')
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise InvalidTokenError(f'action at position {_position(bad, arr.shape)} is not finite: '
                                f'{float(arr.flat[bad])!r}')
    return arr


def check_token_array(tokens, dim):
    """Return ``tokens`` as int64 ``(..., D)``; reject non-integers and a wrong last dimension."""
    arr = np.asarray(tokens)
    if arr.dtype.kind == 'f':
        if not np.isfinite(arr).all() or not np.all(arr == np.round(arr)):
            bad = int(np.flatnonzero(~np.isfinite(arr) | (arr != np.round(arr)))[0])
            raise InvalidTokenError(f'token at position {_position(bad, arr.shape)} is not an '
                                    f'integer: {float(arr.flat[bad])!r}')
    elif arr.dtype.kind not in 'iu':
        raise InvalidTokenError(f'tokens must be integers, got dtype {arr.dtype}')
    if arr.ndim == 0 or arr.shape[-1] != dim:
        raise InvalidTokenError(f'tokens must have last dimension {dim}, got shape {arr.shape}')
    return arr.astype(np.int64, copy=False)


def reject_out_of_range(ids, lo, hi):
    """Raise InvalidTokenError naming the first id outside ``[lo, hi]`` (per-dimension arrays)."""
    bad = np.flatnonzero(((ids < lo) | (ids > hi)).ravel())
    if bad.size:
        i = int(bad[0])
        pos = _position(i, ids.shape)
        d = pos[-1]
        lo_d = int(np.broadcast_to(lo, ids.shape[-1:])[d])
        hi_d = int(np.broadcast_to(hi, ids.shape[-1:])[d])
        raise InvalidTokenError(f'token id {int(ids.flat[i])} at position {pos} is outside the '
                                f'action range [{lo_d}, {hi_d}] of dimension {d}')


def _checked_after(method):
    @functools.wraps(method)
    def checked(self, *args, **kwargs):
        out = method(self, *args, **kwargs)
        self.check_id_range()
        return out
    return checked


class _CheckedIds(type):
    """
    Metaclass: check a tokenizer's id range whenever it can change.

    That is once the whole ``__init__`` chain has run, and after every ``fit`` and
    ``load_state`` (a learned vocabulary, e.g. FAST's BPE merges, grows the range).
    """

    def __new__(mcs, name, bases, namespace):
        for verb in ('fit', 'load_state'):
            if verb in namespace:
                namespace[verb] = _checked_after(namespace[verb])
        return super().__new__(mcs, name, bases, namespace)

    def __call__(cls, *args, **kwargs):
        tok = super().__call__(*args, **kwargs)
        tok.check_id_range()
        return tok


class ActionTokenizer(metaclass=_CheckedIds):
    """
    Base class: continuous actions <-> integer token ids for one robot profile.

    Subclasses set ``kind``, ``capabilities`` and ``settings_class`` (see
    ``settings.py``) and implement ``encode``, ``decode``, ``vocab_size`` and
    ``id_range``; those that need fitting also ``fit``, ``state_arrays`` and
    ``load_state``.  The constructor takes the profile and the settings as
    keywords, validated by ``settings_class``; ``self.config`` holds them and
    ``settings()`` returns them as a dict.
    """

    kind = 'base'
    capabilities = Capabilities(per_step=True, exact_table=False, needs_fit=False)
    settings_class = Settings
    chunk_steps = 1
    # How a user makes a fitted one (named in errors when a folder is needed).
    train_command = None
    # Settings analysis uses unless a spec says otherwise (a comparison, not a training run).
    analysis_defaults = {}

    def __init__(self, profile, **settings):
        self.profile = load_profile(profile)
        self.dim = self.profile.dim
        self.config = self.settings_class.from_mapping(settings, f'{self.kind} settings')
        self.clip_counts = np.zeros(self.dim, dtype=np.int64)
        self.last_clip_counts = np.zeros(self.dim, dtype=np.int64)

    # -- the verb set ------------------------------------------------------------------------
    def fit(self, episodes, progress=False):
        """Learn state from episodes, a list of ``(T, D)`` arrays; returns self."""
        return self

    def encode(self, actions):
        """Actions ``(..., D)`` -> token ids."""
        raise NotImplementedError

    def decode(self, tokens):
        """Token ids -> actions ``(..., D)``."""
        raise NotImplementedError

    @property
    def vocab_size(self):
        """Return the number of distinct action token ids."""
        raise NotImplementedError

    @property
    def id_range(self):
        """Lowest and highest action token id, inclusive."""
        raise NotImplementedError

    @property
    def tokens_per_step(self):
        """Ids per control step for per-step tokenizers (D), None for chunk tokenizers."""
        return self.dim

    def encode_chunk(self, actions):
        """Actions ``(T, D)`` -> the flat id sequence one ROS message carries, ``(N,)``."""
        return self.encode(actions).reshape(-1)

    def decode_chunk(self, ids):
        """Flat ids ``(N,)`` from one message -> actions ``(T, D)``; N must be a multiple of D."""
        ids = np.asarray(ids).reshape(-1)
        if ids.size == 0 or ids.size % self.dim:
            raise InvalidTokenError(f'a message must hold a multiple of {self.dim} token ids '
                                    f'(one per dimension per step), got {ids.size}')
        return self.decode(ids.reshape(-1, self.dim))

    def check_id_range(self):
        """Raise ConfigError unless every id fits int32, as Int32MultiArray carries them."""
        lo, hi = (int(v) for v in self.id_range)
        if hi > INT32_MAX or lo < 0:
            raise ConfigError(f'{self.kind} tokenizer: ids [{lo}, {hi}] do not fit '
                              f'[0, {INT32_MAX}] (int32, as std_msgs/Int32MultiArray carries '
                              'them); lower vocab_offset or the vocabulary size')

    def settings(self):
        """Return the constructor keyword arguments (besides the profile), for ``save``."""
        return self.config.to_dict()

    def codebook_shape(self):
        """Return (levels, codes per level) of a codebook tokenizer, else None."""
        return None

    def value_ranges(self):
        """
        Return ``(span, box)``, each a ``(lo, hi)`` pair of ``(D,)`` arrays, or None.

        ``span``: the values the resolution is spread over; ``box``: what is
        encoded without clipping (infinite where a value passes through, as
        OpenVLA's gripper).  None (this default) where a kind's ranges are not
        known, so range checks skip it.
        """
        return None

    @classmethod
    def data_profile(cls, actions, profile, settings):
        """
        Return ``profile`` with ranges fitted on ``actions`` (a list of ``(T, D)``).

        What a caller that bins over the demonstrations' own range builds this kind
        on; ``settings``: the settings as given, a mapping.  A kind may widen the ranges
        a little so its bins decode some value exactly (a zero command).
        """
        from robotok_ros.fitting import fit_ranges
        return fit_ranges(actions, profile)

    @classmethod
    def quantile_needs(cls, settings, profile):
        """
        Return ``(dimensions, because)`` whose q01/q99 ``settings`` need, or None for none.

        ``settings``: the settings as given, a mapping (one left out is at its
        default); ``dimensions``: those of ``profile`` that must carry q01/q99;
        ``because``: the setting that needs them (e.g. ``'normalization=quantile'``),
        '' when the kind always does.  Lets a caller say so before building one.
        """
        return None

    def describe(self):
        """One line for logs and CLI output."""
        lo, hi = self.id_range
        return (f'{self.kind} tokenizer for {self.profile.name}: {self.vocab_size} action ids '
                f'in [{lo}, {hi}], {self.dim} dimensions')

    # -- clipping bookkeeping ------------------------------------------------------------------
    def _record_clips(self, counts):
        self.last_clip_counts = np.asarray(counts, dtype=np.int64)
        self.clip_counts = self.clip_counts + self.last_clip_counts

    # -- persistence ---------------------------------------------------------------------------
    def state_arrays(self):
        """Learned arrays to save; empty for stateless tokenizers."""
        return {}

    def load_state(self, arrays, source='<arrays>'):
        """Restore learned arrays written by ``state_arrays``; ``source`` names them in errors."""

    def save(self, path):
        """Write ``tokenizer.yaml`` (+ ``state.safetensors``) into folder ``path``."""
        return write_folder(path, self.kind, self.settings(), self.profile, self.state_arrays())

    @classmethod
    def upgrade_settings(cls, settings):
        """Return saved ``settings`` in today's names (folders saved by older versions)."""
        return settings

    @classmethod
    def load(cls, path):
        """Load a tokenizer saved with ``save``; any problem is one TokenizerStateError line."""
        folder = Path(path)
        cfg_path, config = read_config(folder)
        try:
            klass = tokenizer_class(config['kind'])
        except ConfigError as exc:
            raise TokenizerStateError(f'{cfg_path}: kind: {exc}') from None
        if cls is not ActionTokenizer and not issubclass(klass, cls):
            raise TokenizerStateError(f'{cfg_path}: holds a {config["kind"]!r} tokenizer, '
                                      f'not {cls.kind!r}')
        profile = checked_profile(cfg_path, config)
        try:
            tok = klass(profile, **klass.upgrade_settings(config['settings']))
        except TokenizerStateError:
            raise
        except (ConfigError, TypeError, ValueError) as exc:  # TypeError: a non-string key
            raise TokenizerStateError(f'{cfg_path}: {exc}') from None
        if klass.capabilities.needs_fit:
            state_path = folder / STATE_FILE
            arrays = read_state(folder, cfg_path, config)
            try:
                tok.load_state(arrays, source=str(state_path))
            except TokenizerStateError:
                raise
            except (ConfigError, TypeError, ValueError, KeyError, IndexError) as exc:
                raise TokenizerStateError(f'{state_path}: {exc}') from None
        elif 'state_sha256' in config:
            raise TokenizerStateError(f'{cfg_path}: state_sha256 given, but a '
                                      f'{config["kind"]} tokenizer has no {STATE_FILE}')
        return tok
