"""
Checks of a fitted tokenizer against the data it is measured on, as findings with numbers.

Defaults that go wrong give no error, only worse numbers: ranges far wider than
the data spend the resolution on values that never occur; ranges fitted on the
training episodes clip held-out values beyond them; a codebook trained too
briefly, or too large for the data, leaves most codes unused on new chunks;
back-to-back chunks leave out each episode's tail.  These pure functions find
each case; ``*_warnings`` word it as one line for the command that fixes it,
which the commands print to stderr.
"""

import numpy as np
from robotok_ros.fitting import stack_episodes
from robotok_ros.resolution import display_factor, display_unit

# Tokenizer span over data span above which most of a dimension's resolution is never used.
WIDE_RATIO = 4.0
# Held-out clips worth a warning: the worst beyond the ranges, as a share of their span, or the
# share of values clipped beyond what the training data clips (OpenVLA clips 2% by design).
CLIP_SPAN = 0.05
CLIP_FRACTION = 0.01
# Codebook use, as a share of what the chunks could use (min(C, chunks) codes), below which
# held-out use is low, and training use (the last epoch's) an undertrained codebook.
LOW_USE = 0.5
# Share of the steps in episode tails (after the last whole chunk) worth a warning.
TAIL_SHARE = 0.01


def tokenizer_ranges(tok):
    """
    Return ``(span, box)`` of a fitted tokenizer, each a ``(lo, hi)`` pair of ``(D,)`` arrays.

    ``span``: the values its resolution is spread over; ``box``: what it
    encodes without clipping (infinite where a value passes through, as
    OpenVLA's gripper).  None for a kind whose ranges are not known.  Each
    tokenizer class answers for itself (``ActionTokenizer.value_ranges``), so a
    new kind needs no change here.
    """
    return tok.value_ranges()


def _beyond(data, box):
    """Return how far each value lies outside ``box`` (0 inside), ``(N, D)``."""
    return np.maximum(np.maximum(box[0] - data, data - box[1]), 0.0)


def range_findings(span, box, train, held_out, profile):
    """
    Compare a tokenizer's ranges with the data; return ``{'wide': {...}, 'clip': {...}}``.

    ``wide``: ``{name: span / data span}`` for dimensions where the tokenizer's
    span exceeds the span of ``train`` and ``held_out`` together by WIDE_RATIO.
    ``clip``: ``{name: {'fraction', 'worst', 'worst_physical'}}`` for dimensions
    where held-out values clip beyond CLIP_SPAN of the box's span (and twice
    the training data's worst) or more often than CLIP_FRACTION beyond the
    training data's share; ``worst`` in action units.  Both empty when all is well.
    """
    train = stack_episodes(train, profile.dim)
    val = stack_episodes(held_out, profile.dim) if len(held_out) else train[:0]
    data = np.concatenate([train, val])
    lo, hi = np.asarray(span[0], float), np.asarray(span[1], float)
    data_span = data.max(axis=0) - data.min(axis=0)
    wide = {}
    for i, name in enumerate(profile.names):
        width = hi[i] - lo[i]
        # A dimension that never moves has no span to compare with.
        if np.isfinite(width) and data_span[i] > 1e-12 * max(width, 1e-300):
            if width > WIDE_RATIO * data_span[i]:
                wide[name] = float(width / data_span[i])
    clip = {}
    if len(val):
        beyond, trained = _beyond(val, box), _beyond(train, box)
        box_span = np.asarray(box[1], float) - np.asarray(box[0], float)
        for i, name in enumerate(profile.names):
            fraction = float((beyond[:, i] > 0).mean())
            worst = float(beyond[:, i].max())
            excess = fraction - float((trained[:, i] > 0).mean())
            big = (np.isfinite(box_span[i]) and worst > CLIP_SPAN * box_span[i]
                   and worst > 2 * trained[:, i].max())
            if fraction > 0 and (big or excess > CLIP_FRACTION):
                clip[name] = {'fraction': fraction, 'worst': worst,
                              'worst_physical': worst * float(profile.scales[i])}
    return {'wide': wide, 'clip': clip}


def holds(box, episodes, dim):
    """Whether every value of ``episodes`` lies inside ``box`` (a ``(lo, hi)`` pair)."""
    return not _beyond(stack_episodes(episodes, dim), box).any()


def range_warnings(findings, profile, label, fix_wide, fix_clip):
    """Return one line per finding: what, per dimension with numbers, and ``fix_*`` after ';'."""
    lines = []
    if findings['wide']:
        dims = ', '.join(f'{n} {r:.0f}x' for n, r in findings['wide'].items())
        lines.append(f'{_head(label)}ranges much wider than the data ({dims}), so most of the '
                     f'resolution is spent on values that never occur; {fix_wide}')
    if findings['clip']:
        parts = []
        for name, c in findings['clip'].items():
            i = profile.names.index(name)
            worst = c['worst_physical'] * display_factor(profile, i)
            parts.append(f'{name} {c["fraction"]:.1%} (worst {worst:.3g} '
                         f'{display_unit(profile, i)} beyond)')
        lines.append(f'{_head(label)}held-out values clip at the ranges: {", ".join(parts)}; '
                     f'{fix_clip}')
    return lines


def codebook_findings(used, chunks, codes, history=(), train_windows=None):
    """
    Judge a codebook's use; return ``{'low_use': {...}?, 'undertrained': {...}?}``.

    ``used``: held-out fraction of codes used per level on ``chunks`` chunks;
    ``codes``: codes per level; ``history``: the per-epoch training records
    (``used`` per level) over ``train_windows`` windows.  A level is judged
    against the share its chunks could use, min(codes, chunks) / codes:
    ``low_use`` when held-out use is below LOW_USE of it, ``undertrained``
    when the last epoch's training use is.  (The training loss is no guide:
    on small data it keeps falling as the model memorises the windows.)
    """
    out = {}
    attainable = min(codes, chunks) / codes
    if chunks and min(used) < LOW_USE * attainable:
        out['low_use'] = {'used': list(used), 'chunks': int(chunks), 'attainable': attainable}
    if history:
        windows = train_windows or codes
        reach = min(codes, windows) / codes
        if min(history[-1]['used']) < LOW_USE * reach:
            out['undertrained'] = {'train_used': list(history[-1]['used']),
                                   'epochs': len(history), 'windows': int(windows),
                                   'attainable': reach}
    return out


def _percents(values):
    return '/'.join(f'{v:.0%}' for v in values)


def _head(label):
    return f'{label}: ' if label else ''


def codebook_warnings(findings, label, fix_low, fix_train):
    """Return one line per codebook finding, with its numbers and ``fix_*`` after ';'."""
    lines = []
    low = findings.get('low_use')
    if low:
        lines.append(f'{_head(label)}held-out chunks use {_percents(low["used"])} of the codes '
                     f'per level ({low["chunks"]} chunks could use {low["attainable"]:.0%}); '
                     f'{fix_low}')
    under = findings.get('undertrained')
    if under:
        lines.append(f'{_head(label)}codebook undertrained: after {under["epochs"]} epochs '
                     f'training used {_percents(under["train_used"])} of the codes per level '
                     f'({under["windows"]} windows could use {under["attainable"]:.0%}); '
                     f'{fix_train}')
    return lines


def tail_steps(episodes, steps):
    """Return ``(steps after each episode's last whole chunk, all steps)`` of ``episodes``."""
    lengths = [len(ep) for ep in episodes]
    # An episode shorter than a chunk is padded to one (held still), so it has no tail.
    return sum(n % steps for n in lengths if n >= steps), sum(lengths)


def tail_warning(label, dropped, total, steps):
    """Return the line for an unmeasured tail of TAIL_SHARE of the steps or more, else None."""
    if not total or dropped < TAIL_SHARE * total:
        return None
    return (f'{_head(label)}{dropped} of {total} held-out steps ({dropped / total:.0%}) are not '
            f'measured: they follow the last whole {steps}-step chunk of an episode')


def window_count(episodes, steps, stride):
    """Return how many ``steps``-long windows every ``stride`` steps a VQ fit trains on."""
    return sum((len(ep) - steps) // stride + 1 for ep in episodes if len(ep) >= steps)


def fit_warnings(profile, episodes, kept_ranges):
    """
    Return the lines `robotok fit` prints when a fitted profile's ranges dwarf its data.

    ``kept_ranges``: the ranges were kept from the base profile (``--keep-ranges``),
    which is then the flag to drop; fitted ranges are the data's and never warn.
    """
    fix = ('drop --keep-ranges to fit min/max to the data, or give tokenizers ranges=data'
           if kept_ranges else 'give tokenizers ranges=data')
    found = range_findings((profile.lows, profile.highs), (profile.lows, profile.highs),
                           episodes, [], profile)
    return range_warnings(found, profile, f'profile {profile.name}', fix, '')
