"""Deep hashing results table: ``python -m bench.deep_table``.

Protocol (as in the seed papers): 1000 queries (100 per class, seeded)
against the rest of the dataset as the database; the networks train on the
database part.  For every (dataset, bits) it trains the latent-layer net
(Lin et al.), the compact sigmoid net (Zhong et al.) and DeepHash
(exponentiated code-product loss), then fits LDH (Laplacian eigenmaps) and
ITQ on the F7 features of the *same* trained latent-layer CNN (the fair
comparison).  It reports mAP (whole-database Hamming ranking) and P@1000,
both with ties in database order -- the database put in a seeded random
order once (:func:`hamsearch.evaluation.shuffle_database`), as in
``hamsearch eval`` -- and tie-aware (the expectation over the orders of tied
items, which no database order changes), P@1 and P@10 likewise, the
training time, and -- for the latent
net -- P@100 of Hamming ranking against hierarchical search (Hamming pool
of 200, re-ranked by L2 or cosine on F7) and the accuracy of its class
layer on the queries and on the database.

``--finetune-epochs N`` fine-tunes the latent net N more epochs on the plain
images after its (augmented) schedule, with ``fit(..., warm_start=True)``
and a fresh cosine schedule (``--finetune-lr``, ``--finetune-weight-decay``).
The model before fine-tuning is cached too (``*_base.pt`` with the settings
that made it), so ``--resume`` runs that differ only in the fine-tuning
reuse it.

Results go to a JSON file after every model (``--results``, reused with
``--resume`` so an interrupted run continues) and to a markdown table
(``--out``); both default to ``bench-results/`` (git-ignored).
``--update-docs`` also merges this run's rows into the committed
``docs/results_deep.json`` (rows it did not produce are kept) and rewrites
``docs/results_deep.md`` from the merged rows, keeping any hand-written
section of it.

``--model-options key=value,...`` passes constructor options to the trained
nets (e.g. ``strategy=random-init`` for DeepHash's Table 3 schemes) and
``--tag NAME`` keeps such a variant as its own row (``exploss[NAME]``).

This module is the command; the training is in :mod:`bench.deep_table_training`,
the scores in :mod:`bench.deep_table_scores`, the document in
:mod:`bench.deep_table_markdown` and the results files in
:mod:`bench.deep_table_results` (all re-exported here).

Examples::

    python -m bench.deep_table                                    # everything
    python -m bench.deep_table --datasets mnist-5k --bits 48 --epochs 15
    python -m bench.deep_table --datasets fashion-mnist --bits 48 \\
        --methods latent,ldh,itq-cnn --epochs 30 --augment shift+flip \\
        --plain-final-epochs 10 --feature-dim 1024 --finetune-epochs 15 --resume
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from ._common import results_paths
from .deep_table_markdown import BENCH_JSON, markdown_text, write_markdown
from .deep_table_results import (
    DOCS_JSON,
    DOCS_MD,
    merge_results,
    same_file,
    update_docs_rows,
)
from .deep_table_scores import (
    KS,
    class_accuracy,
    evaluate,
    hierarchical,
    retrieval_scores,
    split_database,
)
from .deep_table_training import (
    ALL_METHODS,
    DEFAULT_EPOCHS,
    on_small_backbone,
    parse_options,
    refresh_hierarchical,
    row_key,
    run_config,
    trained_here,
)

# what tests/ and the docs reach through this module
__all__ = ["ALL_METHODS", "BENCH_JSON", "DEFAULT_EPOCHS", "DOCS_JSON", "DOCS_MD", "KS",
           "class_accuracy", "evaluate", "hierarchical", "main", "markdown_text",
           "merge_results", "on_small_backbone", "parse_options", "refresh_hierarchical",
           "retrieval_scores", "row_key", "run_config", "split_database", "trained_here",
           "update_docs_rows", "write_markdown"]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.deep_table", description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", default="mnist-5k,fashion-mnist")
    p.add_argument("--bits", default="16,24,48",
                   help="code lengths (multiples of 8: the papers' 12 bits is not a valid hamsearch code)")
    p.add_argument("--methods", default=",".join(ALL_METHODS))
    p.add_argument("--epochs", type=int, default=None,
                   help=f"epochs per trained model (default per dataset: {DEFAULT_EPOCHS})")
    p.add_argument("--compact-epochs", type=int, default=None,
                   help="epochs for the (slower, 5x5-conv) compact net; default --epochs")
    p.add_argument("--max-train", type=int, default=None, help="subsample the training set")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--feature-dim", type=int, default=None,
                   help="F7 width of the latent and DeepHash nets (default: the small backbone's 256)")
    p.add_argument("--weight-decay", type=float, default=1e-4,
                   help="L2 weight decay of the trained nets (fit's weight_decay=)")
    p.add_argument("--augment", default=None, choices=("shift", "flip", "shift+flip"),
                   help="training augmentation of the trained nets (fit's augment=)")
    p.add_argument("--plain-final-epochs", type=int, default=0,
                   help="with --augment: the last N epochs train on plain images")
    p.add_argument("--finetune-epochs", type=int, default=0,
                   help="then fine-tune the latent net this many epochs on the plain images "
                        "(fit's warm_start=True, a fresh cosine schedule)")
    p.add_argument("--finetune-lr", type=float, default=5e-4)
    p.add_argument("--finetune-weight-decay", type=float, default=0.0)
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (1 default: faster than 2 on a shared machine)")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--results", default=results_paths("results_deep.json")[0],
                   help="JSON rows (default %(default)s)")
    p.add_argument("--out", default=results_paths("results_deep.md")[0],
                   help="markdown table (default %(default)s)")
    p.add_argument("--update-docs", action="store_true",
                   help="also merge the rows into docs/results_deep.json and rewrite "
                        "docs/results_deep.md from them (other rows and prose kept)")
    p.add_argument("--resume", action="store_true", help="skip configurations already in --results")
    p.add_argument("--overwrite", action="store_true",
                   help="with --resume: keep the other rows of --results but recompute these")
    p.add_argument("--cache-dir", default=os.path.join("bench", ".cache"),
                   help="trained latent CNNs are kept here for --resume")
    p.add_argument("--model-options", default="",
                   help="constructor options of the trained nets, key=value,... "
                        "(numbers and true/false are parsed; e.g. strategy=random-init)")
    p.add_argument("--tag", default="",
                   help="suffix of the rows' keys and names: a variant kept beside the "
                        "default rows (e.g. --tag random-init)")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--refresh-hierarchical", action="store_true",
                   help="only recompute the hierarchical-search and class-accuracy columns "
                      "from cached latent models")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.deep_table``: see the module's docstring."""
    args = _parse(argv)
    import torch

    torch.set_num_threads(max(1, min(2, args.threads)))
    from hamsearch.datasets import load

    if args.refresh_hierarchical:
        args.resume = True  # it rewrites columns of rows already in --results
    results = {}
    if args.resume and os.path.exists(args.results):
        with open(args.results) as fh:
            results = json.load(fh)
    for path in (args.results, args.out):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    args_line = "python -m bench.deep_table " + " ".join(argv if argv is not None else sys.argv[1:])
    args.command_line = args_line

    fresh = set()

    def save(key=None):
        if key is not None:
            fresh.add(key)
        rows = {k: results[k] for k in fresh}
        # the committed results are only ever merged into, never replaced
        replace_all = not args.resume and not same_file(args.results, DOCS_JSON)
        merged = merge_results(args.results, rows, replace_all=replace_all,
                               then=lambda rows: write_markdown(rows, args.out, args_line))
        results.update(merged)
        if args.update_docs:
            update_docs_rows(rows, args_line)

    if args.refresh_hierarchical:
        fresh.update(refresh_hierarchical(results, args))
        save()
        return 0
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in methods:
        if m not in ALL_METHODS:
            raise SystemExit(f"unknown method {m!r}; choose from {ALL_METHODS}")
    for ds in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        images, labels = load(ds)
        q, db, train_idx = split_database(labels, args.seed)
        if args.max_train and args.max_train < len(train_idx):
            rng = np.random.default_rng(args.seed)
            train_idx = np.sort(rng.choice(train_idx, args.max_train, replace=False))
        for bits in [int(b) for b in args.bits.split(",")]:
            run_config(ds, bits, methods, args, images, labels, q, db, train_idx, results, save)
    save()
    print(f"wrote {args.out} and {args.results}"
          + (f"; merged the rows into {DOCS_JSON} and {DOCS_MD}" if args.update_docs else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
