"""Deep ELM hashing (D-ELM, Zeng et al.): random conv layers + ELM + PCA-ITQ.

:class:`DeepELMHash` is here; the random convolution stack is
``_random_conv.py`` (:func:`random_kernels`, :func:`random_conv_features`)
and the ELM output layer ``_elm.py`` (:func:`elm_output_weights`,
:data:`DEFAULT_REG`); their names are importable from this module too.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..codes import check_nbits
from ._base import BaseHasher, NotFittedError, check_random_state
from ._elm import DEFAULT_REG, elm_output_weights
from ._random_conv import (  # noqa: F401  (re-exported)
    _ACTIVATIONS,
    _KERNEL_INITS,
    _avg_pool,
    _conv_same,
    _features_torch,
    _torch_available,
    random_conv_features,
    random_kernels,
)
from .itq import ITQ

__all__ = ["DeepELMHash", "elm_output_weights", "random_conv_features", "random_kernels"]


class DeepELMHash(BaseHasher):
    """Deep ELM hashing: random normalised conv layers, ELM, then PCA + ITQ.

    The network of Zeng et al.'s D-ELM, with the layer table of that paper
    (its Table 1): ``len(n_filters)`` convolution layers (8, 16, 32, 64
    filters of ``kernel_size`` x ``kernel_size`` = 4 x 4 by default), each
    followed by an activation and an average pooling (sizes 2, 2, 2, 1).  The
    kernels are random and never trained -- they are the random hidden layer
    of an extreme learning machine.  The flattened last feature maps ``H``
    (``N x M``) feed the ELM output layer, whose weights have the closed form
    of the paper's eqs. (4) / (10) (:func:`elm_output_weights`) in the
    ``N > M`` or ``N <= M`` form according to the shape.  The ELM output
    ``H beta`` (eq. 11) is then hashed by PCA + ITQ
    (:class:`~hamsearch.encoders.ITQ`).

    Where this differs from the paper, and why (``docs/methods.md`` has the
    measurements):

    * Kernels: Gaussian, each scaled to unit L2 norm (``kernel_init=
      "gaussian"``, the default).  The paper's eqs. (6)-(7) draw every weight
      uniform in [0, 1] and divide each kernel by its sum
      (``kernel_init="uniform"``); those are all-positive blurring filters,
      the ReLU never fires on the non-negative images, and mAP drops
      (MNIST-5k 16 bits 0.31 against 0.42, Fashion-MNIST 0.43 against 0.45).
    * Ridge: eq. (3) weights the training error by lambda = 0.001, so the
      closed form adds ``I / lambda`` = 1000 to ``H.T H``.  That is for
      intensities in 0..255 (the paper's 784 intensity bins); our images are
      scaled to [0, 1], which scales ``H.T H`` by 1/255**2, so the same
      ridge is ``reg = 1000 / 255**2`` (about 0.0154, the default).
    * ELM targets: the ELM is trained as an auto-encoder (targets ``T`` = the
      input image, flattened): the paper says its ELM minimises a
      reconstruction error, and the hasher stays unsupervised like the other
      baselines; ``y`` is ignored.  The output ``H beta`` is the best ridge
      reconstruction of the image from the random conv features.
    * 'same' padding (so 28 x 28 input gives 28, 14, 7, 3, 3 sized maps and
      ``M = 64 * 3 * 3``): the paper's 'valid' maps (``d - r + 1``) with its
      pooling sizes would shrink a 28 x 28 image to nothing by layer 4, and
      its Table 1 map sizes (16, 12, 8, 4) follow from no input size with
      those pools (see ``docs/methods.md``).  A ReLU after each convolution
      (the paper names no non-linearity; without one the stack is one
      linear map).
    * Integer (e.g. uint8) images are scaled by 1/255; float images are used
      as given.

    Parameters
    ----------
    nbits : int, default=64
        Code length, a positive multiple of 8.
    image_shape : tuple of int, optional
        ``(h, w)`` or ``(h, w, c)``; needed when images are given flattened
        as ``(n, h * w * c)``.
    n_filters : sequence of int, default=(8, 16, 32, 64)
    kernel_size : int, default=4
    pool_sizes : sequence of int, default=(2, 2, 2, 1)
    activation : {"relu", "tanh", "linear"}, default="relu"
    reg : float, default=1000 / 255**2
        Ridge coefficient added to ``H.T H`` (or ``H H.T``): the paper's
        ``1 / lambda`` with lambda = 0.001, rescaled from 0..255 intensities
        to images in [0, 1] (see above).
    n_iter : int, default=50
        ITQ iterations.
    engine : {"auto", "numpy", "torch"}, default="auto"
        How the convolutions run (see :func:`random_conv_features`); "auto"
        uses torch when installed, numpy otherwise.
    random_state : None, int or numpy.random.RandomState, default=None
        Seed of the kernels and of the ITQ rotation.
    kernel_init : {"gaussian", "uniform"}, default="gaussian"
        How the random kernels are drawn (:func:`random_kernels`); "uniform"
        is the paper's eqs. (6)-(7).

    Attributes
    ----------
    kernels_ : list of ndarray
        Layer ``l``: shape ``(n_filters[l], channels_in, r, r)``; unit L2 norm
        (or unit sum, ``kernel_init="uniform"``) per filter.
    beta_ : ndarray of shape (M, n_targets)
        ELM output weights.
    elm_form_ : {"primal", "dual"}
        Which closed form was used (``N > M`` / ``N <= M``).
    itq_ : ITQ
        The fitted PCA + ITQ stage on ``H beta``.
    image_shape_ : tuple (h, w, c)
    n_features_in_ : int
        ``h * w * c``.
    nbits_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from hamsearch.encoders import DeepELMHash
    >>> imgs = np.random.default_rng(0).integers(0, 256, (200, 16, 16), dtype=np.uint8)
    >>> DeepELMHash(nbits=16, random_state=0).fit(imgs).transform(imgs).shape
    (200, 2)
    """

    def __init__(self, nbits=64, image_shape=None, n_filters=(8, 16, 32, 64),
                 kernel_size=4, pool_sizes=(2, 2, 2, 1), activation="relu",
                 reg=DEFAULT_REG, n_iter=50, engine="auto", random_state=None,
                 kernel_init="gaussian"):
        self.nbits = nbits
        self.image_shape = image_shape
        self.n_filters = n_filters
        self.kernel_size = kernel_size
        self.pool_sizes = pool_sizes
        self.activation = activation
        self.reg = reg
        self.n_iter = n_iter
        self.engine = engine
        self.random_state = random_state
        self.kernel_init = kernel_init

    # ------------------------------------------------------------- input
    def _as_images(self, X, shape=None) -> np.ndarray:
        """Validate images and return them as float32 (n, c, h, w)."""
        arr = np.asarray(X)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"X must hold real numbers, got dtype {arr.dtype}")
        if arr.ndim == 2:
            shape = shape or self.image_shape
            if shape is None:
                raise ValueError(
                    f"X is 2-D {arr.shape}: pass image_shape=(h, w) or (h, w, c) "
                    "for flattened images, or give images as (n, h, w[, c])"
                )
            shape = tuple(int(s) for s in shape)
            if len(shape) == 2:
                shape = shape + (1,)
            if len(shape) != 3 or int(np.prod(shape)) != arr.shape[1]:
                raise ValueError(
                    f"image_shape {shape} does not match X's {arr.shape[1]} features"
                )
            arr = arr.reshape(arr.shape[0], *shape)
        elif arr.ndim == 3:
            arr = arr[..., None]
        elif arr.ndim != 4:
            raise ValueError(
                f"X must be images (n, h, w), (n, h, w, c) or flattened (n, h*w*c); "
                f"got shape {arr.shape}"
            )
        if arr.shape[0] == 0:
            raise ValueError("X holds no images")
        scale = 1.0 / 255.0 if arr.dtype.kind in "biu" else 1.0
        out = np.ascontiguousarray(arr.transpose(0, 3, 1, 2), dtype=np.float32)
        if scale != 1.0:
            out *= np.float32(scale)
        if not np.isfinite(out).all():
            raise ValueError("X contains NaN or infinity")
        return out

    def _check_params(self):
        nf = tuple(self.n_filters)
        ps = tuple(self.pool_sizes)
        if not nf or any(int(f) < 1 for f in nf):
            raise ValueError(f"n_filters must be positive ints, got {self.n_filters!r}")
        if len(ps) != len(nf) or any(int(p) < 1 for p in ps):
            raise ValueError(
                f"pool_sizes must give one positive int per layer ({len(nf)}), "
                f"got {self.pool_sizes!r}"
            )
        if isinstance(self.kernel_size, bool) or not isinstance(
            self.kernel_size, numbers.Integral
        ) or self.kernel_size < 1:
            raise ValueError(f"kernel_size must be a positive int, got {self.kernel_size!r}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(_ACTIVATIONS)}, got {self.activation!r}"
            )
        if not (isinstance(self.reg, numbers.Real) and self.reg > 0):
            raise ValueError(f"reg must be a positive number, got {self.reg!r}")
        if self.kernel_init not in _KERNEL_INITS:
            raise ValueError(
                f"kernel_init must be one of {_KERNEL_INITS}, got {self.kernel_init!r}"
            )
        return nf, ps

    # -------------------------------------------------------------- API
    def elm_features(self, X) -> np.ndarray:
        """Hidden-layer output ``H`` (the flattened random conv features)."""
        self._check_fitted()
        images = self._as_images(X, self.image_shape_)
        self._check_image_shape(images)
        return random_conv_features(images, self.kernels_, self.pool_sizes, self.activation,
                                    engine=self.engine)

    def elm_targets(self, X) -> np.ndarray:
        """ELM auto-encoder targets ``T``: the images flattened, as scaled in ``fit``."""
        images = self._as_images(X, self.image_shape_ if self.__sklearn_is_fitted__()
                                 else None)
        return images.transpose(0, 2, 3, 1).reshape(images.shape[0], -1)

    def _check_image_shape(self, images):
        h, w, c = self.image_shape_
        if images.shape[1:] != (c, h, w):
            got = (images.shape[2], images.shape[3], images.shape[1])
            raise ValueError(
                f"X images have shape (h, w, c)={got}, but DeepELMHash was fitted "
                f"on {self.image_shape_}"
            )

    def fit(self, X, y=None):
        """Fit the ELM output weights and the PCA + ITQ stage.

        Parameters
        ----------
        X : array_like
            Images ``(n, h, w)`` / ``(n, h, w, c)``, or flattened
            ``(n, h*w*c)`` with ``image_shape`` set.
        y : ignored
            The ELM is an auto-encoder (see the class docstring).

        Returns
        -------
        self
        """
        nbits = check_nbits(self.nbits)
        nf, ps = self._check_params()
        images = self._as_images(X)
        if images.shape[0] < 2:
            raise ValueError(f"DeepELMHash needs at least 2 images, got {images.shape[0]}")
        rng = check_random_state(self.random_state)
        kernels = random_kernels(nf, images.shape[1], int(self.kernel_size), self.kernel_init,
                                 rng)
        H = random_conv_features(images, kernels, ps, self.activation, engine=self.engine)
        T = images.transpose(0, 2, 3, 1).reshape(images.shape[0], -1)
        beta, form = elm_output_weights(H, T, float(self.reg))
        Z = (H @ beta.astype(np.float32))
        itq = ITQ(nbits=nbits, n_iter=self.n_iter, random_state=rng)
        if nbits > Z.shape[1]:
            raise ValueError(
                f"nbits={nbits} exceeds the ELM output width {Z.shape[1]}"
            )
        itq.fit(Z)
        _, c, h, w = images.shape
        self.kernels_ = kernels
        self.beta_ = beta
        self.elm_form_ = form
        self.itq_ = itq
        self.image_shape_ = (h, w, c)
        self.n_features_in_ = h * w * c
        self.nbits_ = nbits
        return self

    def transform_real(self, X) -> np.ndarray:
        """ITQ projections of the ELM output; bit ``j`` is ``> 0``."""
        H = self.elm_features(X)
        return self.itq_.transform_real(H @ self.beta_.astype(np.float32))

    def _check_fitted(self):
        if not self.__sklearn_is_fitted__():
            raise NotFittedError("this DeepELMHash is not fitted yet; call fit(X) first")
