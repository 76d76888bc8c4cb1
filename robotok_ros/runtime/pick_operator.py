"""
A noisy scripted operator: what a person with a SpaceMouse does to pick and lift the cube.

It sees only what the robot publishes (the TCP pose, the finger joints, the cube's
position) and answers with a base-frame twist and a gripper command, the way a
SpaceMouse driver feeds MoveIt Servo and teleop_tokenizer logs it.  Its decision
is a function of what it sees (plus the noise), so a policy that sees the same state
can learn it: move over the cube (each axis capped as a SpaceMouse's), descend,
close, wait for the fingers to stop on the cube, lift, hold.  Each episode draws its
own speed, grasp offset and a smooth (Ornstein-Uhlenbeck) hand tremor, so
demonstrations differ as people's do.
"""

from dataclasses import dataclass

import numpy as np
from robotok_ros.errors import ConfigError
from robotok_ros.runtime.geometry import quat_multiply

APPROACH_HEIGHT = 0.10   # m above the cube centre before descending
GRASP_DEPTH = -0.005     # m: the Franka Hand's pads close on the cube's middle from here
LIFT = 0.12              # m above the cube's start: lifted (sim_arm says so at 5 cm)
XY_READY = 0.006         # m: close enough above the cube to descend
XY_OVER = 0.015          # m: farther than this from above the cube, the height is kept
# The hand starts closing this far above the grasp point, still descending: the close is
# then a band of states a policy can learn (a person closes on the way down too), not
# one step at a single pose.
CLOSE_ABOVE = 0.012
SETTLED = 2e-4           # m per step: the fingers stopped moving (closed on the cube)
HOLD_S = 0.5             # s held up before the episode counts as done


@dataclass(frozen=True)
class OperatorSettings:
    """How the scripted operator moves; validated, the offending value in the message."""

    speed: float = 0.15            # m/s cruise toward a target
    gain: float = 3.0              # 1/s: proportional approach
    rotation_gain: float = 2.0     # 1/s: keeps the start orientation
    noise: float = 0.01            # m/s: tremor amplitude (OU process), far from targets
    noise_time: float = 0.3        # s: tremor correlation time
    speed_jitter: float = 0.25     # +-25 % per-episode speed
    grasp_jitter: float = 0.002    # m: per-episode grasp point offset (x, y)
    # DART (Laskey et al. 2017, noise injection for imitation learning): a push of this
    # amplitude (m/s, OU) reaches the arm but not the log, so demonstrations visit states off
    # the operator's own path and record the correction from there.  0: none.
    push: float = 0.0
    push_time: float = 0.5         # s: push correlation time

    def __post_init__(self):
        for name in ('speed', 'gain', 'rotation_gain', 'noise_time', 'push_time'):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 < value < 1e3):
                raise ConfigError(f'operator {name} must be a number in (0, 1000), got {value!r}')
        for name in ('noise', 'speed_jitter', 'grasp_jitter', 'push'):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 <= value < 1):
                raise ConfigError(f'operator {name} must be a number in [0, 1), got {value!r}')


def _rotvec_between(target, current):
    """Return the rotation vector (rad) turning quaternion ``current`` into ``target``."""
    cx, cy, cz, cw = current
    x, y, z, w = quat_multiply(target, (-cx, -cy, -cz, cw))
    if w < 0:
        x, y, z, w = -x, -y, -z, -w
    s = np.sqrt(x * x + y * y + z * z)
    if s < 1e-12:
        return np.zeros(3)
    return np.array([x, y, z]) * (2.0 * np.arctan2(s, w) / s)


def _capped(vec, limit):
    norm = float(np.linalg.norm(vec))
    return vec * (limit / norm) if norm > limit else vec


class PickOperator:
    """One episode of scripted teleoperation; ``act`` once per control step."""

    def __init__(self, profile, seed=0, settings=None):
        self.profile, self.settings = profile, settings or OperatorSettings()
        self.period = 1.0 / profile.control_rate_hz
        self.rng = np.random.default_rng(seed)
        s = self.settings
        self.speed = min(s.speed * (1 + self.rng.uniform(-s.speed_jitter, s.speed_jitter)),
                         0.9 * profile.safety.max_linear_speed)
        self.offset = np.append(self.rng.uniform(-s.grasp_jitter, s.grasp_jitter, 2), 0.0)
        self.tremor = np.zeros(3)
        self.push = np.zeros(3)    # what ``act`` adds for the arm only (DART), this step
        self.orientation = None     # the TCP orientation at the first step: kept throughout
        self.closing = False
        self.cube_start = None
        self.last_width = None
        self.held = 0.0
        self.phase = 'approach'
        self.open_width = None     # the fingers' opening at the first step (open hand)

    def act(self, position, quaternion, cube, finger_width, lifted=False):
        """
        Return ``(linear (3,), angular (3,), gripper_closed, done)`` for what is seen now.

        ``linear`` is the operator's command (what teleop logs); the arm gets
        ``linear + self.push`` (zero unless ``settings.push``).

        ``position`` (3,) and ``quaternion`` (x, y, z, w): the TCP in the base frame;
        ``cube`` (3,): the cube's centre; ``finger_width``: the fingers' opening (m).
        """
        position, cube = np.asarray(position, float), np.asarray(cube, float)
        if self.orientation is None:
            self.orientation, self.cube_start = np.asarray(quaternion, float), cube.copy()
            self.open_width = float(finger_width)
        grasp = self.cube_start + self.offset + (0.0, 0.0, GRASP_DEPTH)
        settled = self.last_width is not None and \
            abs(finger_width - self.last_width) < SETTLED
        self.last_width = finger_width
        if not self.closing:
            above = grasp + (0.0, 0.0, APPROACH_HEIGHT - GRASP_DEPTH)
            xy_error = float(np.linalg.norm((position - grasp)[:2]))
            # Hysteresis: once descending, only a clear miss (2.5x the ready radius) sends
            # the hand back up, else tremor near the threshold would bounce it.
            if xy_error > (2.5 * XY_READY if self.phase == 'descend' else XY_READY):
                target, self.phase = above, 'approach'
                if xy_error > XY_OVER:  # over the cube first, then down: its height is kept
                    target = np.append(above[:2], max(position[2], above[2]))
            else:
                target, self.phase = grasp, 'descend'
            if self.phase == 'descend' and position[2] - grasp[2] < CLOSE_ABOVE:
                self.closing, self.phase = True, 'close'
        if self.closing:
            # Stopped *after* closing some way: on the cube (a hand just told to close has
            # not moved yet either).
            if self.phase == 'close' and settled and finger_width < self.open_width - 0.005:
                self.phase = 'lift'
            target = grasp if self.phase == 'close' else \
                self.cube_start + (0.0, 0.0, LIFT + GRASP_DEPTH)
        self.held = self.held + self.period if lifted and self.phase == 'lift' else 0.0
        s = self.settings
        decay = np.exp(-self.period / s.noise_time)
        self.tremor = decay * self.tremor + np.sqrt(1 - decay ** 2) * s.noise * \
            self.rng.standard_normal(3)
        decay = np.exp(-self.period / s.push_time)
        self.push = decay * self.push + np.sqrt(1 - decay ** 2) * s.push * \
            self.rng.standard_normal(3) if s.push else self.push
        error = target - position
        # Each axis capped on its own, as a SpaceMouse's: a 2 cm sideways error is a clear
        # sideways command even while the hand travels 20 cm forward (a capped norm would
        # make it a fraction of a quantization bin, which a policy cannot learn).
        linear = np.clip(s.gain * error, -self.speed, self.speed)
        if self.phase != 'close':
            # A hand trembles less as it slows down near its target.
            linear = linear + self.tremor * min(1.0, float(np.linalg.norm(error)) / 0.05)
        angular = _capped(s.rotation_gain * _rotvec_between(self.orientation, quaternion),
                          0.5 * self.profile.safety.max_angular_speed)
        return linear, angular, self.closing, self.held >= HOLD_S
