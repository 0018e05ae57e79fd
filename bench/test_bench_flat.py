"""pytest-benchmark: hamsearch flat scan and faiss.IndexBinaryFlat on the same data.

``python -m pytest bench/test_bench_flat.py --benchmark-only --benchmark-group-by=param:nbits,param:k``
"""

import numpy as np
import pytest

import hamsearch

from ._common import set_threads

faiss = pytest.importorskip("faiss")


@pytest.mark.parametrize("k", [1, 10, 100])
@pytest.mark.parametrize("nbits", [64, 128, 256])
@pytest.mark.parametrize("engine", ["hamsearch", "faiss"])
def test_flat_batch(benchmark, clustered_sets, engine, nbits, k):
    db, q = clustered_sets(nbits)
    set_threads(2)
    if engine == "hamsearch":
        index = hamsearch.Index(nbits, method="flat")
    else:
        index = faiss.IndexBinaryFlat(nbits)
    index.add(db)
    D, _ = benchmark(index.search, q, k)
    assert D.shape == (len(q), k)
