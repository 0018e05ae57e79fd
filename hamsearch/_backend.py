"""Kernel backend selection (the one dispatch point) and thread count.

Two backends implement the kernel interface
:class:`hamsearch._kernels.Kernels` (the full list of kernels and their
contracts is there):

* ``hamsearch._kernels.c`` (alias ``hamsearch._native``) -- the C kernels in
  ``csrc/`` compiled by ``setup.py`` through cffi (API mode), with run-time
  CPU dispatch (the variant table in ``csrc/dispatch.c``);
* ``hamsearch._numba`` -- Numba twins of the same kernels, used when the C
  extension is not built.

``HAMSEARCH_BACKEND=c|numba`` forces one; forcing one that is unavailable is an
error at first use.  A backend is used whole or not at all: a C build that
lacks some kernels (built from older sources) is refused -- an error when
forced, a warning and the Numba backend under ``auto`` -- never mixed with
Numba kernels family by family.  ``HAMSEARCH_ISA`` / :func:`set_isa` choose
the C variant.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
import warnings

import numpy as np

from ._kernels import BACKENDS, PAD_DISTANCE, IncompleteBackendError, missing

__all__ = ["backend", "kernels", "set_num_threads", "get_num_threads", "max_threads",
           "set_isa", "PAD_DISTANCE"]

_lock = threading.Lock()
_kernels = None
_num_threads = None


#: (time read, CPUs) or None: the affinity mask read at most once a second
#: -- a search asks for its thread count at every call, and reading the
#: mask is a system call (get_num_threads() 0.98 -> 0.69 us on an Intel
#: Xeon VM)
_cpus_seen: tuple[float, int] | None = None
_CPUS_TTL_S = 1.0


def _available_cpus() -> int:
    global _cpus_seen
    now, seen = time.monotonic(), _cpus_seen
    if seen is not None and now - seen[0] < _CPUS_TTL_S:
        return seen[1]
    try:
        cpus = max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        cpus = max(1, os.cpu_count() or 1)
    _cpus_seen = (now, cpus)
    return cpus


def _forget_cpus() -> None:
    global _cpus_seen
    _cpus_seen = None


if hasattr(os, "register_at_fork"):  # a child may be pinned elsewhere: read it anew
    os.register_at_fork(after_in_child=_forget_cpus)


def _load(name: str):
    """Backend ``name`` of :data:`~hamsearch._kernels.BACKENDS`, checked complete.

    Raises ImportError (IncompleteBackendError when it lacks kernels)."""
    module = importlib.import_module(BACKENDS[name], __package__)
    avail = getattr(module, "available", None)
    if avail is not None and not avail():
        cls = IncompleteBackendError if getattr(module, "stale", lambda: False)() \
            else ImportError
        raise cls(module.unavailable_reason())
    lacking = missing(module)
    if lacking:
        raise IncompleteBackendError(
            f"the {name!r} kernel backend ({module.__name__}) lacks {', '.join(lacking)}; "
            "a backend must provide every kernel of hamsearch._kernels.Kernels"
        )
    return module


def _choose():
    forced = os.environ.get("HAMSEARCH_BACKEND", "").strip().lower()
    if forced == "native":
        forced = "c"
    if forced in ("", "auto"):
        problems = []
        for name in BACKENDS:
            try:
                return _load(name)
            except IncompleteBackendError as exc:
                problems.append(f"{name}: {exc}")
                warnings.warn(
                    f"hamsearch: the {name!r} kernel backend is unusable ({exc}); "
                    "falling back to the next backend", RuntimeWarning, stacklevel=3)
            except ImportError as exc:
                problems.append(f"{name}: {exc}")
        raise RuntimeError("no hamsearch kernel backend is available: " + "; ".join(problems))
    if forced not in BACKENDS:
        raise RuntimeError(
            f"HAMSEARCH_BACKEND must be one of {sorted(BACKENDS)} or 'auto', got {forced!r}"
        )
    try:
        return _load(forced)
    except ImportError as exc:
        hint = ("; reinstall with a C compiler (pip install .) or unset HAMSEARCH_BACKEND "
                "to use the Numba kernels") if forced == "c" else ""
        raise RuntimeError(
            f"HAMSEARCH_BACKEND={forced} but that backend is not available ({exc}){hint}"
        ) from exc


def kernels():
    """Return the live kernel module (a :class:`~hamsearch._kernels.Kernels`),
    loading it on first use."""
    global _kernels
    if _kernels is not None:
        return _kernels
    with _lock:
        if _kernels is None:
            _kernels = _choose()
        return _kernels


def set_isa(name: str | None = None) -> str:
    """Force a C kernel variant (tests and benchmarks); returns :func:`backend`.

    Parameters
    ----------
    name : str or None
        A variant of the C variant table (``"avx512"``, ``"avx2"``,
        ``"popcnt"``, ``"portable"`` on x86-64), or None / ``"auto"`` for the
        best this CPU supports.  A variant the CPU lacks falls back to the
        best one below it.  The environment variable ``HAMSEARCH_ISA`` sets
        the variant at load time the same way.

    Raises
    ------
    ValueError
        Unknown variant name.
    RuntimeError
        A variant other than None / ``"auto"`` was asked for while the live
        backend is not the C one.
    """
    k = kernels()
    if hasattr(k, "set_isa"):
        k.set_isa(name)
    elif name not in (None, "auto"):
        raise RuntimeError(
            f"set_isa({name!r}): the live kernel backend is {k.NAME!r}; ISA variants "
            "belong to the C backend"
        )
    return k.NAME


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
