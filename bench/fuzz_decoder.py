"""
Fuzz token_decoder with generated token messages and check every command it publishes.

One token_decoder process per tokenizer kind (uniform, openvla, a saved FAST
and a saved VQ one, fitted small in a temporary folder; VQ only where torch is
installed), enabled, twist output, for the widowx_250 profile (no workspace
box, so no pose is needed).  ``--messages`` (default 10^6, split over the
kinds) come from ``fuzz_messages.py``: valid chunks, random lengths up to
10,000 ids, int32 extremes, ids just outside the range, random and
overflowing layouts, empty and huge (up to 2 M ids) messages, in bursts.

Every twist is checked against the profile's speed limits, every gripper
command against its command range; pose-target and dry-run topics must stay
silent.  The node's health is watched: alive (a dead node counts as a crash and
is restarted), RSS growth after warm-up (/proc/<pid>/status), lines on its
stderr.  The node runs in a namespace of its own on a domain where no other node
was seen.  The number of messages in flight is kept under the node's token queue
depth by the ``received`` counter of its diagnostics, so what is sent is what it
sees (``processed`` says if not).  The last line is one JSON object:
``messages``, ``crashes``, ``unsafe``, ``rejected``, ``rss_growth_kb``,
``log_lines`` and ``kinds`` (the same per kind).
"""

import argparse
from array import array
import json
import os
from pathlib import Path
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzz_messages import build, bursts, Checker, fit_tokenizers, generate, KINDS, \
    Target  # noqa: E402,I100 - beside this script, after the sys.path line

# The node runs in a namespace of its own (NS), so nothing else on the domain shares its
# topics; the domain itself is one where no other node was seen (pick_domain).
NS = f'/robotok_fuzz_{os.getpid()}'
TOKENS = 'robotok/action_tokens'
SILENT = ('servo_node/pose_target_cmds', 'robotok/dry_run/delta_twist_cmds',
          'robotok/dry_run/pose_target_cmds', 'robotok/dry_run/gripper')
# token_qos_depth given to the node, and the publisher's history: deeper than IN_FLIGHT, so
# no message is dropped. (DDS keeps a payload buffer per history slot, each as big as the
# largest message it held: RSS grows towards depth x size before it levels off.)
QUEUE = 2000
IN_FLIGHT = 1500   # messages sent but not yet counted by the node's diagnostics (1 Hz)


def pick_domain(tries=8, listen=1.5):
    """Return a ROS domain in 1..100 on which no other node shows up within ``listen`` s."""
    import random

    import rclpy
    candidates = random.SystemRandom().sample(range(1, 101), tries)
    for domain in candidates:
        ctx = rclpy.Context()
        rclpy.init(context=ctx, domain_id=domain)
        try:
            node = rclpy.create_node('robotok_fuzz_probe', context=ctx)
            end = time.monotonic() + listen
            others = []
            while time.monotonic() < end and not others:
                time.sleep(0.1)  # the graph is discovered in the background
                others = [n for n, _ in node.get_node_names_and_namespaces()
                          if n != 'robotok_fuzz_probe']
            node.destroy_node()
        finally:
            rclpy.try_shutdown(context=ctx)
        if not others:
            return domain
    return candidates[-1]


def rss_kb(pid):
    """Return the resident set size of process ``pid`` in KiB (None when it is gone)."""
    try:
        for line in Path(f'/proc/{pid}/status').read_text().splitlines():
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class Driver:
    """The fuzzing side: one rclpy node publishing tokens and checking what comes back."""

    def __init__(self, checker, depth=QUEUE):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import PoseStamped, TwistStamped
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from std_msgs.msg import Float64MultiArray, Int32MultiArray, MultiArrayDimension

        self.rclpy, self.checker = rclpy, checker
        self.msg, self.dim_msg = Int32MultiArray, MultiArrayDimension
        rclpy.init()
        self.node = rclpy.create_node('robotok_fuzz')
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        qos = QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE)
        self.pub = self.node.create_publisher(Int32MultiArray, f'{NS}/{TOKENS}', qos)
        deep = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
        self.node.create_subscription(TwistStamped, f'{NS}/servo_node/delta_twist_cmds',
                                      self.on_twist, deep)
        self.node.create_subscription(Float64MultiArray, f'{NS}/gripper_controller/commands',
                                      lambda m: checker.gripper(m.data), deep)
        for topic in SILENT:
            kind = Float64MultiArray if topic.endswith('gripper') else (
                PoseStamped if 'pose' in topic else TwistStamped)
            self.node.create_subscription(kind, f'{NS}/{topic}', self._silent(topic), deep)
        self.diag = {}
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self.on_diag, 10)
        # Messages sent, and of those the ones sent before the node last (re)started.
        self.sent, self.base, self.earlier = 0, 0, {}

    def _silent(self, topic):
        return lambda msg: self.checker.unexpected(topic)

    def on_twist(self, msg):
        lin, ang = msg.twist.linear, msg.twist.angular
        self.checker.twist((lin.x, lin.y, lin.z), (ang.x, ang.y, ang.z), msg.header.frame_id)

    def on_diag(self, msg):
        for status in msg.status:
            if status.name.startswith('token_decoder'):
                self.diag = {kv.key: kv.value for kv in status.values}

    def received(self):
        """Return the node's ``received`` counter from its last diagnostics (-1: none yet)."""
        return int(self.diag.get('received', -1))

    def in_flight(self):
        """Return how many messages this node process has not counted yet."""
        return self.sent - self.base - max(0, self.received())

    def restarted(self):
        """Keep the dead process's counters; count the new one's from here."""
        for key, value in self.diag.items():
            if value.lstrip('-').isdigit():
                self.earlier[key] = self.earlier.get(key, 0) + int(value)
        self.diag, self.base = {}, self.sent

    def total(self, key):
        """Return counter ``key`` over every process lifetime."""
        value = self.diag.get(key, '0')
        now = int(value) if value.lstrip('-').isdigit() else 0
        return self.earlier.get(key, 0) + now

    def spin(self, seconds):
        end = time.monotonic() + seconds
        while True:
            self.executor.spin_once(timeout_sec=max(0.0, min(0.01, end - time.monotonic())))
            if time.monotonic() >= end:
                return

    def publish(self, fuzz):
        msg = self.msg()
        msg.data = array('i', fuzz.data.astype(np.int32, copy=False).tobytes())
        msg.layout.dim = [self.dim_msg(size=s, stride=st, label=lb) for s, st, lb in fuzz.dims]
        msg.layout.data_offset = int(fuzz.offset)
        self.pub.publish(msg)
        self.sent += 1

    def close(self):
        self.node.destroy_node()
        self.rclpy.try_shutdown()


class Decoder:
    """One token_decoder process, restarted when it dies (each death is a crash)."""

    def __init__(self, params, log_path, on_restart):
        self.params, self.log_path, self.on_restart = params, log_path, on_restart
        self.crashes, self.deaths, self.proc = 0, [], None
        self.start()

    def start(self):
        from robotok_ros.demo.processes import executable, ros_args
        self.log = open(self.log_path, 'a')
        cmd = [executable('token_decoder'), *ros_args(self.params), '-r', f'__ns:={NS}']
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL)

    def check(self):
        """Return True when alive; record a crash and restart when not."""
        if self.proc.poll() is None:
            return True
        self.crashes += 1
        self.deaths.append(self.proc.returncode)
        self.log.close()
        self.on_restart()
        self.start()
        return False

    def stop(self):
        from robotok_ros.demo.processes import stop_nodes
        stop_nodes([self.proc])
        self.log.close()
        return self.proc.returncode

    def lines(self):
        return Path(self.log_path).read_text(errors='replace').splitlines()


def _wait_connected(driver, dec, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        dec.check()
        if driver.pub.get_subscription_count() and driver.received() >= 0:
            return True
        driver.spin(0.05)
    return False


def _send(driver, dec, stream, rng, count, in_flight=IN_FLIGHT):
    """Send ``count`` messages of ``stream`` in bursts, keeping ``in_flight`` at most."""
    for size in bursts(rng, count, top=min(500, in_flight)):
        while driver.received() >= 0 and driver.in_flight() > in_flight:
            driver.spin(0.02)
            dec.check()
        for _ in range(size):
            driver.publish(next(stream))
        driver.spin(0.0)
        dec.check()


def _drain(driver, dec, quiet=5.0):
    """Spin until the node has counted every message sent or counts nothing for ``quiet`` s."""
    last, since = driver.received(), time.monotonic()
    while driver.in_flight() > 0 and time.monotonic() - since < quiet:
        driver.spin(0.1)
        dec.check()
        if driver.received() != last:
            last, since = driver.received(), time.monotonic()


def run_kind(kind, params, tok, profile, count, args, folder):
    """Fuzz one kind; return its figures."""
    rng = np.random.default_rng([args.seed, KINDS.index(kind)])
    target = Target(tok, rng)
    checker = Checker(profile)
    driver = Driver(checker, args.queue_depth)
    params = dict(params, start_enabled=True, output_mode='twist',
                  token_qos_depth=args.queue_depth)
    flight = min(IN_FLIGHT, args.queue_depth * 3 // 4)
    dec = Decoder(params, folder / f'{kind}.log', driver.restarted)
    t0 = time.monotonic()
    try:
        if not _wait_connected(driver, dec):
            return {'error': 'token_decoder did not connect', 'log': dec.lines()[-5:]}
        warm = min(2000, count)
        stream = generate(target, rng, count + warm + 1, huge_every=args.huge_every)
        _send(driver, dec, stream, rng, warm, flight)
        driver.publish(build('huge', target, rng))  # the biggest buffers exist before rss0
        _drain(driver, dec)
        rss0 = rss_kb(dec.proc.pid)
        half = (count - warm - 1) // 2
        _send(driver, dec, stream, rng, half, flight)
        rss_mid = rss_kb(dec.proc.pid)
        _send(driver, dec, stream, rng, count - warm - 1 - half, flight)
        _drain(driver, dec)
        rss1 = rss_kb(dec.proc.pid)
        foreign = sorted(f'{ns.rstrip("/")}/{name}' for name, ns
                         in driver.node.get_node_names_and_namespaces()
                         if ns != NS and name != 'robotok_fuzz')
        status = dec.stop()
        driver.spin(0.5)  # the stop's zero commands are checked too
        values = {k: driver.total(k) for k in driver.diag if driver.diag[k].lstrip('-').isdigit()}
        sent = driver.sent
    finally:
        driver.close()
    lines = dec.lines()
    reasons = {k[len('rejected_'):]: v for k, v in values.items() if k.startswith('rejected_')}
    return {'messages': sent, 'processed': int(values.get('received', 0)),
            'rejected': int(values.get('rejected', 0)), 'rejected_by_reason': reasons,
            'decoded': int(values.get('decoded', 0)), 'clamps': int(values.get('clamps', 0)),
            'twists': checker.seen['twist'], 'gripper_commands': checker.seen['gripper'],
            'unsafe': checker.unsafe, 'unsafe_examples': checker.examples,
            'crashes': dec.crashes, 'exit_codes_of_deaths': dec.deaths,
            'exit_status': status, 'tracebacks': sum('Traceback' in ln for ln in lines),
            'rss_kb_after_warmup': rss0, 'rss_kb_end': rss1,
            'rss_growth_kb': (rss1 - rss0) if rss0 and rss1 else None,
            'rss_growth_second_half_kb': (rss1 - rss_mid) if rss_mid and rss1 else None,
            'foreign_nodes': foreign,
            'log_lines': len(lines), 'seconds': round(time.monotonic() - t0, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--messages', type=int, default=10 ** 6,
                        help='messages in all, split evenly over the kinds')
    parser.add_argument('--kinds', nargs='+', default=list(KINDS), choices=KINDS)
    parser.add_argument('--robot', default='widowx_250',
                        help='robot profile (one without a workspace box: no pose needed)')
    parser.add_argument('--huge-every', type=int, default=50000,
                        help='every N-th message is huge (1 M - 2 M ids); 0: none')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--queue-depth', type=int, default=QUEUE,
                        help='token_qos_depth of the node (3/4 of it, at most 1500, in flight)')
    args = parser.parse_args()
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    if 'ROS_DOMAIN_ID' not in os.environ:
        os.environ['ROS_DOMAIN_ID'] = str(pick_domain())
    from robotok_ros.profile_loader import load_profile
    profile = load_profile(args.robot)
    folder = Path(tempfile.mkdtemp(prefix='robotok_fuzz_'))
    params, toks, skipped = fit_tokenizers(profile, folder, args.kinds, args.seed)
    per_kind = max(1, args.messages // max(1, len(toks)))
    kinds = {}
    for kind in toks:
        kinds[kind] = fig = run_kind(kind, params[kind], toks[kind], profile, per_kind, args,
                                     folder)
        print(f'{kind:8s} ' + ' '.join(f'{k}={fig.get(k)}' for k in (
            'messages', 'processed', 'rejected', 'decoded', 'twists', 'unsafe', 'crashes',
            'rss_growth_kb', 'rss_growth_second_half_kb', 'log_lines', 'seconds')), flush=True)
    total = {'messages': sum(k.get('messages', 0) for k in kinds.values()),
             'processed': sum(k.get('processed', 0) for k in kinds.values()),
             'crashes': sum(k.get('crashes', 0) for k in kinds.values()),
             'unsafe': sum(k.get('unsafe', 0) for k in kinds.values()),
             'rejected': sum(k.get('rejected', 0) for k in kinds.values()),
             'rss_growth_kb': max((k.get('rss_growth_kb') or 0 for k in kinds.values()),
                                  default=0),
             'log_lines': sum(k.get('log_lines', 0) for k in kinds.values()),
             'robot': args.robot, 'seed': args.seed,
             'domain': int(os.environ['ROS_DOMAIN_ID']), 'skipped': skipped, 'logs': str(folder),
             'kinds': kinds}
    print(json.dumps(total))
    return 0 if total['crashes'] == 0 and total['unsafe'] == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
