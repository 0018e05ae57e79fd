"""Resource limits and argument checks (issue 11 items 11-13)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import hamsearch
from hamsearch._backend import max_threads

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _index(n=1000, method="flat", features=False, seed=0):
    rng = np.random.default_rng(seed)
    index = hamsearch.Index(64, method=method)
    index.add(rng.integers(0, 256, (n, 8), dtype=np.uint8),
              features=rng.standard_normal((n, 4)) if features else None)
    return index


def _run(code, timeout=120):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


# ------------------------------------------------------------- item 11: k
@pytest.mark.parametrize("method", ["flat", "mih", "auto"])
def test_k_above_ntotal_pads_without_kernel_work_buffers(method):
    index = _index(method=method)
    q = index.codes[:4]
    D, I = index.search(q, 10**6)  # 4 x 1e6 outputs: 48 MB, not 4 x 1e6 heaps
    eD, eI = index.search(q, 1000)
    assert D.shape == I.shape == (4, 10**6)
    np.testing.assert_array_equal(D[:, :1000], eD)
    np.testing.assert_array_equal(I[:, :1000], eI)
    assert (I[:, 1000:] == -1).all() and (D[:, 1000:] == hamsearch.index.PAD_DISTANCE).all()


def test_k_on_an_empty_index_pads():
    index = hamsearch.Index(64)
    D, I = index.search(np.zeros((3, 8), np.uint8), 7)
    assert (I == -1).all() and (D == hamsearch.index.PAD_DISTANCE).all() and I.shape == (3, 7)


def test_huge_k_is_a_clear_error_naming_k():
    # run in a subprocess: a failed multi-GB allocation must not take the test run with it
    proc = _run("""
        import numpy as np, hamsearch
        index = hamsearch.Index(64); index.add(np.zeros((1000, 8), np.uint8))
        q = np.zeros((4, 8), np.uint8)
        for k, exc in ((2**31, MemoryError), (2**40, MemoryError), (2**63, ValueError)):
            try:
                index.search(q, k)
            except exc as e:
                assert f"k={k}" in str(e) and "1000" in str(e), e
            else:
                raise SystemExit(f"k={k} did not fail")
        print("ok")
    """)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stdout + proc.stderr


def test_pool_size_is_capped_at_the_index_size():
    index = _index(features=True)
    rng = np.random.default_rng(1)
    q, qf = index.codes[:3], rng.standard_normal((3, 4))
    a = index.search(q, 5, query_features=qf, pool_size=10**8)
    b = index.search(q, 5, query_features=qf, pool_size=len(index))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    D, I = index.search(q, 10**5, query_features=qf, pool_size=10**8)
    assert I.shape == (3, 10**5) and (I[:, 1000:] == -1).all() and np.isinf(D[:, 1000:]).all()
    np.testing.assert_array_equal(I[:, :5], a[1])


def test_rerank_pool_k_above_candidates_pads():
    from hamsearch.rerank import rerank_pool

    rng = np.random.default_rng(0)
    feats = rng.standard_normal((50, 4)).astype(np.float32)
    D, I, H = rerank_pool(feats, feats[:2], [0, 3, 5], [1, 2, 3, 4, 5], 10**6, metric="ip")
    assert I.shape == (2, 10**6) and (I[0, 3:] == -1).all() and (I[1, 2:] == -1).all()
    assert np.isneginf(D[0, 3:]).all() and (H[0, 3:] == hamsearch.index.PAD_DISTANCE).all()


# ------------------------------------------------------- item 12: threads
@pytest.mark.parametrize("n", [0, -1, 2**40, max_threads() + 1, 4096, 2.0, True, "2"])
def test_set_num_threads_rejects(n):
    old = hamsearch.get_num_threads()
    with pytest.raises(ValueError, match=str(max_threads())):
        hamsearch.set_num_threads(n)
    assert hamsearch.get_num_threads() == old


def test_set_num_threads_accepts_the_range():
    old = hamsearch.get_num_threads()
    try:
        for n in (1, np.int64(2), max_threads()):
            hamsearch.set_num_threads(n)
            assert hamsearch.get_num_threads() == int(n)
        index = _index()
        index.search(index.codes[:5], 3)
    finally:
        hamsearch.set_num_threads(old)


@pytest.mark.parametrize("value", ["4096", "0", "x", str(2**40)])
def test_thread_env_var_is_validated(value):
    proc = _run("""
        import numpy as np, hamsearch
        try:
            hamsearch.get_num_threads()
        except RuntimeError as exc:
            assert "HAMSEARCH_NUM_THREADS" in str(exc), exc
            print("ok")
    """.replace("import numpy", f"import os; os.environ['HAMSEARCH_NUM_THREADS'] = {value!r}\n"
                                "        import numpy"))
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stdout + proc.stderr


# ------------------------------------------------------ item 13: the rest
def test_only_integers_are_ids():
    index = _index(n=100)
    assert 62 in index and np.int64(62) in index and np.uint8(62) in index
    for x in (62.5, 62.0, "62", b"62", True, False, None, [62], np.float64(62), 2**70, -1,
              np.uint64(2**64 - 1)):
        assert (x in index) is False, x


def test_reconstruct_names_the_real_missing_id():
    index = _index(n=100)
    with pytest.raises(KeyError, match=str(2**64 - 1)):
        index.reconstruct(np.uint64(2**64 - 1))
    with pytest.raises(KeyError, match="1000"):
        index.reconstruct([5, 1000])
    with pytest.raises(TypeError, match="ids"):
        index.reconstruct([1.5])
    assert index.remove(np.array([2**64 - 1], dtype=np.uint64)) == 0
    assert len(index) == 100


def test_default_ids_past_int64_max_name_the_cause():
    index = hamsearch.Index(64)
    index.add(np.zeros((1, 8), np.uint8), ids=[np.iinfo(np.int64).max])
    with pytest.raises(OverflowError, match="ids="):
        index.add(np.zeros((2, 8), np.uint8))
    assert len(index) == 1
    index.add(np.zeros((1, 8), np.uint8), ids=[7])
    assert len(index) == 2


def test_features_dtype_none_is_named():
    with pytest.raises(TypeError, match="None"):
        hamsearch.Index(64, features_dtype=None)


@pytest.mark.skipif(not hamsearch.backend().startswith("c-"), reason="C backend only")
def test_c_status_codes_are_told_apart():
    from hamsearch import _native, _native_mih
    from hamsearch.mih import _empty_segment

    with pytest.raises(MemoryError):
        _native.check_status(_native.HS_ENOMEM, "x")
    with pytest.raises(ValueError, match="rejected its arguments"):
        _native.check_status(_native.HS_EINVAL, "x")
    codes = np.zeros((4, 1), np.uint64)
    ids = np.arange(4, dtype=np.int64)
    seg = _empty_segment(2)
    starts, lengths = np.array([0, 32], np.int32), np.array([32, 32], np.int32)
    # bad arguments reach the C kernels only through a bug: ValueError, not MemoryError
    with pytest.raises(ValueError, match="rejected"):
        _native_mih.mih_knn(codes, ids, codes, 0, starts, lengths, seg, seg, 100)
    with pytest.raises(ValueError, match="rejected"):
        _native_mih.mih_range_search(codes, ids, codes, 2, starts, lengths[:0], seg, seg, 100)
    NULL = _native._ffi.NULL
    assert _native._lib.hs_knn(NULL, NULL, 4, 1, NULL, -1, 3, NULL, NULL, 1,
                               NULL) == _native.HS_EINVAL


def test_default_threads_follow_the_cpu_affinity():
    """The default thread count follows the CPUs this process may use: a
    new affinity mask is seen once the cache's second is over, and a forked
    child reads the mask anew instead of inheriting the parent's cache."""
    proc = _run("""
        import os, time, hamsearch
        from hamsearch import _backend
        mask = os.sched_getaffinity(0)
        assert hamsearch.get_num_threads() == len(mask)
        one = {min(mask)}
        os.sched_setaffinity(0, one)
        time.sleep(_backend._CPUS_TTL_S + 0.05)
        assert hamsearch.get_num_threads() == 1, hamsearch.get_num_threads()
        os.sched_setaffinity(0, mask)
        pid = os.fork()
        if pid == 0:  # the child reads the mask at once, not the parent's cache
            os._exit(0 if hamsearch.get_num_threads() == len(os.sched_getaffinity(0)) else 3)
        assert os.waitpid(pid, 0)[1] == 0
        print("ok")
    """)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stdout + proc.stderr
