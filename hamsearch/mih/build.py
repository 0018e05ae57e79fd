"""Building one segment's multi-index tables (the arrays of ``csrc/mih.h``).

:func:`build_segment` builds every table over a range of rows: dense and
sparse tables by a two-pass counting sort over chunks of rows
(:func:`dense_offsets`), hash tables by sorting their distinct keys.  The
knobs tests patch live here: :data:`BUILD_CHUNK`, :data:`MAX_ROWS` and
``_mih_kernels`` (the kernel module building and searching the tables;
:mod:`hamsearch.mih.tables` and :mod:`hamsearch.mih.table_io` read them
from this module).
"""

from __future__ import annotations

import numpy as np

from .._backend import kernels
from .layout import KIND_DENSE, KIND_SPARSE, extract_substring, suffix_bits, table_kind

#: Rows per call of the table-building kernels (bounds their temporaries).
BUILD_CHUNK = 1 << 22
#: Rows one segment's tables can number (int32 row numbers).
MAX_ROWS = 2**31 - 1


def _mih_kernels():
    """The live backend's MIH kernels (every backend has them: see
    :mod:`hamsearch._kernels`)."""
    return kernels()


SEGMENT_FIELDS = ("meta", "offs", "hkeys", "hvals", "pos", "occ", "tcodes", "sfx")


def _empty_segment(m: int):
    return (
        np.zeros((m, 3), dtype=np.int64),
        np.zeros(1, dtype=np.int32),
        np.zeros(0, dtype=np.uint32),
        np.zeros(0, dtype=np.int32),
        np.zeros((m, 0), dtype=np.int32),
        np.zeros(0, dtype=np.uint64),
        np.zeros(0, dtype=np.uint64),
        np.zeros((m, 0), dtype=np.uint8),
    )


def dense_offsets(codes: np.ndarray, start: int, length: int, lo: int, pos: np.ndarray,
                  K=None, sb: int = 0, sfx=None) -> np.ndarray:
    """One dense table over substring bits ``start .. start+length-1`` of
    ``codes``: returns the CSR offsets (int32, ``2**length + 1``) and fills
    ``pos`` (int32, ``len(codes)``) with ``lo + row`` grouped by key,
    ascending within a key.

    A two-pass counting sort over chunks of :data:`BUILD_CHUNK` rows (count
    the keys, prefix sum, scatter the rows): the only memory besides the
    offsets and ``pos`` is one copy of the bucket starts, whatever the
    number of codes -- no keys array, no temporaries per code.

    With ``sb > 0``, a sparse table: the buckets are the keys' top
    ``length - sb`` bits (offsets of ``2**(length - sb) + 1``), rows
    ascending within a bucket, and ``sfx`` (uint8, ``len(codes)``) gets
    each entry's low ``sb`` key bits.
    """
    K = _mih_kernels() if K is None else K
    n = codes.shape[0]
    sb = int(sb)
    nb = 1 << (int(length) - sb)
    offs = np.zeros(nb + 1, dtype=np.int32)
    counts = offs[1:]
    for a in range(0, n, BUILD_CHUNK):
        K.mih_key_counts(codes[a : a + BUILD_CHUNK], start + sb, length - sb, counts)
    np.cumsum(offs, out=offs)
    fill = offs[:-1].copy()
    for a in range(0, n, BUILD_CHUNK):
        if sb:
            K.mih_key_scatter_sparse(codes[a : a + BUILD_CHUNK], start, length, sb, lo + a,
                                     fill, pos, sfx)
        else:
            K.mih_key_scatter(codes[a : a + BUILD_CHUNK], start, length, lo + a, fill, pos)
    return offs


def build_segment(codes: np.ndarray, lo: int, hi: int, starts, lengths, inline: bool,
                  kind=None):
    """Tables over positions ``[lo, hi)`` of ``codes``.

    Returns the tuple ``(meta, offs, hkeys, hvals, pos, occ, tcodes, sfx)``
    described in ``csrc/mih.h``; ``tcodes`` is empty unless ``inline``,
    ``sfx`` (uint8 ``(m, hi - lo)``) unless a table is sparse.  ``kind``
    forces the kind of every table (see :func:`table_kind`), or of each
    (a list; None entries: the default rule).
    """
    m = len(lengths)
    seg_n = hi - lo
    if seg_n == 0:
        return _empty_segment(m)
    K = _mih_kernels()
    part = codes[lo:hi]
    w = codes.shape[1]
    meta = np.zeros((m, 3), dtype=np.int64)
    pos = np.empty((m, seg_n), dtype=np.int32)
    tcodes = np.empty((m, seg_n, w), dtype=np.uint64) if inline else np.zeros(0, np.uint64)
    per = kind if isinstance(kind, (list, tuple)) else [kind] * m
    kinds = [table_kind(int(b), seg_n, k) for b, k in zip(lengths, per)]
    # (zeroed, so a saved table file is deterministic: rows of non-sparse tables stay 0)
    sfx = np.zeros((m, seg_n if "sparse" in kinds else 0), dtype=np.uint8)
    offs_parts, hk_parts, hv_parts, occ_parts = [], [], [], []
    off_at = hash_at = occ_at = 0
    if hi > MAX_ROWS:
        raise ValueError(f"multi-index tables hold row numbers as int32: a segment has at "
                         f"most {MAX_ROWS} rows, got {hi}")
    for j in range(m):
        b = int(lengths[j])
        if kinds[j] == "sparse":
            sb = suffix_bits(b)
            offs = dense_offsets(part, int(starts[j]), b, lo, pos[j], K, sb, sfx[j])
            meta[j] = (KIND_SPARSE, off_at, sb)
        elif kinds[j] == "dense":
            nb = 1 << b
            offs = dense_offsets(part, int(starts[j]), b, lo, pos[j], K)
            bits = np.packbits(offs[1:] > offs[:-1], bitorder="little")
            occ = np.zeros(-(-len(bits) // 8) * 8, dtype=np.uint8)
            occ[: len(bits)] = bits
            occ_parts.append(occ.view(np.uint64))
            meta[j] = (KIND_DENSE, off_at, occ_at)
            occ_at += len(occ_parts[-1])
        else:
            keys = extract_substring(part, int(starts[j]), b)
            uniq, inv = np.unique(keys, return_inverse=True)
            nb = len(uniq)
            cap = 8
            while cap < 2 * nb:
                cap *= 2
            hk = np.zeros(cap, dtype=np.uint32)
            hv = np.empty(cap, dtype=np.int32)
            K.mih_hash_insert(uniq, hk, hv, cap - 1)
            offs = np.empty(nb + 1, dtype=np.int32)
            K.mih_counting_sort(inv.astype(np.uint32).ravel(), nb, lo, offs, pos[j])
            meta[j] = (cap - 1, off_at, hash_at)
            hk_parts.append(hk)
            hv_parts.append(hv)
            hash_at += cap
        if inline:
            for a in range(0, seg_n, BUILD_CHUNK):  # no (seg_n,) int64 temporary
                e = min(seg_n, a + BUILD_CHUNK)
                np.take(part, pos[j, a:e] - lo, axis=0, out=tcodes[j, a:e])
        offs_parts.append(offs)
        off_at += len(offs)
    hkeys = np.concatenate(hk_parts) if hk_parts else np.zeros(0, np.uint32)
    hvals = np.concatenate(hv_parts) if hv_parts else np.zeros(0, np.int32)
    occ = np.concatenate(occ_parts) if occ_parts else np.zeros(0, np.uint64)
    return meta, np.concatenate(offs_parts), hkeys, hvals, pos, occ, tcodes.reshape(-1), sfx


def _segment_nbytes(seg) -> int:
    return int(sum(a.nbytes for a in seg))
