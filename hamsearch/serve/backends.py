"""What the service serves: one index directory, or a Ray sharded index.

:class:`~hamsearch.serve.service.IndexService` searches, adds and removes
through the verbs :class:`hamsearch.Index` and
:class:`hamsearch.distributed.ShardedIndex` share (``search``,
``range_search``, ``hierarchical_search``, ``add``, ``upsert``,
``remove``, ``reconstruct``, ``reconstruct_features``, ``features_dim``,
``in``, ``len``).  The few things that differ -- how the index is opened,
saved and closed, where the next default id comes from, the statistics,
whether it can be reloaded -- are a backend's:

* :class:`DirectoryBackend`: ``hamsearch.open(directory, wal=True)``;
* :class:`ShardedBackend`: a :class:`~hamsearch.distributed.ShardedIndex`
  root (``sharded.json`` + one durable directory per shard replica).  Ray is
  imported when it opens, never when this module is imported; on close it
  stops the shard actors, and shuts down the local Ray cluster when it was
  the one to start it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from typing import Any, Iterator, Optional

__all__ = ["DirectoryBackend", "ShardedBackend", "is_sharded_root", "SHARDED_RELOAD"]

log = logging.getLogger("hamsearch.serve")

#: Seconds :meth:`ShardedBackend.close` waits for the replicas to close their logs, and
#: then for the stopped actors to be reported dead.
CLOSE_TIMEOUT = 10.0

#: Why ``POST /v1/reload`` is refused on a sharded index (a 409).
SHARDED_RELOAD = ("reload is not available on a sharded index: it swaps one index directory "
                  "in a single step, and a sharded index has one directory per shard replica "
                  "with no atomic swap across them; build the new sharded root and restart "
                  "the service on it")


def is_sharded_root(path) -> bool:
    """Whether ``path`` holds a sharded index (its ``sharded.json``, as
    :func:`hamsearch.distributed.load` reads it)."""
    from ..distributed.sharded import CONFIG_FILE  # no Ray import

    return path is not None and os.path.isfile(os.path.join(os.fspath(path), CONFIG_FILE))


@contextlib.contextmanager
def _keep_sigterm() -> Iterator[None]:
    """Keep the process's SIGTERM handler across a ``ray.init`` (Ray installs
    one that exits with status 15; the server's drain re-raises SIGTERM, and
    the process must end *by* the signal, as process managers expect)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        if previous is not None and signal.getsignal(signal.SIGTERM) is not previous:
            signal.signal(signal.SIGTERM, previous)


def _wait_gone(actors: list, timeout: float = CLOSE_TIMEOUT) -> None:
    """Until every killed actor is reported dead (``ray.kill`` only asks),
    at most ``timeout`` seconds in all."""
    import time

    import ray

    deadline = time.monotonic() + timeout
    for actor in actors:
        while time.monotonic() < deadline:
            try:
                ray.get(actor.ping.remote(), timeout=max(0.01, deadline - time.monotonic()))
            except ray.exceptions.RayActorError:
                break  # gone
            except ray.exceptions.GetTimeoutError:
                break  # the deadline passed
            time.sleep(0.02)
    if time.monotonic() >= deadline:
        log.warning("shard actors still answering %.0f s after they were stopped", timeout)


def _scalars(report: Optional[dict]) -> dict:
    """The JSON scalars of a save report."""
    return {k: v for k, v in (report or {}).items() if isinstance(v, (int, float, str))}


class DirectoryBackend:
    """One durable index directory, opened with :func:`hamsearch.open` (log on).

    Parameters
    ----------
    directory : str
        Opened, or created with ``nbits``.
    nbits : int, optional
        Code length of a new index; checked against an existing one.
    fsync : {"always", "interval", "never"}
    options : dict
        More :func:`hamsearch.open` options for a new index (``method``, ...).
    """

    sharded = False
    #: ``None``: :meth:`IndexService.reload` is available; else why not.
    reload_refused: Optional[str] = None
    #: Whether the index still answers reads once closed (the log is closed,
    #: the index stays in memory).
    readable_after_close = True

    def __init__(self, directory, nbits: Optional[int] = None, fsync: str = "always",
                 options: Optional[dict] = None):
        self.directory = os.fspath(directory)
        self.nbits = nbits
        self.fsync = fsync
        self.options = dict(options or {})

    def open(self):
        """Open (or create) the directory, replaying its log: a :class:`hamsearch.Index`."""
        import hamsearch

        return hamsearch.open(self.directory, self.nbits, wal=True, fsync=self.fsync,
                              **self.options)

    def next_id(self, index) -> int:
        """The first default id of the next add without ids."""
        return int(index.snapshot().next_id)

    def stats(self, index) -> dict:
        """:meth:`hamsearch.Index.stats`."""
        return index.stats()

    def save(self, index) -> dict:
        """Save into the directory (the log is checkpointed); what was written."""
        return _scalars(index.save(self.directory))

    def close(self, index) -> None:
        """Close the log."""
        index.close()

    def present(self, index, ids: list) -> list:
        """Which of ``ids`` are stored (booleans, in order)."""
        return [i in index for i in ids]


class ShardedBackend:
    """A :class:`hamsearch.distributed.ShardedIndex` under ``root``.

    Parameters
    ----------
    root : str
        The sharded root: opened with :func:`hamsearch.distributed.load`
        when it holds ``sharded.json``, else created (``nbits`` needed).
    nbits : int, optional
        Code length of a new sharded index; checked against an existing one.
    num_shards, replicas : int, optional
        Of a new sharded index (default 2 and 1); checked against an
        existing one.
    fsync : {"always", "interval", "never"}
        The shards' write-ahead log policy.
    options : dict
        ``method`` (of a new index) and more :class:`ShardedIndex` keywords
        (``num_cpus``, ``address``, ``timeout``, ``failover``, ...).
    """

    sharded = True
    reload_refused: Optional[str] = SHARDED_RELOAD
    readable_after_close = False  # its actors are stopped

    def __init__(self, root, nbits: Optional[int] = None, *, num_shards: Optional[int] = None,
                 replicas: Optional[int] = None, fsync: str = "always",
                 options: Optional[dict] = None):
        self.directory = os.path.abspath(os.fspath(root))
        self.nbits = nbits
        self.num_shards = num_shards
        self.replicas = replicas
        self.fsync = fsync
        self.options = dict(options or {})
        self._started_ray = False

    def _check_stored(self) -> None:
        """Given sizes must match the stored configuration (a ValueError naming the option)."""
        import json

        from ..distributed.sharded import CONFIG_FILE

        with open(os.path.join(self.directory, CONFIG_FILE)) as f:
            stored = json.load(f)
        for name, want, key in (("nbits", self.nbits, "nbits"),
                                ("shards", self.num_shards, "num_shards"),
                                ("replicas", self.replicas, "replicas")):
            if want is not None and stored.get(key) != want:
                raise ValueError(f"{self.directory} holds a sharded index with {key}="
                                 f"{stored.get(key)!r}, not --{name} {want}")

    def open(self):
        """Start the shard actors (and a local Ray cluster when none is
        running): a :class:`hamsearch.distributed.ShardedIndex`."""
        import functools

        from .. import distributed

        try:
            import ray
        except ImportError as exc:
            raise ImportError("serving a sharded index needs Ray: pip install "
                              "'hamsearch[ray]'") from exc
        options = dict(self.options)
        method = options.pop("method", "auto")
        if is_sharded_root(self.directory):
            self._check_stored()
            opener = functools.partial(distributed.load, self.directory, fsync=self.fsync,
                                       **options)
        elif self.nbits is None:
            raise ValueError(f"{self.directory} holds no sharded index yet: give nbits "
                             "(--nbits) to create one")
        else:
            opener = functools.partial(distributed.ShardedIndex, self.nbits,
                                       self.num_shards or 2, self.replicas or 1, method,
                                       root=self.directory, fsync=self.fsync, **options)
        started = not ray.is_initialized()
        try:
            with _keep_sigterm():
                index = opener()
        except BaseException:
            if started and ray.is_initialized():
                ray.shutdown()
            raise
        self._started_ray = self._started_ray or started
        return index

    def next_id(self, index) -> int:
        """The first default id of the next add without ids."""
        return int(index.next_id)

    def stats(self, index) -> dict:
        """:meth:`ShardedIndex.stats` (totals, and ``shards``: each shard's
        :meth:`hamsearch.Index.stats`), with ``wal_seq`` the sum of the
        shards' log positions (it grows with every write)."""
        st = index.stats()
        st["wal_seq"] = sum(int(s.get("wal_seq", 0)) for s in st["shards"])
        return st

    def save(self, index) -> dict:
        """Checkpoint every replica; what was written, summed over the replicas."""
        totals: dict[str, Any] = {}
        for rep in index.save()["replicas"]:
            for key, value in rep.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    totals[key] = totals.get(key, 0) + value
        return {"root": index.root, "num_shards": index.num_shards,
                "replicas": index.replicas, **totals}

    def close(self, index) -> None:
        """Close each replica's log (its directory is free once this
        returns), stop the shard actors (no checkpoint: the logs hold every
        write), and shut Ray down when :meth:`open` started it."""
        import ray

        actors = [actor for replicas in index.actors for actor in replicas]
        try:
            ray.get([actor.close.remote() for actor in actors], timeout=CLOSE_TIMEOUT)
        except Exception as exc:  # a dead or stuck replica: its process is killed below
            log.warning("closing the shard logs: %s", exc)
        try:
            index.close(save=False)
            _wait_gone(actors)
        finally:
            if self._started_ray:
                self._started_ray = False
                ray.shutdown()

    def present(self, index, ids: list) -> list:
        """Which of ``ids`` are stored (booleans, in order; one call per shard)."""
        return index.contains(ids).tolist() if ids else []
