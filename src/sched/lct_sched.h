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
    uint32_t a2a;          /* node index of the a2a */
    double t_a2a;          /* its isolated cost, us */
    double t_dw;           /* sum of the isolated costs of dW nodes placed in it */
    uint32_t ndw;
    uint32_t *dw;          /* placed dW node indices (malloc) */
} lct_dw_window_t;

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
    /* forward pipeline pass (later) */
    uint32_t pipelined_ranges;
    /* timing */
    double plan_ms;               /* wall time spent planning */
} lct_plan_report_t;

typedef struct {
    const lct_device_profile_t *dev;  /* may be NULL: no interference */
    const lct_curve_set_t *curves;    /* may be NULL: node costs already filled */
    double interference;              /* 0..1, already resolved from LANCET_INTERFERENCE / dev */
    uint64_t mem_budget_bytes;        /* LANCET_MEM_BUDGET_MB in bytes */
    bool dw, dw_improve, allreduce_fill, pipeline;
    int pipeline_max_chunks;
    lct_plan_report_t report;
} lct_plan_ctx_t;

/* Context from the LANCET_* registry (call lct_config_load first) and the given profiles. */
void lct_plan_ctx_init(lct_plan_ctx_t *ctx, const lct_device_profile_t *dev,
                       const lct_curve_set_t *curves);
void lct_plan_ctx_fini(lct_plan_ctx_t *ctx);

/* Backward dW scheduling (paper's best-fit greedy + improvement + memory budget). */
lct_status_t lct_pass_dw(lct_graph_t *g, lct_plan_ctx_t *ctx);
/* Gradient all-reduces best-fit into the gaps between consecutive a2a's. */
lct_status_t lct_pass_allreduce_fill(lct_graph_t *g, lct_plan_ctx_t *ctx);

/* Run the enabled passes in order on a graph whose dependencies are reconstructed. */
lct_status_t lct_plan_run(lct_graph_t *g, lct_plan_ctx_t *ctx);
void lct_plan_report_text(FILE *f, const lct_graph_t *g, const lct_plan_ctx_t *ctx);
/* JSON object text (caller frees). */
char *lct_plan_report_json(const lct_graph_t *g, const lct_plan_ctx_t *ctx);

#endif
