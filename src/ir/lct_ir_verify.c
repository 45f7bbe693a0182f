/* The step-graph verifier: checks the invariants every pass and the rebuild rely on.
 *
 * What it checks, in this order, reporting the first problem found:
 *   1. metadata: world_size >= 1, 0 <= rank < world_size, gpus_per_node >= 1;
 *   2. every node on its own: enum fields in range, name and lib present, cost finite and >= 0,
 *      layer/moe >= -1, parent a valid other node or -1, chunk < nchunks, footprint ranges
 *      well-formed (size > 0, no wrap-around past 2^64, access r/w/rw), collective and call
 *      records consistent (root and peers inside the communicator, kernel parameters inside the
 *      parameter block);
 *   3. every edge: both ends exist, not a self loop, kind in range;
 *   4. acyclic (Kahn's algorithm on a private adjacency; on failure one cycle is named);
 *   5. DESIGN.md invariant 3: per communicator, collectives carry sequence numbers 0..n-1 without
 *      gaps or repeats, and for each s the collective with seq s reaches the one with seq s+1 by
 *      a path, so they are totally ordered in sequence order.
 *
 * Step 5 walks forward from collective s, pruned to nodes whose topological position does not
 * pass that of collective s+1. For one communicator the windows of consecutive pairs are
 * disjoint in the topological order, so each communicator costs at most one pass over the graph.
 * The graph is read only (const); derived data of g is neither used nor changed. */
#include "lct_ir_json.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/lct_log.h"

typedef struct {
    char *err;
    size_t errlen;
} vf_t;

static lct_status_t vf_fail(vf_t *v, lct_status_t st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static lct_status_t vf_fail(vf_t *v, lct_status_t st, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* The caller that passes a buffer reports the message; otherwise it would be lost. */
    if (v->errlen)
        snprintf(v->err, v->errlen, "%s", msg);
    else
        LCT_WARN("step graph invalid: %s", msg);
    LCT_DEBUG(IR, "step graph invalid: %s", msg);
    return st;
}

static const char *nm(const lct_node_t *n) { return n->name ? n->name : "?"; }

static lct_status_t vf_range(vf_t *v, uint32_t i, const lct_node_t *n, uint32_t k)
{
    const lct_range_t *r = &n->fp.ranges[k];
    if (r->size == 0)
        return vf_fail(v, LCT_ERR_INVALID, "node %u '%s': footprint range %u has size 0", i, nm(n),
                       k);
    if (r->size > UINT64_MAX - r->addr)
        return vf_fail(v, LCT_ERR_INVALID,
                       "node %u '%s': footprint range %u at 0x%" PRIx64 " of 0x%" PRIx64
                       " bytes wraps around the end of the address space",
                       i, nm(n), k, r->addr, r->size);
    if (r->access < LCT_ACC_READ || r->access > LCT_ACC_RW)
        return vf_fail(v, LCT_ERR_INVALID,
                       "node %u '%s': footprint range %u has access %u (expected 1 r, 2 w, 3 rw)",
                       i, nm(n), k, r->access);
    if (r->exact > 1)
        return vf_fail(v, LCT_ERR_INVALID, "node %u '%s': footprint range %u has exact = %u", i,
                       nm(n), k, r->exact);
    return LCT_OK;
}

static lct_status_t vf_coll(vf_t *v, uint32_t i, const lct_node_t *n)
{
    const lct_coll_t *c = &n->coll;
    if (c->op <= LCT_COLL_NONE || c->op >= LCT_COLL_COUNT)
        return vf_fail(v, LCT_ERR_INVALID, "node %u '%s': collective with operation %d", i, nm(n),
                       (int)c->op);
    if ((unsigned)c->dtype >= LCT_DTYPE_COUNT)
        return vf_fail(v, LCT_ERR_INVALID, "node %u '%s': collective dtype %d out of range", i,
                       nm(n), (int)c->dtype);
    if (c->nranks < 1)
        return vf_fail(v, LCT_ERR_INVALID, "node %u '%s': communicator of %d ranks", i, nm(n),
                       c->nranks);
    if (c->root < -1 || c->root >= c->nranks)
        return vf_fail(v, LCT_ERR_INVALID, "node %u '%s': root %d outside the %d ranks", i, nm(n),
                       c->root, c->nranks);
    if (c->npeers && !c->peers)
        return vf_fail(v, LCT_ERR_INVALID, "node %u '%s': %u peers but no peer list", i, nm(n),
                       c->npeers);
    for (uint32_t k = 0; k < c->npeers; k++)
        if (c->peers[k].peer < 0 || c->peers[k].peer >= c->nranks)
            return vf_fail(v, LCT_ERR_INVALID,
                           "node %u '%s': peer %u is rank %d, outside the %d ranks", i, nm(n), k,
                           c->peers[k].peer, c->nranks);
    return LCT_OK;
}

static lct_status_t vf_call(vf_t *v, uint32_t i, const lct_node_t *n)
{
    const lct_call_t *c = &n->call;
    if ((unsigned)c->kind >= LCT_CALL_COUNT)
        return vf_fail(v, LCT_ERR_INVALID, "node %u '%s': call kind %d out of range", i, nm(n),
                       (int)c->kind);
    if (c->kind == LCT_CALL_GEMM) {
        const lct_gemm_call_t *m = &c->u.gemm;
        if ((unsigned)m->type_a >= LCT_DTYPE_COUNT || (unsigned)m->type_b >= LCT_DTYPE_COUNT ||
            (unsigned)m->type_c >= LCT_DTYPE_COUNT || (unsigned)m->compute >= LCT_DTYPE_COUNT)
            return vf_fail(v, LCT_ERR_INVALID, "node %u '%s': gemm data type out of range", i,
                           nm(n));
        if (m->m < 0 || m->n < 0 || m->k < 0 || m->lda < 0 || m->ldb < 0 || m->ldc < 0 ||
            m->batch < 1)
            return vf_fail(v, LCT_ERR_INVALID,
                           "node %u '%s': gemm m/n/k/ld must be >= 0 and batch >= 1 (m %" PRId64
                           " n %" PRId64 " k %" PRId64 " batch %" PRId64 ")",
                           i, nm(n), m->m, m->n, m->k, m->batch);
        if (!isfinite(m->alpha) || !isfinite(m->beta))
            return vf_fail(v, LCT_ERR_INVALID, "node %u '%s': gemm alpha/beta not finite", i,
                           nm(n));
    } else if (c->kind == LCT_CALL_KERNEL) {
        const lct_kernel_call_t *k = &c->u.kernel;
        if ((k->nparams && (!k->param_offset || !k->param_size)) ||
            (k->param_bytes && !k->param_data))
            return vf_fail(v, LCT_ERR_INVALID, "node %u '%s': kernel call without parameter arrays",
                           i, nm(n));
        for (uint32_t p = 0; p < k->nparams; p++)
            if (k->param_size[p] == 0 || k->param_offset[p] > k->param_bytes ||
                k->param_size[p] > k->param_bytes - k->param_offset[p])
                return vf_fail(v, LCT_ERR_INVALID,
                               "node %u '%s': kernel parameter %u [%u, +%u) outside the %u-byte "
                               "parameter block",
                               i, nm(n), p, k->param_offset[p], k->param_size[p], k->param_bytes);
    } else if (c->kind == LCT_CALL_SET) {
        uint32_t es = c->u.set.elem_size;
        if (es != 1 && es != 2 && es != 4)
            return vf_fail(v, LCT_ERR_INVALID, "node %u '%s': memset element size %u (1, 2 or 4)",
                           i, nm(n), es);
    }
    return LCT_OK;
}

static lct_status_t vf_node(vf_t *v, const lct_graph_t *g, uint32_t i)
{
    const lct_node_t *n = LCT_NODE(g, i);
    uint32_t nn = LCT_NNODES(g);
    if ((unsigned)n->kind >= LCT_NODE_KIND_COUNT)
        return vf_fail(v, LCT_ERR_INVALID, "node %u '%s': kind %d out of range", i, nm(n),
                       (int)n->kind);
    if (!n->name || !n->lib)
        return vf_fail(v, LCT_ERR_INVALID, "node %u: name or lib is NULL", i);
    if (n->flags & ~(uint32_t)(LCT_NODE_F_OPAQUE | LCT_NODE_F_EXTERNAL | LCT_NODE_F_GRAD_SYNC |
                               LCT_NODE_F_SPLIT))
        return vf_fail(v, LCT_ERR_INVALID, "node %u '%s': unknown flag bits 0x%x", i, nm(n),
                       n->flags);
    if (!isfinite(n->cost_us) || n->cost_us < 0)
        return vf_fail(v, LCT_ERR_INVALID, "node %u '%s': cost %g us is not a finite number >= 0",
                       i, nm(n), n->cost_us);
    if ((unsigned)n->cost_src >= LCT_COST_SRC_COUNT || (unsigned)n->phase >= LCT_PHASE_COUNT ||
        (unsigned)n->role >= LCT_ROLE_COUNT)
        return vf_fail(v, LCT_ERR_INVALID,
                       "node %u '%s': cost_src %d, phase %d or role %d out of range", i, nm(n),
                       (int)n->cost_src, (int)n->phase, (int)n->role);
    if (n->layer < -1 || n->moe < -1)
        return vf_fail(v, LCT_ERR_INVALID, "node %u '%s': layer %d / moe %d below -1", i, nm(n),
                       n->layer, n->moe);
    if (n->parent < -1 || n->parent >= (int64_t)nn || n->parent == (int64_t)i)
        return vf_fail(v, LCT_ERR_INVALID, "node %u '%s': parent %d is not another node", i, nm(n),
                       n->parent);
    if (n->nchunks < 1 || n->chunk >= n->nchunks)
        return vf_fail(v, LCT_ERR_INVALID, "node %u '%s': chunk %u of %u", i, nm(n), n->chunk,
                       n->nchunks);
    if (n->fp.nranges && !n->fp.ranges)
        return vf_fail(v, LCT_ERR_INVALID, "node %u '%s': %u ranges but no range list", i, nm(n),
                       n->fp.nranges);
    for (uint32_t k = 0; k < n->fp.nranges; k++)
        LCT_CHECK(vf_range(v, i, n, k));
    if (n->kind == LCT_NODE_COLLECTIVE)
        LCT_CHECK(vf_coll(v, i, n));
    else if ((unsigned)n->coll.op >= LCT_COLL_COUNT)
        return vf_fail(v, LCT_ERR_INVALID, "node %u '%s': collective operation %d out of range", i,
                       nm(n), (int)n->coll.op);
    return vf_call(v, i, n);
}

/* Successor CSR (duplicates kept: harmless for reachability and in-degree counting as long as
 * both use the same lists). */
typedef struct {
    uint32_t *off, *adj;   /* successors */
    uint32_t *poff, *padj; /* predecessors */
    uint32_t *pos;         /* topological position, UINT32_MAX when on or behind a cycle */
    uint32_t *order;
} vadj_t;

static void vadj_free(vadj_t *a)
{
    free(a->off);
    free(a->adj);
    free(a->poff);
    free(a->padj);
    free(a->pos);
    free(a->order);
}

static lct_status_t vadj_build(const lct_graph_t *g, vadj_t *a)
{
    uint32_t n = LCT_NNODES(g);
    size_t ne = g->edges.len;
    memset(a, 0, sizeof(*a));
    a->off = calloc((size_t)n + 1, sizeof(uint32_t));
    a->poff = calloc((size_t)n + 1, sizeof(uint32_t));
    a->adj = malloc((ne ? ne : 1) * sizeof(uint32_t));
    a->padj = malloc((ne ? ne : 1) * sizeof(uint32_t));
    a->pos = malloc(((size_t)n + 1) * sizeof(uint32_t));
    a->order = malloc(((size_t)n + 1) * sizeof(uint32_t));
    if (!a->off || !a->poff || !a->adj || !a->padj || !a->pos || !a->order) {
        vadj_free(a);
        return LCT_ERR_NOMEM;
    }
    for (size_t e = 0; e < ne; e++) {
        a->off[g->edges.data[e].src + 1]++;
        a->poff[g->edges.data[e].dst + 1]++;
    }
    for (uint32_t i = 0; i < n; i++) {
        a->off[i + 1] += a->off[i];
        a->poff[i + 1] += a->poff[i];
    }
    /* fill using pos/order as cursors, then reset them */
    memcpy(a->pos, a->off, (size_t)n * sizeof(uint32_t));
    memcpy(a->order, a->poff, (size_t)n * sizeof(uint32_t));
    for (size_t e = 0; e < ne; e++) {
        uint32_t s = g->edges.data[e].src, d = g->edges.data[e].dst;
        a->adj[a->pos[s]++] = d;
        a->padj[a->order[d]++] = s;
    }
    return LCT_OK;
}

/* Kahn's algorithm (FIFO, seeded in index order: deterministic). Fills pos/order; on a cycle
 * reports one cycle by walking predecessors among the nodes left over. */
static lct_status_t vf_acyclic(vf_t *v, const lct_graph_t *g, vadj_t *a)
{
    uint32_t n = LCT_NNODES(g), head = 0, tail = 0;
    uint32_t *indeg = malloc(((size_t)n + 1) * sizeof(uint32_t));
    if (!indeg)
        return LCT_ERR_NOMEM;
    for (uint32_t i = 0; i < n; i++) {
        indeg[i] = a->poff[i + 1] - a->poff[i];
        a->pos[i] = UINT32_MAX;
        if (!indeg[i])
            a->order[tail++] = i;
    }
    while (head < tail) {
        uint32_t u = a->order[head];
        a->pos[u] = head++;
        for (uint32_t k = a->off[u]; k < a->off[u + 1]; k++)
            if (--indeg[a->adj[k]] == 0)
                a->order[tail++] = a->adj[k];
    }
    if (tail == n) {
        free(indeg);
        return LCT_OK;
    }
    /* Every left-over node has a left-over predecessor; walking them must repeat a node, and
     * the walk from the first repeat back to itself is a cycle. */
    uint32_t start = 0;
    while (indeg[start] == 0)
        start++;
    uint32_t *seen = indeg; /* reuse: 0 = not on the walk, else 1 + step at which it was seen */
    for (uint32_t i = 0; i < n; i++)
        seen[i] = (a->pos[i] == UINT32_MAX) ? 0 : UINT32_MAX;
    uint32_t *walk = a->order; /* the topological order is useless now; reuse its storage */
    uint32_t len = 0, u = start;
    while (seen[u] == 0) {
        seen[u] = len + 1;
        walk[len++] = u;
        uint32_t next = UINT32_MAX;
        for (uint32_t k = a->poff[u]; k < a->poff[u + 1]; k++)
            if (seen[a->padj[k]] != UINT32_MAX && a->padj[k] < next)
                next = a->padj[k]; /* smallest left-over predecessor: deterministic */
        u = next;
    }
    /* The cycle is walk[first .. len) in predecessor order, so walk[len-1] -> ... -> walk[first]
     * -> walk[len-1] in edge direction. Print it from its smallest node, for stable messages. */
    uint32_t first = seen[u] - 1, clen = len - first, rot = 0;
    for (uint32_t j = 1; j < clen; j++)
        if (walk[len - 1 - j] < walk[len - 1 - rot])
            rot = j;
    char msg[512];
    size_t o = 0;
    uint32_t j = 0;
    for (; j < clen && o < sizeof(msg) - 80; j++) {
        uint32_t x = walk[len - 1 - (rot + j) % clen];
        int w = snprintf(msg + o, sizeof(msg) - o, "%u '%.40s' -> ", x, nm(LCT_NODE(g, x)));
        o += w > 0 ? (size_t)w : 0;
    }
    if (j < clen)
        o += (size_t)snprintf(msg + o, sizeof(msg) - o, "... -> ");
    snprintf(msg + o, sizeof(msg) - o, "%u", walk[len - 1 - rot]);
    free(indeg);
    return vf_fail(v, LCT_ERR_CYCLE, "the graph has a cycle: %s", msg);
}

typedef struct {
    uint64_t comm;
    uint32_t seq, node;
} coll_key_t;

static int coll_key_cmp(const void *pa, const void *pb)
{
    const coll_key_t *a = pa, *b = pb;
    if (a->comm != b->comm)
        return a->comm < b->comm ? -1 : 1;
    if (a->seq != b->seq)
        return a->seq < b->seq ? -1 : 1;
    return a->node < b->node ? -1 : a->node > b->node;
}

/* Is there a path from s to t? Forward search pruned to topological positions <= pos[t].
 * mark[] holds the stamp of the last search that visited a node. */
static bool vf_reaches(const vadj_t *a, uint32_t s, uint32_t t, uint32_t *mark, uint32_t stamp,
                       uint32_t *stack)
{
    uint32_t sp = 0, limit = a->pos[t];
    if (a->pos[s] >= limit)
        return false;
    stack[sp++] = s;
    mark[s] = stamp;
    while (sp) {
        uint32_t u = stack[--sp];
        for (uint32_t k = a->off[u]; k < a->off[u + 1]; k++) {
            uint32_t w = a->adj[k];
            if (w == t)
                return true;
            if (mark[w] != stamp && a->pos[w] < limit) {
                mark[w] = stamp;
                stack[sp++] = w;
            }
        }
    }
    return false;
}

static lct_status_t vf_collectives(vf_t *v, const lct_graph_t *g, const vadj_t *a)
{
    uint32_t n = LCT_NNODES(g), nc = 0;
    lct_status_t st = LCT_OK;
    for (uint32_t i = 0; i < n; i++)
        nc += LCT_NODE(g, i)->kind == LCT_NODE_COLLECTIVE;
    if (nc == 0)
        return LCT_OK;
    coll_key_t *keys = malloc(nc * sizeof(*keys));
    uint32_t *mark = calloc((size_t)n + 1, sizeof(uint32_t));
    uint32_t *stack = malloc(((size_t)n + 1) * sizeof(uint32_t));
    if (!keys || !mark || !stack) {
        st = LCT_ERR_NOMEM;
        goto out;
    }
    nc = 0;
    for (uint32_t i = 0; i < n; i++) {
        const lct_node_t *x = LCT_NODE(g, i);
        if (x->kind == LCT_NODE_COLLECTIVE)
            keys[nc++] = (coll_key_t){x->coll.comm, x->coll.seq, i};
    }
    qsort(keys, nc, sizeof(*keys), coll_key_cmp);
    uint32_t stamp = 0;
    for (uint32_t b = 0; b < nc;) {
        uint32_t e = b;
        while (e < nc && keys[e].comm == keys[b].comm)
            e++;
        for (uint32_t k = b; k < e; k++) {
            uint32_t want = k - b, node = keys[k].node;
            if (keys[k].seq != want) {
                if (keys[k].seq < want) /* sorted: a repeat of the previous number */
                    st = vf_fail(v, LCT_ERR_INVALID,
                                 "communicator 0x%" PRIx64 ": nodes %u '%s' and %u '%s' both have "
                                 "seq %u",
                                 keys[b].comm, keys[k - 1].node, nm(LCT_NODE(g, keys[k - 1].node)),
                                 node, nm(LCT_NODE(g, node)), keys[k].seq);
                else
                    st = vf_fail(v, LCT_ERR_INVALID,
                                 "communicator 0x%" PRIx64 ": seq %u is missing (the %u "
                                 "collectives must be numbered 0..%u; next is node %u '%s' with "
                                 "seq %u)",
                                 keys[b].comm, want, e - b, e - b - 1, node, nm(LCT_NODE(g, node)),
                                 keys[k].seq);
                goto out;
            }
            if (k == b)
                continue;
            uint32_t prev = keys[k - 1].node;
            if (!vf_reaches(a, prev, node, mark, ++stamp, stack)) {
                st = vf_fail(v, LCT_ERR_INVALID,
                             "communicator 0x%" PRIx64 ": collective seq %u (node %u '%s') is not "
                             "ordered after seq %u (node %u '%s') by any path",
                             keys[b].comm, want, node, nm(LCT_NODE(g, node)), want - 1, prev,
                             nm(LCT_NODE(g, prev)));
                goto out;
            }
        }
        b = e;
    }
out:
    free(keys);
    free(mark);
    free(stack);
    return st;
}

lct_status_t lct_ir_verify(const lct_graph_t *g, char *err, size_t errlen)
{
    vf_t v = {err, err ? errlen : 0};
    vadj_t a;
    lct_status_t st;
    uint32_t n = LCT_NNODES(g);
    if (v.errlen)
        err[0] = '\0';
    const lct_graph_meta_t *m = &g->meta;
    if (m->world_size < 1 || m->rank < 0 || m->rank >= m->world_size || m->gpus_per_node < 1)
        return vf_fail(&v, LCT_ERR_INVALID,
                       "meta: world_size %d, rank %d, gpus_per_node %d (need world_size >= 1, "
                       "0 <= rank < world_size, gpus_per_node >= 1)",
                       m->world_size, m->rank, m->gpus_per_node);
    if (g->nodes.len >= UINT32_MAX || g->edges.len >= UINT32_MAX)
        return vf_fail(&v, LCT_ERR_INVALID, "graph too large (%zu nodes, %zu edges)", g->nodes.len,
                       g->edges.len);
    for (uint32_t i = 0; i < n; i++)
        LCT_CHECK(vf_node(&v, g, i));
    for (size_t i = 0; i < g->edges.len; i++) {
        const lct_edge_t *e = &g->edges.data[i];
        if (e->src >= n || e->dst >= n)
            return vf_fail(&v, LCT_ERR_INVALID,
                           "edge %zu: %u -> %u names a missing node (%u nodes)", i, e->src, e->dst,
                           n);
        if (e->src == e->dst)
            return vf_fail(&v, LCT_ERR_INVALID, "edge %zu: self loop on node %u '%s'", i, e->src,
                           nm(LCT_NODE(g, e->src)));
        if ((unsigned)e->kind >= LCT_EDGE_KIND_COUNT)
            return vf_fail(&v, LCT_ERR_INVALID, "edge %zu: %u -> %u has kind %d out of range", i,
                           e->src, e->dst, (int)e->kind);
    }
    LCT_CHECK(vadj_build(g, &a));
    st = vf_acyclic(&v, g, &a);
    if (st == LCT_OK)
        st = vf_collectives(&v, g, &a);
    vadj_free(&a);
    return st;
}
