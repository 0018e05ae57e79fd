"""Damaged and crafted index directories: a clear error, never a crash or a lie.

Every directory is loaded in a subprocess (``tests/file_probe.py``, plain
and memory-mapped, the background data check waited for), so a crash fails
the test instead of killing the run.  An outcome is an ``IndexFileError``
(or ``FileNotFoundError`` for a missing manifest), or the digest of the
saved index's answers: a directory may only load if it answers exactly as
the saved index did.  Manifests are rewritten with their CRC recomputed, so
only the validation of their contents stands between them and the kernels.
"""

from __future__ import annotations

import json
import shutil
import zlib

import numpy as np
import pytest

import hamsearch
from hamsearch.directory import MANIFEST, _manifest_crc
from hamsearch.storage import save_sections

from . import file_probe as fp
from .test_file_fuzz import _probe


def _index():
    """Three sealed segments of different sizes: shuffled ids with
    tombstones, a range of ids, float16 features."""
    rng = np.random.default_rng(0)
    index = hamsearch.Index(72, method="mih", features_dtype="float16", segment_rows=50,
                            background_merges=False)
    index.add(rng.integers(0, 256, (120, 9), dtype=np.uint8), ids=rng.permutation(1000)[:120],
              features=rng.standard_normal((120, 3)))
    index.remove(index.ids[:7])
    index.add(rng.integers(0, 256, (80, 9), dtype=np.uint8),
              ids=np.arange(2000, 2080), features=rng.standard_normal((80, 3)))
    index.add(rng.integers(0, 256, (60, 9), dtype=np.uint8), features=rng.standard_normal((60, 3)))
    return index


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("dirbase") / "ix"
    d.mkdir()
    index = _index()
    index.save(d)
    assert len(index.segments()) == 3 and any(s["deleted"] for s in index.segments())
    return d, fp.digest(index)


def _copy(base_dir, tmp_path, name):
    out = tmp_path / name
    shutil.copytree(base_dir, out)
    return out


def _manifest(d):
    return json.loads((d / MANIFEST).read_text())


def _write_manifest(d, doc, fix_crc=True):
    if fix_crc:
        doc["crc32"] = _manifest_crc(doc)
    (d / MANIFEST).write_text(json.dumps(doc))


def _cases(base_dir, tmp_path):
    """``{name: directory}`` of damaged or crafted copies of the base."""
    out = {}

    def crafted(name, change):
        d = _copy(base_dir, tmp_path, name)
        doc = _manifest(d)
        change(doc, d)
        _write_manifest(d, doc)
        out[name] = d

    def entry(i, key, value):
        def change(doc, d):
            doc["segments"][i][key] = value
        return change

    raw = (base_dir / MANIFEST).read_bytes()
    for cut in (0, 1, len(raw) // 2, len(raw) - 2):
        d = _copy(base_dir, tmp_path, f"manifest-cut-{cut}")
        (d / MANIFEST).write_bytes(raw[:cut])
        out[d.name] = d
    d = _copy(base_dir, tmp_path, "manifest-flip")
    flipped = bytearray(raw)
    flipped[len(raw) // 3] ^= 0x01
    (d / MANIFEST).write_bytes(bytes(flipped))
    out[d.name] = d
    for i in range(3):
        crafted(f"rows-plus-{i}", lambda doc, d, i=i: doc["segments"][i].update(
            rows=doc["segments"][i]["rows"] + 1))
        crafted(f"rows-minus-{i}", lambda doc, d, i=i: doc["segments"][i].update(
            rows=doc["segments"][i]["rows"] - 1))
        crafted(f"rows-huge-{i}", entry(i, "rows", 2**62))
        crafted(f"rows-str-{i}", entry(i, "rows", "80"))
        crafted(f"file-up-{i}", entry(i, "file", "../" + _manifest(base_dir)["segments"][i]["file"]))
        crafted(f"file-missing-{i}", entry(i, "file", "seg-0-000000.hsx"))
        crafted(f"file-other-{i}", entry(i, "file", _manifest(base_dir)["segments"][(i + 1) % 3]["file"]))
        crafted(f"deleted-neg-{i}", entry(i, "deleted", -1))
        crafted(f"deleted-over-{i}", lambda doc, d, i=i: doc["segments"][i].update(
            deleted=doc["segments"][i]["rows"] + 1))
    with_del = next(i for i, s in enumerate(_manifest(base_dir)["segments"]) if s["deleted"])
    crafted("deleted-changed", lambda doc, d: doc["segments"][with_del].update(
        deleted=doc["segments"][with_del]["deleted"] - 1))
    crafted("deleted-file-null", entry(with_del, "deleted_file", None))
    crafted("deleted-file-up", entry(with_del, "deleted_file", "../x.del"))
    crafted("segments-not-list", lambda doc, d: doc.update(segments={"a": 1}))
    crafted("entry-not-dict", lambda doc, d: doc["segments"].__setitem__(0, [1, 2]))
    crafted("version-2", lambda doc, d: doc.update(version=2))
    crafted("format", lambda doc, d: doc.update(format="other"))
    crafted("wal-seq-neg", lambda doc, d: doc.update(wal_seq=-1))
    crafted("nbits-128", lambda doc, d: doc["meta"].update(nbits=128))
    crafted("nbits-str", lambda doc, d: doc["meta"].update(nbits="72"))
    crafted("ntotal-off", lambda doc, d: doc["meta"].update(ntotal=doc["meta"]["ntotal"] + 1))
    crafted("next-id-low", lambda doc, d: doc["meta"].update(next_id=5))
    crafted("features-d", lambda doc, d: doc["meta"].update(features_d=4))
    crafted("meta-unknown", lambda doc, d: doc["meta"].update(color="red"))
    # tombstone files: truncated, flipped, crafted with a valid checksum
    dname = _manifest(base_dir)["segments"][with_del]["deleted_file"]
    draw = (base_dir / dname).read_bytes()
    for cut in (0, 10, len(draw) - 1):
        d = _copy(base_dir, tmp_path, f"del-cut-{cut}")
        (d / dname).write_bytes(draw[:cut])
        out[d.name] = d
    d = _copy(base_dir, tmp_path, "del-flip")
    (d / dname).write_bytes(draw[:-1] + bytes([draw[-1] ^ 0x01]))
    out[d.name] = d
    for name, words in (("del-extra-bits", "extra"), ("del-one-less", "less")):
        d = _copy(base_dir, tmp_path, name)
        head, body = draw[:32], bytearray(draw[32:])
        bits = np.frombuffer(bytes(body), "<u8").copy()
        if words == "extra":
            bits[-1] |= np.uint64(1) << np.uint64(63)  # a row past the segment's end
        else:
            first = int(np.flatnonzero(bits)[0])
            bits[first] &= bits[first] - np.uint64(1)  # one deleted row fewer
        body = bits.tobytes()
        head = head[:24] + zlib.crc32(body).to_bytes(4, "little") + head[28:]
        (d / dname).write_bytes(head + body)
        out[d.name] = d
    # segment files: truncated; another (valid) segment file under its name
    segs = _manifest(base_dir)["segments"]
    sraw = (base_dir / segs[0]["file"]).read_bytes()
    d = _copy(base_dir, tmp_path, "seg-cut")
    (d / segs[0]["file"]).write_bytes(sraw[: len(sraw) // 2])
    out[d.name] = d
    d = _copy(base_dir, tmp_path, "seg-swapped")
    shutil.copy(base_dir / segs[1]["file"], d / segs[0]["file"])
    out[d.name] = d
    # a valid segment file whose ids repeat live ids of another segment
    d = _copy(base_dir, tmp_path, "duplicate-ids")
    other = hamsearch.load(base_dir)
    meta, _ = other.sections(arrays=False)
    seg_rows = segs[2]["rows"]
    dup_ids = np.sort(other.ids[:seg_rows]).astype(np.int64)
    meta.update(ntotal=seg_rows, next_id=int(dup_ids.max()) + 1)
    meta.pop("id_base", None)
    save_sections(d / segs[2]["file"], meta,
                  {"codes": np.zeros((seg_rows, 2), np.uint64), "ids": dup_ids,
                   "features": np.zeros((seg_rows, 3), np.float16)})
    out[d.name] = d
    d = _copy(base_dir, tmp_path, "no-manifest")
    (d / MANIFEST).unlink()
    out[d.name] = d
    return out


def test_damaged_and_crafted_directories_are_refused(base, tmp_path):
    base_dir, want = base
    cases = _cases(base_dir, tmp_path)
    outcomes = _probe([base_dir] + list(cases.values()), tmp_path)
    for mmap in (False, True):
        assert outcomes[(str(base_dir), mmap)] == want, "the untouched directory must load"
    bad = {}
    for name, d in cases.items():
        for mmap in (False, True):
            got = outcomes[(str(d), mmap)]
            if got != "IndexFileError":
                bad[(name, mmap)] = got
    assert not bad, f"cases that did not end in IndexFileError: {bad}"
