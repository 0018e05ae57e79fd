"""The mutation path of :class:`hamsearch.Index`: :class:`MutationMixin`.

Every mutation validates its arguments, takes the index lock, logs itself to
the write-ahead log (``_log``, after validation and before it is applied),
changes the growing segment's buffers or a segment's tombstones, and
publishes the next snapshot (``Index._publish``).  The state it works on is
created and described by :class:`hamsearch.Index` (``hamsearch/index.py``).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from numpy.typing import ArrayLike

from . import rowbits
from .codes import as_words
from .ids import check_new_ids, default_ids, removal_keys
from .mih import rebased
from .segment import Segment, SegmentView, Snapshot

__all__ = ["MutationMixin", "COMPACT_FRACTION"]

#: A segment is rewritten without its deleted rows (the growing one at once,
#: a sealed one by a merge) once more than this fraction of it is deleted.
COMPACT_FRACTION = 0.25


class MutationMixin:
    """The mutations of :class:`hamsearch.Index`: :meth:`add`, :meth:`upsert`,
    :meth:`remove`, :meth:`reset`, :meth:`flush`, :meth:`compact`, and the
    growing segment's appends, sealing and compaction behind them."""

    #: Fraction of deleted rows past which a segment is rewritten (see :meth:`remove`).
    compact_fraction = COMPACT_FRACTION

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
        keys = removal_keys(ids)
        if keys is None:
            return 0
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

    def reset(self) -> None:
        """Remove every code (the id counter restarts at 0).

        An index loaded from a file forgets the file (and its data check).
        """
        with self._lock:
            self._log("reset")
            self._filecheck = None
            self._reset_storage()
