"""Hierarchical search (Hamming pool + float re-rank) against numpy brute force."""

import numpy as np
import pytest

import hamsearch
import hamsearch.rerank as rr
from hamsearch import _native, _native_rerank, _numba
from tests.reference import hamming_matrix, random_words

NBITS = 64
PAD = hamsearch.index.PAD_DISTANCE


# ----------------------------------------------------------------- backends
def _native_variant(isa):
    def load():
        if not _native.available() or not hasattr(_native, "rerank"):
            pytest.skip("C extension not built")
        if not _native_rerank.has_rerank():
            pytest.skip("C extension built without the re-rank kernels")
        _native.set_isa(isa)
        return _native

    return load


BACKENDS = {
    "c-best": _native_variant("auto"),
    "c-portable": _native_variant("portable"),
    "numba": lambda: _numba,
}


@pytest.fixture(params=sorted(BACKENDS))
def kern(request, monkeypatch):
    module = BACKENDS[request.param]()
    monkeypatch.setattr(rr, "_rerank_kernels", lambda: module)
    yield module
    if module is _native:
        _native.set_isa("auto")


# ---------------------------------------------------------------- reference
def _ref_scores(F, qf, metric):
    """float64 scores, smaller is better (L2: squared distance; IP: -product)."""
    F = F.astype(np.float64)
    qf = qf.astype(np.float64)
    if metric == "l2":
        return ((qf[:, None, :] - F[None, :, :]) ** 2).sum(-1)
    return -(qf @ F.T)


def _check(D, I, H, pool, ham, score, ids, k, metric, bucket=False, tol=1e-4):
    """One query: results == brute force over ``pool`` (rows), up to float ties.

    ``score`` / ``ham`` are indexed by row; ``ids[row]`` is the id.
    """
    pool = np.asarray(pool)
    key = (ids[pool], score[pool], ham[pool] if bucket else np.zeros(len(pool)))
    ref = pool[np.lexsort(key)][:k]
    m = len(ref)
    assert (I[m:] == -1).all() and (H[m:] == PAD).all()
    assert np.all(np.isinf(D[m:]))
    got_rows = np.searchsorted(ids, I[:m], sorter=np.argsort(ids))
    got_rows = np.argsort(ids)[got_rows]
    assert np.array_equal(ids[got_rows], I[:m]), "an id outside the index"
    assert len(set(I[:m].tolist())) == m, "duplicate ids"
    assert np.isin(got_rows, pool).all(), "a result outside the pool"
    np.testing.assert_array_equal(H[:m], ham[got_rows])
    sign = 1 if metric == "l2" else -1
    scale = tol * max(1.0, np.abs(score[pool]).max())
    np.testing.assert_allclose(D[:m] * sign, score[got_rows], atol=scale, rtol=0)
    # same ranking as the reference, up to scores within tolerance
    np.testing.assert_allclose(score[got_rows], score[ref], atol=scale, rtol=0)
    if bucket:
        np.testing.assert_array_equal(H[:m], ham[ref])
    # exactly the reference wherever the scores are well separated
    sep = np.abs(score[got_rows] - score[ref]) > scale
    assert not sep.any()
    distinct = np.ones(m, bool)
    s = np.sort(score[pool])
    for j, r in enumerate(ref):
        nearest = np.abs(s - score[r])
        distinct[j] = (nearest < 3 * scale).sum() == 1
    np.testing.assert_array_equal(I[:m][distinct], ids[ref][distinct])


def _make(rng, n=600, d=24, ids=None, dtype="float32", nbits=NBITS, method="auto"):
    X = rng.standard_normal((n, d)).astype(np.float32)
    codes = hamsearch.pack(X @ rng.standard_normal((d, nbits)) > 0)
    ids = np.arange(n) if ids is None else ids
    index = hamsearch.Index(nbits, features_dtype=dtype, method=method)
    index.add(codes, ids=ids, features=X)
    Fs = X.astype(dtype)
    return index, codes, Fs, ids


def _ham(index, Q):
    from hamsearch.codes import as_words

    return hamming_matrix(as_words(Q, index.nbits), index.codes)


# ------------------------------------------------------------------- tests
@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("method", ["flat", "mih"])
def test_pool_radius_rerank_equals_brute_force(kern, metric, dtype, method):
    rng = np.random.default_rng(0)
    ids = rng.permutation(100_000)[:600]
    index, codes, F, ids = _make(rng, ids=ids, dtype=dtype, method=method)
    Q = codes[rng.choice(600, 12, replace=False)]
    qf = F[:12].astype(np.float32) + rng.standard_normal((12, F.shape[1])).astype(np.float32)
    ham = _ham(index, Q)
    score = _ref_scores(F, qf, metric)
    for r in (6, 14, 64):
        D, I, H = index.search(Q, 10, query_features=qf, pool_radius=r, metric=metric,
                               fill="none", return_hamming=True)
        for q in range(len(Q)):
            pool = np.flatnonzero(ham[q] <= r)
            _check(D[q], I[q], H[q], pool, ham[q], score[q], ids, 10, metric)


@pytest.mark.parametrize("method", ["flat", "mih"])
def test_pool_size_rerank_equals_brute_force(kern, method):
    rng = np.random.default_rng(1)
    index, codes, F, ids = _make(rng, n=800, ids=rng.permutation(5000)[:800], method=method)
    Q = codes[:9]
    qf = rng.standard_normal((9, F.shape[1])).astype(np.float32)
    ham = _ham(index, Q)
    score = _ref_scores(F, qf, "l2")
    for m in (1, 5, 37, 2000):
        D, I, H = index.search(Q, 8, query_features=qf, pool_size=m, fill="none",
                               return_hamming=True)
        for q in range(9):
            dm = np.sort(ham[q])[min(m, 800) - 1]
            pool = np.flatnonzero(ham[q] <= dm)  # boundary ties included
            assert len(pool) >= min(m, 800)
            _check(D[q], I[q], H[q], pool, ham[q], score[q], ids, 8, "l2")


def _boundary_index(kern_dtype="float32"):
    """Codes at known distances from the all-zero query: 0, 1, 1, 2, 2, 2, 3, 3."""
    dist = np.array([2, 0, 3, 1, 2, 3, 2, 1])
    ids = np.array([50, 10, 70, 40, 20, 60, 30, 45])
    bits = np.zeros((8, NBITS), np.uint8)
    for i, dd in enumerate(dist):
        bits[i, :dd] = 1
    F = np.arange(8 * 4, dtype=np.float32).reshape(8, 4)[::-1].copy()  # distinct rows
    index = hamsearch.Index(NBITS, features_dtype=kern_dtype)
    index.add(hamsearch.pack(bits), ids=ids, features=F)
    q = np.zeros((1, NBITS // 8), np.uint8)
    return index, q, dist, ids, F


def _pool_ids(index, q, F, **kw):
    D, I, H = index.search(q, 8, query_features=np.zeros((1, F.shape[1])), fill="none",
                           return_hamming=True, **kw)
    keep = I[0] >= 0
    return set(I[0][keep].tolist()), dict(zip(I[0][keep].tolist(), H[0][keep].tolist()))


def test_pool_boundary_semantics(kern):
    index, q, dist, ids, F = _boundary_index()
    by_d = lambda r: {int(i) for i, dd in zip(ids, dist) if dd <= r}  # noqa: E731
    # radius: inclusive
    for r in range(4):
        got, hams = _pool_ids(index, q, F, pool_radius=r)
        assert got == by_d(r)
        assert all(hams[i] == dist[list(ids).index(i)] for i in got)
    # size with ties included: 3rd smallest distance is 1 -> 3 codes; 4th is 2 -> 6
    assert _pool_ids(index, q, F, pool_size=3)[0] == by_d(1)
    assert _pool_ids(index, q, F, pool_size=4)[0] == by_d(2)
    assert _pool_ids(index, q, F, pool_size=6)[0] == by_d(2)
    assert _pool_ids(index, q, F, pool_size=7)[0] == by_d(3)
    # size with ties cut by ascending id: 4 -> d<=1 plus the smallest id at d=2
    assert _pool_ids(index, q, F, pool_size=4, ties="cut")[0] == by_d(1) | {20}
    assert _pool_ids(index, q, F, pool_size=5, ties="cut")[0] == by_d(1) | {20, 30}
    assert _pool_ids(index, q, F, pool_size=1, ties="cut")[0] == {10}
    # pool_size=4 cut is the same set as the first 4 of Index.search
    _, I4 = index.search(q, 4)
    assert _pool_ids(index, q, F, pool_size=4, ties="cut")[0] == set(I4[0].tolist())


def test_fill_grow_and_none(kern):
    index, q, dist, ids, F = _boundary_index()
    qf = np.zeros((1, 4), np.float32)
    # radius 0 holds one code; k=4 grows to radius 2 (ties included: 6 codes)
    D, I = index.search(q, 4, query_features=qf, pool_radius=0)
    pool = np.flatnonzero(dist <= 2)
    score = _ref_scores(F, qf, "l2")[0]
    expect = ids[pool[np.lexsort((ids[pool], score[pool]))]][:4]
    np.testing.assert_array_equal(I[0], expect)
    D, I = index.search(q, 4, query_features=qf, pool_radius=0, fill="none")
    assert I[0].tolist() == [10, -1, -1, -1] and np.isinf(D[0, 1:]).all()
    # pool_size smaller than k grows too
    D, I = index.search(q, 5, query_features=qf, pool_size=2)
    assert (I[0] >= 0).all()
    D, I = index.search(q, 5, query_features=qf, pool_size=2, fill="none")
    assert (I[0] >= 0).sum() == 3  # 2 nearest + the tie at distance 1
    # k beyond the index: everything, then padding
    D, I = index.search(q, 12, query_features=qf, pool_radius=0)
    assert sorted(I[0][:8].tolist()) == sorted(ids.tolist()) and (I[0][8:] == -1).all()


def test_bucket_mode_equals_brute_force(kern):
    rng = np.random.default_rng(2)
    index, codes, F, ids = _make(rng, n=700, nbits=16)  # short codes: many ties
    Q = codes[:10]
    qf = rng.standard_normal((10, F.shape[1])).astype(np.float32)
    ham = _ham(index, Q)
    score = _ref_scores(F, qf, "l2")
    D, I, H = index.search(Q, 15, query_features=qf, rerank="bucket", return_hamming=True)
    for q in range(10):
        _check(D[q], I[q], H[q], np.arange(700), ham[q], score[q], ids, 15, "l2", bucket=True)
    # the Hamming distances are those of plain Hamming search
    Dh, _ = index.search(Q, 15)
    np.testing.assert_array_equal(H, Dh)
    # with a radius and fill="none": only codes within it
    D, I, H = index.search(Q, 15, query_features=qf, rerank="bucket", pool_radius=2,
                           fill="none", return_hamming=True)
    for q in range(10):
        _check(D[q], I[q], H[q], np.flatnonzero(ham[q] <= 2), ham[q], score[q], ids, 15,
               "l2", bucket=True)


def test_exact_score_ties_broken_by_id(kern):
    rng = np.random.default_rng(3)
    n = 200
    X = rng.standard_normal((n, 8)).astype(np.float32)
    X[100:] = X[:100]  # rows i and i+100 identical
    ids = np.concatenate([np.arange(1000, 1100), np.arange(0, 100)])  # twin has smaller id
    index = hamsearch.Index(NBITS)
    index.add(random_words(rng, n, NBITS), ids=ids, features=X)
    D, I = index.search(random_words(rng, 3, NBITS), 6, query_features=X[:3] + 0.01,
                        pool_radius=NBITS)
    for q in range(3):
        pairs = I[q].reshape(3, 2)
        assert (pairs[:, 0] < pairs[:, 1]).all()
        assert (pairs[:, 1] - pairs[:, 0] == 1000).all()
        np.testing.assert_array_equal(D[q, 0::2], D[q, 1::2])


def test_threads_do_not_change_results(kern):
    rng = np.random.default_rng(4)
    index, codes, F, ids = _make(rng, n=3000, d=40)
    Q = codes[:64]
    qf = rng.standard_normal((64, 40)).astype(np.float32)
    old = hamsearch.get_num_threads()
    try:
        hamsearch.set_num_threads(1)
        one = index.search(Q, 10, query_features=qf, pool_size=300, return_hamming=True)
        hamsearch.set_num_threads(2)
        if kern is _native:
            _native._set_min_work_per_thread(0)
        two = index.search(Q, 10, query_features=qf, pool_size=300, return_hamming=True)
    finally:
        hamsearch.set_num_threads(old)
        if kern is _native:
            _native._set_min_work_per_thread(1 << 18)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


def test_backends_agree():
    """C (both variants) and Numba return the same ids and Hamming distances."""
    if not (_native.available() and _native_rerank.has_rerank()):
        pytest.skip("C extension not built")
    rng = np.random.default_rng(5)
    n, d = 500, 4096
    F = rng.standard_normal((n, d)).astype(np.float32)
    qf = rng.standard_normal((4, d)).astype(np.float32)
    ids = rng.permutation(n).astype(np.int64)
    lims = np.array([0, 100, 100, 350, 500], np.int64)
    pos = rng.permutation(n).astype(np.int64)
    ham = rng.integers(0, 10, n).astype(np.int32)
    for dtype in (np.float32, np.float16):
        Fs = F.astype(dtype)
        for metric in (0, 1):
            for order in (0, 1):
                res = []
                for isa in ("auto", "portable"):
                    _native.set_isa(isa)
                    res.append(_native.rerank(Fs, qf, lims, pos, ids, ham, 20, metric, order, 1))
                _native.set_isa("auto")
                res.append(_numba.rerank(Fs, qf, lims, pos, ids, ham, 20, metric, order, 1))
                for other in res[1:]:
                    np.testing.assert_allclose(other[0], res[0][0], rtol=1e-4, atol=1e-2)
                    np.testing.assert_array_equal(other[1], res[0][1])
                    np.testing.assert_array_equal(other[2], res[0][2])


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("d", [1, 7, 8, 31, 33, 4096])
def test_feature_distances(kern, dtype, d):
    rng = np.random.default_rng(6)
    F = rng.standard_normal((50, d)).astype(dtype)
    q = rng.standard_normal(d).astype(np.float32)
    pos = rng.integers(0, 50, 80).astype(np.int64)
    F64 = F.astype(np.float64)
    l2 = kern.feature_distances(F, q, pos, 0)
    ip = kern.feature_distances(F, q, pos, 1)
    np.testing.assert_allclose(l2, ((F64[pos] - q) ** 2).sum(1), rtol=1e-4)
    np.testing.assert_allclose(ip, F64[pos] @ q, rtol=1e-4, atol=1e-3 * np.sqrt(d))


def test_float16_subnormals_and_extremes(kern):
    vals = np.array([0.0, -0.0, 6e-8, -6e-8, 1e-5, 65504.0, -65504.0, 1.0, 0.333], np.float16)
    F = np.resize(vals, (3, 37)).astype(np.float16)
    q = np.ones(37, np.float32)
    pos = np.arange(3, dtype=np.int64)
    ip = kern.feature_distances(F, q, pos, 1)
    np.testing.assert_allclose(ip, F.astype(np.float64).sum(1), rtol=1e-5, atol=1e-2)


def test_rerank_pool_on_user_candidates(kern):
    rng = np.random.default_rng(7)
    index, codes, F, ids = _make(rng, n=400)
    Q = codes[:5]
    qf = rng.standard_normal((5, F.shape[1])).astype(np.float32)
    lims, Dh, Ih = index.range_search(Q, 20)
    rows = Ih  # ids == rows here
    D, I, H = rr.rerank_pool(F, qf, lims, rows, 6, hamming=Dh)
    D2, I2, H2 = index.search(Q, 6, query_features=qf, pool_radius=20, fill="none",
                              return_hamming=True)
    np.testing.assert_array_equal(I, I2)
    np.testing.assert_array_equal(H, H2)
    with pytest.raises(ValueError, match="row numbers"):
        rr.rerank_pool(F, qf, lims, rows + 1000, 6)


def test_empty_and_featureless_indexes():
    empty = hamsearch.Index(NBITS)
    D, I = empty.search(np.zeros((2, 8), np.uint8), 3, query_features=np.zeros((2, 5)),
                        pool_radius=3)
    assert (I == -1).all() and np.isinf(D).all()
    plain = hamsearch.Index(NBITS)
    plain.add(np.zeros((4, 8), np.uint8))
    with pytest.raises(ValueError, match="holds no features"):
        plain.search(np.zeros((1, 8), np.uint8), 3, query_features=np.zeros((1, 5)),
                     pool_radius=3)
    rng = np.random.default_rng(8)
    index, codes, F, ids = _make(rng, n=20)
    index.remove(ids)
    D, I = index.search(codes[:1], 3, query_features=F[:1], pool_radius=3)
    assert (I == -1).all()


def test_invalid_arguments():
    rng = np.random.default_rng(9)
    index, codes, F, ids = _make(rng, n=50)
    qf = F[:2]
    Q = codes[:2]
    cases = [
        (dict(query_features=qf), ValueError, "pool_radius= or pool_size="),
        (dict(query_features=qf, pool_radius=2, pool_size=3), ValueError, "not both"),
        (dict(pool_radius=2), ValueError, "query_features"),
        (dict(query_features=qf[:, :5], pool_radius=2), ValueError, r"shape \(2, 24\)"),
        (dict(query_features=qf[:1], pool_radius=2), ValueError, r"shape \(2, 24\)"),
        (dict(query_features=np.full_like(qf, np.nan), pool_radius=2), ValueError, "finite"),
        (dict(query_features=qf.astype(int), pool_radius=2), TypeError, "floating"),
        (dict(query_features=qf, pool_radius=-1), ValueError, "radius"),
        (dict(query_features=qf, pool_size=0), ValueError, "pool_size"),
        (dict(query_features=qf, pool_size=2.5), TypeError, "pool_size"),
        (dict(query_features=qf, pool_radius=2, metric="cosine"), ValueError, "metric"),
        (dict(query_features=qf, pool_radius=2, rerank="x"), ValueError, "rerank"),
        (dict(query_features=qf, pool_radius=2, fill="x"), ValueError, "fill"),
        (dict(query_features=qf, pool_radius=2, ties="x"), ValueError, "ties"),
    ]
    for kw, err, match in cases:
        with pytest.raises(err, match=match):
            index.search(Q, 3, **kw)
    with pytest.raises(TypeError):
        index.search(Q, 3, query_features=qf, pool_radius=2, bogus=1)


def test_plain_search_unchanged_by_features():
    rng = np.random.default_rng(10)
    index, codes, F, ids = _make(rng, n=300)
    plain = hamsearch.Index(NBITS)
    plain.add(codes)
    for a, b in zip(index.search(codes[:7], 9), plain.search(codes[:7], 9)):
        np.testing.assert_array_equal(a, b)


def test_hierarchical_precision_at_least_hamming_ranking_on_digits():
    """Lin et al.'s HDS vs BCS: re-ranking a Hamming pool by feature distance
    is at least as precise as Hamming ranking alone (ITQ codes, digits)."""
    pytest.importorskip("sklearn")
    from hamsearch.datasets import load, query_split
    from hamsearch.encoders import ITQ

    images, labels = load("digits")
    X = images.reshape(len(images), -1).astype(np.float32)
    qi, di = query_split(labels, per_class=20, random_state=0)
    itq = ITQ(nbits=16, random_state=0).fit(X[di])
    index = hamsearch.Index(16)
    index.add(itq.transform(X[di]), features=X[di])
    Q = itq.transform(X[qi])
    k = 10
    _, I_ham = index.search(Q, k)
    _, I_hds = index.search(Q, k, query_features=X[qi], pool_size=100)
    _, I_bkt = index.search(Q, k, query_features=X[qi], rerank="bucket")
    prec = lambda I: float(np.mean(labels[di][I] == labels[qi][:, None]))  # noqa: E731
    assert prec(I_hds) >= prec(I_ham)
    assert prec(I_bkt) >= prec(I_ham)


def test_pools_come_from_mih_tables_when_the_index_uses_them(monkeypatch):
    ids = np.random.default_rng(12).permutation(9000)[:900]
    flat, codes, F, _ = _make(np.random.default_rng(11), n=900, ids=ids, method="flat")
    mih, _, _, _ = _make(np.random.default_rng(11), n=900, ids=ids, method="mih")
    calls = []
    from hamsearch.searchers import MIHSearcher

    for name in ("range_search", "knn"):
        orig = getattr(MIHSearcher, name)
        monkeypatch.setattr(MIHSearcher, name,
                            lambda *a, _o=orig, _n=name, **kw: calls.append(_n) or _o(*a, **kw))
    qf = F[:6] + 0.5
    for kw in (dict(pool_radius=10), dict(pool_size=50), dict(rerank="bucket")):
        a = flat.search(codes[:6], 8, query_features=qf, return_hamming=True, **kw)
        b = mih.search(codes[:6], 8, query_features=qf, return_hamming=True, **kw)
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    assert "range_search" in calls and "knn" in calls


@pytest.mark.parametrize("method", ["flat", "mih"])
def test_fill_grow_many_queries_equals_brute_force(kern, method):
    """Queries whose radius pool is short grow to the k-th distance (ties in),
    the others keep their radius pool."""
    rng = np.random.default_rng(13)
    index, codes, F, ids = _make(rng, n=700, ids=rng.permutation(7000)[:700], method=method)
    Q = np.concatenate([codes[:10], random_words(rng, 10, NBITS).view(np.uint8)])
    qf = rng.standard_normal((20, F.shape[1])).astype(np.float32)
    ham = _ham(index, Q)
    score = _ref_scores(F, qf, "l2")
    k, r = 12, 22
    D, I, H = index.search(Q, k, query_features=qf, pool_radius=r, return_hamming=True)
    grown = 0
    for q in range(20):
        dk = np.sort(ham[q])[k - 1]
        grown += dk > r
        pool = np.flatnonzero(ham[q] <= max(r, dk))
        _check(D[q], I[q], H[q], pool, ham[q], score[q], ids, k, "l2")
    assert 0 < grown < 20  # both kinds of query occur


def test_bucket_mode_keeps_the_whole_last_bucket_whatever_ties(kern):
    """Without a pool argument, bucket mode ranks the k-th Hamming bucket by
    feature distance even with ties="cut" (a cut by id would be wrong there)."""
    index, q, dist, ids, F = _boundary_index()
    qf = np.zeros((1, 4), np.float32)
    score = _ref_scores(F, qf, "l2")[0]
    for ties in ("include", "cut"):
        D, I, H = index.search(q, 4, query_features=qf, rerank="bucket", ties=ties,
                               return_hamming=True)
        _check(D[0], I[0], H[0], np.arange(8), dist, score, ids, 4, "l2", bucket=True)
