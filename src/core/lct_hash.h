/* Hashing (FNV-1a 64 + a final mix) and a u64 -> u64 open-addressing map with deterministic
 * behaviour (no pointer-dependent iteration order is ever exposed). */
#ifndef LCT_HASH_H
#define LCT_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "lct_status.h"

uint64_t lct_hash_bytes(const void *p, size_t n, uint64_t seed);
uint64_t lct_hash_str(const char *s);
uint64_t lct_hash_u64(uint64_t x);
/* Combine two hashes (order-dependent). */
uint64_t lct_hash_combine(uint64_t h, uint64_t v);

typedef struct {
    uint64_t *keys, *vals;
    uint8_t *used;
    size_t cap, len;
} lct_map_t;

void lct_map_init(lct_map_t *m);
/* Insert or overwrite. */
lct_status_t lct_map_put(lct_map_t *m, uint64_t key, uint64_t val);
/* 1 and *val_p set when present, 0 otherwise. */
int lct_map_get(const lct_map_t *m, uint64_t key, uint64_t *val_p);
void lct_map_free(lct_map_t *m);

#endif
