"""The exceptions hamsearch raises for expected failures.

Every expected failure -- a bad argument, a file that is not what it claims
to be, a missing optional dependency, a resource in use -- is a
:class:`HamsearchError`.  Each class also derives from the built-in
exception that callers caught before the hierarchy existed
(:class:`ValueError`, :class:`ImportError`, :class:`OSError`), so
``except ValueError`` keeps working.

The ``hamsearch`` command prints a :class:`HamsearchError` as one line and
exits with status 1; any other exception is a bug and keeps its traceback.

Examples
--------
>>> from hamsearch.errors import HamsearchError, InvalidArgumentError
>>> issubclass(InvalidArgumentError, ValueError)
True
>>> try:
...     raise InvalidArgumentError("--bits is empty")
... except HamsearchError as exc:
...     print(exc)
--bits is empty
"""

from __future__ import annotations

__all__ = [
    "HamsearchError",
    "InvalidArgumentError",
    "FileFormatError",
    "DatasetError",
    "MissingDependencyError",
    "ResourceBusyError",
]


class HamsearchError(Exception):
    """Base of the expected failures (printed as one line by the command)."""


class InvalidArgumentError(HamsearchError, ValueError):
    """An argument or option has a value that cannot be used."""


class FileFormatError(HamsearchError, ValueError):
    """A file is truncated, damaged, or not of the kind it should be."""


class DatasetError(HamsearchError, ValueError):
    """A dataset cannot be loaded: an unknown name or a damaged file."""


class MissingDependencyError(HamsearchError, ImportError):
    """An optional dependency (an extra of the package) is not installed."""


class ResourceBusyError(HamsearchError, OSError):
    """A file or directory is in use (e.g. locked by another process)."""
