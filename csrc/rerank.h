/*
 * rerank.h -- re-ranking Hamming candidate pools by float feature distance
 * (the fine step of hierarchical search).
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

/* HS_METRIC_*, HS_ORDER_*, HS_FEAT_* and the entry points are declared in
 * hamsearch_api.h (the one public header):
 *
 * hs_rerank_isa(): name of the distance variant in force, "avx2-fma-f16c"
 * or "portable": the re-rank kernels of the variant-table row in force
 * (dispatch.c), so it follows hs_set_isa() / HAMSEARCH_ISA.
 *
 * hs_rerank(): top-k of each query's candidate pool.
 * Query q's candidates are entries lims[q] .. lims[q+1]-1 of `pos` (row of
 * `feats`) and `ham` (its Hamming distance); ids[pos[j]] is its id (pos[j]
 * itself when ids is NULL: row ids, see hamsearch.h).  They
 * are ordered by (score, id) for HS_ORDER_SCORE, by (hamming, score, id)
 * for HS_ORDER_BUCKET (score: L2 distance, or minus the inner product),
 * and the first k written to D (float32 L2 distance or inner product),
 * I (id) and H (Hamming distance), each (nq, k) row-major.  Rows with fewer
 * than k candidates are padded with D = +inf (L2) / -inf (IP), I = -1,
 * H = HS_PAD_DISTANCE.  Threads take queries one at a time.
 * Returns HS_OK, or HS_ENOMEM when memory ran out.
 *
 * hs_feature_distances(): out[j] = score of feats[pos[j]] against the
 * single query q: squared L2 distance or inner product (not negated).  One
 * thread. */
#include "hamsearch.h"

#endif /* HAMSEARCH_RERANK_H */
