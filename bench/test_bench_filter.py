"""pytest-benchmark: filtered k-NN (allow-lists of ids) vs numpy and FAISS (``bench.compare_filter``).

Seeded clustered 64-bit codes (1000 centres, flip 0.05) under shuffled ids,
random allow-lists of 0.1 / 1 / 10 / 50% of the ids, k = 10, a batch of
``HAMSEARCH_BENCH_NQ`` queries per call -- the data and draws of
``bench.compare_filter``.  Engines:

* hamsearch flat and MIH with ``filter=IdFilter.allow(ids)`` (one filter
  reused, as a service would), and flat with a new filter every call;
* numpy: ``np.isin`` the ids, gather the admitted codes, popcount scan,
  exact (distance, id) top-k -- what a user writes by hand;
* ``faiss.IndexBinaryFlat`` + post-filter: FAISS has no id selector for
  binary indexes, so search a larger k' and drop the non-admitted results;
  k' is doubled until every query's filtered top-k has the exact distances
  (recorded as ``k_prime``).  The baseline.

usearch's Python search takes no filter, so it is not in this comparison.
Every engine's answer is checked against the numpy one (distances; ids too
for hamsearch, whose ties go by id like numpy's).
"""

import numpy as np
import pytest

from ._suites import N, NQ, describe, numpy_knn, true_distances

FRACTIONS = [0.001, 0.01, 0.1, 0.5]
ENGINES = ["hamsearch-flat", "hamsearch-mih", "hamsearch-flat-newfilter", "numpy",
           "faiss-postfilter"]
NAMES = {"hamsearch-flat": "hamsearch flat", "hamsearch-mih": "hamsearch MIH",
         "hamsearch-flat-newfilter": "hamsearch flat, new filter per call",
         "numpy": "numpy isin + subset scan",
         "faiss-postfilter": "faiss IndexBinaryFlat + post-filter"}
BASELINE = NAMES["faiss-postfilter"]
K = 10


class FilterSet:
    def __init__(self, n=N, nq=NQ):
        import hamsearch
        from hamsearch.synthetic import clustered_codes

        self.db, centres = clustered_codes(n, 64, ncenters=1000, flip=0.05, seed=1)
        self.q, _ = clustered_codes(nq, 64, centres=centres, flip=0.05, seed=2)
        rng = np.random.default_rng(0)
        self.ids = rng.permutation(n).astype(np.int64)
        self.allow = {f: np.sort(rng.choice(n, max(1, int(f * n)), replace=False))
                      for f in FRACTIONS}
        self.by_id = self.db[np.argsort(self.ids)]  # row i holds the code of id i
        self.indexes = {}
        for method in ("flat", "mih"):
            ix = hamsearch.Index(64, method=method)
            ix.add(self.db, ids=self.ids)
            ix.search(self.q[:1], 1)
            self.indexes[method] = ix
        self.exact = {f: self.numpy(f) for f in FRACTIONS}
        self.faiss = None
        self.kprime = {}

    def numpy(self, f):
        mask = np.isin(np.arange(len(self.by_id)), self.allow[f])
        return numpy_knn(self.by_id[mask], self.q, K, ids=np.flatnonzero(mask))

    def postfilter(self, f, kprime):
        D, I = self.faiss.search(self.q, kprime)
        ok = np.isin(I, self.allow[f])
        outD = np.full((len(self.q), K), np.iinfo(np.int32).max, np.int32)
        outI = np.full((len(self.q), K), -1, np.int64)
        for i in range(len(self.q)):
            d, ids = D[i][ok[i]][:K], I[i][ok[i]][:K]
            outD[i, : d.size], outI[i, : d.size] = d, ids
        return outD, outI

    def tune(self, faiss, f):
        if self.faiss is None:
            self.faiss = faiss.IndexBinaryFlat(64)
            self.faiss.add(self.by_id)  # FAISS labels are row numbers: store by id
        if f not in self.kprime:
            n, kprime = len(self.by_id), K
            while not np.array_equal(self.postfilter(f, kprime)[0], self.exact[f][0]) \
                    and kprime < n:
                kprime = min(n, 2 * kprime)
            self.kprime[f] = kprime
        return self.kprime[f]


@pytest.fixture(scope="module")
def fset():
    return FilterSet()


@pytest.mark.parametrize("fraction", FRACTIONS)
@pytest.mark.parametrize("engine", ENGINES)
def test_filtered_knn(benchmark, fset, threads, engine, fraction):
    import hamsearch

    allow = fset.allow[fraction]
    facts = {}
    if engine.startswith("hamsearch"):
        ix = fset.indexes["mih" if engine == "hamsearch-mih" else "flat"]
        flt = hamsearch.IdFilter.allow(allow)
        if engine == "hamsearch-flat-newfilter":
            def fn():
                return ix.search(fset.q, K, filter=hamsearch.IdFilter.allow(allow))
        else:
            def fn():
                return ix.search(fset.q, K, filter=flt)
    elif engine == "numpy":
        def fn():
            return fset.numpy(fraction)
    else:
        faiss = pytest.importorskip("faiss", reason="faiss is not installed (pip install faiss-cpu)")
        kprime = fset.tune(faiss, fraction)
        facts["k_prime"] = kprime

        def fn():
            return fset.postfilter(fraction, kprime)
    describe(benchmark, "filtered k-NN",
                    f"{len(fset.db):,} x 64, k={K}, allow {fraction:g} ({len(allow):,} ids)",
                    NAMES[engine], BASELINE, items=len(fset.q), unit="queries", exact=True,
                    threads=threads, **facts)
    D, I = benchmark(fn)
    ref_D, ref_I = fset.exact[fraction]
    assert np.array_equal(D, ref_D), f"{NAMES[engine]}: filtered distances differ"
    admitted = I[I >= 0]
    assert np.isin(admitted, allow).all(), f"{NAMES[engine]}: returned a non-admitted id"
    assert np.array_equal(D, true_distances(fset.by_id, fset.q, I)), \
        f"{NAMES[engine]}: distances are not those of the returned ids"
    if engine != "faiss-postfilter":  # FAISS's ties are not by id
        assert np.array_equal(I, ref_I), f"{NAMES[engine]}: filtered ids differ"
