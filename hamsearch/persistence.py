"""The persistence path of :class:`hamsearch.Index`: :class:`PersistenceMixin`.

Saving (one container file through :mod:`hamsearch.storage`, or an index
directory through :mod:`hamsearch.directory`), building an index back from
what was read (:meth:`~PersistenceMixin.from_sections`,
:meth:`~PersistenceMixin.from_views`), the write-ahead log hook-up
(:meth:`~PersistenceMixin.attach_log`, used by :func:`hamsearch.open`), the
pending data check of a loaded file and pickling.  The metadata an index
writes is :meth:`~PersistenceMixin.sections`; the constructor arguments it
reads back are named once, in ``_META_ARGS``.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, Iterable, Optional, Union

import numpy as np
from numpy.typing import ArrayLike

from . import merges
from .segment import Segment, SegmentView, Snapshot

if TYPE_CHECKING:
    from .index import Index
    from .storage import FileCheck
    from .wal import WriteAheadLog

__all__ = ["PersistenceMixin"]

#: The keyword arguments of ``Index(nbits, ...)`` that the metadata records
#: (written by :meth:`PersistenceMixin.sections`); one absent from older
#: metadata takes the constructor's default.
_META_ARGS = ("method", "features_dtype", "m", "segment_rows", "background_merges")


class PersistenceMixin:
    """Saving, loading, the write-ahead log hook-up and pickling of
    :class:`hamsearch.Index`."""

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
        return sum(n.startswith("wal-") and n.endswith(".log") for n in os.listdir(wal.directory))

    def attach_log(self, log: WriteAheadLog, directory: Union[str, "os.PathLike[str]"],
                   seq: int) -> None:
        """Start logging every mutation to ``log`` (a
        :class:`hamsearch.wal.WriteAheadLog` of ``directory``, whose records
        up to ``seq`` are in this index); :func:`hamsearch.open` calls it."""
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
