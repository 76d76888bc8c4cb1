"""Episode bags parse as Humble's, Jazzy's and Kilted's ``ros2 bag`` would (see bag_compat.py)."""

import json

from bag_compat import DISTRIBUTIONS, mcap_contents, metadata_problems, read_metadata
import numpy as np
import pytest
from robotok_ros.cli.main import main
from robotok_ros.data.bag_writer import bag_mcap, BAG_VERSION, EpisodeWriter, typestore
from robotok_ros.data.bags import read_bag, retokenize_bag
from robotok_ros.data.wire import (ACTION_TOPIC, ACTION_TYPE, METADATA_TOPIC, TOKENS_TOPIC,
                                   TOKENS_TYPE)
from robotok_ros.errors import DataError
from rosbags.rosbag2 import StoragePlugin, Writer
from test_recorder import write_steps
import yaml

TOPICS = {TOKENS_TOPIC: TOKENS_TYPE, ACTION_TOPIC: ACTION_TYPE}
DELIMITER = '=' * 80 + '\nMSG: '


def _closed(path):
    writer = EpisodeWriter(path, TOPICS, {'task': 'stack'})
    write_steps(writer, np.zeros((20, 7)))
    writer.set_custom('counts', writer.counts)
    writer.close()
    return 20


def _open_after_flush(path):
    writer = EpisodeWriter(path, TOPICS, {'task': 'stack'})
    write_steps(writer, np.zeros((15, 7)))
    writer.flush()           # left open: what a killed recorder leaves
    return 15


def _torn_then_repaired(path):
    writer = EpisodeWriter(path, TOPICS, {'task': 'stack'})
    write_steps(writer, np.zeros((10, 7)))
    writer.flush()
    size = bag_mcap(path).stat().st_size
    write_steps(writer, np.ones((10, 7)), start=10)
    writer.flush()
    mcap = bag_mcap(path)
    mcap.write_bytes(mcap.read_bytes()[:size + 40])
    with pytest.raises(DataError, match='repair-bag'):
        read_bag(path)
    assert main(['repair-bag', str(path)]) == 0
    return 10


def _yaml_lost_then_repaired(path):
    _closed(path)
    (path / 'metadata.yaml').unlink()
    with pytest.raises(DataError, match='repair-bag'):
        read_bag(path)
    assert main(['repair-bag', str(path)]) == 0
    return 20


def _retokenized(path):
    from robotok_ros.tokenizers import make_tokenizer
    _closed(path.parent / 'src')
    retokenize_bag(path.parent / 'src', path, make_tokenizer('uniform', 'widowx_250'))
    return 20


BAGS = {'closed': _closed, 'open_after_flush': _open_after_flush,
        'torn_then_repaired': _torn_then_repaired,
        'yaml_lost_then_repaired': _yaml_lost_then_repaired, 'retokenized': _retokenized}


@pytest.fixture(params=sorted(BAGS))
def bag(request, tmp_path):
    """``(folder, steps)`` of an episode bag in one of the states a user meets."""
    path = tmp_path / 'episode_000000'
    return path, BAGS[request.param](path)


@pytest.mark.parametrize('distribution', DISTRIBUTIONS)
def test_metadata_yaml_parses_on_every_distribution(bag, distribution):
    path, _ = bag
    info = read_metadata(path)
    assert info['version'] == BAG_VERSION == 8
    assert metadata_problems(info, distribution) == []
    # SequentialReader picks the plugin by storage_identifier and opens relative_file_paths
    # (rosbag2_cpp/src/rosbag2_cpp/readers/sequential_reader.cpp, 0.15.12 and 0.26.5).
    assert info['storage_identifier'] == 'mcap'
    assert all((path / name).is_file() for name in info['relative_file_paths'])
    assert info['relative_file_paths'] == [f['path'] for f in info['files']]


def test_our_readers_read_every_bag(bag):
    path, steps = bag
    ep = read_bag(path)
    assert ep.actions.shape == (steps, 7)
    assert ep.task == 'stack'
    np.testing.assert_array_equal(ep.steps, np.arange(steps))
    custom = read_metadata(path)['custom_data']
    assert json.loads(custom['robotok'])['task'] == 'stack'      # ros2 bag info shows it too


def test_mcap_records_are_what_humbles_mcap_plugin_reads(bag):
    path, _ = bag
    info = read_metadata(path)
    types = {t['topic_metadata']['name']: t['topic_metadata']['type']
             for t in info['topics_with_message_count']}
    header, schemas, channels, _ = mcap_contents(bag_mcap(path))
    assert header[0] == 'ros2'
    # rosbag2_storage_mcap/src/mcap_storage.cpp get_metadata() (0.15.12): the type is the
    # schema name, the serialization format the channel's message encoding, and
    # offered_qos_profiles the channel metadata string, parsed as in metadata.yaml.
    assert {topic: schemas[sid][0] for topic, sid, _, _ in channels.values()} == types
    for topic, sid, encoding, meta in channels.values():
        assert encoding == 'cdr' and meta == {'offered_qos_profiles': ''}, topic
    for name, encoding, text in schemas.values():
        # The ros2msg layout of message_definition_cache.cpp: the type's own .msg text, then
        # each nested type after a line of 80 '=' and "MSG: pkg/Name".
        assert encoding == 'ros2msg', name
        assert not text.startswith(DELIMITER)
        nested = [part.split('\n', 1)[0] for part in text.split(DELIMITER)[1:]]
        assert all(n.count('/') == 1 for n in nested), (name, nested)
    layout = next(text for name, _, text in schemas.values() if name == TOKENS_TYPE)
    assert DELIMITER + 'std_msgs/MultiArrayLayout\n' in layout


def test_closed_bag_carries_its_metadata_inside_the_mcap_too(tmp_path):
    # Jazzy's MCAP plugin reads this record when metadata.yaml is absent (read_metadata()).
    _closed(tmp_path / 'ep')
    _, _, _, records = mcap_contents(bag_mcap(tmp_path / 'ep'))
    inner = yaml.safe_load(records['rosbag2']['serialized_metadata'])
    for distribution in DISTRIBUTIONS:
        assert metadata_problems(inner, distribution) == []
    assert json.loads(inner['custom_data']['robotok'])['task'] == 'stack'
    assert {t['topic_metadata']['name'] for t in inner['topics_with_message_count']} == {
        METADATA_TOPIC, *TOPICS}


def test_version_9_is_what_humble_cannot_parse(tmp_path):
    store = typestore()
    with Writer(tmp_path / 'v9', version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection('/chatter', 'std_msgs/msg/String', typestore=store)
        msg = store.types['std_msgs/msg/String'](data='hi')
        writer.write(conn, 1, bytes(store.serialize_cdr(msg, 'std_msgs/msg/String')))
    info = read_metadata(tmp_path / 'v9')
    assert info['topics_with_message_count'][0]['topic_metadata']['offered_qos_profiles'] == []
    problems = metadata_problems(info, 'humble')
    assert problems and 'offered_qos_profiles: expected text' in problems[0]
    assert metadata_problems(info, 'jazzy') == metadata_problems(info, 'kilted') == []


def test_checkers_apply_each_versions_rules(tmp_path):
    _closed(tmp_path / 'ep')
    info = read_metadata(tmp_path / 'ep')
    topic = info['topics_with_message_count'][0]['topic_metadata']
    del info['ros_distro'], topic['type_description_hash'], info['custom_data']
    # Humble reads none of the three; Jazzy needs all of them from version 6, 7 and 8.
    assert metadata_problems(info, 'humble') == []
    assert len(metadata_problems(info, 'jazzy')) == 3
    assert metadata_problems(dict(info, version=5), 'jazzy') == []
    topic['offered_qos_profiles'] = '- history: keep_last\n  depth: 10'
    assert any('not a number' in p for p in metadata_problems(info, 'humble'))
    topic['offered_qos_profiles'] = None
    assert 'expected text' in metadata_problems(info, 'humble')[0]
    assert metadata_problems({'version': 'eight'}, 'humble') == [
        "info.version: expected int, got 'eight'"]
