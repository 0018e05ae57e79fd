"""The compiled extension ``hamsearch._hamsearch_c`` (cffi): loading it,
refusing a stale build as a whole, and the small helpers every wrapper uses
(:func:`_need`, :func:`_str`, :func:`_ptr`).

Importing this module never fails: when the extension is not built, or is a
build from older sources, ``_ffi`` and ``_lib`` are None and
:func:`unavailable_reason` says why.
"""

from __future__ import annotations

from .. import PAD_DISTANCE

try:
    from ..._hamsearch_c import ffi as _ffi, lib as _lib
except ImportError as _exc:  # not built (no compiler at install time)
    _ffi = _lib = None
    _reason = f"the C extension hamsearch._hamsearch_c is not built ({_exc})"
    _stale = False
else:
    # every entry point of csrc/hamsearch_api.h that this package calls: a
    # build from older sources lacks some, and is refused as a whole
    _SYMBOLS = (
        "hs_isa_name", "hs_set_isa", "hs_cpu_features", "hs_cpu_caps", "hs_cap_name",
        "hs_variant_count", "hs_variant_name", "hs_variant_alias", "hs_variant_caps",
        "hs_set_min_work_per_thread", "hs_set_spin_ns", "hs_hamming_matrix", "hs_hamming_rows",
        "hs_knn",
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


#: "int32_t *" -> "int32_t[]": ffi.from_buffer of an array type gives the
#: typed pointer in one call (~140 ns, half of from_buffer + cast; a
#: one-query MIH call makes 8 of them)
_ARRAY_OF = {}


def _ptr(ctype, arr):
    # from_buffer needs a writable-or-not buffer; empty arrays and None
    # (ids=None: row ids) pass NULL
    if arr is None or not arr.size:
        return _ffi.NULL
    at = _ARRAY_OF.get(ctype)
    if at is None:
        base = ctype.replace("*", "").strip()
        at = _ARRAY_OF[ctype] = ("char" if base == "void" else base) + "[]"
    return _ffi.from_buffer(at, arr)
