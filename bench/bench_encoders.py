"""Training and encoding cost of the shallow hashers: ``python -m bench.bench_encoders``.

Measures, on Fashion-MNIST pixels (scaled to [0, 1], float32):

* ITQ (64 bits, 50 iterations) fit on the 60,000 training images and encode
  of all 70,000 -- target: under 10 s on 2 cores;
* LE-hash (64 bits, 10-NN graph) fit on 20,000 images -- target: under 1 min.

Every figure is printed beside a peer measured in the same run, because the
absolute times on a shared machine are noisy: scikit-learn's ``PCA`` for
ITQ (``svd_solver="covariance_eigh"`` where available, else "full", same
number of components), and for LE-hash scikit-learn's ``NearestNeighbors``
graph on the same points (the part of the fit that does not depend on the
eigen-solver) plus ``SpectralEmbedding`` when ``--spectral-peer`` is given
(slow).

``--quick`` uses a tenth of the data.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from ._common import timed as _timed


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--nbits", type=int, default=64)
    ap.add_argument("--spectral-peer", action="store_true",
                    help="also time sklearn SpectralEmbedding on the LE-hash data (slow)")
    ap.add_argument("--skip-le", action="store_true")
    args = ap.parse_args(argv)

    from hamsearch import datasets
    from hamsearch.encoders import ITQ, LaplacianEigenmapHash

    images, _ = datasets.load("fashion-mnist")
    X = images.reshape(len(images), -1).astype(np.float32) / np.float32(255)
    n_fit, n_enc, n_le = 60000, 70000, 20000
    if args.quick:
        n_fit, n_enc, n_le = 6000, 7000, 2000
    print(f"cpus available: {len(os.sched_getaffinity(0))}, load average: "
          f"{os.getloadavg()[0]:.1f}")

    # ------------------------------------------------------------ ITQ
    from sklearn.decomposition import PCA

    itq = ITQ(nbits=args.nbits, random_state=0)
    _, t_fit = _timed(lambda: itq.fit(X[:n_fit]))
    _, t_enc = _timed(lambda: itq.transform(X[:n_enc]))
    try:
        pca = PCA(n_components=args.nbits, svd_solver="covariance_eigh")
        solver = "covariance_eigh"
        _, t_pca = _timed(lambda: pca.fit(X[:n_fit]))
    except ValueError:
        pca = PCA(n_components=args.nbits, svd_solver="full")
        solver = "full"
        _, t_pca = _timed(lambda: pca.fit(X[:n_fit]))
    _, t_pca_tr = _timed(lambda: pca.transform(X[:n_enc]))
    print(f"ITQ {args.nbits} bits: fit {n_fit} x 784 {t_fit:.2f} s, encode {n_enc} "
          f"{t_enc:.2f} s, total {t_fit + t_enc:.2f} s")
    print(f"  peer sklearn PCA({args.nbits}, {solver}): fit {t_pca:.2f} s, transform "
          f"{t_pca_tr:.2f} s; ITQ fit / PCA fit = {t_fit / t_pca:.2f}")

    if args.skip_le:
        return
    # -------------------------------------------------------- LE-hash
    from sklearn.neighbors import NearestNeighbors

    Xl = X[:n_le]
    le = LaplacianEigenmapHash(nbits=args.nbits, random_state=0)
    _, t_le = _timed(lambda: le.fit(Xl))
    _, t_knn = _timed(lambda: NearestNeighbors(n_neighbors=10).fit(Xl).kneighbors())
    print(f"LE-hash {args.nbits} bits: fit {n_le} x 784 {t_le:.2f} s "
          f"({le.n_components_dropped_} graph component(s))")
    print(f"  peer sklearn 10-NN graph of the same points: {t_knn:.2f} s; "
          f"LE fit / kNN graph = {t_le / t_knn:.2f} (the rest is the eigen-solve)")
    _, t_le_enc = _timed(lambda: le.transform(X[n_le:n_le + 10000]))
    print(f"  out-of-sample encode of 10,000 points: {t_le_enc:.2f} s")
    if args.spectral_peer:
        from sklearn.manifold import SpectralEmbedding

        se = SpectralEmbedding(n_components=args.nbits, affinity="nearest_neighbors",
                               n_neighbors=10, eigen_solver="arpack", random_state=0)
        _, t_se = _timed(lambda: se.fit(Xl))
        print(f"  peer sklearn SpectralEmbedding({args.nbits}): {t_se:.2f} s; "
              f"LE fit / SpectralEmbedding = {t_le / t_se:.2f}")


if __name__ == "__main__":
    main()
