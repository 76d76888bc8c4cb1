"""
The base every robotok node runs on: an explicit end state, a safe shutdown, main().

A node ends its own spin with ``finish(status)`` and sends its last safe command
from ``on_shutdown``, which ``run_node`` calls while the ROS context is still
valid.  That is why rclpy's own signal handlers are replaced by plain Python
ones (rclpy's shut the context down before ``finally`` runs, and a publish there
fails).  Those handlers only set a flag: a signal never raises inside a callback
or the shutdown path, so a second Ctrl-C (or ``ros2 launch`` forwarding one of
its own) cannot cut a zero command or a bag close short.

Once a node is built, every parameter given to it (``-p``, parameter files,
launch) must be one it declared: a misspelt ``start_enable:=false`` would
otherwise be ignored in silence and the default used.  ``run_node`` makes that
one FATAL line naming the parameter and its close matches, exit status 2.
"""

import difflib
import signal

from rclpy.node import Node
from robotok_ros.errors import ConfigError, RobotokError

# Parameters rclpy itself reads from overrides without this package declaring them.
RCLPY_OWN = ('use_sim_time', 'start_type_description_service')
RCLPY_OWN_PREFIXES = ('qos_overrides.',)


class RobotokNode(Node):
    """An rclpy Node with the end state and shutdown hook that ``run_node`` uses."""

    def __init__(self, name, **node_kwargs):
        super().__init__(name, **node_kwargs)
        self.done = False
        self.exit_status = 0

    def finish(self, status=0):
        """End the spin: ``run_node`` returns ``status`` after ``on_shutdown``."""
        self.done, self.exit_status = True, status

    def on_shutdown(self):
        """Send a last safe command before the node is destroyed (nothing by default)."""

    def check_parameter_overrides(self):
        """Raise ConfigError for a given parameter this node never declared (close matches)."""
        given = getattr(self, '_parameter_overrides', {})
        unknown = sorted(n for n in given if not self.has_parameter(n) and n not in RCLPY_OWN
                         and not n.startswith(RCLPY_OWN_PREFIXES))
        if not unknown:
            return
        declared = sorted(self._parameters)
        parts = []
        for name in unknown:
            close = difflib.get_close_matches(name, declared, n=3, cutoff=0.6)
            parts.append(f'{name} (did you mean {" or ".join(close)}?)' if close else
                         f'{name} (no parameter of that name or close to it)')
        raise ConfigError(f'{self.get_name()} has no parameter {"; ".join(parts)}: it was '
                          f'given but never declared ({len(declared)} are declared)')


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

    ``node_factory`` returns a ``RobotokNode``.  SIGINT/SIGTERM (any number of
    them) end the spin within ``spin_period``; the node's ``on_shutdown()`` then
    runs while publishing still works, and further signals are ignored until it
    has finished.  A node ends the spin itself with ``finish(status)``.  A
    RobotokError from the factory is logged as FATAL (one line, no traceback):
    status 2.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    stop = StopRequest()
    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    node, executor, status = None, None, 0
    try:
        if stop.signum is None:
            built = node_factory()
            try:
                built.check_parameter_overrides()
            except RobotokError:
                built.destroy_node()  # never spun: nothing to stop
                raise
            node = built
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            # A bounded wait lets the flag be seen (rcl_wait itself is not interrupted).
            while rclpy.ok() and stop.signum is None and not node.done:
                executor.spin_once(timeout_sec=spin_period)
            status = node.exit_status
    except RobotokError as exc:
        rclpy.logging.get_logger(name).fatal(str(exc))
        status = 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            try:
                if rclpy.ok():
                    node.on_shutdown()
            except Exception as exc:  # noqa: B902 - shutting down anyway; say why it failed
                node.get_logger().error(f'on_shutdown failed: {exc}')
            node.destroy_node()
        if executor is not None:
            # Before rclpy shuts down: a garbage-collected executor would destroy its guard
            # condition after, and rclpy prints an ignored-exception traceback at exit.
            executor.shutdown()
        rclpy.try_shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status
