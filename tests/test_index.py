"""The Index contract (flat method) against the numpy reference."""

import threading

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import hamsearch
from hamsearch.index import PAD_DISTANCE
from tests import reference as ref

NBITS = [8, 16, 24, 56, 64, 72, 128, 200, 256, 512, 1024]


def _bytes(words, nbits):
    return hamsearch.codes.words_to_bytes(words, nbits)


@settings(max_examples=40, deadline=None)
@given(
    nbits=st.sampled_from(NBITS),
    n=st.integers(0, 300),
    nq=st.integers(1, 7),
    k=st.integers(1, 320),
    dup=st.booleans(),
    seed=st.integers(0, 2**31),
)
def test_search_matches_reference(nbits, n, nq, k, dup, seed):
    rng = np.random.default_rng(seed)
    db = ref.random_words(rng, n, nbits)
    if dup and n > 2:  # many exact duplicates -> many ties
        db = db[rng.integers(0, max(1, n // 4), size=n)]
    ids = rng.permutation(10 * n + 1)[:n].astype(np.int64)
    q = ref.random_words(rng, nq, nbits)
    index = hamsearch.Index(nbits)
    index.add(_bytes(db, nbits), ids=ids)
    D, I = index.search(_bytes(q, nbits), k)
    eD, eI = ref.knn(db, ids, q, k)
    assert D.dtype == np.int32 and I.dtype == np.int64
    np.testing.assert_array_equal(D, eD)
    np.testing.assert_array_equal(I, eI)


@settings(max_examples=30, deadline=None)
@given(nbits=st.sampled_from(NBITS), n=st.integers(0, 200), seed=st.integers(0, 2**31),
       frac=st.floats(0, 1))
def test_range_search_matches_reference(nbits, n, seed, frac):
    rng = np.random.default_rng(seed)
    db = ref.clustered_words(rng, n, nbits, ncenters=3, p=0.1)
    q = ref.clustered_words(rng, 4, nbits, ncenters=3, p=0.1)
    radius = int(frac * nbits)
    index = hamsearch.Index(nbits)
    index.add(db)
    lims, D, I = index.range_search(q, radius)
    elims, eD, eI = ref.range_search(db, np.arange(n), q, radius)
    np.testing.assert_array_equal(lims, elims)
    np.testing.assert_array_equal(D, eD)
    np.testing.assert_array_equal(I, eI)


def test_padding_when_k_exceeds_ntotal():
    index = hamsearch.Index(64)
    index.add(np.zeros((2, 8), dtype=np.uint8))
    D, I = index.search(np.zeros((1, 8), dtype=np.uint8), 5)
    assert I.tolist() == [[0, 1, -1, -1, -1]]
    assert D[0, :2].tolist() == [0, 0] and (D[0, 2:] == PAD_DISTANCE).all()
    assert PAD_DISTANCE > 64


def test_empty_index_search():
    index = hamsearch.Index(128)
    D, I = index.search(np.zeros((3, 16), dtype=np.uint8), 2)
    assert (I == -1).all() and (D == PAD_DISTANCE).all()
    lims, D, I = index.range_search(np.zeros((3, 16), dtype=np.uint8), 5)
    assert lims.tolist() == [0, 0, 0, 0] and D.size == 0 and I.size == 0


def test_default_ids_continue_after_max():
    index = hamsearch.Index(8)
    index.add(np.arange(3, dtype=np.uint8)[:, None])
    index.add(np.arange(2, dtype=np.uint8)[:, None], ids=[10, 20])
    index.remove([20])
    index.add(np.array([[7]], dtype=np.uint8))
    assert index.ids.tolist() == [0, 1, 2, 10, 21]


def test_remove_and_reconstruct():
    rng = np.random.default_rng(1)
    db = rng.integers(0, 256, size=(50, 16), dtype=np.uint8)
    ids = rng.permutation(1000)[:50]
    index = hamsearch.Index(128)
    index.add(db, ids=ids)
    np.testing.assert_array_equal(index.reconstruct(ids[[3, 7]]), db[[3, 7]])
    assert index.remove(np.r_[ids[:10], [5000]]) == 10
    assert len(index) == 40 and index.ntotal == 40
    assert ids[0] not in index and ids[20] in index
    with pytest.raises(KeyError):
        index.reconstruct([ids[0]])
    D, I = index.search(db[:10], 1)
    assert not np.isin(I, ids[:10]).any()
    eD, eI = ref.knn(hamsearch.codes.as_words(db[10:], 128), ids[10:],
                     hamsearch.codes.as_words(db[:10], 128), 1)
    np.testing.assert_array_equal(I, eI)
    assert index.remove([]) == 0


def test_many_small_adds_are_amortised():
    index = hamsearch.Index(64)
    reallocs = 0
    last = None
    for i in range(2000):
        index.add(np.full((1, 8), i % 256, dtype=np.uint8))
        if index._codes_buf is not last:
            reallocs += 1
            last = index._codes_buf
    assert len(index) == 2000
    assert reallocs < 40  # geometric growth, not one copy per add


def test_memory_is_packed_words_plus_ids():
    index = hamsearch.Index(200)  # 25 bytes -> 4 words = 32 bytes
    index.add(np.zeros((1000, 25), dtype=np.uint8))
    assert index.nbytes == 1000 * (32 + 8)


@pytest.mark.parametrize(
    "codes, ids, exc, word",
    [
        (np.zeros((2, 8), np.float32), None, TypeError, "codes"),
        (np.zeros((2, 7), np.uint8), None, ValueError, "codes"),
        (np.full((2, 64), np.nan), None, TypeError, "codes"),
        (np.zeros((2, 8), np.uint8), [1], ValueError, "ids"),
        (np.zeros((2, 8), np.uint8), [1, 1], ValueError, "duplicates"),
        (np.zeros((2, 8), np.uint8), [-1, 4], ValueError, "non-negative"),
        (np.zeros((2, 8), np.uint8), [0.5, 2.0], TypeError, "ids"),
        (np.zeros((2, 8), np.uint8), [3, 100], ValueError, "already"),
    ],
)
def test_bad_add_leaves_index_unchanged(codes, ids, exc, word):
    index = hamsearch.Index(64)
    index.add(np.ones((5, 8), np.uint8), ids=[0, 1, 2, 3, 4])
    before = (index.codes.copy(), index.ids.copy())
    with pytest.raises(exc, match=word):
        index.add(codes, ids=ids)
    assert len(index) == 5
    np.testing.assert_array_equal(index.codes, before[0])
    np.testing.assert_array_equal(index.ids, before[1])
    index.add(np.zeros((1, 8), np.uint8))
    assert index.ids[-1] == 5


@pytest.mark.parametrize("k, exc", [(0, ValueError), (-3, ValueError), (2.0, TypeError), (True, TypeError)])
def test_bad_k(k, exc):
    index = hamsearch.Index(64)
    index.add(np.zeros((3, 8), np.uint8))
    with pytest.raises(exc, match="k"):
        index.search(np.zeros((1, 8), np.uint8), k)


def test_bad_radius_and_query_width():
    index = hamsearch.Index(64)
    index.add(np.zeros((3, 8), np.uint8))
    with pytest.raises(ValueError, match="radius"):
        index.range_search(np.zeros((1, 8), np.uint8), -1)
    with pytest.raises(ValueError, match="queries"):
        index.search(np.zeros((1, 16), np.uint8), 1)
    with pytest.raises(TypeError, match="queries"):
        index.search(np.zeros((1, 8), np.float64), 1)


def test_bad_constructor():
    with pytest.raises(ValueError):
        hamsearch.Index(63)
    with pytest.raises(ValueError, match="method"):
        hamsearch.Index(64, method="nope")


def test_searches_concurrent_with_adds_see_consistent_snapshots():
    rng = np.random.default_rng(3)
    index = hamsearch.Index(64)
    index.add(rng.integers(0, 256, size=(2000, 8), dtype=np.uint8))
    q = rng.integers(0, 256, size=(20, 8), dtype=np.uint8)
    errors = []

    def searcher():
        try:
            for _ in range(20):
                D, I = index.search(q, 5)
                assert (I >= 0).all() and (np.diff(D, axis=1) >= 0).all()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=searcher) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(20):
        index.add(rng.integers(0, 256, size=(100, 8), dtype=np.uint8))
        index.remove(index.ids[:10])
    for t in threads:
        t.join()
    assert not errors


def test_set_num_threads_validates():
    with pytest.raises(ValueError):
        hamsearch.set_num_threads(0)
    old = hamsearch.get_num_threads()
    hamsearch.set_num_threads(1)
    assert hamsearch.get_num_threads() == 1
    hamsearch.set_num_threads(old)


def test_backend_name():
    name = hamsearch.backend()
    assert name == "numba" or name.startswith("c-")
