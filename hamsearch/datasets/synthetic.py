"""Seeded synthetic data: clustered feature vectors and clustered binary codes."""

from __future__ import annotations

import numpy as np

from ..codes import check_nbits
from ..synthetic import clustered_codes

__all__ = ["make_clustered_features", "make_clustered_codes"]


def _rng(random_state):
    return np.random.default_rng(random_state)


def _check_pos(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def make_clustered_features(n_samples=2000, n_features=64, n_clusters=10, cluster_std=1.0,
                            center_scale=3.0, random_state=0):
    """Gaussian clusters in ``n_features`` dimensions, one class per cluster.

    Parameters
    ----------
    n_samples, n_features, n_clusters : int
    cluster_std : float
        Standard deviation of every coordinate inside a cluster.
    center_scale : float
        Standard deviation of the cluster centres' coordinates.
    random_state : int or None

    Returns
    -------
    X : ndarray of float32, shape (n_samples, n_features)
    labels : ndarray of int64, shape (n_samples,)
        Balanced: sample ``i`` belongs to cluster ``i % n_clusters`` before shuffling.
    """
    n = _check_pos(n_samples, "n_samples")
    d = _check_pos(n_features, "n_features")
    c = _check_pos(n_clusters, "n_clusters")
    rng = _rng(random_state)
    centres = rng.normal(scale=center_scale, size=(c, d))
    labels = rng.permutation(np.arange(n) % c).astype(np.int64)
    X = centres[labels] + rng.normal(scale=cluster_std, size=(n, d))
    return X.astype(np.float32), labels


def make_clustered_codes(n_samples=2000, nbits=64, n_clusters=10, flip_prob=0.1,
                         random_state=0):
    """Binary codes scattered around random centre codes, one class per centre.

    Each code copies its cluster's random centre code and flips every bit
    independently with probability ``flip_prob``
    (:func:`hamsearch.synthetic.clustered_codes` with balanced labels).

    Returns
    -------
    codes : ndarray of uint8, shape (n_samples, nbits // 8)
        Packed, FAISS layout.
    labels : ndarray of int64, shape (n_samples,)
    """
    n = _check_pos(n_samples, "n_samples")
    nbits = check_nbits(nbits)
    c = _check_pos(n_clusters, "n_clusters")
    if not 0.0 <= flip_prob <= 1.0:
        raise ValueError(f"flip_prob must be in [0, 1], got {flip_prob!r}")
    rng = _rng(random_state)
    labels = rng.permutation(np.arange(n) % c).astype(np.int64)
    codes, _ = clustered_codes(n, nbits, ncenters=c, flip=flip_prob, seed=rng, labels=labels)
    return codes, labels
