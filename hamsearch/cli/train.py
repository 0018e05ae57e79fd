"""``hamsearch train``: train a deep hashing model on a dataset (needs torch).

Example::

    hamsearch train --method latent --dataset fashion-mnist --bits 48 \\
        --epochs 5 --out model.pt

``--init model.pt`` fine-tunes a trained model instead of starting afresh
(``fit(..., warm_start=True)``), e.g. a few epochs on plain images with a
low learning rate after an augmented run::

    hamsearch train --method latent --dataset fashion-mnist --init model.pt \
        --epochs 5 --lr 5e-4 --weight-decay 0 --out tuned.pt

By default the model trains on the database part of the papers' split (all
images but 100 queries per class, seeded), so that ``hamsearch encode`` /
``hamsearch eval`` can score it on the held-out queries.
"""

from __future__ import annotations

import sys
import time

from ..encoders.registry import available_methods
from ..errors import InvalidArgumentError
from ._args import argument_errors


def register(sub):
    p = sub.add_parser("train", help="train a deep hashing model (PyTorch)",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--method", required=True, choices=available_methods(kind="deep"),
                   help="a deep method of the registry (hamsearch eval --list-methods)")
    p.add_argument("--dataset", required=True, help="name for hamsearch.datasets.load")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--bits", type=int, default=None, help="code length (default 48, or --init's)")
    p.add_argument("--init", default=None, metavar="MODEL.pt",
                   help="fine-tune this trained model of --method (fit's warm_start=True)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=None, help="default: the model's")
    p.add_argument("--backbone", default=None, help="small | cifar | alexnet | zhong")
    p.add_argument("--feature-dim", type=int, default=None,
                   help="F7 width (default: the backbone's; fixed for alexnet and zhong)")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--augment", default=None, choices=("shift", "flip", "shift+flip"),
                   help="random training augmentation (flips suit Fashion-MNIST and CIFAR-10, not digits)")
    p.add_argument("--plain-final-epochs", type=int, default=0,
                   help="with --augment: train the last N epochs on the plain images")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-split", choices=("database", "all"), default="database",
                   help="train on the database part of the 100-per-class query split (default)"
                        " or on every image")
    p.add_argument("--max-train", type=int, default=None,
                   help="train on a seeded random subset of this many images")
    p.add_argument("--validation-fraction", type=float, default=0.0)
    p.add_argument("--early-stopping", type=int, default=None, metavar="PATIENCE")
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--out", required=True, help="model file to write (.pt)")
    p.set_defaults(func=run)


def training_indices(labels, split: str, max_train=None, seed: int = 0):
    """Indices of the training images for ``--train-split`` / ``--max-train``."""
    import numpy as np

    from ..datasets import query_split

    if split == "database":
        _, idx = query_split(labels, per_class=100, random_state=seed)
    else:
        idx = np.arange(len(labels))
    if max_train is not None and max_train < len(idx):
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(idx, max_train, replace=False))
    return idx


def run(args) -> int:
    import numpy as np

    from ..encoders.deep import make_model
    from ..evaluation import load_dataset

    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    images, labels = load_dataset(args.dataset, args.data_dir)
    idx = training_indices(labels, args.train_split, args.max_train, args.seed)
    if args.init is not None:
        model = _initial_model(args)
    else:
        model = make_model(args.method, 48 if args.bits is None else args.bits,
                           backbone=args.backbone, feature_dim=args.feature_dim,
                           random_state=args.seed, verbose=not args.quiet)
    kwargs = dict(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                  weight_decay=args.weight_decay,
                  device=args.device, validation_fraction=args.validation_fraction,
                  early_stopping=args.early_stopping, checkpoint=args.checkpoint,
                  resume=args.resume, n_classes=int(np.max(labels)) + 1, augment=args.augment,
                  plain_final_epochs=args.plain_final_epochs)
    if args.init is not None:
        kwargs["warm_start"] = True
    t0 = time.perf_counter()
    with argument_errors():  # fit validates the training options
        model.fit(images[idx], labels[idx], **kwargs)
    dt = time.perf_counter() - t0
    model.save(args.out)
    last = _last_history(model)
    print(f"trained {args.method} ({type(model).__name__}, {model.nbits} bits) on "
          f"{len(idx)} images of {args.dataset} in {dt:.1f} s; {last}; wrote {args.out}",
          file=sys.stdout)
    return 0


def _initial_model(args):
    """The --init model, checked against --method and the architecture options."""
    from ..encoders.deep import DeepHashModel, load_model
    from ..encoders.registry import get_method

    model = load_model(args.init)
    spec = get_method(args.method, kind="deep")
    want = spec.target.partition(":")[2]
    if type(model).__name__ != want or not isinstance(model, DeepHashModel):
        raise InvalidArgumentError(f"--init {args.init} holds a {type(model).__name__}; --method "
                         f"{args.method} fine-tunes a {want}"
                         + (" (LDH / ITQ-CNN cannot be fine-tuned: fine-tune their CNN)"
                            if spec.cnn_features else ""))
    for opt, value, have in (("--bits", args.bits, model.nbits),
                             ("--backbone", args.backbone, model.backbone),
                             ("--feature-dim", args.feature_dim, model.feature_dim)):
        if value is not None and value != have:
            raise InvalidArgumentError(f"{opt} {value} differs from the --init model's ({have})")
    model.verbose = not args.quiet
    return model


def _last_history(model) -> str:
    fm = getattr(model, "feature_model_", model)
    hist = getattr(fm, "history_", [])
    if not hist:
        return "no epochs run"
    h = hist[-1]
    return ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in h.items())
