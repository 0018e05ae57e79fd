"""The administration of :class:`~hamsearch.serve.service.IndexService`:
:class:`AdminMixin` (snapshot, reload, close; one at a time under the
service's admin lock).

:meth:`AdminMixin.reload` loads the new index first, then swaps it in under
the write lock; requests that already hold the old index finish on it.
"""

from __future__ import annotations

import logging
import time
from typing import Optional

from .errors import ApiError

__all__ = ["AdminMixin"]

log = logging.getLogger("hamsearch.serve")


class AdminMixin:
    """:meth:`snapshot`, :meth:`reload` and :meth:`close` of
    :class:`~hamsearch.serve.service.IndexService`."""

    def snapshot(self) -> dict:
        """Save the index to its directory (new segments + manifest; the log
        is checkpointed)."""
        with self._admin_lock:
            if self.closed:
                raise ApiError(503, None, "the service is shut down")
            index = self._index
            t0 = time.perf_counter()
            report = self._backend.save(index)
        report["seconds"] = round(time.perf_counter() - t0, 4)
        return report

    def reload(self, source: Optional[str] = None) -> dict:
        """Swap in the index saved at ``source`` (default ``config.reload_from``).

        The new index is loaded while the old one keeps serving; then, with
        writes held, it is saved into the service's directory (superseding
        the log: writes acknowledged before the reload and not in the new
        index are gone by design) and reopened with the log; requests that
        took the old index finish on it.  A crash at any point leaves the
        old or the new index in the directory, never a mix.
        """
        import hamsearch

        if self._backend.reload_refused:
            raise ApiError(409, None, self._backend.reload_refused)
        source = source or self.config.reload_from
        if source is None:
            raise ApiError(409, None, "no reload source: start the service with --reload-from "
                                      "PATH (an index file or directory)")
        with self._admin_lock:
            if self.closed:
                raise ApiError(503, None, "the service is shut down")
            t0 = time.perf_counter()
            try:
                new = hamsearch.load(source)
            except (OSError, ValueError) as exc:
                raise ApiError(409, None, f"cannot load the reload source: {exc}") from None
            if new.nbits != self.nbits:
                raise ApiError(409, None, f"the reload source holds {new.nbits}-bit codes; this "
                                          f"service serves {self.nbits}-bit codes")
            with self._write_lock:
                old = self._index
                self._backend.close(old)  # releases the log: the save below supersedes it
                failure = None
                try:
                    new.save(self.directory)
                except Exception as exc:  # disk full, permissions...: keep the old index
                    failure = exc
                # the directory holds the old state (the save failed) or the new one
                self._index = self._backend.open()
                if failure is not None:
                    raise ApiError(503, None, f"reload failed, still serving the previous "
                                              f"index: {failure}")
                self.reloads += 1
            loaded = len(self._index)
        log.info("reloaded %d codes in %.2f s", loaded, time.perf_counter() - t0)
        return {"ntotal": loaded, "seconds": round(time.perf_counter() - t0, 4),
                "reloads": self.reloads}

    def close(self, save: bool = True) -> Optional[int]:
        """Save (by default) and close the log (a sharded index: stop its
        actors); later writes are refused.

        Returns
        -------
        int or None
            The number of codes saved (``None``: not saved, or closed before).
        """
        with self._admin_lock:
            if self.closed:
                return None
            with self._write_lock:
                self.closed = True
                index = self._index
                saved = None
                try:
                    if save:
                        self._backend.save(index)
                        saved = len(index)
                finally:
                    self._backend.close(index)
                return saved
