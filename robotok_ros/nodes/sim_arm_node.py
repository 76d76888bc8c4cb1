"""
sim_arm: a headless MuJoCo arm that obeys token_decoder as MoveIt Servo + ros2_control would.

A thin rclpy shell over ``robotok_ros.sim.SimArm``.  It listens where Servo and
a forward gripper controller listen (``servo_node/delta_twist_cmds``,
``gripper_controller/commands``), answers Servo's Humble-style services
(``servo_node/start_servo`` Trigger, ``servo_node/pause_servo`` SetBool: twists
are ignored until started, as Servo does), and publishes what a robot driver
does: ``/clock`` (it is the time source: run every other node with
``use_sim_time``), ``joint_states``, the TCP pose on ``robotok/ee_pose`` (what
the decoder's pose mode and workspace box consume) and the cube task state
(JSON on ``~/task_state``).  ``~/reset`` restores the scene with the next seed.
The clock never runs backwards: a reset continues it where it was.
"""

import json

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped, TwistStamped
from rclpy.clock import Clock, ClockType
from rclpy.time import Time
from robotok_ros.errors import ConfigError
from robotok_ros.nodes.base import RobotokNode, run_node
from robotok_ros.nodes.parameters import declare
from robotok_ros.profile_loader import load_profile
from rosgraph_msgs.msg import Clock as ClockMsg
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import SetBool, Trigger

NAME = 'sim_arm'


def stamp(seconds):
    """Return the builtin_interfaces Time message of a time in simulated seconds."""
    return Time(nanoseconds=int(round(seconds * 1e9))).to_msg()


class SimArmNode(RobotokNode):
    """The simulated arm's ROS interface; see the module docstring."""

    def __init__(self):
        super().__init__(NAME)
        from robotok_ros.sim import ServoSettings, SimArm, SimSettings
        robot = declare(self, 'robot', 'franka_panda', 'Robot profile (name or YAML path) '
                        'whose arm is simulated.')
        seed = declare(self, 'seed', 0, 'Seed of the cube position; reset draws the next.',
                       int_range=(0, 2 ** 31 - 1))
        physics_hz = declare(self, 'physics_hz', 500.0, 'MuJoCo steps per simulated second.',
                             float_range=(500.0, 20000.0))
        self.period = declare(self, 'publish_period', 0.01, 'Simulated seconds per step of '
                              'the loop: joint states, pose and clock go out this often.',
                              float_range=(0.002, 0.1))
        self.tick = declare(self, 'clock_period', 0.002, 'Simulated seconds between two '
                            '/clock messages (a divisor of publish_period): a clock coarser '
                            'than the commands it times (the decoder stamps and times steps '
                            'by it) would shift each step by up to one clock period. Gazebo '
                            'publishes its clock about this often.', float_range=(0.0005, 0.1))
        rtf = declare(self, 'real_time_factor', 1.0, 'Simulated seconds per wall second '
                      '(0: as fast as possible).', float_range=(0.0, 100.0))
        timeout = declare(self, 'incoming_command_timeout', 0.1, 'Servo halts when the newest '
                          'twist is older than this (by its stamp).', float_range=(0.001, 10.0))
        self.auto_start = declare(self, 'auto_start', False, 'Start servoing at once (a real '
                                  'Servo waits for ~/start_servo or switch_command_type).')
        model = declare(self, 'model', '', 'Simulated arm (franka_panda, ur5e, '
                        'robosuite_panda_osc); empty: the one the profile names. Another '
                        'arm runs a profile without a model of its own (its frames, gripper '
                        'convention and limits on this arm).')
        try:
            profile = load_profile(robot)
            servo = ServoSettings(publish_period=self.period, incoming_command_timeout=timeout)
            settings = SimSettings(physics_hz=physics_hz, model=model or None, servo=servo)
        except ConfigError as exc:
            raise ConfigError(f'parameter robot={robot!r}: {exc}') from None
        self.ticks = round(self.period / self.tick)
        if abs(self.ticks * self.tick - self.period) > 1e-9 or self.tick * physics_hz < 1 - 1e-9:
            raise ConfigError(f'parameter clock_period must divide publish_period '
                              f'({self.period:g} s) and be at least one physics step '
                              f'(1/{physics_hz:g} s), got {self.tick!r}')
        self._tick = 0
        try:
            self.sim = SimArm(profile, seed=seed, settings=settings)
        except ConfigError as exc:
            raise ConfigError(f'parameters robot={robot!r}, model={model!r}: {exc}') from None
        self.profile, self.offset, self.blowups, self.bad_gripper = profile, 0.0, 0, 0
        if self.auto_start:
            self.sim.start()
        self.clock_pub = self.create_publisher(ClockMsg, '/clock', 10)
        self.joint_pub = self.create_publisher(JointState, 'joint_states', 10)
        self.pose_pub = self.create_publisher(PoseStamped, 'robotok/ee_pose', 10)
        self.task_pub = self.create_publisher(String, '~/task_state', 10)
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_subscription(TwistStamped, 'servo_node/delta_twist_cmds', self.on_twist, 100)
        self.create_subscription(Float64MultiArray, 'gripper_controller/commands',
                                 self.on_gripper, 10)
        self.create_service(Trigger, 'servo_node/start_servo', self.on_start)
        self.create_service(SetBool, 'servo_node/pause_servo', self.on_pause)
        self.create_service(Trigger, '~/reset', self.on_reset)
        wall = self.tick / rtf if rtf > 0 else 0.0001
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.create_timer(wall, self.on_step, clock=steady)
        self.create_timer(1.0, self.on_diagnostics, clock=steady)
        self.get_logger().info(f'{profile.name} in MuJoCo at {physics_hz:g} Hz, real-time '
                               f'factor {rtf or "max"}; servo '
                               f'{"started" if self.auto_start else "waits for start_servo"}')

    @property
    def now(self):
        """Return the simulated time published on /clock (continuous across resets)."""
        return self.offset + self.sim.sim_time

    # -- commands --------------------------------------------------------------------------
    def on_twist(self, msg):
        """Pass one Servo twist (stamp converted to the simulator's time) to the arm."""
        t, s = msg.twist, msg.header.stamp
        self.sim.command_twist((t.linear.x, t.linear.y, t.linear.z),
                               (t.angular.x, t.angular.y, t.angular.z), msg.header.frame_id,
                               s.sec + s.nanosec * 1e-9 - self.offset)

    def on_gripper(self, msg):
        """Pass a forward-controller gripper command (one value) to the fingers."""
        if len(msg.data) != 1:
            self.bad_gripper += 1
            return
        self.sim.command_gripper(msg.data[0])

    def on_start(self, request, response):
        """servo_node/start_servo: twists move the arm from now on."""
        self.sim.start()
        response.success, response.message = True, 'servo started'
        return response

    def on_pause(self, request, response):
        """servo_node/pause_servo: true pauses (twists ignored), false resumes."""
        self.sim.pause(request.data)
        response.success, response.message = True, 'paused' if request.data else 'resumed'
        return response

    def on_reset(self, request, response):
        """~/reset: home pose, open hand, the cube at the next seeded spot; the clock goes on."""
        self.offset += self.sim.sim_time
        self.sim.reset()
        response.success, response.message = True, f'reset (seed {self.sim.seed})'
        return response

    # -- the loop --------------------------------------------------------------------------
    def on_step(self):
        """Advance one clock period; publish the clock (joints, pose, task each publish_period)."""
        from robotok_ros.sim import PhysicsBlowUp
        before = self.sim.sim_time
        try:
            self.sim.step(self.tick)
        except PhysicsBlowUp as exc:  # the scene was reset: continue the clock, say why
            self.blowups += 1
            self.offset += before + self.tick
            self.get_logger().error(str(exc))
        now = stamp(self.now)
        self.clock_pub.publish(ClockMsg(clock=now))
        self._tick = (self._tick + 1) % self.ticks
        if self._tick:
            return
        js = self.sim.joint_state()
        self.joint_pub.publish(JointState(
            name=list(js.names), position=[float(v) for v in js.positions],
            velocity=[float(v) for v in js.velocities], header=self._header(now, '')))
        self.pose_pub.publish(self._pose(self.sim.ee_pose(), now))
        task = self.sim.task_state()
        self.task_pub.publish(String(data=json.dumps({
            'sim_time': self.now, 'cube': [float(v) for v in task.cube.position],
            'grasped': task.grasped, 'lifted': task.lifted, 'seed': self.sim.seed})))

    def on_diagnostics(self):
        """Publish servo status, rejects by reason and blow-ups (1 Hz)."""
        values = {'status': self.sim.status, 'started': self.sim.started,
                  'paused': self.sim.paused, 'sim_time': f'{self.now:.3f}',
                  'blowups': self.blowups, 'gripper_malformed': self.bad_gripper,
                  **{f'rejected_{k}': v for k, v in self.sim.rejected.items()}}
        bad = self.blowups or any(self.sim.rejected.values()) or self.bad_gripper
        status = DiagnosticStatus(name=f'{NAME}: simulation', hardware_id=self.profile.name,
                                  level=DiagnosticStatus.WARN if bad else DiagnosticStatus.OK,
                                  message=self.sim.status)
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        arr = DiagnosticArray(status=[status])
        arr.header.stamp = stamp(self.now)
        self.diag_pub.publish(arr)

    def _header(self, now, frame):
        msg = PoseStamped().header
        msg.stamp, msg.frame_id = now, frame
        return msg

    def _pose(self, pose, now):
        msg = PoseStamped(header=self._header(now, self.profile.frame_id))
        p, q = msg.pose.position, msg.pose.orientation
        p.x, p.y, p.z = (float(v) for v in pose.position)
        q.x, q.y, q.z, q.w = (float(v) for v in pose.quaternion)
        return msg


def main(args=None):
    """Console script entry point of sim_arm."""
    raise SystemExit(run_node(SimArmNode, NAME, args))


if __name__ == '__main__':
    main()
