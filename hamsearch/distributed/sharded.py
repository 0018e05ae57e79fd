"""``ShardedIndex``: codes spread over Ray actors, searched exactly.

See :mod:`hamsearch.distributed` for the design; ``docs/distributed.md``
for routing, recovery and the capacity model.

This module holds the constructor, the actors' life cycle and the
properties; the verbs are in :mod:`~hamsearch.distributed.reads` and
:mod:`~hamsearch.distributed.writes`, the calls to the actors (retries,
failover, catch-up) in :mod:`~hamsearch.distributed.calls`, the root
directory's ``sharded.json`` in :mod:`~hamsearch.distributed.config`.
"""

from __future__ import annotations

import itertools
import os

from typing import Optional

import numpy as np

from ..codes import check_nbits, n_words
from ..features import FeatureStore
from ..searchers import search_methods
from ..results import SearchAPI
from .calls import ShardCalls, ShardUnavailableError, _ray, init_ray
from .config import CONFIG_FILE, FORMAT, prepare_root, read_config, replica_dir
from .locks import ReadWriteLock
from .reads import ShardedReads
from .routing import ROUTING
from .shard import ShardServer
from .writes import ShardedWrites

__all__ = ["ShardedIndex", "ShardUnavailableError", "load", "CONFIG_FILE", "FORMAT"]

#: Seconds the constructor waits for the actors to start (and replay their logs).
STARTUP_TIMEOUT = 600.0


def _check_count(value, name: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


class ShardedIndex(ShardedReads, ShardedWrites, ShardCalls, SearchAPI):
    """An index split over shards, one Ray actor per shard replica.

    Parameters
    ----------
    nbits : int
        Code length in bits (a positive multiple of 8).
    num_shards : int, default 2
        Number of shards.  Ids are routed to shards by
        :func:`hamsearch.distributed.shard_of` (a fixed hash of the id).
    replicas : int, default 1
        Actors per shard, each with its own copy of the shard's directory.
        Every write goes to every replica before it is acknowledged; reads
        go to one replica (round robin).
    method : {"auto", "flat", "mih"}, default "auto"
        Each shard's search method (see :class:`hamsearch.Index`).
    root : str or os.PathLike
        The sharded index's directory: ``sharded.json`` and one durable
        index directory per replica, ``shard-NNN/replica-R/`` (the segments
        format with its write-ahead log).  An existing sharded index there
        is opened (its configuration must match).
    features_dtype : {"float32", "float16"}
        Storage of re-ranking features.
    fsync : {"always", "interval", "never"}, default "always"
        The shards' write-ahead log policy (see :func:`hamsearch.open`).
    num_cpus : float, default 1
        Ray CPUs reserved per actor (placement: actors are spread over the
        cluster's nodes).
    threads_per_shard : int, optional
        Kernel threads in each actor (default: ``max(1, int(num_cpus))``).
    address : str, optional
        The Ray cluster to join (``"auto"``, ``"ray://host:10001"``); by
        default an existing ``ray.init`` is used, or a local cluster started.
    timeout : float, default 60
        Seconds a call waits for a shard that is restarting before it
        raises :class:`ShardUnavailableError`.
    failover : bool, default False
        Reads of a shard whose replica is down are answered by another
        replica at once, instead of waiting for the restart.
    max_restarts : int, default -1
        Ray restarts of a dead actor (``-1``: without limit).
    segment_rows, inline_codes, background_merges
        Passed to each shard's :class:`hamsearch.Index`.

    Notes
    -----
    *Exactness*: every shard returns its exact local top-k (or range
    results, or re-ranked pools); the driver merges by (distance, id), so a
    result is identical -- ties included -- to one :class:`hamsearch.Index`
    holding every code.  A hierarchical search takes its pool bounds (the
    ``m``-th Hamming distance, ``fill="grow"``, ``ties="cut"``) over all
    shards in a first round trip, and re-ranks in a second.

    *Consistency*: the driver serialises writes and lets searches run
    concurrently between them (a readers-writer lock), so a search sees each
    write on every shard or on none.  Other processes must not write to the
    same root while it is open.

    *Bad input* raises the same exception, with the same message, as
    :class:`hamsearch.Index`, and changes no shard: the driver validates
    requests (and asks the shards whether ids are present) before sending
    any write.
    """

    def __init__(self, nbits: int, num_shards: int = 2, replicas: int = 1, method: str = "auto",
                 *, root, features_dtype="float32", fsync: str = "always", num_cpus: float = 1,
                 threads_per_shard: int | None = None, address: str | None = None,
                 timeout: float = 60.0, failover: bool = False, max_restarts: int = -1,
                 segment_rows: int | None = None, inline_codes: bool | None = None,
                 background_merges: bool | None = None):
        self._nbits = check_nbits(nbits)
        self._num_shards = _check_count(num_shards, "num_shards")
        self._replicas = _check_count(replicas, "replicas")
        if not isinstance(method, str) or method not in search_methods():
            raise ValueError(f"method must be one of {search_methods()}, got {method!r}")
        if fsync not in ("always", "interval", "never"):
            raise ValueError(f"fsync must be 'always', 'interval' or 'never', got {fsync!r}")
        if isinstance(num_cpus, bool) or not isinstance(num_cpus, (int, float)) or num_cpus < 0:
            raise ValueError(f"num_cpus must be a number >= 0, got {num_cpus!r}")
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if root is None:
            raise ValueError("root= is required: the directory the shards persist under")
        self._method = method
        self._features = FeatureStore(features_dtype)  # checks + the global with/without decision
        self._nw = n_words(self._nbits)
        self._root = os.path.abspath(os.fspath(root))
        self._timeout = float(timeout)
        self._failover = bool(failover)
        self._lock = ReadWriteLock()
        self._rr = itertools.count()
        self._closed = False
        self._pending = [[[] for _ in range(self._replicas)] for _ in range(self._num_shards)]
        options = {"features_dtype": self._features.dtype.name}
        for key, value in (("segment_rows", segment_rows), ("inline_codes", inline_codes),
                           ("background_merges", background_merges)):
            if value is not None:
                options[key] = value
        self._config = {"format": FORMAT, "nbits": self._nbits, "num_shards": self._num_shards,
                        "replicas": self._replicas, "method": method, "routing": ROUTING,
                        "features_dtype": self._features.dtype.name}
        self._config = prepare_root(self._root, self._config)
        self._method = self._config["method"]
        init_ray(address)
        threads = threads_per_shard if threads_per_shard is not None else max(1, int(num_cpus))
        self._actor_options = dict(num_cpus=num_cpus, max_restarts=max_restarts,
                                   max_task_retries=0, max_concurrency=8,
                                   scheduling_strategy="SPREAD")
        self._actor_args = (self._nbits, self._method, fsync, threads, options)
        self._actors = [[self._start_actor(s, r) for r in range(self._replicas)]
                        for s in range(self._num_shards)]
        infos = self._gather([(s, r, "info", ()) for s in range(self._num_shards)
                              for r in range(self._replicas)],
                             timeout=max(self._timeout, STARTUP_TIMEOUT))
        self._next_id = max(i["next_id"] for i in infos)
        enabled = [i["features_enabled"] for i in infos]
        if any(e is True for e in enabled):
            self._features.enabled = True
            self._features.d = next(i["features_d"] for i in infos if i["features_enabled"])
        elif any(e is False for e in enabled):
            self._features.enabled = False

    # ------------------------------------------------------------ set-up
    def _start_actor(self, s: int, r: int):
        ray = _ray()
        return ray.remote(ShardServer).options(**self._actor_options).remote(
            replica_dir(self._root, s, r), *self._actor_args)

    def restart_replica(self, shard: int, replica: int = 0) -> None:
        """Start a new actor for a replica that is gone for good (killed
        with ``no_restart``, or past ``max_restarts``): it reopens the
        replica's directory and replays its log, then the writes it missed
        are replayed to it.  The old actor, if still alive, is stopped."""
        shard = _check_count(shard, "shard", 0)
        replica = _check_count(replica, "replica", 0)
        if shard >= self._num_shards or replica >= self._replicas:
            raise ValueError(f"no replica {replica} of shard {shard} "
                             f"({self._num_shards} shards x {self._replicas} replicas)")
        ray = _ray()
        with self._lock.writing():
            self._open()
            try:
                ray.kill(self._actors[shard][replica], no_restart=True)
            except Exception:  # already gone
                pass
            self._actors[shard][replica] = self._start_actor(shard, replica)
            self._gather([(shard, replica, "info", ())],
                         timeout=max(self._timeout, STARTUP_TIMEOUT))
            self._catch_up()

    # ------------------------------------------------------------ properties
    @property
    def nbits(self) -> int:
        return self._nbits

    @property
    def num_shards(self) -> int:
        return self._num_shards

    @property
    def replicas(self) -> int:
        return self._replicas

    @property
    def method(self) -> str:
        return self._method

    @property
    def root(self) -> str:
        return self._root

    @property
    def failover(self) -> bool:
        """Whether reads of a shard whose replica is down go to another
        replica at once (settable)."""
        return self._failover

    @failover.setter
    def failover(self, value: bool) -> None:
        self._failover = bool(value)

    @property
    def actors(self) -> list[list]:
        """The Ray actor handles: ``actors[shard][replica]``."""
        return [list(a) for a in self._actors]

    @property
    def ntotal(self) -> int:
        return len(self)

    @property
    def next_id(self) -> int:
        """The first default id of the next :meth:`add` without ids: one
        past the largest id ever added to any shard."""
        return self._next_id

    @property
    def features_dim(self) -> Optional[int]:
        """Dimension of the stored features (``None`` when there are none),
        as :attr:`hamsearch.Index.features_dim`."""
        return self._features.d if self._features.enabled else None

    def __len__(self) -> int:
        with self._lock.reading():
            return int(sum(self._read(range(self._num_shards), "length", lambda s: ())))

    def __repr__(self) -> str:
        return (f"hamsearch.distributed.ShardedIndex(nbits={self._nbits}, "
                f"num_shards={self._num_shards}, replicas={self._replicas}, root={self._root!r})")

    # ------------------------------------------------------------ life cycle
    def _open(self) -> None:
        if self._closed:
            raise RuntimeError("this ShardedIndex is closed")

    def close(self, save: bool = True) -> None:
        """Checkpoint (``save=True``) and stop the shard actors."""
        if self._closed:
            return
        try:
            if save:
                self.save()
        finally:
            ray = _ray()
            with self._lock.writing():
                self._closed = True
                for replicas in self._actors:
                    for actor in replicas:
                        try:
                            ray.kill(actor, no_restart=True)
                        except Exception:  # pragma: no cover - already gone
                            pass

    def __enter__(self) -> "ShardedIndex":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def load(root, **options) -> ShardedIndex:
    """Open the sharded index saved under ``root`` (its ``sharded.json``):
    the shard actors reopen their directories and replay their logs.

    ``options``: :class:`ShardedIndex` keywords other than the stored
    configuration (``timeout``, ``failover``, ``num_cpus``, ``address``, ...).
    """
    config = read_config(root)
    return ShardedIndex(config["nbits"], config["num_shards"], config["replicas"],
                        config["method"], root=root,
                        features_dtype=config.get("features_dtype", "float32"), **options)
