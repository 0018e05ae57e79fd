"""One pass over the Hamming distances of chunks of queries that computes
every metric asked for (:func:`_evaluate`): stable-order AP and
precision@k, tie-averaged ones, and the per-distance counts behind the
precision-recall curve."""

from __future__ import annotations

import numpy as np

from ..distances import hamming_distances
from ._checks import _check_topk
from ._counts import _bucket_counts, _chunks, _n_relevant, _relevance, _stable_order
from ._ties import _harmonic, _tie_average_ap, _tie_average_patk


def _evaluate(q, db, ql, dl, nbits, *, topk=None, normalize="retrieved", ties="stable",
              ks=None, want_ap=True, want_buckets=False):
    nq, n = q.shape[0], db.shape[0]
    k_ap = _check_topk(topk, n)
    ks = np.asarray([] if ks is None else ks, dtype=np.int64)
    need_sort = ties == "stable" and (want_ap or ks.size)
    need_buckets = want_buckets or ties == "average"
    ap = np.zeros(nq) if want_ap else None
    patk = np.zeros((nq, ks.size))
    total_all = np.zeros((nq, nbits + 1), dtype=np.int64) if need_buckets else None
    rel_all = np.zeros((nq, nbits + 1), dtype=np.int64) if need_buckets else None
    n_rel = _n_relevant(ql, dl)
    H = _harmonic(n) if ties == "average" else None
    kmax = max(k_ap if want_ap else 0, int(ks.max()) if ks.size else 0)
    ranks = np.arange(1, kmax + 1, dtype=np.float64)
    for s, e in _chunks(nq, n):
        D = hamming_distances(q[s:e], db, nbits)
        rel = _relevance(ql[s:e], dl)
        if need_buckets:
            total, relc = _bucket_counts(D, rel, nbits)
            if want_buckets:
                total_all[s:e], rel_all[s:e] = total, relc
        if need_sort:
            order = _stable_order(D, nbits)[:, :kmax]
            rel_sorted = np.take_along_axis(rel, order, axis=1)
            del order
            hits = np.cumsum(rel_sorted, axis=1, dtype=np.int32)
            if want_ap:
                rs = rel_sorted[:, :k_ap]
                prec_sum = ((hits[:, :k_ap] / ranks[:k_ap]) * rs).sum(axis=1)
                if normalize == "retrieved":
                    denom = hits[:, k_ap - 1].astype(np.float64)
                else:
                    denom = n_rel[s:e].astype(np.float64)
                ap[s:e] = np.where(denom > 0, prec_sum / np.where(denom > 0, denom, 1), 0)
            if ks.size:
                patk[s:e] = hits[:, ks - 1] / ks
        elif ties == "average":
            if want_ap:
                ap[s:e] = _tie_average_ap(total, relc, n_rel[s:e], k_ap, normalize, H)
            if ks.size:
                patk[s:e] = _tie_average_patk(total, relc, ks)
    return {
        "ap": ap,
        "precision_at_k": patk,
        "bucket_total": total_all,
        "bucket_relevant": rel_all,
        "n_relevant": n_rel,
    }
