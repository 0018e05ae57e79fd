"""The driver's calls to the shard actors: scatter, gather, retries.

:class:`ShardCalls` is the part of :class:`~hamsearch.distributed.ShardedIndex`
that talks to the actors: reads on one replica of each shard (round robin,
or with ``failover`` the first replica that answers), writes to every
replica (a replica that does not acknowledge keeps the write in its
catch-up queue), the wait for an actor Ray is restarting (bounded by the
index's ``timeout``, then :class:`ShardUnavailableError`), and the fan-out
of a request by id (``_present``, ``_route``, ``_rows_of``: the ids split by
shard, one call per shard holding any, the answers put back in order).

Ray is imported when a call is made (:func:`_ray`), never at import time.
"""

from __future__ import annotations

import itertools
import time

import numpy as np

from ..filters import IdFilter
from .routing import split_rows

__all__ = ["ShardCalls", "ShardUnavailableError", "init_ray", "RAY_SYSTEM_CONFIG"]

#: Queries larger than this are put in Ray's object store once and shared by
#: the shards' calls (smaller ones travel inline with each call).
_PUT_BYTES = 64 * 1024


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


class ShardCalls:
    """The calls of a :class:`~hamsearch.distributed.ShardedIndex` to its
    actors (a base class: the index's constructor sets the state).

    Attributes
    ----------
    _actors : list of list
        The actor handles, ``_actors[shard][replica]``.
    _num_shards, _replicas : int
        The shape of ``_actors``.
    _timeout : float
        Seconds a call waits for a shard that is restarting.
    _failover : bool
        Whether reads go to another replica at once when one is down.
    _pending : list of list of list
        Per shard and replica, the ``(method, args)`` writes it has not
        acknowledged, replayed before its next write.
    _rr : iterator of int
        The round-robin counter of reads.
    """

    _actors: list
    _num_shards: int
    _replicas: int
    _timeout: float
    _failover: bool
    _pending: list
    _rr: itertools.count

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

    # ------------------------------------------------------------ fan-out
    def _shared(self, array):
        """Large arrays go to Ray's object store once, shared by every call."""
        if array is not None and array.nbytes > _PUT_BYTES:
            return _ray().put(array)
        return array

    def _shared_filter(self, flt):
        """Per shard, the part of an id filter that concerns it (the ids
        routed to it): a shard gets only its own ids."""
        if flt is None:
            return [None] * self._num_shards
        rows = split_rows(flt.ids, self._num_shards)
        return [IdFilter(flt.mode, flt.ids[rows[s]]) for s in range(self._num_shards)]

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
