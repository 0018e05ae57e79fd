"""On-disk index format: versioned, checksummed, atomic, memory-mappable.

Layout of an index file (all integers little-endian)::

    offset 0   8 bytes   magic  b"HAMSRCH\\x00"
    offset 8   uint32    format version (currently 1)
    offset 12  uint32    header length H in bytes (at most 1 MiB)
    offset 16  uint32    CRC-32 of the header bytes
    offset 20  uint32    reserved (0; anything else is refused)
    offset 24  H bytes   header: UTF-8 JSON with the index metadata and, per
                         section, its name, dtype, shape, offset, size and CRC-32
    ...        sections, each starting on a 64-byte boundary

Sections are raw C-order arrays (``codes`` ``<u8 (ntotal, words)``, ``ids``
``<i8 (ntotal,)``, optionally ``features`` ``<f4``/``<f2 (ntotal, d)``), so
:func:`load` with ``mmap=True`` maps them without reading them.

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
import json
import mmap as _mmap
import os
import stat
import struct
import threading
import time
import zlib

import numpy as np

from ._atomic import TEMP_SUFFIX, atomic_write, fsync_directory
from .errors import FileFormatError

try:
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - not POSIX
    _fcntl = None

__all__ = ["save_sections", "read_sections", "dumps_sections", "loads_sections",
           "IndexFileError", "FORMAT_VERSION", "TEMP_SUFFIX"]

MAGIC = b"HAMSRCH\x00"
FORMAT_VERSION = 1
_PREAMBLE = struct.Struct("<8sIIII")
_ALIGN = 64
_CHUNK = 1 << 24
#: Largest header :func:`load` accepts (the writer's is a few KiB).
MAX_HEADER_BYTES = 1 << 20
#: An unlocked temporary file older than this is stale even if its pid lives.
STALE_AFTER_S = 3600.0

_HEADER_KEYS = {"format", "meta", "sections", "file_size"}
_SECTION_KEYS = {"name", "dtype", "shape", "offset", "nbytes", "crc32"}
_META_REQUIRED = {"nbits", "ntotal", "next_id"}
_META_KEYS = _META_REQUIRED | {"method", "m", "features_dtype", "features_d",
                               "features_enabled", "segment_rows", "background_merges",
                               "id_base"}
_MAX_ROWS = 1 << 62
_MAX_NEXT_ID = 1 << 63


class IndexFileError(FileFormatError):
    """An index file is truncated, corrupted, crafted or of an unknown version.

    A :class:`~hamsearch.errors.FileFormatError`, so a :class:`ValueError`.
    """


# --------------------------------------------------------------------- writing
def _crc32(buf) -> int:
    view = memoryview(buf).cast("B")
    crc = 0
    for start in range(0, len(view), _CHUNK):
        crc = zlib.crc32(view[start : start + _CHUNK], crc)
    return crc & 0xFFFFFFFF


def _array_bytes(arr: np.ndarray) -> memoryview:
    arr = np.ascontiguousarray(arr)
    return memoryview(arr).cast("B") if arr.size else memoryview(b"")


def _layout(meta: dict, arrays: dict) -> tuple[bytes, list[tuple[int, memoryview]]]:
    sections = []
    payloads = []
    # Offsets depend on the header length, which depends on the offsets: lay
    # out with a generous fixed header reservation, recomputed if too small.
    reserve = 4096
    datas = {name: _array_bytes(arr) for name, arr in arrays.items()}
    crcs = {name: _crc32(data) for name, data in datas.items()}
    while True:
        offset = _PREAMBLE.size + reserve
        sections.clear()
        payloads.clear()
        for name, arr in arrays.items():
            offset = (offset + _ALIGN - 1) // _ALIGN * _ALIGN
            data = datas[name]
            sections.append(
                {
                    "name": name,
                    "dtype": arr.dtype.newbyteorder("<").str,
                    "shape": list(arr.shape),
                    "offset": offset,
                    "nbytes": len(data),
                    "crc32": crcs[name],
                }
            )
            payloads.append((offset, data))
            offset += len(data)
        header = {"format": "hamsearch-index", "meta": meta, "sections": sections,
                  "file_size": offset}
        blob = json.dumps(header, sort_keys=True).encode("utf-8")
        if len(blob) <= reserve:
            blob = blob + b" " * (reserve - len(blob))
            return blob, payloads
        reserve = (len(blob) + 4095) // 4096 * 4096


def _write(fh, meta: dict, arrays: dict) -> None:
    header, payloads = _layout(meta, arrays)
    fh.write(_PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(header), _crc32(header), 0))
    fh.write(header)
    pos = _PREAMBLE.size + len(header)
    for offset, data in payloads:
        if offset > pos:
            fh.write(b"\x00" * (offset - pos))
        for start in range(0, len(data), _CHUNK):
            fh.write(data[start : start + _CHUNK])
        pos = offset + len(data)


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
def _no_duplicate_keys(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constants(name):
    raise ValueError(f"{name} is not allowed")


def _is_int(v) -> bool:
    return type(v) is int


class _Checker:
    """Raises :class:`IndexFileError` with the source's name."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, what: str):
        raise IndexFileError(f"{self.source}: {what}")

    def int_in(self, value, name: str, lo: int, hi: int) -> int:
        if not _is_int(value) or not lo <= value <= hi:
            self.fail(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
        return value


def _read_header(buf, ck: _Checker):
    size = len(buf)
    if size < _PREAMBLE.size:
        ck.fail(f"too short to be a hamsearch index ({size} bytes)")
    magic, version, hlen, hcrc, reserved = _PREAMBLE.unpack_from(buf, 0)
    if magic != MAGIC:
        ck.fail(f"not a hamsearch index file (bad magic {bytes(magic)!r})")
    if version != FORMAT_VERSION:
        ck.fail(f"index format version {version} is not supported "
                f"(this hamsearch reads version {FORMAT_VERSION})")
    if reserved != 0:
        ck.fail(f"reserved preamble field is {reserved}, not 0")
    if hlen > MAX_HEADER_BYTES:
        ck.fail(f"header length {hlen} exceeds the {MAX_HEADER_BYTES}-byte limit")
    if _PREAMBLE.size + hlen > size:
        ck.fail("truncated (header runs past the end of the file)")
    header_bytes = bytes(buf[_PREAMBLE.size : _PREAMBLE.size + hlen])
    if _crc32(header_bytes) != hcrc:
        ck.fail("corrupted header (checksum mismatch)")
    try:
        header = json.loads(header_bytes.decode("utf-8"), object_pairs_hook=_no_duplicate_keys,
                            parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        ck.fail(f"unreadable header ({type(exc).__name__}: {str(exc)[:200]})")
    return header, hlen


def _check_meta(meta, ck: _Checker) -> dict:
    from .codes import check_nbits
    from .features import FEATURE_DTYPES
    from .index import METHODS
    from .mih import _check_m

    if not isinstance(meta, dict):
        ck.fail(f"header 'meta' must be an object, got {type(meta).__name__}")
    missing = _META_REQUIRED - meta.keys()
    if missing:
        ck.fail(f"header 'meta' lacks {sorted(missing)}")
    unknown = meta.keys() - _META_KEYS
    if unknown:
        ck.fail(f"header 'meta' has unknown fields {sorted(unknown)}")
    if not _is_int(meta["nbits"]):
        ck.fail(f"nbits must be an integer, got {meta['nbits']!r}")
    try:
        nbits = check_nbits(meta["nbits"])
    except ValueError as exc:
        ck.fail(str(exc))
    ntotal = ck.int_in(meta["ntotal"], "ntotal", 0, _MAX_ROWS)
    next_id = ck.int_in(meta["next_id"], "next_id", 0, _MAX_NEXT_ID)
    method = meta.get("method", "auto")
    if not isinstance(method, str) or method not in METHODS:
        ck.fail(f"method must be one of {METHODS}, got {method!r}")
    m = meta.get("m")
    if m is not None:
        if not _is_int(m):
            ck.fail(f"m must be an integer or null, got {m!r}")
        try:
            _check_m(nbits, m)
        except ValueError as exc:
            ck.fail(str(exc))
    fdtype = meta.get("features_dtype", "float32")
    if not isinstance(fdtype, str) or fdtype not in FEATURE_DTYPES:
        ck.fail(f"features_dtype must be one of {FEATURE_DTYPES}, got {fdtype!r}")
    fd = meta.get("features_d")
    if fd is not None:
        ck.int_in(fd, "features_d", 1, 1 << 31)
    enabled = meta.get("features_enabled")
    if enabled not in (None, True, False) or not (enabled is None or isinstance(enabled, bool)):
        ck.fail(f"features_enabled must be true, false or null, got {enabled!r}")
    if ntotal and enabled is None:
        ck.fail("features_enabled is null although the index holds codes")
    if enabled and fd is None:
        ck.fail("features_enabled is true but features_d is null")
    out = {"nbits": nbits, "ntotal": ntotal, "next_id": next_id, "method": method, "m": m,
           "features_dtype": fdtype, "features_d": fd, "features_enabled": enabled}
    if "segment_rows" in meta:
        out["segment_rows"] = ck.int_in(meta["segment_rows"], "segment_rows", 1, 1 << 62)
    if "id_base" in meta:  # ids id_base .. id_base + ntotal - 1, no ids section rows
        out["id_base"] = ck.int_in(meta["id_base"], "id_base", 0, _MAX_NEXT_ID - 1)
        if out["id_base"] + ntotal > next_id:
            ck.fail(f"next_id {next_id} is not above the largest id "
                    f"{out['id_base'] + ntotal - 1} (id_base + ntotal - 1)")
    if "background_merges" in meta:
        if not isinstance(meta["background_merges"], bool):
            ck.fail(f"background_merges must be true or false, got {meta['background_merges']!r}")
        out["background_merges"] = meta["background_merges"]
    return out


def _expected_sections(meta: dict) -> dict:
    from .codes import n_words

    n = meta["ntotal"]
    out = {"codes": ("<u8", [n, n_words(meta["nbits"])]),
           "ids": ("<i8", [0 if "id_base" in meta else n])}
    if meta["features_enabled"]:
        ftype = np.dtype(meta["features_dtype"]).newbyteorder("<").str
        out["features"] = (ftype, [n, meta["features_d"]])
    return out


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


def _check_ids(meta: dict, ids: np.ndarray, ck: _Checker) -> None:
    """Ids non-negative, unique and below ``next_id`` (reads the ids)."""
    n = ids.shape[0]
    if n == 0:
        return
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0:
        ck.fail(f"ids section holds a negative id ({lo})")
    if hi >= meta["next_id"]:
        ck.fail(f"next_id {meta['next_id']} is not above the largest id {hi}")
    if n > 1 and not (np.diff(ids) > 0).all():
        srt = np.sort(ids)
        dup = srt[1:] == srt[:-1]
        if dup.any():
            ck.fail(f"ids section holds duplicate ids, e.g. {int(srt[1:][dup][0])}")


def _check_data(meta: dict, arrays: dict, checks, source: str) -> None:
    """The data check: section CRC-32s, zero padding bits, finite features."""
    ck = _Checker(source)
    for name, data, crc in checks:
        if _crc32(data) != crc:
            ck.fail(f"section {name!r} is corrupted (checksum mismatch)")
    nbits = meta["nbits"]
    rem = nbits % 64
    codes = arrays["codes"]
    step = 1 << 20
    if rem and codes.shape[0]:
        shift = np.uint64(rem)
        for s in range(0, codes.shape[0], step):
            if (codes[s : s + step, -1] >> shift).any():
                ck.fail(f"codes have bits set past nbits={nbits} (a crafted or mislabelled "
                        f"file: the padding of the last word must be zero)")
    feats = arrays.get("features")
    if feats is not None and feats.size:
        rows = max(1, (1 << 24) // max(1, feats.shape[1]))
        for s in range(0, feats.shape[0], rows):
            if not np.isfinite(feats[s : s + rows]).all():
                ck.fail("features section holds NaN or infinite values")


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


def _open_regular(path: str) -> int:
    """Open ``path`` read-only, refusing anything but a regular file (without
    blocking on a FIFO)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise FileNotFoundError(f"no index file at {path!r}") from None
    except IsADirectoryError:
        raise IndexFileError(f"{path}: is a directory, not a hamsearch index file") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        kind = ("a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise IndexFileError(f"{path}: is {kind}, not a hamsearch index file")
    return fd


def _read_all(fd: int, size: int) -> bytearray:
    data = bytearray(size)
    view = memoryview(data)
    got = 0
    while got < size:
        chunk = os.read(fd, min(size - got, _CHUNK * 4))
        if not chunk:
            break
        view[got : got + len(chunk)] = chunk
        got += len(chunk)
    return data if got == size else data[:got]


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
