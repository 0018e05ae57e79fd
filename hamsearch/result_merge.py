"""Exact merges of search results computed over parts of an index.

A search runs over each part on its own -- a segment of an
:class:`hamsearch.Index`, a shard of a
:class:`~hamsearch.distributed.ShardedIndex` -- and each part returns its
exact results sorted by (distance, id).  These functions merge them into
the results one search over every part at once would give, ties
included: the order is (distance, id) throughout, and ids are unique
across the parts.
"""

from __future__ import annotations

import numpy as np

__all__ = ["merge_knn", "merge_range"]


def merge_knn(parts, k: int):
    """Merge per-part k-NN results into the ``k`` best by (distance, id).

    Parameters
    ----------
    parts : list of (ndarray, ndarray)
        ``(D, I)`` of each part, each ``(nq, k_s)``, sorted by (distance,
        id) and padded with id ``-1``.  Ids are unique across parts.
    k : int
        Columns of the result.

    Returns
    -------
    D, I : ndarray
        ``(nq, k)`` (fewer columns when the parts hold fewer in all); the
        one part itself when there is one.
    """
    if len(parts) == 1:
        return parts[0]
    D = np.concatenate([p[0] for p in parts], axis=1)
    I = np.concatenate([p[1] for p in parts], axis=1)
    # padding (-1) after every real id of the same distance: PAD_DISTANCE
    # is larger than any distance, so pads sort last anyway; ids as uint64
    # put -1 last among equal distances too
    order = np.lexsort((I.view(np.uint64), D), axis=1)[:, :k]
    return np.take_along_axis(D, order, 1), np.take_along_axis(I, order, 1)


def merge_range(parts, nq: int):
    """Merge per-part CSR range results into one.

    Parameters
    ----------
    parts : list of (ndarray, ndarray, ndarray)
        ``(lims, D, I)`` of each part over the same ``nq`` queries.
    nq : int
        Number of queries.

    Returns
    -------
    lims, D, I : ndarray
        CSR results (int64 ``lims``, int32 ``D``, int64 ``I``), each
        query's results sorted by (distance, id); the one part itself when
        there is one.
    """
    if len(parts) == 1:
        return parts[0]
    counts = sum(np.diff(p[0]) for p in parts)
    lims = np.zeros(nq + 1, dtype=np.int64)
    np.cumsum(counts, out=lims[1:])
    total = int(lims[-1])
    qrow = np.concatenate([np.repeat(np.arange(nq, dtype=np.int64), np.diff(p[0]))
                           for p in parts])
    D = np.concatenate([p[1] for p in parts]).astype(np.int32, copy=False)
    I = np.concatenate([p[2] for p in parts]).astype(np.int64, copy=False)
    if total:
        order = np.lexsort((I, D, qrow))
        D, I = D[order], I[order]
    return lims, D, I
