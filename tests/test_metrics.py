"""Retrieval metrics against hand-computed cases and a slow reference."""

import itertools

import numpy as np
import pytest

import hamsearch
from hamsearch.metrics import (
    evaluate,
    mean_average_precision,
    precision_at_k,
    precision_recall_curve,
    precision_within_radius,
)


# ----------------------------------------------------------- slow reference
def ref_distances(q, db):
    qb = np.unpackbits(q, axis=1, bitorder="little").astype(int)
    dbb = np.unpackbits(db, axis=1, bitorder="little").astype(int)
    return (qb[:, None, :] != dbb[None, :, :]).sum(-1)


def ref_relevance(ql, dl):
    ql, dl = np.asarray(ql), np.asarray(dl)
    if ql.ndim == 1:
        return ql[:, None] == dl[None, :]
    return (ql @ dl.T) > 0


def ref_ap(q, db, ql, dl, topk=None, normalize="retrieved"):
    D = ref_distances(q, db)
    rel = ref_relevance(ql, dl)
    aps = []
    for i in range(len(q)):
        order = sorted(range(len(db)), key=lambda j: (D[i, j], j))
        if topk:
            order = order[:topk]
        hits, s = 0, 0.0
        for rank, j in enumerate(order, start=1):
            if rel[i, j]:
                hits += 1
                s += hits / rank
        z = hits if normalize == "retrieved" else rel[i].sum()
        aps.append(s / z if z else 0.0)
    return np.array(aps)


def ref_tie_averaged_ap(q, db, ql, dl):
    """Average AP over every order of the tied items (tiny inputs only)."""
    D = ref_distances(q, db)
    rel = ref_relevance(ql, dl)
    out = []
    for i in range(len(q)):
        groups = [list(np.flatnonzero(D[i] == d)) for d in np.unique(D[i])]
        aps = []
        for perms in itertools.product(*[itertools.permutations(g) for g in groups]):
            order = [j for p in perms for j in p]
            hits, s = 0, 0.0
            for rank, j in enumerate(order, start=1):
                if rel[i, j]:
                    hits += 1
                    s += hits / rank
            aps.append(s / rel[i].sum() if rel[i].sum() else 0.0)
        out.append(np.mean(aps))
    return np.array(out)


@pytest.fixture(scope="module")
def random_case():
    rng = np.random.default_rng(0)
    db = rng.integers(0, 256, size=(300, 2), dtype=np.uint8)  # 16 bits: many ties
    q = rng.integers(0, 256, size=(25, 2), dtype=np.uint8)
    dl = rng.integers(0, 4, size=300)
    ql = rng.integers(0, 4, size=25)
    return q, db, ql, dl


# -------------------------------------------------------- hand-computed
def test_hand_computed_ap():
    q = np.array([[0b0000]], dtype=np.uint8)
    db = np.array([[0b0001], [0b0011], [0b0111], [0b1111]], dtype=np.uint8)
    # distances 1, 2, 3, 4; relevant: items 0 and 2
    assert mean_average_precision(q, db, [1], [1, 0, 1, 0]) == pytest.approx((1 + 2 / 3) / 2)
    # mAP@2: only item 0 relevant in the top 2
    assert mean_average_precision(q, db, [1], [1, 0, 1, 0], topk=2) == pytest.approx(1.0)
    assert mean_average_precision(q, db, [1], [1, 0, 1, 0], topk=2,
                                  normalize="relevant") == pytest.approx(0.5)
    # no relevant item at all -> 0
    assert mean_average_precision(q, db, [7], [1, 0, 1, 0]) == 0.0


def test_ties_broken_by_database_position():
    q = np.zeros((1, 1), dtype=np.uint8)
    db = np.array([[1], [2], [4]], dtype=np.uint8)  # all at distance 1
    # relevant item last among the tied ones -> precision 1/3
    assert mean_average_precision(q, db, [1], [0, 0, 1]) == pytest.approx(1 / 3)
    assert mean_average_precision(q, db, [1], [1, 0, 0]) == pytest.approx(1.0)
    # tie-averaged: expected precision of a single relevant item among 3 tied
    avg = (1 + 1 / 2 + 1 / 3) / 3
    for lab in ([0, 0, 1], [1, 0, 0]):
        assert mean_average_precision(q, db, [1], lab, ties="average") == pytest.approx(avg)


def test_hand_computed_precision_and_pr():
    q = np.array([[0]], dtype=np.uint8)
    db = np.array([[0], [1], [3], [7], [255]], dtype=np.uint8)  # d = 0,1,2,3,8
    dl = [1, 0, 1, 1, 0]
    assert precision_at_k(q, db, [1], dl, k=1) == 1.0
    np.testing.assert_allclose(precision_at_k(q, db, [1], dl, k=[2, 3, 5]), [1 / 2, 2 / 3, 3 / 5])
    assert precision_within_radius(q, db, [1], dl, r=0) == 1.0
    assert precision_within_radius(q, db, [1], dl, r=2) == pytest.approx(2 / 3)
    p, r, radii = precision_recall_curve(q, db, [1], dl)
    assert radii.tolist() == list(range(9))
    np.testing.assert_allclose(p[:4], [1, 1 / 2, 2 / 3, 3 / 4])
    np.testing.assert_allclose(r[:4], [1 / 3, 1 / 3, 2 / 3, 1])
    assert p[8] == pytest.approx(3 / 5) and r[8] == 1.0


def test_empty_radius_counts_zero():
    q = np.array([[0], [255]], dtype=np.uint8)
    db = np.array([[0], [1]], dtype=np.uint8)
    # query 1 is at distance >= 7 from everything -> precision 0 at r = 2
    assert precision_within_radius(q, db, [1, 1], [1, 1], r=2) == pytest.approx(0.5)


# ------------------------------------------------------ vs the reference
@pytest.mark.parametrize("topk", [None, 1, 10, 57])
@pytest.mark.parametrize("normalize", ["retrieved", "relevant"])
def test_ap_matches_reference(random_case, topk, normalize):
    q, db, ql, dl = random_case
    got = mean_average_precision(q, db, ql, dl, topk=topk, normalize=normalize, per_query=True)
    np.testing.assert_allclose(got, ref_ap(q, db, ql, dl, topk, normalize), rtol=1e-12)


def test_precision_at_k_matches_reference(random_case):
    q, db, ql, dl = random_case
    D = ref_distances(q, db)
    rel = ref_relevance(ql, dl)
    ks = [1, 5, 17, 100, 300]
    ref = []
    for k in ks:
        ref.append(np.mean([rel[i, sorted(range(300), key=lambda j: (D[i, j], j))[:k]].mean()
                            for i in range(len(q))]))
    np.testing.assert_allclose(precision_at_k(q, db, ql, dl, k=ks), ref, rtol=1e-12)


def test_pr_curve_matches_reference(random_case):
    q, db, ql, dl = random_case
    D = ref_distances(q, db)
    rel = ref_relevance(ql, dl)
    p, r, _ = precision_recall_curve(q, db, ql, dl)
    for radius in (0, 3, 6, 16):
        within = D <= radius
        prec = [rel[i, within[i]].mean() if within[i].any() else 0.0 for i in range(len(q))]
        rec = [rel[i, within[i]].sum() / rel[i].sum() for i in range(len(q))]
        assert p[radius] == pytest.approx(np.mean(prec))
        assert r[radius] == pytest.approx(np.mean(rec))
    assert np.all(np.diff(r) >= 0) and r[-1] == pytest.approx(1.0)


def test_tie_averaged_ap_matches_permutation_average():
    rng = np.random.default_rng(4)
    db = rng.integers(0, 4, size=(7, 1), dtype=np.uint8)  # distances in 0..2 -> many ties
    q = rng.integers(0, 4, size=(3, 1), dtype=np.uint8)
    dl = rng.integers(0, 2, size=7)
    ql = np.array([0, 1, 1])
    got = mean_average_precision(q, db, ql, dl, ties="average", per_query=True)
    np.testing.assert_allclose(got, ref_tie_averaged_ap(q, db, ql, dl), rtol=1e-10)


def test_tie_averaged_topk_and_patk(random_case):
    """Without ties (distinct distances) both tie rules agree exactly."""
    rng = np.random.default_rng(9)
    # 16-bit codes with distinct distances from query 0: db item j has j+... bits set
    bits = np.zeros((16, 16), dtype=np.uint8)
    for j in range(16):
        bits[j, : j + 1] = 1
    db = hamsearch.pack(bits[rng.permutation(16)])
    q = np.zeros((1, 2), dtype=np.uint8)
    dl = rng.integers(0, 2, size=16)
    for topk in (None, 5):
        a = mean_average_precision(q, db, [1], dl, topk=topk, normalize="relevant")
        b = mean_average_precision(q, db, [1], dl, topk=topk, normalize="relevant",
                                   ties="average")
        assert a == pytest.approx(b)
    np.testing.assert_allclose(precision_at_k(q, db, [1], dl, k=[1, 4, 16]),
                               precision_at_k(q, db, [1], dl, k=[1, 4, 16], ties="average"))
    # with ties, the tie-averaged P@k is the expectation: here mean over positions
    q, db, ql, dl = random_case
    pa = precision_at_k(q, db, ql, dl, k=[300], ties="average")
    ps = precision_at_k(q, db, ql, dl, k=[300])
    np.testing.assert_allclose(pa, ps)  # k = n: the order does not matter


def test_multilabel_relevance():
    rng = np.random.default_rng(2)
    db = rng.integers(0, 256, size=(80, 1), dtype=np.uint8)
    q = rng.integers(0, 256, size=(6, 1), dtype=np.uint8)
    dl = (rng.random((80, 5)) < 0.3).astype(int)
    ql = (rng.random((6, 5)) < 0.3).astype(int)
    ql[0] = 0  # a query with no label: nothing relevant
    got = mean_average_precision(q, db, ql, dl, per_query=True)
    np.testing.assert_allclose(got, ref_ap(q, db, ql, dl))
    assert got[0] == 0.0
    # one-hot multi-label == single label
    y_db = rng.integers(0, 5, size=80)
    y_q = rng.integers(0, 5, size=6)
    a = mean_average_precision(q, db, y_q, y_db)
    b = mean_average_precision(q, db, np.eye(5)[y_q], np.eye(5)[y_db])
    assert a == pytest.approx(b)


def test_code_layouts_agree(random_case):
    q, db, ql, dl = random_case
    base = mean_average_precision(q, db, ql, dl)
    unpacked = mean_average_precision(hamsearch.unpack(q, 16), hamsearch.unpack(db, 16), ql, dl,
                                      nbits=16)
    words = np.zeros((len(db), 1), dtype=np.uint64)
    words[:, 0] = db[:, 0].astype(np.uint64) | (db[:, 1].astype(np.uint64) << np.uint64(8))
    qwords = np.zeros((len(q), 1), dtype=np.uint64)
    qwords[:, 0] = q[:, 0].astype(np.uint64) | (q[:, 1].astype(np.uint64) << np.uint64(8))
    as_words = mean_average_precision(qwords, words, ql, dl, nbits=16)
    assert base == unpacked == as_words


def test_chunking_does_not_change_results(random_case, monkeypatch):
    import hamsearch.metrics as m

    q, db, ql, dl = random_case
    full = m.evaluate(q, db, ql, dl)
    monkeypatch.setattr(m, "_CHUNK_PAIRS", 600)  # 2 queries per chunk
    small = m.evaluate(q, db, ql, dl)
    assert full["map"] == small["map"]
    np.testing.assert_array_equal(full["precision_at_k"], small["precision_at_k"])
    np.testing.assert_array_equal(full["pr_precision"], small["pr_precision"])


def test_evaluate_consistent_with_single_metrics(random_case):
    q, db, ql, dl = random_case
    res = evaluate(q, db, ql, dl, ks=(10, 100))
    assert res["map"] == pytest.approx(mean_average_precision(q, db, ql, dl))
    np.testing.assert_allclose(res["precision_at_k"], precision_at_k(q, db, ql, dl, k=[10, 100]))
    assert res["precision_within_radius"] == pytest.approx(
        precision_within_radius(q, db, ql, dl, r=2))
    assert res["nbits"] == 16


@pytest.mark.parametrize("topk,normalize", [(None, "retrieved"), (50, "retrieved"),
                                             (50, "relevant")])
def test_evaluate_reports_tie_averaged_figures(random_case, topk, normalize):
    """evaluate() gives the ties="average" mAP and P@k beside the stable-order ones."""
    q, db, ql, dl = random_case
    res = evaluate(q, db, ql, dl, ks=(1, 10, 100), topk=topk, normalize=normalize)
    assert res["map_tie_average"] == pytest.approx(mean_average_precision(
        q, db, ql, dl, topk=topk, normalize=normalize, ties="average"))
    np.testing.assert_allclose(res["precision_at_k_tie_average"], precision_at_k(
        q, db, ql, dl, k=[1, 10, 100], ties="average"))
    assert res["map"] == pytest.approx(mean_average_precision(q, db, ql, dl, topk=topk,
                                                              normalize=normalize))
    avg = evaluate(q, db, ql, dl, ks=(1, 10, 100), topk=topk, normalize=normalize,
                   ties="average")
    assert avg["map"] == avg["map_tie_average"] == pytest.approx(res["map_tie_average"])


def test_tie_average_does_not_depend_on_database_order(random_case):
    """Reordering the database moves the stable-order figures, not the tie-aware ones."""
    q, db, ql, dl = random_case
    perm = np.random.default_rng(3).permutation(len(db))
    a = evaluate(q, db, ql, dl, ks=(1, 10))
    b = evaluate(q, db[perm], ql, dl[perm], ks=(1, 10))
    assert a["map_tie_average"] == pytest.approx(b["map_tie_average"])
    np.testing.assert_allclose(a["precision_at_k_tie_average"],
                               b["precision_at_k_tie_average"])
    assert a["map"] != b["map"]  # 16-bit codes, 300 items: plenty of ties


def test_better_codes_score_higher():
    """Codes clustered by label beat random codes on every metric."""
    from hamsearch.synthetic import clustered_codes

    codes, _, y = clustered_codes(600, 32, ncenters=5, flip=0.1, seed=0, labels="balanced",
                                  return_labels=True)
    rnd = np.random.default_rng(0).integers(0, 256, size=codes.shape, dtype=np.uint8)
    good = evaluate(codes[:50], codes[50:], y[:50], y[50:])
    bad = evaluate(rnd[:50], rnd[50:], y[:50], y[50:])
    assert good["map"] > bad["map"] + 0.3
    assert good["precision_within_radius"] > bad["precision_within_radius"]


def test_large_case_is_fast_enough():
    """1000 queries x 20k database finishes quickly (the kernels do the work)."""
    import time

    rng = np.random.default_rng(1)
    db = rng.integers(0, 256, size=(20000, 8), dtype=np.uint8)
    dl = rng.integers(0, 10, size=20000)
    t = time.perf_counter()
    val = mean_average_precision(db[:1000], db, dl[:1000], dl)
    assert 0 < val < 1
    assert time.perf_counter() - t < 30  # generous: shared CI machines


def test_validation():
    q = np.zeros((2, 1), dtype=np.uint8)
    db = np.zeros((3, 1), dtype=np.uint8)
    with pytest.raises(ValueError, match="query_labels"):
        mean_average_precision(q, db, [1], [1, 1, 1])
    with pytest.raises(ValueError, match="db_labels"):
        mean_average_precision(q, db, [1, 1], [1, 1])
    with pytest.raises(TypeError, match="labels"):
        mean_average_precision(q, db, ["a", "b"], [1, 1, 1])
    with pytest.raises(ValueError, match="multi-hot"):
        mean_average_precision(q, db, [1, 1], np.ones((3, 2), int))
    with pytest.raises(ValueError, match="topk"):
        mean_average_precision(q, db, [1, 1], [1, 1, 1], topk=0)
    with pytest.raises(ValueError, match="normalize"):
        mean_average_precision(q, db, [1, 1], [1, 1, 1], normalize="all")
    with pytest.raises(ValueError, match="ties"):
        mean_average_precision(q, db, [1, 1], [1, 1, 1], ties="random")
    with pytest.raises(ValueError, match="k"):
        precision_at_k(q, db, [1, 1], [1, 1, 1], k=4)
    with pytest.raises(ValueError, match="r must"):
        precision_within_radius(q, db, [1, 1], [1, 1, 1], r=-1)
    with pytest.raises(TypeError):
        mean_average_precision(q.astype(float), db, [1, 1], [1, 1, 1])
    with pytest.raises(ValueError, match="nbits"):
        mean_average_precision(q.astype(np.uint64), db.astype(np.uint64), [1, 1], [1, 1, 1])


def test_pr_curve_empty_skip():
    q = np.array([[0], [255]], dtype=np.uint8)
    db = np.array([[0], [1], [3]], dtype=np.uint8)
    ql, dl = [1, 1], [1, 0, 1]
    p0, _, _ = precision_recall_curve(q, db, ql, dl)
    ps, _, _ = precision_recall_curve(q, db, ql, dl, empty="skip")
    # radius 0: only query 0 retrieves anything (item 0, relevant)
    assert p0[0] == pytest.approx(0.5) and ps[0] == pytest.approx(1.0)
    # radius 8: both queries retrieve everything
    assert p0[8] == ps[8] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="empty"):
        precision_recall_curve(q, db, ql, dl, empty="nan")


def test_pr_curve_skip_is_nan_where_nothing_is_retrieved():
    q = np.array([[0]], dtype=np.uint8)
    db = np.array([[255]], dtype=np.uint8)
    ps, r, _ = precision_recall_curve(q, db, [1], [1], empty="skip")
    assert np.all(np.isnan(ps[:8])) and ps[8] == 1.0
    assert r[7] == 0 and r[8] == 1
