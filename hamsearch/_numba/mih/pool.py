"""Worker threads of the MIH drivers: query ranges handed out dynamically
to a persistent pool (the kernels release the GIL)."""

from __future__ import annotations

import os


def _grain(nq: int, nthreads: int) -> int:
    """Queries per work item: about 16 items per thread, 4 to 256 queries each."""
    return int(max(4, min(256, nq // (16 * nthreads) if nthreads > 1 else nq)))


_POOL = None
_POOL_LOCK = None


def _forget_pool() -> None:
    """In a forked child: the parent's worker threads do not exist there."""
    global _POOL, _POOL_LOCK
    _POOL = None
    _POOL_LOCK = None


os.register_at_fork(after_in_child=_forget_pool)


def _pool(nthreads: int):
    """The module's worker threads (started once, grown when a call wants
    more): starting threads per call cost ~0.3-0.5 ms, more than a whole
    small batch of queries.  A forked child starts a pool of its own."""
    global _POOL, _POOL_LOCK
    import threading
    from concurrent.futures import ThreadPoolExecutor

    if _POOL_LOCK is None:
        _POOL_LOCK = threading.Lock()
    with _POOL_LOCK:
        if _POOL is None or _POOL._max_workers < nthreads:
            old = _POOL
            _POOL = ThreadPoolExecutor(max_workers=nthreads,
                                       thread_name_prefix="hamsearch-mih")
            if old is not None:
                old.shutdown(wait=False)
        return _POOL


def _run(fn, nq: int, nthreads: int):
    """``fn(q0, q1)`` over query ranges, handed out dynamically to threads.

    The kernels release the GIL; query costs vary a lot (some fall back to a
    linear scan), so threads take small ranges as they go (as the C kernel's
    atomic counter does).  The calling thread works too, beside
    ``nthreads - 1`` workers of a persistent pool.  Returns
    ``[(q0, fn(q0, q1)), ...]`` by ``q0``.
    """
    nthreads = max(1, int(nthreads))
    g = _grain(nq, nthreads)
    nitems = (nq + g - 1) // g
    nthreads = min(nthreads, nitems)
    if nthreads <= 1:
        return [(0, fn(0, nq))]
    import itertools
    import threading

    counter = itertools.count()
    lock = threading.Lock()
    out = []

    def worker():
        mine = []
        while True:
            with lock:
                i = next(counter)
            if i >= nitems:
                break
            q0 = i * g
            q1 = min(nq, q0 + g)
            mine.append((q0, fn(q0, q1)))
        return mine

    pool = _pool(nthreads - 1)
    futures = [pool.submit(worker) for _ in range(nthreads - 1)]
    out.extend(worker())
    for f in futures:
        if not f.cancel():  # a worker that never started has nothing left to do
            out.extend(f.result())
    out.sort(key=lambda r: r[0])
    return out
