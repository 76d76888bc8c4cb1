"""
Node parameters: declared with descriptors, checked, and turned into a profile + tokenizer.

A bad parameter never produces a traceback: it becomes a ``ConfigError`` naming
the parameter and its value, which ``base.run_node`` logs as FATAL before
exiting with status 2.
"""

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from robotok_ros.errors import ConfigError
from robotok_ros.profile_loader import load_profile
from robotok_ros.tokenizers.build import build_tokenizer, buildable_settings
from robotok_ros.tokenizers.registry import kinds


def _type_name(value):
    return {bool: 'a boolean', int: 'an integer', float: 'a number', str: 'a string'}.get(
        type(value), type(value).__name__)


def declare(node, name, default, description, *, read_only=True, int_range=None,
            float_range=None, choices=None):
    """
    Declare parameter ``name`` with a descriptor and return its value.

    ``int_range``/``float_range`` are inclusive ``(lo, hi)`` pairs enforced by
    rclpy (also on later ``set_parameters``); ``choices`` is checked here.  Any
    violation raises ConfigError naming the parameter and the value given.
    """
    desc = ParameterDescriptor(description=description, read_only=read_only)
    if int_range is not None:
        desc.integer_range = [IntegerRange(from_value=int_range[0], to_value=int_range[1],
                                           step=1)]
        desc.description += f' Range [{int_range[0]}, {int_range[1]}].'
    if float_range is not None:
        desc.floating_point_range = [FloatingPointRange(
            from_value=float(float_range[0]), to_value=float(float_range[1]), step=0.0)]
        desc.description += f' Range [{float_range[0]}, {float_range[1]}].'
    if choices:
        desc.additional_constraints = 'one of: ' + ', '.join(choices)
    try:
        value = node.declare_parameter(name, default, desc).value
    except Exception as exc:  # noqa: B902 - rclpy raises several ParameterException types
        given = getattr(node, '_parameter_overrides', {}).get(name)
        given = given.value if given is not None else '?'
        if int_range is not None or float_range is not None:
            lo, hi = int_range or float_range
            want = f'{_type_name(default)} in [{lo}, {hi}]'
        else:
            want = _type_name(default)
        raise ConfigError(f'parameter {name} must be {want}, got {given!r} '
                          f'({type(exc).__name__})') from None
    if choices and value not in choices:
        raise ConfigError(f'parameter {name} must be one of {", ".join(choices)}, '
                          f'got {value!r}')
    return value


def declare_tokenizer_parameters(node):
    """
    Declare robot/profile_path/tokenizer/tokenizer_path and every buildable setting.

    The settings parameters (``n_bins``, ``vocab_offset``, ...) are generated from
    the tokenizers' settings classes, so their names, defaults, ranges and
    descriptions are the ones the CLI and the tokenizers use.  Returns the values
    as a dict, with ``'given'``: the settings set away from their defaults.
    """
    values = {
        'robot': declare(node, 'robot', '', 'Robot profile: a shipped name, a name on '
                         'ROBOTOK_PROFILE_PATH or a YAML path; or set profile_path.'),
        'profile_path': declare(node, 'profile_path', '', 'Path to a robot profile YAML '
                                'file; or set robot.'),
        'tokenizer': declare(node, 'tokenizer', 'uniform', 'Tokenizer kind.',
                             choices=tuple(kinds())),
        'tokenizer_path': declare(node, 'tokenizer_path', '', 'Folder of a saved tokenizer '
                                  '(required for kinds that must be fitted).'),
    }
    given = {}
    for name, (kind_type, default, meta) in buildable_settings().items():
        lo, hi, choices = meta.get('lo'), meta.get('hi'), meta.get('choices')
        ranges = {}
        if kind_type is int and lo is not None and hi is not None:
            ranges['int_range'] = (lo, hi)
        elif kind_type is float and lo is not None and hi is not None:
            ranges['float_range'] = (lo, hi)
        value = declare(node, name, default, meta['help'], choices=choices, **ranges)
        if value != default:
            given[name] = value
    values['given'] = given
    return values


def _profile_from(values):
    robot, path = values['robot'], values['profile_path']
    if robot and path:
        raise ConfigError(f'parameters robot and profile_path: set one, got robot={robot!r} '
                          f'and profile_path={path!r}')
    if not (robot or path):
        return None
    name = 'robot' if robot else 'profile_path'
    try:
        return load_profile(robot or path)
    except ConfigError as exc:
        raise ConfigError(f'parameter {name}={robot or path!r}: {exc}') from None


def profile_and_tokenizer(values):
    """
    Build (robot profile, tokenizer) from the values of ``declare_tokenizer_parameters``.

    The robot profile (``robot`` or ``profile_path``) is required: frame, gripper
    commands and every safety limit come from it, never from a tokenizer folder,
    whose YAML anyone who can write the folder can edit.  A saved tokenizer
    (``tokenizer_path``) keeps its own fitted ranges for decoding and pairs with
    the robot profile by ``RobotProfile.fingerprint()``: the same dimension names,
    units and scales, control rate, frame and gripper convention.
    """
    profile = _profile_from(values)
    tok_path = values['tokenizer_path']
    if tok_path and profile is None:
        raise ConfigError(f'parameter tokenizer_path={tok_path!r} needs a robot profile: set '
                          'parameter robot or profile_path, because the safety limits come '
                          'from the robot profile, never from a tokenizer folder')
    tok = build_tokenizer(values['tokenizer'], profile, values['given'], tok_path,
                          name_of=lambda name: f'parameter {name}')
    if tok_path:
        check_pairing(profile, tok.profile, f'tokenizer_path={tok_path!r}')
    return profile, tok


def check_pairing(profile, tok_profile, what):
    """Raise ConfigError unless ``tok_profile`` has the action space of robot ``profile``."""
    robot_fp, tok_fp = profile.fingerprint(), tok_profile.fingerprint()
    if robot_fp != tok_fp:
        diffs = '; '.join(profile.identity_differences(tok_profile))
        raise ConfigError(f'parameter {what} does not pair with robot profile '
                          f'{profile.name!r}: fingerprints {robot_fp} (robot) vs {tok_fp} '
                          f'(tokenizer) differ in {diffs} (robot vs tokenizer)')
