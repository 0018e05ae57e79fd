"""Numba kernels (``hamsearch._numba``) against the numpy references.

The backend-generic kernel tests live in ``tests/test_kernels.py``; this file
covers what is specific to the Numba twins: every code path of the task
planner (serial, parallel over queries, database split across threads for few
queries, and the merge of per-chunk results), multi-block scans with tiny
blocks, the row and the transposed block layouts, thread-count handling,
read-only inputs, concurrent calls, and lazy compilation.
"""

import subprocess
import sys
import threading

import numpy as np
import pytest

numba = pytest.importorskip("numba")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import hamsearch._numba as K  # noqa: E402
from hamsearch._numba import flat  # noqa: E402
from tests.reference import (  # noqa: E402
    PAD_DISTANCE,
    clustered_words,
    hamming_matrix,
    knn,
    random_words,
    range_search,
)

NBITS = [8, 16, 24, 56, 64, 72, 128, 192, 200, 256, 320, 512, 1024, 4096]

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(params=["default", "tiny-blocks-parallel"])
def mode(request, monkeypatch):
    """Run a test once as shipped and once with every splitting path forced.

    The second mode uses 8-row blocks, makes even tiny inputs take the
    parallel path, lets one query split the database into chunks and gives
    range search tiny match buffers, so that the block loop, the transposed
    layout, the per-chunk merge, the CSR offsets and the re-scan after a
    buffer overflow are all exercised on small data.
    """
    if request.param == "tiny-blocks-parallel":
        monkeypatch.setattr(flat, "block_rows", lambda nwords: 8)
        monkeypatch.setattr(K, "_SERIAL_WORK", 0)
        monkeypatch.setattr(K, "_MIN_CHUNK", 4)
        # range-search buffers of 2 matches per task: most tasks overflow
        # and are scanned again with exact-size buffers
        monkeypatch.setattr(K, "_RANGE_BUFFER", 2)
        monkeypatch.setattr(K, "_RANGE_MIN_BUFFER", 2)
    return request.param


def _ids(rng, n, kind):
    if kind == "arange":
        return np.arange(n, dtype=np.int64)
    if kind == "reversed":
        return np.arange(n, dtype=np.int64)[::-1].copy()
    # distinct, arbitrary, not in position order, spanning int64
    ids = rng.choice(2**40, size=n, replace=False).astype(np.int64)
    if n:
        ids[rng.integers(0, n)] = 2**62 + 7
    return ids


@st.composite
def problems(draw):
    nbits = draw(st.sampled_from(NBITS))
    n = draw(st.integers(0, 300))
    nq = draw(st.integers(0, 9))
    seed = draw(st.integers(0, 2**32 - 1))
    clustered = draw(st.booleans())
    id_kind = draw(st.sampled_from(["arange", "reversed", "random"]))
    rng = np.random.default_rng(seed)
    if clustered:
        # few centres and few flips: many duplicate codes and equal distances
        p = draw(st.sampled_from([0.0, 0.02, 0.1]))
        db = clustered_words(rng, n, nbits, ncenters=3, p=p)
        q = clustered_words(rng, nq, nbits, ncenters=3, p=p)
    else:
        db = random_words(rng, n, nbits)
        q = random_words(rng, nq, nbits)
    if n and draw(st.booleans()):
        q = np.ascontiguousarray(np.concatenate([q, db[: min(n, 2)]]))
    return nbits, db, _ids(rng, n, id_kind), q


def _assert_same_knn(got, want):
    D, I = got
    Dr, Ir = want
    assert D.dtype == np.int32 and I.dtype == np.int64
    assert D.shape == Dr.shape and I.shape == Ir.shape
    np.testing.assert_array_equal(D, Dr)
    np.testing.assert_array_equal(I, Ir)


@SETTINGS
@given(prob=problems(), k=st.integers(1, 330), nthreads=st.sampled_from([1, 2, 3]))
def test_knn_matches_reference(mode, prob, k, nthreads):
    nbits, db, ids, q = prob
    _assert_same_knn(K.knn(db, ids, q, k, nthreads), knn(db, ids, q, k))


@SETTINGS
@given(prob=problems(), data=st.data(), nthreads=st.sampled_from([1, 2]))
def test_range_search_matches_reference(mode, prob, data, nthreads):
    nbits, db, ids, q = prob
    radius = data.draw(st.integers(0, nbits + 3))
    got = K.range_search(db, ids, q, radius, nthreads)
    want = range_search(db, ids, q, radius)
    for g, w, name in zip(got, want, ("lims", "D", "I")):
        assert g.dtype == w.dtype, name
        np.testing.assert_array_equal(g, w, err_msg=name)


@SETTINGS
@given(prob=problems(), nthreads=st.sampled_from([1, 2]))
def test_hamming_matrix_and_rows(mode, prob, nthreads):
    nbits, db, ids, q = prob
    got = K.hamming_matrix(q, db, nthreads)
    assert got.dtype == np.int32 and got.shape == (len(q), len(db))
    np.testing.assert_array_equal(got, hamming_matrix(q, db))
    m = min(len(q), len(db))
    rows = K.hamming_rows(q[:m], db[:m])
    assert rows.dtype == np.int32
    np.testing.assert_array_equal(rows, np.diagonal(hamming_matrix(q[:m], db[:m])))


@pytest.mark.parametrize("nbits", [64, 128, 256, 320])
def test_many_ties_resolved_by_id(mode, nbits):
    # every database code equal: the answer is decided by the ids alone
    rng = np.random.default_rng(nbits)
    code = random_words(rng, 1, nbits)
    db = np.repeat(code, 500, axis=0)
    ids = rng.permutation(10_000)[:500].astype(np.int64) * 3 + 1
    q = np.ascontiguousarray(np.concatenate([code, random_words(rng, 6, nbits)]))
    for k in (1, 10, 499, 500, 600):
        _assert_same_knn(K.knn(db, ids, q, k, 2), knn(db, ids, q, k))


def test_k_beyond_n_pads(mode):
    rng = np.random.default_rng(3)
    db = random_words(rng, 5, 128)
    q = random_words(rng, 2, 128)
    D, I = K.knn(db, np.arange(5, dtype=np.int64) + 100, q, 9, 2)
    assert (I[:, 5:] == -1).all() and (D[:, 5:] == PAD_DISTANCE).all()
    assert set(I[0, :5]) == set(range(100, 105))


def test_empty_inputs():
    rng = np.random.default_rng(0)
    db = random_words(rng, 0, 64)
    q = random_words(rng, 3, 64)
    D, I = K.knn(db, np.zeros(0, np.int64), q, 4, 2)
    assert D.shape == (3, 4) and (D == PAD_DISTANCE).all() and (I == -1).all()
    lims, D, I = K.range_search(db, np.zeros(0, np.int64), q, 10, 2)
    assert lims.tolist() == [0, 0, 0, 0] and len(D) == 0 and len(I) == 0
    D, I = K.knn(random_words(rng, 4, 64), np.arange(4), random_words(rng, 0, 64), 3, 2)
    assert D.shape == (0, 3) and I.shape == (0, 3)
    assert K.hamming_matrix(q, db, 2).shape == (3, 0)


def test_plan_covers_every_thread_count():
    # many queries: whole rounds of query groups, no database split
    g, c, par = K._plan(1000, 10**6, 2)
    assert par and c == 1 and g % 2 == 0 and g >= 2
    # one query and a big database: split across the threads
    g, c, par = K._plan(1, 10**6, 4)
    assert par and g == 1 and c == 4
    # serial when one thread or tiny work
    assert K._plan(1000, 10**6, 1)[2] is False
    assert K._plan(2, 10, 8)[2] is False
    # per-task heap memory bounded for large k
    g, c, par = K._plan(1000, 10**6, 2, per_query_cap=10**6)
    assert 1000 / g * 10**6 <= 2 * K._MAX_HEAP_ENTRIES


def test_split_database_single_query_large():
    # the real (not monkeypatched) split path: 1 query, database > 2 chunks
    rng = np.random.default_rng(11)
    db = clustered_words(rng, max(3 * K._MIN_CHUNK, K._SERIAL_WORK) + 5, 128, ncenters=4, p=0.05)
    ids = rng.permutation(len(db)).astype(np.int64)
    q = np.ascontiguousarray(db[[7]])
    assert K._plan(1, len(db), 2)[1] == 2
    _assert_same_knn(K.knn(db, ids, q, 25, 2), knn(db, ids, q, 25))
    got = K.range_search(db, ids, q, 20, 2)
    for g, w in zip(got, range_search(db, ids, q, 20)):
        np.testing.assert_array_equal(g, w)


def test_thread_count_restored_and_clamped():
    rng = np.random.default_rng(1)
    db = random_words(rng, 5000, 64)
    q = random_words(rng, 40, 64)
    ids = np.arange(5000, dtype=np.int64)
    before = numba.get_num_threads()
    want = knn(db, ids, q, 3)
    for nthreads in (1, 2, 10_000, 0, None):
        _assert_same_knn(K.knn(db, ids, q, 3, nthreads), want)
        assert numba.get_num_threads() == before


def test_read_only_inputs():
    rng = np.random.default_rng(5)
    db = random_words(rng, 300, 200)
    q = random_words(rng, 6, 200)
    ids = rng.permutation(300).astype(np.int64)
    for a in (db, q, ids):
        a.setflags(write=False)
    _assert_same_knn(K.knn(db, ids, q, 7, 2), knn(db, ids, q, 7))
    got = K.range_search(db, ids, q, 90, 2)
    for g, w in zip(got, range_search(db, ids, q, 90)):
        np.testing.assert_array_equal(g, w)


def test_concurrent_calls_from_python_threads():
    rng = np.random.default_rng(9)
    db = random_words(rng, 20_000, 128)
    ids = rng.permutation(20_000).astype(np.int64)
    queries = [random_words(rng, 8, 128) for _ in range(4)]
    want = [knn(db, ids, q, 5) for q in queries]
    results = [None] * len(queries)
    errors = []

    def work(i):
        try:
            for _ in range(3):
                results[i] = K.knn(db, ids, queries[i], 5, 1 + i % 2)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(queries))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for got, ref in zip(results, want):
        _assert_same_knn(got, ref)


def test_large_radius_is_capped_not_an_error():
    rng = np.random.default_rng(2)
    db = random_words(rng, 50, 72)
    q = random_words(rng, 3, 72)
    ids = np.arange(50, dtype=np.int64)
    lims, D, I = K.range_search(db, ids, q, 10**12, 2)
    assert lims.tolist() == [0, 50, 100, 150]
    for g, w in zip((lims, D, I), range_search(db, ids, q, 10**12)):
        np.testing.assert_array_equal(g, w)


def test_interface_names():
    assert K.NAME == "numba"
    for name in ("hamming_matrix", "hamming_rows", "knn", "range_search", "warmup"):
        assert callable(getattr(K, name))


def test_import_does_not_compile():
    code = (
        "import hamsearch._numba as K\n"
        "from hamsearch._numba import flat\n"
        "import numba\n"
        "ds = [v for v in vars(flat).values() if isinstance(v, numba.core.registry.CPUDispatcher)]\n"
        "assert ds, 'no dispatchers found'\n"
        "assert all(not d.signatures for d in ds), [d for d in ds if d.signatures]\n"
        "print('lazy')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "lazy" in out.stdout


def test_warmup_then_search():
    K.warmup(nthreads=2)
    rng = np.random.default_rng(4)
    db = random_words(rng, 100, 64)
    q = random_words(rng, 2, 64)
    ids = np.arange(100, dtype=np.int64)
    _assert_same_knn(K.knn(db, ids, q, 4, 2), knn(db, ids, q, 4))


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_forked_child_after_parallel_search():
    # GNU OpenMP aborts a child forked after the pool started if the child
    # enters a parallel region; the kernels must fall back to serial there.
    code = (
        "import os, numpy as np\n"
        "import hamsearch._numba as K\n"
        "from tests.reference import random_words, knn\n"
        "rng = np.random.default_rng(0)\n"
        "db = random_words(rng, 100000, 64); q = random_words(rng, 20, 64)\n"
        "ids = np.arange(100000, dtype=np.int64)\n"
        "D0, I0 = K.knn(db, ids, q, 5, 2)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    D, I = K.knn(db, ids, q, 5, 2)\n"
        "    lims, RD, RI = K.range_search(db, ids, q, 20, 2)\n"
        "    os._exit(0 if (D == D0).all() and (I == I0).all() else 3)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "print('child', os.waitstatus_to_exitcode(status))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "child 0" in out.stdout, out.stdout + out.stderr


def test_the_kernel_cache_is_stamped_with_the_whole_package(tmp_path):
    """Numba's cache keys a function on its own file; the kernels inline
    helpers of other files, so their cache is stamped with every source file
    of the package: editing any file (a helper) invalidates every kernel."""
    pytest.importorskip("numba")
    from hamsearch._numba import _cache
    from hamsearch._numba.mih import knn

    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "sub" / "b.py").write_text("y = 2\n")
    (pkg / "notes.txt").write_text("not source\n")
    first = _cache.package_stamp(str(pkg))
    _cache._stamps.clear()
    assert _cache.package_stamp(str(pkg)) == first  # same files, same stamp
    (pkg / "notes.txt").write_text("changed, but not source\n")
    _cache._stamps.clear()
    assert _cache.package_stamp(str(pkg)) == first
    (pkg / "sub" / "b.py").write_text("y = 3  # a helper edited\n")
    _cache._stamps.clear()
    assert _cache.package_stamp(str(pkg)) != first
    # the kernels use it (where Numba exposes its locator list)
    if _cache.install():
        locator = knn.knn_chunk._cache._impl.locator
        assert locator.get_source_stamp() == _cache.package_stamp()
        assert type(locator).__name__ == "PackageCacheLocator"
