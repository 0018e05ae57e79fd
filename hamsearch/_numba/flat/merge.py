"""The merge of per-chunk k-NN results (a query whose database was cut in
chunks): one sorted top-k list per query from the chunks' lists."""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from ..topk import PAD_ID, heap_offer, write_sorted


@numba.njit(cache=True, nogil=True)
def merge_task(Dp, Ip, q, D, I):
    """Merge the per-chunk sorted top-k lists of query ``q`` into ``D[q]``."""
    nchunks = Dp.shape[0]
    k = Dp.shape[2]
    hd = np.empty(k, dtype=np.int32)
    hi = np.empty(k, dtype=np.int64)
    size = 0
    for c in range(nchunks):
        for s in range(k):
            idv = Ip[c, q, s]
            if idv == PAD_ID:
                break
            size = heap_offer(hd, hi, size, k, Dp[c, q, s], idv)
    write_sorted(hd, hi, size, k, D, I, q)


@numba.njit(cache=True, nogil=True)
def merge_serial(Dp, Ip, D, I):
    """Merge per-chunk results for every query, in the calling thread."""
    for q in range(Dp.shape[1]):
        merge_task(Dp, Ip, q, D, I)


@numba.njit(cache=True, nogil=True, parallel=True)
def merge_parallel(Dp, Ip, D, I):
    """Merge per-chunk results for every query, on the thread pool."""
    for q in prange(Dp.shape[1]):
        merge_task(Dp, Ip, q, D, I)
