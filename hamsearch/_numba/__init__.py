"""Numba kernels: the fallback backend when the C extension is not built.

The interface is :class:`hamsearch._kernels.Kernels` (as the C backend,
``hamsearch._kernels.c``); inputs
are trusted to be validated already (C-contiguous ``uint64`` rows of equal
width, ``int64`` ids -- or None for row ids, the id of row ``i`` being ``i``
-- zero padding bits).  Nothing is compiled at import: each kernel is
compiled (or loaded from Numba's on-disk cache) on its first call;
``warmup()`` does that up front for the common signatures.
"""

from __future__ import annotations

import contextlib

import numpy as np

from ._cache import install as _install_cache

_install_cache()  # before any kernel is decorated: the cache stamps the package

from . import flat
from ._threads import clamp_threads, parallel_available, parallel_launch
from .popcount import hamming_rows_kernel
# re-rank kernels (twin of csrc/rerank.c), exported through KERNEL_NAMES
from .rerank import feature_distances, rerank  # noqa: F401
# multi-index hashing (twin of csrc/mih.c): the names of MIH_KERNEL_NAMES, the __all__ of mih
from .mih import *

NAME = "numba"

from .._kernels import KERNEL_NAMES, PAD_DISTANCE  # noqa: E402  (the one definitions)

# every kernel of the interface, named once (as the C backend's __all__)
__all__ = ["NAME", "PAD_DISTANCE", "warmup", *KERNEL_NAMES]  # noqa: PLE0604

# Below this many (query, row) pairs a call runs in the calling thread: the
# thread pool's start-up cost would dominate.
_SERIAL_WORK = 1 << 16
# At most this many queries per task (bounds per-task heap memory and keeps
# the per-query state of a task in cache).
_MAX_GROUP = 256
# Per-task heap entries at most (queries x min(k, rows)).
_MAX_HEAP_ENTRIES = 1 << 22
# Range-search matches buffered (over all tasks) before a second scan is needed.
_RANGE_BUFFER = 1 << 22
_RANGE_MIN_BUFFER = 1024
# A database chunk split off for one query has at least this many rows.
_MIN_CHUNK = 8192


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _plan(nq: int, n: int, nthreads: int, per_query_cap: int = 1):
    """Return ``(ngroups, nchunks, parallel)`` for ``nq`` queries, ``n`` rows."""
    group_max = max(1, min(_MAX_GROUP, _MAX_HEAP_ENTRIES // max(1, per_query_cap)))
    parallel = nthreads > 1 and nq * n >= _SERIAL_WORK and parallel_available()
    if not parallel:
        return max(1, _ceil_div(nq, group_max)), 1, False
    if nq >= 4 * nthreads:
        ngroups = max(nthreads, _ceil_div(nq, group_max))
        ngroups = _ceil_div(ngroups, nthreads) * nthreads  # whole rounds
        return min(ngroups, nq), 1, True
    # Few queries: one query per group and the database cut in chunks, so
    # that even a single query keeps every thread busy.
    nchunks = max(1, min(nthreads, n // _MIN_CHUNK))
    if nchunks == 1 and nq == 1:
        return 1, 1, False
    return nq, nchunks, True


def _as_threads(nthreads) -> int:
    return clamp_threads(1 if nthreads is None else nthreads)


_NO_SKIP = np.zeros(0, dtype=np.uint64)


def _skip_array(skip, n):
    from ..rowbits import check

    return _NO_SKIP if check(skip, n) is None else skip


def _ids_array(ids):
    """The kernels' ``ids`` argument: ``flat.ROW_IDS`` (empty) for None."""
    return flat.ROW_IDS if ids is None else ids


def knn(db, ids, queries, k, nthreads=1, skip=None):
    """Exact k nearest neighbours of each query row in ``db``.

    Parameters
    ----------
    db : ndarray of uint64, shape (n, w)
        Database codes, C-contiguous.
    ids : ndarray of int64, shape (n,), or None
        External id of each database row (distinct, any order); None: row
        ids, the id of row ``i`` is ``i`` (as if ``np.arange(n)`` was
        passed; the caller adds its base to the results).
    queries : ndarray of uint64, shape (nq, w)
        Query codes.
    k : int
        Number of neighbours (>= 1); may exceed ``n``.
    nthreads : int
        Threads to use.
    skip : ndarray of uint64, optional
        Bitmap of rows left out (bit ``i & 63`` of word ``i >> 6``).

    Returns
    -------
    D : ndarray of int32, shape (nq, k)
        Distances, ascending; ``PAD_DISTANCE`` for padding slots.
    I : ndarray of int64, shape (nq, k)
        Ids, ties by ascending id; ``-1`` for padding slots.
    """
    k = int(k)
    nq, n = queries.shape[0], db.shape[0]
    nthreads = _as_threads(nthreads)
    D = np.empty((nq, k), dtype=np.int32)
    I = np.empty((nq, k), dtype=np.int64)
    if nq == 0 or k == 0:
        return D, I
    if n == 0:
        D.fill(PAD_DISTANCE)
        I.fill(-1)
        return D, I
    skip = _skip_array(skip, n)
    ids = _ids_array(ids)
    ngroups, nchunks, parallel = _plan(nq, n, nthreads, min(k, n))
    bs = flat.block_rows(db.shape[1])
    if nchunks == 1:
        Dp, Ip = D[None], I[None]
    else:
        Dp = np.empty((nchunks, nq, k), dtype=np.int32)
        Ip = np.empty((nchunks, nq, k), dtype=np.int64)
    if parallel:
        with parallel_launch(nthreads):
            flat.knn_parallel(db, ids, queries, k, bs, ngroups, nchunks, Dp, Ip, skip)
            if nchunks > 1:
                flat.merge_parallel(Dp, Ip, D, I)
    else:
        flat.knn_serial(db, ids, queries, k, bs, ngroups, nchunks, Dp, Ip, skip)
        if nchunks > 1:
            flat.merge_serial(Dp, Ip, D, I)
    return D, I


def range_search(db, ids, queries, radius, nthreads=1, skip=None):
    """All database rows within Hamming distance ``radius`` (inclusive).

    Parameters
    ----------
    db, ids, queries, nthreads, skip
        As in :func:`knn`.
    radius : int
        Largest distance reported (``<=``, inclusive).

    Returns
    -------
    lims : ndarray of int64, shape (nq + 1,)
        Query ``q``'s results are ``D[lims[q]:lims[q+1]]``, ``I[...]``.
    D : ndarray of int32
        Distances, each query's slice sorted by ``(distance, id)``.
    I : ndarray of int64
        Ids.
    """
    nq, n = queries.shape[0], db.shape[0]
    nthreads = _as_threads(nthreads)
    lims = np.zeros(nq + 1, dtype=np.int64)
    radius = int(min(int(radius), 64 * db.shape[1]))
    if nq == 0 or n == 0 or radius < 0:
        return lims, np.zeros(0, np.int32), np.zeros(0, np.int64)
    skip = _skip_array(skip, n)
    ids = _ids_array(ids)
    ngroups, nchunks, parallel = _plan(nq, n, nthreads)
    ntasks = ngroups * nchunks
    bs = flat.block_rows(db.shape[1])
    counts = np.zeros((nchunks, nq), dtype=np.int64)
    totals = np.zeros(ntasks, dtype=np.int64)
    # Matches buffered per task in the single scan; a task that finds more
    # is scanned again with a buffer of the exact size.
    capacity = min(max(_RANGE_MIN_BUFFER, _RANGE_BUFFER // ntasks), _ceil_div(nq, ngroups) * _ceil_div(n, nchunks))
    run = flat.range_parallel if parallel else flat.range_serial
    launch = parallel_launch(nthreads) if parallel else contextlib.nullcontext()
    with launch:
        qbuf, dbuf, ibuf = _range_buffers(ntasks, capacity)
        empty_d, empty_i = np.zeros(0, np.int32), np.zeros(0, np.int64)
        run(db, ids, queries, radius, bs, ngroups, nchunks, counts, totals,
            qbuf, dbuf, ibuf, lims, empty_d, empty_i, 0, skip)
        if totals.max() > capacity:
            qbuf, dbuf, ibuf = _range_buffers(ntasks, int(totals.max()))
            run(db, ids, queries, radius, bs, ngroups, nchunks, counts, totals,
                qbuf, dbuf, ibuf, lims, empty_d, empty_i, 0, skip)
        np.cumsum(counts.sum(axis=0), out=lims[1:])
        # write cursor of (chunk c, query q): after the matches of chunks < c
        cursor = np.empty_like(counts)
        cursor[0] = lims[:-1]
        if nchunks > 1:
            cursor[1:] = lims[:-1] + np.cumsum(counts[:-1], axis=0)
        D = np.empty(int(lims[-1]), dtype=np.int32)
        I = np.empty(int(lims[-1]), dtype=np.int64)
        run(db, ids, queries, radius, bs, ngroups, nchunks, cursor, totals,
            qbuf, dbuf, ibuf, lims, D, I, 1, skip)
        run(db, ids, queries, radius, bs, ngroups, nchunks, cursor, totals,
            qbuf, dbuf, ibuf, lims, D, I, 2, skip)
    return lims, D, I


def _range_buffers(ntasks: int, capacity: int):
    capacity = max(1, int(capacity))
    return (
        np.empty((ntasks, capacity), dtype=np.int32),
        np.empty((ntasks, capacity), dtype=np.int32),
        np.empty((ntasks, capacity), dtype=np.int64),
    )


def hamming_matrix(a, b, nthreads=1):
    """All pairwise Hamming distances, ``int32`` of shape ``(len(a), len(b))``."""
    na, nb = a.shape[0], b.shape[0]
    out = np.empty((na, nb), dtype=np.int32)
    if na == 0 or nb == 0:
        return out
    nthreads = _as_threads(nthreads)
    ti = 32
    tj = max(64, flat.block_rows(a.shape[1]))
    if nthreads > 1 and na * nb >= _SERIAL_WORK and parallel_available():
        with parallel_launch(nthreads):
            flat.matrix_parallel(a, b, ti, tj, out)
    else:
        flat.matrix_serial(a, b, ti, tj, out)
    return out


def hamming_rows(a, b):
    """Row-wise Hamming distances ``dist(a[i], b[i])``, ``int32`` of shape ``(n,)``."""
    out = np.empty(a.shape[0], dtype=np.int32)
    if a.shape[0]:
        hamming_rows_kernel(a, b, out)
    return out


def warmup(nthreads=None):
    """Compile (or load from Numba's cache) every kernel for the usual types.

    The code width is a run-time value, so one width compiles every path;
    writable and read-only (memory-mapped) databases are distinct Numba
    types and are both covered.

    Parameters
    ----------
    nthreads : int, optional
        Threads for the parallel variants (default 2, so they are compiled).
    """
    nthreads = 2 if nthreads is None else int(nthreads)
    rng = np.random.default_rng(0)
    n = 2 * _MIN_CHUNK
    db = rng.integers(0, 2**63, size=(n, 2), dtype=np.int64).view(np.uint64)
    ids = np.arange(n, dtype=np.int64)
    frozen_db = db.copy()
    frozen_ids = ids.copy()
    frozen_db.setflags(write=False)
    frozen_ids.setflags(write=False)
    for threads in sorted({1, max(1, nthreads)}):
        # ids=None (row ids) is a writable int64 array to the kernels: with
        # a read-only database it is one more type combination
        for base, base_ids in ((db, ids), (frozen_db, frozen_ids), (frozen_db, None)):
            for q in (db[:1], db[:64]):
                knn(base, base_ids, q, 5, threads)
                range_search(base, base_ids, q, 3, threads)
        hamming_matrix(db[:300], db[:300], threads)
    hamming_rows(db[:3], db[:3])
