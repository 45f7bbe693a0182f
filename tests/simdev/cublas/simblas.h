/* Internals of the replacement libcublasLt.so.13 / libcublas.so.13 (tests/simdev/cublas).
 *
 * Every GEMM entry point of both libraries fills one simblas_gemm_t and calls
 * simblas_gemm_launch(), exported by libcublasLt (libcublas links it, as the real cuBLAS does).
 * The descriptor is the kernel's single parameter, by value, so a captured GEMM node carries
 * everything it needs and graph clone / exec update copy it like any kernel parameter.
 *
 * Semantics are cuBLAS's, column-major:
 *   D[b] = epilogue(alpha * op(A[b]) * op(B[b]) + beta * C[b] (+ bias[b]))    b < batch
 * with op(A) m x k, op(B) k x n, C and D m x n, leading dimensions and element strides as given.
 * For cuBLAS (not Lt) C and D are the same matrix. */
#ifndef SIMBLAS_H
#define SIMBLAS_H

#include <stdint.h>

#define SIMBLAS_MAGIC 0x534d4c4253494d53ull /* "SMISBLMS" */

enum { SIMBLAS_EPI_NONE = 0, SIMBLAS_EPI_RELU = 1, SIMBLAS_EPI_BIAS = 2, SIMBLAS_EPI_GELU = 4 };

typedef struct {
    uint64_t magic;
    int64_t m, n, k;
    int32_t transa, transb;       /* cublasOperation_t: 0 N, 1 T, 2 C (= T for real types) */
    int32_t atype, btype, ctype, dtype; /* cudaDataType */
    int32_t compute;              /* cublasComputeType_t */
    int32_t scale_type;           /* cudaDataType of alpha / beta */
    int32_t tf32;                 /* tensor cores for f32 (compute type or math mode) */
    int32_t epilogue;             /* SIMBLAS_EPI_* bits */
    int32_t bias_type;
    int32_t batch;
    int32_t alpha_on_device;      /* pointer mode device: alpha / beta read when the kernel runs */
    int32_t pad;
    int64_t lda, ldb, ldc, ldd;
    int64_t stride_a, stride_b, stride_c, stride_d, stride_bias; /* elements */
    uint64_t a, b, c, d, bias;    /* device addresses */
    uint64_t alpha_ptr, beta_ptr; /* device pointer mode */
    double alpha, beta;           /* host pointer mode: values read at the call */
} simblas_gemm_t;

/* Validates g, picks the kernel and launches it on stream (a CUstream). Returns a
 * cublasStatus_t. Exported by libcublasLt.so.13 for libcublas.so.13. */
int simblas_gemm_launch(const simblas_gemm_t *g, void *stream) __attribute__((visibility("default")));

/* Read a scalar of cudaDataType type at p as a double. */
double simblas_scalar(const void *p, int type) __attribute__((visibility("default")));

#endif
