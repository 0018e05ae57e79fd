"""Text output of the evaluation protocol: one row per (method, code length)."""

from __future__ import annotations

import json
import os
from typing import Iterable

__all__ = ["HEADER", "format_row", "format_table", "write_json"]

#: Column titles of :func:`format_row`.
#: ``mAP`` ranks ties by (shuffled) database position, ``mAP~`` is the
#: tie-aware mAP (expected over the orders of tied items).
HEADER = (f"{'method':<14}{'bits':>5}{'mAP':>9}{'mAP~':>9}{'P@1000':>9}{'P@r<=2':>9}"
          f"{'fit s':>9}{'enc s':>9}")


def _cell(value, width: int = 9, fmt: str = ".4f") -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}{fmt}}"


def format_row(r: dict) -> str:
    """One result of :func:`~hamsearch.evaluation.evaluate_method` as a line under HEADER."""
    return (f"{r['method']:<14}{r['nbits']:>5}{r['map']:>9.4f}{_cell(r.get('map_tie'))}"
            f"{r['p_at_1000']:>9.4f}{r['p_r2']:>9.4f}{r['fit_s']:>9.2f}{r['encode_s']:>9.2f}")


def format_table(results: Iterable[dict]) -> str:
    """Plain-text table of results (one line per method and code length)."""
    return "\n".join([HEADER] + [format_row(r) for r in results])


def write_json(path: str, dataset: str, data: dict, results: list) -> None:
    """Write the results of one dataset (and its split sizes) as JSON to ``path``."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as fh:
        json.dump({"dataset": dataset, "n_query": int(data["query"].size),
                   "n_database": int(data["database"].size),
                   "database_order": data.get("database_order", "stored"),
                   "results": results},
                  fh, indent=1, default=float)
