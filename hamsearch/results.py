"""Typed, self-describing search results (and the option types of the search API).

Each is a :class:`~typing.NamedTuple`, so the unpacking every caller already
writes keeps working (``D, I = index.search(q, k)``, ``lims, D, I =
index.range_search(q, r)``, ``D, I, H = index.hierarchical_search(...)``)
while new code can name the fields (``res.ids``, ``res.distances``).  They
pickle, compare and index like plain tuples.

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

from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = ["SearchResult", "RangeResult", "RerankResult", "Metric", "RerankMode", "Fill",
           "Ties", "Method"]

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
