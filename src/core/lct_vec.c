#include "lct_vec.h"

#include <stdint.h>
#include <stdlib.h>

lct_status_t lct_vec_reserve_(void **data, size_t *cap, size_t elem, size_t need)
{
    if (need <= *cap)
        return LCT_OK;
    size_t ncap = *cap ? *cap : 8;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return LCT_ERR_NOMEM;
        ncap *= 2;
    }
    if (ncap > SIZE_MAX / elem)
        return LCT_ERR_NOMEM;
    void *p = realloc(*data, ncap * elem);
    if (!p)
        return LCT_ERR_NOMEM;
    *data = p;
    *cap = ncap;
    return LCT_OK;
}
