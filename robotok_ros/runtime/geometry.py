"""
Rotation and pose maths shared by the decoder (pose targets) and teleop (pose deltas).

Quaternions are ``(x, y, z, w)``, as geometry_msgs holds them.
"""

import math

import numpy as np
from robotok_ros.errors import InvalidTokenError


def quat_multiply(q1, q2):
    """Hamilton product q1 * q2 of (x, y, z, w) quaternions."""
    x1, y1, z1, w1 = q1
    x2, y2, z2, w2 = q2
    return np.array([w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                     w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
                     w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
                     w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2])


def quat_from_rotvec(rotvec):
    """Quaternion (x, y, z, w) of rotation vector ``rotvec`` (3,), axis x angle in rad."""
    rotvec = np.asarray(rotvec, dtype=np.float64)
    angle = float(np.sqrt(rotvec @ rotvec))
    # sin(a/2)/a -> 1/2 - a^2/48 near 0 keeps tiny rotations exact.
    k = 0.5 - angle * angle / 48.0 if angle < 1e-6 else np.sin(angle / 2) / angle
    return np.array([*(rotvec * k), np.cos(angle / 2)])


def integrate_pose(position, quat, linear, angular, dt):
    """
    Apply a constant twist for ``dt`` seconds to a pose, both in the same fixed frame.

    position (3,), quat (x, y, z, w) -> (position (3,), unit quat): p + v dt and
    exp(w dt) * q, the rotation applied in the fixed frame as a twist is.
    """
    q = np.asarray(quat, dtype=np.float64)
    norm = np.linalg.norm(q)
    if not np.isfinite(norm) or norm < 1e-9:
        raise InvalidTokenError(f'pose orientation {list(quat)} is not a valid quaternion')
    out = quat_multiply(quat_from_rotvec(np.asarray(angular) * dt), q / norm)
    pos = np.asarray(position, dtype=np.float64) + np.asarray(linear, dtype=np.float64) * dt
    return pos, out / np.linalg.norm(out)


# -- rotation maths -----------------------------------------------------------------------------
def quat_to_matrix(q):
    """Return the rotation matrix ``(3, 3)`` of quaternion ``q = (x, y, z, w)``, normalised."""
    x, y, z, w = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def matrix_to_rpy(m):
    """
    Return extrinsic roll, pitch, yaw ``(3,)`` of rotation matrix ``m`` (``R = Rz Ry Rx``).

    Pitch lies in [-pi/2, pi/2]; at gimbal lock (|pitch| = pi/2) roll is set to 0
    and the whole rotation about the vertical axis goes to yaw, as scipy does.
    """
    # atan2 of (sin, cos) keeps full precision near +-pi/2, where asin does not.
    cos_pitch = math.hypot(m[0, 0], m[1, 0])
    pitch = math.atan2(-m[2, 0], cos_pitch)
    if cos_pitch > 1e-9:
        roll = math.atan2(m[2, 1], m[2, 2])
        yaw = math.atan2(m[1, 0], m[0, 0])
    else:
        roll = 0.0
        yaw = math.atan2(-m[0, 1], m[1, 1])
    return np.array([roll, pitch, yaw])


def valid_quaternion(q):
    """Tell whether ``q`` (4 values) is finite and far enough from zero to normalise."""
    arr = np.asarray(q, dtype=np.float64)
    return arr.shape == (4,) and bool(np.isfinite(arr).all()) and float(arr @ arr) > 1e-12


def pose_delta(p0, q0, p1, q1):
    """
    Return the 6-D delta ``[dx, dy, dz, droll, dpitch, dyaw]`` from pose 0 to pose 1.

    ``p``: (3,) positions, ``q``: (4,) quaternions (x, y, z, w), both in the base
    frame.  The rotation is the relative rotation ``R1 R0^T`` as roll/pitch/yaw,
    exact for large rotations (no small-angle subtraction of Euler angles).
    """
    rel = quat_to_matrix(q1) @ quat_to_matrix(q0).T
    return np.concatenate([np.asarray(p1, float) - np.asarray(p0, float), matrix_to_rpy(rel)])
