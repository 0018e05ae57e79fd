"""Iterative quantisation (PCA-ITQ, Gong & Lazebnik 2011)."""

from __future__ import annotations

import numbers

import numpy as np

from ._base import BaseHasher, check_random_state, pca_fit

__all__ = ["ITQ", "itq_rotation"]


def itq_rotation(V: np.ndarray, n_iter: int, rng: np.random.RandomState):
    """Learn the ITQ rotation of zero-centred projected data ``V``.

    Alternates the two exact minimisations of the quantisation loss
    ``Q(B, R) = ||B - V R||_F**2`` over ``B in {-1, +1}`` (``B = sign(V R)``)
    and over orthogonal ``R`` (orthogonal Procrustes: with
    ``V.T @ B = U S Wt``, ``R = U @ Wt``).

    The products with ``V`` run in ``V``'s precision (float32 input stays
    float32, as in scikit-learn; anything else is float64); the SVDs and the
    loss are accumulated in float64.  The loss uses the identity
    ``||B - Z||**2 = n c - 2 sum|Z| + ||V||**2`` for ``Z = V R``, ``B =
    sign(Z)`` and orthogonal ``R``.

    Returns
    -------
    R : ndarray of float64, shape (c, c)
        The rotation after the last iteration.
    losses : ndarray of shape (n_iter + 1,)
        ``min_B Q(B, R_t) = ||sign(V R_t) - V R_t||_F**2`` for the initial
        random rotation ``R_0`` and after each iteration.  Each step can only
        lower Q, so this sequence is non-increasing (up to rounding).
    """
    n, c = V.shape
    dtype = np.float32 if V.dtype == np.float32 else np.float64
    V = np.ascontiguousarray(V, dtype=dtype)
    R, _ = np.linalg.qr(rng.standard_normal((c, c)))
    const = n * c + float(np.sum(np.square(V, dtype=np.float64)))
    one = dtype(1.0)
    losses = np.empty(n_iter + 1)

    def loss_and_codes(R):
        Z = V @ R.astype(dtype)
        loss = const - 2.0 * float(np.abs(Z).sum(dtype=np.float64))
        B = np.copysign(one, Z, out=Z)  # sign, with +0 -> +1
        return loss, B

    losses[0], B = loss_and_codes(R)
    for it in range(n_iter):
        U, _, Wt = np.linalg.svd((V.T @ B).astype(np.float64))
        R = U @ Wt
        losses[it + 1], B = loss_and_codes(R)
    return R, losses


class ITQ(BaseHasher):
    """PCA followed by iterative quantisation (Gong & Lazebnik, CVPR 2011).

    The centred data are projected on their ``nbits`` leading principal axes,
    then rotated by the orthogonal matrix ``R`` that (locally) minimises the
    quantisation loss ``||sign(V R) - V R||_F**2``; bits are the signs of the
    rotated projections.  ``R`` starts from a random rotation and alternates
    the exact updates of the codes and of ``R`` for ``n_iter`` iterations;
    the rotation from the last iteration is kept.

    Parameters
    ----------
    nbits : int, default=64
        Code length, a positive multiple of 8, at most ``n_features``.
    n_iter : int, default=50
        Number of alternating iterations.
    random_state : None, int or numpy.random.RandomState, default=None
        Seed of the initial rotation.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
    components_ : ndarray of shape (n_features, nbits)
        Principal axes (columns).
    rotation_ : ndarray of shape (nbits, nbits)
        The learned orthogonal rotation.
    projection_ : ndarray of shape (n_features, nbits)
        ``components_ @ rotation_``: the whole linear hash function.
    loss_curve_ : ndarray of shape (n_iter + 1,)
        Quantisation loss of the initial rotation and after each iteration
        (non-increasing).
    n_features_in_ : int
    nbits_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from hamsearch.encoders import ITQ
    >>> X = np.random.default_rng(0).normal(size=(300, 40))
    >>> itq = ITQ(nbits=16, random_state=0).fit(X)
    >>> itq.transform(X).shape, bool(itq.loss_curve_[-1] <= itq.loss_curve_[0])
    ((300, 2), True)
    """

    def __init__(self, nbits=64, n_iter=50, random_state=None):
        self.nbits = nbits
        self.n_iter = n_iter
        self.random_state = random_state

    def _fit(self, X, y, nbits):
        if isinstance(self.n_iter, bool) or not isinstance(self.n_iter, numbers.Integral) \
                or self.n_iter < 0:
            raise ValueError(f"n_iter must be a non-negative int, got {self.n_iter!r}")
        if nbits > X.shape[1]:
            raise ValueError(
                f"ITQ needs nbits <= n_features; got nbits={nbits} with "
                f"{X.shape[1]} features"
            )
        rng = check_random_state(self.random_state)
        self.mean_, self.components_, _ = pca_fit(X, nbits)
        V = (X - self.mean_.astype(X.dtype)) @ self.components_.astype(X.dtype)
        self.rotation_, self.loss_curve_ = itq_rotation(V, int(self.n_iter), rng)
        self.projection_ = self.components_ @ self.rotation_

    def _project(self, X):
        return (X - self.mean_.astype(X.dtype)) @ self.projection_.astype(X.dtype)
