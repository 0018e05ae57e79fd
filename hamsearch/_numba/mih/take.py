"""Candidates that passed verification: the skip bitmap test and the
collection of results (a bounded max-heap for k-NN, a growing buffer for
radius search)."""

from __future__ import annotations

import numba
import numpy as np

from ..flat import row_id
from ..topk import heap_push, heap_replace_top, pair_greater


@numba.njit(nogil=True, inline="always")
def _skipped(skip, p):
    return (skip[p >> 6] >> np.uint64(p & 63)) & np.uint64(1)


@numba.njit(inline="always", nogil=True)
def _take(d, p, ids, k, skip, cd, ci, cnt, T):
    """Keep candidate (distance d, row p), d <= T already checked; ``(cnt, T)``.

    k > 0: ``cd``/``ci`` are a max-heap of the k smallest ``(d, id)`` pairs
    kept so far and ``T`` becomes its root distance once it is full (the
    k-th smallest distance: the C kernel's threshold).  k == 0: (d, row)
    appended while ``cnt`` is within capacity; ``cnt`` counts them all.
    """
    if skip.shape[0] > 0 and _skipped(skip, p):
        return cnt, T
    if k > 0:
        idv = row_id(ids, p)
        if cnt < k:
            heap_push(cd, ci, cnt, d, idv)
            cnt += 1
            if cnt == k:
                T = np.int64(cd[0])
        elif pair_greater(np.int64(cd[0]), ci[0], d, idv):
            heap_replace_top(cd, ci, cnt, d, idv)
            T = np.int64(cd[0])
        return cnt, T
    if cnt < cd.shape[0]:
        cd[cnt] = d
        ci[cnt] = p
    return cnt + 1, T
