"""
Action tokenizers: the registry of kinds, and the one verb set they share.

``make_tokenizer(kind, profile, **settings)`` creates one, ``load_tokenizer(path)``
reads a saved one back; see ``registry.py`` for the kinds and ``settings.py``
for what each declares about itself.
"""

from robotok_ros.tokenizers.base import ActionTokenizer
from robotok_ros.tokenizers.registry import KINDS, kinds, make_tokenizer, register_kind, \
    tokenizer_class


def load_tokenizer(path):
    """Load any tokenizer saved with ``save(path)``."""
    return ActionTokenizer.load(path)


__all__ = ['ActionTokenizer', 'KINDS', 'kinds', 'load_tokenizer', 'make_tokenizer',
           'register_kind', 'tokenizer_class']
