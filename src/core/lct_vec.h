/* Growable arrays: LCT_VEC(T) declares {T *data; size_t len, cap;}; LCT_VEC_PUSH appends. */
#ifndef LCT_VEC_H
#define LCT_VEC_H

#include <stddef.h>

#include "lct_status.h"

#define LCT_VEC(T)                                                                                 \
    struct {                                                                                       \
        T *data;                                                                                   \
        size_t len, cap;                                                                           \
    }

/* Make room for at least need elements of elem bytes; doubles the capacity. */
lct_status_t lct_vec_reserve_(void **data, size_t *cap, size_t elem, size_t need);

#define LCT_VEC_RESERVE(v, n) lct_vec_reserve_((void **)&(v)->data, &(v)->cap, sizeof(*(v)->data), (n))
/* Evaluates to lct_status_t. */
#define LCT_VEC_PUSH(v, x)                                                                         \
    (LCT_VEC_RESERVE((v), (v)->len + 1) == LCT_OK ? ((v)->data[(v)->len++] = (x), LCT_OK)          \
                                                   : LCT_ERR_NOMEM)
#define LCT_VEC_FREE(v)                                                                            \
    do {                                                                                           \
        free((v)->data);                                                                           \
        (v)->data = NULL;                                                                          \
        (v)->len = (v)->cap = 0;                                                                   \
    } while (0)

#endif
