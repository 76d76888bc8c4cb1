"""Episode bags: every message written is read back, metadata present, crash durability."""

import json
from pathlib import Path
import signal
import subprocess
import sys

import numpy as np
import pytest
from robotok_ros.data.bag_repair import repair_bag
from robotok_ros.data.bag_writer import bag_mcap, episode_path, EpisodeWriter, \
    next_episode_index, typestore
from robotok_ros.data.bags import read_bag, read_bag_episodes
from robotok_ros.data.wire import ACTION_TOPIC, ACTION_TYPE, TOKENS_TOPIC, TOKENS_TYPE
from robotok_ros.data.wire import parse_step_label, step_label
from robotok_ros.errors import DataError
from rosbags.rosbag2 import Reader

TOPICS = {TOKENS_TOPIC: TOKENS_TYPE, ACTION_TOPIC: ACTION_TYPE}
STORE = typestore()


def _array_msg(msgtype, values, step, dim):
    types = STORE.types
    dims = [types['std_msgs/msg/MultiArrayDimension'](label=step_label(step, 1000 + step),
                                                      size=len(values) // dim,
                                                      stride=len(values)),
            types['std_msgs/msg/MultiArrayDimension'](label='action', size=dim, stride=dim)]
    layout = types['std_msgs/msg/MultiArrayLayout'](dim=dims, data_offset=0)
    dtype = np.int32 if msgtype == TOKENS_TYPE else np.float64
    msg = types[msgtype](layout=layout, data=np.asarray(values, dtype=dtype))
    return bytes(STORE.serialize_cdr(msg, msgtype))


def write_steps(writer, actions, start=0):
    """Write one token and one action message per row of ``actions`` (T, D)."""
    for i, row in enumerate(actions):
        step = start + i
        writer.write(ACTION_TOPIC, 1000 + step, _array_msg(ACTION_TYPE, row, step, len(row)))
        writer.write(TOKENS_TOPIC, 1000 + step,
                     _array_msg(TOKENS_TYPE, np.arange(len(row)) + step, step, len(row)))


def test_every_written_message_is_read_back_with_metadata(tmp_path):
    actions = np.random.default_rng(0).normal(size=(500, 7))
    writer = EpisodeWriter(tmp_path / 'ep', TOPICS, {'task': 'stack the cups',
                                                     'episode_index': 4})
    write_steps(writer, actions)
    writer.close()
    with Reader(tmp_path / 'ep') as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
    assert counts[ACTION_TOPIC] == 500 and counts[TOKENS_TOPIC] == 500
    ep = read_bag(tmp_path / 'ep')
    np.testing.assert_array_equal(ep.actions, actions)
    np.testing.assert_array_equal(ep.steps, np.arange(500))
    assert ep.task == 'stack the cups' and ep.metadata['episode_index'] == 4
    np.testing.assert_array_equal(ep.step_tokens()[3], np.arange(7) + 3)
    assert [a.shape for a in read_bag_episodes(tmp_path)] == [(500, 7)]


def test_flushed_bag_is_readable_while_still_open(tmp_path):
    writer = EpisodeWriter(tmp_path / 'ep', TOPICS, {})
    write_steps(writer, np.zeros((40, 7)))
    writer.flush()
    assert read_bag(tmp_path / 'ep').actions.shape == (40, 7)
    write_steps(writer, np.ones((10, 7)), start=40)
    writer.flush()
    assert read_bag(tmp_path / 'ep').actions.shape == (50, 7)
    writer.close()
    assert read_bag(tmp_path / 'ep').actions.shape == (50, 7)


CHILD = """
import sys
import numpy as np
sys.path.insert(0, {test_dir!r})
from test_recorder import EpisodeWriter, TOPICS, write_steps
writer = EpisodeWriter({path!r}, TOPICS, {{'task': 'killed'}})
step = 0
while True:
    write_steps(writer, np.full((25, 7), float(step)), start=step)
    step += 25
    writer.flush()
    print(step, flush=True)
"""


def test_killed_writer_leaves_a_bag_readable_up_to_its_last_flush(tmp_path):
    path = tmp_path / 'ep'
    code = CHILD.format(test_dir=str(Path(__file__).parent), path=str(path))
    proc = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True)
    try:
        flushed = [int(proc.stdout.readline()) for _ in range(20)]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    ep = read_bag(path)            # no repair needed
    assert len(ep.actions) >= flushed[-1]
    np.testing.assert_array_equal(ep.steps, np.arange(len(ep.steps)))
    assert ep.task == 'killed'


def test_torn_flush_is_repaired_back_to_the_last_whole_record(tmp_path):
    path = tmp_path / 'ep'
    writer = EpisodeWriter(path, TOPICS, {'task': 'torn'})
    write_steps(writer, np.zeros((30, 7)))
    writer.flush()
    size_after_first = bag_mcap(path).stat().st_size
    write_steps(writer, np.ones((30, 7)), start=30)
    writer.flush()
    # A kill in the middle of writing the second chunk: cut it in half.
    mcap = bag_mcap(path)
    data = mcap.read_bytes()
    mcap.write_bytes(data[:size_after_first + (len(data) - size_after_first) // 2])
    with pytest.raises(DataError, match='repair-bag'):
        read_bag(path)
    kept = repair_bag(path)
    ep = read_bag(path)
    assert ep.actions.shape == (30, 7) and ep.task == 'torn'
    assert kept == 61            # metadata message + 30 actions + 30 tokens


def test_a_bag_cut_anywhere_is_a_data_error_never_a_crash(tmp_path):
    writer = EpisodeWriter(tmp_path / 'ep', TOPICS, {})
    write_steps(writer, np.zeros((20, 7)))
    writer.close()
    mcap = bag_mcap(tmp_path / 'ep')
    data = mcap.read_bytes()
    for cut in range(0, len(data), 97):
        mcap.write_bytes(data[:cut])
        with pytest.raises(DataError):
            read_bag(tmp_path / 'ep')


def test_repair_leaves_a_clean_bag_alone(tmp_path):
    writer = EpisodeWriter(tmp_path / 'ep', TOPICS, {})
    write_steps(writer, np.zeros((5, 7)))
    writer.close()
    before = bag_mcap(tmp_path / 'ep').read_bytes()
    assert repair_bag(tmp_path / 'ep') == 11
    assert bag_mcap(tmp_path / 'ep').read_bytes() == before


def test_metadata_yaml_custom_data_holds_the_metadata(tmp_path):
    import yaml
    writer = EpisodeWriter(tmp_path / 'ep', TOPICS, {'robot_profile': {'name': 'test7'}})
    writer.close()
    info = yaml.safe_load((tmp_path / 'ep' / 'metadata.yaml').read_text())
    custom = info['rosbag2_bagfile_information']['custom_data']
    assert json.loads(custom['robotok'])['robot_profile'] == {'name': 'test7'}


def test_bad_inputs_name_the_problem(tmp_path):
    writer = EpisodeWriter(tmp_path / 'ep', TOPICS, {})
    with pytest.raises(DataError, match='/other'):
        writer.write('/other', 0, b'')
    writer.close()
    with pytest.raises(DataError, match='exists'):
        EpisodeWriter(tmp_path / 'ep', TOPICS, {})
    (tmp_path / 'empty').mkdir()
    with pytest.raises(DataError, match='no rosbag2 bags'):
        read_bag_episodes(tmp_path / 'empty')
    with pytest.raises(DataError, match='no such file'):
        read_bag_episodes(tmp_path / 'missing')


def test_episode_indices_continue_after_existing_bags(tmp_path):
    assert next_episode_index(tmp_path) == 0
    episode_path(tmp_path, 0).mkdir()
    episode_path(tmp_path, 7).mkdir()
    assert next_episode_index(tmp_path) == 8
    assert episode_path(tmp_path, 8).name == 'episode_000008'


# -- the episode_recorder node, with real rclpy in other processes ---------------------------
def _status(msgs):
    return json.loads(msgs[-1].data) if msgs else {}


def _start_recorder(ros, profile_path, out_dir, **params):
    from std_msgs.msg import String
    proc = ros.start_node('episode_recorder', params={
        'profile_path': str(profile_path), 'output_dir': str(out_dir), 'flush_period': 0.1,
        'raw_topics': ['teleop/twist=geometry_msgs/msg/Twist'], **params})
    status = ros.collect('/episode_recorder/status', String)
    ros.wait_for_subscribers(ACTION_TOPIC)
    ros.wait_for_subscribers('/robotok/task')
    return proc, status


def _publish_steps(ros, n, dim=7):
    from geometry_msgs.msg import Twist
    from std_msgs.msg import Float64MultiArray, Int32MultiArray, MultiArrayDimension
    from rosutil import reliable
    # Deep enough for the whole burst: a reliable KEEP_LAST writer overwrites unacked samples.
    qos = reliable(depth=1000)
    pubs = [ros.publisher(ACTION_TOPIC, Float64MultiArray, qos),
            ros.publisher(TOKENS_TOPIC, Int32MultiArray, qos),
            ros.publisher('/teleop/twist', Twist, qos)]
    # Matched by the recorder, not only discovered: else the first messages go nowhere.
    assert ros.wait_for(lambda: all(p.get_subscription_count() for p in pubs))
    for step in range(n):
        label = [MultiArrayDimension(label=step_label(step, step), size=1, stride=dim),
                 MultiArrayDimension(label='action', size=dim, stride=dim)]
        act = Float64MultiArray(data=[float(step)] * dim)
        act.layout.dim = label
        tok = Int32MultiArray(data=[step] * dim)
        tok.layout.dim = label
        ros.publish(ACTION_TOPIC, act)
        ros.publish(TOKENS_TOPIC, tok)
        ros.publish('/teleop/twist', Twist())
        if step % 20 == 19:
            ros.spin_for(0.005)


@pytest.mark.timeout(60)
def test_recorder_node_records_every_message_with_metadata(profile_path, tmp_path):
    from rosutil import RosHarness
    from std_msgs.msg import String
    from std_srvs.srv import Trigger
    n = 300
    with RosHarness() as ros:
        _, status = _start_recorder(ros, profile_path, tmp_path)
        ros.publish('/robotok/task', String(data='pick up the block'))
        assert ros.wait_for(lambda: _status(status).get('task') == 'pick up the block')
        assert ros.call(Trigger, '/episode_recorder/start_episode', Trigger.Request()).success
        _publish_steps(ros, n)
        assert ros.wait_for(lambda: _status(status).get('counts', {}).get(ACTION_TOPIC) == n
                            and _status(status)['counts'].get(TOKENS_TOPIC) == n)
        reply = ros.call(Trigger, '/episode_recorder/stop_episode', Trigger.Request())
        assert reply.success
        assert ros.wait_for(lambda: _status(status).get('episodes_closed') == 1)
    with Reader(reply.message) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
    assert counts[ACTION_TOPIC] == n and counts[TOKENS_TOPIC] == n
    assert counts['/teleop/twist'] == n
    ep = read_bag(reply.message)
    np.testing.assert_array_equal(ep.actions[:, 0], np.arange(n))
    assert ep.task == 'pick up the block' and ep.metadata['episode_index'] == 0
    assert ep.metadata['robot_profile']['name'] == 'test7'
    assert ep.metadata['tokenizer']['kind'] == 'uniform'


@pytest.mark.timeout(60)
def test_killed_recorder_node_leaves_a_readable_bag(profile_path, tmp_path):
    from rosutil import RosHarness

    def readable_rows():
        try:
            return len(read_bag(episode_path(tmp_path, 0)).actions)
        except DataError:
            return -1

    with RosHarness() as ros:
        proc, status = _start_recorder(ros, profile_path, tmp_path, start_on_launch=True,
                                       fsync=False)
        assert ros.wait_for(lambda: _status(status).get('recording'))
        _publish_steps(ros, 100)
        assert ros.wait_for(lambda: readable_rows() == 100)
        proc.proc.send_signal(signal.SIGKILL)
        proc.wait()
    ep = read_bag(episode_path(tmp_path, 0))
    np.testing.assert_array_equal(ep.actions[:, 0], np.arange(100))


@pytest.mark.timeout(60)
@pytest.mark.parametrize('signals', [('SIGINT',), ('SIGTERM',), ('SIGINT', 'SIGINT'),
                                     ('SIGINT', 'SIGTERM', 'SIGINT')])
def test_recorder_shutdown_closes_the_bag_cleanly(profile_path, tmp_path, signals):
    import yaml
    from rosutil import RosHarness
    with RosHarness() as ros:
        proc, status = _start_recorder(ros, profile_path, tmp_path, start_on_launch=True)
        assert ros.wait_for(lambda: _status(status).get('recording'))
        _publish_steps(ros, 50)
        assert ros.wait_for(lambda: _status(status).get('counts', {}).get(ACTION_TOPIC) == 50)
        # Later signals land while the bag is being closed: they must not cut it short.
        assert proc.stop(signals=[getattr(signal, s) for s in signals]) == 0, proc.describe()
        assert 'Traceback' not in proc.stderr, proc.stderr
    assert len(read_bag(episode_path(tmp_path, 0)).actions) == 50  # no repair needed
    info = yaml.safe_load((episode_path(tmp_path, 0) / 'metadata.yaml').read_text())
    custom = info['rosbag2_bagfile_information']['custom_data']
    assert json.loads(custom['counts'])[ACTION_TOPIC] == 50
    assert bag_mcap(episode_path(tmp_path, 0)).read_bytes()[-8:] == b'\x89MCAP0\r\n'


@pytest.mark.timeout(90)
def test_teleop_tokens_bag_decoder_loop_reproduces_actions_within_half_a_bin(profile_path,
                                                                             tmp_path):
    from geometry_msgs.msg import Twist
    from robotok_ros.profile_loader import load_profile
    from robotok_ros.tokenizers import make_tokenizer
    from rosutil import reliable, RosHarness
    from std_msgs.msg import Float64MultiArray, Int32MultiArray
    from std_srvs.srv import Trigger
    profile = load_profile(profile_path)
    # Deep enough for the whole replay: a reliable KEEP_LAST writer overwrites unacked samples.
    deep = reliable(depth=1000)
    params = {'profile_path': str(profile_path), 'n_bins': 64}
    with RosHarness() as ros:
        _, status = _start_recorder(ros, profile_path, tmp_path, n_bins=64)
        teleop = ros.start_node('teleop_tokenizer', params=params)
        sent = ros.collect(ACTION_TOPIC, Float64MultiArray)
        ros.wait_for_subscribers('/teleop/twist', count=2)      # teleop + recorder
        # Record once teleop's stream is flowing (discovered by every subscriber).
        assert ros.wait_for(lambda: len(sent) >= 2)
        assert ros.call(Trigger, '/episode_recorder/start_episode', Trigger.Request()).success
        # Counted from the start of the episode: under load the call itself may take seconds.
        t, started = 0.0, len(sent)
        while len(sent) < started + 28:
            msg = Twist()
            msg.linear.x, msg.angular.z = 0.15 * np.sin(2 * t), 0.8 * np.cos(3 * t)
            ros.publish('/teleop/twist', msg)
            ros.spin_for(0.01)
            t += 0.01
            assert t < 30, 'teleop_tokenizer published too little'
        bag = ros.call(Trigger, '/episode_recorder/stop_episode', Trigger.Request()).message
        assert ros.wait_for(lambda: _status(status).get('episodes_closed') == 1)
        ros.stop(teleop)
        ep = read_bag(bag)
        # No gap, and every step this test saw inside the episode is in the bag.
        np.testing.assert_array_equal(ep.steps, np.arange(ep.steps[0], ep.steps[-1] + 1))
        # (The test's own subscription may miss a sample under load; the bag may not.)
        seen = {parse_step_label(m.layout.dim[0].label)[0] for m in sent}
        assert {s for s in seen if ep.steps[0] <= s <= ep.steps[-1]} <= set(ep.steps.tolist())
        assert len(ep.steps) >= 20
        decoder = ros.start_node('token_decoder', params={**params, 'start_enabled': True})
        decoded = ros.collect('/robotok/decoded_action', Float64MultiArray)
        ros.wait_for_subscribers('/robotok/action_tokens')
        ros.wait_for_publishers('/robotok/decoded_action')
        # Warm up until the decoder's output reaches us (discovery is per pair of endpoints).
        warm = Int32MultiArray(data=ep.step_tokens()[0].tolist())
        assert ros.wait_for(lambda: decoded or ros.publish('/robotok/action_tokens', warm, deep))
        ros.spin_for(0.2)
        decoded.clear()
        for ids in ep.step_tokens():
            ros.publish('/robotok/action_tokens', Int32MultiArray(data=ids.tolist()), deep)
            ros.spin_for(0.01)
        assert ros.wait_for(lambda: len(decoded) >= len(ep.actions)), (
            f'{len(decoded)} decoded of {len(ep.actions)}\n{decoder.describe()}')
    half_bin = (profile.highs - profile.lows) / 64 / 2
    # A late warm-up decode could only come first: the last T are the replayed steps.
    out = np.array([m.data for m in decoded[-len(ep.actions):]])
    assert np.all(np.abs(out - ep.actions) <= half_bin + 1e-12)
    assert np.abs(ep.actions[:, [0, 5]]).max() > 0.005        # the arm really moved
    np.testing.assert_array_equal(ep.step_tokens(),
                                  make_tokenizer('uniform', profile, n_bins=64).encode(ep.actions))
