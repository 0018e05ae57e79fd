"""Exact k-NN with multi-index tables: the jitted chunk over a range of
queries and the driver :func:`mih_knn` (the backend's ``mih_knn``)."""

from __future__ import annotations

import numba
import numpy as np

from ..flat import ROW_IDS
from .pool import _run
from .search import _NO_SKIP, BATCH, DEFER_MIN_QUERIES, SCAN_BLOCK, _chunk
from .seen import _seen_buffer


@numba.njit(cache=True, nogil=True)
def knn_chunk(codes, ids, queries, q0, q1, k, sub_start, sub_len, meta0, offs0, hk0, hv0,
              pos0, occ0, tc0, sfx0, meta1, offs1, hk1, hv1, pos1, occ1, tc1, sfx1, budget, D, I,
              stats, skip, defer):
    """Exact k-NN of queries ``q0:q1`` into rows of ``D``/``I``; with
    ``defer``, a query that falls back to a scan is left padded (the caller
    scans those queries together)."""
    cd = np.empty(k, dtype=np.int32)
    ci = np.empty(k, dtype=np.int64)
    keys = np.empty(BATCH, dtype=np.int64)
    qkeys = np.empty(sub_len.shape[0], dtype=np.int64)
    dbuf = np.empty(0 if defer else SCAN_BLOCK, dtype=np.int32)
    counts = np.zeros(0, dtype=np.int64)
    outd = np.zeros(0, dtype=np.int32)
    outi = np.zeros(0, dtype=np.int64)
    seen = _seen_buffer(codes.shape[0], sub_len.shape[0])
    _chunk(codes, ids, queries, q0, q1, k, 0, sub_start, sub_len, meta0, offs0, hk0, hv0,
           pos0, occ0, tc0, sfx0, meta1, offs1, hk1, hv1, pos1, occ1, tc1, sfx1, budget, D, I,
           counts, stats, skip, cd, ci, keys, qkeys, dbuf, outd, outi, 0, seen)


def mih_knn(codes, ids, queries, k, sub_start, sub_len, seg0, seg1, budget, nthreads=1,
            skip=None):
    """Exact k-NN with multi-index tables; returns ``(D, I, stats)``.

    ``ids``: int64 ``(n,)``, or None for row ids (the id of row ``i`` is ``i``).
    ``stats`` is int64 ``(nq, 3)``: table probes, codes verified, and 1 when
    the query finished with a linear scan.
    """
    nq = queries.shape[0]
    k = int(k)
    D = np.empty((nq, k), dtype=np.int32)
    I = np.empty((nq, k), dtype=np.int64)
    stats = np.zeros((nq, 3), dtype=np.int64)
    if nq == 0:
        return D, I, stats
    ids = ROW_IDS if ids is None else ids
    skip = _NO_SKIP if skip is None else skip

    defer = nq >= DEFER_MIN_QUERIES

    def fn(q0, q1):
        knn_chunk(codes, ids, queries, q0, q1, k, sub_start, sub_len, *seg0, *seg1,
                  int(budget), D, I, stats, skip, defer)

    _run(fn, nq, nthreads)
    fb = np.flatnonzero(stats[:, 2]) if defer else ()
    if len(fb):
        from .. import knn  # hamsearch._numba's flat driver (imported at call time: a cycle)

        D[fb], I[fb] = knn(codes, None if ids is ROW_IDS else ids, queries[fb], k,
                           nthreads, None if skip is _NO_SKIP else skip)
    return D, I, stats
