"""How well ``method="auto"`` chooses between the flat scan and MIH.

``python -m bench.auto_rule [--data fashion128,fashion64,clustered64] [--n 1000000]``

For each data set (ITQ codes of augmented Fashion-MNIST at 128 and 64 bits,
see :mod:`bench.learned_codes` -- needs the ``dataset-fashion-mnist``
package -- and clustered 64-bit codes, 1000 centres, flip 0.05), one process
builds ``Index(method=...)`` for flat, mih and auto over the same codes and
times k-NN (k = 1, 10, 100) and radius search (r = 2, 4, 8, 12, 16) over
1000 queries, best of 3.  It prints each engine's queries/s, the method
auto planned, and auto's speed relative to the better of the two; at the end
the geometric mean of that ratio.  Run it under ``HAMSEARCH_ISA=avx2`` (or
another kernel) too: the flat scan's speed, and so the right choice, depends
on the kernel (see ``hamsearch.mih.FLAT_WORD_COST``).  These are the
measurements the constants of :class:`hamsearch.mih.AutoRule` were fitted to.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys

from ._common import best_time, machine_line, print_table, set_threads


def _data(name: str, n: int, nq: int):
    from hamsearch.synthetic import clustered_codes

    if name.startswith("fashion"):
        from .learned_codes import fashion_itq_codes

        nbits = int(name[len("fashion"):])
        db, q = fashion_itq_codes(n, nq, nbits)
        return db, q, nbits
    nbits = int(name[len("clustered"):])
    db, c = clustered_codes(n, nbits, ncenters=1000, flip=0.05, seed=1)
    q, _ = clustered_codes(nq, nbits, centres=c, flip=0.05, seed=2)
    return db, q, nbits


def _best(fn, repeats=3) -> float:
    # the warm-up call builds tables, samples, filter caches
    return best_time(fn, repeats, warmup=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="fashion128,fashion64,clustered64")
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--nq", type=int, default=1000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--backend", default=None,
                   help="comma list of backends (e.g. c,numba): each runs in its own process "
                        "(HAMSEARCH_BACKEND) and the results are printed side by side")
    p.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.backend:
        return _side_by_side(args)

    import hamsearch

    set_threads(args.threads)
    if not args.json:
        print(machine_line())
    ratios, records = [], []
    for name in args.data.split(","):
        db, q, nbits = _data(name, args.n, args.nq)
        idx = {m: hamsearch.Index(nbits, method=m) for m in ("flat", "mih", "auto")}
        for ix in idx.values():
            ix.add(db)
        rows = []
        for kind, values in (("k", (1, 10, 100)), ("r", (2, 4, 8, 12, 16))):
            for v in values:
                qps = {}
                for m, ix in idx.items():
                    fn = (lambda ix=ix: ix.search(q, v)) if kind == "k" else \
                        (lambda ix=ix: ix.range_search(q, v))
                    qps[m] = len(q) / _best(fn)
                plan = idx["auto"].plan(**({"k": v} if kind == "k" else {"radius": v}))
                ratio = qps["auto"] / max(qps["flat"], qps["mih"])
                ratios.append(ratio)
                records.append({"data": name, "search": f"{kind}={v}", "plan": plan,
                                "ratio": ratio, **qps})
                rows.append([f"{kind}={v}", f"{qps['flat']:,.0f}", f"{qps['mih']:,.0f}",
                             f"{qps['auto']:,.0f}", plan, f"{qps['mih'] / qps['flat']:.2f}",
                             f"{ratio:.2f}"])
        if not args.json:
            print(f"\n{name}: {args.n:,} x {nbits} bits, {args.nq} queries, queries/s")
            print_table(["search", "flat", "mih", "auto", "auto plans", "mih / flat",
                         "auto / best"], rows)
    if args.json:
        print(json.dumps({"backend": hamsearch.backend(), "records": records}))
        return 0
    gm = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    print(f"\ngeometric mean of auto / best over {len(ratios)} points: {gm:.3f}")
    return 0


def _side_by_side(args) -> int:
    print(machine_line())
    runs = []
    for backend in args.backend.split(","):
        env = dict(os.environ)
        if backend == "c":
            env.pop("HAMSEARCH_BACKEND", None)
        else:
            env["HAMSEARCH_BACKEND"] = backend
        proc = subprocess.run([sys.executable, "-m", "bench.auto_rule", "--json", "--data",
                               args.data, "--n", str(args.n), "--nq", str(args.nq),
                               "--threads", str(args.threads)], env=env, capture_output=True,
                              text=True)
        if proc.returncode:
            print(f"{backend}: failed\n{proc.stderr[-2000:]}")
            return 1
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    headers = ["data", "search"]
    for run in runs:
        b = run["backend"]
        headers += [f"{b} flat", f"{b} mih", f"{b} auto", f"{b} plans", f"{b} auto/best"]
    rows = []
    for i, rec in enumerate(runs[0]["records"]):
        row = [rec["data"], rec["search"]]
        for run in runs:
            r = run["records"][i]
            row += [f"{r['flat']:,.0f}", f"{r['mih']:,.0f}", f"{r['auto']:,.0f}", r["plan"],
                    f"{r['ratio']:.2f}"]
        rows.append(row)
    print(f"\nqueries/s, {args.n:,} codes, {args.nq} queries")
    print_table(headers, rows)
    for run in runs:
        ratios = [r["ratio"] for r in run["records"]]
        gm = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        print(f"{run['backend']}: geometric mean auto / best {gm:.3f}, worst {min(ratios):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
