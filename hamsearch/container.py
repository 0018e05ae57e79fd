"""The container file format: a preamble, a JSON header, aligned sections.

Index files (:mod:`hamsearch.storage`) and multi-index table files
(:func:`hamsearch.mih.save_tables`) are containers.  Layout (all integers
little-endian)::

    offset 0   8 bytes   magic  b"HAMSRCH\\x00"
    offset 8   uint32    format version (currently 1)
    offset 12  uint32    header length H in bytes (at most 1 MiB)
    offset 16  uint32    CRC-32 of the header bytes
    offset 20  uint32    reserved (0; anything else is refused)
    offset 24  H bytes   header: UTF-8 JSON with the index metadata and, per
                         section, its name, dtype, shape, offset, size and CRC-32
    ...        sections, each starting on a 64-byte boundary

Sections are raw C-order arrays, so a reader can map them without reading
them.  :func:`_layout` and :func:`_write` write a container;
:func:`_read_header` checks the preamble and the header's checksum and
parses the header (strict JSON: no duplicate keys, no ``NaN``); what the
metadata and the section table must hold is the reader's to check
(:func:`hamsearch.storage._parse`, :func:`hamsearch.mih.read_tables`), each
fault an :class:`IndexFileError` raised through a :class:`_Checker`.
"""

from __future__ import annotations

import json
import os
import stat
import struct
import zlib

import numpy as np

from .errors import FileFormatError

__all__ = ["IndexFileError", "MAGIC", "FORMAT_VERSION", "MAX_HEADER_BYTES"]

MAGIC = b"HAMSRCH\x00"
FORMAT_VERSION = 1
_PREAMBLE = struct.Struct("<8sIIII")
_ALIGN = 64
_CHUNK = 1 << 24
#: Largest header :func:`load` accepts (the writer's is a few KiB).
MAX_HEADER_BYTES = 1 << 20

_HEADER_KEYS = {"format", "meta", "sections", "file_size"}
_SECTION_KEYS = {"name", "dtype", "shape", "offset", "nbytes", "crc32"}


class IndexFileError(FileFormatError):
    """An index file is truncated, corrupted, crafted or of an unknown version.

    A :class:`~hamsearch.errors.FileFormatError`, so a :class:`ValueError`.
    """


# --------------------------------------------------------------------- writing
def _crc32(buf) -> int:
    view = memoryview(buf).cast("B")
    crc = 0
    for start in range(0, len(view), _CHUNK):
        crc = zlib.crc32(view[start : start + _CHUNK], crc)
    return crc & 0xFFFFFFFF


def _array_bytes(arr: np.ndarray) -> memoryview:
    arr = np.ascontiguousarray(arr)
    return memoryview(arr).cast("B") if arr.size else memoryview(b"")


def _layout(meta: dict, arrays: dict) -> tuple[bytes, list[tuple[int, memoryview]]]:
    sections = []
    payloads = []
    # Offsets depend on the header length, which depends on the offsets: lay
    # out with a generous fixed header reservation, recomputed if too small.
    reserve = 4096
    datas = {name: _array_bytes(arr) for name, arr in arrays.items()}
    crcs = {name: _crc32(data) for name, data in datas.items()}
    while True:
        offset = _PREAMBLE.size + reserve
        sections.clear()
        payloads.clear()
        for name, arr in arrays.items():
            offset = (offset + _ALIGN - 1) // _ALIGN * _ALIGN
            data = datas[name]
            sections.append(
                {
                    "name": name,
                    "dtype": arr.dtype.newbyteorder("<").str,
                    "shape": list(arr.shape),
                    "offset": offset,
                    "nbytes": len(data),
                    "crc32": crcs[name],
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


def _write(fh, meta: dict, arrays: dict) -> None:
    header, payloads = _layout(meta, arrays)
    fh.write(_PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(header), _crc32(header), 0))
    fh.write(header)
    pos = _PREAMBLE.size + len(header)
    for offset, data in payloads:
        if offset > pos:
            fh.write(b"\x00" * (offset - pos))
        for start in range(0, len(data), _CHUNK):
            fh.write(data[start : start + _CHUNK])
        pos = offset + len(data)


# --------------------------------------------------------------------- reading
def _no_duplicate_keys(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constants(name):
    raise ValueError(f"{name} is not allowed")


def _is_int(v) -> bool:
    return type(v) is int


class _Checker:
    """Raises :class:`IndexFileError` with the source's name."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, what: str):
        raise IndexFileError(f"{self.source}: {what}")

    def int_in(self, value, name: str, lo: int, hi: int) -> int:
        if not _is_int(value) or not lo <= value <= hi:
            self.fail(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
        return value


def _read_header(buf, ck: _Checker):
    size = len(buf)
    if size < _PREAMBLE.size:
        ck.fail(f"too short to be a hamsearch index ({size} bytes)")
    magic, version, hlen, hcrc, reserved = _PREAMBLE.unpack_from(buf, 0)
    if magic != MAGIC:
        ck.fail(f"not a hamsearch index file (bad magic {bytes(magic)!r})")
    if version != FORMAT_VERSION:
        ck.fail(f"index format version {version} is not supported "
                f"(this hamsearch reads version {FORMAT_VERSION})")
    if reserved != 0:
        ck.fail(f"reserved preamble field is {reserved}, not 0")
    if hlen > MAX_HEADER_BYTES:
        ck.fail(f"header length {hlen} exceeds the {MAX_HEADER_BYTES}-byte limit")
    if _PREAMBLE.size + hlen > size:
        ck.fail("truncated (header runs past the end of the file)")
    header_bytes = bytes(buf[_PREAMBLE.size : _PREAMBLE.size + hlen])
    if _crc32(header_bytes) != hcrc:
        ck.fail("corrupted header (checksum mismatch)")
    try:
        header = json.loads(header_bytes.decode("utf-8"), object_pairs_hook=_no_duplicate_keys,
                            parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        ck.fail(f"unreadable header ({type(exc).__name__}: {str(exc)[:200]})")
    return header, hlen


# ----------------------------------------------------------------- opening files
def _open_regular(path: str) -> int:
    """Open ``path`` read-only, refusing anything but a regular file (without
    blocking on a FIFO)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise FileNotFoundError(f"no index file at {path!r}") from None
    except IsADirectoryError:
        raise IndexFileError(f"{path}: is a directory, not a hamsearch index file") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        kind = ("a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise IndexFileError(f"{path}: is {kind}, not a hamsearch index file")
    return fd


def _read_all(fd: int, size: int) -> bytearray:
    data = bytearray(size)
    view = memoryview(data)
    got = 0
    while got < size:
        chunk = os.read(fd, min(size - got, _CHUNK * 4))
        if not chunk:
            break
        view[got : got + len(chunk)] = chunk
        got += len(chunk)
    return data if got == size else data[:got]

