/* Forward partition + pipelining (Lancet, MLSys'24, "partition and pipeline"; docs/pipeline.md).
 *
 * What it does. In the forward pass every MoE layer sends its tokens to the experts and back with
 * two all-to-alls (a2a) while the compute engine idles. The pass cuts a range of the forward
 * around each MoE layer (the layer's a2a's and expert FFN, extended over the attention, gate and
 * dense work before and after it) along the token dimension into k chunks, so that chunk i's a2a
 * runs while the neighbouring chunks compute. It chooses the ranges and k by a DP over groups of
 * the forward with the timeline simulator as the cost, and rewrites each chosen range as k chunk
 * pipelines.
 *
 * Invariant kept. Every original edge stays, so every path between original nodes survives;
 * each original node of a range becomes an empty node (no footprint, no cost) that joins its
 * chunks (chunk -> original), and every predecessor of an original outside the range precedes
 * each of its chunks. Inside a range, chunk pieces get a DATA edge for every pair of pieces whose
 * footprints conflict (original order), and where a direct dependency maps to no conflicting
 * pair chunk i follows chunk i of its predecessor, so any node ordered before (after) an original
 * is ordered before (after) all its chunks (DESIGN.md invariant 1). The collectives of a range
 * are chained in (original launch order, chunk) order and every communicator's seq is
 * renumbered in launch order, the same order on every rank (invariant 3). Planning reads only
 * the graph and its costs (invariant 4). Chunks write into slices of the original buffers: the
 * split adds no buffer; the added live memory of in-graph allocations whose lifetimes a range
 * stretches is measured by simulating each candidate and kept within ctx->mem_budget_bytes
 * (invariant 6).
 *
 * Algorithm.
 *  1. Simulate the step (ctx->interference); order the nodes by (start, topological position);
 *     the forward region is the prefix up to the last forward node. A cut between two positions
 *     is valid when everything before it ends before anything after it starts: groups never cut
 *     through overlapping execution.
 *  2. MoE cores: per MoE layer the span from its first to its last forward a2a, widened to valid
 *     cuts; each core is one group. Between two cores the span is cut into groups of at least
 *     gamma = span / LANCET_PIPELINE_GROUPS (the paper: 5); before the first and after the last
 *     core with the mean gamma.
 *  3. DP over groups: dp[i] = min over j of dp[j] + cost(j, i). A range [j, i) holding one core
 *     costs min over k in 1..max of: k = 1 the sum of its groups' durations, k >= 2 the
 *     simulated makespan of the range cut into k chunks (lct_sim_run with interference; infinite
 *     when a node cannot be split k ways or the memory budget is exceeded). Any other range is a
 *     single group at its duration. Every k is tried (the paper stops at the first k that does
 *     not improve). Candidates are cached by node splits, by chunk edges and by a signature of the
 *     chunk graph, so identical MoE layers cost one simulation.
 *  4. A pipelined range: the chunk pieces, ordered by a list schedule on two engines: the
 *     communication engine runs the collective pieces in (launch order, chunk) order, the compute
 *     engine the ready piece with the longest path to the end of the range (ties: lower chunk,
 *     earlier node). SCHED edges chain the compute pieces and the collective pieces in that
 *     order: the pipeline order is deterministic.
 *  Tutel-style baseline (ctx->tutel_degree = D > 0): every core alone, k = D, no search.
 *
 * Backward expert chains (lct_pass_pipeline_bwd, at the end of this file): per MoE layer every
 * node on a path from its first to its last backward all-to-all, laid out as one range of its
 * own (planner_layout_bwd) and rewritten by the same rewrite_range, at the k in 2, 4, 8, ...
 * that makes the chain shortest simulated alone (Tutel: k = D). lct_plan_run decides whether
 * the step keeps it.
 *
 * Allocations. An allocation node kept whole inside a range that followed a split node follows
 * that node's first piece instead of its join (the re-anchored edge in rewrite_range); every
 * earlier piece of the range that touches its bytes still precedes it (cand_build). This is the
 * one kind of original edge the rewrite changes. */
#include "sched/lct_sched.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/lct_config.h"
#include "core/lct_hash.h"
#include "core/lct_log.h"
#include "core/lct_vec.h"
#include "cost/lct_sim.h"
#include "sched/lct_sched_int.h"
#include "sched/lct_split.h"

#define NONE UINT32_MAX
#define MAX_K 64

typedef struct {
    uint32_t first, end; /* region positions [first, end) */
    double dur;          /* max end - min start in the step simulation */
    int32_t core;        /* index of the core this group is, -1 otherwise */
} group_t;

typedef struct {
    int32_t moe;
    uint32_t first, end; /* region positions */
    uint32_t group;
} core_t;

typedef struct {
    uint32_t a, b;
} pair_t;
typedef LCT_VEC(pair_t) pairvec_t;

/* Split of one region node at one k. */
typedef struct {
    uint8_t state; /* 0 not tried, 1 split, 2 cannot be split */
    lct_split_why_t why;
    lct_split_t sp;
    const char *msg;
    uint32_t pairs_off, npairs; /* conflicts between its own pieces (a < b) */
    struct ivset *iv;           /* its pieces' ranges sorted for conflict queries */
} nsplit_t;

/* Chunk conflicts of one direct edge at one k. */
typedef struct {
    uint8_t state;
    uint32_t off, n;
} epairs_t;

/* One item of a candidate: a piece, or a node kept whole. */
typedef struct {
    uint32_t node;
    uint32_t piece;  /* index in the node's split, NONE for a node kept whole */
    uint16_t chunk;
    uint8_t cls;     /* 0 instant, 1 compute, 2 collective */
    double cost;
} item_t;

typedef struct {
    double makespan, exposed, peak;
    int policy; /* list-schedule priority that gave it */
} evres_t;

typedef struct {
    bool ok;
    lct_split_why_t why;
    uint32_t node; /* the node that failed */
    const char *msg;
    double cost;
    int policy;
} memo_t;

typedef struct {
    LCT_VEC(item_t) items;
    pairvec_t edges;
    uint32_t *base; /* per range node (offset from first): first item */
    uint32_t nbase;
} cand_t;

struct lct_pipe_planner {
    lct_graph_t *g;
    lct_plan_ctx_t *ctx;
    uint32_t n, K;
    lct_split_rules_t *rules;
    lct_split_ctx_t sc;
    lct_split_a2a_t *a2a;
    lct_arena_t arena;
    lct_sim_result_t base;
    uint32_t *pred_off, *pred; /* snapshot of the predecessor CSR */
    uint32_t *order, nregion;  /* region: node ids by (start, topo position) */
    uint32_t *pos;             /* node -> region position, NONE outside */
    group_t *groups;
    uint32_t ngroups;
    core_t *cores;
    uint32_t ncores;
    nsplit_t *ns;   /* nregion * (K + 1) */
    epairs_t *ep;   /* pred CSR entries * (K + 1) */
    pairvec_t pairs;
    lct_map_t evmap, memomap;
    LCT_VEC(evres_t) evals;
    LCT_VEC(memo_t) memos;
    lct_graph_t *scratch;
    cand_t cand;
    uint32_t nevals, nhits;
    char msgbuf[256];
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------------------ planner setup */

typedef struct {
    double start;
    uint32_t tpos, id;
} okey_t;

static int okey_cmp(const void *pa, const void *pb)
{
    const okey_t *a = pa, *b = pb;
    if (a->start != b->start)
        return a->start < b->start ? -1 : 1;
    return a->tpos < b->tpos ? -1 : a->tpos > b->tpos;
}

static bool is_fwd_a2a(const lct_node_t *n)
{
    return n->kind == LCT_NODE_COLLECTIVE && n->coll.op == LCT_COLL_ALLTOALL &&
           n->phase == LCT_PHASE_FORWARD;
}

static double span_dur(const lct_pipe_planner_t *p, uint32_t first, uint32_t end)
{
    double t0 = INFINITY, t1 = -INFINITY;
    for (uint32_t q = first; q < end; q++) {
        uint32_t v = p->order[q];
        t0 = fmin(t0, p->base.start[v]);
        t1 = fmax(t1, p->base.end[v]);
    }
    return end > first && t1 > t0 ? t1 - t0 : 0.0;
}

static lct_status_t push_group(lct_pipe_planner_t *p, uint32_t first, uint32_t end, int32_t core,
                               uint32_t *cap)
{
    if (p->ngroups == *cap) {
        uint32_t nc = *cap ? *cap * 2 : 64;
        group_t *ng = realloc(p->groups, nc * sizeof(*ng));
        if (!ng)
            return LCT_ERR_NOMEM;
        p->groups = ng;
        *cap = nc;
    }
    p->groups[p->ngroups++] = (group_t){first, end, span_dur(p, first, end), core};
    return LCT_OK;
}

/* Cut the segment [a, b) into groups of at least gamma us at valid cuts. */
static lct_status_t make_groups(lct_pipe_planner_t *p, const bool *cut, uint32_t a, uint32_t b,
                                double gamma, uint32_t *cap)
{
    uint32_t start = a;
    for (uint32_t q = a + 1; q <= b; q++) {
        if (q < b && !cut[q])
            continue;
        if (q == b || span_dur(p, start, q) >= gamma) {
            if (q > start)
                LCT_CHECK(push_group(p, start, q, -1, cap));
            start = q;
        }
    }
    return LCT_OK;
}

static lct_status_t planner_layout(lct_pipe_planner_t *p)
{
    lct_graph_t *g = p->g;
    uint32_t n = p->n;
    lct_status_t st = LCT_OK;
    okey_t *key = malloc(((size_t)n + 1) * sizeof(*key));
    uint32_t *tpos = malloc(((size_t)n + 1) * sizeof(*tpos));
    double *sufmin = malloc(((size_t)n + 2) * sizeof(*sufmin));
    bool *cut = calloc((size_t)n + 2, sizeof(*cut));
    p->order = malloc(((size_t)n + 1) * sizeof(*p->order));
    p->pos = malloc(((size_t)n + 1) * sizeof(*p->pos));
    p->cores = calloc((size_t)n + 1, sizeof(*p->cores));
    uint32_t gcap = 0;
    if (!key || !tpos || !sufmin || !cut || !p->order || !p->pos || !p->cores) {
        st = LCT_ERR_NOMEM;
        goto out;
    }
    for (uint32_t k = 0; k < n; k++)
        tpos[g->topo[k]] = k;
    for (uint32_t v = 0; v < n; v++)
        key[v] = (okey_t){p->base.start[v], tpos[v], v};
    qsort(key, n, sizeof(*key), okey_cmp);
    uint32_t last_fwd = NONE;
    for (uint32_t q = 0; q < n; q++) {
        p->order[q] = key[q].id;
        p->pos[key[q].id] = NONE;
        if (LCT_NODE(g, key[q].id)->phase == LCT_PHASE_FORWARD)
            last_fwd = q;
    }
    if (last_fwd == NONE)
        goto out;
    /* valid cuts: everything before ends no later than anything after starts */
    sufmin[n] = INFINITY;
    for (uint32_t q = n; q-- > 0;)
        sufmin[q] = fmin(sufmin[q + 1], p->base.start[p->order[q]]);
    double pre = -INFINITY;
    cut[0] = true;
    for (uint32_t q = 1; q <= n; q++) {
        pre = fmax(pre, p->base.end[p->order[q - 1]]);
        cut[q] = pre <= sufmin[q] + 1e-9 * fabs(pre) + 1e-9;
    }
    uint32_t nr = last_fwd + 1;
    while (nr > 0 && !cut[nr])
        nr--;
    /* cores: per MoE ordinal the span of its forward a2a's, widened to valid cuts */
    for (uint32_t q = 0; q < nr; q++) {
        const lct_node_t *x = LCT_NODE(g, p->order[q]);
        if (!is_fwd_a2a(x))
            continue;
        uint32_t c = 0;
        while (c < p->ncores && !(x->moe >= 0 && p->cores[c].moe == x->moe))
            c++;
        if (c == p->ncores)
            p->cores[p->ncores++] = (core_t){x->moe, q, q + 1, 0};
        else
            p->cores[c].end = q + 1;
    }
    for (uint32_t c = 0; c < p->ncores; c++) {
        while (!cut[p->cores[c].first])
            p->cores[c].first--;
        while (!cut[p->cores[c].end])
            p->cores[c].end++;
    }
    /* sorted by start (insertion sort: few cores), overlapping cores merged */
    for (uint32_t c = 1; c < p->ncores; c++) {
        core_t x = p->cores[c];
        uint32_t d = c;
        while (d > 0 && p->cores[d - 1].first > x.first) {
            p->cores[d] = p->cores[d - 1];
            d--;
        }
        p->cores[d] = x;
    }
    uint32_t w = 0;
    for (uint32_t c = 0; c < p->ncores; c++) {
        if (w && p->cores[c].first < p->cores[w - 1].end) {
            if (p->cores[c].end > p->cores[w - 1].end)
                p->cores[w - 1].end = p->cores[c].end;
            continue;
        }
        p->cores[w++] = p->cores[c];
    }
    p->ncores = w;
    for (uint32_t c = 0; c < p->ncores; c++)
        if (p->cores[c].end > nr)
            nr = p->cores[c].end; /* a valid cut, like every core end */
    p->nregion = nr;
    for (uint32_t q = 0; q < nr; q++)
        p->pos[p->order[q]] = q;
    if (!p->ncores)
        goto out;
    /* groups */
    long G = lct_config_int(LCT_CFG_PIPELINE_GROUPS);
    if (G < 1)
        G = 5;
    double gsum = 0;
    for (uint32_t c = 1; c < p->ncores; c++)
        gsum += span_dur(p, p->cores[c - 1].end, p->cores[c].first) / (double)G;
    double gmean = p->ncores > 1 ? gsum / (p->ncores - 1) : 0;
    for (uint32_t c = 0; c <= p->ncores; c++) {
        uint32_t a = c ? p->cores[c - 1].end : 0, b = c < p->ncores ? p->cores[c].first : nr;
        double gamma = (c == 0 || c == p->ncores)
                           ? (gmean > 0 ? gmean : span_dur(p, a, b) / (double)G)
                           : span_dur(p, a, b) / (double)G;
        if (b > a)
            LCT_CHECK_GOTO(make_groups(p, cut, a, b, gamma, &gcap), st, out);
        if (c < p->ncores) {
            p->cores[c].group = p->ngroups;
            LCT_CHECK_GOTO(push_group(p, p->cores[c].first, p->cores[c].end, (int32_t)c, &gcap), st,
                           out);
        }
    }
out:
    free(key);
    free(tpos);
    free(sufmin);
    free(cut);
    return st;
}

/* Backward layout. Per MoE layer, the chain from its first backward all-to-all A1 to its last
 * A2: every node on a path from A1 to A2 (both included), which is the experts' input-gradient
 * work between them and the allocations it makes. The set is convex (a node on a path between
 * two members is a member), so it can be rewritten like a forward range; its nodes get
 * consecutive region positions in topological order, one core and one group each. Nothing else
 * of the backward is in the region: weight-gradient work stays outside. */
static lct_status_t planner_layout_bwd(lct_pipe_planner_t *p)
{
    lct_graph_t *g = p->g;
    uint32_t n = p->n, gcap = 0, nr = 0, nm = 0;
    lct_reach_t r;
    lct_status_t st = LCT_OK;
    uint32_t *a1 = malloc(((size_t)n + 1) * sizeof(uint32_t));
    uint32_t *a2 = malloc(((size_t)n + 1) * sizeof(uint32_t));
    int32_t *moe = malloc(((size_t)n + 1) * sizeof(int32_t));
    memset(&r, 0, sizeof(r));
    p->order = malloc(((size_t)n + 1) * sizeof(*p->order));
    p->pos = malloc(((size_t)n + 1) * sizeof(*p->pos));
    p->cores = calloc((size_t)n + 1, sizeof(*p->cores));
    if (!a1 || !a2 || !moe || !p->order || !p->pos || !p->cores) {
        st = LCT_ERR_NOMEM;
        goto out;
    }
    for (uint32_t v = 0; v < n; v++)
        p->pos[v] = NONE;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t v = g->topo[k];
        const lct_node_t *x = LCT_NODE(g, v);
        if (x->kind != LCT_NODE_COLLECTIVE || x->coll.op != LCT_COLL_ALLTOALL ||
            x->phase != LCT_PHASE_BACKWARD || x->moe < 0)
            continue;
        uint32_t m = 0;
        while (m < nm && moe[m] != x->moe)
            m++;
        if (m == nm) {
            moe[nm] = x->moe;
            a1[nm] = a2[nm] = v;
            nm++;
        } else {
            a2[m] = v; /* topological order: the later one */
        }
    }
    if (!nm)
        goto out;
    LCT_CHECK_GOTO(lct_reach_fill(g, &r), st, out);
    for (uint32_t m = 0; m < nm; m++) {
        if (a1[m] == a2[m] || !lct_reach_path(&r, a1[m], a2[m]))
            continue;
        uint32_t first = nr;
        for (uint32_t k = 0; k < n; k++) {
            uint32_t v = g->topo[k];
            if ((v == a1[m] || lct_reach_path(&r, a1[m], v)) &&
                (v == a2[m] || lct_reach_path(&r, v, a2[m])) && p->pos[v] == NONE) {
                p->order[nr] = v;
                p->pos[v] = nr++;
            }
        }
        p->cores[p->ncores] = (core_t){moe[m], first, nr, p->ngroups};
        LCT_CHECK_GOTO(push_group(p, first, nr, (int32_t)p->ncores, &gcap), st, out);
        p->ncores++;
    }
    p->nregion = nr;
out:
    lct_reach_free(&r);
    free(a1);
    free(a2);
    free(moe);
    return st;
}

void lct_pipe_planner_destroy(lct_pipe_planner_t *p)
{
    if (!p)
        return;
    lct_split_rules_destroy(p->rules);
    free(p->a2a);
    lct_arena_destroy(&p->arena);
    lct_sim_result_free(&p->base);
    free(p->pred_off);
    free(p->pred);
    free(p->order);
    free(p->pos);
    free(p->groups);
    free(p->cores);
    free(p->ns);
    free(p->ep);
    LCT_VEC_FREE(&p->pairs);
    lct_map_free(&p->evmap);
    lct_map_free(&p->memomap);
    LCT_VEC_FREE(&p->evals);
    LCT_VEC_FREE(&p->memos);
    lct_graph_destroy(p->scratch);
    LCT_VEC_FREE(&p->cand.items);
    LCT_VEC_FREE(&p->cand.edges);
    free(p->cand.base);
    free(p);
}

static lct_status_t planner_create(lct_graph_t *g, lct_plan_ctx_t *ctx, bool bwd,
                                   lct_pipe_planner_t **p_p)
{
    if (!g->adj_valid) {
        LCT_WARN("pipeline: adjacency of graph '%s' is not current", g->meta.name ? g->meta.name : "");
        return LCT_ERR_INVALID;
    }
    lct_pipe_planner_t *p = calloc(1, sizeof(*p));
    if (!p)
        return LCT_ERR_NOMEM;
    lct_status_t st;
    p->g = g;
    p->ctx = ctx;
    p->n = LCT_NNODES(g);
    int K = ctx->tutel_degree > 0 ? ctx->tutel_degree : ctx->pipeline_max_chunks;
    p->K = (uint32_t)(K < 1 ? 1 : K > MAX_K ? MAX_K : K);
    lct_arena_init(&p->arena, 1 << 20);
    lct_map_init(&p->evmap);
    lct_map_init(&p->memomap);
    LCT_CHECK_GOTO(lct_split_rules_create(&p->rules), st, fail);
    const char *rf = lct_config_str(LCT_CFG_SPLIT_RULES);
    if (rf && *rf) {
        char err[sizeof(ctx->report.pipe_rules_error)];
        if (lct_split_rules_load(p->rules, rf, err, sizeof(err)) != LCT_OK) {
            /* the message was logged; the built-in rules stay */
            snprintf(ctx->report.pipe_rules_error, sizeof(ctx->report.pipe_rules_error), "%s", err);
        }
    }
    p->sc.rules = p->rules;
    p->sc.curves = ctx->curves;
    p->sc.launch_us = ctx->dev ? ctx->dev->launch_us : 0.0;
    LCT_CHECK_GOTO(lct_split_ctx_fill(g, &p->sc, &p->a2a), st, fail);
    lct_sim_cfg_t cfg = {ctx->interference};
    LCT_CHECK_GOTO(lct_sim_run(g, &cfg, &p->base), st, fail);
    size_t npred = g->pred_off[p->n];
    p->pred_off = malloc(((size_t)p->n + 1) * sizeof(uint32_t));
    p->pred = malloc((npred ? npred : 1) * sizeof(uint32_t));
    if (!p->pred_off || !p->pred) {
        st = LCT_ERR_NOMEM;
        goto fail;
    }
    memcpy(p->pred_off, g->pred_off, ((size_t)p->n + 1) * sizeof(uint32_t));
    if (npred)
        memcpy(p->pred, g->pred, npred * sizeof(uint32_t));
    LCT_CHECK_GOTO(bwd ? planner_layout_bwd(p) : planner_layout(p), st, fail);
    p->ns = calloc((size_t)p->nregion * (p->K + 1) + 1, sizeof(*p->ns));
    p->ep = calloc(npred * (p->K + 1) + 1, sizeof(*p->ep));
    p->cand.base = malloc(((size_t)p->nregion + 1) * sizeof(uint32_t));
    if (!p->ns || !p->ep || !p->cand.base) {
        st = LCT_ERR_NOMEM;
        goto fail;
    }
    LCT_CHECK_GOTO(lct_graph_create(&p->scratch), st, fail);
    *p_p = p;
    return LCT_OK;
fail:
    if (st == LCT_ERR_NOMEM)
        LCT_WARN("pipeline: out of memory setting up the planner for %u nodes", p->n);
    lct_pipe_planner_destroy(p);
    return st;
}

lct_status_t lct_pipe_planner_create(lct_graph_t *g, lct_plan_ctx_t *ctx, lct_pipe_planner_t **p_p)
{
    return planner_create(g, ctx, false, p_p);
}

uint32_t lct_pipe_planner_ngroups(const lct_pipe_planner_t *p) { return p->ngroups; }

uint32_t lct_pipe_planner_ncores(const lct_pipe_planner_t *p, uint32_t j, uint32_t i)
{
    uint32_t c = 0;
    for (uint32_t q = j; q < i && q < p->ngroups; q++)
        c += p->groups[q].core >= 0;
    return c;
}

/* ------------------------------------------------------------------ splits and conflicts */

typedef struct {
    uint64_t lo, hi;
    uint32_t piece;
    uint8_t acc;
} ivl_t;

/* The ranges of a split's pieces sorted by start, with the running maximum of their ends, so
 * that the ranges overlapping a query are found by binary search. */
typedef struct ivset {
    ivl_t *iv;
    uint64_t *pmax;
    size_t n;
} ivset_t;

static int ivl_cmp(const void *pa, const void *pb)
{
    const ivl_t *a = pa, *b = pb;
    if (a->lo != b->lo)
        return a->lo < b->lo ? -1 : 1;
    return a->piece < b->piece ? -1 : a->piece > b->piece;
}

static lct_status_t ivset_build(lct_arena_t *ar, const lct_split_t *su, ivset_t **out)
{
    ivset_t *u = lct_arena_alloc(ar, sizeof(*u));
    if (!u)
        return LCT_ERR_NOMEM;
    size_t n = 0;
    for (uint32_t a = 0; a < su->npieces; a++)
        n += su->pieces[a].nranges;
    u->iv = lct_arena_alloc(ar, (n ? n : 1) * sizeof(ivl_t));
    u->pmax = lct_arena_alloc(ar, (n ? n : 1) * sizeof(uint64_t));
    if (!u->iv || !u->pmax)
        return LCT_ERR_NOMEM;
    n = 0;
    for (uint32_t a = 0; a < su->npieces; a++)
        for (uint32_t r = 0; r < su->pieces[a].nranges; r++) {
            const lct_range_t *x = &su->pieces[a].ranges[r];
            u->iv[n++] = (ivl_t){x->addr, x->addr + x->size, a, x->access};
        }
    qsort(u->iv, n, sizeof(ivl_t), ivl_cmp);
    for (size_t i = 0; i < n; i++)
        u->pmax[i] = i && u->pmax[i - 1] > u->iv[i].hi ? u->pmax[i - 1] : u->iv[i].hi;
    u->n = n;
    *out = u;
    return LCT_OK;
}

/* Conflicting piece pairs (a of the split behind U, b of sv) pushed to out; when same, only
 * a < b. nu: pieces behind U. */
static lct_status_t ivset_conflicts(const ivset_t *U, uint32_t nu, const lct_split_t *sv, bool same,
                                    pairvec_t *out)
{
    if (!U->n || !sv->npieces)
        return LCT_OK;
    uint8_t *mark = calloc((size_t)nu * sv->npieces + 1, 1);
    lct_status_t st = LCT_OK;
    if (!mark)
        return LCT_ERR_NOMEM;
    for (uint32_t b = 0; b < sv->npieces; b++)
        for (uint32_t r = 0; r < sv->pieces[b].nranges; r++) {
            const lct_range_t *y = &sv->pieces[b].ranges[r];
            uint64_t lo = y->addr, hi = y->addr + y->size;
            size_t l = 0, h = U->n;
            while (l < h) { /* first range whose running maximum end passes lo */
                size_t m = l + (h - l) / 2;
                if (U->pmax[m] <= lo)
                    l = m + 1;
                else
                    h = m;
            }
            for (size_t i = l; i < U->n && U->iv[i].lo < hi; i++)
                if (U->iv[i].hi > lo && ((U->iv[i].acc | y->access) & LCT_ACC_WRITE))
                    mark[(size_t)U->iv[i].piece * sv->npieces + b] = 1;
        }
    for (uint32_t a = 0; a < nu; a++)
        for (uint32_t b = same ? a + 1 : 0; b < sv->npieces; b++)
            if (mark[(size_t)a * sv->npieces + b] &&
                (st = LCT_VEC_PUSH(out, ((pair_t){a, b}))) != LCT_OK)
                goto out;
out:
    free(mark);
    return st;
}

/* The split of region node at position q with k chunks (cached). */
static lct_status_t get_split(lct_pipe_planner_t *p, uint32_t q, uint32_t k, nsplit_t **ns_p)
{
    nsplit_t *e = &p->ns[(size_t)q * (p->K + 1) + k];
    if (e->state) {
        *ns_p = e;
        return LCT_OK;
    }
    uint32_t v = p->order[q];
    const lct_split_t *follow = NULL;
    uint32_t f = lct_split_follow_source(p->g, v, &p->sc);
    if (f != NONE && p->pos[f] != NONE && p->pos[f] < q) {
        nsplit_t *fe;
        LCT_CHECK(get_split(p, p->pos[f], k, &fe));
        e = &p->ns[(size_t)q * (p->K + 1) + k];
        if (fe->state == 1)
            follow = &fe->sp;
    }
    lct_status_t st = lct_split_node(p->g, v, k, &p->sc, follow, &p->arena, &e->sp, &e->why,
                                     p->msgbuf, sizeof(p->msgbuf));
    if (st == LCT_ERR_UNSUPPORTED) {
        e->state = 2;
        e->msg = lct_arena_strdup(&p->arena, p->msgbuf);
        *ns_p = e;
        return LCT_OK;
    }
    LCT_CHECK(st);
    LCT_CHECK(ivset_build(&p->arena, &e->sp, &e->iv));
    e->pairs_off = (uint32_t)p->pairs.len;
    LCT_CHECK(ivset_conflicts(e->iv, e->sp.npieces, &e->sp, true, &p->pairs));
    e->npairs = (uint32_t)p->pairs.len - e->pairs_off;
    e->state = 1;
    *ns_p = e;
    return LCT_OK;
}

/* Chunk conflicts of the direct edge pred[ei] -> v (cached). */
static lct_status_t get_edge_pairs(lct_pipe_planner_t *p, uint32_t ei, const nsplit_t *su,
                                   const lct_split_t *sv, uint32_t k, epairs_t **e_p)
{
    epairs_t *e = &p->ep[(size_t)ei * (p->K + 1) + k];
    if (!e->state) {
        e->off = (uint32_t)p->pairs.len;
        LCT_CHECK(ivset_conflicts(su->iv, su->sp.npieces, sv, false, &p->pairs));
        e->n = (uint32_t)p->pairs.len - e->off;
        e->state = 1;
    }
    *e_p = e;
    return LCT_OK;
}

/* ------------------------------------------------------------------ candidates */

static uint8_t piece_cls(lct_node_kind_t kind)
{
    return kind == LCT_NODE_COLLECTIVE ? 2 : 1;
}

static lct_status_t cand_edge(cand_t *c, uint32_t a, uint32_t b)
{
    return LCT_VEC_PUSH(&c->edges, ((pair_t){a, b}));
}

/* Items of one range node: its pieces, or itself when kept whole (k = 1 or transparent). */
static lct_status_t cand_items(lct_pipe_planner_t *p, uint32_t q, uint32_t k, bool whole,
                               nsplit_t **ns_p, uint32_t *fail_p)
{
    cand_t *c = &p->cand;
    uint32_t v = p->order[q];
    const lct_node_t *n = LCT_NODE(p->g, v);
    *ns_p = NULL;
    if (whole || lct_split_is_transparent(n)) {
        uint8_t cls = lct_split_is_transparent(n) ? 0
                      : n->kind == LCT_NODE_COLLECTIVE ? 2
                      : (n->kind == LCT_NODE_KERNEL || n->kind == LCT_NODE_MEMCPY ||
                         n->kind == LCT_NODE_MEMSET)
                          ? 1
                          : 0;
        return LCT_VEC_PUSH(&c->items, ((item_t){v, NONE, 0, cls, n->cost_us}));
    }
    nsplit_t *e;
    LCT_CHECK(get_split(p, q, k, &e));
    if (e->state != 1) {
        *fail_p = q;
        return LCT_OK;
    }
    for (uint32_t a = 0; a < e->sp.npieces; a++) {
        const lct_split_piece_t *pc = &e->sp.pieces[a];
        LCT_CHECK(LCT_VEC_PUSH(&c->items, ((item_t){v, a, pc->chunk, piece_cls(pc->kind),
                                                    pc->cost_us})));
    }
    *ns_p = e;
    return LCT_OK;
}

/* An allocation kept whole after a split node waits for the pieces whose footprints meet its
 * own (address reuse) and for the first chunk's pieces (it is not hoisted above the work it
 * followed), not for every piece: an allocation made for the next node of a chunk pipeline
 * would otherwise make every chunk of that node wait for every chunk of this one. Any other
 * node kept whole waits for every piece. */
static bool alloc_needs_piece(const lct_graph_t *g, uint32_t v, const lct_split_piece_t *pc)
{
    const lct_node_t *n = LCT_NODE(g, v);
    if (n->kind != LCT_NODE_MEM_ALLOC || n->fp.unknown || pc->chunk == 0)
        return true;
    lct_footprint_t f = {false, pc->nranges, pc->ranges};
    return lct_footprints_conflict(&f, &n->fp);
}

/* Build the candidate of region positions [first, end) cut k ways (k = 1: unsplit). full: edges
 * from every conflicting pair of the range (the rewrite); otherwise from direct dependencies (the
 * cost). *fail_p: region position of a node that cannot be split, NONE when all can. */
static lct_status_t cand_build(lct_pipe_planner_t *p, uint32_t first, uint32_t end, uint32_t k,
                               bool full, uint32_t *fail_p)
{
    cand_t *c = &p->cand;
    c->items.len = 0;
    c->edges.len = 0;
    c->nbase = end - first;
    *fail_p = NONE;
    nsplit_t **nsv = calloc((size_t)(end - first) + 1, sizeof(*nsv));
    lct_status_t st = LCT_OK;
    if (!nsv)
        return LCT_ERR_NOMEM;
    for (uint32_t q = first; q < end; q++) {
        c->base[q - first] = (uint32_t)c->items.len;
        LCT_CHECK_GOTO(cand_items(p, q, k, k == 1, &nsv[q - first], fail_p), st, out);
        if (*fail_p != NONE)
            goto out;
    }
    c->base[end - first] = (uint32_t)c->items.len;
    for (uint32_t q = first; q < end; q++) {
        uint32_t v = p->order[q], bv = c->base[q - first], nv = c->base[q - first + 1] - bv;
        nsplit_t *sv = nsv[q - first];
        if (sv) /* conflicts among the node's own chunks */
            for (uint32_t x = 0; x < sv->npairs; x++) {
                pair_t pr = p->pairs.data[sv->pairs_off + x];
                LCT_CHECK_GOTO(cand_edge(c, bv + pr.a, bv + pr.b), st, out);
            }
        for (uint32_t ei = p->pred_off[v]; ei < p->pred_off[v + 1]; ei++) {
            uint32_t u = p->pred[ei], pu = p->pos[u];
            if (pu == NONE || pu < first || pu >= end)
                continue;
            uint32_t bu = c->base[pu - first], nu = c->base[pu - first + 1] - bu;
            nsplit_t *su = nsv[pu - first];
            if (!su || !sv) { /* a node kept whole: every piece on the other side */
                for (uint32_t a = 0; a < nu; a++) {
                    if (su && !sv && !alloc_needs_piece(p->g, v, &su->sp.pieces[a]))
                        continue;
                    for (uint32_t b = 0; b < nv; b++)
                        LCT_CHECK_GOTO(cand_edge(c, bu + a, bv + b), st, out);
                }
                continue;
            }
            size_t mark = c->edges.len;
            if (!full) {
                epairs_t *ep;
                LCT_CHECK_GOTO(get_edge_pairs(p, ei, su, &sv->sp, k, &ep), st, out);
                for (uint32_t x = 0; x < ep->n; x++) {
                    pair_t pr = p->pairs.data[ep->off + x];
                    LCT_CHECK_GOTO(cand_edge(c, bu + pr.a, bv + pr.b), st, out);
                }
            }
            /* chunk i follows chunk i where the dependency maps to no conflicting pair (full
             * mode adds the conflicts below; a piece with an edge from u is covered there) */
            bool *has = calloc(nv + 1, sizeof(bool));
            if (!has) {
                st = LCT_ERR_NOMEM;
                goto out;
            }
            for (size_t x = mark; x < c->edges.len; x++)
                has[c->edges.data[x].b - bv] = true;
            if (full) {
                pairvec_t tmp = {NULL, 0, 0};
                st = ivset_conflicts(su->iv, su->sp.npieces, &sv->sp, false, &tmp);
                for (size_t x = 0; st == LCT_OK && x < tmp.len; x++)
                    has[tmp.data[x].b] = true;
                LCT_VEC_FREE(&tmp);
                if (st != LCT_OK) {
                    free(has);
                    goto out;
                }
            }
            for (uint32_t b = 0; b < nv && st == LCT_OK; b++) {
                if (has[b])
                    continue;
                uint16_t ch = sv->sp.pieces[b].chunk;
                for (uint32_t a = su->sp.chunk_off[ch]; a < su->sp.chunk_off[ch + 1] && st == LCT_OK; a++)
                    st = cand_edge(c, bu + a, bv + b);
            }
            free(has);
            if (st != LCT_OK)
                goto out;
        }
    }
    if (full) {
        /* every conflicting pair of split nodes of the range, in region order */
        for (uint32_t qv = first; qv < end; qv++) {
            nsplit_t *sv = nsv[qv - first];
            const lct_node_t *nv = LCT_NODE(p->g, p->order[qv]);
            if (!sv && nv->kind == LCT_NODE_MEM_ALLOC) {
                /* an allocation kept whole follows every earlier piece that touches its bytes
                 * (its edge from a predecessor's join is re-anchored in rewrite_range) */
                for (uint32_t qu = first; qu < qv; qu++) {
                    nsplit_t *su = nsv[qu - first];
                    if (!su || !lct_footprints_conflict(&LCT_NODE(p->g, p->order[qu])->fp, &nv->fp))
                        continue;
                    for (uint32_t a = 0; a < su->sp.npieces; a++) {
                        const lct_split_piece_t *pc = &su->sp.pieces[a];
                        lct_footprint_t f = {false, pc->nranges, pc->ranges};
                        if (lct_footprints_conflict(&f, &nv->fp))
                            LCT_CHECK_GOTO(cand_edge(c, c->base[qu - first] + a, c->base[qv - first]),
                                           st, out);
                    }
                }
                continue;
            }
            if (!sv)
                continue;
            for (uint32_t qu = first; qu < qv; qu++) {
                nsplit_t *su = nsv[qu - first];
                if (!su || !lct_footprints_conflict(&LCT_NODE(p->g, p->order[qu])->fp, &nv->fp))
                    continue;
                size_t mark = c->edges.len;
                LCT_CHECK_GOTO(ivset_conflicts(su->iv, su->sp.npieces, &sv->sp, false, &c->edges), st,
                               out);
                for (size_t x = mark; x < c->edges.len; x++) {
                    c->edges.data[x].a += c->base[qu - first];
                    c->edges.data[x].b += c->base[qv - first];
                }
            }
        }
    }
out:
    free(nsv);
    return st;
}

/* ------------------------------------------------------------------ list schedule */

/* Compute priorities of the list schedule; the cost of a candidate is the better of the two.
 * CHUNK: the lowest chunk first, so chunk 0 reaches its all-to-all as early as possible and
 * each chunk's work follows (the paper's round-robin over partitions); LEVEL: the longest path to
 * the end of the range first (critical-path list scheduling). */
enum { POLICY_CHUNK = 0, POLICY_LEVEL = 1, NPOLICIES = 2 };

typedef struct {
    double bl;
    uint32_t chunk, id;
    int policy;
} rkey_t;

static bool rless(const rkey_t *a, const rkey_t *b)
{
    if (a->policy == POLICY_CHUNK && a->chunk != b->chunk)
        return a->chunk < b->chunk;
    if (a->bl != b->bl)
        return a->bl > b->bl;
    if (a->chunk != b->chunk)
        return a->chunk < b->chunk;
    return a->id < b->id;
}

static void rpush(rkey_t *h, uint32_t *len, rkey_t x)
{
    uint32_t i = (*len)++;
    while (i > 0) {
        uint32_t par = (i - 1) / 2;
        if (!rless(&x, &h[par]))
            break;
        h[i] = h[par];
        i = par;
    }
    h[i] = x;
}

static rkey_t rpop(rkey_t *h, uint32_t *len)
{
    rkey_t top = h[0], last = h[--(*len)];
    uint32_t i = 0;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= *len)
            break;
        if (c + 1 < *len && rless(&h[c + 1], &h[c]))
            c++;
        if (!rless(&h[c], &last))
            break;
        h[i] = h[c];
        i = c;
    }
    if (*len)
        h[i] = last;
    return top;
}

/* Order of the compute items and of the collective items (the chains). corder / morder hold
 * item indices (caller frees). Items are in topological order, edges go forward. */
static lct_status_t list_schedule(const cand_t *c, int policy, uint32_t **corder_p, uint32_t *nc_p,
                                  uint32_t **morder_p, uint32_t *nm_p)
{
    uint32_t n = (uint32_t)c->items.len, ne = (uint32_t)c->edges.len;
    const item_t *it = c->items.data;
    uint32_t *off = calloc((size_t)n + 2, sizeof(uint32_t)), *succ = malloc(((size_t)ne + 1) * sizeof(uint32_t));
    uint32_t *indeg = calloc((size_t)n + 1, sizeof(uint32_t));
    double *bl = malloc(((size_t)n + 1) * sizeof(double));
    rkey_t *heap = malloc(((size_t)n + 1) * sizeof(rkey_t));
    uint32_t *corder = malloc(((size_t)n + 1) * sizeof(uint32_t)), *morder = malloc(((size_t)n + 1) * sizeof(uint32_t));
    uint32_t *stack = malloc(((size_t)n + 1) * sizeof(uint32_t));
    bool *ready = calloc((size_t)n + 1, sizeof(bool));
    lct_status_t st = LCT_OK;
    uint32_t nc = 0, nm = 0, hl = 0, sp = 0, done = 0, mi = 0;
    if (!off || !succ || !indeg || !bl || !heap || !corder || !morder || !stack || !ready) {
        st = LCT_ERR_NOMEM;
        goto out;
    }
    for (uint32_t e = 0; e < ne; e++) {
        off[c->edges.data[e].a + 1]++;
        indeg[c->edges.data[e].b]++;
    }
    for (uint32_t v = 0; v < n; v++)
        off[v + 1] += off[v];
    {
        uint32_t *fill = malloc(((size_t)n + 1) * sizeof(uint32_t));
        if (!fill) {
            st = LCT_ERR_NOMEM;
            goto out;
        }
        memcpy(fill, off, (size_t)n * sizeof(uint32_t));
        for (uint32_t e = 0; e < ne; e++)
            succ[fill[c->edges.data[e].a]++] = c->edges.data[e].b;
        free(fill);
    }
    for (uint32_t v = n; v-- > 0;) {
        double m = 0;
        for (uint32_t k = off[v]; k < off[v + 1]; k++)
            m = fmax(m, bl[succ[k]]);
        bl[v] = m + (it[v].cls ? it[v].cost : 0.0);
    }
    /* the collective order: item order (original launch order, then chunk) */
    uint32_t *mseq = morder;
    for (uint32_t v = 0; v < n; v++)
        if (it[v].cls == 2)
            mseq[nm++] = v;
    double t = 0, tc = 0, tm = 0;
    uint32_t cur_c = NONE, cur_m = NONE;
#define RELEASE(x)                                                                                 \
    do {                                                                                           \
        uint32_t x_ = (x);                                                                         \
        ready[x_] = true;                                                                          \
        if (it[x_].cls == 0)                                                                       \
            stack[sp++] = x_;                                                                      \
        else if (it[x_].cls == 1)                                                                  \
            rpush(heap, &hl, (rkey_t){bl[x_], it[x_].chunk, x_, policy});                          \
    } while (0)
#define FINISH(x)                                                                                  \
    do {                                                                                           \
        uint32_t f_ = (x);                                                                         \
        done++;                                                                                    \
        for (uint32_t k_ = off[f_]; k_ < off[f_ + 1]; k_++)                                        \
            if (--indeg[succ[k_]] == 0)                                                            \
                RELEASE(succ[k_]);                                                                 \
    } while (0)
    for (uint32_t v = 0; v < n; v++)
        if (!indeg[v])
            RELEASE(v);
    for (;;) {
        while (sp)
            FINISH(stack[--sp]);
        if (done == n)
            break;
        if (cur_c == NONE && hl) {
            rkey_t x = rpop(heap, &hl);
            cur_c = x.id;
            tc = t + it[cur_c].cost;
            corder[nc++] = cur_c;
        }
        if (cur_m == NONE && mi < nm && ready[mseq[mi]]) {
            cur_m = mseq[mi++];
            tm = t + it[cur_m].cost;
        }
        if (cur_c == NONE && cur_m == NONE) {
            LCT_WARN("pipeline: list schedule stalled with %u of %u items done", done, n);
            st = LCT_ERR_INTERNAL;
            goto out;
        }
        t = cur_c == NONE ? tm : cur_m == NONE ? tc : fmin(tc, tm);
        if (cur_c != NONE && tc <= t) {
            uint32_t x = cur_c;
            cur_c = NONE;
            FINISH(x);
        }
        if (cur_m != NONE && tm <= t) {
            uint32_t x = cur_m;
            cur_m = NONE;
            FINISH(x);
        }
    }
#undef RELEASE
#undef FINISH
    *corder_p = corder;
    *nc_p = nc;
    *morder_p = morder;
    *nm_p = nm;
    corder = morder = NULL;
out:
    free(off);
    free(succ);
    free(indeg);
    free(bl);
    free(heap);
    free(corder);
    free(morder);
    free(stack);
    free(ready);
    return st;
}

/* ------------------------------------------------------------------ candidate simulation */

static uint64_t cand_signature(const lct_pipe_planner_t *p, uint32_t k)
{
    const cand_t *c = &p->cand;
    uint64_t h = lct_hash_u64(k + 0x1000ull * c->items.len);
    for (size_t x = 0; x < c->items.len; x++) {
        const item_t *it = &c->items.data[x];
        const lct_node_t *n = LCT_NODE(p->g, it->node);
        uint64_t bits;
        memcpy(&bits, &it->cost, sizeof(bits));
        h = lct_hash_combine(h, bits);
        h = lct_hash_combine(h, (uint64_t)it->cls | (uint64_t)it->chunk << 8 |
                                    (uint64_t)n->kind << 24 | (uint64_t)n->coll.op << 32);
        if (n->kind == LCT_NODE_MEM_ALLOC || n->kind == LCT_NODE_MEM_FREE) {
            /* which earlier item holds the same address: the alloc/free matching the peak uses */
            uint64_t addr = n->fp.nranges ? n->fp.ranges[0].addr : 0, same = x;
            for (size_t y = 0; y < x; y++) {
                const lct_node_t *m = LCT_NODE(p->g, c->items.data[y].node);
                if ((m->kind == LCT_NODE_MEM_ALLOC || m->kind == LCT_NODE_MEM_FREE) &&
                    m->fp.nranges && m->fp.ranges[0].addr == addr) {
                    same = y;
                    break;
                }
            }
            h = lct_hash_combine(h, n->mem_bytes ^ (same << 40) ^ (uint64_t)(n->fp.nranges > 0));
        }
    }
    for (size_t e = 0; e < c->edges.len; e++)
        h = lct_hash_combine(h, (uint64_t)c->edges.data[e].a << 32 | c->edges.data[e].b);
    return h;
}

/* Simulate the current candidate under one list-schedule policy. */
static lct_status_t cand_sim(lct_pipe_planner_t *p, uint32_t k, int policy, evres_t *res)
{
    cand_t *c = &p->cand;
    uint32_t *corder = NULL, *morder = NULL, nc = 0, nm = 0;
    lct_status_t st;
    lct_sim_result_t r;
    memset(&r, 0, sizeof(r));
    /* k = 1 is the range as the step runs it now: its true dependencies only, no chains */
    if (k >= 2)
        LCT_CHECK(list_schedule(c, policy, &corder, &nc, &morder, &nm));
    lct_graph_t *s = p->scratch;
    s->nodes.len = 0;
    s->edges.len = 0;
    s->adj_valid = false;
    LCT_CHECK_GOTO(LCT_VEC_RESERVE(&s->nodes, c->items.len + 1), st, out);
    for (size_t x = 0; x < c->items.len; x++) {
        const item_t *it = &c->items.data[x];
        const lct_node_t *o = LCT_NODE(p->g, it->node);
        lct_node_t nd;
        memset(&nd, 0, sizeof(nd));
        nd.name = "c";
        nd.lib = "generic";
        nd.launch_order = (uint32_t)x;
        nd.layer = nd.moe = nd.parent = -1;
        nd.nchunks = 1;
        nd.cost_us = it->cost;
        nd.phase = o->phase;
        if (it->piece == NONE) {
            nd.kind = o->kind;
            nd.coll.op = o->coll.op;
            if (o->kind == LCT_NODE_MEM_ALLOC || o->kind == LCT_NODE_MEM_FREE) {
                nd.fp = o->fp; /* read only, for the peak: alloc and free match by address */
                nd.mem_bytes = o->mem_bytes;
            }
        } else {
            nd.kind = it->cls == 2 ? LCT_NODE_COLLECTIVE : LCT_NODE_KERNEL;
            nd.coll.op = it->cls == 2 ? o->coll.op : LCT_COLL_NONE;
        }
        s->nodes.data[s->nodes.len++] = nd;
    }
    for (size_t e = 0; e < c->edges.len; e++)
        LCT_CHECK_GOTO(lct_graph_add_edge(s, c->edges.data[e].a, c->edges.data[e].b, LCT_EDGE_DATA),
                       st, out);
    for (uint32_t x = 1; x < nc; x++)
        LCT_CHECK_GOTO(lct_graph_add_edge(s, corder[x - 1], corder[x], LCT_EDGE_SCHED), st, out);
    for (uint32_t x = 1; x < nm; x++)
        LCT_CHECK_GOTO(lct_graph_add_edge(s, morder[x - 1], morder[x], LCT_EDGE_SCHED), st, out);
    LCT_CHECK_GOTO(lct_graph_fill_adj(s), st, out);
    lct_sim_cfg_t cfg = {p->ctx->interference};
    LCT_CHECK_GOTO(lct_sim_run(s, &cfg, &r), st, out);
    *res = (evres_t){r.makespan, 0, r.peak_mem_bytes, policy};
    for (uint32_t a = 0; a < r.na2a; a++)
        res->exposed += r.a2a_exposed[a];
out:
    lct_sim_result_free(&r);
    free(corder);
    free(morder);
    return st;
}

/* Simulate the current candidate under every policy and keep the best (cached by signature). */
static lct_status_t cand_eval(lct_pipe_planner_t *p, uint32_t k, evres_t *res)
{
    uint64_t sig = cand_signature(p, k), idx;
    if (lct_map_get(&p->evmap, sig, &idx)) {
        p->nhits++;
        *res = p->evals.data[idx];
        return LCT_OK;
    }
    evres_t best = {INFINITY, 0, 0, 0};
    for (int pol = 0; pol < (k >= 2 ? NPOLICIES : 1); pol++) {
        evres_t ev;
        LCT_CHECK(cand_sim(p, k, pol, &ev));
        if (ev.makespan < best.makespan)
            best = ev;
    }
    LCT_CHECK(LCT_VEC_PUSH(&p->evals, best));
    LCT_CHECK(lct_map_put(&p->evmap, sig, p->evals.len - 1));
    p->nevals++;
    *res = best;
    return LCT_OK;
}

static bool range_has_mem(const lct_pipe_planner_t *p, uint32_t first, uint32_t end)
{
    for (uint32_t q = first; q < end; q++) {
        lct_node_kind_t kd = LCT_NODE(p->g, p->order[q])->kind;
        if (kd == LCT_NODE_MEM_ALLOC || kd == LCT_NODE_MEM_FREE)
            return true;
    }
    return false;
}

/* Cost of groups [j, i) at k, memoised. */
static lct_status_t range_eval(lct_pipe_planner_t *p, uint32_t j, uint32_t i, uint32_t k,
                               memo_t *m_p)
{
    uint64_t key = ((uint64_t)j * (p->ngroups + 1) + i) * (MAX_K + 1) + k, idx;
    if (lct_map_get(&p->memomap, key, &idx)) {
        *m_p = p->memos.data[idx];
        return LCT_OK;
    }
    memo_t m = {true, LCT_SPLIT_OK, NONE, NULL, 0, 0};
    for (uint32_t q = j; q < i; q++)
        m.cost += p->groups[q].dur;
    if (k >= 2) {
        uint32_t first = p->groups[j].first, end = p->groups[i - 1].end, fail;
        LCT_CHECK(cand_build(p, first, end, k, false, &fail));
        if (fail != NONE) {
            nsplit_t *e = &p->ns[(size_t)fail * (p->K + 1) + k];
            m = (memo_t){false, e->why, p->order[fail], e->msg, INFINITY, 0};
        } else {
            evres_t ev;
            LCT_CHECK(cand_eval(p, k, &ev));
            m.cost = ev.makespan;
            m.policy = ev.policy;
            if (range_has_mem(p, first, end)) {
                evres_t ev0;
                LCT_CHECK(cand_build(p, first, end, 1, false, &fail));
                LCT_CHECK(cand_eval(p, 1, &ev0));
                if (ev.peak - ev0.peak > (double)p->ctx->mem_budget_bytes) {
                    snprintf(p->msgbuf, sizeof(p->msgbuf),
                             "%u chunks add %.0f bytes of live memory (budget %llu bytes)", k,
                             ev.peak - ev0.peak, (unsigned long long)p->ctx->mem_budget_bytes);
                    m = (memo_t){false, LCT_SPLIT_MEMORY, p->order[first],
                                 lct_arena_strdup(&p->arena, p->msgbuf), INFINITY, 0};
                }
            }
        }
    }
    LCT_CHECK(LCT_VEC_PUSH(&p->memos, m));
    LCT_CHECK(lct_map_put(&p->memomap, key, p->memos.len - 1));
    *m_p = m;
    return LCT_OK;
}

lct_status_t lct_pipe_planner_cost(lct_pipe_planner_t *p, uint32_t j, uint32_t i, uint32_t k,
                                   double *cost_p, bool *ok_p)
{
    if (j >= i || i > p->ngroups || k < 1 || k > p->K)
        return LCT_ERR_INVALID;
    memo_t m;
    LCT_CHECK(range_eval(p, j, i, k, &m));
    *cost_p = m.cost;
    *ok_p = m.ok;
    return LCT_OK;
}

/* ------------------------------------------------------------------ the DP */

/* Groups of the core before group index g (exclusive bound for a range's start). */
static uint32_t prev_core_end(const lct_pipe_planner_t *p, uint32_t gc)
{
    for (uint32_t q = gc; q-- > 0;)
        if (p->groups[q].core >= 0)
            return q + 1;
    return 0;
}

lct_status_t lct_pipe_planner_dp(lct_pipe_planner_t *p, uint32_t max_k, lct_pipe_range_t **r_p,
                                 uint32_t *n_p, double *total_p)
{
    uint32_t N = p->ngroups;
    if (max_k > p->K)
        max_k = p->K;
    if (max_k < 1)
        max_k = 1;
    double *dp = malloc(((size_t)N + 1) * sizeof(double));
    lct_pipe_range_t *from = malloc(((size_t)N + 1) * sizeof(*from));
    lct_pipe_range_t *out = malloc(((size_t)N + 1) * sizeof(*out));
    lct_status_t st = LCT_OK;
    if (!dp || !from || !out) {
        st = LCT_ERR_NOMEM;
        goto fail;
    }
    dp[0] = 0;
    uint32_t last_core = NONE;
    for (uint32_t i = 1; i <= N; i++) {
        dp[i] = INFINITY;
        const group_t *gi = &p->groups[i - 1];
        if (gi->core >= 0)
            last_core = i - 1;
        else {
            dp[i] = dp[i - 1] + gi->dur;
            from[i] = (lct_pipe_range_t){i - 1, i, 1, gi->dur};
        }
        if (last_core == NONE)
            continue;
        /* ranges [j, i) holding the one core last_core: j from the core down to the previous core */
        uint32_t lo = prev_core_end(p, last_core);
        for (uint32_t j = last_core + 1; j-- > lo;) {
            for (uint32_t k = 1; k <= max_k; k++) {
                memo_t m;
                LCT_CHECK_GOTO(range_eval(p, j, i, k, &m), st, fail);
                if (m.ok && dp[j] + m.cost < dp[i]) {
                    dp[i] = dp[j] + m.cost;
                    from[i] = (lct_pipe_range_t){j, i, k, m.cost};
                }
            }
        }
    }
    uint32_t nr = 0;
    for (uint32_t i = N; i > 0; i = from[i].first)
        out[nr++] = from[i];
    for (uint32_t a = 0, b = nr ? nr - 1 : 0; a < b; a++, b--) {
        lct_pipe_range_t t = out[a];
        out[a] = out[b];
        out[b] = t;
    }
    *total_p = dp[N];
    *r_p = out;
    *n_p = nr;
    free(dp);
    free(from);
    return LCT_OK;
fail:
    free(dp);
    free(from);
    free(out);
    return st;
}

/* ------------------------------------------------------------------ rewrite */

static lct_status_t copy_piece(lct_graph_t *g, uint32_t id, const lct_split_piece_t *pc)
{
    lct_node_t *n = LCT_NODE(g, id);
    n->call = pc->call;
    if (n->call.kind == LCT_CALL_KERNEL && n->call.u.kernel.param_bytes) {
        n->call.u.kernel.param_data =
            lct_arena_memdup(&g->arena, pc->call.u.kernel.param_data, pc->call.u.kernel.param_bytes);
        if (!n->call.u.kernel.param_data)
            return LCT_ERR_NOMEM;
    }
    if (n->kind == LCT_NODE_COLLECTIVE) {
        n->coll = pc->coll;
        if (pc->coll.npeers &&
            !(n->coll.peers = lct_arena_memdup(&g->arena, pc->coll.peers,
                                               pc->coll.npeers * sizeof(lct_peer_t))))
            return LCT_ERR_NOMEM;
    }
    n->fp.unknown = false;
    n->fp.nranges = pc->nranges;
    n->fp.ranges = NULL;
    if (pc->nranges &&
        !(n->fp.ranges = lct_arena_memdup(&g->arena, pc->ranges, pc->nranges * sizeof(lct_range_t))))
        return LCT_ERR_NOMEM;
    return LCT_OK;
}

/* Region position of node v, NONE outside the region or for a node added after the planner was
 * made (a piece of a range rewritten earlier: an edge re-anchored to it may come from one). */
static uint32_t pos_of(const lct_pipe_planner_t *p, uint32_t v)
{
    return v < p->n ? p->pos[v] : NONE;
}

/* Replace region positions [first, end) by k chunk pipelines. */
static lct_status_t rewrite_range(lct_pipe_planner_t *p, uint32_t first, uint32_t end, uint32_t k,
                                  int policy, size_t orig_edges, uint32_t *added_p)
{
    lct_graph_t *g = p->g;
    cand_t *c = &p->cand;
    uint32_t fail, *corder = NULL, *morder = NULL, nc = 0, nm = 0, *newid = NULL;
    lct_status_t st;
    LCT_CHECK(cand_build(p, first, end, k, true, &fail));
    if (fail != NONE) {
        LCT_WARN("pipeline: node %u (%s) of a chosen range cannot be split", p->order[fail],
                 LCT_NODE(g, p->order[fail])->name);
        return LCT_ERR_INTERNAL;
    }
    LCT_CHECK(list_schedule(c, policy, &corder, &nc, &morder, &nm));
    uint32_t ni = (uint32_t)c->items.len;
    newid = malloc(((size_t)ni + 1) * sizeof(uint32_t));
    if (!newid) {
        st = LCT_ERR_NOMEM;
        goto out;
    }
    for (uint32_t x = 0; x < ni; x++) {
        const item_t *it = &c->items.data[x];
        if (it->piece == NONE) {
            newid[x] = it->node;
            continue;
        }
        nsplit_t *e = &p->ns[(size_t)p->pos[it->node] * (p->K + 1) + k];
        const lct_split_piece_t *pc = &e->sp.pieces[it->piece];
        uint32_t npc = e->sp.chunk_off[pc->chunk + 1] - e->sp.chunk_off[pc->chunk];
        char name[256];
        if (npc > 1)
            snprintf(name, sizeof(name), "%s#%u.%u", LCT_NODE(g, it->node)->name, pc->chunk,
                     it->piece - e->sp.chunk_off[pc->chunk]);
        else
            snprintf(name, sizeof(name), "%s#%u", LCT_NODE(g, it->node)->name, pc->chunk);
        uint32_t id;
        LCT_CHECK_GOTO(lct_graph_add_node(g, pc->kind, name, &id), st, out);
        lct_node_t *nd = LCT_NODE(g, id);
        const lct_node_t *par = LCT_NODE(g, it->node);
        nd->lib = par->lib;
        nd->stream = par->stream;
        nd->launch_order = par->launch_order;
        nd->flags = par->flags | LCT_NODE_F_SPLIT;
        nd->cost_us = pc->cost_us;
        nd->cost_src = pc->kind == LCT_NODE_COLLECTIVE && p->sc.curves ? LCT_COST_CURVE
                                                                        : LCT_COST_MODELLED;
        nd->phase = par->phase;
        nd->role = par->role;
        nd->layer = par->layer;
        nd->moe = par->moe;
        nd->parent = (int32_t)it->node;
        nd->chunk = pc->chunk;
        nd->nchunks = (uint16_t)k;
        LCT_CHECK_GOTO(copy_piece(g, id, pc), st, out);
        newid[x] = id;
        (*added_p)++;
    }
    for (size_t e = 0; e < c->edges.len; e++)
        LCT_CHECK_GOTO(lct_graph_add_edge(g, newid[c->edges.data[e].a], newid[c->edges.data[e].b],
                                          LCT_EDGE_DATA),
                       st, out);
    for (uint32_t x = 1; x < nc; x++)
        LCT_CHECK_GOTO(lct_graph_add_edge(g, newid[corder[x - 1]], newid[corder[x]], LCT_EDGE_SCHED),
                       st, out);
    for (uint32_t x = 1; x < nm; x++)
        LCT_CHECK_GOTO(lct_graph_add_edge(g, newid[morder[x - 1]], newid[morder[x]], LCT_EDGE_SCHED),
                       st, out);
    /* predecessors outside the range precede every piece; every piece joins its original */
    for (size_t e = 0; e < orig_edges; e++) {
        lct_edge_t ed = g->edges.data[e];
        uint32_t pd = pos_of(p, ed.dst), ps = pos_of(p, ed.src);
        if (pd == NONE || pd < first || pd >= end || (ps != NONE && ps >= first && ps < end))
            continue;
        uint32_t b0 = c->base[pd - first], b1 = c->base[pd - first + 1];
        if (c->items.data[b0].piece == NONE)
            continue; /* kept whole: its own edges stand */
        for (uint32_t x = b0; x < b1; x++)
            LCT_CHECK_GOTO(lct_graph_add_edge(g, ed.src, newid[x], ed.kind), st, out);
    }
    for (uint32_t x = 0; x < ni; x++)
        if (c->items.data[x].piece != NONE)
            LCT_CHECK_GOTO(lct_graph_add_edge(g, newid[x], c->items.data[x].node, LCT_EDGE_DATA), st,
                           out);
    /* An allocation kept whole in the range that followed a split node now follows the node's
     * first piece instead of its join: after the join it would make every chunk downstream wait
     * for every chunk upstream. The candidate's edges order it after the first chunk and after
     * every earlier piece of the range that touches its bytes (cand_build), so the list
     * schedule, and the SCHED chains made from it, already agree. */
    for (size_t e = 0; e < orig_edges; e++) {
        lct_edge_t *ed = &g->edges.data[e];
        uint32_t pd = pos_of(p, ed->dst), ps = pos_of(p, ed->src);
        if (pd == NONE || pd < first || pd >= end || ps == NONE || ps < first || ps >= end ||
            LCT_NODE(g, ed->dst)->kind != LCT_NODE_MEM_ALLOC)
            continue;
        uint32_t b0 = c->base[ps - first];
        if (c->items.data[b0].piece != NONE && c->items.data[c->base[pd - first]].piece == NONE)
            ed->src = newid[b0];
    }
    /* the originals become empty join nodes */
    for (uint32_t q = first; q < end; q++) {
        uint32_t b0 = c->base[q - first];
        if (c->items.data[b0].piece == NONE)
            continue;
        lct_node_t *o = LCT_NODE(g, p->order[q]);
        o->kind = LCT_NODE_EMPTY;
        o->fp.unknown = false;
        o->fp.nranges = 0;
        o->fp.ranges = NULL;
        o->cost_us = 0;
        o->cost_src = LCT_COST_NONE;
        o->call.kind = LCT_CALL_NONE;
        memset(&o->coll, 0, sizeof(o->coll));
        o->coll.op = LCT_COLL_NONE;
        o->coll.root = -1;
        o->coll.nranks = g->meta.world_size;
    }
    st = LCT_OK;
out:
    free(corder);
    free(morder);
    free(newid);
    return st;
}

typedef struct {
    uint64_t comm;
    uint32_t lo, id;
} ckey_t;

static int ckey_cmp(const void *pa, const void *pb)
{
    const ckey_t *a = pa, *b = pb;
    if (a->comm != b->comm)
        return a->comm < b->comm ? -1 : 1;
    if (a->lo != b->lo)
        return a->lo < b->lo ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* seq = position per communicator in (launch order, index) order. */
static lct_status_t renumber_seq(lct_graph_t *g)
{
    uint32_t n = LCT_NNODES(g), m = 0;
    ckey_t *k = malloc(((size_t)n + 1) * sizeof(*k));
    if (!k)
        return LCT_ERR_NOMEM;
    for (uint32_t v = 0; v < n; v++)
        if (LCT_NODE(g, v)->kind == LCT_NODE_COLLECTIVE)
            k[m++] = (ckey_t){LCT_NODE(g, v)->coll.comm, LCT_NODE(g, v)->launch_order, v};
    qsort(k, m, sizeof(*k), ckey_cmp);
    uint32_t s = 0;
    for (uint32_t x = 0; x < m; x++) {
        if (x && k[x].comm != k[x - 1].comm)
            s = 0;
        LCT_NODE(g, k[x].id)->coll.seq = s++;
    }
    free(k);
    return LCT_OK;
}

/* ------------------------------------------------------------------ reports */

/* After the rewrites: seq renumbered, adjacency rebuilt (acyclic by construction; checked). */
static lct_status_t rewrite_done(lct_graph_t *g, const char *what)
{
    LCT_CHECK(renumber_seq(g));
    if (lct_graph_fill_adj(g) != LCT_OK) {
        LCT_WARN("pipeline: the rewritten %s is not acyclic", what);
        return LCT_ERR_INTERNAL;
    }
    return LCT_OK;
}

static void set_stop(lct_pipe_planner_t *p, lct_pipe_layer_t *L, int side, uint32_t j, uint32_t i,
                     uint32_t k, uint32_t c)
{
    uint32_t kk = k >= 2 ? k : 2;
    bool left = side == 0;
    uint32_t next = left ? j : i; /* group index just outside the range on that side */
    if (left ? j == 0 : i >= p->ngroups) {
        L->stop[side] = LCT_PIPE_STOP_BOUNDARY;
        snprintf(L->stop_msg[side], sizeof(L->stop_msg[side]), "%s of the forward pass",
                 left ? "start" : "end");
        return;
    }
    const group_t *gn = &p->groups[left ? next - 1 : next];
    if (gn->core >= 0) {
        L->stop[side] = LCT_PIPE_STOP_BOUNDARY;
        snprintf(L->stop_msg[side], sizeof(L->stop_msg[side]), "MoE layer %d", p->cores[gn->core].moe);
        return;
    }
    (void)c;
    memo_t m;
    if (kk > p->K || range_eval(p, left ? j - 1 : j, left ? i : i + 1, kk, &m) != LCT_OK) {
        L->stop[side] = LCT_PIPE_STOP_COST;
        return;
    }
    if (m.ok) {
        /* possible but not faster; name the limit further out, if any, within the segment */
        L->stop[side] = LCT_PIPE_STOP_COST;
        snprintf(L->stop_msg[side], sizeof(L->stop_msg[side]),
                 "a longer range was possible but not faster");
        uint32_t a = left ? j - 1 : j, b = left ? i : i + 1;
        for (;;) {
            if (left ? a == 0 || p->groups[a - 1].core >= 0
                     : b >= p->ngroups || p->groups[b].core >= 0)
                return;
            if (left)
                a--;
            else
                b++;
            memo_t f;
            if (range_eval(p, a, b, kk, &f) != LCT_OK)
                return;
            if (!f.ok) {
                snprintf(L->stop_node[side], sizeof(L->stop_node[side]), "%s",
                         f.node != NONE ? LCT_NODE(p->g, f.node)->name : "");
                snprintf(L->stop_msg[side], sizeof(L->stop_msg[side]),
                         "not faster; further out: %s: %.60s", lct_split_why_name(f.why),
                         f.msg ? f.msg : "");
                return;
            }
        }
    }
    L->stop[side] = m.why == LCT_SPLIT_NO_RULE ? LCT_PIPE_STOP_NO_RULE
                    : m.why == LCT_SPLIT_MEMORY ? LCT_PIPE_STOP_MEMORY
                                                : LCT_PIPE_STOP_AXIS;
    snprintf(L->stop_node[side], sizeof(L->stop_node[side]), "%s",
             m.node != NONE ? LCT_NODE(p->g, m.node)->name : "");
    snprintf(L->stop_msg[side], sizeof(L->stop_msg[side]), "%s", m.msg ? m.msg : "");
}

static const char *stop_name(lct_pipe_stop_t s)
{
    switch (s) {
    case LCT_PIPE_STOP_NONE:
        return "-";
    case LCT_PIPE_STOP_BOUNDARY:
        return "boundary";
    case LCT_PIPE_STOP_COST:
        return "cost";
    case LCT_PIPE_STOP_NO_RULE:
        return "no split rule";
    case LCT_PIPE_STOP_AXIS:
        return "axis not splittable";
    case LCT_PIPE_STOP_MEMORY:
        return "memory budget";
    }
    return "?";
}

/* Forward a2a exposure per MoE ordinal from a whole-step simulation. */
static double layer_exposed(const lct_graph_t *g, const lct_sim_result_t *r, int32_t moe)
{
    double t = 0;
    for (uint32_t a = 0; a < r->na2a; a++) {
        const lct_node_t *n = LCT_NODE(g, r->a2a_nodes[a]);
        if (n->phase == LCT_PHASE_FORWARD && n->moe == moe)
            t += r->a2a_exposed[a];
    }
    return t;
}

void lct_pipe_report_text(FILE *f, const lct_graph_t *g, const lct_plan_ctx_t *ctx)
{
    const lct_plan_report_t *r = &ctx->report;
    (void)g;
    if (r->pipe_tutel > 0)
        fprintf(f, "forward pipeline (Tutel-style baseline, degree %d): ", r->pipe_tutel);
    else
        fprintf(f, "forward pipeline: ");
    if (!r->pipe_layers_total) { /* deterministic: plan-report goldens hold this line */
        fprintf(f, "no MoE layer in the forward pass\n");
        if (r->pipe_rules_error[0])
            fprintf(f, "  LANCET_SPLIT_RULES ignored: %s\n", r->pipe_rules_error);
        return;
    }
    fprintf(f, "%u MoE layers, %u ranges pipelined, %u groups, %u candidates simulated (%u from "
               "cache), %u chunk nodes added\n",
            r->pipe_layers_total, r->pipelined_ranges, r->pipe_groups, r->pipe_evals,
            r->pipe_cache_hits, r->pipe_nodes_added);
    if (r->pipe_rules_error[0])
        fprintf(f, "  LANCET_SPLIT_RULES ignored: %s\n", r->pipe_rules_error);
    fprintf(f, "  sequences per step: %u%s; predicted step %.1f -> %.1f us; pass time %.1f ms\n",
            r->pipe_samples, r->pipe_samples ? "" : " (unknown: attention is not split)",
            r->pipe_before_us, r->pipe_after_us, r->pipe_ms);
    fprintf(f, "  %4s %3s %5s  %-30s %-30s %11s %11s %10s %10s\n", "moe", "k", "nodes", "first",
            "last", "range(us)", "pipelined", "exposed", "after");
    double eb = 0, ea = 0;
    for (uint32_t l = 0; l < r->pipe_nlayers; l++) {
        const lct_pipe_layer_t *L = &r->pipe[l];
        fprintf(f, "  %4d %3u %5u  %-30.30s %-30.30s %11.1f %11.1f %10.1f %10.1f\n", L->moe, L->k,
                L->nodes, L->first, L->last, L->range_before_us, L->range_after_us,
                L->exposed_before_us, L->exposed_after_us);
        for (int s = 0; s < 2; s++)
            if (L->stop[s] != LCT_PIPE_STOP_NONE)
                fprintf(f, "       %s: %s%s%s%s%s%s\n", s ? "after " : "before", stop_name(L->stop[s]),
                        L->stop_node[s][0] ? " at " : "", L->stop_node[s],
                        L->stop_msg[s][0] ? " (" : "", L->stop_msg[s], L->stop_msg[s][0] ? ")" : "");
        eb += L->exposed_before_us;
        ea += L->exposed_after_us;
    }
    if (r->pipe_nlayers < r->pipe_layers_total)
        fprintf(f, "  (%u more MoE layers not listed)\n", r->pipe_layers_total - r->pipe_nlayers);
    fprintf(f, "  forward a2a exposed: %.1f -> %.1f us\n", eb, ea);
}

static json_t *jnum(double v) { return json_real(isfinite(v) ? v : 0.0); }

json_t *lct_pipe_report_json(const lct_graph_t *g, const lct_plan_ctx_t *ctx)
{
    const lct_plan_report_t *r = &ctx->report;
    (void)g;
    json_t *o = json_object(), *layers = json_array();
    if (!o || !layers) {
        json_decref(o);
        json_decref(layers);
        return NULL;
    }
    int bad = 0;
    for (uint32_t l = 0; l < r->pipe_nlayers && !bad; l++) {
        const lct_pipe_layer_t *L = &r->pipe[l];
        json_t *x = json_pack("{s:i, s:i, s:i, s:s, s:s, s:o, s:o, s:o, s:o}", "moe", (int)L->moe,
                              "k", (int)L->k, "nodes", (int)L->nodes, "first", L->first, "last",
                              L->last, "range_before_us", jnum(L->range_before_us),
                              "range_after_us", jnum(L->range_after_us), "exposed_before_us",
                              jnum(L->exposed_before_us), "exposed_after_us",
                              jnum(L->exposed_after_us));
        json_t *stops = json_array();
        for (int s = 0; x && stops && s < 2; s++) {
            json_t *y = json_pack("{s:s, s:s, s:s, s:s}", "side", s ? "after" : "before", "why",
                                  stop_name(L->stop[s]), "node", L->stop_node[s], "detail",
                                  L->stop_msg[s]);
            if (!y || json_array_append_new(stops, y) != 0)
                bad = 1;
        }
        if (!x || !stops || json_object_set_new(x, "stops", stops) != 0 ||
            json_array_append_new(layers, x) != 0)
            bad = 1;
    }
    json_t *rest = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:o, s:o, s:o, s:s}", "tutel_degree",
                             r->pipe_tutel, "moe_layers", (int)r->pipe_layers_total, "groups",
                             (int)r->pipe_groups, "candidates_simulated", (int)r->pipe_evals,
                             "candidates_cached", (int)r->pipe_cache_hits, "nodes_added",
                             (int)r->pipe_nodes_added, "samples", (int)r->pipe_samples,
                             "before_us", jnum(r->pipe_before_us), "after_us",
                             jnum(r->pipe_after_us), "ms", jnum(r->pipe_ms), "rules_error",
                             r->pipe_rules_error);
    if (!rest || json_object_update(o, rest) != 0 || json_object_set_new(o, "layers", layers) != 0)
        bad = 1;
    else
        layers = NULL;
    json_decref(rest);
    json_decref(layers);
    if (bad) {
        json_decref(o);
        LCT_WARN("pipeline report: cannot build the JSON object");
        return NULL;
    }
    return o;
}

/* ------------------------------------------------------------------ the pass */

static void report_reset(lct_plan_report_t *r)
{
    r->pipelined_ranges = 0;
    r->pipe_nlayers = r->pipe_layers_total = r->pipe_groups = 0;
    r->pipe_evals = r->pipe_cache_hits = r->pipe_nodes_added = r->pipe_samples = 0;
    r->pipe_tutel = 0;
    r->pipe_before_us = r->pipe_after_us = r->pipe_ms = 0;
    r->pipe_rules_error[0] = '\0';
}

lct_status_t lct_pass_pipeline(lct_graph_t *g, lct_plan_ctx_t *ctx)
{
    double t0 = now_ms();
    lct_plan_report_t *rep = &ctx->report;
    lct_pipe_planner_t *p = NULL;
    lct_pipe_range_t *ranges = NULL;
    uint32_t nranges = 0;
    lct_sim_result_t after;
    lct_status_t st;
    memset(&after, 0, sizeof(after));
    report_reset(rep);
    rep->pipe_tutel = ctx->tutel_degree > 0 ? ctx->tutel_degree : 0;
    LCT_CHECK(lct_pipe_planner_create(g, ctx, &p));
    rep->pipe_groups = p->ngroups;
    rep->pipe_layers_total = p->ncores;
    rep->pipe_samples = p->sc.samples;
    rep->pipe_before_us = rep->pipe_after_us = p->base.makespan;
    if (!p->ncores)
        goto done;

    /* choose */
    if (ctx->tutel_degree > 0) {
        ranges = calloc(p->ncores, sizeof(*ranges));
        if (!ranges) {
            st = LCT_ERR_NOMEM;
            goto out;
        }
        for (uint32_t c = 0; c < p->ncores; c++) {
            uint32_t gc = p->cores[c].group, k = (uint32_t)ctx->tutel_degree;
            memo_t m = {false, LCT_SPLIT_OK, NONE, NULL, 0, 0};
            if (k >= 2)
                LCT_CHECK_GOTO(range_eval(p, gc, gc + 1, k, &m), st, out);
            if (!m.ok)
                k = 1;
            LCT_CHECK_GOTO(range_eval(p, gc, gc + 1, k, &m), st, out);
            ranges[nranges++] = (lct_pipe_range_t){gc, gc + 1, k, m.cost};
        }
    } else {
        double total;
        LCT_CHECK_GOTO(lct_pipe_planner_dp(p, p->K, &ranges, &nranges, &total), st, out);
    }

    /* per-layer report, before the graph changes */
    for (uint32_t r = 0; r < nranges; r++) {
        const lct_pipe_range_t *R = &ranges[r];
        int32_t cidx = -1;
        for (uint32_t q = R->first; q < R->end; q++)
            if (p->groups[q].core >= 0)
                cidx = p->groups[q].core;
        if (cidx < 0 || rep->pipe_nlayers >= LCT_PIPE_MAX_LAYERS)
            continue;
        lct_pipe_layer_t *L = &rep->pipe[rep->pipe_nlayers++];
        memset(L, 0, sizeof(*L));
        uint32_t first = p->groups[R->first].first, end = p->groups[R->end - 1].end;
        L->moe = p->cores[cidx].moe;
        L->k = R->k;
        L->nodes = end - first;
        snprintf(L->first, sizeof(L->first), "%s", LCT_NODE(g, p->order[first])->name);
        snprintf(L->last, sizeof(L->last), "%s", LCT_NODE(g, p->order[end - 1])->name);
        for (uint32_t q = R->first; q < R->end; q++)
            L->range_before_us += p->groups[q].dur;
        L->range_after_us = R->cost;
        L->exposed_before_us = layer_exposed(g, &p->base, L->moe);
        if (ctx->tutel_degree > 0) {
            memo_t m;
            if (R->k == 1 && ctx->tutel_degree >= 2 &&
                range_eval(p, R->first, R->end, (uint32_t)ctx->tutel_degree, &m) == LCT_OK && !m.ok) {
                for (int s = 0; s < 2; s++) {
                    L->stop[s] = m.why == LCT_SPLIT_NO_RULE ? LCT_PIPE_STOP_NO_RULE
                                                            : LCT_PIPE_STOP_AXIS;
                    snprintf(L->stop_node[s], sizeof(L->stop_node[s]), "%s",
                             m.node != NONE ? LCT_NODE(g, m.node)->name : "");
                    snprintf(L->stop_msg[s], sizeof(L->stop_msg[s]), "%s", m.msg ? m.msg : "");
                }
            }
            continue;
        }
        set_stop(p, L, 0, R->first, R->end, R->k, (uint32_t)cidx);
        set_stop(p, L, 1, R->first, R->end, R->k, (uint32_t)cidx);
        if (R->k == 1) {
            memo_t m;
            if (p->K >= 2 && range_eval(p, p->cores[cidx].group, p->cores[cidx].group + 1, 2, &m) ==
                                 LCT_OK && !m.ok) {
                for (int s = 0; s < 2; s++) {
                    L->stop[s] = m.why == LCT_SPLIT_NO_RULE ? LCT_PIPE_STOP_NO_RULE
                                 : m.why == LCT_SPLIT_MEMORY ? LCT_PIPE_STOP_MEMORY
                                                             : LCT_PIPE_STOP_AXIS;
                    snprintf(L->stop_node[s], sizeof(L->stop_node[s]), "%s",
                             m.node != NONE ? LCT_NODE(g, m.node)->name : "");
                    snprintf(L->stop_msg[s], sizeof(L->stop_msg[s]), "%s", m.msg ? m.msg : "");
                }
            } else {
                for (int s = 0; s < 2; s++) {
                    L->stop[s] = LCT_PIPE_STOP_COST;
                    snprintf(L->stop_msg[s], sizeof(L->stop_msg[s]), "no pipelined range was faster");
                    L->stop_node[s][0] = '\0';
                }
            }
        }
    }

    /* rewrite */
    size_t orig_edges = g->edges.len;
    for (uint32_t r = 0; r < nranges; r++) {
        const lct_pipe_range_t *R = &ranges[r];
        if (R->k < 2)
            continue;
        memo_t m;
        LCT_CHECK_GOTO(range_eval(p, R->first, R->end, R->k, &m), st, out);
        LCT_CHECK_GOTO(rewrite_range(p, p->groups[R->first].first, p->groups[R->end - 1].end, R->k,
                                     m.policy, orig_edges, &rep->pipe_nodes_added),
                       st, out);
        rep->pipelined_ranges++;
    }
    if (rep->pipelined_ranges) {
        LCT_CHECK_GOTO(rewrite_done(g, "forward"), st, out);
        lct_sim_cfg_t cfg = {ctx->interference};
        LCT_CHECK_GOTO(lct_sim_run(g, &cfg, &after), st, out);
        rep->pipe_after_us = after.makespan;
    }
    for (uint32_t l = 0; l < rep->pipe_nlayers; l++)
        rep->pipe[l].exposed_after_us = rep->pipelined_ranges
                                            ? layer_exposed(g, &after, rep->pipe[l].moe)
                                            : rep->pipe[l].exposed_before_us;
done:
    rep->pipe_evals = p->nevals;
    rep->pipe_cache_hits = p->nhits;
    rep->pipe_ms = now_ms() - t0;
    LCT_INFO(SCHED, "pipeline: %u of %u MoE layers pipelined, step %.1f -> %.1f us, %u nodes "
                    "added, %u simulations (%u cached), %.1f ms",
             rep->pipelined_ranges, rep->pipe_layers_total, rep->pipe_before_us, rep->pipe_after_us,
             rep->pipe_nodes_added, rep->pipe_evals, rep->pipe_cache_hits, rep->pipe_ms);
    st = LCT_OK;
out:
    lct_sim_result_free(&after);
    free(ranges);
    lct_pipe_planner_destroy(p);
    return st;
}

/* ------------------------------------------------------------------ backward chains */

/* Simulated cost of backward chain c alone, cut k ways; *ok_p false when a node cannot be cut k
 * ways or the chunks add more live memory than the budget. */
static lct_status_t chain_cost(lct_pipe_planner_t *p, uint32_t c, uint32_t k, double *cost_p,
                               int *policy_p, bool *ok_p)
{
    uint32_t first = p->cores[c].first, end = p->cores[c].end, fail;
    evres_t ev, ev1;
    *ok_p = false;
    LCT_CHECK(cand_build(p, first, end, k, false, &fail));
    if (fail != NONE) {
        nsplit_t *e = &p->ns[(size_t)fail * (p->K + 1) + k];
        LCT_DEBUG(SCHED, "backward chain of MoE %d: %s cannot be cut %u ways: %s", p->cores[c].moe,
                  LCT_NODE(p->g, p->order[fail])->name, k, e->msg ? e->msg : "");
        return LCT_OK;
    }
    LCT_CHECK(cand_eval(p, k, &ev));
    LCT_DEBUG(SCHED, "backward chain of MoE %d, k = %u: %.1f us", p->cores[c].moe, k, ev.makespan);
    if (k > 1 && range_has_mem(p, first, end)) {
        LCT_CHECK(cand_build(p, first, end, 1, false, &fail));
        LCT_CHECK(cand_eval(p, 1, &ev1));
        if (ev.peak - ev1.peak > (double)p->ctx->mem_budget_bytes)
            return LCT_OK;
    }
    *cost_p = ev.makespan;
    *policy_p = ev.policy;
    *ok_p = true;
    return LCT_OK;
}

lct_status_t lct_pass_pipeline_bwd(lct_graph_t *g, lct_plan_ctx_t *ctx)
{
    lct_plan_report_t *rep = &ctx->report;
    lct_pipe_planner_t *p = NULL;
    uint32_t *kk = NULL;
    int *pol = NULL;
    lct_status_t st;
    rep->bwd_pipelined = rep->bwd_chains = rep->bwd_nodes_added = 0;
    LCT_CHECK(planner_create(g, ctx, true, &p));
    rep->bwd_chains = p->ncores;
    if (!p->ncores)
        goto done;
    kk = calloc(p->ncores, sizeof(*kk));
    pol = calloc(p->ncores, sizeof(*pol));
    if (!kk || !pol) {
        st = LCT_ERR_NOMEM;
        goto out;
    }
    for (uint32_t c = 0; c < p->ncores; c++) {
        double best = 0, cost = 0;
        int policy = 0;
        bool ok = false;
        kk[c] = 1;
        LCT_CHECK_GOTO(chain_cost(p, c, 1, &best, &policy, &ok), st, out);
        if (!ok)
            continue;
        /* the Tutel baseline: its degree; ours: 2, 4, 8, ... up to LANCET_PIPELINE_MAX_CHUNKS
         * (every chain of a step has the same shape and each k costs a split of every node of
         * every chain: powers of two keep that within the planning budget) */
        uint32_t k0 = ctx->tutel_degree > 0 ? (uint32_t)ctx->tutel_degree : 2;
        uint32_t k1 = ctx->tutel_degree > 0 ? (uint32_t)ctx->tutel_degree : p->K;
        for (uint32_t k = k0; k <= k1 && k <= p->K && k >= 2; k *= 2) {
            LCT_CHECK_GOTO(chain_cost(p, c, k, &cost, &policy, &ok), st, out);
            if (ok && (ctx->tutel_degree > 0 || cost < best - (1e-6 * best + 1e-9))) {
                best = cost;
                kk[c] = k;
                pol[c] = policy;
            }
        }
    }
    size_t orig_edges = g->edges.len;
    for (uint32_t c = 0; c < p->ncores; c++) {
        if (kk[c] < 2)
            continue;
        LCT_CHECK_GOTO(rewrite_range(p, p->cores[c].first, p->cores[c].end, kk[c], pol[c],
                                     orig_edges, &rep->bwd_nodes_added),
                       st, out);
        rep->bwd_pipelined++;
    }
    if (rep->bwd_pipelined)
        LCT_CHECK_GOTO(rewrite_done(g, "backward"), st, out);
done:
    LCT_INFO(SCHED, "backward pipeline: %u of %u expert chains pipelined, %u nodes added",
             rep->bwd_pipelined, rep->bwd_chains, rep->bwd_nodes_added);
    st = LCT_OK;
out:
    free(kk);
    free(pol);
    lct_pipe_planner_destroy(p);
    return st;
}
