"""Shared helpers of the write-ahead log tests (``tests/test_wal_*.py``): random
and small records, filling a log, comparing what it replays."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hamsearch.wal import WriteAheadLog


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
