"""pytest-benchmark fixtures: ``python -m pytest bench/ --benchmark-only``.

Benchmarks are not part of the test run (``testpaths = tests``).  Sizes are
set with ``HAMSEARCH_BENCH_N`` (default 200,000 codes).
"""

import os

import numpy as np
import pytest

N = int(os.environ.get("HAMSEARCH_BENCH_N", "200000"))


@pytest.fixture(scope="session")
def clustered_sets():
    from hamsearch.synthetic import clustered_codes

    cache = {}

    def get(nbits, nq=1000):
        if nbits not in cache:
            db, centres = clustered_codes(N, nbits, ncenters=1000, flip=0.1, seed=1)
            q, _ = clustered_codes(nq, nbits, centres=centres, flip=0.1, seed=2)
            cache[nbits] = (db, q)
        return cache[nbits]

    return get
