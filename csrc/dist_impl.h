/*
 * dist_impl.h -- the Hamming distance of one code, instantiated once per
 * popcount flavour.  The including file defines
 *
 *   HS_POP64(x)   popcount of one uint64_t
 *   HS_FN(name)   a unique static name for this flavour
 *
 * Both the word-at-a-time scan kernels (scalar_impl.h) and the MIH
 * candidate verification (mih_impl.h) use it: one copy of the scalar
 * distance.  Word counts 1, 2 and 4 are unrolled.
 */
#include <stdint.h>

static inline int32_t HS_FN(dist)(const uint64_t *a, const uint64_t *b, int w)
{
    switch (w) {
    case 1:
        return (int32_t)HS_POP64(a[0] ^ b[0]);
    case 2:
        return (int32_t)(HS_POP64(a[0] ^ b[0]) + HS_POP64(a[1] ^ b[1]));
    case 4:
        return (int32_t)(HS_POP64(a[0] ^ b[0]) + HS_POP64(a[1] ^ b[1]) +
                         HS_POP64(a[2] ^ b[2]) + HS_POP64(a[3] ^ b[3]));
    default:
        break;
    }
    int32_t s = 0;
    int j = 0;
    for (; j + 4 <= w; j += 4)
        s += (int32_t)(HS_POP64(a[j] ^ b[j]) + HS_POP64(a[j + 1] ^ b[j + 1]) +
                       HS_POP64(a[j + 2] ^ b[j + 2]) + HS_POP64(a[j + 3] ^ b[j + 3]));
    for (; j < w; j++)
        s += (int32_t)HS_POP64(a[j] ^ b[j]);
    return s;
}
