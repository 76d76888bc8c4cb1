"""
What a tokenizer is (capabilities) and how it is set up (settings), declared once per class.

Every tokenizer class carries ``capabilities`` (a ``Capabilities``) and a
``settings_class`` (a frozen ``Settings`` dataclass).  Nodes, the CLI and
analysis ask these instead of testing kind names, and generate their node
parameters, command-line flags and spec keys from the settings fields, so
names, defaults and checks agree everywhere.  This is the one place settings
are validated: each field's ``setting(...)`` metadata gives its range or
choices, and ``__post_init__`` names the offending value.
"""

from dataclasses import dataclass, field, fields
import math
from typing import Optional, Tuple

from robotok_ros.errors import ConfigError
from robotok_ros.tokenizers.symbol_bpe import MAX_SYMBOL_CLIP

INT32_MAX = 2 ** 31 - 1
NORMALIZATIONS = ('range', 'quantile')
CODEBOOK_UPDATES = ('ema', 'loss')


@dataclass(frozen=True)
class Capabilities:
    """
    Answers to the questions nodes, CLI and analysis ask of a tokenizer class.

    ``per_step``: D ids per control step (else one message holds a chunk of
    ``chunk_steps`` steps).  ``exact_table``: decode is elementwise per id, so a
    lookup table of every id is exact.  ``needs_fit``: it has learned state and
    must be fitted or loaded before use.  ``fixed_length``: every chunk has the
    same number of ids.  ``fit_needs_torch``: fitting imports torch.
    ``default_ranges``: where its ranges come from unless told ('data': fitted
    on the episodes, 'profile': the robot profile's); ``ranges_choice``: whether
    that can be chosen at all (quantile edges are always the data's).

    Answers that depend on the settings, the profile or fitted state are
    methods every tokenizer class has, not fields: ``value_ranges()`` (span and
    clip box of a built one) and the classmethod ``quantile_needs(settings,
    profile)`` (which dimensions need q01/q99, and the setting that makes them).
    """

    per_step: bool
    exact_table: bool
    needs_fit: bool
    fixed_length: bool = True
    fit_needs_torch: bool = False
    default_ranges: str = 'data'
    ranges_choice: bool = True


def setting(default, text, *, lo=None, hi=None, choices=None, alias=None, optional=False):
    """Declare one settings field: default, one-line help text, range or choices, aliases."""
    meta = {'help': text, 'lo': lo, 'hi': hi, 'choices': choices, 'alias': alias,
            'optional': optional}
    if isinstance(default, (list, tuple)):
        return field(default=tuple(default), metadata=meta)
    return field(default=default, metadata=meta)


def _span(lo, hi):
    if lo is not None and hi is not None:
        return f' in [{lo}, {hi}]'
    return f' >= {lo}' if lo is not None else (f' <= {hi}' if hi is not None else '')


def check_value(name, value, kind, meta):
    """Return ``value`` converted to ``kind`` (int, float, bool, str, tuple of int) or raise."""
    lo, hi, choices = meta.get('lo'), meta.get('hi'), meta.get('choices')
    if value is None and meta.get('optional'):
        return None
    null = ' or null' if meta.get('optional') else ''
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f'{name} must be a boolean (true or false){null}, got {value!r}')
        return value
    if kind is str:
        if not isinstance(value, str) or (choices and value not in choices):
            want = f'one of {", ".join(choices)}' if choices else 'a string'
            raise ConfigError(f'{name} must be {want}{null}, got {value!r}')
        return value
    if kind is tuple:
        if isinstance(value, (str, bytes)) or not hasattr(value, '__len__') or not len(value):
            raise ConfigError(f'{name} must be a non-empty list of integers{_span(lo, hi)}, '
                              f'got {value!r}')
        return tuple(check_value(f'{name}[{i}]', v, int, meta) for i, v in enumerate(value))
    if kind is int:
        ok = not isinstance(value, bool) and hasattr(value, '__index__')
        if not ok or (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ConfigError(f'{name} must be an integer{_span(lo, hi)}{null}, got {value!r}')
        return int(value)
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(
        value)
    if not ok or (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(f'{name} must be a finite number{_span(lo, hi)}{null}, got {value!r}')
    return float(value)


def _base_type(annotation):
    """Return int, float, bool, str or tuple for a field annotation (Optional unwrapped)."""
    args = getattr(annotation, '__args__', None)
    if getattr(annotation, '__origin__', None) in (tuple, Tuple):
        return tuple
    if args:  # Optional[X]
        return next(a for a in args if a is not type(None))
    return annotation


@dataclass(frozen=True)
class Settings:
    """Base of every tokenizer's settings: validated on creation, unknown keys refused."""

    def __post_init__(self):
        for f in fields(self):
            value = check_value(f.name, getattr(self, f.name), _base_type(f.type), f.metadata)
            object.__setattr__(self, f.name, value)

    @classmethod
    def field_specs(cls):
        """Return ``[(name, type, default, metadata)]``: what parameters and flags are made of."""
        return [(f.name, _base_type(f.type), f.default, f.metadata) for f in fields(cls)]

    @classmethod
    def names(cls):
        """Return the setting names, in declaration order."""
        return [f.name for f in fields(cls)]

    @classmethod
    def aliases(cls):
        """Return ``{short name: setting name}`` (``N`` for n_bins, ``K`` for chunk_steps...)."""
        out = {}
        for f in fields(cls):
            for alias in (f.metadata.get('alias') or ()):
                out[alias] = f.name
        return out

    @classmethod
    def from_mapping(cls, values, where='settings'):
        """Build from a dict, refusing unknown keys with the list of known ones."""
        if not isinstance(values, dict):
            raise ConfigError(f'{where} must be a mapping, got {values!r}')
        unknown = sorted(set(values) - set(cls.names()))
        if unknown:
            raise ConfigError(f'{where}: unknown setting {unknown[0]!r} (one of '
                              f'{", ".join(cls.names())})')
        return cls(**values)

    def to_dict(self):
        """Return the settings as plain YAML-safe values (tuples as lists)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class BinningSettings(Settings):
    """Uniform, RT-1 and quantile bins: count, first id and id layout."""

    n_bins: int = setting(256, 'Bins per action dimension.', lo=16, hi=4096, alias=('N', 'bins'))
    vocab_offset: int = setting(0, 'Id of the first action token.', lo=0, hi=INT32_MAX)
    layout: str = setting('shared', 'Id layout: shared ids for every dimension or disjoint '
                          'per_dimension ranges.', choices=('shared', 'per_dimension'))


@dataclass(frozen=True)
class OpenVLASettings(Settings):
    """OpenVLA: the last n_bins ids of a text vocabulary are actions."""

    n_bins: int = setting(256, 'Bins per action dimension.', lo=16, hi=4096, alias=('N', 'bins'))
    text_vocab_size: int = setting(32000, 'Size of the text vocabulary whose last n_bins ids '
                                   'are actions.', lo=16, hi=INT32_MAX)


@dataclass(frozen=True)
class FASTSettings(Settings):
    """DCT + BPE: chunk length, quantisation scale, BPE size and normalisation."""

    chunk_steps: int = setting(10, 'Steps per chunk (the time horizon H of FAST).', lo=1, hi=1000,
                               alias=('H', 'K'))
    scale: float = setting(10.0, 'DCT coefficients are rounded after multiplying by this.',
                           lo=1e-9)
    vocab: int = setting(1024, 'Target BPE vocabulary size.', lo=1, hi=2 ** 20, alias=('V',))
    coeff_clip: Optional[int] = setting(None, 'Largest coefficient magnitude (null: what the '
                                        'scale and ranges need).', lo=1, hi=MAX_SYMBOL_CLIP,
                                        optional=True)
    vocab_offset: int = setting(0, 'Id of the first action token.', lo=0, hi=2 ** 40)
    normalization: str = setting('range', 'Normalise by the profile range or by q01/q99.',
                                 choices=NORMALIZATIONS)
    norm_clip: Optional[float] = setting(None, 'Clip normalised values to this many '
                                         'half-ranges (null: no clip).', lo=1.0, optional=True)
    stride: int = setting(1, 'Fit on every stride-th window.', lo=1, hi=10 ** 6)


@dataclass(frozen=True)
class VQSettings(Settings):
    """Residual VQ-VAE: chunk and codebook shape, network, and training."""

    chunk_steps: int = setting(8, 'Steps per chunk (K).', lo=1, hi=1024, alias=('K',))
    codebook_size: int = setting(256, 'Codes per level (C).', lo=2, hi=65536, alias=('C',))
    levels: int = setting(1, 'Residual levels (R): ids per chunk.', lo=1, hi=64, alias=('R',))
    code_dim: int = setting(16, 'Dimension of a code vector.', lo=1, hi=4096)
    hidden: Tuple[int, ...] = setting((256, 128), 'Hidden layer sizes of the MLPs.', lo=1,
                                      hi=65536)
    vocab_offset: int = setting(0, 'Id of the first action token.', lo=0, hi=INT32_MAX)
    seed: int = setting(0, 'Seed of initialisation and batches.', lo=0)
    epochs: int = setting(30, 'Training epochs.', lo=1)
    batch_size: int = setting(256, 'Chunks per batch.', lo=2)
    learning_rate: float = setting(1e-3, 'Adam learning rate.', lo=1e-9, hi=10.0,
                                   alias=('lr',))
    stride: int = setting(1, 'Training chunks start every stride steps.', lo=1)
    kmeans_init: bool = setting(True, 'Initialise codebooks by k-means.')
    dead_code_threshold: float = setting(0.3, 'Reset codes used less than this (0: never).',
                                         lo=0.0, alias=('reset',))
    decay: float = setting(0.95, 'EMA decay of the codebook.', lo=0.0, hi=1.0)
    codebook_update: str = setting('ema', 'Codebook update rule.', choices=CODEBOOK_UPDATES)
    commitment_weight: float = setting(0.25, 'Weight of the commitment loss.', lo=0.0)
    fit_ranges: bool = setting(True, 'Fit normalisation ranges on the data (else the '
                               "profile's).")
