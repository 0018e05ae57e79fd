"""One parameter-handling mixin for shallow and deep estimators (scikit-learn conventions)."""

import numpy as np
import pytest

from hamsearch.encoders import DeepELMHash, NotFittedError
from hamsearch.encoders._params import ParamsMixin

from hamsearch.encoders import registry

#: Every registered shallow hasher on feature vectors (a new one is tested unedited).
SHALLOW = [registry.get_method(m).load_class() for m in registry.available_methods(kind="shallow")
           if registry.get_method(m).input == "features"]


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(0)
    return rng.normal(size=(80, 20)).astype(np.float32)


@pytest.mark.parametrize("cls", SHALLOW + [DeepELMHash])
def test_shallow_hashers_use_the_mixin(cls):
    assert issubclass(cls, ParamsMixin)
    with pytest.raises(NotFittedError, match="not fitted"):
        cls(nbits=16).transform(np.zeros((3, 20)))


@pytest.mark.parametrize("cls", SHALLOW)
def test_fit_never_rewrites_hyper_parameters(cls, X):
    est = cls(nbits=np.int64(16), random_state=3)
    before = est.get_params()
    est.fit(X)
    after = est.get_params()
    assert after.keys() == before.keys()
    for k in before:
        assert after[k] is before[k], k


# ------------------------------------------------------------------ deep models
torch_needed = pytest.mark.skipif(
    __import__("importlib").util.find_spec("torch") is None, reason="needs torch")


def _deep_classes():
    from hamsearch.encoders.deep import (CompactSigmoidHash, DeepFeatureITQ, ExpCodeProductHash,
                                         LaplacianDeepHash, LatentLayerHash)

    return [LatentLayerHash, CompactSigmoidHash, ExpCodeProductHash, LaplacianDeepHash,
            DeepFeatureITQ]


@torch_needed
def test_deep_models_use_the_mixin_and_clone():
    from sklearn.base import clone

    for cls in _deep_classes():
        assert issubclass(cls, ParamsMixin), cls
        m = cls(nbits=16, random_state=4)
        c = clone(m)
        assert c is not m and c.get_params() == m.get_params()
        c.set_params(nbits=32)
        assert c.nbits == 32 and m.nbits == 16
        with pytest.raises(ValueError, match="invalid parameter"):
            c.set_params(no_such_param=1)
        assert "nbits=16" in repr(m)


@torch_needed
@pytest.mark.parametrize("verb", ["encode", "features", "encode_into", "save", "to", "export"])
def test_deep_models_raise_not_fitted_everywhere(verb, tmp_path):
    import hamsearch

    images = np.zeros((4, 8, 8), dtype=np.uint8)
    for cls in _deep_classes():
        m = cls(nbits=8, verbose=False)
        call = {
            "encode": lambda: m.encode(images),
            "features": lambda: m.features(images),
            "encode_into": lambda: m.encode_into(hamsearch.Index(nbits=8), images),
            "save": lambda: m.save(tmp_path / "m.pt"),
            "to": lambda: m.to("cpu"),
            "export": lambda: m._export(),
        }[verb]
        with pytest.raises(NotFittedError, match="not fitted"):
            call()
        assert not (tmp_path / "m.pt").exists()


@torch_needed
def test_deep_fit_never_rewrites_hyper_parameters():
    from hamsearch.encoders.deep import LatentLayerHash

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (32, 8, 8), dtype=np.uint8)
    y = np.arange(32) % 2
    m = LatentLayerHash(nbits=np.int64(8), feature_dim=np.int64(16), verbose=False)
    before = m.get_params()
    m.fit(x, y, epochs=1, batch_size=16, device="cpu")
    after = m.get_params()
    for k in before:
        assert after[k] is before[k], k
    assert m.encode(x).shape == (32, 1)
