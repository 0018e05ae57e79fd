"""Retrieval metrics of binary codes by Hamming ranking.

Every function here ranks the whole database for each query by Hamming
distance, computed with the engine's kernels
(:func:`hamsearch.hamming_distances`) in chunks of queries, and scores the
ranking against class labels.

Conventions (the same in every function):

* **Relevance**: with 1-D integer labels, a database item is relevant to a
  query when the labels are equal; with 2-D multi-hot labels
  ``(n, n_classes)`` (multi-label data), when they share at least one label.
* **Ties**: items at the same Hamming distance are ranked by their position
  in the database (a stable sort by distance; ``ties="stable"``).  Functions
  that take ``ties="average"`` instead return the expectation over all
  orders of the tied items (McSherry & Najork's tie-aware measures), which
  does not depend on the database order.
* **Empty cases**: a query with no relevant item in the ranked list it is
  scored on has average precision 0; a query that retrieves nothing within a
  Hamming radius has precision 0 at that radius (the convention of the
  spectral-hashing and ITQ papers).
* **Codes** may be in any layout :mod:`hamsearch.codes` accepts; ``nbits`` is
  inferred from packed ``uint8`` (``8 * width``) or bool codes and must be
  given otherwise.

Modules, one job each: :mod:`.ranking` (:func:`mean_average_precision`,
:func:`precision_at_k`), :mod:`.lookup` (:func:`precision_recall_curve`,
:func:`precision_within_radius`), :mod:`.summary` (:func:`evaluate`); the
shared pass over the distances is ``_engine.py``, with ``_checks.py``
(arguments), ``_counts.py`` (relevance, chunks, per-distance counts) and
``_ties.py`` (the tie-aware formulas).  Every name is importable from
``hamsearch.metrics``; ``_CHUNK_PAIRS`` is read from here at call time.
"""

from __future__ import annotations

#: Target number of (query, database item) pairs held in memory per chunk.
_CHUNK_PAIRS = 1 << 23

# Re-exports: every name of the former single module.
# ruff: noqa: E402, F401
from ..codes import as_words
from ..distances import hamming_distances, infer_nbits
from ._checks import _check_choice, _check_ks, _check_labels, _check_topk, _prepare
from ._counts import _bucket_counts, _chunks, _n_relevant, _relevance, _stable_order
from ._engine import _evaluate
from ._ties import (
    _harmonic,
    _tie_average_ap,
    _tie_average_from_buckets,
    _tie_average_patk,
)
from .lookup import (
    _mean_precision,
    _pr_from_buckets,
    precision_recall_curve,
    precision_within_radius,
)
from .ranking import mean_average_precision, precision_at_k
from .summary import evaluate

__all__ = [
    "mean_average_precision",
    "precision_at_k",
    "precision_recall_curve",
    "precision_within_radius",
    "evaluate",
]
