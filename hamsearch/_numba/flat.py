"""Exhaustive (flat) search kernels in Numba: k-NN, range search, distance matrix.

Work is cut into *tasks*: a group of consecutive queries against a chunk of
consecutive database rows (``_task_bounds``).  With many queries there is one
chunk and a whole number of query groups per thread; with fewer queries than
about four per thread the database is split into chunks, so that a single
query still uses every thread, and the per-chunk results are merged after.

Inside a task the database chunk is walked in blocks small enough to stay in
L1, and every query of the group is scanned against a block before moving on
(queries tiled against database blocks).  A task with at least
``TRANSPOSE_MIN_QUERIES`` queries first copies each block word-major
(``transpose_block``), so that the distance loop reads unit-stride word
columns; with fewer queries the copy would cost as much as the scan and the
rows are read as they are.  Per query and block the distances go to a small
buffer (a loop LLVM vectorises) whose minimum is returned:

* k-NN: when the minimum exceeds the query's current k-th distance the block
  is rejected with that one comparison; otherwise the few rows with distance
  ``<=`` the k-th are offered to a bounded max-heap (``topk``), a tie with
  the k-th entering only with a smaller id;
* range search: one scan stores ``(query, distance, id)`` of every match in
  a per-task buffer (a task that overflows it is scanned again with a buffer
  of the exact size), the matches are scattered into the CSR arrays, and
  each query's slice is sorted by ``(distance, id)``.

Each driver exists twice: a serial one (plain ``range``; no threading layer,
safe to call from many Python threads at once) and a ``parallel=True`` one
whose outer loop is a ``prange`` over tasks.  Both call the same task
functions, so results are identical whichever runs.

Numba's on-disk cache keys a function on its own source file only: after
editing ``popcount.py`` or ``topk.py`` (or ``row_id`` here, which ``mih/``
and ``rerank.py`` use), or a helper module of ``mih/`` (its cached kernels
are in ``knn.py``, ``radius.py`` and ``build.py``), in a checkout, delete
``hamsearch/_numba/__pycache__`` and ``hamsearch/_numba/mih/__pycache__``
(installed copies are unaffected: every file is rewritten on install).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .._kernels import PAD_DISTANCE  # the one definition (a compile-time constant here)
from .popcount import BIG, block_distances, block_distances_t, transpose_block
from .topk import heap_offer, heap_push, heap_replace_top, heap_sort

PAD_ID = -1
#: The ``ids`` argument of every kernel for ``ids=None`` (row ids: the id of
#: row ``i`` is ``i``).  An empty int64 array, so the jitted functions see the
#: same type as for a (writable) id array and compile no extra variant.
ROW_IDS = np.zeros(0, dtype=np.int64)

# Bytes of database rows per block: a block is re-read once per query of the
# task, so it should sit in L1/L2 (measured: 512-1024 rows of up to 256 bits
# beat smaller blocks; the per-block overhead is then negligible).
BLOCK_BYTES = 32768
# A task scanning at least this many queries transposes each block once
# (word-major), which vectorises better for multi-word codes.
TRANSPOSE_MIN_QUERIES = 4
# Rows per block are clamped to this range.
MIN_BLOCK_ROWS = 64
MAX_BLOCK_ROWS = 1024


def block_rows(nwords: int) -> int:
    """Database rows per block for codes of ``nwords`` 64-bit words."""
    rows = BLOCK_BYTES // (8 * max(1, nwords))
    return int(min(MAX_BLOCK_ROWS, max(MIN_BLOCK_ROWS, rows)))


# ---------------------------------------------------------------------------
# k nearest neighbours
# ---------------------------------------------------------------------------


@numba.njit(nogil=True, inline="always")
def row_id(ids, r):
    """Id of database row ``r``: ``ids[r]``, or ``r`` itself when ``ids`` is
    empty (row ids: the Python wrappers pass ``ROW_IDS`` for ``ids=None``;
    an empty ``ids`` with rows to search can mean nothing else)."""
    if ids.shape[0] == 0:
        return np.int64(r)
    return ids[r]


@numba.njit(nogil=True, inline="always")
def skipped(skip, r):
    """Whether row ``r`` is set in the bitmap ``skip`` (an empty one skips none)."""
    return skip.shape[0] > 0 and ((skip[r >> 6] >> np.uint64(r & 63)) & np.uint64(1)) != 0


@numba.njit(nogil=True)
def offer_block(buf, nb, ids, b0, hdt, hit, size, cap, th, skip):
    """Offer the rows of one block whose distance is ``<= th`` to a heap.

    ``buf[:nb]`` holds the distances of rows ``b0 : b0 + nb``; ``th`` is the
    heap's current k-th distance (``BIG`` while it is not full).  Returns the
    new ``(size, th)``.  Kept out of the scanning loop so that the compiler
    keeps the vectorised distance loop free of this rarely taken path.
    """
    for j in range(nb):
        d = buf[j]
        if d > th or skipped(skip, b0 + j):
            continue
        idv = row_id(ids, b0 + j)
        if size < cap:
            heap_push(hdt, hit, size, d, idv)
            size += 1
            if size == cap:
                th = hdt[0]
        elif d < th or idv < hit[0]:
            heap_replace_top(hdt, hit, cap, d, idv)
            th = hdt[0]
    return size, th


@numba.njit(nogil=True)
def _knn_scan_rows(db, ids, queries, q0, q1, j0, j1, bs, cap, hd, hi, sizes, thr, skip):
    buf = np.empty(bs, dtype=np.int32)
    for b0 in range(j0, j1, bs):
        b1 = min(b0 + bs, j1)
        nb = b1 - b0
        for t in range(q1 - q0):
            th = thr[t]
            mn = block_distances(db, b0, b1, queries, q0 + t, buf)
            if mn <= th:
                sizes[t], thr[t] = offer_block(buf, nb, ids, b0, hd[t], hi[t], sizes[t], cap, th,
                                               skip)


@numba.njit(nogil=True)
def _knn_scan_transposed(db, ids, queries, q0, q1, j0, j1, bs, cap, hd, hi, sizes, thr,
                         skip):
    buf = np.empty(bs, dtype=np.int32)
    T = np.empty((db.shape[1], bs), dtype=np.uint64)
    for b0 in range(j0, j1, bs):
        b1 = min(b0 + bs, j1)
        nb = b1 - b0
        transpose_block(db, b0, b1, T)
        for t in range(q1 - q0):
            th = thr[t]
            mn = block_distances_t(T, nb, queries, q0 + t, buf)
            if mn <= th:
                sizes[t], thr[t] = offer_block(buf, nb, ids, b0, hd[t], hi[t], sizes[t], cap, th,
                                               skip)


@numba.njit(cache=True, nogil=True)
def knn_task(db, ids, queries, q0, q1, j0, j1, k, bs, D, I, skip):
    """Top-k of queries ``q0:q1`` among database rows ``j0:j1``.

    Writes rows ``q0:q1`` of ``D``/``I`` (shape ``(nq, k)``), sorted by
    ``(distance, id)`` and padded with ``(PAD_DISTANCE, -1)``.
    """
    nqt = q1 - q0
    if nqt <= 0:
        return
    cap = min(k, j1 - j0)
    if cap <= 0:
        for t in range(nqt):
            for s in range(k):
                D[q0 + t, s] = PAD_DISTANCE
                I[q0 + t, s] = PAD_ID
        return
    hd = np.empty((nqt, cap), dtype=np.int32)
    hi = np.empty((nqt, cap), dtype=np.int64)
    sizes = np.zeros(nqt, dtype=np.int64)
    # Current k-th distance of each query; BIG until its heap is full, so
    # that every row is accepted while filling.
    thr = np.full(nqt, BIG, dtype=np.int64)
    if nqt >= TRANSPOSE_MIN_QUERIES and db.shape[1] > 1:
        _knn_scan_transposed(db, ids, queries, q0, q1, j0, j1, bs, cap, hd, hi, sizes, thr,
                             skip)
    else:
        _knn_scan_rows(db, ids, queries, q0, q1, j0, j1, bs, cap, hd, hi, sizes, thr, skip)
    for t in range(nqt):
        size = sizes[t]
        heap_sort(hd[t], hi[t], size)
        for s in range(size):
            D[q0 + t, s] = hd[t, s]
            I[q0 + t, s] = hi[t, s]
        for s in range(size, k):
            D[q0 + t, s] = PAD_DISTANCE
            I[q0 + t, s] = PAD_ID


@numba.njit(nogil=True)
def _task_bounds(t, nchunks, ngroups, nq, n):
    g = t // nchunks
    c = t - g * nchunks
    q0 = g * nq // ngroups
    q1 = (g + 1) * nq // ngroups
    j0 = c * n // nchunks
    j1 = (c + 1) * n // nchunks
    return c, q0, q1, j0, j1


@numba.njit(cache=True, nogil=True)
def knn_serial(db, ids, queries, k, bs, ngroups, nchunks, Dp, Ip, skip):
    """Run every k-NN task in the calling thread (``Dp``: (nchunks, nq, k))."""
    nq = queries.shape[0]
    n = db.shape[0]
    for t in range(ngroups * nchunks):
        c, q0, q1, j0, j1 = _task_bounds(t, nchunks, ngroups, nq, n)
        knn_task(db, ids, queries, q0, q1, j0, j1, k, bs, Dp[c], Ip[c], skip)


@numba.njit(cache=True, nogil=True, parallel=True)
def knn_parallel(db, ids, queries, k, bs, ngroups, nchunks, Dp, Ip, skip):
    """Run the k-NN tasks on Numba's thread pool (``Dp``: (nchunks, nq, k))."""
    nq = queries.shape[0]
    n = db.shape[0]
    for t in prange(ngroups * nchunks):
        c, q0, q1, j0, j1 = _task_bounds(t, nchunks, ngroups, nq, n)
        knn_task(db, ids, queries, q0, q1, j0, j1, k, bs, Dp[c], Ip[c], skip)


@numba.njit(cache=True, nogil=True)
def merge_task(Dp, Ip, q, D, I):
    """Merge the per-chunk sorted top-k lists of query ``q`` into ``D[q]``."""
    nchunks = Dp.shape[0]
    k = Dp.shape[2]
    hd = np.empty(k, dtype=np.int32)
    hi = np.empty(k, dtype=np.int64)
    size = 0
    for c in range(nchunks):
        for s in range(k):
            idv = Ip[c, q, s]
            if idv == PAD_ID:
                break
            size = heap_offer(hd, hi, size, k, Dp[c, q, s], idv)
    heap_sort(hd, hi, size)
    for s in range(size):
        D[q, s] = hd[s]
        I[q, s] = hi[s]
    for s in range(size, k):
        D[q, s] = PAD_DISTANCE
        I[q, s] = PAD_ID


@numba.njit(cache=True, nogil=True)
def merge_serial(Dp, Ip, D, I):
    """Merge per-chunk results for every query, in the calling thread."""
    for q in range(Dp.shape[1]):
        merge_task(Dp, Ip, q, D, I)


@numba.njit(cache=True, nogil=True, parallel=True)
def merge_parallel(Dp, Ip, D, I):
    """Merge per-chunk results for every query, on the thread pool."""
    for q in prange(Dp.shape[1]):
        merge_task(Dp, Ip, q, D, I)


# ---------------------------------------------------------------------------
# range search: one scan into per-task buffers, scatter into CSR, sort slices
# ---------------------------------------------------------------------------


@numba.njit(nogil=True)
def _range_scan_block(buf, nb, ids, b0, q, radius, qbuf, dbuf, ibuf, fill, cap, skip):
    for j in range(nb):
        d = buf[j]
        if d <= radius and not skipped(skip, b0 + j):
            if fill < cap:
                qbuf[fill] = q
                dbuf[fill] = d
                ibuf[fill] = row_id(ids, b0 + j)
            fill += 1
    return fill


@numba.njit(cache=True, nogil=True)
def range_scan_task(db, ids, queries, q0, q1, j0, j1, radius, bs, counts, qbuf, dbuf, ibuf,
                    skip):
    """Matches of queries ``q0:q1`` among rows ``j0:j1`` into this task's buffers.

    ``counts[q]`` receives the number of matches of query ``q``; the first
    ``len(qbuf)`` matches are stored as ``(query, distance, id)`` triples.
    Returns the task's total number of matches, which may exceed the buffer:
    the caller then runs the task again with a buffer of that size.
    """
    cap = qbuf.shape[0]
    nqt = q1 - q0
    for t in range(nqt):
        counts[q0 + t] = 0
    fill = 0
    buf = np.empty(bs, dtype=np.int32)
    transposed = nqt >= TRANSPOSE_MIN_QUERIES and db.shape[1] > 1
    T = np.empty((db.shape[1] if transposed else 0, bs), dtype=np.uint64)
    for b0 in range(j0, j1, bs):
        b1 = min(b0 + bs, j1)
        nb = b1 - b0
        if transposed:
            transpose_block(db, b0, b1, T)
        for t in range(nqt):
            if transposed:
                mn = block_distances_t(T, nb, queries, q0 + t, buf)
            else:
                mn = block_distances(db, b0, b1, queries, q0 + t, buf)
            if mn <= radius:
                before = fill
                fill = _range_scan_block(buf, nb, ids, b0, q0 + t, radius, qbuf, dbuf, ibuf, fill,
                                         cap, skip)
                counts[q0 + t] += fill - before
    return fill


@numba.njit(cache=True, nogil=True)
def range_scatter_task(qbuf, dbuf, ibuf, m, cursor, D, I):
    """Move a task's ``m`` buffered matches to ``D``/``I`` at ``cursor[query]``."""
    for e in range(min(m, qbuf.shape[0])):
        q = qbuf[e]
        p = cursor[q]
        D[p] = dbuf[e]
        I[p] = ibuf[e]
        cursor[q] = p + 1


@numba.njit(cache=True, nogil=True)
def sort_slice(D, I, a, b, maxd):
    """Sort ``D[a:b]``, ``I[a:b]`` by ``(distance, id)``; distances <= ``maxd``."""
    m = b - a
    if m <= 1:
        return
    ds = D[a:b].copy()
    is_ = I[a:b].copy()
    order = np.argsort(is_)  # ids are distinct, so any sort is stable enough
    # stable counting sort by distance of the id-sorted items
    counts = np.zeros(maxd + 2, dtype=np.int64)
    for s in range(m):
        counts[ds[s] + 1] += 1
    for v in range(1, maxd + 2):
        counts[v] += counts[v - 1]
    for s in range(m):
        o = order[s]
        d = ds[o]
        p = counts[d]
        counts[d] = p + 1
        D[a + p] = d
        I[a + p] = is_[o]


@numba.njit(cache=True, nogil=True)
def range_serial(db, ids, queries, radius, bs, ngroups, nchunks, counts, totals,
                 qbuf, dbuf, ibuf, lims, D, I, stage, skip):
    """Serial driver: ``stage`` 0 scans, 1 scatters, 2 sorts.

    ``counts``/``cursor``: (nchunks, nq); ``totals``: (ntasks,); buffers:
    (ntasks, capacity).  In stage 1 ``counts`` holds each task's write
    cursors.
    """
    nq = queries.shape[0]
    n = db.shape[0]
    if stage == 2:
        for q in range(nq):
            sort_slice(D, I, lims[q], lims[q + 1], radius)
        return
    for t in range(ngroups * nchunks):
        c, q0, q1, j0, j1 = _task_bounds(t, nchunks, ngroups, nq, n)
        if stage == 0:
            totals[t] = range_scan_task(db, ids, queries, q0, q1, j0, j1, radius, bs,
                                        counts[c], qbuf[t], dbuf[t], ibuf[t], skip)
        else:
            range_scatter_task(qbuf[t], dbuf[t], ibuf[t], totals[t], counts[c], D, I)


@numba.njit(cache=True, nogil=True, parallel=True)
def range_parallel(db, ids, queries, radius, bs, ngroups, nchunks, counts, totals,
                   qbuf, dbuf, ibuf, lims, D, I, stage, skip):
    """Parallel driver: ``stage`` 0 scans, 1 scatters, 2 sorts."""
    nq = queries.shape[0]
    n = db.shape[0]
    if stage == 2:
        for q in prange(nq):
            sort_slice(D, I, lims[q], lims[q + 1], radius)
        return
    for t in prange(ngroups * nchunks):
        c, q0, q1, j0, j1 = _task_bounds(t, nchunks, ngroups, nq, n)
        if stage == 0:
            totals[t] = range_scan_task(db, ids, queries, q0, q1, j0, j1, radius, bs,
                                        counts[c], qbuf[t], dbuf[t], ibuf[t], skip)
        else:
            range_scatter_task(qbuf[t], dbuf[t], ibuf[t], totals[t], counts[c], D, I)


# ---------------------------------------------------------------------------
# distance matrix
# ---------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def matrix_tile(a, b, i0, i1, j0, j1, out):
    """``out[i, j]`` for ``i0 <= i < i1``, ``j0 <= j < j1``."""
    if i1 - i0 >= TRANSPOSE_MIN_QUERIES and b.shape[1] > 1:
        T = np.empty((b.shape[1], j1 - j0), dtype=np.uint64)
        transpose_block(b, j0, j1, T)
        for i in range(i0, i1):
            block_distances_t(T, j1 - j0, a, i, out[i, j0:j1])
    else:
        for i in range(i0, i1):
            block_distances(b, j0, j1, a, i, out[i, j0:j1])


@numba.njit(cache=True, nogil=True)
def matrix_serial(a, b, ti, tj, out):
    """All tiles of ``ti`` rows by ``tj`` columns, in the calling thread."""
    na = a.shape[0]
    nb = b.shape[0]
    nti = (na + ti - 1) // ti
    ntj = (nb + tj - 1) // tj
    for t in range(nti * ntj):
        r = t // ntj
        c = t - r * ntj
        matrix_tile(a, b, r * ti, min(na, (r + 1) * ti), c * tj, min(nb, (c + 1) * tj), out)


@numba.njit(cache=True, nogil=True, parallel=True)
def matrix_parallel(a, b, ti, tj, out):
    """All tiles of ``ti`` rows by ``tj`` columns, on the thread pool."""
    na = a.shape[0]
    nb = b.shape[0]
    nti = (na + ti - 1) // ti
    ntj = (nb + tj - 1) // tj
    for t in prange(nti * ntj):
        r = t // ntj
        c = t - r * ntj
        matrix_tile(a, b, r * ti, min(na, (r + 1) * ti), c * tj, min(nb, (c + 1) * tj), out)
