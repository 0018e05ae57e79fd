"""Bucket lookup and verification of multi-index tables (twins of
``mih_bucket`` and ``mih_grouped`` in ``csrc/mih.c``, ``probe_sparse`` /
``probe_grouped`` in ``csrc/mih_impl.h``).

A probe looks a key up in table ``j`` of one segment (dense CSR with an
occupancy bitmap, sparse CSR over the key's top bits with a suffix byte per
entry, or an open-addressing hash), then verifies each code of the bucket
with the full popcount distance (from the inline codes, in table order, or
by random access to the database rows) and hands the codes that can still
be results to :func:`hamsearch._numba.mih.take._take`.  Each probe adds its
cost in work units (``PROBE_COST``, ``RANDOM_COST``, ``SFX_PER_UNIT``) to the
query's work, which the search compares with its budget.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from ..popcount import popcount64
from ..prefetch import prefetch
from .keys import _hash
from .seen import _seen_before, _seen_test_set
from .take import _take

# Work units (~ one code word of a linear scan) per bucket probe and per
# code verified by random access (an inline code costs its word count).
PROBE_COST = 32
RANDOM_COST = 32
# Table kinds in meta[:, 0] (csrc/mih.h: HS_MIH_DENSE, HS_MIH_SPARSE; >= 0: hash).
DENSE = -1
SPARSE = -2
# Suffix bytes of a sparse table scanned per work unit (MIH_SFX_PER_UNIT).
SFX_PER_UNIT = 8
# Rows ahead whose codes (and seen-bitmap words) the non-inline verification
# of a dense or hashed bucket prefetches (as MIH_AHEAD in csrc/mih.c).
PREFETCH_AHEAD = 12
# Inline codes of a bucket whose distances are computed together (a loop
# LLVM vectorises) before the candidates within the threshold are kept.
DIST_BLOCK = 256


@numba.njit(inline="always", nogil=True)
def _bucket(meta, offs, hkeys, hvals, occ, j, key):
    hmask = meta[j, 0]
    if hmask == SPARSE:
        o = meta[j, 1] + (key >> meta[j, 2])
        return np.int64(offs[o]), np.int64(offs[o + 1])
    if hmask < 0:
        word = occ[meta[j, 2] + (key >> 6)]
        if (word >> np.uint64(key & 63)) & np.uint64(1) == 0:
            return np.int64(0), np.int64(0)
        o = meta[j, 1] + key
        return np.int64(offs[o]), np.int64(offs[o + 1])
    base = meta[j, 2]
    h = _hash(key, hmask)
    while True:
        v = hvals[base + h]
        if v < 0:
            return np.int64(0), np.int64(0)
        if np.int64(hkeys[base + h]) == key:
            o = meta[j, 1] + v
            return np.int64(offs[o]), np.int64(offs[o + 1])
        h = (h + 1) & hmask


@numba.njit(inline="always", nogil=True)
def _bucket_prefetch(meta, offs, hkeys, hvals, occ, j, key):
    """Prefetch what :func:`_bucket` reads first for ``key`` (the bucket's
    offsets, its occupancy word or its hash slot), so that the lookups of a
    batch of keys overlap (``mih_bucket_prefetch`` in C)."""
    hmask = meta[j, 0]
    if hmask == SPARSE:
        prefetch(offs, meta[j, 1] + (key >> meta[j, 2]))
    elif hmask < 0:
        prefetch(occ, meta[j, 2] + (key >> 6))
        prefetch(offs, meta[j, 1] + key)
    else:
        h = _hash(key, hmask)
        prefetch(hkeys, meta[j, 2] + h)
        prefetch(hvals, meta[j, 2] + h)


@numba.njit(inline="always", nogil=True)
def _dist(src, base, q, qi, w):
    """Distance from the code at ``src[base : base + w]`` to query row ``qi``."""
    if w == 4:
        return (popcount64(src[base] ^ q[qi, 0]) + popcount64(src[base + 1] ^ q[qi, 1])
                + popcount64(src[base + 2] ^ q[qi, 2]) + popcount64(src[base + 3] ^ q[qi, 3]))
    if w == 1:
        return popcount64(src[base] ^ q[qi, 0])
    if w == 2:
        return popcount64(src[base] ^ q[qi, 0]) + popcount64(src[base + 1] ^ q[qi, 1])
    s = 0
    for t in range(w):
        s += popcount64(src[base + t] ^ q[qi, t])
    return s


class _ProbeContext(NamedTuple):
    """What the probes of table ``j`` at radius ``s`` in one non-empty
    segment need to know (:func:`_probe_context`)."""

    #: Rows in the segment.
    seg_n: int
    #: Words per code.
    w: int
    #: Rows in the database.
    n_rows: int
    #: Whether the segment stores the codes in table order.
    inline: bool
    #: Whether the query's seen bitmap de-duplicates candidates.
    bitmap: bool
    #: Whether :func:`_seen_before` must (no bitmap, and not the first table
    #: at radius 0, where no code can have been met before).
    check: bool


@numba.njit(inline="always", nogil=True)
def _probe_context(pos, flat, tc, seen, q, rad, j):
    """The :class:`_ProbeContext` of table ``j`` in one non-empty segment
    (``rad``: the radius each table has been searched to, -1 not yet): computed once per probe call and handed to the
    per-bucket helpers (recomputed per bucket, its division would be too)."""
    w = q.shape[1]
    bitmap = seen.shape[0] > 0
    met_other = False
    for jj in range(rad.shape[0]):
        if jj != j and rad[jj] >= 0:
            met_other = True
    check = met_other and not bitmap
    return _ProbeContext(pos.shape[1], w, flat.shape[0] // w, tc.shape[0] > 0, bitmap, check)


@numba.njit(inline="always", nogil=True)
def _fresh_row(p, n_rows, bitmap, seen):
    """Whether row ``p`` can be verified: a database row (an entry out of
    range comes only from a crafted table file, and is never read) that the
    seen bitmap, when there is one, has not met before (it marks it met)."""
    if p < 0 or p >= n_rows:
        return False
    return not (bitmap and _seen_test_set(seen, p))


@numba.njit(inline="always", nogil=True)
def _keep(d, p, src, base, check, qkeys, sub_start, sub_len, rad, j, ids, k, skip, cd, ci, cnt,
          T):
    """Take row ``p`` (its code at ``src[base:]``, distance ``d <= T``)
    unless ``check`` and its other substrings show that the enumeration met
    it before; returns ``(cnt, T)``."""
    if check and _seen_before(src, base, qkeys, sub_start, sub_len, rad, j):
        return cnt, T
    return _take(d, p, ids, k, skip, cd, ci, cnt, T)


@numba.njit(inline="always", nogil=True)
def _verify(src, base, p, ctx, q, qi, qkeys, sub_start, sub_len, rad, j, ids, k, skip, cd, ci,
            cnt, T, seen):
    """Verify row ``p`` of a bucket (its code at ``src[base:]``; ``ctx``:
    :func:`_probe_context`): the full distance, then :func:`_keep` when it
    is within ``T``; returns ``(cnt, T)``."""
    if not _fresh_row(p, ctx.n_rows, ctx.bitmap, seen):
        return cnt, T
    d = _dist(src, base, q, qi, ctx.w)
    if d > T:
        return cnt, T
    return _keep(d, p, src, base, ctx.check, qkeys, sub_start, sub_len, rad, j, ids, k, skip, cd, ci,
                 cnt, T)


@numba.njit(inline="always", nogil=True)
def _scan_sparse_bucket(b0, b1, qs, dist, ctx, j, rad, pos, tc, sfx, flat, ids, q, qi, qkeys,
                        sub_start, sub_len, k, skip, cd, ci, cnt, T, probes, verified, work,
                        seen):
    """Verify the entries ``b0:b1`` of sparse table ``j`` (one prefix
    bucket of a non-empty segment, ``ctx``: :func:`_probe_context`) whose
    suffix byte is at popcount distance ``dist`` from ``qs``, and count the
    probe; returns ``(cnt, T, probes, verified, work)``.

    Serves both sparse probes: the grouped one (``dist`` = the suffix
    distance the prefix leaves to reach ``s``) and the one of a single key
    (``qs`` its suffix, ``dist`` 0: equality; LLVM folds ``popcount(x) ==
    0`` into ``x == 0`` once the constant 0 is inlined).
    """
    seg_n, w, inline = ctx.seg_n, ctx.w, ctx.inline
    nmatch = 0
    for t in range(b0, b1):
        if popcount64(np.uint64(np.int64(sfx[j, t]) ^ qs)) != dist:
            continue
        nmatch += 1
        p = np.int64(pos[j, t])
        if inline:
            src = tc
            base = (j * seg_n + t) * w
        else:
            src = flat
            base = p * w
        cnt, T = _verify(src, base, p, ctx, q, qi, qkeys, sub_start, sub_len, rad, j, ids, k,
                         skip, cd, ci, cnt, T, seen)
    probes += 1
    verified += nmatch
    work += PROBE_COST + nmatch * (w if inline else RANDOM_COST)
    if b1 > b0:
        work += (b1 - b0) // SFX_PER_UNIT
    return cnt, T, probes, verified, work


@numba.njit(inline="always", nogil=True)
def _probe_batch(keys, nk, j, rad, meta, offs, hk, hv, pos, occ, tc, sfx, flat, ids, q, qi,
                 qkeys, sub_start, sub_len, k, skip, cd, ci, cnt, T, probes, verified, work,
                 seen, ds):
    """Look up and verify keys[:nk] of table j in one segment (``ds``: an
    int32 scratch of :data:`DIST_BLOCK` distances)."""
    if pos.shape[1] == 0:
        return cnt, T, probes, verified, work
    ctx = _probe_context(pos, flat, tc, seen, q, rad, j)
    seg_n, w, n_rows, inline, bitmap, check = ctx
    if nk > 1:  # the batch's lookups overlap (a hint: harmless if unused)
        for i in range(nk):
            _bucket_prefetch(meta, offs, hk, hv, occ, j, keys[i])
    if meta[j, 0] == SPARSE:
        if sfx.shape[1] == 0:  # never built so (hamsearch.mih checks the layout)
            return cnt, T, probes, verified, work
        smask = (np.int64(1) << meta[j, 2]) - 1
        for i in range(nk):
            b0, b1 = _bucket(meta, offs, hk, hv, occ, j, keys[i])
            # the key's suffix byte (as uint8: the byte a suffix is compared with)
            want = np.int64(np.uint8(keys[i] & smask))
            cnt, T, probes, verified, work = _scan_sparse_bucket(
                b0, b1, want, 0, ctx, j, rad, pos, tc, sfx, flat, ids, q, qi, qkeys, sub_start,
                sub_len, k, skip, cd, ci, cnt, T, probes, verified, work, seen)
        return cnt, T, probes, verified, work
    for i in range(nk):
        b0, b1 = _bucket(meta, offs, hk, hv, occ, j, keys[i])
        probes += 1
        verified += b1 - b0
        if inline:
            work += PROBE_COST + (b1 - b0) * w
            # the bucket's codes are contiguous: their distances a block at a
            # time (a loop LLVM vectorises), then the rows within the threshold
            for t0 in range(b0, b1, DIST_BLOCK):
                t1 = min(b1, t0 + DIST_BLOCK)
                base0 = (j * seg_n + t0) * w
                if w == 1:
                    qv = q[qi, 0]
                    for u in range(t1 - t0):
                        ds[u] = popcount64(tc[base0 + u] ^ qv)
                else:
                    for u in range(t1 - t0):
                        ds[u] = _dist(tc, base0 + u * w, q, qi, w)
                for u in range(t1 - t0):
                    d = np.int64(ds[u])
                    if d > T:  # (tested first here: a row beyond T is not marked seen)
                        continue
                    p = np.int64(pos[j, t0 + u])
                    if _fresh_row(p, n_rows, bitmap, seen):
                        cnt, T = _keep(d, p, tc, base0 + u * w, check, qkeys, sub_start, sub_len,
                                       rad, j, ids, k, skip, cd, ci, cnt, T)
        else:
            work += PROBE_COST + (b1 - b0) * RANDOM_COST
            for t in range(b0, min(b1, b0 + PREFETCH_AHEAD)):
                prefetch(flat, np.int64(pos[j, t]) * w)
            for t in range(b0, b1):
                ta = t + PREFETCH_AHEAD
                if ta < b1:  # a prefetch never faults, whatever the row
                    pa = np.int64(pos[j, ta])
                    prefetch(flat, pa * w)
                    if bitmap:
                        prefetch(seen, 2 + np.int64(seen[1]) + (pa >> 6))
                p = np.int64(pos[j, t])
                cnt, T = _verify(flat, p * w, p, ctx, q, qi, qkeys, sub_start, sub_len, rad, j,
                                 ids, k, skip, cd, ci, cnt, T, seen)
    return cnt, T, probes, verified, work


@numba.njit(inline="always", nogil=True)
def _grouped(meta0, pos0, sfx0, meta1, pos1, sfx1, sub_len):
    """Per table: its suffix bits when it is sparse in every non-empty
    segment with the same suffix bits, else 0 (``mih_grouped`` in C)."""
    m = sub_len.shape[0]
    out = np.zeros(m, dtype=np.int64)
    for j in range(m):
        sb = -1
        for g in range(2):
            meta = meta0 if g == 0 else meta1
            seg_n = pos0.shape[1] if g == 0 else pos1.shape[1]
            has_sfx = (sfx0.shape[1] if g == 0 else sfx1.shape[1]) > 0
            if seg_n == 0 or sb == 0:
                continue
            v = meta[j, 2]
            if meta[j, 0] != SPARSE or not has_sfx or v < 1 or v > 8 or v >= sub_len[j] \
                    or (sb > 0 and v != sb):
                sb = 0
            else:
                sb = v
        out[j] = sb if sb > 0 else 0
    return out


@numba.njit(inline="always", nogil=True)
def _probe_grouped(pre, tgt, nk, qs, j, rad, meta, offs, pos, tc, sfx, flat, ids, q, qi, qkeys,
                   sub_start, sub_len, k, skip, cd, ci, cnt, T, probes, verified, work,
                   seen):
    """Visit prefix buckets pre[:nk] of sparse table j in one segment: its
    entries whose suffix is at distance tgt[i] from the query's (qs) are
    at distance exactly s on substring j (twin of ``probe_grouped``)."""
    if pos.shape[1] == 0:
        return cnt, T, probes, verified, work
    ctx = _probe_context(pos, flat, tc, seen, q, rad, j)
    base_o = meta[j, 1]
    if nk > 1:
        for i in range(nk):
            prefetch(offs, base_o + pre[i])
    for i in range(nk):
        o = base_o + pre[i]
        cnt, T, probes, verified, work = _scan_sparse_bucket(
            np.int64(offs[o]), np.int64(offs[o + 1]), qs, tgt[i], ctx, j, rad, pos, tc, sfx, flat,
            ids, q, qi, qkeys, sub_start, sub_len, k, skip, cd, ci, cnt, T, probes, verified,
            work, seen)
    return cnt, T, probes, verified, work
