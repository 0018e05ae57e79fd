/*
 * topk.h -- exact top-k selection by (distance, id), internal to csrc/.
 *
 * A hs_topk keeps a buffer of at most `cap` (distance, id) pairs and a
 * threshold (thr_d, thr_id): a new pair is kept only if d < thr_d, or
 * d == thr_d and (no id bound is known or id < thr_id).  The scan kernels
 * only see thr_d (they pass codes with d <= thr_d); the rest of the test is
 * scalar, on those rare codes.
 *
 * thr_d follows the k-th smallest distance seen so far with no lag: a
 * histogram of the buffered distances (hist[d], d <= thr_d) lowers it as
 * soon as k buffered pairs lie strictly below it.  Once k pairs are
 * buffered, thr_id = the largest buffered id at distance thr_d (maxid[])
 * is a valid bound: a tie with a larger id has k pairs before it.  Pairs
 * left above the threshold are dead and dropped when the buffer fills; that
 * compaction (a quickselect by (d, id)) makes thr_id exact.
 */
#ifndef HAMSEARCH_TOPK_H
#define HAMSEARCH_TOPK_H

#include <stdint.h>

#include "hamsearch.h"

typedef struct hs_pair {
    int32_t d;
    int64_t id;
} hs_pair;

typedef struct hs_topk {
    hs_pair *buf;
    int64_t m;      /* pairs in buf */
    int64_t k;
    int64_t cap;    /* > k, or >= the number of pairs ever pushed */
    int32_t thr_d;  /* k-th smallest distance so far (maxd at first) */
    int id_bound;   /* thr_id is known (set by a compaction) */
    int64_t thr_id;
    int64_t cnt_le; /* pairs in buf with d <= thr_d */
    int32_t *hist;  /* (maxd + 1) counts: hist[d] = pairs in buf at d <= thr_d */
    int64_t *maxid; /* (maxd + 1): largest id in buf at distance d, or -1 */
    int32_t maxd;   /* largest possible distance (64 w) */
} hs_topk;

/* (a.d, a.id) < (b.d, b.id) */
static inline int hs_pair_less(hs_pair a, hs_pair b)
{
    return a.d < b.d || (a.d == b.d && a.id < b.id);
}

/* Buffer size to give a top-k that will see at most n pairs. */
int64_t hs_topk_capacity(int64_t k, int64_t n);

/* hist / maxid: maxd + 1 entries of scratch each, or NULL for a top-k
 * that is only finished (hs_topk_finish), never pushed to. */
void hs_topk_init(hs_topk *t, hs_pair *buf, int32_t *hist, int64_t *maxid,
                  int64_t k, int64_t cap, int32_t maxd);

/* Distance threshold for the scan kernels: codes with d > this can never
 * enter the top-k. */
static inline int32_t hs_topk_scan_thr(const hs_topk *t)
{
    return t->thr_d;
}

/* Drop dead pairs; keep the k smallest of buf and set thr_id if more
 * remain. */
void hs_topk_compact(hs_topk *t);

/* Offer cnt candidates (distance cand_d[j], id hs_row_id(ids, base,
 * cand_i[j]): ids[cand_i[j]], or base + cand_i[j] when ids is NULL).
 * Always inlined: a caller that tests ids once and calls it with a NULL /
 * non-NULL ids gets a loop without the test. */
static inline __attribute__((always_inline)) void
hs_topk_push(hs_topk *t, const int32_t *cand_d, const int64_t *cand_i, int cnt,
             const int64_t *ids, int64_t base)
{
    for (int j = 0; j < cnt; j++) {
        const int32_t d = cand_d[j];
        if (d > t->thr_d)
            continue;
        const int64_t id = hs_row_id(ids, base, cand_i[j]);
        if (d == t->thr_d && t->id_bound && id > t->thr_id)
            continue;
        t->buf[t->m].d = d;
        t->buf[t->m].id = id;
        t->m++;
        t->hist[d]++;
        t->cnt_le++;
        if (id > t->maxid[d])
            t->maxid[d] = id;
        if (t->cnt_le >= t->k) {
            /* k pairs strictly below thr_d: the k-th distance is smaller */
            while (t->cnt_le - t->hist[t->thr_d] >= t->k) {
                t->cnt_le -= t->hist[t->thr_d];
                t->hist[t->thr_d] = 0;
                t->maxid[t->thr_d] = -1;
                t->thr_d--;
            }
            t->id_bound = 1;
            t->thr_id = t->maxid[t->thr_d];
        }
        if (t->m == t->cap)
            hs_topk_compact(t);
    }
}

/* Write the k smallest pairs, sorted, to D / I; pad with
 * (HS_PAD_DISTANCE, -1). */
void hs_topk_finish(hs_topk *t, int32_t *D, int64_t *I);

/* Partial ordering: afterwards a[kth] is the kth smallest (0-based), a[0,
 * kth) are smaller and a(kth, n) larger.  Pairs must be distinct. */
void hs_pair_select(hs_pair *a, int64_t n, int64_t kth);

/* Sort pairs ascending by (d, id). */
void hs_pair_sort(hs_pair *a, int64_t n);

#endif /* HAMSEARCH_TOPK_H */
