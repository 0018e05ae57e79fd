"""``hamsearch train`` and ``hamsearch encode`` on sklearn digits."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

import hamsearch  # noqa: E402
from hamsearch.cli import main  # noqa: E402
from hamsearch.datasets import load, query_split  # noqa: E402
from hamsearch.encoders.deep import load_model  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.mark.parametrize("method", ["latent", "compact", "exploss", "ldh"])
def test_train_then_encode(tmp_path, capsys, method):
    model_path = tmp_path / "m.pt"
    rc = main(["train", "--method", method, "--dataset", "digits", "--bits", "16",
               "--epochs", "2", "--max-train", "400", "--quiet", "--threads", "1",
               "--out", str(model_path)])
    assert rc == 0
    assert "wrote" in capsys.readouterr().out
    model = load_model(model_path)
    assert model.nbits == 16

    codes_path, index_path = tmp_path / "c.npy", tmp_path / "i.hsx"
    rc = main(["encode", "--model", str(model_path), "--dataset", "digits",
               "--split", "database", "--out", str(codes_path), "--index", str(index_path),
               "--features", "--batch-size", "300"])
    assert rc == 0
    images, labels = load("digits")
    _, db = query_split(labels)
    codes = np.load(codes_path)
    np.testing.assert_array_equal(codes, model.encode(images[db]))
    index = hamsearch.load(index_path)
    assert len(index) == len(db)
    D, I = index.search(codes[:5], k=1)
    assert (D[:, 0] == 0).all()
    assert set(I[:, 0].tolist()) <= set(db.tolist())


def test_cli_errors(tmp_path, capsys):
    assert main(["encode", "--model", str(tmp_path / "missing.pt"), "--dataset", "digits",
                 "--out", str(tmp_path / "c.npy")]) == 1
    assert "not found" in capsys.readouterr().err
    assert main(["encode", "--model", "x.pt", "--dataset", "digits"]) == 1
    assert "--out" in capsys.readouterr().err
    junk = tmp_path / "junk.pt"
    torch.save({"hello": 1}, junk)
    assert main(["encode", "--model", str(junk), "--dataset", "digits",
                 "--out", str(tmp_path / "c.npy")]) == 1
    assert "not a hamsearch" in capsys.readouterr().err


def test_train_augmented_then_encode_normalized_features(tmp_path, capsys):
    model_path = tmp_path / "m.pt"
    assert main(["train", "--method", "latent", "--dataset", "digits", "--bits", "16",
                 "--epochs", "2", "--max-train", "300", "--quiet", "--threads", "1",
                 "--augment", "shift", "--plain-final-epochs", "1", "--feature-dim", "48",
                 "--weight-decay", "1e-5", "--out", str(model_path)]) == 0
    feats_path, index_path = tmp_path / "f.npy", tmp_path / "i.hsx"
    assert main(["encode", "--model", str(model_path), "--dataset", "digits",
                 "--split", "database", "--features-out", str(feats_path),
                 "--index", str(index_path), "--features", "--normalize-features"]) == 0
    feats = np.load(feats_path)
    assert feats.shape[1] == 48
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, rtol=1e-5)
    index = hamsearch.load(index_path)
    images, labels = load("digits")
    _, db = query_split(labels)
    np.testing.assert_allclose(index.reconstruct_features(db[:10]), feats[:10], rtol=1e-6)


def test_train_init_fine_tunes_a_model(tmp_path, capsys):
    base, tuned = tmp_path / "base.pt", tmp_path / "tuned.pt"
    common = ["--dataset", "digits", "--max-train", "300", "--quiet", "--threads", "1"]
    assert main(["train", "--method", "latent", "--bits", "16", "--epochs", "1", *common,
                 "--out", str(base)]) == 0
    assert main(["train", "--method", "latent", "--init", str(base), "--epochs", "1",
                 "--lr", "3e-4", "--weight-decay", "0", *common, "--out", str(tuned)]) == 0
    assert "16 bits" in capsys.readouterr().out
    b, t = load_model(base), load_model(tuned)
    assert len(t.history_) == len(b.history_) + 1
    assert not torch.equal(b.net_.latent.weight, t.net_.latent.weight)
    torch.testing.assert_close(b.net_.input_mean, t.net_.input_mean)
    for bad, msg in ((["--method", "compact"], "holds a LatentLayerHash"),
                     (["--method", "latent", "--bits", "24"], "--bits 24 differs"),
                     (["--method", "latent", "--feature-dim", "64"], "--feature-dim 64 differs")):
        assert main(["train", *bad, "--init", str(base), "--epochs", "1", *common,
                     "--out", str(tmp_path / "x.pt")]) == 1
        assert msg in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


def test_eval_method_latent(tmp_path, capsys):
    """``hamsearch eval --method latent`` trains the deep model from the registry
    (it was an unknown method before the registry held the deep ones)."""
    rc = main(["eval", "--dataset", "digits", "--method", "latent", "--bits", "16",
               "--epochs", "1", "--per-class", "10", "--limit", "500", "--no-plots",
               "--out-dir", str(tmp_path)])
    assert rc == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()
            if line.startswith("latent")]
    assert [(r[0], r[1]) for r in rows] == [("latent", "16")]
    assert 0.0 <= float(rows[0][2]) <= 1.0


def test_model_classes_come_from_the_registry():
    from hamsearch.encoders import registry
    from hamsearch.encoders.deep import METHODS, MODEL_CLASSES, make_model

    deep = registry.available_methods(kind="deep")
    assert list(METHODS) == deep
    assert sorted(MODEL_CLASSES) == sorted(registry.get_method(m).load_class().__name__
                                           for m in deep)
    assert type(make_model("latent", 16)) is registry.get_method("latent").load_class()


def test_model_files_hold_only_registered_shallow_hashers():
    from hamsearch.encoders import ITQ
    from hamsearch.encoders.deep.serialize import export_estimator, import_estimator

    X = np.random.default_rng(0).normal(size=(200, 16)).astype(np.float32)
    itq = ITQ(nbits=8, random_state=0).fit(X)
    blob = export_estimator(itq)
    assert blob["module"] == "hamsearch.encoders.itq"
    np.testing.assert_array_equal(import_estimator(blob).transform(X), itq.transform(X))
    with pytest.raises(ValueError, match="refusing"):
        import_estimator({**blob, "module": "hamsearch.encoders._base", "class": "BaseHasher"})
