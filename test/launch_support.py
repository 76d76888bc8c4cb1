"""
Launch files through the real launch / launch_ros code, for tests.

The sources of ``launch`` and ``launch_ros`` are not on PyPI; ``../shared/ros``
(``ROBOTOK_ROS_SOURCES``) holds them unmodified for Jazzy (launch 3.4.3) and
the newest mirrored rolling (3.7.1).  Each run uses the package as colcon
installs it (workspace.py), so ``FindPackageShare`` and the executables resolve
through the ament index as on a robot.  A launch is started in a session of
its own, and ``interrupt()`` sends SIGINT to that whole process group, which is
what Ctrl-C in a terminal does to ``ros2 launch`` and its nodes.
"""

import os
from pathlib import Path
import signal
import subprocess
import sys
import tempfile
import time

from workspace import installed_env

HERE = Path(__file__).resolve().parent
SOURCES = Path(os.environ.get('ROBOTOK_ROS_SOURCES', HERE.parent.parent / 'shared' / 'ros'))
# launch releases: the folder under SOURCES and the distribution whose rclpy they go with.
RELEASES = {'jazzy': 'jazzy', 'rolling': 'kilted'}
RCLPY_DISTRO = {'7': 'jazzy', '9': 'kilted'}


def rclpy_distro():
    """Return the ROS 2 distribution of the rclpy in this venv ('jazzy', 'kilted', ...)."""
    from importlib.metadata import version
    for dist in ('ros-rclpy', 'ros-jazzy-rclpy'):
        try:
            return RCLPY_DISTRO.get(version(dist).split('.')[0], 'unknown')
        except Exception:  # noqa: B902 - PackageNotFoundError: try the next name
            continue
    return 'unknown'


def missing_reason():
    """Why the real launch sources cannot be used here, or '' when they can."""
    if not (SOURCES / 'jazzy' / 'src' / 'launch_ros').is_dir():
        return (f'the real launch/launch_ros sources are absent ({SOURCES}; set '
                'ROBOTOK_ROS_SOURCES to a folder holding jazzy/src and rolling/src)')
    return ''


def releases():
    """Launch releases to run the full matrix on: the one matching this rclpy first."""
    own = [r for r, d in RELEASES.items() if d == rclpy_distro()]
    return own or ['rolling']


def other_releases():
    """Return the launch releases not paired with this rclpy (a smoke run on each)."""
    return [r for r in RELEASES if r not in releases()]


class LaunchProcess:
    """One LaunchService run of a launch file in its own process group."""

    def __init__(self, prefix, release, launch_file, args=None, noninteractive=False, env=None):
        self.release = release
        path = Path(prefix) / 'share' / 'robotok_ros' / 'launch' / launch_file
        full_env = installed_env(prefix, PYTHONUNBUFFERED='1',
                                 RCUTILS_LOGGING_BUFFERED_STREAM='0', **(env or {}))
        full_env['PYTHONPATH'] = os.pathsep.join(
            [str(SOURCES / release / 'src'), str(SOURCES / 'stubs'), full_env['PYTHONPATH']])
        self.cmd = [sys.executable, str(HERE / 'launch_runner.py')]
        self.cmd += ['--noninteractive'] if noninteractive else []
        self.cmd += [str(path)] + [f'{k}:={v}' for k, v in (args or {}).items()]
        self._out = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.cmd, stdout=self._out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=full_env,
                                     start_new_session=True)
        self.returncode = None

    def alive(self):
        """Tell whether the launch is still running."""
        return self.proc.poll() is None

    @property
    def output(self):
        """Everything launch and its nodes printed so far."""
        self._out.flush()
        self._out.seek(0)
        return self._out.read().decode('utf-8', 'replace')

    def interrupt(self, times=1, gap=0.1):
        """Ctrl-C: SIGINT to the launch and every node it started, ``times`` times."""
        for i in range(times):
            if i:
                time.sleep(gap)  # the gap between two key presses, not a wait for a result
            try:
                os.killpg(self.proc.pid, signal.SIGINT)
            except ProcessLookupError:
                return

    def wait(self, timeout=30.0):
        """Wait for the launch to exit; return its status (None on timeout)."""
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self, timeout=15.0):
        """Ctrl-C, then kill the group after ``timeout``; return the exit status."""
        if self.alive():
            self.interrupt()
            if self.wait(timeout) is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.returncode = self.proc.returncode
        return self.returncode

    def describe(self):
        """Command line, status and output tail, for assertion messages."""
        return (f'$ {" ".join(self.cmd)}\nexit: {self.proc.poll()}\n'
                f'output:\n{self.output[-4000:]}')


PARAM_FIELDS = {1: 'bool_value', 2: 'integer_value', 3: 'double_value', 4: 'string_value',
                9: 'string_array_value', 7: 'integer_array_value', 8: 'double_array_value'}


def get_parameters(ros, node, names):
    """Read parameters ``names`` of the node named ``node`` over its parameter service."""
    from rcl_interfaces.srv import GetParameters
    got = ros.call(GetParameters, f'{node}/get_parameters', GetParameters.Request(names=names))
    values = {}
    for name, value in zip(names, got.values):
        assert value.type in PARAM_FIELDS, f'{node}: parameter {name} is not set'
        values[name] = getattr(value, PARAM_FIELDS[value.type])
        if isinstance(values[name], (list, tuple)) or hasattr(values[name], 'tolist'):
            values[name] = list(values[name])
    return values


def node_names(ros):
    """Fully qualified names of the nodes on the graph."""
    return {(ns.rstrip('/') + '/' + n) for n, ns in ros.node.get_node_names_and_namespaces()}
