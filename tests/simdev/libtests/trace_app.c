/* A small workload whose trace trace.sh checks: per rank a host-to-device copy, three GEMMs,
 * an all-reduce, a graph with one GEMM launched once, a device-to-host copy. */
#include <mpi.h>
#include <nccl.h>
#include <cublas_v2.h>

#include "simtest.h"

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int r, n;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    st_rank = r;
    st_cuda_init(0);
    CUstream s;
    ST_CU(cuStreamCreate(&s, CU_STREAM_DEFAULT));
    ncclUniqueId id;
    if (r == 0)
        ncclGetUniqueId(&id);
    MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
    ncclComm_t comm;
    if (ncclCommInitRank(&comm, n, id, r) != ncclSuccess)
        return 2;
    cublasHandle_t h;
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS)
        return 2;
    cublasSetStream(h, s);
    int m = 64;
    size_t bytes = (size_t)m * m * 4;
    static float host[64 * 64];
    for (int i = 0; i < m * m; i++)
        host[i] = 0.001f * (float)(i % 17);
    CUdeviceptr a, b, c;
    ST_CU(cuMemAlloc(&a, bytes));
    ST_CU(cuMemAlloc(&b, bytes));
    ST_CU(cuMemAlloc(&c, bytes));
    ST_CU(cuMemcpyHtoDAsync(a, host, bytes, s));
    ST_CU(cuMemcpyHtoDAsync(b, host, bytes, s));
    float one = 1, zero = 0;
    float *pa = (float *)(uintptr_t)a, *pb = (float *)(uintptr_t)b, *pc = (float *)(uintptr_t)c;
    for (int i = 0; i < 3; i++)
        cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, m, m, m, &one, pa, m, pb, m, &zero, pc, m);
    ncclAllReduce(pc, pc, (size_t)m * m, ncclFloat32, ncclSum, comm, (cudaStream_t)s);
    CUgraph g;
    CUgraphExec ge;
    ST_CU(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
    cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, m, m, m, &one, pc, m, pb, m, &zero, pa, m);
    ST_CU(cuStreamEndCapture(s, &g));
    ST_CU(cuGraphInstantiate(&ge, g, 0));
    ST_CU(cuGraphLaunch(ge, s));
    ST_CU(cuMemcpyDtoHAsync(host, a, bytes, s));
    ST_CU(cuStreamSynchronize(s));
    cuGraphExecDestroy(ge);
    cuGraphDestroy(g);
    cublasDestroy(h);
    ncclCommDestroy(comm);
    MPI_Finalize();
    return 0;
}
