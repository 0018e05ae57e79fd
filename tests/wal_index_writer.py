"""Writer for the kill -9 test of ``hamsearch.open(..., wal=True)``.

``python wal_index_writer.py DIR SEED POLICY`` applies the deterministic
operations of :func:`operation` (adds, removes, upserts and saves) to the
index in DIR, printing ``i`` after operation ``i`` has returned (it is then
acknowledged), until killed.
"""

from __future__ import annotations

import sys

import numpy as np

NBITS = 64


def operation(seed: int, i: int, counter: int):
    """Operation ``i``: ``(kind, codes, ids, next counter)``; ``counter`` is
    one past the largest id any earlier add used."""
    rng = np.random.default_rng([seed, i])
    roll = rng.random()
    n = int(rng.integers(1, 40))
    codes = rng.integers(0, 256, (n, NBITS // 8), dtype=np.uint8)
    if roll < 0.5 or counter < 10:
        return "add", codes, np.arange(counter, counter + n), counter + n
    if roll < 0.7:
        return "remove", None, rng.integers(0, counter, n), counter
    if roll < 0.93:
        ids = rng.choice(counter, min(n, counter), replace=False)
        return "upsert", codes[: ids.size], ids, counter
    return "save", None, None, counter


def main() -> None:
    import hamsearch

    directory, seed, policy = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    index = hamsearch.open(directory, nbits=NBITS, fsync=policy, segment_rows=64,
                           background_merges=True)
    counter = 0
    for i in range(10**9):
        kind, codes, ids, counter = operation(seed, i, counter)
        if kind == "add":
            index.add(codes, ids=ids)
        elif kind == "remove":
            index.remove(ids)
        elif kind == "upsert":
            index.upsert(codes, ids)
        else:
            index.save(directory)
        sys.stdout.write(f"{i}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
