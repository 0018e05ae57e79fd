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

import argparse
import os

import numpy as np

from ._common import bench_env, best_time, machine_line, omp_line, print_table, timed

KS = (1, 10, 100)
RADII = (2, 4, 8, 16)


def _rss() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def make_data(kind: str, n: int, nq: int, nbits: int, seed: int = 1, centres: int = 1000):
    """Database and queries (packed uint8) for ``uniform``, ``clustered-<p>``
    (``centres`` centres, each bit flipped with probability p) or
    ``fashion-itq`` (real learned codes, see :mod:`bench.learned_codes`)."""
    from hamsearch.synthetic import clustered_codes, uniform_codes

    if kind == "fashion-itq":
        from .learned_codes import fashion_itq_codes

        return fashion_itq_codes(n, nq, nbits, seed=seed)
    if kind == "uniform":
        return uniform_codes(n, nbits, seed=seed), uniform_codes(nq, nbits, seed=seed + 1)
    p = float(kind.split("-")[1])
    db, centres = clustered_codes(n, nbits, ncenters=centres, flip=p, seed=seed)
    q, _ = clustered_codes(nq, nbits, centres=centres, flip=p, seed=seed + 1)
    return db, q


def tie_aware_recall(true_d, dbw, qw, I, k):
    """Mean over queries of |returned items within the true k-th distance| / k."""
    import hamsearch

    kth = true_d[:, k - 1]
    hits = 0
    for i in range(len(qw)):
        ids = I[i, :k]
        ids = ids[ids >= 0]
        if len(ids):
            d = hamsearch.hamming_distances(qw[i : i + 1], dbw[ids], qw.shape[1] * 64)[0]
            hits += int((d <= kth[i]).sum())
    return hits / (k * len(qw))


class Timer:
    def __init__(self, repeats):
        self.repeats = repeats

    def qps(self, fn, nq):
        # the warm-up call also compiles Numba kernels
        return nq / best_time(fn, self.repeats, warmup=True)


def _built(index, db):
    """``index`` after ``index.add(db)`` (what a build timing measures)."""
    index.add(db)
    return index


def run_case(args, faiss, kind, nbits, n, timer):
    import hamsearch

    db, q = make_data(kind, n, args.nq, nbits, centres=args.centres)
    nq = len(q)
    rows = {}

    def row(name):
        return rows.setdefault(name, {"build": float("nan"), "bpc": float("nan")})

    # --- hamsearch MIH
    r0 = _rss()
    mih, build = timed(lambda: _built(hamsearch.Index(nbits, method="mih"), db))
    R = row("hamsearch MIH")
    R["build"], R["bpc"] = build, mih.nbytes / n  # codes, ids and tables
    R["note"] = f"m={mih.m}"
    flat = hamsearch.Index(nbits, method="flat")
    flat.add(db)
    row("hamsearch flat")["bpc"] = flat.nbytes / n
    row("hamsearch flat")["build"] = 0.0
    dbw, qw = flat.codes, hamsearch.codes.as_words(q, nbits, "q")
    exact = {k: flat.search(q, k) for k in KS}
    stats = {}
    for k in KS:
        rows["hamsearch MIH"][f"k{k}"] = timer.qps(lambda: mih.search(q, k), nq)
        st = mih.planner.last_mih_stats
        stats[k] = (st[:, 0].mean(), st[:, 1].mean(), st[:, 2].mean())
        D, I = mih.search(q, k)
        assert (D == exact[k][0]).all() and (I == exact[k][1]).all(), "MIH differs from flat"
        rows["hamsearch flat"][f"k{k}"] = timer.qps(lambda: flat.search(q, k), nq)
    for r in args.radius:
        rows["hamsearch MIH"][f"r{r}"] = timer.qps(lambda: mih.range_search(q, r), nq)
        rows["hamsearch flat"][f"r{r}"] = timer.qps(lambda: flat.range_search(q, r), nq)
    del r0

    # --- FAISS
    if "faiss-flat" in args.peers:
        R = row("faiss BinaryFlat")
        fi, R["build"] = timed(lambda: _built(faiss.IndexBinaryFlat(nbits), db))
        R["bpc"] = nbits / 8
        for k in KS:
            R[f"k{k}"] = timer.qps(lambda: fi.search(q, k), nq)
        for r in args.radius:
            R[f"r{r}"] = timer.qps(lambda: fi.range_search(q, r + 1), nq)
        del fi

    def approx(name, index, set_nflip, build, mem):
        R = row(name)
        R["build"], R["bpc"] = build, mem
        chosen = None
        for nflip in args.nflips:
            set_nflip(nflip)
            _, I = index.search(q, 10)
            rec = tie_aware_recall(exact[10][0], dbw, qw, I, 10)
            chosen = (nflip, rec)
            if rec >= 0.99:
                break
        set_nflip(chosen[0])
        R["recall10"] = chosen[1]
        R["note"] = f"nflip={chosen[0]}"
        for k in KS:
            R[f"k{k}"] = timer.qps(lambda: index.search(q, k), nq)
        for r in args.radius:
            R[f"r{r}"] = timer.qps(lambda: index.range_search(q, r + 1), nq)

    if "faiss-mhash" in args.peers:
        r0 = _rss()
        nhash = max(1, nbits // 16)
        mh, build = timed(lambda: _built(faiss.IndexBinaryMultiHash(nbits, nhash, 16), db))
        approx(f"faiss MultiHash({nhash}x16)", mh, lambda f: setattr(mh, "nflip", f), build,
               max(0, _rss() - r0) / n)
        del mh
    if "faiss-hash" in args.peers:
        r0 = _rss()
        bh, build = timed(lambda: _built(faiss.IndexBinaryHash(nbits, args.hash_bits), db))
        approx(f"faiss BinaryHash(b={args.hash_bits})", bh, lambda f: setattr(bh, "nflip", f),
               build, max(0, _rss() - r0) / n)
        del bh
    if "faiss-ivf" in args.peers:
        R = row("faiss IVF1024 np16")

        def build_ivf():
            quant = faiss.IndexBinaryFlat(nbits)
            ivf = faiss.IndexBinaryIVF(quant, nbits, 1024)
            rng = np.random.default_rng(0)
            ivf.train(db[rng.choice(n, size=min(n, 50_000), replace=False)])
            ivf.add(db)
            ivf.nprobe = 16
            return quant, ivf

        (quant, ivf), R["build"] = timed(build_ivf)
        R["bpc"] = nbits / 8 + 8
        _, I = ivf.search(q, 10)
        R["recall10"] = tie_aware_recall(exact[10][0], dbw, qw, I, 10)
        R["note"] = "approximate"
        for k in KS:
            R[f"k{k}"] = timer.qps(lambda: ivf.search(q, k), nq)
        for r in args.radius:
            R[f"r{r}"] = timer.qps(lambda: ivf.range_search(q, r + 1), nq)
        del ivf, quant
    plans = auto_plans(mih, args.radius)
    rows["hamsearch MIH"]["plans"] = plans
    rows["hamsearch MIH"]["auto"] = " ".join(f"{key[0]}={key[1:]}:{v}"
                                             for key, v in plans.items())
    return rows, stats, mih


def auto_plans(index, radii) -> dict:
    """What ``method="auto"`` would run for each k and radius on these codes:
    ``{"k10": "flat", "r4": "mih", ...}``."""
    import hamsearch

    auto = hamsearch.Index(index.nbits, method="auto")
    auto.add(index.codes, ids=index.ids)
    out = {f"k{k}": auto.plan(k=k) for k in KS}
    out.update({f"r{r}": auto.plan(radius=r) for r in radii})
    return out


def _records(kind, nbits, rows, plans) -> list[dict]:
    """One record per query type: MIH and flat queries/s and auto's pick."""
    out = []
    for key, pick in plans.items():
        out.append({"data": kind, "nbits": nbits, "query": key, "auto": pick,
                    "mih": rows["hamsearch MIH"][key], "flat": rows["hamsearch flat"][key]})
    return out


def by_backend(args, argv) -> int:
    """Run the comparison once per backend (own process) and print the
    hamsearch figures side by side with auto's regret."""
    import json
    import subprocess
    import sys
    import tempfile

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
            proc = subprocess.run(cmd, env=env)
            if proc.returncode != 0:
                print(f"backend {backend}: failed (exit {proc.returncode})")
                return proc.returncode
            with open(out.name) as fh:
                runs[backend] = json.load(fh)
    table = []
    worst = {b: 1.0 for b in backends}
    first = runs[backends[0]]["records"]
    for i, rec in enumerate(first):
        line = [rec["data"], rec["nbits"], rec["query"]]
        for b in backends:
            r = runs[b]["records"][i]
            best = max(r["mih"], r["flat"])
            regret = best / r[r["auto"]]
            worst[b] = max(worst[b], regret)
            line += [r["mih"], r["flat"], r["auto"], regret]
        table.append(line)
    cols = ["data", "nbits", "query"]
    for b in backends:
        name = runs[b]["backend"]
        cols += [f"{name} MIH q/s", f"{name} flat q/s", f"{name} auto", f"{name} regret"]
    print()
    print_table(cols, table)
    for b in backends:
        print(f"{runs[b]['backend']}: worst auto regret {worst[b]:.2f}x "
              "(best method's queries/s over auto's pick)")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--nq", type=int, default=1000)
    p.add_argument("--nbits", default="64,128,256")
    p.add_argument("--data", default="uniform,clustered-0.05,clustered-0.15",
                   help="comma list of uniform / clustered-<p> / fashion-itq")
    p.add_argument("--radius", default="2,4,8,16")
    p.add_argument("--centres", type=int, default=1000,
                   help="centres of the clustered-<p> codes")
    p.add_argument("--peers", default="faiss-flat,faiss-mhash,faiss-hash,faiss-ivf")
    p.add_argument("--nflips", default="0,1,2", help="nflip values tried for FAISS hashes")
    p.add_argument("--hash-bits", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--scaling", action="store_true", help="time vs n mode (writes a PNG)")
    p.add_argument("--scaling-n", default="100000,1000000,10000000")
    p.add_argument("--plot", default="mih_scaling.png")
    p.add_argument("--backend", default=None,
                   help="comma list of kernel backends (c,numba): each runs in its own "
                        "process, then the hamsearch figures are printed side by side")
    p.add_argument("--json", default=None, help="also write the hamsearch figures here")
    p.add_argument("--omp-active", dest="omp_passive", action="store_false",
                   help="leave OpenMP spin-waiting on (faster for FAISS on an idle machine)")
    import sys

    raw_argv = list(sys.argv[1:] if argv is None else argv)
    args = p.parse_args(argv)
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
    cols = ["build s", "B/code"] + [f"k={k} q/s" for k in KS] + ["recall@10"] + \
        [f"r={r} q/s" for r in args.radius] + ["note"]
    summary = []
    records = []
    for kind in args.data.split(","):
        for nbits in [int(b) for b in args.nbits.split(",")]:
            rows, stats, mih = run_case(args, faiss, kind, nbits, args.n, timer)
            print(f"== {kind}, {args.n:,} x {nbits} bits  ({mih.segments()})")
            table = []
            for name, R in rows.items():
                table.append([name, R["build"], R["bpc"]] + [R.get(f"k{k}", float("nan"))
                                                              for k in KS]
                             + [R.get("recall10", 1.0 if "faiss IVF" not in name else "")]
                             + [R.get(f"r{r}", float("nan")) for r in args.radius]
                             + [R.get("note", "exact")])
            print_table(["engine"] + cols, table)
            print(f"   method='auto' would run: {rows['hamsearch MIH']['auto']}")
            records += _records(kind, nbits, rows, rows["hamsearch MIH"]["plans"])
            for k, (pr, ver, fb) in stats.items():
                print(f"   MIH k={k}: {pr:.0f} probes, {ver:.0f} codes verified per query, "
                      f"{100 * fb:.1f}% of queries fell back to a scan")
            mq = rows["hamsearch MIH"]["k10"]
            line = [kind, nbits]
            for name in rows:
                if name != "hamsearch MIH":
                    ratio = mq / rows[name]["k10"]
                    print(f"   MIH / {name} at k=10: {ratio:.2f}x")
                    line.append(f"{name.split('(')[0]}={ratio:.1f}x")
            summary.append(line)
            print()
    print("k=10 speed of exact MIH relative to each peer (queries/s ratio, same run):")
    for line in summary:
        print("  ", *line)
    if args.json:
        import json

        with open(args.json, "w") as fh:
            json.dump({"backend": hamsearch.backend(), "records": records}, fh)
    return 0


def scaling(args, faiss, timer) -> int:
    import hamsearch

    ns = [int(x) for x in args.scaling_n.split(",")]
    rows = []
    kinds = args.data.split(",")
    nbits = int(args.nbits.split(",")[0])
    series = {}
    for kind in kinds:
        for n in ns:
            db, q = make_data(kind, n, args.nq, nbits, centres=args.centres)
            mih, build = timed(lambda: _built(hamsearch.Index(nbits, method="mih"), db))
            flat = hamsearch.Index(nbits, method="flat")
            flat.add(db)
            fi = faiss.IndexBinaryFlat(nbits)
            fi.add(db)
            t_mih = 1 / timer.qps(lambda: mih.search(q, 10), len(q))
            t_flat = 1 / timer.qps(lambda: flat.search(q, 10), len(q))
            t_faiss = 1 / timer.qps(lambda: fi.search(q, 10), len(q))
            bpc = mih.nbytes / n
            rows.append([kind, n, mih.m, build, bpc, t_mih * 1e6, t_flat * 1e6, t_faiss * 1e6,
                         t_faiss / t_mih])
            for name, t in (("MIH", t_mih), ("hamsearch flat", t_flat), ("faiss flat", t_faiss)):
                series.setdefault((kind, name), []).append((n, t * 1e6))
            del mih, flat, fi, db
    print_table(["data", "n", "m", "MIH build s", "MIH B/code", "MIH us/q", "flat us/q",
                 "faiss flat us/q", "faiss flat / MIH"], rows)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for (kind, name), pts in series.items():
        xs, ys = zip(*pts)
        ax.loglog(xs, ys, marker="o", label=f"{name} ({kind})",
                  linestyle="-" if name == "MIH" else "--")
    ax.set_xlabel("codes in the index (n)")
    ax.set_ylabel("time per query, k=10 (us)")
    ax.set_title(f"{nbits}-bit codes, {args.threads} threads")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.plot, dpi=120)
    print(f"\nplot saved to {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
