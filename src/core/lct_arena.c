#include "lct_arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct lct_arena_chunk {
    lct_arena_chunk_t *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

void lct_arena_init(lct_arena_t *a, size_t chunk_size)
{
    a->head = NULL;
    a->chunk_size = chunk_size ? chunk_size : 64 * 1024;
    a->total = 0;
}

void *lct_arena_alloc(lct_arena_t *a, size_t size)
{
    size_t need = (size + 15) & ~(size_t)15;
    if (need < size)
        return NULL;
    lct_arena_chunk_t *c = a->head;
    if (!c || c->size - c->used < need) {
        size_t csize = need > a->chunk_size ? need : a->chunk_size;
        if (csize > SIZE_MAX - sizeof(*c))
            return NULL;
        c = malloc(sizeof(*c) + csize);
        if (!c)
            return NULL;
        c->size = csize;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += need;
    a->total += need;
    memset(p, 0, size);
    return p;
}

void *lct_arena_memdup(lct_arena_t *a, const void *src, size_t size)
{
    void *p = lct_arena_alloc(a, size ? size : 1);
    if (p && size)
        memcpy(p, src, size);
    return p;
}

char *lct_arena_strdup(lct_arena_t *a, const char *s)
{
    if (!s)
        return NULL;
    return lct_arena_memdup(a, s, strlen(s) + 1);
}

void lct_arena_destroy(lct_arena_t *a)
{
    lct_arena_chunk_t *c = a->head;
    while (c) {
        lct_arena_chunk_t *n = c->next;
        free(c);
        c = n;
    }
    a->head = NULL;
    a->total = 0;
}
