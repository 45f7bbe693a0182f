/* Optimizer deferral: optimizer updates run beside the last gradient all-reduce.
 *
 * What it does. A step ends with the all-reduce of the last gradient bucket, which waits for the
 * very last backward kernels; while it runs the compute engine has little to do. The optimizer
 * updates of the other buckets (and of parameters that are never all-reduced, such as expert
 * weights) become ready as soon as their own all-reduce is done, so without a plan they run in
 * the middle of the backward pass and share the compute engine with the input-gradient chain that
 * decides when the step ends. This pass lets them wait for the end of the backward instead: SCHED
 * edges p -> o from each compute predecessor p of the last gradient all-reduce R_last to each
 * deferred optimizer node o.
 *
 * Candidates. Compute nodes of the optimizer phase with no path to or from R_last (an update that
 * R_last waits for, or that waits for it, stays where it is) and no path to any of R_last's
 * compute predecessors (the edge would close a cycle).
 *
 * Choice. Under the timeline simulator with ctx->interference: "all deferred" is tried against
 * "none"; then one sweep over the candidates in launch order flips each one and keeps the flip
 * when the simulated step gets shorter by more than one part per million. Deterministic: fixed
 * order, no clock. Added peak memory stays within what the budget leaves after the earlier
 * passes (ctx->report.extra_mem_bytes), or the flip is not kept.
 *
 * Invariant kept. Only SCHED edges are added, each between nodes with no path in the other
 * direction; no edge is removed, so every true dependency and the collective order stand
 * (DESIGN.md invariants 1-3). Deferring an update never makes it run before something it had to
 * follow: it only waits longer. */
#include "sched/lct_sched.h"

#include <stdlib.h>
#include <string.h>

#include "analysis/lct_analysis.h"
#include "core/lct_log.h"
#include "sched/lct_sched_int.h"

#define OT_NONE UINT32_MAX

typedef struct {
    lct_graph_t *g;
    lct_sim_cfg_t cfg;
    size_t base_nedges;
    uint32_t npred, *pred; /* compute predecessors of R_last */
    uint32_t ncand, *cand;
    bool *on;
} ot_t;

static lct_status_t ot_eval(ot_t *o, double *ms_p, double *peak_p)
{
    lct_graph_t *g = o->g;
    g->edges.len = o->base_nedges;
    g->adj_valid = false;
    for (uint32_t i = 0; i < o->ncand; i++)
        for (uint32_t j = 0; o->on[i] && j < o->npred; j++)
            LCT_CHECK(lct_graph_add_edge(g, o->pred[j], o->cand[i], LCT_EDGE_SCHED));
    LCT_CHECK(lct_graph_fill_adj(g));
    lct_sim_result_t res;
    memset(&res, 0, sizeof(res));
    lct_status_t st = lct_sim_run(g, &o->cfg, &res);
    if (st == LCT_OK) {
        *ms_p = res.makespan;
        *peak_p = res.peak_mem_bytes;
    }
    lct_sim_result_free(&res);
    return st;
}

static bool ot_better(double ms, double cur, double peak, double peak0, double budget)
{
    return ms < cur - (1e-6 * cur + 1e-9) && peak - peak0 <= budget;
}

lct_status_t lct_pass_opt_tail(lct_graph_t *g, lct_plan_ctx_t *ctx)
{
    ot_t o;
    lct_reach_t r;
    lct_status_t st = LCT_OK;
    uint32_t n = LCT_NNODES(g), last = OT_NONE, deferred = 0;
    double ms0 = 0, peak0 = 0, cur, cur_peak, ms, peak;

    memset(&o, 0, sizeof(o));
    memset(&r, 0, sizeof(r));
    ctx->report.opt_deferred = 0;
    if (!g->adj_valid) {
        LCT_WARN("optimizer deferral: adjacency of graph '%s' is not current",
                 g->meta.name ? g->meta.name : "");
        return LCT_ERR_INVALID;
    }
    for (uint32_t v = 0; v < n; v++) {
        const lct_node_t *nd = LCT_NODE(g, v);
        if (!(nd->flags & LCT_NODE_F_GRAD_SYNC) || !lct_node_is_comm(nd) || !(nd->cost_us > 0))
            continue;
        uint32_t lv = nd->launch_order, ll = last == OT_NONE ? 0 : LCT_NODE(g, last)->launch_order;
        if (last == OT_NONE || lv > ll || (lv == ll && v > last))
            last = v;
    }
    if (last == OT_NONE)
        return LCT_OK;
    o.g = g;
    o.cfg.interference = ctx->interference;
    o.base_nedges = g->edges.len;
    o.pred = malloc(((size_t)(g->pred_off[last + 1] - g->pred_off[last]) + 1) * sizeof(uint32_t));
    o.cand = malloc(((size_t)n + 1) * sizeof(uint32_t));
    o.on = calloc((size_t)n + 1, sizeof(bool));
    if (!o.pred || !o.cand || !o.on) {
        LCT_WARN("optimizer deferral: out of memory for %u nodes", n);
        st = LCT_ERR_NOMEM;
        goto out;
    }
    for (uint32_t i = g->pred_off[last]; i < g->pred_off[last + 1]; i++)
        if (lct_sched_is_compute(LCT_NODE(g, g->pred[i])))
            o.pred[o.npred++] = g->pred[i];
    if (!o.npred)
        goto out;
    LCT_CHECK_GOTO(lct_reach_fill(g, &r), st, out);
    for (uint32_t v = 0; v < n; v++) {
        const lct_node_t *nd = LCT_NODE(g, v);
        if (nd->phase != LCT_PHASE_OPTIMIZER || !lct_sched_is_compute(nd) || !(nd->cost_us > 0) ||
            lct_reach_ordered(&r, v, last))
            continue;
        bool ok = true;
        for (uint32_t j = 0; j < o.npred && ok; j++)
            ok = !lct_reach_path(&r, v, o.pred[j]) && v != o.pred[j];
        if (ok)
            o.cand[o.ncand++] = v;
    }
    lct_reach_free(&r);
    if (!o.ncand)
        goto out;
    lct_sched_sort_launch(g, o.cand, o.ncand);

    double budget = (double)ctx->mem_budget_bytes - ctx->report.extra_mem_bytes;
    LCT_CHECK_GOTO(ot_eval(&o, &ms0, &peak0), st, out);
    cur = ms0;
    cur_peak = peak0;
    for (uint32_t i = 0; i < o.ncand; i++)
        o.on[i] = true;
    LCT_CHECK_GOTO(ot_eval(&o, &ms, &peak), st, out);
    if (ot_better(ms, cur, peak, peak0, budget)) {
        cur = ms;
        cur_peak = peak;
    } else {
        memset(o.on, 0, o.ncand * sizeof(bool));
    }
    for (uint32_t i = 0; i < o.ncand; i++) {
        o.on[i] = !o.on[i];
        LCT_CHECK_GOTO(ot_eval(&o, &ms, &peak), st, out);
        if (ot_better(ms, cur, peak, peak0, budget)) {
            cur = ms;
            cur_peak = peak;
        } else {
            o.on[i] = !o.on[i];
        }
    }
    LCT_CHECK_GOTO(ot_eval(&o, &ms, &peak), st, out); /* the graph's edges: the kept choice */
    for (uint32_t i = 0; i < o.ncand; i++)
        deferred += o.on[i];
    ctx->report.opt_deferred = deferred;
    ctx->report.extra_mem_bytes += cur_peak - peak0;
    LCT_INFO(SCHED, "optimizer deferral: %u of %u optimizer nodes wait for the end of the backward; "
                    "predicted %.1f -> %.1f us",
             deferred, o.ncand, ms0, cur);
out:
    if (st != LCT_OK) {
        g->edges.len = o.base_nedges;
        g->adj_valid = false;
        lct_graph_fill_adj(g);
    }
    lct_reach_free(&r);
    free(o.pred);
    free(o.cand);
    free(o.on);
    return st;
}
