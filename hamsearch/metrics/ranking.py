"""Ranking metrics of Hamming ranking: mean average precision (mAP, mAP@k)
and precision@k."""

from __future__ import annotations

import numpy as np

from ._checks import _check_choice, _check_ks, _prepare
from ._engine import _evaluate

__all__ = ["mean_average_precision", "precision_at_k"]


def mean_average_precision(query_codes, db_codes, query_labels, db_labels, topk=None, *,
                           nbits=None, normalize="retrieved", ties="stable",
                           per_query=False):
    """Mean average precision of Hamming ranking.

    For each query the database is ranked by Hamming distance (ties by
    database position, or averaged, see ``ties``) and

        ``AP = (1 / Z) * sum_{i <= topk} P(i) * rel(i)``

    with ``P(i)`` the precision of the first ``i`` results.  The mean over
    queries is returned.

    Parameters
    ----------
    query_codes, db_codes : array_like
        Codes in any accepted layout, ``(nq, ...)`` and ``(n, ...)``.
    query_labels, db_labels : array_like
        1-D integer class labels, or 2-D multi-hot (relevant = any shared label).
    topk : int, optional
        Score only the first ``topk`` results (mAP@k); ``None`` ranks the
        whole database.
    nbits : int, optional
        Code length; inferred from packed uint8 / bool codes.
    normalize : {"retrieved", "relevant"}, default="retrieved"
        The normaliser ``Z`` of mAP@k.  ``"retrieved"``: the number of
        relevant items inside the top k (as the caffe-cvprw15 evaluation
        code of Lin et al. does); ``"relevant"``: the number of relevant
        items in the whole database.  Identical when ``topk`` is None.
    ties : {"stable", "average"}, default="stable"
        ``"stable"``: equal distances are ranked by database position.
        ``"average"``: the expected AP over all orders of tied items (exact
        for the whole ranking and for ``normalize="relevant"``; for mAP@k
        with ``normalize="retrieved"`` the expected sum of precisions is
        divided by the expected number of relevant items in the top k).
    per_query : bool, default=False
        Return the array of per-query APs instead of their mean.

    Returns
    -------
    float, or ndarray of shape (nq,) when ``per_query``

    Examples
    --------
    >>> import numpy as np
    >>> from hamsearch.metrics import mean_average_precision
    >>> q = np.array([[0b0000]], dtype=np.uint8)
    >>> db = np.array([[0b0001], [0b0011], [0b0111]], dtype=np.uint8)
    >>> # ranking: item 0 (d=1, relevant), 1 (d=2, not), 2 (d=3, relevant)
    >>> mean_average_precision(q, db, [1], [1, 0, 1])   # (1/1 + 2/3) / 2
    0.8333333333333333
    """
    _check_choice(normalize, "normalize", ("retrieved", "relevant"))
    _check_choice(ties, "ties", ("stable", "average"))
    q, db, ql, dl, nbits = _prepare(query_codes, db_codes, query_labels, db_labels, nbits)
    res = _evaluate(q, db, ql, dl, nbits, topk=topk, normalize=normalize, ties=ties)
    ap = res["ap"]
    if per_query:
        return ap
    return float(ap.mean()) if ap.size else 0.0


def precision_at_k(query_codes, db_codes, query_labels, db_labels, k=(1, 10, 100, 1000), *,
                   nbits=None, ties="stable"):
    """Mean precision of the first ``k`` results of Hamming ranking.

    Parameters
    ----------
    query_codes, db_codes, query_labels, db_labels, nbits
        As in :func:`mean_average_precision`.
    k : int or sequence of int
        Cut-offs, each in ``1..n_db``.
    ties : {"stable", "average"}, default="stable"

    Returns
    -------
    float if ``k`` is an int, else ndarray of shape (len(k),)
        Precision averaged over queries, one value per cut-off.
    """
    _check_choice(ties, "ties", ("stable", "average"))
    q, db, ql, dl, nbits = _prepare(query_codes, db_codes, query_labels, db_labels, nbits)
    ks = _check_ks(k, db.shape[0])
    res = _evaluate(q, db, ql, dl, nbits, ks=ks, want_ap=False, ties=ties)
    out = res["precision_at_k"].mean(axis=0)
    return float(out[0]) if np.ndim(k) == 0 else out
