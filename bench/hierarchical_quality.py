"""Hierarchical search vs Hamming ranking alone, on learned codes (Fashion-MNIST).

``python -m bench.hierarchical_quality`` -- Lin et al. (2015) compare
"Ours-BCS" (rank by Hamming distance of the binary codes) with "Ours-HDS"
(hierarchical deep search: Hamming pool, then L2 re-rank on the float
features).  Here the features are the 784 pixel intensities (float32), the
codes are PCA-ITQ codes learned on the database, queries are the standard
100 per class, and precision@k is the fraction of the k returned images
with the query's class.  Exhaustive L2 on the features is printed as the
ceiling, with the time of each method per query (1 thread).
``--dataset digits`` runs on scikit-learn's bundled digits instead.
"""

from __future__ import annotations

import argparse

import numpy as np

from ._common import print_table
from ._common import timed as _timed


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--nbits", type=int, default=64)
    p.add_argument("--k", default="10,100")
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--pool-sizes", default="200,1000")
    p.add_argument("--fit-sample", type=int, default=20000,
                   help="database items used to fit ITQ (default 20000)")
    args = p.parse_args(argv)

    import hamsearch
    from hamsearch.datasets import load, query_split
    from hamsearch.encoders import ITQ

    hamsearch.set_num_threads(1)
    images, labels = load(args.dataset)
    X = images.reshape(len(images), -1).astype(np.float32) / np.float32(images.max())
    qi, di = query_split(labels, per_class=args.per_class, random_state=0)
    rng = np.random.default_rng(0)
    fit = di if len(di) <= args.fit_sample else rng.choice(di, args.fit_sample, replace=False)
    itq = ITQ(nbits=args.nbits, random_state=0).fit(X[fit])
    index = hamsearch.Index(args.nbits)
    index.add(itq.transform(X[di]), features=X[di])
    Q, QX = itq.transform(X[qi]), X[qi]
    ks = [int(v) for v in args.k.split(",")]
    kmax = max(ks)
    ql, dl = labels[qi][:, None], labels[di]

    def prec(I, k):
        return float(np.mean(dl[I[:, :k]] == ql))

    def timed(fn):
        out, seconds = _timed(fn)
        return out, seconds / len(qi)

    rows = []
    (_, I), t = timed(lambda: index.search(Q, kmax))
    rows.append(("Hamming ranking (BCS; ties by id)", I, t))
    (_, I), t = timed(lambda: index.search(Q, kmax, query_features=QX, rerank="bucket"))
    rows.append(("Hamming, ties re-ranked by L2 (bucket)", I, t))
    for m in [int(v) for v in args.pool_sizes.split(",")]:
        (_, I), t = timed(lambda m=m: index.search(Q, kmax, query_features=QX, pool_size=m))
        rows.append((f"hierarchical (HDS), pool_size={m}", I, t))
    (_, I), t = timed(lambda: index.search(Q, kmax, query_features=QX, pool_radius=args.nbits))
    rows.append(("exhaustive L2 on the features", I, t))

    print(f"{args.dataset}: {len(di):,} database, {len(qi):,} queries, {X.shape[1]}-d features, "
          f"{args.nbits}-bit PCA-ITQ codes, backend {hamsearch.backend()}, 1 thread")
    print_table(["method"] + [f"P@{k}" for k in ks] + ["ms/query"],
                [[name] + [f"{prec(I, k):.4f}" for k in ks] + [f"{t * 1e3:.3f}"]
                 for name, I, t in rows], align="lr")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
