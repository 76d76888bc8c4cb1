"""
A noisy scripted operator: what a person with a SpaceMouse does to pick and lift the cube.

It sees only what the robot publishes (the TCP pose, the finger joints, the cube's
position) and answers with a base-frame twist and a gripper command, the way a
SpaceMouse driver feeds MoveIt Servo and teleop_tokenizer logs it.  Its decision
is a function of what it sees (plus the noise), so a policy that sees the same state
can learn it: move over the cube (each axis capped as a SpaceMouse's), descend,
close, lift once the fingers hold the cube, hold it up.  Each episode draws its
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
XY_OVER = 0.025          # m: farther than this from above the cube, the height is kept
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

    def act(self, position, quaternion, cube, finger_width, lifted=False, grasped=False):
        """
        Return ``(linear (3,), angular (3,), gripper_closed, done)`` for what is seen now.

        ``linear`` is the operator's command (what teleop logs); the arm gets
        ``linear + self.push`` (zero unless ``settings.push``).

        ``position`` (3,) and ``quaternion`` (x, y, z, w): the TCP in the base frame;
        ``cube`` (3,): the cube's centre; ``finger_width``: the fingers' opening (m);
        ``lifted`` / ``grasped``: what the scene says of the cube (sim_arm's task state).
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
            xy_error = float(np.linalg.norm((position - grasp)[:2]))
            # A funnel, not a threshold: the height allowed above the grasp point grows with
            # the sideways error (all the way down within XY_READY, the approach height at
            # XY_OVER, higher beyond), so when to descend is a smooth function of what is
            # seen.  A ready-radius switch made the same pose mean "hover" or "descend",
            # and a policy cloned from it hovered.
            funnel = grasp[2] + (APPROACH_HEIGHT - GRASP_DEPTH) * \
                max(0.0, xy_error - XY_READY) / (XY_OVER - XY_READY)
            above = grasp[2] + APPROACH_HEIGHT - GRASP_DEPTH
            target = np.append(grasp[:2], min(max(position[2], above), funnel))
            self.phase = 'approach' if xy_error > XY_READY else 'descend'
            if position[2] - grasp[2] < CLOSE_ABOVE and xy_error < 2 * XY_READY:
                self.closing, self.phase = True, 'close'
        if self.closing:
            # Lift once both fingers hold the cube (what a person sees, and what the task
            # state tells a policy: waiting on the fingers to settle as well was a few
            # steps of "hold" then "lift" at one state, and a cloned policy held forever).
            # Without the contact, fingers stopped *after* closing some way (a hand just
            # told to close has not moved yet either) are on the cube too.
            if self.phase == 'close' and finger_width < self.open_width - 0.005 and \
                    (grasped or settled):
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
