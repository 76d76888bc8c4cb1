"""
DecoderCore's inputs beside plain token ids, each opt-in (the node turns them on).

- ``set_stream``: token messages are a policy's whole generated sequence
  (``runtime.streams``); the action ids are extracted before every other check
  and the dropped ids are counted (``stream_dropped_prefix``, ``_trailing``).
- ``add_text_input`` / ``on_text``: RT-2 text actions (``runtime.inputs.TextCheck``).
- ``add_chunk_input`` / ``on_chunk``: continuous chunks (``runtime.inputs.ChunkCheck``).

Text and chunks share everything after their own check with token messages:
the enable gate, the watchdog, playout, limits; their rejects count by reason in
``rejected`` and per input in ``text_rejected`` / ``chunk_rejected``.
"""

import numpy as np
from robotok_ros.runtime.inputs import ChunkCheck, END, TextCheck
from robotok_ros.runtime.streams import StreamFormat
from robotok_ros.runtime.token_check import Rejected

COUNTERS = ('text_received', 'text_rejected', 'chunk_received', 'chunk_rejected',
            'terminations', 'stream_dropped_prefix', 'stream_dropped_trailing')


class DecoderInputs:
    """Mixin of DecoderCore: the opt-in inputs (see the module docstring)."""

    stream = text = chunk = None

    def set_stream(self, fmt, prefix=(), separator=(), eos=None):
        """Extract action ids from generated sequences of ``fmt`` (``streams.FORMATS``)."""
        ids = (int(np.min(self.checker.id_lo)), int(np.max(self.checker.id_hi)))
        stream = StreamFormat(fmt, self.checker.per_step, prefix, separator, eos, ids)
        self.stream = None if fmt == 'ids' else stream
        return stream.describe()

    def add_text_input(self, terminate_value=0):
        """Accept RT-2 text actions through ``on_text``; ConfigError for a non-binning kind."""
        self.text = TextCheck(self.tokenizer, self.checker, terminate_value)

    def add_chunk_input(self, normalization='none', stats=''):
        """Accept continuous chunks through ``on_chunk`` (``inputs.ChunkCheck``)."""
        self.chunk = ChunkCheck(self.profile, self.checker.max_steps, normalization, stats)

    def _extract(self, data, dims, offset):
        ids = self.stream.take(data, dims, offset)
        self.counters['stream_dropped_prefix'] += ids[1]
        self.counters['stream_dropped_trailing'] += ids[2]
        return ids[0]

    def on_text(self, text, now):
        """Take one text action (str); return the Command to publish, END, or None."""
        return self._on_input('text', self.text.check, now, text)

    def on_chunk(self, data, now, dims=(), offset=0):
        """Take one chunk's floats (T*D,), layout ``dims``; return a Command or None."""
        return self._on_input('chunk', self.chunk.check, now, data, dims, offset)

    def _on_input(self, kind, check, now, *args):
        self.counters['received'] += 1
        self.counters[f'{kind}_received'] += 1
        if not self.enabled:
            self.counters['ignored_disabled'] += 1
            return None
        try:
            actions = check(*args)
        except Rejected as exc:
            self.rejected[exc.reason] += 1
            self.counters[f'{kind}_rejected'] += 1
            raise
        if actions is END:
            self.counters['terminations'] += 1
            self.disable()
            return END
        return self._accept(None, actions, now, '')
