"""
sim_arm in its own process, and token_decoder driving it: where the end effector went, in physics.

sim_arm publishes /clock; token_decoder runs with use_sim_time, so its twists are
stamped in simulated time and sim_arm's Servo-style timeout judges them by that.
Every wait is on a condition (a pose, a message count) with a timeout.
"""

import json

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import TwistStamped
import numpy as np
import pytest
from robotok_ros.profile_loader import load_profile
from robotok_ros.tokenizers import make_tokenizer
from simutil import Sim
from std_msgs.msg import Int32MultiArray, MultiArrayDimension
from std_srvs.srv import SetBool, Trigger

pytest.importorskip('mujoco', reason='mujoco is not installed: the simulated arm needs it')
pytestmark = pytest.mark.timeout(180)


def twist(sim, vx, frame='panda_link0'):
    msg = TwistStamped()
    msg.header.frame_id = frame
    sec = sim.now()
    msg.header.stamp.sec, msg.header.stamp.nanosec = int(sec), int((sec % 1) * 1e9)
    msg.twist.linear.x = vx
    return msg


def test_servo_ignores_twists_until_started_then_tracks_them(ros):
    # Half real time: a test process stalled by a busy machine still streams within Servo's
    # 0.1 s (simulated) timeout.
    sim = Sim(ros, real_time_factor=0.5)
    start = sim.position()
    end = sim.now() + 1.0
    while sim.now() < end:  # not started: Servo ignores these
        ros.publish('/servo_node/delta_twist_cmds', twist(sim, 0.05))
        ros.spin_for(0.01)
    assert np.linalg.norm(sim.position() - start) < 1e-4
    sim.start_servo()
    start, t0 = sim.position(), sim.now()
    while sim.now() < t0 + 1.0:
        ros.publish('/servo_node/delta_twist_cmds', twist(sim, 0.05))
        ros.spin_for(0.005)
    moved = sim.position() - start
    assert moved[0] == pytest.approx(0.05 * (sim.now() - t0), rel=0.1), moved
    assert abs(moved[1]) < 2e-3 and abs(moved[2]) < 2e-3
    # Stop sending: Servo halts within its timeout, the arm comes to rest.
    sim.wait_sim(0.3)
    rest = sim.position()
    sim.wait_sim(0.5)
    assert np.linalg.norm(sim.position() - rest) < 5e-4


def test_pause_reset_and_task_state(ros):
    sim = Sim(ros, seed=3)
    sim.start_servo()
    assert ros.call(SetBool, '/servo_node/pause_servo', SetBool.Request(data=True)).success
    start = sim.position()
    for _ in range(50):
        ros.publish('/servo_node/delta_twist_cmds', twist(sim, 0.05))
        ros.spin_for(0.01)
    assert np.linalg.norm(sim.position() - start) < 1e-4  # paused
    before = sim.now()
    first = json.loads(sim.task[-1].data)
    assert ros.call(Trigger, '/sim_arm/reset', Trigger.Request()).success
    assert ros.wait_for(lambda: json.loads(sim.task[-1].data)['cube'] != first['cube'])
    assert sim.now() >= before  # the clock never runs backwards
    assert json.loads(sim.task[-1].data)['lifted'] is False


def test_decoded_tokens_move_the_end_effector_by_their_deltas(ros):
    profile = load_profile('franka_panda')
    sim = Sim(ros, real_time_factor=0.5)
    sim.start_servo()
    tok = make_tokenizer('uniform', profile)
    # One 2 s chunk with no further input: the decoder must be told it may queue that much
    # (max_queue_seconds) and play it out (command_timeout, fed only by new messages).
    dec = ros.start_node('token_decoder', params={'robot': 'franka_panda', 'use_sim_time': True,
                                                  'start_enabled': True, 'command_timeout': 2.5,
                                                  'max_queue_seconds': 2.5})
    diag = ros.collect('/diagnostics', DiagnosticArray)
    ros.wait_for_subscribers('/robotok/action_tokens')
    # The profile's workspace box: the decoder enables once sim_arm's pose reached it.
    assert ros.wait_for(lambda: any(kv.key == 'enabled' and kv.value == 'True' for a in diag
                                    for kv in a.status[0].values), 30), dec.describe()
    step = np.zeros((30, profile.dim))
    step[:, 0] = 0.004 / profile.dimensions[0].scale  # 4 mm per step, 15 Hz: 60 mm/s
    ids = tok.encode_chunk(step)
    start = sim.position()
    msg = Int32MultiArray(data=[int(i) for i in ids])
    msg.layout.dim = [MultiArrayDimension(size=30), MultiArrayDimension(size=profile.dim)]
    ros.publish('/robotok/action_tokens', msg)
    sim.wait_sim(30 / profile.control_rate_hz + 0.5)
    moved = sim.position() - start
    # Integrated decoded deltas (bin centres: a 0 decodes to half a bin, so y and z move too).
    scales = np.array([d.scale for d in profile.dimensions[:3]])
    decoded = tok.decode_chunk(ids)[:, :3].sum(axis=0) * scales
    assert moved[0] == pytest.approx(decoded[0], rel=0.05), (moved, decoded, dec.describe())
    np.testing.assert_allclose(moved, decoded, atol=0.05 * abs(decoded[0]))
