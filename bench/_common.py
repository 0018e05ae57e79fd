"""Helpers shared by the benchmark scripts: timing, thread pinning, tables."""

from __future__ import annotations

import os
import platform
import time

import numpy as np


def best_time(fn, repeats: int = 3, min_time: float = 0.0) -> float:
    """Best wall time of ``fn()`` over ``repeats`` runs (seconds)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def median_latency(fn, queries: np.ndarray, runs: int = 200) -> float:
    """Median wall time (seconds) of ``fn(one_query)`` over ``runs`` queries."""
    times = np.empty(runs)
    for i in range(runs):
        q = queries[i % len(queries)][None, :]
        t0 = time.perf_counter()
        fn(q)
        times[i] = time.perf_counter() - t0
    return float(np.median(times))


def set_threads(n: int) -> None:
    """Pin hamsearch and FAISS (when importable) to ``n`` threads."""
    import hamsearch

    hamsearch.set_num_threads(n)
    try:
        import faiss

        faiss.omp_set_num_threads(n)
    except ImportError:
        pass


def import_faiss():
    try:
        import faiss
    except ImportError:
        raise SystemExit("this benchmark compares with FAISS: pip install faiss-cpu") from None
    return faiss


def cpu_mhz() -> float | None:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("cpu MHz"):
                    return float(line.split(":")[1])
    except OSError:
        pass
    return None


def machine_line() -> str:
    import hamsearch

    try:
        import faiss

        fv = f"faiss {faiss.__version__}"
    except ImportError:
        fv = "faiss not installed"
    return (f"{platform.machine()}, {os.cpu_count()} CPUs, backend {hamsearch.backend()}, "
            f"{fv}, numpy {np.__version__}")


def print_table(headers, rows, floatfmt="{:.3g}") -> None:
    cells = [[h for h in headers]] + [
        [floatfmt.format(c) if isinstance(c, float) else str(c) for c in row] for row in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for j, row in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)))
        if j == 0:
            print("  ".join("-" * w for w in widths))
