"""Append records to a write-ahead log until killed; print each acknowledged seqno.

``python tests/wal_writer.py DIR POLICY [MAX_FILE_BYTES] [--wait]`` opens the
log in ``DIR`` with ``fsync=POLICY``, prints ``ready LAST_SEQ``, then appends
records forever, printing (and flushing) a record's seqno only after
``append`` returned, i.e. once it is acknowledged.  With ``--wait`` it reads a
line from stdin before opening the log, so a test can start it (and pay for
the imports) while the previous writer still runs; end of input makes it exit
without opening.  The content of every record is a function of its seqno
(:func:`expected_record`), so whoever kills this process can check every
record the log kept.
"""

from __future__ import annotations

import sys

import numpy as np

from hamsearch.wal import WriteAheadLog

OPS = ("add", "remove", "upsert")


def expected_record(seq: int) -> tuple[str, dict[str, np.ndarray]]:
    """The op and arrays of the record with seqno ``seq`` (mostly small, 1 in 10 ~1 MB)."""
    rng = np.random.default_rng(seq)
    n = int(rng.integers(5_000, 20_000)) if rng.random() < 0.1 else int(rng.integers(0, 300))
    arrays = {
        "codes": rng.integers(0, 2**64, size=(n, 2), dtype=np.uint64),
        "ids": np.arange(n, dtype=np.int64) + seq * 100_000,
        "features": rng.standard_normal((n, 8), dtype=np.float32),
    }
    return OPS[seq % len(OPS)], arrays


def main(argv: list[str]) -> None:
    args = [arg for arg in argv[1:] if arg != "--wait"]
    directory, policy = args[0], args[1]
    max_file_bytes = int(args[2]) if len(args) > 2 else 1 << 20
    if "--wait" in argv and not sys.stdin.readline():
        return  # whoever started it is gone
    with WriteAheadLog.open(directory, fsync=policy, max_file_bytes=max_file_bytes) as wal:
        print("ready", wal.last_seq, flush=True)
        while True:
            seq = wal.last_seq + 1
            op, arrays = expected_record(seq)
            if wal.append(op, arrays) != seq:
                raise SystemExit(f"append returned a seqno other than {seq}")
            print(seq, flush=True)


if __name__ == "__main__":
    main(sys.argv)
