"""episode_recorder diagnostics: values that tell the truth, a level that recovers."""

import errno
import signal
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
import pytest
from robotok_ros.data.bags import read_bag
from robotok_ros.data.wire import ACTION_TOPIC, ACTION_TYPE, TOKENS_TOPIC, TOKENS_TYPE
from robotok_ros.errors import DiskError
from robotok_ros.profile_loader import load_profile
from robotok_ros.runtime.recorder import RecorderCore
from robotok_ros.runtime.recorder_health import ERROR, OK, RecorderHealth, WARN
from robotok_ros.tokenizers import make_tokenizer
from rosutil import reliable, RosHarness
from std_msgs.msg import Int32MultiArray
from std_srvs.srv import Trigger

from test_recorder_disk import tokens  # noqa: I100 - test-local helper module

TOPICS = {TOKENS_TOPIC: TOKENS_TYPE, ACTION_TOPIC: ACTION_TYPE}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def core(profile_path, tmp_path):
    """Return a RecorderCore on a fake clock (flush period 0.1 s) and the clock."""
    profile = load_profile(profile_path)
    clock = Clock()
    errors = []
    rec = RecorderCore(profile, make_tokenizer('uniform', profile), tmp_path / 'out', TOPICS,
                       on_error=errors.append, clock=clock, flush_period=0.1)
    rec.errors = errors
    return rec, clock


def test_values_follow_recording_writes_and_flushes(core):
    rec, clock = core
    health = RecorderHealth(window=2.0)
    values = health.values(rec, clock())
    assert values['recording'] == 'false' and values['episode'] == ''
    assert values['last_flush_age_s'] == '' and values['lag_s'] == '0.000'
    assert health.assess(rec, clock()) == (OK, 'idle')
    path = rec.start(1)
    clock.now += 0.05
    rec.write(TOKENS_TOPIC, 2, tokens(7))
    clock.now += 0.04
    values = health.values(rec, clock())
    assert values['recording'] == 'true' and values['episode'] == str(path)
    assert values['messages_written'] == '1' and values['episode_messages'] == '2'
    assert values['last_flush_age_s'] == '0.090' and values['lag_s'] == '0.040'
    assert health.assess(rec, clock()) == (OK, f'recording {path}')
    rec.flush()
    values = health.values(rec, clock())
    assert values['last_flush_age_s'] == '0.000' and values['lag_s'] == '0.000'
    assert values['late_flushes'] == '0' and values['disk_errors'] == '0'


def test_flushes_falling_behind_warn_then_recover_after_a_quiet_window(core):
    rec, clock = core
    health = RecorderHealth(window=2.0)
    path = rec.start(1)
    rec.write(TOKENS_TOPIC, 2, tokens(7))
    clock.now += 0.35  # more than 3 flush periods: the node stalled
    level, message = health.assess(rec, clock())
    assert level == WARN and message == (f'recording {path}; flushes fall behind (last flush '
                                         '0.35 s ago, lag 0.35 s; flush period 0.1 s)')
    rec.flush()  # the late flush itself is counted
    assert rec.late_flushes == 1 and health.values(rec, clock())['late_flushes'] == '1'
    for _ in range(10):  # on time again
        clock.now += 0.1
        rec.flush()
    assert rec.late_flushes == 1
    assert health.assess(rec, clock()) == (WARN, f'recording {path}; flushes fell behind 1.0 s '
                                                 'ago (1 late so far; OK after 2 s without)')
    for _ in range(11):
        clock.now += 0.1
        rec.flush()
    assert health.assess(rec, clock()) == (OK, f'recording {path}')


def _fail_next_flush(rec):
    def full():
        raise OSError(errno.ENOSPC, 'No space left on device')
    rec.writer._flush = full


def test_a_disk_error_is_error_until_the_next_good_start(core):
    rec, clock = core
    health = RecorderHealth(window=2.0)
    first = rec.start(1)
    rec.flush()
    rec.write(TOKENS_TOPIC, 2, tokens(7))
    _fail_next_flush(rec)
    rec.flush()
    assert not rec.recording and rec.writer is None and rec.last_bag == str(first)
    assert rec.errors == [rec.disk_error] and rec.disk_error.startswith(
        f'episode ended: No space left on device (ENOSPC) while flushing bag {first}; closed at '
        'its last flush (1 messages kept, 1 lost)')
    assert len(read_bag(first).token_messages) == 0  # readable, cut back to the last flush
    values = health.values(rec, clock())
    assert values['disk_errors'] == '1' and values['messages_lost'] == '1'
    assert values['disk_error'] == rec.disk_error and values['recording'] == 'false'
    for _ in range(3):  # no quiet window ends a disk error
        clock.now += 100.0
        level, message = health.assess(rec, clock())
        assert level == ERROR and message == (f'disk error: {rec.disk_error}; recording resumes '
                                              'once an episode starts successfully')
    rec.write(TOKENS_TOPIC, 3, tokens(7))  # no episode: nothing written, nothing raised
    second = rec.start(2)
    assert second != first and rec.disk_error == '' and rec.disk_errors == 1
    assert health.assess(rec, clock()) == (OK, f'recording {second}')


def test_a_refused_start_keeps_error_and_names_the_cause(core, monkeypatch):
    rec, clock = core
    import robotok_ros.runtime.recorder as recorder

    def no_space(*args, **kwargs):
        raise DiskError('cannot create bag x: No space left on device (ENOSPC)')
    monkeypatch.setattr(recorder, 'EpisodeWriter', no_space)
    with pytest.raises(DiskError, match='episode refused: cannot create bag x: No space left'):
        rec.start(1)
    assert rec.disk_errors == 1 and rec.errors == [rec.disk_error] and rec.writer is None
    assert RecorderHealth().assess(rec, clock())[0] == ERROR


# -- the node ---------------------------------------------------------------------------------
@pytest.mark.timeout(90)
def test_recorder_publishes_diagnostics_at_1_hz_and_warns_on_a_stall(profile_path, tmp_path):
    with RosHarness() as ros:
        proc = ros.start_node('episode_recorder', params={
            'profile_path': str(profile_path), 'output_dir': str(tmp_path), 'flush_period': 0.1,
            'diagnostics_window': 2.0})
        diag = ros.collect('/diagnostics', DiagnosticArray)
        ros.wait_for_subscribers(TOKENS_TOPIC)
        pub = ros.publisher(TOKENS_TOPIC, Int32MultiArray, reliable(depth=100))
        assert ros.wait_for(lambda: pub.get_subscription_count())

        def latest(since=0):
            found = [(a.status[0], {kv.key: kv.value for kv in a.status[0].values})
                     for a in diag[since:] if a.status[0].name == 'episode_recorder: recording']
            return found[-1] if found else (None, {})
        assert ros.wait_for(lambda: len(diag) >= 3), proc.describe()
        stamps = [a.header.stamp.sec + a.header.stamp.nanosec * 1e-9 for a in diag[:3]]
        assert all(0.5 < b - a < 2.0 for a, b in zip(stamps, stamps[1:])), stamps
        status, values = latest()
        assert status.level == DiagnosticStatus.OK and status.message == 'idle'
        assert status.hardware_id == 'test7' and values['recording'] == 'false'
        reply = ros.call(Trigger, '/episode_recorder/start_episode', Trigger.Request())
        for i in range(20):
            pub.publish(Int32MultiArray(data=[i] * 7))
        mark = len(diag)
        assert ros.wait_for(lambda: latest(mark)[1].get('messages_written') == '20')
        status, values = latest(mark)
        assert status.level == DiagnosticStatus.OK and values['episode'] == reply.message
        assert float(values['last_flush_age_s']) < 0.3 and float(values['lag_s']) < 0.3
        proc.proc.send_signal(signal.SIGSTOP)  # a stalled node: no flush for a second
        t_stop = time.monotonic()
        try:
            while time.monotonic() - t_stop < 1.0:
                ros.spin_for(0.1)
        finally:
            proc.proc.send_signal(signal.SIGCONT)
        mark = len(diag)
        assert ros.wait_for(lambda: latest(mark)[0] is not None
                            and latest(mark)[0].level == DiagnosticStatus.WARN), proc.describe()
        status, values = latest(mark)
        assert 'flushes fell behind' in status.message or 'fall behind' in status.message
        assert int(values['late_flushes']) >= 1
        mark = len(diag)
        assert ros.wait_for(lambda: latest(mark)[0] is not None
                            and latest(mark)[0].level == DiagnosticStatus.OK, 10)
        assert proc.stop() == 0 and 'Traceback' not in proc.stderr
