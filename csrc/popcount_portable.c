/*
 * popcount_portable.c -- portable C family: no special instructions.
 *
 * Popcount by the SWAR method (hs_pop64_swar in kernels.h).  Runs on any
 * CPU; the fallback when POPCNT is absent and the reference the other
 * families are tested against.
 */
#include <stdint.h>

#include "kernels.h"

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
