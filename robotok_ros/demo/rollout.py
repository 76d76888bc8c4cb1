"""
Roll a trained token policy out in sim_arm through the real nodes, and measure it.

sim_arm, token_decoder and token_policy each run in their own process on sim_arm's
clock: the policy reads the state sim_arm publishes, sends tokens, the decoder turns
them into Servo twists and gripper commands, and MuJoCo moves the arm.  Per rollout
the scene is reset to the next cube spot of the seeded sequence (seeds apart from the
training data's) and the policy is reset; a rollout succeeds when the cube stays
lifted (sim_arm's ``lifted``) for ``HOLD_S``, and ends after ``max_seconds`` of
simulated time otherwise.  Measured per rollout: success, time, tokens per second,
the TCP's tracking error against the path the decoder's twists command, and the
policy's own time per step (token_policy's diagnostics).
"""

import json
from pathlib import Path

import numpy as np
from robotok_ros.demo.collect import _Client, STATE_TOPICS
from robotok_ros.demo.processes import start_node, stop_nodes
from robotok_ros.demo.sim_stage import tracking
from robotok_ros.errors import RobotokError

HOLD_S = 0.5


class _Watch(_Client):
    """The collector's client plus tokens, twists, poses and the policy's diagnostics."""

    def __init__(self):
        super().__init__()
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import PoseStamped, TwistStamped
        from std_msgs.msg import Int32MultiArray
        self.tokens, self.twists, self.poses, self.policy_ms = [], [], [], []
        self.node.create_subscription(Int32MultiArray, '/robotok/action_tokens',
                                      lambda m: self.tokens.append(len(m.data)), 100)
        self.node.create_subscription(TwistStamped, '/servo_node/delta_twist_cmds',
                                      self._twist, 100)
        self.node.create_subscription(PoseStamped, '/robotok/ee_pose', self._pose, 100)
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._diag, 10)

    def _twist(self, m):
        s, v = m.header.stamp, m.twist.linear
        self.twists.append((s.sec + s.nanosec * 1e-9, v.x, v.y, v.z))

    def _pose(self, m):
        s, p = m.header.stamp, m.pose.position
        self.poses.append((s.sec + s.nanosec * 1e-9, p.x, p.y, p.z))

    def _diag(self, m):
        for status in m.status:
            if status.name.startswith('token_policy'):
                values = {kv.key: kv.value for kv in status.values}
                if 'policy_ms_p50' in values:
                    self.policy_ms.append(float(values['policy_ms_p50']))

    def clear(self):
        """Forget what was seen: a new rollout."""
        self.tokens, self.twists, self.poses = [], [], []


def _nodes(robot, policy_path, tokenizer_path, seed, rtf, log):
    sim = {'use_sim_time': True}
    procs = [start_node('sim_arm', {'robot': robot, 'seed': seed, 'auto_start': True,
                                    'real_time_factor': rtf}, log)]
    from robotok_ros.tokenizers import load_tokenizer
    kind = load_tokenizer(tokenizer_path).kind  # the decoder checks the folder holds this kind
    procs.append(start_node('token_decoder', {**sim, 'robot': robot, 'tokenizer': kind,
                                              'tokenizer_path': str(tokenizer_path),
                                              'start_enabled': True}, log))
    procs.append(start_node('token_policy', {
        **sim, 'robot': robot, 'policy_path': str(policy_path),
        'observation_topics': '[' + ', '.join(f"'{t}'" for t in STATE_TOPICS) + ']'}, log))
    return procs


def rollout(robot, policy_path, tokenizer_path, rollouts, out, seed=1000, rtf=1.0,
            max_seconds=20.0, progress=None):
    """Run ``rollouts`` seeded rollouts of the policy; return the summary dict."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    log = open(out / 'nodes.log', 'w')
    watch = _Watch()
    procs = _nodes(robot, policy_path, tokenizer_path, seed, rtf, log)
    results = []
    try:
        if not watch.spin_until(lambda: watch.task and watch.node.count_publishers(
                '/robotok/action_tokens'), 60, procs):
            raise RobotokError(f'the nodes did not come up; see {out / "nodes.log"}')
        for i in range(rollouts):
            watch.call('/sim_arm/reset', procs)
            # Task states still in flight were published before the reset: wait past them.
            before = watch.task.get('sim_time', 0.0)
            watch.spin_until(lambda: watch.task.get('sim_time', 0.0) > before + 0.1, 30, procs)
            cube = [round(v, 4) for v in watch.task.get('cube', [])]
            watch.call('/token_policy/reset', procs)
            watch.clear()
            start = watch.task.get('sim_time', 0.0)
            held = {'since': None}

            def finished():
                now = watch.task.get('sim_time', 0.0)
                if watch.task.get('lifted'):
                    held['since'] = held['since'] if held['since'] is not None else now
                else:
                    held['since'] = None
                return (held['since'] is not None and now - held['since'] >= HOLD_S) or \
                    now > start + max_seconds
            watch.spin_until(finished, 3 * max_seconds / (rtf or 1.0) + 30, procs)
            seconds = watch.task.get('sim_time', 0.0) - start
            # Only what is stamped after the reset: a pose or twist still in flight from the
            # last rollout put the arm's jump home into the error (0.4 m "tracking error").
            poses = np.array([p for p in watch.poses if p[0] >= start])
            twists = [t for t in watch.twists if t[0] >= start]
            err, _, _ = tracking(twists, poses) if len(poses) else (np.zeros(1), None, None)
            result = {'rollout': i, 'cube_start': cube,
                      'success': held['since'] is not None and
                      watch.task.get('sim_time', 0.0) - held['since'] >= HOLD_S,
                      'seconds': round(seconds, 2),
                      'tokens_per_s': round(sum(watch.tokens) / max(seconds, 1e-9), 1),
                      'tracking_mean_mm': round(float(np.mean(err)) * 1e3, 2),
                      'tracking_max_mm': round(float(np.max(err)) * 1e3, 2),
                      'final_tcp': [round(v, 4) for v in (watch.poses[-1][1:] if watch.poses
                                                          else ())],
                      'final_cube': [round(v, 4) for v in watch.task.get('cube', [])]}
            results.append(result)
            if progress:
                progress(i, result)
    finally:
        stop_nodes(procs)
        watch.close()
        log.close()
    ok = [r['success'] for r in results]
    summary = {'robot': robot, 'policy': str(policy_path), 'seed': seed, 'rollouts': results,
               'success_rate': sum(ok) / max(1, len(ok)),
               'tokens_per_s': float(np.mean([r['tokens_per_s'] for r in results] or [0])),
               'tracking_mean_mm': float(np.mean([r['tracking_mean_mm'] for r in results]
                                                 or [0])),
               'policy_ms_p50': float(np.median(watch.policy_ms)) if watch.policy_ms else None}
    (out / 'rollout.json').write_text(json.dumps(summary, indent=2))
    return summary
