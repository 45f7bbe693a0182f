/* Deterministic discrete-event simulation of a step graph on one device (semantics in lct_sim.h).
 *
 * Invariant: between two events every running node of an engine progresses at the same rate, so
 * one number per engine, its virtual progress V (isolated-us of work done by each of its running
 * nodes since time 0), describes all of them: a node started at progress V0 with cost c finishes
 * when V reaches V0 + c. Each engine keeps its running nodes in a min-heap keyed by that target
 * (ties by node index); the next event is the earliest of the two heads and the earliest host
 * delay, which takes O(log n) per node overall.
 *
 * Algorithm: release the nodes with no predecessors at t = 0; repeatedly advance time to the next
 * completion, with the rates fixed since the last event (compute: (1 - f [comm running]) / c,
 * communication: 1 / m), finish every node that reached its target, and start the successors
 * whose predecessors are all done. Zero-duration nodes finish at the time they start, in the same
 * event. Accounting for busy, overlapped and exposed communication is integrated per interval. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/lct_hash.h"
#include "core/lct_log.h"
#include "cost/lct_sim_int.h"

lct_sim_class_t lct_sim_node_class(const lct_node_t *n)
{
    if (!(n->cost_us > 0))
        return LCT_SIM_INSTANT;
    switch (n->kind) {
    case LCT_NODE_KERNEL:
    case LCT_NODE_MEMCPY:
    case LCT_NODE_MEMSET:
        return LCT_SIM_COMPUTE;
    case LCT_NODE_COLLECTIVE:
        return LCT_SIM_COMM;
    case LCT_NODE_HOST:
        return LCT_SIM_HOST;
    default:
        return LCT_SIM_INSTANT;
    }
}

bool lct_sim_is_a2a(const lct_node_t *n)
{
    return n->kind == LCT_NODE_COLLECTIVE && n->coll.op == LCT_COLL_ALLTOALL;
}

/* ---- heap of (key, node) ---- */

typedef struct {
    double key;
    uint32_t id;
} hent_t;

typedef struct {
    hent_t *h;
    uint32_t len;
} heap_t;

static bool hless(const hent_t *a, const hent_t *b)
{
    return a->key < b->key || (a->key == b->key && a->id < b->id);
}

static void heap_push(heap_t *q, double key, uint32_t id)
{
    uint32_t i = q->len++;
    hent_t e = {key, id};
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!hless(&e, &q->h[p]))
            break;
        q->h[i] = q->h[p];
        i = p;
    }
    q->h[i] = e;
}

static hent_t heap_pop(heap_t *q)
{
    hent_t top = q->h[0], last = q->h[--q->len];
    uint32_t i = 0;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= q->len)
            break;
        if (c + 1 < q->len && hless(&q->h[c + 1], &q->h[c]))
            c++;
        if (!hless(&q->h[c], &last))
            break;
        q->h[i] = q->h[c];
        i = c;
    }
    if (q->len)
        q->h[i] = last;
    return top;
}

/* A target counts as reached within a relative 1e-12 (plus 1e-9 us absolute): keys computed along
 * different paths for what is the same instant must not leave a sliver event behind. */
static bool reached(double key, double now)
{
    return key <= now + 1e-12 * fabs(now) + 1e-9;
}

/* ---- simulation state ---- */

typedef struct {
    const lct_graph_t *g;
    lct_sim_result_t *res;
    double f;           /* interference */
    uint32_t *indeg;    /* predecessors not yet finished */
    uint32_t *stack;    /* instant nodes finished but not yet propagated */
    uint32_t nstack;
    heap_t comp, comm, host;
    double t, vc, vm;
    uint32_t done;
    LCT_VEC(double) busy; /* compute-busy intervals [busy[2k], busy[2k+1]), time order, disjoint */
} sim_t;

static void node_start(sim_t *s, uint32_t v)
{
    const lct_node_t *n = LCT_NODE(s->g, v);
    s->res->start[v] = s->t;
    switch (lct_sim_node_class(n)) {
    case LCT_SIM_COMPUTE:
        heap_push(&s->comp, s->vc + n->cost_us, v);
        break;
    case LCT_SIM_COMM:
        heap_push(&s->comm, s->vm + n->cost_us, v);
        break;
    case LCT_SIM_HOST:
        heap_push(&s->host, s->t + n->cost_us, v);
        break;
    default:
        s->res->end[v] = s->t;
        s->stack[s->nstack++] = v;
        break;
    }
}

/* Propagate the finished nodes on the stack: start every successor that became ready;
 * zero-duration ones land on the stack again and cascade within this same instant. */
static void drain(sim_t *s)
{
    const lct_graph_t *g = s->g;
    while (s->nstack) {
        uint32_t u = s->stack[--s->nstack];
        s->done++;
        for (uint32_t k = g->succ_off[u]; k < g->succ_off[u + 1]; k++) {
            uint32_t w = g->succ[k];
            if (--s->indeg[w] == 0)
                node_start(s, w);
        }
    }
}

static void node_finish(sim_t *s, uint32_t v)
{
    s->res->end[v] = s->t;
    s->stack[s->nstack++] = v;
    drain(s);
}

static lct_status_t busy_add(sim_t *s, double t0, double t1)
{
    if (s->busy.len && s->busy.data[s->busy.len - 1] >= t0) {
        s->busy.data[s->busy.len - 1] = t1;
        return LCT_OK;
    }
    if (LCT_VEC_PUSH(&s->busy, t0) != LCT_OK || LCT_VEC_PUSH(&s->busy, t1) != LCT_OK)
        return LCT_ERR_NOMEM;
    return LCT_OK;
}

static lct_status_t sim_loop(sim_t *s)
{
    const double inf = INFINITY;
    lct_sim_result_t *r = s->res;
    while (s->comp.len || s->comm.len || s->host.len) {
        uint32_t nc = s->comp.len, nm = s->comm.len;
        double rc = nc ? (1.0 - (nm ? s->f : 0.0)) / nc : 0.0;
        double rm = nm ? 1.0 / nm : 0.0;
        double dc = nc && rc > 0 ? (s->comp.h[0].key - s->vc) / rc : inf;
        double dm = nm ? (s->comm.h[0].key - s->vm) / rm : inf;
        double dh = s->host.len ? s->host.h[0].key - s->t : inf;
        double dt = fmin(dc, fmin(dm, dh));
        if (!(dt < inf)) {
            LCT_WARN("simulator stalled at %.3f us with %u compute and %u comm nodes running",
                     s->t, nc, nm);
            return LCT_ERR_INTERNAL;
        }
        if (dt < 0)
            dt = 0;
        if (nm) {
            r->comm_busy += dt;
            if (nc)
                r->comm_overlapped += dt;
        }
        if (nc && dt > 0)
            LCT_CHECK(busy_add(s, s->t, s->t + dt));
        /* Advance; the engine (or delay) that defines the event lands exactly on its target. */
        s->vc = dt == dc ? s->comp.h[0].key : s->vc + rc * dt;
        s->vm = dt == dm ? s->comm.h[0].key : s->vm + rm * dt;
        s->t = dt == dh ? s->host.h[0].key : s->t + dt;
        if (nc && s->busy.len && s->busy.data[s->busy.len - 1] < s->t)
            s->busy.data[s->busy.len - 1] = s->t;
        /* Successors start inside node_finish with targets at the current progress, which is
         * right whatever the rates become: a target is work, not time. */
        while (s->comp.len && reached(s->comp.h[0].key, s->vc))
            node_finish(s, heap_pop(&s->comp).id);
        while (s->comm.len && reached(s->comm.h[0].key, s->vm))
            node_finish(s, heap_pop(&s->comm).id);
        while (s->host.len && reached(s->host.h[0].key, s->t))
            node_finish(s, heap_pop(&s->host).id);
    }
    return LCT_OK;
}

/* Compute-idle time of [t0, t1): its length minus its overlap with the compute-busy intervals. */
static double idle_within(const sim_t *s, double t0, double t1)
{
    size_t nint = s->busy.len / 2;
    const double *b = s->busy.data;
    /* first interval whose end is after t0 */
    size_t lo = 0, hi = nint;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b[2 * mid + 1] <= t0)
            lo = mid + 1;
        else
            hi = mid;
    }
    double covered = 0;
    for (size_t k = lo; k < nint && b[2 * k] < t1; k++)
        covered += fmin(t1, b[2 * k + 1]) - fmax(t0, b[2 * k]);
    double idle = (t1 - t0) - covered;
    return idle > 0 ? idle : 0;
}

/* (start, index) order of a node subset, through keyed copies: qsort_r is not portable. */
typedef struct {
    double start;
    uint32_t id;
} start_key_t;

static int start_key_cmp(const void *pa, const void *pb)
{
    const start_key_t *a = pa, *b = pb;
    if (a->start != b->start)
        return a->start < b->start ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

lct_status_t lct_sim_sort_by_start(const lct_sim_result_t *r, uint32_t *ids, uint32_t m)
{
    if (m < 2)
        return LCT_OK;
    start_key_t *k = malloc(m * sizeof(*k));
    if (!k)
        return LCT_ERR_NOMEM;
    for (uint32_t i = 0; i < m; i++)
        k[i] = (start_key_t){r->start[ids[i]], ids[i]};
    qsort(k, m, sizeof(*k), start_key_cmp);
    for (uint32_t i = 0; i < m; i++)
        ids[i] = k[i].id;
    free(k);
    return LCT_OK;
}

typedef struct {
    double t;
    uint32_t pos; /* topological position: ties follow dependencies, then launch order */
    uint32_t id;
} mem_ev_t;

static int mem_ev_cmp(const void *pa, const void *pb)
{
    const mem_ev_t *a = pa, *b = pb;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* Peak of bytes live between mem_alloc and mem_free nodes, at their end times. A free is matched
 * to the allocation at the same address; a free of memory allocated outside the graph changes
 * nothing; a free without an address releases its mem_bytes. */
static lct_status_t sim_peak_mem(const lct_graph_t *g, lct_sim_result_t *r)
{
    uint32_t n = LCT_NNODES(g), nev = 0;
    for (uint32_t i = 0; i < n; i++)
        if (LCT_NODE(g, i)->kind == LCT_NODE_MEM_ALLOC || LCT_NODE(g, i)->kind == LCT_NODE_MEM_FREE)
            nev++;
    r->peak_mem_bytes = 0;
    if (!nev)
        return LCT_OK;
    mem_ev_t *ev = malloc(nev * sizeof(*ev));
    uint32_t *pos = malloc(n * sizeof(*pos));
    lct_map_t live_at;
    lct_map_init(&live_at);
    lct_status_t st = LCT_OK;
    if (!ev || !pos) {
        st = LCT_ERR_NOMEM;
        goto out;
    }
    for (uint32_t k = 0; k < n; k++)
        pos[g->topo[k]] = k;
    nev = 0;
    for (uint32_t i = 0; i < n; i++)
        if (LCT_NODE(g, i)->kind == LCT_NODE_MEM_ALLOC || LCT_NODE(g, i)->kind == LCT_NODE_MEM_FREE)
            ev[nev++] = (mem_ev_t){r->end[i], pos[i], i};
    qsort(ev, nev, sizeof(*ev), mem_ev_cmp);
    double live = 0, peak = 0;
    for (uint32_t k = 0; k < nev; k++) {
        const lct_node_t *nd = LCT_NODE(g, ev[k].id);
        bool has_addr = nd->fp.nranges > 0;
        uint64_t addr = has_addr ? nd->fp.ranges[0].addr : 0;
        if (nd->kind == LCT_NODE_MEM_ALLOC) {
            live += (double)nd->mem_bytes;
            if (has_addr && (st = lct_map_put(&live_at, addr, nd->mem_bytes + 1)) != LCT_OK)
                goto out;
            if (live > peak)
                peak = live;
        } else {
            uint64_t v = 0;
            if (has_addr && lct_map_get(&live_at, addr, &v) && v > 0) {
                live -= (double)(v - 1);
                if ((st = lct_map_put(&live_at, addr, 0)) != LCT_OK)
                    goto out;
            } else if (!has_addr) {
                live -= fmin(live, (double)nd->mem_bytes);
            }
        }
    }
    r->peak_mem_bytes = peak;
out:
    if (st != LCT_OK)
        LCT_WARN("out of memory computing peak memory");
    lct_map_free(&live_at);
    free(ev);
    free(pos);
    return st;
}

void lct_sim_result_free(lct_sim_result_t *res)
{
    if (!res)
        return;
    free(res->start);
    free(res->end);
    free(res->a2a_nodes);
    free(res->a2a_exposed);
    memset(res, 0, sizeof(*res));
}

lct_status_t lct_sim_run(const lct_graph_t *g, const lct_sim_cfg_t *cfg, lct_sim_result_t *res)
{
    if (!g || !res)
        return LCT_ERR_INVALID;
    if (!g->adj_valid) {
        LCT_WARN("simulator: graph adjacency is stale (call lct_graph_fill_adj first)");
        return LCT_ERR_INVALID;
    }
    double f = cfg ? cfg->interference : 0.0;
    if (!(f >= 0 && f <= 1)) {
        LCT_WARN("simulator: interference %g out of range (accepted: 0 to 1)", f);
        return LCT_ERR_INVALID;
    }
    uint32_t n = LCT_NNODES(g);
    for (uint32_t i = 0; i < n; i++)
        if (isinf(LCT_NODE(g, i)->cost_us)) {
            LCT_WARN("simulator: node %u (%s) has an infinite cost", i, LCT_NODE(g, i)->name);
            return LCT_ERR_INVALID;
        }

    lct_sim_result_t r;
    memset(&r, 0, sizeof(r));
    sim_t s;
    memset(&s, 0, sizeof(s));
    s.g = g;
    s.res = &r;
    s.f = f;
    lct_status_t st = LCT_OK;
    size_t nn = (size_t)n + 1;
    r.n = n;
    r.start = malloc(nn * sizeof(double));
    r.end = malloc(nn * sizeof(double));
    s.indeg = malloc(nn * sizeof(uint32_t));
    s.stack = malloc(nn * sizeof(uint32_t));
    s.comp.h = malloc(nn * sizeof(hent_t));
    s.comm.h = malloc(nn * sizeof(hent_t));
    s.host.h = malloc(nn * sizeof(hent_t));
    double *dist = malloc(nn * sizeof(double));
    if (!r.start || !r.end || !s.indeg || !s.stack || !s.comp.h || !s.comm.h || !s.host.h || !dist) {
        LCT_WARN("simulator: out of memory for %u nodes", n);
        st = LCT_ERR_NOMEM;
        goto fail;
    }

    /* Totals and the critical path under isolated costs. */
    for (uint32_t k = 0; k < n; k++) {
        uint32_t v = g->topo[k];
        const lct_node_t *nd = LCT_NODE(g, v);
        lct_sim_class_t cls = lct_sim_node_class(nd);
        double d = cls == LCT_SIM_INSTANT ? 0.0 : nd->cost_us;
        if (cls == LCT_SIM_COMPUTE)
            r.compute_total += d;
        else if (cls == LCT_SIM_COMM)
            r.comm_total += d;
        double best = 0;
        for (uint32_t e = g->pred_off[v]; e < g->pred_off[v + 1]; e++)
            if (dist[g->pred[e]] > best)
                best = dist[g->pred[e]];
        dist[v] = best + d;
        if (dist[v] > r.critical_path)
            r.critical_path = dist[v];
    }
    r.lower_bound = fmax(r.critical_path, fmax(r.compute_total, r.comm_total));
    /* Compute progresses at total rate 1 - f while communication runs and 1 otherwise, and the
     * engine is busy with communication for exactly comm_total: so a step lasts at least the
     * compute work plus f times whatever communication overlaps it, plus the communication that
     * does not; the least of that is compute_total + f * comm_total. */
    r.lower_bound_interference = fmax(r.lower_bound, r.compute_total + f * r.comm_total);

    /* Timeline. */
    for (uint32_t v = 0; v < n; v++)
        s.indeg[v] = g->pred_off[v + 1] - g->pred_off[v];
    for (uint32_t v = 0; v < n; v++)
        if (g->pred_off[v + 1] == g->pred_off[v]) { /* a source (indeg may be 0 by now too) */
            node_start(&s, v);
            drain(&s); /* an instant source finishes at once and may release more nodes */
        }
    LCT_CHECK_GOTO(sim_loop(&s), st, fail);
    if (s.done != n) {
        LCT_WARN("simulator: %u of %u nodes never ran (inconsistent adjacency)", n - s.done, n);
        st = LCT_ERR_INTERNAL;
        goto fail;
    }
    for (uint32_t v = 0; v < n; v++)
        if (r.end[v] > r.makespan)
            r.makespan = r.end[v];
    r.comm_exposed = r.comm_busy - r.comm_overlapped;
    if (r.comm_exposed < 0)
        r.comm_exposed = 0;

    /* Per all-to-all exposure. */
    for (uint32_t v = 0; v < n; v++)
        if (lct_sim_is_a2a(LCT_NODE(g, v)))
            r.na2a++;
    if (r.na2a) {
        r.a2a_nodes = malloc(r.na2a * sizeof(uint32_t));
        r.a2a_exposed = malloc(r.na2a * sizeof(double));
        if (!r.a2a_nodes || !r.a2a_exposed) {
            LCT_WARN("simulator: out of memory for the all-to-all table");
            st = LCT_ERR_NOMEM;
            goto fail;
        }
        uint32_t k = 0;
        for (uint32_t v = 0; v < n; v++)
            if (lct_sim_is_a2a(LCT_NODE(g, v)))
                r.a2a_nodes[k++] = v;
        if (lct_sim_sort_by_start(&r, r.a2a_nodes, r.na2a) != LCT_OK) {
            LCT_WARN("simulator: out of memory sorting the all-to-all table");
            st = LCT_ERR_NOMEM;
            goto fail;
        }
        for (k = 0; k < r.na2a; k++) {
            uint32_t v = r.a2a_nodes[k];
            r.a2a_exposed[k] = idle_within(&s, r.start[v], r.end[v]);
        }
    }
    LCT_CHECK_GOTO(sim_peak_mem(g, &r), st, fail);

    free(dist);
    free(s.indeg);
    free(s.stack);
    free(s.comp.h);
    free(s.comm.h);
    free(s.host.h);
    LCT_VEC_FREE(&s.busy);
    *res = r;
    return LCT_OK;

fail:
    free(dist);
    free(s.indeg);
    free(s.stack);
    free(s.comp.h);
    free(s.comm.h);
    free(s.host.h);
    LCT_VEC_FREE(&s.busy);
    lct_sim_result_free(&r);
    return st;
}

/* ---- picture helpers shared by the writers ---- */

lct_vis_role_t lct_vis_role(const lct_node_t *n)
{
    if (n->kind == LCT_NODE_COLLECTIVE) {
        if (n->coll.op == LCT_COLL_ALLTOALL || n->role == LCT_ROLE_A2A)
            return LCT_VIS_A2A;
        if (n->coll.op == LCT_COLL_ALLREDUCE || n->role == LCT_ROLE_ALLREDUCE)
            return LCT_VIS_ALLREDUCE;
        return LCT_VIS_OTHER;
    }
    switch (n->role) {
    case LCT_ROLE_DW:
        return LCT_VIS_DW;
    case LCT_ROLE_DX:
        return LCT_VIS_DX;
    default:
        break;
    }
    if (n->phase == LCT_PHASE_OPTIMIZER)
        return LCT_VIS_OPTIMIZER;
    if (n->phase == LCT_PHASE_FORWARD)
        return LCT_VIS_FORWARD;
    return LCT_VIS_OTHER;
}

/* Okabe-Ito palette: distinguishable with the common colour-vision deficiencies. */
static const struct {
    const char *label, *colour;
} vis_roles[LCT_VIS_COUNT] = {
    [LCT_VIS_FORWARD] = {"forward", "#0072B2"},  [LCT_VIS_DX] = {"dX", "#56B4E9"},
    [LCT_VIS_DW] = {"dW", "#009E73"},            [LCT_VIS_A2A] = {"a2a", "#D55E00"},
    [LCT_VIS_ALLREDUCE] = {"all-reduce", "#CC79A7"}, [LCT_VIS_OPTIMIZER] = {"optimizer", "#E69F00"},
    [LCT_VIS_OTHER] = {"other", "#999999"},
};

const char *lct_vis_role_label(lct_vis_role_t r)
{
    return (unsigned)r < LCT_VIS_COUNT ? vis_roles[r].label : "?";
}

const char *lct_vis_role_colour(lct_vis_role_t r)
{
    return (unsigned)r < LCT_VIS_COUNT ? vis_roles[r].colour : "#000000";
}

lct_status_t lct_sim_rows(const lct_graph_t *g, const lct_sim_result_t *res, uint32_t **row_p,
                          uint32_t *ncompute_rows_p, uint32_t *ncomm_rows_p)
{
    uint32_t n = res->n, m = 0;
    uint32_t *row = malloc(((size_t)n + 1) * sizeof(*row));
    uint32_t *order = malloc(((size_t)n + 1) * sizeof(*order));
    LCT_VEC(double) free_at[2] = {{NULL, 0, 0}, {NULL, 0, 0}}; /* per lane: end of each row */
    lct_status_t st = LCT_OK;
    if (!row || !order) {
        st = LCT_ERR_NOMEM;
        goto out;
    }
    for (uint32_t v = 0; v < n; v++) {
        row[v] = UINT32_MAX;
        if (lct_sim_node_class(LCT_NODE(g, v)) != LCT_SIM_INSTANT && res->end[v] > res->start[v])
            order[m++] = v;
    }
    if ((st = lct_sim_sort_by_start(res, order, m)) != LCT_OK)
        goto out;
    for (uint32_t k = 0; k < m; k++) {
        uint32_t v = order[k];
        int lane = lct_sim_node_class(LCT_NODE(g, v)) == LCT_SIM_COMM;
        uint32_t r = 0;
        while (r < free_at[lane].len && free_at[lane].data[r] > res->start[v])
            r++;
        if (r == free_at[lane].len && (st = LCT_VEC_PUSH(&free_at[lane], 0.0)) != LCT_OK)
            goto out;
        free_at[lane].data[r] = res->end[v];
        row[v] = r;
    }
    *ncompute_rows_p = (uint32_t)free_at[0].len;
    *ncomm_rows_p = (uint32_t)free_at[1].len;
    *row_p = row;
    row = NULL;
out:
    if (st != LCT_OK)
        LCT_WARN("out of memory assigning timeline rows");
    free(row);
    free(order);
    LCT_VEC_FREE(&free_at[0]);
    LCT_VEC_FREE(&free_at[1]);
    return st;
}
