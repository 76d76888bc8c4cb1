"""
What episode_recorder reports on /diagnostics: values and a level that tells the truth.

- ERROR while ``RecorderCore.disk_error`` is set: a disk error ended or refused
  an episode.  It stays until an episode starts successfully (the disk has
  room again), however long the node then sits idle.
- WARN while flushes fall behind (the last good flush, or the oldest message
  not yet flushed, is older than ``LATE_FLUSHES`` flush periods: a crash would
  lose more than the flush period promises), or a flush came that late
  (``RecorderCore.late_flushes``: the node stalled), and for a quiet
  ``window`` seconds after either.
- OK otherwise.

``lag`` is how long the oldest message not yet flushed has waited: what a
killed recorder would lose right now (0 when everything is flushed).
"""

from robotok_ros.runtime.recorder import LATE_FLUSHES

OK, WARN, ERROR = 'OK', 'WARN', 'ERROR'


class RecorderHealth:
    """Turn a RecorderCore into diagnostics values and a level; see the module docstring."""

    def __init__(self, window=5.0):
        self.window = float(window)
        self._late_at = None  # clock time flushes were last seen falling behind

    def values(self, core, now):
        """Return the diagnostics values of ``core`` at clock time ``now`` (str -> str)."""
        flush_age = (now - core.last_flush) if core.writer is not None else None
        lag = (now - core.pending_since) if core.pending_since is not None else 0.0
        counts = core.writer.counts if core.writer is not None else {}
        return {
            'recording': str(core.recording).lower(),
            'episode': str(core.writer.path) if core.writer is not None else '',
            'last_episode': core.last_bag, 'episodes_closed': str(core.episodes),
            'messages_written': str(core.messages_written),
            'episode_messages': str(sum(counts.values())),
            'messages_lost': str(core.messages_lost),
            'last_flush_age_s': '' if flush_age is None else f'{flush_age:.3f}',
            'lag_s': f'{lag:.3f}', 'flush_period_s': f'{core.flush_period:g}',
            'late_flushes': str(core.late_flushes),
            'disk_errors': str(core.disk_errors), 'disk_error': core.disk_error}

    def assess(self, core, now):
        """Return ``(level, message)`` for ``core`` at clock time ``now``."""
        if core.disk_error:
            return ERROR, (f'disk error: {core.disk_error}; recording resumes once an episode '
                           'starts successfully')
        late = LATE_FLUSHES * core.flush_period
        behind = []
        if core.writer is not None and now - core.last_flush > late:
            behind.append(f'last flush {now - core.last_flush:.2f} s ago')
        if core.pending_since is not None and now - core.pending_since > late:
            behind.append(f'lag {now - core.pending_since:.2f} s')
        state = f'recording {core.writer.path}' if core.recording else 'idle'
        if behind:
            self._late_at = now
            return WARN, (f'{state}; flushes fall behind ({", ".join(behind)}; flush period '
                          f'{core.flush_period:g} s)')
        recent = [t for t in (self._late_at, core.last_late) if t is not None]
        if recent and now - max(recent) < self.window:
            return WARN, (f'{state}; flushes fell behind {now - max(recent):.1f} s ago '
                          f'({core.late_flushes} late so far; OK after {self.window:g} s '
                          'without)')
        return OK, state
