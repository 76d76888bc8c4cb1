"""
Find, read and validate robot profile YAML files.

Profiles live in ``config/robots``: in the source tree when robotok_ros runs
from a checkout or an editable install, in ``share/robotok_ros/config/robots``
after ``colcon build``.  ``ROBOTOK_PROFILE_PATH`` (colon-separated folders)
is searched first, so a lab can keep its own robots outside the package.
"""

import os
from pathlib import Path

from robotok_ros.errors import ConfigError
from robotok_ros.robot_profile import Dimension, Gripper, RobotProfile, Safety
import yaml

TOP_KEYS = {'name', 'description', 'frame_id', 'control_rate_hz', 'dimensions', 'gripper',
            'safety'}
REQUIRED_TOP = ('name', 'frame_id', 'control_rate_hz', 'dimensions', 'safety')
DIM_KEYS = {'name', 'unit', 'min', 'max', 'scale', 'q01', 'q99'}
GRIPPER_KEYS = {'dimension', 'mode', 'open_value', 'closed_value', 'command_open',
                'command_closed'}
SAFETY_KEYS = {'max_linear_speed', 'max_angular_speed'}


def config_dirs():
    """Folders that may hold ``robots/<name>.yaml``, in search order."""
    dirs = [Path(p) for p in os.environ.get('ROBOTOK_PROFILE_PATH', '').split(os.pathsep) if p]
    dirs.append(Path(__file__).resolve().parent.parent / 'config')
    try:
        from ament_index_python.packages import get_package_share_directory
        dirs.append(Path(get_package_share_directory('robotok_ros')) / 'config')
    except Exception:  # noqa: B902 - not installed with colcon: the source tree is enough
        pass
    return dirs


def list_profiles():
    """Names of every profile found, sorted."""
    names = set()
    for base in config_dirs():
        names.update(p.stem for p in (base / 'robots').glob('*.yaml'))
    return sorted(names)


def find_profile(name_or_path):
    """Resolve a profile name (``ur5e``) or a path to a YAML file."""
    text = str(name_or_path)
    if text.endswith(('.yaml', '.yml')) or os.sep in text:
        path = Path(text)
        if not path.is_file():
            raise ConfigError(f'profile file {text!r} does not exist')
        return path
    for base in config_dirs():
        path = base / 'robots' / f'{text}.yaml'
        if path.is_file():
            return path
    raise ConfigError(f'unknown robot profile {text!r}; known: {", ".join(list_profiles())}')


def _check_keys(data, allowed, source, where):
    if not isinstance(data, dict):
        raise ConfigError(f'{source}: {where} must be a mapping, got {data!r}')
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(f'{source}: unknown key {where + "." if where else ""}{unknown[0]} '
                          f'(allowed: {", ".join(sorted(allowed))})')


def profile_from_dict(data, source='<dict>'):
    """Build a validated RobotProfile from parsed YAML; ``source`` names it in errors."""
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
    _check_keys(data['safety'], SAFETY_KEYS, source, 'safety')
    for key in sorted(SAFETY_KEYS):
        if key not in data['safety']:
            raise ConfigError(f'{source}: safety is missing required key {key}')
    safety = Safety(source=source, **data['safety'])
    return RobotProfile(name=data['name'], description=str(data.get('description', '')),
                        frame_id=data['frame_id'], control_rate_hz=data['control_rate_hz'],
                        dimensions=tuple(dims), gripper=gripper, safety=safety, source=source)


def load_profile(name_or_path):
    """Load a profile by name or path; every error names the file, key and value."""
    if isinstance(name_or_path, RobotProfile):
        return name_or_path
    path = find_profile(name_or_path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f'{path}: not valid YAML: {exc}') from None
    except OSError as exc:
        raise ConfigError(f'{path}: cannot be read: {exc.strerror}') from None
    return profile_from_dict(data, source=str(path))


def save_profile(profile, path):
    """Write ``profile`` as YAML to ``path``."""
    Path(path).write_text(profile.to_yaml())
