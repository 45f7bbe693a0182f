/* Step-graph generator for the Lancet paper's GPT-2 MoE models.
 *
 * lct_gen_graph() writes the step graph one rank of a data + expert parallel GPT-2 MoE trainer
 * would capture for one training step: the forward pass, the backward pass with separate dX and
 * dW GEMMs, DDP-style bucketed gradient all-reduces and an SGD-with-momentum optimizer, on a
 * compute stream (0) and an NCCL stream (1), in launch order, with the original stream and event
 * edges, exact footprints from a deterministic buffer layout, library call records and modelled
 * costs (device profile for compute, fabric collective curves for communication).
 * docs/lancet-gen.md describes the modelled step in full. */
#ifndef LCT_GEN_H
#define LCT_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "core/lct_status.h"
#include "ir/lct_ir.h"

/* Communicator ids of the generated graph (same on every rank). */
#define LCT_GEN_COMM_EP 1 /* expert-parallel group (all ranks): MoE all-to-alls */
#define LCT_GEN_COMM_DP 2 /* data-parallel group (all ranks): gradient all-reduces */

/* Streams of the generated graph. */
#define LCT_GEN_STREAM_COMPUTE 0
#define LCT_GEN_STREAM_NCCL 1

/* First device address of the buffer layout and its alignment. */
#define LCT_GEN_ADDR_BASE 0x7f0000000000ull
#define LCT_GEN_ALIGN 256u

/* Learned position embedding rows (GPT-2's n_positions); larger when sl is larger. */
#define LCT_GEN_POSITIONS 1024

typedef struct {
    /* Model. */
    int nl;                 /* transformer layers, 1..1024 */
    int m;                  /* hidden size, 1..65536, a multiple of nh */
    int nh;                 /* attention heads, 1..m */
    int sl;                 /* sequence length (tokens per sample), 1..65536 */
    int b;                  /* samples per GPU per step (the paper's batch per device) */
    int vocab;              /* vocabulary size, 2..4194304; GPT-2: 50257 */
    int moe_every;          /* layer l is an MoE layer iff moe_every > 0 and l % moe_every == 0;
                             * the paper: 2; 0 gives a dense model */
    int experts_per_gpu;    /* local experts per rank, 1..64 (the paper: 2); E = this * world */
    double capacity_factor; /* expert capacity = ceil(cf * b * sl / E) tokens per (rank, expert)
                             * pair, (0, 64]; the paper: 1.0 */
    char gate[16];          /* gate kind: only "switch" (top-1) is modelled */
    lct_dtype_t dtype;      /* parameter / activation type: only LCT_DTYPE_F32 */
    /* Parallelism. */
    int world_size;         /* ranks (GPUs), 1..65536; data and expert parallel over all */
    int gpus_per_node;      /* 1..the fabric's GPUs per node; world_size is at most this, or a
                             * multiple of it */
    int rank;               /* the rank whose step is generated, 0..world_size-1 (all ranks
                             * have the same graph; the rank is recorded in the metadata) */
    uint64_t bucket_bytes;  /* DDP gradient bucket cap in bytes, >= 1 (default 25 MiB) */
    /* Cost model. */
    char device[16];        /* device profile name: v100, a100, h100 (lct_device_profile_find) */
    char fabric[16];        /* fabric profile name: p3dn, p4de, dgx-h100 (lct_fabric_profile_find) */
} lct_gen_cfg_t;

/* Fill cfg_p with a paper configuration: model "gpt2-s" (nl 12, m 768, nh 16) or "gpt2-l" (nl 24,
 * m 1024, nh 16), sl 512, vocab 50257, every second layer MoE, 2 experts per GPU, capacity factor
 * 1.0, switch gate, f32, 25 MiB buckets, on device "v100", "a100" or "h100" with the paper's batch
 * per device (V100: S 16, L 8; A100 and H100: S 48, L 24), the device's cluster fabric (v100 ->
 * p3dn, a100 -> p4de, h100 -> dgx-h100) and its GPUs per node, world size 8, rank 0. Names are
 * case-insensitive. LCT_ERR_INVALID (logged, naming the accepted values) for an unknown name;
 * *cfg_p is written only on success. */
lct_status_t lct_gen_cfg_preset(const char *model, const char *device, lct_gen_cfg_t *cfg_p);

/* Check every field. LCT_OK, or LCT_ERR_INVALID with one line in err (n bytes, may be 0) naming
 * the field, its value and what is accepted. Does not log (callers decide how to report). */
lct_status_t lct_gen_cfg_validate(const lct_gen_cfg_t *cfg, char *err, size_t n);

/* Short name of the configuration, e.g. "gpt2-s-w16-p4de-a100" ("gpt2-nl2-m64-nh2-w4-..." when
 * nl, m, nh are not a preset's). Writes at most n bytes, always NUL-terminated. */
void lct_gen_cfg_name(const lct_gen_cfg_t *cfg, char *buf, size_t n);

/* Derived sizes of a configuration (all from the fields above). */
typedef struct {
    int64_t tokens;         /* T = b * sl */
    int64_t experts;        /* E = experts_per_gpu * world_size */
    int64_t capacity;       /* C: token slots per (source rank, expert) pair */
    int64_t expert_tokens;  /* N = world_size * C: tokens each local expert processes */
    uint64_t a2a_bytes;     /* bytes one rank sends in each all-to-all: E * C * m * 4 */
    int nmoe;               /* MoE layers */
} lct_gen_dims_t;

/* Requires a valid cfg. */
lct_gen_dims_t lct_gen_dims(const lct_gen_cfg_t *cfg);

/* Build the step graph of cfg (validated first; an invalid cfg is logged and gives
 * LCT_ERR_INVALID). The caller owns *g_p (lct_graph_destroy). Deterministic: the same cfg gives
 * the same graph. Adjacency is filled. */
lct_status_t lct_gen_graph(const lct_gen_cfg_t *cfg, lct_graph_t **g_p);

/* The footprint a cuBLAS GEMM call touches, one range per operand (A read, B read, C written, or
 * read-written when beta != 0), each the span from the operand's first to its last element over
 * all batches, marked exact when the operand's elements fill that span (the generator's
 * interleaved expert layouts included). Writes up to 3 ranges to out and returns how many. */
uint32_t lct_gen_gemm_ranges(const lct_gemm_call_t *c, lct_range_t out[3]);

#endif
