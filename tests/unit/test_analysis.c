/* Unit tests of the analyses: dependency reconstruction (golden cases in tests/golden/deps plus
 * cases written here), reachability and ASAP/ALAP timing against hand-computed values. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/lct_analysis.h"
#include "core/lct_log.h"
#include "ir/lct_ir.h"

#ifndef LCT_GOLDEN_DEPS_DIR
#define LCT_GOLDEN_DEPS_DIR "tests/golden/deps"
#endif

/* ---- golden case reader (format: tests/golden/deps/README) ---- */

#define MAX_EXPECT 64

typedef struct {
    uint32_t src, dst;
    lct_edge_kind_t kind;
} exp_edge_t;

typedef struct {
    lct_graph_t *g;
    char opaque[256];
    bool reduce;
    exp_edge_t expect[MAX_EXPECT];
    uint32_t nexpect;
    /* expected counters, -1 where the case does not say */
    long raw, war, waw, barrier, coll, removed, before, after;
} golden_t;

static uint32_t golden_node(const char *file, int line, lct_graph_t *g, const char *name)
{
    for (uint32_t i = 0; i < LCT_NNODES(g); i++)
        if (strcmp(LCT_NODE(g, i)->name, name) == 0)
            return i;
    ck_abort_msg("%s:%d: unknown node '%s'", file, line, name);
    return 0;
}

static lct_edge_kind_t golden_kind(const char *file, int line, const char *s)
{
    int k = s ? lct_edge_kind_parse(s) : -1;
    ck_assert_msg(k >= 0, "%s:%d: bad edge kind '%s'", file, line, s ? s : "");
    return (lct_edge_kind_t)k;
}

static void golden_range(const char *file, int line, lct_graph_t *g, uint32_t id, const char *tok)
{
    const char *at = strchr(tok, '@');
    uint8_t acc = 0;
    size_t alen = (size_t)(at - tok);
    if (alen == 1 && tok[0] == 'r')
        acc = LCT_ACC_READ;
    else if (alen == 1 && tok[0] == 'w')
        acc = LCT_ACC_WRITE;
    else if (alen == 2 && tok[0] == 'r' && tok[1] == 'w')
        acc = LCT_ACC_RW;
    ck_assert_msg(acc, "%s:%d: bad access in '%s'", file, line, tok);
    char *end;
    uint64_t addr = strtoull(at + 1, &end, 0);
    ck_assert_msg(*end == '+', "%s:%d: expected ADDR+SIZE in '%s'", file, line, tok);
    uint64_t size = strtoull(end + 1, &end, 0);
    bool exact = *end != '~';
    ck_assert_msg(*end == '\0' || (*end == '~' && end[1] == '\0'), "%s:%d: junk in '%s'", file,
                  line, tok);
    ck_assert_int_eq(lct_node_add_range(g, id, addr, size, acc, exact), LCT_OK);
}

static void golden_load(const char *path, golden_t *c)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    memset(c, 0, sizeof(*c));
    c->reduce = true;
    c->raw = c->war = c->waw = c->barrier = c->coll = c->removed = c->before = c->after = -1;
    ck_assert_int_eq(lct_graph_create(&c->g), LCT_OK);
    char buf[512];
    int line = 0;
    while (fgets(buf, sizeof(buf), f)) {
        line++;
        buf[strcspn(buf, "\n")] = '\0';
        char *save = NULL, *cmd = strtok_r(buf, " \t", &save);
        if (!cmd || cmd[0] == '#')
            continue;
        if (strcmp(cmd, "opaque") == 0) {
            snprintf(c->opaque, sizeof(c->opaque), "%s", save ? save : "");
        } else if (strcmp(cmd, "reduce") == 0) {
            c->reduce = strcmp(strtok_r(NULL, " \t", &save), "on") == 0;
        } else if (strcmp(cmd, "node") == 0) {
            char *name = strtok_r(NULL, " \t", &save), *kind = strtok_r(NULL, " \t", &save);
            int k = kind ? lct_node_kind_parse(kind) : -1;
            ck_assert_msg(name && k >= 0, "%s:%d: bad node line", path, line);
            uint32_t id;
            ck_assert_int_eq(lct_graph_add_node(c->g, (lct_node_kind_t)k, name, &id), LCT_OK);
            for (char *t; (t = strtok_r(NULL, " \t", &save));) {
                lct_node_t *nd = LCT_NODE(c->g, id);
                if (strncmp(t, "order=", 6) == 0)
                    nd->launch_order = (uint32_t)strtoul(t + 6, NULL, 0);
                else if (strncmp(t, "comm=", 5) == 0)
                    nd->coll.comm = strtoull(t + 5, NULL, 0);
                else if (strcmp(t, "unknown") == 0)
                    nd->fp.unknown = true;
                else if (strcmp(t, "opaque") == 0)
                    nd->flags |= LCT_NODE_F_OPAQUE;
                else if (strcmp(t, "external") == 0)
                    nd->flags |= LCT_NODE_F_EXTERNAL;
                else if (strchr(t, '@'))
                    golden_range(path, line, c->g, id, t);
                else
                    ck_abort_msg("%s:%d: bad node attribute '%s'", path, line, t);
            }
        } else if (strcmp(cmd, "edge") == 0 || strcmp(cmd, "expect") == 0) {
            char *a = strtok_r(NULL, " \t", &save), *b = strtok_r(NULL, " \t", &save);
            char *k = strtok_r(NULL, " \t", &save);
            ck_assert_msg(a && b, "%s:%d: expected SRC DST KIND", path, line);
            uint32_t src = golden_node(path, line, c->g, a), dst = golden_node(path, line, c->g, b);
            lct_edge_kind_t kind = golden_kind(path, line, k);
            if (cmd[0] == 'e' && cmd[1] == 'd') {
                ck_assert_int_eq(lct_graph_add_edge(c->g, src, dst, kind), LCT_OK);
            } else {
                ck_assert(c->nexpect < MAX_EXPECT);
                c->expect[c->nexpect++] = (exp_edge_t){src, dst, kind};
            }
        } else if (strcmp(cmd, "stats") == 0) {
            for (char *t; (t = strtok_r(NULL, " \t", &save));) {
                char *eq = strchr(t, '=');
                ck_assert_msg(eq != NULL, "%s:%d: expected KEY=N", path, line);
                *eq = '\0';
                long v = strtol(eq + 1, NULL, 0);
                long *dstv = strcmp(t, "raw") == 0       ? &c->raw
                             : strcmp(t, "war") == 0     ? &c->war
                             : strcmp(t, "waw") == 0     ? &c->waw
                             : strcmp(t, "barrier") == 0 ? &c->barrier
                             : strcmp(t, "coll") == 0    ? &c->coll
                             : strcmp(t, "removed") == 0 ? &c->removed
                             : strcmp(t, "before") == 0  ? &c->before
                             : strcmp(t, "after") == 0   ? &c->after
                                                         : NULL;
                ck_assert_msg(dstv != NULL, "%s:%d: unknown counter '%s'", path, line, t);
                *dstv = v;
            }
        } else {
            ck_abort_msg("%s:%d: unknown statement '%s'", path, line, cmd);
        }
    }
    fclose(f);
}

static void check_stat(const char *path, const char *what, long want, uint32_t got)
{
    if (want >= 0)
        ck_assert_msg((long)got == want, "%s: %s is %u, expected %ld", path, what, got, want);
}

/* mem_cap 0: default (online reduction); tiny: reduction after the sweep in column blocks. */
static void golden_run(const char *path, size_t mem_cap)
{
    golden_t c;
    golden_load(path, &c);
    lct_deps_opts_t o = lct_deps_opts_default();
    o.opaque_kernels = c.opaque;
    o.transitive_reduction = c.reduce;
    o.reduce_mem_bytes = mem_cap;
    lct_deps_stats_t st;
    ck_assert_int_eq(lct_deps_rebuild(c.g, &o, &st), LCT_OK);
    ck_assert(c.g->adj_valid);
    /* every result edge is expected and every expected edge is there, exactly once */
    ck_assert_msg(c.g->edges.len == c.nexpect, "%s: %zu edges, expected %u", path, c.g->edges.len,
                  c.nexpect);
    for (uint32_t i = 0; i < c.nexpect; i++) {
        uint32_t found = 0;
        for (size_t j = 0; j < c.g->edges.len; j++) {
            const lct_edge_t *e = &c.g->edges.data[j];
            if (e->src == c.expect[i].src && e->dst == c.expect[i].dst) {
                ck_assert_msg(e->kind == c.expect[i].kind, "%s: edge %s->%s is %s, expected %s",
                              path, LCT_NODE(c.g, e->src)->name, LCT_NODE(c.g, e->dst)->name,
                              lct_edge_kind_name(e->kind), lct_edge_kind_name(c.expect[i].kind));
                found++;
            }
        }
        ck_assert_msg(found == 1, "%s: edge %s->%s found %u times", path,
                      LCT_NODE(c.g, c.expect[i].src)->name, LCT_NODE(c.g, c.expect[i].dst)->name,
                      found);
    }
    check_stat(path, "raw", c.raw, st.raw);
    check_stat(path, "war", c.war, st.war);
    check_stat(path, "waw", c.waw, st.waw);
    check_stat(path, "barrier", c.barrier, st.barrier);
    check_stat(path, "coll", c.coll, st.coll);
    check_stat(path, "removed", c.removed, st.removed_by_reduction);
    check_stat(path, "before", c.before, st.edges_before);
    check_stat(path, "after", c.after, st.edges_after);
    ck_assert_uint_eq(st.raw + st.war + st.waw + st.barrier + st.coll, st.edges_before);
    ck_assert_uint_eq(st.edges_before - st.removed_by_reduction, st.edges_after);
    lct_graph_destroy(c.g);
}

static int deps_file(const struct dirent *d)
{
    size_t l = strlen(d->d_name);
    return l > 5 && strcmp(d->d_name + l - 5, ".deps") == 0;
}

START_TEST(golden_deps)
{
    const char *dir = LCT_GOLDEN_DEPS_DIR;
    struct dirent **list;
    int n = scandir(dir, &list, deps_file, alphasort);
    ck_assert_msg(n >= 20, "found %d golden cases in %s", n, dir);
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name);
        golden_run(path, 0);
        golden_run(path, 8);
        free(list[i]);
    }
    free(list);
}
END_TEST

/* ---- reconstruction cases written in C ---- */

static uint32_t add_node(lct_graph_t *g, lct_node_kind_t k, const char *name)
{
    uint32_t id;
    ck_assert_int_eq(lct_graph_add_node(g, k, name, &id), LCT_OK);
    return id;
}

static lct_edge_kind_t edge_kind(const lct_graph_t *g, uint32_t a, uint32_t b)
{
    for (size_t i = 0; i < g->edges.len; i++)
        if (g->edges.data[i].src == a && g->edges.data[i].dst == b)
            return g->edges.data[i].kind;
    return LCT_EDGE_KIND_COUNT;
}

START_TEST(deps_null_opts_and_empty_graph)
{
    lct_graph_t *g;
    lct_deps_stats_t st;
    lct_graph_create(&g);
    memset(&st, 0xff, sizeof(st));
    ck_assert_int_eq(lct_deps_rebuild(g, NULL, &st), LCT_OK);
    ck_assert_uint_eq(st.edges_before, 0);
    ck_assert_uint_eq(st.edges_after, 0);
    ck_assert(g->adj_valid);
    uint32_t a = add_node(g, LCT_NODE_KERNEL, "a"), b = add_node(g, LCT_NODE_KERNEL, "b");
    lct_node_add_range(g, a, 0x10, 8, LCT_ACC_WRITE, true);
    lct_node_add_range(g, b, 0x14, 8, LCT_ACC_READ, true);
    ck_assert_int_eq(lct_deps_rebuild(g, NULL, NULL), LCT_OK);
    ck_assert_int_eq(edge_kind(g, a, b), LCT_EDGE_DATA);
    ck_assert_int_eq(lct_deps_opts_default().transitive_reduction, true);
    ck_assert_ptr_null(lct_deps_opts_default().opaque_kernels);
    lct_log_level = LCT_LOG_NONE;
    ck_assert_int_eq(lct_deps_rebuild(NULL, NULL, NULL), LCT_ERR_INVALID);
    lct_log_level = LCT_LOG_WARN;
    lct_graph_destroy(g);
}
END_TEST

START_TEST(deps_sched_cycle_keeps_original)
{
    /* A scheduling edge against a true dependency closes a cycle: the rebuild fails and the
     * graph keeps its original edges. */
    lct_graph_t *g;
    lct_graph_create(&g);
    uint32_t a = add_node(g, LCT_NODE_KERNEL, "a"), b = add_node(g, LCT_NODE_KERNEL, "b");
    lct_node_add_range(g, a, 0x100, 16, LCT_ACC_WRITE, true);
    lct_node_add_range(g, b, 0x100, 16, LCT_ACC_READ, true);
    lct_graph_add_edge(g, b, a, LCT_EDGE_SCHED);
    lct_deps_stats_t st;
    memset(&st, 0x5a, sizeof(st));
    lct_log_level = LCT_LOG_NONE;
    ck_assert_int_eq(lct_deps_rebuild(g, NULL, &st), LCT_ERR_CYCLE);
    lct_log_level = LCT_LOG_WARN;
    ck_assert_uint_eq(st.raw, 0x5a5a5a5a); /* untouched on failure */
    ck_assert_uint_eq(g->edges.len, 1);
    ck_assert_int_eq(g->edges.data[0].kind, LCT_EDGE_SCHED);
    ck_assert_uint_eq(g->edges.data[0].src, b);
    lct_graph_destroy(g);
}
END_TEST

START_TEST(deps_bad_range_rejected)
{
    lct_graph_t *g;
    lct_graph_create(&g);
    uint32_t a = add_node(g, LCT_NODE_KERNEL, "a");
    lct_node_add_range(g, a, 0x100, 16, LCT_ACC_WRITE, true);
    LCT_NODE(g, a)->fp.ranges[0].size = 0; /* as a hand-edited file might give it */
    lct_log_level = LCT_LOG_NONE;
    ck_assert_int_eq(lct_deps_rebuild(g, NULL, NULL), LCT_ERR_INVALID);
    /* the same node as a barrier: its ranges do not matter */
    LCT_NODE(g, a)->flags |= LCT_NODE_F_OPAQUE;
    ck_assert_int_eq(lct_deps_rebuild(g, NULL, NULL), LCT_OK);
    lct_log_level = LCT_LOG_WARN;
    lct_graph_destroy(g);

    /* A malformed access mode counts as read-write: a later reader is ordered after it. */
    lct_graph_create(&g);
    a = add_node(g, LCT_NODE_KERNEL, "a");
    uint32_t b = add_node(g, LCT_NODE_KERNEL, "b");
    lct_node_add_range(g, a, 0x100, 16, LCT_ACC_READ, true);
    lct_node_add_range(g, b, 0x108, 16, LCT_ACC_READ, true);
    LCT_NODE(g, a)->fp.ranges[0].access = 0;
    ck_assert_int_eq(lct_deps_rebuild(g, NULL, NULL), LCT_OK);
    ck_assert_int_eq(edge_kind(g, a, b), LCT_EDGE_DATA);
    lct_graph_destroy(g);
}
END_TEST

START_TEST(deps_edge_data_kept)
{
    /* The port data of an original edge follows its node pair when the pair stays ordered. */
    lct_graph_t *g;
    lct_graph_create(&g);
    uint32_t a = add_node(g, LCT_NODE_KERNEL, "a"), b = add_node(g, LCT_NODE_KERNEL, "b");
    uint32_t c = add_node(g, LCT_NODE_KERNEL, "c");
    lct_node_add_range(g, a, 0x100, 16, LCT_ACC_WRITE, true);
    lct_node_add_range(g, b, 0x100, 16, LCT_ACC_READ, true);
    lct_node_add_range(g, c, 0x100, 16, LCT_ACC_READ, true);
    lct_graph_add_edge(g, a, b, LCT_EDGE_STREAM);
    g->edges.data[0].data = 7;
    lct_graph_add_edge(g, b, c, LCT_EDGE_STREAM);
    g->edges.data[1].data = 9;
    ck_assert_int_eq(lct_deps_rebuild(g, NULL, NULL), LCT_OK);
    ck_assert_uint_eq(g->edges.len, 2); /* a->b, a->c; b and c both only read */
    for (size_t i = 0; i < g->edges.len; i++) {
        const lct_edge_t *e = &g->edges.data[i];
        ck_assert_uint_eq(e->src, a);
        ck_assert_uint_eq(e->data, e->dst == b ? 7u : 0u);
    }
    lct_graph_destroy(g);
}
END_TEST

START_TEST(deps_barrier_chain_linear_edges)
{
    /* 200 independent kernels around 3 barriers: the chain adds O(n) edges, not O(n^2). */
    lct_graph_t *g;
    lct_graph_create(&g);
    uint32_t bars[3], nb = 0;
    for (uint32_t i = 0; i < 203; i++) {
        bool bar = i == 50 || i == 120 || i == 121;
        uint32_t id = add_node(g, bar ? LCT_NODE_HOST : LCT_NODE_KERNEL, NULL);
        if (bar)
            bars[nb++] = id;
        else
            lct_node_add_range(g, id, 0x1000 * (uint64_t)i, 0x100, LCT_ACC_RW, true);
    }
    lct_deps_opts_t o = lct_deps_opts_default();
    o.transitive_reduction = false;
    lct_deps_stats_t st;
    ck_assert_int_eq(lct_deps_rebuild(g, &o, &st), LCT_OK);
    ck_assert_uint_eq(st.barrier, 50 + 2 * 69 + 1 + 81); /* in, out+in, adjacent, out */
    ck_assert_uint_eq(st.edges_before, g->edges.len);
    lct_reach_t r;
    ck_assert_int_eq(lct_reach_fill(g, &r), LCT_OK);
    for (uint32_t v = 0; v < LCT_NNODES(g); v++)
        for (uint32_t k = 0; k < 3; k++)
            if (v != bars[k])
                ck_assert(lct_reach_path(&r, v < bars[k] ? v : bars[k], v < bars[k] ? bars[k] : v));
    lct_reach_free(&r);
    lct_graph_destroy(g);
}
END_TEST

/* ---- reachability ---- */

START_TEST(reach_hand_computed)
{
    /* 0 -> 1, 0 -> 2, 1 -> 3, 2 -> 3, 3 -> 5, 4 alone; 6 -> 4 added with launch order 0 */
    lct_graph_t *g;
    lct_graph_create(&g);
    for (int i = 0; i < 7; i++)
        add_node(g, LCT_NODE_KERNEL, NULL);
    LCT_NODE(g, 6)->launch_order = 0;
    const uint32_t e[][2] = {{0, 1}, {0, 2}, {1, 3}, {2, 3}, {3, 5}, {6, 4}};
    for (size_t i = 0; i < sizeof(e) / sizeof(e[0]); i++)
        lct_graph_add_edge(g, e[i][0], e[i][1], LCT_EDGE_DATA);
    lct_reach_t r;
    lct_log_level = LCT_LOG_NONE;
    ck_assert_int_eq(lct_reach_fill(g, &r), LCT_ERR_INVALID); /* adjacency not filled */
    lct_log_level = LCT_LOG_WARN;
    ck_assert_int_eq(lct_graph_fill_adj(g), LCT_OK);
    ck_assert_int_eq(lct_reach_fill(g, &r), LCT_OK);
    ck_assert_uint_eq(r.n, 7);
    ck_assert_uint_eq(r.words, 1);
    /* expected rows as bit masks */
    const uint64_t want[7] = {0x2e, 0x28, 0x28, 0x20, 0x00, 0x00, 0x10};
    for (uint32_t a = 0; a < 7; a++)
        for (uint32_t b = 0; b < 7; b++) {
            ck_assert_msg(lct_reach_path(&r, a, b) == (bool)((want[a] >> b) & 1), "%u->%u", a, b);
            ck_assert(lct_reach_ordered(&r, a, b) ==
                      (bool)(((want[a] >> b) & 1) | ((want[b] >> a) & 1)));
        }
    ck_assert(!lct_reach_path(&r, 0, 0));
    ck_assert(!lct_reach_path(&r, 0, 7));
    ck_assert(!lct_reach_path(&r, 99, 1));
    ck_assert(!lct_reach_ordered(&r, 1, 2));
    lct_reach_free(&r);
    ck_assert_ptr_null(r.bits);
    ck_assert(!lct_reach_path(&r, 0, 1));
    lct_reach_free(&r); /* twice is harmless */
    lct_graph_destroy(g);
}
END_TEST

START_TEST(reach_long_chain_multiword)
{
    /* 150 nodes in a chain need 3 words per row; every i < j is reachable. */
    lct_graph_t *g;
    lct_graph_create(&g);
    for (int i = 0; i < 150; i++)
        add_node(g, LCT_NODE_KERNEL, NULL);
    for (uint32_t i = 149; i > 0; i--)
        lct_graph_add_edge(g, i - 1, i, LCT_EDGE_DATA);
    lct_graph_fill_adj(g);
    lct_reach_t r;
    ck_assert_int_eq(lct_reach_fill(g, &r), LCT_OK);
    ck_assert_uint_eq(r.words, 3);
    for (uint32_t a = 0; a < 150; a++)
        for (uint32_t b = 0; b < 150; b++)
            ck_assert(lct_reach_path(&r, a, b) == (a < b));
    lct_reach_free(&r);
    lct_graph_destroy(g);
}
END_TEST

/* ---- timing ---- */

static lct_graph_t *timing_graph(const double *cost, uint32_t n, const uint32_t (*e)[2], size_t ne)
{
    lct_graph_t *g;
    lct_graph_create(&g);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t id = add_node(g, LCT_NODE_KERNEL, NULL);
        LCT_NODE(g, id)->cost_us = cost[i];
    }
    for (size_t i = 0; i < ne; i++)
        lct_graph_add_edge(g, e[i][0], e[i][1], LCT_EDGE_DATA);
    ck_assert_int_eq(lct_graph_fill_adj(g), LCT_OK);
    return g;
}

START_TEST(timing_hand_computed)
{
    /* a(2) -> b(3), a -> c(5), b -> d(1), c -> d; e(4) alone.
     * asap a0 b2 c2 d7 e0; longest tails a8 b4 c6 d1 e4; length 8;
     * alap a0 b4 c2 d7 e4; slack a0 b2 c0 d0 e4; critical path a c d. */
    const double cost[] = {2, 3, 5, 1, 4};
    const uint32_t e[][2] = {{0, 1}, {0, 2}, {1, 3}, {2, 3}};
    lct_graph_t *g = timing_graph(cost, 5, e, 4);
    lct_timing_t t;
    ck_assert_int_eq(lct_timing_fill(g, &t), LCT_OK);
    const double asap[] = {0, 2, 2, 7, 0}, alap[] = {0, 4, 2, 7, 4}, slack[] = {0, 2, 0, 0, 4};
    ck_assert_uint_eq(t.n, 5);
    ck_assert_double_eq(t.length, 8);
    for (int i = 0; i < 5; i++) {
        ck_assert_double_eq(t.asap[i], asap[i]);
        ck_assert_double_eq(t.alap[i], alap[i]);
        ck_assert_double_eq(t.slack[i], slack[i]);
    }
    ck_assert_uint_eq(t.ncrit, 3);
    ck_assert_uint_eq(t.crit[0], 0);
    ck_assert_uint_eq(t.crit[1], 2);
    ck_assert_uint_eq(t.crit[2], 3);
    lct_timing_free(&t);
    ck_assert_ptr_null(t.asap);
    lct_timing_free(&t);
    lct_graph_destroy(g);
}
END_TEST

START_TEST(timing_tie_break_lowest_index)
{
    /* Two equal paths from two equal sources: 3(1) -> 1(2) -> 4(1) and 0(1) -> 2(2) -> 4;
     * plus 0 -> 1. The path starts at source 0 (lowest index) and takes successor 1 over 2. */
    const double cost[] = {1, 2, 2, 1, 1};
    const uint32_t e[][2] = {{3, 1}, {1, 4}, {0, 2}, {2, 4}, {0, 1}};
    lct_graph_t *g = timing_graph(cost, 5, e, 5);
    lct_timing_t t;
    ck_assert_int_eq(lct_timing_fill(g, &t), LCT_OK);
    ck_assert_double_eq(t.length, 4);
    ck_assert_uint_eq(t.ncrit, 3);
    ck_assert_uint_eq(t.crit[0], 0);
    ck_assert_uint_eq(t.crit[1], 1);
    ck_assert_uint_eq(t.crit[2], 4);
    for (int i = 0; i < 5; i++)
        ck_assert_double_eq(t.slack[i], 0);
    lct_timing_free(&t);
    lct_graph_destroy(g);
}
END_TEST

START_TEST(timing_limits_and_errors)
{
    lct_graph_t *g;
    lct_timing_t t;
    lct_graph_create(&g);
    lct_log_level = LCT_LOG_NONE;
    ck_assert_int_eq(lct_timing_fill(g, &t), LCT_ERR_INVALID); /* no adjacency yet */
    lct_graph_fill_adj(g);
    ck_assert_int_eq(lct_timing_fill(g, &t), LCT_OK); /* empty graph */
    ck_assert_uint_eq(t.ncrit, 0);
    ck_assert_double_eq(t.length, 0);
    lct_timing_free(&t);
    uint32_t a = add_node(g, LCT_NODE_KERNEL, "a");
    LCT_NODE(g, a)->cost_us = -1;
    lct_graph_fill_adj(g);
    ck_assert_int_eq(lct_timing_fill(g, &t), LCT_ERR_INVALID);
    LCT_NODE(g, a)->cost_us = NAN;
    ck_assert_int_eq(lct_timing_fill(g, &t), LCT_ERR_INVALID);
    LCT_NODE(g, a)->cost_us = 0; /* zero costs are fine */
    ck_assert_int_eq(lct_timing_fill(g, &t), LCT_OK);
    ck_assert_uint_eq(t.ncrit, 1);
    lct_timing_free(&t);
    lct_log_level = LCT_LOG_WARN;
    lct_graph_destroy(g);
}
END_TEST

START_TEST(timing_after_rebuild)
{
    /* The analyses compose: rebuild, then time. x(10) writes, y(1) and z(4) read, w(2) writes
     * over them: x -> y, x -> z, y -> w, z -> w. length 16, path x z w. */
    lct_graph_t *g;
    lct_graph_create(&g);
    const char *names[] = {"x", "y", "z", "w"};
    const double cost[] = {10, 1, 4, 2};
    const uint8_t acc[] = {LCT_ACC_WRITE, LCT_ACC_READ, LCT_ACC_READ, LCT_ACC_WRITE};
    for (uint32_t i = 0; i < 4; i++) {
        uint32_t id = add_node(g, LCT_NODE_KERNEL, names[i]);
        LCT_NODE(g, id)->cost_us = cost[i];
        lct_node_add_range(g, id, 0x4000, 64, acc[i], true);
        if (i)
            lct_graph_add_edge(g, i - 1, i, LCT_EDGE_STREAM);
    }
    ck_assert_int_eq(lct_deps_rebuild(g, NULL, NULL), LCT_OK);
    lct_timing_t t;
    ck_assert_int_eq(lct_timing_fill(g, &t), LCT_OK);
    ck_assert_double_eq(t.length, 16);
    ck_assert_double_eq(t.slack[1], 3);
    ck_assert_uint_eq(t.ncrit, 3);
    ck_assert_uint_eq(t.crit[1], 2);
    lct_timing_free(&t);
    lct_graph_destroy(g);
}
END_TEST

static Suite *analysis_suite(void)
{
    Suite *s = suite_create("analysis");
    TCase *tc = tcase_create("deps");
    tcase_add_test(tc, golden_deps);
    tcase_add_test(tc, deps_null_opts_and_empty_graph);
    tcase_add_test(tc, deps_sched_cycle_keeps_original);
    tcase_add_test(tc, deps_bad_range_rejected);
    tcase_add_test(tc, deps_edge_data_kept);
    tcase_add_test(tc, deps_barrier_chain_linear_edges);
    suite_add_tcase(s, tc);
    tc = tcase_create("reach");
    tcase_add_test(tc, reach_hand_computed);
    tcase_add_test(tc, reach_long_chain_multiword);
    suite_add_tcase(s, tc);
    tc = tcase_create("timing");
    tcase_add_test(tc, timing_hand_computed);
    tcase_add_test(tc, timing_tie_break_lowest_index);
    tcase_add_test(tc, timing_limits_and_errors);
    tcase_add_test(tc, timing_after_rebuild);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(analysis_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
