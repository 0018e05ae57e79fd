"""Defining properties of the linear hashers: LSH, PCAH, ITQ, SH."""

import numpy as np
import pytest

from hamsearch.encoders import ITQ, LSH, PCAH, SH
from hamsearch.encoders.itq import itq_rotation


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(0)
    # anisotropic data so the principal axes are well separated
    scales = np.linspace(3.0, 0.3, 20)
    return rng.normal(size=(400, 20)) * scales @ np.linalg.qr(rng.normal(size=(20, 20)))[0]


# ------------------------------------------------------------------- LSH
def test_lsh_collision_probability_is_angle_over_pi():
    rng = np.random.default_rng(1)
    x = rng.normal(size=10)
    for angle in (0.3, 1.0, 2.0):
        # y at a known angle from x, in the plane of x and a random direction
        u = x / np.linalg.norm(x)
        v = rng.normal(size=10)
        v -= u * (u @ v)
        v /= np.linalg.norm(v)
        y = np.cos(angle) * u + np.sin(angle) * v
        enc = LSH(nbits=4096, center=False, random_state=2).fit(np.stack([x, y]))
        bits = enc.transform_bits(np.stack([x, y]))
        frac = np.mean(bits[0] != bits[1])
        assert abs(frac - angle / np.pi) < 0.04, (angle, frac)


def test_lsh_centering():
    X = np.random.default_rng(0).normal(size=(200, 5)) + 1000.0
    raw = LSH(nbits=64, center=False, random_state=0).fit(X).transform_bits(X)
    centred = LSH(nbits=64, center=True, random_state=0).fit(X).transform_bits(X)
    # far from the origin nearly every point falls on the same side of each hyperplane
    m = raw.mean(0)
    assert np.mean(np.minimum(m, 1 - m)) < 0.02
    assert np.all(np.abs(centred.mean(0) - 0.5) < 0.3)


# ------------------------------------------------------------------ PCAH
def test_pcah_bits_are_pca_signs(X):
    from sklearn.decomposition import PCA

    bits = PCAH(nbits=16).fit(X).transform_bits(X)
    proj = PCA(n_components=16).fit(X).transform(X)
    ref = (proj > 0).astype(np.uint8)
    for j in range(16):  # principal axes are defined up to sign
        same = np.array_equal(bits[:, j], ref[:, j])
        flipped = np.array_equal(bits[:, j], 1 - ref[:, j])
        assert same or flipped, j


def test_pcah_components_orthonormal_and_sorted(X):
    enc = PCAH(nbits=16).fit(X)
    W = enc.components_
    np.testing.assert_allclose(W.T @ W, np.eye(16), atol=1e-8)
    assert np.all(np.diff(enc.explained_variance_) <= 1e-12)


# ------------------------------------------------------------------- ITQ
def test_itq_loss_non_increasing(X):
    enc = ITQ(nbits=16, n_iter=50, random_state=0).fit(X)
    loss = enc.loss_curve_
    assert loss.shape == (51,)
    assert np.all(np.diff(loss) <= 1e-9 * loss[0])
    assert loss[-1] < loss[0]  # the iterations did something


def test_itq_float32_input_computes_in_float32(X):
    X32 = X.astype(np.float32)
    a = ITQ(nbits=16, random_state=0).fit(X32)
    b = ITQ(nbits=16, random_state=0).fit(X)
    # float32 rounding allows only tiny increases once converged
    assert np.all(np.diff(a.loss_curve_) <= 1e-6 * a.loss_curve_[0])
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-3)
    assert np.mean(a.transform_bits(X32) == b.transform_bits(X)) > 0.97


def test_itq_rotation_orthogonal_and_bits_are_rotated_signs(X):
    enc = ITQ(nbits=16, random_state=0).fit(X)
    R = enc.rotation_
    np.testing.assert_allclose(R.T @ R, np.eye(16), atol=1e-10)
    V = (X - enc.mean_) @ enc.components_
    np.testing.assert_array_equal(enc.transform_bits(X), (V @ R > 0).astype(np.uint8))


def test_itq_final_loss_matches_codes(X):
    """The last recorded loss is the quantisation loss of the kept rotation."""
    enc = ITQ(nbits=16, n_iter=10, random_state=1).fit(X)
    V = (X - enc.mean_) @ enc.components_
    Z = V @ enc.rotation_
    B = np.where(Z >= 0, 1.0, -1.0)
    np.testing.assert_allclose(np.sum((B - Z) ** 2), enc.loss_curve_[-1], rtol=1e-6)


def test_itq_rotation_beats_random_rotation():
    rng = np.random.default_rng(3)
    V = rng.normal(size=(500, 8)) * np.array([5, 4, 3, 2, 1, 1, 0.5, 0.5])
    R, losses = itq_rotation(V, 50, np.random.RandomState(0))
    random_losses = []
    for s in range(20):
        Q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
        Z = V @ Q
        random_losses.append(np.sum((np.sign(Z) - Z) ** 2))
    assert losses[-1] <= min(random_losses)


def test_itq_n_iter_validation(X):
    with pytest.raises(ValueError, match="n_iter"):
        ITQ(nbits=16, n_iter=-1).fit(X)
    assert ITQ(nbits=16, n_iter=0, random_state=0).fit(X).loss_curve_.shape == (1,)


# -------------------------------------------------------------------- SH
def test_sh_picks_smallest_analytical_eigenvalues(X):
    enc = SH(nbits=24).fit(X)
    span = enc.upper_ - enc.lower_
    chosen = (enc.modes_[:, 1] / span[enc.modes_[:, 0]]) ** 2
    # brute force over every single-axis mode up to a generous k
    allv = np.sort(((np.arange(1, 60)[None, :] / span[:, None]) ** 2).ravel())
    np.testing.assert_allclose(np.sort(chosen), allv[:24])
    assert np.all(np.diff(chosen) >= 0)
    assert np.all(enc.modes_[:, 1] >= 1)


def test_sh_bits_follow_eigenfunction_formula(X):
    enc = SH(nbits=16).fit(X)
    V = (X - enc.mean_) @ enc.components_
    a, k = enc.modes_[:, 0], enc.modes_[:, 1]
    phi = np.sin(np.pi / 2 + k * np.pi * (V[:, a] - enc.lower_[a]) / (enc.upper_ - enc.lower_)[a])
    np.testing.assert_array_equal(enc.transform_bits(X), (phi > 0).astype(np.uint8))
    # the first bit (k = 1 on the widest axis) says "below the box's midpoint"
    assert tuple(enc.modes_[0]) == (int(np.argmax(enc.upper_ - enc.lower_)), 1)
    a0 = enc.modes_[0, 0]
    mid = (enc.lower_[a0] + enc.upper_[a0]) / 2
    np.testing.assert_array_equal(enc.transform_bits(X)[:, 0], (V[:, a0] < mid).astype(np.uint8))


def test_sh_more_bits_than_features():
    X = np.random.default_rng(0).normal(size=(100, 4))
    enc = SH(nbits=16).fit(X)
    assert enc.components_.shape == (4, 4)
    assert enc.transform(X).shape == (100, 2)
    assert enc.modes_[:, 1].max() > 1  # several frequencies per axis
