/* Virtual duration of NCCL work from the fabric profile (simdev_fabric_info) and the device
 * profile (simdev_device_info).
 *
 * The model is the one nccl-tests sweeps are read with: time = latency + bytes moved over the
 * bottleneck link / bus bandwidth, with NCCL's ring factors (all-reduce moves 2(n-1)/n of the
 * buffer per rank, all-gather and reduce-scatter (n-1)/n of the full buffer, broadcast and reduce
 * the buffer once).
 *  - Bus bandwidth inside one node: NVLink per direction per GPU x 0.8 (what NCCL reaches).
 *  - Across nodes: the node's NICs together x 0.9, capped by NVLink.
 *  - Point-to-point work (send/recv groups, all-to-all, gather, scatter): this rank's bytes to
 *    peers in its node over NVLink and to other nodes over its share of the node's NICs (the
 *    NICs split among the communicator's ranks on that node), both in parallel.
 *  - Latency: the link latency once per level of a tree over the ranks of a node and over the
 *    nodes (all-reduce twice: reduce then broadcast).
 * Nodes are blocks of gpus_per_node consecutive MPI world ranks. Collective durations depend only
 * on values every member computes identically, so the ranks' clocks stay equal after a collective. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nccl.h>

#include "simnccl.h"

#define EFF_NVLINK 0.8
#define EFF_NIC 0.9

typedef struct {
    int gpn;
    double nvl_bw, nvl_lat;
    double nic_node_bw, nic_lat;
    double mem_bw;
} fabric_t;

static void fabric_get(fabric_t *f)
{
    const simdev_fabric_info_t *fi = simdev_fabric_info();
    const simdev_device_info_t *di = simdev_device_info();
    /* Defaults: p4de, in case the driver was started without a fabric profile. */
    f->gpn = 8;
    f->nvl_bw = 300e9;
    f->nvl_lat = 2.5;
    f->nic_node_bw = 4 * 12.5e9;
    f->nic_lat = 8.0;
    f->mem_bw = 2.0e12;
    if (fi) {
        if (fi->gpus_per_node > 0)
            f->gpn = fi->gpus_per_node;
        if (fi->nvlink_bw > 0)
            f->nvl_bw = fi->nvlink_bw;
        if (fi->nvlink_latency_us >= 0)
            f->nvl_lat = fi->nvlink_latency_us;
        if (fi->nic_bw > 0 && fi->nics_per_node > 0)
            f->nic_node_bw = fi->nic_bw * fi->nics_per_node;
        if (fi->nic_latency_us >= 0)
            f->nic_lat = fi->nic_latency_us;
    }
    if (di && di->mem_bw > 0)
        f->mem_bw = di->mem_bw;
}

int simnccl_fabric_gpus_per_node(void)
{
    fabric_t f;
    fabric_get(&f);
    return f.gpn;
}

typedef struct {
    int nnodes;   /* nodes the communicator spans */
    int maxlocal; /* most members on one node */
    int mylocal;  /* members on this rank's node */
} span_t;

static void comm_span(const simnccl_comm_t *c, int gpn, span_t *s)
{
    int n = c->nranks;
    int *node = malloc((size_t)n * sizeof *node);
    s->nnodes = 1;
    s->maxlocal = n;
    s->mylocal = n;
    if (!node)
        return;
    for (int r = 0; r < n; r++)
        node[r] = c->world_ranks[r] / gpn;
    int mynode = node[c->rank];
    s->nnodes = 0;
    s->maxlocal = 0;
    s->mylocal = 0;
    for (int r = 0; r < n; r++) {
        int first = 1, cnt = 0;
        for (int q = 0; q < n; q++) {
            if (node[q] == node[r]) {
                if (q < r)
                    first = 0;
                cnt++;
            }
        }
        if (first)
            s->nnodes++;
        if (cnt > s->maxlocal)
            s->maxlocal = cnt;
        if (node[r] == mynode)
            s->mylocal = cnt;
    }
    free(node);
}

static double tree_latency(const fabric_t *f, const span_t *s)
{
    double lat = f->nvl_lat * (1.0 + log2((double)(s->maxlocal > 1 ? s->maxlocal : 1)));
    if (s->nnodes > 1)
        lat += f->nic_lat * (1.0 + log2((double)s->nnodes));
    return lat;
}

static double bus_bw(const fabric_t *f, const span_t *s)
{
    double nvl = EFF_NVLINK * f->nvl_bw;
    if (s->nnodes <= 1)
        return nvl;
    double nic = EFF_NIC * f->nic_node_bw;
    return nic < nvl ? nic : nvl;
}

static double coll_us(const fabric_t *f, const span_t *s, int n, const simnccl_task_t *t)
{
    double b = (double)t->count * (double)simnccl_dtype_size(t->dtype);
    if (n == 1) {
        /* a local copy kernel, when the buffers differ */
        double copy = t->sendbuff != t->recvbuff ? 2.0 * b / f->mem_bw * 1e6 : 0.0;
        return 0.5 * f->nvl_lat + copy;
    }
    double bw = bus_bw(f, s);
    double lat = tree_latency(f, s);
    double nn = (double)n;
    switch (t->kind) {
    case SIMNCCL_ALLREDUCE:
        return 2.0 * lat + 2.0 * (nn - 1.0) / nn * b / bw * 1e6;
    case SIMNCCL_ALLGATHER:
    case SIMNCCL_REDUCESCATTER:
        return lat + (nn - 1.0) / nn * (b * nn) / bw * 1e6;
    case SIMNCCL_BROADCAST:
    case SIMNCCL_REDUCE:
        return lat + b / bw * 1e6;
    default:
        return lat;
    }
}

/* Point-to-point part of a plan (send/recv tasks, all-to-all, gather, scatter), this rank's view. */
static double p2p_us(const fabric_t *f, const span_t *s, const simnccl_plan_t *p)
{
    const simnccl_comm_t *c = p->comm;
    int n = c->nranks, me = c->rank;
    int mynode = c->world_ranks[me] / f->gpn;
    double in_send = 0, in_recv = 0, ex_send = 0, ex_recv = 0;
    int any = 0, inter = 0, npeers = 0;
#define ADD(peer, bytes, is_send)                                                               \
    do {                                                                                        \
        int q_ = (peer);                                                                        \
        if (q_ == me)                                                                           \
            break;                                                                              \
        npeers++;                                                                               \
        if (c->world_ranks[q_] / f->gpn == mynode) {                                            \
            if (is_send) in_send += (bytes); else in_recv += (bytes);                           \
        } else {                                                                                \
            inter = 1;                                                                          \
            if (is_send) ex_send += (bytes); else ex_recv += (bytes);                           \
        }                                                                                       \
    } while (0)
    for (uint32_t i = 0; i < p->ntasks; i++) {
        const simnccl_task_t *t = &p->tasks[i];
        double b = (double)t->count * (double)simnccl_dtype_size(t->dtype);
        switch (t->kind) {
        case SIMNCCL_SEND: any = 1; ADD(t->peer, b, 1); break;
        case SIMNCCL_RECV: any = 1; ADD(t->peer, b, 0); break;
        case SIMNCCL_ALLTOALL:
            any = 1;
            for (int q = 0; q < n; q++) {
                ADD(q, b, 1);
                ADD(q, b, 0);
            }
            break;
        case SIMNCCL_GATHER:
        case SIMNCCL_SCATTER:
            any = 1;
            if (t->peer == me) {
                for (int q = 0; q < n; q++)
                    ADD(q, b, t->kind == SIMNCCL_SCATTER);
            } else {
                ADD(t->peer, b, t->kind == SIMNCCL_GATHER);
            }
            break;
        default:
            break;
        }
    }
#undef ADD
    if (!any)
        return 0.0;
    double nvl = EFF_NVLINK * f->nvl_bw;
    double nic = EFF_NIC * f->nic_node_bw / (double)(s->mylocal > 0 ? s->mylocal : 1);
    double t_in = fmax(in_send, in_recv) / nvl * 1e6;
    double t_ex = fmax(ex_send, ex_recv) / nic * 1e6;
    double lat = f->nvl_lat + (inter ? f->nic_lat : 0.0) + 0.05 * npeers;
    if (n == 1)
        lat = 0.5 * f->nvl_lat;
    return lat + fmax(t_in, t_ex);
}

double simnccl_fabric_plan_us(const simnccl_plan_t *p)
{
    fabric_t f;
    span_t s;
    fabric_get(&f);
    comm_span(p->comm, f.gpn, &s);
    double t = 0;
    for (uint32_t i = 0; i < p->ntasks; i++) {
        int k = p->tasks[i].kind;
        if (k == SIMNCCL_ALLREDUCE || k == SIMNCCL_ALLGATHER || k == SIMNCCL_REDUCESCATTER ||
            k == SIMNCCL_BROADCAST || k == SIMNCCL_REDUCE)
            t += coll_us(&f, &s, p->comm->nranks, &p->tasks[i]);
    }
    return t + p2p_us(&f, &s, p);
}
