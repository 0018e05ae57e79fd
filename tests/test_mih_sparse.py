"""Sparse multi-index tables (substrings too wide for dense offsets).

A sparse table holds dense offsets over the top ``b - 8`` bits of each
substring and one suffix byte (the low 8 bits) per entry beside its row
number.  Checked here: the chunked two-pass build against a numpy reference
(stable argsort by prefix, suffix bytes, prefix counts) on both backends;
tables of every kind forced at small ``n`` giving the numpy reference's k-NN
and range results (ties included), the same results as dense and hash
tables, and the same per-query stats from the C kernel (every ISA this CPU
runs) and its Numba twin; ``Index.from_chunks`` with sparse tables equal to
the flat scan; the table file's round trip (mapped and read) and crafted
table files, each loaded in a subprocess (``tests/file_probe.py``); the
kind and ``m`` rules (``table_kind``, ``paper_m``, ``AutoRule.pick_m``).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import hamsearch
from hamsearch import directory as directory_mod
from hamsearch import mih as mih_mod
from hamsearch.mih import build as mih_build
from hamsearch.mih import cost as mih_cost
from hamsearch.mih import layout as mih_layout
from hamsearch._backend import kernels
from hamsearch.storage import IndexFileError
from tests import file_probe as fp
from tests.reference import clustered_words, knn, random_words, range_search
from tests.test_mih import BACKENDS, _backend_module
from tests.variants import supported_c_variants

def _c_isas():
    """The ISAs this CPU runs (the C backend only)."""
    if "c" not in BACKENDS:
        return []
    return supported_c_variants()


KERNEL_PARAMS = ["numba"] + [f"c-{isa}" for isa in _c_isas()]


@pytest.fixture(params=KERNEL_PARAMS)
def kern(request, monkeypatch):
    """The MIH kernel module, the C one under each ISA the CPU has."""
    name = request.param
    if name == "numba":
        mod = _backend_module("numba")
    else:
        from hamsearch import _native

        before = _native.isa()
        _native.set_isa(name[2:])
        request.addfinalizer(lambda: _native.set_isa(before))
        mod = _backend_module("c")
    monkeypatch.setattr(mih_build, "_mih_kernels", lambda: mod)
    return mod


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch):
    mod = _backend_module(request.param)
    monkeypatch.setattr(mih_build, "_mih_kernels", lambda: mod)
    return mod


def _near(rng, db, nbits, nq):
    """Queries: database codes with a few bits flipped, and random ones."""
    q = random_words(rng, nq, nbits)
    near = db[rng.integers(0, len(db), nq)] ^ (random_words(rng, nq, nbits)
                                               & random_words(rng, nq, nbits)
                                               & random_words(rng, nq, nbits))
    q[: (2 * nq) // 3] = near[: (2 * nq) // 3]
    return np.ascontiguousarray(q)


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


# ------------------------------------------------------------ search
CASES = [  # nbits, m, kind, inline, budget factor
    (64, 2, "sparse", False, 8.0),
    (64, 3, "sparse", True, 8.0),
    (64, 4, "sparse", False, mih_mod.BUDGET_FACTOR),
    (72, 9, "sparse", False, 8.0),
    (128, 5, "sparse", False, 0.0),
    (256, 12, "sparse", True, 8.0),
    (40, 2, "sparse", False, 8.0),
]


@pytest.mark.parametrize("nbits,m,kind,inline,budget", CASES)
def test_sparse_search_equals_reference(kern, nbits, m, kind, inline, budget):
    rng = np.random.default_rng(nbits * 7 + m)
    n = 2500
    db = clustered_words(rng, n, nbits, ncenters=int(rng.integers(1, 6)), p=0.04)
    db[100:160] = db[99]  # exact duplicates: ties at every distance
    ids = rng.permutation(5 * n)[:n].astype(np.int64)
    t = mih_mod.MultiIndexTables(nbits, m=m, inline_codes=inline, table_kind=kind)
    t.budget_factor = budget
    t.sync(db[:2000], ids[:2000])  # main + delta segments
    t.sync(db, ids)
    assert t.describe()["kinds"] == ["sparse"] * m
    q = _near(rng, db, nbits, 12)
    for k in (1, 10, 61, 500):
        D, I = t.knn(q, k, nthreads=2)
        Dr, Ir = knn(db, ids, q, k)
        np.testing.assert_array_equal(D, Dr)
        np.testing.assert_array_equal(I, Ir)
    for r in (0, 3, nbits // 8):
        lims, D, I = t.range_search(q, r)
        lr, Dr, Ir = range_search(db, ids, q, r)
        np.testing.assert_array_equal(lims, lr)
        np.testing.assert_array_equal(D, Dr)
        np.testing.assert_array_equal(I, Ir)
    # with a skip bitmap (the deletes / filters path)
    skip = np.zeros(-(-n // 64), dtype=np.uint64)
    gone = rng.choice(n, n // 3, replace=False)
    np.bitwise_or.at(skip, gone >> 6, np.uint64(1) << (gone & 63).astype(np.uint64))
    keep = np.setdiff1d(np.arange(n), gone)
    D, I = t.knn(q, 10, skip=skip)
    Dr, Ir = knn(db[keep], ids[keep], q, 10)
    np.testing.assert_array_equal(D, Dr)
    np.testing.assert_array_equal(I, Ir)


@pytest.mark.parametrize("nbits,m", [(64, 2), (64, 4), (128, 6)])
def test_kinds_agree_and_backends_count_alike(nbits, m, monkeypatch):
    """Dense (where it fits), sparse and hash tables over the same codes give
    identical results; the C kernel (every ISA) and the Numba twin report
    identical per-query stats for the sparse tables."""
    rng = np.random.default_rng(nbits + m)
    n = 3000
    db = clustered_words(rng, n, nbits, ncenters=3, p=0.05)
    ids = np.arange(n, dtype=np.int64) * 3
    q = _near(rng, db, nbits, 10)
    kinds = ["sparse", "hash"] + (["dense"] if nbits // m <= 22 else [])
    results, stats = {}, {}
    if "c" in BACKENDS:
        from hamsearch import _native

        before = _native.isa()
    for name in KERNEL_PARAMS:
        if name == "numba":
            mod = _backend_module("numba")
        else:
            _native.set_isa(name[2:])
            mod = _backend_module("c")
        monkeypatch.setattr(mih_build, "_mih_kernels", lambda mod=mod: mod)
        try:
            for kind in kinds:
                t = mih_mod.MultiIndexTables(nbits, m=m, inline_codes=False, table_kind=kind)
                t.budget_word_cost = 1.0  # one budget for every kernel (it scales with it)
                t.sync(db, ids)
                for k in (1, 20):
                    results[(name, kind, k)] = t.knn(q, k)
                    if kind == "sparse":
                        stats[(name, k)] = t.last_stats.copy()
                results[(name, kind, "r")] = t.range_search(q, nbits // 10)
                if kind == "sparse":
                    stats[(name, "r")] = t.last_stats.copy()
        finally:
            if name != "numba":
                _native.set_isa(before)
    first = next(iter(results))
    for key, val in results.items():
        ref = results[(first[0], "sparse", key[2])]
        for a, b in zip(val, ref):
            np.testing.assert_array_equal(a, b, err_msg=str(key))
    for key, val in stats.items():
        np.testing.assert_array_equal(val, stats[("numba", key[1])], err_msg=str(key))
    assert stats[("numba", 1)][:, 0].sum() > 0  # the tables were probed


def test_from_chunks_with_sparse_tables_equals_flat(backend, monkeypatch):
    monkeypatch.setattr(mih_layout, "FORCE_KIND", "sparse")
    rng = np.random.default_rng(11)
    n, nbits = 30_000, 64
    codes = clustered_words(rng, n, nbits, ncenters=30, p=0.06)
    chunks = [codes[:1], codes[1:9000], codes[9000:]]
    index = hamsearch.Index.from_chunks(iter(chunks), nbits, n=n, method="mih", m=2)
    flat = hamsearch.Index(nbits, method="flat")
    flat.add(codes)
    st = index.snapshot().views[0].seg.mih
    assert mih_mod.kind_names(st.main[0]) == ["sparse", "sparse"]
    assert st.main[7].shape == (2, n) and st.main[6].size == 0
    # 8 (codes) + 2 x (4 + 1) bytes per code + 2 x (2**24 + 1) int32 offsets (+ meta)
    extra = index.nbytes - (8 * n + 10 * n + 2 * 4 * ((1 << 24) + 1))
    assert 0 <= extra < 200
    q = _near(rng, codes, nbits, 20)
    for k in (1, 10, 100):
        for a, b in zip(index.search(q, k), flat.search(q, k)):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(index.range_search(q, 5), flat.range_search(q, 5)):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------ table files
def _saved(tmp_path, monkeypatch, n=6000, m=4, inline=False):
    monkeypatch.setattr(directory_mod, "TABLES_MIN_ROWS", 1)
    monkeypatch.setattr(mih_layout, "FORCE_KIND", "sparse")
    rng = np.random.default_rng(n + m)
    codes = clustered_words(rng, n, 64, ncenters=10, p=0.08)
    index = hamsearch.Index.from_chunks([codes], 64, method="mih", m=m, inline_codes=inline)
    d = tmp_path / "idx"
    index.save(str(d), directory=True)
    monkeypatch.setattr(mih_layout, "FORCE_KIND", None)  # what is loaded comes from the file
    return index, codes, d


def _table_file(d):
    return os.path.join(d, next(f for f in os.listdir(d) if f.endswith(".mih")))


@pytest.mark.parametrize("mmap", [True, False])
@pytest.mark.parametrize("inline", [False, True])
def test_sparse_table_file_reopens(tmp_path, monkeypatch, mmap, inline):
    index, codes, d = _saved(tmp_path, monkeypatch, inline=inline)
    header, raw = fp.split(open(_table_file(d), "rb").read())
    assert [len(s) for s in header["meta"]["tables"]] == [3] * 4
    assert "sfx" in raw and len(raw["sfx"]) == 4 * len(codes)
    re = hamsearch.load(str(d), mmap=mmap)
    st = re.snapshot().views[0].seg.mih
    assert st is not None and mih_mod.kind_names(st.main[0]) == ["sparse"] * 4
    for a, b in zip(st.main, index.snapshot().views[0].seg.mih.main):
        np.testing.assert_array_equal(a, b)
    rng = np.random.default_rng(2)
    q = _near(rng, codes, 64, 15)
    for k in (1, 30):
        D, I = re.search(q, k)
        Dr, Ir = knn(codes, np.arange(len(codes)), q, k)
        np.testing.assert_array_equal(D, Dr)
        np.testing.assert_array_equal(I, Ir)
    re.verify()


def _craft(src_dir, tmp_path, name, change):
    """A copy of ``src_dir`` whose table file was rewritten by ``change(header,
    raw)`` (CRCs recomputed unless ``change`` returns False)."""
    import shutil

    out = tmp_path / name
    shutil.copytree(src_dir, out)
    path = _table_file(out)
    data = open(path, "rb").read()
    header, raw = fp.split(data)
    fix = change(header, raw)
    if fix is False:  # keep the old CRCs: a damaged file the data check reports
        new = fp.assemble(header, raw, fix_layout=False)
    else:
        new = fp.assemble(header, raw)
    with open(path, "wb") as fh:
        fh.write(new)
    return out


def test_crafted_sparse_table_files(tmp_path, monkeypatch):
    """Each crafted table file is refused on open, or loads and answers
    without reading outside its arrays; all tried in a subprocess."""
    from tests.test_file_fuzz import _probe

    index, codes, d = _saved(tmp_path, monkeypatch, n=3000, m=3)
    good = fp.digest(index)
    cases = {}

    def sec_bytes(raw, name, dtype):
        return np.frombuffer(raw[name], dtype=dtype).copy()

    def bad_offsets(header, raw):
        o = sec_bytes(raw, "offs", np.int32)
        o[3] = -5  # decreasing
        raw["offs"] = o.tobytes()

    def short_offsets(header, raw):
        o = sec_bytes(raw, "offs", np.int32)
        o[(1 << 14)] = 7  # table 0 ends at 7, not at rows
        raw["offs"] = o.tobytes()

    def bad_suffix_bits(header, raw):
        header["meta"]["tables"][0][2] = 9  # one byte holds 8

    def bad_bucket_count(header, raw):
        header["meta"]["tables"][1][0] //= 2

    def spec_not_ints(header, raw):
        header["meta"]["tables"][2] = [16384, 0, "8"]

    def no_suffix_section(header, raw):
        header["sections"] = [s for s in header["sections"] if s["name"] != "sfx"]
        del raw["sfx"]

    def short_suffix_section(header, raw):
        sec = next(s for s in header["sections"] if s["name"] == "sfx")
        sec["shape"] = [3, 2999]
        raw["sfx"] = raw["sfx"][: 3 * 2999]

    def rows_out_of_range(header, raw):
        p = sec_bytes(raw, "pos", np.int32)
        p[::3] = 2**31 - 1
        p[1::3] = -4
        raw["pos"] = p.tobytes()

    def garbage_suffixes(header, raw):
        raw["sfx"] = np.random.default_rng(0).integers(0, 256, len(raw["sfx"]),
                                                       dtype=np.uint8).tobytes()

    def garbage_suffixes_old_crc(header, raw):
        garbage_suffixes(header, raw)
        return False

    refused = [bad_offsets, short_offsets, bad_suffix_bits, bad_bucket_count, spec_not_ints,
               no_suffix_section, short_suffix_section, garbage_suffixes_old_crc]
    loads = [rows_out_of_range, garbage_suffixes]
    for fn in refused + loads:
        cases[fn.__name__] = _craft(d, tmp_path, fn.__name__, fn)
    out = _probe([d] + list(cases.values()), tmp_path)
    for mmap in (False, True):
        assert out[(str(d), mmap)] == good
        for fn in refused:
            assert out[(str(cases[fn.__name__]), mmap)] == "IndexFileError", (fn.__name__, mmap)
        for fn in loads:  # the data check cannot see a recomputed CRC: no crash, no error
            got = out[(str(cases[fn.__name__]), mmap)]  # but the wrong one
            assert got == "IndexFileError" or len(got) == 16, (fn.__name__, got)


def test_crafted_rows_are_skipped_in_process(tmp_path, monkeypatch, backend):
    """Row numbers out of range in a sparse table: the kernels skip them."""
    _, codes, d = _saved(tmp_path, monkeypatch, n=3000, m=2)

    def change(header, raw):
        p = np.frombuffer(raw["pos"], dtype=np.int32).copy()
        p[::2] = 2**31 - 1
        p[1::4] = -9
        raw["pos"] = p.tobytes()

    bad = _craft(d, tmp_path, "rows", change)
    re = hamsearch.load(str(bad), mmap=True, verify=False)
    D, I = re.search(codes[:8], 20)
    assert ((I >= -1) & (I < len(codes))).all()
    lims, D, I = re.range_search(codes[:8], 6)
    assert ((I >= 0) & (I < len(codes))).all()


def test_old_table_files_without_suffix_section_still_load(tmp_path, monkeypatch):
    """Dense-only table files keep the layout they had before sparse tables
    (no ``sfx`` section) and load as before."""
    monkeypatch.setattr(directory_mod, "TABLES_MIN_ROWS", 1)
    rng = np.random.default_rng(3)
    codes = clustered_words(rng, 5000, 64, ncenters=5, p=0.1)
    index = hamsearch.Index.from_chunks([codes], 64, method="mih", m=5)  # 13-bit: dense
    d = tmp_path / "dense"
    index.save(str(d), directory=True)
    header, raw = fp.split(open(_table_file(d), "rb").read())
    assert "sfx" not in raw and all(len(s) == 2 for s in header["meta"]["tables"])
    re = hamsearch.load(str(d), mmap=True)
    assert mih_mod.kind_names(re.snapshot().views[0].seg.mih.main[0]) == ["dense"] * 5
    np.testing.assert_array_equal(re.search(codes[:5], 3)[1], index.search(codes[:5], 3)[1])


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


@pytest.mark.parametrize("other", ["hash", "dense", "sparse"])
def test_mixed_kinds_across_parts(other):
    """A sparse main part beside a delta part of another kind: those tables
    are probed key by key (the grouped enumeration needs every part
    sparse); results as the reference, stats identical on both backends."""
    rng = np.random.default_rng(9)
    nbits, m, n, cut = 64, 4, 3000, 2600
    db = clustered_words(rng, n, nbits, ncenters=4, p=0.05)
    ids = rng.permutation(4 * n)[:n].astype(np.int64)
    starts, lengths = mih_mod.substring_layout(nbits, m)
    main = mih_mod.build_segment(db, 0, cut, starts, lengths, False, "sparse")
    delta = mih_mod.build_segment(db, cut, n, starts, lengths, False, other)
    q = _near(rng, db, nbits, 12)
    out = {}
    for name in BACKENDS:
        mod = _backend_module(name)
        for k in (1, 25):
            D, I, st = mod.mih_knn(db, ids, q, k, starts, lengths, main, delta, 10**9)
            Dr, Ir = knn(db, ids, q, k)
            np.testing.assert_array_equal(D, Dr)
            np.testing.assert_array_equal(I, Ir)
            out[(name, k)] = st
        lims, D, I, st = mod.mih_range_search(db, ids, q, 7, starts, lengths, main, delta, 10**9)
        lr, Dr, Ir = range_search(db, ids, q, 7)
        np.testing.assert_array_equal(lims, lr)
        np.testing.assert_array_equal(I, Ir)
        out[(name, "r")] = st
    for key, st in out.items():
        np.testing.assert_array_equal(st, out[("numba", key[1])])
