"""Checks of request values the codec does not cover: feature rows (one per
code, rectangular, finite float32) and the request field an index error is
about."""

from __future__ import annotations

import numpy as np

from .errors import ApiError


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
