"""Reader (and, for tests, writer) of the IDX format used by MNIST and Fashion-MNIST."""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np

__all__ = ["read_idx", "write_idx"]

_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {np.dtype(v).newbyteorder("="): k for k, v in _DTYPES.items()}


def _open(path):
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


def read_idx(path) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not, detected from its first bytes).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    ndarray
        The array with the dimensions stored in the header, in native byte order.

    Raises
    ------
    ValueError
        A malformed header or a size that does not match the header.
    """
    with _open(path) as fh:
        data = fh.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{os.fspath(path)!r} is not an IDX file (bad magic number)")
    code, ndim = data[2], data[3]
    if code not in _DTYPES:
        raise ValueError(f"{os.fspath(path)!r}: unknown IDX element type 0x{code:02x}")
    header = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _DTYPES[code]
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(
            f"{os.fspath(path)!r}: header says shape {dims} ({expected} bytes of data) "
            f"but the file holds {len(data) - header}"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))


def write_idx(path, array, compress=None) -> None:
    """Write ``array`` as an IDX file (gzip-compressed if the name ends in .gz)."""
    arr = np.asarray(array)
    code = _CODES.get(arr.dtype.newbyteorder("="))
    if code is None:
        raise TypeError(f"IDX cannot store dtype {arr.dtype}")
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    payload = header + arr.astype(_DTYPES[code]).tobytes()
    if compress is None:
        compress = os.fspath(path).endswith(".gz")
    opener = gzip.open if compress else open
    with opener(path, "wb") as fh:
        fh.write(payload)
