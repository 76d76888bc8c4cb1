"""
A scripted operator for SimArm: servo the TCP to a pose with twists, pick the cube.

It talks to the arm only through the message-level calls a ROS node would make
(``command_twist`` in the profile's base frame, ``command_gripper`` in the profile's
command units), at the profile's control rate, so it also shows how a policy drives the
simulated arm. Used by the tests and usable as a demo policy.
"""

import numpy as np

POSITION_GAIN = 3.0      # 1/s: proportional twist toward the target position
ROTATION_GAIN = 2.0      # 1/s
APPROACH_HEIGHT = 0.12   # m above the cube centre before descending
# The Franka Hand's pads sit about 1 cm above panda_hand_tcp, so with the TCP 5 mm under
# the cube centre they close on the cube's middle.
GRASP_DEPTH = -0.005
LIFT = 0.12


def quat_to_matrix(q):
    """Rotation matrix of a unit quaternion (x, y, z, w)."""
    x, y, z, w = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def matrix_from_rotvec(v):
    """Rotation matrix of rotation vector v (Rodrigues' formula)."""
    v = np.asarray(v, dtype=np.float64)
    angle = float(np.linalg.norm(v))
    if angle < 1e-12:
        return np.eye(3)
    k = v / angle
    skew = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + np.sin(angle) * skew + (1.0 - np.cos(angle)) * skew @ skew


def rotvec_from_matrix(r):
    """Rotation vector (axis x angle, rad) of rotation matrix r, for angles below pi."""
    angle = float(np.arccos(np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0)))
    if angle < 1e-9:
        return np.zeros(3)
    axis = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
    return axis * (angle / (2.0 * np.sin(angle)))


def rotation_error(target, current):
    """Rotation vector turning quaternion ``current`` into ``target``, in the fixed frame."""
    return rotvec_from_matrix(quat_to_matrix(target) @ quat_to_matrix(current).T)


def servo_to(sim, position, quaternion, tolerance=0.002, timeout=6.0, max_speed=None):
    """
    Send base-frame twists toward a TCP pose until within ``tolerance`` m; return success.

    Speeds stay under the profile's safety limits (and ``max_speed`` m/s if given).
    """
    period = 1.0 / sim.profile.control_rate_hz
    limit_lin = sim.profile.safety.max_linear_speed
    limit_ang = sim.profile.safety.max_angular_speed
    if max_speed is not None:
        limit_lin = min(limit_lin, max_speed)
    frame = sim.profile.frame_id
    end = sim.sim_time + timeout
    while sim.sim_time < end:
        pose = sim.ee_pose()
        error = np.asarray(position, dtype=np.float64) - pose.position
        if np.linalg.norm(error) < tolerance:
            return True
        linear = _capped(POSITION_GAIN * error, limit_lin)
        angular = _capped(ROTATION_GAIN * rotation_error(quaternion, pose.quaternion),
                          limit_ang)
        sim.command_twist(linear, angular, frame, sim.sim_time)
        sim.step(period)
    return False


def _capped(vec, limit):
    # Just under the limit: the arm's own over-speed check has no tolerance to spare.
    norm = float(np.linalg.norm(vec))
    return vec * (0.999 * limit / norm) if norm > 0.999 * limit else vec


def hold(sim, duration):
    """Send zero twists for ``duration`` s (the arm keeps still, commands stay fresh)."""
    period = 1.0 / sim.profile.control_rate_hz
    end = sim.sim_time + duration
    while sim.sim_time < end:
        sim.command_twist((0, 0, 0), (0, 0, 0), sim.profile.frame_id, sim.sim_time)
        sim.step(period)


def scripted_pick(sim, max_speed=0.2):
    """
    Pick the cube: above it, down, close the hand, lift; return the final TaskState.

    Starts servoing if needed and keeps the TCP's current orientation throughout.
    """
    if not sim.started or sim.paused:
        sim.start()
    grip = sim.profile.gripper
    sim.command_gripper(grip.command_open)
    down = sim.ee_pose().quaternion
    cube = sim.task_state().cube.position
    above = cube + np.array([0.0, 0.0, APPROACH_HEIGHT])
    servo_to(sim, above, down, tolerance=0.005, max_speed=max_speed)
    servo_to(sim, cube + np.array([0.0, 0.0, GRASP_DEPTH]), down, max_speed=max_speed / 2)
    sim.command_gripper(grip.command_closed)
    hold(sim, 0.8)
    servo_to(sim, cube + np.array([0.0, 0.0, LIFT]), down, tolerance=0.005,
             max_speed=max_speed / 2)
    hold(sim, 0.3)
    return sim.task_state()
