"""Laplacian-eigenmap hashing: the eigen-equation, thresholds, out-of-sample extension."""

import numpy as np
import pytest

from hamsearch.encoders import LaplacianEigenmapHash


@pytest.fixture(scope="module")
def clustered():
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=1.5, size=(4, 10))  # overlapping: one connected graph
    y = np.arange(400) % 4
    X = centres[y] + rng.normal(size=(400, 10))
    return X, y


@pytest.fixture(scope="module")
def fitted(clustered):
    X, _ = clustered
    return LaplacianEigenmapHash(nbits=16, random_state=0).fit(X)


def test_embedding_solves_generalised_eigenproblem(fitted):
    W = fitted.affinity_
    deg = np.asarray(W.sum(axis=1)).ravel()
    V, lam = fitted.embedding_, fitted.eigenvalues_
    LV = deg[:, None] * V - W @ V
    DV = deg[:, None] * V
    resid = np.linalg.norm(LV - DV * lam, axis=0) / np.linalg.norm(DV, axis=0)
    assert np.all(resid < 1e-5), resid
    # D-orthonormal, orthogonal to the constant vector, sorted, non-trivial
    np.testing.assert_allclose(V.T @ DV, np.eye(16), atol=1e-6)
    np.testing.assert_allclose(deg @ V, 0, atol=1e-6)
    assert np.all(np.diff(lam) >= -1e-12) and lam[0] > 1e-7


def test_eigenvalues_are_the_smallest_nonzero(clustered, fitted):
    import scipy.linalg

    W = fitted.affinity_.toarray()
    deg = W.sum(axis=1)
    ref = scipy.linalg.eigh(np.diag(deg) - W, np.diag(deg), eigvals_only=True)
    ref = ref[ref > 1e-7][:16]
    np.testing.assert_allclose(fitted.eigenvalues_, ref, rtol=1e-5, atol=1e-8)


def test_graph_is_symmetric_knn(clustered, fitted):
    X, _ = clustered
    W = fitted.affinity_
    assert abs(W - W.T).max() == 0
    assert W.diagonal().max() == 0
    assert np.all(np.diff(W.indptr) >= 10)  # every point keeps its 10 neighbours
    assert W.data.min() > 0 and W.data.max() <= 1


def test_binary_weights(clustered):
    X, _ = clustered
    enc = LaplacianEigenmapHash(nbits=8, weights="binary", random_state=0).fit(X)
    assert set(np.unique(enc.affinity_.data)) == {1.0}


def test_out_of_sample_reproduces_training_codes(clustered, fitted):
    X, _ = clustered
    in_sample = (fitted.embedding_ > fitted.thresholds_).astype(np.uint8)
    out = fitted.transform_bits(X)
    assert np.mean(in_sample == out) > 0.85


def test_codes_group_clusters(clustered, fitted):
    """Points of one cluster get close codes; other clusters far ones."""
    import hamsearch

    X, y = clustered
    rng = np.random.default_rng(5)
    Xq = X[:40] + 0.1 * rng.normal(size=(40, 10))
    D = hamsearch.hamming_distances(fitted.transform(Xq), fitted.transform(X))
    same = y[:40, None] == y[None, :]
    assert D[same].mean() + 2 < D[~same].mean()


def test_fixture_graph_is_connected(fitted):
    assert fitted.n_components_dropped_ == 1


def test_disconnected_graph_keep_components():
    """Separated clusters: the component indicators become the first bits."""
    import hamsearch

    rng = np.random.default_rng(0)
    centres = rng.normal(scale=30, size=(4, 10))
    y = np.arange(400) % 4
    X = centres[y] + rng.normal(size=(400, 10))
    enc = LaplacianEigenmapHash(nbits=8, keep_components=True, random_state=0).fit(X)
    assert enc.n_components_dropped_ == 4
    np.testing.assert_allclose(enc.eigenvalues_[:3], 0, atol=1e-7)
    # the 3 kept null-space vectors are constant on each cluster ...
    for v in enc.embedding_[:, :3].T:
        for c in range(4):
            assert np.ptp(v[y == c]) < 1e-6 * np.abs(v).max()
    # ... so clusters are far apart in Hamming space
    D = hamsearch.hamming_distances(enc.transform(X[:40]), enc.transform(X))
    same = y[:40, None] == y[None, :]
    assert D[same].mean() + 1 < D[~same].mean()
    drop = LaplacianEigenmapHash(nbits=8, random_state=0).fit(X)
    assert np.all(drop.eigenvalues_ > 1e-7)


def test_disconnected_graph_drops_all_trivial_vectors():
    rng = np.random.default_rng(2)
    X = np.concatenate([rng.normal(size=(60, 3)), rng.normal(size=(60, 3)) + 1000])
    enc = LaplacianEigenmapHash(nbits=8, n_neighbors=5, random_state=0).fit(X)
    assert enc.n_components_dropped_ == 2
    assert np.all(enc.eigenvalues_ > 1e-7)


def test_parameter_validation(clustered):
    X, _ = clustered
    with pytest.raises(ValueError, match="n_neighbors"):
        LaplacianEigenmapHash(nbits=8, n_neighbors=0).fit(X)
    with pytest.raises(ValueError, match="n_neighbors"):
        LaplacianEigenmapHash(nbits=8, n_neighbors=400).fit(X)
    with pytest.raises(ValueError, match="weights"):
        LaplacianEigenmapHash(nbits=8, weights="gauss").fit(X)
    with pytest.raises(ValueError, match="n_samples"):
        LaplacianEigenmapHash(nbits=16, n_neighbors=3).fit(X[:12])
