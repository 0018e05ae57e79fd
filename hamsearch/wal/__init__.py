"""Write-ahead log: append-only, checksummed records of named numpy arrays.

Every acknowledged change (an op name and a few arrays) is appended as one
record with a consecutive sequence number ("seqno"); after a crash the records
after the last saved snapshot are replayed; after a snapshot, a checkpoint
lets the files that only hold older records be deleted.  The package depends on
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

Modules
    :mod:`~hamsearch.wal.records` the bytes (encoding and decoding);
    :mod:`~hamsearch.wal.files` the files in the directory and the lock;
    :mod:`~hamsearch.wal.reader` checking and replaying the records;
    :mod:`~hamsearch.wal.writer` :class:`WriteAheadLog`;
    :mod:`~hamsearch.wal.errors` the errors.  This package re-exports
    their public names; patch a constant in the module that defines it
    (``records.MAX_RECORD_BYTES``).
"""

from __future__ import annotations

from .errors import WalCorruptError, WalLockedError
from .records import FORMAT_VERSION, MAGIC, MAX_RECORD_BYTES
from .writer import DEFAULT_MAX_FILE_BYTES, POLICIES, WriteAheadLog

__all__ = ["WriteAheadLog", "WalCorruptError", "WalLockedError", "POLICIES",
           "MAX_RECORD_BYTES", "DEFAULT_MAX_FILE_BYTES", "FORMAT_VERSION"]
