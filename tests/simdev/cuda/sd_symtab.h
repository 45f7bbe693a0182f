/* The table of every exported driver entry point (sd_symbols.def), shared by sd_symtab.c, which
 * cannot include cuda.h (it defines the entry points with a generic prototype), and the
 * cuGetProcAddress implementation. */
#ifndef SD_SYMTAB_H
#define SD_SYMTAB_H

#include <stddef.h>

typedef struct {
    const char *base;     /* name without ABI suffix, as cuGetProcAddress is asked for it */
    int version;          /* CUDA version that introduced this symbol */
    int variant;          /* 0 plain, 1 per-thread default stream (_ptds), 2 per-thread (_ptsz) */
    const char *symbol;
    void *fn;
} sd_symbol_t;

/* Sorted by (base, variant, version). */
const sd_symbol_t *sd_symtab(size_t *n);

#endif
