"""
token_decoder's own parameters, and the ones an operator may change while it runs.

Live (``ros2 param set``): ``max_linear_speed``, ``max_angular_speed``,
``max_linear_accel``, ``max_angular_accel`` (each defaults to the robot
profile's and may only be lowered below it; an acceleration of 0 means no limit
and is allowed only where the profile sets none), ``command_timeout`` (up to
its start-up value) and ``dry_run``.  Everything else is read-only, among it
``publish_rate`` (the keep-alive, ``runtime.keepalive``) and ``servo_activation``
(``nodes.servo_activation``).  Motion
itself is enabled only through the ``~/enable`` service.
"""

from types import SimpleNamespace

from rcl_interfaces.msg import SetParametersResult
from robotok_ros.errors import ConfigError
from robotok_ros.nodes.parameters import declare
from robotok_ros.nodes.servo_activation import MODES
from robotok_ros.runtime.playout import POLICIES

LIMITS = ('max_linear_speed', 'max_angular_speed', 'max_linear_accel', 'max_angular_accel')
ACCELS = ('max_linear_accel', 'max_angular_accel')


def declare_decoder_parameters(node):
    """Declare the decoder's settings (not the limits, see below); return them by name."""
    d = declare
    return SimpleNamespace(
        output_mode=d(node, 'output_mode', 'twist', 'twist: TwistStamped for Servo; pose: '
                      'PoseStamped targets integrated onto the measured pose.',
                      choices=('twist', 'pose')),
        start_enabled=d(node, 'start_enabled', False, 'Move as soon as tokens arrive; false '
                        '(the default) waits for ~/enable. With a workspace box, motion '
                        'starts once a fresh pose arrives.'),
        command_timeout=d(node, 'command_timeout', 0.5, 'Seconds without new valid input '
                          'before the watchdog stops the arm (queued steps do not count). '
                          'Live: may be lowered.', read_only=False, float_range=(0.001, 60.0)),
        stop_repeats=d(node, 'stop_repeats', 3, 'Zero commands sent per watchdog trip.',
                       int_range=(1, 1000)),
        chunk_policy=d(node, 'chunk_policy', 'replace', 'How a new chunk meets the queued '
                       'steps of the last one.', choices=POLICIES),
        ensemble_decay=d(node, 'ensemble_decay', 0.01, 'ACT ensemble weight exp(-m i).',
                         float_range=(0.0, 10.0)),
        max_queue_seconds=d(node, 'max_queue_seconds', 1.0, 'Most motion one message may '
                            'queue; a longer chunk is rejected (too_long).',
                            float_range=(0.001, 60.0)),
        pose_max_age=d(node, 'pose_max_age', 0.2, 'Seconds a pose on robotok/ee_pose stays '
                       'fresh (pose targets, workspace box).', float_range=(0.001, 10.0)),
        dry_run=d(node, 'dry_run', False, 'Publish would-be commands on robotok/dry_run/* '
                  'instead of the command topics. Live.', read_only=False),
        token_qos_reliability=d(node, 'token_qos_reliability', 'reliable', 'QoS reliability '
                                'of the token subscription.',
                                choices=('reliable', 'best_effort')),
        token_qos_depth=d(node, 'token_qos_depth', 100, 'QoS depth of the token '
                          'subscription.', int_range=(1, 10000)),
        publish_rate=d(node, 'publish_rate', 100.0, 'Twists per second within a control '
                       'step: its twist is repeated (fresh stamp) so Servo never '
                       'times out mid-step, then a zero ends the step unless the next one '
                       'is queued. 0 (or at most the control rate): one twist per step.',
                       float_range=(0.0, 1000.0)),
        servo_activation=d(node, 'servo_activation', 'auto', 'On enable, activate MoveIt '
                           'Servo: humble (servo_node/start_servo), jazzy (pause_servo '
                           'false + switch_command_type; needs moveit_msgs), auto (what the '
                           'graph offers), off.', choices=MODES),
    )


def declare_limit_parameters(node, core):
    """Declare the live limits (defaults: the profile's) and apply their start-up values."""
    ceiling, given = core.ceiling, {}
    for name in LIMITS:
        top = getattr(ceiling, name)
        unit = 'm' if 'linear' in name else 'rad'
        what = f'{unit}/s^2; 0: no limit' if name in ACCELS else f'{unit}/s'
        value = declare(node, name, 0.0 if top is None else top,
                        f'{name} ({what}); profile limit: '
                        f'{"none" if top is None else f"{top:g}"}; live: may be '
                        'lowered, never raised above the profile.', read_only=False,
                        float_range=(0.0, 1e6))
        given[name] = limit_value(name, value)
    try:
        core.set_limits(**given)
    except ConfigError as exc:
        raise ConfigError(f'parameter {exc}') from None


def limit_value(name, value):
    """Return a limit parameter's value for the core: 0 acceleration -> None (no limit)."""
    if name in ACCELS and value == 0.0:
        return None
    if value <= 0.0:
        raise ConfigError(f'{name} must be > 0, got {value!r}')
    return float(value)


def live_changes(params):
    """Split parameters being set into (limit changes, command_timeout, dry_run); validate."""
    limits, timeout, dry = {}, None, None
    for p in params:
        if p.name in LIMITS:
            limits[p.name] = limit_value(p.name, p.value)
        elif p.name == 'command_timeout':
            timeout = p.value
        elif p.name == 'dry_run':
            dry = bool(p.value)
    return limits, timeout, dry


def refused(reason):
    """Return the SetParametersResult of a refused change, ``reason`` in its text."""
    return SetParametersResult(successful=False, reason=reason)


def accepted():
    """Return the SetParametersResult of an accepted change."""
    return SetParametersResult(successful=True)
