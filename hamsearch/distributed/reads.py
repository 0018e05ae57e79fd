"""The read verbs of :class:`~hamsearch.distributed.ShardedIndex`.

:class:`ShardedReads` sends each read to one replica of every shard
concerned, under the index's read lock, and merges the exact per-shard
answers by (distance, id) -- identical, ties included, to one
:class:`hamsearch.Index` holding every code.  A hierarchical search takes
two round trips: the pool bounds over every shard, then each shard's
re-ranked part of the pools.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from numpy.typing import ArrayLike

from .._checks import check_k, check_radius
from ..codes import as_words, words_to_bytes
from ..filters import IdFilter, check_filter
from ..index import _id_keys, is_id, pad_knn
from ..result_merge import merge_knn, merge_range
from ..results import Fill, Metric, RangeResult, RerankMode, RerankResult, SearchResult, Ties

__all__ = ["ShardedReads"]

#: A k-NN search with a larger k first asks the shards how many codes they
#: hold, so no shard pads a result wider than the whole index.
_LARGE_K = 4096


class ShardedReads:
    """``search`` (its ``_knn``), ``range_search``, ``hierarchical_search``,
    ``contains``, ``reconstruct``, ``reconstruct_features`` and ``stats`` of
    a :class:`~hamsearch.distributed.ShardedIndex` (a base class: the index
    holds the state, the lock and the calls)."""

    # ------------------------------------------------------------ reads
    def _queries(self, queries):
        return as_words(queries, self._nbits, "queries")

    def _knn(self, queries: ArrayLike, k: int, filter: Optional[IdFilter]) -> SearchResult:
        """Exact k-NN over every shard (:meth:`search`): the shards' exact
        top-k merged by (distance, id)."""
        q = self._queries(queries)
        k = check_k(k)
        flt = check_filter(filter)
        with self._lock.reading():
            self._open()
            live = None
            k_shard = k
            if k > _LARGE_K:  # ask for no more than the index holds; pad here
                live = int(sum(self._read(range(self._num_shards), "length", lambda s: ())))
                k_shard = max(1, min(k, live))
            qref = self._shared(q)
            fref = self._shared_filter(flt)
            parts = self._read(range(self._num_shards), "search",
                               lambda s: (qref, k_shard, fref[s]))
        D, I = merge_knn([(np.asarray(d), np.asarray(i)) for d, i in parts], k_shard)
        if k_shard < k:
            D, I = pad_knn(D, I, k, live)
        return SearchResult(np.array(D, dtype=np.int32), np.array(I, dtype=np.int64))

    def hierarchical_search(self, queries: ArrayLike, k: int, query_features: ArrayLike, *,
                            pool_radius: Optional[int] = None, pool_size: Optional[int] = None,
                            metric: Metric = "l2", rerank: RerankMode = "pool",
                            fill: Fill = "grow", ties: Ties = "include",
                            filter: Optional[IdFilter] = None) -> RerankResult:
        """Hierarchical search over every shard (as
        :meth:`hamsearch.Index.hierarchical_search`): ``(distances, ids,
        hamming)``, the same results as one index holding every code."""
        return self._hierarchical(queries, k, query_features, pool_radius, pool_size, metric,
                                  rerank, filter, fill, ties)

    def range_search(self, queries: ArrayLike, radius: int, *,
                     filter: Optional[IdFilter] = None) -> RangeResult:
        """All codes within ``radius`` (inclusive) on every shard (as
        :meth:`hamsearch.Index.range_search`), merged by (distance, id)."""
        q = self._queries(queries)
        radius = check_radius(radius, self._nbits)
        flt = check_filter(filter)
        with self._lock.reading():
            self._open()
            qref = self._shared(q)
            fref = self._shared_filter(flt)
            parts = self._read(range(self._num_shards), "range_search",
                               lambda s: (qref, radius, fref[s]))
        lims, D, I = merge_range([tuple(np.asarray(a) for a in p) for p in parts], q.shape[0])
        return RangeResult(np.array(lims, dtype=np.int64), np.array(D, dtype=np.int32),
                           np.array(I, dtype=np.int64))

    def _hierarchical(self, queries, k, query_features, pool_radius, pool_size, metric, rerank,
                      filter, fill, ties) -> RerankResult:
        from ..rerank import _merge_reranked, check_hierarchical, check_query_features, \
            RERANK_MODES

        (q, k, qf_in, pool_radius, pool_size, mode, _mcode, metric, fill, ties,
         flt) = check_hierarchical(self._nbits, queries, k, query_features, pool_radius,
                                   pool_size, metric, rerank, fill, ties, filter)
        nq = q.shape[0]
        S = range(self._num_shards)
        with self._lock.reading():
            self._open()
            qref, fref = self._shared(q), self._shared_filter(flt)
            # round trip 1: the pool bounds over every shard (and the counts
            # the query features are checked against)
            if pool_size is None and pool_radius is None:
                pool_size, ties = k, "include"
            probe_m = max(pool_size or 0, k)
            probes = self._read(S, "pool_probe", lambda s: (qref, probe_m, pool_radius, fref[s]))
            qf = check_query_features(self._features.enabled, self._features.d,
                                      sum(p[4] for p in probes) > 0, qf_in, nq)
            n = sum(p[2] for p in probes)
            want = min(k, n) if fill == "grow" else 0
            cut_ids = None
            if n == 0 or nq == 0:
                radii = None
            elif pool_size is not None:
                m = min(max(pool_size, want), n)
                D, I = merge_knn([(np.asarray(p[0]), np.asarray(p[1])) for p in probes], m)
                radii = D[:, m - 1].astype(np.int64)
                if ties == "cut":
                    cut_ids = I[:, m - 1].astype(np.int64)
            else:
                radii = np.full(nq, pool_radius, dtype=np.int64)
                if want:
                    counts = sum(np.asarray(p[3]) for p in probes)
                    short = counts < want
                    if short.any():
                        D, _ = merge_knn([(np.asarray(p[0]), np.asarray(p[1])) for p in probes],
                                         want)
                        radii[short] = D[short, want - 1]
            if radii is None:
                from ..rerank import _empty_reranked

                return RerankResult(*_empty_reranked(nq, k, metric, 0))
            # round trip 2: each shard re-ranks its part of the pools
            busy = [s for s in S if probes[s][2]]
            qfref = self._shared(qf)
            parts = self._read(busy, "rerank", lambda s: (qref, k, qfref, radii, cut_ids, mode,
                                                          metric, fref[s]))
        order = RERANK_MODES[mode]
        D, I, H = _merge_reranked([tuple(np.asarray(a) for a in p) for p in parts], k, metric,
                                  order)
        return RerankResult(np.array(D, dtype=np.float32), np.array(I, dtype=np.int64),
                            np.array(H, dtype=np.int32))

    def __contains__(self, id_) -> bool:
        if not is_id(id_):
            return False
        with self._lock.reading():
            return bool(self._present(np.array([int(id_)], dtype=np.int64))[0])

    def contains(self, ids) -> np.ndarray:
        """Boolean mask: which of ``ids`` (integers) are stored -- ``id in
        index`` for many ids, one call per shard holding any of them."""
        if np.size(ids) == 0:
            return np.zeros(0, dtype=bool)
        keys, _ = _id_keys(ids)
        with self._lock.reading():
            self._open()
            return self._present(keys)

    def reconstruct(self, ids) -> np.ndarray:
        """The stored codes of ``ids`` as packed uint8 ``(n, nbits/8)``;
        KeyError if an id is not stored."""
        keys, values = _id_keys(ids)
        with self._lock.reading():
            self._open()
            words = self._rows_of(keys, values, "reconstruct", self._nw, np.uint64)
        return words_to_bytes(words, self._nbits)

    def reconstruct_features(self, ids) -> np.ndarray:
        """The stored features of ``ids``, shape ``(n, d)``, in the storage
        dtype (as :meth:`hamsearch.Index.reconstruct_features`).

        Raises
        ------
        KeyError
            If an id is not stored.
        ValueError
            If the index holds no features.
        """
        keys, values = _id_keys(ids)
        with self._lock.reading():
            self._open()
            d = self.features_dim
            if d is None:
                raise ValueError("this index holds no features (add them with "
                                 "index.add(..., features=X))")
            return self._rows_of(keys, values, "reconstruct_features", d,
                                 self._features.dtype)

    def stats(self) -> dict:
        """Totals over the shards (codes, rows, deleted, bytes, segments) and
        ``shards``: each shard's :meth:`hamsearch.Index.stats` (its first
        replica's), with the actor's process id."""
        with self._lock.reading():
            self._open()
            per = self._read(range(self._num_shards), "stats", lambda s: ())
        total = {key: sum(p[key] for p in per)
                 for key in ("ntotal", "rows", "deleted", "nbytes", "mih_nbytes", "segments")}
        total["deleted_fraction"] = total["deleted"] / total["rows"] if total["rows"] else 0.0
        total.update({"num_shards": self._num_shards, "replicas": self._replicas,
                      "method": self._method, "features_dim": self._features.d,
                      "pending_writes": sum(len(q) for p in self._pending for q in p),
                      "shards": per})
        return total
