"""Search throughput and latency of an index, a sharded index and FAISS on one
code set (``hamsearch demo``): build time, batch time, median single-query
latency, and whether the results agree."""

from __future__ import annotations

import time
from typing import Any, Callable, NamedTuple, Optional, Sequence, Tuple, TypeVar

import numpy as np

__all__ = ["EngineRun", "timed", "best_time", "median_time", "median_latency", "run_index",
           "run_sharded", "run_faiss", "same_results", "optional_module"]


class EngineRun(NamedTuple):
    """One engine's figures: name, build s, batch s, median 1-query ms, results (D, I)."""

    name: str
    build_s: float
    batch_s: float
    latency_ms: float
    D: np.ndarray
    I: np.ndarray


T = TypeVar("T")
Item = TypeVar("Item")


def timed(fn: Callable[[], T], repeats: int = 1, *, warmup: bool = False,
          clock: Callable[[], float] = time.perf_counter) -> Tuple[T, float]:
    """Call ``fn()`` ``repeats`` times; return ``(its last result, best seconds)``.

    The one timing helper of hamsearch and ``bench/``.

    Parameters
    ----------
    fn : callable
        What to time, called without arguments.
    repeats : int, default 1
        Calls timed (at least one).
    warmup : bool, default False
        One untimed call first (Numba compilation, lazily built tables, caches).
    clock : callable, default time.perf_counter
        The clock (``time.thread_time`` for CPU time).
    """
    if warmup:
        fn()
    best, out = float("inf"), None
    for _ in range(max(1, repeats)):
        t0 = clock()
        out = fn()
        best = min(best, clock() - t0)
    return out, best  # type: ignore[return-value]


def best_time(fn: Callable[[], Any], repeats: int = 3, *, warmup: bool = False,
              clock: Callable[[], float] = time.perf_counter) -> float:
    """Best wall time of ``fn()`` over ``repeats`` runs (seconds); see :func:`timed`."""
    return timed(fn, repeats, warmup=warmup, clock=clock)[1]


def median_time(fn: Callable[[Item], Any], items: Sequence[Item], runs: int, *, reps: int = 1,
                clock: Callable[[], float] = time.perf_counter) -> float:
    """Median over ``runs`` calls ``fn(items[i % len(items)])`` of the best of
    ``reps`` timings of each (seconds)."""
    times = np.empty(runs)
    for i in range(runs):
        x = items[i % len(items)]
        best = float("inf")
        for _ in range(max(1, reps)):
            t0 = clock()
            fn(x)
            best = min(best, clock() - t0)
        times[i] = best
    return float(np.median(times))


def median_latency(fn: Callable[[np.ndarray], Any], queries: np.ndarray, runs: int = 200, *,
                   reps: int = 1, clock: Callable[[], float] = time.perf_counter) -> float:
    """Median wall time (seconds) of ``fn(one query)`` (a batch of one row of
    ``queries``) over ``runs`` queries; see :func:`median_time`."""
    singles = [queries[i][None, :] for i in range(min(runs, len(queries)))]
    return median_time(fn, singles, runs, reps=reps, clock=clock)


def run_index(db: np.ndarray, queries: np.ndarray, k: int, nbits: int, method: str,
              latency_runs: int) -> EngineRun:
    """Build a :class:`hamsearch.Index` (with the tables ``auto`` picks) and time it."""
    import hamsearch

    index = hamsearch.Index(nbits, method=method)  # type: ignore[arg-type]  # checked there
    # build = add + the multi-index tables when auto picks them (built lazily)
    def build() -> str:
        index.add(db)
        return index.plan(k=k)

    used, t_build = timed(build)
    index.search(queries[:2], k)  # warm-up (compiles the Numba kernels when they run)
    (D, I), t_batch = timed(lambda: index.search(queries, k))
    lat = median_latency(lambda q: index.search(q, k), queries, latency_runs) * 1e3
    return EngineRun(f"hamsearch {index.method} ({used})", t_build, t_batch, lat, D, I)


def run_sharded(db: np.ndarray, queries: np.ndarray, k: int, nbits: int, method: str,
                latency_runs: int, shards: int, replicas: int, threads: int) -> EngineRun:
    """The same on a :class:`~hamsearch.distributed.ShardedIndex` of a local Ray
    cluster, in a temporary directory."""
    import tempfile

    import ray

    from hamsearch.distributed import ShardedIndex, init_ray

    started = not ray.is_initialized()
    if started:
        init_ray(num_cpus=threads)
    try:
        with tempfile.TemporaryDirectory(prefix="hamsearch-demo-shards-") as root:
            cpus = threads / (shards * replicas)
            sx = ShardedIndex(nbits, shards, replicas, method=method, root=root,
                              num_cpus=cpus, threads_per_shard=max(1, int(cpus)),
                              fsync="never")
            try:
                def build() -> None:
                    sx.add(db)
                    sx.search(queries[:2], k)

                _, t_build = timed(build)
                (D, I), t_batch = timed(lambda: sx.search(queries, k))
                lat = median_latency(lambda q: sx.search(q, k), queries, latency_runs) * 1e3
            finally:
                sx.close(save=False)
    finally:
        if started:
            ray.shutdown()
    return EngineRun(f"sharded {shards}x{replicas} (Ray)", t_build, t_batch, lat, D, I)


def run_faiss(faiss: Any, db: np.ndarray, queries: np.ndarray, k: int, nbits: int,
              latency_runs: int, threads: int) -> EngineRun:
    """``faiss.IndexBinaryFlat`` on the same codes, ``threads`` OpenMP threads."""
    faiss.omp_set_num_threads(threads)
    findex = faiss.IndexBinaryFlat(nbits)
    _, t_build = timed(lambda: findex.add(db))
    findex.search(queries[:2], k)
    (D, I), t_batch = timed(lambda: findex.search(queries, k))
    lat = median_latency(lambda q: findex.search(q, k), queries, latency_runs) * 1e3
    return EngineRun("faiss IndexBinaryFlat", t_build, t_batch, lat, D, I)


def same_results(a: EngineRun, b: EngineRun, ids: bool = True) -> bool:
    """Whether two runs returned the same distances (and ids)."""
    same = bool(np.array_equal(a.D, b.D.astype(a.D.dtype)))
    return same and (not ids or bool(np.array_equal(a.I, b.I)))


def optional_module(name: str) -> Optional[Any]:
    """``import name``, or None when it is not installed."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        return None
