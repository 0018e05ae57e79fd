"""Serving: many callers' single queries, direct calls vs hamsearch.Batcher.

``python -m bench.serving [--seconds 2] [--callers 1,2,8,32] [--threads 1,2]``

For each data set -- flat over 1M x 128-bit clustered codes, MIH over 1M and
10M x 64-bit clustered codes (1000 centres, flip 0.05); ``flat-10M-128`` for
the read-bandwidth case -- each caller thread
loops one-query k=10 searches for ``--seconds``; reported: queries/s and the
p50 / p99 / p99.9 latency of a call, for

* direct ``index.search`` calls from the callers,
* the same calls through a :class:`hamsearch.Batcher` (``concurrency`` =
  the kernel thread count's complement, see below; ``--leaders caller,thread``
  compares flat combining with dispatcher threads),
* ``faiss.IndexBinaryFlat`` single-query calls from the same callers (flat
  data sets; FAISS releases the GIL too),

with kernel threads in ``--threads`` (``hamsearch.set_num_threads``) and,
beside, one batch call of ``--batch`` queries (the ceiling coalescing aims
at) and, for flat data, one query's time against numpy reading the same
codes (counting their non-zero bytes on as many threads; out of DRAM that
is close to the read bandwidth).  The Batcher runs ``max(1, cores // kernel threads)`` batches at a time, so
the cores stay busy.  Every figure comes from this run, on this machine.
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import numpy as np

from ._common import bench_env, best_time, machine_line, print_table


def _callers(fn, queries, callers: int, seconds: float):
    """``callers`` threads looping ``fn(one query)``; (queries/s, latencies s)."""
    stop = time.perf_counter() + seconds
    lat: list[list[float]] = [[] for _ in range(callers)]
    start = threading.Barrier(callers)

    def worker(t):
        mine = lat[t]
        i = t
        start.wait()
        while True:
            t0 = time.perf_counter()
            if t0 >= stop:
                break
            fn(queries[i % len(queries)])
            mine.append(time.perf_counter() - t0)
            i += callers

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(callers)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    all_lat = np.concatenate([np.asarray(x) for x in lat])
    return len(all_lat) / wall, all_lat


def _read_gbs(arr: np.ndarray, nthreads: int, reps: int = 5) -> float:
    """numpy's read rate over ``arr``'s bytes (GB/s), a reference for the
    machine's read bandwidth: ``nthreads`` threads each count the non-zero
    bytes of a slice (numpy's SIMD loop, GIL released), best of ``reps``.
    Out of DRAM it is close to the bandwidth; on bytes in cache numpy's
    loop, not the memory, is the limit (30-43 GB/s on AMD Zen 5)."""
    flat = arr.reshape(-1).view(np.uint8)
    parts = np.array_split(flat, nthreads)
    best = float("inf")
    for _ in range(reps):
        threads = [threading.Thread(target=np.count_nonzero, args=(p,)) for p in parts]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        best = min(best, time.perf_counter() - t0)
    return flat.nbytes / best / 1e9


def _row(name, qps, lat):
    p50, p99, p999 = np.percentile(lat, [50, 99, 99.9]) * 1e3
    return [name, f"{qps:,.0f}", f"{p50:.3f}", f"{p99:.3f}", f"{p999:.3f}"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--callers", default="1,2,8,32")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--data", default="flat-1M-128,mih-1M-64,mih-10M-64")
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--no-faiss", action="store_true")
    p.add_argument("--spin-us", default=None,
                   help="comma list of spin times (us) of the C worker pool to compare in "
                        "this run (e.g. 0,200; default: the library's)")
    p.add_argument("--no-batcher", action="store_true", help="direct calls only")
    p.add_argument("--leaders", default="thread",
                   help="comma list of Batcher leader modes to compare: thread (dispatcher "
                        "threads, the default) and/or caller (flat combining)")
    args = p.parse_args(argv)
    bench_env()  # OMP_WAIT_POLICY=PASSIVE before FAISS starts
    import hamsearch
    from hamsearch.synthetic import clustered_codes

    faiss = None
    if not args.no_faiss:
        try:
            import faiss
        except ImportError:
            print("(faiss-cpu not installed: no FAISS rows)")
    cores = os.cpu_count() or 1
    print(machine_line())
    print(f"k=10, one query per call, {args.seconds:g} s per cell, backend {hamsearch.backend()}")
    for spec in args.data.split(","):
        method, size, nbits = spec.split("-")
        n = int(float(size.replace("M", "e6")))
        nbits = int(nbits)
        db, centres = clustered_codes(n, nbits, ncenters=1000, flip=0.05, seed=0)
        queries, _ = clustered_codes(2000, nbits, centres=centres, flip=0.05, seed=1)
        index = hamsearch.Index(nbits, method=method)
        index.add(db)
        index.search(queries[:2], 10)
        findex = None
        if faiss is not None and method == "flat":
            findex = faiss.IndexBinaryFlat(nbits)
            findex.add(db)
        rows = []
        spins = [None] if args.spin_us is None else [float(x) for x in args.spin_us.split(",")]
        for threads, spin in [(int(t), sp) for t in args.threads.split(",") for sp in spins]:
            hamsearch.set_num_threads(threads)
            spin_note = ""
            if spin is not None:
                from hamsearch._kernels import c as _c

                _c._set_spin_ns(int(spin * 1000))
                spin_note = f", pool spin {spin:g} us"
            if findex is not None:
                faiss.omp_set_num_threads(threads)
            t0 = time.perf_counter()
            index.search(queries[: args.batch], 10)
            batch_qps = args.batch / (time.perf_counter() - t0)
            rows.append([f"-- {threads} kernel thread(s){spin_note}: one batch of "
                         f"{args.batch}: {batch_qps:,.0f} q/s", "", "", "", ""])
            if method == "flat":  # one query against reading the codes
                one = [best_time(lambda i=i: index.search(queries[i], 10), 1, warmup=i == 0)
                       for i in range(20)]
                gbs = _read_gbs(index.codes, threads)
                nbytes = index.codes.nbytes
                rows.append([f"   one query: best {min(one) * 1e3:.3f} ms = "
                             f"{nbytes / min(one) / 1e9:.1f} GB/s, median "
                             f"{np.median(one) * 1e3:.3f} ms; numpy reads the codes at "
                             f"{gbs:.1f} GB/s ({threads} threads)", "", "", "", ""])
            for callers in [int(c) for c in args.callers.split(",")]:
                qps, lat = _callers(lambda q: index.search(q, 10), queries, callers,
                                    args.seconds)
                rows.append(_row(f"direct, {callers} callers", qps, lat))
                if args.no_batcher:
                    continue
                for leader in args.leaders.split(","):
                    batcher = hamsearch.Batcher(index, concurrency=max(1, cores // threads),
                                                leader=leader)
                    qps, lat = _callers(lambda q: batcher.search(q, 10), queries, callers,
                                        args.seconds)
                    mean = batcher.queries / max(1, batcher.calls)
                    batcher.close()
                    rows.append(_row(f"Batcher ({leader}), {callers} callers "
                                     f"(mean batch {mean:.1f})", qps, lat))
                if findex is not None:
                    qps, lat = _callers(lambda q: findex.search(q[None, :], 10), queries,
                                        callers, args.seconds)
                    rows.append(_row(f"faiss IndexBinaryFlat, {callers} callers", qps, lat))
        print(f"\n== {method} over {n:,} x {nbits}-bit clustered codes")
        print_table(["engine", "queries/s", "p50 ms", "p99 ms", "p99.9 ms"], rows)
        del index, findex, db
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
