"""pytest-benchmark: exact MIH k-NN and range search vs the index peers (``bench.compare_mih``).

Seeded clustered codes (1000 centres, flip 0.05: ``compare_mih``'s
``clustered-0.05``), a batch of ``HAMSEARCH_BENCH_NQ`` queries per call.

* k-NN (k = 1, 10, 100): hamsearch ``Index(method="mih")`` and
  ``method="flat"``; FAISS ``IndexBinaryFlat``, ``IndexBinaryMultiHash``,
  ``IndexBinaryHash``, ``IndexBinaryIVF``, ``IndexBinaryHNSW``; usearch exact
  and HNSW; numpy.  Baseline ``faiss IndexBinaryFlat``.
* range (r = 2, 4, 8, inclusive): the same engines less the two HNSW graphs
  and usearch's exact search, which have no range search.

Exact engines must return hamsearch flat's answers; the approximate ones
(settings in :mod:`bench._suites`) must return true distances, and their
tie-aware recall is recorded in ``extra_info["recall"]``.
"""

import pytest

from ._suites import ALL, NQ, check_knn, check_range, describe

BASELINE = "faiss IndexBinaryFlat"
RANGE_ENGINES = [e for e in ALL if e not in ("faiss-hnsw", "usearch-hnsw", "usearch-exact")]
DATA = "clustered-0.05"


@pytest.mark.parametrize("k", [1, 10, 100])
@pytest.mark.parametrize("nbits", [64, 128])
@pytest.mark.parametrize("engine", ALL)
def test_mih_knn(benchmark, codes, engines, threads, engine, nbits, k):
    data = codes(DATA, nbits)
    built = engines(engine, data)
    info = describe(benchmark, "MIH k-NN", f"{data.name}, k={k}", built.name, BASELINE,
                    items=NQ, unit="queries", exact=built.exact, threads=threads, **built.info)
    D, I = benchmark(built.knn, data.q, k)
    check_knn(built, data, k, D, I, info)


@pytest.mark.parametrize("radius", [2, 4, 8])
@pytest.mark.parametrize("nbits", [64, 128])
@pytest.mark.parametrize("engine", RANGE_ENGINES)
def test_mih_range(benchmark, codes, engines, threads, engine, nbits, radius):
    data = codes(DATA, nbits)
    built = engines(engine, data)
    assert built.range is not None
    info = describe(benchmark, "MIH range", f"{data.name}, r<={radius}", built.name, BASELINE,
                    items=NQ, unit="queries", exact=built.exact, threads=threads, **built.info)
    res = benchmark(built.range, data.q, radius)
    check_range(built, data, radius, res, info)
