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
import platform
import sys

import numpy as np

from bench import literature
from bench._common import results_paths, timed, update_docs

from hamsearch._atomic import atomic_write
from hamsearch.encoders.registry import available_methods, get_method

DOCS_JSON, DOCS_MD = results_paths("results_deep.json")[1], results_paths("results_deep.md")[1]
DEFAULT_EPOCHS = {"mnist-5k": 15, "fashion-mnist": 4, "digits": 10}
#: the deep methods of the registry (hamsearch.encoders.registry), in its order
ALL_METHODS = tuple(available_methods(kind="deep"))


def on_small_backbone(method: str) -> bool:
    """Whether ``method`` trains a net on the "small" backbone, whose F7
    width --feature-dim sets (the class's default ``backbone``; imports it)."""
    import inspect

    spec = get_method(method)
    if spec.cnn_features:
        return False
    param = inspect.signature(spec.load_class()).parameters.get("backbone")
    return param is not None and param.default == "small"



def _parse(argv):
    p = argparse.ArgumentParser(prog="python -m bench.deep_table", description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", default="mnist-5k,fashion-mnist")
    p.add_argument("--bits", default="16,24,48",
                   help="code lengths (multiples of 8: the papers' 12 bits is not a valid hamsearch code)")
    p.add_argument("--methods", default=",".join(ALL_METHODS))
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs per trained model (default per dataset: %s)" % DEFAULT_EPOCHS)
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


def parse_options(text: str) -> dict:
    """``"a=1,b=x,c=true"`` -> ``{"a": 1, "b": "x", "c": True}`` (--model-options)."""
    out = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"--model-options: expected key=value, got {item!r}")
        value = value.strip()
        low = value.lower()
        if low in ("true", "false"):
            out[key.strip()] = low == "true"
            continue
        for conv in (int, float):
            try:
                out[key.strip()] = conv(value)
                break
            except ValueError:
                pass
        else:
            out[key.strip()] = value
    return out


def row_key(ds: str, bits: int, method: str, tag: str = "") -> str:
    """Key of a row in the results JSON: ``ds|bits|method`` (``|tag`` for a variant)."""
    return f"{ds}|{bits}|{method}" + (f"|{tag}" if tag else "")


def split_database(labels, seed: int):
    """Queries (sorted), the database in ranking order (shuffled once, seeded) and
    the training indices (the database, sorted) of the protocol."""
    from hamsearch.datasets import query_split
    from hamsearch.evaluation import shuffle_database

    q, db = query_split(labels, per_class=100, random_state=seed)
    return q, shuffle_database(db, seed), db


def _precision_at(ids_or_idx, db_labels_by_id, qlabels):
    lab = db_labels_by_id[ids_or_idx]
    return float((lab == qlabels[:, None]).mean())


#: cut-offs of the precision@k columns (``p_at_<k>`` and ``p_at_<k>_tie``)
KS = (1, 10, 100, 1000)


def retrieval_scores(qcodes, dbcodes, qlabels, dblabels, nbits: int) -> dict:
    """mAP and P@k of Hamming ranking, ties in database order and tie-aware.

    Returns
    -------
    dict
        ``map``, ``map_tie``, ``p_at_<k>`` and ``p_at_<k>_tie`` for k in
        :data:`KS` (clipped to the database size).
    """
    from hamsearch.metrics import evaluate as evaluate_codes

    ks = [min(k, len(dblabels)) for k in KS]
    res = evaluate_codes(qcodes, dbcodes, qlabels, dblabels, nbits=nbits, ks=ks)
    out = {"map": res["map"], "map_tie": res["map_tie_average"]}
    for k, got, tie in zip(res["ks"].tolist(), res["precision_at_k"],
                           res["precision_at_k_tie_average"]):
        out[f"p_at_{k}"] = float(got)
        out[f"p_at_{k}_tie"] = float(tie)
    return out


def evaluate(model, images, labels, q, db, want_hier=False):
    """mAP, P@k (and hierarchical P@100) of ``model`` on the split; ``db`` in ranking order."""
    (codes, feats), enc_s = timed(
        lambda: model.encode(images, batch_size=1024, return_features=True))
    out = retrieval_scores(codes[q], codes[db], labels[q], labels[db], int(model.nbits))
    out.update(encode_images_per_s=len(images) / enc_s, database_order="shuffled")
    if want_hier:
        out.update(hierarchical(model, codes, feats, labels, q, db))
        out.update(class_accuracy(model, feats, labels, q, db))
    return out


def class_accuracy(model, feats, labels, q, db):
    """Accuracy of the net's class layer (F8) on the queries and on the database.

    The database is the training set, so its accuracy says how well the net
    fits it; with Hamming ranking over class-clustered codes, mAP is close to
    ``acc_q * acc_db + (1 - acc_q) * (AP of a misclassified query)``.
    The logits come from the F7 ``feats`` already encoded (the head alone,
    no second pass through the backbone).  Empty for models without a class
    layer.
    """
    import torch

    net = model.net_
    net.eval()
    with torch.no_grad():
        out = net.head(torch.from_numpy(feats).to(model.device_))
    if "logits" not in out:
        return {}
    pred = out["logits"].argmax(1).cpu().numpy()
    return {"query_accuracy": float(np.mean(pred[q] == labels[q])),
            "database_accuracy": float(np.mean(pred[db] == labels[db]))}


def hierarchical(model, codes, feats, labels, q, db, k=100):
    """P@k of Hamming ranking vs hierarchical search (Lin et al.) on F7.

    Pool = the 2k nearest codes (ties at the boundary included), re-ranked by
    F7 distance; and the "bucket" variant (Hamming order, F7 distance within
    a distance bucket).  Both with the F7 vectors as they are (L2, the
    paper's choice) and scaled to unit norm (cosine: ``normalize_features``).
    A pool much larger than a class (e.g. 1000 on MNIST-5k, 400 items per
    class) lets F7 pull in other classes; 2k keeps it inside the relevant
    neighbourhood.
    """
    import hamsearch
    from hamsearch.encoders.deep.encoding import unit_rows

    out = {}
    for suffix, f in (("", feats), ("_cosine", unit_rows(feats))):
        index = hamsearch.Index(nbits=model.nbits)
        index.add(codes[db], ids=np.arange(len(db)), features=f[db])
        if not suffix:
            _, I_h = index.search(codes[q], k)
            out["p_at_100_hamming"] = _precision_at(I_h, labels[db], labels[q])
        _, I_p = index.search(codes[q], k, query_features=f[q], pool_size=min(2 * k, len(db)))
        _, I_b = index.search(codes[q], k, query_features=f[q], rerank="bucket")
        out["p_at_100_hierarchical" + suffix] = _precision_at(I_p, labels[db], labels[q])
        out["p_at_100_bucket" + suffix] = _precision_at(I_b, labels[db], labels[q])
    return out


def refresh_hierarchical(results, args):
    """Recompute the hierarchical and class-accuracy columns of finished latent rows
    (of --datasets and --bits) from cached models; returns the keys refreshed."""
    from hamsearch.datasets import load
    from hamsearch.encoders.deep import load_model

    datasets = {d.strip() for d in args.datasets.split(",") if d.strip()}
    bits = {int(b) for b in args.bits.split(",")}
    refreshed = []
    for key, r in results.items():
        if r["method"] != "latent" or r["dataset"] not in datasets or r["bits"] not in bits:
            continue
        path = os.path.join(args.cache_dir, f"{r['dataset']}_{r['bits']}_latent_seed{args.seed}.pt")
        if not os.path.exists(path):
            continue
        images, labels = load(r["dataset"])
        q, db, _ = split_database(labels, args.seed)
        model = load_model(path)
        codes, feats = model.encode(images, return_features=True)
        r.update(hierarchical(model, codes, feats, labels, q, db))
        r.update(class_accuracy(model, feats, labels, q, db))
        refreshed.append(key)
        print(f"{key}: hierarchical and class accuracy refreshed", flush=True)
    return refreshed


def run_config(ds, bits, methods, args, images, labels, q, db, train_idx, results, save):
    from hamsearch.encoders.deep import load_model, make_model

    epochs = args.epochs or DEFAULT_EPOCHS.get(ds, 5)
    cnn = None
    cnn_path = os.path.join(args.cache_dir, f"{ds}_{bits}_latent_seed{args.seed}.pt")
    on_cnn = {m for m in methods if get_method(m).cnn_features}  # need the latent CNN
    options = parse_options(args.model_options)
    for method in methods:
        key = row_key(ds, bits, method, args.tag)
        done = args.resume and key in results and not args.overwrite
        if done and method != "latent":
            print(f"skip {key} (in {args.results})", flush=True)
            continue
        if done and method == "latent":
            if on_cnn and os.path.exists(cnn_path):
                cnn = load_model(cnn_path)
            elif on_cnn:
                done = False  # retrain below to provide the CNN features
            if cnn is not None or not on_cnn:
                print(f"skip {key} (in {args.results})", flush=True)
                continue
        ep = args.compact_epochs if (method == "compact" and args.compact_epochs) else epochs
        if get_method(method).cnn_features:
            if cnn is None:
                print(f"{key}: needs the latent CNN; put 'latent' first in --methods", flush=True)
                continue
            model = make_model(method, bits, random_state=args.seed, verbose=args.verbose,
                               feature_model=cnn)
        else:
            model = make_model(method, bits, random_state=args.seed, verbose=args.verbose,
                               feature_dim=args.feature_dim if on_small_backbone(method) else None)
            if options:
                model.set_params(**options)
        print(f"{key}: training on {len(train_idx)} images ...", flush=True)
        fit_kwargs = ({"augment": args.augment, "plain_final_epochs": args.plain_final_epochs,
                       "weight_decay": args.weight_decay}
                      if trained_here(method) else {})
        finetune = args.finetune_epochs if method == "latent" else 0
        if finetune:
            model, base_s = _fit_base(model, cnn_path, args, images[train_idx],
                                      labels[train_idx], ep, fit_kwargs)
            print(f"{key}: fine-tuning {finetune} epochs on the plain images ...", flush=True)
            model, tune_s = timed(lambda: model.fit(
                images[train_idx], labels[train_idx], epochs=finetune,
                batch_size=args.batch_size, lr=args.finetune_lr,
                weight_decay=args.finetune_weight_decay, device=args.device, warm_start=True))
            fit_s = base_s + tune_s
        else:
            model, fit_s = timed(lambda: model.fit(
                images[train_idx], labels[train_idx], epochs=ep, batch_size=args.batch_size,
                device=args.device, **fit_kwargs))
        if method == "latent":
            cnn = model
            os.makedirs(args.cache_dir, exist_ok=True)
            model.save(cnn_path)
        res = evaluate(model, images, labels, q, db, want_hier=(method == "latent"))
        trained = trained_here(method)
        res.update({"dataset": ds, "bits": bits, "method": method, "command": args.command_line,
                    "tag": args.tag or None,
                    "model_options": (options or None) if trained else None,
                    "epochs": ep if trained else 0,
                    "augment": args.augment if trained else None,
                    "plain_final_epochs": args.plain_final_epochs if trained else None,
                    "feature_dim": args.feature_dim if on_small_backbone(method) else None,
                    "weight_decay": args.weight_decay if trained else None,
                    "finetune_epochs": finetune or None,
                    "finetune_lr": args.finetune_lr if finetune else None,
                    "finetune_weight_decay": args.finetune_weight_decay if finetune else None,
                    "n_train": int(len(train_idx)), "fit_s": fit_s,
                    "train_images_per_s": (len(train_idx) * (ep + finetune) / fit_s
                                           if trained else None),
                    "last_epoch": getattr(getattr(model, "feature_model_", model),
                                          "history_", [])[-1:]})
        results[key] = res
        print(f"{key}: mAP={res['map']:.4f} P@1000={res['p_at_1000']:.4f} "
              f"fit={fit_s:.0f}s", flush=True)
        save(key)


def _fit_base(model, cnn_path, args, x, y, epochs, fit_kwargs):
    """Train (or, with --resume, reuse) the latent net before its fine-tuning.

    The base model is cached beside the final one with the settings that made
    it; it is reused only when they all match.  Returns (model, fit seconds).
    """
    from hamsearch.encoders.deep import load_model

    base_path = cnn_path[:-len(".pt")] + "_base.pt"
    settings = {"epochs": epochs, "batch_size": args.batch_size, "n_train": int(len(y)),
                "seed": args.seed, "feature_dim": args.feature_dim, **fit_kwargs}
    meta_path = base_path + ".json"
    if args.resume and os.path.exists(base_path) and os.path.exists(meta_path):
        with open(meta_path) as fh:
            meta = json.load(fh)
        if meta.get("settings") == settings:
            print(f"reusing the base model {base_path}", flush=True)
            return load_model(base_path), float(meta["fit_s"])
    _, fit_s = timed(lambda: model.fit(x, y, epochs=epochs, batch_size=args.batch_size,
                                       device=args.device, **fit_kwargs))
    os.makedirs(os.path.dirname(base_path) or ".", exist_ok=True)
    model.save(base_path)
    with atomic_write(meta_path, "w", what="model settings") as fh:
        json.dump({"settings": settings, "fit_s": fit_s}, fh, indent=1)
    return model, fit_s


def trained_here(method) -> bool:
    """True for the nets trained by this script (LDH / ITQ-CNN reuse the latent CNN)."""
    return not get_method(method).cnn_features


def _training(row) -> str:
    """Epochs of a row, with its augmentation and any non-default settings:
    '30 (shift+flip, last 10 plain; F7 1024, wd 1e-05)'."""
    text = str(row["epochs"])
    notes = []
    if row.get("augment"):
        plain = row.get("plain_final_epochs") or 0
        notes.append(row["augment"] + (f", last {plain} plain" if plain else ""))
    extra = []
    if row.get("feature_dim") is not None:
        extra.append(f"F7 {row['feature_dim']}")
    if row.get("weight_decay") not in (None, 1e-4):
        extra.append(f"wd {row['weight_decay']:g}")
    if extra:
        notes.append(", ".join(extra))
    if row.get("model_options"):
        notes.append(", ".join(f"{k}={v}" for k, v in sorted(row["model_options"].items())))
    if notes:
        text += " (" + "; ".join(notes) + ")"
    if row.get("finetune_epochs"):
        text += (f" + {row['finetune_epochs']} plain fine-tuning (lr {row['finetune_lr']:g}, "
                 f"wd {row['finetune_weight_decay']:g})")
    return text


def _epochs_cell(mrows, bits):
    present = [b for b in bits if b in mrows]
    if not any(mrows[b]["epochs"] for b in present):
        return "CNN of latent"
    cells = {b: _training(mrows[b]) for b in present}
    if len(set(cells.values())) == 1:
        return cells[present[0]]
    return " / ".join(f"{cells[b]} ({b}b)" for b in present)


def _variants(rows) -> list:
    """(method, tag) pairs present in ``rows``: registry order, untagged rows first."""
    present = {(r["method"], r.get("tag")) for r in rows}
    return sorted(present, key=lambda mt: (ALL_METHODS.index(mt[0]), mt[1] or ""))


def _label(method: str, tag) -> str:
    return f"{method}[{tag}]" if tag else method


def _ties_table(rows) -> list:
    """Stable-order vs tie-aware mAP, P@1 and P@10 of the rows that have both."""
    tied = [r for r in rows if "map_tie" in r]
    if not tied:
        return []
    out = ["", "Ties: each figure with ties in database order / tie-aware (the expectation "
           "over the orders of tied items):", "",
           "| method | bits | mAP | P@1 | P@10 | P@100 |", "|---|---|---|---|---|---|"]
    order = {mt: i for i, mt in enumerate(_variants(rows))}
    for r in sorted(tied, key=lambda r: (order[(r["method"], r.get("tag"))], r["bits"])):
        cells = [f"{r['map']:.4f} / {r['map_tie']:.4f}"]
        for k in (1, 10, 100):
            a, t = r.get(f"p_at_{k}"), r.get(f"p_at_{k}_tie")
            cells.append("-" if a is None else f"{a:.4f} / {t:.4f}")
        out.append(f"| {_label(r['method'], r.get('tag'))} | {r['bits']} | "
                   + " | ".join(cells) + " |")
    return out


#: the encode benchmark's figures (``bench/bench_deep_encode.py``), beside the table or in docs/
BENCH_JSON = "bench_deep_encode.json"


def markdown_text(results, path, args_line) -> str:
    """The whole results document for ``results`` (``path``: where it will go)."""
    lines = [
        "# Deep hashing results",
        "",
        "Produced by `python -m bench.deep_table` (see `bench/deep_table.py`); the raw",
        "numbers are in `docs/results_deep.json`.  Protocol: 1000 queries (100 per",
        "class, seed 0) against the rest as database; networks train on the database",
        "part; mAP over the whole database by Hamming ranking (ties by database",
        "position), P@1000 the mean precision of the first 1000 results.  LDH and",
        "ITQ-CNN hash the F7 features of the same trained latent-layer CNN.",
        "The \"db order\" column says how ties were ranked: *shuffled* -- the",
        "database in a seeded random order (the protocol since issue 17) -- or",
        "*stored* (dataset order; MNIST-5k is stored sorted by label, which moves",
        "P@1 by several points, see `docs/methods.md`).  Rows scored since issue",
        "17 also have tie-aware figures (expected over the orders of tied items)",
        "in the \"Ties\" table of their dataset.  Rows named `method[tag]` are",
        "variants (`--tag`) trained with the `--model-options` shown in their",
        "epochs cell; the `exploss[...]` rows of MNIST-5k reproduce DeepHash's",
        "Table 3 schemes and compare its stage-2 initialisation (`docs/methods.md`).",
        "",
        "Commands that produced the rows below (in order):",
        "",
    ]
    cmds = []
    for r in results.values():
        c = r.get("command")
        if c and c not in cmds:
            cmds.append(c)
    if args_line not in cmds:
        cmds.append(args_line)
    lines += [f"    {c}" for c in cmds]
    lines += [
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs, "
        "no GPU; CPU training of the small CNN for the epochs in each row (few,",
        "for CPU time), so these are not converged numbers.  P@1000 cannot exceed the",
        "share of relevant items in the first 1000: on MNIST-5k each class has only",
        "about 400 database items, so P@1000 <= ~0.4 there.  LDH (Laplacian",
        "eigenmaps) loses with many bits on well-separated features: only the first",
        "~(classes - 1) eigenvectors separate classes, the rest encode within-class",
        "structure and dilute the Hamming distance.  The papers' 12-bit column is",
        "replaced by 16 bits: hamsearch codes are whole bytes (a `--bits 24,12`",
        "run stopped at 12 with that error).  Rows of one dataset may come from",
        "different runs: the epochs and train-images columns say how each was trained.",
        "",
        "Rows whose epochs cell adds \"+ N plain fine-tuning\" went on training the latent",
        "net on the plain images (`--finetune-epochs`, `fit(..., warm_start=True)`).  The",
        "database is the training set in this protocol, so a net that fits it exactly",
        "gives almost every database item the codes of its class, and mAP follows query",
        "accuracy times database accuracy (the class-layer table of each dataset).",
        "With codes that clean, re-ranking a Hamming pool by F7 has little left to fix:",
        "compare the hierarchical rows before and after fine-tuning.",
        "",
    ]
    datasets = sorted({r["dataset"] for r in results.values()})
    for ds in datasets:
        rows = [r for r in results.values() if r["dataset"] == ds]
        bits = sorted({r["bits"] for r in rows})
        lines += [f"## {ds}", "",
                  "| method | " + " | ".join(f"mAP {b}b | P@1000 {b}b" for b in bits)
                  + " | epochs | train images | train img/s | db order |",
                  "|---|" + "---|---|" * len(bits) + "---|---|---|---|"]
        for m, tag in _variants(rows):
            mrows = {r["bits"]: r for r in rows if r["method"] == m and r.get("tag") == tag}
            cells = []
            for b in bits:
                r = mrows.get(b)
                cells.append(f"{r['map']:.4f} | {r['p_at_1000']:.4f}" if r else "- | -")
            any_r = next(iter(mrows.values()))
            ips = any_r.get("train_images_per_s")
            cls = get_method(m).target.partition(":")[2]
            orders = sorted({r.get("database_order", "stored") for r in mrows.values()})
            lines.append(f"| {_label(m, tag)} ({cls}) | " + " | ".join(cells)
                         + f" | {_epochs_cell(mrows, bits)} | {any_r['n_train']} | "
                         + (f"{ips:.0f}" if ips else "-") + f" | {'/'.join(orders)} |")
        lines += _ties_table(rows)
        hier = [r for r in rows if "p_at_100_hierarchical" in r]
        if hier:
            lines += ["", "Hierarchical search (latent net, `Index.search` with F7 features): "
                      "P@100 of Hamming ranking alone vs a Hamming pool of 200 re-ranked by "
                      "F7 distance, and vs Hamming order with F7 distance inside each distance "
                      "bucket; F7 as it is (L2, the paper's choice) or scaled to unit norm "
                      "(cosine, `normalize_features=True`):", "",
                      "| bits | P@100 Hamming | pool 200 + F7 L2 | bucket + F7 L2 "
                      "| pool 200 + F7 cosine | bucket + F7 cosine |",
                      "|---|---|---|---|---|---|"]
            cell = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
            for r in sorted(hier, key=lambda r: r["bits"]):
                lines.append("| " + " | ".join(
                    [str(r["bits"])] + [cell(r.get("p_at_100_" + c)) for c in (
                        "hamming", "hierarchical", "bucket", "hierarchical_cosine",
                        "bucket_cosine")]) + " |")
        acc = [r for r in hier if "database_accuracy" in r]
        if acc:
            lines += ["", "Class layer (F8) of the latent net: accuracy on the queries and on the "
                      "database, its training set.  Codes cluster by predicted class, so a "
                      "query's AP is about the database accuracy when the query is classified "
                      "right and low when not: mAP follows acc_q * acc_db.", "",
                      "| bits | query accuracy | database accuracy | acc_q * acc_db | mAP |",
                      "|---|---|---|---|---|"]
            for r in sorted(acc, key=lambda r: r["bits"]):
                qa, da = r["query_accuracy"], r["database_accuracy"]
                lines.append(f"| {r['bits']} | {qa:.4f} | {da:.4f} | {qa * da:.4f} | {r['map']:.4f} |")
        lines.append("")
    bench_json = next((c for c in (os.path.join(os.path.dirname(path) or ".", BENCH_JSON),
                                   os.path.join("docs", BENCH_JSON)) if os.path.exists(c)), None)
    if bench_json is not None:
        with open(bench_json) as fh:
            b = json.load(fh)
        lines += ["## CPU throughput (`bench/bench_deep_encode.py`)", "",
                  f"    {b['command']}", "",
                  f"{b['machine']}, torch threads {b['torch_threads']}, {b['method']} "
                  f"{b['bits']} bits, synthetic 28x28 images:", "",
                  f"* training: {b['train_images_per_s']:.0f} images/s",
                  f"* encoding: {b['encode_images_per_s']:.0f} images/s (bare torch forward of the "
                  f"same net, the peer: {b['forward_images_per_s']:.0f} images/s)",
                  f"* end to end, {b['n']} images streamed into an Index (one encode_into "
                  f"call, codes only, batches of 2048): "
                  f"{b['end_to_end_images_per_s']:.0f} images/s; RSS {b['rss_before_mb']:.0f} MB "
                  f"before, at most {b['max_rss_during_mb']:.0f} MB during the run "
                  f"(process peak {b['peak_rss_mb']:.0f} MB, reached in the earlier steps)", ""]
    lines += ["## Targets", "",
              "Issue 6 asks for mAP >= 0.98 on MNIST-5k at 48 bits and >= 0.92 on",
              "Fashion-MNIST at 48 bits with the best method.", ""]
    best = {}
    for r in results.values():
        if r["bits"] == 48:
            k = r["dataset"]
            if k not in best or r["map"] > best[k]["map"]:
                best[k] = r
    for ds, r in sorted(best.items()):
        lines.append(f"* {ds}, 48 bits: best {_label(r['method'], r.get('tag'))} "
                     f"mAP {r['map']:.4f}")
    lines.append("")
    lines.append(literature.markdown("deep"))
    return "\n".join(lines)


def write_markdown(results, path, args_line):
    """Write :func:`markdown_text` to ``path`` (atomically)."""
    with atomic_write(path, "w", what="markdown") as fh:
        fh.write(markdown_text(results, path, args_line))


def update_docs_rows(rows: dict, args_line: str, docs_json: str = DOCS_JSON,
                     docs_md: str = DOCS_MD) -> dict:
    """Merge ``rows`` into the committed results (``docs_json``, never dropping
    a row) and rewrite ``docs_md`` from all of them, keeping its hand-written
    sections (:func:`bench._common.merge_markdown` with ``tables=False``)."""
    def write_md(merged):
        update_docs(docs_md, markdown_text(merged, docs_md, args_line), tables=False)

    return merge_results(docs_json, rows, replace_all=False, then=write_md)


def merge_results(path, rows: dict, replace_all: bool, then=None) -> dict:
    """Write ``rows`` into the JSON results file and return its whole content.

    With ``replace_all`` the file holds only ``rows``; otherwise rows already
    in the file are kept and these replace or join them, under a lock, so
    several ``--resume`` runs (different datasets or bits) can share one file.
    ``then(merged)`` runs under the same lock (writing the markdown table).
    """
    import fcntl

    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        merged = {}
        if not replace_all and os.path.exists(path):
            with open(path) as fh:
                merged = json.load(fh)
        merged.update(rows)
        with atomic_write(path, "w", what="results") as fh:
            json.dump(merged, fh, indent=1)
        if then is not None:
            then(merged)
    return merged


def _same_file(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def main(argv=None) -> int:
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
        replace_all = not args.resume and not _same_file(args.results, DOCS_JSON)
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
