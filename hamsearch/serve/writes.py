"""The writes of :class:`~hamsearch.serve.service.IndexService`:
:class:`WritesMixin` (add / upsert and remove, one at a time under the
service's write lock; every check runs before the index is touched)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from .errors import ApiError
from .inputs import _features, _field_of

__all__ = ["WritesMixin"]


class WritesMixin:
    """:meth:`add` and :meth:`remove` of
    :class:`~hamsearch.serve.service.IndexService` (which holds the index,
    the write lock and the batch checks they use)."""

    def add(self, codes: list, ids: Optional[list] = None, features: Optional[list] = None,
            encoding: str = "hex", mode: str = "upsert") -> dict:
        """Add or upsert codes; returns ``{"ids", "added", "replaced"}``.

        Every check runs before the index is touched; a refused request
        changes nothing.
        """
        n = len(codes)
        words = self._queries(codes, encoding)
        if ids is not None:
            self._check_batch(len(ids), "ids")
            if len(ids) != n:
                raise ApiError(422, "ids", f"ids has {len(ids)} entries; one per code ({n}) "
                                           "expected")
            arr = np.asarray(ids, dtype=np.int64).reshape(-1)
            srt = np.sort(arr)
            dup = srt[1:][srt[1:] == srt[:-1]]
            if dup.size:
                raise ApiError(422, "ids", f"ids holds {int(dup[0])} more than once")
        feats = None if features is None else _features(features, n, "features")
        with self._write_lock:
            self._writable()
            index = self._index
            if ids is None:
                start = self._backend.next_id(index)
                arr = np.arange(start, start + n, dtype=np.int64)
            try:
                if ids is not None and mode == "upsert":
                    replaced = index.upsert(words, arr, features=feats) if n else 0
                else:
                    index.add(words, ids=arr, features=feats)
                    replaced = 0
            except (ValueError, TypeError) as exc:
                msg = str(exc)
                status = 409 if "already in the index" in msg else 422
                raise ApiError(status, _field_of(msg), msg) from None
        return {"ids": arr.tolist(), "added": n - replaced, "replaced": replaced}

    def remove(self, ids: list) -> dict:
        """Remove codes by id; returns ``{"removed"}`` (ids not stored are ignored)."""
        self._check_batch(len(ids), "ids")
        with self._write_lock:
            self._writable()
            removed = self._index.remove(np.asarray(ids, dtype=np.int64)) if ids else 0
        return {"removed": int(removed)}
