"""
Test harness for real-rclpy node tests: nodes in subprocesses, a test-side node to talk to them.

Typical use::

    with RosHarness() as ros:
        proc = ros.start_node('token_decoder', params={'profile_path': path})
        out = ros.collect('/robotok/decoded_action', Float64MultiArray)
        ros.wait_for_subscribers('/robotok/action_tokens', Int32MultiArray)
        ros.publish('/robotok/action_tokens', msg)
        assert ros.wait_for(lambda: len(out) == 1, timeout=5)

Nothing sleeps and hopes: every wait spins the test node until a condition
holds or a timeout passes, and fails fast (with the node's stderr) when a
started node process died.  conftest.py already isolates the ROS domain.
"""

import os
from pathlib import Path
import signal
import subprocess
import sys
import tempfile
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
import yaml

DEFAULT_TIMEOUT = 10.0


def executable(name):
    """Return the path of console script ``name`` in the venv of this Python."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise FileNotFoundError(f'console script {name!r} not found at {path}; '
                                'run `pip install -e .` in the venv')
    return str(path)


def format_param(value):
    """Format ``value`` for ``-p name:=value`` so ROS parses it back to the same type."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return '[' + ', '.join(format_param(v) for v in value) + ']'
    text = str(value)
    # Strings that YAML would read as another type (numbers, booleans, '') need quotes.
    return text if text and yaml.safe_load(text) == text else f"'{text}'"


class NodeProcess:
    """One node executable in a subprocess; stdout/stderr go to files read on demand."""

    def __init__(self, exe, params=None, params_files=(), remaps=None, args=(), env=None,
                 node_args=(), preexec_fn=None):
        cmd = [exe if os.sep in exe else executable(exe), *args, '--ros-args']
        for key, value in (params or {}).items():
            cmd += ['-p', f'{key}:={format_param(value)}']
        for path in params_files:
            cmd += ['--params-file', str(path)]
        for src, dst in (remaps or {}).items():
            cmd += ['-r', f'{src}:={dst}']
        cmd += list(node_args)
        self.cmd = cmd
        self._out = tempfile.TemporaryFile()
        self._err = tempfile.TemporaryFile()
        full_env = dict(os.environ, PYTHONUNBUFFERED='1', RCUTILS_LOGGING_BUFFERED_STREAM='0')
        full_env.update(env or {})
        # preexec_fn runs in the child before exec (e.g. a resource limit for that node only).
        self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=self._err, env=full_env,
                                     stdin=subprocess.DEVNULL, preexec_fn=preexec_fn)
        self.returncode = None

    @property
    def pid(self):
        """Return the process id."""
        return self.proc.pid

    def alive(self):
        """Tell whether the process is still running."""
        return self.proc.poll() is None

    def _read(self, handle):
        handle.flush()
        handle.seek(0)
        return handle.read().decode('utf-8', 'replace')

    @property
    def stdout(self):
        """Everything written to stdout so far."""
        return self._read(self._out)

    @property
    def stderr(self):
        """Everything written to stderr so far (ROS logs go here)."""
        return self._read(self._err)

    def wait(self, timeout=DEFAULT_TIMEOUT):
        """Wait for the process to exit on its own; return its exit status (None on timeout)."""
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self, timeout=5.0, signals=(signal.SIGINT,), gap=0.0):
        """
        Send ``signals`` (``gap`` s apart), then SIGKILL after ``timeout``; return the status.

        Several signals in a row are what a second Ctrl-C, or ``ros2 launch`` forwarding
        one of its own, does to a node that is still shutting down.
        """
        if self.alive():
            for i, sig in enumerate(signals):
                if i and gap:
                    time.sleep(gap)  # the gap between two key presses, not a wait for a result
                self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.returncode = self.proc.returncode
        return self.returncode

    def describe(self):
        """Command line, status and stderr tail, for assertion messages."""
        return (f'$ {" ".join(self.cmd)}\nexit: {self.proc.poll()}\n'
                f'stderr:\n{self.stderr[-3000:]}')


class Collected(list):
    """Messages received on one topic, with their arrival times in ``times``."""

    def __init__(self):
        super().__init__()
        self.times = []

    def add(self, msg):
        """Store ``msg`` and its arrival time."""
        self.append(msg)
        self.times.append(time.monotonic())


def reliable(depth=10):
    """Return a reliable, volatile QoS profile of ``depth``."""
    return QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE)


class RosHarness:
    """A test-side rclpy node in its own context, plus the node processes it started."""

    def __init__(self, name='robotok_test'):
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.procs = []
        self._pubs = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- node processes ----------------------------------------------------------------------
    def start_node(self, exe, **kwargs):
        """Start console script ``exe`` (see NodeProcess for the arguments); stopped on close."""
        proc = NodeProcess(exe, **kwargs)
        self.procs.append(proc)
        return proc

    def _check_alive(self, expect_dead=()):
        for proc in self.procs:
            if proc not in expect_dead and proc.returncode is None and not proc.alive():
                raise AssertionError(f'node process died:\n{proc.describe()}')

    # -- waiting -----------------------------------------------------------------------------
    def spin_for(self, seconds):
        """Spin the test node for ``seconds`` (to observe that nothing more arrives)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=min(0.02, max(0.0, end - time.monotonic())))
        self._check_alive()

    def wait_for(self, condition, timeout=DEFAULT_TIMEOUT, check_alive=True):
        """Spin until ``condition()`` is true; return whether it became true in time."""
        end = time.monotonic() + timeout
        while True:
            if condition():
                return True
            if check_alive:
                self._check_alive()
            if time.monotonic() >= end:
                return False
            self.executor.spin_once(timeout_sec=0.02)

    def wait_for_subscribers(self, topic, count=1, timeout=DEFAULT_TIMEOUT):
        """Wait until ``topic`` has ``count`` subscribers (the node under test is listening)."""
        ok = self.wait_for(lambda: self.node.count_subscribers(topic) >= count, timeout)
        if not ok:
            raise AssertionError(f'no subscriber on {topic} after {timeout} s\n' +
                                 '\n'.join(p.describe() for p in self.procs))

    def wait_for_publishers(self, topic, count=1, timeout=DEFAULT_TIMEOUT):
        """Wait until ``topic`` has ``count`` publishers."""
        ok = self.wait_for(lambda: self.node.count_publishers(topic) >= count, timeout)
        if not ok:
            raise AssertionError(f'no publisher on {topic} after {timeout} s\n' +
                                 '\n'.join(p.describe() for p in self.procs))

    # -- talking -----------------------------------------------------------------------------
    def publisher(self, topic, msg_type, qos=None):
        """Return (creating once) a publisher on ``topic``; reliable depth 10 by default."""
        if topic not in self._pubs:
            self._pubs[topic] = self.node.create_publisher(msg_type, topic, qos or reliable())
        return self._pubs[topic]

    def publish(self, topic, msg, qos=None):
        """Publish ``msg`` on ``topic``."""
        self.publisher(topic, type(msg), qos).publish(msg)

    def collect(self, topic, msg_type, qos=None):
        """Subscribe to ``topic``; return the Collected list that fills while spinning."""
        out = Collected()
        self.node.create_subscription(msg_type, topic, out.add, qos or reliable(100))
        return out

    def call(self, srv_type, name, request, timeout=DEFAULT_TIMEOUT):
        """Call service ``name`` and return its response (AssertionError on timeout)."""
        client = self.node.create_client(srv_type, name)
        try:
            if not self.wait_for(client.service_is_ready, timeout):
                raise AssertionError(f'service {name} not available after {timeout} s')
            future = client.call_async(request)
            if not self.wait_for(future.done, timeout):
                raise AssertionError(f'service {name} did not answer in {timeout} s')
            return future.result()
        finally:
            self.node.destroy_client(client)

    # -- teardown ----------------------------------------------------------------------------
    def stop(self, proc, timeout=5.0):
        """Stop one node process (SIGINT, then kill); return its exit status."""
        return proc.stop(timeout)

    def close(self):
        """Stop every node process, destroy the test node and shut its context down."""
        for proc in self.procs:
            proc.stop()
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
