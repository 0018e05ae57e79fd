"""Row bitmaps: the layout the kernels' ``skip`` argument and tombstones share.

A bitmap over ``n`` rows is a ``uint64`` array of ``ceil(n / 64)`` words;
row ``i`` is bit ``i & 63`` of word ``i >> 6`` (``HS_SKIPPED`` in
``csrc/hamsearch.h``).  Bitmaps handed to a snapshot are never changed:
:func:`with_rows` returns a new one.
"""

from __future__ import annotations

import numpy as np

__all__ = ["words_for", "from_mask", "to_mask", "rows_set", "with_rows", "check"]


def words_for(n: int) -> int:
    """Words of a bitmap over ``n`` rows."""
    return (int(n) + 63) // 64


def from_mask(mask: np.ndarray) -> np.ndarray:
    """Bitmap with bit ``i`` set where the boolean ``mask[i]``."""
    n = mask.shape[0]
    out = np.zeros(words_for(n) * 8, dtype=np.uint8)
    bits = np.packbits(mask, bitorder="little")
    out[: bits.size] = bits
    return out.view(np.uint64)


def to_mask(bitmap: np.ndarray | None, n: int) -> np.ndarray:
    """Boolean mask of the ``n`` rows set in ``bitmap`` (None: none set)."""
    if bitmap is None:
        return np.zeros(n, dtype=bool)
    return np.unpackbits(bitmap.view(np.uint8), count=n, bitorder="little").astype(bool)


def rows_set(bitmap: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Whether each of ``rows`` (int64) is set in ``bitmap``."""
    return ((bitmap[rows >> 6] >> (rows & 63).astype(np.uint64)) & np.uint64(1)) != 0


def with_rows(bitmap: np.ndarray | None, n: int, rows=None) -> np.ndarray:
    """A new bitmap over ``n`` rows: ``bitmap`` (None: empty), grown or cut
    to ``n`` rows' words, with ``rows`` (unique int64, optional) also set."""
    out = np.zeros(words_for(n), dtype=np.uint64)
    if bitmap is not None:
        keep = min(bitmap.shape[0], out.shape[0])
        out[:keep] = bitmap[:keep]
    if rows is not None and len(rows):
        np.bitwise_or.at(out, rows >> 6, np.left_shift(np.uint64(1), (rows & 63).astype(np.uint64)))
    return out


def check(skip, n: int):
    """Validate a kernel's ``skip`` argument for ``n`` rows (None passes)."""
    if skip is None:
        return None
    if skip.dtype != np.uint64 or skip.ndim != 1 or skip.shape[0] < words_for(n):
        raise ValueError(f"skip must be a uint64 bitmap of {words_for(n)} words")
    return skip
