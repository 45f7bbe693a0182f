/* moe-train: host-side process group, MPI or single process. Sums are computed from gathered
 * values in rank order so that every rank gets bitwise the same result. */
#include "dist.h"

#include <stdlib.h>
#include <string.h>

#ifndef MOE_NO_MPI
#include <mpi.h>

static int g_world = 1;

void moe_dist_init(int *argc, char ***argv, int *rank, int *world, int *local_rank)
{
    MPI_Comm local;
    MPI_Init(argc, argv);
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, world);
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, *rank, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, local_rank);
    MPI_Comm_free(&local);
    g_world = *world;
}

void moe_dist_finalize(void) { MPI_Finalize(); }

void moe_dist_bcast(void *buf, size_t bytes, int root)
{
    MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD);
}

void moe_dist_sum_f64(double *v, int n)
{
    double *all = malloc((size_t)n * g_world * sizeof *all);
    if (!all)
        abort();
    MPI_Allgather(v, n, MPI_DOUBLE, all, n, MPI_DOUBLE, MPI_COMM_WORLD);
    for (int i = 0; i < n; i++) {
        double s = 0.0;
        for (int r = 0; r < g_world; r++)
            s += all[(size_t)r * n + i];
        v[i] = s;
    }
    free(all);
}

void moe_dist_allgather_f32(float v, float *out)
{
    MPI_Allgather(&v, 1, MPI_FLOAT, out, 1, MPI_FLOAT, MPI_COMM_WORLD);
}

void moe_dist_allgather_f64(double v, double *out)
{
    MPI_Allgather(&v, 1, MPI_DOUBLE, out, 1, MPI_DOUBLE, MPI_COMM_WORLD);
}

void moe_dist_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

#else

void moe_dist_init(int *argc, char ***argv, int *rank, int *world, int *local_rank)
{
    (void)argc;
    (void)argv;
    *rank = 0;
    *world = 1;
    *local_rank = 0;
}

void moe_dist_finalize(void) {}

void moe_dist_bcast(void *buf, size_t bytes, int root)
{
    (void)buf;
    (void)bytes;
    (void)root;
}

void moe_dist_sum_f64(double *v, int n)
{
    (void)v;
    (void)n;
}

void moe_dist_allgather_f32(float v, float *out) { out[0] = v; }

void moe_dist_allgather_f64(double v, double *out) { out[0] = v; }

void moe_dist_abort(int code) { exit(code); }

#endif
