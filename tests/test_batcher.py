"""hamsearch.Batcher: coalesced searches return exactly what direct calls do."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hamsearch
from hamsearch import Batcher, IdFilter

NBITS = 32
_RNG = np.random.default_rng(0)
_CENTRES = _RNG.integers(0, 256, (4, NBITS // 8), dtype=np.uint8)


def _codes(seed, n):
    rng = np.random.default_rng(seed)
    base = _CENTRES[rng.integers(0, 4, n)]
    return base ^ (rng.integers(0, 256, base.shape, dtype=np.uint8) & np.uint8(0x13))


@pytest.fixture(scope="module")
def index():
    ix = hamsearch.Index(NBITS, segment_rows=700)
    ix.add(_codes(1, 3000), features=np.random.default_rng(2).integers(
        -2, 3, (3000, 4)).astype(np.float32))
    ix.remove(np.arange(0, 3000, 11))
    return ix


_FILTERS = [None, IdFilter.allow(np.arange(0, 3000, 3)), IdFilter.deny(np.arange(500))]


def _request(seed, kind):
    rng = np.random.default_rng(seed)
    q = _codes(seed + 10, int(rng.integers(1, 4)))
    if rng.random() < 0.3:
        q = q[0]  # one 1-D query
    flt = _FILTERS[int(rng.integers(0, 3))]
    if kind == "knn":
        return "search", q, int(rng.choice([1, 5, 10, 40])), {"filter": flt}
    if kind == "range":
        return "range_search", q, int(rng.choice([0, 3, 6])), {"filter": flt}
    nq = 1 if q.ndim == 1 else q.shape[0]
    qf = np.random.default_rng(seed).integers(-2, 3, (nq, 4)).astype(np.float32)
    opts = [dict(pool_size=20), dict(pool_size=8, ties="cut"), dict(pool_radius=4),
            dict(rerank="bucket", return_hamming=True)][int(rng.integers(0, 4))]
    return "search", q, int(rng.choice([1, 5])), dict(filter=flt, query_features=qf, **opts)


def _same(a, b):
    assert type(a) is type(b)  # SearchResult / RangeResult, batched or not
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
        assert np.asarray(x).dtype == np.asarray(y).dtype


def _hammer(batcher, requests, nthreads=8):
    """Run ``requests`` from ``nthreads`` threads at once; results in order."""
    out = [None] * len(requests)
    start = threading.Barrier(nthreads)

    def worker(t):
        start.wait()
        for i in range(t, len(requests), nthreads):
            op, q, p, kw = requests[i]
            try:
                out[i] = ("ok", getattr(batcher, op)(q, p, **kw))
            except Exception as exc:  # compared with the direct call's
                out[i] = ("error", (type(exc), str(exc)))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return out


def _direct(index, req):
    op, q, p, kw = req
    try:
        return ("ok", getattr(index, op)(q, p, **kw))
    except Exception as exc:
        return ("error", (type(exc), str(exc)))


@pytest.mark.parametrize("leader", ["caller", "thread"])
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(seeds=st.lists(st.integers(0, 10**6), min_size=1, max_size=40),
       kinds=st.lists(st.sampled_from(["knn", "range", "rerank"]), min_size=40, max_size=40),
       max_batch=st.sampled_from([1, 4, 1024]), wait=st.sampled_from([0, 200]))
def test_concurrent_callers_get_their_direct_results(index, leader, seeds, kinds, max_batch,
                                                     wait):
    requests = [_request(s, kinds[i]) for i, s in enumerate(seeds)]
    batcher = Batcher(_slow(index), max_batch=max_batch, max_wait_us=wait, concurrency=2,
                      leader=leader)
    got = _hammer(batcher, requests)
    batcher.close()
    for req, res in zip(requests, got):
        want = _direct(index, req)
        assert res[0] == want[0]
        if want[0] == "ok":
            _same(res[1], want[1])
        else:
            assert res[1] == want[1]


def _slow(index, seconds=0.002):
    """An index whose calls take a little longer: callers queue meanwhile."""
    import time

    class Slow:
        nbits = index.nbits

        def search(self, q, k, **kw):
            time.sleep(seconds)
            return index.search(q, k, **kw)

        def range_search(self, q, r, **kw):
            time.sleep(seconds)
            return index.range_search(q, r, **kw)

    return Slow()


def _gated(index):
    """An index whose searches wait at a gate: queued callers pile up."""
    gate = threading.Event()

    class Gated:
        nbits = index.nbits

        def search(self, q, k, **kw):
            gate.wait(timeout=30)
            return index.search(q, k, **kw)

        def range_search(self, q, r, **kw):
            gate.wait(timeout=30)
            return index.range_search(q, r, **kw)

    return Gated(), gate


@pytest.mark.parametrize("leader", ["caller", "thread"])
def test_queued_queries_share_one_call_and_bad_ones_fail_alone(index, leader):
    gated, gate = _gated(index)
    batcher = Batcher(gated, leader=leader)
    q = _codes(5, 60)
    requests = [("search", q[i:i + 1 + i % 3], 10, {}) for i in range(30)]
    requests[7] = ("search", q[7][:3], 10, {})  # wrong width: its own error only
    requests[8] = ("range_search", q[8:10], 5, {})
    requests[9] = ("search", q[9], 0, {})  # bad k
    requests[12] = ("search", q[12], 10, {"query_features": np.ones((1, 9), np.float32),
                                          "pool_size": 5})  # wrong feature dimension
    timer = threading.Timer(0.5, gate.set)
    timer.start()
    got = _hammer(batcher, requests, nthreads=10)
    timer.join()
    batcher.close()
    assert batcher.calls < batcher.queries  # some calls carried several queries
    for req, res in zip(requests, got):
        want = _direct(index, req)
        assert res[0] == want[0], req
        if want[0] == "ok":
            _same(res[1], want[1])
        else:
            assert res[1] == want[1]
    assert [r[0] for r in got].count("error") == 3


@pytest.mark.parametrize("leader", ["caller", "thread"])
def test_asyncio_face(index, leader):
    q = _codes(7, 50)

    async def main():
        batcher = Batcher(index, leader=leader)
        knn = [batcher.asearch(q[i], 5) for i in range(50)]
        rng = [batcher.arange_search(q[i:i + 2], 4) for i in range(0, 50, 2)]
        res = await asyncio.gather(*knn, *rng)
        with pytest.raises(ValueError, match="k must be positive"):
            await batcher.asearch(q[0], 0)
        batcher.close()
        return res

    res = asyncio.run(main())
    for i in range(50):
        _same(res[i], index.search(q[i], 5))
    for j, i in enumerate(range(0, 50, 2)):
        _same(res[50 + j], index.range_search(q[i:i + 2], 4))


def test_arguments_and_close(index):
    with pytest.raises(ValueError, match="max_batch"):
        Batcher(index, max_batch=0)
    with pytest.raises(ValueError, match="max_wait_us"):
        Batcher(index, max_wait_us=-1)
    with pytest.raises(ValueError, match="concurrency"):
        Batcher(index, concurrency=0)
    with pytest.raises(ValueError, match="leader"):
        Batcher(index, leader="main")
    b = Batcher(index)
    _same(b.search(_codes(3, 2), 4), index.search(_codes(3, 2), 4))
    b.close()
    with pytest.raises(RuntimeError, match="closed"):
        b.search(_codes(3, 2), 4)


def test_sync_and_async_callers_share_the_queue(index):
    """Callers in threads and coroutines on one Batcher, while a gated call
    holds the index: the lead passes between callers and a dispatcher thread,
    and everyone gets the direct result."""
    gated, gate = _gated(index)
    batcher = Batcher(gated, concurrency=2)
    q = _codes(9, 40)
    sync_requests = [("search", q[i], 7, {}) for i in range(20)]
    got_async = []

    def run_async():
        async def main():
            return await asyncio.gather(*[batcher.asearch(q[20 + i], 7) for i in range(20)])
        got_async.extend(asyncio.run(main()))

    loop_thread = threading.Thread(target=run_async)
    loop_thread.start()
    timer = threading.Timer(0.3, gate.set)
    timer.start()
    got = _hammer(batcher, sync_requests, nthreads=6)
    loop_thread.join(timeout=60)
    timer.join()
    batcher.close()
    for req, res in zip(sync_requests, got):
        assert res[0] == "ok"
        _same(res[1], index.search(req[1], 7))
    assert len(got_async) == 20
    for i, res in enumerate(got_async):
        _same(res, index.search(q[20 + i], 7))


@pytest.mark.parametrize("leader", ["caller", "thread"])
def test_an_interrupted_leader_fails_its_batch_and_passes_the_lead(index, leader):
    """A BaseException (not an Exception) in a leader's (or dispatcher
    thread's) call reaches the callers of that batch; the queue goes on
    being served."""
    state = {"calls": 0}

    class Interrupting:
        nbits = index.nbits

        def search(self, q, k, **kw):
            state["calls"] += 1
            if state["calls"] == 2:  # the first batched call (the first call is direct)
                raise KeyboardInterrupt
            time.sleep(0.01)
            return index.search(q, k, **kw)

    batcher = Batcher(Interrupting(), leader=leader)
    q = _codes(11, 24)
    out = [None] * 24
    start = threading.Barrier(8)

    def worker(t):
        start.wait()
        for i in range(t, 24, 8):
            try:
                out[i] = ("ok", batcher.search(q[i], 3))
            except KeyboardInterrupt:
                out[i] = ("interrupted", None)

    threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads)  # nobody hangs
    kinds = [o[0] for o in out]
    assert "interrupted" in kinds and "ok" in kinds
    for i, o in enumerate(out):
        if o[0] == "ok":
            _same(o[1], index.search(q[i], 3))
