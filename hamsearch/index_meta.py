"""What an index file's metadata and sections must be, and the data check.

An index file is a container (:mod:`hamsearch.container`) whose header
``meta`` describes the index.  :func:`_check_meta` accepts exactly the
fields :meth:`hamsearch.Index.sections` writes (``_META_KEYS``), with the
types and ranges they can have; :func:`_expected_sections` gives the dtype
and shape of every section the metadata implies; :func:`_check_ids` checks
the ids and :func:`_check_data` the data (section CRC-32s, zero padding
bits, finite features).  :mod:`hamsearch.storage` runs them on every index
file, :mod:`hamsearch.directory` runs :func:`_check_meta` on manifests.
"""

from __future__ import annotations

import numpy as np

from .container import _Checker, _crc32, _is_int

_META_REQUIRED = {"nbits", "ntotal", "next_id"}
_META_KEYS = _META_REQUIRED | {"method", "m", "features_dtype", "features_d",
                               "features_enabled", "segment_rows", "background_merges",
                               "id_base"}
_MAX_ROWS = 1 << 62
_MAX_NEXT_ID = 1 << 63


def _check_meta(meta, ck: _Checker) -> dict:
    from .codes import check_nbits
    from .features import FEATURE_DTYPES
    from .searchers import search_methods
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
    if not isinstance(method, str) or method not in search_methods():
        ck.fail(f"method must be one of {search_methods()}, got {method!r}")
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
