"""Argument checks shared by the sub-commands; failures are
:class:`~hamsearch.errors.InvalidArgumentError` (one line, exit status 1)."""

from __future__ import annotations

import contextlib
import re
from typing import Iterator

from ..errors import HamsearchError, InvalidArgumentError

__all__ = ["parse_bits", "parse_list", "require_positive", "argument_errors", "plain_text"]


def plain_text(doc: str) -> str:
    """A module docstring as ``--help`` text: reST roles and literals as plain words.

    Examples
    --------
    >>> plain_text("Uses :class:`hamsearch.Index`; ``--n`` sets it::")
    'Uses hamsearch.Index; --n sets it:'
    """
    text = re.sub(r":\w+:`~?([^`]+)`", r"\1", doc or "")
    text = text.replace("``", "")
    return re.sub(r"::$", ":", text, flags=re.M)


@contextlib.contextmanager
def argument_errors() -> Iterator[None]:
    """Report a :class:`ValueError` raised inside as a bad argument (one line).

    For library calls that validate options the command passes through
    verbatim (a model's ``fit``, a token file); the original error is the
    ``__cause__`` (``hamsearch --debug`` shows it).
    """
    try:
        yield
    except HamsearchError:
        raise
    except ValueError as exc:
        raise InvalidArgumentError(str(exc)) from exc


def parse_list(text: str) -> list:
    """The non-empty items of a comma-separated option, stripped and lower-cased."""
    return [item.strip().lower() for item in str(text).split(",") if item.strip()]


def parse_bits(text: str, option: str = "--bits") -> list:
    """Code lengths of a comma-separated option: positive multiples of 8.

    Raises
    ------
    InvalidArgumentError
        Not integers, empty, or a length that is not a positive multiple of 8.
    """
    try:
        bits = [int(b) for b in str(text).split(",") if b.strip()]
    except ValueError:
        raise InvalidArgumentError(
            f"{option} must be a comma-separated list of ints, got {text!r}") from None
    if not bits:
        raise InvalidArgumentError(f"{option} is empty")
    for b in bits:
        if b <= 0 or b % 8:
            raise InvalidArgumentError(
                f"every code length in {option} must be a positive multiple of 8, got {b}")
    return bits


def require_positive(message: str, *values: int) -> None:
    """Raise :class:`InvalidArgumentError` with ``message`` unless every value is > 0."""
    if any(v <= 0 for v in values):
        raise InvalidArgumentError(message)
