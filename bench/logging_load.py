"""
Logging under load: teleop input at 1 kHz for 60 s through teleop_tokenizer and episode_recorder.

The bench publishes a Twist and a Joy (dead-man held) every millisecond;
teleop_tokenizer samples them at the profile's control rate (100 Hz here) and
publishes tokens + actions; episode_recorder writes all four topics to one
MCAP bag (fsync on every flush).  When the stream stops, the dead-man goes
stale and teleop stops emitting, so every published message is known:
the bench's own twists and joys, and teleop's step count from its diagnostics.

Prints published, recorded and lost per topic, the input rate achieved and the
recorder's CPU use (user + system time over the streaming wall time, % of one
core).  The last line is one JSON object with ``published``, ``recorded``, ``lost``.
"""

import argparse
import json
import os
from pathlib import Path
import random
import sys
import tempfile
import time

from robotok_ros.demo.processes import start_node, stop_nodes

TOPICS = ('/robotok/teleop_tokens', '/robotok/teleop_action', '/teleop/twist', '/joy')
PROFILE_RATE = 100.0


def cpu_seconds(pid):
    """Return user + system CPU seconds of process ``pid`` (Linux /proc)."""
    fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


class Bench:
    """The bench's rclpy node: publishers, status and diagnostics listeners."""

    def __init__(self):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import Twist
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Joy
        from std_msgs.msg import String
        rclpy.init()
        self.rclpy = rclpy
        self.node = rclpy.create_node('logging_load_bench')
        # Keep all: a slow recorder slows the input (reported) instead of losing messages.
        qos = QoSProfile(depth=1, history=HistoryPolicy.KEEP_ALL,
                         reliability=ReliabilityPolicy.RELIABLE)
        self.twist_pub = self.node.create_publisher(Twist, '/teleop/twist', qos)
        self.joy_pub = self.node.create_publisher(Joy, '/joy', qos)
        self.status, self.steps = [], []
        self.node.create_subscription(String, '/episode_recorder/status',
                                      lambda m: self.status.append(json.loads(m.data)), 10)
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self.on_diag, 10)
        self.twist, self.joy = Twist(), Joy(buttons=[1])

    def on_diag(self, msg):
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            if status.name.startswith('teleop_tokenizer') and 'steps' in values:
                self.steps.append(int(values['steps']))

    def spin_until(self, condition, timeout, what):
        end = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > end:
                raise RuntimeError(f'timed out waiting for {what}')
            self.rclpy.spin_once(self.node, timeout_sec=0.01)

    def trigger(self, service):
        from std_srvs.srv import Trigger
        client = self.node.create_client(Trigger, service)
        self.spin_until(client.service_is_ready, 30, service)
        future = client.call_async(Trigger.Request())
        self.spin_until(future.done, 30, service)
        return future.result()

    def stream(self, seconds, hz):
        """Publish twist + joy at ``hz`` for ``seconds``; return how many of each."""
        period, start, n = 1.0 / hz, time.monotonic(), 0
        while n < seconds * hz:
            target = start + n * period
            now = time.monotonic()
            if target > now:
                time.sleep(target - now)
            self.twist.linear.x = 0.05 * ((n // 500) % 2 * 2 - 1)
            self.twist_pub.publish(self.twist)
            self.joy_pub.publish(self.joy)
            n += 1
            if n % 50 == 0:
                self.rclpy.spin_once(self.node, timeout_sec=0)
        return n, time.monotonic() - start


def settled(values, tail=3):
    """Tell whether the last ``tail`` values are equal (the count stopped growing)."""
    return len(values) >= tail and len(set(values[-tail:])) == 1


def main():
    """Run the benchmark; print the numbers and a final JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--duration', type=float, default=60.0, help='seconds of input')
    parser.add_argument('--hz', type=float, default=1000.0, help='input rate')
    args = parser.parse_args()
    os.environ.setdefault('ROS_DOMAIN_ID', str(random.SystemRandom().randint(1, 100)))
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    folder = Path(tempfile.mkdtemp(prefix='robotok_logging_load_'))
    profile = folder / 'bench.yaml'
    text = (Path(__file__).resolve().parent.parent / 'config' / 'robots' /
            'franka_panda.yaml').read_text()
    profile.write_text(text.replace('control_rate_hz: 15', f'control_rate_hz: {PROFILE_RATE}'))
    common = {'profile_path': profile, 'tokenizer': 'uniform'}
    log = open(folder / 'nodes.log', 'w')
    procs = [start_node('episode_recorder', {
        **common, 'output_dir': folder / 'bags', 'fsync': True,
        'raw_topics': ['/teleop/twist=geometry_msgs/msg/Twist', '/joy=sensor_msgs/msg/Joy']},
        log),
        start_node('teleop_tokenizer', {**common, 'deadman_button': 0, 'max_input_age': 0.05,
                                        'linear_scale': [1.0, 1.0, 1.0]}, log)]
    bench = Bench()
    try:
        bench.spin_until(lambda: bench.twist_pub.get_subscription_count() >= 2
                         and bench.joy_pub.get_subscription_count() >= 2, 30, 'subscribers')
        bag = bench.trigger('/episode_recorder/start_episode').message
        cpu0 = cpu_seconds(procs[0].pid)
        sent, wall = bench.stream(args.duration, args.hz)
        cpu = cpu_seconds(procs[0].pid) - cpu0
        # The dead-man is stale now: teleop stops; wait for its count and the recorder's.
        bench.spin_until(lambda: settled(bench.steps), 30, 'teleop to stop')
        teleop_steps = bench.steps[-1]
        want = {TOPICS[0]: teleop_steps, TOPICS[1]: teleop_steps, TOPICS[2]: sent,
                TOPICS[3]: sent}
        recorded = []

        def caught_up():
            counts = bench.status[-1]['counts'] if bench.status else {}
            recorded.append(sum(counts.get(t, 0) for t in TOPICS))
            return counts == {**counts, **want} or (len(recorded) > 500 and settled(
                recorded[::100]))          # stopped growing for 2 s: the rest is lost
        bench.spin_until(caught_up, 120, 'the recorder to catch up')
        bench.trigger('/episode_recorder/stop_episode')
        bench.spin_until(lambda: bench.status and bench.status[-1]['episodes_closed'] == 1,
                         30, 'the bag to close')
    finally:
        bench.node.destroy_node()
        bench.rclpy.try_shutdown()
        stop_nodes(procs, timeout=20)
        log.close()
    from rosbags.rosbag2 import Reader
    with Reader(bag) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
    print(f'input: {sent} twists + {sent} joys in {wall:.1f} s ({sent / wall:.0f} Hz); teleop '
          f'at {PROFILE_RATE:g} Hz published {teleop_steps} steps x 2 topics')
    print(f'{"topic":28s} {"published":>10s} {"recorded":>10s} {"lost":>6s}')
    for topic in TOPICS:
        print(f'{topic:28s} {want[topic]:10d} {counts.get(topic, 0):10d} '
              f'{want[topic] - counts.get(topic, 0):6d}')
    published = sum(want.values())
    recorded = sum(counts.get(t, 0) for t in TOPICS)
    cpu_pct = 100.0 * cpu / wall
    print(f'recorder CPU: {cpu:.1f} s over {wall:.1f} s = {cpu_pct:.0f} % of one core; '
          f'bag {Path(bag).name} '
          f'{sum(f.stat().st_size for f in Path(bag).iterdir()) / 1e6:.1f} MB')
    print(json.dumps({'published': published, 'recorded': recorded,
                      'lost': published - recorded, 'recorder_cpu_percent': round(cpu_pct, 1),
                      'input_hz': round(sent / wall, 1), 'duration_s': round(wall, 1)}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
