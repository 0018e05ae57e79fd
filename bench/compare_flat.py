"""hamsearch flat scan vs ``faiss.IndexBinaryFlat``, side by side in one process.

Run ``python -m bench.compare_flat`` (1M codes; ``--n`` to change).  For each
code length, thread count and k it times a batch of queries on both engines
(best of ``--repeats``), checks that the distances agree, and prints
queries/s and the ratio.  It then times single-query latency (median of 200)
and states how close the scan runs to the machine's limit, in 64-bit word
popcounts per CPU cycle per core.

``OMP_WAIT_POLICY`` defaults to ``PASSIVE`` (``--omp-active`` to keep
OpenMP's spinning): on a shared machine FAISS's spinning threads would
otherwise slow it down several-fold and flatter hamsearch.
"""

from __future__ import annotations

import argparse

import numpy as np

from ._common import (bench_env, best_time, cpu_mhz, machine_line, median_latency, omp_line,
                      print_table, set_threads)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--nq", type=int, default=1000)
    p.add_argument("--nbits", default="64,128,256")
    p.add_argument("--k", default="1,10,100")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--latency-nbits", type=int, default=128)
    p.add_argument("--data", choices=["clustered", "uniform"], default="clustered")
    p.add_argument("--flip", type=float, default=0.1,
                   help="clustered data: probability of flipping each bit of a centre "
                        "(0.02: near-duplicates)")
    p.add_argument("--centres", type=int, default=1000, help="clustered data: number of centres")
    p.add_argument("--omp-active", dest="omp_passive", action="store_false",
                   help="leave OpenMP spin-waiting on (faster for FAISS on an idle machine)")
    args = p.parse_args(argv)

    import hamsearch
    from hamsearch.synthetic import clustered_codes, uniform_codes

    faiss = bench_env(omp_passive=args.omp_passive, faiss_required=True)
    print(machine_line())
    print(omp_line())
    what = (f"clustered codes ({args.centres} centres, flip {args.flip})"
            if args.data == "clustered" else "uniform codes")
    print(f"database {args.n:,} {what}, {args.nq} queries, best of {args.repeats}\n")
    rows = []
    mhz = cpu_mhz()
    latency_rows = []
    for nbits in [int(b) for b in args.nbits.split(",")]:
        if args.data == "clustered":
            db, centres = clustered_codes(args.n, nbits, ncenters=args.centres,
                                          flip=args.flip, seed=1)
            q, _ = clustered_codes(args.nq, nbits, centres=centres, flip=args.flip, seed=2)
        else:
            db, q = uniform_codes(args.n, nbits, seed=1), uniform_codes(args.nq, nbits, seed=2)
        index = hamsearch.Index(nbits, method="flat")
        index.add(db)
        findex = faiss.IndexBinaryFlat(nbits)
        findex.add(db)
        words = (nbits + 63) // 64
        for threads in [int(t) for t in args.threads.split(",")]:
            set_threads(threads)
            for k in [int(x) for x in args.k.split(",")]:
                D, _ = index.search(q, k)
                fD, _ = findex.search(q, k)
                agree = np.array_equal(D, fD.astype(np.int32))
                t_h = best_time(lambda: index.search(q, k), args.repeats)
                t_f = best_time(lambda: findex.search(q, k), args.repeats)
                per_core = args.nq * args.n * words / t_h / threads
                wpc = f"{per_core / (mhz * 1e6):.2f}" if mhz else "-"
                rows.append([nbits, threads, k, f"{args.nq / t_h:,.0f}", f"{args.nq / t_f:,.0f}",
                             f"{t_f / t_h:.2f}x", f"{t_h / args.n / args.nq * 1e9 * threads:.3f}",
                             wpc, "yes" if agree else "NO"])
        if nbits == args.latency_nbits:
            for threads in [int(t) for t in args.threads.split(",")]:
                set_threads(threads)
                lat_h = median_latency(lambda x: index.search(x, 10), q)
                lat_f = median_latency(lambda x: findex.search(x, 10), q)
                latency_rows.append([nbits, threads, f"{lat_h * 1e3:.3f}", f"{lat_f * 1e3:.3f}",
                                     f"{lat_f / lat_h:.2f}x"])
        del index, findex, db
    print_table(["bits", "threads", "k", "hamsearch q/s", "faiss q/s", "ratio",
                 "ns/code/core", "words/cycle/core", "same D"], rows)
    if latency_rows:
        print(f"\nsingle-query latency, k=10, median of 200 ({args.n:,} codes)")
        print_table(["bits", "threads", "hamsearch ms", "faiss ms", "ratio"], latency_rows)
    print("\nratio = faiss time / hamsearch time (higher is better for hamsearch);"
          " words/cycle/core = 64-bit words compared per CPU cycle per core"
          f" (clock {mhz or '?'} MHz).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
