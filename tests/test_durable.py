"""Index directories and the write-ahead log: incremental saves, reopening,
and ``kill -9`` of a writer at random moments."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import hamsearch
from hamsearch.directory import MANIFEST
from hamsearch.storage import IndexFileError

sys.path.insert(0, os.path.dirname(__file__))
from wal_index_writer import NBITS, operation  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT,
                                                              os.environ.get("PYTHONPATH")]))}


def _codes(seed, n, nb=8):
    return np.random.default_rng(seed).integers(0, 256, (n, nb), dtype=np.uint8)


def _same_index(a, b, q):
    np.testing.assert_array_equal(np.sort(a.ids), np.sort(b.ids))
    ids = np.sort(a.ids)
    if ids.size:
        np.testing.assert_array_equal(a.reconstruct(ids), b.reconstruct(ids))
    for x, y in zip(a.search(q, 9), b.search(q, 9)):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("mmap", [False, True])
def test_directory_save_is_incremental(tmp_path, mmap):
    d = tmp_path / "ix"
    d.mkdir()
    index = hamsearch.Index(64, segment_rows=500, background_merges=False)
    index.add(_codes(0, 4000), features=np.ones((4000, 3), np.float32))
    first = index.save(d)
    assert first["segments_written"] == 1
    index.add(_codes(1, 40), features=np.zeros((40, 3), np.float32))
    index.remove([7, 4001])
    second = index.save(d)
    # only the new segment and the tombstones of the old one
    assert second["segments_written"] == 1 and second["tombstones_written"] == 1
    assert second["bytes_written"] < 0.1 * first["bytes_written"]
    third = index.save(d)
    assert third["segments_written"] == 0 and third["tombstones_written"] == 0
    loaded = hamsearch.load(d, mmap=mmap)
    loaded.verify()
    _same_index(index, loaded, _codes(2, 5))
    np.testing.assert_array_equal(loaded.reconstruct_features([4002]), np.zeros((1, 3)))
    # compaction rewrites; the files the manifest no longer names go away
    index.compact()
    report = index.save(d)
    assert report["files_removed"] >= 2
    names = sorted(os.listdir(d))
    assert names == sorted([MANIFEST] + [f"{s['name']}.hsx" for s in index.segments()])
    _same_index(index, hamsearch.load(d), _codes(2, 5))


def test_directory_damage_is_a_clear_error(tmp_path):
    d = tmp_path / "ix"
    d.mkdir()
    index = hamsearch.Index(64, segment_rows=100, background_merges=False)
    index.add(_codes(0, 300))  # sealed at once: the removes are tombstones
    index.remove([1, 2])
    index.save(d)
    manifest = d / MANIFEST
    good = manifest.read_bytes()
    manifest.write_bytes(good.replace(b'"rows": 300', b'"rows": 301'))
    with pytest.raises(IndexFileError, match="checksum"):
        hamsearch.load(d)
    manifest.write_bytes(good)
    (dfile,) = [p for p in d.iterdir() if p.suffix == ".del"]
    raw = bytearray(dfile.read_bytes())
    raw[-1] ^= 0x40
    dfile.write_bytes(bytes(raw))
    with pytest.raises(IndexFileError):
        hamsearch.load(d)
    dfile.unlink()
    with pytest.raises(IndexFileError, match="missing"):
        hamsearch.load(d)
    manifest.unlink()
    with pytest.raises(IndexFileError, match="without manifest.json"):
        hamsearch.load(d)


def test_open_replays_the_log_and_checkpoints_on_save(tmp_path):
    d = tmp_path / "ix"
    index = hamsearch.open(d, nbits=64, segment_rows=100, background_merges=False)
    index.add(_codes(0, 250))
    index.remove(np.arange(0, 250, 7))
    index.upsert(_codes(1, 5), [1, 2, 3, 1000, 1001])
    expect = hamsearch.Index(64)
    expect.add(index.codes, ids=index.ids)
    index.close()  # no save: everything is in the log
    again = hamsearch.open(d)
    _same_index(again, expect, _codes(3, 4))
    again.save(d)
    assert again.wal_files() == 1  # the records are in the saved segments now
    again.reset()
    again.add(_codes(4, 3))
    again.close()
    final = hamsearch.open(d, nbits=64)
    assert len(final) == 3
    with pytest.raises(ValueError, match="64-bit"):
        final.close() or hamsearch.open(d, nbits=128)


def test_open_refuses_a_second_writer(tmp_path):
    d = tmp_path / "ix"
    first = hamsearch.open(d, nbits=64)
    with pytest.raises(OSError):
        hamsearch.open(d, nbits=64)
    first.close()


def _model(seed, upto):
    """The dict id -> code after operations ``0 .. upto`` (inclusive)."""
    model, counter = {}, 0
    for i in range(upto + 1):
        kind, codes, ids, counter = operation(seed, i, counter)
        if kind in ("add", "upsert"):
            for c, x in zip(codes, ids.tolist()):
                model[x] = c
        elif kind == "remove":
            for x in ids.tolist():
                model.pop(x, None)
    return model


def _matches(index, model) -> bool:
    ids = np.sort(index.ids)
    if ids.tolist() != sorted(model):
        return False
    if not ids.size:
        return True
    want = np.array([model[x] for x in ids.tolist()])
    return bool((index.reconstruct(ids) == want).all())


@pytest.mark.parametrize("policy", ["always", "never"])
def test_kill_9_loses_nothing_acknowledged(tmp_path, policy):
    trials = 12
    rng = np.random.default_rng(17 if policy == "always" else 18)
    deadline = time.monotonic() + 120
    for trial in range(trials):
        if time.monotonic() > deadline:
            break
        d = tmp_path / f"t{trial}"
        seed = int(rng.integers(1 << 30))
        proc = subprocess.Popen([sys.executable, os.path.join(HERE, "wal_index_writer.py"),
                                 str(d), str(seed), policy], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=ROOT, env=ENV)
        time.sleep(float(rng.uniform(0.9, 2.0)))
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL, err[-2000:]
        acked = [int(x) for x in out.split()]
        last = acked[-1] if acked else -1
        index = hamsearch.open(d, nbits=NBITS)
        try:
            ok = _matches(index, _model(seed, last)) or _matches(index, _model(seed, last + 1))
            assert ok, f"trial {trial}: reopened index is not the acknowledged operations 0..{last}"
        finally:
            index.close()
