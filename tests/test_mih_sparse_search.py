"""Sparse multi-index tables: search.

Tables of every kind forced at small ``n`` give the numpy reference's k-NN
and range results (ties included, with a skip bitmap too), the same results
as dense and hash tables, and the same per-query stats from the C kernel
(every ISA this CPU runs) and its Numba twin; a sparse main part beside a
delta part of another kind; ``Index.from_chunks`` with sparse tables equal
to the flat scan.
"""

from __future__ import annotations

import numpy as np
import pytest

import hamsearch
from hamsearch import mih as mih_mod
from hamsearch.mih import build as mih_build
from hamsearch.mih import layout as mih_layout
from tests import mih_sparse_helpers
from tests.mih_sparse_helpers import _near
from tests.reference import clustered_words, knn, range_search
from tests.test_mih import BACKENDS, _backend_module
from tests.variants import supported_c_variants

backend = mih_sparse_helpers.backend  # the shared fixture


def _c_isas():
    """The ISAs this CPU runs (the C backend only)."""
    if "c" not in BACKENDS:
        return []
    return supported_c_variants()


KERNEL_PARAMS = ["numba"] + [f"c-{isa}" for isa in _c_isas()]


@pytest.fixture(params=KERNEL_PARAMS)
def kern(request, monkeypatch):
    """The MIH kernel module, the C one under each ISA the CPU has."""
    name = request.param
    if name == "numba":
        mod = _backend_module("numba")
    else:
        from hamsearch import _native

        before = _native.isa()
        _native.set_isa(name[2:])
        request.addfinalizer(lambda: _native.set_isa(before))
        mod = _backend_module("c")
    monkeypatch.setattr(mih_build, "_mih_kernels", lambda: mod)
    return mod


# ------------------------------------------------------------ search
CASES = [  # nbits, m, kind, inline, budget factor
    (64, 2, "sparse", False, 8.0),
    (64, 3, "sparse", True, 8.0),
    (64, 4, "sparse", False, mih_mod.BUDGET_FACTOR),
    (72, 9, "sparse", False, 8.0),
    (128, 5, "sparse", False, 0.0),
    (256, 12, "sparse", True, 8.0),
    (40, 2, "sparse", False, 8.0),
]


@pytest.mark.parametrize("nbits,m,kind,inline,budget", CASES)
def test_sparse_search_equals_reference(kern, nbits, m, kind, inline, budget):
    rng = np.random.default_rng(nbits * 7 + m)
    n = 2500
    db = clustered_words(rng, n, nbits, ncenters=int(rng.integers(1, 6)), p=0.04)
    db[100:160] = db[99]  # exact duplicates: ties at every distance
    ids = rng.permutation(5 * n)[:n].astype(np.int64)
    t = mih_mod.MultiIndexTables(nbits, m=m, inline_codes=inline, table_kind=kind)
    t.budget_factor = budget
    t.sync(db[:2000], ids[:2000])  # main + delta segments
    t.sync(db, ids)
    assert t.describe()["kinds"] == ["sparse"] * m
    q = _near(rng, db, nbits, 12)
    for k in (1, 10, 61, 500):
        D, I = t.knn(q, k, nthreads=2)
        Dr, Ir = knn(db, ids, q, k)
        np.testing.assert_array_equal(D, Dr)
        np.testing.assert_array_equal(I, Ir)
    for r in (0, 3, nbits // 8):
        lims, D, I = t.range_search(q, r)
        lr, Dr, Ir = range_search(db, ids, q, r)
        np.testing.assert_array_equal(lims, lr)
        np.testing.assert_array_equal(D, Dr)
        np.testing.assert_array_equal(I, Ir)
    # with a skip bitmap (the deletes / filters path)
    skip = np.zeros(-(-n // 64), dtype=np.uint64)
    gone = rng.choice(n, n // 3, replace=False)
    np.bitwise_or.at(skip, gone >> 6, np.uint64(1) << (gone & 63).astype(np.uint64))
    keep = np.setdiff1d(np.arange(n), gone)
    D, I = t.knn(q, 10, skip=skip)
    Dr, Ir = knn(db[keep], ids[keep], q, 10)
    np.testing.assert_array_equal(D, Dr)
    np.testing.assert_array_equal(I, Ir)


@pytest.mark.parametrize("nbits,m", [(64, 2), (64, 4), (128, 6)])
def test_kinds_agree_and_backends_count_alike(nbits, m, monkeypatch):
    """Dense (where it fits), sparse and hash tables over the same codes give
    identical results; the C kernel (every ISA) and the Numba twin report
    identical per-query stats for the sparse tables."""
    rng = np.random.default_rng(nbits + m)
    n = 3000
    db = clustered_words(rng, n, nbits, ncenters=3, p=0.05)
    ids = np.arange(n, dtype=np.int64) * 3
    q = _near(rng, db, nbits, 10)
    kinds = ["sparse", "hash"] + (["dense"] if nbits // m <= 22 else [])
    results, stats = {}, {}
    if "c" in BACKENDS:
        from hamsearch import _native

        before = _native.isa()
    for name in KERNEL_PARAMS:
        if name == "numba":
            mod = _backend_module("numba")
        else:
            _native.set_isa(name[2:])
            mod = _backend_module("c")
        monkeypatch.setattr(mih_build, "_mih_kernels", lambda mod=mod: mod)
        try:
            for kind in kinds:
                t = mih_mod.MultiIndexTables(nbits, m=m, inline_codes=False, table_kind=kind)
                t.budget_word_cost = 1.0  # one budget for every kernel (it scales with it)
                t.sync(db, ids)
                for k in (1, 20):
                    results[(name, kind, k)] = t.knn(q, k)
                    if kind == "sparse":
                        stats[(name, k)] = t.last_stats.copy()
                results[(name, kind, "r")] = t.range_search(q, nbits // 10)
                if kind == "sparse":
                    stats[(name, "r")] = t.last_stats.copy()
        finally:
            if name != "numba":
                _native.set_isa(before)
    first = next(iter(results))
    for key, val in results.items():
        ref = results[(first[0], "sparse", key[2])]
        for a, b in zip(val, ref):
            np.testing.assert_array_equal(a, b, err_msg=str(key))
    for key, val in stats.items():
        np.testing.assert_array_equal(val, stats[("numba", key[1])], err_msg=str(key))
    assert stats[("numba", 1)][:, 0].sum() > 0  # the tables were probed


def test_from_chunks_with_sparse_tables_equals_flat(backend, monkeypatch):
    monkeypatch.setattr(mih_layout, "FORCE_KIND", "sparse")
    rng = np.random.default_rng(11)
    n, nbits = 30_000, 64
    codes = clustered_words(rng, n, nbits, ncenters=30, p=0.06)
    chunks = [codes[:1], codes[1:9000], codes[9000:]]
    index = hamsearch.Index.from_chunks(iter(chunks), nbits, n=n, method="mih", m=2)
    flat = hamsearch.Index(nbits, method="flat")
    flat.add(codes)
    st = index.snapshot().views[0].seg.mih
    assert mih_mod.kind_names(st.main[0]) == ["sparse", "sparse"]
    assert st.main[7].shape == (2, n) and st.main[6].size == 0
    # 8 (codes) + 2 x (4 + 1) bytes per code + 2 x (2**24 + 1) int32 offsets (+ meta)
    extra = index.nbytes - (8 * n + 10 * n + 2 * 4 * ((1 << 24) + 1))
    assert 0 <= extra < 200
    q = _near(rng, codes, nbits, 20)
    for k in (1, 10, 100):
        for a, b in zip(index.search(q, k), flat.search(q, k)):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(index.range_search(q, 5), flat.range_search(q, 5)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("other", ["hash", "dense", "sparse"])
def test_mixed_kinds_across_parts(other):
    """A sparse main part beside a delta part of another kind: those tables
    are probed key by key (the grouped enumeration needs every part
    sparse); results as the reference, stats identical on both backends."""
    rng = np.random.default_rng(9)
    nbits, m, n, cut = 64, 4, 3000, 2600
    db = clustered_words(rng, n, nbits, ncenters=4, p=0.05)
    ids = rng.permutation(4 * n)[:n].astype(np.int64)
    starts, lengths = mih_mod.substring_layout(nbits, m)
    main = mih_mod.build_segment(db, 0, cut, starts, lengths, False, "sparse")
    delta = mih_mod.build_segment(db, cut, n, starts, lengths, False, other)
    q = _near(rng, db, nbits, 12)
    out = {}
    for name in BACKENDS:
        mod = _backend_module(name)
        for k in (1, 25):
            D, I, st = mod.mih_knn(db, ids, q, k, starts, lengths, main, delta, 10**9)
            Dr, Ir = knn(db, ids, q, k)
            np.testing.assert_array_equal(D, Dr)
            np.testing.assert_array_equal(I, Ir)
            out[(name, k)] = st
        lims, D, I, st = mod.mih_range_search(db, ids, q, 7, starts, lengths, main, delta, 10**9)
        lr, Dr, Ir = range_search(db, ids, q, 7)
        np.testing.assert_array_equal(lims, lr)
        np.testing.assert_array_equal(I, Ir)
        out[(name, "r")] = st
    for key, st in out.items():
        np.testing.assert_array_equal(st, out[("numba", key[1])])
