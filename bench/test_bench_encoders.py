"""pytest-benchmark: fit and encode of the shallow hashers vs scikit-learn (``bench.bench_encoders``).

Fashion-MNIST pixels scaled to [0, 1] (float32; seeded synthetic 784-d
clustered features where the data set is not installed), 64 bits:
``HAMSEARCH_BENCH_ENC_N`` rows to fit on, 7/6 as many to encode, a third as
many for LE-hash's fit -- ``bench.bench_encoders``'s 60,000 / 70,000 /
20,000 at ``HAMSEARCH_BENCH_ENC_N=60000`` (its ``--quick`` at 6000).

* fit: LSH, PCAH, SH, ITQ (50 iterations), D-ELM (28 x 28 images); baseline
  scikit-learn ``PCA`` with as many components (``covariance_eigh`` solver
  where available, as in the script);
* LE-hash fit (10-NN graph + eigen-solve); baseline scikit-learn's 10-NN
  graph of the same points (the part of the fit that does not depend on the
  eigen-solver);
* encode: every hasher's ``transform``; baseline ``PCA.transform``.

Throughput in rows/s.  Checks: codes are packed ``uint8`` of ``nbits / 8``
bytes a row, the same on a second call, and no bit is constant over the
rows (``extra_info["bit_balance"]``: mean |fraction of ones - 0.5|).
"""

import numpy as np
import pytest

from ._suites import ENC_N, ROUNDS, describe

NBITS = 64
HASHERS = ["lsh", "pcah", "sh", "itq", "delm"]
NAMES = {"lsh": "hamsearch LSH", "pcah": "hamsearch PCAH", "sh": "hamsearch SH",
         "itq": "hamsearch ITQ", "delm": "hamsearch D-ELM", "le": "hamsearch LE-hash",
         "pca": "sklearn PCA", "knn": "sklearn 10-NN graph"}


def _data():
    try:
        from hamsearch import datasets

        images, _ = datasets.load("fashion-mnist")
        X, name = images.reshape(len(images), -1).astype(np.float32) / np.float32(255), \
            "fashion-mnist"
    except (FileNotFoundError, ImportError, OSError):
        from hamsearch.synthetic import clustered_features

        X, _ = clustered_features(ENC_N * 7 // 6, 784, ncenters=10, seed=0)
        X, name = np.asarray(X, np.float32), "synthetic 784-d"
    need_rows = ENC_N * 7 // 6
    if len(X) < need_rows:
        X = np.concatenate([X] * (need_rows // len(X) + 1))
    return X[:need_rows], name


def _make(key):
    from hamsearch.encoders import ITQ, LSH, PCAH, SH, DeepELMHash, LaplacianEigenmapHash

    return {"lsh": lambda: LSH(nbits=NBITS, random_state=0),
            "pcah": lambda: PCAH(nbits=NBITS, random_state=0),
            "sh": lambda: SH(nbits=NBITS, random_state=0),
            "itq": lambda: ITQ(nbits=NBITS, random_state=0),
            "delm": lambda: DeepELMHash(nbits=NBITS, image_shape=(28, 28), random_state=0),
            "le": lambda: LaplacianEigenmapHash(nbits=NBITS, random_state=0)}[key]()


def _pca():
    from sklearn.decomposition import PCA

    try:
        pca = PCA(n_components=NBITS, svd_solver="covariance_eigh")
        pca._validate_params()
        return pca
    except (ValueError, AttributeError, TypeError):
        return PCA(n_components=NBITS, svd_solver="full")


class Data:
    def __init__(self):
        self.X, self.name = _data()
        self.n_fit, self.n_enc, self.n_le = ENC_N, ENC_N * 7 // 6, ENC_N // 3
        self.fitted = {}

    def model(self, key):
        if key not in self.fitted:
            rows = self.n_le if key == "le" else self.n_fit
            self.fitted[key] = (_pca() if key == "pca" else _make(key)).fit(self.X[:rows])
        return self.fitted[key]


@pytest.fixture(scope="module")
def data():
    pytest.importorskip("sklearn", reason="scikit-learn is not installed (pip install scikit-learn)")
    return Data()


def _check_codes(codes, n, info):
    codes = np.asarray(codes)
    assert codes.dtype == np.uint8 and codes.shape == (n, NBITS // 8), (codes.dtype, codes.shape)
    ones = np.unpackbits(codes, axis=1, bitorder="little").mean(axis=0)
    assert ((ones > 0) & (ones < 1)).all(), f"constant bits: {np.flatnonzero((ones == 0) | (ones == 1))}"
    info["bit_balance"] = round(float(np.abs(ones - 0.5).mean()), 4)


@pytest.mark.parametrize("engine", HASHERS + ["pca"])
def test_fit(benchmark, data, engine):
    X = data.X[: data.n_fit]
    info = describe(benchmark, "encoder fit", f"{data.name} {data.n_fit:,} x 784, {NBITS} bits",
                    NAMES[engine], NAMES["pca"], items=data.n_fit, unit="rows",
                    threads=None)
    make = _pca if engine == "pca" else (lambda: _make(engine))
    model = benchmark.pedantic(lambda m: m.fit(X), setup=lambda: ((make(),), {}), rounds=ROUNDS)
    data.fitted.setdefault(engine, model)
    if engine != "pca":
        _check_codes(model.transform(X), len(X), info)
    else:
        assert model.components_.shape == (NBITS, X.shape[1])


@pytest.mark.parametrize("engine", ["le", "knn"])
def test_fit_le(benchmark, data, engine):
    X = data.X[: data.n_le]
    info = describe(benchmark, "encoder fit", f"{data.name} {data.n_le:,} x 784, {NBITS} bits, "
                    "LE-hash", NAMES[engine], NAMES["knn"], items=data.n_le, unit="rows",
                    threads=None)
    if engine == "le":
        model = benchmark.pedantic(lambda m: m.fit(X), setup=lambda: ((_make("le"),), {}),
                                   rounds=ROUNDS)
        data.fitted.setdefault("le", model)
        _check_codes(model.transform(X), len(X), info)
    else:
        from sklearn.neighbors import NearestNeighbors

        dist, ind = benchmark.pedantic(lambda: NearestNeighbors(n_neighbors=10).fit(X).kneighbors(),
                                       rounds=ROUNDS)
        assert ind.shape == (len(X), 10) and (np.diff(dist, axis=1) >= 0).all()


@pytest.mark.parametrize("engine", HASHERS + ["le", "pca"])
def test_encode(benchmark, data, engine):
    X = data.X[: data.n_enc]
    model = data.model(engine)
    info = describe(benchmark, "encoder encode", f"{data.name} {data.n_enc:,} x 784, {NBITS} bits",
                    NAMES[engine], NAMES["pca"], items=data.n_enc, unit="rows",
                    threads=None)
    out = benchmark(model.transform, X)
    if engine == "pca":
        assert out.shape == (len(X), NBITS)
    else:
        _check_codes(out, len(X), info)
        assert np.array_equal(out, model.transform(X)), f"{NAMES[engine]}: not deterministic"
