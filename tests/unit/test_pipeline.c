/* Tests of the forward pipeline pass (src/sched/lct_pass_pipeline.c):
 *  - golden: a tiny generated GPT-2 MoE step pipelined Tutel-style with k = 2 and 3 and with
 *    Lancet's search gives the node counts of tests/golden/pipeline/tiny.txt (and the Tutel
 *    counts follow the formula: per MoE layer 2 all-to-alls + 2 x local experts GEMM pieces +
 *    1 ReLU per chunk);
 *  - the DP over groups agrees with brute force over every partition of the groups into ranges
 *    and every k, on several random small generated graphs with perturbed costs;
 *  - property: random forward-like DAGs (row kernels, GEMMs, copies, all-to-alls, barriers) with
 *    consistent footprints, dependencies reconstructed, the pass run: the graph verifies, every
 *    original edge is kept, every pair of nodes whose footprints conflict is ordered by a path in
 *    the original order (checked with the test's own reachability), every communicator's
 *    collectives form a chain in seq order that matches launch order, and reconstructing the
 *    dependencies of the result again gives an acyclic graph;
 *  - the memory budget stops a range whose chunks keep two buffers alive together;
 *  - reports: stop reasons, the plan report text and JSON, lct_plan_run with the dW pass. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/lct_analysis.h"
#include "core/lct_config.h"
#include "core/lct_log.h"
#include "gen/lct_gen.h"
#include "ir/lct_ir_json.h"
#include "sched/lct_sched.h"
#include "sched/lct_split.h"

#ifndef LCT_TEST_SRCDIR
#define LCT_TEST_SRCDIR "."
#endif

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 2685821657736338717ull) >> 33) % n;
}

static void quiet(void)
{
    lct_config_reset();
    lct_log_set_stream(NULL);
}

/* ------------------------------------------------------------------ generated graphs */

static lct_gen_cfg_t tiny_cfg(int nl)
{
    lct_gen_cfg_t cfg;
    ck_assert_int_eq(lct_gen_cfg_preset("gpt2-s", "v100", &cfg), LCT_OK);
    cfg.nl = nl;
    cfg.m = 32;
    cfg.nh = 2;
    cfg.sl = 8;
    cfg.b = 4;
    cfg.vocab = 64;
    cfg.world_size = 4;
    cfg.gpus_per_node = 4;
    return cfg;
}

static lct_graph_t *gen(const lct_gen_cfg_t *cfg)
{
    lct_graph_t *g;
    ck_assert_int_eq(lct_gen_graph(cfg, &g), LCT_OK);
    lct_deps_opts_t o = lct_deps_opts_default();
    ck_assert_int_eq(lct_deps_rebuild(g, &o, NULL), LCT_OK);
    return g;
}

/* The tiny model's all-to-alls cost what they cost at paper scale relative to compute (three
 * times the expert FFN), so that pipelining pays. */
static void scale_a2a(lct_graph_t *g, double f)
{
    for (uint32_t v = 0; v < LCT_NNODES(g); v++)
        if (LCT_NODE(g, v)->kind == LCT_NODE_COLLECTIVE &&
            LCT_NODE(g, v)->coll.op == LCT_COLL_ALLTOALL)
            LCT_NODE(g, v)->cost_us *= f;
}

static void ctx_for(lct_plan_ctx_t *ctx, int max_k, int tutel)
{
    lct_plan_ctx_init(ctx, lct_device_profile_find("v100"), NULL);
    ctx->pipeline_max_chunks = max_k;
    ctx->tutel_degree = tutel;
    ctx->pipeline = true;
}

/* ------------------------------------------------------------------ invariant checks */

typedef struct {
    uint32_t n, words;
    uint64_t *bits;
} reach_t;

/* Naive reachability: DFS from every node over the edge list. */
static void reach_fill(const lct_graph_t *g, reach_t *r)
{
    uint32_t n = LCT_NNODES(g);
    r->n = n;
    r->words = (n + 63) / 64;
    r->bits = calloc((size_t)n * r->words + 1, sizeof(uint64_t));
    uint32_t *off = calloc(n + 2, sizeof(uint32_t)), *adj = malloc((g->edges.len + 1) * 4);
    uint32_t *stack = malloc((n + 1) * 4);
    ck_assert(r->bits && off && adj && stack);
    for (size_t e = 0; e < g->edges.len; e++)
        off[g->edges.data[e].src + 1]++;
    for (uint32_t v = 0; v < n; v++)
        off[v + 1] += off[v];
    uint32_t *fill = malloc((n + 1) * 4);
    memcpy(fill, off, n * 4);
    for (size_t e = 0; e < g->edges.len; e++)
        adj[fill[g->edges.data[e].src]++] = g->edges.data[e].dst;
    free(fill);
    for (uint32_t s = 0; s < n; s++) {
        uint64_t *row = r->bits + (size_t)s * r->words;
        uint32_t sp = 0;
        stack[sp++] = s;
        while (sp) {
            uint32_t u = stack[--sp];
            for (uint32_t k = off[u]; k < off[u + 1]; k++) {
                uint32_t w = adj[k];
                if (!(row[w / 64] >> (w % 64) & 1)) {
                    row[w / 64] |= 1ull << (w % 64);
                    stack[sp++] = w;
                }
            }
        }
    }
    free(off);
    free(adj);
    free(stack);
}

static bool reaches(const reach_t *r, uint32_t a, uint32_t b)
{
    return r->bits[(size_t)a * r->words + b / 64] >> (b % 64) & 1;
}

/* Order key of a node as the program issued it: (launch order, chunk). */
static uint64_t okey(const lct_graph_t *g, uint32_t v)
{
    const lct_node_t *n = LCT_NODE(g, v);
    return (uint64_t)n->launch_order << 20 | (n->flags & LCT_NODE_F_SPLIT ? n->chunk : 0);
}

/* Everything the pass promises, on g after it; before: the graph it started from (a copy). */
static void check_invariants(const lct_graph_t *before, lct_graph_t *g)
{
    char err[512];
    ck_assert_msg(lct_ir_verify(g, err, sizeof(err)) == LCT_OK, "%s", err);
    ck_assert_int_eq(lct_graph_fill_adj(g), LCT_OK);
    /* every original edge is still there, except that an allocation that followed a split node
     * for its placement only may follow one of that node's first-chunk pieces instead */
    for (size_t e = 0; e < before->edges.len; e++) {
        uint32_t a = before->edges.data[e].src, b = before->edges.data[e].dst;
        if (lct_graph_has_edge(g, a, b))
            continue;
        bool moved = LCT_NODE(g, b)->kind == LCT_NODE_MEM_ALLOC;
        bool from_piece = false;
        for (uint32_t v = LCT_NNODES(before); moved && v < LCT_NNODES(g) && !from_piece; v++)
            from_piece = LCT_NODE(g, v)->parent == (int32_t)a && LCT_NODE(g, v)->chunk == 0 &&
                         lct_graph_has_edge(g, v, b);
        ck_assert_msg(moved && from_piece, "edge %u -> %u lost", a, b);
    }
    /* originals that were split: empty, no footprint; chunks: parent, flags */
    uint32_t n = LCT_NNODES(g), n0 = LCT_NNODES(before);
    for (uint32_t v = n0; v < n; v++) {
        const lct_node_t *c = LCT_NODE(g, v);
        ck_assert(c->flags & LCT_NODE_F_SPLIT);
        ck_assert_int_ge(c->parent, 0);
        ck_assert_uint_lt((uint32_t)c->parent, n0);
        ck_assert_int_eq(LCT_NODE(g, c->parent)->kind, LCT_NODE_EMPTY);
        ck_assert_uint_eq(LCT_NODE(g, c->parent)->fp.nranges, 0);
        ck_assert_uint_lt(c->chunk, c->nchunks);
        ck_assert_msg(lct_graph_has_edge(g, v, (uint32_t)c->parent), "chunk %u not joined", v);
    }
    reach_t r;
    reach_fill(g, &r);
    for (uint32_t a = 0; a < n; a++) {
        const lct_node_t *x = LCT_NODE(g, a);
        if (x->kind == LCT_NODE_EMPTY)
            continue;
        for (uint32_t b = a + 1; b < n; b++) {
            const lct_node_t *y = LCT_NODE(g, b);
            if (y->kind == LCT_NODE_EMPTY || !lct_footprints_conflict(&x->fp, &y->fp))
                continue;
            uint64_t ka = okey(g, a), kb = okey(g, b);
            if (ka < kb)
                ck_assert_msg(reaches(&r, a, b), "conflicting %u '%s' and %u '%s' not ordered", a,
                              x->name, b, y->name);
            else if (kb < ka)
                ck_assert_msg(reaches(&r, b, a), "conflicting %u '%s' and %u '%s' not ordered", b,
                              y->name, a, x->name);
            else
                ck_assert(reaches(&r, a, b) || reaches(&r, b, a));
        }
    }
    /* collectives: per communicator, seq follows launch order and forms a chain */
    for (uint32_t a = 0; a < n; a++) {
        const lct_node_t *x = LCT_NODE(g, a);
        if (x->kind != LCT_NODE_COLLECTIVE)
            continue;
        for (uint32_t b = 0; b < n; b++) {
            const lct_node_t *y = LCT_NODE(g, b);
            if (b == a || y->kind != LCT_NODE_COLLECTIVE || y->coll.comm != x->coll.comm)
                continue;
            if (x->coll.seq < y->coll.seq) {
                ck_assert(reaches(&r, a, b));
                ck_assert(x->launch_order < y->launch_order ||
                          (x->launch_order == y->launch_order && a < b));
            }
        }
    }
    free(r.bits);
    /* reconstructing the dependencies of the result again keeps it acyclic: launch orders are
     * consistent with the plan's SCHED edges */
    lct_graph_t *c;
    ck_assert_int_eq(lct_graph_clone(g, &c), LCT_OK);
    lct_deps_opts_t o = lct_deps_opts_default();
    ck_assert_int_eq(lct_deps_rebuild(c, &o, NULL), LCT_OK);
    ck_assert_msg(lct_ir_verify(c, err, sizeof(err)) == LCT_OK, "after a second rebuild: %s", err);
    lct_graph_destroy(c);
}

/* ------------------------------------------------------------------ golden */

typedef struct {
    uint32_t nodes, chunks, empties, colls, sched, ranges;
    char ks[64];
} counts_t;

static counts_t run_counts(int nl, int max_k, int tutel, bool check)
{
    lct_gen_cfg_t cfg = tiny_cfg(nl);
    lct_graph_t *g = gen(&cfg);
    scale_a2a(g, 50.0);
    lct_graph_t *before;
    ck_assert_int_eq(lct_graph_clone(g, &before), LCT_OK);
    lct_plan_ctx_t ctx;
    ctx_for(&ctx, max_k, tutel);
    ck_assert_int_eq(lct_pass_pipeline(g, &ctx), LCT_OK);
    counts_t c;
    memset(&c, 0, sizeof(c));
    c.nodes = LCT_NNODES(g);
    for (uint32_t v = 0; v < c.nodes; v++) {
        const lct_node_t *x = LCT_NODE(g, v);
        c.chunks += (x->flags & LCT_NODE_F_SPLIT) != 0;
        c.empties += x->kind == LCT_NODE_EMPTY;
        c.colls += x->kind == LCT_NODE_COLLECTIVE;
    }
    for (size_t e = 0; e < g->edges.len; e++)
        c.sched += g->edges.data[e].kind == LCT_EDGE_SCHED;
    c.ranges = ctx.report.pipelined_ranges;
    size_t o = 0;
    for (uint32_t l = 0; l < ctx.report.pipe_nlayers && o < sizeof(c.ks) - 4; l++)
        o += (size_t)snprintf(c.ks + o, sizeof(c.ks) - o, "%s%u", l ? "," : "",
                              ctx.report.pipe[l].k);
    if (check)
        check_invariants(before, g);
    lct_plan_ctx_fini(&ctx);
    lct_graph_destroy(before);
    lct_graph_destroy(g);
    return c;
}

START_TEST(golden_tiny)
{
    quiet();
    char text[2048];
    size_t o = 0;
    static const struct {
        const char *mode;
        int nl, max_k, tutel;
    } runs[] = {{"tutel", 4, 8, 2}, {"tutel", 4, 8, 3}, {"lancet", 4, 4, 0}, {"lancet", 2, 8, 0}};
    lct_gen_cfg_t cfg = tiny_cfg(4);
    lct_graph_t *g0 = gen(&cfg);
    uint32_t n0 = LCT_NNODES(g0), colls0 = 0;
    for (uint32_t v = 0; v < n0; v++)
        colls0 += LCT_NODE(g0, v)->kind == LCT_NODE_COLLECTIVE;
    lct_graph_destroy(g0);
    for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
        counts_t c = run_counts(runs[i].nl, runs[i].max_k, runs[i].tutel, true);
        o += (size_t)snprintf(text + o, sizeof(text) - o,
                              "%s nl=%d max_k=%d tutel=%d: nodes=%u chunk_nodes=%u empty=%u "
                              "collectives=%u sched_edges=%u ranges=%u k=%s\n",
                              runs[i].mode, runs[i].nl, runs[i].max_k, runs[i].tutel, c.nodes,
                              c.chunks, c.empties, c.colls, c.sched, c.ranges, c.ks);
        if (runs[i].tutel) {
            /* per MoE layer (2 in nl 4) and chunk: 2 a2a + 2 x 2 expert GEMM pieces + 1 ReLU */
            uint32_t k = (uint32_t)runs[i].tutel, el = (uint32_t)cfg.experts_per_gpu;
            ck_assert_uint_eq(c.chunks, 2 * k * (2 + 2 * el + 1));
            ck_assert_uint_eq(c.empties, 2 * 5);
            ck_assert_uint_eq(c.nodes, n0 + c.chunks);
            ck_assert_uint_eq(c.colls, colls0 - 2 * 2 + 2 * 2 * k); /* 2 forward a2a per layer */
        }
    }
    char path[512];
    snprintf(path, sizeof(path), "%s/tests/golden/pipeline/tiny.txt", LCT_TEST_SRCDIR);
    static const char header[] =
        "# Node counts of the tiny generated GPT-2 MoE step (nl layers, every second one MoE, m 32,\n"
        "# 2 heads, 4 sequences of 8 tokens, 4 ranks, 2 experts per rank; all-to-alls 50x their\n"
        "# modelled cost) after the forward pipeline pass: Tutel-style with degree 2 and 3, and\n"
        "# Lancet's search with k up to max_k. k= lists the partition count per MoE layer.\n"
        "# Regenerate: LCT_UPDATE_GOLDEN=1 tests/unit/test_pipeline (then review the diff).\n";
    if (getenv("LCT_UPDATE_GOLDEN")) {
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fputs(header, f);
        fputs(text, f);
        fclose(f);
    }
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    char want[4096], line[512];
    size_t nw = 0;
    want[0] = '\0';
    while (fgets(line, sizeof(line), f)) /* comment lines document the file */
        if (line[0] != '#' && nw + strlen(line) < sizeof(want)) {
            memcpy(want + nw, line, strlen(line) + 1);
            nw += strlen(line);
        }
    fclose(f);
    ck_assert_msg(strcmp(want, text) == 0, "golden mismatch:\n--- want\n%s--- got\n%s", want, text);
}
END_TEST

/* ------------------------------------------------------------------ DP vs brute force */

static double brute(lct_pipe_planner_t *p, uint32_t N, uint32_t K)
{
    double best = INFINITY;
    /* every subset of the N - 1 cut positions is a partition into ranges */
    for (uint32_t mask = 0; mask < (1u << (N - 1)); mask++) {
        double tot = 0;
        uint32_t j = 0;
        for (uint32_t i = 1; i <= N && tot < best; i++) {
            if (i < N && !(mask >> (i - 1) & 1))
                continue;
            double rc = INFINITY;
            uint32_t ncores = lct_pipe_planner_ncores(p, j, i);
            for (uint32_t k = 1; k <= (ncores == 1 ? K : 1); k++) {
                double c;
                bool ok;
                ck_assert_int_eq(lct_pipe_planner_cost(p, j, i, k, &c, &ok), LCT_OK);
                if (ok && c < rc)
                    rc = c;
            }
            tot += rc;
            j = i;
        }
        if (tot < best)
            best = tot;
    }
    return best;
}

START_TEST(dp_matches_brute_force)
{
    quiet();
    int tested = 0;
    for (int t = 0; t < 8; t++) {
        lct_gen_cfg_t cfg = tiny_cfg(rnd(2) ? 2 : 4);
        cfg.m = rnd(2) ? 32 : 64;
        cfg.b = rnd(2) ? 2 : 4;
        lct_graph_t *g = gen(&cfg);
        for (uint32_t v = 0; v < LCT_NNODES(g); v++) /* random costs, same structure */
            LCT_NODE(g, v)->cost_us *= 0.25 + rnd(1000) / 250.0;
        scale_a2a(g, 10.0 + rnd(60));
        char groups[8];
        snprintf(groups, sizeof(groups), "%u", 1 + rnd(3));
        ck_assert_int_eq(lct_config_set(LCT_CFG_PIPELINE_GROUPS, groups), LCT_OK);
        lct_plan_ctx_t ctx;
        ctx_for(&ctx, 4, 0);
        ctx.interference = rnd(30) / 100.0;
        lct_pipe_planner_t *p;
        ck_assert_int_eq(lct_pipe_planner_create(g, &ctx, &p), LCT_OK);
        uint32_t N = lct_pipe_planner_ngroups(p);
        ck_assert_uint_ge(N, 1);
        ck_assert_uint_ge(lct_pipe_planner_ncores(p, 0, N), 1);
        if (N <= 16) {
            lct_pipe_range_t *r;
            uint32_t nr;
            double total;
            ck_assert_int_eq(lct_pipe_planner_dp(p, 4, &r, &nr, &total), LCT_OK);
            double bf = brute(p, N, 4);
            ck_assert_msg(fabs(total - bf) <= 1e-9 * bf, "graph %d: DP %.6f, brute force %.6f", t,
                          total, bf);
            /* the chosen ranges tile the groups and add up */
            double sum = 0;
            uint32_t at = 0;
            for (uint32_t i = 0; i < nr; i++) {
                ck_assert_uint_eq(r[i].first, at);
                ck_assert_uint_gt(r[i].end, r[i].first);
                ck_assert_uint_le(lct_pipe_planner_ncores(p, r[i].first, r[i].end), 1);
                double c;
                bool ok;
                ck_assert_int_eq(lct_pipe_planner_cost(p, r[i].first, r[i].end, r[i].k, &c, &ok),
                                 LCT_OK);
                ck_assert(ok);
                ck_assert_double_eq_tol(c, r[i].cost, 1e-9 * c);
                sum += c;
                at = r[i].end;
            }
            ck_assert_uint_eq(at, N);
            ck_assert_double_eq_tol(sum, total, 1e-9 * total);
            free(r);
            tested++;
        }
        lct_pipe_planner_destroy(p);
        lct_plan_ctx_fini(&ctx);
        lct_graph_destroy(g);
    }
    ck_assert_int_ge(tested, 5);
    lct_config_reset();
}
END_TEST

/* ------------------------------------------------------------------ random DAGs */

#define NBUF 8
#define ROWS 16
#define ROWB 64 /* 16 floats */
#define BUFB (ROWS * ROWB)

static uint64_t buf_addr(uint32_t b) { return 0x100000ull * (b + 1); }
#define WEIGHT 0x7000000ull

static char rules_path[64];

static void write_rules(void)
{
    snprintf(rules_path, sizeof(rules_path), "/tmp/lct-pipe-rules-XXXXXX");
    int fd = mkstemp(rules_path);
    ck_assert_int_ge(fd, 0);
    const char *t = "rule rk_* kind=rows rows=2 row=0,1 grid=rows\n"
                    "rule rr_* kind=rows rows=3 row=0,1,2 grid=rows\n"
                    "rule ew_* kind=elementwise rows=2 row=0,1\n";
    ck_assert_int_eq(write(fd, t, strlen(t)), (ssize_t)strlen(t));
    close(fd);
    ck_assert_int_eq(lct_config_set(LCT_CFG_SPLIT_RULES, rules_path), LCT_OK);
}

static uint32_t add_kernel(lct_graph_t *g, const char *name, const uint64_t *w, uint32_t nw)
{
    uint32_t id;
    ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_KERNEL, name, &id), LCT_OK);
    lct_node_t *n = LCT_NODE(g, id);
    n->call.kind = LCT_CALL_KERNEL;
    lct_kernel_call_t *kc = &n->call.u.kernel;
    kc->grid[0] = ROWS;
    kc->grid[1] = kc->grid[2] = kc->block[1] = kc->block[2] = 1;
    kc->block[0] = 64;
    kc->nparams = nw;
    kc->param_bytes = 8 * nw;
    kc->param_offset = lct_arena_alloc(&g->arena, nw * 4);
    kc->param_size = lct_arena_alloc(&g->arena, nw * 4);
    kc->param_data = lct_arena_alloc(&g->arena, 8 * nw);
    for (uint32_t i = 0; i < nw; i++) {
        kc->param_offset[i] = 8 * i;
        kc->param_size[i] = 8;
        memcpy(kc->param_data + 8 * i, &w[i], 8);
    }
    return id;
}

/* A random forward-like step with footprint-consistent nodes. */
static lct_graph_t *random_forward(void)
{
    lct_graph_t *g;
    ck_assert_int_eq(lct_graph_create(&g), LCT_OK);
    g->meta.world_size = 4;
    uint32_t n = 10 + rnd(30), na2a = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t id = 0, kind = rnd(100), a = rnd(NBUF), b = (a + 1 + rnd(NBUF - 1)) % NBUF;
        uint32_t c = rnd(NBUF);
        if (kind < 30) {
            uint64_t w[] = {buf_addr(a), buf_addr(b), ROWS};
            id = add_kernel(g, "rk_x", w, 3);
            lct_node_add_range(g, id, buf_addr(a), BUFB, LCT_ACC_READ, true);
            lct_node_add_range(g, id, buf_addr(b), BUFB, LCT_ACC_WRITE, true);
        } else if (kind < 40 && c != a && c != b) {
            uint64_t w[] = {buf_addr(a), buf_addr(c), buf_addr(b), ROWS};
            id = add_kernel(g, "rr_x", w, 4);
            lct_node_add_range(g, id, buf_addr(a), BUFB, LCT_ACC_READ, true);
            lct_node_add_range(g, id, buf_addr(c), BUFB, LCT_ACC_READ, true);
            lct_node_add_range(g, id, buf_addr(b), BUFB, LCT_ACC_WRITE, true);
        } else if (kind < 48) {
            uint64_t w[] = {buf_addr(a), buf_addr(b), BUFB / 4};
            id = add_kernel(g, "ew_x", w, 3);
            lct_node_add_range(g, id, buf_addr(a), BUFB, LCT_ACC_READ, true);
            lct_node_add_range(g, id, buf_addr(b), BUFB, LCT_ACC_WRITE, true);
        } else if (kind < 60) {
            /* Y[16 tokens, 16] = X W^T */
            ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_KERNEL, "gemm", &id), LCT_OK);
            lct_gemm_call_t *gc = &LCT_NODE(g, id)->call.u.gemm;
            LCT_NODE(g, id)->call.kind = LCT_CALL_GEMM;
            LCT_NODE(g, id)->lib = "cublas";
            memset(gc, 0, sizeof(*gc));
            gc->trans_a = 1;
            gc->m = gc->n = gc->k = 16;
            gc->lda = gc->ldb = gc->ldc = 16;
            gc->batch = 1;
            gc->alpha = 1;
            gc->beta = rnd(4) == 0 ? 1.0 : 0.0;
            gc->a = WEIGHT;
            gc->b = buf_addr(a);
            gc->c = buf_addr(b);
            lct_range_t r[3];
            uint32_t nr = lct_gen_gemm_ranges(gc, r);
            for (uint32_t k = 0; k < nr; k++)
                lct_node_add_range(g, id, r[k].addr, r[k].size, r[k].access, r[k].exact);
        } else if (kind < 66) {
            ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_MEMCPY, "copy", &id), LCT_OK);
            LCT_NODE(g, id)->call.kind = LCT_CALL_COPY;
            LCT_NODE(g, id)->call.u.copy = (lct_copy_call_t){buf_addr(b), buf_addr(a), BUFB};
            lct_node_add_range(g, id, buf_addr(a), BUFB, LCT_ACC_READ, true);
            lct_node_add_range(g, id, buf_addr(b), BUFB, LCT_ACC_WRITE, true);
        } else if (kind < 70) {
            ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_MEMSET, "set", &id), LCT_OK);
            LCT_NODE(g, id)->call.kind = LCT_CALL_SET;
            LCT_NODE(g, id)->call.u.set = (lct_set_call_t){buf_addr(b), 0, 4, BUFB / 4};
            lct_node_add_range(g, id, buf_addr(b), BUFB, LCT_ACC_WRITE, true);
        } else if (kind < 88) {
            ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_COLLECTIVE, "a2a", &id), LCT_OK);
            lct_node_t *x = LCT_NODE(g, id);
            x->lib = "nccl";
            x->coll.op = LCT_COLL_ALLTOALL;
            x->coll.comm = 1;
            x->coll.nranks = 4;
            x->coll.dtype = LCT_DTYPE_F32;
            x->coll.count = BUFB / 4 / 4;
            x->coll.sendbuf = buf_addr(a);
            x->coll.recvbuf = buf_addr(b);
            x->coll.bytes = BUFB;
            x->role = LCT_ROLE_A2A;
            x->moe = (int32_t)(na2a / 2);
            x->coll.seq = na2a++;
            lct_node_add_range(g, id, buf_addr(a), BUFB, LCT_ACC_READ, true);
            lct_node_add_range(g, id, buf_addr(b), BUFB, LCT_ACC_WRITE, true);
        } else if (kind < 93) {
            /* a kernel nobody knows how to split, touching part of a buffer */
            ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_KERNEL, "opaque", &id), LCT_OK);
            lct_node_add_range(g, id, buf_addr(a) + 16 * rnd(ROWS), 16, LCT_ACC_RW, true);
        } else if (kind < 96) {
            ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_HOST, "host", &id), LCT_OK);
        } else {
            ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_EMPTY, "join", &id), LCT_OK);
        }
        lct_node_t *x = LCT_NODE(g, id);
        x->phase = LCT_PHASE_FORWARD;
        x->cost_us = x->kind == LCT_NODE_COLLECTIVE ? 50.0 + rnd(400)
                     : x->kind == LCT_NODE_EMPTY    ? 0.0
                                                    : 1.0 + rnd(100);
        if (i)
            ck_assert_int_eq(lct_graph_add_edge(g, id - 1, id, LCT_EDGE_STREAM), LCT_OK);
    }
    return g;
}

START_TEST(property_random_dags)
{
    quiet();
    write_rules();
    int pipelined = 0;
    for (int t = 0; t < 250; t++) {
        lct_graph_t *g = random_forward();
        lct_deps_opts_t o = lct_deps_opts_default();
        ck_assert_int_eq(lct_deps_rebuild(g, &o, NULL), LCT_OK);
        lct_graph_t *before;
        ck_assert_int_eq(lct_graph_clone(g, &before), LCT_OK);
        lct_plan_ctx_t ctx;
        int tutel = rnd(4) == 0 ? 2 + (int)rnd(3) : 0;
        ctx_for(&ctx, 2 + (int)rnd(4), tutel);
        ctx.interference = rnd(3) * 0.1;
        ck_assert_int_eq(lct_pass_pipeline(g, &ctx), LCT_OK);
        ck_assert_str_eq(ctx.report.pipe_rules_error, "");
        pipelined += ctx.report.pipelined_ranges > 0;
        check_invariants(before, g);
        lct_plan_ctx_fini(&ctx);
        lct_graph_destroy(before);
        lct_graph_destroy(g);
    }
    /* the property means something only if many graphs were really rewritten */
    ck_assert_int_ge(pipelined, 50);
    unlink(rules_path);
    lct_config_reset();
}
END_TEST

/* ------------------------------------------------------------------ memory budget */

/* Two independent branches before an all-to-all: r (cheap) reads X, which is freed after it; q
 * (expensive) feeds the all-to-all and reads A, whose range is allocated again (Y) after it.
 * Unsplit, r and q share the compute engine from t = 0: r ends first, X is freed before Y is
 * allocated and the two are never live together. Cut into chunks, the compute order runs q's
 * chunks first (they lead to the all-to-all), so Y is allocated while X still waits for r: both
 * live together, one buffer more. */
static lct_graph_t *memory_graph(void)
{
    lct_graph_t *g;
    ck_assert_int_eq(lct_graph_create(&g), LCT_OK);
    g->meta.world_size = 4;
    uint64_t X = buf_addr(0), A = buf_addr(1), Z = buf_addr(2), S = buf_addr(3), Rv = buf_addr(4);
    uint32_t ax, r, fx, q, ay, d, t;
    ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_MEM_ALLOC, "alloc.X", &ax), LCT_OK);
    LCT_NODE(g, ax)->mem_bytes = BUFB;
    lct_node_add_range(g, ax, X, BUFB, LCT_ACC_WRITE, true);
    uint64_t wr[] = {X, Z, ROWS};
    r = add_kernel(g, "rk_r", wr, 3);
    lct_node_add_range(g, r, X, BUFB, LCT_ACC_READ, true);
    lct_node_add_range(g, r, Z, BUFB, LCT_ACC_WRITE, true);
    LCT_NODE(g, r)->cost_us = 10;
    ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_MEM_FREE, "free.X", &fx), LCT_OK);
    LCT_NODE(g, fx)->mem_bytes = BUFB;
    lct_node_add_range(g, fx, X, BUFB, LCT_ACC_WRITE, true);
    uint64_t wq[] = {A, S, ROWS};
    q = add_kernel(g, "rk_q", wq, 3);
    lct_node_add_range(g, q, A, BUFB, LCT_ACC_READ, true);
    lct_node_add_range(g, q, S, BUFB, LCT_ACC_WRITE, true);
    LCT_NODE(g, q)->cost_us = 100;
    ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_MEM_ALLOC, "alloc.Y", &ay), LCT_OK);
    LCT_NODE(g, ay)->mem_bytes = BUFB;
    lct_node_add_range(g, ay, A, BUFB, LCT_ACC_WRITE, true);
    ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_COLLECTIVE, "a2a", &d), LCT_OK);
    lct_node_t *x = LCT_NODE(g, d);
    /* one peer: its chunks are the rows q and t cut */
    x->coll = (lct_coll_t){LCT_COLL_ALLTOALL, 1, 0, 1, LCT_DTYPE_F32, BUFB / 4, S, Rv, -1, BUFB,
                           0, NULL};
    x->moe = 0;
    x->cost_us = 1000;
    lct_node_add_range(g, d, S, BUFB, LCT_ACC_READ, true);
    lct_node_add_range(g, d, Rv, BUFB, LCT_ACC_WRITE, true);
    uint64_t wt[] = {Rv, buf_addr(5), ROWS};
    t = add_kernel(g, "rk_t", wt, 3);
    lct_node_add_range(g, t, Rv, BUFB, LCT_ACC_READ, true);
    lct_node_add_range(g, t, buf_addr(5), BUFB, LCT_ACC_WRITE, true);
    LCT_NODE(g, t)->cost_us = 100;
    uint32_t ids[] = {ax, r, fx, q, ay, d, t};
    for (int i = 0; i < 7; i++) {
        LCT_NODE(g, ids[i])->phase = LCT_PHASE_FORWARD;
        if (i)
            lct_graph_add_edge(g, ids[i - 1], ids[i], LCT_EDGE_STREAM);
    }
    lct_deps_opts_t o = lct_deps_opts_default();
    ck_assert_int_eq(lct_deps_rebuild(g, &o, NULL), LCT_OK);
    return g;
}

START_TEST(memory_budget_stops_range)
{
    quiet();
    write_rules();
    ck_assert_int_eq(lct_config_set(LCT_CFG_PIPELINE_GROUPS, "1000"), LCT_OK);
    for (int budget = 0; budget < 2; budget++) {
        lct_graph_t *g = memory_graph();
        lct_plan_ctx_t ctx;
        ctx_for(&ctx, 2, 0);
        ctx.interference = 0;
        ctx.mem_budget_bytes = budget ? 1u << 30 : 0;
        lct_pipe_planner_t *p;
        ck_assert_int_eq(lct_pipe_planner_create(g, &ctx, &p), LCT_OK);
        uint32_t N = lct_pipe_planner_ngroups(p);
        ck_assert_uint_ge(N, 2);
        /* the range from the start holds the allocations */
        double c;
        bool ok;
        ck_assert_int_eq(lct_pipe_planner_cost(p, 0, N, 2, &c, &ok), LCT_OK);
        ck_assert_int_eq(ok, budget == 1);
        lct_pipe_planner_destroy(p);
        ck_assert_int_eq(lct_pass_pipeline(g, &ctx), LCT_OK);
        ck_assert_uint_eq(ctx.report.pipe_nlayers, 1);
        const lct_pipe_layer_t *L = &ctx.report.pipe[0];
        if (getenv("LCT_TEST_VERBOSE"))
            lct_pipe_report_text(stderr, g, &ctx);
        if (!budget) {
            /* the range could not reach back over the allocation of X: that is the limit the
             * report names (right next to the range, or beyond groups not worth taking) */
            ck_assert(L->stop[0] == LCT_PIPE_STOP_MEMORY || L->stop[0] == LCT_PIPE_STOP_COST);
            ck_assert_str_eq(L->stop_node[0], "alloc.X");
            ck_assert_ptr_nonnull(strstr(L->stop_msg[0], "budget"));
            ck_assert_str_ne(L->first, "alloc.X");
        } else {
            ck_assert_str_eq(L->first, "alloc.X");
            ck_assert_int_eq(L->stop[0], LCT_PIPE_STOP_BOUNDARY);
        }
        ck_assert_uint_eq(L->k, 2);
        lct_plan_ctx_fini(&ctx);
        lct_graph_destroy(g);
    }
    unlink(rules_path);
    lct_config_reset();
}
END_TEST

/* ------------------------------------------------------------------ reports and the plan */

START_TEST(stop_reason_no_rule)
{
    quiet();
    lct_gen_cfg_t cfg = tiny_cfg(2);
    lct_graph_t *g = gen(&cfg);
    for (uint32_t v = 0; v < LCT_NNODES(g); v++) /* launch overheads negligible */
        LCT_NODE(g, v)->cost_us *= 100.0;
    scale_a2a(g, 3.0);
    /* the gate's top-1 kernel becomes one nobody has a rule for */
    uint32_t gate = UINT32_MAX;
    for (uint32_t v = 0; v < LCT_NNODES(g); v++)
        if (strcmp(LCT_NODE(g, v)->name, "l0.moe.gate_top1_fwd") == 0)
            gate = v;
    ck_assert_uint_ne(gate, UINT32_MAX);
    LCT_NODE(g, gate)->name = "custom_gate_kernel";
    lct_plan_ctx_t ctx;
    ctx_for(&ctx, 4, 0);
    ck_assert_int_eq(lct_pass_pipeline(g, &ctx), LCT_OK);
    ck_assert_uint_eq(ctx.report.pipe_nlayers, 1);
    const lct_pipe_layer_t *L = &ctx.report.pipe[0];
    ck_assert_uint_ge(L->k, 2);
    ck_assert_int_eq(L->stop[0], LCT_PIPE_STOP_NO_RULE);
    ck_assert_str_eq(L->stop_node[0], "custom_gate_kernel");
    ck_assert(strcmp(L->first, "l0.moe.dispatch_fwd") == 0 ||
              strcmp(L->first, "l0.moe.a2a_dispatch") == 0);
    ck_assert(L->exposed_after_us < L->exposed_before_us);
    ck_assert(L->range_after_us < L->range_before_us);
    /* the report text names it */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    lct_pipe_report_text(f, g, &ctx);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "no split rule at custom_gate_kernel"));
    ck_assert_ptr_nonnull(strstr(buf, "forward a2a exposed"));
    free(buf);
    json_t *j = lct_pipe_report_json(g, &ctx);
    ck_assert_ptr_nonnull(j);
    json_t *layers = json_object_get(j, "layers");
    ck_assert_int_eq(json_array_size(layers), 1);
    json_t *stops = json_object_get(json_array_get(layers, 0), "stops");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(stops, 0), "why")),
                     "no split rule");
    json_decref(j);
    lct_plan_ctx_fini(&ctx);
    lct_graph_destroy(g);
}
END_TEST

START_TEST(plan_with_dw)
{
    quiet();
    lct_gen_cfg_t cfg = tiny_cfg(4);
    lct_graph_t *g = gen(&cfg);
    scale_a2a(g, 50.0);
    lct_graph_t *before;
    ck_assert_int_eq(lct_graph_clone(g, &before), LCT_OK);
    lct_plan_ctx_t ctx;
    ctx_for(&ctx, 4, 0);
    ck_assert(ctx.dw);
    ck_assert_int_eq(lct_plan_run(g, &ctx), LCT_OK);
    ck_assert_uint_ge(ctx.report.pipelined_ranges, 1);
    ck_assert(ctx.report.predicted_after_us < ctx.report.predicted_before_us);
    check_invariants(before, g);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    lct_plan_report_text(f, g, &ctx);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "forward pipeline: 2 MoE layers"));
    free(buf);
    char *js = lct_plan_report_json(g, &ctx);
    ck_assert_ptr_nonnull(js);
    json_t *j = json_loads(js, 0, NULL);
    ck_assert_ptr_nonnull(j);
    json_t *d = json_object_get(json_object_get(j, "pipeline"), "detail");
    ck_assert_int_eq(json_integer_value(json_object_get(d, "moe_layers")), 2);
    ck_assert_int_eq(json_array_size(json_object_get(d, "layers")), 2);
    json_decref(j);
    free(js);
    lct_plan_ctx_fini(&ctx);
    lct_graph_destroy(before);
    lct_graph_destroy(g);
}
END_TEST

/* Backward expert chains, Tutel-style (degree 2, as Tutel's chunked forward gives its backward):
 * each MoE layer's first to last backward all-to-all with the expert input-gradient GEMMs and
 * ReLU between them is cut in two; every invariant holds; and chunk 0's expert GEMM waits for
 * chunk 0's all-to-all only, not chunk 1's (the allocation the GEMM writes into follows the
 * first chunk of what came before it, not all of it). */
START_TEST(backward_chains)
{
    quiet();
    lct_gen_cfg_t cfg = tiny_cfg(4);
    lct_graph_t *g = gen(&cfg);
    scale_a2a(g, 50.0);
    lct_graph_t *before;
    ck_assert_int_eq(lct_graph_clone(g, &before), LCT_OK);
    lct_plan_ctx_t ctx;
    ctx_for(&ctx, 4, 2);
    ctx.dw = false;
    ck_assert_int_eq(lct_plan_run(g, &ctx), LCT_OK);
    ck_assert_uint_eq(ctx.report.bwd_chains, 2);
    ck_assert_uint_eq(ctx.report.bwd_pipelined, 2);
    ck_assert_uint_gt(ctx.report.bwd_nodes_added, 0);
    check_invariants(before, g);
    uint32_t a2a1 = UINT32_MAX, gemm0 = UINT32_MAX, a2a_whole = UINT32_MAX;
    for (uint32_t v = 0; v < LCT_NNODES(g); v++) {
        const char *nm = LCT_NODE(g, v)->name;
        if (!strcmp(nm, "l0.moe.a2a_combine_bwd#1"))
            a2a1 = v;
        else if (!strncmp(nm, "l0.moe.expert_fc2_gemm.dx#0", 27) && gemm0 == UINT32_MAX)
            gemm0 = v;
        else if (!strcmp(nm, "l0.moe.a2a_combine_bwd"))
            a2a_whole = v;
    }
    ck_assert_uint_ne(a2a1, UINT32_MAX);
    ck_assert_uint_ne(gemm0, UINT32_MAX);
    ck_assert_int_eq(LCT_NODE(g, a2a_whole)->kind, LCT_NODE_EMPTY); /* the join */
    reach_t r;
    reach_fill(g, &r);
    ck_assert_msg(!reaches(&r, a2a1, gemm0), "chunk 0's expert GEMM waits for chunk 1's a2a");
    free(r.bits);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    lct_plan_report_text(f, g, &ctx);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "backward expert chains: 2 of 2 pipelined"));
    free(buf);
    lct_plan_ctx_fini(&ctx);
    lct_graph_destroy(before);
    lct_graph_destroy(g);

    /* more shapes, Tutel degrees and Lancet's own choice (with the dW pass): every invariant */
    static const struct {
        int nl, world, tutel;
        double a2a;
    } cases[] = {{2, 2, 2, 50}, {4, 8, 4, 50}, {2, 4, 3, 20}, {4, 4, 0, 200}, {2, 8, 0, 500}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lct_gen_cfg_t c2 = tiny_cfg(cases[i].nl);
        c2.world_size = c2.gpus_per_node = cases[i].world;
        g = gen(&c2);
        scale_a2a(g, cases[i].a2a);
        ck_assert_int_eq(lct_graph_clone(g, &before), LCT_OK);
        ctx_for(&ctx, 4, cases[i].tutel);
        ctx.dw = cases[i].tutel == 0;
        ck_assert_int_eq(lct_plan_run(g, &ctx), LCT_OK);
        ck_assert_uint_eq(ctx.report.bwd_chains, (uint32_t)(cases[i].nl + 1) / 2);
        /* Tutel: a chain is cut wherever its forward core could be (same capacity slots) */
        if (cases[i].tutel)
            ck_assert_uint_eq(ctx.report.bwd_pipelined, ctx.report.pipelined_ranges);
        check_invariants(before, g);
        lct_plan_ctx_fini(&ctx);
        lct_graph_destroy(before);
        lct_graph_destroy(g);
    }
}
END_TEST

START_TEST(no_moe_and_bad_rules_file)
{
    quiet();
    lct_gen_cfg_t cfg = tiny_cfg(2);
    cfg.moe_every = 0; /* dense */
    lct_graph_t *g = gen(&cfg);
    uint32_t n = LCT_NNODES(g);
    ck_assert_int_eq(lct_config_set(LCT_CFG_SPLIT_RULES, "/nonexistent/split.rules"), LCT_OK);
    lct_log_set_stream(fopen("/dev/null", "w"));
    lct_plan_ctx_t ctx;
    ctx_for(&ctx, 4, 0);
    ck_assert_int_eq(lct_pass_pipeline(g, &ctx), LCT_OK);
    lct_log_set_stream(NULL);
    ck_assert_uint_eq(LCT_NNODES(g), n);
    ck_assert_uint_eq(ctx.report.pipe_layers_total, 0);
    ck_assert_ptr_nonnull(strstr(ctx.report.pipe_rules_error, "/nonexistent/split.rules"));
    lct_plan_ctx_fini(&ctx);
    lct_graph_destroy(g);
    lct_config_reset();
}
END_TEST

static Suite *pipeline_suite(void)
{
    Suite *s = suite_create("pipeline");
    TCase *t = tcase_create("pipeline");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, golden_tiny);
    tcase_add_test(t, dp_matches_brute_force);
    tcase_add_test(t, property_random_dags);
    tcase_add_test(t, memory_budget_stops_range);
    tcase_add_test(t, stop_reason_no_rule);
    tcase_add_test(t, plan_with_dw);
    tcase_add_test(t, backward_chains);
    tcase_add_test(t, no_moe_and_bad_rules_file);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pipeline_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
