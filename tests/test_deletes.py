"""Tombstone deletes, upserts and compaction (issue 12 item 2).

remove() marks rows deleted without copying codes or rebuilding the
multi-index tables; every search skips them and stays exact; compaction
drops them (automatically past 1/4 deleted, or by compact()).
"""

from __future__ import annotations

import numpy as np
import pytest

import hamsearch
from hamsearch.index import COMPACT_FRACTION
from hamsearch.synthetic import clustered_codes

N = 25_000


@pytest.fixture(scope="module")
def data():
    db, centres = clustered_codes(N, 64, ncenters=100, flip=0.04, seed=5)
    q, _ = clustered_codes(15, 64, centres=centres, flip=0.04, seed=6)
    rng = np.random.default_rng(2)
    return db, q, rng.permutation(3 * N)[:N], rng.standard_normal((N, 4)).astype(np.float32)


def _fresh(db, ids, feats, keep):
    ref = hamsearch.Index(64, method="flat")
    ref.add(db[keep], ids=ids[keep], features=feats[keep])
    return ref


def _same(a, b):
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("method", ["flat", "mih", "auto"])
def test_remove_is_a_tombstone_and_searches_stay_exact(data, method):
    db, q, ids, feats = data
    index = hamsearch.Index(64, method=method)
    index.add(db, ids=ids, features=feats)
    index.search(q, 10)  # auto: builds the tables now
    before = index._view()
    rng = np.random.default_rng(0)
    gone = rng.choice(ids, int(0.2 * N), replace=False)
    for chunk in np.array_split(gone, 7):
        index.remove(chunk)
    after = index._view()
    assert after.ndead == gone.size and index.stats()["deleted"] == gone.size
    assert len(after.views) == len(before.views)
    for b, a in zip(before.views, after.views):
        assert np.shares_memory(a.codes, b.codes), "remove copied the codes"
        if b.mih is not None:
            assert a.mih.main is b.mih.main, "remove rebuilt the tables"
    keep = ~np.isin(ids, gone)
    ref = _fresh(db, ids, feats, keep)
    assert len(index) == keep.sum()
    for k in (1, 10, 300):
        _same(index.search(q, k), ref.search(q, k))
    _same(index.range_search(q, 6), ref.range_search(q, 6))
    qf = rng.standard_normal((len(q), 4)).astype(np.float32)
    _same(index.search(q, 5, query_features=qf, pool_size=40, return_hamming=True),
          ref.search(q, 5, query_features=qf, pool_size=40, return_hamming=True))
    flt = hamsearch.IdFilter.allow(ids[::3])
    _same(index.search(q, 10, filter=flt), ref.search(q, 10, filter=flt))
    np.testing.assert_array_equal(np.sort(index.ids), np.sort(ids[keep]))
    assert not any(int(g) in index for g in gone[:50])
    with pytest.raises(KeyError):
        index.reconstruct(gone[:1])


def test_compaction_past_the_threshold_and_on_demand(data):
    db, q, ids, feats = data
    index = hamsearch.Index(64, method="mih")
    index.add(db[:4000], ids=ids[:4000])
    index.remove(ids[:900])  # 22.5%: tombstones
    assert index.stats()["deleted"] == 900
    index.remove(ids[900:1100])  # past 1/4: compacted
    assert index.stats()["deleted"] == 0 and index.stats()["rows"] == 2900
    assert COMPACT_FRACTION == 0.25
    index.remove(ids[1100:1200])
    assert index.compact() == 100 and index.stats()["rows"] == 2800
    ref = _fresh(db[:4000], ids[:4000], feats[:4000], np.r_[np.zeros(1200, bool),
                                                            np.ones(2800, bool)])
    _same(index.search(q, 10), ref.search(q, 10))


def test_readding_a_removed_id_and_upsert(data):
    db, q, ids, feats = data
    index = hamsearch.Index(64, method="mih")
    index.add(db[:3000], ids=ids[:3000], features=feats[:3000])
    target = ids[10]
    index.remove([target])
    index.add(db[5000:5001], ids=[target], features=feats[5000:5001])
    np.testing.assert_array_equal(index.reconstruct([target]), db[5000:5001])
    np.testing.assert_array_equal(index.reconstruct_features([target]), feats[5000:5001])
    with pytest.raises(ValueError, match="already"):
        index.add(db[:1], ids=[target], features=feats[:1])
    # upsert: 5 replaced, 3 new, in one step
    up_ids = np.r_[ids[20:25], [10**9, 10**9 + 1, 10**9 + 2]]
    up_codes = db[6000:6008]
    assert index.upsert(up_codes, up_ids, features=feats[6000:6008]) == 5
    np.testing.assert_array_equal(index.reconstruct(up_ids), up_codes)
    assert len(index) == 3003
    D, I = index.search(up_codes, 1)
    assert (D[:, 0] == 0).all()
    assert index.upsert(up_codes[:2], up_ids[:2], features=feats[:2]) == 2  # again
    assert len(index) == 3003


def test_upsert_checks_its_arguments(data):
    db, _, ids, _ = data
    index = hamsearch.Index(64)
    index.add(db[:10], ids=ids[:10])
    before = (index.ids.copy(), index.codes.copy())
    with pytest.raises(ValueError, match="ids"):
        index.upsert(db[:2], None)
    with pytest.raises(ValueError, match="duplicates"):
        index.upsert(db[:2], [5, 5])
    with pytest.raises(ValueError, match="codes"):
        index.upsert(np.zeros((2, 7), np.uint8), [1, 2])
    with pytest.raises(ValueError, match="features"):
        index.upsert(db[:2], [1, 2], features=np.zeros((2, 3)))
    np.testing.assert_array_equal(index.ids, before[0])
    np.testing.assert_array_equal(index.codes, before[1])


@pytest.mark.parametrize("mmap", [False, True])
def test_save_after_deletes_holds_the_live_codes(data, tmp_path, mmap):
    db, q, ids, feats = data
    index = hamsearch.Index(64, method="mih")
    index.add(db[:5000], ids=ids[:5000], features=feats[:5000])
    index.remove(ids[100:600])
    index.save(tmp_path / "d.hsx")
    loaded = hamsearch.load(tmp_path / "d.hsx", mmap=mmap)
    loaded.verify()
    assert loaded.stats()["rows"] == 4500 and loaded.stats()["deleted"] == 0
    np.testing.assert_array_equal(loaded.ids, index.ids)
    _same(loaded.search(q, 10), index.search(q, 10))
    np.testing.assert_array_equal(loaded.reconstruct_features(index.ids[:20]),
                                  index.reconstruct_features(index.ids[:20]))


def test_stats():
    index = hamsearch.Index(64)
    s = index.stats()
    assert s["ntotal"] == 0 and s["deleted_fraction"] == 0.0 and s["rows"] == 0
    index.add(np.zeros((10, 8), np.uint8))
    index.remove([1, 2])
    s = index.stats()
    assert (s["ntotal"], s["rows"], s["deleted"]) == (8, 10, 2)
    assert s["deleted_fraction"] == pytest.approx(0.2) and s["nbytes"] > 0


def test_a_merge_run_past_the_current_segments_does_nothing():
    """compact() takes its run, (0, number of sealed segments), under the
    lock and merges after releasing it; a background merge may have shrunk
    the list meanwhile -- to nothing when every row was removed (found by
    test_stateful's background machine: merge_views([]) raised IndexError).
    A run past the current segments merges what is there, or nothing."""
    index = hamsearch.Index(64, method="flat")
    assert index._merges.merge_once(run=(0, 3)) is False  # no sealed segment at all
    codes = np.random.default_rng(3).integers(0, 256, (100, 8), dtype=np.uint8)
    index = hamsearch.Index.from_chunks([codes[:50], codes[50:]], 64, method="flat")
    sealed = len(index._sealed)
    assert sealed >= 1
    assert index._merges.merge_once(run=(0, sealed + 3)) is True  # what is there
    D, I = index.search(codes[[1, 3, 77]], 1)
    np.testing.assert_array_equal(I[:, 0], [1, 3, 77])
    index.remove(np.arange(100))
    index.compact()  # every row removed: no segment left
    assert index.ntotal == 0 and not any(v.n for v in index._sealed)
    assert index._merges.merge_once(run=(0, sealed + 1)) in (False, True)  # never raises
