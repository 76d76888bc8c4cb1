"""
What token_policy does between two messages, without rclpy: state in, action tokens out.

The robot state comes from the same topics episode_recorder records, turned into
named values by the same code (``data.observations.named_values``), so the names a
policy was trained on are the names it is given here.  Each control tick the
latest value of every topic must be fresh (``max_age``): a missing or stale topic
means no tokens at all (the decoder's watchdog then stops the arm), counted by
topic.  A policy error is counted too and gives no tokens.  The time the policy
takes per tick is kept for diagnostics.
"""

import time

import numpy as np
from robotok_ros.data.observations import named_values, short_name
from robotok_ros.errors import ConfigError, RobotokError
from robotok_ros.policy.data import split_relative


class PolicyRunner:
    """Latest state per topic -> the policy's state vector -> token ids when due."""

    def __init__(self, policy, topics, max_age_s=0.2, clock=time.perf_counter):
        """``topics``: {topic: message type}; ``policy``: a NumpyPolicy (or alike)."""
        self.policy, self.topics = policy, dict(topics)
        self.max_age_ns, self.clock = int(max_age_s * 1e9), clock
        prefixes = {short_name(t): t for t in self.topics}
        raw = [part for n in policy.state_names for part in (split_relative(n) or (n,))]
        needed = sorted({n.split('.', 1)[0] for n in raw})
        missing = [p for p in needed if p not in prefixes]
        if missing:
            raise ConfigError(f'the policy needs state from a topic named {missing[0]!r} '
                              f'(its state names: {", ".join(policy.state_names[:4])}, ...); '
                              f'add it to parameter observation_topics (now '
                              f'{", ".join(sorted(self.topics)) or "empty"})')
        self.latest = {}                 # topic -> (stamp_ns, {name: value})
        self.stale = dict.fromkeys(self.topics, 0)
        self.errors, self.published, self.ticks = 0, 0, 0
        self.latencies = []              # seconds per tick that ran the policy (last 1000)
        self.last_error = ''

    def observe(self, topic, msg, stamp_ns):
        """Keep ``msg`` (a state message of ``topic``) as that topic's latest value."""
        try:
            values = named_values(self.topics[topic], msg, short_name(topic))
        except RobotokError as exc:
            self.errors += 1
            self.last_error = f'{topic}: {exc}'
            return
        self.latest[topic] = (int(stamp_ns), values)

    def reset(self):
        """Forget the state and the policy's history: a new episode."""
        self.latest.clear()
        self.policy.reset()

    def tick(self, now_ns):
        """Return the token ids due this control step, or None (stale input, not due, error)."""
        self.ticks += 1
        bad = [t for t in self.topics if t not in self.latest
               or now_ns - self.latest[t][0] > self.max_age_ns]
        for t in bad:
            self.stale[t] += 1
        if bad:
            return None
        names, values = [], []
        for t in self.topics:
            named = self.latest[t][1]
            names.extend(named)
            values.extend(named.values())
        start = self.clock()
        try:
            ids = self.policy.step(self.policy.select(values, names))
        except (RobotokError, ValueError, FloatingPointError) as exc:
            self.errors += 1
            self.last_error = str(exc)
            return None
        self.latencies = (self.latencies + [self.clock() - start])[-1000:]
        if ids is not None:
            self.published += 1
            return np.asarray(ids, dtype=np.int64)
        return None

    def latency_ms(self):
        """Return (p50, max) policy time per step in ms over the last 1000 (0, 0 if none)."""
        if not self.latencies:
            return 0.0, 0.0
        arr = np.asarray(self.latencies) * 1e3
        return float(np.median(arr)), float(arr.max())
