"""``hamsearch eval``: the retrieval protocol of the hashing papers on one command.

Draws ``--per-class`` queries per class, uses every other item as the
database, trains each method on the database, ranks it by Hamming distance
and prints mAP, precision@1000 and precision within Hamming radius 2 per code
length; saves precision-recall and precision@k plots.  The protocol is
:mod:`hamsearch.evaluation`.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import InvalidArgumentError
from ._args import parse_bits, parse_list

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``eval`` parser to ``sub``."""
    p = sub.add_parser(
        "eval",
        help="evaluate hashing methods on a dataset (mAP, P@1000, P@r<=2, plots)",
        description=(
            "Train hashing methods on a dataset's database split, rank the database "
            "by Hamming distance for every query and print mAP / P@1000 / P@r<=2 per "
            "code length; save precision-recall and precision@k plots."
        ),
    )
    p.add_argument("--dataset", default=None,
                   help="fashion-mnist, mnist-5k, digits, mnist, cifar10 or synthetic "
                        "(required)")
    p.add_argument("--method", default=None,
                   help="method name(s), comma-separated (default: itq); shallow or deep "
                        "(deep ones need torch); see --list-methods; not with --model")
    p.add_argument("--bits", default="16,32,48,64",
                   help="code lengths, comma-separated (default: 16,32,48,64)")
    p.add_argument("--model", default=None, metavar="PATH",
                   help="evaluate a saved deep hashing model instead of --method "
                        "(needs torch); its own code length is used")
    p.add_argument("--data-dir", default=None, help="directory holding the dataset files")
    p.add_argument("--out-dir", default="hamsearch-eval",
                   help="where the PNG plots and the JSON results go (default: ./hamsearch-eval)")
    p.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="use a random subset of N items of the dataset (quick runs)")
    p.add_argument("--per-class", type=int, default=100,
                   help="queries per class (default: 100)")
    p.add_argument("--topk", type=int, default=None,
                   help="mAP over the top k results only (default: the whole ranking)")
    p.add_argument("--epochs", type=int, default=None,
                   help="training epochs of the deep methods (default: their fit's, 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and the methods")
    p.add_argument("--list-methods", action="store_true",
                   help="list the registered methods and exit")
    p.set_defaults(func=run)


def _fit_kwargs(args: argparse.Namespace, method: str) -> dict:
    """``fit`` options of the command line that apply to ``method`` (``--epochs``: deep)."""
    from ..encoders.registry import get_method

    if args.epochs is not None and get_method(method).kind == "deep":
        return {"epochs": args.epochs}
    return {}


def run(args: argparse.Namespace) -> int:
    """Run ``hamsearch eval``; returns the exit status."""
    from .. import evaluation
    from ..encoders.registry import available_methods, get_method

    if args.list_methods:
        for name in available_methods():
            spec = get_method(name)
            print(f"{name:<10} {spec.description}" + (" (torch)" if spec.kind == "deep" else ""))
        return 0
    if args.dataset is None:
        raise InvalidArgumentError("--dataset is required (e.g. --dataset fashion-mnist)")
    if args.per_class < 1:
        raise InvalidArgumentError(f"--per-class must be positive, got {args.per_class}")
    bits = parse_bits(args.bits)
    methods = parse_list(args.method or "itq")
    if args.model is not None and args.method is not None:
        raise InvalidArgumentError("--model evaluates the saved model; drop --method "
                                   f"{args.method} (or drop --model)")
    if args.model is None:
        for m in methods:
            get_method(m)  # fail early on a typo
    elif not os.path.isfile(args.model):
        raise FileNotFoundError(f"--model: no such file {args.model!r}")
    data = evaluation.prepare_data(args.dataset, args.data_dir, args.limit, args.per_class,
                                   args.seed, log=lambda msg: print(msg, file=sys.stderr))
    print(f"dataset {args.dataset}: {data['query'].size} queries "
          f"({data['per_class']} per class), {data['database'].size} database items; "
          f"mAP over {'the whole ranking' if args.topk is None else f'the top {args.topk}'}, "
          "ties broken by database position")
    print(evaluation.HEADER, flush=True)
    if args.model is not None:
        runs = [lambda: evaluation.evaluate_model(data, args.model, topk=args.topk)]
    else:
        runs = [lambda m=m, b=b: evaluation.evaluate_method(
                    data, m, b, seed=args.seed, topk=args.topk, fit_kwargs=_fit_kwargs(args, m))
                for m in methods for b in bits]
    results = []
    for one in runs:
        results.append(one())
        print(evaluation.format_row(results[-1]), flush=True)
    tag = "-".join(sorted({r["method"].replace(":", "_") for r in results}))
    stem = f"{args.dataset}_{tag}"
    evaluation.write_json(os.path.join(args.out_dir, f"{stem}.json"), args.dataset, data,
                          results)
    if not args.no_plots:
        for path in evaluation.plot_curves(results, args.out_dir, stem):
            print(f"wrote {path}")
    return 0
