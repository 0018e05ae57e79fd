"""The user-facing search engine: :class:`Index`."""

from __future__ import annotations

import threading

import numpy as np

from ._backend import PAD_DISTANCE, get_num_threads, kernels
from .codes import as_words, check_nbits, n_words, words_to_bytes
from . import rowbits
from .features import FeatureStore
from .filters import check_filter
from .mih import IndexMIH

__all__ = ["Index", "PAD_DISTANCE", "METHODS", "MAX_ID"]

#: Search methods an :class:`Index` accepts.
METHODS = ("auto", "flat", "mih")
#: Largest id an index can hold (``int64`` max).
MAX_ID = int(np.iinfo(np.int64).max)
#: remove() compacts the rows (drops the deleted ones) once more than this
#: fraction of them is deleted; below it, deletions are tombstones.
COMPACT_FRACTION = 0.25


class _Snapshot:
    """One published, immutable view of an index: what every read works on.

    A mutation never changes the arrays of a published snapshot (appends
    write past its rows, removals build new arrays); it publishes a new
    snapshot with one attribute store.  Three things are derived lazily and
    cached on the snapshot they were derived from, so they can never belong
    to another state: the id -> position lookup (a pure function of this
    snapshot's ids; a racing build stores an equal value), the admitted rows
    of the last few filters searched with (idem), and the
    multi-index tables (attached by :class:`hamsearch.mih.IndexMIH` under
    the index lock, only while this snapshot is still the published one).
    """

    __slots__ = ("codes", "ids", "features", "ids_ascending", "next_id", "features_enabled",
                 "features_d", "mih", "dead", "ndead", "_lookup", "_tail", "_live",
                 "filter_cache")

    def __init__(self, codes, ids, features, ids_ascending, next_id, features_enabled,
                 features_d, mih=None, dead=None, ndead=0, lookup=None):
        self.codes = codes
        self.ids = ids
        self.features = features
        self.ids_ascending = ids_ascending
        self.next_id = next_id
        self.features_enabled = features_enabled
        self.features_d = features_d
        self.mih = mih
        self.dead = dead  # tombstones: uint64 bitmap over the rows, or None
        self.ndead = int(ndead)
        self._lookup = lookup  # (sorted ids, their rows, rows covered) over rows [0, L)
        self._tail = None  # the same over rows [L, n), built lazily
        self._live = None  # bool mask of the live rows, built lazily
        self.filter_cache = {}  # id(IdFilter) -> (filter, RowSelection) over this snapshot

    @property
    def n(self) -> int:
        """Stored rows, deleted (tombstoned) ones included."""
        return int(self.ids.shape[0])

    @property
    def live(self) -> int:
        """Rows not deleted: the number of codes in the index."""
        return self.n - self.ndead

    def max_id(self) -> int:
        if self.n == 0:
            return -1
        return int(self.ids[-1]) if self.ids_ascending else int(self.ids.max())

    def live_mask(self) -> np.ndarray:
        """Boolean mask of the live rows (cached on this snapshot)."""
        mask = self._live
        if mask is None:
            mask = ~rowbits.to_mask(self.dead, self.n)
            self._live = mask
        return mask

    def selection(self, flt=None):
        """The rows a search with filter ``flt`` runs over: a
        :class:`hamsearch.filters.RowSelection`, or None for every row (no
        filter, nothing deleted)."""
        if flt is not None:
            return flt.select(self)
        if self.ndead == 0:
            return None
        from .filters import live_selection

        return live_selection(self)

    def live_rows(self, array: np.ndarray) -> np.ndarray:
        """``array`` (one entry per row) restricted to the live rows."""
        return array if self.ndead == 0 else array[self.live_mask()]

    def lookup(self):
        """``(sorted ids, rows, L)`` over rows ``[0, L)``; stable, so among
        equal ids (a deleted row and its re-added id) the newest row is last."""
        lk = self._lookup
        n = self.n
        if lk is None or n - lk[2] > lk[2] // 4 + 4096:
            order = np.argsort(self.ids, kind="stable")
            lk = (self.ids[order], order, n)
            self._lookup = lk  # derived from this snapshot's rows only
            self._tail = None
        return lk

    def _tail_lookup(self, L: int):
        tail = self._tail
        if tail is None or tail[2] != L:
            part = self.ids[L:]
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

    def positions_of(self, ids: np.ndarray) -> np.ndarray:
        """Rows of the live codes with ``ids`` (int64 array), ``-1`` where absent or deleted."""
        n = self.n
        if n == 0:
            return np.full(len(ids), -1, dtype=np.int64)
        if self.ids_ascending:  # every id once, in row order
            pos = np.searchsorted(self.ids, ids)
            pos_c = np.minimum(pos, n - 1)
            found = (pos < n) & (self.ids[pos_c] == ids)
            out = np.where(found, pos_c, -1).astype(np.int64)
        else:
            srt, rows, L = self.lookup()
            out = self._last_match(srt, rows, ids)
            if L < n:  # rows appended since the lookup: newer, so they win
                tsrt, trows, _ = self._tail_lookup(L)
                newer = self._last_match(tsrt, trows, ids)
                out = np.where(newer >= 0, newer, out)
        if self.dead is not None:
            hit = np.flatnonzero(out >= 0)
            out[hit[rowbits.rows_set(self.dead, out[hit])]] = -1
        return out


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


class Index:
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

    def __init__(self, nbits: int, method: str = "auto", features_dtype="float32", m=None):
        self._nbits = check_nbits(nbits)
        if not isinstance(method, str) or method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        self._method = method
        self._mih = IndexMIH(self._nbits, method, m)  # multi-index tables (hamsearch.mih)
        self._features = FeatureStore(features_dtype)
        self._lock = threading.RLock()
        self._nw = n_words(self._nbits)
        self._filecheck = None  # set by hamsearch.load: the file's pending verification
        self._reset_storage()

    # ------------------------------------------------------------------ state
    # Mutable state (``_codes_buf``, ``_ids_buf``, ``_n``, ``_next_id``,
    # ``_features``) is touched only under ``_lock``; readers use ``_view()``.
    def _reset_storage(self):
        self._codes_buf = np.zeros((0, self._nw), dtype=np.uint64)
        self._ids_buf = np.zeros(0, dtype=np.int64)
        self._n = 0
        self._next_id = 0
        self._ids_ascending = True
        self._dead = None  # tombstone bitmap (uint64, ceil(n / 64) words) or None
        self._ndead = 0
        self._features.reset()
        self._mih.reset()
        self._publish()

    def _publish(self, rows_kept: bool = False):
        """Publish a new snapshot (one attribute store); call under the lock.

        ``rows_kept``: the rows of the previous snapshot are unchanged (an
        append or a tombstone), so its id lookup stays valid and is carried.
        """
        n = self._n
        codes, ids = self._codes_buf[:n], self._ids_buf[:n]
        tables = self._mih.published(codes, ids)
        prev = getattr(self, "_snap", None)
        lookup = prev._lookup if rows_kept and prev is not None else None
        dead = self._dead
        if dead is not None and dead.shape[0] != rowbits.words_for(n):
            dead = self._dead = rowbits.with_rows(dead, n)
        self._snap = _Snapshot(codes, ids, self._features.view(n), self._ids_ascending,
                               self._next_id, self._features.enabled, self._features.d,
                               tables, dead, self._ndead, lookup)

    def _view(self) -> _Snapshot:
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
        """Substrings of the multi-index tables (in use, or that MIH would use now)."""
        return self._mih.m_for(self._snap.n)

    @property
    def ntotal(self) -> int:
        """Number of codes in the index."""
        return self._view().live

    def __len__(self) -> int:
        return self._view().live

    @property
    def codes(self) -> np.ndarray:
        """Stored codes as read-only packed uint64 words ``(ntotal, ceil(nbits/64))``,
        in storage order (a copy when removed rows await compaction)."""
        snap = self._view()
        view = snap.live_rows(snap.codes).view()
        view.flags.writeable = False
        return view

    @property
    def ids(self) -> np.ndarray:
        """Stored ids in storage order, read-only ``int64 (ntotal,)`` (aligned with :attr:`codes`)."""
        snap = self._view()
        view = snap.live_rows(snap.ids).view()
        view.flags.writeable = False
        return view

    @property
    def nbytes(self) -> int:
        """Bytes held by the codes, ids, features (allocated capacity) and MIH tables.

        Multi-index tables are built at the first search that uses them, so
        an ``"mih"`` / ``"auto"`` index grows by their size then.
        """
        dead = 0 if self._dead is None else self._dead.nbytes
        return int(self._codes_buf.nbytes + self._ids_buf.nbytes + self._features.nbytes
                   + self._mih.nbytes + dead)

    def __repr__(self) -> str:
        return (f"hamsearch.Index(nbits={self._nbits}, method={self._method!r}, "
                f"ntotal={self._snap.n})")

    # ------------------------------------------------------------- validation
    def _query_words(self, queries, name="queries") -> np.ndarray:
        return as_words(queries, self._nbits, name)

    def _check_ids(self, ids, n: int, allow_present: bool = False) -> np.ndarray:
        """Ids for an add of ``n`` codes (call under the lock)."""
        snap = self._snap
        if ids is None:
            if self._next_id + n - 1 > MAX_ID:
                raise OverflowError(
                    f"cannot number {n} new codes: default ids continue from {self._next_id} "
                    f"(one past the largest id ever added) and would pass the int64 maximum "
                    f"{MAX_ID}; pass ids= explicitly"
                )
            return np.arange(self._next_id, self._next_id + n, dtype=np.int64)
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
        if not allow_present and snap.n and srt[0] <= snap.max_id():
            present = snap.positions_of(arr)
            if (present >= 0).any():
                raise ValueError(
                    f"ids already in the index, e.g. {int(arr[present >= 0][0])}"
                )
        return arr

    @staticmethod
    def _stored_positions(snap: _Snapshot, ids) -> np.ndarray:
        """Storage positions of ``ids`` (any integer array) in ``snap``; KeyError if one is absent."""
        keys, values = _id_keys(ids)
        pos = snap.positions_of(keys)
        if (pos < 0).any():
            raise KeyError(f"id {int(values[pos < 0][0])} is not in the index")
        return pos

    # --------------------------------------------------------------- mutation
    def add(self, codes, ids=None, features=None) -> None:
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
            self._append(words, new_ids, feats)

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
        if not publish:
            return
        self._publish(rows_kept=True)

    def remove(self, ids) -> int:
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
        A removal marks the rows deleted in a tombstone bitmap (a copy of
        ``ntotal / 8`` bytes, published with the new snapshot); codes, ids,
        features and multi-index tables stay as they are, and every search
        skips the deleted rows.  Once more than ``COMPACT_FRACTION`` (1/4)
        of the rows are deleted, the removal compacts them away (copying the
        live rows and rebuilding the tables), so the cost per removed code
        stays bounded; :meth:`compact` does it on demand.
        """
        arr = np.atleast_1d(np.asarray(ids))
        if arr.ndim != 1:
            raise ValueError(f"ids must be 1-D, got shape {arr.shape}")
        if arr.size == 0:
            return 0
        keys, _ = _id_keys(arr)
        with self._lock:
            pos = self._present_rows(self._view(), keys)
            if pos.size == 0:
                return 0
            self._tombstone(pos)
            self._publish_after_delete()
            return int(pos.size)

    @staticmethod
    def _present_rows(snap: _Snapshot, keys: np.ndarray) -> np.ndarray:
        """Unique rows of the live codes with ids ``keys``."""
        pos = snap.positions_of(keys)
        return np.unique(pos[pos >= 0])

    def _publish_after_delete(self) -> None:
        """Publish after tombstoning: compact first once past ``COMPACT_FRACTION``."""
        if self._ndead > COMPACT_FRACTION * self._n:
            self._compact()
            self._publish()
        else:
            self._publish(rows_kept=True)

    def _tombstone(self, rows: np.ndarray) -> None:
        """Mark ``rows`` (unique, live) deleted in a new bitmap (copy-on-write)."""
        self._dead = rowbits.with_rows(self._dead, self._n, rows)
        self._ndead += int(rows.size)

    def _compact(self) -> None:
        """Drop the deleted rows (new arrays: running reads keep their snapshot)."""
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
        self._mih.invalidate()

    def compact(self) -> int:
        """Drop the rows of removed codes now (see :meth:`remove`).

        Returns
        -------
        int
            Rows dropped.
        """
        with self._lock:
            self._view()
            dropped = self._ndead
            if dropped:
                self._compact()
                self._publish()
            return int(dropped)

    def upsert(self, codes, ids, features=None) -> int:
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
            old = self._present_rows(snap, new_ids)
            if old.size:
                self._tombstone(old)
            self._append(words, new_ids, feats, publish=False)
            self._publish_after_delete()
            return int(old.size)

    def stats(self) -> dict:
        """Counts and sizes: codes, stored rows, deleted rows awaiting
        compaction and their fraction, bytes held, method, tables built."""
        snap = self._view()
        return {
            "ntotal": snap.live,
            "rows": snap.n,
            "deleted": snap.ndead,
            "deleted_fraction": snap.ndead / snap.n if snap.n else 0.0,
            "nbytes": self.nbytes,
            "method": self._method,
            "mih_tables": snap.mih is not None,
            "features_dim": self.features_dim,
        }

    def reset(self) -> None:
        """Remove every code (the id counter restarts at 0).

        An index loaded from a file forgets the file (and its data check).
        """
        with self._lock:
            self._filecheck = None
            self._reset_storage()

    # ----------------------------------------------------------------- access
    def __contains__(self, id_) -> bool:
        """True when ``id_`` is an integer id stored in the index.

        Only integers match (``int``, numpy integers); ``62.5``, ``"62"`` or
        ``True`` are never ids.
        """
        if isinstance(id_, (bool, np.bool_)) or not isinstance(id_, (int, np.integer)):
            return False
        if not 0 <= int(id_) <= MAX_ID:
            return False
        snap = self._view()
        return bool(snap.positions_of(np.array([int(id_)], dtype=np.int64))[0] >= 0)

    def reconstruct(self, ids) -> np.ndarray:
        """Return the stored codes of ``ids`` as packed uint8 ``(n, nbits/8)``.

        Raises
        ------
        KeyError
            If an id is not in the index.
        """
        snap = self._view()
        pos = self._stored_positions(snap, ids)
        return words_to_bytes(snap.codes[pos], self._nbits)

    def reconstruct_features(self, ids) -> np.ndarray:
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
        if not snap.features_enabled or snap.features is None:
            raise ValueError("this index holds no features (add them with index.add(..., features=X))")
        return np.asarray(snap.features[self._stored_positions(snap, ids)])

    @property
    def features_dim(self):
        """Dimension of the stored features (``None`` when there are none)."""
        snap = self._snap
        return snap.features_d if snap.features_enabled else None

    # ----------------------------------------------------------------- search
    @staticmethod
    def _check_k(k) -> int:
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"k must be an int, got {type(k).__name__}")
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        return int(k)

    def _check_radius(self, radius) -> int:
        if isinstance(radius, (bool, np.bool_)) or not isinstance(radius, (int, np.integer)):
            raise TypeError(f"radius must be an int, got {type(radius).__name__}")
        if radius < 0:
            raise ValueError(f"radius must be >= 0, got {radius}")
        return int(min(radius, self._nbits))

    def search(self, queries, k: int, *, filter=None, query_features=None, pool_radius=None,
               pool_size=None, metric="l2", rerank="pool", **options):
        """Exact k nearest neighbours by Hamming distance, or hierarchical search.

        Parameters
        ----------
        queries : array_like
            Query codes in any accepted layout; one code may be 1-D.
        k : int
            Number of neighbours per query.  It may exceed ``ntotal``: the
            kernels then work with ``k = ntotal`` and the rows are padded.
        filter : hamsearch.IdFilter, optional
            Search only among the ids it admits (``IdFilter.allow(ids)``,
            ``IdFilter.deny(ids)``, ``IdFilter.from_mask(mask)``): the exact
            k nearest admitted codes, padded when fewer are admitted.  See
            :mod:`hamsearch.filters` for how the search is planned.
        query_features : array_like of float, shape (nq, d), optional
            Giving them turns on hierarchical search (Lin et al. 2015): a
            Hamming candidate pool per query, re-ranked by exact distance
            between ``query_features`` and the features stored by
            :meth:`add`.  See :func:`hamsearch.rerank.hierarchical_search`.
        pool_radius : int, optional
            Pool = every code within this Hamming distance (inclusive).
        pool_size : int, optional
            Pool = the ``pool_size`` nearest codes by Hamming distance, plus
            every code tied with the last one (all ties at the boundary are
            included; ``ties="cut"`` keeps the smallest ids instead).
        metric : {"l2", "ip"}, default "l2"
            Re-rank by squared Euclidean distance (ascending) or inner
            product (descending).
        rerank : {"pool", "bucket"}, default "pool"
            ``"pool"``: order the pool by feature distance.  ``"bucket"``:
            order by Hamming distance, then by feature distance within each
            Hamming bucket (no pool argument needed).
        **options
            ``fill`` ("grow" | "none"), ``ties`` ("include" | "cut"),
            ``return_hamming`` (bool): see
            :func:`hamsearch.rerank.hierarchical_search`.

        Returns
        -------
        D : ndarray of int32, shape (nq, k)
            Hamming distances, ascending.  (Hierarchical search: float32
            squared L2 distances or inner products.)
        I : ndarray of int64, shape (nq, k)
            Ids, ties broken by ascending id; ``-1`` pads (distance
            ``PAD_DISTANCE``) when fewer than k codes are stored.
        H : ndarray of int32, shape (nq, k)
            Only for hierarchical search with ``return_hamming=True``.

        Raises
        ------
        MemoryError, ValueError
            When ``k`` is so large that the padded ``(nq, k)`` output cannot
            be allocated (the message names ``k``).
        """
        if query_features is not None or pool_radius is not None or pool_size is not None \
                or options or metric != "l2" or rerank != "pool":
            from .rerank import hierarchical_search

            return hierarchical_search(
                self, queries, k, query_features, pool_radius=pool_radius,
                pool_size=pool_size, metric=metric, rerank=rerank, filter=filter, **options)
        q = self._query_words(queries)
        k = self._check_k(k)
        flt = check_filter(filter)
        snap = self._view()
        n = snap.n
        nthreads = get_num_threads()
        sel = snap.selection(flt) if n else None
        admitted = n if sel is None else sel.admitted
        if admitted == 0 or q.shape[0] == 0:
            return (_padded(q.shape[0], k, snap.live, np.int32, PAD_DISTANCE),
                    _padded(q.shape[0], k, snap.live, np.int64, -1))
        keff = min(k, admitted)
        if sel is not None and sel.rows is not None:  # few admitted: scan only them
            D, I = kernels().knn(snap.codes[sel.rows], snap.ids[sel.rows], q, keff, nthreads)
            return pad_knn(D, I, k, snap.live)
        skip = None if sel is None else sel.skip
        tables = self._mih.tables_for(self, snap, k=keff, selection=sel)
        if tables is not None:
            D, I = self._mih.knn(tables, q, keff, nthreads, skip=skip)
        else:
            D, I = kernels().knn(snap.codes, snap.ids, q, keff, nthreads, skip=skip)
        return pad_knn(D, I, k, snap.live)

    def plan(self, k: int | None = None, radius: int | None = None) -> str:
        """The method a search would run now: ``"flat"`` or ``"mih"``.

        Parameters
        ----------
        k : int, optional
            For :meth:`search` with this ``k``.
        radius : int, optional
            For :meth:`range_search` with this radius.

        Notes
        -----
        With ``method="auto"`` the answer depends on ``n``, ``nbits``, the
        codes and ``k`` / ``radius`` (see :class:`hamsearch.mih.AutoRule`);
        when it is ``"mih"`` the tables are built now if they were not yet.
        """
        if (k is None) == (radius is None):
            raise ValueError("plan: give exactly one of k or radius")
        snap = self._view()
        if k is not None:
            want = {"k": min(self._check_k(k), max(snap.live, 1))}
        else:
            want = {"radius": self._check_radius(radius)}
        tables = self._mih.tables_for(self, snap, selection=snap.selection(), **want)
        return "mih" if tables is not None else "flat"

    def range_search(self, queries, radius: int, *, filter=None):
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
        lims : ndarray of int64, shape (nq + 1,)
            Results of query ``i`` are ``D[lims[i]:lims[i+1]]`` and
            ``I[lims[i]:lims[i+1]]``.
        D : ndarray of int32
            Distances, ascending within each query.
        I : ndarray of int64
            Ids, ties broken by ascending id.
        """
        q = self._query_words(queries)
        radius = self._check_radius(radius)
        flt = check_filter(filter)
        snap = self._view()
        nthreads = get_num_threads()
        sel = snap.selection(flt) if snap.n else None
        if sel is not None and sel.rows is not None:
            return kernels().range_search(snap.codes[sel.rows], snap.ids[sel.rows], q, radius,
                                          nthreads)
        skip = None if sel is None else sel.skip
        tables = self._mih.tables_for(self, snap, radius=radius)
        if tables is not None:
            return self._mih.range_search(tables, q, radius, nthreads, skip=skip)
        return kernels().range_search(snap.codes, snap.ids, q, radius, nthreads, skip=skip)

    # ------------------------------------------------------------ persistence
    def save(self, path) -> None:
        """Write the index to ``path`` atomically (see :func:`hamsearch.load`).

        The file is written from one snapshot, without holding the index
        lock: adds and removes may run meanwhile (the file holds the index as
        it was when the save started).  The rules (temporary file, fsync,
        rename, file mode, symlinks) are in :func:`hamsearch.storage.save_index`.
        """
        from .storage import save_index

        save_index(self, path)

    def _sections(self, snap: _Snapshot | None = None) -> tuple[dict, dict]:
        """Metadata and named arrays written by :mod:`hamsearch.storage`."""
        snap = self._view() if snap is None else snap
        meta = {
            "nbits": self._nbits,
            "method": self._method,
            "ntotal": snap.live,
            "next_id": int(snap.next_id),
            "m": self._mih.m_request,
            "features_dtype": self._features.dtype.name,
            "features_d": snap.features_d,
            "features_enabled": snap.features_enabled,
        }
        # the file holds the live rows only (deleted ones are dropped on save)
        arrays = {"codes": snap.live_rows(snap.codes), "ids": snap.live_rows(snap.ids)}
        if snap.features_enabled and snap.features is not None:
            arrays["features"] = snap.live_rows(snap.features)
        return meta, arrays

    @classmethod
    def _from_sections(cls, meta: dict, arrays: dict) -> "Index":
        """Rebuild an index from validated :meth:`_sections` output (arrays may be memmaps).

        :mod:`hamsearch.storage` checks every field and shape before calling this.
        """
        index = cls(meta["nbits"], method=meta.get("method", "auto"),
                    features_dtype=meta.get("features_dtype", "float32"), m=meta.get("m"))
        n = int(meta["ntotal"])
        index._features.restore(meta, arrays, n)
        codes, ids = arrays["codes"], arrays["ids"]
        index._codes_buf = codes
        index._ids_buf = ids
        index._n = n
        index._next_id = int(meta["next_id"])
        index._ids_ascending = bool(n < 2 or (np.diff(ids[:n]) > 0).all())
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
        from .storage import dumps

        return {"hamsearch_index": dumps(self)}

    def __setstate__(self, state):
        from .storage import IndexFileError, loads

        if not isinstance(state, dict) or not isinstance(state.get("hamsearch_index"), bytes):
            raise IndexFileError("<pickle>: not a pickled hamsearch.Index")
        other = loads(state["hamsearch_index"])
        self.__dict__.update(other.__dict__)
        self._lock = threading.RLock()
