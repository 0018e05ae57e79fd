"""Hamming candidate pools of hierarchical search (:mod:`hamsearch.rerank`).

A pool is, per query, the set of candidate rows the re-rank kernel scores,
held in CSR form (:class:`_Pool`).  :class:`_PoolBuilder` makes one segment
view's pools with the segment's own searcher (flat scan or multi-index
tables, as the planner picks), its row numbers in place of ids, so the
pools index the segment's feature rows directly.  :class:`_SegmentPools`
takes the pool decisions (the ``m``-th distance, ``fill="grow"``, boundary
ties) over the union of several segments, so the pools are exactly those of
one segment holding every row.
"""

from __future__ import annotations

import numpy as np

__all__: list[str] = []

_arange_cache = np.zeros(0, dtype=np.int64)


def _positions(n: int) -> np.ndarray:
    """``arange(n)`` int64 (a read-only view of a cached array)."""
    global _arange_cache
    cache = _arange_cache
    if cache.shape[0] < n:
        cache = np.arange(max(n, 2 * cache.shape[0]), dtype=np.int64)
        cache.flags.writeable = False
        _arange_cache = cache
    return cache[:n]


class _Pool:
    """Candidate pools in CSR form: ``lims`` (nq+1), ``ham`` int32, ``pos`` int64."""

    __slots__ = ("lims", "ham", "pos")

    def __init__(self, lims, ham, pos):
        self.lims, self.ham, self.pos = lims, ham, pos

    def counts(self):
        return np.diff(self.lims)


def _merge(nq: int, parts) -> _Pool:
    """Assemble per-query-subset pools ``(query_indices, _Pool)`` into one.

    Every query must appear in exactly one part.
    """
    if len(parts) == 1:
        idx, p = parts[0]
        if idx is None:
            return p
    counts = np.zeros(nq, dtype=np.int64)
    src = np.zeros(nq, dtype=np.int64)
    hams, poss = [], []
    off = 0
    for idx, p in parts:
        idx = np.arange(nq) if idx is None else idx
        counts[idx] = p.counts()
        src[idx] = off + p.lims[:-1]
        off += int(p.lims[-1])
        hams.append(p.ham)
        poss.append(p.pos)
    lims = np.zeros(nq + 1, dtype=np.int64)
    np.cumsum(counts, out=lims[1:])
    ham = np.concatenate(hams) if hams else np.zeros(0, np.int32)
    pos = np.concatenate(poss) if poss else np.zeros(0, np.int64)
    total = int(lims[-1])
    gather = np.repeat(src - lims[:-1], counts) + np.arange(total, dtype=np.int64)
    return _Pool(lims, ham[gather], pos[gather])


class _PoolBuilder:
    """Hamming pools over one segment view of a snapshot.

    The kernels run with the segment's row numbers in place of ids, so
    their results index the segment's feature rows directly (pools are
    sets: their order is never used, except by ``ties="cut"``, which
    re-sorts by real id).  The planner picks flat or the segment's
    multi-index tables, as for a plain search.
    """

    def __init__(self, view, kern, nthreads, planner=None, selection=None):
        self.view = view
        # the segment's ids (None for an id range: id = base + row)
        self.kids, self.base = view.seg.kernel_ids()
        self.kern, self.nthreads = kern, nthreads
        self.planner = planner
        self.sel = selection
        self.skip = None if selection is None else selection.skip  # None with rows
        if selection is not None and selection.rows is not None:
            # few admitted rows: scan only them (their positions as ids)
            self.codes, self.posids = view.codes[selection.rows], selection.rows
        else:
            self.codes, self.posids = view.codes, _positions(view.n)
        self.n = view.live if selection is None else selection.admitted

    def _searcher(self, **want):
        """The searcher the planner picks for this segment, or None for a
        scan of the gathered rows."""
        if self.planner is None or (self.sel is not None and self.sel.rows is not None):
            return None
        return self.planner.searcher_for(self.view, selection=self.sel, **want)

    def range(self, q, radius: int) -> _Pool:
        searcher = self._searcher(radius=int(radius), queries=q)
        if searcher is not None:
            lims, ham, pos = searcher.range_search(self.view, q, int(radius), self.nthreads,
                                                   self.posids, self.skip)
            return _Pool(lims, ham, pos)
        lims, ham, pos = self.kern.range_search(self.codes, self.posids, q, int(radius),
                                                self.nthreads, skip=self.skip)
        return _Pool(lims, ham, pos)

    def distances(self, q, m: int) -> np.ndarray:
        """The Hamming distances of each query's ``min(m, n)`` nearest codes
        (ascending), int64 ``(nq, min(m, n))``."""
        m = min(int(m), self.n)
        searcher = self._searcher(k=m, queries=q)
        if searcher is not None:
            D, _ = searcher.knn(self.view, q, m, self.nthreads, self.posids, self.skip)
        else:
            D, _ = self.kern.knn(self.codes, self.posids, q, m, self.nthreads, skip=self.skip)
        return D.astype(np.int64)

    def range_per_query(self, q, radii) -> _Pool:
        """Pools of per-query radii: one kernel call per distinct radius, so
        each query is scanned once."""
        radii = np.asarray(radii, dtype=np.int64)
        values = np.unique(radii)
        if values.size == 1:
            return self.range(q, int(values[0]))
        parts = []
        for r in values:
            idx = np.flatnonzero(radii == r)
            parts.append((idx, self.range(q[idx], int(r))))
        return _merge(q.shape[0], parts)


class _SegmentPools:
    """Pools over several segments: one :class:`_PoolBuilder` each, the pool
    decisions (the ``m``-th distance, ``fill``, boundary ties) taken over
    the union, so the pools are exactly those of one segment holding every
    row.  :meth:`build` returns one pool per segment."""

    def __init__(self, builders):
        self.builders = builders
        self.n = sum(b.n for b in builders)

    def kth_distance(self, q, m: int) -> np.ndarray:
        m = min(int(m), self.n)
        D = np.concatenate([b.distances(q, m) for b in self.builders if b.n], axis=1)
        return np.partition(D, m - 1, axis=1)[:, m - 1]

    def range_per_query(self, q, radii):
        return [b.range_per_query(q, radii) for b in self.builders]

    def cut(self, pools, m: int):
        """Keep each query's ``m`` first candidates by ``(hamming, id)`` over
        the union of the segments' pools."""
        nq = pools[0].lims.shape[0] - 1
        counts = sum(p.counts() for p in pools)
        if (counts <= m).all():
            return pools
        qrow = np.concatenate([np.repeat(np.arange(nq, dtype=np.int64), p.counts())
                               for p in pools])
        seg = np.concatenate([np.full(p.pos.shape[0], s, np.int64) for s, p in enumerate(pools)])
        ids = np.concatenate([b.view.seg.ids_at(p.pos) for b, p in zip(self.builders, pools)])
        ham = np.concatenate([p.ham for p in pools])
        pos = np.concatenate([p.pos for p in pools])
        order = np.lexsort((ids, ham, qrow))
        starts = np.zeros(nq + 1, dtype=np.int64)
        np.cumsum(counts, out=starts[1:])
        rank = np.arange(order.shape[0], dtype=np.int64) - starts[qrow[order]]
        keep = np.sort(order[rank < m])  # back in (segment, query) order
        out = []
        for s in range(len(pools)):
            sel = keep[seg[keep] == s]
            c = np.bincount(qrow[sel], minlength=nq)
            lims = np.zeros(nq + 1, dtype=np.int64)
            np.cumsum(c, out=lims[1:])
            out.append(_Pool(lims, ham[sel], pos[sel]))
        return out

    def build(self, q, k, pool_radius, pool_size, fill, ties):
        n = self.n
        nq = q.shape[0]
        want = min(k, n) if fill == "grow" else 0
        if pool_size is None and pool_radius is None:
            # bucket mode without a pool argument: every code up to the k-th
            # Hamming distance, the whole last bucket included
            pool_size, ties = k, "include"
        if pool_size is not None:
            m = min(max(pool_size, want), n)  # a pool never exceeds the index
            pools = self.range_per_query(q, self.kth_distance(q, m))
            return self.cut(pools, m) if ties == "cut" else pools
        pools = [b.range(q, pool_radius) for b in self.builders]
        if want:
            short = np.flatnonzero(sum(p.counts() for p in pools) < want)
            if short.size:
                grown = self.range_per_query(q[short], self.kth_distance(q[short], want))
                rest = np.setdiff1d(np.arange(nq), short, assume_unique=True)
                pools = [_merge(nq, [(rest, _Pool(*_take(p, rest))), (short, g)])
                         for p, g in zip(pools, grown)]
        return pools


def _take(pool: _Pool, rows):
    """CSR rows ``rows`` of ``pool`` as ``(lims, ham, pos)``."""
    counts = pool.counts()[rows]
    lims = np.zeros(rows.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=lims[1:])
    gather = np.repeat(pool.lims[rows] - lims[:-1], counts) + np.arange(int(lims[-1]))
    return lims, pool.ham[gather], pool.pos[gather]

