"""The write-ahead log: the fsync policies, failed writes and syncs, threads
appending at once, and ``kill -9`` trials of a writer per policy (no
acknowledged record lost)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from hamsearch.wal import WriteAheadLog

from .wal_helpers import ENV, ROOT, assert_records, expect_small, log_files, small
from .wal_writer import expected_record


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
