"""
ROS-free logic of episode_recorder: which bag is open, when it closes, what the status says.

States: idle -> recording (``start``) -> stopping (``request_stop``: messages
still in flight are written for a grace period) -> idle (``finish``).  A start
while stopping finishes the old episode first.  The node owns the timers and
the subscriptions; this owns the bag (``data.bag_writer.EpisodeWriter``).

A disk error (full disk, file too large, I/O error) while writing, flushing or
closing ends the episode at once: the writer leaves the bag readable up to its
last flush, ``disk_error`` says what happened and stays set until the next
episode starts successfully, and ``on_error`` (if given) is told.  A start that
hits a disk error is refused (DiskError) and leaves no bag behind.
"""

import os
import time

from robotok_ros.data.bag_writer import episode_metadata, episode_path, EpisodeWriter, \
    next_episode_index, os_problem
from robotok_ros.errors import DiskError

# A flush later than this many flush periods means recording stalled (a crash would have lost
# more than the flush period promises).
LATE_FLUSHES = 3


class RecorderCore:
    """One episode bag at a time in ``output_dir``; see the module docstring."""

    def __init__(self, profile, tokenizer, output_dir, topics, tokenizer_path='', fsync=True,
                 task='', on_error=None, clock=time.monotonic, flush_period=0.5,
                 observations=()):
        self.profile, self.tokenizer, self.tokenizer_path = profile, tokenizer, tokenizer_path
        self.observations = tuple(observations)  # the topics of ``topics`` that hold state
        self.output_dir, self.topics, self.fsync, self.task = output_dir, topics, fsync, task
        self.on_error, self.clock, self.flush_period = on_error, clock, float(flush_period)
        self.late_flushes = 0     # flushes that came LATE_FLUSHES flush periods after the last
        self.last_late = None     # clock time of the latest of those
        self.writer = None
        self.stopping = False
        self.last_bag = ''
        self.episodes = 0
        self.disk_error = ''      # the last disk error, until an episode starts successfully
        self.disk_errors = 0      # disk errors so far
        self.messages_written = 0  # messages handed to a bag, every episode
        self.messages_lost = 0    # of those, cut off by a disk error after the last flush
        self.last_flush = None    # clock time of the last good flush (or start) of a bag
        self.pending_since = None  # clock time of the oldest message not yet flushed

    @property
    def recording(self):
        """Tell whether an episode is open and not stopping."""
        return self.writer is not None and not self.stopping

    def start(self, now_ns):
        """Open the next episode's bag (finishing one that is stopping); return its path."""
        if self.stopping:
            self.finish()
        if self.writer is not None:
            return None
        try:
            os.makedirs(self.output_dir, exist_ok=True)
            index = next_episode_index(self.output_dir)
        except OSError as exc:
            self._disk_error(f'cannot create the output folder {self.output_dir}: '
                             f'{os_problem(exc)}')
            raise DiskError(self.disk_error) from None
        meta = episode_metadata(self.profile, self.tokenizer, self.task, index,
                                self.tokenizer_path, self.observations)
        path = episode_path(self.output_dir, index)
        try:
            self.writer = EpisodeWriter(path, self.topics, meta, start_ns=now_ns,
                                        fsync=self.fsync)
        except DiskError as exc:
            self._disk_error(f'episode refused: {exc}')
            raise DiskError(self.disk_error) from None
        self.disk_error = ''
        self.last_flush, self.pending_since = self.clock(), None
        return path

    def request_stop(self):
        """Start the grace period before the bag closes; return its path (None: not recording)."""
        if not self.recording:
            return None
        self.stopping = True
        return self.writer.path

    def write(self, topic, t_ns, data):
        """Write one serialized message when an episode is open (stopping included)."""
        if self.writer is None:
            return
        try:
            self.writer.write(topic, t_ns, data)
        except DiskError as exc:
            self._end_by_disk_error(exc)
            return
        self.messages_written += 1
        if self.pending_since is None:
            self.pending_since = self.clock()

    def flush(self):
        """Make the open bag durable up to now."""
        if self.writer is None:
            return
        try:
            self.writer.flush()
        except DiskError as exc:
            self._end_by_disk_error(exc)
            return
        now = self.clock()
        if now - self.last_flush > LATE_FLUSHES * self.flush_period:  # the node stalled
            self.late_flushes += 1
            self.last_late = now
        self.last_flush, self.pending_since = now, None

    def finish(self):
        """Close the open bag, if any; return its message counts (None when none was open)."""
        self.stopping = False
        if self.writer is None:
            return None
        writer, self.writer = self.writer, None
        writer.set_custom('counts', writer.counts)
        try:
            writer.close()
        except DiskError as exc:
            self.messages_lost += writer.lost
            self._closed(writer)
            self._disk_error(str(exc))
            return writer.counts
        self._closed(writer)
        return writer.counts

    def _end_by_disk_error(self, exc):
        writer, self.writer = self.writer, None
        self.stopping = False
        self.messages_lost += writer.lost
        self._closed(writer)
        self._disk_error(f'episode ended: {exc}')

    def _closed(self, writer):
        self.last_bag = str(writer.path)
        self.episodes += 1
        self.pending_since = None

    def _disk_error(self, message):
        self.disk_error = message
        self.disk_errors += 1
        if self.on_error is not None:
            self.on_error(message)

    def status(self, counts=None):
        """Return the recording state, the open or last bag and its message counts."""
        if counts is None:
            counts = self.writer.counts if self.writer is not None else {}
        return {'recording': self.recording,
                'bag': str(self.writer.path) if self.writer is not None else '',
                'last_bag': self.last_bag, 'episodes_closed': self.episodes,
                'task': self.task, 'counts': counts, 'disk_error': self.disk_error}
