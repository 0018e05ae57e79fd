"""Atomic file replacement: the one way hamsearch (and bench/) writes a file.

:func:`atomic_write` writes to a temporary file beside the target, fsyncs
it, renames it over the target and fsyncs the directory: a crash at any point
leaves either the previous file or the new one, never a mix, and once the
``with`` block has returned the new file survives a power loss.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import secrets
import stat
import threading
from typing import IO, Iterator, Optional, Union

try:
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - not POSIX
    _fcntl = None  # type: ignore[assignment]

__all__ = ["atomic_write", "fsync_directory", "TEMP_SUFFIX"]

#: Every temporary file hamsearch writes ends with this suffix.
TEMP_SUFFIX = ".hamsearch-tmp"

PathLike = Union[str, "os.PathLike[str]"]

_umask_lock = threading.Lock()


def _umask() -> int:
    """The process umask, read without changing it where the OS allows."""
    try:
        with open("/proc/self/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _umask_lock:  # pragma: no cover - no /proc
        old = os.umask(0o022)
        os.umask(old)
        return old


def fsync_directory(directory: PathLike) -> None:
    """Make the names created, renamed or removed in ``directory`` durable.

    Raises
    ------
    OSError
        The directory's fsync failed (not where the platform or the file
        system cannot fsync a directory at all: then this does nothing).
    """
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        dfd = os.open(directory, flags)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(dfd)
    except OSError as exc:  # pragma: no cover - file systems without directory fsync
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(dfd)


@contextlib.contextmanager
def atomic_write(path: PathLike, mode: str = "wb", *, encoding: Optional[str] = None,
                 temp: Optional[PathLike] = None, what: str = "file") -> Iterator[IO]:
    """Replace ``path`` atomically with what the ``with`` block writes.

    The rules:

    * The bytes go to a temporary file beside the target (by default
      ``.<name>.<pid>.<random>.hamsearch-tmp``, created exclusively), locked
      (``flock``) while written; on leaving the block it is flushed and
      fsynced, renamed over the target, and the directory is fsynced.  An
      exception in the block removes the temporary file and leaves the target
      as it was.
    * A symlink is written through: the file it points to is replaced, the
      link stays.
    * An existing file keeps its permission bits (and owner, where allowed);
      a new file gets ``0o666`` less the umask, as ``open()`` would.

    Parameters
    ----------
    path : str or os.PathLike
        The file to replace (or create).
    mode : {"wb", "w"}, default "wb"
        Binary or text.
    encoding : str, optional
        Text encoding for ``mode="w"`` (default UTF-8).
    temp : str or os.PathLike, optional
        The temporary file's path instead of the random name (for formats
        whose readers recognise and clean up their own temporaries); it is
        truncated if it exists.
    what : str, default "file"
        What is saved, for the error messages.

    Yields
    ------
    file object
        Write to it; do not close it.

    Raises
    ------
    FileNotFoundError
        The target's directory does not exist.
    IsADirectoryError
        The target is a directory.

    Examples
    --------
    >>> import os, tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "notes.txt")
    >>> with atomic_write(target, "w") as fh:
    ...     _ = fh.write("all or nothing")
    >>> open(target).read()
    'all or nothing'
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    target = os.path.realpath(os.fspath(path))
    directory, base = os.path.split(target)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot save {what} to {os.fspath(path)!r}: directory "
                                f"{directory!r} does not exist")
    try:
        st: Optional[os.stat_result] = os.stat(target)
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(f"cannot save {what} to {target!r}: it is a directory")
    perm = stat.S_IMODE(st.st_mode) if st is not None else 0o666 & ~_umask()
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    if temp is None:
        tmp = os.path.join(directory, f".{base}.{os.getpid()}.{secrets.token_hex(6)}{TEMP_SUFFIX}")
        flags |= os.O_EXCL
    else:
        tmp = os.fspath(temp)
        flags |= os.O_TRUNC
    fd = os.open(tmp, flags, 0o600)
    try:
        if _fcntl is not None:
            _fcntl.flock(fd, _fcntl.LOCK_EX)
        raw = os.fdopen(fd, "wb", closefd=False)
        fh: IO = raw if mode == "wb" else io.TextIOWrapper(raw, encoding=encoding or "utf-8")
        try:
            yield fh
            fh.flush()
        finally:
            if fh is not raw:
                fh.detach()  # type: ignore[attr-defined]
            raw.close()  # closefd=False: the descriptor stays open
        os.fsync(fd)
        os.fchmod(fd, perm)
        if st is not None and (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
            try:
                os.fchown(fd, st.st_uid, st.st_gid)
            except OSError:
                pass
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    finally:
        os.close(fd)
    fsync_directory(directory)
