"""
Read RLDS / TFDS TFRecord files without TensorFlow.

A TFRecord file is a sequence of records framed as ``uint64 length``,
``uint32 masked crc32c(length)``, ``payload``, ``uint32 masked crc32c(payload)``
(all little-endian).  In RLDS datasets (Ramos et al. 2021, "RLDS: an
Ecosystem to Generate, Share and Use Datasets in Reinforcement Learning")
each payload is one serialized ``tf.train.Example`` holding a whole episode,
with per-step features flattened, e.g. ``steps/action`` as ``T * D`` floats.

CRC-32C (Castagnoli polynomial 0x82F63B78) is computed with a byte table.
Long payloads are split into equal chunks whose CRCs advance in parallel in
numpy; the chunk CRCs are then joined using the linearity of CRCs over
GF(2) (the ``crc32_combine`` idea of zlib), so checking a megabyte costs
milliseconds instead of a Python loop per byte.

The protobuf wire format is parsed by hand, and only as far as needed: the
``Features`` map is scanned for keys and only the requested feature is decoded,
so JPEG images in the same record are never copied.
"""

import gzip
import json
import math
from pathlib import Path
import re
import struct

import numpy as np
from robotok_ros.errors import DataError

TFRECORD_NAME = re.compile(r'\.tfrecord(-\d+-of-\d+)?$')
DEFAULT_KEY = 'steps/action'
DEFAULT_DIM = 7
_MASK_DELTA = 0xA282EAD8


def _make_table():
    table = np.zeros(256, dtype=np.uint32)
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table[i] = crc
    return table


CRC_TABLE = _make_table()
_TABLE_LIST = [int(v) for v in CRC_TABLE]
_SHIFT_TABLES = {}


def _crc_update_python(crc, data):
    """Advance the raw (un-inverted) CRC register ``crc`` over ``data`` byte by byte."""
    table = _TABLE_LIST
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


def _shift_tables(length):
    """Byte tables of the linear map 'advance the register over ``length`` zero bytes'."""
    if length not in _SHIFT_TABLES:
        basis = np.left_shift(np.uint32(1), np.arange(32, dtype=np.uint32))
        for _ in range(length):
            basis = CRC_TABLE[basis & 0xFF] ^ (basis >> 8)
        tables = []
        byte_values = np.arange(256)
        for j in range(4):
            table = np.zeros(256, dtype=np.uint32)
            for k in range(8):
                table[(byte_values >> k) & 1 == 1] ^= basis[8 * j + k]
            tables.append([int(v) for v in table])
        _SHIFT_TABLES[length] = tables
    return _SHIFT_TABLES[length]


def crc32c(data):
    """Return the CRC-32C of ``data`` (bytes-like) as an int (check value 0xE3069283)."""
    data = memoryview(data).cast('B')
    n = len(data)
    crc = 0xFFFFFFFF
    if n < 4096:
        return _crc_update_python(crc, data) ^ 0xFFFFFFFF
    # Chunk length: a power of two near sqrt(n) balances the numpy loop (one step per byte
    # of a chunk) against the Python join loop (one step per chunk).
    chunk = 1 << max(6, int(math.log2(math.sqrt(n))))
    count = n // chunk
    block = np.frombuffer(data, dtype=np.uint8, count=count * chunk).reshape(count, chunk)
    block = np.ascontiguousarray(block.T).astype(np.uint32)
    regs = np.zeros(count, dtype=np.uint32)
    for column in block:
        regs = CRC_TABLE[(regs ^ column) & 0xFF] ^ (regs >> 8)
    t0, t1, t2, t3 = _shift_tables(chunk)
    for reg in regs.tolist():
        crc = (t0[crc & 0xFF] ^ t1[(crc >> 8) & 0xFF] ^ t2[(crc >> 16) & 0xFF]
               ^ t3[crc >> 24] ^ reg)
    return _crc_update_python(crc, data[count * chunk:]) ^ 0xFFFFFFFF


def masked_crc32c(data):
    """Return the TFRecord-masked CRC-32C of ``data``."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def _open(path):
    with open(path, 'rb') as f:
        magic = f.read(2)
    # TFRecordWriter's GZIP option compresses the whole stream.
    return gzip.open(path, 'rb') if magic == b'\x1f\x8b' else open(path, 'rb')


def iter_records(path, verify=True):
    """Yield ``(index, payload bytes)`` of every record; DataError on bad framing or CRC."""
    try:
        with _open(path) as f:
            index = 0
            offset = 0
            while True:
                header = f.read(12)
                if not header:
                    return
                if len(header) < 12:
                    raise DataError(f'{path}: record {index} at byte {offset}: truncated '
                                    f'header ({len(header)} of 12 bytes)')
                length, length_crc = struct.unpack('<QI', header)
                if verify and masked_crc32c(header[:8]) != length_crc:
                    raise DataError(f'{path}: record {index} at byte {offset}: length checksum '
                                    'mismatch (corrupt file, or not a TFRecord file)')
                payload = f.read(length)
                footer = f.read(4)
                if len(payload) < length or len(footer) < 4:
                    raise DataError(f'{path}: record {index} at byte {offset}: truncated '
                                    f'(header says {length} bytes of payload)')
                if verify and masked_crc32c(payload) != struct.unpack('<I', footer)[0]:
                    raise DataError(f'{path}: record {index} at byte {offset}: data checksum '
                                    'mismatch (corrupt record)')
                yield index, payload
                index += 1
                offset += 16 + length
    except (OSError, EOFError) as exc:
        raise DataError(f'{path}: cannot be read as a TFRecord file: {exc}') from None


class _ProtoError(ValueError):
    pass


def _varint(buf, pos, end):
    result = 0
    shift = 0
    while True:
        if pos >= end or shift > 63:
            raise _ProtoError(f'bad varint at byte {pos}')
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _fields(buf, pos, end):
    """Yield ``(field number, wire type, value)``; value is an int or ``(start, stop)``."""
    while pos < end:
        tag, pos = _varint(buf, pos, end)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos, end)
        elif wire == 1 or wire == 5:
            size = 8 if wire == 1 else 4
            value, pos = (pos, pos + size), pos + size
        elif wire == 2:
            size, pos = _varint(buf, pos, end)
            value, pos = (pos, pos + size), pos + size
        else:
            raise _ProtoError(f'unsupported wire type {wire} at byte {pos}')
        if pos > end:
            raise _ProtoError(f'field {number} runs past the end of its message')
        yield number, wire, value


def example_features(payload):
    """Map each feature key of a serialized ``tf.train.Example`` to its ``(start, stop)``."""
    out = {}
    for number, wire, span in _fields(payload, 0, len(payload)):
        if number != 1 or wire != 2:
            continue
        for entry_no, entry_wire, entry_span in _fields(payload, *span):
            if entry_no != 1 or entry_wire != 2:
                continue
            key, value = None, (0, 0)
            for field_no, field_wire, field_span in _fields(payload, *entry_span):
                if field_no == 1 and field_wire == 2:
                    key = bytes(payload[field_span[0]:field_span[1]]).decode('utf-8', 'replace')
                elif field_no == 2 and field_wire == 2:
                    value = field_span
            if key is not None:
                out[key] = value
    return out


# tf.train.Feature's oneof field numbers (feature.proto): which list a feature holds.
BYTES_LIST, FLOAT_LIST, INT64_LIST = 1, 2, 3


def decode_feature(payload, span):
    """Return the numbers of one ``tf.train.Feature`` as float64 ``(N,)``; bytes raise."""
    parts = []
    for field, wire, list_span in _fields(payload, *span):
        if field == BYTES_LIST:
            raise _ProtoError('holds bytes (e.g. images or text), not numbers')
        if field not in (FLOAT_LIST, INT64_LIST) or wire != 2:
            continue
        for number, value_wire, value in _fields(payload, *list_span):
            if number != 1:
                continue
            if field == FLOAT_LIST and value_wire == 2:
                start, stop = value
                if (stop - start) % 4:
                    raise _ProtoError('packed float list length is not a multiple of 4')
                parts.append(np.frombuffer(payload, '<f4', (stop - start) // 4, start))
            elif field == FLOAT_LIST and value_wire == 5:
                parts.append(np.frombuffer(payload, '<f4', 1, value[0]))
            elif field == INT64_LIST and value_wire == 2:
                ints, pos = [], value[0]
                while pos < value[1]:
                    v, pos = _varint(payload, pos, value[1])
                    ints.append(v - (1 << 64) if v >= 1 << 63 else v)
                parts.append(np.array(ints, dtype=np.float64))
            elif field == INT64_LIST and value_wire == 0:
                parts.append(np.array([value - (1 << 64) if value >= 1 << 63 else value],
                                      dtype=np.float64))
    if not parts:
        return np.zeros(0)
    return np.concatenate([np.asarray(p, dtype=np.float64) for p in parts])


def feature_dim(path, key):
    """Per-step size of ``key`` from ``features.json`` beside ``path``, or None if not given."""
    spec_path = Path(path).parent / 'features.json'
    if not spec_path.is_file():
        return None
    try:
        node = json.loads(spec_path.read_text())
        for part in key.split('/'):
            while 'featuresDict' not in node:
                node = node['sequence']['feature']
            node = node['featuresDict']['features'][part]
        dims = node['tensor']['shape'].get('dimensions', [])
        return int(np.prod([int(d) for d in dims])) if dims else 1
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_tfrecord_episodes(path, key=None, dim=None, verify=True):
    """
    Read every record of an RLDS TFRecord file as one ``(T, D)`` float64 episode.

    ``key`` (default ``steps/action``) names the flattened per-step feature; ``D`` is
    ``dim``, else the feature's shape in ``features.json`` beside the file, else 7.
    """
    key = key or DEFAULT_KEY
    if dim is None:
        dim = feature_dim(path, key) or DEFAULT_DIM
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
        raise DataError(f'{path}: dim must be a positive integer, got {dim!r}')
    episodes = []
    for index, payload in iter_records(path, verify):
        try:
            features = example_features(payload)
            if key not in features:
                raise DataError(f'{path}: record {index} has no feature {key!r}; available: '
                                f'{", ".join(sorted(features)) or "none"}')
            values = decode_feature(payload, features[key])
        except _ProtoError as exc:
            raise DataError(f'{path}: record {index}: cannot read feature {key!r} of the '
                            f'tf.train.Example: {exc}') from None
        if values.size % dim:
            raise DataError(f'{path}: record {index}: feature {key!r} has {values.size} values, '
                            f'not a multiple of dim={dim}')
        episodes.append(values.reshape(-1, dim))
    return episodes
