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


@numba.njit(inline="always", nogil=True)
def _probe_batch(keys, nk, j, s, meta, offs, hk, hv, pos, occ, tc, sfx, flat, ids, q, qi,
                 qkeys, sub_start, sub_len, k, skip, cd, ci, cnt, T, probes, verified, work,
                 seen, ds):
    """Look up and verify keys[:nk] of table j in one segment (``ds``: an
    int32 scratch of :data:`DIST_BLOCK` distances)."""
    seg_n = pos.shape[1]
    if seg_n == 0:
        return cnt, T, probes, verified, work
    w = q.shape[1]
    n_rows = flat.shape[0] // w
    inline = tc.shape[0] > 0
    bitmap = seen.shape[0] > 0
    check = (s > 0 or j > 0) and not bitmap
    if nk > 1:  # the batch's lookups overlap (a hint: harmless if unused)
        for i in range(nk):
            _bucket_prefetch(meta, offs, hk, hv, occ, j, keys[i])
    if meta[j, 0] == SPARSE:
        if sfx.shape[1] == 0:  # never built so (hamsearch.mih checks the layout)
            return cnt, T, probes, verified, work
        smask = (np.int64(1) << meta[j, 2]) - 1
        for i in range(nk):
            b0, b1 = _bucket(meta, offs, hk, hv, occ, j, keys[i])
            want = np.uint8(keys[i] & smask)
            nmatch = 0
            for t in range(b0, b1):
                if sfx[j, t] != want:
                    continue
                nmatch += 1
                p = np.int64(pos[j, t])
                if p < 0 or p >= n_rows:  # only a crafted table file: never read it
                    continue
                if inline:
                    src = tc
                    base = (j * seg_n + t) * w
                else:
                    src = flat
                    base = p * w
                if bitmap and _seen_test_set(seen, p):
                    continue
                d = _dist(src, base, q, qi, w)
                if d <= T:
                    if check and _seen_before(src, base, qkeys, sub_start, sub_len, s, j):
                        continue
                    cnt, T = _take(d, p, ids, k, skip, cd, ci, cnt, T)
            probes += 1
            verified += nmatch
            work += PROBE_COST + nmatch * (w if inline else RANDOM_COST)
            if b1 > b0:
                work += (b1 - b0) // SFX_PER_UNIT
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
                    if d > T:
                        continue
                    t = t0 + u
                    p = np.int64(pos[j, t])
                    if p < 0 or p >= n_rows:  # only a crafted table file: never read it
                        continue
                    if bitmap and _seen_test_set(seen, p):
                        continue
                    if check and _seen_before(tc, base0 + u * w, qkeys, sub_start, sub_len, s,
                                              j):
                        continue
                    cnt, T = _take(d, p, ids, k, skip, cd, ci, cnt, T)
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
                if p < 0 or p >= n_rows:  # only a crafted table file: never read it
                    continue
                base = p * w
                if bitmap and _seen_test_set(seen, p):
                    continue
                d = _dist(flat, base, q, qi, w)
                if d <= T:
                    if check and _seen_before(flat, base, qkeys, sub_start, sub_len, s, j):
                        continue
                    cnt, T = _take(d, p, ids, k, skip, cd, ci, cnt, T)
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
def _probe_grouped(pre, tgt, nk, qs, j, s, meta, offs, pos, tc, sfx, flat, ids, q, qi, qkeys,
                   sub_start, sub_len, k, skip, cd, ci, cnt, T, probes, verified, work,
                   seen):
    """Visit prefix buckets pre[:nk] of sparse table j in one segment: its
    entries whose suffix is at distance tgt[i] from the query's (qs) are
    at distance exactly s on substring j (twin of ``probe_grouped``)."""
    seg_n = pos.shape[1]
    if seg_n == 0:
        return cnt, T, probes, verified, work
    w = q.shape[1]
    n_rows = flat.shape[0] // w
    inline = tc.shape[0] > 0
    bitmap = seen.shape[0] > 0
    check = (s > 0 or j > 0) and not bitmap
    base_o = meta[j, 1]
    if nk > 1:
        for i in range(nk):
            prefetch(offs, base_o + pre[i])
    for i in range(nk):
        b0 = np.int64(offs[base_o + pre[i]])
        b1 = np.int64(offs[base_o + pre[i] + 1])
        want = tgt[i]
        nmatch = 0
        for t in range(b0, b1):
            if popcount64(np.uint64(np.int64(sfx[j, t]) ^ qs)) != want:
                continue
            nmatch += 1
            p = np.int64(pos[j, t])
            if p < 0 or p >= n_rows:  # only a crafted table file: never read it
                continue
            if inline:
                src = tc
                base = (j * seg_n + t) * w
            else:
                src = flat
                base = p * w
            if bitmap and _seen_test_set(seen, p):
                continue
            d = _dist(src, base, q, qi, w)
            if d <= T:
                if check and _seen_before(src, base, qkeys, sub_start, sub_len, s, j):
                    continue
                cnt, T = _take(d, p, ids, k, skip, cd, ci, cnt, T)
        probes += 1
        verified += nmatch
        work += PROBE_COST + nmatch * (w if inline else RANDOM_COST)
        if b1 > b0:
            work += (b1 - b0) // SFX_PER_UNIT
    return cnt, T, probes, verified, work
