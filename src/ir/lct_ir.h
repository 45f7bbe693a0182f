/* The step-graph IR: one captured training step as a DAG of GPU operations.
 *
 * Nodes and edges live in growable arrays owned by the graph; refer to nodes by index (uint32_t),
 * never by pointer, because adding nodes may move the array. Strings, byte ranges, peer lists and
 * call records live in the graph's arena. Derived data (successor/predecessor lists, topological
 * order) is recomputed by lct_graph_fill_adj() after anything that adds or removes edges or nodes;
 * g->adj_valid says whether it is current.
 *
 * Determinism: nothing in the IR depends on pointer values or hash iteration order; node order is
 * the order of creation, and the topological order breaks ties by launch order, then index. */
#ifndef LCT_IR_H
#define LCT_IR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/lct_arena.h"
#include "core/lct_status.h"
#include "core/lct_vec.h"

#define LCT_IR_FORMAT_VERSION 1

typedef enum {
#define LCT_IR_NODE_KIND(id, s) LCT_NODE_##id,
#include "lct_ir.def"
#undef LCT_IR_NODE_KIND
    LCT_NODE_KIND_COUNT
} lct_node_kind_t;

typedef enum {
#define LCT_IR_COLL(id, s) LCT_COLL_##id,
#include "lct_ir.def"
#undef LCT_IR_COLL
    LCT_COLL_COUNT
} lct_coll_op_t;

typedef enum {
#define LCT_IR_EDGE_KIND(id, s) LCT_EDGE_##id,
#include "lct_ir.def"
#undef LCT_IR_EDGE_KIND
    LCT_EDGE_KIND_COUNT
} lct_edge_kind_t;

typedef enum {
#define LCT_IR_PHASE(id, s) LCT_PHASE_##id,
#include "lct_ir.def"
#undef LCT_IR_PHASE
    LCT_PHASE_COUNT
} lct_phase_t;

typedef enum {
#define LCT_IR_ROLE(id, s) LCT_ROLE_##id,
#include "lct_ir.def"
#undef LCT_IR_ROLE
    LCT_ROLE_COUNT
} lct_role_t;

typedef enum {
#define LCT_IR_COST_SRC(id, s) LCT_COST_##id,
#include "lct_ir.def"
#undef LCT_IR_COST_SRC
    LCT_COST_SRC_COUNT
} lct_cost_src_t;

typedef enum {
#define LCT_IR_DTYPE(id, s, b) LCT_DTYPE_##id,
#include "lct_ir.def"
#undef LCT_IR_DTYPE
    LCT_DTYPE_COUNT
} lct_dtype_t;

typedef enum {
#define LCT_IR_CALL(id, s) LCT_CALL_##id,
#include "lct_ir.def"
#undef LCT_IR_CALL
    LCT_CALL_COUNT
} lct_call_kind_t;

/* Spelling of each enum value in the JSON format, and the reverse (-1 when unknown). */
const char *lct_node_kind_name(lct_node_kind_t k);
const char *lct_coll_op_name(lct_coll_op_t op);
const char *lct_edge_kind_name(lct_edge_kind_t k);
const char *lct_phase_name(lct_phase_t p);
const char *lct_role_name(lct_role_t r);
const char *lct_cost_src_name(lct_cost_src_t s);
const char *lct_dtype_name(lct_dtype_t t);
const char *lct_call_kind_name(lct_call_kind_t k);
int lct_node_kind_parse(const char *s);
int lct_coll_op_parse(const char *s);
int lct_edge_kind_parse(const char *s);
int lct_phase_parse(const char *s);
int lct_role_parse(const char *s);
int lct_cost_src_parse(const char *s);
int lct_dtype_parse(const char *s);
int lct_call_kind_parse(const char *s);
size_t lct_dtype_size(lct_dtype_t t);

/* Access mode of a byte range. */
enum { LCT_ACC_READ = 1, LCT_ACC_WRITE = 2, LCT_ACC_RW = 3 };

typedef struct {
    uint64_t addr, size; /* [addr, addr + size) in the device address space; size > 0 */
    uint8_t access;      /* LCT_ACC_* */
    uint8_t exact;       /* 1: exactly these bytes; 0: conservative (e.g. whole allocation) */
} lct_range_t;

typedef struct {
    bool unknown;        /* footprint not known: the node is a barrier (DESIGN.md §4.2) */
    uint32_t nranges;
    lct_range_t *ranges; /* arena */
} lct_footprint_t;

typedef struct {
    int32_t peer;
    uint64_t send_bytes, recv_bytes;
} lct_peer_t;

typedef struct {
    lct_coll_op_t op;
    uint64_t comm;       /* communicator id, same value on every rank */
    uint32_t seq;        /* per-communicator sequence number in launch order, from 0 */
    int32_t nranks;      /* communicator size */
    lct_dtype_t dtype;
    uint64_t count;      /* element count as passed to the NCCL call */
    uint64_t sendbuf, recvbuf;
    int32_t root;        /* broadcast; -1 otherwise */
    uint64_t bytes;      /* bytes this rank sends in total: key into the cost curves */
    uint32_t npeers;     /* send_recv / all_to_all: explicit peers (may be 0 for uniform a2a) */
    lct_peer_t *peers;   /* arena */
} lct_coll_t;

/* cuBLAS / cuBLASLt GEMM as called (column-major, as cuBLAS sees it). */
typedef struct {
    uint8_t trans_a, trans_b;
    int64_t m, n, k;
    int64_t lda, ldb, ldc;
    int64_t stride_a, stride_b, stride_c; /* strided-batched; 0 otherwise */
    int64_t batch;                        /* 1 for a plain GEMM */
    lct_dtype_t type_a, type_b, type_c, compute;
    double alpha, beta;
    uint64_t a, b, c;
    uint64_t workspace, workspace_size;
} lct_gemm_call_t;

/* Generic kernel launch: enough to re-issue it. */
typedef struct {
    uint32_t grid[3], block[3];
    uint32_t smem;
    uint32_t nparams;
    uint32_t *param_offset, *param_size; /* arena, nparams each */
    uint32_t param_bytes;
    uint8_t *param_data;                  /* arena, param_bytes */
} lct_kernel_call_t;

typedef struct {
    uint64_t dst, src, bytes;
} lct_copy_call_t;

typedef struct {
    uint64_t dst;
    uint32_t value, elem_size;
    uint64_t count;
} lct_set_call_t;

typedef struct {
    lct_call_kind_t kind;
    union {
        lct_gemm_call_t gemm;
        lct_kernel_call_t kernel;
        lct_copy_call_t copy;
        lct_set_call_t set;
    } u;
} lct_call_t;

/* Node flags. */
enum {
    LCT_NODE_F_OPAQUE = 1u << 0,    /* barrier regardless of footprint (LANCET_OPAQUE_KERNELS, ...) */
    LCT_NODE_F_EXTERNAL = 1u << 1,  /* event wait/record on an event outside the graph */
    LCT_NODE_F_GRAD_SYNC = 1u << 2, /* gradient synchronisation (all-reduce of weight gradients) */
    LCT_NODE_F_SPLIT = 1u << 3      /* made by splitting another node (see parent/chunk) */
};

typedef struct {
    lct_node_kind_t kind;
    const char *name;     /* kernel name or a descriptive name; arena; never NULL */
    const char *lib;      /* library tag: "cublas", "cublasLt", "nccl", "generic", ...; never NULL */
    int32_t stream;       /* original stream (small integer id) */
    uint32_t launch_order;/* order in which the program issued it */
    uint32_t flags;       /* LCT_NODE_F_* */
    lct_footprint_t fp;
    double cost_us;
    lct_cost_src_t cost_src;
    lct_phase_t phase;
    lct_role_t role;
    int32_t layer;        /* model layer index, -1 when unknown */
    int32_t moe;          /* MoE layer ordinal for nodes of an MoE block, -1 otherwise */
    lct_coll_t coll;      /* kind == COLLECTIVE */
    lct_call_t call;      /* library call record, or LCT_CALL_NONE */
    int32_t parent;       /* split: index of the node this chunk came from; -1 otherwise */
    uint16_t chunk, nchunks;
    uint64_t mem_bytes;   /* mem_alloc / mem_free: size; the range is in fp */
} lct_node_t;

typedef struct {
    uint32_t src, dst;
    lct_edge_kind_t kind;
    uint32_t data;        /* edge data (e.g. programmatic port) kept for the rebuild; 0 = none */
} lct_edge_t;

typedef struct {
    char *name;           /* arena */
    int32_t world_size, rank, gpus_per_node;
    char *device, *fabric;/* profile names; arena; may be NULL */
    char *model;          /* free text describing the generator settings; arena; may be NULL */
} lct_graph_meta_t;

typedef struct lct_graph {
    lct_arena_t arena;
    LCT_VEC(lct_node_t) nodes;
    LCT_VEC(lct_edge_t) edges;
    lct_graph_meta_t meta;

    /* Derived (lct_graph_fill_adj): CSR successor and predecessor lists of edge indices, and a
     * topological order. Duplicate edges between the same pair are kept in edges but listed once
     * in succ/pred. */
    bool adj_valid;
    uint32_t *succ_off, *succ; /* succ[succ_off[i] .. succ_off[i+1]) : successor node indices */
    uint32_t *pred_off, *pred;
    uint32_t *topo;            /* nnodes entries */
} lct_graph_t;

#define LCT_NNODES(g) ((uint32_t)(g)->nodes.len)
#define LCT_NODE(g, i) (&(g)->nodes.data[(i)])

/* A new empty graph (world_size 1, gpus_per_node 1). The caller owns *g_p and frees it with
 * lct_graph_destroy. */
lct_status_t lct_graph_create(lct_graph_t **g_p);
/* Free g with its arena (every string, range and record in it) and its derived data; NULL is a
 * no-op. */
void lct_graph_destroy(lct_graph_t *g);
/* Deep copy (own arena), owned by the caller like a created graph; derived data is not copied
 * (adj_valid false). */
lct_status_t lct_graph_clone(const lct_graph_t *g, lct_graph_t **g_p);

/* Append a node with defaults: stream 0, launch_order = index, phase unknown, role other,
 * layer/moe/parent -1, lib "generic", empty (known) footprint. name is copied. */
lct_status_t lct_graph_add_node(lct_graph_t *g, lct_node_kind_t kind, const char *name,
                                uint32_t *id_p);
lct_status_t lct_graph_add_edge(lct_graph_t *g, uint32_t src, uint32_t dst, lct_edge_kind_t kind);
/* Append a byte range to node id's footprint (size 0 is rejected). */
lct_status_t lct_node_add_range(lct_graph_t *g, uint32_t id, uint64_t addr, uint64_t size,
                                uint8_t access, bool exact);
/* Copy a string into the graph's arena (NULL stays NULL). */
const char *lct_graph_strdup(lct_graph_t *g, const char *s);
/* Remove every edge whose kind bit (1u << kind) is in kind_mask. */
void lct_graph_remove_edges(lct_graph_t *g, unsigned kind_mask);
/* 1 when an edge src->dst of any kind exists (linear scan when adj is stale). */
bool lct_graph_has_edge(const lct_graph_t *g, uint32_t src, uint32_t dst);

/* Build succ/pred CSR and the topological order. LCT_ERR_CYCLE (logged, naming one node on the
 * cycle) when the edges are cyclic; LCT_ERR_INVALID when an edge names a missing node. */
lct_status_t lct_graph_fill_adj(lct_graph_t *g);

/* Footprint helpers. */
bool lct_ranges_overlap(const lct_range_t *a, const lct_range_t *b);
/* True when two footprints conflict (overlapping bytes, at least one side writes) or either is
 * unknown. */
bool lct_footprints_conflict(const lct_footprint_t *a, const lct_footprint_t *b);

#endif
