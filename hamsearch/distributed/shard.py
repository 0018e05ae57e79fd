"""The shard server: one durable :class:`~hamsearch.Index` behind a Ray actor.

:class:`ShardServer` is plain Python (Ray is not imported here): the driver
(:class:`hamsearch.distributed.ShardedIndex`) wraps it with ``ray.remote``
and runs one actor per shard replica.  It opens its index directory with
:func:`hamsearch.open` (write-ahead log on), so an actor that Ray restarts
after a crash comes back with every write it acknowledged.

The driver validates every request before sending it (so a shard sees only
well-formed arrays) and takes the decisions that need the whole index
(default ids, the feature dimension, the pool bounds of a hierarchical
search); the shard answers exactly for its own codes.
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["ShardServer"]


class ShardServer:
    """One replica of one shard.

    Parameters
    ----------
    path : str
        The shard replica's index directory (created if missing).
    nbits : int
        Code length.
    method : str
        Search method of a new index.
    fsync : {"always", "interval", "never"}
        The write-ahead log's durability policy.
    threads : int or None
        Kernel threads (``hamsearch.set_num_threads``); ``None`` keeps the default.
    options : dict
        More ``hamsearch.open`` options for a new index (``segment_rows``,
        ``features_dtype``, ``inline_codes``, ...).
    """

    def __init__(self, path: str, nbits: int, method: str = "auto", fsync: str = "always",
                 threads: int | None = None, options: dict | None = None):
        import hamsearch

        if threads is not None:
            hamsearch.set_num_threads(int(threads))
        self.path = path
        self.index = hamsearch.open(path, nbits=nbits, method=method, wal=True, fsync=fsync,
                                    **(options or {}))

    # ------------------------------------------------------------ state
    def info(self) -> dict:
        """What the driver needs to take over: counts, the id counter, the
        features decision, the process id."""
        snap = self.index.snapshot()
        return {"pid": os.getpid(), "live": snap.live, "next_id": snap.next_id,
                "features_enabled": snap.features_enabled, "features_d": snap.features_d,
                "nbits": self.index.nbits, "wal_seq": snap.wal_seq}

    def ping(self) -> int:
        return os.getpid()

    def present(self, keys: np.ndarray) -> np.ndarray:
        """Boolean mask: which of ``keys`` (int64, may hold -1) are stored."""
        keys = np.asarray(keys, dtype=np.int64)
        which, _ = self.index.snapshot().locate(keys)
        return which >= 0

    def stats(self) -> dict:
        out = self.index.stats()
        out["pid"] = os.getpid()
        return out

    def __len__(self) -> int:
        return len(self.index)

    def length(self) -> int:
        return len(self.index)

    # -------------------------------------------------------- mutations
    def add(self, words, ids, feats, retry: bool = False) -> None:
        """Add rows; a retry (the first attempt may have been applied before
        a crash) is an upsert, which leaves the same state either way."""
        if retry:
            self.index.upsert(words, ids, features=feats)
        else:
            self.index.add(words, ids=ids, features=feats)

    def upsert(self, words, ids, feats, retry: bool = False) -> int:
        return self.index.upsert(words, ids, features=feats)

    def remove(self, keys, retry: bool = False) -> int:
        return self.index.remove(keys)

    def reset(self, retry: bool = False) -> None:
        self.index.reset()

    def save(self) -> dict:
        """Checkpoint: write the directory and truncate the log."""
        report = self.index.save(self.path, directory=True)
        return {k: v for k, v in (report or {}).items()
                if isinstance(v, (int, float, str, bool))}

    def compact(self) -> int:
        return self.index.compact()

    def close(self) -> None:
        self.index.close()

    # ------------------------------------------------------------ reads
    def search(self, q, k: int, flt):
        return self.index.search(q, k, filter=flt)

    def range_search(self, q, radius: int, flt):
        return self.index.range_search(q, radius, filter=flt)

    def time_search(self, q, k: int, repeats: int = 3) -> float:
        """Best seconds of ``repeats`` k-NN searches inside this process (for
        benchmarks: the driver's time minus this is the round trip's cost)."""
        from ..evaluation.throughput import best_time

        return best_time(lambda: self.index.search(q, k), int(repeats))

    def echo_search(self, q, k: int):
        """A k-NN reply of the shape :meth:`search` sends for ``q``, without
        searching (for benchmarks: the round trip of a batch call alone --
        arguments in, results out -- through Ray)."""
        from ..results import SearchResult

        n = len(q)
        return SearchResult(np.zeros((n, int(k)), np.int32), np.zeros((n, int(k)), np.int64))

    def _stored_rows(self, keys, field: str):
        """``field`` ("codes" or "features") of ``keys`` -- rows of keys not
        found are zero; ``None`` when none is found or there are no such
        rows (an index without features) -- and the found mask."""
        snap = self.index.snapshot()
        which, rows = snap.locate(np.asarray(keys, dtype=np.int64))
        found = which >= 0
        if not found.any() or (field == "features" and not snap.features_enabled):
            return None, found
        got = snap.gather(which[found], rows[found], field)
        out = np.zeros((len(keys),) + got.shape[1:], dtype=got.dtype)
        out[found] = got
        return out, found

    def reconstruct(self, keys):
        """Codes (uint64 words) of ``keys`` and the found mask (see
        :meth:`_stored_rows`)."""
        return self._stored_rows(keys, "codes")

    def reconstruct_features(self, keys):
        """Features (storage dtype) of ``keys`` and the found mask (see
        :meth:`_stored_rows`)."""
        return self._stored_rows(keys, "features")

    def pool_probe(self, q, m: int, radius, flt):
        """For the driver's pool decisions of a hierarchical search: the
        ``m`` nearest admitted codes ``(D, I)``, the admitted count,
        (``radius`` given) how many admitted codes lie within ``radius`` of
        each query, and the live count."""
        from ..rerank import admitted_count

        snap = self.index.snapshot()
        admitted = admitted_count(snap, flt)
        D, I = self.index.search(q, max(1, min(int(m), max(admitted, 1))), filter=flt)
        counts = None
        if radius is not None:
            lims, _, _ = self.index.range_search(q, int(radius), filter=flt)
            counts = np.diff(lims)
        return D, I, admitted, counts, snap.live

    def rerank(self, q, k: int, qf, radii, cut_ids, mode: str, metric: str, flt):
        """Re-rank this shard's pools (given by the driver): ``(D, I, H)``."""
        from ..rerank import rerank_radii

        return rerank_radii(self.index.snapshot(), self.index.planner, q, k, qf, radii,
                            cut_ids, mode, metric, flt)
