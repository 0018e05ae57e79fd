"""Flat exact k-NN in Numba: the block scans (rows as they are, or
transposed word-major), the offer of a block's near rows to each query's
bounded max-heap, one task (:func:`knn_task`) and its serial / parallel
drivers."""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from ..._kernels import PAD_DISTANCE  # the one definition (a compile-time constant here)
from ..popcount import BIG, block_distances, block_distances_t, transpose_block
from ..topk import PAD_ID, heap_push, heap_replace_top, write_sorted
from .rows import row_id, skipped
from .tasks import TRANSPOSE_MIN_QUERIES, _task_bounds


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
        write_sorted(hd[t], hi[t], sizes[t], k, D, I, q0 + t)


@numba.njit(cache=True, nogil=True)
def knn_task_at(t, db, ids, queries, k, bs, ngroups, nchunks, Dp, Ip, skip):
    """Task ``t`` of ``ngroups * nchunks`` (the drivers' one loop body)."""
    c, q0, q1, j0, j1 = _task_bounds(t, nchunks, ngroups, queries.shape[0], db.shape[0])
    knn_task(db, ids, queries, q0, q1, j0, j1, k, bs, Dp[c], Ip[c], skip)


@numba.njit(cache=True, nogil=True)
def knn_serial(db, ids, queries, k, bs, ngroups, nchunks, Dp, Ip, skip):
    """Run every k-NN task in the calling thread (``Dp``: (nchunks, nq, k))."""
    for t in range(ngroups * nchunks):
        knn_task_at(t, db, ids, queries, k, bs, ngroups, nchunks, Dp, Ip, skip)


@numba.njit(cache=True, nogil=True, parallel=True)
def knn_parallel(db, ids, queries, k, bs, ngroups, nchunks, Dp, Ip, skip):
    """Run the k-NN tasks on Numba's thread pool (``Dp``: (nchunks, nq, k))."""
    for t in prange(ngroups * nchunks):
        knn_task_at(t, db, ids, queries, k, bs, ngroups, nchunks, Dp, Ip, skip)
