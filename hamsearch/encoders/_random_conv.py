"""D-ELM's fixed random convolution stack: the random filter banks
(:func:`random_kernels`) and the images run through the conv / activation /
average-pool layers (:func:`random_conv_features`, numpy im2col or torch)."""

from __future__ import annotations

import numpy as np

from ._base import check_random_state

__all__ = ["random_conv_features", "random_kernels"]


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


_KERNEL_INITS = ("uniform", "gaussian")


def random_kernels(n_filters, in_channels: int, size: int, init: str = "uniform",
                   random_state=None) -> list:
    """The fixed random filter bank of every layer.

    Parameters
    ----------
    n_filters : sequence of int
        Filters per layer.
    in_channels : int
        Channels of the input images.
    size : int
        Kernel side ``r``.
    init : {"uniform", "gaussian"}
        ``"uniform"``: D-ELM's eqs. (6)-(7), every weight uniform in [0, 1],
        each kernel then divided by its sum (its weights sum to 1: a random
        weighted average); ``"gaussian"``: standard normal weights, each
        kernel scaled to unit L2 norm (zero-mean, edge-like filters).
    random_state : None, int or numpy.random.RandomState

    Returns
    -------
    list of ndarray of float32
        Layer ``l``: shape ``(n_filters[l], channels_in, size, size)``.
    """
    if init not in _KERNEL_INITS:
        raise ValueError(f"kernel_init must be one of {_KERNEL_INITS}, got {init!r}")
    rng = check_random_state(random_state)
    kernels, c_in = [], int(in_channels)
    for f in n_filters:
        shape = (int(f), c_in, size, size)
        if init == "uniform":
            K = rng.uniform(0.0, 1.0, shape)
            K /= K.reshape(int(f), -1).sum(axis=1)[:, None, None, None]
        else:
            K = rng.standard_normal(shape)
            K /= np.linalg.norm(K.reshape(int(f), -1), axis=1)[:, None, None, None]
        kernels.append(K.astype(np.float32))
        c_in = int(f)
    return kernels
