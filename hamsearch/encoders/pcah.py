"""PCA hashing: the signs of the top principal components."""

from __future__ import annotations

from ._base import BaseHasher, pca_fit

__all__ = ["PCAH"]


class PCAH(BaseHasher):
    """PCA hashing: bit ``j`` is the sign of the ``j``-th principal projection.

    The data are centred on the training mean and projected onto the
    ``nbits`` leading principal axes; each projection is thresholded at zero
    (its training mean), so every bit splits the training set along one
    direction of large variance.  The sign of each axis is fixed so that its
    largest-magnitude loading is positive (flipping an axis would only
    complement that bit in every code, which leaves Hamming distances
    unchanged).

    Parameters
    ----------
    nbits : int, default=64
        Code length, a positive multiple of 8, at most ``n_features``.
    random_state : ignored
        Accepted for a uniform interface; PCA here is deterministic.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
    components_ : ndarray of shape (n_features, nbits)
        Principal axes as columns, by decreasing variance.
    explained_variance_ : ndarray of shape (nbits,)
    n_features_in_ : int
    nbits_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from hamsearch.encoders import PCAH
    >>> X = np.random.default_rng(0).normal(size=(200, 32))
    >>> PCAH(nbits=16).fit(X).transform(X).shape
    (200, 2)
    """

    def __init__(self, nbits=64, random_state=None):
        self.nbits = nbits
        self.random_state = random_state

    def _fit(self, X, y, nbits):
        if nbits > X.shape[1]:
            raise ValueError(
                f"PCAH needs nbits <= n_features; got nbits={nbits} with "
                f"{X.shape[1]} features"
            )
        self.mean_, self.components_, self.explained_variance_ = pca_fit(X, nbits)

    def _project(self, X):
        return (X - self.mean_.astype(X.dtype)) @ self.components_.astype(X.dtype)
