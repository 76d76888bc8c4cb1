"""
Vocabulary layout: where action ids sit relative to a language model's text vocabulary.

Two conventions from the VLA literature:
- append (RT-2 style with a new embedding block): action ids start right after the
  text vocabulary, ``vocab_offset = text_vocab_size``; the total grows.
- overwrite (OpenVLA): the action ids replace the *last* ids of the text vocabulary
  (the least-used Llama tokens); the total stays ``text_vocab_size``.
And two bin layouts: shared (one set of N ids for every dimension, RT-2) or
per_dimension (N x D disjoint ids, so the model can tell dimensions apart by id).
"""

from robotok_ros.errors import ConfigError

MODES = ('append', 'overwrite')


def offset_for(mode, text_vocab_size, action_vocab_size):
    """Return the first action id for ``mode`` given both vocabulary sizes."""
    if mode not in MODES:
        raise ConfigError(f'mode must be one of {MODES}, got {mode!r}')
    if isinstance(text_vocab_size, bool) or not isinstance(text_vocab_size, int) or \
            text_vocab_size < 0:
        raise ConfigError(f'text_vocab_size must be an integer >= 0, got {text_vocab_size!r}')
    if mode == 'append':
        return text_vocab_size
    if action_vocab_size > text_vocab_size:
        raise ConfigError(f'overwrite needs text_vocab_size >= the {action_vocab_size} action '
                          f'ids, got text_vocab_size={text_vocab_size}')
    return text_vocab_size - action_vocab_size


def vocab_report(tokenizer, text_vocab_size=0, mode='append'):
    """
    Describe the id layout of ``tokenizer`` inside a text vocabulary, as a JSON-ready dict.

    ``tokenizer`` must already carry the offset the mode implies (``offset_for``);
    the report checks that and gives totals, the action-token fraction and, for
    per-step tokenizers, the id range of every dimension.
    """
    lo, hi = tokenizer.id_range
    n_action = tokenizer.vocab_size
    if mode == 'append':
        total = max(text_vocab_size, 0) + n_action if lo >= text_vocab_size else max(
            text_vocab_size, hi + 1)
    else:
        total = text_vocab_size
        if hi >= text_vocab_size:
            raise ConfigError(f'overwrite mode: action id {hi} is beyond the text vocabulary '
                              f'of {text_vocab_size}')
    dims = []
    ranges = getattr(tokenizer, 'dimension_id_ranges', None)
    for i, d in enumerate(tokenizer.profile.dimensions):
        first, last = ranges()[i] if ranges else (lo, hi)
        dims.append({'index': i, 'name': d.name, 'unit': d.unit, 'first_id': first,
                     'last_id': last, 'min': d.low, 'max': d.high})
    return {
        'tokenizer': tokenizer.kind, 'settings': tokenizer.settings(),
        'robot': tokenizer.profile.name, 'mode': mode, 'text_vocab_size': text_vocab_size,
        'action_vocab_size': n_action, 'first_action_id': lo, 'last_action_id': hi,
        'total_vocab_size': total, 'action_token_fraction': n_action / total if total else 1.0,
        'tokens_per_step': tokenizer.tokens_per_step, 'chunk_steps': tokenizer.chunk_steps,
        'dimensions': dims,
    }


def format_report(report):
    """Render ``vocab_report`` output as a short human-readable table."""
    lines = [
        f"{report['tokenizer']} tokenizer for {report['robot']} ({report['mode']} mode)",
        f"  text vocabulary      : {report['text_vocab_size']}",
        f"  action ids           : {report['action_vocab_size']} "
        f"[{report['first_action_id']}, {report['last_action_id']}]",
        f"  total vocabulary     : {report['total_vocab_size']}",
        f"  action token fraction: {report['action_token_fraction']:.4%}",
        '  dimension   first_id  last_id  range',
    ]
    for d in report['dimensions']:
        lines.append(f"  {d['name']:<10} {d['first_id']:>9} {d['last_id']:>8}  "
                     f"[{d['min']:g}, {d['max']:g}] {d['unit']}")
    return '\n'.join(lines)
