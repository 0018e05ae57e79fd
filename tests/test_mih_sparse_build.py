"""Sparse multi-index tables (substrings too wide for dense offsets): the build
and the choice of table kind and ``m``.

A sparse table holds dense offsets over the top ``b - 8`` bits of each
substring and one suffix byte (the low 8 bits) per entry beside its row
number.  Checked here: the chunked two-pass build against a numpy reference
(stable argsort by prefix, suffix bytes, prefix counts) on both backends, a
sparse segment against a dense one; the kind and ``m`` rules (``table_kind``,
``paper_m``, ``AutoRule.pick_m``) and the cost model's sparse probe price.
"""

from __future__ import annotations

import numpy as np
import pytest

import hamsearch
from hamsearch import mih as mih_mod
from hamsearch.mih import build as mih_build
from hamsearch.mih import cost as mih_cost
from tests import mih_sparse_helpers
from tests.reference import clustered_words

backend = mih_sparse_helpers.backend  # the shared fixture


# ------------------------------------------------------------ building
@pytest.mark.parametrize("nbits,start,length", [(64, 0, 32), (64, 32, 32), (64, 43, 21),
                                                (128, 60, 10), (72, 64, 8), (64, 5, 2)])
@pytest.mark.parametrize("chunk", [7, 1 << 22])
def test_sparse_build_matches_numpy(backend, monkeypatch, nbits, start, length, chunk):
    monkeypatch.setattr(mih_build, "BUILD_CHUNK", chunk)
    rng = np.random.default_rng(length + chunk)
    n = 300 if chunk < 8 else 5000
    codes = clustered_words(rng, n, nbits, ncenters=4, p=0.1)
    codes[::5] = codes[1]  # a crowded bucket: rows stay ascending within it
    sb = mih_mod.suffix_bits(length)
    pos = np.full(n, -1, dtype=np.int32)
    sfx = np.zeros(n, dtype=np.uint8)
    offs = mih_mod.dense_offsets(codes, start, length, 17, pos, backend, sb, sfx)
    keys = mih_mod.extract_substring(codes, start, length).astype(np.int64)
    prefix, low = keys >> sb, keys & ((1 << sb) - 1)
    order = np.argsort(prefix, kind="stable")
    assert (pos == order + 17).all()
    assert (sfx == low[order]).all()
    assert len(offs) == (1 << (length - sb)) + 1 and offs[0] == 0 and offs[-1] == n
    nz = np.unique(prefix)
    counts = np.bincount(np.searchsorted(nz, prefix), minlength=len(nz))
    assert (offs[nz + 1] - offs[nz] == counts).all()
    assert int(np.diff(offs).sum()) == n and (np.diff(offs) >= 0).all()


def test_sparse_segment_layout_against_dense(backend):
    """The same codes in a dense and a sparse table: per prefix bucket the
    same rows (dense: ordered by the full key, sparse: by row), and each
    entry's suffix byte is its key's low bits."""
    rng = np.random.default_rng(1)
    n, nbits, m = 4000, 64, 4
    codes = clustered_words(rng, n, nbits, ncenters=6, p=0.05)
    starts, lengths = mih_mod.substring_layout(nbits, m)
    dense = mih_mod.build_segment(codes, 0, n, starts, lengths, False, "dense")
    sparse = mih_mod.build_segment(codes, 0, n, starts, lengths, True, "sparse")
    assert mih_mod.kind_names(dense[0]) == ["dense"] * m
    assert mih_mod.kind_names(sparse[0]) == ["sparse"] * m
    assert sparse[7].shape == (m, n) and dense[7].shape == (m, 0)
    for j in range(m):
        b, sb = int(lengths[j]), int(sparse[0][j, 2])
        assert sb == 8
        keys = mih_mod.extract_substring(codes, int(starts[j]), b).astype(np.int64)
        do = dense[1][dense[0][j, 1] : dense[0][j, 1] + (1 << b) + 1]
        so = sparse[1][sparse[0][j, 1] : sparse[0][j, 1] + (1 << (b - sb)) + 1]
        assert (so == do[:: 1 << sb]).all()  # prefix buckets = runs of full-key buckets
        for pb in np.flatnonzero(np.diff(so))[:50]:
            rows_s = sparse[4][j, so[pb] : so[pb + 1]]
            rows_d = dense[4][j, do[pb << sb] : do[(pb + 1) << sb]]
            assert (rows_s == np.sort(rows_d)).all()
            assert (sparse[7][j, so[pb] : so[pb + 1]] == keys[rows_s] & 255).all()
        assert (sparse[6].reshape(m, n, 1)[j] == codes[sparse[4][j]]).all()  # inline codes


def test_table_kind_and_paper_m():
    assert mih_mod.table_kind(21, 10**8) == "dense"
    assert mih_mod.table_kind(32, 10**8) == "sparse"
    assert mih_mod.table_kind(32, 10**7) == "sparse"  # 2**24 <= 8 * 10**7
    assert mih_mod.table_kind(32, 10**6) == "hash"
    # 10^9 codes: 32-bit dense offsets (16 GiB) are over MAX_DENSE_BITS
    assert mih_mod.table_kind(32, 10**9) == "sparse"
    assert mih_mod.table_kind(mih_mod.MAX_DENSE_BITS, 10**9) == "dense"
    assert mih_mod.table_kind(16, 100, "sparse") == "sparse"
    assert mih_mod.table_kind(1, 100, "sparse") == "dense"  # no room for a suffix
    with pytest.raises(ValueError, match="table kind"):
        mih_mod.table_kind(16, 100, "tree")
    with pytest.raises(ValueError, match="table_kind"):
        mih_mod.MultiIndexTables(64, table_kind="tree")
    assert [mih_mod.paper_m(64, 10**e) for e in (6, 7, 8, 9)] == [3, 3, 2, 2]
    assert [mih_mod.choose_m(64, 10**e) for e in (6, 7, 8, 9)] == [4, 3, 3, 3]
    assert mih_mod.paper_m(128, 10**9) == 4 and mih_mod.paper_m(256, 10**9) == 9
    for nbits in (32, 64, 128, 256):
        for n in (10, 1000, 10**6, 10**9):
            assert mih_mod.paper_m(nbits, n) <= mih_mod.choose_m(nbits, n)
            assert mih_mod.paper_m(nbits, n) >= -(-nbits // 32)


# ------------------------------------------------------------ choice of m
def test_pick_m_is_one_of_two_rules_and_cached(monkeypatch):
    rng = np.random.default_rng(5)
    n = 40_000
    codes = clustered_words(rng, n, 64, ncenters=50, p=0.05)
    rule = mih_mod.AutoRule()
    m = rule.pick_m(codes, 64, lambda mm: False)
    assert m in (mih_mod.choose_m(64, n), mih_mod.paper_m(64, n))
    small = codes[:1000]
    assert rule.pick_m(small, 64, lambda mm: False) == mih_mod.choose_m(64, 1000)
    # a sealed segment: the planner asks once and keeps the answer with the rows
    index = hamsearch.Index.from_chunks([codes], 64, method="mih")
    seg = index.snapshot().views[0].seg
    assert seg.plans["m"] == index.planner.m_for(seg) == seg.mih.m
    calls = []
    monkeypatch.setattr(mih_mod.AutoRule, "pick_m", lambda *a, **k: calls.append(1) or 5)
    seg.mih = None
    assert index.planner.m_for(seg) == seg.plans["m"] and not calls
    # an explicit m wins
    forced = hamsearch.Index.from_chunks([codes], 64, method="mih", m=6)
    assert forced.m == 6


def test_cost_model_prices_sparse_probes(monkeypatch):
    """m = 2 over 10^8 codes means sparse tables: the probe price is the sparse one."""
    rule = mih_mod.AutoRule()
    rng = np.random.default_rng(0)
    codes = clustered_words(rng, 30_000, 64, ncenters=20, p=0.05)

    class Big:  # a stand-in that reports 10^8 rows but samples the small array
        shape = (10**8, 1)

        def __getitem__(self, idx):
            return codes[np.asarray(idx) % len(codes)]

    c2 = rule.costs(Big(), 64, 2, False, k=10)
    c3 = rule.costs(Big(), 64, 3, False, k=10)
    assert c2[1] == c3[1]  # the same flat cost
    assert mih_mod.table_kind(32, 10**8) == "sparse" and mih_mod.table_kind(22, 10**8) == "dense"
    costs = mih_cost.backend_costs()
    monkeypatch.setitem(costs, "probe_sparse", 2 * costs["probe_sparse"])
    assert rule.costs(Big(), 64, 2, False, k=10)[0] > c2[0]
    assert rule.costs(Big(), 64, 3, False, k=10)[0] == c3[0]
    assert mih_mod.cost_constants()["probe_sparse"] == costs["probe_sparse"]
