"""Behaviour shared by every shallow hasher: estimator API, validation, pickling."""

import pickle
import subprocess
import sys

import numpy as np
import pytest

from hamsearch.encoders import (
    ITQ,
    LSH,
    PCAH,
    DeepELMHash,
    LaplacianEigenmapHash,
    NotFittedError,
)

from hamsearch.encoders import registry

#: Every registered shallow hasher on feature vectors (a new one is tested unedited).
FEATURE_HASHERS = [registry.get_method(m).load_class()
                   for m in registry.available_methods(kind="shallow")
                   if registry.get_method(m).input == "features"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=3, size=(5, 24))
    y = np.arange(300) % 5
    X = (centres[y] + rng.normal(size=(300, 24))).astype(np.float32)
    return X, y


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, size=(120, 12, 12), dtype=np.uint8)


@pytest.mark.parametrize("cls", FEATURE_HASHERS)
def test_transform_shape_dtype_and_determinism(cls, data):
    X, _ = data
    a = cls(nbits=16, random_state=0).fit(X)
    codes = a.transform(X)
    assert codes.dtype == np.uint8 and codes.shape == (300, 2)
    b = cls(nbits=16, random_state=0).fit(X)
    np.testing.assert_array_equal(codes, b.transform(X))
    # fit_transform is fit then transform
    np.testing.assert_array_equal(cls(nbits=16, random_state=0).fit_transform(X), codes)
    assert a.nbits_ == 16 and a.n_features_in_ == 24


@pytest.mark.parametrize("cls", FEATURE_HASHERS)
def test_codes_match_unpacked_bits(cls, data):
    import hamsearch

    X, _ = data
    enc = cls(nbits=24, random_state=0).fit(X)
    bits = enc.transform_bits(X[:50])
    np.testing.assert_array_equal(hamsearch.unpack(enc.transform(X[:50]), 24), bits)
    np.testing.assert_array_equal(bits, (enc.transform_real(X[:50]) > 0).astype(np.uint8))


@pytest.mark.parametrize("cls", FEATURE_HASHERS)
def test_pickle_roundtrip(cls, data):
    X, _ = data
    enc = cls(nbits=16, random_state=3).fit(X)
    back = pickle.loads(pickle.dumps(enc))
    np.testing.assert_array_equal(back.transform(X), enc.transform(X))


@pytest.mark.parametrize("cls", FEATURE_HASHERS)
def test_clone_and_params(cls, data):
    from sklearn.base import clone

    enc = cls(nbits=32, random_state=7)
    params = enc.get_params()
    assert params["nbits"] == 32 and params["random_state"] == 7
    c = clone(enc)
    assert c is not enc and c.get_params() == params
    c.set_params(nbits=16)
    assert c.nbits == 16 and enc.nbits == 32
    with pytest.raises(ValueError, match="invalid parameter"):
        c.set_params(no_such_param=1)
    assert "nbits=32" in repr(enc)


@pytest.mark.parametrize("cls", FEATURE_HASHERS)
@pytest.mark.parametrize("pre", ["scaler", "pca"])
def test_in_sklearn_pipeline(cls, pre, data):
    from sklearn.base import clone
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, _ = data
    first = StandardScaler() if pre == "scaler" else PCA(n_components=20, random_state=0)
    pipe = make_pipeline(first, cls(nbits=16, random_state=0))
    codes = pipe.fit(X).transform(X)
    assert codes.shape == (300, 2) and codes.dtype == np.uint8
    again = clone(pipe).fit(X).transform(X)
    np.testing.assert_array_equal(codes, again)
    manual = cls(nbits=16, random_state=0).fit(first.fit_transform(X))
    np.testing.assert_array_equal(codes, manual.transform(first.transform(X)))


@pytest.mark.parametrize("cls", FEATURE_HASHERS)
def test_input_validation(cls, data):
    X, _ = data
    bad = X.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cls(nbits=16).fit(bad)
    with pytest.raises(ValueError, match="2-D"):
        cls(nbits=16).fit(X[0])
    with pytest.raises(TypeError):
        cls(nbits=16).fit(np.array([["a"] * 3] * 4))
    with pytest.raises(ValueError, match="multiple of 8"):
        cls(nbits=12).fit(X)
    with pytest.raises(TypeError):
        cls(nbits=16.0).fit(X)
    with pytest.raises(NotFittedError):
        cls(nbits=16).transform(X)
    enc = cls(nbits=16, random_state=0).fit(X)
    with pytest.raises(ValueError, match="features"):
        enc.transform(X[:, :10])
    with pytest.raises(ValueError, match="NaN"):
        enc.transform(bad)


def test_random_state_forms(data):
    X, _ = data
    a = LSH(nbits=16, random_state=np.random.RandomState(5)).fit(X).transform(X)
    b = LSH(nbits=16, random_state=5).fit(X).transform(X)
    np.testing.assert_array_equal(a, b)
    c = LSH(nbits=16, random_state=6).fit(X).transform(X)
    assert not np.array_equal(b, c)
    LSH(nbits=16, random_state=None).fit(X)
    with pytest.raises(TypeError, match="random_state"):
        LSH(nbits=16, random_state="seed").fit(X)


@pytest.mark.parametrize("cls", [PCAH, ITQ])
def test_too_many_bits_for_features(cls, data):
    X, _ = data
    with pytest.raises(ValueError, match="nbits <= n_features"):
        cls(nbits=32).fit(X)


@pytest.mark.parametrize("cls", [PCAH, ITQ, LaplacianEigenmapHash])
def test_balanced_bits_on_training_data(cls, data):
    """PCA-based and median-thresholded bits split the training set roughly in half."""
    X, _ = data
    enc = cls(nbits=16, random_state=0).fit(X)
    frac = enc.transform_bits(X).mean(axis=0)
    # LE's median thresholds balance its training embedding exactly; transform()
    # goes through the out-of-sample extension, so only roughly there.
    tol = 0.1 if cls is LaplacianEigenmapHash else 0.25
    assert np.all(np.abs(frac - 0.5) <= tol), frac
    if cls is LaplacianEigenmapHash:
        in_sample = (enc.embedding_ > enc.thresholds_).mean(axis=0)
        np.testing.assert_array_equal(in_sample, 0.5)


def test_delm_pickle_clone_params(images):
    from sklearn.base import clone

    enc = DeepELMHash(nbits=16, random_state=0, engine="numpy").fit(images)
    back = pickle.loads(pickle.dumps(enc))
    np.testing.assert_array_equal(back.transform(images), enc.transform(images))
    c = clone(enc)
    assert c.get_params() == enc.get_params() and not hasattr(c, "beta_")


def test_import_does_not_load_optional_dependencies():
    code = (
        "import sys, hamsearch.encoders, hamsearch.metrics, hamsearch.datasets, "
        "hamsearch.encoders.registry;"
        "bad = [m for m in ('sklearn', 'scipy', 'torch', 'matplotlib', 'mlxtend') "
        "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
