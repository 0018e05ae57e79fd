"""Bounded max-heaps of ``(distance, id)`` pairs for exact top-k (Numba).

A heap holds the k best candidates seen so far with the *worst* one at the
root, so a new candidate is compared against ``(hd[0], hi[0])`` only.  Pairs
are ordered lexicographically: smaller distance first, then smaller id, which
is the tie rule of the search contract.  ``heap_sort`` turns a heap into the
final ascending order in place; ``write_sorted`` does that and writes it as
one padded row of a k-NN result.
"""

from __future__ import annotations

import numba

from .._kernels import PAD_DISTANCE  # the one definition (a compile-time constant here)

__all__ = [
    "PAD_ID",
    "heap_offer",
    "heap_push",
    "heap_replace_top",
    "heap_sort",
    "pair_greater",
    "write_sorted",
]

#: Id of a padding slot of a k-NN result (k exceeds the results), beside
#: ``PAD_DISTANCE``: the ``-1`` of the kernel contract.
PAD_ID = -1


@numba.njit(nogil=True)
def pair_greater(d1, i1, d2, i2):
    """``(d1, i1) > (d2, i2)`` lexicographically."""
    return d1 > d2 or (d1 == d2 and i1 > i2)


@numba.njit(nogil=True)
def heap_push(hd, hi, size, d, idv):
    """Insert ``(d, idv)`` into a heap of ``size`` items (capacity permitting)."""
    pos = size
    while pos > 0:
        parent = (pos - 1) >> 1
        if pair_greater(d, idv, hd[parent], hi[parent]):
            hd[pos] = hd[parent]
            hi[pos] = hi[parent]
            pos = parent
        else:
            break
    hd[pos] = d
    hi[pos] = idv


@numba.njit(nogil=True)
def _sift_down(hd, hi, size, d, idv):
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        right = child + 1
        if right < size and pair_greater(hd[right], hi[right], hd[child], hi[child]):
            child = right
        if pair_greater(hd[child], hi[child], d, idv):
            hd[pos] = hd[child]
            hi[pos] = hi[child]
            pos = child
        else:
            break
    hd[pos] = d
    hi[pos] = idv


@numba.njit(nogil=True)
def heap_replace_top(hd, hi, size, d, idv):
    """Replace the worst item (the root) by ``(d, idv)`` and restore order."""
    _sift_down(hd, hi, size, d, idv)


@numba.njit(nogil=True)
def heap_offer(hd, hi, size, capacity, d, idv):
    """Offer ``(d, idv)``; return the new size.

    Pushes while the heap is not full, then replaces the root when the pair
    is smaller than it.
    """
    if size < capacity:
        heap_push(hd, hi, size, d, idv)
        return size + 1
    if capacity > 0 and pair_greater(hd[0], hi[0], d, idv):
        _sift_down(hd, hi, size, d, idv)
    return size


@numba.njit(nogil=True)
def heap_sort(hd, hi, size):
    """Sort the first ``size`` items of a heap ascending by ``(d, id)``."""
    end = size - 1
    while end > 0:
        d = hd[end]
        idv = hi[end]
        hd[end] = hd[0]
        hi[end] = hi[0]
        _sift_down(hd, hi, end, d, idv)
        end -= 1


# inlined: as a call (its arrays passed member by member) it cost ~2% of a
# 3 us MIH k-NN query
@numba.njit(nogil=True, inline="always")
def write_sorted(hd, hi, size, k, D, I, row):
    """Sort a heap of ``size`` items and write it as row ``row`` of ``D`` /
    ``I``, padded with ``(PAD_DISTANCE, PAD_ID)`` up to ``k`` slots.

    Parameters
    ----------
    hd, hi : ndarray
        The heap's distances and ids (sorted in place).
    size : int
        Items in the heap (at most ``k``).
    k : int
        Slots of a result row.
    D, I : ndarray, shape (nq, >= k)
        The k-NN distances and ids written.
    row : int
        The row of ``D`` / ``I`` written.
    """
    heap_sort(hd, hi, size)
    for s in range(size):
        D[row, s] = hd[s]
        I[row, s] = hi[s]
    for s in range(size, k):
        D[row, s] = PAD_DISTANCE
        I[row, s] = PAD_ID
