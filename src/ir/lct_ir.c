#include "lct_ir.h"

#include <stdlib.h>
#include <string.h>

#include "core/lct_log.h"

/* Name tables and parsers generated from lct_ir.def. */
#define LCT_NAME_FUNCS(type, fn)                                                                   \
    const char *fn##_name(type v)                                                                  \
    {                                                                                              \
        return (unsigned)v < sizeof(fn##_names) / sizeof(fn##_names[0]) ? fn##_names[v] : "?";      \
    }                                                                                              \
    int fn##_parse(const char *s)                                                                  \
    {                                                                                              \
        for (unsigned i = 0; s && i < sizeof(fn##_names) / sizeof(fn##_names[0]); i++)             \
            if (strcmp(s, fn##_names[i]) == 0)                                                     \
                return (int)i;                                                                     \
        return -1;                                                                                 \
    }

static const char *const lct_node_kind_names[] = {
#define LCT_IR_NODE_KIND(id, s) s,
#include "lct_ir.def"
#undef LCT_IR_NODE_KIND
};
LCT_NAME_FUNCS(lct_node_kind_t, lct_node_kind)

static const char *const lct_coll_op_names[] = {
#define LCT_IR_COLL(id, s) s,
#include "lct_ir.def"
#undef LCT_IR_COLL
};
LCT_NAME_FUNCS(lct_coll_op_t, lct_coll_op)

static const char *const lct_edge_kind_names[] = {
#define LCT_IR_EDGE_KIND(id, s) s,
#include "lct_ir.def"
#undef LCT_IR_EDGE_KIND
};
LCT_NAME_FUNCS(lct_edge_kind_t, lct_edge_kind)

static const char *const lct_phase_names[] = {
#define LCT_IR_PHASE(id, s) s,
#include "lct_ir.def"
#undef LCT_IR_PHASE
};
LCT_NAME_FUNCS(lct_phase_t, lct_phase)

static const char *const lct_role_names[] = {
#define LCT_IR_ROLE(id, s) s,
#include "lct_ir.def"
#undef LCT_IR_ROLE
};
LCT_NAME_FUNCS(lct_role_t, lct_role)

static const char *const lct_cost_src_names[] = {
#define LCT_IR_COST_SRC(id, s) s,
#include "lct_ir.def"
#undef LCT_IR_COST_SRC
};
LCT_NAME_FUNCS(lct_cost_src_t, lct_cost_src)

static const char *const lct_dtype_names[] = {
#define LCT_IR_DTYPE(id, s, b) s,
#include "lct_ir.def"
#undef LCT_IR_DTYPE
};
LCT_NAME_FUNCS(lct_dtype_t, lct_dtype)

static const char *const lct_call_kind_names[] = {
#define LCT_IR_CALL(id, s) s,
#include "lct_ir.def"
#undef LCT_IR_CALL
};
LCT_NAME_FUNCS(lct_call_kind_t, lct_call_kind)

size_t lct_dtype_size(lct_dtype_t t)
{
    static const size_t sizes[] = {
#define LCT_IR_DTYPE(id, s, b) b,
#include "lct_ir.def"
#undef LCT_IR_DTYPE
    };
    return (unsigned)t < LCT_DTYPE_COUNT ? sizes[t] : 0;
}

static void adj_free(lct_graph_t *g)
{
    free(g->succ_off);
    free(g->succ);
    free(g->pred_off);
    free(g->pred);
    free(g->topo);
    g->succ_off = g->succ = g->pred_off = g->pred = g->topo = NULL;
    g->adj_valid = false;
}

lct_status_t lct_graph_create(lct_graph_t **g_p)
{
    lct_graph_t *g = calloc(1, sizeof(*g));
    if (!g)
        return LCT_ERR_NOMEM;
    lct_arena_init(&g->arena, 256 * 1024);
    g->meta.world_size = 1;
    g->meta.gpus_per_node = 1;
    *g_p = g;
    return LCT_OK;
}

void lct_graph_destroy(lct_graph_t *g)
{
    if (!g)
        return;
    adj_free(g);
    LCT_VEC_FREE(&g->nodes);
    LCT_VEC_FREE(&g->edges);
    lct_arena_destroy(&g->arena);
    free(g);
}

const char *lct_graph_strdup(lct_graph_t *g, const char *s) { return lct_arena_strdup(&g->arena, s); }

lct_status_t lct_graph_add_node(lct_graph_t *g, lct_node_kind_t kind, const char *name,
                                uint32_t *id_p)
{
    if ((unsigned)kind >= LCT_NODE_KIND_COUNT || g->nodes.len >= UINT32_MAX - 1)
        return LCT_ERR_INVALID;
    lct_node_t n;
    memset(&n, 0, sizeof(n));
    n.kind = kind;
    n.name = lct_arena_strdup(&g->arena, name ? name : lct_node_kind_name(kind));
    n.lib = "generic";
    n.launch_order = (uint32_t)g->nodes.len;
    n.layer = n.moe = n.parent = -1;
    n.coll.root = -1;
    n.coll.nranks = g->meta.world_size;
    n.nchunks = 1;
    if (!n.name)
        return LCT_ERR_NOMEM;
    LCT_CHECK(LCT_VEC_PUSH(&g->nodes, n));
    g->adj_valid = false;
    if (id_p)
        *id_p = (uint32_t)(g->nodes.len - 1);
    return LCT_OK;
}

lct_status_t lct_graph_add_edge(lct_graph_t *g, uint32_t src, uint32_t dst, lct_edge_kind_t kind)
{
    if (src >= g->nodes.len || dst >= g->nodes.len || src == dst ||
        (unsigned)kind >= LCT_EDGE_KIND_COUNT)
        return LCT_ERR_INVALID;
    lct_edge_t e = {src, dst, kind, 0};
    LCT_CHECK(LCT_VEC_PUSH(&g->edges, e));
    g->adj_valid = false;
    return LCT_OK;
}

lct_status_t lct_node_add_range(lct_graph_t *g, uint32_t id, uint64_t addr, uint64_t size,
                                uint8_t access, bool exact)
{
    if (id >= g->nodes.len || size == 0 || addr + size < addr || access < LCT_ACC_READ ||
        access > LCT_ACC_RW)
        return LCT_ERR_INVALID;
    lct_node_t *n = LCT_NODE(g, id);
    /* Grow by copying into the arena; footprints are short (a handful of ranges). */
    lct_range_t *r = lct_arena_alloc(&g->arena, sizeof(*r) * (n->fp.nranges + 1));
    if (!r)
        return LCT_ERR_NOMEM;
    if (n->fp.nranges)
        memcpy(r, n->fp.ranges, sizeof(*r) * n->fp.nranges);
    r[n->fp.nranges] = (lct_range_t){addr, size, access, exact ? 1 : 0};
    n->fp.ranges = r;
    n->fp.nranges++;
    return LCT_OK;
}

void lct_graph_remove_edges(lct_graph_t *g, unsigned kind_mask)
{
    size_t o = 0;
    for (size_t i = 0; i < g->edges.len; i++)
        if (!(kind_mask & (1u << g->edges.data[i].kind)))
            g->edges.data[o++] = g->edges.data[i];
    if (o != g->edges.len)
        g->adj_valid = false;
    g->edges.len = o;
}

bool lct_graph_has_edge(const lct_graph_t *g, uint32_t src, uint32_t dst)
{
    if (g->adj_valid) {
        for (uint32_t i = g->succ_off[src]; i < g->succ_off[src + 1]; i++)
            if (g->succ[i] == dst)
                return true;
        return false;
    }
    for (size_t i = 0; i < g->edges.len; i++)
        if (g->edges.data[i].src == src && g->edges.data[i].dst == dst)
            return true;
    return false;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Fill a CSR (off, list) of unique neighbours from edge endpoints. */
static lct_status_t build_csr(uint32_t n, const lct_edge_t *e, size_t ne, int forward,
                              uint32_t **off_p, uint32_t **list_p)
{
    uint32_t *off = calloc((size_t)n + 1, sizeof(*off));
    uint32_t *list = malloc((ne ? ne : 1) * sizeof(*list));
    if (!off || !list) {
        free(off);
        free(list);
        return LCT_ERR_NOMEM;
    }
    for (size_t i = 0; i < ne; i++)
        off[(forward ? e[i].src : e[i].dst) + 1]++;
    for (uint32_t i = 0; i < n; i++)
        off[i + 1] += off[i];
    uint32_t *fill = malloc(((size_t)n + 1) * sizeof(*fill));
    if (!fill) {
        free(off);
        free(list);
        return LCT_ERR_NOMEM;
    }
    memcpy(fill, off, ((size_t)n + 1) * sizeof(*fill));
    for (size_t i = 0; i < ne; i++) {
        uint32_t from = forward ? e[i].src : e[i].dst, to = forward ? e[i].dst : e[i].src;
        list[fill[from]++] = to;
    }
    /* sort each row and drop duplicates, compacting in place */
    uint32_t w = 0;
    for (uint32_t v = 0; v < n; v++) {
        uint32_t b = off[v], end = off[v + 1];
        if (end - b <= 32) { /* most rows are short: insertion sort beats qsort's set-up */
            for (uint32_t i = b + 1; i < end; i++) {
                uint32_t x = list[i], j = i;
                while (j > b && list[j - 1] > x) {
                    list[j] = list[j - 1];
                    j--;
                }
                list[j] = x;
            }
        } else {
            qsort(list + b, end - b, sizeof(*list), cmp_u32);
        }
        off[v] = w;
        for (uint32_t i = b; i < end; i++)
            if (i == b || list[i] != list[i - 1])
                list[w++] = list[i];
    }
    off[n] = w;
    free(fill);
    *off_p = off;
    *list_p = list;
    return LCT_OK;
}

/* Min-heap of node indices keyed by (launch_order, index): deterministic Kahn order. */
typedef struct {
    uint32_t *h;
    uint32_t len;
    const lct_node_t *nodes;
} topo_heap_t;

static int heap_less(const topo_heap_t *q, uint32_t a, uint32_t b)
{
    uint32_t la = q->nodes[a].launch_order, lb = q->nodes[b].launch_order;
    return la != lb ? la < lb : a < b;
}

static void heap_push(topo_heap_t *q, uint32_t v)
{
    uint32_t i = q->len++;
    q->h[i] = v;
    while (i && heap_less(q, q->h[i], q->h[(i - 1) / 2])) {
        uint32_t p = (i - 1) / 2, t = q->h[p];
        q->h[p] = q->h[i];
        q->h[i] = t;
        i = p;
    }
}

static uint32_t heap_pop(topo_heap_t *q)
{
    uint32_t top = q->h[0];
    q->h[0] = q->h[--q->len];
    uint32_t i = 0;
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < q->len && heap_less(q, q->h[l], q->h[m]))
            m = l;
        if (r < q->len && heap_less(q, q->h[r], q->h[m]))
            m = r;
        if (m == i)
            break;
        uint32_t t = q->h[m];
        q->h[m] = q->h[i];
        q->h[i] = t;
        i = m;
    }
    return top;
}

lct_status_t lct_graph_fill_adj(lct_graph_t *g)
{
    uint32_t n = LCT_NNODES(g);
    lct_status_t st;
    adj_free(g);
    for (size_t i = 0; i < g->edges.len; i++)
        if (g->edges.data[i].src >= n || g->edges.data[i].dst >= n) {
            LCT_WARN("edge %zu names node %u or %u, graph has %u nodes", i, g->edges.data[i].src,
                     g->edges.data[i].dst, n);
            return LCT_ERR_INVALID;
        }
    LCT_CHECK_GOTO(build_csr(n, g->edges.data, g->edges.len, 1, &g->succ_off, &g->succ), st, fail);
    LCT_CHECK_GOTO(build_csr(n, g->edges.data, g->edges.len, 0, &g->pred_off, &g->pred), st, fail);
    g->topo = malloc(((size_t)n + 1) * sizeof(*g->topo));
    uint32_t *indeg = calloc((size_t)n + 1, sizeof(*indeg));
    topo_heap_t q = {malloc(((size_t)n + 1) * sizeof(uint32_t)), 0, g->nodes.data};
    if (!g->topo || !indeg || !q.h) {
        free(indeg);
        free(q.h);
        st = LCT_ERR_NOMEM;
        goto fail;
    }
    for (uint32_t v = 0; v < n; v++) {
        indeg[v] = g->pred_off[v + 1] - g->pred_off[v];
        if (!indeg[v])
            heap_push(&q, v);
    }
    uint32_t done = 0;
    while (q.len) {
        uint32_t v = heap_pop(&q);
        g->topo[done++] = v;
        for (uint32_t i = g->succ_off[v]; i < g->succ_off[v + 1]; i++)
            if (--indeg[g->succ[i]] == 0)
                heap_push(&q, g->succ[i]);
    }
    if (done != n) {
        uint32_t bad = 0;
        for (uint32_t v = 0; v < n; v++)
            if (indeg[v]) {
                bad = v;
                break;
            }
        LCT_WARN("graph '%s' has a cycle through node %u (%s)", g->meta.name ? g->meta.name : "",
                 bad, LCT_NODE(g, bad)->name);
        free(indeg);
        free(q.h);
        st = LCT_ERR_CYCLE;
        goto fail;
    }
    free(indeg);
    free(q.h);
    g->adj_valid = true;
    return LCT_OK;
fail:
    adj_free(g);
    return st;
}

bool lct_ranges_overlap(const lct_range_t *a, const lct_range_t *b)
{
    return a->addr < b->addr + b->size && b->addr < a->addr + a->size;
}

bool lct_footprints_conflict(const lct_footprint_t *a, const lct_footprint_t *b)
{
    if (a->unknown || b->unknown)
        return true;
    for (uint32_t i = 0; i < a->nranges; i++)
        for (uint32_t j = 0; j < b->nranges; j++) {
            const lct_range_t *x = &a->ranges[i], *y = &b->ranges[j];
            if (((x->access | y->access) & LCT_ACC_WRITE) && lct_ranges_overlap(x, y))
                return true;
        }
    return false;
}

/* Duplicate the arena-owned parts of a node into another graph's arena. */
static lct_status_t node_deep_copy(lct_graph_t *dst, lct_node_t *n)
{
    lct_arena_t *a = &dst->arena;
    n->name = lct_arena_strdup(a, n->name);
    n->lib = lct_arena_strdup(a, n->lib);
    if (!n->name || !n->lib)
        return LCT_ERR_NOMEM;
    if (n->fp.nranges &&
        !(n->fp.ranges = lct_arena_memdup(a, n->fp.ranges, n->fp.nranges * sizeof(lct_range_t))))
        return LCT_ERR_NOMEM;
    if (n->coll.npeers &&
        !(n->coll.peers = lct_arena_memdup(a, n->coll.peers, n->coll.npeers * sizeof(lct_peer_t))))
        return LCT_ERR_NOMEM;
    if (n->call.kind == LCT_CALL_KERNEL) {
        lct_kernel_call_t *k = &n->call.u.kernel;
        if (k->nparams) {
            k->param_offset = lct_arena_memdup(a, k->param_offset, k->nparams * sizeof(uint32_t));
            k->param_size = lct_arena_memdup(a, k->param_size, k->nparams * sizeof(uint32_t));
            if (!k->param_offset || !k->param_size)
                return LCT_ERR_NOMEM;
        }
        if (k->param_bytes && !(k->param_data = lct_arena_memdup(a, k->param_data, k->param_bytes)))
            return LCT_ERR_NOMEM;
    }
    return LCT_OK;
}

lct_status_t lct_graph_clone(const lct_graph_t *g, lct_graph_t **g_p)
{
    lct_graph_t *c;
    lct_status_t st;
    LCT_CHECK(lct_graph_create(&c));
    c->meta = g->meta;
    c->meta.name = lct_arena_strdup(&c->arena, g->meta.name);
    c->meta.device = lct_arena_strdup(&c->arena, g->meta.device);
    c->meta.fabric = lct_arena_strdup(&c->arena, g->meta.fabric);
    c->meta.model = lct_arena_strdup(&c->arena, g->meta.model);
    LCT_CHECK_GOTO(LCT_VEC_RESERVE(&c->nodes, g->nodes.len), st, fail);
    LCT_CHECK_GOTO(LCT_VEC_RESERVE(&c->edges, g->edges.len ? g->edges.len : 1), st, fail);
    for (size_t i = 0; i < g->nodes.len; i++) {
        c->nodes.data[i] = g->nodes.data[i];
        LCT_CHECK_GOTO(node_deep_copy(c, &c->nodes.data[i]), st, fail);
    }
    c->nodes.len = g->nodes.len;
    if (g->edges.len)
        memcpy(c->edges.data, g->edges.data, g->edges.len * sizeof(lct_edge_t));
    c->edges.len = g->edges.len;
    *g_p = c;
    return LCT_OK;
fail:
    lct_graph_destroy(c);
    return st;
}
