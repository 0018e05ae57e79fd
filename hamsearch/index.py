"""The user-facing search engine: :class:`Index`.

``Index`` is a facade over published snapshots of segments
(:mod:`hamsearch.segment`).  This module holds its construction, its state
(the sealed segments' views, the growing segment's buffers) and how a new
snapshot of them is published, and its properties.  The verbs live in the
mixins it inherits, one module a path:

* :mod:`hamsearch.mutation` -- ``add``, ``upsert``, ``remove``, ``reset``,
  ``flush``, ``compact`` (validation, lock, write-ahead log, growing segment);
* :mod:`hamsearch.reads` -- ``search`` (via :class:`~hamsearch.results.SearchAPI`),
  ``range_search``, ``hierarchical_search``, ``plan``, ``in``, ``reconstruct``;
* :mod:`hamsearch.persistence` -- ``save``, ``sections``, ``from_sections``,
  ``from_views``, the write-ahead log hook-up, ``verify``, pickling.

The id checks are in :mod:`hamsearch.ids`, the result padding in
:mod:`hamsearch.results`; the names other modules import from here are
re-exported.
"""

from __future__ import annotations

import threading
from typing import Any, Optional, Union

import numpy as np
from numpy.typing import NDArray

from ._backend import PAD_DISTANCE
from .codes import check_nbits, n_words
from . import merges, rowbits
from .features import FeatureStore
from .ids import MAX_ID, _id_keys, check_new_ids, default_ids, is_id  # noqa: F401 - re-exported
from .mih import state_nbytes
from .mutation import COMPACT_FRACTION, MutationMixin  # noqa: F401 - re-exported
from .persistence import PersistenceMixin
from .reads import ReadsMixin
from .results import Method, SearchAPI, _padded, pad_knn  # noqa: F401 - re-exported
from .searchers import Planner, search_method, search_methods
from .segment import Segment, SegmentView, Snapshot

__all__ = ["Index", "PAD_DISTANCE", "METHODS", "MAX_ID"]

#: The built-in search methods (:func:`hamsearch.searchers.search_methods`
#: lists every registered one, which the index accepts too).
METHODS = search_methods()
#: The growing segment is sealed once it holds this many rows (default of
#: ``Index(segment_rows=...)``).
SEGMENT_ROWS = 1 << 20


class Index(MutationMixin, PersistenceMixin, ReadsMixin, SearchAPI):
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
        search_method(method)  # a registered method, or ValueError naming them
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

    # ---------------------------------------------------------- introspection
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

    # -------------------------------------------------------------- extension
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
