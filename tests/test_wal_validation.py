"""The write-ahead log: what ``open`` and ``append`` refuse, the record size
limit, one writer per directory (in this process and another), close."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from hamsearch.wal import records as wal_records
from hamsearch.wal import WalLockedError, WriteAheadLog

from .wal_helpers import ENV, ROOT, small


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
