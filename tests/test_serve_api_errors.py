"""``hamsearch serve``'s JSON API: every refused input (a table: status, field,
message; the index unchanged), refused image uploads, and the request limits
(batch size, a chunked body over the size limit)."""

from __future__ import annotations

import io
import json
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import serve_api_helpers as api  # noqa: E402
from serve_api_helpers import BAD, _demo_client, _json, _png  # noqa: E402
from serve_helpers import AUTH, index_state, random_codes, to_hex  # noqa: E402

svc, client = api.svc, api.client  # the shared fixtures


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
