"""
token_policy: a trained token policy on the robot: state in, action tokens out.

A thin rclpy shell over ``runtime.policy_runner``.  It subscribes to the state
topics the policy was trained on (``observation_topics``, as episode_recorder
records them), runs the policy at the profile's control rate with numpy only
(``policy/infer.py``: the robot needs no torch), and publishes the tokens on
``robotok/action_tokens`` for token_decoder, labelled ``step=<i>;stamp=<ns>``
like teleop_tokenizer's: ``[1, D]`` per step, or one dimension of N ids per chunk.
A missing or stale state topic: no tokens (the decoder's watchdog stops the arm),
counted.  ``~/reset`` (Trigger) starts a new episode; ``/diagnostics`` (1 Hz) has
the policy's time per step, tokens sent, stale inputs by topic and errors.
"""

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from robotok_ros.data.observations import TYPES as STATE_TYPES
from robotok_ros.data.wire import OBSERVATION_TOPICS, relative, step_label
from robotok_ros.errors import ConfigError
from robotok_ros.nodes.base import RobotokNode, run_node
from robotok_ros.nodes.parameters import declare
from robotok_ros.nodes.recorder_node import message_class, parse_raw_topics
from robotok_ros.profile_loader import load_profile
from robotok_ros.runtime.policy_runner import PolicyRunner
from std_msgs.msg import Int32MultiArray, MultiArrayDimension
from std_srvs.srv import Trigger

NAME = 'token_policy'


class TokenPolicy(RobotokNode):
    """Run a token policy at the control rate; see the module docstring."""

    def __init__(self):
        super().__init__(NAME)
        from robotok_ros.policy.infer import load_policy
        path = declare(self, 'policy_path', '', 'Policy folder (policy.yaml + '
                       'policy.safetensors) written by robotok train-policy.')
        if not path:
            raise ConfigError('parameter policy_path is required: the folder robotok '
                              'train-policy wrote')
        self.profile = load_profile(declare(self, 'robot', 'franka_panda', 'Robot profile '
                                            '(name or YAML path): the control rate.'))
        entries = declare(self, 'observation_topics', [relative(t) for t in OBSERVATION_TOPICS],
                          'State topics (topic=pkg/msg/Name), as episode_recorder recorded '
                          'them for training.')
        max_age = declare(self, 'max_state_age', 0.2, 'Seconds after which a state topic is '
                          'stale (no tokens).', float_range=(0.001, 60.0))
        topics = parse_raw_topics([e for e in entries if e], 'observation_topics')
        for topic, type_name in topics.items():
            if type_name not in STATE_TYPES:
                raise ConfigError(f'parameter observation_topics: {topic} has type '
                                  f'{type_name}; state is one of {", ".join(STATE_TYPES)}')
        self.policy = load_policy(path)
        resolved = {self.resolve_topic_name(t): ty for t, ty in topics.items()}
        self.runner = PolicyRunner(self.policy, resolved, max_age)
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT,
                         history=HistoryPolicy.KEEP_LAST)
        for topic, type_name in resolved.items():
            self.create_subscription(message_class(type_name, 'observation_topics'), topic,
                                     self._observer(topic), qos)
        self.pub = self.create_publisher(Int32MultiArray, 'robotok/action_tokens', 10)
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_service(Trigger, '~/reset', self.on_reset)
        self.step, self._last_totals = 0, (0, 0)
        self.create_timer(1.0 / self.profile.control_rate_hz, self.on_tick)
        self.create_timer(1.0, lambda: self.on_diagnostics())
        self.get_logger().info(f'policy {path}: {len(self.policy.state_names)} state values '
                               f'from {sorted(resolved)} at {self.profile.control_rate_hz:g} '
                               'Hz')

    def _observer(self, topic):
        def observe(msg):
            stamp = getattr(msg, 'header', None)
            ns = stamp.stamp.sec * 10 ** 9 + stamp.stamp.nanosec if stamp else 0
            self.runner.observe(topic, msg, ns or self.get_clock().now().nanoseconds)
        return observe

    def on_reset(self, request, response):
        """~/reset: a new episode (state and history forgotten)."""
        self.runner.reset()
        response.success, response.message = True, 'reset'
        return response

    def on_tick(self):
        """One control step: the latest state -> the policy -> one token message if due."""
        now = self.get_clock().now().nanoseconds
        ids = self.runner.tick(now)
        if ids is not None:
            self.pub.publish(self._message(ids, now))
        self.step += 1

    def _message(self, ids, now):
        msg = Int32MultiArray(data=[int(i) for i in ids])
        label = step_label(self.step, now)
        dim = self.profile.dim
        per_step = self.policy.chunk_steps == 1 and len(ids) == dim
        sizes = [(label, 1, dim), ('action', dim, dim)] if per_step else \
            [(label, len(ids), len(ids))]
        msg.layout.dim = [MultiArrayDimension(label=a, size=b, stride=c) for a, b, c in sizes]
        return msg

    def on_diagnostics(self):
        """Publish time per step, tokens sent, stale inputs and errors (1 Hz)."""
        r = self.runner
        p50, worst = r.latency_ms()
        values = {'policy_ms_p50': f'{p50:.3f}', 'policy_ms_max': f'{worst:.3f}',
                  'messages': r.published, 'ticks': r.ticks, 'errors': r.errors,
                  'last_error': r.last_error,
                  **{f'stale {t}': n for t, n in r.stale.items()}}
        # The level tells the last second, not the node's whole life (counters are totals).
        totals = (r.errors, sum(r.stale.values()))
        bad = totals != self._last_totals
        self._last_totals = totals
        status = DiagnosticStatus(name=f'{NAME}: policy', hardware_id=self.profile.name,
                                  level=DiagnosticStatus.WARN if bad else DiagnosticStatus.OK,
                                  message='stale state or errors' if bad else 'running')
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        arr = DiagnosticArray(status=[status])
        arr.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(arr)


def main(args=None):
    """Run token_policy."""
    raise SystemExit(run_node(TokenPolicy, NAME, args))
