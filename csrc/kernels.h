/*
 * kernels.h -- the per-CPU-feature kernel table (internal to csrc/).
 *
 * Each popcount family file (popcount_portable.c, popcount_popcnt.c,
 * popcount_avx2.c, popcount_avx512.c) fills one hs_kernels table with the
 * same primitives; the variant table in dispatch.c (the one list of
 * kernel variants) names, for each variant, the capabilities it needs and
 * its popcount, MIH and re-rank kernels; one row is picked at run time and
 * flat.c / topk.c / mih.c / rerank.c build on it.
 */
#ifndef HAMSEARCH_KERNELS_H
#define HAMSEARCH_KERNELS_H

#include <stdint.h>

#include "hamsearch.h"

/* A filter call stops once fewer than HS_FILTER_SLACK free slots remain in
 * its candidate buffer, so a variant may emit up to HS_FILTER_SLACK
 * candidates from one unrolled group of codes.  Callers pass cap >=
 * 2 * HS_FILTER_SLACK. */
#define HS_FILTER_SLACK 64

/* Prefetch distance of streaming scans. */
#define HS_PREFETCH_BYTES 8192
#define HS_PREFETCH(p) __builtin_prefetch((const char *)(p) + HS_PREFETCH_BYTES, 0, 3)

/* The emit steps of the filter kernels, which name their state thr, limit
 * (cap - HS_FILTER_SLACK), cnt, cand_d, cand_i, the position i and a label
 * done: (after which *start = i).
 *
 * HS_SCALAR_EMIT: one code at pos with distance dval; branchy, because
 * after the first few hundred codes almost nothing passes the threshold. */
#define HS_SCALAR_EMIT(dval, pos)                                           \
    do {                                                                    \
        const int32_t d_ = (dval);                                          \
        if (d_ <= thr) {                                                    \
            cand_d[cnt] = d_;                                               \
            cand_i[cnt] = (pos);                                            \
            if (++cnt > limit) {                                            \
                i = (pos) + 1;                                              \
                goto done;                                                  \
            }                                                               \
        }                                                                   \
    } while (0)

/* HS_MASK_EMIT: the codes of a group of `group` codes at pos whose bits are
 * set in the mask m (bit b: code pos + b, distance t[b]). */
#define HS_MASK_EMIT(m, t, pos, group)                                      \
    do {                                                                    \
        uint32_t m_ = (m);                                                  \
        while (m_) {                                                        \
            const int b_ = __builtin_ctz(m_);                               \
            m_ &= m_ - 1;                                                   \
            cand_d[cnt] = (int32_t)(t)[b_];                                 \
            cand_i[cnt] = (pos) + b_;                                       \
            cnt++;                                                          \
        }                                                                   \
        if (cnt > limit) {                                                  \
            i = (pos) + (group);                                            \
            goto done;                                                      \
        }                                                                   \
    } while (0)

/* The body of a filter kernel (arguments named as in hs_kernels.filter,
 * plus stream) that tests groups of G codes of w words: from *start, the
 * group at c (codes i .. i + G - 1; first prefetched HS_PREFETCH_BYTES
 * ahead when stream) is tested by GROUP(c), which emits its passing codes
 * (HS_MASK_EMIT); the last codes (fewer than G) go one by one by their
 * distance DIST(q, code, w) (HS_SCALAR_EMIT).  Declares limit, cnt and i,
 * ends at done: and returns cnt. */
#define HS_GROUP_FILTER(G, GROUP, DIST)                                     \
    const int limit = cap - HS_FILTER_SLACK;                                \
    int cnt = 0;                                                            \
    int64_t i = *start;                                                     \
    for (; i + (G) <= n; i += (G)) {                                        \
        const uint64_t *c = db + i * (int64_t)w;                            \
        if (stream)                                                         \
            for (int l = 0; l < (G) * w; l += 8)                            \
                HS_PREFETCH(c + l);                                         \
        GROUP(c);                                                           \
    }                                                                       \
    for (; i < n; i++)                                                      \
        HS_SCALAR_EMIT(DIST(q, db + i * (int64_t)w, w), i);                 \
done:                                                                       \
    *start = i;                                                             \
    return cnt

/* The code widths (in words) that get their own unrolled copy of a
 * width-specialised kernel (3-64 words: 192-4096 bits, the common
 * embedding and descriptor sizes); any other width runs the same kernel
 * with a run-time w.  HS_WIDE_DISPATCH(w, CALL, EXTRA) is the switch that
 * returns CALL(W) for each of them, CALL(w) otherwise; EXTRA adds the
 * widths one variant specialises besides them, as HS_WIDE_CASE(CALL, W)
 * (nothing: an empty argument). */
#define HS_WIDE_CASE(CALL, W)                                               \
    case W:                                                                 \
        return CALL(W);
#define HS_WIDE_DISPATCH(w, CALL, EXTRA)                                    \
    switch (w) {                                                            \
        HS_WIDE_CASE(CALL, 3)                                               \
        HS_WIDE_CASE(CALL, 5)                                               \
        HS_WIDE_CASE(CALL, 6)                                               \
        HS_WIDE_CASE(CALL, 7)                                               \
        HS_WIDE_CASE(CALL, 8)                                               \
        HS_WIDE_CASE(CALL, 12)                                              \
        HS_WIDE_CASE(CALL, 16)                                              \
        HS_WIDE_CASE(CALL, 24)                                              \
        HS_WIDE_CASE(CALL, 32)                                              \
        HS_WIDE_CASE(CALL, 48)                                              \
        HS_WIDE_CASE(CALL, 64)                                              \
        EXTRA                                                               \
    default:                                                                \
        return CALL(w);                                                     \
    }

/* Popcount of one word by the SWAR method (pairwise bit sums in 2, 4 and
 * 8-bit fields, then one multiply adds the bytes): the portable flavour's
 * popcount, in the portable kernels and the portable MIH alike. */
static inline uint64_t hs_pop64_swar(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ULL);
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
    return (x * 0x0101010101010101ULL) >> 56;
}

typedef struct hs_kernels {
    const char *name;

    /* out[i] = popcount(q ^ db[i]) for i in [0, n). */
    void (*distances)(const uint64_t *q, const uint64_t *db, int64_t n, int w,
                      int32_t *out);

    /* out[i] = popcount(a[i] ^ b[i]) for i in [0, n). */
    void (*rows)(const uint64_t *a, const uint64_t *b, int64_t n, int w,
                 int32_t *out);

    /* Scan codes [*start, n) of db against q and emit those with distance
     * <= thr: cand_d[j] = distance, cand_i[j] = position, in increasing
     * position.  Stops at the end of db or once more than cap -
     * HS_FILTER_SLACK candidates were emitted; *start is then set to the
     * first position not yet scanned (every code before it with distance
     * <= thr was emitted).  Returns the number of candidates emitted. */
    int (*filter)(const uint64_t *q, const uint64_t *db, int64_t n, int w,
                  int32_t thr, int64_t *start, int32_t *cand_d,
                  int64_t *cand_i, int cap);

    /* The same as filter, for a db that is not expected in cache: it
     * prefetches HS_PREFETCH_BYTES ahead (software prefetch beats the
     * hardware prefetcher by ~1.4x on a single DRAM stream). */
    int (*filter_stream)(const uint64_t *q, const uint64_t *db, int64_t n,
                         int w, int32_t thr, int64_t *start, int32_t *cand_d,
                         int64_t *cand_i, int cap);
} hs_kernels;

/* Kernels of one MIH flavour (mih.c) and of one re-rank flavour
 * (rerank.c); opaque outside their files. */
typedef struct hs_mih_kernels hs_mih_kernels;
typedef struct hs_rerank_kernels hs_rerank_kernels;

/* One row of the variant table (dispatch.c). */
typedef struct hs_variant {
    const char *name;  /* reported by hs_isa_name(), accepted by hs_set_isa() */
    const char *alias; /* also accepted (may be NULL) */
    uint64_t caps;     /* HS_CAP_* bits the CPU must have */
    const hs_kernels *popcount;
    const hs_mih_kernels *mih;
    const hs_rerank_kernels *rerank;
} hs_variant;

/* The row in force (dispatch.c); never NULL. */
const hs_variant *hs_active_variant(void);

/* Its popcount table: hs_active_variant()->popcount. */
const hs_kernels *hs_active(void);

#endif /* HAMSEARCH_KERNELS_H */
