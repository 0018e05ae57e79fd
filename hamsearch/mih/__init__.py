"""Multi-index hashing (MIH) tables for exact sub-linear Hamming search.

Norouzi, Punjani & Fleet, *Fast Exact Search in Hamming Space with
Multi-Index Hashing* (CVPR 2012, TPAMI 2014).  Each code is cut into ``m``
disjoint substrings (the first ``nbits % m`` one bit wider than the others),
with one table per substring mapping a substring value to the positions of
the codes that carry it.  Two codes at Hamming distance ``D`` agree within
``floor(D / m)`` bits on at least one substring, so enumerating the
substring neighbours of a query at growing radius finds every code in order
of a provable lower bound, and the search stops as soon as its results are
final.  The kernels (``csrc/mih.c`` and ``hamsearch/_numba/mih/``) do the
enumeration, the de-duplication and the full-distance verification; this
module owns the tables.

Table layout
    A table over ``b``-bit substrings is one of three kinds
    (:func:`table_kind`):

    * *dense* when ``2**b <= 8 n + 4096``: an ``offsets`` array of
      ``2**b + 1`` int32 and the positions grouped by key (CSR);
    * *sparse* when only the key's top ``b - 8`` bits fit that bound: dense
      offsets over those top bits, rows ascending within a bucket, and one
      *suffix* byte per entry (the key's low 8 bits) beside its row number
      -- 5 bytes per code instead of 4, for substrings too wide for dense
      offsets (32-bit substrings of 10^8 to 10^9 codes: the paper's
      ``m = 2`` for 64-bit codes).  The search enumerates prefix buckets
      rather than keys: at substring radius ``s``, each bucket whose prefix
      is at distance ``h`` from the query's (``s - 8 <= h <= s``) is read
      once and its entries whose suffix is at distance exactly ``s - h``
      are verified (8 suffix bytes at a time), ``sum_h C(b - 8, h)``
      bucket visits instead of ``C(b, s)`` key probes.  (A table sparse in
      the main part only is probed key by key: its bucket scanned for the
      key's suffix.)  The delta part of a sparse table is built sparse;
    * otherwise an open-addressing hash of the distinct keys (load factor
      <= 1/2) pointing into the same CSR arrays, so memory stays ``O(n)``
      whatever ``b``.

    Substrings are at most 32 bits (``m >= ceil(nbits / 32)``).

Incremental add
    Tables are kept in two *segments*: the main one over positions
    ``[0, n_main)`` and a delta one over ``[n_main, n)``.  :meth:`sync` after
    an append rebuilds only the delta segment (cost proportional to the
    delta, at most ``n_main / 8`` codes, never the whole index), and merges
    everything into a new main segment once the delta exceeds
    ``n_main / 8``.  Large batches thus cost ``O(batch)`` amortised; many
    tiny batches cost up to ``O(n / 8)`` each (add in batches).  A search
    probes both segments with every key.  Removal compacts positions, so
    :meth:`invalidate` forces a full rebuild at the next :meth:`sync`
    (about 0.5 s for 1M 64-bit codes on a loaded 2-core machine).

Inline codes
    Optionally each table also stores the codes in its own order, so that
    verifying a bucket reads consecutive memory (prefetched) instead of one
    random access per code; on by default while ``m * words <= 16``.

Persistence
    :meth:`sections` / :meth:`load_sections` can round-trip the tables, but
    :class:`hamsearch.Index` saves only the codes (and ``m``) and rebuilds
    the tables on load: the build is a counting sort per table, a fraction
    of a second per million codes, while the tables are 3 to 8 times the
    size of the codes on disk (see the benchmark's load measurement).  The
    exception: a directory save writes the tables of sealed segments of at
    least ``hamsearch.directory.TABLES_MIN_ROWS`` rows (:func:`save_tables`),
    and ``load(dir, mmap=True)`` maps them (:func:`read_tables`).

Building large tables
    Dense tables are built by a two-pass counting sort over chunks of rows
    (:func:`dense_offsets`: ``hs_mih_key_counts`` then
    ``hs_mih_key_scatter``), so the only memory besides the tables is one
    copy of the bucket offsets; row numbers are int32 (a segment holds at
    most :data:`MAX_ROWS` rows).  :func:`hamsearch.streaming.from_chunks`
    builds a one-segment index this way.

Choice of m
    ``m = ceil(nbits / log2(n))`` clamped to ``[ceil(nbits / 32), nbits]``
    (substrings of about ``log2 n`` bits: about one code per bucket).  With
    ``m=None`` it is re-picked when ``n`` has grown or shrunk by a factor of
    2 since the last pick (and the tables are rebuilt if it changed).  A
    sealed segment of at least ``AUTO_MIN_N`` codes also weighs the paper's
    rounding, ``round(nbits / log2(n))`` (:func:`paper_m`; one fewer, wider
    substring), with the cost model on its own sample
    (:meth:`AutoRule.pick_m`) and takes the cheaper.

Modules
    :mod:`~hamsearch.mih.layout`
        substring layout, table kinds, the choice of ``m``;
    :mod:`~hamsearch.mih.build`
        building one segment's tables (:func:`build_segment`);
    :mod:`~hamsearch.mih.tables`
        :class:`MultiIndexTables` and its published states;
    :mod:`~hamsearch.mih.growing`
        :class:`IndexMIH`, the growing segment's tables;
    :mod:`~hamsearch.mih.cost`
        :class:`AutoRule`, the flat-vs-MIH cost model;
    :mod:`~hamsearch.mih.pricing`
        its prices per backend (:data:`BACKEND_COSTS`, :data:`FLAT_WORD_COST`)
        and the functions that price a query;
    :mod:`~hamsearch.mih.table_io`
        table files (:func:`save_tables`, :func:`read_tables`).

    This package re-exports their names.  The code reads its knobs from
    the module that defines them, so patch them there:
    ``build._mih_kernels``, ``build.BUILD_CHUNK`` and ``build.MAX_ROWS``,
    ``layout.FORCE_KIND``, ``pricing.BACKEND_COSTS`` (the same dict as
    ``cost.BACKEND_COSTS``), ``pricing.flat_word_cost``.
"""

from __future__ import annotations

# re-exported names
from .build import (  # noqa: F401
    BUILD_CHUNK, MAX_ROWS, SEGMENT_FIELDS, _empty_segment, build_segment, dense_offsets)
from .cost import (  # noqa: F401
    AUTO_MARGIN, AUTO_MIN_N, BACKEND_COSTS, CACHED_TABLE_BITS, FLAT_WORD_COST, MIH_TERMS,
    PICK_M_K, AutoRule, backend_costs, cost_constants, flat_word_cost)
from .growing import IndexMIH  # noqa: F401
from .layout import (  # noqa: F401
    DENSE_FACTOR, DENSE_SLACK, FORCE_KIND, KIND_DENSE, KIND_SPARSE, MAX_DENSE_BITS,
    MAX_SUBSTRING_BITS, SUFFIX_BITS, TABLE_KINDS, WIDE_SUBSTRING_BITS, _check_m, choose_m,
    extract_substring, kind_names, paper_m, substring_layout, suffix_bits, table_kind)
from .table_io import TABLES_FORMAT, read_tables, save_tables  # noqa: F401
from .tables import (  # noqa: F401
    BUDGET_FACTOR, DELTA_FRACTION, INLINE_MAX_WORDS, MultiIndexTables, _State, rebased,
    state_nbytes)

__all__ = ["MultiIndexTables", "choose_m", "paper_m", "substring_layout", "table_kind"]
