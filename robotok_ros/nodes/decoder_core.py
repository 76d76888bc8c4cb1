"""
ROS-free logic of token_decoder: token ids -> checked actions -> safe, timed commands.

- Message checks: ``layout`` vs data length, per-step length, id ranges, a
  finite decode; every rejection is counted by reason.
- Chunk playout: one step per control period.  ``replace`` drops what is left
  of the previous chunk; ``ensemble`` is ACT's temporal ensembling (Zhao et
  al., 2023, arXiv:2304.13705): every prediction for the same future step is
  averaged with weights ``exp(-m * i)``, i = 0 for the oldest prediction.
- Safety: velocity = delta x scale x control rate, clamped to the profile's
  linear/angular speed by scaling the vector (direction kept); a watchdog
  sends a few zero commands after ``command_timeout`` without a step, then
  goes silent.
- Pose output: the clamped step integrated onto a measured pose (position
  plus rotation-vector exponential, in the profile's frame).
"""

from dataclasses import dataclass
import time
from typing import Optional

import numpy as np
from robotok_ros.errors import ConfigError, InvalidTokenError, RobotokError
from robotok_ros.robot_profile import ANGULAR_NAMES, LINEAR_NAMES

POLICIES = ('replace', 'ensemble')
REASONS = ('layout', 'length', 'out_of_range', 'non_finite', 'invalid')


class Rejected(RobotokError):
    """A token message that must not move the robot; ``reason`` is one of REASONS."""

    def __init__(self, reason, detail):
        super().__init__(f'{reason}: {detail}')
        self.reason = reason


@dataclass(frozen=True)
class Command:
    """One control step: action (D,), linear/angular velocity (3,) each, gripper command."""

    action: np.ndarray
    linear: np.ndarray
    angular: np.ndarray
    gripper: Optional[float]
    clamped: bool


def clamp_speed(vec, limit):
    """Return (vec scaled so its norm is <= limit, whether it was scaled); direction is kept."""
    norm = float(np.sqrt(vec @ vec))
    if norm > limit:
        return vec * (limit / norm), True
    return vec, False


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
    return np.asarray(position, dtype=np.float64) + np.asarray(linear) * dt, out / np.linalg.norm(
        out)


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


class DecoderCore:
    """Everything token_decoder does between a message's ids and the commands it publishes."""

    def __init__(self, profile, tokenizer, chunk_policy='replace', command_timeout=0.5,
                 stop_repeats=3, ensemble_decay=0.01):
        self.profile, self.tokenizer = profile, tokenizer
        self.dim = profile.dim
        self.rate = profile.control_rate_hz
        self.per_step = tokenizer.tokens_per_step
        self.playout = Playout(self.dim, chunk_policy, ensemble_decay)
        self.watchdog = Watchdog(command_timeout, stop_repeats)
        self.enabled = True
        names = profile.names
        lin = [profile.index(n) for n in LINEAR_NAMES]
        ang = [profile.index(n) for n in ANGULAR_NAMES]
        self.has_cartesian = any(i is not None for i in lin + ang)
        # (D, 6) matrix: action -> (vx, vy, vz, wx, wy, wz), missing dimensions give 0.
        self._to_twist = np.zeros((self.dim, 6))
        for col, i in enumerate(lin + ang):
            if i is not None:
                self._to_twist[i, col] = profile.dimensions[i].scale * self.rate
        self._grip = profile.gripper_index
        self._max_lin = profile.safety.max_linear_speed
        self._max_ang = profile.safety.max_angular_speed
        ranges = getattr(tokenizer, 'dimension_id_ranges', None)
        if ranges is not None and self.per_step:
            self._id_lo, self._id_hi = (np.array(r) for r in zip(*ranges()))
        else:
            self._id_lo, self._id_hi = tokenizer.id_range
        self.counters = {'received': 0, 'decoded': 0, 'steps': 0, 'clamps': 0,
                         'ignored_disabled': 0}
        self.rejected = dict.fromkeys(REASONS, 0)
        self.names = names
        self._lat = [0.0, 0, 0.0]  # sum, count, max of decode seconds since the last snapshot
        self._last_snapshot = None

    # -- input -----------------------------------------------------------------------------
    def check(self, data, dims=(), offset=0):
        """
        Return the decoded actions (T, D) of one message's ids, or raise Rejected.

        ``data``: flat int ids (N,); ``dims``: layout.dim sizes (empty = none given).
        """
        ids = np.asarray(data)
        n = ids.size
        if offset or (dims and int(np.prod(dims)) != n):
            raise Rejected('layout', f'layout.dim {list(dims)} (data_offset {offset}) does '
                           f'not describe {n} ids')
        if self.per_step:
            if n == 0 or n % self.per_step:
                raise Rejected('length', f'{n} ids is not a positive multiple of '
                               f'{self.per_step}')
            if len(dims) > 1 and dims[-1] != self.per_step:
                raise Rejected('layout', f'layout.dim {list(dims)} must end with '
                               f'{self.per_step} ids per step')
            ids = ids.reshape(-1, self.per_step)
        elif n == 0:
            raise Rejected('length', 'no ids')
        if (ids < self._id_lo).any() or (ids > self._id_hi).any():
            bad = ids[(ids < self._id_lo) | (ids > self._id_hi)][0]
            raise Rejected('out_of_range', f'id {int(bad)} outside the action range')
        try:
            actions = self.tokenizer.decode_chunk(ids.reshape(-1))
        except RobotokError as exc:
            raise Rejected('invalid', str(exc)) from None
        if actions.ndim != 2 or actions.shape[1] != self.dim:
            raise Rejected('invalid', f'decoded shape {actions.shape}, expected (T, {self.dim})')
        if not np.isfinite(actions).all():
            raise Rejected('non_finite', 'the decoded action is not finite')
        return actions

    def on_tokens(self, data, now, dims=(), offset=0):
        """
        Take one message; return the Command to publish at once, or None.

        ``replace``: the chunk's first step plays now and the rest on later ticks
        (the caller restarts its timer when ``len(self.playout)`` > 0);
        ``ensemble``: the chunk is merged and plays on ticks.  Rejected
        propagates after it is counted.
        """
        self.counters['received'] += 1
        if not self.enabled:
            self.counters['ignored_disabled'] += 1
            return None
        start = time.perf_counter()
        try:
            actions = self.check(data, dims, offset)
        except Rejected as exc:
            self.rejected[exc.reason] += 1
            raise
        finally:
            lat = time.perf_counter() - start
            self._lat[0] += lat
            self._lat[1] += 1
            self._lat[2] = max(self._lat[2], lat)
        self.counters['decoded'] += 1
        self.playout.push(actions)
        if self.playout.policy == 'replace':
            return self._play(now)
        return None

    def _play(self, now):
        action = self.playout.pop()
        if action is None:
            return None
        self.watchdog.feed(now)
        self.counters['steps'] += 1
        return self.command_for(action)

    def command_for(self, action):
        """Command for one decoded action (D,): scaled, rate-multiplied, speed-clamped."""
        twist = action @ self._to_twist
        linear, c1 = clamp_speed(twist[:3], self._max_lin)
        angular, c2 = clamp_speed(twist[3:], self._max_ang)
        if c1 or c2:
            self.counters['clamps'] += 1
        grip = None if self._grip is None else float(self.profile.gripper.command(
            action[self._grip]))
        return Command(action, linear, angular, grip, c1 or c2)

    def on_tick(self, now):
        """Return (Command or None, zero_due) for one control period at ``now``."""
        if not self.enabled:
            return None, False
        cmd = self._play(now)
        if cmd is not None:
            return cmd, False
        return None, self.watchdog.tick(now)

    def set_enabled(self, flag):
        """Enable or disable; return True when a zero command must go out now (on disable)."""
        was = self.enabled
        self.enabled = bool(flag)
        if not self.enabled:
            self.playout.clear()
            self.watchdog.stop()
        return was and not self.enabled

    # -- health ----------------------------------------------------------------------------
    def snapshot(self, now):
        """Return diagnostics values: counters, rejections, rate (msg/s) and decode latency."""
        received = self.counters['received']
        rate = 0.0
        if self._last_snapshot is not None and now > self._last_snapshot[0]:
            rate = (received - self._last_snapshot[1]) / (now - self._last_snapshot[0])
        self._last_snapshot = (now, received)
        total, count, worst = self._lat
        self._lat = [0.0, 0, 0.0]
        values = dict(self.counters)
        values.update({f'rejected_{k}': v for k, v in self.rejected.items()})
        values.update(rejected=sum(self.rejected.values()), watchdog_trips=self.watchdog.trips,
                      enabled=self.enabled, queued_steps=len(self.playout),
                      input_rate_hz=round(rate, 2),
                      decode_latency_us_mean=round(1e6 * total / count, 1) if count else 0.0,
                      decode_latency_us_max=round(1e6 * worst, 1))
        return values
