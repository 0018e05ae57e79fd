"""Database rows as the flat (and MIH, re-rank) kernels see them: the id of a
row (``ids=None`` is the empty :data:`ROW_IDS`: row ids) and the skip bitmap
test."""

from __future__ import annotations

import numba
import numpy as np

#: The ``ids`` argument of every kernel for ``ids=None`` (row ids: the id of
#: row ``i`` is ``i``).  An empty int64 array, so the jitted functions see the
#: same type as for a (writable) id array and compile no extra variant.
ROW_IDS = np.zeros(0, dtype=np.int64)


@numba.njit(nogil=True, inline="always")
def row_id(ids, r):
    """Id of database row ``r``: ``ids[r]``, or ``r`` itself when ``ids`` is
    empty (row ids: the Python wrappers pass ``ROW_IDS`` for ``ids=None``;
    an empty ``ids`` with rows to search can mean nothing else)."""
    if ids.shape[0] == 0:
        return np.int64(r)
    return ids[r]


@numba.njit(nogil=True, inline="always")
def skipped(skip, r):
    """Whether row ``r`` is set in the bitmap ``skip`` (an empty one skips none)."""
    return skip.shape[0] > 0 and ((skip[r >> 6] >> np.uint64(r & 63)) & np.uint64(1)) != 0
