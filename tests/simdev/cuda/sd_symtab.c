/* Every entry point a CUDA 13 libcuda.so.1 exports (sd_symbols.def). Each is defined here as a
 * weak function that logs its name once and returns CUDA_ERROR_NOT_SUPPORTED; the functions the
 * simulated driver implements are strong definitions in the other files and replace these at
 * link time. A program calling outside the simulated subset therefore links and loads, and
 * gets an explicit error instead of silent success.
 *
 * This file must not include cuda.h: it declares the entry points with a generic prototype. A
 * CUresult is an int; extra arguments are ignored under the platform's C calling convention. */
#include <stdio.h>

#include "sd_symtab.h"

#define SD_NOT_SUPPORTED 801 /* CUDA_ERROR_NOT_SUPPORTED */

static int sd_unsupported(const char *name, int *once)
{
    if (!*once) {
        *once = 1;
        fprintf(stderr, "simdev: %s is not supported by the simulated device: returning "
                        "CUDA_ERROR_NOT_SUPPORTED\n", name);
    }
    return SD_NOT_SUPPORTED;
}

#define SD_SYM(sym, base, ver, variant)                                                            \
    int sym(void) __attribute__((weak));                                                           \
    int sym(void)                                                                                  \
    {                                                                                              \
        static int once;                                                                           \
        return sd_unsupported(#sym, &once);                                                        \
    }
#include "sd_symbols.def"
#undef SD_SYM

static const sd_symbol_t sd_table[] = {
#define SD_SYM(sym, base, ver, variant) {#base, ver, variant, #sym, (void *)sym},
#include "sd_symbols.def"
#undef SD_SYM
};

const sd_symbol_t *sd_symtab(size_t *n)
{
    *n = sizeof(sd_table) / sizeof(sd_table[0]);
    return sd_table;
}
