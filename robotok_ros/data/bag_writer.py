"""
ROS-free episode bag writing: rosbag2 folders in MCAP via the ``rosbags`` library.

One episode is one bag folder (``episode_000003``) holding the tokens, the
continuous actions, the raw teleop messages (as serialized CDR, byte for byte
what rclpy received) and a metadata message (robot profile, tokenizer, task,
episode index) written first, so it survives a crash.

Durability: rosbags buffers messages in an MCAP chunk until it reaches 1 MiB.
``flush()`` closes the pending chunk, hands it to the OS (and ``fsync``s), then
writes a provisional DataEnd + Footer and ``metadata.yaml`` and seeks back over
the footer, so the next chunk overwrites it.  A recorder killed between flushes
therefore leaves a bag that rosbags reads up to its last flush, with no repair;
``bag_repair.repair_bag`` cuts a bag torn in the middle of a flush back to its
last whole record (what ``ros2 bag reindex`` does for rosbag2's own writer).
MCAP record layout: https://mcap.dev/spec.

A full disk (or any OSError: ENOSPC, EFBIG, EIO) while writing, flushing or
closing ends the bag on the spot: the .mcap is cut back to the last good flush
and given its DataEnd + Footer again, the metadata.yaml of that flush stays, so
the bag reads back up to it with no repair.  The call then raises DataError and
``failed`` says why.
"""

import errno
import json
import os
from pathlib import Path
import shutil
import struct
import time

from robotok_ros.data.wire import METADATA_TOPIC, STRING_TYPE
from robotok_ros.errors import DataError, DiskError

METADATA_FORMAT = 'robotok-episode/1'
EPISODE_PREFIX = 'episode_'
MAGIC = b'\x89MCAP0\r\n'
_OP_FOOTER, _OP_DATA_END = 0x02, 0x0F
# rosbag2 metadata.yaml version 8, not rosbags' latest 9: Humble (rosbag2 0.15) reads
# offered_qos_profiles as a string and fails on version 9's YAML list; Jazzy and Kilted read
# 8 fully, custom_data included.  Evidence: test/bag_compat.py.
BAG_VERSION = 8
# Records a rosbags MCAP data section holds: header, schema, channel, message, chunk, index.
DATA_OPS = {0x01, 0x03, 0x04, 0x05, 0x06, 0x07}


def typestore():
    """Return the rosbags type store of the message types robotok records (ROS 2 Kilted)."""
    from rosbags.typesys import get_typestore, Stores
    return get_typestore(Stores.ROS2_KILTED)


def _json(value):
    """Return JSON text of ``value``; numpy scalars and arrays become plain numbers and lists."""
    def plain(obj):
        return obj.tolist() if hasattr(obj, 'tolist') else str(obj)
    return json.dumps(value, sort_keys=True, default=plain)


def tail_records():
    """Return the MCAP DataEnd + Footer (no summary: readers scan the data) + closing magic."""
    data_end = bytes([_OP_DATA_END]) + struct.pack('<QI', 4, 0)
    footer = bytes([_OP_FOOTER]) + struct.pack('<QQQI', 20, 0, 0, 0)
    return data_end + footer + MAGIC


def write_metadata_yaml(folder, mcap_name, topics, start_ns, end_ns, custom=None):
    """
    Write rosbag2 ``metadata.yaml`` (version ``BAG_VERSION``) atomically.

    ``topics``: list of ``(topic, msgtype, message_count)``; ``custom``: str -> str.
    """
    import yaml
    store = typestore()
    count = sum(n for _, _, n in topics)
    duration = max(0, end_ns - start_ns) if count else 0
    start = start_ns if count else 0
    info = {
        'version': BAG_VERSION, 'storage_identifier': 'mcap',
        'relative_file_paths': [mcap_name],
        'duration': {'nanoseconds': duration},
        'starting_time': {'nanoseconds_since_epoch': start}, 'message_count': count,
        'topics_with_message_count': [
            {'topic_metadata': {'name': topic, 'type': msgtype, 'serialization_format': 'cdr',
                                # Version 8 form: a YAML string, '' for none recorded.
                                'offered_qos_profiles': '',
                                'type_description_hash': store.hash_rihs01(msgtype)},
             'message_count': n} for topic, msgtype, n in topics],
        'compression_format': '', 'compression_mode': '',
        'files': [{'path': mcap_name, 'starting_time': {'nanoseconds_since_epoch': start},
                   'duration': {'nanoseconds': duration}, 'message_count': count}],
        # Always a map: Jazzy reads custom_data as string -> string (yaml.hpp, version >= 6).
        'custom_data': dict(custom or {}), 'ros_distro': 'rosbags'}
    path = Path(folder) / 'metadata.yaml'
    tmp = path.with_suffix('.yaml.tmp')
    tmp.write_text(yaml.safe_dump({'rosbag2_bagfile_information': info}, sort_keys=False))
    tmp.replace(path)


class EpisodeWriter:
    """
    One episode bag: ``write(topic, t_ns, cdr)`` per message, ``flush()`` often, ``close()``.

    ``topics``: topic -> message type (``std_msgs/msg/Float64MultiArray``);
    ``metadata``: a JSON-able dict stored as the first message and in
    ``metadata.yaml`` custom data.  ``counts``: messages written per topic.
    """

    def __init__(self, path, topics, metadata, start_ns=None, fsync=True):
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.rosbag2.errors import WriterError
        self.path = Path(path)
        self.fsync = fsync
        self.failed = ''  # why the bag ended early (an OSError), '' while all is well
        self.lost = 0  # messages written after the last good flush, cut off by that error
        self._good = None  # (.mcap offset of the provisional tail, counts) of the last flush
        self._store = typestore()
        try:
            self._writer = Writer(self.path, version=BAG_VERSION,
                                  storage_plugin=StoragePlugin.MCAP)
            self._writer.open()
        except WriterError as exc:
            raise DataError(f'cannot create bag {self.path}: {exc}') from None
        except OSError as exc:
            self._discard()
            raise DiskError(f'cannot create bag {self.path}: {os_problem(exc)}') from None
        self.metadata = dict(metadata, format=METADATA_FORMAT)
        self._custom = {'robotok': _json(self.metadata)}
        self._writer.set_custom_data('robotok', self._custom['robotok'])
        self._conns = {}
        self.counts = {}
        for topic, msgtype in {METADATA_TOPIC: STRING_TYPE, **dict(topics)}.items():
            self._conns[topic] = self._writer.add_connection(topic, msgtype,
                                                             typestore=self._store)
            self.counts[topic] = 0
        self._last_ns = int(time.time_ns() if start_ns is None else start_ns)
        self._first_ns = self._last_ns
        meta_msg = self._store.types[STRING_TYPE](data=self._custom['robotok'])
        try:
            self.write(METADATA_TOPIC, self._last_ns,
                       bytes(self._store.serialize_cdr(meta_msg, STRING_TYPE)))
            self.flush()
        except DiskError:  # not even the first flush: no bag worth keeping
            self._discard()
            raise

    @property
    def topics(self):
        """Topic -> message type of every connection, the metadata topic included."""
        return {t: c.msgtype for t, c in self._conns.items()}

    @property
    def closed(self):
        """Tell whether the bag is finished (closed, or ended early by a disk error)."""
        return self._writer.storage is None

    def write(self, topic, t_ns, data):
        """Append one serialized CDR message; timestamps are kept non-decreasing."""
        conn = self._conns.get(topic)
        if conn is None:
            raise DataError(f'bag {self.path}: topic {topic!r} was not declared; known: '
                            f'{sorted(self._conns)}')
        if self.closed:
            why = f': {self.failed}' if self.failed else ''
            raise DataError(f'bag {self.path} is closed{why}')
        # Unindexed (crash-recovered) MCAP must be in time order; a clock step back is clamped.
        self._last_ns = max(self._last_ns, int(t_ns))
        # A full chunk (1 MiB) goes to the file here, so a disk error can happen in a write.
        self._guard('writing', self._writer.write, conn, self._last_ns, data)
        self.counts[topic] += 1

    def set_custom(self, key, value):
        """Store ``value`` (JSON-able) under ``key`` in metadata.yaml's custom data."""
        self._custom[key] = _json(value)
        self._writer.set_custom_data(key, self._custom[key])

    def flush(self):
        """Make everything written so far durable and readable (see the module docstring)."""
        if not self.closed:
            self._guard('flushing', self._flush)

    def _flush(self):
        storage = self._writer.storage
        if storage.chunk.bio.tell():
            storage.close_chunk()
        bio = storage.bio
        pos = bio.tell()
        bio.write(tail_records())
        bio.flush()
        if self.fsync:
            os.fsync(bio.fileno())
        bio.seek(pos)
        write_metadata_yaml(self.path, storage.path.name,
                            [(t, c.msgtype, self.counts[t]) for t, c in self._conns.items()],
                            self._first_ns, self._last_ns, self._custom)
        self._good = (pos, dict(self.counts))

    def close(self):
        """Finish the bag: chunk index, summary, footer and the final metadata.yaml."""
        if self.closed:
            return
        self._guard('closing', self._close)

    def _close(self):
        self._writer.storage.bio.truncate()
        self._writer.close()

    # -- disk errors ---------------------------------------------------------------------------
    def _guard(self, doing, call, *args):
        try:
            return call(*args)
        except OSError as exc:
            written = sum(self.counts.values())
            kept = self._end_at_last_flush()
            self.lost = written - kept + (doing == 'writing')
            self.failed = (f'{os_problem(exc)} while {doing} bag {self.path}; closed at its '
                           f'last flush ({kept} messages kept, {self.lost} lost)')
            raise DiskError(self.failed) from None

    def _end_at_last_flush(self):
        """Close the file and cut it back to the last good flush; return the messages kept."""
        storage, mcap = self._writer.storage, self.path / f'{self.path.name}.mcap'
        if storage is not None:
            mcap = storage.path
            try:
                storage.bio.close()  # its buffer may land past the good end: cut off below
            except OSError:
                pass
            self._writer.storage = None
        Path(self.path / 'metadata.yaml.tmp').unlink(missing_ok=True)
        if self._good is None:
            return 0
        pos, counts = self._good
        tail = tail_records()
        try:
            fd = os.open(mcap, os.O_WRONLY)
            try:
                # The tail again over the bytes that held it (no new block needed on a full
                # disk), then cut what a failed chunk write left after it.
                os.pwrite(fd, tail, pos)
                os.ftruncate(fd, pos + len(tail))
                if self.fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            pass  # the tail was already there from that flush unless the cut itself failed
        self.counts = dict(counts)
        return sum(counts.values())

    def _discard(self):
        storage = getattr(getattr(self, '_writer', None), 'storage', None)
        if storage is not None and storage.bio is not None:
            try:
                storage.bio.close()
            except OSError:
                pass
            self._writer.storage = None
        shutil.rmtree(self.path, ignore_errors=True)


def os_problem(exc):
    """Return one line for an OSError: ``No space left on device (ENOSPC)``."""
    name = errno.errorcode.get(exc.errno, '')
    text = exc.strerror or str(exc)
    return f'{text} ({name})' if name else text


def bag_mcap(path):
    """Return the .mcap file of bag folder ``path`` (or ``path`` itself when it is one)."""
    path = Path(path)
    if path.is_file():
        return path
    files = sorted(path.glob('*.mcap'))
    if not files:
        raise DataError(f'{path}: no .mcap file here; is it a robotok episode bag?')
    return files[0]


def next_episode_index(output_dir):
    """Return 1 + the highest episode index of the bags in ``output_dir`` (0 when none)."""
    indices = []
    for child in Path(output_dir).glob(EPISODE_PREFIX + '*'):
        try:
            indices.append(int(child.name[len(EPISODE_PREFIX):]))
        except ValueError:
            continue
    return max(indices) + 1 if indices else 0


def episode_path(output_dir, index):
    """Return the bag folder of episode ``index`` in ``output_dir``."""
    return Path(output_dir) / f'{EPISODE_PREFIX}{int(index):06d}'


def episode_metadata(profile, tokenizer, task, index, tokenizer_path='', observations=()):
    """
    Return the JSON-able metadata of one episode: robot profile, tokenizer, task, index.

    ``observations``: the recorded topics that hold robot state (resolved names).
    """
    lo, hi = tokenizer.id_range
    return {
        'episode_index': int(index), 'task': str(task),
        'observation_topics': [str(t) for t in observations],
        'robot_profile': profile.to_dict(), 'control_rate_hz': profile.control_rate_hz,
        'tokenizer': {'kind': tokenizer.kind, 'settings': tokenizer.settings(),
                      'path': str(tokenizer_path), 'chunk_steps': int(tokenizer.chunk_steps),
                      'tokens_per_step': tokenizer.tokens_per_step,
                      'vocab_size': int(tokenizer.vocab_size), 'id_range': [int(lo), int(hi)]},
        'started_unix_ns': time.time_ns()}
