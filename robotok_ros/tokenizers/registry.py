"""
The tokenizer kinds: one registry line each, classes imported only when asked for.

Learned kinds (``vq``, ``fast``) import torch / tokenizers lazily, so the
uniform decoder never pays for them.  A new kind is one module with one
``ActionTokenizer`` subclass (``kind``, ``capabilities``, ``settings_class``)
plus one ``register_kind`` line here (or in the code that adds it).
"""

import importlib

from robotok_ros.errors import ConfigError

KINDS = {}


def register_kind(kind, module, class_name):
    """Make tokenizer ``kind`` known: its class is ``module.class_name``, imported on use."""
    KINDS[kind] = (module, class_name)


register_kind('uniform', 'robotok_ros.tokenizers.binning', 'UniformTokenizer')
register_kind('rt1', 'robotok_ros.tokenizers.binning', 'RT1Tokenizer')
register_kind('quantile', 'robotok_ros.tokenizers.binning', 'QuantileTokenizer')
register_kind('openvla', 'robotok_ros.tokenizers.openvla', 'OpenVLATokenizer')
register_kind('vq', 'robotok_ros.tokenizers.vq', 'VQTokenizer')
register_kind('fast', 'robotok_ros.tokenizers.fast', 'FASTTokenizer')
register_kind('dct_table', 'robotok_ros.tokenizers.dct_table', 'DCTTableTokenizer')
register_kind('fast_hf', 'robotok_ros.tokenizers.fast_hf', 'FastHFTokenizer')


def kinds():
    """Return the registered kind names, in registration order."""
    return list(KINDS)


def tokenizer_class(kind):
    """Return the class for tokenizer ``kind``."""
    if kind not in KINDS:
        raise ConfigError(f'tokenizer must be one of {", ".join(KINDS)}, got {kind!r}')
    module, name = KINDS[kind]
    return getattr(importlib.import_module(module), name)


def make_tokenizer(kind, profile, **settings):
    """Create a tokenizer of ``kind`` for ``profile`` (a name, path or RobotProfile)."""
    return tokenizer_class(kind)(profile, **settings)
