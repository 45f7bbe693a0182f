/* Small helpers for the tests of the simulated libraries: plain C programs (some run as MPI ranks)
 * that count checks and end with "N passed, N failed"; exit status 0 only if none failed. */
#ifndef SIMTEST_H
#define SIMTEST_H

#include <stdio.h>
#include <stdlib.h>

#include <cuda.h>

static int st_pass, st_fail, st_rank = -1;

#define ST_CHECK(cond, ...)                                                                     \
    do {                                                                                        \
        if (cond) {                                                                             \
            st_pass++;                                                                          \
        } else {                                                                                \
            st_fail++;                                                                          \
            if (st_rank >= 0)                                                                   \
                fprintf(stderr, "[rank %d] ", st_rank);                                         \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                \
            fprintf(stderr, __VA_ARGS__);                                                       \
            fputc('\n', stderr);                                                                \
        }                                                                                       \
    } while (0)

/* A CUDA call that must succeed for the test to go on. */
#define ST_CU(call)                                                                             \
    do {                                                                                        \
        CUresult st_r_ = (call);                                                                \
        if (st_r_ != CUDA_SUCCESS) {                                                            \
            const char *st_s_ = NULL;                                                           \
            cuGetErrorName(st_r_, &st_s_);                                                      \
            fprintf(stderr, "FATAL %s:%d: %s -> %s\n", __FILE__, __LINE__, #call,               \
                    st_s_ ? st_s_ : "?");                                                       \
            exit(1);                                                                            \
        }                                                                                       \
    } while (0)

static inline int st_summary(void)
{
    if (st_rank >= 0)
        printf("[rank %d] ", st_rank);
    printf("%d passed, %d failed\n", st_pass, st_fail);
    fflush(stdout);
    return st_fail ? 1 : 0;
}

static inline CUcontext st_cuda_init(int device)
{
    CUdevice dev;
    CUcontext ctx;
    ST_CU(cuInit(0));
    ST_CU(cuDeviceGet(&dev, device));
    ST_CU(cuDevicePrimaryCtxRetain(&ctx, dev));
    ST_CU(cuCtxSetCurrent(ctx));
    return ctx;
}

#endif
