"""The keep-alive core: a step's twist lasts exactly one control period, at any rate."""

import math

from hypothesis import given, settings, strategies as st
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
