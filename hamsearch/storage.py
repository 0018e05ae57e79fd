"""On-disk index format: versioned, checksummed, atomic, memory-mappable.

An index file is a container (:mod:`hamsearch.container`: a preamble, a
JSON header with the index metadata and the section table, 64-byte aligned
sections).  Sections are raw C-order arrays (``codes`` ``<u8 (ntotal,
words)``, ``ids`` ``<i8 (ntotal,)``, optionally ``features``
``<f4``/``<f2 (ntotal, d)``), so :func:`load` with ``mmap=True`` maps them
without reading them.  What the metadata and the sections must be, and the
data check: :mod:`hamsearch.index_meta`.

What loading checks
    *Always*, before any array is built: the magic, the version, the header
    checksum and size, that the header is a JSON object holding exactly the
    fields the format writes, with the types and ranges they can have
    (``nbits`` a multiple of 8, ``ntotal >= 0``, ``0 <= next_id <= 2**63``,
    ``m`` valid for ``nbits`` ...), that every section has the one dtype the
    format writes for it and exactly the shape the metadata implies (rows =
    ``ntotal``, words = ``ceil(nbits / 64)``, the features' dimension), that
    sections are aligned, inside the file and do not overlap, and that the
    file is exactly as long as the header says.  Then the ids: non-negative,
    unique, below ``next_id``.  Anything else is an :class:`IndexFileError`
    naming the file and the fault; no crafted file can make a search read
    outside its arrays.

    *The data* (``verify``): every section's CRC-32, zero padding bits past
    ``nbits`` in the codes, finite features.  :func:`load` checks it before
    returning; ``load(path, mmap=True)`` checks it in a background thread
    (opening stays near-instant) and, if the file is corrupted, the index
    then refuses every call with :class:`IndexFileError`;
    :meth:`hamsearch.Index.verify` waits for the verdict.  Results returned
    before the background check has finished are not guaranteed.
    ``verify=False`` skips the data check (``Index.verify()`` runs it later).

Memory-mapped files must be *replaced*, never rewritten in place: truncating
or overwriting a file under a mapped index makes the next search read
changed pages or die with SIGBUS.  :func:`save_sections` always replaces (it
renames a new file over the old one, and a mapped index keeps the old
file's pages).

Saving: see :func:`save_sections` (temporary file, fsync, rename; file mode and
owner kept; symlinks written through; stale temporary files of killed saves
removed).
"""

from __future__ import annotations

import functools
import io
import mmap as _mmap
import os
import stat
import threading
import time

import numpy as np

from ._atomic import TEMP_SUFFIX, atomic_write
from .container import (FORMAT_VERSION, MAGIC, MAX_HEADER_BYTES, IndexFileError, _ALIGN,
                        _HEADER_KEYS, _PREAMBLE, _SECTION_KEYS, _Checker, _crc32, _is_int,
                        _open_regular, _read_all, _read_header, _write)
from .index_meta import _check_data, _check_ids, _check_meta, _expected_sections

# Names read from this module elsewhere: the format's constants, the
# container helpers hamsearch.mih reads table files with (_Checker,
# _read_header, _open_regular, ...), _check_meta (hamsearch.directory); the
# tests patch _write, which save_sections and dumps_sections look up here.

try:
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - not POSIX
    _fcntl = None

__all__ = ["save_sections", "read_sections", "dumps_sections", "loads_sections",
           "IndexFileError", "FORMAT_VERSION", "TEMP_SUFFIX"]

#: An unlocked temporary file older than this is stale even if its pid lives.
STALE_AFTER_S = 3600.0


# --------------------------------------------------------------------- writing
def _temp_parts(name: str, base: str):
    """``(pid)`` if ``name`` is a temporary file of a save to ``base``, else None."""
    prefix = f".{base}."
    if not (name.startswith(prefix) and name.endswith(TEMP_SUFFIX)):
        return None
    middle = name[len(prefix) : -len(TEMP_SUFFIX)]
    pid, _, token = middle.partition(".")
    if not pid.isdigit() or not token:
        return None
    return int(pid)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def remove_stale_temp_files(path) -> list[str]:
    """Remove the temporary files that killed saves to ``path`` left behind.

    A temporary file (``.<name>.<pid>.<token>.hamsearch-tmp`` beside the
    target) is stale when no process holds its lock (a saving process
    locks its file from creation to rename, and the lock dies with the
    process) and its writer's pid is gone or the file is older than
    ``STALE_AFTER_S``.  :func:`save_sections` calls this on every save.

    Returns
    -------
    list of str
        The paths removed.
    """
    target = os.path.realpath(os.fspath(path))
    directory, base = os.path.split(target)
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        pid = _temp_parts(name, base)
        if pid is None:
            continue
        full = os.path.join(directory, name)
        try:
            fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                continue
            if _fcntl is not None:
                try:
                    _fcntl.flock(fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)
                except OSError:
                    continue  # a live save holds it
            old = time.time() - st.st_mtime > STALE_AFTER_S
            if pid == os.getpid() and not old:
                continue  # ours, in flight in another thread (not yet locked)
            if _pid_alive(pid) and not old:
                continue
            try:
                os.unlink(full)
                removed.append(full)
            except OSError:
                pass
        finally:
            os.close(fd)
    return removed


def save_sections(path, meta: dict, arrays: dict) -> None:
    """Write an index file holding ``meta`` and the named ``arrays`` to ``path`` atomically.

    The rules:

    * The index is written from one snapshot (concurrent adds and removes
      are neither blocked nor half-saved).
    * The file is replaced by :func:`hamsearch._atomic.atomic_write`
      (temporary file ``.<name>.<pid>.<random>.hamsearch-tmp`` beside the
      target, locked while written, fsynced, renamed, directory fsynced; a
      crash at any point leaves the previous file intact; symlinks written
      through; permission bits and owner kept), which also names the errors
      (:class:`FileNotFoundError` when the directory does not exist,
      :class:`IsADirectoryError` when the target is a directory).
    * Temporary files left by killed saves are removed by the next save to
      the same path (see :func:`remove_stale_temp_files`).
    """
    with atomic_write(path, what="index") as fh:
        remove_stale_temp_files(os.path.realpath(os.fspath(path)))
        _write(fh, meta, arrays)


def dumps_sections(meta: dict, arrays: dict) -> bytes:
    """The file :func:`save_sections` would write, as bytes."""
    buf = io.BytesIO()
    _write(buf, meta, arrays)
    return buf.getvalue()


# --------------------------------------------------------------------- reading
def _parse(buf, source: str):
    """Validate the preamble, header and section table of ``buf``.

    Returns ``(meta, arrays, sections)`` where ``sections`` lists
    ``(name, bytes, crc)`` for the data check.  Nothing beyond the header
    and the section table is read.
    """
    ck = _Checker(source)
    size = len(buf)
    header, hlen = _read_header(buf, ck)
    if not isinstance(header, dict):
        ck.fail(f"header must be a JSON object, got {type(header).__name__}")
    if header.keys() != _HEADER_KEYS:
        ck.fail(f"header fields must be {sorted(_HEADER_KEYS)}, got {sorted(header.keys())}")
    if header["format"] != "hamsearch-index":
        ck.fail(f"header format must be 'hamsearch-index', got {header['format']!r}")
    meta = _check_meta(header["meta"], ck)
    file_size = ck.int_in(header["file_size"], "file_size", 0, 1 << 62)
    if size < file_size:
        ck.fail(f"truncated ({size} bytes, the header promises {file_size})")
    if size > file_size:
        ck.fail(f"{size - file_size} bytes past the end the header gives ({file_size})")
    sections = header["sections"]
    if not isinstance(sections, list):
        ck.fail(f"header 'sections' must be a list, got {type(sections).__name__}")
    expected = _expected_sections(meta)
    seen = {}
    for sec in sections:
        if not isinstance(sec, dict) or sec.keys() != _SECTION_KEYS:
            ck.fail(f"bad section entry {str(sec)[:200]} (fields must be {sorted(_SECTION_KEYS)})")
        name = sec["name"]
        if not isinstance(name, str) or name not in expected:
            ck.fail(f"unexpected section {str(name)[:80]!r} (this index has "
                    f"{sorted(expected)})")
        if name in seen:
            ck.fail(f"section {name!r} appears twice")
        want_dtype, want_shape = expected[name]
        if sec["dtype"] != want_dtype:
            ck.fail(f"section {name!r} has dtype {str(sec['dtype'])[:40]!r}, the format "
                    f"writes {want_dtype!r}")
        shape = sec["shape"]
        if not isinstance(shape, list) or not all(_is_int(s) for s in shape) \
                or shape != want_shape:
            ck.fail(f"section {name!r} has shape {str(shape)[:80]}, the metadata implies "
                    f"{want_shape}")
        itemsize = np.dtype(want_dtype).itemsize
        nbytes_want = itemsize
        for s in want_shape:
            nbytes_want *= s
        offset = ck.int_in(sec["offset"], f"section {name!r} offset", 0, size)
        nbytes = ck.int_in(sec["nbytes"], f"section {name!r} nbytes", 0, size)
        crc = ck.int_in(sec["crc32"], f"section {name!r} crc32", 0, 0xFFFFFFFF)
        if nbytes != nbytes_want:
            ck.fail(f"section {name!r} holds {nbytes} bytes, its shape needs {nbytes_want}")
        if offset % _ALIGN or offset < _PREAMBLE.size + hlen or offset + nbytes > size:
            ck.fail(f"section {name!r} at offset {offset} (+{nbytes} bytes) is misplaced "
                    f"(it must be {_ALIGN}-byte aligned, after the header and inside the file)")
        seen[name] = (offset, nbytes, crc, want_dtype, want_shape)
    missing = expected.keys() - seen.keys()
    if missing:
        ck.fail(f"missing sections {sorted(missing)}")
    spans = sorted((off, off + nb, name) for name, (off, nb, *_r) in seen.items())
    for (a0, a1, an), (b0, b1, bn) in zip(spans, spans[1:]):
        if b0 < a1:
            ck.fail(f"sections {an!r} and {bn!r} overlap")
    arrays, checks = {}, []
    for name, (offset, nbytes, crc, dtype, shape) in seen.items():
        data = buf[offset : offset + nbytes]
        if nbytes:
            arrays[name] = np.frombuffer(data, dtype=np.dtype(dtype)).reshape(shape)
        else:
            arrays[name] = np.zeros(shape, np.dtype(dtype))
        checks.append((name, data, crc))
    _check_ids(meta, arrays["ids"], ck)
    return meta, arrays, checks


class FileCheck:
    """A data check of loaded files, run now, later or in the background.

    ``run()`` raises :class:`IndexFileError` when the data is corrupted (any
    other exception is reported as a file error of ``source``); it is
    dropped once it has run, with the references it holds to mapped files.
    Held by the index as ``_filecheck``: every call of the index first asks
    :meth:`raise_if_failed` (one attribute read), so once the check has
    found the file corrupted, the index refuses to answer.
    """

    def __init__(self, run, source: str):
        self._check = run
        self._source = source
        self._error = None
        self._done = threading.Event()
        self._thread = None
        self._run_lock = threading.Lock()

    @property
    def done(self) -> bool:
        """Whether the check has finished."""
        return self._done.is_set()

    def _run(self) -> None:
        with self._run_lock:
            if self._done.is_set():
                return
            try:
                self._check()
            except IndexFileError as exc:
                self._error = str(exc)
            except Exception as exc:  # noqa: BLE001 - reported as a file error
                self._error = f"{self._source}: data check failed ({type(exc).__name__}: {exc})"
            finally:
                self._check = None  # drop the references to the mapped files
                self._done.set()

    def start(self) -> None:
        """Run the check in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="hamsearch-verify",
                                        daemon=True)
        self._thread.start()

    def raise_if_failed(self) -> None:
        """Raise :class:`IndexFileError` if the check found the file corrupted."""
        if self._error is not None:
            raise IndexFileError(self._error + " (found by the data check; the index "
                                               "refuses every call)")

    def wait(self, timeout: float | None = None) -> None:
        """Finish the check (run it here if nobody has) and raise if it failed."""
        if self._thread is None:
            self._run()
        elif not self._done.wait(timeout):
            raise TimeoutError(f"the data check is still running after {timeout} s")
        self.raise_if_failed()


def loads_sections(data: bytes) -> tuple[dict, dict]:
    """``(meta, arrays)`` of :func:`dumps_sections` output (header, ids and
    data all checked; the arrays alias a private copy of ``data``)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise IndexFileError(f"<bytes>: expected bytes, got {type(data).__name__}")
    buf = bytearray(data)  # owned and writable: the arrays alias it
    meta, arrays, checks = _parse(memoryview(buf), "<bytes>")
    _check_data(meta, arrays, checks, "<bytes>")
    return meta, arrays


_VERIFY_CHOICES = (True, False, "background")


def read_sections(path: str, mmap: bool = False, verify=None):
    """Read and check one index file: ``(meta, arrays, check)``.

    ``check`` is None when the data check already ran (``verify=True``),
    else the :class:`FileCheck` to keep (started when ``"background"``).
    Raises as :func:`load`.
    """
    if verify is None:
        verify = "background" if mmap else True
    if verify is not True and verify is not False and verify != "background":
        raise ValueError(f"verify must be True, False or 'background', got {verify!r}")
    fd = _open_regular(path)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            raise IndexFileError(f"{path}: empty file, not a hamsearch index")
        if mmap:
            buf = _mmap.mmap(fd, 0, access=_mmap.ACCESS_READ)
        else:
            buf = _read_all(fd, size)
    finally:
        os.close(fd)
    # Without mmap the arrays alias ``buf`` (writable, owned by the index).
    meta, arrays, checks = _parse(memoryview(buf), path)
    check = FileCheck(functools.partial(_check_data, meta, arrays, checks, path), path)
    if verify is True:
        check.wait()
        return meta, arrays, None
    if verify == "background":
        check.start()
    return meta, arrays, check
