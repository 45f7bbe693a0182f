/* Scheduling passes and the plan that runs them.
 *
 * Every pass has one signature: lct_status_t lct_pass_X(lct_graph_t *g, lct_plan_ctx_t *ctx).
 * A pass expects g->adj_valid with dependencies already reconstructed (lct_deps_rebuild), adds
 * nodes or SCHED edges, writes what it did into ctx->report, and leaves g->adj_valid true when it
 * returns LCT_OK (it calls lct_graph_fill_adj itself after changing edges). The pass order is
 * written once, in lct_plan_run. */
#ifndef LCT_SCHED_H
#define LCT_SCHED_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cost/lct_cost.h"
#include "cost/lct_sim.h"
#include "ir/lct_ir.h"

/* One a2a window of the dW pass. */
typedef struct {
    uint32_t a2a;          /* node index of the a2a (of the tail: its gradient all-reduce) */
    bool tail;             /* the tail window: the last gradient all-reduce (docs/passes.md) */
    double t_a2a;          /* its isolated cost, us */
    double t_dw;           /* sum of the isolated costs of dW nodes placed in it */
    uint32_t ndw;
    uint32_t *dw;          /* placed dW node indices (malloc) */
} lct_dw_window_t;

/* Forward pipeline pass: why a pipelined range ends where it ends (one side). */
typedef enum {
    LCT_PIPE_STOP_NONE = 0,
    LCT_PIPE_STOP_BOUNDARY, /* the neighbouring MoE layer, or the start / end of the forward pass */
    LCT_PIPE_STOP_COST,     /* the longer range was possible but not faster */
    LCT_PIPE_STOP_NO_RULE,  /* the next node has no split rule */
    LCT_PIPE_STOP_AXIS,     /* the next node's token axis cannot be cut k ways */
    LCT_PIPE_STOP_MEMORY    /* the longer range would exceed the memory budget */
} lct_pipe_stop_t;

/* Forward pipeline pass: one MoE layer. */
typedef struct {
    int32_t moe;                  /* MoE ordinal (node.moe of its all-to-alls) */
    uint32_t k;                   /* partition count chosen; 1: not pipelined */
    uint32_t nodes;               /* original nodes in the range */
    char first[64], last[64];     /* names of the range's first and last nodes */
    double range_before_us;       /* the range unsplit (sum of its groups' durations) */
    double range_after_us;        /* the range pipelined (simulated makespan) */
    double exposed_before_us;     /* this layer's forward a2a time with no compute running */
    double exposed_after_us;      /*   (whole-step simulation before / after the pass) */
    lct_pipe_stop_t stop[2];      /* [0] before the range, [1] after it */
    char stop_node[2][64];        /* the node that stopped it (no rule / axis / memory) */
    char stop_msg[2][96];         /* why, in words */
} lct_pipe_layer_t;

#define LCT_PIPE_MAX_LAYERS 128

typedef struct {
    /* dW pass */
    uint32_t nwindows;
    lct_dw_window_t *windows;     /* malloc */
    uint32_t dw_candidates;       /* dW nodes eligible for at least one window */
    uint32_t dw_placed;
    uint32_t improve_moves;       /* moves accepted by the improvement step */
    double predicted_before_us;   /* simulated makespan before the pass */
    double predicted_after_us;    /* after it */
    double extra_mem_bytes;       /* added peak live memory from extended lifetimes */
    uint32_t dropped_for_memory;  /* placements undone to stay within the budget */
    /* all-reduce gap fill */
    uint32_t allreduce_placed;
    uint32_t allreduce_chained;   /* left over, chained after the last a2a */
    /* backward expert-chain pipelining */
    uint32_t bwd_chains;          /* backward all-to-all chains found */
    uint32_t bwd_pipelined;       /* of them cut into chunks */
    uint32_t bwd_nodes_added;     /* chunk nodes added */
    bool bwd_tried;               /* the plan with pipelined chains was made and compared */
    double bwd_exposed_pct;       /* backward a2a exposed, % of the step, without them */
    /* optimizer deferral */
    uint32_t opt_deferred;        /* optimizer nodes made to wait for the end of the backward */
    /* forward pipeline pass (later) */
    uint32_t pipelined_ranges;
    /* timing */
    double plan_ms;               /* wall time spent planning */
    /* forward pipeline pass, per MoE layer of the forward (the first LCT_PIPE_MAX_LAYERS) */
    uint32_t pipe_nlayers;        /* entries of pipe[] used */
    uint32_t pipe_layers_total;   /* MoE layers found */
    lct_pipe_layer_t pipe[LCT_PIPE_MAX_LAYERS];
    uint32_t pipe_groups;         /* forward groups the DP worked on */
    uint32_t pipe_evals;          /* candidate ranges simulated */
    uint32_t pipe_cache_hits;     /* candidate ranges answered from the cache */
    uint32_t pipe_nodes_added;    /* chunk nodes added */
    int pipe_tutel;               /* Tutel-style degree used, 0 for Lancet's search */
    uint32_t pipe_samples;        /* sequences per step inferred (token-axis unit), 0 unknown */
    double pipe_before_us;        /* simulated step before the pass */
    double pipe_after_us;         /* after it */
    double pipe_ms;               /* wall time of the pass */
    char pipe_rules_error[160];   /* LANCET_SPLIT_RULES problem (file ignored), empty when none */
    bool dw_paper_rules;          /* the dW pass kept the paper's exact rules (LANCET_DW_PAPER,
                                   * or they simulated shorter than ours) */
} lct_plan_report_t;

enum { LCT_DW_RULES_AUTO = 0, LCT_DW_RULES_OWN = 1, LCT_DW_RULES_PAPER = 2 }; /* choice order */

typedef struct {
    const lct_device_profile_t *dev;  /* may be NULL: no interference */
    const lct_curve_set_t *curves;    /* may be NULL: node costs already filled */
    double interference;              /* 0..1, already resolved from LANCET_INTERFERENCE / dev */
    uint64_t mem_budget_bytes;        /* LANCET_MEM_BUDGET_MB in bytes */
    bool dw, dw_improve, allreduce_fill, pipeline;
    bool dw_tail;                     /* LANCET_DW_TAIL: the tail window (own rules only) */
    bool opt_tail;                    /* LANCET_OPT_TAIL: optimizer deferral */
    bool pipeline_bwd;                /* LANCET_PIPELINE_BWD: backward expert chains */
    int pipeline_max_chunks;
    lct_plan_report_t report;
    /* Tutel-style baseline (lancet-opt --tutel D): when > 0 the pipeline pass cuts only each
     * MoE layer's all-to-all .. expert FFN .. all-to-all, with k = tutel_degree, no search. */
    int tutel_degree;
    /* LANCET_DW_RULES: which dW greedy rules (docs/passes.md): LCT_DW_RULES_PAPER exactly as
     * published (forced-in also in the final window, unplaced dW not pinned), LCT_DW_RULES_OWN,
     * or LCT_DW_RULES_AUTO: both, keeping the one whose simulated step is shorter. */
    int dw_rules;
} lct_plan_ctx_t;

/* Context from the LANCET_* registry (call lct_config_load first) and the given profiles. */
void lct_plan_ctx_init(lct_plan_ctx_t *ctx, const lct_device_profile_t *dev,
                       const lct_curve_set_t *curves);
void lct_plan_ctx_fini(lct_plan_ctx_t *ctx);

/* Backward dW scheduling (paper's best-fit greedy + improvement + memory budget). */
lct_status_t lct_pass_dw(lct_graph_t *g, lct_plan_ctx_t *ctx);
/* Forward partition + pipelining of the MoE layers with their neighbours (docs/pipeline.md):
 * groups the forward, picks per MoE layer the range and partition count k in
 * 1..ctx->pipeline_max_chunks by DP over the groups with the timeline simulator as the cost,
 * and replaces each chosen range by k chunk pipelines. Runs before the dW pass. */
lct_status_t lct_pass_pipeline(lct_graph_t *g, lct_plan_ctx_t *ctx);
/* Backward expert chains (a MoE layer's first to last backward all-to-all and the expert
 * input-gradient work between them) cut into k chunks, k in 2, 4, 8, ... up to
 * ctx->pipeline_max_chunks, where that shortens the chain simulated alone (Tutel baseline:
 * k = its degree). lct_plan_run keeps the result only when the whole step gets shorter. */
lct_status_t lct_pass_pipeline_bwd(lct_graph_t *g, lct_plan_ctx_t *ctx);
/* Gradient all-reduces best-fit into the gaps between consecutive a2a's. */
lct_status_t lct_pass_allreduce_fill(lct_graph_t *g, lct_plan_ctx_t *ctx);

/* Optimizer updates wait for the end of the backward, beside the last gradient all-reduce,
 * where the simulated step gets shorter (lct_pass_opt_tail.c). */
lct_status_t lct_pass_opt_tail(lct_graph_t *g, lct_plan_ctx_t *ctx);

/* Run the enabled passes in order on a graph whose dependencies are reconstructed. */
lct_status_t lct_plan_run(lct_graph_t *g, lct_plan_ctx_t *ctx);
void lct_plan_report_text(FILE *f, const lct_graph_t *g, const lct_plan_ctx_t *ctx);
/* JSON object text (caller frees). */
char *lct_plan_report_json(const lct_graph_t *g, const lct_plan_ctx_t *ctx);

#endif
