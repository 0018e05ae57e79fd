"""Add, memory and persistence figures of the engine.

``python -m bench.engine_io [--n 1000000,10000000] [--nbits 64,128]``

For each size: time to add the codes in one batch and in 1000 small
batches (amortised growth, never quadratic), bytes per code held by the
index against the packed-code floor (words + 8-byte id), time to save,
to load (read + verify) and to open with ``mmap=True``, and the time of a
first search on the mapped index, and when the mapped file's background data
check has finished (``Index.verify()``).  numpy's ``np.save`` / ``np.load`` of the
same code array is timed beside as the peer.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", default="1000000,10000000")
    p.add_argument("--nbits", default="64,128")
    p.add_argument("--dir", default=None, help="directory for the index files (default: a temp dir)")
    args = p.parse_args(argv)

    import hamsearch
    from hamsearch.synthetic import uniform_codes

    from ._common import machine_line, print_table, timed as _t

    print(machine_line())
    rows = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for nbits in [int(b) for b in args.nbits.split(",")]:
            for n in [int(x) for x in args.n.split(",")]:
                codes = uniform_codes(n, nbits, seed=0)
                index = hamsearch.Index(nbits, method="flat")
                _, t_one = _t(lambda: index.add(codes))
                per_code = index.nbytes / n
                floor = ((nbits + 63) // 64) * 8 + 8
                small = hamsearch.Index(nbits, method="flat")
                step = max(1, n // 1000)

                def add_small():
                    for s in range(0, n, step):
                        small.add(codes[s : s + step])

                _, t_small = _t(add_small)
                small_per_code = small.nbytes / n
                del small
                path = os.path.join(tmp, f"i{nbits}_{n}.hsx")
                _, t_save = _t(lambda: index.save(path))
                npy = os.path.join(tmp, "codes.npy")
                _, t_npsave = _t(lambda: np.save(npy, codes))
                _, t_load = _t(lambda: hamsearch.load(path))
                _, t_npload = _t(lambda: np.load(npy))
                t0 = time.perf_counter()
                mapped, t_mmap = _t(lambda: hamsearch.load(path, mmap=True))
                _, t_first = _t(lambda: mapped.search(codes[:1], 10))
                mapped.verify()  # the background data check of the mapped file
                t_checked = time.perf_counter() - t0
                rows.append([nbits, f"{n:,}", f"{t_one:.3f}", f"{t_small:.3f}", f"{per_code:.1f}",
                             f"{small_per_code:.1f}", floor, f"{t_save:.3f}", f"{t_npsave:.3f}",
                             f"{t_load:.3f}", f"{t_npload:.3f}", f"{t_mmap * 1e3:.1f}",
                             f"{t_first * 1e3:.1f}", f"{t_checked:.3f}"])
                del index, mapped, codes
                os.unlink(path)
    print_table(["bits", "n", "add 1 batch s", "add 1000 batches s", "B/code",
                 "B/code (1000 adds)", "floor B/code", "save s", "np.save s",
                 "load s", "np.load s", "mmap open ms", "1st search ms",
                 "mmap checked s"], rows)
    print("\nB/code = bytes held by the index per code (codes + ids, allocated capacity);"
          " floor = ceil(nbits/64)*8 + 8; mmap checked = from opening to the end of the"
          " background data check.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
