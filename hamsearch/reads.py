"""The read path of :class:`hamsearch.Index`: :class:`ReadsMixin`.

Every read takes the published snapshot once (``Index._view()``) and works
on it alone, so reads run concurrently with each other and with mutations:
exact k-NN (``_knn``, which :meth:`hamsearch.results.SearchAPI.search`
dispatches to), :meth:`range_search`, :meth:`hierarchical_search`,
:meth:`plan`, ``in`` and the reconstruction of stored codes and features.
Each segment view is searched by :mod:`hamsearch.searchers` and the
segments' exact results are merged by (distance, id).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._backend import PAD_DISTANCE, get_num_threads
from ._checks import check_k, check_radius
from .codes import as_words, words_to_bytes
from .filters import check_filter
from .ids import _id_keys, is_id
from .results import (Fill, Metric, RangeResult, RerankMode, RerankResult, SearchResult, Ties,
                      _padded, pad_knn)
from .result_merge import merge_knn, merge_range
from .searchers import segment_knn, segment_range
from .segment import Snapshot

if TYPE_CHECKING:
    from .filters import IdFilter

__all__ = ["ReadsMixin"]


class ReadsMixin:
    """The reads of :class:`hamsearch.Index`: the searches (``_knn`` for
    ``search``, :meth:`range_search`, :meth:`hierarchical_search`),
    :meth:`plan`, ``in``, :meth:`reconstruct` and
    :meth:`reconstruct_features`.  It comes before
    :class:`~hamsearch.results.SearchAPI` in ``Index``'s bases, whose
    ``_knn`` and ``hierarchical_search`` it implements."""

    def _query_words(self, queries, name="queries") -> np.ndarray:
        return as_words(queries, self._nbits, name)

    def _knn(self, queries: ArrayLike, k: int, filter: Optional[IdFilter]) -> SearchResult:
        """The exact Hamming k-NN of :meth:`search` (``SearchAPI`` dispatches)."""
        q = self._query_words(queries)
        k = check_k(k)
        flt = check_filter(filter)
        snap = self._view()
        nthreads = get_num_threads()
        parts = []
        if q.shape[0]:
            for view in snap.views:
                res = segment_knn(view, q, k, self._planner, nthreads, flt)
                if res is not None:
                    parts.append(res)
        if not parts:
            return SearchResult(_padded(q.shape[0], k, snap.live, np.int32, PAD_DISTANCE),
                                _padded(q.shape[0], k, snap.live, np.int64, -1))
        D, I = merge_knn(parts, k)
        return SearchResult(*pad_knn(D, I, k, snap.live))

    def hierarchical_search(self, queries: ArrayLike, k: int, query_features: ArrayLike, *,
                            pool_radius: Optional[int] = None, pool_size: Optional[int] = None,
                            metric: Metric = "l2", rerank: RerankMode = "pool",
                            fill: Fill = "grow", ties: Ties = "include",
                            filter: Optional[IdFilter] = None) -> RerankResult:
        """Hierarchical search (Lin et al. 2015): a Hamming candidate pool
        per query, re-ranked by exact distance on the stored features.

        Parameters
        ----------
        queries : array_like
            Query codes in any accepted layout.
        k : int
            Results per query.
        query_features : array_like of float, shape (nq, d)
            The queries' features, compared with those given to :meth:`add`.
        pool_radius : int, optional
            Pool = every code within this Hamming distance (inclusive).
        pool_size : int, optional
            Pool = the ``pool_size`` nearest codes by Hamming distance (the
            boundary: see ``ties``).  Give ``pool_radius`` or ``pool_size``
            (not both); ``rerank="bucket"`` needs neither.
        metric : {"l2", "ip"}, default "l2"
            Re-rank by squared Euclidean distance (ascending) or inner
            product (descending).
        rerank : {"pool", "bucket"}, default "pool"
            ``"pool"``: order the pool by feature distance.  ``"bucket"``:
            order by Hamming distance, then by feature distance within each
            Hamming bucket.
        fill : {"grow", "none"}, default "grow"
            When a pool holds fewer than ``k`` codes: grow its radius until it
            holds ``k``, or return fewer (padded).
        ties : {"include", "cut"}, default "include"
            ``pool_size`` boundary: keep every code tied with the last one,
            or exactly ``pool_size`` codes, boundary ties cut by ascending id.
        filter : hamsearch.IdFilter, optional
            Pools (and so results) hold only admitted ids.

        Returns
        -------
        RerankResult
            ``(distances, ids, hamming)``: float32 feature scores (``+inf``
            pads; ``-inf`` for ``"ip"``), int64 ids (``-1`` pads), int32
            Hamming distances (``PAD_DISTANCE`` pads), each ``(nq, k)``.

        Examples
        --------
        >>> import numpy as np, hamsearch
        >>> rng = np.random.default_rng(0)
        >>> X = rng.standard_normal((1000, 32)).astype(np.float32)
        >>> index = hamsearch.Index(64)
        >>> index.add(hamsearch.pack(X @ rng.standard_normal((32, 64)) > 0), features=X)
        >>> res = index.hierarchical_search(index.reconstruct([7]), 3, X[7:8], pool_size=50)
        >>> int(res.ids[0, 0]), float(res.distances[0, 0]), int(res.hamming[0, 0])
        (7, 0.0, 0)
        """
        from .rerank import hierarchical_search

        return hierarchical_search(  # type: ignore[return-value]
            self, queries, k, query_features, pool_radius=pool_radius, pool_size=pool_size,
            metric=metric, rerank=rerank, fill=fill, ties=ties, return_hamming=True,
            filter=filter)

    def plan(self, k: int | None = None, radius: int | None = None) -> str:
        """The method a search would run now on the largest segment:
        ``"flat"`` or ``"mih"`` (each segment is planned on its own; see
        :meth:`segments`).

        Parameters
        ----------
        k : int, optional
            For :meth:`search` with this ``k``.
        radius : int, optional
            For :meth:`range_search` with this radius.

        Notes
        -----
        With ``method="auto"`` the answer depends on the segment's size,
        ``nbits``, its codes, ``k`` / ``radius``, the kernels in use and the
        first queries searched (the planner's query profile; until it has
        seen 8, the segment's own rows stand in for queries; see
        :class:`hamsearch.mih.AutoRule`); when it is ``"mih"`` the tables are
        built now if they were not yet.
        """
        if (k is None) == (radius is None):
            raise ValueError("plan: give exactly one of k or radius")
        snap = self._view()
        if k is not None:
            want = {"k": min(check_k(k), max(snap.live, 1))}
        else:
            want = {"radius": check_radius(radius, self._nbits)}
        views = [v for v in snap.views if v.live]
        if not views:
            return "flat"
        view = max(views, key=lambda v: v.n)
        return self._planner.searcher_for(view, selection=view.selection(), **want).name

    def range_search(self, queries: ArrayLike, radius: int, *,
                     filter: Optional[IdFilter] = None) -> RangeResult:
        """All codes within Hamming distance ``radius`` (inclusive) of each query.

        Parameters
        ----------
        queries : array_like
            Query codes in any accepted layout.
        radius : int
            Inclusive bound: results have ``distance <= radius``.  (FAISS's
            ``range_search`` is strict, ``distance < radius``: pass
            ``radius - 1`` here for the same results.)
        filter : hamsearch.IdFilter, optional
            Return only admitted ids (see :meth:`search`).

        Returns
        -------
        RangeResult
            ``(lims, distances, ids)``, a named tuple in CSR layout: the
            results of query ``i`` are ``distances[lims[i]:lims[i+1]]``
            (int32, ascending) and ``ids[lims[i]:lims[i+1]]`` (int64, ties
            broken by ascending id); ``result.query(i)`` slices them.
        """
        q = self._query_words(queries)
        radius = check_radius(radius, self._nbits)
        flt = check_filter(filter)
        snap = self._view()
        nthreads = get_num_threads()
        parts = []
        for view in snap.views:
            res = segment_range(view, q, radius, self._planner, nthreads, flt)
            if res is not None:
                parts.append(res)
        if not parts:
            return RangeResult(np.zeros(q.shape[0] + 1, np.int64), np.zeros(0, np.int32),
                               np.zeros(0, np.int64))
        return RangeResult(*merge_range(parts, q.shape[0]))

    @staticmethod
    def _stored_rows(snap: Snapshot, ids) -> tuple[np.ndarray, np.ndarray]:
        """``(view index, row)`` of ``ids`` (any integer array) in ``snap``; KeyError if one is absent."""
        keys, values = _id_keys(ids)
        which, rows = snap.locate(keys)
        if (which < 0).any():
            raise KeyError(f"id {int(values[which < 0][0])} is not in the index")
        return which, rows

    def __contains__(self, id_: object) -> bool:
        """True when ``id_`` is an integer id stored in the index.

        Only integers match (``int``, numpy integers); ``62.5``, ``"62"`` or
        ``True`` are never ids.
        """
        if not is_id(id_):
            return False
        snap = self._view()
        return bool(snap.locate(np.array([int(id_)], dtype=np.int64))[0][0] >= 0)

    def reconstruct(self, ids: ArrayLike) -> NDArray[np.uint8]:
        """Return the stored codes of ``ids`` as packed uint8 ``(n, nbits/8)``.

        Raises
        ------
        KeyError
            If an id is not in the index.
        """
        snap = self._view()
        which, rows = self._stored_rows(snap, ids)
        if len(rows) == 0:
            return words_to_bytes(np.zeros((0, self._nw), np.uint64), self._nbits)
        return words_to_bytes(snap.gather(which, rows, "codes"), self._nbits)

    def reconstruct_features(self, ids: ArrayLike) -> NDArray[np.floating[Any]]:
        """Return the stored features of ``ids``, shape ``(n, d)``, in the
        storage dtype (``features_dtype``).

        Raises
        ------
        KeyError
            If an id is not in the index.
        ValueError
            If the index holds no features.
        """
        snap = self._view()
        if not snap.features_enabled or snap.live == 0:
            raise ValueError("this index holds no features (add them with index.add(..., features=X))")
        which, rows = self._stored_rows(snap, ids)
        if len(rows) == 0:
            return np.zeros((0, snap.features_d), dtype=self._features.dtype)
        return snap.gather(which, rows, "features")
