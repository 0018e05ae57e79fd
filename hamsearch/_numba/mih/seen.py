"""De-duplication of the candidates of one query: a code is met once per
table it shares a near substring with, and must be verified (and kept) once.

Two ways, as in ``csrc/mih.c``: with few tables the other substrings'
distances tell whether the enumeration met the code before
(:func:`_seen_before`, no memory); from :data:`SEEN_MIN_M` tables on a
per-query bitmap over the rows does (:func:`_seen_buffer`,
:func:`_seen_test_set`, :func:`_seen_reset`: one bit test before the
distance, reset by the words it set).
"""

from __future__ import annotations

import numba
import numpy as np

from ..popcount import popcount64
from .keys import _key_flat

#: From this many tables on, candidates are de-duplicated by a per-query
#: bitmap over the rows (one bit test, before the distance) instead of
#: re-deriving the other substrings' distances, for up to this many rows
#: (the bitmap is n / 8 bytes per work item): as ``MIH_SEEN_MIN_M`` /
#: ``MIH_SEEN_MAX_ROWS`` in ``csrc/mih.c``.
SEEN_MIN_M = 9
SEEN_MAX_ROWS = 1 << 28


@numba.njit(inline="always", nogil=True)
def _seen_before(flat, base, qkeys, sub_start, sub_len, rad, j):
    """True if the enumeration met this code before, in a table other than
    j: some other substring jj within ``rad[jj]``, the radius table jj has
    been enumerated to (as ``seen_before`` in ``csrc/mih_impl.h``)."""
    for jj in range(sub_len.shape[0]):
        if jj == j:
            continue
        dj = popcount64(np.uint64(_key_flat(flat, base, sub_start[jj], sub_len[jj]) ^ qkeys[jj]))
        if dj <= rad[jj]:
            return True
    return False


#: ``seen[0]`` of a seen buffer whose list of set words overflowed.
_SEEN_FULL = np.uint64(0xFFFFFFFFFFFFFFFF)


@numba.njit(inline="always", nogil=True)
def _seen_buffer(n, m):
    """The rows met by one query, for :func:`_chunk` (empty unless ``m`` and
    ``n`` call for it, see :data:`SEEN_MIN_M`): one uint64 array holding
    ``[count, cap, the cap words set since the reset..., the bitmap...]``
    (one array: a call of more than 30 arguments compiles to a ``*args``
    call, which Numba cannot inline)."""
    words = (n + 63) >> 6 if m >= SEEN_MIN_M and 0 < n <= SEEN_MAX_ROWS else 0
    if words == 0:
        return np.zeros(0, dtype=np.uint64)
    cap = words // 16 + 64
    buf = np.zeros(2 + cap + words, dtype=np.uint64)
    buf[1] = cap
    return buf


@numba.njit(inline="always", nogil=True)
def _seen_test_set(buf, p):
    """True when row p was met before by this query; marks it met otherwise."""
    wi = 2 + np.int64(buf[1]) + (p >> 6)
    bit = np.uint64(1) << np.uint64(p & 63)
    word = buf[wi]
    if word & bit:
        return True
    if word == 0 and buf[0] != _SEEN_FULL:
        c = np.int64(buf[0])
        if c < np.int64(buf[1]):
            buf[2 + c] = np.uint64(wi)
            buf[0] = np.uint64(c + 1)
        else:
            buf[0] = _SEEN_FULL
    buf[wi] = word | bit
    return False


@numba.njit(inline="always", nogil=True)
def _seen_reset(buf):
    """Forget every row met (before each query)."""
    if buf.shape[0] == 0:
        return
    if buf[0] == _SEEN_FULL:
        buf[2 + np.int64(buf[1]):] = 0
    else:
        for i in range(np.int64(buf[0])):
            buf[np.int64(buf[2 + i])] = 0
    buf[0] = 0
