"""The write-ahead log: torn tails (every truncation and flipped byte of the last
record), corruption (in a middle record, an older file, gaps and repeats),
bad file headers and random garbage, crafted lengths and payloads that must
allocate nothing."""

from __future__ import annotations

import os
import re
import struct
import tracemalloc
import zlib

import numpy as np
import pytest

from hamsearch.wal import WalCorruptError, WriteAheadLog

from .wal_helpers import HEADER, assert_records, expect_small, log_files, small, write_small


# ------------------------------------------------------------ torn tails
def test_every_truncation_of_the_last_record(tmp_path):
    n = 5
    starts = write_small(tmp_path, n)
    path = tmp_path / log_files(tmp_path)[0]
    data = path.read_bytes()
    last = starts[-1]
    assert len(data) - last > 60
    for cut in range(last, len(data) + 1):
        path.write_bytes(data[:cut])
        kept = n if cut == len(data) else n - 1
        assert_records(WriteAheadLog.read(tmp_path), expect_small(1, kept))
        assert os.path.getsize(path) == cut  # reading truncates nothing
        with WriteAheadLog.open(tmp_path, fsync="never") as wal:
            assert wal.dropped_bytes == cut - (len(data) if kept == n else last)
            assert os.path.getsize(path) == (len(data) if kept == n else last)
            assert wal.last_seq == kept
            assert wal.append(*small(kept + 1)) == kept + 1
            assert_records(wal.replay(), expect_small(1, kept + 1))


def flip(data: bytes, offset: int, mask: int = 0x5A) -> bytes:
    return data[:offset] + bytes([data[offset] ^ mask]) + data[offset + 1 :]


def test_damage_in_the_last_record_is_a_torn_tail(tmp_path):
    n = 5
    starts = write_small(tmp_path, n)
    path = tmp_path / log_files(tmp_path)[0]
    data = path.read_bytes()
    for offset in range(starts[-1], len(data)):  # header and payload bytes alike
        path.write_bytes(flip(data, offset))
        with WriteAheadLog.open(tmp_path, fsync="never") as wal:
            assert wal.last_seq == n - 1 and wal.dropped_bytes == len(data) - starts[-1]
            assert_records(wal.replay(), expect_small(1, n - 1))


def test_damage_in_a_middle_record_is_corruption(tmp_path):
    starts = write_small(tmp_path, 5)
    path = tmp_path / log_files(tmp_path)[0]
    data = path.read_bytes()
    for offset in range(starts[2], starts[3]):
        path.write_bytes(flip(data, offset))
        with pytest.raises(WalCorruptError,
                           match=re.escape(f"{path}: offset {starts[2]}: ") + ".*valid records"):
            WriteAheadLog.open(tmp_path)
        with pytest.raises(WalCorruptError):
            list(WriteAheadLog.read(tmp_path))
    assert path.read_bytes() == flip(data, starts[3] - 1)  # nothing was truncated


def test_zeroed_tail_is_torn_but_zeroed_middle_is_corrupt(tmp_path):
    starts = write_small(tmp_path, 6)
    path = tmp_path / log_files(tmp_path)[0]
    data = path.read_bytes()
    path.write_bytes(data[: starts[4]] + bytes(len(data) - starts[4] + 100))
    with WriteAheadLog.open(tmp_path) as wal:
        assert wal.last_seq == 4
    path.write_bytes(data[: starts[2]] + bytes(starts[4] - starts[2]) + data[starts[4] :])
    with pytest.raises(WalCorruptError, match=f"offset {starts[2]}"):
        WriteAheadLog.open(tmp_path)


@pytest.mark.parametrize("edit, message", [
    ("drop", "seqno 4 where 3"), ("repeat", "seqno 3 where 4"),
])
def test_gap_or_repeat_is_corruption(tmp_path, edit, message):
    starts = write_small(tmp_path, 5)
    path = tmp_path / log_files(tmp_path)[0]
    data = path.read_bytes()
    third = data[starts[2] : starts[3]]
    if edit == "drop":
        data = data[: starts[2]] + data[starts[3] :]
    else:
        data = data[: starts[3]] + third + data[starts[3] :]
    path.write_bytes(data)
    with pytest.raises(WalCorruptError, match=message):
        WriteAheadLog.open(tmp_path)


def test_damage_in_an_older_file_is_corruption(tmp_path):
    write_small(tmp_path, 40, max_file_bytes=1000)
    files = [tmp_path / f for f in log_files(tmp_path)]
    older = files[1]
    data = older.read_bytes()
    cases = {"torn": data[:-10], "flipped": flip(data, len(data) - 3),
             "empty": b"", "extra": data + b"\0" * 3}
    for name, damaged in cases.items():
        older.write_bytes(damaged)
        with WriteAheadLog.open(tmp_path) as wal:  # only the newest file is scanned
            assert wal.last_seq == 40
            with pytest.raises(WalCorruptError, match=re.escape(str(older))):
                list(wal.replay())
            assert_records(wal.replay(int(files[2].name[4:20]) - 1),
                           expect_small(int(files[2].name[4:20]), 40))
    older.write_bytes(data)
    files[2].unlink()  # a missing file is a gap between files
    with pytest.raises(WalCorruptError, match="next log file starts at"):
        list(WriteAheadLog.read(tmp_path))


# --------------------------------------------------------- garbage inputs
def header(first: int, magic: bytes = b"HSWAL\0", version: int = 1, crc=None) -> bytes:
    body = struct.pack("<6sHQ", magic, version, first)
    return body + struct.pack("<I", zlib.crc32(body) if crc is None else crc)


@pytest.mark.parametrize("content, message", [
    (b"PK\x03\x04 not a log at all, just some bytes" * 3, "not a write-ahead log"),
    (header(1, magic=b"HSWAX\0"), "not a write-ahead log"),
    (header(1, version=2), "unsupported format version 2"),
    (header(1, crc=12345), "header checksum"),
    (header(7), "first seqno 7"),
    (b"HSWAL\0\2", "truncated file header"),  # not a prefix of the right header
])
def test_bad_file_header(tmp_path, content, message):
    (tmp_path / "wal-0000000000000001.log").write_bytes(content)
    with pytest.raises(WalCorruptError, match=message):
        WriteAheadLog.open(tmp_path)
    with pytest.raises(WalCorruptError, match=message):
        list(WriteAheadLog.read(tmp_path))


def test_seqno_zero_file_name(tmp_path):
    (tmp_path / "wal-0000000000000000.log").write_bytes(header(0))
    with pytest.raises(WalCorruptError, match="seqno 0"):
        WriteAheadLog.open(tmp_path)


@pytest.mark.parametrize("size", [0, 1, 10, HEADER - 1])
def test_newest_file_with_a_torn_header(tmp_path, size):
    write_small(tmp_path, 3)
    newest = tmp_path / "wal-0000000000000004.log"
    newest.write_bytes(header(4)[:size])
    assert_records(WriteAheadLog.read(tmp_path), expect_small(1, 3))
    with WriteAheadLog.open(tmp_path) as wal:
        assert wal.last_seq == 3 and wal.dropped_bytes == size
        assert newest.read_bytes() == header(4)
        assert wal.append(*small(4)) == 4
    assert_records(WriteAheadLog.read(tmp_path), expect_small(1, 4))
    # alone in the directory, an empty file still opens as an empty log
    for path in tmp_path.glob("wal-*.log"):
        path.unlink()
    (tmp_path / "wal-0000000000000001.log").write_bytes(b"")
    with WriteAheadLog.open(tmp_path) as wal:
        assert wal.last_seq == 0 and wal.append(*small(1)) == 1


def test_random_garbage_never_crashes(tmp_path):
    """Random bytes after good records: a torn tail or WalCorruptError, never anything else."""
    write_small(tmp_path, 4)
    path = tmp_path / log_files(tmp_path)[0]
    data = path.read_bytes()
    rng = np.random.default_rng(7)
    outcomes = set()
    for trial in range(60):
        garbage = rng.integers(0, 256, int(rng.integers(1, 400)), dtype=np.uint8).tobytes()
        if trial % 3 == 0:  # plausible headers: a small length and the next seqno
            garbage = struct.pack("<IIQ", int(rng.integers(0, 300)), 0, 5) + garbage
        damaged = bytearray(data + garbage)
        if trial % 2:  # and sometimes a flip among the good records too
            damaged[int(rng.integers(HEADER, len(data)))] ^= 0xFF
        path.write_bytes(bytes(damaged))
        try:
            got = list(WriteAheadLog.read(tmp_path))
        except WalCorruptError:
            outcomes.add("corrupt")
            continue
        outcomes.add("torn")
        assert_records(got, expect_small(1, len(got)))
        assert len(got) >= (3 if trial % 2 else 4)
    assert outcomes == {"torn", "corrupt"}


def test_huge_length_at_the_tail_allocates_nothing(tmp_path):
    write_small(tmp_path, 3)
    path = tmp_path / log_files(tmp_path)[0]
    good = path.read_bytes()
    path.write_bytes(good + struct.pack("<IIQ", 2**32 - 1, 0, 4) + b"x" * 100)
    tracemalloc.start()
    try:
        assert len(list(WriteAheadLog.read(tmp_path))) == 3
        with WriteAheadLog.open(tmp_path) as wal:
            assert wal.last_seq == 3 and wal.dropped_bytes == 116
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20
    assert path.read_bytes() == good


def test_crafted_payload_with_a_valid_checksum(tmp_path):
    """A payload that lies about its arrays is corruption, found before any allocation."""
    write_small(tmp_path, 1)
    path = tmp_path / log_files(tmp_path)[0]
    payload = (b"\x03add" + struct.pack("<H", 1) + b"\x01a" + b"\x03<f8"
               + struct.pack("<BQ", 1, 2**40) + b"12345678")
    crc = zlib.crc32(payload, zlib.crc32(struct.pack("<Q", 2)))
    path.write_bytes(path.read_bytes() + struct.pack("<IIQ", len(payload), crc, 2) + payload)
    tracemalloc.start()
    try:
        with WriteAheadLog.open(tmp_path) as wal:
            assert wal.last_seq == 2  # the checksum is right
            with pytest.raises(WalCorruptError, match="needs 8796093022208 bytes"):
                list(wal.replay())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20
