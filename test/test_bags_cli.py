"""`robotok tokenize-bag`, `export-lerobot`, `repair-bag` and `fit` on bags."""

import json

import numpy as np
import pytest
from robotok_ros.cli.main import main
from robotok_ros.data.bag_writer import bag_mcap, episode_metadata, EpisodeWriter, typestore
from robotok_ros.data.bags import read_bag
from robotok_ros.data.wire import ACTION_TOPIC, ACTION_TYPE, TOKENS_TOPIC, TOKENS_TYPE
from robotok_ros.data.wire import step_label
from robotok_ros.profile_loader import load_profile
from robotok_ros.tokenizers import make_tokenizer

STORE = typestore()


def _msg(msgtype, values, step, dim):
    types = STORE.types
    dims = [types['std_msgs/msg/MultiArrayDimension'](label=step_label(step, step * 10 ** 8),
                                                      size=1, stride=dim),
            types['std_msgs/msg/MultiArrayDimension'](label='action', size=dim, stride=dim)]
    layout = types['std_msgs/msg/MultiArrayLayout'](dim=dims, data_offset=0)
    dtype = np.int32 if msgtype == TOKENS_TYPE else np.float64
    return bytes(STORE.serialize_cdr(types[msgtype](layout=layout, data=np.asarray(
        values, dtype=dtype)), msgtype))


def make_bag(path, profile, actions, task, index):
    """Record ``actions`` (T, D) with uniform tokens, as episode_recorder would."""
    tok = make_tokenizer('uniform', profile)
    vec = STORE.types['geometry_msgs/msg/Vector3']
    twist = STORE.types['geometry_msgs/msg/Twist'](linear=vec(x=0.0, y=0.0, z=0.0),
                                                   angular=vec(x=0.0, y=0.0, z=0.0))
    twist_raw = bytes(STORE.serialize_cdr(twist, 'geometry_msgs/msg/Twist'))
    writer = EpisodeWriter(path, {TOKENS_TOPIC: TOKENS_TYPE, ACTION_TOPIC: ACTION_TYPE,
                                  '/teleop/twist': 'geometry_msgs/msg/Twist'},
                           episode_metadata(profile, tok, task, index), start_ns=0)
    for step, row in enumerate(actions):
        t = step * 10 ** 8
        writer.write('/teleop/twist', t, twist_raw)
        writer.write(ACTION_TOPIC, t, _msg(ACTION_TYPE, row, step, len(row)))
        writer.write(TOKENS_TOPIC, t, _msg(TOKENS_TYPE, tok.encode(row), step, len(row)))
    writer.close()
    return path


@pytest.fixture
def bags(tmp_path, profile_path):
    """Three episode bags of the 7-D test profile; two tasks."""
    profile = load_profile(profile_path)
    rng = np.random.default_rng(0)
    out = tmp_path / 'bags'
    episodes = []
    for i, (n, task) in enumerate(((30, 'push'), (20, 'pull'), (25, 'push'))):
        acts = rng.uniform(profile.lows, profile.highs, (n, 7))
        acts[:, 6] = rng.integers(0, 2, n)
        make_bag(out / f'episode_{i:06d}', profile, acts, task, i)
        episodes.append(acts)
    return out, episodes, profile


def test_export_lerobot_schema_and_values(bags, tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq
    src, episodes, profile = bags
    out = tmp_path / 'lerobot'
    assert main(['export-lerobot', str(src), '--out', str(out)]) == 0
    assert '3 episodes, 75 frames, 2 tasks at 10 fps' in capsys.readouterr().out
    table = pq.read_table(out / 'data' / 'chunk-000' / 'file-000.parquet')
    schema = table.schema
    assert schema.field('action').type == pa.list_(pa.float32(), 7)
    assert schema.field('action_tokens').type == pa.list_(pa.int64())
    assert schema.field('timestamp').type == pa.float32()
    for name in ('frame_index', 'episode_index', 'task_index', 'index'):
        assert schema.field(name).type == pa.int64()
    action = np.array(table.column('action').to_pylist())
    np.testing.assert_allclose(action, np.concatenate(episodes), rtol=1e-6, atol=1e-7)
    tok = make_tokenizer('uniform', profile)
    np.testing.assert_array_equal(np.array(table.column('action_tokens').to_pylist()),
                                  tok.encode(np.concatenate(episodes)))
    cols = table.to_pydict()
    assert cols['index'] == list(range(75))
    assert cols['episode_index'] == [0] * 30 + [1] * 20 + [2] * 25
    assert cols['frame_index'][30:33] == [0, 1, 2]
    assert cols['task_index'] == [0] * 30 + [1] * 20 + [0] * 25
    np.testing.assert_allclose(cols['timestamp'][31], 0.1, rtol=1e-6)
    tasks = pq.read_table(out / 'meta' / 'tasks.parquet').to_pydict()
    assert tasks == {'task_index': [0, 1], 'task': ['push', 'pull']}
    info = json.loads((out / 'meta' / 'info.json').read_text())
    assert info['codebase_version'] == 'v3.0' and info['fps'] == 10
    assert info['total_episodes'] == 3 and info['total_frames'] == 75
    assert info['features']['action']['shape'] == [7]
    assert info['features']['action']['names'][0] == 'dx'
    stats = json.loads((out / 'meta' / 'stats.json').read_text())
    np.testing.assert_allclose(stats['action']['max'], np.concatenate(episodes).max(0),
                               rtol=1e-6)
    eps = pq.read_table(out / 'meta' / 'episodes' / 'chunk-000' / 'file-000.parquet')
    assert eps.column('length').to_pylist() == [30, 20, 25]


def test_exported_dataset_reads_back_through_the_lerobot_reader(bags, tmp_path):
    from robotok_ros.data.readers import read_episodes
    src, episodes, _ = bags
    main(['export-lerobot', str(src), '--out', str(tmp_path / 'lerobot')])
    back = read_episodes(tmp_path / 'lerobot')
    assert [len(e) for e in back] == [30, 20, 25]
    np.testing.assert_allclose(back[1], episodes[1], rtol=1e-6, atol=1e-7)


def test_export_refuses_a_non_empty_folder(bags, tmp_path, capsys):
    src, _, _ = bags
    (tmp_path / 'full').mkdir()
    (tmp_path / 'full' / 'x').write_text('x')
    assert main(['export-lerobot', str(src), '--out', str(tmp_path / 'full')]) == 2
    assert 'not empty' in capsys.readouterr().err


def test_tokenize_bag_with_another_tokenizer(bags, tmp_path):
    src, episodes, profile = bags
    out = tmp_path / 'rt1'
    assert main(['tokenize-bag', str(src / 'episode_000001'), '--out', str(out),
                 '--tokenizer', 'rt1', '--n-bins', '64', '--vocab-offset', '1000']) == 0
    ep = read_bag(out / 'episode_000001')
    tok = make_tokenizer('rt1', profile, n_bins=64, vocab_offset=1000)
    np.testing.assert_array_equal(ep.step_tokens(), tok.encode(episodes[1]))
    np.testing.assert_array_equal(ep.actions, episodes[1])
    assert ep.metadata['tokenizer']['kind'] == 'rt1' and ep.task == 'pull'
    assert ep.metadata['retokenized_from'].endswith('episode_000001')
    from rosbags.rosbag2 import Reader
    with Reader(out / 'episode_000001') as reader:
        assert {c.topic: c.msgcount for c in reader.connections}['/teleop/twist'] == 20


def test_tokenize_bag_with_a_chunk_tokenizer(bags, tmp_path):
    src, episodes, profile = bags
    tok = make_tokenizer('fast', profile, chunk_steps=4, vocab=300).fit(episodes)
    tok.save(tmp_path / 'fast')
    assert main(['tokenize-bag', str(src / 'episode_000001'), '--out', str(tmp_path / 'f'),
                 '--tokenizer', 'fast', '--tokenizer-path', str(tmp_path / 'fast')]) == 0
    ep = read_bag(tmp_path / 'f' / 'episode_000001')
    assert ep.token_steps == [0, 4, 8, 12, 16]          # 20 steps, one message per 4
    np.testing.assert_array_equal(ep.token_messages[1], tok.encode_chunk(episodes[1][4:8]))


def test_repair_bag_cli(bags, tmp_path, capsys):
    src, _, _ = bags
    bag = src / 'episode_000000'
    mcap = bag_mcap(bag)
    data = mcap.read_bytes()
    mcap.write_bytes(data[:len(data) - 200])        # the summary and footer are gone
    assert main(['repair-bag', str(bag)]) == 0
    assert 'readable' in capsys.readouterr().out
    assert len(read_bag(bag).actions) == 30


def test_fit_reads_bags(bags, tmp_path, profile_path):
    from robotok_ros.data.readers import read_episodes
    src, episodes, _ = bags
    back = read_episodes(src)
    assert [len(e) for e in back] == [30, 20, 25]
    np.testing.assert_array_equal(back[2], episodes[2])
    out = tmp_path / 'fitted.yaml'
    assert main(['fit', '--profile', str(profile_path), '--data', str(src),
                 '--out', str(out)]) == 0
    fitted = load_profile(out)
    np.testing.assert_allclose(fitted.highs, np.concatenate(episodes).max(0))


def test_missing_bag_is_a_one_line_error(tmp_path, capsys):
    assert main(['export-lerobot', str(tmp_path / 'nope'), '--out', str(tmp_path / 'o')]) == 2
    err = capsys.readouterr().err
    assert 'nope' in err and 'Traceback' not in err
