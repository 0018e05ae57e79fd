/*
 * scalar_impl.h -- word-at-a-time kernels, instantiated once per popcount
 * flavour.  The including file defines
 *
 *   HS_POP64(x)   popcount of one uint64_t
 *   HS_FN(name)   a unique static name for this flavour
 *
 * and compiles the result with whatever target options it needs (plain C
 * for the portable flavour, POPCNT for the others).  Word counts 1, 2 and 4
 * get unrolled loops; any other w uses the generic loop.
 */
#include <stdint.h>

#include "dist_impl.h"
#include "kernels.h"

__attribute__((unused)) static void HS_FN(distances)(const uint64_t *q, const uint64_t *db, int64_t n,
                             int w, int32_t *out)
{
    int64_t i;
    if (w == 1) {
        const uint64_t q0 = q[0];
        for (i = 0; i < n; i++)
            out[i] = (int32_t)HS_POP64(db[i] ^ q0);
    } else if (w == 2) {
        const uint64_t q0 = q[0], q1 = q[1];
        for (i = 0; i < n; i++)
            out[i] = (int32_t)(HS_POP64(db[2 * i] ^ q0) +
                               HS_POP64(db[2 * i + 1] ^ q1));
    } else if (w == 4) {
        const uint64_t q0 = q[0], q1 = q[1], q2 = q[2], q3 = q[3];
        for (i = 0; i < n; i++) {
            const uint64_t *c = db + 4 * i;
            out[i] = (int32_t)(HS_POP64(c[0] ^ q0) + HS_POP64(c[1] ^ q1) +
                               HS_POP64(c[2] ^ q2) + HS_POP64(c[3] ^ q3));
        }
    } else {
        for (i = 0; i < n; i++)
            out[i] = HS_FN(dist)(q, db + i * (int64_t)w, w);
    }
}

__attribute__((unused)) static void HS_FN(rows)(const uint64_t *a, const uint64_t *b, int64_t n, int w,
                        int32_t *out)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = HS_FN(dist)(a + i * (int64_t)w, b + i * (int64_t)w, w);
}

static inline __attribute__((always_inline)) int
HS_FN(filter_impl)(const uint64_t *q, const uint64_t *db, int64_t n, int w,
                   int32_t thr, int64_t *start, int32_t *cand_d,
                   int64_t *cand_i, int cap, int stream)
{
    /* Scalar loops emit one candidate at a time, so they can fill the
     * buffer to cap - HS_FILTER_SLACK + 1 exactly. */
    const int limit = cap - HS_FILTER_SLACK;
    int cnt = 0;
    int64_t i = *start;
    if (w == 1) {
        const uint64_t q0 = q[0];
        for (; i < n; i++) {
            if (stream && (i & 7) == 0)
                HS_PREFETCH(db + i);
            HS_SCALAR_EMIT((int32_t)HS_POP64(db[i] ^ q0), i);
        }
    } else if (w == 2) {
        const uint64_t q0 = q[0], q1 = q[1];
        for (; i < n; i++) {
            if (stream && (i & 3) == 0)
                HS_PREFETCH(db + 2 * i);
            HS_SCALAR_EMIT((int32_t)(HS_POP64(db[2 * i] ^ q0) +
                                     HS_POP64(db[2 * i + 1] ^ q1)),
                           i);
        }
    } else if (w == 4) {
        const uint64_t q0 = q[0], q1 = q[1], q2 = q[2], q3 = q[3];
        for (; i < n; i++) {
            const uint64_t *c = db + 4 * i;
            if (stream && (i & 1) == 0)
                HS_PREFETCH(c);
            HS_SCALAR_EMIT((int32_t)(HS_POP64(c[0] ^ q0) + HS_POP64(c[1] ^ q1) +
                                     HS_POP64(c[2] ^ q2) + HS_POP64(c[3] ^ q3)),
                           i);
        }
    } else {
        for (; i < n; i++) {
            const uint64_t *c = db + i * (int64_t)w;
            if (stream)
                for (int j = 0; j < w; j += 8)
                    HS_PREFETCH(c + j);
            HS_SCALAR_EMIT(HS_FN(dist)(q, c, w), i);
        }
    }
done:
    *start = i;
    return cnt;
}

__attribute__((unused)) static int HS_FN(filter)(const uint64_t *q, const uint64_t *db, int64_t n,
                         int w, int32_t thr, int64_t *start, int32_t *cand_d,
                         int64_t *cand_i, int cap)
{
    return HS_FN(filter_impl)(q, db, n, w, thr, start, cand_d, cand_i, cap, 0);
}

__attribute__((unused)) static int HS_FN(filter_stream)(const uint64_t *q, const uint64_t *db,
                                int64_t n, int w, int32_t thr, int64_t *start,
                                int32_t *cand_d, int64_t *cand_i, int cap)
{
    return HS_FN(filter_impl)(q, db, n, w, thr, start, cand_d, cand_i, cap, 1);
}

