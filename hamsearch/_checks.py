"""Checks of search arguments shared by :class:`hamsearch.Index` and
:mod:`hamsearch.rerank` (one wording for each error)."""

from __future__ import annotations

import numpy as np

__all__ = ["check_k", "check_radius"]


def check_k(k) -> int:
    """``k`` of a k-NN search: a positive int."""
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    return int(k)


def check_radius(radius, nbits: int) -> int:
    """A Hamming radius: a non-negative int, capped at ``nbits``."""
    if isinstance(radius, (bool, np.bool_)) or not isinstance(radius, (int, np.integer)):
        raise TypeError(f"radius must be an int, got {type(radius).__name__}")
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    return int(min(radius, nbits))
