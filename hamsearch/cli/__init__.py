"""The ``hamsearch`` command.

Each sub-command lives in its own module of this package with a
``register(subparsers)`` function that adds its parser and sets
``func=<callable(args) -> int>``; a command parses its arguments and calls
library code.  Optional dependencies are imported inside the command
functions, never at import time.

Errors: an expected failure (a :class:`~hamsearch.errors.HamsearchError`,
a file the user named that cannot be opened, an optional package that is
not installed) is printed as one line and the command exits with status 1;
anything else is a bug and keeps its traceback.  ``--debug`` shows the
traceback of every error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

from ..errors import HamsearchError

#: Sub-command modules, in the order ``hamsearch --help`` lists them.
COMMAND_MODULES = [
    "info",
    "demo",
    "eval",
    "train",
    "encode",
    "speedup",
    "serve",
]

#: Operating-system errors about a path the user gave: expected, one line.
_FILE_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``hamsearch`` with every sub-command registered."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="hamsearch",
        description="Fast exact search of binary codes in Hamming space.",
    )
    parser.add_argument("--version", action="version", version=f"hamsearch {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of every error (default: expected errors "
                             "as one line)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(sub)
    return parser


def is_expected(exc: BaseException) -> bool:
    """Whether ``exc`` is an expected failure, printed as one line.

    Parameters
    ----------
    exc : BaseException

    Returns
    -------
    bool
        True for a :class:`~hamsearch.errors.HamsearchError`, an error opening
        a path (:class:`FileNotFoundError`, :class:`PermissionError`, ...) and
        a third-party module that is not installed; False for everything
        else (bugs).
    """
    if isinstance(exc, (HamsearchError,) + _FILE_ERRORS):
        return True
    if isinstance(exc, ModuleNotFoundError):
        root = (exc.name or "").split(".")[0]
        return bool(root) and root != "hamsearch"
    return False


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``hamsearch`` command; returns the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 1 on an expected failure, 2 without a command, 130 on
        Ctrl-C.  Unexpected exceptions propagate with their traceback.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - sorted by is_expected, the rest re-raised
        if args.debug or not is_expected(exc):
            raise
        print(f"hamsearch {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
