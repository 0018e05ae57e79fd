/*
 * hamsearch.h -- public C API of the hamsearch kernels: the declarations
 * are in hamsearch_api.h (what cffi cdef's); this adds the include guard
 * and the inline helpers every kernel file shares.
 *
 * Codes are rows of `w` little-endian uint64 words (w = ceil(nbits / 64)),
 * C-contiguous, padding bits zero.  Ids are arbitrary distinct int64, or
 * NULL: then the id of row i is i ("row ids": an index whose ids are a
 * contiguous range stores none and adds its base to the results itself).
 * The kernels trust their inputs: validation happens in Python.
 *
 * Results are sorted by (distance, id) ascending.  k-NN rows with fewer than
 * k results are padded with distance HS_PAD_DISTANCE and id -1.
 */
#ifndef HAMSEARCH_H
#define HAMSEARCH_H

#include <stdint.h>

/* Row skip bitmaps: `skip` (may be NULL) has ceil(n / 64) words; bit
 * (i & 63) of word i >> 6 set means row i is not searched (a deleted row,
 * or one a filter excludes).  Searches stay exact over the other rows. */
#define HS_SKIPPED(skip, i) (((skip)[(i) >> 6] >> ((i) & 63)) & 1u)

/* Id of entry i of an id array: ids[i], or base + i when ids is NULL (row
 * ids; base is the row of entry 0, e.g. the first row of a database chunk).
 * Every kernel reads ids through this.  In a loop, test ids once outside
 * (the callers of hs_topk_push do). */
static inline int64_t hs_row_id(const int64_t *ids, int64_t base, int64_t i)
{
    return ids ? ids[i] : base + i;
}

#ifdef __cplusplus
extern "C" {
#endif

/* Every public entry point, its status codes (HS_OK / HS_ENOMEM /
 * HS_EINVAL), HS_PAD_DISTANCE and the capability bits (HS_CAP_*): one
 * cdef-clean file that ffibuild.py hands to cffi as it is. */
#include "hamsearch_api.h"

#ifdef __cplusplus
}
#endif

#endif /* HAMSEARCH_H */
