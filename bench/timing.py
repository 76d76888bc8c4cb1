"""Timing helpers shared by the benchmarks (best of N: robust to scheduler noise)."""

import time


def best_time(fn, repeats):
    """Return the best wall time in seconds of ``repeats`` calls of ``fn()``."""
    best = float('inf')
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def best_rate(fn, n_items, repeats):
    """Return the best of ``repeats`` timings of ``fn()`` as items per second."""
    return n_items / best_time(fn, repeats)
