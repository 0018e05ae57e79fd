"""Damaged and crafted index files: a clear IndexFileError, never a crash or a lie.

Every file is loaded in a subprocess (``tests/file_probe.py``), plain and
memory-mapped (with the background data check, waited for by
``Index.verify()``), so a segfault or SIGBUS fails the test instead of
killing the run.  An outcome is either ``IndexFileError`` or the digest of
the original index's answers: a file may only load if it answers exactly as
the saved index did.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import hamsearch
from hamsearch.storage import IndexFileError

from . import file_probe as fp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _index_a():
    """72-bit codes (padding bits in the last word), shuffled ids, float16 features."""
    rng = np.random.default_rng(0)
    index = hamsearch.Index(72, method="mih", features_dtype="float16")
    index.add(rng.integers(0, 256, (300, 9), dtype=np.uint8), ids=rng.permutation(1000)[:300],
              features=rng.standard_normal((300, 3)))
    index.remove(index.ids[:5])
    return index


def _index_b(n=100):
    """64-bit codes, sequential ids, no features."""
    rng = np.random.default_rng(1)
    index = hamsearch.Index(64, method="flat")
    index.add(rng.integers(0, 256, (n, 8), dtype=np.uint8))
    return index


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    d = tmp_path_factory.mktemp("bases")
    out = {}
    for name, index in (("a", _index_a()), ("b", _index_b())):
        path = d / f"{name}.hsx"
        index.save(path)
        out[name] = (path.read_bytes(), fp.digest(index))
    return out


def _probe(paths, tmp_path, timeout=600):
    """Outcomes ``{(path, mmap): outcome}`` of loading ``paths`` in a subprocess."""
    cases = tmp_path / f"cases-{len(paths)}-{abs(hash(tuple(map(str, paths))))}.json"
    cases.write_text(json.dumps([str(p) for p in paths]))
    proc = subprocess.run([sys.executable, "-m", "tests.file_probe", str(cases)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (
        f"the probe died with status {proc.returncode} (a crash on one of the files); "
        f"last outcomes: {proc.stdout[-600:]}\nstderr: {proc.stderr[-2000:]}")
    out = {}
    for line in proc.stdout.splitlines():
        rec = json.loads(line)
        out[(rec["path"], rec["mmap"])] = rec["outcome"]
    assert len(out) == 2 * len(paths), "the probe skipped files"
    return out


def _write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


# ------------------------------------------------- crafted, self-consistent
def _crafted(base: bytes, before=None, after=None, text=None):
    """A file from ``base`` with every CRC recomputed.

    ``before(header, raw)`` edits the data (and the fields that describe it)
    before the sections are laid out again; ``after(header)`` edits header
    fields once the layout is fixed; ``text(json_text)`` edits the header's
    JSON text last.
    """
    header, raw = fp.split(base)
    header, raw = copy.deepcopy(header), dict(raw)
    if before is not None:
        before(header, raw)
    fp.assemble(header, raw)  # offsets, sizes and CRCs from the data
    if after is not None:
        after(header)
    header_text = None if text is None else text(json.dumps(header, sort_keys=True))
    return fp.assemble(header, raw, fix_layout=False, header_text=header_text)


def _sec(header, name):
    return next(s for s in header["sections"] if s["name"] == name)


def _meta(**kw):
    return {"after": lambda h: h["meta"].update(kw)}


def _field(name, **kw):
    return {"after": lambda h: _sec(h, name).update(kw)}


def _ids_as(dtype):
    def before(h, raw):
        raw["ids"] = np.frombuffer(raw["ids"], np.int64).astype(dtype).tobytes()
        _sec(h, "ids")["dtype"] = np.dtype(dtype).str
    return {"before": before}


def _ids_to(ids):
    def before(h, raw):
        raw["ids"] = np.asarray(ids, np.int64).tobytes()
        _sec(h, "ids")["shape"] = [len(ids)]
    return {"before": before}


def _edit_array(name, dtype, fn):
    def before(h, raw):
        arr = np.frombuffer(raw[name], dtype).copy()
        fn(arr)
        raw[name] = arr.tobytes()
    return {"before": before}


def _replace(old, new):
    def text(t):
        assert old in t, (old, t[:300])
        return t.replace(old, new, 1)
    return {"text": text}


def _nested(t):
    deep = "[" * 200_000 + "]" * 200_000
    return t.replace('"meta": {', f'"deep": {deep}, "meta": {{', 1)


def _drop_section(name):
    return {"after": lambda h: h.update(sections=[s for s in h["sections"] if s["name"] != name])}


def _shift(name, by):
    return {"after": lambda h: _sec(h, name).update(offset=_sec(h, name)["offset"] + by)}


def _dup(a):
    a[1] = a[0]


def _neg(a):
    a[3] = -7


def _nan(a):
    a[4] = np.nan


# (name, base, how): every one must give IndexFileError, plain and mapped
CRAFTED = [
    # item 4: a search would have read outside the arrays
    ("nbits-65536-over-64-bit-codes", "b", _meta(nbits=65536)),
    ("nbits-4096-over-1-word-codes", "b", _meta(nbits=4096)),
    ("ids-section-shape-0", "b", _ids_to([])),
    ("ids-section-1-entry", "b", _ids_to([0])),
    # item 5: silently wrong
    ("ntotal-smaller-than-rows", "b", _meta(ntotal=90)),
    ("ntotal-negative", "b", _meta(ntotal=-5)),
    ("nbits-8-over-64-bit-codes", "b", _meta(nbits=8)),
    ("nbits-56-over-64-bit-codes", "b", _meta(nbits=56)),
    ("nbits-72-over-64-bit-codes", "b", _meta(nbits=72)),
    ("nbits-128-over-64-bit-codes", "b", _meta(nbits=128)),
    ("nbits-1024-over-64-bit-codes", "b", _meta(nbits=1024)),
    ("nbits-64-over-72-bit-codes", "a", _meta(nbits=64)),
    ("next-id-negative", "b", _meta(next_id=-100)),
    ("next-id-zero", "b", _meta(next_id=0)),
    ("next-id-not-above-max", "b", _meta(next_id=99)),
    ("next-id-past-int64", "b", _meta(next_id=2**63 + 1)),
    ("ids-int32", "b", _ids_as(np.int32)),
    ("ids-uint64", "b", _ids_as(np.uint64)),
    ("ids-duplicate", "a", _edit_array("ids", np.int64, _dup)),
    ("ids-negative", "a", _edit_array("ids", np.int64, _neg)),
    ("features-flag-false-with-section", "a", _meta(features_enabled=False)),
    ("features-flag-null-with-codes", "b", _meta(features_enabled=None)),
    ("features-dim-mismatch", "a", _meta(features_d=4)),
    ("features-dtype-mismatch", "a", _meta(features_dtype="float32")),
    ("features-nan", "a", _edit_array("features", np.float16, _nan)),
    ("features-missing", "a", _drop_section("features")),
    # item 6: errors that were not IndexFileError
    ("sections-not-a-list", "b", {"after": lambda h: h.update(sections=5)}),
    ("shape-infinity", "b", _replace('"shape": [100, 1]', '"shape": [Infinity, 1]')),
    ("shape-nan", "b", _replace('"shape": [100, 1]', '"shape": [NaN, 1]')),
    ("dtype-unparsable", "b", _field("codes", dtype="(2,u8")),
    ("dtype-object", "b", _field("codes", dtype="|O")),
    ("dtype-big-endian", "b", _field("codes", dtype=">u8")),
    ("deeply-nested-json", "b", {"text": _nested}),
    ("header-not-an-object", "b", {"text": lambda t: "[1, 2, 3]"}),
    ("duplicate-key", "b", _replace('"ntotal": 100', '"ntotal": 100, "ntotal": 50')),
    ("ntotal-bool", "b", _meta(ntotal=True)),
    ("nbits-float", "b", _meta(nbits=64.0)),
    ("nbits-string", "b", _meta(nbits="64")),
    ("method-unknown", "b", _meta(method="evil")),
    ("m-zero", "b", _meta(m=0)),
    ("m-too-large", "b", _meta(m=65)),
    ("meta-unknown-field", "b", _meta(evil=1)),
    ("meta-missing-nbits", "b", {"after": lambda h: h["meta"].pop("nbits")}),
    ("section-unknown", "b", {"after": lambda h: h["sections"].append(
        dict(_sec(h, "ids"), name="x"))}),
    ("section-twice", "b", {"after": lambda h: h["sections"].append(dict(_sec(h, "ids")))}),
    ("sections-overlap", "b", {"after": lambda h: _sec(h, "ids").update(
        offset=_sec(h, "codes")["offset"])}),
    ("offset-unaligned", "b", _shift("ids", 8)),
    ("offset-inside-header", "b", _field("codes", offset=64)),
    ("offset-past-end", "b", _field("ids", offset=1 << 40)),
    ("nbytes-wrong", "b", _field("ids", nbytes=8)),
    ("crc-out-of-range", "b", _field("ids", crc32=-1)),
    ("file-size-larger", "b", {"after": lambda h: h.update(file_size=h["file_size"] + 64)}),
    ("file-size-smaller", "b", {"after": lambda h: h.update(file_size=h["file_size"] - 8)}),
    ("format-wrong", "b", {"after": lambda h: h.update(format="other")}),
]


def _crafted_files(bases, tmp_path):
    big = _index_b(100_000)
    big_path = tmp_path / "big.hsx"
    big.save(big_path)
    files = {}
    for name, base, how in CRAFTED:
        files[name] = _write(tmp_path, f"{name}.hsx", _crafted(bases[base][0], **how))
    # item 4: a 1-entry ids section at the end of a 100k-code file
    files["ids-1-entry-100k"] = _write(tmp_path, "ids-1-entry-100k.hsx",
                                       _crafted(big_path.read_bytes(), **_ids_to([5])))
    return files


def test_crafted_files_give_index_file_error(bases, tmp_path):
    files = _crafted_files(bases, tmp_path)
    out = _probe(list(files.values()), tmp_path)
    wrong = {(name, mm): out[(str(p), mm)] for name, p in files.items() for mm in (False, True)
             if out[(str(p), mm)] != "IndexFileError"}
    assert not wrong, f"crafted files not refused with IndexFileError: {wrong}"


def test_crafted_file_errors_name_file_and_fault(bases, tmp_path):
    files = _crafted_files(bases, tmp_path)
    expect = {
        "nbits-65536-over-64-bit-codes": "shape", "ids-int32": "dtype",
        "ids-section-shape-0": "shape", "ntotal-negative": "ntotal",
        "next-id-negative": "next_id", "features-flag-false-with-section": "features",
        "deeply-nested-json": "header", "dtype-unparsable": "dtype",
        "nbits-56-over-64-bit-codes": "padding", "sections-not-a-list": "sections",
    }
    for name, word in expect.items():
        with pytest.raises(IndexFileError) as info:
            hamsearch.load(files[name])
        msg = str(info.value)
        assert str(files[name]) in msg and word in msg, msg


def test_crafted_bytes_through_pickle_give_index_file_error(bases):
    class Crafted:
        def __init__(self, data):
            self.data = data

        def __reduce__(self):
            return (object.__new__, (hamsearch.Index,), {"hamsearch_index": self.data})

    for name, base, how in CRAFTED[:12]:
        blob = pickle.dumps(Crafted(_crafted(bases[base][0], **how)))
        with pytest.raises(IndexFileError):
            pickle.loads(blob)


def test_next_id_at_the_end_of_int64_loads_and_refuses_default_ids(bases, tmp_path):
    path = _write(tmp_path, "end.hsx", _crafted(bases["b"][0], **_meta(next_id=2**63)))
    index = hamsearch.load(path)
    with pytest.raises(OverflowError, match="ids="):
        index.add(np.zeros((1, 8), np.uint8))
    assert len(index) == 100
    index.add(np.zeros((1, 8), np.uint8), ids=[500])
    assert 500 in index


# ------------------------------------------------------------------- fuzzing
def test_truncations_are_refused(bases, tmp_path):
    paths = []
    for name, (data, _) in bases.items():
        cuts = sorted(set(range(0, 64)) | set(range(64, len(data), 97)) | {len(data) - 1})
        for cut in cuts:
            paths.append(_write(tmp_path, f"{name}-cut{cut}.hsx", data[:cut]))
    out = _probe(paths, tmp_path)
    bad = {k: v for k, v in out.items() if v != "IndexFileError"}
    assert not bad, f"truncated files not refused: {dict(list(bad.items())[:5])}"


def _header_positions(data):
    _, _, hlen, _, _ = fp.PREAMBLE.unpack_from(data, 0)
    text_end = fp.PREAMBLE.size + len(data[fp.PREAMBLE.size : fp.PREAMBLE.size + hlen].rstrip())
    return list(range(text_end)) + list(range(text_end, fp.PREAMBLE.size + hlen, 61))


@pytest.mark.parametrize("rehash", [False, True], ids=["raw", "crc-recomputed"])
def test_every_header_byte_flipped(bases, tmp_path, rehash):
    """Each header byte flipped (XOR 0x01, and 0x20 for the JSON text); with
    ``crc-recomputed`` the header CRC is fixed up, so only validation of the
    contents can refuse the file."""
    paths, expect = [], {}
    for name, (data, dig) in bases.items():
        for pos in _header_positions(data):
            for bit in (0x01, 0x20) if pos >= fp.PREAMBLE.size else (0x01, 0x80):
                mutated = bytearray(data)
                mutated[pos] ^= bit
                mutated = bytes(mutated)
                if rehash and not 16 <= pos < 20:
                    mutated = fp.rehash_header(mutated)
                p = _write(tmp_path, f"{name}-{pos}-{bit}.hsx", mutated)
                paths.append(p)
                expect[str(p)] = dig
    out = _probe(paths, tmp_path)
    bad = {k: v for k, v in out.items() if v not in ("IndexFileError", expect[k[0]])}
    assert not bad, f"flipped header bytes gave {dict(list(bad.items())[:8])}"
    refused = sum(v == "IndexFileError" for v in out.values())
    assert refused > 0.9 * len(out)  # the few that load answer exactly as before


def _section_spans(data):
    header, _ = fp.split(data)
    return [(s["offset"], s["offset"] + s["nbytes"]) for s in header["sections"]]


def test_data_corruption_is_detected_plain_and_mapped(bases, tmp_path):
    """Byte flips, bit flips and garbage in the sections: ``load`` refuses
    them, and a mapped index's background check makes ``verify()`` (and
    every later call) raise -- no corrupted file answers differently."""
    rng = np.random.default_rng(7)
    paths, inside, expect = [], set(), {}
    for name, (data, dig) in bases.items():
        spans = _section_spans(data)
        start = spans[0][0]
        positions = list(range(start - 64, len(data), 7))
        for i, pos in enumerate(positions):
            mutated = bytearray(data)
            mode = i % 3
            if mode == 0:
                mutated[pos] ^= 0xFF
            elif mode == 1:
                mutated[pos] ^= 1 << int(rng.integers(8))
            else:
                mutated[pos : pos + 16] = rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
                mutated = mutated[: len(data)]
            p = _write(tmp_path, f"{name}-data-{pos}-{mode}.hsx", bytes(mutated))
            paths.append(p)
            expect[str(p)] = dig
            if any(a <= pos < b for a, b in spans):
                inside.add(str(p))
    out = _probe(paths, tmp_path)
    bad = {k: v for k, v in out.items()
           if v != "IndexFileError" and (k[0] in inside or v != expect[k[0]])}
    assert not bad, f"corrupted data not detected: {dict(list(bad.items())[:8])}"


def test_garbage_files_are_refused(tmp_path):
    rng = np.random.default_rng(3)
    paths = []
    for i, size in enumerate([1, 7, 24, 25, 100, 4096, 5000, 70_000]):
        paths.append(_write(tmp_path, f"garbage-{i}.hsx",
                            rng.integers(0, 256, size, dtype=np.uint8).tobytes()))
        pre = fp.PREAMBLE.pack(fp.MAGIC, 1, max(0, size - 24), 0, 0)
        paths.append(_write(tmp_path, f"magic-garbage-{i}.hsx",
                            pre + rng.integers(0, 256, size, dtype=np.uint8).tobytes()))
    paths.append(_write(tmp_path, "huge-hlen.hsx", fp.PREAMBLE.pack(fp.MAGIC, 1, 2**32 - 1, 0, 0)))
    paths.append(_write(tmp_path, "empty.hsx", b""))
    out = _probe(paths, tmp_path)
    bad = {k: v for k, v in out.items() if v != "IndexFileError"}
    assert not bad, bad
