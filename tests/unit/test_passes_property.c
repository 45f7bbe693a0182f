/* Property test of the scheduling passes: thousands of random backward-like steps (kernels with
 * random footprints over a few buffers, activation-gradient buffers allocated and freed in the
 * graph, all-to-alls on one communicator, gradient all-reduces on another, an optimizer tail,
 * the odd barrier), dependencies reconstructed by lct_deps_rebuild, then lct_plan_run with
 * random settings. After the plan:
 *   - the graph is acyclic,
 *   - every pair of nodes whose footprints conflict is ordered by a path as in launch order,
 *   - per communicator the collectives are ordered by paths in launch order,
 *   - the edges present before the plan are all still there and only SCHED edges were added,
 *   - the added peak memory is within the budget,
 * all checked with a naive reachability of the test's own (DFS over the edge list), not with the
 * library's. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/lct_analysis.h"
#include "core/lct_config.h"
#include "core/lct_log.h"
#include "sched/lct_sched.h"

#define NGRAPHS 2500
#define MAXN 64
#define NSTATIC 10   /* static buffers (weights, gradients, activations kept by the step) */
#define NDYN 4       /* buffers allocated and freed inside the step */
#define BUF_BYTES 256
#define COMM_A2A 1
#define COMM_GRAD 2

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
    /* xorshift64*: fixed seed, so every run tests the same graphs */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 33) % n;
}

static uint64_t static_addr(uint32_t b) { return 0x100000ull + (uint64_t)b * 0x1000; }
static uint64_t dyn_addr(uint32_t b) { return 0x800000ull + (uint64_t)b * 0x1000; }

/* A random sub-range of a buffer, 16-byte granular. */
static void add_random_range(lct_graph_t *g, uint32_t id, uint64_t base, uint8_t acc)
{
    uint32_t off = rnd(BUF_BYTES / 16) * 16;
    uint32_t len = (1 + rnd((BUF_BYTES - off) / 16)) * 16;
    ck_assert_int_eq(lct_node_add_range(g, id, base + off, len, acc, true), LCT_OK);
}

static uint8_t rnd_access(void)
{
    static const uint8_t acc[] = {LCT_ACC_READ, LCT_ACC_READ, LCT_ACC_WRITE, LCT_ACC_RW};
    return acc[rnd(4)];
}

/* A buffer a kernel may touch now: a static one, or a dynamic one while it is live. */
static uint64_t pick_buffer(const bool *live)
{
    uint32_t k = rnd(NSTATIC + NDYN);
    if (k >= NSTATIC && live[k - NSTATIC])
        return dyn_addr(k - NSTATIC);
    return static_addr(k % NSTATIC);
}

static lct_graph_t *random_step(void)
{
    lct_graph_t *g;
    bool live[NDYN] = {false};
    ck_assert_int_eq(lct_graph_create(&g), LCT_OK);
    uint32_t n = 12 + rnd(MAXN - 12 - 4), nopt = rnd(4);
    for (uint32_t i = 0; i < n + nopt; i++) {
        uint32_t id, kind = rnd(100);
        bool opt = i >= n;
        if (opt)
            kind = 0;
        if (kind < 60) {
            ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_KERNEL, "k", &id), LCT_OK);
            lct_node_t *nd = LCT_NODE(g, id);
            nd->role = rnd(2) ? LCT_ROLE_DW : LCT_ROLE_DX;
            nd->cost_us = 1 + rnd(60);
            uint32_t nr = 1 + rnd(3);
            for (uint32_t r = 0; r < nr; r++)
                add_random_range(g, id, pick_buffer(live), rnd_access());
            if (opt) {
                nd->phase = LCT_PHASE_OPTIMIZER;
                nd->role = LCT_ROLE_OTHER;
            }
        } else if (kind < 72) {
            ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_COLLECTIVE, "a2a", &id), LCT_OK);
            lct_node_t *nd = LCT_NODE(g, id);
            nd->coll.op = LCT_COLL_ALLTOALL;
            nd->coll.comm = COMM_A2A;
            nd->role = LCT_ROLE_A2A;
            nd->cost_us = 20 + rnd(120);
            add_random_range(g, id, pick_buffer(live), LCT_ACC_READ);
            add_random_range(g, id, pick_buffer(live), LCT_ACC_WRITE);
        } else if (kind < 84) {
            ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_COLLECTIVE, "allreduce", &id), LCT_OK);
            lct_node_t *nd = LCT_NODE(g, id);
            nd->coll.op = LCT_COLL_ALLREDUCE;
            nd->coll.comm = COMM_GRAD;
            nd->role = LCT_ROLE_ALLREDUCE;
            nd->flags |= LCT_NODE_F_GRAD_SYNC;
            nd->cost_us = 5 + rnd(60);
            add_random_range(g, id, static_addr(rnd(NSTATIC)), LCT_ACC_RW);
        } else if (kind < 96) {
            /* allocate a dead dynamic buffer, or free a live one */
            uint32_t b = rnd(NDYN);
            lct_node_kind_t k = live[b] ? LCT_NODE_MEM_FREE : LCT_NODE_MEM_ALLOC;
            ck_assert_int_eq(lct_graph_add_node(g, k, live[b] ? "free" : "alloc", &id), LCT_OK);
            LCT_NODE(g, id)->mem_bytes = BUF_BYTES;
            ck_assert_int_eq(lct_node_add_range(g, id, dyn_addr(b), BUF_BYTES, LCT_ACC_WRITE, true),
                             LCT_OK);
            live[b] = !live[b];
        } else if (kind < 98) {
            /* a kernel nobody understands: a barrier */
            ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_KERNEL, "opaque", &id), LCT_OK);
            LCT_NODE(g, id)->fp.unknown = true;
            LCT_NODE(g, id)->cost_us = 1 + rnd(10);
        } else {
            ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_EMPTY, "join", &id), LCT_OK);
        }
        if (!opt)
            LCT_NODE(g, id)->phase = LCT_PHASE_BACKWARD;
    }
    /* Some random stream edges (forward in launch order) as a capture would have them; the
     * reconstruction replaces them. */
    uint32_t total = LCT_NNODES(g);
    for (uint32_t i = 0; i + 1 < total; i++)
        if (rnd(3) == 0)
            lct_graph_add_edge(g, i, i + 1, LCT_EDGE_STREAM);
    return g;
}

/* reach[a * n + b]: a path a ->* b over g->edges, by DFS from each node. */
static bool *naive_reach(const lct_graph_t *g)
{
    uint32_t n = LCT_NNODES(g);
    bool *reach = calloc((size_t)n * n, sizeof(bool));
    uint32_t *stack = malloc(((size_t)n + 1) * sizeof(uint32_t)); /* each node pushed once */
    ck_assert_ptr_nonnull(reach);
    ck_assert_ptr_nonnull(stack);
    for (uint32_t s = 0; s < n; s++) {
        size_t top = 0;
        stack[top++] = s;
        while (top) {
            uint32_t v = stack[--top];
            for (size_t e = 0; e < g->edges.len; e++) {
                if (g->edges.data[e].src != v)
                    continue;
                uint32_t w = g->edges.data[e].dst;
                if (!reach[(size_t)s * n + w]) {
                    reach[(size_t)s * n + w] = true;
                    stack[top++] = w;
                }
            }
        }
    }
    free(stack);
    return reach;
}

static bool naive_acyclic(const lct_graph_t *g, const bool *reach)
{
    uint32_t n = LCT_NNODES(g);
    for (uint32_t v = 0; v < n; v++)
        if (reach[(size_t)v * n + v])
            return false;
    return true;
}

static bool edge_present_in(const lct_edge_t *list, size_t n, const lct_edge_t *e)
{
    for (size_t i = 0; i < n; i++)
        if (list[i].src == e->src && list[i].dst == e->dst && list[i].kind == e->kind)
            return true;
    return false;
}

static double peak_mem(const lct_graph_t *g, double interference)
{
    lct_sim_cfg_t cfg = {interference};
    lct_sim_result_t res;
    ck_assert_int_eq(lct_sim_run(g, &cfg, &res), LCT_OK);
    double p = res.peak_mem_bytes;
    lct_sim_result_free(&res);
    return p;
}

START_TEST(random_steps_keep_invariants)
{
    static const double interference[] = {0, 0.15, 0.5};
    uint32_t placed = 0, windows = 0, ar_placed = 0, ar_chained = 0, dropped = 0, moves = 0;
    uint32_t tail_placed = 0, opt_deferred = 0;
    rng_state = 0x9e3779b97f4a7c15ull;
    lct_log_level = LCT_LOG_WARN;
    for (int it = 0; it < NGRAPHS; it++) {
        lct_graph_t *g = random_step();
        lct_deps_opts_t dopts = lct_deps_opts_default();
        ck_assert_int_eq(lct_deps_rebuild(g, &dopts, NULL), LCT_OK);
        /* lct_deps_rebuild places each mem_alloc before its first user, so schedules can
         * change the peak */

        uint32_t n = LCT_NNODES(g);
        size_t nbase = g->edges.len;
        lct_edge_t *base = malloc((nbase + 1) * sizeof(*base));
        memcpy(base, g->edges.data, nbase * sizeof(*base));
        bool *r0 = naive_reach(g);
        /* the reconstruction itself must order every conflict (else the test proves nothing) */
        for (uint32_t a = 0; a < n; a++)
            for (uint32_t b = a + 1; b < n; b++)
                if (lct_footprints_conflict(&LCT_NODE(g, a)->fp, &LCT_NODE(g, b)->fp))
                    ck_assert_msg(r0[(size_t)a * n + b], "graph %d: input misses %u -> %u", it, a,
                                  b);

        lct_plan_ctx_t ctx;
        lct_config_reset();
        lct_plan_ctx_init(&ctx, NULL, NULL);
        ctx.interference = interference[rnd(3)];
        ctx.mem_budget_bytes = rnd(2) ? 0 : (uint64_t)rnd(4) * BUF_BYTES;
        ctx.dw_improve = rnd(3) == 0;
        ctx.allreduce_fill = rnd(4) != 0;
        double peak0 = peak_mem(g, ctx.interference);
        ck_assert_int_eq(lct_plan_run(g, &ctx), LCT_OK);

        bool *r = naive_reach(g);
        ck_assert_msg(naive_acyclic(g, r), "graph %d: cycle after planning", it);
        for (uint32_t a = 0; a < n; a++)
            for (uint32_t b = a + 1; b < n; b++)
                if (lct_footprints_conflict(&LCT_NODE(g, a)->fp, &LCT_NODE(g, b)->fp))
                    ck_assert_msg(r[(size_t)a * n + b], "graph %d: conflict %u -> %u lost", it, a,
                                  b);
        /* per communicator, launch order = path order */
        for (uint32_t a = 0; a < n; a++) {
            if (LCT_NODE(g, a)->kind != LCT_NODE_COLLECTIVE)
                continue;
            for (uint32_t b = a + 1; b < n; b++)
                if (LCT_NODE(g, b)->kind == LCT_NODE_COLLECTIVE &&
                    LCT_NODE(g, b)->coll.comm == LCT_NODE(g, a)->coll.comm)
                    ck_assert_msg(r[(size_t)a * n + b] && !r[(size_t)b * n + a],
                                  "graph %d: collectives %u and %u out of order", it, a, b);
        }
        for (size_t i = 0; i < nbase; i++)
            ck_assert_msg(edge_present_in(g->edges.data, g->edges.len, &base[i]), "graph %d: edge %u -> %u dropped", it,
                          base[i].src, base[i].dst);
        for (size_t i = 0; i < g->edges.len; i++)
            if (!edge_present_in(base, nbase, &g->edges.data[i]))
                ck_assert_int_eq(g->edges.data[i].kind, LCT_EDGE_SCHED);
        /* memory: what the plan added stays within the budget */
        double extra = peak_mem(g, ctx.interference) - peak0;
        ck_assert_msg(extra <= (double)ctx.mem_budget_bytes,
                      "graph %d: extra memory %.0f over budget %llu", it, extra,
                      (unsigned long long)ctx.mem_budget_bytes);
        ck_assert_double_eq(ctx.report.extra_mem_bytes, extra);

        placed += ctx.report.dw_placed;
        windows += ctx.report.nwindows;
        ar_placed += ctx.report.allreduce_placed;
        ar_chained += ctx.report.allreduce_chained;
        dropped += ctx.report.dropped_for_memory;
        moves += ctx.report.improve_moves;
        opt_deferred += ctx.report.opt_deferred;
        for (uint32_t w = 0; w < ctx.report.nwindows; w++)
            if (ctx.report.windows[w].tail)
                tail_placed += ctx.report.windows[w].ndw;
        lct_plan_ctx_fini(&ctx);
        free(r);
        free(r0);
        free(base);
        lct_graph_destroy(g);
    }
    /* the generator must actually exercise the passes */
    ck_assert_uint_gt(windows, NGRAPHS);
    ck_assert_uint_gt(placed, NGRAPHS / 4);
    ck_assert_uint_gt(ar_placed + ar_chained, NGRAPHS / 4);
    ck_assert_uint_gt(dropped, 0);
    ck_assert_uint_gt(moves, 0);
    ck_assert_uint_gt(tail_placed, 0);
    ck_assert_uint_gt(opt_deferred, 0);
    fprintf(stderr,
            "%d graphs: %u windows, %u dW placed (%u in tail windows), %u dropped for memory, %u "
            "improvement moves, %u all-reduces in gaps, %u chained, %u optimizer nodes deferred\n",
            NGRAPHS, windows, placed, tail_placed, dropped, moves, ar_placed, ar_chained,
            opt_deferred);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("passes_property");
    TCase *tc = tcase_create("property");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, random_steps_keep_invariants);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
