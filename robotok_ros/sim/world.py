"""
The MuJoCo side of SimArm: model + data, index bookkeeping, kinematics in the base frame.

Everything here works on arrays; SimArm (``arm.py``) holds the Servo logic and the
message-level checks. A second MjData (``scratch``) serves the Jacobian at arbitrary joint
positions, so Servo's singularity probe never touches the simulated state.
"""

import math

import numpy as np
from robotok_ros.sim.models import robot_spec
from robotok_ros.sim.scene import build_scene, CUBE_HALF, TABLE_TOP


def _mat_to_quat_xyzw(mat):
    import mujoco

    wxyz = np.empty(4)
    mujoco.mju_mat2Quat(wxyz, np.ascontiguousarray(mat).reshape(9))
    return np.array([wxyz[1], wxyz[2], wxyz[3], wxyz[0]])


class World:
    """Model, data and fast accessors for one simulated robot (see models.ROBOTS)."""

    def __init__(self, model_name, physics_hz, visual=True):
        import mujoco

        self._mj = mujoco
        self.robot = robot_spec(model_name)
        self.model, self.names = build_scene(self.robot, physics_hz, visual)
        m = self.model
        self.data = mujoco.MjData(m)
        self.scratch = mujoco.MjData(m)
        self.ee_frame = self.robot.ee_frame
        self.arm_joints = self.names['arm_joints']
        self.n_arm = len(self.arm_joints)
        self.qadr = np.array([m.joint(j).qposadr[0] for j in self.arm_joints])
        self.dadr = np.array([m.joint(j).dofadr[0] for j in self.arm_joints])
        self.finger_qadr = np.array([m.joint(j).qposadr[0] for j in self.names['finger_joints']])
        self.finger_dadr = np.array([m.joint(j).dofadr[0] for j in self.names['finger_joints']])
        self.finger_sign = np.array([s for _, s in self.robot.gripper.fingers])
        self.lower = m.jnt_range[[m.joint(j).id for j in self.arm_joints], 0].copy()
        self.upper = m.jnt_range[[m.joint(j).id for j in self.arm_joints], 1].copy()
        self.vmax = np.array(self.robot.arm.velocity_limits)
        self.ref_ids = np.array([m.actuator(a).id for a, _ in self.names['arm_actuators']])
        self.vel_ids = np.array([m.actuator(b).id for _, b in self.names['arm_actuators']])
        self.act_adr = m.actuator_actadr[self.ref_ids]
        self.finger_ids = np.array([m.actuator(a).id for a in self.names['finger_actuators']])
        self.site = m.site(self.names['ee_site']).id
        self.base = m.body(self.names['base']).id
        cube = m.body(self.names['cube'])
        self.cube_qadr = m.jnt_qposadr[cube.jntadr[0]]
        self.cube_dadr = m.jnt_dofadr[cube.jntadr[0]]
        self.cube_body = cube.id
        self.cube_geom = m.geom('cube_geom').id
        self.finger_geoms = []
        for bodies in self.names['finger_bodies']:
            ids = {m.body(b).id for b in bodies}
            self.finger_geoms.append(np.array([g for g in range(m.ngeom)
                                               if m.geom_bodyid[g] in ids]))
        self.joint_names = self.arm_joints + self.names['finger_joints']
        self._jacp = np.zeros((3, m.nv))
        self._jacr = np.zeros((3, m.nv))
        # The arm is attached first, so its dofs are normally 0..n-1: a slice is cheaper.
        self._cols = self.dadr
        if (self.dadr == np.arange(self.dadr[0], self.dadr[0] + self.n_arm)).all():
            self._cols = slice(int(self.dadr[0]), int(self.dadr[0]) + self.n_arm)
        bad = (mujoco.mjtWarning.mjWARN_BADQPOS, mujoco.mjtWarning.mjWARN_BADQVEL,
               mujoco.mjtWarning.mjWARN_BADQACC)
        self._bad = np.array([int(w) for w in bad])
        self._warning_list = self.data.warning
        mujoco.mj_forward(m, self.data)
        # The base is fixed: its pose is read once.
        self.base_pos = self.data.xpos[self.base].copy()
        self.base_rot = self.data.xmat[self.base].reshape(3, 3).copy()
        self._base_turned = not np.allclose(self.base_rot, np.eye(3))

    # -- reset and commands ----------------------------------------------------------------
    def reset(self, cube_offset):
        """Home pose, hand open, cube at the arm's cube spot plus ``cube_offset`` (x, y) m."""
        mj, m, d = self._mj, self.model, self.data
        mj.mj_resetData(m, d)
        d.qpos[self.qadr] = self.robot.arm.home
        d.act[self.act_adr] = self.robot.arm.home
        self.set_opening(1.0)
        d.qpos[self.finger_qadr] = d.ctrl[self.finger_ids]
        spot = self.base_pos + self.base_rot @ np.array([*self.robot.arm.cube_xy, 0.0])
        cube = self.cube_qadr
        d.qpos[cube:cube + 3] = (spot[0] + cube_offset[0], spot[1] + cube_offset[1],
                                 TABLE_TOP + CUBE_HALF)
        d.qpos[cube + 3:cube + 7] = (1.0, 0.0, 0.0, 0.0)
        mj.mj_forward(m, d)
        self._warn_count = self._warning_total()

    def set_opening(self, frac):
        """Command the hand to ``frac`` (0 closed .. 1 open) of its stroke."""
        half = 0.5 * frac * self.robot.gripper.stroke
        self.data.ctrl[self.finger_ids] = self.finger_sign * half

    def hold_here(self):
        """Move the position reference to the measured joint positions (no jump on start)."""
        self.data.act[self.act_adr] = self.data.qpos[self.qadr]
        self.command_velocity(np.zeros(self.n_arm))

    def command_velocity(self, velocity):
        """Feed a joint velocity command to both halves of each joint servo."""
        self.data.ctrl[self.ref_ids] = velocity
        self.data.ctrl[self.vel_ids] = velocity

    def _warning_total(self):
        return int(self._warning_list.number[self._bad].sum())

    def finite(self):
        """Tell whether positions, velocities and servo references are all finite."""
        d = self.data
        # One sum per array: NaN or inf anywhere makes the sum non-finite.
        return math.isfinite(d.qpos.sum() + d.qvel.sum() + d.act.sum())

    def advance(self, nstep):
        """Step the physics nstep times; False when the state is (or became) non-finite."""
        if not self.finite():
            return False
        self._mj.mj_step(self.model, self.data, nstep)
        # MuJoCo resets a diverging state by itself and only counts a warning: that reset
        # would put the arm at qpos0 silently, so it is treated as a blow-up too.
        return self._warning_total() == self._warn_count and self.finite()

    # -- kinematics ------------------------------------------------------------------------
    def arm_positions(self):
        """Measured arm joint positions (n,)."""
        return self.data.qpos[self.qadr].copy()

    def jacobian(self, q):
        """Return the TCP's 6 x n Jacobian in the base frame at arm positions q."""
        mj, m, s = self._mj, self.model, self.scratch
        # Only the arm joints move the TCP site (it sits on the flange).
        s.qpos[self.qadr] = q
        mj.mj_kinematics(m, s)
        mj.mj_comPos(m, s)
        mj.mj_jacSite(m, s, self._jacp, self._jacr, self.site)
        jac = np.empty((6, self.n_arm))
        jac[:3] = self._jacp[:, self._cols]
        jac[3:] = self._jacr[:, self._cols]
        if self._base_turned:
            rt = self.base_rot.T
            jac[:3], jac[3:] = rt @ jac[:3], rt @ jac[3:]
        return jac

    def ee_rotation(self):
        """Rotation of the TCP frame in the base frame (3, 3), at the current state."""
        return self.base_rot.T @ self.data.site_xmat[self.site].reshape(3, 3)

    def ee_pose(self):
        """Return (position (3,), quaternion xyzw) of the TCP in the base frame."""
        d = self.data
        pos = self.base_rot.T @ (d.site_xpos[self.site] - self.base_pos)
        return pos, _mat_to_quat_xyzw(self.ee_rotation())

    def cube_pose(self):
        """Return (position, quaternion xyzw) of the cube in the base frame."""
        d = self.data
        pos = self.base_rot.T @ (d.xpos[self.cube_body] - self.base_pos)
        rot = self.base_rot.T @ d.xmat[self.cube_body].reshape(3, 3)
        return pos, _mat_to_quat_xyzw(rot)

    def cube_grasped(self):
        """Tell whether both fingers touch the cube."""
        d = self.data
        if d.ncon == 0:
            return False
        pairs = d.contact.geom[:d.ncon]
        other = np.where(pairs[:, 0] == self.cube_geom, pairs[:, 1],
                         np.where(pairs[:, 1] == self.cube_geom, pairs[:, 0], -1))
        return all(np.isin(other, geoms).any() for geoms in self.finger_geoms)

    def joint_state(self):
        """Return (names, positions, velocities) of arm and finger joints."""
        d = self.data
        qadr = np.concatenate([self.qadr, self.finger_qadr])
        dadr = np.concatenate([self.dadr, self.finger_dadr])
        return self.joint_names, d.qpos[qadr].copy(), d.qvel[dadr].copy()
