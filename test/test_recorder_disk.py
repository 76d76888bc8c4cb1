"""
episode_recorder on a full disk: the bag ends readable, ERROR is reported, the node lives on.

A real full disk is a small tmpfs (mounting one needs root; this sandbox has
it, elsewhere those tests skip and say why).  A file-size limit (RLIMIT_FSIZE,
SIGXFSZ ignored, so writes fail with EFBIG) needs no privilege: the node test
runs with it everywhere.
"""

import errno
import json
from pathlib import Path
import resource
import signal
import subprocess
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
import numpy as np
import pytest
from robotok_ros.data.bag_writer import bag_mcap, EpisodeWriter, MAGIC, typestore
from robotok_ros.data.bags import read_bag
from robotok_ros.data.wire import ACTION_TOPIC, ACTION_TYPE, TOKENS_TOPIC, TOKENS_TYPE
from robotok_ros.errors import DiskError
from rosutil import reliable, RosHarness
from std_msgs.msg import Int32MultiArray, String
from std_srvs.srv import Trigger
import yaml

TOPICS = {TOKENS_TOPIC: TOKENS_TYPE, ACTION_TOPIC: ACTION_TYPE}
FSIZE_LIMIT = 256 * 1024


@pytest.fixture
def small_disk(tmp_path):
    """Mount a 256 KiB tmpfs (skip where mounting is not permitted); unmount afterwards."""
    where = tmp_path / 'disk'
    where.mkdir()
    run = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', str(where)],
                         capture_output=True, text=True)
    if run.returncode != 0:
        pytest.skip('cannot mount a small tmpfs here (mount is root-only: '
                    f'{run.stderr.strip() or run.returncode}); the RLIMIT_FSIZE test still runs')
    yield where
    subprocess.run(['umount', '-l', str(where)], check=False)


def fill(folder):
    """Write a filler file until the disk is full; return it."""
    path = Path(folder) / 'filler'
    with open(path, 'wb', buffering=0) as handle:
        try:
            while handle.write(b'\0' * 4096):
                pass
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return path


def tokens(n):
    """Return a serialized Int32MultiArray of ``n`` ids."""
    store = typestore()
    layout = store.types['std_msgs/msg/MultiArrayLayout'](dim=[], data_offset=0)
    msg = store.types[TOKENS_TYPE](layout=layout, data=np.arange(n, dtype=np.int32) % 256)
    return bytes(store.serialize_cdr(msg, TOKENS_TYPE))


def _check_readable(path, kept_tokens):
    ep = read_bag(path)  # no repair
    assert len(ep.token_messages) == kept_tokens
    assert bag_mcap(path).read_bytes().endswith(MAGIC)
    assert not (Path(path) / 'metadata.yaml.tmp').exists()
    info = yaml.safe_load((Path(path) / 'metadata.yaml').read_text())
    return info['rosbag2_bagfile_information']['message_count']


def test_a_full_disk_while_flushing_ends_the_bag_at_its_last_flush(small_disk):
    writer = EpisodeWriter(small_disk / 'ep', TOPICS, {'task': 't'}, start_ns=1)
    flushed = 0
    with pytest.raises(DiskError) as info:
        for i in range(1000):
            writer.write(TOKENS_TOPIC, 10 + i, tokens(2800))  # about 11 KiB each
            if i % 2:
                writer.flush()
                flushed = i + 1
    msg = str(info.value)
    assert msg.startswith(f'No space left on device (ENOSPC) while flushing bag {small_disk}/ep; '
                          f'closed at its last flush ({flushed + 1} messages kept, 2 lost)'), msg
    assert writer.closed and writer.failed == msg and writer.lost == 2
    assert writer.counts[TOKENS_TOPIC] == flushed
    assert _check_readable(small_disk / 'ep', flushed) == flushed + 1  # + the metadata message
    writer.close()  # closing an ended bag does nothing
    with pytest.raises(Exception, match=f'bag {small_disk}/ep is closed: No space left'):
        writer.write(TOKENS_TOPIC, 5000, tokens(7))


def test_a_full_disk_while_writing_a_chunk_or_closing_keeps_the_last_flush(small_disk):
    writer = EpisodeWriter(small_disk / 'big', TOPICS, {}, start_ns=1)
    writer.write(TOKENS_TOPIC, 2, tokens(70))
    writer.flush()
    with pytest.raises(DiskError, match=r'ENOSPC\) while writing bag .*big; closed at its last '
                                        r'flush \(2 messages kept, 5 lost\)'):
        for i in range(5):  # a 1 MiB chunk goes to the file inside write()
            writer.write(TOKENS_TOPIC, 3 + i, tokens(60000))
    _check_readable(small_disk / 'big', 1)
    (small_disk / 'big').rename(small_disk / 'kept')
    writer = EpisodeWriter(small_disk / 'late', TOPICS, {}, start_ns=1)
    writer.write(TOKENS_TOPIC, 2, tokens(70))
    writer.flush()
    filler = fill(small_disk)
    writer.write(TOKENS_TOPIC, 3, tokens(7000))  # buffered in memory until close
    with pytest.raises(DiskError, match=r'ENOSPC\) while closing bag .*late; closed at its last '
                                        r'flush \(2 messages kept, 1 lost\)'):
        writer.close()
    _check_readable(small_disk / 'late', 1)
    with pytest.raises(DiskError, match=f'cannot create bag {small_disk}/new: No space left on '
                                        r'device \(ENOSPC\)|ENOSPC\) while flushing bag'):
        EpisodeWriter(small_disk / 'new', TOPICS, {}, start_ns=1)
    assert not (small_disk / 'new').exists()  # a refused start leaves nothing behind
    filler.unlink()
    EpisodeWriter(small_disk / 'new', TOPICS, {}, start_ns=1).close()
    _check_readable(small_disk / 'new', 0)


# -- the node ---------------------------------------------------------------------------------
def _fsize_limit():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
    resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE_LIMIT, FSIZE_LIMIT))


@pytest.fixture(params=['tmpfs', 'rlimit'])
def disk(request, tmp_path):
    """Return (output folder, extra start_node arguments, the error text, filler or None)."""
    if request.param == 'tmpfs':
        where = request.getfixturevalue('small_disk')
        return where / 'episodes', {}, 'No space left on device (ENOSPC)', where
    return tmp_path / 'episodes', {'preexec_fn': _fsize_limit}, 'File too large (EFBIG)', None


class Recorder:
    """An episode_recorder process and what it publishes."""

    def __init__(self, ros, profile_path, out, **kwargs):
        self.ros = ros
        self.proc = ros.start_node('episode_recorder', params={
            'profile_path': str(profile_path), 'output_dir': str(out), 'flush_period': 0.1,
            'error_log_period': 600.0, 'diagnostics_window': 1.0}, **kwargs)
        self.status = ros.collect('/episode_recorder/status', String)
        self.diag = ros.collect('/diagnostics', DiagnosticArray)
        ros.wait_for_subscribers(TOKENS_TOPIC)
        self.pub = ros.publisher(TOKENS_TOPIC, Int32MultiArray, reliable(depth=100))
        assert ros.wait_for(lambda: self.pub.get_subscription_count())

    def state(self):
        return json.loads(self.status[-1].data) if self.status else {}

    def call(self, service):
        return self.ros.call(Trigger, f'/episode_recorder/{service}', Trigger.Request())

    def level(self, level, condition=lambda values: True, since=0, timeout=10):
        """Wait for a diagnostics message (the ``since``-th on) of ``level`` and ``condition``."""
        def seen():
            for arr in self.diag[since:]:
                status = arr.status[0]
                values = {kv.key: kv.value for kv in status.values}
                if status.level == level and condition(values):
                    return values
            return None
        assert self.ros.wait_for(lambda: seen() is not None, timeout), (
            [(a.status[0].level, a.status[0].message) for a in self.diag[-3:]],
            self.proc.describe())
        return seen()

    def error_lines(self):
        return [line for line in self.proc.stderr.splitlines() if '[ERROR]' in line]


@pytest.mark.timeout(120)
def test_recorder_survives_a_full_disk(profile_path, disk):
    out, start_args, problem, filler_dir = disk
    with RosHarness() as ros:
        rec = Recorder(ros, profile_path, out, **start_args)
        rec.level(DiagnosticStatus.OK, lambda v: v['recording'] == 'false')
        reply = rec.call('start_episode')
        assert reply.success, reply.message
        big = Int32MultiArray(data=list(range(20000)))  # 80 KB: the disk fills in a few

        def ended():
            rec.pub.publish(big)
            return ros.wait_for(lambda: rec.state().get('disk_error'), 0.1)
        assert ros.wait_for(ended, 30), rec.proc.describe()
        assert rec.proc.alive() and not rec.state()['recording']
        message = rec.state()['disk_error']
        assert message.startswith(f'episode ended: {problem} while ') and reply.message in message
        values = rec.level(DiagnosticStatus.ERROR, lambda v: v['disk_errors'] == '1')
        assert values['recording'] == 'false' and values['last_episode'] == reply.message
        assert int(values['messages_lost']) >= 1 and values['disk_error'] == message
        assert ros.wait_for(lambda: len(rec.error_lines()) == 1)
        assert f'disk error: {message}' in rec.error_lines()[0]
        kept = int(message.split('(')[-1].split(' messages kept')[0])
        assert _check_readable(reply.message, kept - 1) == kept  # readable with no repair
        # No quiet window ends a disk error: still ERROR well after the 1 s window.
        t_fault = time.monotonic()
        assert ros.wait_for(lambda: any(t > t_fault + 2.0 for t in rec.diag.times), 10)
        late = [a for a, t in zip(rec.diag, rec.diag.times) if t > t_fault + 2.0]
        assert all(a.status[0].level == DiagnosticStatus.ERROR for a in late)
        if filler_dir is not None:  # the disk stays full: a start is refused, still ERROR
            filler = fill(filler_dir)
            refused = rec.call('start_episode')
            assert not refused.success and problem in refused.message, refused.message
            assert refused.message.startswith('episode refused: ')
            mark = len(rec.diag)
            rec.level(DiagnosticStatus.ERROR, lambda v: v['disk_errors'] == '2', since=mark)
            ros.spin_for(0.2)
            assert len(rec.error_lines()) == 1  # throttled: the second error is held back
            filler.unlink()
        mark = len(rec.diag)
        again = rec.call('start_episode')  # room again: recording resumes, OK again
        assert again.success, again.message
        rec.level(DiagnosticStatus.OK, lambda v: v['recording'] == 'true', since=mark)
        rec.pub.publish(Int32MultiArray(data=[1, 2, 3, 4, 5, 6, 7]))
        assert ros.wait_for(lambda: rec.state().get('counts', {}).get(TOKENS_TOPIC) == 1)
        assert rec.call('stop_episode').success
        assert ros.wait_for(lambda: rec.state().get('episodes_closed') == 2)
        assert rec.proc.stop() == 0 and 'Traceback' not in rec.proc.stderr, rec.proc.describe()
    assert len(read_bag(again.message).token_messages) == 1
