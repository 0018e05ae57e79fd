"""``hamsearch train``: train a deep hashing model on a dataset (needs torch).

Example::

    hamsearch train --method latent --dataset fashion-mnist --bits 48 --epochs 5 --out model.pt

``--init model.pt`` fine-tunes a trained model instead of starting afresh
(``fit(..., warm_start=True)``), e.g. a few epochs on plain images with a
low learning rate after an augmented run::

    hamsearch train --method latent --dataset fashion-mnist --init model.pt \\
        --epochs 5 --lr 5e-4 --weight-decay 0 --out tuned.pt

By default the model trains on the database part of the papers' split (all
images but 100 queries per class, seeded), so that ``hamsearch encode`` /
``hamsearch eval`` can score it on the held-out queries.
"""

from __future__ import annotations

import argparse
import time

from ..encoders.registry import available_methods
from ._args import argument_errors, plain_text

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``train`` parser to ``sub``."""
    p = sub.add_parser("train", help="train a deep hashing model (PyTorch)",
                       description=plain_text(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    a = p.add_argument
    a("--method", required=True, choices=available_methods(kind="deep"),
      help="a deep method of the registry (hamsearch eval --list-methods)")
    a("--dataset", required=True, help="name for hamsearch.datasets.load")
    a("--data-dir", default=None, help="directory holding the dataset files")
    a("--bits", type=int, default=None, help="code length (default 48, or --init's)")
    a("--init", default=None, metavar="MODEL.pt",
      help="fine-tune this trained model of --method (fit's warm_start=True)")
    a("--epochs", type=int, default=10, help="training epochs (default 10)")
    a("--batch-size", type=int, default=128, help="images per step (default 128)")
    a("--lr", type=float, default=None, help="learning rate (default: the model's)")
    a("--backbone", default=None, help="small | cifar | alexnet | zhong (default: the method's)")
    a("--feature-dim", type=int, default=None,
      help="F7 width (default: the backbone's; fixed for alexnet and zhong)")
    a("--weight-decay", type=float, default=1e-4, help="L2 weight decay (default 1e-4)")
    a("--augment", default=None, choices=("shift", "flip", "shift+flip"),
      help="random training augmentation (flips suit Fashion-MNIST and CIFAR-10, not digits)")
    a("--plain-final-epochs", type=int, default=0,
      help="with --augment: train the last N epochs on the plain images (default 0)")
    a("--device", default="auto", help="cpu, cuda or auto (default auto)")
    a("--seed", type=int, default=0, help="seed of the split and the model (default 0)")
    a("--train-split", choices=("database", "all"), default="database",
      help="train on the database part of the 100-per-class query split (default) or on "
           "every image")
    a("--max-train", type=int, default=None,
      help="train on a seeded random subset of this many images")
    a("--validation-fraction", type=float, default=0.0,
      help="share of the training images held out to validate each epoch (default 0)")
    a("--early-stopping", type=int, default=None, metavar="PATIENCE",
      help="stop after PATIENCE epochs without a better validation loss")
    a("--checkpoint", default=None, help="checkpoint file written after every epoch")
    a("--resume", action="store_true", help="continue from --checkpoint")
    a("--threads", type=int, default=None, help="torch CPU threads")
    a("--quiet", action="store_true", help="no progress output")
    a("--out", required=True, help="model file to write (.pt)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train, save and print a one-line summary; returns the exit status."""
    import numpy as np

    from ..encoders.deep import make_model
    from ..encoders.deep.warm_start import load_for_fine_tuning
    from ..evaluation import load_dataset, training_indices

    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    images, labels = load_dataset(args.dataset, args.data_dir)
    idx = training_indices(labels, args.train_split, args.max_train, args.seed)
    if args.init is not None:
        model = load_for_fine_tuning(args.init, args.method, nbits=args.bits,
                                     backbone=args.backbone, feature_dim=args.feature_dim,
                                     verbose=not args.quiet)
    else:
        model = make_model(args.method, 48 if args.bits is None else args.bits,
                           backbone=args.backbone, feature_dim=args.feature_dim,
                           random_state=args.seed, verbose=not args.quiet)
    kwargs = dict(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                  weight_decay=args.weight_decay, device=args.device,
                  validation_fraction=args.validation_fraction,
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
    print(f"trained {args.method} ({type(model).__name__}, {model.nbits} bits) on "
          f"{len(idx)} images of {args.dataset} in {dt:.1f} s; {_last_epoch(model)}; "
          f"wrote {args.out}")
    return 0


def _last_epoch(model) -> str:
    fm = getattr(model, "feature_model_", model)
    hist = getattr(fm, "history_", [])
    if not hist:
        return "no epochs run"
    return ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in hist[-1].items())
