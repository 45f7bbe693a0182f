/* The plan: context from the LANCET_* registry, the pass order (written once, here), the checks
 * run on the result, and the plan reports.
 *
 * lct_plan_run leaves recovery to its caller: on any failure it returns the error and the caller
 * goes back to the original graph (DESIGN.md invariant 5). */
#include "sched/lct_sched.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis/lct_analysis.h"
#include "core/lct_config.h"
#include "core/lct_log.h"
#include "ir/lct_ir_json.h"
#include "sched/lct_sched_int.h"
#include "sched/lct_split.h"

void lct_plan_ctx_init(lct_plan_ctx_t *ctx, const lct_device_profile_t *dev,
                       const lct_curve_set_t *curves)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->dev = dev;
    ctx->curves = curves;
    double itf = lct_config_double(LCT_CFG_INTERFERENCE);
    if (itf < 0)
        itf = dev ? dev->interference : 0.0;
    ctx->interference = itf < 0 ? 0 : itf > 1 ? 1 : itf;
    long mb = lct_config_int(LCT_CFG_MEM_BUDGET_MB);
    ctx->mem_budget_bytes = mb > 0 ? (uint64_t)mb << 20 : 0;
    ctx->dw = lct_config_bool(LCT_CFG_DW);
    ctx->dw_improve = lct_config_bool(LCT_CFG_DW_IMPROVE);
    ctx->dw_tail = lct_config_bool(LCT_CFG_DW_TAIL);
    ctx->opt_tail = lct_config_bool(LCT_CFG_OPT_TAIL);
    ctx->pipeline_bwd = lct_config_bool(LCT_CFG_PIPELINE_BWD);
    ctx->dw_rules = lct_config_enum(LCT_CFG_DW_RULES);
    ctx->allreduce_fill = lct_config_bool(LCT_CFG_ALLREDUCE_FILL);
    ctx->pipeline = lct_config_bool(LCT_CFG_PIPELINE);
    ctx->pipeline_max_chunks = (int)lct_config_int(LCT_CFG_PIPELINE_MAX_CHUNKS);
}

void lct_plan_ctx_fini(lct_plan_ctx_t *ctx)
{
    lct_sched_report_clear_dw(&ctx->report);
    memset(&ctx->report, 0, sizeof(ctx->report));
}

/* Consecutive collectives of one communicator, in launch order. */
typedef struct {
    uint32_t prev, next;
    bool ordered_before; /* prev ->* next held on entry */
} coll_pair_t;

static lct_status_t coll_pairs(const lct_graph_t *g, coll_pair_t **pairs_p, uint32_t *n_p)
{
    uint32_t n = LCT_NNODES(g), nc = 0, np = 0, ncomm = 0;
    uint32_t *c = malloc(((size_t)n + 1) * sizeof(*c));
    uint64_t *comm = malloc(((size_t)n + 1) * sizeof(*comm));
    uint32_t *last = malloc(((size_t)n + 1) * sizeof(*last));
    coll_pair_t *pairs = malloc(((size_t)n + 1) * sizeof(*pairs));
    if (!c || !comm || !last || !pairs) {
        free(c);
        free(comm);
        free(last);
        free(pairs);
        LCT_WARN("plan: out of memory listing collectives of %u nodes", n);
        return LCT_ERR_NOMEM;
    }
    for (uint32_t v = 0; v < n; v++)
        if (LCT_NODE(g, v)->kind == LCT_NODE_COLLECTIVE)
            c[nc++] = v;
    lct_sched_sort_launch(g, c, nc);
    for (uint32_t i = 0; i < nc; i++) {
        uint64_t id = LCT_NODE(g, c[i])->coll.comm;
        uint32_t j = 0;
        while (j < ncomm && comm[j] != id)
            j++;
        if (j == ncomm) {
            comm[ncomm++] = id;
        } else {
            pairs[np].prev = last[j];
            pairs[np].next = c[i];
            pairs[np].ordered_before = false;
            np++;
        }
        last[j] = c[i];
    }
    free(c);
    free(comm);
    free(last);
    *pairs_p = pairs;
    *n_p = np;
    return LCT_OK;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static lct_status_t sim_makespan(const lct_graph_t *g, double interference, double *ms_p,
                                 double *peak_p)
{
    lct_sim_cfg_t cfg = {interference};
    lct_sim_result_t res;
    memset(&res, 0, sizeof(res));
    lct_status_t st = lct_sim_run(g, &cfg, &res);
    if (st == LCT_OK) {
        *ms_p = res.makespan;
        *peak_p = res.peak_mem_bytes;
    }
    lct_sim_result_free(&res);
    return st;
}

static lct_status_t backward_passes(lct_graph_t *g, lct_plan_ctx_t *ctx)
{
    if (ctx->dw)
        LCT_CHECK(lct_pass_dw(g, ctx));
    if (ctx->allreduce_fill)
        LCT_CHECK(lct_pass_allreduce_fill(g, ctx));
    return LCT_OK;
}

/* The backward passes (dW, then the all-reduce fill). With LANCET_DW_RULES=auto both rule sets
 * run, ours on the graph and the paper's on a copy, each followed by the fill, and the one whose
 * whole backward plan simulates shorter is kept (ties: ours): the fill changes which dW
 * placement is best (it decides when the gradient all-reduces run), so the choice is made after
 * it. Both passes only add edges, so keeping the copy's plan means taking its edge list. */
static lct_status_t backward_plan(lct_graph_t *g, lct_plan_ctx_t *ctx)
{
    lct_graph_t *gp = NULL;
    lct_plan_ctx_t cp;
    double ms_own = 0, ms_paper = 0, peak = 0;
    lct_status_t st;

    if (!ctx->dw || ctx->dw_rules != LCT_DW_RULES_AUTO)
        return backward_passes(g, ctx);
    LCT_CHECK(lct_graph_clone(g, &gp));
    if ((st = lct_graph_fill_adj(gp)) != LCT_OK)
        goto out;
    ctx->dw_rules = LCT_DW_RULES_OWN;
    st = backward_passes(g, ctx);
    ctx->dw_rules = LCT_DW_RULES_AUTO;
    if (st != LCT_OK || (st = sim_makespan(g, ctx->interference, &ms_own, &peak)) != LCT_OK)
        goto out;
    lct_sched_ctx_copy(&cp, ctx, LCT_DW_RULES_PAPER);
    st = backward_passes(gp, &cp);
    if (st == LCT_OK)
        st = sim_makespan(gp, ctx->interference, &ms_paper, &peak);
    if (st == LCT_OK && ms_paper < ms_own) {
        st = lct_sched_adopt_copy(g, gp, &ctx->report, &cp.report);
    } else {
        lct_sched_report_clear_dw(&cp.report);
        st = LCT_OK; /* the paper's variant failing leaves ours in force */
    }
    LCT_DEBUG(SCHED, "backward plan: own rules %.1f us, the paper's %.1f us; kept the %s", ms_own,
              ms_paper, ctx->report.dw_paper_rules ? "paper's" : "own");
out:
    lct_graph_destroy(gp);
    return st;
}

static lct_status_t backward_and_opt(lct_graph_t *g, lct_plan_ctx_t *ctx)
{
    LCT_CHECK(backward_plan(g, ctx));
    if (ctx->opt_tail)
        LCT_CHECK(lct_pass_opt_tail(g, ctx));
    return LCT_OK;
}

/* Simulated step, the part of it that backward all-to-alls leave exposed, and peak memory. */
static lct_status_t sim_bwd_exposed(const lct_graph_t *g, double interference, double *ms_p,
                                    double *exposed_p, double *peak_p)
{
    lct_sim_cfg_t cfg = {interference};
    lct_sim_result_t res;
    memset(&res, 0, sizeof(res));
    LCT_CHECK(lct_sim_run(g, &cfg, &res));
    *ms_p = res.makespan;
    *peak_p = res.peak_mem_bytes;
    *exposed_p = 0;
    for (uint32_t k = 0; k < res.na2a; k++)
        if (LCT_NODE(g, res.a2a_nodes[k])->phase == LCT_PHASE_BACKWARD)
            *exposed_p += res.a2a_exposed[k];
    lct_sim_result_free(&res);
    return LCT_OK;
}

/* The backward passes and the optimizer deferral; then, with LANCET_PIPELINE_BWD, when the
 * backward all-to-alls still leave more than 1% of the step exposed (there is not enough dW
 * work to fill their windows), the same again on a copy taken before them whose expert chains
 * are pipelined (lct_pass_pipeline_bwd), with our dW rules (the paper's when those were asked
 * for); the shorter step is kept.
 * Pipelining the chains shortens the windows the dW pass fills, so it only pays where the dW
 * cannot fill them; the comparison decides, and where the windows are full it is not made. */
static lct_status_t backward_with_chains(lct_graph_t *g, lct_plan_ctx_t *ctx, double peak0)
{
    lct_graph_t *pre = NULL;
    lct_plan_ctx_t cp;
    double ms_a = 0, exp_a = 0, ms_b = 0, exp_b = 0, peak = 0;
    lct_status_t st;
    bool try_chains = ctx->pipeline && ctx->pipeline_bwd && ctx->tutel_degree <= 0;

    if (try_chains) {
        LCT_CHECK(lct_graph_clone(g, &pre));
        if ((st = lct_graph_fill_adj(pre)) != LCT_OK)
            goto out;
    }
    if ((st = backward_and_opt(g, ctx)) != LCT_OK || !try_chains)
        goto out;
    if ((st = sim_bwd_exposed(g, ctx->interference, &ms_a, &exp_a, &peak)) != LCT_OK)
        goto out;
    ctx->report.bwd_exposed_pct = ms_a > 0 ? 100.0 * exp_a / ms_a : 0;
    if (!(exp_a > 0.01 * ms_a))
        goto out;
    /* our rules unless the paper's were asked for: with the windows shortened the dW are in
     * surplus, and ours can send them to the tail window (GPT2-S on 32 / 64 V100s: 1.343x /
     * 1.384x against 1.338x / 1.377x with the paper's, which won the plan without chains) */
    lct_sched_ctx_copy(&cp, ctx,
                       ctx->dw_rules == LCT_DW_RULES_PAPER ? LCT_DW_RULES_PAPER : LCT_DW_RULES_OWN);
    st = lct_pass_pipeline_bwd(pre, &cp);
    ctx->report.bwd_chains = cp.report.bwd_chains;
    ctx->report.bwd_tried = st == LCT_OK && cp.report.bwd_pipelined > 0;
    if (st == LCT_OK && cp.report.bwd_pipelined)
        st = backward_and_opt(pre, &cp);
    if (st == LCT_OK && cp.report.bwd_pipelined)
        st = sim_bwd_exposed(pre, ctx->interference, &ms_b, &exp_b, &peak);
    LCT_DEBUG(SCHED, "backward chains: %u pipelined; step %.1f us (backward a2a exposed %.1f) -> "
                     "%.1f us (%.1f)",
              cp.report.bwd_pipelined, ms_a, exp_a, ms_b, exp_b);
    /* kept only within the plan's memory budget, so that the plan without it stands otherwise
     * (lct_plan_run refuses a whole plan over budget) */
    if (st == LCT_OK && cp.report.bwd_pipelined && ms_b < ms_a - (1e-6 * ms_a + 1e-9) &&
        peak - peak0 <= (double)ctx->mem_budget_bytes) {
        lct_graph_t tmp = *g; /* the copy has more nodes: take the whole graph */
        *g = *pre;
        *pre = tmp;
        lct_sched_report_clear_dw(&ctx->report);
        ctx->report = cp.report;
        ctx->report.bwd_tried = true;
    } else {
        lct_sched_report_clear_dw(&cp.report);
        st = LCT_OK; /* the variant failing leaves the plan without it in force */
    }
out:
    lct_graph_destroy(pre);
    return st;
}

lct_status_t lct_plan_run(lct_graph_t *g, lct_plan_ctx_t *ctx)
{
    double t0 = now_ms(), before = 0, after = 0, peak0 = 0, peak1 = 0;
    coll_pair_t *pairs = NULL;
    uint32_t npairs = 0;
    lct_reach_t r;
    lct_status_t st;

    memset(&r, 0, sizeof(r));
    lct_sched_report_clear_dw(&ctx->report);
    memset(&ctx->report, 0, sizeof(ctx->report));
    if (!g->adj_valid) {
        LCT_WARN("plan: adjacency of graph '%s' is not current (reconstruct dependencies first)",
                 g->meta.name ? g->meta.name : "");
        return LCT_ERR_INVALID;
    }

    LCT_CHECK_GOTO(coll_pairs(g, &pairs, &npairs), st, out);
    LCT_CHECK_GOTO(lct_reach_fill(g, &r), st, out);
    for (uint32_t i = 0; i < npairs; i++)
        pairs[i].ordered_before = lct_reach_path(&r, pairs[i].prev, pairs[i].next);
    lct_reach_free(&r);
    memset(&r, 0, sizeof(r));
    LCT_CHECK_GOTO(sim_makespan(g, ctx->interference, &before, &peak0), st, out);

    /* The pass order. */
    if (ctx->pipeline || ctx->tutel_degree > 0)
        LCT_CHECK_GOTO(lct_pass_pipeline(g, ctx), st, out);
    if (ctx->tutel_degree > 0) /* Tutel's chunks reach the backward through autograd */
        LCT_CHECK_GOTO(lct_pass_pipeline_bwd(g, ctx), st, out);
    LCT_CHECK_GOTO(backward_with_chains(g, ctx, peak0), st, out);

    /* Verify: acyclic, per communicator the collectives keep their order, memory budget. */
    LCT_CHECK_GOTO(lct_graph_fill_adj(g), st, out);
    LCT_CHECK_GOTO(lct_reach_fill(g, &r), st, out);
    for (uint32_t i = 0; i < npairs; i++) {
        const coll_pair_t *p = &pairs[i];
        if (lct_reach_path(&r, p->next, p->prev) ||
            (p->ordered_before && !lct_reach_path(&r, p->prev, p->next))) {
            LCT_WARN("plan: order of collectives %u (%s) and %u (%s) on communicator %llu changed",
                     p->prev, LCT_NODE(g, p->prev)->name, p->next, LCT_NODE(g, p->next)->name,
                     (unsigned long long)LCT_NODE(g, p->prev)->coll.comm);
            st = LCT_ERR_INTERNAL;
            goto out;
        }
    }
    LCT_CHECK_GOTO(sim_makespan(g, ctx->interference, &after, &peak1), st, out);
    if (peak1 - peak0 > (double)ctx->mem_budget_bytes) {
        LCT_WARN("plan: added peak memory %.0f bytes exceeds the budget of %llu bytes",
                 peak1 - peak0, (unsigned long long)ctx->mem_budget_bytes);
        st = LCT_ERR_INTERNAL;
        goto out;
    }
    ctx->report.extra_mem_bytes = peak1 - peak0;
    ctx->report.predicted_before_us = before;
    ctx->report.predicted_after_us = after;
    ctx->report.plan_ms = now_ms() - t0;
    LCT_INFO(SCHED, "plan: predicted step %.1f -> %.1f us, planned in %.1f ms", before, after,
             ctx->report.plan_ms);
    st = LCT_OK;
out:
    lct_reach_free(&r);
    free(pairs);
    return st;
}

/* ---- reports ---- */

static double fill_pct(double t_dw, double t_a2a)
{
    if (t_a2a <= 0)
        return 0;
    return 100.0 * (t_dw < t_a2a ? t_dw : t_a2a) / t_a2a;
}

void lct_plan_report_text(FILE *f, const lct_graph_t *g, const lct_plan_ctx_t *ctx)
{
    const lct_plan_report_t *r = &ctx->report;
    fprintf(f, "plan for '%s' (interference %.2f)\n", g->meta.name ? g->meta.name : "",
            ctx->interference);
    if (!ctx->dw) {
        fprintf(f, "dW scheduling: off\n");
    } else {
        fprintf(f,
                "dW scheduling: %u windows, %u candidates, %u placed, %u improvement moves "
                "(%s rules)\n",
                r->nwindows, r->dw_candidates, r->dw_placed, r->improve_moves,
                r->dw_paper_rules ? "the paper's" : "own");
        if (r->nwindows) {
            double ta = 0, td = 0, tf = 0;
            fprintf(f, "  %4s  %-32s %11s %11s %7s %4s\n", "win", "a2a", "t_a2a(us)", "t_dW(us)",
                    "fill%", "dW");
            for (uint32_t w = 0; w < r->nwindows; w++) {
                const lct_dw_window_t *x = &r->windows[w];
                const char *name = x->a2a < LCT_NNODES(g) ? LCT_NODE(g, x->a2a)->name : "?";
                char label[40];
                snprintf(label, sizeof(label), "%s%.33s", x->tail ? "tail: " : "", name);
                fprintf(f, "  %4u  %-32.32s %11.1f %11.1f %7.1f %4u\n", w, label, x->t_a2a, x->t_dw,
                        fill_pct(x->t_dw, x->t_a2a), x->ndw);
                ta += x->t_a2a;
                td += x->t_dw;
                tf += x->t_dw < x->t_a2a ? x->t_dw : x->t_a2a;
            }
            fprintf(f, "  %4s  %-32s %11.1f %11.1f %7.1f %4u\n", "all", "", ta, td,
                    ta > 0 ? 100.0 * tf / ta : 0.0, r->dw_placed);
        }
        fprintf(f, "memory: extra peak %+.3f MiB (budget %.3f MiB), %u placements dropped for "
                   "memory\n",
                r->extra_mem_bytes / 1048576.0, ctx->mem_budget_bytes / 1048576.0,
                r->dropped_for_memory);
    }
    if (!ctx->allreduce_fill)
        fprintf(f, "all-reduce fill: off\n");
    else
        fprintf(f, "all-reduce fill: %u placed in gaps, %u chained after the last a2a\n",
                r->allreduce_placed, r->allreduce_chained);
    if (ctx->tutel_degree > 0 || r->bwd_pipelined)
        fprintf(f, "backward expert chains: %u of %u pipelined, %u chunk nodes added\n",
                r->bwd_pipelined, r->bwd_chains, r->bwd_nodes_added);
    else if (r->bwd_tried)
        fprintf(f, "backward expert chains: %u found; with them pipelined the step was not "
                   "shorter: not kept\n",
                r->bwd_chains);
    else if (ctx->pipeline && ctx->pipeline_bwd && r->bwd_exposed_pct > 1.0)
        fprintf(f, "backward expert chains: %u found, none could be cut\n", r->bwd_chains);
    else if (ctx->pipeline && ctx->pipeline_bwd)
        fprintf(f, "backward expert chains: not tried (backward all-to-alls leave %.1f%% of the "
                   "step exposed, over 1%% needed)\n",
                r->bwd_exposed_pct);
    else
        fprintf(f, "backward expert chains: off\n");
    if (!ctx->opt_tail)
        fprintf(f, "optimizer deferral: off\n");
    else
        fprintf(f, "optimizer deferral: %u optimizer nodes wait for the end of the backward\n",
                r->opt_deferred);
    if (!ctx->pipeline)
        fprintf(f, "forward pipeline: off\n");
    else if (!LCT_SCHED_HAVE_PIPELINE)
        fprintf(f, "forward pipeline: not available in this build\n");
    else
        lct_pipe_report_text(f, g, ctx);
    fprintf(f, "predicted step: %.1f us before, %.1f us after (%.3fx)\n", r->predicted_before_us,
            r->predicted_after_us,
            r->predicted_after_us > 0 ? r->predicted_before_us / r->predicted_after_us : 0.0);
    fprintf(f, "planning time: %.1f ms\n", r->plan_ms);
}

static json_t *jreal(double v) { return json_real(isfinite(v) ? v : 0.0); }

/* json_object_set_new that remembers a failure instead of checking every call. */
static void jset(json_t *o, const char *k, json_t *v, int *bad)
{
    if (!v || json_object_set_new(o, k, v) != 0)
        *bad = 1;
}

char *lct_plan_report_json(const lct_graph_t *g, const lct_plan_ctx_t *ctx)
{
    const lct_plan_report_t *r = &ctx->report;
    int bad = 0;
    char *text = NULL;
    json_t *root = json_object(), *dw = json_object(), *wins = json_array(),
           *mem = json_object(), *ar = json_object(), *pl = json_object(), *pred = json_object();
    if (!root || !dw || !wins || !mem || !ar || !pl || !pred) {
        json_decref(root);
        json_decref(dw);
        json_decref(wins);
        json_decref(mem);
        json_decref(ar);
        json_decref(pl);
        json_decref(pred);
        LCT_WARN("plan report: out of memory");
        return NULL;
    }
    for (uint32_t w = 0; w < r->nwindows; w++) {
        const lct_dw_window_t *x = &r->windows[w];
        json_t *o = json_object(), *list = json_array();
        if (!o || !list) {
            json_decref(o);
            json_decref(list);
            bad = 1;
            break;
        }
        for (uint32_t k = 0; k < x->ndw; k++) {
            json_t *d = json_object();
            if (!d) {
                bad = 1;
                break;
            }
            jset(d, "node", json_integer(x->dw[k]), &bad);
            jset(d, "name", lct_ir_json_string(x->dw[k] < LCT_NNODES(g) ? LCT_NODE(g, x->dw[k])->name : "?"),
                 &bad);
            jset(d, "t_us", jreal(x->dw[k] < LCT_NNODES(g) ? LCT_NODE(g, x->dw[k])->cost_us : 0),
                 &bad);
            if (json_array_append_new(list, d) != 0)
                bad = 1;
        }
        jset(o, "a2a", json_integer(x->a2a), &bad);
        jset(o, "name", lct_ir_json_string(x->a2a < LCT_NNODES(g) ? LCT_NODE(g, x->a2a)->name : "?"), &bad);
        jset(o, "tail", json_boolean(x->tail), &bad);
        jset(o, "t_a2a_us", jreal(x->t_a2a), &bad);
        jset(o, "t_dw_us", jreal(x->t_dw), &bad);
        jset(o, "fill_pct", jreal(fill_pct(x->t_dw, x->t_a2a)), &bad);
        jset(o, "dw", list, &bad);
        if (json_array_append_new(wins, o) != 0)
            bad = 1;
    }
    jset(dw, "enabled", json_boolean(ctx->dw), &bad);
    jset(dw, "windows", wins, &bad);
    jset(dw, "candidates", json_integer(r->dw_candidates), &bad);
    jset(dw, "placed", json_integer(r->dw_placed), &bad);
    jset(dw, "improve", json_boolean(ctx->dw_improve), &bad);
    jset(dw, "paper_rules", json_boolean(r->dw_paper_rules), &bad);
    static const char *const rules[] = {"auto", "own", "paper"}; /* LCT_DW_RULES_* order */
    jset(dw, "rules_setting",
         json_string((unsigned)ctx->dw_rules < 3 ? rules[ctx->dw_rules] : "?"), &bad);
    jset(dw, "improve_moves", json_integer(r->improve_moves), &bad);
    jset(dw, "dropped_for_memory", json_integer(r->dropped_for_memory), &bad);
    jset(mem, "extra_peak_bytes", jreal(r->extra_mem_bytes), &bad);
    jset(mem, "budget_bytes", json_integer((json_int_t)ctx->mem_budget_bytes), &bad);
    jset(ar, "enabled", json_boolean(ctx->allreduce_fill), &bad);
    jset(ar, "placed", json_integer(r->allreduce_placed), &bad);
    jset(ar, "chained", json_integer(r->allreduce_chained), &bad);
    jset(root, "backward_chains",
         json_pack("{s:b, s:b, s:f, s:I, s:I, s:I}", "enabled",
                   (int)(ctx->tutel_degree > 0 || (ctx->pipeline && ctx->pipeline_bwd)), "tried",
                   (int)(ctx->tutel_degree > 0 || r->bwd_tried), "bwd_a2a_exposed_pct",
                   r->bwd_exposed_pct, "found", (json_int_t)r->bwd_chains, "pipelined",
                   (json_int_t)r->bwd_pipelined, "nodes_added", (json_int_t)r->bwd_nodes_added),
         &bad);
    jset(root, "optimizer_deferral",
         json_pack("{s:b, s:I}", "enabled", (int)ctx->opt_tail, "deferred", (json_int_t)r->opt_deferred),
         &bad);
    jset(pl, "enabled", json_boolean(ctx->pipeline), &bad);
    jset(pl, "available", json_boolean(LCT_SCHED_HAVE_PIPELINE), &bad);
    jset(pl, "max_chunks", json_integer(ctx->pipeline_max_chunks), &bad);
    jset(pl, "ranges", json_integer(r->pipelined_ranges), &bad);
    jset(pl, "detail", lct_pipe_report_json(g, ctx), &bad);
    jset(pred, "before_us", jreal(r->predicted_before_us), &bad);
    jset(pred, "after_us", jreal(r->predicted_after_us), &bad);
    jset(pred, "speedup", jreal(r->predicted_after_us > 0
                                    ? r->predicted_before_us / r->predicted_after_us
                                    : 0.0),
         &bad);
    jset(root, "graph", lct_ir_json_string(g->meta.name), &bad);
    jset(root, "interference", jreal(ctx->interference), &bad);
    jset(root, "dw", dw, &bad);
    jset(root, "memory", mem, &bad);
    jset(root, "allreduce_fill", ar, &bad);
    jset(root, "pipeline", pl, &bad);
    jset(root, "predicted", pred, &bad);
    jset(root, "plan_ms", jreal(r->plan_ms), &bad);
    if (!bad)
        text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(root);
    if (!text)
        LCT_WARN("plan report: cannot build the JSON text");
    return text;
}
