"""
scripted_operator: a noisy scripted SpaceMouse operator picking the cube in sim_arm.

A thin rclpy shell over ``runtime.pick_operator.PickOperator``.  At the profile's control
rate it reads the TCP pose (``robotok/ee_pose``), the finger joints
(``joint_states``) and the cube (sim_arm's JSON ``task_state``), and sends what a
SpaceMouse driver would: a base-frame TwistStamped to Servo
(``servo_node/delta_twist_cmds``) and the same twist to teleop_tokenizer
(``teleop/twist``), the hand's command to the gripper controller
(``gripper_controller/commands``) and as a Float64 to ``teleop/gripper``.
``~/reset`` (Trigger) starts a new episode with the next seed: inputs stamped
before the reset are ignored, so a pose from the previous scene cannot start it.
``~/status`` (JSON String) says the episode, its phase and when it is done
(lifted and held); done, the operator holds still.  Stale or missing inputs:
nothing is sent (Servo's own timeout stops the arm), counted in the status.
"""

import json

from geometry_msgs.msg import PoseStamped, TwistStamped
import numpy as np
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from robotok_ros.nodes.base import RobotokNode, run_node
from robotok_ros.nodes.parameters import declare
from robotok_ros.profile_loader import load_profile
from robotok_ros.runtime.pick_operator import OperatorSettings, PickOperator
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64, Float64MultiArray, String
from std_srvs.srv import Trigger

NAME = 'scripted_operator'


def _ns(stamp):
    return int(stamp.sec) * 10 ** 9 + int(stamp.nanosec)


class ScriptedOperator(RobotokNode):
    """Drive sim_arm as a person with a SpaceMouse would; see the module docstring."""

    def __init__(self):
        super().__init__(NAME)
        self.profile = load_profile(declare(self, 'robot', 'franka_panda', 'Robot profile '
                                            '(name or YAML path) of the simulated arm.'))
        self.seed = declare(self, 'seed', 0, 'Seed of the first episode; reset adds one.',
                            int_range=(0, 2 ** 31 - 1))
        defaults = OperatorSettings()
        self.settings = OperatorSettings(
            speed=declare(self, 'speed', defaults.speed, 'Cruise speed (m/s).'),
            noise=declare(self, 'noise', defaults.noise, 'Hand tremor amplitude (m/s).'),
            push=declare(self, 'push', defaults.push, 'DART push amplitude (m/s): sent to the '
                         'arm, not to the teleop log; 0 none.'))
        self.max_age = declare(self, 'max_input_age', 0.2, 'Seconds after which an input is '
                               'stale (nothing is sent).', float_range=(0.01, 10.0))
        task_topic = declare(self, 'task_state_topic', 'sim_arm/task_state', "sim_arm's "
                             'JSON task state (the cube).')
        self.twist_pubs = [self.create_publisher(TwistStamped, t, 10)
                           for t in ('servo_node/delta_twist_cmds', 'teleop/twist')]
        self.grip_pub = self.create_publisher(Float64MultiArray, 'gripper_controller/commands',
                                              10)
        self.teleop_grip_pub = self.create_publisher(Float64, 'teleop/gripper', 10)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.status_pub = self.create_publisher(String, '~/status', latched)
        self.create_subscription(PoseStamped, 'robotok/ee_pose', self.on_pose, 10)
        self.create_subscription(JointState, 'joint_states', self.on_joints, 10)
        self.create_subscription(String, task_topic, self.on_task, 10)
        self.create_service(Trigger, '~/reset', self.on_reset)
        # lifted_done, not RobotokNode.done: that one ends the node's spin.
        self.episode, self.stale, self.lifted_done = -1, 0, False
        self.pose = self.width = self.task = None
        self.operator, self.since = None, 0
        self.create_timer(1.0 / self.profile.control_rate_hz, self.on_tick)
        self.publish_status()

    # -- inputs ----------------------------------------------------------------------------
    def on_pose(self, msg):
        """Keep the latest TCP pose (base frame) with its stamp."""
        p, q = msg.pose.position, msg.pose.orientation
        self.pose = (_ns(msg.header.stamp), (p.x, p.y, p.z), (q.x, q.y, q.z, q.w))

    def on_joints(self, msg):
        """Keep the fingers' opening: the sum of the finger joints' travel."""
        fingers = [abs(v) for n, v in zip(msg.name, msg.position) if 'finger' in n]
        if fingers:
            self.width = (_ns(msg.header.stamp), float(sum(fingers)))

    def on_task(self, msg):
        """Keep the cube's position and whether it is lifted and grasped (sim_arm's JSON)."""
        try:
            data = json.loads(msg.data)
            self.task = (int(float(data['sim_time']) * 1e9), data['cube'], bool(data['lifted']),
                         bool(data.get('grasped', False)))
        except (ValueError, KeyError, TypeError):
            self.stale += 1

    # -- episodes --------------------------------------------------------------------------
    def on_reset(self, request, response):
        """~/reset: a new episode with the next seed, from inputs stamped after now."""
        self.episode += 1
        self.operator = PickOperator(self.profile, self.seed + self.episode, self.settings)
        self.since, self.lifted_done = self.get_clock().now().nanoseconds, False
        # Open at once: the logger and the hand must not carry the last episode's grip.
        self._grip(False)
        self.publish_status()
        response.success, response.message = True, f'episode {self.episode}'
        return response

    def _grip(self, closed):
        grip = self.profile.gripper
        value = float(grip.command_closed if closed else grip.command_open)
        self.grip_pub.publish(Float64MultiArray(data=[value]))
        self.teleop_grip_pub.publish(Float64(data=value))

    def publish_status(self):
        """Publish the episode, phase, done flag and the stale-input count."""
        phase = self.operator.phase if self.operator else 'idle'
        self.status_pub.publish(String(data=json.dumps({
            'episode': self.episode, 'phase': phase, 'done': self.lifted_done,
            'stale': self.stale})))

    def on_tick(self):
        """One control step: what is seen -> twist and gripper, both to the arm and the log."""
        if self.operator is None:
            return
        now = self.get_clock().now().nanoseconds
        inputs = (self.pose, self.width, self.task)
        if any(i is None or i[0] < self.since or now - i[0] > self.max_age * 1e9
               for i in inputs):
            self.stale += 1
            return
        phase = self.operator.phase
        linear, angular, closed, done = self.operator.act(
            self.pose[1], self.pose[2], self.task[1], self.width[1], self.task[2], self.task[3])
        if self.lifted_done:
            linear, angular = (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)
        msg = TwistStamped()
        msg.header.stamp, msg.header.frame_id = self.get_clock().now().to_msg(), \
            self.profile.frame_id
        t = msg.twist
        t.linear.x, t.linear.y, t.linear.z = (float(v) for v in linear)
        t.angular.x, t.angular.y, t.angular.z = (float(v) for v in angular)
        self.twist_pubs[1].publish(msg)   # the log: the operator's own command
        if not self.lifted_done and self.settings.push:
            t.linear.x, t.linear.y, t.linear.z = (float(v) for v in
                                                  np.add(linear, self.operator.push))
        self.twist_pubs[0].publish(msg)   # the arm: with the push
        self._grip(closed)
        if done != self.lifted_done or phase != self.operator.phase:
            self.lifted_done = self.lifted_done or done
            self.publish_status()


def main(args=None):
    """Run scripted_operator."""
    raise SystemExit(run_node(ScriptedOperator, NAME, args))
