"""Seeded synthetic data: uniform and clustered binary codes, clustered features.

Learned hash codes are far from uniform: images of one kind land near each
other.  :func:`clustered_codes` imitates that with random centre codes and
per-bit flips, the model used by the benchmarks and ``hamsearch demo``;
:func:`clustered_features` draws Gaussian clusters of feature vectors (the
``synthetic`` dataset of :func:`hamsearch.datasets.load`) for the hashers.

Every function takes the same names: ``n`` items, ``nbits`` (codes) or
``dim`` (features), ``ncenters`` clusters, ``seed``.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence, Tuple, Union

import numpy as np

from .codes import check_nbits

__all__ = ["uniform_codes", "clustered_codes", "clustered_features"]

Seed = Union[int, np.random.Generator, None]

_CHUNK = 65536


def uniform_codes(n: int, nbits: int, seed: Seed = 0) -> np.ndarray:
    """Uniformly random codes, packed uint8 ``(n, nbits // 8)``.

    Parameters
    ----------
    n : int
        Number of codes.
    nbits : int
        Code length (multiple of 8).
    seed : int or numpy.random.Generator
        Seed or generator.
    """
    nbits = check_nbits(nbits)
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(int(n), nbits // 8), dtype=np.uint8)


def clustered_codes(
    n: int,
    nbits: int,
    ncenters: int = 1000,
    flip: Union[float, Tuple[float, float]] = 0.1,
    seed: Seed = 0,
    centres: Optional[np.ndarray] = None,
    progress: Optional[Callable[[int, int], None]] = None,
    return_labels: bool = False,
    labels: Union[Sequence[int], np.ndarray, str, None] = None,
) -> Tuple[np.ndarray, ...]:
    """Codes drawn around random centre codes with independent bit flips.

    Parameters
    ----------
    n : int
        Number of codes.
    nbits : int
        Code length (multiple of 8).
    ncenters : int, default 1000
        Number of centre codes (ignored when ``centres`` is given).
    flip : float or (float, float), default 0.1
        Probability of flipping each bit of the centre.  A pair ``(lo, hi)``
        draws one probability per centre uniformly in that range, so some
        clusters are tight and some loose.
    seed : int or numpy.random.Generator
        Seed or generator.
    centres : ndarray of uint8, optional
        Packed centre codes ``(c, nbits // 8)`` to draw around (for instance
        the centres of a database, to draw queries like it).
    progress : callable, optional
        Called as ``progress(done, total)`` after each chunk.
    return_labels : bool, default False
        Also return the centre index of each code.
    labels : array_like of int or "balanced", optional
        Centre index of each code (length ``n``); drawn uniformly when
        omitted; ``"balanced"``: a random permutation of ``i % ncenters``
        (every centre gets ``n // ncenters`` or one more codes).

    Returns
    -------
    codes : ndarray of uint8, shape (n, nbits // 8)
    centres : ndarray of uint8, shape (ncenters, nbits // 8)
    labels : ndarray of int64, shape (n,)
        Only when ``return_labels``.
    """
    nbits = check_nbits(nbits)
    rng = np.random.default_rng(seed)
    n = int(n)
    if isinstance(labels, str):
        if labels != "balanced":
            raise ValueError(f"labels must be integers or 'balanced', got {labels!r}")
        count = _positive(ncenters, "ncenters") if centres is None else len(centres)
        labels = rng.permutation(np.arange(n) % count).astype(np.int64)
    if centres is None:
        centres = rng.integers(0, 256, size=(int(ncenters), nbits // 8), dtype=np.uint8)
    centres = np.ascontiguousarray(centres, dtype=np.uint8)
    ncentres = centres.shape[0]
    probs: np.ndarray
    if isinstance(flip, tuple) or np.ndim(flip) != 0:
        lo, hi = flip  # type: ignore[misc]
        probs = np.asarray(np.random.default_rng(rng.integers(2**63)).uniform(lo, hi,
                                                                              size=ncentres))
    else:
        probs = np.full(ncentres, float(flip))
    if (probs < 0).any() or (probs > 1).any():
        raise ValueError(f"flip probabilities must lie in [0, 1], got {flip!r}")
    if labels is None:
        labels = rng.integers(0, ncentres, size=n)
    else:
        labels = np.asarray(labels)
        if labels.shape != (n,) or labels.dtype.kind not in "iu":
            raise ValueError(f"labels must be {n} integers, got shape {labels.shape} dtype {labels.dtype}")
        if n and (labels.min() < 0 or labels.max() >= ncentres):
            raise ValueError(f"labels must lie in [0, {ncentres})")
    out = np.empty((n, nbits // 8), dtype=np.uint8)
    for start in range(0, n, _CHUNK):
        stop = min(n, start + _CHUNK)
        lab = labels[start:stop]
        thresh = (probs[lab] * 65536).astype(np.uint32)[:, None]
        flips = rng.integers(0, 65536, size=(stop - start, nbits), dtype=np.uint32) < thresh
        out[start:stop] = centres[lab] ^ np.packbits(flips, axis=1, bitorder="little")
        if progress is not None:
            progress(stop, n)
    if return_labels:
        return out, centres, labels
    return out, centres


def clustered_features(n: int = 2000, dim: int = 64, ncenters: int = 10, std: float = 1.0,
                       centre_scale: float = 3.0, seed: Seed = 0
                       ) -> Tuple[np.ndarray, np.ndarray]:
    """Gaussian clusters in ``dim`` dimensions, one class per cluster.

    Parameters
    ----------
    n : int, default 2000
        Number of vectors.
    dim : int, default 64
        Their dimension.
    ncenters : int, default 10
        Number of clusters (classes).
    std : float, default 1.0
        Standard deviation of every coordinate inside a cluster.
    centre_scale : float, default 3.0
        Standard deviation of the cluster centres' coordinates.
    seed : int, numpy.random.Generator or None
        Seed or generator.

    Returns
    -------
    X : ndarray of float32, shape (n, dim)
    labels : ndarray of int64, shape (n,)
        Balanced: vector ``i`` belongs to cluster ``i % ncenters`` before shuffling.

    Examples
    --------
    >>> X, y = clustered_features(100, 8, ncenters=5, seed=3)
    >>> X.shape, X.dtype, np.bincount(y).tolist()
    ((100, 8), dtype('float32'), [20, 20, 20, 20, 20])
    """
    n = _positive(n, "n")
    d = _positive(dim, "dim")
    c = _positive(ncenters, "ncenters")
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=centre_scale, size=(c, d))
    labels = rng.permutation(np.arange(n) % c).astype(np.int64)
    X = centres[labels] + rng.normal(scale=std, size=(n, d))
    return X.astype(np.float32), labels


def _positive(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)
