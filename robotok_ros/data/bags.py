"""
Read robotok episode bags (rosbag2 / MCAP, written by ``episode_recorder``) without ROS.

A bag holds ``/robotok/teleop_action`` (Float64MultiArray, layout ``[T, D]``,
the first dimension's label ``step=<i>;stamp=<ns>``), ``/robotok/teleop_tokens``
(Int32MultiArray, same label), ``/robotok/episode_metadata`` (JSON text) and the
state topics its metadata lists as ``observation_topics`` (``data/observations.py``).
Messages are matched by step index, not by arrival order.
"""

from dataclasses import dataclass, field
import json
from pathlib import Path
import struct
from typing import List

import numpy as np
from robotok_ros.data.bag_writer import typestore
from robotok_ros.data.observations import align, Series, series, TYPES as STATE_TYPES
from robotok_ros.data.wire import ACTION_TOPIC, METADATA_TOPIC, TOKENS_TOPIC
from robotok_ros.data.wire import parse_step_label, step_label
from robotok_ros.errors import DataError


@dataclass
class BagEpisode:
    """
    One recorded episode.

    ``actions``: (T, D) float64; ``steps``: (T,) step indices; ``stamps_ns``: (T,);
    ``token_messages``: one (N,) int64 array per token message, ``token_steps``
    the step index each starts at; ``metadata``: the recorder's JSON metadata;
    ``observations``: one Series per recorded state topic.
    """

    path: Path
    actions: np.ndarray
    steps: np.ndarray
    stamps_ns: np.ndarray
    token_messages: List[np.ndarray] = field(default_factory=list)
    token_steps: List[int] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    observations: List[Series] = field(default_factory=list)

    def observation_state(self):
        """Return ``(state (T, S), names, early)``: each step's as-of robot state."""
        try:
            return align(self.observations, self.stamps_ns)
        except DataError as exc:
            raise DataError(f'{self.path}: {exc}') from None

    @property
    def task(self):
        """Return the task text recorded with the episode ('' when none)."""
        return str(self.metadata.get('task', ''))

    def step_tokens(self):
        """Return per-step token ids ``(T, D)`` for per-step tokenizers (else DataError)."""
        sizes = {len(t) for t in self.token_messages}
        dim = self.actions.shape[1]
        if sizes and sizes != {dim}:
            raise DataError(f'{self.path}: token messages hold {sorted(sizes)} ids, not one '
                            f'step of {dim}; it was recorded with a chunk tokenizer')
        by_step = dict(zip(self.token_steps, self.token_messages))
        missing = [int(s) for s in self.steps if int(s) not in by_step]
        if missing:
            raise DataError(f'{self.path}: no tokens recorded for step {missing[0]} '
                            f'({len(missing)} steps without tokens)')
        return np.stack([by_step[int(s)] for s in self.steps]) if len(self.steps) else \
            np.zeros((0, dim), dtype=np.int64)


def _is_bag(path):
    return path.is_file() and path.suffix == '.mcap' or path.is_dir() and (
        (path / 'metadata.yaml').exists() or any(path.glob('*.mcap')))


def find_bags(path):
    """Return bag folders: ``path`` itself when it is a bag, else the bags directly inside it."""
    path = Path(path)
    if not path.exists():
        raise DataError(f'{path}: no such file or folder')
    if _is_bag(path):
        return [path]
    bags = sorted(p for p in path.iterdir() if _is_bag(p)) if path.is_dir() else []
    if not bags:
        raise DataError(f'{path}: no rosbag2 bags here (a bag is a folder with '
                        'metadata.yaml and a .mcap file)')
    return bags


def _label(msg):
    dims = msg.layout.dim
    return parse_step_label(dims[0].label) if dims else None


def in_namespace(topics, name):
    """Return ``name`` or the one topic ``/<namespace>/name`` of ``topics`` (a namespaced arm)."""
    if name in topics:
        return name
    found = [t for t in topics if t.endswith('/' + name.lstrip('/'))]
    return found[0] if len(found) == 1 else name


def read_bag(path, action_topic=ACTION_TOPIC, tokens_topic=TOKENS_TOPIC):
    """Read one episode bag into a BagEpisode; any problem is a DataError naming the bag."""
    from rosbags.rosbag2 import Reader
    from rosbags.rosbag2.errors import ReaderError
    path = Path(path)
    if path.is_dir() and not (path / 'metadata.yaml').exists():
        raise DataError(f'{path}: no metadata.yaml: the recorder was killed before its first '
                        f'flush; run `robotok repair-bag {path}`')
    store = typestore()
    rows, steps, stamps, tokens, token_steps, metadata = [], [], [], [], [], {}
    state_msgs = {}  # topic -> [(msgtype, msg, t_ns)]: kept until metadata names the topics
    try:
        with Reader(path) as reader:
            topics = {c.topic for c in reader.connections}
            action_topic = in_namespace(topics, action_topic)
            tokens_topic = in_namespace(topics, tokens_topic)
            if action_topic not in topics:
                raise DataError(f'{path}: no topic {action_topic} (topics: {sorted(topics)})')
            for conn, t_ns, raw in reader.messages():
                if conn.topic == METADATA_TOPIC:
                    metadata = json.loads(store.deserialize_cdr(raw, conn.msgtype).data)
                elif conn.topic == action_topic:
                    msg = store.deserialize_cdr(raw, conn.msgtype)
                    dims = msg.layout.dim
                    dim = dims[1].size if len(dims) > 1 else len(msg.data)
                    block = np.asarray(msg.data, dtype=np.float64).reshape(-1, dim)
                    step, stamp = _label(msg) or (len(steps), t_ns)
                    rows.append(block)
                    steps.extend(range(step, step + len(block)))
                    stamps.extend([stamp] * len(block))
                elif conn.topic == tokens_topic:
                    msg = store.deserialize_cdr(raw, conn.msgtype)
                    tokens.append(np.asarray(msg.data, dtype=np.int64))
                    token_steps.append((_label(msg) or (len(token_steps), 0))[0])
                elif conn.msgtype in STATE_TYPES:
                    state_msgs.setdefault(conn.topic, []).append(
                        (conn.msgtype, store.deserialize_cdr(raw, conn.msgtype), t_ns))
    except (ReaderError, ValueError, KeyError, TypeError, IndexError, struct.error,
            OSError) as exc:
        # A truncated file makes rosbags fail in several ways (ord('') is a TypeError).
        raise DataError(f'{path}: cannot be read as a robotok episode bag ({exc}); if the '
                        f'recorder was killed, run `robotok repair-bag {path}`') from None
    try:
        observations = [series(t, state_msgs.get(t, []))
                        for t in metadata.get('observation_topics', [])]
    except DataError as exc:
        raise DataError(f'{path}: {exc}') from None
    dim = rows[0].shape[1] if rows else len(metadata.get('robot_profile', {}).get(
        'dimensions', [])) or 0
    actions = np.concatenate(rows) if rows else np.zeros((0, dim))
    return BagEpisode(path, actions, np.asarray(steps, dtype=np.int64),
                      np.asarray(stamps, dtype=np.int64), tokens, token_steps, metadata,
                      observations)


def read_bag_episodes(path, key=None):
    """
    Return the continuous actions of every bag under ``path``: a list of ``(T, D)`` arrays.

    ``key``: the action topic (default ``/robotok/teleop_action``).  Empty
    episodes are skipped; none at all is a DataError.
    """
    episodes = []
    for bag in find_bags(path):
        ep = read_bag(bag, action_topic=key or ACTION_TOPIC)
        if len(ep.actions):
            episodes.append(ep.actions)
    if not episodes:
        raise DataError(f'{path}: the bags hold no actions on {key or ACTION_TOPIC}')
    return episodes


def _segments(steps):
    """Split step indices ``(T,)`` at gaps (dead-man releases): a list of index arrays."""
    if not len(steps):
        return []
    cuts = np.flatnonzero(np.diff(steps) != 1) + 1
    return np.split(np.arange(len(steps)), cuts)


def token_chunks(episode, tokenizer):
    """
    Yield ``(first_row, ids (N,))`` of ``episode.actions`` tokenized with ``tokenizer``.

    Per-step tokenizers give one message per step; chunk tokenizers one per
    ``chunk_steps`` steps, never across a gap in the step indices; a short last
    chunk is padded by repeating its last action (the arm holding still).
    """
    k = max(1, int(getattr(tokenizer, 'chunk_steps', 1) or 1))
    for rows in _segments(episode.steps):
        for i in range(0, len(rows), k):
            block = episode.actions[rows[i:i + k]]
            if len(block) < k:
                block = np.concatenate([block, np.repeat(block[-1:], k - len(block), 0)])
            yield int(rows[i]), np.asarray(tokenizer.encode_chunk(block), dtype=np.int64)


def retokenize_bag(src, dst, tokenizer, tokenizer_path=''):
    """
    Copy bag ``src`` to ``dst`` with ``/robotok/teleop_tokens`` re-encoded by ``tokenizer``.

    Every other topic is copied byte for byte; the metadata names the new
    tokenizer and ``retokenized_from``.  Return the new BagEpisode.
    """
    from rosbags.rosbag2 import Reader
    from robotok_ros.data.bag_writer import episode_metadata, EpisodeWriter
    from robotok_ros.data.wire import TOKENS_TYPE
    from robotok_ros.profile_loader import profile_from_dict
    ep = read_bag(src)
    if ep.actions.shape[1] != tokenizer.dim:
        raise DataError(f'{src}: actions have {ep.actions.shape[1]} dimensions, the '
                        f'{tokenizer.kind} tokenizer expects {tokenizer.dim}')
    store = typestore()
    copied, step_time = [], {}
    with Reader(src) as reader:
        for conn, t_ns, raw in reader.messages():
            if conn.topic in (TOKENS_TOPIC, METADATA_TOPIC):
                continue
            copied.append((t_ns, conn.topic, bytes(raw)))
            if conn.topic == ACTION_TOPIC:
                label = _label(store.deserialize_cdr(raw, conn.msgtype))
                if label is not None:
                    step_time.setdefault(label[0], t_ns)
        topics = {c.topic: c.msgtype for c in reader.connections
                  if c.topic not in (TOKENS_TOPIC, METADATA_TOPIC)}
    types = store.types
    for row, ids in token_chunks(ep, tokenizer):
        step = int(ep.steps[row])
        dim = tokenizer.dim
        shape = [(step_label(step, ep.stamps_ns[row]), ids.size // dim, ids.size),
                 ('action', dim, dim)] if ids.size == dim else \
            [(step_label(step, ep.stamps_ns[row]), ids.size, ids.size)]
        layout = types['std_msgs/msg/MultiArrayLayout'](dim=[
            types['std_msgs/msg/MultiArrayDimension'](label=a, size=b, stride=c)
            for a, b, c in shape], data_offset=0)
        msg = types[TOKENS_TYPE](layout=layout, data=ids.astype(np.int32))
        copied.append((step_time.get(step, int(ep.stamps_ns[row])), TOKENS_TOPIC,
                       bytes(store.serialize_cdr(msg, TOKENS_TYPE))))
    copied.sort(key=lambda item: item[0])
    profile = profile_from_dict(ep.metadata['robot_profile'], source=f'{src}: metadata') \
        if 'robot_profile' in ep.metadata else tokenizer.profile
    meta = dict(ep.metadata)
    meta.update(episode_metadata(profile, tokenizer, ep.task, meta.get('episode_index', 0),
                                 tokenizer_path), retokenized_from=str(src))
    start = min([c[0] for c in copied], default=0)
    writer = EpisodeWriter(dst, {**topics, TOKENS_TOPIC: TOKENS_TYPE}, meta, start_ns=start)
    try:
        for t_ns, topic, raw in copied:
            writer.write(topic, t_ns, raw)
    finally:
        writer.close()
    return read_bag(dst)
