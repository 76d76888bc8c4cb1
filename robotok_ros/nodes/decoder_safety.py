"""
ROS-free building blocks of token_decoder: speed clamp, watchdog, chunk playout, pose maths.

- ``Playout``: ``replace`` drops what is left of the previous chunk;
  ``ensemble`` is ACT's temporal ensembling (Zhao et al., "Learning
  Fine-Grained Bimanual Manipulation with Low-Cost Hardware", 2023,
  arXiv:2304.13705): every prediction for the same future step is averaged
  with weights ``exp(-m * i)``, i = 0 for the oldest prediction.
- ``clamp_speed`` scales a vector down to a speed limit (direction kept).
- ``Watchdog``: a few zero commands after a timeout without a step, then silence.
- ``integrate_pose``: a constant twist applied for one period to a pose in a
  fixed frame (position + rotation-vector exponential).
"""

import math

import numpy as np
from robotok_ros.errors import ConfigError, InvalidTokenError

POLICIES = ('replace', 'ensemble')


def clamp_speed(vec, limit):
    """
    Return (vec scaled so its norm is <= limit, whether it was scaled); direction is kept.

    ``vec``: 3 floats; returns a list.  Plain Python: it runs once per
    published step, where numpy's per-call cost would dominate.
    """
    x, y, z = vec
    sq = x * x + y * y + z * z
    if sq > limit * limit:
        s = limit / math.sqrt(sq)
        return [x * s, y * s, z * s], True
    return [x, y, z], False


class Watchdog:
    """Zero commands ``repeats`` times after ``timeout`` s without a step, then silence."""

    def __init__(self, timeout, repeats=3):
        if not timeout > 0:
            raise ConfigError(f'command_timeout must be > 0, got {timeout!r}')
        self.timeout, self.repeats = float(timeout), int(repeats)
        self.last_step = None
        self.pending = 0
        self.trips = 0

    def feed(self, now):
        """Record a step played at ``now`` (seconds)."""
        self.last_step = now
        self.pending = 0

    def stop(self):
        """Forget the last step (disable): no trip until steps flow again."""
        self.last_step = None
        self.pending = 0

    def tick(self, now):
        """Return True when a zero command is due at ``now``."""
        if self.last_step is not None and now - self.last_step >= self.timeout:
            self.last_step = None
            self.pending = self.repeats
            self.trips += 1
        if self.pending:
            self.pending -= 1
            return True
        return False


class Playout:
    """Queued future steps; ``replace`` or ACT-style ``ensemble`` merging of new chunks."""

    def __init__(self, dim, policy='replace', decay=0.01):
        if policy not in POLICIES:
            raise ConfigError(f'chunk_policy must be one of {", ".join(POLICIES)}, '
                              f'got {policy!r}')
        self.policy, self.decay, self.dim = policy, float(decay), dim
        self.clear()

    def clear(self):
        """Drop every queued step."""
        self._sum = np.zeros((0, self.dim))
        self._weight = np.zeros(0)
        self._count = np.zeros(0, dtype=np.int64)

    def __len__(self):
        return len(self._weight)

    def push(self, actions):
        """Merge a chunk ``actions`` (T, D) whose first step is the next one to play."""
        actions = np.asarray(actions, dtype=np.float64)
        n = len(actions)
        if self.policy == 'replace' or not len(self):
            self._sum, self._weight = actions.copy(), np.ones(n)
            self._count = np.ones(n, dtype=np.int64)
            return
        extra = n - len(self)
        if extra > 0:
            self._sum = np.vstack([self._sum, np.zeros((extra, self.dim))])
            self._weight = np.concatenate([self._weight, np.zeros(extra)])
            self._count = np.concatenate([self._count, np.zeros(extra, dtype=np.int64)])
        # The i-th prediction of a step (0 = oldest) weighs exp(-m i), as in ACT.
        w = np.exp(-self.decay * self._count[:n])
        self._sum[:n] += w[:, None] * actions
        self._weight[:n] += w
        self._count[:n] += 1

    def pop(self):
        """Return the next step's action (D,) and remove it; None when empty."""
        if not len(self):
            return None
        action = self._sum[0] / self._weight[0]
        self._sum, self._weight, self._count = self._sum[1:], self._weight[1:], self._count[1:]
        return action


def quat_multiply(q1, q2):
    """Hamilton product q1 * q2 of (x, y, z, w) quaternions."""
    x1, y1, z1, w1 = q1
    x2, y2, z2, w2 = q2
    return np.array([w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                     w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
                     w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
                     w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2])


def quat_from_rotvec(rotvec):
    """Quaternion (x, y, z, w) of rotation vector ``rotvec`` (3,), axis x angle in rad."""
    rotvec = np.asarray(rotvec, dtype=np.float64)
    angle = float(np.sqrt(rotvec @ rotvec))
    # sin(a/2)/a -> 1/2 - a^2/48 near 0 keeps tiny rotations exact.
    k = 0.5 - angle * angle / 48.0 if angle < 1e-6 else np.sin(angle / 2) / angle
    return np.array([*(rotvec * k), np.cos(angle / 2)])


def integrate_pose(position, quat, linear, angular, dt):
    """
    Apply a constant twist for ``dt`` seconds to a pose, both in the same fixed frame.

    position (3,), quat (x, y, z, w) -> (position (3,), unit quat): p + v dt and
    exp(w dt) * q, the rotation applied in the fixed frame as a twist is.
    """
    q = np.asarray(quat, dtype=np.float64)
    norm = np.linalg.norm(q)
    if not np.isfinite(norm) or norm < 1e-9:
        raise InvalidTokenError(f'pose orientation {list(quat)} is not a valid quaternion')
    out = quat_multiply(quat_from_rotvec(np.asarray(angular) * dt), q / norm)
    pos = np.asarray(position, dtype=np.float64) + np.asarray(linear, dtype=np.float64) * dt
    return pos, out / np.linalg.norm(out)
