/* Replacement libcupti.so.13 (subset): the activity API for kernels, memcpys and memsets, and the
 * callback API for the resource domain (graphs, graph nodes, graph execs) and the driver-API
 * domain, on the simulated device.
 *
 * Activity: the simulated driver reports every finished operation (simdev_activity_subscribe)
 * with virtual start / end times; records of enabled kinds are kept in a compact queue and
 * written into the program's buffers as CUDA 13 records (CUpti_ActivityKernel10,
 * CUpti_ActivityMemcpy6, CUpti_ActivityMemset4) when it calls cuptiActivityFlushAll /
 * cuptiActivityFlush. Buffers are requested and completed on the flushing thread, never from
 * inside the driver, so the program's callbacks may call CUDA freely.
 *
 * Callbacks: the driver's notifications (simdev_event_subscribe) become CUPTI callbacks with the
 * real callback ids (driver-API ids come from cupti_driver_cbid.h at build time). They run on the
 * calling thread inside the driver: as the driver requires, a callback must not call the CUDA
 * driver API. Limits: CUpti_CallbackData.functionParams and symbolName are NULL, context is NULL;
 * CUpti_GraphData.nodeType is not reported (0).
 *
 * Timestamps (records and cuptiGetTimestamp) are the device's virtual time in ns. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda.h>
#include <cupti.h>

#include "simdev.h"

#define API __attribute__((visibility("default")))

/* ------------------------------------------------------------------------------------------ */
/* Driver callback ids, by exported symbol name */

typedef struct {
    const char *name;
    unsigned id;
} cbid_t;

static cbid_t g_cbids[] = {
#include "simcupti_cbid.inc"
};
#define NCBIDS (sizeof g_cbids / sizeof g_cbids[0])
#define MAX_DRIVER_CBID 2048

static int cbid_cmp(const void *a, const void *b)
{
    return strcmp(((const cbid_t *)a)->name, ((const cbid_t *)b)->name);
}

static pthread_once_t g_cbid_once = PTHREAD_ONCE_INIT;

static void cbid_sort(void)
{
    qsort(g_cbids, NCBIDS, sizeof g_cbids[0], cbid_cmp);
}

static unsigned cbid_of(const char *name)
{
    if (!name)
        return 0;
    pthread_once(&g_cbid_once, cbid_sort);
    cbid_t key = { name, 0 };
    const cbid_t *r = bsearch(&key, g_cbids, NCBIDS, sizeof g_cbids[0], cbid_cmp);
    return r ? r->id : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* State */

struct CUpti_Subscriber_st {
    CUpti_CallbackFunc fn;
    void *user;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct CUpti_Subscriber_st *g_sub;
static int g_event_handle = -1;
static uint8_t g_en_driver[MAX_DRIVER_CBID];
static uint8_t g_en_resource[CUPTI_CBID_RESOURCE_SIZE];
static __thread CUptiResult t_last_error = CUPTI_SUCCESS;

static CUptiResult fail(CUptiResult r)
{
    t_last_error = r;
    return r;
}

typedef struct {
    int kind;            /* CUpti_ActivityKind of the record */
    const char *name;    /* interned */
    uint64_t start, end;
    uint32_t stream_id, context_id, device;
    uint64_t correlation_id;
    uint64_t graph_id, graph_node_id;
    uint64_t bytes;
    int copy_kind;
} rec_t;

static int g_act_handle = -1;
static uint8_t g_kind_on[CUPTI_ACTIVITY_KIND_COUNT];
static rec_t *g_q;
static size_t g_qn, g_qcap, g_dropped, g_qmax = 2000000;
static CUpti_BuffersCallbackRequestFunc g_req;
static CUpti_BuffersCallbackCompleteFunc g_done;
static pthread_mutex_t g_flush_lock = PTHREAD_MUTEX_INITIALIZER;

/* Interned names: activity records point at them until the process ends. */
static char **g_names;
static size_t g_nnames, g_names_cap;

static const char *intern(const char *s)
{
    if (!s)
        return "<unnamed>";
    for (size_t i = g_nnames; i-- > 0;) /* few distinct names; recent ones first */
        if (strcmp(g_names[i], s) == 0)
            return g_names[i];
    if (g_nnames == g_names_cap) {
        size_t cap = g_names_cap ? 2 * g_names_cap : 64;
        char **n = realloc(g_names, cap * sizeof *n);
        if (!n)
            return "<unnamed>";
        g_names = n;
        g_names_cap = cap;
    }
    char *c = strdup(s);
    if (!c)
        return "<unnamed>";
    g_names[g_nnames++] = c;
    return c;
}

static uint64_t to_ns(double us)
{
    return us <= 0 ? 0 : (uint64_t)(us * 1000.0 + 0.5);
}

static void on_activity(const simdev_activity_t *a, void *user)
{
    (void)user;
    int kind;
    if (a->kind == 0)
        kind = g_kind_on[CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL] ? CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL
               : g_kind_on[CUPTI_ACTIVITY_KIND_KERNEL] ? CUPTI_ACTIVITY_KIND_KERNEL : -1;
    else if (a->kind == 1)
        kind = g_kind_on[CUPTI_ACTIVITY_KIND_MEMCPY] ? CUPTI_ACTIVITY_KIND_MEMCPY : -1;
    else if (a->kind == 2)
        kind = g_kind_on[CUPTI_ACTIVITY_KIND_MEMSET] ? CUPTI_ACTIVITY_KIND_MEMSET : -1;
    else
        kind = -1;
    if (kind < 0)
        return;
    pthread_mutex_lock(&g_lock);
    if (g_qn >= g_qmax) {
        g_dropped++;
        pthread_mutex_unlock(&g_lock);
        return;
    }
    if (g_qn == g_qcap) {
        size_t cap = g_qcap ? 2 * g_qcap : 1024;
        rec_t *n = realloc(g_q, cap * sizeof *n);
        if (!n) {
            g_dropped++;
            pthread_mutex_unlock(&g_lock);
            return;
        }
        g_q = n;
        g_qcap = cap;
    }
    rec_t *r = &g_q[g_qn++];
    r->kind = kind;
    r->name = a->kind == 0 ? intern(a->name) : NULL;
    r->start = to_ns(a->start_us);
    r->end = to_ns(a->end_us);
    if (r->end < r->start)
        r->end = r->start;
    r->stream_id = a->stream_id;
    r->context_id = a->context_id;
    r->device = (uint32_t)a->device;
    r->correlation_id = a->correlation_id;
    r->graph_id = a->graph_id;
    r->graph_node_id = a->graph_node_id;
    r->bytes = a->bytes;
    r->copy_kind = a->copy_kind;
    pthread_mutex_unlock(&g_lock);
}

/* ------------------------------------------------------------------------------------------ */
/* Callbacks */

#define CORR_DEPTH 16
static __thread uint64_t t_corr[CORR_DEPTH];
static __thread int t_corr_depth;

static int resource_cbid(simdev_event_kind_t k)
{
    switch (k) {
    case SIMDEV_EV_GRAPH_CREATED: return CUPTI_CBID_RESOURCE_GRAPH_CREATED;
    case SIMDEV_EV_GRAPH_CLONED: return CUPTI_CBID_RESOURCE_GRAPH_CLONED;
    case SIMDEV_EV_GRAPH_DESTROY: return CUPTI_CBID_RESOURCE_GRAPH_DESTROY_STARTING;
    case SIMDEV_EV_NODE_CREATED: return CUPTI_CBID_RESOURCE_GRAPHNODE_CREATED;
    case SIMDEV_EV_NODE_CLONED: return CUPTI_CBID_RESOURCE_GRAPHNODE_CLONED;
    case SIMDEV_EV_NODE_DESTROY: return CUPTI_CBID_RESOURCE_GRAPHNODE_DESTROY_STARTING;
    case SIMDEV_EV_EXEC_CREATED: return CUPTI_CBID_RESOURCE_GRAPHEXEC_CREATED;
    case SIMDEV_EV_EXEC_DESTROY: return CUPTI_CBID_RESOURCE_GRAPHEXEC_DESTROY_STARTING;
    default: return 0;
    }
}

static void on_event(const simdev_event_t *e, void *user)
{
    (void)user;
    pthread_mutex_lock(&g_lock);
    struct CUpti_Subscriber_st *sub = g_sub;
    CUpti_CallbackFunc fn = sub ? sub->fn : NULL;
    void *ud = sub ? sub->user : NULL;
    int on = 0;
    unsigned cbid = 0;
    if (fn && (e->kind == SIMDEV_EV_API_ENTER || e->kind == SIMDEV_EV_API_EXIT)) {
        cbid = cbid_of(e->name);
        on = cbid && cbid < MAX_DRIVER_CBID && g_en_driver[cbid];
    } else if (fn) {
        cbid = (unsigned)resource_cbid(e->kind);
        on = cbid && g_en_resource[cbid];
    }
    pthread_mutex_unlock(&g_lock);
    if (!on)
        return;
    if (e->kind == SIMDEV_EV_API_ENTER || e->kind == SIMDEV_EV_API_EXIT) {
        int enter = e->kind == SIMDEV_EV_API_ENTER;
        if (enter && t_corr_depth < CORR_DEPTH)
            t_corr[t_corr_depth] = 0;
        int slot = enter ? t_corr_depth : t_corr_depth - 1;
        if (slot < 0)
            slot = 0;
        if (slot >= CORR_DEPTH)
            slot = CORR_DEPTH - 1;
        CUresult result = (CUresult)e->result;
        CUpti_CallbackData d;
        memset(&d, 0, sizeof d);
        d.callbackSite = enter ? CUPTI_API_ENTER : CUPTI_API_EXIT;
        d.functionName = e->name;
        d.functionReturnValue = enter ? NULL : &result;
        d.correlationData = &t_corr[slot];
        d.correlationId = (uint32_t)e->correlation_id;
        if (enter)
            t_corr_depth++;
        fn(ud, CUPTI_CB_DOMAIN_DRIVER_API, cbid, &d);
        if (!enter && t_corr_depth > 0)
            t_corr_depth--;
        return;
    }
    CUpti_GraphData g;
    memset(&g, 0, sizeof g);
    g.graph = (CUgraph)e->graph;
    g.originalGraph = (CUgraph)e->orig_graph;
    g.node = (CUgraphNode)e->node;
    g.originalNode = (CUgraphNode)e->orig_node;
    g.graphExec = (CUgraphExec)e->exec;
    CUpti_ResourceData r;
    memset(&r, 0, sizeof r);
    r.resourceDescriptor = &g;
    fn(ud, CUPTI_CB_DOMAIN_RESOURCE, cbid, &r);
}

API CUptiResult cuptiSubscribe(CUpti_SubscriberHandle *subscriber, CUpti_CallbackFunc callback,
                               void *userdata)
{
    if (!subscriber)
        return fail(CUPTI_ERROR_INVALID_PARAMETER);
    pthread_mutex_lock(&g_lock);
    if (g_sub) {
        pthread_mutex_unlock(&g_lock);
        return fail(CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED);
    }
    struct CUpti_Subscriber_st *s = calloc(1, sizeof *s);
    if (!s) {
        pthread_mutex_unlock(&g_lock);
        return fail(CUPTI_ERROR_OUT_OF_MEMORY);
    }
    s->fn = callback;
    s->user = userdata;
    g_sub = s;
    memset(g_en_driver, 0, sizeof g_en_driver);
    memset(g_en_resource, 0, sizeof g_en_resource);
    int need = g_event_handle < 0;
    pthread_mutex_unlock(&g_lock);
    if (need) {
        int h = simdev_event_subscribe(on_event, NULL);
        pthread_mutex_lock(&g_lock);
        g_event_handle = h;
        pthread_mutex_unlock(&g_lock);
    }
    *subscriber = s;
    return CUPTI_SUCCESS;
}

API CUptiResult cuptiSubscribe_v2(CUpti_SubscriberHandle *subscriber, CUpti_CallbackFunc callback,
                                  void *userdata, CUpti_SubscriberParams *pParams)
{
    (void)pParams;
    return cuptiSubscribe(subscriber, callback, userdata);
}

API CUptiResult cuptiUnsubscribe(CUpti_SubscriberHandle subscriber)
{
    pthread_mutex_lock(&g_lock);
    if (!subscriber || subscriber != g_sub) {
        pthread_mutex_unlock(&g_lock);
        return fail(CUPTI_ERROR_INVALID_PARAMETER);
    }
    g_sub = NULL;
    int h = g_event_handle;
    g_event_handle = -1;
    pthread_mutex_unlock(&g_lock);
    if (h >= 0)
        simdev_event_unsubscribe(h);
    free(subscriber);
    return CUPTI_SUCCESS;
}

static CUptiResult enable_one(uint32_t enable, CUpti_CallbackDomain domain, CUpti_CallbackId cbid)
{
    if (domain == CUPTI_CB_DOMAIN_DRIVER_API && cbid < MAX_DRIVER_CBID) {
        g_en_driver[cbid] = enable != 0;
        return CUPTI_SUCCESS;
    }
    if (domain == CUPTI_CB_DOMAIN_RESOURCE && cbid < CUPTI_CBID_RESOURCE_SIZE) {
        g_en_resource[cbid] = enable != 0;
        return CUPTI_SUCCESS;
    }
    if (domain == CUPTI_CB_DOMAIN_DRIVER_API || domain == CUPTI_CB_DOMAIN_RESOURCE)
        return CUPTI_ERROR_INVALID_PARAMETER;
    return CUPTI_ERROR_NOT_SUPPORTED;
}

API CUptiResult cuptiEnableCallback(uint32_t enable, CUpti_SubscriberHandle subscriber,
                                    CUpti_CallbackDomain domain, CUpti_CallbackId cbid)
{
    pthread_mutex_lock(&g_lock);
    CUptiResult r = subscriber && subscriber == g_sub ? enable_one(enable, domain, cbid)
                                                      : CUPTI_ERROR_INVALID_PARAMETER;
    pthread_mutex_unlock(&g_lock);
    if (r == CUPTI_ERROR_NOT_SUPPORTED)
        fprintf(stderr, "simcupti: callbacks of domain %d are not supported\n", (int)domain);
    return r == CUPTI_SUCCESS ? r : fail(r);
}

API CUptiResult cuptiEnableDomain(uint32_t enable, CUpti_SubscriberHandle subscriber,
                                  CUpti_CallbackDomain domain)
{
    pthread_mutex_lock(&g_lock);
    CUptiResult r = CUPTI_SUCCESS;
    if (!subscriber || subscriber != g_sub)
        r = CUPTI_ERROR_INVALID_PARAMETER;
    else if (domain == CUPTI_CB_DOMAIN_DRIVER_API)
        memset(g_en_driver, enable != 0, sizeof g_en_driver);
    else if (domain == CUPTI_CB_DOMAIN_RESOURCE)
        memset(g_en_resource, enable != 0, sizeof g_en_resource);
    else
        r = CUPTI_ERROR_NOT_SUPPORTED;
    pthread_mutex_unlock(&g_lock);
    if (r == CUPTI_ERROR_NOT_SUPPORTED)
        fprintf(stderr, "simcupti: callbacks of domain %d are not supported\n", (int)domain);
    return r == CUPTI_SUCCESS ? r : fail(r);
}

API CUptiResult cuptiEnableAllDomains(uint32_t enable, CUpti_SubscriberHandle subscriber)
{
    CUptiResult r = cuptiEnableDomain(enable, subscriber, CUPTI_CB_DOMAIN_DRIVER_API);
    if (r == CUPTI_SUCCESS)
        r = cuptiEnableDomain(enable, subscriber, CUPTI_CB_DOMAIN_RESOURCE);
    return r;
}

API CUptiResult cuptiGetCallbackState(uint32_t *enable, CUpti_SubscriberHandle subscriber,
                                      CUpti_CallbackDomain domain, CUpti_CallbackId cbid)
{
    if (!enable || !subscriber || subscriber != g_sub)
        return fail(CUPTI_ERROR_INVALID_PARAMETER);
    if (domain == CUPTI_CB_DOMAIN_DRIVER_API && cbid < MAX_DRIVER_CBID)
        *enable = g_en_driver[cbid];
    else if (domain == CUPTI_CB_DOMAIN_RESOURCE && cbid < CUPTI_CBID_RESOURCE_SIZE)
        *enable = g_en_resource[cbid];
    else
        return fail(CUPTI_ERROR_INVALID_PARAMETER);
    return CUPTI_SUCCESS;
}

API CUptiResult cuptiSupportedDomains(size_t *domainCount, CUpti_DomainTable *domainTable)
{
    static CUpti_CallbackDomain domains[] = { CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_CB_DOMAIN_RESOURCE };
    if (!domainCount || !domainTable)
        return fail(CUPTI_ERROR_INVALID_PARAMETER);
    *domainCount = 2;
    *domainTable = domains;
    return CUPTI_SUCCESS;
}

API CUptiResult cuptiGetCallbackName(CUpti_CallbackDomain domain, uint32_t cbid, const char **name)
{
    if (!name)
        return fail(CUPTI_ERROR_INVALID_PARAMETER);
    if (domain == CUPTI_CB_DOMAIN_DRIVER_API) {
        for (size_t i = 0; i < NCBIDS; i++) {
            if (g_cbids[i].id == cbid) {
                *name = g_cbids[i].name;
                return CUPTI_SUCCESS;
            }
        }
    }
    return fail(CUPTI_ERROR_INVALID_PARAMETER);
}

/* ------------------------------------------------------------------------------------------ */
/* Activity */

static int kind_supported(CUpti_ActivityKind k)
{
    return k == CUPTI_ACTIVITY_KIND_KERNEL || k == CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL ||
           k == CUPTI_ACTIVITY_KIND_MEMCPY || k == CUPTI_ACTIVITY_KIND_MEMSET;
}

API CUptiResult cuptiActivityEnable(CUpti_ActivityKind kind)
{
    if ((int)kind < 0 || kind >= CUPTI_ACTIVITY_KIND_COUNT)
        return fail(CUPTI_ERROR_INVALID_KIND);
    if (!kind_supported(kind)) {
        fprintf(stderr, "simcupti: activity kind %d is not supported (kernel, concurrent kernel, "
                "memcpy and memset are)\n", (int)kind);
        return fail(CUPTI_ERROR_NOT_SUPPORTED);
    }
    pthread_mutex_lock(&g_lock);
    g_kind_on[kind] = 1;
    int need = g_act_handle < 0;
    pthread_mutex_unlock(&g_lock);
    if (need) {
        int h = simdev_activity_subscribe(on_activity, NULL);
        if (h < 0)
            return fail(CUPTI_ERROR_NOT_INITIALIZED);
        pthread_mutex_lock(&g_lock);
        if (g_act_handle < 0)
            g_act_handle = h;
        else
            need = 0;
        pthread_mutex_unlock(&g_lock);
        if (!need)
            simdev_activity_unsubscribe(h);
    }
    return CUPTI_SUCCESS;
}

API CUptiResult cuptiActivityEnableAndDump(CUpti_ActivityKind kind)
{
    return cuptiActivityEnable(kind);
}

API CUptiResult cuptiActivityDisable(CUpti_ActivityKind kind)
{
    if ((int)kind < 0 || kind >= CUPTI_ACTIVITY_KIND_COUNT)
        return fail(CUPTI_ERROR_INVALID_KIND);
    pthread_mutex_lock(&g_lock);
    g_kind_on[kind] = 0;
    pthread_mutex_unlock(&g_lock);
    return CUPTI_SUCCESS;
}

API CUptiResult cuptiActivityEnableContext(CUcontext context, CUpti_ActivityKind kind)
{
    (void)context;
    return cuptiActivityEnable(kind);
}

API CUptiResult cuptiActivityDisableContext(CUcontext context, CUpti_ActivityKind kind)
{
    (void)context;
    return cuptiActivityDisable(kind);
}

API CUptiResult cuptiActivityRegisterCallbacks(CUpti_BuffersCallbackRequestFunc funcBufferRequested,
                                               CUpti_BuffersCallbackCompleteFunc funcBufferCompleted)
{
    if (!funcBufferRequested || !funcBufferCompleted)
        return fail(CUPTI_ERROR_INVALID_PARAMETER);
    pthread_mutex_lock(&g_lock);
    g_req = funcBufferRequested;
    g_done = funcBufferCompleted;
    pthread_mutex_unlock(&g_lock);
    return CUPTI_SUCCESS;
}

static size_t rec_size(int kind)
{
    switch (kind) {
    case CUPTI_ACTIVITY_KIND_KERNEL:
    case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL: return sizeof(CUpti_ActivityKernel10);
    case CUPTI_ACTIVITY_KIND_MEMCPY: return sizeof(CUpti_ActivityMemcpy6);
    case CUPTI_ACTIVITY_KIND_MEMSET: return sizeof(CUpti_ActivityMemset4);
    default: return 0;
    }
}

static size_t align8(size_t v)
{
    return (v + 7) & ~(size_t)7;
}

static void write_record(uint8_t *dst, const rec_t *r)
{
    if (r->kind == CUPTI_ACTIVITY_KIND_MEMCPY) {
        CUpti_ActivityMemcpy6 m;
        memset(&m, 0, sizeof m);
        m.kind = CUPTI_ACTIVITY_KIND_MEMCPY;
        m.copyKind = (uint8_t)r->copy_kind;
        m.bytes = r->bytes;
        m.start = r->start;
        m.end = r->end;
        m.deviceId = r->device;
        m.contextId = r->context_id;
        m.streamId = r->stream_id;
        m.correlationId = (uint32_t)r->correlation_id;
        m.graphNodeId = r->graph_node_id;
        m.graphId = (uint32_t)r->graph_id;
        m.copyCount = 1;
        memcpy(dst, &m, sizeof m);
    } else if (r->kind == CUPTI_ACTIVITY_KIND_MEMSET) {
        CUpti_ActivityMemset4 m;
        memset(&m, 0, sizeof m);
        m.kind = CUPTI_ACTIVITY_KIND_MEMSET;
        m.bytes = r->bytes;
        m.start = r->start;
        m.end = r->end;
        m.deviceId = r->device;
        m.contextId = r->context_id;
        m.streamId = r->stream_id;
        m.correlationId = (uint32_t)r->correlation_id;
        m.graphNodeId = r->graph_node_id;
        m.graphId = (uint32_t)r->graph_id;
        memcpy(dst, &m, sizeof m);
    } else {
        CUpti_ActivityKernel10 k;
        memset(&k, 0, sizeof k);
        k.kind = (CUpti_ActivityKind)r->kind;
        k.start = r->start;
        k.end = r->end;
        k.completed = r->end;
        k.deviceId = r->device;
        k.contextId = r->context_id;
        k.streamId = r->stream_id;
        k.correlationId = (uint32_t)r->correlation_id;
        k.name = r->name;
        k.graphNodeId = r->graph_node_id;
        k.graphId = (uint32_t)r->graph_id;
        k.channelType = CUPTI_CHANNEL_TYPE_COMPUTE;
        memcpy(dst, &k, sizeof k);
    }
}

/* Hand every queued record to the program's buffers. */
static CUptiResult flush_all(void)
{
    pthread_mutex_lock(&g_flush_lock);
    pthread_mutex_lock(&g_lock);
    CUpti_BuffersCallbackRequestFunc req = g_req;
    CUpti_BuffersCallbackCompleteFunc done = g_done;
    rec_t *q = NULL;
    size_t n = 0;
    if (req && done) {
        q = g_q;
        n = g_qn;
        g_q = NULL;
        g_qn = g_qcap = 0;
    }
    pthread_mutex_unlock(&g_lock);
    size_t i = 0;
    while (i < n) {
        uint8_t *buf = NULL;
        size_t size = 0, maxrec = 0;
        req(&buf, &size, &maxrec);
        if (!buf || size < rec_size(q[i].kind)) {
            /* No room offered: the rest is dropped, as CUPTI drops records without buffers. */
            pthread_mutex_lock(&g_lock);
            g_dropped += n - i;
            pthread_mutex_unlock(&g_lock);
            break;
        }
        size_t off = 0, cnt = 0;
        while (i < n && off + rec_size(q[i].kind) <= size && (maxrec == 0 || cnt < maxrec)) {
            write_record(buf + off, &q[i]);
            off = align8(off + rec_size(q[i].kind));
            i++;
            cnt++;
        }
        done(NULL, 0, buf, size, off < size ? off : size);
    }
    free(q);
    pthread_mutex_unlock(&g_flush_lock);
    return CUPTI_SUCCESS;
}

API CUptiResult cuptiActivityFlushAll(uint32_t flag)
{
    (void)flag;
    return flush_all();
}

API CUptiResult cuptiActivityFlush(CUcontext context, uint32_t streamId, uint32_t flag)
{
    (void)context;
    (void)streamId;
    (void)flag;
    return flush_all();
}

API CUptiResult cuptiActivityFlushPeriod(uint32_t time)
{
    (void)time;
    fprintf(stderr, "simcupti: periodic flushing is not supported; call cuptiActivityFlushAll\n");
    return fail(CUPTI_ERROR_NOT_SUPPORTED);
}

API CUptiResult cuptiActivityGetNextRecord(uint8_t *buffer, size_t validBufferSizeBytes,
                                           CUpti_Activity **record)
{
    if (!buffer || !record)
        return fail(CUPTI_ERROR_INVALID_PARAMETER);
    size_t off;
    if (!*record) {
        off = 0;
    } else {
        uint8_t *cur = (uint8_t *)*record;
        if (cur < buffer || cur >= buffer + validBufferSizeBytes)
            return fail(CUPTI_ERROR_INVALID_PARAMETER);
        CUpti_ActivityKind k;
        memcpy(&k, cur, sizeof k);
        size_t sz = rec_size(k);
        if (!sz)
            return fail(CUPTI_ERROR_INVALID_KIND);
        off = align8((size_t)(cur - buffer) + sz);
    }
    if (off >= validBufferSizeBytes) {
        *record = NULL;
        return CUPTI_ERROR_MAX_LIMIT_REACHED;
    }
    CUpti_ActivityKind k;
    memcpy(&k, buffer + off, sizeof k);
    if (!rec_size(k) || off + rec_size(k) > validBufferSizeBytes) {
        *record = NULL;
        return CUPTI_ERROR_MAX_LIMIT_REACHED;
    }
    *record = (CUpti_Activity *)(buffer + off);
    return CUPTI_SUCCESS;
}

API CUptiResult cuptiActivityGetNumDroppedRecords(CUcontext context, uint32_t streamId, size_t *dropped)
{
    (void)context;
    (void)streamId;
    if (!dropped)
        return fail(CUPTI_ERROR_INVALID_PARAMETER);
    pthread_mutex_lock(&g_lock);
    *dropped = g_dropped;
    g_dropped = 0;
    pthread_mutex_unlock(&g_lock);
    return CUPTI_SUCCESS;
}

/* Buffer tuning knobs of the real device-side buffers: accepted, with no effect here. */
API CUptiResult cuptiActivityGetAttribute(CUpti_ActivityAttribute attr, size_t *valueSize, void *value)
{
    if (!valueSize || !value)
        return fail(CUPTI_ERROR_INVALID_PARAMETER);
    if (attr > CUPTI_ACTIVITY_ATTR_MEM_ALLOCATION_TYPE_HOST_PINNED)
        return fail(CUPTI_ERROR_NOT_SUPPORTED);
    if (*valueSize >= sizeof(size_t)) {
        size_t v = attr == CUPTI_ACTIVITY_ATTR_DEVICE_BUFFER_SIZE ? (size_t)8 << 20 : 0;
        memcpy(value, &v, sizeof v);
        *valueSize = sizeof v;
        return CUPTI_SUCCESS;
    }
    return fail(CUPTI_ERROR_PARAMETER_SIZE_NOT_SUFFICIENT);
}

API CUptiResult cuptiActivitySetAttribute(CUpti_ActivityAttribute attr, size_t *valueSize, void *value)
{
    if (!valueSize || !value)
        return fail(CUPTI_ERROR_INVALID_PARAMETER);
    if (attr > CUPTI_ACTIVITY_ATTR_MEM_ALLOCATION_TYPE_HOST_PINNED)
        return fail(CUPTI_ERROR_NOT_SUPPORTED);
    return CUPTI_SUCCESS;
}

/* ------------------------------------------------------------------------------------------ */
/* Ids, time, errors */

API CUptiResult cuptiGetTimestamp(uint64_t *timestamp)
{
    if (!timestamp)
        return fail(CUPTI_ERROR_INVALID_PARAMETER);
    *timestamp = to_ns(simdev_now_us());
    return CUPTI_SUCCESS;
}

API CUptiResult cuptiGetGraphNodeId(CUgraphNode node, uint64_t *nodeId)
{
    if (!node || !nodeId)
        return fail(CUPTI_ERROR_INVALID_PARAMETER);
    uint64_t id = simdev_graph_node_id(node);
    if (!id)
        return fail(CUPTI_ERROR_INVALID_PARAMETER);
    *nodeId = id;
    return CUPTI_SUCCESS;
}

API CUptiResult cuptiGetGraphId(CUgraph graph, uint32_t *pId)
{
    if (!graph || !pId)
        return fail(CUPTI_ERROR_INVALID_PARAMETER);
    uint32_t id = simdev_graph_id(graph);
    if (!id)
        return fail(CUPTI_ERROR_INVALID_PARAMETER);
    *pId = id;
    return CUPTI_SUCCESS;
}

API CUptiResult cuptiGetGraphExecId(CUgraphExec graphExec, uint32_t *pId)
{
    if (!graphExec || !pId)
        return fail(CUPTI_ERROR_INVALID_PARAMETER);
    uint32_t id = simdev_graph_exec_id(graphExec);
    if (!id)
        return fail(CUPTI_ERROR_INVALID_PARAMETER);
    *pId = id;
    return CUPTI_SUCCESS;
}

API CUptiResult cuptiGetDeviceId(CUcontext context, uint32_t *deviceId)
{
    if (!deviceId)
        return fail(CUPTI_ERROR_INVALID_PARAMETER);
    CUdevice d = 0;
    CUresult r;
    if (context) {
        r = cuCtxPushCurrent(context);
        if (r == CUDA_SUCCESS) {
            r = cuCtxGetDevice(&d);
            CUcontext dummy;
            cuCtxPopCurrent(&dummy);
        }
    } else {
        r = cuCtxGetDevice(&d);
    }
    if (r != CUDA_SUCCESS)
        return fail(CUPTI_ERROR_INVALID_CONTEXT);
    *deviceId = (uint32_t)d;
    return CUPTI_SUCCESS;
}

API CUptiResult cuptiGetVersion(uint32_t *version)
{
    if (!version)
        return fail(CUPTI_ERROR_INVALID_PARAMETER);
    *version = CUPTI_API_VERSION;
    return CUPTI_SUCCESS;
}

API CUptiResult cuptiGetLastError(void)
{
    CUptiResult r = t_last_error;
    t_last_error = CUPTI_SUCCESS;
    return r;
}

API CUptiResult cuptiFinalize(void)
{
    flush_all();
    pthread_mutex_lock(&g_lock);
    int h = g_act_handle;
    g_act_handle = -1;
    memset(g_kind_on, 0, sizeof g_kind_on);
    pthread_mutex_unlock(&g_lock);
    if (h >= 0)
        simdev_activity_unsubscribe(h);
    return CUPTI_SUCCESS;
}

static const struct {
    CUptiResult r;
    const char *s;
} g_results[] = {
    { CUPTI_SUCCESS, "CUPTI_SUCCESS" },
    { CUPTI_ERROR_INVALID_PARAMETER, "CUPTI_ERROR_INVALID_PARAMETER" },
    { CUPTI_ERROR_INVALID_DEVICE, "CUPTI_ERROR_INVALID_DEVICE" },
    { CUPTI_ERROR_INVALID_CONTEXT, "CUPTI_ERROR_INVALID_CONTEXT" },
    { CUPTI_ERROR_INVALID_OPERATION, "CUPTI_ERROR_INVALID_OPERATION" },
    { CUPTI_ERROR_OUT_OF_MEMORY, "CUPTI_ERROR_OUT_OF_MEMORY" },
    { CUPTI_ERROR_PARAMETER_SIZE_NOT_SUFFICIENT, "CUPTI_ERROR_PARAMETER_SIZE_NOT_SUFFICIENT" },
    { CUPTI_ERROR_API_NOT_IMPLEMENTED, "CUPTI_ERROR_API_NOT_IMPLEMENTED" },
    { CUPTI_ERROR_MAX_LIMIT_REACHED, "CUPTI_ERROR_MAX_LIMIT_REACHED" },
    { CUPTI_ERROR_NOT_READY, "CUPTI_ERROR_NOT_READY" },
    { CUPTI_ERROR_NOT_COMPATIBLE, "CUPTI_ERROR_NOT_COMPATIBLE" },
    { CUPTI_ERROR_NOT_INITIALIZED, "CUPTI_ERROR_NOT_INITIALIZED" },
    { CUPTI_ERROR_QUEUE_EMPTY, "CUPTI_ERROR_QUEUE_EMPTY" },
    { CUPTI_ERROR_INVALID_HANDLE, "CUPTI_ERROR_INVALID_HANDLE" },
    { CUPTI_ERROR_INVALID_STREAM, "CUPTI_ERROR_INVALID_STREAM" },
    { CUPTI_ERROR_INVALID_KIND, "CUPTI_ERROR_INVALID_KIND" },
    { CUPTI_ERROR_DISABLED, "CUPTI_ERROR_DISABLED" },
    { CUPTI_ERROR_NOT_SUPPORTED, "CUPTI_ERROR_NOT_SUPPORTED" },
    { CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED, "CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED" },
    { CUPTI_ERROR_UNKNOWN, "CUPTI_ERROR_UNKNOWN" },
};

API CUptiResult cuptiGetResultString(CUptiResult result, const char **str)
{
    if (!str)
        return CUPTI_ERROR_INVALID_PARAMETER;
    for (size_t i = 0; i < sizeof g_results / sizeof g_results[0]; i++) {
        if (g_results[i].r == result) {
            *str = g_results[i].s;
            return CUPTI_SUCCESS;
        }
    }
    *str = "CUPTI_ERROR_UNKNOWN";
    return CUPTI_ERROR_INVALID_PARAMETER;
}

API CUptiResult cuptiGetErrorMessage(CUptiResult result, const char **str)
{
    return cuptiGetResultString(result, str);
}
