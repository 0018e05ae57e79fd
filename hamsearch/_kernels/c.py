"""The C backend: cffi bindings to the kernels in ``csrc/`` (module
``hamsearch._hamsearch_c``, built by ``ffibuild.py`` from the one public
header ``csrc/hamsearch_api.h``).

Importing this module never fails: when the extension is not built -- or is
a stale build from older sources -- :func:`available` returns False and
:func:`unavailable_reason` says why; the backend is then unavailable as a
whole (``hamsearch._backend`` never mixes it with the Numba kernels).

The kernels take arrays already validated by the caller (C-contiguous
``uint64`` rows of ``w`` words, ``int64`` ids) and pass them to C without
copying; cffi releases the GIL for the duration of each call.  ``ids=None``
(every kernel that takes ids) means row ids: the id of row ``i`` is ``i``,
exactly as if ``np.arange(n, dtype=np.int64)`` had been passed (C gets
NULL).  An index whose ids are the range ``base, base + 1, ...`` stores no
id array and adds ``base`` to the returned ids itself (leaving the ``-1``
padding).

The interface is :class:`hamsearch._kernels.Kernels`.  Kernel variants
(ISAs) come from the variant table in ``csrc/dispatch.c``: :func:`variants`
lists it, :func:`set_isa` / ``HAMSEARCH_ISA`` choose a row.
"""

from __future__ import annotations

import weakref

import numpy as np

from . import KERNEL_NAMES, PAD_DISTANCE

try:
    from .._hamsearch_c import ffi as _ffi, lib as _lib
except ImportError as _exc:  # not built (no compiler at install time)
    _ffi = _lib = None
    _reason = f"the C extension hamsearch._hamsearch_c is not built ({_exc})"
    _stale = False
else:
    # every entry point of csrc/hamsearch_api.h that this module calls: a
    # build from older sources lacks some, and is refused as a whole
    _SYMBOLS = (
        "hs_isa_name", "hs_set_isa", "hs_cpu_features", "hs_cpu_caps", "hs_cap_name",
        "hs_variant_count", "hs_variant_name", "hs_variant_alias", "hs_variant_caps",
        "hs_set_min_work_per_thread", "hs_hamming_matrix", "hs_hamming_rows", "hs_knn",
        "hs_range_search", "hs_range_lims", "hs_range_copy", "hs_range_free",
        "hs_rerank_isa", "hs_rerank", "hs_feature_distances",
        "hs_mih_counting_sort", "hs_mih_key_counts", "hs_mih_key_scatter",
        "hs_mih_key_scatter_sparse", "hs_mih_hash_insert", "hs_mih_knn",
        "hs_mih_range_search", "hs_mih_range_lims", "hs_mih_range_copy",
        "hs_mih_range_free", "HS_OK", "HS_ENOMEM", "HS_EINVAL", "HS_PAD_DISTANCE",
    )
    _absent = [s for s in _SYMBOLS if not hasattr(_lib, s)]
    if _absent:
        _reason = (
            "the C extension hamsearch._hamsearch_c is a stale build (it lacks "
            f"{', '.join(_absent[:4])}{', ...' if len(_absent) > 4 else ''}); rebuild "
            "it: python setup.py build_ext --inplace (or pip install .)"
        )
        _ffi = _lib = None
        _stale = True
    elif _lib.HS_PAD_DISTANCE != PAD_DISTANCE:  # pragma: no cover - header drift
        _reason = "csrc/hamsearch_api.h's HS_PAD_DISTANCE differs from PAD_DISTANCE"
        _ffi = _lib = None
        _stale = True
    else:
        _reason = ""
        _stale = False

__all__ = [
    "NAME", "PAD_DISTANCE", "available", "unavailable_reason", "stale", "isa",
    "set_isa", "variants", "cpu_features", "rerank_isa", "check_status",
    *KERNEL_NAMES,
]


def available() -> bool:
    """True when the C extension is built, current and importable."""
    return _lib is not None


def unavailable_reason() -> str:
    """Why the C extension cannot be used ("" when it can)."""
    return _reason


def stale() -> bool:
    """True when an extension is built but from older sources (refused)."""
    return _stale


def _need():
    if _lib is None:
        raise ImportError(_reason)


def _str(p) -> str:
    return "" if p == _ffi.NULL else _ffi.string(p).decode()


# ---------------------------------------------------------------- dispatch
def isa() -> str:
    """Kernel variant in force: a name from :func:`variants`, e.g. "avx2"."""
    _need()
    return _str(_lib.hs_isa_name())


def variants() -> list:
    """The C variant table, best first: ``[(name, alias, caps, supported)]``.

    ``alias`` is the short name :func:`set_isa` also accepts (or None),
    ``caps`` the capability names the variant needs, ``supported`` whether
    this CPU has them all.
    """
    _need()
    have = _lib.hs_cpu_caps()
    out = []
    for i in range(_lib.hs_variant_count()):
        caps = int(_lib.hs_variant_caps(i))
        names = [_str(_lib.hs_cap_name(b)) for b in range(64) if caps >> b & 1]
        out.append((_str(_lib.hs_variant_name(i)), _str(_lib.hs_variant_alias(i)) or None,
                    names, (caps & ~int(have)) == 0))
    return out


def set_isa(name: str | None) -> str:
    """Force a kernel variant (tests and benchmarks).

    Parameters
    ----------
    name : str or None
        A name or alias from :func:`variants` (``"avx512"``, ``"avx2"``,
        ``"popcnt"``, ``"portable"`` on x86-64), or None / ``"auto"`` for the
        best the CPU supports.  A variant above what the CPU supports falls
        back to the best supported one below it.

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
        known = [v[0] for v in variants()] + [v[1] for v in variants() if v[1]]
        raise ValueError(
            f"set_isa: name must be one of {sorted(set(known))}, 'auto' or None, "
            f"got {name!r}"
        )
    NAME = "c-" + _str(res)
    return _str(res)


def cpu_features() -> list:
    """CPU capabilities the kernels can use on this machine, e.g. ``["popcnt", "avx2"]``."""
    _need()
    return _str(_lib.hs_cpu_features()).split()


def rerank_isa() -> str:
    """Re-rank distance variant in force: ``"avx2-fma-f16c"`` or ``"portable"``."""
    _need()
    return _str(_lib.hs_rerank_isa())


def _set_min_work_per_thread(units: int) -> int:
    """Testing hook: below this much work (codes x queries x words) a search
    uses fewer threads than asked; 0 means never.  Returns the old value."""
    _need()
    return int(_lib.hs_set_min_work_per_thread(int(units)))


# ------------------------------------------------------------ status codes
#: Status codes of the C entry points (``csrc/hamsearch_api.h``).
HS_OK, HS_ENOMEM, HS_EINVAL = ((_lib.HS_OK, _lib.HS_ENOMEM, _lib.HS_EINVAL) if _lib is not None
                               else (0, -1, -2))


def check_status(rc: int, what: str) -> None:
    """The one place a C status code becomes an exception: ``HS_ENOMEM`` ->
    MemoryError, ``HS_EINVAL`` (or any other non-zero code) -> ValueError."""
    if rc == HS_OK:
        return
    if rc == HS_ENOMEM:
        raise MemoryError(f"hamsearch {what}: out of memory in the C kernel")
    raise ValueError(
        f"hamsearch {what}: the C kernel rejected its arguments (status {rc}); the "
        f"Python layer should have caught this -- please report it"
    )


def _ptr(ctype, arr):
    # from_buffer needs a writable-or-not buffer; empty arrays and None
    # (ids=None: row ids) pass NULL
    if arr is None or not arr.size:
        return _ffi.NULL
    return _ffi.cast(ctype, _ffi.from_buffer(arr))


# ------------------------------------------------------------- flat scans
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
    from ..rowbits import check

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


# ------------------------------------------------------ multi-index hashing
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


# ------------------------------------------------------------- re-ranking
def _ftype(feats) -> int:
    return 1 if feats.dtype == np.float16 else 0


def rerank(feats, qf, lims, pos, ids, ham, k, metric, order, nthreads=1):
    """Top-``k`` of each query's pool by feature score (see ``csrc/rerank.h``).

    Returns ``D`` float32 ``(nq, k)`` (squared L2 or inner product), ``I``
    int64 ids and ``H`` int32 Hamming distances, padded with ``+-inf``,
    ``-1`` and ``PAD_DISTANCE``.
    """
    nq = qf.shape[0]
    k = int(k)
    D = np.empty((nq, k), np.float32)
    I = np.empty((nq, k), np.int64)
    H = np.empty((nq, k), np.int32)
    if D.size == 0:
        return D, I, H
    rc = _lib.hs_rerank(
        _ptr("void *", feats), _ftype(feats), int(feats.shape[1]),
        _ptr("float *", qf), nq, _ptr("int64_t *", lims), _ptr("int64_t *", pos),
        _ptr("int32_t *", ham), _ptr("int64_t *", ids), int(metric), int(order),
        k, _ptr("float *", D), _ptr("int64_t *", I), _ptr("int32_t *", H), int(nthreads),
    )
    check_status(rc, "rerank")
    return D, I, H


def feature_distances(feats, q, pos, metric):
    """Scores of one float32 query ``q`` ``(d,)`` against rows ``pos`` of ``feats``:
    squared L2 (``metric=0``) or inner product (``metric=1``), float32."""
    out = np.empty(pos.shape[0], np.float32)
    if out.size:
        _lib.hs_feature_distances(
            _ptr("void *", feats), _ftype(feats), int(feats.shape[1]), _ptr("float *", q),
            _ptr("int64_t *", pos), int(pos.shape[0]), int(metric), _ptr("float *", out),
        )
    return out


NAME = ("c-" + isa()) if available() else "c-unavailable"
