"""teleop_tokenizer with real rclpy in another process: twist, pose, gripper, dead-man, clips."""

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped, Twist
import numpy as np
import pytest
from robotok_ros.data.wire import parse_step_label
from robotok_ros.profile_loader import load_profile
from robotok_ros.tokenizers import load_tokenizer, make_tokenizer
from rosutil import RosHarness
from scipy.spatial.transform import Rotation
from sensor_msgs.msg import Joy
from std_msgs.msg import Float64MultiArray, Int32MultiArray

pytestmark = pytest.mark.timeout(90)
TOKENS, ACTIONS = '/robotok/teleop_tokens', '/robotok/teleop_action'


@pytest.fixture
def fast_profile(profile_path):
    """Write the 7-D test profile at 20 Hz (quicker tests) and return its path."""
    path = profile_path.parent / 'test7_20hz.yaml'
    path.write_text(profile_path.read_text().replace('control_rate_hz: 10',
                                                     'control_rate_hz: 20'))
    return path


def start(ros, profile, **params):
    """Start teleop_tokenizer on ``profile``; return (proc, tokens, actions) collectors."""
    proc = ros.start_node('teleop_tokenizer', params={'profile_path': str(profile), **params})
    tokens = ros.collect(TOKENS, Int32MultiArray)
    actions = ros.collect(ACTIONS, Float64MultiArray)
    ros.wait_for_publishers(ACTIONS)
    return proc, tokens, actions


def stream(ros, topic, make_msg, seconds, rate=100.0, until=None):
    """Publish ``make_msg(t)`` at ``rate`` Hz for ``seconds`` (or until ``until()``)."""
    t, dt = 0.0, 1.0 / rate
    while t < seconds and not (until and until()):
        ros.publish(topic, make_msg(t))
        ros.spin_for(dt)
        t += dt


def twist(vx=0.0, wz=0.0):
    """Return a Twist with linear x and angular z set."""
    msg = Twist()
    msg.linear.x, msg.angular.z = vx, wz
    return msg


def rows(msgs):
    """Return the actions of Float64MultiArray messages as (N, D) and their step labels."""
    return (np.array([m.data for m in msgs]),
            [parse_step_label(m.layout.dim[0].label) for m in msgs])


def test_twist_stream_at_100hz_gives_the_expected_tokens(fast_profile):
    profile = load_profile(fast_profile)
    tok = make_tokenizer('uniform', profile)
    with RosHarness() as ros:
        _, tokens, actions = start(ros, fast_profile, linear_scale=[0.5, 1.0, 1.0])
        ros.wait_for_subscribers('teleop/twist')
        stream(ros, 'teleop/twist', lambda t: twist(0.4, 0.6), 5.0,
               until=lambda: len(actions) >= 15 and len(tokens) >= 15)
        ros.wait_for(lambda: len(tokens) >= len(actions) >= 15)
    acts, labels = rows(actions)
    moving = acts[np.abs(acts[:, 0]) > 0]
    assert len(moving) >= 5
    # 0.4 m/s x 0.5 / 20 Hz = 0.01 m; 0.6 rad/s / 20 Hz = 0.03 rad; gripper open.
    np.testing.assert_allclose(moving[-1], [0.01, 0, 0, 0, 0, 0.03, 1.0])
    by_step = {parse_step_label(m.layout.dim[0].label): np.array(m.data) for m in tokens}
    for act, label in zip(acts, labels):
        np.testing.assert_array_equal(by_step[label], tok.encode(act))
    steps = [s for s, _ in labels]
    assert steps == list(range(steps[0], steps[0] + len(steps)))


def test_pose_stream_differences_large_rotations(fast_profile):
    base = Rotation.from_euler('xyz', [1.2, 0.4, -2.0])     # far from identity

    def pose(t):
        msg = PoseStamped()
        msg.pose.position.x = 0.1 * t
        q = (Rotation.from_euler('z', 0.5 * t) * base).as_quat()
        o = msg.pose.orientation
        o.x, o.y, o.z, o.w = (float(v) for v in q)
        return msg

    with RosHarness() as ros:
        _, _, actions = start(ros, fast_profile, teleop_source='pose')
        ros.wait_for_subscribers('teleop/pose')
        stream(ros, 'teleop/pose', pose, 6.0, until=lambda: len(actions) >= 12)
    acts, _ = rows(actions)
    moving = acts[acts[:, 0] > 1e-4]
    assert len(moving) >= 5
    # Translation 0.1 m/s and rotation 0.5 rad/s about base z over the same interval.
    np.testing.assert_allclose(moving[:, 5], 5 * moving[:, 0], atol=1e-9)
    np.testing.assert_allclose(moving[:, 3:5], 0, atol=1e-9)


def _gripper_after_presses(fast_profile, mode, presses):
    with RosHarness() as ros:
        _, _, actions = start(ros, fast_profile, gripper_source='button', gripper_button=1,
                              gripper_button_mode=mode)
        ros.wait_for_subscribers('joy')
        seen = []
        for pressed in presses:
            start_n = len(actions)
            stream(ros, 'joy', lambda t: Joy(buttons=[0, pressed]), 3.0, rate=50,
                   until=lambda: len(actions) >= start_n + 3)
            seen.append(actions[-1].data[-1])
    return seen


def test_gripper_button_toggle(fast_profile):
    # Press, release, press: closed, stays closed, open again.
    assert _gripper_after_presses(fast_profile, 'toggle', [1, 0, 1]) == [0.0, 0.0, 1.0]


def test_gripper_button_hold(fast_profile):
    assert _gripper_after_presses(fast_profile, 'hold', [1, 0, 1]) == [0.0, 1.0, 0.0]


@pytest.mark.parametrize('source', ['float', 'joint'])
def test_gripper_from_float64_or_joint_state_with_stamped_twist(fast_profile, source):
    from geometry_msgs.msg import TwistStamped
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64
    params = {'gripper_source': source, 'gripper_joint': 'finger', 'twist_stamped': True,
              'gripper_input_open': 0.04, 'gripper_input_closed': 0.0}
    topic = 'teleop/gripper' if source == 'float' else 'joint_states'

    def grip(value):
        if source == 'float':
            return Float64(data=value)
        return JointState(name=['wrist', 'finger'], position=[1.0, value])

    with RosHarness() as ros:
        _, _, actions = start(ros, fast_profile, **params)
        ros.wait_for_subscribers(topic)
        ros.wait_for_subscribers('teleop/twist')
        seen, expected = [], [(0.01, 0.0), (0.01, 1.0)]
        for value, want in zip((0.005, 0.035), expected):   # binary gripper: closed, then open
            first = len(actions)

            def make(t, value=value):
                msg = TwistStamped()
                msg.twist.linear.x = 0.2
                ros.publish('teleop/twist', msg)
                return grip(value)

            def last():
                return (actions[-1].data[0], actions[-1].data[-1])
            # Under load the first actions may predate delivery of the inputs: wait (bounded)
            # until the stream reflects them; a node that never maps them fails below.
            stream(ros, topic, make, 5.0, rate=50,
                   until=lambda want=want: len(actions) >= first + 3 and last() == want)
            seen.append(last())
    assert seen == expected


def test_deadman_released_emits_nothing(fast_profile):
    with RosHarness() as ros:
        _, tokens, actions = start(ros, fast_profile, deadman_button=0)
        ros.wait_for_subscribers('joy')

        def both(pressed):
            def make(t):
                ros.publish('teleop/twist', twist(0.2))
                return Joy(buttons=[pressed])
            return make

        stream(ros, 'joy', both(0), 1.0)
        assert len(actions) == 0 and len(tokens) == 0
        stream(ros, 'joy', both(1), 5.0, until=lambda: len(actions) >= 5)
        assert len(actions) >= 5
        stream(ros, 'joy', both(0), 0.3)
        n = len(actions)
        stream(ros, 'joy', both(0), 1.0)
        assert len(actions) == n


def test_clipping_is_counted_and_warned(fast_profile):
    def clipped():
        return any(s.name.startswith('teleop_tokenizer') and any(
            v.key == 'clipped_dx' and int(v.value) > 0 for v in s.values)
            for m in diags for s in m.status)

    with RosHarness() as ros:
        proc, _, actions = start(ros, fast_profile)
        diags = ros.collect('/diagnostics', DiagnosticArray)
        ros.wait_for_subscribers('teleop/twist')
        # 1 m/s / 20 Hz = 0.05 m per step, beyond the profile's 0.02.
        stream(ros, 'teleop/twist', lambda t: twist(1.0), 6.0, until=clipped)
        assert clipped()
        assert ros.wait_for(lambda: 'ranges do not fit' in proc.stderr, timeout=5)
        assert 'dx' in proc.stderr


CHUNK_TOKENIZERS = {
    'fast': {'chunk_steps': 4, 'vocab': 300},
    'vq': {'chunk_steps': 4, 'codebook_size': 16, 'levels': 2, 'code_dim': 8,
           'hidden': (32, 16), 'epochs': 3},
}


# Fitting VQ needs torch.
@pytest.mark.parametrize('kind', ['fast', pytest.param('vq', marks=pytest.mark.torch)])
def test_chunk_tokenizer_emits_one_message_per_chunk(fast_profile, tmp_path, kind):
    profile = load_profile(fast_profile)
    rng = np.random.default_rng(0)
    episodes = [np.clip(rng.normal(0, 0.005, (40, 7)), -0.02, 0.02) for _ in range(5)]
    make_tokenizer(kind, profile, **CHUNK_TOKENIZERS[kind]).fit(episodes).save(tmp_path / kind)
    tok = load_tokenizer(tmp_path / kind)  # exactly what the node loads
    with RosHarness() as ros:
        _, tokens, actions = start(ros, fast_profile, tokenizer=kind,
                                   tokenizer_path=str(tmp_path / kind))
        ros.wait_for_subscribers('teleop/twist')
        stream(ros, 'teleop/twist', lambda t: twist(0.1), 8.0,
               until=lambda: len(actions) >= 3 and len(tokens) >= 3)
        ros.wait_for(lambda: len(tokens) >= len(actions))
    steps = [parse_step_label(m.layout.dim[0].label)[0] for m in actions]
    assert np.all(np.diff(steps) == 4)
    assert all(len(m.data) == 4 * 7 for m in actions)
    for act, ids in zip(actions, tokens):
        np.testing.assert_array_equal(
            ids.data, tok.encode_chunk(np.array(act.data).reshape(4, 7)))


def test_bad_parameter_exits_with_a_one_line_error(fast_profile):
    with RosHarness() as ros:
        params = {'profile_path': str(fast_profile), 'teleop_source': 'mouse'}
        proc = ros.start_node('teleop_tokenizer', params=params)
        assert proc.wait(20) == 2
        assert 'teleop_source' in proc.stderr and 'Traceback' not in proc.stderr
