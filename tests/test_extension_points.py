"""The "where to change X" recipes of docs/architecture.md, exercised.

Each test plugs in a new piece the way the recipe says -- a search method
through :func:`hamsearch.searchers.register_search_method`, a hasher
through :func:`hamsearch.encoders.registry.register_method` -- and checks
that every consumer the recipe promises picks it up with no other edit:
the index and its files, ``hamsearch serve``'s options, the encoders'
namespace, ``hamsearch eval`` and the model files.  (New backends and ISA
variants: ``tests/test_kernel_layer.py``.)
"""

from __future__ import annotations

import numpy as np
import pytest

import hamsearch
from hamsearch import searchers
from hamsearch.encoders import registry
from hamsearch.codes import as_words
from tests.reference import knn as knn_reference
from tests.reference import range_search as range_reference


@pytest.fixture
def range_mih_method():
    """A method that runs radius searches on MIH tables and k-NN as a scan."""

    def choose(planner, view, k, radius, queries):
        return searchers.FLAT if k is not None else planner.tables_searcher(view)

    spec = searchers.register_search_method("range-mih", choose, tables="on_demand",
                                            description="test: MIH for radius only")
    yield spec
    searchers._METHODS.pop("range-mih", None)


def test_a_registered_search_method_is_an_index_method(range_mih_method, tmp_path):
    rng = np.random.default_rng(0)
    db = rng.integers(0, 256, (30_000, 8), dtype=np.uint8)
    q = np.concatenate([db[:20], rng.integers(0, 256, (20, 8), dtype=np.uint8)])
    index = hamsearch.Index(64, method="range-mih")
    index.add(db)
    dbw, qw, ids = as_words(db, 64), as_words(q, 64), np.arange(len(db))
    D, I = index.search(q, 5)
    rD, rI = knn_reference(dbw, ids, qw, 5)
    np.testing.assert_array_equal(D, rD)
    np.testing.assert_array_equal(I, rI)
    lims, RD, RI = index.range_search(q, 6)
    want = range_reference(dbw, ids, qw, 6)
    assert lims.tolist() == want[0].tolist()
    assert sorted(zip(RI.tolist(), RD.tolist())) == sorted(zip(want[2].tolist(),
                                                               want[1].tolist()))
    assert index.stats()["mih_nbytes"] > 0  # the radius search built the tables
    path = tmp_path / "m.hsx"
    index.save(path)
    again = hamsearch.load(path)
    np.testing.assert_array_equal(again.search(q, 5)[1], I)
    from hamsearch.cli.serve import register as register_serve
    import argparse

    sub = argparse.ArgumentParser().add_subparsers()
    register_serve(sub)
    parser = sub.choices["serve"]
    method_action = next(a for a in parser._actions if a.dest == "method")
    assert "range-mih" in method_action.choices


def test_unknown_and_duplicate_search_methods_are_refused():
    with pytest.raises(ValueError, match="method must be one of"):
        hamsearch.Index(64, method="nope")
    with pytest.raises(ValueError, match="already registered"):
        searchers.register_search_method("flat", searchers._choose_flat)
    with pytest.raises(ValueError, match="tables must be one of"):
        searchers.register_search_method("x", searchers._choose_flat, tables="sometimes")
    assert hamsearch.index.METHODS == ("auto", "flat", "mih")


class _SignHash:
    """Toy hasher: the signs of the first nbits features after centring."""

    def __init__(self, nbits=16, random_state=0):
        self.nbits, self.random_state = nbits, random_state

    def fit(self, X, y=None):
        self.mean_ = np.asarray(X, dtype=np.float64).mean(axis=0)
        return self

    def transform(self, X):
        bits = (np.asarray(X, dtype=np.float64) - self.mean_)[:, :self.nbits] > 0
        return np.packbits(bits, axis=1, bitorder="little")


@pytest.fixture
def sign_hash():
    import sys
    import types

    module = types.ModuleType("hamsearch_test_signhash")
    module.SignHash = _SignHash
    sys.modules[module.__name__] = module
    spec = registry.register_method("signhash", f"{module.__name__}:SignHash",
                                    label="Sign", description="test: signs of features")
    yield spec
    registry._REGISTRY.pop("signhash", None)
    sys.modules.pop(module.__name__, None)


def test_a_registered_hasher_is_exported_listed_and_evaluated(sign_hash, capsys):
    import hamsearch.encoders as enc
    from hamsearch.cli import main
    from hamsearch.evaluation import evaluate_method, prepare_data

    assert enc.SignHash is _SignHash
    assert "SignHash" in dir(enc)
    with pytest.raises(AttributeError):
        enc.NoSuchHash  # noqa: B018
    assert main(["eval", "--list-methods"]) == 0
    assert "signhash" in capsys.readouterr().out
    data = prepare_data("digits", per_class=10, limit=400, seed=0)
    res = evaluate_method(data, "signhash", 16, seed=0)
    assert 0.0 <= res["map"] <= 1.0
    assert registry.make_encoder("signhash", 16).nbits == 16
    assert registry.get_method("signhash").label == "Sign"


def test_the_encoders_namespace_is_the_registry():
    import hamsearch.encoders as enc

    names = registry.registered_class_names("shallow")
    assert enc.__all__ == ["BaseHasher", "NotFittedError", *names]
    for name in names:
        assert getattr(enc, name).__name__ == name
