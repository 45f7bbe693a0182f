/* moe-train: the few host-side process-group operations the trainer needs (rank, size,
 * broadcast of the NCCL id, gathering scalars for logging and checks). Built on MPI, or, with
 * MOE_NO_MPI, as a single process (one rank), for machines without MPI. */
#ifndef MOE_DIST_H
#define MOE_DIST_H

#include <stddef.h>

void moe_dist_init(int *argc, char ***argv, int *rank, int *world, int *local_rank);
void moe_dist_finalize(void);
void moe_dist_bcast(void *buf, size_t bytes, int root);
/* v[0..n) summed over ranks in rank order (bitwise the same on every rank) */
void moe_dist_sum_f64(double *v, int n);
/* out[r] = v of rank r */
void moe_dist_allgather_f32(float v, float *out);
void moe_dist_allgather_f64(double v, double *out);
void moe_dist_abort(int code);

#endif
