"""Multi-index hashing kernels in Numba (twin of ``csrc/mih.c``).

Table layout (built by :mod:`hamsearch.mih`, read here): a *segment*
indexes a contiguous range of database positions with one table per
substring, as the tuple ``(meta, offs, hkeys, hvals, pos, occ, tcodes, sfx)``
documented in ``csrc/mih.h`` -- dense CSR tables with an occupancy bitmap,
or open-addressing hashes into the same CSR arrays, and optionally the codes
in table order ("inline codes").

Search (Norouzi, Punjani & Fleet): for substring radius ``s = 0, 1, ...`` and
table ``j = 0 .. m-1``, every key at Hamming distance exactly ``s`` from the
query's substring ``j`` is looked up (Gosper's hack enumerates the flip
masks) and the codes of its bucket are verified with the full popcount
distance; a code that can still be a result is kept unless one of its other
substrings shows that the enumeration met it before (no visited set).  After
table ``j`` at radius ``s`` every code at distance ``<= s*m + j`` has been
seen (pigeonhole), so k-NN stops as soon as its k-th distance is within that
bound and radius search as soon as the bound reaches the radius.  A query
whose work (see ``PROBE_COST``) exceeds ``budget`` starts over with a linear
scan, so a query never costs much more than a flat scan.

One job a module:

* ``keys.py`` -- substring keys of a code, the hash of a key;
* ``build.py`` -- the table-building kernels (key counts, scatters, counting
  sort, hash insertion) and their wrappers ``mih_key_counts`` ...;
* ``borrow.py`` -- borrowed (not reference-counted) array views;
* ``probe.py`` -- bucket lookup and verification of a batch of keys, the
  work units (``PROBE_COST``, ``RANDOM_COST``, ``SFX_PER_UNIT``), the table
  kinds (``DENSE``, ``SPARSE``);
* ``seen.py`` -- de-duplication of a query's candidates (``SEEN_MIN_M``,
  ``SEEN_MAX_ROWS``);
* ``take.py`` -- the skip bitmap test and the collection of results;
* ``search.py`` -- the search loop over a range of queries (``_chunk``,
  ``BATCH``, ``SCAN_BLOCK``, ``DEFER_MIN_QUERIES``);
* ``knn.py`` / ``radius.py`` -- the k-NN and radius-search chunks and
  drivers (``mih_knn``, ``mih_range_search``);
* ``pool.py`` -- the drivers' worker threads (``_run``).

This package re-exports every name the single module ``mih.py`` had.  The
constants are compile-time constants of the jitted code of the module that
defines them.
"""

from __future__ import annotations

# Every name below is re-exported (the single module had them all).
# ruff: noqa: F401
from ..._kernels import MIH_KERNEL_NAMES, PAD_DISTANCE
from ..flat import ROW_IDS, row_id
from ..popcount import BIG, block_distances, popcount64
from ..topk import heap_push, heap_replace_top, heap_sort, pair_greater
from .borrow import _borrowed
from .build import (
    counting_sort,
    hash_insert,
    key_counts,
    key_scatter,
    key_scatter_sparse,
    mih_counting_sort,
    mih_hash_insert,
    mih_key_counts,
    mih_key_scatter,
    mih_key_scatter_sparse,
)
from .keys import HASH_MUL, _hash, _key_flat, _sub_key
from .knn import knn_chunk, mih_knn
from .pool import _forget_pool, _grain, _pool, _run
from .probe import (
    DENSE,
    PROBE_COST,
    RANDOM_COST,
    SFX_PER_UNIT,
    SPARSE,
    _bucket,
    _dist,
    _grouped,
    _probe_batch,
    _probe_grouped,
)
from .radius import _splice_csr, mih_range_search, range_chunk
from .search import _NO_SKIP, BATCH, DEFER_MIN_QUERIES, SCAN_BLOCK, _chunk
from .seen import (
    _SEEN_FULL,
    SEEN_MAX_ROWS,
    SEEN_MIN_M,
    _seen_before,
    _seen_buffer,
    _seen_reset,
    _seen_test_set,
)
from .take import _skipped, _take

# What ``hamsearch._numba`` re-exports (``from .mih import *``): the MIH kernels.
__all__ = list(MIH_KERNEL_NAMES)


def __getattr__(name: str):
    """The drivers' pool state (``_POOL``, ``_POOL_LOCK``) lives in
    :mod:`.pool`; read it there, not as a stale copy."""
    if name in ("_POOL", "_POOL_LOCK"):
        from . import pool

        return getattr(pool, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
