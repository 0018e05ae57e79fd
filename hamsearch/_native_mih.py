"""cffi wrappers of ``csrc/mih.c`` (multi-index hashing kernels).

Re-exported by :mod:`hamsearch._native`; same interface as the Numba twins
in :mod:`hamsearch._numba.mih`.  Inputs are trusted (built and validated by
:mod:`hamsearch.mih`): a segment is ``(meta int64 (m, 3), offs int32,
hkeys uint32, hvals int32, pos int32 (m, seg_n), occ uint64, tcodes uint64,
sfx uint8 (m, seg_n or 0))``, all C-contiguous (see ``csrc/mih.h``).
"""

from __future__ import annotations

import numpy as np

try:
    from ._hamsearch_c import ffi as _ffi, lib as _lib
except ImportError:  # pragma: no cover - the extension is not built
    _ffi = _lib = None

__all__ = [
    "has_mih",
    "mih_counting_sort",
    "mih_hash_insert",
    "mih_key_counts",
    "mih_key_scatter",
    "mih_key_scatter_sparse",
    "mih_knn",
    "mih_range_search",
]


def has_mih() -> bool:
    """True when the built extension has the MIH kernels."""
    return _lib is not None and hasattr(_lib, "hs_mih_knn")


def _ptr(ctype, arr):
    if arr is None or not arr.size:  # None: ids=None (row ids)
        return _ffi.NULL
    return _ffi.cast(ctype, _ffi.from_buffer(arr))


def mih_counting_sort(keys, nbuckets, lo, offs, pos):
    """Stable grouping of positions ``lo + i`` by ``keys[i]`` (CSR)."""
    _lib.hs_mih_counting_sort(_ptr("uint32_t *", keys), len(keys), int(nbuckets), int(lo),
                              _ptr("int32_t *", offs), _ptr("int32_t *", pos))


def mih_hash_insert(uniq, hkeys, hvals, hmask):
    """Fill an open-addressing table with the distinct keys ``uniq``."""
    _lib.hs_mih_hash_insert(_ptr("uint32_t *", uniq), len(uniq), _ptr("uint32_t *", hkeys),
                            _ptr("int32_t *", hvals), int(hmask))


def mih_key_counts(codes, start, length, counts):
    """Add each row's key (bits ``start .. start+length-1``) to ``counts`` (int32)."""
    _lib.hs_mih_key_counts(_ptr("uint64_t *", codes), codes.shape[0], codes.shape[1],
                           int(start), int(length), _ptr("int32_t *", counts))


def mih_key_scatter(codes, start, length, row0, fill, pos):
    """Write ``row0 + i`` at ``pos[fill[key]++]`` for each row ``i`` (in order)."""
    _lib.hs_mih_key_scatter(_ptr("uint64_t *", codes), codes.shape[0], codes.shape[1],
                            int(start), int(length), int(row0), _ptr("int32_t *", fill),
                            _ptr("int32_t *", pos))


def mih_key_scatter_sparse(codes, start, length, sb, row0, fill, pos, sfx):
    """Sparse table: ``t = fill[key >> sb]++``, ``pos[t] = row0 + i``, ``sfx[t] = key & (2**sb - 1)``."""
    _lib.hs_mih_key_scatter_sparse(_ptr("uint64_t *", codes), codes.shape[0], codes.shape[1],
                                   int(start), int(length), int(sb), int(row0),
                                   _ptr("int32_t *", fill), _ptr("int32_t *", pos),
                                   _ptr("uint8_t *", sfx))


def _segments(seg0, seg1):
    segs = _ffi.new("hs_mih_segment[2]")
    for s, (meta, offs, hk, hv, pos, occ, tc, sfx) in zip(segs, (seg0, seg1)):
        s.meta = _ptr("int64_t *", meta)
        s.offs = _ptr("int32_t *", offs)
        s.hkeys = _ptr("uint32_t *", hk)
        s.hvals = _ptr("int32_t *", hv)
        s.pos = _ptr("int32_t *", pos)
        s.occ = _ptr("uint64_t *", occ)
        s.tcodes = _ptr("uint64_t *", tc)
        s.seg_n = pos.shape[1]
        s.sfx = _ptr("uint8_t *", sfx)
    return segs


def mih_knn(codes, ids, queries, k, sub_start, sub_len, seg0, seg1, budget, nthreads=1,
            skip=None):
    """Exact k-NN with multi-index tables; ``(D, I, stats)`` (stats: probes, verified, fallback).

    ``ids``: int64 ``(n,)``, or None for row ids (the id of row ``i`` is ``i``).
    ``skip``: optional row bitmap (see :func:`hamsearch._native.knn`).
    """
    from ._native import _skip_ptr

    nq, k = len(queries), int(k)
    D = np.empty((nq, k), dtype=np.int32)
    I = np.empty((nq, k), dtype=np.int64)
    stats = np.zeros((nq, 3), dtype=np.int64)
    if nq == 0:
        return D, I, stats
    segs = _segments(seg0, seg1)
    rc = _lib.hs_mih_knn(
        _ptr("uint64_t *", codes), _ptr("int64_t *", ids), len(codes), queries.shape[1],
        _ptr("uint64_t *", queries), nq, k, _ptr("int32_t *", sub_start),
        _ptr("int32_t *", sub_len), len(sub_len), segs, 2, int(budget),
        _ptr("int32_t *", D), _ptr("int64_t *", I), _ptr("int64_t *", stats), int(nthreads),
        _skip_ptr(skip, len(codes)),
    )
    from ._native import check_status

    check_status(rc, "MIH knn")
    return D, I, stats


def mih_range_search(codes, ids, queries, radius, sub_start, sub_len, seg0, seg1, budget,
                     nthreads=1, skip=None):
    """Radius search (``<= radius``) with multi-index tables; ``(lims, D, I, stats)``."""
    from ._native import _skip_ptr

    nq = len(queries)
    stats = np.zeros((nq, 3), dtype=np.int64)
    radius = int(min(max(int(radius), -1), 2**31 - 1))
    segs = _segments(seg0, seg1)
    err = _ffi.new("int *")
    res = _lib.hs_mih_range_search(
        _ptr("uint64_t *", codes), _ptr("int64_t *", ids), len(codes), queries.shape[1],
        _ptr("uint64_t *", queries), nq, radius, _ptr("int32_t *", sub_start),
        _ptr("int32_t *", sub_len), len(sub_len), segs, 2, int(budget),
        _ptr("int64_t *", stats), int(nthreads), _skip_ptr(skip, len(codes)), err,
    )
    from ._native import _collect_range

    lims, D, I = _collect_range(res, err, nq, "MIH range_search", _lib.hs_mih_range_lims,
                                _lib.hs_mih_range_copy, _lib.hs_mih_range_free)
    return lims, D, I, stats
