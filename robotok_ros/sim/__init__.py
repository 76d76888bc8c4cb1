"""
ROS-free simulated arm ("sim_arm"): MuJoCo physics obeying MoveIt Servo-style commands.

``SimArm`` (``arm.py``) takes what token_decoder publishes (TwistStamped in speed units,
gripper commands) and answers with joint states, the TCP pose and the cube task state.
MuJoCo is imported when a SimArm is built, not when this package is imported.
"""

from robotok_ros.sim.arm import (GRIPPER_REASONS, JointState, PhysicsBlowUp, Pose,  # noqa: F401
                                 SimArm, TaskState, TWIST_REASONS)
from robotok_ros.sim.servo import ServoSettings  # noqa: F401
from robotok_ros.sim.settings import SimSettings  # noqa: F401
