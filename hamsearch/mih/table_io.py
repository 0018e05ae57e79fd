"""Table files: a sealed segment's multi-index tables saved beside its rows.

:func:`save_tables` writes them as an :mod:`hamsearch.storage` container
(``<segment>.mih`` in a directory save); :func:`read_tables` checks every
header field, section and bucket range before the kernels may read them,
and maps them with ``mmap=True``.  The sections are the arrays of
``csrc/mih.h``; files written before sparse tables existed (no ``sfx``
section) still load.
"""

from __future__ import annotations

import numpy as np

from . import build as _build
from .build import SEGMENT_FIELDS, _empty_segment
from .layout import KIND_DENSE, KIND_SPARSE, SUFFIX_BITS, _check_m, substring_layout
from .tables import _State

#: ``meta["format"]`` of a table file (an :mod:`hamsearch.storage` container).
TABLES_FORMAT = "hamsearch-mih-tables"
_TABLE_SECTIONS = ("offs", "hkeys", "hvals", "pos", "occ", "tcodes", "sfx")
_TABLE_DTYPES = {"offs": "<i4", "hkeys": "<u4", "hvals": "<i4", "pos": "<i4", "occ": "<u8",
                 "tcodes": "<u8", "sfx": "|u1"}


def _table_layout(specs):
    """``meta`` (m, 3) and section lengths of tables described by ``specs``:
    per table ``(nb, cap)`` -- ``cap == 0`` for a dense table of ``nb``
    buckets, else a hash of capacity ``cap`` over ``nb`` distinct keys -- or
    ``(nb, 0, sb)`` for a sparse table with ``sb`` suffix bits over ``nb``
    prefix buckets."""
    meta = np.zeros((len(specs), 3), dtype=np.int64)
    off_at = hash_at = occ_at = 0
    for j, spec in enumerate(specs):
        nb, cap = spec[0], spec[1]
        if len(spec) == 3:
            meta[j] = (KIND_SPARSE, off_at, spec[2])
        elif cap == 0:
            meta[j] = (KIND_DENSE, off_at, occ_at)
            occ_at += -(-(-(-nb // 8)) // 8)  # ceil(ceil(nb / 8) / 8) words
        else:
            meta[j] = (cap - 1, off_at, hash_at)
            hash_at += cap
        off_at += nb + 1
    return meta, {"offs": off_at, "hkeys": hash_at, "hvals": hash_at, "occ": occ_at}


def _table_specs(state) -> list[list[int]]:
    meta, offs = state.main[0], state.main[1]
    ends = list(meta[1:, 1]) + [len(offs)]
    out = []
    for j in range(state.m):
        nb = int(ends[j] - meta[j, 1] - 1)
        if meta[j, 0] == KIND_SPARSE:
            out.append([nb, 0, int(meta[j, 2])])
        else:
            out.append([nb, 0 if meta[j, 0] < 0 else int(meta[j, 0] + 1)])
    return out


def save_tables(path, state, nbits: int) -> None:
    """Write a sealed segment's table ``state`` (no delta part) to ``path``
    atomically (an :mod:`hamsearch.storage` container of the arrays of
    ``csrc/mih.h`` whose ``meta`` is recomputed on load from the per-table
    bucket counts)."""
    from ..storage import save_sections

    if state.n != state.n_main:
        raise ValueError("only tables without a delta part are saved (a sealed segment's)")
    meta = {"format": TABLES_FORMAT, "nbits": int(nbits), "rows": int(state.n),
            "m": int(state.m), "tables": _table_specs(state),
            "words": int(state.codes.shape[1]), "inline": bool(state.main[6].size)}
    arrays = {name: arr for name, arr in zip(SEGMENT_FIELDS[1:], state.main[1:])}
    if not state.main[7].size:
        del arrays["sfx"]  # no sparse table: the layout of files written before they existed
    save_sections(path, meta, arrays)


def read_tables(path, codes, nbits: int, mmap: bool = False, verify=None):
    """Tables saved by :func:`save_tables` for the rows ``codes``:
    ``(state, check)`` like :func:`hamsearch.storage.read_sections`
    (``check``: the pending CRC-32 check, or None once it ran).

    The header, the section layout (dtypes, shapes, alignment, no overlap)
    and every bucket range (offsets from 0 to ``rows``, non-decreasing; hash
    slots naming a bucket) are checked before anything is used, so a
    crafted file cannot make a search read outside the arrays (row numbers
    out of range are skipped by the kernels); the section checksums are the
    data check (``verify``).
    """
    import functools
    import mmap as _mmap
    import os

    from ..storage import (FileCheck, IndexFileError, _Checker, _crc32, _open_regular,
                          _read_all, _read_header, _ALIGN, _HEADER_KEYS, _SECTION_KEYS,
                          _PREAMBLE)

    path = os.fspath(path)
    if verify is None:
        verify = "background" if mmap else True
    ck = _Checker(path)
    fd = _open_regular(path)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            ck.fail("empty table file")
        buf = _mmap.mmap(fd, 0, access=_mmap.ACCESS_READ) if mmap else _read_all(fd, size)
    finally:
        os.close(fd)
    buf = memoryview(buf)
    header, hlen = _read_header(buf, ck)
    if not isinstance(header, dict) or header.keys() != _HEADER_KEYS:
        ck.fail("not a table file (bad header fields)")
    meta = header["meta"]
    rows, w = codes.shape
    if not isinstance(meta, dict) or meta.get("format") != TABLES_FORMAT:
        ck.fail("not a multi-index table file")
    if meta.get("nbits") != nbits or meta.get("rows") != rows or meta.get("words") != w:
        ck.fail(f"tables of {meta.get('rows')!r} x {meta.get('nbits')!r}-bit codes, the "
                f"segment holds {rows} x {nbits}-bit")
    m = meta.get("m")
    try:
        m = _check_m(nbits, m)
    except (TypeError, ValueError) as exc:
        ck.fail(str(exc))
    starts, lengths = substring_layout(nbits, m)
    specs = meta.get("tables")
    if not isinstance(specs, list) or len(specs) != m:
        ck.fail("bad 'tables' entry")
    for spec, b in zip(specs, lengths):
        b = int(b)
        ok = isinstance(spec, list) and len(spec) in (2, 3) \
            and all(type(x) is int for x in spec)
        if ok and len(spec) == 3:
            nb, cap, sb = spec
            ok = cap == 0 and 1 <= sb <= min(SUFFIX_BITS, b - 1) and nb == 1 << (b - sb)
        elif ok:
            nb, cap = spec
            if cap == 0:
                ok = nb == 1 << b
            else:
                ok = 1 <= nb <= min(rows, 1 << b) and cap >= 2 * nb and cap & (cap - 1) == 0
        if not ok:
            ck.fail(f"bad table spec {str(spec)[:80]} for a {b}-bit substring")
    sparse = any(len(spec) == 3 for spec in specs)
    tmeta, lens = _table_layout(specs)
    inline = meta.get("inline")
    if not isinstance(inline, bool):
        ck.fail("bad 'inline' entry")
    want = {name: (_TABLE_DTYPES[name], [lens[name]]) for name in lens}
    want["pos"] = ("<i4", [m, rows])
    want["tcodes"] = ("<u8", [m * rows * w if inline else 0])
    if sparse:
        want["sfx"] = ("|u1", [m, rows])
    sections = header["sections"]
    if not isinstance(sections, list) or len(sections) != len(want):
        ck.fail("bad section list")
    arrays, checks, spans = {}, [], []
    for sec in sections:
        if not isinstance(sec, dict) or sec.keys() != _SECTION_KEYS or sec["name"] not in want \
                or sec["name"] in arrays:
            ck.fail(f"bad section entry {str(sec)[:200]}")
        name = sec["name"]
        dtype, shape = want[name]
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        off = sec["offset"]
        if sec["dtype"] != dtype or sec["shape"] != shape or sec["nbytes"] != nbytes \
                or not isinstance(off, int) or off % _ALIGN \
                or off < _PREAMBLE.size + hlen or off + nbytes > size \
                or not isinstance(sec["crc32"], int):
            ck.fail(f"section {name!r} does not match the tables it describes")
        data = buf[off : off + nbytes]
        arrays[name] = (np.frombuffer(data, dtype=np.dtype(dtype)).reshape(shape) if nbytes
                        else np.zeros(shape, np.dtype(dtype)))
        checks.append((name, data, sec["crc32"]))
        spans.append((off, off + nbytes))
    spans.sort()
    if any(b0 < a1 for (_, a1), (b0, _) in zip(spans, spans[1:])):
        ck.fail("sections overlap")
    if header["file_size"] != size:
        ck.fail(f"file is {size} bytes, the header says {header['file_size']!r}")
    offs, hvals = arrays["offs"], arrays["hvals"]
    for j, spec in enumerate(specs):
        nb, cap = spec[0], spec[1]
        o = offs[tmeta[j, 1] : tmeta[j, 1] + nb + 1]
        if o[0] != 0 or o[-1] != rows:
            ck.fail(f"table {j}: offsets must run from 0 to {rows}")
        for a in range(0, nb, _build.BUILD_CHUNK):
            if (np.diff(o[a : a + _build.BUILD_CHUNK + 1]) < 0).any():
                ck.fail(f"table {j}: decreasing offsets")
        if cap:
            hv = hvals[tmeta[j, 2] : tmeta[j, 2] + cap]
            if hv.min() < -1 or hv.max() >= nb or not (hv < 0).any():
                ck.fail(f"table {j}: hash slots must name a bucket or be empty")
    main = (tmeta, offs, arrays["hkeys"], hvals, arrays["pos"], arrays["occ"],
            arrays["tcodes"], arrays.get("sfx", np.zeros((m, 0), np.uint8)))

    def run():
        for name, data, crc in checks:
            if _crc32(data) != crc:
                raise IndexFileError(f"{path}: section {name!r} is corrupted (checksum "
                                     "mismatch)")

    check = FileCheck(run, path)
    if verify is True:
        check.wait()
        check = None
    elif verify == "background":
        check.start()
    state = _State(codes, None, m, starts, lengths, main, _empty_segment(m), rows)
    return state, check
