"""Wide codes (384-4096 bits): hamsearch's flat scan and MIH against their
peers, side by side in one process.

``python -m bench.wide_codes`` runs, for each code width and data set, a
batch of queries (k nearest, best of ``--repeats``) on

* hamsearch flat and hamsearch MIH (``method="mih"``, its ``auto`` m),
* ``faiss.IndexBinaryFlat`` and usearch's exact Hamming search,
* pynear's ``MIHBinaryIndex`` (approximate; ``m`` = one sub-string per 4
  bytes, at the smallest radius in ``--pynear-radii`` whose tie-aware
  recall@k reaches 0.99, and at the smallest that reaches 1.0, each with its
  recall) and, with ``--vptree``, pynear's exact ``VPTreeBinaryIndexN``,

and prints milliseconds per batch, the ratios against FAISS, and the flat
scan's 64-bit words per cycle per core.  The exact engines' distances are
checked against hamsearch's.

Data (``--data``, comma-separated):

``uniform``
    uniformly random codes;
``clustered``
    near-duplicates: ``--centres`` random centres, each bit flipped with
    probability ``--flip`` (0.02), queries drawn the same way;
``embeddings``
    binary-quantised real embeddings: Fashion-MNIST pixels (Debian package
    ``dataset-fashion-mnist``), centred, projected by a seeded Gaussian
    matrix to the code width and signed (the way text and image embeddings
    are binarised); the last ``--nq`` images are the queries, at most
    ``70,000 - nq`` the database.  Skipped with a note when the data set is
    not installed.

Takes about 2 minutes on 2 cores with the defaults (200k codes).
"""

from __future__ import annotations

import sys

import numpy as np

from bench._common import (
    bench_env,
    bench_parser,
    best_time,
    cpu_mhz,
    machine_line,
    omp_line,
    print_table,
    set_threads,
)
from bench._suites import CodeSet, build, tie_aware_recall

DEFAULT_NBITS = "384,512,768,1024,1536,2048,3072,4096"


def embedding_codes(nbits: int, n: int, nq: int, seed: int = 0) -> CodeSet | None:
    """Sign of a seeded random projection of Fashion-MNIST pixels to ``nbits``
    bits, packed; None when the data set is not installed."""
    from hamsearch import datasets

    try:
        images, _ = datasets.load("fashion-mnist")
    except (FileNotFoundError, ImportError) as exc:
        print(f"embeddings: skipped ({str(exc).splitlines()[0]})")
        return None
    x = images.reshape(len(images), -1).astype(np.float32)
    x -= x.mean(axis=0)
    proj = np.random.default_rng(seed).standard_normal((x.shape[1], nbits), dtype=np.float32)
    codes = np.packbits(x @ proj > 0, axis=1, bitorder="little")
    n = min(n, len(codes) - nq)
    return CodeSet(f"embeddings {n:,} x {nbits}", codes[:n].copy(), codes[-nq:].copy(), nbits)


def clustered(nbits: int, n: int, nq: int, centres: int, flip: float) -> CodeSet:
    from hamsearch.synthetic import clustered_codes

    db, c = clustered_codes(n, nbits, ncenters=centres, flip=flip, seed=1)
    q, _ = clustered_codes(nq, nbits, centres=c, flip=flip, seed=2)
    return CodeSet(f"clustered {n:,} x {nbits}", db, q, nbits)


def uniform(nbits: int, n: int, nq: int) -> CodeSet:
    from hamsearch.synthetic import uniform_codes

    return CodeSet(f"uniform {n:,} x {nbits}", uniform_codes(n, nbits, seed=1),
                   uniform_codes(nq, nbits, seed=2), nbits)


def pynear_mih(data: CodeSet, k: int, radii, repeats: int):
    """pynear's MIH at the smallest radius reaching recall 0.99 and 1.0:
    ``[(label, ms, radius, recall), ...]`` (empty without pynear)."""
    try:
        import pynear
    except ImportError:
        return []
    nbytes = data.db.shape[1]
    m = max(1, nbytes // 4)
    while nbytes % m:
        m -= 1
    index = pynear.MIHBinaryIndex(m)
    index.set(data.db)
    exact_D, _ = data.exact_knn(k)
    out, want, last = [], [0.99, 1.0], None
    for r in radii:
        if not want:
            break

        def run(r=r):
            return index.searchKNN_arrays(data.q, k, r)

        I, _ = run()
        rec = tie_aware_recall(exact_D, np.asarray(I, np.int64), data.db, data.q, k)
        last = (r, rec, run)
        while want and rec >= want[0]:
            out.append((f"pynear MIH m={m} (recall>={want[0]:g})", best_time(run, repeats) * 1e3, r, rec))
            want.pop(0)
    if not out and last is not None:  # never reached 0.99: its largest radius
        r, rec, run = last
        out.append((f"pynear MIH m={m} (largest radius)", best_time(run, repeats) * 1e3, r, rec))
    return out


def pynear_vptree(data: CodeSet, k: int, repeats: int):
    try:
        import pynear
    except ImportError:
        return None
    index = pynear.VPTreeBinaryIndexN()
    index.set(data.db)
    return best_time(lambda: index.searchKNN_arrays(data.q, k), repeats) * 1e3


def run_one(data: CodeSet, k: int, threads: int, repeats: int, args, mhz) -> list:
    rows = []
    ref_D, _ = data.exact_knn(k)
    times = {}
    import hamsearch

    auto = hamsearch.Index(data.nbits)  # method="auto": what a user gets
    auto.add(data.db)
    auto.search(data.q[:1], k)  # tables (if any) built now
    D, _ = auto.search(data.q, k)
    ms = best_time(lambda: auto.search(data.q, k), repeats) * 1e3
    picked = "MIH" if auto.stats()["mih_tables"] else "flat"
    rows.append(["hamsearch auto", f"used {picked}", ms, None,
                 "yes" if np.array_equal(D, ref_D) else "NO"])
    for key in ("hamsearch-flat", "hamsearch-mih", "faiss-flat", "usearch-exact"):
        if key == "usearch-exact" and len(data.db) * len(data.q) > args.usearch_max:
            print(f"{data.name}: usearch exact skipped (n x nq > --usearch-max {args.usearch_max:,})")
            continue
        try:
            engine = build(key, data, threads)
        except Exception as exc:  # a missing peer: say so, go on
            print(f"{data.name}: {key} skipped ({exc})")
            continue
        D, _ = engine.knn(data.q, k)
        same = np.array_equal(np.asarray(D, np.int32), ref_D)
        times[key] = best_time(lambda: engine.knn(data.q, k), repeats) * 1e3
        note = f"m={engine.info['m']}" if "m" in engine.info else ""
        rows.append([engine.name, note, times[key], None, "yes" if same else "NO"])
    if args.pynear:
        for label, ms, r, rec in pynear_mih(data, k, args.pynear_radii, repeats):
            rows.append([label, f"radius {r}", ms, rec, "approx."])
    if args.vptree:
        ms = pynear_vptree(data, k, repeats)
        if ms is not None:
            rows.append(["pynear VPTreeBinaryIndexN", "", ms, None, "-"])
    faiss_ms = times.get("faiss-flat")
    words = (data.nbits + 63) // 64
    out = []
    for name, note, ms, rec, same in rows:
        ratio = f"{faiss_ms / ms:.2f}x" if faiss_ms else "-"
        wpc = "-"
        if name == "hamsearch flat" and mhz:
            wpc = f"{len(data.q) * len(data.db) * words / (ms / 1e3) / threads / (mhz * 1e6):.2f}"
        out.append([data.name, name, note, f"{ms:,.2f}", ratio,
                    "-" if rec is None else f"{rec:.3f}", wpc, same])
    return out


def main(argv=None) -> int:
    p = bench_parser(__doc__, n=200_000, nq=200, k=10, threads=2, repeats=3)
    p.add_argument("--nbits", default=DEFAULT_NBITS)
    p.add_argument("--data", default="uniform,clustered,embeddings")
    p.add_argument("--flip", type=float, default=0.02)
    p.add_argument("--centres", type=int, default=1000)
    p.add_argument("--no-pynear", dest="pynear", action="store_false",
                   help="leave out pynear's MIH")
    p.add_argument("--pynear-radii", default="2,4,8,12,16,24,32,48,64",
                   type=lambda s: [int(x) for x in s.split(",")])
    p.add_argument("--vptree", action="store_true", help="add pynear's VP-tree (slow to build)")
    p.add_argument("--usearch-max", type=float, default=1e8,
                   help="skip usearch's exact search above this n x nq (it takes ~40 s "
                        "at 1M x 1000 x 512 bits)")
    args = p.parse_args(argv)

    bench_env(omp_passive=True, faiss_required=True)
    print(machine_line())
    print(omp_line())
    print(f"k={args.k}, {args.nq} queries, {args.threads} threads, best of {args.repeats}\n")
    set_threads(args.threads)
    mhz = cpu_mhz()
    rows = []
    for kind in args.data.split(","):
        for nbits in [int(b) for b in args.nbits.split(",")]:
            if kind == "uniform":
                data = uniform(nbits, args.n, args.nq)
            elif kind == "clustered":
                data = clustered(nbits, args.n, args.nq, args.centres, args.flip)
            elif kind == "embeddings":
                data = embedding_codes(nbits, args.n, args.nq)
                if data is None:
                    break
            else:
                p.error(f"unknown --data {kind!r}")
            got = run_one(data, args.k, args.threads, args.repeats, args, mhz)
            print_table(["data", "engine", "setting", "ms", "vs faiss", "recall", "words/cycle",
                         "same D"], got)
            print(flush=True)
            rows += got
    print(f"vs faiss = faiss IndexBinaryFlat time / engine time; recall = tie-aware recall@{args.k}; "
          f"words/cycle = 64-bit words per CPU cycle per core"
          + (f" (clock {mhz:.0f} MHz)" if mhz else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
