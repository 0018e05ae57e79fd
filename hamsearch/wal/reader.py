"""Reading the log: checking file headers and records, torn tails, replay.

:func:`_walk` checks the records of one file (and decodes those a replay
wants), telling a torn tail from damage that may have lost acknowledged
records (the rules are in :mod:`hamsearch.wal`); :func:`_replay` chains
the files.  Used by :class:`~hamsearch.wal.writer.WriteAheadLog` for
recovery, :meth:`~hamsearch.wal.writer.WriteAheadLog.replay` and
:meth:`~hamsearch.wal.writer.WriteAheadLog.read`.
"""

from __future__ import annotations

import operator
import os
import zlib

import numpy as np

from . import records as _records
from .errors import WalCorruptError
from .records import (FORMAT_VERSION, MAGIC, _FILE_HEADER, _RECORD_HEADER, _SEQ, _Payload,
                      _file_header, _record_crc)

_CHUNK = 1 << 24  # bytes read at a time when checksumming
_SCAN_CHUNK = 1 << 20  # offsets examined at a time when looking past damage


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
        room = np.minimum(end - pos - hsize - np.arange(count), _records.MAX_RECORD_BYTES)
        hits = np.flatnonzero((seqs >= min_seq) & (seqs <= max_seq) & (lengths <= room))
        for i in hits.tolist():
            length, crc, seq = _RECORD_HEADER.unpack_from(buf, i)
            if _stored_crc(fd, seq, pos + i + hsize, length) == crc:
                return pos + i
        pos += count
    return None


def _walk(fd: int, path: str, seq: int, end: int, *, tolerate_tail: bool,
          decode_after: float):
    """Check the records of one file from its header to ``end``.

    Yields ``(seqno, op, arrays)`` for records with seqno > ``decode_after``
    (the others are only checksummed) and returns ``(end of the last good
    record, next seqno)``.  With ``tolerate_tail`` a torn tail (see :mod:`hamsearch.wal`)
    ends the walk; anything else bad raises :class:`WalCorruptError`.
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
            if length > _records.MAX_RECORD_BYTES or start + length > end:
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
