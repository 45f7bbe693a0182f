/* Property test of dependency reconstruction over thousands of random graphs, checked against
 * naive definitions written here (pairwise conflicts, depth-first reachability), not against
 * the library's own reachability:
 *  - every pair that conflicts (overlapping bytes with a write, unknown footprint), involves a
 *    barrier, or is two collectives of one communicator is ordered earlier -> later;
 *  - the result is acyclic and every rebuilt edge goes forward in launch order;
 *  - every rebuilt edge has a reason (data edges join conflicting nodes, coll edges collectives of
 *    one communicator, barrier edges touch a barrier);
 *  - transitive reduction keeps reachability, leaves no implied edge, and only removes edges;
 *  - scheduling edges are kept; the result is deterministic.
 *
 * Run with the argument "bench" to print rebuild / reachability / timing times for large
 * synthetic step graphs instead. */
#include <check.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis/lct_analysis.h"
#include "core/lct_log.h"
#include "ir/lct_ir.h"

static const char *const PATTERNS = " opq_* , zz?";

/* ck_assert reports every passing check to the runner (one write per check); the millions of
 * checks below use a plain test and abort only on failure. */
#define REQUIRE(cond, ...)                                                                         \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ck_abort_msg(__VA_ARGS__);                                                             \
    } while (0)
#define REQUIRE1(cond) REQUIRE(cond, "seed %llu: %s", (unsigned long long)cur_seed, #cond)

static uint64_t cur_seed;

/* ---- seeded generator ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint32_t rnd_below(uint32_t n) { return (uint32_t)(rnd() % n); }
static bool chance(uint32_t percent) { return rnd_below(100) < percent; }

typedef struct {
    uint32_t nmin, nmax;
    uint64_t space; /* address space size in bytes */
    uint32_t max_ranges;
    uint32_t barrier_pct; /* scales the barrier kinds */
} gen_params_t;

static void add_random_ranges(lct_graph_t *g, uint32_t id, uint32_t k, const gen_params_t *p)
{
    static const uint8_t acc[] = {LCT_ACC_READ, LCT_ACC_WRITE, LCT_ACC_RW, LCT_ACC_READ};
    for (uint32_t i = 0; i < k; i++) {
        uint64_t addr, size;
        if (chance(50)) { /* aligned blocks: adjacency and exact repeats */
            addr = 32 * (uint64_t)rnd_below((uint32_t)(p->space / 32));
            size = 32 * (1 + (uint64_t)rnd_below(3));
        } else {
            addr = rnd_below((uint32_t)p->space);
            size = 1 + rnd_below(96);
        }
        REQUIRE1(lct_node_add_range(g, id, addr, size, acc[rnd_below(4)], chance(70)) == LCT_OK);
    }
}

static lct_graph_t *random_graph(const gen_params_t *p)
{
    lct_graph_t *g;
    REQUIRE1(lct_graph_create(&g) == LCT_OK);
    uint32_t n = p->nmin + rnd_below(p->nmax - p->nmin + 1);
    uint32_t bp = p->barrier_pct;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t r = rnd_below(100), id;
        lct_node_kind_t kind = LCT_NODE_KERNEL;
        const char *name = "k"; /* other kinds are named by their kind */
        if (r < bp) {
            kind = LCT_NODE_HOST;
        } else if (r < 2 * bp) {
            name = chance(50) ? "opq_fused" : "zzz"; /* "zzz" matches "zz?" */
        } else if (r < 14) {
            kind = (lct_node_kind_t)(LCT_NODE_EVENT_RECORD + rnd_below(3)); /* record wait empty */
        } else if (r < 30) {
            kind = LCT_NODE_COLLECTIVE;
        } else if (r < 36) {
            kind = chance(50) ? LCT_NODE_MEM_ALLOC : LCT_NODE_MEM_FREE;
        } else if (r < 44) {
            kind = chance(50) ? LCT_NODE_MEMCPY : LCT_NODE_MEMSET;
        } else if (r < 48) {
            name = "zz"; /* near miss of "zz?": not opaque */
        }
        REQUIRE1(lct_graph_add_node(g, kind, kind == LCT_NODE_KERNEL ? name : NULL, &id) == LCT_OK);
        lct_node_t *nd = LCT_NODE(g, id);
        if (kind == LCT_NODE_COLLECTIVE)
            nd->coll.comm = 100 + rnd_below(3);
        if (kind == LCT_NODE_EVENT_WAIT && chance(30))
            nd->flags |= LCT_NODE_F_EXTERNAL;
        if (chance(bp / 2 + 1))
            nd->flags |= LCT_NODE_F_OPAQUE;
        if (chance(bp))
            nd->fp.unknown = true;
        uint32_t k =
            kind == LCT_NODE_EVENT_RECORD || kind == LCT_NODE_EVENT_WAIT || kind == LCT_NODE_EMPTY
                ? 0
            : kind == LCT_NODE_MEM_ALLOC || kind == LCT_NODE_MEM_FREE
                ? 1
                : rnd_below(p->max_ranges + 1);
        add_random_ranges(g, id, k, p);
    }
    /* launch order: a random permutation, or random values with ties */
    bool ties = chance(15);
    for (uint32_t i = 0; i < n; i++)
        LCT_NODE(g, i)->launch_order = ties ? rnd_below(n / 2 + 1) : i;
    if (!ties)
        for (uint32_t i = n; i > 1; i--) {
            uint32_t j = rnd_below(i), t = LCT_NODE(g, i - 1)->launch_order;
            LCT_NODE(g, i - 1)->launch_order = LCT_NODE(g, j)->launch_order;
            LCT_NODE(g, j)->launch_order = t;
        }
    return g;
}

/* ---- naive definitions ---- */

static bool key_less(const lct_graph_t *g, uint32_t a, uint32_t b)
{
    uint32_t la = LCT_NODE(g, a)->launch_order, lb = LCT_NODE(g, b)->launch_order;
    return la != lb ? la < lb : a < b;
}

static bool is_barrier(const lct_node_t *nd)
{
    if (nd->fp.unknown || (nd->flags & (LCT_NODE_F_OPAQUE | LCT_NODE_F_EXTERNAL)) ||
        nd->kind == LCT_NODE_HOST)
        return true;
    return nd->kind == LCT_NODE_KERNEL &&
           (fnmatch("opq_*", nd->name, 0) == 0 || fnmatch("zz?", nd->name, 0) == 0);
}

static uint8_t acc_of(const lct_node_t *nd, const lct_range_t *r)
{
    return nd->kind == LCT_NODE_MEM_ALLOC || nd->kind == LCT_NODE_MEM_FREE ? LCT_ACC_WRITE
                                                                           : r->access;
}

/* Overlapping bytes with at least one write, byte by byte in spirit: interval test. */
static bool naive_conflict(const lct_node_t *a, const lct_node_t *b)
{
    if (a->fp.unknown || b->fp.unknown)
        return true;
    for (uint32_t i = 0; i < a->fp.nranges; i++)
        for (uint32_t j = 0; j < b->fp.nranges; j++) {
            const lct_range_t *x = &a->fp.ranges[i], *y = &b->fp.ranges[j];
            bool overlap = x->addr < y->addr + y->size && y->addr < x->addr + x->size;
            if (overlap && ((acc_of(a, x) | acc_of(b, y)) & LCT_ACC_WRITE))
                return true;
        }
    return false;
}

static bool same_comm(const lct_node_t *a, const lct_node_t *b)
{
    return a->kind == LCT_NODE_COLLECTIVE && b->kind == LCT_NODE_COLLECTIVE &&
           a->coll.comm == b->coll.comm;
}

static bool must_order(const lct_graph_t *g, uint32_t a, uint32_t b)
{
    const lct_node_t *x = LCT_NODE(g, a), *y = LCT_NODE(g, b);
    if (lct_footprints_conflict(&x->fp, &y->fp))
        REQUIRE1(naive_conflict(x, y)); /* lct_footprints_conflict agrees wherever it can judge */
    return is_barrier(x) || is_barrier(y) || same_comm(x, y) || naive_conflict(x, y);
}

/* Closure over non-SCHED edges by depth-first search from every node: n rows of words. */
typedef struct {
    uint32_t n, words;
    uint64_t *bits;
} closure_t;

static bool cl_get(const closure_t *c, uint32_t a, uint32_t b)
{
    return (c->bits[(size_t)a * c->words + b / 64] >> (b % 64)) & 1;
}

static closure_t naive_closure(const lct_graph_t *g)
{
    uint32_t n = LCT_NNODES(g);
    closure_t c = {n, (n + 63) / 64, NULL};
    c.bits = calloc((size_t)n * c.words + 1, sizeof(uint64_t));
    uint32_t *off = calloc(n + 2, sizeof(uint32_t)), *adj = malloc((g->edges.len + 1) * 4);
    uint32_t *stack = malloc((g->edges.len + n + 1) * 4);
    REQUIRE1(c.bits && off && adj && stack);
    for (size_t i = 0; i < g->edges.len; i++)
        if (g->edges.data[i].kind != LCT_EDGE_SCHED)
            off[g->edges.data[i].src + 1]++;
    for (uint32_t v = 0; v < n; v++)
        off[v + 1] += off[v];
    for (size_t i = 0; i < g->edges.len; i++)
        if (g->edges.data[i].kind != LCT_EDGE_SCHED)
            adj[off[g->edges.data[i].src]++] = g->edges.data[i].dst;
    for (uint32_t v = n; v > 0; v--)
        off[v] = off[v - 1];
    off[0] = 0;
    for (uint32_t s = 0; s < n; s++) {
        uint64_t *row = c.bits + (size_t)s * c.words;
        uint32_t sp = 0;
        for (uint32_t k = off[s]; k < off[s + 1]; k++)
            stack[sp++] = adj[k];
        while (sp) {
            uint32_t v = stack[--sp];
            if ((row[v / 64] >> (v % 64)) & 1)
                continue;
            row[v / 64] |= 1ULL << (v % 64);
            for (uint32_t k = off[v]; k < off[v + 1]; k++)
                if (!((row[adj[k] / 64] >> (adj[k] % 64)) & 1))
                    stack[sp++] = adj[k];
        }
    }
    free(off);
    free(adj);
    free(stack);
    return c;
}

/* ---- one random graph ---- */

static uint32_t count_kind(const lct_graph_t *g, lct_edge_kind_t k)
{
    uint32_t c = 0;
    for (size_t i = 0; i < g->edges.len; i++)
        c += g->edges.data[i].kind == k;
    return c;
}

/* Every STREAM edge p -> a places an allocation: a is a mem_alloc, p was launched before it and,
 * without the placement edges, is a predecessor of a's first user in launch order (so the
 * allocation waits for nothing its first user did not wait for already). */
static void check_placement(const lct_graph_t *x, uint64_t seed)
{
    for (size_t e = 0; e < x->edges.len; e++) {
        const lct_edge_t *pe = &x->edges.data[e];
        if (pe->kind != LCT_EDGE_STREAM)
            continue;
        REQUIRE(LCT_NODE(x, pe->dst)->kind == LCT_NODE_MEM_ALLOC,
                "seed %llu: stream edge %u->%u does not end at an allocation",
                (unsigned long long)seed, pe->src, pe->dst);
        uint32_t first = UINT32_MAX;
        for (size_t f = 0; f < x->edges.len; f++)
            if (x->edges.data[f].src == pe->dst && x->edges.data[f].kind != LCT_EDGE_STREAM &&
                (first == UINT32_MAX || key_less(x, x->edges.data[f].dst, first)))
                first = x->edges.data[f].dst;
        REQUIRE(first != UINT32_MAX, "seed %llu: placed allocation %u has no user",
                (unsigned long long)seed, pe->dst);
        bool is_pred = false;
        for (size_t f = 0; f < x->edges.len && !is_pred; f++)
            is_pred = x->edges.data[f].src == pe->src && x->edges.data[f].dst == first &&
                      x->edges.data[f].kind != LCT_EDGE_STREAM;
        REQUIRE(is_pred, "seed %llu: placement edge %u->%u does not come from a predecessor of %u",
                (unsigned long long)seed, pe->src, pe->dst, first);
        REQUIRE(key_less(x, pe->src, pe->dst), "seed %llu: placement edge %u->%u against launch order",
                (unsigned long long)seed, pe->src, pe->dst);
    }
}

static void check_one(const gen_params_t *p, uint64_t seed)
{
    rng_state = seed;
    cur_seed = seed;
    lct_graph_t *g = random_graph(p);
    uint32_t n = LCT_NNODES(g);
    /* input edges: stream / event order that the rebuild must drop, a few SCHED edges it keeps
     * (forward in launch order, so they never close a cycle) */
    uint32_t nsched = 0;
    for (uint32_t i = 0; i + 1 < n; i++) {
        uint32_t a = rnd_below(n), b = rnd_below(n);
        if (a == b)
            continue;
        if (!key_less(g, a, b)) {
            uint32_t t = a;
            a = b;
            b = t;
        }
        lct_edge_kind_t k = chance(10)   ? LCT_EDGE_SCHED
                            : chance(50) ? LCT_EDGE_STREAM
                                         : LCT_EDGE_EVENT;
        REQUIRE1(lct_graph_add_edge(g, a, b, k) == LCT_OK);
        nsched += k == LCT_EDGE_SCHED;
    }
    lct_graph_t *full, *red, *again;
    REQUIRE1(lct_graph_clone(g, &full) == LCT_OK);
    REQUIRE1(lct_graph_clone(g, &red) == LCT_OK);
    REQUIRE1(lct_graph_clone(g, &again) == LCT_OK);
    lct_deps_opts_t o = lct_deps_opts_default();
    o.opaque_kernels = PATTERNS;
    o.transitive_reduction = false;
    lct_deps_stats_t sf, sr, sa;
    REQUIRE1(lct_deps_rebuild(full, &o, &sf) == LCT_OK);
    o.transitive_reduction = true;
    REQUIRE1(lct_deps_rebuild(red, &o, &sr) == LCT_OK);
    /* A memory cap far too small for the online reduction: the reduction runs after the sweep
     * in column blocks of one or two words. The transitive reduction of a DAG is unique, so
     * both ways give the same edges, in the same (deterministic) order. */
    o.reduce_mem_bytes = (size_t)n * 8 * (1 + rnd_below(2));
    REQUIRE1(lct_deps_rebuild(again, &o, &sa) == LCT_OK);
    REQUIRE1(again->edges.len == red->edges.len);
    REQUIRE1(memcmp(again->edges.data, red->edges.data, red->edges.len * sizeof(lct_edge_t)) == 0);
    REQUIRE1(memcmp(&sa, &sr, sizeof(sa)) == 0);
    lct_graph_destroy(again);

    lct_graph_t *res[2] = {full, red};
    const lct_deps_stats_t *st[2] = {&sf, &sr};
    for (int r = 0; r < 2; r++) {
        lct_graph_t *x = res[r];
        REQUIRE1(x->adj_valid);
        REQUIRE1(count_kind(x, LCT_EDGE_SCHED) == nsched);
        /* stream edges come back only as allocation placement: into a mem_alloc node, from a
         * predecessor of its first user */
        REQUIRE1(count_kind(x, LCT_EDGE_EVENT) == 0);
        REQUIRE1(count_kind(x, LCT_EDGE_STREAM) == st[r]->placement);
        REQUIRE1(st[r]->edges_after + nsched + st[r]->placement == x->edges.len);
        check_placement(x, seed);
        /* the rest is about the reconstructed dependencies themselves */
        lct_graph_remove_edges(x, 1u << LCT_EDGE_STREAM);
        REQUIRE1(lct_graph_fill_adj(x) == LCT_OK);
        REQUIRE1(st[r]->raw + st[r]->war + st[r]->waw + st[r]->barrier + st[r]->coll ==
                 st[r]->edges_before);
        REQUIRE1(st[r]->edges_before - st[r]->removed_by_reduction == st[r]->edges_after);
        for (size_t i = 0; i < x->edges.len; i++) {
            const lct_edge_t *e = &x->edges.data[i];
            REQUIRE(key_less(x, e->src, e->dst), "seed %llu: edge %u->%u against launch order",
                    (unsigned long long)seed, e->src, e->dst);
        }
    }
    REQUIRE1(sf.removed_by_reduction == 0);
    REQUIRE1(sf.edges_before == sr.edges_before);

    /* every unreduced edge has a reason */
    for (size_t i = 0; i < full->edges.len; i++) {
        const lct_edge_t *e = &full->edges.data[i];
        const lct_node_t *a = LCT_NODE(full, e->src), *b = LCT_NODE(full, e->dst);
        switch (e->kind) {
        case LCT_EDGE_DATA:
            REQUIRE1(naive_conflict(a, b) && !is_barrier(a) && !is_barrier(b));
            break;
        case LCT_EDGE_COLL:
            REQUIRE1(same_comm(a, b));
            break;
        case LCT_EDGE_BARRIER:
            REQUIRE1(is_barrier(a) || is_barrier(b));
            break;
        case LCT_EDGE_STREAM: /* allocation placement */
            REQUIRE1(b->kind == LCT_NODE_MEM_ALLOC);
            break;
        case LCT_EDGE_SCHED:
            break;
        default:
            ck_abort_msg("unexpected edge kind %d", e->kind);
        }
    }
    /* the reduced edges are a subset of the unreduced ones, with the same kinds; each pair once */
    uint8_t *kmat = calloc((size_t)n * n + 1, 1);
    REQUIRE1(kmat != NULL);
    for (size_t j = 0; j < full->edges.len; j++) {
        const lct_edge_t *f = &full->edges.data[j];
        if (f->kind != LCT_EDGE_SCHED) {
            REQUIRE1(kmat[(size_t)f->src * n + f->dst] == 0);
            kmat[(size_t)f->src * n + f->dst] = (uint8_t)(f->kind + 1);
        }
    }
    for (size_t i = 0; i < red->edges.len; i++) {
        const lct_edge_t *e = &red->edges.data[i];
        if (e->kind != LCT_EDGE_SCHED)
            REQUIRE1(kmat[(size_t)e->src * n + e->dst] == e->kind + 1);
    }
    free(kmat);

    closure_t cf = naive_closure(full), cr = naive_closure(red);
    REQUIRE1(memcmp(cf.bits, cr.bits, (size_t)n * cf.words * 8) == 0);
    for (uint32_t a = 0; a < n; a++) {
        REQUIRE(!cl_get(&cr, a, a), "seed %llu: cycle through %u", (unsigned long long)seed, a);
        for (uint32_t b = 0; b < n; b++) {
            if (a == b || !key_less(g, a, b))
                continue;
            if (must_order(g, a, b))
                REQUIRE(cl_get(&cr, a, b), "seed %llu: %u (%s) and %u (%s) not ordered",
                        (unsigned long long)seed, a, LCT_NODE(g, a)->name, b, LCT_NODE(g, b)->name);
            if (same_comm(LCT_NODE(g, a), LCT_NODE(g, b)))
                REQUIRE1(cl_get(&cr, a, b) && !cl_get(&cr, b, a));
        }
    }
    /* reduced: no rebuilt edge u->v is implied by another successor w of u (w ->* v) */
    uint32_t *off = calloc((size_t)n + 2, sizeof(uint32_t));
    uint32_t *succ = malloc((red->edges.len + 1) * sizeof(uint32_t));
    REQUIRE1(off && succ);
    for (size_t i = 0; i < red->edges.len; i++)
        if (red->edges.data[i].kind != LCT_EDGE_SCHED)
            off[red->edges.data[i].src + 1]++;
    for (uint32_t v = 0; v < n; v++)
        off[v + 1] += off[v];
    for (size_t i = 0; i < red->edges.len; i++)
        if (red->edges.data[i].kind != LCT_EDGE_SCHED)
            succ[off[red->edges.data[i].src]++] = red->edges.data[i].dst;
    for (uint32_t u = 0, b = 0; u < n; b = off[u++])
        for (uint32_t i = b; i < off[u]; i++)
            for (uint32_t j = b; j < off[u]; j++)
                REQUIRE(i == j || !cl_get(&cr, succ[j], succ[i]),
                        "seed %llu: edge %u->%u is implied by %u", (unsigned long long)seed, u,
                        succ[i], succ[j]);
    free(off);
    free(succ);
    free(cf.bits);
    free(cr.bits);
    lct_graph_destroy(g);
    lct_graph_destroy(full);
    lct_graph_destroy(red);
}

START_TEST(random_small_graphs)
{
    const gen_params_t p = {2, 60, 512, 3, 4};
    for (uint64_t s = 1; s <= 8000; s++)
        check_one(&p, s * 7919);
}
END_TEST

START_TEST(random_graphs_without_barriers)
{
    /* Few barriers: long segments, so hazards, not barrier chains, carry the order. */
    const gen_params_t p = {20, 60, 256, 4, 0};
    for (uint64_t s = 1; s <= 3000; s++)
        check_one(&p, 0x5eed0000 + s);
}
END_TEST

START_TEST(random_large_graphs)
{
    /* Wide address spaces: thousands of elementary intervals, several bitset summary words. */
    const gen_params_t p = {1500, 2500, 1u << 20, 4, 1};
    for (uint64_t s = 1; s <= 6; s++)
        check_one(&p, 0xb16 + s);
}
END_TEST

/* ---- benchmark: synthetic step graphs shaped like a transformer step ---- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* A synthetic step shaped like a transformer's: four interleaved chains of kernels (micro-streams),
 * each reading its previous activation and a weight and writing a fresh activation from a
 * recycling pool (so WAR/WAW appear); every 5th kernel is a weight-gradient kernel that branches
 * off its chain (reads the activation, accumulates into its weight's gradient); every 16th node a
 * collective on one of two communicators reading a gradient; every 40th a generic kernel with a
 * whole-pool conservative range; a host node every 2500 nodes. */
static lct_graph_t *bench_graph(uint32_t n)
{
    lct_graph_t *g;
    lct_graph_create(&g);
    const uint64_t wbase = 0x100000000ULL, gbase = 0x180000000ULL, abase = 0x200000000ULL;
    const uint64_t tsize = 1 << 20;
    const uint32_t nweights = 512, pool = 256, chains = 4;
    uint64_t prev[4] = {abase, abase + tsize, abase + 2 * tsize, abase + 3 * tsize};
    for (uint32_t i = 0; i < n; i++) {
        uint32_t id, c = i % chains, w = (i / 3) % nweights;
        lct_node_kind_t kind = i % 16 == 15       ? LCT_NODE_COLLECTIVE
                               : i % 2500 == 2499 ? LCT_NODE_HOST
                                                  : LCT_NODE_KERNEL;
        lct_graph_add_node(g, kind, kind == LCT_NODE_KERNEL ? "k" : NULL, &id);
        lct_node_t *nd = LCT_NODE(g, id);
        nd->cost_us = 1 + i % 7;
        nd->stream = (int32_t)c;
        uint64_t out = abase + (uint64_t)((i * 37) % pool) * tsize;
        if (kind == LCT_NODE_COLLECTIVE) {
            nd->coll.comm = 1 + i % 2;
            lct_node_add_range(g, id, gbase + (uint64_t)w * tsize, tsize / 2, LCT_ACC_RW, true);
        } else if (kind == LCT_NODE_KERNEL && i % 40 == 7) {
            lct_node_add_range(g, id, abase, (uint64_t)pool * tsize, LCT_ACC_RW, false);
        } else if (kind == LCT_NODE_KERNEL && i % 5 == 3) {
            lct_node_add_range(g, id, prev[c], tsize, LCT_ACC_READ, true);
            lct_node_add_range(g, id, gbase + (uint64_t)w * tsize, tsize / 2, LCT_ACC_RW, true);
        } else if (kind == LCT_NODE_KERNEL) {
            lct_node_add_range(g, id, prev[c], tsize, LCT_ACC_READ, true);
            lct_node_add_range(g, id, wbase + (uint64_t)w * tsize, tsize / 2,
                               i % 97 == 5 ? LCT_ACC_RW : LCT_ACC_READ, true);
            lct_node_add_range(g, id, out, tsize, LCT_ACC_WRITE, true);
            prev[c] = out;
        }
        if (i >= chains)
            lct_graph_add_edge(g, id - chains, id, LCT_EDGE_STREAM);
    }
    return g;
}

static int bench(void)
{
    const uint32_t sizes[] = {5000, 10000, 20000, 40000};
    printf("%8s %10s %10s %12s %12s %10s %10s\n", "nodes", "edges", "reduced", "rebuild_ms",
           "noreduce_ms", "reach_ms", "timing_ms");
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        double best_r = 1e30, best_n = 1e30, best_reach = 1e30, best_t = 1e30;
        lct_deps_stats_t st = {0};
        for (int rep = 0; rep < 3; rep++) {
            lct_graph_t *g = bench_graph(sizes[s]), *h;
            lct_graph_clone(g, &h);
            lct_deps_opts_t o = lct_deps_opts_default();
            double t0 = now_ms();
            if (lct_deps_rebuild(g, &o, &st) != LCT_OK)
                return 1;
            double t1 = now_ms();
            o.transitive_reduction = false;
            if (lct_deps_rebuild(h, &o, NULL) != LCT_OK)
                return 1;
            double t2 = now_ms();
            lct_reach_t r;
            if (lct_reach_fill(g, &r) != LCT_OK)
                return 1;
            double t3 = now_ms();
            lct_timing_t t;
            if (lct_timing_fill(g, &t) != LCT_OK)
                return 1;
            double t4 = now_ms();
            best_r = t1 - t0 < best_r ? t1 - t0 : best_r;
            best_n = t2 - t1 < best_n ? t2 - t1 : best_n;
            best_reach = t3 - t2 < best_reach ? t3 - t2 : best_reach;
            best_t = t4 - t3 < best_t ? t4 - t3 : best_t;
            lct_reach_free(&r);
            lct_timing_free(&t);
            lct_graph_destroy(g);
            lct_graph_destroy(h);
        }
        printf("%8u %10u %10u %12.1f %12.1f %10.1f %10.2f\n", sizes[s], st.edges_before,
               st.edges_after, best_r, best_n, best_reach, best_t);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "bench") == 0)
        return bench();
    Suite *s = suite_create("deps_property");
    TCase *tc = tcase_create("random");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, random_small_graphs);
    tcase_add_test(tc, random_graphs_without_barriers);
    tcase_add_test(tc, random_large_graphs);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
