"""
What every robotok node shares: parameter declaration, profile + tokenizer loading, main().

A bad parameter never produces a traceback: it becomes a ``ConfigError`` naming
the parameter and its value, which ``run_node`` logs as FATAL before exiting
with status 2.  Nodes publish a last safe command from ``on_shutdown`` while
the ROS context is still valid, which is why rclpy's own signal handlers are
replaced by plain Python ones (rclpy's shut the context down before ``finally``
runs, and a publish there fails).  Those handlers only set a flag: a signal
never raises inside a callback or the shutdown path, so a second Ctrl-C (or
``ros2 launch`` forwarding one of its own) cannot cut a zero command or a bag
close short.
"""

import signal

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from robotok_ros.errors import ConfigError, RobotokError
from robotok_ros.profile_loader import load_profile
from robotok_ros.tokenizers import KINDS, load_tokenizer, make_tokenizer, tokenizer_class

INT32_MAX = 2 ** 31 - 1
# Binning tokenizers' constructor arguments that come from node parameters.
BINNING_SETTINGS = {
    'uniform': ('n_bins', 'vocab_offset', 'layout'),
    'rt1': ('n_bins', 'vocab_offset', 'layout'),
    'quantile': ('n_bins', 'vocab_offset', 'layout'),
    'openvla': ('n_bins', 'text_vocab_size'),
}


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
    """Declare robot/profile_path/tokenizer/n_bins/... and return their values as a dict."""
    kinds = tuple(KINDS)
    return {
        'robot': declare(node, 'robot', '', 'Robot profile name (config/robots/<name>.yaml); '
                         'or set profile_path.'),
        'profile_path': declare(node, 'profile_path', '', 'Path to a robot profile YAML '
                                'file; or set robot.'),
        'tokenizer': declare(node, 'tokenizer', 'uniform', 'Tokenizer kind.', choices=kinds),
        'n_bins': declare(node, 'n_bins', 256, 'Bins per action dimension.',
                          int_range=(16, 4096)),
        'vocab_offset': declare(node, 'vocab_offset', 0, 'Id of the first action token '
                                '(uniform, rt1, quantile).', int_range=(0, INT32_MAX)),
        'layout': declare(node, 'layout', 'shared', 'Binning id layout: shared ids for every '
                          'dimension or disjoint per_dimension ranges.',
                          choices=('shared', 'per_dimension')),
        'text_vocab_size': declare(node, 'text_vocab_size', 32000, 'openvla: size of the '
                                   'text vocabulary whose last n_bins ids are actions.',
                                   int_range=(16, INT32_MAX)),
        'tokenizer_path': declare(node, 'tokenizer_path', '', 'Folder of a saved tokenizer '
                                  '(required for learned kinds: quantile, vq, fast).'),
    }


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
    Build (profile, tokenizer) from the values of ``declare_tokenizer_parameters``.

    A saved tokenizer (``tokenizer_path``) carries its own fitted profile; an
    explicit ``robot``/``profile_path`` then supplies frame, gripper and safety
    limits and must have the same dimension names.
    """
    kind = values['tokenizer']
    try:
        learned = tokenizer_class(kind).learned
    except ImportError as exc:
        raise ConfigError(f'parameter tokenizer={kind!r}: cannot be imported ({exc})') from None
    profile = _profile_from(values)
    tok_path = values['tokenizer_path']
    if tok_path:
        try:
            tok = load_tokenizer(tok_path)
        except RobotokError as exc:
            raise ConfigError(f'parameter tokenizer_path={tok_path!r}: {exc}') from None
        if tok.kind != kind:
            raise ConfigError(f'parameter tokenizer={kind!r} but tokenizer_path={tok_path!r} '
                              f'holds a {tok.kind!r} tokenizer')
        if profile is not None and profile.names != tok.profile.names:
            raise ConfigError(f'profile {profile.name!r} has dimensions {list(profile.names)} '
                              f'but tokenizer_path={tok_path!r} was saved for '
                              f'{list(tok.profile.names)}')
        return profile or tok.profile, tok
    if learned:
        raise ConfigError(f'parameter tokenizer_path must name a saved tokenizer folder for '
                          f'the learned kind {kind!r}, got {tok_path!r}')
    if profile is None:
        raise ConfigError("parameter robot or profile_path must be set, got robot='' and "
                          "profile_path=''")
    if kind == 'openvla' and values['vocab_offset']:
        raise ConfigError(f'parameter vocab_offset={values["vocab_offset"]!r} does not apply '
                          'to openvla (its ids end at text_vocab_size - 1); leave it 0')
    settings = {k: values[k] for k in BINNING_SETTINGS[kind]}
    try:
        return profile, make_tokenizer(kind, profile, **settings)
    except ConfigError as exc:
        raise ConfigError(f'tokenizer {kind!r} with {settings}: {exc}') from None


class StopRequest:
    """Signal handler that only records the signal: shutdown must run to its end."""

    def __init__(self):
        self.signum = None

    def __call__(self, signum, frame):
        if self.signum is None:
            self.signum = signum


def run_node(node_factory, name, args=None, spin_period=0.1):
    """
    Init rclpy, build the node with ``node_factory()``, spin it, shut down; return exit status.

    SIGINT/SIGTERM (any number of them) end the spin within ``spin_period``; the
    node's optional ``on_shutdown()`` then runs while publishing still works, and
    further signals are ignored until it has finished.  A node ends the spin itself
    by setting ``done = True``; its ``exit_status`` is returned.  A RobotokError from
    the factory is logged as FATAL (one line, no traceback): status 2.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    stop = StopRequest()
    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    node, status = None, 0
    try:
        if stop.signum is None:
            node = node_factory()
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            # A bounded wait lets the flag be seen (rcl_wait itself is not interrupted).
            while rclpy.ok() and stop.signum is None and not getattr(node, 'done', False):
                executor.spin_once(timeout_sec=spin_period)
            status = getattr(node, 'exit_status', 0)
    except RobotokError as exc:
        rclpy.logging.get_logger(name).fatal(str(exc))
        status = 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            hook = getattr(node, 'on_shutdown', None)
            try:
                if hook is not None and rclpy.ok():
                    hook()
            except Exception as exc:  # noqa: B902 - shutting down anyway; say why it failed
                node.get_logger().error(f'on_shutdown failed: {exc}')
            node.destroy_node()
        rclpy.try_shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status
