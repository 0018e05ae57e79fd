"""Hierarchical search: a Hamming candidate pool, re-ranked on float features.

Lin et al., *Deep Learning of Binary Hash Codes for Fast Image Retrieval*
(CVPRW 2015, section 3.2) retrieve in two steps: a coarse pool of the
images whose binary codes are close to the query's in Hamming space, then a
fine ranking of that pool by the Euclidean distance between their float
features (the 4096-d F7 layer).  :func:`hierarchical_search` does both over
an :class:`~hamsearch.Index` that stores features (``index.add(codes,
features=X)``); :meth:`Index.search` calls it when given
``query_features=``.

The pool (per query)
    * ``pool_radius=r``: every code within Hamming distance ``r``
      (inclusive), as :meth:`Index.range_search` returns it.
    * ``pool_size=m``: the ``m`` nearest codes by Hamming distance.  Ties at
      the boundary: with ``ties="include"`` (the default) every code at the
      ``m``-th smallest distance is in the pool too, so the pool may exceed
      ``m`` and does not depend on how ids are numbered; with
      ``ties="cut"`` exactly ``m`` codes are kept, the boundary ties by
      ascending id (the order of :meth:`Index.search`).
    * ``rerank="bucket"`` needs neither: the pool is then every code up to
      the ``k``-th smallest Hamming distance, ties included.

Fewer than ``k`` in the pool
    ``fill="grow"`` (default): the radius grows until the pool holds ``k``
    codes (or the whole index) -- exactly the pool of the smallest radius
    that has ``k`` codes, ties included.  ``fill="none"``: fewer results
    are returned, padded with id ``-1``.

The ranking
    * ``rerank="pool"`` (default): by feature score, ties by ascending id.
    * ``rerank="bucket"``: by Hamming distance first, then feature score
      within each Hamming bucket, then id -- the "re-rank within ties"
      protocol used to break the many ties of short codes.

    ``metric="l2"`` scores by *squared* Euclidean distance (like
    ``faiss.IndexFlatL2``; the order is that of the Euclidean distance),
    ascending; ``metric="ip"`` by inner product, descending.  The scores are
    float32 sums (SIMD order), so they can differ from a float64 reference
    in the last bits, and exact-score ties are broken by id.

Pools come from the index's own Hamming search: the multi-index tables
when its method picks them (``method="mih"``, or ``"auto"`` when they are
cheaper), else the flat scan -- the same pools either way.

The re-rank kernel (``csrc/rerank.c``, Numba twin ``hamsearch._numba.rerank``)
gathers each candidate's feature row, scores it (AVX2/FMA, float16 rows
widened with F16C) and keeps the top ``k`` in a heap; threads take queries.
Features may be memory-mapped: only the candidates' rows are read.

This module is the search path (validate, build the pools, re-rank, merge);
the pools are built in :mod:`hamsearch.rerank_pools`, the options are named
and checked in :mod:`hamsearch.rerank_options`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from ._backend import PAD_DISTANCE, get_num_threads, kernels
from .features import as_query_features
from .index import _padded
from .rerank_options import (METRICS, RERANK_MODES, _check_choice, check_hierarchical,
                             check_query_features)
from .rerank_pools import _Pool, _PoolBuilder, _SegmentPools
from .results import Fill, Metric, RerankMode, RerankResult, SearchResult, Ties

if TYPE_CHECKING:
    from .filters import IdFilter
    from .index import Index
from .segment import add_base

__all__ = ["hierarchical_search", "rerank_pool", "rerank_radii", "check_hierarchical",
           "METRICS", "RERANK_MODES"]


def _rerank_kernels():
    """The live backend's re-rank kernels (every backend has them: see
    :mod:`hamsearch._kernels`)."""
    return kernels()


def _merge_reranked(parts, k: int, metric: str, order: int):
    """Merge per-segment re-rank results ``(D, I, H)`` into the ``k`` best:
    by (score, id), or (hamming, score, id) for the bucket order."""
    if len(parts) == 1:
        return parts[0]
    D = np.concatenate([p[0] for p in parts], axis=1)
    I = np.concatenate([p[1] for p in parts], axis=1)
    H = np.concatenate([p[2] for p in parts], axis=1)
    score = -D if metric == "ip" else D
    keys = (I.view(np.uint64), score) + ((H,) if order == RERANK_MODES["bucket"] else ())
    pick = np.lexsort(keys, axis=1)[:, :k]
    return tuple(np.take_along_axis(a, pick, 1) for a in (D, I, H))


# ------------------------------------------------------------------ search
def hierarchical_search(index: Index, queries: ArrayLike, k: int, query_features: ArrayLike, *,
                        pool_radius: int | None = None, pool_size: int | None = None,
                        metric: Metric = "l2", rerank: RerankMode = "pool", fill: Fill = "grow",
                        ties: Ties = "include", return_hamming: bool = False,
                        filter: IdFilter | None = None) -> SearchResult | RerankResult:
    """Coarse Hamming pool, then exact re-rank on the stored float features.

    Parameters
    ----------
    index : hamsearch.Index
        An index whose codes were added with ``features=``.
    queries : array_like
        Query codes, any accepted layout.
    k : int
        Results per query.
    query_features : array_like of float, shape (nq, d)
        The queries' float features (float16/32/64, finite).
    pool_radius : int, optional
        Pool = codes within this Hamming distance (inclusive).
    pool_size : int, optional
        Pool = the ``pool_size`` nearest codes (boundary ties: see ``ties``).
        Give ``pool_radius`` or ``pool_size`` (not both); ``rerank="bucket"``
        needs neither.
    metric : {"l2", "ip"}
        Squared Euclidean distance (ascending) or inner product (descending).
    rerank : {"pool", "bucket"}
        Order by feature score, or by Hamming distance then feature score.
    fill : {"grow", "none"}
        When a pool holds fewer than ``k`` codes: grow the radius until it
        holds ``k``, or return fewer (padded).
    ties : {"include", "cut"}
        ``pool_size`` boundary: keep every code tied with the ``m``-th, or
        exactly ``m`` codes with the boundary ties cut by ascending id.
    return_hamming : bool
        Return a :class:`~hamsearch.results.RerankResult` (with the Hamming
        distance of every result) instead of a
        :class:`~hamsearch.results.SearchResult`; prefer
        :meth:`hamsearch.Index.hierarchical_search`, which always does.
    filter : hamsearch.IdFilter, optional
        Pools (and so results) hold only admitted ids.

    Returns
    -------
    SearchResult or RerankResult
        ``(distances, ids)``, or ``(distances, ids, hamming)`` with
        ``return_hamming=True``: float32 squared L2 distances (ascending;
        ``+inf`` pads) or inner products (descending; ``-inf`` pads), int64
        ids (``-1`` pads), int32 Hamming distances (``PAD_DISTANCE`` pads).

    Examples
    --------
    >>> import numpy as np, hamsearch
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((1000, 32)).astype(np.float32)
    >>> codes = hamsearch.pack(X @ rng.standard_normal((32, 64)) > 0)
    >>> index = hamsearch.Index(64)
    >>> index.add(codes, features=X)
    >>> D, I = index.search(codes[:3], 5, query_features=X[:3], pool_radius=8)
    >>> I[:, 0].tolist()
    [0, 1, 2]
    """
    args = check_hierarchical(index.nbits, queries, k, query_features, pool_radius, pool_size,
                              metric, rerank, fill, ties, filter)
    res = rerank_snapshot(index.snapshot(), index.planner, *args)
    return res if return_hamming else SearchResult(res.distances, res.ids)



def _pool_builders(snap, planner, flt, nthreads):
    """One :class:`_PoolBuilder` per segment view with admitted live rows."""
    builders = []
    for view in snap.views:
        if not view.live:
            continue
        sel = view.selection(flt)
        if (view.live if sel is None else sel.admitted):
            builders.append(_PoolBuilder(view, kernels(), nthreads, planner, sel))
    return builders


def _empty_reranked(nq: int, k: int, metric: str, n: int):
    """The result of a hierarchical search with empty pools: all padding
    (``n``: the index's size, for the error message of an impossible ``k``)."""
    fill = np.float32(-np.inf if metric == "ip" else np.inf)
    return (_padded(nq, k, n, np.float32, fill), _padded(nq, k, n, np.int64, -1),
            _padded(nq, k, n, np.int32, PAD_DISTANCE))


def _rerank_builders(builders, pools, rk, qf, k, mcode, order, nthreads, n, metric):
    """Re-rank each segment's pool and merge: ``(D, I, H)``."""
    parts = []
    for b, pool in zip(builders, pools):
        D, I, H = _rerank_padded(rk, b.view.features, qf, pool, b.kids, k, mcode, order,
                                 nthreads, n, True, metric)
        parts.append((D, add_base(I, b.base), H))
    return _merge_reranked(parts, k, metric, order)


def rerank_snapshot(snap, planner, q, k, query_features, pool_radius, pool_size, mode, mcode,
                    metric, fill, ties, flt) -> RerankResult:
    """Hierarchical search over one snapshot with checked arguments: pools
    from each segment's searcher (``planner``), re-ranked, merged."""
    qf = check_query_features(snap.features_enabled, snap.features_d,
                              any(v.live for v in snap.views), query_features, q.shape[0])
    rk = _rerank_kernels()
    nthreads = get_num_threads()
    builders = _pool_builders(snap, planner, flt, nthreads)
    order = RERANK_MODES[mode]
    if not builders:
        return RerankResult(*_empty_reranked(q.shape[0], k, metric, snap.live))
    pools = _SegmentPools(builders).build(q, min(k, sum(b.n for b in builders)), pool_radius,
                                          pool_size, fill, ties)
    return RerankResult(*_rerank_builders(builders, pools, rk, qf, k, mcode, order, nthreads,
                                          snap.live, metric))


def rerank_radii(snap, planner, q, k: int, qf, radii, cut_ids, mode: str, metric: str, flt):
    """Hierarchical search with the pools given: query ``i``'s pool is every
    admitted code within Hamming distance ``radii[i]`` -- and, when
    ``cut_ids`` is given, at distance ``radii[i]`` only those with id
    ``<= cut_ids[i]`` (a ``ties="cut"`` boundary).  ``qf`` is checked
    float32.  Returns ``(D, I, H)`` (the ``k`` best, padded).

    The pool decisions of :func:`hierarchical_search` (the ``m``-th
    distance, ``fill``, the boundary) need the whole index; a shard of a
    :class:`hamsearch.distributed.ShardedIndex` gets them from the driver
    and runs this."""
    nq = q.shape[0]
    nthreads = get_num_threads()
    builders = _pool_builders(snap, planner, flt, nthreads)
    if not builders:
        return _empty_reranked(nq, k, metric, snap.live)
    radii = np.asarray(radii, dtype=np.int64)
    pools = _SegmentPools(builders).range_per_query(q, radii)
    if cut_ids is not None:
        cut_ids = np.asarray(cut_ids, dtype=np.int64)
        trimmed = []
        for b, p in zip(builders, pools):
            qrow = np.repeat(np.arange(nq, dtype=np.int64), p.counts())
            keep = (p.ham < radii[qrow]) | (b.view.seg.ids_at(p.pos) <= cut_ids[qrow])
            c = np.bincount(qrow[keep], minlength=nq)
            lims = np.zeros(nq + 1, dtype=np.int64)
            np.cumsum(c, out=lims[1:])
            trimmed.append(_Pool(lims, p.ham[keep], p.pos[keep]))
        pools = trimmed
    return _rerank_builders(builders, pools, _rerank_kernels(), qf, k, METRICS[metric],
                            RERANK_MODES[mode], nthreads, snap.live, metric)


def admitted_count(snap, flt) -> int:
    """Live codes a search with filter ``flt`` may return."""
    total = 0
    for view in snap.views:
        if view.live:
            sel = view.selection(flt)
            total += view.live if sel is None else sel.admitted
    return int(total)


def _rerank_padded(rk, feats, qf, pool, ids, k, mcode, order, nthreads, n, return_hamming,
                   metric):
    """Run the re-rank kernel with ``k`` capped at the largest pool, then pad
    the results to ``k`` columns (no ``nq x k`` work buffers for a huge k)."""
    counts = pool.counts()
    keff = max(1, min(int(k), int(counts.max()) if counts.size else 0))
    D, I, H = rk.rerank(feats, qf, pool.lims, pool.pos, ids, pool.ham, keff, mcode, order,
                        nthreads)
    if keff < k:
        nq = I.shape[0]
        d_fill = np.float32(-np.inf if metric == "ip" else np.inf)
        outD = _padded(nq, k, n, np.float32, d_fill)
        outI = _padded(nq, k, n, np.int64, -1)
        outH = _padded(nq, k, n, np.int32, PAD_DISTANCE)
        outD[:, :keff], outI[:, :keff], outH[:, :keff] = D, I, H
        D, I, H = outD, outI, outH
    return (D, I, H) if return_hamming else (D, I)


def rerank_pool(features: ArrayLike, query_features: ArrayLike, lims: ArrayLike,
                candidates: ArrayLike, k: int, *, metric: Metric = "l2",
                hamming: ArrayLike | None = None, rerank: RerankMode = "pool",
                ids: ArrayLike | None = None) -> RerankResult:
    """Re-rank user-supplied candidate pools (e.g. from :meth:`Index.range_search`).

    Parameters
    ----------
    features : ndarray of float32 or float16, shape (n, d)
        Feature rows; ``candidates`` index its rows.
    query_features : array_like of float, shape (nq, d)
    lims : array_like of int, shape (nq + 1,)
        CSR bounds: query ``i``'s candidates are ``candidates[lims[i]:lims[i+1]]``.
    candidates : array_like of int
        Row numbers into ``features``.
    k : int
    metric : {"l2", "ip"}
    hamming : array_like of int, optional
        Hamming distance of each candidate (needed by ``rerank="bucket"``;
        returned as ``H``).
    rerank : {"pool", "bucket"}
    ids : array_like of int, shape (n,), optional
        Id of each feature row (default: the row number).

    Returns
    -------
    RerankResult
        ``(distances, ids, hamming)`` as :meth:`hamsearch.Index.hierarchical_search`;
        ``ids`` holds ``ids[row]``.
    """
    feats = np.asarray(features)
    if feats.ndim != 2 or feats.dtype not in (np.float32, np.float16):
        raise TypeError(f"features must be float32 or float16 (n, d), got {feats.dtype} {feats.shape}")
    feats = np.ascontiguousarray(feats)
    n, d = feats.shape
    lims = np.ascontiguousarray(lims, dtype=np.int64)
    if lims.ndim != 1 or lims.shape[0] < 1 or lims[0] != 0 or (np.diff(lims) < 0).any():
        raise ValueError("lims must be a non-decreasing 1-D int array starting at 0")
    nq = lims.shape[0] - 1
    cand = np.ascontiguousarray(candidates, dtype=np.int64)
    if cand.shape != (int(lims[-1]),):
        raise ValueError(f"candidates must have shape ({int(lims[-1])},), got {cand.shape}")
    if cand.size and (cand.min() < 0 or cand.max() >= n):
        raise ValueError(f"candidates must be row numbers in [0, {n})")
    if hamming is None:
        if rerank == "bucket":
            raise ValueError('rerank="bucket" needs hamming=')
        ham = np.zeros(cand.shape[0], np.int32)
    else:
        ham = np.ascontiguousarray(hamming, dtype=np.int32)
        if ham.shape != cand.shape:
            raise ValueError(f"hamming must have shape {cand.shape}, got {ham.shape}")
    row_ids = np.arange(n, dtype=np.int64) if ids is None else np.ascontiguousarray(ids, dtype=np.int64)
    if row_ids.shape != (n,):
        raise ValueError(f"ids must have shape ({n},), got {row_ids.shape}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    mcode = METRICS[_check_choice(metric, METRICS, "metric")]
    order = RERANK_MODES[_check_choice(rerank, RERANK_MODES, "rerank")]
    qf = as_query_features(query_features, d, nq)
    pool = _Pool(lims, ham, cand)
    return RerankResult(*_rerank_padded(_rerank_kernels(), feats, qf, pool, row_ids, int(k),
                                        mcode, order, get_num_threads(), n, True, metric))
