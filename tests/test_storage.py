"""Persistence: round trips, mmap, atomic save, corruption, pickle."""

import os
import pickle

import numpy as np
import pytest

import hamsearch
from hamsearch.storage import IndexFileError


def _index(n=500, nbits=128, seed=0):
    rng = np.random.default_rng(seed)
    index = hamsearch.Index(nbits)
    index.add(rng.integers(0, 256, size=(n, nbits // 8), dtype=np.uint8),
              ids=rng.permutation(10 * n)[:n])
    return index


def _same(a, b):
    q = np.random.default_rng(9).integers(0, 256, size=(7, a.nbits // 8), dtype=np.uint8)
    assert len(a) == len(b) and a.nbits == b.nbits
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.codes, b.codes)
    for x, y in zip(a.search(q, 10), b.search(q, 10)):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("mmap", [False, True])
def test_round_trip(tmp_path, mmap):
    index = _index()
    path = tmp_path / "a.hsx"
    index.save(path)
    loaded = hamsearch.load(path, mmap=mmap)
    _same(index, loaded)
    # mutating a loaded (possibly mapped) index works and leaves the file alone
    loaded.add(np.zeros((3, 16), np.uint8))
    loaded.remove(loaded.ids[:5])
    again = hamsearch.load(path)
    _same(index, again)


def test_empty_index_round_trip(tmp_path):
    index = hamsearch.Index(72)
    index.save(tmp_path / "e.hsx")
    loaded = hamsearch.load(tmp_path / "e.hsx", mmap=True)
    assert len(loaded) == 0 and loaded.nbits == 72
    loaded.add(np.zeros((2, 9), np.uint8))
    assert loaded.ids.tolist() == [0, 1]


def test_next_id_survives(tmp_path):
    index = hamsearch.Index(8)
    index.add(np.zeros((3, 1), np.uint8), ids=[4, 9, 2])
    index.remove([9])
    index.save(tmp_path / "x")
    loaded = hamsearch.load(tmp_path / "x")
    loaded.add(np.zeros((1, 1), np.uint8))
    assert loaded.ids.tolist() == [4, 2, 10]


def test_pickle_round_trip():
    index = _index(200, 64)
    _same(index, pickle.loads(pickle.dumps(index)))


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        hamsearch.load(tmp_path / "nope.hsx")


@pytest.mark.parametrize("mmap", [False, True])
def test_truncated_file_names_the_file(tmp_path, mmap):
    path = tmp_path / "t.hsx"
    _index().save(path)
    data = path.read_bytes()
    for cut in (0, 10, 30, len(data) // 2, len(data) - 1):
        path.write_bytes(data[:cut])
        with pytest.raises(IndexFileError, match="t.hsx"):
            hamsearch.load(path, mmap=mmap)


def test_not_an_index(tmp_path):
    path = tmp_path / "junk.bin"
    path.write_bytes(b"hello world, this is not an index at all" * 10)
    with pytest.raises(IndexFileError, match="not a hamsearch index"):
        hamsearch.load(path)


def test_corrupted_header_always_detected(tmp_path):
    path = tmp_path / "h.hsx"
    _index().save(path)
    data = bytearray(path.read_bytes())
    data[40] ^= 0x01  # inside the JSON header
    path.write_bytes(bytes(data))
    for mmap in (False, True):
        with pytest.raises(IndexFileError, match="header"):
            hamsearch.load(path, mmap=mmap)


def test_corrupted_codes_detected_when_verifying(tmp_path):
    path = tmp_path / "c.hsx"
    index = _index()
    index.save(path)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0x10  # inside the last section
    path.write_bytes(bytes(data))
    with pytest.raises(IndexFileError, match="corrupted"):
        hamsearch.load(path)
    with pytest.raises(IndexFileError, match="corrupted"):
        hamsearch.load(path, mmap=True, verify=True)


def test_unsupported_version(tmp_path):
    path = tmp_path / "v.hsx"
    _index().save(path)
    data = bytearray(path.read_bytes())
    data[8] = 99
    path.write_bytes(bytes(data))
    with pytest.raises(IndexFileError, match="version 99"):
        hamsearch.load(path)


def test_crash_mid_save_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "keep.hsx"
    old = _index(100, 64, seed=1)
    old.save(path)
    before = path.read_bytes()

    from hamsearch import storage

    real_write = storage._write

    def crashing_write(fh, meta, arrays):
        fh.write(b"partial")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(storage, "_write", crashing_write)
    with pytest.raises(OSError, match="simulated"):
        _index(300, 64, seed=2).save(path)
    monkeypatch.setattr(storage, "_write", real_write)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.hsx"]  # temp file cleaned


def test_save_into_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError):
        _index(10).save(tmp_path / "no" / "such" / "dir.hsx")
