/*
 * popcount_popcnt.c -- scalar POPCNT family.
 *
 * One POPCNT per 64-bit word of (query XOR code); on Zen 3 / Ice Lake and
 * later four (AMD) or one-to-two (Intel) POPCNT issue per cycle, so this is
 * a strong baseline for short codes.  Compiled for the "popcnt" target only
 * (no -march flags needed); selected when CPUID.01H:ECX.POPCNT[bit 23] = 1.
 */
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
#  if defined(__clang__)
#    pragma clang attribute push(__attribute__((target("popcnt"))), apply_to = function)
#  elif defined(__GNUC__)
#    pragma GCC push_options
#    pragma GCC target("popcnt")
#  endif
#  define HS_HAVE_POPCNT_FAMILY 1
#endif

#include <stdint.h>

#include "kernels.h"

#ifdef HS_HAVE_POPCNT_FAMILY

#define HS_POP64(x) ((uint64_t)__builtin_popcountll(x))
#define HS_FN(name) popcnt_##name
#include "scalar_impl.h"

const hs_kernels hs_kernels_popcnt = {
    "popcnt",
    popcnt_distances,
    popcnt_rows,
    popcnt_filter,
    popcnt_filter_stream,
};

#  if defined(__clang__)
#    pragma clang attribute pop
#  elif defined(__GNUC__)
#    pragma GCC pop_options
#  endif

#else /* not x86: never selected by dispatch.c */

const hs_kernels hs_kernels_popcnt = {"popcnt", 0, 0, 0, 0};

#endif
