"""Table-building kernels of multi-index hashing (twins of the
``hs_mih_key_*`` / ``hs_mih_counting_sort`` / ``hs_mih_hash_insert`` entry
points of ``csrc/mih.c``) and their Python wrappers.

:mod:`hamsearch.mih.build` builds one segment's tables with these: a count
of each substring key, a scatter of the row numbers into CSR buckets (for a
sparse table also the suffix byte of each entry) and, for a hashed table,
the insertion of the distinct keys into an open-addressing hash.  The table
layout is described in :mod:`hamsearch._numba.mih`.
"""

from __future__ import annotations

import numba
import numpy as np

from .keys import _hash, _sub_key


@numba.njit(cache=True, nogil=True)
def counting_sort(keys, nbuckets, lo, offs, pos):
    """Group ``lo + i`` by ``keys[i]`` (stable): CSR ``offs`` (nbuckets + 1), ``pos``."""
    for b in range(nbuckets + 1):
        offs[b] = 0
    for i in range(keys.shape[0]):
        offs[np.int64(keys[i]) + 1] += 1
    for b in range(nbuckets):
        offs[b + 1] += offs[b]
    fill = offs[:nbuckets].copy()
    for i in range(keys.shape[0]):
        b = np.int64(keys[i])
        pos[fill[b]] = lo + i
        fill[b] += 1


@numba.njit(cache=True, nogil=True)
def key_counts(codes, start, length, counts):
    """``counts[key] += 1`` for the substring key of each row (twin of
    ``hs_mih_key_counts``)."""
    for i in range(codes.shape[0]):
        counts[_sub_key(codes, i, start, length)] += 1


@numba.njit(cache=True, nogil=True)
def key_scatter(codes, start, length, row0, fill, pos):
    """``pos[fill[key]++] = row0 + i`` for each row (twin of ``hs_mih_key_scatter``)."""
    for i in range(codes.shape[0]):
        key = _sub_key(codes, i, start, length)
        pos[fill[key]] = row0 + i
        fill[key] += 1


@numba.njit(cache=True, nogil=True)
def key_scatter_sparse(codes, start, length, sb, row0, fill, pos, sfx):
    """Sparse table: ``t = fill[key >> sb]++``, ``pos[t] = row0 + i``,
    ``sfx[t] = key & (2**sb - 1)`` (twin of ``hs_mih_key_scatter_sparse``)."""
    smask = (np.int64(1) << sb) - 1
    for i in range(codes.shape[0]):
        key = _sub_key(codes, i, start, length)
        b = key >> sb
        t = fill[b]
        fill[b] = t + 1
        pos[t] = row0 + i
        sfx[t] = np.uint8(key & smask)


@numba.njit(cache=True, nogil=True)
def hash_insert(uniq, hkeys, hvals, hmask):
    """Insert distinct ``uniq`` keys (value = index) into an empty hash table."""
    for b in range(hvals.shape[0]):
        hvals[b] = -1
    for i in range(uniq.shape[0]):
        key = np.int64(uniq[i])
        h = _hash(key, hmask)
        while hvals[h] >= 0:
            h = (h + 1) & hmask
        hkeys[h] = key
        hvals[h] = i


def mih_counting_sort(keys, nbuckets, lo, offs, pos):
    """Stable grouping of positions ``lo + i`` by ``keys[i]`` (see module doc)."""
    counting_sort(keys, int(nbuckets), int(lo), offs, pos)


def mih_key_scatter_sparse(codes, start, length, sb, row0, fill, pos, sfx):
    """Sparse table: ``t = fill[key >> sb]++``, ``pos[t] = row0 + i``, ``sfx[t] = key & (2**sb - 1)``."""
    if codes.shape[0]:
        key_scatter_sparse(codes, int(start), int(length), int(sb), int(row0), fill, pos, sfx)


def mih_hash_insert(uniq, hkeys, hvals, hmask):
    """Fill an open-addressing table with the distinct keys ``uniq``."""
    hash_insert(uniq, hkeys, hvals, int(hmask))


def mih_key_counts(codes, start, length, counts):
    """Add each row's key (bits ``start .. start+length-1``) to ``counts`` (int32)."""
    if codes.shape[0]:
        key_counts(codes, int(start), int(length), counts)


def mih_key_scatter(codes, start, length, row0, fill, pos):
    """Write ``row0 + i`` at ``pos[fill[key]++]`` for each row ``i`` (in order)."""
    if codes.shape[0]:
        key_scatter(codes, int(start), int(length), int(row0), fill, pos)
