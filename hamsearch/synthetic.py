"""Seeded synthetic code sets: uniform and clustered binary codes.

Learned hash codes are far from uniform: images of one kind land near each
other.  :func:`clustered_codes` imitates that with random centre codes and
per-bit flips, the model used by the benchmarks and ``hamsearch demo``.
"""

from __future__ import annotations

import numpy as np

from .codes import check_nbits

__all__ = ["uniform_codes", "clustered_codes"]

_CHUNK = 65536


def uniform_codes(n: int, nbits: int, seed=0) -> np.ndarray:
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
    flip=0.1,
    seed=0,
    centres: np.ndarray | None = None,
    progress=None,
    return_labels: bool = False,
    labels: np.ndarray | None = None,
):
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
    labels : array_like of int, optional
        Centre index of each code (length ``n``); drawn uniformly when omitted.

    Returns
    -------
    codes : ndarray of uint8, shape (n, nbits // 8)
    centres : ndarray of uint8, shape (ncenters, nbits // 8)
    labels : ndarray of int64, shape (n,)
        Only when ``return_labels``.
    """
    nbits = check_nbits(nbits)
    rng = np.random.default_rng(seed)
    if centres is None:
        centres = rng.integers(0, 256, size=(int(ncenters), nbits // 8), dtype=np.uint8)
    centres = np.ascontiguousarray(centres, dtype=np.uint8)
    ncentres = centres.shape[0]
    if np.ndim(flip) == 0:
        probs = np.full(ncentres, float(flip))
    else:
        lo, hi = flip
        probs = np.random.default_rng(rng.integers(2**63)).uniform(lo, hi, size=ncentres)
    if (probs < 0).any() or (probs > 1).any():
        raise ValueError(f"flip probabilities must lie in [0, 1], got {flip!r}")
    n = int(n)
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
