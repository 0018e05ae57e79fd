"""The trainer's progress bar: :class:`hamsearch._progress.ProgressBar`.

Kept only for the import in :mod:`hamsearch.encoders.deep.base`; new code
imports :class:`~hamsearch._progress.ProgressBar` (``desc`` first) directly.
"""

from __future__ import annotations

from ..._progress import ProgressBar

__all__ = ["Progress"]


def Progress(total: int, desc: str, verbose: bool = True) -> ProgressBar:  # noqa: N802
    """``ProgressBar(desc, total, enabled=verbose)`` (the trainer's argument order)."""
    return ProgressBar(desc, total, enabled=verbose)
