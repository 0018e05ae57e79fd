"""Id checks shared by :class:`hamsearch.Index` and
:class:`hamsearch.distributed.ShardedIndex` (one wording for each error):
the id range, the default ids of an add, explicit ids of an add, and the
lookup keys of any integer ids."""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_ID", "default_ids", "check_new_ids", "is_id"]

#: Largest id an index can hold (``int64`` max).
MAX_ID = int(np.iinfo(np.int64).max)


def _id_keys(ids, name: str = "ids") -> tuple[np.ndarray, np.ndarray]:
    """Integer ids as ``(int64 keys, the original values)``; uint64 values
    past int64 get key ``-1``, and like negative ids it matches no stored id."""
    arr = np.atleast_1d(np.asarray(ids))
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must be integers, got dtype {arr.dtype}")
    arr = arr.ravel()
    if arr.dtype == np.uint64:
        big = arr > np.uint64(MAX_ID)
        keys = np.where(big, np.uint64(0), arr).astype(np.int64)
        keys[big] = -1
    else:
        keys = arr.astype(np.int64)
    return keys, arr


def removal_keys(ids) -> np.ndarray | None:
    """The int64 keys of ``remove(ids)`` (see :func:`_id_keys`), or None when
    there are none; ``ids`` must be 1-D (a scalar is one id)."""
    arr = np.atleast_1d(np.asarray(ids))
    if arr.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        return None
    return _id_keys(arr)[0]


def default_ids(next_id: int, n: int) -> np.ndarray:
    """The default ids of an add of ``n`` codes: ``next_id, next_id + 1, ...``
    (OverflowError past the int64 maximum)."""
    if next_id + n - 1 > MAX_ID:
        raise OverflowError(
            f"cannot number {n} new codes: default ids continue from {next_id} "
            f"(one past the largest id ever added) and would pass the int64 maximum "
            f"{MAX_ID}; pass ids= explicitly"
        )
    return np.arange(next_id, next_id + n, dtype=np.int64)


def check_new_ids(ids, n: int) -> np.ndarray:
    """The checks of explicit ids for an add of ``n`` codes that need no
    index state (shape, integer dtype, int64 range, non-negative, no
    duplicates); returns them as a new int64 array."""
    arr = np.asarray(ids)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"ids must have shape ({n},) to match codes, got {arr.shape}")
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"ids must be integers, got dtype {arr.dtype}")
    if arr.dtype == np.uint64 and n and arr.max() > np.uint64(MAX_ID):
        raise ValueError(f"ids must fit in int64 (at most {MAX_ID}), got {int(arr.max())}")
    arr = arr.astype(np.int64, copy=True)
    if n == 0:
        return arr
    if arr.min() < 0:
        raise ValueError(f"ids must be non-negative, got {int(arr.min())}")
    srt = np.sort(arr)
    dup = srt[1:] == srt[:-1]
    if dup.any():
        raise ValueError(f"ids contains duplicates, e.g. {int(srt[1:][dup][0])}")
    return arr


def is_id(value) -> bool:
    """Whether ``value`` can be a stored id: an integer (not a bool) in
    ``0 .. MAX_ID``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        return False
    return 0 <= int(value) <= MAX_ID
