#include "lct_hash.h"

#include <stdlib.h>
#include <string.h>

uint64_t lct_hash_bytes(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ULL ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    return lct_hash_u64(h);
}

uint64_t lct_hash_str(const char *s) { return lct_hash_bytes(s, s ? strlen(s) : 0, 0); }

uint64_t lct_hash_u64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

uint64_t lct_hash_combine(uint64_t h, uint64_t v)
{
    return lct_hash_u64(h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2)));
}

void lct_map_init(lct_map_t *m) { memset(m, 0, sizeof(*m)); }

static lct_status_t map_grow(lct_map_t *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 16;
    lct_map_t n = {calloc(ncap, 8), calloc(ncap, 8), calloc(ncap, 1), ncap, 0};
    if (!n.keys || !n.vals || !n.used) {
        free(n.keys);
        free(n.vals);
        free(n.used);
        return LCT_ERR_NOMEM;
    }
    for (size_t i = 0; i < m->cap; i++)
        if (m->used[i])
            lct_map_put(&n, m->keys[i], m->vals[i]);
    lct_map_free(m);
    *m = n;
    return LCT_OK;
}

lct_status_t lct_map_put(lct_map_t *m, uint64_t key, uint64_t val)
{
    if ((m->len + 1) * 4 > m->cap * 3)
        LCT_CHECK(map_grow(m));
    size_t i = lct_hash_u64(key) & (m->cap - 1);
    while (m->used[i] && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    if (!m->used[i]) {
        m->used[i] = 1;
        m->keys[i] = key;
        m->len++;
    }
    m->vals[i] = val;
    return LCT_OK;
}

int lct_map_get(const lct_map_t *m, uint64_t key, uint64_t *val_p)
{
    if (!m->cap)
        return 0;
    size_t i = lct_hash_u64(key) & (m->cap - 1);
    while (m->used[i]) {
        if (m->keys[i] == key) {
            if (val_p)
                *val_p = m->vals[i];
            return 1;
        }
        i = (i + 1) & (m->cap - 1);
    }
    return 0;
}

void lct_map_free(lct_map_t *m)
{
    free(m->keys);
    free(m->vals);
    free(m->used);
    memset(m, 0, sizeof(*m));
}
