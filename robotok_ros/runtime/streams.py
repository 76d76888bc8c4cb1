"""
A policy's whole generated sequence -> the action ids in it (``stream_format``).

- ``ids``: the message is the action ids (no extraction).
- ``openvla``: OpenVLA generates D action ids then its EOS (Llama-2 ``</s>``,
  id 2); ``predict_action`` keeps the last D generated ids.  Here: the last
  ``per_step`` ids before the first EOS (or the end, when there is none); the
  ids before them (prompt, text) and from the EOS on are dropped and counted.
- ``pi0_fast``: openpi's ``FASTTokenizer.extract_actions`` keeps the text
  between ``"Action: "`` and ``"|"``.  Without the text tokenizer that is the
  ids after the first occurrence of ``prefix`` (an id list; empty: from the
  start) up to the first ``separator`` (id list) or EOS id, whichever is first.

Every failure is a ``Rejected``: ``no_prefix`` (the prefix is not in the
sequence), ``no_actions`` (no action ids where they should be), ``layout``,
``length`` (longer than ``MAX_SEQUENCE``).  Extraction never repairs ids: the
extracted ids still pass every check of ``TokenCheck`` (range, length, decode).
"""

import math
import re

import numpy as np
from robotok_ros.errors import ConfigError
from robotok_ros.runtime.token_check import Rejected

FORMATS = ('ids', 'openvla', 'pi0_fast')
DEFAULT_EOS = {'openvla': (2,), 'pi0_fast': (1,)}  # Llama-2 </s>; Gemma/PaliGemma <eos>
MAX_SEQUENCE = 1 << 15  # ids in one generated sequence (prompt included)
ID_MAX = 2 ** 31 - 1


def find(seq, sub, start=0):
    """Return the first index >= ``start`` where id list ``sub`` occurs in ``seq`` (N,), or -1."""
    n, m = len(seq), len(sub)
    if m == 0 or n - start < m:
        return -1
    first = np.flatnonzero(seq[start:n - m + 1] == sub[0]) + start
    for i in first.tolist():
        if m == 1 or (seq[i:i + m] == sub).all():
            return i
    return -1


def extract(seq, fmt, per_step=0, prefix=(), separator=(), eos=()):
    """
    Return ``(start, stop)``: the action ids of generated sequence ``seq`` are seq[start:stop].

    ``seq``: int array (N,); ``eos``: ids any of which ends the sequence.  Raises
    Rejected (``no_prefix``, ``no_actions``) when the sequence holds no action ids.
    """
    n = len(seq)
    if fmt == 'ids':
        return 0, n
    ends = np.flatnonzero(np.isin(seq, np.asarray(eos, dtype=np.int64))) if eos else ()
    if fmt == 'openvla':
        end = int(ends[0]) if len(ends) else n
        if end < per_step:
            raise Rejected('no_actions', f'{end} ids before the EOS (of {n}); '
                           f'{per_step} action ids expected')
        return end - per_step, end
    start = 0
    if prefix:
        at = find(seq, np.asarray(prefix, dtype=np.int64))
        if at < 0:
            raise Rejected('no_prefix', f'the prefix ids {list(prefix)} are not in the '
                           f'{n} ids')
        start = at + len(prefix)
    stop = n
    if separator:
        at = find(seq, np.asarray(separator, dtype=np.int64), start)
        stop = at if at >= 0 else n
    later = [int(e) for e in ends if e >= start][:1]
    stop = min([stop] + later)
    if stop == start:
        raise Rejected('no_actions', f'no ids between the prefix (ends at {start}) and the '
                       f'separator / EOS (of {n} ids)')
    return start, stop


def check_ids(name, ids):
    """Return ``ids`` (ints 0..2^31-1) as a tuple; ConfigError names parameter ``name``."""
    out = tuple(ids)
    bad = [i for i in out if isinstance(i, bool) or not (isinstance(i, int) and 0 <= i <= ID_MAX)]
    if bad:
        raise ConfigError(f'parameter {name} must list token ids in [0, {ID_MAX}], got '
                          f'{bad[0]!r}')
    return out


class StreamFormat:
    """One ``stream_format`` with its id lists; ``take`` extracts one message's action ids."""

    def __init__(self, fmt, per_step, prefix=(), separator=(), eos=None, id_range=None):
        if fmt not in FORMATS:
            raise ConfigError(f'parameter stream_format must be one of {", ".join(FORMATS)}, '
                              f'got {fmt!r}')
        self.fmt, self.per_step = fmt, int(per_step or 0)
        self.prefix = check_ids('stream_prefix', prefix)
        self.separator = check_ids('stream_separator', separator)
        self.eos = check_ids('stream_eos', DEFAULT_EOS.get(fmt, ()) if eos is None else eos)
        if fmt == 'openvla' and not self.per_step:
            raise ConfigError('parameter stream_format=openvla takes the last ids of one step '
                              'and needs a per-step tokenizer (openvla, uniform, rt1, '
                              'quantile), not a chunk tokenizer')
        extra = [n for n, v in (('stream_prefix', self.prefix),
                                ('stream_separator', self.separator)) if v]
        if fmt != 'pi0_fast' and extra:
            raise ConfigError(f'parameter {extra[0]} applies to stream_format pi0_fast only, '
                              f'got stream_format={fmt!r}')
        if fmt == 'ids' and eos:
            raise ConfigError('parameter stream_eos applies to stream_format openvla or '
                              "pi0_fast, got stream_format='ids'")
        clash = [i for i in self.eos if id_range and id_range[0] <= i <= id_range[1]]
        if clash:
            raise ConfigError(f'parameter stream_eos: id {clash[0]} is an action id of the '
                              f'tokenizer (its ids are [{id_range[0]}, {id_range[1]}]); an '
                              'action would end the sequence: set vocab_offset or stream_eos')

    def describe(self):
        """Return a short description for the start-up log line."""
        if self.fmt == 'ids':
            return 'ids'
        parts = [f'eos {list(self.eos)}']
        if self.fmt == 'pi0_fast':
            parts = [f'prefix {list(self.prefix)}', f'separator {list(self.separator)}'] + parts
        return f'{self.fmt} ({", ".join(parts)})'

    def take(self, data, dims=(), offset=0):
        """Return (action ids list, ids dropped before, after) of one message's ``data`` (N,)."""
        n = len(data)
        if offset or (dims and math.prod(int(d) for d in dims) != n):
            raise Rejected('layout', f'layout.dim {list(dims)} (data_offset {offset}) does '
                           f'not describe {n} ids')
        if n > MAX_SEQUENCE:
            raise Rejected('length', f'{n} ids in one generated sequence; at most '
                           f'{MAX_SEQUENCE}')
        seq = np.asarray(data, dtype=np.int64)
        start, stop = extract(seq, self.fmt, self.per_step, self.prefix, self.separator,
                              self.eos)
        return seq[start:stop].tolist(), start, n - stop


def parse_ids(name, value):
    """
    Return parameter ``name``'s id list as a tuple; None for '' (the format's default).

    ``value``: an int, a list of ints, or a string of ints (``'4022 235292'``,
    ``'[4022, 235292]'``); ``'none'``: no ids.
    """
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text.lower() == 'none':
            return ()
        parts = [p for p in re.split(r'[\s,]+', text.strip('[]').strip()) if p]
        if not all(re.fullmatch(r'[0-9]+', p, re.ASCII) for p in parts):
            raise ConfigError(f'parameter {name} must be token ids (e.g. "4022 235292" or '
                              f'[4022, 235292]), got {value!r}')
        value = [int(p) for p in parts]
    elif isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    elif hasattr(value, 'tolist'):  # rclpy's integer arrays: array('q')
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f'parameter {name} must be token ids, got {value!r}')
    return check_ids(name, value)
