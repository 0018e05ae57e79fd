"""Spectral hashing (Weiss, Torralba & Fergus, NIPS 2008)."""

from __future__ import annotations

import numpy as np

from ._base import BaseHasher, pca_fit

__all__ = ["SH"]


class SH(BaseHasher):
    """Spectral hashing with the analytical eigenfunctions of a box.

    Following Weiss et al.: the data are rotated onto their principal axes
    (``min(nbits, n_features)`` of them) and modelled as uniform on the
    bounding box ``[a_i, b_i]`` of the training projections.  The
    eigenfunctions of the weighted Laplace operator on that box are, per axis
    ``i`` and mode ``k >= 1``,

        ``phi_ik(x) = sin(pi / 2 + k * pi / (b_i - a_i) * (x_i - a_i))``

    with eigenvalue growing like ``(k / (b_i - a_i))**2``.  The ``nbits``
    single-axis eigenfunctions with the smallest eigenvalues (the constant
    mode ``k = 0`` excluded) become the hash functions; bit = ``phi > 0``.
    Long, high-variance axes therefore receive several bits of increasing
    frequency.

    Parameters
    ----------
    nbits : int, default=64
        Code length, a positive multiple of 8.
    random_state : ignored
        Accepted for a uniform interface; the method is deterministic.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
    components_ : ndarray of shape (n_features, n_pca)
        Principal axes, ``n_pca = min(nbits, n_features)``.
    lower_, upper_ : ndarray of shape (n_pca,)
        Box bounds ``a_i``, ``b_i`` (training range padded by a tiny margin).
    modes_ : ndarray of int, shape (nbits, 2)
        ``(axis, k)`` of each bit's eigenfunction, by increasing eigenvalue.
    n_features_in_ : int
    nbits_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from hamsearch.encoders import SH
    >>> X = np.random.default_rng(0).normal(size=(200, 10))
    >>> SH(nbits=32).fit(X).transform(X).shape
    (200, 4)
    """

    def __init__(self, nbits=64, random_state=None):
        self.nbits = nbits
        self.random_state = random_state

    def _fit(self, X, y, nbits):
        n_pca = min(nbits, X.shape[1])
        self.mean_, self.components_, _ = pca_fit(X, n_pca)
        V = (X - self.mean_.astype(X.dtype)) @ self.components_.astype(X.dtype)
        eps = np.finfo(np.float32).eps
        lo = V.min(axis=0).astype(np.float64)
        hi = V.max(axis=0).astype(np.float64)
        pad = eps * np.maximum(np.abs(lo), np.abs(hi)) + eps
        lo, hi = lo - pad, hi + pad
        span = hi - lo
        # Enough modes per axis that the nbits smallest are surely among them.
        max_mode = np.ceil((nbits + 1) * span / span.max()).astype(np.int64)
        axes = np.repeat(np.arange(n_pca), max_mode)
        ks = np.concatenate([np.arange(1, m + 1) for m in max_mode])
        eigval = (ks / span[axes]) ** 2
        order = np.argsort(eigval, kind="stable")[:nbits]
        if order.size < nbits:  # pragma: no cover - max_mode guarantees enough
            raise RuntimeError("spectral hashing found too few modes")
        self.lower_, self.upper_ = lo, hi
        self.modes_ = np.stack([axes[order], ks[order]], axis=1)

    def _project(self, X):
        V = (X - self.mean_.astype(X.dtype)) @ self.components_.astype(X.dtype)
        axis, k = self.modes_[:, 0], self.modes_[:, 1]
        omega = k * np.pi / (self.upper_ - self.lower_)[axis]
        return np.sin(np.pi / 2 + omega * (V[:, axis] - self.lower_[axis]))
