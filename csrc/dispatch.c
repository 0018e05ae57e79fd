/*
 * dispatch.c -- CPU feature detection and the one place a kernel variant
 * is chosen.
 *
 * Detection uses CPUID (leaf 1: POPCNT, OSXSAVE, AVX; leaf 7: AVX2,
 * AVX512F, AVX512BW, AVX512_VBMI, AVX512_VPOPCNTDQ; the AVX-512 variant
 * needs all four) and XGETBV (XCR0) to check that the OS saves
 * YMM / ZMM state.  The best variant is picked once, on first use; the
 * environment variable HAMSEARCH_ISA=avx512|avx2|popcnt|portable asks for a
 * lower one (never a higher one than the CPU supports), and hs_set_isa()
 * does the same at run time (used by the tests).
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

enum { HS_PORTABLE = 0, HS_POPCNT = 1, HS_AVX2 = 2, HS_AVX512 = 3 };

static const hs_kernels *const hs_tables[4] = {
    &hs_kernels_portable, &hs_kernels_popcnt, &hs_kernels_avx2,
    &hs_kernels_avx512};

static int hs_best = HS_PORTABLE;          /* best level the CPU supports */
static const hs_kernels *hs_current = 0;   /* table in force */
static char hs_features[128] = "";
static pthread_once_t hs_once = PTHREAD_ONCE_INIT;

#ifdef HS_X86
static uint64_t hs_xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

static void hs_append(const char *name)
{
    if (hs_features[0])
        strncat(hs_features, " ", sizeof(hs_features) - strlen(hs_features) - 1);
    strncat(hs_features, name, sizeof(hs_features) - strlen(hs_features) - 1);
}

static void hs_detect(void)
{
    int popcnt = 0, avx2 = 0, avx512f = 0, avx512bw = 0, vbmi = 0, vpopcntdq = 0;
#ifdef HS_X86
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
        popcnt = (c >> 23) & 1;
        uint64_t xcr0 = osxsave ? hs_xgetbv0() : 0;
        const int ymm_ok = avx && (xcr0 & 0x6) == 0x6;
        const int zmm_ok = ymm_ok && (xcr0 & 0xE6) == 0xE6;
        if (__get_cpuid_max(0, 0) >= 7) {
            __cpuid_count(7, 0, a, b, c, d);
            avx2 = ymm_ok && ((b >> 5) & 1);
            avx512f = zmm_ok && ((b >> 16) & 1);
            avx512bw = avx512f && ((b >> 30) & 1);
            vbmi = avx512f && ((c >> 1) & 1);
            vpopcntdq = avx512f && ((c >> 14) & 1);
        }
    }
#endif
    if (popcnt)
        hs_append("popcnt");
    if (avx2)
        hs_append("avx2");
    if (avx512f)
        hs_append("avx512f");
    if (avx512bw)
        hs_append("avx512bw");
    if (vbmi)
        hs_append("avx512vbmi");
    if (vpopcntdq)
        hs_append("avx512vpopcntdq");
    hs_best = HS_PORTABLE;
    if (popcnt)
        hs_best = HS_POPCNT;
    if (popcnt && avx2)
        hs_best = HS_AVX2;
    if (popcnt && avx2 && avx512f && avx512bw && vbmi && vpopcntdq)
        hs_best = HS_AVX512;
}

/* Level for a name, -1 when unknown; "" / "auto" mean the best. */
static int hs_level(const char *name)
{
    if (name == 0 || name[0] == 0 || strcmp(name, "auto") == 0)
        return hs_best;
    if (strcmp(name, "avx512") == 0 || strcmp(name, "avx512-vpopcntdq") == 0)
        return HS_AVX512;
    if (strcmp(name, "avx2") == 0)
        return HS_AVX2;
    if (strcmp(name, "popcnt") == 0)
        return HS_POPCNT;
    if (strcmp(name, "portable") == 0)
        return HS_PORTABLE;
    return -1;
}

static void hs_init(void)
{
    hs_detect();
    int level = hs_level(getenv("HAMSEARCH_ISA"));
    if (level < 0 || level > hs_best) /* unknown or unsupported: the best */
        level = hs_best;
    hs_current = hs_tables[level];
}

const hs_kernels *hs_active(void)
{
    pthread_once(&hs_once, hs_init);
    return hs_current;
}

const char *hs_isa_name(void)
{
    return hs_active()->name;
}

const char *hs_set_isa(const char *name)
{
    hs_active();
    int level = hs_level(name);
    if (level < 0)
        return 0;
    if (level > hs_best)
        level = hs_best;
    hs_current = hs_tables[level];
    return hs_current->name;
}

const char *hs_cpu_features(void)
{
    hs_active();
    return hs_features;
}
