"""package.xml is honest: every run-time import has an exec_depend or a documented pip pin."""

import ast
from pathlib import Path
import re
import sys
import xml.etree.ElementTree as ElementTree

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = 'robotok_ros'

# Import name -> rosdep key.  Python keys are from ros/rosdistro rosdep/python.yaml; ROS
# packages are their own keys (each is in humble/, jazzy/ and kilted/distribution.yaml).
ROSDEP_KEYS = {
    'numpy': 'python3-numpy', 'yaml': 'python3-yaml', 'scipy': 'python3-scipy',
    'torch': 'python3-torch', 'tqdm': 'python3-tqdm', 'matplotlib': 'python3-matplotlib',
    'h5py': 'python3-h5py',
    **{name: name for name in ('rclpy', 'rcl_interfaces', 'std_msgs', 'geometry_msgs',
                               'sensor_msgs', 'diagnostic_msgs', 'std_srvs',
                               'rosgraph_msgs', 'ament_index_python', 'moveit_msgs')},
}
# Import name -> pip distribution, for modules rosdep has no (pinnable) key for.
PIP_NAMES = {'safetensors': 'safetensors', 'tokenizers': 'tokenizers',
             'vector_quantize_pytorch': 'vector-quantize-pytorch', 'pyarrow': 'pyarrow',
             'rosbags': 'rosbags', 'mujoco': 'mujoco'}
# Needed to run the launch files, not imported by the package: `ros2 launch` is ros2launch.
LAUNCH_TOOLS = {'ros2launch'}
KEY_PATTERN = re.compile(r'[a-z0-9][a-z0-9_.-]*')
# ``pkg/msg/Name`` in shipped configs and launch files: recorder_node imports ``pkg.msg``.
MSG_TYPE = re.compile(r'\b([a-z][a-z0-9_]*)/msg/[A-Z]\w*')


def imported_modules(source, filename='<string>'):
    """Return the top-level module names ``source`` imports, in functions too."""
    names = set()
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split('.')[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split('.')[0])
        elif (isinstance(node, ast.Call) and getattr(node.func, 'attr', '') == 'import_module'
              and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            names.add(node.args[0].value.split('.')[0])
    return names


def third_party_imports(files):
    """Return ``{module: [files]}`` of the non-stdlib, non-robotok imports in ``files``."""
    found = {}
    for path in files:
        for name in imported_modules(path.read_text(), str(path)):
            if name not in sys.stdlib_module_names and name != PACKAGE:
                found.setdefault(name, []).append(str(path.relative_to(ROOT)))
    return found


def exec_depends(path=ROOT / 'package.xml'):
    """Return the exec_depend texts of ``path`` in file order."""
    root = ElementTree.parse(path).getroot()
    assert root.tag == 'package' and root.get('format') == '3', f'{path}: not format 3'
    return [(dep.text or '') for dep in root.iter('exec_depend')]


def readme_pip_pins(path=ROOT / 'README.md'):
    """Return ``{distribution: version}`` of the pip lines in README's "For a ROS user"."""
    text = path.read_text()
    match = re.search(r'^## For a ROS user\n(.*?)(?=^## )', text, re.S | re.M)
    assert match, f'{path}: no "## For a ROS user" section'
    pins = {}
    for line in match.group(1).splitlines():
        if 'pip install' in line:
            command = line.split('#')[0]
            pins.update(re.findall(r'([A-Za-z0-9_.-]+)==([A-Za-z0-9_.+-]+)', command))
    return pins


def requirement_pins(path=ROOT / 'requirements.txt'):
    """Return ``{distribution: version}`` pinned in ``path`` and the files it ``-r`` includes."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split('#')[0].split(';')[0].strip()   # no comment, no env marker
        if line.startswith('-r '):
            pins.update(requirement_pins(path.parent / line[3:].strip()))
        elif '==' in line:
            name, version = line.split('==', 1)
            pins[name.strip()] = version.strip()
    return pins


def undeclared(modules, depends, pip_pins):
    """Return the messages for ``modules`` with neither an exec_depend nor a pip pin."""
    problems = []
    for name, files in sorted(modules.items()):
        if name in ROSDEP_KEYS:
            if ROSDEP_KEYS[name] not in depends:
                problems.append(f'{name} (imported in {files[0]}): package.xml lacks '
                                f'<exec_depend>{ROSDEP_KEYS[name]}</exec_depend>')
        elif name in PIP_NAMES:
            if PIP_NAMES[name] not in pip_pins:
                problems.append(f'{name} (imported in {files[0]}): README.md "For a ROS '
                                f'user" has no pip pin for {PIP_NAMES[name]}')
        else:
            problems.append(f'{name} (imported in {files[0]}): not in ROSDEP_KEYS or '
                            'PIP_NAMES of test_package_xml.py; add its rosdep key (or pip pin)')
    return problems


def package_imports():
    """Return the third-party imports of every .py file under robotok_ros/."""
    return third_party_imports(sorted((ROOT / PACKAGE).rglob('*.py')))


def shipped_message_packages():
    """Return the message packages named as ``pkg/msg/Name`` in config/ and launch/."""
    files = sorted((ROOT / 'config').rglob('*.yaml')) + sorted((ROOT / 'launch').glob('*.py'))
    return {pkg: [str(f.relative_to(ROOT))] for f in files
            for pkg in MSG_TYPE.findall(f.read_text())}


def test_every_run_time_import_is_declared():
    problems = undeclared(package_imports(), set(exec_depends()), readme_pip_pins())
    assert not problems, '\n'.join(problems)


def test_message_types_in_shipped_configs_are_declared():
    found = shipped_message_packages()
    assert 'geometry_msgs' in found       # the recorder's default raw_topics
    problems = undeclared(found, set(exec_depends()), {})
    assert not problems, '\n'.join(problems)


def test_checker_flags_an_undeclared_import():
    source = 'import numpy\n\ndef f():\n    import pandas\n    from rosbags import x\n'
    modules = {name: ['synthetic.py'] for name in imported_modules(source)}
    problems = undeclared(modules, {'python3-numpy'}, {})
    assert len(problems) == 2
    assert 'pandas' in problems[0] and 'rosbags' in problems[1]
    assert undeclared({'numpy': ['x.py']}, set(), {})[0].endswith(
        '<exec_depend>python3-numpy</exec_depend>')
    found = imported_modules('importlib.import_module("h5py")\nfrom . import sibling\n')
    assert found == {'h5py'}


def test_exec_depends_are_well_formed_and_each_one_is_needed():
    depends = exec_depends()
    bad = [d for d in depends if not KEY_PATTERN.fullmatch(d)]
    assert not bad, f'package.xml: malformed exec_depend keys {bad}'
    assert len(depends) == len(set(depends)), f'package.xml: duplicate exec_depend {depends}'
    # A pip key (python3-*-pip) cannot be released as a binary package.
    assert not [d for d in depends if d.endswith('-pip')], depends
    launch_files = sorted((ROOT / 'launch').glob('*.launch.py'))
    used = {ROSDEP_KEYS[m] for m in package_imports() if m in ROSDEP_KEYS}
    used |= set(third_party_imports(launch_files)) | LAUNCH_TOOLS
    stale = [d for d in depends if d not in used]
    assert not stale, (f'package.xml: exec_depend {stale} is neither imported by {PACKAGE}/ '
                       'nor needed at launch time')


def test_readme_pip_pins_match_requirements():
    pins = readme_pip_pins()
    wanted = {**requirement_pins(), **requirement_pins(ROOT / 'requirements-nodeps.txt')}
    assert set(pins) >= set(PIP_NAMES.values()), sorted(pins)
    wrong = {name: (version, wanted.get(name)) for name, version in pins.items()
             if wanted.get(name) != version}
    assert not wrong, f'README.md pip pins differ from requirements.txt: {wrong}'
