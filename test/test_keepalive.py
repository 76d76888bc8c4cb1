"""The keep-alive core: a step's twist lasts exactly one control period, at any rate."""

import math

from hypothesis import given, settings, strategies as st
import pytest
from robotok_ros.runtime.keepalive import KeepAlive


def play(keep, t0=0.0, queued=lambda i: False, jitter=0.0):
    """Start a step at ``t0`` and tick at the keep-alive's interval; return what each gave."""
    keep.start('twist', t0)
    out, i = [], 0
    while keep.command is not None:
        i += 1
        assert i < 10_000, 'the step never ended'
        out.append(keep.tick(t0 + i * keep.interval + jitter, queued(i)))
    return out


@settings(max_examples=300, deadline=None)
@given(rate_hz=st.floats(1.0, 500.0), publish_rate=st.floats(0.0, 1000.0),
       t0=st.floats(0.0, 1e5), jitter=st.floats(-1e-4, 1e-4))
def test_the_last_tick_falls_on_the_step_end(rate_hz, publish_rate, t0, jitter):
    period = 1.0 / rate_hz
    keep = KeepAlive(period, publish_rate)
    if not keep.enabled:
        assert publish_rate * period <= 1.0 + 1e-9
        keep.start('twist', t0)
        assert keep.command is None and keep.tick(t0 + period) is None
        return
    out = play(keep, t0, jitter=jitter * keep.interval)
    # Repeats up to the end, then one END, on the tick at t0 + period (not one interval on).
    assert out[-1] is KeepAlive.END and all(o == 'twist' for o in out[:-1])
    assert len(out) == keep.ticks == math.ceil(period * publish_rate - 1e-9)
    assert keep.interval <= 1.0 / publish_rate + 1e-12
    assert math.isclose(len(out) * keep.interval, period, rel_tol=1e-9)


def test_five_hz_at_100_hz_is_19_repeats_and_an_end():
    out = play(KeepAlive(0.2, 100.0))
    assert out == ['twist'] * 19 + [KeepAlive.END]


def test_a_queued_next_step_means_no_zero_between_steps():
    keep = KeepAlive(0.1, 100.0)
    out = play(keep, queued=lambda i: i >= 10 and i < 12)   # the next tick is late
    assert out == ['twist'] * 11 + [KeepAlive.END]   # ticks 10 and 11 went on


def test_cancel_and_restart():
    keep = KeepAlive(0.1, 100.0)
    keep.start('a', 0.0)
    keep.cancel()
    assert keep.tick(0.01) is None
    keep.start('a', 0.0)
    assert keep.tick(0.05) == 'a'
    keep.start('b', 0.05)   # a new step re-arms the end
    assert keep.tick(0.11) == 'b' and keep.tick(0.15) is KeepAlive.END


def test_off_at_or_below_the_control_rate():
    assert not KeepAlive(0.1, 0.0).enabled
    assert not KeepAlive(0.1, 10.0).enabled    # one twist per step: nothing to fill
    assert KeepAlive(0.1, 10.5).enabled and KeepAlive(0.1, 10.5).ticks == 2


def stream(keep, arrivals, until):
    """Start a step at each of ``arrivals`` (s) and tick on the interval grid up to ``until``."""
    out, pending = [], sorted(arrivals)
    n = round(until / keep.interval)
    for i in range(1, n + 1):
        t = i * keep.interval
        while pending and pending[0] <= t - keep.interval / 2:
            keep.start(f'step{len(arrivals) - len(pending)}', pending.pop(0))
        out.append((round(t, 6), keep.tick(t)))
    return out


def test_late_steps_of_a_stream_join_without_a_zero_after_the_first_boundary():
    # 20 Hz at 100 Hz: 5 ticks per step; each one-step message arrives 2 ms after the
    # step's end, as a policy's messages do over DDS.
    keep = KeepAlive(0.05, 100.0)
    keep.start('step0', 0.0)
    out = stream(keep, [0.052 + 0.05 * k for k in range(5)], 0.40)
    ends = [t for t, o in out if o is KeepAlive.END]
    # The lone first step ends exactly (its zero at 0.05); the next one follows that zero,
    # so it is in a stream: from then on steps join with no zero, and the last step's zero
    # comes one interval after its end.
    assert ends[0] == 0.05 and len(ends) == 2, out
    assert ends[1] == 0.31, out   # the last step ends at 0.302, its zero on the next tick
    assert [o for t, o in out if 0.06 <= t < 0.31].count(None) == 5  # held, never zero


def test_a_locked_step_ends_one_period_after_the_running_steps_end():
    keep = KeepAlive(0.1, 100.0)
    keep.start('a', 0.0)
    assert keep.start('b', 0.097)   # 3 ms early: within one interval of the end, so locked
    assert keep.end == pytest.approx(0.2)   # a's 3 ms go to b: together they last two periods
    assert not keep.start('c', 0.15) and keep.end == pytest.approx(0.25)  # mid-step: replaces


def test_a_stop_breaks_the_stream():
    keep = KeepAlive(0.1, 100.0)
    keep.start('a', 0.0)
    assert keep.start('b', 0.102) and keep.streaming
    keep.cancel()
    assert not keep.start('c', 0.2) and not keep.streaming
    assert keep.tick(0.3) is KeepAlive.END   # a lone step again: it ends exactly
