/*
 * rerank.c -- gather + float distance + top-k: the fine step of
 * hierarchical search (re-rank a Hamming candidate pool on float features).
 *
 * Two families of distance kernels, picked per call:
 *
 *   portable       plain C.  float32 rows: eight independent accumulators
 *                  (the compiler may vectorise them without reassociating
 *                  a single sum).  float16 rows: converted 64 values at a
 *                  time by bit manipulation (exact, handles subnormals)
 *                  into a stack buffer, then the float32 loop.
 *   avx2-fma-f16c  VFMADD231PS on four 8-lane accumulators (32 floats per
 *                  iteration); float16 rows are widened with VCVTPH2PS
 *                  (F16C) straight from memory.  Compiled for
 *                  target("avx2,fma,f16c"); the variant table (dispatch.c)
 *                  uses it for the avx2 and avx512 rows (which need FMA
 *                  and F16C), so HAMSEARCH_ISA and hs_set_isa pick it too.
 *
 * Top-k: a bounded max-heap of k candidates per query whose root is the
 * worst, ordered by (score, id) or (hamming, score, id), heap-sorted at the
 * end.  Threads pull queries from a shared atomic counter, so queries with
 * large pools do not leave other threads idle.
 */
#include "rerank.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hamsearch.h"
#include "kernels.h"
#include "threads.h"

typedef float (*hs_score_fn)(const float *q, const void *row, int64_t d);

/* One re-rank flavour; the variant table (dispatch.c) points to one. */
typedef struct hs_rerank_kernels {
    const char *name;
    hs_score_fn l2_f32, ip_f32, l2_f16, ip_f16;
} hs_rr_table;

/* ------------------------------------------------------------ portable */

static inline float hs_half_to_float(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    uint32_t bits;
    float f;
    if (e == 0) {
        f = (float)m * (1.0f / 16777216.0f); /* m * 2^-24, exact */
        memcpy(&bits, &f, 4);
        bits |= sign;
    } else if (e == 31) {
        bits = sign | 0x7f800000u | (m << 13);
    } else {
        bits = sign | ((e + 112u) << 23) | (m << 13);
    }
    memcpy(&f, &bits, 4);
    return f;
}

static float pt_l2_f32(const float *q, const void *row, int64_t d)
{
    const float *x = (const float *)row;
    float a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t j = 0;
    for (; j + 8 <= d; j += 8)
        for (int t = 0; t < 8; t++) {
            const float v = q[j + t] - x[j + t];
            a[t] += v * v;
        }
    float s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    for (; j < d; j++) {
        const float v = q[j] - x[j];
        s += v * v;
    }
    return s;
}

static float pt_ip_f32(const float *q, const void *row, int64_t d)
{
    const float *x = (const float *)row;
    float a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t j = 0;
    for (; j + 8 <= d; j += 8)
        for (int t = 0; t < 8; t++)
            a[t] += q[j + t] * x[j + t];
    float s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    for (; j < d; j++)
        s += q[j] * x[j];
    return s;
}

#define HS_HALF_CHUNK 64

static float pt_half(const float *q, const void *row, int64_t d, int ip)
{
    const uint16_t *x = (const uint16_t *)row;
    float buf[HS_HALF_CHUNK];
    float s = 0.0f;
    for (int64_t j0 = 0; j0 < d; j0 += HS_HALF_CHUNK) {
        const int64_t len = d - j0 < HS_HALF_CHUNK ? d - j0 : HS_HALF_CHUNK;
        for (int64_t t = 0; t < len; t++)
            buf[t] = hs_half_to_float(x[j0 + t]);
        s += ip ? pt_ip_f32(q + j0, buf, len) : pt_l2_f32(q + j0, buf, len);
    }
    return s;
}

static float pt_l2_f16(const float *q, const void *row, int64_t d)
{
    return pt_half(q, row, d, 0);
}

static float pt_ip_f16(const float *q, const void *row, int64_t d)
{
    return pt_half(q, row, d, 1);
}

const hs_rr_table hs_rerank_portable = {"portable", pt_l2_f32, pt_ip_f32,
                                           pt_l2_f16, pt_ip_f16};

/* ----------------------------------------------------- AVX2 + FMA + F16C */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HS_RR_X86 1
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif

static inline float av_hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Load 8 stored values as floats. */
#define AV_LD32(p) _mm256_loadu_ps(p)
#define AV_LD16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))

#define AV_KERNEL(NAME, T, LOAD, TAIL_LOAD, IS_IP)                              \
    static float NAME(const float *q, const void *row, int64_t d)               \
    {                                                                           \
        const T *x = (const T *)row;                                            \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;             \
        int64_t j = 0;                                                          \
        for (; j + 32 <= d; j += 32) {                                          \
            __m256 x0 = LOAD(x + j), x1 = LOAD(x + j + 8);                      \
            __m256 x2 = LOAD(x + j + 16), x3 = LOAD(x + j + 24);                \
            __m256 q0 = _mm256_loadu_ps(q + j), q1 = _mm256_loadu_ps(q + j + 8); \
            __m256 q2 = _mm256_loadu_ps(q + j + 16);                            \
            __m256 q3 = _mm256_loadu_ps(q + j + 24);                            \
            if (IS_IP) {                                                        \
                a0 = _mm256_fmadd_ps(q0, x0, a0);                               \
                a1 = _mm256_fmadd_ps(q1, x1, a1);                               \
                a2 = _mm256_fmadd_ps(q2, x2, a2);                               \
                a3 = _mm256_fmadd_ps(q3, x3, a3);                               \
            } else {                                                            \
                x0 = _mm256_sub_ps(q0, x0);                                     \
                x1 = _mm256_sub_ps(q1, x1);                                     \
                x2 = _mm256_sub_ps(q2, x2);                                     \
                x3 = _mm256_sub_ps(q3, x3);                                     \
                a0 = _mm256_fmadd_ps(x0, x0, a0);                               \
                a1 = _mm256_fmadd_ps(x1, x1, a1);                               \
                a2 = _mm256_fmadd_ps(x2, x2, a2);                               \
                a3 = _mm256_fmadd_ps(x3, x3, a3);                               \
            }                                                                   \
        }                                                                       \
        for (; j + 8 <= d; j += 8) {                                            \
            __m256 x0 = LOAD(x + j), q0 = _mm256_loadu_ps(q + j);               \
            if (IS_IP) {                                                        \
                a0 = _mm256_fmadd_ps(q0, x0, a0);                               \
            } else {                                                            \
                x0 = _mm256_sub_ps(q0, x0);                                     \
                a0 = _mm256_fmadd_ps(x0, x0, a0);                               \
            }                                                                   \
        }                                                                       \
        float s = av_hsum(_mm256_add_ps(_mm256_add_ps(a0, a1),                  \
                                        _mm256_add_ps(a2, a3)));                \
        for (; j < d; j++) {                                                    \
            const float v = TAIL_LOAD(x[j]);                                    \
            s += IS_IP ? q[j] * v : (q[j] - v) * (q[j] - v);                    \
        }                                                                       \
        return s;                                                               \
    }

#define AV_SELF(v) (v)
#define AV_HALF(v) _cvtsh_ss(v)

AV_KERNEL(av_l2_f32, float, AV_LD32, AV_SELF, 0)
AV_KERNEL(av_ip_f32, float, AV_LD32, AV_SELF, 1)
AV_KERNEL(av_l2_f16, uint16_t, AV_LD16, AV_HALF, 0)
AV_KERNEL(av_ip_f16, uint16_t, AV_LD16, AV_HALF, 1)

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

const hs_rr_table hs_rerank_avx2 = {"avx2-fma-f16c", av_l2_f32, av_ip_f32,
                                       av_l2_f16, av_ip_f16};

#else /* never selected: no row needing AVX2 runs here */
const hs_rr_table hs_rerank_avx2 = {"portable", pt_l2_f32, pt_ip_f32,
                                    pt_l2_f16, pt_ip_f16};
#endif /* x86 */

/* The re-rank kernels of the variant-table row in force (dispatch.c: the
 * AVX2 rows need FMA and F16C too). */
static const hs_rr_table *hs_rr_active(void)
{
    return hs_active_variant()->rerank;
}

const char *hs_rerank_isa(void)
{
    return hs_rr_active()->name;
}

static hs_score_fn hs_rr_pick(const hs_rr_table *t, int ftype, int metric)
{
    if (ftype == HS_FEAT_F16)
        return metric == HS_METRIC_IP ? t->ip_f16 : t->l2_f16;
    return metric == HS_METRIC_IP ? t->ip_f32 : t->l2_f32;
}

/* --------------------------------------------------------------- top-k */

typedef struct {
    int32_t h;  /* ordering key: Hamming distance (bucket order) or 0 */
    float s;    /* score: L2 distance or minus the inner product */
    int64_t id;
    int32_t v;  /* Hamming distance reported */
} hs_cand;

static inline int hs_gt(const hs_cand *a, const hs_cand *b)
{
    if (a->h != b->h)
        return a->h > b->h;
    if (a->s != b->s)
        return a->s > b->s;
    return a->id > b->id;
}

static inline void hs_heap_push(hs_cand *hp, int64_t size, hs_cand c)
{
    int64_t p = size;
    while (p > 0) {
        const int64_t par = (p - 1) >> 1;
        if (!hs_gt(&c, &hp[par]))
            break;
        hp[p] = hp[par];
        p = par;
    }
    hp[p] = c;
}

/* Put c at the root of a heap of `size` items and restore the order. */
static inline void hs_heap_sift(hs_cand *hp, int64_t size, hs_cand c)
{
    int64_t p = 0;
    for (;;) {
        int64_t ch = 2 * p + 1;
        if (ch >= size)
            break;
        if (ch + 1 < size && hs_gt(&hp[ch + 1], &hp[ch]))
            ch++;
        if (!hs_gt(&hp[ch], &c))
            break;
        hp[p] = hp[ch];
        p = ch;
    }
    hp[p] = c;
}

typedef struct {
    hs_score_fn fn;
    const char *feats;
    size_t rowbytes;
    int64_t d;
    const float *qf;
    int64_t nq;
    const int64_t *lims, *pos, *ids;
    const int32_t *ham;
    int metric, order;
    int64_t k;
    float *D;
    int64_t *I;
    int32_t *H;
    int64_t next; /* next query to take (atomic) */
    int failed;
} hs_rr_ctx;

static void hs_rr_query(const hs_rr_ctx *c, int64_t q, hs_cand *hp)
{
    const float *qv = c->qf + q * c->d;
    const int64_t k = c->k;
    int64_t size = 0;
    for (int64_t t = c->lims[q]; t < c->lims[q + 1]; t++) {
        const int64_t r = c->pos[t];
        hs_cand cand;
        cand.s = c->fn(qv, c->feats + (size_t)r * c->rowbytes, c->d);
        if (c->metric == HS_METRIC_IP)
            cand.s = -cand.s;
        cand.v = c->ham[t];
        cand.h = c->order == HS_ORDER_BUCKET ? cand.v : 0;
        cand.id = hs_row_id(c->ids, 0, r);
        if (size < k)
            hs_heap_push(hp, size++, cand);
        else if (hs_gt(&hp[0], &cand))
            hs_heap_sift(hp, size, cand);
    }
    for (int64_t n = size; n > 1;) { /* heap sort: worst to the back */
        n--;
        const hs_cand last = hp[n];
        hp[n] = hp[0];
        hs_heap_sift(hp, n, last);
    }
    float *D = c->D + q * k;
    int64_t *I = c->I + q * k;
    int32_t *H = c->H + q * k;
    for (int64_t j = 0; j < size; j++) {
        D[j] = c->metric == HS_METRIC_IP ? -hp[j].s : hp[j].s;
        I[j] = hp[j].id;
        H[j] = hp[j].v;
    }
    const float pad = c->metric == HS_METRIC_IP ? -INFINITY : INFINITY;
    for (int64_t j = size; j < k; j++) {
        D[j] = pad;
        I[j] = -1;
        H[j] = HS_PAD_DISTANCE;
    }
}

static void hs_rr_task(void *vctx, int tid, int ntasks)
{
    hs_rr_ctx *c = (hs_rr_ctx *)vctx;
    (void)tid;
    (void)ntasks;
    hs_cand *hp = (hs_cand *)malloc(sizeof(hs_cand) * (size_t)(c->k > 0 ? c->k : 1));
    if (!hp) {
        __atomic_store_n(&c->failed, 1, __ATOMIC_RELAXED);
        return;
    }
    for (;;) {
        const int64_t q = __atomic_fetch_add(&c->next, 1, __ATOMIC_RELAXED);
        if (q >= c->nq)
            break;
        hs_rr_query(c, q, hp);
    }
    free(hp);
}

int hs_rerank(const void *feats, int ftype, int64_t d, const float *qf,
              int64_t nq, const int64_t *lims, const int64_t *pos,
              const int32_t *ham, const int64_t *ids, int metric, int order,
              int64_t k, float *D, int64_t *I, int32_t *H, int nthreads)
{
    if (nq < 0 || k < 0 || d < 0 || (metric != 0 && metric != 1) ||
        (order != 0 && order != 1) || (ftype != 0 && ftype != 1))
        return HS_EINVAL;
    if (nq == 0 || k == 0)
        return 0;
    hs_rr_ctx c;
    c.fn = hs_rr_pick(hs_rr_active(), ftype, metric);
    c.feats = (const char *)feats;
    c.rowbytes = (size_t)d * (ftype == HS_FEAT_F16 ? 2u : 4u);
    c.d = d;
    c.qf = qf;
    c.nq = nq;
    c.lims = lims;
    c.pos = pos;
    c.ids = ids;
    c.ham = ham;
    c.metric = metric;
    c.order = order;
    c.k = k;
    c.D = D;
    c.I = I;
    c.H = H;
    c.next = 0;
    c.failed = 0;
    /* work units comparable to the popcount kernels': one per 16 floats */
    const int64_t total = lims[nq] - lims[0];
    int nt = hs_threads_for(total * (d / 16 + 1), nthreads);
    if (nt > nq)
        nt = (int)nq;
    hs_parallel(nt, hs_rr_task, &c);
    return c.failed ? HS_ENOMEM : 0;
}

void hs_feature_distances(const void *feats, int ftype, int64_t d,
                          const float *q, const int64_t *pos, int64_t npos,
                          int metric, float *out)
{
    const hs_score_fn fn = hs_rr_pick(hs_rr_active(), ftype, metric);
    const char *base = (const char *)feats;
    const size_t rowbytes = (size_t)d * (ftype == HS_FEAT_F16 ? 2u : 4u);
    for (int64_t j = 0; j < npos; j++)
        out[j] = fn(q, base + (size_t)pos[j] * rowbytes, d);
}
