/* Collective-order mismatches between ranks (run by deadlock.sh under scripts/simrun): the run
 * must end with a report naming each rank's sequence and operation, never hang.
 *   kind  - rank 0 all-reduces while the others all-gather (same count)
 *   count - all ranks all-reduce, rank 0 with a different count
 *   hang  - rank 0 all-reduces while rank 1 sends to it: nobody can match; found by timeout
 *   order - both ranks all-reduce twice on two communicators, in opposite orders
 * Each rank first completes one matching all-reduce (sequence 1), so the mismatch is at seq 2.
 * Exit status: 1 when the failure was reported to the program (the expected outcome), 0 if the
 * mismatched work completed (a test failure), or whatever the watchdog uses. */
#include <string.h>

#include <mpi.h>
#include <nccl.h>

#include "simtest.h"

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int r, n;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    const char *mode = argc > 1 ? argv[1] : "kind";
    st_rank = r;
    st_cuda_init(0);
    CUstream s;
    ST_CU(cuStreamCreate(&s, CU_STREAM_DEFAULT));
    ncclUniqueId id[2];
    if (r == 0) {
        ncclGetUniqueId(&id[0]);
        ncclGetUniqueId(&id[1]);
    }
    MPI_Bcast(id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
    ncclComm_t c[2];
    if (ncclCommInitRank(&c[0], n, id[0], r) != ncclSuccess ||
        ncclCommInitRank(&c[1], n, id[1], r) != ncclSuccess) {
        fprintf(stderr, "rank %d: init failed\n", r);
        return 2;
    }
    CUdeviceptr d;
    ST_CU(cuMemAlloc(&d, (size_t)n * 8192 * 4));
    void *p = (void *)(uintptr_t)d;
    ncclResult_t st = ncclAllReduce(p, p, 1024, ncclFloat32, ncclSum, c[0], (cudaStream_t)s);
    CUresult cr = cuStreamSynchronize(s);
    if (st != ncclSuccess || cr != CUDA_SUCCESS) {
        fprintf(stderr, "rank %d: the matching first all-reduce failed\n", r);
        return 2;
    }
    if (strcmp(mode, "kind") == 0) {
        if (r == 0)
            st = ncclAllReduce(p, p, 1024, ncclFloat32, ncclSum, c[0], (cudaStream_t)s);
        else
            st = ncclAllGather(p, p, 1024, ncclFloat32, c[0], (cudaStream_t)s);
    } else if (strcmp(mode, "count") == 0) {
        st = ncclAllReduce(p, p, r == 0 ? 2048 : 1024, ncclFloat32, ncclSum, c[0], (cudaStream_t)s);
    } else if (strcmp(mode, "hang") == 0) {
        if (r == 0)
            st = ncclAllReduce(p, p, 1024, ncclFloat32, ncclSum, c[0], (cudaStream_t)s);
        else if (r == 1)
            st = ncclSend(p, 1024, ncclFloat32, 0, c[0], (cudaStream_t)s);
    } else {
        /* order: two communicators used in opposite orders by rank 0 and the others */
        int first = r == 0 ? 0 : 1;
        st = ncclAllReduce(p, p, 1024, ncclFloat32, ncclSum, c[first], (cudaStream_t)s);
        if (st == ncclSuccess)
            st = ncclAllReduce(p, p, 1024, ncclFloat32, ncclSum, c[1 - first], (cudaStream_t)s);
    }
    cr = cuStreamSynchronize(s);
    if (st != ncclSuccess || cr != CUDA_SUCCESS) {
        const char *name = NULL;
        cuGetErrorName(cr, &name);
        fprintf(stderr, "rank %d: mismatched work failed as expected (nccl %d, cuda %s)\n", r, (int)st,
                name ? name : "?");
        fflush(stderr);
        return 1; /* without MPI_Finalize: the peers may be stuck; mpirun ends them */
    }
    printf("rank %d: mismatched work completed\n", r);
    MPI_Finalize();
    return 0;
}
