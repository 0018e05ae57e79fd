"""Pairwise Hamming distances between code sets (no index needed)."""

from __future__ import annotations

import numpy as np

from ._backend import get_num_threads, kernels
from .codes import as_words, check_nbits

__all__ = ["hamming_distances", "infer_nbits"]


def infer_nbits(codes, nbits=None) -> int:
    """Return ``nbits`` for ``codes``, inferring it from packed uint8 or bool input.

    Packed uint8 ``(n, B)`` means ``8 * B`` bits, bool ``(n, b)`` means ``b``
    bits.  Other layouts (uint64 words, integer 0/1) are ambiguous and need
    ``nbits``.
    """
    if nbits is not None:
        return check_nbits(nbits)
    arr = np.asarray(codes)
    if arr.dtype == np.uint8 and arr.ndim in (1, 2):
        return check_nbits(arr.shape[-1] * 8)
    if arr.dtype == np.bool_ and arr.ndim in (1, 2):
        return check_nbits(arr.shape[-1])
    raise ValueError(
        f"cannot infer nbits from codes of dtype {arr.dtype} and shape {arr.shape}; "
        "pass nbits= (only packed uint8 and bool codes carry their width)"
    )


def hamming_distances(a, b, nbits: int | None = None) -> np.ndarray:
    """All pairwise Hamming distances between two sets of codes.

    Parameters
    ----------
    a : array_like, shape (na, ...)
        Codes in any accepted layout (packed uint8, packed uint64, unpacked 0/1).
    b : array_like, shape (nb, ...)
        Codes of the same length.
    nbits : int, optional
        Code length; inferred from packed uint8 or bool input when omitted.

    Returns
    -------
    D : ndarray of int32, shape (na, nb)

    Examples
    --------
    >>> import numpy as np, hamsearch
    >>> a = np.array([[0b1011]], dtype=np.uint8)
    >>> b = np.array([[0], [255]], dtype=np.uint8)
    >>> hamsearch.hamming_distances(a, b)
    array([[3, 5]], dtype=int32)
    """
    nbits = infer_nbits(a, nbits)
    wa = as_words(a, nbits, "a")
    wb = as_words(b, nbits, "b")
    return kernels().hamming_matrix(wa, wb, get_num_threads())
