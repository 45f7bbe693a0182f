/* Kernel handles of a replacement library, per CUDA context: the library loads its (dummy)
 * module image through the simulated driver and looks its kernels up by name, as a real library
 * does with its own cubins; handles are cached. Compiled into each library that needs it. */
#ifndef SIMDEV_KCACHE_H
#define SIMDEV_KCACHE_H

#include <cuda.h>
#include <pthread.h>
#include <stddef.h>

typedef struct simdev_kcache_entry simdev_kcache_entry_t;

typedef struct {
    pthread_mutex_t lock;
    simdev_kcache_entry_t *e;
    size_t n, cap;
    const char *image; /* module image handed to cuModuleLoadData (not interpreted) */
} simdev_kcache_t;

#define SIMDEV_KCACHE_INIT(image) {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, (image)}

/* The function named name in ctx's module, loading the module on first use. Returns the
 * driver's error when loading or lookup fails; *fn_p is written only on success. Thread-safe. */
__attribute__((visibility("hidden"))) CUresult simdev_kcache_get(simdev_kcache_t *c, CUcontext ctx,
                                                              const char *name, CUfunction *fn_p);

#endif
