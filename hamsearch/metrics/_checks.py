"""Argument checks of the metrics: codes and labels (:func:`_prepare`),
``topk``, the cut-offs ``k`` and the string options."""

from __future__ import annotations

import numbers

import numpy as np

from ..codes import as_words
from ..distances import infer_nbits


def _check_labels(labels, n, name):
    arr = np.asarray(labels)
    if arr.dtype.kind not in "biu":
        if arr.dtype.kind == "f" and arr.size and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"{name} must be integer class labels or 0/1 multi-hot, "
                            f"got dtype {arr.dtype}")
    if arr.ndim not in (1, 2):
        raise ValueError(
            f"{name} must be 1-D class labels (n,) or 2-D multi-hot (n, n_classes); "
            f"got shape {arr.shape}"
        )
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} rows but the codes have {n}")
    return arr


def _prepare(query_codes, db_codes, query_labels, db_labels, nbits):
    for name, c in (("query_codes", query_codes), ("db_codes", db_codes)):
        dt = np.asarray(c).dtype
        if dt.kind not in "biu":
            raise TypeError(
                f"{name} must be binary codes (packed uint8/uint64 or unpacked 0/1), "
                f"got dtype {dt}"
            )
    nbits = infer_nbits(query_codes, nbits)
    q = as_words(query_codes, nbits, "query_codes")
    db = as_words(db_codes, nbits, "db_codes")
    ql = _check_labels(query_labels, q.shape[0], "query_labels")
    dl = _check_labels(db_labels, db.shape[0], "db_labels")
    if ql.ndim != dl.ndim or (ql.ndim == 2 and ql.shape[1] != dl.shape[1]):
        raise ValueError(
            f"query_labels {ql.shape} and db_labels {dl.shape} must both be 1-D "
            "class labels or both multi-hot with the same number of classes"
        )
    if ql.ndim == 2:
        ql = (ql != 0).astype(np.float32)
        dl = (dl != 0).astype(np.float32)
    if db.shape[0] == 0:
        raise ValueError("db_codes is empty")
    return q, db, ql, dl, nbits


def _check_topk(topk, n):
    if topk is None:
        return n
    if isinstance(topk, bool) or not isinstance(topk, numbers.Integral) or topk < 1:
        raise ValueError(f"topk must be a positive int or None, got {topk!r}")
    return min(int(topk), n)


def _check_choice(value, name, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def _check_ks(k, n):
    ks = np.atleast_1d(np.asarray(k))
    if ks.dtype.kind not in "iu" or ks.ndim != 1 or ks.size == 0:
        raise ValueError(f"k must be a positive int or a 1-D sequence of them, got {k!r}")
    if (ks < 1).any() or (ks > n).any():
        raise ValueError(f"every k must be in 1..{n} (the database size), got {k!r}")
    return ks.astype(np.int64)
