/* CUDA graphs of the simulated driver: creation, nodes of every supported type, edges with edge
 * data, queries, clone and destruction.
 *
 * A graph keeps its nodes in creation order (cuGraphGetNodes, cuGraphGetEdges and exec update
 * pairing all follow it, so results are deterministic). Each node holds a work item (what it
 * does) and its in/out edge lists. Kernel parameters are copied when a node is created or its
 * parameters are set, as CUDA does; the copy is shared by reference with execs instantiated
 * from the graph, so a node's parameters are replaced copy-on-write. */
#include <stdlib.h>
#include <string.h>

#include "sd_internal.h"

int sd_graph_valid(CUgraph g)
{
    return g && g->magic == SD_MAGIC_GRAPH;
}

int sd_node_valid(CUgraphNode n)
{
    return n && n->magic == SD_MAGIC_NODE;
}

/* CUDA restricts graphs holding memory allocation or free nodes, directly or in a child graph:
 * their nodes and edges cannot be removed, they cannot be cloned, used as a child graph unless
 * moved there, or instantiated twice at a time (cuda.h, cuGraphAddMemAllocNode). */
int sd_graph_has_mem_nodes(CUgraph g)
{
    for (size_t i = 0; i < g->nodes.n; i++) {
        const sd_work_t *w = &g->nodes.v[i]->w;
        if (w->type == CU_GRAPH_NODE_TYPE_MEM_ALLOC || w->type == CU_GRAPH_NODE_TYPE_MEM_FREE)
            return 1;
        if (w->type == CU_GRAPH_NODE_TYPE_GRAPH && w->child && sd_graph_has_mem_nodes(w->child))
            return 1;
    }
    return 0;
}

uint32_t simdev_graph_id(const void *graph)
{
    CUgraph g = (CUgraph)(uintptr_t)graph;
    return sd_graph_valid(g) ? g->id : 0;
}

uint64_t simdev_graph_node_id(const void *node)
{
    CUgraphNode n = (CUgraphNode)(uintptr_t)node;
    return sd_node_valid(n) ? n->id : 0;
}

CUgraph sd_graph_new(int quiet)
{
    struct CUgraph_st *g = sd_xcalloc(1, sizeof(*g));
    g->magic = SD_MAGIC_GRAPH;
    g->id = ++sd.next_graph_id;
    g->quiet = quiet;
    if (!quiet)
        sd_notify(SIMDEV_EV_GRAPH_CREATED, g, NULL, NULL, NULL, NULL);
    return g;
}

static void sd_node_free(CUgraphNode n)
{
    if (!n->graph->quiet)
        sd_notify(SIMDEV_EV_NODE_DESTROY, n->graph, NULL, n, NULL, NULL);
    if (n->w.type == CU_GRAPH_NODE_TYPE_MEM_ALLOC)
        sd_mem_graph_ref(n->w.dptr, -1);
    if (n->w.child)
        sd_graph_free(n->w.child);
    sd_work_clear(&n->w);
    SD_VEC_FREE(&n->in);
    SD_VEC_FREE(&n->out);
    n->magic = SD_MAGIC_DEAD;
    free(n);
}

void sd_graph_free(CUgraph g)
{
    if (!g->quiet)
        sd_notify(SIMDEV_EV_GRAPH_DESTROY, g, NULL, NULL, NULL, NULL);
    for (size_t i = 0; i < g->nodes.n; i++)
        sd_node_free(g->nodes.v[i]);
    SD_VEC_FREE(&g->nodes);
    g->magic = SD_MAGIC_DEAD;
    free(g);
}

static int sd_has_edge(CUgraphNode from, CUgraphNode to)
{
    for (size_t i = 0; i < from->out.n; i++)
        if (from->out.v[i].node == to)
            return 1;
    return 0;
}

static int sd_has_edge_data(CUgraphNode from, CUgraphNode to, const CUgraphEdgeData *d)
{
    static const CUgraphEdgeData zero;
    for (size_t i = 0; i < from->out.n; i++)
        if (from->out.v[i].node == to && memcmp(&from->out.v[i].data, d ? d : &zero, sizeof(zero)) == 0)
            return 1;
    return 0;
}

static void sd_edge_add(CUgraphNode from, CUgraphNode to, const CUgraphEdgeData *d)
{
    static const CUgraphEdgeData zero;
    sd_edge_t o = {to, d ? *d : zero}, i = {from, d ? *d : zero};
    SD_VEC_PUSH(&from->out, o);
    SD_VEC_PUSH(&to->in, i);
}

static void sd_edge_list_remove(sd_edgevec_t *l, CUgraphNode n)
{
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].node != n)
            l->v[k++] = l->v[i];
    l->n = k;
}

static CUresult sd_check_deps(CUgraph g, const CUgraphNode *deps, size_t n)
{
    if (n && !deps)
        return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; i < n; i++) {
        if (!sd_node_valid(deps[i]) || deps[i]->graph != g)
            return CUDA_ERROR_INVALID_VALUE;
        for (size_t j = 0; j < i; j++)
            if (deps[j] == deps[i])
                return CUDA_ERROR_INVALID_VALUE;
    }
    return CUDA_SUCCESS;
}

static struct CUgraphNode_st *sd_node_new(CUgraph g, const sd_work_t *w)
{
    struct CUgraphNode_st *n = sd_xcalloc(1, sizeof(*n));
    n->magic = SD_MAGIC_NODE;
    n->id = ++sd.next_node_id;
    n->seq = g->next_seq++;
    n->graph = g;
    sd_work_copy(&n->w, w);
    if (w->type == CU_GRAPH_NODE_TYPE_MEM_ALLOC)
        sd_mem_graph_ref(w->dptr, +1);
    SD_VEC_PUSH(&g->nodes, n);
    return n;
}

CUresult sd_graph_add(CUgraph g, const sd_work_t *w, const CUgraphNode *deps, const CUgraphEdgeData *edata,
                      size_t ndeps, CUgraphNode *out)
{
    CUresult r = sd_check_deps(g, deps, ndeps);
    if (r)
        return r;
    CUgraph child = NULL;
    if (w->type == CU_GRAPH_NODE_TYPE_GRAPH) {
        r = sd_graph_clone(w->child, g->quiet, &child);
        if (r)
            return r;
    }
    struct CUgraphNode_st *n = sd_node_new(g, w);
    n->w.child = child;
    if (child)
        child->parent = n;
    for (size_t i = 0; i < ndeps; i++)
        sd_edge_add(deps[i], n, edata ? &edata[i] : NULL);
    if (!g->quiet)
        sd_notify(SIMDEV_EV_NODE_CREATED, g, NULL, n, NULL, NULL);
    *out = n;
    return CUDA_SUCCESS;
}

CUresult sd_graph_clone(CUgraph src, int quiet, CUgraph *out)
{
    CUgraph g = sd_graph_new(1);
    g->quiet = quiet;
    for (size_t i = 0; i < src->nodes.n; i++) {
        CUgraphNode o = src->nodes.v[i];
        struct CUgraphNode_st *n = sd_node_new(g, &o->w);
        n->clone_of = o;
        if (o->w.child) {
            CUgraph c;
            sd_graph_clone(o->w.child, quiet, &c);
            n->w.child = c;
            c->parent = n;
        }
    }
    /* Same edges, by position in creation order. */
    for (size_t i = 0; i < src->nodes.n; i++) {
        CUgraphNode o = src->nodes.v[i];
        for (size_t k = 0; k < o->out.n; k++) {
            CUgraphNode to = o->out.v[k].node;
            size_t j = 0;
            while (src->nodes.v[j] != to)
                j++;
            sd_edge_add(g->nodes.v[i], g->nodes.v[j], &o->out.v[k].data);
        }
    }
    if (!quiet) {
        sd_notify(SIMDEV_EV_GRAPH_CLONED, g, src, NULL, NULL, NULL);
        for (size_t i = 0; i < g->nodes.n; i++)
            sd_notify(SIMDEV_EV_NODE_CLONED, g, src, g->nodes.v[i], src->nodes.v[i], NULL);
    }
    *out = g;
    return CUDA_SUCCESS;
}

/* ---- graphs ---- */

static CUresult sd_graph_create(CUgraph *ph, unsigned flags)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!ph || flags)
        return CUDA_ERROR_INVALID_VALUE;
    *ph = sd_graph_new(0);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphCreate(CUgraph *phGraph, unsigned int flags)
{
    SD_API(cuGraphCreate, sd_graph_create(phGraph, flags));
}

static CUresult sd_graph_destroy(CUgraph g)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!sd_graph_valid(g) || g->parent)
        return CUDA_ERROR_INVALID_VALUE;
    if (g->capturing)
        return CUDA_ERROR_ILLEGAL_STATE;
    sd_graph_free(g);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphDestroy(CUgraph hGraph)
{
    SD_API(cuGraphDestroy, sd_graph_destroy(hGraph));
}

static CUresult sd_graph_clone_api(CUgraph *out, CUgraph src)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!out || !sd_graph_valid(src))
        return CUDA_ERROR_INVALID_VALUE;
    if (sd_graph_has_mem_nodes(src)) {
        sd_log("cuGraphClone: graph %u has memory allocation or free nodes, which CUDA does not clone", src->id);
        return CUDA_ERROR_INVALID_VALUE;
    }
    return sd_graph_clone(src, 0, out);
}

CUresult CUDAAPI cuGraphClone(CUgraph *phGraphClone, CUgraph originalGraph)
{
    SD_API(cuGraphClone, sd_graph_clone_api(phGraphClone, originalGraph));
}

static CUresult sd_find_in_clone(CUgraphNode *out, CUgraphNode orig, CUgraph clone)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!out || !sd_node_valid(orig) || !sd_graph_valid(clone))
        return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; i < clone->nodes.n; i++)
        if (clone->nodes.v[i]->clone_of == orig) {
            *out = clone->nodes.v[i];
            return CUDA_SUCCESS;
        }
    return CUDA_ERROR_INVALID_VALUE;
}

CUresult CUDAAPI cuGraphNodeFindInClone(CUgraphNode *phNode, CUgraphNode hOriginalNode, CUgraph hClonedGraph)
{
    SD_API(cuGraphNodeFindInClone, sd_find_in_clone(phNode, hOriginalNode, hClonedGraph));
}

/* ---- adding nodes ---- */

static CUresult sd_add_common(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, const CUgraphEdgeData *edata,
                              size_t n, sd_work_t *w)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!out || !sd_graph_valid(g))
        return CUDA_ERROR_INVALID_VALUE;
    return sd_graph_add(g, w, deps, edata, n, out);
}

static CUresult sd_kernel_work(sd_work_t *w, CUfunction func, CUkernel kern, const uint32_t grid[3],
                               const uint32_t block[3], uint32_t smem, void **params, void **extra, CUcontext ctx)
{
    memset(w, 0, sizeof(*w));
    w->type = CU_GRAPH_NODE_TYPE_KERNEL;
    CUfunction f = func ? func : (CUfunction)(void *)kern;
    if (!f)
        return CUDA_ERROR_INVALID_VALUE;
    if (!ctx)
        sd_current_ctx(&ctx);
    w->ctx = ctx;
    return sd_kparams_new(f, grid, block, smem, params, extra, &w->kp);
}

#define SD_KP_GRID(p)                                                                              \
    const uint32_t grid[3] = {(p)->gridDimX, (p)->gridDimY, (p)->gridDimZ};                        \
    const uint32_t block[3] = {(p)->blockDimX, (p)->blockDimY, (p)->blockDimZ}

static CUresult sd_add_kernel(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, const CUgraphEdgeData *edata,
                              size_t n, const CUDA_KERNEL_NODE_PARAMS *p, int v1)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!p)
        return CUDA_ERROR_INVALID_VALUE;
    SD_KP_GRID(p);
    sd_work_t w;
    r = sd_kernel_work(&w, p->func, v1 ? NULL : p->kern, grid, block, p->sharedMemBytes, p->kernelParams,
                       p->extra, v1 ? NULL : p->ctx);
    if (!r)
        r = sd_add_common(out, g, deps, edata, n, &w);
    sd_work_clear(&w);
    return r;
}

CUresult CUDAAPI cuGraphAddKernelNode_v2(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                         size_t numDependencies, const CUDA_KERNEL_NODE_PARAMS *nodeParams)
{
    SD_API(cuGraphAddKernelNode_v2, sd_add_kernel(phGraphNode, hGraph, dependencies, NULL, numDependencies, nodeParams, 0));
}

CUresult CUDAAPI cuGraphAddKernelNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                      size_t numDependencies, const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams)
{
    CUDA_KERNEL_NODE_PARAMS p;
    memset(&p, 0, sizeof(p));
    if (nodeParams)
        memcpy(&p, nodeParams, sizeof(*nodeParams));
    SD_API(cuGraphAddKernelNode,
           sd_add_kernel(phGraphNode, hGraph, dependencies, NULL, numDependencies, nodeParams ? &p : NULL, 1));
}

static CUresult sd_add_memcpy(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, const CUgraphEdgeData *edata,
                              size_t n, const CUDA_MEMCPY3D *p, CUcontext ctx)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!p)
        return CUDA_ERROR_INVALID_VALUE;
    sd_work_t w;
    memset(&w, 0, sizeof(w));
    w.type = CU_GRAPH_NODE_TYPE_MEMCPY;
    w.ctx = ctx;
    r = sd_copy_from_3d(&w.copy, p);
    if (r)
        return r;
    return sd_add_common(out, g, deps, edata, n, &w);
}

CUresult CUDAAPI cuGraphAddMemcpyNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                      size_t numDependencies, const CUDA_MEMCPY3D *copyParams, CUcontext ctx)
{
    SD_API(cuGraphAddMemcpyNode, sd_add_memcpy(phGraphNode, hGraph, dependencies, NULL, numDependencies, copyParams, ctx));
}

static CUresult sd_add_memset(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, const CUgraphEdgeData *edata,
                              size_t n, const CUDA_MEMSET_NODE_PARAMS *p, CUcontext ctx)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!p)
        return CUDA_ERROR_INVALID_VALUE;
    sd_work_t w;
    memset(&w, 0, sizeof(w));
    w.type = CU_GRAPH_NODE_TYPE_MEMSET;
    w.ctx = ctx;
    r = sd_memset_make(&w.set, p->dst, p->pitch, p->value, p->elementSize, p->width, p->height);
    if (r)
        return r;
    return sd_add_common(out, g, deps, edata, n, &w);
}

CUresult CUDAAPI cuGraphAddMemsetNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                      size_t numDependencies, const CUDA_MEMSET_NODE_PARAMS *memsetParams,
                                      CUcontext ctx)
{
    SD_API(cuGraphAddMemsetNode,
           sd_add_memset(phGraphNode, hGraph, dependencies, NULL, numDependencies, memsetParams, ctx));
}

static CUresult sd_add_simple(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, const CUgraphEdgeData *edata,
                              size_t n, CUgraphNodeType type, CUhostFn fn, void *user, CUevent ev)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (type == CU_GRAPH_NODE_TYPE_HOST && !fn)
        return CUDA_ERROR_INVALID_VALUE;
    if ((type == CU_GRAPH_NODE_TYPE_EVENT_RECORD || type == CU_GRAPH_NODE_TYPE_WAIT_EVENT) && !sd_event_valid(ev))
        return CUDA_ERROR_INVALID_VALUE;
    sd_work_t w;
    memset(&w, 0, sizeof(w));
    w.type = type;
    w.fn = fn;
    w.user = user;
    w.event = ev;
    return sd_add_common(out, g, deps, edata, n, &w);
}

CUresult CUDAAPI cuGraphAddHostNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                    size_t numDependencies, const CUDA_HOST_NODE_PARAMS *nodeParams)
{
    SD_API(cuGraphAddHostNode,
           nodeParams ? sd_add_simple(phGraphNode, hGraph, dependencies, NULL, numDependencies,
                                      CU_GRAPH_NODE_TYPE_HOST, nodeParams->fn, nodeParams->userData, NULL)
                      : CUDA_ERROR_INVALID_VALUE);
}

CUresult CUDAAPI cuGraphAddEmptyNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                     size_t numDependencies)
{
    SD_API(cuGraphAddEmptyNode, sd_add_simple(phGraphNode, hGraph, dependencies, NULL, numDependencies,
                                              CU_GRAPH_NODE_TYPE_EMPTY, NULL, NULL, NULL));
}

CUresult CUDAAPI cuGraphAddEventRecordNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                                           const CUgraphNode *dependencies, size_t numDependencies, CUevent event)
{
    SD_API(cuGraphAddEventRecordNode, sd_add_simple(phGraphNode, hGraph, dependencies, NULL, numDependencies,
                                                    CU_GRAPH_NODE_TYPE_EVENT_RECORD, NULL, NULL, event));
}

CUresult CUDAAPI cuGraphAddEventWaitNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                         size_t numDependencies, CUevent event)
{
    SD_API(cuGraphAddEventWaitNode, sd_add_simple(phGraphNode, hGraph, dependencies, NULL, numDependencies,
                                                  CU_GRAPH_NODE_TYPE_WAIT_EVENT, NULL, NULL, event));
}

static CUresult sd_add_mem_alloc(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, const CUgraphEdgeData *edata,
                                 size_t n, CUDA_MEM_ALLOC_NODE_PARAMS *p)
{
    struct CUctx_st *c;
    CUresult r = sd_current_ctx(&c);
    if (r)
        return r;
    if (!p || !out || !sd_graph_valid(g))
        return CUDA_ERROR_INVALID_VALUE;
    if ((r = sd_check_deps(g, deps, n)))
        return r;
    sd_alloc_t *a;
    r = sd_mem_alloc_device(SD_ALLOC_GRAPH, c, p->bytesize, &a);
    if (r)
        return r;
    sd_work_t w;
    memset(&w, 0, sizeof(w));
    w.type = CU_GRAPH_NODE_TYPE_MEM_ALLOC;
    w.dptr = a->base;
    w.bytes = p->bytesize;
    w.ctx = c;
    w.alloc = *p;
    w.alloc.accessDescs = NULL;
    w.alloc.accessDescCount = 0;
    w.alloc.dptr = a->base;
    r = sd_graph_add(g, &w, deps, edata, n, out);
    if (r) {
        sd_mem_release(a);
        return r;
    }
    p->dptr = a->base;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphAddMemAllocNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                        size_t numDependencies, CUDA_MEM_ALLOC_NODE_PARAMS *nodeParams)
{
    SD_API(cuGraphAddMemAllocNode,
           sd_add_mem_alloc(phGraphNode, hGraph, dependencies, NULL, numDependencies, nodeParams));
}

static CUresult sd_add_mem_free(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, const CUgraphEdgeData *edata,
                                size_t n, CUdeviceptr dptr)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    sd_alloc_t *a = sd_mem_find(dptr);
    if (!a || a->base != dptr || (a->kind != SD_ALLOC_GRAPH && a->kind != SD_ALLOC_ASYNC && a->kind != SD_ALLOC_DEVICE))
        return CUDA_ERROR_INVALID_VALUE;
    sd_work_t w;
    memset(&w, 0, sizeof(w));
    w.type = CU_GRAPH_NODE_TYPE_MEM_FREE;
    w.dptr = dptr;
    w.bytes = a->size;
    return sd_add_common(out, g, deps, edata, n, &w);
}

CUresult CUDAAPI cuGraphAddMemFreeNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                       size_t numDependencies, CUdeviceptr dptr)
{
    SD_API(cuGraphAddMemFreeNode, sd_add_mem_free(phGraphNode, hGraph, dependencies, NULL, numDependencies, dptr));
}

static CUresult sd_add_child(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, const CUgraphEdgeData *edata,
                             size_t n, CUgraph child, int move)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    /* A graph already owned by a node cannot be moved into another one. */
    if (!sd_graph_valid(child) || child == g || (move && child->parent))
        return CUDA_ERROR_INVALID_VALUE;
    if (!move && sd_graph_has_mem_nodes(child)) {
        sd_log("cuGraphAddChildGraphNode: graph %u has memory allocation or free nodes: CUDA accepts it "
               "as a child graph only when moved (CU_GRAPH_CHILD_GRAPH_OWNERSHIP_MOVE)", child->id);
        return CUDA_ERROR_INVALID_VALUE;
    }
    sd_work_t w;
    memset(&w, 0, sizeof(w));
    w.type = CU_GRAPH_NODE_TYPE_GRAPH;
    w.child = child;
    return sd_add_common(out, g, deps, edata, n, &w);
}

CUresult CUDAAPI cuGraphAddChildGraphNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                          size_t numDependencies, CUgraph childGraph)
{
    SD_API(cuGraphAddChildGraphNode,
           sd_add_child(phGraphNode, hGraph, dependencies, NULL, numDependencies, childGraph, 0));
}

/* cuGraphAddNode: the generic form. */
static CUresult sd_add_node(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, const CUgraphEdgeData *edata,
                            size_t n, CUgraphNodeParams *p)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!p)
        return CUDA_ERROR_INVALID_VALUE;
    switch (p->type) {
    case CU_GRAPH_NODE_TYPE_KERNEL: {
        SD_KP_GRID(&p->kernel);
        sd_work_t w;
        r = sd_kernel_work(&w, p->kernel.func, p->kernel.kern, grid, block, p->kernel.sharedMemBytes,
                           p->kernel.kernelParams, p->kernel.extra, p->kernel.ctx);
        if (!r)
            r = sd_add_common(out, g, deps, edata, n, &w);
        sd_work_clear(&w);
        return r;
    }
    case CU_GRAPH_NODE_TYPE_MEMCPY:
        return sd_add_memcpy(out, g, deps, edata, n, &p->memcpy.copyParams, p->memcpy.copyCtx);
    case CU_GRAPH_NODE_TYPE_MEMSET: {
        CUDA_MEMSET_NODE_PARAMS m = {p->memset.dst, p->memset.pitch, p->memset.value, p->memset.elementSize,
                                     p->memset.width, p->memset.height};
        return sd_add_memset(out, g, deps, edata, n, &m, p->memset.ctx);
    }
    case CU_GRAPH_NODE_TYPE_HOST:
        return sd_add_simple(out, g, deps, edata, n, p->type, p->host.fn, p->host.userData, NULL);
    case CU_GRAPH_NODE_TYPE_EMPTY:
        return sd_add_simple(out, g, deps, edata, n, p->type, NULL, NULL, NULL);
    case CU_GRAPH_NODE_TYPE_EVENT_RECORD:
        return sd_add_simple(out, g, deps, edata, n, p->type, NULL, NULL, p->eventRecord.event);
    case CU_GRAPH_NODE_TYPE_WAIT_EVENT:
        return sd_add_simple(out, g, deps, edata, n, p->type, NULL, NULL, p->eventWait.event);
    case CU_GRAPH_NODE_TYPE_MEM_ALLOC: {
        CUDA_MEM_ALLOC_NODE_PARAMS a = {p->alloc.poolProps, p->alloc.accessDescs, p->alloc.accessDescCount,
                                        p->alloc.bytesize, 0};
        r = sd_add_mem_alloc(out, g, deps, edata, n, &a);
        if (!r)
            p->alloc.dptr = a.dptr;
        return r;
    }
    case CU_GRAPH_NODE_TYPE_MEM_FREE:
        return sd_add_mem_free(out, g, deps, edata, n, p->free.dptr);
    case CU_GRAPH_NODE_TYPE_GRAPH:
        r = sd_add_child(out, g, deps, edata, n, p->graph.graph,
                         p->graph.ownership == CU_GRAPH_CHILD_GRAPH_OWNERSHIP_MOVE);
        if (!r && p->graph.ownership == CU_GRAPH_CHILD_GRAPH_OWNERSHIP_MOVE) {
            /* Moved: the caller's handle now is the node's graph. */
            sd_graph_free((*out)->w.child);
            (*out)->w.child = p->graph.graph;
            p->graph.graph->parent = *out;
        }
        return r;
    default:
        sd_log("cuGraphAddNode: node type %d is not supported by the simulated device", (int)p->type);
        return CUDA_ERROR_NOT_SUPPORTED;
    }
}

CUresult CUDAAPI cuGraphAddNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                size_t numDependencies, CUgraphNodeParams *nodeParams)
{
    SD_API(cuGraphAddNode, sd_add_node(phGraphNode, hGraph, dependencies, NULL, numDependencies, nodeParams));
}

CUresult CUDAAPI cuGraphAddNode_v2(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                   const CUgraphEdgeData *dependencyData, size_t numDependencies,
                                   CUgraphNodeParams *nodeParams)
{
    SD_API(cuGraphAddNode_v2,
           sd_add_node(phGraphNode, hGraph, dependencies, dependencyData, numDependencies, nodeParams));
}

/* ---- node parameters ---- */

static CUresult sd_node_of(CUgraphNode n, CUgraphNodeType type)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!sd_node_valid(n) || n->w.type != type)
        return CUDA_ERROR_INVALID_VALUE;
    return CUDA_SUCCESS;
}

static sd_kparams_t *sd_node_kp_mut(CUgraphNode n)
{
    if (n->w.kp->refs > 1) {
        sd_kparams_t *kp = sd_kparams_dup(n->w.kp);
        sd_kparams_unref(n->w.kp);
        n->w.kp = kp;
    }
    return n->w.kp;
}

static CUresult sd_kernel_get(CUgraphNode n, CUDA_KERNEL_NODE_PARAMS *p)
{
    CUresult r = sd_node_of(n, CU_GRAPH_NODE_TYPE_KERNEL);
    if (r)
        return r;
    if (!p)
        return CUDA_ERROR_INVALID_VALUE;
    const sd_kparams_t *kp = n->w.kp;
    memset(p, 0, sizeof(*p));
    p->func = kp->func;
    p->gridDimX = kp->grid[0];
    p->gridDimY = kp->grid[1];
    p->gridDimZ = kp->grid[2];
    p->blockDimX = kp->block[0];
    p->blockDimY = kp->block[1];
    p->blockDimZ = kp->block[2];
    p->sharedMemBytes = kp->smem;
    p->kernelParams = kp->ptrs;
    p->ctx = n->w.ctx;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphKernelNodeGetParams_v2(CUgraphNode hNode, CUDA_KERNEL_NODE_PARAMS *nodeParams)
{
    SD_API(cuGraphKernelNodeGetParams_v2, sd_kernel_get(hNode, nodeParams));
}

CUresult CUDAAPI cuGraphKernelNodeGetParams(CUgraphNode hNode, CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams)
{
    CUDA_KERNEL_NODE_PARAMS p;
    sd_api_enter("cuGraphKernelNodeGetParams");
    CUresult r = nodeParams ? sd_kernel_get(hNode, &p) : CUDA_ERROR_INVALID_VALUE;
    if (!r)
        memcpy(nodeParams, &p, sizeof(*nodeParams));
    return sd_api_exit("cuGraphKernelNodeGetParams", r);
}

/* New parameters for a kernel node's work (attributes are kept, as CUDA keeps them). */
CUresult sd_kernel_set_work(sd_work_t *w, const CUDA_KERNEL_NODE_PARAMS *p, int v1)
{
    if (!p)
        return CUDA_ERROR_INVALID_VALUE;
    SD_KP_GRID(p);
    sd_work_t nw;
    CUresult r = sd_kernel_work(&nw, p->func, v1 ? NULL : p->kern, grid, block, p->sharedMemBytes,
                                p->kernelParams, p->extra, v1 ? w->ctx : (p->ctx ? p->ctx : w->ctx));
    if (r)
        return r;
    nw.kp->nattrs = w->kp->nattrs;
    memcpy(nw.kp->attrs, w->kp->attrs, sizeof(nw.kp->attrs));
    sd_kparams_unref(w->kp);
    w->kp = nw.kp;
    w->ctx = nw.ctx;
    return CUDA_SUCCESS;
}

static CUresult sd_kernel_set(CUgraphNode n, const CUDA_KERNEL_NODE_PARAMS *p, int v1)
{
    CUresult r = sd_node_of(n, CU_GRAPH_NODE_TYPE_KERNEL);
    if (r)
        return r;
    return sd_kernel_set_work(&n->w, p, v1);
}

CUresult CUDAAPI cuGraphKernelNodeSetParams_v2(CUgraphNode hNode, const CUDA_KERNEL_NODE_PARAMS *nodeParams)
{
    SD_API(cuGraphKernelNodeSetParams_v2, sd_kernel_set(hNode, nodeParams, 0));
}

CUresult CUDAAPI cuGraphKernelNodeSetParams(CUgraphNode hNode, const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams)
{
    CUDA_KERNEL_NODE_PARAMS p;
    memset(&p, 0, sizeof(p));
    if (nodeParams)
        memcpy(&p, nodeParams, sizeof(*nodeParams));
    SD_API(cuGraphKernelNodeSetParams, sd_kernel_set(hNode, nodeParams ? &p : NULL, 1));
}

static CUresult sd_kernel_attr(CUgraphNode n, CUkernelNodeAttrID id, CUkernelNodeAttrValue *get,
                               const CUkernelNodeAttrValue *set)
{
    CUresult r = sd_node_of(n, CU_GRAPH_NODE_TYPE_KERNEL);
    if (r)
        return r;
    if (!get && !set)
        return CUDA_ERROR_INVALID_VALUE;
    if (set)
        return sd_kparams_set_attr(sd_node_kp_mut(n), id, set);
    sd_kparams_get_attr(n->w.kp, id, get);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphKernelNodeGetAttribute(CUgraphNode hNode, CUkernelNodeAttrID attr,
                                               CUkernelNodeAttrValue *value_out)
{
    SD_API(cuGraphKernelNodeGetAttribute, sd_kernel_attr(hNode, attr, value_out, NULL));
}

CUresult CUDAAPI cuGraphKernelNodeSetAttribute(CUgraphNode hNode, CUkernelNodeAttrID attr,
                                               const CUkernelNodeAttrValue *value)
{
    SD_API(cuGraphKernelNodeSetAttribute, sd_kernel_attr(hNode, attr, NULL, value));
}

static CUresult sd_kernel_copy_attrs(CUgraphNode dst, CUgraphNode src)
{
    CUresult r = sd_node_of(dst, CU_GRAPH_NODE_TYPE_KERNEL);
    if (!r)
        r = sd_node_of(src, CU_GRAPH_NODE_TYPE_KERNEL);
    if (r)
        return r;
    sd_kparams_t *kp = sd_node_kp_mut(dst);
    kp->nattrs = src->w.kp->nattrs;
    memcpy(kp->attrs, src->w.kp->attrs, sizeof(kp->attrs));
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphKernelNodeCopyAttributes(CUgraphNode dst, CUgraphNode src)
{
    SD_API(cuGraphKernelNodeCopyAttributes, sd_kernel_copy_attrs(dst, src));
}

static CUresult sd_memcpy_params(CUgraphNode n, CUDA_MEMCPY3D *get, const CUDA_MEMCPY3D *set)
{
    CUresult r = sd_node_of(n, CU_GRAPH_NODE_TYPE_MEMCPY);
    if (r)
        return r;
    if (get) {
        *get = n->w.copy.p;
        return CUDA_SUCCESS;
    }
    if (!set)
        return CUDA_ERROR_INVALID_VALUE;
    sd_copy_t c;
    r = sd_copy_from_3d(&c, set);
    if (!r)
        n->w.copy = c;
    return r;
}

CUresult CUDAAPI cuGraphMemcpyNodeGetParams(CUgraphNode hNode, CUDA_MEMCPY3D *nodeParams)
{
    SD_API(cuGraphMemcpyNodeGetParams, nodeParams ? sd_memcpy_params(hNode, nodeParams, NULL) : CUDA_ERROR_INVALID_VALUE);
}

CUresult CUDAAPI cuGraphMemcpyNodeSetParams(CUgraphNode hNode, const CUDA_MEMCPY3D *nodeParams)
{
    SD_API(cuGraphMemcpyNodeSetParams, sd_memcpy_params(hNode, NULL, nodeParams));
}

static CUresult sd_memset_params(CUgraphNode n, CUDA_MEMSET_NODE_PARAMS *get, const CUDA_MEMSET_NODE_PARAMS *set)
{
    CUresult r = sd_node_of(n, CU_GRAPH_NODE_TYPE_MEMSET);
    if (r)
        return r;
    if (get) {
        const sd_memset_t *m = &n->w.set;
        get->dst = m->dst;
        get->pitch = m->pitch;
        get->value = m->value;
        get->elementSize = m->elem;
        get->width = m->width;
        get->height = m->height;
        return CUDA_SUCCESS;
    }
    if (!set)
        return CUDA_ERROR_INVALID_VALUE;
    sd_memset_t m;
    r = sd_memset_make(&m, set->dst, set->pitch, set->value, set->elementSize, set->width, set->height);
    if (!r)
        n->w.set = m;
    return r;
}

CUresult CUDAAPI cuGraphMemsetNodeGetParams(CUgraphNode hNode, CUDA_MEMSET_NODE_PARAMS *nodeParams)
{
    SD_API(cuGraphMemsetNodeGetParams, nodeParams ? sd_memset_params(hNode, nodeParams, NULL) : CUDA_ERROR_INVALID_VALUE);
}

CUresult CUDAAPI cuGraphMemsetNodeSetParams(CUgraphNode hNode, const CUDA_MEMSET_NODE_PARAMS *nodeParams)
{
    SD_API(cuGraphMemsetNodeSetParams, sd_memset_params(hNode, NULL, nodeParams));
}

static CUresult sd_host_params(CUgraphNode n, CUDA_HOST_NODE_PARAMS *get, const CUDA_HOST_NODE_PARAMS *set)
{
    CUresult r = sd_node_of(n, CU_GRAPH_NODE_TYPE_HOST);
    if (r)
        return r;
    if (get) {
        get->fn = n->w.fn;
        get->userData = n->w.user;
        return CUDA_SUCCESS;
    }
    if (!set || !set->fn)
        return CUDA_ERROR_INVALID_VALUE;
    n->w.fn = set->fn;
    n->w.user = set->userData;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphHostNodeGetParams(CUgraphNode hNode, CUDA_HOST_NODE_PARAMS *nodeParams)
{
    SD_API(cuGraphHostNodeGetParams, nodeParams ? sd_host_params(hNode, nodeParams, NULL) : CUDA_ERROR_INVALID_VALUE);
}

CUresult CUDAAPI cuGraphHostNodeSetParams(CUgraphNode hNode, const CUDA_HOST_NODE_PARAMS *nodeParams)
{
    SD_API(cuGraphHostNodeSetParams, sd_host_params(hNode, NULL, nodeParams));
}

static CUresult sd_event_node(CUgraphNode n, CUgraphNodeType type, CUevent *get, CUevent set)
{
    CUresult r = sd_node_of(n, type);
    if (r)
        return r;
    if (get) {
        *get = n->w.event;
        return CUDA_SUCCESS;
    }
    if (!sd_event_valid(set))
        return CUDA_ERROR_INVALID_VALUE;
    n->w.event = set;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphEventRecordNodeGetEvent(CUgraphNode hNode, CUevent *event_out)
{
    SD_API(cuGraphEventRecordNodeGetEvent,
           event_out ? sd_event_node(hNode, CU_GRAPH_NODE_TYPE_EVENT_RECORD, event_out, NULL) : CUDA_ERROR_INVALID_VALUE);
}
CUresult CUDAAPI cuGraphEventRecordNodeSetEvent(CUgraphNode hNode, CUevent event)
{
    SD_API(cuGraphEventRecordNodeSetEvent, sd_event_node(hNode, CU_GRAPH_NODE_TYPE_EVENT_RECORD, NULL, event));
}
CUresult CUDAAPI cuGraphEventWaitNodeGetEvent(CUgraphNode hNode, CUevent *event_out)
{
    SD_API(cuGraphEventWaitNodeGetEvent,
           event_out ? sd_event_node(hNode, CU_GRAPH_NODE_TYPE_WAIT_EVENT, event_out, NULL) : CUDA_ERROR_INVALID_VALUE);
}
CUresult CUDAAPI cuGraphEventWaitNodeSetEvent(CUgraphNode hNode, CUevent event)
{
    SD_API(cuGraphEventWaitNodeSetEvent, sd_event_node(hNode, CU_GRAPH_NODE_TYPE_WAIT_EVENT, NULL, event));
}

static CUresult sd_alloc_params(CUgraphNode n, CUDA_MEM_ALLOC_NODE_PARAMS *p)
{
    CUresult r = sd_node_of(n, CU_GRAPH_NODE_TYPE_MEM_ALLOC);
    if (r)
        return r;
    if (!p)
        return CUDA_ERROR_INVALID_VALUE;
    *p = n->w.alloc;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphMemAllocNodeGetParams(CUgraphNode hNode, CUDA_MEM_ALLOC_NODE_PARAMS *params_out)
{
    SD_API(cuGraphMemAllocNodeGetParams, sd_alloc_params(hNode, params_out));
}

static CUresult sd_free_params(CUgraphNode n, CUdeviceptr *p)
{
    CUresult r = sd_node_of(n, CU_GRAPH_NODE_TYPE_MEM_FREE);
    if (r)
        return r;
    if (!p)
        return CUDA_ERROR_INVALID_VALUE;
    *p = n->w.dptr;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphMemFreeNodeGetParams(CUgraphNode hNode, CUdeviceptr *dptr_out)
{
    SD_API(cuGraphMemFreeNodeGetParams, sd_free_params(hNode, dptr_out));
}

static CUresult sd_child_graph(CUgraphNode n, CUgraph *out)
{
    CUresult r = sd_node_of(n, CU_GRAPH_NODE_TYPE_GRAPH);
    if (r)
        return r;
    if (!out)
        return CUDA_ERROR_INVALID_VALUE;
    *out = n->w.child;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphChildGraphNodeGetGraph(CUgraphNode hNode, CUgraph *phGraph)
{
    SD_API(cuGraphChildGraphNodeGetGraph, sd_child_graph(hNode, phGraph));
}

/* cuGraphNodeSetParams: the generic form, for the node types whose parameters may change. */
CUresult sd_node_set_params(CUgraphNode n, CUgraphNodeParams *p)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!sd_node_valid(n) || !p || p->type != n->w.type)
        return CUDA_ERROR_INVALID_VALUE;
    switch (p->type) {
    case CU_GRAPH_NODE_TYPE_KERNEL: {
        CUDA_KERNEL_NODE_PARAMS k;
        memcpy(&k, &p->kernel, sizeof(k));
        return sd_kernel_set(n, &k, 0);
    }
    case CU_GRAPH_NODE_TYPE_MEMCPY: return sd_memcpy_params(n, NULL, &p->memcpy.copyParams);
    case CU_GRAPH_NODE_TYPE_MEMSET: {
        CUDA_MEMSET_NODE_PARAMS m = {p->memset.dst, p->memset.pitch, p->memset.value, p->memset.elementSize,
                                     p->memset.width, p->memset.height};
        return sd_memset_params(n, NULL, &m);
    }
    case CU_GRAPH_NODE_TYPE_HOST: {
        CUDA_HOST_NODE_PARAMS h = {p->host.fn, p->host.userData};
        return sd_host_params(n, NULL, &h);
    }
    case CU_GRAPH_NODE_TYPE_EVENT_RECORD: return sd_event_node(n, p->type, NULL, p->eventRecord.event);
    case CU_GRAPH_NODE_TYPE_WAIT_EVENT: return sd_event_node(n, p->type, NULL, p->eventWait.event);
    case CU_GRAPH_NODE_TYPE_EMPTY: return CUDA_SUCCESS;
    default: return CUDA_ERROR_INVALID_VALUE;
    }
}

CUresult CUDAAPI cuGraphNodeSetParams(CUgraphNode hNode, CUgraphNodeParams *nodeParams)
{
    SD_API(cuGraphNodeSetParams, sd_node_set_params(hNode, nodeParams));
}

/* ---- queries ---- */

static CUresult sd_node_type(CUgraphNode n, CUgraphNodeType *t)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!sd_node_valid(n) || !t)
        return CUDA_ERROR_INVALID_VALUE;
    *t = n->w.type;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphNodeGetType(CUgraphNode hNode, CUgraphNodeType *type)
{
    SD_API(cuGraphNodeGetType, sd_node_type(hNode, type));
}

static CUresult sd_get_nodes(CUgraph g, CUgraphNode *nodes, size_t *num, int roots)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!sd_graph_valid(g) || !num)
        return CUDA_ERROR_INVALID_VALUE;
    size_t k = 0;
    for (size_t i = 0; i < g->nodes.n; i++) {
        CUgraphNode n = g->nodes.v[i];
        if (roots && n->in.n)
            continue;
        if (nodes && k < *num)
            nodes[k] = n;
        k++;
    }
    if (nodes)
        for (size_t i = k; i < *num; i++)
            nodes[i] = NULL;
    *num = k;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphGetNodes(CUgraph hGraph, CUgraphNode *nodes, size_t *numNodes)
{
    SD_API(cuGraphGetNodes, sd_get_nodes(hGraph, nodes, numNodes, 0));
}

CUresult CUDAAPI cuGraphGetRootNodes(CUgraph hGraph, CUgraphNode *rootNodes, size_t *numRootNodes)
{
    SD_API(cuGraphGetRootNodes, sd_get_nodes(hGraph, rootNodes, numRootNodes, 1));
}

static int sd_default_edata(const CUgraphEdgeData *d)
{
    static const CUgraphEdgeData zero;
    return memcmp(d, &zero, sizeof(zero)) == 0;
}

static CUresult sd_get_edges(CUgraph g, CUgraphNode *from, CUgraphNode *to, CUgraphEdgeData *edata, size_t *num,
                             int has_edata)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!sd_graph_valid(g) || !num || (!from) != (!to))
        return CUDA_ERROR_INVALID_VALUE;
    size_t k = 0;
    int lossy = 0;
    for (size_t i = 0; i < g->nodes.n; i++) {
        CUgraphNode n = g->nodes.v[i];
        for (size_t j = 0; j < n->out.n; j++) {
            if (from && k < *num) {
                from[k] = n;
                to[k] = n->out.v[j].node;
                if (has_edata && edata)
                    edata[k] = n->out.v[j].data;
                else if (!sd_default_edata(&n->out.v[j].data))
                    lossy = 1;
            }
            k++;
        }
    }
    if (from)
        for (size_t i = k; i < *num; i++) {
            from[i] = to[i] = NULL;
            if (has_edata && edata)
                memset(&edata[i], 0, sizeof(edata[i]));
        }
    *num = k;
    return lossy ? CUDA_ERROR_LOSSY_QUERY : CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphGetEdges(CUgraph hGraph, CUgraphNode *from, CUgraphNode *to, size_t *numEdges)
{
    SD_API(cuGraphGetEdges, sd_get_edges(hGraph, from, to, NULL, numEdges, 0));
}

CUresult CUDAAPI cuGraphGetEdges_v2(CUgraph hGraph, CUgraphNode *from, CUgraphNode *to, CUgraphEdgeData *edgeData,
                                    size_t *numEdges)
{
    SD_API(cuGraphGetEdges_v2, sd_get_edges(hGraph, from, to, edgeData, numEdges, 1));
}

static CUresult sd_node_edges(CUgraphNode n, int out, CUgraphNode *nodes, CUgraphEdgeData *edata, size_t *num,
                              int has_edata)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!sd_node_valid(n) || !num)
        return CUDA_ERROR_INVALID_VALUE;
    const sd_edgevec_t *l = out ? &n->out : &n->in;
    int lossy = 0;
    if (nodes) {
        for (size_t i = 0; i < *num; i++) {
            nodes[i] = i < l->n ? l->v[i].node : NULL;
            if (has_edata && edata) {
                if (i < l->n)
                    edata[i] = l->v[i].data;
                else
                    memset(&edata[i], 0, sizeof(edata[i]));
            } else if (i < l->n && !sd_default_edata(&l->v[i].data)) {
                lossy = 1;
            }
        }
    }
    *num = l->n;
    return lossy ? CUDA_ERROR_LOSSY_QUERY : CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphNodeGetDependencies(CUgraphNode hNode, CUgraphNode *dependencies, size_t *numDependencies)
{
    SD_API(cuGraphNodeGetDependencies, sd_node_edges(hNode, 0, dependencies, NULL, numDependencies, 0));
}

CUresult CUDAAPI cuGraphNodeGetDependencies_v2(CUgraphNode hNode, CUgraphNode *dependencies,
                                               CUgraphEdgeData *edgeData, size_t *numDependencies)
{
    SD_API(cuGraphNodeGetDependencies_v2, sd_node_edges(hNode, 0, dependencies, edgeData, numDependencies, 1));
}

CUresult CUDAAPI cuGraphNodeGetDependentNodes(CUgraphNode hNode, CUgraphNode *dependentNodes,
                                              size_t *numDependentNodes)
{
    SD_API(cuGraphNodeGetDependentNodes, sd_node_edges(hNode, 1, dependentNodes, NULL, numDependentNodes, 0));
}

CUresult CUDAAPI cuGraphNodeGetDependentNodes_v2(CUgraphNode hNode, CUgraphNode *dependentNodes,
                                                 CUgraphEdgeData *edgeData, size_t *numDependentNodes)
{
    SD_API(cuGraphNodeGetDependentNodes_v2,
           sd_node_edges(hNode, 1, dependentNodes, edgeData, numDependentNodes, 1));
}

/* ---- edges ---- */

static CUresult sd_deps_change(CUgraph g, const CUgraphNode *from, const CUgraphNode *to,
                               const CUgraphEdgeData *edata, size_t n, int add)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!sd_graph_valid(g) || (n && (!from || !to)))
        return CUDA_ERROR_INVALID_VALUE;
    if (!add && n && sd_graph_has_mem_nodes(g)) {
        sd_log("cuGraphRemoveDependencies: graph %u has memory allocation or free nodes, whose edges CUDA "
               "does not remove", g->id);
        return CUDA_ERROR_INVALID_VALUE;
    }
    /* Validate everything first: a failed call changes nothing. */
    for (size_t i = 0; i < n; i++) {
        if (!sd_node_valid(from[i]) || !sd_node_valid(to[i]) || from[i]->graph != g || to[i]->graph != g ||
            from[i] == to[i])
            return CUDA_ERROR_INVALID_VALUE;
        /* Adding: no edge between the two may exist yet. Removing: the edge must exist with the
         * given edge data (NULL meaning default data). */
        int exists = add ? sd_has_edge(from[i], to[i]) : sd_has_edge_data(from[i], to[i], edata ? &edata[i] : NULL);
        if (add == exists)
            return CUDA_ERROR_INVALID_VALUE;
        for (size_t j = 0; j < i; j++)
            if (from[j] == from[i] && to[j] == to[i])
                return CUDA_ERROR_INVALID_VALUE;
    }
    for (size_t i = 0; i < n; i++) {
        if (add) {
            sd_edge_add(from[i], to[i], edata ? &edata[i] : NULL);
        } else {
            sd_edge_list_remove(&from[i]->out, to[i]);
            sd_edge_list_remove(&to[i]->in, from[i]);
        }
    }
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphAddDependencies(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to,
                                        size_t numDependencies)
{
    SD_API(cuGraphAddDependencies, sd_deps_change(hGraph, from, to, NULL, numDependencies, 1));
}

CUresult CUDAAPI cuGraphAddDependencies_v2(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to,
                                           const CUgraphEdgeData *edgeData, size_t numDependencies)
{
    SD_API(cuGraphAddDependencies_v2, sd_deps_change(hGraph, from, to, edgeData, numDependencies, 1));
}

CUresult CUDAAPI cuGraphRemoveDependencies(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to,
                                           size_t numDependencies)
{
    SD_API(cuGraphRemoveDependencies, sd_deps_change(hGraph, from, to, NULL, numDependencies, 0));
}

CUresult CUDAAPI cuGraphRemoveDependencies_v2(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to,
                                              const CUgraphEdgeData *edgeData, size_t numDependencies)
{
    SD_API(cuGraphRemoveDependencies_v2, sd_deps_change(hGraph, from, to, edgeData, numDependencies, 0));
}

static CUresult sd_destroy_node(CUgraphNode n)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!sd_node_valid(n))
        return CUDA_ERROR_INVALID_VALUE;
    CUgraph g = n->graph;
    if (g->capturing) {
        sd_log("cuGraphDestroyNode: graph %u is being captured into, and CUDA removes no node of it then", g->id);
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (sd_graph_has_mem_nodes(g)) {
        sd_log("cuGraphDestroyNode: graph %u has memory allocation or free nodes, and CUDA destroys none of "
               "its nodes", g->id);
        return CUDA_ERROR_INVALID_VALUE;
    }
    for (size_t i = 0; i < n->in.n; i++)
        sd_edge_list_remove(&n->in.v[i].node->out, n);
    for (size_t i = 0; i < n->out.n; i++)
        sd_edge_list_remove(&n->out.v[i].node->in, n);
    size_t k = 0;
    for (size_t i = 0; i < g->nodes.n; i++)
        if (g->nodes.v[i] != n)
            g->nodes.v[k++] = g->nodes.v[i];
    g->nodes.n = k;
    sd_node_free(n);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphDestroyNode(CUgraphNode hNode)
{
    SD_API(cuGraphDestroyNode, sd_destroy_node(hNode));
}

/* ---- DOT ---- */

static void sd_dot_graph(FILE *f, CUgraph g, const char *prefix)
{
    for (size_t i = 0; i < g->nodes.n; i++) {
        CUgraphNode n = g->nodes.v[i];
        fprintf(f, "  \"%s%llu\" [label=\"%llu: %s\"];\n", prefix, (unsigned long long)n->id,
                (unsigned long long)n->id, sd_work_name(&n->w));
        for (size_t j = 0; j < n->out.n; j++)
            fprintf(f, "  \"%s%llu\" -> \"%s%llu\"%s;\n", prefix, (unsigned long long)n->id, prefix,
                    (unsigned long long)n->out.v[j].node->id,
                    n->out.v[j].data.type == CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC ? " [style=dashed]" : "");
    }
}

static CUresult sd_dot(CUgraph g, const char *path)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!sd_graph_valid(g) || !path)
        return CUDA_ERROR_INVALID_VALUE;
    FILE *f = fopen(path, "w");
    if (!f) {
        sd_log("cuGraphDebugDotPrint: cannot write %s: %m", path);
        return CUDA_ERROR_OPERATING_SYSTEM;
    }
    fprintf(f, "digraph graph%u {\n", g->id);
    sd_dot_graph(f, g, "n");
    fprintf(f, "}\n");
    fclose(f);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphDebugDotPrint(CUgraph hGraph, const char *path, unsigned int flags)
{
    (void)flags;
    SD_API(cuGraphDebugDotPrint, sd_dot(hGraph, path));
}
