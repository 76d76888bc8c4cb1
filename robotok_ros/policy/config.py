"""
The settings of a policy (model shape) and of its training, validated once, here.

Both are frozen ``Settings`` dataclasses (``tokenizers/settings.py``): every
field's range or choices is checked in ``__post_init__`` and the offending value
named; a mapping with an unknown key (a YAML typo) is refused with the known
ones.  ``Layout`` is what the data fixes (state width, token positions, ids),
written next to the config in ``policy.yaml``.
"""

from dataclasses import dataclass
from typing import Tuple

from robotok_ros.errors import ConfigError, RobotokError
from robotok_ros.policy.data import split_relative
from robotok_ros.tokenizers.settings import setting, Settings

HEADS = ('ar', 'parallel')


class PolicyFileError(RobotokError, ValueError):
    """A saved policy file is missing, tampered with or does not match its config."""


@dataclass(frozen=True)
class PolicyConfig(Settings):
    """Model shape: width, depth, attention heads, head kind, state history."""

    d_model: int = setting(64, 'Transformer width.', lo=8, hi=1024)
    n_layers: int = setting(2, 'Transformer blocks.', lo=1, hi=12)
    n_heads: int = setting(4, 'Attention heads (must divide d_model).', lo=1, hi=64)
    head: str = setting('ar', "Token head: 'ar' (one token after another, causal) or "
                        "'parallel' (every token at once from learned queries).", choices=HEADS)
    history: int = setting(1, 'States the policy sees: the current one and the k-1 before.',
                           lo=1, hi=64)
    dropout: float = setting(0.0, 'Dropout while training.', lo=0.0, hi=0.9)

    def __post_init__(self):
        """Check each field, then that the heads divide the width."""
        super().__post_init__()
        if self.d_model % self.n_heads:
            raise ConfigError(f'n_heads {self.n_heads} must divide d_model {self.d_model}')


@dataclass(frozen=True)
class TrainSettings(Settings):
    """How a policy is trained: AdamW, epochs, batches, seed, split, threads."""

    epochs: int = setting(30, 'Passes over the training steps.', lo=1, hi=100000)
    batch_size: int = setting(64, 'Steps per batch.', lo=1, hi=65536)
    lr: float = setting(3e-3, 'AdamW learning rate.', lo=1e-7, hi=1.0)
    weight_decay: float = setting(0.01, 'AdamW weight decay.', lo=0.0, hi=1.0)
    seed: int = setting(0, 'Seed of the split, the initialisation and the batches.', lo=0)
    val_fraction: float = setting(0.2, 'Share of episodes held out for validation.',
                                  lo=0.01, hi=0.9)
    threads: int = setting(1, 'torch CPU threads.', lo=1, hi=256)


@dataclass(frozen=True)
class Layout:
    """
    What the data fixes: state names (S), token positions (L) and the ids they hold.

    Model ids are ``token id - id_low`` in ``[0, n_ids)``; with ``variable_length``
    (FAST) id ``n_ids`` ends a sequence and pads it to L.  The AR head's input
    adds a begin id after those (``n_out``).  ``span_total`` > 0: each id stands for
    ``grammar.span[id]`` values (FAST's BPE tokens: DCT coefficients) and a chunk
    is exactly ``span_total`` of them, which greedy decoding enforces.
    """

    state_names: Tuple[str, ...]
    seq_len: int
    id_low: int
    n_ids: int
    variable_length: bool
    per_step: bool
    chunk_steps: int
    span_total: int = 0

    @property
    def state_dim(self):
        """Return S, the width of one state vector."""
        return len(self.state_names)

    @property
    def n_out(self):
        """Return the number of ids the head chooses from (the end id included)."""
        return self.n_ids + int(self.variable_length)

    @property
    def end_id(self):
        """Return the model id that ends a variable-length sequence, else None."""
        return self.n_ids if self.variable_length else None

    def to_dict(self):
        """Return the layout as plain YAML-safe values."""
        return {'state_names': list(self.state_names), 'seq_len': self.seq_len,
                'id_low': self.id_low, 'n_ids': self.n_ids,
                'variable_length': self.variable_length, 'per_step': self.per_step,
                'chunk_steps': self.chunk_steps, 'span_total': self.span_total}

    @classmethod
    def from_dict(cls, values, where):
        """Build from ``policy.yaml``'s layout block; a missing or bad key is one line."""
        want = {'state_names': list, 'seq_len': int, 'id_low': int, 'n_ids': int,
                'variable_length': bool, 'per_step': bool, 'chunk_steps': int,
                'span_total': int}
        if not isinstance(values, dict):
            raise PolicyFileError(f'{where}: layout must be a mapping, got {values!r}')
        for key, expected in want.items():
            value = values.get(key)
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                what = {list: 'a list', int: 'an integer', bool: 'true or false'}[expected]
                raise PolicyFileError(f'{where}: layout.{key} must be {what}, got {value!r}')
        unknown = sorted(set(values) - set(want))
        if unknown:
            raise PolicyFileError(f'{where}: layout: unknown key {unknown[0]!r}')
        if min(values['seq_len'], values['n_ids'], values['chunk_steps']) < 1 or \
                not values['state_names'] or values['span_total'] < 0:
            raise PolicyFileError(f'{where}: layout: seq_len, n_ids, chunk_steps and '
                                  'state_names must be positive / non-empty')
        names = [str(n) for n in values['state_names']]
        for name in names:
            pair = split_relative(name)
            if pair and not all(p in names and split_relative(p) is None for p in pair):
                raise PolicyFileError(f'{where}: layout: state {name!r} is a difference of '
                                      'values that are not among its recorded state_names')
        return cls(**dict(values, state_names=tuple(names)))
