"""Robot state recorded beside the actions: read back as-of per step, exported as state."""

import json

import numpy as np
import pytest
from robotok_ros.cli.main import main
from robotok_ros.data.bag_writer import episode_metadata, EpisodeWriter, typestore
from robotok_ros.data.bags import read_bag
from robotok_ros.data.observations import align, Series
from robotok_ros.data.wire import ACTION_TOPIC, ACTION_TYPE, TOKENS_TOPIC, TOKENS_TYPE
from robotok_ros.errors import DataError
from robotok_ros.profile_loader import load_profile
from robotok_ros.tokenizers import make_tokenizer
from test_bags_cli import _msg  # noqa: I100 - test-local helper module

STORE = typestore()
JOINTS, POSE, TASK = '/joint_states', '/robotok/ee_pose', '/sim_arm/task_state'
JS, PS, STR = ('sensor_msgs/msg/JointState', 'geometry_msgs/msg/PoseStamped',
               'std_msgs/msg/String')
STEP_NS = 10 ** 8      # actions at 10 Hz
STATE_NS = 2 * 10 ** 7  # state at 50 Hz, starting 30 ms after the first step


def _header(t_ns):
    t = STORE.types
    return t['std_msgs/msg/Header'](stamp=t['builtin_interfaces/msg/Time'](
        sec=t_ns // 10 ** 9, nanosec=t_ns % 10 ** 9), frame_id='base')


def _joint_state(t_ns, q, names=('j1', 'j2', 'finger')):
    msg = STORE.types[JS](header=_header(t_ns), name=list(names),
                          position=np.asarray(q, dtype=np.float64),
                          velocity=np.zeros(0), effort=np.zeros(0))
    return bytes(STORE.serialize_cdr(msg, JS))


def _pose(t_ns, xyz):
    t = STORE.types
    pose = t['geometry_msgs/msg/Pose'](
        position=t['geometry_msgs/msg/Point'](x=xyz[0], y=xyz[1], z=xyz[2]),
        orientation=t['geometry_msgs/msg/Quaternion'](x=0.0, y=0.0, z=0.0, w=1.0))
    return bytes(STORE.serialize_cdr(t[PS](header=_header(t_ns), pose=pose), PS))


def _task(data):
    return bytes(STORE.serialize_cdr(STORE.types[STR](data=json.dumps(data)), STR))


def state_at(t_ns):
    """Return the recorded state at time ``t_ns``: joints (3), pose (3), cube (3), grasped."""
    s = t_ns / 1e9
    return np.array([s, -s, 0.04 - s / 100, 0.3 + s, 0.1, 0.5 - s, 0.5, 0.0, 0.02,
                     float(s > 0.5)])


def make_state_bag(path, profile, n_steps, index=0, task='lift', topics=(JOINTS, POSE, TASK),
                   joint_order=None):
    """Record ``n_steps`` uniform-token steps with state at 50 Hz; return the actions."""
    tok = make_tokenizer('uniform', profile)
    types = {ACTION_TOPIC: ACTION_TYPE, TOKENS_TOPIC: TOKENS_TYPE, JOINTS: JS, POSE: PS,
             TASK: STR}
    meta = episode_metadata(profile, tok, task, index, observations=topics)
    writer = EpisodeWriter(path, types, meta, start_ns=0)
    rng = np.random.default_rng(index)
    acts = rng.uniform(profile.lows, profile.highs, (n_steps, profile.dim))
    end = n_steps * STEP_NS
    # State first, then steps: as-of pairing must follow the stamps, not the write order.
    for t in range(STATE_NS + 10 ** 7, end, STATE_NS):
        s = state_at(t)
        names = joint_order or ('j1', 'j2', 'finger')
        q = [dict(zip(('j1', 'j2', 'finger'), s[:3]))[n] for n in names]
        writer.write(JOINTS, t, _joint_state(t, q, names))
        writer.write(POSE, t, _pose(t, s[3:6]))
        writer.write(TASK, t + 5 * 10 ** 6, _task({'sim_time': t / 1e9, 'cube': list(s[6:9]),
                                                   'grasped': bool(s[9]), 'lifted': False,
                                                   'seed': 7}))
    for step, row in enumerate(acts):
        writer.write(ACTION_TOPIC, step * STEP_NS, _msg(ACTION_TYPE, row, step, len(row)))
        writer.write(TOKENS_TOPIC, step * STEP_NS, _msg(TOKENS_TYPE, tok.encode(row), step,
                                                        len(row)))
    writer.close()
    return acts


@pytest.fixture
def profile(profile_path):
    return load_profile(profile_path)


def test_each_step_takes_the_latest_state_stamped_at_or_before_it(tmp_path, profile):
    make_state_bag(tmp_path / 'ep', profile, 12)
    ep = read_bag(tmp_path / 'ep')
    state, names, early = ep.observation_state()
    assert names[:3] == ['joint_states.j1', 'joint_states.j2', 'joint_states.finger']
    assert names[3:10] == [f'ee_pose.{f}' for f in ('x', 'y', 'z', 'qx', 'qy', 'qz', 'qw')]
    # The clock and the seed are not state; numbers and booleans are.
    assert names[10:] == ['task_state.cube.0', 'task_state.cube.1', 'task_state.cube.2',
                          'task_state.grasped', 'task_state.lifted']
    assert state.shape == (12, 15) and early == 1  # step 0 (t=0) is before any state
    for k, stamp in enumerate(ep.stamps_ns):
        # Joint and pose messages come every 20 ms from 30 ms on; the task 5 ms after them.
        seen = max(30_000_000, (stamp - 10 ** 7) // STATE_NS * STATE_NS + 10 ** 7)
        np.testing.assert_allclose(state[k, :3], state_at(seen)[:3])
        np.testing.assert_allclose(state[k, 3:6], state_at(seen)[3:6])
        task_seen = seen if stamp == 0 or stamp >= seen + 5 * 10 ** 6 else seen - STATE_NS
        np.testing.assert_allclose(state[k, 10:13], state_at(max(task_seen, 30_000_000))[6:9])


def test_joints_are_matched_by_name_not_by_position(tmp_path, profile):
    make_state_bag(tmp_path / 'a', profile, 5, topics=(JOINTS,))
    make_state_bag(tmp_path / 'b', profile, 5, topics=(JOINTS,),
                   joint_order=('finger', 'j1', 'j2'))
    a, names_a, _ = read_bag(tmp_path / 'a').observation_state()
    b, names_b, _ = read_bag(tmp_path / 'b').observation_state()
    assert names_a == ['joint_states.j1', 'joint_states.j2', 'joint_states.finger']
    assert set(names_b) == set(names_a)
    np.testing.assert_allclose(b[:, [names_b.index(n) for n in names_a]], a)


def test_only_topics_named_in_the_metadata_are_state(tmp_path, profile):
    make_state_bag(tmp_path / 'ep', profile, 5, topics=(POSE,))
    _, names, _ = read_bag(tmp_path / 'ep').observation_state()
    assert names == [f'ee_pose.{f}' for f in ('x', 'y', 'z', 'qx', 'qy', 'qz', 'qw')]


def test_a_state_topic_without_any_message_is_an_error_not_made_up_state(tmp_path, profile):
    make_state_bag(tmp_path / 'ep', profile, 5, topics=(JOINTS, '/nobody/publishes'))
    with pytest.raises(DataError, match=r'ep: state topic /nobody/publishes has no message'):
        read_bag(tmp_path / 'ep').observation_state()


def test_align_without_state_gives_an_empty_row_per_step():
    state, names, early = align([], np.arange(4))
    assert state.shape == (4, 0) and names == [] and early == 0
    s = Series('/x', np.array([10, 20]), np.array([[1.0], [2.0]]), ['x.v'])
    state, _, early = align([s], np.array([5, 10, 19, 20, 99]))
    assert state[:, 0].tolist() == [1.0, 1.0, 1.0, 2.0, 2.0] and early == 1


def test_export_writes_observation_state_with_its_names_and_stats(tmp_path, profile):
    for i, n in enumerate((12, 9)):
        make_state_bag(tmp_path / 'bags' / f'episode_{i:06d}', profile, n, index=i)
    assert main(['export-lerobot', str(tmp_path / 'bags'), '--out', str(tmp_path / 'ds')]) == 0
    import pyarrow.parquet as pq
    info = json.loads((tmp_path / 'ds' / 'meta' / 'info.json').read_text())
    feature = info['features']['observation.state']
    assert feature['shape'] == [15] and feature['dtype'] == 'float32'
    assert feature['names'][0] == 'joint_states.j1'
    table = pq.read_table(tmp_path / 'ds' / 'data' / 'chunk-000' / 'file-000.parquet')
    got = np.array(table.column('observation.state').to_pylist())
    want = np.concatenate([read_bag(tmp_path / 'bags' / f'episode_{i:06d}')
                           .observation_state()[0] for i in range(2)])
    np.testing.assert_allclose(got, want, rtol=1e-6)
    stats = json.loads((tmp_path / 'ds' / 'meta' / 'stats.json').read_text())
    np.testing.assert_allclose(stats['observation.state']['max'], want.max(0), rtol=1e-6)


def test_export_refuses_episodes_with_different_state(tmp_path, profile, capsys):
    make_state_bag(tmp_path / 'bags' / 'episode_000000', profile, 5, index=0)
    make_state_bag(tmp_path / 'bags' / 'episode_000001', profile, 5, index=1, topics=(POSE,))
    assert main(['export-lerobot', str(tmp_path / 'bags'), '--out', str(tmp_path / 'ds')]) != 0
    err = capsys.readouterr().err
    assert 'robot state differs from that of' in err and 'joint_states.finger' in err
    assert 'export them apart' in err and 'Traceback' not in err
