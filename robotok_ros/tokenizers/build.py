"""
One way to get a tokenizer from what a user set, shared by the nodes and the CLI.

A node's parameters and the CLI's flags are both generated from
``buildable_settings()``: the settings fields of every kind that can be built
from settings alone (no fitting).  ``build_tokenizer`` then makes one kind from
the values the user gave, or loads a saved folder, with the same checks (and the
same words, through ``name_of``) in both places.
"""

from robotok_ros.errors import ConfigError, RobotokError
from robotok_ros.tokenizers.base import ActionTokenizer
from robotok_ros.tokenizers.registry import kinds, tokenizer_class


def buildable_settings():
    """
    Return ``{name: (type, default, metadata)}`` over every kind built from settings alone.

    A name shared by several kinds (``n_bins``) must mean the same there: same
    type and default; the widest range is kept, each kind checks its own.
    """
    out = {}
    for kind in kinds():
        try:
            cls = tokenizer_class(kind)
        except ImportError:  # an optional dependency missing: that kind is not offered
            continue
        if cls.capabilities.needs_fit:
            continue
        for name, kind_type, default, meta in cls.settings_class.field_specs():
            if name in out and out[name][:2] != (kind_type, default):
                raise ConfigError(f'setting {name} of tokenizer {kind!r} has type/default '
                                  f'{kind_type.__name__}/{default!r}, another kind has '
                                  f'{out[name][0].__name__}/{out[name][1]!r}')
            out.setdefault(name, (kind_type, default, meta))
    return out


def _flag(name):
    return name


def build_tokenizer(kind, profile, given=None, tokenizer_path='', name_of=_flag):
    """
    Return the tokenizer a user asked for: ``kind`` with settings ``given``, or a saved one.

    ``given``: the settings the user set (a dict; leave out what was not set).
    ``tokenizer_path``: a saved folder, which must hold ``kind`` (None: any kind).
    ``name_of(setting)`` spells a setting as the user wrote it (``parameter n_bins``,
    ``--n-bins``) in every error.
    """
    given = dict(given or {})
    if tokenizer_path:
        try:
            tok = ActionTokenizer.load(tokenizer_path)
        except RobotokError as exc:
            raise ConfigError(f'{name_of("tokenizer_path")}={tokenizer_path!r}: {exc}') from None
        if kind is not None and tok.kind != kind:
            raise ConfigError(f'{name_of("tokenizer")}={kind!r} but {name_of("tokenizer_path")}='
                              f'{tokenizer_path!r} holds a {tok.kind!r} tokenizer')
        return tok
    try:
        cls = tokenizer_class(kind)
    except ImportError as exc:
        raise ConfigError(f'{name_of("tokenizer")}={kind!r}: cannot be imported ({exc})') from None
    if cls.capabilities.needs_fit:
        raise ConfigError(f'{name_of("tokenizer")}={kind!r} must be fitted: make one with '
                          f'`{cls.train_command}` and give {name_of("tokenizer_path")}')
    own = cls.settings_class.names()
    for name, value in given.items():
        if name not in own:
            raise ConfigError(f'{name_of(name)}={value!r} does not apply to the {kind} '
                              f'tokenizer (its settings: {", ".join(own) or "none"})')
    if profile is None:
        raise ConfigError(f'{name_of("robot")} or {name_of("profile_path")} must be set for '
                          f'the {kind} tokenizer')
    try:
        return cls(profile, **given)
    except ConfigError as exc:
        raise ConfigError(f'tokenizer {kind!r} with {given}: {exc}') from None
