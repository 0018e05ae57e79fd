"""Shared pieces of the ``hamsearch serve`` JSON API tests (``tests/test_serve_api_*.py``):
FastAPI's TestClient (a module importing this one is skipped without the serve
extra), a service over 300 codes with many exact ties and its ``svc`` /
``client`` fixtures, raw JSON bodies, the table of bad requests (also sent to
the sharded service by ``tests/test_serve_sharded.py``) and the demo service
with its PNG uploads."""

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

from hamsearch.serve import IndexService, ServeConfig, create_app  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from serve_helpers import AUTH, TOKEN, random_codes, to_hex  # noqa: E402


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
