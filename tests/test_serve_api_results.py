"""``hamsearch serve``'s JSON API: exactness against :class:`hamsearch.Index` --
k-NN with ties by ascending id, hex and base64 codes, filters, range search,
add / upsert / delete, hierarchical (features) search."""

from __future__ import annotations

import base64
import os
import sys

import numpy as np

import hamsearch

sys.path.insert(0, os.path.dirname(__file__))
import serve_api_helpers as api  # noqa: E402
from serve_api_helpers import GOOD, N0, TestClient, _service, create_app  # noqa: E402
from serve_helpers import AUTH, hamming, index_state, random_codes, to_hex  # noqa: E402

svc, client = api.svc, api.client  # the shared fixtures


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
