"""The log's files in their directory: names, creation, listing, the lock, writes."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re

from .._atomic import atomic_write
from .errors import WalCorruptError, WalLockedError
from .records import _file_header

_FILE_NAME = re.compile(r"wal-(\d{16})\.log")
_LOCK_NAME = "wal.lock"
_TEMP_SUFFIX = ".tmp"
_MAX_SEQ = 10**16 - 1  # what 16 digits of a file name can hold
_IOV_MAX = os.sysconf("SC_IOV_MAX")


def _segment_name(first_seq: int) -> str:
    if not 1 <= first_seq <= _MAX_SEQ:
        raise ValueError(f"seqno {first_seq} does not fit a log file name")
    return f"wal-{first_seq:016d}.log"


def _write_all(fd: int, parts: list) -> None:
    """Write ``parts`` with one ``writev`` call, continuing after a short write."""
    views = [memoryview(p).cast("B") for p in parts if len(p)]
    if len(views) > _IOV_MAX:
        views = [memoryview(b"".join(views))]
    while views:
        done = os.writev(fd, views)
        while views and done >= len(views[0]):
            done -= len(views.pop(0))
        if done:
            views[0] = views[0][done:]


def _create_segment(directory: str, first_seq: int) -> str:
    """Create an empty log file (header only) atomically; return its path."""
    path = os.path.join(directory, _segment_name(first_seq))
    with atomic_write(path, temp=path + _TEMP_SUFFIX, what="log file") as fh:
        fh.write(_file_header(first_seq))
    return path


def _list_segments(directory: str, *, remove_temps: bool = False) -> list[tuple[int, str]]:
    """``(first seqno, path)`` of every log file in ``directory``, oldest first."""
    found = []
    for name in os.listdir(directory):
        match = _FILE_NAME.fullmatch(name.removesuffix(_TEMP_SUFFIX))
        if match is None:
            continue
        path = os.path.join(directory, name)
        if name.endswith(_TEMP_SUFFIX):  # a creation that did not finish
            if remove_temps:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            continue
        if int(match[1]) == 0:
            raise WalCorruptError(f"{path}: seqno 0 in the file name (seqnos start at 1)")
        found.append((int(match[1]), path))
    return sorted(found)


def _lock_directory(directory: str) -> int:
    path = os.path.join(directory, _LOCK_NAME)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise WalLockedError(f"{directory}: the write-ahead log is already open for writing "
                             f"(lock {path} is held)") from None
    except BaseException:
        os.close(fd)
        raise
    return fd
