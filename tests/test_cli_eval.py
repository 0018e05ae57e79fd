"""``hamsearch eval`` and the method registry."""

import json
import os

import numpy as np
import pytest

from hamsearch.cli import main
from hamsearch.encoders import registry


def test_eval_digits_prints_table_and_writes_plots(tmp_path, capsys):
    rc = main(["eval", "--dataset", "digits", "--method", "itq,lsh", "--bits", "16,32",
               "--per-class", "20", "--out-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "mAP" in out and "P@1000" in out and "P@r<=2" in out
    rows = [line.split() for line in out.splitlines() if line.startswith(("itq", "lsh"))]
    assert [(r[0], r[1]) for r in rows] == [("itq", "16"), ("itq", "32"), ("lsh", "16"),
                                           ("lsh", "32")]
    for r in rows:
        assert all(0.0 <= float(v) <= 1.0 for v in r[2:5])
    pngs = sorted(p for p in os.listdir(tmp_path) if p.endswith(".png"))
    assert pngs == ["digits_itq-lsh_pr.png", "digits_itq-lsh_precision_at_k.png"]
    for p in pngs:
        with open(tmp_path / p, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(tmp_path / "digits_itq-lsh.json") as fh:
        saved = json.load(fh)
    assert saved["n_query"] == 200 and len(saved["results"]) == 4
    itq16 = saved["results"][0]
    assert float(rows[0][2]) == pytest.approx(itq16["map"], abs=1e-4)


def test_eval_limit_and_no_plots(tmp_path, capsys):
    rc = main(["eval", "--dataset", "synthetic", "--method", "pcah", "--bits", "16",
               "--limit", "300", "--no-plots", "--out-dir", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "pcah" in out
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".png")]


def test_eval_errors(capsys, tmp_path):
    assert main(["eval", "--dataset", "digits", "--method", "nope", "--bits", "16"]) == 1
    assert "unknown method" in capsys.readouterr().err
    assert main(["eval", "--method", "itq"]) == 1
    assert "--dataset is required" in capsys.readouterr().err
    assert main(["eval", "--dataset", "digits", "--bits", "12"]) == 1
    assert "multiple of 8" in capsys.readouterr().err
    assert main(["eval", "--dataset", "mnist", "--data-dir", str(tmp_path), "--bits", "16"]) == 1
    assert "MNIST" in capsys.readouterr().err
    assert main(["eval", "--dataset", "digits", "--model", str(tmp_path / "missing.pt"),
                 "--out-dir", str(tmp_path), "--per-class", "10"]) == 1
    assert "no such file" in capsys.readouterr().err


def test_list_methods(capsys):
    assert main(["eval", "--list-methods"]) == 0
    out = capsys.readouterr().out
    for m in registry.available_methods():
        assert m in out


def test_registry_hook_for_new_methods():
    """A method registered from outside is evaluated like the built-in ones."""
    from hamsearch.evaluation import evaluate_method, prepare_data

    class Oracle:
        """Supervised toy encoder: the code is the one-hot class (plus zeros)."""

        def __init__(self, nbits):
            self.nbits = nbits

        def fit(self, X, y):
            self.means_ = np.stack([X[y == c].mean(0) for c in range(10)])
            return self

        def encode(self, X):
            d = ((X[:, None, :] - self.means_[None]) ** 2).sum(-1)
            bits = np.zeros((len(X), self.nbits), dtype=np.uint8)
            bits[np.arange(len(X)), d.argmin(1)] = 1
            return np.packbits(bits, axis=1, bitorder="little")

    registry.register_method("oracle-test", lambda b, rs: Oracle(b), supervised=True,
                             replace=True)
    try:
        with pytest.raises(ValueError, match="already registered"):
            registry.register_method("oracle-test", lambda b, rs: Oracle(b))
        data = prepare_data("digits", per_class=20)
        good = evaluate_method(data, "oracle-test", 16)
        rnd = evaluate_method(data, "lsh", 16)
        assert good["map"] > rnd["map"]
        assert good["method"] == "oracle-test" and good["nbits"] == 16
    finally:
        registry._REGISTRY.pop("oracle-test", None)


def test_make_encoder():
    from hamsearch.encoders import ITQ, LaplacianEigenmapHash

    enc = registry.make_encoder("ITQ", nbits=32, random_state=3)
    assert isinstance(enc, ITQ) and enc.nbits == 32 and enc.random_state == 3
    assert registry.get_method("le").max_train == 20000
    assert isinstance(registry.make_encoder("le", 16), LaplacianEigenmapHash)
    assert registry.get_method("delm").input == "images"
    with pytest.raises(ValueError, match="input"):
        registry.register_method("x", lambda b, rs: None, input="audio")


def test_model_hook(tmp_path, capsys, monkeypatch):
    """--model PATH loads a saved model through registry.load_pretrained."""

    class Saved:
        nbits = 16

        def encode(self, images):
            flat = images.reshape(len(images), -1).astype(np.int64)
            bits = (flat[:, :16] > 4).astype(np.uint8)  # some pixels as bits
            return np.packbits(bits, axis=1, bitorder="little")

    path = tmp_path / "m.pt"
    path.write_bytes(b"stub")
    seen = []
    monkeypatch.setattr(registry, "load_pretrained", lambda p: seen.append(p) or Saved())
    rc = main(["eval", "--dataset", "digits", "--model", str(path), "--per-class", "10",
               "--out-dir", str(tmp_path), "--no-plots"])
    assert rc == 0 and seen == [str(path)]
    out = capsys.readouterr().out
    assert "model:m" in out and " 16 " in out


def test_one_registry_for_shallow_and_deep_methods():
    """Deep methods are lazy "module:Class" entries: listing them imports no torch."""
    import subprocess
    import sys

    code = ("import sys; from hamsearch.encoders import registry as r; "
            "deep = r.available_methods(kind='deep'); "
            "assert deep[:5] == ['latent', 'compact', 'exploss', 'ldh', 'itq-cnn'], deep; "
            "assert r.get_method('latent').target.endswith(':LatentLayerHash'); "
            "assert r.get_method('ldh').cnn_features; "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert registry.get_method("itq").kind == "shallow"
    with pytest.raises(ValueError, match="unknown deep method"):
        registry.get_method("itq", kind="deep")
    with pytest.raises(ValueError, match="module:Class"):
        registry.register_method("x", "no-colon")


def test_list_methods_marks_deep_ones(capsys):
    assert main(["eval", "--list-methods"]) == 0
    out = capsys.readouterr().out
    assert any(line.startswith("latent") and "(torch)" in line for line in out.splitlines())


def test_eval_model_with_method_is_an_error(tmp_path, capsys):
    """--model evaluates the saved model: a --method beside it is refused, not ignored."""
    path = tmp_path / "m.pt"
    path.write_bytes(b"stub")
    assert main(["eval", "--dataset", "digits", "--model", str(path), "--method", "itq"]) == 1
    assert "drop --method" in capsys.readouterr().err
