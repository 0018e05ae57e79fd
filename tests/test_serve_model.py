"""A state machine of ``hamsearch serve`` (TestClient): random adds, upserts,
removes, malformed requests, snapshots and restarts against a dict model of
the acknowledged writes; every search checked against brute force on the
model (ties by ascending id)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import warnings

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import settings, strategies as st  # noqa: E402
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from hamsearch.serve import IndexService, ServeConfig, create_app  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from serve_helpers import AUTH, TOKEN  # noqa: E402

NBITS = 16  # short codes: many ties
CONFIG = ServeConfig(token=TOKEN, max_batch=64)
codes_st = st.lists(st.integers(0, 2 ** NBITS - 1), min_size=0, max_size=12)
ids_st = st.integers(0, 60)


def _hex(v: int) -> str:
    return int(v).to_bytes(2, "little").hex()


def _dist(a: int, b: int) -> int:
    return bin(a ^ b).count("1")


class ServeMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.tmp = tempfile.mkdtemp(prefix="hamsearch-serve-model-")
        self.dir = os.path.join(self.tmp, "ix")
        self.model: dict = {}
        self.next_id = 0
        self._open()

    def _open(self):
        self.svc = IndexService(self.dir, NBITS, config=CONFIG, fsync="never",
                                segment_rows=16, background_merges=False)
        self.client = TestClient(create_app(self.svc))

    def teardown(self):
        self.svc.close(save=False)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _post(self, method, path, body):
        return self.client.request(method, path, json=body, headers=AUTH)

    @rule(values=codes_st)
    def add_new(self, values):
        r = self._post("POST", "/v1/codes", {"codes": [_hex(v) for v in values]})
        assert r.status_code == 200, r.text
        ids = r.json()["ids"]
        assert ids == list(range(self.next_id, self.next_id + len(values)))
        for i, v in zip(ids, values):
            self.model[i] = v
        if values:
            self.next_id = ids[-1] + 1

    @rule(data=st.data())
    def upsert(self, data):
        ids = data.draw(st.lists(ids_st, max_size=8, unique=True))
        values = data.draw(st.lists(st.integers(0, 2 ** NBITS - 1), min_size=len(ids),
                                    max_size=len(ids)))
        r = self._post("POST", "/v1/codes", {"codes": [_hex(v) for v in values], "ids": ids})
        assert r.status_code == 200, r.text
        assert r.json()["replaced"] == sum(i in self.model for i in ids)
        for i, v in zip(ids, values):
            self.model[i] = v
        if ids:
            self.next_id = max(self.next_id, max(ids) + 1)

    @rule(i=ids_st, v=st.integers(0, 2 ** NBITS - 1))
    def add_mode_refuses_present_ids(self, i, v):
        r = self._post("POST", "/v1/codes", {"codes": [_hex(v)], "ids": [i], "mode": "add"})
        if i in self.model:
            assert r.status_code == 409 and r.json()["error"]["field"] == "ids"
        else:
            assert r.status_code == 200
            self.model[i] = v
            self.next_id = max(self.next_id, i + 1)

    @rule(ids=st.lists(ids_st, max_size=10))
    def remove(self, ids):
        r = self._post("DELETE", "/v1/codes", {"ids": ids})
        assert r.status_code == 200
        assert r.json()["removed"] == len(set(ids) & set(self.model))
        for i in ids:
            self.model.pop(i, None)

    @rule(bad=st.sampled_from([
        {"codes": ["zzzz"]}, {"codes": ["abc"]}, {"codes": ["abcd"], "ids": [1, 2]},
        {"codes": ["abcd", "abcd"], "ids": [3, 3]}, {"codes": ["abcd"], "ids": [-4]},
        {"codes": ["abcd"], "features": [[1.0], [2.0]]}, {"codes": ["abcd"], "x": 1},
        {"codes": ["abcd"] * 65}]))
    def malformed_write(self, bad):
        r = self._post("POST", "/v1/codes", bad)
        assert 400 <= r.status_code < 500 and r.json()["error"]["message"]

    @rule(qs=st.lists(st.integers(0, 2 ** NBITS - 1), min_size=1, max_size=4),
          k=st.integers(1, 30))
    def search(self, qs, k):
        r = self._post("POST", "/v1/search", {"codes": [_hex(q) for q in qs], "k": k})
        assert r.status_code == 200
        for q, row in zip(qs, r.json()["results"]):
            want = sorted((_dist(q, v), i) for i, v in self.model.items())[:k]
            assert [(h["distance"], h["id"]) for h in row] == want

    @rule(q=st.integers(0, 2 ** NBITS - 1), radius=st.integers(0, 6))
    def range_search(self, q, radius):
        r = self._post("POST", "/v1/range", {"codes": [_hex(q)], "radius": radius})
        want = sorted((_dist(q, v), i) for i, v in self.model.items() if _dist(q, v) <= radius)
        assert [(h["distance"], h["id"]) for h in r.json()["results"][0]] == want

    @rule()
    def snapshot(self):
        assert self._post("POST", "/v1/snapshot", None).status_code == 200

    @rule(save=st.booleans())
    def restart(self, save):
        self.svc.close(save=save)
        self._open()

    @invariant()
    def counts_agree(self):
        assert len(self.svc.index) == len(self.model)


ServeMachine.TestCase.settings = settings(max_examples=20, stateful_step_count=20,
                                          deadline=None)
test_serve_state_machine = ServeMachine.TestCase
