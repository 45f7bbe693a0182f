#include "simdev_kcache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct simdev_kcache_entry {
    CUcontext ctx;
    CUmodule mod;
    char name[128];
    CUfunction fn;
};

CUresult simdev_kcache_get(simdev_kcache_t *c, CUcontext ctx, const char *name, CUfunction *fn_p)
{
    pthread_mutex_lock(&c->lock);
    CUmodule mod = NULL;
    for (size_t i = 0; i < c->n; i++) {
        if (c->e[i].ctx != ctx)
            continue;
        mod = c->e[i].mod;
        if (strcmp(c->e[i].name, name) == 0) {
            *fn_p = c->e[i].fn;
            pthread_mutex_unlock(&c->lock);
            return CUDA_SUCCESS;
        }
    }
    CUresult r = CUDA_SUCCESS;
    if (!mod)
        r = cuModuleLoadData(&mod, c->image);
    CUfunction fn = NULL;
    if (r == CUDA_SUCCESS)
        r = cuModuleGetFunction(&fn, mod, name);
    if (r != CUDA_SUCCESS) {
        pthread_mutex_unlock(&c->lock);
        return r;
    }
    if (c->n == c->cap) { /* a full cache only costs lookups, never correctness */
        size_t cap = c->cap ? 2 * c->cap : 32;
        simdev_kcache_entry_t *ne = realloc(c->e, cap * sizeof *ne);
        if (ne) {
            c->e = ne;
            c->cap = cap;
        }
    }
    if (c->n < c->cap && strlen(name) < sizeof c->e[0].name) {
        simdev_kcache_entry_t *e = &c->e[c->n++];
        e->ctx = ctx;
        e->mod = mod;
        snprintf(e->name, sizeof e->name, "%s", name);
        e->fn = fn;
    }
    pthread_mutex_unlock(&c->lock);
    *fn_p = fn;
    return CUDA_SUCCESS;
}
