"""``hamsearch serve`` as a real uvicorn process on 127.0.0.1: concurrent
searchers while writers add, upsert and remove; every answer checked
against a model of the acknowledged writes; zero 5xx; then ``kill -9``
during writes and a restart that has every acknowledged write.  Also
SIGTERM (drain, save, exit) and SIGHUP (reload while serving).

Bounded: ``HAMSEARCH_SERVE_LOAD_SECONDS`` (default 10) of load, request
timeouts of 20 s, every server killed in ``finally``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")

import hamsearch

sys.path.insert(0, os.path.dirname(__file__))
from serve_helpers import AUTH, TOKEN, ServerProcess, random_codes, to_hex  # noqa: E402

SECONDS = float(os.environ.get("HAMSEARCH_SERVE_LOAD_SECONDS", "10"))
NBITS = 64
N_STABLE = 3000
CHURN_BASE = 1_000_000
N_CHURN = 40_000
TIMEOUT = 20.0


class Model:
    """What the writers were told: per churn id, when its add and remove were
    sent and acknowledged (ids are never reused, so each has one life)."""

    def __init__(self):
        self.add_sent = np.full(N_CHURN, np.inf)
        self.add_ack = np.full(N_CHURN, np.inf)
        self.rm_sent = np.full(N_CHURN, np.inf)
        self.rm_ack = np.full(N_CHURN, np.inf)

    def surely_live(self, t0, t1):
        """Churn slots live for the whole of [t0, t1]."""
        return (self.add_ack < t0) & (self.rm_sent > t1)

    def surely_absent(self, t0):
        return self.rm_ack < t0


def _token_file(tmp_path):
    f = tmp_path / "token"
    f.write_text(TOKEN + "\n")
    return str(f)


def _post(client, method, path, body):
    r = client.request(method, path, json=body, headers=AUTH, timeout=TIMEOUT)
    return r.status_code, (r.json() if r.headers.get("content-type", "").startswith(
        "application/json") else None)


def _preload(url, stable):
    with httpx.Client(base_url=url) as c:
        for s in range(0, len(stable), 1000):
            st, body = _post(c, "POST", "/v1/codes",
                             {"codes": to_hex(stable[s:s + 1000]),
                              "ids": list(range(s, min(len(stable), s + 1000)))})
            assert st == 200, body


class Writer(threading.Thread):
    """Adds new churn ids, upserts live ones (same code), removes some; records times."""

    def __init__(self, url, model, codes, slots, deadline, seed, errors, snapshots=False):
        super().__init__(daemon=True)
        self.url, self.model, self.codes, self.deadline = url, model, codes, deadline
        self.slots = list(slots)
        self.rng = np.random.default_rng(seed)
        self.errors = errors
        self.live: list = []
        self.snapshots = snapshots
        self.ops = 0

    def run(self):
        m, rng = self.model, self.rng
        next_snap = time.monotonic() + 2.0
        with httpx.Client(base_url=self.url) as c:
            while time.monotonic() < self.deadline and self.slots:
                op = rng.random()
                try:
                    if op < 0.55 or len(self.live) < 20:
                        n = int(rng.integers(1, 20))
                        take, self.slots = self.slots[:n], self.slots[n:]
                        idx = np.array(take)
                        m.add_sent[idx] = time.monotonic()
                        mode = "add" if rng.random() < 0.5 else "upsert"
                        st, body = _post(c, "POST", "/v1/codes", {
                            "codes": to_hex(self.codes[idx]), "ids": (idx + CHURN_BASE).tolist(),
                            "mode": mode})
                        if st != 200:
                            self.errors.append(("add", st, body))
                            return
                        m.add_ack[idx] = time.monotonic()
                        self.live.extend(take)
                    elif op < 0.70:
                        pick = rng.choice(len(self.live), size=min(5, len(self.live)),
                                          replace=False)
                        idx = np.array([self.live[i] for i in pick])
                        st, body = _post(c, "POST", "/v1/codes", {
                            "codes": to_hex(self.codes[idx]), "ids": (idx + CHURN_BASE).tolist()})
                        if st != 200 or body["replaced"] != len(idx):
                            self.errors.append(("upsert", st, body))
                            return
                    else:
                        pick = set(rng.choice(len(self.live), size=min(8, len(self.live)),
                                              replace=False).tolist())
                        idx = np.array([self.live[i] for i in pick])
                        self.live = [s for i, s in enumerate(self.live) if i not in pick]
                        m.rm_sent[idx] = time.monotonic()
                        st, body = _post(c, "DELETE", "/v1/codes",
                                         {"ids": (idx + CHURN_BASE).tolist()})
                        if st != 200 or body["removed"] != len(idx):
                            self.errors.append(("remove", st, body))
                            return
                        m.rm_ack[idx] = time.monotonic()
                    if self.snapshots and time.monotonic() > next_snap:
                        st, body = _post(c, "POST", "/v1/snapshot", None)
                        if st != 200:
                            self.errors.append(("snapshot", st, body))
                            return
                        next_snap = time.monotonic() + 2.0
                    self.ops += 1
                except httpx.HTTPError:  # the server died (the kill -9 phase)
                    return


class Searcher(threading.Thread):
    """k-NN and range queries; keeps (t0, t1, kind, queries, param, results, latency)."""

    def __init__(self, url, pool, deadline, seed, errors):
        super().__init__(daemon=True)
        self.url, self.pool, self.deadline = url, pool, deadline
        self.rng = np.random.default_rng(seed)
        self.errors = errors
        self.log: list = []

    def run(self):
        rng = self.rng
        with httpx.Client(base_url=self.url) as c:
            while time.monotonic() < self.deadline:
                nq = int(rng.integers(1, 4))
                q = self.pool[rng.integers(0, len(self.pool), nq)]
                if rng.random() < 0.8:
                    kind, param = "knn", int(rng.integers(1, 40))
                    body = {"codes": to_hex(q), "k": param}
                    path = "/v1/search"
                else:
                    kind, param = "range", int(rng.integers(0, 12))
                    body = {"codes": to_hex(q), "radius": param}
                    path = "/v1/range"
                t0 = time.monotonic()
                try:
                    st, res = _post(c, "POST", path, body)
                except httpx.HTTPError as exc:
                    self.errors.append((kind, "transport", repr(exc)))
                    return
                t1 = time.monotonic()
                if st != 200:
                    self.errors.append((kind, st, res))
                    return
                self.log.append((t0, t1, kind, q, param, res["results"]))


def _check_results(logs, stable, churn, model):
    """Every answer exact against the model; returns the number checked."""
    all_codes = np.concatenate([stable, churn])
    all_ids = np.concatenate([np.arange(N_STABLE), CHURN_BASE + np.arange(N_CHURN)])
    slot_of = {int(i): j for j, i in enumerate(all_ids)}
    checked = 0
    for t0, t1, kind, q, param, results in logs:
        live = np.concatenate([np.ones(N_STABLE, bool), model.surely_live(t0, t1)])
        absent = np.concatenate([np.zeros(N_STABLE, bool), model.surely_absent(t0)])
        sent = np.concatenate([np.ones(N_STABLE, bool), model.add_sent < t1])
        D = hamsearch.hamming_distances(q, all_codes, NBITS)
        for qi, row in enumerate(results):
            slots = [slot_of.get(h["id"], -1) for h in row]
            assert min(slots, default=0) >= 0, ("unknown id", row)
            got = [(h["distance"], h["id"]) for h in row]
            assert got == sorted(got), ("not sorted by (distance, id)", row)
            assert len(set(h["id"] for h in row)) == len(row), ("an id twice", row)
            for s, h in zip(slots, row):
                assert D[qi, s] == h["distance"], ("wrong distance", h)
                assert sent[s] and not absent[s], ("id not live", h, kind)
            d = D[qi]
            if kind == "knn":
                if len(row) < param:  # fewer than k: every surely-live code is there
                    must = live
                else:
                    last = (row[-1]["distance"], row[-1]["id"])
                    must = live & ((d < last[0]) | ((d == last[0]) & (all_ids < last[1])))
            else:
                must = live & (d <= param)
                assert all(h["distance"] <= param for h in row)
            missing = set(all_ids[must].tolist()) - {h["id"] for h in row}
            assert not missing, (kind, param, "missed", sorted(missing)[:5])
            checked += 1
    return checked


def _present(url, ids, codes):
    """Which of ``ids`` the server holds with exactly ``codes`` (range radius 0)."""
    found = set()
    with httpx.Client(base_url=url) as c:
        for s in range(0, len(ids), 1000):
            st, body = _post(c, "POST", "/v1/range", {"codes": to_hex(codes[s:s + 1000]),
                                                      "radius": 0})
            assert st == 200, body
            for i, row in zip(ids[s:s + 1000], body["results"]):
                if any(h["id"] == i for h in row):
                    found.add(int(i))
    return found


def _percentiles(logs):
    lat = np.array([t1 - t0 for t0, t1, *_ in logs])
    return np.percentile(lat, 50) * 1e3, np.percentile(lat, 99) * 1e3


@pytest.mark.slow
def test_load_then_kill9_keeps_every_acknowledged_write(tmp_path):
    tok = _token_file(tmp_path)
    directory = str(tmp_path / "ix")
    stable = random_codes(100, N_STABLE)
    stable[1000:1300] = stable[:300]  # exact duplicates: ties everywhere
    churn = random_codes(101, N_CHURN)
    churn[:2000] = stable[:2000] ^ np.uint8(1)  # near stable codes
    pool = np.concatenate([stable[:500], churn[:3000], random_codes(102, 500)])
    model = Model()
    server = ServerProcess(["--index", directory, "--nbits", str(NBITS), "--fsync", "always"],
                           tok)
    try:
        server.wait_ready()
        _preload(server.url, stable)
        errors: list = []
        deadline = time.monotonic() + SECONDS
        slots = np.random.default_rng(5).permutation(N_CHURN // 2)  # phase 1 half
        writers = [Writer(server.url, model, churn, slots[w::2], deadline, 10 + w, errors,
                          snapshots=(w == 0)) for w in range(2)]
        searchers = [Searcher(server.url, pool, deadline, 20 + s, errors) for s in range(4)]
        t_start = time.monotonic()
        for t in writers + searchers:
            t.start()
        for t in writers + searchers:
            t.join(SECONDS + 3 * TIMEOUT)
            assert not t.is_alive(), "a client thread hung"
        elapsed = time.monotonic() - t_start
        assert not errors, errors[:3]
        logs = [e for s in searchers for e in s.log]
        n_writes = sum(w.ops for w in writers)
        assert len(logs) > 50 and n_writes > 20, (len(logs), n_writes)
        checked = _check_results(logs, stable, churn, model)
        p50, p99 = _percentiles(logs)
        print(f"\nload: {len(logs)} searches ({len(logs) / elapsed:.0f}/s, p50 {p50:.1f} ms, "
              f"p99 {p99:.1f} ms) and {n_writes} writes in {elapsed:.1f} s; {checked} answers "
              "exact, zero 5xx")

        # quiet now: the state is exactly the acknowledged writes
        live_model = (model.add_ack < np.inf) & (model.rm_ack == np.inf)
        added = np.flatnonzero(model.add_ack < np.inf)
        present = _present(server.url, (CHURN_BASE + added).tolist(), churn[added])
        assert present == set((CHURN_BASE + np.flatnonzero(live_model)).tolist())
        with httpx.Client(base_url=server.url) as c:
            st = c.get("/v1/stats", headers=AUTH).json()
        assert st["ntotal"] == N_STABLE + int(live_model.sum())

        # kill -9 in the middle of writes
        errors.clear()
        deadline = time.monotonic() + 60
        slots2 = np.arange(N_CHURN // 2, N_CHURN)
        writers = [Writer(server.url, model, churn, slots2[w::3], deadline, 30 + w, errors)
                   for w in range(3)]
        for w in writers:
            w.start()
        time.sleep(min(3.0, SECONDS / 3))
        server.kill9()
        for w in writers:
            w.join(TIMEOUT + 5)
            assert not w.is_alive()
        assert not errors, errors[:3]
    finally:
        server.stop(signal.SIGKILL)

    again = ServerProcess(["--index", directory], tok)
    try:
        again.wait_ready()
        sent = np.flatnonzero(model.add_sent < np.inf)
        present = _present(again.url, (CHURN_BASE + sent).tolist(), churn[sent])
        must = (model.add_ack < np.inf) & (model.rm_sent == np.inf)
        gone = model.rm_ack < np.inf
        must_ids = set((CHURN_BASE + np.flatnonzero(must)).tolist())
        assert must_ids <= present, ("acknowledged adds lost", sorted(must_ids - present)[:5])
        lost_rm = present & set((CHURN_BASE + np.flatnonzero(gone)).tolist())
        assert not lost_rm, ("acknowledged removes undone", sorted(lost_rm)[:5])
        assert _present(again.url, list(range(N_STABLE)), stable) == set(range(N_STABLE))
        unsure = int(((model.add_sent < np.inf) & (model.add_ack == np.inf)).sum()
                     + ((model.rm_sent < np.inf) & (model.rm_ack == np.inf)).sum())
        print(f"kill -9: {len(must_ids)} acknowledged churn codes present after restart, "
              f"{int(gone.sum())} acknowledged removes stayed removed, {unsure} in flight")
        with httpx.Client(base_url=again.url) as c:
            ntotal = c.get("/v1/stats", headers=AUTH).json()["ntotal"]
        assert N_STABLE + len(must_ids) <= ntotal <= N_STABLE + len(must_ids) + unsure
    finally:
        again.stop(signal.SIGKILL)


def _search_until(url, stop, statuses, codes):
    with httpx.Client(base_url=url) as c:
        while not stop.is_set():
            try:
                r = c.post("/v1/search", json={"codes": to_hex(codes), "k": 5}, headers=AUTH,
                           timeout=TIMEOUT)
                statuses.append(r.status_code)
            except httpx.HTTPError:
                statuses.append("closed")  # after the server stopped listening
                time.sleep(0.02)


def _wait_for_answers(statuses, n, timeout=60.0):
    """Until the searchers have had ``n`` answers (the first search may JIT-compile)."""
    deadline = time.monotonic() + timeout
    while statuses.count(200) < n:
        assert time.monotonic() < deadline, statuses[:10]
        time.sleep(0.05)


def test_sigterm_drains_saves_and_exits(tmp_path):
    tok = _token_file(tmp_path)
    directory = str(tmp_path / "ix")
    server = ServerProcess(["--index", directory, "--nbits", str(NBITS)], tok)
    codes = random_codes(7, 2500)
    try:
        server.wait_ready()
        _preload(server.url, codes)
        with httpx.Client(base_url=server.url) as c:
            _post(c, "DELETE", "/v1/codes", {"ids": [3, 4]})
        stop, statuses = threading.Event(), []
        threads = [threading.Thread(target=_search_until, args=(server.url, stop, statuses,
                                                                codes[:2]))
                   for _ in range(3)]
        for t in threads:
            t.start()
        _wait_for_answers(statuses, 6)
        rc = server.stop(signal.SIGTERM, timeout=60)
        stop.set()
        for t in threads:
            t.join(TIMEOUT + 5)
    finally:
        server.stop(signal.SIGKILL)
    # uvicorn re-raises the signal once it has shut down: the exit is 'by SIGTERM'
    assert rc in (0, -signal.SIGTERM), server.log()
    assert "saved 2498 codes" in server.log()
    assert statuses.count(200) > 3
    assert set(statuses) <= {200, "closed"}, set(statuses)
    saved = hamsearch.load(directory)  # the manifest alone: the shutdown saved everything
    assert len(saved) == 2498 and 3 not in saved and 2499 in saved
    np.testing.assert_array_equal(saved.reconstruct([0, 2499]), codes[[0, 2499]])


def test_sighup_reloads_without_dropping_requests(tmp_path):
    tok = _token_file(tmp_path)
    src = hamsearch.Index(NBITS)
    new_codes = random_codes(8, 4000)
    src.add(new_codes, ids=np.arange(50_000, 54_000))
    src.save(str(tmp_path / "new.hsx"))
    directory = str(tmp_path / "ix")
    server = ServerProcess(["--index", directory, "--nbits", str(NBITS), "--reload-from",
                            str(tmp_path / "new.hsx")], tok)
    try:
        server.wait_ready()
        _preload(server.url, random_codes(9, 1000))
        stop, statuses = threading.Event(), []
        threads = [threading.Thread(target=_search_until, args=(server.url, stop, statuses,
                                                                new_codes[:1]))
                   for _ in range(3)]
        for t in threads:
            t.start()
        _wait_for_answers(statuses, 6)
        server.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        with httpx.Client(base_url=server.url) as c:
            while c.get("/v1/stats", headers=AUTH).json()["reloads"] < 1:
                assert time.monotonic() < deadline, server.log()
                time.sleep(0.05)
            time.sleep(0.3)
            stop.set()
            for t in threads:
                t.join(TIMEOUT + 5)
            st, body = _post(c, "POST", "/v1/search", {"codes": to_hex(new_codes[:1]), "k": 1})
            assert body["results"][0][0] == {"id": 50_000, "distance": 0}
            assert c.get("/v1/stats", headers=AUTH).json()["ntotal"] == 4000
        assert statuses.count(200) > 3 and set(statuses) == {200}, set(statuses)
        assert server.proc.poll() is None
    finally:
        server.stop(signal.SIGKILL)


def test_accepted_connections_have_tcp_nodelay():
    """The server's own socket must say it is TCP, or asyncio leaves Nagle on
    for every connection (keep-alive requests then wait ~40 ms for delayed ACKs)."""
    import asyncio
    import socket

    from hamsearch.serve.server import bind

    async def main():
        seen = asyncio.get_running_loop().create_future()

        class Proto(asyncio.Protocol):
            def connection_made(self, transport):
                s = transport.get_extra_info("socket")
                seen.set_result(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        sock = bind("127.0.0.1", 0)
        server = await asyncio.get_running_loop().create_server(Proto, sock=sock)
        port = sock.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        value = await asyncio.wait_for(seen, 10)
        writer.close()
        server.close()
        await server.wait_closed()
        return value

    assert asyncio.run(main()) != 0
