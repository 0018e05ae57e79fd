"""The index behind the HTTP API: validation of sizes and values, writes
under one lock, reads off snapshots, reload and snapshot (no HTTP here).

Reads take the current :class:`hamsearch.Index` once and search its
published snapshot without a lock, so they run in parallel with each other
and with writes.  Writes (add, upsert, remove) go through ``_write_lock``
(one at a time, like the index itself) and reach the write-ahead log before
they are acknowledged.  :meth:`IndexService.reload` loads the new index
first, then swaps it in under the lock; requests that already hold the old
index finish on it.

The index is one directory (:func:`hamsearch.open`) or a Ray sharded index
(:class:`hamsearch.distributed.ShardedIndex`: :meth:`IndexService.sharded`,
or a ``directory`` that holds ``sharded.json``).  Both answer the same
verbs; :mod:`hamsearch.serve.backends` holds what differs (open, save,
close, the next default id, statistics, reload).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Optional

import numpy as np

from .backends import DirectoryBackend, ShardedBackend, is_sharded_root
from .codec import decode_codes
from .config import ServeConfig
from .errors import ApiError

__all__ = ["IndexService", "hits"]

log = logging.getLogger("hamsearch.serve")

#: Default Hamming pool of a hierarchical search (``pool_size``).
DEFAULT_POOL = 100
#: Largest ``pool_size`` a request may ask for.
MAX_POOL = 100_000


def hits(D: np.ndarray, I: np.ndarray, H: Optional[np.ndarray] = None) -> list:
    """Result rows as lists of ``{"id", "distance"}`` (padding dropped).

    ``H`` given (hierarchical search): ``distance`` is ``H`` (Hamming) and
    ``score`` is ``D`` (the re-ranking distance).
    """
    out = []
    if H is None:
        for drow, irow in zip(D.tolist(), I.tolist()):
            out.append([{"id": i, "distance": d} for d, i in zip(drow, irow) if i >= 0])
    else:
        for drow, irow, hrow in zip(D.tolist(), I.tolist(), H.tolist()):
            out.append([{"id": i, "distance": h, "score": s}
                        for s, i, h in zip(drow, irow, hrow) if i >= 0])
    return out


def _features(rows, n: int, field: str) -> np.ndarray:
    """JSON feature rows -> float32 ``(n, d)``, rectangular and finite."""
    if len(rows) != n:
        raise ApiError(422, field, f"{field} has {len(rows)} rows; one per code ({n}) expected")
    if n == 0:
        return np.zeros((0, 0), np.float32)
    d = len(rows[0])
    if d == 0:
        raise ApiError(422, f"{field}[0]", f"{field}[0] is empty")
    for i, row in enumerate(rows):
        if len(row) != d:
            raise ApiError(422, f"{field}[{i}]", f"{field}[{i}] has {len(row)} values, "
                                                 f"{field}[0] has {d}")
    with np.errstate(over="ignore"):
        arr = np.asarray(rows, dtype=np.float32)
    if not np.isfinite(arr).all():
        i = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise ApiError(422, f"{field}[{i}]", f"{field}[{i}] holds a value outside float32's "
                                             "range")
    return arr


def _field_of(message: str, default: str = "codes") -> str:
    """The request field an index error is about."""
    for name in ("features", "ids", "codes"):
        if name in message:
            return name
    return default


class IndexService:
    """A durable index directory (write-ahead log on) served to many threads.

    Parameters
    ----------
    directory : str
        Index directory, opened or created with :func:`hamsearch.open`; a
        sharded root (holding ``sharded.json``) is opened as a
        :class:`~hamsearch.distributed.ShardedIndex` (see :meth:`sharded`).
    nbits : int, optional
        Code length of a new index; checked against an existing one.
    config : ServeConfig, optional
    fsync : {"always", "interval", "never"}, default "always"
        The log's durability policy (see :mod:`hamsearch.durable`).
    encoder : optional
        Turns uploaded images into codes and features (see
        :mod:`hamsearch.serve.encoders`).
    items : hamsearch.serve.images.ItemStore, optional
        Corpus images for thumbnails (id ``i`` is row ``i``).
    backend : DirectoryBackend or ShardedBackend, optional
        What to open instead of ``directory`` (``nbits``, ``fsync`` and
        ``index_options`` are then the backend's).
    **index_options
        ``method``, ``features_dtype``, ``segment_rows`` for a new index.
    """

    def __init__(self, directory, nbits: Optional[int] = None, *,
                 config: Optional[ServeConfig] = None, fsync: str = "always",
                 encoder=None, items=None, backend=None, **index_options):
        if backend is None:
            kind = ShardedBackend if is_sharded_root(directory) else DirectoryBackend
            backend = kind(directory, nbits, fsync=fsync, options=index_options)
        self._backend = backend
        self.directory = backend.directory
        self.config = config or ServeConfig()
        self.fsync = backend.fsync
        self.encoder = encoder
        self.items = items
        self._write_lock = threading.RLock()  # writes, and the swap of reload
        self._admin_lock = threading.Lock()  # one snapshot / reload / close at a time
        self._index = backend.open()
        if encoder is not None and encoder.nbits != self._index.nbits:
            backend.close(self._index)
            raise ValueError(f"the model makes {encoder.nbits}-bit codes; the index at "
                             f"{self.directory} holds {self._index.nbits}-bit codes")
        self.nbits = self._index.nbits
        self.started = time.time()
        self.reloads = 0
        self.draining = False
        self.closed = False

    @classmethod
    def sharded(cls, root, nbits: Optional[int] = None, *, num_shards: Optional[int] = None,
                replicas: Optional[int] = None, config: Optional[ServeConfig] = None,
                fsync: str = "always", encoder=None, items=None,
                **sharded_options) -> "IndexService":
        """Serve a :class:`hamsearch.distributed.ShardedIndex` under ``root``.

        Parameters
        ----------
        root : str
            Opened with :func:`hamsearch.distributed.load` when it holds
            ``sharded.json``, else created (``nbits`` needed).
        nbits, num_shards, replicas : int, optional
            Of a new sharded index (default 2 shards, 1 replica); checked
            against an existing one.
        config, fsync, encoder, items
            As for :class:`IndexService`.
        **sharded_options
            ``method`` of a new index and :class:`ShardedIndex` keywords
            (``num_cpus`` per actor, ``address``, ``timeout``, ``failover``).
            Ray starts here (a local cluster unless one is running or
            ``address`` names one); :meth:`close` stops the shard actors.

        Returns
        -------
        IndexService
            Whose reload is refused (409): see
            :data:`hamsearch.serve.backends.SHARDED_RELOAD`.
        """
        backend = ShardedBackend(root, nbits, num_shards=num_shards, replicas=replicas,
                                 fsync=fsync, options=sharded_options)
        return cls(root, nbits, config=config, encoder=encoder, items=items, backend=backend)

    # ---------------------------------------------------------------- state
    @property
    def index(self):
        """The index serving now (a reload may replace it): a
        :class:`hamsearch.Index` or a :class:`~hamsearch.distributed.ShardedIndex`."""
        return self._index

    @property
    def is_sharded(self) -> bool:
        """Whether the index is a Ray sharded index."""
        return self._backend.sharded

    def index_stats(self) -> dict:
        """The index's statistics (``ntotal``, ``rows``, ``deleted``,
        ``segments``, ``nbytes``, ``wal_seq``, ...)."""
        return self._backend.stats(self._index)

    def _writable(self):
        if self.closed:
            raise ApiError(503, None, "the service is shutting down; retry on the next instance")

    def _readable(self):
        if self.closed and not self._backend.readable_after_close:
            raise ApiError(503, None, "the service is shut down; retry on the next instance")

    def _check_batch(self, n: int, field: str) -> None:
        if n > self.config.max_batch:
            raise ApiError(413, field, f"{field} holds {n} entries, more than the limit of "
                                       f"{self.config.max_batch} per request")

    def _queries(self, codes: list, encoding: str, field: str = "codes") -> np.ndarray:
        self._check_batch(len(codes), field)
        self._readable()
        return decode_codes(codes, self.nbits, encoding, field)

    # --------------------------------------------------------------- writes
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

    # ---------------------------------------------------------------- reads
    def _filter(self, spec):
        if spec is None:
            return None
        from ..filters import IdFilter

        if spec.allow is not None:
            return IdFilter.allow(np.asarray(spec.allow, dtype=np.int64))
        return IdFilter.deny(np.asarray(spec.deny, dtype=np.int64))

    def _check_k(self, k: int) -> None:
        if k > self.config.max_k:
            raise ApiError(422, "k", f"k={k} is more than the limit of {self.config.max_k}")

    def search(self, codes: list, k: int = 10, *, encoding: str = "hex", filter=None,
               features: Optional[list] = None, pool_size: Optional[int] = None,
               pool_radius: Optional[int] = None, metric: str = "l2") -> list:
        """k-NN of each query (hierarchical with ``features``): lists of hits."""
        q = self._queries(codes, encoding)
        self._check_k(k)
        flt = self._filter(filter)
        index = self._index
        if features is None:
            if pool_size is not None or pool_radius is not None or metric != "l2":
                field = "pool_size" if pool_size is not None else (
                    "pool_radius" if pool_radius is not None else "metric")
                raise ApiError(422, field, f"{field} applies to a hierarchical search: give "
                                           "features (one row per query) too")
            D, I = index.search(q, k, filter=flt)
            return hits(D, I)
        qf = self._query_features(index, features, len(codes))
        return self._hierarchical(index, q, qf, k, flt, pool_size, pool_radius, metric)

    def _query_features(self, index, features, n: int) -> np.ndarray:
        d = index.features_dim
        if d is None:
            raise ApiError(422, "features", "this index holds no features to re-rank with; "
                                            "search without features")
        qf = _features(features, n, "features")
        if n and qf.shape[1] != d:
            raise ApiError(422, "features", f"features have {qf.shape[1]} values per row; the "
                                            f"index holds {d}-d features")
        return qf

    def _hierarchical(self, index, q, qf, k, flt, pool_size=None, pool_radius=None,
                      metric="l2") -> list:
        if pool_size is not None and pool_radius is not None:
            raise ApiError(422, "pool_radius", "give pool_size or pool_radius, not both")
        if pool_size is None and pool_radius is None:
            pool_size = max(DEFAULT_POOL, k)
        if pool_size is not None and pool_size > MAX_POOL:
            raise ApiError(422, "pool_size", f"pool_size={pool_size} is more than the limit "
                                             f"of {MAX_POOL}")
        if len(q) == 0:
            return []
        return hits(*index.hierarchical_search(q, k, qf, pool_size=pool_size,
                                               pool_radius=pool_radius, metric=metric,
                                               filter=flt))

    def range(self, codes: list, radius: int, *, encoding: str = "hex", filter=None) -> list:
        """Every code within ``radius`` of each query: lists of hits."""
        q = self._queries(codes, encoding)
        flt = self._filter(filter)
        lims, D, I = self._index.range_search(q, radius, filter=flt)
        total = int(lims[-1])
        if total > self.config.max_range_results:
            raise ApiError(422, "radius", f"radius {radius} matches {total:,} codes, more than "
                                          f"the limit of {self.config.max_range_results:,} per "
                                          "request; lower the radius or send fewer codes")
        Dl, Il, L = D.tolist(), I.tolist(), lims.tolist()
        return [[{"id": Il[j], "distance": Dl[j]} for j in range(L[i], L[i + 1])]
                for i in range(len(L) - 1)]

    def similar(self, id_: int, k: int = 10, exclude_self: bool = True) -> dict:
        """Top-k of a stored item: Hamming only and (with features) re-ranked."""
        from ..filters import IdFilter

        self._check_k(k)
        self._readable()
        index = self._index
        try:
            code = index.reconstruct([id_])
        except KeyError:
            raise ApiError(404, "id", f"id {id_} is not in the index") from None
        flt = IdFilter.deny([id_]) if exclude_self else None
        D, I = index.search(code, k, filter=flt)
        out = {"id": id_, "label": self._label(id_), "hamming": self._labelled(hits(D, I)[0]),
               "hierarchical": None}
        if index.features_dim is not None:
            try:
                qf = index.reconstruct_features([id_]).astype(np.float32)
            except KeyError:  # removed meanwhile
                raise ApiError(404, "id", f"id {id_} is not in the index") from None
            out["hierarchical"] = self._labelled(self._hierarchical(index, code, qf, k, flt)[0])
        return out

    def _label(self, id_: int):
        return None if self.items is None else self.items.label(id_)

    def _labelled(self, row: list) -> list:
        """Hits with the items' labels (when the service has labelled thumbnails)."""
        if self.items is None or self.items.labels is None:
            return row
        for hit in row:
            hit["label"] = self.items.label(hit["id"])
        return row

    def search_images(self, images: np.ndarray, k: int = 10) -> dict:
        """Encode ``uint8`` images with the model and search: Hamming and re-ranked."""
        if self.encoder is None:
            raise ApiError(409, None, "this service has no model to encode images: start it "
                                      "with --model or --demo")
        self._check_k(k)
        self._readable()
        codes, feats = self.encoder.encode(images)
        index = self._index
        D, I = index.search(codes, k)
        out = {"results": [self._labelled(r) for r in hits(D, I)], "hierarchical": None}
        if feats is not None and index.features_dim == feats.shape[1]:
            rows = self._hierarchical(index, codes, feats.astype(np.float32), k, None)
            out["hierarchical"] = [self._labelled(r) for r in rows]
        return out

    def list_items(self, offset: int = 0, limit: int = 48, seed: Optional[int] = None) -> dict:
        """Ids with thumbnails (those in the index): in order, or a seeded sample."""
        if self.items is None:
            return {"total": 0, "items": []}
        self._readable()
        index = self._index
        n = len(self.items)
        if seed is not None:
            order = np.random.default_rng(seed).permutation(n)[: offset + 4 * limit]
        else:
            order = np.arange(offset, min(n, offset + 4 * limit))
            offset = 0
        candidates = [int(i) for i in order[offset:]]
        stored = self._backend.present(index, candidates)
        chosen = [i for i, ok in zip(candidates, stored) if ok][:limit]
        return {"total": n, "items": [{"id": i, "label": self.items.label(i)} for i in chosen]}

    def stats(self) -> dict:
        """Index statistics and the service's own."""
        from .. import __version__, backend

        self._readable()
        index = self._index
        st = self._backend.stats(index)
        st.update({
            "nbits": index.nbits, "backend": backend(), "version": __version__,
            "features_dim": index.features_dim, "uptime_s": round(time.time() - self.started, 3),
            "reloads": self.reloads, "model": None if self.encoder is None else self.encoder.name,
            "thumbnails": 0 if self.items is None else len(self.items),
            "public_read": self.config.public_read, "fsync": self.fsync,
            "sharded": self.is_sharded,
        })
        return st

    # ---------------------------------------------------------------- admin
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
