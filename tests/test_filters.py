"""Filtered search: exact results among the admitted ids.

The reference for a filtered search is the same search, unfiltered, on an
index that holds only the admitted codes (same ids, same features).
"""

from __future__ import annotations

import numpy as np
import pytest

import hamsearch
from hamsearch import IdFilter
from hamsearch.filters import SUBSET_FRACTION
from hamsearch.synthetic import clustered_codes

N = 30_000


@pytest.fixture(scope="module")
def data():
    db, centres = clustered_codes(N, 64, ncenters=200, flip=0.05, seed=3)
    q, _ = clustered_codes(20, 64, centres=centres, flip=0.05, seed=4)
    rng = np.random.default_rng(0)
    ids = rng.permutation(5 * N)[:N]
    feats = rng.standard_normal((N, 6)).astype(np.float32)
    qf = rng.standard_normal((20, 6)).astype(np.float32)
    return db, q, ids, feats, qf


@pytest.fixture(scope="module", params=["flat", "mih", "auto"])
def index(request, data):
    db, q, ids, feats, qf = data
    idx = hamsearch.Index(64, method=request.param)
    idx.add(db, ids=ids, features=feats)
    return idx


def _reference(data, admitted_mask):
    db, q, ids, feats, qf = data
    ref = hamsearch.Index(64, method="flat")
    ref.add(db[admitted_mask], ids=ids[admitted_mask], features=feats[admitted_mask])
    return ref


def _filters(data, rng):
    _, _, ids, _, _ = data
    out = []
    for frac in (0.0, 0.0005, 0.01, SUBSET_FRACTION, 0.2, 0.7, 1.0):
        pick = rng.random(N) < frac
        out.append((f"allow-{frac}", IdFilter.allow(np.r_[ids[pick], [10**12]]), pick))
        out.append((f"deny-{frac}", IdFilter.deny(ids[pick]), ~pick))
    return out


def _same(a, b):
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_filtered_knn_range_and_rerank_are_exact(index, data):
    _, q, _, _, qf = data
    rng = np.random.default_rng(1)
    for name, flt, mask in _filters(data, rng):
        ref = _reference(data, mask)
        for k in (1, 10, 100):
            _same(index.search(q, k, filter=flt), ref.search(q, k))
        for r in (2, 8):
            _same(index.range_search(q, r, filter=flt), ref.range_search(q, r))
        _same(index.search(q, 5, filter=flt, query_features=qf, pool_size=50,
                           return_hamming=True),
              ref.search(q, 5, query_features=qf, pool_size=50, return_hamming=True))
        _same(index.search(q, 5, filter=flt, query_features=qf, pool_radius=4, fill="none"),
              ref.search(q, 5, query_features=qf, pool_radius=4, fill="none"))
        _same(index.search(q, 5, filter=flt, query_features=qf, rerank="bucket"),
              ref.search(q, 5, query_features=qf, rerank="bucket"))


def test_from_mask_admits_ids_where_true(data):
    db, q, ids, _, _ = data
    index = hamsearch.Index(64)
    index.add(db[:1000])  # ids 0..999
    mask = np.zeros(600, dtype=bool)
    mask[::7] = True
    D, I = index.search(q, 1000, filter=IdFilter.from_mask(mask))
    got = I[I >= 0].reshape(len(q), -1)
    assert got.shape[1] == mask.sum()
    assert set(got[0].tolist()) == set(np.flatnonzero(mask).tolist())


def test_sparse_allow_list_scans_only_the_admitted_rows(data):
    db, q, ids, _, _ = data
    index = hamsearch.Index(64, method="mih")
    index.add(db, ids=ids)
    sel = IdFilter.allow(ids[:30]).select(index._view().views[0])  # 0.1%
    assert sel.rows is not None and sel.admitted == 30
    dense = IdFilter.allow(ids[: N // 2]).select(index._view().views[0])
    assert dense.rows is None and dense.skip is not None and dense.admitted == N // 2
    assert dense.k_for_planner(10) == 20


def test_filter_arguments_are_checked(data):
    db, q, ids, _, _ = data
    index = hamsearch.Index(64)
    index.add(db[:100])
    with pytest.raises(TypeError, match="filter"):
        index.search(q, 3, filter=[1, 2, 3])
    with pytest.raises(TypeError, match="filter"):
        index.range_search(q, 3, filter="ids")
    with pytest.raises(TypeError, match="integer ids"):
        IdFilter.allow([1.5])
    with pytest.raises(TypeError, match="integer ids"):
        IdFilter.allow(np.ones(3, bool))
    with pytest.raises(ValueError, match="non-negative"):
        IdFilter.deny([-3])
    with pytest.raises(TypeError, match="bool"):
        IdFilter.from_mask([1, 0, 1])
    flt = IdFilter.allow([3, 3, 1])
    assert flt.ids.tolist() == [1, 3] and flt.mode == "allow" and "2 ids" in repr(flt)
    with pytest.raises(ValueError):
        flt.ids[0] = 5


def test_filter_on_an_empty_index(data):
    _, q, _, _, _ = data
    index = hamsearch.Index(64)
    D, I = index.search(q, 4, filter=IdFilter.allow([1]))
    assert (I == -1).all()
    lims, D, I = index.range_search(q, 4, filter=IdFilter.deny([1]))
    assert lims[-1] == 0
