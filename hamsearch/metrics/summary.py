"""Every metric in one pass over the distances (:func:`evaluate`, what
``hamsearch eval`` prints)."""

from __future__ import annotations

import numpy as np

from ._checks import _check_choice, _check_topk, _prepare
from ._engine import _evaluate
from ._ties import _tie_average_from_buckets
from .lookup import _mean_precision, _pr_from_buckets

__all__ = ["evaluate"]


def evaluate(query_codes, db_codes, query_labels, db_labels, *, nbits=None, topk=None,
             ks=(1, 10, 50, 100, 200, 500, 1000), radius=2, normalize="retrieved",
             ties="stable"):
    """All the metrics in one pass over the distances (what ``hamsearch eval`` prints).

    Parameters
    ----------
    query_codes, db_codes, query_labels, db_labels, nbits, topk, normalize, ties
        As in :func:`mean_average_precision`.
    ks : sequence of int
        Cut-offs of the precision@k curve (clipped to the database size).
    radius : int
        Radius of :func:`precision_within_radius`.

    Returns
    -------
    dict with keys
        ``"map"`` (float), ``"precision_at_k"`` (ndarray, one per ``ks``),
        ``"ks"``, ``"precision_within_radius"`` (float), ``"radius"``,
        ``"pr_precision"``, ``"pr_recall"`` (ndarrays over radii 0..nbits;
        precision averaged over the queries that retrieve something, i.e.
        ``empty="skip"`` of :func:`precision_recall_curve`), ``"nbits"``,
        and ``"map_tie_average"`` / ``"precision_at_k_tie_average"``: the
        same mAP and precision@k with ``ties="average"`` whatever ``ties``
        is (from the per-distance counts of the same pass, no second
        ranking), so a caller can print the tie-aware figure beside the
        stable-order one.
    """
    _check_choice(normalize, "normalize", ("retrieved", "relevant"))
    _check_choice(ties, "ties", ("stable", "average"))
    q, db, ql, dl, nbits = _prepare(query_codes, db_codes, query_labels, db_labels, nbits)
    ks = np.unique(np.clip(np.asarray(ks, dtype=np.int64), 1, db.shape[0]))
    res = _evaluate(q, db, ql, dl, nbits, topk=topk, normalize=normalize, ties=ties,
                    ks=ks, want_buckets=True)
    prec, rec = _pr_from_buckets(res["bucket_total"], res["bucket_relevant"],
                                 res["n_relevant"])
    radius = int(radius)
    cum_t = np.cumsum(res["bucket_total"], axis=1)
    if ties == "average":
        ap_tie, patk_tie = res["ap"], res["precision_at_k"]
    else:
        ap_tie, patk_tie = _tie_average_from_buckets(res, _check_topk(topk, db.shape[0]),
                                                     normalize, ks)
    return {
        "map": float(res["ap"].mean()) if res["ap"].size else 0.0,
        "ks": ks,
        "precision_at_k": res["precision_at_k"].mean(axis=0),
        "radius": radius,
        "precision_within_radius": float(prec.mean(axis=0)[min(radius, nbits)]),
        "pr_precision": _mean_precision(prec, cum_t, "skip"),
        "pr_recall": rec.mean(axis=0),
        "nbits": nbits,
        "map_tie_average": float(ap_tie.mean()) if ap_tie.size else 0.0,
        "precision_at_k_tie_average": patk_tie.mean(axis=0),
    }
