"""All pairwise Hamming distances in Numba: one tile (transposed when it
has enough rows) and the serial / parallel drivers over tiles."""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from ..popcount import block_distances, block_distances_t, transpose_block
from .tasks import TRANSPOSE_MIN_QUERIES


@numba.njit(cache=True, nogil=True)
def matrix_tile(a, b, i0, i1, j0, j1, out):
    """``out[i, j]`` for ``i0 <= i < i1``, ``j0 <= j < j1``."""
    if i1 - i0 >= TRANSPOSE_MIN_QUERIES and b.shape[1] > 1:
        T = np.empty((b.shape[1], j1 - j0), dtype=np.uint64)
        transpose_block(b, j0, j1, T)
        for i in range(i0, i1):
            block_distances_t(T, j1 - j0, a, i, out[i, j0:j1])
    else:
        for i in range(i0, i1):
            block_distances(b, j0, j1, a, i, out[i, j0:j1])


@numba.njit(cache=True, nogil=True)
def matrix_tiles(a, b, ti, tj):
    """Tiles of ``ti`` rows by ``tj`` columns over ``a`` x ``b``."""
    return ((a.shape[0] + ti - 1) // ti) * ((b.shape[0] + tj - 1) // tj)


@numba.njit(cache=True, nogil=True)
def matrix_tile_at(t, a, b, ti, tj, out):
    """Tile ``t`` of :func:`matrix_tiles` (the drivers' one loop body)."""
    na, nb = a.shape[0], b.shape[0]
    ntj = (nb + tj - 1) // tj
    r = t // ntj
    c = t - r * ntj
    matrix_tile(a, b, r * ti, min(na, (r + 1) * ti), c * tj, min(nb, (c + 1) * tj), out)


@numba.njit(cache=True, nogil=True)
def matrix_serial(a, b, ti, tj, out):
    """All tiles of ``ti`` rows by ``tj`` columns, in the calling thread."""
    for t in range(matrix_tiles(a, b, ti, tj)):
        matrix_tile_at(t, a, b, ti, tj, out)


@numba.njit(cache=True, nogil=True, parallel=True)
def matrix_parallel(a, b, ti, tj, out):
    """All tiles of ``ti`` rows by ``tj`` columns, on the thread pool."""
    for t in prange(matrix_tiles(a, b, ti, tj)):
        matrix_tile_at(t, a, b, ti, tj, out)
