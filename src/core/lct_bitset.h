/* Fixed-size bitsets (reachability rows, visited sets). */
#ifndef LCT_BITSET_H
#define LCT_BITSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LCT_BITSET_WORDS(n) (((n) + 63) / 64)

static inline void lct_bitset_set(uint64_t *b, size_t i) { b[i >> 6] |= 1ULL << (i & 63); }
static inline void lct_bitset_clear(uint64_t *b, size_t i) { b[i >> 6] &= ~(1ULL << (i & 63)); }
static inline bool lct_bitset_test(const uint64_t *b, size_t i)
{
    return (b[i >> 6] >> (i & 63)) & 1;
}
/* dst |= src over nwords words. */
static inline void lct_bitset_or(uint64_t *dst, const uint64_t *src, size_t nwords)
{
    for (size_t w = 0; w < nwords; w++)
        dst[w] |= src[w];
}

#endif
