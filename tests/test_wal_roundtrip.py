"""The write-ahead log: round trips (every dtype and shape, reopen, replay after
a seqno), rotation, checkpoints, a stale temp file."""

from __future__ import annotations

import os

import numpy as np
import pytest

from hamsearch.wal import WriteAheadLog

from .wal_helpers import (HEADER, assert_records, expect_small, fill, log_files, small,
                          write_small)


# ------------------------------------------------------------- round trips
def test_round_trip_many_records_and_reopen(tmp_path):
    records = fill(tmp_path, 150, seed=1)
    assert list(records) == list(range(1, 151))
    assert_records(WriteAheadLog.read(tmp_path), records)
    with WriteAheadLog.open(tmp_path) as wal:
        assert wal.last_seq == 150 and wal.first_seq == 1 and wal.dropped_bytes == 0
        assert_records(wal.replay(), records)
        assert wal.append(*small(151)) == 151
        records[151] = small(151)
        assert_records(wal.replay(), records)


def test_conversions_and_copies(tmp_path):
    base = np.arange(24, dtype=np.int64).reshape(4, 6)
    arrays = {"big": np.arange(5, dtype=">i4"), "strided": base[:, ::2],
              "fortran": np.asfortranarray(base), "scalar": np.float32(1.5),
              "list": [1.0, 2.0], "empty": np.empty((0, 7), np.float16)}
    with WriteAheadLog.open(tmp_path) as wal:
        wal.append("add", arrays)
        ((_, _, got),) = wal.replay()
        assert got["big"].dtype == np.dtype("<i4")
        assert_records([(1, "add", got)], {1: ("add", arrays)})
        got["strided"][:] = -1  # the caller owns the arrays
        ((_, _, again),) = wal.replay()
        np.testing.assert_array_equal(again["strided"], base[:, ::2])


def test_replay_after_seq(tmp_path):
    records = fill(tmp_path, 30)
    with WriteAheadLog.open(tmp_path) as wal:
        for after in (0, 1, 17, 29, 30):
            assert_records(wal.replay(after), {s: records[s] for s in records if s > after})
        for bad in (-1, 31):
            with pytest.raises(ValueError, match="after_seq"):
                wal.replay(bad)
        with pytest.raises(TypeError):
            wal.replay(True)
    assert [s for s, _, _ in WriteAheadLog.read(tmp_path, 25)] == [26, 27, 28, 29, 30]


def test_rotation_and_checkpoint(tmp_path):
    starts = write_small(tmp_path, 60, max_file_bytes=1000)
    files = log_files(tmp_path)
    assert len(files) > 5
    assert files[0] == "wal-0000000000000001.log"
    assert all(os.path.getsize(tmp_path / f) <= 1000 for f in files)
    assert_records(WriteAheadLog.read(tmp_path), expect_small(1, 60))
    assert starts[0] == HEADER
    firsts = [int(f[4:20]) for f in files]
    with WriteAheadLog.open(tmp_path, max_file_bytes=1000) as wal:
        deleted = wal.checkpoint(25)
        kept = [f for f, nxt in zip(files, firsts[1:] + [61]) if nxt - 1 > 25]
        assert deleted == len(files) - len(kept)
        assert log_files(tmp_path) == kept + ["wal-0000000000000061.log"]
        assert wal.first_seq == firsts[len(files) - len(kept)] <= 26
        assert_records(wal.replay(25), expect_small(26, 60))
        assert wal.replay().__next__()[0] == wal.first_seq
        with pytest.raises(ValueError, match="deleted by a checkpoint"):
            wal.replay(wal.first_seq - 2)
        with pytest.raises(ValueError):
            wal.checkpoint(61)
        assert wal.append(*small(61)) == 61
        wal.checkpoint(61)
        assert log_files(tmp_path) == ["wal-0000000000000062.log"]
        assert list(wal.replay(61)) == [] and wal.first_seq == 62
    # the empty file left by the checkpoint keeps the numbering
    with WriteAheadLog.open(tmp_path) as wal:
        assert wal.last_seq == 61 and wal.first_seq == 62
        assert wal.append(*small(62)) == 62
        assert wal.checkpoint(0) == 0
    assert_records(WriteAheadLog.read(tmp_path), expect_small(62, 62))


def test_stale_temp_file_is_removed(tmp_path):
    write_small(tmp_path, 3)
    temp = tmp_path / "wal-0000000000000004.log.tmp"
    temp.write_bytes(b"half a header")
    assert_records(WriteAheadLog.read(tmp_path), expect_small(1, 3))
    with WriteAheadLog.open(tmp_path) as wal:
        assert not temp.exists() and wal.last_seq == 3
