"""Segments: the units an index's rows live in, and the snapshot over them.

An :class:`hamsearch.Index` keeps its codes in *segments* (the Lucene /
Milvus design): a few sealed segments, whose rows never change, and one
growing segment that takes the adds.  Every read works on one published
:class:`Snapshot`: a tuple of :class:`SegmentView` (a segment plus the
version of its tombstone bitmap that was current when the snapshot was
published).  Nothing reachable from a published snapshot is ever written
again, so reads need no lock.

A :class:`Segment` owns what is derived from its rows and cached on it for
its whole life (sealed) or for one published state (growing): the id ->
row lookup, the multi-index tables, the cost model's sample.  Segments
whose ids are the range ``id_base .. id_base + n - 1`` in row order store
no ids at all (8 bytes per code saved for default ids).
"""

from __future__ import annotations

import itertools
import os
import threading

import numpy as np

from . import rowbits

__all__ = ["Segment", "SegmentView", "Snapshot"]

_names = itertools.count()
_PREFIX = f"{os.getpid():x}{np.random.default_rng().integers(1 << 40):010x}"


def new_segment_name() -> str:
    """A name unique to this process run (segment files are named after it)."""
    return f"seg-{_PREFIX}-{next(_names):06d}"


class Segment:
    """Rows of one segment: codes, ids (or an id range), optional features.

    Parameters
    ----------
    codes : ndarray of uint64, shape (n, w)
    ids : ndarray of int64, shape (n,), or None
        ``None``: the ids are ``id_base + row`` (ascending, stored as a range).
    features : ndarray, shape (n, d), or None
    id_base : int
        First id of a range segment.
    sealed : bool
        Sealed segments never change; the growing segment's published states
        are each a new :class:`Segment` over the same buffers.
    name : str, optional
        Unique name (default: a new one).
    ids_ascending : bool, optional
        Whether ``ids`` increase strictly with the row (computed if not given).
    """

    __slots__ = ("codes", "_ids", "id_base", "features", "n", "ids_ascending", "sealed",
                 "name", "mih", "sample", "plans", "lookup_cache", "_tail", "_lock",
                 "tables_builder", "file")

    def __init__(self, codes, ids, features=None, id_base: int = 0, sealed: bool = True,
                 name: str | None = None, ids_ascending: bool | None = None):
        self.codes = codes
        self.n = int(codes.shape[0])
        if ids is not None and self.n and ids_ascending is None:
            ids_ascending = bool(self.n < 2 or (np.diff(ids) > 0).all())
        self._ids = ids
        self.id_base = int(id_base)
        self.features = features
        self.ids_ascending = True if ids is None else bool(ids_ascending or self.n < 2)
        self.sealed = bool(sealed)
        self.name = name or new_segment_name()
        self.mih = None  # multi-index table state over these rows (hamsearch.mih)
        self.sample = None  # the auto cost model's sample of these rows
        # the auto rule's answers for these rows: (k, radius) -> (profile
        # version, bool), "m" -> substrings
        self.plans = {}
        self.lookup_cache = None  # (sorted ids, rows, rows covered)
        self._tail = None
        self._lock = threading.Lock()
        #: growing segments: a callable building this state's tables (the index's)
        self.tables_builder = None
        self.file = None  # the segment file this segment was loaded from / saved as

    @classmethod
    def from_rows(cls, codes, ids, features=None, sealed: bool = True, name=None):
        """A segment over ``ids``, stored as a range when they are consecutive."""
        n = int(codes.shape[0])
        if n and int(ids[-1]) - int(ids[0]) == n - 1 and (n < 2 or (np.diff(ids) == 1).all()):
            return cls(codes, None, features, int(ids[0]), sealed, name)
        return cls(codes, ids, features, 0, sealed, name)

    # ----------------------------------------------------------------- ids
    @property
    def is_range(self) -> bool:
        """True when the ids are ``id_base + row`` (no ids array is stored)."""
        return self._ids is None

    @property
    def ids(self) -> np.ndarray:
        """The ids, int64 ``(n,)`` (for a range segment a new array at each
        call: the searches never need it, see :meth:`kernel_ids`)."""
        if self._ids is not None:
            return self._ids
        ids = np.arange(self.id_base, self.id_base + self.n, dtype=np.int64)
        ids.flags.writeable = False
        return ids

    def kernel_ids(self, contiguous_as_rows: bool = False):
        """``(ids, base)`` to give the kernels: the ids array and 0, or (for a
        range segment) None and ``id_base`` -- the kernels then return rows,
        and the caller adds ``base`` with :func:`add_base`.

        ``contiguous_as_rows``: also an ids array that is a range (strictly
        ascending from ``ids[0]`` to ``ids[0] + n - 1``, as default ids are)
        comes back as None and ``ids[0]``.  For the flat kernels only: row
        ids spare them the ids' reads and give the scan its tightest
        threshold on ties.  (MIH tables read None as "the state's own ids".)
        """
        ids = self._ids
        if ids is None:
            return None, self.id_base
        if contiguous_as_rows and self.ids_ascending and self.n \
                and int(ids[-1]) - int(ids[0]) == self.n - 1:
            return None, int(ids[0])
        return ids, 0

    def ids_at(self, rows: np.ndarray) -> np.ndarray:
        """Ids of ``rows`` (int64)."""
        return rows + self.id_base if self._ids is None else self._ids[rows]

    @property
    def ids_nbytes(self) -> int:
        return 0 if self._ids is None else int(self._ids.nbytes)

    def min_id(self) -> int:
        if self.n == 0:
            return -1
        if self._ids is None:
            return self.id_base
        return int(self._ids[0]) if self.ids_ascending else int(self._ids.min())

    def max_id(self) -> int:
        if self.n == 0:
            return -1
        if self._ids is None:
            return self.id_base + self.n - 1
        return int(self._ids[-1]) if self.ids_ascending else int(self._ids.max())

    # -------------------------------------------------------------- lookup
    def lookup(self):
        """``(sorted ids, rows, L)`` over rows ``[0, L)``; stable, so among
        equal ids (a deleted row and its re-added id) the newest row is last."""
        lk = self.lookup_cache
        n = self.n
        if lk is None or n - lk[2] > lk[2] // 4 + 4096:
            order = np.argsort(self._ids, kind="stable")
            lk = (self._ids[order], order, n)
            self.lookup_cache = lk  # a pure function of these rows
            self._tail = None
        return lk

    def _tail_lookup(self, L: int):
        tail = self._tail
        if tail is None or tail[2] != L:
            part = self._ids[L:]
            order = np.argsort(part, kind="stable")
            tail = (part[order], order + L, L)
            self._tail = tail
        return tail

    @staticmethod
    def _last_match(srt, rows, ids):
        if len(srt) == 0:
            return np.full(len(ids), -1, dtype=np.int64)
        pos = np.searchsorted(srt, ids, side="right") - 1
        pos_c = np.maximum(pos, 0)
        found = (pos >= 0) & (srt[pos_c] == ids)
        return np.where(found, rows[pos_c], -1).astype(np.int64)

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        """Newest row holding each of ``ids`` (int64), ``-1`` where none
        (tombstones not applied: see :meth:`SegmentView.positions_of`)."""
        n = self.n
        if n == 0:
            return np.full(len(ids), -1, dtype=np.int64)
        if self._ids is None:
            rel = ids - self.id_base
            return np.where((rel >= 0) & (rel < n), rel, -1).astype(np.int64)
        if self.ids_ascending:  # every id once, in row order
            pos = np.searchsorted(self._ids, ids)
            pos_c = np.minimum(pos, n - 1)
            found = (pos < n) & (self._ids[pos_c] == ids)
            return np.where(found, pos_c, -1).astype(np.int64)
        srt, rows, L = self.lookup()
        out = self._last_match(srt, rows, ids)
        if L < n:  # rows appended since the lookup: newer, so they win
            tsrt, trows, _ = self._tail_lookup(L)
            newer = self._last_match(tsrt, trows, ids)
            out = np.where(newer >= 0, newer, out)
        return out

    # ------------------------------------------------------------- tables
    def tables(self, build):
        """This segment's multi-index table state, built once by ``build(self)``
        (sealed segments; the growing one's come from its ``tables_builder``)."""
        st = self.mih
        if st is not None:
            return st
        if not self.sealed:
            return self.tables_builder(self) if self.tables_builder is not None else None
        with self._lock:
            if self.mih is None:
                self.mih = build(self)
            return self.mih

    @property
    def nbytes(self) -> int:
        """Bytes of the codes, stored ids and features (the tables apart)."""
        feats = 0 if self.features is None else int(self.features.nbytes)
        return int(self.codes.nbytes) + self.ids_nbytes + feats

    def __repr__(self) -> str:
        kind = "sealed" if self.sealed else "growing"
        return f"Segment({self.name}, {kind}, n={self.n})"


class SegmentView:
    """One segment with one version of its tombstones: what a search scans.

    Attributes mirror the segment (``codes``, ``ids``, ``features``, ``n``)
    plus ``dead`` (uint64 row bitmap or None), ``ndead``, ``live``, and
    ``filter_cache`` (the admitted rows of recent filters, valid for this
    view only).
    """

    __slots__ = ("seg", "dead", "ndead", "_live", "filter_cache")

    def __init__(self, seg: Segment, dead=None, ndead: int = 0):
        self.seg = seg
        self.dead = dead
        self.ndead = int(ndead)
        self._live = None
        self.filter_cache = {}

    codes = property(lambda self: self.seg.codes)
    ids = property(lambda self: self.seg.ids)
    features = property(lambda self: self.seg.features)
    n = property(lambda self: self.seg.n)

    @property
    def live(self) -> int:
        return self.seg.n - self.ndead

    @property
    def mih(self):
        """The table state already built for this segment, or None."""
        return self.seg.mih

    def live_mask(self) -> np.ndarray:
        """Boolean mask of the live rows (cached on this view)."""
        mask = self._live
        if mask is None:
            mask = ~rowbits.to_mask(self.dead, self.n)
            self._live = mask
        return mask

    def live_rows(self, array: np.ndarray) -> np.ndarray:
        """``array`` (one entry per row) restricted to the live rows."""
        return array if self.ndead == 0 else array[self.live_mask()]

    def selection(self, flt=None):
        """The rows a search with filter ``flt`` runs over: a
        :class:`hamsearch.filters.RowSelection`, or None for every row."""
        if flt is not None:
            return flt.select(self)
        if self.ndead == 0:
            return None
        from .filters import live_selection

        return live_selection(self)

    def positions_of(self, ids: np.ndarray) -> np.ndarray:
        """Rows of the live codes with ``ids`` (int64 array), ``-1`` where absent or deleted."""
        out = self.seg.rows_of(ids)
        if self.dead is not None:
            hit = np.flatnonzero(out >= 0)
            out[hit[rowbits.rows_set(self.dead, out[hit])]] = -1
        return out

    def with_dead(self, rows: np.ndarray) -> "SegmentView":
        """A new view with ``rows`` (unique, live) also deleted (copy-on-write)."""
        return SegmentView(self.seg, rowbits.with_rows(self.dead, self.n, rows),
                           self.ndead + int(rows.size))

    @property
    def deleted_fraction(self) -> float:
        return self.ndead / self.n if self.n else 0.0


class Snapshot:
    """One published, immutable state of an index: its segment views and
    the index-wide values (next default id, feature layout, WAL position)."""

    __slots__ = ("views", "next_id", "features_enabled", "features_d", "wal_seq", "n", "live",
                 "_concat")

    def __init__(self, views, next_id, features_enabled, features_d, wal_seq=0):
        self.views = tuple(views)
        self.next_id = int(next_id)
        self.features_enabled = features_enabled
        self.features_d = features_d
        self.wal_seq = int(wal_seq)
        self.n = sum(v.n for v in self.views)
        self.live = sum(v.live for v in self.views)
        self._concat = {}

    @property
    def ndead(self) -> int:
        return self.n - self.live

    def max_id(self) -> int:
        return max((v.seg.max_id() for v in self.views if v.n), default=-1)

    def locate(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(view index, row)`` of the live code of each id (int64); ``-1``
        in both where the id is absent.  Live ids are unique across views."""
        which = np.full(len(ids), -1, dtype=np.int64)
        rows = np.full(len(ids), -1, dtype=np.int64)
        if len(ids) == 0:
            return which, rows
        for v_i, view in enumerate(self.views):
            if view.live == 0:
                continue
            seg = view.seg
            lo, hi = seg.min_id(), seg.max_id()
            cand = np.flatnonzero((which < 0) & (ids >= lo) & (ids <= hi))
            if cand.size == 0:
                continue
            r = view.positions_of(ids[cand])
            hit = r >= 0
            which[cand[hit]] = v_i
            rows[cand[hit]] = r[hit]
        return which, rows

    def gather(self, which: np.ndarray, rows: np.ndarray, field: str) -> np.ndarray:
        """``field`` ("codes", "features") of the rows ``(which, rows)`` (all present)."""
        if len(self.views) == 1 or len(which) == 0:
            return np.asarray(getattr(self.views[0], field)[rows])
        first = getattr(self.views[int(which[0])], field)
        out = np.empty((len(rows),) + first.shape[1:], dtype=first.dtype)
        for v_i in np.unique(which):
            at = np.flatnonzero(which == v_i)
            out[at] = getattr(self.views[int(v_i)], field)[rows[at]]
        return out

    def concat(self, field: str) -> np.ndarray:
        """The live rows of ``field`` ("codes", "ids", "features") of every
        view in order (a view, not a copy, for one segment without deletes)."""
        hit = self._concat.get(field)
        if hit is not None:
            return hit
        parts = [v.live_rows(getattr(v, field)) for v in self.views
                 if getattr(v, field) is not None]
        if not parts:
            return None
        out = parts[0] if len(parts) == 1 else np.concatenate(parts)
        self._concat[field] = out
        return out


def add_base(I: np.ndarray, base: int) -> np.ndarray:
    """Kernel results labelled by row (``ids=None``) -> ids ``base + row``, in
    place; ``-1`` padding stays."""
    if base:
        np.add(I, base, out=I, where=I >= 0)
    return I

