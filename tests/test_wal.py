"""The write-ahead log: round trips, rotation, checkpoints, torn tails, corruption, kills."""

from __future__ import annotations

import os
import random
import re
import signal
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest

from hamsearch.wal import records as wal_records
from hamsearch.wal import WalCorruptError, WalLockedError, WriteAheadLog

from .wal_writer import expected_record

ROOT = Path(__file__).resolve().parent.parent
#: Subprocesses import this checkout's hamsearch.
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                              os.environ.get("PYTHONPATH")]))}
HEADER = 20  # file header bytes
DTYPES = [np.uint64, np.int64, np.float32, np.float16, np.bool_, np.uint8, np.int32,
          np.float64, np.int8, np.uint16]


def make_record(rng: np.random.Generator) -> tuple[str, dict[str, np.ndarray]]:
    """An op with 0-4 arrays of assorted dtypes and shapes, empty and zero ones included."""
    arrays = {}
    for j in range(int(rng.integers(0, 5))):
        dtype = DTYPES[int(rng.integers(len(DTYPES)))]
        shape = tuple(int(s) for s in rng.integers(0, 6, size=int(rng.integers(0, 4))))
        kind = rng.random()
        if kind < 0.2:
            arr = np.zeros(shape, dtype)
        elif dtype == np.bool_:
            arr = rng.random(shape) < 0.5
        elif np.issubdtype(dtype, np.floating):
            arr = rng.standard_normal(shape).astype(dtype)
        else:
            info = np.iinfo(dtype)
            arr = rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
        arrays[f"a{j}"] = np.asarray(arr)
    return str(rng.choice(["add", "remove", "upsert", "x.y-z_1"])), arrays


def assert_records(got, expected) -> None:
    """``got`` (seqno, op, arrays) equals ``expected`` {seqno: (op, arrays)} in order."""
    got = list(got)
    assert [seq for seq, _, _ in got] == list(expected)
    for seq, op, arrays in got:
        exp_op, exp_arrays = expected[seq]
        assert op == exp_op
        assert list(arrays) == list(exp_arrays)
        for name, arr in arrays.items():
            exp = np.asarray(exp_arrays[name])
            assert arr.dtype == exp.dtype.newbyteorder("<") and arr.shape == exp.shape
            assert arr.flags.writeable and arr.flags.aligned and arr.flags.c_contiguous
            np.testing.assert_array_equal(arr, exp)


def log_files(directory) -> list[str]:
    return sorted(p.name for p in Path(directory).glob("wal-*.log"))


def fill(directory, n: int, seed: int = 0, **kwargs) -> dict[int, tuple]:
    rng = np.random.default_rng(seed)
    records = {}
    with WriteAheadLog.open(directory, fsync="never", **kwargs) as wal:
        for _ in range(n):
            op, arrays = make_record(rng)
            records[wal.append(op, arrays)] = (op, arrays)
    return records


def small(seq: int) -> tuple[str, dict[str, np.ndarray]]:
    return "add", {"codes": np.full((3, 2), seq, np.uint64), "ids": np.arange(3) + seq}


def write_small(directory, n: int, **kwargs) -> list[int]:
    """Append ``small(1..n)``; return the file offset where each record starts."""
    starts = []
    with WriteAheadLog.open(directory, fsync="never", **kwargs) as wal:
        for _ in range(n):
            starts.append(os.path.getsize(Path(directory) / log_files(directory)[-1]))
            wal.append(*small(wal.last_seq + 1))
    return starts


def expect_small(first: int, last: int) -> dict[int, tuple]:
    return {seq: small(seq) for seq in range(first, last + 1)}


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


# ------------------------------------------------------------- validation
@pytest.mark.parametrize("kwargs, error", [
    ({"fsync": "sometimes"}, ValueError), ({"fsync": None}, ValueError),
    ({"fsync": True}, ValueError), ({"fsync_interval": 0}, ValueError),
    ({"fsync_interval": -1.0}, ValueError), ({"fsync_interval": float("nan")}, ValueError),
    ({"fsync_interval": float("inf")}, ValueError), ({"fsync_interval": "1"}, TypeError),
    ({"fsync_interval": True}, TypeError), ({"max_file_bytes": 0}, ValueError),
    ({"max_file_bytes": 1.5}, TypeError),
])
def test_open_validation(tmp_path, kwargs, error):
    with pytest.raises(error):
        WriteAheadLog.open(tmp_path, **kwargs)
    WriteAheadLog.open(tmp_path).close()  # nothing left locked


@pytest.mark.parametrize("op, arrays, error", [
    ("", {}, ValueError), ("a b", {}, ValueError), ("é", {}, ValueError),
    ("a" * 256, {}, ValueError), (5, {}, TypeError), (None, {}, TypeError),
    ("add", [("a", np.zeros(2))], TypeError), ("add", {"": np.zeros(2)}, ValueError),
    ("add", {3: np.zeros(2)}, TypeError), ("add", {"a/b": np.zeros(2)}, ValueError),
    *[("add", {"a": bad}, TypeError) for bad in (
        np.array([object()]), np.zeros(2, complex), np.array(["x"]), np.zeros(2, np.longdouble),
        np.zeros(2, "datetime64[s]"), np.zeros(1, [("x", "<i4")]))],
])
def test_append_validation(tmp_path, op, arrays, error):
    with WriteAheadLog.open(tmp_path) as wal:
        with pytest.raises(error):
            wal.append(op, arrays)
        assert wal.last_seq == 0 and wal.append("ok", {}) == 1


def test_record_size_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(wal_records, "MAX_RECORD_BYTES", 4096)
    with WriteAheadLog.open(tmp_path) as wal:
        wal.append("add", {"a": np.zeros(500)})  # 4000 bytes of data + metadata
        with pytest.raises(ValueError, match="exceeds the limit"):
            wal.append("add", {"a": np.zeros(510)})
        with pytest.raises(ValueError, match="exceeds the limit"):
            wal.append("add", {"a": np.zeros(300), "b": np.zeros(300)})
        assert wal.last_seq == 1
    assert len(list(WriteAheadLog.read(tmp_path))) == 1


def test_double_open_is_refused_and_close(tmp_path):
    wal = WriteAheadLog.open(tmp_path)
    with pytest.raises(WalLockedError, match="already open"):
        WriteAheadLog.open(tmp_path)
    code = "import sys; from hamsearch.wal import WriteAheadLog as W; W.open(sys.argv[1])"
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                          text=True, cwd=ROOT, env=ENV)
    assert proc.returncode != 0 and "WalLockedError" in proc.stderr
    wal.append(*small(1))
    wal.close()
    wal.close()
    assert wal.closed
    with pytest.raises(ValueError, match="closed"):
        wal.append(*small(2))
    with WriteAheadLog.open(tmp_path) as again:
        assert again.last_seq == 1
    assert again.closed


# ------------------------------------------------------ durability policies
@pytest.mark.parametrize("policy", ["always", "interval", "never"])
def test_policy_syncs(tmp_path, monkeypatch, policy):
    calls = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (calls.append(fd), real(fd)))
    wal = WriteAheadLog.open(tmp_path, fsync=policy, fsync_interval=0.05)
    try:
        for seq in range(1, 6):
            wal.append(*small(seq))
        if policy == "always":
            assert len(calls) == 5
        elif policy == "interval":
            deadline = time.monotonic() + 5
            while not calls and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.15)
            idle = len(calls)
            assert 1 <= idle <= 2
            time.sleep(0.2)
            assert len(calls) == idle  # nothing written, nothing synced
        else:
            time.sleep(0.1)
            assert calls == []
    finally:
        wal.close()
    if policy == "interval":
        assert len(calls) == idle + 1  # close syncs
    else:
        assert len(calls) == {"always": 6, "never": 0}[policy]


def test_failed_write_leaves_no_partial_record(tmp_path, monkeypatch):
    real = os.writev

    def half(fd, views):
        real(fd, [bytes(views[0])[:5]])
        raise OSError(28, "No space left on device")

    with WriteAheadLog.open(tmp_path) as wal:
        wal.append(*small(1))
        size = os.path.getsize(tmp_path / log_files(tmp_path)[0])
        monkeypatch.setattr(os, "writev", half)
        with pytest.raises(OSError, match="No space"):
            wal.append(*small(2))
        monkeypatch.setattr(os, "writev", real)
        assert os.path.getsize(tmp_path / log_files(tmp_path)[0]) == size
        assert wal.append(*small(2)) == 2
        assert_records(wal.replay(), expect_small(1, 2))


def test_failed_sync_refuses_further_appends(tmp_path, monkeypatch):
    def broken(fd):
        raise OSError(5, "Input/output error")

    wal = WriteAheadLog.open(tmp_path)
    wal.append(*small(1))
    monkeypatch.setattr(os, "fdatasync", broken)
    with pytest.raises(OSError, match="Input/output"):
        wal.append(*small(2))
    with pytest.raises(OSError, match="earlier write or sync failed"):
        wal.append(*small(3))
    wal.close()  # no sync attempted, no error


@pytest.mark.parametrize("policy", ["never", "interval"])
def test_threads_append_concurrently(tmp_path, policy):
    threads, per_thread = 4, 150
    seen: dict[int, tuple] = {}
    lock = threading.Lock()
    wal = WriteAheadLog.open(tmp_path, fsync=policy, fsync_interval=0.001, max_file_bytes=8192)

    def work(t):
        for i in range(per_thread):
            record = ("add", {"t": np.full(i % 7, t, np.int64), "i": np.array([i], np.int32)})
            seq = wal.append(*record)
            with lock:
                assert seq not in seen
                seen[seq] = record

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sorted(seen) == list(range(1, threads * per_thread + 1))
    assert wal.last_seq == threads * per_thread and len(log_files(tmp_path)) > 1
    assert_records(wal.replay(), dict(sorted(seen.items())))
    wal.close()
    assert_records(WriteAheadLog.read(tmp_path), dict(sorted(seen.items())))


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


# ------------------------------------------------------------------ kill -9
def start_writer(directory, policy: str) -> subprocess.Popen:
    """A writer that has done its imports and waits for a line on stdin to open the log."""
    return subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "wal_writer.py"), str(directory), policy,
         str(256 << 10), "--wait"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, cwd=ROOT, env=ENV)


def kill_writer(proc: subprocess.Popen) -> str:
    """SIGKILL the writer; return everything it printed."""
    proc.send_signal(signal.SIGKILL)
    out = proc.stdout.read()
    proc.wait(timeout=10)
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        pipe.close()
    assert proc.returncode == -signal.SIGKILL
    return out


def run_and_kill(proc: subprocess.Popen, rng: random.Random) -> list[int]:
    """Let a started writer go, kill it at a random moment; return the seqnos it acknowledged."""
    watchdog = threading.Timer(30, proc.kill)  # bounds a writer that never gets ready
    watchdog.start()
    try:
        proc.stdin.write("go\n")
        proc.stdin.flush()
        ready = proc.stdout.readline()
        assert ready.startswith("ready"), proc.stderr.read()
        time.sleep(rng.uniform(0.05, 0.4))
    finally:
        watchdog.cancel()
        out = kill_writer(proc)
    return [int(line) for line in out.splitlines(keepends=True) if line.endswith("\n")]


@pytest.mark.parametrize("policy, trials", [("never", 20), ("always", 20)])
def test_kill_minus_nine_loses_no_acknowledged_record(tmp_path, policy, trials):
    rng = random.Random(f"wal-{policy}")
    checked = 0  # every record up to here was verified in an earlier trial
    following = start_writer(tmp_path, policy)
    try:
        for trial in range(trials):
            proc = following
            following = start_writer(tmp_path, policy) if trial + 1 < trials else None
            acked = run_and_kill(proc, rng)
            assert acked == list(range(checked + 1, checked + 1 + len(acked))), trial
            last = 0
            for seq, op, arrays in WriteAheadLog.read(tmp_path, checked):
                assert seq == checked + 1 + last  # consecutive (the reader checks it too)
                last += 1
                assert_records([(seq, op, arrays)], {seq: expected_record(seq)})
            total = checked + last
            high = acked[-1] if acked else checked
            assert high <= total <= high + 1, (trial, acked[-1:], total)
            checked = total
    finally:
        if following is not None:
            kill_writer(following)
    assert checked > trials  # the writer got going in most trials
    with WriteAheadLog.open(tmp_path) as wal:
        assert wal.last_seq == checked
