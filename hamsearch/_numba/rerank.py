"""Re-ranking a Hamming candidate pool by float feature distance (Numba twin
of ``csrc/rerank.c``).

Per query, the candidates ``pos[lims[q]:lims[q+1]]`` (storage positions
into the feature matrix, with their Hamming distances ``ham[...]``) are
scored against the query's float vector -- squared Euclidean distance
(``metric=0``) or inner product (``metric=1``) -- and the best ``k`` kept in
a bounded max-heap ordered by

* ``order=0`` (re-rank the pool): ``(score, id)``,
* ``order=1`` (bucket-wise): ``(hamming, score, id)``,

where ``score`` is the L2 distance, or minus the inner product (larger
products rank first).  float16 storage is read through a 65536-entry
float32 table (exact conversion).  Scores accumulate in float32 with
reassociation allowed, so LLVM vectorises the float32 loops.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange, types
from numba.extending import overload

from .._kernels import PAD_DISTANCE  # the one definition (a compile-time constant here)
from .flat import ROW_IDS, row_id

__all__ = ["rerank", "feature_distances", "half_table"]

_FM = {"reassoc", "contract", "nsz"}

_HALF_TABLE = None


def half_table() -> np.ndarray:
    """float32 value of every float16 bit pattern (65536 entries)."""
    global _HALF_TABLE
    if _HALF_TABLE is None:
        _HALF_TABLE = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32)
    return _HALF_TABLE


# ------------------------------------------------------------------ scores
@numba.njit(inline="always", nogil=True, fastmath=_FM)
def _score_f32(F, r, Q, qi, metric):
    s = np.float32(0.0)
    if metric == 0:
        for j in range(F.shape[1]):
            t = Q[qi, j] - F[r, j]
            s += t * t
        return s
    for j in range(F.shape[1]):
        s += Q[qi, j] * F[r, j]
    return -s


@numba.njit(inline="always", nogil=True, fastmath=_FM)
def _score_f16(F, r, Q, qi, metric, lut):
    s = np.float32(0.0)
    if metric == 0:
        for j in range(F.shape[1]):
            t = Q[qi, j] - lut[F[r, j]]
            s += t * t
        return s
    for j in range(F.shape[1]):
        s += Q[qi, j] * lut[F[r, j]]
    return -s


def _score(F, r, Q, qi, metric, lut):  # pragma: no cover - typed by overload
    """Score of stored row ``r`` against query row ``qi`` (key: smaller is better)."""
    raise NotImplementedError


@overload(_score, jit_options={"nogil": True})
def _score_overload(F, r, Q, qi, metric, lut):
    if isinstance(F, types.Array) and F.dtype == types.uint16:
        return lambda F, r, Q, qi, metric, lut: _score_f16(F, r, Q, qi, metric, lut)
    return lambda F, r, Q, qi, metric, lut: _score_f32(F, r, Q, qi, metric)


# -------------------------------------------------------- (h, s, id) heap
@numba.njit(inline="always", nogil=True)
def _greater(h1, s1, i1, h2, s2, i2):
    if h1 != h2:
        return h1 > h2
    if s1 != s2:
        return s1 > s2
    return i1 > i2


@numba.njit(nogil=True)
def _push(hh, hs, hi, hv, size, h, s, i, v):
    p = size
    while p > 0:
        par = (p - 1) >> 1
        if _greater(h, s, i, hh[par], hs[par], hi[par]):
            hh[p] = hh[par]
            hs[p] = hs[par]
            hi[p] = hi[par]
            hv[p] = hv[par]
            p = par
        else:
            break
    hh[p] = h
    hs[p] = s
    hi[p] = i
    hv[p] = v


@numba.njit(nogil=True)
def _sift(hh, hs, hi, hv, size, h, s, i, v):
    p = 0
    while True:
        c = 2 * p + 1
        if c >= size:
            break
        if c + 1 < size and _greater(hh[c + 1], hs[c + 1], hi[c + 1], hh[c], hs[c], hi[c]):
            c += 1
        if _greater(hh[c], hs[c], hi[c], h, s, i):
            hh[p] = hh[c]
            hs[p] = hs[c]
            hi[p] = hi[c]
            hv[p] = hv[c]
            p = c
        else:
            break
    hh[p] = h
    hs[p] = s
    hi[p] = i
    hv[p] = v


@numba.njit(nogil=True)
def _query(F, Q, qi, lims, pos, ids, ham, k, metric, order, lut, D, I, H,
           hh, hs, hi, hv):
    size = 0
    for t in range(lims[qi], lims[qi + 1]):
        r = pos[t]
        s = _score(F, r, Q, qi, metric, lut)
        v = ham[t]
        h = v if order == 1 else 0
        i = row_id(ids, r)
        if size < k:
            _push(hh, hs, hi, hv, size, h, s, i, v)
            size += 1
        elif _greater(hh[0], hs[0], hi[0], h, s, i):
            _sift(hh, hs, hi, hv, size, h, s, i, v)
    # heap sort: repeatedly move the worst to the end
    n = size
    while n > 1:
        n -= 1
        h, s, i, v = hh[n], hs[n], hi[n], hv[n]
        hh[n], hs[n], hi[n], hv[n] = hh[0], hs[0], hi[0], hv[0]
        _sift(hh, hs, hi, hv, n, h, s, i, v)
    for j in range(size):
        D[qi, j] = hs[j] if metric == 0 else -hs[j]
        I[qi, j] = hi[j]
        H[qi, j] = hv[j]
    pad = np.float32(np.inf) if metric == 0 else np.float32(-np.inf)
    for j in range(size, k):
        D[qi, j] = pad
        I[qi, j] = -1
        H[qi, j] = PAD_DISTANCE


@numba.njit(cache=True, nogil=True)
def _rerank_serial(F, Q, lims, pos, ids, ham, k, metric, order, lut, D, I, H):
    cap = max(1, k)
    hh = np.empty(cap, np.int32)
    hs = np.empty(cap, np.float32)
    hi = np.empty(cap, np.int64)
    hv = np.empty(cap, np.int32)
    for qi in range(Q.shape[0]):
        _query(F, Q, qi, lims, pos, ids, ham, k, metric, order, lut, D, I, H,
               hh, hs, hi, hv)


@numba.njit(cache=True, nogil=True, parallel=True)
def _rerank_parallel(F, Q, lims, pos, ids, ham, k, metric, order, lut, D, I, H, ntasks):
    nq = Q.shape[0]
    cap = max(1, k)
    for t in prange(ntasks):
        hh = np.empty(cap, np.int32)
        hs = np.empty(cap, np.float32)
        hi = np.empty(cap, np.int64)
        hv = np.empty(cap, np.int32)
        for qi in range(t * nq // ntasks, (t + 1) * nq // ntasks):
            _query(F, Q, qi, lims, pos, ids, ham, k, metric, order, lut, D, I, H,
                   hh, hs, hi, hv)


@numba.njit(cache=True, nogil=True)
def _distances(F, Q, pos, metric, lut, out):
    for t in range(pos.shape[0]):
        s = _score(F, pos[t], Q, 0, metric, lut)
        out[t] = s if metric == 0 else -s


def _prep(feats):
    if feats.dtype == np.float16:
        return feats.view(np.uint16), half_table()
    return feats, np.zeros(1, np.float32)


def rerank(feats, qf, lims, pos, ids, ham, k, metric, order, nthreads=1):
    """Top-``k`` of each query's candidate pool by feature score.

    Parameters
    ----------
    feats : ndarray of float32 or float16, shape (n, d)
        Stored features, C-contiguous (may be read-only or memory-mapped).
    qf : ndarray of float32, shape (nq, d)
        Query features.
    lims : ndarray of int64, shape (nq + 1,)
        CSR bounds of each query's candidates in ``pos`` / ``ham``.
    pos : ndarray of int64
        Storage positions (rows of ``feats``) of the candidates.
    ids : ndarray of int64, shape (n,), or None
        Id of every stored row; None: row ids (the id of row ``r`` is ``r``).
    ham : ndarray of int32
        Hamming distance of each candidate.
    k : int
        Results per query.
    metric : int
        0 = squared L2 (ascending), 1 = inner product (descending).
    order : int
        0 = by score, 1 = by Hamming distance then score (bucket-wise).
    nthreads : int
        Threads over queries.

    Returns
    -------
    D : float32 (nq, k)
        Squared L2 distances or inner products; padding ``+inf`` (L2) or
        ``-inf`` (IP).
    I : int64 (nq, k)
        Ids, ``-1`` for padding; ties broken by ascending id.
    H : int32 (nq, k)
        Hamming distances, ``PAD_DISTANCE`` for padding.
    """
    from ._threads import clamp_threads, parallel_launch

    nq = qf.shape[0]
    k = int(k)
    D = np.empty((nq, k), np.float32)
    I = np.empty((nq, k), np.int64)
    H = np.empty((nq, k), np.int32)
    if nq == 0 or k == 0:
        return D, I, H
    F, lut = _prep(feats)
    ids = ROW_IDS if ids is None else ids
    metric, order = int(metric), int(order)
    nthreads = clamp_threads(nthreads)
    work = int(lims[-1]) * max(1, feats.shape[1])
    if nthreads > 1 and nq > 1 and work >= (1 << 18):
        ntasks = min(nq, nthreads * 4)
        with parallel_launch(nthreads):
            _rerank_parallel(F, qf, lims, pos, ids, ham, k, metric, order, lut,
                             D, I, H, ntasks)
    else:
        _rerank_serial(F, qf, lims, pos, ids, ham, k, metric, order, lut, D, I, H)
    return D, I, H


def feature_distances(feats, q, pos, metric):
    """Scores of one query vector ``q`` (float32 ``(d,)``) against rows ``pos``.

    Returns float32 ``(len(pos),)``: squared L2 (``metric=0``) or inner
    product (``metric=1``).
    """
    F, lut = _prep(feats)
    out = np.empty(pos.shape[0], np.float32)
    if pos.shape[0]:
        _distances(F, q.reshape(1, -1), pos, int(metric), lut, out)
    return out
