"""
Robot state recorded beside the actions, as one ``observation.state`` row per step.

episode_recorder records the state topics a policy will see (``observation_topics``:
joint states, the end-effector pose, and in simulation the task state) byte for byte
next to the step-labelled actions.  Reading a bag, each topic becomes a series of
(stamp, vector) and every step takes the latest vector stamped at or before the
step's stamp (as-of, the way the policy saw the world when the action was chosen):

- ``sensor_msgs/JointState``: positions, named ``<topic>.<joint>`` (the gripper's
  finger joints included); joints are matched by name, not by position in the message;
- ``geometry_msgs/PoseStamped``: ``<topic>.x y z qx qy qz qw`` (base frame);
- ``std_msgs/String`` holding a JSON object (sim_arm's task state): its numbers and
  booleans, flattened (``<topic>.cube.0``); a clock or an episode id is not state, so
  ``SKIPPED_KEYS`` are left out.

A message's header stamp is used when it has one, else the time the recorder took it;
all nodes of one setup share a clock (``use_sim_time`` in simulation).
"""

from dataclasses import dataclass
import json
from typing import List

import numpy as np
from robotok_ros.errors import DataError

JOINT_STATE = 'sensor_msgs/msg/JointState'
POSE = 'geometry_msgs/msg/PoseStamped'
STRING = 'std_msgs/msg/String'
TYPES = (JOINT_STATE, POSE, STRING)
POSE_FIELDS = ('x', 'y', 'z', 'qx', 'qy', 'qz', 'qw')
SKIPPED_KEYS = frozenset({'sim_time', 'seed', 'stamp'})


@dataclass
class Series:
    """One state topic: ``stamps_ns`` (N,) ascending, ``values`` (N, S), ``names`` (S,)."""

    topic: str
    stamps_ns: np.ndarray
    values: np.ndarray
    names: List[str]


def short_name(topic):
    """Return the last part of a topic name: the prefix of its state names."""
    return topic.rstrip('/').rsplit('/', 1)[-1]


def _stamp(msg, t_ns):
    header = getattr(msg, 'header', None)
    if header is None:
        return int(t_ns)
    ns = int(header.stamp.sec) * 10 ** 9 + int(header.stamp.nanosec)
    return ns or int(t_ns)


def _flatten(value, prefix, out):
    if isinstance(value, bool):
        out[prefix] = float(value)
    elif isinstance(value, (int, float)):
        out[prefix] = float(value)
    elif isinstance(value, dict):
        for key in value:
            if key not in SKIPPED_KEYS:
                _flatten(value[key], f'{prefix}.{key}', out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _flatten(item, f'{prefix}.{i}', out)


def named_values(msgtype, msg, prefix):
    """Return ``{name: value}`` of one state message (DataError for a type not state)."""
    if msgtype == JOINT_STATE:
        if len(msg.position) != len(msg.name):
            raise DataError(f'{len(msg.name)} joint names but {len(msg.position)} positions')
        return {f'{prefix}.{n}': float(v) for n, v in zip(msg.name, msg.position)}
    if msgtype == POSE:
        p, q = msg.pose.position, msg.pose.orientation
        return dict(zip((f'{prefix}.{f}' for f in POSE_FIELDS),
                        (p.x, p.y, p.z, q.x, q.y, q.z, q.w)))
    if msgtype == STRING:
        try:
            data = json.loads(msg.data)
        except ValueError:
            raise DataError(f'text {msg.data[:40]!r} is not JSON') from None
        if not isinstance(data, dict):
            raise DataError(f'text {msg.data[:40]!r} is not a JSON object')
        out = {}
        _flatten(data, prefix, out)
        return out
    raise DataError(f'type {msgtype} is not a state message (one of {", ".join(TYPES)})')


def series(topic, messages):
    """
    Return the Series of ``messages``: ``[(msgtype, deserialized msg, log time ns), ...]``.

    The first message fixes the names; a later one that lacks one of them is a
    DataError naming the topic (extra names are ignored).
    """
    prefix = short_name(topic)
    names, stamps, rows = None, [], []
    for msgtype, msg, t_ns in messages:
        try:
            values = named_values(msgtype, msg, prefix)
        except DataError as exc:
            raise DataError(f'state topic {topic}: {exc}') from None
        if names is None:
            names = list(values)
        missing = [n for n in names if n not in values]
        if missing:
            raise DataError(f'state topic {topic}: a message lacks {missing[0]} '
                            f'({len(missing)} of {len(names)} values missing)')
        stamps.append(_stamp(msg, t_ns))
        rows.append([values[n] for n in names])
    stamps = np.asarray(stamps, dtype=np.int64)
    order = np.argsort(stamps, kind='stable')
    values = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(names or ()))
    return Series(topic, stamps[order], values[order], names or [])


def align(all_series, stamps_ns):
    """
    Return ``(state (T, S), names, early)`` for steps stamped ``stamps_ns`` (T,).

    Each step takes each topic's latest value stamped at or before it; a step
    earlier than a topic's first message takes that first message (``early``
    counts those steps, the largest count over topics).  A topic with no
    message at all is a DataError: the state would be made up.
    """
    stamps_ns = np.asarray(stamps_ns, dtype=np.int64)
    blocks, names, early = [], [], 0
    for s in all_series:
        if not len(s.stamps_ns):
            raise DataError(f'state topic {s.topic} has no message in this episode')
        idx = np.searchsorted(s.stamps_ns, stamps_ns, side='right') - 1
        early = max(early, int((idx < 0).sum()))
        blocks.append(s.values[np.maximum(idx, 0)])
        names.extend(s.names)
    state = np.concatenate(blocks, axis=1) if blocks else np.zeros((len(stamps_ns), 0))
    return state, names, early
