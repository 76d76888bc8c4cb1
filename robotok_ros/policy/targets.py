"""
Token targets per step: what the policy must say at each control step.

- per-step tokenizers (capabilities.per_step): the D ids of the step;
- chunk tokenizers: the ids of the chunk that starts at the step, its last
  action repeated past the episode's end (as ``tokenizers/chunking.py`` pads);
  fixed-length kinds (VQ: R ids) give R positions, variable-length FAST
  sequences are padded to the longest with the end id, which the policy
  predicts once after the last id (it then stops).

A policy playing a chunk tokenizer emits one token message per chunk, so every
step is a training sample (a chunk could start at any of them).
"""

import numpy as np
from robotok_ros.errors import ConfigError
from robotok_ros.policy.config import Layout


def step_sequences(tok, actions):
    """Return the id sequences of every step of one episode ``actions`` (T, D): T arrays."""
    if tok.capabilities.per_step:
        return list(np.asarray(tok.encode(actions), np.int64).reshape(len(actions), -1))
    k = tok.chunk_steps
    padded = np.concatenate([actions, np.repeat(actions[-1:], k - 1, axis=0)])
    chunks = padded[np.arange(len(actions))[:, None] + np.arange(k)]
    out = tok.encode(chunks)
    return [np.asarray(o, np.int64).reshape(-1) for o in out]


def token_spans(tok):
    """
    Return ``(spans (n_ids,), total)`` when each id stands for a known number of values.

    FAST's BPE tokens expand to ``token_len`` DCT coefficients each and a chunk is
    chunk_steps x D of them; other kinds return ``(None, 0)``.
    """
    lens = getattr(getattr(tok, '_bpe', None), 'token_len', None)
    if lens is None or tok.capabilities.per_step:
        return None, 0
    lo, hi = (int(v) for v in tok.id_range)
    spans = np.asarray(lens, np.int64)[:hi - lo + 1]
    return spans, int(tok.chunk_steps * tok.dim)


def make_layout(tok, sequences, state_names, margin=0):
    """
    Return the Layout for tokenizer ``tok`` and the training ``sequences`` (arrays of ids).

    ``margin``: extra positions for FAST sequences longer than any seen (the end
    id always has one).
    """
    lo, hi = (int(v) for v in tok.id_range)
    variable = not tok.capabilities.fixed_length
    lengths = {len(s) for s in sequences}
    if not variable and len(lengths) != 1:
        raise ConfigError(f'{tok.kind} tokenizer: fixed-length chunks of {sorted(lengths)} '
                          'ids')
    seq_len = max(lengths) + (1 + margin if variable else 0)
    total = token_spans(tok)[1] if variable else 0
    return Layout(tuple(state_names), seq_len, lo, hi - lo + 1, variable,
                  bool(tok.capabilities.per_step), int(tok.chunk_steps), total)


def allowed(spans, total, used):
    """
    Return ``(B, n_ids + 1)`` True where an id fits a chunk with ``used`` (B,) values so far.

    An id fits when its span does not overshoot ``total``; the end id only once the
    chunk is whole.  Numpy arrays in, numpy out (the torch model converts).
    """
    room = total - np.asarray(used)[:, None]
    return np.concatenate([spans[None, :] <= room, room == 0], 1)


def target_array(layout, sequences):
    """
    Return ``(targets (N, L) int64 model ids, mask (N, L) bool)`` for id ``sequences``.

    The mask holds the positions that count: the ids and, when variable length,
    the end id after them; longer sequences than L are cut (counted by callers
    through ``cut``).
    """
    n, length = len(sequences), layout.seq_len
    fill = layout.end_id if layout.variable_length else 0
    targets = np.full((n, length), fill, dtype=np.int64)
    mask = np.zeros((n, length), dtype=bool)
    for i, seq in enumerate(sequences):
        ids = np.asarray(seq, np.int64)[:length] - layout.id_low
        targets[i, :len(ids)] = ids
        mask[i, :min(length, len(ids) + int(layout.variable_length))] = True
    return targets, mask


def tokens_from_model(layout, model_ids):
    """Return tokenizer ids ``(N,)`` from one row of model ids, cut at the end id."""
    ids = np.asarray(model_ids, np.int64).reshape(-1)
    if layout.variable_length:
        stop = np.flatnonzero(ids == layout.end_id)
        ids = ids[:stop[0]] if stop.size else ids
    return ids + layout.id_low
