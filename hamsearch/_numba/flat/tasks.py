"""How a flat scan is cut: database rows per block (:func:`block_rows`),
when a block is transposed (:data:`TRANSPOSE_MIN_QUERIES`) and the bounds
of task ``t`` (a group of queries against a chunk of rows:
:func:`_task_bounds`)."""

from __future__ import annotations

import numba

# Bytes of database rows per block: a block is re-read once per query of the
# task, so it should sit in L1/L2 (measured: 512-1024 rows of up to 256 bits
# beat smaller blocks; the per-block overhead is then negligible).
BLOCK_BYTES = 32768
# A task scanning at least this many queries transposes each block once
# (word-major), which vectorises better for multi-word codes.
TRANSPOSE_MIN_QUERIES = 4
# Rows per block are clamped to this range.
MIN_BLOCK_ROWS = 64
MAX_BLOCK_ROWS = 1024


def block_rows(nwords: int) -> int:
    """Database rows per block for codes of ``nwords`` 64-bit words."""
    rows = BLOCK_BYTES // (8 * max(1, nwords))
    return int(min(MAX_BLOCK_ROWS, max(MIN_BLOCK_ROWS, rows)))


@numba.njit(nogil=True)
def _task_bounds(t, nchunks, ngroups, nq, n):
    g = t // nchunks
    c = t - g * nchunks
    q0 = g * nq // ngroups
    q1 = (g + 1) * nq // ngroups
    j0 = c * n // nchunks
    j1 = (c + 1) * n // nchunks
    return c, q0, q1, j0, j1
