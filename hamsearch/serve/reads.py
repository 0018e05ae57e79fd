"""The searches of :class:`~hamsearch.serve.service.IndexService`:
:class:`ReadsMixin` (k-NN, hierarchical, radius search, statistics).  Each
request takes the serving index once and searches its snapshot without a
lock."""

from __future__ import annotations

import time
from typing import Optional

import numpy as np

from .errors import ApiError
from .hits import hits, range_hits
from .inputs import _features

__all__ = ["DEFAULT_POOL", "MAX_POOL", "ReadsMixin"]

#: Default Hamming pool of a hierarchical search (``pool_size``).
DEFAULT_POOL = 100
#: Largest ``pool_size`` a request may ask for.
MAX_POOL = 100_000


class ReadsMixin:
    """:meth:`search`, :meth:`range` and :meth:`stats` of
    :class:`~hamsearch.serve.service.IndexService`, and the checks of
    ``k``, filters, query features and hierarchical pools."""

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
        return range_hits(lims, D, I)

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
