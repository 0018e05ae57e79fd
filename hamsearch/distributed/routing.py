"""Which shard holds an id: a fixed hash of the id, modulo the shard count.

``shard_of(id, S) = splitmix64(id) mod S`` where ``splitmix64`` is the
finaliser of Steele, Lea & Flood's SplitMix64 generator applied to the id
as an unsigned 64-bit integer (add ``0x9E3779B97F4A7C15``, then three
xor-shift / multiply rounds).  The hash spreads sequential ids evenly over
the shards (the default ids are sequential), is the same on every machine
and every numpy version, and is part of the on-disk format: a sharded
index directory records ``"routing": "splitmix64-mod"``, and its shards
must be re-split, not re-opened, to change the shard count.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ROUTING", "shard_of", "split_rows"]

#: The name of the routing rule, stored in ``sharded.json``.
ROUTING = "splitmix64-mod"

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def splitmix64(values) -> np.ndarray:
    """The SplitMix64 finaliser of each value (int64 or uint64), as uint64."""
    x = np.array(values, dtype=np.int64, copy=True, ndmin=1).view(np.uint64)
    with np.errstate(over="ignore"):
        x += _GOLDEN
        x ^= x >> np.uint64(30)
        x *= _M1
        x ^= x >> np.uint64(27)
        x *= _M2
        x ^= x >> np.uint64(31)
    return x


def shard_of(ids, num_shards: int) -> np.ndarray:
    """The shard (``0 .. num_shards - 1``, int64) of each id.

    Examples
    --------
    >>> from hamsearch.distributed import shard_of
    >>> shard_of([0, 1, 2, 3, 4, 5, 6, 7], 4).tolist()
    [3, 1, 2, 1, 2, 2, 0, 3]
    """
    if num_shards == 1:
        return np.zeros(np.asarray(ids).size, dtype=np.int64)
    return (splitmix64(ids) % np.uint64(num_shards)).astype(np.int64)


def split_rows(ids: np.ndarray, num_shards: int) -> list[np.ndarray]:
    """Row numbers of ``ids`` routed to each shard (ascending within each)."""
    if num_shards == 1:
        return [np.arange(len(ids), dtype=np.int64)]
    owner = shard_of(ids, num_shards)
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(num_shards + 1))
    return [order[bounds[s]:bounds[s + 1]] for s in range(num_shards)]
