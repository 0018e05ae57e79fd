"""The per-chunk pieces of a Hamming ranking: which database items are
relevant to a query, the chunks of queries held in memory at once
(``hamsearch.metrics._CHUNK_PAIRS`` pairs), the stable order of distances
and the per-distance counts of items and relevant items."""

from __future__ import annotations

import numpy as np


def _chunk_pairs() -> int:
    """``hamsearch.metrics._CHUNK_PAIRS``, read at call time (the knob is the
    package's: patch it there)."""
    from . import _CHUNK_PAIRS

    return _CHUNK_PAIRS


def _relevance(ql_chunk, dl):
    if ql_chunk.ndim == 1:
        return ql_chunk[:, None] == dl[None, :]
    return (ql_chunk @ dl.T) > 0


def _n_relevant(ql, dl):
    """Number of relevant database items per query."""
    if ql.ndim == 1:
        values, counts = np.unique(dl, return_counts=True)
        pos = np.searchsorted(values, ql)
        pos = np.clip(pos, 0, len(values) - 1)
        return np.where(values[pos] == ql, counts[pos], 0).astype(np.int64)
    out = np.empty(ql.shape[0], dtype=np.int64)
    step = max(1, _chunk_pairs() // max(dl.shape[0], 1))
    for s in range(0, ql.shape[0], step):
        out[s : s + step] = _relevance(ql[s : s + step], dl).sum(axis=1)
    return out


def _chunks(nq, n):
    step = max(1, _chunk_pairs() // max(n, 1))
    for s in range(0, nq, step):
        yield s, min(nq, s + step)


def _stable_order(D, nbits):
    """Row-wise stable argsort of small-integer distances (radix sort)."""
    small = D.astype(np.uint8 if nbits < 256 else np.uint16)
    return np.argsort(small, axis=1, kind="stable")


def _bucket_counts(D, rel, nbits):
    """Per query: number of items and of relevant items at each distance."""
    nb = nbits + 1
    cq = D.shape[0]
    flat = (D + (np.arange(cq, dtype=np.int64) * nb)[:, None]).ravel()
    total = np.bincount(flat, minlength=cq * nb).reshape(cq, nb)
    relc = np.bincount(flat[rel.ravel()], minlength=cq * nb).reshape(cq, nb)
    return total, relc
