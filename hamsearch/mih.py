"""Multi-index hashing (MIH) tables for exact sub-linear Hamming search.

Norouzi, Punjani & Fleet, *Fast Exact Search in Hamming Space with
Multi-Index Hashing* (CVPR 2012, TPAMI 2014).  Each code is cut into ``m``
disjoint substrings (the first ``nbits % m`` one bit wider than the others),
with one table per substring mapping a substring value to the positions of
the codes that carry it.  Two codes at Hamming distance ``D`` agree within
``floor(D / m)`` bits on at least one substring, so enumerating the
substring neighbours of a query at growing radius finds every code in order
of a provable lower bound, and the search stops as soon as its results are
final.  The kernels (``csrc/mih.c`` and ``hamsearch/_numba/mih.py``) do the
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
"""

from __future__ import annotations

import math
import threading

import numpy as np

from ._backend import kernels

__all__ = ["MultiIndexTables", "choose_m", "paper_m", "substring_layout", "table_kind"]

#: Tables are dense while ``2**b <= DENSE_FACTOR * n + DENSE_SLACK``.
DENSE_FACTOR = 8
DENSE_SLACK = 4096
#: and while their offsets stay within 1 GiB (``2**28`` int32 buckets): the
#: 32-bit substrings of 10^9 codes (m = 2 at 64 bits) would otherwise get
#: 16 GiB of dense offsets per table (17 B/code) where a sparse table costs
#: 1 B/code of suffixes plus 64 MiB.
MAX_DENSE_BITS = 28
#: The delta segment is merged into the main one beyond this fraction.
DELTA_FRACTION = 1 / 8
#: Work allowed per query before it starts over with a linear scan, in units
#: of a full scan (``n * words_per_code``; a bucket probe costs 32 words, a
#: code verified by random access 32, an inline code its word count): a
#: hopeless query costs at most about 1.5 scans.
BUDGET_FACTOR = 0.5
MAX_SUBSTRING_BITS = 32
#: Inline codes by default while ``m * words_per_code`` is at most this.
INLINE_MAX_WORDS = 16
#: Rows per call of the table-building kernels (bounds their temporaries).
BUILD_CHUNK = 1 << 22
#: Rows one segment's tables can number (int32 row numbers).
MAX_ROWS = 2**31 - 1
#: Suffix bits stored per entry of a sparse table (one byte).
SUFFIX_BITS = 8
#: ``meta[j, 0]`` of a dense / sparse table (``csrc/mih.h``); a hash table's is
#: its capacity - 1.
KIND_DENSE = -1
KIND_SPARSE = -2
TABLE_KINDS = ("dense", "sparse", "hash")
#: Forces the kind of every table built (tests and benchmarks); None: :func:`table_kind`.
FORCE_KIND = None


def suffix_bits(b: int) -> int:
    """Suffix bits of a sparse table over ``b``-bit substrings (``b >= 2``)."""
    return min(SUFFIX_BITS, int(b) - 1)


def table_kind(b: int, n: int, kind=None) -> str:
    """The kind of a table over ``b``-bit substrings of ``n`` codes.

    ``"dense"`` while ``2**b <= DENSE_FACTOR * n + DENSE_SLACK`` and
    ``b <= MAX_DENSE_BITS`` (28); ``"sparse"`` while the top ``b - 8`` bits
    meet the first bound; else ``"hash"``.  ``kind`` (or :data:`FORCE_KIND`) overrides the choice
    (a sparse table needs ``b >= 2``: a 1-bit one is dense).
    """
    kind = kind if kind is not None else FORCE_KIND
    b = int(b)
    if kind is not None:
        if kind not in TABLE_KINDS:
            raise ValueError(f"table kind must be one of {TABLE_KINDS}, got {kind!r}")
        return "dense" if kind == "sparse" and b < 2 else kind
    limit = DENSE_FACTOR * int(n) + DENSE_SLACK
    if (1 << b) <= limit and b <= MAX_DENSE_BITS:
        return "dense"
    if b > SUFFIX_BITS and (1 << (b - SUFFIX_BITS)) <= limit:
        return "sparse"
    return "hash"


#: Least substring width of :func:`choose_m` for codes of more than 256 bits.
WIDE_SUBSTRING_BITS = 24


def paper_m(nbits: int, n: int) -> int:
    """The paper's ``m = nbits / log2(n)`` rounded to the nearest integer
    (Norouzi et al.: 2 for 10^8 to 10^9 64-bit codes), clamped as
    :func:`choose_m`; never above :func:`choose_m`."""
    lg = math.log2(max(int(n), 4))
    m = int(math.floor(nbits / lg + 0.5))
    lo = -(-nbits // MAX_SUBSTRING_BITS)
    return min(choose_m(nbits, n), max(lo, min(nbits, max(1, m))))


def choose_m(nbits: int, n: int) -> int:
    """Number of substrings for ``n`` codes of ``nbits`` bits.

    Parameters
    ----------
    nbits : int
        Code length.
    n : int
        Number of codes.

    Returns
    -------
    int
        ``ceil(nbits / log2(n))`` clamped to ``[ceil(nbits / 32), nbits]``;
        codes longer than 256 bits get substrings of at least
        ``WIDE_SUBSTRING_BITS`` (24) bits.

    Notes
    -----
    The paper's rule ``nbits / log2(n)`` balances a substring's buckets
    against the codes, but past 256 bits it makes so many tables (117 for
    200k 2048-bit codes) that probing them and de-duplicating each
    candidate against every table costs more than the larger buckets of
    fewer, wider substrings save.  Measured exact 10-NN, 200 near-duplicate
    queries (1000 centres, flip 0.02), 1 thread, Zen 5: 200k x 512 bits
    7.0 ms at m = 30 (17-bit) vs 4.9 ms at m = 22 (24-bit); 1024 bits 20.4
    vs 14.0 ms (m = 59 / 43); 2048 bits 44.7 vs 37.0 ms (m = 117 / 86);
    1M x 512 bits 24.3 vs 11.6 ms (m = 26 / 22); flip 0.05: 512 bits 14.2
    vs 10.9 ms, 1024 bits 34.0 vs 23.9 ms.  From 2^24 codes on the paper's
    rule gives 24 bits or more anyway.  64-256-bit codes keep the paper's
    rule.
    """
    lg = math.log2(max(int(n), 4))
    m = int(math.ceil(nbits / lg))
    if nbits > 256:
        m = min(m, -(-nbits // WIDE_SUBSTRING_BITS))
    return max(-(-nbits // MAX_SUBSTRING_BITS), min(nbits, max(1, m)))


def substring_layout(nbits: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Start bit and length of each substring (the first ``nbits % m`` are wider).

    Returns
    -------
    starts, lengths : ndarray of int32, shape (m,)
    """
    base, extra = divmod(nbits, m)
    lengths = np.array([base + 1] * extra + [base] * (m - extra), dtype=np.int32)
    starts = np.zeros(m, dtype=np.int32)
    starts[1:] = np.cumsum(lengths)[:-1]
    return starts, lengths


def _check_m(nbits: int, m) -> int | None:
    if m is None:
        return None
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)):
        raise TypeError(f"m must be an int or None, got {type(m).__name__}")
    lo = -(-nbits // MAX_SUBSTRING_BITS)
    if not lo <= m <= nbits:
        raise ValueError(
            f"m must be in [{lo}, {nbits}] for {nbits}-bit codes (substrings of 1 to "
            f"{MAX_SUBSTRING_BITS} bits), got {m}"
        )
    return int(m)


def extract_substring(codes: np.ndarray, start: int, length: int) -> np.ndarray:
    """Bits ``start .. start+length-1`` of each code row, as uint32 keys."""
    wi, sh = divmod(int(start), 64)
    v = codes[:, wi] >> np.uint64(sh)
    if sh + length > 64:
        v = v | (codes[:, wi + 1] << np.uint64(64 - sh))
    return (v & np.uint64((1 << int(length)) - 1)).astype(np.uint32)


def _mih_kernels():
    """The live backend's MIH kernels (every backend has them: see
    :mod:`hamsearch._kernels`)."""
    return kernels()


SEGMENT_FIELDS = ("meta", "offs", "hkeys", "hvals", "pos", "occ", "tcodes", "sfx")


def _empty_segment(m: int):
    return (
        np.zeros((m, 3), dtype=np.int64),
        np.zeros(1, dtype=np.int32),
        np.zeros(0, dtype=np.uint32),
        np.zeros(0, dtype=np.int32),
        np.zeros((m, 0), dtype=np.int32),
        np.zeros(0, dtype=np.uint64),
        np.zeros(0, dtype=np.uint64),
        np.zeros((m, 0), dtype=np.uint8),
    )


def dense_offsets(codes: np.ndarray, start: int, length: int, lo: int, pos: np.ndarray,
                  K=None, sb: int = 0, sfx=None) -> np.ndarray:
    """One dense table over substring bits ``start .. start+length-1`` of
    ``codes``: returns the CSR offsets (int32, ``2**length + 1``) and fills
    ``pos`` (int32, ``len(codes)``) with ``lo + row`` grouped by key,
    ascending within a key.

    A two-pass counting sort over chunks of :data:`BUILD_CHUNK` rows (count
    the keys, prefix sum, scatter the rows): the only memory besides the
    offsets and ``pos`` is one copy of the bucket starts, whatever the
    number of codes -- no keys array, no temporaries per code.

    With ``sb > 0``, a sparse table: the buckets are the keys' top
    ``length - sb`` bits (offsets of ``2**(length - sb) + 1``), rows
    ascending within a bucket, and ``sfx`` (uint8, ``len(codes)``) gets
    each entry's low ``sb`` key bits.
    """
    K = _mih_kernels() if K is None else K
    n = codes.shape[0]
    sb = int(sb)
    nb = 1 << (int(length) - sb)
    offs = np.zeros(nb + 1, dtype=np.int32)
    counts = offs[1:]
    for a in range(0, n, BUILD_CHUNK):
        K.mih_key_counts(codes[a : a + BUILD_CHUNK], start + sb, length - sb, counts)
    np.cumsum(offs, out=offs)
    fill = offs[:-1].copy()
    for a in range(0, n, BUILD_CHUNK):
        if sb:
            K.mih_key_scatter_sparse(codes[a : a + BUILD_CHUNK], start, length, sb, lo + a,
                                     fill, pos, sfx)
        else:
            K.mih_key_scatter(codes[a : a + BUILD_CHUNK], start, length, lo + a, fill, pos)
    return offs


def build_segment(codes: np.ndarray, lo: int, hi: int, starts, lengths, inline: bool,
                  kind=None):
    """Tables over positions ``[lo, hi)`` of ``codes``.

    Returns the tuple ``(meta, offs, hkeys, hvals, pos, occ, tcodes, sfx)``
    described in ``csrc/mih.h``; ``tcodes`` is empty unless ``inline``,
    ``sfx`` (uint8 ``(m, hi - lo)``) unless a table is sparse.  ``kind``
    forces the kind of every table (see :func:`table_kind`), or of each
    (a list; None entries: the default rule).
    """
    m = len(lengths)
    seg_n = hi - lo
    if seg_n == 0:
        return _empty_segment(m)
    K = _mih_kernels()
    part = codes[lo:hi]
    w = codes.shape[1]
    meta = np.zeros((m, 3), dtype=np.int64)
    pos = np.empty((m, seg_n), dtype=np.int32)
    tcodes = np.empty((m, seg_n, w), dtype=np.uint64) if inline else np.zeros(0, np.uint64)
    per = kind if isinstance(kind, (list, tuple)) else [kind] * m
    kinds = [table_kind(int(b), seg_n, k) for b, k in zip(lengths, per)]
    # (zeroed, so a saved table file is deterministic: rows of non-sparse tables stay 0)
    sfx = np.zeros((m, seg_n if "sparse" in kinds else 0), dtype=np.uint8)
    offs_parts, hk_parts, hv_parts, occ_parts = [], [], [], []
    off_at = hash_at = occ_at = 0
    if hi > MAX_ROWS:
        raise ValueError(f"multi-index tables hold row numbers as int32: a segment has at "
                         f"most {MAX_ROWS} rows, got {hi}")
    for j in range(m):
        b = int(lengths[j])
        if kinds[j] == "sparse":
            sb = suffix_bits(b)
            offs = dense_offsets(part, int(starts[j]), b, lo, pos[j], K, sb, sfx[j])
            meta[j] = (KIND_SPARSE, off_at, sb)
        elif kinds[j] == "dense":
            nb = 1 << b
            offs = dense_offsets(part, int(starts[j]), b, lo, pos[j], K)
            bits = np.packbits(offs[1:] > offs[:-1], bitorder="little")
            occ = np.zeros(-(-len(bits) // 8) * 8, dtype=np.uint8)
            occ[: len(bits)] = bits
            occ_parts.append(occ.view(np.uint64))
            meta[j] = (KIND_DENSE, off_at, occ_at)
            occ_at += len(occ_parts[-1])
        else:
            keys = extract_substring(part, int(starts[j]), b)
            uniq, inv = np.unique(keys, return_inverse=True)
            nb = len(uniq)
            cap = 8
            while cap < 2 * nb:
                cap *= 2
            hk = np.zeros(cap, dtype=np.uint32)
            hv = np.empty(cap, dtype=np.int32)
            K.mih_hash_insert(uniq, hk, hv, cap - 1)
            offs = np.empty(nb + 1, dtype=np.int32)
            K.mih_counting_sort(inv.astype(np.uint32).ravel(), nb, lo, offs, pos[j])
            meta[j] = (cap - 1, off_at, hash_at)
            hk_parts.append(hk)
            hv_parts.append(hv)
            hash_at += cap
        if inline:
            for a in range(0, seg_n, BUILD_CHUNK):  # no (seg_n,) int64 temporary
                e = min(seg_n, a + BUILD_CHUNK)
                np.take(part, pos[j, a:e] - lo, axis=0, out=tcodes[j, a:e])
        offs_parts.append(offs)
        off_at += len(offs)
    hkeys = np.concatenate(hk_parts) if hk_parts else np.zeros(0, np.uint32)
    hvals = np.concatenate(hv_parts) if hv_parts else np.zeros(0, np.int32)
    occ = np.concatenate(occ_parts) if occ_parts else np.zeros(0, np.uint64)
    return meta, np.concatenate(offs_parts), hkeys, hvals, pos, occ, tcodes.reshape(-1), sfx


def kind_names(meta) -> list[str]:
    """The kind of each table of a segment's ``meta``."""
    return ["dense" if h == KIND_DENSE else "sparse" if h == KIND_SPARSE else "hash"
            for h in meta[:, 0]]


def _segment_nbytes(seg) -> int:
    return int(sum(a.nbytes for a in seg))


class _State:
    """One consistent published view: codes, ids and the tables over them."""

    __slots__ = ("codes", "ids", "m", "starts", "lengths", "main", "delta", "n_main", "n",
                 "max_len")

    def __init__(self, codes, ids, m, starts, lengths, main, delta, n_main):
        self.codes, self.ids = codes, ids
        self.m, self.starts, self.lengths = m, starts, lengths
        self.main, self.delta = main, delta
        self.n_main = n_main
        self.n = codes.shape[0]
        self.max_len = int(lengths.max()) if len(lengths) else 0  # (per search: _budget)


class MultiIndexTables:
    """Multi-index hash tables over the codes of an :class:`hamsearch.Index`.

    Parameters
    ----------
    nbits : int
        Code length.
    m : int, optional
        Number of substrings; default: chosen from ``n`` (see :func:`choose_m`).
    inline_codes : bool, optional
        Keep a copy of the codes in each table's order, so that verifying a
        bucket reads memory sequentially instead of one random access per
        code (``m * 8 * ceil(nbits / 64)`` more bytes per code).  Default:
        on when ``m * ceil(nbits / 64) <= 16``.
    table_kind : {"dense", "sparse", "hash"}, optional
        Force the kind of every table (default: per substring width and
        ``n``, see :func:`table_kind`).

    Notes
    -----
    Call :meth:`sync` with the index's current ``(codes, ids)`` after every
    mutation (appends are incremental, see the module docstring) and
    :meth:`invalidate` before publishing compacted arrays.  Searches read one
    published state object, so they may run concurrently with a sync.
    """

    def __init__(self, nbits: int, m=None, inline_codes=None, table_kind=None):
        self.nbits = int(nbits)
        if table_kind is not None and table_kind not in TABLE_KINDS:
            raise ValueError(f"table_kind must be one of {TABLE_KINDS}, got {table_kind!r}")
        self.table_kind = table_kind
        self._m_request = _check_m(self.nbits, m)
        self._inline_request = None if inline_codes is None else bool(inline_codes)
        self._state = None
        self._stale = True
        self._n_pick = 0
        self._lock = threading.Lock()
        self.last_stats = None
        #: Work per query, in units of ``n * words``, before a query starts
        #: over with a linear scan (see ``BUDGET_FACTOR``).  Keep it finite: it is
        #: what bounds a query whose k-th distance is far (k close to n).
        self.budget_factor = BUDGET_FACTOR

    # ------------------------------------------------------------- properties
    @property
    def m(self) -> int:
        """Number of substrings in use (or that the next build will use)."""
        st = self._state
        if st is not None:
            return st.m
        return self._m_request or choose_m(self.nbits, 0)

    @property
    def nbytes(self) -> int:
        """Bytes held by the tables (not counting the codes and ids)."""
        st = self._state
        if st is None:
            return 0
        return _segment_nbytes(st.main) + _segment_nbytes(st.delta)

    def describe(self) -> dict:
        """Layout summary: m, substring lengths, dense/hash tables, segment sizes."""
        st = self._state
        if st is None:
            return {"m": self.m, "built": False}
        return {
            "m": st.m,
            "lengths": st.lengths.tolist(),
            "dense": [bool(h == KIND_DENSE) for h in st.main[0][:, 0]],
            "kinds": kind_names(st.main[0]),
            "inline_codes": bool(st.main[6].size) or None,
            "n_main": st.n_main,
            "n_delta": st.n - st.n_main,
            "nbytes": self.nbytes,
        }

    # ---------------------------------------------------------------- updates
    def invalidate(self) -> None:
        """Force a full rebuild at the next :meth:`sync` (after a removal)."""
        self._stale = True

    def _inline(self, m: int, codes) -> bool:
        if self._inline_request is not None:
            return self._inline_request
        return m * max(1, codes.shape[1]) <= INLINE_MAX_WORDS

    def _target_m(self, n: int, current) -> int:
        if self._m_request is not None:
            return self._m_request
        if current is not None and self._n_pick and self._n_pick / 2 <= n <= 2 * self._n_pick:
            return current
        return choose_m(self.nbits, n)

    def sync(self, codes: np.ndarray, ids: np.ndarray) -> None:
        """Bring the tables in line with ``codes`` (positions ``0 .. n-1``).

        Parameters
        ----------
        codes : ndarray of uint64, shape (n, w)
            The index's stored codes; the first ``n_indexed`` rows must be
            unchanged since the previous sync unless :meth:`invalidate` was
            called.
        ids : ndarray of int64, shape (n,)
        """
        with self._lock:
            n = codes.shape[0]
            st = self._state
            current_m = None if (st is None or self._stale) else st.m
            m = self._target_m(n, current_m)
            full = st is None or self._stale or m != st.m or n < st.n
            if not full and n > st.n:
                full = (n - st.n_main) > DELTA_FRACTION * st.n_main
            if full:
                if self._m_request is None and (current_m is None or m != current_m):
                    self._n_pick = max(n, 1)
                starts, lengths = substring_layout(self.nbits, m)
                main = build_segment(codes, 0, n, starts, lengths, self._inline(m, codes),
                                     self.table_kind)
                new = _State(codes, ids, m, starts, lengths, main, _empty_segment(m), n)
            elif n > st.n:
                # sparse where the main part is, so that both parts of a
                # table are probed by the grouped enumeration (csrc/mih_impl.h)
                kinds = self.table_kind or [k if k == "sparse" else None
                                            for k in kind_names(st.main[0])]
                delta = build_segment(codes, st.n_main, n, st.starts, st.lengths,
                                      self._inline(m, codes), kinds)
                new = _State(codes, ids, m, st.starts, st.lengths, st.main, delta, st.n_main)
            else:
                new = _State(codes, ids, m, st.starts, st.lengths, st.main, st.delta, st.n_main)
            self._state = new
            self._stale = False

    # ----------------------------------------------------------------- search
    def _budget(self, st) -> int:
        factor = self.budget_factor
        if st.max_len > CACHED_TABLE_BITS:
            # probes into tables larger than L2 cost several times the 32
            # units the kernel charges (see AutoRule): spend less before
            # giving up
            factor /= 4
        work = factor * st.n * max(1, st.codes.shape[1]) + 256
        return int(min(work, 2**62))

    def knn(self, queries: np.ndarray, k: int, nthreads: int = 1, state=None, ids=None,
            skip=None):
        """Exact k-NN (same contract as the flat kernel); returns ``(D, I)``.

        ``state`` is the published table state to search (default: the
        latest); ``ids`` replaces the state's ids in the results (the
        hierarchical search passes storage positions); ``skip`` is an
        optional uint64 bitmap of rows left out (see ``csrc/hamsearch.h``).
        """
        st = self._state if state is None else state
        K = _mih_kernels()
        D, I, stats = K.mih_knn(st.codes, st.ids if ids is None else ids, queries, int(k),
                                st.starts, st.lengths, st.main, st.delta, self._budget(st),
                                nthreads, skip=skip)
        self.last_stats = stats
        return D, I

    def range_search(self, queries: np.ndarray, radius: int, nthreads: int = 1, state=None,
                     ids=None, skip=None):
        """Exact radius search (inclusive); returns ``(lims, D, I)``.

        ``state``, ``ids`` and ``skip``: as for :meth:`knn`.
        """
        st = self._state if state is None else state
        K = _mih_kernels()
        lims, D, I, stats = K.mih_range_search(st.codes, st.ids if ids is None else ids,
                                               queries, int(radius), st.starts, st.lengths,
                                               st.main, st.delta, self._budget(st), nthreads,
                                               skip=skip)
        self.last_stats = stats
        return lims, D, I

    # ------------------------------------------------------------ persistence
    def sections(self) -> tuple[dict, dict]:
        """Metadata and arrays of the tables (for :mod:`hamsearch.storage`)."""
        st = self._state
        meta = {"m": st.m, "n_main": st.n_main, "n": st.n, "n_pick": self._n_pick}
        arrays = {}
        for name, seg in (("main", st.main), ("delta", st.delta)):
            for field, arr in zip(SEGMENT_FIELDS, seg):
                arrays[f"mih_{name}_{field}"] = arr
        return meta, arrays

    def load_sections(self, meta: dict, arrays: dict, codes, ids) -> None:
        """Adopt tables written by :meth:`sections` for ``codes``/``ids``."""
        m = int(meta["m"])
        starts, lengths = substring_layout(self.nbits, m)
        segs = []
        for name in ("main", "delta"):
            segs.append(tuple(
                np.asarray(arrays[f"mih_{name}_{field}"]) if f"mih_{name}_{field}" in arrays
                else np.zeros((m, 0), np.uint8)  # (written before sparse tables existed)
                for field in SEGMENT_FIELDS
            ))
        if segs[1][4].ndim != 2 or segs[1][4].shape[0] != m:
            segs[1] = _empty_segment(m)
        self._n_pick = int(meta.get("n_pick", meta["n"]))
        self._state = _State(codes, ids, m, starts, lengths, segs[0], segs[1],
                             int(meta["n_main"]))
        self._stale = False


# ---------------------------------------------------------------------------
# method="auto": flat scan or MIH?
# ---------------------------------------------------------------------------

#: Below this many codes ``auto`` always scans.
AUTO_MIN_N = 20_000
#: Cost model constants, in units of one code word of the AVX2 flat scan,
#: fitted to 48 measured (data, k or radius, ISA) points: 1M ITQ codes of
#: Fashion-MNIST at 64 and 128 bits and 1M clustered 64-bit codes, k in
#: {1, 10, 100}, radius in {2, 4, 8, 12, 16}, the avx512-vpopcntdq and avx2
#: kernels (see ``docs/benchmarks.md``).
COST_PROBE = 16.0  # dense offsets small enough for L2 (<= CACHED_TABLE_BITS)
COST_PROBE_UNCACHED = 63.0
#: A bucket visit of a sparse table: prefix offsets, suffix bytes and row
#: numbers, each a random access, overlapped 32 at a time (measured 45-50
#: on 10^7 LSH-like 64-bit codes at m = 2, k = 1 and 10, avx512-vpopcntdq).
COST_PROBE_SPARSE = 50.0
#: ``k`` of the query :meth:`AutoRule.pick_m` weighs m for.
PICK_M_K = 10
CACHED_TABLE_BITS = 17
COST_VERIFY_WORD = 8.7  # a candidate verified from the inline codes, per word
COST_VERIFY_RANDOM = 40.0  # a candidate verified by a random access into the codes
COST_HIT_PER_TABLE = 394.0  # a result found by MIH, per substring (de-duplication)
COST_HIT_FLAT = 2000.0  # a result found by the flat scan (collection)
#: Flat scan cost per code word of each kernel, relative to AVX2 (measured
#: with ``bench.compare_flat``-like runs: 1M x 128-bit k-NN).
FLAT_WORD_COST = {"avx512-vpopcntdq": 0.4, "avx512": 0.6, "avx2": 1.0, "popcnt": 1.5,
                  "portable": 5.0, "numba": 1.0}
#: MIH must be predicted this much cheaper than the scan.
AUTO_MARGIN = 0.8
_SAMPLE_QUERIES = 32
_SAMPLE_CODES = 8192


#: The MIH costs above are the C kernel's; another backend's MIH costs this
#: many times as much.  Numba: 1 -- measured with ``bench.auto_rule`` (1M
#: clustered 64-bit and Fashion ITQ 128-bit codes) after the Numba MIH kernel
#: stopped counting references in its loops, auto then ran the better method
#: or one within 0.87x of it at every point, and a larger factor turned
#: clustered r=12 (MIH 1.4x faster) to the scan.
MIH_COST_FACTOR = {"c": 1.0, "numba": 1.0}


def _backend_keys() -> tuple[str, str]:
    name = kernels().NAME
    return ("c", name[2:]) if name.startswith("c-") else (name, name)


def flat_word_cost() -> float:
    """:data:`FLAT_WORD_COST` of the kernels in use."""
    return FLAT_WORD_COST.get(_backend_keys()[1], 1.0)


def mih_cost_factor() -> float:
    """:data:`MIH_COST_FACTOR` of the backend in use."""
    return MIH_COST_FACTOR.get(_backend_keys()[0], 1.0)


def cost_constants() -> dict:
    """The cost model's constants for the kernels in use (``hamsearch info``)."""
    return {"flat_word_cost": flat_word_cost(), "mih_cost_factor": mih_cost_factor(),
            "probe": COST_PROBE, "probe_uncached": COST_PROBE_UNCACHED,
            "probe_sparse": COST_PROBE_SPARSE,
            "verify_word": COST_VERIFY_WORD, "verify_random": COST_VERIFY_RANDOM,
            "hit_per_table": COST_HIT_PER_TABLE, "hit_flat": COST_HIT_FLAT,
            "margin": AUTO_MARGIN}


class AutoRule:
    """Decides between the flat scan and MIH for ``Index(method="auto")``.

    The rule, for ``n`` codes of ``w`` words and ``m`` substrings of
    lengths ``b_j``:

    1. ``n < AUTO_MIN_N`` (20,000): flat.
    2. Estimate the distance ``d`` the search must reach: the radius for a
       radius search; for k-NN, the ``k / n`` quantile of the distances
       between 32 stored codes and 8,192 others (a sample drawn once per
       doubling of ``n``, per segment; queries are assumed to look like the
       database).  The results per query ``H``: ``k``, or ``n`` times the
       sampled fraction of pairs within the radius.
    3. Predicted MIH cost, with ``s = floor(d / m)``: probes
       ``P = sum_j sum_{i <= s} C(b_j, i)``, verified codes
       ``V = n * m * F(s)`` (``F``: sampled fraction of substring pairs
       within ``s``), ``cost = p P + c V + 394 m H`` with ``p = 16`` while
       the dense offsets fit in L2 (``b <= 17``) else 63, ``c = 8.7 w``
       (inline codes) or 40 (random access); sparse tables (the 32-bit
       substrings of 10^7+ codes): ``P`` counts prefix-bucket visits
       (``sum_{s' <= s} sum_h C(b - 8, h)``, ``s' - 8 <= h <= s'``), ``p =
       50``, and ``V`` grows by the suffix matches of other keys,
       ``P n / 2**b``.  Flat cost: ``f n w + 2000 H``
       with ``f`` the kernel's cost per word (:data:`FLAT_WORD_COST`: 0.4
       for avx512-vpopcntdq, 1 for avx2).
    4. MIH when its predicted cost is below 0.8 times the flat cost.

    The constants were fitted (least squares on the log of the speed
    ratio) to 48 measured points on a 2-core x86-64 machine: 1M ITQ codes
    of Fashion-MNIST (64 and 128 bits) and 1M clustered 64-bit codes, k-NN
    and radius searches, the avx512-vpopcntdq and avx2 kernels.  Whatever
    the choice, results are identical; MIH queries that overrun their work
    budget finish with a scan anyway.
    """

    def __init__(self):
        # (n sampled, sorted sampled distances, substring-distance CDF): one
        # tuple replaced whole, so concurrent searches never mix two samples
        self._sampled = None

    def _sample(self, codes, lengths, starts, holder=None):
        """``(n, sorted sampled distances, substring-distance CDF)`` for the
        substring layout ``(starts, lengths)`` (its first substring).  The
        sample (and one CDF per substring) is drawn once per doubling of
        ``n`` and cached whole in the holder."""
        n = codes.shape[0]
        cur = self._sampled if holder is None else holder.sample
        if cur is None or not (cur[0] / 2 <= n <= 2 * cur[0]) or len(cur) != 5:
            rng = np.random.default_rng(n)
            nq = min(_SAMPLE_QUERIES, n // 2)
            pick = rng.choice(n, size=min(n, nq + _SAMPLE_CODES), replace=False)
            q, db = codes[pick[:nq]], codes[pick[nq:]]
            dists = np.sort(kernels().hamming_matrix(
                np.ascontiguousarray(q), np.ascontiguousarray(db), 1).ravel())
            cur = (n, dists, {}, q, db)
        b0, s0 = int(lengths[0]), int(starts[0])
        cdf = cur[2].get((s0, b0))
        if cdf is None:
            kq = extract_substring(cur[3], s0, b0)
            kd = extract_substring(cur[4], s0, b0)
            sub = np.bitwise_count(kq[:, None] ^ kd[None, :]).ravel()
            cdf = np.bincount(sub, minlength=b0 + 1).cumsum() / max(1, sub.size)
            cdfs = dict(cur[2])
            cdfs[(s0, b0)] = cdf
            cur = (cur[0], cur[1], cdfs, cur[3], cur[4])  # replaced whole
        if holder is None:
            self._sampled = cur
        else:
            holder.sample = cur
        return cur[0], cur[1], cdf

    def costs(self, codes, nbits: int, m: int, inline: bool, k=None, radius=None,
              holder=None):
        """Predicted ``(mih, flat)`` costs of one query (see the class
        docstring), or None when MIH is out of the question (``k >= n``)."""
        n, w = codes.shape[0], max(1, codes.shape[1])
        starts, lengths = substring_layout(nbits, m)
        _, dists, cdf = self._sample(codes, lengths, starts, holder)
        if radius is not None:
            d = int(radius)
            hits = n * float(np.searchsorted(dists, d, side="right")) / dists.size
        else:
            if k >= n:
                return None
            at = int(np.ceil(k / n * dists.size))
            d = int(dists[min(at, dists.size - 1)])
            hits = float(k)
        s = d // m
        kinds = [table_kind(int(b), n) for b in lengths]
        probes = 0
        for b, kind in zip(lengths, kinds):
            b = int(b)
            if kind == "sparse":  # bucket visits of the grouped enumeration
                sb = suffix_bits(b)
                probes += sum(math.comb(b - sb, h) for r in range(min(s, b) + 1)
                              for h in range(max(0, r - sb), min(r, b - sb) + 1))
            else:
                probes += sum(math.comb(b, i) for i in range(min(s, b) + 1))
        frac = float(cdf[min(s, len(cdf) - 1)])
        verified = n * m * frac
        if "sparse" in kinds:
            probe_cost = COST_PROBE_SPARSE
            # suffix matches of other keys (uniform keys: n / 2**b per probe)
            verified += probes * n / 2.0 ** float(max(lengths))
        elif max(lengths) <= CACHED_TABLE_BITS:
            probe_cost = COST_PROBE
        else:
            probe_cost = COST_PROBE_UNCACHED
        verify_cost = COST_VERIFY_WORD * w if inline else COST_VERIFY_RANDOM
        cost = mih_cost_factor() * (probe_cost * probes + verify_cost * verified
                                    + COST_HIT_PER_TABLE * m * hits)
        flat = flat_word_cost() * n * w + COST_HIT_FLAT * hits
        return cost, flat

    def prefer_mih(self, codes, nbits: int, m: int, inline: bool, k=None,
                   radius=None, holder=None) -> bool:
        """True when MIH is predicted clearly cheaper than a flat scan.

        Parameters
        ----------
        codes : ndarray of uint64, shape (n, w)
            The stored codes.
        nbits, m : int
            Code length and number of substrings MIH would use.
        inline : bool
            Whether the tables hold inline codes.
        k, radius : int, optional
            The k-NN ``k`` or the search radius (exactly one).
        holder : object, optional
            Where the sample of ``codes`` is cached (its ``sample``
            attribute: a segment); default: this rule.
        """
        if codes.shape[0] < AUTO_MIN_N:
            return False
        c = self.costs(codes, nbits, m, inline, k=k, radius=radius, holder=holder)
        return c is not None and c[0] < AUTO_MARGIN * c[1]

    def pick_m(self, codes, nbits: int, inline, holder=None, k: int = PICK_M_K) -> int:
        """Substrings for tables over ``codes``: :func:`choose_m`, or the
        paper's :func:`paper_m` (one fewer) when the cost model predicts it
        cheaper for a ``k``-NN query (default 10) on this sample; below
        ``AUTO_MIN_N`` codes always :func:`choose_m`.

        ``inline(m)`` says whether tables of ``m`` substrings would hold
        inline codes.
        """
        n = codes.shape[0]
        m0 = choose_m(nbits, n)
        m1 = paper_m(nbits, n)
        if m1 >= m0 or n < AUTO_MIN_N or k >= n:
            return m0
        c0 = self.costs(codes, nbits, m0, inline(m0), k=k, holder=holder)
        c1 = self.costs(codes, nbits, m1, inline(m1), k=k, holder=holder)
        return m1 if c1[0] < c0[0] else m0


# ---------------------------------------------------------------------------
# The glue used by hamsearch.Index
# ---------------------------------------------------------------------------


class IndexMIH:
    """The incremental tables of an index's growing segment.

    ``method="mih"`` keeps them in sync with every mutation;
    ``method="auto"`` builds them the first time :class:`AutoRule` prefers
    MIH for the growing segment and keeps them in sync from then on;
    ``method="flat"`` never builds them.  The table state built for a
    published state of the segment travels with it (``segment.mih``), so a
    search always probes tables over exactly the codes it verifies against.
    Sealed segments build their own tables once
    (:meth:`hamsearch.searchers.Planner.build_sealed`).

    Parameters
    ----------
    nbits : int
        Code length.
    method : {"auto", "flat", "mih"}
        The index's method.
    m : int, optional
        Number of substrings (default: chosen from ``n``).
    """

    def __init__(self, nbits: int, method: str, m=None, inline_codes=None):
        self.method = method
        self.nbits = int(nbits)
        self.m_request = _check_m(nbits, m)
        self.inline_codes = inline_codes
        self.reset()

    def reset(self) -> None:
        """Drop the tables (the index was emptied); call under the index lock."""
        self.tables = MultiIndexTables(self.nbits, m=self.m_request,
                                       inline_codes=self.inline_codes)
        self.active = self.method == "mih"

    def m_for(self, n: int) -> int:
        """Substrings in use, or that a build over ``n`` codes would use now."""
        st = self.tables._state
        if st is not None:
            return st.m
        return self.planned_m(n)

    def planned_m(self, n: int) -> int:
        st = self.tables._state
        return self.tables._target_m(n, None if st is None else st.m)

    @property
    def nbytes(self) -> int:
        """Bytes held by the multi-index tables built so far (0 before the first MIH search)."""
        return self.tables.nbytes

    def published(self, codes, ids):
        """Called under the index lock for every new snapshot: the table
        state over ``(codes, ids)`` when the tables are kept, else None."""
        if not self.active:
            return None
        self.tables.sync(codes, ids)
        return self.tables._state

    def invalidate(self) -> None:
        """Positions were compacted: the next sync rebuilds."""
        self.tables.invalidate()

    def build_now(self, codes, ids):
        """Start keeping the tables (the planner chose MIH): the state over
        ``(codes, ids)``; call under the index lock."""
        self.active = True
        self.tables.sync(codes, ids)
        return self.tables._state

    def detach(self, codes, ids):
        """The table state over ``(codes, ids)``, the segment being sealed
        (brought in sync incrementally; None when no tables are kept), then
        start over for a new growing segment; call under the index lock."""
        st = None
        if self.active and self.tables._state is not None:
            self.tables.sync(codes, ids)
            st = self.tables._state
        self.reset()
        return st


def state_nbytes(state) -> int:
    """Bytes of one table state's arrays (0 for None)."""
    if state is None:
        return 0
    return _segment_nbytes(state.main) + _segment_nbytes(state.delta)


def rebased(state, codes, ids=None):
    """The same tables over a copy of their codes (same rows, new arrays)."""
    return _State(codes, ids, state.m, state.starts, state.lengths, state.main, state.delta,
                  state.n_main)


# ---------------------------------------------------------------------------
# Table files: a sealed segment's tables saved beside its rows
# ---------------------------------------------------------------------------

#: ``meta["format"]`` of a table file (an :mod:`hamsearch.storage` container).
TABLES_FORMAT = "hamsearch-mih-tables"
_TABLE_SECTIONS = ("offs", "hkeys", "hvals", "pos", "occ", "tcodes", "sfx")
_TABLE_DTYPES = {"offs": "<i4", "hkeys": "<u4", "hvals": "<i4", "pos": "<i4", "occ": "<u8",
                 "tcodes": "<u8", "sfx": "|u1"}


def _table_layout(specs):
    """``meta`` (m, 3) and section lengths of tables described by ``specs``:
    per table ``(nb, cap)`` -- ``cap == 0`` for a dense table of ``nb``
    buckets, else a hash of capacity ``cap`` over ``nb`` distinct keys -- or
    ``(nb, 0, sb)`` for a sparse table with ``sb`` suffix bits over ``nb``
    prefix buckets."""
    meta = np.zeros((len(specs), 3), dtype=np.int64)
    off_at = hash_at = occ_at = 0
    for j, spec in enumerate(specs):
        nb, cap = spec[0], spec[1]
        if len(spec) == 3:
            meta[j] = (KIND_SPARSE, off_at, spec[2])
        elif cap == 0:
            meta[j] = (KIND_DENSE, off_at, occ_at)
            occ_at += -(-(-(-nb // 8)) // 8)  # ceil(ceil(nb / 8) / 8) words
        else:
            meta[j] = (cap - 1, off_at, hash_at)
            hash_at += cap
        off_at += nb + 1
    return meta, {"offs": off_at, "hkeys": hash_at, "hvals": hash_at, "occ": occ_at}


def _table_specs(state) -> list[list[int]]:
    meta, offs = state.main[0], state.main[1]
    ends = list(meta[1:, 1]) + [len(offs)]
    out = []
    for j in range(state.m):
        nb = int(ends[j] - meta[j, 1] - 1)
        if meta[j, 0] == KIND_SPARSE:
            out.append([nb, 0, int(meta[j, 2])])
        else:
            out.append([nb, 0 if meta[j, 0] < 0 else int(meta[j, 0] + 1)])
    return out


def save_tables(path, state, nbits: int) -> None:
    """Write a sealed segment's table ``state`` (no delta part) to ``path``
    atomically (an :mod:`hamsearch.storage` container of the arrays of
    ``csrc/mih.h`` whose ``meta`` is recomputed on load from the per-table
    bucket counts)."""
    from .storage import save_sections

    if state.n != state.n_main:
        raise ValueError("only tables without a delta part are saved (a sealed segment's)")
    meta = {"format": TABLES_FORMAT, "nbits": int(nbits), "rows": int(state.n),
            "m": int(state.m), "tables": _table_specs(state),
            "words": int(state.codes.shape[1]), "inline": bool(state.main[6].size)}
    arrays = {name: arr for name, arr in zip(SEGMENT_FIELDS[1:], state.main[1:])}
    if not state.main[7].size:
        del arrays["sfx"]  # no sparse table: the layout of files written before they existed
    save_sections(path, meta, arrays)


def read_tables(path, codes, nbits: int, mmap: bool = False, verify=None):
    """Tables saved by :func:`save_tables` for the rows ``codes``:
    ``(state, check)`` like :func:`hamsearch.storage.read_sections`
    (``check``: the pending CRC-32 check, or None once it ran).

    The header, the section layout (dtypes, shapes, alignment, no overlap)
    and every bucket range (offsets from 0 to ``rows``, non-decreasing; hash
    slots naming a bucket) are checked before anything is used, so a
    crafted file cannot make a search read outside the arrays (row numbers
    out of range are skipped by the kernels); the section checksums are the
    data check (``verify``).
    """
    import functools
    import mmap as _mmap
    import os

    from .storage import (FileCheck, IndexFileError, _Checker, _crc32, _open_regular,
                          _read_all, _read_header, _ALIGN, _HEADER_KEYS, _SECTION_KEYS,
                          _PREAMBLE)

    path = os.fspath(path)
    if verify is None:
        verify = "background" if mmap else True
    ck = _Checker(path)
    fd = _open_regular(path)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            ck.fail("empty table file")
        buf = _mmap.mmap(fd, 0, access=_mmap.ACCESS_READ) if mmap else _read_all(fd, size)
    finally:
        os.close(fd)
    buf = memoryview(buf)
    header, hlen = _read_header(buf, ck)
    if not isinstance(header, dict) or header.keys() != _HEADER_KEYS:
        ck.fail("not a table file (bad header fields)")
    meta = header["meta"]
    rows, w = codes.shape
    if not isinstance(meta, dict) or meta.get("format") != TABLES_FORMAT:
        ck.fail("not a multi-index table file")
    if meta.get("nbits") != nbits or meta.get("rows") != rows or meta.get("words") != w:
        ck.fail(f"tables of {meta.get('rows')!r} x {meta.get('nbits')!r}-bit codes, the "
                f"segment holds {rows} x {nbits}-bit")
    m = meta.get("m")
    try:
        m = _check_m(nbits, m)
    except (TypeError, ValueError) as exc:
        ck.fail(str(exc))
    starts, lengths = substring_layout(nbits, m)
    specs = meta.get("tables")
    if not isinstance(specs, list) or len(specs) != m:
        ck.fail("bad 'tables' entry")
    for spec, b in zip(specs, lengths):
        b = int(b)
        ok = isinstance(spec, list) and len(spec) in (2, 3) \
            and all(type(x) is int for x in spec)
        if ok and len(spec) == 3:
            nb, cap, sb = spec
            ok = cap == 0 and 1 <= sb <= min(SUFFIX_BITS, b - 1) and nb == 1 << (b - sb)
        elif ok:
            nb, cap = spec
            if cap == 0:
                ok = nb == 1 << b
            else:
                ok = 1 <= nb <= min(rows, 1 << b) and cap >= 2 * nb and cap & (cap - 1) == 0
        if not ok:
            ck.fail(f"bad table spec {str(spec)[:80]} for a {b}-bit substring")
    sparse = any(len(spec) == 3 for spec in specs)
    tmeta, lens = _table_layout(specs)
    inline = meta.get("inline")
    if not isinstance(inline, bool):
        ck.fail("bad 'inline' entry")
    want = {name: (_TABLE_DTYPES[name], [lens[name]]) for name in lens}
    want["pos"] = ("<i4", [m, rows])
    want["tcodes"] = ("<u8", [m * rows * w if inline else 0])
    if sparse:
        want["sfx"] = ("|u1", [m, rows])
    sections = header["sections"]
    if not isinstance(sections, list) or len(sections) != len(want):
        ck.fail("bad section list")
    arrays, checks, spans = {}, [], []
    for sec in sections:
        if not isinstance(sec, dict) or sec.keys() != _SECTION_KEYS or sec["name"] not in want \
                or sec["name"] in arrays:
            ck.fail(f"bad section entry {str(sec)[:200]}")
        name = sec["name"]
        dtype, shape = want[name]
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        off = sec["offset"]
        if sec["dtype"] != dtype or sec["shape"] != shape or sec["nbytes"] != nbytes \
                or not isinstance(off, int) or off % _ALIGN \
                or off < _PREAMBLE.size + hlen or off + nbytes > size \
                or not isinstance(sec["crc32"], int):
            ck.fail(f"section {name!r} does not match the tables it describes")
        data = buf[off : off + nbytes]
        arrays[name] = (np.frombuffer(data, dtype=np.dtype(dtype)).reshape(shape) if nbytes
                        else np.zeros(shape, np.dtype(dtype)))
        checks.append((name, data, sec["crc32"]))
        spans.append((off, off + nbytes))
    spans.sort()
    if any(b0 < a1 for (_, a1), (b0, _) in zip(spans, spans[1:])):
        ck.fail("sections overlap")
    if header["file_size"] != size:
        ck.fail(f"file is {size} bytes, the header says {header['file_size']!r}")
    offs, hvals = arrays["offs"], arrays["hvals"]
    for j, spec in enumerate(specs):
        nb, cap = spec[0], spec[1]
        o = offs[tmeta[j, 1] : tmeta[j, 1] + nb + 1]
        if o[0] != 0 or o[-1] != rows:
            ck.fail(f"table {j}: offsets must run from 0 to {rows}")
        for a in range(0, nb, BUILD_CHUNK):
            if (np.diff(o[a : a + BUILD_CHUNK + 1]) < 0).any():
                ck.fail(f"table {j}: decreasing offsets")
        if cap:
            hv = hvals[tmeta[j, 2] : tmeta[j, 2] + cap]
            if hv.min() < -1 or hv.max() >= nb or not (hv < 0).any():
                ck.fail(f"table {j}: hash slots must name a bucket or be empty")
    main = (tmeta, offs, arrays["hkeys"], hvals, arrays["pos"], arrays["occ"],
            arrays["tcodes"], arrays.get("sfx", np.zeros((m, 0), np.uint8)))

    def run():
        for name, data, crc in checks:
            if _crc32(data) != crc:
                raise IndexFileError(f"{path}: section {name!r} is corrupted (checksum "
                                     "mismatch)")

    check = FileCheck(run, path)
    if verify is True:
        check.wait()
        check = None
    elif verify == "background":
        check.start()
    state = _State(codes, None, m, starts, lengths, main, _empty_segment(m), rows)
    return state, check
