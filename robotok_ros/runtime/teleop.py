"""
ROS-free logic of the teleop tokenizer: operator input -> per-step action deltas -> tokens.

Two motion sources, sampled on the control-rate timer *as of* the tick (the
latest input received at or before it; inputs older than ``max_input_age`` are
idle):

- ``twist``: a velocity command (SpaceMouse, joystick); per-step delta =
  velocity x per-axis scale / control rate.
- ``pose``: an end-effector pose stream (VR controller, leader arm); the delta
  is the difference of consecutive samples: translation ``p1 - p0`` and the
  relative rotation ``R1 R0^T`` (base frame) as extrinsic roll/pitch/yaw, the
  convention of BridgeData V2 (Walke et al., 2023, arXiv:2308.12952) and of
  ``scipy.spatial.transform.Rotation.as_euler('xyz')``.

The gripper comes from a Joy button (toggle or hold), a Float64 or one joint of
a JointState, mapped through the profile's gripper convention.  A dead-man
button, when configured, suppresses every sample while released and re-anchors
the pose source (a clutch), so a released hand never produces a jump.  Turning
steps into token messages is ``teleop_encoding``.
"""

from dataclasses import dataclass
import math
from typing import Tuple

import numpy as np
from robotok_ros.errors import ConfigError
from robotok_ros.robot_profile import ANGULAR_NAMES, LINEAR_NAMES
from robotok_ros.runtime.geometry import pose_delta, valid_quaternion

SOURCES = ('twist', 'pose')
GRIPPER_SOURCES = ('none', 'button', 'float', 'joint')
BUTTON_MODES = ('toggle', 'hold')


def twist_delta(linear, angular, linear_scale, angular_scale, rate_hz):
    """Return the per-step delta ``(6,)`` = velocity x per-axis scale / control rate."""
    vel = np.concatenate([np.asarray(linear, float) * linear_scale,
                          np.asarray(angular, float) * angular_scale])
    return vel / rate_hz


# -- configuration ------------------------------------------------------------------------------
def _three(name, value):
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, 3)
    if arr.size != 3 or not np.isfinite(arr).all():
        raise ConfigError(f'{name} must be one finite number or three, got {value!r}')
    return tuple(float(v) for v in arr)


@dataclass(frozen=True)
class TeleopConfig:
    """
    Settings of the teleop tokenizer, one per ROS parameter.

    ``linear_scale``/``angular_scale``: per-axis factors on twist input;
    ``gripper_input_open``/``_closed``: Float64 or joint values meaning open and
    closed; ``deadman_button``: Joy button index, -1 for none.
    """

    source: str = 'twist'
    linear_scale: Tuple[float, float, float] = (1.0, 1.0, 1.0)
    angular_scale: Tuple[float, float, float] = (1.0, 1.0, 1.0)
    max_input_age: float = 0.2
    gripper_source: str = 'none'
    gripper_button: int = 0
    gripper_button_mode: str = 'toggle'
    gripper_joint: str = ''
    gripper_input_open: float = 1.0
    gripper_input_closed: float = 0.0
    gripper_start_open: bool = True
    deadman_button: int = -1

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ConfigError(f'teleop_source must be one of {SOURCES}, got {self.source!r}')
        if self.gripper_source not in GRIPPER_SOURCES:
            raise ConfigError(f'gripper_source must be one of {GRIPPER_SOURCES}, '
                              f'got {self.gripper_source!r}')
        if self.gripper_button_mode not in BUTTON_MODES:
            raise ConfigError(f'gripper_button_mode must be one of {BUTTON_MODES}, '
                              f'got {self.gripper_button_mode!r}')
        object.__setattr__(self, 'linear_scale', _three('linear_scale', self.linear_scale))
        object.__setattr__(self, 'angular_scale', _three('angular_scale', self.angular_scale))
        age = float(self.max_input_age)
        if not math.isfinite(age) or age <= 0:
            raise ConfigError(f'max_input_age must be > 0 seconds, got {self.max_input_age!r}')
        object.__setattr__(self, 'max_input_age', age)
        for name in ('gripper_button', 'deadman_button'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < -1:
                raise ConfigError(f'{name} must be a button index >= 0 (or -1), got {value!r}')
        if self.gripper_source == 'button' and self.gripper_button < 0:
            raise ConfigError('gripper_source button needs gripper_button >= 0, got '
                              f'{self.gripper_button!r}')
        if self.gripper_source == 'joint' and not self.gripper_joint:
            raise ConfigError('gripper_source joint needs gripper_joint (a joint name), got ""')
        if self.gripper_input_open == self.gripper_input_closed:
            raise ConfigError('gripper_input_open and gripper_input_closed must differ, both are '
                              f'{self.gripper_input_open!r}')


# -- sampling -----------------------------------------------------------------------------------
class _Latest:
    """The latest two inputs with their receive times, so a sample never reads the future."""

    def __init__(self):
        self.items = []

    def put(self, t, value):
        self.items = (self.items + [(t, value)])[-2:]

    def as_of(self, now, max_age):
        """Return the newest value received at or before ``now`` and within ``max_age``."""
        for t, value in reversed(self.items):
            if t <= now:
                return value if now - t <= max_age else None
        return None


class TeleopSampler:
    """
    Latest operator inputs -> one action ``(D,)`` per control tick.

    Feed inputs with ``on_*(t, ...)`` (``t``: receive time in seconds on the
    node clock) and call ``sample(now)`` from the timer; it returns None while
    the dead-man button is released.  Motion is divided by each dimension's
    ``scale`` (physical units per action unit).  Counters: ``idle_steps``,
    ``rejected``.
    """

    def __init__(self, profile, config):
        self.profile = profile
        self.config = config
        self.rate = profile.control_rate_hz
        self.motion_index = [profile.index(n) for n in LINEAR_NAMES + ANGULAR_NAMES]
        self._twist = _Latest()
        self._pose = _Latest()
        self._joy = _Latest()
        self._anchor = None
        self._gripper_open = 1.0 if config.gripper_start_open else 0.0
        self._toggle_was_pressed = False
        self.idle_steps = 0
        self.rejected = 0

    # inputs
    def on_twist(self, t, linear, angular):
        """Store a velocity command: ``linear``, ``angular`` (3,) each."""
        value = np.concatenate([np.asarray(linear, float), np.asarray(angular, float)])
        if not np.isfinite(value).all():
            self.rejected += 1
            return
        self._twist.put(t, value)

    def on_pose(self, t, position, quaternion):
        """Store an end-effector pose: ``position`` (3,), ``quaternion`` (x, y, z, w)."""
        pos = np.asarray(position, float)
        if not np.isfinite(pos).all() or not valid_quaternion(quaternion):
            self.rejected += 1
            return
        self._pose.put(t, (pos, np.asarray(quaternion, float)))

    def on_joy(self, t, buttons):
        """Store Joy buttons; the gripper button acts at once (toggle on the press edge)."""
        buttons = list(buttons)
        self._joy.put(t, buttons)
        cfg = self.config
        if cfg.gripper_source != 'button':
            return
        pressed = len(buttons) > cfg.gripper_button and bool(buttons[cfg.gripper_button])
        if cfg.gripper_button_mode == 'hold':
            self._gripper_open = 0.0 if pressed else 1.0
        elif pressed and not self._toggle_was_pressed:
            self._gripper_open = 1.0 - self._gripper_open
        self._toggle_was_pressed = pressed

    def on_gripper_value(self, t, value):
        """Store a Float64 (or joint) gripper reading, mapped to openness in [0, 1]."""
        value = float(value)
        if not math.isfinite(value):
            self.rejected += 1
            return
        cfg = self.config
        frac = (value - cfg.gripper_input_closed) / (cfg.gripper_input_open
                                                     - cfg.gripper_input_closed)
        self._gripper_open = min(1.0, max(0.0, frac))

    def on_joint_state(self, t, names, positions):
        """Take the configured gripper joint out of a JointState; other joints are ignored."""
        names = list(names)
        if self.config.gripper_joint in names:
            i = names.index(self.config.gripper_joint)
            if i < len(positions):
                self.on_gripper_value(t, positions[i])

    # sampling
    def deadman_pressed(self, now):
        """Tell whether the dead-man button is held (always True when none is configured)."""
        button = self.config.deadman_button
        if button < 0:
            return True
        buttons = self._joy.as_of(now, self.config.max_input_age)
        return buttons is not None and len(buttons) > button and bool(buttons[button])

    def _motion(self, now):
        cfg = self.config
        if cfg.source == 'twist':
            vel = self._twist.as_of(now, cfg.max_input_age)
            if vel is None:
                return None
            return twist_delta(vel[:3], vel[3:], cfg.linear_scale, cfg.angular_scale, self.rate)
        pose = self._pose.as_of(now, cfg.max_input_age)
        if pose is None:
            self._anchor = None
            return None
        anchor, self._anchor = self._anchor, pose
        # The first fresh pose after idle or a dead-man release anchors: no jump.
        return None if anchor is None else pose_delta(anchor[0], anchor[1], pose[0], pose[1])

    def sample(self, now):
        """Return the action ``(D,)`` for the tick at ``now``, or None while the dead-man is up."""
        if not self.deadman_pressed(now):
            self._anchor = None
            return None
        action = np.zeros(self.profile.dim)
        motion = self._motion(now)
        if motion is None:
            self.idle_steps += 1
        else:
            for value, index in zip(motion, self.motion_index):
                if index is not None:
                    # Physical per-step delta -> action units (the decoder multiplies back).
                    action[index] = value / self.profile.dimensions[index].scale
        gripper = self.profile.gripper
        if gripper is not None:
            action[self.profile.gripper_index] = float(
                gripper.action_from_openness(self._gripper_open))
        return action
