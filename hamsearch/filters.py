"""Filtered search: which ids a search may return.

``index.search(q, k, filter=IdFilter.allow(ids))`` returns the exact k
nearest codes *among the admitted ones* (ties by ascending id, padding when
fewer than k are admitted); ``range_search`` and the hierarchical
(re-ranking) search take the same ``filter=``.  Three ways to say it:

* ``IdFilter.allow(ids)`` -- only these ids (ids not in the index are
  ignored);
* ``IdFilter.deny(ids)`` -- every id but these;
* ``IdFilter.from_mask(mask)`` -- a boolean array indexed by id: admit id
  ``i`` where ``mask[i]`` (ids ``>= len(mask)`` are not admitted).

How a filtered search runs (per call, on the call's snapshot): the filter
becomes the set of admitted storage rows.  When few rows are admitted (at
most ``SUBSET_FRACTION`` of the index, 1/16), the search gathers those rows
and scans only them, so a 0.1% allow-list costs about 0.1% of a scan and
never walks the multi-index tables looking for admitted codes.  The
translation of ids to rows costs O(|ids| log n) per new filter object and
snapshot; it is cached for the last few filters on the snapshot, so a
filter object reused across searches pays it once per index change.  Otherwise
the kernels run over the whole index with a *skip bitmap* of the excluded
rows (they are never candidates), and the index's method (flat or MIH) is
chosen as for a search of ``k / fraction_admitted`` neighbours, the number
of candidates MIH must enumerate to meet ``k`` admitted ones.
"""

from __future__ import annotations

import numpy as np

from . import rowbits

__all__ = ["IdFilter", "SUBSET_FRACTION"]

#: Admitted fraction at or below which a filtered search scans the gathered rows.
SUBSET_FRACTION = 1 / 16
#: Filters whose admitted rows each snapshot remembers.
FILTER_CACHE_SIZE = 8


def _as_ids(ids, name: str) -> np.ndarray:
    arr = np.asarray(ids)
    if arr.ndim == 0:
        arr = arr[None]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of ids, got shape {arr.shape}")
    if arr.size and (arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(
            f"{name} must be integer ids, got dtype {arr.dtype} (for a boolean mask over "
            "ids use IdFilter.from_mask)")
    if arr.dtype == np.uint64 and arr.size and arr.max() > np.uint64(np.iinfo(np.int64).max):
        arr = arr[arr <= np.uint64(np.iinfo(np.int64).max)]  # such ids are never stored
    arr = arr.astype(np.int64, copy=False)
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} must be non-negative ids, got {int(arr.min())}")
    # sort + drop repeats (np.unique's hash path is ~10x slower on large lists)
    srt = np.sort(arr)
    if srt.size > 1:
        srt = srt[np.r_[True, srt[1:] != srt[:-1]]]
    return srt


class IdFilter:
    """An allow-list or a deny-list of ids for ``search(..., filter=...)``.

    Build one with :meth:`allow`, :meth:`deny` or :meth:`from_mask`; it is
    immutable and may be reused across searches and indexes.

    Examples
    --------
    >>> import numpy as np, hamsearch
    >>> index = hamsearch.Index(64)
    >>> index.add(np.arange(80, dtype=np.uint8).reshape(10, 8))
    >>> D, I = index.search(index.reconstruct([0]), 3, filter=hamsearch.IdFilter.allow([2, 5, 7]))
    >>> sorted(I[0].tolist())
    [2, 5, 7]
    >>> D, I = index.search(index.reconstruct([0]), 2, filter=hamsearch.IdFilter.deny([0]))
    >>> 0 in I
    False
    """

    __slots__ = ("_mode", "_ids")

    def __init__(self, mode: str, ids: np.ndarray):
        if mode not in ("allow", "deny"):
            raise ValueError(f"mode must be 'allow' or 'deny', got {mode!r}")
        self._mode = mode
        ids = np.asarray(ids, dtype=np.int64)
        ids.flags.writeable = False
        self._ids = ids

    @classmethod
    def allow(cls, ids) -> "IdFilter":
        """Admit only ``ids`` (array_like of non-negative ints)."""
        return cls("allow", _as_ids(ids, "IdFilter.allow ids"))

    @classmethod
    def deny(cls, ids) -> "IdFilter":
        """Admit every id except ``ids``."""
        return cls("deny", _as_ids(ids, "IdFilter.deny ids"))

    @classmethod
    def from_mask(cls, mask) -> "IdFilter":
        """Admit id ``i`` where ``mask[i]`` is true (a 1-D boolean array)."""
        arr = np.asarray(mask)
        if arr.ndim != 1 or arr.dtype != np.bool_:
            raise TypeError(f"IdFilter.from_mask needs a 1-D bool array, got {arr.dtype} "
                            f"{arr.shape}")
        return cls("allow", np.flatnonzero(arr).astype(np.int64))

    @property
    def mode(self) -> str:
        """``"allow"`` or ``"deny"``."""
        return self._mode

    @property
    def ids(self) -> np.ndarray:
        """The listed ids, sorted, unique, read-only."""
        return self._ids

    def __repr__(self) -> str:
        return f"IdFilter.{self._mode}({self._ids.size} ids)"

    # ------------------------------------------------------------ planning
    def select(self, snap) -> "RowSelection":
        """The rows of snapshot ``snap`` this filter admits (see :class:`RowSelection`).

        Cached on the snapshot for the last few filter objects: searching
        again with the same ``IdFilter`` (until the index changes) skips the
        id -> row translation.
        """
        cache = snap.filter_cache
        hit = cache.get(id(self))
        if hit is not None and hit[0] is self:
            return hit[1]
        sel = self._select(snap)
        try:
            while len(cache) >= FILTER_CACHE_SIZE:
                cache.pop(next(iter(cache)), None)
        except (RuntimeError, StopIteration):  # another thread changed it: fine
            pass
        cache[id(self)] = (self, sel)
        return sel

    def _select(self, snap) -> "RowSelection":
        n = snap.n
        # live rows only: positions_of never returns a deleted row
        pos = snap.positions_of(self._ids) if self._ids.size and n else np.zeros(0, np.int64)
        pos = pos[pos >= 0]
        if self._mode == "allow":
            admitted = int(pos.size)
        else:
            admitted = snap.live - int(pos.size)
        if admitted == 0 or admitted <= SUBSET_FRACTION * n:
            if self._mode == "allow":
                rows = np.sort(pos)
            else:
                keep = snap.live_mask().copy()
                keep[pos] = False
                rows = np.flatnonzero(keep)
            return RowSelection(n, admitted, rows=rows.astype(np.int64))
        if self._mode == "allow":
            excluded = np.ones(n, dtype=bool)
            excluded[pos] = False
        else:
            excluded = ~snap.live_mask()
            excluded[pos] = True
        return RowSelection(n, admitted, skip=rowbits.from_mask(excluded))


def live_selection(snap) -> "RowSelection":
    """The live rows of a snapshot that has deleted ones (no filter): the
    tombstone bitmap as the skip bitmap, or the gathered live rows when few
    are left.  Cached on the snapshot."""
    cache = snap.filter_cache
    hit = cache.get("live")
    if hit is not None:
        return hit
    if snap.live <= SUBSET_FRACTION * snap.n:
        sel = RowSelection(snap.n, snap.live, rows=np.flatnonzero(snap.live_mask()))
    else:
        sel = RowSelection(snap.n, snap.live, skip=snap.dead)
    cache["live"] = sel
    return sel


class RowSelection:
    """The admitted rows of one snapshot, in the form the search will use.

    Attributes
    ----------
    n : int
        Rows of the snapshot.
    admitted : int
        Rows the filter admits.
    rows : ndarray of int64 or None
        Ascending admitted rows, when the search gathers them (few admitted).
    skip : ndarray of uint64 or None
        Bitmap of the excluded rows, when the search runs over every row.
    """

    __slots__ = ("n", "admitted", "rows", "skip")

    def __init__(self, n, admitted, rows=None, skip=None):
        self.n, self.admitted, self.rows, self.skip = n, admitted, rows, skip

    def k_for_planner(self, k: int) -> int:
        """The k to plan the method with: ``k / fraction admitted``, at most n."""
        if self.admitted <= 0:
            return self.n
        return int(min(self.n, -(-k * self.n // self.admitted)))


def check_filter(filter) -> IdFilter | None:
    """``filter=`` as given to a search: None or an :class:`IdFilter`."""
    if filter is None or isinstance(filter, IdFilter):
        return filter
    raise TypeError(
        f"filter must be a hamsearch.IdFilter (IdFilter.allow(ids), IdFilter.deny(ids) or "
        f"IdFilter.from_mask(mask)) or None, got {type(filter).__name__}")
