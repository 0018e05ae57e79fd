"""pytest-benchmark suites: ``python -m pytest bench/ --benchmark-only``.

``python -m pytest bench/ --benchmark-only --benchmark-json=out.json`` then
``python -m bench.report out.json`` prints the ratio tables (each engine
against the group's baseline, same run) and writes them with a plot per
family to ``bench-report/``.  ``--benchmark-disable`` runs every benchmark
once, as a test of its results (CI does this).

Benchmarks are not part of the test run (``testpaths = tests``).  Sizes, all
seeded:

=============================  =======  ==========================================
variable                       default  what
=============================  =======  ==========================================
``HAMSEARCH_BENCH_N``          20000    database codes (flat, MIH, range, filter,
                                        add / save / load)
``HAMSEARCH_BENCH_NQ``         200      queries per batch
``HAMSEARCH_BENCH_THREADS``    2        threads of every engine (the 971x suite: 1)
``HAMSEARCH_BENCH_RERANK_N``   N / 10   items of the 971x suite (4096-d float32
                                        features: 16 KiB each)
``HAMSEARCH_BENCH_ENC_N``      3000     encoder fit rows (encode: 7/6 of it,
                                        LE-hash fit: 1/3, as ``bench.bench_encoders``)
``HAMSEARCH_BENCH_ROUNDS``     3        rounds of the benchmarks that need a fresh
                                        state per call (add, save)
=============================  =======  ==========================================

``OMP_WAIT_POLICY=PASSIVE`` is set here, before any suite imports FAISS
(:func:`bench._common.bench_env`).
"""

from __future__ import annotations

import os

import pytest

from ._common import bench_env, machine_line, omp_line

bench_env()  # before FAISS is imported by any suite

from ._suites import ENC_N, N, NQ, RERANK_N, THREADS, build, make_codes  # noqa: E402


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["hamsearch"] = {
        "machine": machine_line(), "omp": omp_line(), "threads": THREADS, "n": N, "nq": NQ,
        "rerank_n": RERANK_N, "enc_n": ENC_N, "load_average": list(os.getloadavg()),
    }


@pytest.fixture(scope="session")
def codes():
    """``codes(kind, nbits)`` -> cached :class:`bench._suites.CodeSet`."""
    cache = {}

    def get(kind: str, nbits: int):
        if (kind, nbits) not in cache:
            cache[kind, nbits] = make_codes(kind, nbits)
        return cache[kind, nbits]

    return get


@pytest.fixture(scope="session")
def engines():
    """``engines(key, codeset)`` -> cached built engine (skips when its
    package is missing)."""
    cache = {}

    def get(key: str, data):
        if (key, data.name) not in cache:
            cache[key, data.name] = build(key, data, THREADS)
        return cache[key, data.name]

    yield get
    cache.clear()


@pytest.fixture
def threads():
    """Pin hamsearch and FAISS to ``HAMSEARCH_BENCH_THREADS`` for this benchmark."""
    from ._common import set_threads

    set_threads(THREADS)
    return THREADS
