"""Multi-index hashing kernels in Numba (twin of ``csrc/mih.c``).

Table layout (built by :mod:`hamsearch.mih`, read here): a *segment*
indexes a contiguous range of database positions with one table per
substring, as the tuple ``(meta, offs, hkeys, hvals, pos, occ, tcodes, sfx)``
documented in ``csrc/mih.h`` -- dense CSR tables with an occupancy bitmap,
or open-addressing hashes into the same CSR arrays, and optionally the codes
in table order ("inline codes").

Search (Norouzi, Punjani & Fleet): for substring radius ``s = 0, 1, ...`` and
table ``j = 0 .. m-1``, every key at Hamming distance exactly ``s`` from the
query's substring ``j`` is looked up (Gosper's hack enumerates the flip
masks) and the codes of its bucket are verified with the full popcount
distance; a code that can still be a result is kept unless one of its other
substrings shows that the enumeration met it before (no visited set).  After
table ``j`` at radius ``s`` every code at distance ``<= s*m + j`` has been
seen (pigeonhole), so k-NN stops as soon as its k-th distance is within that
bound and radius search as soon as the bound reaches the radius.  A query
whose work (see ``PROBE_COST``) exceeds ``budget`` starts over with a linear
scan, so a query never costs much more than a flat scan.
"""

from __future__ import annotations

import os

import numba
import numpy as np
from numba.core import types
from numba.extending import intrinsic

from .._kernels import PAD_DISTANCE  # the one definition (a compile-time constant here)
from .flat import ROW_IDS, row_id
from .popcount import BIG, block_distances, popcount64
from .topk import heap_push, heap_replace_top, heap_sort, pair_greater

HASH_MUL = np.uint64(0x9E3779B97F4A7C15)
# Work units (~ one code word of a linear scan) per bucket probe and per
# code verified by random access (an inline code costs its word count).
PROBE_COST = 32
RANDOM_COST = 32
# Keys enumerated, then looked up, together; the budget is checked after each
# batch (as MIH_BATCH in csrc/mih.c, so that the probe counts in the stats
# agree).
BATCH = 32
# Rows per block of the fallback linear scan.
SCAN_BLOCK = 512
#: From this many queries in one call on, the queries that fall back to a
#: linear scan are scanned together afterwards by the flat kernel (which
#: shares each pass over the codes between queries) instead of one by one
#: inside the MIH loop (as ``MIH_DEFER_MIN_QUERIES`` in ``csrc/mih.c``).
DEFER_MIN_QUERIES = 2
#: From this many tables on, candidates are de-duplicated by a per-query
#: bitmap over the rows (one bit test, before the distance) instead of
#: re-deriving the other substrings' distances, for up to this many rows
#: (the bitmap is n / 8 bytes per work item): as ``MIH_SEEN_MIN_M`` /
#: ``MIH_SEEN_MAX_ROWS`` in ``csrc/mih.c``.
SEEN_MIN_M = 9
SEEN_MAX_ROWS = 1 << 28
# Table kinds in meta[:, 0] (csrc/mih.h: HS_MIH_DENSE, HS_MIH_SPARSE; >= 0: hash).
DENSE = -1
SPARSE = -2
# Suffix bytes of a sparse table scanned per work unit (MIH_SFX_PER_UNIT).
SFX_PER_UNIT = 8

__all__ = [
    "mih_counting_sort",
    "mih_hash_insert",
    "mih_key_counts",
    "mih_key_scatter",
    "mih_key_scatter_sparse",
    "mih_knn",
    "mih_range_search",
]


@intrinsic
def _borrowed(typingctx, arr):
    """A view of ``arr`` that holds no reference (null meminfo).

    Every array a jitted function binds (an argument of an inlined helper,
    an assignment) has its reference count incremented and decremented:
    atomic operations, on counters that all threads searching the same
    index share.  Per probe and per candidate they cost more than the search
    itself (most of the time, and the reason threads did not scale).  A
    borrowed view makes them no-ops; the caller must keep ``arr`` alive while
    the view is used (here: arrays passed in by the caller, which holds them
    for the whole call).
    """
    if not isinstance(arr, types.Array):
        return None

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        src = context.make_array(aryty)(context, builder, value=args[0])
        dst = context.make_array(aryty)(context, builder)
        context.populate_array(dst, data=src.data, shape=src.shape, strides=src.strides,
                               itemsize=src.itemsize, meminfo=None)
        return dst._getvalue()

    return arr(arr), codegen


@numba.njit(cache=True, nogil=True)
def counting_sort(keys, nbuckets, lo, offs, pos):
    """Group ``lo + i`` by ``keys[i]`` (stable): CSR ``offs`` (nbuckets + 1), ``pos``."""
    for b in range(nbuckets + 1):
        offs[b] = 0
    for i in range(keys.shape[0]):
        offs[np.int64(keys[i]) + 1] += 1
    for b in range(nbuckets):
        offs[b + 1] += offs[b]
    fill = offs[:nbuckets].copy()
    for i in range(keys.shape[0]):
        b = np.int64(keys[i])
        pos[fill[b]] = lo + i
        fill[b] += 1


@numba.njit(cache=True, nogil=True)
def key_counts(codes, start, length, counts):
    """``counts[key] += 1`` for the substring key of each row (twin of
    ``hs_mih_key_counts``)."""
    for i in range(codes.shape[0]):
        counts[_sub_key(codes, i, start, length)] += 1


@numba.njit(cache=True, nogil=True)
def key_scatter(codes, start, length, row0, fill, pos):
    """``pos[fill[key]++] = row0 + i`` for each row (twin of ``hs_mih_key_scatter``)."""
    for i in range(codes.shape[0]):
        key = _sub_key(codes, i, start, length)
        pos[fill[key]] = row0 + i
        fill[key] += 1


@numba.njit(cache=True, nogil=True)
def key_scatter_sparse(codes, start, length, sb, row0, fill, pos, sfx):
    """Sparse table: ``t = fill[key >> sb]++``, ``pos[t] = row0 + i``,
    ``sfx[t] = key & (2**sb - 1)`` (twin of ``hs_mih_key_scatter_sparse``)."""
    smask = (np.int64(1) << sb) - 1
    for i in range(codes.shape[0]):
        key = _sub_key(codes, i, start, length)
        b = key >> sb
        t = fill[b]
        fill[b] = t + 1
        pos[t] = row0 + i
        sfx[t] = np.uint8(key & smask)


@numba.njit(inline="always", nogil=True)
def _hash(key, hmask):
    return np.int64(((np.uint64(key) * HASH_MUL) >> np.uint64(32)) & np.uint64(hmask))


@numba.njit(cache=True, nogil=True)
def hash_insert(uniq, hkeys, hvals, hmask):
    """Insert distinct ``uniq`` keys (value = index) into an empty hash table."""
    for b in range(hvals.shape[0]):
        hvals[b] = -1
    for i in range(uniq.shape[0]):
        key = np.int64(uniq[i])
        h = _hash(key, hmask)
        while hvals[h] >= 0:
            h = (h + 1) & hmask
        hkeys[h] = key
        hvals[h] = i


@numba.njit(inline="always", nogil=True)
def _sub_key(q, qi, start, length):
    wi = start >> 6
    sh = start & 63
    v = q[qi, wi] >> np.uint64(sh)
    if sh + length > 64:
        v |= q[qi, wi + 1] << np.uint64(64 - sh)
    return np.int64(v & np.uint64((np.int64(1) << length) - 1))


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
def _key_flat(flat, base, start, length):
    wi = start >> 6
    sh = start & 63
    v = flat[base + wi] >> np.uint64(sh)
    if sh + length > 64:
        v |= flat[base + wi + 1] << np.uint64(64 - sh)
    return np.int64(v & np.uint64((np.int64(1) << length) - 1))


@numba.njit(inline="always", nogil=True)
def _seen_before(flat, base, qkeys, sub_start, sub_len, s, j):
    """True if the enumeration met this code before table j at radius s."""
    for jj in range(sub_len.shape[0]):
        if jj == j:
            continue
        dj = popcount64(np.uint64(_key_flat(flat, base, sub_start[jj], sub_len[jj]) ^ qkeys[jj]))
        if dj < s or (dj == s and jj < j):
            return True
    return False


#: ``seen[0]`` of a seen buffer whose list of set words overflowed.
_SEEN_FULL = np.uint64(0xFFFFFFFFFFFFFFFF)


@numba.njit(inline="always", nogil=True)
def _seen_buffer(n, m):
    """The rows met by one query, for :func:`_chunk` (empty unless ``m`` and
    ``n`` call for it, see :data:`SEEN_MIN_M`): one uint64 array holding
    ``[count, cap, the cap words set since the reset..., the bitmap...]``
    (one array: a call of more than 30 arguments compiles to a ``*args``
    call, which Numba cannot inline)."""
    words = (n + 63) >> 6 if m >= SEEN_MIN_M and 0 < n <= SEEN_MAX_ROWS else 0
    if words == 0:
        return np.zeros(0, dtype=np.uint64)
    cap = words // 16 + 64
    buf = np.zeros(2 + cap + words, dtype=np.uint64)
    buf[1] = cap
    return buf


@numba.njit(inline="always", nogil=True)
def _seen_test_set(buf, p):
    """True when row p was met before by this query; marks it met otherwise."""
    wi = 2 + np.int64(buf[1]) + (p >> 6)
    bit = np.uint64(1) << np.uint64(p & 63)
    word = buf[wi]
    if word & bit:
        return True
    if word == 0 and buf[0] != _SEEN_FULL:
        c = np.int64(buf[0])
        if c < np.int64(buf[1]):
            buf[2 + c] = np.uint64(wi)
            buf[0] = np.uint64(c + 1)
        else:
            buf[0] = _SEEN_FULL
    buf[wi] = word | bit
    return False


@numba.njit(inline="always", nogil=True)
def _seen_reset(buf):
    """Forget every row met (before each query)."""
    if buf.shape[0] == 0:
        return
    if buf[0] == _SEEN_FULL:
        buf[2 + np.int64(buf[1]):] = 0
    else:
        for i in range(np.int64(buf[0])):
            buf[np.int64(buf[2 + i])] = 0
    buf[0] = 0


@numba.njit(nogil=True, inline="always")
def _skipped(skip, p):
    return (skip[p >> 6] >> np.uint64(p & 63)) & np.uint64(1)


@numba.njit(inline="always", nogil=True)
def _take(d, p, ids, k, skip, cd, ci, cnt, T):
    """Keep candidate (distance d, row p), d <= T already checked; ``(cnt, T)``.

    k > 0: ``cd``/``ci`` are a max-heap of the k smallest ``(d, id)`` pairs
    kept so far and ``T`` becomes its root distance once it is full (the
    k-th smallest distance: the C kernel's threshold).  k == 0: (d, row)
    appended while ``cnt`` is within capacity; ``cnt`` counts them all.
    """
    if skip.shape[0] > 0 and _skipped(skip, p):
        return cnt, T
    if k > 0:
        idv = row_id(ids, p)
        if cnt < k:
            heap_push(cd, ci, cnt, d, idv)
            cnt += 1
            if cnt == k:
                T = np.int64(cd[0])
        elif pair_greater(np.int64(cd[0]), ci[0], d, idv):
            heap_replace_top(cd, ci, cnt, d, idv)
            T = np.int64(cd[0])
        return cnt, T
    if cnt < cd.shape[0]:
        cd[cnt] = d
        ci[cnt] = p
    return cnt + 1, T


@numba.njit(inline="always", nogil=True)
def _probe_batch(keys, nk, j, s, meta, offs, hk, hv, pos, occ, tc, sfx, flat, ids, q, qi,
                 qkeys, sub_start, sub_len, k, skip, cd, ci, cnt, T, probes, verified, work,
                 seen):
    """Look up and verify keys[:nk] of table j in one segment."""
    seg_n = pos.shape[1]
    if seg_n == 0:
        return cnt, T, probes, verified, work
    w = q.shape[1]
    n_rows = flat.shape[0] // w
    inline = tc.shape[0] > 0
    bitmap = seen.shape[0] > 0
    check = (s > 0 or j > 0) and not bitmap
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
            for t in range(b0, b1):
                p = np.int64(pos[j, t])
                if p < 0 or p >= n_rows:  # only a crafted table file: never read it
                    continue
                base = (j * seg_n + t) * w
                if bitmap and _seen_test_set(seen, p):
                    continue
                d = _dist(tc, base, q, qi, w)
                if d <= T:
                    if check and _seen_before(tc, base, qkeys, sub_start, sub_len, s, j):
                        continue
                    cnt, T = _take(d, p, ids, k, skip, cd, ci, cnt, T)
        else:
            work += PROBE_COST + (b1 - b0) * RANDOM_COST
            for t in range(b0, b1):
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


@numba.njit(nogil=True)
def _chunk(codes, ids, q, q0, q1, k, radius, sub_start, sub_len, meta0, offs0, hk0, hv0,
           pos0, occ0, tc0, sfx0, meta1, offs1, hk1, hv1, pos1, occ1, tc1, sfx1, budget, D, I,
           counts, stats, skip, cd, ci, keys, qkeys, dbuf, outd, outi, total, seen):
    """Search queries ``q0:q1``: k > 0 k-NN into rows of ``D``/``I``; k == 0
    radius search, appending to ``outd``/``outi`` from ``total`` (``counts``
    per query).  Returns ``(qi, need_c, need_out, total)``: ``qi == q1`` when
    done, else query ``qi`` needs ``cd``/``ci`` of ``need_c`` or the output of
    ``need_out`` entries (the caller grows them and calls again from ``qi``).

    Every array is used through a borrowed view (see ``_borrowed``) and
    every helper is inlined.  Rows set in the bitmap ``skip`` (empty: none)
    are never candidates.
    """
    codes = _borrowed(codes)
    ids = _borrowed(ids)
    q = _borrowed(q)
    sub_start = _borrowed(sub_start)
    sub_len = _borrowed(sub_len)
    meta0 = _borrowed(meta0)
    offs0 = _borrowed(offs0)
    hk0 = _borrowed(hk0)
    hv0 = _borrowed(hv0)
    pos0 = _borrowed(pos0)
    occ0 = _borrowed(occ0)
    tc0 = _borrowed(tc0)
    sfx0 = _borrowed(sfx0)
    meta1 = _borrowed(meta1)
    offs1 = _borrowed(offs1)
    hk1 = _borrowed(hk1)
    hv1 = _borrowed(hv1)
    pos1 = _borrowed(pos1)
    occ1 = _borrowed(occ1)
    tc1 = _borrowed(tc1)
    sfx1 = _borrowed(sfx1)
    D = _borrowed(D)
    I = _borrowed(I)
    counts = _borrowed(counts)
    stats = _borrowed(stats)
    skip = _borrowed(skip)
    cd = _borrowed(cd)
    ci = _borrowed(ci)
    keys = _borrowed(keys)
    qkeys = _borrowed(qkeys)
    dbuf = _borrowed(dbuf)
    outd = _borrowed(outd)
    outi = _borrowed(outi)
    seen = _borrowed(seen)
    n, w = codes.shape
    m = sub_len.shape[0]
    flat = _borrowed(codes.reshape(n * w))
    maxlen = 0
    for j in range(m):
        maxlen = max(maxlen, sub_len[j])
    gsb = _grouped(meta0, pos0, sfx0, meta1, pos1, sfx1, sub_len)
    pre = np.empty(BATCH, dtype=np.int64)
    tgt = np.empty(BATCH, dtype=np.int64)
    for qi in range(q0, q1):
        T = np.int64(BIG) if k > 0 else np.int64(radius)
        cnt = 0
        _seen_reset(seen)
        if n > 0:
            for j in range(m):
                qkeys[j] = _sub_key(q, qi, sub_start[j], sub_len[j])
            probes = 0
            verified = 0
            work = 0
            fallback = False
            done = False
            for s in range(maxlen + 1):
                for j in range(m):
                    length = sub_len[j]
                    sb = gsb[j]
                    if s <= length and sb > 0:
                        # sparse in every segment: prefix buckets at distance h
                        # (s - sb <= h <= s), each with the suffix distance s - h
                        # its codes need (as the C kernel's grouped enumeration)
                        P = length - sb
                        qp = qkeys[j] >> sb
                        qs = qkeys[j] & ((np.int64(1) << sb) - 1)
                        h = max(0, s - sb)
                        hmax = min(s, P)
                        plim = np.int64(1) << P
                        pm = (np.int64(1) << h) - 1
                        while h <= hmax:
                            nk = 0
                            while h <= hmax and nk < BATCH:
                                pre[nk] = qp ^ pm
                                tgt[nk] = s - h
                                nk += 1
                                if h == 0:
                                    pm = plim
                                else:
                                    c = pm & -pm
                                    r = pm + c
                                    pm = (((r ^ pm) >> 2) // c) | r
                                if pm >= plim:
                                    h += 1
                                    pm = (np.int64(1) << h) - 1
                            cnt, T, probes, verified, work = _probe_grouped(
                                pre, tgt, nk, qs, j, s, meta0, offs0, pos0, tc0, sfx0, flat,
                                ids, q, qi, qkeys, sub_start, sub_len, k, skip, cd, ci, cnt, T,
                                probes, verified, work, seen)
                            cnt, T, probes, verified, work = _probe_grouped(
                                pre, tgt, nk, qs, j, s, meta1, offs1, pos1, tc1, sfx1, flat,
                                ids, q, qi, qkeys, sub_start, sub_len, k, skip, cd, ci, cnt, T,
                                probes, verified, work, seen)
                            if work > budget:
                                break
                        if work > budget:
                            fallback = True
                            break
                    elif s <= length:
                        mask = (np.int64(1) << s) - 1
                        lim = np.int64(1) << length
                        qk = qkeys[j]
                        while mask < lim:
                            # a batch of keys (as the C kernel: budget checked per batch)
                            nk = 0
                            while mask < lim and nk < BATCH:
                                keys[nk] = qk ^ mask
                                nk += 1
                                if s == 0:
                                    mask = lim
                                    break
                                c = mask & -mask
                                r = mask + c
                                mask = (((r ^ mask) >> 2) // c) | r
                            cnt, T, probes, verified, work = _probe_batch(
                                keys, nk, j, s, meta0, offs0, hk0, hv0, pos0, occ0, tc0, sfx0,
                                flat, ids, q, qi, qkeys, sub_start, sub_len, k, skip, cd, ci, cnt,
                                T, probes, verified, work, seen)
                            cnt, T, probes, verified, work = _probe_batch(
                                keys, nk, j, s, meta1, offs1, hk1, hv1, pos1, occ1, tc1, sfx1,
                                flat, ids, q, qi, qkeys, sub_start, sub_len, k, skip, cd, ci, cnt,
                                T, probes, verified, work, seen)
                            if work > budget:
                                break
                        if work > budget:
                            fallback = True
                            break
                    if s == length or T <= s * m + j:
                        done = True
                        break
                if done or fallback:
                    break
            stats[qi, 0] = probes
            stats[qi, 1] = verified
            stats[qi, 2] = 1 if fallback else 0
            if fallback:
                # start over with a linear scan, in blocks (a block whose
                # minimum distance is above T is rejected with one comparison);
                # an empty dbuf leaves the scan to the caller (the query's
                # result stays empty here: see _scan_deferred)
                cnt = 0
                T = np.int64(BIG) if k > 0 else np.int64(radius)
                nb = max(dbuf.shape[0], 1)
                for r0 in range(0, n if dbuf.shape[0] > 0 else 0, nb):
                    r1 = min(n, r0 + nb)
                    if block_distances(codes, r0, r1, q, qi, dbuf) > T:
                        continue
                    for t in range(r1 - r0):
                        d = np.int64(dbuf[t])
                        if d <= T:
                            cnt, T = _take(d, r0 + t, ids, k, skip, cd, ci, cnt, T)
            if k == 0 and cnt > cd.shape[0]:
                # the candidate buffers overflowed: search again with room
                return qi, cnt, 0, total
        if k > 0:
            heap_sort(cd, ci, cnt)
            for t in range(cnt):
                D[qi, t] = cd[t]
                I[qi, t] = ci[t]
            for t in range(cnt, k):
                D[qi, t] = PAD_DISTANCE
                I[qi, t] = -1
            continue
        # rows -> ids, then sort by (distance, id): heapify and heap-sort
        for t in range(cnt):
            heap_push(cd, ci, t, cd[t], row_id(ids, ci[t]))
        heap_sort(cd, ci, cnt)
        if total + cnt > outd.shape[0]:
            return qi, 0, total + cnt, total
        for t in range(cnt):
            outd[total + t] = cd[t]
            outi[total + t] = ci[t]
        total += cnt
        counts[qi] = cnt
    return q1, 0, 0, total


@numba.njit(cache=True, nogil=True)
def knn_chunk(codes, ids, queries, q0, q1, k, sub_start, sub_len, meta0, offs0, hk0, hv0,
              pos0, occ0, tc0, sfx0, meta1, offs1, hk1, hv1, pos1, occ1, tc1, sfx1, budget, D, I,
              stats, skip, defer):
    """Exact k-NN of queries ``q0:q1`` into rows of ``D``/``I``; with
    ``defer``, a query that falls back to a scan is left padded (the caller
    scans those queries together)."""
    cd = np.empty(k, dtype=np.int32)
    ci = np.empty(k, dtype=np.int64)
    keys = np.empty(BATCH, dtype=np.int64)
    qkeys = np.empty(sub_len.shape[0], dtype=np.int64)
    dbuf = np.empty(0 if defer else SCAN_BLOCK, dtype=np.int32)
    counts = np.zeros(0, dtype=np.int64)
    outd = np.zeros(0, dtype=np.int32)
    outi = np.zeros(0, dtype=np.int64)
    seen = _seen_buffer(codes.shape[0], sub_len.shape[0])
    _chunk(codes, ids, queries, q0, q1, k, 0, sub_start, sub_len, meta0, offs0, hk0, hv0,
           pos0, occ0, tc0, sfx0, meta1, offs1, hk1, hv1, pos1, occ1, tc1, sfx1, budget, D, I,
           counts, stats, skip, cd, ci, keys, qkeys, dbuf, outd, outi, 0, seen)


@numba.njit(cache=True, nogil=True)
def range_chunk(codes, ids, queries, q0, q1, radius, sub_start, sub_len, meta0, offs0, hk0,
                hv0, pos0, occ0, tc0, sfx0, meta1, offs1, hk1, hv1, pos1, occ1, tc1, sfx1, budget,
                counts, stats, skip, defer):
    """Radius search of queries ``q0:q1``; returns concatenated (D, I).  With
    ``defer`` a query that falls back to a scan gets no rows here (as
    :func:`knn_chunk`)."""
    cd = np.empty(256, dtype=np.int32)
    ci = np.empty(256, dtype=np.int64)
    keys = np.empty(BATCH, dtype=np.int64)
    qkeys = np.empty(sub_len.shape[0], dtype=np.int64)
    dbuf = np.empty(0 if defer else SCAN_BLOCK, dtype=np.int32)
    outd = np.empty(1024, dtype=np.int32)
    outi = np.empty(1024, dtype=np.int64)
    D = np.zeros((0, 0), dtype=np.int32)
    I = np.zeros((0, 0), dtype=np.int64)
    seen = _seen_buffer(codes.shape[0], sub_len.shape[0])
    qi = q0
    total = 0
    while True:
        qi, need_c, need_out, total = _chunk(
            codes, ids, queries, qi, q1, 0, radius, sub_start, sub_len, meta0, offs0, hk0,
            hv0, pos0, occ0, tc0, sfx0, meta1, offs1, hk1, hv1, pos1, occ1, tc1, sfx1, budget,
            D, I, counts, stats, skip, cd, ci, keys, qkeys, dbuf, outd, outi, total, seen)
        if qi >= q1:
            break
        if need_c > 0:
            newcap = max(2 * cd.shape[0], need_c)
            cd = np.empty(newcap, dtype=np.int32)
            ci = np.empty(newcap, dtype=np.int64)
        if need_out > 0:
            newcap = max(2 * outd.shape[0], need_out)
            nd = np.empty(newcap, dtype=np.int32)
            ni = np.empty(newcap, dtype=np.int64)
            nd[:total] = outd[:total]
            ni[:total] = outi[:total]
            outd = nd
            outi = ni
    return outd[:total].copy(), outi[:total].copy()


# ---------------------------------------------------------------------------
# Drivers (the backend interface used by hamsearch.mih)
# ---------------------------------------------------------------------------


def _grain(nq: int, nthreads: int) -> int:
    """Queries per work item: about 16 items per thread, 4 to 256 queries each."""
    return int(max(4, min(256, nq // (16 * nthreads) if nthreads > 1 else nq)))


_POOL = None
_POOL_LOCK = None


def _forget_pool() -> None:
    """In a forked child: the parent's worker threads do not exist there."""
    global _POOL, _POOL_LOCK
    _POOL = None
    _POOL_LOCK = None


os.register_at_fork(after_in_child=_forget_pool)


def _pool(nthreads: int):
    """The module's worker threads (started once, grown when a call wants
    more): starting threads per call cost ~0.3-0.5 ms, more than a whole
    small batch of queries.  A forked child starts a pool of its own."""
    global _POOL, _POOL_LOCK
    import threading
    from concurrent.futures import ThreadPoolExecutor

    if _POOL_LOCK is None:
        _POOL_LOCK = threading.Lock()
    with _POOL_LOCK:
        if _POOL is None or _POOL._max_workers < nthreads:
            old = _POOL
            _POOL = ThreadPoolExecutor(max_workers=nthreads,
                                       thread_name_prefix="hamsearch-mih")
            if old is not None:
                old.shutdown(wait=False)
        return _POOL


def _run(fn, nq: int, nthreads: int):
    """``fn(q0, q1)`` over query ranges, handed out dynamically to threads.

    The kernels release the GIL; query costs vary a lot (some fall back to a
    linear scan), so threads take small ranges as they go (as the C kernel's
    atomic counter does).  The calling thread works too, beside
    ``nthreads - 1`` workers of a persistent pool.  Returns
    ``[(q0, fn(q0, q1)), ...]`` by ``q0``.
    """
    nthreads = max(1, int(nthreads))
    g = _grain(nq, nthreads)
    nitems = (nq + g - 1) // g
    nthreads = min(nthreads, nitems)
    if nthreads <= 1:
        return [(0, fn(0, nq))]
    import itertools
    import threading

    counter = itertools.count()
    lock = threading.Lock()
    out = []

    def worker():
        mine = []
        while True:
            with lock:
                i = next(counter)
            if i >= nitems:
                break
            q0 = i * g
            q1 = min(nq, q0 + g)
            mine.append((q0, fn(q0, q1)))
        return mine

    pool = _pool(nthreads - 1)
    futures = [pool.submit(worker) for _ in range(nthreads - 1)]
    out.extend(worker())
    for f in futures:
        if not f.cancel():  # a worker that never started has nothing left to do
            out.extend(f.result())
    out.sort(key=lambda r: r[0])
    return out


def mih_counting_sort(keys, nbuckets, lo, offs, pos):
    """Stable grouping of positions ``lo + i`` by ``keys[i]`` (see module doc)."""
    counting_sort(keys, int(nbuckets), int(lo), offs, pos)


def mih_key_scatter_sparse(codes, start, length, sb, row0, fill, pos, sfx):
    """Sparse table: ``t = fill[key >> sb]++``, ``pos[t] = row0 + i``, ``sfx[t] = key & (2**sb - 1)``."""
    if codes.shape[0]:
        key_scatter_sparse(codes, int(start), int(length), int(sb), int(row0), fill, pos, sfx)


def mih_hash_insert(uniq, hkeys, hvals, hmask):
    """Fill an open-addressing table with the distinct keys ``uniq``."""
    hash_insert(uniq, hkeys, hvals, int(hmask))


def mih_key_counts(codes, start, length, counts):
    """Add each row's key (bits ``start .. start+length-1``) to ``counts`` (int32)."""
    if codes.shape[0]:
        key_counts(codes, int(start), int(length), counts)


def mih_key_scatter(codes, start, length, row0, fill, pos):
    """Write ``row0 + i`` at ``pos[fill[key]++]`` for each row ``i`` (in order)."""
    if codes.shape[0]:
        key_scatter(codes, int(start), int(length), int(row0), fill, pos)


_NO_SKIP = np.zeros(0, dtype=np.uint64)


def mih_knn(codes, ids, queries, k, sub_start, sub_len, seg0, seg1, budget, nthreads=1,
            skip=None):
    """Exact k-NN with multi-index tables; returns ``(D, I, stats)``.

    ``ids``: int64 ``(n,)``, or None for row ids (the id of row ``i`` is ``i``).
    ``stats`` is int64 ``(nq, 3)``: table probes, codes verified, and 1 when
    the query finished with a linear scan.
    """
    nq = queries.shape[0]
    k = int(k)
    D = np.empty((nq, k), dtype=np.int32)
    I = np.empty((nq, k), dtype=np.int64)
    stats = np.zeros((nq, 3), dtype=np.int64)
    if nq == 0:
        return D, I, stats
    ids = ROW_IDS if ids is None else ids
    skip = _NO_SKIP if skip is None else skip

    defer = nq >= DEFER_MIN_QUERIES

    def fn(q0, q1):
        knn_chunk(codes, ids, queries, q0, q1, k, sub_start, sub_len, *seg0, *seg1,
                  int(budget), D, I, stats, skip, defer)

    _run(fn, nq, nthreads)
    fb = np.flatnonzero(stats[:, 2]) if defer else ()
    if len(fb):
        from . import knn  # the package's flat driver (imported at call time: a cycle)

        D[fb], I[fb] = knn(codes, None if ids is ROW_IDS else ids, queries[fb], k,
                           nthreads, None if skip is _NO_SKIP else skip)
    return D, I, stats


def mih_range_search(codes, ids, queries, radius, sub_start, sub_len, seg0, seg1, budget,
                     nthreads=1, skip=None):
    """Radius search (``<= radius``) with multi-index tables; ``(lims, D, I, stats)``."""
    nq = queries.shape[0]
    counts = np.zeros(nq, dtype=np.int64)
    stats = np.zeros((nq, 3), dtype=np.int64)
    lims = np.zeros(nq + 1, dtype=np.int64)
    if nq == 0:
        return lims, np.zeros(0, np.int32), np.zeros(0, np.int64), stats
    ids = ROW_IDS if ids is None else ids
    skip = _NO_SKIP if skip is None else skip

    defer = nq >= DEFER_MIN_QUERIES

    def fn(q0, q1):
        return range_chunk(codes, ids, queries, q0, q1, int(radius), sub_start, sub_len,
                           *seg0, *seg1, int(budget), counts, stats, skip, defer)

    parts = [p for _, p in _run(fn, nq, nthreads)]
    np.cumsum(counts, out=lims[1:])
    D = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int32)
    I = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    fb = np.flatnonzero(stats[:, 2]) if defer else ()
    if len(fb):
        from . import range_search

        f_lims, f_D, f_I = range_search(codes, None if ids is ROW_IDS else ids, queries[fb],
                                        radius, nthreads, None if skip is _NO_SKIP else skip)
        lims, D, I = _splice_csr(lims, D, I, fb, f_lims, f_D, f_I)
    return lims, D, I, stats


def _splice_csr(lims, D, I, rows, r_lims, r_D, r_I):
    """CSR ``(lims, D, I)`` with the (empty) slices of queries ``rows``
    replaced by the slices of ``(r_lims, r_D, r_I)``, in order."""
    counts = np.diff(lims)
    counts[rows] = np.diff(r_lims)
    out_lims = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out_lims[1:])
    take = np.ones(len(counts), dtype=bool)
    take[rows] = False
    # destination of each kept entry: its query's new start + its offset
    dest_keep = np.repeat(out_lims[:-1][take] - lims[:-1][take], np.diff(lims)[take]) \
        + np.arange(len(D))
    dest_new = np.repeat(out_lims[:-1][rows] - r_lims[:-1], np.diff(r_lims)) \
        + np.arange(len(r_D))
    out_D = np.empty(out_lims[-1], dtype=np.int32)
    out_I = np.empty(out_lims[-1], dtype=np.int64)
    out_D[dest_keep] = D
    out_I[dest_keep] = I
    out_D[dest_new] = r_D
    out_I[dest_new] = r_I
    return out_lims, out_D, out_I
