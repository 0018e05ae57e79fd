"""Write-ahead log: append-only, checksummed records of named numpy arrays.

Every acknowledged change (an op name and a few arrays) is appended as one
record with a consecutive sequence number ("seqno"); after a crash the records
after the last saved snapshot are replayed; after a snapshot, a checkpoint
lets the files that only hold older records be deleted.  The module depends on
numpy and the standard library only, and is POSIX only (``fcntl``).

Layout (all integers little-endian; ``docs/wal.md`` has the full description)::

    DIR/wal.lock                       flock(2) held by the one writer
    DIR/wal-<16-digit first seqno>.log one log file ("segment"), oldest first

    file header  magic b"HSWAL\\0" | u16 version (1) | u64 first seqno | u32 crc32
    record       u32 payload length | u32 crc32(seqno bytes + payload) | u64 seqno
                 | payload
    payload      op (u8 length + ascii) | u16 array count | per array: name
                 (u8 length + ascii), dtype (u8 length + ascii, e.g. "<u8"),
                 u8 ndim, u64 per dimension, raw C-order bytes

Torn tail or corruption
    Only the newest file may end in a *torn tail*: from the first record that
    is incomplete, runs past the end of the file, or fails its checksum, to the
    end of the file, provided no whole record with a valid checksum and a
    seqno at least the expected one starts anywhere after it.  A writable open
    truncates it (:attr:`WriteAheadLog.dropped_bytes`); :meth:`WriteAheadLog.read`
    stops there.  Everything else is a :class:`WalCorruptError` naming the file
    and the offset: a bad record followed by a valid one, any bad record in an
    older file, a valid record whose seqno is not the next one (a gap or a
    repeat), files whose seqno ranges do not join up, a bad file header, a
    malformed payload.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import numbers
import operator
import os
import re
import struct
import threading
import zlib
from collections.abc import Iterator, Mapping

import numpy as np

from ._atomic import atomic_write, fsync_directory
from .errors import FileFormatError, ResourceBusyError

__all__ = ["WriteAheadLog", "WalCorruptError", "WalLockedError", "POLICIES",
           "MAX_RECORD_BYTES", "DEFAULT_MAX_FILE_BYTES", "FORMAT_VERSION"]

_log = logging.getLogger(__name__)

MAGIC = b"HSWAL\x00"
FORMAT_VERSION = 1
#: Durability policies accepted by :meth:`WriteAheadLog.open` (``fsync=``).
POLICIES = ("always", "interval", "never")
#: Largest payload of one record; larger appends are refused.
MAX_RECORD_BYTES = 1 << 30
#: A log file is rotated before a record would make it larger than this.
DEFAULT_MAX_FILE_BYTES = 64 << 20

_FILE_HEADER = struct.Struct("<6sHQI")  # magic, version, first seqno, crc32
_RECORD_HEADER = struct.Struct("<IIQ")  # payload length, crc32, seqno
_SEQ = struct.Struct("<Q")
_DTYPES = frozenset(["|b1", "|u1", "|i1", "<u2", "<i2", "<u4", "<i4", "<u8", "<i8",
                     "<f2", "<f4", "<f8"])
_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,255}")
_FILE_NAME = re.compile(r"wal-(\d{16})\.log")
_LOCK_NAME = "wal.lock"
_TEMP_SUFFIX = ".tmp"
_MAX_SEQ = 10**16 - 1  # what 16 digits of a file name can hold
_CHUNK = 1 << 24  # bytes read at a time when checksumming
_SCAN_CHUNK = 1 << 20  # offsets examined at a time when looking past damage
_IOV_MAX = os.sysconf("SC_IOV_MAX")


class WalCorruptError(FileFormatError):
    """A log file is damaged in a way that may have lost acknowledged records."""


class WalLockedError(ResourceBusyError):
    """The log directory is already open for writing (by this or another process)."""


# ------------------------------------------------------------------- encoding
def _check_name(what: str, name) -> None:
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, got {type(name).__name__}")
    if not _NAME.fullmatch(name):
        raise ValueError(f"{what} must be 1-255 characters from [A-Za-z0-9_.-], got {name!r}")


def _short_text(text: str) -> bytes:
    raw = text.encode("ascii")
    return bytes([len(raw)]) + raw


def _check_array(name: str, value) -> np.ndarray:
    arr = np.asarray(value)
    dtype = arr.dtype
    if dtype.kind not in "biuf" or dtype.itemsize > 8:
        raise TypeError(f"array {name!r}: dtype {dtype} cannot be logged; allowed: "
                        "bool, (u)int8-64, float16/32/64")
    return arr


def _encode(op: str, arrays: Mapping[str, np.ndarray]) -> tuple[list, int]:
    """The payload of a record as a list of buffers, and its length in bytes."""
    _check_name("op", op)
    if not isinstance(arrays, Mapping):
        raise TypeError(f"arrays must be a mapping of names to arrays, got {type(arrays).__name__}")
    if len(arrays) > 0xFFFF:
        raise ValueError(f"a record holds at most 65535 arrays, got {len(arrays)}")
    parts: list = []
    head = bytearray(_short_text(op) + struct.pack("<H", len(arrays)))
    length = len(head)
    for name, value in arrays.items():
        _check_name("array name", name)
        arr = _check_array(name, value)
        dtype = arr.dtype.newbyteorder("<")
        meta = (_short_text(name) + _short_text(dtype.str)
                + struct.pack(f"<B{arr.ndim}Q", arr.ndim, *arr.shape))
        length += len(meta) + arr.nbytes
        if length > MAX_RECORD_BYTES:  # checked before any conversion copies data
            raise ValueError(f"record of at least {length} bytes exceeds the limit of "
                             f"{MAX_RECORD_BYTES} bytes; split it")
        head += meta
        if arr.nbytes:
            arr = np.asarray(arr, dtype=dtype, order="C")
            parts += [bytes(head), memoryview(arr.reshape(-1).view(np.uint8))]
            head = bytearray()
    if head:
        parts.append(bytes(head))
    return parts, length


def _file_header(first_seq: int) -> bytes:
    body = _FILE_HEADER.pack(MAGIC, FORMAT_VERSION, first_seq, 0)[:-4]
    return body + struct.pack("<I", zlib.crc32(body))


def _segment_name(first_seq: int) -> str:
    if not 1 <= first_seq <= _MAX_SEQ:
        raise ValueError(f"seqno {first_seq} does not fit a log file name")
    return f"wal-{first_seq:016d}.log"


# ------------------------------------------------------------------- file I/O
def _write_all(fd: int, parts: list) -> None:
    """Write ``parts`` with one ``writev`` call, continuing after a short write."""
    views = [memoryview(p).cast("B") for p in parts if len(p)]
    if len(views) > _IOV_MAX:
        views = [memoryview(b"".join(views))]
    while views:
        done = os.writev(fd, views)
        while views and done >= len(views[0]):
            done -= len(views.pop(0))
        if done:
            views[0] = views[0][done:]


def _create_segment(directory: str, first_seq: int) -> str:
    """Create an empty log file (header only) atomically; return its path."""
    path = os.path.join(directory, _segment_name(first_seq))
    with atomic_write(path, temp=path + _TEMP_SUFFIX, what="log file") as fh:
        fh.write(_file_header(first_seq))
    return path


def _list_segments(directory: str, *, remove_temps: bool = False) -> list[tuple[int, str]]:
    """``(first seqno, path)`` of every log file in ``directory``, oldest first."""
    found = []
    for name in os.listdir(directory):
        match = _FILE_NAME.fullmatch(name.removesuffix(_TEMP_SUFFIX))
        if match is None:
            continue
        path = os.path.join(directory, name)
        if name.endswith(_TEMP_SUFFIX):  # a creation that did not finish
            if remove_temps:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            continue
        if int(match[1]) == 0:
            raise WalCorruptError(f"{path}: seqno 0 in the file name (seqnos start at 1)")
        found.append((int(match[1]), path))
    return sorted(found)


def _lock_directory(directory: str) -> int:
    path = os.path.join(directory, _LOCK_NAME)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise WalLockedError(f"{directory}: the write-ahead log is already open for writing "
                             f"(lock {path} is held)") from None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _pread_exact(fd: int, size: int, offset: int) -> bytearray:
    buf = bytearray(size)
    view = memoryview(buf)
    done = 0
    while done < size:
        got = os.preadv(fd, [view[done:]], offset + done)
        if got == 0:
            raise OSError(f"file shrank while being read (offset {offset + done})")
        done += got
    return buf


def _record_crc(seq: int, payload: list) -> int:
    """The checksum a record stores: CRC-32 of its seqno bytes, then its payload buffers."""
    crc = zlib.crc32(_SEQ.pack(seq))
    for part in payload:
        crc = zlib.crc32(part, crc)
    return crc


def _stored_crc(fd: int, seq: int, offset: int, size: int) -> int | None:
    """:func:`_record_crc` of a payload of ``size`` bytes at ``offset``, read in chunks.

    None if the file ends first.
    """
    crc = zlib.crc32(_SEQ.pack(seq))
    end = offset + size
    while offset < end:
        chunk = os.pread(fd, min(_CHUNK, end - offset), offset)
        if not chunk:
            return None
        crc = zlib.crc32(chunk, crc)
        offset += len(chunk)
    return crc


# -------------------------------------------------------------------- reading
def _read_header(fd: int, path: str, name_seq: int, newest: bool) -> bool:
    """Check a file header: True if whole, False for a torn creation (newest file only).

    A newest file shorter than a header whose bytes begin the header its name
    implies (an empty file included) is a creation that did not finish.
    """
    raw = os.pread(fd, _FILE_HEADER.size, 0)
    if len(raw) < _FILE_HEADER.size:
        if newest and _file_header(name_seq).startswith(raw):
            return False
        raise WalCorruptError(f"{path}: offset 0: truncated file header "
                              f"({len(raw)} of {_FILE_HEADER.size} bytes)")
    magic, version, first, crc = _FILE_HEADER.unpack(raw)
    if magic != MAGIC:
        raise WalCorruptError(f"{path}: offset 0: not a write-ahead log file (magic {magic!r})")
    if version != FORMAT_VERSION:
        raise WalCorruptError(f"{path}: offset 6: unsupported format version {version} "
                              f"(this reader knows {FORMAT_VERSION})")
    if crc != zlib.crc32(raw[:-4]):
        raise WalCorruptError(f"{path}: offset 16: file header checksum mismatch")
    if first != name_seq:
        raise WalCorruptError(f"{path}: offset 8: header says first seqno {first}, "
                              f"the file name says {name_seq}")
    return True


def _find_record(fd: int, start: int, end: int, min_seq: int) -> int | None:
    """Offset of the first valid record in ``[start, end)`` with seqno >= ``min_seq``.

    Valid: whole before ``end``, within the size limit, checksum correct.
    Seqnos above ``min_seq + (end - start) // 16`` cannot occur (every record
    between takes at least 16 bytes) and are not considered.
    """
    hsize = _RECORD_HEADER.size
    max_seq = min_seq + (end - start) // hsize
    pos = start
    while end - pos >= hsize:
        buf = os.pread(fd, min(_SCAN_CHUNK, end - pos - hsize + 1) + hsize - 1, pos)
        count = len(buf) - hsize + 1
        if count <= 0:
            break
        lengths = np.ndarray((count,), "<u4", buf, 0, (1,)).astype(np.int64)
        seqs = np.ndarray((count,), "<u8", buf, 8, (1,))
        room = np.minimum(end - pos - hsize - np.arange(count), MAX_RECORD_BYTES)
        hits = np.flatnonzero((seqs >= min_seq) & (seqs <= max_seq) & (lengths <= room))
        for i in hits.tolist():
            length, crc, seq = _RECORD_HEADER.unpack_from(buf, i)
            if _stored_crc(fd, seq, pos + i + hsize, length) == crc:
                return pos + i
        pos += count
    return None


class _Payload:
    """Cursor over one record's payload; malformed contents raise WalCorruptError."""

    def __init__(self, data: bytearray, where: str) -> None:
        self.data, self.where, self.pos = data, where, 0

    def fail(self, what: str):
        return WalCorruptError(f"{self.where}: payload byte {self.pos}: {what}")

    def take(self, size: int) -> int:
        if size > len(self.data) - self.pos:
            raise self.fail(f"needs {size} bytes, {len(self.data) - self.pos} left")
        self.pos += size
        return self.pos - size

    def unpack(self, fmt: str) -> tuple:
        fmt = struct.Struct(fmt)
        return fmt.unpack_from(self.data, self.take(fmt.size))

    def text(self) -> str:
        (size,) = self.unpack("<B")
        start = self.take(size)
        try:
            return self.data[start : start + size].decode("ascii")
        except UnicodeDecodeError:
            raise self.fail("non-ascii name") from None

    def array(self) -> tuple[str, np.ndarray]:
        name, dtype = self.text(), self.text()
        if dtype not in _DTYPES:
            raise self.fail(f"array {name!r}: dtype {dtype!r} is not allowed")
        (ndim,) = self.unpack("<B")
        shape = self.unpack(f"<{ndim}Q")
        dtype = np.dtype(dtype)
        start = self.take(math.prod(shape) * dtype.itemsize)  # before any allocation
        try:
            out = np.empty(shape, dtype)
        except (ValueError, OverflowError):
            raise self.fail(f"array {name!r}: impossible shape {shape}") from None
        out.reshape(-1).view(np.uint8)[:] = np.frombuffer(self.data, np.uint8, out.nbytes, start)
        return name, out

    def record(self) -> tuple[str, dict[str, np.ndarray]]:
        op = self.text()
        (count,) = self.unpack("<H")
        arrays = {}
        for _ in range(count):
            name, arr = self.array()
            if name in arrays:
                raise self.fail(f"array {name!r} appears twice")
            arrays[name] = arr
        if self.pos != len(self.data):
            raise self.fail(f"{len(self.data) - self.pos} bytes after the last array")
        return op, arrays


def _walk(fd: int, path: str, seq: int, end: int, *, tolerate_tail: bool,
          decode_after: float):
    """Check the records of one file from its header to ``end``.

    Yields ``(seqno, op, arrays)`` for records with seqno > ``decode_after``
    (the others are only checksummed) and returns ``(end of the last good
    record, next seqno)``.  With ``tolerate_tail`` a torn tail (see the module
    docstring) ends the walk; anything else bad raises :class:`WalCorruptError`.
    """
    hsize = _RECORD_HEADER.size
    pos = _FILE_HEADER.size
    while pos < end:
        fault = None
        head = os.pread(fd, hsize, pos) if end - pos >= hsize else b""
        if len(head) < hsize:
            fault = f"incomplete record header ({end - pos} bytes before the end)"
        else:
            length, crc, found = _RECORD_HEADER.unpack(head)
            start = pos + hsize
            if length > MAX_RECORD_BYTES or start + length > end:
                fault = f"record length {length} runs past the end of the file or the limit"
            else:
                payload = _pread_exact(fd, length, start) if seq > decode_after else None
                actual = (_record_crc(found, [payload]) if payload is not None else
                          _stored_crc(fd, found, start, length))
                if actual != crc:
                    fault = f"checksum mismatch in the record of {hsize + length} bytes"
                elif found != seq:
                    raise WalCorruptError(f"{path}: offset {pos}: seqno {found} where {seq} "
                                          "was expected (a gap or a repeat)")
        if fault is not None:
            if tolerate_tail and _find_record(fd, pos + 1, end, seq) is None:
                return pos, seq
            later = ("valid records follow it" if tolerate_tail else
                     "in a log file that is not the newest")
            raise WalCorruptError(f"{path}: offset {pos}: {fault}, {later}; acknowledged "
                                  f"records from seqno {seq} on may be lost")
        if payload is not None:
            yield (seq, *_Payload(payload, f"{path}: offset {pos}").record())
        pos = start + length
        seq += 1
    return pos, seq


def _finish(gen):
    """Run a generator to its end; return its return value."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def _replay(segments: list[tuple[int, str]], after_seq: int, tail_end: int | None):
    """Records with seqno > ``after_seq`` across ``segments``.

    ``tail_end`` is where the newest file's good records end when the caller
    is its writer; None reads to the end of the file, stopping at a torn tail.
    """
    for i, (first, path) in enumerate(segments):
        newest = i == len(segments) - 1
        if not newest and segments[i + 1][0] - 1 <= after_seq:
            continue  # every record in it is already applied
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if not _read_header(fd, path, first, newest):
                continue
            end = os.fstat(fd).st_size if tail_end is None or not newest else tail_end
            _, next_seq = yield from _walk(fd, path, first, end, tolerate_tail=newest,
                                           decode_after=after_seq)
        finally:
            os.close(fd)
        if not newest and next_seq != segments[i + 1][0]:
            raise WalCorruptError(f"{path}: its records end at seqno {next_seq - 1} but the "
                                  f"next log file starts at seqno {segments[i + 1][0]}")


def _check_after(after_seq, first_seq: int, last_seq: int | None) -> int:
    if after_seq is None:
        return first_seq - 1
    if isinstance(after_seq, bool):
        raise TypeError("after_seq must be an int or None, got bool")
    after_seq = operator.index(after_seq)
    if after_seq < first_seq - 1:
        raise ValueError(f"after_seq={after_seq}: the log starts at seqno {first_seq}; the "
                         "records before it were deleted by a checkpoint")
    if last_seq is not None and after_seq > last_seq:
        raise ValueError(f"after_seq={after_seq}: the log ends at seqno {last_seq}")
    return after_seq


def _check_policy(fsync, interval) -> tuple[str, float]:
    if not isinstance(fsync, str) or fsync not in POLICIES:
        raise ValueError(f"fsync must be one of {', '.join(map(repr, POLICIES))}, got {fsync!r}")
    if isinstance(interval, bool) or not isinstance(interval, numbers.Real):
        raise TypeError(f"fsync_interval must be a number of seconds, got {interval!r}")
    interval = float(interval)
    if not (math.isfinite(interval) and interval > 0):
        raise ValueError(f"fsync_interval must be positive and finite, got {interval!r}")
    return fsync, interval


# -------------------------------------------------------------------- the log
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
        valid records (see the module docstring).  Older files are checked by
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
