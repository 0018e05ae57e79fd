"""The options of hierarchical search: their names, kernel codes and checks.

:func:`check_hierarchical` validates the arguments of
:func:`hamsearch.rerank.hierarchical_search` (everything but the index's
state) and :func:`check_query_features` the query features against the
index's; :class:`hamsearch.Index` and the sharded index
(:mod:`hamsearch.distributed`) run the same checks.
"""

from __future__ import annotations

import numpy as np

from ._checks import check_k, check_radius
from .codes import as_words
from .features import as_query_features
from .filters import check_filter

__all__ = ["check_hierarchical", "check_query_features", "METRICS", "RERANK_MODES"]

#: Feature metrics: name -> kernel code.
METRICS = {"l2": 0, "ip": 1}
#: Orders: name -> kernel code.
RERANK_MODES = {"pool": 0, "bucket": 1}
_FILLS = ("grow", "none")
_TIES = ("include", "cut")


def _check_choice(value, choices, name):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def _check_pool_size(m) -> int:
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)):
        raise TypeError(f"pool_size must be an int, got {type(m).__name__}")
    if m < 1:
        raise ValueError(f"pool_size must be >= 1, got {m}")
    return int(m)


def check_hierarchical(nbits, queries, k, query_features, pool_radius, pool_size, metric,
                       rerank, fill, ties, filter):
    """Validate the arguments of :func:`~hamsearch.rerank.hierarchical_search`
    (everything but the index's state): ``(q, k, query_features,
    pool_radius, pool_size, mode, mcode, metric, fill, ties, filter)``,
    checked.  The sharded index (:mod:`hamsearch.distributed`) runs the same
    checks."""
    if query_features is None:
        raise ValueError(
            "hierarchical search needs query_features= (one float vector per query); "
            "pool_radius, pool_size, metric and rerank only apply to it"
        )
    q = as_words(queries, nbits, "queries")
    k = check_k(k)
    mcode = METRICS[_check_choice(metric, METRICS, "metric")]
    mode = _check_choice(rerank, RERANK_MODES, "rerank")
    _check_choice(fill, _FILLS, "fill")
    _check_choice(ties, _TIES, "ties")
    if pool_radius is not None and pool_size is not None:
        raise ValueError("give pool_radius or pool_size, not both")
    if pool_radius is not None:
        pool_radius = check_radius(pool_radius, nbits)
    if pool_size is not None:
        pool_size = _check_pool_size(pool_size)
    if mode == "pool" and pool_radius is None and pool_size is None:
        raise ValueError(
            'hierarchical search needs pool_radius= or pool_size= (or rerank="bucket")'
        )
    flt = check_filter(filter)
    return (q, k, query_features, pool_radius, pool_size, mode, mcode, metric, fill, ties, flt)


def check_query_features(features_enabled, features_d, has_rows: bool, query_features,
                         nq: int) -> np.ndarray:
    """The query features of a hierarchical search, checked against the
    index's features (``features_enabled`` None / True / False, dimension
    ``features_d``; ``has_rows``: the index holds live codes), as float32."""
    if features_enabled is False or (not features_enabled and has_rows):
        raise ValueError(
            "this index holds no features: add them with index.add(codes, features=X) "
            "to re-rank"
        )
    if not has_rows:  # nothing added yet: any dimension, empty results
        qf = np.asarray(query_features)
        return as_query_features(qf, qf.shape[-1] if qf.ndim else 0, nq)
    return as_query_features(query_features, features_d, nq)
