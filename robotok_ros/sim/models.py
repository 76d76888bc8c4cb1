"""
What the simulated arms are made of: model files, joint limits, home poses, grippers.

Model files (MJCF + meshes) come from the robosuite 1.5.2 wheel (ARISE-Initiative/robosuite,
MIT licence), installed for its assets only and found without importing robosuite:

- ``robosuite/models/assets/robots/panda/robot.xml``: Franka Panda arm (7 joints).
- ``robosuite/models/assets/robots/ur5e/robot.xml``: Universal Robots UR5e arm (6 joints).
- ``robosuite/models/assets/grippers/panda_gripper.xml``: Franka Hand (two slide fingers).

Their torque motors are replaced (``scene.py``); nothing else of robosuite is used.

Frames: the profile's ``frame_id`` is the arm's base body; the end-effector frame is a TCP
site: ``panda_hand_tcp`` (franka_description's name, 0.1034 m beyond the flange) for
franka_panda, ``tool_tcp`` (same place on the same hand) for ur5e, and robosuite's own
``gripper0_grip_site`` (0.097 m beyond the hand's base, turned -90 deg about z, the point
robosuite's OSC controller moves) for robosuite_panda_osc.

Limits, each from the maker:

- Panda positions: the model's joint ranges, equal to Franka's "Robot and interface
  specifications" (q_max 2.8973 1.7628 2.8973 -0.0698 2.8973 3.7525 2.8973 rad).
  Velocities: libfranka include/franka/rate_limiting.h kMaxJointVelocity
  (2.1750 rad/s joints 1-4, 2.6100 rad/s joints 5-7). Torques: Franka's specifications,
  tau_max 87 Nm joints 1-4 and 12 Nm joints 5-7.
- UR5e: UniversalRobots/Universal_Robots_ROS2_Description config/ur5e/joint_limits.yaml
  (from the UR5e User Manual 5.8 and UR's "Max. joint torques" article): +-360 deg per joint
  (+-180 deg for the elbow, as the model has it), 180 deg/s per joint, 150 Nm for the base,
  shoulder and elbow, 28 Nm for the wrists.
- Franka Hand: 80 mm stroke (0.04 m per finger, the model's range); finger force 20 N
  and stiffness 1000 N/m are robosuite's actuator values for this hand.

The UR5e file's base body is ur_description's ``base_link`` (checked: at zero joint angles
its flange sits at x 0.817, y 0.232, z 0.063, UR's published zero-pose forward kinematics
turned by pi about z as ur_description's base_link is). The Panda's ``link0`` is
franka_description's ``panda_link0`` (flange at x 0.088, z 0.926 at zero angles).
"""

from dataclasses import dataclass
import importlib.util
import math
import os
from typing import Tuple

from robotok_ros.errors import ConfigError

DEG = math.pi / 180.0
ROBOSUITE_PIN = 'robosuite==1.5.2'


@dataclass(frozen=True)
class ArmModel:
    """One arm: its MJCF file, joints, limits and the pose it starts in."""

    xml: str
    base_body: str
    flange_body: str
    joints: Tuple[str, ...]
    velocity_limits: Tuple[float, ...]
    torque_limits: Tuple[float, ...]
    home: Tuple[float, ...]
    # Where the cube starts (base frame x, y in m): in front of the arm, well inside its reach.
    cube_xy: Tuple[float, float]
    # Reflected rotor inertia per joint (kg m^2). The robosuite files have none; MuJoCo
    # Menagerie's universal_robots_ur5e/ur5e.xml uses 0.1 for every UR5e joint. Without it a
    # UR wrist (0.003 kg m^2) is too light for a stiff servo at a 2 ms step.
    armature: float = 0.1


@dataclass(frozen=True)
class GripperModel:
    """A two-finger hand: MJCF file, its root body, finger joints and stroke."""

    xml: str
    root_body: str
    # (joint name, sign): a finger's joint position is sign * width / 2 at opening ``width``.
    fingers: Tuple[Tuple[str, float], ...]
    finger_bodies: Tuple[Tuple[str, ...], ...]
    stroke: float
    tcp_offset: float
    kp: float
    max_force: float


PANDA = ArmModel(
    xml='robots/panda/robot.xml', base_body='link0', flange_body='right_hand',
    joints=tuple(f'joint{i}' for i in range(1, 8)),
    velocity_limits=(2.1750,) * 4 + (2.6100,) * 3,
    torque_limits=(87.0,) * 4 + (12.0,) * 3,
    # franka_description / MoveIt's panda 'ready' pose: elbow up, hand pointing down.
    home=(0.0, -math.pi / 4, 0.0, -3 * math.pi / 4, 0.0, math.pi / 2, math.pi / 4),
    cube_xy=(0.5, 0.0))

UR5E = ArmModel(
    xml='robots/ur5e/robot.xml', base_body='base', flange_body='right_hand',
    joints=('shoulder_pan_joint', 'shoulder_lift_joint', 'elbow_joint', 'wrist_1_joint',
            'wrist_2_joint', 'wrist_3_joint'),
    velocity_limits=(180.0 * DEG,) * 6,
    torque_limits=(150.0,) * 3 + (28.0,) * 3,
    # Upper arm up, forearm forward, tool pointing down (Menagerie's 'home' keyframe without
    # its -pi/2 base turn, which it needs only because its base is turned by pi/2).
    home=(0.0, -math.pi / 2, math.pi / 2, -math.pi / 2, -math.pi / 2, 0.0),
    # The home TCP sits at y 0.134 (the UR's shoulder and wrist offsets); the cube goes below.
    cube_xy=(0.5, 0.134))

FRANKA_HAND = GripperModel(
    xml='grippers/panda_gripper.xml', root_body='right_gripper',
    fingers=(('finger_joint1', 1.0), ('finger_joint2', -1.0)),
    finger_bodies=(('leftfinger', 'finger_joint1_tip'), ('rightfinger', 'finger_joint2_tip')),
    # franka_description's panda_hand_tcp: 0.1034 m beyond the flange, between the fingertips.
    stroke=0.08, tcp_offset=0.1034, kp=1000.0, max_force=20.0)


@dataclass(frozen=True)
class RobotSpec:
    """How one robot profile is simulated: arm, gripper and the names frames/joints get."""

    arm: ArmModel
    gripper: GripperModel
    arm_prefix: str
    gripper_prefix: str
    ee_frame: str


# Prefixes make the names those of the robot's ROS description (franka_description's
# panda_joint1 .. panda_finger_joint2, ur_description's unprefixed joints) or robosuite's own
# (robot0_*, gripper0_*), so the frames a profile names exist in the model.
ROBOTS = {
    'franka_panda': RobotSpec(PANDA, FRANKA_HAND, 'panda_', 'panda_', 'panda_hand_tcp'),
    'robosuite_panda_osc': RobotSpec(PANDA, FRANKA_HAND, 'robot0_', 'gripper0_',
                                     'gripper0_grip_site'),
    # The profile assumes a Robotiq 2F-85. robosuite's robotiq_gripper_85.xml does not load as
    # shipped (two meshes named robotiq_arg2f_base_link); with the duplicate dropped it
    # compiles, but its tendon-coupled linkage (kp 20) did not close on the cube in a first
    # try, so the UR5e carries the Franka Hand. Its 80 mm stroke is a little under the
    # 2F-85's 85 mm: a full-open command (0.085) opens 80 mm.
    'ur5e': RobotSpec(UR5E, FRANKA_HAND, '', 'gripper_', 'tool_tcp'),
}


def robot_spec(profile_name):
    """Return the RobotSpec for a profile name; ConfigError names the ones there are."""
    try:
        return ROBOTS[profile_name]
    except KeyError:
        raise ConfigError(f'no simulated model for profile {profile_name!r}; '
                          f'simulated profiles: {sorted(ROBOTS)}') from None


def assets_dir():
    """
    Return robosuite's ``models/assets`` folder without importing robosuite.

    Importing robosuite would pull in its heavy dependencies (numba, scipy, mink ...); only
    its files are needed, so the package is located by its import spec.
    """
    spec = importlib.util.find_spec('robosuite')
    locations = list(spec.submodule_search_locations or []) if spec else []
    for root in locations:
        path = os.path.join(root, 'models', 'assets')
        if os.path.isdir(path):
            return path
    raise ConfigError('the simulated arms need the robosuite model files: '
                      f'pip install --no-deps {ROBOSUITE_PIN} (searched {locations or "nothing"})')
