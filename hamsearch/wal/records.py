"""The bytes of the write-ahead log: file header, record, payload.

Encoding (:func:`_encode`, :func:`_file_header`, :func:`_record_crc`) and
decoding (:class:`_Payload`) of the layout in :mod:`hamsearch.wal` and
``docs/wal.md``.  :data:`MAX_RECORD_BYTES` is read from this module by the
reader too (patch it here).
"""

from __future__ import annotations

import math
import re
import struct
import zlib
from collections.abc import Mapping

import numpy as np

from .errors import WalCorruptError

MAGIC = b"HSWAL\x00"
FORMAT_VERSION = 1
#: Largest payload of one record; larger appends are refused.
MAX_RECORD_BYTES = 1 << 30

_FILE_HEADER = struct.Struct("<6sHQI")  # magic, version, first seqno, crc32
_RECORD_HEADER = struct.Struct("<IIQ")  # payload length, crc32, seqno
_SEQ = struct.Struct("<Q")
_DTYPES = frozenset(["|b1", "|u1", "|i1", "<u2", "<i2", "<u4", "<i4", "<u8", "<i8",
                     "<f2", "<f4", "<f8"])
_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,255}")


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


def _record_crc(seq: int, payload: list) -> int:
    """The checksum a record stores: CRC-32 of its seqno bytes, then its payload buffers."""
    crc = zlib.crc32(_SEQ.pack(seq))
    for part in payload:
        crc = zlib.crc32(part, crc)
    return crc


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
