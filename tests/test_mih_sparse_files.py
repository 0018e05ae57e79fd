"""Sparse multi-index tables: table files.

The table file's round trip (mapped and read, inline codes or not), crafted
table files, each loaded in a subprocess (``tests/file_probe.py``), crafted
row numbers skipped in process, and old dense-only table files (no suffix
section) that still load.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import hamsearch
from hamsearch import directory as directory_mod
from hamsearch import mih as mih_mod
from hamsearch.mih import layout as mih_layout
from tests import file_probe as fp
from tests import mih_sparse_helpers
from tests.mih_sparse_helpers import _near
from tests.reference import clustered_words, knn

backend = mih_sparse_helpers.backend  # the shared fixture


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
