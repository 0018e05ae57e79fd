/*
 * dispatch.c -- CPU capability detection and the one table of kernel
 * variants: the only place a variant is chosen, for the popcount (flat),
 * MIH and re-rank kernels alike.
 *
 * Detection runs once: CPUID (leaf 1: POPCNT, FMA, F16C, OSXSAVE, AVX;
 * leaf 7: AVX2, AVX512F, AVX512BW, AVX512_VBMI, AVX512_VPOPCNTDQ) and
 * XGETBV (XCR0: the OS saves YMM / ZMM state) give a bitmask of HS_CAP_*
 * bits (hamsearch_api.h).  The variant in force is the first row of
 * hs_variants (best first) whose required capabilities the CPU has; the
 * environment variable HAMSEARCH_ISA=<name or alias> asks for a lower one
 * (never a higher one than the CPU supports), and hs_set_isa() does the
 * same at run time (tests and benchmarks).
 *
 * Adding a variant: its kernels and hs_kernels table in a new
 * csrc/popcount_<x>.c, and one row here (with its extern).  Nothing else
 * lists variants: Python reads the table through hs_variant_*().
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hamsearch.h"
#include "kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#  include <cpuid.h>
#  define HS_X86 1
#endif

/* ---- the variant table ------------------------------------------------ */

extern const hs_kernels hs_kernels_portable, hs_kernels_popcnt,
    hs_kernels_avx2, hs_kernels_avx512;
extern const hs_mih_kernels hs_mih_portable, hs_mih_popcnt;
extern const hs_rerank_kernels hs_rerank_portable, hs_rerank_avx2;

#define HS_CAPS_AVX2 (HS_CAP_POPCNT | HS_CAP_AVX2 | HS_CAP_FMA | HS_CAP_F16C)
#define HS_CAPS_AVX512                                                       \
    (HS_CAPS_AVX2 | HS_CAP_AVX512F | HS_CAP_AVX512BW | HS_CAP_AVX512VBMI |   \
     HS_CAP_AVX512VPOPCNTDQ)

/* Best first; the last row needs nothing. */
static const hs_variant hs_variants[] = {
    {"avx512-vpopcntdq", "avx512", HS_CAPS_AVX512, &hs_kernels_avx512,
     &hs_mih_popcnt, &hs_rerank_avx2},
    {"avx2", 0, HS_CAPS_AVX2, &hs_kernels_avx2, &hs_mih_popcnt,
     &hs_rerank_avx2},
    {"popcnt", 0, HS_CAP_POPCNT, &hs_kernels_popcnt, &hs_mih_popcnt,
     &hs_rerank_portable},
    {"portable", 0, 0, &hs_kernels_portable, &hs_mih_portable,
     &hs_rerank_portable},
};

#define HS_NVARIANTS ((int)(sizeof(hs_variants) / sizeof(hs_variants[0])))

/* Capability names, by bit (hs_cpu_features, hs_cap_name). */
static const struct {
    uint64_t bit;
    const char *name;
} hs_cap_names[] = {
    {HS_CAP_POPCNT, "popcnt"},
    {HS_CAP_AVX2, "avx2"},
    {HS_CAP_FMA, "fma"},
    {HS_CAP_F16C, "f16c"},
    {HS_CAP_AVX512F, "avx512f"},
    {HS_CAP_AVX512BW, "avx512bw"},
    {HS_CAP_AVX512VBMI, "avx512vbmi"},
    {HS_CAP_AVX512VPOPCNTDQ, "avx512vpopcntdq"},
    {HS_CAP_NEON, "neon"},
    {HS_CAP_SVE, "sve"},
};

#define HS_NCAPS ((int)(sizeof(hs_cap_names) / sizeof(hs_cap_names[0])))

/* ---- detection -------------------------------------------------------- */

static uint64_t hs_caps = 0;
static const hs_variant *hs_current = 0;
static char hs_features[160] = "";
static pthread_once_t hs_once = PTHREAD_ONCE_INIT;

#ifdef HS_X86
static uint64_t hs_xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

static uint64_t hs_detect(void)
{
    uint64_t caps = 0;
#ifdef HS_X86
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
        const uint64_t xcr0 = osxsave ? hs_xgetbv0() : 0;
        const int ymm_ok = avx && (xcr0 & 0x6) == 0x6;
        const int zmm_ok = ymm_ok && (xcr0 & 0xE6) == 0xE6;
        if ((c >> 23) & 1)
            caps |= HS_CAP_POPCNT;
        if (ymm_ok && ((c >> 12) & 1))
            caps |= HS_CAP_FMA;
        if (ymm_ok && ((c >> 29) & 1))
            caps |= HS_CAP_F16C;
        if (__get_cpuid_max(0, 0) >= 7) {
            __cpuid_count(7, 0, a, b, c, d);
            if (ymm_ok && ((b >> 5) & 1))
                caps |= HS_CAP_AVX2;
            if (zmm_ok && ((b >> 16) & 1)) {
                caps |= HS_CAP_AVX512F;
                if ((b >> 30) & 1)
                    caps |= HS_CAP_AVX512BW;
                if ((c >> 1) & 1)
                    caps |= HS_CAP_AVX512VBMI;
                if ((c >> 14) & 1)
                    caps |= HS_CAP_AVX512VPOPCNTDQ;
            }
        }
    }
#endif
    return caps;
}

static int hs_supported(int i)
{
    return (hs_variants[i].caps & ~hs_caps) == 0;
}

/* Row for a name or alias, -1 when unknown; NULL / "" / "auto" = row 0
 * (the best, once lowered to what the CPU supports). */
static int hs_find(const char *name)
{
    if (name == 0 || name[0] == 0 || strcmp(name, "auto") == 0)
        return 0;
    for (int i = 0; i < HS_NVARIANTS; i++) {
        const hs_variant *v = &hs_variants[i];
        if (strcmp(name, v->name) == 0 || (v->alias && strcmp(name, v->alias) == 0))
            return i;
    }
    return -1;
}

/* The first supported row at or after i (the last row needs nothing). */
static const hs_variant *hs_lower(int i)
{
    while (i < HS_NVARIANTS - 1 && !hs_supported(i))
        i++;
    return &hs_variants[i];
}

static void hs_init(void)
{
    hs_caps = hs_detect();
    for (int i = 0; i < HS_NCAPS; i++) {
        if (!(hs_caps & hs_cap_names[i].bit))
            continue;
        if (hs_features[0])
            strncat(hs_features, " ", sizeof(hs_features) - strlen(hs_features) - 1);
        strncat(hs_features, hs_cap_names[i].name,
                sizeof(hs_features) - strlen(hs_features) - 1);
    }
    const int i = hs_find(getenv("HAMSEARCH_ISA"));
    hs_current = hs_lower(i < 0 ? 0 : i); /* unknown: the best */
}

const hs_variant *hs_active_variant(void)
{
    pthread_once(&hs_once, hs_init);
    return hs_current;
}

const hs_kernels *hs_active(void)
{
    return hs_active_variant()->popcount;
}

const char *hs_isa_name(void)
{
    return hs_active_variant()->name;
}

const char *hs_set_isa(const char *name)
{
    hs_active_variant();
    const int i = hs_find(name);
    if (i < 0)
        return 0;
    hs_current = hs_lower(i);
    return hs_current->name;
}

const char *hs_cpu_features(void)
{
    hs_active_variant();
    return hs_features;
}

uint64_t hs_cpu_caps(void)
{
    hs_active_variant();
    return hs_caps;
}

const char *hs_cap_name(int bit)
{
    if (bit < 0 || bit > 63)
        return 0;
    for (int i = 0; i < HS_NCAPS; i++)
        if (hs_cap_names[i].bit == ((uint64_t)1 << bit))
            return hs_cap_names[i].name;
    return 0;
}

int hs_variant_count(void)
{
    return HS_NVARIANTS;
}

const char *hs_variant_name(int i)
{
    return i >= 0 && i < HS_NVARIANTS ? hs_variants[i].name : 0;
}

const char *hs_variant_alias(int i)
{
    return i >= 0 && i < HS_NVARIANTS ? hs_variants[i].alias : 0;
}

uint64_t hs_variant_caps(int i)
{
    return i >= 0 && i < HS_NVARIANTS ? hs_variants[i].caps : 0;
}
