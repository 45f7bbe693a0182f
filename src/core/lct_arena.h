/* Arena: bump allocation in chunks, freed all at once. Each graph owns one; passes allocate from
 * it and never free single objects. Memory is zeroed. */
#ifndef LCT_ARENA_H
#define LCT_ARENA_H

#include <stddef.h>

typedef struct lct_arena_chunk lct_arena_chunk_t;

typedef struct {
    lct_arena_chunk_t *head;
    size_t chunk_size; /* default size of new chunks */
    size_t total;      /* bytes handed out (statistics) */
} lct_arena_t;

void lct_arena_init(lct_arena_t *a, size_t chunk_size);
/* Zeroed memory aligned to 16 bytes, or NULL when out of memory. */
void *lct_arena_alloc(lct_arena_t *a, size_t size);
/* Copy of s (NULL stays NULL), or NULL when out of memory. */
char *lct_arena_strdup(lct_arena_t *a, const char *s);
/* Copy of size bytes at src. */
void *lct_arena_memdup(lct_arena_t *a, const void *src, size_t size);
void lct_arena_destroy(lct_arena_t *a);

#endif
