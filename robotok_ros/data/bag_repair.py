"""
Repair an episode bag left by a killed recorder: cut back to the last whole MCAP record.

``bag_writer`` flushes so that a killed recorder leaves a bag readable up to its
last flush; a kill in the middle of a flush tears the last record, and
``repair_bag`` cuts it off and writes the tail again (what ``ros2 bag reindex``
does for rosbag2's own writer).
"""

import struct

from robotok_ros.data.bag_writer import bag_mcap, DATA_OPS, MAGIC, tail_records, \
    typestore, write_metadata_yaml
from robotok_ros.data.wire import METADATA_TOPIC, STRING_TYPE
from robotok_ros.errors import DataError


def _scan_whole_records(data):
    """Return the end offset of the last whole data-section record of MCAP bytes ``data``."""
    pos = good = len(MAGIC)
    while pos + 9 <= len(data):
        op = data[pos]
        (size,) = struct.unpack_from('<Q', data, pos + 1)
        end = pos + 9 + size
        if op not in DATA_OPS or end > len(data):
            break
        pos = good = end
    return good


def repair_bag(path):
    """
    Make a bag left by a killed recorder readable up to its last whole record.

    Cuts the .mcap after its last complete record, appends DataEnd + Footer
    and rewrites ``metadata.yaml`` from what is there.  Return the number of
    messages kept.  A cleanly closed bag is left as it is; a whole .mcap
    without ``metadata.yaml`` only gets the file written.
    """
    from rosbags.rosbag2 import Reader
    from rosbags.rosbag2.errors import ReaderError
    mcap = bag_mcap(path)
    data = mcap.read_bytes()
    if not data.startswith(MAGIC):
        raise DataError(f'{mcap}: not an MCAP file (bad magic)')
    folder = mcap.parent
    has_yaml = (folder / 'metadata.yaml').exists()
    try:
        with Reader(folder if has_yaml else mcap) as reader:
            count = sum(1 for _ in reader.messages())
        if has_yaml:
            return count
    except (ReaderError, struct.error, ValueError, KeyError):
        good = _scan_whole_records(data)
        with mcap.open('r+b') as handle:
            handle.truncate(good)
            handle.seek(good)
            handle.write(tail_records())
    try:
        with Reader(mcap) as reader:
            topics = [(c.topic, c.msgtype, c.msgcount) for c in reader.connections]
            start, end = reader.start_time, reader.end_time - 1
            meta = next((bytes(raw) for c, _, raw in reader.messages()
                         if c.topic == METADATA_TOPIC), None)
    except (ReaderError, struct.error, ValueError) as exc:
        raise DataError(f'{mcap}: cannot be repaired: {exc}') from None
    custom = None
    if meta is not None:
        text = typestore().deserialize_cdr(meta, STRING_TYPE).data
        custom = {'robotok': text}
    write_metadata_yaml(folder, mcap.name, topics, start, end, custom)
    return sum(n for _, _, n in topics)
