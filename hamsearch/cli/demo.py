"""``hamsearch demo``: the main job on an embedded default data set.

Generates (seeded) a clustered set of 1M x 128-bit codes, builds an index,
runs 1000 queries and prints throughput and latency, with FAISS's
``IndexBinaryFlat`` beside it when faiss-cpu is installed.  ``--shards N``
adds a :class:`hamsearch.distributed.ShardedIndex` of N shards on a local
Ray cluster (``pip install 'hamsearch[ray]'``), checked identical to the
single index.
"""

from __future__ import annotations

import time

from ..errors import InvalidArgumentError, MissingDependencyError


def register(sub):
    p = sub.add_parser(
        "demo",
        help="search 1M synthetic 128-bit codes and compare with FAISS",
        description=__doc__,
    )
    p.add_argument("--n", type=int, default=1_000_000, help="database size (default 1M)")
    p.add_argument("--nbits", type=int, default=128, help="code length (default 128)")
    p.add_argument("--nq", type=int, default=1000, help="number of queries (default 1000)")
    p.add_argument("--k", type=int, default=10, help="neighbours per query (default 10)")
    p.add_argument("--method", default="auto", help="index method (default auto)")
    p.add_argument("--threads", type=int, default=None, help="threads (default: all CPUs)")
    p.add_argument("--latency-runs", type=int, default=200, help="single queries timed (default 200)")
    p.add_argument("--no-faiss", action="store_true", help="do not run FAISS beside hamsearch")
    p.add_argument("--shards", type=int, default=0,
                   help="also build a sharded index of this many shards on a local Ray "
                        "cluster (needs hamsearch[ray])")
    p.add_argument("--replicas", type=int, default=1, help="replicas per shard (with --shards)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def _sharded_row(args, db, queries, D, I, threads):
    """Build the sharded index in a temporary directory, time it like the
    single one, check its results are identical; ``(row, identical)``."""
    import tempfile

    import numpy as np

    import ray

    from hamsearch.distributed import ShardedIndex

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=threads, include_dashboard=False, log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory(prefix="hamsearch-demo-shards-") as root:
            cpus = threads / (args.shards * args.replicas)
            sx = ShardedIndex(args.nbits, args.shards, args.replicas, method=args.method,
                              root=root, num_cpus=cpus, threads_per_shard=max(1, int(cpus)),
                              fsync="never")
            try:
                _, t_build = _timed(lambda: (sx.add(db), sx.search(queries[:2], args.k)))
                (sD, sI), t_batch = _timed(lambda: sx.search(queries, args.k))
                lat = _median_latency_ms(lambda q: sx.search(q, args.k), queries,
                                         args.latency_runs)
            finally:
                sx.close(save=False)
    finally:
        if started:
            ray.shutdown()
    same = bool(np.array_equal(sD, D) and np.array_equal(sI, I))
    name = f"sharded {args.shards}x{args.replicas} (Ray)"
    return (name, t_build, t_batch, lat), same


def _median_latency_ms(fn, queries, runs: int) -> float:
    import numpy as np

    times = []
    for i in range(runs):
        q = queries[i % len(queries)][None, :]
        t0 = time.perf_counter()
        fn(q)
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run(args) -> int:
    import numpy as np

    import hamsearch
    from hamsearch._progress import Progress
    from hamsearch.synthetic import clustered_codes

    if args.n <= 0 or args.nq <= 0 or args.k <= 0:
        raise InvalidArgumentError("--n, --nq and --k must be positive")
    if args.threads is not None:
        hamsearch.set_num_threads(args.threads)
    threads = hamsearch.get_num_threads()
    print(
        f"hamsearch {hamsearch.__version__} demo: {args.n:,} clustered {args.nbits}-bit codes, "
        f"{args.nq} queries, k={args.k}, backend {hamsearch.backend()}, {threads} threads"
    )

    with Progress("generating codes", args.n) as bar:
        db, centres = clustered_codes(args.n, args.nbits, ncenters=1000, flip=(0.05, 0.15),
                                      seed=args.seed, progress=bar)
    queries, _ = clustered_codes(args.nq, args.nbits, centres=centres, flip=(0.05, 0.15),
                                 seed=args.seed + 1)

    index = hamsearch.Index(args.nbits, method=args.method)
    # build = add + the multi-index tables when auto picks them (built lazily)
    used, t_build = _timed(lambda: (index.add(db), index.plan(k=args.k))[1])
    index.search(queries[:2], args.k)  # warm-up (compiles the Numba kernels when they run)
    (D, I), t_batch = _timed(lambda: index.search(queries, args.k))
    lat = _median_latency_ms(lambda q: index.search(q, args.k), queries, args.latency_runs)
    rows = [(f"hamsearch {index.method} ({used})", t_build, t_batch, lat)]
    sharded_same = None
    if args.shards:
        if args.shards < 1 or args.replicas < 1:
            raise InvalidArgumentError("--shards and --replicas must be positive")
        try:
            import ray  # noqa: F401
        except ImportError:
            raise MissingDependencyError("--shards needs Ray: pip install ray (or, from a "
                                         "source checkout, pip install -e \".[ray]\")") from None
        row, sharded_same = _sharded_row(args, db, queries, D, I, threads)
        rows.append(row)

    faiss = None
    if not args.no_faiss:
        try:
            import faiss
        except ImportError:
            print("(faiss-cpu not installed: pip install hamsearch[faiss] to compare)")
    agree = None
    if faiss is not None:
        faiss.omp_set_num_threads(threads)
        findex = faiss.IndexBinaryFlat(args.nbits)
        _, f_build = _timed(lambda: findex.add(db))
        findex.search(queries[:2], args.k)
        (fD, fI), f_batch = _timed(lambda: findex.search(queries, args.k))
        f_lat = _median_latency_ms(lambda q: findex.search(q, args.k), queries, args.latency_runs)
        rows.append(("faiss IndexBinaryFlat", f_build, f_batch, f_lat))
        agree = bool(np.array_equal(D, fD.astype(D.dtype)))

    print()
    header = f"{'engine':<24}{'build s':>9}{'batch ms':>11}{'queries/s':>12}{'1-query ms':>12}{'speed-up':>10}"
    print(header)
    print("-" * len(header))
    base_qps = args.nq / (rows[-1] if agree is not None else rows[0])[2]  # FAISS, if it ran
    for name, t_b, t_q, lat_ms in rows:
        qps = args.nq / t_q
        print(f"{name:<24}{t_b:>9.2f}{t_q * 1e3:>11.1f}{qps:>12,.0f}{lat_ms:>12.3f}{qps / base_qps:>9.2f}x")
    print()
    if agree is not None:
        print(f"distances identical to FAISS: {'yes' if agree else 'NO'} "
              "(hamsearch breaks ties by ascending id)")
    if sharded_same is not None:
        print(f"sharded results identical to the single index (ids and distances): "
              f"{'yes' if sharded_same else 'NO'}")
    print(f"query 0: nearest ids {I[0, :5].tolist()} at Hamming distances {D[0, :5].tolist()}")
    return 0 if agree in (None, True) and sharded_same in (None, True) else 1
