"""Tests of the TFRecord reader: framing, CRC-32C, hand-parsed Example protobufs, errors."""

import gzip
import json
import struct

import numpy as np
import pytest
from robotok_ros.data import tfrecord
from robotok_ros.data.readers import read_episodes
from robotok_ros.errors import DataError


# -- a small test-side TFRecord writer: protobuf wire format + framing -------------------------
def _varint(value):
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number, payload):
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _feature(values):
    """Encode a tf.train.Feature: bytes, ('unpacked', floats), int list or float array."""
    if isinstance(values, bytes):
        return _field(1, _field(1, values))
    if isinstance(values, tuple) and values[0] == 'unpacked':
        return _field(2, b''.join(_varint(1 << 3 | 5) + struct.pack('<f', v)
                                  for v in values[1]))
    if isinstance(values, list):
        return _field(3, _field(1, b''.join(_varint(v) for v in values)))
    return _field(2, _field(1, np.asarray(values, '<f4').tobytes()))


def _example(features):
    entries = b''.join(_field(1, _field(1, key.encode()) + _field(2, _feature(value)))
                       for key, value in features.items())
    return _field(1, entries)


def _frame(payload):
    length = struct.pack('<Q', len(payload))
    return (length + struct.pack('<I', tfrecord.masked_crc32c(length)) + payload
            + struct.pack('<I', tfrecord.masked_crc32c(payload)))


def _write_tfrecord(path, examples):
    path.write_bytes(b''.join(_frame(_example(e)) for e in examples))
    return path


def _crc32c_bitwise(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


# -- TFRecord ---------------------------------------------------------------------------------
def test_crc32c_matches_reference_on_known_vector_and_long_inputs():
    assert tfrecord.crc32c(b'123456789') == 0xE3069283
    rng = np.random.default_rng(0)
    # Lengths around the switch to the chunked numpy path and with ragged tails.
    for n in (0, 1, 4095, 4096, 4097, 9000, 65537):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert tfrecord.crc32c(data) == _crc32c_bitwise(data), n


def test_tfrecord_packed_unpacked_and_int_features(tmp_path):
    rng = np.random.default_rng(1)
    a0 = rng.normal(size=(5, 3)).astype(np.float32)
    a1 = rng.normal(size=(2, 3)).astype(np.float32)
    path = _write_tfrecord(tmp_path / 'x.tfrecord', [
        {'steps/observation/image': b'\xff\xd8jpeg', 'steps/action': a0.ravel(),
         'steps/count': [7]},
        {'steps/action': ('unpacked', a1.ravel().tolist()), 'steps/count': [1, -2, 3]},
    ])
    eps = read_episodes(path, dim=3)
    assert [e.shape for e in eps] == [(5, 3), (2, 3)]
    np.testing.assert_array_equal(eps[0], a0.astype(np.float64))
    np.testing.assert_array_equal(eps[1], a1.astype(np.float64))
    ints = read_episodes(path.parent / 'x.tfrecord', key='steps/count', fmt='rlds', dim=1)
    assert ints[1].ravel().tolist() == [1.0, -2.0, 3.0]
    with pytest.raises(DataError, match=r'record 0 has no feature .steps/reward.; available: '
                                        r'steps/action, steps/count, steps/observation/image'):
        read_episodes(path, key='steps/reward', dim=1)


def test_tfrecord_dim_from_features_json_default_7_and_shards(tmp_path):
    flat = np.arange(24, dtype=np.float32)
    path = _write_tfrecord(tmp_path / 'd-train.tfrecord-00000-of-00001',
                           [{'steps/action': flat}])
    with pytest.raises(DataError, match='24 values, not a multiple of dim=7'):
        read_episodes(path)
    spec = {'featuresDict': {'features': {'steps': {'sequence': {'feature': {'featuresDict': {
        'features': {'action': {'tensor': {'shape': {'dimensions': ['2', '2']}}}}}}}}}}}
    (tmp_path / 'features.json').write_text(json.dumps(spec))
    assert read_episodes(path)[0].shape == (6, 4)
    assert read_episodes(path, dim=8)[0].shape == (3, 8)


def test_tfrecord_corruption_names_file_and_record(tmp_path):
    good = [{'steps/action': np.ones(7, np.float32)}] * 3
    data = bytearray(_write_tfrecord(tmp_path / 'ok.tfrecord', good).read_bytes())
    record = len(data) // 3
    bad_payload = bytearray(data)
    bad_payload[record + 20] ^= 0x01
    (tmp_path / 'payload.tfrecord').write_bytes(bad_payload)
    with pytest.raises(DataError, match=r'payload\.tfrecord: record 1 .*data checksum mismatch'):
        read_episodes(tmp_path / 'payload.tfrecord')
    bad_length = bytearray(data)
    bad_length[2 * record] ^= 0x01
    (tmp_path / 'length.tfrecord').write_bytes(bad_length)
    with pytest.raises(DataError, match=r'length\.tfrecord: record 2 .*length checksum'):
        read_episodes(tmp_path / 'length.tfrecord')
    (tmp_path / 'short.tfrecord').write_bytes(data[:-10])
    with pytest.raises(DataError, match=r'short\.tfrecord: record 2 .*truncated'):
        read_episodes(tmp_path / 'short.tfrecord')


def test_tfrecord_gzip_and_malformed_protobuf(tmp_path):
    examples = [{'steps/action': np.full(14, 0.5, np.float32)}]
    raw = _write_tfrecord(tmp_path / 'raw.tfrecord', examples).read_bytes()
    (tmp_path / 'z.tfrecord').write_bytes(gzip.compress(raw))
    np.testing.assert_array_equal(read_episodes(tmp_path / 'z.tfrecord')[0], np.full((2, 7), .5))
    (tmp_path / 'junk.tfrecord').write_bytes(_frame(b'\x0a\xff\xff\xff\xff\x0f'))
    with pytest.raises(DataError, match=r'junk\.tfrecord: record 0: cannot read feature'):
        read_episodes(tmp_path / 'junk.tfrecord')
    (tmp_path / 'img.tfrecord').write_bytes(_frame(_example({'steps/action': b'abc'})))
    with pytest.raises(DataError, match='holds bytes'):
        read_episodes(tmp_path / 'img.tfrecord')
