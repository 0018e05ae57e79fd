"""Typed, self-describing search results (and the option types of the search API).

Each is a :class:`~typing.NamedTuple`, so the unpacking every caller already
writes keeps working (``D, I = index.search(q, k)``, ``lims, D, I =
index.range_search(q, r)``, ``D, I, H = index.hierarchical_search(...)``)
while new code can name the fields (``res.ids``, ``res.distances``).  They
pickle, compare and index like plain tuples.

``pad_knn`` widens k-NN results to ``k`` columns with the padding every
search returns (id ``-1``, distance ``PAD_DISTANCE``); ``_padded`` allocates
a padded result array with a clear error when ``k`` is too large.

Examples
--------
>>> import numpy as np, hamsearch
>>> index = hamsearch.Index(64)
>>> index.add(np.arange(64, dtype=np.uint8).reshape(8, 8))
>>> res = index.search(np.zeros((1, 8), np.uint8), 2)
>>> type(res).__name__, res.ids.shape, res.distances.dtype
('SearchResult', (1, 2), dtype('int32'))
>>> D, I = res
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Optional, Union, overload

import numpy as np
import numpy.typing as npt
from numpy.typing import ArrayLike

from ._backend import PAD_DISTANCE

if TYPE_CHECKING:
    from .filters import IdFilter

__all__ = ["SearchResult", "RangeResult", "RerankResult", "SearchAPI", "Metric", "RerankMode",
           "Fill", "Ties", "Method"]

#: Feature metric of a re-rank: squared L2 (ascending) or inner product (descending).
Metric = Literal["l2", "ip"]
#: Re-rank order: by feature score, or by Hamming distance then feature score.
RerankMode = Literal["pool", "bucket"]
#: A pool smaller than k: grow its radius, or return fewer results (padded).
Fill = Literal["grow", "none"]
#: ``pool_size`` boundary ties: keep them all, or cut them by ascending id.
Ties = Literal["include", "cut"]
#: Search method of an :class:`~hamsearch.Index`.
Method = Literal["auto", "flat", "mih"]


class SearchResult(NamedTuple):
    """k nearest neighbours per query (:meth:`hamsearch.Index.search`).

    Attributes
    ----------
    distances : ndarray, shape (nq, k)
        int32 Hamming distances, ascending; ``PAD_DISTANCE`` pads.  (A
        hierarchical search through ``search(..., query_features=...)``:
        float32 feature scores, see :class:`RerankResult`.)
    ids : ndarray of int64, shape (nq, k)
        Ids, ties broken by ascending id; ``-1`` pads.
    """

    distances: npt.NDArray[Any]
    ids: npt.NDArray[np.int64]


class RangeResult(NamedTuple):
    """Every code within a radius, per query, in CSR layout
    (:meth:`hamsearch.Index.range_search`).

    Attributes
    ----------
    lims : ndarray of int64, shape (nq + 1,)
        Query ``i``'s results are ``distances[lims[i]:lims[i + 1]]`` and
        ``ids[lims[i]:lims[i + 1]]``.
    distances : ndarray of int32, shape (lims[-1],)
        Hamming distances, ascending within each query.
    ids : ndarray of int64, shape (lims[-1],)
        Ids, ties broken by ascending id.
    """

    lims: npt.NDArray[np.int64]
    distances: npt.NDArray[np.int32]
    ids: npt.NDArray[np.int64]

    def query(self, i: int) -> SearchResult:
        """The results of query ``i`` as ``(distances, ids)`` (views)."""
        lo, hi = int(self.lims[i]), int(self.lims[i + 1])
        return SearchResult(self.distances[lo:hi], self.ids[lo:hi])


class RerankResult(NamedTuple):
    """Hierarchical search: a Hamming pool re-ranked on float features
    (:meth:`hamsearch.Index.hierarchical_search`).

    Attributes
    ----------
    distances : ndarray of float32, shape (nq, k)
        Squared L2 distances (ascending; ``+inf`` pads) or inner products
        (``metric="ip"``: descending; ``-inf`` pads).
    ids : ndarray of int64, shape (nq, k)
        Ids; ``-1`` pads.
    hamming : ndarray of int32, shape (nq, k)
        The Hamming distance of every result; ``PAD_DISTANCE`` pads.
    """

    distances: npt.NDArray[np.float32]
    ids: npt.NDArray[np.int64]
    hamming: npt.NDArray[np.int32]


def _padded(nq: int, k: int, n: int, dtype, fill):
    """An ``(nq, k)`` result array filled with ``fill``; a clear error when
    ``k`` makes it impossible to allocate."""
    try:
        return np.full((nq, k), fill, dtype=dtype)
    except (MemoryError, ValueError) as exc:
        nbytes = nq * k * np.dtype(dtype).itemsize
        msg = (f"k={k}: the result of {nq} queries x k={k} ({nbytes:,} bytes for one "
               f"output array) cannot be allocated; the index holds {n} codes, so any "
               f"k above {n} only adds padding")
        raise (MemoryError if isinstance(exc, MemoryError) else ValueError)(msg) from exc


def pad_knn(D: np.ndarray, I: np.ndarray, k: int, n: int, d_fill=PAD_DISTANCE):
    """Widen k-NN results ``(nq, k') -> (nq, k)`` with padding (id ``-1``)."""
    nq, have = I.shape
    if have == k:
        return D, I
    outD = _padded(nq, k, n, D.dtype, d_fill)
    outI = _padded(nq, k, n, np.int64, -1)
    outD[:, :have] = D
    outI[:, :have] = I
    return outD, outI


class SearchAPI:
    """The ``search`` verb shared by :class:`hamsearch.Index` and
    :class:`hamsearch.distributed.ShardedIndex`: one signature, one
    docstring, one dispatch.  A subclass implements ``_knn`` (exact Hamming
    k-NN) and :meth:`hierarchical_search`.
    """

    @overload
    def search(self, queries: ArrayLike, k: int, *, filter: Optional[IdFilter] = ...,
               query_features: Optional[ArrayLike] = ..., pool_radius: Optional[int] = ...,
               pool_size: Optional[int] = ..., metric: Metric = ..., rerank: RerankMode = ...,
               fill: Optional[Fill] = ..., ties: Optional[Ties] = ...,
               return_hamming: Optional[Literal[False]] = ...) -> SearchResult: ...

    @overload
    def search(self, queries: ArrayLike, k: int, *, filter: Optional[IdFilter] = ...,
               query_features: Optional[ArrayLike] = ..., pool_radius: Optional[int] = ...,
               pool_size: Optional[int] = ..., metric: Metric = ..., rerank: RerankMode = ...,
               fill: Optional[Fill] = ..., ties: Optional[Ties] = ...,
               return_hamming: Literal[True]) -> RerankResult: ...

    def search(self, queries: ArrayLike, k: int, *, filter: Optional[IdFilter] = None,
               query_features: Optional[ArrayLike] = None, pool_radius: Optional[int] = None,
               pool_size: Optional[int] = None, metric: Metric = "l2",
               rerank: RerankMode = "pool", fill: Optional[Fill] = None,
               ties: Optional[Ties] = None, return_hamming: Optional[bool] = None,
               ) -> Union[SearchResult, RerankResult]:
        """Exact k nearest neighbours by Hamming distance, or hierarchical search.

        Parameters
        ----------
        queries : array_like
            Query codes in any accepted layout; one code may be 1-D.
        k : int
            Number of neighbours per query.  It may exceed ``ntotal``: the
            kernels then work with ``k = ntotal`` and the rows are padded.
        filter : hamsearch.IdFilter, optional
            Search only among the ids it admits (``IdFilter.allow(ids)``,
            ``IdFilter.deny(ids)``, ``IdFilter.from_mask(mask)``): the exact
            k nearest admitted codes, padded when fewer are admitted.  See
            :mod:`hamsearch.filters` for how the search is planned.
        query_features, pool_radius, pool_size, metric, rerank, fill, ties
            Giving any of them (``query_features`` is then required) runs
            :meth:`hierarchical_search` (Lin et al. 2015: a Hamming candidate
            pool per query, re-ranked on the features stored by :meth:`add`)
            and returns its ``(distances, ids)``; see there.
        return_hamming : bool, optional
            With True, return the whole :class:`~hamsearch.results.RerankResult`
            of :meth:`hierarchical_search` (``(distances, ids, hamming)``).
            Kept for existing callers: new code calls
            :meth:`hierarchical_search`, whose result shape never depends
            on a keyword.

        Returns
        -------
        SearchResult
            ``(distances, ids)``, a named tuple: ``D, I = index.search(q, k)``.
            ``distances``: int32 ``(nq, k)`` Hamming distances, ascending
            (hierarchical search: float32 squared L2 distances or inner
            products); ``ids``: int64 ``(nq, k)``, ties broken by ascending
            id; ``-1`` pads (distance ``PAD_DISTANCE``) when fewer than k
            codes are stored.

        Raises
        ------
        MemoryError, ValueError
            When ``k`` is so large that the padded ``(nq, k)`` output cannot
            be allocated (the message names ``k``).
        """
        if query_features is not None or pool_radius is not None or pool_size is not None \
                or metric != "l2" or rerank != "pool" or fill is not None or ties is not None \
                or return_hamming is not None:
            res = self.hierarchical_search(
                queries, k, query_features,  # type: ignore[arg-type]  # None: refused there
                pool_radius=pool_radius, pool_size=pool_size, metric=metric, rerank=rerank,
                fill="grow" if fill is None else fill, ties="include" if ties is None else ties,
                filter=filter)
            return res if return_hamming else SearchResult(res.distances, res.ids)
        return self._knn(queries, k, filter)

    def _knn(self, queries: ArrayLike, k: int, filter: Optional[IdFilter]) -> SearchResult:
        raise NotImplementedError

    def hierarchical_search(self, queries: ArrayLike, k: int, query_features: ArrayLike, *,
                            pool_radius: Optional[int] = None, pool_size: Optional[int] = None,
                            metric: Metric = "l2", rerank: RerankMode = "pool",
                            fill: Fill = "grow", ties: Ties = "include",
                            filter: Optional[IdFilter] = None) -> RerankResult:
        raise NotImplementedError
