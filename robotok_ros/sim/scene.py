"""
Compose the simulated scene with MuJoCo's MjSpec: floor, table, arm + hand, cube, TCP site.

The arm and hand files are robosuite's (see ``models.py``). Their actuators are replaced by
what ros2_control in front of a real arm amounts to: a joint velocity command integrated
into a position reference that a stiff joint servo tracks, with velocity feed-forward, the
maker's torque limits and gravity compensated (Franka and UR controllers compensate gravity
themselves). Per joint that is two MuJoCo actuators fed the same velocity command:

- integrator dynamics (``act`` = the position reference, clamped to the joint range) and
  force ``kp (act - q)``;
- a velocity actuator, force ``kv (qdot_ref - qdot)``;

their sum clamped to the torque limit with the joint's ``actfrcrange``. Gains are set per
joint from the arm's inertia at home so every joint has the same bandwidth.

Scene numbers (table, cube, friction) are this module's choices, not measured objects.
"""

import os
import xml.etree.ElementTree as ET

import numpy as np
from robotok_ros.sim.models import assets_dir

TABLE_TOP = 0.8          # m above the floor, robosuite's default table height
TABLE_HALF = (0.45, 0.6, 0.025)
TABLE_CENTRE_X = 0.35    # m in front of the robot base
CUBE_HALF = 0.0225       # a 4.5 cm cube: fits the 8 cm hand with room to spare
CUBE_MASS = 0.1          # kg
# Rubber-on-wood sliding friction is about 1; the finger pads' 2.0 is robosuite's.
CUBE_FRICTION = (1.0, 0.01, 0.001)
SERVO_BANDWIDTH_HZ = 15.0
SERVO_DAMPING_RATIO = 1.0


def _load(path, visual):
    """Read one robosuite MJCF without its actuators and sensors, mesh paths made absolute."""
    import mujoco

    root = ET.parse(path).getroot()
    base = os.path.dirname(path)
    for tag in ('actuator', 'sensor', 'tendon', 'contact', 'equality'):
        for el in root.findall(tag):
            root.remove(el)
    asset = root.find('asset')
    seen = set()
    for el in list(asset if asset is not None else []):
        if el.get('file'):
            el.set('file', os.path.join(base, el.get('file')))
        if el.tag == 'mesh':
            # A name given twice would stop the compiler; the first mesh (collision) is kept.
            if el.get('name') in seen:
                asset.remove(el)
            seen.add(el.get('name'))
    spec = mujoco.MjSpec.from_string(ET.tostring(root, encoding='unicode'))
    if not visual:
        # Visual-only meshes cost most of the first compile (OBJ parsing) and change nothing
        # in the physics: the arms' bodies carry explicit inertials.
        for geom in list(spec.geoms):
            if geom.contype == 0 and geom.conaffinity == 0:
                spec.delete(geom)
        used = {g.meshname for g in spec.geoms}
        for mesh in list(spec.meshes):
            if mesh.name not in used:
                spec.delete(mesh)
    return spec


def build_scene(robot, physics_hz, visual=True):
    """
    Return (MjModel, names) for ``robot`` (a models.RobotSpec) stepping at ``physics_hz``.

    ``names`` maps roles to element names in the model: base, ee_site, cube, arm_joints,
    finger_joints, finger_bodies (two tuples), arm_actuators (pairs), finger_actuators.
    """
    import mujoco

    arm, grip = robot.arm, robot.gripper
    root = assets_dir()
    arm_spec = _load(os.path.join(root, arm.xml), visual)
    grip_spec = _load(os.path.join(root, grip.xml), visual)
    for part in (arm_spec, grip_spec):
        # Franka and UR controllers compensate gravity themselves; so does this servo.
        for body in part.bodies:
            if body.name != 'world':
                body.gravcomp = 1.0
    if robot.arm_prefix:
        spec = mujoco.MjSpec()
        mount = spec.worldbody.add_frame(pos=[0, 0, TABLE_TOP])
        mount.attach_body(arm_spec.body('base'), robot.arm_prefix, '')
    else:
        # Unprefixed names (ur_description's): the arm's own file is the scene, because
        # MuJoCo 4 warns on attaching with an empty prefix.
        spec = arm_spec
        spec.body('base').pos = [0, 0, TABLE_TOP]
    spec.modelname = f'robotok_sim_{robot.arm_prefix or "ur5e_"}arm'
    spec.option.timestep = 1.0 / physics_hz
    # implicitfast integrates the servo's damping implicitly, so stiff gains stay stable.
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    # Elliptic cones with impratio 10 are what MuJoCo's docs advise against grasp slip.
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.option.impratio = 10.0
    world = spec.worldbody
    world.add_light(pos=[0.5, 0.0, 3.0], dir=[0.0, 0.0, -1.0])
    world.add_geom(name='floor', type=mujoco.mjtGeom.mjGEOM_PLANE, size=[3, 3, 0.1],
                   rgba=[0.8, 0.8, 0.8, 1])
    table = world.add_body(name='table', pos=[TABLE_CENTRE_X, 0, TABLE_TOP - TABLE_HALF[2]])
    table.add_geom(name='table_top', type=mujoco.mjtGeom.mjGEOM_BOX, size=list(TABLE_HALF),
                   rgba=[0.55, 0.4, 0.3, 1], friction=[1.0, 0.005, 0.0001])
    flange = spec.body(robot.arm_prefix + arm.flange_body)
    flange.add_frame().attach_body(grip_spec.body(grip.root_body), robot.gripper_prefix, '')
    if spec.site(robot.ee_frame) is None:
        flange.add_site(name=robot.ee_frame, pos=[0, 0, grip.tcp_offset], size=[0.005] * 3,
                        rgba=[1, 0, 0, 0.5], group=3)
    # else the hand file names the TCP itself (robosuite's grip_site): it is used as it is.
    cube = world.add_body(name='cube', pos=[0.5, 0, TABLE_TOP + CUBE_HALF])
    cube.add_freejoint(name='cube_joint')
    cube.add_geom(name='cube_geom', type=mujoco.mjtGeom.mjGEOM_BOX, size=[CUBE_HALF] * 3,
                  mass=CUBE_MASS, friction=list(CUBE_FRICTION), condim=4,
                  rgba=[0.8, 0.1, 0.1, 1])
    names = {
        'base': robot.arm_prefix + arm.base_body,
        'ee_site': robot.ee_frame,
        'cube': 'cube',
        'arm_joints': tuple(robot.arm_prefix + j for j in arm.joints),
        'finger_joints': tuple(robot.gripper_prefix + j for j, _ in grip.fingers),
        'finger_bodies': tuple(tuple(robot.gripper_prefix + b for b in bodies)
                               for bodies in grip.finger_bodies),
    }
    arm_act = _add_arm_actuators(spec, names['arm_joints'], arm)
    finger_act = []
    for (joint, sign), name in zip(grip.fingers, names['finger_joints']):
        act = spec.add_actuator(name=name + '_pos', target=name,
                                trntype=mujoco.mjtTrn.mjTRN_JOINT)
        act.set_to_position(kp=grip.kp)
        act.forcelimited = True
        act.forcerange = [-grip.max_force, grip.max_force]
        finger_act.append(act.name)
    names['arm_actuators'] = tuple(arm_act)
    names['finger_actuators'] = tuple(finger_act)
    model = spec.compile()
    _tune_gains(model, names, arm)
    return model, names


def _add_arm_actuators(spec, joints, arm):
    import mujoco

    pairs = []
    for joint, vmax, tmax in zip(joints, arm.velocity_limits, arm.torque_limits):
        jnt = spec.joint(joint)
        jnt.armature = arm.armature
        jnt.actfrclimited = True
        jnt.actfrcrange = [-tmax, tmax]
        ref = spec.add_actuator(name=joint + '_ref', target=joint,
                                trntype=mujoco.mjtTrn.mjTRN_JOINT)
        ref.dyntype = mujoco.mjtDyn.mjDYN_INTEGRATOR
        ref.gaintype = mujoco.mjtGain.mjGAIN_FIXED
        ref.biastype = mujoco.mjtBias.mjBIAS_AFFINE
        ref.actlimited = True
        ref.actrange = list(jnt.range)
        ref.ctrllimited = True
        ref.ctrlrange = [-vmax, vmax]
        vel = spec.add_actuator(name=joint + '_vel', target=joint,
                                trntype=mujoco.mjtTrn.mjTRN_JOINT)
        vel.gaintype = mujoco.mjtGain.mjGAIN_FIXED
        vel.biastype = mujoco.mjtBias.mjBIAS_AFFINE
        vel.ctrllimited = True
        vel.ctrlrange = [-vmax, vmax]
        pairs.append((ref.name, vel.name))
    return pairs


def _tune_gains(model, names, arm):
    """Set kp = m w^2 and kv = 2 zeta m w from each joint's inertia m at the home pose."""
    import mujoco

    data = mujoco.MjData(model)
    qadr = [model.joint(j).qposadr[0] for j in names['arm_joints']]
    data.qpos[qadr] = arm.home
    mujoco.mj_forward(model, data)
    # M e_i through mj_mulM: MjData's inertia storage differs between MuJoCo 3 and 4.
    unit, column = np.zeros(model.nv), np.zeros(model.nv)
    omega = 2.0 * np.pi * SERVO_BANDWIDTH_HZ
    for joint, (ref, vel) in zip(names['arm_joints'], names['arm_actuators']):
        dof = model.joint(joint).dofadr[0]
        unit[:] = 0.0
        unit[dof] = 1.0
        mujoco.mj_mulM(model, data, column, unit)
        inertia = column[dof]
        kp = inertia * omega ** 2
        kv = 2.0 * SERVO_DAMPING_RATIO * omega * inertia
        a = model.actuator(ref).id
        model.actuator_gainprm[a, 0] = kp
        model.actuator_biasprm[a, :3] = (0.0, -kp, 0.0)
        b = model.actuator(vel).id
        model.actuator_gainprm[b, 0] = kv
        model.actuator_biasprm[b, :3] = (0.0, 0.0, -kv)
