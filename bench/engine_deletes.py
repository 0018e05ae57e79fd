"""Deletes on a large MIH index: tombstones vs the copying remove of an older build.

``python -m bench.engine_deletes [--n 10000000] [--ids sequential|shuffled] [--base DIR]``

On n clustered 64-bit codes (1000 centres, flip 0.05) in a ``method="mih"``
index:

* single-id ``remove`` latency (median of ``--removes`` removals of random
  ids) and the latency of the one-query k=10 search right after each;
* k=10 throughput (1000 queries) with 10% of the codes deleted (tombstones)
  against the same index compacted (``compact()``: rows dropped, tables
  rebuilt);
* ``add`` of 1,000 codes, then the next search (the codes go to the
  growing segment, with tables of its own: the large segment's tables are
  untouched).

``--base DIR`` times the single-id remove of another checkout (e.g. the
commit before tombstones, whose remove copies every array and rebuilds the
tables) on the same data, for the ratio.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ._common import machine_line, median_latency, print_table, set_threads


def _ms(t):
    return f"{t * 1e3:.3f}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=10_000_000)
    p.add_argument("--nq", type=int, default=1000)
    p.add_argument("--ids", choices=["sequential", "shuffled"], default="sequential")
    p.add_argument("--removes", type=int, default=200)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--base", default=None, help="another checkout to compare remove() with")
    p.add_argument("--base-removes", type=int, default=3)
    args = p.parse_args(argv)

    import hamsearch
    from hamsearch.synthetic import clustered_codes

    set_threads(args.threads)
    print(machine_line())
    db, centres = clustered_codes(args.n, 64, ncenters=1000, flip=0.05, seed=1)
    q, _ = clustered_codes(args.nq, 64, centres=centres, flip=0.05, seed=2)
    rng = np.random.default_rng(0)
    ids = (np.arange(args.n) if args.ids == "sequential" else rng.permutation(args.n)).astype(np.int64)
    t0 = time.perf_counter()
    index = hamsearch.Index(64, method="mih")
    index.add(db, ids=None if args.ids == "sequential" else ids)
    t_build = time.perf_counter() - t0
    print(f"{args.n:,} clustered 64-bit codes, {args.ids} ids, MIH m={index.m}, "
          f"built in {t_build:.1f} s, {index.nbytes / args.n:.1f} B/code\n")
    one = q[:1]
    index.search(one, 10)
    t_search0 = median_latency(lambda x: index.search(x, 10), one, runs=50)
    if args.ids == "shuffled":
        t0 = time.perf_counter()
        index.remove([int(ids[0])])  # the first remove builds the id lookup
        print(f"first remove (builds the id lookup): {time.perf_counter() - t0:.2f} s")

    victims = rng.choice(ids[1:], args.removes, replace=False)
    t_rm, t_next = [], []
    for v in victims:
        t0 = time.perf_counter()
        assert index.remove([int(v)]) == 1
        t1 = time.perf_counter()
        index.search(one, 10)
        t2 = time.perf_counter()
        t_rm.append(t1 - t0)
        t_next.append(t2 - t1)
    rows = [["single-id remove", _ms(np.median(t_rm)), _ms(np.percentile(t_rm, 99))],
            ["search (1 query, k=10) after it", _ms(np.median(t_next)),
             _ms(np.percentile(t_next, 99))],
            ["search (1 query, k=10) before any remove", _ms(t_search0), "-"]]

    # 10% deleted (tombstones) vs the same live codes compacted
    extra = rng.choice(np.setdiff1d(ids, victims), int(0.1 * args.n) - len(victims) - 1,
                       replace=False)
    index.remove(extra)
    st = index.stats()
    # the same live codes compacted: a second index, timed call by call in
    # alternation with the first (machine noise hits both alike)
    compacted = hamsearch.Index(64, method="mih")
    compacted.add(index.codes, ids=index.ids)
    D_tomb, I_tomb = index.search(q, 10)
    D_comp, I_comp = compacted.search(q, 10)
    assert np.array_equal(D_tomb, D_comp) and np.array_equal(I_tomb, I_comp)
    from .ab_versions import _median_times

    t_tomb, t_comp = _median_times([lambda: index.search(q, 10),
                                    lambda: compacted.search(q, 10)], 12)
    del compacted
    t0 = time.perf_counter()
    index.compact()
    t_compact = time.perf_counter() - t0

    # add 1,000 codes, then search (twice: the first add after compact() also
    # grows the exactly-sized arrays, geometrically)
    for rep in range(2):
        new, _ = clustered_codes(1000, 64, centres=centres, flip=0.05, seed=3 + rep)
        start = args.n + 1000 * rep
        t0 = time.perf_counter()
        index.add(new, ids=None if args.ids == "sequential" else np.arange(start, start + 1000))
        t_add = time.perf_counter() - t0
        t0 = time.perf_counter()
        index.search(one, 10)
        t_after_add = time.perf_counter() - t0
        what = "first" if rep == 0 else "second"
        rows += [[f"{what} add of 1,000 codes (growing segment, its own tables)", _ms(t_add), "-"],
                 ["  the search right after it", _ms(t_after_add), "-"]]
    print_table(["operation", "median ms", "p99 ms"], rows)
    print(f"\nk=10, {args.nq} queries, {st['deleted_fraction']:.1%} deleted: "
          f"{args.nq / t_tomb:,.0f} q/s with tombstones, {args.nq / t_comp:,.0f} q/s compacted "
          f"(ratio {t_tomb / t_comp:.2f}x; identical results); compact() took {t_compact:.2f} s")

    if args.base:
        from .ab_versions import import_base

        base = import_base(args.base)
        old = base.Index(64, method="mih")
        old.add(db, ids=None if args.ids == "sequential" else ids)
        old.search(one, 10)
        t_old = []
        for v in victims[: args.base_removes]:
            t0 = time.perf_counter()
            old.remove([int(v)])
            t_old.append(time.perf_counter() - t0)
        print(f"\n{args.base}: single-id remove median {np.median(t_old) * 1e3:,.1f} ms over "
              f"{len(t_old)} removes -> tombstones {np.median(t_old) / np.median(t_rm):,.0f}x "
              f"faster")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
