"""The seed papers' own figures, quoted beside our results tables.

``python -m bench.literature`` prints the section; ``--insert FILE`` writes
it into a results file (replacing an earlier copy between the markers), which
is what ``bench.shallow_table`` and ``bench.deep_table`` do when they write
their tables; ``--check`` compares every quoted number with the seed texts.

Every number here is copied from the plain text of a seed paper in
``shared/seeds/`` (see its README; :func:`seeds_dir` finds it) and kept as
the string the paper prints, with the paper and the table (or section) it
comes from.  ``tests/test_literature.py`` checks each one against that text
(:func:`check_against_seeds`): a table row must appear there as the same run
of numbers, a single figure must appear verbatim.  The prose here is ours:
the papers' sentences are paraphrased, never copied.

This module is the command and the one place to import from; the work is
in :mod:`bench.literature_quotes` (the figures, as data),
:mod:`bench.literature_check` (the check against the seed texts) and
:mod:`bench.literature_markdown` (the section).
"""

from __future__ import annotations

import argparse

from .literature_check import (
    SEEDS_ENV,
    _numbers,  # noqa: F401 (tests/test_literature.py reads it here)
    check_quotes,
    seeds_dir,
)
from .literature_markdown import BEGIN, END, insert, markdown
from .literature_quotes import (
    DEEPHASH_DEEP,
    DEEPHASH_SHALLOW,
    DEEPHASH_TABLE1,
    DEEPHASH_TABLE2,
    DEEPHASH_TABLE3,
    DELM_FIGURES,
    DELM_TABLE1,
    DELM_TABLE3,
    FIGURES,
    LDH_FIGURES,
    LIN_FIGURES,
    LIN_PROTOCOL,
    LIN_TABLE1,
    LIN_TABLE2,
    PAPERS,
    TABLES,
    ZHONG_FIGURES,
    ZHONG_SHALLOW,
    ZHONG_TABLE1,
    Figure,
    Paper,
    Row,
    Table,
    quoted_figures,
    quoted_table,
)

__all__ = ["BEGIN", "DEEPHASH_DEEP", "DEEPHASH_SHALLOW", "DEEPHASH_TABLE1", "DEEPHASH_TABLE2",
           "DEEPHASH_TABLE3", "DELM_FIGURES", "DELM_TABLE1", "DELM_TABLE3", "END", "FIGURES",
           "LDH_FIGURES", "LIN_FIGURES", "LIN_PROTOCOL", "LIN_TABLE1", "LIN_TABLE2", "PAPERS",
           "SEEDS_ENV", "TABLES", "ZHONG_FIGURES", "ZHONG_SHALLOW", "ZHONG_TABLE1", "Figure",
           "Paper", "Row", "Table", "check_against_seeds", "insert", "main",
           "markdown", "quoted_figures", "quoted_table", "seeds_dir"]


def check_against_seeds(directory: str | None = None) -> list[str]:
    """The problems :func:`bench.literature_check.check_quotes` finds in this
    module's :data:`TABLES` and :data:`FIGURES`.

    They are looked up when called, so that a test can swap in a wrong figure
    here and see the check catch it.  ``directory``: the seed texts (default
    :func:`seeds_dir`); an empty list when every number is found.
    """
    return check_quotes(TABLES, FIGURES, directory)


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.literature``: print, insert or check the section."""
    p = argparse.ArgumentParser(prog="python -m bench.literature",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--kind", choices=("shallow", "deep"), default="shallow")
    p.add_argument("--insert", metavar="FILE", help="write the section into this markdown file")
    p.add_argument("--check", action="store_true",
                   help="check every quoted number against the seed texts")
    args = p.parse_args(argv)
    if args.check:
        problems = check_against_seeds()
        for line in problems:
            print(line)
        print(f"{len(problems)} problem(s) in {sum(len(t.rows) for t in TABLES)} rows and "
              f"{len(FIGURES)} figures")
        return 1 if problems else 0
    if args.insert:
        insert(args.insert, args.kind)
    else:
        print(markdown(args.kind), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
