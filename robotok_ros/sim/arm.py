"""
SimArm: a MuJoCo arm that obeys twists and gripper commands as MoveIt Servo + ros2_control.

One call per message: ``command_twist`` (a TwistStamped), ``command_gripper`` (one
Float64MultiArray value), ``start`` / ``pause`` (Servo's services); ``step`` advances the
physics; ``joint_state`` / ``ee_pose`` / ``task_state`` / ``sim_time`` fill the outgoing
messages. Nothing here imports rclpy, so a node is a thin shell around it.

Timing: once per Servo ``publish_period`` (0.01 s, 5 physics steps at 500 Hz) the latest
twist becomes a joint velocity command through ``servo.ServoCalc``. A twist is stale once
``sim_time - stamp >= incoming_command_timeout`` (Servo's test, against the message stamp);
staleness is checked at every physics step, not only once per publish period as Servo
does, so the arm halts (zero velocity; the position reference holds) at most one physics
step after the timeout.
"""

from collections import Counter
from dataclasses import dataclass, replace
import math

import numpy as np
from robotok_ros.errors import ConfigError, RobotokError
from robotok_ros.robot_profile import RobotProfile
from robotok_ros.sim.servo import ServoCalc
from robotok_ros.sim.settings import SimSettings

TWIST_REASONS = ('malformed', 'non_finite', 'frame', 'too_large', 'not_started', 'paused')
GRIPPER_REASONS = ('gripper_non_finite', 'gripper_out_of_range', 'no_gripper')
# Relative slack on the profile's speed limits: token_decoder's own clamp rounds.
SPEED_TOLERANCE = 1e-6


class PhysicsBlowUp(RobotokError):
    """The physics state became non-finite; the scene was reset before this was raised."""


@dataclass(frozen=True)
class JointState:
    """Arm and finger joints: names, positions (rad, m), velocities."""

    names: tuple
    positions: np.ndarray
    velocities: np.ndarray


@dataclass(frozen=True)
class Pose:
    """A pose in the profile's base frame: position (3,) m, quaternion (x, y, z, w)."""

    position: np.ndarray
    quaternion: np.ndarray


@dataclass(frozen=True)
class TaskState:
    """The cube: pose in the base frame, held by both fingers, lifted by lift_height."""

    cube: Pose
    grasped: bool
    lifted: bool


def _profile(profile):
    if isinstance(profile, RobotProfile):
        return profile
    if isinstance(profile, str):
        from robotok_ros.profile_loader import load_profile
        return load_profile(profile)
    raise ConfigError(f'profile must be a RobotProfile or a profile name, got {profile!r}')


class SimArm:
    """The simulated arm; see the module docstring for the message each method stands for."""

    def __init__(self, profile, seed=0, physics_hz=None, settings=None):
        from robotok_ros.sim.world import World

        self.profile = _profile(profile)
        settings = settings if settings is not None else SimSettings()
        if not isinstance(settings, SimSettings):
            raise ConfigError(f'settings must be a SimSettings, got {settings!r}')
        if physics_hz is not None:
            settings = replace(settings, physics_hz=physics_hz)
        self.settings = settings
        self.world = World(settings.model or self.profile.name, settings.physics_hz,
                           settings.visual)
        self.model, self.data = self.world.model, self.world.data
        w = self.world
        self.frames = {self.profile.frame_id: 'base', w.ee_frame: 'ee'}
        self._every = round(settings.servo.publish_period * settings.physics_hz)
        self._dt = 1.0 / settings.physics_hz
        safety = self.profile.safety
        self.servo = ServoCalc(settings.servo, w.lower, w.upper, w.vmax,
                               safety.max_linear_speed, safety.max_angular_speed)
        self.rejected = Counter(dict.fromkeys(TWIST_REASONS + GRIPPER_REASONS, 0))
        self.blowups = 0
        self.started = False
        self.paused = False
        self.status = 'paused'
        self._rng = np.random.default_rng(seed)
        self.reset(seed)

    # -- commands --------------------------------------------------------------------------
    def command_twist(self, linear, angular, frame_id, stamp_s):
        """
        Take one TwistStamped; return None when accepted, else the rejection reason.

        Rejected twists are counted in ``rejected`` and never reach the physics: not three
        numbers each, non-finite values or stamp, an unknown (or empty) frame, a speed over
        the profile's safety limit (``reject_over_speed``), servo not started or paused.
        """
        reason = self._check_twist(linear, angular, frame_id, stamp_s)
        if reason:
            self.rejected[reason] += 1
            return reason
        self._twist = (np.array(linear, dtype=np.float64), np.array(angular, dtype=np.float64),
                       self.frames[frame_id], float(stamp_s))
        return None

    def _check_twist(self, linear, angular, frame_id, stamp_s):
        try:
            lin = np.asarray(linear, dtype=np.float64).reshape(3)
            ang = np.asarray(angular, dtype=np.float64).reshape(3)
            stamp = float(stamp_s)
        except (TypeError, ValueError):
            return 'malformed'
        if not (np.isfinite(lin).all() and np.isfinite(ang).all() and math.isfinite(stamp)):
            return 'non_finite'
        if frame_id not in self.frames:
            return 'frame'
        safety = self.profile.safety
        if self.settings.reject_over_speed and (
                np.linalg.norm(lin) > safety.max_linear_speed * (1 + SPEED_TOLERANCE)
                or np.linalg.norm(ang) > safety.max_angular_speed * (1 + SPEED_TOLERANCE)):
            return 'too_large'
        if not self.started:
            return 'not_started'
        if self.paused:
            return 'paused'
        return None

    def command_gripper(self, value):
        """
        Take one gripper controller command in the profile's command units; None if accepted.

        The value must lie between the profile's ``command_closed`` and ``command_open``;
        it maps linearly onto the hand's opening (full stroke at ``command_open``).
        """
        g = self.profile.gripper
        if g is None:
            reason = 'no_gripper'
        else:
            try:
                value = float(value)
            except (TypeError, ValueError):
                value = math.nan
            lo, hi = sorted((g.command_open, g.command_closed))
            slack = 1e-9 * max(1.0, hi - lo)
            if not math.isfinite(value):
                reason = 'gripper_non_finite'
            elif not lo - slack <= value <= hi + slack:
                reason = 'gripper_out_of_range'
            else:
                frac = (value - g.command_closed) / (g.command_open - g.command_closed)
                self.world.set_opening(min(max(frac, 0.0), 1.0))
                return None
        self.rejected[reason] += 1
        return reason

    def start(self):
        """Start servoing (Servo's start_servo); the position reference restarts from here."""
        self.started, self.paused = True, False
        self.world.hold_here()

    def pause(self, flag=True):
        """Pause (True) or resume (False) servoing, as Servo's pause_servo SetBool."""
        flag = bool(flag)
        if self.paused and not flag:
            self.world.hold_here()
        self.paused = flag
        self._twist = None
        if flag:
            self._command(None, 'paused')

    # -- simulation ------------------------------------------------------------------------
    def reset(self, seed=None):
        """
        Restore the scene: home pose, open hand, the cube at a seeded random spot.

        ``seed`` None draws the next spot from the running generator. Servo's started /
        paused state and the ``rejected`` counters are kept (a world reset, not a restart).
        """
        if seed is not None:
            self._rng = np.random.default_rng(seed)
            self.seed = seed
        offset = self._rng.uniform(-1.0, 1.0, size=2) * self.settings.cube_xy_range
        self.world.reset(offset)
        self._twist = None
        self._phase = 0
        self._debt = 0.0
        self._command(None, 'paused' if not self.started or self.paused else 'stale_command')
        self.cube_start_z = self.world.cube_pose()[0][2]

    @property
    def sim_time(self):
        """Return the simulated time in s since the last reset."""
        return float(self.data.time)

    def step(self, dt_s):
        """Advance the physics by dt_s (rounded to whole physics steps, the rest carried)."""
        dt = float(dt_s)
        if not math.isfinite(dt) or dt < 0:
            raise ConfigError(f'step dt_s must be a finite number >= 0, got {dt_s!r}')
        self._debt += dt * self.settings.physics_hz
        steps = int(self._debt + 1e-9)
        self._debt -= steps
        while steps > 0:
            if self._phase == 0:
                self._servo_tick()
            elif self._moving and self._stale():
                self._command(None, 'stale_command')
            chunk = min(self._every - self._phase, steps)
            if self._moving:
                # Stop the chunk where the twist turns stale, so the halt comes on time.
                left = self._twist[3] + self.settings.servo.incoming_command_timeout - \
                    self.sim_time
                chunk = min(chunk, max(1, math.ceil(left / self._dt - 1e-6)))
            if not self.world.advance(chunk):
                self._blow_up()
            self._phase = (self._phase + chunk) % self._every
            steps -= chunk

    def _stale(self):
        age = self.sim_time - self._twist[3]
        return age >= self.settings.servo.incoming_command_timeout - 1e-9

    def _servo_tick(self):
        w = self.world
        if not self.started or self.paused:
            return self._command(None, 'paused')
        if self._twist is None or self._stale():
            return self._command(None, 'stale_command')
        lin, ang, frame, _ = self._twist
        if frame == 'ee':
            rot = w.ee_rotation()
            lin, ang = rot @ lin, rot @ ang
        velocity, status = self.servo.joint_velocity(np.concatenate([lin, ang]),
                                                     w.arm_positions(), w.jacobian)
        self._command(velocity, status)

    def _command(self, velocity, status):
        self.status = status
        self._moving = velocity is not None and bool(velocity.any())
        self.velocity_command = velocity if velocity is not None else np.zeros(self.world.n_arm)
        self.world.command_velocity(self.velocity_command)

    def _blow_up(self):
        t = self.sim_time
        self.blowups += 1
        self.reset(self.seed)
        raise PhysicsBlowUp(f'physics became non-finite at sim time {t:.3f} s; the scene was '
                            f'reset (seed {self.seed}, blow-up #{self.blowups})')

    # -- state -----------------------------------------------------------------------------
    def joint_state(self):
        """Return the arm and finger joints' JointState."""
        return JointState(*self.world.joint_state())

    def ee_pose(self):
        """Return the TCP Pose in the profile's base frame."""
        pos, quat = self.world.ee_pose()
        return Pose(pos, quat)

    def task_state(self):
        """Return the cube's TaskState."""
        pos, quat = self.world.cube_pose()
        lifted = bool(pos[2] >= self.cube_start_z + self.settings.lift_height)
        return TaskState(Pose(pos, quat), self.world.cube_grasped(), lifted)
