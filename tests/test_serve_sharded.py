"""``hamsearch serve`` over a Ray sharded index (:class:`hamsearch.distributed.ShardedIndex`).

A real local Ray cluster (``ray.init(num_cpus=2)``, started by the module and
shut down after it) and FastAPI's TestClient: every request is sent to a
2-shard service and to a single-directory service holding the same codes,
and the answers must be identical (ids, distances, ties by id, the 4xx
status, field and message of every bad request); the single service's
:class:`hamsearch.Index` is the reference for the results.  Then the writes
acknowledged over HTTP survive close + reopen (only the shards' logs, and
after a checkpoint), and ``hamsearch serve --sharded`` runs as a real
process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed "
                                      "(pip install 'hamsearch[serve]')")
pytest.importorskip("httpx", reason="the serve extra is not installed (httpx for TestClient)")
ray = pytest.importorskip("ray", reason="hamsearch[ray] is not installed (pip install ray)")
warnings.filterwarnings("ignore", message=".*httpx.*", category=DeprecationWarning)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

import hamsearch  # noqa: E402
from hamsearch.serve import IndexService, ServeConfig, create_app  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from serve_helpers import AUTH, ENV, ROOT, TOKEN, ServerProcess, random_codes, to_hex  # noqa: E402
from serve_api_helpers import BAD, _json  # noqa: E402  (the single-index table of bad requests)

NBITS = 64
NB = NBITS // 8
DIM = 4
_CENTRES = np.random.default_rng(11).integers(0, 256, (3, NB), dtype=np.uint8)
_CONFIG = {"token": TOKEN, "max_batch": 50, "max_k": 100, "max_range_results": 500,
           "max_body_bytes": 64 << 10}


@pytest.fixture(scope="module", autouse=True)
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _codes(seed: int, n: int) -> np.ndarray:
    """Codes around a few centres, few bits flipped: many distance ties."""
    rng = np.random.default_rng(seed)
    base = _CENTRES[rng.integers(0, len(_CENTRES), n)]
    flips = rng.integers(0, 256, (n, NB), dtype=np.uint8) & rng.integers(0, 256, (n, NB),
                                                                          dtype=np.uint8)
    return base ^ (flips & np.uint8(0x21))


def _features(seed: int, n: int) -> list:
    # few distinct values: feature-score ties too
    return np.random.default_rng(seed).integers(-2, 3, (n, DIM)).astype(float).tolist()


def _sharded(root, fsync: str = "never", **config) -> IndexService:
    return IndexService.sharded(str(root), NBITS, num_shards=2,
                                config=ServeConfig(**{**_CONFIG, **config}), fsync=fsync,
                                num_cpus=0.01)


def _single(directory, **config) -> IndexService:
    return IndexService(str(directory), NBITS, config=ServeConfig(**{**_CONFIG, **config}),
                        fsync="never")


class Pair:
    """The same requests to a sharded and a single-directory service."""

    def __init__(self, sharded: IndexService, single: IndexService):
        self.sharded, self.single = sharded, single
        self.clients = [TestClient(create_app(sharded)), TestClient(create_app(single))]

    def both(self, method: str, path: str, body=None, status: int = 200):
        """Both answers (status and JSON) must be equal; returns the JSON."""
        answers = []
        for client in self.clients:
            if body is None:
                r = client.request(method, path, headers=AUTH)
            else:
                data, headers = _json(body)
                r = client.request(method, path, content=data, headers=headers)
            answers.append((r.status_code, r.json()))
        assert answers[0] == answers[1], (method, path, body)
        assert answers[0][0] == status, answers[0]
        return answers[0][1]

    def close(self) -> None:
        self.sharded.close(save=False)
        self.single.close(save=False)


@pytest.fixture
def pair(tmp_path):
    p = Pair(_sharded(tmp_path / "sharded"), _single(tmp_path / "single"))
    yield p
    p.close()


def _expected(index, q: np.ndarray, k: int, flt=None) -> list:
    """``Index.search``'s answer in the JSON shape (padding dropped)."""
    D, I = index.search(q, k, filter=flt)
    return [[{"id": int(i), "distance": int(d)} for d, i in zip(dr, ir) if i >= 0]
            for dr, ir in zip(D, I)]


def _expected_range(index, q: np.ndarray, radius: int, flt=None) -> list:
    lims, D, I = index.range_search(q, radius, filter=flt)
    return [[{"id": int(I[j]), "distance": int(D[j])} for j in range(lims[i], lims[i + 1])]
            for i in range(len(q))]


def sharded_state(service: IndexService) -> tuple:
    """Everything a write could change on a sharded index: each shard's log
    position, and every stored id with its code (and features)."""
    index = service.index
    st = index.stats()
    lims, _, I = index.range_search(np.zeros((1, NB), np.uint8), NBITS)
    ids = np.sort(I)
    codes = index.reconstruct(ids).tobytes() if ids.size else b""
    feats = b""
    if index.features_dim is not None and ids.size:
        feats = index.reconstruct_features(ids).tobytes()
    return [s["wal_seq"] for s in st["shards"]], ids.tobytes(), codes, feats


def _stats_part(st: dict) -> dict:
    return {k: st[k] for k in ("ntotal", "rows", "deleted", "features_dim", "nbits")}


# ------------------------------------------------------------------ results
def test_import_does_not_start_ray_and_a_directory_is_not_sharded(tmp_path):
    code = ("import sys, hamsearch.serve, hamsearch.serve.app, hamsearch.cli.serve\n"
            "from hamsearch.serve import IndexService\n"
            f"s = IndexService({str(tmp_path / 'plain')!r}, 64)\n"
            "assert not s.is_sharded and 'ray' not in sys.modules, sorted(sys.modules)\n"
            "s.close()\n")
    r = subprocess.run([sys.executable, "-c", code], env=ENV, cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_sharded_service_answers_as_the_single_index(pair):
    codes, feats = _codes(0, 240), _features(1, 240)
    for svc in (pair.sharded, pair.single):
        svc.index.add(codes, features=np.asarray(feats, np.float32))
    q = np.concatenate([codes[:6], _codes(2, 6)])
    hexq = to_hex(q)
    ref = pair.single.index
    assert pair.sharded.is_sharded and not pair.single.is_sharded

    # k-NN, filtered, k past the index size
    assert pair.both("POST", "/v1/search", {"codes": hexq, "k": 10})["results"] == \
        _expected(ref, q, 10)
    allow = list(range(0, 240, 3))
    got = pair.both("POST", "/v1/search", {"codes": hexq, "k": 7, "filter": {"allow": allow}})
    assert got["results"] == _expected(ref, q, 7, hamsearch.IdFilter.allow(allow))
    got = pair.both("POST", "/v1/search", {"codes": hexq, "k": 7, "filter": {"deny": allow}})
    assert got["results"] == _expected(ref, q, 7, hamsearch.IdFilter.deny(allow))
    pair.both("POST", "/v1/search", {"codes": hexq[:2], "k": 100,
                                     "filter": {"allow": [1, 2, 5000]}})
    # range, filtered
    assert pair.both("POST", "/v1/range", {"codes": hexq, "radius": 3})["results"] == \
        _expected_range(ref, q, 3)
    got = pair.both("POST", "/v1/range", {"codes": hexq, "radius": 4,
                                          "filter": {"deny": allow}})
    assert got["results"] == _expected_range(ref, q, 4, hamsearch.IdFilter.deny(allow))
    # hierarchical (pool by size, by radius, inner product)
    qf = _features(3, len(q))
    for extra in ({"pool_size": 30}, {"pool_radius": 3}, {"pool_size": 20, "metric": "ip"}):
        pair.both("POST", "/v1/search", {"codes": hexq, "k": 5, "features": qf, **extra})

    # writes: upsert (2 replaced, 1 new), add conflict, remove, add without ids
    new = to_hex(_codes(4, 3))
    got = pair.both("POST", "/v1/codes", {"codes": new, "ids": [3, 5, 500],
                                          "features": _features(5, 3)})
    assert got == {"ids": [3, 5, 500], "added": 1, "replaced": 2}
    pair.both("POST", "/v1/codes", {"codes": new[:1], "ids": [7], "mode": "add",
                                    "features": _features(6, 1)}, status=409)
    assert pair.both("DELETE", "/v1/codes", {"ids": [1, 2, 3, 9999]}) == {"removed": 3}
    got = pair.both("POST", "/v1/codes", {"codes": new[:2], "features": _features(7, 2)})
    assert got["ids"] == [501, 502]
    assert pair.both("POST", "/v1/search", {"codes": hexq, "k": 12})["results"] == \
        _expected(ref, q, 12)
    assert pair.both("POST", "/v1/range", {"codes": hexq, "radius": 3})["results"] == \
        _expected_range(ref, q, 3)

    # similar (Hamming and re-ranked on the stored features), a removed id
    pair.both("GET", "/v1/items/10/similar?k=8")
    pair.both("GET", "/v1/items/2/similar", status=404)
    # stats
    sts = [c.get("/v1/stats", headers=AUTH).json() for c in pair.clients]
    assert _stats_part(sts[0]) == _stats_part(sts[1])
    assert sts[0]["ntotal"] == len(ref) == 240 + 1 - 3 + 2
    assert sts[0]["sharded"] is True and sts[1]["sharded"] is False
    assert sts[0]["num_shards"] == 2 and len(sts[0]["shards"]) == 2
    for client in pair.clients:
        assert client.get("/metrics", headers=AUTH).status_code == 200


def test_bad_input_gets_the_single_index_4xx_and_changes_no_shard(pair):
    codes = random_codes(0, 300)
    codes[100:150] = codes[0]  # many exact ties (as serve_api_helpers' service)
    for svc in (pair.sharded, pair.single):
        svc.index.add(codes)
    before = sharded_state(pair.sharded)
    for method, path, body, status, field, words in BAD:
        if path == "/v1/reload":
            continue  # refused for another reason on a sharded index: below
        err = pair.both(method, path, body, status=status)["error"]
        assert err["field"] == field and words in err["message"], (path, body, err)
    assert sharded_state(pair.sharded) == before

    client = pair.clients[0]
    r = client.post("/v1/reload", headers=AUTH)
    assert r.status_code == 409 and "not available on a sharded index" in r.text
    assert sharded_state(pair.sharded) == before
    r = client.post("/v1/images/search", files=[("files", ("a.png", b"x", "image/png"))],
                    headers=AUTH)
    assert r.status_code == 409 and "no model" in r.json()["error"]["message"]
    r = client.post("/v1/snapshot", headers=AUTH)  # allowed: a checkpoint of every shard
    assert r.status_code == 200 and r.json()["num_shards"] == 2
    assert sharded_state(pair.sharded)[1:] == before[1:]


def test_sharded_index_verbs_the_service_needs(tmp_path):
    """``reconstruct_features``, ``contains``, ``next_id``, ``features_dim``
    on :class:`ShardedIndex` as on :class:`hamsearch.Index`."""
    from hamsearch.distributed import ShardedIndex

    sx = ShardedIndex(NBITS, 2, root=tmp_path / "verbs", num_cpus=0.01, fsync="never")
    ref = hamsearch.Index(NBITS)
    try:
        errors = []
        for target in (ref, sx):
            with pytest.raises(ValueError) as info:
                target.reconstruct_features([0])
            errors.append(str(info.value))
        assert errors[0] == errors[1] and sx.features_dim is None
        codes, feats = _codes(8, 60), np.asarray(_features(9, 60), np.float32)
        for target in (ref, sx):
            target.add(codes, features=feats)
            target.remove([4, 5])
        ids = [59, 0, 17, 33, 17]
        np.testing.assert_array_equal(sx.reconstruct_features(ids),
                                      ref.reconstruct_features(ids))
        assert sx.reconstruct_features(ids).dtype == ref.reconstruct_features(ids).dtype
        assert sx.features_dim == ref.features_dim == DIM
        assert sx.next_id == ref.snapshot().next_id == 60
        errors = []
        for target in (ref, sx):
            with pytest.raises(KeyError) as info:
                target.reconstruct_features([1, 4])
            errors.append(str(info.value))
        assert errors[0] == errors[1]
        probe = [0, 4, 5, 59, 60, 10**12]
        assert sx.contains(probe).tolist() == [i in ref for i in probe]
        assert sx.contains([]).tolist() == []
    finally:
        sx.close(save=False)


def test_a_shard_that_does_not_answer_is_a_503_naming_it(tmp_path):
    from hamsearch.distributed import shard_of

    svc = IndexService.sharded(str(tmp_path / "down"), NBITS, num_shards=2,
                               config=ServeConfig(**_CONFIG), fsync="never", num_cpus=0.01,
                               timeout=10.0, max_restarts=0)
    try:
        client = TestClient(create_app(svc))
        codes = _codes(12, 30)
        assert client.post("/v1/codes", json={"codes": to_hex(codes)},
                           headers=AUTH).status_code == 200
        # both shards answer once first (kernels compiled and loaded, which
        # takes seconds on the Numba backend), so that the only shard that
        # can miss the deadline is the one killed; a killed actor fails at
        # once, so the deadline does not slow the test down
        for path, body in (("/v1/search", {"codes": to_hex(codes[:2]), "k": 3}),
                           ("/v1/range", {"codes": to_hex(codes[:2]), "radius": 2})):
            assert client.post(path, json=body, headers=AUTH).status_code == 200
        ray.kill(svc.index.actors[1][0], no_restart=True)
        on_1 = [i for i in range(100, 200) if shard_of([i], 2)[0] == 1][:2]  # ids of shard 1
        for method, path, body in (("POST", "/v1/search", {"codes": to_hex(codes[:2]), "k": 3}),
                                   ("POST", "/v1/range", {"codes": to_hex(codes[:2]),
                                                          "radius": 2}),
                                   ("POST", "/v1/codes", {"codes": to_hex(codes[:2]),
                                                          "ids": on_1})):
            r = client.request(method, path, json=body, headers=AUTH)
            assert r.status_code == 503, r.text
            assert "shard 1 is unavailable" in r.json()["error"]["message"]
            assert r.headers["retry-after"] == "1"
    finally:
        svc.close(save=False)  # a dead replica does not stop the others from closing


# ------------------------------------------------------------------ durability
def _load_model(root) -> hamsearch.Index:
    """Every code of a sharded root, read from its shard directories (no Ray)."""
    out = hamsearch.Index(NBITS)
    with open(os.path.join(root, "sharded.json")) as f:
        shards = json.load(f)["num_shards"]
    for s in range(shards):
        part = hamsearch.open(os.path.join(root, f"shard-{s:03d}", "replica-0"), wal=True)
        ids = np.asarray(part.ids)
        if ids.size:
            out.add(part.reconstruct(ids), ids=ids)
        part.close()
    return out


def test_close_and_reopen_keeps_every_acknowledged_write(tmp_path):
    root = tmp_path / "durable"
    svc = _sharded(root, fsync="always")
    ref = hamsearch.Index(NBITS)
    client = TestClient(create_app(svc))

    def post(method, path, body):
        r = client.request(method, path, json=body, headers=AUTH)
        assert r.status_code == 200, r.text
        return r.json()

    codes = _codes(20, 120)
    for start in range(0, 120, 40):  # acknowledged adds, upserts, removes
        got = post("POST", "/v1/codes", {"codes": to_hex(codes[start:start + 40])})
        ref.add(codes[start:start + 40], ids=got["ids"])
    post("POST", "/v1/codes", {"codes": to_hex(codes[:3]), "ids": [50, 51, 700]})
    ref.upsert(codes[:3], [50, 51, 700])
    post("DELETE", "/v1/codes", {"ids": [0, 1, 2, 700]})
    ref.remove([0, 1, 2, 700])
    actors = [a for replicas in svc.index.actors for a in replicas]
    assert svc.close(save=False) is None  # no checkpoint: only the shards' logs hold them
    for actor in actors:  # the shard actors are stopped
        with pytest.raises(ray.exceptions.RayActorError):
            ray.get(actor.ping.remote(), timeout=10)
    r = client.post("/v1/search", json={"codes": to_hex(codes[:1]), "k": 1}, headers=AUTH)
    assert r.status_code == 503 and "shut down" in r.json()["error"]["message"]

    q = codes[::7]
    svc = IndexService(str(root), config=ServeConfig(**_CONFIG), num_cpus=0.01)  # detected
    try:
        assert svc.is_sharded and len(svc.index) == len(ref) == 117
        client = TestClient(create_app(svc))
        assert post("POST", "/v1/search", {"codes": to_hex(q), "k": 9})["results"] == \
            _expected(ref, q, 9)
        got = post("POST", "/v1/codes", {"codes": to_hex(codes[3:5])})  # ids go on
        assert got["ids"] == [701, 702]
        ref.add(codes[3:5], ids=[701, 702])
        assert svc.close() == len(ref)  # checkpointed
    finally:
        svc.close(save=False)
    with pytest.raises(ValueError, match="--shards 3"):
        IndexService.sharded(str(root), num_shards=3)
    model = _load_model(str(root))
    assert sorted(model.ids) == sorted(ref.ids)
    assert _expected(model, q, 9) == _expected(ref, q, 9)


# ------------------------------------------------------------------ command line
def test_cli_refuses_what_a_sharded_index_cannot_do(tmp_path, capsys):
    from hamsearch.cli import main

    sharded_root = tmp_path / "root"
    sharded_root.mkdir()
    (sharded_root / "sharded.json").write_text("{}")
    tok = tmp_path / "tok"
    tok.write_text(TOKEN)
    cases = [
        (["--sharded", str(sharded_root), "--reload-from", "x"], "reload is not available"),
        (["--index", str(sharded_root), "--demo", "digits"], "--demo"),
        (["--index", str(sharded_root), "--sharded", str(sharded_root)], "not both"),
        (["--index", str(tmp_path / "plain"), "--shards", "3"], "--shards applies"),
        (["--sharded", str(tmp_path / "new"), "--shards", "0"], "--shards must be"),
    ]
    for args, words in cases:
        assert main(["serve", "--token-file", str(tok), *args]) == 1, args
        assert words in capsys.readouterr().err, args
    assert not (tmp_path / "plain").exists() and not (tmp_path / "new").exists()


def test_serve_command_on_a_sharded_root(tmp_path):
    httpx = pytest.importorskip("httpx")
    tok = tmp_path / "tok"
    tok.write_text(TOKEN)
    root = str(tmp_path / "cli")
    server = ServerProcess(["--sharded", root, "--nbits", str(NBITS), "--shards", "2",
                            "--shard-cpus", "0.01"], str(tok))
    codes = _codes(30, 50)
    try:
        server.wait_ready(timeout=90)
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as c:
            r = c.post("/v1/codes", json={"codes": to_hex(codes)})
            assert r.status_code == 200 and r.json()["ids"] == list(range(50)), r.text
            r = c.request("DELETE", "/v1/codes", json={"ids": [7]})
            assert r.json() == {"removed": 1}
            r = c.post("/v1/search", json={"codes": to_hex(codes[:1]), "k": 1})
            assert r.json()["results"] == [[{"id": 0, "distance": 0}]]
            assert c.get("/v1/stats").json()["num_shards"] == 2
            assert c.post("/v1/reload").status_code == 409
        rc = server.stop(signal.SIGTERM, timeout=60)
    finally:
        server.stop(signal.SIGKILL)
    assert rc in (0, -signal.SIGTERM), server.log()
    assert "saved 49 codes" in server.log()
    model = _load_model(root)
    assert sorted(model.ids) == [i for i in range(50) if i != 7]
