"""Teleop core without ROS: rotation maths against scipy, sampling, gripper, dead-man, clipping."""

import numpy as np
import pytest
from robotok_ros.data.wire import parse_step_label, step_label
from robotok_ros.errors import ConfigError
from robotok_ros.profile_loader import load_profile
from robotok_ros.runtime.geometry import matrix_to_rpy, pose_delta, quat_to_matrix
from robotok_ros.runtime.teleop import TeleopConfig, TeleopSampler, twist_delta
from robotok_ros.runtime.teleop_encoding import ClipMonitor, TeleopEncoder
from robotok_ros.tokenizers import make_tokenizer
from scipy.spatial.transform import Rotation


@pytest.fixture
def profile(profile_path):
    """Load the 7-D test profile: 10 Hz, 0.02 m and 0.1 rad ranges, gripper 0 closed."""
    return load_profile(profile_path)


def test_quaternion_matrix_and_rpy_match_scipy():
    rots = Rotation.random(200, random_state=1)
    for rot in rots:
        np.testing.assert_allclose(quat_to_matrix(rot.as_quat()), rot.as_matrix(), atol=1e-12)
        np.testing.assert_allclose(matrix_to_rpy(rot.as_matrix()), rot.as_euler('xyz'),
                                   atol=1e-9)


def test_rpy_at_gimbal_lock_rebuilds_the_same_rotation():
    for pitch in (np.pi / 2, -np.pi / 2):
        rot = Rotation.from_euler('xyz', [0.7, pitch, -0.4])
        rpy = matrix_to_rpy(rot.as_matrix())
        np.testing.assert_allclose(Rotation.from_euler('xyz', rpy).as_matrix(), rot.as_matrix(),
                                   atol=1e-9)


def test_pose_delta_is_the_relative_rotation_even_for_large_rotations():
    rng = np.random.default_rng(2)
    r0s, r1s = Rotation.random(100, random_state=3), Rotation.random(100, random_state=4)
    for r0, r1 in zip(r0s, r1s):
        p0, p1 = rng.normal(size=3), rng.normal(size=3)
        delta = pose_delta(p0, r0.as_quat(), p1, r1.as_quat())
        np.testing.assert_allclose(delta[:3], p1 - p0, atol=1e-12)
        np.testing.assert_allclose(delta[3:], (r1 * r0.inv()).as_euler('xyz'), atol=1e-9)
        # Applying the delta in the base frame reaches pose 1.
        np.testing.assert_allclose((Rotation.from_euler('xyz', delta[3:]) * r0).as_matrix(),
                                   r1.as_matrix(), atol=1e-9)


def test_pose_delta_is_not_the_difference_of_euler_angles():
    r0 = Rotation.from_euler('xyz', [1.2, 0.3, 2.5])
    r1 = Rotation.from_euler('x', 0.2) * r0
    delta = pose_delta(np.zeros(3), r0.as_quat(), np.zeros(3), r1.as_quat())
    np.testing.assert_allclose(delta[3:], [0.2, 0, 0], atol=1e-12)
    assert not np.allclose(r1.as_euler('xyz') - r0.as_euler('xyz'), [0.2, 0, 0], atol=1e-3)


def test_quaternion_sign_and_scale_do_not_matter():
    q = Rotation.from_euler('xyz', [0.1, -0.2, 0.3]).as_quat()
    np.testing.assert_allclose(pose_delta(np.zeros(3), q, np.zeros(3), -3 * q), 0, atol=1e-12)


def test_twist_delta_uses_per_axis_scales_and_rate():
    out = twist_delta([1, 2, 3], [0.5, 0, -1], (0.1, 0.2, 0.3), (1, 1, 2), 10.0)
    np.testing.assert_allclose(out, [0.01, 0.04, 0.09, 0.05, 0, -0.2])


def test_config_rejects_bad_values():
    with pytest.raises(ConfigError, match='teleop_source'):
        TeleopConfig(source='joystick')
    with pytest.raises(ConfigError, match='max_input_age'):
        TeleopConfig(max_input_age=0)
    with pytest.raises(ConfigError, match='linear_scale'):
        TeleopConfig(linear_scale=(1, 2))
    with pytest.raises(ConfigError, match='gripper_joint'):
        TeleopConfig(gripper_source='joint')
    with pytest.raises(ConfigError, match='deadman_button'):
        TeleopConfig(deadman_button=-2)


def test_twist_sampling_is_as_of_and_stale_input_is_idle(profile):
    sampler = TeleopSampler(profile, TeleopConfig(max_input_age=0.2))
    sampler.on_twist(1.0, [0.1, 0, 0], [0, 0, 0])
    sampler.on_twist(1.5, [0.2, 0, 0], [0, 0, 0])
    # At t=1.1 the sample received at 1.5 is the future: the 1.0 one applies.
    np.testing.assert_allclose(sampler.sample(1.1)[0], 0.01)
    np.testing.assert_allclose(sampler.sample(1.6)[0], 0.02)
    action = sampler.sample(1.8)
    np.testing.assert_allclose(action[:6], 0)
    assert sampler.idle_steps == 1


def test_motion_is_converted_to_action_units_with_the_dimension_scale(profile):
    dims = tuple(type(d)(name=d.name, low=-1.0, high=1.0, scale=0.05 if i < 3 else 1.0)
                 for i, d in enumerate(profile.dimensions))
    scaled = type(profile)(name='s', frame_id='base', control_rate_hz=10, dimensions=dims,
                           safety=profile.safety, gripper=profile.gripper)
    sampler = TeleopSampler(scaled, TeleopConfig())
    sampler.on_twist(0.0, [0.1, 0, 0], [0, 0, 0.5])
    np.testing.assert_allclose(sampler.sample(0.0)[[0, 5]], [0.2, 0.05])


def test_gripper_button_toggle_and_hold(profile):
    toggle = TeleopSampler(profile, TeleopConfig(gripper_source='button', gripper_button=1))
    gi = profile.gripper_index
    assert toggle.sample(0.0)[gi] == 1.0
    for t, pressed in ((0.1, 1), (0.2, 1), (0.3, 0)):
        toggle.on_joy(t, [0, pressed])
    assert toggle.sample(0.3)[gi] == 0.0        # one press, held over two messages: one flip
    toggle.on_joy(0.4, [0, 1])
    assert toggle.sample(0.4)[gi] == 1.0
    hold = TeleopSampler(profile, TeleopConfig(gripper_source='button', gripper_button=0,
                                               gripper_button_mode='hold'))
    hold.on_joy(0.1, [1])
    assert hold.sample(0.1)[gi] == 0.0
    hold.on_joy(0.2, [0])
    assert hold.sample(0.2)[gi] == 1.0


def test_gripper_from_float_and_joint_maps_through_the_profile(profile):
    cfg = TeleopConfig(gripper_source='joint', gripper_joint='finger', gripper_input_open=0.04,
                       gripper_input_closed=0.0)
    sampler = TeleopSampler(profile, cfg)
    sampler.on_joint_state(0.0, ['wrist', 'finger'], [1.0, 0.01])
    assert sampler.sample(0.0)[profile.gripper_index] == 0.0     # binary: 25 % open -> closed
    sampler.on_gripper_value(0.1, 0.035)
    assert sampler.sample(0.1)[profile.gripper_index] == 1.0


def test_deadman_suppresses_samples_and_reanchors_the_pose(profile):
    sampler = TeleopSampler(profile, TeleopConfig(source='pose', deadman_button=2))
    q = [0, 0, 0, 1]
    sampler.on_pose(0.0, [0, 0, 0], q)
    assert sampler.sample(0.0) is None                    # no Joy yet: released
    sampler.on_joy(0.0, [0, 0, 1])
    np.testing.assert_allclose(sampler.sample(0.01)[:6], 0)     # first pose anchors
    sampler.on_pose(0.05, [0.01, 0, 0], q)
    sampler.on_joy(0.05, [0, 0, 1])
    np.testing.assert_allclose(sampler.sample(0.1)[:3], [0.01, 0, 0])
    sampler.on_joy(0.12, [0, 0, 0])
    assert sampler.sample(0.15) is None
    sampler.on_pose(0.2, [0.5, 0, 0], q)                  # moved with the clutch open
    sampler.on_joy(0.2, [0, 0, 1])
    np.testing.assert_allclose(sampler.sample(0.25)[:6], 0)     # no jump after re-press


def test_rejected_inputs_are_counted(profile):
    sampler = TeleopSampler(profile, TeleopConfig(source='pose'))
    sampler.on_pose(0.0, [0, 0, 0], [0, 0, 0, 0])
    sampler.on_pose(0.0, [np.nan, 0, 0], [0, 0, 0, 1])
    sampler.on_twist(0.0, [np.inf, 0, 0], [0, 0, 0])
    assert sampler.rejected == 3


def test_encoder_per_step_matches_the_tokenizer(profile):
    tok = make_tokenizer('uniform', profile)
    enc = TeleopEncoder(tok)
    action = np.array([0.01, 0, 0, 0, 0, 0.05, 1.0])
    out = enc.push(7, 1.5, action)
    assert out.step == 7 and out.stamp == 1.5
    np.testing.assert_array_equal(out.tokens, tok.encode(action))


class _ChunkTokenizer:
    """Stand-in for VQ/FAST: chunk_steps K, one id per chunk."""

    chunk_steps = 3
    dim = 7

    def __init__(self):
        self.last_clip_counts = np.zeros(7, dtype=np.int64)
        self.chunks = []

    def encode_chunk(self, actions):
        self.chunks.append(actions)
        return np.array([len(self.chunks)])


def test_encoder_emits_one_message_per_chunk_and_drops_partial_chunks():
    tok = _ChunkTokenizer()
    enc = TeleopEncoder(tok)
    outs = [enc.push(i, i * 0.1, np.full(7, i)) for i in range(7)]
    emitted = [o for o in outs if o is not None]
    assert [o.step for o in emitted] == [0, 3]
    assert emitted[1].actions.shape == (3, 7) and emitted[1].actions[0, 0] == 3
    enc.interrupt()
    assert enc.dropped_steps == 1
    assert enc.push(10, 1.0, np.zeros(7)) is None and enc.push(11, 1.1, np.zeros(7)) is None
    assert enc.push(12, 1.2, np.zeros(7)).step == 10


def test_clip_monitor_warns_over_one_percent_and_throttles():
    mon = ClipMonitor(2, period_s=5.0)
    mon.update([1, 0], 100)
    assert mon.warning(0.0, ['dx', 'dy']) is None          # exactly 1 %: fine
    mon.update([1, 0], 1)
    text = mon.warning(1.0, ['dx', 'dy'])
    assert 'dx' in text and 'dy' not in text
    assert mon.warning(2.0, ['dx', 'dy']) is None
    assert mon.warning(6.5, ['dx', 'dy']) is not None


def test_encoder_counts_clips(profile):
    enc = TeleopEncoder(make_tokenizer('uniform', profile))
    enc.push(0, 0.0, np.array([0.5, 0, 0, 0, 0, 0, 1.0]))
    enc.push(1, 0.1, np.zeros(7))
    np.testing.assert_array_equal(enc.clips.counts, [1, 0, 0, 0, 0, 0, 0])
    assert enc.clips.samples == 2


def test_step_label_round_trip():
    assert parse_step_label(step_label(12, 3_000_000_001)) == (12, 3_000_000_001)
    assert parse_step_label('steps') is None
