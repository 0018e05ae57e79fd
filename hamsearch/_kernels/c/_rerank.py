"""Re-ranking on float features (``csrc/rerank.c``): the top-k of each
query's pool by feature score, and the scores of one query against rows."""

from __future__ import annotations

import numpy as np

from ._ext import _lib, _ptr
from ._status import check_status


def _ftype(feats) -> int:
    return 1 if feats.dtype == np.float16 else 0


def rerank(feats, qf, lims, pos, ids, ham, k, metric, order, nthreads=1):
    """Top-``k`` of each query's pool by feature score (see ``csrc/rerank.h``).

    Returns ``D`` float32 ``(nq, k)`` (squared L2 or inner product), ``I``
    int64 ids and ``H`` int32 Hamming distances, padded with ``+-inf``,
    ``-1`` and ``PAD_DISTANCE``.
    """
    nq = qf.shape[0]
    k = int(k)
    D = np.empty((nq, k), np.float32)
    I = np.empty((nq, k), np.int64)
    H = np.empty((nq, k), np.int32)
    if D.size == 0:
        return D, I, H
    rc = _lib.hs_rerank(
        _ptr("void *", feats), _ftype(feats), int(feats.shape[1]),
        _ptr("float *", qf), nq, _ptr("int64_t *", lims), _ptr("int64_t *", pos),
        _ptr("int32_t *", ham), _ptr("int64_t *", ids), int(metric), int(order),
        k, _ptr("float *", D), _ptr("int64_t *", I), _ptr("int32_t *", H), int(nthreads),
    )
    check_status(rc, "rerank")
    return D, I, H


def feature_distances(feats, q, pos, metric):
    """Scores of one float32 query ``q`` ``(d,)`` against rows ``pos`` of ``feats``:
    squared L2 (``metric=0``) or inner product (``metric=1``), float32."""
    out = np.empty(pos.shape[0], np.float32)
    if out.size:
        _lib.hs_feature_distances(
            _ptr("void *", feats), _ftype(feats), int(feats.shape[1]), _ptr("float *", q),
            _ptr("int64_t *", pos), int(pos.shape[0]), int(metric), _ptr("float *", out),
        )
    return out
