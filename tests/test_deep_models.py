"""Deep hashing models on sklearn digits: shapes, learning, encode_into, I/O."""

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

import hamsearch  # noqa: E402
from hamsearch.encoders import LSH, NotFittedError  # noqa: E402
from hamsearch.encoders.deep import (  # noqa: E402
    CompactSigmoidHash,
    DeepFeatureITQ,
    ExpCodeProductHash,
    LaplacianDeepHash,
    LatentLayerHash,
    load_model,
)
from hamsearch.metrics import mean_average_precision  # noqa: E402

NBITS = 16
EPOCHS = {LatentLayerHash: 4, CompactSigmoidHash: 6, ExpCodeProductHash: 4}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # One thread: on a shared, loaded machine OpenMP with 2 threads was
    # measured 5-10x slower than 1 for these tiny networks.
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    images = (d.images * 16).clip(0, 255).astype(np.uint8)
    labels = d.target.astype(np.int64)
    perm = np.random.default_rng(0).permutation(len(labels))
    q, db = np.sort(perm[:200]), np.sort(perm[200:])
    return images, labels, q, db


@pytest.fixture(scope="module")
def fitted(digits):
    images, labels, _, db = digits
    out = {}
    for cls, ep in EPOCHS.items():
        out[cls] = cls(nbits=NBITS, verbose=False, random_state=0).fit(
            images[db], labels[db], epochs=ep, batch_size=64)
    return out


@pytest.fixture(scope="module")
def lsh_map(digits):
    images, labels, q, db = digits
    x = images.reshape(len(images), -1).astype(np.float64)
    codes = LSH(nbits=NBITS, random_state=0).fit(x[db]).transform(x)
    return mean_average_precision(codes[q], codes[db], labels[q], labels[db])


MODEL_CLASSES = list(EPOCHS)


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda c: c.__name__)
def test_shapes_and_dtypes(fitted, digits, cls):
    images = digits[0][:37]
    model = fitted[cls]
    codes = model.encode(images, batch_size=10)
    assert codes.shape == (37, NBITS // 8) and codes.dtype == np.uint8
    feats = model.features(images)
    assert feats.dtype == np.float32 and feats.ndim == 2 and feats.shape[0] == 37
    c2, f2 = model.encode(images, return_features=True)
    np.testing.assert_array_equal(c2, codes)
    np.testing.assert_array_equal(f2, feats)


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda c: c.__name__)
def test_training_lowers_loss_and_beats_lsh(fitted, digits, lsh_map, cls):
    images, labels, q, db = digits
    model = fitted[cls]
    hist = model.history_
    by_stage = {}
    for h in hist:
        by_stage.setdefault(h["stage"], []).append(h["loss"])
    multi = [v for v in by_stage.values() if len(v) > 1]
    assert multi, hist
    for losses in multi:
        assert losses[-1] < losses[0], by_stage
    codes = model.encode(images)
    m = mean_average_precision(codes[q], codes[db], labels[q], labels[db])
    assert m > lsh_map + 0.1, (m, lsh_map)


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda c: c.__name__)
def test_save_load_round_trip(fitted, digits, tmp_path, cls):
    images = digits[0][:100]
    model = fitted[cls]
    path = tmp_path / "m.pt"
    model.save(path)
    blob = torch.load(path, weights_only=True)  # no pickled objects inside
    assert blob["class"] == cls.__name__
    back = load_model(path)
    assert type(back) is cls and back.get_params() == model.get_params()
    np.testing.assert_array_equal(back.encode(images), model.encode(images))
    np.testing.assert_array_equal(back.features(images), model.features(images))
    assert type(cls.load(path)) is cls


class _RecordingIndex:
    def __init__(self):
        self.calls = []

    def add(self, codes, ids=None, features=None):
        self.calls.append((codes.copy(), None if ids is None else ids.copy(),
                           None if features is None else features.copy()))


class _CodesOnlyIndex:
    def __init__(self):
        self.calls = []

    def add(self, codes, ids=None):
        self.calls.append((codes.copy(), ids))


def test_encode_into_matches_encode(fitted, digits):
    images = digits[0][:250]
    model = fitted[LatentLayerHash]
    codes, feats = model.encode(images, return_features=True)
    rec = _RecordingIndex()
    ids = np.arange(1000, 1250)
    assert model.encode_into(rec, images, ids=ids, batch_size=64) == 250
    assert len(rec.calls) == 4 and max(len(c[0]) for c in rec.calls) <= 64
    np.testing.assert_array_equal(np.concatenate([c[0] for c in rec.calls]), codes)
    np.testing.assert_array_equal(np.concatenate([c[1] for c in rec.calls]), ids)
    np.testing.assert_allclose(np.concatenate([c[2] for c in rec.calls]), feats)
    plain = _CodesOnlyIndex()
    model.encode_into(plain, images, batch_size=100)
    np.testing.assert_array_equal(np.concatenate([c[0] for c in plain.calls]), codes)
    with pytest.raises(ValueError, match="features"):
        model.encode_into(_CodesOnlyIndex(), images, features=True)


def test_encode_into_real_index(fitted, digits):
    images = digits[0][:300]
    model = fitted[ExpCodeProductHash]
    codes = model.encode(images)
    index = hamsearch.Index(nbits=NBITS)
    model.encode_into(index, images, ids=np.arange(300) + 7, batch_size=128)
    assert len(index) == 300
    D, I = index.search(codes[:20], k=1)
    assert (D[:, 0] == 0).all()
    ref = hamsearch.hamming_distances(codes[:20], codes, NBITS)
    np.testing.assert_array_equal(D[:, 0], ref.min(axis=1))


def test_float_tensor_input_equals_uint8(fitted, digits):
    images = digits[0][:50]
    model = fitted[LatentLayerHash]
    as_float = torch.from_numpy(images).float().div(255.0).unsqueeze(1)
    np.testing.assert_array_equal(model.encode(as_float), model.encode(images))
    np.testing.assert_array_equal(model.encode(images[..., None]), model.encode(images))


def test_seeded_training_is_reproducible(digits):
    images, labels, _, db = digits
    sub = db[:300]
    a = LatentLayerHash(nbits=8, verbose=False, random_state=3).fit(
        images[sub], labels[sub], epochs=1, batch_size=50)
    b = LatentLayerHash(nbits=8, verbose=False, random_state=3).fit(
        images[sub], labels[sub], epochs=1, batch_size=50)
    np.testing.assert_array_equal(a.features(images[:64]), b.features(images[:64]))


@pytest.mark.parametrize("aug", [{}, {"augment": "shift+flip", "plain_final_epochs": 1}],
                         ids=["plain", "augmented"])
def test_checkpoint_resume_equals_uninterrupted(digits, tmp_path, monkeypatch, aug):
    images, labels, _, db = digits
    sub = db[:300]
    kw = dict(epochs=3, batch_size=50, validation_fraction=0.2, **aug)
    full = ExpCodeProductHash(nbits=8, verbose=False).fit(images[sub], labels[sub], **kw)

    ckpt = tmp_path / "ck.pt"
    from hamsearch.encoders.deep import base

    real = base.DeepHashModel._write_checkpoint
    calls = {"n": 0}

    def crash_after_two(self, path, state):
        real(self, path, state)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(base.DeepHashModel, "_write_checkpoint", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        ExpCodeProductHash(nbits=8, verbose=False).fit(images[sub], labels[sub], checkpoint=ckpt, **kw)
    monkeypatch.setattr(base.DeepHashModel, "_write_checkpoint", real)
    resumed = ExpCodeProductHash(nbits=8, verbose=False).fit(
        images[sub], labels[sub], checkpoint=ckpt, resume=True, **kw)
    np.testing.assert_array_equal(resumed.encode(images[:100]), full.encode(images[:100]))
    assert [h["stage"] for h in resumed.history_] == [h["stage"] for h in full.history_]
    assert load_model(ckpt).encode(images[:10]).shape == (10, 1)


def test_early_stopping_stops(digits):
    images, labels, _, db = digits
    sub = db[:200]
    m = LatentLayerHash(nbits=8, verbose=False).fit(
        images[sub], labels[sub], epochs=30, batch_size=50, lr=0.5,
        validation_fraction=0.3, early_stopping=1)
    assert len(m.history_) < 30
    assert all("val_loss" in h for h in m.history_)


def test_feature_hashers_share_cnn_and_round_trip(fitted, digits, tmp_path, lsh_map):
    images, labels, q, db = digits
    cnn = fitted[LatentLayerHash]
    for cls in (LaplacianDeepHash, DeepFeatureITQ):
        model = cls(nbits=NBITS, feature_model=cnn, verbose=False).fit(images[db], labels[db])
        codes = model.encode(images)
        assert codes.shape == (len(images), NBITS // 8) and codes.dtype == np.uint8
        np.testing.assert_array_equal(model.features(images[:10]), cnn.features(images[:10]))
        m = mean_average_precision(codes[q], codes[db], labels[q], labels[db])
        assert m > lsh_map, (cls.__name__, m, lsh_map)
        path = tmp_path / f"{cls.__name__}.pt"
        model.save(path)
        back = load_model(path)
        assert type(back) is cls
        np.testing.assert_array_equal(back.encode(images[:200]), codes[:200])


def test_backbone_weights_file(tmp_path, digits):
    from hamsearch.encoders.deep import SmallCNN

    src = SmallCNN(in_channels=1, feature_dim=32)
    torch.nn.init.constant_(src.fc[1].bias, 0.25)
    path = tmp_path / "w.pth"
    torch.save(src.state_dict(), path)
    images, labels, _, db = digits
    m = LatentLayerHash(nbits=8, feature_dim=32, backbone_weights=str(path), verbose=False)
    m.fit(images[db[:64]], labels[db[:64]], epochs=1, batch_size=64, lr=1e-9)
    assert torch.allclose(m.net_.backbone.fc[1].bias, torch.full((32,), 0.25), atol=1e-6)
    with pytest.raises(ValueError, match="backbone_weights"):
        LatentLayerHash(nbits=8, backbone="alexnet", pretrained=True).fit(
            images[:20], labels[:20], epochs=1)
    with pytest.raises(FileNotFoundError):
        LatentLayerHash(nbits=8, backbone_weights=str(tmp_path / "nope.pth")).fit(
            images[:20], labels[:20], epochs=1)


def test_bad_inputs(fitted, digits):
    images, labels, _, _ = digits
    model = fitted[LatentLayerHash]
    fresh = LatentLayerHash(nbits=8, verbose=False)
    with pytest.raises(ValueError, match="channels"):
        fresh.fit(np.zeros((10, 8, 8, 2), np.uint8), labels[:10])
    with pytest.raises(ValueError, match="shape"):
        fresh.fit(np.zeros((10, 64), np.uint8), labels[:10])
    bad = images[:10].astype(np.float32)[:, None] / 255.0
    bad[3, 0, 2, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fresh.fit(bad, labels[:10])
    with pytest.raises(ValueError, match=">= 0"):
        fresh.fit(images[:10], np.r_[labels[:9], -1])
    with pytest.raises(ValueError, match="out of range"):
        fresh.fit(images[:10], labels[:10], n_classes=3)
    with pytest.raises(ValueError, match="entries"):
        fresh.fit(images[:10], labels[:9])
    with pytest.raises(ValueError, match="integer"):
        fresh.fit(images[:10], labels[:10] + 0.5)
    with pytest.raises(TypeError, match="dtype"):
        fresh.fit(images[:10].astype(np.int32), labels[:10])
    with pytest.raises(ValueError, match="trained on"):
        model.encode(np.zeros((4, 10, 10), np.uint8))
    with pytest.raises(ValueError, match="NaN"):
        model.encode(torch.full((2, 1, 8, 8), float("nan")))
    with pytest.raises(ValueError, match="nbits"):
        LatentLayerHash(nbits=12).fit(images[:10], labels[:10])
    with pytest.raises(ValueError, match="backbone"):
        LatentLayerHash(nbits=8, backbone="resnet").fit(images[:10], labels[:10])
    with pytest.raises(ValueError, match="early_stopping"):
        fresh.fit(images[:10], labels[:10], early_stopping=2)
    for wd in (-1e-4, float("nan"), "0.1"):
        with pytest.raises(ValueError, match="weight_decay"):
            fresh.fit(images[:10], labels[:10], weight_decay=wd)
    for dim in (0, 2.5, "64"):
        with pytest.raises(ValueError, match="feature_dim"):
            LatentLayerHash(nbits=8, feature_dim=dim).fit(images[:10], labels[:10])
    with pytest.raises(NotFittedError, match="not fitted"):
        LatentLayerHash().encode(images[:4])
    with pytest.raises(ValueError, match="batch_size"):
        model.encode(images[:4], batch_size=0)


def test_import_hamsearch_does_not_import_torch():
    code = ("import sys, hamsearch, hamsearch.encoders, hamsearch.cli; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


class _LazyImages:
    """Array-like with shape/dtype/slicing only (like h5py or a generator)."""

    def __init__(self, arr):
        self._arr = arr
        self.shape = arr.shape
        self.dtype = arr.dtype
        self.reads = []

    def __getitem__(self, key):
        self.reads.append(key)
        return self._arr[key]


def test_lazy_array_like_source(fitted, digits):
    images = digits[0][:130]
    model = fitted[LatentLayerHash]
    lazy = _LazyImages(images)
    np.testing.assert_array_equal(model.encode(lazy, batch_size=50), model.encode(images))
    assert len(lazy.reads) == 3 and all(isinstance(k, slice) for k in lazy.reads)
    bad = images.astype(np.float32)[:, None] / 255.0
    bad[120, 0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.encode(_LazyImages(bad), batch_size=50)
    with pytest.raises(TypeError, match="array"):
        model.encode("not images")


def test_missing_torch_gives_install_hint():
    code = ("import sys; sys.modules['torch'] = None\n"
            "try:\n    import hamsearch.encoders.deep\nexcept ImportError as e:\n"
            "    assert 'pip install hamsearch[torch]' in str(e), e\nelse:\n"
            "    raise SystemExit('no ImportError')\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_load_checks_the_class(fitted, tmp_path):
    path = tmp_path / "latent.pt"
    fitted[LatentLayerHash].save(path)
    assert isinstance(LatentLayerHash.load(path), LatentLayerHash)
    assert isinstance(load_model(path), LatentLayerHash)
    for other in (CompactSigmoidHash, LaplacianDeepHash):
        with pytest.raises(ValueError, match="holds a LatentLayerHash"):
            other.load(path)


def test_normalized_features(fitted, digits, tmp_path):
    images, _, q, db = digits
    model = fitted[LatentLayerHash]
    raw = model.features(images[:50])
    unit = model.features(images[:50], normalize=True)
    norms = np.linalg.norm(raw, axis=1)
    assert (norms > 0).all()
    np.testing.assert_allclose(unit, raw / norms[:, None], rtol=1e-5, atol=1e-7)
    codes, feats = model.encode(images[:50], return_features=True, normalize_features=True)
    np.testing.assert_array_equal(feats, unit)
    np.testing.assert_array_equal(codes, model.encode(images[:50]))
    index = hamsearch.Index(NBITS)
    model.encode_into(index, images[db], ids=db, normalize_features=True, batch_size=100)
    np.testing.assert_allclose(np.linalg.norm(index.reconstruct_features(db[:20]), axis=1), 1.0,
                               rtol=1e-5)
    with pytest.raises(TypeError, match="normalize_features"):
        model.encode(images[:5], normalize_features="yes")


def test_make_model_feature_dim(digits):
    from hamsearch.encoders.deep import make_model

    images, labels, _, db = digits
    model = make_model("latent", NBITS, feature_dim=40, verbose=False)
    assert model.feature_dim == 40
    model.fit(images[db][:128], labels[db][:128], epochs=1, batch_size=64)
    assert model.features(images[:7]).shape == (7, 40)
    for method in ("exploss", "ldh", "itq-cnn"):
        assert make_model(method, NBITS, feature_dim=40).feature_dim == 40
    assert make_model("latent", NBITS).feature_dim is None
    with pytest.raises(ValueError, match="feature_dim=576"):
        make_model("compact", NBITS, feature_dim=40).fit(images[:64], labels[:64], epochs=1)


def test_warm_start_fine_tunes_the_fitted_weights(digits):
    images, labels, q, db = digits
    x, y = images[db][:256], labels[db][:256]

    def first():
        return LatentLayerHash(nbits=NBITS, verbose=False).fit(x, y, epochs=1, batch_size=64)

    base = first()
    before = {k: v.clone() for k, v in base.net_.state_dict().items()}
    tuned = first().fit(x, y, epochs=2, batch_size=64, lr=3e-4, warm_start=True)
    again = first().fit(x, y, epochs=2, batch_size=64, lr=3e-4, warm_start=True)
    after = tuned.net_.state_dict()
    # the input normalisation is kept, the weights moved on from the fitted ones
    torch.testing.assert_close(after["input_mean"], before["input_mean"])
    assert not torch.equal(after["latent.weight"], before["latent.weight"])
    assert [h["epoch"] for h in tuned.history_] == [1, 1, 2]
    np.testing.assert_array_equal(tuned.encode(images), again.encode(images))
    # without warm_start a second fit starts afresh
    cold = first().fit(x, y, epochs=1, batch_size=64)
    np.testing.assert_array_equal(cold.encode(images), base.encode(images))
    # a mismatch is an error that leaves the model as it was
    with pytest.raises(ValueError, match="warm_start"):
        base.fit(np.zeros((20, 10, 10), np.uint8), y[:20], warm_start=True)
    with pytest.raises(ValueError, match="warm_start"):
        base.fit(x, y, n_classes=12, warm_start=True)
    with pytest.raises(TypeError, match="warm_start"):
        base.fit(x, y, warm_start="yes")
    for k, v in base.net_.state_dict().items():
        torch.testing.assert_close(v, before[k])
