"""``ids=None`` (row ids) in the kernels: the id of row ``i`` is ``i``.

An index whose ids are a contiguous range stores no id array: it passes
``ids=None`` and adds its base to the returned ids.  Every kernel that takes
ids -- flat k-NN and range (each C variant and Numba, both threading splits),
MIH k-NN and range (tables and the fallback scan), re-rank -- must then return
exactly what it returns for ``ids=np.arange(n)``, and what a plain numpy
reference returns (distances by ``np.bitwise_count`` over the words, results
sorted by ``(distance, row)``), with and without skip bitmaps.

The ``backend`` fixture (tests/test_kernels.py) sets the C threading threshold
to zero, so with 2 threads fewer than 8 queries take the database-split path
of ``csrc/flat.c`` (each chunk's ids are its first row + its position) and
more take the query-split path.
"""

from __future__ import annotations

import numpy as np
import pytest

import hamsearch
from hamsearch import mih as M
from hamsearch.rowbits import from_mask as skip_bitmap

from . import reference as ref
from .test_kernels import backend  # noqa: F401  (fixture: every C variant + Numba)

PAD = ref.PAD_DISTANCE
WIDTHS = [1, 2, 4]
SIZES = [0, 1, 2, 37, 3000]
SKIPS = ["none", "none-set", "all-set", "random"]


# ---------------------------------------------------------------- reference

def _dist(db, q):
    """int64 (nq, n) Hamming distances, popcount over the uint64 words."""
    if db.shape[0] == 0:
        return np.zeros((q.shape[0], 0), np.int64)
    return np.bitwise_count(q[:, None, :] ^ db[None, :, :]).sum(axis=2, dtype=np.int64)


def _ref_knn(db, q, k, keep):
    rows = np.nonzero(keep)[0]
    dist = _dist(db, q)[:, rows]
    D = np.full((len(q), k), PAD, np.int32)
    I = np.full((len(q), k), -1, np.int64)
    for t in range(len(q)):
        order = np.lexsort((rows, dist[t]))[:k]
        D[t, :len(order)] = dist[t, order]
        I[t, :len(order)] = rows[order]
    return D, I


def _ref_range(db, q, radius, keep):
    rows = np.nonzero(keep)[0]
    dist = _dist(db, q)[:, rows]
    lims = np.zeros(len(q) + 1, np.int64)
    Ds, Is = [np.zeros(0, np.int32)], [np.zeros(0, np.int64)]
    for t in range(len(q)):
        sel = np.nonzero(dist[t] <= radius)[0]
        order = sel[np.lexsort((rows[sel], dist[t, sel]))]
        Ds.append(dist[t, order].astype(np.int32))
        Is.append(rows[order])
        lims[t + 1] = lims[t] + len(order)
    return lims, np.concatenate(Ds), np.concatenate(Is)


# --------------------------------------------------------------------- data

def _data(n, w, nq, seed):
    """Clustered codes with duplicated rows (ties that only the id breaks)."""
    rng = np.random.default_rng(seed)
    nbits = 64 * w
    db = ref.clustered_words(rng, n, nbits, ncenters=4, p=0.06) if n else \
        np.zeros((0, w), np.uint64)
    if n >= 4:
        dup = rng.integers(0, n, size=n // 4)
        db[rng.integers(0, n, size=n // 4)] = db[dup]
    q = ref.clustered_words(rng, nq, nbits, ncenters=4, p=0.06)
    if n and nq > 1:
        q[0] = db[n // 2]  # an exact match
    return rng, np.ascontiguousarray(db), q


def _skip(rng, n, kind):
    """(bitmap or None, keep mask)."""
    if kind == "none":
        return None, np.ones(n, bool)
    mask = {"none-set": np.zeros(n, bool), "all-set": np.ones(n, bool),
            "random": rng.random(n) < 0.3}[kind]
    return skip_bitmap(mask), ~mask


def _same(got, want):
    assert len(got) == len(want)
    for g, e in zip(got, want):
        np.testing.assert_array_equal(g, e)
        assert g.dtype == e.dtype


def _flat_check(K, db, q, skip, keep, nthreads, ks, radii):
    ar = np.arange(db.shape[0], dtype=np.int64)
    for k in ks:
        got = K.knn(db, None, q, k, nthreads, skip=skip)
        _same(got, K.knn(db, ar, q, k, nthreads, skip=skip))
        _same(got, _ref_knn(db, q, k, keep))
    for r in radii:
        got = K.range_search(db, None, q, r, nthreads, skip=skip)
        _same(got, K.range_search(db, ar, q, r, nthreads, skip=skip))
        _same(got, _ref_range(db, q, r, keep))


# --------------------------------------------------------------------- flat

@pytest.mark.parametrize("w", WIDTHS)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("nthreads", [1, 2])
def test_flat_row_ids(backend, w, n, nthreads):  # noqa: F811
    rng, db, q = _data(n, w, 20, seed=100 * w + n)
    nbits = 64 * w
    for kind in SKIPS:
        skip, keep = _skip(rng, n, kind)
        # 1 and 3 queries: database split (C, 2 threads); 20: query split
        for nq in (1, 3, 20):
            _flat_check(backend, db, q[:nq], skip, keep, nthreads,
                        ks=(1, 10, n + 5), radii=(0, nbits // 8, nbits // 3, nbits))


@pytest.mark.parametrize("w", [1, 2])
def test_flat_row_ids_large_db_split(backend, w):  # noqa: F811
    """Enough rows for the Numba database split too (chunks of >= 8192 rows)."""
    rng, db, q = _data(20_000, w, 3, seed=7 + w)
    for kind in ("none", "random"):
        skip, keep = _skip(rng, db.shape[0], kind)
        for nq in (1, 3):
            _flat_check(backend, db, q[:nq], skip, keep, 2, ks=(1, 10, 300),
                        radii=(0, 64 * w // 6))


def test_row_ids_plus_base_equals_range_ids(backend):  # noqa: F811
    """The caller's side of the contract: ids=None results + base (padding
    left at -1) are the results of ids = base + arange(n)."""
    rng, db, q = _data(500, 2, 5, seed=3)
    base = 10**12
    skip, _ = _skip(rng, 500, "random")
    D0, I0 = backend.knn(db, None, q, 600, 2, skip=skip)
    D1, I1 = backend.knn(db, base + np.arange(500, dtype=np.int64), q, 600, 2, skip=skip)
    np.testing.assert_array_equal(D0, D1)
    np.testing.assert_array_equal(np.where(I0 >= 0, I0 + base, -1), I1)
    assert (I0 == -1).any()
    l0, RD0, RI0 = backend.range_search(db, None, q, 40, 2, skip=skip)
    l1, RD1, RI1 = backend.range_search(db, base + np.arange(500, dtype=np.int64), q, 40,
                                        2, skip=skip)
    _same((l0, RD0, RI0 + base), (l1, RD1, RI1))


# ---------------------------------------------------------------------- MIH

def _tables(db, n_main, inline):
    nbits = 64 * db.shape[1]
    m = M.choose_m(nbits, max(db.shape[0], 1))
    starts, lengths = M.substring_layout(nbits, m)
    main = M.build_segment(db, 0, n_main, starts, lengths, inline)
    delta = M.build_segment(db, n_main, db.shape[0], starts, lengths, inline)
    return starts, lengths, main, delta


@pytest.mark.parametrize("w", WIDTHS)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("budget", [2**62, 0], ids=["tables", "fallback"])
def test_mih_row_ids(backend, w, n, budget):  # noqa: F811
    if not hasattr(backend, "mih_knn"):
        pytest.skip("this build has no MIH kernels")
    rng, db, q = _data(n, w, 20, seed=200 * w + n)
    nbits = 64 * w
    ar = np.arange(n, dtype=np.int64)
    for inline in (False, True):
        starts, lengths, main, delta = _tables(db, (3 * n) // 4, inline)
        for kind in SKIPS:
            skip, keep = _skip(rng, n, kind)
            for nthreads, nq in ((1, 20), (2, 3), (2, 20)):
                qq = q[:nq]
                for k in (1, 10, n + 5):
                    D, I, st = backend.mih_knn(db, None, qq, k, starts, lengths, main, delta,
                                               budget, nthreads, skip=skip)
                    D1, I1, st1 = backend.mih_knn(db, ar, qq, k, starts, lengths, main,
                                                  delta, budget, nthreads, skip=skip)
                    _same((D, I, st), (D1, I1, st1))
                    _same((D, I), _ref_knn(db, qq, k, keep))
                    if budget == 0 and n:
                        assert st[:, 2].all()  # every query fell back to the scan
                for r in (0, nbits // 16, nbits // 8):
                    got = backend.mih_range_search(db, None, qq, r, starts, lengths, main,
                                                   delta, budget, nthreads, skip=skip)
                    _same(got, backend.mih_range_search(db, ar, qq, r, starts, lengths, main,
                                                        delta, budget, nthreads, skip=skip))
                    _same(got[:3], _ref_range(db, qq, r, keep))


# ------------------------------------------------------------------- rerank

@pytest.mark.parametrize("order", [0, 1])
def test_rerank_row_ids(backend, order):  # noqa: F811
    rng = np.random.default_rng(5)
    n, nq, d = 300, 6, 16
    feats = rng.standard_normal((n, d)).astype(np.float32)
    feats[10] = feats[20]  # equal scores: the id breaks the tie
    qf = rng.standard_normal((nq, d)).astype(np.float32)
    sizes = rng.integers(0, 60, size=nq)
    sizes[0] = 0
    lims = np.zeros(nq + 1, np.int64)
    np.cumsum(sizes, out=lims[1:])
    pos = np.concatenate([rng.choice(n, size=s, replace=False) for s in sizes]).astype(np.int64)
    pos[lims[1]:lims[1] + 2] = (20, 10)
    ham = rng.integers(0, 8, size=pos.shape[0]).astype(np.int32)
    ar = np.arange(n, dtype=np.int64)
    for metric in (0, 1):
        for nthreads in (1, 2):
            got = backend.rerank(feats, qf, lims, pos, None, ham, 12, metric, order, nthreads)
            _same(got, backend.rerank(feats, qf, lims, pos, ar, ham, 12, metric, order,
                                      nthreads))
            assert (got[1][0] == -1).all()


@pytest.mark.parametrize("method", ["flat", "mih"])
def test_contiguous_ids_not_from_zero_come_back_once(method):
    """A growing segment whose ids are one range that does not start at 0
    (an upsert of id 1700, then default ids 1701, ...): the flat scan gets
    them as row ids plus a base, the MIH tables keep their own ids, and each
    search labels its results exactly once (the base was once added to the
    tables' ids too: 1701 came back as 3402, found by test_stateful)."""
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 256, (40, 8), dtype=np.uint8)
    index = hamsearch.Index(64, method=method)
    index.upsert(codes[:1], np.array([1700]))
    index.add(codes[1:])
    D, I = index.search(codes[[0, 1, 39]], 1)
    np.testing.assert_array_equal(I[:, 0], [1700, 1701, 1739])
    lims, D, I = index.range_search(codes[[1]], 0)
    assert 1701 in I.tolist() and all(1700 <= i <= 1739 for i in I.tolist())
