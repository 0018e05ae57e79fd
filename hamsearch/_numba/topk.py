"""Bounded max-heaps of ``(distance, id)`` pairs for exact top-k (Numba).

A heap holds the k best candidates seen so far with the *worst* one at the
root, so a new candidate is compared against ``(hd[0], hi[0])`` only.  Pairs
are ordered lexicographically: smaller distance first, then smaller id, which
is the tie rule of the search contract.  ``heap_sort`` turns a heap into the
final ascending order in place.
"""

from __future__ import annotations

import numba

__all__ = ["pair_greater", "heap_push", "heap_replace_top", "heap_sort", "heap_offer"]


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
