"""
What each distribution's ``ros2 bag`` demands of a bag folder: metadata.yaml and the MCAP.

The rules are transcribed from the rosbag2 sources (github.com/ros2/rosbag2):

- Humble, rosbag2 0.15.12 (tag 0.15.12, 555657ad; the humble branch at d256a5b has the same
  files): rosbag2_storage/src/rosbag2_storage/metadata_io.cpp ``convert<BagMetadata>``.
  It has no upper version check: it reads the fields of versions <= 5 and ignores the rest.
  ``offered_qos_profiles`` is ``as<std::string>()`` for version >= 4, so version 9's YAML
  list throws "Exception on parsing info file".  The player parses that string
  (rosbag2_transport/src/rosbag2_transport/player.cpp, qos.cpp): '' means default QoS, else a
  list of profiles with integer policies.  Releases 0.15.13-0.15.16 change no metadata code
  (rosbag2_storage changelog).
- Jazzy, rosbag2 0.26.5 (tag 0.26.5, 6927adf5; jazzy branch 64717ee8 the same):
  rosbag2_storage/include/rosbag2_storage/yaml.hpp and src/rosbag2_storage/qos.cpp.
  Version >= 9: offered_qos_profiles is a list; 4..8: a string; >= 6 custom_data
  (string -> string map); >= 7 type_description_hash; >= 8 ros_distro.
- Kilted, rosbag2 0.32.0: the same rules.  Read from rolling at 0.29.0 (tag efd8d398,
  rolling 25304dd3), whose yaml.hpp and qos.cpp equal Jazzy's; the rosbag2_storage changelog
  for 0.30.0-0.32.0 lists no metadata change.  No Kilted tag was in the mirror read.

yaml-cpp ``as<T>()`` throws on a missing key; here a missing key, a null where text is
expected, or a wrong node kind is a problem (null is stricter than yaml-cpp, which reads it
as the text "null").
"""

import struct

import yaml

DISTRIBUTIONS = ('humble', 'jazzy', 'kilted')
QOS_KEYS = ('history', 'depth', 'reliability', 'durability', 'deadline', 'lifespan',
            'liveliness', 'liveliness_lease_duration', 'avoid_ros_namespace_conventions')


def _kind_problem(node, where, kind):
    """Return why ``node`` cannot be read as ``kind`` by yaml-cpp, or None."""
    if kind == 'text':
        ok = node is not None and not isinstance(node, (list, dict))
    elif kind == 'uint':
        ok = isinstance(node, int) and not isinstance(node, bool) and node >= 0
    elif kind == 'int':
        ok = isinstance(node, int) and not isinstance(node, bool)
    elif kind == 'list':
        ok = isinstance(node, list)
    elif kind == 'map':
        ok = isinstance(node, dict)
    elif kind == 'map or null':
        ok = node is None or isinstance(node, dict)
    else:
        ok = True
    return None if ok else f'{where}: expected {kind}, got {node!r}'


def _need(problems, mapping, key, where, kind):
    """Check ``mapping[key]`` reads as ``kind``; return the value (None when missing)."""
    if not isinstance(mapping, dict) or key not in mapping:
        problems.append(f'{where}.{key}: missing')
        return None
    problem = _kind_problem(mapping[key], f'{where}.{key}', kind)
    if problem:
        problems.append(problem)
    return mapping[key]


def _qos_text_problems(text, where, names_allowed):
    """Check a version 4..8 offered_qos_profiles string as the player parses it."""
    if text == '':
        return []
    profiles = yaml.safe_load(text)
    if not isinstance(profiles, list):
        return [f'{where}: QoS text is not a YAML list: {text!r}']
    problems = []
    for i, profile in enumerate(profiles):
        for key in QOS_KEYS:
            value = _need(problems, profile, key, f'{where}[{i}]', 'any')
            if key in ('history', 'reliability', 'durability', 'liveliness') and not (
                    isinstance(value, int) or names_allowed and isinstance(value, str)):
                problems.append(f'{where}[{i}].{key}: policy {value!r} is not a number')
    return problems


def metadata_problems(info, distribution):
    """Return why ``distribution``'s rosbag2 cannot parse ``rosbag2_bagfile_information``."""
    problems = []
    version = _need(problems, info, 'version', 'info', 'int')
    if not isinstance(version, int):
        return problems
    jazzy_rules = distribution in ('jazzy', 'kilted')
    _need(problems, info, 'storage_identifier', 'info', 'text')
    _need(problems, _need(problems, info, 'duration', 'info', 'map'), 'nanoseconds',
          'info.duration', 'uint')
    _need(problems, _need(problems, info, 'starting_time', 'info', 'map'),
          'nanoseconds_since_epoch', 'info.starting_time', 'uint')
    _need(problems, info, 'message_count', 'info', 'uint')
    for i, topic in enumerate(_need(problems, info, 'topics_with_message_count', 'info',
                                    'list') or []):
        where = f'info.topics_with_message_count[{i}]'
        meta = _need(problems, topic, 'topic_metadata', where, 'map')
        _need(problems, topic, 'message_count', where, 'uint')
        for key in ('name', 'type', 'serialization_format'):
            _need(problems, meta, key, f'{where}.topic_metadata', 'text')
        if version >= 9 and jazzy_rules:
            _need(problems, meta, 'offered_qos_profiles', f'{where}.topic_metadata', 'list')
        elif version >= 4:
            qos = _need(problems, meta, 'offered_qos_profiles', f'{where}.topic_metadata',
                        'text')
            if isinstance(qos, str):
                problems += _qos_text_problems(qos, f'{where}.offered_qos_profiles',
                                               names_allowed=jazzy_rules)
        if version >= 7 and jazzy_rules:
            _need(problems, meta, 'type_description_hash', f'{where}.topic_metadata', 'text')
    for i, path in enumerate(_need(problems, info, 'relative_file_paths', 'info', 'list')
                             or []):
        if _kind_problem(path, f'info.relative_file_paths[{i}]', 'text'):
            problems.append(f'info.relative_file_paths[{i}]: not text: {path!r}')
    if version >= 3:
        _need(problems, info, 'compression_format', 'info', 'text')
        _need(problems, info, 'compression_mode', 'info', 'text')
    if version >= 5:
        for i, entry in enumerate(_need(problems, info, 'files', 'info', 'list') or []):
            _need(problems, entry, 'path', f'info.files[{i}]', 'text')
            _need(problems, entry, 'message_count', f'info.files[{i}]', 'uint')
            _need(problems, _need(problems, entry, 'duration', f'info.files[{i}]', 'map'),
                  'nanoseconds', f'info.files[{i}].duration', 'uint')
            _need(problems, _need(problems, entry, 'starting_time', f'info.files[{i}]', 'map'),
                  'nanoseconds_since_epoch', f'info.files[{i}].starting_time', 'uint')
    if version >= 6 and jazzy_rules:
        # null is an empty map: convert<unordered_map>::decode iterates a null node's nothing.
        custom = _need(problems, info, 'custom_data', 'info', 'map or null') or {}
        problems += [f'info.custom_data.{k}: value is not text' for k, v in custom.items()
                     if _kind_problem(v, k, 'text')]
    if version >= 8 and jazzy_rules:
        _need(problems, info, 'ros_distro', 'info', 'text')
    return problems


def read_metadata(folder):
    """Return ``rosbag2_bagfile_information`` of bag folder ``folder``."""
    return yaml.safe_load((folder / 'metadata.yaml').read_text())['rosbag2_bagfile_information']


def _text(data, pos):
    (size,) = struct.unpack_from('<I', data, pos)
    return data[pos + 4:pos + 4 + size].decode(), pos + 4 + size


def _text_map(data, pos):
    (size,) = struct.unpack_from('<I', data, pos)
    end, pos, out = pos + 4 + size, pos + 4, {}
    while pos < end:
        key, pos = _text(data, pos)
        out[key], pos = _text(data, pos)
    return out, end


def mcap_records(data):
    """Yield ``(op, body)`` of every MCAP record, the records inside (uncompressed) chunks too."""
    pos = 8
    while pos + 9 <= len(data):
        op = data[pos]
        (size,) = struct.unpack_from('<Q', data, pos + 1)
        body = data[pos + 9:pos + 9 + size]
        pos += 9 + size
        yield op, body
        if op == 0x06:          # chunk: times, size, crc, compression, then the records
            compression, at = _text(body, 28)
            assert compression == '', f'chunk compression {compression!r}'
            yield from mcap_records(b'\0' * 8 + body[at + 8:])
        if op == 0x02:          # footer
            return


def mcap_contents(path):
    """Return ``(header, schemas, channels, metadata)`` of MCAP file ``path``."""
    header, schemas, channels, metadata = None, {}, {}, {}
    for op, body in mcap_records(path.read_bytes()):
        if op == 0x01:
            profile, at = _text(body, 0)
            header = (profile, _text(body, at)[0])
        elif op == 0x03:
            (sid,) = struct.unpack_from('<H', body, 0)
            name, at = _text(body, 2)
            encoding, at = _text(body, at)
            schemas[sid] = (name, encoding, _text(body, at)[0])
        elif op == 0x04:
            cid, sid = struct.unpack_from('<HH', body, 0)
            topic, at = _text(body, 4)
            encoding, at = _text(body, at)
            channels[cid] = (topic, sid, encoding, _text_map(body, at)[0])
        elif op == 0x0C:
            name, at = _text(body, 0)
            metadata[name] = _text_map(body, at)[0]
    return header, schemas, channels, metadata
