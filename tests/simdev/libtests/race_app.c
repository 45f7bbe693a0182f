/* Footprints of the library kernels, seen through the race checker (race.sh runs this with
 * SIMDEV_RACE=warn and counts "RACE" reports). Two streams with no ordering between them:
 *   gemm-disjoint   GEMM X = A B on s1, GEMM Y = A B on s2 (shared reads only)   -> no race
 *   gemm-ww         both GEMMs write C (beta 0: C not read)                      -> race
 *   gemm-rw         s2's GEMM writes A, which s1's GEMM reads                    -> race
 *   gemm-beta0      s1's GEMM has beta 0 and C = Y; s2 reads Y as its B           -> race
 *   gemm-tail       s1 writes C (m x n, ldc = m); s2 writes the bytes right after -> no race
 *   nccl-disjoint   all-reduce on X (s1) while a GEMM reads A, writes Y (s2)     -> no race
 *   nccl-rw         all-reduce on X (s1) while a GEMM reads X (s2)               -> race
 *   lt-bias         cuBLASLt bias epilogue reads the bias vector; s2 writes it   -> race
 * Runs as one rank. */
#include <string.h>

#include <cublasLt.h>
#include <cublas_v2.h>
#include <mpi.h>
#include <nccl.h>

#include "simtest.h"

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    const char *mode = argc > 1 ? argv[1] : "gemm-disjoint";
    st_cuda_init(0);
    CUstream s1, s2;
    ST_CU(cuStreamCreate(&s1, CU_STREAM_NON_BLOCKING));
    ST_CU(cuStreamCreate(&s2, CU_STREAM_NON_BLOCKING));
    cublasHandle_t h1, h2;
    cublasCreate(&h1);
    cublasCreate(&h2);
    cublasSetStream(h1, s1);
    cublasSetStream(h2, s2);
    int n = 32;
    size_t bytes = (size_t)n * n * 4;
    CUdeviceptr A, B, X, Y, bias;
    ST_CU(cuMemAlloc(&A, bytes));
    ST_CU(cuMemAlloc(&B, bytes));
    ST_CU(cuMemAlloc(&X, 2 * bytes));
    ST_CU(cuMemAlloc(&Y, bytes));
    ST_CU(cuMemAlloc(&bias, (size_t)n * 4));
    ST_CU(cuMemsetD32(A, 0, (size_t)n * n));
    ST_CU(cuMemsetD32(B, 0, (size_t)n * n));
    ST_CU(cuMemsetD32(X, 0, 2 * (size_t)n * n));
    ST_CU(cuMemsetD32(Y, 0, (size_t)n * n));
    ST_CU(cuMemsetD32(bias, 0, (size_t)n));
    ST_CU(cuCtxSynchronize());
    float one = 1, zero = 0;
#define F(p) ((float *)(uintptr_t)(p))
    if (strcmp(mode, "gemm-disjoint") == 0) {
        cublasSgemm(h1, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, F(A), n, F(B), n, &zero, F(X), n);
        cublasSgemm(h2, CUBLAS_OP_N, CUBLAS_OP_T, n, n, n, &one, F(A), n, F(B), n, &zero, F(Y), n);
    } else if (strcmp(mode, "gemm-ww") == 0) {
        cublasSgemm(h1, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, F(A), n, F(B), n, &zero, F(X), n);
        cublasSgemm(h2, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, F(A), n, F(B), n, &zero, F(X), n);
    } else if (strcmp(mode, "gemm-rw") == 0) {
        cublasSgemm(h1, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, F(A), n, F(B), n, &zero, F(X), n);
        cublasSgemm(h2, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, F(Y), n, F(B), n, &zero, F(A), n);
    } else if (strcmp(mode, "gemm-beta0") == 0) {
        cublasSgemm(h1, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, F(A), n, F(B), n, &zero, F(Y), n);
        cublasSgemm(h2, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, F(A), n, F(Y), n, &zero, F(X), n);
    } else if (strcmp(mode, "gemm-tail") == 0) {
        /* X holds two n x n matrices back to back: the GEMMs write one each */
        cublasSgemm(h1, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, F(A), n, F(B), n, &zero, F(X), n);
        cublasSgemm(h2, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, F(A), n, F(B), n, &zero,
                    F(X + bytes), n);
    } else if (strncmp(mode, "nccl-", 5) == 0) {
        ncclComm_t c;
        int dev = 0;
        ncclCommInitAll(&c, 1, &dev);
        ncclAllReduce(F(X), F(X), (size_t)n * n, ncclFloat32, ncclSum, c, (cudaStream_t)s1);
        if (strcmp(mode, "nccl-rw") == 0)
            cublasSgemm(h2, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, F(X), n, F(B), n, &zero, F(Y), n);
        else
            cublasSgemm(h2, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, F(A), n, F(B), n, &zero, F(Y), n);
        ST_CU(cuCtxSynchronize());
        ncclCommDestroy(c);
    } else if (strcmp(mode, "lt-bias") == 0) {
        cublasLtHandle_t lt;
        cublasLtCreate(&lt);
        cublasLtMatmulDesc_t d;
        cublasLtMatrixLayout_t l;
        cublasLtMatmulDescCreate(&d, CUBLAS_COMPUTE_32F, CUDA_R_32F);
        uint32_t epi = CUBLASLT_EPILOGUE_BIAS;
        void *bp = F(bias);
        cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi);
        cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bp, sizeof bp);
        cublasLtMatrixLayoutCreate(&l, CUDA_R_32F, (uint64_t)n, (uint64_t)n, n);
        cublasLtMatmul(lt, d, &one, F(A), l, F(B), l, &zero, F(X), l, F(X), l, NULL, NULL, 0, s1);
        ST_CU(cuMemsetD32Async(bias, 0, (size_t)n, s2));
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    ST_CU(cuCtxSynchronize());
    printf("race_app %s: done\n", mode);
    MPI_Finalize();
    return 0;
}
