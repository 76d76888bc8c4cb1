"""
The measured end-effector pose token_decoder relies on: finite, recent, or not at all.

Pose targets (``output_mode: pose``) are built onto it and the workspace box is
enforced with it, so a pose that is not finite, has no usable orientation or is
older than ``max_age`` seconds counts as no pose.  Age is measured on the
decoder's own clock from when the pose arrived: the sender's header stamp may
come from another machine's clock.  A non-finite pose also forgets the last
good one at once (the measurement is broken now, not in ``max_age`` seconds).
"""

import math

from robotok_ros.errors import ConfigError


class MeasuredPose:
    """The latest valid pose ``(position (3,), quaternion (x, y, z, w))`` and when it came."""

    def __init__(self, max_age):
        if not (isinstance(max_age, (int, float)) and 0 < max_age < math.inf):
            raise ConfigError(f'pose_max_age must be a finite number > 0, got {max_age!r}')
        self.max_age = float(max_age)
        self.position = self.quat = self.received = None
        self.counts = {'received': 0, 'non_finite': 0, 'stale': 0, 'missing': 0}

    def update(self, position, quat, now):
        """Take a measured pose at ``now``; return False (and forget the last) when unusable."""
        self.counts['received'] += 1
        values = (*position, *quat)
        sq = sum(q * q for q in quat) if all(map(math.isfinite, values)) else 0.0
        if sq < 1e-12:
            self.counts['non_finite'] += 1
            self.position = self.quat = self.received = None
            return False
        norm = math.sqrt(sq)
        self.position = tuple(float(p) for p in position)
        self.quat = tuple(float(q) / norm for q in quat)
        self.received = now
        return True

    def fresh(self, now):
        """Return ``(position, quat)`` when a valid pose is at most max_age old, else None."""
        if self.received is not None and now - self.received <= self.max_age:
            return self.position, self.quat
        return None

    def require(self, now):
        """Return the fresh pose like ``fresh``, counting a missing or stale one."""
        pose = self.fresh(now)
        if pose is None:
            self.counts['missing' if self.received is None else 'stale'] += 1
        return pose

    def describe(self, now, topic='robotok/ee_pose'):
        """Say why there is no fresh pose (for an error message)."""
        if self.received is None:
            return f'no valid pose on {topic}' + (
                ' (the last one was not finite)' if self.counts['non_finite'] else '')
        return (f'the last pose on {topic} is {now - self.received:.2f} s old '
                f'(pose_max_age {self.max_age:g} s)')
