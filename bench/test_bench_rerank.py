"""pytest-benchmark: the 971x comparison -- 128-bit Hamming vs exhaustive 4096-d L2,
and hierarchical search (``bench.speedup_971x`` / ``hamsearch speedup``, part b).

The corpus and the numpy L2 search are ``bench.speedup_corpus``'s, as in the
script.

Lin et al. (CVPRW 2015) report 128-bit Hamming search 971.3x faster than
exhaustive Euclidean search over 4096-d float features.  On the seeded corpus
of ``hamsearch speedup`` (``HAMSEARCH_BENCH_RERANK_N`` items: 4096-d float32
ReLU features lifted from a clustered 64-d latent space, codes = signs of 128
random projections), k = 10, everything on **1 thread** (hamsearch, FAISS
and BLAS), one query per call and a batch of 100:

* exhaustive L2: numpy/BLAS (``norms - 2 X q``), ``faiss.IndexFlatL2``,
  hamsearch's re-rank kernel over every item (``pool_radius=128``);
* exhaustive Hamming: hamsearch ``Index`` (flat, and auto: MIH when
  cheaper), ``faiss.IndexBinaryFlat``, usearch exact, numpy;
* hierarchical: Hamming pool of 100 / 1000 (ties included), L2 re-rank.

The baseline of each group is the fastest exhaustive L2 engine, as in the
script, so an engine's ratio is the paper's speed-up.  Checks: the L2
engines return the true L2 top k (float64 reference; float32 sums may swap
near-ties), the Hamming engines hamsearch flat's distances, hierarchical
search true L2 distances of what it returns, with its recall of the exact
L2 top k in ``extra_info["recall"]``.  Wall-clock timing (the script
defaults to thread CPU time; ``--benchmark-timer time.thread_time`` here).
"""

import itertools

import numpy as np
import pytest

from ._suites import RERANK_N, describe, need, numpy_knn

K = 10
NQ = 100
NCHECK = 10
L2 = {"l2-numpy": "numpy L2 (BLAS)", "l2-faiss": "faiss IndexFlatL2",
      "l2-hamsearch": "hamsearch L2 re-rank of every item"}
HAMMING = {"ham-hamsearch-flat": "hamsearch flat", "ham-hamsearch-auto": "hamsearch auto",
           "ham-faiss": "faiss IndexBinaryFlat", "ham-usearch": "usearch exact",
           "ham-numpy": "numpy popcount scan"}
HIER = {"hier-100": "hamsearch hierarchical, pool 100",
        "hier-1000": "hamsearch hierarchical, pool 1000"}
NAMES = {**L2, **HAMMING, **HIER}
BASELINE = list(L2.values())  # the fastest of them


class Corpus:
    def __init__(self, n):
        import hamsearch

        from .speedup_corpus import NBITS
        from .speedup_corpus import Corpus as SpeedupCorpus
        from .speedup_corpus import norms

        c = SpeedupCorpus(n, NQ, 0, np.float32)
        self.X, self.codes, self.qX, self.qcodes = c.X, c.codes, c.qX, c.qcodes
        self.nbits = NBITS
        self.norms = norms(self.X)
        self.index = hamsearch.Index(NBITS, features_dtype="float32")  # auto
        self.index.add(self.codes, features=self.X)
        self.flat = hamsearch.Index(NBITS, method="flat")
        self.flat.add(self.codes)
        self.peers = {}
        Q = self.qX[:NCHECK].astype(np.float64)
        d = np.empty((NCHECK, n))
        for s in range(0, n, 8192):  # float64 |x|^2 - 2 x.q + |q|^2, in chunks
            xs = self.X[s : s + 8192].astype(np.float64)
            d[:, s : s + 8192] = (np.einsum("ij,ij->i", xs, xs)[None, :] - 2 * Q @ xs.T
                                  + np.einsum("ij,ij->i", Q, Q)[:, None])
        self.l2_true = d  # (NCHECK, n) float64 squared distances
        self.l2_topk = np.argsort(d, axis=1, kind="stable")[:, :K]

    def engine(self, key):
        """``(one(i) -> ids of query i, batch() -> ids (NQ, K))``."""
        from .speedup_corpus import exact_l2_numpy, exact_l2_numpy_batch

        X, qX, codes, qc = self.X, self.qX, self.codes, self.qcodes
        if key == "l2-numpy":
            return (lambda i: exact_l2_numpy(X, self.norms, qX[i], K),
                    lambda: exact_l2_numpy_batch(X, self.norms, qX, K).T)
        if key in ("l2-faiss", "ham-faiss"):
            faiss = need("faiss")
            if key not in self.peers:
                if key == "l2-faiss":
                    ix = faiss.IndexFlatL2(X.shape[1])
                    ix.add(X)
                else:
                    ix = faiss.IndexBinaryFlat(self.nbits)
                    ix.add(codes)
                self.peers[key] = ix
            ix = self.peers[key]
            if key == "l2-faiss":
                return (lambda i: ix.search(qX[i : i + 1], K)[1][0],
                        lambda: ix.search(qX, K)[1])
            return (lambda i: ix.search(qc[i : i + 1], K), lambda: ix.search(qc, K))
        if key == "l2-hamsearch":
            ix, r = self.index, self.nbits
            return (lambda i: ix.search(qc[i : i + 1], K, query_features=qX[i : i + 1],
                                        pool_radius=r)[1][0],
                    lambda: ix.search(qc, K, query_features=qX, pool_radius=r)[1])
        if key.startswith("ham-hamsearch"):
            ix = self.flat if key.endswith("flat") else self.index
            return (lambda i: ix.search(qc[i : i + 1], K), lambda: ix.search(qc, K))
        if key == "ham-usearch":
            need("usearch")
            from usearch.index import MetricKind
            from usearch.index import search as usearch_search

            def run(q):
                m = usearch_search(codes, q, K, MetricKind.Hamming, exact=True, threads=1)
                D = np.asarray(m.distances).reshape(len(q), K).astype(np.int32)
                return D, np.asarray(m.keys, np.int64).reshape(len(q), K)
            return (lambda i: run(qc[i : i + 1]), lambda: run(qc))
        if key == "ham-numpy":
            return (lambda i: numpy_knn(codes, qc[i : i + 1], K), lambda: numpy_knn(codes, qc, K))
        if key.startswith("hier-"):
            m, ix = int(key.split("-")[1]), self.index
            return (lambda i: ix.search(qc[i : i + 1], K, query_features=qX[i : i + 1],
                                        pool_size=m),
                    lambda: ix.search(qc, K, query_features=qX, pool_size=m))
        raise KeyError(key)

    def check(self, key, one, info):
        """Check the first NCHECK queries' answers (see the module docstring)."""
        if key in HAMMING:
            ref_D, _ = self.flat.search(self.qcodes[:NCHECK], K)
            D = np.concatenate([np.asarray(one(i)[0]).reshape(1, K) for i in range(NCHECK)])
            assert np.array_equal(D.astype(np.int32), ref_D), f"{NAMES[key]}: distances differ"
            return
        recall = []
        for i in range(NCHECK):
            res = one(i)
            ids = np.asarray(res[1][0] if key.startswith("hier-") else res, np.int64)
            ids = ids[ids >= 0]
            got = np.sort(self.l2_true[i, ids])
            best = self.l2_true[i, self.l2_topk[i]]
            if key.startswith("hier-"):
                D = np.asarray(res[0][0], np.float64)[: len(ids)]
                np.testing.assert_allclose(D, self.l2_true[i, ids], rtol=1e-3, atol=1e-2,
                                           err_msg=f"{NAMES[key]}: re-rank distances")
                recall.append(len(set(ids.tolist()) & set(self.l2_topk[i].tolist())) / K)
            else:
                assert len(ids) == K
                np.testing.assert_allclose(got, best, rtol=1e-4,
                                           err_msg=f"{NAMES[key]}: not the L2 top {K}")
        if recall:
            info["recall"] = round(float(np.mean(recall)), 4)


@pytest.fixture(scope="module")
def corpus():
    from hamsearch import _backend

    from ._common import set_threads

    old = _backend.get_num_threads()
    limiter = None
    try:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(1)  # BLAS of numpy and FAISS
    except ImportError:  # pragma: no cover
        pass
    set_threads(1)
    try:
        yield Corpus(RERANK_N)
    finally:
        if limiter is not None:
            limiter.restore_original_limits()
        set_threads(old)


def _exact(key):
    return key not in HIER


@pytest.mark.parametrize("mode", ["1 query", "batch of 100"])
@pytest.mark.parametrize("engine", list(NAMES))
def test_971x(benchmark, corpus, engine, mode):
    one, batch = corpus.engine(engine)
    n = len(corpus.codes)
    info = describe(benchmark, "971x Hamming vs L2",
                    f"{n:,} x 4096-d float32 / 128-bit, k={K}, {mode}", NAMES[engine], BASELINE,
                    items=1 if mode == "1 query" else NQ, unit="queries", exact=_exact(engine),
                    threads=1)
    if mode == "1 query":
        queries = itertools.cycle(range(NQ))
        benchmark(lambda: one(next(queries)))
    else:
        out = benchmark(batch)
        ids = np.asarray(out if engine in L2 else out[1])
        assert ids.shape == (NQ, K) and ((ids >= 0) & (ids < n)).all(), NAMES[engine]
        if engine in HAMMING:
            assert np.array_equal(np.asarray(out[0]).astype(np.int32),
                                  corpus.flat.search(corpus.qcodes, K)[0]), \
                f"{NAMES[engine]}: distances differ"
    corpus.check(engine, one, info)
