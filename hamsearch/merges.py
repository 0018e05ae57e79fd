"""Segment merges: which sealed segments to merge, doing it, publishing it.

The policy (:func:`pick_merge`), checked after every seal and delete:

1. a sealed segment more than ``COMPACT_FRACTION`` (1/4) deleted is
   rewritten without its deleted rows;
2. otherwise ``MERGE_FACTOR`` (8) *adjacent* sealed segments of the same
   size tier are merged into one -- tier ``t`` holds segments of
   ``segment_rows * 8**t`` to ``segment_rows * 8**(t+1)`` live rows -- so an
   index built by many small adds keeps ``O(log n)`` segments.  Merging only
   neighbours keeps the storage order (the order of :attr:`Index.ids`) the
   order the codes were added in.

A merge reads the segments of one snapshot without any lock (their rows
never change), builds the merged segment (and its multi-index tables when
the sources had them or the method is ``"mih"``), then takes the index
lock only to publish: it checks that the sources are still the index's
segments (a ``reset``, ``compact`` or another merge may have replaced them:
then the result is dropped) and carries over the rows deleted while it ran,
so a concurrent ``remove`` is never lost.  Searches never wait for a merge.

With ``Index(background_merges=True)`` (the default) merges run in one
worker thread per index, started when needed and ending when no merge is
left; :meth:`hamsearch.Index.wait_for_merges` waits for it.  With ``False``
they run inside the call that made them necessary.
"""

from __future__ import annotations

import math
import threading
import warnings

import numpy as np

from . import rowbits
from .segment import Segment, SegmentView

__all__ = ["MERGE_FACTOR", "MAX_SEGMENT_ROWS", "MergeScheduler", "pick_merge", "merge_views"]

#: Adjacent segments of one tier merged at once.
MERGE_FACTOR = 8
#: Merges never make a segment larger than this (the tables hold int32 rows).
MAX_SEGMENT_ROWS = 2**31 - 1


def _tier(live: int, segment_rows: int) -> int:
    if live <= segment_rows:
        return 0
    return int(math.log(live / segment_rows, MERGE_FACTOR))


def pick_merge(views, segment_rows: int, compact_fraction: float):
    """``(start, stop)``: the run of sealed views ``views[start:stop]`` to
    merge next, or None."""
    for i, v in enumerate(views):
        if v.n and v.ndead > compact_fraction * v.n:
            return i, i + 1
    run_start, run_tier = 0, None
    for i, v in enumerate(views):
        t = _tier(v.live, segment_rows)
        if t != run_tier:
            run_start, run_tier = i, t
        if i + 1 - run_start >= MERGE_FACTOR:
            total = sum(w.live for w in views[run_start : i + 1])
            if total <= MAX_SEGMENT_ROWS:
                return run_start, i + 1
            run_start = i + 1
    return None


def merge_views(views, planner, features_enabled) -> Segment:
    """One sealed segment holding the live rows of ``views`` in order."""
    codes = np.concatenate([v.live_rows(v.codes) for v in views]) if len(views) > 1 else \
        np.ascontiguousarray(views[0].live_rows(views[0].codes))
    ids = np.concatenate([v.live_rows(v.ids) for v in views])
    feats = None
    if features_enabled and all(v.features is not None for v in views):
        feats = np.concatenate([v.live_rows(v.features) for v in views])
    seg = Segment.from_rows(codes, ids, feats, sealed=True)
    if seg.n and (planner.keeps_tables or any(v.seg.mih is not None for v in views)):
        seg.mih = planner.build_sealed(seg)
    return seg


def carried_deletes(start_views, current_views) -> np.ndarray:
    """Rows of the merged segment deleted since the merge read ``start_views``
    (``current_views``: the same segments' views now)."""
    out, offset = [], 0
    for sv, cv in zip(start_views, current_views):
        if cv.ndead != sv.ndead:
            was = rowbits.to_mask(sv.dead, sv.n)
            now = rowbits.to_mask(cv.dead, cv.n) & ~was
            new_row = np.cumsum(~was) - 1  # row in the merged segment of each live row
            out.append(new_row[np.flatnonzero(now)] + offset)
        offset += sv.live
    return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)


class MergeScheduler:
    """Runs an index's merges in the background (or inline).

    Parameters
    ----------
    index : hamsearch.Index
    background : bool
        Merge in a worker thread (True) or in the calling thread.
    """

    def __init__(self, index, background: bool = True):
        self.index = index
        self.background = bool(background)
        self._thread = None
        self._guard = threading.Lock()
        self.merges_done = 0
        self.last_error = None

    def request(self) -> None:
        """A seal or delete happened (called under the index lock)."""
        if not self._needed():
            return
        if not self.background:
            self._run_all()
            return
        with self._guard:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run_all, name="hamsearch-merge",
                                            daemon=True)
            self._thread.start()

    def _needed(self):
        ix = self.index
        return pick_merge(ix._sealed, ix._segment_rows, ix.compact_fraction) is not None

    def _run_all(self) -> None:
        try:
            while self.merge_once():
                pass
        except Exception as exc:  # MemoryError and the like: the index stays as it was
            self.last_error = exc
            warnings.warn(f"hamsearch: a background segment merge failed: {exc!r}",
                          RuntimeWarning, stacklevel=1)

    def merge_once(self, run=None) -> bool:
        """Pick (or take ``run`` = (start, stop)) and do one merge; False when
        there was none to do."""
        ix = self.index
        with ix._lock:
            views = list(ix._sealed)
            if run is None:
                run = pick_merge(views, ix._segment_rows, ix.compact_fraction)
            if run is None:
                return False
            start_views = views[run[0] : run[1]]
            if not start_views:
                # a run taken before another merge shrank the sealed list
                # (compact's (0, len) racing a background merge that left
                # nothing, say): nothing to merge now
                return False
            features_enabled = ix._features.enabled
        merged = merge_views(start_views, ix._planner, features_enabled)
        with ix._lock:
            cur = ix._sealed
            segs = [v.seg for v in start_views]
            at = next((i for i in range(len(cur) - len(segs) + 1)
                       if all(cur[i + j].seg is s for j, s in enumerate(segs))), None)
            if at is None:
                return True  # replaced meanwhile (reset, compact, another merge)
            dead_rows = carried_deletes(start_views, cur[at : at + len(segs)])
            new_views = []
            if merged.n:
                view = SegmentView(merged)
                if dead_rows.size:
                    view = view.with_dead(dead_rows)
                new_views.append(view)
            ix._sealed = cur[:at] + new_views + cur[at + len(segs):]
            ix._publish(rows_kept=True)
            self.merges_done += 1
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the worker; True when no merge is running."""
        t = self._thread
        if t is not None:
            t.join(timeout)
            return not t.is_alive()
        return True
