"""``hamsearch.open``: an index directory with a write-ahead log.

``index = hamsearch.open(directory, nbits=64, wal=True)`` opens (or creates)
an index directory (:mod:`hamsearch.directory`) and its write-ahead log in
``directory/wal`` (:mod:`hamsearch.wal`).  The log's records after the
manifest's ``wal_seq`` -- the mutations acknowledged since the last save --
are replayed, in order, with the index's own methods; from then on every
:meth:`~hamsearch.Index.add`, :meth:`~hamsearch.Index.remove`,
:meth:`~hamsearch.Index.upsert` and :meth:`~hamsearch.Index.reset` is
appended to the log (after its validation, before it is applied) before the
call returns.  ``index.save(directory)`` writes the changed segments and the
manifest, then checkpoints the log (its older files are deleted).

Durability (``fsync=``), what survives once a call has returned:

* ``"always"``: the record is fsynced first -- survives a crash of the
  process and of the machine (power loss);
* ``"interval"``: fsynced by a background thread at most
  ``fsync_interval`` seconds later -- survives the process being killed;
  a machine crash loses at most that window;
* ``"never"``: the operating system writes it when it likes -- survives the
  process being killed, not a machine crash.

A record torn by a crash in the middle of its write (it was never
acknowledged) fails its checksum and is dropped on open, never half-applied.
"""

from __future__ import annotations

import os
from typing import Any, Literal, Union

from .directory import load_directory, read_manifest, save_directory
from .index import Index
from .results import Method
from .storage import IndexFileError, loads_sections, read_sections
from .wal import WriteAheadLog

__all__ = ["load", "loads", "open_index", "WAL_DIR"]

WAL_DIR = "wal"

PathLike = Union[str, "os.PathLike[str]"]


def load(path: PathLike, mmap: bool = False,
         verify: Union[bool, Literal["background"], None] = None) -> Index:
    """Load an index saved with :meth:`Index.save`.

    Parameters
    ----------
    path : str or os.PathLike
        The index file (a regular file: FIFOs and devices are refused before
        anything is read), or an index directory (:mod:`hamsearch.directory`).
    mmap : bool, default False
        Map the file instead of reading it: opening is near-instant whatever
        the size, pages are read on demand and shared between processes.  The
        mapped arrays are read-only; the first :meth:`Index.add` or
        :meth:`Index.remove` copies them to memory.  A mapped file must be
        replaced (as :meth:`Index.save` does), never truncated or rewritten
        in place: that makes the next search fail with SIGBUS.
    verify : {True, False, "background"}, optional
        The data check (every section's CRC-32, zero padding bits, finite
        features).  Default: ``True`` without ``mmap`` (checked before
        ``load`` returns), ``"background"`` with it: a daemon thread checks
        the file while the index is already usable; if it finds corruption,
        every later call of the index raises :class:`IndexFileError`
        (:meth:`Index.verify` waits for the verdict).  ``False`` skips it
        (:meth:`Index.verify` runs it later).  The header, the section table
        and the ids are always checked, whatever ``verify`` says, so no file
        can crash a search.

    Returns
    -------
    Index

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    IndexFileError
        (a ``ValueError``) the file is not a hamsearch index, is truncated,
        corrupted, crafted, or of an unsupported version; the message names
        the file and the fault.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        return load_directory(path, mmap=mmap, verify=verify)
    meta, arrays, check = read_sections(path, mmap, verify)
    return _from_file(meta, arrays, check, path)


def _from_file(meta, arrays, check, source: str) -> Index:
    try:
        return Index.from_sections(meta, arrays, check)
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise IndexFileError(f"{source}: inconsistent index contents ({exc})") from exc


def loads(data: bytes) -> Index:
    """An index from the bytes of an index file (as pickling makes them)."""
    meta, arrays = loads_sections(data)
    return _from_file(meta, arrays, None, "<bytes>")




def _apply(index: Index, op: str, arrays: dict) -> None:
    if op == "add":
        index.add(arrays["codes"], ids=arrays["ids"], features=arrays.get("features"))
    elif op == "upsert":
        index.upsert(arrays["codes"], arrays["ids"], features=arrays.get("features"))
    elif op == "remove":
        index.remove(arrays["ids"])
    elif op == "reset":
        index.reset()
    else:
        raise ValueError(f"write-ahead log record of unknown op {op!r}")


def open_index(directory: PathLike, nbits: int | None = None, *, method: Method = "auto",
               wal: bool = True, fsync: Literal["always", "interval", "never"] = "always",
               fsync_interval: float = 1.0, mmap: bool = False,
               verify: Union[bool, Literal["background"], None] = None,
               **options: Any) -> Index:
    """Open or create an index directory, replaying its write-ahead log.

    Parameters
    ----------
    directory : str or os.PathLike
        The index directory (created if missing).
    nbits : int, optional
        Code length: required for a new index; checked against an existing one.
    method : {"auto", "flat", "mih"}
        For a new index.
    wal : bool, default True
        Log every mutation (see the module docstring); ``False`` just loads.
    fsync : {"always", "interval", "never"}
        The log's durability policy.
    fsync_interval : float
        Seconds between syncs for ``"interval"``.
    mmap, verify
        How the segment files are read (see :func:`hamsearch.load`).
    **options
        ``segment_rows``, ``background_merges``, ``m``, ``features_dtype``
        for a new index.

    Returns
    -------
    Index
    """
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    if read_manifest(directory) is not None:
        index = load_directory(directory, mmap=mmap, verify=verify)
        if nbits is not None and index.nbits != nbits:
            raise ValueError(f"{directory} holds {index.nbits}-bit codes, not {nbits}-bit")
    else:
        if nbits is None:
            raise ValueError(f"{directory} holds no index yet: give nbits= to create one")
        index = Index(nbits, method=method, **options)
        save_directory(index, directory)  # the directory says what it holds from now on
    if not wal:
        return index
    log = WriteAheadLog.open(os.path.join(directory, WAL_DIR), fsync=fsync,
                             fsync_interval=fsync_interval)
    try:
        seq = index.stats()["wal_seq"]
        for seq, op, arrays in log.replay(after_seq=seq):
            _apply(index, op, arrays)
        index.attach_log(log, directory, seq)
    except BaseException:
        log.close()
        raise
    return index
