"""``hamsearch speedup``: the 971x Hamming-vs-L2 measurement of Lin et al. (2015).

The measurement is a benchmark, :mod:`bench.speedup_971x` of the source
checkout (``python -m bench.speedup_971x`` runs the same code); this command
parses its options and calls it.  An installed package without the source
tree says so in one line.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from types import ModuleType
from typing import Optional

from ..errors import MissingDependencyError
from ._args import plain_text

__all__ = ["register", "run"]

_BENCH = "bench.speedup_971x"


def _bench_module(name: str = _BENCH) -> Optional[ModuleType]:
    """Import ``name`` from bench/ (on the path, or in the checkout that holds this
    package); None when there is no source tree."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("bench"):
            raise
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if not os.path.isfile(os.path.join(root, "bench", "speedup_971x.py")):
        return None
    sys.path.append(root)
    return importlib.import_module(name)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``speedup`` parser to ``sub`` (its options come from the benchmark)."""
    bench = _bench_module()
    p = sub.add_parser("speedup",
                       help="reproduce the paper's 971x Hamming-vs-L2 speed-up measurement",
                       description=plain_text(bench.__doc__ if bench else __doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    if bench is not None:
        bench.add_arguments(p)
    else:
        p.add_argument("options", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the measurement; returns the exit status."""
    bench = _bench_module()
    if bench is None:
        raise MissingDependencyError("hamsearch speedup runs bench/speedup_971x.py of a source "
                                     "checkout; run it from the repository root")
    return int(bench.run(args) or 0)
