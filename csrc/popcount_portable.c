/*
 * popcount_portable.c -- portable C family: no special instructions.
 *
 * Popcount by the SWAR method (pairwise bit sums in 2, 4 and 8-bit fields,
 * then one multiply to add the bytes).  Runs on any CPU; the fallback when
 * POPCNT is absent and the reference the other families are tested against.
 */
#include <stdint.h>

#include "kernels.h"

static inline uint64_t hs_pop64_swar(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ULL);
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
    return (x * 0x0101010101010101ULL) >> 56;
}

#define HS_POP64(x) hs_pop64_swar(x)
#define HS_FN(name) portable_##name
#include "scalar_impl.h"

const hs_kernels hs_kernels_portable = {
    "portable",
    portable_distances,
    portable_rows,
    portable_filter,
    portable_filter_stream,
};
