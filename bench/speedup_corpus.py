"""The synthetic corpus of the 971x measurement (:mod:`bench.speedup_971x`).

4096-d non-negative float32 features lifted from a clustered 64-d latent
space (a stand-in for F7 activations) and their 128-bit codes (signs of
random projections), plus the exhaustive-L2 helpers the measurement and
``bench/test_bench_rerank.py`` time.
"""

from __future__ import annotations

D_FEAT = 4096
NBITS = 128

__all__ = ["D_FEAT", "NBITS", "Corpus", "exact_l2_numpy", "exact_l2_numpy_batch", "norms",
           "mmap_index"]


class Corpus:
    """Seeded synthetic stand-in for F7 features and their 128-bit codes.

    Features are ReLU(z A): a 64-d latent ``z`` drawn around one of 100
    cluster centres, lifted to 4096-d by a fixed random matrix ``A`` (so L2
    neighbours are meaningful, as for real CNN features, and the data are
    non-negative like F7 activations).  Codes are the signs of 128 random
    projections of the centred features (sign-random-projection LSH).
    """

    LATENT = 64

    def __init__(self, n, nq, seed, dtype, path=None, ncenters=100, spread=0.35):
        import numpy as np

        rng = np.random.default_rng(seed)
        self.centres = rng.standard_normal((ncenters, self.LATENT)).astype(np.float32)
        self.lift = (rng.standard_normal((self.LATENT, D_FEAT)) / np.sqrt(self.LATENT)).astype(np.float32)
        self.proj = rng.standard_normal((D_FEAT, NBITS)).astype(np.float32)
        self.spread = spread
        self.mean = self._draw(np.random.default_rng(seed + 2), 4096).mean(axis=0)
        if path is None:
            self.X = np.empty((n, D_FEAT), dtype=dtype)
        else:
            self.X = np.memmap(path, dtype=dtype, mode="w+", shape=(n, D_FEAT))
        self.codes = np.empty((n, NBITS // 8), np.uint8)
        step = 16384
        for s in range(0, n, step):
            e = min(n, s + step)
            x = self._draw(rng, e - s)
            self.X[s:e] = x
            self.codes[s:e] = self._encode(x)
        if path is not None:
            self.X.flush()
        self.qX = self._draw(np.random.default_rng(seed + 1), nq)
        self.qcodes = self._encode(self.qX)

    def _encode(self, x):
        import hamsearch

        return hamsearch.pack((x - self.mean) @ self.proj > 0)

    def _draw(self, rng, m):
        import numpy as np

        which = rng.integers(0, self.centres.shape[0], m)
        z = rng.standard_normal((m, self.LATENT), dtype=np.float32)
        z *= self.spread
        z += self.centres[which]
        x = z @ self.lift
        np.maximum(x, 0, out=x)
        return x


def exact_l2_numpy(X, norms, q, k, chunk=None):
    """Top-k squared L2 by BLAS (X @ q), chunked when ``X`` is float16."""
    import numpy as np

    if chunk is None:
        d = norms - 2.0 * (X @ q)
    else:
        d = np.empty(X.shape[0], np.float32)
        for s in range(0, X.shape[0], chunk):
            xs = np.asarray(X[s : s + chunk], dtype=np.float32)
            d[s : s + chunk] = norms[s : s + chunk] - 2.0 * (xs @ q)
    idx = np.argpartition(d, k)[:k]
    return idx[np.argsort(d[idx])]


def exact_l2_numpy_batch(X, norms, Q, k, chunk=None):
    """Top-k squared L2 of a batch of queries (columns), by one matrix product."""
    import numpy as np

    G = np.empty((X.shape[0], Q.shape[0]), np.float32)
    step = X.shape[0] if chunk is None else chunk
    for s in range(0, X.shape[0], step):
        xs = X[s : s + step] if chunk is None else np.asarray(X[s : s + step], dtype=np.float32)
        G[s : s + step] = xs @ Q.T
    G *= -2.0
    G += norms[:, None]
    return np.argpartition(G, k, axis=0)[:k]


def norms(X, chunk=16384):
    """Squared norms of the rows of ``X`` (float32, chunked for float16 maps)."""
    import numpy as np

    out = np.empty(X.shape[0], np.float32)
    for s in range(0, X.shape[0], chunk):
        xs = np.asarray(X[s : s + chunk], dtype=np.float32)
        out[s : s + chunk] = np.einsum("ij,ij->i", xs, xs)
    return out


def mmap_index(corpus, path):
    """Write an index file whose features section is the float16 memmap, then
    load it memory-mapped (the features never have to fit in memory)."""
    import numpy as np

    import hamsearch
    from hamsearch.codes import as_words
    from hamsearch.storage import save_sections

    n = corpus.X.shape[0]
    template = hamsearch.Index(NBITS, features_dtype="float16")
    template.add(corpus.codes[:1], features=np.zeros((1, D_FEAT), np.float32))
    meta, _ = template.sections(arrays=False)
    meta.update(ntotal=n, next_id=n)
    save_sections(path, meta, {"codes": as_words(corpus.codes, NBITS),
                               "ids": np.arange(n, dtype=np.int64), "features": corpus.X})
    return hamsearch.load(path, mmap=True)
