"""``hamsearch eval``: the retrieval protocol of the hashing papers on one command.

For a dataset (see :mod:`hamsearch.datasets`) it draws ``--per-class``
queries per class (100 by default, 1,000 on 10-class data), uses every other
item as the database, trains each method on the database (or a random subset
of it, as the method's :class:`~hamsearch.encoders.registry.MethodSpec`
says), encodes queries and database, ranks the database by Hamming distance
and prints mAP, precision@1000 and precision within Hamming radius 2 per code
length.  Precision-recall (by Hamming radius) and precision@k curves are
saved as PNG files.

The pieces are importable: :func:`prepare_data`, :func:`evaluate_method` and
:func:`run_eval` (used by ``bench/shallow_table.py``), :func:`plot_curves`.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

__all__ = ["register", "run", "prepare_data", "evaluate_method", "run_eval", "plot_curves",
           "format_table"]

_KS = (1, 10, 50, 100, 200, 500, 1000, 2000, 5000)


def _parse_bits(text):
    try:
        bits = [int(b) for b in str(text).split(",") if b.strip()]
    except ValueError:
        raise ValueError(f"--bits must be a comma-separated list of ints, got {text!r}") from None
    if not bits:
        raise ValueError("--bits is empty")
    for b in bits:
        if b <= 0 or b % 8:
            raise ValueError(f"every code length in --bits must be a positive multiple of 8, "
                             f"got {b}")
    return bits


def register(sub):
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
    p.add_argument("--method", default="itq",
                   help="method name(s), comma-separated (default: itq); "
                        "see --list-methods")
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
    p.add_argument("--seed", type=int, default=0, help="seed of the split and the methods")
    p.add_argument("--list-methods", action="store_true",
                   help="list the registered methods and exit")
    p.set_defaults(func=run)


# ------------------------------------------------------------------ data
def prepare_data(dataset, data_dir=None, limit=None, per_class=100, seed=0, log=None):
    """Load a dataset and split it into queries and database.

    Returns
    -------
    dict with ``images`` (as loaded), ``labels``, ``query`` and ``database``
    (index arrays), ``per_class`` (possibly lowered for small ``limit``) and
    ``name``.
    """
    from .. import datasets

    images, labels = datasets.load(dataset, data_dir=data_dir)
    if limit is not None:
        if limit < 2:
            raise ValueError(f"--limit must be at least 2, got {limit}")
        if limit < len(labels):
            keep = np.sort(np.random.default_rng(seed).choice(len(labels), limit,
                                                              replace=False))
            images, labels = images[keep], labels[keep]
    _, counts = np.unique(labels, return_counts=True)
    eff = min(int(per_class), max(1, int(counts.min()) // 2))
    if eff != per_class and log:
        log(f"note: {per_class} queries per class do not fit; using {eff} per class")
    query, database = datasets.query_split(labels, per_class=eff, random_state=seed)
    return {"name": dataset, "images": images, "labels": labels, "query": query,
            "database": database, "per_class": eff}


def _inputs(images, kind):
    if kind == "images":
        return images
    X = images.reshape(images.shape[0], -1)
    if X.dtype == np.uint8:
        return X.astype(np.float32) / np.float32(255.0)
    return X.astype(np.float32, copy=False)


# ------------------------------------------------------------ evaluation
def _score(qcodes, dbcodes, qlab, dblab, nbits, topk):
    from ..metrics import evaluate

    res = evaluate(qcodes, dbcodes, qlab, dblab, nbits=nbits, topk=topk, ks=_KS, radius=2)
    pk = dict(zip(res["ks"].tolist(), res["precision_at_k"].tolist()))
    k1000 = max(k for k in pk if k <= 1000)
    return {
        "map": res["map"],
        "p_at_1000": pk[k1000],
        "p_at_1000_k": k1000,
        "p_r2": res["precision_within_radius"],
        "precision_at_k": pk,
        "pr_precision": res["pr_precision"].tolist(),
        "pr_recall": res["pr_recall"].tolist(),
    }


def evaluate_method(data, method, nbits, *, seed=0, topk=None):
    """Train one registered method at one code length and score it.

    Returns
    -------
    dict with ``method``, ``nbits``, ``map``, ``p_at_1000``, ``p_r2``,
    ``precision_at_k`` (dict k -> precision), ``pr_precision``, ``pr_recall``,
    ``fit_s``, ``encode_s``, ``n_train``.
    """
    from ..encoders.registry import encode_with, get_method

    spec = get_method(method)
    labels = data["labels"]
    X = _inputs(data["images"], spec.input)
    train = data["database"]
    if spec.max_train is not None and train.size > spec.max_train:
        rng = np.random.default_rng(seed)
        train = np.sort(rng.choice(train, spec.max_train, replace=False))
    enc = spec.factory(nbits, seed)
    t0 = time.perf_counter()
    if spec.supervised:
        enc.fit(X[train], labels[train], **spec.fit_kwargs)
    else:
        enc.fit(X[train], **spec.fit_kwargs)
    t1 = time.perf_counter()
    dbcodes = encode_with(enc, X[data["database"]])
    qcodes = encode_with(enc, X[data["query"]])
    t2 = time.perf_counter()
    out = _score(qcodes, dbcodes, labels[data["query"]], labels[data["database"]],
                 nbits, topk)
    out.update(method=spec.name, nbits=int(nbits), fit_s=t1 - t0, encode_s=t2 - t1,
               n_train=int(train.size))
    return out


def evaluate_model(data, path, *, topk=None):
    """Score a saved deep model (``--model``) at its own code length."""
    from ..encoders.registry import encode_with, load_pretrained

    model = load_pretrained(path)
    labels = data["labels"]
    t0 = time.perf_counter()
    dbcodes = np.asarray(encode_with(model, data["images"][data["database"]]))
    qcodes = np.asarray(encode_with(model, data["images"][data["query"]]))
    t1 = time.perf_counter()
    nbits = int(getattr(model, "nbits", dbcodes.shape[1] * 8))
    out = _score(qcodes, dbcodes, labels[data["query"]], labels[data["database"]],
                 nbits, topk)
    name = "model:" + os.path.splitext(os.path.basename(os.fspath(path)))[0]
    out.update(method=name, nbits=nbits, fit_s=0.0, encode_s=t1 - t0, n_train=0)
    return out


def run_eval(dataset, methods, bits, *, data_dir=None, limit=None, per_class=100, seed=0,
             topk=None, log=None):
    """Evaluate every method at every code length on one dataset.

    Returns
    -------
    data_info : dict
        ``n_query``, ``n_database``, ``per_class``.
    results : list of dict
        One :func:`evaluate_method` result per (method, nbits).
    """
    data = prepare_data(dataset, data_dir, limit, per_class, seed, log=log)
    results = []
    for m in methods:
        for b in bits:
            r = evaluate_method(data, m, b, seed=seed, topk=topk)
            results.append(r)
            if log:
                log(format_row(r))
    info = {"n_query": int(data["query"].size), "n_database": int(data["database"].size),
            "per_class": data["per_class"]}
    return info, results


# ---------------------------------------------------------------- output
_HEADER = f"{'method':<14}{'bits':>5}{'mAP':>9}{'P@1000':>9}{'P@r<=2':>9}{'fit s':>9}{'enc s':>9}"


def format_row(r):
    return (f"{r['method']:<14}{r['nbits']:>5}{r['map']:>9.4f}{r['p_at_1000']:>9.4f}"
            f"{r['p_r2']:>9.4f}{r['fit_s']:>9.2f}{r['encode_s']:>9.2f}")


def format_table(results):
    """Plain-text table of results (one line per method and code length)."""
    return "\n".join([_HEADER] + [format_row(r) for r in results])


def plot_curves(results, out_dir, prefix):
    """Save ``<prefix>_pr.png`` and ``<prefix>_precision_at_k.png`` in ``out_dir``.

    One line per (method, nbits).  Returns the two paths.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(out_dir, exist_ok=True)
    paths = []
    methods = list(dict.fromkeys(r["method"] for r in results))
    bits = sorted({r["nbits"] for r in results})
    styles = ["-", "--", "-.", ":"]

    def style(r):
        return {"color": f"C{methods.index(r['method']) % 10}",
                "linestyle": styles[bits.index(r["nbits"]) % len(styles)],
                "label": f"{r['method']} {r['nbits']} bits"}

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for r in results:
        ax.plot(r["pr_recall"], r["pr_precision"], marker=".", markersize=3, **style(r))
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("Precision-recall (Hamming radius 0..nbits)")
    ax.text(0.99, 0.01, "precision over queries retrieving >= 1 item", fontsize=6,
            ha="right", va="bottom", transform=ax.transAxes)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    path = os.path.join(out_dir, f"{prefix}_pr.png")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    paths.append(path)

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for r in results:
        ks = sorted(r["precision_at_k"])
        ax.plot(ks, [r["precision_at_k"][k] for k in ks], marker="o", markersize=3,
                **style(r))
    ax.set_xscale("log")
    ax.set_xlabel("number of retrieved items k")
    ax.set_ylabel("precision@k")
    ax.set_title("Precision of the top k (Hamming ranking)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    path = os.path.join(out_dir, f"{prefix}_precision_at_k.png")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    paths.append(path)
    return paths


def run(args) -> int:
    from ..encoders.registry import available_methods, get_method

    if args.list_methods:
        for name in available_methods():
            print(f"{name:<10} {get_method(name).description}")
        return 0
    if args.dataset is None:
        raise ValueError("--dataset is required (e.g. --dataset fashion-mnist)")
    if args.per_class < 1:
        raise ValueError(f"--per-class must be positive, got {args.per_class}")
    bits = _parse_bits(args.bits)
    methods = [m.strip().lower() for m in args.method.split(",") if m.strip()]
    if args.model is None:
        for m in methods:
            get_method(m)  # fail early on a typo
    elif not os.path.isfile(args.model):
        raise FileNotFoundError(f"--model: no such file {args.model!r}")
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    data = prepare_data(args.dataset, args.data_dir, args.limit, args.per_class, args.seed,
                        log=lambda msg: print(msg, file=sys.stderr))
    print(f"dataset {args.dataset}: {data['query'].size} queries "
          f"({data['per_class']} per class), {data['database'].size} database items; "
          f"mAP over {'the whole ranking' if args.topk is None else f'the top {args.topk}'}, "
          "ties broken by database position")
    log(_HEADER)
    results = []
    if args.model is not None:
        r = evaluate_model(data, args.model, topk=args.topk)
        results.append(r)
        log(format_row(r))
    else:
        for m in methods:
            for b in bits:
                r = evaluate_method(data, m, b, seed=args.seed, topk=args.topk)
                results.append(r)
                log(format_row(r))
    os.makedirs(args.out_dir, exist_ok=True)
    tag = "-".join(sorted({r["method"].replace(":", "_") for r in results}))
    stem = f"{args.dataset}_{tag}"
    with open(os.path.join(args.out_dir, f"{stem}.json"), "w") as fh:
        json.dump({"dataset": args.dataset, "n_query": int(data["query"].size),
                   "n_database": int(data["database"].size), "results": results},
                  fh, indent=1, default=float)
    if not args.no_plots:
        for path in plot_curves(results, args.out_dir, stem):
            print(f"wrote {path}")
    return 0
