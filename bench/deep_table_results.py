"""Where ``bench.deep_table`` keeps its rows: the results JSON and the committed docs.

Rows are merged into the JSON file under a lock (several ``--resume`` runs
can share one file), the markdown document rewritten from the merged rows;
the committed ``docs/results_deep.json`` is only ever merged into.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from hamsearch._atomic import atomic_write

from ._common import results_paths, update_docs
from .deep_table_markdown import markdown_text

DOCS_JSON, DOCS_MD = results_paths("results_deep.json")[1], results_paths("results_deep.md")[1]


def merge_results(path: str, rows: dict, replace_all: bool,
                  then: Callable[[dict], object] | None = None) -> dict:
    """Write ``rows`` into the JSON results file and return its whole content.

    With ``replace_all`` the file holds only ``rows``; otherwise rows already
    in the file are kept and these replace or join them, under a lock, so
    several ``--resume`` runs (different datasets or bits) can share one file.
    ``then(merged)`` runs under the same lock (writing the markdown table).
    """
    import fcntl

    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        merged = {}
        if not replace_all and os.path.exists(path):
            with open(path) as fh:
                merged = json.load(fh)
        merged.update(rows)
        with atomic_write(path, "w", what="results") as fh:
            json.dump(merged, fh, indent=1)
        if then is not None:
            then(merged)
    return merged


def update_docs_rows(rows: dict, args_line: str, docs_json: str = DOCS_JSON,
                     docs_md: str = DOCS_MD) -> dict:
    """Merge ``rows`` into the committed results (``docs_json``, never dropping
    a row) and rewrite ``docs_md`` from all of them, keeping its hand-written
    sections (:func:`bench._common.merge_markdown` with ``tables=False``)."""
    def write_md(merged):
        update_docs(docs_md, markdown_text(merged, docs_md, args_line), tables=False)

    return merge_results(docs_json, rows, replace_all=False, then=write_md)


def same_file(a: str, b: str) -> bool:
    """Whether two paths name the same file (links resolved)."""
    return os.path.realpath(a) == os.path.realpath(b)
