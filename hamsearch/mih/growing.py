"""The glue used by :class:`hamsearch.Index`: the growing segment's tables.

:class:`IndexMIH` holds the tables of the segment that still takes
appends and keeps them in sync with it: always for ``method="mih"``, from
the planner's first choice of MIH for ``"auto"``, never for ``"flat"``.
"""

from __future__ import annotations

from .layout import _check_m
from .tables import MultiIndexTables


class IndexMIH:
    """The incremental tables of an index's growing segment.

    ``method="mih"`` keeps them in sync with every mutation;
    ``method="auto"`` builds them the first time :class:`AutoRule` prefers
    MIH for the growing segment and keeps them in sync from then on;
    ``method="flat"`` never builds them.  The table state built for a
    published state of the segment travels with it (``segment.mih``), so a
    search always probes tables over exactly the codes it verifies against.
    Sealed segments build their own tables once
    (:meth:`hamsearch.searchers.Planner.build_sealed`).

    Parameters
    ----------
    nbits : int
        Code length.
    method : {"auto", "flat", "mih"}
        The index's method.
    m : int, optional
        Number of substrings (default: chosen from ``n``).
    eager : bool
        Keep the tables in sync from the start (the planner passes its
        method's table policy: ``"always"``).
    """

    def __init__(self, nbits: int, method: str, m=None, inline_codes=None, *,
                 eager: bool = False):
        self.method = method
        self.eager = bool(eager)
        self.nbits = int(nbits)
        self.m_request = _check_m(nbits, m)
        self.inline_codes = inline_codes
        self.reset()

    def reset(self) -> None:
        """Drop the tables (the index was emptied); call under the index lock."""
        self.tables = MultiIndexTables(self.nbits, m=self.m_request,
                                       inline_codes=self.inline_codes)
        self.active = self.eager

    def m_for(self, n: int) -> int:
        """Substrings in use, or that a build over ``n`` codes would use now."""
        st = self.tables._state
        if st is not None:
            return st.m
        return self.planned_m(n)

    def planned_m(self, n: int) -> int:
        st = self.tables._state
        return self.tables._target_m(n, None if st is None else st.m)

    @property
    def nbytes(self) -> int:
        """Bytes held by the multi-index tables built so far (0 before the first MIH search)."""
        return self.tables.nbytes

    def published(self, codes, ids):
        """Called under the index lock for every new snapshot: the table
        state over ``(codes, ids)`` when the tables are kept, else None."""
        if not self.active:
            return None
        self.tables.sync(codes, ids)
        return self.tables._state

    def invalidate(self) -> None:
        """Positions were compacted: the next sync rebuilds."""
        self.tables.invalidate()

    def build_now(self, codes, ids):
        """Start keeping the tables (the planner chose MIH): the state over
        ``(codes, ids)``; call under the index lock."""
        self.active = True
        self.tables.sync(codes, ids)
        return self.tables._state

    def detach(self, codes, ids):
        """The table state over ``(codes, ids)``, the segment being sealed
        (brought in sync incrementally; None when no tables are kept), then
        start over for a new growing segment; call under the index lock."""
        st = None
        if self.active and self.tables._state is not None:
            self.tables.sync(codes, ids)
            st = self.tables._state
        self.reset()
        return st
