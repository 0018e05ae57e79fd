"""Search methods behind one small interface, and the planner choosing them.

A :class:`Searcher` answers k-NN and radius queries over the rows of one
:class:`hamsearch.segment.SegmentView` with a skip bitmap; results carry
what the caller passes as ``ids`` (the segment's ids, row numbers, or
storage positions for re-ranking).  Two implementations:

* :class:`FlatSearcher` -- the popcount scan over every row;
* :class:`MIHSearcher` -- multi-index tables of that segment
  (:mod:`hamsearch.mih`).

The :class:`Planner` picks one per segment and per call: ``"flat"`` and
``"mih"`` indexes always get their method (MIH falls back to the scan when
``k`` covers the segment); ``"auto"`` asks the cost model
(:class:`hamsearch.mih.AutoRule`) with the segment's own sample, so a small
fresh segment is scanned while a large sealed one uses its tables.  A new
method means one more :class:`Searcher` and one more branch in
:meth:`Planner.searcher_for`.

:func:`segment_knn` and :func:`segment_range` run one segment: the filter
translation (few admitted rows are gathered and scanned; otherwise a skip
bitmap), the planner, the kernel, and the ids of range segments.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ._backend import kernels
from .mih import AutoRule, IndexMIH, MultiIndexTables
from .segment import add_base

__all__ = ["Searcher", "FlatSearcher", "MIHSearcher", "Planner", "segment_knn",
           "segment_range"]


class Searcher(Protocol):
    """k-NN and radius search over one segment's rows."""

    name: str

    def knn(self, view, queries, k: int, nthreads: int, ids, skip=None):
        """``(D, I)``: the k nearest non-skipped rows, results labelled by ``ids``."""

    def range_search(self, view, queries, radius: int, nthreads: int, ids, skip=None):
        """``(lims, D, I)``: every non-skipped row within ``radius``."""


class FlatSearcher:
    """The popcount scan (``kernels().knn`` / ``range_search``)."""

    name = "flat"

    def knn(self, view, queries, k, nthreads, ids, skip=None):
        return kernels().knn(view.codes, ids, queries, k, nthreads, skip=skip)

    def range_search(self, view, queries, radius, nthreads, ids, skip=None):
        return kernels().range_search(view.codes, ids, queries, radius, nthreads, skip=skip)


FLAT = FlatSearcher()


class MIHSearcher:
    """Multi-index hashing over one segment's table ``state``."""

    name = "mih"

    def __init__(self, tables: MultiIndexTables, state):
        self.tables, self.state = tables, state

    def knn(self, view, queries, k, nthreads, ids, skip=None):
        return self.tables.knn(queries, k, nthreads, state=self.state, ids=ids, skip=skip)

    def range_search(self, view, queries, radius, nthreads, ids, skip=None):
        return self.tables.range_search(queries, radius, nthreads, state=self.state, ids=ids,
                                        skip=skip)


class Planner:
    """Chooses the searcher of each segment for an index's ``method``.

    Parameters
    ----------
    nbits : int
        Code length.
    method : {"auto", "flat", "mih"}
    m : int, optional
        Substrings requested for the tables (default: per segment size).
    inline_codes : bool, optional
        Whether the tables keep inline code copies (default: see
        :class:`hamsearch.mih.MultiIndexTables`).

    Attributes
    ----------
    growing : hamsearch.mih.IndexMIH
        The incremental tables of the growing segment.
    """

    def __init__(self, nbits: int, method: str, m=None, inline_codes=None):
        self.nbits = int(nbits)
        self.method = method
        self.inline_codes = None if inline_codes is None else bool(inline_codes)
        self.growing = IndexMIH(nbits, method, m, self.inline_codes)
        self.m_request = self.growing.m_request
        self.rule = AutoRule()
        # the search entry point (and the inline rule)
        self._tables = MultiIndexTables(self.nbits, m=self.m_request,
                                        inline_codes=self.inline_codes)

    @property
    def last_mih_stats(self):
        """Per-query ``(probes, verified, fell back)`` of the last MIH search
        (an int64 ``(nq, 3)`` array; for benchmarks), or None."""
        return self._tables.last_stats

    def m_for(self, seg) -> int:
        """Substrings of ``seg``'s tables (built, or that a build would use)."""
        st = seg.mih
        if st is not None:
            return st.m
        if not seg.sealed:
            return self.growing.planned_m(seg.n)
        if self.m_request:
            return self.m_request
        m = seg.plans.get("m")  # a pure function of the rows, as the other plans
        if m is None:
            m = self.rule.pick_m(seg.codes, self.nbits,
                                 lambda mm: self._tables._inline(mm, seg.codes), holder=seg)
            seg.plans["m"] = m
        return m

    def plan_inputs(self, seg) -> tuple[int, bool]:
        """``(m, inline)``: the substrings of ``seg``'s tables and whether they
        hold inline codes (built tables say; else what a build would do)."""
        m = self.m_for(seg)
        st = seg.mih
        return m, (bool(st.main[6].size) if st is not None else self._tables._inline(m, seg.codes))

    def build_sealed(self, seg):
        """Tables over a sealed segment's rows (built once, kept on the segment)."""
        tables = MultiIndexTables(self.nbits, m=self.m_for(seg), inline_codes=self.inline_codes)
        tables.sync(seg.codes, None)
        return tables._state

    def searcher_for(self, view, k=None, radius=None, selection=None,
                     queries=None) -> Searcher:
        """The searcher for a k-NN (``k``) or radius search over ``view``
        (``queries``: the call's query codes, for the planner's profile)."""
        if self.method == "flat":
            return FLAT
        if k is not None and selection is not None:
            k = selection.k_for_planner(k)
        seg = view.seg
        n = seg.n
        if n == 0 or (k is not None and k >= n):
            return FLAT  # every code is a result: the scan is the right tool
        if self.method == "auto":  # asked every call: built tables do not make MIH right
            self.rule.observe(queries)
            key = (k, radius)
            version = self.rule.profile_version
            plan = seg.plans.get(key)
            prefer = plan[1] if plan is not None and plan[0] == version else None
            if prefer is None:  # a function of the segment's rows, the key and the profile
                m, inline = self.plan_inputs(seg)
                prefer = self.rule.prefer_mih(seg.codes, self.nbits, m, inline, k=k,
                                              radius=radius, holder=seg)
                if len(seg.plans) < 256 or key in seg.plans:
                    seg.plans[key] = (version, prefer)
            if not prefer:
                return FLAT
        state = seg.tables(self.build_sealed)
        if state is None:
            return FLAT
        return MIHSearcher(self._tables, state)


def _admitted(view, sel) -> int:
    return view.live if sel is None else sel.admitted


def segment_knn(view, queries, k: int, planner: Planner, nthreads: int, flt=None):
    """Exact k-NN over one segment view: ``(D, I)`` with ``min(k, admitted)``
    columns, or None when the view admits nothing."""
    sel = view.selection(flt)
    admitted = _admitted(view, sel)
    if admitted == 0:
        return None
    keff = min(int(k), admitted)
    if sel is not None and sel.rows is not None:  # few admitted: scan only them
        return kernels().knn(view.codes[sel.rows], view.seg.ids_at(sel.rows), queries, keff,
                             nthreads)
    kids, base = view.seg.kernel_ids()
    skip = None if sel is None else sel.skip
    searcher = planner.searcher_for(view, k=keff, selection=sel, queries=queries)
    D, I = searcher.knn(view, queries, keff, nthreads, kids, skip)
    return D, add_base(I, base)


def segment_range(view, queries, radius: int, planner: Planner, nthreads: int, flt=None):
    """Radius search over one segment view: CSR ``(lims, D, I)`` or None when
    nothing is admitted."""
    sel = view.selection(flt)
    if _admitted(view, sel) == 0:
        return None
    if sel is not None and sel.rows is not None:
        return kernels().range_search(view.codes[sel.rows], view.seg.ids_at(sel.rows), queries,
                                      radius, nthreads)
    kids, base = view.seg.kernel_ids()
    skip = None if sel is None else sel.skip
    searcher = planner.searcher_for(view, radius=radius, queries=queries)
    lims, D, I = searcher.range_search(view, queries, radius, nthreads, kids, skip)
    return lims, D, add_base(I, base)
