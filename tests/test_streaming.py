"""Streaming builds: Index.from_chunks, the chunked table build, table files.

Checked against numpy references (tests.reference and a stable argsort as
the counting sort's twin) and against an index built from all the codes at
once: identical ids and distances, ties included.  Also the implicit-id
path (no ids array), the int32 row-number limit, the seeded chunked
generators of bench.billion_codes (chunk-size independent) and the mmap re-open
of a directory whose tables were saved.
"""

import os

import numpy as np
import pytest

import hamsearch
from hamsearch import directory as directory_mod
from hamsearch import mih as mih_mod
from hamsearch.mih import build as mih_build
from hamsearch.storage import IndexFileError
from tests.reference import clustered_words, knn, random_words, range_search
from tests.test_mih import BACKENDS, _backend_module


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch):
    mod = _backend_module(request.param)
    monkeypatch.setattr(mih_build, "_mih_kernels", lambda: mod)
    return mod


def _split(codes, sizes):
    out, at = [], 0
    for s in sizes:
        out.append(codes[at : at + s])
        at += s
    out.append(codes[at:])
    return out


# ------------------------------------------------------------ table kernels
@pytest.mark.parametrize("nbits,start,length", [(64, 0, 16), (64, 43, 21), (128, 60, 10),
                                                (128, 100, 20), (72, 64, 8)])
def test_key_counts_and_scatter_match_numpy(backend, nbits, start, length):
    rng = np.random.default_rng(start + length)
    codes = clustered_words(rng, 5000, nbits, ncenters=5, p=0.1)
    keys = mih_mod.extract_substring(codes, start, length)
    counts = np.zeros((1 << length) + 1, dtype=np.int32)
    # in two calls: counts accumulate
    backend.mih_key_counts(codes[:1234], start, length, counts[1:])
    backend.mih_key_counts(codes[1234:], start, length, counts[1:])
    assert (counts[1:] == np.bincount(keys, minlength=1 << length)).all()
    offs = np.cumsum(counts).astype(np.int32)
    fill = offs[:-1].copy()
    pos = np.full(len(codes), -1, dtype=np.int32)
    backend.mih_key_scatter(codes[:777], start, length, 10, fill, pos)
    backend.mih_key_scatter(codes[777:], start, length, 10 + 777, fill, pos)
    assert (pos == np.argsort(keys, kind="stable") + 10).all()
    assert (fill == offs[1:]).all()


@pytest.mark.parametrize("chunk", [1, 7, 1 << 22])
def test_dense_offsets_is_a_stable_counting_sort(backend, monkeypatch, chunk):
    monkeypatch.setattr(mih_build, "BUILD_CHUNK", chunk)
    rng = np.random.default_rng(chunk)
    codes = random_words(rng, 300 if chunk < 8 else 3000, 64)
    codes[::3] = codes[0]  # a crowded bucket: order within it must stay ascending
    pos = np.empty(len(codes), dtype=np.int32)
    offs = mih_mod.dense_offsets(codes, 5, 11, 3, pos, backend)
    keys = mih_mod.extract_substring(codes, 5, 11)
    assert (pos == np.argsort(keys, kind="stable") + 3).all()
    assert (offs == np.concatenate([[0], np.cumsum(np.bincount(keys, minlength=1 << 11))])).all()


def test_build_segment_equals_the_reference_layout(backend):
    """Every dense table: offsets = bucket counts, rows grouped by key ascending."""
    rng = np.random.default_rng(3)
    codes = clustered_words(rng, 4000, 64, ncenters=3, p=0.05)
    starts, lengths = mih_mod.substring_layout(64, 5)
    meta, offs, hk, hv, pos, occ, tc, sfx = mih_mod.build_segment(codes, 0, 4000, starts,
                                                                  lengths, True)
    assert sfx.shape == (5, 0)  # no sparse table
    for j in range(5):
        keys = mih_mod.extract_substring(codes, int(starts[j]), int(lengths[j]))
        assert meta[j, 0] < 0
        o = offs[meta[j, 1] : meta[j, 1] + (1 << int(lengths[j])) + 1]
        assert (np.diff(o) == np.bincount(keys, minlength=1 << int(lengths[j]))).all()
        assert (pos[j] == np.argsort(keys, kind="stable")).all()
        assert (tc.reshape(5, 4000, 1)[j] == codes[pos[j]]).all()


def test_row_numbers_are_int32_and_bounded(monkeypatch):
    rng = np.random.default_rng(0)
    codes = random_words(rng, 100, 64)
    state = mih_mod.MultiIndexTables(64, m=4)
    state.sync(codes, None)
    assert state._state.main[4].dtype == np.int32
    assert state._state.main[4].shape == (4, 100)
    monkeypatch.setattr(mih_build, "MAX_ROWS", 99)
    starts, lengths = mih_mod.substring_layout(64, 4)
    with pytest.raises(ValueError, match="at most 99 rows"):
        mih_mod.build_segment(codes, 0, 100, starts, lengths, False)
    with pytest.raises(ValueError, match="at most 99 codes"):
        hamsearch.Index.from_chunks([codes], 64)


# ------------------------------------------------------------ from_chunks
@pytest.mark.parametrize("nbits", [64, 128])
@pytest.mark.parametrize("given_n", [True, False])
def test_from_chunks_equals_building_from_all_codes(backend, nbits, given_n):
    rng = np.random.default_rng(nbits + given_n)
    n = 30_000
    codes = clustered_words(rng, n, nbits, ncenters=20, p=0.08)
    q = np.concatenate([codes[rng.integers(0, n, 10)] ^ random_words(rng, 10, nbits)
                        & random_words(rng, 10, nbits) & random_words(rng, 10, nbits),
                        random_words(rng, 5, nbits)])
    chunks = _split(codes, [1, 4999, 10_000, 7])
    streamed = hamsearch.Index.from_chunks(iter(chunks), nbits, n=n if given_n else None,
                                           method="mih", m=4)
    whole = hamsearch.Index(nbits, method="mih", m=4, segment_rows=n)
    whole.add(codes)
    assert len(streamed) == n
    seg = streamed.snapshot().views[0].seg
    assert streamed.stats()["segments"] == 1 and seg.is_range and seg.mih is not None
    for k in (1, 10, 257):
        Ds, Is = streamed.search(q, k)
        Dw, Iw = whole.search(q, k)
        Dr, Ir = knn(codes, np.arange(n), q, k)
        assert np.array_equal(Ds, Dw) and np.array_equal(Is, Iw)
        assert np.array_equal(Ds, Dr) and np.array_equal(Is, Ir)
    ls, Ds, Is = streamed.range_search(q, 6)
    lr, Dr, Ir = range_search(codes, np.arange(n), q, 6)
    assert np.array_equal(ls, lr) and np.array_equal(Ds, Dr) and np.array_equal(Is, Ir)
    # the tables are the ones a build over all codes at once makes
    ref = whole.snapshot().views[0].seg.tables(whole.planner.build_sealed)
    for a, b in zip(seg.mih.main[:6], ref.main[:6]):  # (``whole`` has inline codes)
        assert np.array_equal(a, b)


def test_from_chunks_implicit_ids_and_lean_bytes():
    rng = np.random.default_rng(5)
    n = 25_000
    codes = random_words(rng, n, 64)
    index = hamsearch.Index.from_chunks([codes[:10_000], codes[10_000:]], 64, n=n)
    seg = index.snapshot().views[0].seg
    assert seg.is_range and seg.ids_nbytes == 0 and seg.id_base == 0
    m = index.m
    st = seg.mih
    assert st.main[6].size == 0  # no inline codes: the lean layout
    others = sum(a.nbytes for i, a in enumerate(st.main + st.delta) if i != 4)
    assert st.main[7].size == 0  # dense tables: no suffix bytes
    # offsets of 2**(64/m) buckets per table (m from the cost model), occupancy,
    # meta: nothing near 8 bytes a code
    assert others < 8 * n + m * 4 * 2 ** -(-64 // m)
    assert index.nbytes == codes.nbytes + 4 * m * n + others  # 8 + 4 m bytes per code
    assert np.array_equal(index.ids, np.arange(n))
    # later adds go on with the next ids, into a new segment
    index.add(codes[:3])
    assert index.ids[-3:].tolist() == [n, n + 1, n + 2]
    D, I = index.search(codes[:1], 2)
    assert sorted(I[0].tolist()) == [0, n] and D[0].tolist() == [0, 0]


def test_from_chunks_input_checks_and_formats():
    rng = np.random.default_rng(6)
    words = random_words(rng, 100, 64)
    packed = words.view(np.uint8).reshape(100, 8)
    a = hamsearch.Index.from_chunks([packed[:50], words[50:]], 64, n=100, method="flat")
    assert np.array_equal(a.codes, words)
    assert a.snapshot().views[0].seg.mih is None  # flat: no tables
    with pytest.raises(ValueError, match="hold 100 codes"):
        hamsearch.Index.from_chunks([words], 64, n=101)
    with pytest.raises(ValueError, match="more than n=99"):
        hamsearch.Index.from_chunks([words], 64, n=99)
    with pytest.raises(TypeError, match="chunk must be packed"):
        hamsearch.Index.from_chunks([words[:, :1].astype(np.float64)], 64)
    empty = hamsearch.Index.from_chunks([], 64)
    assert len(empty) == 0 and empty.search(words[:1], 3)[1].tolist() == [[-1, -1, -1]]


# ------------------------------------------------------------ table files
def _saved(tmp_path, monkeypatch, n=20_000, nbits=64, inline=False):
    monkeypatch.setattr(directory_mod, "TABLES_MIN_ROWS", 1)
    rng = np.random.default_rng(n + nbits)
    codes = clustered_words(rng, n, nbits, ncenters=10, p=0.1)
    index = hamsearch.Index.from_chunks([codes], nbits, method="mih", inline_codes=inline)
    d = str(tmp_path / "idx")
    index.save(d, directory=True)
    return index, codes, d


@pytest.mark.parametrize("mmap", [True, False])
@pytest.mark.parametrize("inline", [False, True])
def test_saved_tables_reopen_mapped(tmp_path, monkeypatch, mmap, inline):
    index, codes, d = _saved(tmp_path, monkeypatch, inline=inline)
    files = os.listdir(d)
    assert sum(f.endswith(".mih") for f in files) == 1
    re = hamsearch.load(d, mmap=mmap)
    seg = re.snapshot().views[0].seg
    assert seg.mih is not None  # mapped or read, not rebuilt
    for a, b in zip(seg.mih.main, index.snapshot().views[0].seg.mih.main):
        assert np.array_equal(a, b)
    q = codes[:20] ^ np.uint64(0b1011)
    for k in (1, 50):
        D, I = re.search(q, k)
        Dr, Ir = knn(codes, np.arange(len(codes)), q, k)
        assert np.array_equal(D, Dr) and np.array_equal(I, Ir)
    re.verify()
    re.save(d)  # a second save keeps the table file
    assert sorted(os.listdir(d)) == sorted(files)


def test_table_file_goes_with_its_segment(tmp_path, monkeypatch):
    index, codes, d = _saved(tmp_path, monkeypatch, n=5000)
    old = os.path.basename(_table_file(d))
    re = hamsearch.load(d, mmap=True)
    re.remove(np.arange(2000))
    re.compact()  # the segment is rewritten: its table file is no longer named
    re.save(d)
    names = [s.name for s in (v.seg for v in re.snapshot().views)]
    assert old not in os.listdir(d) and old[:-4] not in names
    assert all(f[:-4] in names for f in os.listdir(d) if f.endswith(".mih"))
    again = hamsearch.load(d)
    D, I = again.search(codes[2000:2003], 1)
    assert I[:, 0].tolist() == [2000, 2001, 2002] or (D[:, 0] == 0).all()


def test_small_segments_do_not_save_tables(tmp_path):
    rng = np.random.default_rng(1)
    index = hamsearch.Index.from_chunks([random_words(rng, 1000, 64)], 64, method="mih")
    d = str(tmp_path / "small")
    index.save(d, directory=True)
    assert not any(f.endswith(".mih") for f in os.listdir(d))
    assert hamsearch.load(d, mmap=True).snapshot().views[0].seg.mih is None


def _table_file(d):
    return os.path.join(d, next(f for f in os.listdir(d) if f.endswith(".mih")))


def _section(path, name):
    from hamsearch.storage import _Checker, _read_header

    with open(path, "rb") as fh:
        buf = fh.read()
    header, _ = _read_header(memoryview(buf), _Checker(path))
    return next(s for s in header["sections"] if s["name"] == name)


def test_table_file_with_bad_offsets_is_refused(tmp_path, monkeypatch):
    _, _, d = _saved(tmp_path, monkeypatch, n=5000)
    path = _table_file(d)
    sec = _section(path, "offs")
    with open(path, "r+b") as fh:  # offs[1] = -5: a decreasing bucket range
        fh.seek(sec["offset"] + 4)
        fh.write(np.int32(-5).tobytes())
    with pytest.raises(IndexFileError, match="offsets"):
        hamsearch.load(d, mmap=True)


def test_table_file_with_rows_out_of_range_cannot_crash(tmp_path, monkeypatch):
    """Row numbers are not checked on open (that would read every table):
    the kernels skip rows out of range, and the data check reports the file."""
    _, codes, d = _saved(tmp_path, monkeypatch, n=5000)
    path = _table_file(d)
    sec = _section(path, "pos")
    bad = np.full(sec["shape"][1], 2**31 - 1, dtype=np.int32)
    bad[::2] = -7
    with open(path, "r+b") as fh:
        fh.seek(sec["offset"])
        fh.write(bad.tobytes())
    re = hamsearch.load(d, mmap=True, verify=False)
    D, I = re.search(codes[:5], 10)  # table 0 holds only bad rows: no crash
    assert ((I >= -1) & (I < len(codes))).all()
    with pytest.raises(IndexFileError, match="checksum"):
        re.verify()


def test_table_file_of_another_segment_is_refused(tmp_path, monkeypatch):
    _, codes, d = _saved(tmp_path, monkeypatch, n=5000)
    with pytest.raises(IndexFileError, match="segment holds"):
        mih_mod.read_tables(_table_file(d), codes[:4000], 64)
    with pytest.raises(IndexFileError, match="segment holds"):
        mih_mod.read_tables(_table_file(d), codes, 72)


# ------------------------------------------------------------ generators
@pytest.mark.parametrize("kind", ["clustered", "lsh"])
@pytest.mark.parametrize("nbits", [64, 128, 256])
def test_chunked_generation_is_seeded_and_chunk_size_independent(kind, nbits, monkeypatch):
    # the generators' module: BLOCK is patched where rows() and chunks() read it
    from bench import billion_codes as codes

    monkeypatch.setattr(codes, "BLOCK", 4096)  # small blocks: a fast test, same logic
    src = codes.SOURCES[kind](nbits, seed=3)
    n = 2 * codes.BLOCK + 123
    a = np.concatenate(list(codes.chunks(src, n, chunk=codes.BLOCK)))
    b = np.concatenate(list(codes.chunks(src, n, chunk=5 * codes.BLOCK)))
    c = codes.rows(src, 1000, codes.BLOCK + 500)
    assert a.shape == (n, -(-nbits // 64)) and a.dtype == np.uint64
    assert np.array_equal(a, b) and np.array_equal(a[1000 : codes.BLOCK + 500], c)
    again = np.concatenate(list(codes.chunks(codes.SOURCES[kind](nbits, seed=3), n)))
    assert np.array_equal(a, again)
    if nbits == 64:  # drawn by worker processes: the same codes, in order
        timer = [0.0]
        par = list(codes.chunks(src, n, chunk=codes.BLOCK, workers=2, timer=timer))
        assert len(par) == 3 and np.array_equal(np.concatenate(par), a) and timer[0] > 0
    other = codes.rows(codes.SOURCES[kind](nbits, seed=4), 0, 1000)
    assert not np.array_equal(a[:1000], other)
    q = codes.queries(src, 100)
    assert not np.array_equal(q, a[:100])  # queries are another stream
    # codes look like their model: balanced-ish bits, clustered neighbours
    bits = np.unpackbits(a.view(np.uint8), axis=1, bitorder="little")[:, :nbits]
    assert 0.2 < bits.mean() < 0.8
    D, _ = knn(a, np.arange(len(a)), q[:20], 2)
    assert np.median(D[:, 0]) < nbits / 4  # far closer than random codes (nbits / 2)
