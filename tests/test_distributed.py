"""ShardedIndex on a real local Ray cluster against one hamsearch.Index.

The cluster is started by the module (``ray.init(num_cpus=2)``) and shut
down after it.  Every comparison is exact: ids, distances, ties and the
padding, for k-NN, range, filtered and re-ranking searches, on 1-4 shards
and 1-2 replicas; bad input must raise what ``Index`` raises and change no
shard.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import hamsearch
from hamsearch import IdFilter
from hamsearch.distributed import ShardedIndex, ShardUnavailableError, shard_of
from hamsearch.distributed.routing import split_rows

ray = pytest.importorskip("ray", reason="hamsearch[ray] is not installed (pip install ray)")

NBITS = 32
NB = NBITS // 8
DIM = 4
_CENTRES = np.random.default_rng(1).integers(0, 256, (3, NB), dtype=np.uint8)


@pytest.fixture(scope="module", autouse=True)
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _codes(seed, n):
    """Codes around a few centres, few bits flipped: many distance ties."""
    rng = np.random.default_rng(seed)
    base = _CENTRES[rng.integers(0, len(_CENTRES), n)]
    flips = rng.integers(0, 256, (n, NB), dtype=np.uint8) & rng.integers(0, 256, (n, NB),
                                                                          dtype=np.uint8)
    return base ^ (flips & np.uint8(0x21))


def _features(seed, n):
    # few distinct values: exact feature-score ties happen too
    return np.random.default_rng(seed).integers(-2, 3, (n, DIM)).astype(np.float32)


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
        assert np.asarray(x).dtype == np.asarray(y).dtype


# ------------------------------------------------------------------ routing
def _splitmix64_reference(x: int) -> int:
    """SplitMix64's finaliser in plain Python integers (mod 2**64)."""
    mask = (1 << 64) - 1
    z = (x + 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


@pytest.mark.parametrize("num_shards", [1, 2, 3, 7])
def test_routing_matches_plain_reference(num_shards):
    rng = np.random.default_rng(num_shards)
    ids = np.concatenate([np.arange(1000), rng.integers(0, 2**63 - 1, 1000),
                          [2**63 - 1]]).astype(np.int64)
    want = [_splitmix64_reference(int(i)) % num_shards for i in ids]
    assert shard_of(ids, num_shards).tolist() == want
    rows = split_rows(ids, num_shards)
    assert sorted(np.concatenate(rows).tolist()) == list(range(ids.size))
    for s, r in enumerate(rows):
        assert (shard_of(ids[r], num_shards) == s).all()
    if num_shards > 1:  # sequential ids spread evenly
        counts = np.bincount(shard_of(np.arange(100_000), num_shards), minlength=num_shards)
        assert counts.min() > 0.9 * 100_000 / num_shards


def test_importable_without_starting_ray():
    import subprocess
    import sys

    code = ("import sys, hamsearch.distributed as d; "
            "assert 'ray' not in sys.modules, 'ray imported'; print(d.shard_of([5], 3)[0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr


# ------------------------------------------------------------ state machine
_POOLS = {}


def _sharded(tmp_root, num_shards, replicas):
    """One ShardedIndex per configuration for the whole module (actors are
    slow to start); each state machine run resets it."""
    key = (num_shards, replicas)
    if key not in _POOLS:
        _POOLS[key] = ShardedIndex(NBITS, num_shards, replicas, method="auto",
                                   root=tmp_root / f"sm-{num_shards}-{replicas}",
                                   num_cpus=0.01, threads_per_shard=1, fsync="never",
                                   segment_rows=40, background_merges=False)
    return _POOLS[key]


class ShardedModel(RuleBasedStateMachine):
    num_shards = 2
    replicas = 1
    tmp_root = None

    @initialize(n=st.integers(0, 250), feats=st.sampled_from([True, True, False]),
                seed=st.integers(0, 10**6))
    def start(self, n, feats, seed):
        self.sx = _sharded(self.tmp_root, self.num_shards, self.replicas)
        self.sx.reset()
        self.ref = hamsearch.Index(NBITS, segment_rows=40, background_merges=False)
        self.live = []
        if n:  # start from a few hundred codes: pools smaller than the index
            f = _features(seed, n) if feats else None
            self.ref.add(_codes(seed, n), features=f)
            self.sx.add(_codes(seed, n), features=f)
            self.live = list(range(n))

    def _filter(self, kind, seed):
        if kind == "none":
            return None
        rng = np.random.default_rng(seed)
        ids = np.array(self.live + [10**9 + seed], dtype=np.int64)
        pick = ids[rng.random(ids.size) < (0.05, 0.5)[seed % 2]]
        return IdFilter.allow(pick) if kind == "allow" else IdFilter.deny(pick)

    @rule(n=st.integers(0, 50), explicit=st.booleans(), feats=st.booleans(),
          seed=st.integers(0, 10**6))
    def add(self, n, explicit, feats, seed):
        codes = _codes(seed, n)
        ids = None
        if explicit:
            ids = np.random.default_rng(seed).choice(10**6, n, replace=False)
            ids = ids[~np.isin(ids, self.live)]
            codes = codes[: ids.size]
        f = _features(seed, codes.shape[0]) if feats else None
        errors = []
        for target in (self.ref, self.sx):
            try:
                target.add(codes, ids=ids, features=f)
                errors.append(None)
            except (ValueError, TypeError) as exc:
                errors.append((type(exc), str(exc)))
        assert errors[0] == errors[1]
        if errors[0] is None:
            self.live = sorted(set(self.ref.ids.tolist()))

    @rule(seed=st.integers(0, 10**6), which=st.integers(0, 5))
    def add_bad(self, seed, which):
        codes = _codes(seed, 3)
        bad = [
            dict(codes=codes[:, :2]),
            dict(codes=codes.astype(np.float32)),
            dict(codes=codes, ids=[1, 1, 2]),
            dict(codes=codes, ids=[-1, 2, 3]),
            dict(codes=codes, features=np.full((3, DIM), np.nan, np.float32)),
            dict(codes=codes, ids=(self.live[:1] + [10**7, 10**7 + 1])
                 if self.live else [5, 5, 6]),
        ][which]
        errs = []
        for target in (self.ref, self.sx):
            with pytest.raises((ValueError, TypeError)) as info:
                target.add(**bad)
            errs.append((info.type, str(info.value)))
        assert errs[0] == errs[1]

    @rule(seed=st.integers(0, 10**6), frac=st.floats(0, 1))
    def remove(self, seed, frac):
        rng = np.random.default_rng(seed)
        ids = np.array(self.live, dtype=np.int64)
        ids = np.concatenate([ids[rng.random(ids.size) < frac], [10**8]])
        assert self.sx.remove(ids) == self.ref.remove(ids)
        self.live = sorted(set(self.ref.ids.tolist()))

    @rule(n=st.integers(1, 20), seed=st.integers(0, 10**6))
    def upsert(self, n, seed):
        rng = np.random.default_rng(seed)
        pool = np.array(self.live + list(range(2 * 10**6, 2 * 10**6 + 40)), dtype=np.int64)
        ids = rng.choice(pool, min(n, pool.size), replace=False)
        codes = _codes(seed + 1, ids.size)
        f = _features(seed, ids.size) if self.ref.features_dim else None
        if self.ref.stats()["ntotal"] == 0 and rng.random() < 0.5:
            f = _features(seed, ids.size)
        try:
            want = self.ref.upsert(codes, ids, features=f)
        except ValueError as exc:
            with pytest.raises(ValueError, match=None) as info:
                self.sx.upsert(codes, ids, features=f)
            assert str(info.value) == str(exc)
            return
        assert self.sx.upsert(codes, ids, features=f) == want
        self.live = sorted(set(self.ref.ids.tolist()))

    @rule(k=st.sampled_from([1, 3, 10, 60, 5000]),
          kind=st.sampled_from(["none", "allow", "deny"]), seed=st.integers(0, 10**6))
    def knn(self, k, kind, seed):
        q = _codes(seed, 5)
        flt = self._filter(kind, seed)
        _same(self.sx.search(q, k, filter=flt), self.ref.search(q, k, filter=flt))

    @rule(r=st.integers(0, NBITS), kind=st.sampled_from(["none", "allow", "deny"]),
          seed=st.integers(0, 10**6))
    def range_search(self, r, kind, seed):
        q = _codes(seed, 4)
        flt = self._filter(kind, seed)
        _same(self.sx.range_search(q, r, filter=flt), self.ref.range_search(q, r, filter=flt))

    @rule(k=st.integers(1, 12), pool=st.integers(1, 25), radius=st.integers(0, 12),
          how=st.sampled_from(["size", "cut", "radius", "radius-none", "bucket", "ip"]),
          kind=st.sampled_from(["none", "allow"]), seed=st.integers(0, 10**6))
    def rerank(self, k, pool, radius, how, kind, seed):
        q = _codes(seed, 3)
        qf = _features(seed + 7, 3)
        kw = {"size": dict(pool_size=pool), "cut": dict(pool_size=pool, ties="cut"),
              "radius": dict(pool_radius=radius),
              "radius-none": dict(pool_radius=radius, fill="none"),
              "bucket": dict(rerank="bucket"),
              "ip": dict(pool_size=pool, metric="ip", return_hamming=True)}[how]
        flt = self._filter(kind, seed)
        try:
            want = self.ref.search(q, k, query_features=qf, filter=flt, **kw)
        except ValueError as exc:
            with pytest.raises(ValueError) as info:
                self.sx.search(q, k, query_features=qf, filter=flt, **kw)
            assert str(info.value) == str(exc)
            return
        _same(self.sx.search(q, k, query_features=qf, filter=flt, **kw), want)

    @invariant()
    def same_size(self):
        assert len(self.sx) == len(self.ref)


def _machine(num_shards, replicas):
    cls = type(f"Sharded{num_shards}x{replicas}", (ShardedModel,),
               {"num_shards": num_shards, "replicas": replicas})
    return cls


@pytest.mark.parametrize("num_shards,replicas", [(1, 1), (2, 2), (3, 1), (4, 2)])
def test_sharded_equals_single_index(tmp_path_factory, num_shards, replicas):
    machine = _machine(num_shards, replicas)
    machine.tmp_root = tmp_path_factory.mktemp(f"sharded{num_shards}{replicas}")
    run = machine.TestCase
    run.settings = settings(max_examples=10, stateful_step_count=25, deadline=None,
                            suppress_health_check=list(HealthCheck))
    run("runTest").runTest()
    _POOLS.pop((num_shards, replicas)).close(save=False)


# ------------------------------------------------------------ bad input
def test_bad_input_same_errors_and_nothing_changes(tmp_path):
    sx = ShardedIndex(64, 3, root=tmp_path / "bad", num_cpus=0.01)
    ref = hamsearch.Index(64)
    codes = np.random.default_rng(0).integers(0, 256, (100, 8), dtype=np.uint8)
    feats = np.random.default_rng(1).standard_normal((100, 5)).astype(np.float32)
    for target in (sx, ref):
        target.add(codes, features=feats)
    q = codes[:4]
    before = sx.search(q, 7)
    bad_calls = [
        ("add", (codes[:2, :7],), {}),
        ("add", (codes[:2].astype(np.int16),), {}),
        ("add", (codes[:2],), {"ids": [3, 1000]}),          # 3 is stored
        ("add", (codes[:2],), {"ids": [1000, 1000]}),
        ("add", (codes[:2],), {"ids": [1000.0, 1001.0]}),
        ("add", (codes[:2],), {}),                           # features missing
        ("add", (codes[:2],), {"features": feats[:2, :3]}),
        ("add", (codes[:2],), {"features": np.full((2, 5), np.inf)}),
        ("upsert", (codes[:2], None), {}),
        ("upsert", (codes[:2], [7, 7]), {"features": feats[:2]}),
        ("remove", (np.zeros((2, 2), np.int64),), {}),
        ("remove", ([1.5],), {}),
        ("search", (q, 0), {}),
        ("search", (q, "3"), {}),
        ("search", (q[:, :3], 3), {}),
        ("search", (q, 3), {"filter": [1, 2]}),
        ("search", (q, 3), {"query_features": feats[:4]}),          # no pool argument
        ("search", (q, 3), {"query_features": feats[:4, :2], "pool_size": 5}),
        ("search", (q, 3), {"query_features": feats[:4], "pool_size": 0}),
        ("search", (q, 3), {"query_features": feats[:4], "pool_size": 5, "metric": "cos"}),
        ("range_search", (q, -1), {}),
        ("range_search", (q, 2.5), {}),
    ]
    for name, args, kwargs in bad_calls:
        errors = []
        for target in (ref, sx):
            with pytest.raises(Exception) as info:
                getattr(target, name)(*args, **kwargs)
                pytest.fail(f"{type(target).__name__}.{name}{args!r:.60} {kwargs} did not raise")
            errors.append((info.type, str(info.value)))
        assert errors[0] == errors[1], (name, args, kwargs)
    assert len(sx) == 100
    _same(sx.search(q, 7), before)
    _same(sx.search(q, 7), ref.search(q, 7))
    sx.close(save=False)


# ------------------------------------------------------------ persistence
def test_close_and_load_then_kill_everything_and_load(tmp_path):
    root = tmp_path / "persist"
    sx = ShardedIndex(64, 2, replicas=2, root=root, num_cpus=0.01)
    ref = hamsearch.Index(64)
    codes = np.random.default_rng(3).integers(0, 256, (500, 8), dtype=np.uint8)
    for target in (sx, ref):
        target.add(codes[:300])
        target.remove(np.arange(0, 300, 4))
    sx.close()  # checkpoints
    sx = hamsearch.distributed.load(root, num_cpus=0.01)
    _same(sx.search(codes[:20], 5), ref.search(codes[:20], 5))
    for target in (sx, ref):  # acknowledged, only in the logs
        target.add(codes[300:])
        target.upsert(codes[:3], ids=[1, 2, 3])
    for replicas in sx.actors:  # every process gone, no checkpoint
        for actor in replicas:
            ray.kill(actor, no_restart=True)
    sx = hamsearch.distributed.load(root, num_cpus=0.01)
    assert len(sx) == len(ref)
    _same(sx.search(codes[:50], 9), ref.search(codes[:50], 9))
    _same(sx.range_search(codes[:10], 20), ref.range_search(codes[:10], 20))
    next_ids = []
    for target in (sx, ref):
        target.add(codes[:1])
        next_ids.append(target.search(codes[:1], 1)[1][0, 0])
    sx.close(save=False)
    with pytest.raises(ValueError, match="num_shards"):
        ShardedIndex(64, 3, replicas=2, root=root, num_cpus=0.01)


def test_refuses_foreign_directory(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        ShardedIndex(64, 2, root=tmp_path / "x", num_cpus=0.01)
    with pytest.raises(FileNotFoundError):
        hamsearch.distributed.load(tmp_path / "nothing")


# ------------------------------------------------------------ faults
def test_kill_a_shard_mid_workload_loses_no_acknowledged_write(tmp_path):
    import threading
    import time

    sx = ShardedIndex(64, 3, root=tmp_path / "kill", num_cpus=0.01, fsync="always",
                      timeout=60)
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 256, (3000, 8), dtype=np.uint8)  # distinct (64 random bits)
    acked = []  # batches (start, stop) whose add returned
    failures = []
    stop = threading.Event()

    def writer():
        start = 0
        try:
            while start < 3000 and not stop.is_set():
                sx.add(codes[start:start + 50], ids=np.arange(start, start + 50))
                acked.append((start, start + 50))
                start += 50
                if start % 500 == 0:
                    sx.remove(np.arange(start - 500, start - 500 + 10))
                    acked.append(("removed", start - 500))
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(repr(exc))

    searched = []

    def reader():
        try:
            while not stop.is_set():
                done = [b for b in list(acked) if b[0] != "removed"]
                if not done:
                    time.sleep(0.01)
                    continue
                lo, hi = done[-1]
                lo += 10  # the first 10 of a batch may be removed meanwhile
                D, I = sx.search(codes[lo:hi], 1)
                # every query is a stored code (its own id unless removed):
                # a result that missed its shard would not be at distance 0
                bad = np.flatnonzero(D[:, 0] != 0)
                assert bad.size == 0, (f"a search missed a shard: ids {lo + bad[:5]} found "
                                       f"{I[bad[:5], 0]} at {D[bad[:5], 0]}")
                searched.append(1)
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(repr(exc))

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 90
    kills = 0
    while kills < 3 and time.monotonic() < deadline and not failures:
        time.sleep(0.4)
        ray.kill(sx.actors[kills % 3][0], no_restart=False)  # Ray restarts it
        kills += 1
    for t in threads[:1]:
        t.join(timeout=max(1, deadline - time.monotonic()))
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert not failures, failures
    assert kills == 3 and searched
    ref = hamsearch.Index(64)
    for b in acked:
        if b[0] == "removed":
            ref.remove(np.arange(b[1], b[1] + 10))
        else:
            ref.add(codes[b[0]:b[1]], ids=np.arange(b[0], b[1]))
    assert len(sx) == len(ref)
    _same(sx.search(codes[:200], 4), ref.search(codes[:200], 4))
    sx.close(save=False)


def test_dead_shard_raises_naming_it_or_fails_over(tmp_path):
    sx = ShardedIndex(64, 2, replicas=2, root=tmp_path / "fo", num_cpus=0.01, timeout=3)
    codes = np.random.default_rng(9).integers(0, 256, (400, 8), dtype=np.uint8)
    sx.add(codes)
    want = sx.search(codes[:10], 5)
    victim = sx.actors[1][0]
    ray.kill(victim, no_restart=True)  # replica 0 of shard 1 gone for good
    with pytest.raises(ShardUnavailableError, match="shard 1"):
        for _ in range(4):  # round robin reaches replica 0 within two calls
            sx.search(codes[:10], 5)
    sx.failover = True  # opt-in: the other replica answers
    for _ in range(4):
        _same(sx.search(codes[:10], 5), want)
    with pytest.raises(ShardUnavailableError, match="shard 1 replica 0"):
        sx.add(codes[:5], ids=np.arange(1000, 1005))  # not acknowledged: a replica is missing
    sx.failover = False
    sx.restart_replica(1, 0)  # reopens its directory, then replays what it missed
    assert sx.stats()["pending_writes"] == 0
    ref = hamsearch.Index(64)
    ref.add(codes)
    ref.add(codes[:5], ids=np.arange(1000, 1005))
    for _ in range(4):  # both replicas of shard 1 answer, identically
        _same(sx.search(codes[:10], 5), ref.search(codes[:10], 5))
    sx.close(save=False)


def test_batcher_over_sharded_index(tmp_path):
    """Many callers' single queries through a Batcher: one Ray round trip
    per shard for each batch, results identical to direct calls."""
    import threading

    sx = ShardedIndex(64, 2, root=tmp_path / "batch", num_cpus=0.01)
    codes = np.random.default_rng(11).integers(0, 256, (2000, 8), dtype=np.uint8)
    sx.add(codes)
    batcher = hamsearch.Batcher(sx)
    q = codes[:64] ^ np.uint8(3)
    out = [None] * 64

    def worker(t):
        for i in range(t, 64, 8):
            out[i] = batcher.search(q[i], 5) if i % 2 else batcher.range_search(q[i], 6)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    batcher.close()
    for i in range(64):
        want = sx.search(q[i], 5) if i % 2 else sx.range_search(q[i], 6)
        _same(out[i], want)
    sx.close(save=False)
