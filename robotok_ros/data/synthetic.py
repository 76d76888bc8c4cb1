"""
Generate realistic synthetic demonstrations in a robot profile's action units.

An episode is a scripted pick-and-place by a simulated operator: reaches between
random waypoints with the minimum-jerk velocity profile of human arm movements
(Flash & Hogan 1985, "The coordination of arm movements: an experimentally
confirmed mathematical model", J. Neurosci. 5(7)), ``x(s) = x0 + (x1 - x0)
(10 s^3 - 15 s^4 + 6 s^5)``, with short corrective sub-movements, pauses, and
grasps (open -> closed -> open in the profile's gripper convention, a step for
binary grippers, a minimum-jerk ramp for continuous ones).  Low-pass filtered
noise imitates the hand of a teleoperator.

Reach speeds are drawn as a fraction of each axis' per-step range (q01..q99
when the profile has quantiles, else min..max), so actions mostly lie inside
it; a few hasty reaches overshoot it (about 1 % of steps), as real
teleoperation data does, to exercise the tokenizers' clipping.

Each episode is also a pose trajectory: ``positions (T + 1, 3)`` metres,
``quaternions (T + 1, 4)`` (x, y, z, w) and ``gripper (T + 1,)`` action values,
whose step-to-step deltas are the actions: translation ``p[k+1] - p[k]`` and
the relative rotation ``R[k+1] R[k]^T`` as extrinsic roll/pitch/yaw (the
teleop tokenizer's convention), each divided by the dimension's ``scale``;
``action[k, gripper] = gripper[k + 1]``.
"""

from typing import NamedTuple

import numpy as np
from robotok_ros.errors import ConfigError
from robotok_ros.profile_loader import load_profile
from robotok_ros.robot_profile import ANGULAR_NAMES, LINEAR_NAMES
from scipy.signal import lfilter
from scipy.spatial.transform import Rotation

START_POSITION = (0.45, 0.0, 0.30)
HASTY_PROBABILITY = 0.06
NOISE_FRACTION = 0.03
CYCLE_S = 8.0  # mean length of one pick-and-place cycle at full tempo


class PoseTrajectory(NamedTuple):
    """End-effector path: ``positions (T+1, 3)``, ``quaternions (T+1, 4)``, ``gripper (T+1,)``."""

    positions: np.ndarray
    quaternions: np.ndarray
    gripper: np.ndarray


def minimum_jerk(n):
    """Return the per-step fractions ``(n,)`` of a minimum-jerk move; they sum to 1."""
    s = np.linspace(0.0, 1.0, n + 1)
    return np.diff(10 * s ** 3 - 15 * s ** 4 + 6 * s ** 5)


def _limits(profile, names):
    """
    Return profile indices and physical per-step limits (positive, negative) of ``names``.

    The limits are q01/q99 when the profile has them (min/max of real datasets are
    outliers, often ten times the typical step), else min/max.
    """
    index = [profile.index(n) for n in names]
    pos, neg = np.zeros(3), np.zeros(3)
    for axis, i in enumerate(index):
        if i is not None:
            d = profile.dimensions[i]
            lo, hi = (d.q01, d.q99) if d.q01 is not None else (d.low, d.high)
            pos[axis], neg[axis] = max(hi, 0.0) * d.scale, max(-lo, 0.0) * d.scale
    return index, pos, neg


class _Operator:
    """The state and habits of one simulated operator for one episode."""

    def __init__(self, profile, rng):
        self.profile, self.rng = profile, rng
        self.rate = profile.control_rate_hz
        self.lin_index, self.lin_pos, self.lin_neg = _limits(profile, LINEAR_NAMES)
        self.ang_index, self.ang_pos, self.ang_neg = _limits(profile, ANGULAR_NAMES)
        self.speed = rng.uniform(0.7, 1.0)
        self.tempo = 1.0
        self.position = np.zeros(3)
        self.rotvec = np.zeros(3)
        self.lin, self.ang, self.grip = [], [], []
        gripper = profile.gripper
        self.grip_value = gripper.open_value if gripper else 0.0

    def steps(self, seconds):
        return max(1, int(round(seconds * self.tempo * self.rate)))

    def _hold(self, n):
        self.lin.append(np.zeros((n, 3)))
        self.ang.append(np.zeros((n, 3)))
        self.grip.append(np.full(n, self.grip_value))

    def pause(self, lo, hi):
        self._hold(self.steps(self.rng.uniform(lo, hi)))

    def _direction(self, offset, box):
        u = self.rng.normal(size=3)
        # Steer back toward the start once the hand leaves its workspace box.
        outside = np.abs(offset) > box
        u[outside] = -np.sign(offset[outside]) * np.abs(u[outside])
        return u / (np.linalg.norm(u) + 1e-12)

    def _move(self, u, frac, n, lim_pos, lim_neg, speed_cap):
        shape = minimum_jerk(n)
        lim = np.where(u >= 0, lim_pos, lim_neg)
        u = np.where(lim > 0, u, 0.0)
        ratio = np.abs(u) * shape.max() / np.where(lim > 0, lim, 1.0)
        if ratio.max() <= 0:
            return np.zeros((n, 3))
        amp = frac / ratio.max()
        if speed_cap is not None:
            amp = min(amp, speed_cap / (shape.max() * np.linalg.norm(u)))
        return np.outer(shape, amp * u)

    def reach(self, lo=0.8, hi=2.2, small=False):
        rng = self.rng
        n = max(3, self.steps(rng.uniform(lo, hi)))
        hasty = not small and rng.random() < HASTY_PROBABILITY
        if small:
            frac = rng.uniform(0.1, 0.3)
        elif hasty:
            frac = rng.uniform(1.05, 1.35)
        else:
            frac = self.speed * rng.uniform(0.35, 0.85)
        # Hasty reaches ignore the safety speed; careful ones keep under it.
        safety = self.profile.safety
        lin_cap = None if hasty else 0.95 * safety.max_linear_speed / self.rate
        ang_cap = None if hasty else 0.95 * safety.max_angular_speed / self.rate
        box = 1.5 * self.rate * np.maximum(self.lin_pos, self.lin_neg)
        lin = self._move(self._direction(self.position, box), frac, n,
                         self.lin_pos, self.lin_neg, lin_cap)
        ang = np.zeros((n, 3))
        if rng.random() < 0.7:
            ang_frac = frac * rng.uniform(0.3, 0.9)
            ang = self._move(self._direction(self.rotvec, np.full(3, 0.6)), ang_frac, n,
                             self.ang_pos, self.ang_neg, ang_cap)
        self.position += lin.sum(axis=0)
        self.rotvec += ang.sum(axis=0)
        self.lin.append(lin)
        self.ang.append(ang)
        self.grip.append(np.full(n, self.grip_value))

    def gripper_to(self, closed):
        gripper = self.profile.gripper
        if gripper is None:
            return
        target = gripper.closed_value if closed else gripper.open_value
        if gripper.mode == 'binary':
            self.grip_value = target
            self._hold(1)
            return
        n = self.steps(self.rng.uniform(0.3, 0.6))
        ramp = self.grip_value + (target - self.grip_value) * np.cumsum(minimum_jerk(n))
        self.grip_value = target
        self.lin.append(np.zeros((n, 3)))
        self.ang.append(np.zeros((n, 3)))
        self.grip.append(ramp)

    def length(self):
        return sum(len(g) for g in self.grip)

    def perform(self, total):
        """
        Script pick-and-place cycles filling ``total`` steps.

        Short episodes are performed at a quicker tempo so one cycle fits.  A last
        cycle whose release would fall past the end is replaced by a hold: a
        demonstration ends with the object put down, not mid-transport.
        """
        rng = self.rng
        self.tempo = float(np.clip(total / (CYCLE_S * self.rate), 0.5, 1.0))
        self.pause(0.1, 0.4)
        cycles = 0
        while self.length() < total:
            mark = len(self.grip)
            self.reach()
            if rng.random() < 0.4:
                self.reach(0.4, 0.8, small=True)
            self.pause(0.2, 0.5)
            self.gripper_to(closed=True)
            self.pause(0.2, 0.5)
            for _ in range(rng.integers(1, 3)):
                self.reach()
            self.pause(0.2, 0.6)
            self.gripper_to(closed=False)
            released = self.length()
            if released > total and cycles:
                for parts in (self.lin, self.ang, self.grip):
                    del parts[mark:]
                self._hold(total - self.length())
                break
            self.pause(0.1, 0.4)
            self.reach()
            self.pause(0.2, 0.8)
            cycles += 1
        return (np.concatenate(self.lin)[:total], np.concatenate(self.ang)[:total],
                np.concatenate(self.grip)[:total])


def _noise(rng, n, sigma):
    """Return low-pass filtered noise ``(n, 3)`` with per-axis standard deviation ``sigma``."""
    white = rng.normal(size=(n, 3)) * np.sqrt(1 - 0.7 ** 2)
    return lfilter([1.0], [1.0, -0.7], white, axis=0) * sigma


def _extra_dims(profile, rng, n):
    """Smooth minimum-jerk wander ``(n, k)`` for dimensions that are neither pose nor gripper."""
    known = set(LINEAR_NAMES) | set(ANGULAR_NAMES) | {profile.gripper_name}
    out = {}
    for i, d in enumerate(profile.dimensions):
        if d.name in known:
            continue
        center, half = (d.low + d.high) / 2, (d.high - d.low) / 2
        value = 0.0 if d.low < 0 < d.high else center
        parts = []
        while sum(len(p) for p in parts) < n:
            m = max(2, int(round(rng.uniform(1.0, 3.0) * profile.control_rate_hz)))
            target = center + half * rng.uniform(-0.5, 0.5)
            parts.append(value + (target - value) * np.cumsum(minimum_jerk(m)))
            value = target
        out[i] = np.concatenate(parts)[:n]
    return out


def _duration(duration_s, rng):
    lo, hi = (duration_s, duration_s) if np.isscalar(duration_s) else duration_s
    if not 0 < lo <= hi:
        raise ConfigError(f'duration_s must be positive seconds (lo <= hi), got {duration_s!r}')
    return rng.uniform(lo, hi)


def _simulate(profile, seed, episode, duration_s):
    """Return ``actions (T, D)`` and the matching PoseTrajectory of one episode."""
    rng = np.random.default_rng([int(seed), int(episode)])
    total = max(2, int(round(_duration(duration_s, rng) * profile.control_rate_hz)))
    op = _Operator(profile, rng)
    lin, ang, grip = op.perform(total)
    lin = lin + _noise(rng, total, NOISE_FRACTION * np.maximum(op.lin_pos, op.lin_neg))
    ang = ang + _noise(rng, total, 2 * NOISE_FRACTION * np.maximum(op.ang_pos, op.ang_neg))
    actions = np.zeros((total, profile.dim))
    scales = profile.scales
    for group, index in ((lin, op.lin_index), (ang, op.ang_index)):
        for axis, i in enumerate(index):
            if i is not None:
                actions[:, i] = group[:, axis] / scales[i]
    if profile.gripper is not None:
        actions[:, profile.gripper_index] = grip
    for i, values in _extra_dims(profile, rng, total).items():
        actions[:, i] = values
    start = np.asarray(START_POSITION) + rng.normal(scale=0.02, size=3)
    positions = np.vstack([start, start + np.cumsum(lin, axis=0)])
    rot = Rotation.from_euler('xyz', [np.pi, 0.0, rng.uniform(-0.3, 0.3)])
    quats = [rot.as_quat()]
    for step in Rotation.from_euler('xyz', ang):
        rot = step * rot
        quats.append(rot.as_quat())
    g0 = profile.gripper.open_value if profile.gripper else 0.0
    return actions, PoseTrajectory(positions, np.array(quats), np.concatenate([[g0], grip]))


def generate_episodes(profile, n_episodes=16, seed=0, duration_s=(4.0, 10.0)):
    """
    Return ``n_episodes`` synthetic demonstrations, each ``(T, D)`` float64 in action units.

    ``profile``: a RobotProfile, profile name or YAML path.  ``T`` = duration (drawn
    uniformly from ``duration_s``, seconds, or fixed if a number) x control rate.
    Episode ``i`` depends only on ``(seed, i)``: the same for any ``n_episodes``.
    """
    profile = load_profile(profile)
    if int(n_episodes) < 1:
        raise ConfigError(f'n_episodes must be >= 1, got {n_episodes!r}')
    return [_simulate(profile, seed, i, duration_s)[0] for i in range(int(n_episodes))]


def generate_pose_trajectory(profile, seed=0, episode=0, duration_s=(4.0, 10.0)):
    """
    Return the PoseTrajectory whose deltas are episode ``episode`` of ``generate_episodes``.

    Samples are ``1 / control_rate_hz`` apart; positions in metres, quaternions
    (x, y, z, w) in the base frame, gripper in action values (0 without a gripper).
    """
    return _simulate(load_profile(profile), seed, episode, duration_s)[1]


def actions_from_poses(profile, positions, quaternions, gripper=None):
    """
    Return the actions ``(T - 1, D)`` that move through poses ``(T, 3)``, ``(T, 4)``.

    Translation and extrinsic roll/pitch/yaw of ``R[k+1] R[k]^T`` are divided by each
    dimension's scale; the gripper column is ``gripper[k + 1]``; other dimensions are 0.
    """
    profile = load_profile(profile)
    positions = np.asarray(positions, dtype=np.float64)
    rots = Rotation.from_quat(np.asarray(quaternions, dtype=np.float64))
    rpy = (rots[1:] * rots[:-1].inv()).as_euler('xyz')
    actions = np.zeros((len(positions) - 1, profile.dim))
    for names, values in ((LINEAR_NAMES, np.diff(positions, axis=0)), (ANGULAR_NAMES, rpy)):
        for axis, name in enumerate(names):
            i = profile.index(name)
            if i is not None:
                actions[:, i] = values[:, axis] / profile.scales[i]
    if gripper is not None and profile.gripper is not None:
        actions[:, profile.gripper_index] = np.asarray(gripper, dtype=np.float64)[1:]
    return actions


def generate_dataset(profile, n_episodes=16, seed=0, path=None, duration_s=(4.0, 10.0)):
    """
    Return ``generate_episodes(...)``; with ``path`` also save them as ``.npz``.

    The file holds ``actions (N, D)`` with ``episode_index`` and ``frame_index (N,)``,
    the layout ``read_episodes`` reads back.
    """
    episodes = generate_episodes(profile, n_episodes, seed, duration_s)
    if path is not None:
        np.savez(path, actions=np.concatenate(episodes),
                 episode_index=np.concatenate([np.full(len(e), i)
                                               for i, e in enumerate(episodes)]),
                 frame_index=np.concatenate([np.arange(len(e)) for e in episodes]))
    return episodes
