"""Row skip bitmaps in the kernels (the base of deletes and filters).

Every kernel -- flat k-NN and range (each C variant and Numba), MIH k-NN and
range (C and Numba, with and without the fallback scan) -- must return
exactly what the numpy reference returns on the rows that are not skipped.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from hamsearch import mih as M
from hamsearch.mih import build as mih_build
from hamsearch.rowbits import from_mask as skip_bitmap

from . import reference as ref
from .test_kernels import backend  # noqa: F401  (fixture: every C variant + Numba)


def _data(nbits, n=3000, nq=12, seed=0):
    rng = np.random.default_rng(seed)
    db = ref.clustered_words(rng, n, nbits, ncenters=8, p=0.08)
    q = ref.clustered_words(rng, nq, nbits, ncenters=8, p=0.08)
    ids = rng.permutation(20 * n)[:n].astype(np.int64)
    return rng, db, q, ids


FRACTIONS = (0.0, 0.01, 0.5, 0.97, 1.0)


@pytest.mark.parametrize("nbits", [64, 128, 200])
@pytest.mark.parametrize("nthreads", [1, 2])
def test_flat_knn_and_range_skip_rows(backend, nbits, nthreads):  # noqa: F811
    rng, db, q, ids = _data(nbits)
    for frac in FRACTIONS:
        skipped = rng.random(db.shape[0]) < frac
        skip = skip_bitmap(skipped)
        keep = ~skipped
        for k in (1, 10, 200):
            D, I = backend.knn(db, ids, q, k, nthreads, skip=skip)
            eD, eI = ref.knn(db[keep], ids[keep], q, k)
            np.testing.assert_array_equal(D, eD)
            np.testing.assert_array_equal(I, eI)
        for r in (0, nbits // 10, nbits // 4):
            lims, RD, RI = backend.range_search(db, ids, q, r, nthreads, skip=skip)
            el, eD, eI = ref.range_search(db[keep], ids[keep], q, r)
            np.testing.assert_array_equal(lims, el)
            np.testing.assert_array_equal(RD, eD)
            np.testing.assert_array_equal(RI, eI)


def test_skip_bitmap_too_short_is_refused(backend):  # noqa: F811
    _, db, q, ids = _data(64, n=200)
    with pytest.raises(ValueError, match="skip"):
        backend.knn(db, ids, q, 3, 1, skip=np.zeros(1, np.uint64))


def _mih_modules():
    mods = [pytest.param("hamsearch._numba.mih", id="numba")]
    from hamsearch import _native

    if _native.available():
        mods.insert(0, pytest.param("hamsearch._native_mih", id="c"))
    return mods


@pytest.mark.parametrize("module", _mih_modules())
@pytest.mark.parametrize("nbits", [64, 128])
@pytest.mark.parametrize("budget", [None, 1e-6], ids=["tables", "fallback"])
def test_mih_skip_rows(module, nbits, budget, monkeypatch):
    K = importlib.import_module(module)
    monkeypatch.setattr(mih_build, "_mih_kernels", lambda: K)
    rng, db, q, ids = _data(nbits, n=4000)
    tables = M.MultiIndexTables(nbits)
    tables.sync(db[:3500], ids[:3500])
    tables.sync(db, ids)  # a main and a delta segment
    if budget is not None:
        tables.budget_factor = budget
    for frac in FRACTIONS:
        skipped = rng.random(db.shape[0]) < frac
        skip = skip_bitmap(skipped)
        keep = ~skipped
        for k in (1, 10, 100):
            D, I = tables.knn(q, k, 2, skip=skip)
            eD, eI = ref.knn(db[keep], ids[keep], q, k)
            np.testing.assert_array_equal(D, eD)
            np.testing.assert_array_equal(I, eI)
        for r in (2, nbits // 8):
            lims, RD, RI = tables.range_search(q, r, 2, skip=skip)
            el, eD, eI = ref.range_search(db[keep], ids[keep], q, r)
            np.testing.assert_array_equal(lims, el)
            np.testing.assert_array_equal(RD, eD)
            np.testing.assert_array_equal(RI, eI)
