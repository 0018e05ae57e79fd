/*
 * hamsearch.h -- public C API of the hamsearch kernels (what cffi cdef's).
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

#define HS_PAD_DISTANCE 2147483647

/* Status codes of the int-returning entry points (and of the `err` out
 * parameter of the range searches): 0 = success. */
#define HS_ENOMEM (-1) /* memory ran out */
#define HS_EINVAL (-2) /* an argument is out of range (a caller bug) */

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

/* ---- dispatch (dispatch.c) ------------------------------------------- */

/* Name of the kernel variant in force: "avx512-vpopcntdq", "avx2",
 * "popcnt" or "portable". */
const char *hs_isa_name(void);

/* Force a variant ("avx512", "avx2", "popcnt", "portable"; NULL or "" or
 * "auto" = best the CPU supports).  A variant the CPU lacks is never
 * selected: the best supported one at or below the request is used.
 * Returns the name of the variant actually in force, or NULL for an
 * unknown name (nothing changes then).  Not thread-safe against running
 * searches: call it between searches. */
const char *hs_set_isa(const char *name);

/* Space-separated CPU features relevant to the kernels that this CPU (and
 * OS, for AVX state) supports, e.g. "popcnt avx2". */
const char *hs_cpu_features(void);

/* ---- threads (threads.c) --------------------------------------------- */

/* Work (codes x queries x words) below which a search stays on fewer
 * threads than asked; 0 makes every search use all threads it is given
 * (the tests do this to exercise the threaded paths on small inputs). */
int64_t hs_set_min_work_per_thread(int64_t units); /* returns the old value */

/* ---- flat kernels (flat.c) ------------------------------------------- */

/* out[i * nb + j] = popcount(a[i] ^ b[j]). */
int hs_hamming_matrix(const uint64_t *a, int64_t na, const uint64_t *b,
                      int64_t nb, int w, int32_t *out, int nthreads);

/* out[i] = popcount(a[i] ^ b[i]). */
void hs_hamming_rows(const uint64_t *a, const uint64_t *b, int64_t n, int w,
                     int32_t *out);

/* Exact k nearest neighbours of each query.  D is (nq, k) int32, I is
 * (nq, k) int64.  Returns 0, HS_ENOMEM when memory ran out, or HS_EINVAL
 * for a negative size. */
int hs_knn(const uint64_t *db, const int64_t *ids, int64_t n, int w,
           const uint64_t *queries, int64_t nq, int64_t k, int32_t *D,
           int64_t *I, int nthreads, const uint64_t *skip);

/* Range search (distance <= radius, inclusive).  The result stays in C
 * memory: read its size with hs_range_total / hs_range_lims, copy it out
 * with hs_range_copy, release it with hs_range_free.  Returns NULL on
 * failure, with *err set to HS_ENOMEM or HS_EINVAL (err may be NULL). */
typedef struct hs_range_result hs_range_result;

hs_range_result *hs_range_search(const uint64_t *db, const int64_t *ids,
                                 int64_t n, int w, const uint64_t *queries,
                                 int64_t nq, int32_t radius, int nthreads,
                                 const uint64_t *skip, int *err);
int64_t hs_range_total(const hs_range_result *res);
/* lims has nq + 1 entries. */
void hs_range_lims(const hs_range_result *res, int64_t *lims);
/* D and I have hs_range_total() entries. */
void hs_range_copy(const hs_range_result *res, int32_t *D, int64_t *I);
void hs_range_free(hs_range_result *res);

#ifdef __cplusplus
}
#endif

#endif /* HAMSEARCH_H */
