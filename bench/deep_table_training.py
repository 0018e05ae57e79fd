"""How ``bench.deep_table`` trains its rows: the nets, the fits, the cached models.

For one (dataset, bits) :func:`run_config` trains each method (or reuses a
row of ``--results`` with ``--resume``), fine-tunes the latent net when
asked, caches the latent CNN that LDH and ITQ-CNN hash the features of,
scores the model (:mod:`bench.deep_table_scores`) and stores its row.
:func:`refresh_hierarchical` rescores cached latent models only.
"""

from __future__ import annotations

import json
import os

import numpy as np

from hamsearch._atomic import atomic_write
from hamsearch.encoders.registry import available_methods, get_method

from ._common import timed
from .deep_table_scores import class_accuracy, evaluate, hierarchical, split_database

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


def trained_here(method: str) -> bool:
    """True for the nets trained by this script (LDH / ITQ-CNN reuse the latent CNN)."""
    return not get_method(method).cnn_features


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


def _cnn_path(args, ds: str, bits: int) -> str:
    """Where the latent CNN of (dataset, bits) is cached."""
    return os.path.join(args.cache_dir, f"{ds}_{bits}_latent_seed{args.seed}.pt")


def refresh_hierarchical(results: dict, args) -> list:
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
        path = _cnn_path(args, r["dataset"], r["bits"])
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


def _fit(model, key: str, method: str, epochs: int, args, images, labels, train_idx,
         cnn_path: str):
    """Train ``model`` (row ``key``), and fine-tune the latent net with --finetune-epochs.

    Returns
    -------
    model
        The trained model (a reused base model when --resume found one).
    fit_s : float
        Training seconds, the fine-tuning included.
    finetune : int
        The fine-tuning epochs (0 when none).
    """
    fit_kwargs = ({"augment": args.augment, "plain_final_epochs": args.plain_final_epochs,
                   "weight_decay": args.weight_decay}
                  if trained_here(method) else {})
    finetune = args.finetune_epochs if method == "latent" else 0
    if not finetune:
        model, fit_s = timed(lambda: model.fit(
            images[train_idx], labels[train_idx], epochs=epochs, batch_size=args.batch_size,
            device=args.device, **fit_kwargs))
        return model, fit_s, 0
    model, base_s = _fit_base(model, cnn_path, args, images[train_idx], labels[train_idx],
                              epochs, fit_kwargs)
    print(f"{key}: fine-tuning {finetune} epochs on the plain images ...", flush=True)
    model, tune_s = timed(lambda: model.fit(
        images[train_idx], labels[train_idx], epochs=finetune,
        batch_size=args.batch_size, lr=args.finetune_lr,
        weight_decay=args.finetune_weight_decay, device=args.device, warm_start=True))
    return model, base_s + tune_s, finetune


def _fit_base(model, cnn_path, args, x, y, epochs, fit_kwargs):
    """Train (or, with --resume, reuse) the latent net before its fine-tuning.

    The base model is cached beside the final one with the settings that made
    it; it is reused only when they all match.  Returns (model, fit seconds).
    """
    from hamsearch.encoders.deep import load_model

    base_path = cnn_path[:-len(".pt")] + "_base.pt"
    settings = {"epochs": epochs, "batch_size": args.batch_size, "n_train": len(y),
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


def _row_settings(method: str, epochs: int, finetune: int, args, options: dict, n_train: int,
                  fit_s: float, model) -> dict:
    """How a row was trained, as stored beside its scores (and shown in its
    epochs cell); None where a setting does not apply to the method."""
    trained = trained_here(method)
    return {"command": args.command_line, "tag": args.tag or None,
            "model_options": (options or None) if trained else None,
            "epochs": epochs if trained else 0,
            "augment": args.augment if trained else None,
            "plain_final_epochs": args.plain_final_epochs if trained else None,
            "feature_dim": args.feature_dim if on_small_backbone(method) else None,
            "weight_decay": args.weight_decay if trained else None,
            "finetune_epochs": finetune or None,
            "finetune_lr": args.finetune_lr if finetune else None,
            "finetune_weight_decay": args.finetune_weight_decay if finetune else None,
            "n_train": n_train, "fit_s": fit_s,
            "train_images_per_s": (n_train * (epochs + finetune) / fit_s if trained else None),
            "last_epoch": getattr(getattr(model, "feature_model_", model),
                                  "history_", [])[-1:]}


def run_config(ds: str, bits: int, methods: list, args, images: np.ndarray,
               labels: np.ndarray, q, db, train_idx, results: dict, save) -> None:
    """Train, score and store the rows of one (dataset, bits), method by method.

    The latent net comes first: LDH and ITQ-CNN hash its F7 features.  With
    --resume a row already in ``results`` is skipped (the latent net's
    cached model is loaded when a later method needs it); ``save(key)``
    writes each new row as soon as it is scored.
    """
    from hamsearch.encoders.deep import load_model, make_model

    epochs = args.epochs or DEFAULT_EPOCHS.get(ds, 5)
    cnn = None
    cnn_path = _cnn_path(args, ds, bits)
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
        model, fit_s, finetune = _fit(model, key, method, ep, args, images, labels, train_idx,
                                      cnn_path)
        if method == "latent":
            cnn = model
            os.makedirs(args.cache_dir, exist_ok=True)
            model.save(cnn_path)
        res = evaluate(model, images, labels, q, db, want_hier=(method == "latent"))
        res.update({"dataset": ds, "bits": bits, "method": method})
        res.update(_row_settings(method, ep, finetune, args, options, len(train_idx), fit_s,
                                 model))
        results[key] = res
        top = max((int(n[5:]) for n in res if n.startswith("p_at_") and n[5:].isdigit()),
                  default=None)  # 1000, or the database size when smaller
        at = f" P@{top}={res[f'p_at_{top}']:.4f}" if top else ""
        print(f"{key}: mAP={res['map']:.4f}{at} fit={fit_s:.0f}s", flush=True)
        save(key)
