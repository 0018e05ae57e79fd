/*
 * mih.h -- multi-index hashing kernels (Norouzi, Punjani & Fleet).
 *
 * The tables are built and owned by Python (hamsearch/mih.py documents the
 * layout); these functions fill them (counting sort, hash insert) and search
 * them.  A segment indexes a contiguous range of database positions with one
 * table per substring:
 *
 *   meta  int64 (m, 3): [kind, off_start, aux] per table:
 *         kind == -1 (HS_MIH_DENSE): bucket of key = offs[off_start + key ..
 *           off_start + key + 1]; bit key of occ[aux ..] says whether the
 *           bucket is non-empty;
 *         kind == -2 (HS_MIH_SPARSE), for substrings too wide for dense
 *           offsets: aux = sb, the suffix bits (1 .. 8); the offsets are
 *           over the key's top len - sb bits (bucket of key = offs[off_start
 *           + (key >> sb) .. + 1], rows ascending within it) and sfx[j][t]
 *           holds the low sb bits of entry t's key.  A table sparse in
 *           every segment is enumerated by prefix bucket ("grouped"): at
 *           radius s each bucket whose prefix is at distance h from the
 *           query's (s - sb <= h <= s) is visited once and its entries
 *           whose suffix is at distance s - h are verified; otherwise each
 *           key's bucket is scanned for the key's suffix;
 *         kind >= 0: an open-addressing hash of capacity kind + 1 (a power
 *           of two) at hkeys/hvals[aux ..] (hvals -1 = empty slot, else the
 *           bucket number).
 *   offs  int32, hkeys uint32, hvals int32, occ uint64: all tables
 *         concatenated.
 *   pos   int32 (m, seg_n): positions grouped by bucket.
 *   tcodes uint64 (m, seg_n, w) or NULL: the codes in table order ("inline
 *         codes": verification then reads memory sequentially).
 *   sfx   uint8 (m, seg_n), or NULL when no table is sparse: the suffix of
 *         each entry of the sparse tables (rows of the other tables unused).
 *
 * Search enumerates, for substring radius s = 0, 1, ... and table j, every
 * key at distance s from the query's substring j and verifies the codes of
 * its bucket with the full popcount distance.  A code that can still be a
 * result is kept unless one of its other substrings shows the enumeration
 * met it before (closer than s, or as close in an earlier table): no
 * visited set is needed.  Search stops once the results are final: after
 * table j at radius s every code within distance s * m + j has been met.
 * Work beyond `budget` (units of one code word of a linear scan: 32 per
 * bucket probe, 32 per code verified by random access, w per inline code,
 * 1 per 8 suffix bytes scanned)
 * switches a query to a linear scan (the flat filter kernel).
 *
 * ids: the id of each of the n codes, or NULL for row ids (the id of row p
 * is p; see hamsearch.h).
 *
 * Results are sorted by (distance, id).  stats (nq, 3) int64, may be NULL:
 * probes (keys looked up; a grouped sparse table: buckets visited), codes
 * verified (for a sparse table: the suffix matches), 1 if the
 * query fell back to the linear scan.
 */
#ifndef HAMSEARCH_MIH_H
#define HAMSEARCH_MIH_H

#include <stdint.h>

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

#define HS_MIH_DENSE (-1)
#define HS_MIH_SPARSE (-2)

/* offs (nbuckets + 1) = CSR start of each key; pos[...] = lo + i grouped by
 * keys[i], ascending within a key. */
void hs_mih_counting_sort(const uint32_t *keys, int64_t n, int64_t nbuckets,
                          int64_t lo, int32_t *offs, int32_t *pos);

/* The streaming (chunked) build of a dense table over substring bits
 * [start, start + len) of codes rows 0..n: key_counts adds each row's key
 * to counts[key] (pass offs + 1 of a zeroed offs; a prefix sum then makes
 * the CSR offsets); key_scatter writes row0 + i at pos[fill[key]++] (fill:
 * a copy of the offsets' bucket starts).  Called chunk by chunk, in row
 * order, they give hs_mih_counting_sort's result without a keys array. */
void hs_mih_key_counts(const uint64_t *codes, int64_t n, int w, int start,
                       int len, int32_t *counts);
void hs_mih_key_scatter(const uint64_t *codes, int64_t n, int w, int start,
                        int len, int64_t row0, int32_t *fill, int32_t *pos);

/* The same for a sparse table with sb suffix bits: count with
 * hs_mih_key_counts over bits [start + sb, start + len) (the bucket), then
 * key_scatter_sparse writes row0 + i at t = fill[key >> sb]++ in pos and
 * the key's low sb bits at sfx[t]. */
void hs_mih_key_scatter_sparse(const uint64_t *codes, int64_t n, int w,
                               int start, int len, int sb, int64_t row0,
                               int32_t *fill, int32_t *pos, uint8_t *sfx);

/* Insert the distinct keys uniq[0..nu) (value = index) into an empty table
 * of capacity hmask + 1 (a power of two > nu). */
void hs_mih_hash_insert(const uint32_t *uniq, int64_t nu, uint32_t *hkeys,
                        int32_t *hvals, int64_t hmask);

/* Exact k-NN, D/I (nq, k) padded with (HS_PAD_DISTANCE, -1); rows set in
 * `skip` (see hamsearch.h, may be NULL) are never candidates.  Returns 0,
 * HS_ENOMEM when memory ran out, or HS_EINVAL for an m, k or segment count
 * out of range. */
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

#endif /* HAMSEARCH_MIH_H */
