"""
token_decoder's topics: command outputs (real or dry-run), the token QoS and its events.

Commands go where robots listen (MoveIt Servo twists or pose targets, a
ros2_control gripper); with ``dry_run`` the same commands go to
``robotok/dry_run/delta_twist_cmds`` (``.../pose_target_cmds``) and
``robotok/dry_run/gripper`` instead, never to the command topics.
"""

from array import array

from geometry_msgs.msg import PoseStamped, TwistStamped
from rclpy.duration import Duration
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import Float64MultiArray, MultiArrayDimension

QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
RELIABILITY = {'reliable': ReliabilityPolicy.RELIABLE,
               'best_effort': ReliabilityPolicy.BEST_EFFORT}
GRIP_RESEND_NS = 10 ** 9
DRY = 'robotok/dry_run/'


def quiet_events():
    """Return publisher event callbacks without rclpy's defaults (None where unsupported)."""
    try:
        from rclpy.event_handler import PublisherEventCallbacks
    except ImportError:  # Humble
        from rclpy.qos_event import PublisherEventCallbacks
    try:
        return PublisherEventCallbacks(use_default_callbacks=False)
    except TypeError:
        return None


def token_qos(reliability, depth):
    """Return the token subscription's QoS: ``reliable`` or ``best_effort``, ``depth`` deep."""
    return QoSProfile(depth=depth, reliability=RELIABILITY[reliability])


def token_events(incompatible, lost):
    """Return subscription event callbacks to try in turn: with message_lost, then without."""
    try:
        from rclpy.event_handler import SubscriptionEventCallbacks
    except ImportError:  # Humble: the same class, message_lost included (qos_event.py:129)
        from rclpy.qos_event import SubscriptionEventCallbacks
    return [SubscriptionEventCallbacks(incompatible_qos=incompatible, message_lost=lost),
            SubscriptionEventCallbacks(incompatible_qos=incompatible)]


def throttled_log(logger, throttle, key, text, level='warn'):
    """Log ``text`` at ``level`` unless ``throttle`` holds ``key`` back; say how many it held."""
    held = throttle.allow(key)
    if held is None:
        return
    text += f' ({held} more like this since the last)' if held else ''
    # One call site per level: rclpy (Humble, Jazzy) raises ValueError when one call site
    # logs at a second level.
    if level == 'warn':
        logger.warn(text)
    elif level == 'error':
        logger.error(text)
    else:
        logger.info(text)


class Outputs:
    """The command publishers of one token_decoder and the reused messages they send."""

    def __init__(self, node, profile, mode):
        self.mode, self.frame = mode, profile.frame_id
        quiet = quiet_events()
        kind, topic = ((PoseStamped, 'pose_target_cmds') if mode == 'pose'
                       else (TwistStamped, 'delta_twist_cmds'))
        # The real command publisher keeps rclpy's default QoS event handlers (they warn
        # about an incompatible peer); each handler is one more entity the executor polls
        # per message, so the secondary outputs go without.
        self.cmd_pub = node.create_publisher(kind, f'servo_node/{topic}', QOS)
        self.dry_pub = node.create_publisher(kind, DRY + topic, QOS, event_callbacks=quiet)
        self.grip_pub = node.create_publisher(Float64MultiArray, 'gripper_controller/commands',
                                              QOS, event_callbacks=quiet)
        self.dry_grip_pub = node.create_publisher(Float64MultiArray, DRY + 'gripper', QOS,
                                                  event_callbacks=quiet)
        self.action_pub = node.create_publisher(Float64MultiArray, 'robotok/decoded_action',
                                                QOS, event_callbacks=quiet)
        self._twist = TwistStamped()
        self._twist.header.frame_id = self.frame
        self._grip = Float64MultiArray()
        self._grip_last, self._grip_due = None, 0
        self._action = Float64MultiArray()
        self._action.layout.dim = [MultiArrayDimension(
            label=','.join(profile.names), size=profile.dim, stride=profile.dim)]

    def send(self, cmd, now, dry_run):
        """Publish one step: the command first (latency counts), then gripper, action."""
        pub = self.dry_pub if dry_run else self.cmd_pub
        if self.mode == 'twist':
            pub.publish(self.twist(cmd.linear, cmd.angular, now))
        elif cmd.target is not None:
            pub.publish(self.pose(cmd.target, now))
        # Messages are reused: publish() serializes at once, and construction is most of
        # the per-step cost at 1 kHz.
        if cmd.gripper is not None and (cmd.gripper != self._grip_last or
                                        now.nanoseconds >= self._grip_due):
            # A forward controller holds its last command: send changes, plus one a second
            # so a restarted controller catches up, not a copy every step.
            self._grip_last, self._grip_due = cmd.gripper, now.nanoseconds + GRIP_RESEND_NS
            self._grip.data = array('d', (cmd.gripper,))
            (self.dry_grip_pub if dry_run else self.grip_pub).publish(self._grip)
        if self.action_pub.get_subscription_count():  # a log topic: skip it when unheard
            self._action.data = array('d', cmd.action)
            self.action_pub.publish(self._action)

    def repeat(self, cmd, now, dry_run):
        """Publish a step's twist again, freshly stamped (the keep-alive); nothing else."""
        (self.dry_pub if dry_run else self.cmd_pub).publish(
            self.twist(cmd.linear, cmd.angular, now))

    def stop(self, now, dry_run, hold=None):
        """Stop at once: a zero twist, or ``hold`` (position, quat) as the pose target."""
        pub = self.dry_pub if dry_run else self.cmd_pub
        zero = (0.0, 0.0, 0.0)
        if self.mode == 'twist':
            pub.publish(self.twist(zero, zero, now))
        elif hold is not None:
            pub.publish(self.pose(hold, now))

    def flush(self, seconds=0.5):
        """Wait until the command subscribers acknowledged what was sent (shutdown)."""
        self.cmd_pub.wait_for_all_acked(Duration(seconds=seconds))

    def twist(self, linear, angular, now):
        """Return the reused TwistStamped set to ``linear``/``angular`` at ``now``."""
        msg = self._twist
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now.nanoseconds, 10 ** 9)
        lin, ang = msg.twist.linear, msg.twist.angular
        lin.x, lin.y, lin.z = linear
        ang.x, ang.y, ang.z = angular
        return msg

    def pose(self, target, now):
        """Return a PoseStamped of ``target`` (position, quat) at ``now``."""
        msg = PoseStamped()
        msg.header.stamp = now.to_msg()
        msg.header.frame_id = self.frame
        p, q = msg.pose.position, msg.pose.orientation
        p.x, p.y, p.z = target[0]
        q.x, q.y, q.z, q.w = target[1]
        return msg
