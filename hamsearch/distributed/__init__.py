"""A sharded index on Ray: exact across shards, surviving the loss of a shard.

``hamsearch.distributed`` imports without Ray; Ray (``pip install
'hamsearch[ray]'``) is imported when a :class:`ShardedIndex` is made.

* **Routing** (:mod:`hamsearch.distributed.routing`): a code lives on shard
  ``splitmix64(id) % num_shards``; default ids are assigned by the driver,
  globally unique and sequential as in :class:`hamsearch.Index`.
* **Shards** (:class:`~hamsearch.distributed.shard.ShardServer`): one Ray
  actor per shard replica, each holding a durable :class:`hamsearch.Index`
  under ``root/shard-NNN/replica-R/`` (segments + write-ahead log).  Ray
  restarts a dead actor (``max_restarts``); it reopens its directory and
  replays its log, so no acknowledged write is lost.
* **Exact merge**: each shard answers exactly for its codes; the driver
  merges by (distance, id) -- identical, ties included, to one ``Index``.
* **Writes** go to every replica of a shard before they are acknowledged;
  bad input is rejected by the driver before any shard changes.
* **Reads** wait (bounded by ``timeout``) for a shard that is restarting,
  or with ``failover=True`` are answered by another replica; a search never
  returns results that miss a shard: it raises :class:`ShardUnavailableError`.

See ``docs/distributed.md``.
"""

from .routing import shard_of
from .sharded import ShardedIndex, ShardUnavailableError, init_ray, load

__all__ = ["ShardedIndex", "ShardUnavailableError", "init_ray", "load", "shard_of"]
