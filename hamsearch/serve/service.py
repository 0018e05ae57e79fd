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

The verbs are mixins, one job a module: :mod:`.writes` (add, remove),
:mod:`.reads` (searches, statistics), :mod:`.items` (stored items and
images), :mod:`.admin` (snapshot, reload, close); :mod:`.hits` formats
results and :mod:`.inputs` checks feature rows.  This module holds the
service's construction, its state and the checks every verb shares.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Optional

import numpy as np

from .admin import AdminMixin
from .backends import DirectoryBackend, ShardedBackend, is_sharded_root
from .codec import decode_codes
from .config import ServeConfig
from .errors import ApiError
from .hits import hits
from .inputs import _features, _field_of  # noqa: F401  (re-exported)
from .items import ItemsMixin
from .reads import DEFAULT_POOL, MAX_POOL, ReadsMixin  # noqa: F401  (re-exported)
from .writes import WritesMixin

__all__ = ["IndexService", "hits"]

log = logging.getLogger("hamsearch.serve")


class IndexService(WritesMixin, ReadsMixin, ItemsMixin, AdminMixin):
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
