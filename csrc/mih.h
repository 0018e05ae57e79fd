/*
 * mih.h -- multi-index hashing kernels (Norouzi, Punjani & Fleet).
 *
 * The tables are built and owned by Python (hamsearch/mih/ documents the
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

/* hs_mih_segment and the entry points (hs_mih_counting_sort,
 * hs_mih_key_counts / _scatter / _scatter_sparse, hs_mih_hash_insert,
 * hs_mih_knn, hs_mih_range_search and its accessors) are declared in
 * hamsearch_api.h, the one public header. */
#include "hamsearch.h"

#define HS_MIH_DENSE (-1)
#define HS_MIH_SPARSE (-2)

#endif /* HAMSEARCH_MIH_H */
