"""Hypothesis state machine: an Index against a plain dict-and-numpy model.

Random adds (default and explicit ids, with features), bad adds (which must
change nothing), removes, resets, saves and loads (plain and mapped),
pickling, and filtered and unfiltered k-NN, range and re-ranking searches,
on flat, mih and auto.  Short codes (24 bits) drawn around a few centres
make distance ties common, so the tie rule (ascending id) is exercised.
"""

from __future__ import annotations

import pickle
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import hamsearch
from hamsearch import IdFilter

NBITS = 24
NB = NBITS // 8
DIM = 3
_CENTRES = np.random.default_rng(0).integers(0, 256, (4, NB), dtype=np.uint8)


def _codes(seed, n):
    rng = np.random.default_rng(seed)
    base = _CENTRES[rng.integers(0, len(_CENTRES), n)]
    flips = rng.integers(0, 256, (n, NB), dtype=np.uint8) & rng.integers(0, 256, (n, NB),
                                                                          dtype=np.uint8)
    return base ^ (flips & np.uint8(0x11))


def _dist(a, b):
    return np.bitwise_count(np.bitwise_xor(a, b)).sum(axis=-1).astype(np.int64)


class IndexModel(RuleBasedStateMachine):
    method = "flat"
    segment_rows = hamsearch.index.SEGMENT_ROWS
    background = False  # merges inline: every state is deterministic

    @initialize()
    def start(self):
        self.index = hamsearch.Index(NBITS, method=self.method, segment_rows=self.segment_rows,
                                     background_merges=self.background)
        self.model = {}  # id -> (code bytes, features)
        self.next_id = 0
        self.tmp = tempfile.mkdtemp(prefix="hs-stateful-")
        self.saves = 0
        self.wal_dir = None  # the directory of the index's write-ahead log, if any

    def teardown(self):
        self.index.close()

    def _replace(self, index):
        self.index.close()  # releases the log of a logged index
        self.wal_dir = None
        self.index = index

    # ------------------------------------------------------------- helpers
    def _arrays(self, admitted=None):
        ids = np.array(sorted(self.model), dtype=np.int64)
        if admitted is not None:
            ids = ids[np.isin(ids, admitted)]
        codes = np.array([self.model[i][0] for i in ids.tolist()], np.uint8).reshape(-1, NB)
        return ids, codes

    def _filter(self, kind, seed):
        ids = np.array(sorted(self.model), dtype=np.int64)
        rng = np.random.default_rng(seed)
        frac = (0.03, 0.4, 0.97)[seed % 3]  # few admitted (gathered rows) or many (skip bits)
        pick = ids[rng.random(ids.size) < frac] if ids.size else ids
        extra = np.array([10**9 + seed], dtype=np.int64)  # never stored
        if kind == "none":
            return None, None
        if kind == "allow":
            return IdFilter.allow(np.r_[pick, extra]), pick
        return IdFilter.deny(pick), np.setdiff1d(ids, pick)

    # --------------------------------------------------------------- rules
    @rule(n=st.integers(0, 60), explicit=st.booleans(), seed=st.integers(0, 10**6))
    def add(self, n, explicit, seed):
        rng = np.random.default_rng(seed)
        codes = _codes(seed, n)
        feats = rng.standard_normal((n, DIM)).astype(np.float32)
        if explicit:
            free = np.setdiff1d(np.arange(2000), np.array(sorted(self.model), dtype=np.int64))
            if free.size < n:
                return
            ids = rng.choice(free, n, replace=False)
        else:
            ids = np.arange(self.next_id, self.next_id + n)
        self.index.add(codes, ids=ids if explicit else None, features=feats)
        for i, c, f in zip(ids.tolist(), codes, feats):
            self.model[i] = (c.copy(), f.copy())
        if n:
            self.next_id = max(self.next_id, int(ids.max()) + 1)

    @rule(seed=st.integers(0, 10**6))
    def add_bad(self, seed):
        rng = np.random.default_rng(seed)
        present = sorted(self.model)
        bad = [
            (np.zeros((2, NB), np.uint8), [present[0], 999] if present else [5, 5]),
            (np.zeros((2, NB + 1), np.uint8), None),
            (np.zeros((1, NB), np.float32), None),
        ][int(rng.integers(3))]
        with pytest.raises((ValueError, TypeError)):
            self.index.add(bad[0], ids=bad[1], features=np.zeros((len(bad[0]), DIM)))

    @rule(seed=st.integers(0, 10**6), absent=st.booleans(),
          frac=st.sampled_from([0.02, 0.1, 0.4]))
    def remove(self, seed, absent, frac):
        rng = np.random.default_rng(seed)
        ids = np.array(sorted(self.model), dtype=np.int64)
        gone = ids[rng.random(ids.size) < frac] if ids.size else ids
        ask = np.r_[gone, [10**7]] if absent else gone
        assert self.index.remove(ask) == gone.size
        for i in gone.tolist():
            del self.model[i]

    @rule(n=st.integers(0, 30), seed=st.integers(0, 10**6))
    def upsert(self, n, seed):
        rng = np.random.default_rng(seed)
        present = np.array(sorted(self.model), dtype=np.int64)
        fresh = np.setdiff1d(np.arange(2000), present)
        pool = np.r_[present, rng.choice(fresh, min(fresh.size, n), replace=False)]
        if pool.size < n:
            return
        ids = rng.choice(pool, n, replace=False)
        codes = _codes(seed + 7, n)
        feats = rng.standard_normal((n, DIM)).astype(np.float32)
        replaced = self.index.upsert(codes, ids, features=feats)
        assert replaced == int(np.isin(ids, present).sum())
        for i, c, f in zip(ids.tolist(), codes, feats):
            self.model[i] = (c.copy(), f.copy())
        if n:
            self.next_id = max(self.next_id, int(ids.max()) + 1)

    @rule()
    def compact(self):
        before = self.index.stats()
        dropped = self.index.compact()
        if self.background:  # a background merge may have dropped some first
            assert dropped <= before["deleted"]
        else:
            assert dropped == before["deleted"]
        after = self.index.stats()
        assert after["deleted"] == 0 and after["segments"] <= 1

    @rule()
    def flush(self):
        self.index.flush()

    @rule()
    def reset(self):
        self.index.reset()
        self.model.clear()
        self.next_id = 0

    @rule(mmap=st.booleans(), via_pickle=st.booleans())
    def save_and_load(self, mmap, via_pickle):
        if via_pickle:
            self._replace(pickle.loads(pickle.dumps(self.index)))
            return
        self.saves += 1
        path = f"{self.tmp}/i{self.saves}.hsx"
        self.index.save(path)
        self._replace(hamsearch.load(path, mmap=mmap))
        self.index.verify()

    @rule(mmap=st.booleans(), again=st.booleans())
    def save_directory_and_load(self, mmap, again):
        """Directory format; ``again``: a second (incremental) save first."""
        self.saves += 1
        path = f"{self.tmp}/d{self.saves}"
        self.index.save(path, directory=True)
        if again:
            self.index.save(path)
        self._replace(hamsearch.load(path, mmap=mmap))
        self.index.verify()

    @rule()
    def open_with_log(self):
        """From now on the mutations go to a write-ahead log."""
        self.saves += 1
        path = f"{self.tmp}/w{self.saves}"
        self.index.save(path, directory=True)
        self._replace(hamsearch.open(path, fsync="never"))
        self.wal_dir = path

    @rule(save_first=st.booleans())
    def reopen_log(self, save_first):
        """Close without saving (or after a save) and reopen: the log replays."""
        if self.wal_dir is None:
            return
        if save_first:
            self.index.save(self.wal_dir)
        self.index.close()
        self.index = hamsearch.open(self.wal_dir, fsync="never")

    @rule(k=st.integers(1, 40), kind=st.sampled_from(["none", "allow", "deny"]),
          seed=st.integers(0, 10**6))
    def knn(self, k, kind, seed):
        flt, admitted = self._filter(kind, seed)
        q = _codes(seed + 1, 3)
        D, I = self.index.search(q, k, filter=flt)
        ids, codes = self._arrays(admitted)
        for i in range(len(q)):
            d = _dist(codes, q[i]) if ids.size else np.zeros(0, np.int64)
            order = np.lexsort((ids, d))[:k]
            m = order.size
            np.testing.assert_array_equal(I[i, :m], ids[order])
            np.testing.assert_array_equal(D[i, :m], d[order])
            assert (I[i, m:] == -1).all()

    @rule(r=st.integers(0, NBITS), kind=st.sampled_from(["none", "allow", "deny"]),
          seed=st.integers(0, 10**6))
    def range_search(self, r, kind, seed):
        flt, admitted = self._filter(kind, seed)
        q = _codes(seed + 2, 3)
        lims, D, I = self.index.range_search(q, r, filter=flt)
        ids, codes = self._arrays(admitted)
        for i in range(len(q)):
            d = _dist(codes, q[i]) if ids.size else np.zeros(0, np.int64)
            hit = np.flatnonzero(d <= r)
            order = hit[np.lexsort((ids[hit], d[hit]))]
            np.testing.assert_array_equal(I[lims[i]:lims[i + 1]], ids[order])
            np.testing.assert_array_equal(D[lims[i]:lims[i + 1]], d[order])

    @rule(k=st.integers(1, 10), pool=st.integers(1, 30),
          kind=st.sampled_from(["none", "allow", "deny"]), seed=st.integers(0, 10**6))
    def rerank(self, k, pool, kind, seed):
        if not self.model:
            return
        flt, admitted = self._filter(kind, seed)
        q = _codes(seed + 3, 2)
        qf = np.random.default_rng(seed).standard_normal((2, DIM)).astype(np.float32)
        got = self.index.search(q, k, filter=flt, query_features=qf, pool_size=pool,
                                return_hamming=True)
        ids, codes = self._arrays(admitted)
        ref = hamsearch.Index(NBITS, method="flat")
        if ids.size:
            feats = np.array([self.model[i][1] for i in ids.tolist()], np.float32)
            ref.add(codes, ids=ids, features=feats)
        else:
            ref.add(np.zeros((0, NB), np.uint8), features=np.zeros((0, DIM), np.float32))
        if ids.size:
            want = ref.search(q, k, query_features=qf, pool_size=pool, return_hamming=True)
            for a, b in zip(got, want):
                np.testing.assert_array_equal(a, b)
        else:
            assert (got[1] == -1).all()

    # ----------------------------------------------------------- invariants
    @invariant()
    def same_contents(self):
        assert len(self.index) == len(self.model) == self.index.stats()["ntotal"]
        ids = self.index.ids
        assert sorted(ids.tolist()) == sorted(self.model)
        if ids.size:
            want = np.array([self.model[i][0] for i in ids.tolist()], np.uint8)
            np.testing.assert_array_equal(self.index.reconstruct(ids), want)


_SETTINGS = settings(max_examples=40, stateful_step_count=30, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])


class FlatMachine(IndexModel):
    method = "flat"
    segment_rows = 25  # several sealed segments and merges within a few adds


class MihMachine(IndexModel):
    method = "mih"
    segment_rows = 40


class AutoMachine(IndexModel):
    method = "auto"  # one growing segment (the default size is never reached)


class BackgroundMachine(IndexModel):
    method = "mih"
    segment_rows = 20
    background = True  # merges in the worker thread, racing the rules


TestFlat = FlatMachine.TestCase
TestFlat.settings = _SETTINGS
TestMih = MihMachine.TestCase
TestMih.settings = _SETTINGS
TestAuto = AutoMachine.TestCase
TestAuto.settings = _SETTINGS
TestBackground = BackgroundMachine.TestCase
TestBackground.settings = _SETTINGS
