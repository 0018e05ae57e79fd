"""The search loop of multi-index hashing, shared by k-NN and radius
search (twin of ``search_one`` in ``csrc/mih_impl.h``): for each query, substring
radius ``s`` and table ``j``, enumerate the keys at distance ``s`` (in
batches of :data:`BATCH`), probe both segments with them, stop on the
pigeonhole bound, and start over with a linear scan once the query's work
exceeds its budget (or leave the scan to the caller: see
:data:`DEFER_MIN_QUERIES`).
"""

from __future__ import annotations

import numba
import numpy as np

from ..flat import row_id
from ..popcount import BIG, block_distances
from ..topk import write_sorted
from .borrow import _borrowed
from .keys import _sub_key
from .probe import DIST_BLOCK, _grouped, _probe_batch, _probe_grouped
from .seen import _seen_reset
from .take import _take

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
#: The ``skip`` argument for ``skip=None`` (no row skipped).
_NO_SKIP = np.zeros(0, dtype=np.uint64)


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
    gsb = _grouped(meta0, pos0, sfx0, meta1, pos1, sfx1, sub_len)
    pre = np.empty(BATCH, dtype=np.int64)
    tgt = np.empty(BATCH, dtype=np.int64)
    rad = np.empty(m, dtype=np.int64)
    lastwork = np.empty(m, dtype=np.int64)
    ds = np.empty(DIST_BLOCK, dtype=np.int32)
    rcount = np.zeros(radius + 2 if k == 0 else 1, dtype=np.int64)
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
            # the tables one radius at a time, the next radius to the table
            # whose next one is predicted cheapest (as search_one in
            # csrc/mih_impl.h: the same choice, so the same stats)
            for j in range(m):
                rad[j] = -1
                lastwork[j] = 0
            radsum = -m
            while not done and not fallback:
                j = -1
                for jj in range(m):
                    if rad[jj] < 0:
                        j = jj
                        break
                    if j < 0:
                        j = jj
                        continue
                    a = lastwork[jj] * (sub_len[jj] - rad[jj]) * (rad[j] + 1)
                    b = lastwork[j] * (sub_len[j] - rad[j]) * (rad[jj] + 1)
                    if a < b or (a == b and rad[jj] < rad[j]):
                        j = jj
                s = rad[j] + 1
                length = sub_len[j]
                sb = gsb[j]
                work0 = work
                if sb > 0:
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
                            pre, tgt, nk, qs, j, rad, meta0, offs0, pos0, tc0, sfx0, flat,
                            ids, q, qi, qkeys, sub_start, sub_len, k, skip, cd, ci, cnt, T,
                            probes, verified, work, seen)
                        cnt, T, probes, verified, work = _probe_grouped(
                            pre, tgt, nk, qs, j, rad, meta1, offs1, pos1, tc1, sfx1, flat,
                            ids, q, qi, qkeys, sub_start, sub_len, k, skip, cd, ci, cnt, T,
                            probes, verified, work, seen)
                        if work > budget:
                            break
                    if work > budget:
                        fallback = True
                        break
                else:
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
                            keys, nk, j, rad, meta0, offs0, hk0, hv0, pos0, occ0, tc0, sfx0,
                            flat, ids, q, qi, qkeys, sub_start, sub_len, k, skip, cd, ci, cnt,
                            T, probes, verified, work, seen, ds)
                        cnt, T, probes, verified, work = _probe_batch(
                            keys, nk, j, rad, meta1, offs1, hk1, hv1, pos1, occ1, tc1, sfx1,
                            flat, ids, q, qi, qkeys, sub_start, sub_len, k, skip, cd, ci, cnt,
                            T, probes, verified, work, seen, ds)
                        if work > budget:
                            break
                    if work > budget:
                        fallback = True
                        break
                rad[j] = s
                radsum += 1
                lastwork[j] = work - work0
                if s == length or T <= radsum + m - 1:
                    done = True
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
            write_sorted(cd, ci, cnt, k, D, I, qi)
            continue
        # rows -> ids, ordered by (distance, id): a counting sort on the
        # distance (0 .. radius), then each distance's ids sorted (as the C
        # kernel's hs_pair_sort; a heap sort cost ~10x more per result)
        if total + cnt > outd.shape[0]:
            return qi, 0, total + cnt, total
        rcount[:] = 0
        for t in range(cnt):
            rcount[cd[t] + 1] += 1
        for d in range(radius + 1):
            rcount[d + 1] += rcount[d]
        for t in range(cnt):
            d = cd[t]
            o = total + rcount[d]
            rcount[d] += 1
            outd[o] = d
            outi[o] = row_id(ids, ci[t])
        a = total
        for d in range(radius + 1):  # rcount[d]: the end of distance d now
            b = total + rcount[d]
            if b - a > 1:
                outi[a:b].sort()
            a = b
        total += cnt
        counts[qi] = cnt
    return q1, 0, 0, total
