"""The feature store beside the codes: validation, alignment, persistence."""

import mmap
import pickle

import numpy as np
import pytest

import hamsearch
from tests.reference import random_words

NBITS = 64


def _data(rng, n, d=8, dtype=np.float32):
    return random_words(rng, n, NBITS), rng.standard_normal((n, d)).astype(dtype)


def _stored(index):
    """(ids, features) currently stored, in id order."""
    ids = np.sort(index.ids)
    return ids, index.reconstruct_features(ids)


# ------------------------------------------------------------------ storing
@pytest.mark.parametrize("storage", ["float32", "float16"])
@pytest.mark.parametrize("given", [np.float16, np.float32, np.float64])
def test_features_round_trip_in_storage_dtype(storage, given):
    rng = np.random.default_rng(1)
    codes, X = _data(rng, 50, dtype=given)
    index = hamsearch.Index(NBITS, features_dtype=storage)
    index.add(codes, features=X)
    got = index.reconstruct_features(np.arange(50))
    assert got.dtype == np.dtype(storage)
    np.testing.assert_array_equal(got, X.astype(storage))
    assert index.features_dim == 8


def test_growth_over_many_adds_keeps_rows_aligned():
    rng = np.random.default_rng(2)
    index = hamsearch.Index(NBITS)
    all_X = []
    for size in (1, 7, 100, 3, 250):
        codes, X = _data(rng, size)
        index.add(codes, features=X)
        all_X.append(X)
    all_X = np.concatenate(all_X)
    np.testing.assert_array_equal(index.reconstruct_features(np.arange(len(all_X))), all_X)
    assert index.nbytes >= all_X.nbytes


def test_remove_keeps_features_aligned_with_ids():
    rng = np.random.default_rng(3)
    codes, X = _data(rng, 300)
    ids = rng.permutation(10_000)[:300]
    index = hamsearch.Index(NBITS)
    index.add(codes, ids=ids, features=X)
    gone = ids[rng.choice(300, 120, replace=False)]
    assert index.remove(gone) == 120
    keep = ~np.isin(ids, gone)
    np.testing.assert_array_equal(index.reconstruct_features(ids[keep]), X[keep])
    # add after remove: old and new rows both right
    codes2, X2 = _data(rng, 40)
    index.add(codes2, ids=np.arange(20_000, 20_040), features=X2)
    np.testing.assert_array_equal(index.reconstruct_features(ids[keep]), X[keep])
    np.testing.assert_array_equal(index.reconstruct_features(np.arange(20_000, 20_040)), X2)
    with pytest.raises(KeyError):
        index.reconstruct_features(gone[:1])


def test_remove_everything_then_add_again_same_dimension():
    rng = np.random.default_rng(4)
    codes, X = _data(rng, 10)
    index = hamsearch.Index(NBITS)
    index.add(codes, features=X)
    index.remove(np.arange(10))
    assert len(index) == 0
    with pytest.raises(ValueError, match="dimension"):
        index.add(codes, features=rng.standard_normal((10, 9)))
    index.add(codes, features=X)
    np.testing.assert_array_equal(index.reconstruct_features(np.arange(10, 20)), X)


def test_reset_forgets_dimension_and_mode():
    rng = np.random.default_rng(5)
    codes, X = _data(rng, 10)
    index = hamsearch.Index(NBITS)
    index.add(codes)
    index.reset()
    index.add(codes, features=X)
    assert index.features_dim == 8
    index.reset()
    index.add(codes, features=np.ones((10, 3)))
    assert index.features_dim == 3


# --------------------------------------------------------------- rejecting
def _assert_unchanged(index, ids, X):
    assert len(index) == len(ids)
    np.testing.assert_array_equal(index.reconstruct_features(ids), X)


@pytest.mark.parametrize(
    "bad, err, match",
    [
        (lambda X: X.astype(np.int64), TypeError, "floating point"),
        (lambda X: X > 0, TypeError, "floating point"),
        (lambda X: X[:, :5], ValueError, "dimension 5"),
        (lambda X: X[:-1], ValueError, "one row per code"),
        (lambda X: X[:, :, None], ValueError, "one row per code"),
        (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 17, np.nan, X), ValueError, "not finite"),
        (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 3, np.inf, X), ValueError, "not finite"),
        (lambda X: X.astype(np.complex64), TypeError, "floating point"),
        (lambda X: [["a"] * X.shape[1]] * X.shape[0], TypeError, "floating point"),
    ],
)
def test_bad_features_rejected_and_nothing_half_added(bad, err, match):
    rng = np.random.default_rng(6)
    codes, X = _data(rng, 20)
    index = hamsearch.Index(NBITS)
    index.add(codes, features=X)
    codes2, X2 = _data(rng, 20)
    with pytest.raises(err, match=match):
        index.add(codes2, features=bad(X2))
    _assert_unchanged(index, np.arange(20), X)
    index.add(codes2, features=X2)  # still usable, ids continue
    np.testing.assert_array_equal(index.reconstruct_features(np.arange(20, 40)), X2)


def test_float16_overflow_rejected():
    rng = np.random.default_rng(7)
    codes, X = _data(rng, 5)
    X[2, 1] = 1e6
    index = hamsearch.Index(NBITS, features_dtype="float16")
    with pytest.raises(ValueError, match=r"features\[2, 1\].*overflows float16"):
        index.add(codes, features=X)
    assert len(index) == 0
    hamsearch.Index(NBITS).add(codes, features=X)  # fine in float32


def test_mixing_adds_with_and_without_features_is_an_error():
    rng = np.random.default_rng(8)
    codes, X = _data(rng, 10)
    with_f = hamsearch.Index(NBITS)
    with_f.add(codes, features=X)
    with pytest.raises(ValueError, match="pass features="):
        with_f.add(codes)
    _assert_unchanged(with_f, np.arange(10), X)

    without = hamsearch.Index(NBITS)
    without.add(codes)
    with pytest.raises(ValueError, match="built without features"):
        without.add(codes, features=X)
    assert len(without) == 10
    with pytest.raises(ValueError, match="holds no features"):
        without.reconstruct_features([0])
    assert without.features_dim is None


def test_bad_ids_with_features_change_nothing():
    rng = np.random.default_rng(9)
    codes, X = _data(rng, 10)
    index = hamsearch.Index(NBITS)
    index.add(codes, features=X)
    with pytest.raises(ValueError, match="already in the index"):
        index.add(codes, ids=np.arange(5, 15), features=X)
    _assert_unchanged(index, np.arange(10), X)


def test_first_add_failing_does_not_fix_mode():
    rng = np.random.default_rng(10)
    codes, X = _data(rng, 10)
    index = hamsearch.Index(NBITS)
    with pytest.raises(ValueError):
        index.add(codes, features=X[:, :0])
    index.add(codes)  # the failed add decided nothing
    assert index.features_dim is None


def test_features_dtype_validated():
    with pytest.raises(ValueError, match="features_dtype"):
        hamsearch.Index(NBITS, features_dtype="float64")
    with pytest.raises(ValueError, match="features_dtype"):
        hamsearch.Index(NBITS, features_dtype="int8")


def test_empty_add_with_features_checks_dimension_only():
    rng = np.random.default_rng(11)
    codes, X = _data(rng, 3)
    index = hamsearch.Index(NBITS)
    index.add(codes[:0], features=np.zeros((0, 4)))
    index.add(codes, features=X)  # the empty add fixed nothing
    with pytest.raises(ValueError, match="dimension"):
        index.add(codes[:0], features=np.zeros((0, 4)))


# ------------------------------------------------------------- persistence
def _search_all(index, Q, qf):
    return index.search(Q, 7, query_features=qf, pool_size=20, return_hamming=True)


@pytest.mark.parametrize("storage", ["float32", "float16"])
@pytest.mark.parametrize("use_mmap", [False, True])
def test_features_survive_save_load(tmp_path, storage, use_mmap):
    rng = np.random.default_rng(12)
    codes, X = _data(rng, 400, d=16)
    ids = rng.permutation(5000)[:400]
    index = hamsearch.Index(NBITS, features_dtype=storage)
    index.add(codes, ids=ids, features=X)
    index.remove(ids[:50])
    path = tmp_path / "f.hsx"
    index.save(path)
    loaded = hamsearch.load(path, mmap=use_mmap)
    assert loaded.features_dim == 16
    np.testing.assert_array_equal(
        loaded.reconstruct_features(ids[50:]), X[50:].astype(storage)
    )
    Q, qf = codes[:5], X[:5] + 0.1
    for a, b in zip(_search_all(index, Q, qf), _search_all(loaded, Q, qf)):
        np.testing.assert_array_equal(a, b)
    if use_mmap:
        feats = loaded.features
        assert not feats.flags.writeable and not feats.flags.owndata
        # the rows are the file's pages, not a copy
        base = feats
        while getattr(base, "base", None) is not None and not isinstance(base, mmap.mmap):
            base = base.base
        assert isinstance(base, (mmap.mmap, memoryview))
    # mutate the loaded index (mmap: copies on first add / remove)
    codes2, X2 = _data(rng, 30, d=16)
    loaded.add(codes2, ids=np.arange(9000, 9030), features=X2)
    loaded.remove(ids[50:60])
    np.testing.assert_array_equal(
        loaded.reconstruct_features(ids[60:]), X[60:].astype(storage)
    )
    np.testing.assert_array_equal(
        loaded.reconstruct_features(np.arange(9000, 9030)), X2.astype(storage)
    )


def test_index_without_features_saves_and_stays_without(tmp_path):
    rng = np.random.default_rng(13)
    codes, X = _data(rng, 10)
    index = hamsearch.Index(NBITS)
    index.add(codes)
    index.save(tmp_path / "a.hsx")
    loaded = hamsearch.load(tmp_path / "a.hsx")
    with pytest.raises(ValueError, match="built without features"):
        loaded.add(codes, features=X)


def test_features_survive_pickle():
    rng = np.random.default_rng(14)
    codes, X = _data(rng, 30)
    index = hamsearch.Index(NBITS, features_dtype="float16")
    index.add(codes, features=X)
    clone = pickle.loads(pickle.dumps(index))
    np.testing.assert_array_equal(
        clone.reconstruct_features(np.arange(30)), X.astype(np.float16)
    )
    with pytest.raises(ValueError, match="dimension"):
        clone.add(codes, features=X[:, :3])
