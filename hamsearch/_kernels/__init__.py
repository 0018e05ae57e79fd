"""The kernel layer: one interface, two backends.

:class:`Kernels` lists every kernel the engine calls (flat k-NN / range /
matrix / rows, the MIH build and search kernels, re-ranking); a backend is a
module that has all of them:

* ``hamsearch._kernels.c`` -- the C kernels in ``csrc/`` (cffi), with run-time
  CPU dispatch (``csrc/dispatch.c``: one table of variants);
* ``hamsearch._numba`` -- their Numba twins.

A backend is complete or unavailable: :func:`missing` names what a module
lacks, and ``hamsearch._backend.kernels()`` (the one dispatch point) refuses
an incomplete one -- never a silent per-family fallback to another backend.

Threading: every kernel that scans takes ``nthreads`` and runs on that many
threads (the C persistent pthread pool, ``csrc/threads.c``; Numba's
``parallel=True`` pool, ``hamsearch._numba._threads``); the thread count
itself is ``hamsearch._backend.get_num_threads()``.

Inputs are validated by the callers (C-contiguous ``uint64`` code rows of
equal width, ``int64`` ids or None for row ids, the id of row ``i`` being
``i``).

Adding a backend: a module with every name of :data:`KERNEL_NAMES` plus
``NAME``, ``available()`` and ``unavailable_reason()``, and one entry in
:data:`BACKENDS`.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "BACKENDS",
    "KERNEL_NAMES",
    "MIH_KERNEL_NAMES",
    "PAD_DISTANCE",
    "IncompleteBackendError",
    "Kernels",
    "missing",
]

#: Distance reported for padding slots (``id == -1``) when k exceeds the
#: number of results; larger than any real Hamming distance.  The only
#: definition (``HS_PAD_DISTANCE`` in ``csrc/hamsearch_api.h`` is checked
#: against it when the C backend loads).
PAD_DISTANCE = 2**31 - 1

#: Backend name (``HAMSEARCH_BACKEND``) -> module, in the order ``auto``
#: tries them.  The built-in ones are relative to the package, so a copy of
#: it imported under another name (``bench.ab_versions`` loads the other
#: checkout as ``hamsearch_base``) runs its own kernels, not this one's; an
#: added backend may be an absolute module name.
BACKENDS = {"c": "._kernels.c", "numba": "._numba"}


class IncompleteBackendError(ImportError):
    """A backend module lacks kernels of :class:`Kernels` (e.g. a stale C build)."""


Array = np.ndarray
Segment = tuple  # (meta, offs, hkeys, hvals, pos, occ, tcodes, sfx), see hamsearch.mih


@runtime_checkable
class Kernels(Protocol):
    """What a kernel backend provides (``hamsearch._backend.kernels()``)."""

    #: ``"c-<isa>"`` (e.g. ``"c-avx512-vpopcntdq"``) or ``"numba"``.
    NAME: str

    # ---- flat scans
    def hamming_matrix(self, a: Array, b: Array, nthreads: int = 1) -> Array:
        """All pairwise distances, int32 ``(len(a), len(b))``."""

    def hamming_rows(self, a: Array, b: Array) -> Array:
        """``dist(a[i], b[i])``, int32 ``(len(a),)``."""

    def knn(self, db: Array, ids: Array | None, queries: Array, k: int,
            nthreads: int = 1, skip: Array | None = None) -> tuple[Array, Array]:
        """Exact k-NN ``(D int32, I int64)`` sorted by (distance, id), padded
        with ``(PAD_DISTANCE, -1)``; ``skip``: row bitmap of rows left out."""

    def range_search(self, db: Array, ids: Array | None, queries: Array, radius: int,
                     nthreads: int = 1, skip: Array | None = None
                     ) -> tuple[Array, Array, Array]:
        """All rows within ``radius`` (inclusive), CSR ``(lims, D, I)``."""

    # ---- multi-index hashing (hamsearch.mih builds and owns the tables)
    def mih_counting_sort(self, keys: Array, nbuckets: int, lo: int, offs: Array,
                          pos: Array) -> None: ...

    def mih_hash_insert(self, uniq: Array, hkeys: Array, hvals: Array,
                        hmask: int) -> None: ...

    def mih_key_counts(self, codes: Array, start: int, length: int,
                       counts: Array) -> None: ...

    def mih_key_scatter(self, codes: Array, start: int, length: int, row0: int,
                        fill: Array, pos: Array) -> None: ...

    def mih_key_scatter_sparse(self, codes: Array, start: int, length: int, sb: int,
                               row0: int, fill: Array, pos: Array,
                               sfx: Array) -> None: ...

    def mih_knn(self, codes: Array, ids: Array | None, queries: Array, k: int,
                sub_start: Array, sub_len: Array, seg0: Segment, seg1: Segment,
                budget: int, nthreads: int = 1, skip: Array | None = None
                ) -> tuple[Array, Array, Array]:
        """``(D, I, stats)``; stats (nq, 3): probes, verified, fallback."""

    def mih_range_search(self, codes: Array, ids: Array | None, queries: Array,
                         radius: int, sub_start: Array, sub_len: Array,
                         seg0: Segment, seg1: Segment, budget: int,
                         nthreads: int = 1, skip: Array | None = None
                         ) -> tuple[Array, Array, Array, Array]:
        """``(lims, D, I, stats)``."""

    # ---- re-ranking on float features (hamsearch.rerank)
    def rerank(self, feats: Array, qf: Array, lims: Array, pos: Array,
               ids: Array | None, ham: Array, k: int, metric: int, order: int,
               nthreads: int = 1) -> tuple[Array, Array, Array]:
        """Top-k of each pool: ``(D float32, I int64, H int32)``."""

    def feature_distances(self, feats: Array, q: Array, pos: Array,
                          metric: int) -> Array: ...


#: Every kernel of :class:`Kernels` (what a backend must define), in the
#: Protocol's order: read off the class, so a kernel is declared once.
KERNEL_NAMES = tuple(
    name for name, member in vars(Kernels).items()
    if not name.startswith("_") and callable(member)
)

#: The multi-index hashing kernels of :data:`KERNEL_NAMES`: the ``__all__``
#: of each backend's MIH module (``hamsearch._kernels.c._mih``,
#: ``hamsearch._numba.mih``), which its backend package star-imports, so
#: that no backend spells the list out again.
MIH_KERNEL_NAMES = tuple(name for name in KERNEL_NAMES if name.startswith("mih_"))


def missing(module: Any) -> list:
    """The names of :data:`KERNEL_NAMES` (and ``NAME``) that ``module`` lacks."""
    out = [] if isinstance(getattr(module, "NAME", None), str) else ["NAME"]
    return out + [n for n in KERNEL_NAMES if not callable(getattr(module, n, None))]
