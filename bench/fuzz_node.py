"""
The ROS side of the fuzz campaign: the token_decoder process and the node that drives it.

``Decoder`` runs one token_decoder in a namespace of its own (restarted when it
dies; each death is a crash); ``Driver`` publishes the fuzz messages on its
tokens, text or chunk topic, checks every command that comes back with a
``Checker``, reads the node's diagnostics counters and, once the node has
taken a terminate flag (which disables motion), calls ``~/enable`` again.
``send`` keeps the messages in flight under the node's queue depth by the
``received`` counter.
"""

from array import array
import os
from pathlib import Path
import subprocess
import time

from fuzz_messages import bursts
import numpy as np

# The node runs in a namespace of its own (NS), so nothing else on the domain shares its
# topics; the domain itself is one where no other node was seen (pick_domain).
NS = f'/robotok_fuzz_{os.getpid()}'
TOPICS = {'tokens': 'robotok/action_tokens', 'text': 'robotok/action_text',
          'chunk': 'robotok/action_chunk'}  # what fuzz_configs turns on
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
    """The fuzzing side: one rclpy node publishing on ``topic`` and checking what comes back."""

    def __init__(self, checker, depth=QUEUE, topic='tokens'):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import PoseStamped, TwistStamped
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from std_msgs.msg import (Float32MultiArray, Float64MultiArray, Int32MultiArray,
                                  MultiArrayDimension, String)
        from std_srvs.srv import SetBool

        self.rclpy, self.checker = rclpy, checker
        self.msg = {'tokens': Int32MultiArray, 'text': String, 'chunk': Float32MultiArray}[topic]
        self.dim_msg, self.set_bool, self.topic = MultiArrayDimension, SetBool, topic
        rclpy.init()
        self.node = rclpy.create_node('robotok_fuzz')
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        qos = QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE)
        self.pub = self.node.create_publisher(self.msg, f'{NS}/{TOPICS[topic]}', qos)
        self.enable = self.node.create_client(SetBool, f'{NS}/token_decoder/enable')
        self.reenabled = 0
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
        if self.topic == 'text':
            msg.data = fuzz.data
        else:
            code, dtype = ('i', np.int32) if self.topic == 'tokens' else ('f', np.float32)
            msg.data = array(code, np.asarray(fuzz.data).astype(dtype, copy=False).tobytes())
            msg.layout.dim = [self.dim_msg(size=s, stride=st, label=lb)
                              for s, st, lb in fuzz.dims]
            msg.layout.data_offset = int(fuzz.offset)
        self.pub.publish(msg)
        self.sent += 1

    def after_terminate(self, dec, timeout=10.0):
        """Wait until the node has taken all sent (the terminate too); then call ~/enable."""
        end = time.monotonic() + timeout
        while self.in_flight() > 0 and time.monotonic() < end and dec.check():
            self.spin(0.02)
        future = self.enable.call_async(self.set_bool.Request(data=True))
        while not future.done() and time.monotonic() < end:
            self.spin(0.02)
        self.reenabled += 1

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


def wait_connected(driver, dec, timeout=30.0):
    """Wait until the node subscribes and its diagnostics arrive; return whether it did."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        dec.check()
        if driver.pub.get_subscription_count() and driver.received() >= 0:
            return True
        driver.spin(0.05)
    return False


def send(driver, dec, stream, rng, count, in_flight=IN_FLIGHT):
    """Send ``count`` messages of ``stream`` in bursts, keeping ``in_flight`` at most."""
    for size in bursts(rng, count, top=min(500, in_flight)):
        while driver.received() >= 0 and driver.in_flight() > in_flight:
            driver.spin(0.02)
            dec.check()
        for _ in range(size):
            msg = next(stream)
            driver.publish(msg)
            if msg.category == 'terminate':
                driver.after_terminate(dec)
        driver.spin(0.0)
        dec.check()


def drain(driver, dec, quiet=5.0):
    """Spin until the node has counted every message sent or counts nothing for ``quiet`` s."""
    last, since = driver.received(), time.monotonic()
    while driver.in_flight() > 0 and time.monotonic() - since < quiet:
        driver.spin(0.1)
        dec.check()
        if driver.received() != last:
            last, since = driver.received(), time.monotonic()
