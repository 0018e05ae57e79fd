"""Running a Numba ``parallel=True`` kernel on a chosen number of threads.

``numba.set_num_threads`` applies to the calling thread only; it is set for
the duration of one kernel and restored afterwards.  Numba's ``workqueue``
threading layer (the fallback when neither TBB nor OpenMP is available) must
not be entered by two Python threads at once, so parallel launches are
serialised by a lock unless the live layer is known to be thread-safe.
GNU OpenMP aborts a process forked after its pool started if the child runs
a parallel region, so ``parallel_available()`` says no in such a child (the
kernels then run serially there).  Importing this module does not start any
thread pool.
"""

from __future__ import annotations

import contextlib
import os
import threading

import numba

_launch_lock = threading.Lock()
_layer_is_safe = None  # unknown until the first parallel launch
_layer_name = None
_launch_pid = None  # process that started the thread pool


def max_threads() -> int:
    """Largest thread count Numba's pool can run (``NUMBA_NUM_THREADS``)."""
    return int(numba.config.NUMBA_NUM_THREADS)


def clamp_threads(nthreads) -> int:
    """``nthreads`` limited to ``1 .. max_threads()``."""
    try:
        n = int(nthreads)
    except (TypeError, ValueError):
        n = 1
    return max(1, min(n, max_threads()))


def parallel_available() -> bool:
    """Whether a ``parallel=True`` kernel may run in this process.

    False only in a process forked after its parent started a thread pool
    that is not fork-safe (any layer but TBB).
    """
    pid = _launch_pid
    return pid is None or pid == os.getpid() or _layer_name == "tbb"


@contextlib.contextmanager
def parallel_launch(nthreads: int):
    """Context in which a ``parallel=True`` kernel runs on ``nthreads`` threads."""
    global _layer_is_safe, _layer_name, _launch_pid
    safe = _layer_is_safe
    lock = None if safe else _launch_lock
    if lock is not None:
        lock.acquire()
    try:
        previous = numba.get_num_threads()
        numba.set_num_threads(nthreads)
        try:
            yield
        finally:
            numba.set_num_threads(previous)
        if safe is None:
            try:
                _layer_name = numba.threading_layer()
            except ValueError:  # no parallel kernel ran yet
                pass
            else:
                _launch_pid = os.getpid()
                _layer_is_safe = _layer_name in ("tbb", "omp")
    finally:
        if lock is not None:
            lock.release()
