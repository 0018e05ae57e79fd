"""D-ELM: random normalised conv kernels, closed-form ELM weights, PCA-ITQ."""

import importlib.util

import numpy as np
import pytest

from hamsearch.encoders import ITQ, DeepELMHash
from hamsearch.encoders.delm import _avg_pool, _conv_same, elm_output_weights


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(150, 16, 16), dtype=np.uint8)


@pytest.mark.parametrize("n,m", [(80, 30), (30, 80), (40, 40)])
def test_beta_solves_ridge_normal_equations(n, m):
    rng = np.random.default_rng(n * 100 + m)
    H = rng.normal(size=(n, m))
    T = rng.normal(size=(n, 5))
    beta, form = elm_output_weights(H, T, 1e-3)
    assert form == ("primal" if n > m else "dual")
    lhs = (H.T @ H + 1e-3 * np.eye(m)) @ beta
    np.testing.assert_allclose(lhs, H.T @ T, rtol=1e-6, atol=1e-8)


def test_fitted_beta_solves_normal_equations(images):
    enc = DeepELMHash(nbits=16, random_state=0, engine="numpy").fit(images)
    H = enc.elm_features(images).astype(np.float64)
    T = enc.elm_targets(images).astype(np.float64)
    M = H.shape[1]
    lhs = (H.T @ H + enc.reg * np.eye(M)) @ enc.beta_
    np.testing.assert_allclose(lhs, H.T @ T, rtol=1e-4, atol=1e-4 * np.abs(H.T @ T).max())
    # 16x16 -> 8 -> 4 -> 2 -> 2 maps of 64 filters: M = 256 > N = 150 -> dual form
    assert M == 256 and enc.elm_form_ == "dual"


def test_kernels_random_unit_norm_layer_table(images):
    enc = DeepELMHash(nbits=16, random_state=0, engine="numpy").fit(images)
    shapes = [K.shape for K in enc.kernels_]
    assert shapes == [(8, 1, 4, 4), (16, 8, 4, 4), (32, 16, 4, 4), (64, 32, 4, 4)]
    for K in enc.kernels_:
        np.testing.assert_allclose(np.linalg.norm(K.reshape(K.shape[0], -1), axis=1), 1,
                                   rtol=1e-5)
    other = DeepELMHash(nbits=16, random_state=1, engine="numpy").fit(images)
    assert not np.allclose(enc.kernels_[0], other.kernels_[0])


def test_conv_matches_direct_loop():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 7, 6)).astype(np.float32)
    K = rng.normal(size=(4, 3, 4, 4)).astype(np.float32)
    out = _conv_same(x, K)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 2), (1, 2)))
    ref = np.zeros((2, 4, 7, 6))
    for i in range(7):
        for j in range(6):
            ref[:, :, i, j] = np.einsum("ncab,fcab->nf", xp[:, :, i:i + 4, j:j + 4], K)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
    pooled = _avg_pool(out, 2)
    np.testing.assert_allclose(pooled[0, 0, 0, 0], out[0, 0, :2, :2].mean(), rtol=1e-5)
    assert pooled.shape == (2, 4, 3, 3)


def test_codes_are_itq_of_elm_output(images):
    enc = DeepELMHash(nbits=16, random_state=0, engine="numpy").fit(images)
    Z = enc.elm_features(images) @ enc.beta_.astype(np.float32)
    assert isinstance(enc.itq_, ITQ)
    np.testing.assert_array_equal(enc.transform(images), enc.itq_.transform(Z))
    frac = enc.transform_bits(images).mean(axis=0)
    assert np.all(np.abs(frac - 0.5) < 0.25)


def test_image_layouts_agree(images):
    enc = DeepELMHash(nbits=16, random_state=0, engine="numpy").fit(images)
    a = enc.transform(images)
    np.testing.assert_array_equal(a, enc.transform(images[..., None]))
    flat = DeepELMHash(nbits=16, random_state=0, engine="numpy", image_shape=(16, 16))
    np.testing.assert_array_equal(flat.fit(images.reshape(150, -1)).transform(
        images.reshape(150, -1)), a)
    with pytest.raises(ValueError, match="image_shape"):
        DeepELMHash(nbits=16).fit(images.reshape(150, -1))
    with pytest.raises(ValueError, match="fitted on"):
        enc.transform(images[:, :12, :12])
    bad = images.astype(np.float32)
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        enc.transform(bad)


def test_colour_images():
    rng = np.random.default_rng(3)
    imgs = rng.integers(0, 256, size=(60, 8, 8, 3), dtype=np.uint8)
    enc = DeepELMHash(nbits=8, random_state=0, engine="numpy").fit(imgs)
    assert enc.kernels_[0].shape == (8, 3, 4, 4)
    assert enc.transform(imgs).shape == (60, 1)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
def test_torch_engine_matches_numpy(images):
    a = DeepELMHash(nbits=16, random_state=0, engine="numpy").fit(images)
    b = DeepELMHash(nbits=16, random_state=0, engine="torch").fit(images)
    Ha, Hb = a.elm_features(images), b.elm_features(images)
    np.testing.assert_allclose(Ha, Hb, rtol=1e-4, atol=1e-4 * np.abs(Ha).max())


def test_parameter_validation(images):
    with pytest.raises(ValueError, match="pool_sizes"):
        DeepELMHash(nbits=8, pool_sizes=(2, 2)).fit(images)
    with pytest.raises(ValueError, match="activation"):
        DeepELMHash(nbits=8, activation="sigmoidish").fit(images)
    with pytest.raises(ValueError, match="reg"):
        DeepELMHash(nbits=8, reg=0).fit(images)
    with pytest.raises(ValueError, match="engine"):
        DeepELMHash(nbits=8, engine="cuda").fit(images)
