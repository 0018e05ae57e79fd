"""Typed results: SearchResult, RangeResult, RerankResult (named tuples)."""

import pickle

import numpy as np
import pytest

import hamsearch
from hamsearch.results import RangeResult, RerankResult, SearchResult


@pytest.fixture(scope="module")
def index():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((500, 16)).astype(np.float32)
    ix = hamsearch.Index(64)
    ix.add(hamsearch.pack(X @ rng.standard_normal((16, 64)) > 0), features=X)
    return ix, X


def test_search_returns_a_search_result_that_unpacks(index):
    ix, _ = index
    q = ix.reconstruct([3, 4])
    res = ix.search(q, 5)
    assert isinstance(res, SearchResult) and isinstance(res, tuple)
    D, I = res
    assert D is res.distances and I is res.ids
    assert D.dtype == np.int32 and I.dtype == np.int64 and I[:, 0].tolist() == [3, 4]
    assert pickle.loads(pickle.dumps(res))._fields == ("distances", "ids")
    empty = hamsearch.Index(64).search(q, 2)
    assert isinstance(empty, SearchResult) and (empty.ids == -1).all()


def test_range_search_returns_csr_with_per_query_slices(index):
    ix, _ = index
    q = ix.reconstruct([1, 2, 3])
    res = ix.range_search(q, 6)
    assert isinstance(res, RangeResult)
    lims, D, I = res
    for i in range(3):
        d, ids = res.query(i)
        np.testing.assert_array_equal(d, D[lims[i]:lims[i + 1]])
        np.testing.assert_array_equal(ids, I[lims[i]:lims[i + 1]])
    assert isinstance(hamsearch.Index(64).range_search(q, 3), RangeResult)


def test_hierarchical_search_always_returns_the_hamming_distances(index):
    ix, X = index
    q, qf = ix.reconstruct([5, 9]), X[[5, 9]]
    for kw in ({"pool_size": 40}, {"pool_radius": 8, "fill": "none"},
               {"rerank": "bucket", "metric": "ip"}, {"pool_size": 40, "ties": "cut"}):
        res = ix.hierarchical_search(q, 7, qf, **kw)
        assert isinstance(res, RerankResult) and res._fields == ("distances", "ids", "hamming")
        legacy = ix.search(q, 7, query_features=qf, return_hamming=True, **kw)
        assert isinstance(legacy, RerankResult)
        for a, b in zip(res, legacy):
            np.testing.assert_array_equal(a, b)
        two = ix.search(q, 7, query_features=qf, **kw)
        assert isinstance(two, SearchResult)
        np.testing.assert_array_equal(two.distances, res.distances)
        np.testing.assert_array_equal(two.ids, res.ids)


def test_hamming_column_is_the_true_distance(index):
    ix, X = index
    q, qf = ix.reconstruct([11]), X[[11]]
    res = ix.hierarchical_search(q, 6, qf, pool_size=30)
    codes = ix.reconstruct(res.ids[0])
    np.testing.assert_array_equal(res.hamming[0], hamsearch.hamming_distances(q, codes, 64)[0])


def test_rerank_options_without_features_still_refuse(index):
    ix, _ = index
    q = ix.reconstruct([0])
    for kw in ({"fill": "grow"}, {"ties": "include"}, {"return_hamming": False}):
        with pytest.raises(ValueError, match="query_features"):
            ix.search(q, 3, **kw)
    with pytest.raises(TypeError):
        ix.search(q, 3, bogus=1)


def test_rerank_pool_returns_a_rerank_result():
    from hamsearch.rerank import rerank_pool

    feats = np.eye(4, dtype=np.float32)
    res = rerank_pool(feats, feats[:1], [0, 3], [0, 1, 2], 2)
    assert isinstance(res, RerankResult) and res.ids[0].tolist() == [0, 1]
