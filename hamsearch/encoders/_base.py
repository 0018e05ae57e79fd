"""Shared machinery of the shallow hashers: parameters, validation, packing.

The hashers follow the scikit-learn estimator conventions without importing
scikit-learn at module import time:

* every constructor argument is stored verbatim under its own name and read
  back by ``get_params`` (so :func:`sklearn.base.clone` works); the
  parameter handling is :class:`~hamsearch.encoders._params.ParamsMixin`,
  shared with the deep models,
* everything learned by ``fit`` lives in attributes with a trailing
  underscore,
* ``transform`` returns packed ``uint8`` codes of shape ``(n, nbits // 8)``,
  the FAISS binary layout that every ``hamsearch`` function accepts.

``__sklearn_tags__`` and ``__sklearn_is_fitted__`` are provided so the hashers
work as the last step of a :class:`sklearn.pipeline.Pipeline`; the tag
classes are imported only when scikit-learn asks for them.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..codes import check_nbits, pack
from ._params import NotFittedError, ParamsMixin

__all__ = ["BaseHasher", "check_random_state", "check_features", "NotFittedError"]


def check_random_state(seed) -> np.random.RandomState:
    """Turn ``seed`` into a :class:`numpy.random.RandomState`.

    Parameters
    ----------
    seed : None, int or numpy.random.RandomState
        ``None`` gives a fresh, OS-seeded generator; an int seeds a new one;
        a ``RandomState`` is returned as is (its state advances, as in
        scikit-learn).
    """
    if seed is None:
        return np.random.RandomState()
    if isinstance(seed, np.random.RandomState):
        return seed
    if isinstance(seed, (numbers.Integral, np.integer)) and not isinstance(seed, bool):
        return np.random.RandomState(int(seed))
    raise TypeError(
        f"random_state must be None, an int or a numpy.random.RandomState, "
        f"got {type(seed).__name__}"
    )


def check_features(X, name: str = "X", *, min_samples: int = 1) -> np.ndarray:
    """Validate a feature matrix and return it as a C-contiguous float array.

    ``float32`` input stays ``float32``; everything else numeric becomes
    ``float64``.

    Raises
    ------
    TypeError
        Non-numeric input (strings, objects, complex numbers).
    ValueError
        Not 2-D, fewer than ``min_samples`` rows, no columns, or any NaN / inf.
    """
    arr = np.asarray(X)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {arr.shape}")
    if arr.shape[0] < min_samples:
        raise ValueError(
            f"{name} needs at least {min_samples} samples, got shape {arr.shape}"
        )
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has no features (shape {arr.shape})")
    dtype = np.float32 if arr.dtype == np.float32 else np.float64
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return arr


class BaseHasher(ParamsMixin):
    """Base class of the shallow hashers (not meant to be used directly).

    Subclasses implement ``_fit(X, y)`` (learn the ``*_`` attributes from a
    validated float matrix) and ``_project(X)`` (real-valued scores, one
    column per bit; bit = 1 where the score is > 0).  This class supplies
    ``fit``, ``transform`` and ``fit_transform``; ``get_params``,
    ``set_params``, ``repr`` and the fitted-state check come from
    :class:`~hamsearch.encoders._params.ParamsMixin`.
    """

    _fitted_attr = "n_features_in_"
    _fit_hint = "call fit(X) first"

    # -------------------------------------------------- scikit-learn hooks
    def __sklearn_tags__(self):
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=False),
            transformer_tags=TransformerTags(),
            input_tags=InputTags(allow_nan=False),
        )

    # ------------------------------------------------------------ fitting
    def _check_nbits(self) -> int:
        return check_nbits(self.nbits)

    def fit(self, X, y=None):
        """Learn the hash functions from training features.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Real-valued training features (no NaN / inf).
        y : ignored
            Present for scikit-learn compatibility (used by hashers that say
            so in their docstring).

        Returns
        -------
        self
        """
        nbits = self._check_nbits()
        X = self._validate_fit_input(X)
        self._fit(X, y, nbits)
        self.n_features_in_ = X.shape[1]
        self.nbits_ = nbits
        return self

    def _validate_fit_input(self, X):
        return check_features(X, "X", min_samples=2)

    def _validate_transform_input(self, X):
        X = check_features(X, "X")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} was fitted "
                f"with {self.n_features_in_}"
            )
        return X

    def transform_real(self, X) -> np.ndarray:
        """Real-valued projections whose thresholding gives the bits.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples, nbits)
            Bit ``j`` of a code is ``scores[:, j] > 0``.
        """
        self._check_fitted()
        X = self._validate_transform_input(X)
        return self._project(X)

    def transform_bits(self, X) -> np.ndarray:
        """Unpacked codes: ``uint8`` 0/1 matrix of shape ``(n_samples, nbits)``."""
        return (self.transform_real(X) > 0).astype(np.uint8)

    def transform(self, X) -> np.ndarray:
        """Hash features to packed codes.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)

        Returns
        -------
        codes : ndarray of uint8, shape (n_samples, nbits // 8)
            Packed codes in the FAISS binary layout (bit ``j`` in byte
            ``j // 8``, position ``j % 8``), ready for :class:`hamsearch.Index`.
        """
        return pack(self.transform_bits(X))

    def fit_transform(self, X, y=None) -> np.ndarray:
        """``fit(X, y)`` then ``transform(X)``."""
        return self.fit(X, y).transform(X)

    # --------------------------------------------------- to be overridden
    def _fit(self, X, y, nbits):  # pragma: no cover - abstract
        raise NotImplementedError

    def _project(self, X):  # pragma: no cover - abstract
        raise NotImplementedError


def pca_fit(X: np.ndarray, ncomp: int):
    """Principal axes of ``X`` by an eigendecomposition of its covariance.

    Returns ``(mean, components, explained_variance)`` with ``components`` of
    shape ``(n_features, ncomp)``, columns in order of decreasing variance.
    The sign of each axis is fixed so that its largest-magnitude loading is
    positive, which makes the result deterministic.

    The covariance is accumulated in float64 in row blocks, so memory stays at
    ``O(n_features**2)`` beyond the input.
    """
    n, d = X.shape
    if ncomp > d:
        raise ValueError(f"cannot take {ncomp} principal components of {d} features")
    mean = X.mean(axis=0, dtype=np.float64)
    cov = np.zeros((d, d), dtype=np.float64)
    block = max(1, min(n, (1 << 24) // max(d, 1)))
    mean_c = mean.astype(X.dtype)
    for start in range(0, n, block):
        xb = X[start : start + block] - mean_c
        cov += (xb.T @ xb).astype(np.float64)
    cov /= max(n - 1, 1)
    evals, evecs = np.linalg.eigh(cov)
    order = np.argsort(evals)[::-1][:ncomp]
    comps = evecs[:, order]
    signs = np.sign(comps[np.argmax(np.abs(comps), axis=0), np.arange(ncomp)])
    signs[signs == 0] = 1.0
    comps *= signs
    return mean, comps, np.maximum(evals[order], 0.0)
