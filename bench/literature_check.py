"""Every quoted figure checked against the plain text of its seed paper.

The seed texts are in ``shared/seeds/`` (:func:`seeds_dir` finds them); a
table row must appear there as the same run of numbers, a single figure
verbatim (:func:`check_quotes`).  ``tests/test_literature.py`` runs the
check, ``python -m bench.literature --check`` prints it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence

from .literature_quotes import PAPERS, Figure, Table

#: Environment variable that overrides where the seed texts are.
SEEDS_ENV = "HAMSEARCH_SEEDS_DIR"


def seeds_dir() -> str | None:
    """The directory of the seed texts, or None when it is not there.

    Looked up in order: ``$HAMSEARCH_SEEDS_DIR``; ``shared/seeds`` inside the
    repository (a checkout with ``shared/`` in it); ``../shared/seeds`` beside
    the repository (the layout ``docs/architecture.md`` refers to).
    """
    env = os.environ.get(SEEDS_ENV)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for cand in ([env] if env else []) + [os.path.join(repo, "shared", "seeds"),
                                          os.path.join(repo, os.pardir, "shared", "seeds")]:
        if os.path.isfile(os.path.join(cand, PAPERS["lin"].file)):
            return os.path.normpath(cand)
    return None


_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def _numbers(text: str) -> list[str]:
    """The numbers of a text in order, as printed (``50,000``, ``0.9918``, ``16``)."""
    return [m.group(0).rstrip(",") for m in _NUMBER.finditer(text)]


def _contains_run(haystack: Sequence[str], run: Sequence[str]) -> bool:
    n = len(run)
    return any(list(haystack[i:i + n]) == list(run) for i in range(len(haystack) - n + 1))


def check_quotes(tables: Iterable[Table], figures: Iterable[Figure],
                 directory: str | None = None) -> list[str]:
    """Every quoted number that the seed text of its paper does not back up.

    A table row passes when its numbers (dashes left out) appear in the paper
    as one run of consecutive numbers, in order; so does a figure (most are
    one number; "32, 32, 64" is a run of three).

    Parameters
    ----------
    tables : iterable of Table
    figures : iterable of Figure
        What to check (:data:`bench.literature_quotes.TABLES` and ``FIGURES``).
    directory : str, optional
        The seed texts (default :func:`seeds_dir`).

    Returns
    -------
    list of str
        One line per problem; empty when everything is found.

    Raises
    ------
    FileNotFoundError
        No seed directory.
    """
    directory = directory or seeds_dir()
    if directory is None:
        raise FileNotFoundError("the seed texts (shared/seeds) are not here; set "
                                f"${SEEDS_ENV}")
    numbers = {}
    for key, paper in PAPERS.items():
        with open(os.path.join(directory, paper.file), encoding="utf-8") as fh:
            numbers[key] = _numbers(fh.read())
    problems = []
    for t in tables:
        for row in t.rows:
            run = [n for v in row.values if v is not None for n in _numbers(v)]
            if not _contains_run(numbers[t.paper], run):
                problems.append(f"{t.paper} {t.table} row {row.method!r}: {' '.join(run)} "
                                "not found as a run")
    for f in figures:
        if not _contains_run(numbers[f.paper], _numbers(f.value)):
            problems.append(f"{f.paper} {f.where} ({f.what}): {f.value} not found")
    return problems
