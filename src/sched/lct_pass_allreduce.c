/* Gradient all-reduce gap fill: gradient synchronisation runs in the idle time of the
 * communication engine between consecutive backward all-to-alls.
 *
 * What it does. Between two backward a2a's the communication engine waits while the compute
 * that produces the next a2a's input runs. Gradient all-reduces (collectives flagged GRAD_SYNC)
 * can use that time instead of queueing behind the last a2a or contending with the a2a's. The
 * pass puts each all-reduce either into one such gap, as SCHED edges A_i -> R -> A_i+1, or,
 * when no gap takes it, after the last a2a (SCHED edge A_last -> R).
 *
 * Invariant kept. Only SCHED edges are added, each after checking on the current reachability
 * that it closes no cycle (R ->* A_i or A_i+1 ->* R would). Collectives of one communicator keep
 * their order (DESIGN.md invariant 3): the all-reduces are assigned to gaps monotonically in
 * launch order, so the order between them that their COLL edges already fix is never contradicted,
 * and the a2a's are only ever ordered further along their own order.
 *
 * Algorithm (Lancet, MLSys'24: all-reduces best-fit into the gaps, leftovers after the last a2a),
 * with the timeline of the graph as it stands (after the dW pass) from the simulator. For each
 * gap i in order, from cursor = end(A_i) to limit = start(A_i+1), the next all-reduce R in launch
 * order would run from s = max(cursor, ready(R)) to f = s + t(R), where ready(R) is the latest
 * end of its non-collective predecessors. R takes the gap when f <= limit, or when its overshoot
 * f - limit is smaller than the idle time limit - s it fills (the dW greedy's best-fit rule seen
 * from one item); then cursor = f and the next R is tried. Otherwise, or when R cannot precede
 * A_i+1 without a cycle, the next gap is tried. All-reduces that must run before A_i are left
 * where they are. Because the order of the all-reduces is fixed, best fit reduces to taking the
 * longest prefix that fits. Whatever is left is chained after the last a2a.
 *
 * Memory. Holding an a2a back for an all-reduce can keep buffers alive longer. The peak live
 * memory is simulated before and after; while what the plan added (the dW pass's share plus
 * this pass's) exceeds ctx->mem_budget_bytes, the last placement is undone (its edges are the
 * last ones appended), so the budget of DESIGN.md invariant 6 holds for the whole plan. */
#include "sched/lct_sched.h"

#include <stdlib.h>
#include <string.h>

#include "analysis/lct_analysis.h"
#include "core/lct_log.h"
#include "sched/lct_sched_int.h"

static bool gs_collective(const lct_node_t *n)
{
    return (n->flags & LCT_NODE_F_GRAD_SYNC) && lct_node_is_comm(n);
}

/* Latest end time of R's non-collective predecessors in the simulated timeline. */
static double ready_time(const lct_graph_t *g, const lct_sim_result_t *sim, uint32_t r)
{
    double t = 0;
    for (uint32_t i = g->pred_off[r]; i < g->pred_off[r + 1]; i++) {
        uint32_t p = g->pred[i];
        if (!lct_node_is_comm(LCT_NODE(g, p)) && sim->end[p] > t)
            t = sim->end[p];
    }
    return t;
}

static lct_status_t fill_peak(const lct_graph_t *g, const lct_sim_cfg_t *cfg, double *peak_p)
{
    lct_sim_result_t res;
    memset(&res, 0, sizeof(res));
    lct_status_t st = lct_sim_run(g, cfg, &res);
    if (st == LCT_OK)
        *peak_p = res.peak_mem_bytes;
    lct_sim_result_free(&res);
    return st;
}

static lct_status_t add_sched(lct_graph_t *g, lct_reach_t *r, uint32_t u, uint32_t v)
{
    if (lct_reach_path(r, u, v))
        return LCT_OK;
    LCT_CHECK(lct_graph_add_edge(g, u, v, LCT_EDGE_SCHED));
    lct_sched_reach_add_edge(r, u, v);
    return LCT_OK;
}

lct_status_t lct_pass_allreduce_fill(lct_graph_t *g, lct_plan_ctx_t *ctx)
{
    lct_plan_report_t *rep = &ctx->report;
    uint32_t n = LCT_NNODES(g), nwin = 0, ngs = 0, k = 0, placed = 0, chained = 0;
    uint32_t *win = NULL, *gs = NULL;
    double *ready = NULL;
    size_t *mark = NULL; /* edges.len before each placement, in placement order */
    uint8_t *how = NULL; /* per placement: 1 gap, 2 chained */
    uint32_t nmark = 0;
    size_t base_nedges = g->edges.len;
    lct_sim_result_t sim;
    lct_reach_t r;
    lct_status_t st;

    memset(&sim, 0, sizeof(sim));
    memset(&r, 0, sizeof(r));
    if (!g->adj_valid) {
        LCT_WARN("all-reduce fill: adjacency of graph '%s' is not current (reconstruct "
                 "dependencies first)",
                 g->meta.name ? g->meta.name : "");
        return LCT_ERR_INVALID;
    }
    rep->allreduce_placed = rep->allreduce_chained = 0;

    LCT_CHECK_GOTO(lct_sched_windows(g, &win, &nwin), st, fail);
    gs = malloc(((size_t)n + 1) * sizeof(*gs));
    if (!gs) {
        LCT_WARN("all-reduce fill: out of memory for %u nodes", n);
        st = LCT_ERR_NOMEM;
        goto fail;
    }
    for (uint32_t v = 0; v < n; v++)
        if (gs_collective(LCT_NODE(g, v)))
            gs[ngs++] = v;
    lct_sched_sort_launch(g, gs, ngs);
    if (!nwin || !ngs) {
        free(win);
        free(gs);
        return LCT_OK;
    }

    lct_sim_cfg_t cfg = {ctx->interference};
    LCT_CHECK_GOTO(lct_sim_run(g, &cfg, &sim), st, fail);
    LCT_CHECK_GOTO(lct_reach_fill(g, &r), st, fail);
    ready = malloc(((size_t)ngs + 1) * sizeof(*ready));
    mark = malloc(((size_t)ngs + 1) * sizeof(*mark));
    how = malloc((size_t)ngs + 1);
    if (!ready || !mark || !how) {
        LCT_WARN("all-reduce fill: out of memory for %u all-reduces", ngs);
        st = LCT_ERR_NOMEM;
        goto fail;
    }
    for (uint32_t i = 0; i < ngs; i++)
        ready[i] = ready_time(g, &sim, gs[i]);

    for (uint32_t i = 0; i + 1 < nwin && k < ngs; i++) {
        uint32_t a = win[i], b = win[i + 1];
        if (lct_reach_path(&r, b, a))
            continue; /* windows not in launch order on the graph: no gap to speak of */
        double cursor = sim.end[a], limit = sim.start[b];
        while (k < ngs) {
            uint32_t rr = gs[k];
            if (lct_reach_path(&r, rr, a)) {
                k++; /* runs before this gap anyway; later all-reduces still follow it */
                continue;
            }
            if (lct_reach_path(&r, b, rr)) {
                LCT_DEBUG(SCHED, "all-reduce %u (%s) depends on a2a %u", rr, LCT_NODE(g, rr)->name,
                          b);
                break; /* must follow A_i+1: try a later gap */
            }
            double s = cursor > ready[k] ? cursor : ready[k];
            double t = LCT_NODE(g, rr)->cost_us > 0 ? LCT_NODE(g, rr)->cost_us : 0;
            double f = s + t;
            if (!(f <= limit || f - limit < limit - s)) {
                LCT_DEBUG(SCHED,
                          "all-reduce %u (%s, %.1f us, ready %.1f) does not fit the gap %.1f..%.1f "
                          "after a2a %u",
                          rr, LCT_NODE(g, rr)->name, t, ready[k], cursor, limit, a);
                break;
            }
            mark[nmark] = g->edges.len;
            how[nmark++] = 1;
            LCT_CHECK_GOTO(add_sched(g, &r, a, rr), st, fail);
            LCT_CHECK_GOTO(add_sched(g, &r, rr, b), st, fail);
            LCT_DEBUG(SCHED, "all-reduce %u (%s) placed between a2a %u and %u", rr,
                      LCT_NODE(g, rr)->name, a, b);
            placed++;
            cursor = f;
            k++;
        }
    }
    uint32_t last = win[nwin - 1];
    for (; k < ngs; k++) {
        uint32_t rr = gs[k];
        if (lct_reach_path(&r, rr, last))
            continue; /* precedes the last a2a by its own dependencies */
        mark[nmark] = g->edges.len;
        how[nmark++] = 2;
        LCT_CHECK_GOTO(add_sched(g, &r, last, rr), st, fail);
        chained++;
    }
    g->adj_valid = false;
    LCT_CHECK_GOTO(lct_graph_fill_adj(g), st, fail);

    double peak0 = sim.peak_mem_bytes, peak;
    /* what the dW pass added counts against the same budget */
    double budget = (double)ctx->mem_budget_bytes - rep->extra_mem_bytes;
    LCT_CHECK_GOTO(fill_peak(g, &cfg, &peak), st, fail);
    while (nmark && peak - peak0 > budget) {
        nmark--;
        g->edges.len = mark[nmark];
        g->adj_valid = false;
        if (how[nmark] == 1)
            placed--;
        else
            chained--;
        rep->dropped_for_memory++;
        LCT_CHECK_GOTO(lct_graph_fill_adj(g), st, fail);
        LCT_CHECK_GOTO(fill_peak(g, &cfg, &peak), st, fail);
    }
    rep->extra_mem_bytes += peak - peak0;
    rep->allreduce_placed = placed;
    rep->allreduce_chained = chained;
    LCT_INFO(SCHED, "all-reduce fill: %u of %u gradient all-reduces placed in gaps, %u chained "
                    "after the last a2a",
             placed, ngs, chained);
    lct_reach_free(&r);
    lct_sim_result_free(&sim);
    free(ready);
    free(mark);
    free(how);
    free(win);
    free(gs);
    return LCT_OK;
fail:
    lct_reach_free(&r);
    lct_sim_result_free(&sim);
    free(ready);
    free(mark);
    free(how);
    free(win);
    free(gs);
    g->edges.len = base_nedges;
    g->adj_valid = false;
    lct_graph_fill_adj(g);
    return st;
}
