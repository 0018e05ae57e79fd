"""The writer: :class:`WriteAheadLog`, an open, writable log in a directory."""

from __future__ import annotations

import contextlib
import logging
import math
import numbers
import operator
import os
import threading
from collections.abc import Iterator, Mapping

import numpy as np

from .._atomic import fsync_directory
from .files import _create_segment, _list_segments, _lock_directory, _write_all
from .reader import _check_after, _finish, _read_header, _replay, _walk
from .records import _FILE_HEADER, _RECORD_HEADER, _encode, _file_header, _record_crc

__all__ = ["WriteAheadLog", "POLICIES", "DEFAULT_MAX_FILE_BYTES"]

_log = logging.getLogger("hamsearch.wal")

#: Durability policies accepted by :meth:`WriteAheadLog.open` (``fsync=``).
POLICIES = ("always", "interval", "never")
#: A log file is rotated before a record would make it larger than this.
DEFAULT_MAX_FILE_BYTES = 64 << 20


def _check_policy(fsync, interval) -> tuple[str, float]:
    if not isinstance(fsync, str) or fsync not in POLICIES:
        raise ValueError(f"fsync must be one of {', '.join(map(repr, POLICIES))}, got {fsync!r}")
    if isinstance(interval, bool) or not isinstance(interval, numbers.Real):
        raise TypeError(f"fsync_interval must be a number of seconds, got {interval!r}")
    interval = float(interval)
    if not (math.isfinite(interval) and interval > 0):
        raise ValueError(f"fsync_interval must be positive and finite, got {interval!r}")
    return fsync, interval


class WriteAheadLog:
    """An open, writable write-ahead log in a directory.

    Use :meth:`open` (or the constructor, which takes the same arguments).

    Parameters
    ----------
    directory : str or os.PathLike
        Where the log files live; created if missing.  One writer at a time:
        a second open raises :class:`WalLockedError`.
    fsync : {"always", "interval", "never"}
        Durability of an acknowledged :meth:`append`.  ``"always"``: the
        record is ``fdatasync``-ed before ``append`` returns; it survives a
        power loss.  ``"interval"``: a background thread syncs at most every
        ``fsync_interval`` seconds when something was written; a power loss
        loses at most that window.  ``"never"``: the OS writes back when it
        likes.  Under every policy an acknowledged record survives the
        process being killed (``kill -9``): it is in the page cache.
    fsync_interval : float
        Seconds between background syncs for ``fsync="interval"``.
    max_file_bytes : int
        A file that holds records is rotated (a new one started) before a
        record would make it larger than this.

    Attributes
    ----------
    dropped_bytes : int
        Bytes of torn tail (a record whose write did not finish) that opening
        cut off the newest file; 0 if it ended cleanly.

    Raises
    ------
    WalCorruptError
        The newest file's header is damaged, or damage in it is followed by
        valid records (see :mod:`hamsearch.wal`).  Older files are checked by
        :meth:`replay`.
    WalLockedError
        The directory is already open for writing.

    Notes
    -----
    Methods are thread safe.  :meth:`checkpoint` must not run while a
    :meth:`replay` of the same log is being iterated (it may delete a file
    the replay still has to read).
    """

    def __init__(self, directory, fsync: str = "always", fsync_interval: float = 1.0,
                 max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> None:
        self._policy, self._interval = _check_policy(fsync, fsync_interval)
        self._max_file_bytes = operator.index(max_file_bytes)
        if self._max_file_bytes < 1:
            raise ValueError(f"max_file_bytes must be positive, got {max_file_bytes!r}")
        self._directory = os.fspath(directory)
        os.makedirs(self._directory, exist_ok=True)
        self._lock = threading.Lock()  # appends, rotation, checkpoints, close
        self._sync_lock = threading.Lock()  # the file descriptor vs the sync thread
        self._failed: BaseException | None = None
        self._dirty = False
        self._fd: int | None = None
        self._lock_fd = _lock_directory(self._directory)
        try:
            self._recover()
        except BaseException:
            os.close(self._lock_fd)
            raise
        self._stop = threading.Event()
        self._thread = None
        if self._policy == "interval":
            self._thread = threading.Thread(target=self._sync_loop, daemon=True,
                                            name=f"hamsearch-wal-sync {self._directory}")
            self._thread.start()

    @classmethod
    def open(cls, directory, fsync: str = "always", fsync_interval: float = 1.0,
             max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> WriteAheadLog:
        """Open (creating if needed) the log in ``directory`` for appending.

        Parameters are those of the class.  Recovers the newest file: a torn
        tail is truncated (and fsynced) and counted in :attr:`dropped_bytes`.

        Returns
        -------
        WriteAheadLog
        """
        return cls(directory, fsync, fsync_interval, max_file_bytes)

    @staticmethod
    def read(directory, after_seq: int | None = None) -> Iterator[tuple[int, str, dict]]:
        """Replay a log without opening it for writing: no lock, nothing truncated.

        A torn tail of the newest file ends the iteration silently.  Safe to
        run while a writer appends (it reads what is complete), not while it
        checkpoints.

        Parameters
        ----------
        directory : str or os.PathLike
        after_seq : int or None
            As in :meth:`replay` (no upper bound is checked).

        Returns
        -------
        iterator of (int, str, dict of str to numpy.ndarray)
        """
        segments = _list_segments(os.fspath(directory))
        first = segments[0][0] if segments else 1
        return _replay(segments, _check_after(after_seq, first, None), None)

    # ---------------------------------------------------------------- state
    @property
    def directory(self) -> str:
        """The directory holding the log files."""
        return self._directory

    @property
    def fsync(self) -> str:
        """The durability policy."""
        return self._policy

    @property
    def last_seq(self) -> int:
        """Seqno of the last record appended (0 for a log that never had one)."""
        return self._last_seq

    @property
    def first_seq(self) -> int:
        """Seqno of the oldest record still kept (``last_seq + 1`` if none is)."""
        with self._lock:
            return self._segments[0][0]

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._fd is None

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"last_seq={self._last_seq}"
        return f"WriteAheadLog({self._directory!r}, fsync={self._policy!r}, {state})"

    def __enter__(self) -> WriteAheadLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------ recovery
    def _recover(self) -> None:
        segments = _list_segments(self._directory, remove_temps=True)
        if not segments:
            segments = [(1, _create_segment(self._directory, 1))]
        first, path = segments[-1]
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        try:
            size = os.fstat(fd).st_size
            if _read_header(fd, path, first, newest=True):
                end, next_seq = _finish(_walk(fd, path, first, size, tolerate_tail=True,
                                              decode_after=math.inf))
            else:
                end, next_seq = 0, first
            self.dropped_bytes = size - end
            if end < size or end == 0:
                _log.warning("%s: dropped a torn tail of %d bytes at offset %d", path,
                             size - end, end)
                os.ftruncate(fd, end)
                if end == 0:
                    _write_all(fd, [_file_header(first)])
                    end = _FILE_HEADER.size
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._end, self._last_seq = fd, end, next_seq - 1
        self._segments = segments

    # ------------------------------------------------------------- writing
    def append(self, op: str, arrays: Mapping[str, np.ndarray]) -> int:
        """Append one record; return its seqno once it is acknowledged.

        The record goes to the file in one ``writev`` system call; when this
        returns it survives the process being killed, and a power loss as the
        policy says.

        Parameters
        ----------
        op : str
            1-255 characters from ``[A-Za-z0-9_.-]``, e.g. ``"add"``.
        arrays : mapping of str to numpy.ndarray
            Names (same rule as ``op``) to arrays of bool, (u)int8-64 or
            float16/32/64 (converted to little-endian C order, values kept).

        Returns
        -------
        int
            The seqno: ``last_seq + 1``.

        Raises
        ------
        TypeError, ValueError
            A bad name, a dtype that cannot be logged, a record over
            :data:`MAX_RECORD_BYTES`, a closed log.
        OSError
            The write or sync failed.  The record may or may not be in the
            log; after a failed sync the log refuses further appends.
        """
        parts, length = _encode(op, arrays)
        size = _RECORD_HEADER.size + length
        with self._lock:
            self._check_open()
            seq = self._last_seq + 1
            crc = _record_crc(seq, parts)
            if self._end > _FILE_HEADER.size and self._end + size > self._max_file_bytes:
                self._rotate()
            self._write([_RECORD_HEADER.pack(length, crc, seq), *parts])
            self._end += size
            self._last_seq = seq
            if self._policy == "always":
                self._sync_now()
            else:
                self._dirty = True
        return seq

    def _check_open(self) -> None:
        if self._fd is None:
            raise ValueError(f"{self._directory}: the write-ahead log is closed")
        if self._failed is not None:
            raise OSError(f"{self._directory}: an earlier write or sync failed "
                          f"({self._failed}); reopen the log") from self._failed

    def _write(self, parts: list) -> None:
        try:
            _write_all(self._fd, parts)
        except BaseException:
            # A partial record must not stay in front of later ones.
            try:
                os.ftruncate(self._fd, self._end)
            except OSError as exc:
                self._failed = exc
            raise

    def _sync_now(self) -> None:
        try:
            os.fdatasync(self._fd)
        except OSError as exc:
            self._failed = exc  # what the page cache holds is now unknown
            raise

    def _sync_loop(self) -> None:
        while not self._stop.wait(self._interval):
            if self._dirty:
                with self._sync_lock:
                    if self._fd is None or self._failed is not None:
                        return
                    self._dirty = False
                    try:
                        os.fdatasync(self._fd)
                    except OSError as exc:
                        self._failed = exc
                        return

    def _rotate(self) -> None:
        """Start a new file for the records after ``last_seq`` (``_lock`` held)."""
        os.fsync(self._fd)  # older files are always whole on disk
        first = self._last_seq + 1
        path = _create_segment(self._directory, first)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        with self._sync_lock:
            os.close(self._fd)
            self._fd, self._end, self._dirty = fd, _FILE_HEADER.size, False
        self._segments.append((first, path))

    def checkpoint(self, seq: int) -> int:
        """Declare records up to ``seq`` saved elsewhere; delete the files holding only those.

        Starts a new file for later records (if the current one holds any),
        then deletes, oldest first, every file whose records all have seqno
        <= ``seq``, and fsyncs the directory.  The log does not store ``seq``:
        the caller keeps it with its snapshot and passes it to :meth:`replay`.

        Parameters
        ----------
        seq : int
            0 <= ``seq`` <= :attr:`last_seq`.

        Returns
        -------
        int
            The number of files deleted.
        """
        if isinstance(seq, bool):
            raise TypeError("seq must be an int, got bool")
        seq = operator.index(seq)
        with self._lock:
            self._check_open()
            if not 0 <= seq <= self._last_seq:
                raise ValueError(f"seq must be in [0, last_seq={self._last_seq}], got {seq}")
            if self._end > _FILE_HEADER.size:
                self._rotate()
            deleted = 0
            while len(self._segments) > 1 and self._segments[1][0] - 1 <= seq:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._segments.pop(0)[1])
                deleted += 1
            if deleted:
                fsync_directory(self._directory)
        return deleted

    def replay(self, after_seq: int | None = None) -> Iterator[tuple[int, str, dict]]:
        """Records with seqno > ``after_seq``, oldest first, checksums checked.

        Parameters
        ----------
        after_seq : int or None
            The seqno the caller's snapshot already holds; None replays every
            record kept.  Must lie in ``[first_seq - 1, last_seq]``: below, the
            records the caller needs were deleted by a checkpoint; above, the
            snapshot is newer than the log.  Both raise ValueError.

        Returns
        -------
        iterator of (int, str, dict of str to numpy.ndarray)
            ``(seqno, op, arrays)``; the arrays are fresh, writeable copies.
            Records appended after this call are not included.

        Raises
        ------
        WalCorruptError
            While iterating, at the first damaged record, file or gap.
        """
        with self._lock:
            self._check_open()
            segments, end, last = list(self._segments), self._end, self._last_seq
        return _replay(segments, _check_after(after_seq, segments[0][0], last), end)

    def close(self) -> None:
        """Stop the sync thread, sync (unless ``fsync="never"``), release the lock.

        Idempotent.
        """
        with self._lock:
            if self._fd is None:
                return
            self._stop.set()
            if self._thread is not None:
                self._thread.join()
            try:
                if self._policy != "never" and self._failed is None:
                    os.fdatasync(self._fd)
            finally:
                with self._sync_lock:
                    os.close(self._fd)
                    self._fd = None
                os.close(self._lock_fd)
