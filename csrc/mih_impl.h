/*
 * mih_impl.h -- the per-query multi-index search, instantiated once per
 * popcount flavour by mih.c, which defines
 *
 *   HS_POP64(x)  popcount of one uint64_t
 *   HS_FN(name)  a unique static name for this flavour
 *
 * includes dist_impl.h first (HS_FN(dist): the one scalar distance, shared
 * with the scan kernels) and wraps both in the target options the flavour
 * needs.
 */

/* True when the enumeration met `code` before, in a table other than j:
 * some other substring jj is within the radius rad[jj] that table jj has
 * been enumerated to (with the tables taken in level order, rad[jj] is s
 * for jj < j and s - 1 for jj > j: closer than s, or as close and in an
 * earlier table). */
static inline int HS_FN(seen_before)(const mih_ctx *c, const int32_t *rad,
                                     const uint64_t *code, const uint32_t *qkeys, int j)
{
    for (int jj = 0; jj < c->m; jj++) {
        if (jj == j)
            continue;
        const int dj = HS_POP64(
            (uint64_t)(mih_sub_key(code, c->sub_start[jj], c->sub_len[jj]) ^ qkeys[jj]));
        if (dj <= rad[jj])
            return 1;
    }
    return 0;
}

/* Verify one candidate (row p, its code at `code`): kept unless its
 * distance is above *T or the enumeration met it before (the seen bitmap,
 * or its other substrings' distances); with a skip
 * bitmap it goes to the pending list (pend_d/pend_p, *npend entries) whose
 * bitmap words are prefetched.  Returns -1 when memory ran out. */
static inline int HS_FN(consider)(const mih_ctx *c, mih_ws *ws, const uint64_t *code,
                                  int64_t p, const uint64_t *q, const uint32_t *qkeys,
                                  int j, int64_t k, int32_t *T, int32_t *pend_d,
                                  int64_t *pend_p, int *npend)
{
    /* with the bitmap, a row met before costs no distance: T only falls,
     * so a row once above it stays above it */
    if (ws->seen && mih_seen_test_set(ws, p))
        return 0;
    const int32_t d = HS_FN(dist)(code, q, c->w);
    if (d > *T)
        return 0;
    if (!ws->seen && ws->met_other && HS_FN(seen_before)(c, ws->rad, code, qkeys, j))
        return 0;
    if (!c->skip)
        return mih_offer(ws, d, p, k, T);
    pend_d[*npend] = d;
    pend_p[*npend] = p;
    __builtin_prefetch(c->skip + (p >> 6));
    if (++*npend == MIH_PEND) {
        *npend = 0;
        return mih_offer_pending(ws, pend_d, pend_p, MIH_PEND, c->skip, k, T);
    }
    return 0;
}

/* Verify the collected candidates of a sparse table (entries cand_t, rows
 * cand_p, codes prefetched). */
static inline int HS_FN(sparse_flush)(const mih_ctx *c, mih_ws *ws, const uint64_t *tc,
                                      const int64_t *cand_t, const int64_t *cand_p,
                                      int ncand, const uint64_t *q, const uint32_t *qkeys,
                                      int j, int64_t k, int32_t *T)
{
    int32_t pend_d[MIH_PEND];
    int64_t pend_p[MIH_PEND];
    int npend = 0;
    for (int e = 0; e < ncand; e++) {
        const uint64_t *code = tc ? tc + cand_t[e] * c->w : c->codes + cand_p[e] * c->w;
        if (HS_FN(consider)(c, ws, code, cand_p[e], q, qkeys, j, k, T, pend_d, pend_p,
                            &npend))
            return -1;
    }
    if (npend && mih_offer_pending(ws, pend_d, pend_p, npend, c->skip, k, T))
        return -1;
    return 0;
}

/* A suffix match at entry tt (in probe_buckets). */
#define MIH_SPARSE_MATCH(tt)                                                            \
    do {                                                                                \
        const int64_t t_ = (tt);                                                        \
        const int64_t p_ = pos[t_];                                                     \
        nmatch++;                                                                       \
        /* rows out of range come only from a crafted table file */                     \
        if ((uint64_t)p_ < (uint64_t)n) {                                               \
            __builtin_prefetch(tc ? (const void *)(tc + t_ * w)                         \
                                  : (const void *)(c->codes + p_ * w));                 \
            cand_t[ncand] = t_;                                                         \
            cand_p[ncand] = p_;                                                         \
            if (++ncand == MIH_CAND) {                                                  \
                if (HS_FN(sparse_flush)(c, ws, tc, cand_t, cand_p, ncand, q, qkeys, j, k, \
                                         T))                                            \
                    return -1;                                                          \
                ncand = 0;                                                              \
            }                                                                           \
        }                                                                               \
    } while (0)

/* The suffix test of a sparse-table probe, on the 8 suffix bytes at sf:
 * 0x80 in each byte that equals the byte of bw (probe_sparse: bw holds the
 * key's suffix in every byte) or, grouped, whose distance to the byte of bq
 * (the query's suffix) equals the byte of bw (the target distance). */
static inline __attribute__((always_inline)) uint64_t
HS_FN(sfx_match8)(const uint8_t *sf, uint64_t bq, uint64_t bw, int grouped)
{
    const uint64_t lo7 = UINT64_C(0x7F7F7F7F7F7F7F7F);
    uint64_t v;
    memcpy(&v, sf, 8);
    if (grouped) {
        /* per-byte popcounts of the distance to the query's suffix */
        v ^= bq;
        v = v - ((v >> 1) & UINT64_C(0x5555555555555555));
        v = (v & UINT64_C(0x3333333333333333)) + ((v >> 2) & UINT64_C(0x3333333333333333));
        v = (v + (v >> 4)) & UINT64_C(0x0F0F0F0F0F0F0F0F);
    }
    v ^= bw;
    /* 0x80 in each byte of v that is zero (exact: no carries) */
    return ~(((v & lo7) + lo7) | v | lo7);
}

/* The same for one suffix byte x: equal to want, or, grouped, at distance
 * want from qs. */
static inline __attribute__((always_inline)) int
HS_FN(sfx_match1)(uint8_t x, uint32_t qs, uint8_t want, int grouped)
{
    if (grouped)
        return HS_POP64((uint64_t)(x ^ (uint8_t)qs)) == want;
    return x == want;
}

/* Probe nk prefix buckets of sparse table j of segment sg, in three
 * overlapped stages: the buckets' offsets (prefetched for every bucket),
 * their suffix bytes and row numbers (prefetched), then the suffix scan (8
 * bytes at a time: SWAR) whose matches' codes are prefetched and verified
 * MIH_CAND at a time.  Bucket i is the prefix of key keys[i] and takes the
 * entries whose suffix is the key's (probe_sparse), or, grouped, it is the
 * prefix keys[i] and takes the entries whose suffix is at distance tgt[i]
 * from the query's suffix qs (probe_grouped).  Always inlined with a
 * constant `grouped`: each probe gets its own loops.  Returns -1 when
 * memory ran out. */
static inline __attribute__((always_inline)) int
HS_FN(probe_buckets)(const mih_ctx *c, mih_ws *ws, const hs_mih_segment *sg, int j,
                     const uint32_t *keys, const uint8_t *tgt, int nk, uint32_t qs,
                     int grouped, const uint64_t *q, const uint32_t *qkeys,
                     int64_t k, int32_t *T, int64_t *probes, int64_t *verified,
                     int64_t *work)
{
    const int w = c->w;
    const int64_t n = c->n;
    /* bucket i: offs[keys[i] >> sb] (the sparse case of mih_bucket; the
     * grouped enumeration's keys are prefixes already) */
    const int sb = grouped ? 0 : (int)sg->meta[3 * (int64_t)j + 2];
    const uint32_t smask = (UINT32_C(1) << sb) - 1;
    const int32_t *pos = sg->pos + (int64_t)j * sg->seg_n;
    const uint8_t *sf = sg->sfx ? sg->sfx + (int64_t)j * sg->seg_n : 0;
    const uint64_t *tc = sg->tcodes ? sg->tcodes + (int64_t)j * sg->seg_n * w : 0;
    const int32_t *offs = sg->offs + sg->meta[3 * (int64_t)j + 1];
    int64_t bb0[MIH_BATCH], bb1[MIH_BATCH];
    int64_t cand_t[MIH_CAND], cand_p[MIH_CAND];
    int ncand = 0;
    if (!sf)
        return 0; /* never built so (hamsearch.mih checks the layout) */
    for (int i = 0; i < nk; i++)
        __builtin_prefetch(offs + (keys[i] >> sb));
    for (int i = 0; i < nk; i++) {
        const int32_t *o = offs + (keys[i] >> sb);
        bb0[i] = o[0];
        bb1[i] = o[1];
        if (bb1[i] > bb0[i]) {
            __builtin_prefetch(sf + bb0[i]);
            __builtin_prefetch(pos + bb0[i]);
        }
    }
    for (int i = 0; i < nk; i++) {
        const int64_t b0 = bb0[i], b1 = bb1[i];
        const uint8_t want = grouped ? tgt[i] : (uint8_t)(keys[i] & smask);
        int64_t nmatch = 0, t = b0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        {
            const uint64_t ones = UINT64_C(0x0101010101010101);
            const uint64_t bq = ones * (uint8_t)qs, bw = ones * want;
            for (; t + 8 <= b1; t += 8) {
                uint64_t z = HS_FN(sfx_match8)(sf + t, bq, bw, grouped);
                while (z) {
                    const int64_t tt = t + (__builtin_ctzll(z) >> 3);
                    z &= z - 1;
                    MIH_SPARSE_MATCH(tt);
                }
            }
        }
#endif
        for (; t < b1; t++) {
            if (HS_FN(sfx_match1)(sf[t], qs, want, grouped))
                MIH_SPARSE_MATCH(t);
        }
        (*probes)++;
        *verified += nmatch;
        *work += MIH_PROBE_COST + nmatch * (tc ? w : MIH_RANDOM_COST) +
                 (b1 > b0 ? (b1 - b0) / MIH_SFX_PER_UNIT : 0);
    }
    if (ncand && HS_FN(sparse_flush)(c, ws, tc, cand_t, cand_p, ncand, q, qkeys, j, k, T))
        return -1;
    return 0;
}

/* Probe keys[0..nk) in sparse table j of segment sg (probe_buckets, each
 * key's bucket its prefix, the suffix equal to the key's).  Returns -1 when
 * memory ran out. */
static int HS_FN(probe_sparse)(const mih_ctx *c, mih_ws *ws, const hs_mih_segment *sg,
                               int j, const uint32_t *keys, int nk, const uint64_t *q,
                               const uint32_t *qkeys, int64_t k, int32_t *T,
                               int64_t *probes, int64_t *verified, int64_t *work)
{
    return HS_FN(probe_buckets)(c, ws, sg, j, keys, 0, nk, 0, 0, q, qkeys, k, T, probes,
                                verified, work);
}

/* Probe the prefix buckets pre[0..nk) of sparse table j of segment sg
 * for the "grouped" enumeration: at radius s, bucket pre[i] (prefix at
 * distance h from the query's) holds the codes whose substring j is at
 * distance exactly s from the query's when their suffix is at distance
 * tgt[i] = s - h from the query's suffix qs.  One visit per prefix bucket
 * instead of one probe per key: C(len, s) keys become sum_h C(len - sb, h)
 * buckets.  Stages as probe_sparse (probe_buckets); the suffix test is a
 * SWAR per-byte popcount compared with tgt[i].  Returns -1 when memory ran
 * out. */
static int HS_FN(probe_grouped)(const mih_ctx *c, mih_ws *ws, const hs_mih_segment *sg,
                                int j, const uint32_t *pre, const uint8_t *tgt, int nk,
                                uint32_t qs, const uint64_t *q, const uint32_t *qkeys,
                                int64_t k, int32_t *T, int64_t *probes,
                                int64_t *verified, int64_t *work)
{
    return HS_FN(probe_buckets)(c, ws, sg, j, pre, tgt, nk, qs, 1, q, qkeys, k, T, probes,
                                verified, work);
}

/* Search query qi.  On return ws->cd/cp[0..ws->cnt) hold every candidate
 * with distance <= *T_out (and maybe some above it).  k > 0: k-NN; k == 0:
 * radius search with radius `radius`.  Returns 0, or -1 out of memory. */
static int HS_FN(search_one)(const mih_ctx *c, mih_ws *ws, int64_t qi,
                             int64_t k, int32_t radius, int32_t *T_out)
{
    const int w = c->w;
    const int m = c->m;
    const int64_t n = c->n;
    const uint64_t *q = c->queries + qi * (int64_t)w;
    const uint64_t *skip = c->skip;
    int32_t T = k > 0 ? HS_PAD_DISTANCE : radius;
    int64_t probes = 0, verified = 0, work = 0;
    int fallback = 0, done = 0;
    uint32_t qkeys[MIH_MAX_M];

    ws->cnt = 0;
    memset(ws->hist, 0, sizeof(int64_t) * (size_t)ws->hist_n);
    mih_seen_reset(ws);
    *T_out = T;
    if (n == 0)
        return 0;
    for (int j = 0; j < m; j++) {
        qkeys[j] = mih_sub_key(q, c->sub_start[j], c->sub_len[j]);
    }
    /* The tables are enumerated one radius at a time, each as far as the
     * search needs (rad[j]: table j holds no unmet code within rad[j] of
     * the query's substring j).  A code met by none of them is at distance
     * at least sum_j (rad[j] + 1) from the query, so the search is done
     * once T is below that.  Level order (every table at radius s before
     * any at s + 1) is one choice; here the next radius goes to the table
     * whose next one is predicted cheapest (its last radius's work, grown
     * as the number of keys: (len - r) / (r + 1)), ties to the smaller
     * radius, then the lower table: skewed data (one substring's buckets
     * much fuller near the query) costs less, uniform data gets level
     * order.  The Numba twin (hamsearch/_numba/mih/search.py) chooses
     * alike. */
    int32_t *rad = ws->rad;
    int64_t *lastwork = ws->lastwork;
    int64_t radsum = -(int64_t)m; /* sum_j rad[j] */
    for (int j = 0; j < m; j++) {
        rad[j] = -1;
        lastwork[j] = 0;
    }
    while (!done && !fallback) {
        int j = -1;
        for (int jj = 0; jj < m; jj++) {
            if (rad[jj] < 0) { /* radius 0 first, in table order */
                j = jj;
                break;
            }
            if (j < 0) {
                j = jj;
                continue;
            }
            /* lastwork[jj] (len - r) / (r + 1) against table j's, cross-multiplied */
            const int64_t a = lastwork[jj] * (int64_t)(c->sub_len[jj] - rad[jj]) * (rad[j] + 1);
            const int64_t b = lastwork[j] * (int64_t)(c->sub_len[j] - rad[j]) * (rad[jj] + 1);
            if (a < b || (a == b && rad[jj] < rad[j]))
                j = jj;
        }
        const int s = rad[j] + 1;
        const int len = c->sub_len[j];
        const int sb = c->grouped[j];
        const int64_t work0 = work;
        ws->met_other = 0;
        for (int jj = 0; jj < m; jj++)
            if (jj != j && rad[jj] >= 0)
                ws->met_other = 1;
        if (sb > 0) {
            /* sparse in every segment: enumerate prefix buckets at
             * distance h (s - sb <= h <= s), each with the suffix
             * distance s - h its codes need */
            const int P = len - sb;
            const uint32_t qp = qkeys[j] >> sb;
            const uint32_t qs = qkeys[j] & ((UINT32_C(1) << sb) - 1);
            int h = s > sb ? s - sb : 0;
            const int hmax = s < P ? s : P;
            const uint64_t plim = UINT64_C(1) << P;
            uint64_t pm = (UINT64_C(1) << h) - 1;
            while (h <= hmax) {
                uint32_t pre[MIH_BATCH];
                uint8_t tgt[MIH_BATCH];
                int nk = 0;
                while (h <= hmax && nk < MIH_BATCH) {
                    pre[nk] = qp ^ (uint32_t)pm;
                    tgt[nk++] = (uint8_t)(s - h);
                    if (h == 0) {
                        pm = plim;
                    } else {
                        const uint64_t lo = pm & (~pm + 1);
                        const uint64_t r = pm + lo;
                        pm = (((r ^ pm) >> 2) / lo) | r;
                    }
                    if (pm >= plim) {
                        h++;
                        pm = (UINT64_C(1) << h) - 1;
                    }
                }
                for (int g = 0; g < c->nseg; g++) {
                    const hs_mih_segment *sg = &c->segs[g];
                    if (sg->seg_n == 0)
                        continue;
                    if (HS_FN(probe_grouped)(c, ws, sg, j, pre, tgt, nk, qs, q, qkeys, k,
                                             &T, &probes, &verified, &work))
                        return -1;
                }
                if (work > c->budget)
                    break;
            }
        } else {
            uint64_t mask = (s == 0) ? 0 : ((UINT64_C(1) << s) - 1);
            const uint64_t lim = UINT64_C(1) << len;
            while (mask < lim) {
                /* A batch of keys: look their buckets up with the
                 * memory accesses overlapped (prefetch), then verify. */
                uint32_t keys[MIH_BATCH];
                int nk = 0;
                while (mask < lim && nk < MIH_BATCH) {
                    keys[nk++] = qkeys[j] ^ (uint32_t)mask;
                    if (s == 0) {
                        mask = lim;
                        break;
                    }
                    /* next mask with s bits set (Gosper's hack) */
                    const uint64_t lo = mask & (~mask + 1);
                    const uint64_t r = mask + lo;
                    mask = (((r ^ mask) >> 2) / lo) | r;
                }
                for (int g = 0; g < c->nseg; g++) {
                    const hs_mih_segment *sg = &c->segs[g];
                    int64_t bb0[MIH_BATCH], bb1[MIH_BATCH];
                    if (sg->seg_n == 0)
                        continue;
                    const int32_t *pos = sg->pos + (int64_t)j * sg->seg_n;
                    const uint64_t *tc =
                        sg->tcodes ? sg->tcodes + (int64_t)j * sg->seg_n * w : 0;
                    if (sg->meta[3 * (int64_t)j] == HS_MIH_SPARSE) {
                        if (HS_FN(probe_sparse)(c, ws, sg, j, keys, nk, q, qkeys, k,
                                                &T, &probes, &verified, &work))
                            return -1;
                        continue;
                    }
                    for (int i = 0; i < nk; i++)
                        mih_bucket_prefetch(sg, j, keys[i]);
                    for (int i = 0; i < nk; i++) {
                        mih_bucket(sg, j, keys[i], &bb0[i], &bb1[i]);
                        if (bb1[i] > bb0[i]) {
                            if (tc) {
                                /* the bucket's codes, up to 16 lines */
                                const char *a0 = (const char *)(tc + bb0[i] * w);
                                const char *a1 = (const char *)(tc + bb1[i] * w);
                                if (a1 - a0 > 16 * 64)
                                    a1 = a0 + 16 * 64;
                                for (; a0 < a1; a0 += 64)
                                    __builtin_prefetch(a0);
                            } else {
                                __builtin_prefetch(pos + bb0[i]);
                            }
                        }
                    }
                    for (int i = 0; i < nk; i++) {
                        const int64_t b0 = bb0[i], b1 = bb1[i];
                        probes++;
                        verified += b1 - b0;
                        work += MIH_PROBE_COST +
                                (b1 - b0) * (tc ? w : MIH_RANDOM_COST);
                        /* With a skip bitmap, candidates that pass go to a
                         * small pending list whose bitmap words are
                         * prefetched: the bitmap is a random access (out
                         * of L2 at 10M rows), so the lookups overlap. */
                        int32_t pend_d[MIH_PEND];
                        int64_t pend_p[MIH_PEND];
                        int npend = 0;
                        if (!tc) /* the first codes of the bucket */
                            for (int64_t t = b0; t < b1 && t < b0 + MIH_AHEAD; t++)
                                __builtin_prefetch(c->codes + (int64_t)(uint32_t)pos[t] * w);
                        for (int64_t t = b0; t < b1; t++) {
                            const int64_t p = pos[t];
                            /* codes are random accesses (out of cache
                             * at 1M x 256 bits): fetch MIH_AHEAD ahead;
                             * a prefetch never faults, whatever the row */
                            if (!tc && t + MIH_AHEAD < b1)
                                __builtin_prefetch(
                                    c->codes + (int64_t)(uint32_t)pos[t + MIH_AHEAD] * w);
                            /* rows out of range come only from a
                             * crafted table file: never read them */
                            if ((uint64_t)p >= (uint64_t)n)
                                continue;
                            const uint64_t *code =
                                tc ? tc + t * w : c->codes + p * w;
                            if (HS_FN(consider)(c, ws, code, p, q, qkeys, j, k, &T,
                                                pend_d, pend_p, &npend))
                                return -1;
                        }
                        if (npend &&
                            mih_offer_pending(ws, pend_d, pend_p, npend, skip, k, &T))
                            return -1;
                    }
                }
                if (work > c->budget)
                    break;
            }
        }
        /* over the work budget: a linear scan instead (work grows only
         * in the probes above) */
        if (work > c->budget) {
            fallback = 1;
            break;
        }
        rad[j] = s;
        radsum++;
        lastwork[j] = work - work0;
        if (s == len || (int64_t)T <= radsum + m - 1)
            done = 1;
    }
    if (c->stats) {
        c->stats[qi * 3] = probes;
        c->stats[qi * 3 + 1] = verified;
        c->stats[qi * 3 + 2] = fallback;
    }
    if (fallback) {
        /* start over with a linear scan (the flat filter kernel), or leave
         * an empty result and let mih_scan_deferred scan this query with the
         * call's other fallen-back ones */
        int32_t bd[MIH_SCAN_CAP];
        int64_t bi[MIH_SCAN_CAP];
        int64_t start = c->deferred ? n : 0;
        ws->cnt = 0;
        memset(ws->hist, 0, sizeof(int64_t) * (size_t)ws->hist_n);
        T = k > 0 ? HS_PAD_DISTANCE : radius;
        if (c->deferred)
            c->deferred[qi] = 1;
        while (start < n) {
            const int32_t thr = T < ws->hist_n ? T : ws->hist_n - 1;
            const int got = c->kern->filter(q, c->codes, n, w, thr, &start, bd, bi,
                                            MIH_SCAN_CAP);
            for (int t = 0; t < got; t++) {
                if (skip && HS_SKIPPED(skip, bi[t]))
                    continue;
                if (bd[t] <= T && mih_offer(ws, bd[t], bi[t], k, &T))
                    return -1;
            }
        }
    }
    *T_out = T;
    return 0;
}

#undef MIH_SPARSE_MATCH
