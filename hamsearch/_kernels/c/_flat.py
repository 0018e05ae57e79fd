"""Flat (exhaustive) scans: the distance matrix, row-wise distances, exact
k-NN and radius search (``csrc/flat.c``), and the copy of a C range-search
result into numpy (shared with the MIH radius search)."""

from __future__ import annotations

import numpy as np

from ._ext import _ffi, _lib, _need, _ptr
from ._status import HS_ENOMEM, check_status


def _words(arr):
    return arr.shape[1] if arr.ndim == 2 else 0


def hamming_matrix(a, b, nthreads=1):
    """All pairwise distances, int32 ``(len(a), len(b))``."""
    _need()
    out = np.empty((len(a), len(b)), dtype=np.int32)
    if out.size:
        _lib.hs_hamming_matrix(
            _ptr("uint64_t *", a), len(a), _ptr("uint64_t *", b), len(b),
            _words(a), _ptr("int32_t *", out), int(nthreads),
        )
    return out


def hamming_rows(a, b):
    """Row-wise distances ``popcount(a[i] ^ b[i])``, int32 ``(len(a),)``."""
    _need()
    out = np.empty(len(a), dtype=np.int32)
    if out.size:
        _lib.hs_hamming_rows(
            _ptr("uint64_t *", a), _ptr("uint64_t *", b), len(a), _words(a),
            _ptr("int32_t *", out),
        )
    return out


def _skip_ptr(skip, n):
    """The C pointer of a row skip bitmap (``None`` -> NULL)."""
    if skip is None:  # (the common case: no import, no check on the search path)
        return _ffi.NULL
    from ...rowbits import check

    if check(skip, n) is None or not skip.size:
        return _ffi.NULL
    return _ptr("uint64_t *", skip)


def knn(db, ids, queries, k, nthreads=1, skip=None):
    """Exact k nearest neighbours, sorted by (distance, id), padded with -1.

    ``ids``: int64 ``(n,)``, or None for row ids (the id of row ``i`` is ``i``).
    ``skip``: optional uint64 bitmap over the rows of ``db`` (bit ``i & 63``
    of word ``i >> 6`` set: row ``i`` is left out).
    """
    _need()
    nq = len(queries)
    D = np.empty((nq, k), dtype=np.int32)
    I = np.empty((nq, k), dtype=np.int64)
    if D.size:
        rc = _lib.hs_knn(
            _ptr("uint64_t *", db), _ptr("int64_t *", ids), len(db), _words(queries),
            _ptr("uint64_t *", queries), nq, int(k), _ptr("int32_t *", D),
            _ptr("int64_t *", I), int(nthreads), _skip_ptr(skip, len(db)),
        )
        check_status(rc, "knn")
    return D, I


def range_search(db, ids, queries, radius, nthreads=1, skip=None):
    """All items within ``radius`` (inclusive), CSR ``(lims, D, I)``; ``skip`` as for :func:`knn`."""
    _need()
    nq = len(queries)
    radius = int(min(max(radius, -1), 2**31 - 1))
    err = _ffi.new("int *")
    res = _lib.hs_range_search(
        _ptr("uint64_t *", db), _ptr("int64_t *", ids), len(db), _words(queries),
        _ptr("uint64_t *", queries), nq, radius, int(nthreads), _skip_ptr(skip, len(db)), err,
    )
    return _collect_range(res, err, nq, "range_search", _lib.hs_range_lims,
                          _lib.hs_range_copy, _lib.hs_range_free)


def _collect_range(res, err, nq, what, lims_fn, copy_fn, free_fn):
    """Copy a C range-search result into numpy (lims, D, I) and free it."""
    if res == _ffi.NULL:
        check_status(err[0] or HS_ENOMEM, what)
    try:
        lims = np.empty(nq + 1, dtype=np.int64)
        lims_fn(res, _ptr("int64_t *", lims))
        total = int(lims[-1])
        D = np.empty(total, dtype=np.int32)
        I = np.empty(total, dtype=np.int64)
        if total:
            copy_fn(res, _ptr("int32_t *", D), _ptr("int64_t *", I))
    finally:
        free_fn(res)
    return lims, D, I
