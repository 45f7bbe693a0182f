/* Split rules of the forward pipeline pass: how one node becomes k chunk nodes along the token
 * dimension whose footprints partition the original's (docs/split-rules.md).
 *
 * A chunk is one or more pieces. A piece is what one IR node will be: a library call or kernel
 * launch with its own call record, footprint and modelled cost. Most chunks are one piece; a
 * capacity-sliced expert GEMM of interleaved experts is one strided-batched GEMM per local expert.
 *
 * Sources of truth, by node kind:
 *  - cuBLAS GEMMs (call record gemm): the columns of C (n) are the token axis, as row-major
 *    frameworks call cuBLAS; batched GEMMs whose batches do not interleave are split along the
 *    batch (attention: whole sequences only); GEMMs whose B or C operand is an all-to-all buffer
 *    split the columns of every peer block (the capacity axis);
 *  - collectives: all-to-all per peer block (slice i of every block), all-reduce and broadcast by
 *    count, all-gather and reduce-scatter by count with per-peer sub-ranges of the gathered side;
 *  - memcpy / memset (call records copy / set): by bytes / elements;
 *  - other kernels: a rule table keyed by kernel-name pattern (built-in rules for the step
 *    generator's row-wise kernels, more from LANCET_SPLIT_RULES).
 * Everything else has no rule and cannot be split. */
#ifndef LCT_SPLIT_H
#define LCT_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "core/lct_arena.h"
#include "cost/lct_cost.h"
#include "ir/lct_ir.h"
#include "sched/lct_sched.h"

/* Why a node cannot be split (reports). */
typedef enum {
    LCT_SPLIT_OK = 0,
    LCT_SPLIT_NO_RULE, /* no split rule for this node (unknown kernel, host node, barrier, ...) */
    LCT_SPLIT_AXIS,    /* a rule exists but the token axis cannot be cut k ways here */
    LCT_SPLIT_MEMORY   /* (pass) the range would add more live memory than the budget */
} lct_split_why_t;

const char *lct_split_why_name(lct_split_why_t w); /* "no split rule", "axis not splittable", ... */

/* ---- kernel rule table ---- */

typedef enum { LCT_RULE_ROWS, LCT_RULE_ELEMWISE, LCT_RULE_NONE } lct_rule_kind_t;
typedef enum { LCT_GRID_KEEP, LCT_GRID_ROWS, LCT_GRID_SCALE } lct_grid_mode_t;

#define LCT_RULE_MAX_PARAMS 64

typedef struct {
    const char *pattern;       /* fnmatch(3) pattern on the node name */
    int nparams;               /* the rule applies only to kernels with this many parameters; -1: any */
    lct_rule_kind_t kind;
    int rows_param;            /* rows: row count; elementwise: element count (parameter index) */
    int cap_param;             /* capacity (slots per peer block) parameter, -1 when none */
    uint64_t row_mask;         /* bit p: parameter p is a row (elementwise: element) pointer */
    uint64_t slot_mask;        /* bit p: parameter p points at an all-to-all slot buffer */
    uint32_t row_bytes[LCT_RULE_MAX_PARAMS]; /* explicit row stride of a row pointer; 0: derived */
    bool seq;                  /* rows may only be cut at sequence boundaries (attention) */
    lct_grid_mode_t grid;
    const char *reason;        /* kind none: why the kernel cannot be split */
    const char *file;          /* where the rule comes from ("built-in" or a path) */
    uint32_t line;
} lct_split_rule_t;

typedef struct lct_split_rules lct_split_rules_t;

/* A table holding the built-in rules. */
lct_status_t lct_split_rules_create(lct_split_rules_t **r_p);
void lct_split_rules_destroy(lct_split_rules_t *r);
/* Add the rules of a rules file (format in docs/split-rules.md) in front of the ones already
 * there (a file's rules win over built-in ones; within a file the first match wins). On a syntax
 * error nothing is added and err holds "FILE:LINE: what is wrong" (also logged as a warning).
 * name is used in messages (the path for files). */
lct_status_t lct_split_rules_parse(lct_split_rules_t *r, const char *text, const char *name,
                                   char *err, size_t errlen);
lct_status_t lct_split_rules_load(lct_split_rules_t *r, const char *path, char *err,
                                  size_t errlen);
/* The first rule whose pattern (and parameter count) matches kernel node n, or NULL. */
const lct_split_rule_t *lct_split_rules_find(const lct_split_rules_t *r, const lct_node_t *n);
uint32_t lct_split_rules_count(const lct_split_rules_t *r);

/* ---- context: what the rules need to know about the graph ---- */

/* A collective's buffers as the capacity axis sees them. */
typedef struct {
    uint32_t node;
    uint64_t send, send_bytes, recv, recv_bytes;
    uint32_t peers;     /* peer blocks */
    uint64_t unit;      /* bytes of one capacity slot in a peer block (dtype size if unknown) */
} lct_split_a2a_t;

typedef struct {
    uint32_t samples;                 /* sequences per step (token-axis unit), 0 when unknown */
    double launch_us;                 /* per-launch overhead kept by every piece */
    const lct_curve_set_t *curves;    /* collective chunk costs; NULL: cost scaled by bytes */
    const lct_split_rules_t *rules;
    uint32_t na2a;
    const lct_split_a2a_t *a2a;       /* all-to-all buffers of the graph */
} lct_split_ctx_t;

/* Fill sc->samples and the all-to-all table (a2a_p, malloc'd) from the graph: the sequence count
 * is the token count of the batch-1 forward GEMMs divided by the column count of the first
 * forward batched GEMM whose batches do not interleave (attention), when that divides; the slot
 * unit of an all-to-all is the column stride of a GEMM operand inside its buffers, or its peer
 * block divided by the capacity parameter of a slot kernel, else the element size. */
lct_status_t lct_split_ctx_fill(const lct_graph_t *g, lct_split_ctx_t *sc,
                                lct_split_a2a_t **a2a_p);

/* ---- splitting one node ---- */

typedef struct {
    uint16_t chunk;
    lct_node_kind_t kind;
    lct_call_t call;           /* parameter data in the split's arena */
    lct_coll_t coll;           /* collectives; peers in the arena */
    uint32_t nranges;
    lct_range_t *ranges;       /* sorted by address, disjoint per access */
    double cost_us;
    uint32_t launches;         /* launches needed to re-issue it (multi-run rule kernels) */
} lct_split_piece_t;

typedef struct {
    uint32_t k;
    uint32_t npieces;
    lct_split_piece_t *pieces; /* chunk-major */
    uint32_t *chunk_off;       /* k + 1 entries: pieces of chunk i are [chunk_off[i], chunk_off[i+1]) */
} lct_split_t;

/* Split node v of g into k >= 2 chunks. follow (may be NULL): the split of the node producing
 * this node's input; element-wise kernels take its partition so that chunk i reads exactly what
 * chunk i of the producer wrote. Everything is allocated in arena a. On LCT_OK *out is filled;
 * LCT_ERR_UNSUPPORTED when the node cannot be split, with *why_p and a message in msg (may be
 * NULL); other codes for out-of-memory. */
lct_status_t lct_split_node(const lct_graph_t *g, uint32_t v, uint32_t k, const lct_split_ctx_t *sc,
                            const lct_split_t *follow, lct_arena_t *a, lct_split_t *out,
                            lct_split_why_t *why_p, char *msg, size_t msglen);

/* True for the nodes the pass keeps whole inside a pipelined range without stopping it: empty,
 * event and graph memory nodes, and zero-cost nodes without a footprint. */
bool lct_split_is_transparent(const lct_node_t *n);

/* The producer whose partition node v follows when its rule is element-wise: the predecessor
 * in g that writes the bytes v's first element pointer reads; UINT32_MAX when none. Requires
 * g->adj_valid. */
uint32_t lct_split_follow_source(const lct_graph_t *g, uint32_t v, const lct_split_ctx_t *sc);

/* Merge a list of ranges in place: sort by address and join overlapping or adjacent ranges of the
 * same access (write wins over read when they overlap). Returns the new count. */
uint32_t lct_split_ranges_normalize(lct_range_t *r, uint32_t n);

/* ---- the pipeline planner (exposed for tests: the DP against brute force) ---- */

typedef struct lct_pipe_planner lct_pipe_planner_t;

/* Groups, MoE cores and the candidate evaluator of g (after lct_deps_rebuild) under ctx. */
lct_status_t lct_pipe_planner_create(lct_graph_t *g, lct_plan_ctx_t *ctx,
                                     lct_pipe_planner_t **p_p);
void lct_pipe_planner_destroy(lct_pipe_planner_t *p);
uint32_t lct_pipe_planner_ngroups(const lct_pipe_planner_t *p);
/* Number of MoE cores (forward all-to-all blocks) in groups [j, i). */
uint32_t lct_pipe_planner_ncores(const lct_pipe_planner_t *p, uint32_t j, uint32_t i);
/* Cost (us) of running groups [j, i) as one range: k = 1 the sum of the groups' durations; k >= 2
 * the simulated makespan of the range cut into k chunk pipelines (*ok_p false when a node cannot
 * be split k ways or the memory budget is exceeded). */
lct_status_t lct_pipe_planner_cost(lct_pipe_planner_t *p, uint32_t j, uint32_t i, uint32_t k,
                                   double *cost_p, bool *ok_p);

typedef struct {
    uint32_t first, end; /* groups [first, end) */
    uint32_t k;
    double cost;
} lct_pipe_range_t;

/* The DP over groups: dp[i] = min over j of dp[j] + cost(j, i), where a range holding one MoE
 * core costs its best k in 1..max_k and any other range is a single group at k = 1. Fills the
 * chosen ranges (malloc'd, in order, every group covered once) and the total. */
lct_status_t lct_pipe_planner_dp(lct_pipe_planner_t *p, uint32_t max_k, lct_pipe_range_t **r_p,
                                 uint32_t *n_p, double *total_p);

/* Plan-report parts of the pass (lct_plan_report_text / lct_plan_report_json call them): the
 * per-MoE-layer table, and the same as a JSON object (new reference, NULL when out of memory). */
void lct_pipe_report_text(FILE *f, const lct_graph_t *g, const lct_plan_ctx_t *ctx);
json_t *lct_pipe_report_json(const lct_graph_t *g, const lct_plan_ctx_t *ctx);

#endif
