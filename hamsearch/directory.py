"""The directory format: a manifest naming segment and tombstone files.

Layout of an index directory::

    DIR/manifest.json           the current state (replaced atomically)
    DIR/<segment>.hsx           one sealed segment: an index file
                                (:mod:`hamsearch.storage`) of its rows
    DIR/<segment>.<ndead>.del   that segment's tombstones with ndead rows deleted
    DIR/<segment>.mih           that segment's multi-index tables, if saved
                                (:func:`hamsearch.mih.save_tables`)
    DIR/wal/                    the write-ahead log (:mod:`hamsearch.wal`), if any

``manifest.json`` is UTF-8 JSON: ``{"format": "hamsearch-dir", "version": 1,
"generation": g, "meta": {index metadata}, "wal_seq": s, "segments": [{"name",
"rows", "deleted", "file", "deleted_file"[, "tables_file"]}...], "crc32": c}``
where ``c`` is the CRC-32 of the same JSON without the ``crc32`` field (keys
sorted).

Tables: a sealed segment of at least :data:`TABLES_MIN_ROWS` rows whose
multi-index tables are built gets them saved too (``tables_file``), so a
large index re-opened with ``mmap=True`` maps its tables instead of
rebuilding them (a counting sort of every code per table) at its first MIH
search; smaller segments rebuild, which is cheaper than reading them.

Segment files never change once written: a segment's name is unique (it
carries a random per-process prefix), so a file that exists under that name
holds exactly that segment.  A segment's deleted rows only ever grow, so the
number deleted names a tombstone version.  :func:`save_directory` therefore
writes only what the directory lacks -- the segments sealed and the
tombstone versions made since the last save -- then the new manifest (temp
file, fsync, rename, directory fsync), and only after that removes the files
the new manifest no longer names.  A crash at any point leaves the previous
manifest and every file it names intact.

Tombstone files: ``b"HSDEL\\0\\0\\0"``, ``<u8 rows``, ``<u8 ndead``, ``<u4
crc32`` of the bitmap, ``<u4`` 0, then ``ceil(rows / 64)`` ``<u8`` bitmap words.
"""

from __future__ import annotations

import functools
import json
import os
import re
import struct
import zlib

import numpy as np

from . import rowbits
from ._atomic import TEMP_SUFFIX, atomic_write
from .segment import Segment, SegmentView
from .storage import IndexFileError, FileCheck, read_sections, save_sections

__all__ = ["save_directory", "load_directory", "MANIFEST", "DirectoryCheck"]

MANIFEST = "manifest.json"
FORMAT = "hamsearch-dir"
VERSION = 1
_DEL_MAGIC = b"HSDEL\x00\x00\x00"
_DEL_HEAD = struct.Struct("<8sQQII")
_MAX_MANIFEST = 64 << 20
#: Sealed segments of at least this many rows save their built tables.
TABLES_MIN_ROWS = 1 << 22
#: The files a save may remove: segment and tombstone files (and their temporaries).
_SEGMENT_FILE = re.compile(r"seg-[0-9a-f]+-\d+(\.hsx|\.mih|\.\d+\.del)(\.\d+\.hamsearch-tmp)?"
                           r"|\.seg-[0-9a-f]+-\d+\.(hsx|mih)\..*\.hamsearch-tmp"
                           r"|manifest\.json\.\d+\.hamsearch-tmp")


def _write_atomic(path: str, data: bytes) -> None:
    with atomic_write(path, temp=f"{path}.{os.getpid()}{TEMP_SUFFIX}", what="index") as fh:
        fh.write(data)


def _segment_meta(index_meta: dict, seg: Segment) -> tuple[dict, dict]:
    meta = dict(index_meta)
    meta["ntotal"] = seg.n
    meta["next_id"] = seg.max_id() + 1 if seg.n else 0
    arrays = {"codes": seg.codes}
    if seg.is_range:
        meta["id_base"] = seg.id_base
        arrays["ids"] = np.zeros(0, np.int64)
    else:
        arrays["ids"] = seg.ids
    if seg.features is not None:
        arrays["features"] = seg.features
    return meta, arrays


def _write_tombstones(path: str, dead: np.ndarray, rows: int, ndead: int) -> None:
    words = np.ascontiguousarray(dead, dtype="<u8")
    crc = zlib.crc32(memoryview(words).cast("B")) & 0xFFFFFFFF if words.size else 0
    _write_atomic(path, _DEL_HEAD.pack(_DEL_MAGIC, rows, ndead, crc, 0) + words.tobytes())


def _read_tombstones(path: str, rows: int, ndead: int) -> np.ndarray:
    try:
        with open(path, "rb") as fh:
            data = fh.read(_DEL_HEAD.size + 8 * rowbits.words_for(rows) + 1)
    except FileNotFoundError:
        raise IndexFileError(f"{path}: tombstone file named by the manifest is missing") from None
    if len(data) < _DEL_HEAD.size:
        raise IndexFileError(f"{path}: truncated tombstone file")
    magic, f_rows, f_ndead, crc, zero = _DEL_HEAD.unpack_from(data)
    if magic != _DEL_MAGIC or zero != 0:
        raise IndexFileError(f"{path}: not a hamsearch tombstone file")
    if (f_rows, f_ndead) != (rows, ndead):
        raise IndexFileError(f"{path}: holds {f_ndead} of {f_rows} rows deleted, the manifest "
                             f"says {ndead} of {rows}")
    body = data[_DEL_HEAD.size:]
    if len(body) != 8 * rowbits.words_for(rows):
        raise IndexFileError(f"{path}: tombstone bitmap has {len(body)} bytes, expected "
                             f"{8 * rowbits.words_for(rows)}")
    if (zlib.crc32(body) & 0xFFFFFFFF) != crc:
        raise IndexFileError(f"{path}: tombstone bitmap checksum mismatch")
    dead = np.frombuffer(bytearray(body), dtype="<u8").astype(np.uint64)
    mask = rowbits.to_mask(dead, rows)
    if int(mask.sum()) != ndead or (rows % 64 and dead.size and
                                    int(dead[-1]) >> (rows % 64)):
        raise IndexFileError(f"{path}: tombstone bitmap does not hold {ndead} deleted rows")
    return dead


def _manifest_crc(doc: dict) -> int:
    body = {k: v for k, v in doc.items() if k != "crc32"}
    return zlib.crc32(json.dumps(body, sort_keys=True).encode("utf-8")) & 0xFFFFFFFF


def read_manifest(directory: str) -> dict | None:
    """The checked manifest of ``directory``, or None if it has none."""
    path = os.path.join(directory, MANIFEST)
    try:
        with open(path, "rb") as fh:
            data = fh.read(_MAX_MANIFEST + 1)
    except FileNotFoundError:
        return None
    if len(data) > _MAX_MANIFEST:
        raise IndexFileError(f"{path}: manifest larger than {_MAX_MANIFEST} bytes")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise IndexFileError(f"{path}: not a hamsearch manifest ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise IndexFileError(f"{path}: not a hamsearch manifest")
    if doc.get("version") != VERSION:
        raise IndexFileError(f"{path}: unsupported manifest version {doc.get('version')!r}")
    if doc.get("crc32") != _manifest_crc(doc):
        raise IndexFileError(f"{path}: manifest checksum mismatch (corrupted)")
    segs = doc.get("segments")
    if not isinstance(segs, list) or not isinstance(doc.get("meta"), dict):
        raise IndexFileError(f"{path}: manifest has no segment list or metadata")
    for s in segs:
        if not (isinstance(s, dict) and isinstance(s.get("file"), str)
                and isinstance(s.get("rows"), int) and isinstance(s.get("deleted"), int)
                and 0 <= s["deleted"] <= s["rows"]
                and os.path.basename(s["file"]) == s["file"]
                and all(s.get(key) is None
                        or (isinstance(s[key], str) and os.path.basename(s[key]) == s[key])
                        for key in ("deleted_file", "tables_file"))):
            raise IndexFileError(f"{path}: bad segment entry {str(s)[:200]}")
    if not isinstance(doc.get("wal_seq"), int) or doc["wal_seq"] < 0:
        raise IndexFileError(f"{path}: bad wal_seq")
    return doc


def save_directory(index, directory, wal_seq=None) -> dict:
    """Save ``index`` to ``directory`` incrementally (see the module docstring).

    The growing segment is sealed first (``index.flush()``), then one
    snapshot is written.  ``wal_seq``: the position in the directory's own
    write-ahead log the saved state includes (default: the snapshot's, right
    when the index logs to this directory).  Returns what was written:
    ``{"segments_written", "tombstones_written", "bytes_written", "files_removed"}``.
    """
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    prev = read_manifest(directory)
    if prev is None and any(n != "wal" for n in os.listdir(directory)):
        raise IsADirectoryError(
            f"cannot save an index directory to {directory!r}: it is not empty and holds no "
            f"{MANIFEST} (an index directory is created empty; to write one file, give a "
            "file path)")
    index.flush()
    snap = index._view()
    meta, _ = index.sections(snap, arrays=False)
    entries, written, tombs, nbytes = [], 0, 0, 0
    for view in snap.views:
        seg = view.seg
        fname = f"{seg.name}.hsx"
        path = os.path.join(directory, fname)
        if not os.path.exists(path):
            smeta, sarrays = _segment_meta(meta, seg)
            save_sections(path, smeta, sarrays)
            written += 1
            nbytes += os.path.getsize(path)
        dname = None
        if view.ndead:
            dname = f"{seg.name}.{view.ndead}.del"
            dpath = os.path.join(directory, dname)
            if not os.path.exists(dpath):
                _write_tombstones(dpath, view.dead, seg.n, view.ndead)
                tombs += 1
                nbytes += os.path.getsize(dpath)
        entry = {"name": seg.name, "rows": seg.n, "deleted": view.ndead,
                 "file": fname, "deleted_file": dname}
        st = seg.mih
        if seg.n >= TABLES_MIN_ROWS and st is not None and st.n == st.n_main == seg.n:
            from .mih import save_tables

            entry["tables_file"] = f"{seg.name}.mih"
            tpath = os.path.join(directory, entry["tables_file"])
            if not os.path.exists(tpath):
                save_tables(tpath, st, meta["nbits"])
                nbytes += os.path.getsize(tpath)
        entries.append(entry)
    doc = {"format": FORMAT, "version": VERSION,
           "generation": (prev["generation"] + 1) if prev else 1,
           "meta": meta, "wal_seq": snap.wal_seq if wal_seq is None else int(wal_seq),
           "segments": entries}
    doc["crc32"] = _manifest_crc(doc)
    blob = json.dumps(doc, sort_keys=True, indent=1).encode("utf-8")
    # every file above was fsynced with its directory before the manifest names it
    _write_atomic(os.path.join(directory, MANIFEST), blob)
    nbytes += len(blob)
    keep = {MANIFEST} | {e["file"] for e in entries} | {e["deleted_file"] for e in entries} \
        | {e.get("tables_file") for e in entries}
    removed = 0
    for name in os.listdir(directory):
        if name in keep or not _SEGMENT_FILE.fullmatch(name):
            continue
        try:
            os.unlink(os.path.join(directory, name))
            removed += 1
        except OSError:
            pass
    return {"segments_written": written, "tombstones_written": tombs,
            "bytes_written": nbytes, "files_removed": removed, "wal_seq": doc["wal_seq"]}


def check_unique_ids(views, source: str) -> None:
    """Raise :class:`IndexFileError` if two segments hold the same live id.

    Segments whose id ranges do not overlap are never read (sequential ids
    cost nothing); the ids of overlapping ones are sorted together.
    """
    spans = sorted((v.seg.min_id(), v.seg.max_id(), i) for i, v in enumerate(views) if v.live)
    suspects, cluster, reach = [], [], -1
    for lo, hi, i in spans:  # clusters of segments with overlapping id ranges
        if cluster and lo > reach:
            if len(cluster) > 1:
                suspects += cluster
            cluster = []
        reach = hi if not cluster else max(reach, hi)
        cluster.append(i)
    if len(cluster) > 1:
        suspects += cluster
    if not suspects:
        return
    ids = np.concatenate([views[i].live_rows(views[i].ids) for i in sorted(suspects)])
    srt = np.sort(ids)
    dup = srt[1:] == srt[:-1]
    if dup.any():
        raise IndexFileError(f"{source}: id {int(srt[1:][dup][0])} is stored live in two "
                             "segments")


class DirectoryCheck:
    """The data checks of a directory's segment files, as one
    :class:`hamsearch.storage.FileCheck`-like object."""

    def __init__(self, checks):
        self.checks = [c for c in checks if c is not None]

    @property
    def done(self) -> bool:
        return all(c.done for c in self.checks)

    def raise_if_failed(self) -> None:
        for c in self.checks:
            c.raise_if_failed()

    def wait(self, timeout: float | None = None) -> None:
        for c in self.checks:
            c.wait(timeout)


def load_directory(directory, mmap: bool = False, verify=None, **options):
    """Load an index directory written by :func:`save_directory`.

    ``mmap=True`` maps the segment files (see :func:`hamsearch.load`);
    ``verify`` as there, applied to every segment file.  Returns the index
    and sets ``index.loaded_wal_seq`` to the manifest's log position.
    """
    from .index import Index

    directory = os.fspath(directory)
    doc = read_manifest(directory)
    if doc is None:
        raise IndexFileError(f"{directory}: is a directory without {MANIFEST}, not a hamsearch "
                             "index directory")
    from .storage import _Checker, _check_meta

    meta = _check_meta(doc["meta"], _Checker(os.path.join(directory, MANIFEST)))
    meta.update(options)
    views, checks = [], []
    features_d = meta.get("features_d")
    for entry in doc["segments"]:
        path = os.path.join(directory, entry["file"])
        try:
            smeta, arrays, check = read_sections(path, mmap, verify)
        except FileNotFoundError:
            raise IndexFileError(f"{path}: segment file named by the manifest is missing") \
                from None
        if smeta["ntotal"] != entry["rows"] or smeta["nbits"] != meta["nbits"]:
            raise IndexFileError(f"{path}: holds {smeta['ntotal']} rows of {smeta['nbits']} "
                                 f"bits, the manifest says {entry['rows']} of {meta['nbits']}")
        if smeta.get("features_enabled") and smeta.get("features_d") != features_d:
            raise IndexFileError(f"{path}: features of dimension {smeta.get('features_d')}, "
                                 f"the manifest says {features_d}")
        checks.append(check)
        n = smeta["ntotal"]
        feats = arrays.get("features")
        if "id_base" in smeta:
            seg = Segment(arrays["codes"], None, feats, smeta["id_base"], name=entry["name"])
        else:
            seg = Segment.from_rows(arrays["codes"], arrays["ids"], feats, name=entry["name"])
        seg.file = path
        if entry.get("tables_file"):
            from .mih import read_tables

            tpath = os.path.join(directory, entry["tables_file"])
            try:
                seg.mih, tcheck = read_tables(tpath, seg.codes, meta["nbits"], mmap, verify)
            except FileNotFoundError:
                raise IndexFileError(f"{tpath}: table file named by the manifest is "
                                     "missing") from None
            checks.append(tcheck)
        dead = None
        if entry["deleted"]:
            if not entry["deleted_file"]:
                raise IndexFileError(f"{directory}: segment {entry['name']} has deleted rows "
                                     "but no tombstone file")
            dead = _read_tombstones(os.path.join(directory, entry["deleted_file"]), n,
                                    entry["deleted"])
        views.append(SegmentView(seg, dead, entry["deleted"]))
    if verify is None:
        verify = "background" if mmap else True
    if verify is True:  # every segment's data was checked by read_sections
        check_unique_ids(views, directory)
    else:
        ids_check = FileCheck(functools.partial(check_unique_ids, views, directory), directory)
        if verify == "background":
            ids_check.start()
        checks.append(ids_check)
    check = DirectoryCheck(checks)
    try:
        return Index.from_views(meta, views, doc["wal_seq"], check if check.checks else None)
    except (KeyError, ValueError, TypeError) as exc:
        raise IndexFileError(f"{directory}: inconsistent index contents ({exc})") from exc
