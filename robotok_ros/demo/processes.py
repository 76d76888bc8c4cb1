"""Start and stop robotok node executables as child processes (demo stages, benchmarks)."""

from pathlib import Path
import shutil
import signal
import subprocess
import sys

from robotok_ros.errors import ConfigError


def executable(name):
    """Return the console script ``name`` beside this Python, else on PATH."""
    path = Path(sys.executable).parent / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        raise ConfigError(f'console script {name!r} not found; install robotok_ros first')
    return found


def ros_args(params):
    """Return ``--ros-args -p key:=value ...`` for a dict of node parameters."""
    out = ['--ros-args']
    for key, value in params.items():
        text = ('true' if value else 'false') if isinstance(value, bool) else str(value)
        out += ['-p', f'{key}:={text}']
    return out


def start_node(name, params, log, env=None):
    """Start executable ``name`` with ``params``; its stdout and stderr go to ``log``."""
    return subprocess.Popen([executable(name), *ros_args(params)], env=env, stdout=log,
                            stderr=log, stdin=subprocess.DEVNULL)


def stop_nodes(procs, timeout=10.0):
    """SIGINT every process still running (nodes send their last safe command), then reap."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    for proc in procs:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
