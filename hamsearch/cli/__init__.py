"""The ``hamsearch`` command.

Each sub-command lives in its own module of this package with a
``register(subparsers)`` function that adds its parser and sets
``func=<callable(args) -> int>``.  Optional dependencies are imported inside
the command functions, never at import time.
"""

from __future__ import annotations

import argparse
import importlib
import sys

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


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="hamsearch",
        description="Fast exact search of binary codes in Hamming space.",
    )
    parser.add_argument("--version", action="version", version=f"hamsearch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, FileNotFoundError, RuntimeError, ImportError) as exc:
        print(f"hamsearch {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
