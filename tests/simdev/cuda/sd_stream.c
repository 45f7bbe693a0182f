/* Streams, events and everything that enqueues work on a stream: kernel launches, copies,
 * memsets, host functions, stream-ordered allocation, event record / wait, synchronisation.
 *
 * Ordering (what the simulation's dependencies and the race checker's vector clocks both
 * follow): stream order; cuStreamWaitEvent orders later work after the event's latest record;
 * the legacy default stream waits for all blocking streams of its context and they wait for it
 * (CU_STREAM_NON_BLOCKING streams do neither); the per-thread default stream is a blocking
 * stream. A host synchronisation orders everything the host observed before all later work.
 *
 * Work enqueued on a capturing stream becomes a graph node instead (sd_capture.c). Synchronous
 * copies follow CUDA's documented host synchronisation: device-to-host and host-to-host copies
 * and copies from page-locked memory return when done; a copy from pageable memory to the
 * device returns once the source is staged; device-to-device copies do not block. */
#include <stdlib.h>
#include <string.h>

#include "sd_internal.h"

/* ---- handles ---- */

int sd_stream_valid(CUstream s)
{
    return s && s != CU_STREAM_LEGACY && s != CU_STREAM_PER_THREAD && s->magic == SD_MAGIC_STREAM &&
           sd_ctx_valid(s->ctx);
}

int sd_event_valid(CUevent e)
{
    return e && e->magic == SD_MAGIC_EVENT;
}

typedef struct {
    struct CUctx_st *ctx;
    struct CUstream_st *s;
} sd_pt_t;

static __thread sd_pt_t sd_pt[4];

static struct CUstream_st *sd_stream_new(struct CUctx_st *ctx, int kind, unsigned flags, int prio)
{
    struct CUstream_st *s = sd_xcalloc(1, sizeof(*s));
    s->magic = SD_MAGIC_STREAM;
    s->kind = kind;
    s->flags = flags;
    s->priority = prio;
    s->ctx = ctx;
    s->id = ++sd.next_stream_id;
    SD_VEC_PUSH(&sd.streams, s);
    return s;
}

CUresult sd_stream_resolve(CUstream h, int per_thread, CUstream *out)
{
    struct CUctx_st *c;
    CUresult r;
    if (!h)
        h = per_thread ? CU_STREAM_PER_THREAD : CU_STREAM_LEGACY;
    if (h == CU_STREAM_LEGACY || h == CU_STREAM_PER_THREAD) {
        r = sd_current_ctx(&c);
        if (r)
            return r;
        if (h == CU_STREAM_LEGACY) {
            *out = c->legacy;
            return CUDA_SUCCESS;
        }
        for (int i = 0; i < 4; i++)
            if (sd_pt[i].ctx == c) {
                *out = sd_pt[i].s;
                return CUDA_SUCCESS;
            }
        for (int i = 0; i < 4; i++)
            if (!sd_pt[i].ctx) {
                sd_pt[i].ctx = c;
                sd_pt[i].s = sd_stream_new(c, SD_STREAM_PER_THREAD, 0, 0);
                *out = sd_pt[i].s;
                return CUDA_SUCCESS;
            }
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    r = sd_check_init();
    if (r)
        return r;
    if (!sd_stream_valid(h))
        return CUDA_ERROR_INVALID_HANDLE;
    *out = h;
    return CUDA_SUCCESS;
}

/* ---- ordering ---- */

void sd_stream_order(CUstream s, sd_op_t *first, sd_vc_t *vc)
{
    sd_vc_copy(vc, &s->vc);
    sd_vc_join(vc, &sd.host_vc);
    sd_op_after(first, s->tail);
    struct CUctx_st *c = s->ctx;
    if (s->kind == SD_STREAM_LEGACY) {
        for (size_t i = 0; i < sd.streams.n; i++) {
            struct CUstream_st *t = sd.streams.v[i];
            if (t && t != s && t->ctx == c && !(t->flags & CU_STREAM_NON_BLOCKING)) {
                sd_op_after(first, t->tail);
                sd_vc_join(vc, &t->vc);
            }
        }
    } else if (!(s->flags & CU_STREAM_NON_BLOCKING)) {
        sd_op_after(first, c->legacy->tail);
        sd_vc_join(vc, &c->legacy->vc);
    }
}

void sd_stream_commit(CUstream s, sd_op_t *last, sd_vc_t *vc, sd_rset_t *rs, const char *name,
                      CUgraphExec exec)
{
    if (rs && (rs->r.n || rs->w.n)) {
        s->seq++;
        sd_vc_set(vc, s->id, s->seq);
        sd_race_stream_op(s->id, s->seq, vc, rs, name, sd.corr, exec);
    } else if (rs) {
        sd_rset_free(rs);
    }
    sd_vc_free(&s->vc);
    s->vc = *vc;
    memset(vc, 0, sizeof(*vc));
    sd_op_ref(last);
    sd_op_unref(s->tail);
    s->tail = last;
}

static CUresult sd_submit_op(CUstream s, sd_work_t *w, sd_op_t **op_out)
{
    if (op_out)
        *op_out = NULL;
    if (s->cap)
        return s->cap->invalidated ? CUDA_ERROR_STREAM_CAPTURE_INVALIDATED : sd_capture_add(s, w);
    CUresult r;
    if (s->kind == SD_STREAM_LEGACY && (r = sd_capture_check_legacy(s->ctx)))
        return r;
    simdev_launch_desc_t d;
    sd_rset_t rs = {0};
    r = sd_work_describe(w, s->ctx->device, &d, &rs);
    if (r) {
        sd_rset_free(&rs);
        return r;
    }
    sd_op_t *op = sd_op_from_work(w, &d, s->ctx->device, 0);
    op->stream_id = s->id;
    op->ctx = s->ctx;
    if (w->type == CU_GRAPH_NODE_TYPE_MEM_ALLOC || w->type == CU_GRAPH_NODE_TYPE_MEM_FREE) {
        op->w.dptr = w->dptr;
        op->w.bytes = w->bytes;
    }
    sd_vc_t vc = {0};
    sd_stream_order(s, op, &vc);
    sd_stream_commit(s, op, &vc, &rs, op->name, NULL);
    double extra = (w->type == CU_GRAPH_NODE_TYPE_KERNEL ? sd.dev.host_launch_us : 0) - sd.dev.host_api_us;
    if (extra > 0)
        sd.host_now += extra;
    sd_op_submit(op);
    if (op_out)
        *op_out = op;
    return CUDA_SUCCESS;
}

CUresult sd_stream_submit(CUstream s, sd_work_t *w)
{
    return sd_submit_op(s, w, NULL);
}

/* ---- host waits ---- */

static void sd_host_observed(const sd_vc_t *vc)
{
    sd_vc_join(&sd.host_vc, vc);
    sd_race_prune(&sd.host_vc);
}

void sd_stream_host_wait(CUstream s)
{
    if (s->kind == SD_STREAM_LEGACY) {
        /* The legacy stream also covers the blocking streams it is synchronised with. */
        sd_op_t *m = sd_op_new(SD_OP_MARK, s->ctx->device);
        m->stream_id = s->id;
        m->ctx = s->ctx;
        m->name = "legacy stream synchronisation";
        sd_vc_t vc = {0};
        sd_stream_order(s, m, &vc);
        sd_stream_commit(s, m, &vc, NULL, NULL, NULL);
        sd_op_submit(m);
    }
    if (s->tail)
        sd_des_run_until_op(s->tail);
    sd_host_observed(&s->vc);
    sd.host_now += sd.dev.host_sync_us;
}

void sd_ctx_host_wait(struct CUctx_st *ctx)
{
    for (size_t i = 0; i < sd.streams.n; i++) {
        struct CUstream_st *t = sd.streams.v[i];
        if (t && t->ctx == ctx && !t->cap && t->tail)
            sd_des_run_until_op(t->tail);
    }
    for (size_t i = 0; i < ctx->orphan_tails.n; i++) {
        sd_des_run_until_op(ctx->orphan_tails.v[i]);
        sd_op_unref(ctx->orphan_tails.v[i]);
    }
    ctx->orphan_tails.n = 0;
    for (size_t i = 0; i < sd.streams.n; i++) {
        struct CUstream_st *t = sd.streams.v[i];
        if (t && t->ctx == ctx)
            sd_vc_join(&sd.host_vc, &t->vc);
    }
    sd_vc_join(&sd.host_vc, &ctx->orphan_vc);
    sd_race_prune(&sd.host_vc);
    sd.host_now += sd.dev.host_sync_us;
}

void sd_all_host_wait(void)
{
    sd_des_run_all(0);
    for (size_t i = 0; i < sd.streams.n; i++)
        if (sd.streams.v[i]) {
            sd_vc_join(&sd.host_vc, &sd.streams.v[i]->vc);
            if (sd.streams.v[i]->kind == SD_STREAM_LEGACY)
                sd_vc_join(&sd.host_vc, &sd.streams.v[i]->ctx->orphan_vc);
        }
    sd_race_prune(&sd.host_vc);
    sd.host_now += sd.dev.host_sync_us;
}

/* ---- streams ---- */

static CUresult sd_stream_create(CUstream *ph, unsigned flags, int prio)
{
    struct CUctx_st *c;
    CUresult r = sd_current_ctx(&c);
    if (r)
        return r;
    if (!ph || (flags & ~(unsigned)CU_STREAM_NON_BLOCKING))
        return CUDA_ERROR_INVALID_VALUE;
    prio = prio > 0 ? 0 : prio < -5 ? -5 : prio;
    *ph = sd_stream_new(c, SD_STREAM_NORMAL, flags, prio);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamCreate(CUstream *phStream, unsigned int Flags)
{
    SD_API(cuStreamCreate, sd_stream_create(phStream, Flags, 0));
}

CUresult CUDAAPI cuStreamCreateWithPriority(CUstream *phStream, unsigned int flags, int priority)
{
    SD_API(cuStreamCreateWithPriority, sd_stream_create(phStream, flags, priority));
}

static CUresult sd_stream_destroy(CUstream h)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!sd_stream_valid(h) || h->kind != SD_STREAM_NORMAL)
        return CUDA_ERROR_INVALID_HANDLE;
    if (h->cap)
        sd_capture_invalidate(h->cap);
    /* Work already enqueued still runs (operations do not point back at their stream); the
     * context keeps its tail and clock so that synchronising the context covers it. */
    sd.streams.v[h->id - 1] = NULL;
    if (h->tail && h->tail->state != SD_ST_DONE)
        SD_VEC_PUSH(&h->ctx->orphan_tails, h->tail);
    else
        sd_op_unref(h->tail);
    sd_vc_join(&h->ctx->orphan_vc, &h->vc);
    sd_vc_free(&h->vc);
    SD_VEC_FREE(&h->deps);
    SD_VEC_FREE(&h->info_edata);
    SD_VEC_FREE(&h->info_nodes);
    SD_VEC_FREE(&h->attrs);
    h->magic = SD_MAGIC_DEAD;
    free(h);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamDestroy_v2(CUstream hStream)
{
    SD_API(cuStreamDestroy_v2, sd_stream_destroy(hStream));
}

enum { SD_SQ_PRIO, SD_SQ_FLAGS, SD_SQ_ID, SD_SQ_CTX, SD_SQ_DEVICE };

static CUresult sd_stream_query_prop(CUstream h, int pt, int what, void *out)
{
    CUstream s;
    CUresult r = sd_stream_resolve(h, pt, &s);
    if (r)
        return r;
    if (!out)
        return CUDA_ERROR_INVALID_VALUE;
    switch (what) {
    case SD_SQ_PRIO: *(int *)out = s->priority; break;
    case SD_SQ_FLAGS: *(unsigned *)out = s->flags; break;
    case SD_SQ_ID: *(unsigned long long *)out = s->id; break;
    case SD_SQ_CTX: *(CUcontext *)out = s->ctx; break;
    case SD_SQ_DEVICE: *(CUdevice *)out = s->ctx->device; break;
    }
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamGetPriority(CUstream hStream, int *priority)
{
    SD_API(cuStreamGetPriority, sd_stream_query_prop(hStream, 0, SD_SQ_PRIO, priority));
}
CUresult CUDAAPI cuStreamGetPriority_ptsz(CUstream hStream, int *priority)
{
    SD_API(cuStreamGetPriority_ptsz, sd_stream_query_prop(hStream, 1, SD_SQ_PRIO, priority));
}
CUresult CUDAAPI cuStreamGetFlags(CUstream hStream, unsigned int *flags)
{
    SD_API(cuStreamGetFlags, sd_stream_query_prop(hStream, 0, SD_SQ_FLAGS, flags));
}
CUresult CUDAAPI cuStreamGetFlags_ptsz(CUstream hStream, unsigned int *flags)
{
    SD_API(cuStreamGetFlags_ptsz, sd_stream_query_prop(hStream, 1, SD_SQ_FLAGS, flags));
}
CUresult CUDAAPI cuStreamGetId(CUstream hStream, unsigned long long *streamId)
{
    SD_API(cuStreamGetId, sd_stream_query_prop(hStream, 0, SD_SQ_ID, streamId));
}
CUresult CUDAAPI cuStreamGetId_ptsz(CUstream hStream, unsigned long long *streamId)
{
    SD_API(cuStreamGetId_ptsz, sd_stream_query_prop(hStream, 1, SD_SQ_ID, streamId));
}
CUresult CUDAAPI cuStreamGetCtx(CUstream hStream, CUcontext *pctx)
{
    SD_API(cuStreamGetCtx, sd_stream_query_prop(hStream, 0, SD_SQ_CTX, pctx));
}
CUresult CUDAAPI cuStreamGetCtx_ptsz(CUstream hStream, CUcontext *pctx)
{
    SD_API(cuStreamGetCtx_ptsz, sd_stream_query_prop(hStream, 1, SD_SQ_CTX, pctx));
}

static CUresult sd_stream_ctx2(CUstream h, int pt, CUcontext *pctx, CUgreenCtx *pgreen)
{
    CUresult r = sd_stream_query_prop(h, pt, SD_SQ_CTX, pctx);
    if (!r && pgreen)
        *pgreen = NULL;
    return r;
}

CUresult CUDAAPI cuStreamGetCtx_v2(CUstream hStream, CUcontext *pCtx, CUgreenCtx *pGreenCtx)
{
    SD_API(cuStreamGetCtx_v2, sd_stream_ctx2(hStream, 0, pCtx, pGreenCtx));
}
CUresult CUDAAPI cuStreamGetCtx_v2_ptsz(CUstream hStream, CUcontext *pCtx, CUgreenCtx *pGreenCtx)
{
    SD_API(cuStreamGetCtx_v2_ptsz, sd_stream_ctx2(hStream, 1, pCtx, pGreenCtx));
}
CUresult CUDAAPI cuStreamGetDevice(CUstream hStream, CUdevice *device)
{
    SD_API(cuStreamGetDevice, sd_stream_query_prop(hStream, 0, SD_SQ_DEVICE, device));
}
CUresult CUDAAPI cuStreamGetDevice_ptsz(CUstream hStream, CUdevice *device)
{
    SD_API(cuStreamGetDevice_ptsz, sd_stream_query_prop(hStream, 1, SD_SQ_DEVICE, device));
}

static CUresult sd_stream_attr(CUstream h, int pt, CUstreamAttrID id, CUstreamAttrValue *get,
                               const CUstreamAttrValue *set)
{
    CUstream s;
    CUresult r = sd_stream_resolve(h, pt, &s);
    if (r)
        return r;
    if (!get && !set)
        return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; i < s->attrs.n; i++)
        if (s->attrs.v[i].id == id) {
            if (set)
                s->attrs.v[i].value = *set;
            else
                *get = s->attrs.v[i].value;
            return CUDA_SUCCESS;
        }
    if (set) {
        CUlaunchAttribute a;
        memset(&a, 0, sizeof(a));
        a.id = id;
        a.value = *set;
        SD_VEC_PUSH(&s->attrs, a);
        if (id == CU_LAUNCH_ATTRIBUTE_PRIORITY)
            s->priority = set->priority;
    } else {
        memset(get, 0, sizeof(*get));
        if (id == CU_LAUNCH_ATTRIBUTE_PRIORITY)
            get->priority = s->priority;
    }
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamGetAttribute(CUstream hStream, CUstreamAttrID attr, CUstreamAttrValue *value_out)
{
    SD_API(cuStreamGetAttribute, sd_stream_attr(hStream, 0, attr, value_out, NULL));
}
CUresult CUDAAPI cuStreamGetAttribute_ptsz(CUstream hStream, CUstreamAttrID attr, CUstreamAttrValue *value_out)
{
    SD_API(cuStreamGetAttribute_ptsz, sd_stream_attr(hStream, 1, attr, value_out, NULL));
}
CUresult CUDAAPI cuStreamSetAttribute(CUstream hStream, CUstreamAttrID attr, const CUstreamAttrValue *value)
{
    SD_API(cuStreamSetAttribute, sd_stream_attr(hStream, 0, attr, NULL, value));
}
CUresult CUDAAPI cuStreamSetAttribute_ptsz(CUstream hStream, CUstreamAttrID attr, const CUstreamAttrValue *value)
{
    SD_API(cuStreamSetAttribute_ptsz, sd_stream_attr(hStream, 1, attr, NULL, value));
}

static CUresult sd_stream_copy_attrs(CUstream dst, CUstream src, int pt)
{
    CUstream d, s;
    CUresult r = sd_stream_resolve(dst, pt, &d);
    if (!r)
        r = sd_stream_resolve(src, pt, &s);
    if (r)
        return r;
    d->attrs.n = 0;
    for (size_t i = 0; i < s->attrs.n; i++)
        SD_VEC_PUSH(&d->attrs, s->attrs.v[i]);
    d->priority = s->priority;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamCopyAttributes(CUstream dst, CUstream src)
{
    SD_API(cuStreamCopyAttributes, sd_stream_copy_attrs(dst, src, 0));
}
CUresult CUDAAPI cuStreamCopyAttributes_ptsz(CUstream dst, CUstream src)
{
    SD_API(cuStreamCopyAttributes_ptsz, sd_stream_copy_attrs(dst, src, 1));
}

static CUresult sd_stream_sync(CUstream h, int pt)
{
    CUstream s;
    CUresult r = sd_stream_resolve(h, pt, &s);
    if (r)
        return r;
    if (s->cap) {
        /* Synchronising a capturing stream: it holds no executable work. */
        sd_capture_invalidate(s->cap);
        return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    }
    if (s->kind == SD_STREAM_LEGACY && (r = sd_capture_check_legacy(s->ctx)))
        return r;
    if ((r = sd_capture_check_unsafe()))
        return r;
    sd_stream_host_wait(s);
    return s->ctx->sticky;
}

CUresult CUDAAPI cuStreamSynchronize(CUstream hStream)
{
    SD_API(cuStreamSynchronize, sd_stream_sync(hStream, 0));
}
CUresult CUDAAPI cuStreamSynchronize_ptsz(CUstream hStream)
{
    SD_API(cuStreamSynchronize_ptsz, sd_stream_sync(hStream, 1));
}

static CUresult sd_stream_query(CUstream h, int pt)
{
    CUstream s;
    CUresult r = sd_stream_resolve(h, pt, &s);
    if (r)
        return r;
    if (s->cap) {
        sd_capture_invalidate(s->cap);
        return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    }
    if (s->kind == SD_STREAM_LEGACY && (r = sd_capture_check_legacy(s->ctx)))
        return r;
    sd_des_run_until_time(sd.host_now);
    if (s->tail && s->tail->state != SD_ST_DONE)
        return CUDA_ERROR_NOT_READY;
    sd_host_observed(&s->vc);
    return s->ctx->sticky;
}

CUresult CUDAAPI cuStreamQuery(CUstream hStream)
{
    SD_API(cuStreamQuery, sd_stream_query(hStream, 0));
}
CUresult CUDAAPI cuStreamQuery_ptsz(CUstream hStream)
{
    SD_API(cuStreamQuery_ptsz, sd_stream_query(hStream, 1));
}

/* ---- events ---- */

static CUresult sd_event_create(CUevent *ph, unsigned flags)
{
    struct CUctx_st *c;
    CUresult r = sd_current_ctx(&c);
    if (r)
        return r;
    if (!ph || (flags & ~(unsigned)(CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING | CU_EVENT_INTERPROCESS)))
        return CUDA_ERROR_INVALID_VALUE;
    if ((flags & CU_EVENT_INTERPROCESS) && !(flags & CU_EVENT_DISABLE_TIMING))
        return CUDA_ERROR_INVALID_VALUE;
    struct CUevent_st *e = sd_xcalloc(1, sizeof(*e));
    e->magic = SD_MAGIC_EVENT;
    e->flags = flags;
    e->ctx = c;
    *ph = e;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuEventCreate(CUevent *phEvent, unsigned int Flags)
{
    SD_API(cuEventCreate, sd_event_create(phEvent, Flags));
}

static void sd_event_forget_capture(CUevent e)
{
    e->cap = NULL;
    e->cap_id = 0;
    e->cap_deps.n = 0;
}

void sd_event_set_op(CUevent e, sd_op_t *op, const sd_vc_t *vc)
{
    sd_op_ref(op);
    sd_op_unref(e->op);
    e->op = op;
    sd_vc_copy(&e->vc, vc);
    e->recorded = 1;
    sd_event_forget_capture(e);
}

static CUresult sd_event_record(CUevent e, CUstream h, int pt, unsigned flags)
{
    CUstream s;
    CUresult r = sd_stream_resolve(h, pt, &s);
    if (r)
        return r;
    if (!sd_event_valid(e))
        return CUDA_ERROR_INVALID_HANDLE;
    if (flags & ~(unsigned)CU_EVENT_RECORD_EXTERNAL)
        return CUDA_ERROR_INVALID_VALUE;
    if (s->cap) {
        if (s->cap->invalidated)
            return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
        if (flags & CU_EVENT_RECORD_EXTERNAL) {
            sd_work_t w;
            memset(&w, 0, sizeof(w));
            w.type = CU_GRAPH_NODE_TYPE_EVENT_RECORD;
            w.event = e;
            return sd_capture_add(s, &w);
        }
        sd_capture_record_event(s, e);
        return CUDA_SUCCESS;
    }
    if (flags & CU_EVENT_RECORD_EXTERNAL)
        return CUDA_ERROR_INVALID_VALUE; /* only meaningful during capture */
    if (s->kind == SD_STREAM_LEGACY && (r = sd_capture_check_legacy(s->ctx)))
        return r;
    sd_op_t *m = sd_op_new(SD_OP_MARK, s->ctx->device);
    m->stream_id = s->id;
    m->ctx = s->ctx;
    m->name = "event record";
    sd_vc_t vc = {0};
    sd_stream_order(s, m, &vc);
    sd_stream_commit(s, m, &vc, NULL, NULL, NULL);
    sd_op_submit(m);
    sd_event_set_op(e, m, &s->vc);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuEventRecord(CUevent hEvent, CUstream hStream)
{
    SD_API(cuEventRecord, sd_event_record(hEvent, hStream, 0, 0));
}
CUresult CUDAAPI cuEventRecord_ptsz(CUevent hEvent, CUstream hStream)
{
    SD_API(cuEventRecord_ptsz, sd_event_record(hEvent, hStream, 1, 0));
}
CUresult CUDAAPI cuEventRecordWithFlags(CUevent hEvent, CUstream hStream, unsigned int flags)
{
    SD_API(cuEventRecordWithFlags, sd_event_record(hEvent, hStream, 0, flags));
}
CUresult CUDAAPI cuEventRecordWithFlags_ptsz(CUevent hEvent, CUstream hStream, unsigned int flags)
{
    SD_API(cuEventRecordWithFlags_ptsz, sd_event_record(hEvent, hStream, 1, flags));
}

/* The open capture e was last recorded in, or NULL (a record in a capture that has ended is
 * forgotten: the event then stands for an empty set of work). */
sd_capture_t *sd_event_open_capture(CUevent e)
{
    if (!e->cap)
        return NULL;
    for (sd_capture_t *c = sd.captures; c; c = c->next)
        if (c == e->cap && c->id == e->cap_id)
            return c;
    sd_event_forget_capture(e);
    return NULL;
}

/* Querying or waiting from the host on an event last recorded in an open capture is illegal in
 * every capture mode; the capture is invalidated. */
static CUresult sd_event_captured(CUevent e)
{
    sd_capture_t *c = sd_event_open_capture(e);
    if (!c)
        return CUDA_SUCCESS;
    sd_capture_invalidate(c);
    return CUDA_ERROR_CAPTURED_EVENT;
}

static CUresult sd_event_query(CUevent e)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!sd_event_valid(e))
        return CUDA_ERROR_INVALID_HANDLE;
    if ((r = sd_event_captured(e)))
        return r;
    if (!e->op)
        return CUDA_SUCCESS;
    sd_des_run_until_time(sd.host_now);
    if (e->op->state != SD_ST_DONE)
        return CUDA_ERROR_NOT_READY;
    sd_host_observed(&e->vc);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuEventQuery(CUevent hEvent)
{
    SD_API(cuEventQuery, sd_event_query(hEvent));
}

static CUresult sd_event_sync(CUevent e)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!sd_event_valid(e))
        return CUDA_ERROR_INVALID_HANDLE;
    if ((r = sd_event_captured(e)))
        return r;
    if (!e->op)
        return CUDA_SUCCESS;
    sd_des_run_until_op(e->op);
    sd_host_observed(&e->vc);
    sd.host_now += sd.dev.host_sync_us;
    return e->ctx->sticky;
}

CUresult CUDAAPI cuEventSynchronize(CUevent hEvent)
{
    SD_API(cuEventSynchronize, sd_event_sync(hEvent));
}

static CUresult sd_event_destroy(CUevent e)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!sd_event_valid(e))
        return CUDA_ERROR_INVALID_HANDLE;
    sd_op_unref(e->op);
    sd_vc_free(&e->vc);
    SD_VEC_FREE(&e->cap_deps);
    e->magic = SD_MAGIC_DEAD;
    free(e);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuEventDestroy_v2(CUevent hEvent)
{
    SD_API(cuEventDestroy_v2, sd_event_destroy(hEvent));
}

static CUresult sd_event_elapsed(float *ms, CUevent a, CUevent b)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!ms)
        return CUDA_ERROR_INVALID_VALUE;
    if (!sd_event_valid(a) || !sd_event_valid(b))
        return CUDA_ERROR_INVALID_HANDLE;
    if ((a->flags | b->flags) & CU_EVENT_DISABLE_TIMING)
        return CUDA_ERROR_INVALID_HANDLE;
    if ((r = sd_event_captured(a)) || (r = sd_event_captured(b)))
        return r;
    if (!a->recorded || !b->recorded || !a->op || !b->op)
        return CUDA_ERROR_INVALID_HANDLE;
    sd_des_run_until_time(sd.host_now);
    if (a->op->state != SD_ST_DONE || b->op->state != SD_ST_DONE)
        return CUDA_ERROR_NOT_READY;
    *ms = (float)((b->op->t_end - a->op->t_end) / 1000.0);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuEventElapsedTime(float *pMilliseconds, CUevent hStart, CUevent hEnd)
{
    SD_API(cuEventElapsedTime, sd_event_elapsed(pMilliseconds, hStart, hEnd));
}

CUresult CUDAAPI cuEventElapsedTime_v2(float *pMilliseconds, CUevent hStart, CUevent hEnd)
{
    SD_API(cuEventElapsedTime_v2, sd_event_elapsed(pMilliseconds, hStart, hEnd));
}

static CUresult sd_stream_wait_event(CUstream h, int pt, CUevent e, unsigned flags)
{
    CUstream s;
    CUresult r = sd_stream_resolve(h, pt, &s);
    if (r)
        return r;
    if (!sd_event_valid(e))
        return CUDA_ERROR_INVALID_HANDLE;
    if (flags & ~(unsigned)CU_EVENT_WAIT_EXTERNAL)
        return CUDA_ERROR_INVALID_VALUE;
    if (s->cap && s->cap->invalidated)
        return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
    if (s->cap || sd_event_open_capture(e))
        return sd_capture_wait_event(s, e, flags);
    if (flags & CU_EVENT_WAIT_EXTERNAL)
        return CUDA_ERROR_INVALID_VALUE; /* only meaningful during capture */
    if (s->kind == SD_STREAM_LEGACY && (r = sd_capture_check_legacy(s->ctx)))
        return r;
    if (!e->op)
        return CUDA_SUCCESS;
    /* A marker on s after both its own work and the event's work carries the dependency. */
    sd_op_t *m = sd_op_new(SD_OP_MARK, s->ctx->device);
    m->stream_id = s->id;
    m->ctx = s->ctx;
    m->name = "event wait";
    sd_vc_t vc = {0};
    sd_stream_order(s, m, &vc);
    sd_op_after(m, e->op);
    sd_vc_join(&vc, &e->vc);
    sd_stream_commit(s, m, &vc, NULL, NULL, NULL);
    sd_op_submit(m);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamWaitEvent(CUstream hStream, CUevent hEvent, unsigned int Flags)
{
    SD_API(cuStreamWaitEvent, sd_stream_wait_event(hStream, 0, hEvent, Flags));
}
CUresult CUDAAPI cuStreamWaitEvent_ptsz(CUstream hStream, CUevent hEvent, unsigned int Flags)
{
    SD_API(cuStreamWaitEvent_ptsz, sd_stream_wait_event(hStream, 1, hEvent, Flags));
}

/* ---- kernel launches ---- */

static CUresult sd_launch(CUfunction f, const uint32_t grid[3], const uint32_t block[3], uint32_t smem,
                          CUstream h, int pt, void **params, void **extra,
                          const CUlaunchAttribute *attrs, unsigned nattrs)
{
    CUstream s;
    CUresult r = sd_stream_resolve(h, pt, &s);
    if (r)
        return r;
    if (!f)
        return CUDA_ERROR_INVALID_HANDLE;
    if (nattrs && !attrs)
        return CUDA_ERROR_INVALID_VALUE;
    sd_kparams_t *kp;
    r = sd_kparams_new(f, grid, block, smem, params, extra, &kp);
    if (r)
        return r;
    for (unsigned i = 0; i < nattrs && !r; i++)
        r = sd_kparams_set_attr(kp, attrs[i].id, &attrs[i].value);
    if (!r) {
        sd_work_t w;
        memset(&w, 0, sizeof(w));
        w.type = CU_GRAPH_NODE_TYPE_KERNEL;
        w.kp = kp;
        w.ctx = s->ctx;
        r = sd_stream_submit(s, &w);
    }
    sd_kparams_unref(kp);
    return r;
}

#define SD_GRID_BLOCK                                                                              \
    const uint32_t grid[3] = {gridDimX, gridDimY, gridDimZ};                                       \
    const uint32_t block[3] = {blockDimX, blockDimY, blockDimZ}

CUresult CUDAAPI cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                                unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,
                                unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream,
                                void **kernelParams, void **extra)
{
    SD_GRID_BLOCK;
    SD_API(cuLaunchKernel, sd_launch(f, grid, block, sharedMemBytes, hStream, 0, kernelParams, extra, NULL, 0));
}

CUresult CUDAAPI cuLaunchKernel_ptsz(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                                     unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,
                                     unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream,
                                     void **kernelParams, void **extra)
{
    SD_GRID_BLOCK;
    SD_API(cuLaunchKernel_ptsz, sd_launch(f, grid, block, sharedMemBytes, hStream, 1, kernelParams, extra, NULL, 0));
}

CUresult CUDAAPI cuLaunchCooperativeKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                                           unsigned int gridDimZ, unsigned int blockDimX,
                                           unsigned int blockDimY, unsigned int blockDimZ,
                                           unsigned int sharedMemBytes, CUstream hStream,
                                           void **kernelParams)
{
    SD_GRID_BLOCK;
    SD_API(cuLaunchCooperativeKernel,
           sd_launch(f, grid, block, sharedMemBytes, hStream, 0, kernelParams, NULL, NULL, 0));
}

CUresult CUDAAPI cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                                                unsigned int gridDimZ, unsigned int blockDimX,
                                                unsigned int blockDimY, unsigned int blockDimZ,
                                                unsigned int sharedMemBytes, CUstream hStream,
                                                void **kernelParams)
{
    SD_GRID_BLOCK;
    SD_API(cuLaunchCooperativeKernel_ptsz,
           sd_launch(f, grid, block, sharedMemBytes, hStream, 1, kernelParams, NULL, NULL, 0));
}

static CUresult sd_launch_ex(const CUlaunchConfig *cfg, CUfunction f, void **params, void **extra, int pt)
{
    if (!cfg)
        return CUDA_ERROR_INVALID_VALUE;
    const uint32_t grid[3] = {cfg->gridDimX, cfg->gridDimY, cfg->gridDimZ};
    const uint32_t block[3] = {cfg->blockDimX, cfg->blockDimY, cfg->blockDimZ};
    return sd_launch(f, grid, block, cfg->sharedMemBytes, cfg->hStream, pt, params, extra, cfg->attrs,
                     cfg->numAttrs);
}

CUresult CUDAAPI cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **kernelParams, void **extra)
{
    SD_API(cuLaunchKernelEx, sd_launch_ex(config, f, kernelParams, extra, 0));
}

CUresult CUDAAPI cuLaunchKernelEx_ptsz(const CUlaunchConfig *config, CUfunction f, void **kernelParams,
                                       void **extra)
{
    SD_API(cuLaunchKernelEx_ptsz, sd_launch_ex(config, f, kernelParams, extra, 1));
}

/* ---- host functions ---- */

static CUresult sd_host_func(CUstream h, int pt, CUhostFn fn, void *user)
{
    CUstream s;
    CUresult r = sd_stream_resolve(h, pt, &s);
    if (r)
        return r;
    if (!fn)
        return CUDA_ERROR_INVALID_VALUE;
    sd_work_t w;
    memset(&w, 0, sizeof(w));
    w.type = CU_GRAPH_NODE_TYPE_HOST;
    w.fn = fn;
    w.user = user;
    return sd_stream_submit(s, &w);
}

CUresult CUDAAPI cuLaunchHostFunc(CUstream hStream, CUhostFn fn, void *userData)
{
    SD_API(cuLaunchHostFunc, sd_host_func(hStream, 0, fn, userData));
}
CUresult CUDAAPI cuLaunchHostFunc_ptsz(CUstream hStream, CUhostFn fn, void *userData)
{
    SD_API(cuLaunchHostFunc_ptsz, sd_host_func(hStream, 1, fn, userData));
}

typedef struct {
    CUstreamCallback cb;
    CUstream stream;
    void *user;
} sd_callback_t;

static void CUDA_CB sd_callback_tramp(void *p)
{
    sd_callback_t *c = p;
    c->cb(c->stream, CUDA_SUCCESS, c->user);
    free(c);
}

static CUresult sd_add_callback(CUstream h, int pt, CUstreamCallback cb, void *user, unsigned flags)
{
    CUstream s;
    CUresult r = sd_stream_resolve(h, pt, &s);
    if (r)
        return r;
    if (!cb || flags)
        return CUDA_ERROR_INVALID_VALUE;
    if (s->cap) {
        /* Not capturable (CUDA asks for cuLaunchHostFunc instead). */
        sd_capture_invalidate(s->cap);
        return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    }
    sd_callback_t *c = sd_xmalloc(sizeof(*c));
    c->cb = cb;
    c->stream = h;
    c->user = user;
    r = sd_host_func(h, pt, sd_callback_tramp, c);
    if (r)
        free(c);
    return r;
}

CUresult CUDAAPI cuStreamAddCallback(CUstream hStream, CUstreamCallback callback, void *userData, unsigned int flags)
{
    SD_API(cuStreamAddCallback, sd_add_callback(hStream, 0, callback, userData, flags));
}
CUresult CUDAAPI cuStreamAddCallback_ptsz(CUstream hStream, CUstreamCallback callback, void *userData,
                                          unsigned int flags)
{
    SD_API(cuStreamAddCallback_ptsz, sd_add_callback(hStream, 1, callback, userData, flags));
}

/* ---- copies ---- */

/* Packs a copy's host source into a private buffer (pageable memory may be reused as soon as
 * the call returns). */
static void *sd_stage(const sd_copy_t *c)
{
    const CUDA_MEMCPY3D *p = &c->p;
    unsigned char *buf = sd_xmalloc((size_t)c->bytes);
    size_t sp = p->srcPitch ? p->srcPitch : p->WidthInBytes, sh = p->srcHeight ? p->srcHeight : p->Height;
    const unsigned char *src = p->srcHost;
    for (size_t z = 0; z < p->Depth; z++)
        for (size_t y = 0; y < p->Height; y++)
            memcpy(buf + (z * p->Height + y) * p->WidthInBytes,
                   src + p->srcXInBytes + (p->srcY + y) * sp + (p->srcZ + z) * sp * sh, p->WidthInBytes);
    return buf;
}

static int sd_is_pinned(const void *p)
{
    return sd_mem_find((uint64_t)(uintptr_t)p) != NULL;
}

/* sync: the synchronous API (runs on the legacy / per-thread stream). */
static CUresult sd_copy_submit(sd_copy_t *c, CUstream h, int pt, int sync)
{
    CUstream s;
    CUresult r = sd_stream_resolve(h, pt, &s);
    if (r)
        return r;
    if (sync && !s->cap) {
        /* A synchronous copy uses the legacy stream (illegal while a blocking stream captures)
         * and blocks the host (a potentially unsafe call during capture). */
        if (s->kind == SD_STREAM_LEGACY && (r = sd_capture_check_legacy(s->ctx)))
            return r;
        if ((r = sd_capture_check_unsafe()))
            return r;
    }
    sd_work_t w;
    memset(&w, 0, sizeof(w));
    w.type = CU_GRAPH_NODE_TYPE_MEMCPY;
    w.copy = *c;
    w.ctx = s->ctx;
    int capturing = s->cap != NULL;
    sd_op_t *op;
    r = sd_submit_op(s, &w, &op);
    if (r || capturing || !op)
        return r;
    const CUDA_MEMCPY3D *p = &c->p;
    int src_pageable = p->srcMemoryType == CU_MEMORYTYPE_HOST && !sd_is_pinned(p->srcHost);
    int dst_pageable = p->dstMemoryType == CU_MEMORYTYPE_HOST && !sd_is_pinned(p->dstHost);
    int wait;
    switch (c->copy_kind) {
    case 1: /* HtoD */
        if (src_pageable && sd.compute)
            op->staged = sd_stage(c);
        wait = sync && !src_pageable;
        break;
    case 2: wait = sync || dst_pageable; break; /* DtoH */
    case 8: wait = 0; break;                    /* DtoD */
    default: wait = sync || src_pageable || dst_pageable; break;
    }
    if (wait) {
        sd_des_run_until_op(op);
        sd_host_observed(&s->vc);
    }
    return CUDA_SUCCESS;
}

static CUresult sd_memcpy_1d(CUmemorytype dt, void *dh, CUdeviceptr dd, CUmemorytype st, const void *sh,
                             CUdeviceptr sdp, size_t n, CUstream h, int pt, int sync)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (n == 0)
        return CUDA_SUCCESS;
    sd_copy_t c;
    r = sd_copy_1d(&c, dt, dh, dd, st, sh, sdp, n);
    if (r)
        return r;
    return sd_copy_submit(&c, h, pt, sync);
}

#define SD_H CU_MEMORYTYPE_HOST
#define SD_D CU_MEMORYTYPE_DEVICE
#define SD_U CU_MEMORYTYPE_UNIFIED

CUresult CUDAAPI cuMemcpyHtoD_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount)
{
    SD_API(cuMemcpyHtoD_v2, sd_memcpy_1d(SD_D, NULL, dstDevice, SD_H, srcHost, 0, ByteCount, NULL, 0, 1));
}
CUresult CUDAAPI cuMemcpyHtoD_v2_ptds(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount)
{
    SD_API(cuMemcpyHtoD_v2_ptds, sd_memcpy_1d(SD_D, NULL, dstDevice, SD_H, srcHost, 0, ByteCount, NULL, 1, 1));
}
CUresult CUDAAPI cuMemcpyDtoH_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount)
{
    SD_API(cuMemcpyDtoH_v2, sd_memcpy_1d(SD_H, dstHost, 0, SD_D, NULL, srcDevice, ByteCount, NULL, 0, 1));
}
CUresult CUDAAPI cuMemcpyDtoH_v2_ptds(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount)
{
    SD_API(cuMemcpyDtoH_v2_ptds, sd_memcpy_1d(SD_H, dstHost, 0, SD_D, NULL, srcDevice, ByteCount, NULL, 1, 1));
}
CUresult CUDAAPI cuMemcpyDtoD_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount)
{
    SD_API(cuMemcpyDtoD_v2, sd_memcpy_1d(SD_D, NULL, dstDevice, SD_D, NULL, srcDevice, ByteCount, NULL, 0, 1));
}
CUresult CUDAAPI cuMemcpyDtoD_v2_ptds(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount)
{
    SD_API(cuMemcpyDtoD_v2_ptds, sd_memcpy_1d(SD_D, NULL, dstDevice, SD_D, NULL, srcDevice, ByteCount, NULL, 1, 1));
}
CUresult CUDAAPI cuMemcpy(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount)
{
    SD_API(cuMemcpy, sd_memcpy_1d(SD_U, NULL, dst, SD_U, NULL, src, ByteCount, NULL, 0, 1));
}
CUresult CUDAAPI cuMemcpy_ptds(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount)
{
    SD_API(cuMemcpy_ptds, sd_memcpy_1d(SD_U, NULL, dst, SD_U, NULL, src, ByteCount, NULL, 1, 1));
}
CUresult CUDAAPI cuMemcpyHtoDAsync_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount, CUstream hStream)
{
    SD_API(cuMemcpyHtoDAsync_v2,
           sd_memcpy_1d(SD_D, NULL, dstDevice, SD_H, srcHost, 0, ByteCount, hStream, 0, 0));
}
CUresult CUDAAPI cuMemcpyHtoDAsync_v2_ptsz(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount,
                                           CUstream hStream)
{
    SD_API(cuMemcpyHtoDAsync_v2_ptsz,
           sd_memcpy_1d(SD_D, NULL, dstDevice, SD_H, srcHost, 0, ByteCount, hStream, 1, 0));
}
CUresult CUDAAPI cuMemcpyDtoHAsync_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream)
{
    SD_API(cuMemcpyDtoHAsync_v2,
           sd_memcpy_1d(SD_H, dstHost, 0, SD_D, NULL, srcDevice, ByteCount, hStream, 0, 0));
}
CUresult CUDAAPI cuMemcpyDtoHAsync_v2_ptsz(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount,
                                           CUstream hStream)
{
    SD_API(cuMemcpyDtoHAsync_v2_ptsz,
           sd_memcpy_1d(SD_H, dstHost, 0, SD_D, NULL, srcDevice, ByteCount, hStream, 1, 0));
}
CUresult CUDAAPI cuMemcpyDtoDAsync_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount,
                                      CUstream hStream)
{
    SD_API(cuMemcpyDtoDAsync_v2,
           sd_memcpy_1d(SD_D, NULL, dstDevice, SD_D, NULL, srcDevice, ByteCount, hStream, 0, 0));
}
CUresult CUDAAPI cuMemcpyDtoDAsync_v2_ptsz(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount,
                                           CUstream hStream)
{
    SD_API(cuMemcpyDtoDAsync_v2_ptsz,
           sd_memcpy_1d(SD_D, NULL, dstDevice, SD_D, NULL, srcDevice, ByteCount, hStream, 1, 0));
}
CUresult CUDAAPI cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount, CUstream hStream)
{
    SD_API(cuMemcpyAsync, sd_memcpy_1d(SD_U, NULL, dst, SD_U, NULL, src, ByteCount, hStream, 0, 0));
}
CUresult CUDAAPI cuMemcpyAsync_ptsz(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount, CUstream hStream)
{
    SD_API(cuMemcpyAsync_ptsz, sd_memcpy_1d(SD_U, NULL, dst, SD_U, NULL, src, ByteCount, hStream, 1, 0));
}

static CUresult sd_memcpy_peer(CUdeviceptr dst, CUcontext dctx, CUdeviceptr src, CUcontext sctx, size_t n,
                               CUstream h, int pt, int sync)
{
    if (!sd_ctx_valid(dctx) || !sd_ctx_valid(sctx))
        return sd_check_init() ? sd_check_init() : CUDA_ERROR_INVALID_CONTEXT;
    return sd_memcpy_1d(SD_D, NULL, dst, SD_D, NULL, src, n, h, pt, sync);
}

CUresult CUDAAPI cuMemcpyPeer(CUdeviceptr dstDevice, CUcontext dstContext, CUdeviceptr srcDevice,
                              CUcontext srcContext, size_t ByteCount)
{
    SD_API(cuMemcpyPeer, sd_memcpy_peer(dstDevice, dstContext, srcDevice, srcContext, ByteCount, NULL, 0, 1));
}
CUresult CUDAAPI cuMemcpyPeerAsync(CUdeviceptr dstDevice, CUcontext dstContext, CUdeviceptr srcDevice,
                                   CUcontext srcContext, size_t ByteCount, CUstream hStream)
{
    SD_API(cuMemcpyPeerAsync,
           sd_memcpy_peer(dstDevice, dstContext, srcDevice, srcContext, ByteCount, hStream, 0, 0));
}

static CUresult sd_memcpy_nd(const CUDA_MEMCPY2D *p2, const CUDA_MEMCPY3D *p3, CUstream h, int pt, int sync)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!p2 && !p3)
        return CUDA_ERROR_INVALID_VALUE;
    sd_copy_t c;
    r = p2 ? sd_copy_from_2d(&c, p2) : sd_copy_from_3d(&c, p3);
    if (r)
        return r;
    return sd_copy_submit(&c, h, pt, sync);
}

CUresult CUDAAPI cuMemcpy2D_v2(const CUDA_MEMCPY2D *pCopy)
{
    SD_API(cuMemcpy2D_v2, sd_memcpy_nd(pCopy, NULL, NULL, 0, 1));
}
CUresult CUDAAPI cuMemcpy2DUnaligned_v2(const CUDA_MEMCPY2D *pCopy)
{
    SD_API(cuMemcpy2DUnaligned_v2, sd_memcpy_nd(pCopy, NULL, NULL, 0, 1));
}
CUresult CUDAAPI cuMemcpy3D_v2(const CUDA_MEMCPY3D *pCopy)
{
    SD_API(cuMemcpy3D_v2, sd_memcpy_nd(NULL, pCopy, NULL, 0, 1));
}
CUresult CUDAAPI cuMemcpy2DAsync_v2(const CUDA_MEMCPY2D *pCopy, CUstream hStream)
{
    SD_API(cuMemcpy2DAsync_v2, sd_memcpy_nd(pCopy, NULL, hStream, 0, 0));
}
CUresult CUDAAPI cuMemcpy2DAsync_v2_ptsz(const CUDA_MEMCPY2D *pCopy, CUstream hStream)
{
    SD_API(cuMemcpy2DAsync_v2_ptsz, sd_memcpy_nd(pCopy, NULL, hStream, 1, 0));
}
CUresult CUDAAPI cuMemcpy3DAsync_v2(const CUDA_MEMCPY3D *pCopy, CUstream hStream)
{
    SD_API(cuMemcpy3DAsync_v2, sd_memcpy_nd(NULL, pCopy, hStream, 0, 0));
}
CUresult CUDAAPI cuMemcpy3DAsync_v2_ptsz(const CUDA_MEMCPY3D *pCopy, CUstream hStream)
{
    SD_API(cuMemcpy3DAsync_v2_ptsz, sd_memcpy_nd(NULL, pCopy, hStream, 1, 0));
}

/* ---- memsets ---- */

static CUresult sd_memset(CUdeviceptr dst, size_t pitch, unsigned value, unsigned elem, size_t width,
                          size_t height, CUstream h, int pt)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (width == 0 || height == 0)
        return CUDA_SUCCESS;
    sd_work_t w;
    memset(&w, 0, sizeof(w));
    w.type = CU_GRAPH_NODE_TYPE_MEMSET;
    r = sd_memset_make(&w.set, dst, pitch, value, elem, width, height);
    if (r)
        return r;
    CUstream s;
    r = sd_stream_resolve(h, pt, &s);
    if (r)
        return r;
    w.ctx = s->ctx;
    return sd_stream_submit(s, &w);
}

CUresult CUDAAPI cuMemsetD8_v2(CUdeviceptr dstDevice, unsigned char uc, size_t N)
{
    SD_API(cuMemsetD8_v2, sd_memset(dstDevice, 0, uc, 1, N, 1, NULL, 0));
}
CUresult CUDAAPI cuMemsetD8_v2_ptds(CUdeviceptr dstDevice, unsigned char uc, size_t N)
{
    SD_API(cuMemsetD8_v2_ptds, sd_memset(dstDevice, 0, uc, 1, N, 1, NULL, 1));
}
CUresult CUDAAPI cuMemsetD16_v2(CUdeviceptr dstDevice, unsigned short us, size_t N)
{
    SD_API(cuMemsetD16_v2, sd_memset(dstDevice, 0, us, 2, N, 1, NULL, 0));
}
CUresult CUDAAPI cuMemsetD16_v2_ptds(CUdeviceptr dstDevice, unsigned short us, size_t N)
{
    SD_API(cuMemsetD16_v2_ptds, sd_memset(dstDevice, 0, us, 2, N, 1, NULL, 1));
}
CUresult CUDAAPI cuMemsetD32_v2(CUdeviceptr dstDevice, unsigned int ui, size_t N)
{
    SD_API(cuMemsetD32_v2, sd_memset(dstDevice, 0, ui, 4, N, 1, NULL, 0));
}
CUresult CUDAAPI cuMemsetD32_v2_ptds(CUdeviceptr dstDevice, unsigned int ui, size_t N)
{
    SD_API(cuMemsetD32_v2_ptds, sd_memset(dstDevice, 0, ui, 4, N, 1, NULL, 1));
}
CUresult CUDAAPI cuMemsetD2D8_v2(CUdeviceptr dstDevice, size_t dstPitch, unsigned char uc, size_t Width, size_t Height)
{
    SD_API(cuMemsetD2D8_v2, sd_memset(dstDevice, dstPitch, uc, 1, Width, Height, NULL, 0));
}
CUresult CUDAAPI cuMemsetD2D16_v2(CUdeviceptr dstDevice, size_t dstPitch, unsigned short us, size_t Width,
                                  size_t Height)
{
    SD_API(cuMemsetD2D16_v2, sd_memset(dstDevice, dstPitch, us, 2, Width, Height, NULL, 0));
}
CUresult CUDAAPI cuMemsetD2D32_v2(CUdeviceptr dstDevice, size_t dstPitch, unsigned int ui, size_t Width,
                                  size_t Height)
{
    SD_API(cuMemsetD2D32_v2, sd_memset(dstDevice, dstPitch, ui, 4, Width, Height, NULL, 0));
}
CUresult CUDAAPI cuMemsetD8Async(CUdeviceptr dstDevice, unsigned char uc, size_t N, CUstream hStream)
{
    SD_API(cuMemsetD8Async, sd_memset(dstDevice, 0, uc, 1, N, 1, hStream, 0));
}
CUresult CUDAAPI cuMemsetD8Async_ptsz(CUdeviceptr dstDevice, unsigned char uc, size_t N, CUstream hStream)
{
    SD_API(cuMemsetD8Async_ptsz, sd_memset(dstDevice, 0, uc, 1, N, 1, hStream, 1));
}
CUresult CUDAAPI cuMemsetD16Async(CUdeviceptr dstDevice, unsigned short us, size_t N, CUstream hStream)
{
    SD_API(cuMemsetD16Async, sd_memset(dstDevice, 0, us, 2, N, 1, hStream, 0));
}
CUresult CUDAAPI cuMemsetD16Async_ptsz(CUdeviceptr dstDevice, unsigned short us, size_t N, CUstream hStream)
{
    SD_API(cuMemsetD16Async_ptsz, sd_memset(dstDevice, 0, us, 2, N, 1, hStream, 1));
}
CUresult CUDAAPI cuMemsetD32Async(CUdeviceptr dstDevice, unsigned int ui, size_t N, CUstream hStream)
{
    SD_API(cuMemsetD32Async, sd_memset(dstDevice, 0, ui, 4, N, 1, hStream, 0));
}
CUresult CUDAAPI cuMemsetD32Async_ptsz(CUdeviceptr dstDevice, unsigned int ui, size_t N, CUstream hStream)
{
    SD_API(cuMemsetD32Async_ptsz, sd_memset(dstDevice, 0, ui, 4, N, 1, hStream, 1));
}
CUresult CUDAAPI cuMemsetD2D8Async(CUdeviceptr dstDevice, size_t dstPitch, unsigned char uc, size_t Width,
                                   size_t Height, CUstream hStream)
{
    SD_API(cuMemsetD2D8Async, sd_memset(dstDevice, dstPitch, uc, 1, Width, Height, hStream, 0));
}
CUresult CUDAAPI cuMemsetD2D16Async(CUdeviceptr dstDevice, size_t dstPitch, unsigned short us, size_t Width,
                                    size_t Height, CUstream hStream)
{
    SD_API(cuMemsetD2D16Async, sd_memset(dstDevice, dstPitch, us, 2, Width, Height, hStream, 0));
}
CUresult CUDAAPI cuMemsetD2D32Async(CUdeviceptr dstDevice, size_t dstPitch, unsigned int ui, size_t Width,
                                    size_t Height, CUstream hStream)
{
    SD_API(cuMemsetD2D32Async, sd_memset(dstDevice, dstPitch, ui, 4, Width, Height, hStream, 0));
}

/* ---- stream-ordered allocation ---- */

static CUresult sd_alloc_async(CUdeviceptr *dptr, size_t size, CUstream h, int pt)
{
    CUstream s;
    CUresult r = sd_stream_resolve(h, pt, &s);
    if (r)
        return r;
    if (!dptr)
        return CUDA_ERROR_INVALID_VALUE;
    if (s->cap && s->cap->invalidated)
        return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
    sd_alloc_t *a;
    /* Captured allocations belong to the graph (a mem-alloc node); others to the pool. */
    r = sd_mem_alloc_device(s->cap ? SD_ALLOC_GRAPH : SD_ALLOC_ASYNC, s->ctx, size, &a);
    if (r)
        return r;
    sd_work_t w;
    memset(&w, 0, sizeof(w));
    w.type = CU_GRAPH_NODE_TYPE_MEM_ALLOC;
    w.dptr = a->base;
    w.bytes = size;
    w.ctx = s->ctx;
    w.alloc.bytesize = size;
    w.alloc.dptr = a->base;
    w.alloc.poolProps.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
    w.alloc.poolProps.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    w.alloc.poolProps.location.id = s->ctx->device;
    r = sd_stream_submit(s, &w);
    if (r) {
        sd_mem_release(a);
        return r;
    }
    *dptr = a->base;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
    SD_API(cuMemAllocAsync, sd_alloc_async(dptr, bytesize, hStream, 0));
}
CUresult CUDAAPI cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
    SD_API(cuMemAllocAsync_ptsz, sd_alloc_async(dptr, bytesize, hStream, 1));
}
CUresult CUDAAPI cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool, CUstream hStream)
{
    (void)pool;
    SD_API(cuMemAllocFromPoolAsync, sd_alloc_async(dptr, bytesize, hStream, 0));
}
CUresult CUDAAPI cuMemAllocFromPoolAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool,
                                              CUstream hStream)
{
    (void)pool;
    SD_API(cuMemAllocFromPoolAsync_ptsz, sd_alloc_async(dptr, bytesize, hStream, 1));
}

static CUresult sd_free_async(CUdeviceptr dptr, CUstream h, int pt)
{
    CUstream s;
    CUresult r = sd_stream_resolve(h, pt, &s);
    if (r)
        return r;
    sd_alloc_t *a = sd_mem_find(dptr);
    if (!a || a->base != dptr || (a->kind != SD_ALLOC_ASYNC && a->kind != SD_ALLOC_DEVICE &&
                                  a->kind != SD_ALLOC_GRAPH))
        return CUDA_ERROR_INVALID_VALUE;
    if (a->freeing)
        return CUDA_ERROR_INVALID_VALUE;
    sd_work_t w;
    memset(&w, 0, sizeof(w));
    w.type = CU_GRAPH_NODE_TYPE_MEM_FREE;
    w.dptr = dptr;
    w.bytes = a->size;
    w.ctx = s->ctx;
    int capturing = s->cap != NULL;
    sd_op_t *op;
    r = sd_submit_op(s, &w, &op);
    if (r || capturing)
        return r;
    if (a->kind == SD_ALLOC_GRAPH) {
        /* Graph memory freed outside its graph: released once the free runs and every graph
         * holding the allocation node is gone; until then the graph keeps it. */
        return CUDA_SUCCESS;
    }
    op->kind = SD_OP_FREE;
    op->free_alloc = a;
    a->freeing = 1;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream)
{
    SD_API(cuMemFreeAsync, sd_free_async(dptr, hStream, 0));
}
CUresult CUDAAPI cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream hStream)
{
    SD_API(cuMemFreeAsync_ptsz, sd_free_async(dptr, hStream, 1));
}
