"""``hamsearch demo``: the main job on an embedded default data set.

Generates (seeded) a clustered set of 1M x 128-bit codes, builds an index,
runs 1000 queries and prints throughput and latency, with FAISS's
``IndexBinaryFlat`` beside it when faiss-cpu is installed.  ``--shards N``
adds a :class:`hamsearch.distributed.ShardedIndex` of N shards on a local
Ray cluster (``pip install -e ".[ray]"``), checked identical to the single
index.  The measurements are :mod:`hamsearch.evaluation.throughput`.
"""

from __future__ import annotations

import argparse

from ..errors import MissingDependencyError
from ._args import plain_text, require_positive

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``demo`` parser to ``sub``."""
    p = sub.add_parser("demo", help="search 1M synthetic 128-bit codes and compare with FAISS",
                       description=plain_text(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
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
                        "cluster (needs Ray)")
    p.add_argument("--replicas", type=int, default=1, help="replicas per shard (with --shards)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo; 0 when every engine agrees with the single index."""
    import hamsearch
    from hamsearch._progress import ProgressBar
    from hamsearch.evaluation import throughput as tp
    from hamsearch.synthetic import clustered_codes

    require_positive("--n, --nq and --k must be positive", args.n, args.nq, args.k)
    if args.threads is not None:
        hamsearch.set_num_threads(args.threads)
    threads = hamsearch.get_num_threads()
    print(f"hamsearch {hamsearch.__version__} demo: {args.n:,} clustered {args.nbits}-bit codes, "
          f"{args.nq} queries, k={args.k}, backend {hamsearch.backend()}, {threads} threads")
    with ProgressBar("generating codes", args.n, enabled=None) as bar:
        db, centres = clustered_codes(args.n, args.nbits, ncenters=1000, flip=(0.05, 0.15),
                                      seed=args.seed, progress=bar)
    queries, _ = clustered_codes(args.nq, args.nbits, centres=centres, flip=(0.05, 0.15),
                                 seed=args.seed + 1)
    common = (db, queries, args.k, args.nbits)
    runs = [tp.run_index(*common, args.method, args.latency_runs)]
    sharded_same = agree = None
    if args.shards:
        require_positive("--shards and --replicas must be positive", args.shards, args.replicas)
        if tp.optional_module("ray") is None:
            raise MissingDependencyError('--shards needs Ray: pip install ray (or, from a '
                                         'source checkout, pip install -e ".[ray]")')
        runs.append(tp.run_sharded(*common, args.method, args.latency_runs, args.shards,
                                   args.replicas, threads))
        sharded_same = tp.same_results(runs[0], runs[-1])
    faiss = None if args.no_faiss else tp.optional_module("faiss")
    if faiss is None and not args.no_faiss:
        print('(faiss-cpu not installed: pip install faiss-cpu, or pip install -e ".[faiss]" '
              "from a source checkout, to compare)")
    if faiss is not None:
        runs.append(tp.run_faiss(faiss, *common, args.latency_runs, threads))
        agree = tp.same_results(runs[0], runs[-1], ids=False)
    _print_table(runs, args.nq, base=runs[-1] if agree is not None else runs[0])
    if agree is not None:
        print(f"distances identical to FAISS: {'yes' if agree else 'NO'} "
              "(hamsearch breaks ties by ascending id)")
    if sharded_same is not None:
        print(f"sharded results identical to the single index (ids and distances): "
              f"{'yes' if sharded_same else 'NO'}")
    D, I = runs[0].D, runs[0].I
    print(f"query 0: nearest ids {I[0, :5].tolist()} at Hamming distances {D[0, :5].tolist()}")
    return 0 if agree in (None, True) and sharded_same in (None, True) else 1


def _print_table(runs: list, nq: int, base) -> None:
    header = (f"{'engine':<24}{'build s':>9}{'batch ms':>11}{'queries/s':>12}"
              f"{'1-query ms':>12}{'speed-up':>10}")
    print("\n" + header + "\n" + "-" * len(header))
    base_qps = nq / base.batch_s  # FAISS, if it ran
    for r in runs:
        qps = nq / r.batch_s
        print(f"{r.name:<24}{r.build_s:>9.2f}{r.batch_s * 1e3:>11.1f}{qps:>12,.0f}"
              f"{r.latency_ms:>12.3f}{qps / base_qps:>9.2f}x")
    print()
