"""
Tokens -> token_decoder -> sim_arm, in physics: tracking error, latency and real-time factor.

Two runs, each with sim_arm (MuJoCo, real time) and token_decoder on its clock:
the robot profile's own control rate, and the same profile at 100 Hz (its action
units rescaled so the same speeds span the same bins).  A
smooth demonstration (a circle in x/y at about 5 cm/s) is tokenized and
published one step per control period.  Tracking compares the end effector's
path with the path the decoder's twists command (integrated in simulated time,
each held until the next one or Servo's timeout); latency is the wall time from
a token message to the first joint state that moves, from rest, over a few
trials.  The last line is one JSON object with ``tracking_mm_mean``,
``tracking_mm_max``, ``rtf`` and ``latency_ms_p50`` (profile-rate run), and the
figures of both runs.
"""

import argparse
from dataclasses import replace
import json
import os
from pathlib import Path
import sys
import tempfile
import time

import numpy as np
from robotok_ros.demo.processes import start_node, stop_nodes
from robotok_ros.profile_loader import load_profile, save_profile


def circle_steps(profile, seconds, speed=0.05, radius=0.03):
    """Return (T, D) per-step actions: a circle in x/y of ``radius`` m at ``speed`` m/s."""
    rate = profile.control_rate_hz
    t = np.arange(int(seconds * rate)) / rate
    w = speed / radius
    vel = np.stack([-np.sin(w * t), np.cos(w * t)], axis=1) * speed
    steps = np.zeros((len(t), profile.dim))
    for axis, name in enumerate(('dx', 'dy')):
        i = profile.index(name)
        steps[:, i] = vel[:, axis] / rate / profile.dimensions[i].scale
    return steps


class Probe:
    """The bench's rclpy node: publishes tokens, records clock, pose, joints and twists."""

    def __init__(self):
        import rclpy
        from geometry_msgs.msg import PoseStamped, TwistStamped
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import JointState
        from std_msgs.msg import Int32MultiArray
        rclpy.init()
        self.rclpy, self.node = rclpy, rclpy.create_node('sim_loop_bench')
        self.pub = self.node.create_publisher(Int32MultiArray, '/robotok/action_tokens', 10)
        self.msg_type = Int32MultiArray
        self.clock, self.poses, self.joints, self.twists = [0.0], [], [], []
        self.node.create_subscription(Clock, '/clock', lambda m: self.clock.append(
            m.clock.sec + m.clock.nanosec * 1e-9), 10)
        self.node.create_subscription(PoseStamped, '/robotok/ee_pose', self._pose, 100)
        self.node.create_subscription(JointState, '/joint_states', self._joints, 100)
        self.node.create_subscription(TwistStamped, '/servo_node/delta_twist_cmds',
                                      self._twist, 100)

    def _pose(self, m):
        p = m.pose.position
        self.poses.append((m.header.stamp.sec + m.header.stamp.nanosec * 1e-9, p.x, p.y, p.z))

    def _joints(self, m):
        self.joints.append((time.perf_counter(), float(np.abs(m.velocity).max())))

    def _twist(self, m):
        s, v = m.header.stamp, m.twist.linear
        self.twists.append((s.sec + s.nanosec * 1e-9, v.x, v.y, v.z))

    def spin_until(self, condition, timeout):
        end = time.monotonic() + timeout
        while not condition() and time.monotonic() < end:
            self.rclpy.spin_once(self.node, timeout_sec=0.005)
        return condition()

    def send(self, ids):
        self.pub.publish(self.msg_type(data=[int(i) for i in ids]))

    def close(self):
        self.node.destroy_node()
        self.rclpy.try_shutdown()


def commanded_path(twists, times, timeout=0.1):
    """Integrate piecewise-constant twists (held until the next or ``timeout``) at ``times``."""
    tw = np.array(sorted(twists))
    out = np.zeros((len(times), 3))
    for k, t in enumerate(times):
        pos = np.zeros(3)
        for i, (t0, *v) in enumerate(tw):
            if t0 >= t:
                break
            t1 = min(tw[i + 1][0] if i + 1 < len(tw) else np.inf, t0 + timeout, t)
            pos += np.array(v) * (t1 - t0)
        out[k] = pos
    return out


def run(profile_path, profile, seconds, log):
    """One run at the profile's rate; return its figures."""
    from robotok_ros.tokenizers import make_tokenizer
    probe = Probe()
    procs = [start_node('sim_arm', {'robot': str(profile_path), 'auto_start': True}, log),
             start_node('token_decoder', {'profile_path': str(profile_path),
                                          'use_sim_time': True, 'start_enabled': True}, log)]
    try:
        node = probe.node
        if not probe.spin_until(lambda: probe.poses and node.count_subscribers(
                '/robotok/action_tokens') >= 1, 60):
            raise SystemExit('sim_arm / token_decoder did not come up; see the log')
        tok = make_tokenizer('uniform', profile)
        ids = tok.encode(circle_steps(profile, seconds))
        period, latencies = 1.0 / profile.control_rate_hz, []
        for _ in range(5):  # latency from rest: one step, then wait for the arm to settle
            probe.spin_until(lambda: probe.joints and probe.joints[-1][1] < 1e-3, 5)
            sent = time.perf_counter()
            probe.send(ids[0])
            probe.spin_until(lambda: probe.joints[-1][0] > sent and probe.joints[-1][1] > 1e-3,
                             5)
            moved = [t for t, v in probe.joints if t > sent and v > 1e-3]
            if moved:
                latencies.append(moved[0] - sent)
            probe.spin_until(lambda: False, 0.5)
        probe.twists.clear()
        wall0, sim0 = time.perf_counter(), probe.clock[-1]
        n0 = len(probe.poses)
        for row in ids:  # one step per control period of simulated time
            due = probe.clock[-1] + period
            probe.send(row)
            probe.spin_until(lambda: probe.clock[-1] >= due, 5)
        probe.spin_until(lambda: False, 0.5)
        rtf = (probe.clock[-1] - sim0) / (time.perf_counter() - wall0)
        poses = np.array(probe.poses[n0:])
        twists = [t for t in probe.twists if any(t[1:])]
        t_start = twists[0][0]
        keep = poses[:, 0] >= t_start
        times, actual = poses[keep, 0], poses[keep, 1:] - poses[keep][0, 1:]
        err = np.linalg.norm(actual - commanded_path(twists, times), axis=1) * 1000
    finally:
        stop_nodes(procs)
        probe.close()
    return {'rate_hz': profile.control_rate_hz, 'steps': len(ids),
            'tracking_mm_mean': float(err.mean()), 'tracking_mm_max': float(err.max()),
            'rtf': float(rtf), 'latency_ms_p50': float(np.median(latencies) * 1000),
            'latency_trials': len(latencies)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--robot', default='franka_panda')
    parser.add_argument('--seconds', type=float, default=4.0, help='length of each run')
    args = parser.parse_args()
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    # 101 is decoder_latency's; the fuzz bench picks a free one.
    os.environ.setdefault('ROS_DOMAIN_ID', '104')
    base = load_profile(args.robot)
    folder = Path(tempfile.mkdtemp(prefix='robotok_sim_loop_'))
    results = {}
    with open(folder / 'nodes.log', 'w') as log:
        for label, rate in (('profile_rate', base.control_rate_hz), ('100hz', 100.0)):
            # The same speed range at the new rate: each action unit is rate-scaled, so the
            # bins keep their resolution in m/s (the 15 Hz units would waste 6/7 of them).
            dims = tuple(replace(d, scale=d.scale * base.control_rate_hz / rate)
                         if d.name != base.gripper_name else d for d in base.dimensions)
            profile = replace(base, control_rate_hz=rate, dimensions=dims, source='')
            path = folder / f'{label}.yaml'
            save_profile(profile, path)
            results[label] = run(path, load_profile(path), args.seconds, log)
            r = results[label]
            print(f'{label} ({rate:g} Hz): tracking mean {r["tracking_mm_mean"]:.2f} mm, max '
                  f'{r["tracking_mm_max"]:.2f} mm; latency p50 {r["latency_ms_p50"]:.1f} ms; '
                  f'real-time factor {r["rtf"]:.2f}', flush=True)
    first = results['profile_rate']
    print(json.dumps({k: first[k] for k in ('tracking_mm_mean', 'tracking_mm_max', 'rtf',
                                            'latency_ms_p50')} | {'runs': results}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
