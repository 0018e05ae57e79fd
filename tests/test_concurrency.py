"""Reads concurrent with mutations: every read works on one published snapshot.

Each id has one fixed code and one fixed feature vector (``Universe``), so
any result a reader gets can be checked on its own: the distance it reports
must be the distance to the code that id has, and every id that was present
for the whole run ("stable") must be found whenever it qualifies.  The
final state is compared with a sequential model of the writers.

``test_stress`` runs a few seconds in the normal run; ``test_stress_long``
(marked ``slow``) runs longer (``HAMSEARCH_STRESS_SECONDS``, default 20).
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback

import numpy as np
import pytest

import hamsearch
from hamsearch.codes import as_words
from hamsearch.synthetic import clustered_codes

NBITS = 64
DIM = 8


class Universe:
    """Fixed codes and features for ids ``0 .. size-1``."""

    def __init__(self, size=30_000, seed=0):
        codes, centres = clustered_codes(size, NBITS, ncenters=300, flip=0.06, seed=seed)
        self.codes = codes  # uint8 (size, 8)
        self.words = as_words(codes, NBITS)
        rng = np.random.default_rng(seed + 1)
        self.features = rng.standard_normal((size, DIM)).astype(np.float32)
        self.centres = centres
        self.size = size

    def hamming(self, q_words, ids):
        x = np.bitwise_xor(self.words[ids], q_words[None, :])
        return np.bitwise_count(x).sum(axis=1).astype(np.int64)

    def queries(self, nq, seed):
        q, _ = clustered_codes(nq, NBITS, centres=self.centres, flip=0.06, seed=seed)
        rng = np.random.default_rng(seed)
        return q, rng.standard_normal((nq, DIM)).astype(np.float32)


@pytest.fixture(scope="module")
def universe():
    return Universe()


@pytest.fixture(autouse=True)
def fast_gil_switching():
    """Switch threads every few microseconds, so races show up in short runs."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(5e-6)
    yield
    sys.setswitchinterval(old)


def _run_threads(targets, seconds):
    """Run ``targets`` (callables taking a deadline) in threads; return the
    formatted tracebacks of the failures."""
    errors = []
    deadline = time.monotonic() + seconds

    def wrap(fn):
        def run():
            try:
                fn(deadline)
            except BaseException:  # noqa: BLE001 - reported to the test
                errors.append(traceback.format_exc())
        return run

    threads = [threading.Thread(target=wrap(fn), daemon=True) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 120)
        assert not t.is_alive(), "a stress thread did not stop"
    return errors


# ----------------------------------------------------- regressions (items 1-3)
def _shuffled_index(universe, method="flat", n=20_000, features=False):
    index = hamsearch.Index(NBITS, method=method)
    ids = np.random.default_rng(5).permutation(n)
    index.add(universe.codes[ids], ids=ids, features=universe.features[ids] if features else None)
    return index, ids


def test_remove_with_concurrent_contains_removes_exactly_the_ids(universe):
    """Issue 11 item 1: a reader's lazily built id lookup must not leak into remove()."""
    index, ids = _shuffled_index(universe)
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            7 in index  # noqa: B015 - builds the id lookup

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    removed, counts = [], []
    try:
        for b in range(200):
            batch = ids[5 * b : 5 * b + 5]
            counts.append(index.remove(batch))
            removed.extend(batch.tolist())
    finally:
        stop.set()
        t.join()
    assert counts == [5] * 200
    live = np.setdiff1d(ids, removed)
    assert len(index) == live.size
    np.testing.assert_array_equal(np.sort(index.ids), np.sort(live))
    assert not any(r in index for r in removed[:: 37])
    np.testing.assert_array_equal(index.reconstruct(live[:500]), universe.codes[live[:500]])


@pytest.mark.parametrize("method", ["flat", "mih"])
def test_remove_with_concurrent_rerank_searches(universe, method):
    """Issue 11 item 1, with re-ranking searches as the reader (on MIH they
    mapped ids to positions through the shared lookup)."""
    index, ids = _shuffled_index(universe, method=method, features=True)
    q, qf = universe.queries(4, seed=11)
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            index.search(q, 5, query_features=qf, pool_radius=4)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    counts = []
    try:
        for b in range(100):
            counts.append(index.remove(ids[5 * b : 5 * b + 5]))
    finally:
        stop.set()
        t.join()
    assert counts == [5] * 100
    np.testing.assert_array_equal(np.sort(index.ids), np.sort(ids[500:]))


@pytest.mark.parametrize("method", ["mih", "auto"])
def test_mih_rerank_during_mutation_returns_true_results(universe, method):
    """Issue 11 item 2: the MIH pool path used tables of another snapshot."""
    index, ids = _shuffled_index(universe, method=method, features=True)
    spare = np.arange(20_000, universe.size)
    q, qf = universe.queries(8, seed=12)
    qw = as_words(q, NBITS)
    stop = threading.Event()
    bad = []

    def reader():
        while not stop.is_set():
            D, I, H = index.search(q, 5, query_features=qf, pool_radius=6, return_hamming=True)
            for i in range(len(q)):
                got = I[i][I[i] >= 0]
                if (got >= universe.size).any():
                    bad.append(("unknown id", got.max()))
                    continue
                if not np.array_equal(H[i][: got.size], universe.hamming(qw[i], got)):
                    bad.append(("hamming", got))
                ref = ((universe.features[got] - qf[i]) ** 2).sum(axis=1)
                if not np.allclose(D[i][: got.size], ref, rtol=1e-4, atol=1e-4):
                    bad.append(("feature distance", got))

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        for b in range(30):
            new = spare[50 * b : 50 * b + 50]
            index.add(universe.codes[new], ids=new, features=universe.features[new])
            index.remove(ids[20 * b : 20 * b + 20])
    finally:
        stop.set()
        t.join()
    assert not bad, bad[:5]


def test_reconstruct_during_remove_sees_present_ids(universe):
    """Issue 11 item 3: reconstruct() mixed positions of one state with codes of another."""
    index, ids = _shuffled_index(universe)
    keep = ids[10_000:10_200]  # never removed
    stop = threading.Event()
    bad = []

    def reader():
        while not stop.is_set():
            try:
                got = index.reconstruct(keep)
            except Exception as exc:  # noqa: BLE001 - the defect itself
                bad.append(repr(exc))
                continue
            if not np.array_equal(got, universe.codes[keep]):
                bad.append("wrong code")

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        for b in range(100):
            index.remove(ids[10 * b : 10 * b + 10])
    finally:
        stop.set()
        t.join()
    assert not bad, bad[:5]


# ------------------------------------------------------------ the stress test
class Stress:
    """Readers and writers on one index; every read checked on its own."""

    def __init__(self, universe, method, seed=0):
        self.u = universe
        self.method = method
        rng = np.random.default_rng(seed)
        perm = rng.permutation(universe.size)
        self.stable = np.sort(perm[:20_000])
        self.stable_set = set(self.stable.tolist())
        churn = perm[20_000:]
        self.pools = [churn[: churn.size // 2], churn[churn.size // 2 :]]
        self.models = [set(), set()]
        # small segments: the writers' adds seal segments and background
        # merges (and compact()) run while the readers search
        self.index = hamsearch.Index(NBITS, method=method, segment_rows=1024)
        order = rng.permutation(self.stable)
        for part in np.array_split(order, 8):
            self.index.add(universe.codes[part], ids=part, features=universe.features[part])
        self.q, self.qf = universe.queries(16, seed=seed + 7)
        self.qw = as_words(self.q, NBITS)
        self.checks = 0

    # readers ---------------------------------------------------------------
    def _check_knn(self, i, D, I, k):
        u = self.u
        assert (I >= 0).all() and I.size == k, "padding although the index holds > k codes"
        assert len(set(I.tolist())) == k, "duplicate ids"
        assert (I < u.size).all(), f"unknown id {I.max()}"
        np.testing.assert_array_equal(D, u.hamming(self.qw[i], I), err_msg="wrong distance")
        order = np.lexsort((I, D))
        assert (order == np.arange(k)).all(), "not sorted by (distance, id)"
        # exact: no stable id may be closer than the k-th result, and none
        # tied with it may have a smaller id than the last tied result
        dist = u.hamming(self.qw[i], self.stable)
        kth = D[-1]
        tied_max = I[D == kth].max()
        must = self.stable[(dist < kth) | ((dist == kth) & (self.stable < tied_max))]
        missing = np.setdiff1d(must, I)
        assert missing.size == 0, f"exact k-NN missed stable ids {missing[:5]}"

    def knn_reader(self, deadline):
        k = 10
        while time.monotonic() < deadline:
            D, I = self.index.search(self.q, k)
            for i in range(len(self.q)):
                self._check_knn(i, D[i], I[i], k)
            self.checks += 1

    def filtered_reader(self, deadline):
        """k-NN with an allow-list (half the stable ids plus churn ids) and a deny-list."""
        u, k = self.u, 10
        rng = np.random.default_rng(5)
        allowed = np.r_[self.stable[::2], self.pools[0][::3]]
        allow_set = set(allowed.tolist())
        flt = hamsearch.IdFilter.allow(allowed)
        deny = hamsearch.IdFilter.deny(self.stable[1::2])
        sub = self.stable[::2]
        while time.monotonic() < deadline:
            which = rng.random() < 0.5
            D, I = self.index.search(self.q, k, filter=flt if which else deny)
            for i in range(len(self.q)):
                ids, d = I[i], D[i]
                assert (ids >= 0).all()
                if which:
                    assert all(int(x) in allow_set for x in ids), "an id the filter excludes"
                else:
                    assert not np.isin(ids, self.stable[1::2]).any(), "a denied id"
                np.testing.assert_array_equal(d, u.hamming(self.qw[i], ids))
                dist = u.hamming(self.qw[i], sub)
                kth, tied_max = d[-1], ids[d == d[-1]].max()
                must = sub[(dist < kth) | ((dist == kth) & (sub < tied_max))]
                assert np.isin(must, ids).all(), "filtered k-NN missed an admitted stable id"
            self.checks += 1

    def range_reader(self, deadline):
        u, r = self.u, 5
        while time.monotonic() < deadline:
            lims, D, I = self.index.range_search(self.q, r)
            for i in range(len(self.q)):
                d, ids = D[lims[i] : lims[i + 1]], I[lims[i] : lims[i + 1]]
                assert (ids >= 0).all() and (ids < u.size).all()
                np.testing.assert_array_equal(d, u.hamming(self.qw[i], ids))
                assert (d <= r).all()
                dist = u.hamming(self.qw[i], self.stable)
                missing = np.setdiff1d(self.stable[dist <= r], ids)
                assert missing.size == 0, f"range search missed stable ids {missing[:5]}"
            self.checks += 1

    def rerank_reader(self, deadline):
        u, r = self.u, 6
        while time.monotonic() < deadline:
            D, I, H = self.index.search(self.q, 5, query_features=self.qf, pool_radius=r,
                                        fill="none", return_hamming=True)
            for i in range(len(self.q)):
                keep = I[i] >= 0
                ids, d = I[i][keep], D[i][keep]
                assert (ids < u.size).all() and len(set(ids.tolist())) == ids.size
                np.testing.assert_array_equal(H[i][keep], u.hamming(self.qw[i], ids))
                assert (H[i][keep] <= r).all()
                ref = ((u.features[ids].astype(np.float64) - self.qf[i]) ** 2).sum(axis=1)
                np.testing.assert_allclose(d, ref, rtol=1e-4, atol=1e-4)
                if ids.size == 5:  # a stable code in the pool beating the 5th is missing
                    ham = u.hamming(self.qw[i], self.stable)
                    cand = self.stable[ham <= r]
                    f = ((u.features[cand].astype(np.float64) - self.qf[i]) ** 2).sum(axis=1)
                    must = cand[f < d[-1] - 1e-3]
                    assert np.isin(must, ids).all(), "re-rank missed a stable id"
            self.checks += 1

    def point_reader(self, deadline):
        u = self.u
        rng = np.random.default_rng(3)
        while time.monotonic() < deadline:
            pick = rng.choice(self.stable, 64, replace=False)
            assert all(int(x) in self.index for x in pick[:8])
            np.testing.assert_array_equal(self.index.reconstruct(pick), u.codes[pick])
            np.testing.assert_array_equal(self.index.reconstruct_features(pick),
                                          u.features[pick])
            ids = self.index.ids
            assert len(np.unique(ids)) == ids.size
            assert len(self.index) >= self.stable.size
            snap = self.index._view()  # codes and ids of one snapshot agree
            np.testing.assert_array_equal(snap.concat("codes"), u.words[snap.concat("ids")])
            plan = self.index.plan(k=10)
            assert plan in ("flat", "mih")
            self.checks += 1

    # writers ---------------------------------------------------------------
    def writer(self, w, save_path=None):
        def run(deadline):
            u = self.u
            pool, model = self.pools[w], self.models[w]
            rng = np.random.default_rng(100 + w)
            step = 0
            while time.monotonic() < deadline and step < 5000:
                step += 1
                roll = rng.random()
                if roll < 0.1:  # upsert: present and absent ids, each with its own code
                    pick = rng.choice(pool, int(rng.integers(1, 30)), replace=False)
                    replaced = self.index.upsert(u.codes[pick], pick, features=u.features[pick])
                    assert replaced == len(set(pick.tolist()) & model), "upsert miscounted"
                    model.update(pick.tolist())
                elif roll < 0.13:
                    self.index.compact()
                elif roll < 0.6 or not model:
                    absent = np.array(sorted(set(pool.tolist()) - model))
                    if absent.size == 0:
                        continue
                    new = rng.choice(absent, min(absent.size, int(rng.integers(1, 40))),
                                     replace=False)
                    self.index.add(u.codes[new], ids=new, features=u.features[new])
                    model.update(new.tolist())
                else:
                    present = np.array(sorted(model))
                    gone = rng.choice(present, min(present.size, int(rng.integers(1, 30))),
                                      replace=False)
                    asked = np.r_[gone, pool[:2]]  # maybe absent ids too
                    expect = len(set(asked.tolist()) & model)
                    assert self.index.remove(asked) == expect, "remove() miscounted"
                    model.difference_update(asked.tolist())
                if save_path is not None and step % 25 == 0:
                    if step % 50 == 0:  # the directory format, written incrementally
                        path = save_path.with_suffix(".dir")
                        path.mkdir(exist_ok=True)
                    else:
                        path = save_path
                    self.index.save(path)
                    loaded = hamsearch.load(path)
                    ids = loaded.ids
                    np.testing.assert_array_equal(loaded.codes, u.words[ids])
                    assert np.isin(self.stable, ids).all(), "a save lost stable ids"
        return run

    def final_check(self):
        u = self.u
        expect = np.sort(np.r_[self.stable, sorted(self.models[0]), sorted(self.models[1])])
        ids = self.index.ids
        np.testing.assert_array_equal(np.sort(ids), expect.astype(np.int64))
        np.testing.assert_array_equal(self.index.codes, u.words[ids])
        np.testing.assert_array_equal(self.index.reconstruct_features(ids), u.features[ids])
        D, I = self.index.search(self.q, 10)
        flat = hamsearch.Index(NBITS, method="flat")
        flat.add(u.codes[expect], ids=expect)
        eD, eI = flat.search(self.q, 10)
        np.testing.assert_array_equal(D, eD)
        np.testing.assert_array_equal(I, eI)


def _stress(universe, method, seconds, tmp_path):
    st = Stress(universe, method)
    targets = [st.knn_reader, st.range_reader, st.rerank_reader, st.point_reader,
               st.filtered_reader,
               st.writer(0, save_path=tmp_path / "stress.hsx"), st.writer(1)]
    # Each target once, alone, for a moment first: a cold Numba cache then
    # compiles the kernels here and not inside the race, where switching the
    # GIL every 5 us made compiling them outlast the threads' join timeout.
    for fn in targets:
        fn(time.monotonic() + 0.05)
    merges = st.index.stats()["merges"]
    errors = _run_threads(targets, seconds)
    assert not errors, "\n".join(errors[:3])
    assert st.checks > 0
    assert st.index.wait_for_merges(30)
    assert st.index.stats()["merges"] > merges, "no merge ran during the stress"
    st.final_check()
    return st


@pytest.mark.parametrize("method", ["flat", "mih", "auto"])
def test_stress(universe, method, tmp_path):
    _stress(universe, method, 2.0, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["mih", "auto"])
def test_stress_long(universe, method, tmp_path):
    seconds = float(os.environ.get("HAMSEARCH_STRESS_SECONDS", "20"))
    _stress(universe, method, seconds, tmp_path)
