"""Multi-index hashing kernels in Numba (twin of ``csrc/mih.c``).

Table layout (built by :mod:`hamsearch.mih`, read here): a *segment*
indexes a contiguous range of database positions with one table per
substring, as the tuple ``(meta, offs, hkeys, hvals, pos, occ, tcodes)``
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

import numba
import numpy as np

from .flat import ROW_IDS, row_id
from .popcount import BIG, popcount64

PAD_DISTANCE = 2**31 - 1
HASH_MUL = np.uint64(0x9E3779B97F4A7C15)
# Work units (~ one code word of a linear scan) per bucket probe and per
# code verified by random access (an inline code costs its word count).
PROBE_COST = 32
RANDOM_COST = 32

__all__ = [
    "mih_counting_sort",
    "mih_hash_insert",
    "mih_knn",
    "mih_range_search",
]


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
def _dist_flat(flat, base, q, qi, w):
    s = 0
    for t in range(w):
        s += popcount64(flat[base + t] ^ q[qi, t])
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


@numba.njit(nogil=True)
def _offer(d, p, cd, cp, cnt, hist, T, k):
    """Store candidate (d, p) (caller checked d <= T); return new state."""
    if cnt == cd.shape[0]:
        c2 = 0
        for i in range(cnt):
            if cd[i] <= T:
                cd[c2] = cd[i]
                cp[c2] = cp[i]
                c2 += 1
            else:
                hist[cd[i]] -= 1
        cnt = c2
        if cnt * 2 > cd.shape[0]:
            ncd = np.empty(cd.shape[0] * 2, dtype=np.int32)
            ncp = np.empty(cd.shape[0] * 2, dtype=np.int64)
            ncd[:cnt] = cd[:cnt]
            ncp[:cnt] = cp[:cnt]
            cd, cp = ncd, ncp
    cd[cnt] = d
    cp[cnt] = p
    cnt += 1
    hist[d] += 1
    if k > 0 and d < T and cnt >= k:
        acc = 0
        t = 0
        lim = min(T, hist.shape[0] - 1)
        while t <= lim:
            acc += hist[t]
            if acc >= k:
                break
            t += 1
        if acc >= k:
            T = t
    return cd, cp, cnt, T


@numba.njit(nogil=True)
def _query(codes, q, qi, k, radius, sub_start, sub_len, meta0, offs0, hk0, hv0, pos0, occ0,
           tc0, meta1, offs1, hk1, hv1, pos1, occ1, tc1, budget, cd, cp, hist, stats, skip):
    """Search one query; returns ``(cd, cp, cnt, T)`` (candidates with d <= T).

    Rows set in the bitmap ``skip`` (empty: none) are never candidates."""
    has_skip = skip.shape[0] > 0
    n = codes.shape[0]
    w = codes.shape[1]
    m = sub_len.shape[0]
    flat = codes.reshape(n * w)
    hist[:] = 0
    T = BIG if k > 0 else radius
    cnt = 0
    if n == 0:
        return cd, cp, cnt, T
    qkeys = np.empty(m, dtype=np.int64)
    maxlen = 0
    for j in range(m):
        qkeys[j] = _sub_key(q, qi, sub_start[j], sub_len[j])
        maxlen = max(maxlen, sub_len[j])
    probes = 0
    verified = 0
    work = 0
    fallback = False
    done = False
    for s in range(maxlen + 1):
        for j in range(m):
            length = sub_len[j]
            if s <= length:
                mask = (np.int64(1) << s) - 1
                lim = np.int64(1) << length
                while mask < lim:
                    key = qkeys[j] ^ mask
                    for sg in range(2):
                        if sg == 0:
                            meta, offs, hk, hv, pos, occ, tc = meta0, offs0, hk0, hv0, pos0, occ0, tc0
                        else:
                            meta, offs, hk, hv, pos, occ, tc = meta1, offs1, hk1, hv1, pos1, occ1, tc1
                        seg_n = pos.shape[1]
                        if seg_n == 0:
                            continue
                        b0, b1 = _bucket(meta, offs, hk, hv, occ, j, key)
                        probes += 1
                        verified += b1 - b0
                        inline = tc.shape[0] > 0
                        work += PROBE_COST + (b1 - b0) * (w if inline else RANDOM_COST)
                        for t in range(b0, b1):
                            if inline:
                                src = tc
                                base = (j * seg_n + t) * w
                            else:
                                src = flat
                                base = np.int64(pos[j, t]) * w
                            d = _dist_flat(src, base, q, qi, w)
                            if d <= T:
                                if s > 0 or j > 0:
                                    if _seen_before(src, base, qkeys, sub_start, sub_len, s, j):
                                        continue
                                if has_skip and _skipped(skip, np.int64(pos[j, t])):
                                    continue
                                cd, cp, cnt, T = _offer(d, np.int64(pos[j, t]), cd, cp, cnt,
                                                        hist, T, k)
                    if s == 0 or work > budget:
                        break
                    c = mask & -mask
                    r = mask + c
                    mask = (((r ^ mask) >> 2) // c) | r
                if work > budget:
                    fallback = True
                    break
            if s == length or T <= s * m + j:
                done = True
                break
        if done or fallback:
            break
    if fallback:
        hist[:] = 0
        cnt = 0
        T = BIG if k > 0 else radius
        for p in range(n):
            if has_skip and _skipped(skip, p):
                continue
            d = _dist_flat(flat, p * w, q, qi, w)
            if d <= T:
                cd, cp, cnt, T = _offer(d, p, cd, cp, cnt, hist, T, k)
    stats[qi, 0] = probes
    stats[qi, 1] = verified
    stats[qi, 2] = 1 if fallback else 0
    return cd, cp, cnt, T


@numba.njit(nogil=True, inline="always")
def _skipped(skip, p):
    return (skip[p >> 6] >> np.uint64(p & 63)) & np.uint64(1)


@numba.njit(nogil=True)
def _sorted_results(cd, cp, cnt, T, ids):
    """Candidates with d <= T as (distances, ids) sorted by (distance, id)."""
    nv = 0
    for i in range(cnt):
        if cd[i] <= T:
            nv += 1
    vd = np.empty(nv, dtype=np.int32)
    vi = np.empty(nv, dtype=np.int64)
    c = 0
    for i in range(cnt):
        if cd[i] <= T:
            vd[c] = cd[i]
            vi[c] = row_id(ids, cp[i])
            c += 1
    o1 = np.argsort(vi, kind="mergesort")
    vd = vd[o1]
    vi = vi[o1]
    o2 = np.argsort(vd, kind="mergesort")
    return vd[o2], vi[o2]


@numba.njit(cache=True, nogil=True)
def knn_chunk(codes, ids, queries, q0, q1, k, sub_start, sub_len, meta0, offs0, hk0, hv0,
              pos0, occ0, tc0, meta1, offs1, hk1, hv1, pos1, occ1, tc1, budget, D, I, stats,
              skip):
    """Exact k-NN of queries ``q0:q1`` into rows of ``D``/``I``."""
    n = codes.shape[0]
    cap = max(64, 2 * k)
    cd = np.empty(cap, dtype=np.int32)
    cp = np.empty(cap, dtype=np.int64)
    hist = np.zeros(64 * codes.shape[1] + 1, dtype=np.int64)
    for qi in range(q0, q1):
        cd, cp, cnt, T = _query(codes, queries, qi, k, 0, sub_start, sub_len, meta0, offs0,
                                hk0, hv0, pos0, occ0, tc0, meta1, offs1, hk1, hv1, pos1, occ1,
                                tc1, budget, cd, cp, hist, stats, skip)
        vd, vi = _sorted_results(cd, cp, cnt, T, ids)
        nv = min(k, vd.shape[0])
        for t in range(nv):
            D[qi, t] = vd[t]
            I[qi, t] = vi[t]
        for t in range(nv, k):
            D[qi, t] = PAD_DISTANCE
            I[qi, t] = -1


@numba.njit(cache=True, nogil=True)
def range_chunk(codes, ids, queries, q0, q1, radius, sub_start, sub_len, meta0, offs0, hk0,
                hv0, pos0, occ0, tc0, meta1, offs1, hk1, hv1, pos1, occ1, tc1, budget, counts,
                stats, skip):
    """Radius search of queries ``q0:q1``; returns concatenated (D, I)."""
    n = codes.shape[0]
    cd = np.empty(256, dtype=np.int32)
    cp = np.empty(256, dtype=np.int64)
    hist = np.zeros(64 * codes.shape[1] + 1, dtype=np.int64)
    outd = np.empty(256, dtype=np.int32)
    outi = np.empty(256, dtype=np.int64)
    total = 0
    for qi in range(q0, q1):
        cd, cp, cnt, T = _query(codes, queries, qi, 0, radius, sub_start, sub_len, meta0,
                                offs0, hk0, hv0, pos0, occ0, tc0, meta1, offs1, hk1, hv1, pos1,
                                occ1, tc1, budget, cd, cp, hist, stats, skip)
        vd, vi = _sorted_results(cd, cp, cnt, T, ids)
        nv = vd.shape[0]
        if total + nv > outd.shape[0]:
            newcap = max(2 * outd.shape[0], total + nv)
            nd = np.empty(newcap, dtype=np.int32)
            ni = np.empty(newcap, dtype=np.int64)
            nd[:total] = outd[:total]
            ni[:total] = outi[:total]
            outd, outi = nd, ni
        outd[total:total + nv] = vd
        outi[total:total + nv] = vi
        total += nv
        counts[qi] = nv
    return outd[:total].copy(), outi[:total].copy()


# ---------------------------------------------------------------------------
# Drivers (the backend interface used by hamsearch.mih)
# ---------------------------------------------------------------------------


def _chunks(nq: int, nthreads: int):
    nthreads = max(1, min(int(nthreads), nq))
    bounds = np.linspace(0, nq, nthreads + 1).astype(np.int64)
    return [(int(bounds[t]), int(bounds[t + 1])) for t in range(nthreads)]


def _run(fn, chunks):
    if len(chunks) == 1:
        return [fn(*chunks[0])]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
        return list(pool.map(lambda c: fn(*c), chunks))


def mih_counting_sort(keys, nbuckets, lo, offs, pos):
    """Stable grouping of positions ``lo + i`` by ``keys[i]`` (see module doc)."""
    counting_sort(keys, int(nbuckets), int(lo), offs, pos)


def mih_hash_insert(uniq, hkeys, hvals, hmask):
    """Fill an open-addressing table with the distinct keys ``uniq``."""
    hash_insert(uniq, hkeys, hvals, int(hmask))


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

    def fn(q0, q1):
        knn_chunk(codes, ids, queries, q0, q1, k, sub_start, sub_len, *seg0, *seg1,
                  int(budget), D, I, stats, _NO_SKIP if skip is None else skip)

    _run(fn, _chunks(nq, nthreads))
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

    def fn(q0, q1):
        return range_chunk(codes, ids, queries, q0, q1, int(radius), sub_start, sub_len,
                           *seg0, *seg1, int(budget), counts, stats,
                           _NO_SKIP if skip is None else skip)

    parts = _run(fn, _chunks(nq, nthreads))
    np.cumsum(counts, out=lims[1:])
    D = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int32)
    I = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    return lims, D, I, stats
