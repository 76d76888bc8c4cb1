"""
A colcon workspace with this package installed, built once per test session.

``colcon build`` (colcon-core + colcon-ros from the venv) installs the package
the way a ROS user gets it: executables under ``lib/robotok_ros``, launch and
config files under ``share/robotok_ros``, the package in the ament index.  The
build copies the files a clone would hold (tracked plus new, not ignored).
"""

import atexit
import os
from pathlib import Path
import shutil
import subprocess
import sys
import tempfile

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
_BUILT = {}


def project_files():
    """Tracked and new (not ignored) files: what a clone of this tree would hold."""
    out = subprocess.run(['git', 'ls-files', '--cached', '--others', '--exclude-standard'],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [f for f in out.splitlines() if (ROOT / f).is_file()]


def install_space():
    """Build the workspace once per session; return the package's install prefix."""
    if 'prefix' not in _BUILT:
        assert shutil.which('colcon', path=str(BIN)), 'colcon missing: `make venv` installs it'
        ws = Path(tempfile.mkdtemp(prefix='robotok_ws_'))
        atexit.register(shutil.rmtree, ws, True)
        for rel in project_files():
            dest = ws / 'src' / 'robotok_ros' / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest)
        env = dict(os.environ, PATH=f'{BIN}{os.pathsep}{os.environ["PATH"]}')
        proc = subprocess.run([str(BIN / 'colcon'), 'build', '--base-paths', 'src'], cwd=ws,
                              capture_output=True, text=True, env=env, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        _BUILT['prefix'] = ws / 'install' / 'robotok_ros'
    return _BUILT['prefix']


def site_packages(prefix):
    """Return the install space's site-packages folder."""
    return next(prefix.glob('lib/python3*/site-packages'))


def installed_env(prefix, **extra):
    """Environment in which the installed package (not the source tree) is found first."""
    env = dict(os.environ, AMENT_PREFIX_PATH=str(prefix),
               PYTHONPATH=os.pathsep.join([str(site_packages(prefix))] + [
                   p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]))
    env.pop('ROBOTOK_PROFILE_PATH', None)
    env.update(extra)
    return env
