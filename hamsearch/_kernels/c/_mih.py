"""Multi-index hashing (``csrc/mih.c``): the table-building wrappers, the
C struct of a table segment (built once per segment, cached), and the
k-NN and radius-search wrappers."""

from __future__ import annotations

import weakref

import numpy as np

from .. import MIH_KERNEL_NAMES
from ._ext import _ffi, _lib, _ptr
from ._flat import _collect_range, _skip_ptr
from ._status import check_status

# What the package re-exports (``from ._mih import *``): the MIH kernels.
__all__ = list(MIH_KERNEL_NAMES)


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


#: id(segment tuple) -> (weak references to its 8 arrays, its C struct): a
#: table segment is immutable, so its struct is built once, not per search
#: (4.4 -> ~1.3 us of a ~25 us one-query MIH call).  An entry is used only
#: while every array it points to is alive and still the tuple's own (an id
#: reused by a new tuple fails that check); dead entries are dropped.
_SEGMENT_STRUCTS: dict = {}
_SEGMENT_STRUCTS_MAX = 64


def _segment_struct(seg):
    key = id(seg)
    hit = _SEGMENT_STRUCTS.get(key)
    if hit is not None:
        for ref, arr in zip(hit[0], seg):
            if ref() is not arr:
                break
        else:
            return hit[1]
    meta, offs, hk, hv, pos, occ, tc, sfx = seg
    one = _ffi.new("hs_mih_segment[1]")
    s = one[0]
    s.meta = _ptr("int64_t *", meta)
    s.offs = _ptr("int32_t *", offs)
    s.hkeys = _ptr("uint32_t *", hk)
    s.hvals = _ptr("int32_t *", hv)
    s.pos = _ptr("int32_t *", pos)
    s.occ = _ptr("uint64_t *", occ)
    s.tcodes = _ptr("uint64_t *", tc)
    s.seg_n = pos.shape[1]
    s.sfx = _ptr("uint8_t *", sfx)
    try:
        refs = tuple(weakref.ref(a) for a in seg)
    except TypeError:  # not numpy arrays: no caching
        return one
    if len(_SEGMENT_STRUCTS) >= _SEGMENT_STRUCTS_MAX:
        # (list(): a snapshot under the GIL; other threads may insert)
        items = list(_SEGMENT_STRUCTS.items())
        dead = [k for k, (rs, _) in items if any(r() is None for r in rs)]
        for k in dead or [items[0][0]]:
            _SEGMENT_STRUCTS.pop(k, None)
    _SEGMENT_STRUCTS[key] = (refs, one)
    return one


def _segments(seg0, seg1):
    segs = _ffi.new("hs_mih_segment[2]")
    segs[0] = _segment_struct(seg0)[0]
    segs[1] = _segment_struct(seg1)[0]
    return segs


def mih_knn(codes, ids, queries, k, sub_start, sub_len, seg0, seg1, budget, nthreads=1,
            skip=None):
    """Exact k-NN with multi-index tables; ``(D, I, stats)`` (stats: probes, verified, fallback).

    ``ids``: int64 ``(n,)``, or None for row ids (the id of row ``i`` is ``i``).
    ``skip``: optional row bitmap (see :func:`knn`).
    """
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
    check_status(rc, "MIH knn")
    return D, I, stats


def mih_range_search(codes, ids, queries, radius, sub_start, sub_len, seg0, seg1, budget,
                     nthreads=1, skip=None):
    """Radius search (``<= radius``) with multi-index tables; ``(lims, D, I, stats)``."""
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
    lims, D, I = _collect_range(res, err, nq, "MIH range_search", _lib.hs_mih_range_lims,
                                _lib.hs_mih_range_copy, _lib.hs_mih_range_free)
    return lims, D, I, stats
