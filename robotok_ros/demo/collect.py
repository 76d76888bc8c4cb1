"""
`robotok collect`: record pick-and-lift demonstrations in sim_arm the way a lab records them.

Every piece is a real node in its own process on sim_arm's clock: scripted_operator
(a noisy SpaceMouse operator) drives sim_arm through Servo's twist topic and feeds
the same twists and gripper commands to teleop_tokenizer, which logs them as tokens
and actions; episode_recorder writes one bag per episode with the robot state
(joint states, TCP pose, the cube's task state) beside every step.  Per episode the
scene is reset to the next seed (the cube at a new random spot), recording starts,
the operator is reset, and the episode ends when the operator has lifted and held
the cube or after ``max_seconds`` of simulated time; a failed one's bag is moved to
``failed/``, so ``bags/`` holds only demonstrations.  ``collect.json`` lists each
episode's cube start, outcome and bag.
"""

import json
from pathlib import Path
import time

from robotok_ros.demo.processes import start_node, stop_nodes
from robotok_ros.errors import RobotokError
from robotok_ros.profile_loader import load_profile

TASK = 'pick up the cube and lift it'
STATE_TOPICS = ['joint_states=sensor_msgs/msg/JointState',
                'robotok/ee_pose=geometry_msgs/msg/PoseStamped',
                'sim_arm/task_state=std_msgs/msg/String']


def _died(procs):
    dead = [' '.join(p.args[:1]) for p in procs if p.poll() is not None]
    return f' ({", ".join(dead)} exited)' if dead else ''


class _Client:
    """The collector's own node: services of the nodes, operator status, the sim clock."""

    def __init__(self):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from std_msgs.msg import String
        self.rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node('robotok_collect', context=self.context)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.status, self.task, self.recorder, self.clients = {}, {}, {}, {}
        self.node.create_subscription(String, '/scripted_operator/status',
                                      lambda m: self.status.update(json.loads(m.data)), latched)
        self.node.create_subscription(String, '/episode_recorder/status',
                                      lambda m: self.recorder.update(json.loads(m.data)),
                                      latched)
        self.node.create_subscription(String, '/sim_arm/task_state',
                                      lambda m: self.task.update(json.loads(m.data)), 10)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_until(self, condition, timeout, procs=()):
        """Spin until ``condition()``; False on timeout or when a node process died."""
        end = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > end or any(p.poll() is not None for p in procs):
                return False
            self.executor.spin_once(timeout_sec=0.02)
        return True

    def call(self, name, procs, timeout=30.0):
        """Call Trigger service ``name``; return its message (RobotokError when it fails)."""
        from std_srvs.srv import Trigger
        if name not in self.clients:
            self.clients[name] = self.node.create_client(Trigger, name)
        client = self.clients[name]
        if not self.spin_until(client.service_is_ready, timeout, procs):
            raise RobotokError(f'service {name} did not come up{_died(procs)}')
        future = client.call_async(Trigger.Request())
        if not self.spin_until(future.done, timeout, procs):
            raise RobotokError(f'service {name} did not answer{_died(procs)}')
        if not future.result().success:
            raise RobotokError(f'service {name} failed: {future.result().message}')
        return future.result().message

    def close(self):
        """Shut the collector's node down."""
        self.executor.shutdown()
        self.node.destroy_node()
        self.rclpy.try_shutdown(context=self.context)


def _nodes(robot, seed, out, rtf, log, push=0.0):
    """Start sim_arm, teleop_tokenizer, episode_recorder and scripted_operator."""
    profile = load_profile(robot)
    grip = profile.gripper
    sim = {'use_sim_time': True}
    procs = [start_node('sim_arm', {'robot': robot, 'seed': seed, 'auto_start': True,
                                    'real_time_factor': rtf}, log)]
    procs.append(start_node('teleop_tokenizer', {
        **sim, 'robot': robot, 'teleop_source': 'twist', 'twist_stamped': True,
        'gripper_source': 'float', 'gripper_input_open': float(grip.command_open),
        'gripper_input_closed': float(grip.command_closed)}, log))
    procs.append(start_node('episode_recorder', {
        **sim, 'robot': robot, 'output_dir': str(out), 'task': TASK,
        'observation_topics': '[' + ', '.join(f"'{t}'" for t in STATE_TOPICS) + ']'}, log))
    procs.append(start_node('scripted_operator', {**sim, 'robot': robot, 'seed': seed,
                                                  'push': float(push)}, log))
    return procs


def collect(robot, episodes, out, seed=0, rtf=1.0, max_seconds=20.0, progress=None,
            push=0.0):
    """
    Record ``episodes`` demonstrations into ``out``/bags; return the summary dict.

    ``progress(i, result)`` is called after each episode; ``push``: the operator's DART push
    (m/s), which the arm gets and the log does not.
    """
    out = Path(out)
    (out / 'bags').mkdir(parents=True, exist_ok=True)
    log = open(out / 'nodes.log', 'w')
    client = _Client()
    procs = _nodes(robot, seed, out / 'bags', rtf, log, push)
    results = []
    try:
        if not client.spin_until(lambda: client.task and client.status.get('episode') == -1,
                                 60, procs):
            raise RobotokError(f'the nodes did not come up; see {out / "nodes.log"}')
        for i in range(episodes):
            client.call('/sim_arm/reset', procs)
            # Task states still in flight were published before the reset: wait past them.
            before = client.task.get('sim_time', 0.0)
            # The cube's new spot, from a task state published after the reset.
            client.spin_until(lambda: client.task.get('sim_time', 0.0) > before + 0.1, 30,
                              procs)
            cube = [round(v, 4) for v in client.task.get('cube', [])]
            client.call('/scripted_operator/reset', procs)
            client.call('/episode_recorder/start_episode', procs)
            start = client.task.get('sim_time', 0.0)
            wall = 3 * max_seconds / (rtf or 1.0) + 30
            done = client.spin_until(
                lambda: (client.status.get('episode') == i and client.status.get('done')) or
                client.task.get('sim_time', 0.0) > start + max_seconds, wall, procs)
            bag = client.call('/episode_recorder/stop_episode', procs)
            closed = i + 1
            client.spin_until(lambda: client.recorder.get('episodes_closed', 0) >= closed, 30,
                              procs)
            result = {'episode': i, 'seed': seed, 'cube_start': cube, 'bag': bag,
                      'done': bool(done and client.status.get('done')),
                      'lifted': bool(client.task.get('lifted')),
                      'seconds': round(client.task.get('sim_time', 0.0) - start, 2)}
            if not result['done']:
                # A lab discards a failed demonstration: out of bags/, kept for a look.
                (out / 'failed').mkdir(exist_ok=True)
                # The recorder reuses a free index, so the name carries the attempt too.
                moved = out / 'failed' / f'{Path(bag).name}_attempt{i:04d}'
                result['bag'] = str(Path(bag).rename(moved))
            results.append(result)
            if progress:
                progress(i, result)
    finally:
        stop_nodes(procs)
        client.close()
        log.close()
    summary = {'robot': robot, 'task': TASK, 'seed': seed, 'episodes': results,
               'success_rate': sum(r['done'] for r in results) / max(1, len(results))}
    (out / 'collect.json').write_text(json.dumps(summary, indent=2))
    return summary
