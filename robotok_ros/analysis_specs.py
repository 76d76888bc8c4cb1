"""
The ``--tokenizers`` specs of `robotok analyze`: ``kind[:N][:key=value...]`` -> TokenizerSpec.

A spec is checked when parsed (kind, keys, values) and against the profile
before any fitting starts (``TokenizerSpec.check``), so a bad item fails in
one line naming it, not after minutes of training the ones before it.
"""

from dataclasses import dataclass, field, replace

from robotok_ros.errors import ConfigError, RobotokError
from robotok_ros.fitting import fit_ranges
from robotok_ros.tokenizers.registry import kinds, make_tokenizer, tokenizer_class


def _value(text):
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return {'true': True, 'false': False, 'none': None}.get(text.lower(), text)


def _allowed(cls):
    """Return the spec keys of a tokenizer class: its settings (and ``ranges`` if a choice)."""
    return cls.settings_class.names() + (['ranges'] if cls.capabilities.ranges_choice else [])


@dataclass(frozen=True)
class TokenizerSpec:
    """One configuration to compare: ``label`` as the user wrote it, kind and settings."""

    label: str
    kind: str
    settings: dict = field(default_factory=dict)
    ranges: str = 'data'

    def __post_init__(self):
        if self.kind not in kinds():
            raise ConfigError(f'--tokenizers item {self.label!r}: unknown kind {self.kind!r} '
                              f'(one of {", ".join(kinds())})')
        if self.ranges not in ('data', 'profile'):
            raise ConfigError(f'--tokenizers item {self.label!r}: ranges must be data or '
                              f'profile, got {self.ranges!r}')
        try:  # settings errors before any fitting starts
            tokenizer_class(self.kind).settings_class.from_mapping(self.settings, 'settings')
        except ConfigError as exc:
            raise ConfigError(f'--tokenizers item {self.label!r}: {exc}') from None

    def _check_quantiles(self, profile):
        # The tokenizer's own error says 'fit the profile on data first', which in a spec is
        # ranges=data; say so, before anything is fitted.
        if self.ranges != 'profile':
            return
        # The class says which dimensions it normalises by q01/q99 (OpenVLA: all but the
        # gripper, always; FAST: all, with normalization=quantile).
        needs = tokenizer_class(self.kind).quantile_needs(self.settings, profile)
        if needs is None:
            return
        need, because = needs
        what = f'{because} ' if because else ''
        missing = [d.name for d in need if d.q01 is None or d.q99 is None]
        if missing:
            raise ConfigError(f'--tokenizers item {self.label!r}: {what}needs q01/q99, and '
                              f'profile {profile.name} has none for {missing[0]}; add '
                              ':ranges=data to take them from the training episodes')

    @property
    def capabilities(self):
        """Return the capabilities of the spec's tokenizer class."""
        return tokenizer_class(self.kind).capabilities

    def build(self, profile, train=None):
        """Return an unfitted tokenizer; ``ranges=data`` takes the ranges from ``train``."""
        settings = dict(self.settings)
        cls = tokenizer_class(self.kind)
        self._check_quantiles(profile)
        if 'fit_ranges' in cls.settings_class.names():
            settings['fit_ranges'] = self.ranges == 'data'
        elif self.ranges == 'data' and train is not None and cls.capabilities.ranges_choice:
            profile = fit_ranges(train, profile)
        try:
            return make_tokenizer(self.kind, profile, **settings)
        except RobotokError as exc:
            raise ConfigError(f'--tokenizers item {self.label!r}: {exc}') from None

    def fixes(self, profile, held_out):
        """
        Return ``(wide, clip)``: the change that fixes each range finding of this spec.

        ``wide``: ranges far wider than the data; ``clip``: held-out values clip
        at them (``:ranges=profile`` only where the profile holds ``held_out``).
        """
        from robotok_ros.checks import holds, tokenizer_ranges
        if not self.capabilities.ranges_choice:  # quantile edges are always the data's
            return ('use more bins (N)', "its edges are the training data's extremes: train on "
                    'episodes that cover the held-out range, or compare uniform:N:ranges=profile')
        wide = ("add :ranges=data to the spec (the training data's min/max)"
                if self.ranges == 'profile' else 'give a profile with narrower ranges')
        clip = 'train on episodes that cover the held-out range'
        if self.ranges == 'data':
            try:
                ranges = tokenizer_ranges(replace(self, ranges='profile').build(profile))
            except RobotokError:
                ranges = None
            if ranges and holds(ranges[1], held_out, profile.dim):
                clip = (f"add :ranges=profile to the spec (profile {profile.name}'s ranges hold "
                        f'every held-out value), or {clip}')
        return wide, clip


def parse_spec(item):
    """
    Parse ``kind[:N][:key=value...]`` (e.g. ``fast:H=10:scale=10``) into a TokenizerSpec.

    Keys are the kind's settings (or their short aliases: ``N`` bins, ``H``/``K``
    chunk_steps, ...) and ``ranges``; a bare number is the bin count of a kind
    that has ``n_bins``.  Errors name the item.
    """
    label = item.strip()
    kind, *parts = label.split(':')
    if kind not in kinds():
        raise ConfigError(f'--tokenizers item {label!r}: unknown kind {kind!r} '
                          f'(one of {", ".join(kinds())})')
    cls = tokenizer_class(kind)
    allowed, aliases = _allowed(cls), cls.settings_class.aliases()
    settings = dict(cls.analysis_defaults)
    ranges = cls.capabilities.default_ranges
    for part in parts:
        key, sep, text = part.partition('=')
        if not sep:
            key, text = 'n_bins', part
            if 'n_bins' not in allowed or not part.isdigit():
                raise ConfigError(f'--tokenizers item {label!r}: {part!r} is not key=value'
                                  + (' or a bin count' if 'n_bins' in allowed else ''))
        name = aliases.get(key.strip(), key.strip())
        if name not in allowed:
            short = {}
            for alias, full in aliases.items():
                short.setdefault(full, alias)
            names = ', '.join(f'{short[n]}/{n}' if n in short else n for n in allowed)
            raise ConfigError(f'--tokenizers item {label!r}: unknown setting {key!r} for '
                              f'{kind} (one of {names})')
        if not text.strip():
            raise ConfigError(f'--tokenizers item {label!r}: {key} has no value')
        if name == 'ranges':
            ranges = text.strip()
        else:
            settings[name] = _value(text.strip())
    return TokenizerSpec(label, kind, settings, ranges)


def parse_specs(items):
    """Parse specs given as strings that may each hold several comma-separated items."""
    specs = [parse_spec(i) for text in items for i in text.split(',') if i.strip()]
    if not specs:
        raise ConfigError('--tokenizers: no tokenizer named')
    return specs
