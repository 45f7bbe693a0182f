/* cuGetProcAddress: the driver's own entry points by base name and CUDA version, as the real
 * driver resolves them. For a base name, the symbol with the highest introducing version not
 * above the requested version is returned; CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM picks
 * the _ptds / _ptsz variant where one exists. Addresses are this library's own functions (the
 * library is linked with -Bsymbolic-functions, so an interposing LD_PRELOAD library does not
 * replace what this returns, as with the real driver). */
#include <string.h>

#include "sd_internal.h"
#include "sd_symtab.h"

static CUresult sd_proc_address(const char *symbol, void **pfn, int version, cuuint64_t flags,
                                CUdriverProcAddressQueryResult *status)
{
    if (!symbol || !pfn)
        return CUDA_ERROR_INVALID_VALUE;
    if (flags & ~(cuuint64_t)(CU_GET_PROC_ADDRESS_LEGACY_STREAM | CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM))
        return CUDA_ERROR_INVALID_VALUE;
    /* Since CUDA 12.0, the name cuGraphInstantiate means cuGraphInstantiateWithFlags (cuda.h). */
    if (strcmp(symbol, "cuGraphInstantiate") == 0 && version >= 12000)
        symbol = "cuGraphInstantiateWithFlags";
    size_t n;
    const sd_symbol_t *t = sd_symtab(&n);
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(t[mid].base, symbol) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    int per_thread = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0;
    const sd_symbol_t *plain = NULL, *pt = NULL;
    int found = 0;
    for (size_t i = lo; i < n && strcmp(t[i].base, symbol) == 0; i++) {
        found = 1;
        if (t[i].version > version)
            continue;
        if (t[i].variant == 0)
            plain = &t[i];
        else if (per_thread)
            pt = &t[i];
    }
    const sd_symbol_t *pick = pt ? pt : plain;
    *pfn = pick ? pick->fn : NULL;
    if (status)
        *status = pick ? CU_GET_PROC_ADDRESS_SUCCESS
                  : found ? CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT
                          : CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    return pick ? CUDA_SUCCESS : CUDA_ERROR_NOT_FOUND;
}

CUresult CUDAAPI cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags,
                                     CUdriverProcAddressQueryResult *symbolStatus)
{
    SD_API(cuGetProcAddress_v2, sd_proc_address(symbol, pfn, cudaVersion, flags, symbolStatus));
}

CUresult CUDAAPI cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags)
{
    SD_API(cuGetProcAddress, sd_proc_address(symbol, pfn, cudaVersion, flags, NULL));
}
