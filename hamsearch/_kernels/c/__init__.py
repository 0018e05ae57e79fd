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

One job a module: ``_ext.py`` (loading the extension, the stale-build
check, pointers), ``_status.py`` (status codes, :func:`check_status`),
``_dispatch.py`` (the variant table, CPU features), ``_flat.py`` (flat
scans), ``_mih.py`` (multi-index hashing), ``_rerank.py`` (re-ranking).
This package re-exports every name the single module ``c.py`` had; it holds
``NAME`` and :func:`set_isa`, which updates it.
"""

from __future__ import annotations

# Every name below is re-exported (the single module had them all).
# ruff: noqa: F401
from .. import KERNEL_NAMES, PAD_DISTANCE
from ._dispatch import _set_min_work_per_thread, _set_spin_ns, cpu_features, isa, rerank_isa, variants
from ._ext import (
    _ffi,
    _lib,
    _need,
    _ptr,
    _reason,
    _stale,
    _str,
    available,
    stale,
    unavailable_reason,
)
from ._flat import (
    _collect_range,
    _skip_ptr,
    _words,
    hamming_matrix,
    hamming_rows,
    knn,
    range_search,
)
# the MIH kernels: the names of MIH_KERNEL_NAMES, the __all__ of _mih
from ._mih import *
from ._mih import _SEGMENT_STRUCTS, _SEGMENT_STRUCTS_MAX, _segment_struct, _segments
from ._rerank import _ftype, feature_distances, rerank
from ._status import HS_EINVAL, HS_ENOMEM, HS_OK, check_status

try:
    from ._ext import _SYMBOLS, _absent
except ImportError:  # the extension is not built: no symbol list
    pass

__all__ = [
    "NAME", "PAD_DISTANCE", "available", "unavailable_reason", "stale", "isa",
    "set_isa", "variants", "cpu_features", "rerank_isa", "check_status",
    *KERNEL_NAMES,
]


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


NAME = ("c-" + isa()) if available() else "c-unavailable"
