"""Exhaustive (flat) search kernels in Numba: k-NN, range search, distance matrix.

Work is cut into *tasks*: a group of consecutive queries against a chunk of
consecutive database rows (``_task_bounds``).  With many queries there is one
chunk and a whole number of query groups per thread; with fewer queries than
about four per thread the database is split into chunks, so that a single
query still uses every thread, and the per-chunk results are merged after.

Inside a task the database chunk is walked in blocks small enough to stay in
L1, and every query of the group is scanned against a block before moving on
(queries tiled against database blocks).  A task with at least
``TRANSPOSE_MIN_QUERIES`` queries first copies each block word-major
(``transpose_block``), so that the distance loop reads unit-stride word
columns; with fewer queries the copy would cost as much as the scan and the
rows are read as they are.  Per query and block the distances go to a small
buffer (a loop LLVM vectorises) whose minimum is returned:

* k-NN: when the minimum exceeds the query's current k-th distance the block
  is rejected with that one comparison; otherwise the few rows with distance
  ``<=`` the k-th are offered to a bounded max-heap (``topk``), a tie with
  the k-th entering only with a smaller id;
* range search: one scan stores ``(query, distance, id)`` of every match in
  a per-task buffer (a task that overflows it is scanned again with a buffer
  of the exact size), the matches are scattered into the CSR arrays, and
  each query's slice is sorted by ``(distance, id)``.

Each driver exists twice: a serial one (plain ``range``; no threading layer,
safe to call from many Python threads at once) and a ``parallel=True`` one
whose outer loop is a ``prange`` over tasks.  Both call the same task
functions, so results are identical whichever runs.

Numba's on-disk cache keys a function on its own source file only: after
editing ``popcount.py`` or ``topk.py``, a helper module of ``flat/``
(``rows.py``: ``row_id``, which ``mih/`` and ``rerank.py`` use too;
``tasks.py``) or of ``mih/`` (whose cached kernels are in ``knn.py``,
``radius.py`` and ``build.py``) in a checkout, delete the ``__pycache__``
folders under ``hamsearch/_numba/`` (installed copies are unaffected: every
file is rewritten on install).

One job a module: ``rows.py`` (row ids, the skip test), ``tasks.py``
(blocks and task bounds), ``knn.py`` (k-NN tasks and drivers), ``merge.py``
(the per-chunk merge), ``radius.py`` (range search), ``matrix.py`` (the
distance matrix).  This package re-exports every name the single module
``flat.py`` had (``hamsearch._numba`` calls ``flat.block_rows`` and the
drivers through it: patch ``block_rows`` here).
"""

from __future__ import annotations

# Every name below is re-exported (the single module had them all).
# ruff: noqa: F401
from ..._kernels import PAD_DISTANCE
from ..popcount import BIG, block_distances, block_distances_t, transpose_block
from ..topk import PAD_ID, heap_offer, heap_push, heap_replace_top, heap_sort
from .knn import (
    _knn_scan_rows,
    _knn_scan_transposed,
    knn_parallel,
    knn_serial,
    knn_task,
    offer_block,
)
from .matrix import matrix_parallel, matrix_serial, matrix_tile
from .merge import merge_parallel, merge_serial, merge_task
from .radius import (
    _range_scan_block,
    range_parallel,
    range_scan_task,
    range_scatter_task,
    range_serial,
    sort_slice,
)
from .rows import ROW_IDS, row_id, skipped
from .tasks import (
    BLOCK_BYTES,
    MAX_BLOCK_ROWS,
    MIN_BLOCK_ROWS,
    TRANSPOSE_MIN_QUERIES,
    _task_bounds,
    block_rows,
)
