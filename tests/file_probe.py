"""Crafted and damaged index files, and a subprocess that tries them all.

``craft`` rewrites a real index file with a changed header (and optionally
changed section data), recomputing every checksum, so that only the
validation of the contents -- not the CRCs -- stands between the file and
the kernels.  ``python -m tests.file_probe CASES.json`` loads every file
listed (plain and memory-mapped), uses the index, and prints one JSON line
per file and mode with the outcome: the name of the exception, or a digest
of the results.  The tests run it in a subprocess, so a file that crashes
the interpreter fails a test instead of killing the run.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
import zlib

import numpy as np

MAGIC = b"HAMSRCH\x00"
PREAMBLE = struct.Struct("<8sIIII")
RESERVE = 4096


def split(data: bytes):
    """(header dict, {name: raw section bytes}) of a valid file."""
    _, _, hlen, _, _ = PREAMBLE.unpack_from(data, 0)
    header = json.loads(data[PREAMBLE.size : PREAMBLE.size + hlen])
    raw = {s["name"]: data[s["offset"] : s["offset"] + s["nbytes"]] for s in header["sections"]}
    return header, raw


def assemble(header: dict, raw: dict, *, fix_layout=True, header_text=None) -> bytes:
    """Lay out ``raw`` sections after a 4 KiB header, recompute their sizes
    and CRCs (unless ``fix_layout`` is False) and the header CRC."""
    if fix_layout:
        offset = PREAMBLE.size + RESERVE
        for sec in header["sections"]:
            data = raw.get(sec["name"], b"")
            offset = (offset + 63) // 64 * 64
            sec["offset"], sec["nbytes"], sec["crc32"] = offset, len(data), zlib.crc32(data)
            offset += len(data)
        header["file_size"] = offset
    text = header_text if header_text is not None else json.dumps(header, sort_keys=True)
    blob = text.encode("utf-8")
    blob = blob + b" " * max(0, RESERVE - len(blob))
    out = bytearray(PREAMBLE.pack(MAGIC, 1, len(blob), zlib.crc32(blob), 0) + blob)
    start = len(out)
    sections = header.get("sections") if isinstance(header, dict) else None
    for sec in sections if isinstance(sections, list) else []:
        if not isinstance(sec, dict) or sec.get("name") not in raw:
            continue
        off = sec.get("offset")
        if type(off) is not int or not start <= off <= (1 << 30):
            continue
        if len(out) < off:
            out += b"\x00" * (off - len(out))
        data = raw[sec["name"]]
        out[off : off + len(data)] = data
    return bytes(out)


def rehash_header(data: bytes) -> bytes:
    """``data`` with the header CRC recomputed over its (possibly changed) bytes."""
    magic, version, hlen, _, res = PREAMBLE.unpack_from(data, 0)
    if PREAMBLE.size + hlen > len(data):
        return data
    blob = data[PREAMBLE.size : PREAMBLE.size + hlen]
    return PREAMBLE.pack(magic, version, hlen, zlib.crc32(blob), res) + data[PREAMBLE.size :]


def digest(index) -> str:
    """A digest of what an index answers (len, ids, codes, k-NN and range results)."""
    nbytes = index.nbits // 8
    q = np.random.default_rng(1).integers(0, 256, size=(4, nbytes), dtype=np.uint8)
    h = hashlib.sha256()
    h.update(str(len(index)).encode())
    h.update(np.ascontiguousarray(index.ids).tobytes())
    h.update(np.ascontiguousarray(index.codes).tobytes())
    D, I = index.search(q, 5)
    h.update(D.tobytes() + I.tobytes())
    lims, RD, RI = index.range_search(q, index.nbits // 4)
    h.update(lims.tobytes() + RD.tobytes() + RI.tobytes())
    if index.features_dim is not None and len(index):
        h.update(index.reconstruct_features(index.ids[:3]).tobytes())
    return h.hexdigest()[:16]


def _try(path: str, mmap: bool) -> str:
    import hamsearch

    try:
        index = hamsearch.load(path, mmap=mmap)
        nbytes = index.nbits // 8
        q = np.zeros((2, nbytes), np.uint8)
        try:  # an unverified mapped index must not crash either
            index.search(q, 3)
            index.range_search(q, 2)
            _ = 5 in index
        except Exception:  # noqa: BLE001 - only a crash would matter here
            pass
        index.verify()  # waits for the background data check of a mapped file
        out = digest(index)
        feats = None if index.features_dim is None else np.zeros((1, index.features_dim))
        index.add(np.zeros((1, nbytes), np.uint8), features=feats)  # the next default id is valid
        return out
    except Exception as exc:  # noqa: BLE001 - the outcome is the exception's name
        return type(exc).__name__


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    with open(args[0]) as fh:
        cases = json.load(fh)
    for path in cases:
        for mmap in (False, True):
            print(json.dumps({"path": path, "mmap": mmap, "outcome": _try(path, mmap)}),
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
