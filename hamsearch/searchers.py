"""Search methods behind one small interface, and the planner choosing them.

A :class:`Searcher` answers k-NN and radius queries over the rows of one
:class:`hamsearch.segment.SegmentView` with a skip bitmap; results carry
what the caller passes as ``ids`` (the segment's ids, row numbers, or
storage positions for re-ranking).  Two implementations:

* :class:`FlatSearcher` -- the popcount scan over every row;
* :class:`MIHSearcher` -- multi-index tables of that segment
  (:mod:`hamsearch.mih`).

Each value of ``Index(method=...)`` is a :class:`SearchMethod` registered
here (:func:`register_search_method`): how the :class:`Planner` picks one
searcher per segment and per call, and when the segment's tables are
built.  ``"flat"`` and ``"mih"`` indexes always get their method (MIH falls
back to the scan when ``k`` covers the segment); ``"auto"`` asks the cost
model (:class:`hamsearch.mih.AutoRule`) with the segment's own sample, so a
small fresh segment is scanned while a large sealed one uses its tables.  A
new method is one :class:`Searcher` and one :func:`register_search_method`
call; the index, its files, the sharded index and ``hamsearch serve``
accept every registered name (:func:`search_methods`).

:func:`segment_knn` and :func:`segment_range` run one segment: the filter
translation (few admitted rows are gathered and scanned; otherwise a skip
bitmap), the planner, the kernel, and the ids of range segments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from ._backend import kernels
from .mih import AutoRule, IndexMIH, MultiIndexTables
from .segment import add_base

__all__ = ["Searcher", "FlatSearcher", "MIHSearcher", "Planner", "SearchMethod",
           "register_search_method", "search_method", "search_methods", "segment_knn",
           "segment_range"]

#: When a method builds a segment's multi-index tables.
TABLE_POLICIES = ("never", "on_demand", "always")


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


@dataclass(frozen=True)
class SearchMethod:
    """One value of ``Index(method=...)``.

    Attributes
    ----------
    name : str
    choose : callable
        ``choose(planner, view, k, radius, queries) -> Searcher`` for a k-NN
        (``k``) or radius (``radius``) search over one segment view; called
        only when the segment holds more than ``k`` rows (else the scan runs).
        ``planner.tables_searcher(view)`` gives the segment's MIH tables
        (built on first use) and ``planner.rule`` the cost model.
    tables : {"never", "on_demand", "always"}
        ``"always"``: every segment keeps its tables from the start (the
        growing segment's are synced on every mutation, merges rebuild them);
        ``"on_demand"``: built when ``choose`` first asks for them, kept
        after; ``"never"``: ``choose`` never asks.
    description : str
    """

    name: str
    choose: Callable[..., "Searcher"]
    tables: str = "on_demand"
    description: str = ""


_METHODS: dict = {}


def register_search_method(name: str, choose: Callable[..., "Searcher"], *,
                           tables: str = "on_demand", description: str = "",
                           replace: bool = False) -> SearchMethod:
    """Register a search method under ``name`` (see :class:`SearchMethod`).

    Raises
    ------
    ValueError
        ``name`` is not a non-empty str, is already registered (unless
        ``replace``), or ``tables`` is not a policy.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"method name must be a non-empty str, got {name!r}")
    if tables not in TABLE_POLICIES:
        raise ValueError(f"tables must be one of {TABLE_POLICIES}, got {tables!r}")
    if name in _METHODS and not replace:
        raise ValueError(f"search method {name!r} is already registered")
    spec = SearchMethod(name, choose, tables, description)
    _METHODS[name] = spec
    return spec


def search_methods() -> tuple:
    """Names of the registered search methods, in registration order."""
    return tuple(_METHODS)


def search_method(name) -> SearchMethod:
    """The :class:`SearchMethod` registered as ``name``.

    Raises
    ------
    ValueError
        No such method.
    """
    spec = _METHODS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise ValueError(f"method must be one of {search_methods()}, got {name!r}")
    return spec


def _choose_flat(planner, view, k, radius, queries):
    return FLAT


def _choose_mih(planner, view, k, radius, queries):
    return planner.tables_searcher(view)


def _choose_auto(planner, view, k, radius, queries):
    """The cost model's pick, asked every call (built tables do not make MIH right)."""
    seg = view.seg
    rule = planner.rule
    rule.observe(queries)
    key = (k, radius)
    version = rule.profile_version
    plan = seg.plans.get(key)
    prefer = plan[1] if plan is not None and plan[0] == version else None
    if prefer is None:  # a function of the segment's rows, the key and the profile
        m, inline = planner.plan_inputs(seg)
        prefer = rule.prefer_mih(seg.codes, planner.nbits, m, inline, k=k, radius=radius,
                                 holder=seg)
        if len(seg.plans) < 256 or key in seg.plans:
            seg.plans[key] = (version, prefer)
    return planner.tables_searcher(view) if prefer else FLAT


register_search_method("auto", _choose_auto, tables="on_demand",
                       description="per segment and call, the scan or MIH by the cost model")
register_search_method("flat", _choose_flat, tables="never",
                       description="the popcount scan over every row")
register_search_method("mih", _choose_mih, tables="always",
                       description="multi-index hashing (Norouzi et al.) on every segment")


class Planner:
    """Chooses the searcher of each segment for an index's ``method``.

    Parameters
    ----------
    nbits : int
        Code length.
    method : str
        A registered search method (:func:`search_methods`).
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
        self.spec = search_method(method)
        self.inline_codes = None if inline_codes is None else bool(inline_codes)
        self.growing = IndexMIH(nbits, method, m, self.inline_codes,
                                eager=self.spec.tables == "always")
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
        if k is not None and selection is not None:
            k = selection.k_for_planner(k)
        n = view.seg.n
        if n == 0 or (k is not None and k >= n):
            return FLAT  # every code is a result: the scan is the right tool
        return self.spec.choose(self, view, k, radius, queries)

    def tables_searcher(self, view) -> Searcher:
        """MIH over ``view``'s segment tables (built on first use), or the
        scan where the segment cannot have tables."""
        state = view.seg.tables(self.build_sealed)
        if state is None:
            return FLAT
        return MIHSearcher(self._tables, state)

    @property
    def keeps_tables(self) -> bool:
        """Whether every segment keeps its tables from the start (``"mih"``)."""
        return self.spec.tables == "always"


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
    skip = None if sel is None else sel.skip
    searcher = planner.searcher_for(view, k=keff, selection=sel, queries=queries)
    kids, base = view.seg.kernel_ids(contiguous_as_rows=searcher is FLAT)
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
    skip = None if sel is None else sel.skip
    searcher = planner.searcher_for(view, radius=radius, queries=queries)
    kids, base = view.seg.kernel_ids(contiguous_as_rows=searcher is FLAT)
    lims, D, I = searcher.range_search(view, queries, radius, nthreads, kids, skip)
    return lims, D, add_base(I, base)
