"""
Test helpers for closed loops in physics: a sim_arm process, a token_decoder on its clock.

sim_arm publishes /clock; token_decoder runs with use_sim_time, so its twists are stamped
in simulated time and sim_arm's Servo-style timeout judges them by that. Waits are on
simulated time or on conditions, each with a wall-clock timeout.
"""

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
import numpy as np
from rosgraph_msgs.msg import Clock
from std_msgs.msg import Int32MultiArray, MultiArrayDimension, String
from std_srvs.srv import SetBool, Trigger

TOKENS = '/robotok/action_tokens'


def stamp_of(msg):
    """Return a stamped message's header time in seconds."""
    s = msg.header.stamp
    return s.sec + s.nanosec * 1e-9


class Sim:
    """A sim_arm process plus the test's view of its clock, pose and task state."""

    def __init__(self, ros, robot='franka_panda', **params):
        self.ros = ros
        self.proc = ros.start_node('sim_arm', params={'robot': robot, **params})
        self.clock = ros.collect('/clock', Clock)
        self.pose = ros.collect('/robotok/ee_pose', PoseStamped)
        self.task = ros.collect('/sim_arm/task_state', String)
        assert ros.wait_for(lambda: self.pose, 30), self.proc.describe()

    def now(self):
        """Return the newest simulated time seen on /clock."""
        c = self.clock[-1].clock
        return c.sec + c.nanosec * 1e-9

    def position(self):
        """Return the newest TCP position, (3,) m in the base frame."""
        p = self.pose[-1].pose.position
        return np.array([p.x, p.y, p.z])

    def path(self, since=-np.inf):
        """Return (times (N,), positions (N, 3)) of the poses stamped at or after ``since``."""
        rows = [(stamp_of(m), m.pose.position) for m in self.pose]
        rows = [(t, (p.x, p.y, p.z)) for t, p in rows if t >= since]
        return np.array([t for t, _ in rows]), np.array([p for _, p in rows]).reshape(-1, 3)

    def wait_sim(self, seconds):
        """Wait until ``seconds`` of simulated time have passed."""
        end = self.now() + seconds
        assert self.ros.wait_for(lambda: self.now() >= end, 60 + 4 * seconds), \
            self.proc.describe()

    def start_servo(self):
        """Call servo_node/start_servo, as a decoder's servo_activation would."""
        reply = self.ros.call(Trigger, '/servo_node/start_servo', Trigger.Request())
        assert reply.success


class Decoder:
    """A token_decoder process on sim time, with its diagnostics."""

    def __init__(self, ros, robot, **params):
        self.ros = ros
        self.proc = ros.start_node('token_decoder', params={
            'robot': robot, 'use_sim_time': True, **params})
        self.diag = ros.collect('/diagnostics', DiagnosticArray)
        ros.wait_for_subscribers(TOKENS)
        # On sim time once its diagnostics carry a clock: until then it refuses tokens.
        assert ros.wait_for(lambda: any(
            stamp_of(a) > 0 and a.status[0].name.startswith('token_decoder')
            for a in self.diag), 20), self.proc.describe()

    def value(self, key):
        """Return the newest diagnostics value ``key`` of token_decoder, or None."""
        for arr in reversed(self.diag):
            for status in arr.status:
                if status.name.startswith('token_decoder'):
                    for kv in status.values:
                        if kv.key == key:
                            return kv.value
        return None

    def wait_enabled(self, timeout=30):
        """Wait until the decoder says it is enabled (a workspace box waits for a pose)."""
        assert self.ros.wait_for(lambda: self.value('enabled') == 'True', timeout), \
            self.proc.describe()

    def enable(self, on=True):
        """Call ~/enable; return the reply."""
        return self.ros.call(SetBool, '/token_decoder/enable', SetBool.Request(data=on))

    def send(self, ids, steps=None, dim=None):
        """Publish one token message (a chunk of ``steps`` x ``dim`` when given)."""
        msg = Int32MultiArray(data=[int(i) for i in np.ravel(ids)])
        if steps is not None:
            msg.layout.dim = [MultiArrayDimension(size=steps), MultiArrayDimension(size=dim)]
        self.ros.publish(TOKENS, msg)


def stream(sim, dec, rows, tok, rate):
    """
    Publish one message per row of ``rows`` (T, D) at ``rate`` Hz of simulated time.

    Returns the simulated time each message went out (T,): a policy streaming steps.
    """
    sent, start = [], sim.now()
    for k, row in enumerate(rows):
        due = start + k / rate
        assert sim.ros.wait_for(lambda: sim.now() >= due, 30), sim.proc.describe()
        dec.send(tok.encode_chunk(np.atleast_2d(row)))
        sent.append(sim.now())
    return np.array(sent)


def speeds(times, positions, window):
    """Return the mean speed, m/s, in each consecutive ``window`` seconds of a path."""
    t, v = velocity_windows(times, positions, window)
    return np.linalg.norm(v, axis=1)


def velocity_windows(times, positions, window):
    """
    Return (centre times (N,), mean velocities (N, 3) m/s) over consecutive windows.

    Each window runs between two pose samples about ``window`` apart and is divided by
    their real time difference: poses come every 10 ms, so a window of 1/15 s is 60 or
    70 ms of samples, and dividing by 66.7 ms would invent a 5 % speed ripple.
    """
    if len(times) < 2:
        return np.zeros(0), np.zeros((0, 3))
    idx = np.unique(np.searchsorted(times, np.arange(times[0], times[-1], window)))
    idx = idx[idx < len(times)]
    dt = np.diff(times[idx])
    return (times[idx][:-1] + times[idx][1:]) / 2, np.diff(positions[idx], axis=0) / dt[:, None]
