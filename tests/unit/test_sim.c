/* Unit tests of the timeline simulator against hand-computed timelines, and of its outputs (text
 * and JSON reports, Chrome trace, SVG). */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/lct_log.h"
#include "cost/lct_sim.h"

#define EPS 1e-9

static char *slurp(const char *path);
static void check_xml_balanced(const char *s);

static char tmpdir[64];

static void setup(void)
{
    strcpy(tmpdir, "/tmp/lct-test-sim-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static const char *tmp_path(const char *name)
{
    static char buf[256];
    snprintf(buf, sizeof(buf), "%s/%s", tmpdir, name);
    return buf;
}

static FILE *devnull;
static void quiet(void)
{
    devnull = fopen("/dev/null", "w");
    lct_log_set_stream(devnull);
}
static void loud(void)
{
    lct_log_set_stream(NULL);
    fclose(devnull);
}

static lct_graph_t *new_graph(void)
{
    lct_graph_t *g;
    ck_assert_int_eq(lct_graph_create(&g), LCT_OK);
    return g;
}

static uint32_t kern(lct_graph_t *g, const char *name, double us)
{
    uint32_t id;
    ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_KERNEL, name, &id), LCT_OK);
    LCT_NODE(g, id)->cost_us = us;
    return id;
}

static uint32_t coll(lct_graph_t *g, const char *name, lct_coll_op_t op, double us)
{
    uint32_t id;
    ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_COLLECTIVE, name, &id), LCT_OK);
    LCT_NODE(g, id)->cost_us = us;
    LCT_NODE(g, id)->coll.op = op;
    LCT_NODE(g, id)->lib = "nccl";
    return id;
}

static uint32_t other(lct_graph_t *g, lct_node_kind_t kind, double us)
{
    uint32_t id;
    ck_assert_int_eq(lct_graph_add_node(g, kind, NULL, &id), LCT_OK);
    LCT_NODE(g, id)->cost_us = us;
    return id;
}

static void edge(lct_graph_t *g, uint32_t a, uint32_t b)
{
    ck_assert_int_eq(lct_graph_add_edge(g, a, b, LCT_EDGE_DATA), LCT_OK);
}

static void run(lct_graph_t *g, double f, lct_sim_result_t *r)
{
    ck_assert_int_eq(lct_graph_fill_adj(g), LCT_OK);
    lct_sim_cfg_t cfg = {f};
    ck_assert_int_eq(lct_sim_run(g, &cfg, r), LCT_OK);
    ck_assert_uint_eq(r->n, LCT_NNODES(g));
}

#define ASSERT_SE(r, v, s, e)                                                                      \
    do {                                                                                           \
        ck_assert_double_eq_tol((r)->start[v], (s), EPS);                                          \
        ck_assert_double_eq_tol((r)->end[v], (e), EPS);                                            \
    } while (0)

START_TEST(sim_chain)
{
    lct_graph_t *g = new_graph();
    uint32_t a = kern(g, "a", 10), b = kern(g, "b", 20), c = kern(g, "c", 5);
    edge(g, a, b);
    edge(g, b, c);
    lct_sim_result_t r;
    run(g, 0.3, &r); /* no communication: interference irrelevant */
    ASSERT_SE(&r, a, 0, 10);
    ASSERT_SE(&r, b, 10, 30);
    ASSERT_SE(&r, c, 30, 35);
    ck_assert_double_eq_tol(r.makespan, 35, EPS);
    ck_assert_double_eq_tol(r.compute_total, 35, EPS);
    ck_assert_double_eq_tol(r.critical_path, 35, EPS);
    ck_assert_double_eq_tol(r.lower_bound, 35, EPS);
    ck_assert_double_eq(r.comm_total, 0);
    ck_assert_double_eq(r.comm_busy, 0);
    ck_assert_uint_eq(r.na2a, 0);
    lct_sim_result_free(&r);
    ck_assert_ptr_null(r.start);
    lct_graph_destroy(g);
}
END_TEST

START_TEST(sim_compute_sharing)
{
    /* Two independent 10 us kernels share the engine: both end at 20 (the sum). */
    lct_graph_t *g = new_graph();
    uint32_t a = kern(g, "a", 10), b = kern(g, "b", 10);
    lct_sim_result_t r;
    run(g, 0, &r);
    ASSERT_SE(&r, a, 0, 20);
    ASSERT_SE(&r, b, 0, 20);
    ck_assert_double_eq_tol(r.makespan, 20, EPS);
    ck_assert_double_eq_tol(r.critical_path, 10, EPS);
    ck_assert_double_eq_tol(r.lower_bound, 20, EPS); /* compute total */
    lct_sim_result_free(&r);
    /* 10 and 30: half speed each until the short one ends at 20 (10 done each), then the long
     * one alone for its last 20: ends at 40. */
    LCT_NODE(g, b)->cost_us = 30;
    run(g, 0, &r);
    ASSERT_SE(&r, a, 0, 20);
    ASSERT_SE(&r, b, 0, 40);
    lct_sim_result_free(&r);
    /* A third kernel joins at 10 after a 5 us predecessor... of its own: c0(5) -> c(5).
     * 0..15: a, b, c0 at 1/3 each: c0 done at 15 (5 done), a and b at 5.
     * 15..: a, b, c at 1/3: a needs 5 more -> c needs 5 -> both finish at 30 (a, c), b at 5+5=10
     * done of 30; then b alone: 20 more -> 50. */
    uint32_t c0 = kern(g, "c0", 5), c = kern(g, "c", 5);
    edge(g, c0, c);
    run(g, 0, &r);
    ASSERT_SE(&r, c0, 0, 15);
    ASSERT_SE(&r, a, 0, 30);
    ASSERT_SE(&r, c, 15, 30);
    ASSERT_SE(&r, b, 0, 50);
    ck_assert_double_eq_tol(r.makespan, 50, EPS);
    lct_sim_result_free(&r);
    lct_graph_destroy(g);
}
END_TEST

START_TEST(sim_comm_sharing_and_host)
{
    lct_graph_t *g = new_graph();
    uint32_t m1 = coll(g, "ar1", LCT_COLL_ALLREDUCE, 10), m2 = coll(g, "ar2", LCT_COLL_ALLREDUCE, 10);
    uint32_t h = other(g, LCT_NODE_HOST, 15), k = kern(g, "k", 12);
    lct_sim_result_t r;
    run(g, 0, &r);
    ASSERT_SE(&r, m1, 0, 20); /* comm engine shared */
    ASSERT_SE(&r, m2, 0, 20);
    ASSERT_SE(&r, h, 0, 15);  /* host delay shares nothing */
    ASSERT_SE(&r, k, 0, 12);  /* compute not slowed (f = 0) */
    ck_assert_double_eq_tol(r.comm_total, 20, EPS);
    ck_assert_double_eq_tol(r.compute_total, 12, EPS);
    ck_assert_double_eq_tol(r.comm_busy, 20, EPS);
    ck_assert_double_eq_tol(r.comm_overlapped, 12, EPS);
    ck_assert_double_eq_tol(r.comm_exposed, 8, EPS);
    lct_sim_result_free(&r);
    lct_graph_destroy(g);
}
END_TEST

START_TEST(sim_interference)
{
    /* Compute 100 us next to a 50 us collective with f = 0.2: while the collective runs the
     * kernel progresses at 0.8, so 40 us of its work is done at t = 50 and the other 60 run at
     * full speed: it ends at 50 + 60 = 110. */
    lct_graph_t *g = new_graph();
    uint32_t c = kern(g, "c", 100), m = coll(g, "a2a", LCT_COLL_ALLTOALL, 50);
    lct_sim_result_t r;
    run(g, 0.2, &r);
    ASSERT_SE(&r, m, 0, 50);
    ASSERT_SE(&r, c, 0, 110);
    ck_assert_double_eq_tol(r.comm_overlapped, 50, EPS);
    ck_assert_double_eq_tol(r.comm_exposed, 0, EPS);
    ck_assert_double_eq_tol(r.lower_bound, 100, EPS); /* interference is not in this bound */
    /* but in this one: 100 + 0.2 x 50, reached here because the whole collective overlaps */
    ck_assert_double_eq_tol(r.lower_bound_interference, 110, EPS);
    lct_sim_result_free(&r);
    /* Kernel shorter than the collective: 30 us at 0.8 ends at 37.5; comm exposed 12.5. */
    LCT_NODE(g, c)->cost_us = 30;
    run(g, 0.2, &r);
    ASSERT_SE(&r, c, 0, 37.5);
    ASSERT_SE(&r, m, 0, 50);
    ck_assert_double_eq_tol(r.comm_overlapped, 37.5, EPS);
    ck_assert_double_eq_tol(r.comm_exposed, 12.5, EPS);
    ck_assert_uint_eq(r.na2a, 1);
    ck_assert_double_eq_tol(r.a2a_exposed[0], 12.5, EPS);
    lct_sim_result_free(&r);
    /* Two kernels of 30 and a 40 us collective, f = 0.25: each kernel at 0.75 / 2 = 0.375 until
     * 40 (15 done each), then 0.5 each for the remaining 15: both end at 70. */
    LCT_NODE(g, m)->cost_us = 40;
    uint32_t c2 = kern(g, "c2", 30);
    run(g, 0.25, &r);
    ASSERT_SE(&r, m, 0, 40);
    ASSERT_SE(&r, c, 0, 70);
    ASSERT_SE(&r, c2, 0, 70);
    lct_sim_result_free(&r);
    /* f = 1: compute stops while communication runs. */
    run(g, 1.0, &r);
    ASSERT_SE(&r, c, 0, 100);
    ASSERT_SE(&r, c2, 0, 100);
    lct_sim_result_free(&r);
    lct_graph_destroy(g);
}
END_TEST

START_TEST(sim_exposed_split_and_a2a)
{
    /* k1(20) -> a2a m(50) -> a2a m2(10); k1 -> k2(30); all-reduce ar(5) after m2.
     * 0..20 k1; 20..50 k2 with m (overlapped 30); 50..70 m alone (exposed 20);
     * 70..80 m2 alone (exposed 10); 80..85 ar alone (exposed 5). */
    lct_graph_t *g = new_graph();
    uint32_t k1 = kern(g, "k1", 20), m = coll(g, "a2a-0", LCT_COLL_ALLTOALL, 50);
    uint32_t m2 = coll(g, "a2a-1", LCT_COLL_ALLTOALL, 10), k2 = kern(g, "k2", 30);
    uint32_t ar = coll(g, "grad-ar", LCT_COLL_ALLREDUCE, 5);
    edge(g, k1, m);
    edge(g, m, m2);
    edge(g, k1, k2);
    edge(g, m2, ar);
    lct_sim_result_t r;
    run(g, 0, &r);
    ASSERT_SE(&r, m, 20, 70);
    ASSERT_SE(&r, k2, 20, 50);
    ASSERT_SE(&r, m2, 70, 80);
    ASSERT_SE(&r, ar, 80, 85);
    ck_assert_double_eq_tol(r.makespan, 85, EPS);
    ck_assert_double_eq_tol(r.comm_busy, 65, EPS);
    ck_assert_double_eq_tol(r.comm_overlapped, 30, EPS);
    ck_assert_double_eq_tol(r.comm_exposed, 35, EPS);
    ck_assert_double_eq_tol(r.critical_path, 85, EPS);
    ck_assert_double_eq_tol(r.lower_bound, 85, EPS);
    ck_assert_uint_eq(r.na2a, 2); /* the all-reduce is not an a2a */
    ck_assert_uint_eq(r.a2a_nodes[0], m);
    ck_assert_uint_eq(r.a2a_nodes[1], m2);
    ck_assert_double_eq_tol(r.a2a_exposed[0], 20, EPS);
    ck_assert_double_eq_tol(r.a2a_exposed[1], 10, EPS);
    lct_sim_result_free(&r);
    /* Start order, not index order: a later-indexed a2a that starts first is listed first. */
    uint32_t m0 = coll(g, "a2a-early", LCT_COLL_ALLTOALL, 4);
    run(g, 0, &r);
    ck_assert_uint_eq(r.na2a, 3);
    ck_assert_uint_eq(r.a2a_nodes[0], m0);
    ck_assert_double_eq_tol(r.a2a_exposed[0], 0, EPS); /* k1 runs all along */
    ck_assert_uint_eq(r.a2a_nodes[1], m);
    lct_sim_result_free(&r);
    lct_graph_destroy(g);
}
END_TEST

START_TEST(sim_zero_cost_nodes)
{
    lct_graph_t *g = new_graph();
    uint32_t src = other(g, LCT_NODE_EMPTY, 0);          /* instant source */
    uint32_t k1 = kern(g, "k1", 10);
    uint32_t e = other(g, LCT_NODE_EVENT_RECORD, 99);    /* events never take time */
    uint32_t z = kern(g, "zero", 0);                     /* a kernel of cost 0 */
    uint32_t al = other(g, LCT_NODE_MEM_ALLOC, 7);       /* alloc is instant */
    uint32_t hz = other(g, LCT_NODE_HOST, 0);            /* host with cost 0 */
    uint32_t k2 = kern(g, "k2", 10);
    edge(g, src, k1);
    edge(g, k1, e);
    edge(g, e, z);
    edge(g, z, al);
    edge(g, al, hz);
    edge(g, hz, k2);
    lct_sim_result_t r;
    run(g, 0, &r);
    ASSERT_SE(&r, src, 0, 0);
    ASSERT_SE(&r, k1, 0, 10);
    ASSERT_SE(&r, e, 10, 10);
    ASSERT_SE(&r, z, 10, 10);
    ASSERT_SE(&r, al, 10, 10);
    ASSERT_SE(&r, hz, 10, 10);
    ASSERT_SE(&r, k2, 10, 20);
    ck_assert_double_eq_tol(r.makespan, 20, EPS);
    ck_assert_double_eq_tol(r.critical_path, 20, EPS);
    ck_assert_double_eq_tol(r.compute_total, 20, EPS);
    lct_sim_result_free(&r);
    lct_graph_destroy(g);

    /* Only zero-cost nodes; and an empty graph. */
    g = new_graph();
    uint32_t a = other(g, LCT_NODE_EMPTY, 0), b = other(g, LCT_NODE_EVENT_WAIT, 0);
    edge(g, a, b);
    run(g, 0, &r);
    ck_assert_double_eq(r.makespan, 0);
    ck_assert_double_eq(r.end[b], 0);
    lct_sim_result_free(&r);
    lct_graph_destroy(g);
    g = new_graph();
    run(g, 0, &r);
    ck_assert_double_eq(r.makespan, 0);
    ck_assert_uint_eq(r.n, 0);
    lct_sim_result_free(&r);
    lct_graph_destroy(g);
}
END_TEST

static uint32_t mem_node(lct_graph_t *g, lct_node_kind_t kind, uint64_t addr, uint64_t bytes)
{
    uint32_t id = other(g, kind, 0);
    LCT_NODE(g, id)->mem_bytes = bytes;
    if (addr)
        ck_assert_int_eq(lct_node_add_range(g, id, addr, bytes, LCT_ACC_WRITE, true), LCT_OK);
    return id;
}

START_TEST(sim_peak_memory)
{
    /* alloc1(100) -> k1(10) -> free1 -> alloc3(200) -> k3(10) -> free3 -> free2
     * alloc2(50) at 0, freed after k3; a free of memory allocated outside the graph at 0.
     * t=0: 150 live; t=10: free1 then alloc3 (the edge orders them) -> 250; t=20: 0. */
    lct_graph_t *g = new_graph();
    uint32_t outside = mem_node(g, LCT_NODE_MEM_FREE, 0x9000, 1000);
    uint32_t a1 = mem_node(g, LCT_NODE_MEM_ALLOC, 0x1000, 100);
    uint32_t a2 = mem_node(g, LCT_NODE_MEM_ALLOC, 0x2000, 50);
    uint32_t k1 = kern(g, "k1", 10);
    uint32_t f1 = mem_node(g, LCT_NODE_MEM_FREE, 0x1000, 100);
    uint32_t a3 = mem_node(g, LCT_NODE_MEM_ALLOC, 0x1000, 200);
    uint32_t k3 = kern(g, "k3", 10);
    uint32_t f3 = mem_node(g, LCT_NODE_MEM_FREE, 0x1000, 200);
    uint32_t f2 = mem_node(g, LCT_NODE_MEM_FREE, 0x2000, 50);
    edge(g, a1, k1);
    edge(g, k1, f1);
    edge(g, f1, a3);
    edge(g, a3, k3);
    edge(g, k3, f3);
    edge(g, f3, f2);
    (void)outside;
    (void)a2;
    lct_sim_result_t r;
    run(g, 0, &r);
    ck_assert_double_eq(r.peak_mem_bytes, 250);
    ck_assert_double_eq_tol(r.end[f2], 20, EPS);
    lct_sim_result_free(&r);
    /* Allocate the next buffer before freeing the first: the peak grows to 350. */
    lct_graph_remove_edges(g, 1u << LCT_EDGE_DATA);
    edge(g, a1, k1);
    edge(g, k1, a3);
    edge(g, a3, f1);
    edge(g, f1, k3);
    edge(g, k3, f3);
    edge(g, f3, f2);
    LCT_NODE(g, a3)->fp.ranges[0].addr = 0x3000; /* both live at once: another address */
    LCT_NODE(g, f3)->fp.ranges[0].addr = 0x3000;
    run(g, 0, &r);
    ck_assert_double_eq(r.peak_mem_bytes, 350);
    lct_sim_result_free(&r);
    lct_graph_destroy(g);
}
END_TEST

/* Random DAG with a fixed generator: compute, communication and zero-cost nodes, roles and
 * phases for the pictures. */
static lct_graph_t *random_graph(uint32_t n, uint64_t seed)
{
    lct_graph_t *g = new_graph();
    uint64_t x = seed;
#define RND() (x = x * 6364136223846793005ull + 1442695040888963407ull, (uint32_t)(x >> 33))
    for (uint32_t i = 0; i < n; i++) {
        uint32_t r = RND() % 100, id;
        if (r < 12) {
            id = coll(g, "a2a", LCT_COLL_ALLTOALL, 20 + RND() % 200);
            LCT_NODE(g, id)->role = LCT_ROLE_A2A;
        } else if (r < 16) {
            id = coll(g, "grad_all_reduce", LCT_COLL_ALLREDUCE, 10 + RND() % 100);
            LCT_NODE(g, id)->role = LCT_ROLE_ALLREDUCE;
        } else if (r < 20) {
            id = other(g, LCT_NODE_EMPTY, 0);
        } else {
            id = kern(g, "gemm_kernel", 1 + RND() % 60);
            uint32_t k = RND() % 5;
            lct_node_t *nd = LCT_NODE(g, id);
            nd->phase = i < n / 2 ? LCT_PHASE_FORWARD : i < n * 9 / 10 ? LCT_PHASE_BACKWARD
                                                                        : LCT_PHASE_OPTIMIZER;
            if (nd->phase == LCT_PHASE_BACKWARD)
                nd->role = k < 2 ? LCT_ROLE_DW : k < 4 ? LCT_ROLE_DX : LCT_ROLE_OTHER;
        }
        /* edges from a few recent nodes keep it layered like a training step */
        uint32_t ne = i ? 1 + RND() % 3 : 0;
        for (uint32_t e = 0; e < ne; e++) {
            uint32_t back = 1 + RND() % (i < 8 ? i : 8);
            if (!lct_graph_has_edge(g, i - back, i))
                edge(g, i - back, i);
        }
    }
#undef RND
    return g;
}

/* The interference bound (compute_total + f x comm_total) holds for every schedule the
 * simulator produces: random steps, interference from none to total. Some of them are
 * communication-heavy enough that the bound is the binding one, which the test also checks. */
START_TEST(sim_interference_bound_holds)
{
    static const double fs[] = {0.0, 0.15, 0.5, 0.9, 1.0};
    uint32_t binding = 0;
    for (uint64_t seed = 1; seed <= 60; seed++) {
        lct_graph_t *g = random_graph(300, seed);
        for (size_t i = 0; i < sizeof(fs) / sizeof(fs[0]); i++) {
            lct_sim_result_t r;
            run(g, fs[i], &r);
            double b = r.compute_total + fs[i] * r.comm_total;
            ck_assert_double_eq_tol(r.lower_bound_interference, fmax(r.lower_bound, b), 1e-9);
            ck_assert(r.makespan >= r.lower_bound_interference - 1e-6 * r.makespan);
            binding += b > r.lower_bound;
            lct_sim_result_free(&r);
        }
        lct_graph_destroy(g);
    }
    ck_assert_uint_gt(binding, 0);
}
END_TEST

START_TEST(sim_random_invariants_and_determinism)
{
    lct_graph_t *g = random_graph(2000, 12345);
    lct_sim_result_t r1, r2;
    run(g, 0.15, &r1);
    run(g, 0.15, &r2);
    ck_assert_mem_eq(r1.start, r2.start, r1.n * sizeof(double));
    ck_assert_mem_eq(r1.end, r2.end, r1.n * sizeof(double));
    ck_assert(r1.makespan == r2.makespan && r1.comm_exposed == r2.comm_exposed);
    ck_assert_uint_eq(r1.na2a, r2.na2a);
    ck_assert_mem_eq(r1.a2a_nodes, r2.a2a_nodes, r1.na2a * sizeof(uint32_t));
    ck_assert_mem_eq(r1.a2a_exposed, r2.a2a_exposed, r1.na2a * sizeof(double));
    /* Every node starts exactly when its last predecessor ends (no queues) and takes at least its
     * isolated cost; the makespan is at least the lower bound. */
    double tol = 1e-6;
    for (uint32_t v = 0; v < r1.n; v++) {
        double ready = 0;
        for (uint32_t k = g->pred_off[v]; k < g->pred_off[v + 1]; k++)
            ready = fmax(ready, r1.end[g->pred[k]]);
        ck_assert_double_eq_tol(r1.start[v], ready, tol);
        ck_assert(r1.end[v] >= r1.start[v] + LCT_NODE(g, v)->cost_us - tol);
    }
    ck_assert(r1.makespan >= r1.lower_bound - tol);
    ck_assert(r1.lower_bound_interference >= r1.lower_bound);
    ck_assert(r1.makespan >= r1.lower_bound_interference - tol);
    ck_assert_double_eq_tol(r1.comm_overlapped + r1.comm_exposed, r1.comm_busy, tol);
    ck_assert(r1.comm_busy <= r1.makespan + tol);
    ck_assert(r1.comm_busy >= 0 && r1.comm_exposed >= 0);
    double sum = 0;
    for (uint32_t k = 0; k < r1.na2a; k++) {
        uint32_t v = r1.a2a_nodes[k];
        ck_assert(r1.a2a_exposed[k] >= 0 && r1.a2a_exposed[k] <= r1.end[v] - r1.start[v] + tol);
        if (k)
            ck_assert(r1.start[r1.a2a_nodes[k - 1]] <= r1.start[v]);
        sum += r1.a2a_exposed[k];
    }
    ck_assert(sum > 0); /* a layered random step has some exposed a2a time */
    /* With no interference the step is never slower. */
    lct_sim_result_t r0;
    run(g, 0, &r0);
    ck_assert(r0.makespan <= r1.makespan + tol);
    lct_sim_result_free(&r0);
    lct_sim_result_free(&r1);
    lct_sim_result_free(&r2);
    lct_graph_destroy(g);
}
END_TEST

START_TEST(sim_speed_20000)
{
    lct_graph_t *g = random_graph(20000, 777);
    ck_assert_int_eq(lct_graph_fill_adj(g), LCT_OK);
    lct_sim_cfg_t cfg = {0.15};
    lct_sim_result_t r;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(lct_sim_run(g, &cfg, &r), LCT_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("lct_sim_run: 20000 nodes, %zu edges in %.2f ms\n", g->edges.len, ms);
    /* well under 100 ms in an optimised build; generous for sanitizer builds */
    ck_assert_msg(ms < 1000, "simulating 20000 nodes took %.1f ms", ms);
    ck_assert(r.makespan > 0);
    /* the SVG of a big step stays small */
    const char *p = tmp_path("big.svg");
    ck_assert_int_eq(lct_sim_write_svg(p, "20000 nodes", NULL, NULL, g, &r), LCT_OK);
    char *svg = slurp(p);
    size_t size = strlen(svg);
    printf("svg of 20000 nodes: %zu bytes\n", size);
    ck_assert_uint_lt(size, 4 << 20);
    ck_assert_int_eq(strncmp(svg, "<svg", 4), 0);
    check_xml_balanced(svg);
    free(svg);
    lct_sim_result_free(&r);
    lct_graph_destroy(g);
}
END_TEST

START_TEST(sim_errors)
{
    lct_graph_t *g = new_graph();
    uint32_t a = kern(g, "a", 10);
    lct_sim_result_t r;
    memset(&r, 0x33, sizeof(r));
    lct_sim_result_t keep = r;
    lct_sim_cfg_t cfg = {0};
    quiet();
    ck_assert_int_eq(lct_sim_run(g, &cfg, &r), LCT_ERR_INVALID); /* adjacency not built */
    ck_assert_int_eq(lct_graph_fill_adj(g), LCT_OK);
    cfg.interference = 1.5;
    ck_assert_int_eq(lct_sim_run(g, &cfg, &r), LCT_ERR_INVALID);
    cfg.interference = NAN;
    ck_assert_int_eq(lct_sim_run(g, &cfg, &r), LCT_ERR_INVALID);
    cfg.interference = 0;
    LCT_NODE(g, a)->cost_us = INFINITY;
    ck_assert_int_eq(lct_sim_run(g, &cfg, &r), LCT_ERR_INVALID);
    loud();
    ck_assert_mem_eq(&r, &keep, sizeof(r));
    /* NaN and negative costs take no time; a NULL configuration means no interference. */
    LCT_NODE(g, a)->cost_us = -3;
    ck_assert_int_eq(lct_sim_run(g, NULL, &r), LCT_OK);
    ck_assert_double_eq(r.makespan, 0);
    lct_sim_result_free(&r);
    lct_graph_destroy(g);
}
END_TEST

/* ---- outputs ---- */

static lct_graph_t *example_step(void)
{
    /* forward k1 -> a2a -> expert -> a2a -> k2; backward dx -> a2a -> dx; dw; all-reduce; opt */
    lct_graph_t *g = new_graph();
    uint32_t f1 = kern(g, "attn_fwd", 300), m1 = coll(g, "a2a_dispatch", LCT_COLL_ALLTOALL, 400);
    uint32_t ex = kern(g, "expert_fwd", 500), m2 = coll(g, "a2a_combine", LCT_COLL_ALLTOALL, 400);
    uint32_t dx = kern(g, "expert_dx", 500), m3 = coll(g, "a2a_bwd", LCT_COLL_ALLTOALL, 400);
    uint32_t dw = kern(g, "expert_dw \"<&>\"", 450), ar = coll(g, "grad_ar", LCT_COLL_ALLREDUCE, 600);
    uint32_t op = kern(g, "sgd", 100);
    LCT_NODE(g, f1)->phase = LCT_PHASE_FORWARD;
    LCT_NODE(g, ex)->phase = LCT_PHASE_FORWARD;
    LCT_NODE(g, dx)->role = LCT_ROLE_DX;
    LCT_NODE(g, dw)->role = LCT_ROLE_DW;
    LCT_NODE(g, op)->phase = LCT_PHASE_OPTIMIZER;
    edge(g, f1, m1);
    edge(g, m1, ex);
    edge(g, ex, m2);
    edge(g, m2, dx);
    edge(g, m2, dw);
    edge(g, dx, m3);
    edge(g, dw, ar);
    edge(g, m3, ar);
    edge(g, ar, op);
    g->meta.name = (char *)lct_graph_strdup(g, "example step");
    return g;
}

/* Minimal XML well-formedness: every element closed, in order, quotes balanced inside tags. */
static void check_xml_balanced(const char *s)
{
    char stack[64][16];
    int depth = 0, elems = 0;
    for (const char *p = strchr(s, '<'); p; p = strchr(p, '<')) {
        const char *end = p + 1;
        int inq = 0;
        while (*end && (inq || *end != '>')) {
            if (*end == '"')
                inq = !inq;
            end++;
        }
        ck_assert_msg(*end == '>', "unterminated tag");
        char name[16] = {0};
        const char *q = p + 1 + (p[1] == '/');
        for (int i = 0; i < 15 && q[i] && q[i] != ' ' && q[i] != '>' && q[i] != '/'; i++)
            name[i] = q[i];
        if (p[1] == '/') {
            ck_assert_int_gt(depth, 0);
            ck_assert_str_eq(stack[--depth], name);
        } else if (end[-1] != '/') {
            ck_assert_int_lt(depth, 64);
            strcpy(stack[depth++], name);
        }
        elems++;
        p = end;
    }
    ck_assert_int_eq(depth, 0);
    ck_assert_int_gt(elems, 10);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    ck_assert_int_eq(fread(s, 1, (size_t)n, f), n);
    s[n] = 0;
    fclose(f);
    return s;
}

START_TEST(report_text_and_json)
{
    lct_graph_t *g = example_step();
    lct_sim_result_t r;
    run(g, 0.1, &r);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    lct_sim_report_text(f, g, &r);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "makespan"));
    ck_assert_ptr_nonnull(strstr(buf, "comm exposed"));
    ck_assert_ptr_nonnull(strstr(buf, "lower bound"));
    ck_assert_ptr_nonnull(strstr(buf, "a2a_dispatch"));
    ck_assert_ptr_nonnull(strstr(buf, "a2a_bwd"));
    char expect[64];
    snprintf(expect, sizeof(expect), "%.3f us", r.makespan);
    ck_assert_ptr_nonnull(strstr(buf, expect));
    free(buf);

    char *js = lct_sim_report_json(g, &r);
    ck_assert_ptr_nonnull(js);
    json_error_t err;
    json_t *o = json_loads(js, 0, &err);
    ck_assert_msg(o != NULL, "bad JSON: %s", err.text);
    ck_assert_double_eq_tol(json_number_value(json_object_get(o, "makespan_us")), r.makespan, 1e-9);
    ck_assert_double_eq_tol(json_number_value(json_object_get(o, "comm_exposed_us")), r.comm_exposed,
                            1e-9);
    ck_assert_double_eq_tol(json_number_value(json_object_get(o, "lower_bound_us")), r.lower_bound,
                            1e-9);
    json_t *a = json_object_get(o, "a2a");
    ck_assert_uint_eq(json_array_size(a), 3);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(a, 0), "name")),
                     "a2a_dispatch");
    ck_assert_double_eq_tol(json_number_value(json_object_get(json_array_get(a, 0), "exposed_us")),
                            r.a2a_exposed[0], 1e-9);
    json_decref(o);
    free(js);
    lct_sim_result_free(&r);
    lct_graph_destroy(g);
}
END_TEST

START_TEST(chrome_trace_well_formed)
{
    lct_graph_t *g = random_graph(400, 99);
    lct_sim_result_t r;
    run(g, 0.1, &r);
    const char *p = tmp_path("trace.json");
    ck_assert_int_eq(lct_sim_write_chrome_trace(p, g, &r), LCT_OK);
    json_error_t err;
    json_t *root = json_load_file(p, 0, &err);
    ck_assert_msg(root != NULL, "bad trace JSON: %s", err.text);
    json_t *ev = json_object_get(root, "traceEvents");
    ck_assert(json_is_array(ev));
    uint32_t timed = 0;
    for (uint32_t v = 0; v < r.n; v++)
        timed += r.end[v] > r.start[v];
    /* X events: one per timed node, non-overlapping per thread, on the right lane. */
    uint32_t nx = 0, names = 0;
    struct span {
        int tid;
        double ts, end;
    } *sp = calloc(json_array_size(ev), sizeof(*sp));
    for (size_t i = 0; i < json_array_size(ev); i++) {
        json_t *e = json_array_get(ev, i);
        const char *ph = json_string_value(json_object_get(e, "ph"));
        ck_assert_ptr_nonnull(ph);
        ck_assert_int_eq(json_integer_value(json_object_get(e, "pid")), 1);
        int tid = (int)json_integer_value(json_object_get(e, "tid"));
        if (!strcmp(ph, "M")) {
            names += !strcmp(json_string_value(json_object_get(e, "name")), "thread_name");
            continue;
        }
        ck_assert_str_eq(ph, "X");
        double ts = json_number_value(json_object_get(e, "ts"));
        double dur = json_number_value(json_object_get(e, "dur"));
        uint32_t node = (uint32_t)json_integer_value(
            json_object_get(json_object_get(e, "args"), "node"));
        ck_assert_uint_lt(node, r.n);
        ck_assert_double_eq(ts, r.start[node]);
        ck_assert_double_eq_tol(dur, r.end[node] - r.start[node], 1e-9);
        ck_assert_int_eq(tid >= 10001, lct_node_is_comm(LCT_NODE(g, node)));
        sp[nx++] = (struct span){tid, ts, ts + dur};
    }
    /* complete events of one thread never overlap (viewers need that) */
    for (uint32_t i = 0; i < nx; i++)
        for (uint32_t j = i + 1; j < nx; j++)
            if (sp[i].tid == sp[j].tid)
                ck_assert_msg(sp[i].end <= sp[j].ts + 1e-9 || sp[j].end <= sp[i].ts + 1e-9,
                              "events overlap on thread %d", sp[i].tid);
    free(sp);
    ck_assert_uint_eq(nx, timed);
    ck_assert_uint_ge(names, 2);
    json_decref(root);
    lct_sim_result_free(&r);
    lct_graph_destroy(g);
}
END_TEST

/* More concurrent compute rows than thread ids below the communication lane's first id: the two
 * lanes must still get distinct threads. */
START_TEST(chrome_trace_many_rows)
{
    lct_graph_t *g = new_graph();
    uint32_t n = 10050;
    for (uint32_t i = 0; i < n; i++)
        kern(g, "k", 1.0);
    coll(g, "a2a", LCT_COLL_ALLTOALL, 5.0);
    lct_sim_result_t r;
    run(g, 0, &r);
    const char *p = tmp_path("rows.json");
    ck_assert_int_eq(lct_sim_write_chrome_trace(p, g, &r), LCT_OK);
    json_error_t err;
    json_t *root = json_load_file(p, 0, &err);
    ck_assert_msg(root != NULL, "bad trace JSON: %s", err.text);
    json_t *ev = json_object_get(root, "traceEvents");
    /* tid -> lane of its thread_name (1 compute, 2 communication), every tid named once */
    uint8_t *lane = calloc(1u << 16, 1);
    ck_assert_ptr_nonnull(lane);
    for (size_t i = 0; i < json_array_size(ev); i++) {
        json_t *e = json_array_get(ev, i);
        if (strcmp(json_string_value(json_object_get(e, "name")), "thread_name") != 0)
            continue;
        json_int_t tid = json_integer_value(json_object_get(e, "tid"));
        ck_assert(tid > 0 && tid < (1 << 16));
        ck_assert_msg(lane[tid] == 0, "thread %d named twice", (int)tid);
        const char *name =
            json_string_value(json_object_get(json_object_get(e, "args"), "name"));
        lane[tid] = strncmp(name, "communication", 13) == 0 ? 2 : 1;
    }
    uint32_t nx = 0;
    for (size_t i = 0; i < json_array_size(ev); i++) {
        json_t *e = json_array_get(ev, i);
        if (strcmp(json_string_value(json_object_get(e, "ph")), "X") != 0)
            continue;
        json_int_t tid = json_integer_value(json_object_get(e, "tid"));
        uint32_t node = (uint32_t)json_integer_value(
            json_object_get(json_object_get(e, "args"), "node"));
        ck_assert(tid > 0 && tid < (1 << 16));
        ck_assert_int_eq(lane[tid], lct_node_is_comm(LCT_NODE(g, node)) ? 2 : 1);
        nx++;
    }
    ck_assert_uint_eq(nx, n + 1);
    free(lane);
    json_decref(root);
    lct_sim_result_free(&r);
    lct_graph_destroy(g);
}
END_TEST

START_TEST(svg_single_and_before_after)
{
    lct_graph_t *g = example_step();
    lct_sim_result_t before, after;
    run(g, 0.1, &before);
    lct_graph_t *h;
    ck_assert_int_eq(lct_graph_clone(g, &h), LCT_OK);
    LCT_NODE(h, 5)->cost_us = 200; /* a faster backward a2a */
    run(h, 0.1, &after);
    ck_assert(after.makespan < before.makespan);
    const char *p = tmp_path("one.svg");
    ck_assert_int_eq(lct_sim_write_svg(p, "one <step> & more", NULL, NULL, g, &before), LCT_OK);
    char *s = slurp(p);
    ck_assert_int_eq(strncmp(s, "<svg", 4), 0);
    ck_assert_ptr_nonnull(strstr(s, "</svg>\n"));
    const char *labels[] = {">forward<", ">dX<", ">dW<", ">a2a<", ">all-reduce<", ">optimizer<",
                            ">other<", ">a2a window<", "time (ms)", "makespan",
                            "one &lt;step&gt; &amp; more", "expert_dw &quot;&lt;&amp;&gt;&quot;"};
    for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++)
        ck_assert_msg(strstr(s, labels[i]) != NULL, "svg lacks %s", labels[i]);
    ck_assert_ptr_null(strstr(s, "\"<&>\""));
    check_xml_balanced(s);
    free(s);

    /* A title cut at its length limit (160 bytes) in the middle of a two-byte character: the
     * file must stay UTF-8, which XML requires. */
    char title[200];
    memset(title, 'a', 159);
    strcpy(title + 159, "\xc3\xa9 tail"); /* U+00E9 at bytes 159-160 */
    ck_assert_int_eq(lct_sim_write_svg(p, title, NULL, NULL, g, &before), LCT_OK);
    s = slurp(p);
    json_t *utf8 = json_stringn(s, strlen(s)); /* NULL when not valid UTF-8 */
    ck_assert_msg(utf8 != NULL, "svg with a cut title is not valid UTF-8");
    json_decref(utf8);
    ck_assert_ptr_nonnull(strstr(s, "a\xc3\xa9..."));
    free(s);

    p = tmp_path("two.svg");
    ck_assert_int_eq(lct_sim_write_svg(p, "before/after", g, &before, h, &after), LCT_OK);
    s = slurp(p);
    ck_assert_int_eq(strncmp(s, "<svg", 4), 0);
    ck_assert_ptr_nonnull(strstr(s, ">before: makespan"));
    ck_assert_ptr_nonnull(strstr(s, ">after: makespan"));
    ck_assert_ptr_nonnull(strstr(s, "(speedup "));
    ck_assert_ptr_null(strstr(s, "before/after (speedup"));
    check_xml_balanced(s);
    free(s);

    quiet();
    ck_assert_int_eq(lct_sim_write_svg(p, "x", NULL, NULL, NULL, &after), LCT_ERR_INVALID);
    ck_assert_int_eq(lct_sim_write_svg(p, "x", NULL, &before, h, &after), LCT_ERR_INVALID);
    ck_assert_int_eq(lct_sim_write_svg(tmp_path("no/dir.svg"), "x", NULL, NULL, h, &after),
                     LCT_ERR_IO);
    ck_assert_int_eq(lct_sim_write_chrome_trace(tmp_path("no/dir.json"), h, &after), LCT_ERR_IO);
    loud();
    lct_sim_result_free(&before);
    lct_sim_result_free(&after);
    lct_graph_destroy(g);
    lct_graph_destroy(h);
}
END_TEST

static Suite *sim_suite(void)
{
    Suite *s = suite_create("sim");
    TCase *tc = tcase_create("timeline");
    tcase_add_test(tc, sim_chain);
    tcase_add_test(tc, sim_compute_sharing);
    tcase_add_test(tc, sim_comm_sharing_and_host);
    tcase_add_test(tc, sim_interference);
    tcase_add_test(tc, sim_exposed_split_and_a2a);
    tcase_add_test(tc, sim_zero_cost_nodes);
    tcase_add_test(tc, sim_peak_memory);
    tcase_add_test(tc, sim_random_invariants_and_determinism);
    tcase_add_test(tc, sim_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("outputs");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, sim_speed_20000);
    tcase_add_test(tc, report_text_and_json);
    tcase_add_test(tc, chrome_trace_well_formed);
    tcase_add_test(tc, chrome_trace_many_rows);
    tcase_add_test(tc, svg_single_and_before_after);
    tcase_add_test(tc, sim_interference_bound_holds);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sim_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
