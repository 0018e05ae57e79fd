"""Flat radius search in Numba: one scan of each task into its buffer of
``(query, distance, id)`` matches, the scatter of the matches into the CSR
arrays, the sort of each query's slice by ``(distance, id)``, and the
serial / parallel drivers of the three stages."""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from ..popcount import block_distances, block_distances_t, transpose_block
from .rows import row_id, skipped
from .tasks import TRANSPOSE_MIN_QUERIES, _task_bounds


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
def range_tasks(nq, ngroups, nchunks, stage):
    """Tasks of a stage: one a query to sort (2), else ``ngroups * nchunks``."""
    return nq if stage == 2 else ngroups * nchunks


@numba.njit(cache=True, nogil=True)
def range_task_at(t, db, ids, queries, radius, bs, ngroups, nchunks, counts, totals,
                  qbuf, dbuf, ibuf, lims, D, I, stage, skip):
    """Task ``t`` of a stage, the drivers' one loop body: stage 0 scans task
    ``t`` of ``ngroups * nchunks``, 1 scatters it, 2 sorts query ``t``."""
    if stage == 2:
        sort_slice(D, I, lims[t], lims[t + 1], radius)
        return
    c, q0, q1, j0, j1 = _task_bounds(t, nchunks, ngroups, queries.shape[0], db.shape[0])
    if stage == 0:
        totals[t] = range_scan_task(db, ids, queries, q0, q1, j0, j1, radius, bs,
                                    counts[c], qbuf[t], dbuf[t], ibuf[t], skip)
    else:
        range_scatter_task(qbuf[t], dbuf[t], ibuf[t], totals[t], counts[c], D, I)


@numba.njit(cache=True, nogil=True)
def range_serial(db, ids, queries, radius, bs, ngroups, nchunks, counts, totals,
                 qbuf, dbuf, ibuf, lims, D, I, stage, skip):
    """Serial driver: ``stage`` 0 scans, 1 scatters, 2 sorts.

    ``counts``/``cursor``: (nchunks, nq); ``totals``: (ntasks,); buffers:
    (ntasks, capacity).  In stage 1 ``counts`` holds each task's write
    cursors.
    """
    ntasks = range_tasks(queries.shape[0], ngroups, nchunks, stage)
    for t in range(ntasks):
        range_task_at(t, db, ids, queries, radius, bs, ngroups, nchunks, counts, totals,
                      qbuf, dbuf, ibuf, lims, D, I, stage, skip)


@numba.njit(cache=True, nogil=True, parallel=True)
def range_parallel(db, ids, queries, radius, bs, ngroups, nchunks, counts, totals,
                   qbuf, dbuf, ibuf, lims, D, I, stage, skip):
    """Parallel driver: ``stage`` 0 scans, 1 scatters, 2 sorts."""
    ntasks = range_tasks(queries.shape[0], ngroups, nchunks, stage)
    for t in prange(ntasks):
        range_task_at(t, db, ids, queries, radius, bs, ngroups, nchunks, counts, totals,
                      qbuf, dbuf, ibuf, lims, D, I, stage, skip)
