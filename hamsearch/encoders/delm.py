"""Deep ELM hashing (D-ELM, Zeng et al.): random conv layers + ELM + PCA-ITQ."""

from __future__ import annotations

import numbers

import numpy as np

from ..codes import check_nbits
from ._base import BaseHasher, NotFittedError, check_random_state
from .itq import ITQ

__all__ = ["DeepELMHash", "elm_output_weights", "random_conv_features"]


def elm_output_weights(H: np.ndarray, T: np.ndarray, reg: float):
    """Closed-form ELM output weights: the ridge solution of ``H beta ~ T``.

    ``beta`` solves the normal equations ``(H.T H + reg I) beta = H.T T``.
    With ``N`` samples and ``M`` hidden units it is computed in the cheaper of
    the two equivalent forms:

    * ``N > M`` ("primal"): ``beta = (H.T H + reg I_M)^-1 H.T T`` (an M x M solve),
    * ``N <= M`` ("dual"): ``beta = H.T (H H.T + reg I_N)^-1 T`` (an N x N solve).

    Returns
    -------
    beta : ndarray of float64, shape (M, n_targets)
    form : {"primal", "dual"}
    """
    H = np.asarray(H, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    n, m = H.shape
    if n > m:
        G = H.T @ H
        G[np.diag_indices_from(G)] += reg
        return np.linalg.solve(G, H.T @ T), "primal"
    K = H @ H.T
    K[np.diag_indices_from(K)] += reg
    return H.T @ np.linalg.solve(K, T), "dual"


def _conv_same(x: np.ndarray, kernels: np.ndarray) -> np.ndarray:
    """'Same'-size 2-D cross-correlation of a batch with a filter bank.

    x: (n, c, h, w) float32; kernels: (f, c, r, r).  Returns (n, f, h, w).
    Implemented as one matrix product over sliding windows (im2col).
    """
    from numpy.lib.stride_tricks import sliding_window_view

    n, c, h, w = x.shape
    f, _, r, _ = kernels.shape
    lo = (r - 1) // 2
    hi = r - 1 - lo
    xp = np.pad(x, ((0, 0), (0, 0), (lo, hi), (lo, hi)))
    win = sliding_window_view(xp, (r, r), axis=(2, 3))  # (n, c, h, w, r, r)
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * h * w, c * r * r)
    out = cols @ kernels.reshape(f, c * r * r).T  # (n*h*w, f)
    return out.reshape(n, h, w, f).transpose(0, 3, 1, 2)


def _avg_pool(x: np.ndarray, p: int) -> np.ndarray:
    if p == 1:
        return x
    n, f, h, w = x.shape
    h2, w2 = h // p, w // p
    x = x[:, :, : h2 * p, : w2 * p]
    return x.reshape(n, f, h2, p, w2, p).mean(axis=(3, 5))


_ACTIVATIONS = {
    "relu": lambda z: np.maximum(z, 0, out=z),
    "tanh": lambda z: np.tanh(z, out=z),
    "linear": lambda z: z,
}


def _torch_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def _features_torch(images, kernels, pool_sizes, activation, batch_size):
    import torch
    import torch.nn.functional as F

    acts = {"relu": torch.relu, "tanh": torch.tanh, "linear": lambda z: z}
    act = acts[activation]
    ks = [torch.from_numpy(np.ascontiguousarray(K, dtype=np.float32)) for K in kernels]
    outs = []
    with torch.no_grad():
        for start in range(0, images.shape[0], batch_size):
            z = torch.from_numpy(images[start : start + batch_size])
            for K, p in zip(ks, pool_sizes):
                r = K.shape[-1]
                lo = (r - 1) // 2
                z = F.conv2d(F.pad(z, (lo, r - 1 - lo, lo, r - 1 - lo)), K)
                z = act(z)
                if int(p) > 1:
                    z = F.avg_pool2d(z, int(p))
            outs.append(z.reshape(z.shape[0], -1).numpy())
    return np.concatenate(outs, axis=0)


def random_conv_features(images: np.ndarray, kernels, pool_sizes, activation="relu",
                         batch_size=1024, engine="auto") -> np.ndarray:
    """Run images through the fixed random conv/activation/pool stack.

    Parameters
    ----------
    images : ndarray of shape (n, c, h, w), float32
    kernels : list of ndarray, layer ``l`` of shape (f_l, f_{l-1}, r, r)
    pool_sizes : sequence of int, one per layer
    activation : {"relu", "tanh", "linear"}
    engine : {"auto", "numpy", "torch"}
        ``"numpy"``: im2col + one matrix product per layer; ``"torch"``:
        ``torch.nn.functional.conv2d`` (several times faster on CPU);
        ``"auto"``: torch when it is installed.  Both compute the same
        function (up to float32 rounding).

    Returns
    -------
    H : ndarray of float32, shape (n, f_L * h_L * w_L)
    """
    if engine not in ("auto", "numpy", "torch"):
        raise ValueError(f"engine must be 'auto', 'numpy' or 'torch', got {engine!r}")
    if engine == "torch" or (engine == "auto" and _torch_available()):
        return _features_torch(images, kernels, pool_sizes, activation, batch_size)
    act = _ACTIVATIONS[activation]
    outs = []
    for start in range(0, images.shape[0], batch_size):
        z = images[start : start + batch_size]
        for K, p in zip(kernels, pool_sizes):
            z = _avg_pool(act(_conv_same(z, K)), int(p))
        outs.append(z.reshape(z.shape[0], -1))
    return np.concatenate(outs, axis=0).astype(np.float32, copy=False)


class DeepELMHash(BaseHasher):
    """Deep ELM hashing: random normalised conv layers, ELM, then PCA + ITQ.

    The network of Zeng et al.'s D-ELM, with the layer table of that paper:
    ``len(n_filters)`` convolution layers (8, 16, 32, 64 filters of
    ``kernel_size`` x ``kernel_size`` = 4 x 4 by default), each followed by an
    activation and an average pooling (sizes 2, 2, 2, 1).  The kernels are
    random Gaussian, each normalised to unit L2 norm, and never trained --
    they are the random hidden layer of an extreme learning machine.  The
    flattened last feature maps ``H`` (``N x M``) feed the ELM output layer,
    whose weights have the closed form (:func:`elm_output_weights`, ridge
    ``reg`` = lambda = 0.001) in the ``N > M`` or ``N <= M`` form according to
    the shape.  The ELM output ``H beta`` is then hashed by PCA + ITQ
    (:class:`~hamsearch.encoders.ITQ`).

    Choices made here (the paper leaves them open):

    * ELM targets: the ELM is trained as an auto-encoder (targets ``T`` = the
      input image, flattened), so the hasher is unsupervised like the other
      baselines; ``y`` is ignored.  The output ``H beta`` is the best ridge
      reconstruction of the image from the random conv features.
    * 'same' padding (so 28 x 28 input gives 28, 14, 7, 3, 3 sized maps and
      ``M = 64 * 3 * 3``) and a ReLU after each convolution (without a
      non-linearity the stack would be one linear map).
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
    reg : float, default=0.001
        Ridge parameter lambda of the ELM output weights.
    n_iter : int, default=50
        ITQ iterations.
    engine : {"auto", "numpy", "torch"}, default="auto"
        How the convolutions run (see :func:`random_conv_features`); "auto"
        uses torch when installed, numpy otherwise.
    random_state : None, int or numpy.random.RandomState, default=None
        Seed of the kernels and of the ITQ rotation.

    Attributes
    ----------
    kernels_ : list of ndarray
        Layer ``l``: shape ``(n_filters[l], channels_in, r, r)``, unit norm per filter.
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
                 reg=0.001, n_iter=50, engine="auto", random_state=None):
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
        r = int(self.kernel_size)
        kernels, c_in = [], images.shape[1]
        for f in nf:
            K = rng.standard_normal((int(f), c_in, r, r))
            K /= np.linalg.norm(K.reshape(int(f), -1), axis=1)[:, None, None, None]
            kernels.append(K.astype(np.float32))
            c_in = int(f)
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
