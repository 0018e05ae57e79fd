"""On-disk index format: versioned, checksummed, atomic, memory-mappable.

Layout of an index file (all integers little-endian)::

    offset 0   8 bytes   magic  b"HAMSRCH\\x00"
    offset 8   uint32    format version (currently 1)
    offset 12  uint32    header length H in bytes
    offset 16  uint32    CRC-32 of the header bytes
    offset 20  uint32    reserved (0)
    offset 24  H bytes   header: UTF-8 JSON with the index metadata and, per
                         section, its name, dtype, shape, offset, size and CRC-32
    ...        sections, each starting on a 64-byte boundary

Sections are raw C-order arrays, so :func:`load` with ``mmap=True`` maps them
without reading them.  Saving writes a temporary file in the same directory,
fsyncs it and renames it over the target: a crash mid-save leaves the previous
file intact.
"""

from __future__ import annotations

import io
import json
import mmap as _mmap
import os
import struct
import tempfile
import zlib

import numpy as np

__all__ = ["load", "save_index", "dumps", "loads", "IndexFileError", "FORMAT_VERSION"]

MAGIC = b"HAMSRCH\x00"
FORMAT_VERSION = 1
_PREAMBLE = struct.Struct("<8sIIII")
_ALIGN = 64
_CHUNK = 1 << 24


class IndexFileError(ValueError):
    """An index file is truncated, corrupted or of an unknown version."""


def _crc32(buf) -> int:
    view = memoryview(buf).cast("B")
    crc = 0
    for start in range(0, len(view), _CHUNK):
        crc = zlib.crc32(view[start : start + _CHUNK], crc)
    return crc & 0xFFFFFFFF


def _array_bytes(arr: np.ndarray) -> memoryview:
    arr = np.ascontiguousarray(arr)
    return memoryview(arr).cast("B") if arr.size else memoryview(b"")


def _layout(index) -> tuple[bytes, list[tuple[int, memoryview]]]:
    meta, arrays = index._sections()
    sections = []
    payloads = []
    # Offsets depend on the header length, which depends on the offsets: lay
    # out with a generous fixed header reservation, recomputed if too small.
    reserve = 4096
    while True:
        offset = _PREAMBLE.size + reserve
        sections.clear()
        payloads.clear()
        for name, arr in arrays.items():
            arr = np.ascontiguousarray(arr)
            offset = (offset + _ALIGN - 1) // _ALIGN * _ALIGN
            data = _array_bytes(arr)
            sections.append(
                {
                    "name": name,
                    "dtype": arr.dtype.newbyteorder("<").str,
                    "shape": list(arr.shape),
                    "offset": offset,
                    "nbytes": len(data),
                    "crc32": _crc32(data),
                }
            )
            payloads.append((offset, data))
            offset += len(data)
        header = {"format": "hamsearch-index", "meta": meta, "sections": sections,
                  "file_size": offset}
        blob = json.dumps(header, sort_keys=True).encode("utf-8")
        if len(blob) <= reserve:
            blob = blob + b" " * (reserve - len(blob))
            return blob, payloads
        reserve = (len(blob) + 4095) // 4096 * 4096


def _write(fh, index) -> None:
    header, payloads = _layout(index)
    fh.write(_PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(header), _crc32(header), 0))
    fh.write(header)
    pos = _PREAMBLE.size + len(header)
    for offset, data in payloads:
        if offset > pos:
            fh.write(b"\x00" * (offset - pos))
        for start in range(0, len(data), _CHUNK):
            fh.write(data[start : start + _CHUNK])
        pos = offset + len(data)


def save_index(index, path) -> None:
    """Write ``index`` to ``path`` atomically (temp file, fsync, rename)."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot save index to {path!r}: directory {directory!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".hamsearch-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            _write(fh, index)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(dfd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(dfd)


def dumps(index) -> bytes:
    """Serialise ``index`` to bytes (the file format, in memory)."""
    buf = io.BytesIO()
    _write(buf, index)
    return buf.getvalue()


def _parse(buf, source: str, verify: bool):
    """Validate the preamble/header of ``buf`` and return (meta, arrays)."""
    size = len(buf)
    if size < _PREAMBLE.size:
        raise IndexFileError(f"{source}: too short to be a hamsearch index ({size} bytes)")
    magic, version, hlen, hcrc, _ = _PREAMBLE.unpack_from(buf, 0)
    if magic != MAGIC:
        raise IndexFileError(f"{source}: not a hamsearch index file (bad magic {magic!r})")
    if version != FORMAT_VERSION:
        raise IndexFileError(
            f"{source}: index format version {version} is not supported "
            f"(this hamsearch reads version {FORMAT_VERSION})"
        )
    if _PREAMBLE.size + hlen > size:
        raise IndexFileError(f"{source}: truncated (header runs past the end of the file)")
    header_bytes = bytes(buf[_PREAMBLE.size : _PREAMBLE.size + hlen])
    if _crc32(header_bytes) != hcrc:
        raise IndexFileError(f"{source}: corrupted header (checksum mismatch)")
    try:
        header = json.loads(header_bytes.decode("utf-8"))
        sections = header["sections"]
        meta = header["meta"]
        file_size = int(header["file_size"])
    except (ValueError, KeyError, TypeError) as exc:
        raise IndexFileError(f"{source}: unreadable header ({exc})") from exc
    if size < file_size:
        raise IndexFileError(
            f"{source}: truncated ({size} bytes, the header promises {file_size})"
        )
    arrays = {}
    for sec in sections:
        try:
            name, dtype = sec["name"], np.dtype(sec["dtype"])
            shape = tuple(int(s) for s in sec["shape"])
            offset, nbytes, crc = int(sec["offset"]), int(sec["nbytes"]), int(sec["crc32"])
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexFileError(f"{source}: bad section entry {sec!r}") from exc
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if expected != nbytes or offset < 0 or offset + nbytes > size:
            raise IndexFileError(f"{source}: section {name!r} is inconsistent with the file")
        data = buf[offset : offset + nbytes]
        if verify and _crc32(data) != crc:
            raise IndexFileError(f"{source}: section {name!r} is corrupted (checksum mismatch)")
        arrays[name] = np.frombuffer(data, dtype=dtype).reshape(shape) if nbytes else np.zeros(shape, dtype)
    return meta, arrays


def _build(meta, arrays, source: str):
    from .index import Index

    try:
        return Index._from_sections(meta, arrays)
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise IndexFileError(f"{source}: inconsistent index contents ({exc})") from exc


def loads(data: bytes):
    """Rebuild an index from :func:`dumps` output (always fully verified)."""
    meta, arrays = _parse(memoryview(data), "<bytes>", verify=True)
    arrays = {k: v.copy() for k, v in arrays.items()}
    return _build(meta, arrays, "<bytes>")


def load(path, mmap: bool = False, verify: bool | None = None):
    """Load an index saved with :meth:`Index.save`.

    Parameters
    ----------
    path : str or os.PathLike
        The index file.
    mmap : bool, default False
        Map the file instead of reading it: opening is near-instant whatever
        the size, pages are read on demand and shared between processes.  The
        mapped arrays are read-only; the first :meth:`Index.add` or
        :meth:`Index.remove` copies them to memory.
    verify : bool, optional
        Check every section's CRC-32.  Default: ``True`` without ``mmap``,
        ``False`` with it (checking would read the whole file).  The header
        checksum, the format version, the file size and every section's
        bounds are always checked.

    Returns
    -------
    Index

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    IndexFileError
        (a ``ValueError``) the file is not a hamsearch index, is truncated,
        corrupted, or of an unsupported version; the message names the file.
    """
    path = os.fspath(path)
    if verify is None:
        verify = not mmap
    if not os.path.exists(path):
        raise FileNotFoundError(f"no index file at {path!r}")
    if os.path.isdir(path):
        raise IndexFileError(f"{path}: is a directory, not a hamsearch index file")
    if mmap:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                raise IndexFileError(f"{path}: empty file, not a hamsearch index")
            mapped = _mmap.mmap(fh.fileno(), 0, access=_mmap.ACCESS_READ)
        meta, arrays = _parse(memoryview(mapped), path, verify)
    else:
        with open(path, "rb") as fh:
            data = bytearray(fh.read())
        meta, arrays = _parse(memoryview(data), path, verify)
        # Writable arrays owned by the index (frombuffer over a bytearray is
        # writable); they alias ``data``, which stays alive through them.
    return _build(meta, arrays, path)
