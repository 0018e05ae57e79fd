/*
 * topk.c -- selection and sorting of (distance, id) pairs.
 *
 * Plain C, no special instructions: quickselect (median of three, Hoare
 * partition) for the running top-k, quicksort + insertion sort for the
 * final order.  Ids are distinct, so no two pairs compare equal.
 */
#include "topk.h"

#include "hamsearch.h"

static inline void hs_swap(hs_pair *a, hs_pair *b)
{
    const hs_pair t = *a;
    *a = *b;
    *b = t;
}

static void hs_insertion_sort(hs_pair *a, int64_t n)
{
    for (int64_t i = 1; i < n; i++) {
        const hs_pair x = a[i];
        int64_t j = i - 1;
        while (j >= 0 && hs_pair_less(x, a[j])) {
            a[j + 1] = a[j];
            j--;
        }
        a[j + 1] = x;
    }
}

/* Median of a[lo], a[mid], a[hi] moved to a[lo]; returns its value. */
static hs_pair hs_pivot(hs_pair *a, int64_t lo, int64_t hi)
{
    const int64_t mid = lo + (hi - lo) / 2;
    if (hs_pair_less(a[mid], a[lo]))
        hs_swap(&a[mid], &a[lo]);
    if (hs_pair_less(a[hi], a[lo]))
        hs_swap(&a[hi], &a[lo]);
    if (hs_pair_less(a[hi], a[mid]))
        hs_swap(&a[hi], &a[mid]);
    /* now a[lo] <= a[mid] <= a[hi]: use the median */
    hs_swap(&a[lo], &a[mid]);
    return a[lo];
}

/* Hoare partition of a[lo..hi] around the pivot at a[lo]; returns p with
 * a[lo..p] <= pivot <= a[p+1..hi], lo <= p < hi. */
static int64_t hs_partition(hs_pair *a, int64_t lo, int64_t hi)
{
    const hs_pair pv = hs_pivot(a, lo, hi);
    int64_t i = lo - 1, j = hi + 1;
    for (;;) {
        do
            i++;
        while (hs_pair_less(a[i], pv));
        do
            j--;
        while (hs_pair_less(pv, a[j]));
        if (i >= j)
            return j;
        hs_swap(&a[i], &a[j]);
    }
}

void hs_pair_select(hs_pair *a, int64_t n, int64_t kth)
{
    int64_t lo = 0, hi = n - 1;
    while (hi - lo > 16) {
        const int64_t p = hs_partition(a, lo, hi);
        if (kth <= p)
            hi = p;
        else
            lo = p + 1;
    }
    hs_insertion_sort(a + lo, hi - lo + 1);
}

static void hs_quicksort(hs_pair *a, int64_t lo, int64_t hi)
{
    while (hi - lo > 16) {
        const int64_t p = hs_partition(a, lo, hi);
        /* recurse into the smaller side, loop on the larger */
        if (p - lo < hi - p) {
            hs_quicksort(a, lo, p);
            lo = p + 1;
        } else {
            hs_quicksort(a, p + 1, hi);
            hi = p;
        }
    }
    hs_insertion_sort(a + lo, hi - lo + 1);
}

void hs_pair_sort(hs_pair *a, int64_t n)
{
    if (n > 1)
        hs_quicksort(a, 0, n - 1);
}

int64_t hs_topk_capacity(int64_t k, int64_t n)
{
    int64_t cap = 2 * k + 256;
    if (cap > n)
        cap = n; /* never fills: at most n pairs are pushed */
    return cap > 0 ? cap : 1;
}

void hs_topk_init(hs_topk *t, hs_pair *buf, int32_t *hist, int64_t *maxid,
                  int64_t k, int64_t cap, int32_t maxd)
{
    t->buf = buf;
    t->m = 0;
    t->k = k;
    t->cap = cap;
    t->thr_d = maxd;
    t->id_bound = 0;
    t->thr_id = INT64_MAX;
    t->cnt_le = 0;
    t->hist = hist;
    t->maxid = maxid;
    t->maxd = maxd;
    if (hist)
        for (int32_t d = 0; d <= maxd; d++) {
            hist[d] = 0;
            maxid[d] = -1;
        }
}

void hs_topk_compact(hs_topk *t)
{
    /* dead pairs: above thr_d (their counts are already gone), or tied at
     * thr_d with an id above a known bound (still counted: uncount them) */
    int64_t m = 0;
    for (int64_t j = 0; j < t->m; j++) {
        const hs_pair p = t->buf[j];
        if (p.d > t->thr_d)
            continue;
        if (p.d == t->thr_d && t->id_bound && p.id > t->thr_id) {
            t->hist[p.d]--;
            t->cnt_le--;
            continue;
        }
        t->buf[m++] = p;
    }
    t->m = m;
    if (m <= t->k)
        return; /* only when cap <= k or all but k were dead */
    hs_pair_select(t->buf, m, t->k - 1);
    for (int64_t j = t->k; j < m; j++)
        t->hist[t->buf[j].d]--;
    const int32_t old_thr = t->thr_d;
    t->m = t->k;
    t->cnt_le = t->k;
    t->thr_d = t->buf[t->k - 1].d;
    t->thr_id = t->buf[t->k - 1].id;
    t->id_bound = 1;
    /* levels above the new threshold are empty now; at the threshold the
     * largest id kept is the k-th pair's */
    for (int32_t d = t->thr_d + 1; d <= old_thr; d++)
        t->maxid[d] = -1;
    t->maxid[t->thr_d] = t->thr_id;
}

void hs_topk_finish(hs_topk *t, int32_t *D, int64_t *I)
{
    int64_t m = t->m;
    if (m > t->k) {
        hs_pair_select(t->buf, m, t->k - 1);
        m = t->k;
    }
    hs_pair_sort(t->buf, m);
    for (int64_t j = 0; j < m; j++) {
        D[j] = t->buf[j].d;
        I[j] = t->buf[j].id;
    }
    for (int64_t j = m; j < t->k; j++) {
        D[j] = HS_PAD_DISTANCE;
        I[j] = -1;
    }
}
