"""Exact multi-index hashing vs flat scans and FAISS's hash indexes, one process.

Run ``python -m bench.compare_mih`` (1M codes, 1000 queries drawn like the
database).  For each data set and code length it builds, in the same
process and with the same thread count:

* hamsearch ``Index(method="mih")`` and ``Index(method="flat")`` (exact);
* ``faiss.IndexBinaryFlat`` (exact);
* ``faiss.IndexBinaryMultiHash`` (approximate: ``nhash = nbits / 16``
  tables of 16 bits, probing ``nflip`` bit flips) at the smallest nflip
  whose tie-aware recall@10 reaches 0.99 (or the largest tried), and its
  recall;
* ``faiss.IndexBinaryHash`` (one table on a ``--hash-bits`` prefix, same
  nflip rule);
* ``faiss.IndexBinaryIVF`` (nlist 1024, nprobe 16), for reference;

and prints one table: build seconds, memory bytes per code, queries/s for
k in {1, 10, 100} and radius in {2, 4, 8, 16}, recall@10 of the approximate
engines, then the ratios the MIH issue targets.  *Tie-aware recall*: a
returned item counts when its true distance is at most the true k-th
distance (Hamming distances tie a lot).  Radius queries are inclusive for
hamsearch; FAISS's strict ``<`` gets ``radius + 1``.

``--backend c,numba`` runs the whole comparison once per kernel backend,
each in its own process (``HAMSEARCH_BACKEND``), then prints the hamsearch
figures side by side: MIH and flat queries/s for every k and radius, what
``method="auto"`` picks, and its *regret* (the better method's speed over
the speed of auto's pick; 1.00 when auto picks the faster one).

``--scaling`` instead times k-NN (k = 10) at n = 100k, 1M, 10M for MIH,
hamsearch flat and FAISS flat and saves a PNG of time per query vs n.

Every figure is measured in one process on the machine at hand; on a shared
machine compare the ratios, not the absolute numbers.  ``OMP_WAIT_POLICY``
defaults to ``PASSIVE`` here (``--omp-active`` to keep OpenMP's spinning):
on an oversubscribed machine spinning OpenMP threads slow FAISS down
several-fold, which would flatter hamsearch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

from ._common import bench_env, bench_parser, machine_line, omp_line, print_table
from .compare_mih_data import make_data
from .compare_mih_report import plot_scaling, print_backends, print_case, print_summary
from .compare_mih_timing import (
    KS,
    RADII,
    Timer,
    auto_plans,
    records,
    run_case,
    scaling_point,
    tie_aware_recall,
)

# what other modules import from here (bench.ab_versions: make_data)
__all__ = ["KS", "RADII", "Timer", "auto_plans", "by_backend", "main", "make_data",
           "run_case", "scaling", "tie_aware_recall"]


def _parse(argv: list[str] | None):
    p = bench_parser(__doc__, n=1_000_000, nq=1000, threads=2, repeats=2)
    p.add_argument("--nbits", default="64,128,256")
    p.add_argument("--data", default="uniform,clustered-0.05,clustered-0.15",
                   help="comma list of uniform / clustered-<p> / fashion-itq")
    p.add_argument("--radius", default="2,4,8,16")
    p.add_argument("--centres", type=int, default=1000,
                   help="centres of the clustered-<p> codes")
    p.add_argument("--peers", default="faiss-flat,faiss-mhash,faiss-hash,faiss-ivf")
    p.add_argument("--nflips", default="0,1,2", help="nflip values tried for FAISS hashes")
    p.add_argument("--hash-bits", type=int, default=20)
    p.add_argument("--scaling", action="store_true", help="time vs n mode (writes a PNG)")
    p.add_argument("--scaling-n", default="100000,1000000,10000000")
    p.add_argument("--plot", default="mih_scaling.png")
    p.add_argument("--backend", default=None,
                   help="comma list of kernel backends (c,numba): each runs in its own "
                        "process, then the hamsearch figures are printed side by side")
    p.add_argument("--json", default=None, help="also write the hamsearch figures here")
    p.add_argument("--omp-active", dest="omp_passive", action="store_false",
                   help="leave OpenMP spin-waiting on (faster for FAISS on an idle machine)")
    return p.parse_args(argv)


def by_backend(args, argv: list[str]) -> int:
    """Run the comparison once per backend (own process, ``HAMSEARCH_BACKEND``)
    and print the hamsearch figures side by side with auto's regret."""
    backends = [b for b in args.backend.split(",") if b]
    runs = {}
    for backend in backends:
        env = dict(os.environ, HAMSEARCH_BACKEND=backend)
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            child, skip = [], False
            for a in argv:  # the same arguments, less --backend X / --backend=X
                if skip or a.startswith("--backend"):
                    skip = a == "--backend" and not skip
                    continue
                child.append(a)
            cmd = [sys.executable, "-m", "bench.compare_mih", *child, "--json", out.name]
            print(f"### backend {backend}: {' '.join(cmd[1:])}", flush=True)
            # the child's exit status is reported below, not raised
            proc = subprocess.run(cmd, env=env, check=False)
            if proc.returncode != 0:
                print(f"backend {backend}: failed (exit {proc.returncode})")
                return proc.returncode
            with open(out.name) as fh:
                runs[backend] = json.load(fh)
    print_backends(runs, backends)
    return 0


def scaling(args, faiss, timer: Timer) -> int:
    """``--scaling``: k-NN time per query vs n (``--scaling-n``) at the first
    ``--nbits``, a table and a PNG (``--plot``)."""
    ns = [int(x) for x in args.scaling_n.split(",")]
    nbits = int(args.nbits.split(",")[0])
    rows, series = [], {}
    for kind in args.data.split(","):
        for n in ns:
            pt = scaling_point(kind, n, nbits, args, faiss, timer)
            rows.append([kind, n, pt["m"], pt["build"], pt["bpc"], pt["MIH"] * 1e6,
                         pt["hamsearch flat"] * 1e6, pt["faiss flat"] * 1e6,
                         pt["faiss flat"] / pt["MIH"]])
            for name in ("MIH", "hamsearch flat", "faiss flat"):
                series.setdefault((kind, name), []).append((n, pt[name] * 1e6))
    print_table(["data", "n", "m", "MIH build s", "MIH B/code", "MIH us/q", "flat us/q",
                 "faiss flat us/q", "faiss flat / MIH"], rows)
    plot_scaling(series, nbits, args.threads, args.plot)
    print(f"\nplot saved to {args.plot}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.compare_mih``: see the module's docstring."""
    raw_argv = list(sys.argv[1:] if argv is None else argv)
    args = _parse(argv)
    if args.backend:
        return by_backend(args, raw_argv)
    args.radius = [int(r) for r in args.radius.split(",") if r]
    args.peers = set(args.peers.split(",")) if args.peers else set()
    args.nflips = [int(f) for f in args.nflips.split(",")]

    import hamsearch

    # OMP_WAIT_POLICY=PASSIVE before FAISS's OpenMP start-up (see bench_env)
    faiss = bench_env(args.threads, omp_passive=args.omp_passive, faiss_required=True)
    timer = Timer(args.repeats)
    print(machine_line())
    print(omp_line())
    print(f"{args.threads} threads, {args.nq} queries drawn like the database, "
          f"best of {args.repeats}\n")
    if args.scaling:
        return scaling(args, faiss, timer)
    summary, recs = [], []
    for kind in args.data.split(","):
        for nbits in [int(b) for b in args.nbits.split(",")]:
            rows, stats, mih = run_case(args, faiss, kind, nbits, args.n, timer)
            summary.append(print_case(kind, nbits, args.n, rows, stats, mih.segments(),
                                      args.radius))
            recs += records(kind, nbits, rows, rows["hamsearch MIH"]["plans"])
    print_summary(summary)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"backend": hamsearch.backend(), "records": recs}, fh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
