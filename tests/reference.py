"""Plain numpy references that every kernel is tested against.

Slow and obviously correct: unpack to bits, count differences, sort with
numpy's stable sort on (distance, id).
"""

import numpy as np

from hamsearch._kernels import PAD_DISTANCE  # noqa: F401  (re-exported for the tests)


def words_to_bits(words):
    """uint64 (n, w) -> uint8 0/1 (n, 64 * w), little-endian bit order."""
    words = np.ascontiguousarray(words, dtype=np.uint64)
    return np.unpackbits(words.view(np.uint8), axis=1, bitorder="little")


def hamming_matrix(a, b):
    """int32 (na, nb) distances between uint64 word rows."""
    ba = words_to_bits(a).astype(np.int32)
    bb = words_to_bits(b).astype(np.int32)
    if len(ba) == 0 or len(bb) == 0:
        return np.zeros((len(ba), len(bb)), dtype=np.int32)
    # |x - y| summed = x + y - 2 x.y for 0/1 vectors
    d = ba.sum(1)[:, None] + bb.sum(1)[None, :] - 2 * (ba @ bb.T)
    return d.astype(np.int32)


def knn(db, ids, queries, k):
    """Exact k-NN sorted by (distance, id), padded with (PAD_DISTANCE, -1)."""
    nq = len(queries)
    D = np.full((nq, k), PAD_DISTANCE, dtype=np.int32)
    I = np.full((nq, k), -1, dtype=np.int64)
    if len(db) == 0:
        return D, I
    dist = hamming_matrix(queries, db)
    ids = np.asarray(ids, dtype=np.int64)
    for q in range(nq):
        order = np.lexsort((ids, dist[q]))[:k]
        D[q, : len(order)] = dist[q, order]
        I[q, : len(order)] = ids[order]
    return D, I


def range_search(db, ids, queries, radius):
    """All items with distance <= radius, CSR (lims, D, I), sorted by (d, id)."""
    nq = len(queries)
    ids = np.asarray(ids, dtype=np.int64)
    lims = np.zeros(nq + 1, dtype=np.int64)
    Ds, Is = [], []
    dist = hamming_matrix(queries, db) if len(db) else np.zeros((nq, 0), np.int32)
    for q in range(nq):
        sel = np.nonzero(dist[q] <= radius)[0]
        order = sel[np.lexsort((ids[sel], dist[q, sel]))]
        Ds.append(dist[q, order])
        Is.append(ids[order])
        lims[q + 1] = lims[q] + len(order)
    D = np.concatenate(Ds).astype(np.int32) if Ds else np.zeros(0, np.int32)
    I = np.concatenate(Is).astype(np.int64) if Is else np.zeros(0, np.int64)
    return lims, D, I


def random_words(rng, n, nbits):
    """Uniform random codes as uint64 words with zero padding bits."""
    nbytes = nbits // 8
    w = (nbits + 63) // 64
    raw = np.zeros((n, w * 8), dtype=np.uint8)
    raw[:, :nbytes] = rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8)
    return raw.view(np.uint64).reshape(n, w)


def clustered_words(rng, n, nbits, ncenters=10, p=0.1):
    """Codes drawn around random centres, each bit flipped with probability p."""
    centres = rng.integers(0, 2, size=(ncenters, nbits), dtype=np.uint8)
    which = rng.integers(0, ncenters, size=n)
    flips = (rng.random((n, nbits)) < p).astype(np.uint8)
    bits = centres[which] ^ flips
    packed = np.packbits(bits, axis=1, bitorder="little")
    w = (nbits + 63) // 64
    raw = np.zeros((n, w * 8), dtype=np.uint8)
    raw[:, : packed.shape[1]] = packed
    return raw.view(np.uint64).reshape(n, w)
