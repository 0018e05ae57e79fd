"""Locality-sensitive hashing with random hyperplanes (Charikar's SimHash)."""

from __future__ import annotations

import numpy as np

from ._base import BaseHasher, check_random_state

__all__ = ["LSH"]


class LSH(BaseHasher):
    """Random-hyperplane LSH: bit ``j`` is the side of hyperplane ``j``.

    Each bit is ``sign(w_j . (x - mu))`` with ``w_j`` drawn from a standard
    normal distribution, so the probability that two vectors get different
    bits is their angle divided by pi (Charikar, 2002).  The hyperplanes are
    data-independent; ``fit`` only records the feature count and, when
    ``center=True``, the training mean ``mu`` (without centering, data that
    lies far from the origin gets nearly constant bits).

    Parameters
    ----------
    nbits : int, default=64
        Code length, a positive multiple of 8.
    center : bool, default=True
        Subtract the training mean before projecting.
    random_state : None, int or numpy.random.RandomState, default=None
        Seed of the hyperplanes.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
        Offset subtracted before projecting (zeros when ``center=False``).
    projections_ : ndarray of shape (n_features, nbits)
        The hyperplane normals, one column per bit.
    n_features_in_ : int
    nbits_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from hamsearch.encoders import LSH
    >>> X = np.random.default_rng(0).normal(size=(100, 20))
    >>> LSH(nbits=16, random_state=0).fit(X).transform(X).shape
    (100, 2)
    """

    def __init__(self, nbits=64, center=True, random_state=None):
        self.nbits = nbits
        self.center = center
        self.random_state = random_state

    def _fit(self, X, y, nbits):
        rng = check_random_state(self.random_state)
        d = X.shape[1]
        self.mean_ = X.mean(axis=0, dtype=np.float64) if self.center else np.zeros(d)
        self.projections_ = rng.standard_normal((d, nbits))

    def _project(self, X):
        return (X - self.mean_.astype(X.dtype)) @ self.projections_.astype(X.dtype)
