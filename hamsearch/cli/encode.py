"""``hamsearch encode``: hash a dataset with a trained deep model (needs torch).

Examples::

    hamsearch encode --model model.pt --dataset fashion-mnist --out codes.npy
    hamsearch encode --model model.pt --dataset fashion-mnist --index db.hsx \\
        --split database --features

Codes are packed uint8 (the FAISS layout).  ``--index`` streams the images
batch by batch into a :class:`hamsearch.Index` (ids = positions in the
dataset; F7-style re-ranking features too with ``--features``) and saves it.
"""

from __future__ import annotations

import sys
import time

from ..errors import InvalidArgumentError
from ._args import plain_text


def register(sub):
    p = sub.add_parser("encode", help="encode a dataset with a trained deep model",
                       description=plain_text(__doc__.split("\n\n")[0]))
    p.add_argument("--model", required=True, help="file written by `hamsearch train`")
    p.add_argument("--dataset", required=True)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--split", choices=("all", "query", "database"), default="all",
                   help="which part of the 100-per-class query split to encode")
    p.add_argument("--seed", type=int, default=0, help="seed of the query split")
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--out", default=None, help="write codes to this .npy file")
    p.add_argument("--features-out", default=None, help="write features to this .npy file")
    p.add_argument("--index", default=None, help="write a hamsearch index file")
    p.add_argument("--features", action="store_true",
                   help="store re-ranking features in the --index")
    p.add_argument("--normalize-features", action="store_true",
                   help="unit-norm features (cosine re-ranking), in --features-out and --index")
    p.set_defaults(func=run)


def select(labels, split: str, seed: int = 0):
    """Indices of ``--split`` (all / query / database)."""
    import numpy as np

    if split == "all":
        return np.arange(len(labels))
    from ..datasets import query_split

    q, db = query_split(labels, per_class=100, random_state=seed)
    return q if split == "query" else db


def run(args) -> int:
    import numpy as np

    if args.out is None and args.index is None and args.features_out is None:
        raise InvalidArgumentError("give --out codes.npy, --features-out feats.npy and/or --index file")
    from ..evaluation import load_dataset as load
    from ..encoders.deep import load_model

    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    model = load_model(args.model, device=args.device)
    images, labels = load(args.dataset, data_dir=args.data_dir)
    idx = select(labels, args.split, args.seed)
    images = images[idx]
    t0 = time.perf_counter()
    if args.out is not None or args.features_out is not None:
        want_f = args.features_out is not None
        res = model.encode(images, batch_size=args.batch_size, return_features=want_f,
                           normalize_features=args.normalize_features)
        codes, feats = res if want_f else (res, None)
        if args.out is not None:
            np.save(args.out, codes)
        if want_f:
            np.save(args.features_out, feats)
    if args.index is not None:
        from .. import Index

        index = Index(nbits=model.nbits)
        model.encode_into(index, images, ids=idx.astype(np.int64), batch_size=args.batch_size,
                          features=bool(args.features),
                          normalize_features=args.normalize_features)
        index.save(args.index)
    dt = time.perf_counter() - t0
    outs = ", ".join(x for x in (args.out, args.features_out, args.index) if x)
    print(f"encoded {len(idx)} images ({args.split}) of {args.dataset} to {model.nbits}-bit "
          f"codes in {dt:.1f} s ({len(idx) / max(dt, 1e-9):.0f} images/s); wrote {outs}",
          file=sys.stdout)
    return 0
