"""Substring keys of codes and the hash of a key (shared by table building
and probing; twins of ``mih_row_key`` / ``mih_sub_key`` / ``mih_hash`` in
``csrc/mih.c``).

A table ``j`` is keyed on bits ``start .. start + length - 1`` of a code
(``sub_start[j]``, ``sub_len[j]``, at most 64 bits, possibly straddling two
words); a hashed table places key ``key`` at
``(key * HASH_MUL) >> 32 & hmask`` and probes linearly from there.
"""

from __future__ import annotations

import numba
import numpy as np

HASH_MUL = np.uint64(0x9E3779B97F4A7C15)


@numba.njit(inline="always", nogil=True)
def _hash(key, hmask):
    return np.int64(((np.uint64(key) * HASH_MUL) >> np.uint64(32)) & np.uint64(hmask))


@numba.njit(inline="always", nogil=True)
def _sub_key(q, qi, start, length):
    wi = start >> 6
    sh = start & 63
    v = q[qi, wi] >> np.uint64(sh)
    if sh + length > 64:
        v |= q[qi, wi + 1] << np.uint64(64 - sh)
    return np.int64(v & np.uint64((np.int64(1) << length) - 1))


@numba.njit(inline="always", nogil=True)
def _key_flat(flat, base, start, length):
    wi = start >> 6
    sh = start & 63
    v = flat[base + wi] >> np.uint64(sh)
    if sh + length > 64:
        v |= flat[base + wi + 1] << np.uint64(64 - sh)
    return np.int64(v & np.uint64((np.int64(1) << length) - 1))
