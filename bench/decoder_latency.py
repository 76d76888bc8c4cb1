"""
Round-trip latency at 1 kHz: publisher -> token_decoder -> subscriber, against a bare rclpy echo.

Both paths make the same hops in the same run: an Int32MultiArray of 7 ids
goes out, a TwistStamped comes back.  The echo node copies the ids into the
twist without decoding; token_decoder decodes, clamps and also publishes the
gripper command and the decoded action.  Short blocks alternate between the
two paths (echo, decoder, decoder, echo, ...) so other load on a shared
machine hits both alike.  Each message's sequence number
rides in the first three ids (base 256) and comes back in the twist's linear
part (the bench profile decodes id k to (k + 0.5) / 64 m/s, so the speed stays under the
10 m/s a profile may allow).

Prints p50/p99 of both, their ratio and drops; the last line is one JSON object
with ``ratio`` (decoder p50 / echo p50) and ``drops``.
"""

import argparse
import json
import os
from pathlib import Path
import subprocess
import sys
import tempfile
import time

import numpy as np
from robotok_ros.demo.processes import stop_nodes

PROFILE = """\
name: bench7
frame_id: base
control_rate_hz: {rate}
dimensions:
  - {{name: dx, unit: m, min: 0, max: 256, scale: {scale}}}
  - {{name: dy, unit: m, min: 0, max: 256, scale: {scale}}}
  - {{name: dz, unit: m, min: 0, max: 256, scale: {scale}}}
  - {{name: droll, unit: rad, min: -0.1, max: 0.1}}
  - {{name: dpitch, unit: rad, min: -0.1, max: 0.1}}
  - {{name: dyaw, unit: rad, min: -0.1, max: 0.1}}
  - {{name: gripper, min: 0, max: 1}}
gripper: {{dimension: gripper, open_value: 1, closed_value: 0}}
safety: {{max_linear_speed: 10.0, max_angular_speed: 20.0}}
"""
SPEED_DIV = 64   # id k -> (k + 0.5) / 64 m/s: at most |(4, 4, 4)| = 6.9 m/s
PATHS = {'decoder': ('/robotok/action_tokens', '/servo_node/delta_twist_cmds'),
         'echo': ('/bench/echo_in', '/bench/echo_out')}


def make_echo(node):
    """Give ``node`` the echo's publisher and subscription; return its callback."""
    from geometry_msgs.msg import TwistStamped
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from std_msgs.msg import Int32MultiArray

    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    pub = node.create_publisher(TwistStamped, PATHS['echo'][1], qos)

    def on_msg(msg):
        out = TwistStamped()
        out.header.stamp = node.get_clock().now().to_msg()
        out.header.frame_id = 'base'
        d = msg.data
        out.twist.linear.x, out.twist.linear.y, out.twist.linear.z = (
            d[0] / SPEED_DIV, d[1] / SPEED_DIV, d[2] / SPEED_DIV)
        pub.publish(out)
    node.create_subscription(Int32MultiArray, PATHS['echo'][0], on_msg, qos)
    return on_msg


def echo_main():
    """Run the bare echo node: ids in, a TwistStamped with the first three ids out."""
    import rclpy
    from rclpy.executors import ExternalShutdownException

    rclpy.init()
    node = rclpy.create_node('bench_echo')
    make_echo(node)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


def callback_costs(profile, repeats=5, number=2000):
    """
    Return the in-process cost (us) of one callback of each node, best of ``repeats``.

    Both nodes live in a private context (the bench's domain, after the
    latency runs) and are called directly: no executor, no reader on the
    other end, so other load on the machine barely moves the best-of-N number.
    The decoder's cost includes its three publishes.
    """
    import timeit

    import rclpy
    from rclpy.parameter import Parameter
    from robotok_ros.nodes.decoder_node import TokenDecoder
    from std_msgs.msg import Int32MultiArray

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    try:
        dec = TokenDecoder(context=ctx, parameter_overrides=[
            Parameter('profile_path', value=str(profile)),
            Parameter('start_enabled', value=True)])
        echo_node = rclpy.create_node('bench_echo_inproc', context=ctx)
        echo = make_echo(echo_node)
        msgs = [Int32MultiArray(data=Bench.ids(s)) for s in range(number)]
        out = {}
        for name, func in (('decoder', dec.on_tokens), ('echo', echo)):
            it = iter(msgs * (repeats + 1))
            best = min(timeit.repeat(lambda: func(next(it)), number=number, repeat=repeats))
            out[name] = 1e6 * best / number
        dec.destroy_node()
        echo_node.destroy_node()
        return out
    finally:
        rclpy.try_shutdown(context=ctx)


class Bench:
    """The measuring node: publishes to both paths, timestamps replies by sequence number."""

    def __init__(self):
        import rclpy
        from geometry_msgs.msg import TwistStamped
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from std_msgs.msg import Int32MultiArray

        rclpy.init()
        self.rclpy, self.msg_type = rclpy, Int32MultiArray
        self.node = rclpy.create_node('bench_driver')
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.pubs, self.recv = {}, {}
        for name, (src, dst) in PATHS.items():
            self.pubs[name] = self.node.create_publisher(Int32MultiArray, src, qos)
            self.recv[name] = {}
            self.node.create_subscription(TwistStamped, dst, self._receiver(name), qos)
        self.sent = {name: {} for name in PATHS}

    def _receiver(self, name):
        store = self.recv[name]

        def on_twist(msg):
            t = time.perf_counter()
            lin = msg.twist.linear
            seq = (int(lin.x * SPEED_DIV) + 256 * int(lin.y * SPEED_DIV)
                   + 65536 * int(lin.z * SPEED_DIV))
            store.setdefault(seq, t)
        return on_twist

    def wait_for(self, condition, timeout):
        end = time.monotonic() + timeout
        while not condition() and time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.01)
        return condition()

    def ready(self, timeout=30):
        """Wait until both nodes listen and publish."""
        def connected():
            return all(self.node.count_subscribers(src) and self.node.count_publishers(dst)
                       for src, dst in PATHS.values())
        return self.wait_for(connected, timeout)

    def prime(self, name, timeout=20.0):
        """Ping path ``name`` until a reply comes back: discovery has matched both hops."""
        base, n = 1 << 23, [0]

        def replied():
            if any(s >= base for s in self.recv[name]):
                return True
            self.pubs[name].publish(self.msg_type(data=self.ids(base + n[0])))
            n[0] += 1
            return False
        ok = self.wait_for(replied, timeout)
        for seq in [s for s in self.recv[name] if s >= base]:
            del self.recv[name][seq]
        return ok

    @staticmethod
    def ids(seq):
        """Return the 7 ids that carry ``seq`` (base 256 in the first three)."""
        return [seq % 256, (seq // 256) % 256, seq // 65536, 128, 128, 128, 255]

    def block(self, name, first, count, rate):
        """Send ``count`` messages at ``rate`` Hz to path ``name``, spinning between sends."""
        period = 1.0 / rate
        pub, sent = self.pubs[name], self.sent[name]
        nxt = time.perf_counter()
        for seq in range(first, first + count):
            while True:
                left = nxt - time.perf_counter()
                if left <= 0:
                    break
                self.executor.spin_once(timeout_sec=left)
            msg = self.msg_type(data=self.ids(seq))
            sent[seq] = time.perf_counter()
            pub.publish(msg)
            nxt += period
        # Late is not lost: wait up to 5 s for stragglers before counting drops.
        self.wait_for(lambda: all(s in self.recv[name] for s in range(first, first + count)),
                      5.0)

    def latencies(self, name, skip, block):
        """Return latencies in microseconds (NaN if lost), without each block's first ``skip``."""
        sent, recv = self.sent[name], self.recv[name]
        return np.array([(recv[s] - sent[s]) * 1e6 if s in recv else np.nan
                         for s in sorted(sent) if s % block >= skip])

    def close(self):
        self.node.destroy_node()
        self.rclpy.try_shutdown()


def cpu_seconds(pid):
    """User + system CPU seconds of process ``pid`` (Linux /proc), or None elsewhere."""
    try:
        fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def start(cmd, log):
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--rate', type=float, default=1000.0, help='messages per second')
    parser.add_argument('--messages', type=int, default=5000, help='messages to each path')
    parser.add_argument('--block', type=int, default=250, help='messages per block; blocks '
                        'alternate between the paths so both meet the same machine load')
    parser.add_argument('--warmup', type=int, default=20, help='first messages of a block '
                        'not timed')
    parser.add_argument('--echo', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo:
        return echo_main()
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    # 101: the highest domain whose ports stay below Linux's ephemeral range, and outside the
    # 1..100 the test sessions draw from, so 1 kHz of tokens never reaches someone's test.
    os.environ.setdefault('ROS_DOMAIN_ID', '101')
    tmp = Path(tempfile.mkdtemp(prefix='robotok_bench_'))
    profile = tmp / 'bench7.yaml'
    profile.write_text(PROFILE.format(rate=args.rate, scale=1.0 / (SPEED_DIV * args.rate)))
    exe = Path(sys.executable).parent / 'token_decoder'
    log = open(tmp / 'nodes.log', 'w')
    procs = [start([str(exe), '--ros-args', '-p', f'profile_path:={profile}', '-p',
                    'start_enabled:=true'], log),
             start([sys.executable, __file__, '--echo'], log)]
    bench = None
    try:
        bench = Bench()
        if not (bench.ready() and all(bench.prime(name) for name in PATHS)):
            print(f'nodes did not connect; log: {tmp / "nodes.log"}', file=sys.stderr)
            return 1
        pids = {'decoder': procs[0].pid, 'echo': procs[1].pid}
        cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
        blocks = max(1, args.messages // args.block)
        for b in range(2 * blocks):
            # echo, decoder, decoder, echo, ...: neither path always goes first.
            name = ('echo', 'decoder')[(b % 2) ^ (b // 2 % 2)]
            bench.block(name, (b // 2) * args.block, args.block, args.rate)
        cpu = {name: cpu_seconds(pid) - cpu[name] if cpu[name] is not None else float('nan')
               for name, pid in pids.items()}
        result = {'rate_hz': args.rate, 'messages': args.messages,
                  'load_avg_1min': round(os.getloadavg()[0], 2)}
        lat = {name: bench.latencies(name, args.warmup, args.block) for name in PATHS}
        for name in ('echo', 'decoder'):
            sent = len(bench.sent[name])
            lost = [s for s in bench.sent[name] if s not in bench.recv[name]]
            drops = len(lost)
            p50, p99 = np.nanpercentile(lat[name], [50, 99])
            cpu_us = 1e6 * cpu[name] / sent
            print(f'{name:8s} sent {sent:6d}  drops {drops:4d}  p50 {p50:8.1f} us  '
                  f'p99 {p99:8.1f} us  mean {np.nanmean(lat[name]):8.1f} us  '
                  f'process CPU {cpu_us:6.1f} us/msg')
            if lost:
                print(f'         lost (block, index in block): '
                      f'{[divmod(s, args.block) for s in lost[:8]]}{" ..." if drops > 8 else ""}')
            result.update({f'{name}_p50_us': round(p50, 1), f'{name}_p99_us': round(p99, 1),
                           f'{name}_drops': drops, f'{name}_cpu_us_per_msg': round(cpu_us, 1)})
        # Other work on the machine comes and goes: the ratio within each pair of neighbouring
        # blocks (both paths saw nearly the same moments) is steadier than the pooled one.
        n = args.block - args.warmup
        windows = [np.nanmedian(lat['decoder'][i:i + n]) / np.nanmedian(lat['echo'][i:i + n])
                   for i in range(0, len(lat['echo']) - n + 1, n)]
        result['window_ratio_median'] = round(float(np.median(windows)), 3) if windows else None
        result['ratio'] = round(result['decoder_p50_us'] / result['echo_p50_us'], 3)
        costs = callback_costs(profile)
        print(f'callback cost in-process (best of 5 x 2000): decoder {costs["decoder"]:.1f} us '
              f'(decode, clamp, twist publish; decoded action only when subscribed), '
              f'echo {costs["echo"]:.1f} us (one publish)')
        result.update(decoder_callback_us=round(costs['decoder'], 1),
                      echo_callback_us=round(costs['echo'], 1))
        result['p99_ratio'] = round(result['decoder_p99_us'] / result['echo_p99_us'], 3)
        result['drops'] = result['decoder_drops']
        print(f'ratio (decoder p50 / echo p50): {result["ratio"]}  (median over block pairs '
              f'{result["window_ratio_median"]})  decoder drops: {result["drops"]}  '
              f'load average {result["load_avg_1min"]} on {os.cpu_count()} CPUs')
        print(json.dumps(result))
        return 0
    finally:
        if bench is not None:
            bench.close()
        stop_nodes(procs, timeout=5)
        log.close()


if __name__ == '__main__':
    sys.exit(main())
