"""
MoveIt Servo's twist -> joint velocity step, ROS-free and numpy-only.

Ported from moveit/moveit2 moveit_ros/moveit_servo (main branch; the Humble servo_calcs.cpp
does the same steps): src/utils/command.cpp jointDeltaFromTwist / jointDeltaFromIK (no IK
plugin: the Jacobian pseudo-inverse V S^-1 U^T), src/utils/common.cpp
velocityScalingFactorForSingularity, jointLimitVelocityScalingFactor and
jointVariablesToHalt, and src/servo.cpp getNextJointState / haltJoints. Defaults are
config/servo_parameters.yaml's: incoming_command_timeout 0.1 s, lower / hard-stop
singularity thresholds 17 / 30 (condition number), leaving multiplier 2, singularity step
scale 0.01, joint_limit_margins 0.1 rad, halt_all_joints_in_cartesian_mode true,
publish_period 0.01 s.

``command_in_type`` is ``speed_units`` (m/s, rad/s), as robotok's token_decoder sends; the
main branch then caps the linear and the angular speed at ``scale.linear`` /
``scale.rotational`` keeping the direction, which here default to the profile's safety
limits. A twist in the end-effector frame is rotated into the planning frame
(``apply_twist_commands_about_ee_frame``, Servo's default). Servo's optional smoothing
plugins and collision checking are not modelled: a halt is immediate.
"""

from dataclasses import dataclass, fields
import math
from typing import Optional

import numpy as np
from robotok_ros.errors import ConfigError

STATUS = ('no_warning', 'decelerate_for_approaching_singularity', 'halt_for_singularity',
          'decelerate_for_leaving_singularity', 'joint_bound', 'stale_command', 'paused')
# Below this smallest singular value the Jacobian is treated as singular (pinv undefined).
SINGULAR_EPS = 1e-9


@dataclass(frozen=True)
class ServoSettings:
    """MoveIt Servo parameters the simulated arm honours (names as in servo_parameters.yaml)."""

    publish_period: float = 0.01
    incoming_command_timeout: float = 0.1
    lower_singularity_threshold: float = 17.0
    hard_stop_singularity_threshold: float = 30.0
    leaving_singularity_threshold_multiplier: float = 2.0
    singularity_step_scale: float = 0.01
    joint_limit_margin: float = 0.1
    scale_linear: Optional[float] = None
    scale_rotational: Optional[float] = None
    override_velocity_scaling_factor: float = 0.0
    halt_all_joints_in_cartesian_mode: bool = True
    # 0 is Servo's exact pseudo-inverse; > 0 damps it (damped least squares, lambda in the
    # Jacobian's units) for users who want smoother motion near singularities.
    ik_damping: float = 0.0

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == 'halt_all_joints_in_cartesian_mode':
                if not isinstance(value, bool):
                    raise ConfigError(f'servo.{f.name} must be a bool, got {value!r}')
                continue
            if value is None and f.name.startswith('scale_'):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not math.isfinite(value) or value < 0:
                raise ConfigError(f'servo.{f.name} must be a finite number >= 0, got {value!r}')
        for name in ('publish_period', 'incoming_command_timeout', 'lower_singularity_threshold',
                     'singularity_step_scale', 'leaving_singularity_threshold_multiplier'):
            if getattr(self, name) <= 0:
                raise ConfigError(f'servo.{name} must be > 0, got {getattr(self, name)!r}')
        if self.hard_stop_singularity_threshold <= self.lower_singularity_threshold:
            raise ConfigError('servo.hard_stop_singularity_threshold must be > '
                              f'lower_singularity_threshold ({self.lower_singularity_threshold!r})'
                              f', got {self.hard_stop_singularity_threshold!r}')
        for name in ('scale_linear', 'scale_rotational'):
            if getattr(self, name) == 0:
                raise ConfigError(f'servo.{name} must be > 0 or None, got 0')
        if self.override_velocity_scaling_factor > 1:
            raise ConfigError('servo.override_velocity_scaling_factor must lie in [0, 1], '
                              f'got {self.override_velocity_scaling_factor!r}')


def _svd(jac):
    u, s, vt = np.linalg.svd(jac, full_matrices=False)
    return u, s, vt


def _condition(s):
    return math.inf if s[-1] < SINGULAR_EPS else float(s[0] / s[-1])


class ServoCalc:
    """
    One Servo cycle: planning-frame twist + joint state -> joint velocity command.

    ``lower``/``upper``/``vmax``: joint position bounds and velocity limits (n,);
    ``scale_*``: speed caps used where the settings leave them None. ``jacobian(q)``
    returns the 6 x n planning-frame Jacobian (linear rows first, as MoveIt's
    getJacobian) at joint positions q; it is called at the current state and at Servo's
    singularity probe.
    """

    def __init__(self, settings, lower, upper, vmax, scale_linear, scale_rotational):
        self.settings = settings
        self.lower = np.asarray(lower, dtype=np.float64)
        self.upper = np.asarray(upper, dtype=np.float64)
        self.vmax = np.asarray(vmax, dtype=np.float64)
        self.period = settings.publish_period
        self.scale_linear = settings.scale_linear or scale_linear
        self.scale_rotational = settings.scale_rotational or scale_rotational
        self.condition = 1.0

    def joint_velocity(self, twist, q, jacobian):
        """Return (joint velocity (n,), status) for a planning-frame twist (6,) at q (n,)."""
        st = self.settings
        twist = np.asarray(twist, dtype=np.float64)
        n = q.shape[0]
        if not twist.any():
            return np.zeros(n), 'no_warning'
        delta_x = twist * self.period
        # speed_units on the main branch: cap each part's speed, keeping its direction.
        for sl, cap in ((slice(0, 3), self.scale_linear), (slice(3, 6), self.scale_rotational)):
            speed = float(np.linalg.norm(twist[sl]))
            if cap and speed > cap:
                delta_x[sl] *= cap / speed
        jac = jacobian(q)
        u, s, vt = _svd(jac)
        if s[-1] < SINGULAR_EPS:
            self.condition = math.inf
            return np.zeros(n), 'halt_for_singularity'
        inv_s = s / (s * s + st.ik_damping ** 2) if st.ik_damping > 0 else 1.0 / s
        pinv = (vt.T * inv_s) @ u.T
        delta_theta = pinv @ delta_x
        scale, status = self._singularity_scale(q, delta_x, u, s, pinv, jacobian)
        delta_theta *= scale
        velocity = delta_theta / self.period
        velocity *= self._velocity_limit_scale(velocity)
        target = q + velocity * self.period
        halt = ((velocity < 0) & (target < self.lower + st.joint_limit_margin)) | \
               ((velocity > 0) & (target > self.upper - st.joint_limit_margin))
        if halt.any():
            status = 'joint_bound'
            if st.halt_all_joints_in_cartesian_mode:
                velocity = np.zeros(n)
            else:
                velocity = np.where(halt, 0.0, velocity)
        return velocity, status

    def _singularity_scale(self, q, delta_x, u, s, pinv, jacobian):
        """velocityScalingFactorForSingularity: (scale, status) from the condition number."""
        st = self.settings
        current = _condition(s)
        self.condition = current
        lower, hard = st.lower_singularity_threshold, st.hard_stop_singularity_threshold
        if current <= lower:
            # Below the lower threshold the scale is 1 whichever way the arm moves, so
            # Servo's direction probe (a second Jacobian) would not change the result.
            return 1.0, 'no_warning'
        dims = delta_x.shape[0]
        towards = u[:, dims - 1].copy()
        # Servo probes a small step along the least responsive direction: SVD signs are
        # arbitrary, so the condition number there tells which way the singularity lies.
        q_next = q + pinv @ (towards * st.singularity_step_scale)
        following = _condition(np.linalg.svd(jacobian(q_next), compute_uv=False))
        if following <= current:
            towards = -towards
        approaching = float(towards @ delta_x) > 0
        if approaching:
            upper = hard
        else:
            upper = lower + (hard - lower) * st.leaving_singularity_threshold_multiplier
        if lower < current < hard:
            status = ('decelerate_for_approaching_singularity' if approaching
                      else 'decelerate_for_leaving_singularity')
            return 1.0 - (current - lower) / (upper - lower), status
        if current >= hard:
            return 0.0, 'halt_for_singularity'
        return 1.0, 'no_warning'

    def _velocity_limit_scale(self, velocity):
        """jointLimitVelocityScalingFactor: one factor keeping every joint under its limit."""
        override = self.settings.override_velocity_scaling_factor
        scale = override if override >= 0.01 else 1.0
        # min over joints of clamp(v)/v is 1 / (the largest |v| / limit) once that exceeds 1.
        peak = float(np.max(np.abs(velocity) / self.vmax))
        return min(scale, 1.0 / peak) if peak > 1.0 else scale
