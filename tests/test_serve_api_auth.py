"""``hamsearch serve``'s JSON API: auth -- every route in a matrix of reads,
writes and open routes, each sent a missing, malformed and wrong token (401,
nothing changed) and the right one; ``--public-read``; no token (writes
disabled); the token from a file or the environment."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import hamsearch

sys.path.insert(0, os.path.dirname(__file__))
from serve_api_helpers import (  # noqa: E402
    GOOD, N0, NBITS, ServeConfig, TestClient, _png, _service, create_app)
from serve_helpers import AUTH, TOKEN, index_state, random_codes  # noqa: E402


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
