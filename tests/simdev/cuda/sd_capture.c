/* Stream capture, with CUDA's rules (programming guide, "Prohibited and unhandled operations",
 * and the cuda.h documentation of cuStreamBeginCapture / cuThreadExchangeStreamCaptureMode):
 *
 *  - work enqueued on a capturing stream becomes a node of the capture's graph, depending on the
 *    stream's current dependency set, which it then replaces;
 *  - cuEventRecord on a capturing stream records the dependency set in the event; a stream that
 *    waits on such an event joins the capture (fork) or merges the set into its own (join);
 *  - illegal operations invalidate the capture (later capture calls on its streams return
 *    CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, cuStreamEndCapture returns that error and a NULL
 *    graph): synchronising or querying a capturing stream, a captured event or a context with a
 *    capturing stream (CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED / CUDA_ERROR_CAPTURED_EVENT); using the
 *    legacy stream while a blocking stream of its context captures (..._IMPLICIT); waiting on a
 *    non-captured event without CU_EVENT_WAIT_EXTERNAL (..._ISOLATION); joining two captures
 *    (..._MERGE); and "potentially unsafe" calls (allocation, synchronous copies,
 *    synchronisation) from a thread that the capture modes prohibit (..._UNSUPPORTED);
 *  - cuStreamEndCapture must be called on the origin stream (..._UNMATCHED), from the capturing
 *    thread unless the mode is relaxed (..._WRONG_THREAD), after every forked stream has been
 *    joined back (..._UNJOINED). */
#include <stdlib.h>
#include <string.h>

#include "sd_internal.h"

static __thread CUstreamCaptureMode sd_thread_mode = CU_STREAM_CAPTURE_MODE_GLOBAL;

int sd_capture_any(void)
{
    return sd.captures != NULL;
}

void sd_capture_invalidate(sd_capture_t *c)
{
    if (!c->invalidated)
        sd_debug("capture %llu invalidated", (unsigned long long)c->id);
    c->invalidated = 1;
}

CUresult sd_capture_check_unsafe(void)
{
    if (sd_thread_mode == CU_STREAM_CAPTURE_MODE_RELAXED)
        return CUDA_SUCCESS;
    int prohibited = 0;
    pthread_t self = pthread_self();
    for (sd_capture_t *c = sd.captures; c; c = c->next) {
        int own = pthread_equal(c->thread, self);
        if ((own && c->mode != CU_STREAM_CAPTURE_MODE_RELAXED) ||
            (!own && c->mode == CU_STREAM_CAPTURE_MODE_GLOBAL && sd_thread_mode == CU_STREAM_CAPTURE_MODE_GLOBAL)) {
            sd_capture_invalidate(c);
            prohibited = 1;
        }
    }
    return prohibited ? CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED : CUDA_SUCCESS;
}

static int sd_capture_has_blocking(const sd_capture_t *c, const struct CUctx_st *ctx)
{
    for (size_t i = 0; i < c->streams.n; i++) {
        const struct CUstream_st *s = c->streams.v[i];
        if (s->ctx == ctx && !(s->flags & CU_STREAM_NON_BLOCKING))
            return 1;
    }
    return 0;
}

CUresult sd_capture_check_legacy(struct CUctx_st *ctx)
{
    int found = 0;
    for (sd_capture_t *c = sd.captures; c; c = c->next)
        if (sd_capture_has_blocking(c, ctx)) {
            sd_capture_invalidate(c);
            found = 1;
        }
    return found ? CUDA_ERROR_STREAM_CAPTURE_IMPLICIT : CUDA_SUCCESS;
}

CUresult sd_capture_check_ctx(struct CUctx_st *ctx)
{
    int found = 0;
    for (sd_capture_t *c = sd.captures; c; c = c->next)
        for (size_t i = 0; i < c->streams.n; i++)
            if (c->streams.v[i]->ctx == ctx) {
                sd_capture_invalidate(c);
                found = 1;
                break;
            }
    return found ? CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED : CUDA_SUCCESS;
}

/* ---- dependency sets ---- */

static int sd_edge_is_default(const CUgraphEdgeData *d)
{
    static const CUgraphEdgeData zero;
    return memcmp(d, &zero, sizeof(zero)) == 0;
}

static void sd_deps_add(sd_edgevec_t *deps, CUgraphNode n, const CUgraphEdgeData *d)
{
    for (size_t i = 0; i < deps->n; i++)
        if (deps->v[i].node == n && memcmp(&deps->v[i].data, d, sizeof(*d)) == 0)
            return;
    sd_edge_t e = {n, *d};
    SD_VEC_PUSH(deps, e);
}

static void sd_capture_join_stream(sd_capture_t *c, CUstream s)
{
    for (size_t i = 0; i < c->streams.n; i++)
        if (c->streams.v[i] == s)
            return;
    SD_VEC_PUSH(&c->streams, s);
    s->cap = c;
    s->deps.n = 0;
}

/* ---- work on a capturing stream ---- */

CUresult sd_capture_add(CUstream s, const sd_work_t *w)
{
    sd_capture_t *c = s->cap;
    if (c->invalidated)
        return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
    if (w->type == CU_GRAPH_NODE_TYPE_KERNEL) {
        simdev_launch_desc_t d;
        CUresult r = sd_work_describe(w, s->ctx->device, &d, NULL);
        if (r)
            return r;
    }
    size_t n = s->deps.n;
    CUgraphNode *nodes = sd_xcalloc(n ? n : 1, sizeof(*nodes));
    CUgraphEdgeData *data = sd_xcalloc(n ? n : 1, sizeof(*data));
    int programmatic = 0;
    if (w->type == CU_GRAPH_NODE_TYPE_KERNEL) {
        CUlaunchAttributeValue v;
        sd_kparams_get_attr(w->kp, CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION, &v);
        programmatic = v.programmaticStreamSerializationAllowed != 0;
    }
    for (size_t i = 0; i < n; i++) {
        nodes[i] = s->deps.v[i].node;
        data[i] = s->deps.v[i].data;
        /* A kernel launched with programmatic stream serialisation may overlap the kernel before
         * it in the stream: the captured edge says so. */
        if (programmatic && nodes[i]->w.type == CU_GRAPH_NODE_TYPE_KERNEL && sd_edge_is_default(&data[i])) {
            data[i].from_port = CU_GRAPH_KERNEL_NODE_PORT_PROGRAMMATIC;
            data[i].type = CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC;
        }
    }
    CUgraphNode node;
    CUresult r = sd_graph_add(c->graph, w, nodes, data, n, &node);
    free(nodes);
    free(data);
    if (r)
        return r;
    s->deps.n = 0;
    static const CUgraphEdgeData zero;
    sd_deps_add(&s->deps, node, &zero);
    return CUDA_SUCCESS;
}

void sd_capture_record_event(CUstream s, CUevent e)
{
    sd_op_unref(e->op);
    e->op = NULL;
    sd_vc_free(&e->vc);
    e->recorded = 1;
    e->cap = s->cap;
    e->cap_id = s->cap->id;
    e->cap_deps.n = 0;
    for (size_t i = 0; i < s->deps.n; i++)
        SD_VEC_PUSH(&e->cap_deps, s->deps.v[i]);
}

CUresult sd_capture_wait_event(CUstream s, CUevent e, unsigned flags)
{
    sd_capture_t *ec = sd_event_open_capture(e);
    if (ec) {
        if (!s->cap) {
            if (ec->invalidated)
                return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
            if (s->kind == SD_STREAM_LEGACY) {
                sd_capture_invalidate(ec);
                return CUDA_ERROR_STREAM_CAPTURE_IMPLICIT;
            }
            sd_capture_join_stream(ec, s); /* fork */
        } else if (s->cap != ec) {
            sd_capture_invalidate(s->cap);
            sd_capture_invalidate(ec);
            return CUDA_ERROR_STREAM_CAPTURE_MERGE;
        }
        if (ec->invalidated)
            return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
        for (size_t i = 0; i < e->cap_deps.n; i++)
            sd_deps_add(&s->deps, e->cap_deps.v[i].node, &e->cap_deps.v[i].data);
        return CUDA_SUCCESS;
    }
    /* A non-captured event and a capturing stream. */
    if (flags & CU_EVENT_WAIT_EXTERNAL) {
        sd_work_t w;
        memset(&w, 0, sizeof(w));
        w.type = CU_GRAPH_NODE_TYPE_WAIT_EVENT;
        w.event = e;
        return sd_capture_add(s, &w);
    }
    if (!e->recorded)
        return CUDA_SUCCESS; /* an empty set of work */
    sd_capture_invalidate(s->cap);
    return CUDA_ERROR_STREAM_CAPTURE_ISOLATION;
}

/* ---- capture sequences ---- */

static CUresult sd_capture_begin(CUstream h, int pt, CUgraph graph, const CUgraphNode *deps,
                                 const CUgraphEdgeData *edata, size_t ndeps, CUstreamCaptureMode mode)
{
    CUstream s;
    CUresult r = sd_stream_resolve(h, pt, &s);
    if (r)
        return r;
    if (mode != CU_STREAM_CAPTURE_MODE_GLOBAL && mode != CU_STREAM_CAPTURE_MODE_THREAD_LOCAL &&
        mode != CU_STREAM_CAPTURE_MODE_RELAXED)
        return CUDA_ERROR_INVALID_VALUE;
    if (s->kind == SD_STREAM_LEGACY)
        return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    if (s->cap)
        return CUDA_ERROR_ILLEGAL_STATE;
    if (graph) {
        if (!sd_graph_valid(graph) || graph->capturing || (ndeps && !deps))
            return CUDA_ERROR_INVALID_VALUE;
        for (size_t i = 0; i < ndeps; i++)
            if (!sd_node_valid(deps[i]) || deps[i]->graph != graph)
                return CUDA_ERROR_INVALID_VALUE;
    }
    sd_capture_t *c = sd_xcalloc(1, sizeof(*c));
    c->id = ++sd.next_capture_id;
    c->graph = graph ? graph : sd_graph_new(0);
    c->owns_graph = graph == NULL;
    c->graph->capturing = 1;
    c->mode = mode;
    c->thread = pthread_self();
    c->origin = s;
    c->next = sd.captures;
    sd.captures = c;
    sd_capture_join_stream(c, s);
    static const CUgraphEdgeData zero;
    for (size_t i = 0; i < ndeps; i++)
        sd_deps_add(&s->deps, deps[i], edata ? &edata[i] : &zero);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamBeginCapture(CUstream hStream)
{
    SD_API(cuStreamBeginCapture, sd_capture_begin(hStream, 0, NULL, NULL, NULL, 0, CU_STREAM_CAPTURE_MODE_GLOBAL));
}
CUresult CUDAAPI cuStreamBeginCapture_ptsz(CUstream hStream)
{
    SD_API(cuStreamBeginCapture_ptsz,
           sd_capture_begin(hStream, 1, NULL, NULL, NULL, 0, CU_STREAM_CAPTURE_MODE_GLOBAL));
}
CUresult CUDAAPI cuStreamBeginCapture_v2(CUstream hStream, CUstreamCaptureMode mode)
{
    SD_API(cuStreamBeginCapture_v2, sd_capture_begin(hStream, 0, NULL, NULL, NULL, 0, mode));
}
CUresult CUDAAPI cuStreamBeginCapture_v2_ptsz(CUstream hStream, CUstreamCaptureMode mode)
{
    SD_API(cuStreamBeginCapture_v2_ptsz, sd_capture_begin(hStream, 1, NULL, NULL, NULL, 0, mode));
}

static CUresult sd_capture_begin_to_graph(CUstream h, int pt, CUgraph g, const CUgraphNode *deps,
                                          const CUgraphEdgeData *edata, size_t n, CUstreamCaptureMode mode)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!g)
        return CUDA_ERROR_INVALID_VALUE;
    return sd_capture_begin(h, pt, g, deps, edata, n, mode);
}

CUresult CUDAAPI cuStreamBeginCaptureToGraph(CUstream hStream, CUgraph hGraph, const CUgraphNode *dependencies,
                                             const CUgraphEdgeData *dependencyData, size_t numDependencies,
                                             CUstreamCaptureMode mode)
{
    SD_API(cuStreamBeginCaptureToGraph,
           sd_capture_begin_to_graph(hStream, 0, hGraph, dependencies, dependencyData, numDependencies, mode));
}
CUresult CUDAAPI cuStreamBeginCaptureToGraph_ptsz(CUstream hStream, CUgraph hGraph,
                                                  const CUgraphNode *dependencies,
                                                  const CUgraphEdgeData *dependencyData,
                                                  size_t numDependencies, CUstreamCaptureMode mode)
{
    SD_API(cuStreamBeginCaptureToGraph_ptsz,
           sd_capture_begin_to_graph(hStream, 1, hGraph, dependencies, dependencyData, numDependencies, mode));
}

static void sd_capture_end(sd_capture_t *c)
{
    for (size_t i = 0; i < c->streams.n; i++) {
        c->streams.v[i]->cap = NULL;
        c->streams.v[i]->deps.n = 0;
    }
    for (sd_capture_t **p = &sd.captures; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    c->graph->capturing = 0;
    SD_VEC_FREE(&c->streams);
    free(c);
}

/* Every node in a forked stream's dependency set must be an ancestor of (or in) the origin's set:
 * otherwise that stream's work was never joined back. Ancestors are marked by a walk over
 * incoming edges. */
static int sd_capture_joined(sd_capture_t *c)
{
    static uint32_t epoch;
    epoch++;
    CUstream o = c->origin;
    SD_VEC(CUgraphNode) stack = {0};
    for (size_t i = 0; i < o->deps.n; i++)
        SD_VEC_PUSH(&stack, o->deps.v[i].node);
    while (stack.n) {
        CUgraphNode n = stack.v[--stack.n];
        if (n->mark == epoch)
            continue;
        n->mark = epoch;
        for (size_t i = 0; i < n->in.n; i++)
            SD_VEC_PUSH(&stack, n->in.v[i].node);
    }
    SD_VEC_FREE(&stack);
    for (size_t k = 0; k < c->streams.n; k++) {
        CUstream t = c->streams.v[k];
        for (size_t i = 0; t != o && i < t->deps.n; i++)
            if (t->deps.v[i].node->mark != epoch)
                return 0;
    }
    return 1;
}

static CUresult sd_capture_end_api(CUstream h, int pt, CUgraph *phGraph)
{
    CUstream s;
    CUresult r = sd_stream_resolve(h, pt, &s);
    if (r)
        return r;
    if (!phGraph)
        return CUDA_ERROR_INVALID_VALUE;
    sd_capture_t *c = s->cap;
    if (!c)
        return CUDA_ERROR_ILLEGAL_STATE;
    if (c->origin != s)
        return CUDA_ERROR_STREAM_CAPTURE_UNMATCHED;
    if (c->mode != CU_STREAM_CAPTURE_MODE_RELAXED && !pthread_equal(c->thread, pthread_self()))
        return CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD;
    CUgraph g = c->graph;
    /* A failed capture gives no graph. The graph of cuStreamBeginCaptureToGraph belongs to the
     * caller, who destroys it: it keeps the nodes captured so far. */
    int owned = c->owns_graph;
    if (c->invalidated) {
        sd_capture_end(c);
        if (owned)
            sd_graph_free(g);
        *phGraph = NULL;
        return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
    }
    if (!sd_capture_joined(c)) {
        sd_capture_end(c);
        if (owned)
            sd_graph_free(g);
        *phGraph = NULL;
        return CUDA_ERROR_STREAM_CAPTURE_UNJOINED;
    }
    sd_capture_end(c);
    *phGraph = g;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamEndCapture(CUstream hStream, CUgraph *phGraph)
{
    SD_API(cuStreamEndCapture, sd_capture_end_api(hStream, 0, phGraph));
}
CUresult CUDAAPI cuStreamEndCapture_ptsz(CUstream hStream, CUgraph *phGraph)
{
    SD_API(cuStreamEndCapture_ptsz, sd_capture_end_api(hStream, 1, phGraph));
}

/* The legacy stream cannot be asked about capture while a blocking stream of its context
 * captures (that capture is not invalidated by the question). */
static CUresult sd_capture_legacy_query(CUstream s)
{
    if (s->kind != SD_STREAM_LEGACY)
        return CUDA_SUCCESS;
    for (sd_capture_t *c = sd.captures; c; c = c->next)
        if (sd_capture_has_blocking(c, s->ctx))
            return CUDA_ERROR_STREAM_CAPTURE_IMPLICIT;
    return CUDA_SUCCESS;
}

static CUstreamCaptureStatus sd_capture_status(CUstream s)
{
    return !s->cap ? CU_STREAM_CAPTURE_STATUS_NONE
           : s->cap->invalidated ? CU_STREAM_CAPTURE_STATUS_INVALIDATED
                                 : CU_STREAM_CAPTURE_STATUS_ACTIVE;
}

static CUresult sd_is_capturing(CUstream h, int pt, CUstreamCaptureStatus *st)
{
    CUstream s;
    CUresult r = sd_stream_resolve(h, pt, &s);
    if (r)
        return r;
    if (!st)
        return CUDA_ERROR_INVALID_VALUE;
    if ((r = sd_capture_legacy_query(s)))
        return r;
    *st = sd_capture_status(s);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamIsCapturing(CUstream hStream, CUstreamCaptureStatus *captureStatus)
{
    SD_API(cuStreamIsCapturing, sd_is_capturing(hStream, 0, captureStatus));
}
CUresult CUDAAPI cuStreamIsCapturing_ptsz(CUstream hStream, CUstreamCaptureStatus *captureStatus)
{
    SD_API(cuStreamIsCapturing_ptsz, sd_is_capturing(hStream, 1, captureStatus));
}

static CUresult sd_capture_info(CUstream h, int pt, CUstreamCaptureStatus *st, cuuint64_t *id, CUgraph *graph,
                                const CUgraphNode **deps, const CUgraphEdgeData **edata, size_t *ndeps,
                                int has_edata)
{
    CUstream s;
    CUresult r = sd_stream_resolve(h, pt, &s);
    if (r)
        return r;
    if (!st || (has_edata && edata && !deps))
        return CUDA_ERROR_INVALID_VALUE;
    if ((r = sd_capture_legacy_query(s)))
        return r;
    *st = sd_capture_status(s);
    if (!s->cap)
        return CUDA_SUCCESS;
    /* Only a query for the dependencies themselves can lose their edge data. */
    if (deps && (!has_edata || !edata))
        for (size_t i = 0; i < s->deps.n; i++)
            if (!sd_edge_is_default(&s->deps.v[i].data))
                return CUDA_ERROR_LOSSY_QUERY;
    if (id)
        *id = s->cap->id;
    if (graph)
        *graph = s->cap->graph;
    /* Copies that stay valid until the next call on this stream, as CUDA promises. */
    s->info_nodes.n = 0;
    s->info_edata.n = 0;
    for (size_t i = 0; i < s->deps.n; i++) {
        SD_VEC_PUSH(&s->info_nodes, s->deps.v[i].node);
        SD_VEC_PUSH(&s->info_edata, s->deps.v[i].data);
    }
    if (deps)
        *deps = s->info_nodes.n ? s->info_nodes.v : NULL;
    if (has_edata && edata)
        *edata = s->info_edata.n ? s->info_edata.v : NULL;
    if (ndeps)
        *ndeps = s->deps.n;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamGetCaptureInfo(CUstream hStream, CUstreamCaptureStatus *captureStatus_out, cuuint64_t *id_out)
{
    SD_API(cuStreamGetCaptureInfo,
           sd_capture_info(hStream, 0, captureStatus_out, id_out, NULL, NULL, NULL, NULL, 0));
}
CUresult CUDAAPI cuStreamGetCaptureInfo_ptsz(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                             cuuint64_t *id_out)
{
    SD_API(cuStreamGetCaptureInfo_ptsz,
           sd_capture_info(hStream, 1, captureStatus_out, id_out, NULL, NULL, NULL, NULL, 0));
}
CUresult CUDAAPI cuStreamGetCaptureInfo_v2(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                           cuuint64_t *id_out, CUgraph *graph_out,
                                           const CUgraphNode **dependencies_out, size_t *numDependencies_out)
{
    SD_API(cuStreamGetCaptureInfo_v2, sd_capture_info(hStream, 0, captureStatus_out, id_out, graph_out,
                                                      dependencies_out, NULL, numDependencies_out, 0));
}
CUresult CUDAAPI cuStreamGetCaptureInfo_v2_ptsz(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                                cuuint64_t *id_out, CUgraph *graph_out,
                                                const CUgraphNode **dependencies_out,
                                                size_t *numDependencies_out)
{
    SD_API(cuStreamGetCaptureInfo_v2_ptsz, sd_capture_info(hStream, 1, captureStatus_out, id_out, graph_out,
                                                           dependencies_out, NULL, numDependencies_out, 0));
}
CUresult CUDAAPI cuStreamGetCaptureInfo_v3(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                           cuuint64_t *id_out, CUgraph *graph_out,
                                           const CUgraphNode **dependencies_out,
                                           const CUgraphEdgeData **edgeData_out, size_t *numDependencies_out)
{
    SD_API(cuStreamGetCaptureInfo_v3, sd_capture_info(hStream, 0, captureStatus_out, id_out, graph_out,
                                                      dependencies_out, edgeData_out, numDependencies_out, 1));
}
CUresult CUDAAPI cuStreamGetCaptureInfo_v3_ptsz(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                                cuuint64_t *id_out, CUgraph *graph_out,
                                                const CUgraphNode **dependencies_out,
                                                const CUgraphEdgeData **edgeData_out,
                                                size_t *numDependencies_out)
{
    SD_API(cuStreamGetCaptureInfo_v3_ptsz,
           sd_capture_info(hStream, 1, captureStatus_out, id_out, graph_out, dependencies_out, edgeData_out,
                           numDependencies_out, 1));
}

static CUresult sd_update_deps(CUstream h, int pt, CUgraphNode *deps, const CUgraphEdgeData *edata, size_t n,
                               unsigned flags)
{
    CUstream s;
    CUresult r = sd_stream_resolve(h, pt, &s);
    if (r)
        return r;
    if (!s->cap)
        return CUDA_ERROR_ILLEGAL_STATE;
    if (s->cap->invalidated)
        return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
    if ((n && !deps) || (flags != CU_STREAM_ADD_CAPTURE_DEPENDENCIES && flags != CU_STREAM_SET_CAPTURE_DEPENDENCIES))
        return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; i < n; i++)
        if (!sd_node_valid(deps[i]) || deps[i]->graph != s->cap->graph)
            return CUDA_ERROR_INVALID_VALUE;
    if (flags == CU_STREAM_SET_CAPTURE_DEPENDENCIES)
        s->deps.n = 0;
    static const CUgraphEdgeData zero;
    for (size_t i = 0; i < n; i++)
        sd_deps_add(&s->deps, deps[i], edata ? &edata[i] : &zero);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamUpdateCaptureDependencies(CUstream hStream, CUgraphNode *dependencies,
                                                   size_t numDependencies, unsigned int flags)
{
    SD_API(cuStreamUpdateCaptureDependencies, sd_update_deps(hStream, 0, dependencies, NULL, numDependencies, flags));
}
CUresult CUDAAPI cuStreamUpdateCaptureDependencies_ptsz(CUstream hStream, CUgraphNode *dependencies,
                                                        size_t numDependencies, unsigned int flags)
{
    SD_API(cuStreamUpdateCaptureDependencies_ptsz,
           sd_update_deps(hStream, 1, dependencies, NULL, numDependencies, flags));
}
CUresult CUDAAPI cuStreamUpdateCaptureDependencies_v2(CUstream hStream, CUgraphNode *dependencies,
                                                      const CUgraphEdgeData *dependencyData,
                                                      size_t numDependencies, unsigned int flags)
{
    SD_API(cuStreamUpdateCaptureDependencies_v2,
           sd_update_deps(hStream, 0, dependencies, dependencyData, numDependencies, flags));
}
CUresult CUDAAPI cuStreamUpdateCaptureDependencies_v2_ptsz(CUstream hStream, CUgraphNode *dependencies,
                                                           const CUgraphEdgeData *dependencyData,
                                                           size_t numDependencies, unsigned int flags)
{
    SD_API(cuStreamUpdateCaptureDependencies_v2_ptsz,
           sd_update_deps(hStream, 1, dependencies, dependencyData, numDependencies, flags));
}

static CUresult sd_exchange_mode(CUstreamCaptureMode *mode)
{
    if (!mode || (*mode != CU_STREAM_CAPTURE_MODE_GLOBAL && *mode != CU_STREAM_CAPTURE_MODE_THREAD_LOCAL &&
                  *mode != CU_STREAM_CAPTURE_MODE_RELAXED))
        return CUDA_ERROR_INVALID_VALUE;
    CUstreamCaptureMode old = sd_thread_mode;
    sd_thread_mode = *mode;
    *mode = old;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuThreadExchangeStreamCaptureMode(CUstreamCaptureMode *mode)
{
    SD_API(cuThreadExchangeStreamCaptureMode, sd_exchange_mode(mode));
}
