"""``ShardedIndex``: codes spread over Ray actors, searched exactly.

See :mod:`hamsearch.distributed` for the design; ``docs/distributed.md``
for routing, recovery and the capacity model.
"""

from __future__ import annotations

import itertools
import json
import os
import time

from typing import Optional

import numpy as np
from numpy.typing import ArrayLike

from .._atomic import atomic_write
from .._checks import check_k, check_radius
from ..codes import as_words, check_nbits, n_words, words_to_bytes
from ..features import FeatureStore
from ..filters import IdFilter, check_filter
from ..index import METHODS, _id_keys, check_new_ids, default_ids, is_id, pad_knn
from ..results import (Fill, Metric, RangeResult, RerankMode, RerankResult, SearchAPI,
                       SearchResult, Ties)
from ..segment import merge_knn, merge_range
from .locks import ReadWriteLock
from .routing import ROUTING, split_rows
from .shard import ShardServer

__all__ = ["ShardedIndex", "ShardUnavailableError", "load", "CONFIG_FILE", "FORMAT"]

#: The sharded index's description, in its root directory.
CONFIG_FILE = "sharded.json"
#: Its format name and version.
FORMAT = "hamsearch-sharded/1"
#: Queries larger than this are put in Ray's object store once and shared by
#: the shards' calls (smaller ones travel inline with each call).
_PUT_BYTES = 64 * 1024
#: Seconds the constructor waits for the actors to start (and replay their logs).
STARTUP_TIMEOUT = 600.0
#: A k-NN search with a larger k first asks the shards how many codes they
#: hold, so no shard pads a result wider than the whole index.
_LARGE_K = 4096


class ShardUnavailableError(RuntimeError):
    """A shard (every replica asked) did not answer in time.

    Raised instead of returning results that would miss the shard's codes,
    and for a write that not every replica acknowledged (the write may have
    been applied on some replicas; the driver replays it on the others when
    they come back, and an ``upsert`` / ``remove`` retried by the caller is
    idempotent).
    """

    def __init__(self, shard: int, replica, what: str, cause: BaseException | None = None):
        self.shard, self.replica = shard, replica
        where = f"shard {shard}" + ("" if replica is None else f" replica {replica}")
        msg = f"{where} is unavailable: {what}"
        if cause is not None:
            msg += f" ({type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''})"
        super().__init__(msg)


def _ray():
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - exercised without ray
        raise ImportError(
            "hamsearch.distributed needs Ray: pip install 'hamsearch[ray]'") from exc
    return ray


#: Ray settings of a local cluster hamsearch starts (:func:`init_ray`).
#: Ray sends a reply of up to 100 KiB inline and a larger one through its
#: object store; the k=10 results of a 1000-query batch are 117 KiB, and
#: crossing that line cost ~1.3 ms per call (a no-op actor returning them:
#: 1.06 ms at 94 KiB, 2.37 ms at 117 KiB).  A cluster started elsewhere
#: takes the same setting from ``RAY_max_direct_call_object_size``.
RAY_SYSTEM_CONFIG = {"max_direct_call_object_size": 4 << 20}


def init_ray(address=None, **options) -> None:
    """Start (or, with ``address``, join) Ray as hamsearch uses it: no
    dashboard, workers' logs not forwarded, and for a new local cluster
    :data:`RAY_SYSTEM_CONFIG`.  Does nothing when Ray is already up."""
    ray = _ray()
    if ray.is_initialized():
        return
    options.setdefault("include_dashboard", False)
    options.setdefault("log_to_driver", False)
    if address is None:
        options.setdefault("_system_config", dict(RAY_SYSTEM_CONFIG))
    ray.init(address=address, **options)


def _check_count(value, name: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def _replica_dir(root: str, shard: int, replica: int) -> str:
    return os.path.join(root, f"shard-{shard:03d}", f"replica-{replica}")


class ShardedIndex(SearchAPI):
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
        if not isinstance(method, str) or method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
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
        self._prepare_root()
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
            _replica_dir(self._root, s, r), *self._actor_args)

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

    def _prepare_root(self) -> None:
        path = os.path.join(self._root, CONFIG_FILE)
        if os.path.exists(path):
            with open(path) as f:
                stored = json.load(f)
            for key in ("format", "nbits", "num_shards", "replicas", "routing"):
                if stored.get(key) != self._config[key]:
                    raise ValueError(
                        f"{self._root} holds a sharded index with {key}={stored.get(key)!r}, "
                        f"not {self._config[key]!r} (open it with hamsearch.distributed.load)")
            self._config = stored
            self._method = stored["method"]
            return
        if os.path.isdir(self._root) and os.listdir(self._root):
            raise ValueError(f"{self._root} is not empty and holds no sharded index "
                             f"(no {CONFIG_FILE}): refusing to write there")
        os.makedirs(self._root, exist_ok=True)
        with atomic_write(path, "w", what="sharded index configuration") as f:
            json.dump(self._config, f, indent=1)

    # ------------------------------------------------------------ calls
    def _errors(self):
        ray = _ray()
        return ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError

    def _submit(self, s: int, r: int, method: str, args):
        return getattr(self._actors[s][r], method).remote(*args)

    def _result(self, ref, deadline: float):
        """``ray.get`` with the shard's own exception re-raised as itself."""
        ray = _ray()
        try:
            return ray.get(ref, timeout=max(0.0, deadline - time.monotonic()))
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, BaseException) and not isinstance(cause, ray.exceptions.RayError):
                raise cause from None
            raise

    def _gather(self, calls, *, write: bool = False, timeout: float | None = None):
        """Run ``(shard, replica, method, args)`` calls in parallel; a call
        whose actor died is resubmitted (a write with ``retry=True``) until
        it answers or the timeout passes."""
        actor_errors = self._errors()
        timeout = self._timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        refs = [self._submit(s, r, m, a) for s, r, m, a in calls]
        try:  # the common case: one wait for every answer
            return self._result(refs, deadline)
        except actor_errors:
            pass  # find which ones failed, and retry those
        out = []
        for (s, r, method, args), ref in zip(calls, refs):
            delay = 0.02
            while True:
                try:
                    out.append(self._result(ref, deadline))
                    break
                except actor_errors as exc:
                    if time.monotonic() >= deadline:
                        raise ShardUnavailableError(
                            s, r if self._replicas > 1 else None,
                            f"no answer to {method} within {timeout:g} s", exc) from exc
                    time.sleep(delay)
                    delay = min(1.0, delay * 2)
                    if write:
                        args = args[:-1] + (True,)  # retry=True: idempotent form
                    ref = self._submit(s, r, method, args)
        return out

    def _read(self, shards, method: str, make_args):
        """One read call per shard in ``shards`` (``make_args(s)``), on one
        replica each, in parallel.  With ``failover``, a replica that is
        down is replaced by another at once."""
        if not self._failover or self._replicas == 1:
            start = next(self._rr)
            calls = [(s, self._read_replica(s, start), method, make_args(s)) for s in shards]
            return self._gather(calls)
        return [self._read_failover(s, method, make_args(s)) for s in shards]

    def _read_replica(self, s: int, start: int) -> int:
        """A replica of shard ``s`` that has no writes to catch up on."""
        for step in range(self._replicas):
            r = (start + step) % self._replicas
            if not self._pending[s][r]:
                return r
        raise ShardUnavailableError(s, None, "no replica is up to date")

    def _read_failover(self, s: int, method: str, args):
        actor_errors = self._errors()
        deadline = time.monotonic() + self._timeout
        start = next(self._rr)
        order = [(start + i) % self._replicas for i in range(self._replicas)]
        order = [r for r in order if not self._pending[s][r]] or order
        last = None
        delay = 0.02
        while time.monotonic() < deadline:
            for r in order:
                try:
                    quick = min(deadline, time.monotonic() + max(0.5, self._timeout / 10))
                    return self._result(self._submit(s, r, method, args), quick)
                except actor_errors as exc:
                    last = exc
            time.sleep(delay)
            delay = min(1.0, delay * 2)
        raise ShardUnavailableError(s, None, f"no replica answered {method} within "
                                    f"{self._timeout:g} s", last)

    def _write(self, per_shard: dict) -> list:
        """Send ``{shard: (method, args)}`` to every replica of each shard;
        returns the first replica's answer per shard (in ``per_shard``
        order).  A replica that does not acknowledge keeps the write in its
        catch-up queue, replayed before its next write, and the call raises."""
        self._catch_up()
        calls = [(s, r, m, a + (False,)) for s, (m, a) in per_shard.items()
                 for r in range(self._replicas)]
        results, failure = {}, None
        actor_errors = self._errors()
        deadline = time.monotonic() + self._timeout
        refs = [self._submit(s, r, m, a) for s, r, m, a in calls]
        for (s, r, m, a), ref in zip(calls, refs):
            delay = 0.02
            while True:
                try:
                    res = self._result(ref, deadline)
                    results.setdefault(s, res)
                    break
                except actor_errors as exc:
                    if time.monotonic() >= deadline:
                        self._pending[s][r].append((m, a[:-1] + (True,)))
                        failure = failure or ShardUnavailableError(
                            s, r if self._replicas > 1 else None,
                            f"the write ({m}) was not acknowledged within {self._timeout:g} s",
                            exc)
                        break
                    time.sleep(delay)
                    delay = min(1.0, delay * 2)
                    a = a[:-1] + (True,)
                    ref = self._submit(s, r, m, a)
        if failure is not None:
            raise failure
        return [results[s] for s in per_shard]

    def _catch_up(self) -> None:
        """Replay the writes a replica missed (call under the write lock)."""
        for s in range(self._num_shards):
            for r in range(self._replicas):
                queue = self._pending[s][r]
                while queue:
                    method, args = queue[0]
                    self._gather([(s, r, method, args)], write=True)
                    queue.pop(0)

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

    def _present(self, keys: np.ndarray) -> np.ndarray:
        """Which ``keys`` are stored (one read per shard holding any)."""
        rows = split_rows(keys, self._num_shards)
        shards = [s for s in range(self._num_shards) if rows[s].size]
        answers = self._read(shards, "present", lambda s: (keys[rows[s]],))
        found = np.zeros(keys.shape[0], dtype=bool)
        for s, mask in zip(shards, answers):
            found[rows[s]] = mask
        return found

    def _route(self, ids: np.ndarray):
        rows = split_rows(ids, self._num_shards)
        return {s: rows[s] for s in range(self._num_shards) if rows[s].size}

    def _note_features(self, feats) -> None:
        if feats is None:
            if self._features.enabled is None:
                self._features.enabled = False
        else:
            self._features.d = int(feats.shape[1])
            self._features.enabled = True

    # ------------------------------------------------------------ mutations
    def add(self, codes, ids=None, features=None) -> None:
        """Add codes (as :meth:`hamsearch.Index.add`); each goes to the shard
        of its id.  Default ids continue from one past the largest id ever
        added to any shard."""
        words = as_words(codes, self._nbits, "codes")
        n = words.shape[0]
        feats = self._features.convert(features, n)
        with self._lock.writing():
            self._open()
            new_ids = self._check_ids(ids, n, allow_present=False)
            self._features.check(feats, n)
            if n == 0:
                return
            try:
                self._write({s: ("add", (words[r], new_ids[r],
                                         None if feats is None else feats[r]))
                             for s, r in self._route(new_ids).items()})
            finally:  # ids and the features decision are spent even by a partial write
                self._note_features(feats)
                self._next_id = max(self._next_id, int(new_ids.max()) + 1)

    def upsert(self, codes, ids, features=None) -> int:
        """Add codes, replacing those stored under the same ids (as
        :meth:`hamsearch.Index.upsert`); returns how many were replaced."""
        if ids is None:
            raise ValueError("upsert needs ids= (the ids to add or replace)")
        words = as_words(codes, self._nbits, "codes")
        n = words.shape[0]
        feats = self._features.convert(features, n)
        with self._lock.writing():
            self._open()
            new_ids = self._check_ids(ids, n, allow_present=True)
            self._features.check(feats, n)
            if n == 0:
                return 0
            replaced = int(self._present(new_ids).sum())
            try:
                self._write({s: ("upsert", (words[r], new_ids[r],
                                            None if feats is None else feats[r]))
                             for s, r in self._route(new_ids).items()})
            finally:
                self._note_features(feats)
                self._next_id = max(self._next_id, int(new_ids.max()) + 1)
            return replaced

    def remove(self, ids) -> int:
        """Remove codes by id (ids not stored are ignored); returns how many
        were removed."""
        arr = np.atleast_1d(np.asarray(ids))
        if arr.ndim != 1:
            raise ValueError(f"ids must be 1-D, got shape {arr.shape}")
        if arr.size == 0:
            return 0
        keys, _ = _id_keys(arr)
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

    # ------------------------------------------------------------ reads
    def _queries(self, queries):
        return as_words(queries, self._nbits, "queries")


    def _shared(self, array):
        """Large arrays go to Ray's object store once, shared by every call."""
        if array is not None and array.nbytes > _PUT_BYTES:
            return _ray().put(array)
        return array

    def _knn(self, queries: ArrayLike, k: int, filter: Optional[IdFilter]) -> SearchResult:
        """Exact k-NN over every shard (:meth:`search`): the shards' exact
        top-k merged by (distance, id)."""
        q = self._queries(queries)
        k = check_k(k)
        flt = check_filter(filter)
        with self._lock.reading():
            self._open()
            live = None
            k_shard = k
            if k > _LARGE_K:  # ask for no more than the index holds; pad here
                live = int(sum(self._read(range(self._num_shards), "length", lambda s: ())))
                k_shard = max(1, min(k, live))
            qref = self._shared(q)
            fref = self._shared_filter(flt)
            parts = self._read(range(self._num_shards), "search",
                               lambda s: (qref, k_shard, fref[s]))
        D, I = merge_knn([(np.asarray(d), np.asarray(i)) for d, i in parts], k_shard)
        if k_shard < k:
            D, I = pad_knn(D, I, k, live)
        return SearchResult(np.array(D, dtype=np.int32), np.array(I, dtype=np.int64))

    def hierarchical_search(self, queries: ArrayLike, k: int, query_features: ArrayLike, *,
                            pool_radius: Optional[int] = None, pool_size: Optional[int] = None,
                            metric: Metric = "l2", rerank: RerankMode = "pool",
                            fill: Fill = "grow", ties: Ties = "include",
                            filter: Optional[IdFilter] = None) -> RerankResult:
        """Hierarchical search over every shard (as
        :meth:`hamsearch.Index.hierarchical_search`): ``(distances, ids,
        hamming)``, the same results as one index holding every code."""
        return self._hierarchical(queries, k, query_features, pool_radius, pool_size, metric,
                                  rerank, filter, fill, ties)

    def _shared_filter(self, flt):
        """Per shard, the part of an id filter that concerns it (the ids
        routed to it): a shard gets only its own ids."""
        if flt is None:
            return [None] * self._num_shards
        rows = split_rows(flt.ids, self._num_shards)
        return [IdFilter(flt.mode, flt.ids[rows[s]]) for s in range(self._num_shards)]

    def range_search(self, queries: ArrayLike, radius: int, *,
                     filter: Optional[IdFilter] = None) -> RangeResult:
        """All codes within ``radius`` (inclusive) on every shard (as
        :meth:`hamsearch.Index.range_search`), merged by (distance, id)."""
        q = self._queries(queries)
        radius = check_radius(radius, self._nbits)
        flt = check_filter(filter)
        with self._lock.reading():
            self._open()
            qref = self._shared(q)
            fref = self._shared_filter(flt)
            parts = self._read(range(self._num_shards), "range_search",
                               lambda s: (qref, radius, fref[s]))
        lims, D, I = merge_range([tuple(np.asarray(a) for a in p) for p in parts], q.shape[0])
        return RangeResult(np.array(lims, dtype=np.int64), np.array(D, dtype=np.int32),
                           np.array(I, dtype=np.int64))

    def _hierarchical(self, queries, k, query_features, pool_radius, pool_size, metric, rerank,
                      filter, fill, ties) -> RerankResult:
        from ..rerank import _merge_reranked, check_hierarchical, check_query_features, \
            RERANK_MODES

        (q, k, qf_in, pool_radius, pool_size, mode, _mcode, metric, fill, ties,
         flt) = check_hierarchical(self._nbits, queries, k, query_features, pool_radius,
                                   pool_size, metric, rerank, fill, ties, filter)
        nq = q.shape[0]
        S = range(self._num_shards)
        with self._lock.reading():
            self._open()
            qref, fref = self._shared(q), self._shared_filter(flt)
            # round trip 1: the pool bounds over every shard (and the counts
            # the query features are checked against)
            if pool_size is None and pool_radius is None:
                pool_size, ties = k, "include"
            probe_m = max(pool_size or 0, k)
            probes = self._read(S, "pool_probe", lambda s: (qref, probe_m, pool_radius, fref[s]))
            qf = check_query_features(self._features.enabled, self._features.d,
                                      sum(p[4] for p in probes) > 0, qf_in, nq)
            n = sum(p[2] for p in probes)
            want = min(k, n) if fill == "grow" else 0
            cut_ids = None
            if n == 0 or nq == 0:
                radii = None
            elif pool_size is not None:
                m = min(max(pool_size, want), n)
                D, I = merge_knn([(np.asarray(p[0]), np.asarray(p[1])) for p in probes], m)
                radii = D[:, m - 1].astype(np.int64)
                if ties == "cut":
                    cut_ids = I[:, m - 1].astype(np.int64)
            else:
                radii = np.full(nq, pool_radius, dtype=np.int64)
                if want:
                    counts = sum(np.asarray(p[3]) for p in probes)
                    short = counts < want
                    if short.any():
                        D, _ = merge_knn([(np.asarray(p[0]), np.asarray(p[1])) for p in probes],
                                         want)
                        radii[short] = D[short, want - 1]
            if radii is None:
                from ..rerank import _empty_reranked

                return RerankResult(*_empty_reranked(nq, k, metric, 0))
            # round trip 2: each shard re-ranks its part of the pools
            busy = [s for s in S if probes[s][2]]
            qfref = self._shared(qf)
            parts = self._read(busy, "rerank", lambda s: (qref, k, qfref, radii, cut_ids, mode,
                                                          metric, fref[s]))
        order = RERANK_MODES[mode]
        D, I, H = _merge_reranked([tuple(np.asarray(a) for a in p) for p in parts], k, metric,
                                  order)
        return RerankResult(np.array(D, dtype=np.float32), np.array(I, dtype=np.int64),
                            np.array(H, dtype=np.int32))

    def __contains__(self, id_) -> bool:
        if not is_id(id_):
            return False
        with self._lock.reading():
            return bool(self._present(np.array([int(id_)], dtype=np.int64))[0])

    def contains(self, ids) -> np.ndarray:
        """Boolean mask: which of ``ids`` (integers) are stored -- ``id in
        index`` for many ids, one call per shard holding any of them."""
        if np.size(ids) == 0:
            return np.zeros(0, dtype=bool)
        keys, _ = _id_keys(ids)
        with self._lock.reading():
            self._open()
            return self._present(keys)

    def _rows_of(self, keys, values, method: str, width: int, dtype) -> np.ndarray:
        """Per id of ``keys``, the row (``width`` values) that ``method``
        returns from the shard holding it -- one call per shard holding any
        of them, each answering ``(rows, found mask)`` for its keys (rows
        ``None``: it found none).  KeyError naming the first id no shard
        holds.  Call under the read lock."""
        out = np.zeros((keys.shape[0], width), dtype=dtype)
        found = np.zeros(keys.shape[0], dtype=bool)
        rows = split_rows(keys, self._num_shards)
        shards = [s for s in range(self._num_shards) if rows[s].size]
        for s, (got, mask) in zip(shards, self._read(shards, method,
                                                      lambda s: (keys[rows[s]],))):
            mask = np.asarray(mask, dtype=bool)
            if got is not None:
                out[rows[s][mask]] = np.asarray(got)[mask]
            found[rows[s]] = mask
        if not found.all():
            raise KeyError(f"id {int(values[~found][0])} is not in the index")
        return out

    def reconstruct(self, ids) -> np.ndarray:
        """The stored codes of ``ids`` as packed uint8 ``(n, nbits/8)``;
        KeyError if an id is not stored."""
        keys, values = _id_keys(ids)
        with self._lock.reading():
            self._open()
            words = self._rows_of(keys, values, "reconstruct", self._nw, np.uint64)
        return words_to_bytes(words, self._nbits)

    def reconstruct_features(self, ids) -> np.ndarray:
        """The stored features of ``ids``, shape ``(n, d)``, in the storage
        dtype (as :meth:`hamsearch.Index.reconstruct_features`).

        Raises
        ------
        KeyError
            If an id is not stored.
        ValueError
            If the index holds no features.
        """
        keys, values = _id_keys(ids)
        with self._lock.reading():
            self._open()
            d = self.features_dim
            if d is None:
                raise ValueError("this index holds no features (add them with "
                                 "index.add(..., features=X))")
            return self._rows_of(keys, values, "reconstruct_features", d,
                                 self._features.dtype)

    def stats(self) -> dict:
        """Totals over the shards (codes, rows, deleted, bytes, segments) and
        ``shards``: each shard's :meth:`hamsearch.Index.stats` (its first
        replica's), with the actor's process id."""
        with self._lock.reading():
            self._open()
            per = self._read(range(self._num_shards), "stats", lambda s: ())
        total = {key: sum(p[key] for p in per)
                 for key in ("ntotal", "rows", "deleted", "nbytes", "mih_nbytes", "segments")}
        total["deleted_fraction"] = total["deleted"] / total["rows"] if total["rows"] else 0.0
        total.update({"num_shards": self._num_shards, "replicas": self._replicas,
                      "method": self._method, "features_dim": self._features.d,
                      "pending_writes": sum(len(q) for p in self._pending for q in p),
                      "shards": per})
        return total

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
    path = os.path.join(os.fspath(root), CONFIG_FILE)
    try:
        with open(path) as f:
            config = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{os.fspath(root)} holds no sharded index (no {CONFIG_FILE})")
    except ValueError as exc:
        raise ValueError(f"{path} is not a valid sharded index description: {exc}") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f"{path}: format {config.get('format') if isinstance(config, dict) else None!r}"
                         f" is not {FORMAT!r}")
    return ShardedIndex(config["nbits"], config["num_shards"], config["replicas"],
                        config["method"], root=root,
                        features_dtype=config.get("features_dtype", "float32"), **options)
