/*
 * mih.c -- multi-index hashing: table building and exact k-NN / radius
 * search (see mih.h).  The per-query search lives in mih_impl.h and is
 * compiled twice: with POPCNT (x86-64 CPUs that have it, picked at run time)
 * and portable.  Queries are spread over threads (threads.h); each thread
 * owns its epoch-stamp array and candidate buffers.
 */
#include "mih.h"

#include <stdlib.h>
#include <string.h>

#include "hamsearch.h"
#include "kernels.h"
#include "threads.h"
#include "topk.h"

#define MIH_MAX_M 4096
#define MIH_SCAN_CAP 1024
/* From this many queries in one call on, the queries that fall back to a
 * linear scan are scanned together after the MIH pass, by the flat batch
 * kernels (which share each pass over the codes between queries), instead
 * of one by one by the filter kernel (hamsearch/_numba/mih/search.py:
 * DEFER_MIN_QUERIES). */
#define MIH_DEFER_MIN_QUERIES 2
/* Keys looked up together (their memory accesses overlap). */
#define MIH_BATCH 32
#define MIH_PEND 16 /* candidates whose skip-bitmap words are fetched together */
/* Work units (one unit ~ one code word of a linear scan) charged per bucket
 * probe and per code verified by random access; an inline code costs its
 * word count.  Keep in step with hamsearch/_numba/mih/probe.py and the
 * cost model (hamsearch/mih/cost.py: KERNEL_PROBE_WORK, KERNEL_RANDOM_WORK). */
#define MIH_PROBE_COST 32
#define MIH_RANDOM_COST 32
#define MIH_HASH_MUL UINT64_C(0x9E3779B97F4A7C15)
/* Suffix bytes of a sparse table scanned per work unit. */
#define MIH_SFX_PER_UNIT 8
/* Candidates of a sparse table collected (codes prefetched) before they
 * are verified. */
#define MIH_CAND 64
/* rows ahead whose codes the dense non-inline verification prefetches */
#define MIH_AHEAD 12
/* From this many tables on, a candidate is de-duplicated by a per-query
 * bitmap over the rows (one bit test) instead of re-deriving its other
 * m - 1 substring distances (seen_before in mih_impl.h), and a row met
 * again costs no distance: measured on 200k near-duplicate codes (flip
 * 0.02), 10-NN, 200 queries, 1 thread, 1024 bits (m = 43) 13.2 -> 10.0 ms,
 * 2048 bits (m = 86) 41 -> 17.6 ms; below ~9 tables the m - 1 popcounts are
 * cheaper than the bitmap's random access.  The bitmap is allocated per
 * call and thread (n / 8 bytes); one-query calls on 8M x 256-bit codes
 * (m = 11) measured no slower for it (~400-480 us either way). */
#define MIH_SEEN_MIN_M 9
/* The bitmap is n / 8 bytes per thread: above this many rows (32 MiB) the
 * search keeps seen_before. */
#define MIH_SEEN_MAX_ROWS (INT64_C(1) << 28)

/* ------------------------------------------------------------ building */

void hs_mih_counting_sort(const uint32_t *keys, int64_t n, int64_t nbuckets,
                          int64_t lo, int32_t *offs, int32_t *pos)
{
    memset(offs, 0, sizeof(int32_t) * (size_t)(nbuckets + 1));
    for (int64_t i = 0; i < n; i++)
        offs[(int64_t)keys[i] + 1]++;
    for (int64_t b = 0; b < nbuckets; b++)
        offs[b + 1] += offs[b];
    int32_t *fill = (int32_t *)malloc(sizeof(int32_t) * (size_t)(nbuckets + 1));
    if (fill) {
        memcpy(fill, offs, sizeof(int32_t) * (size_t)nbuckets);
        for (int64_t i = 0; i < n; i++)
            pos[fill[keys[i]]++] = (int32_t)(lo + i);
        free(fill);
        return;
    }
    /* no scratch memory: fill from the ends (offs[b + 1] ends up at the
     * start of bucket b), then shift back */
    for (int64_t i = n - 1; i >= 0; i--)
        pos[--offs[(int64_t)keys[i] + 1]] = (int32_t)(lo + i);
    memmove(offs, offs + 1, sizeof(int32_t) * (size_t)nbuckets);
    offs[nbuckets] = (int32_t)n;
}

/* Substring key of one code row (as mih_sub_key below, for the builders). */
static inline uint32_t mih_row_key(const uint64_t *row, int start, int len)
{
    const int wi = start >> 6, sh = start & 63;
    uint64_t v = row[wi] >> sh;
    if (sh + len > 64)
        v |= row[wi + 1] << (64 - sh);
    return (uint32_t)(v & ((UINT64_C(1) << len) - 1));
}

void hs_mih_key_counts(const uint64_t *codes, int64_t n, int w, int start,
                       int len, int32_t *counts)
{
    for (int64_t i = 0; i < n; i++)
        counts[mih_row_key(codes + i * (int64_t)w, start, len)]++;
}

void hs_mih_key_scatter(const uint64_t *codes, int64_t n, int w, int start,
                        int len, int64_t row0, int32_t *fill, int32_t *pos)
{
    for (int64_t i = 0; i < n; i++) {
        const uint32_t key = mih_row_key(codes + i * (int64_t)w, start, len);
        pos[fill[key]++] = (int32_t)(row0 + i);
    }
}

void hs_mih_key_scatter_sparse(const uint64_t *codes, int64_t n, int w,
                               int start, int len, int sb, int64_t row0,
                               int32_t *fill, int32_t *pos, uint8_t *sfx)
{
    const uint32_t smask = (UINT32_C(1) << sb) - 1;
    for (int64_t i = 0; i < n; i++) {
        const uint32_t key = mih_row_key(codes + i * (int64_t)w, start, len);
        const int32_t t = fill[key >> sb]++;
        pos[t] = (int32_t)(row0 + i);
        sfx[t] = (uint8_t)(key & smask);
    }
}

static inline int64_t mih_hash(uint32_t key, int64_t hmask)
{
    return (int64_t)((((uint64_t)key * MIH_HASH_MUL) >> 32) & (uint64_t)hmask);
}

void hs_mih_hash_insert(const uint32_t *uniq, int64_t nu, uint32_t *hkeys,
                        int32_t *hvals, int64_t hmask)
{
    for (int64_t b = 0; b <= hmask; b++)
        hvals[b] = -1;
    for (int64_t i = 0; i < nu; i++) {
        int64_t h = mih_hash(uniq[i], hmask);
        while (hvals[h] >= 0)
            h = (h + 1) & hmask;
        hkeys[h] = uniq[i];
        hvals[h] = (int32_t)i;
    }
}

/* ------------------------------------------------------------ search */

/* candidates handed back sorted by (distance, id): hs_pair of topk.h */
typedef hs_pair mih_pair;

typedef struct {
    int32_t *cd;
    int64_t *cp;
    int64_t cap, cnt;
    int64_t *hist;
    int hist_n;
    mih_pair *tmp;
    int64_t tmp_cap;
    /* rows already offered for this query (MIH_SEEN_MIN_M tables or more;
     * NULL otherwise), the words set since the last reset, and whether
     * that list overflowed (then the reset clears every word) */
    uint64_t *seen;
    int64_t seen_words;
    int64_t *touched;
    int64_t ntouched, touched_cap;
    int touched_full;
    /* the search's state per table (m entries): rad[j], the radius up to
     * which table j has been enumerated (-1: not yet), and lastwork[j], the
     * work its last radius cost; met_other: whether any table other than
     * the one being probed has been enumerated (else nothing was met) */
    int32_t *rad;
    int64_t *lastwork;
    int met_other;
} mih_ws;

typedef struct {
    const uint64_t *codes;
    const int64_t *ids; /* NULL: row ids (the id of row p is p) */
    int64_t n;
    int w;
    const uint64_t *queries;
    int64_t nq;
    int64_t k;
    int32_t radius;
    const int32_t *sub_start, *sub_len;
    int m;
    const hs_mih_segment *segs;
    int nseg;
    int64_t budget;
    int64_t *stats;
    const hs_kernels *kern;
    int32_t *D;
    int64_t *I;
    hs_mih_range *res;
    int64_t next;
    int failed;
    const uint64_t *skip; /* rows never offered (may be NULL) */
    /* per table: its suffix bits when it is sparse in every segment (the
     * grouped enumeration), else 0 */
    const int8_t *grouped;
    /* per query, set when it fell back to a linear scan that was left to
     * mih_scan_deferred (NULL: such a query is scanned where it fell back) */
    uint8_t *deferred;
} mih_ctx;

struct hs_mih_range {
    int64_t nq;
    int64_t *counts;
    int32_t **d;
    int64_t **id;
};

static inline uint32_t mih_sub_key(const uint64_t *q, int start, int len)
{
    const int wi = start >> 6, sh = start & 63;
    uint64_t v = q[wi] >> sh;
    if (sh + len > 64)
        v |= q[wi + 1] << (64 - sh);
    return (uint32_t)(v & ((UINT64_C(1) << len) - 1));
}

static inline void mih_bucket(const hs_mih_segment *sg, int j, uint32_t key,
                              int64_t *b0, int64_t *b1)
{
    const int64_t *meta = sg->meta + 3 * (int64_t)j;
    const int64_t hmask = meta[0];
    if (hmask == HS_MIH_SPARSE) {
        const int32_t *o = sg->offs + meta[1] + (key >> meta[2]);
        *b0 = o[0];
        *b1 = o[1];
        return;
    }
    if (hmask < 0) {
        if (!((sg->occ[meta[2] + (key >> 6)] >> (key & 63)) & 1)) {
            *b0 = *b1 = 0;
            return;
        }
        const int32_t *o = sg->offs + meta[1] + key;
        *b0 = o[0];
        *b1 = o[1];
        return;
    }
    const uint32_t *hk = sg->hkeys + meta[2];
    const int32_t *hv = sg->hvals + meta[2];
    int64_t h = mih_hash(key, hmask);
    for (;;) {
        const int32_t v = hv[h];
        if (v < 0) {
            *b0 = *b1 = 0;
            return;
        }
        if (hk[h] == key) {
            const int32_t *o = sg->offs + meta[1] + v;
            *b0 = o[0];
            *b1 = o[1];
            return;
        }
        h = (h + 1) & hmask;
    }
}

static inline void mih_bucket_prefetch(const hs_mih_segment *sg, int j,
                                       uint32_t key)
{
    const int64_t *meta = sg->meta + 3 * (int64_t)j;
    if (meta[0] == HS_MIH_SPARSE) {
        __builtin_prefetch(sg->offs + meta[1] + (key >> meta[2]));
    } else if (meta[0] < 0) {
        __builtin_prefetch(sg->occ + meta[2] + (key >> 6));
        __builtin_prefetch(sg->offs + meta[1] + key);
    } else {
        const int64_t h = mih_hash(key, meta[0]);
        __builtin_prefetch(sg->hkeys + meta[2] + h);
        __builtin_prefetch(sg->hvals + meta[2] + h);
    }
}

/* Keep candidate (d, p), d <= *T already checked.  k > 0: lower *T to the
 * k-th smallest kept distance.  Returns -1 when memory ran out. */
static inline int mih_offer(mih_ws *ws, int32_t d, int64_t p, int64_t k,
                            int32_t *T)
{
    if (ws->cnt == ws->cap) {
        int64_t c2 = 0;
        for (int64_t i = 0; i < ws->cnt; i++) {
            if (ws->cd[i] <= *T) {
                ws->cd[c2] = ws->cd[i];
                ws->cp[c2] = ws->cp[i];
                c2++;
            } else {
                ws->hist[ws->cd[i]]--;
            }
        }
        ws->cnt = c2;
        if (2 * c2 > ws->cap) {
            int64_t ncap = 2 * ws->cap;
            int32_t *nd = (int32_t *)realloc(ws->cd, sizeof(int32_t) * (size_t)ncap);
            if (!nd)
                return -1;
            ws->cd = nd;
            int64_t *np_ = (int64_t *)realloc(ws->cp, sizeof(int64_t) * (size_t)ncap);
            if (!np_)
                return -1;
            ws->cp = np_;
            ws->cap = ncap;
        }
    }
    ws->cd[ws->cnt] = d;
    ws->cp[ws->cnt] = p;
    ws->cnt++;
    ws->hist[d]++;
    if (k > 0 && d < *T && ws->cnt >= k) {
        int64_t acc = 0;
        int32_t lim = *T < ws->hist_n - 1 ? *T : ws->hist_n - 1;
        for (int32_t t = 0; t <= lim; t++) {
            acc += ws->hist[t];
            if (acc >= k) {
                *T = t;
                break;
            }
        }
    }
    return 0;
}

/* Offer the pending candidates (distance pd[e], row pp[e]) that are still
 * within *T and not set in skip (their bitmap words were prefetched when
 * they were queued).  Returns -1 when memory ran out. */
static inline int mih_offer_pending(mih_ws *ws, const int32_t *pd, const int64_t *pp,
                                    int cnt, const uint64_t *skip, int64_t k, int32_t *T)
{
    for (int e = 0; e < cnt; e++) {
        if (pd[e] <= *T && !HS_SKIPPED(skip, pp[e]) && mih_offer(ws, pd[e], pp[e], k, T))
            return -1;
    }
    return 0;
}

/* True when row p was already met by this query's enumeration; marks it
 * met otherwise (p < n: the callers check rows against n first). */
static inline int mih_seen_test_set(mih_ws *ws, int64_t p)
{
    uint64_t *word = ws->seen + (p >> 6);
    const uint64_t bit = UINT64_C(1) << (p & 63);
    if (*word & bit)
        return 1;
    if (!*word) {
        if (ws->ntouched < ws->touched_cap)
            ws->touched[ws->ntouched++] = p >> 6;
        else
            ws->touched_full = 1;
    }
    *word |= bit;
    return 0;
}

/* Forget every row met (before each query). */
static inline void mih_seen_reset(mih_ws *ws)
{
    if (!ws->seen)
        return;
    if (ws->touched_full) {
        memset(ws->seen, 0, sizeof(uint64_t) * (size_t)ws->seen_words);
    } else {
        for (int64_t i = 0; i < ws->ntouched; i++)
            ws->seen[ws->touched[i]] = 0;
    }
    ws->ntouched = 0;
    ws->touched_full = 0;
}

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define MIH_HAVE_POPCNT_VARIANT 1
#pragma GCC push_options
#pragma GCC target("popcnt")
#define HS_POP64(x) ((int)__builtin_popcountll(x))
#define HS_FN(name) mih_popcnt_##name
#include "dist_impl.h"
#include "mih_impl.h"
#undef HS_POP64
#undef HS_FN
#pragma GCC pop_options
#endif

#define HS_POP64(x) ((int)hs_pop64_swar(x))
#define HS_FN(name) mih_portable_##name
#include "dist_impl.h"
#include "mih_impl.h"
#undef HS_POP64
#undef HS_FN

typedef int (*mih_search_fn)(const mih_ctx *, mih_ws *, int64_t, int64_t,
                             int32_t, int32_t *);

/* The MIH flavours the variant table (dispatch.c) points to. */
struct hs_mih_kernels {
    mih_search_fn search_one;
};

const hs_mih_kernels hs_mih_portable = {mih_portable_search_one};
#ifdef MIH_HAVE_POPCNT_VARIANT
const hs_mih_kernels hs_mih_popcnt = {mih_popcnt_search_one};
#else /* never selected: no row needing POPCNT runs here */
const hs_mih_kernels hs_mih_popcnt = {mih_portable_search_one};
#endif

static mih_search_fn mih_pick(void)
{
    return hs_active_variant()->mih->search_one;
}

/* Candidates with d <= T into ws->tmp sorted by (d, id) (id of row p:
 * ids[p], or p when ids is NULL); returns the count or -1 out of memory. */
static int64_t mih_sorted(mih_ws *ws, const int64_t *ids, int32_t T)
{
    int64_t nv = 0;
    for (int64_t i = 0; i < ws->cnt; i++)
        nv += ws->cd[i] <= T;
    if (nv > ws->tmp_cap) {
        mih_pair *t = (mih_pair *)realloc(ws->tmp, sizeof(mih_pair) * (size_t)nv);
        if (!t)
            return -1;
        ws->tmp = t;
        ws->tmp_cap = nv;
    }
    int64_t c = 0;
    for (int64_t i = 0; i < ws->cnt; i++) {
        if (ws->cd[i] <= T) {
            ws->tmp[c].d = ws->cd[i];
            ws->tmp[c].id = hs_row_id(ids, 0, ws->cp[i]);
            c++;
        }
    }
    hs_pair_sort(ws->tmp, nv); /* inlined compares: range results run to 10^5 */
    return nv;
}

static int mih_ws_init(mih_ws *ws, const mih_ctx *c)
{
    memset(ws, 0, sizeof(*ws));
    ws->cap = c->k > 32 ? 2 * c->k : 64;
    ws->cd = (int32_t *)malloc(sizeof(int32_t) * (size_t)ws->cap);
    ws->cp = (int64_t *)malloc(sizeof(int64_t) * (size_t)ws->cap);
    ws->hist_n = 64 * c->w + 1;
    ws->hist = (int64_t *)malloc(sizeof(int64_t) * (size_t)ws->hist_n);
    ws->rad = (int32_t *)malloc(sizeof(int32_t) * (size_t)c->m);
    ws->lastwork = (int64_t *)malloc(sizeof(int64_t) * (size_t)c->m);
    if (c->m >= MIH_SEEN_MIN_M && c->n > 0 && c->n <= MIH_SEEN_MAX_ROWS) {
        /* optional: without the memory the search uses seen_before */
        ws->seen_words = (c->n + 63) >> 6;
        ws->touched_cap = ws->seen_words / 16 + 64;
        ws->seen = (uint64_t *)calloc((size_t)ws->seen_words, sizeof(uint64_t));
        ws->touched = (int64_t *)malloc(sizeof(int64_t) * (size_t)ws->touched_cap);
        if (!ws->seen || !ws->touched) {
            free(ws->seen);
            free(ws->touched);
            ws->seen = 0;
            ws->touched = 0;
        }
    }
    return (ws->cd && ws->cp && ws->hist && ws->rad && ws->lastwork) ? 0 : -1;
}

static void mih_ws_free(mih_ws *ws)
{
    free(ws->cd);
    free(ws->cp);
    free(ws->hist);
    free(ws->tmp);
    free(ws->seen);
    free(ws->touched);
    free(ws->rad);
    free(ws->lastwork);
}

#define MIH_GRAIN 4

static void mih_task(void *arg, int tid, int ntasks)
{
    mih_ctx *c = (mih_ctx *)arg;
    mih_search_fn search = mih_pick();
    mih_ws ws;
    (void)tid;
    (void)ntasks;
    if (mih_ws_init(&ws, c)) {
        __atomic_store_n(&c->failed, 1, __ATOMIC_RELAXED);
        mih_ws_free(&ws);
        return;
    }
    for (;;) {
        int64_t q0 = __atomic_fetch_add(&c->next, MIH_GRAIN, __ATOMIC_RELAXED);
        if (q0 >= c->nq || __atomic_load_n(&c->failed, __ATOMIC_RELAXED))
            break;
        int64_t q1 = q0 + MIH_GRAIN < c->nq ? q0 + MIH_GRAIN : c->nq;
        for (int64_t qi = q0; qi < q1; qi++) {
            int32_t T;
            int64_t nv;
            if (search(c, &ws, qi, c->k, c->radius, &T) ||
                (nv = mih_sorted(&ws, c->ids, T)) < 0) {
                __atomic_store_n(&c->failed, 1, __ATOMIC_RELAXED);
                break;
            }
            if (c->k > 0) {
                int32_t *D = c->D + qi * c->k;
                int64_t *I = c->I + qi * c->k;
                int64_t t = 0;
                for (; t < nv && t < c->k; t++) {
                    D[t] = ws.tmp[t].d;
                    I[t] = ws.tmp[t].id;
                }
                for (; t < c->k; t++) {
                    D[t] = HS_PAD_DISTANCE;
                    I[t] = -1;
                }
            } else {
                hs_mih_range *r = c->res;
                r->counts[qi] = nv;
                if (nv) {
                    r->d[qi] = (int32_t *)malloc(sizeof(int32_t) * (size_t)nv);
                    r->id[qi] = (int64_t *)malloc(sizeof(int64_t) * (size_t)nv);
                    if (!r->d[qi] || !r->id[qi]) {
                        __atomic_store_n(&c->failed, 1, __ATOMIC_RELAXED);
                        break;
                    }
                    for (int64_t t = 0; t < nv; t++) {
                        r->d[qi][t] = ws.tmp[t].d;
                        r->id[qi][t] = ws.tmp[t].id;
                    }
                }
            }
        }
    }
    mih_ws_free(&ws);
}

static int mih_threads(int64_t nq, int nthreads)
{
    if (nthreads < 1)
        nthreads = 1;
    int64_t t = (nq + MIH_GRAIN - 1) / MIH_GRAIN;
    return t < nthreads ? (int)(t > 0 ? t : 1) : nthreads;
}

/* c->grouped (malloc'ed; the caller frees it): per table, its suffix bits
 * when the table is sparse in every non-empty segment with the same suffix
 * bits, else 0.  Returns -1 out of memory. */
static int mih_grouped(mih_ctx *c)
{
    int8_t *g = (int8_t *)malloc((size_t)c->m);
    if (!g)
        return -1;
    for (int j = 0; j < c->m; j++) {
        int sb = -1;
        for (int t = 0; t < c->nseg && sb != 0; t++) {
            const hs_mih_segment *sg = &c->segs[t];
            if (sg->seg_n == 0)
                continue;
            const int64_t *meta = sg->meta + 3 * (int64_t)j;
            if (meta[0] != HS_MIH_SPARSE || !sg->sfx || meta[2] < 1 || meta[2] > 8 ||
                meta[2] >= c->sub_len[j] || (sb > 0 && meta[2] != sb))
                sb = 0;
            else
                sb = (int)meta[2];
        }
        g[j] = (int8_t)(sb > 0 ? sb : 0);
    }
    c->grouped = g;
    return 0;
}

/* The queries marked in c->deferred, gathered and answered by the flat
 * kernels (hs_knn, hs_range_search) into c->D / c->I or c->res: exact, in
 * the same (distance, id) order, so a deferred query's answer is the one the
 * inline scan gives.  Returns HS_OK or the flat kernel's error. */
static int mih_scan_deferred(mih_ctx *c, int nthreads)
{
    if (!c->deferred)
        return HS_OK;
    int64_t nfb = 0;
    for (int64_t q = 0; q < c->nq; q++)
        nfb += c->deferred[q];
    if (!nfb)
        return HS_OK;
    const size_t w = (size_t)c->w;
    int64_t *which = (int64_t *)malloc(sizeof(int64_t) * (size_t)nfb);
    uint64_t *Q = (uint64_t *)malloc(sizeof(uint64_t) * (size_t)nfb * w);
    if (!which || !Q) {
        free(which);
        free(Q);
        return HS_ENOMEM;
    }
    for (int64_t q = 0, j = 0; q < c->nq; q++)
        if (c->deferred[q]) {
            which[j] = q;
            memcpy(Q + (size_t)j * w, c->queries + (size_t)q * w, sizeof(uint64_t) * w);
            j++;
        }
    int rc = HS_OK;
    if (c->k > 0) {
        const size_t k = (size_t)c->k;
        int32_t *Dt = (int32_t *)malloc(sizeof(int32_t) * (size_t)nfb * k);
        int64_t *It = (int64_t *)malloc(sizeof(int64_t) * (size_t)nfb * k);
        rc = Dt && It ? hs_knn(c->codes, c->ids, c->n, c->w, Q, nfb, c->k, Dt, It, nthreads,
                               c->skip)
                      : HS_ENOMEM;
        for (int64_t j = 0; rc == HS_OK && j < nfb; j++) {
            memcpy(c->D + which[j] * c->k, Dt + (size_t)j * k, sizeof(int32_t) * k);
            memcpy(c->I + which[j] * c->k, It + (size_t)j * k, sizeof(int64_t) * k);
        }
        free(Dt);
        free(It);
    } else {
        int err = HS_OK;
        hs_range_result *fr = hs_range_search(c->codes, c->ids, c->n, c->w, Q, nfb, c->radius,
                                              nthreads, c->skip, &err);
        int64_t total = fr ? hs_range_total(fr) : 0;
        int64_t *lims = (int64_t *)malloc(sizeof(int64_t) * (size_t)(nfb + 1));
        int32_t *fd = (int32_t *)malloc(sizeof(int32_t) * (size_t)(total ? total : 1));
        int64_t *fi = (int64_t *)malloc(sizeof(int64_t) * (size_t)(total ? total : 1));
        rc = !fr ? (err ? err : HS_ENOMEM) : (!lims || !fd || !fi) ? HS_ENOMEM : HS_OK;
        if (rc == HS_OK) {
            hs_range_lims(fr, lims);
            hs_range_copy(fr, fd, fi);
        }
        hs_mih_range *r = c->res;
        for (int64_t j = 0; rc == HS_OK && j < nfb; j++) {
            const int64_t q = which[j], cnt = lims[j + 1] - lims[j];
            r->counts[q] = cnt;
            if (!cnt)
                continue;
            r->d[q] = (int32_t *)malloc(sizeof(int32_t) * (size_t)cnt);
            r->id[q] = (int64_t *)malloc(sizeof(int64_t) * (size_t)cnt);
            if (!r->d[q] || !r->id[q]) {
                rc = HS_ENOMEM;
                break;
            }
            memcpy(r->d[q], fd + lims[j], sizeof(int32_t) * (size_t)cnt);
            memcpy(r->id[q], fi + lims[j], sizeof(int64_t) * (size_t)cnt);
        }
        if (fr)
            hs_range_free(fr);
        free(lims);
        free(fd);
        free(fi);
    }
    free(which);
    free(Q);
    return rc;
}

int hs_mih_knn(const uint64_t *codes, const int64_t *ids, int64_t n, int w,
               const uint64_t *queries, int64_t nq, int64_t k,
               const int32_t *sub_start, const int32_t *sub_len, int m,
               const hs_mih_segment *segs, int nseg, int64_t budget,
               int32_t *D, int64_t *I, int64_t *stats, int nthreads,
               const uint64_t *skip)
{
    mih_ctx c;
    if (m < 1 || m > MIH_MAX_M || k < 1 || nq < 0 || n < 0 || w < 1 || nseg < 0)
        return HS_EINVAL;
    memset(&c, 0, sizeof(c));
    c.codes = codes;
    c.ids = ids;
    c.n = n;
    c.w = w;
    c.queries = queries;
    c.nq = nq;
    c.k = k;
    c.sub_start = sub_start;
    c.sub_len = sub_len;
    c.m = m;
    c.segs = segs;
    c.nseg = nseg;
    c.budget = budget;
    c.stats = stats;
    c.kern = hs_active();
    c.D = D;
    c.I = I;
    c.skip = skip;
    if (mih_grouped(&c))
        return HS_ENOMEM;
    if (nq >= MIH_DEFER_MIN_QUERIES)
        c.deferred = (uint8_t *)calloc((size_t)nq, 1); /* NULL: scan inline */
    hs_parallel(mih_threads(nq, nthreads), mih_task, &c);
    free((void *)c.grouped);
    int rc = c.failed ? HS_ENOMEM : mih_scan_deferred(&c, nthreads);
    free(c.deferred);
    return rc;
}

void hs_mih_range_free(hs_mih_range *res)
{
    if (!res)
        return;
    for (int64_t q = 0; q < res->nq; q++) {
        if (res->d)
            free(res->d[q]);
        if (res->id)
            free(res->id[q]);
    }
    free(res->d);
    free(res->id);
    free(res->counts);
    free(res);
}

hs_mih_range *hs_mih_range_search(const uint64_t *codes, const int64_t *ids,
                                  int64_t n, int w, const uint64_t *queries,
                                  int64_t nq, int32_t radius,
                                  const int32_t *sub_start,
                                  const int32_t *sub_len, int m,
                                  const hs_mih_segment *segs, int nseg,
                                  int64_t budget, int64_t *stats, int nthreads,
                                  const uint64_t *skip, int *err)
{
    mih_ctx c;
    int dummy;
    if (!err)
        err = &dummy;
    *err = 0;
    if (m < 1 || m > MIH_MAX_M || nq < 0 || n < 0 || w < 1 || nseg < 0) {
        *err = HS_EINVAL;
        return 0;
    }
    *err = HS_ENOMEM; /* until the result is complete */
    hs_mih_range *res = (hs_mih_range *)calloc(1, sizeof(hs_mih_range));
    if (!res)
        return 0;
    res->nq = nq;
    size_t nalloc = (size_t)(nq > 0 ? nq : 1);
    res->counts = (int64_t *)calloc(nalloc, sizeof(int64_t));
    res->d = (int32_t **)calloc(nalloc, sizeof(int32_t *));
    res->id = (int64_t **)calloc(nalloc, sizeof(int64_t *));
    if (!res->counts || !res->d || !res->id) {
        hs_mih_range_free(res);
        return 0;
    }
    if (radius < 0 || nq == 0) {
        *err = 0;
        return res;
    }
    memset(&c, 0, sizeof(c));
    c.codes = codes;
    c.ids = ids;
    c.n = n;
    c.w = w;
    c.queries = queries;
    c.nq = nq;
    c.k = 0;
    c.radius = radius;
    c.sub_start = sub_start;
    c.sub_len = sub_len;
    c.m = m;
    c.segs = segs;
    c.nseg = nseg;
    c.budget = budget;
    c.stats = stats;
    c.kern = hs_active();
    c.res = res;
    c.skip = skip;
    if (mih_grouped(&c)) {
        hs_mih_range_free(res);
        return 0;
    }
    if (nq >= MIH_DEFER_MIN_QUERIES)
        c.deferred = (uint8_t *)calloc((size_t)nq, 1); /* NULL: scan inline */
    hs_parallel(mih_threads(nq, nthreads), mih_task, &c);
    free((void *)c.grouped);
    int rc = c.failed ? HS_ENOMEM : mih_scan_deferred(&c, nthreads);
    free(c.deferred);
    if (rc) {
        *err = rc;
        hs_mih_range_free(res);
        return 0;
    }
    *err = 0;
    return res;
}

int64_t hs_mih_range_total(const hs_mih_range *res)
{
    int64_t t = 0;
    for (int64_t q = 0; q < res->nq; q++)
        t += res->counts[q];
    return t;
}

void hs_mih_range_lims(const hs_mih_range *res, int64_t *lims)
{
    lims[0] = 0;
    for (int64_t q = 0; q < res->nq; q++)
        lims[q + 1] = lims[q] + res->counts[q];
}

void hs_mih_range_copy(const hs_mih_range *res, int32_t *D, int64_t *I)
{
    int64_t at = 0;
    for (int64_t q = 0; q < res->nq; q++) {
        int64_t c = res->counts[q];
        if (c) {
            memcpy(D + at, res->d[q], sizeof(int32_t) * (size_t)c);
            memcpy(I + at, res->id[q], sizeof(int64_t) * (size_t)c);
        }
        at += c;
    }
}
