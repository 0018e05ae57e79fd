"""Radius search with multi-index tables: the jitted chunk over a range of
queries (growing its buffers as needed), the driver
:func:`mih_range_search` (the backend's ``mih_range_search``) and the
splice of the deferred queries' scan results into its CSR output."""

from __future__ import annotations

import numba
import numpy as np

from ..flat import ROW_IDS
from .pool import _run
from .search import _NO_SKIP, BATCH, DEFER_MIN_QUERIES, SCAN_BLOCK, _chunk
from .seen import _seen_buffer


@numba.njit(cache=True, nogil=True)
def range_chunk(codes, ids, queries, q0, q1, radius, sub_start, sub_len, meta0, offs0, hk0,
                hv0, pos0, occ0, tc0, sfx0, meta1, offs1, hk1, hv1, pos1, occ1, tc1, sfx1, budget,
                counts, stats, skip, defer):
    """Radius search of queries ``q0:q1``; returns concatenated (D, I).  With
    ``defer`` a query that falls back to a scan gets no rows here (as
    :func:`knn_chunk`)."""
    cd = np.empty(256, dtype=np.int32)
    ci = np.empty(256, dtype=np.int64)
    keys = np.empty(BATCH, dtype=np.int64)
    qkeys = np.empty(sub_len.shape[0], dtype=np.int64)
    dbuf = np.empty(0 if defer else SCAN_BLOCK, dtype=np.int32)
    outd = np.empty(1024, dtype=np.int32)
    outi = np.empty(1024, dtype=np.int64)
    D = np.zeros((0, 0), dtype=np.int32)
    I = np.zeros((0, 0), dtype=np.int64)
    seen = _seen_buffer(codes.shape[0], sub_len.shape[0])
    qi = q0
    total = 0
    while True:
        qi, need_c, need_out, total = _chunk(
            codes, ids, queries, qi, q1, 0, radius, sub_start, sub_len, meta0, offs0, hk0,
            hv0, pos0, occ0, tc0, sfx0, meta1, offs1, hk1, hv1, pos1, occ1, tc1, sfx1, budget,
            D, I, counts, stats, skip, cd, ci, keys, qkeys, dbuf, outd, outi, total, seen)
        if qi >= q1:
            break
        if need_c > 0:
            newcap = max(2 * cd.shape[0], need_c)
            cd = np.empty(newcap, dtype=np.int32)
            ci = np.empty(newcap, dtype=np.int64)
        if need_out > 0:
            newcap = max(2 * outd.shape[0], need_out)
            nd = np.empty(newcap, dtype=np.int32)
            ni = np.empty(newcap, dtype=np.int64)
            nd[:total] = outd[:total]
            ni[:total] = outi[:total]
            outd = nd
            outi = ni
    return outd[:total].copy(), outi[:total].copy()


def mih_range_search(codes, ids, queries, radius, sub_start, sub_len, seg0, seg1, budget,
                     nthreads=1, skip=None):
    """Radius search (``<= radius``) with multi-index tables; ``(lims, D, I, stats)``."""
    nq = queries.shape[0]
    counts = np.zeros(nq, dtype=np.int64)
    stats = np.zeros((nq, 3), dtype=np.int64)
    lims = np.zeros(nq + 1, dtype=np.int64)
    if nq == 0:
        return lims, np.zeros(0, np.int32), np.zeros(0, np.int64), stats
    ids = ROW_IDS if ids is None else ids
    skip = _NO_SKIP if skip is None else skip

    defer = nq >= DEFER_MIN_QUERIES

    def fn(q0, q1):
        return range_chunk(codes, ids, queries, q0, q1, int(radius), sub_start, sub_len,
                           *seg0, *seg1, int(budget), counts, stats, skip, defer)

    parts = [p for _, p in _run(fn, nq, nthreads)]
    np.cumsum(counts, out=lims[1:])
    D = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int32)
    I = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    fb = np.flatnonzero(stats[:, 2]) if defer else ()
    if len(fb):
        from .. import range_search  # hamsearch._numba's flat driver (as in mih_knn)

        f_lims, f_D, f_I = range_search(codes, None if ids is ROW_IDS else ids, queries[fb],
                                        radius, nthreads, None if skip is _NO_SKIP else skip)
        lims, D, I = _splice_csr(lims, D, I, fb, f_lims, f_D, f_I)
    return lims, D, I, stats


def _splice_csr(lims, D, I, rows, r_lims, r_D, r_I):
    """CSR ``(lims, D, I)`` with the (empty) slices of queries ``rows``
    replaced by the slices of ``(r_lims, r_D, r_I)``, in order."""
    counts = np.diff(lims)
    counts[rows] = np.diff(r_lims)
    out_lims = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out_lims[1:])
    take = np.ones(len(counts), dtype=bool)
    take[rows] = False
    # destination of each kept entry: its query's new start + its offset
    dest_keep = np.repeat(out_lims[:-1][take] - lims[:-1][take], np.diff(lims)[take]) \
        + np.arange(len(D))
    dest_new = np.repeat(out_lims[:-1][rows] - r_lims[:-1], np.diff(r_lims)) \
        + np.arange(len(r_D))
    out_D = np.empty(out_lims[-1], dtype=np.int32)
    out_I = np.empty(out_lims[-1], dtype=np.int64)
    out_D[dest_keep] = D
    out_I[dest_keep] = I
    out_D[dest_new] = r_D
    out_I[dest_new] = r_I
    return out_lims, out_D, out_I
