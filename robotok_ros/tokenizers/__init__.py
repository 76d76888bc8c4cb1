"""
Tokenizer registry: one name per kind, classes imported only when asked for.

Learned kinds (``vq``, ``fast``) import torch / tokenizers lazily, so the
uniform decoder never pays for them.
"""

import importlib

from robotok_ros.errors import ConfigError

KINDS = {
    'uniform': ('robotok_ros.tokenizers.binning', 'UniformTokenizer'),
    'rt1': ('robotok_ros.tokenizers.binning', 'RT1Tokenizer'),
    'quantile': ('robotok_ros.tokenizers.binning', 'QuantileTokenizer'),
    'openvla': ('robotok_ros.tokenizers.openvla', 'OpenVLATokenizer'),
    'vq': ('robotok_ros.tokenizers.vq', 'VQTokenizer'),
    'fast': ('robotok_ros.tokenizers.fast', 'FASTTokenizer'),
}


def tokenizer_class(kind):
    """Return the class for tokenizer ``kind``."""
    if kind not in KINDS:
        raise ConfigError(f'tokenizer must be one of {", ".join(KINDS)}, got {kind!r}')
    module, name = KINDS[kind]
    return getattr(importlib.import_module(module), name)


def make_tokenizer(kind, profile, **settings):
    """Create a tokenizer of ``kind`` for ``profile`` (a name, path or RobotProfile)."""
    try:
        return tokenizer_class(kind)(profile, **settings)
    except TypeError as exc:
        raise ConfigError(f'bad settings for tokenizer {kind!r}: {exc}') from None


def load_tokenizer(path):
    """Load any tokenizer saved with ``save(path)``."""
    from robotok_ros.tokenizers.base import ActionTokenizer
    return ActionTokenizer.load(path)
