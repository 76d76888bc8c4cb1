"""
ROS-free logic of episode_recorder: which bag is open, when it closes, what the status says.

States: idle -> recording (``start``) -> stopping (``request_stop``: messages
still in flight are written for a grace period) -> idle (``finish``).  A start
while stopping finishes the old episode first.  The node owns the timers and
the subscriptions; this owns the bag (``data.bag_writer.EpisodeWriter``).
"""

import os

from robotok_ros.data.bag_writer import episode_metadata, episode_path, EpisodeWriter, \
    next_episode_index


class RecorderCore:
    """One episode bag at a time in ``output_dir``; see the module docstring."""

    def __init__(self, profile, tokenizer, output_dir, topics, tokenizer_path='', fsync=True,
                 task=''):
        self.profile, self.tokenizer, self.tokenizer_path = profile, tokenizer, tokenizer_path
        self.output_dir, self.topics, self.fsync, self.task = output_dir, topics, fsync, task
        self.writer = None
        self.stopping = False
        self.last_bag = ''
        self.episodes = 0

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
        os.makedirs(self.output_dir, exist_ok=True)
        index = next_episode_index(self.output_dir)
        meta = episode_metadata(self.profile, self.tokenizer, self.task, index,
                                self.tokenizer_path)
        path = episode_path(self.output_dir, index)
        self.writer = EpisodeWriter(path, self.topics, meta, start_ns=now_ns, fsync=self.fsync)
        return path

    def request_stop(self):
        """Start the grace period before the bag closes; return its path (None: not recording)."""
        if not self.recording:
            return None
        self.stopping = True
        return self.writer.path

    def write(self, topic, t_ns, data):
        """Write one serialized message when an episode is open (stopping included)."""
        if self.writer is not None:
            self.writer.write(topic, t_ns, data)

    def flush(self):
        """Make the open bag durable up to now."""
        if self.writer is not None:
            self.writer.flush()

    def finish(self):
        """Close the open bag, if any; return its message counts (None when none was open)."""
        self.stopping = False
        if self.writer is None:
            return None
        writer, self.writer = self.writer, None
        writer.set_custom('counts', writer.counts)
        writer.close()
        self.last_bag = str(writer.path)
        self.episodes += 1
        return writer.counts

    def status(self, counts=None):
        """Return the recording state, the open or last bag and its message counts."""
        if counts is None:
            counts = self.writer.counts if self.writer is not None else {}
        return {'recording': self.recording,
                'bag': str(self.writer.path) if self.writer is not None else '',
                'last_bag': self.last_bag, 'episodes_closed': self.episodes,
                'task': self.task, 'counts': counts}
