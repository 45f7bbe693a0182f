/* Graph execs: instantiate, update, per-node parameter changes, enable/disable, launch.
 *
 * Instantiation flattens child graphs into one DAG of exec nodes (a child graph's roots depend
 * on the child node's dependencies, its leaves precede the child node's dependents) and sorts
 * it topologically (Kahn's algorithm, ties by flattening order, so equal graphs give equal
 * orders). Each exec node keeps a copy of its node's work, its cost and footprint; the race
 * checker runs once per exec and again after every change of parameters or topology.
 *
 * A launch turns the exec into operations for the simulation: a begin marker ordered on the
 * stream (and after the exec's previous launch: an exec never runs concurrently with itself),
 * one operation per exec node with the graph's edges as dependencies, and an end marker that
 * becomes the stream's tail. Parameters are shared by reference, so changing them later does
 * not change launches already made. */
#include <stdlib.h>
#include <string.h>

#include "sd_internal.h"

int sd_exec_valid(CUgraphExec x)
{
    return x && x->magic == SD_MAGIC_EXEC;
}

uint32_t simdev_graph_exec_id(const void *exec)
{
    CUgraphExec x = (CUgraphExec)(uintptr_t)exec;
    return sd_exec_valid(x) ? x->id : 0;
}

/* ---- flattening ---- */

typedef struct {
    SD_VEC(CUgraphNode) node;         /* per flat node: its graph node */
    SD_VEC(uint32_t) from;            /* flat edges */
    SD_VEC(uint32_t) to;
} sd_flat_t;

typedef struct {
    SD_VEC(uint32_t) entry;
    SD_VEC(uint32_t) exit;
} sd_ends_t;

static void sd_flatten(CUgraph g, sd_flat_t *f, sd_ends_t *ends_of_graph)
{
    size_t n = g->nodes.n;
    sd_ends_t *ends = sd_xcalloc(n ? n : 1, sizeof(*ends));
    for (size_t i = 0; i < n; i++) {
        CUgraphNode node = g->nodes.v[i];
        node->seq = (uint32_t)i; /* position, for the edge pass below */
        if (node->w.type == CU_GRAPH_NODE_TYPE_GRAPH && node->w.child && node->w.child->nodes.n) {
            sd_flatten(node->w.child, f, &ends[i]);
        } else {
            uint32_t k = (uint32_t)f->node.n;
            SD_VEC_PUSH(&f->node, node);
            SD_VEC_PUSH(&ends[i].entry, k);
            SD_VEC_PUSH(&ends[i].exit, k);
        }
    }
    for (size_t i = 0; i < n; i++) {
        CUgraphNode node = g->nodes.v[i];
        for (size_t e = 0; e < node->out.n; e++) {
            uint32_t j = node->out.v[e].node->seq;
            for (size_t a = 0; a < ends[i].exit.n; a++)
                for (size_t b = 0; b < ends[j].entry.n; b++) {
                    SD_VEC_PUSH(&f->from, ends[i].exit.v[a]);
                    SD_VEC_PUSH(&f->to, ends[j].entry.v[b]);
                }
        }
    }
    /* The graph's own entries are its roots' entries, its exits its leaves' exits. */
    for (size_t i = 0; i < n; i++) {
        CUgraphNode node = g->nodes.v[i];
        if (!node->in.n)
            for (size_t a = 0; a < ends[i].entry.n; a++)
                SD_VEC_PUSH(&ends_of_graph->entry, ends[i].entry.v[a]);
        if (!node->out.n)
            for (size_t a = 0; a < ends[i].exit.n; a++)
                SD_VEC_PUSH(&ends_of_graph->exit, ends[i].exit.v[a]);
        SD_VEC_FREE(&ends[i].entry);
        SD_VEC_FREE(&ends[i].exit);
    }
    free(ends);
    /* Creation positions are restored (exec update pairs nodes by them). */
    for (size_t i = 0; i < n; i++)
        g->nodes.v[i]->seq = (uint32_t)i;
}

typedef SD_VEC(uint32_t) sd_u32heap_t;

static void sd_u32heap_push(sd_u32heap_t *h, uint32_t x)
{
    SD_VEC_PUSH(h, x);
    for (size_t i = h->n - 1; i > 0 && h->v[(i - 1) / 2] > h->v[i]; i = (i - 1) / 2) {
        uint32_t t = h->v[i];
        h->v[i] = h->v[(i - 1) / 2];
        h->v[(i - 1) / 2] = t;
    }
}

static uint32_t sd_u32heap_pop(sd_u32heap_t *h)
{
    uint32_t top = h->v[0];
    h->v[0] = h->v[--h->n];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && h->v[l] < h->v[m])
            m = l;
        if (r < h->n && h->v[r] < h->v[m])
            m = r;
        if (m == i)
            break;
        uint32_t t = h->v[i];
        h->v[i] = h->v[m];
        h->v[m] = t;
        i = m;
    }
    return top;
}

/* Builds the exec-node array of g in topological order. Returns CUDA_ERROR_INVALID_VALUE for a
 * cycle (the graph cannot be instantiated). */
static CUresult sd_build_nodes(CUgraph g, sd_xnode_t **out, size_t *nout)
{
    sd_flat_t f = {0};
    sd_ends_t top = {0};
    sd_flatten(g, &f, &top);
    SD_VEC_FREE(&top.entry);
    SD_VEC_FREE(&top.exit);
    size_t n = f.node.n;
    uint32_t *indeg = sd_xcalloc(n ? n : 1, sizeof(uint32_t));
    uint32_t *order = sd_xcalloc(n ? n : 1, sizeof(uint32_t));
    uint32_t *pos = sd_xcalloc(n ? n : 1, sizeof(uint32_t));
    SD_VEC(uint32_t) *succ = sd_xcalloc(n ? n : 1, sizeof(*succ));
    for (size_t e = 0; e < f.from.n; e++) {
        /* A child graph flattened twice over one edge may repeat an edge: keep one. */
        int dup = 0;
        for (size_t k = 0; k < succ[f.from.v[e]].n && !dup; k++)
            dup = succ[f.from.v[e]].v[k] == f.to.v[e];
        if (dup)
            continue;
        SD_VEC_PUSH(&succ[f.from.v[e]], f.to.v[e]);
        indeg[f.to.v[e]]++;
    }
    /* Kahn with a min-heap on flat index: deterministic. */
    sd_u32heap_t heap = {0};
    for (uint32_t i = 0; i < n; i++)
        if (!indeg[i])
            sd_u32heap_push(&heap, i);
    size_t k = 0;
    while (heap.n) {
        uint32_t u = sd_u32heap_pop(&heap);
        pos[u] = (uint32_t)k;
        order[k++] = u;
        for (size_t j = 0; j < succ[u].n; j++)
            if (--indeg[succ[u].v[j]] == 0)
                sd_u32heap_push(&heap, succ[u].v[j]);
    }
    SD_VEC_FREE(&heap);
    CUresult r = CUDA_SUCCESS;
    sd_xnode_t *x = NULL;
    if (k != n) {
        r = CUDA_ERROR_INVALID_VALUE;
    } else {
        x = sd_xcalloc(n ? n : 1, sizeof(*x));
        for (size_t i = 0; i < n; i++) {
            uint32_t u = order[i];
            CUgraphNode gn = f.node.v[u];
            sd_xnode_t *xn = &x[i];
            xn->type = gn->w.type;
            xn->orig = gn;
            xn->node_id = gn->id;
            xn->enabled = 1;
            sd_work_copy(&xn->w, &gn->w);
            for (size_t j = 0; j < succ[u].n; j++) {
                uint32_t v = pos[succ[u].v[j]];
                SD_VEC_PUSH(&xn->succ, v);
                SD_VEC_PUSH(&x[v].pred, (uint32_t)i);
                x[v].npred++;
            }
        }
        /* Successor lists sorted: deterministic launches and comparisons. */
        for (size_t i = 0; i < n; i++) {
            sd_xnode_t *xn = &x[i];
            for (size_t a = 1; a < xn->succ.n; a++)
                for (size_t b = a; b > 0 && xn->succ.v[b - 1] > xn->succ.v[b]; b--) {
                    uint32_t t = xn->succ.v[b];
                    xn->succ.v[b] = xn->succ.v[b - 1];
                    xn->succ.v[b - 1] = t;
                }
        }
    }
    for (size_t i = 0; i < n; i++)
        SD_VEC_FREE(&succ[i]);
    free(succ);
    free(indeg);
    free(order);
    free(pos);
    SD_VEC_FREE(&f.node);
    SD_VEC_FREE(&f.from);
    SD_VEC_FREE(&f.to);
    *out = x;
    *nout = n;
    return r;
}

static void sd_nodes_free(sd_xnode_t *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sd_work_clear(&x[i].w);
        sd_rset_free(&x[i].rs);
        SD_VEC_FREE(&x[i].succ);
        SD_VEC_FREE(&x[i].pred);
    }
    free(x);
}

/* Cost and footprint of one exec node. */
static CUresult sd_xnode_describe(CUgraphExec x, sd_xnode_t *xn)
{
    sd_rset_free(&xn->rs);
    int dev = x->ctx ? x->ctx->device : 0;
    CUresult r = sd_work_describe(&xn->w, dev, &xn->d, &xn->rs);
    if (r) {
        sd_log("graph node %llu (%s): its provider rejected the kernel's arguments",
               (unsigned long long)xn->node_id, sd_work_name(&xn->w));
        return r;
    }
    sd_rset_normalize(&xn->rs);
    return CUDA_SUCCESS;
}

static void sd_exec_footprint(CUgraphExec x)
{
    sd_rset_free(&x->footprint);
    for (size_t i = 0; i < x->n; i++)
        if (x->nodes[i].enabled) {
            for (size_t k = 0; k < x->nodes[i].rs.r.n; k++)
                SD_VEC_PUSH(&x->footprint.r, x->nodes[i].rs.r.v[k]);
            for (size_t k = 0; k < x->nodes[i].rs.w.n; k++)
                SD_VEC_PUSH(&x->footprint.w, x->nodes[i].rs.w.v[k]);
        }
    sd_rset_normalize(&x->footprint);
}

/* After any change: footprints, then the race check. */
static void sd_exec_changed(CUgraphExec x)
{
    sd_exec_footprint(x);
    sd_race_check_exec(x);
}

/* ---- instantiate / destroy ---- */

/* Live execs, for CUDA's rule that a graph with memory allocation or free nodes has at most one
 * exec at a time (graph ids are never reused, so an exec names its graph safely by id). */
static SD_VEC(CUgraphExec) sd_live_execs;

static int sd_graph_has_live_exec(uint32_t graph_id)
{
    for (size_t i = 0; i < sd_live_execs.n; i++)
        if (sd_live_execs.v[i]->graph_id == graph_id)
            return 1;
    return 0;
}

static void sd_live_exec_remove(CUgraphExec x)
{
    size_t k = 0;
    for (size_t i = 0; i < sd_live_execs.n; i++)
        if (sd_live_execs.v[i] != x)
            sd_live_execs.v[k++] = sd_live_execs.v[i];
    sd_live_execs.n = k;
}

static CUresult sd_instantiate(CUgraphExec *out, CUgraph g, unsigned long long flags)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!out || !sd_graph_valid(g) || g->capturing)
        return CUDA_ERROR_INVALID_VALUE;
    const unsigned long long known = CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH |
                                     CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD | CUDA_GRAPH_INSTANTIATE_FLAG_DEVICE_LAUNCH |
                                     CUDA_GRAPH_INSTANTIATE_FLAG_USE_NODE_PRIORITY;
    if ((flags & ~known) || ((flags & CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH) &&
                             (flags & CUDA_GRAPH_INSTANTIATE_FLAG_DEVICE_LAUNCH))) {
        sd_log("cannot instantiate graph %u: instantiate flags 0x%llx are unknown or exclude each other",
               g->id, flags);
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (sd_graph_has_mem_nodes(g) && sd_graph_has_live_exec(g->id)) {
        sd_log("cannot instantiate graph %u again: it has memory allocation or free nodes, and CUDA allows "
               "one exec of such a graph at a time (destroy the other first)", g->id);
        return CUDA_ERROR_INVALID_VALUE;
    }
    sd_xnode_t *nodes;
    size_t n;
    r = sd_build_nodes(g, &nodes, &n);
    if (r) {
        sd_log("cannot instantiate graph %u: it has a cycle", g->id);
        return r;
    }
    struct CUgraphExec_st *x = sd_xcalloc(1, sizeof(*x));
    x->magic = SD_MAGIC_EXEC;
    x->id = ++sd.next_exec_id;
    x->graph_id = g->id;
    x->flags = flags;
    x->n = n;
    x->nodes = nodes;
    x->src = g;
    sd_current_ctx(&x->ctx);
    for (size_t i = 0; i < n; i++) {
        if (!r)
            r = sd_xnode_describe(x, &nodes[i]);
        if (nodes[i].type == CU_GRAPH_NODE_TYPE_MEM_ALLOC)
            sd_mem_graph_ref(nodes[i].w.dptr, +1);
    }
    if (r) {
        for (size_t i = 0; i < n; i++)
            if (nodes[i].type == CU_GRAPH_NODE_TYPE_MEM_ALLOC)
                sd_mem_graph_ref(nodes[i].w.dptr, -1);
        sd_nodes_free(nodes, n);
        free(x);
        return r;
    }
    SD_VEC_PUSH(&sd_live_execs, x);
    sd_notify(SIMDEV_EV_EXEC_CREATED, g, NULL, NULL, NULL, x);
    sd_exec_changed(x);
    *out = x;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphInstantiateWithFlags(CUgraphExec *phGraphExec, CUgraph hGraph, unsigned long long flags)
{
    SD_API(cuGraphInstantiateWithFlags, sd_instantiate(phGraphExec, hGraph, flags));
}

static CUresult sd_instantiate_legacy(CUgraphExec *out, CUgraph g, CUgraphNode *err, char *log, size_t logsz)
{
    CUresult r = sd_instantiate(out, g, 0);
    if (err)
        *err = NULL;
    if (log && logsz)
        snprintf(log, logsz, "%s", r ? "graph cannot be instantiated (cycle or invalid kernel arguments)" : "");
    return r;
}

CUresult CUDAAPI cuGraphInstantiate(CUgraphExec *phGraphExec, CUgraph hGraph, CUgraphNode *phErrorNode,
                                    char *logBuffer, size_t bufferSize)
{
    SD_API(cuGraphInstantiate, sd_instantiate_legacy(phGraphExec, hGraph, phErrorNode, logBuffer, bufferSize));
}

CUresult CUDAAPI cuGraphInstantiate_v2(CUgraphExec *phGraphExec, CUgraph hGraph, CUgraphNode *phErrorNode,
                                       char *logBuffer, size_t bufferSize)
{
    SD_API(cuGraphInstantiate_v2, sd_instantiate_legacy(phGraphExec, hGraph, phErrorNode, logBuffer, bufferSize));
}

static CUresult sd_instantiate_params(CUgraphExec *out, CUgraph g, CUDA_GRAPH_INSTANTIATE_PARAMS *p)
{
    if (!p)
        return sd_check_init() ? sd_check_init() : CUDA_ERROR_INVALID_VALUE;
    CUresult r = sd_instantiate(out, g, p->flags);
    p->hErrNode_out = NULL;
    p->result_out = r == CUDA_SUCCESS ? CUDA_GRAPH_INSTANTIATE_SUCCESS
                    : r == CUDA_ERROR_INVALID_VALUE ? CUDA_GRAPH_INSTANTIATE_INVALID_STRUCTURE
                                                    : CUDA_GRAPH_INSTANTIATE_ERROR;
    return r;
}

CUresult CUDAAPI cuGraphInstantiateWithParams(CUgraphExec *phGraphExec, CUgraph hGraph,
                                              CUDA_GRAPH_INSTANTIATE_PARAMS *instantiateParams)
{
    SD_API(cuGraphInstantiateWithParams, sd_instantiate_params(phGraphExec, hGraph, instantiateParams));
}

CUresult CUDAAPI cuGraphInstantiateWithParams_ptsz(CUgraphExec *phGraphExec, CUgraph hGraph,
                                                   CUDA_GRAPH_INSTANTIATE_PARAMS *instantiateParams)
{
    SD_API(cuGraphInstantiateWithParams_ptsz, sd_instantiate_params(phGraphExec, hGraph, instantiateParams));
}

static CUresult sd_exec_destroy(CUgraphExec x)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!sd_exec_valid(x))
        return CUDA_ERROR_INVALID_VALUE;
    sd_notify(SIMDEV_EV_EXEC_DESTROY, NULL, NULL, NULL, NULL, x);
    sd_live_exec_remove(x);
    sd_race_exec_gone(x);
    for (size_t i = 0; i < x->n; i++)
        if (x->nodes[i].type == CU_GRAPH_NODE_TYPE_MEM_ALLOC)
            sd_mem_graph_ref(x->nodes[i].w.dptr, -1);
    sd_nodes_free(x->nodes, x->n);
    sd_rset_free(&x->footprint);
    sd_op_unref(x->last_launch);
    sd_vc_free(&x->last_vc);
    x->magic = SD_MAGIC_DEAD;
    free(x);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphExecDestroy(CUgraphExec hGraphExec)
{
    SD_API(cuGraphExecDestroy, sd_exec_destroy(hGraphExec));
}

static CUresult sd_exec_flags(CUgraphExec x, cuuint64_t *flags)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!sd_exec_valid(x) || !flags)
        return CUDA_ERROR_INVALID_VALUE;
    *flags = x->flags;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphExecGetFlags(CUgraphExec hGraphExec, cuuint64_t *flags)
{
    SD_API(cuGraphExecGetFlags, sd_exec_flags(hGraphExec, flags));
}

/* ---- per-node changes ---- */

static sd_xnode_t *sd_exec_find(CUgraphExec x, CUgraphNode n)
{
    for (size_t i = 0; i < x->n; i++)
        if (x->nodes[i].orig == n || (x->nodes[i].alt && x->nodes[i].alt == n))
            return &x->nodes[i];
    return NULL;
}

static CUresult sd_exec_node(CUgraphExec x, CUgraphNode n, CUgraphNodeType type, sd_xnode_t **out)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!sd_exec_valid(x) || !sd_node_valid(n))
        return CUDA_ERROR_INVALID_VALUE;
    sd_xnode_t *xn = sd_exec_find(x, n);
    if (!xn || (type != (CUgraphNodeType)-1 && xn->type != type))
        return CUDA_ERROR_INVALID_VALUE;
    *out = xn;
    return CUDA_SUCCESS;
}

static CUresult sd_exec_kernel_set(CUgraphExec x, CUgraphNode n, const CUDA_KERNEL_NODE_PARAMS *p, int v1)
{
    sd_xnode_t *xn;
    CUresult r = sd_exec_node(x, n, CU_GRAPH_NODE_TYPE_KERNEL, &xn);
    if (r)
        return r;
    sd_work_t w;
    sd_work_copy(&w, &xn->w);
    r = sd_kernel_set_work(&w, p, v1);
    if (!r) {
        sd_work_t old = xn->w;
        xn->w = w;
        r = sd_xnode_describe(x, xn);
        if (r) {
            xn->w = old;
            sd_work_clear(&w);
            sd_xnode_describe(x, xn);
            return r;
        }
        sd_work_clear(&old);
        sd_exec_changed(x);
    } else {
        sd_work_clear(&w);
    }
    return r;
}

CUresult CUDAAPI cuGraphExecKernelNodeSetParams_v2(CUgraphExec hGraphExec, CUgraphNode hNode,
                                                   const CUDA_KERNEL_NODE_PARAMS *nodeParams)
{
    SD_API(cuGraphExecKernelNodeSetParams_v2, sd_exec_kernel_set(hGraphExec, hNode, nodeParams, 0));
}

CUresult CUDAAPI cuGraphExecKernelNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                                const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams)
{
    CUDA_KERNEL_NODE_PARAMS p;
    memset(&p, 0, sizeof(p));
    if (nodeParams)
        memcpy(&p, nodeParams, sizeof(*nodeParams));
    SD_API(cuGraphExecKernelNodeSetParams, sd_exec_kernel_set(hGraphExec, hNode, nodeParams ? &p : NULL, 1));
}

static CUresult sd_exec_memcpy_set(CUgraphExec x, CUgraphNode n, const CUDA_MEMCPY3D *p)
{
    sd_xnode_t *xn;
    CUresult r = sd_exec_node(x, n, CU_GRAPH_NODE_TYPE_MEMCPY, &xn);
    if (r)
        return r;
    if (!p)
        return CUDA_ERROR_INVALID_VALUE;
    sd_copy_t c;
    r = sd_copy_from_3d(&c, p);
    if (r)
        return r;
    xn->w.copy = c;
    sd_xnode_describe(x, xn);
    sd_exec_changed(x);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphExecMemcpyNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                                const CUDA_MEMCPY3D *copyParams, CUcontext ctx)
{
    (void)ctx;
    SD_API(cuGraphExecMemcpyNodeSetParams, sd_exec_memcpy_set(hGraphExec, hNode, copyParams));
}

static CUresult sd_exec_memset_set(CUgraphExec x, CUgraphNode n, const CUDA_MEMSET_NODE_PARAMS *p)
{
    sd_xnode_t *xn;
    CUresult r = sd_exec_node(x, n, CU_GRAPH_NODE_TYPE_MEMSET, &xn);
    if (r)
        return r;
    if (!p)
        return CUDA_ERROR_INVALID_VALUE;
    sd_memset_t m;
    r = sd_memset_make(&m, p->dst, p->pitch, p->value, p->elementSize, p->width, p->height);
    if (r)
        return r;
    xn->w.set = m;
    sd_xnode_describe(x, xn);
    sd_exec_changed(x);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphExecMemsetNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                                const CUDA_MEMSET_NODE_PARAMS *memsetParams, CUcontext ctx)
{
    (void)ctx;
    SD_API(cuGraphExecMemsetNodeSetParams, sd_exec_memset_set(hGraphExec, hNode, memsetParams));
}

static CUresult sd_exec_host_set(CUgraphExec x, CUgraphNode n, const CUDA_HOST_NODE_PARAMS *p)
{
    sd_xnode_t *xn;
    CUresult r = sd_exec_node(x, n, CU_GRAPH_NODE_TYPE_HOST, &xn);
    if (r)
        return r;
    if (!p || !p->fn)
        return CUDA_ERROR_INVALID_VALUE;
    xn->w.fn = p->fn;
    xn->w.user = p->userData;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphExecHostNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                              const CUDA_HOST_NODE_PARAMS *nodeParams)
{
    SD_API(cuGraphExecHostNodeSetParams, sd_exec_host_set(hGraphExec, hNode, nodeParams));
}

static CUresult sd_exec_event_set(CUgraphExec x, CUgraphNode n, CUgraphNodeType type, CUevent e)
{
    sd_xnode_t *xn;
    CUresult r = sd_exec_node(x, n, type, &xn);
    if (r)
        return r;
    if (!sd_event_valid(e))
        return CUDA_ERROR_INVALID_VALUE;
    xn->w.event = e;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphExecEventRecordNodeSetEvent(CUgraphExec hGraphExec, CUgraphNode hNode, CUevent event)
{
    SD_API(cuGraphExecEventRecordNodeSetEvent,
           sd_exec_event_set(hGraphExec, hNode, CU_GRAPH_NODE_TYPE_EVENT_RECORD, event));
}

CUresult CUDAAPI cuGraphExecEventWaitNodeSetEvent(CUgraphExec hGraphExec, CUgraphNode hNode, CUevent event)
{
    SD_API(cuGraphExecEventWaitNodeSetEvent,
           sd_exec_event_set(hGraphExec, hNode, CU_GRAPH_NODE_TYPE_WAIT_EVENT, event));
}

static CUresult sd_exec_node_set(CUgraphExec x, CUgraphNode n, CUgraphNodeParams *p)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!p)
        return CUDA_ERROR_INVALID_VALUE;
    switch (p->type) {
    case CU_GRAPH_NODE_TYPE_KERNEL: {
        CUDA_KERNEL_NODE_PARAMS k;
        memcpy(&k, &p->kernel, sizeof(k));
        return sd_exec_kernel_set(x, n, &k, 0);
    }
    case CU_GRAPH_NODE_TYPE_MEMCPY: return sd_exec_memcpy_set(x, n, &p->memcpy.copyParams);
    case CU_GRAPH_NODE_TYPE_MEMSET: {
        CUDA_MEMSET_NODE_PARAMS m = {p->memset.dst, p->memset.pitch, p->memset.value, p->memset.elementSize,
                                     p->memset.width, p->memset.height};
        return sd_exec_memset_set(x, n, &m);
    }
    case CU_GRAPH_NODE_TYPE_HOST: {
        CUDA_HOST_NODE_PARAMS h = {p->host.fn, p->host.userData};
        return sd_exec_host_set(x, n, &h);
    }
    case CU_GRAPH_NODE_TYPE_EVENT_RECORD: return sd_exec_event_set(x, n, p->type, p->eventRecord.event);
    case CU_GRAPH_NODE_TYPE_WAIT_EVENT: return sd_exec_event_set(x, n, p->type, p->eventWait.event);
    default: return CUDA_ERROR_INVALID_VALUE;
    }
}

CUresult CUDAAPI cuGraphExecNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode, CUgraphNodeParams *nodeParams)
{
    SD_API(cuGraphExecNodeSetParams, sd_exec_node_set(hGraphExec, hNode, nodeParams));
}

static CUresult sd_node_enabled(CUgraphExec x, CUgraphNode n, unsigned *get, unsigned set)
{
    sd_xnode_t *xn;
    CUresult r = sd_exec_node(x, n, (CUgraphNodeType)-1, &xn);
    if (r)
        return r;
    if (get) {
        *get = (unsigned)xn->enabled;
        return CUDA_SUCCESS;
    }
    if (xn->type != CU_GRAPH_NODE_TYPE_KERNEL && xn->type != CU_GRAPH_NODE_TYPE_MEMCPY &&
        xn->type != CU_GRAPH_NODE_TYPE_MEMSET)
        return CUDA_ERROR_INVALID_VALUE;
    if (xn->enabled != (set != 0)) {
        xn->enabled = set != 0;
        sd_exec_changed(x);
    }
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphNodeSetEnabled(CUgraphExec hGraphExec, CUgraphNode hNode, unsigned int isEnabled)
{
    SD_API(cuGraphNodeSetEnabled, sd_node_enabled(hGraphExec, hNode, NULL, isEnabled));
}

CUresult CUDAAPI cuGraphNodeGetEnabled(CUgraphExec hGraphExec, CUgraphNode hNode, unsigned int *isEnabled)
{
    SD_API(cuGraphNodeGetEnabled,
           isEnabled ? sd_node_enabled(hGraphExec, hNode, isEnabled, 0) : CUDA_ERROR_INVALID_VALUE);
}

/* ---- exec update ---- */

static CUresult sd_exec_update(CUgraphExec x, CUgraph g, CUgraphExecUpdateResultInfo *info)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    CUgraphExecUpdateResultInfo res = {CU_GRAPH_EXEC_UPDATE_SUCCESS, NULL, NULL};
    if (!sd_exec_valid(x) || !sd_graph_valid(g) || g->capturing) {
        if (info) {
            res.result = CU_GRAPH_EXEC_UPDATE_ERROR;
            *info = res;
        }
        return CUDA_ERROR_INVALID_VALUE;
    }
    sd_xnode_t *nn;
    size_t n;
    r = sd_build_nodes(g, &nn, &n);
    if (r) {
        res.result = CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED;
        goto fail;
    }
    if (n != x->n) {
        res.result = CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED;
        goto fail_nodes;
    }
    for (size_t i = 0; i < n; i++) {
        sd_xnode_t *a = &x->nodes[i], *b = &nn[i];
        if (a->type != b->type) {
            res.result = CU_GRAPH_EXEC_UPDATE_ERROR_NODE_TYPE_CHANGED;
            res.errorNode = b->orig;
            goto fail_nodes;
        }
        int same = a->pred.n == b->pred.n;
        for (size_t k = 0; same && k < a->pred.n; k++)
            same = a->pred.v[k] == b->pred.v[k];
        if (!same) {
            res.result = CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED;
            res.errorNode = b->orig;
            goto fail_nodes;
        }
        if ((a->type == CU_GRAPH_NODE_TYPE_MEM_ALLOC || a->type == CU_GRAPH_NODE_TYPE_MEM_FREE) &&
            (a->w.dptr != b->w.dptr || a->w.bytes != b->w.bytes)) {
            res.result = CU_GRAPH_EXEC_UPDATE_ERROR_NOT_SUPPORTED;
            res.errorNode = b->orig;
            goto fail_nodes;
        }
        /* cuda.h: a memcpy node's source and destination memory types cannot change; a 2D
         * memset may change only its address and value. */
        if ((a->type == CU_GRAPH_NODE_TYPE_MEMCPY &&
             (a->w.copy.p.srcMemoryType != b->w.copy.p.srcMemoryType ||
              a->w.copy.p.dstMemoryType != b->w.copy.p.dstMemoryType)) ||
            (a->type == CU_GRAPH_NODE_TYPE_MEMSET && (a->w.set.height > 1 || b->w.set.height > 1) &&
             (a->w.set.width != b->w.set.width || a->w.set.height != b->w.set.height ||
              a->w.set.elem != b->w.set.elem || a->w.set.pitch != b->w.set.pitch))) {
            res.result = CU_GRAPH_EXEC_UPDATE_ERROR_PARAMETERS_CHANGED;
            res.errorNode = b->orig;
            goto fail_nodes;
        }
        if (a->type == CU_GRAPH_NODE_TYPE_KERNEL && b->w.kp->func->k->describe == NULL) {
            res.result = CU_GRAPH_EXEC_UPDATE_ERROR_UNSUPPORTED_FUNCTION_CHANGE;
            res.errorNode = b->orig;
            goto fail_nodes;
        }
    }
    /* Validate the new parameters before changing anything. */
    for (size_t i = 0; i < n; i++) {
        r = sd_xnode_describe(x, &nn[i]);
        if (r) {
            res.result = CU_GRAPH_EXEC_UPDATE_ERROR_PARAMETERS_CHANGED;
            res.errorNode = nn[i].orig;
            goto fail_nodes;
        }
    }
    for (size_t i = 0; i < n; i++) {
        sd_xnode_t *a = &x->nodes[i];
        sd_work_clear(&a->w);
        a->w = nn[i].w;
        memset(&nn[i].w, 0, sizeof(nn[i].w));
        sd_rset_free(&a->rs);
        a->rs = nn[i].rs;
        memset(&nn[i].rs, 0, sizeof(nn[i].rs));
        a->d = nn[i].d;
        a->alt = nn[i].orig;
    }
    sd_nodes_free(nn, n);
    sd_exec_changed(x);
    if (info)
        *info = res;
    return CUDA_SUCCESS;
fail_nodes:
    sd_nodes_free(nn, n);
fail:
    if (info)
        *info = res;
    return CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE;
}

CUresult CUDAAPI cuGraphExecUpdate_v2(CUgraphExec hGraphExec, CUgraph hGraph, CUgraphExecUpdateResultInfo *resultInfo)
{
    SD_API(cuGraphExecUpdate_v2, sd_exec_update(hGraphExec, hGraph, resultInfo));
}

static CUresult sd_exec_update_v1(CUgraphExec x, CUgraph g, CUgraphNode *err, CUgraphExecUpdateResult *result)
{
    CUgraphExecUpdateResultInfo info;
    CUresult r = sd_exec_update(x, g, &info);
    if (err)
        *err = info.errorNode;
    if (result)
        *result = info.result;
    return r;
}

CUresult CUDAAPI cuGraphExecUpdate(CUgraphExec hGraphExec, CUgraph hGraph, CUgraphNode *hErrorNode_out,
                                   CUgraphExecUpdateResult *updateResult_out)
{
    SD_API(cuGraphExecUpdate, sd_exec_update_v1(hGraphExec, hGraph, hErrorNode_out, updateResult_out));
}

/* ---- launch ---- */

/* A graph mirroring the exec (for capturing a launch as a child graph node). */
static CUgraph sd_graph_of_exec(CUgraphExec x)
{
    CUgraph g = sd_graph_new(1);
    CUgraphNode *made = sd_xcalloc(x->n ? x->n : 1, sizeof(*made));
    for (size_t i = 0; i < x->n; i++) {
        const sd_xnode_t *xn = &x->nodes[i];
        sd_work_t w;
        sd_work_copy(&w, &xn->w);
        if (!xn->enabled) {
            sd_work_clear(&w);
            memset(&w, 0, sizeof(w));
            w.type = CU_GRAPH_NODE_TYPE_EMPTY;
        }
        CUgraphNode *deps = sd_xcalloc(xn->pred.n ? xn->pred.n : 1, sizeof(*deps));
        for (size_t k = 0; k < xn->pred.n; k++)
            deps[k] = made[xn->pred.v[k]];
        sd_graph_add(g, &w, deps, NULL, xn->pred.n, &made[i]);
        free(deps);
        sd_work_clear(&w);
    }
    free(made);
    return g;
}

static CUresult sd_graph_launch(CUgraphExec x, CUstream h, int pt)
{
    CUstream s;
    CUresult r = sd_stream_resolve(h, pt, &s);
    if (r)
        return r;
    if (!sd_exec_valid(x))
        return CUDA_ERROR_INVALID_VALUE;
    if (s->cap) {
        if (s->cap->invalidated)
            return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
        sd_work_t w;
        memset(&w, 0, sizeof(w));
        w.type = CU_GRAPH_NODE_TYPE_GRAPH;
        w.child = sd_graph_of_exec(x);
        r = sd_capture_add(s, &w);
        sd_graph_free(w.child);
        return r;
    }
    if (s->kind == SD_STREAM_LEGACY && (r = sd_capture_check_legacy(s->ctx)))
        return r;
    double extra = sd.dev.host_graph_launch_us - sd.dev.host_api_us;
    if (extra > 0)
        sd.host_now += extra;
    int dev = s->ctx->device;
    sd_op_t *begin = sd_op_new(SD_OP_MARK, dev);
    begin->name = "graph launch";
    begin->stream_id = s->id;
    begin->ctx = s->ctx;
    sd_vc_t vc = {0};
    sd_stream_order(s, begin, &vc);
    sd_op_after(begin, x->last_launch);
    sd_vc_join(&vc, &x->last_vc);
    sd_op_t *end = sd_op_new(SD_OP_MARK, dev);
    end->name = "graph end";
    end->stream_id = s->id;
    end->ctx = s->ctx;
    sd_op_t **ops = sd_xcalloc(x->n ? x->n : 1, sizeof(*ops));
    for (size_t i = 0; i < x->n; i++) {
        const sd_xnode_t *xn = &x->nodes[i];
        sd_op_t *op;
        if (xn->enabled) {
            op = sd_op_from_work(&xn->w, &xn->d, dev, 1);
        } else {
            op = sd_op_new(SD_OP_MARK, dev);
            op->name = "disabled node";
        }
        op->stream_id = s->id;
        op->ctx = s->ctx;
        op->graph_id = x->graph_id;
        op->exec_id = x->id;
        op->node_id = xn->node_id;
        ops[i] = op;
        if (!xn->pred.n)
            sd_op_after(op, begin);
        for (size_t k = 0; k < xn->pred.n; k++)
            sd_op_after(op, ops[xn->pred.v[k]]);
        if (xn->type == CU_GRAPH_NODE_TYPE_WAIT_EVENT && sd_event_valid(xn->w.event))
            sd_op_after(op, xn->w.event->op);
        if (!xn->succ.n)
            sd_op_after(end, op);
    }
    if (!x->n)
        sd_op_after(end, begin);
    /* Events recorded by the graph: later waits wait for the record node (see the race
     * checker's documented approximation: such an event orders after the whole launch). */
    sd_rset_t fp = {0};
    sd_rset_union(&fp, &x->footprint);
    sd_stream_commit(s, end, &vc, &fp, "graph launch", x);
    for (size_t i = 0; i < x->n; i++)
        if (x->nodes[i].type == CU_GRAPH_NODE_TYPE_EVENT_RECORD && sd_event_valid(x->nodes[i].w.event))
            sd_event_set_op(x->nodes[i].w.event, ops[i], &s->vc);
    sd_op_ref(end);
    sd_op_unref(x->last_launch);
    x->last_launch = end;
    sd_vc_copy(&x->last_vc, &s->vc);
    sd_op_submit(begin);
    for (size_t i = 0; i < x->n; i++)
        sd_op_submit(ops[i]);
    sd_op_submit(end);
    free(ops);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream)
{
    SD_API(cuGraphLaunch, sd_graph_launch(hGraphExec, hStream, 0));
}

CUresult CUDAAPI cuGraphLaunch_ptsz(CUgraphExec hGraphExec, CUstream hStream)
{
    SD_API(cuGraphLaunch_ptsz, sd_graph_launch(hGraphExec, hStream, 1));
}

static CUresult sd_graph_upload(CUgraphExec x, CUstream h, int pt)
{
    CUstream s;
    CUresult r = sd_stream_resolve(h, pt, &s);
    if (r)
        return r;
    return sd_exec_valid(x) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult CUDAAPI cuGraphUpload(CUgraphExec hGraphExec, CUstream hStream)
{
    SD_API(cuGraphUpload, sd_graph_upload(hGraphExec, hStream, 0));
}

CUresult CUDAAPI cuGraphUpload_ptsz(CUgraphExec hGraphExec, CUstream hStream)
{
    SD_API(cuGraphUpload_ptsz, sd_graph_upload(hGraphExec, hStream, 1));
}
