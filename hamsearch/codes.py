"""Packing, unpacking and validating binary codes.

A code of ``nbits`` bits (a multiple of 8) is stored packed, little-endian
within each byte, in rows of ``uint64`` words zero-padded to a multiple of 64
bits.  Three input layouts are accepted everywhere a code array is:

* packed ``uint8`` of shape ``(n, nbits // 8)`` -- the FAISS binary layout; the
  same bytes mean the same code in both libraries,
* packed ``uint64`` of shape ``(n, ceil(nbits / 64))``,
* unpacked ``{0, 1}`` (any integer dtype) or ``bool`` of shape ``(n, nbits)``.
"""

from __future__ import annotations

import sys

import numpy as np

__all__ = ["pack", "unpack", "as_words", "words_to_bytes", "n_words", "check_nbits"]

MAX_NBITS = 1 << 16


def n_words(nbits: int) -> int:
    """Number of uint64 words in one packed code of ``nbits`` bits."""
    return (nbits + 63) // 64


def check_nbits(nbits) -> int:
    """Validate ``nbits`` (a positive multiple of 8) and return it as an int."""
    if isinstance(nbits, bool) or not isinstance(nbits, (int, np.integer)):
        raise TypeError(f"nbits must be an int, got {type(nbits).__name__}")
    nbits = int(nbits)
    if nbits <= 0 or nbits % 8 != 0 or nbits > MAX_NBITS:
        raise ValueError(
            f"nbits must be a positive multiple of 8 (at most {MAX_NBITS}), got {nbits}"
        )
    return nbits


def pack(bits, nbits: int | None = None) -> np.ndarray:
    """Pack an unpacked ``{0, 1}`` / bool bit matrix into FAISS-layout bytes.

    Parameters
    ----------
    bits : array_like of shape (n, nbits) or (nbits,)
        Bits, bool or integers that are all 0 or 1.  Bit ``j`` of a code goes
        to byte ``j // 8``, bit position ``j % 8`` (little-endian in the byte).
    nbits : int, optional
        Expected number of bits; checked against ``bits.shape[-1]``.

    Returns
    -------
    codes : ndarray of uint8, shape (n, nbits // 8)

    Examples
    --------
    >>> import numpy as np, hamsearch
    >>> hamsearch.pack(np.array([[1, 0, 0, 0, 0, 0, 0, 0]]))
    array([[1]], dtype=uint8)
    """
    arr = np.asarray(bits)
    squeeze = arr.ndim == 1
    if squeeze:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"bits must be 2-D (n, nbits), got shape {arr.shape}")
    width = arr.shape[1]
    if nbits is not None and width != check_nbits(nbits):
        raise ValueError(f"bits has {width} columns, expected nbits={nbits}")
    check_nbits(width)
    arr = _as_bits(arr, "bits")
    out = np.packbits(arr, axis=1, bitorder="little")
    return out[0] if squeeze else out


def unpack(codes, nbits: int) -> np.ndarray:
    """Unpack codes (any accepted layout) into a ``uint8`` 0/1 matrix.

    Parameters
    ----------
    codes : array_like
        Packed uint8 ``(n, nbits // 8)``, packed uint64 ``(n, ceil(nbits / 64))``
        or already unpacked ``(n, nbits)``.
    nbits : int
        Code length in bits.

    Returns
    -------
    bits : ndarray of uint8, shape (n, nbits)
    """
    nbits = check_nbits(nbits)
    words = as_words(codes, nbits, "codes")
    as_bytes = words_to_bytes(words, nbits)
    return np.unpackbits(as_bytes, axis=1, count=nbits, bitorder="little")


def words_to_bytes(words: np.ndarray, nbits: int) -> np.ndarray:
    """View packed uint64 words as FAISS-layout uint8 bytes ``(n, nbits // 8)``."""
    words = np.ascontiguousarray(words, dtype="<u8")
    return words.view(np.uint8).reshape(words.shape[0], words.shape[1] * 8)[:, : nbits // 8]


def _as_bits(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8)
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(
            f"{name} must be bool or integer 0/1 bits, got dtype {arr.dtype}"
        )
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        raise ValueError(f"{name} holds values other than 0 and 1 (unpacked bits expected)")
    return arr.astype(np.uint8, copy=False)


def as_words(codes, nbits: int, name: str = "codes") -> np.ndarray:
    """Validate ``codes`` and return them as C-contiguous packed uint64 words.

    Parameters
    ----------
    codes : array_like
        One of the three accepted layouts (see the module docstring).  A single
        code may be given as a 1-D array.
    nbits : int
        Code length the caller expects.
    name : str
        Argument name used in error messages.

    Returns
    -------
    words : ndarray of uint64, shape (n, ceil(nbits / 64)), C-contiguous.
        Padding bits beyond ``nbits`` are zero.

    Raises
    ------
    TypeError
        Float, complex, object or otherwise unsupported dtypes.
    ValueError
        A width matching none of the accepted layouts, or unpacked values
        other than 0/1, or non-zero padding bits in uint64 input.
    """
    if isinstance(codes, (list, tuple)):
        codes = np.asarray(codes)
    if not isinstance(codes, np.ndarray):
        try:
            codes = np.asarray(codes)
        except Exception as exc:  # pragma: no cover - exotic inputs
            raise TypeError(f"{name} must be an array, got {type(codes).__name__}") from exc
    if codes.ndim == 1:
        codes = codes[None, :]
    if codes.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n, width), got shape {codes.shape}")
    nw = n_words(nbits)
    nbytes = nbits // 8
    width = codes.shape[1]
    dt = codes.dtype
    expected = (
        f"uint8 (n, {nbytes}), uint64 (n, {nw}) or unpacked 0/1 (n, {nbits})"
    )
    if dt.kind == "f" or dt.kind == "c" or dt.kind == "O" or dt.kind in "USV":
        raise TypeError(
            f"{name} must be packed uint8/uint64 or unpacked 0/1 bits; got dtype {dt} "
            f"with shape {codes.shape} (expected {expected})"
        )
    if width == nbits and (dt == np.bool_ or dt.kind in "iu") and not (
        dt == np.uint8 and width == nbytes
    ):
        # Unpacked bits.  (A uint8 array of width nbits/8 is always packed.)
        bytes_ = np.packbits(_as_bits(codes, name), axis=1, bitorder="little")
        return _bytes_to_words(bytes_, nw)
    if dt == np.uint8 and width == nbytes:
        return _bytes_to_words(codes, nw)
    if dt == np.uint64 and width == nw:
        words = np.ascontiguousarray(codes)
        if sys.byteorder != "little" or words.dtype.byteorder == ">":
            words = words.astype("<u8")
        rem = nbits % 64
        if rem and words.shape[0]:
            high = words[:, -1] >> np.uint64(rem)
            if high.any():
                raise ValueError(
                    f"{name}: uint64 codes have bits set beyond nbits={nbits} "
                    f"(the padding of the last word must be zero)"
                )
        return words.view(np.uint64) if words.dtype != np.uint64 else words
    raise ValueError(
        f"{name} has shape {codes.shape} and dtype {dt}; expected {expected}"
    )


def _bytes_to_words(codes: np.ndarray, nw: int) -> np.ndarray:
    n, nbytes = codes.shape
    if nbytes == nw * 8:
        return np.ascontiguousarray(codes).view("<u8").view(np.uint64).reshape(n, nw)
    out = np.zeros((n, nw * 8), dtype=np.uint8)
    out[:, :nbytes] = codes
    return out.view(np.uint64).reshape(n, nw)
