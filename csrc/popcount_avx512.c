/*
 * popcount_avx512.c -- AVX-512 VPOPCNTDQ family.
 *
 * VPXORQ + VPOPCNTQ give eight 64-bit word counts per instruction.  Codes of
 * 2 and 4 words are summed across lanes with VPERMT2Q (even/odd lanes of two
 * vectors) + VPADDQ, so every code ends in its own 64-bit lane, in code
 * order.  The threshold test is VPCMPUQ into a mask register; masks of the
 * unrolled group are OR-ed (KORW) and tested once.  Other word counts sum
 * masked 8-word loads (VMOVDQU64 with a tail mask) per code in groups of 16
 * codes (8 from 32 words up), folded into one vector of distances
 * (hs512_group16 / hs512_group8).
 * Compiled for target("avx512f,avx512bw,avx512vbmi,avx512vpopcntdq,popcnt");
 * selected only when CPUID.07H says AVX512F, AVX512BW (EBX bit 30),
 * AVX512_VBMI (ECX bit 1) and AVX512_VPOPCNTDQ (ECX bit 14) and XGETBV says
 * the OS saves ZMM state.
 *
 * The test suite runs it only where the CPU supports it (Zen 5 here).
 */
#include <stdint.h>

#include "kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <immintrin.h>

#if defined(__clang__)
#  pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vbmi,avx512vpopcntdq,popcnt"))), apply_to = function)
#else
#  pragma GCC push_options
#  pragma GCC target("avx512f,avx512bw,avx512vbmi,avx512vpopcntdq,popcnt")
#endif

#define HS_POP64(x) ((uint64_t)__builtin_popcountll(x))
#define HS_FN(name) avx512s_##name
#include "scalar_impl.h"

/* Distances of the 8 codes at c, as 64-bit lanes in code order. */
static inline __m512i hs512_w1(const uint64_t *c, __m512i qv)
{
    return _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512(c), qv));
}

static inline __m512i hs512_w2(const uint64_t *c, __m512i qv, __m512i even,
                               __m512i odd)
{
    const __m512i p0 =
        _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512(c), qv));
    const __m512i p1 =
        _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512(c + 8), qv));
    return _mm512_add_epi64(_mm512_permutex2var_epi64(p0, even, p1),
                            _mm512_permutex2var_epi64(p0, odd, p1));
}

static inline __m512i hs512_w4(const uint64_t *c, __m512i qv, __m512i even,
                               __m512i odd)
{
    /* p[j] holds codes 2j, 2j+1 (4 words each) */
    __m512i p[4];
    for (int j = 0; j < 4; j++)
        p[j] = _mm512_popcnt_epi64(
            _mm512_xor_si512(_mm512_loadu_si512(c + 8 * j), qv));
    /* pair sums: a = codes 0..3 as (w0+w1, w2+w3) pairs, b = codes 4..7 */
    const __m512i a = _mm512_add_epi64(_mm512_permutex2var_epi64(p[0], even, p[1]),
                                       _mm512_permutex2var_epi64(p[0], odd, p[1]));
    const __m512i b = _mm512_add_epi64(_mm512_permutex2var_epi64(p[2], even, p[3]),
                                       _mm512_permutex2var_epi64(p[2], odd, p[3]));
    return _mm512_add_epi64(_mm512_permutex2var_epi64(a, even, b),
                            _mm512_permutex2var_epi64(a, odd, b));
}

/* Distance of one code of w words (any w). */
static inline int32_t hs512_dist(const uint64_t *q, const uint64_t *c, int w)
{
    __m512i acc = _mm512_setzero_si512();
    int j = 0;
    for (; j + 8 <= w; j += 8)
        acc = _mm512_add_epi64(
            acc, _mm512_popcnt_epi64(_mm512_xor_si512(
                     _mm512_loadu_si512(c + j), _mm512_loadu_si512(q + j))));
    if (j < w) {
        const __mmask8 m = (__mmask8)((1u << (w - j)) - 1u);
        acc = _mm512_add_epi64(
            acc, _mm512_popcnt_epi64(
                     _mm512_xor_si512(_mm512_maskz_loadu_epi64(m, c + j),
                                      _mm512_maskz_loadu_epi64(m, q + j))));
    }
    return (int32_t)_mm512_reduce_add_epi64(acc);
}

#define HS512_CONSTS                                                        \
    const __m512i even = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);      \
    const __m512i odd = _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15)

static __m512i hs512_query(const uint64_t *q, int w)
{
    if (w == 1)
        return _mm512_set1_epi64((long long)q[0]);
    if (w == 2)
        return _mm512_setr_epi64((long long)q[0], (long long)q[1],
                                 (long long)q[0], (long long)q[1],
                                 (long long)q[0], (long long)q[1],
                                 (long long)q[0], (long long)q[1]);
    /* w == 4 */
    return _mm512_setr_epi64((long long)q[0], (long long)q[1], (long long)q[2],
                             (long long)q[3], (long long)q[0], (long long)q[1],
                             (long long)q[2], (long long)q[3]);
}

/* ---- codes of any other width: groups of 16 codes ------------------- */

/* Popcount of (q ^ c) over w words as 8 per-lane partial sums: the 8-word
 * blocks of the code, the last one masked. */
static inline __attribute__((always_inline)) __m512i
hs512_code_sums(const uint64_t *q, const uint64_t *c, int w)
{
    const int full = w / 8, tail = w % 8;
    __m512i s = _mm512_setzero_si512();
    for (int j = 0; j < full; j++)
        s = _mm512_add_epi64(s, _mm512_popcnt_epi64(_mm512_xor_si512(
                                    _mm512_loadu_si512(c + 8 * j),
                                    _mm512_loadu_si512(q + 8 * j))));
    if (tail) {
        const __mmask8 tm = (__mmask8)((1u << tail) - 1u);
        s = _mm512_add_epi64(s, _mm512_popcnt_epi64(_mm512_xor_si512(
                                    _mm512_maskz_loadu_epi64(tm, c + 8 * full),
                                    _mm512_maskz_loadu_epi64(tm, q + 8 * full))));
    }
    return s;
}

/* The horizontal sums of the 8 vectors a[0..7]: lane k of the result is
 * the sum of the 64-bit lanes of a[k].  Three levels of in-lane and
 * 128-bit-lane shuffles (VPUNPCK{L,H}QDQ, then VSHUFI64X2 twice) + VPADDQ
 * fold the 8 vectors into one (14 shuffles and 7 adds), instead of a
 * horizontal reduction per vector. */
static inline __attribute__((always_inline)) __m512i hs512_hsum8(const __m512i *a)
{
    __m512i t[4];
    for (int k = 0; k < 4; k++)
        t[k] = _mm512_add_epi64(_mm512_unpacklo_epi64(a[2 * k], a[2 * k + 1]),
                                _mm512_unpackhi_epi64(a[2 * k], a[2 * k + 1]));
    __m512i u[2];
    for (int k = 0; k < 2; k++)
        u[k] = _mm512_add_epi64(
            _mm512_shuffle_i64x2(t[2 * k], t[2 * k + 1], _MM_SHUFFLE(2, 0, 2, 0)),
            _mm512_shuffle_i64x2(t[2 * k], t[2 * k + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_add_epi64(_mm512_shuffle_i64x2(u[0], u[1], _MM_SHUFFLE(2, 0, 2, 0)),
                            _mm512_shuffle_i64x2(u[0], u[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

/* Distances of the 16 codes c, c + w, ..., c + 15 w (w words each) to q + k
 * qstride (qstride 0: one query; w: row k of a second matrix), as 32-bit
 * lanes in code order.  Codes 2j and 2j+1 share one vector of partial sums
 * (the odd code's shifted into the high halves: every partial sum is below
 * 2^32), and hs512_hsum8 folds the 8 vectors into one: 37 instructions
 * per 16 codes for the packing and the fold, instead of a horizontal
 * reduction per code.  Always inlined: with a constant w
 * the block loop unrolls and the query blocks stay in registers. */
static inline __attribute__((always_inline)) __m512i
hs512_group16(const uint64_t *q, int64_t qstride, const uint64_t *c, int w)
{
    __m512i p[8];
    for (int k = 0; k < 8; k++) {
        const int64_t e = 2 * k, o = 2 * k + 1;
        const __m512i se = hs512_code_sums(q + e * qstride, c + e * w, w);
        const __m512i so = hs512_code_sums(q + o * qstride, c + o * w, w);
        p[k] = _mm512_add_epi64(se, _mm512_slli_epi64(so, 32));
    }
    return hs512_hsum8(p);
}

/* The same for 8 codes, one per vector, as 64-bit lanes in code order:
 * faster than hs512_group16 from 32 words (2048 bits) up on Zen 5, where
 * the packing no longer pays for the extra live registers. */
static inline __attribute__((always_inline)) __m512i
hs512_group8(const uint64_t *q, int64_t qstride, const uint64_t *c, int w)
{
    __m512i a[8];
    for (int k = 0; k < 8; k++)
        a[k] = hs512_code_sums(q + k * qstride, c + (int64_t)k * w, w);
    return hs512_hsum8(a);
}

/* Codes per group for width w (a compile-time constant after inlining). */
#define HS512_GROUP(w) ((w) < 32 ? 16 : 8)

/* ---- 3-8 words: 8 codes in w full vectors, counts gathered by bytes ---- */

/* For codes of w <= 8 words, 8 consecutive codes are exactly w 8-word
 * vectors: each is XOR-ed with the query repeated at period w and counted
 * (VPOPCNTQ), no lane wasted on masking.  Every count (<= 64) sits in the
 * low byte of its lane; ceil(w / 2) byte permutes (VPERMT2B, zero-masked)
 * move the counts of code c to bytes 8c .. 8c + w - 1 of one vector, and
 * one VPSADBW sums each code's bytes: 8 distances in 64-bit lanes for
 * 2w + ceil(w / 2) + 2 instructions (6 words: 17 for 8 codes, against 34
 * for two codes per vector and a shuffle fold).  Needs AVX512_VBMI and
 * AVX512BW, which every VPOPCNTDQ CPU but Knights Mill has.
 *
 * Permute r reads popcount vectors 2r and 2r + 1, i.e. lanes g in
 * [16r, 16r + 16) of the 8w lanes of the 8 codes (lane g = word g % w of
 * code g / w); output byte P = 8c + j takes lane g = w c + j, at byte
 * 8 (g - 16 r) of the two sources. */
#define HS512_G(w, P) ((w) * ((P) / 8) + (P) % 8)
#define HS512_IN(w, r, P)                                                   \
    ((P) % 8 < (w) && HS512_G(w, P) >= 16 * (r) && HS512_G(w, P) < 16 * (r) + 16)
#define HS512_IDX(w, r, P) (HS512_IN(w, r, P) ? (HS512_G(w, P) - 16 * (r)) * 8 : 0)
#define HS512_X8(w, r, b)                                                   \
    HS512_IDX(w, r, b), HS512_IDX(w, r, b + 1), HS512_IDX(w, r, b + 2),     \
        HS512_IDX(w, r, b + 3), HS512_IDX(w, r, b + 4), HS512_IDX(w, r, b + 5), \
        HS512_IDX(w, r, b + 6), HS512_IDX(w, r, b + 7)
#define HS512_ROW(w, r)                                                     \
    {HS512_X8(w, r, 0),  HS512_X8(w, r, 8),  HS512_X8(w, r, 16),            \
     HS512_X8(w, r, 24), HS512_X8(w, r, 32), HS512_X8(w, r, 40),            \
     HS512_X8(w, r, 48), HS512_X8(w, r, 56)}
#define HS512_M(w, r, P) ((uint64_t)HS512_IN(w, r, P) << (P))
#define HS512_M8(w, r, b)                                                   \
    (HS512_M(w, r, b) | HS512_M(w, r, b + 1) | HS512_M(w, r, b + 2) |       \
     HS512_M(w, r, b + 3) | HS512_M(w, r, b + 4) | HS512_M(w, r, b + 5) |   \
     HS512_M(w, r, b + 6) | HS512_M(w, r, b + 7))
#define HS512_MASK(w, r)                                                    \
    (HS512_M8(w, r, 0) | HS512_M8(w, r, 8) | HS512_M8(w, r, 16) |           \
     HS512_M8(w, r, 24) | HS512_M8(w, r, 32) | HS512_M8(w, r, 40) |         \
     HS512_M8(w, r, 48) | HS512_M8(w, r, 56))
#define HS512_TABLE(w) {HS512_ROW(w, 0), HS512_ROW(w, 1), HS512_ROW(w, 2), HS512_ROW(w, 3)}
#define HS512_MASKS(w) {HS512_MASK(w, 0), HS512_MASK(w, 1), HS512_MASK(w, 2), HS512_MASK(w, 3)}

/* Index by w - 3 (w = 4 unused: it has its own kernel). */
static const uint8_t hs512_gather_idx[6][4][64] __attribute__((aligned(64))) = {
    HS512_TABLE(3), HS512_TABLE(4), HS512_TABLE(5),
    HS512_TABLE(6), HS512_TABLE(7), HS512_TABLE(8)};
static const uint64_t hs512_gather_mask[6][4] = {
    HS512_MASKS(3), HS512_MASKS(4), HS512_MASKS(5),
    HS512_MASKS(6), HS512_MASKS(7), HS512_MASKS(8)};

/* The query repeated at period w over 8 w words, as w vectors. */
static inline __attribute__((always_inline)) void
hs512_query_period(const uint64_t *q, int w, __m512i *Q)
{
    uint64_t t[64];
    for (int i = 0; i < 8 * w; i++)
        t[i] = q[i % w];
    for (int j = 0; j < w; j++)
        Q[j] = _mm512_loadu_si512(t + 8 * j);
}

/* Distances of the 8 codes at c (w words each, 3 <= w <= 8) to the query
 * given as hs512_query_period's Q, as 64-bit lanes in code order. */
static inline __attribute__((always_inline)) __m512i
hs512_bytes8(const uint64_t *c, const __m512i *Q, int w)
{
    const uint8_t (*idx)[64] = hs512_gather_idx[w - 3];
    const uint64_t *mask = hs512_gather_mask[w - 3];
    __m512i p[8];
    for (int j = 0; j < w; j++)
        p[j] = _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512(c + 8 * j), Q[j]));
    __m512i bytes = _mm512_setzero_si512();
    for (int r = 0; 2 * r < w; r++) {
        const __m512i ix = _mm512_load_si512(idx[r]);
        const __m512i g =
            2 * r + 1 < w
                ? _mm512_maskz_permutex2var_epi8(mask[r], p[2 * r], ix, p[2 * r + 1])
                : _mm512_maskz_permutexvar_epi8(mask[r], ix, p[2 * r]);
        bytes = _mm512_or_si512(bytes, g);
    }
    return _mm512_sad_epu8(bytes, _mm512_setzero_si512());
}

/* Codes of w = 2h words (h = 5 .. 8: 640, 768, 896, 1024 bits): the 8 codes
 * at c are 16 half codes of h words; hs512_bytes8 gives the distances of
 * each half to its half of the query (Q: the query repeated at period w
 * over 4 codes, h vectors), and the halves of a code are summed: 8
 * distances in 64-bit lanes in code order. */
static inline __attribute__((always_inline)) __m512i
hs512_halves8(const uint64_t *c, const __m512i *Q, int h)
{
    const __m512i s0 = hs512_bytes8(c, Q, h);          /* codes 0-3, halves */
    const __m512i s1 = hs512_bytes8(c + 8 * h, Q, h);  /* codes 4-7 */
    /* [c0 c4 | c1 c5 | c2 c6 | c3 c7] -> code order */
    const __m512i t = _mm512_add_epi64(_mm512_unpacklo_epi64(s0, s1),
                                       _mm512_unpackhi_epi64(s0, s1));
    return _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7), t);
}

/* The query of w = 2h words repeated over 4 codes, as the h vectors that
 * hs512_halves8 takes. */
static inline __attribute__((always_inline)) void
hs512_query_halves(const uint64_t *q, int w, __m512i *Q)
{
    uint64_t t[64];
    for (int i = 0; i < 4 * w; i++)
        t[i] = q[i % w];
    for (int j = 0; j < w / 2; j++)
        Q[j] = _mm512_loadu_si512(t + 8 * j);
}

/* Distances of 8 codes of w words (3-8, or 10, 12, 14, 16) starting at c,
 * with Q from hs512_query_bytes. */
static inline __attribute__((always_inline)) __m512i
hs512_bytes_any8(const uint64_t *c, const __m512i *Q, int w)
{
    return w <= 8 ? hs512_bytes8(c, Q, w) : hs512_halves8(c, Q, w / 2);
}

static inline __attribute__((always_inline)) void
hs512_query_bytes(const uint64_t *q, int w, __m512i *Q)
{
    if (w <= 8)
        hs512_query_period(q, w, Q);
    else
        hs512_query_halves(q, w, Q);
}

static inline __attribute__((always_inline)) void
hs512_bytes_distances(const uint64_t *q, const uint64_t *db, int64_t n, int w,
                      int32_t *out)
{
    __m512i Q[8];
    hs512_query_bytes(q, w, Q);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_si256((__m256i *)(out + i),
                            _mm512_cvtepi64_epi32(hs512_bytes_any8(db + i * (int64_t)w, Q, w)));
    for (; i < n; i++)
        out[i] = hs512_dist(q, db + i * (int64_t)w, w);
}

static inline __attribute__((always_inline)) int
hs512_bytes_filter(const uint64_t *q, const uint64_t *db, int64_t n, int w,
                   int32_t thr, int64_t *start, int32_t *cand_d, int64_t *cand_i,
                   int cap, int stream)
{
    __m512i Q[8];
    hs512_query_bytes(q, w, Q);
    const __m512i thrv = _mm512_set1_epi64((long long)thr);
#define HS512_GROUP_(c)                                                      \
    do {                                                                    \
        const __m512i s = hs512_bytes_any8(c, Q, w);                        \
        uint32_t m = (uint32_t)_mm512_cmple_epu64_mask(s, thrv);            \
        if (m) {                                                            \
            uint64_t t[8];                                                  \
            _mm512_storeu_si512(t, s);                                      \
            HS_MASK_EMIT(m, t, i, 8);                                       \
        }                                                                   \
    } while (0)
    HS_GROUP_FILTER(8, HS512_GROUP_, hs512_dist);
#undef HS512_GROUP_
}

/* The widths with their own unrolled copy of the group loops: kernels.h's
 * and 10 words (640 bits). */
#define HS512_WIDE_DISPATCH(w, CALL) HS_WIDE_DISPATCH(w, CALL, HS_WIDE_CASE(CALL, 10))

static inline __attribute__((always_inline)) void
hs512_wide_pairs(const uint64_t *q, int64_t qstride, const uint64_t *db,
                 int64_t n, int w, int32_t *out)
{
    int64_t i = 0;
    if (HS512_GROUP(w) == 16) {
        for (; i + 16 <= n; i += 16)
            _mm512_storeu_si512(out + i, hs512_group16(q + i * qstride, qstride,
                                                       db + i * (int64_t)w, w));
    } else {
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_si256((__m256i *)(out + i),
                                _mm512_cvtepi64_epi32(hs512_group8(
                                    q + i * qstride, qstride, db + i * (int64_t)w, w)));
    }
    for (; i < n; i++)
        out[i] = hs512_dist(q + i * qstride, db + i * (int64_t)w, w);
}

static void hs512_wide_distances(const uint64_t *q, const uint64_t *db,
                                 int64_t n, int w, int32_t *out)
{
    switch (w) {
    case 3: return hs512_bytes_distances(q, db, n, 3, out);
    case 5: return hs512_bytes_distances(q, db, n, 5, out);
    case 6: return hs512_bytes_distances(q, db, n, 6, out);
    case 7: return hs512_bytes_distances(q, db, n, 7, out);
    case 8: return hs512_bytes_distances(q, db, n, 8, out);
    case 10: return hs512_bytes_distances(q, db, n, 10, out);
    case 12: return hs512_bytes_distances(q, db, n, 12, out);
    case 14: return hs512_bytes_distances(q, db, n, 14, out);
    case 16: return hs512_bytes_distances(q, db, n, 16, out);
    default: break;
    }
#define HS512_CALL_(W) hs512_wide_pairs(q, 0, db, n, W, out)
    HS512_WIDE_DISPATCH(w, HS512_CALL_)
#undef HS512_CALL_
}

static void hs512_wide_rows(const uint64_t *a, const uint64_t *b, int64_t n,
                            int w, int32_t *out)
{
#define HS512_CALL_(W) hs512_wide_pairs(a, W, b, n, W, out)
    HS512_WIDE_DISPATCH(w, HS512_CALL_)
#undef HS512_CALL_
}

/* filter for the grouped widths (see kernels.h for the contract). */
static inline __attribute__((always_inline)) int
hs512_wide_filter(const uint64_t *q, const uint64_t *db, int64_t n, int w,
                  int32_t thr, int64_t *start, int32_t *cand_d,
                  int64_t *cand_i, int cap, int stream)
{
    const int G = HS512_GROUP(w);
    const __m512i thr32 = _mm512_set1_epi32(thr);
    const __m512i thr64 = _mm512_set1_epi64((long long)thr);
#define HS512_GROUP_(c)                                                      \
    do {                                                                    \
        uint32_t t[16];                                                     \
        uint32_t m;                                                         \
        if (G == 16) {                                                      \
            const __m512i s = hs512_group16(q, 0, c, w);                    \
            m = (uint32_t)_mm512_cmple_epu32_mask(s, thr32);                \
            if (m)                                                          \
                _mm512_storeu_si512(t, s);                                  \
        } else {                                                            \
            const __m512i s = hs512_group8(q, 0, c, w);                     \
            m = (uint32_t)_mm512_cmple_epu64_mask(s, thr64);                \
            if (m)                                                          \
                _mm256_storeu_si256((__m256i *)t, _mm512_cvtepi64_epi32(s)); \
        }                                                                   \
        if (m) {                                                            \
            HS_MASK_EMIT(m, t, i, G);                                       \
        }                                                                   \
    } while (0)
    HS_GROUP_FILTER(G, HS512_GROUP_, hs512_dist);
#undef HS512_GROUP_
}

static int hs512_wide_filter_any(const uint64_t *q, const uint64_t *db,
                                 int64_t n, int w, int32_t thr, int64_t *start,
                                 int32_t *cand_d, int64_t *cand_i, int cap,
                                 int stream)
{
#define HS512_BYTES_(W)                                                      \
    (stream ? hs512_bytes_filter(q, db, n, W, thr, start, cand_d, cand_i, cap, 1) \
            : hs512_bytes_filter(q, db, n, W, thr, start, cand_d, cand_i, cap, 0))
    switch (w) {
    case 3: return HS512_BYTES_(3);
    case 5: return HS512_BYTES_(5);
    case 6: return HS512_BYTES_(6);
    case 7: return HS512_BYTES_(7);
    case 8: return HS512_BYTES_(8);
    case 10: return HS512_BYTES_(10);
    case 12: return HS512_BYTES_(12);
    case 14: return HS512_BYTES_(14);
    case 16: return HS512_BYTES_(16);
    default: break;
    }
#undef HS512_BYTES_
#define HS512_CALL_(W)                                                       \
    (stream ? hs512_wide_filter(q, db, n, W, thr, start, cand_d, cand_i, cap, 1) \
            : hs512_wide_filter(q, db, n, W, thr, start, cand_d, cand_i, cap, 0))
    HS512_WIDE_DISPATCH(w, HS512_CALL_)
#undef HS512_CALL_
}

static void avx512_distances(const uint64_t *q, const uint64_t *db, int64_t n,
                             int w, int32_t *out)
{
    int64_t i = 0;
    if (w == 1 || w == 2 || w == 4) {
        HS512_CONSTS;
        const __m512i qv = hs512_query(q, w);
        for (; i + 8 <= n; i += 8) {
            const uint64_t *c = db + i * (int64_t)w;
            const __m512i s = w == 1 ? hs512_w1(c, qv)
                              : w == 2 ? hs512_w2(c, qv, even, odd)
                                       : hs512_w4(c, qv, even, odd);
            _mm256_storeu_si256((__m256i *)(out + i), _mm512_cvtepi64_epi32(s));
        }
        if (i < n)
            avx512s_distances(q, db + i * (int64_t)w, n - i, w, out + i);
        return;
    }
    hs512_wide_distances(q, db, n, w, out);
}

static void avx512_rows(const uint64_t *a, const uint64_t *b, int64_t n, int w,
                        int32_t *out)
{
    if (w == 1 || w == 2 || w == 4) {
        avx512s_rows(a, b, n, w, out);
        return;
    }
    hs512_wide_rows(a, b, n, w, out);
}

/* Emit passing lanes of a group of 32 codes (4 masks of 8) at position i. */
#define HS512_GROUP_EMIT(s0, s1, s2, s3)                                    \
    do {                                                                    \
        const __mmask8 m0_ = _mm512_cmple_epu64_mask(s0, thrv);              \
        const __mmask8 m1_ = _mm512_cmple_epu64_mask(s1, thrv);              \
        const __mmask8 m2_ = _mm512_cmple_epu64_mask(s2, thrv);              \
        const __mmask8 m3_ = _mm512_cmple_epu64_mask(s3, thrv);              \
        if ((m0_ | m1_ | m2_ | m3_) != 0) {                                 \
            uint32_t m_ = (uint32_t)m0_ | ((uint32_t)m1_ << 8) |            \
                          ((uint32_t)m2_ << 16) | ((uint32_t)m3_ << 24);    \
            uint64_t t_[32];                                                \
            _mm512_storeu_si512(t_, s0);                                    \
            _mm512_storeu_si512(t_ + 8, s1);                                \
            _mm512_storeu_si512(t_ + 16, s2);                               \
            _mm512_storeu_si512(t_ + 24, s3);                               \
            while (m_) {                                                    \
                const int b_ = __builtin_ctz(m_);                           \
                m_ &= m_ - 1;                                               \
                cand_d[cnt] = (int32_t)t_[b_];                              \
                cand_i[cnt] = i + b_;                                       \
                cnt++;                                                      \
            }                                                               \
            if (cnt > limit) {                                              \
                i += 32;                                                    \
                goto done;                                                  \
            }                                                               \
        }                                                                   \
    } while (0)

static inline __attribute__((always_inline)) int
avx512_filter_impl(const uint64_t *q, const uint64_t *db, int64_t n,
                         int w, int32_t thr, int64_t *start, int32_t *cand_d,
                         int64_t *cand_i, int cap, int stream)
{
    const int limit = cap - HS_FILTER_SLACK;
    int cnt = 0;
    int64_t i = *start;
    if (w == 1 || w == 2 || w == 4) {
        HS512_CONSTS;
        const __m512i qv = hs512_query(q, w);
        const __m512i thrv = _mm512_set1_epi64((long long)thr);
        if (w == 1) {
            for (; i + 32 <= n; i += 32) {
                const uint64_t *c = db + i;
                if (stream) {
                    for (int l_ = 0; l_ < 4; l_++)
                        HS_PREFETCH(c + 8 * l_);
                }
                const __m512i s0 = hs512_w1(c, qv);
                const __m512i s1 = hs512_w1(c + 8, qv);
                const __m512i s2 = hs512_w1(c + 16, qv);
                const __m512i s3 = hs512_w1(c + 24, qv);
                HS512_GROUP_EMIT(s0, s1, s2, s3);
            }
        } else if (w == 2) {
            for (; i + 32 <= n; i += 32) {
                const uint64_t *c = db + 2 * i;
                if (stream) {
                    for (int l_ = 0; l_ < 8; l_++)
                        HS_PREFETCH(c + 8 * l_);
                }
                const __m512i s0 = hs512_w2(c, qv, even, odd);
                const __m512i s1 = hs512_w2(c + 16, qv, even, odd);
                const __m512i s2 = hs512_w2(c + 32, qv, even, odd);
                const __m512i s3 = hs512_w2(c + 48, qv, even, odd);
                HS512_GROUP_EMIT(s0, s1, s2, s3);
            }
        } else {
            for (; i + 32 <= n; i += 32) {
                const uint64_t *c = db + 4 * i;
                if (stream) {
                    for (int l_ = 0; l_ < 16; l_++)
                        HS_PREFETCH(c + 8 * l_);
                }
                const __m512i s0 = hs512_w4(c, qv, even, odd);
                const __m512i s1 = hs512_w4(c + 32, qv, even, odd);
                const __m512i s2 = hs512_w4(c + 64, qv, even, odd);
                const __m512i s3 = hs512_w4(c + 96, qv, even, odd);
                HS512_GROUP_EMIT(s0, s1, s2, s3);
            }
        }
        if (i < n) {
            int64_t s = i;
            cnt += avx512s_filter_impl(q, db, n, w, thr, &s, cand_d + cnt,
                                  cand_i + cnt, cap - cnt, 0);
            i = s;
        }
    } else {
        return hs512_wide_filter_any(q, db, n, w, thr, start, cand_d, cand_i,
                                     cap, stream);
    }
done:
    *start = i;
    return cnt;
}

static int avx512_filter(const uint64_t *q, const uint64_t *db, int64_t n, int w,
                      int32_t thr, int64_t *start, int32_t *cand_d,
                      int64_t *cand_i, int cap)
{
    return avx512_filter_impl(q, db, n, w, thr, start, cand_d, cand_i, cap, 0);
}

static int avx512_filter_stream(const uint64_t *q, const uint64_t *db, int64_t n,
                             int w, int32_t thr, int64_t *start,
                             int32_t *cand_d, int64_t *cand_i, int cap)
{
    return avx512_filter_impl(q, db, n, w, thr, start, cand_d, cand_i, cap, 1);
}

#if defined(__clang__)
#  pragma clang attribute pop
#else
#  pragma GCC pop_options
#endif

const hs_kernels hs_kernels_avx512 = {
    "avx512-vpopcntdq",
    avx512_distances,
    avx512_rows,
    avx512_filter,
    avx512_filter_stream,
};

#else /* not x86-64 with GCC/clang: never selected by dispatch.c */

const hs_kernels hs_kernels_avx512 = {"avx512-vpopcntdq", 0, 0, 0, 0};

#endif
