"""Multi-index hashing: identical results to the flat scan, ties included.

Every search here is compared with the numpy reference (``tests.reference``)
and with ``Index(method="flat")``: random and clustered codes (clustered ones
with p = 0 give many exact duplicates, hence ties), 32 to 512 bits, k up to
n + 2, radius 0 to nbits, ids in arbitrary order, both kernel backends, with
and without inline codes, and with the per-query work budget at 0 (every
query falls back to the scan), at its default, and at 16x the default
(queries almost never fall back, so the table path itself is checked).
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hamsearch
from hamsearch import mih as mih_mod
from hamsearch.mih import build as mih_build
from hamsearch._backend import kernels
from hamsearch.mih import MultiIndexTables, choose_m, substring_layout
from tests.reference import clustered_words, knn, random_words, range_search

NBITS = [32, 40, 64, 72, 128, 136, 256, 512]
BACKENDS = ["numba"] + (["c"] if hasattr(kernels(), "mih_knn") and kernels().NAME.startswith("c")
                        else [])


def _backend_module(name):
    if name == "numba":
        from hamsearch._numba import mih as mod

        return mod
    return kernels()


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch):
    mod = _backend_module(request.param)
    monkeypatch.setattr(mih_build, "_mih_kernels", lambda: mod)
    return request.param


def _codes(rng, n, nbits, kind, p):
    if kind == "random":
        return random_words(rng, n, nbits)
    return clustered_words(rng, n, nbits, ncenters=int(rng.integers(1, 8)), p=p)


def _queries(rng, db, nbits, nq):
    """Half near database codes (a few bits flipped), half random."""
    q = random_words(rng, nq, nbits)
    if len(db):
        near = db[rng.integers(0, len(db), nq)].copy()
        flips = random_words(rng, nq, nbits) & random_words(rng, nq, nbits) \
            & random_words(rng, nq, nbits)
        q[: nq // 2] = (near ^ flips)[: nq // 2]
    return np.ascontiguousarray(q)


problem = st.fixed_dictionaries({
    "seed": st.integers(0, 2**32 - 1),
    "nbits": st.sampled_from(NBITS),
    "n": st.integers(1, 300),
    "kind": st.sampled_from(["random", "clustered"]),
    "p": st.sampled_from([0.0, 0.02, 0.1, 0.3]),
    "budget": st.sampled_from([0.0, mih_mod.BUDGET_FACTOR, 8.0]),
    "inline": st.sampled_from([None, True, False]),
    "pick_m": st.booleans(),
})

SETTINGS = dict(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def _tables(pr, rng):
    nbits, n = pr["nbits"], pr["n"]
    db = _codes(rng, n, nbits, pr["kind"], pr["p"])
    ids = rng.permutation(4 * n + 5)[:n].astype(np.int64)
    lo = -(-nbits // 32)
    m = int(rng.integers(lo, min(nbits, 40) + 1)) if pr["pick_m"] else None
    t = MultiIndexTables(nbits, m=m, inline_codes=pr["inline"])
    t.budget_factor = pr["budget"]
    # two syncs: main segment + delta segment (or a merge)
    cut = int(rng.integers(0, n + 1))
    t.sync(db[:cut], ids[:cut])
    t.sync(db, ids)
    return db, ids, t


@settings(**SETTINGS)
@given(pr=problem, data=st.data())
def test_knn_equals_reference(backend, pr, data):
    rng = np.random.default_rng(pr["seed"])
    db, ids, t = _tables(pr, rng)
    q = _queries(rng, db, pr["nbits"], 9)
    k = data.draw(st.integers(1, pr["n"] + 2), label="k")
    D, I = t.knn(q, k, nthreads=int(rng.integers(1, 4)))
    Dr, Ir = knn(db, ids, q, k)
    np.testing.assert_array_equal(D, Dr)
    np.testing.assert_array_equal(I, Ir)


@settings(**SETTINGS)
@given(pr=problem, data=st.data())
def test_range_equals_reference(backend, pr, data):
    rng = np.random.default_rng(pr["seed"])
    db, ids, t = _tables(pr, rng)
    q = _queries(rng, db, pr["nbits"], 9)
    radius = data.draw(st.one_of(st.integers(0, 12), st.integers(0, pr["nbits"])),
                       label="radius")
    lims, D, I = t.range_search(q, radius, nthreads=int(rng.integers(1, 4)))
    lr, Dr, Ir = range_search(db, ids, q, radius)
    np.testing.assert_array_equal(lims, lr)
    np.testing.assert_array_equal(D, Dr)
    np.testing.assert_array_equal(I, Ir)


def test_many_ties_at_kth_distance(backend):
    """Hundreds of identical codes: the k smallest ids must win the tie."""
    rng = np.random.default_rng(3)
    base = random_words(rng, 1, 64)
    db = np.repeat(base, 700, axis=0)
    db[::7] = random_words(rng, len(db[::7]), 64)
    ids = rng.permutation(10_000)[:700].astype(np.int64)
    t = MultiIndexTables(64)
    t.sync(db, ids)
    for k in (1, 3, 100, 699, 702):
        D, I = t.knn(base, k)
        Dr, Ir = knn(db, ids, base, k)
        np.testing.assert_array_equal(D, Dr)
        np.testing.assert_array_equal(I, Ir)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), nbits=st.sampled_from([64, 128, 256]),
       kind=st.sampled_from(["random", "clustered"]))
def test_index_mih_after_adds_removes_and_save_load(tmp_path_factory, seed, nbits, kind):
    rng = np.random.default_rng(seed)
    mih = hamsearch.Index(nbits, method="mih")
    flat = hamsearch.Index(nbits, method="flat")
    q = None
    path = tmp_path_factory.mktemp("mih") / "i.hsx"
    for step in range(5):
        n = int(rng.integers(1, 400))
        db = _codes(rng, n, nbits, kind, 0.05)
        ids = rng.permutation(10**6)[:n] + 10**6 * (step + 1)
        mih.add(db, ids=ids)
        flat.add(db, ids=ids)
        if step % 2 == 1:
            gone = rng.choice(flat.ids, size=len(flat) // 5, replace=False)
            assert mih.remove(gone) == flat.remove(gone)
        if step == 3:
            mih.save(path)
            mih = hamsearch.load(path, mmap=bool(rng.integers(0, 2)))
            assert mih.method == "mih"
        q = _queries(rng, flat.codes, nbits, 7)
        k = int(rng.integers(1, len(flat) + 3))
        for a, b in zip(mih.search(q, k), flat.search(q, k)):
            np.testing.assert_array_equal(a, b)
        r = int(rng.integers(0, nbits // 3))
        for a, b in zip(mih.range_search(q, r), flat.range_search(q, r)):
            np.testing.assert_array_equal(a, b)
    assert mih.stats()["mih_tables"]


def test_incremental_add_builds_only_a_delta():
    rng = np.random.default_rng(0)
    db = clustered_words(rng, 20_000, 64, 50, 0.05)
    t = MultiIndexTables(64, m=4)
    t.sync(db[:18_000], np.arange(18_000))
    main = t._state.main
    t.sync(db, np.arange(20_000))  # 2,000 more: under n_main / 8
    assert t._state.main is main and t._state.n_main == 18_000
    assert t.describe()["n_delta"] == 2_000
    t.sync(np.concatenate([db, db[:3_000]]), np.arange(23_000))  # delta > n_main / 8
    assert t._state.n_main == 23_000 and t.describe()["n_delta"] == 0


def test_layout_and_choice_of_m():
    for nbits in (8, 64, 72, 100 * 8, 512):
        for m in {1 if nbits <= 32 else -(-nbits // 32), 3, nbits // 8, nbits}:
            if m < -(-nbits // 32) or m > nbits:
                continue
            starts, lengths = substring_layout(nbits, m)
            assert lengths.sum() == nbits and len(lengths) == m
            assert lengths.max() - lengths.min() <= 1
            assert (np.diff(lengths) <= 0).all()  # the wider ones first
            np.testing.assert_array_equal(starts[1:], np.cumsum(lengths)[:-1])
    assert choose_m(64, 1_000_000) == 4
    assert choose_m(256, 1_000_000) == 13
    assert choose_m(128, 1_000_000) < choose_m(128, 1_000)
    # past 256 bits: substrings of at least 24 bits (measured, see choose_m)
    assert choose_m(256, 1_000) == 26  # 64-256 bits: the paper's rule
    assert choose_m(512, 200_000) == 22 and choose_m(512, 10) == 22
    assert choose_m(2048, 200_000) == 86 and choose_m(4096, 10**6) == 171
    assert choose_m(1024, 2**30) == 35  # log2 n > 24: the paper's rule again
    for nbits in (264, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 65536):
        for n in (1, 1000, 10**6, 10**9):
            m = choose_m(nbits, n)
            assert -(-nbits // 32) <= m <= -(-nbits // 24)


def test_m_argument_and_property():
    rng = np.random.default_rng(1)
    index = hamsearch.Index(128, method="mih", m=6)
    index.add(random_words(rng, 1000, 128))
    assert index.m == 6
    auto = hamsearch.Index(128, method="mih")
    auto.add(random_words(rng, 5000, 128))
    assert auto.m == choose_m(128, 5000)
    with pytest.raises(ValueError, match="m must be in"):
        hamsearch.Index(128, method="mih", m=2)  # substrings of 64 bits
    with pytest.raises(ValueError, match="m must be in"):
        hamsearch.Index(64, method="mih", m=65)
    with pytest.raises(TypeError, match="m must be an int"):
        hamsearch.Index(64, method="mih", m=2.5)
    with pytest.raises(ValueError, match="method must be one of"):
        hamsearch.Index(64, method="multihash")


def test_m_is_repicked_when_the_index_grows():
    rng = np.random.default_rng(2)
    index = hamsearch.Index(64, method="mih")
    index.add(random_words(rng, 100, 64))
    small = index.m
    index.add(random_words(rng, 100_000, 64))
    assert index.m == choose_m(64, 100_100) != small


def test_auto_rule():
    rng = np.random.default_rng(4)
    small = hamsearch.Index(64)
    small.add(clustered_words(rng, 1000, 64, 10, 0.05))
    small.search(small.codes[:3], 5)
    assert not small.stats()["mih_tables"]  # too small: flat, no tables built
    clustered = hamsearch.Index(64)
    clustered.add(clustered_words(rng, 60_000, 64, 200, 0.03))
    assert not clustered.stats()["mih_tables"]
    D, I = clustered.search(clustered.codes[:5], 10)
    assert clustered.stats()["mih_tables"]  # clustered codes, small k: MIH
    ref = knn(clustered.codes, clustered.ids, clustered.codes[:5], 10)
    np.testing.assert_array_equal(D, ref[0])
    np.testing.assert_array_equal(I, ref[1])
    uniform = hamsearch.Index(256)
    uniform.add(random_words(rng, 40_000, 256))
    uniform.search(uniform.codes[:3], 10)
    uniform.range_search(uniform.codes[:3], 100)
    assert not uniform.stats()["mih_tables"]  # uniform 256-bit codes: MIH cannot win


def test_nbytes_counts_the_tables():
    codes = random_words(np.random.default_rng(5), 3000, 64)
    flat = hamsearch.Index(64, method="flat")
    flat.add(codes)
    mih = hamsearch.Index(64, method="mih")
    mih.add(codes)
    tables = mih.stats()["mih_nbytes"]
    assert tables > 0 and flat.stats()["mih_nbytes"] == 0
    assert mih.nbytes == flat.nbytes + tables
    mih.remove(np.arange(1000))
    mih.search(codes[:2], 3)  # rebuilds the tables without the removed codes
    assert 0 < mih.stats()["mih_nbytes"] < tables
    assert mih.nbytes == mih.stats()["mih_nbytes"] + 2000 * 16


_PLANS_SCRIPT = """
import json, numpy as np, hamsearch
from hamsearch.synthetic import clustered_codes, uniform_codes
out = {"backend": hamsearch.backend()}
uni = hamsearch.Index(256)
uni.add(uniform_codes(40_000, 256, seed=1))
out["uniform256_k10"] = uni.plan(k=10)
out["uniform256_k100"] = uni.plan(k=100)
db, centres = clustered_codes(60_000, 64, ncenters=3000, flip=0.02, seed=2)
near = hamsearch.Index(64)
near.add(db)
out["neardup64_r2"] = near.plan(radius=2)
out["neardup64_k1"] = near.plan(k=1)
q, _ = clustered_codes(50, 64, centres=centres, flip=0.02, seed=3)
flat = hamsearch.Index(64, method="flat")
flat.add(db)
out["exact"] = all(np.array_equal(a, b) for a, b in zip(near.range_search(q, 2),
                                                        flat.range_search(q, 2)))
print(json.dumps(out))
"""


@pytest.mark.parametrize("backend", ["c", "numba"])
def test_auto_rule_on_each_backend(backend):
    """The planner's clear cases on both kernel backends, each in its own
    process (the backend is chosen at import): uniform 256-bit codes scan,
    near-duplicates at radius 2 (and 1-NN) use the tables."""
    import json
    import os
    import subprocess
    import sys

    if backend == "c":
        try:
            import hamsearch._native  # noqa: F401
        except ImportError:
            pytest.skip("the C extension is not built")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, HAMSEARCH_BACKEND=backend,
               PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", _PLANS_SCRIPT], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    plans = json.loads(proc.stdout.strip().splitlines()[-1])
    assert plans["backend"].startswith("c-" if backend == "c" else "numba")
    # (a small radius on uniform codes is another matter: r <= 8 over 17
    # substrings probes one bucket per table, and MIH rightly wins)
    assert plans["uniform256_k10"] == "flat" and plans["uniform256_k100"] == "flat", plans
    assert plans["neardup64_r2"] == "mih" and plans["neardup64_k1"] == "mih", plans
    assert plans["exact"]


@pytest.mark.parametrize("nq", [1, 2, 40])
def test_fallen_back_queries_share_one_scan(backend, nq):
    """In one call some queries finish in the tables and some fall back to
    a scan; from 2 queries on the fallen-back ones are scanned together after
    the table pass (DEFER_MIN_QUERIES / MIH_DEFER_MIN_QUERIES) and spliced
    back in.  Answers equal the reference with custom ids and deleted rows,
    for k-NN and radius search, whichever path each query took."""
    rng = np.random.default_rng(11)
    nbits = 128
    db = clustered_words(rng, 3000, nbits, ncenters=300, p=0.02)
    ids = rng.permutation(20_000)[:3000].astype(np.int64)
    q = random_words(rng, nq, nbits)
    q[::2] = db[rng.integers(0, len(db), len(q[::2]))]  # these finish in the tables
    t = MultiIndexTables(nbits)
    t.budget_factor = 2.0
    t.budget_word_cost = 1.0  # the same budget on every kernel
    t.sync(db, ids)
    dead = rng.random(len(db)) < 0.2
    skip = np.zeros((len(db) + 63) // 64, dtype=np.uint64)
    for r in np.flatnonzero(dead):
        skip[r >> 6] |= np.uint64(1) << np.uint64(r & 63)
    live = ~dead
    for k in (1, 10, 70):
        D, I = t.knn(q, k, nthreads=2, skip=skip)
        Dr, Ir = knn(db[live], ids[live], q, k)
        np.testing.assert_array_equal(D, Dr)
        np.testing.assert_array_equal(I, Ir)
        if nq == 40 and k < 70:
            fell = t.last_stats[:, 2].sum()
            assert 0 < fell < nq, fell  # both paths ran in this call
    for radius in (3, 20, 60):
        lims, D, I = t.range_search(q, radius, nthreads=2, skip=skip)
        if nq == 40 and radius == 20:
            fell = t.last_stats[:, 2].sum()
            assert 0 < fell < nq, fell
        lr, Dr, Ir = range_search(db[live], ids[live], q, radius)
        np.testing.assert_array_equal(lims, lr)
        np.testing.assert_array_equal(D, Dr)
        np.testing.assert_array_equal(I, Ir)


def test_auto_plans_for_the_queries_it_is_asked(monkeypatch):
    """The planner's k-NN distances come from the queries searched (its
    profile), not only from the stored rows: near-duplicate rows make a
    1-NN search by MIH cheap for queries like them, but queries far from
    every row (uniform codes) need a distance MIH cannot reach cheaply.

    The scan is priced as the AVX2 kernel's whatever the variant in use:
    under ``HAMSEARCH_ISA=portable`` a scan word costs 5x, and MIH rightly
    stays the cheaper plan for these queries too."""
    from hamsearch.mih import pricing
    from hamsearch.synthetic import clustered_codes, uniform_codes

    monkeypatch.setattr(pricing, "flat_word_cost", lambda: 1.0)

    db, _ = clustered_codes(60_000, 64, ncenters=3000, flip=0.02, seed=2)
    index = hamsearch.Index(64)
    index.add(db)
    assert index.plan(k=10) == "mih"  # the rows stand in for queries
    rule = index.planner.rule
    assert rule.profile_version == 0
    far = uniform_codes(40, 64, seed=7)
    D, I = index.search(far, 10)
    ref = knn(index.codes, index.ids, np.ascontiguousarray(far).view(np.uint64), 10)
    np.testing.assert_array_equal(D, ref[0])
    np.testing.assert_array_equal(I, ref[1])
    assert rule.profile_version == 1  # 32 of the 40 queries, at once
    assert index.plan(k=10) == "flat"
    index.search(db[:5], 10)  # the profile is full: no more replanning
    assert rule.profile_version == 1 and index.plan(k=10) == "flat"
    # a query of another width, or bytes instead of words, is never taken in
    rule.observe(np.zeros((3, 2), np.uint64))
    rule.observe(np.zeros((3, 8), np.uint8))
    assert rule.profile_version == 1


def test_one_query_callers_replan_only_as_the_profile_doubles():
    """One-query calls fill the profile one code at a time; the plans are
    made again when it reaches PROFILE_MIN codes and at each doubling (8,
    16, 32: three versions), not at every query."""
    from hamsearch.mih.cost import AutoRule
    from hamsearch.synthetic import uniform_codes

    rule = AutoRule()
    far = np.ascontiguousarray(uniform_codes(40, 64, seed=7)).view(np.uint64)
    versions = []
    for row in far:
        rule.observe(row[None, :])
        versions.append(rule.profile_version)
    assert versions[6] == 0 and versions[7] == 1  # used from 8 codes on
    assert versions[14] == 1 and versions[15] == 2
    assert versions[30] == 2 and versions[31] == 3
    assert versions[-1] == 3  # full at 32


def test_flat_cost_prices_words_codes_and_each_kind_of_result():
    """The scan's predicted cost: per word, per code, and per result -- a
    k-NN's k priced apart from a radius search's results; an entry without
    the newer terms prices as before (``word_cost`` per word, ``hit_flat``
    per result of either kind)."""
    from hamsearch.mih.cost import BACKEND_COSTS, predicted_flat_cost

    old = {"hit_flat": 300.0}
    assert predicted_flat_cost(2e6, 10, old, 0.4, n=1e6, knn=True) == 0.4 * 2e6 + 3000
    assert predicted_flat_cost(2e6, 10, old, 0.4, n=1e6) == 0.4 * 2e6 + 3000
    new = {"hit_flat": 300.0, "hit_knn": 2000.0, "flat_word": 0.25, "flat_code": 0.5}
    assert predicted_flat_cost(2e6, 10, new, 0.4, n=1e6, knn=True) == 0.5e6 + 0.5e6 + 20_000
    assert predicted_flat_cost(2e6, 10, new, 0.4, n=1e6) == 0.5e6 + 0.5e6 + 3000
    for name, entry in BACKEND_COSTS.items():  # a k-NN's k costs more than a range result
        assert entry.get("hit_knn", entry["hit_flat"]) >= entry["hit_flat"], name


@pytest.mark.parametrize("inline, factor", [(True, 0.2), (False, 2.0)])
def test_cost_model_counts_work_as_the_kernel_does(inline, factor):
    """The cost model's mirror of the kernels' work count and budget
    (``cost.KERNEL_*_WORK``, ``cost.work_budget``): from each query's stats,
    a query fell back to a scan exactly when that count passed the budget."""
    from hamsearch.mih import cost

    rng = np.random.default_rng(21)
    db = clustered_words(rng, 20000, 64, ncenters=8, p=0.08)
    q = np.concatenate([db[rng.integers(0, len(db), 60)], random_words(rng, 60, 64)])
    tables = MultiIndexTables(64, m=4, inline_codes=inline)
    tables.sync(db, np.arange(len(db), dtype=np.int64))
    tables.budget_factor = factor
    seen = []
    for k in (1, 10, 200):
        tables.knn(q, k)
        probes, verified, fell = np.asarray(tables.last_stats, dtype=np.int64).T
        work = cost.KERNEL_PROBE_WORK * probes + verified * (1 if inline else
                                                             cost.KERNEL_RANDOM_WORK)
        budget = cost.work_budget(len(db), True, factor)
        np.testing.assert_array_equal(work > budget, fell > 0)
        seen.append(fell > 0)
    assert 0 < np.mean(seen) < 1  # queries of both kinds were checked


def test_predicted_cost_of_a_query_over_budget():
    """Under the work budget a query costs its terms; over it, the share
    done before the budget ran out plus the scan it starts over with."""
    from hamsearch.mih import cost

    c = dict(cost.BACKEND_COSTS["c"])
    words, flat = 1000.0, 5000.0
    per = np.zeros((2, len(cost.MIH_TERMS)))
    per[:, cost.MIH_TERMS.index("probe")] = 2
    per[0, cost.MIH_TERMS.index("verify_word")] = 100
    per[1, cost.MIH_TERMS.index("verify_word")] = 10_000
    got = cost.predicted_mih_costs(per, words, flat, c)
    each = per @ np.array([c[t] for t in cost.MIH_TERMS])
    budget = cost.work_budget(words)
    assert got[0] == pytest.approx(each[0])
    work1 = 2 * cost.KERNEL_PROBE_WORK + 10_000
    assert got[1] == pytest.approx(each[1] * budget / work1 + flat)


def test_cost_model_follows_the_kernels_table_order():
    """Where one substring is much more crowded near the queries than the
    others, the kernel widens the other tables first (csrc/mih_impl.h:
    each next radius to the table predicted cheapest): it verifies far
    fewer codes than level order would, and the cost model, which mirrors
    that order, predicts the kernel's count (sampled queries, radius
    search, so the radius is known)."""
    from hamsearch.mih.cost import AutoRule
    from hamsearch.mih.layout import extract_substring, substring_layout

    rng = np.random.default_rng(5)
    n, nbits, m, radius = 40_000, 64, 4, 7
    db = random_words(rng, n, nbits)
    # substring 0 (bits 0-15): 4 centres with bits flipped at p = 0.06
    centres = rng.integers(0, 1 << 16, size=4, dtype=np.uint64)
    flips = np.zeros(n, dtype=np.uint64)
    for b in range(16):
        flips |= (rng.random(n) < 0.06).astype(np.uint64) << np.uint64(b)
    db[:, 0] = (db[:, 0] & ~np.uint64(0xFFFF)) | (centres[rng.integers(0, 4, n)] ^ flips)
    rule = AutoRule()
    terms = rule.terms(db, nbits, m, False, radius=radius)
    q = rule._sampled[5]  # the rows the model took as queries
    tables = MultiIndexTables(nbits, m=m, inline_codes=False)
    tables.budget_factor = 1000.0  # no scan instead: count the whole search
    tables.sync(db, np.arange(n, dtype=np.int64))
    tables.range_search(q, radius)
    kernel = float(np.asarray(tables.last_stats)[:, 1].mean())
    assert not np.asarray(tables.last_stats)[:, 2].any()  # no query fell back
    # level order to radius 7 over 4 tables: every table to radius 1
    starts, lengths = substring_layout(nbits, m)
    level = 0.0
    for s0, b0 in zip(starts, lengths):
        d = np.bitwise_count(extract_substring(q, s0, b0)[:, None]
                             ^ extract_substring(db, s0, b0)[None, :])
        level += float((d <= 1).sum(axis=1).mean())
    model = terms["verify_random"] + terms["verify_random_dram"]
    assert kernel < 0.8 * level
    assert 0.5 * kernel <= model <= 2.0 * kernel
