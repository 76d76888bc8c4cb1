"""
MoveIt Servo activation on ``~/enable``: Servo ignores twists until it is told to servo.

- ``humble``: Humble's Servo waits for ``servo_node/start_servo`` (std_srvs/Trigger).
- ``jazzy``: Jazzy's (and later) Servo starts in JOINT_JOG and takes twists only after
  ``servo_node/switch_command_type`` {command_type: 1 (TWIST), 2 (POSE) in pose mode},
  which needs moveit_msgs: it is imported only here, when called, so the package installs
  without it. ``servo_node/pause_servo`` (std_srvs/SetBool) false goes first.
- ``auto``: whichever of the two the graph offers (switch_command_type, else start_servo).
- ``off``: call nothing (a Servo started by its own launch file, or no Servo at all).

Servo may come up after the decoder (Gazebo + MoveIt take a while): the calls wait for
their services while the decoder is enabled, with one warning after ``SERVO_WAIT``
seconds (steady time) saying what is missing.
Sources: moveit/moveit2 moveit_ros/moveit_servo/src/servo_node.cpp (main; humble branch).
"""

import time

from std_srvs.srv import SetBool, Trigger

MODES = ('off', 'humble', 'jazzy', 'auto')
SERVO_WAIT = 10.0
COMMAND_TYPE = {'twist': 1, 'pose': 2}   # moveit_msgs/srv/ServoCommandType constants


def servo_command_type():
    """Return moveit_msgs' ServoCommandType service type, or None where it is not installed."""
    try:
        from moveit_msgs.srv import ServoCommandType
    except ImportError:
        return None
    return ServoCommandType


class ServoActivation:
    """Call Servo's start-up services once per enable; see the module docstring."""

    def __init__(self, node, mode, output_mode):
        self.node, self.mode, self.output_mode = node, mode, output_mode
        self.pending_until, self.warned, self.calls = None, set(), []
        self.start = self.pause = self.switch = None
        if mode in ('humble', 'auto'):
            self.start = node.create_client(Trigger, 'servo_node/start_servo')
        if mode in ('jazzy', 'auto'):
            self.pause = node.create_client(SetBool, 'servo_node/pause_servo')
            kind = servo_command_type()
            if kind is not None:
                self.switch = node.create_client(kind, 'servo_node/switch_command_type')
            elif mode == 'jazzy':
                self._warn_once('moveit_msgs', self._no_moveit_msgs())

    def request(self):
        """Begin activating (called on enable); services not up yet are waited for."""
        if self.mode != 'off':
            self.pending_until = time.monotonic() + SERVO_WAIT
            self.poll()

    def poll(self):
        """Call the services once they are up; past the wait, warn once and give up."""
        if self.pending_until is None:
            return
        flavour = self._flavour()
        if flavour == 'humble':
            self._call(self.start, Trigger.Request(), 'start_servo')
        elif flavour == 'jazzy':
            self._call(self.pause, SetBool.Request(data=False), 'pause_servo false',
                       then=self._switch)
        else:
            if time.monotonic() > self.pending_until:   # warn, and go on waiting
                self._warn_once('missing', f'servo_activation={self.mode}: no '
                                f'{self._wanted()} service after {SERVO_WAIT:g} s; Servo is '
                                'activated once it appears, and ignores twists until then '
                                '(servo_activation:=off if nothing needs activating)')
            return
        self.pending_until = None

    def cancel(self):
        """Stop waiting to activate (a disable: the next enable asks again)."""
        self.pending_until = None

    def _flavour(self):
        start, pause, switch = (c is not None and c.service_is_ready() for c in
                                (self.start, self.pause, self.switch))
        jazzy = pause and (switch or self.switch is None)
        if self.mode == 'jazzy':
            return 'jazzy' if jazzy else None
        if self.mode == 'humble':
            return 'humble' if start else None
        # auto: a switch_command_type seen is Jazzy; else start_servo is Humble (its
        # pause_servo is a Trigger, so the SetBool client never matches it); a lone SetBool
        # pause_servo without moveit_msgs to see the rest is Jazzy too.
        if pause and switch:
            return 'jazzy'
        if start:
            return 'humble'
        return 'jazzy' if jazzy else None

    def _wanted(self):
        return {'humble': 'servo_node/start_servo',
                'jazzy': 'servo_node/pause_servo + switch_command_type'}.get(
            self.mode, 'servo_node/start_servo or switch_command_type')

    def _switch(self):
        if self.switch is None:
            self._warn_once('moveit_msgs', self._no_moveit_msgs())
            return
        request = self.switch.srv_type.Request()
        request.command_type = COMMAND_TYPE[self.output_mode]
        self._call(self.switch, request, f'switch_command_type {request.command_type}')

    def _call(self, client, request, what, then=None):
        future = client.call_async(request)

        def done(fut):
            result = fut.result()
            ok = bool(result is not None and result.success)
            self.calls.append((what, ok))
            message = getattr(result, 'message', '')
            log = self.node.get_logger()
            (log.info if ok else log.warn)(
                f'servo activation: servo_node/{what} -> '
                f'{"ok" if ok else "FAILED"}{f" ({message})" if message else ""}')
            if ok and then is not None:
                then()
        future.add_done_callback(done)

    def _no_moveit_msgs(self):
        return ('moveit_msgs is not installed: servo_node/switch_command_type cannot be '
                'called, and a Jazzy Servo stays in JOINT_JOG, ignoring twists (install '
                'ros-$ROS_DISTRO-moveit-msgs, or switch it by hand: ros2 service call '
                '/servo_node/switch_command_type moveit_msgs/srv/ServoCommandType '
                '"{command_type: 1}")')

    def _warn_once(self, key, text):
        if key not in self.warned:
            self.warned.add(key)
            self.node.get_logger().warn(text)
