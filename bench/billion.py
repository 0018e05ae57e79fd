"""A billion codes on one machine: the multi-index hashing paper's 1B table.

``python -m bench.billion --n 1000000000 --nbits 64 [--data clustered,lsh]``
``python -m bench.billion --scaling plot.png [--max-n 100000000]``

Norouzi, Punjani & Fleet (*Fast Exact Search in Hamming Space with
Multi-Index Hashing*, TPAMI 2014, Table 3) report exact k-NN speed-ups of
multi-index hashing over a linear scan on 1B LSH codes of SIFT descriptors.
This script generates seeded codes chunk by chunk, builds one index by
streaming (:meth:`hamsearch.Index.from_chunks`: one sealed segment, ids as a
range, tables by a chunked counting sort, no inline codes), and prints, for
k in {1, 10, 100, 1000}: the MIH time per query, the flat scan's time per
query (measured on a sample of the queries, one batch), their ratio beside
the paper's, and whether MIH returned exactly the flat scan's ids and
distances on that sample.  Also the build time, bytes per code (what the
index holds, and the growth of the process's resident memory), and with
``--dir`` the save, the ``mmap=True`` re-open, first-query and warm times.

Data (``--data``): ``clustered`` (1000 centre codes, bits flipped with
probability 1/16, as in ``bench.compare_mih``) or ``lsh`` (random-hyperplane
LSH codes of a seeded mixture of 1000 Gaussians in 128-d, a stand-in for
SIFT).  Both are a function of ``(seed, row)``, so any chunk size gives the
same codes, and the queries are a separate stream of the same distribution;
:mod:`bench.billion_codes` says how they are drawn, fast enough for 10^9
codes.  The timings are in :mod:`bench.billion_timing`; this module is the
command (and re-exports both).

``--variants auto,m3`` builds, beside the index's own tables (``auto``: the
m and table kinds the build chose), other tables over the same codes and
times them with the same queries against the same flat scan (``m3``: three
dense tables; ``m2-sparse``: two sparse ones, ...).

Threads: one (``--threads``), as the paper's single-core timings.  Figures
are ratios within one run; absolute times on a shared machine are noise.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import time

from ._common import machine_line, print_table
from .billion_codes import (
    BLOCK,
    DIM,
    NCENTRES,
    SIGMA,
    SOURCES,
    ClusteredSource,
    LSHSource,
    chunks,
    queries,
    rows,
)
from .billion_timing import (
    PAPER_SPEEDUP,
    build,
    peak_rss,
    reopen,
    table,
    variant_tables,
    variants_table,
)

# what tests/test_streaming.py and the docs reach through this module
__all__ = ["BLOCK", "DIM", "NCENTRES", "PAPER_SPEEDUP", "SIGMA", "SOURCES", "ClusteredSource",
           "LSHSource", "build", "chunks", "main", "queries", "reopen", "rows", "run_scaling",
           "run_table", "table", "variant_tables", "variants_table"]


def _print_variants(index, src, info: dict, args) -> bool:
    """``--variants``: each variant's tables described, then the side-by-side
    table; whether every variant matched the flat scan."""
    from hamsearch.mih import state_nbytes

    variants = [variant_tables(index, v) for v in args.variants]
    seg = index.snapshot().views[0].seg
    for label, st, bs, desc in variants:
        bpc = (seg.codes.nbytes + state_nbytes(st)) / args.n
        took = info["build_s"] if bs is None else bs
        print(f"  {label}: {desc}, tables built in {took:.1f} s, index {bpc:.2f} B/code")
    head, rows_, exact = variants_table(index, src, variants, args.ks, args.nq, args.flat_nq)
    print_table(head, rows_)
    return exact


def _print_reopen(holder: list, kind: str, src, args):
    """``--dir``: save, re-open with mmap and time it (:func:`reopen`); returns
    whether the re-opened index gave the same results, and the index."""
    d = os.path.join(args.dir, f"{kind}-{args.n}-{args.nbits}")
    shutil.rmtree(d, ignore_errors=True)
    r, index = reopen(holder, d, src)
    print(f"save {r['save_s']:.1f} s; load(mmap=True) {r['open_s'] * 1e3:.1f} ms "
          f"(tables mapped: {r['tables_mapped']}); first query "
          f"{r['first_s'] * 1e3:.1f} ms; warm {r['warm_s'] * 1e3:.3f} ms/q (k=10); "
          f"same results: {r['same_results']}")
    if not args.keep:
        shutil.rmtree(d, ignore_errors=True)
    return r["same_results"], index


def run_table(args) -> int:
    """The side-by-side table (or ``--variants``) for each ``--data`` kind;
    exit status 1 when MIH ever differed from the flat scan."""
    import hamsearch

    hamsearch.set_num_threads(args.threads)
    print(f"# {machine_line()}; threads {args.threads}; n={args.n:,} x {args.nbits}-bit; "
          f"{time.strftime('%Y-%m-%d')}")
    ok = True
    for kind in args.data:
        src, index, info = build(kind, args.n, args.nbits, args.chunk, args.seed, args.m,
                                 args.gen_workers)
        print(f"\n## {kind}: m={info['m']}, build {info['build_s']:.1f} s (+ generation "
              f"{info['gen_s']:.1f} s), index {info['bytes_per_code']:.2f} B/code, resident "
              f"growth {info['rss_per_code']:.2f} B/code, peak RSS "
              f"{peak_rss() / 2**30:.2f} GiB")
        if args.variants:
            ok &= _print_variants(index, src, info, args)
        else:
            rows_, exact = table(index, src, args.ks, args.nq, args.flat_nq)
            ok &= exact
            print_table(["k", "MIH ms/q", "flat ms/q", "speed-up", "1-query flat ms",
                         "speed-up (1-query)", "paper (T3)", "fallback",
                         "auto", "MIH == flat"], rows_)
        if args.dir:
            # the index moves into the list: reopen drops the last reference
            # before loading (at 10^9 codes both do not fit)
            holder = [index]
            del index
            same, index = _print_reopen(holder, kind, src, args)
            ok &= same
        del index
        gc.collect()
    print(f"\nrecall 1.0 (MIH == flat, ids and distances, every sampled query): "
          f"{'yes' if ok else 'NO'}")
    return 0 if ok else 1


def _plot_scaling(curves: dict, args) -> None:
    """MIH and flat time per query vs n, labelled with auto's choice (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for kind, pts in curves.items():
        n = [p[0] for p in pts]
        ax.loglog(n, [p[2] for p in pts], "o-", label=f"MIH ({kind})")
        ax.loglog(n, [p[3] for p in pts], "s--", label=f"flat ({kind})")
        for p in pts:
            ax.annotate(p[4], (p[0], p[2]), fontsize=7, textcoords="offset points",
                        xytext=(0, 6))
    ax.set_xlabel("codes n")
    ax.set_ylabel(f"ms per query (k={args.scaling_k}, 1 thread)")
    ax.set_title(f"{args.nbits}-bit: MIH vs flat (labels: auto's choice)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.scaling, dpi=120)


def run_scaling(args) -> int:
    """``--scaling``: MIH vs flat at n = 10^6 .. ``--max-n``, a table per
    kind and, when ``--scaling`` names a file, the plot."""
    import hamsearch

    hamsearch.set_num_threads(args.threads)
    ns = [10**e for e in range(6, 10) if 10**e <= args.max_n]
    print(f"# {machine_line()}; threads {args.threads}; {args.nbits}-bit; "
          f"{time.strftime('%Y-%m-%d')}")
    curves = {}
    for kind in args.data:
        pts = []
        for n in ns:
            src, index, info = build(kind, n, args.nbits, args.chunk, args.seed,
                                     workers=args.gen_workers)
            r, _ = table(index, src, [args.scaling_k], args.nq, args.flat_nq)
            mih_ms, flat_ms = float(r[0][1]), float(r[0][2])
            # row: k, MIH, flat, speed-up, 1-query flat, its speed-up, paper,
            # fallback, auto, exact (billion_timing.table)
            pts.append((n, info["m"], mih_ms, flat_ms, r[0][8], info["bytes_per_code"], r[0][9]))
            del index
            gc.collect()
        curves[kind] = pts
        print(f"\n## {kind}, k={args.scaling_k}")
        print_table(["n", "m", "MIH ms/q", "flat ms/q", "speed-up", "auto", "B/code", "exact"],
                    [[f"{n:,}", m, f"{a:.3f}", f"{b:.1f}", f"{b / a:.0f}x", au, f"{bpc:.2f}", ex]
                     for n, m, a, b, au, bpc, ex in pts])
    if args.scaling:
        _plot_scaling(curves, args)
        print(f"\nplot written to {args.scaling}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.billion``: see the module's docstring."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=10_000_000)
    p.add_argument("--nbits", type=int, default=64)
    p.add_argument("--data", default="clustered,lsh")
    p.add_argument("--ks", default="1,10,100,1000")
    p.add_argument("--nq", type=int, default=100, help="queries timed with MIH")
    p.add_argument("--flat-nq", type=int, default=10,
                   help="queries timed with the flat scan (one batch) and checked")
    p.add_argument("--chunk", type=int, default=1 << 20, help="rows generated per chunk")
    p.add_argument("--gen-workers", type=int, default=os.cpu_count() or 1,
                   help="processes generating chunks ahead of the build (default: one "
                        "per core; the build then shares the cores with them, and "
                        "'build' is the time not spent waiting for codes)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--dir", default=None,
                   help="save each index under this directory and re-open it with mmap")
    p.add_argument("--keep", action="store_true", help="keep the saved directories")
    p.add_argument("--m", type=int, default=None,
                   help="substrings of the index's own tables (default: the build's choice, "
                        "AutoRule.pick_m); e.g. 2 to measure the other candidate at 10^9, "
                        "where the tables of both do not fit beside each other")
    p.add_argument("--variants", default="",
                   help="comma-separated tables to compare over the same codes, same "
                        "queries: auto (the index's own), mN (N substrings), mN-KIND "
                        "(KIND: dense, sparse, hash); e.g. auto,m3")
    p.add_argument("--scaling", nargs="?", const="", default=None, metavar="PNG",
                   help="scaling run n = 10^6 .. --max-n (plot written to PNG if given)")
    p.add_argument("--max-n", type=int, default=10**8)
    p.add_argument("--scaling-k", type=int, default=10)
    args = p.parse_args(argv)
    args.data = [d for d in args.data.split(",") if d]
    args.ks = [int(k) for k in args.ks.split(",")]
    args.variants = [v for v in args.variants.split(",") if v]
    for d in args.data:
        if d not in SOURCES:
            p.error(f"--data: unknown {d!r} (choose from {sorted(SOURCES)})")
    if args.scaling is not None:
        return run_scaling(args)
    return run_table(args)


if __name__ == "__main__":
    sys.exit(main())
