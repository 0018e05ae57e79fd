"""The write-ahead log's errors."""

from __future__ import annotations

from ..errors import FileFormatError, ResourceBusyError


class WalCorruptError(FileFormatError):
    """A log file is damaged in a way that may have lost acknowledged records."""


class WalLockedError(ResourceBusyError):
    """The log directory is already open for writing (by this or another process)."""
