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
``repair_bag`` cuts a bag torn in the middle of a flush back to its last whole
record (what ``ros2 bag reindex`` does for rosbag2's own writer).  MCAP record
layout: https://mcap.dev/spec.
"""

import json
import os
from pathlib import Path
import struct
import time

from robotok_ros.data.wire import METADATA_TOPIC, STRING_TYPE
from robotok_ros.errors import DataError

METADATA_FORMAT = 'robotok-episode/1'
EPISODE_PREFIX = 'episode_'
MAGIC = b'\x89MCAP0\r\n'
_OP_FOOTER, _OP_DATA_END = 0x02, 0x0F
# rosbag2 metadata.yaml version 8, not rosbags' latest 9: Humble (rosbag2 0.15) reads
# offered_qos_profiles as a string and fails on version 9's YAML list; Jazzy and Kilted read
# 8 fully, custom_data included.  Evidence: test/bag_compat.py.
BAG_VERSION = 8
# Records a rosbags MCAP data section holds: header, schema, channel, message, chunk, index.
_DATA_OPS = {0x01, 0x03, 0x04, 0x05, 0x06, 0x07}


def typestore():
    """Return the rosbags type store of the message types robotok records (ROS 2 Kilted)."""
    from rosbags.typesys import get_typestore, Stores
    return get_typestore(Stores.ROS2_KILTED)


def _json(value):
    """Return JSON text of ``value``; numpy scalars and arrays become plain numbers and lists."""
    def plain(obj):
        return obj.tolist() if hasattr(obj, 'tolist') else str(obj)
    return json.dumps(value, sort_keys=True, default=plain)


def _tail_records():
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
        self._store = typestore()
        try:
            self._writer = Writer(self.path, version=BAG_VERSION,
                                  storage_plugin=StoragePlugin.MCAP)
            self._writer.open()
        except WriterError as exc:
            raise DataError(f'cannot create bag {self.path}: {exc}') from None
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
        self.write(METADATA_TOPIC, self._last_ns,
                   bytes(self._store.serialize_cdr(meta_msg, STRING_TYPE)))
        self.flush()

    @property
    def topics(self):
        """Topic -> message type of every connection, the metadata topic included."""
        return {t: c.msgtype for t, c in self._conns.items()}

    def write(self, topic, t_ns, data):
        """Append one serialized CDR message; timestamps are kept non-decreasing."""
        conn = self._conns.get(topic)
        if conn is None:
            raise DataError(f'bag {self.path}: topic {topic!r} was not declared; known: '
                            f'{sorted(self._conns)}')
        # Unindexed (crash-recovered) MCAP must be in time order; a clock step back is clamped.
        self._last_ns = max(self._last_ns, int(t_ns))
        self._writer.write(conn, self._last_ns, data)
        self.counts[topic] += 1

    def set_custom(self, key, value):
        """Store ``value`` (JSON-able) under ``key`` in metadata.yaml's custom data."""
        self._custom[key] = _json(value)
        self._writer.set_custom_data(key, self._custom[key])

    def flush(self):
        """Make everything written so far durable and readable (see the module docstring)."""
        storage = self._writer.storage
        if storage.chunk.bio.tell():
            storage.close_chunk()
        bio = storage.bio
        pos = bio.tell()
        bio.write(_tail_records())
        bio.flush()
        if self.fsync:
            os.fsync(bio.fileno())
        bio.seek(pos)
        write_metadata_yaml(self.path, storage.path.name,
                            [(t, c.msgtype, self.counts[t]) for t, c in self._conns.items()],
                            self._first_ns, self._last_ns, self._custom)

    def close(self):
        """Finish the bag: chunk index, summary, footer and the final metadata.yaml."""
        if self._writer.storage is None:
            return
        self._writer.storage.bio.truncate()
        self._writer.close()


def bag_mcap(path):
    """Return the .mcap file of bag folder ``path`` (or ``path`` itself when it is one)."""
    path = Path(path)
    if path.is_file():
        return path
    files = sorted(path.glob('*.mcap'))
    if not files:
        raise DataError(f'{path}: no .mcap file here; is it a robotok episode bag?')
    return files[0]


def _scan_whole_records(data):
    """Return the end offset of the last whole data-section record of MCAP bytes ``data``."""
    pos = good = len(MAGIC)
    while pos + 9 <= len(data):
        op = data[pos]
        (size,) = struct.unpack_from('<Q', data, pos + 1)
        end = pos + 9 + size
        if op not in _DATA_OPS or end > len(data):
            break
        pos = good = end
    return good


def repair_bag(path):
    """
    Make a bag left by a killed recorder readable up to its last whole record.

    Cuts the .mcap after its last complete record, appends DataEnd + Footer
    and rewrites ``metadata.yaml`` from what is there.  Return the number of
    messages kept.  A cleanly closed bag is left as it is; a whole .mcap
    without ``metadata.yaml`` only gets the file written.
    """
    from rosbags.rosbag2 import Reader
    from rosbags.rosbag2.errors import ReaderError
    mcap = bag_mcap(path)
    data = mcap.read_bytes()
    if not data.startswith(MAGIC):
        raise DataError(f'{mcap}: not an MCAP file (bad magic)')
    folder = mcap.parent
    has_yaml = (folder / 'metadata.yaml').exists()
    try:
        with Reader(folder if has_yaml else mcap) as reader:
            count = sum(1 for _ in reader.messages())
        if has_yaml:
            return count
    except (ReaderError, struct.error, ValueError, KeyError):
        good = _scan_whole_records(data)
        with mcap.open('r+b') as handle:
            handle.truncate(good)
            handle.seek(good)
            handle.write(_tail_records())
    try:
        with Reader(mcap) as reader:
            topics = [(c.topic, c.msgtype, c.msgcount) for c in reader.connections]
            start, end = reader.start_time, reader.end_time - 1
            meta = next((bytes(raw) for c, _, raw in reader.messages()
                         if c.topic == METADATA_TOPIC), None)
    except (ReaderError, struct.error, ValueError) as exc:
        raise DataError(f'{mcap}: cannot be repaired: {exc}') from None
    custom = None
    if meta is not None:
        text = typestore().deserialize_cdr(meta, STRING_TYPE).data
        custom = {'robotok': text}
    write_metadata_yaml(folder, mcap.name, topics, start, end, custom)
    return sum(n for _, _, n in topics)


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


def episode_metadata(profile, tokenizer, task, index, tokenizer_path=''):
    """Return the JSON-able metadata of one episode: robot profile, tokenizer, task, index."""
    lo, hi = tokenizer.id_range
    return {
        'episode_index': int(index), 'task': str(task),
        'robot_profile': profile.to_dict(), 'control_rate_hz': profile.control_rate_hz,
        'tokenizer': {'kind': tokenizer.kind, 'settings': tokenizer.settings(),
                      'path': str(tokenizer_path), 'chunk_steps': int(tokenizer.chunk_steps),
                      'tokens_per_step': tokenizer.tokens_per_step,
                      'vocab_size': int(tokenizer.vocab_size), 'id_range': [int(lo), int(hi)]},
        'started_unix_ns': time.time_ns()}
