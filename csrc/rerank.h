/*
 * rerank.h -- re-ranking Hamming candidate pools by float feature distance
 * (the fine step of hierarchical search).  Public C API, cdef'd by
 * ffibuild.py.
 *
 * Stored features are rows of `d` float32 or float16 (IEEE binary16) values,
 * C-contiguous; query features are float32.  The kernels trust their inputs
 * (validated in Python: finite values, positions in range).
 *
 * Scores: HS_METRIC_L2 = squared Euclidean distance (smaller is better),
 * HS_METRIC_IP = inner product (larger is better).
 */
#ifndef HAMSEARCH_RERANK_H
#define HAMSEARCH_RERANK_H

#include <stdint.h>

#define HS_METRIC_L2 0
#define HS_METRIC_IP 1
#define HS_ORDER_SCORE 0
#define HS_ORDER_BUCKET 1
#define HS_FEAT_F32 0
#define HS_FEAT_F16 1

#ifdef __cplusplus
extern "C" {
#endif

/* Name of the distance variant in force: "avx2-fma-f16c" or "portable".
 * Follows hs_set_isa() / HAMSEARCH_ISA: the AVX2 variant runs when the
 * popcount dispatch is at AVX2 or above and the CPU has FMA and F16C. */
const char *hs_rerank_isa(void);

/* Top-k of each query's candidate pool.
 *
 * Query q's candidates are entries lims[q] .. lims[q+1]-1 of `pos` (row of
 * `feats`) and `ham` (its Hamming distance); ids[pos[j]] is its id (pos[j]
 * itself when ids is NULL: row ids, see hamsearch.h).  They
 * are ordered by (score, id) for HS_ORDER_SCORE, by (hamming, score, id)
 * for HS_ORDER_BUCKET (score: L2 distance, or minus the inner product),
 * and the first k written to D (float32 L2 distance or inner product),
 * I (id) and H (Hamming distance), each (nq, k) row-major.  Rows with fewer
 * than k candidates are padded with D = +inf (L2) / -inf (IP), I = -1,
 * H = HS_PAD_DISTANCE.  Threads take queries one at a time.
 * Returns 0, or -1 when memory ran out. */
int hs_rerank(const void *feats, int ftype, int64_t d, const float *qf,
              int64_t nq, const int64_t *lims, const int64_t *pos,
              const int32_t *ham, const int64_t *ids, int metric, int order,
              int64_t k, float *D, int64_t *I, int32_t *H, int nthreads);

/* out[j] = score of feats[pos[j]] against the single query q: squared L2
 * distance or inner product (not negated).  One thread. */
void hs_feature_distances(const void *feats, int ftype, int64_t d,
                          const float *q, const int64_t *pos, int64_t npos,
                          int metric, float *out);

#ifdef __cplusplus
}
#endif

#endif /* HAMSEARCH_RERANK_H */
