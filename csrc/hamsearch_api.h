/*
 * hamsearch_api.h -- every C entry point Python calls, in one cdef-clean
 * file: ffibuild.py passes this file to cffi's cdef() verbatim, so it holds
 * only comments, integer #defines, enums, typedefs and prototypes (no other
 * preprocessor lines, no inline code).  C code includes it through
 * hamsearch.h (include guard, extern "C", inline helpers).
 *
 * Conventions (see hamsearch.h): codes are rows of w uint64 words, ids are
 * int64 or NULL (row ids), results sorted by (distance, id).
 */

/* k-NN rows with fewer than k results are padded with this distance and
 * id -1 (larger than any Hamming distance). */
#define HS_PAD_DISTANCE 2147483647

/* Status codes of the int-returning entry points (and of the `err` out
 * parameter of the range searches).  hamsearch/_kernels/c/_status.py maps them to
 * Python exceptions (check_status). */
enum { HS_OK = 0, HS_ENOMEM = -1, HS_EINVAL = -2 };

/* CPU capabilities (bits of hs_cpu_caps(); detected once, dispatch.c).
 * A kernel variant lists the ones it needs (the variant table in
 * dispatch.c).  x86 bits first; room for ARM (neon, sve). */
#define HS_CAP_POPCNT 0x1
#define HS_CAP_AVX2 0x2
#define HS_CAP_FMA 0x4
#define HS_CAP_F16C 0x8
#define HS_CAP_AVX512F 0x10
#define HS_CAP_AVX512BW 0x20
#define HS_CAP_AVX512VBMI 0x40
#define HS_CAP_AVX512VPOPCNTDQ 0x80
#define HS_CAP_NEON 0x10000
#define HS_CAP_SVE 0x20000

/* ---- dispatch (dispatch.c) ------------------------------------------- */

/* Name of the kernel variant in force, e.g. "avx512-vpopcntdq", "avx2",
 * "popcnt" or "portable" (one row of the variant table). */
const char *hs_isa_name(void);

/* Force a variant by name or alias (NULL, "" or "auto" = the best the CPU
 * supports).  A variant the CPU lacks is never selected: the best
 * supported one at or below the request is used.  Returns the name of the
 * variant actually in force, or NULL for an unknown name (nothing changes
 * then).  Not thread-safe against running searches: call it between
 * searches.  The environment variable HAMSEARCH_ISA does the same at load. */
const char *hs_set_isa(const char *name);

/* Space-separated names of the capabilities this CPU (and OS, for the
 * AVX state) has, e.g. "popcnt avx2 fma f16c". */
const char *hs_cpu_features(void);

/* The capability bitmask itself (HS_CAP_*). */
uint64_t hs_cpu_caps(void);

/* Name of capability bit `bit` (0 .. 63), NULL when the bit is unused. */
const char *hs_cap_name(int bit);

/* The variant table, best first: its size, and row i's name, alias (the
 * short name hs_set_isa also accepts, may be NULL) and required
 * capabilities.  Name / alias NULL for i out of range. */
int hs_variant_count(void);
const char *hs_variant_name(int i);
const char *hs_variant_alias(int i);
uint64_t hs_variant_caps(int i);

/* ---- threads (threads.c) --------------------------------------------- */

/* Work (codes x queries x words) below which a search stays on fewer
 * threads than asked; 0 makes every search use all threads it is given
 * (the tests do this to exercise the threaded paths on small inputs).
 * Returns the old value. */
int64_t hs_set_min_work_per_thread(int64_t units);

/* How long (ns) an idle pool worker, or a caller waiting for a worker's
 * task, spins before it sleeps (0: sleep at once); returns the old value.
 * Default 50 us.  Spinning saves the 20-40 us a wake-up costs on a VM. */
int64_t hs_set_spin_ns(int64_t ns);

/* ---- flat kernels (flat.c) ------------------------------------------- */

/* out[i * nb + j] = popcount(a[i] ^ b[j]). */
int hs_hamming_matrix(const uint64_t *a, int64_t na, const uint64_t *b,
                      int64_t nb, int w, int32_t *out, int nthreads);

/* out[i] = popcount(a[i] ^ b[i]). */
void hs_hamming_rows(const uint64_t *a, const uint64_t *b, int64_t n, int w,
                     int32_t *out);

/* Exact k nearest neighbours of each query.  D is (nq, k) int32, I is
 * (nq, k) int64.  skip: row bitmap or NULL (hamsearch.h).  Returns HS_OK,
 * HS_ENOMEM when memory ran out, or HS_EINVAL for a negative size. */
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

/* ---- re-rank (rerank.c; rerank.h documents the scores) ---------------- */

#define HS_METRIC_L2 0
#define HS_METRIC_IP 1
#define HS_ORDER_SCORE 0
#define HS_ORDER_BUCKET 1
#define HS_FEAT_F32 0
#define HS_FEAT_F16 1

/* Name of the distance variant in force: "avx2-fma-f16c" or "portable"
 * (the re-rank kernels of the variant-table row in force). */
const char *hs_rerank_isa(void);

/* Top-k of each query's candidate pool (rerank.h).  Returns HS_OK or
 * HS_ENOMEM. */
int hs_rerank(const void *feats, int ftype, int64_t d, const float *qf,
              int64_t nq, const int64_t *lims, const int64_t *pos,
              const int32_t *ham, const int64_t *ids, int metric, int order,
              int64_t k, float *D, int64_t *I, int32_t *H, int nthreads);

/* out[j] = score of feats[pos[j]] against the single query q: squared L2
 * distance or inner product (not negated).  One thread. */
void hs_feature_distances(const void *feats, int ftype, int64_t d,
                          const float *q, const int64_t *pos, int64_t npos,
                          int metric, float *out);

/* ---- multi-index hashing (mih.c; mih.h documents the layout) ---------- */

typedef struct hs_mih_segment {
    const int64_t *meta;
    const int32_t *offs;
    const uint32_t *hkeys;
    const int32_t *hvals;
    const int32_t *pos;
    const uint64_t *occ;
    const uint64_t *tcodes;
    int64_t seg_n;
    const uint8_t *sfx;
} hs_mih_segment;

/* offs (nbuckets + 1) = CSR start of each key; pos[...] = lo + i grouped by
 * keys[i], ascending within a key. */
void hs_mih_counting_sort(const uint32_t *keys, int64_t n, int64_t nbuckets,
                          int64_t lo, int32_t *offs, int32_t *pos);

/* Streaming (chunked) build of a dense / sparse table (mih.h). */
void hs_mih_key_counts(const uint64_t *codes, int64_t n, int w, int start,
                       int len, int32_t *counts);
void hs_mih_key_scatter(const uint64_t *codes, int64_t n, int w, int start,
                        int len, int64_t row0, int32_t *fill, int32_t *pos);
void hs_mih_key_scatter_sparse(const uint64_t *codes, int64_t n, int w,
                               int start, int len, int sb, int64_t row0,
                               int32_t *fill, int32_t *pos, uint8_t *sfx);

/* Insert the distinct keys uniq[0..nu) (value = index) into an empty table
 * of capacity hmask + 1 (a power of two > nu). */
void hs_mih_hash_insert(const uint32_t *uniq, int64_t nu, uint32_t *hkeys,
                        int32_t *hvals, int64_t hmask);

/* Exact k-NN, D/I (nq, k) padded with (HS_PAD_DISTANCE, -1); rows set in
 * `skip` (may be NULL) are never candidates.  Returns HS_OK, HS_ENOMEM
 * when memory ran out, or HS_EINVAL for an m, k or segment count out of
 * range. */
int hs_mih_knn(const uint64_t *codes, const int64_t *ids, int64_t n, int w,
               const uint64_t *queries, int64_t nq, int64_t k,
               const int32_t *sub_start, const int32_t *sub_len, int m,
               const hs_mih_segment *segs, int nseg, int64_t budget,
               int32_t *D, int64_t *I, int64_t *stats, int nthreads,
               const uint64_t *skip);

/* Radius search (<= radius); read the result like hs_range_search's
 * (NULL on failure, *err = HS_ENOMEM or HS_EINVAL). */
typedef struct hs_mih_range hs_mih_range;

hs_mih_range *hs_mih_range_search(const uint64_t *codes, const int64_t *ids,
                                  int64_t n, int w, const uint64_t *queries,
                                  int64_t nq, int32_t radius,
                                  const int32_t *sub_start,
                                  const int32_t *sub_len, int m,
                                  const hs_mih_segment *segs, int nseg,
                                  int64_t budget, int64_t *stats,
                                  int nthreads, const uint64_t *skip,
                                  int *err);
int64_t hs_mih_range_total(const hs_mih_range *res);
void hs_mih_range_lims(const hs_mih_range *res, int64_t *lims);
void hs_mih_range_copy(const hs_mih_range *res, int32_t *D, int64_t *I);
void hs_mih_range_free(hs_mih_range *res);
