"""Search results as JSON-ready hits: ``{"id", "distance"}`` rows (with a
``score`` for a hierarchical search), padding dropped."""

from __future__ import annotations

from typing import Optional

import numpy as np

__all__ = ["hits", "range_hits"]


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


def range_hits(lims: np.ndarray, D: np.ndarray, I: np.ndarray) -> list:
    """Radius-search results (CSR ``lims``, ``D``, ``I``) as one list of
    ``{"id", "distance"}`` per query."""
    Dl, Il, L = D.tolist(), I.tolist(), lims.tolist()
    return [[{"id": Il[j], "distance": Dl[j]} for j in range(L[i], L[i + 1])]
            for i in range(len(L) - 1)]
