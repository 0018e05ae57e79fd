"""Cost of the evaluation metrics: ``python -m bench.bench_metrics``.

mAP (whole ranking, stable ties) of 1,000 queries against a 69,000-item
database of 64-bit codes -- the Fashion-MNIST / MNIST protocol size -- with
``hamsearch.metrics.mean_average_precision`` and, as the peer in the same
run, a direct numpy version (distances with ``np.bitwise_count`` on uint64
words, ``np.argsort(kind="stable")`` on int32, cumulative sums), which gives
the same number.
"""

from __future__ import annotations

import argparse

import numpy as np

from ._common import timed


def numpy_map(q, db, ql, dl, chunk=100):
    qw = q.view(np.uint64)
    dw = db.view(np.uint64)
    aps = []
    for s in range(0, len(q), chunk):
        D = np.bitwise_count(qw[s:s + chunk, None, :] ^ dw[None, :, :]).sum(-1, dtype=np.int32)
        order = np.argsort(D, axis=1, kind="stable")
        rel = dl[order] == ql[s:s + chunk, None]
        hits = np.cumsum(rel, axis=1)
        prec = hits / np.arange(1, D.shape[1] + 1)
        n = rel.sum(1)
        aps.append(np.where(n > 0, (prec * rel).sum(1) / np.maximum(n, 1), 0))
    return float(np.concatenate(aps).mean())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--ndb", type=int, default=69000)
    ap.add_argument("--nbits", type=int, default=64)
    args = ap.parse_args(argv)

    from hamsearch.metrics import mean_average_precision
    from hamsearch.synthetic import clustered_codes

    codes, _, y = clustered_codes(args.nq + args.ndb, args.nbits, ncenters=10, flip=0.3,
                                  seed=0, labels="balanced", return_labels=True)
    q, db, ql, dl = codes[: args.nq], codes[args.nq:], y[: args.nq], y[args.nq:]
    mean_average_precision(q[:10], db, ql[:10], dl)  # warm-up (kernel load)
    ours, t_ours = timed(lambda: mean_average_precision(q, db, ql, dl))
    peer, t_peer = timed(lambda: numpy_map(q, db, ql, dl))
    print(f"mAP {args.nq} queries x {args.ndb} db, {args.nbits} bits: hamsearch {t_ours:.2f} s "
          f"(mAP {ours:.6f}); numpy peer {t_peer:.2f} s (mAP {peer:.6f}); "
          f"speed-up {t_peer / t_ours:.1f}x")
    assert abs(ours - peer) < 1e-9


if __name__ == "__main__":
    main()
