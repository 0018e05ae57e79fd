"""Exact MIH on wide codes (384-2048 bits), where choose_m gives 16-86
tables and a query de-duplicates its candidates with a bitmap over the rows
(csrc/mih.c, MIH_SEEN_MIN_M): every result equals the flat scan's, ties,
deleted rows and radius searches included."""

import numpy as np
import pytest

import hamsearch
from hamsearch.synthetic import clustered_codes


@pytest.mark.parametrize("nbits", [384, 1024, 2048])
@pytest.mark.parametrize("flip", [0.0, 0.02, 0.1])
def test_wide_mih_equals_flat(nbits, flip):
    db, centres = clustered_codes(3000, nbits, ncenters=20, flip=flip, seed=nbits)
    q, _ = clustered_codes(15, nbits, centres=centres, flip=flip, seed=1)
    q = np.concatenate([q, db[:3]])
    ids = np.random.default_rng(0).permutation(10 * len(db))[: len(db)].astype(np.int64)
    mih = hamsearch.Index(nbits, method="mih")
    flat = hamsearch.Index(nbits, method="flat")
    for index in (mih, flat):
        index.add(db, ids=ids)
        index.remove(ids[::7])  # deleted rows: the skip bitmap
    assert mih.m >= 16
    for k in (1, 10, 100):
        D, I = mih.search(q, k)
        Df, If = flat.search(q, k)
        np.testing.assert_array_equal(D, Df)
        np.testing.assert_array_equal(I, If)
    for radius in (0, nbits // 20, nbits // 8):
        got, want = mih.range_search(q, radius), flat.range_search(q, radius)
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
    for _ in range(2):  # the same queries again: nothing left over from before
        np.testing.assert_array_equal(mih.search(q, 10)[1], flat.search(q, 10)[1])
