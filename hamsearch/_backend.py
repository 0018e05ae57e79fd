"""Kernel backend selection and thread count.

Two backends implement the same kernel interface:

* ``hamsearch._native`` -- the C kernels in ``csrc/`` compiled by ``setup.py``
  through cffi (API mode), with run-time CPU dispatch;
* ``hamsearch._numba`` -- Numba twins of the same kernels, used when the C
  extension is not built.

``HAMSEARCH_BACKEND=c|numba`` forces one; forcing one that is unavailable is an
error at first use.  Both modules expose, with inputs already validated
(C-contiguous ``uint64`` code rows of equal width, ``int64`` ids):

``NAME``
    Backend name, e.g. ``"c-avx2"`` or ``"numba"``.
``hamming_matrix(a, b, nthreads) -> int32 (na, nb)``
    All pairwise Hamming distances.
``hamming_rows(a, b) -> int32 (n,)``
    Distance between ``a[i]`` and ``b[i]``.
``knn(db, ids, queries, k, nthreads) -> (D int32 (nq, k), I int64 (nq, k))``
    Exact k nearest per query, sorted by ``(distance, id)``; rows with fewer
    than k results are padded with ``D = PAD_DISTANCE`` and ``I = -1``.
``range_search(db, ids, queries, radius, nthreads) -> (lims, D, I)``
    All items with distance ``<= radius``, CSR layout (``lims`` int64 of
    length nq + 1), each query's slice sorted by ``(distance, id)``.
"""

from __future__ import annotations

import importlib
import os
import threading

import numpy as np

__all__ = ["backend", "kernels", "set_num_threads", "get_num_threads", "max_threads",
           "PAD_DISTANCE"]

#: Distance reported for padding slots (``id == -1``) when k exceeds the
#: number of results; larger than any real Hamming distance.
PAD_DISTANCE = 2**31 - 1

_lock = threading.Lock()
_kernels = None
_num_threads = None


def _available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def _load_native():
    from . import _native  # noqa: F401  (raises ImportError if not built)

    if not _native.available():
        raise ImportError(_native.unavailable_reason())
    return _native


def _load_numba():
    return importlib.import_module("hamsearch._numba")


def kernels():
    """Return the live kernel module, loading it on first use."""
    global _kernels
    if _kernels is not None:
        return _kernels
    with _lock:
        if _kernels is not None:
            return _kernels
        forced = os.environ.get("HAMSEARCH_BACKEND", "").strip().lower()
        if forced in ("c", "native"):
            try:
                _kernels = _load_native()
            except ImportError as exc:
                raise RuntimeError(
                    "HAMSEARCH_BACKEND=c but the C extension is not available "
                    f"({exc}); reinstall with a C compiler (pip install .) or unset "
                    "HAMSEARCH_BACKEND to use the Numba kernels"
                ) from exc
        elif forced == "numba":
            try:
                _kernels = _load_numba()
            except ImportError as exc:
                raise RuntimeError(
                    f"HAMSEARCH_BACKEND=numba but numba cannot be imported ({exc})"
                ) from exc
        elif forced in ("", "auto"):
            try:
                _kernels = _load_native()
            except ImportError:
                _kernels = _load_numba()
        else:
            raise RuntimeError(
                f"HAMSEARCH_BACKEND must be 'c', 'numba' or 'auto', got {forced!r}"
            )
        return _kernels


def backend() -> str:
    """Name of the live kernel backend.

    Returns
    -------
    str
        ``"c-<isa>"`` (for instance ``"c-avx512-vpopcntdq"``, ``"c-avx2"``,
        ``"c-popcnt"``, ``"c-portable"``) when the C extension is live, else
        ``"numba"``.
    """
    return kernels().NAME


def max_threads() -> int:
    """Most kernel threads :func:`set_num_threads` accepts: 4 x the machine's CPUs.

    More threads than that only slow a search down (each kernel call starts
    its threads), so a larger request is refused rather than obeyed.
    """
    return 4 * max(1, os.cpu_count() or 1)


def _check_threads(n, what: str) -> int:
    cap = max_threads()
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= cap:
        raise ValueError(
            f"{what} must be an integer from 1 to {cap} (4 x the {cap // 4} CPUs of this "
            f"machine), got {n!r}"
        )
    return int(n)


def set_num_threads(n: int) -> None:
    """Set the number of threads the search kernels use.

    Parameters
    ----------
    n : int
        From 1 to :func:`max_threads` (4 x the machine's CPUs).  The default
        comes from the environment variable ``HAMSEARCH_NUM_THREADS`` (same
        range), else the CPUs this process may use.

    Raises
    ------
    ValueError
        ``n`` is not an integer in that range.
    """
    global _num_threads
    _num_threads = _check_threads(n, "set_num_threads: n")


def get_num_threads() -> int:
    """Number of threads the search kernels use."""
    if _num_threads is not None:
        return _num_threads
    env = os.environ.get("HAMSEARCH_NUM_THREADS")
    if env:
        try:
            value = int(env)
        except ValueError:
            value = 0
        try:
            return _check_threads(value, "HAMSEARCH_NUM_THREADS")
        except ValueError:
            raise RuntimeError(
                f"HAMSEARCH_NUM_THREADS must be an integer from 1 to {max_threads()}, "
                f"got {env!r}"
            ) from None
    return _available_cpus()
