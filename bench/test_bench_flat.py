"""pytest-benchmark: exhaustive k-NN scans on the same codes (``bench.compare_flat``).

Engines: hamsearch ``Index(method="flat")``, ``faiss.IndexBinaryFlat``,
usearch's exact Hamming search and a plain numpy popcount scan, on seeded
clustered codes (1000 centres, flip 0.1), a batch of ``HAMSEARCH_BENCH_NQ``
queries per call, baseline ``faiss IndexBinaryFlat``.  Every engine is exact:
its distances must equal hamsearch's (and its ids too where ties go by id).

``python -m pytest bench/test_bench_flat.py --benchmark-only --benchmark-json=flat.json``
"""

import pytest

from ._suites import EXHAUSTIVE, NQ, check_knn, describe

BASELINE = "faiss IndexBinaryFlat"


@pytest.mark.parametrize("k", [1, 10, 100])
@pytest.mark.parametrize("nbits", [64, 128, 256])
@pytest.mark.parametrize("engine", EXHAUSTIVE)
def test_flat_knn(benchmark, codes, engines, threads, engine, nbits, k):
    data = codes("clustered-0.1", nbits)
    built = engines(engine, data)
    info = describe(benchmark, "flat k-NN", f"{data.name}, k={k}", built.name, BASELINE,
                    items=NQ, unit="queries", exact=built.exact, threads=threads, **built.info)
    D, I = benchmark(built.knn, data.q, k)
    check_knn(built, data, k, D, I, info)
