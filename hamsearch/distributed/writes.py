"""The write verbs of :class:`~hamsearch.distributed.ShardedIndex`.

:class:`ShardedWrites` validates a mutation with :class:`hamsearch.Index`'s
own checks (asking the shards whether ids are present) before any shard
changes, then sends each shard its part, under the index's write lock, to
every replica (``ShardCalls._write`` in :mod:`hamsearch.distributed.calls`).
Default ids and the features decision are the driver's.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..codes import as_words
from ..ids import check_new_ids, default_ids, removal_keys

__all__ = ["ShardedWrites"]


class ShardedWrites:
    """``add``, ``upsert``, ``remove``, ``reset``, ``save`` and ``compact``
    of a :class:`~hamsearch.distributed.ShardedIndex` (a base class: the
    index holds the state, the lock and the calls)."""

    # ------------------------------------------------------------ validation
    def _check_ids(self, ids, n: int, allow_present: bool) -> np.ndarray:
        """The checks of :meth:`hamsearch.Index.add`, with ``present``
        asked of the shards (call under the write lock)."""
        if ids is None:
            return default_ids(self._next_id, n)
        arr = check_new_ids(ids, n)
        if allow_present or n == 0:
            return arr
        found = self._present(arr)
        if found.any():
            raise ValueError(f"ids already in the index, e.g. {int(arr[found][0])}")
        return arr

    def _note_features(self, feats) -> None:
        if feats is None:
            if self._features.enabled is None:
                self._features.enabled = False
        else:
            self._features.d = int(feats.shape[1])
            self._features.enabled = True

    # ------------------------------------------------------------ mutations
    def _write_rows(self, verb: Literal["add", "upsert"], codes, ids, features) -> int:
        """``add`` or ``upsert`` (``verb``): validate the rows, send each
        shard its part, and return how many stored codes they replaced
        (always 0 for ``add``, whose ids must be new)."""
        replacing = verb == "upsert"
        words = as_words(codes, self._nbits, "codes")
        n = words.shape[0]
        feats = self._features.convert(features, n)
        with self._lock.writing():
            self._open()
            new_ids = self._check_ids(ids, n, allow_present=replacing)
            self._features.check(feats, n)
            if n == 0:
                return 0
            # counted before the write: afterwards every id is present
            replaced = int(self._present(new_ids).sum()) if replacing else 0
            try:
                self._write({s: (verb, (words[r], new_ids[r],
                                        None if feats is None else feats[r]))
                             for s, r in self._route(new_ids).items()})
            finally:  # ids and the features decision are spent even by a partial write
                self._note_features(feats)
                self._next_id = max(self._next_id, int(new_ids.max()) + 1)
            return replaced

    def add(self, codes, ids=None, features=None) -> None:
        """Add codes (as :meth:`hamsearch.Index.add`); each goes to the shard
        of its id.  Default ids continue from one past the largest id ever
        added to any shard."""
        self._write_rows("add", codes, ids, features)

    def upsert(self, codes, ids, features=None) -> int:
        """Add codes, replacing those stored under the same ids (as
        :meth:`hamsearch.Index.upsert`); returns how many were replaced."""
        if ids is None:
            raise ValueError("upsert needs ids= (the ids to add or replace)")
        return self._write_rows("upsert", codes, ids, features)

    def remove(self, ids) -> int:
        """Remove codes by id (ids not stored are ignored); returns how many
        were removed."""
        keys = removal_keys(ids)
        if keys is None:
            return 0
        keys = np.unique(keys[keys >= 0])
        with self._lock.writing():
            self._open()
            if keys.size == 0:
                return 0
            found = self._present(keys)
            keys = keys[found]
            if keys.size == 0:
                return 0
            self._write({s: ("remove", (keys[r],)) for s, r in self._route(keys).items()})
            return int(keys.size)

    def reset(self) -> None:
        """Remove every code from every shard (the id counter restarts at 0)."""
        with self._lock.writing():
            self._open()
            self._write({s: ("reset", ()) for s in range(self._num_shards)})
            self._next_id = 0
            self._features.reset()

    def save(self) -> dict:
        """Checkpoint every replica (segments written, logs truncated):
        reopening then replays nothing.  Returns per-shard reports."""
        with self._lock.writing():
            self._open()
            self._catch_up()
            reports = self._gather([(s, r, "save", ()) for s in range(self._num_shards)
                                    for r in range(self._replicas)])
        return {"root": self._root, "replicas": reports}

    def compact(self) -> None:
        """Merge each shard into one segment (see :meth:`hamsearch.Index.compact`)."""
        with self._lock.writing():
            self._open()
            self._gather([(s, r, "compact", ()) for s in range(self._num_shards)
                          for r in range(self._replicas)])

