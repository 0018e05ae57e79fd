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
import math

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
    fn()  # warm: tables, samples, filter caches
    return best_time(fn, repeats)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="fashion128,fashion64,clustered64")
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--nq", type=int, default=1000)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)

    import hamsearch

    set_threads(args.threads)
    print(machine_line())
    ratios = []
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
                rows.append([f"{kind}={v}", f"{qps['flat']:,.0f}", f"{qps['mih']:,.0f}",
                             f"{qps['auto']:,.0f}", plan, f"{qps['mih'] / qps['flat']:.2f}",
                             f"{ratio:.2f}"])
        print(f"\n{name}: {args.n:,} x {nbits} bits, {args.nq} queries, queries/s")
        print_table(["search", "flat", "mih", "auto", "auto plans", "mih / flat",
                     "auto / best"], rows)
    gm = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    print(f"\ngeometric mean of auto / best over {len(ratios)} points: {gm:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
