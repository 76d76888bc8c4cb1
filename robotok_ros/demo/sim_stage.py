"""
The sim stage of `robotok demo`: a pick's tokens drive the MuJoCo arm through token_decoder.

A scripted operator picks the cube in an in-process SimArm; what it commands at
each control step becomes an action row (delta = twist x period / scale, and the
gripper in action units), which is tokenized (uniform bins, an odd count so a zero
delta decodes to exactly zero) and replayed by policy_replay -> token_decoder ->
sim_arm, every node in its own process on sim_arm's clock, from the same seed.
Printed: the tracking error of the end effector against the path the decoder's
twists command, and the task result (grasped, lifted); a PNG shows commanded vs
achieved path, and where MuJoCo renders offscreen (``sim/render.py``, probed in child
processes) a strip of frames of the joint trajectory sim_arm achieved (its joint_states).
"""

import json
import os
from pathlib import Path
import random
import tempfile
import time

import numpy as np
from robotok_ros.demo.processes import start_node, stop_nodes
from robotok_ros.demo.replay_nodes import write_replay_file
from robotok_ros.profile_loader import load_profile
from robotok_ros.tokenizers import make_tokenizer

N_BINS = 255  # odd: a zero delta is a bin centre, so holding still does not drift


class _Recorder:
    """Wrap a SimArm: keep the command of each control step as one action row."""

    def __init__(self, sim):
        self.sim, self.rows = sim, []
        profile = sim.profile
        self._scales = np.array([d.scale for d in profile.dimensions])
        self._twist = np.zeros(6)
        grip = profile.gripper
        self._grip = grip.open_value if grip else 0.0

    def __getattr__(self, name):
        return getattr(self.sim, name)

    def command_twist(self, linear, angular, frame_id, stamp_s):
        self._twist = np.concatenate([linear, angular]).astype(np.float64)
        return self.sim.command_twist(linear, angular, frame_id, stamp_s)

    def command_gripper(self, value):
        g = self.sim.profile.gripper
        frac = (value - g.command_closed) / (g.command_open - g.command_closed)
        self._grip = g.closed_value + frac * (g.open_value - g.closed_value)
        return self.sim.command_gripper(value)

    def step(self, dt_s):
        profile = self.sim.profile
        row = np.zeros(profile.dim)
        for i, name in enumerate(('dx', 'dy', 'dz', 'droll', 'dpitch', 'dyaw')):
            k = profile.index(name)
            if k is not None:
                row[k] = self._twist[i] * dt_s / self._scales[k]
        if profile.gripper_index is not None:
            row[profile.gripper_index] = self._grip
        self.rows.append(row)
        self._twist = np.zeros(6)
        return self.sim.step(dt_s)


def record_scripted_pick(profile, seed=0):
    """Return (actions (T, D), lifted) of the scripted pick in an in-process SimArm."""
    from robotok_ros.sim import SimArm
    from robotok_ros.sim.scripted import scripted_pick
    rec = _Recorder(SimArm(profile, seed=seed))
    rec.sim.start()
    state = scripted_pick(rec)
    return np.array(rec.rows), bool(state.lifted)


def commanded_path(twists, times, timeout=0.1):
    """Integrate twists ``[(stamp, vx, vy, vz)]`` (each held until the next or ``timeout``)."""
    tw = sorted(twists)
    out = np.zeros((len(times), 3))
    for k, t in enumerate(times):
        for i, (t0, *v) in enumerate(tw):
            if t0 >= t:
                break
            t1 = min(tw[i + 1][0] if i + 1 < len(tw) else np.inf, t0 + timeout, t)
            out[k] += np.array(v) * (t1 - t0)
    return out


class _Watcher:
    """The stage's own node: records sim_arm's pose and task state and the decoder's twists."""

    def __init__(self):
        import rclpy
        from geometry_msgs.msg import PoseStamped, TwistStamped
        from sensor_msgs.msg import JointState
        from std_msgs.msg import String
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.rclpy = rclpy
        self.node = rclpy.create_node('robotok_sim_demo', context=self.context)
        self.poses, self.twists, self.task, self.joints, self.cubes = [], [], {}, [], []
        self.node.create_subscription(JointState, '/joint_states', self._joints, 100)
        self.node.create_subscription(PoseStamped, '/robotok/ee_pose', self._pose, 100)
        self.node.create_subscription(TwistStamped, '/servo_node/delta_twist_cmds',
                                      self._twist, 100)
        self.node.create_subscription(String, '/sim_arm/task_state', self._task, 10)
        from rclpy.executors import SingleThreadedExecutor
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def _pose(self, m):
        s, p = m.header.stamp, m.pose.position
        self.poses.append((s.sec + s.nanosec * 1e-9, p.x, p.y, p.z))

    def _twist(self, m):
        s, v = m.header.stamp, m.twist.linear
        self.twists.append((s.sec + s.nanosec * 1e-9, v.x, v.y, v.z))

    def _joints(self, m):
        s = m.header.stamp
        self.joints.append((s.sec + s.nanosec * 1e-9, tuple(m.name), tuple(m.position)))

    def _task(self, m):
        self.task = json.loads(m.data)
        self.cubes.append((self.task['sim_time'], self.task['cube']))

    def spin_until(self, condition, timeout, procs=()):
        end = time.monotonic() + timeout
        while not condition() and time.monotonic() < end:
            if any(p.poll() not in (None, 0) for p in procs):
                return False
            self.executor.spin_once(timeout_sec=0.02)
        return condition()

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()
        self.rclpy.try_shutdown(context=self.context)


def replay_in_sim(profile, actions, seed, folder, log, real_time_factor=1.0, states=None):
    """
    Replay ``actions`` as tokens into sim_arm; return (task state, twists, poses).

    A ``states`` dict gets sim_arm's joint states and cube positions, for rendering.
    """
    tok = make_tokenizer('uniform', profile, n_bins=N_BINS)
    ids = tok.encode(actions)
    write_replay_file(folder / 'pick_tokens.json', ids, actions, profile.control_rate_hz)
    watch = _Watcher()
    procs = [start_node('sim_arm', {'robot': profile.source or profile.name, 'seed': seed,
                                    'auto_start': True, 'real_time_factor': real_time_factor},
                        log)]
    try:
        procs.append(start_node('token_decoder', {
            'robot': profile.source or profile.name, 'n_bins': N_BINS, 'use_sim_time': True,
            'start_enabled': True}, log))
        if not watch.spin_until(lambda: watch.poses and watch.node.count_subscribers(
                '/robotok/action_tokens'), 60, procs):
            raise RuntimeError('sim_arm / token_decoder did not come up')
        procs.append(start_node('policy_replay', {
            'tokens_file': str(folder / 'pick_tokens.json'), 'use_sim_time': True}, log))
        seconds = len(ids) / profile.control_rate_hz
        watch.spin_until(lambda: procs[2].poll() is not None, 3 * seconds / real_time_factor
                         + 60, procs[:2])
        end = (watch.task.get('sim_time') or 0.0) + 1.0
        watch.spin_until(lambda: watch.task.get('sim_time', 0.0) >= end, 30, procs[:2])
        if states is not None:
            states.update(joints=list(watch.joints), cubes=list(watch.cubes))
        return dict(watch.task), list(watch.twists), np.array(watch.poses)
    finally:
        stop_nodes(procs)
        watch.close()


def tracking(twists, poses):
    """Return per-sample error (m) of the achieved TCP path against the commanded one."""
    moving = [t for t in twists if any(t[1:])]
    if not moving or not len(poses):
        return np.zeros(1), poses[:, 1:] if len(poses) else np.zeros((0, 3)), np.zeros((0, 3))
    keep = poses[:, 0] >= moving[0][0]
    times, achieved = poses[keep, 0], poses[keep, 1:] - poses[keep][0, 1:]
    # Every twist, zeros too: a zero ends the twist before it (not Servo's timeout).
    commanded = commanded_path([t for t in twists if t[0] >= moving[0][0]], times)
    return np.linalg.norm(achieved - commanded, axis=1), achieved, commanded


def plot_paths(achieved, commanded, path):
    """Write a PNG: commanded vs achieved TCP path (x-z and y-z views)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, (i, name) in zip(axes, ((0, 'x'), (1, 'y'))):
        ax.plot(commanded[:, i] * 1000, commanded[:, 2] * 1000, label='commanded (twists)')
        ax.plot(achieved[:, i] * 1000, achieved[:, 2] * 1000, '--', label='achieved (MuJoCo)')
        ax.set_xlabel(f'{name} [mm]')
        ax.set_ylabel('z [mm]')
        ax.set_aspect('equal', adjustable='datalim')
    axes[0].legend(loc='best', fontsize=8)
    fig.suptitle('TCP path from the start of the replay')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_frames(profile, seed, twists, states, path, n=6):
    """Render n frames of sim_arm's achieved joint trajectory as a strip; return a line."""
    from robotok_ros.sim import render
    backend, reasons = render.probe_backend()
    if backend is None:
        return render.cannot_render_message(reasons)
    joints, cubes = states.get('joints'), states.get('cubes')
    if not joints or not cubes:
        return 'rendered frames: not written, sim_arm sent no joint states or task states'
    times, cube_times = np.array([j[0] for j in joints]), np.array([c[0] for c in cubes])
    moving = [t[0] for t in twists if any(t[1:])]
    at = np.linspace(moving[0] if moving else times[0], times[-1], n)
    rows = [joints[i][2] for i in np.searchsorted(times, at).clip(0, len(times) - 1)]
    where = [cubes[i][1] for i in np.searchsorted(cube_times, at).clip(0, len(cubes) - 1)]
    what = (f"sim_arm's achieved joint trajectory (/joint_states, cube from task_state) at "
            f"sim time {', '.join(f'{t:.1f}' for t in at)} s")
    error = render.render_in_child(backend, path, profile.source or profile.name, seed,
                                   joints[0][1], rows, where, title=what)
    if error:
        return f'rendered frames: not written, the renderer (MUJOCO_GL={backend}) failed: {error}'
    return f'wrote {path} ({n} frames, MUJOCO_GL={backend}): {what}'


def run(args):
    """Record a scripted pick, replay its tokens into sim_arm, print tracking and the task."""
    try:
        import mujoco  # noqa: F401 - only to say plainly when the physics is missing
    except ImportError:
        print('== 4. sim stage skipped: mujoco is not installed')
        return 0
    profile = load_profile('franka_panda')
    seed = getattr(args, 'seed', 0)
    os.environ.setdefault('ROS_DOMAIN_ID', str(random.SystemRandom().randint(103, 200)))
    folder = Path(tempfile.mkdtemp(prefix='robotok_sim_demo_'))
    print(f'== 4. sim stage: scripted pick -> tokens ({N_BINS} uniform bins) -> policy_replay'
          f' -> token_decoder -> sim_arm (MuJoCo, {profile.name}, seed {seed})')
    actions, lifted_direct = record_scripted_pick(profile, seed)
    print(f'   recorded {len(actions)} steps at {profile.control_rate_hz:g} Hz; the scripted '
          f'operator itself lifted the cube: {lifted_direct}')
    with open(folder / 'nodes.log', 'w') as log:
        states = {}
        task, twists, poses = replay_in_sim(profile, actions, seed, folder, log, states=states)
    err, achieved, commanded = tracking(twists, poses)
    print(f'   tracking: mean {err.mean() * 1000:.2f} mm, max {err.max() * 1000:.2f} mm over '
          f'{len(err)} pose samples')
    print(f'   task: grasped {task.get("grasped")}, lifted {task.get("lifted")} (cube at '
          f'{np.round(task.get("cube", [0, 0, 0]), 3).tolist()} m)')
    if len(achieved):
        plot_paths(achieved, commanded, folder / 'sim_paths.png')
        print(f'   wrote {folder / "sim_paths.png"} (commanded vs achieved TCP path)')
    print('   ' + write_frames(profile, seed, twists, states, folder / 'sim_frames.png'))
    return 0 if task.get('lifted') else 1
