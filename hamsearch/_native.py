"""cffi bindings to the C kernels in ``csrc/`` (module ``hamsearch._hamsearch_c``).

Importing this module never fails: when the extension was not built,
:func:`available` returns False and :func:`unavailable_reason` says why.
The kernel functions take arrays already validated by the caller
(C-contiguous ``uint64`` rows of ``w`` words, ``int64`` ids) and pass them to
C without copying; cffi releases the GIL for the duration of each call.

``ids=None`` (every kernel that takes ids: :func:`knn`, :func:`range_search`,
the MIH and re-rank kernels) means row ids: the id of row ``i`` is ``i``,
exactly as if ``np.arange(n, dtype=np.int64)`` had been passed (C gets NULL).
An index whose ids are the range ``base, base + 1, ...`` stores no id array
and adds ``base`` to the returned ids itself (leaving the ``-1`` padding).

See ``hamsearch._backend`` for the interface shared with ``hamsearch._numba``.
"""

from __future__ import annotations

import numpy as np

PAD_DISTANCE = 2**31 - 1

try:
    from ._hamsearch_c import ffi as _ffi, lib as _lib
except ImportError as _exc:  # not built (no compiler at install time)
    _ffi = _lib = None
    _reason = f"the C extension hamsearch._hamsearch_c is not built ({_exc})"
else:
    _reason = ""

__all__ = [
    "NAME",
    "available",
    "unavailable_reason",
    "isa",
    "set_isa",
    "cpu_features",
    "hamming_matrix",
    "hamming_rows",
    "knn",
    "range_search",
]


def available() -> bool:
    """True when the C extension is built and importable."""
    return _lib is not None


def unavailable_reason() -> str:
    """Why the C extension cannot be used ("" when it can)."""
    return _reason


def isa() -> str:
    """Kernel variant in force: "avx512-vpopcntdq", "avx2", "popcnt" or "portable"."""
    _need()
    return _ffi.string(_lib.hs_isa_name()).decode()


def set_isa(name: str | None) -> str:
    """Force a kernel variant (tests and benchmarks).

    Parameters
    ----------
    name : str or None
        ``"avx512"``, ``"avx2"``, ``"popcnt"``, ``"portable"``, or None /
        ``"auto"`` for the best the CPU supports.  A variant above what the CPU
        supports falls back to the best supported one.

    Returns
    -------
    str
        The variant actually in force.
    """
    _need()
    global NAME
    arg = b"" if name is None else str(name).encode()
    res = _lib.hs_set_isa(arg)
    if res == _ffi.NULL:
        raise ValueError(
            "set_isa: name must be one of 'avx512', 'avx2', 'popcnt', 'portable', "
            f"'auto' or None, got {name!r}"
        )
    NAME = "c-" + _ffi.string(res).decode()
    return _ffi.string(res).decode()


def cpu_features() -> list:
    """CPU features the kernels can use on this machine, e.g. ``["popcnt", "avx2"]``."""
    _need()
    return _ffi.string(_lib.hs_cpu_features()).decode().split()


def _set_min_work_per_thread(units: int) -> int:
    """Testing hook: below this much work (codes x queries x words) a search
    uses fewer threads than asked; 0 means never.  Returns the old value."""
    _need()
    return int(_lib.hs_set_min_work_per_thread(int(units)))


def _need():
    if _lib is None:
        raise ImportError(_reason)


def _ptr(ctype, arr):
    # from_buffer needs a writable-or-not buffer; empty arrays and None
    # (ids=None: row ids) pass NULL
    if arr is None or not arr.size:
        return _ffi.NULL
    return _ffi.cast(ctype, _ffi.from_buffer(arr))


#: Status codes of the C entry points (``csrc/hamsearch.h``).
HS_ENOMEM = -1
HS_EINVAL = -2


def check_status(rc: int, what: str) -> None:
    """Turn a C status code into an exception: ``HS_ENOMEM`` -> MemoryError,
    ``HS_EINVAL`` (or any other non-zero code) -> ValueError."""
    if rc == 0:
        return
    if rc == HS_ENOMEM:
        raise MemoryError(f"hamsearch {what}: out of memory in the C kernel")
    raise ValueError(
        f"hamsearch {what}: the C kernel rejected its arguments (status {rc}); the "
        f"Python layer should have caught this -- please report it"
    )


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
    from .rowbits import check

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


NAME = ("c-" + isa()) if available() else "c-unavailable"

# Re-rank kernels (csrc/rerank.c): gather + float distance + top-k.
from ._native_rerank import feature_distances, rerank  # noqa: E402,F401

# Multi-index hashing kernels (csrc/mih.c); absent from an older build.
from ._native_mih import has_mih as _has_mih  # noqa: E402

if _has_mih():
    from ._native_mih import (  # noqa: E402,F401
        mih_counting_sort,
        mih_hash_insert,
        mih_key_counts,
        mih_key_scatter,
        mih_key_scatter_sparse,
        mih_knn,
        mih_range_search,
    )
