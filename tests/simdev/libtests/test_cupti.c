/* The replacement CUPTI on the simulated device: kernel activity records of a graph launch carry
 * the graph node ids and graph ids that cuptiGetGraphNodeId / cuptiGetGraphId report for the
 * graph's nodes, virtual start < end, names and correlation ids of the launching API call;
 * resource callbacks report graph and node creation; buffers are requested again when full;
 * eager launches have graph node id 0. */
#include <string.h>

#include <cublas_v2.h>
#include <cupti.h>

#include "simdev.h"
#include "simtest.h"

#define MAXREC 256

typedef struct {
    char name[96];
    uint64_t start, end, graph_node_id;
    uint32_t graph_id, correlation_id, stream_id;
} krec_t;

static krec_t g_recs[MAXREC];
static int g_nrecs, g_buffers_requested;
static size_t g_buffer_size = 3 * sizeof(CUpti_ActivityKernel10) + 16; /* forces several buffers */

static void CUPTIAPI buffer_requested(uint8_t **buffer, size_t *size, size_t *max_records)
{
    *buffer = aligned_alloc(8, (g_buffer_size + 7) & ~(size_t)7);
    *size = g_buffer_size;
    *max_records = 0;
    g_buffers_requested++;
}

static void CUPTIAPI buffer_completed(CUcontext ctx, uint32_t stream, uint8_t *buffer, size_t size,
                                      size_t valid)
{
    (void)ctx;
    (void)stream;
    (void)size;
    CUpti_Activity *rec = NULL;
    while (cuptiActivityGetNextRecord(buffer, valid, &rec) == CUPTI_SUCCESS) {
        if (rec->kind != CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL || g_nrecs >= MAXREC)
            continue;
        const CUpti_ActivityKernel10 *k = (const CUpti_ActivityKernel10 *)rec;
        krec_t *r = &g_recs[g_nrecs++];
        snprintf(r->name, sizeof r->name, "%s", k->name ? k->name : "");
        r->start = k->start;
        r->end = k->end;
        r->graph_node_id = k->graphNodeId;
        r->graph_id = k->graphId;
        r->correlation_id = k->correlationId;
        r->stream_id = k->streamId;
    }
    free(buffer);
}

/* Callback bookkeeping. */
static int g_graph_created, g_nodes_created, g_exec_created;
static CUgraphNode g_created_nodes[64];
static uint32_t g_launch_corr[64];
static int g_nlaunch_corr;
static uint32_t g_kernel_corr[64];
static int g_nkernel_corr;
static int g_bad_enter_exit;

static void CUPTIAPI on_callback(void *user, CUpti_CallbackDomain domain, CUpti_CallbackId cbid,
                                 const void *data)
{
    (void)user;
    if (domain == CUPTI_CB_DOMAIN_RESOURCE) {
        const CUpti_ResourceData *r = data;
        const CUpti_GraphData *g = r->resourceDescriptor;
        if (cbid == CUPTI_CBID_RESOURCE_GRAPH_CREATED)
            g_graph_created++;
        else if (cbid == CUPTI_CBID_RESOURCE_GRAPHNODE_CREATED && g_nodes_created < 64)
            g_created_nodes[g_nodes_created++] = g->node;
        else if (cbid == CUPTI_CBID_RESOURCE_GRAPHEXEC_CREATED)
            g_exec_created++;
        return;
    }
    if (domain != CUPTI_CB_DOMAIN_DRIVER_API)
        return;
    const CUpti_CallbackData *d = data;
    /* correlationData carries a value from enter to exit of one call */
    if (d->callbackSite == CUPTI_API_ENTER)
        *d->correlationData = 0x1234500000000ull + d->correlationId;
    else if (*d->correlationData != 0x1234500000000ull + d->correlationId)
        g_bad_enter_exit++;
    if (d->callbackSite != CUPTI_API_EXIT)
        return;
    if (cbid == CUPTI_DRIVER_TRACE_CBID_cuGraphLaunch && g_nlaunch_corr < 64)
        g_launch_corr[g_nlaunch_corr++] = d->correlationId;
    if ((cbid == CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel || cbid == CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel_ptsz) &&
        g_nkernel_corr < 64)
        g_kernel_corr[g_nkernel_corr++] = d->correlationId;
}

static int in_list(uint32_t v, const uint32_t *l, int n)
{
    for (int i = 0; i < n; i++)
        if (l[i] == v)
            return 1;
    return 0;
}

int main(void)
{
    st_cuda_init(0);
    const char *s = NULL;
    ST_CHECK(cuptiGetResultString(CUPTI_ERROR_INVALID_KIND, &s) == CUPTI_SUCCESS && s &&
             strcmp(s, "CUPTI_ERROR_INVALID_KIND") == 0, "result string");
    ST_CHECK(cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed) == CUPTI_SUCCESS,
             "register buffer callbacks");
    ST_CHECK(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) == CUPTI_SUCCESS, "enable kernels");
    ST_CHECK(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_PC_SAMPLING) != CUPTI_SUCCESS,
             "an unsupported activity kind was accepted");
    CUpti_SubscriberHandle sub;
    ST_CHECK(cuptiSubscribe(&sub, on_callback, NULL) == CUPTI_SUCCESS, "subscribe");
    CUpti_SubscriberHandle sub2;
    ST_CHECK(cuptiSubscribe(&sub2, on_callback, NULL) == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED,
             "second subscriber accepted");
    ST_CHECK(cuptiEnableDomain(1, sub, CUPTI_CB_DOMAIN_RESOURCE) == CUPTI_SUCCESS, "enable resource domain");
    ST_CHECK(cuptiEnableCallback(1, sub, CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_cuGraphLaunch) ==
             CUPTI_SUCCESS, "enable cuGraphLaunch callback");
    cuptiEnableCallback(1, sub, CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel);
    cuptiEnableCallback(1, sub, CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel_ptsz);
    uint32_t on = 0;
    ST_CHECK(cuptiGetCallbackState(&on, sub, CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_cuGraphLaunch) ==
             CUPTI_SUCCESS && on == 1, "callback state");

    CUstream st;
    ST_CU(cuStreamCreate(&st, CU_STREAM_DEFAULT));
    cublasHandle_t h;
    ST_CHECK(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS, "cublasCreate");
    cublasSetStream(h, st);
    int n = 64;
    CUdeviceptr a, b, c;
    ST_CU(cuMemAlloc(&a, (size_t)n * n * 4));
    ST_CU(cuMemAlloc(&b, (size_t)n * n * 4));
    ST_CU(cuMemAlloc(&c, (size_t)n * n * 4));
    ST_CU(cuMemsetD32(a, 0, (size_t)n * n));
    ST_CU(cuMemsetD32(b, 0, (size_t)n * n));
    float one = 1, zero = 0;
    float *pa = (float *)(uintptr_t)a, *pb = (float *)(uintptr_t)b, *pc = (float *)(uintptr_t)c;

    /* A graph of two GEMMs (C = A B, then A = C B) by capture. */
    CUgraph g;
    CUgraphExec ge;
    ST_CU(cuStreamBeginCapture(st, CU_STREAM_CAPTURE_MODE_GLOBAL));
    cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, pa, n, pb, n, &zero, pc, n);
    cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, n, n, n, &one, pc, n, pb, n, &zero, pa, n);
    ST_CU(cuStreamEndCapture(st, &g));
    ST_CHECK(g_graph_created >= 1, "no graph-created callback");
    ST_CHECK(g_nodes_created == 2, "%d node-created callbacks, want 2", g_nodes_created);
    CUgraphNode nodes[2];
    size_t nn = 2;
    ST_CU(cuGraphGetNodes(g, nodes, &nn));
    uint64_t ids[2] = { 0, 0 };
    for (size_t i = 0; i < nn && i < 2; i++) {
        ST_CHECK(cuptiGetGraphNodeId(nodes[i], &ids[i]) == CUPTI_SUCCESS && ids[i] != 0, "node id");
        int seen = 0;
        for (int j = 0; j < g_nodes_created; j++)
            seen |= g_created_nodes[j] == nodes[i];
        ST_CHECK(seen, "node %zu had no node-created callback", i);
    }
    ST_CHECK(ids[0] != ids[1], "two nodes with one id");
    uint32_t gid = 0;
    ST_CHECK(cuptiGetGraphId(g, &gid) == CUPTI_SUCCESS && gid != 0, "graph id");
    ST_CU(cuGraphInstantiate(&ge, g, 0));
    ST_CHECK(g_exec_created == 1, "%d exec-created callbacks, want 1", g_exec_created);
    uint32_t geid = 0;
    ST_CHECK(cuptiGetGraphExecId(ge, &geid) == CUPTI_SUCCESS && geid != 0, "graph exec id");
    ST_CU(cuGraphLaunch(ge, st));
    ST_CU(cuGraphLaunch(ge, st));
    /* and one eager GEMM */
    cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, pa, n, pb, n, &zero, pc, n);
    ST_CU(cuStreamSynchronize(st));
    uint64_t now = 0;
    ST_CHECK(cuptiGetTimestamp(&now) == CUPTI_SUCCESS, "timestamp");
    ST_CHECK(cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED) == CUPTI_SUCCESS, "flush");

    ST_CHECK(g_nrecs == 5, "%d kernel records, want 5", g_nrecs);
    ST_CHECK(g_buffers_requested >= 2, "%d buffers requested, want >= 2 (3 records fit one)",
             g_buffers_requested);
    ST_CHECK(g_nlaunch_corr == 2, "%d cuGraphLaunch callbacks, want 2", g_nlaunch_corr);
    ST_CHECK(g_bad_enter_exit == 0, "correlationData not kept from enter to exit (%d)", g_bad_enter_exit);
    int in_graph = 0, eager = 0;
    for (int i = 0; i < g_nrecs; i++) {
        krec_t *r = &g_recs[i];
        ST_CHECK(r->start < r->end, "record %d: start %llu !< end %llu", i, (unsigned long long)r->start,
                 (unsigned long long)r->end);
        ST_CHECK(r->end <= now, "record %d ends at %llu after the host's virtual now %llu", i,
                 (unsigned long long)r->end, (unsigned long long)now);
        ST_CHECK(strstr(r->name, "sgemm_64x64_n") != NULL, "record %d: name %s", i, r->name);
        if (r->graph_node_id) {
            in_graph++;
            ST_CHECK(r->graph_node_id == ids[0] || r->graph_node_id == ids[1],
                     "record %d: graph node id %llu is not a node of the graph (%llu, %llu)", i,
                     (unsigned long long)r->graph_node_id, (unsigned long long)ids[0],
                     (unsigned long long)ids[1]);
            ST_CHECK(r->graph_id == gid, "record %d: graph id %u, want %u", i, r->graph_id, gid);
            ST_CHECK(in_list(r->correlation_id, g_launch_corr, g_nlaunch_corr),
                     "record %d: correlation id %u is not that of a cuGraphLaunch", i, r->correlation_id);
        } else {
            eager++;
            ST_CHECK(r->graph_id == 0, "eager record with graph id %u", r->graph_id);
            ST_CHECK(in_list(r->correlation_id, g_kernel_corr, g_nkernel_corr),
                     "eager record: correlation id %u is not that of a cuLaunchKernel", r->correlation_id);
        }
        if (i > 0)
            ST_CHECK(r->start >= g_recs[i - 1].end, "records %d and %d overlap on one stream", i - 1, i);
    }
    ST_CHECK(in_graph == 4 && eager == 1, "%d graph records and %d eager, want 4 and 1", in_graph, eager);
    /* Both nodes ran in each launch, in dependency order. */
    if (g_nrecs >= 4)
        ST_CHECK(g_recs[0].graph_node_id != g_recs[1].graph_node_id &&
                 g_recs[0].graph_node_id == g_recs[2].graph_node_id, "node order across replays");

    ST_CHECK(cuptiUnsubscribe(sub) == CUPTI_SUCCESS, "unsubscribe");
    cuGraphExecDestroy(ge);
    cuGraphDestroy(g);
    cublasDestroy(h);
    ST_CHECK(cuptiFinalize() == CUPTI_SUCCESS, "finalize");
    return st_summary();
}
