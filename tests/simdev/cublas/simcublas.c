/* Replacement libcublas.so.13: handle state and the GEMM entry points on the simulated device.
 *
 * Each GEMM call becomes one simblas_gemm_t launched through libcublasLt (simblas_gemm_launch),
 * on the handle's stream, so it is a kernel node when that stream is being captured. Scalars in
 * host pointer mode are read at the call (as cuBLAS does); in device pointer mode the kernel reads
 * them when it runs. The workspace set with cublasSetWorkspace is accepted and not used: these
 * kernels need none, so it is not part of their footprint. Supported types: f32, f64, f16 and
 * bf16 operands with f32 accumulation (f64 with f64); math mode TF32 marks f32 GEMMs as tensor-core
 * work for the cost model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cublas_v2.h>
#include <cublasLt.h>
#include <cuda.h>

#include "simblas.h"

#define API __attribute__((visibility("default")))
#define HANDLE_MAGIC 0x43424c48u

struct cublasContext {
    uint32_t magic;
    CUstream stream;
    void *workspace;
    size_t workspace_size;
    cublasMath_t math;
    cublasPointerMode_t pointer_mode;
    cublasAtomicsMode_t atomics;
    int sm_target;
    cublasEmulationStrategy_t emulation;
};

static int valid(cublasHandle_t h)
{
    return h && h->magic == HANDLE_MAGIC;
}

/* Like the CUDA runtime real cuBLAS sits on: without a current context, use device 0's primary. */
static cublasStatus_t ensure_context(void)
{
    CUcontext ctx = NULL;
    if (cuCtxGetCurrent(&ctx) == CUDA_SUCCESS && ctx)
        return CUBLAS_STATUS_SUCCESS;
    CUdevice d = 0;
    CUresult r = cuInit(0);
    if (r == CUDA_SUCCESS)
        r = cuDeviceGet(&d, 0);
    if (r == CUDA_SUCCESS)
        r = cuDevicePrimaryCtxRetain(&ctx, d);
    if (r == CUDA_SUCCESS)
        r = cuCtxSetCurrent(ctx);
    if (r != CUDA_SUCCESS) {
        fprintf(stderr, "simblas: cublasCreate: no CUDA context and device 0's primary context "
                "failed (%d)\n", (int)r);
        return CUBLAS_STATUS_NOT_INITIALIZED;
    }
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasCreate_v2(cublasHandle_t *handle)
{
    if (!handle)
        return CUBLAS_STATUS_INVALID_VALUE;
    cublasStatus_t st = ensure_context();
    if (st != CUBLAS_STATUS_SUCCESS)
        return st;
    cublasHandle_t h = calloc(1, sizeof *h);
    if (!h)
        return CUBLAS_STATUS_ALLOC_FAILED;
    h->magic = HANDLE_MAGIC;
    h->math = CUBLAS_DEFAULT_MATH;
    h->pointer_mode = CUBLAS_POINTER_MODE_HOST;
    h->atomics = CUBLAS_ATOMICS_NOT_ALLOWED;
    *handle = h;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasDestroy_v2(cublasHandle_t handle)
{
    if (!valid(handle))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->magic = 0;
    free(handle);
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasGetVersion_v2(cublasHandle_t handle, int *version)
{
    (void)handle;
    if (!version)
        return CUBLAS_STATUS_INVALID_VALUE;
    *version = CUBLAS_VERSION;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasGetProperty(libraryPropertyType type, int *value)
{
    return cublasLtGetProperty(type, value);
}

API size_t cublasGetCudartVersion(void)
{
    return cublasLtGetCudartVersion();
}

API const char *cublasGetStatusName(cublasStatus_t status)
{
    return cublasLtGetStatusName(status);
}

API const char *cublasGetStatusString(cublasStatus_t status)
{
    return cublasLtGetStatusString(status);
}

API cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t handle, void *workspace, size_t workspaceSizeInBytes)
{
    if (!valid(handle))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (workspaceSizeInBytes && !workspace)
        return CUBLAS_STATUS_INVALID_VALUE;
    handle->workspace = workspace;
    handle->workspace_size = workspaceSizeInBytes;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t streamId)
{
    if (!valid(handle))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->stream = (CUstream)streamId;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasGetStream_v2(cublasHandle_t handle, cudaStream_t *streamId)
{
    if (!valid(handle))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!streamId)
        return CUBLAS_STATUS_INVALID_VALUE;
    *streamId = (cudaStream_t)handle->stream;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasGetPointerMode_v2(cublasHandle_t handle, cublasPointerMode_t *mode)
{
    if (!valid(handle))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!mode)
        return CUBLAS_STATUS_INVALID_VALUE;
    *mode = handle->pointer_mode;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasSetPointerMode_v2(cublasHandle_t handle, cublasPointerMode_t mode)
{
    if (!valid(handle))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (mode != CUBLAS_POINTER_MODE_HOST && mode != CUBLAS_POINTER_MODE_DEVICE)
        return CUBLAS_STATUS_INVALID_VALUE;
    handle->pointer_mode = mode;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasGetAtomicsMode(cublasHandle_t handle, cublasAtomicsMode_t *mode)
{
    if (!valid(handle))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!mode)
        return CUBLAS_STATUS_INVALID_VALUE;
    *mode = handle->atomics;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasSetAtomicsMode(cublasHandle_t handle, cublasAtomicsMode_t mode)
{
    if (!valid(handle))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->atomics = mode;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasGetMathMode(cublasHandle_t handle, cublasMath_t *mode)
{
    if (!valid(handle))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!mode)
        return CUBLAS_STATUS_INVALID_VALUE;
    *mode = handle->math;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode)
{
    if (!valid(handle))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    int base = (int)mode & 0xf;
    if (base != CUBLAS_DEFAULT_MATH && base != CUBLAS_TENSOR_OP_MATH && base != CUBLAS_PEDANTIC_MATH &&
        base != CUBLAS_TF32_TENSOR_OP_MATH)
        return CUBLAS_STATUS_INVALID_VALUE;
    handle->math = mode;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasGetSmCountTarget(cublasHandle_t handle, int *smCountTarget)
{
    if (!valid(handle))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!smCountTarget)
        return CUBLAS_STATUS_INVALID_VALUE;
    *smCountTarget = handle->sm_target;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasSetSmCountTarget(cublasHandle_t handle, int smCountTarget)
{
    if (!valid(handle))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (smCountTarget < 0)
        return CUBLAS_STATUS_INVALID_VALUE;
    handle->sm_target = smCountTarget;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasGetEmulationStrategy(cublasHandle_t handle,
                                              cublasEmulationStrategy_t *emulationStrategy)
{
    if (!valid(handle))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!emulationStrategy)
        return CUBLAS_STATUS_INVALID_VALUE;
    *emulationStrategy = handle->emulation;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasSetEmulationStrategy(cublasHandle_t handle,
                                              cublasEmulationStrategy_t emulationStrategy)
{
    if (!valid(handle))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->emulation = emulationStrategy;
    return CUBLAS_STATUS_SUCCESS;
}

/* ------------------------------------------------------------------------------------------ */
/* GEMM */

static int scale_type_of(cublasComputeType_t c)
{
    switch (c) {
    case CUBLAS_COMPUTE_16F:
    case CUBLAS_COMPUTE_16F_PEDANTIC: return CUDA_R_16F;
    case CUBLAS_COMPUTE_64F:
    case CUBLAS_COMPUTE_64F_PEDANTIC: return CUDA_R_64F;
    default: return CUDA_R_32F;
    }
}

static cublasStatus_t gemm(cublasHandle_t h, cublasOperation_t transa, cublasOperation_t transb,
                           int64_t m, int64_t n, int64_t k, const void *alpha, const void *A,
                           int atype, int64_t lda, long long strideA, const void *B, int btype,
                           int64_t ldb, long long strideB, const void *beta, void *C, int ctype,
                           int64_t ldc, long long strideC, int64_t batch, cublasComputeType_t compute)
{
    if (!valid(h))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!alpha || !beta || batch > 0x7fffffff)
        return CUBLAS_STATUS_INVALID_VALUE;
    if (compute == CUBLAS_COMPUTE_32I || compute == CUBLAS_COMPUTE_32I_PEDANTIC) {
        fprintf(stderr, "simblas: integer GEMMs are not supported by the simulated cuBLAS\n");
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    simblas_gemm_t g;
    memset(&g, 0, sizeof g);
    g.magic = SIMBLAS_MAGIC;
    g.m = m;
    g.n = n;
    g.k = k;
    g.transa = transa;
    g.transb = transb;
    g.atype = atype;
    g.btype = btype;
    g.ctype = g.dtype = ctype;
    g.compute = compute;
    g.scale_type = scale_type_of(compute);
    int mathbase = (int)h->math & 0xf;
    g.tf32 = compute == CUBLAS_COMPUTE_32F_FAST_TF32 || compute == CUBLAS_COMPUTE_32F_FAST_16F ||
             compute == CUBLAS_COMPUTE_32F_FAST_16BF ||
             (compute == CUBLAS_COMPUTE_32F && mathbase == CUBLAS_TF32_TENSOR_OP_MATH);
    g.batch = (int32_t)batch;
    g.lda = lda;
    g.ldb = ldb;
    g.ldc = g.ldd = ldc;
    g.stride_a = strideA;
    g.stride_b = strideB;
    g.stride_c = g.stride_d = strideC;
    g.a = (uint64_t)(uintptr_t)A;
    g.b = (uint64_t)(uintptr_t)B;
    g.c = g.d = (uint64_t)(uintptr_t)C;
    g.bias_type = ctype;
    if (h->pointer_mode == CUBLAS_POINTER_MODE_DEVICE) {
        g.alpha_on_device = 1;
        g.alpha_ptr = (uint64_t)(uintptr_t)alpha;
        g.beta_ptr = (uint64_t)(uintptr_t)beta;
    } else {
        g.alpha = simblas_scalar(alpha, g.scale_type);
        g.beta = simblas_scalar(beta, g.scale_type);
    }
    return (cublasStatus_t)simblas_gemm_launch(&g, h->stream);
}

API cublasStatus_t cublasSgemm_v2(cublasHandle_t handle, cublasOperation_t transa,
                                  cublasOperation_t transb, int m, int n, int k, const float *alpha,
                                  const float *A, int lda, const float *B, int ldb, const float *beta,
                                  float *C, int ldc)
{
    return gemm(handle, transa, transb, m, n, k, alpha, A, CUDA_R_32F, lda, 0, B, CUDA_R_32F, ldb, 0,
                beta, C, CUDA_R_32F, ldc, 0, 1, CUBLAS_COMPUTE_32F);
}

API cublasStatus_t cublasSgemm_v2_64(cublasHandle_t handle, cublasOperation_t transa,
                                     cublasOperation_t transb, int64_t m, int64_t n, int64_t k,
                                     const float *alpha, const float *A, int64_t lda, const float *B,
                                     int64_t ldb, const float *beta, float *C, int64_t ldc)
{
    return gemm(handle, transa, transb, m, n, k, alpha, A, CUDA_R_32F, lda, 0, B, CUDA_R_32F, ldb, 0,
                beta, C, CUDA_R_32F, ldc, 0, 1, CUBLAS_COMPUTE_32F);
}

API cublasStatus_t cublasDgemm_v2(cublasHandle_t handle, cublasOperation_t transa,
                                  cublasOperation_t transb, int m, int n, int k, const double *alpha,
                                  const double *A, int lda, const double *B, int ldb,
                                  const double *beta, double *C, int ldc)
{
    return gemm(handle, transa, transb, m, n, k, alpha, A, CUDA_R_64F, lda, 0, B, CUDA_R_64F, ldb, 0,
                beta, C, CUDA_R_64F, ldc, 0, 1, CUBLAS_COMPUTE_64F);
}

API cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa,
                                             cublasOperation_t transb, int m, int n, int k,
                                             const float *alpha, const float *A, int lda,
                                             long long int strideA, const float *B, int ldb,
                                             long long int strideB, const float *beta, float *C,
                                             int ldc, long long int strideC, int batchCount)
{
    return gemm(handle, transa, transb, m, n, k, alpha, A, CUDA_R_32F, lda, strideA, B, CUDA_R_32F,
                ldb, strideB, beta, C, CUDA_R_32F, ldc, strideC, batchCount, CUBLAS_COMPUTE_32F);
}

API cublasStatus_t cublasSgemmStridedBatched_64(cublasHandle_t handle, cublasOperation_t transa,
                                                cublasOperation_t transb, int64_t m, int64_t n,
                                                int64_t k, const float *alpha, const float *A,
                                                int64_t lda, long long int strideA, const float *B,
                                                int64_t ldb, long long int strideB, const float *beta,
                                                float *C, int64_t ldc, long long int strideC,
                                                int64_t batchCount)
{
    return gemm(handle, transa, transb, m, n, k, alpha, A, CUDA_R_32F, lda, strideA, B, CUDA_R_32F,
                ldb, strideB, beta, C, CUDA_R_32F, ldc, strideC, batchCount, CUBLAS_COMPUTE_32F);
}

API cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa,
                                cublasOperation_t transb, int m, int n, int k, const void *alpha,
                                const void *A, cudaDataType Atype, int lda, const void *B,
                                cudaDataType Btype, int ldb, const void *beta, void *C,
                                cudaDataType Ctype, int ldc, cublasComputeType_t computeType,
                                cublasGemmAlgo_t algo)
{
    (void)algo;
    return gemm(handle, transa, transb, m, n, k, alpha, A, Atype, lda, 0, B, Btype, ldb, 0, beta, C,
                Ctype, ldc, 0, 1, computeType);
}

API cublasStatus_t cublasGemmEx_64(cublasHandle_t handle, cublasOperation_t transa,
                                   cublasOperation_t transb, int64_t m, int64_t n, int64_t k,
                                   const void *alpha, const void *A, cudaDataType Atype, int64_t lda,
                                   const void *B, cudaDataType Btype, int64_t ldb, const void *beta,
                                   void *C, cudaDataType Ctype, int64_t ldc,
                                   cublasComputeType_t computeType, cublasGemmAlgo_t algo)
{
    (void)algo;
    return gemm(handle, transa, transb, m, n, k, alpha, A, Atype, lda, 0, B, Btype, ldb, 0, beta, C,
                Ctype, ldc, 0, 1, computeType);
}

API cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa,
                                              cublasOperation_t transb, int m, int n, int k,
                                              const void *alpha, const void *A, cudaDataType Atype,
                                              int lda, long long int strideA, const void *B,
                                              cudaDataType Btype, int ldb, long long int strideB,
                                              const void *beta, void *C, cudaDataType Ctype, int ldc,
                                              long long int strideC, int batchCount,
                                              cublasComputeType_t computeType, cublasGemmAlgo_t algo)
{
    (void)algo;
    return gemm(handle, transa, transb, m, n, k, alpha, A, Atype, lda, strideA, B, Btype, ldb,
                strideB, beta, C, Ctype, ldc, strideC, batchCount, computeType);
}

API cublasStatus_t cublasGemmStridedBatchedEx_64(cublasHandle_t handle, cublasOperation_t transa,
                                                 cublasOperation_t transb, int64_t m, int64_t n,
                                                 int64_t k, const void *alpha, const void *A,
                                                 cudaDataType Atype, int64_t lda,
                                                 long long int strideA, const void *B,
                                                 cudaDataType Btype, int64_t ldb,
                                                 long long int strideB, const void *beta, void *C,
                                                 cudaDataType Ctype, int64_t ldc,
                                                 long long int strideC, int64_t batchCount,
                                                 cublasComputeType_t computeType,
                                                 cublasGemmAlgo_t algo)
{
    (void)algo;
    return gemm(handle, transa, transb, m, n, k, alpha, A, Atype, lda, strideA, B, Btype, ldb,
                strideB, beta, C, Ctype, ldc, strideC, batchCount, computeType);
}
