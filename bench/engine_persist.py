"""Persistence for services: incremental directory saves and the write-ahead log.

``python -m bench.engine_persist [--n 10000000] [--dir DIR]``

On n clustered 64-bit codes (1000 centres, flip 0.05), default ids:

* **Incremental save**: a full save of the index to a fresh directory, then
  ``add`` of 1% more codes and a save to the same directory (only the new
  segment and the manifest are written); bytes written and wall time of
  each, against a save of the whole index to one file (``save(path)``).
* **WAL**: ``add`` throughput (batches of ``--batch`` codes, and single
  codes) for an index opened with ``hamsearch.open(dir, wal=True)`` at each
  fsync policy, against the same adds without a log.

``--dir`` should be on the disk the service would use (default: a
temporary directory under the current one).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile

import numpy as np

from ._common import best_time, machine_line, print_table, set_threads, timed


def _dir_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path)
               if os.path.isfile(os.path.join(path, f)))


def _timed_save(index, path):
    """``(what save returned, seconds)``."""
    return timed(lambda: index.save(path))


def _adds(index, codes, batch: int) -> float:
    """Seconds to add ``codes`` in batches of ``batch``."""
    def add():
        for s in range(0, len(codes), batch):
            index.add(codes[s : s + batch])

    return best_time(add, 1)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=10_000_000)
    p.add_argument("--grow", type=float, default=0.01, help="fraction added before the 2nd save")
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--wal-codes", type=int, default=200_000)
    p.add_argument("--single", type=int, default=2000, help="single-code adds per policy")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dir", default=None)
    args = p.parse_args(argv)

    import hamsearch
    from hamsearch.synthetic import clustered_codes

    set_threads(args.threads)
    print(machine_line())
    work = tempfile.mkdtemp(prefix="hs-persist-", dir=args.dir or ".")
    try:
        db, centres = clustered_codes(args.n, 64, ncenters=1000, flip=0.05, seed=1)
        extra, _ = clustered_codes(int(args.n * args.grow), 64, centres=centres, flip=0.05,
                                   seed=2)
        index = hamsearch.Index(64, method="mih", background_merges=False)
        index.add(db)
        rows = []
        one = os.path.join(work, "one.hsx")
        _, t_file = _timed_save(index, one)
        rows.append(["save(file), whole index", f"{os.path.getsize(one):,}", f"{t_file:.3f}",
                     "", ""])
        os.unlink(one)
        d = os.path.join(work, "dir")
        os.mkdir(d)
        full, t_full = _timed_save(index, d)
        rows.append(["save(dir), first (full)", f"{full['bytes_written']:,}", f"{t_full:.3f}",
                     "1", "1"])
        changes = [(f"save(dir) after +{args.grow:.0%} adds", lambda: index.add(extra)),
                   ("save(dir) after removing 0.1%",
                    lambda: index.remove(np.arange(0, args.n, 1000)))]
        for label, change in changes:
            change()
            rep, t = _timed_save(index, d)
            rows.append([label, f"{rep['bytes_written']:,}", f"{t:.3f}",
                         f"{rep['bytes_written'] / full['bytes_written']:.4f}",
                         f"{t / t_full:.4f}"])
        print(f"\n{args.n:,} clustered 64-bit codes, default ids, MIH; directory on "
              f"{os.path.abspath(work)}")
        print_table(["save", "bytes written", "s", "bytes vs full", "time vs full"], rows)
        del index, db
        shutil.rmtree(d)

        # ---------------------------------------------------------- WAL
        codes, _ = clustered_codes(args.wal_codes, 64, centres=centres, flip=0.05, seed=3)
        rows = []
        plain = hamsearch.Index(64, method="flat")
        t_plain = _adds(plain, codes, args.batch)
        t_plain1 = _adds(hamsearch.Index(64, method="flat"), codes[: args.single], 1)
        rows.append(["no log", f"{len(codes) / t_plain:,.0f}", "1",
                     f"{args.single / t_plain1:,.0f}", "1"])
        for policy in ("never", "interval", "always"):
            wd = os.path.join(work, f"wal-{policy}")
            ix = hamsearch.open(wd, nbits=64, method="flat", fsync=policy)
            t = _adds(ix, codes, args.batch)
            ix.close()
            shutil.rmtree(wd)
            ix = hamsearch.open(wd, nbits=64, method="flat", fsync=policy)
            t1 = _adds(ix, codes[: args.single], 1)
            ix.close()
            again, t_replay = timed(lambda: hamsearch.open(wd))
            assert len(again) == args.single
            again.close()
            shutil.rmtree(wd)
            rows.append([f"wal=True, fsync={policy!r}", f"{len(codes) / t:,.0f}",
                         f"{t_plain / t:.3f}", f"{args.single / t1:,.0f}",
                         f"{t_plain1 / t1:.3f} (replay {t_replay * 1e3:.0f} ms)"])
        print(f"\nadd throughput, codes/s: batches of {args.batch} ({len(codes):,} codes) and "
              f"single-code adds ({args.single:,})")
        print_table(["index", "batched codes/s", "vs no log", "single adds/s", "vs no log"],
                    rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
