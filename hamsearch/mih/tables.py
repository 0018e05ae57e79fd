"""The multi-index tables of one segment and their published states.

:class:`MultiIndexTables` keeps the tables over a segment's codes in step
with its mutations (a main and a delta part, see :mod:`hamsearch.mih`) and
runs the MIH kernels over one published state (``_State``: codes, ids and
the tables over them); :func:`rebased` and :func:`state_nbytes` serve the
index's snapshots.
"""

from __future__ import annotations

import threading

import numpy as np

from . import build as _build
from .build import SEGMENT_FIELDS, _empty_segment, _segment_nbytes, build_segment
from .cost import CACHED_TABLE_BITS
from .layout import KIND_DENSE, TABLE_KINDS, _check_m, choose_m, kind_names, substring_layout
from .pricing import BUDGET_FACTOR, work_budget

#: The delta segment is merged into the main one beyond this fraction.
DELTA_FRACTION = 1 / 8
#: Inline codes by default while ``m * words_per_code`` is at most this.
INLINE_MAX_WORDS = 16


class _State:
    """One consistent published view: codes, ids and the tables over them."""

    __slots__ = ("codes", "ids", "m", "starts", "lengths", "main", "delta", "n_main", "n",
                 "max_len")

    def __init__(self, codes, ids, m, starts, lengths, main, delta, n_main):
        self.codes, self.ids = codes, ids
        self.m, self.starts, self.lengths = m, starts, lengths
        self.main, self.delta = main, delta
        self.n_main = n_main
        self.n = codes.shape[0]
        self.max_len = int(lengths.max()) if len(lengths) else 0  # (per search: _budget)


class MultiIndexTables:
    """Multi-index hash tables over the codes of an :class:`hamsearch.Index`.

    Parameters
    ----------
    nbits : int
        Code length.
    m : int, optional
        Number of substrings; default: chosen from ``n`` (see :func:`choose_m`).
    inline_codes : bool, optional
        Keep a copy of the codes in each table's order, so that verifying a
        bucket reads memory sequentially instead of one random access per
        code (``m * 8 * ceil(nbits / 64)`` more bytes per code).  Default:
        on when ``m * ceil(nbits / 64) <= 16``.
    table_kind : {"dense", "sparse", "hash"}, optional
        Force the kind of every table (default: per substring width and
        ``n``, see :func:`table_kind`).

    Notes
    -----
    Call :meth:`sync` with the index's current ``(codes, ids)`` after every
    mutation (appends are incremental, see :mod:`hamsearch.mih`) and
    :meth:`invalidate` before publishing compacted arrays.  Searches read one
    published state object, so they may run concurrently with a sync.
    """

    def __init__(self, nbits: int, m=None, inline_codes=None, table_kind=None):
        self.nbits = int(nbits)
        if table_kind is not None and table_kind not in TABLE_KINDS:
            raise ValueError(f"table_kind must be one of {TABLE_KINDS}, got {table_kind!r}")
        self.table_kind = table_kind
        self._m_request = _check_m(self.nbits, m)
        self._inline_request = None if inline_codes is None else bool(inline_codes)
        self._state = None
        self._stale = True
        self._n_pick = 0
        self._lock = threading.Lock()
        self.last_stats = None
        #: Work per query, in units of ``n * words``, before a query starts
        #: over with a linear scan (see ``BUDGET_FACTOR``).  Keep it finite: it is
        #: what bounds a query whose k-th distance is far (k close to n).
        self.budget_factor = BUDGET_FACTOR
        #: The scan's cost per word that scales the budget (see
        #: :func:`hamsearch.mih.pricing.work_budget`); None: the kernels in use.
        #: Tests pin it to compare kernels of different word costs.
        self.budget_word_cost = None

    # ------------------------------------------------------------- properties
    @property
    def m(self) -> int:
        """Number of substrings in use (or that the next build will use)."""
        st = self._state
        if st is not None:
            return st.m
        return self._m_request or choose_m(self.nbits, 0)

    @property
    def nbytes(self) -> int:
        """Bytes held by the tables (not counting the codes and ids)."""
        st = self._state
        if st is None:
            return 0
        return _segment_nbytes(st.main) + _segment_nbytes(st.delta)

    def describe(self) -> dict:
        """Layout summary: m, substring lengths, dense/hash tables, segment sizes."""
        st = self._state
        if st is None:
            return {"m": self.m, "built": False}
        return {
            "m": st.m,
            "lengths": st.lengths.tolist(),
            "dense": [bool(h == KIND_DENSE) for h in st.main[0][:, 0]],
            "kinds": kind_names(st.main[0]),
            "inline_codes": bool(st.main[6].size) or None,
            "n_main": st.n_main,
            "n_delta": st.n - st.n_main,
            "nbytes": self.nbytes,
        }

    # ---------------------------------------------------------------- updates
    def invalidate(self) -> None:
        """Force a full rebuild at the next :meth:`sync` (after a removal)."""
        self._stale = True

    def _inline(self, m: int, codes) -> bool:
        if self._inline_request is not None:
            return self._inline_request
        return m * max(1, codes.shape[1]) <= INLINE_MAX_WORDS

    def _target_m(self, n: int, current) -> int:
        if self._m_request is not None:
            return self._m_request
        if current is not None and self._n_pick and self._n_pick / 2 <= n <= 2 * self._n_pick:
            return current
        return choose_m(self.nbits, n)

    def sync(self, codes: np.ndarray, ids: np.ndarray) -> None:
        """Bring the tables in line with ``codes`` (positions ``0 .. n-1``).

        Parameters
        ----------
        codes : ndarray of uint64, shape (n, w)
            The index's stored codes; the first ``n_indexed`` rows must be
            unchanged since the previous sync unless :meth:`invalidate` was
            called.
        ids : ndarray of int64, shape (n,)
        """
        with self._lock:
            n = codes.shape[0]
            st = self._state
            current_m = None if (st is None or self._stale) else st.m
            m = self._target_m(n, current_m)
            full = st is None or self._stale or m != st.m or n < st.n
            if not full and n > st.n:
                full = (n - st.n_main) > DELTA_FRACTION * st.n_main
            if full:
                if self._m_request is None and (current_m is None or m != current_m):
                    self._n_pick = max(n, 1)
                starts, lengths = substring_layout(self.nbits, m)
                main = build_segment(codes, 0, n, starts, lengths, self._inline(m, codes),
                                     self.table_kind)
                new = _State(codes, ids, m, starts, lengths, main, _empty_segment(m), n)
            elif n > st.n:
                # sparse where the main part is, so that both parts of a
                # table are probed by the grouped enumeration (csrc/mih_impl.h)
                kinds = self.table_kind or [k if k == "sparse" else None
                                            for k in kind_names(st.main[0])]
                delta = build_segment(codes, st.n_main, n, st.starts, st.lengths,
                                      self._inline(m, codes), kinds)
                new = _State(codes, ids, m, st.starts, st.lengths, st.main, delta, st.n_main)
            else:
                new = _State(codes, ids, m, st.starts, st.lengths, st.main, st.delta, st.n_main)
            self._state = new
            self._stale = False

    # ----------------------------------------------------------------- search
    def _budget(self, st) -> int:
        cached = st.max_len <= CACHED_TABLE_BITS
        work = work_budget(st.n * max(1, st.codes.shape[1]), cached, self.budget_factor,
                           self.budget_word_cost)
        return int(min(work, 2**62))

    def knn(self, queries: np.ndarray, k: int, nthreads: int = 1, state=None, ids=None,
            skip=None):
        """Exact k-NN (same contract as the flat kernel); returns ``(D, I)``.

        ``state`` is the published table state to search (default: the
        latest); ``ids`` replaces the state's ids in the results (the
        hierarchical search passes storage positions); ``skip`` is an
        optional uint64 bitmap of rows left out (see ``csrc/hamsearch.h``).
        """
        st = self._state if state is None else state
        K = _build._mih_kernels()  # (patched there by tests)
        D, I, stats = K.mih_knn(st.codes, st.ids if ids is None else ids, queries, int(k),
                                st.starts, st.lengths, st.main, st.delta, self._budget(st),
                                nthreads, skip=skip)
        self.last_stats = stats
        return D, I

    def range_search(self, queries: np.ndarray, radius: int, nthreads: int = 1, state=None,
                     ids=None, skip=None):
        """Exact radius search (inclusive); returns ``(lims, D, I)``.

        ``state``, ``ids`` and ``skip``: as for :meth:`knn`.
        """
        st = self._state if state is None else state
        K = _build._mih_kernels()  # (patched there by tests)
        lims, D, I, stats = K.mih_range_search(st.codes, st.ids if ids is None else ids,
                                               queries, int(radius), st.starts, st.lengths,
                                               st.main, st.delta, self._budget(st), nthreads,
                                               skip=skip)
        self.last_stats = stats
        return lims, D, I

    # ------------------------------------------------------------ persistence
    def sections(self) -> tuple[dict, dict]:
        """Metadata and arrays of the tables (for :mod:`hamsearch.storage`)."""
        st = self._state
        meta = {"m": st.m, "n_main": st.n_main, "n": st.n, "n_pick": self._n_pick}
        arrays = {}
        for name, seg in (("main", st.main), ("delta", st.delta)):
            for field, arr in zip(SEGMENT_FIELDS, seg):
                arrays[f"mih_{name}_{field}"] = arr
        return meta, arrays

    def load_sections(self, meta: dict, arrays: dict, codes, ids) -> None:
        """Adopt tables written by :meth:`sections` for ``codes``/``ids``."""
        m = int(meta["m"])
        starts, lengths = substring_layout(self.nbits, m)
        segs = []
        for name in ("main", "delta"):
            segs.append(tuple(
                np.asarray(arrays[f"mih_{name}_{field}"]) if f"mih_{name}_{field}" in arrays
                else np.zeros((m, 0), np.uint8)  # (written before sparse tables existed)
                for field in SEGMENT_FIELDS
            ))
        if segs[1][4].ndim != 2 or segs[1][4].shape[0] != m:
            segs[1] = _empty_segment(m)
        self._n_pick = int(meta.get("n_pick", meta["n"]))
        self._state = _State(codes, ids, m, starts, lengths, segs[0], segs[1],
                             int(meta["n_main"]))
        self._stale = False


def state_nbytes(state) -> int:
    """Bytes of one table state's arrays (0 for None)."""
    if state is None:
        return 0
    return _segment_nbytes(state.main) + _segment_nbytes(state.delta)


def rebased(state, codes, ids=None):
    """The same tables over a copy of their codes (same rows, new arrays)."""
    return _State(codes, ids, state.m, state.starts, state.lengths, state.main, state.delta,
                  state.n_main)
