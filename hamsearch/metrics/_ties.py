"""Tie-aware formulas (McSherry & Najork): the expected AP and precision@k
over all orders of the items at equal Hamming distance, from per-distance
counts of items and relevant items."""

from __future__ import annotations

import numpy as np


def _harmonic(n):
    """H[i] = sum_{j=1..i} 1/j for i = 0..n."""
    h = np.zeros(n + 1)
    h[1:] = np.cumsum(1.0 / np.arange(1, n + 1))
    return h


def _tie_average_ap(total, relc, n_rel, topk, normalize, H):
    """Expected AP over random orders within each distance bucket.

    For a bucket of ``t`` items with ``r`` relevant, preceded by ``N`` items
    of which ``R`` are relevant, position ``p`` (1-based inside the bucket)
    holds a relevant item with probability ``r / t``, and given that, the
    expected number of relevant items up to it is
    ``R + 1 + (p - 1)(r - 1)/(t - 1)``.  Summing precision over the first
    ``t'`` positions gives a closed form in harmonic numbers.
    """
    before = np.cumsum(total, axis=1) - total  # N per bucket
    rel_before = np.cumsum(relc, axis=1) - relc  # R per bucket
    t = total.astype(np.float64)
    r = relc.astype(np.float64)
    counted = np.clip(topk - before, 0, total)  # positions inside the top k
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.where(total > 1, (r - 1) / np.maximum(t - 1, 1), 0.0)
        a = rel_before + 1.0
        hsum = H[before + counted] - H[before]
        inner = b * counted + (a - b * (1.0 + before)) * hsum
        contrib = np.where(total > 0, r / np.maximum(t, 1) * inner, 0.0)
        contrib = np.where(counted > 0, contrib, 0.0)
    s = contrib.sum(axis=1)
    if normalize == "retrieved":
        # expected number of relevant items inside the top k
        denom = np.where(total > 0, r * counted / np.maximum(t, 1), 0.0).sum(axis=1)
    else:
        denom = n_rel.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, s / np.where(denom > 0, denom, 1.0), 0.0)


def _tie_average_patk(total, relc, ks):
    """Expected precision at each k over random orders within buckets."""
    cum_t = np.cumsum(total, axis=1)
    cum_r = np.cumsum(relc, axis=1)
    out = np.empty((total.shape[0], len(ks)))
    rows = np.arange(total.shape[0])
    for j, k in enumerate(ks):
        # bucket where the k-th item falls
        b = np.argmax(cum_t >= k, axis=1)
        before = cum_t[rows, b] - total[rows, b]
        rb = cum_r[rows, b] - relc[rows, b]
        frac = (k - before) / np.maximum(total[rows, b], 1)
        out[:, j] = (rb + relc[rows, b] * frac) / k
    return out


def _tie_average_from_buckets(res: dict, topk: int, normalize: str,
                              ks: np.ndarray) -> tuple:
    """Per-query tie-averaged AP and precision@k from :func:`_evaluate`'s bucket counts."""
    total, relc = res["bucket_total"], res["bucket_relevant"]
    n = int(total[0].sum()) if total.shape[0] else 0
    ap = _tie_average_ap(total, relc, res["n_relevant"], topk, normalize, _harmonic(n))
    patk = _tie_average_patk(total, relc, ks) if ks.size else np.zeros((total.shape[0], 0))
    return ap, patk
