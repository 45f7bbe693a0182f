/* The simulated device's clock: a discrete-event simulation of the operations programs enqueue.
 *
 * What it keeps: every enqueued operation (stream work, or one operation per node of a launched
 * graph) with its dependencies (stream order, event waits, graph edges, legacy-stream
 * synchronisation). An operation becomes ready when its dependencies have ended and the host has
 * submitted it; it starts a latency later (kernel launch latency, or the smaller per-node latency
 * inside graphs) and ends when its work is done.
 *
 * How time passes (DESIGN.md §8, issue 3 §2):
 *  - compute kernels share their device by processor sharing: each running kernel may use at
 *    most its occupancy share of the device (grid blocks over resident-block slots, capped at 1;
 *    SIMDEV_SHARING=fair makes every share 1), and the capacity left is split max-min fairly.
 *    A kernel alone runs at its isolated duration max(flops / peak, bytes / bandwidth).
 *  - communication kernels take start and duration from their provider's comm_start (which
 *    synchronises ranks); while they run they hold SIMDEV_COMM_SM_SHARE of the device each, and
 *    concurrent compute runs SIMDEV_INTERFERENCE times slower.
 *  - copies and memsets take bytes / bandwidth on engines of their own.
 *
 * Laziness: nothing advances until the host must observe the device (a synchronisation, a query,
 * a synchronous copy, exit). The host clock (sd.host_now) is never behind the device clock, so
 * newly submitted work never starts in the simulated past.
 *
 * Determinism: events at equal times are processed in creation order; no pointer ordering. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sd_internal.h"

enum { SD_EV_READY = 0, SD_EV_START, SD_EV_END };

typedef struct {
    double t;
    uint64_t seq;
    int type;
    sd_op_t *op;
} sd_event_t;

static SD_VEC(sd_event_t) sd_heap;
static uint64_t sd_event_seq;
static double sd_now;
static SD_VEC(sd_op_t *) sd_running[SD_MAX_DEVICES];
static int sd_ncomm[SD_MAX_DEVICES];
static size_t sd_live;        /* submitted, not yet done */

/* ---- heap ---- */

static int sd_ev_less(const sd_event_t *a, const sd_event_t *b)
{
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static void sd_push(double t, int type, sd_op_t *op)
{
    sd_event_t e = {t, ++sd_event_seq, type, op};
    SD_VEC_PUSH(&sd_heap, e);
    size_t i = sd_heap.n - 1;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!sd_ev_less(&sd_heap.v[i], &sd_heap.v[p]))
            break;
        sd_event_t tmp = sd_heap.v[i];
        sd_heap.v[i] = sd_heap.v[p];
        sd_heap.v[p] = tmp;
        i = p;
    }
}

static sd_event_t sd_pop(void)
{
    sd_event_t top = sd_heap.v[0];
    sd_heap.v[0] = sd_heap.v[--sd_heap.n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < sd_heap.n && sd_ev_less(&sd_heap.v[l], &sd_heap.v[m]))
            m = l;
        if (r < sd_heap.n && sd_ev_less(&sd_heap.v[r], &sd_heap.v[m]))
            m = r;
        if (m == i)
            break;
        sd_event_t tmp = sd_heap.v[i];
        sd_heap.v[i] = sd_heap.v[m];
        sd_heap.v[m] = tmp;
        i = m;
    }
    return top;
}

/* ---- operations ---- */

sd_op_t *sd_op_new(int kind, int device)
{
    sd_op_t *op = sd_xcalloc(1, sizeof(*op));
    op->seq = ++sd.next_op_seq;
    op->kind = kind;
    op->refs = 1;
    op->device = device;
    op->cap = 1;
    op->corr = sd.corr;
    return op;
}

void sd_op_ref(sd_op_t *op)
{
    if (op)
        op->refs++;
}

void sd_op_unref(sd_op_t *op)
{
    if (!op || --op->refs > 0)
        return;
    sd_kparams_unref(op->w.kp);
    free(op->staged);
    SD_VEC_FREE(&op->succ);
    free(op);
}

static double sd_copy_bw(int copy_kind)
{
    return copy_kind == 8 ? sd.dev.info.mem_bw / 2 : sd.dev.info.pcie_bw;
}

sd_op_t *sd_op_from_work(const sd_work_t *w, const simdev_launch_desc_t *d, int device, int in_graph)
{
    const simdev_device_info_t *di = &sd.dev.info;
    double gap = in_graph ? sd.dev.graph_node_us : di->launch_us;
    sd_op_t *op;
    switch (w->type) {
    case CU_GRAPH_NODE_TYPE_KERNEL: {
        op = sd_op_new(SD_OP_KERNEL, device);
        op->w.type = w->type;
        op->w.kp = w->kp;
        sd_kparams_ref(w->kp);
        op->name = w->kp->func->k->name;
        op->is_comm = d->is_comm;
        double peak = d->tensor_core ? di->flops_f16 : di->flops_f32;
        double t = fmax(d->flops / peak, d->bytes / di->mem_bw) * 1e6;
        op->work = t > 0 && isfinite(t) ? t : 0;
        op->gap = gap;
        if (sd.sharing_occupancy) {
            const sd_kparams_t *kp = w->kp;
            double blocks = (double)kp->grid[0] * kp->grid[1] * kp->grid[2];
            double tpb = (double)kp->block[0] * kp->block[1] * kp->block[2];
            double per_sm = floor(sd.dev.max_threads_per_sm / tpb);
            per_sm = per_sm < 1 ? 1 : per_sm > 32 ? 32 : per_sm;
            double cap = blocks / (di->sms * per_sm);
            op->cap = cap > 1 ? 1 : cap < 1e-3 ? 1e-3 : cap;
        }
        break;
    }
    case CU_GRAPH_NODE_TYPE_MEMCPY:
        op = sd_op_new(SD_OP_MEMCPY, device);
        op->w.type = w->type;
        op->w.copy = w->copy;
        op->name = w->copy.copy_kind == 1   ? "[CUDA memcpy Host-to-Device]"
                   : w->copy.copy_kind == 2 ? "[CUDA memcpy Device-to-Host]"
                   : w->copy.copy_kind == 8 ? "[CUDA memcpy Device-to-Device]"
                                            : "[CUDA memcpy Host-to-Host]";
        op->dur = (double)w->copy.bytes / sd_copy_bw(w->copy.copy_kind) * 1e6;
        op->gap = in_graph ? gap : sd.dev.copy_latency_us;
        break;
    case CU_GRAPH_NODE_TYPE_MEMSET:
        op = sd_op_new(SD_OP_MEMSET, device);
        op->w.type = w->type;
        op->w.set = w->set;
        op->name = "[CUDA memset]";
        op->dur = (double)w->set.elem * w->set.width * w->set.height / di->mem_bw * 1e6;
        op->gap = gap;
        break;
    case CU_GRAPH_NODE_TYPE_HOST:
        op = sd_op_new(SD_OP_HOST, device);
        op->w.type = w->type;
        op->w.fn = w->fn;
        op->w.user = w->user;
        op->name = "host function";
        op->gap = gap;
        break;
    case CU_GRAPH_NODE_TYPE_MEM_ALLOC:
        op = sd_op_new(SD_OP_ALLOC, device);
        op->name = "memory allocation";
        break;
    default:
        op = sd_op_new(SD_OP_MARK, device);
        op->name = "marker";
        break;
    }
    return op;
}

void sd_op_after(sd_op_t *op, sd_op_t *pred)
{
    if (!pred || pred == op)
        return;
    if (pred->state == SD_ST_DONE) {
        if (pred->t_end > op->t_ready)
            op->t_ready = pred->t_end;
        return;
    }
    for (size_t i = 0; i < pred->succ.n; i++)
        if (pred->succ.v[i] == op)
            return;
    SD_VEC_PUSH(&pred->succ, op);
    op->npending++;
}

void sd_op_submit(sd_op_t *op)
{
    op->t_submit = sd.host_now;
    if (op->t_ready < op->t_submit)
        op->t_ready = op->t_submit;
    sd_live++;
    if (op->npending == 0)
        sd_push(op->t_ready, SD_EV_READY, op);
}

/* ---- effects of an operation when it starts ---- */

static void sd_copy_run(const sd_copy_t *c, const void *staged)
{
    const CUDA_MEMCPY3D *p = &c->p;
    unsigned char *dst = p->dstMemoryType == CU_MEMORYTYPE_HOST ? (unsigned char *)p->dstHost
                                                                 : (unsigned char *)(uintptr_t)p->dstDevice;
    const unsigned char *src = staged ? (const unsigned char *)staged
                               : p->srcMemoryType == CU_MEMORYTYPE_HOST
                                   ? (const unsigned char *)p->srcHost
                                   : (const unsigned char *)(uintptr_t)p->srcDevice;
    int dst_real = sd.compute || p->dstMemoryType == CU_MEMORYTYPE_HOST;
    int src_real = sd.compute || p->srcMemoryType == CU_MEMORYTYPE_HOST || staged;
    if (!dst_real)
        return;
    size_t sh = p->srcHeight ? p->srcHeight : p->Height, dh = p->dstHeight ? p->dstHeight : p->Height;
    size_t sp = p->srcPitch ? p->srcPitch : p->WidthInBytes, dp = p->dstPitch ? p->dstPitch : p->WidthInBytes;
    for (size_t z = 0; z < p->Depth; z++)
        for (size_t y = 0; y < p->Height; y++) {
            unsigned char *d = dst + p->dstXInBytes + (p->dstY + y) * dp + (p->dstZ + z) * dp * dh;
            if (staged) {
                /* Staged sources are packed. */
                memcpy(d, src + (z * p->Height + y) * p->WidthInBytes, p->WidthInBytes);
                continue;
            }
            const unsigned char *s = src + p->srcXInBytes + (p->srcY + y) * sp + (p->srcZ + z) * sp * sh;
            if (src_real)
                memmove(d, s, p->WidthInBytes);
            else
                memset(d, 0, p->WidthInBytes); /* timing mode: device contents read as zeros */
        }
}

static void sd_memset_run(const sd_memset_t *m)
{
    if (!sd.compute)
        return;
    for (size_t y = 0; y < m->height; y++) {
        unsigned char *row = (unsigned char *)(uintptr_t)(m->dst + y * m->pitch);
        if (m->elem == 1) {
            memset(row, (int)(m->value & 0xff), m->width);
        } else if (m->elem == 2) {
            uint16_t v = (uint16_t)m->value;
            for (size_t i = 0; i < m->width; i++)
                memcpy(row + 2 * i, &v, 2);
        } else {
            uint32_t v = m->value;
            for (size_t i = 0; i < m->width; i++)
                memcpy(row + 4 * i, &v, 4);
        }
    }
}

static void sd_rates(int dev);

static void sd_finish(sd_op_t *op);

static void sd_start(sd_op_t *op)
{
    op->state = SD_ST_RUNNING;
    op->t_start = sd_now;
    switch (op->kind) {
    case SD_OP_KERNEL:
        if (!op->is_comm && sd.compute && op->w.kp->func->k->run) {
            simdev_launch_t l;
            sd_kparams_launch(op->w.kp, op->device, &l);
            op->w.kp->func->k->run(&l);
        }
        if (op->is_comm) {
            sd_ncomm[op->device]++;
            sd_push(sd_now + op->dur, SD_EV_END, op);
            sd_rates(op->device);
        } else if (op->work > 0) {
            op->rem = op->work;
            SD_VEC_PUSH(&sd_running[op->device], op);
            sd_rates(op->device);
        } else {
            sd_finish(op);
        }
        return;
    case SD_OP_MEMCPY:
        sd_copy_run(&op->w.copy, op->staged);
        break;
    case SD_OP_MEMSET:
        sd_memset_run(&op->w.set);
        break;
    case SD_OP_HOST:
        if (op->w.fn)
            op->w.fn(op->w.user);
        break;
    case SD_OP_FREE:
        if (op->free_alloc) {
            sd_mem_release(op->free_alloc);
            op->free_alloc = NULL;
        }
        break;
    default:
        break;
    }
    if (op->dur > 0)
        sd_push(sd_now + op->dur, SD_EV_END, op);
    else
        sd_finish(op);
}

static void sd_activity(const sd_op_t *op)
{
    if (!sd.act.n)
        return;
    simdev_activity_t a;
    memset(&a, 0, sizeof(a));
    switch (op->kind) {
    case SD_OP_KERNEL:
        a.kind = 0;
        memcpy(a.grid, op->w.kp->grid, sizeof(a.grid));
        memcpy(a.block, op->w.kp->block, sizeof(a.block));
        a.smem = op->w.kp->smem;
        break;
    case SD_OP_MEMCPY:
        a.kind = 1;
        a.bytes = op->w.copy.bytes;
        a.copy_kind = op->w.copy.copy_kind;
        break;
    case SD_OP_MEMSET:
        a.kind = 2;
        a.bytes = (uint64_t)op->w.set.elem * op->w.set.width * op->w.set.height;
        break;
    default: return;
    }
    a.name = op->name;
    a.start_us = op->t_start;
    a.end_us = op->t_end;
    a.stream_id = op->stream_id;
    a.correlation_id = op->corr;
    a.graph_id = op->graph_id;
    a.graph_node_id = op->node_id;
    a.graph_exec_id = op->exec_id;
    a.device = op->device;
    a.context_id = op->ctx ? op->ctx->id : 0;
    sd_emit_activity(&a);
}

static void sd_finish(sd_op_t *op)
{
    op->state = SD_ST_DONE;
    op->t_end = sd_now;
    sd_activity(op);
    for (size_t i = 0; i < op->succ.n; i++) {
        sd_op_t *s = op->succ.v[i];
        if (op->t_end > s->t_ready)
            s->t_ready = op->t_end;
        if (--s->npending == 0)
            sd_push(s->t_ready, SD_EV_READY, s);
    }
    SD_VEC_FREE(&op->succ);
    sd_live--;
    sd_op_unref(op); /* the simulation's reference */
}

static void sd_ready(sd_op_t *op)
{
    op->state = SD_ST_READY;
    double start = sd_now + op->gap;
    if (op->kind == SD_OP_KERNEL && op->is_comm) {
        const simdev_kernel_t *k = op->w.kp->func->k;
        double s = start, d = 0;
        if (sd.exiting) {
            /* Peers may be gone: work left at exit is not communicated. */
            sd_debug("communication kernel %s still pending at exit: not run", k->name);
        } else if (!k->comm_start) {
            sd_log("communication kernel %s has no comm_start: it takes no time", k->name);
        } else {
            simdev_launch_t l;
            sd_kparams_launch(op->w.kp, op->device, &l);
            if (k->comm_start(&l, start, &s, &d) != 0) {
                sd_log("communication kernel %s failed (deadlock or peer failure); its context "
                       "reports CUDA_ERROR_LAUNCH_FAILED from now on", k->name);
                if (op->ctx)
                    op->ctx->sticky = CUDA_ERROR_LAUNCH_FAILED;
                s = start;
                d = 0;
            }
        }
        op->dur = d > 0 && isfinite(d) ? d : 0;
        start = s >= sd_now && isfinite(s) ? s : sd_now;
    }
    sd_push(start, SD_EV_START, op);
}

/* ---- processor sharing ---- */

static void sd_rates(int dev)
{
    size_t n = sd_running[dev].n;
    if (!n)
        return;
    sd_op_t **v = sd_running[dev].v;
    /* Order by (cap, seq): water-filling visits the smallest demands first. */
    for (size_t i = 1; i < n; i++) {
        sd_op_t *x = v[i];
        size_t j = i;
        while (j > 0 && (v[j - 1]->cap > x->cap || (v[j - 1]->cap == x->cap && v[j - 1]->seq > x->seq))) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
    double held = sd_ncomm[dev] * sd.comm_share;
    double capacity = 1 - (held > 0.95 ? 0.95 : held);
    double slow = sd_ncomm[dev] ? sd.interference : 1;
    for (size_t i = 0; i < n; i++) {
        double fair = capacity / (double)(n - i);
        double a = v[i]->cap < fair ? v[i]->cap : fair;
        capacity -= a;
        v[i]->rate = a / v[i]->cap / slow;
    }
}

static void sd_advance(double t)
{
    double dt = t - sd_now;
    if (dt > 0)
        for (int d = 0; d < SD_MAX_DEVICES; d++)
            for (size_t i = 0; i < sd_running[d].n; i++)
                sd_running[d].v[i]->rem -= sd_running[d].v[i]->rate * dt;
    if (t > sd_now)
        sd_now = t;
}

/* One step of the simulation, never past limit. Returns 0 when nothing happens up to limit (the
 * clock then stands at limit, if limit is finite). */
static int sd_step(double limit)
{
    double t_heap = sd_heap.n ? sd_heap.v[0].t : INFINITY;
    double t_comp = INFINITY;
    int comp_dev = -1;
    size_t comp_i = 0;
    for (int d = 0; d < SD_MAX_DEVICES; d++)
        for (size_t i = 0; i < sd_running[d].n; i++) {
            sd_op_t *op = sd_running[d].v[i];
            double t = op->rate > 0 ? sd_now + (op->rem > 0 ? op->rem : 0) / op->rate : INFINITY;
            if (t < t_comp || (t == t_comp && comp_dev >= 0 && op->seq < sd_running[comp_dev].v[comp_i]->seq)) {
                t_comp = t;
                comp_dev = d;
                comp_i = i;
            }
        }
    double t_next = t_heap < t_comp ? t_heap : t_comp;
    if (t_next == INFINITY || t_next > limit) {
        if (limit != INFINITY && limit > sd_now)
            sd_advance(limit);
        return 0;
    }
    sd_advance(t_next);
    if (comp_dev >= 0 && t_comp <= t_heap) {
        sd_op_t *op = sd_running[comp_dev].v[comp_i];
        memmove(&sd_running[comp_dev].v[comp_i], &sd_running[comp_dev].v[comp_i + 1],
                (sd_running[comp_dev].n - comp_i - 1) * sizeof(op));
        sd_running[comp_dev].n--;
        op->rem = 0;
        sd_rates(comp_dev);
        sd_finish(op);
        return 1;
    }
    sd_event_t e = sd_pop();
    switch (e.type) {
    case SD_EV_READY: sd_ready(e.op); break;
    case SD_EV_START: sd_start(e.op); break;
    case SD_EV_END:
        if (e.op->kind == SD_OP_KERNEL && e.op->is_comm) {
            sd_ncomm[e.op->device]--;
            sd_rates(e.op->device);
        }
        sd_finish(e.op);
        break;
    }
    return 1;
}

void sd_des_run_until_op(sd_op_t *op)
{
    if (!op)
        return;
    sd_op_ref(op);
    while (op->state != SD_ST_DONE) {
        if (!sd_step(INFINITY)) {
            sd_log("internal error: an awaited operation (%s) can never complete", op->name);
            break;
        }
    }
    if (op->t_end > sd.host_now)
        sd.host_now = op->t_end;
    sd_op_unref(op);
}

void sd_des_run_until_time(double t)
{
    while (sd_step(t))
        ;
}

void sd_des_run_all(int at_exit)
{
    while (sd_step(INFINITY))
        ;
    if (!at_exit && sd_now > sd.host_now)
        sd.host_now = sd_now;
}

int sd_des_pending(void)
{
    return sd_live > 0;
}
