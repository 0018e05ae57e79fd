"""Retrieval metrics of binary codes by Hamming ranking.

Every function here ranks the whole database for each query by Hamming
distance, computed with the engine's kernels
(:func:`hamsearch.hamming_distances`) in chunks of queries, and scores the
ranking against class labels.

Conventions (the same in every function):

* **Relevance**: with 1-D integer labels, a database item is relevant to a
  query when the labels are equal; with 2-D multi-hot labels
  ``(n, n_classes)`` (multi-label data), when they share at least one label.
* **Ties**: items at the same Hamming distance are ranked by their position
  in the database (a stable sort by distance; ``ties="stable"``).  Functions
  that take ``ties="average"`` instead return the expectation over all
  orders of the tied items (McSherry & Najork's tie-aware measures), which
  does not depend on the database order.
* **Empty cases**: a query with no relevant item in the ranked list it is
  scored on has average precision 0; a query that retrieves nothing within a
  Hamming radius has precision 0 at that radius (the convention of the
  spectral-hashing and ITQ papers).
* **Codes** may be in any layout :mod:`hamsearch.codes` accepts; ``nbits`` is
  inferred from packed ``uint8`` (``8 * width``) or bool codes and must be
  given otherwise.
"""

from __future__ import annotations

import numbers

import numpy as np

from .codes import as_words
from .distances import hamming_distances, infer_nbits

__all__ = [
    "mean_average_precision",
    "precision_at_k",
    "precision_recall_curve",
    "precision_within_radius",
    "evaluate",
]

#: Target number of (query, database item) pairs held in memory per chunk.
_CHUNK_PAIRS = 1 << 23


# ---------------------------------------------------------------- validation
def _check_labels(labels, n, name):
    arr = np.asarray(labels)
    if arr.dtype.kind not in "biu":
        if arr.dtype.kind == "f" and arr.size and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"{name} must be integer class labels or 0/1 multi-hot, "
                            f"got dtype {arr.dtype}")
    if arr.ndim not in (1, 2):
        raise ValueError(
            f"{name} must be 1-D class labels (n,) or 2-D multi-hot (n, n_classes); "
            f"got shape {arr.shape}"
        )
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} rows but the codes have {n}")
    return arr


def _prepare(query_codes, db_codes, query_labels, db_labels, nbits):
    for name, c in (("query_codes", query_codes), ("db_codes", db_codes)):
        dt = np.asarray(c).dtype
        if dt.kind not in "biu":
            raise TypeError(
                f"{name} must be binary codes (packed uint8/uint64 or unpacked 0/1), "
                f"got dtype {dt}"
            )
    nbits = infer_nbits(query_codes, nbits)
    q = as_words(query_codes, nbits, "query_codes")
    db = as_words(db_codes, nbits, "db_codes")
    ql = _check_labels(query_labels, q.shape[0], "query_labels")
    dl = _check_labels(db_labels, db.shape[0], "db_labels")
    if ql.ndim != dl.ndim or (ql.ndim == 2 and ql.shape[1] != dl.shape[1]):
        raise ValueError(
            f"query_labels {ql.shape} and db_labels {dl.shape} must both be 1-D "
            "class labels or both multi-hot with the same number of classes"
        )
    if ql.ndim == 2:
        ql = (ql != 0).astype(np.float32)
        dl = (dl != 0).astype(np.float32)
    if db.shape[0] == 0:
        raise ValueError("db_codes is empty")
    return q, db, ql, dl, nbits


def _relevance(ql_chunk, dl):
    if ql_chunk.ndim == 1:
        return ql_chunk[:, None] == dl[None, :]
    return (ql_chunk @ dl.T) > 0


def _n_relevant(ql, dl):
    """Number of relevant database items per query."""
    if ql.ndim == 1:
        values, counts = np.unique(dl, return_counts=True)
        pos = np.searchsorted(values, ql)
        pos = np.clip(pos, 0, len(values) - 1)
        return np.where(values[pos] == ql, counts[pos], 0).astype(np.int64)
    out = np.empty(ql.shape[0], dtype=np.int64)
    step = max(1, _CHUNK_PAIRS // max(dl.shape[0], 1))
    for s in range(0, ql.shape[0], step):
        out[s : s + step] = _relevance(ql[s : s + step], dl).sum(axis=1)
    return out


def _check_topk(topk, n):
    if topk is None:
        return n
    if isinstance(topk, bool) or not isinstance(topk, numbers.Integral) or topk < 1:
        raise ValueError(f"topk must be a positive int or None, got {topk!r}")
    return min(int(topk), n)


def _check_choice(value, name, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def _chunks(nq, n):
    step = max(1, _CHUNK_PAIRS // max(n, 1))
    for s in range(0, nq, step):
        yield s, min(nq, s + step)


def _stable_order(D, nbits):
    """Row-wise stable argsort of small-integer distances (radix sort)."""
    small = D.astype(np.uint8 if nbits < 256 else np.uint16)
    return np.argsort(small, axis=1, kind="stable")


def _bucket_counts(D, rel, nbits):
    """Per query: number of items and of relevant items at each distance."""
    nb = nbits + 1
    cq = D.shape[0]
    flat = (D + (np.arange(cq, dtype=np.int64) * nb)[:, None]).ravel()
    total = np.bincount(flat, minlength=cq * nb).reshape(cq, nb)
    relc = np.bincount(flat[rel.ravel()], minlength=cq * nb).reshape(cq, nb)
    return total, relc


# ------------------------------------------------------ tie-aware formulas
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


# -------------------------------------------------------------- the engine
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


def _check_ks(k, n):
    ks = np.atleast_1d(np.asarray(k))
    if ks.dtype.kind not in "iu" or ks.ndim != 1 or ks.size == 0:
        raise ValueError(f"k must be a positive int or a 1-D sequence of them, got {k!r}")
    if (ks < 1).any() or (ks > n).any():
        raise ValueError(f"every k must be in 1..{n} (the database size), got {k!r}")
    return ks.astype(np.int64)


# ------------------------------------------------------------- public API
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


def _tie_average_from_buckets(res: dict, topk: int, normalize: str,
                              ks: np.ndarray) -> tuple:
    """Per-query tie-averaged AP and precision@k from :func:`_evaluate`'s bucket counts."""
    total, relc = res["bucket_total"], res["bucket_relevant"]
    n = int(total[0].sum()) if total.shape[0] else 0
    ap = _tie_average_ap(total, relc, res["n_relevant"], topk, normalize, _harmonic(n))
    patk = _tie_average_patk(total, relc, ks) if ks.size else np.zeros((total.shape[0], 0))
    return ap, patk
