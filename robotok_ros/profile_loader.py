"""
Find, read and validate robot profile YAML files.

Profiles live in ``config/robots``: in the source tree when robotok_ros runs
from a checkout or an editable install, in ``share/robotok_ros/config/robots``
after ``colcon build``.  ``ROBOTOK_PROFILE_PATH`` (os.pathsep-separated
folders, each holding ``robots/<name>.yaml`` or the ``<name>.yaml`` files
themselves) is searched first, so a lab can keep its own robots outside the
package and override a shipped one of the same name.
"""

import os
from pathlib import Path

from robotok_ros.errors import ConfigError
from robotok_ros.robot_profile import Dimension, Gripper, RobotProfile, Safety, Workspace
import yaml

TOP_KEYS = {'name', 'description', 'frame_id', 'control_rate_hz', 'dimensions', 'gripper',
            'safety'}
REQUIRED_TOP = ('name', 'frame_id', 'control_rate_hz', 'dimensions', 'safety')
DIM_KEYS = {'name', 'unit', 'min', 'max', 'scale', 'q01', 'q99', 'column', 'controller_limits'}
GRIPPER_KEYS = {'dimension', 'mode', 'open_value', 'closed_value', 'command_open',
                'command_closed'}
SAFETY_KEYS = {'max_linear_speed', 'max_angular_speed', 'max_linear_accel', 'max_angular_accel',
               'workspace'}
SAFETY_REQUIRED = ('max_angular_speed', 'max_linear_speed')
WORKSPACE_KEYS = {'min', 'max'}


def _env_dirs():
    return [Path(p) for p in os.environ.get('ROBOTOK_PROFILE_PATH', '').split(os.pathsep) if p]


def config_dirs():
    """Folders that may hold ``robots/<name>.yaml``, in search order."""
    dirs = _env_dirs()
    dirs.append(Path(__file__).resolve().parent.parent / 'config')
    try:
        from ament_index_python.packages import get_package_share_directory
        dirs.append(Path(get_package_share_directory('robotok_ros')) / 'config')
    except Exception:  # noqa: B902 - not installed with colcon: the source tree is enough
        pass
    return dirs


def _robot_dirs():
    # A ROBOTOK_PROFILE_PATH entry may be a config folder (holding robots/) or the folder of
    # YAML files itself: pointing one level too deep is an easy mistake to make. A folder
    # with robots/ in it is never read flat, so node parameter files beside it stay out.
    env = _env_dirs()
    for base in config_dirs():
        robots = base / 'robots'
        yield base if base in env and not robots.is_dir() else robots


def _declared_name(path):
    # The name: field a file gives itself, or None when it cannot be read as a profile.
    try:
        data = yaml.safe_load(path.read_text(encoding='utf-8'))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    name = data.get('name') if isinstance(data, dict) else None
    return name if isinstance(name, str) and name else None


def _folder_profiles(folder):
    # (name, path) of each YAML file: its file name, and its name: field when that differs,
    # so a profile written by `robotok fit --name X --out any.yaml` is found as X.
    for path in sorted(folder.glob('*.yaml')):
        yield path.stem, path
        declared = _declared_name(path)
        if declared and declared != path.stem:
            yield declared, path


def list_profiles():
    """Names of every profile found (a file's ``name:`` field, else its file name), sorted."""
    names = set()
    for folder in _robot_dirs():
        # The name a file declares is the one to pass as --robot (its file name works too).
        names.update(_declared_name(p) or p.stem for p in folder.glob('*.yaml'))
    return sorted(names)


def find_profile(name_or_path):
    """Resolve a profile name (``ur5e``) or a path to a YAML file."""
    text = str(name_or_path)
    if text.endswith(('.yaml', '.yml')) or os.sep in text:
        path = Path(text)
        if not path.exists():
            raise ConfigError(f'profile file {text!r} does not exist')
        if not path.is_file():
            raise ConfigError(f'profile file {text!r} is not a file')
        return path
    for folder in _robot_dirs():
        path = folder / f'{text}.yaml'
        if path.is_file():
            return path
        # A file named otherwise that declares this name: a file name match in any
        # folder searched later does not win over it, as folder order is the override order.
        found = [p for name, p in _folder_profiles(folder) if name == text]
        if len(found) > 1:
            raise ConfigError(f'robot profile {text!r} is declared by {len(found)} files in '
                              f'{folder}: {", ".join(p.name for p in found)}; rename one')
        if found:
            return found[0]
    known = ', '.join(list_profiles()) or '(none found)'
    raise ConfigError(f'unknown robot profile {text!r}; known: {known}')


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects a key given twice (PyYAML silently keeps the last one)."""


def _construct_unique_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        if key_node.tag == 'tag:yaml.org,2002:merge':
            continue
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, f'unhashable key {key!r}', key_node.start_mark) from None
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f'key {key!r} appears twice', key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                 _construct_unique_mapping)


def _yaml_problem(exc):
    # str(YAMLError) spans several lines; a CLI error must stay on one line.
    problem = getattr(exc, 'problem', None) or str(exc).splitlines()[0]
    mark = getattr(exc, 'problem_mark', None)
    where = f' at line {mark.line + 1}, column {mark.column + 1}' if mark is not None else ''
    return f'{problem}{where}'


def _check_keys(data, allowed, source, where):
    if not isinstance(data, dict):
        raise ConfigError(f'{source}: {where} must be a mapping, got {data!r}')
    # str() sort key: YAML keys may be ints or None, which do not compare with strings.
    unknown = sorted(set(data) - allowed, key=str)
    if unknown:
        raise ConfigError(f'{source}: unknown key {where + "." if where else ""}{unknown[0]} '
                          f'(allowed: {", ".join(sorted(allowed))})')


def _safety(data, source):
    _check_keys(data, SAFETY_KEYS, source, 'safety')
    for key in SAFETY_REQUIRED:
        if key not in data:
            raise ConfigError(f'{source}: safety is missing required key {key}')
    fields = dict(data)
    box = fields.pop('workspace', None)
    if box is not None:
        _check_keys(box, WORKSPACE_KEYS, source, 'safety.workspace')
        for key in ('min', 'max'):
            if key not in box:
                raise ConfigError(f'{source}: safety.workspace is missing required key {key}')
        box = Workspace(source=source, **box)
    return Safety(source=source, workspace=box, **fields)


def profile_from_dict(data, source='<dict>'):
    """Build a validated RobotProfile from parsed YAML; ``source`` names it in errors."""
    if data is None:
        raise ConfigError(f'{source}: the profile is empty; expected a mapping with keys '
                          f'{", ".join(REQUIRED_TOP)}')
    if not isinstance(data, dict):
        raise ConfigError(f'{source}: a profile must be a mapping at the top level, '
                          f'got {type(data).__name__}')
    _check_keys(data, TOP_KEYS, source, '')
    for key in REQUIRED_TOP:
        if key not in data:
            raise ConfigError(f'{source}: missing required key {key}')
    dims_data = data['dimensions']
    if not isinstance(dims_data, list) or not dims_data:
        raise ConfigError(f'{source}: dimensions must be a non-empty list, got {dims_data!r}')
    dims = []
    for i, entry in enumerate(dims_data):
        _check_keys(entry, DIM_KEYS, source, f'dimensions[{i}]')
        for key in ('name', 'min', 'max'):
            if key not in entry:
                raise ConfigError(f'{source}: dimensions[{i}] is missing required key {key}')
        fields = dict(entry)
        fields['low'], fields['high'] = fields.pop('min'), fields.pop('max')
        dims.append(Dimension(source=source, **fields))
    gripper = None
    if data.get('gripper') is not None:
        _check_keys(data['gripper'], GRIPPER_KEYS, source, 'gripper')
        for key in ('dimension', 'open_value', 'closed_value'):
            if key not in data['gripper']:
                raise ConfigError(f'{source}: gripper is missing required key {key}')
        gripper = Gripper(source=source, **data['gripper'])
    safety = _safety(data['safety'], source)
    description = data.get('description')
    description = '' if description is None else str(description)
    return RobotProfile(name=data['name'], description=description,
                        frame_id=data['frame_id'], control_rate_hz=data['control_rate_hz'],
                        dimensions=tuple(dims), gripper=gripper, safety=safety, source=source)


def load_profile(name_or_path):
    """Load a profile by name or path; every error names the file, key and value."""
    if isinstance(name_or_path, RobotProfile):
        return name_or_path
    path = find_profile(name_or_path)
    return profile_from_dict(read_yaml(path), source=str(path))


def read_yaml(path):
    """
    Parse YAML file ``path`` safely; any problem is one ConfigError line naming the file.

    Safe means no Python tags (``!!python/object``), and a key given twice is an error.
    """
    try:
        return yaml.load(Path(path).read_text(encoding='utf-8'), Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f'{path}: not valid YAML: {_yaml_problem(exc)}') from None
    except UnicodeDecodeError:
        raise ConfigError(f'{path}: not UTF-8 text') from None
    except OSError as exc:
        raise ConfigError(f'{path}: cannot be read: {exc.strerror}') from None


def save_profile(profile, path):
    """Write ``profile`` as YAML to ``path``."""
    Path(path).write_text(profile.to_yaml())
