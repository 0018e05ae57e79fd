"""The user-facing search engine: :class:`Index`."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, Iterable, Optional, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._backend import PAD_DISTANCE, get_num_threads
from .codes import as_words, check_nbits, n_words, words_to_bytes
from . import merges, rowbits
from ._checks import check_k, check_radius
from .features import FeatureStore
from .filters import check_filter
from .mih import rebased, state_nbytes
from .searchers import Planner, segment_knn, segment_range
from .results import (Fill, Method, Metric, RangeResult, RerankMode, RerankResult, SearchAPI,
                      SearchResult, Ties)
from .segment import Segment, SegmentView, Snapshot, merge_knn, merge_range

if TYPE_CHECKING:
    from .filters import IdFilter
    from .storage import FileCheck
    from .wal import WriteAheadLog

__all__ = ["Index", "PAD_DISTANCE", "METHODS", "MAX_ID"]

#: Search methods an :class:`Index` accepts.
METHODS = ("auto", "flat", "mih")
#: Largest id an index can hold (``int64`` max).
MAX_ID = int(np.iinfo(np.int64).max)
#: A segment is rewritten without its deleted rows (the growing one at once,
#: a sealed one by a merge) once more than this fraction of it is deleted.
COMPACT_FRACTION = 0.25
#: The growing segment is sealed once it holds this many rows (default of
#: ``Index(segment_rows=...)``).
SEGMENT_ROWS = 1 << 20
#: The keyword arguments of ``Index(nbits, ...)`` that the metadata records
#: (written by :meth:`Index.sections`); one absent from older metadata takes
#: the constructor's default.
_META_ARGS = ("method", "features_dtype", "m", "segment_rows", "background_merges")


def _id_keys(ids, name: str = "ids") -> tuple[np.ndarray, np.ndarray]:
    """Integer ids as ``(int64 keys, the original values)``; uint64 values
    past int64 get key ``-1``, and like negative ids it matches no stored id."""
    arr = np.atleast_1d(np.asarray(ids))
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must be integers, got dtype {arr.dtype}")
    arr = arr.ravel()
    if arr.dtype == np.uint64:
        big = arr > np.uint64(MAX_ID)
        keys = np.where(big, np.uint64(0), arr).astype(np.int64)
        keys[big] = -1
    else:
        keys = arr.astype(np.int64)
    return keys, arr


def default_ids(next_id: int, n: int) -> np.ndarray:
    """The default ids of an add of ``n`` codes: ``next_id, next_id + 1, ...``
    (OverflowError past the int64 maximum)."""
    if next_id + n - 1 > MAX_ID:
        raise OverflowError(
            f"cannot number {n} new codes: default ids continue from {next_id} "
            f"(one past the largest id ever added) and would pass the int64 maximum "
            f"{MAX_ID}; pass ids= explicitly"
        )
    return np.arange(next_id, next_id + n, dtype=np.int64)


def check_new_ids(ids, n: int) -> np.ndarray:
    """The checks of explicit ids for an add of ``n`` codes that need no
    index state (shape, integer dtype, int64 range, non-negative, no
    duplicates); returns them as a new int64 array."""
    arr = np.asarray(ids)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"ids must have shape ({n},) to match codes, got {arr.shape}")
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"ids must be integers, got dtype {arr.dtype}")
    if arr.dtype == np.uint64 and n and arr.max() > np.uint64(MAX_ID):
        raise ValueError(f"ids must fit in int64 (at most {MAX_ID}), got {int(arr.max())}")
    arr = arr.astype(np.int64, copy=True)
    if n == 0:
        return arr
    if arr.min() < 0:
        raise ValueError(f"ids must be non-negative, got {int(arr.min())}")
    srt = np.sort(arr)
    dup = srt[1:] == srt[:-1]
    if dup.any():
        raise ValueError(f"ids contains duplicates, e.g. {int(srt[1:][dup][0])}")
    return arr


def is_id(value) -> bool:
    """Whether ``value`` can be a stored id: an integer (not a bool) in
    ``0 .. MAX_ID``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        return False
    return 0 <= int(value) <= MAX_ID


def _padded(nq: int, k: int, n: int, dtype, fill):
    """An ``(nq, k)`` result array filled with ``fill``; a clear error when
    ``k`` makes it impossible to allocate."""
    try:
        return np.full((nq, k), fill, dtype=dtype)
    except (MemoryError, ValueError) as exc:
        nbytes = nq * k * np.dtype(dtype).itemsize
        msg = (f"k={k}: the result of {nq} queries x k={k} ({nbytes:,} bytes for one "
               f"output array) cannot be allocated; the index holds {n} codes, so any "
               f"k above {n} only adds padding")
        raise (MemoryError if isinstance(exc, MemoryError) else ValueError)(msg) from exc


def pad_knn(D: np.ndarray, I: np.ndarray, k: int, n: int, d_fill=PAD_DISTANCE):
    """Widen k-NN results ``(nq, k') -> (nq, k)`` with padding (id ``-1``)."""
    nq, have = I.shape
    if have == k:
        return D, I
    outD = _padded(nq, k, n, D.dtype, d_fill)
    outI = _padded(nq, k, n, np.int64, -1)
    outD[:, :have] = D
    outI[:, :have] = I
    return outD, outI


class Index(SearchAPI):
    """Exact k-nearest-neighbour and radius search over binary codes.

    Parameters
    ----------
    nbits : int
        Code length in bits, a positive multiple of 8.
    method : {"auto", "flat", "mih"}, default "auto"
        Search method.  ``"flat"`` scans every code with the popcount kernel.
        ``"mih"`` keeps multi-index hash tables (Norouzi et al.; see
        :mod:`hamsearch.mih`) and searches them: sub-linear on codes that are
        not uniformly random.  ``"auto"`` picks flat or MIH for each call
        with the cost model of :class:`hamsearch.mih.AutoRule` (flat below
        20,000 codes, for k >= n, and when the radius or the sampled k-th
        neighbour distance is too large for the tables to pay off), building
        the tables the first time MIH wins.  Every method is exact: the
        results are the true nearest codes, ties broken by ascending id.
    m : int, optional
        Number of substrings of the multi-index tables (``"mih"`` and
        ``"auto"``).  Default: ``ceil(nbits / log2(n))``, re-picked when the
        index grows or shrinks by a factor of 2; see :attr:`m`.
    features_dtype : {"float32", "float16"}, default "float32"
        Storage of the float features given to :meth:`add` for re-ranking
        (``float16`` halves their memory); see :mod:`hamsearch.features`.
    segment_rows : int, default 2**20
        The growing segment (which takes the adds) is sealed once it holds
        this many rows; an add of more rows at once makes one segment of
        them all.  See *Segments* below.
    background_merges : bool, default True
        Merge sealed segments in a worker thread (see
        :mod:`hamsearch.merges`); ``False`` merges inside the call that
        made a merge necessary.
    inline_codes : bool, optional
        Whether the multi-index tables keep a copy of the codes in each
        table's order (faster bucket verification, ``m * 8 * words`` more
        bytes per code).  Default: see :class:`hamsearch.mih.MultiIndexTables`.

    Attributes
    ----------
    nbits : int
        Code length.
    ntotal : int
        Number of stored codes (also ``len(index)``).

    Notes
    -----
    *Ids* are external ``int64`` labels, non-negative and unique.  When
    :meth:`add` gets no ids, it numbers the codes sequentially from one past
    the largest id the index has ever held (``0`` for a new index).

    *Deletes*: :meth:`remove` marks codes deleted (tombstones) without
    copying anything; searches skip them, and the rows are dropped once more
    than a quarter are deleted, by :meth:`compact`, or in a saved file.
    :meth:`upsert` replaces codes by id.  :meth:`stats` reports the counts.

    *Segments*: the codes live in sealed segments (immutable, each with its
    own multi-index tables and id lookup; ids stored as a range when they
    are sequential) and one growing segment; searches merge the segments'
    exact results (distance, then id), and small or much-deleted segments
    are merged in the background.  :meth:`stats` and :meth:`segments`
    describe them; :meth:`compact` merges everything into one.

    *Persistence*: :meth:`save` writes one file, or an index directory
    written incrementally (:mod:`hamsearch.directory`);
    ``hamsearch.open(dir, wal=True)`` adds a write-ahead log so that every
    acknowledged mutation survives a crash (:mod:`hamsearch.durable`).

    *Filters*: :meth:`search` and :meth:`range_search` take
    ``filter=hamsearch.IdFilter...`` (see :mod:`hamsearch.filters`).

    *Padding*: when a query has fewer than ``k`` results, the missing slots
    hold id ``-1`` and distance ``PAD_DISTANCE`` (``2**31 - 1``), larger than
    any real Hamming distance -- FAISS pads the same way.

    *Thread safety*: every read (:meth:`search`, :meth:`range_search`,
    hierarchical search, ``in``, :meth:`reconstruct`,
    :meth:`reconstruct_features`, :attr:`ids`, :attr:`codes`, ``len``,
    :meth:`plan`, :meth:`save`) works on one published, immutable snapshot
    of the index taken when the call starts, so reads may run concurrently
    with each other and with :meth:`add` / :meth:`remove` / :meth:`reset`
    and see the index either wholly before or wholly after each mutation.
    Mutations are serialised by an internal lock.  The kernels release the
    GIL and use ``hamsearch.get_num_threads()`` threads.  See
    ``docs/reliability.md``.

    Examples
    --------
    >>> import numpy as np, hamsearch
    >>> rng = np.random.default_rng(0)
    >>> db = rng.integers(0, 256, size=(10_000, 8), dtype=np.uint8)  # 64-bit codes
    >>> index = hamsearch.Index(nbits=64)
    >>> index.add(db)
    >>> D, I = index.search(db[:2], k=4)
    >>> D.shape, I.dtype
    ((2, 4), dtype('int64'))
    >>> int(D[0, 0]), int(I[0, 0])
    (0, 0)
    """

    def __init__(self, nbits: int, method: Method = "auto",
                 features_dtype: Union[str, np.dtype, type] = "float32", m: Optional[int] = None,
                 *, segment_rows: int = SEGMENT_ROWS, background_merges: bool = True,
                 inline_codes: bool | None = None) -> None:
        self._nbits = check_nbits(nbits)
        if not isinstance(method, str) or method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        if isinstance(segment_rows, bool) or not isinstance(segment_rows, (int, np.integer)) \
                or segment_rows < 1:
            raise ValueError(f"segment_rows must be a positive int, got {segment_rows!r}")
        self._method = method
        self._segment_rows = int(segment_rows)
        if inline_codes is not None and not isinstance(inline_codes, bool):
            raise TypeError(f"inline_codes must be True, False or None, got {inline_codes!r}")
        self._planner = Planner(self._nbits, method, m, inline_codes)  # searchers per segment
        self._features = FeatureStore(features_dtype)  # the growing segment's features
        self._lock = threading.RLock()
        self._nw = n_words(self._nbits)
        self._filecheck = None  # set by hamsearch.load: the file's pending verification
        self._merges = merges.MergeScheduler(self, background_merges)
        self._wal = None  # set by hamsearch.open(..., wal=True)
        self._wal_seq = 0  # the last log record applied (kept by reset(): it is logged)
        self._wal_home = None  # the directory the log belongs to
        self._save_lock = threading.Lock()
        self._reset_storage()

    # ------------------------------------------------------------------ state
    # Mutable state is touched only under ``_lock``: the sealed segments'
    # current views (``_sealed``), the growing segment's buffers
    # (``_codes_buf``, ``_ids_buf``, ``_n``, ``_features``) and tombstones
    # (``_dead``, ``_ndead``), ``_next_id``.  Readers use ``_view()``.
    def _reset_storage(self):
        self._sealed: list[SegmentView] = []
        self._next_id = 0
        self._features.reset()
        self._new_growing()
        self._publish()

    def _new_growing(self) -> None:
        """Start an empty growing segment (call under the lock)."""
        self._codes_buf = np.zeros((0, self._nw), dtype=np.uint64)
        self._ids_buf = np.zeros(0, dtype=np.int64)
        self._n = 0
        self._ids_ascending = True
        self._dead = None  # tombstone bitmap (uint64, ceil(n / 64) words) or None
        self._ndead = 0
        self._features.detach(0)
        self._planner.growing.reset()
        self._growing = None

    def _publish(self, rows_kept: bool = False) -> None:
        """Publish a new snapshot (one attribute store); call under the lock.

        ``rows_kept``: the growing segment's rows of the previous snapshot
        are unchanged (an append or a tombstone): its id lookup and cost
        model sample are carried.
        """
        n = self._n
        views = list(self._sealed)
        if n:
            codes, ids = self._codes_buf[:n], self._ids_buf[:n]
            seg = Segment(codes, ids, self._features.view(n), sealed=False,
                          ids_ascending=self._ids_ascending,
                          name=None if self._growing is None else self._growing.name)
            prev = self._growing
            if prev is not None and rows_kept:
                seg.lookup_cache, seg.sample = prev.lookup_cache, prev.sample
            seg.mih = self._planner.growing.published(codes, ids)
            seg.tables_builder = self._growing_tables
            dead = self._dead
            if dead is not None and dead.shape[0] != rowbits.words_for(n):
                dead = self._dead = rowbits.with_rows(dead, n)
            views.append(SegmentView(seg, dead, self._ndead))
            self._growing = seg
        else:
            self._growing = None
        self._snap = Snapshot(views, self._next_id, self._features.enabled, self._features.d,
                              self._wal_seq)

    def _growing_tables(self, seg: Segment):
        """Build the growing segment's tables the first time the planner
        picks MIH for it: attached under the lock to the published state
        ``seg`` only if it still is the current one (else None: that search
        scans, later ones find the tables on the newer state)."""
        with self._lock:
            cur = self._growing
            if cur is not None and cur.mih is None:
                cur.mih = self._planner.growing.build_now(cur.codes, cur.ids)
            return cur.mih if cur is seg else None

    def _view(self) -> Snapshot:
        """The published snapshot a read call works on (taken once per call)."""
        check = self._filecheck
        if check is not None:
            check.raise_if_failed()
        return self._snap

    @property
    def nbits(self) -> int:
        """Code length in bits."""
        return self._nbits

    @property
    def method(self) -> str:
        """Search method requested at construction."""
        return self._method

    @property
    def m(self) -> int:
        """Substrings of the multi-index tables of the largest segment (in
        use, or that MIH would use for it now)."""
        views = self._snap.views
        if not views:
            return self._planner.growing.planned_m(0)
        return self._planner.m_for(max(views, key=lambda v: v.n).seg)

    @property
    def segment_rows(self) -> int:
        """Rows at which the growing segment is sealed."""
        return self._segment_rows

    @property
    def ntotal(self) -> int:
        """Number of codes in the index."""
        return self._view().live

    def __len__(self) -> int:
        return self._view().live

    @property
    def codes(self) -> NDArray[np.uint64]:
        """Stored codes as read-only packed uint64 words ``(ntotal, ceil(nbits/64))``,
        in storage order (segment by segment; a copy unless the index is one
        segment without deleted rows)."""
        view = self._view().concat("codes")
        if view is None:
            view = np.zeros((0, self._nw), dtype=np.uint64)
        view = view.view()
        view.flags.writeable = False
        return view

    @property
    def ids(self) -> NDArray[np.int64]:
        """Stored ids in storage order, read-only ``int64 (ntotal,)`` (aligned with :attr:`codes`)."""
        view = self._view().concat("ids")
        if view is None:
            view = np.zeros(0, dtype=np.int64)
        view = view.view()
        view.flags.writeable = False
        return view

    @property
    def nbytes(self) -> int:
        """Bytes held by the codes, ids, features, tombstones and MIH tables.

        Sealed segments count their arrays (segments with sequential ids
        store none); the growing segment counts its allocated capacity.
        Multi-index tables are built at the first search that uses them, so
        an ``"mih"`` / ``"auto"`` index grows by their size then.
        """
        snap = self._snap
        total = 0
        for v in snap.views:
            seg = v.seg
            if seg.sealed:
                total += seg.nbytes + state_nbytes(seg.mih)
            total += 0 if v.dead is None else int(v.dead.nbytes)
        return int(total + self._codes_buf.nbytes + self._ids_buf.nbytes
                   + self._features.nbytes + self._planner.growing.nbytes)

    def __repr__(self) -> str:
        return (f"hamsearch.Index(nbits={self._nbits}, method={self._method!r}, "
                f"ntotal={self._snap.live})")

    # ------------------------------------------------------------- validation
    def _query_words(self, queries, name="queries") -> np.ndarray:
        return as_words(queries, self._nbits, name)

    def _check_ids(self, ids, n: int, allow_present: bool = False) -> np.ndarray:
        """Ids for an add of ``n`` codes (call under the lock)."""
        snap = self._snap
        if ids is None:
            return default_ids(self._next_id, n)
        arr = check_new_ids(ids, n)
        if not allow_present and n and snap.live and arr.min() <= snap.max_id():
            which, _ = snap.locate(arr)
            if (which >= 0).any():
                raise ValueError(
                    f"ids already in the index, e.g. {int(arr[which >= 0][0])}"
                )
        return arr

    @staticmethod
    def _stored_rows(snap: Snapshot, ids) -> tuple[np.ndarray, np.ndarray]:
        """``(view index, row)`` of ``ids`` (any integer array) in ``snap``; KeyError if one is absent."""
        keys, values = _id_keys(ids)
        which, rows = snap.locate(keys)
        if (which < 0).any():
            raise KeyError(f"id {int(values[which < 0][0])} is not in the index")
        return which, rows

    # --------------------------------------------------------------- mutation
    #: Fraction of deleted rows past which a segment is rewritten (see :meth:`remove`).
    compact_fraction = COMPACT_FRACTION

    def add(self, codes: ArrayLike, ids: Optional[ArrayLike] = None,
            features: Optional[ArrayLike] = None) -> None:
        """Add codes to the index.

        Parameters
        ----------
        codes : array_like
            Packed uint8 ``(n, nbits/8)`` (FAISS layout), packed uint64
            ``(n, ceil(nbits/64))`` or unpacked 0/1 / bool ``(n, nbits)``.
        ids : array_like of int, shape (n,), optional
            Non-negative unique ids not already in the index.  Default:
            sequential from one past the largest id ever added.
        features : array_like of float, shape (n, d), optional
            One float vector per code, kept for re-ranking (see
            :meth:`search`), stored as ``features_dtype``.  Give features with
            every add or with none; ``d`` is fixed by the first add (see
            :mod:`hamsearch.features`).

        Raises
        ------
        TypeError, ValueError
            Bad dtype or width, bad or duplicate ids, bad features (integer
            dtype, wrong shape or dimension, NaN/inf, given for some adds and
            not others).  The index is unchanged.
        OverflowError
            Default ids would pass the int64 maximum (pass ``ids=``).
        """
        words = as_words(codes, self._nbits, "codes")
        n = words.shape[0]
        feats = self._features.convert(features, n)
        with self._lock:
            self._view()
            new_ids = self._check_ids(ids, n)
            self._features.check(feats, n)
            if n == 0:
                return
            self._log("add", words, new_ids, feats)
            self._append(words, new_ids, feats)

    def _log(self, op: str, words=None, ids=None, feats=None) -> None:
        """Append an acknowledged mutation to the write-ahead log (if any),
        before it is applied; call under the lock after validation."""
        wal = self._wal
        if wal is None:
            return
        arrays = {}
        if words is not None:
            arrays["codes"] = words
        if ids is not None:
            arrays["ids"] = ids
        if feats is not None:
            arrays["features"] = feats
        self._wal_seq = wal.append(op, arrays)

    def _append(self, words: np.ndarray, new_ids: np.ndarray, feats=None,
                publish: bool = True) -> None:
        n = words.shape[0]
        need = self._n + n
        self._features.reserve(self._n, need, feats)  # before any change
        if need > self._codes_buf.shape[0] or not self._codes_buf.flags.writeable:
            cap = need if self._n == 0 else max(need, int(self._codes_buf.shape[0] * 1.5) + 16)
            codes_buf = np.empty((cap, self._nw), dtype=np.uint64)
            ids_buf = np.empty(cap, dtype=np.int64)
            codes_buf[: self._n] = self._codes_buf[: self._n]
            ids_buf[: self._n] = self._ids_buf[: self._n]
            self._codes_buf, self._ids_buf = codes_buf, ids_buf
        # Rows past self._n belong to no published snapshot: writing them in
        # place is invisible to running reads.
        self._codes_buf[self._n : need] = words
        self._ids_buf[self._n : need] = new_ids
        self._features.write(self._n, feats)
        if self._ids_ascending:
            last = self._ids_buf[self._n - 1] if self._n else -1
            self._ids_ascending = bool(
                new_ids[0] > last and (n == 1 or (np.diff(new_ids) > 0).all())
            )
        self._next_id = max(self._next_id, int(new_ids.max()) + 1)
        self._n = need
        if self._n >= self._segment_rows:
            self._seal()
            if publish:
                self._publish()
                self._merges.request()
            return
        if publish:
            self._publish(rows_kept=True)

    def _seal(self) -> None:
        """Turn the growing segment into a sealed one (call under the lock;
        publish after).  Its deleted rows are dropped, its buffers trimmed,
        its tables kept when they are in sync."""
        n = self._n
        if n == 0:
            return
        codes, ids = self._codes_buf[:n], self._ids_buf[:n]
        tables = None if self._ndead else self._planner.growing.detach(codes, ids)
        feats = self._features.detach(n)
        if self._ndead:
            keep = ~rowbits.to_mask(self._dead, n)
            codes, ids = codes[keep], ids[keep]
            feats = None if feats is None else feats[keep]
            tables = None
        elif self._codes_buf.shape[0] > n:  # trim the growth capacity
            codes, ids = codes.copy(), ids.copy()
        if tables is not None:
            tables = rebased(tables, codes)
        prev = self._growing
        seg = Segment.from_rows(codes, ids, feats, sealed=True,
                                name=None if prev is None else prev.name)
        if seg.n:
            seg.mih = tables
            if prev is not None and prev.n == seg.n:
                seg.sample = prev.sample
            self._sealed.append(SegmentView(seg))
        self._new_growing()

    def flush(self) -> None:
        """Seal the growing segment now (a save to a directory does it)."""
        with self._lock:
            self._view()
            if self._n:
                self._seal()
                self._publish()
                self._merges.request()

    def remove(self, ids: ArrayLike) -> int:
        """Remove codes by id.

        Parameters
        ----------
        ids : array_like of int
            Ids to remove; ids not in the index are ignored.

        Returns
        -------
        int
            Number of codes removed.

        Notes
        -----
        A removal marks the rows deleted in their segment's tombstone bitmap
        (a copy of the segment's ``n / 8`` bytes, published with the new
        snapshot); codes, ids, features and multi-index tables stay as they
        are, and every search skips the deleted rows.  Once more than
        ``COMPACT_FRACTION`` (1/4) of a segment is deleted, it is rewritten
        without them: the growing segment at once, a sealed one by a merge
        (see :mod:`hamsearch.merges`); :meth:`compact` does it on demand.
        """
        arr = np.atleast_1d(np.asarray(ids))
        if arr.ndim != 1:
            raise ValueError(f"ids must be 1-D, got shape {arr.shape}")
        if arr.size == 0:
            return 0
        keys, _ = _id_keys(arr)
        with self._lock:
            which, rows = self._present(self._view(), keys)
            if which.size == 0:
                return 0
            self._log("remove", ids=np.unique(keys[keys >= 0]))
            self._tombstone(which, rows)
            self._publish_after_delete()
            return int(which.size)

    @staticmethod
    def _present(snap: Snapshot, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(view index, row)`` of the live codes with ids ``keys``, each once."""
        which, rows = snap.locate(np.unique(keys))
        hit = which >= 0
        return which[hit], rows[hit]

    def _publish_after_delete(self) -> None:
        """Publish after tombstoning: the growing segment is compacted first
        once past ``COMPACT_FRACTION``, sealed ones are left to a merge."""
        if self._ndead > self.compact_fraction * self._n:
            self._compact_growing()
            self._publish()
        else:
            self._publish(rows_kept=True)
        self._merges.request()

    def _tombstone(self, which: np.ndarray, rows: np.ndarray) -> None:
        """Mark ``rows`` of the snapshot's views ``which`` deleted (copy-on-write
        bitmaps; the snapshot's views are ``_sealed`` then the growing one)."""
        nsealed = len(self._sealed)
        for v_i in np.unique(which):
            r = rows[which == v_i]
            if v_i < nsealed:
                self._sealed[v_i] = self._sealed[v_i].with_dead(r)
            else:
                self._dead = rowbits.with_rows(self._dead, self._n, r)
                self._ndead += int(r.size)

    def _compact_growing(self) -> None:
        """Drop the growing segment's deleted rows (new arrays: running reads
        keep their snapshot)."""
        if not self._ndead:
            return
        keep = ~rowbits.to_mask(self._dead, self._n)
        self._features.compact(self._n, keep)  # largest allocation first
        self._codes_buf = self._codes_buf[: self._n][keep]
        self._ids_buf = self._ids_buf[: self._n][keep]
        self._n = int(keep.sum())
        n = self._n
        self._ids_ascending = bool(n < 2 or (np.diff(self._ids_buf[:n]) > 0).all())
        self._dead = None
        self._ndead = 0
        self._planner.growing.invalidate()

    def compact(self) -> int:
        """Drop the rows of removed codes now and merge every segment into one.

        The growing segment is sealed and merged with the sealed ones (like
        Lucene's ``forceMerge(1)``); searches keep running on the previous
        snapshot meanwhile, and removes made during the merge are carried
        over.

        Returns
        -------
        int
            Rows dropped.
        """
        with self._lock:
            snap = self._view()
            dropped = snap.ndead
            if self._n and (self._sealed or self._ndead):
                self._seal()
                self._publish()
        while True:
            with self._lock:
                views = self._sealed
                if len(views) <= 1 and not any(v.ndead for v in views):
                    break
            self._merges.merge_once(run=(0, len(views)))
        return int(dropped)

    def wait_for_merges(self, timeout: float | None = None) -> bool:
        """Wait until no background merge is running; True when none is."""
        return self._merges.wait(timeout)

    def upsert(self, codes: ArrayLike, ids: ArrayLike,
               features: Optional[ArrayLike] = None) -> int:
        """Add codes, replacing those already stored under the same ids.

        One published step: a concurrent read sees either none or all of the
        batch, and never an id twice or missing.

        Parameters
        ----------
        codes : array_like
            As for :meth:`add`.
        ids : array_like of int, shape (n,)
            Non-negative, unique within the batch (required).
        features : array_like of float, shape (n, d), optional
            As for :meth:`add`.

        Returns
        -------
        int
            How many of the ids were already present (and replaced).
        """
        if ids is None:
            raise ValueError("upsert needs ids= (the ids to add or replace)")
        words = as_words(codes, self._nbits, "codes")
        n = words.shape[0]
        feats = self._features.convert(features, n)
        with self._lock:
            snap = self._view()
            new_ids = self._check_ids(ids, n, allow_present=True)
            self._features.check(feats, n)
            if n == 0:
                return 0
            self._log("upsert", words, new_ids, feats)
            which, rows = self._present(snap, new_ids)
            if which.size:
                self._tombstone(which, rows)
            self._append(words, new_ids, feats, publish=False)
            self._publish_after_delete()
            return int(which.size)

    def stats(self) -> dict[str, Any]:
        """Counts and sizes: codes, stored rows, deleted rows awaiting
        compaction and their fraction, bytes held, method, segments."""
        snap = self._view()
        return {
            "ntotal": snap.live,
            "rows": snap.n,
            "deleted": snap.ndead,
            "deleted_fraction": snap.ndead / snap.n if snap.n else 0.0,
            "nbytes": self.nbytes,
            "method": self._method,
            "mih_tables": any(v.seg.mih is not None for v in snap.views),
            "mih_nbytes": sum(state_nbytes(v.seg.mih) for v in snap.views),
            "features_dim": self.features_dim,
            "segments": len(snap.views),
            "sealed_segments": sum(v.seg.sealed for v in snap.views),
            "growing_rows": self._n,
            "merges": self._merges.merges_done,
            "wal_seq": snap.wal_seq,
        }

    def segments(self) -> list[dict[str, Any]]:
        """One dict per segment of the current snapshot, in storage order:
        name, sealed, rows, deleted, ids stored as a range, tables built, bytes."""
        out = []
        for v in self._view().views:
            seg = v.seg
            out.append({"name": seg.name, "sealed": seg.sealed, "rows": seg.n,
                        "deleted": v.ndead, "id_range": seg.is_range,
                        "mih_tables": seg.mih is not None,
                        "nbytes": seg.nbytes + state_nbytes(seg.mih)})
        return out

    def reset(self) -> None:
        """Remove every code (the id counter restarts at 0).

        An index loaded from a file forgets the file (and its data check).
        """
        with self._lock:
            self._log("reset")
            self._filecheck = None
            self._reset_storage()

    # ----------------------------------------------------------------- access
    def __contains__(self, id_: object) -> bool:
        """True when ``id_`` is an integer id stored in the index.

        Only integers match (``int``, numpy integers); ``62.5``, ``"62"`` or
        ``True`` are never ids.
        """
        if not is_id(id_):
            return False
        snap = self._view()
        return bool(snap.locate(np.array([int(id_)], dtype=np.int64))[0][0] >= 0)

    def reconstruct(self, ids: ArrayLike) -> NDArray[np.uint8]:
        """Return the stored codes of ``ids`` as packed uint8 ``(n, nbits/8)``.

        Raises
        ------
        KeyError
            If an id is not in the index.
        """
        snap = self._view()
        which, rows = self._stored_rows(snap, ids)
        if len(rows) == 0:
            return words_to_bytes(np.zeros((0, self._nw), np.uint64), self._nbits)
        return words_to_bytes(snap.gather(which, rows, "codes"), self._nbits)

    def reconstruct_features(self, ids: ArrayLike) -> NDArray[np.floating[Any]]:
        """Return the stored features of ``ids``, shape ``(n, d)``, in the
        storage dtype (``features_dtype``).

        Raises
        ------
        KeyError
            If an id is not in the index.
        ValueError
            If the index holds no features.
        """
        snap = self._view()
        if not snap.features_enabled or snap.live == 0:
            raise ValueError("this index holds no features (add them with index.add(..., features=X))")
        which, rows = self._stored_rows(snap, ids)
        if len(rows) == 0:
            return np.zeros((0, snap.features_d), dtype=self._features.dtype)
        return snap.gather(which, rows, "features")

    @property
    def features(self) -> Optional[NDArray[np.floating[Any]]]:
        """Stored features of the live codes in storage order (aligned with
        :attr:`codes`), read-only, or ``None`` when the index holds none."""
        snap = self._view()
        if not snap.features_enabled:
            return None
        view = snap.concat("features")
        if view is None:
            return None
        view = view.view()
        view.flags.writeable = False
        return view

    @property
    def features_dim(self) -> Optional[int]:
        """Dimension of the stored features (``None`` when there are none)."""
        snap = self._snap
        return snap.features_d if snap.features_enabled else None

    # ----------------------------------------------------------------- search
    def snapshot(self) -> Snapshot:
        """The current published state: an immutable
        :class:`hamsearch.segment.Snapshot` (its segment views, in storage
        order).  For extensions that search segments themselves (see
        :mod:`hamsearch.searchers`); the index's own reads each take one."""
        return self._view()

    @property
    def planner(self) -> Planner:
        """The :class:`hamsearch.searchers.Planner` that picks each segment's searcher."""
        return self._planner

    def _knn(self, queries: ArrayLike, k: int, filter: Optional[IdFilter]) -> SearchResult:
        """The exact Hamming k-NN of :meth:`search` (``SearchAPI`` dispatches)."""
        q = self._query_words(queries)
        k = check_k(k)
        flt = check_filter(filter)
        snap = self._view()
        nthreads = get_num_threads()
        parts = []
        if q.shape[0]:
            for view in snap.views:
                res = segment_knn(view, q, k, self._planner, nthreads, flt)
                if res is not None:
                    parts.append(res)
        if not parts:
            return SearchResult(_padded(q.shape[0], k, snap.live, np.int32, PAD_DISTANCE),
                                _padded(q.shape[0], k, snap.live, np.int64, -1))
        D, I = merge_knn(parts, k)
        return SearchResult(*pad_knn(D, I, k, snap.live))

    def hierarchical_search(self, queries: ArrayLike, k: int, query_features: ArrayLike, *,
                            pool_radius: Optional[int] = None, pool_size: Optional[int] = None,
                            metric: Metric = "l2", rerank: RerankMode = "pool",
                            fill: Fill = "grow", ties: Ties = "include",
                            filter: Optional[IdFilter] = None) -> RerankResult:
        """Hierarchical search (Lin et al. 2015): a Hamming candidate pool
        per query, re-ranked by exact distance on the stored features.

        Parameters
        ----------
        queries : array_like
            Query codes in any accepted layout.
        k : int
            Results per query.
        query_features : array_like of float, shape (nq, d)
            The queries' features, compared with those given to :meth:`add`.
        pool_radius : int, optional
            Pool = every code within this Hamming distance (inclusive).
        pool_size : int, optional
            Pool = the ``pool_size`` nearest codes by Hamming distance (the
            boundary: see ``ties``).  Give ``pool_radius`` or ``pool_size``
            (not both); ``rerank="bucket"`` needs neither.
        metric : {"l2", "ip"}, default "l2"
            Re-rank by squared Euclidean distance (ascending) or inner
            product (descending).
        rerank : {"pool", "bucket"}, default "pool"
            ``"pool"``: order the pool by feature distance.  ``"bucket"``:
            order by Hamming distance, then by feature distance within each
            Hamming bucket.
        fill : {"grow", "none"}, default "grow"
            When a pool holds fewer than ``k`` codes: grow its radius until it
            holds ``k``, or return fewer (padded).
        ties : {"include", "cut"}, default "include"
            ``pool_size`` boundary: keep every code tied with the last one,
            or exactly ``pool_size`` codes, boundary ties cut by ascending id.
        filter : hamsearch.IdFilter, optional
            Pools (and so results) hold only admitted ids.

        Returns
        -------
        RerankResult
            ``(distances, ids, hamming)``: float32 feature scores (``+inf``
            pads; ``-inf`` for ``"ip"``), int64 ids (``-1`` pads), int32
            Hamming distances (``PAD_DISTANCE`` pads), each ``(nq, k)``.

        Examples
        --------
        >>> import numpy as np, hamsearch
        >>> rng = np.random.default_rng(0)
        >>> X = rng.standard_normal((1000, 32)).astype(np.float32)
        >>> index = hamsearch.Index(64)
        >>> index.add(hamsearch.pack(X @ rng.standard_normal((32, 64)) > 0), features=X)
        >>> res = index.hierarchical_search(index.reconstruct([7]), 3, X[7:8], pool_size=50)
        >>> int(res.ids[0, 0]), float(res.distances[0, 0]), int(res.hamming[0, 0])
        (7, 0.0, 0)
        """
        from .rerank import hierarchical_search

        return hierarchical_search(  # type: ignore[return-value]
            self, queries, k, query_features, pool_radius=pool_radius, pool_size=pool_size,
            metric=metric, rerank=rerank, fill=fill, ties=ties, return_hamming=True,
            filter=filter)

    def plan(self, k: int | None = None, radius: int | None = None) -> str:
        """The method a search would run now on the largest segment:
        ``"flat"`` or ``"mih"`` (each segment is planned on its own; see
        :meth:`segments`).

        Parameters
        ----------
        k : int, optional
            For :meth:`search` with this ``k``.
        radius : int, optional
            For :meth:`range_search` with this radius.

        Notes
        -----
        With ``method="auto"`` the answer depends on the segment's size,
        ``nbits``, its codes, ``k`` / ``radius`` and the kernels in use (see
        :class:`hamsearch.mih.AutoRule`); when it is ``"mih"`` the tables are
        built now if they were not yet.
        """
        if (k is None) == (radius is None):
            raise ValueError("plan: give exactly one of k or radius")
        snap = self._view()
        if k is not None:
            want = {"k": min(check_k(k), max(snap.live, 1))}
        else:
            want = {"radius": check_radius(radius, self._nbits)}
        views = [v for v in snap.views if v.live]
        if not views:
            return "flat"
        view = max(views, key=lambda v: v.n)
        return self._planner.searcher_for(view, selection=view.selection(), **want).name

    def range_search(self, queries: ArrayLike, radius: int, *,
                     filter: Optional[IdFilter] = None) -> RangeResult:
        """All codes within Hamming distance ``radius`` (inclusive) of each query.

        Parameters
        ----------
        queries : array_like
            Query codes in any accepted layout.
        radius : int
            Inclusive bound: results have ``distance <= radius``.  (FAISS's
            ``range_search`` is strict, ``distance < radius``: pass
            ``radius - 1`` here for the same results.)
        filter : hamsearch.IdFilter, optional
            Return only admitted ids (see :meth:`search`).

        Returns
        -------
        RangeResult
            ``(lims, distances, ids)``, a named tuple in CSR layout: the
            results of query ``i`` are ``distances[lims[i]:lims[i+1]]``
            (int32, ascending) and ``ids[lims[i]:lims[i+1]]`` (int64, ties
            broken by ascending id); ``result.query(i)`` slices them.
        """
        q = self._query_words(queries)
        radius = check_radius(radius, self._nbits)
        flt = check_filter(filter)
        snap = self._view()
        nthreads = get_num_threads()
        parts = []
        for view in snap.views:
            res = segment_range(view, q, radius, self._planner, nthreads, flt)
            if res is not None:
                parts.append(res)
        if not parts:
            return RangeResult(np.zeros(q.shape[0] + 1, np.int64), np.zeros(0, np.int32),
                               np.zeros(0, np.int64))
        return RangeResult(*merge_range(parts, q.shape[0]))

    # ------------------------------------------------------------ persistence
    def save(self, path: Union[str, "os.PathLike[str]"], *,
             directory: bool | None = None) -> Optional[dict[str, Any]]:
        """Save the index to ``path``: one file, or an index directory.

        Parameters
        ----------
        path : str or os.PathLike
            A file (written atomically; see :func:`hamsearch.storage.save_sections`
            for the rules: temporary file, fsync, rename, file mode,
            symlinks), or a directory.
        directory : bool, optional
            Write the directory format (see :mod:`hamsearch.directory`):
            default when ``path`` is an existing directory.  A directory save
            seals the growing segment and writes only what the directory
            lacks -- new segments and new tombstone versions -- then the
            manifest, then removes the files it no longer names; with a
            write-ahead log the log is checkpointed after it.

        Returns
        -------
        dict or None
            For a directory: what was written (segments, tombstone files,
            bytes, files removed).

        Notes
        -----
        Written from one snapshot, without holding the index lock: adds and
        removes may run meanwhile (the saved index is the index as it was
        when the save started).
        """
        if directory is None:
            directory = os.path.isdir(os.fspath(path))
        if not directory:
            from .storage import save_sections

            save_sections(path, *self.sections())  # one snapshot
            return None
        with self._save_lock:  # one directory save at a time (they share temp names)
            return self._save_directory(path)

    def _save_directory(self, path):
        import os

        from .directory import save_directory
        from .durable import WAL_DIR

        wal = self._wal
        if wal is not None and os.path.realpath(os.fspath(path)) == self._wal_home:
            report = save_directory(self, path)
            wal.checkpoint(report["wal_seq"])
            return report
        log_dir = os.path.join(os.fspath(path), WAL_DIR)
        if not os.path.isdir(log_dir):
            return save_directory(self, path, wal_seq=0)
        # another index's log lives there: the saved state supersedes its
        # records (the log is locked meanwhile: refused while in use)
        from .wal import WriteAheadLog

        with WriteAheadLog.open(log_dir, fsync="always") as foreign:
            report = save_directory(self, path, wal_seq=foreign.last_seq)
            foreign.checkpoint(foreign.last_seq)
        return report

    def wal_files(self) -> int:
        """Files of the write-ahead log (0 without one)."""
        wal = self._wal
        if wal is None:
            return 0
        import os

        return sum(n.startswith("wal-") and n.endswith(".log") for n in os.listdir(wal.directory))

    def attach_log(self, log: WriteAheadLog, directory: Union[str, "os.PathLike[str]"],
                   seq: int) -> None:
        """Start logging every mutation to ``log`` (a
        :class:`hamsearch.wal.WriteAheadLog` of ``directory``, whose records
        up to ``seq`` are in this index); :func:`hamsearch.open` calls it."""
        import os

        with self._lock:
            self._wal_seq = int(seq)
            self._wal = log
            self._wal_home = os.path.realpath(os.fspath(directory))
            self._publish(rows_kept=True)

    def close(self) -> None:
        """Close the write-ahead log (an index opened with ``wal=True``); the
        index stays usable, without logging."""
        with self._lock:
            wal, self._wal = self._wal, None
            if wal is not None:
                wal.close()

    def sections(self, snap: Snapshot | None = None, arrays: bool = True) -> tuple[dict, dict]:
        """Metadata and named arrays of one snapshot (default: the current
        one), as :func:`hamsearch.storage.save_sections` writes them
        (``arrays=False``: the metadata only).  The arrays are the live rows,
        segment by segment."""
        snap = self._view() if snap is None else snap
        meta = {
            "nbits": self._nbits,
            "method": self._method,
            "ntotal": snap.live,
            "next_id": int(snap.next_id),
            "m": self._planner.m_request,
            "features_dtype": self._features.dtype.name,
            "features_d": snap.features_d,
            "features_enabled": snap.features_enabled,
            "segment_rows": self._segment_rows,
            "background_merges": self._merges.background,
        }
        if not arrays:
            return meta, {}
        # the file holds the live rows only (deleted ones are dropped on save)
        empty_codes = np.zeros((0, self._nw), dtype=np.uint64)
        codes = snap.concat("codes")
        ids = snap.concat("ids")
        arrays = {"codes": empty_codes if codes is None else codes,
                  "ids": np.zeros(0, np.int64) if ids is None else ids}
        if snap.features_enabled:
            feats = snap.concat("features") if snap.live else None
            if feats is None:  # every row deleted: an empty section of the right shape
                feats = np.zeros((0, snap.features_d), dtype=self._features.dtype)
            arrays["features"] = feats
        return meta, arrays

    @classmethod
    def _from_meta(cls, meta: dict) -> "Index":
        """An empty index made with the constructor arguments that ``meta``
        records (``_META_ARGS``; an absent one takes its default) and its
        ``next_id``: what :meth:`from_sections` and :meth:`from_views` share."""
        index = cls(meta["nbits"], **{name: meta[name] for name in _META_ARGS if name in meta})
        index._next_id = int(meta["next_id"])
        return index

    @classmethod
    def from_sections(cls, meta: dict, arrays: dict, check: Optional[FileCheck] = None
                      ) -> "Index":
        """An index over validated :meth:`sections` output (arrays may be
        memmaps: they become one sealed segment, not copied).

        :func:`hamsearch.storage.read_sections` checks every field and shape
        first; ``check`` is its pending data check (see :meth:`verify`).
        """
        index = cls._from_meta(meta)
        n = int(meta["ntotal"])
        index._features.restore(meta, arrays, n)
        feats = index._features.detach(n)
        codes = arrays["codes"][:n]
        if n and "id_base" in meta:
            index._sealed = [SegmentView(Segment(codes, None, feats, meta["id_base"]))]
        elif n:
            seg = Segment.from_rows(codes, arrays["ids"][:n], feats, sealed=True)
            index._sealed = [SegmentView(seg)]
        index._filecheck = check
        index._publish()
        return index

    @classmethod
    def from_chunks(cls, chunks: Iterable[ArrayLike], nbits: int, n: Optional[int] = None,
                    **options: Any) -> "Index":
        """An index of one sealed segment built from code chunks with
        bounded extra memory (ids ``0 .. n-1``, tables built by a chunked
        counting sort): see :func:`hamsearch.streaming.from_chunks`."""
        from .streaming import from_chunks

        return from_chunks(chunks, nbits, n, **options)

    @classmethod
    def from_views(cls, meta: dict, views: Iterable[SegmentView], wal_seq: int = 0,
                   check: Optional[Any] = None) -> "Index":
        """An index over loaded segment views (:mod:`hamsearch.directory`);
        ``check``: their pending data checks."""
        index = cls._from_meta(meta)
        index._features.restore_layout(meta)
        index._sealed = [v for v in views if v.n]
        index._wal_seq = int(wal_seq)
        live = sum(v.live for v in index._sealed)
        if live != int(meta["ntotal"]):
            raise ValueError(f"the segments hold {live} live codes, the metadata says "
                             f"{meta['ntotal']}")
        if any(v.seg.max_id() >= index._next_id for v in index._sealed):
            raise ValueError("a segment holds an id at or above next_id")
        index._filecheck = check
        index._publish()
        return index

    def verify(self, timeout: float | None = None) -> None:
        """Wait for (or run) the check of the file this index was loaded from.

        ``hamsearch.load(path, mmap=True)`` checks the sections' CRC-32s and
        the codes' padding in a background thread (see :func:`hamsearch.load`);
        this waits for that check.  After ``load(..., verify=False)`` it runs
        the check now.  An index not loaded from a file has nothing to check.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait; ``TimeoutError`` if the check is still running.

        Raises
        ------
        hamsearch.storage.IndexFileError
            The file is corrupted (the index then refuses every call).
        """
        check = self._filecheck
        if check is not None:
            check.wait(timeout)

    def __getstate__(self):
        from .storage import dumps_sections

        return {"hamsearch_index": dumps_sections(*self.sections())}

    def __setstate__(self, state):
        from .durable import loads
        from .storage import IndexFileError

        if not isinstance(state, dict) or not isinstance(state.get("hamsearch_index"), bytes):
            raise IndexFileError("<pickle>: not a pickled hamsearch.Index")
        other = loads(state["hamsearch_index"])
        self.__dict__.update(other.__dict__)
        self._lock = threading.RLock()
        self._save_lock = threading.Lock()
        self._merges = merges.MergeScheduler(self, other._merges.background)
        self._publish()
