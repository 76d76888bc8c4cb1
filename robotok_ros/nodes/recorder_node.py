"""
episode_recorder: teleop tokens, continuous actions and raw teleop messages -> one bag per episode.

``~/start_episode`` and ``~/stop_episode`` (std_srvs/Trigger) open and close
an MCAP bag (``<output_dir>/episode_<index>``) via ``data.bag_writer``.  Messages
are taken serialized (``raw=True``) and written byte for byte, so recording
costs no deserialisation.  The task text is the ``task`` parameter, replaced
by the latest ``std_msgs/String`` on ``robotok/task``.  A flush timer makes the
bag durable every ``flush_period`` seconds; stop waits ``stop_grace`` seconds
for messages still in flight; shutdown closes an open bag cleanly.
The state topics in ``observation_topics`` (joint states and the end-effector
pose by default; sim_arm's task state in simulation) are recorded the same way and
named in the episode's metadata, so an export pairs each step with the robot state
the policy saw (``data/observations.py``).
``~/status`` (std_msgs/String, JSON) reports recording state and counts;
``/diagnostics`` (1 Hz) the level (``runtime/recorder_health.py``), messages
written and lost, last flush age, lag and disk errors.

A disk error (full disk, file too large) ends the episode with the bag readable
up to its last flush, or refuses a start; it is logged as ERROR (at most once
per ``error_log_period`` seconds, saying how many were held back) and the node keeps
running, ready for the next ``~/start_episode``.  Log lines are throttled by hand
on the monotonic clock (rclpy's throttle follows sim time, which may stand still).
"""

import importlib
import json
import os
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from robotok_ros.data.observations import TYPES as STATE_TYPES
from robotok_ros.data.wire import ACTION_TOPIC, ACTION_TYPE, OBSERVATION_TOPICS, relative, \
    TOKENS_TOPIC, TOKENS_TYPE
from robotok_ros.errors import ConfigError, DataError, DiskError
from robotok_ros.nodes.base import RobotokNode, run_node
from robotok_ros.nodes.parameters import declare, declare_tokenizer_parameters, \
    profile_and_tokenizer
from robotok_ros.runtime.recorder import RecorderCore
from robotok_ros.runtime.recorder_health import RecorderHealth
from std_msgs.msg import String
from std_srvs.srv import Trigger

NAME = 'episode_recorder'
ERROR_PERIOD = 5.0  # default s between two disk-error log lines (monotonic, not sim time)
LEVELS = {'OK': DiagnosticStatus.OK, 'WARN': DiagnosticStatus.WARN,
          'ERROR': DiagnosticStatus.ERROR}


def message_class(type_name, parameter='raw_topics'):
    """Return the rclpy message class of ``pkg/msg/Name`` (ConfigError when unknown)."""
    parts = type_name.split('/')
    if len(parts) != 3 or parts[1] != 'msg':
        raise ConfigError(f'parameter {parameter}: type must look like pkg/msg/Name, '
                          f'got {type_name!r}')
    try:
        return getattr(importlib.import_module(f'{parts[0]}.msg'), parts[2])
    except (ImportError, AttributeError):
        raise ConfigError(f'parameter {parameter}: message type {type_name!r} is not '
                          'installed') from None


def parse_raw_topics(entries, parameter='raw_topics'):
    """Return ``{topic: type}`` from ``['topic=pkg/msg/Name', ...]``."""
    out = {}
    for entry in entries:
        topic, sep, type_name = entry.partition('=')
        if not sep or not topic:
            raise ConfigError(f'parameter {parameter}: entries look like '
                              f'topic=pkg/msg/Name, got {entry!r}')
        out[topic] = type_name
    return out


class EpisodeRecorder(RobotokNode):
    """Record episodes on request; see the module docstring."""

    def __init__(self):
        super().__init__(NAME)
        values = declare_tokenizer_parameters(self)
        self.profile, self.tokenizer = profile_and_tokenizer(values)
        self.tokenizer_path = values['tokenizer_path']
        self.output_dir = os.path.expanduser(declare(
            self, 'output_dir', 'robotok_episodes', 'Folder the episode bags go to.'))
        self.task = declare(self, 'task', '', 'Task text stored with each episode; the '
                            'latest message on robotok/task replaces it.', read_only=False)
        raw = declare(self, 'raw_topics', [''], 'Raw teleop topics to record too, as '
                      'topic=pkg/msg/Name entries.')
        state = declare(self, 'observation_topics', [relative(t) for t in OBSERVATION_TOPICS],
                        'Robot state topics to record as observations (topic=pkg/msg/Name: '
                        'JointState, PoseStamped or JSON String); [""] records none.')
        self.flush_period = declare(self, 'flush_period', 0.5, 'Seconds between flushes: '
                                    'what a crash can lose at most.', float_range=(0.01, 60.0))
        self.fsync = declare(self, 'fsync', True, 'fsync every flush (survives power loss, '
                             'not only a killed process).')
        self.stop_grace = declare(self, 'stop_grace', 0.25, 'Seconds stop waits for '
                                  'messages still in flight.', float_range=(0.0, 10.0))
        self.error_period = declare(self, 'error_log_period', ERROR_PERIOD, 'Seconds between '
                                    'two disk-error log lines (the rest are counted).',
                                    float_range=(0.1, 3600.0))
        window = declare(self, 'diagnostics_window', 5.0, 'Seconds /diagnostics stays WARN '
                         'after flushes fell behind (a disk error stays ERROR until an episode '
                         'starts).', float_range=(0.1, 3600.0))
        start = declare(self, 'start_on_launch', False, 'Start episode 0.. at once.')
        depth = declare(self, 'qos_depth', 0, 'History depth of every subscription; 0 keeps '
                        'all (a reliable publisher then waits for the recorder rather than '
                        'overwrite what it has not taken yet).', int_range=(0, 100000))
        # Subscribed relative, so a recorder in a namespace records that arm's teleop topics;
        # the bag stores resolved names (read_bag finds '/<ns>/robotok/...' too).
        topics = {relative(TOKENS_TOPIC): TOKENS_TYPE, relative(ACTION_TOPIC): ACTION_TYPE}
        topics.update(parse_raw_topics([e for e in raw if e]))
        observed = parse_raw_topics([e for e in state if e], 'observation_topics')
        for topic, type_name in observed.items():
            if type_name not in STATE_TYPES:
                raise ConfigError(f'parameter observation_topics: {topic} has type '
                                  f'{type_name}; state is one of {", ".join(STATE_TYPES)}')
        topics.update(observed)
        qos = QoSProfile(depth=depth or 1, reliability=ReliabilityPolicy.RELIABLE,
                         history=HistoryPolicy.KEEP_LAST if depth else HistoryPolicy.KEEP_ALL)
        # State is sampled as-of per step, so a lost state message costs nothing: best effort
        # hears reliable and best-effort (sensor data) publishers alike.
        state_qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.BEST_EFFORT,
                               history=HistoryPolicy.KEEP_LAST)
        self.topics = {}
        for topic, type_name in topics.items():
            resolved = self.resolve_topic_name(topic)
            self.topics[resolved] = type_name
            self.create_subscription(message_class(type_name), topic,
                                     self._writer_callback(resolved),
                                     state_qos if topic in observed else qos, raw=True)
        self.create_subscription(String, 'robotok/task', self.on_task, 10)
        status_qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                                durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.status_pub = self.create_publisher(String, '~/status', status_qos)
        self.create_service(Trigger, '~/start_episode', self.on_start)
        self.create_service(Trigger, '~/stop_episode', self.on_stop)
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._error_logged, self._errors_held = None, 0
        self.core = RecorderCore(self.profile, self.tokenizer, self.output_dir, self.topics,
                                 values['tokenizer_path'], self.fsync, self.task,
                                 on_error=self.on_disk_error, flush_period=self.flush_period,
                                 observations=[self.resolve_topic_name(t) for t in observed])
        self.health = RecorderHealth(window)
        self.stop_timer = None
        self.create_timer(self.flush_period, self.core.flush)
        # A lambda: newer rclpy executors pass TimerInfo to a callback that takes an argument.
        self.create_timer(1.0, lambda: self.on_second())
        self.get_logger().info(f'recording {sorted(self.topics)} into {self.output_dir}')
        if start:
            try:
                self.start_episode()
            except DiskError:  # logged and on /diagnostics: wait for ~/start_episode
                pass
        self.publish_status()

    def _writer_callback(self, topic):
        def write(data):
            self.core.write(topic, self.get_clock().now().nanoseconds, data)
        return write

    def on_task(self, msg):
        """Use the latest task text for the next episode."""
        self.core.task = msg.data
        self.publish_status()

    # -- episodes --------------------------------------------------------------------------
    def start_episode(self):
        """Open the next episode's bag; return its path."""
        self._cancel_stop_timer()
        path = self.core.start(self.get_clock().now().nanoseconds)
        self.get_logger().info(f'episode started: {path} (task {self.core.task!r})')
        self.publish_status()
        return path

    def on_start(self, request, response):
        """~/start_episode: open a new bag (an open one must be stopped first)."""
        if self.core.recording:
            response.success = False
            response.message = f'already recording {self.core.writer.path}'
            return response
        try:
            path = self.start_episode()
        except DataError as exc:  # a DiskError was logged and is on /diagnostics already
            response.success, response.message = False, str(exc)
            self.publish_status()
            return response
        response.success, response.message = True, str(path)
        return response

    def on_stop(self, request, response):
        """~/stop_episode: close the bag after ``stop_grace`` seconds (messages in flight)."""
        path = self.core.request_stop()
        response.success, response.message = path is not None, str(path or 'not recording')
        if path is not None:
            self.stop_timer = self.create_timer(max(self.stop_grace, 1e-3), self._finish)
        return response

    def _cancel_stop_timer(self):
        if self.stop_timer is not None:
            self.destroy_timer(self.stop_timer)
            self.stop_timer = None

    def _finish(self):
        self._cancel_stop_timer()
        counts = self.core.finish()
        if counts is not None:
            self.get_logger().info(f'episode closed: {self.core.last_bag} {counts}')
            self.publish_status(counts)

    def publish_status(self, counts=None):
        """Publish recording state, the open or last bag and its message counts."""
        self.status_pub.publish(String(data=json.dumps(self.core.status(counts))))

    def on_disk_error(self, message):
        """Log a disk error as ERROR, throttled; tell status and diagnostics at once."""
        now = time.monotonic()
        if self._error_logged is None or now - self._error_logged >= self.error_period:
            held = f' ({self._errors_held} more held back)' if self._errors_held else ''
            self.get_logger().error(f'disk error: {message}{held}')
            self._error_logged, self._errors_held = now, 0
        else:
            self._errors_held += 1
        self.publish_status()
        self.publish_diagnostics()

    def on_second(self):
        """Publish status and diagnostics."""
        self.publish_status()
        self.publish_diagnostics()

    def publish_diagnostics(self):
        """Publish the recorder's level and values on /diagnostics."""
        now = time.monotonic()
        level, message = self.health.assess(self.core, now)
        status = DiagnosticStatus(name=f'{NAME}: recording', hardware_id=self.profile.name,
                                  level=LEVELS[level], message=message)
        status.values = [KeyValue(key=k, value=v)
                         for k, v in self.health.values(self.core, now).items()]
        arr = DiagnosticArray(status=[status])
        arr.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(arr)

    def on_shutdown(self):
        """Close an open bag cleanly."""
        self._finish()


def main(args=None):
    """Console script entry point of episode_recorder."""
    raise SystemExit(run_node(EpisodeRecorder, NAME, args))


if __name__ == '__main__':
    main()
