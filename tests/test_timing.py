"""The one timing helper (hamsearch.evaluation.throughput; bench._common re-exports it)."""

import itertools

import numpy as np

from hamsearch.evaluation.throughput import best_time, median_latency, median_time, timed


def _clock(steps):
    """A fake clock whose successive differences are ``steps``."""
    ticks = itertools.accumulate(itertools.chain([0.0], steps))
    return lambda: next(ticks)


def test_timed_returns_the_last_result_and_the_best_time():
    calls = []
    # a call costs 3, 1, 2 ticks (each measured as clock() after - clock() before)
    clock = _clock([3, 0, 1, 0, 2])
    out, best = timed(lambda: calls.append(len(calls)) or len(calls), 3, clock=clock)
    assert (out, best, calls) == (3, 1.0, [0, 1, 2])
    assert timed(lambda: 7, 0)[0] == 7  # at least one call
    seen = []
    assert best_time(lambda: seen.append(1), 2, warmup=True) >= 0 and len(seen) == 3


def test_median_time_and_latency_take_single_rows():
    seen = []
    clock = _clock([5, 0, 1, 0] * 5)  # per item, the best of 2 timings is 1 tick
    assert median_time(seen.append, [10, 20], 5, reps=2, clock=clock) == 1.0
    assert seen == [10, 10, 20, 20, 10, 10, 20, 20, 10, 10]
    shapes = []
    q = np.arange(12, dtype=np.uint8).reshape(3, 4)
    median_latency(lambda x: shapes.append((x.shape, int(x[0, 0]))), q, runs=4)
    assert shapes == [((1, 4), 0), ((1, 4), 4), ((1, 4), 8), ((1, 4), 0)]


def test_bench_uses_the_same_helpers():
    import bench._common as common

    assert common.timed is timed and common.median_latency is median_latency
