"""Hash-lookup metrics: precision and recall of Hamming-ball retrieval at
every radius (the precision-recall curve) and the precision within one
radius."""

from __future__ import annotations

import numbers

import numpy as np

from ._checks import _check_choice, _prepare
from ._engine import _evaluate

__all__ = ["precision_recall_curve", "precision_within_radius"]


def _pr_from_buckets(total, relc, n_rel):
    cum_t = np.cumsum(total, axis=1)
    cum_r = np.cumsum(relc, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        prec = np.where(cum_t > 0, cum_r / np.maximum(cum_t, 1), 0.0)
        rec = np.where(n_rel[:, None] > 0, cum_r / np.maximum(n_rel[:, None], 1), 0.0)
    return prec, rec


def _mean_precision(prec, cum_t, empty):
    if empty == "zero":
        return prec.mean(axis=0)
    has = cum_t > 0
    cnt = has.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(cnt > 0, (prec * has).sum(axis=0) / np.maximum(cnt, 1), np.nan)


def precision_recall_curve(query_codes, db_codes, query_labels, db_labels, *, nbits=None,
                           empty="zero"):
    """Precision and recall of Hamming-ball retrieval at every radius.

    For radius ``r = 0 .. nbits`` every item with distance ``<= r`` is
    retrieved; precision and recall are computed per query and averaged over
    queries (a query with no relevant item in the database has recall 0).
    This is the precision-recall curve that the hashing papers plot: it does
    not depend on how ties are ordered.

    Parameters
    ----------
    query_codes, db_codes, query_labels, db_labels, nbits
        As in :func:`mean_average_precision`.
    empty : {"zero", "skip"}, default="zero"
        A query that retrieves nothing at a radius counts as precision 0
        (``"zero"``, as :func:`precision_within_radius`), or is left out of
        that radius's average (``"skip"``; what ``hamsearch eval`` plots;
        NaN at radii where no query retrieves anything).

    Returns
    -------
    precision : ndarray of shape (nbits + 1,)
    recall : ndarray of shape (nbits + 1,)
        Non-decreasing; 1 at ``r = nbits`` for queries with relevant items.
    radii : ndarray of int, shape (nbits + 1,)
    """
    _check_choice(empty, "empty", ("zero", "skip"))
    q, db, ql, dl, nbits = _prepare(query_codes, db_codes, query_labels, db_labels, nbits)
    res = _evaluate(q, db, ql, dl, nbits, want_ap=False, want_buckets=True)
    prec, rec = _pr_from_buckets(res["bucket_total"], res["bucket_relevant"],
                                 res["n_relevant"])
    cum_t = np.cumsum(res["bucket_total"], axis=1)
    return _mean_precision(prec, cum_t, empty), rec.mean(axis=0), np.arange(nbits + 1)


def precision_within_radius(query_codes, db_codes, query_labels, db_labels, r=2, *,
                            nbits=None):
    """Mean precision of the items within Hamming distance ``r`` (inclusive).

    A query that retrieves nothing within ``r`` counts as precision 0.

    Returns
    -------
    float
    """
    if isinstance(r, bool) or not isinstance(r, numbers.Integral) or r < 0:
        raise ValueError(f"r must be a non-negative int, got {r!r}")
    prec, _, _ = precision_recall_curve(query_codes, db_codes, query_labels, db_labels,
                                        nbits=nbits)
    return float(prec[min(int(r), len(prec) - 1)])
