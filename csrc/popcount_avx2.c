/*
 * popcount_avx2.c -- AVX2 family.
 *
 * Popcount of (query XOR code) by the nibble lookup: VPSHUFB looks up the
 * bit count of each 4-bit nibble in a 16-entry table (low nibbles after
 * VPAND, high nibbles after VPSRLW + VPAND), VPADDB adds the two, and
 * VPSADBW sums the bytes of each 64-bit lane.  Codes of 2 and 4 words are
 * first folded byte-wise (VPUNPCK{L,H}QDQ, VPERM2I128 + VPADDB) so one
 * VPSADBW yields one distance per 64-bit lane.  The threshold test is one
 * VPCMPGTQ per 4 codes, OR-ed over the unrolled group and tested once
 * (VPTEST); only groups with a passing code reach the scalar emit path.
 * Other word counts sum the byte counts of each code's 4-word blocks (the
 * last one masked) byte-wise, fold them with one VPSADBW per code, and fold
 * 4 codes into one vector of distances (hs2_group4).
 * Compiled for target("avx2,popcnt"); selected when CPUID says AVX2 and
 * POPCNT and XGETBV says the OS saves YMM state.
 */
#include <stdint.h>

#include "kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <immintrin.h>

#if defined(__clang__)
#  pragma clang attribute push(__attribute__((target("avx2,popcnt"))), apply_to = function)
#else
#  pragma GCC push_options
#  pragma GCC target("avx2,popcnt")
#endif

#define HS_POP64(x) ((uint64_t)__builtin_popcountll(x))
#define HS_FN(name) avx2s_##name
#include "scalar_impl.h"

/* Per-byte bit counts of x (each byte 0..8). */
static inline __m256i hs_popcnt_bytes(__m256i x, __m256i lut, __m256i low4)
{
    const __m256i lo = _mm256_and_si256(x, low4);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), low4);
    return _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo),
                           _mm256_shuffle_epi8(lut, hi));
}

#define HS_AVX2_CONSTS                                                       \
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, \
                                         2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, \
                                         1, 2, 2, 3, 2, 3, 3, 4);            \
    const __m256i low4 = _mm256_set1_epi8(0x0f);                             \
    const __m256i zero = _mm256_setzero_si256()

/* Distances of codes c .. c+3 (w = 1) as four 64-bit lanes. */
static inline __m256i hs_w1(const uint64_t *c, __m256i qv, __m256i lut,
                            __m256i low4, __m256i zero)
{
    const __m256i x =
        _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)c), qv);
    return _mm256_sad_epu8(hs_popcnt_bytes(x, lut, low4), zero);
}

/* Distances of codes c .. c+3 (w = 2), lanes in code order 0, 2, 1, 3. */
static inline __m256i hs_w2(const uint64_t *c, __m256i qv, __m256i lut,
                            __m256i low4, __m256i zero)
{
    const __m256i b0 = hs_popcnt_bytes(
        _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)c), qv), lut,
        low4);
    const __m256i b1 = hs_popcnt_bytes(
        _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(c + 4)), qv),
        lut, low4);
    const __m256i s = _mm256_add_epi8(_mm256_unpacklo_epi64(b0, b1),
                                      _mm256_unpackhi_epi64(b0, b1));
    return _mm256_sad_epu8(s, zero);
}

/* Distances of codes c .. c+3 (w = 4), lanes in code order. */
static inline __m256i hs_w4(const uint64_t *c, __m256i qv, __m256i lut,
                            __m256i low4, __m256i zero)
{
    __m256i b[4];
    for (int j = 0; j < 4; j++)
        b[j] = hs_popcnt_bytes(
            _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(c + 4 * j)),
                             qv),
            lut, low4);
    /* a = [c0 w0+w1, c1 w0+w1 | c0 w2+w3, c1 w2+w3], likewise e for c2, c3 */
    const __m256i a = _mm256_add_epi8(_mm256_unpacklo_epi64(b[0], b[1]),
                                      _mm256_unpackhi_epi64(b[0], b[1]));
    const __m256i e = _mm256_add_epi8(_mm256_unpacklo_epi64(b[2], b[3]),
                                      _mm256_unpackhi_epi64(b[2], b[3]));
    const __m256i s = _mm256_add_epi8(_mm256_permute2x128_si256(a, e, 0x20),
                                      _mm256_permute2x128_si256(a, e, 0x31));
    return _mm256_sad_epu8(s, zero);
}

/* ---- codes of any other width: groups of 4 codes --------------------- */

/* The 64-bit lane sums of popcount(q ^ c) over w words: per-byte counts of
 * the 4-word blocks (the last one masked with VPMASKMOVQ) are summed
 * byte-wise (at most 31 blocks, 248 per byte) and folded by VPSADBW. */
static inline __attribute__((always_inline)) __m256i
hs2_code_sums(const uint64_t *q, const uint64_t *c, int w, __m256i lut,
              __m256i low4, __m256i zero)
{
    const int full = w / 4, tail = w % 4;
    __m256i acc = zero, bytes = zero;
    int pending = 0;
    for (int j = 0; j < full; j++) {
        const __m256i x = _mm256_xor_si256(
            _mm256_loadu_si256((const __m256i *)(c + 4 * j)),
            _mm256_loadu_si256((const __m256i *)(q + 4 * j)));
        bytes = _mm256_add_epi8(bytes, hs_popcnt_bytes(x, lut, low4));
        if (++pending == 31) {
            acc = _mm256_add_epi64(acc, _mm256_sad_epu8(bytes, zero));
            bytes = zero;
            pending = 0;
        }
    }
    if (tail) {
        const __m256i m = _mm256_cmpgt_epi64(_mm256_set1_epi64x(tail),
                                             _mm256_setr_epi64x(0, 1, 2, 3));
        const __m256i x = _mm256_xor_si256(
            _mm256_maskload_epi64((const long long *)(c + 4 * full), m),
            _mm256_maskload_epi64((const long long *)(q + 4 * full), m));
        bytes = _mm256_add_epi8(bytes, hs_popcnt_bytes(x, lut, low4));
    }
    return _mm256_add_epi64(acc, _mm256_sad_epu8(bytes, zero));
}

/* Distances of the 4 codes c, c + w, c + 2 w, c + 3 w to q + k qstride
 * (qstride 0: one query; w: row k of a second matrix), as 64-bit lanes in
 * code order (VPUNPCK{L,H}QDQ + VPERM2I128 + VPADDQ fold the 4 vectors of
 * lane sums into one). */
static inline __attribute__((always_inline)) __m256i
hs2_group4(const uint64_t *q, int64_t qstride, const uint64_t *c, int w,
           __m256i lut, __m256i low4, __m256i zero)
{
    __m256i a[4];
    for (int k = 0; k < 4; k++)
        a[k] = hs2_code_sums(q + k * qstride, c + (int64_t)k * w, w, lut, low4, zero);
    const __m256i t0 = _mm256_add_epi64(_mm256_unpacklo_epi64(a[0], a[1]),
                                        _mm256_unpackhi_epi64(a[0], a[1]));
    const __m256i t1 = _mm256_add_epi64(_mm256_unpacklo_epi64(a[2], a[3]),
                                        _mm256_unpackhi_epi64(a[2], a[3]));
    return _mm256_add_epi64(_mm256_permute2x128_si256(t0, t1, 0x20),
                            _mm256_permute2x128_si256(t0, t1, 0x31));
}

/* The widths with their own unrolled copy: kernels.h's, none added. */
#define HS2_WIDE_DISPATCH(w, CALL) HS_WIDE_DISPATCH(w, CALL, )

static inline __attribute__((always_inline)) void
hs2_wide_pairs(const uint64_t *q, int64_t qstride, const uint64_t *db,
               int64_t n, int w, int32_t *out)
{
    HS_AVX2_CONSTS;
    const __m256i pack = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const __m256i s = hs2_group4(q + i * qstride, qstride, db + i * (int64_t)w,
                                     w, lut, low4, zero);
        _mm_storeu_si128((__m128i *)(out + i),
                         _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(s, pack)));
    }
    for (; i < n; i++)
        out[i] = avx2s_dist(q + i * qstride, db + i * (int64_t)w, w);
}

static void hs2_wide_distances(const uint64_t *q, const uint64_t *db, int64_t n,
                               int w, int32_t *out)
{
#define HS2_CALL_(W) hs2_wide_pairs(q, 0, db, n, W, out)
    HS2_WIDE_DISPATCH(w, HS2_CALL_)
#undef HS2_CALL_
}

static void hs2_wide_rows(const uint64_t *a, const uint64_t *b, int64_t n, int w,
                          int32_t *out)
{
#define HS2_CALL_(W) hs2_wide_pairs(a, W, b, n, W, out)
    HS2_WIDE_DISPATCH(w, HS2_CALL_)
#undef HS2_CALL_
}

/* filter for the grouped widths (see kernels.h for the contract). */
static inline __attribute__((always_inline)) int
hs2_wide_filter(const uint64_t *q, const uint64_t *db, int64_t n, int w,
                int32_t thr, int64_t *start, int32_t *cand_d, int64_t *cand_i,
                int cap, int stream)
{
    HS_AVX2_CONSTS;
    const __m256i thr1 = _mm256_set1_epi64x((long long)thr + 1);
#define HS2_GROUP_(c)                                                        \
    do {                                                                    \
        const __m256i s = hs2_group4(q, 0, c, w, lut, low4, zero);          \
        unsigned m = (unsigned)_mm256_movemask_pd(                          \
            _mm256_castsi256_pd(_mm256_cmpgt_epi64(thr1, s)));              \
        if (m) {                                                            \
            uint64_t t[4];                                                  \
            _mm256_storeu_si256((__m256i *)t, s);                           \
            HS_MASK_EMIT(m, t, i, 4);                                       \
        }                                                                   \
    } while (0)
    HS_GROUP_FILTER(4, HS2_GROUP_, avx2s_dist);
#undef HS2_GROUP_
}

static int hs2_wide_filter_any(const uint64_t *q, const uint64_t *db, int64_t n,
                               int w, int32_t thr, int64_t *start,
                               int32_t *cand_d, int64_t *cand_i, int cap,
                               int stream)
{
#define HS2_CALL_(W)                                                         \
    (stream ? hs2_wide_filter(q, db, n, W, thr, start, cand_d, cand_i, cap, 1) \
            : hs2_wide_filter(q, db, n, W, thr, start, cand_d, cand_i, cap, 0))
    HS2_WIDE_DISPATCH(w, HS2_CALL_)
#undef HS2_CALL_
}

static void avx2_distances(const uint64_t *q, const uint64_t *db, int64_t n,
                           int w, int32_t *out)
{
    if (w != 1 && w != 2 && w != 4) {
        hs2_wide_distances(q, db, n, w, out);
        return;
    }
    HS_AVX2_CONSTS;
    int64_t i = 0;
    if (w == 1) {
        const __m256i qv = _mm256_set1_epi64x((long long)q[0]);
        for (; i + 4 <= n; i += 4) {
            const __m256i s = hs_w1(db + i, qv, lut, low4, zero);
            /* pack the four 64-bit lanes into four int32 */
            const __m256i p = _mm256_permutevar8x32_epi32(
                s, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6));
            _mm_storeu_si128((__m128i *)(out + i), _mm256_castsi256_si128(p));
        }
    } else if (w == 2) {
        const __m256i qv = _mm256_setr_epi64x((long long)q[0], (long long)q[1],
                                              (long long)q[0], (long long)q[1]);
        for (; i + 4 <= n; i += 4) {
            const __m256i s = hs_w2(db + 2 * i, qv, lut, low4, zero);
            const __m256i p = _mm256_permutevar8x32_epi32(
                s, _mm256_setr_epi32(0, 4, 2, 6, 0, 4, 2, 6));
            _mm_storeu_si128((__m128i *)(out + i), _mm256_castsi256_si128(p));
        }
    } else {
        const __m256i qv = _mm256_loadu_si256((const __m256i *)q);
        for (; i + 4 <= n; i += 4) {
            const __m256i s = hs_w4(db + 4 * i, qv, lut, low4, zero);
            const __m256i p = _mm256_permutevar8x32_epi32(
                s, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6));
            _mm_storeu_si128((__m128i *)(out + i), _mm256_castsi256_si128(p));
        }
    }
    if (i < n)
        avx2s_distances(q, db + i * (int64_t)w, n - i, w, out + i);
}

/* Emit the passing lanes of a group of 16 codes starting at position base.
 * s[0..3] hold the distances of codes base + 4 j + order[lane]. */
#define HS_AVX2_GROUP_EMIT(s0, s1, s2, s3, order)                           \
    do {                                                                    \
        const __m256i p0_ = _mm256_cmpgt_epi64(thr1, s0);                   \
        const __m256i p1_ = _mm256_cmpgt_epi64(thr1, s1);                   \
        const __m256i p2_ = _mm256_cmpgt_epi64(thr1, s2);                   \
        const __m256i p3_ = _mm256_cmpgt_epi64(thr1, s3);                   \
        const __m256i any_ = _mm256_or_si256(_mm256_or_si256(p0_, p1_),     \
                                             _mm256_or_si256(p2_, p3_));    \
        if (!_mm256_testz_si256(any_, any_)) {                              \
            unsigned m_ =                                                   \
                (unsigned)_mm256_movemask_pd(_mm256_castsi256_pd(p0_)) |    \
                ((unsigned)_mm256_movemask_pd(_mm256_castsi256_pd(p1_)) << 4) | \
                ((unsigned)_mm256_movemask_pd(_mm256_castsi256_pd(p2_)) << 8) | \
                ((unsigned)_mm256_movemask_pd(_mm256_castsi256_pd(p3_)) << 12); \
            uint64_t t_[16];                                                \
            _mm256_storeu_si256((__m256i *)t_, s0);                         \
            _mm256_storeu_si256((__m256i *)(t_ + 4), s1);                   \
            _mm256_storeu_si256((__m256i *)(t_ + 8), s2);                   \
            _mm256_storeu_si256((__m256i *)(t_ + 12), s3);                  \
            while (m_) {                                                    \
                const int b_ = __builtin_ctz(m_);                           \
                m_ &= m_ - 1;                                               \
                cand_d[cnt] = (int32_t)t_[b_];                              \
                cand_i[cnt] = i + (b_ & ~3) + order[b_ & 3];                \
                cnt++;                                                      \
            }                                                               \
            if (cnt > limit) {                                              \
                i += 16;                                                    \
                goto done;                                                  \
            }                                                               \
        }                                                                   \
    } while (0)

static inline __attribute__((always_inline)) int
avx2_filter_impl(const uint64_t *q, const uint64_t *db, int64_t n, int w,
                       int32_t thr, int64_t *start, int32_t *cand_d,
                       int64_t *cand_i, int cap, int stream)
{
    static const int order_id[4] = {0, 1, 2, 3};
    static const int order_w2[4] = {0, 2, 1, 3};
    if (w != 1 && w != 2 && w != 4)
        return hs2_wide_filter_any(q, db, n, w, thr, start, cand_d, cand_i, cap,
                                   stream);
    HS_AVX2_CONSTS;
    const int limit = cap - HS_FILTER_SLACK;
    const __m256i thr1 = _mm256_set1_epi64x((long long)thr + 1);
    int cnt = 0;
    int64_t i = *start;
    if (w == 1) {
        const __m256i qv = _mm256_set1_epi64x((long long)q[0]);
        for (; i + 16 <= n; i += 16) {
            const uint64_t *c = db + i;
            if (stream) {
                HS_PREFETCH(c + 0);
                HS_PREFETCH(c + 8);
            }
            const __m256i s0 = hs_w1(c, qv, lut, low4, zero);
            const __m256i s1 = hs_w1(c + 4, qv, lut, low4, zero);
            const __m256i s2 = hs_w1(c + 8, qv, lut, low4, zero);
            const __m256i s3 = hs_w1(c + 12, qv, lut, low4, zero);
            HS_AVX2_GROUP_EMIT(s0, s1, s2, s3, order_id);
        }
    } else if (w == 2) {
        const __m256i qv = _mm256_setr_epi64x((long long)q[0], (long long)q[1],
                                              (long long)q[0], (long long)q[1]);
        for (; i + 16 <= n; i += 16) {
            const uint64_t *c = db + 2 * i;
            if (stream) {
                HS_PREFETCH(c + 0);
                HS_PREFETCH(c + 8);
                HS_PREFETCH(c + 16);
                HS_PREFETCH(c + 24);
            }
            const __m256i s0 = hs_w2(c, qv, lut, low4, zero);
            const __m256i s1 = hs_w2(c + 8, qv, lut, low4, zero);
            const __m256i s2 = hs_w2(c + 16, qv, lut, low4, zero);
            const __m256i s3 = hs_w2(c + 24, qv, lut, low4, zero);
            HS_AVX2_GROUP_EMIT(s0, s1, s2, s3, order_w2);
        }
    } else {
        const __m256i qv = _mm256_loadu_si256((const __m256i *)q);
        for (; i + 16 <= n; i += 16) {
            const uint64_t *c = db + 4 * i;
            if (stream) {
                HS_PREFETCH(c + 0);
                HS_PREFETCH(c + 8);
                HS_PREFETCH(c + 16);
                HS_PREFETCH(c + 24);
                HS_PREFETCH(c + 32);
                HS_PREFETCH(c + 40);
                HS_PREFETCH(c + 48);
                HS_PREFETCH(c + 56);
            }
            const __m256i s0 = hs_w4(c, qv, lut, low4, zero);
            const __m256i s1 = hs_w4(c + 16, qv, lut, low4, zero);
            const __m256i s2 = hs_w4(c + 32, qv, lut, low4, zero);
            const __m256i s3 = hs_w4(c + 48, qv, lut, low4, zero);
            HS_AVX2_GROUP_EMIT(s0, s1, s2, s3, order_id);
        }
    }
    /* tail (< 16 codes) with the scalar loop; cnt <= limit here, so the
     * remaining room is at least HS_FILTER_SLACK */
    if (i < n) {
        int64_t s = i;
        const int got = avx2s_filter_impl(q, db, n, w, thr, &s, cand_d + cnt,
                                     cand_i + cnt, cap - cnt, 0);
        cnt += got;
        i = s;
    }
done:
    *start = i;
    return cnt;
}

static void avx2_rows(const uint64_t *a, const uint64_t *b, int64_t n, int w,
                      int32_t *out)
{
    if (w == 1 || w == 2 || w == 4)
        avx2s_rows(a, b, n, w, out);
    else
        hs2_wide_rows(a, b, n, w, out);
}

static int avx2_filter(const uint64_t *q, const uint64_t *db, int64_t n, int w,
                      int32_t thr, int64_t *start, int32_t *cand_d,
                      int64_t *cand_i, int cap)
{
    return avx2_filter_impl(q, db, n, w, thr, start, cand_d, cand_i, cap, 0);
}

static int avx2_filter_stream(const uint64_t *q, const uint64_t *db, int64_t n,
                             int w, int32_t thr, int64_t *start,
                             int32_t *cand_d, int64_t *cand_i, int cap)
{
    return avx2_filter_impl(q, db, n, w, thr, start, cand_d, cand_i, cap, 1);
}

#if defined(__clang__)
#  pragma clang attribute pop
#else
#  pragma GCC pop_options
#endif

const hs_kernels hs_kernels_avx2 = {
    "avx2",
    avx2_distances,
    avx2_rows,
    avx2_filter,
    avx2_filter_stream,
};

#else /* not x86-64 with GCC/clang: never selected by dispatch.c */

const hs_kernels hs_kernels_avx2 = {"avx2", 0, 0, 0, 0};

#endif
