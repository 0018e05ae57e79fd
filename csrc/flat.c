/*
 * flat.c -- flat (linear scan) search drivers: distance matrix, k-NN and
 * range search over the kernel table in force.
 *
 * Loop order (k-NN and range): queries are taken in tiles of up to
 * HS_QTILE; the database is cut into blocks of about HS_BLOCK_BYTES, and
 * every query of the tile scans a block while it is in L1, so each block
 * comes from memory once per tile rather than once per query (the tile's
 * first query uses the prefetching variant of the scan, filter_stream).
 * The scan kernel only reports codes within the query's running threshold;
 * those go through the scalar top-k test (topk.h).
 *
 * Threads: queries are split between threads when there are many more
 * queries than threads (HS_QUERY_SPLIT_FACTOR per thread); otherwise the
 * database is split into one chunk per thread, every thread runs all queries
 * on its chunk, and the per-chunk results are merged (so a single query uses
 * every thread, and a handful of queries stays balanced).
 */
#include <stdlib.h>
#include <string.h>

#include "hamsearch.h"
#include "kernels.h"
#include "threads.h"
#include "topk.h"

#define HS_QTILE 32
#define HS_BLOCK_BYTES (24 * 1024) /* fits a 32 KiB L1D with the query */
#define HS_QUERY_SPLIT_FACTOR 4      /* queries per thread to split queries */
/* Candidates per filter call: small, so that early in a scan (when many
 * codes pass) the kernel comes back often for a fresher threshold. */
#define HS_FCAP (2 * HS_FILTER_SLACK)
#define HS_TILE_BUF_BYTES (8 * 1024 * 1024) /* top-k buffers of one tile */

typedef int (*hs_filter_fn)(const uint64_t *, const uint64_t *, int64_t, int,
                            int32_t, int64_t *, int32_t *, int64_t *, int);

static int64_t hs_block_codes(int w)
{
    int64_t b = HS_BLOCK_BYTES / (8 * (int64_t)w);
    return b < 64 ? 64 : b;
}

/* ------------------------------------------------------------------ */
/* distance matrix                                                      */

typedef struct {
    const hs_kernels *K;
    const uint64_t *a, *b;
    int64_t na, nb;
    int w;
    int32_t *out;
    int split_rows;
} hs_matrix_ctx;

static void hs_matrix_task(void *arg, int tid, int ntasks)
{
    const hs_matrix_ctx *c = (const hs_matrix_ctx *)arg;
    int64_t r0 = 0, r1 = c->na, c0 = 0, c1 = c->nb;
    if (c->split_rows)
        hs_split(c->na, tid, ntasks, &r0, &r1);
    else
        hs_split(c->nb, tid, ntasks, &c0, &c1);
    const int64_t B = hs_block_codes(c->w);
    for (int64_t j = c0; j < c1; j += B) {
        const int64_t bn = c1 - j < B ? c1 - j : B;
        for (int64_t i = r0; i < r1; i++)
            c->K->distances(c->a + i * c->w, c->b + j * c->w, bn, c->w,
                            c->out + i * c->nb + j);
    }
}

int hs_hamming_matrix(const uint64_t *a, int64_t na, const uint64_t *b,
                      int64_t nb, int w, int32_t *out, int nthreads)
{
    if (na <= 0 || nb <= 0)
        return 0;
    hs_matrix_ctx c = {hs_active(), a, b, na, nb, w, out, 1};
    int T = hs_threads_for(na * nb * (int64_t)w, nthreads);
    c.split_rows = na >= T;
    if (!c.split_rows && nb < T)
        T = (int)nb;
    hs_parallel(T, hs_matrix_task, &c);
    return 0;
}

void hs_hamming_rows(const uint64_t *a, const uint64_t *b, int64_t n, int w,
                     int32_t *out)
{
    if (n > 0)
        hs_active()->rows(a, b, n, w, out);
}

/* ------------------------------------------------------------------ */
/* k-NN                                                                 */

/* Drop the candidates whose row (row0 + cand_i[j]) is set in skip. */
static inline int hs_drop_skipped(int32_t *cand_d, int64_t *cand_i, int cnt,
                                  const uint64_t *skip, int64_t row0)
{
    int m = 0;
    for (int j = 0; j < cnt; j++) {
        const int64_t r = row0 + cand_i[j];
        if (!HS_SKIPPED(skip, r)) {
            cand_d[m] = cand_d[j];
            cand_i[m] = cand_i[j];
            m++;
        }
    }
    return m;
}

/* Words scanned per id read above which hs_knn_scan reads an ids array
 * once for its block minima (nq * w: each id is read once, each code word
 * nq times).  The minima cost ~1 ns an id (a scalar pass) against ~0.05 ns
 * a scanned word on AVX-512, so they pay only from a few hundred words per
 * id: at 16, a 16-query call over 1M x 128-bit codes with an ids array
 * spent 0.9 ms of its 1.6 ms on them (100 us a query, 46 with row ids). */
#define HS_BMIN_WORK 256

/* Scan threshold of t for codes whose ids are all >= first: once the
 * top-k holds k pairs, a code at the k-th distance enters only with an id
 * below the largest id there (thr_id), so when every id to come is larger,
 * only codes strictly closer can enter.  On near-duplicate data (many
 * codes at the k-th distance, often 0) this keeps the ties out of the
 * candidate path, and -1 (nothing can enter) ends the scan of the block. */
static inline int32_t hs_scan_thr(const hs_topk *t, int64_t first)
{
    const int32_t thr = hs_topk_scan_thr(t);
    return t->id_bound && first > t->thr_id ? thr - 1 : thr;
}

/* Top-k of nq queries over n codes, into rows of k of D / I.  Code i is
 * row row0 + i of the whole database: its id is ids[i], or row0 + i when
 * ids is NULL, and it is left out when bit row0 + i of skip is set (skip
 * may be NULL). */
static int hs_knn_scan(const hs_kernels *K, const uint64_t *db,
                       const int64_t *ids, int64_t n, int w,
                       const uint64_t *q, int64_t nq, int64_t k, int32_t *D,
                       int64_t *I, const uint64_t *skip, int64_t row0)
{
    const int64_t cap = hs_topk_capacity(k, n);
    int64_t Q = HS_TILE_BUF_BYTES / (cap * (int64_t)sizeof(hs_pair));
    Q = Q < 1 ? 1 : Q > HS_QTILE ? HS_QTILE : Q;
    if (Q > nq)
        Q = nq;
    const int32_t maxd = 64 * w;
    hs_pair *bufs = (hs_pair *)malloc((size_t)(Q * cap) * sizeof(hs_pair));
    int32_t *hists = (int32_t *)malloc((size_t)(Q * (maxd + 1)) * sizeof(int32_t));
    int64_t *maxids = (int64_t *)malloc((size_t)(Q * (maxd + 1)) * sizeof(int64_t));
    if (!bufs || !hists || !maxids) {
        free(bufs);
        free(hists);
        free(maxids);
        return -1;
    }
    /* the first query of a tile brings each block in from memory */
    hs_filter_fn const filt[2] = {K->filter, K->filter_stream};
    hs_topk tk[HS_QTILE];
    int32_t cand_d[HS_FCAP];
    int64_t cand_i[HS_FCAP];
    const int64_t B = hs_block_codes(w);
    /* The smallest id of each block, where reading the ids once costs
     * little next to the scans (see hs_scan_thr); NULL: not known. */
    int64_t *bmin = NULL;
    if (ids && nq * (int64_t)w >= HS_BMIN_WORK) {
        bmin = (int64_t *)malloc(sizeof(int64_t) * (size_t)((n + B - 1) / B + 1));
        for (int64_t b = 0; bmin && b < n; b += B) {
            const int64_t bn = n - b < B ? n - b : B;
            int64_t m = INT64_MAX;
            for (int64_t i = 0; i < bn; i++)
                m = ids[b + i] < m ? ids[b + i] : m;
            bmin[b / B] = m;
        }
    }
    for (int64_t qa = 0; qa < nq; qa += Q) {
        const int64_t qn = nq - qa < Q ? nq - qa : Q;
        for (int64_t j = 0; j < qn; j++)
            hs_topk_init(&tk[j], bufs + j * cap, hists + j * (maxd + 1),
                         maxids + j * (maxd + 1), k, cap, maxd);
        for (int64_t b = 0; b < n; b += B) {
            const int64_t bn = n - b < B ? n - b : B;
            const uint64_t *blk = db + b * w;
            const int64_t *bids = ids ? ids + b : NULL;
            for (int64_t j = 0; j < qn; j++) {
                const uint64_t *qj = q + (qa + j) * w;
                int64_t s = 0;
                while (s < bn) {
                    /* ids still to come in this block: >= first (row ids:
                     * row0 + b + s; an ids array: its block minimum) */
                    const int64_t first = bids ? (bmin ? bmin[b / B] : INT64_MIN)
                                               : row0 + b + s;
                    const int32_t thr = hs_scan_thr(&tk[j], first);
                    if (thr < 0)
                        break; /* nothing left in the block can enter */
                    int cnt = filt[j == 0](qj, blk, bn, w, thr, &s,
                                           cand_d, cand_i, HS_FCAP);
                    if (skip)
                        cnt = hs_drop_skipped(cand_d, cand_i, cnt, skip, row0 + b);
                    /* two inlined copies: neither tests ids per candidate */
                    if (bids)
                        hs_topk_push(&tk[j], cand_d, cand_i, cnt, bids, 0);
                    else
                        hs_topk_push(&tk[j], cand_d, cand_i, cnt, NULL, row0 + b);
                }
            }
        }
        for (int64_t j = 0; j < qn; j++)
            hs_topk_finish(&tk[j], D + (qa + j) * k, I + (qa + j) * k);
    }
    free(bufs);
    free(hists);
    free(maxids);
    free(bmin);
    return 0;
}

typedef struct {
    const hs_kernels *K;
    const uint64_t *db;
    const int64_t *ids; /* NULL: row ids */
    int64_t n;
    int w;
    const uint64_t *q;
    int64_t nq, k;
    int32_t *D; /* query split: the output; db split: partial results */
    int64_t *I;
    int split_db;
    int err;
    const uint64_t *skip;
} hs_knn_ctx;

static void hs_knn_task(void *arg, int tid, int ntasks)
{
    hs_knn_ctx *c = (hs_knn_ctx *)arg;
    int64_t lo, hi, rc;
    if (!c->split_db) {
        hs_split(c->nq, tid, ntasks, &lo, &hi);
        rc = hs_knn_scan(c->K, c->db, c->ids, c->n, c->w, c->q + lo * c->w,
                         hi - lo, c->k, c->D + lo * c->k, c->I + lo * c->k, c->skip, 0);
    } else {
        hs_split(c->n, tid, ntasks, &lo, &hi);
        const int64_t off = (int64_t)tid * c->nq * c->k;
        /* the chunk's ids: c->ids + lo, or (row ids) lo + its row */
        rc = hs_knn_scan(c->K, c->db + lo * c->w, c->ids ? c->ids + lo : NULL,
                         hi - lo, c->w, c->q, c->nq, c->k, c->D + off, c->I + off,
                         c->skip, lo);
    }
    if (rc)
        c->err = 1; /* benign race: any task may set it */
}

int hs_knn(const uint64_t *db, const int64_t *ids, int64_t n, int w,
           const uint64_t *queries, int64_t nq, int64_t k, int32_t *D,
           int64_t *I, int nthreads, const uint64_t *skip)
{
    if (nq < 0 || k < 0 || n < 0 || w < 0)
        return HS_EINVAL;
    if (nq == 0 || k == 0)
        return 0;
    hs_knn_ctx c = {hs_active(), db, ids, n, w, queries, nq, k, D, I, 0, 0, skip};
    int T = hs_threads_for(n * nq * (int64_t)w, nthreads);
    if (T <= 1 || nq >= (int64_t)HS_QUERY_SPLIT_FACTOR * T || n < 2) {
        if (T > nq)
            T = (int)nq;
        hs_parallel(T, hs_knn_task, &c);
        return c.err ? HS_ENOMEM : 0;
    }
    /* fewer queries than threads: one database chunk per thread, then a
     * merge of the per-chunk top-k */
    if (T > n)
        T = (int)n;
    int64_t kp = (n + T - 1) / T; /* no chunk yields more than this */
    if (kp > k)
        kp = k;
    c.k = kp;
    c.split_db = 1;
    c.D = (int32_t *)malloc(sizeof(int32_t) * (size_t)(T * nq * kp));
    c.I = (int64_t *)malloc(sizeof(int64_t) * (size_t)(T * nq * kp));
    hs_pair *merge = (hs_pair *)malloc(sizeof(hs_pair) * (size_t)(T * kp));
    if (!c.D || !c.I || !merge) {
        free(c.D);
        free(c.I);
        free(merge);
        return HS_ENOMEM;
    }
    hs_parallel(T, hs_knn_task, &c);
    if (!c.err) {
        for (int64_t qi = 0; qi < nq; qi++) {
            int64_t m = 0;
            for (int t = 0; t < T; t++) {
                const int64_t off = ((int64_t)t * nq + qi) * kp;
                for (int64_t j = 0; j < kp && c.I[off + j] != -1; j++) {
                    merge[m].d = c.D[off + j];
                    merge[m].id = c.I[off + j];
                    m++;
                }
            }
            hs_topk tk;
            hs_topk_init(&tk, merge, NULL, NULL, k, m > k ? m : k + 1, 64 * w);
            tk.m = m;
            hs_topk_finish(&tk, D + qi * k, I + qi * k);
        }
    }
    free(c.D);
    free(c.I);
    free(merge);
    return c.err ? HS_ENOMEM : 0;
}

/* ------------------------------------------------------------------ */
/* range search                                                         */

typedef struct {
    hs_pair *p;
    int64_t m, cap;
} hs_vec;

static int hs_vec_reserve(hs_vec *v, int64_t extra)
{
    if (v->m + extra <= v->cap)
        return 0;
    int64_t cap = v->cap ? v->cap : 64;
    while (cap < v->m + extra)
        cap *= 2;
    hs_pair *p = (hs_pair *)realloc(v->p, sizeof(hs_pair) * (size_t)cap);
    if (!p)
        return -1;
    v->p = p;
    v->cap = cap;
    return 0;
}

/* All codes within thr of each of nq queries, appended to out[0..nq).
 * Code i is row row0 + i (ids and skip as for hs_knn_scan). */
static int hs_range_scan(const hs_kernels *K, const uint64_t *db,
                         const int64_t *ids, int64_t n, int w,
                         const uint64_t *q, int64_t nq, int32_t thr,
                         hs_vec *out, const uint64_t *skip, int64_t row0)
{
    /* the first query of a tile brings each block in from memory */
    hs_filter_fn const filt[2] = {K->filter, K->filter_stream};
    int32_t cand_d[HS_FCAP];
    int64_t cand_i[HS_FCAP];
    const int64_t B = hs_block_codes(w);
    for (int64_t qa = 0; qa < nq; qa += HS_QTILE) {
        const int64_t qn = nq - qa < HS_QTILE ? nq - qa : HS_QTILE;
        for (int64_t b = 0; b < n; b += B) {
            const int64_t bn = n - b < B ? n - b : B;
            for (int64_t j = 0; j < qn; j++) {
                hs_vec *v = &out[qa + j];
                int64_t s = 0;
                while (s < bn) {
                    int cnt = filt[j == 0](q + (qa + j) * w, db + b * w,
                                           bn, w, thr, &s, cand_d,
                                           cand_i, HS_FCAP);
                    if (skip)
                        cnt = hs_drop_skipped(cand_d, cand_i, cnt, skip, row0 + b);
                    if (hs_vec_reserve(v, cnt))
                        return -1;
                    for (int x = 0; x < cnt; x++) {
                        v->p[v->m].d = cand_d[x];
                        v->p[v->m].id = hs_row_id(ids, row0, b + cand_i[x]);
                        v->m++;
                    }
                }
            }
        }
    }
    return 0;
}

struct hs_range_result {
    int64_t nq;
    int64_t *lims;
    hs_pair *pairs;
};

typedef struct {
    const hs_kernels *K;
    const uint64_t *db;
    const int64_t *ids; /* NULL: row ids */
    int64_t n;
    int w;
    const uint64_t *q;
    int64_t nq;
    int32_t thr;
    hs_vec *vecs; /* query split: nq; db split: ntasks * nq */
    int split_db;
    int err;
    const uint64_t *skip;
} hs_range_ctx;

static void hs_range_task(void *arg, int tid, int ntasks)
{
    hs_range_ctx *c = (hs_range_ctx *)arg;
    int64_t lo, hi;
    int rc;
    if (!c->split_db) {
        hs_split(c->nq, tid, ntasks, &lo, &hi);
        rc = hs_range_scan(c->K, c->db, c->ids, c->n, c->w, c->q + lo * c->w,
                           hi - lo, c->thr, c->vecs + lo, c->skip, 0);
    } else {
        hs_split(c->n, tid, ntasks, &lo, &hi);
        rc = hs_range_scan(c->K, c->db + lo * c->w, c->ids ? c->ids + lo : NULL,
                           hi - lo, c->w, c->q, c->nq, c->thr,
                           c->vecs + (int64_t)tid * c->nq, c->skip, lo);
    }
    if (rc)
        c->err = 1;
}

/* Sort a[0..n) by (d, id), d <= maxd.  The scan emits a query's results in
 * row order, so a stable counting sort by distance leaves each distance's
 * ids ascending whenever ids grow with the row (row ids, sequential ids);
 * a distance whose ids do not is sorted by hs_pair_sort.  tmp: n pairs,
 * cnt: maxd + 2 counters. */
static void hs_range_sort_query(hs_pair *a, int64_t n, int32_t maxd, hs_pair *tmp,
                                int64_t *cnt)
{
    memset(cnt, 0, sizeof(int64_t) * (size_t)(maxd + 2));
    for (int64_t i = 0; i < n; i++)
        cnt[a[i].d + 1]++;
    for (int32_t d = 0; d <= maxd; d++)
        cnt[d + 1] += cnt[d];
    for (int64_t i = 0; i < n; i++)
        tmp[cnt[a[i].d]++] = a[i];
    /* cnt[d] is now the end of distance d */
    int64_t lo = 0;
    for (int32_t d = 0; d <= maxd; d++) {
        const int64_t hi = cnt[d];
        for (int64_t i = lo + 1; i < hi; i++) {
            if (tmp[i].id < tmp[i - 1].id) {
                hs_pair_sort(tmp + lo, hi - lo);
                break;
            }
        }
        lo = hi;
    }
    memcpy(a, tmp, sizeof(hs_pair) * (size_t)n);
}

typedef struct {
    hs_range_result *res;
    int32_t maxd;
    int64_t next; /* next query to sort (atomic) */
    int failed;
} hs_range_sort_ctx;

static void hs_range_sort_task(void *arg, int tid, int ntasks)
{
    hs_range_sort_ctx *c = (hs_range_sort_ctx *)arg;
    int64_t *cnt = (int64_t *)malloc(sizeof(int64_t) * (size_t)(c->maxd + 2));
    hs_pair *tmp = 0;
    int64_t cap = 0;
    (void)tid;
    (void)ntasks;
    if (!cnt) {
        __atomic_store_n(&c->failed, 1, __ATOMIC_RELAXED);
        return;
    }
    for (;;) {
        const int64_t qi = __atomic_fetch_add(&c->next, 1, __ATOMIC_RELAXED);
        if (qi >= c->res->nq || __atomic_load_n(&c->failed, __ATOMIC_RELAXED))
            break;
        hs_pair *a = c->res->pairs + c->res->lims[qi];
        const int64_t n = c->res->lims[qi + 1] - c->res->lims[qi];
        if (n < 64) {
            hs_pair_sort(a, n);
            continue;
        }
        if (n > cap) {
            free(tmp);
            tmp = (hs_pair *)malloc(sizeof(hs_pair) * (size_t)n);
            cap = tmp ? n : 0;
            if (!tmp) {
                __atomic_store_n(&c->failed, 1, __ATOMIC_RELAXED);
                break;
            }
        }
        hs_range_sort_query(a, n, c->maxd, tmp, cnt);
    }
    free(tmp);
    free(cnt);
}

hs_range_result *hs_range_search(const uint64_t *db, const int64_t *ids,
                                 int64_t n, int w, const uint64_t *queries,
                                 int64_t nq, int32_t radius, int nthreads,
                                 const uint64_t *skip, int *err)
{
    int dummy;
    if (!err)
        err = &dummy;
    if (nq < 0 || n < 0 || w < 0) {
        *err = HS_EINVAL;
        return 0;
    }
    *err = HS_ENOMEM; /* until the result is complete */
    hs_range_result *res = (hs_range_result *)calloc(1, sizeof(*res));
    if (!res)
        return 0;
    res->nq = nq < 0 ? 0 : nq;
    res->lims = (int64_t *)calloc((size_t)res->nq + 1, sizeof(int64_t));
    if (!res->lims) {
        free(res);
        return 0;
    }
    if (nq <= 0 || n <= 0 || radius < 0) {
        *err = 0;
        return res;
    }
    const int32_t maxd = 64 * w;
    hs_range_ctx c = {hs_active(), db, ids, n, w, queries, nq,
                      radius > maxd ? maxd : radius, 0, 0, 0, skip};
    int T = hs_threads_for(n * nq * (int64_t)w, nthreads);
    int nv;
    if (T <= 1 || nq >= (int64_t)HS_QUERY_SPLIT_FACTOR * T || n < 2) {
        if (T > nq)
            T = (int)nq;
        nv = 1;
    } else {
        if (T > n)
            T = (int)n;
        c.split_db = 1;
        nv = T;
    }
    c.vecs = (hs_vec *)calloc((size_t)(nv * nq), sizeof(hs_vec));
    if (!c.vecs) {
        hs_range_free(res);
        return 0;
    }
    hs_parallel(T, hs_range_task, &c);
    int64_t total = 0;
    for (int64_t i = 0; i < nv * nq; i++)
        total += c.vecs[i].m;
    if (!c.err)
        res->pairs = (hs_pair *)malloc(sizeof(hs_pair) * (size_t)(total ? total : 1));
    if (c.err || !res->pairs) {
        for (int64_t i = 0; i < nv * nq; i++)
            free(c.vecs[i].p);
        free(c.vecs);
        hs_range_free(res);
        return 0;
    }
    int64_t pos = 0;
    for (int64_t qi = 0; qi < nq; qi++) {
        for (int t = 0; t < nv; t++) {
            hs_vec *v = &c.vecs[(int64_t)t * nq + qi];
            if (v->m)
                memcpy(res->pairs + pos, v->p, sizeof(hs_pair) * (size_t)v->m);
            pos += v->m;
            free(v->p);
        }
        res->lims[qi + 1] = pos;
    }
    free(c.vecs);
    /* each query's results in (distance, id) order, queries in parallel */
    hs_range_sort_ctx sc = {res, c.thr, 0, 0};
    int ST = hs_threads_for(total, nthreads);
    hs_parallel(ST > nq ? (int)nq : ST, hs_range_sort_task, &sc);
    if (sc.failed) {
        hs_range_free(res);
        return 0;
    }
    *err = 0;
    return res;
}

int64_t hs_range_total(const hs_range_result *res)
{
    return res->lims[res->nq];
}

void hs_range_lims(const hs_range_result *res, int64_t *lims)
{
    memcpy(lims, res->lims, sizeof(int64_t) * (size_t)(res->nq + 1));
}

void hs_range_copy(const hs_range_result *res, int32_t *D, int64_t *I)
{
    const int64_t total = res->lims[res->nq];
    for (int64_t i = 0; i < total; i++) {
        D[i] = res->pairs[i].d;
        I[i] = res->pairs[i].id;
    }
}

void hs_range_free(hs_range_result *res)
{
    if (!res)
        return;
    free(res->lims);
    free(res->pairs);
    free(res);
}
