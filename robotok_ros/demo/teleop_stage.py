"""
The teleop stage of `robotok demo`: operator -> teleop_tokenizer -> recorder -> bag -> decoder.

A scripted operator replays a generated demonstration (minimum-jerk reaches
with grasps) as a SpaceMouse would: Twist velocities at 100 Hz and a Joy
button pressed at each grasp and release.  teleop_tokenizer turns them into
tokens, episode_recorder writes the episode bag, which is exported as a
LeRobot dataset; then token_decoder replays the recorded tokens and the demo
prints the round-trip error against the recorded continuous actions.
"""

import os
from pathlib import Path
import random
import shutil
import tempfile
import time

import numpy as np
from robotok_ros.data.wire import ACTION_TOPIC
from robotok_ros.demo.processes import start_node, stop_nodes

MAX_STEPS = 60          # 4 s at 15 Hz
OPERATOR_HZ = 100.0


class _Session:
    """The demo's own rclpy node (operator, listeners) in a private context."""

    def __init__(self):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        self.rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node('robotok_teleop_demo', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_until(self, condition, timeout, what):
        """Spin until ``condition()``; raise RuntimeError naming ``what`` on timeout."""
        end = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > end:
                raise RuntimeError(f'timed out waiting for {what}')
            self.executor.spin_once(timeout_sec=0.01)

    def collect(self, msg_type, topic, depth=1000):
        """Subscribe reliably; return the list that fills while spinning."""
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        out = []
        self.node.create_subscription(msg_type, topic, out.append, QoSProfile(
            depth=depth, reliability=ReliabilityPolicy.RELIABLE))
        return out

    def trigger(self, service):
        """Call a std_srvs/Trigger service; return its response."""
        from std_srvs.srv import Trigger
        client = self.node.create_client(Trigger, service)
        self.spin_until(client.service_is_ready, 20, service)
        future = client.call_async(Trigger.Request())
        self.spin_until(future.done, 20, f'{service} to answer')
        return future.result()

    def close(self):
        """Destroy the node and shut the private context down."""
        self.node.destroy_node()
        self.rclpy.try_shutdown(context=self.context)


def _operate(session, profile, script):
    """Play ``script`` (T, D) as Twist + Joy at 100 Hz, a step per period; return presses."""
    from geometry_msgs.msg import Twist
    from sensor_msgs.msg import Joy
    twist_pub = session.node.create_publisher(Twist, 'teleop/twist', 10)
    joy_pub = session.node.create_publisher(Joy, 'joy', 10)
    session.spin_until(lambda: twist_pub.get_subscription_count() >= 2
                       and joy_pub.get_subscription_count() >= 2, 20, 'teleop and recorder')
    rate, idx = profile.control_rate_hz, [profile.index(n) for n in
                                          ('dx', 'dy', 'dz', 'droll', 'dpitch', 'dyaw')]
    grip = profile.gripper
    is_open, presses = True, 0
    start = time.monotonic()
    for i, row in enumerate(script):
        # A SpaceMouse reports velocity: action units x metres per unit x steps per second.
        vel = [0.0 if j is None else row[j] * profile.dimensions[j].scale * rate for j in idx]
        msg = Twist()
        msg.linear.x, msg.linear.y, msg.linear.z, msg.angular.x, msg.angular.y, \
            msg.angular.z = vel
        want_open = bool(grip.openness(row[profile.gripper_index]) >= 0.5) if grip else True
        press = want_open != is_open
        is_open, presses = want_open, presses + press
        end = start + (i + 1) / rate
        while time.monotonic() < end:
            twist_pub.publish(msg)
            joy_pub.publish(Joy(buttons=[int(press)]))
            press = False
            session.executor.spin_once(timeout_sec=1.0 / OPERATOR_HZ)
    return presses


def _replay(session, steps_tokens, profile):
    """Publish recorded per-step tokens to token_decoder; return the decoded actions (T, D)."""
    from geometry_msgs.msg import PoseStamped
    from robotok_ros.demo.replay_nodes import POSE, pose_message, rest_position
    from std_msgs.msg import Float64MultiArray, Int32MultiArray
    rate = profile.control_rate_hz * 3
    # The arm at rest, as its pose publisher would report it (a workspace box needs it).
    pose_pub = session.node.create_publisher(PoseStamped, POSE, 10)
    rest = rest_position(profile)
    session.node.create_timer(0.02, lambda: pose_pub.publish(pose_message(
        profile.frame_id, rest, session.node.get_clock().now().to_msg())))
    decoded = session.collect(Float64MultiArray, '/robotok/decoded_action')
    pub = session.node.create_publisher(Int32MultiArray, '/robotok/action_tokens', 10)
    session.spin_until(lambda: pub.get_subscription_count() >= 1, 20, 'token_decoder')
    warm = Int32MultiArray(data=steps_tokens[0].tolist())

    def warmed():
        pub.publish(warm)
        return bool(decoded)
    session.spin_until(warmed, 20, 'token_decoder output')
    end = time.monotonic() + 0.2
    session.spin_until(lambda: time.monotonic() > end, 1, 'drain')
    decoded.clear()
    for ids in steps_tokens:
        pub.publish(Int32MultiArray(data=ids.tolist()))
        end = time.monotonic() + 1.0 / rate
        session.spin_until(lambda: time.monotonic() > end, 1, 'replay')
    session.spin_until(lambda: len(decoded) >= len(steps_tokens), 20, 'decoded actions')
    return np.array([m.data for m in decoded[-len(steps_tokens):]])


def _pipeline(args, folder, env, log):
    import json
    from robotok_ros.data.bags import read_bag
    from robotok_ros.data.lerobot_export import export_lerobot
    from robotok_ros.data.synthetic import generate_episodes
    from robotok_ros.fitting import fit_ranges
    from robotok_ros.profile_loader import load_profile, save_profile
    from std_msgs.msg import Float64MultiArray, String
    base = load_profile(args.robot)
    demos = generate_episodes(base, n_episodes=max(args.episodes, 1), seed=args.seed)
    profile = fit_ranges(demos, base, name=f'{base.name}_fitted')
    save_profile(profile, folder / 'profile.yaml')
    script = demos[-1][:MAX_STEPS]
    common = {'profile_path': folder / 'profile.yaml', 'tokenizer': 'uniform', 'n_bins': 256}
    recorder = {**common, 'output_dir': folder / 'bags', 'flush_period': 0.2,
                'task': 'scripted reach',
                'raw_topics': ['teleop/twist=geometry_msgs/msg/Twist', 'joy=sensor_msgs/msg/Joy']}
    teleop = {**common, 'gripper_source': 'button', 'max_input_age': 0.1}
    procs = [start_node('episode_recorder', recorder, log, env),
             start_node('teleop_tokenizer', teleop, log, env)]
    session = _Session()
    try:
        status = session.collect(String, '/episode_recorder/status', depth=10)
        sent = session.collect(Float64MultiArray, ACTION_TOPIC)
        session.spin_until(lambda: len(sent) >= 2, 30, 'teleop_tokenizer output')
        bag = session.trigger('/episode_recorder/start_episode').message
        presses = _operate(session, profile, script)
        session.trigger('/episode_recorder/stop_episode')
        session.spin_until(lambda: status and json.loads(status[-1].data)[
            'episodes_closed'] == 1, 20, 'the bag to close')
        stop_nodes(procs)
        ep = read_bag(bag)
        print(f'   operator: {len(script)} steps of a generated demonstration as SpaceMouse '
              f'twists at {OPERATOR_HZ:g} Hz, {presses} gripper button presses')
        info = export_lerobot([ep], folder / 'lerobot')
        closed = int((profile.gripper.openness(ep.actions[:, profile.gripper_index]) < 0.5)
                     .sum()) if profile.gripper else 0
        print(f'   recorded {len(ep.actions)} steps ({ep.steps[0]}..{ep.steps[-1]}, no gap: '
              f'{bool(np.all(np.diff(ep.steps) == 1))}, gripper closed in {closed}) -> '
              f'{Path(bag).name}; exported '
              f'LeRobot {info["codebase_version"]}: {info["total_frames"]} frames')
        procs = [start_node('token_decoder', {**common, 'start_enabled': True}, log, env)]
        decoded = _replay(session, ep.step_tokens(), profile)
    finally:
        session.close()
        stop_nodes(procs)
    half_bin = (profile.highs - profile.lows) / 256 / 2
    err = np.abs(decoded - ep.actions).max(axis=0)
    print('   round trip recorded action -> tokens -> token_decoder, max |error| / half bin:')
    print('   ' + '  '.join(f'{n} {e / h:.2f}' for n, e, h in zip(profile.names, err, half_bin)))
    ok = bool(np.all(err <= half_bin * (1 + 1e-9)))
    print(f'   every recorded step reproduced within half a bin: {ok}')
    return 0 if ok else 1


def run(args):
    """Run the teleop logging stage of `robotok demo`; return an exit status."""
    folder = Path(tempfile.mkdtemp(prefix='robotok_teleop_demo_'))
    env = dict(os.environ)
    env.setdefault('ROS_DOMAIN_ID', str(random.SystemRandom().randint(1, 100)))
    env.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    # The demo's own node must be on the nodes' domain.
    os.environ['ROS_DOMAIN_ID'] = env['ROS_DOMAIN_ID']
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = env['ROS_AUTOMATIC_DISCOVERY_RANGE']
    print(f'== 3. teleop logging: scripted operator -> teleop_tokenizer -> episode_recorder -> '
          f'bag -> LeRobot export, then token_decoder replays the tokens ({args.robot})',
          flush=True)
    log = open(folder / 'nodes.log', 'w')
    try:
        return _pipeline(args, folder, env, log)
    except RuntimeError as exc:
        log.flush()
        print(f'teleop demo failed: {exc}; node logs:\n'
              f'{(folder / "nodes.log").read_text()[-3000:]}')
        return 1
    finally:
        log.close()
        shutil.rmtree(folder, ignore_errors=True)
