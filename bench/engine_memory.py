"""Memory per code: flat and MIH indexes at 64 and 128 bits, against FAISS.

``python -m bench.engine_memory [--n 10000000] [--bits 64 128]``

For n clustered codes (1000 centres, flip 0.05) with default (sequential)
ids, each configuration is built in a fresh child process (so resident
memory is measured cleanly), and reports:

* ``index.nbytes / n`` (what the index holds: codes, ids when they are not
  a range, tombstones, multi-index tables), and the growth of the process's
  resident memory over the build divided by n;
* k=10 throughput over 1000 queries (so the inline-codes trade-off is
  visible: inline copies make MIH bucket verification sequential, without
  them each candidate costs a random access);
* FAISS ``IndexBinaryFlat`` (codes only, ids implicit) as the peer.

Targets of issue 12: <= 24 bytes per code for 10M x 64-bit MIH, <= 9 for
flat 64-bit with default ids.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from ._common import bench_env, best_time, machine_line, print_table


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


def _child(n: int, nbits: int, kind: str, nq: int, threads: int) -> dict:
    from hamsearch.synthetic import clustered_codes

    bench_env(threads)  # OMP_WAIT_POLICY=PASSIVE before FAISS is imported
    db, centres = clustered_codes(n, nbits, ncenters=1000, flip=0.05, seed=1)
    q, _ = clustered_codes(nq, nbits, centres=centres, flip=0.05, seed=2)
    base = _rss()
    if kind == "faiss":
        import faiss

        index = faiss.IndexBinaryFlat(nbits)
        index.add(db)
        held = index.ntotal * index.code_size
        search = lambda: index.search(q, 10)  # noqa: E731
    else:
        import hamsearch

        method, _, inline = kind.partition("-")
        opts = {} if not inline else {"inline_codes": inline == "inline"}
        index = hamsearch.Index(nbits, method=method, **opts)
        index.add(db)
        index.search(q[:1], 10)  # builds the tables
        held = index.nbytes
        search = lambda: index.search(q, 10)  # noqa: E731
    grown = _rss() - base  # db itself was allocated before ``base``
    del db
    best = best_time(search, 3, warmup=True)
    return {"held": held / n, "rss": grown / n, "qps": nq / best}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=10_000_000)
    p.add_argument("--bits", type=int, nargs="+", default=[64, 128])
    p.add_argument("--nq", type=int, default=1000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--child", nargs=2, metavar=("NBITS", "KIND"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        out = _child(args.n, int(args.child[0]), args.child[1], args.nq, args.threads)
        print(json.dumps(out))
        return 0
    print(machine_line())
    kinds = ["flat", "mih-inline", "mih-noinline", "mih", "faiss"]
    for nbits in args.bits:
        rows = []
        for kind in kinds:
            proc = subprocess.run([sys.executable, "-m", "bench.engine_memory", "--n",
                                   str(args.n), "--nq", str(args.nq), "--threads",
                                   str(args.threads), "--child", str(nbits), kind],
                                  capture_output=True, text=True)
            if proc.returncode:
                rows.append([kind, "failed", proc.stderr.strip().splitlines()[-1][:60], "", ""])
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append([kind if kind != "mih" else "mih (default)", f"{r['held']:.1f}",
                         f"{r['rss']:.1f}", f"{r['qps']:,.0f}"])
        print(f"\n{args.n:,} clustered {nbits}-bit codes, default ids; bytes per code")
        print_table(["index", "nbytes / n", "RSS growth / n", "k=10 q/s"], rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
