"""Helpers shared by every benchmark script and suite in ``bench/``.

* **Environment**: :func:`bench_env` (``OMP_WAIT_POLICY=PASSIVE`` before
  FAISS starts its OpenMP runtime, FAISS imported on request, thread counts
  of hamsearch and FAISS), :func:`set_threads`, :func:`machine_line` and
  :func:`omp_line` (what the run was measured on).
* **Timing** (from :mod:`hamsearch.evaluation.throughput`): :func:`timed`
  (result and best wall time of a call), :func:`best_time`,
  :func:`median_time`, :func:`median_latency`.
* **Tables**: :func:`format_table` / :func:`print_table` (plain text for the
  terminal, or markdown).
"""

from __future__ import annotations

import os
import platform
import sys
import warnings

import numpy as np

# the timing helpers are the library's (``hamsearch demo`` uses them too)
from hamsearch.evaluation.throughput import best_time, median_latency, median_time, timed

__all__ = ["bench_env", "set_threads", "import_faiss", "cpu_mhz", "machine_line", "omp_line",
           "timed", "best_time", "median_time", "median_latency", "format_table", "print_table"]

# ----------------------------------------------------------------- environment
OMP_POLICY = "OMP_WAIT_POLICY"


def bench_env(threads: int | None = None, *, omp_passive: bool = True,
              faiss_required: bool = False):
    """Prepare this process for a benchmark; call it before FAISS is imported.

    Parameters
    ----------
    threads : int, optional
        Pin hamsearch and FAISS (when importable) to this many threads.
    omp_passive : bool, default True
        Set ``OMP_WAIT_POLICY=PASSIVE`` unless the environment already sets
        it.  OpenMP reads it once, when its runtime loads (with FAISS); on a
        shared, oversubscribed machine its default spin-waiting makes FAISS
        several times slower (measured: ``IndexBinaryFlat`` 7.4 ms vs
        0.96 ms per query, 1M codes, 2 threads), which would flatter
        hamsearch.  A warning says when FAISS was imported first.
    faiss_required : bool, default False
        Import FAISS and exit with a clear message when it is not installed.

    Returns
    -------
    module or None
        The ``faiss`` module when ``faiss_required``, else ``None``.
    """
    if omp_passive and OMP_POLICY not in os.environ:
        if "faiss" in sys.modules:
            warnings.warn("bench_env: faiss was imported before OMP_WAIT_POLICY=PASSIVE was "
                          "set; its OpenMP threads keep spin-waiting", RuntimeWarning,
                          stacklevel=2)
        os.environ[OMP_POLICY] = "PASSIVE"
    faiss = import_faiss() if faiss_required else None
    if threads is not None:
        set_threads(threads)
    return faiss


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


def _version(module: str, dist: str) -> str | None:
    """Version of ``module`` without importing it (importing FAISS would start
    its OpenMP runtime before :func:`bench_env` could configure it)."""
    mod = sys.modules.get(module)
    if mod is not None:
        return getattr(mod, "__version__", "?")
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version(dist)
    except PackageNotFoundError:
        return None


def machine_line() -> str:
    """One line: machine, CPUs, hamsearch backend, FAISS and numpy versions."""
    import hamsearch

    fv = _version("faiss", "faiss-cpu")
    fv = f"faiss {fv}" if fv else "faiss not installed"
    return (f"{platform.machine()}, {os.cpu_count()} CPUs, backend {hamsearch.backend()}, "
            f"{fv}, numpy {np.__version__}")


def omp_line() -> str:
    return f"{OMP_POLICY}={os.environ.get(OMP_POLICY, '(default)')}"


# ---------------------------------------------------------------------- tables
def format_table(headers, rows, floatfmt: str = "{:.3g}", align: str | None = None,
                 markdown: bool = False) -> str:
    """A table as text: columns padded to their widest cell, or markdown.

    Parameters
    ----------
    headers : sequence of str
    rows : sequence of sequences
        Floats are formatted with ``floatfmt``, anything else with ``str``.
    align : str, optional
        One letter per column, ``"l"`` or ``"r"`` (default: all right; a
        shorter string is padded with its last letter).
    markdown : bool, default False
        A markdown table (``|``-separated, alignment row) instead.
    """
    ncol = len(headers)
    align = (align or "r").ljust(ncol, (align or "r")[-1])
    cells = [[str(h) for h in headers]] + [
        [floatfmt.format(c) if isinstance(c, float) else str(c) for c in row] for row in rows
    ]
    if markdown:
        rule = "|" + "|".join("---" if a == "l" else "---:" for a in align[:ncol]) + "|"
        lines = ["| " + " | ".join(r) + " |" for r in cells]
        return "\n".join([lines[0], rule, *lines[1:]])
    widths = [max(len(r[i]) for r in cells) for i in range(ncol)]

    def line(row):
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w)
                         for c, w, a in zip(row, widths, align)).rstrip()

    out = [line(cells[0]), line(["-" * w for w in widths])]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out)


def print_table(headers, rows, floatfmt: str = "{:.3g}", align: str | None = None) -> None:
    """Print :func:`format_table` (plain text)."""
    print(format_table(headers, rows, floatfmt, align))
