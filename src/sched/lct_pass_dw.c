/* Backward dW scheduling: weight-gradient work runs inside the all-to-all windows of the backward.
 *
 * What it does. In the backward pass each MoE layer issues all-to-alls (a2a) whose results the
 * next input-gradient (dX) kernels need, so the compute engine idles while they run. Weight- and
 * other parameter-gradient kernels (role dw: weight GEMMs, bias and gate gradients) have no
 * consumer until the gradient all-reduce or the optimizer, so they can fill that idle time. The
 * pass assigns dW nodes to a2a windows and expresses the assignment as SCHED edges.
 *
 * Invariant kept. Only SCHED edges are added; no node and no existing edge is touched, so every
 * true dependency (footprint conflicts, barriers, collective order: DESIGN.md invariants 1-3)
 * still holds. Each placement edge is checked against the current reachability before it is
 * added, so the graph stays acyclic; pins are checked as a whole (below); lct_graph_fill_adj
 * verifies it again at the end. Added peak live memory, relative to the graph as the pass
 * received it, stays within ctx->mem_budget_bytes (invariant 6).
 *
 * Eligibility (Lancet, MLSys'24, section on dW scheduling). The windows are the backward a2a's in
 * launch order. A dW node d may go into the window of a2a A when d is a compute node of role dw,
 * there is no directed path between d and A in either direction, and d is not downstream of a
 * GRAD_SYNC collective or an optimizer node (those belong to the next phase). dW order is kept:
 * when dW1 reaches dW2, dW2 never goes into an earlier window than dW1. Eligibility is always
 * evaluated on the current graph, placements included, because placements add paths.
 *
 * Greedy (the paper's best fit). Walk the windows in launch order with remaining = t(A). First,
 * except in the final window, every unused dW whose last eligible window is this one is forced
 * in (launch order). Then repeatedly take the unused eligible dW minimising |t(dW) - remaining|
 * (ties: earlier launch), subtract its cost, and stop when none is left, or when one is already
 * placed and the best is more than 2x the remaining time (which includes remaining <= 0). Costs
 * are isolated costs.
 *
 * Final window (ours; the paper forces in there too). In the final window the forced-in rule
 * takes every dW still unplaced, far more work than the window lasts on big models (GPT2-L, 16
 * V100s: 60 dW into one 2.7 ms window). The paper's all-reduce starts after the backward, so
 * that only fills the window; in a DDP-style step each gradient bucket's all-reduce waits for
 * its last dW, and the pile-up delays the all-reduce tail (72 ms exposed there). So the final
 * window gets best fit only, and what is left is pinned.
 *
 * Tail window (ours; LANCET_DW_TAIL, own rules only). The gradient all-reduce launched last,
 * R_last, when it follows every a2a window and some dW could run beside it, is one more window,
 * after the a2a windows: dW that no all-reduce waits for (expert weights) run there while the
 * compute engine would otherwise wait for the step's last bucket. Its start edges come from
 * R_last's compute predecessors only (R_last may queue behind earlier buckets while the engine
 * is free); it has no finish edge. Its room is the compute-free span before R_last's end in the
 * timeline without it, times (1 - f). The greedy runs twice, without the tail and with the tail
 * filled first; the tail is kept when it undid no more placements for memory and the step with
 * the all-reduce fill (on a copy) is shorter. docs/passes.md has the measurements.
 *
 * Pins (ours). An unplaced candidate d is kept where the program launched it: SCHED edges
 * prev -> d and d -> next, where prev / next are the nearest compute nodes of d's stream before
 * / after it in launch order that are not candidates themselves (edges implied by the input
 * graph are not added). After the dependency reconstruction only true dependencies remain, so
 * an unplaced dW would otherwise run as soon as its inputs exist, competing with the critical
 * path, or pile up with others in front of an all-reduce. Pins are part of every graph the pass
 * evaluates (dw_apply) and of the final one. Together with placement edges they can close a
 * cycle; the edge list is then checked (Kahn's count) and, on a cycle, all pins are left out of
 * that graph. docs/passes.md has the measurements.
 *
 * Edges. Placing d in the window of A adds
 *   p -> d  for every direct predecessor p of A   ("start with the window": d becomes ready
 *           exactly when A does; the predecessors are A's true dependencies after the
 *           reconstruction, so nothing earlier than the window is waited for), and
 *   d -> c  for the first compute node c downstream of A, by launch order ("finish inside it":
 *           the compute that consumes A's output, the head of the critical path after the
 *           window, waits for d instead of competing with it for the compute engine).
 * Edges implied by a path of the input graph are not added. Neither edge can close a cycle when
 * no path joins d and A: a cycle through p -> d needs d ->* p ->* A, one through d -> c needs
 * A ->* c ->* d. During the greedy the reachability matrix is updated edge by edge
 * (lct_sched_reach_add_edge) instead of being recomputed after each placement.
 *
 * Improvement (ours; the paper has no interference model). With ctx->dw_improve, a local search
 * under the timeline simulator with ctx->interference: first "unplace everything" is tried,
 * then for each candidate in launch order: move it out of its window (so, pin it), or into one
 * of the few nearest eligible windows (for an unplaced dW, the windows with the most room
 * left; eligibility is judged with the dW pinned). The first move that lowers the simulated
 * makespan by more than one part per million is kept; sweeps repeat while something improves,
 * within a fixed number of simulations (deterministic). Last, "no pins at all" is tried once.
 * Moves that raise peak memory beyond the budget are not taken.
 *
 * Memory. Delaying a dW keeps the activation gradients it reads alive longer, and so can a pin.
 * The budget is relative to peak0, the peak of the graph as the pass received it. First the
 * pins alone (nothing placed) are simulated; when they already exceed the budget, the pass runs
 * without pins. So "nothing placed" always keeps the budget, and when the plan's added peak
 * exceeds it, placements are undone one at a time (an undone dW is pinned), each time the one
 * whose removal lowers the peak most (ties: the last placed), or, when that would need too many
 * simulations, the last placed, until the budget holds. */
#include "sched/lct_sched.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/lct_analysis.h"
#include "core/lct_bitset.h"
#include "core/lct_log.h"
#include "sched/lct_sched_int.h"

#define DW_NONE UINT32_MAX
/* Improvement budget, in simulations (a reachability fill counts as one):
 * min(MAX, BASE + PER_CAND * candidates, max(BASE, NODE_EVALS / nodes)), so that big graphs,
 * whose simulations cost more, get fewer of them. */
#define DW_IMPROVE_BASE_EVALS 64
#define DW_IMPROVE_EVALS_PER_CAND 8
#define DW_IMPROVE_MAX_EVALS 2048
#define DW_IMPROVE_NODE_EVALS 1500000u
/* Windows tried per candidate and sweep. */
#define DW_IMPROVE_OPTIONS 4
/* Simulations the memory step may spend choosing which placement to undo. */
#define DW_MEM_MAX_EVALS 256

typedef struct {
    lct_graph_t *g;
    lct_plan_ctx_t *ctx;
    lct_sim_cfg_t simcfg;
    uint32_t n;
    size_t base_nedges;          /* edges present on entry; ours are appended after them */
    lct_reach_t base;            /* reachability on entry */
    uint32_t nwin;               /* windows: the a2a windows, then the tail window if any */
    uint32_t nwin_a2a;           /* how many of them are a2a windows */
    double tail_rem;             /* compute the tail window holds (0: its all-reduce's cost) */
    uint32_t *win;               /* a2a of each window, launch order; last: the tail's all-reduce */
    uint32_t *start_off, *start; /* per window: direct predecessors of its a2a */
    uint32_t *finish;            /* per window: first compute node after its a2a, or DW_NONE */
    uint32_t nblock;
    uint32_t *block;             /* GRAD_SYNC collectives and optimizer nodes */
    uint32_t ncand;
    uint32_t *cand;              /* candidate dW nodes, launch order */
    int32_t *assign;             /* per candidate: window index, or -1 */
    uint32_t *seq;               /* per candidate: placement stamp (larger = later) */
    uint32_t next_seq;
    uint32_t *pin_prev, *pin_next; /* per candidate: stream neighbours, or DW_NONE */
    bool pins;                     /* pin unplaced candidates (off when pins alone break the
                                    * memory budget) */
    uint32_t *topo_off, *topo_succ, *topo_deg, *topo_queue; /* scratch of the cycle check */
    size_t topo_cap;
} dw_t;

static double node_cost(const lct_graph_t *g, uint32_t v)
{
    double c = LCT_NODE(g, v)->cost_us;
    return c > 0 ? c : 0;
}

static bool rpath(const lct_reach_t *r, uint32_t a, uint32_t b)
{
    return lct_bitset_test(r->bits + (size_t)a * r->words, b);
}

static void dw_free(dw_t *dw)
{
    lct_reach_free(&dw->base);
    free(dw->win);
    free(dw->start_off);
    free(dw->start);
    free(dw->finish);
    free(dw->block);
    free(dw->cand);
    free(dw->assign);
    free(dw->seq);
    free(dw->pin_prev);
    free(dw->pin_next);
    free(dw->topo_off);
    free(dw->topo_succ);
    free(dw->topo_deg);
    free(dw->topo_queue);
}

/* Does node a come before node b in launch order (ties: index)? */
static bool launch_before(const lct_graph_t *g, uint32_t a, uint32_t b)
{
    uint32_t la = LCT_NODE(g, a)->launch_order, lb = LCT_NODE(g, b)->launch_order;
    return la < lb || (la == lb && a < b);
}

/* The pins of each candidate: the nearest compute nodes of its stream, by launch order, before
 * and after it that are not candidates themselves. */
static lct_status_t dw_setup_pins(dw_t *dw)
{
    lct_graph_t *g = dw->g;
    uint32_t n = dw->n;
    uint64_t *is_cand = calloc(((size_t)n + 63) / 64 + 1, sizeof(uint64_t));
    dw->pin_prev = malloc(((size_t)dw->ncand + 1) * sizeof(uint32_t));
    dw->pin_next = malloc(((size_t)dw->ncand + 1) * sizeof(uint32_t));
    dw->topo_off = malloc(((size_t)n + 2) * sizeof(uint32_t));
    dw->topo_deg = malloc(((size_t)n + 1) * sizeof(uint32_t));
    dw->topo_queue = malloc(((size_t)n + 1) * sizeof(uint32_t));
    if (!is_cand || !dw->pin_prev || !dw->pin_next || !dw->topo_off || !dw->topo_deg ||
        !dw->topo_queue) {
        free(is_cand);
        LCT_WARN("dw pass: out of memory preparing the pins of %u candidates", dw->ncand);
        return LCT_ERR_NOMEM;
    }
    for (uint32_t ci = 0; ci < dw->ncand; ci++)
        lct_bitset_set(is_cand, dw->cand[ci]);
    for (uint32_t ci = 0; ci < dw->ncand; ci++) {
        uint32_t d = dw->cand[ci], prev = DW_NONE, next = DW_NONE;
        int32_t s = LCT_NODE(g, d)->stream;
        for (uint32_t x = 0; x < n; x++) {
            const lct_node_t *nx = LCT_NODE(g, x);
            if (nx->stream != s || lct_bitset_test(is_cand, x) || !lct_sched_is_compute(nx))
                continue;
            if (launch_before(g, x, d)) {
                if (prev == DW_NONE || launch_before(g, prev, x))
                    prev = x;
            } else if (next == DW_NONE || launch_before(g, x, next)) {
                next = x;
            }
        }
        dw->pin_prev[ci] = prev;
        dw->pin_next[ci] = next;
        dw->pins = dw->pins || prev != DW_NONE || next != DW_NONE;
    }
    free(is_cand);
    return LCT_OK;
}

/* The tail window's collective: the gradient all-reduce launched last, when it comes after
 * every a2a window (no path from it to one of them). DW_NONE when there is none. */
static uint32_t dw_tail_collective(const dw_t *dw)
{
    const lct_graph_t *g = dw->g;
    uint32_t t = DW_NONE;
    for (uint32_t x = 0; x < dw->n; x++) {
        const lct_node_t *nd = LCT_NODE(g, x);
        if (!(nd->flags & LCT_NODE_F_GRAD_SYNC) || !lct_node_is_comm(nd) || !(nd->cost_us > 0))
            continue;
        if (t == DW_NONE || launch_before(g, t, x))
            t = x;
    }
    for (uint32_t w = 0; t != DW_NONE && w < dw->nwin; w++)
        if (rpath(&dw->base, t, dw->win[w]))
            t = DW_NONE;
    if (t == DW_NONE)
        return t;
    /* only worth a window when some dW could run beside it: one that no gradient all-reduce
     * waits for and that is not itself downstream of gradient sync or the optimizer */
    for (uint32_t x = 0; x < dw->n; x++) {
        const lct_node_t *nd = LCT_NODE(g, x);
        if (nd->role != LCT_ROLE_DW || !lct_sched_is_compute(nd) ||
            lct_reach_ordered(&dw->base, x, t))
            continue;
        bool blocked = false;
        for (uint32_t y = 0; y < dw->n && !blocked; y++) {
            const lct_node_t *ny = LCT_NODE(g, y);
            blocked = ((ny->flags & LCT_NODE_F_GRAD_SYNC) || ny->phase == LCT_PHASE_OPTIMIZER) &&
                      rpath(&dw->base, y, x);
        }
        if (!blocked)
            return t;
    }
    return DW_NONE;
}

/* Is p, a direct predecessor of window w's collective, one that w's dW wait for? For an a2a
 * window every predecessor (the window opens when the a2a can start). For the tail, only the
 * compute ones, unless it has none: its all-reduce may queue behind the previous one while the
 * compute engine is already free. */
static bool dw_start_pred(const dw_t *dw, uint32_t w, uint32_t p)
{
    const lct_graph_t *g = dw->g;
    if (w < dw->nwin_a2a || !lct_node_is_comm(LCT_NODE(g, p)))
        return true;
    uint32_t a = dw->win[w];
    for (uint32_t i = g->pred_off[a]; i < g->pred_off[a + 1]; i++)
        if (!lct_node_is_comm(LCT_NODE(g, g->pred[i])))
            return false;
    return true;
}

static lct_status_t dw_setup(dw_t *dw)
{
    lct_graph_t *g = dw->g;
    uint32_t n = dw->n;
    uint64_t *down = NULL;

    LCT_CHECK(lct_reach_fill(g, &dw->base));
    LCT_CHECK(lct_sched_windows(g, &dw->win, &dw->nwin));
    dw->nwin_a2a = dw->nwin;
    if (dw->nwin && dw->ctx->dw_tail && dw->ctx->dw_rules != LCT_DW_RULES_PAPER) {
        uint32_t t = dw_tail_collective(dw);
        if (t != DW_NONE) {
            uint32_t *w = realloc(dw->win, ((size_t)dw->nwin + 2) * sizeof(*w));
            if (!w)
                goto nomem;
            dw->win = w;
            dw->win[dw->nwin++] = t;
        }
    }

    dw->start_off = calloc((size_t)dw->nwin + 1, sizeof(uint32_t));
    dw->finish = malloc(((size_t)dw->nwin + 1) * sizeof(uint32_t));
    dw->block = malloc(((size_t)n + 1) * sizeof(uint32_t));
    dw->cand = malloc(((size_t)n + 1) * sizeof(uint32_t));
    down = calloc(dw->base.words ? dw->base.words : 1, sizeof(uint64_t));
    if (!dw->start_off || !dw->finish || !dw->block || !dw->cand || !down)
        goto nomem;

    for (uint32_t w = 0; w < dw->nwin; w++) {
        uint32_t a = dw->win[w], cnt = 0;
        for (uint32_t i = g->pred_off[a]; i < g->pred_off[a + 1]; i++)
            cnt += dw_start_pred(dw, w, g->pred[i]);
        dw->start_off[w + 1] = dw->start_off[w] + cnt;
    }
    dw->start = malloc(((size_t)dw->start_off[dw->nwin] + 1) * sizeof(uint32_t));
    if (!dw->start)
        goto nomem;
    for (uint32_t w = 0; w < dw->nwin; w++) {
        uint32_t a = dw->win[w], k = dw->start_off[w];
        for (uint32_t i = g->pred_off[a]; i < g->pred_off[a + 1]; i++)
            if (dw_start_pred(dw, w, g->pred[i]))
                dw->start[k++] = g->pred[i];
        /* the first compute node after the window, by launch order (the tail has none: what
         * follows its all-reduce is the optimizer, which waits for it anyway) */
        uint32_t best = DW_NONE;
        for (uint32_t x = 0; x < n && w < dw->nwin_a2a; x++) {
            if (!rpath(&dw->base, a, x) || !lct_sched_is_compute(LCT_NODE(g, x)))
                continue;
            if (best == DW_NONE || LCT_NODE(g, x)->launch_order < LCT_NODE(g, best)->launch_order)
                best = x;
        }
        dw->finish[w] = best;
    }

    /* Everything downstream of gradient synchronisation or the optimizer is off limits. */
    for (uint32_t x = 0; x < n; x++) {
        const lct_node_t *nd = LCT_NODE(g, x);
        if ((nd->flags & LCT_NODE_F_GRAD_SYNC) || nd->phase == LCT_PHASE_OPTIMIZER) {
            dw->block[dw->nblock++] = x;
            lct_bitset_set(down, x);
            lct_bitset_or(down, dw->base.bits + (size_t)x * dw->base.words, dw->base.words);
        }
    }
    for (uint32_t x = 0; x < n; x++) {
        const lct_node_t *nd = LCT_NODE(g, x);
        if (nd->role != LCT_ROLE_DW || !lct_sched_is_compute(nd) || lct_bitset_test(down, x))
            continue;
        bool any = false;
        for (uint32_t w = 0; w < dw->nwin && !any; w++)
            any = !lct_reach_ordered(&dw->base, x, dw->win[w]);
        if (any)
            dw->cand[dw->ncand++] = x;
    }
    lct_sched_sort_launch(g, dw->cand, dw->ncand);
    dw->assign = malloc(((size_t)dw->ncand + 1) * sizeof(int32_t));
    dw->seq = calloc((size_t)dw->ncand + 1, sizeof(uint32_t));
    if (!dw->assign || !dw->seq)
        goto nomem;
    for (uint32_t i = 0; i < dw->ncand; i++)
        dw->assign[i] = -1;
    free(down);
    LCT_CHECK(dw_setup_pins(dw));
    if (dw->ctx->dw_rules == LCT_DW_RULES_PAPER)
        dw->pins = false; /* the paper's rules exactly: unplaced dW are not pinned */
    return LCT_OK;
nomem:
    free(down);
    LCT_WARN("dw pass: out of memory preparing %u nodes", n);
    return LCT_ERR_NOMEM;
}

/* May candidate ci go into window w, given reachability r of the current graph (which holds the
 * placements in dw->assign, ci's own excluded)? */
static bool dw_eligible(const dw_t *dw, const lct_reach_t *r, uint32_t ci, uint32_t w)
{
    uint32_t d = dw->cand[ci], a = dw->win[w];
    if (rpath(r, d, a) || rpath(r, a, d))
        return false;
    for (uint32_t i = 0; i < dw->nblock; i++)
        if (rpath(r, dw->block[i], d))
            return false;
    for (uint32_t j = 0; j < dw->ncand; j++) {
        int32_t wj = dw->assign[j];
        if (j == ci || wj < 0)
            continue;
        if ((uint32_t)wj > w && rpath(r, dw->cand[j], d))
            return false; /* an ancestor dW sits in a later window */
        if ((uint32_t)wj < w && rpath(r, d, dw->cand[j]))
            return false; /* a descendant dW sits in an earlier window */
    }
    return true;
}

/* Append the SCHED edges placing candidate ci in window w; keep r current when given. */
static lct_status_t dw_add_edges(dw_t *dw, uint32_t ci, uint32_t w, lct_reach_t *r)
{
    uint32_t d = dw->cand[ci];
    for (uint32_t k = dw->start_off[w]; k < dw->start_off[w + 1]; k++) {
        uint32_t p = dw->start[k];
        if (rpath(&dw->base, p, d))
            continue;
        LCT_CHECK(lct_graph_add_edge(dw->g, p, d, LCT_EDGE_SCHED));
        if (r)
            lct_sched_reach_add_edge(r, p, d);
    }
    uint32_t c = dw->finish[w];
    if (c != DW_NONE && !rpath(&dw->base, d, c)) {
        LCT_CHECK(lct_graph_add_edge(dw->g, d, c, LCT_EDGE_SCHED));
        if (r)
            lct_sched_reach_add_edge(r, d, c);
    }
    return LCT_OK;
}

/* Is the graph's edge list acyclic? Kahn's count on the edges as they stand, so that a cycle
 * closed by pins is found without lct_graph_fill_adj reporting it as an error. */
static lct_status_t dw_acyclic(dw_t *dw, bool *ok_p)
{
    const lct_graph_t *g = dw->g;
    size_t ne = g->edges.len;
    uint32_t n = dw->n, *off = dw->topo_off, *deg = dw->topo_deg, *queue = dw->topo_queue;
    uint32_t done = 0, head = 0, tail = 0;

    if (ne > dw->topo_cap) {
        uint32_t *p = realloc(dw->topo_succ, ne * sizeof(uint32_t));
        if (!p) {
            LCT_WARN("dw pass: out of memory checking %zu edges for cycles", ne);
            return LCT_ERR_NOMEM;
        }
        dw->topo_succ = p;
        dw->topo_cap = ne;
    }
    memset(off, 0, ((size_t)n + 2) * sizeof(uint32_t));
    memset(deg, 0, ((size_t)n + 1) * sizeof(uint32_t));
    for (size_t i = 0; i < ne; i++) {
        off[g->edges.data[i].src + 2]++;
        deg[g->edges.data[i].dst]++;
    }
    for (uint32_t v = 0; v < n; v++)
        off[v + 2] += off[v + 1];
    for (size_t i = 0; i < ne; i++)
        dw->topo_succ[off[g->edges.data[i].src + 1]++] = g->edges.data[i].dst;
    /* off[v] .. off[v + 1] now holds v's successors; each node is queued at most once */
    for (uint32_t v = 0; v < n; v++)
        if (!deg[v])
            queue[tail++] = v;
    while (head < tail) {
        uint32_t v = queue[head++];
        done++;
        for (uint32_t i = off[v]; i < off[v + 1]; i++)
            if (--deg[dw->topo_succ[i]] == 0)
                queue[tail++] = dw->topo_succ[i];
    }
    *ok_p = done == n;
    return LCT_OK;
}

/* Make the graph's edges the entry edges, plus the placements of dw->assign, plus (when pins are
 * on) the pins of every unplaced candidate; fill adjacency. When the pins would close a cycle
 * through placement edges, all of them are left out of this graph (deterministic). */
static lct_status_t dw_apply(dw_t *dw)
{
    lct_graph_t *g = dw->g;
    g->edges.len = dw->base_nedges;
    g->adj_valid = false;
    for (uint32_t ci = 0; ci < dw->ncand; ci++)
        if (dw->assign[ci] >= 0)
            LCT_CHECK(dw_add_edges(dw, ci, (uint32_t)dw->assign[ci], NULL));
    if (dw->pins) {
        size_t mark = g->edges.len;
        for (uint32_t ci = 0; ci < dw->ncand; ci++) {
            uint32_t d = dw->cand[ci], p = dw->pin_prev[ci], q = dw->pin_next[ci];
            if (dw->assign[ci] >= 0)
                continue;
            if (p != DW_NONE && !rpath(&dw->base, p, d))
                LCT_CHECK(lct_graph_add_edge(g, p, d, LCT_EDGE_SCHED));
            if (q != DW_NONE && !rpath(&dw->base, d, q))
                LCT_CHECK(lct_graph_add_edge(g, d, q, LCT_EDGE_SCHED));
        }
        if (g->edges.len != mark) {
            bool ok = false;
            LCT_CHECK(dw_acyclic(dw, &ok));
            if (!ok) {
                LCT_DEBUG(SCHED, "dw pins: they would close a cycle; left out of this graph");
                g->edges.len = mark;
            }
        }
    }
    return lct_graph_fill_adj(g);
}


/* Simulate g; the makespan, and when tail != DW_NONE and span_p, the time from the end of the
 * tail collective's last compute predecessor to the collective's own end: how long the compute
 * engine has beside it in this timeline. */
static lct_status_t dw_sim_graph(const lct_graph_t *g, const lct_sim_cfg_t *cfg, double *ms_p,
                                 uint32_t tail, double *span_p)
{
    lct_sim_result_t res;
    memset(&res, 0, sizeof(res));
    lct_status_t st = lct_sim_run(g, cfg, &res);
    if (st == LCT_OK) {
        *ms_p = res.makespan;
        if (tail != DW_NONE && span_p) {
            double ready = res.start[tail];
            bool any = false;
            for (uint32_t i = g->pred_off[tail]; i < g->pred_off[tail + 1]; i++)
                if (!lct_node_is_comm(LCT_NODE(g, g->pred[i]))) {
                    ready = any && ready > res.end[g->pred[i]] ? ready : res.end[g->pred[i]];
                    any = true;
                }
            *span_p = res.end[tail] - ready;
        }
    }
    lct_sim_result_free(&res);
    return st;
}

static lct_status_t dw_sim(dw_t *dw, double *ms_p, double *peak_p)
{
    lct_sim_result_t res;
    memset(&res, 0, sizeof(res));
    lct_status_t st = lct_sim_run(dw->g, &dw->simcfg, &res);
    if (st == LCT_OK) {
        *ms_p = res.makespan;
        *peak_p = res.peak_mem_bytes;
    }
    lct_sim_result_free(&res);
    return st;
}

static lct_status_t dw_eval(dw_t *dw, double *ms_p, double *peak_p)
{
    LCT_CHECK(dw_apply(dw));
    return dw_sim(dw, ms_p, peak_p);
}

static void dw_place(dw_t *dw, uint32_t ci, uint32_t w)
{
    dw->assign[ci] = (int32_t)w;
    dw->seq[ci] = ++dw->next_seq;
}

static uint32_t dw_nplaced(const dw_t *dw)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < dw->ncand; i++)
        k += dw->assign[i] >= 0;
    return k;
}

static lct_status_t dw_greedy(dw_t *dw, bool use_tail)
{
    lct_graph_t *g = dw->g;
    lct_reach_t r = dw->base;
    size_t sz = (size_t)r.n * r.words * sizeof(uint64_t);
    lct_status_t st = LCT_OK;

    r.bits = malloc(sz ? sz : 1);
    if (!r.bits) {
        LCT_WARN("dw pass: out of memory copying reachability (%zu bytes)", sz);
        return LCT_ERR_NOMEM;
    }
    if (sz)
        memcpy(r.bits, dw->base.bits, sz);

    /* The tail window first: only dW that no gradient all-reduce waits for (expert weights)
     * can go there, and the a2a windows can take the others in their place. */
    uint32_t nw = use_tail ? dw->nwin : dw->nwin_a2a;
    for (uint32_t i = 0; i < nw; i++) {
        uint32_t w = nw > dw->nwin_a2a ? (i + nw - 1) % nw : i;
        double rem = node_cost(g, dw->win[w]);
        if (w >= dw->nwin_a2a && dw->tail_rem > rem)
            rem = dw->tail_rem;
        uint32_t here = 0;
        /* ties in the tail go to the later launch: the a2a windows of the last layers have
         * the most other dW to choose from */
        bool tail = w >= dw->nwin_a2a;

        /* forced in: this is the dW's last chance. Not in the final window, where it would
         * take every dW still unplaced (see the file comment); those are pinned instead. */
        bool force = w + 1 < dw->nwin_a2a || dw->ctx->dw_rules == LCT_DW_RULES_PAPER;
        for (uint32_t ci = 0; force && ci < dw->ncand; ci++) {
            if (dw->assign[ci] >= 0 || !dw_eligible(dw, &r, ci, w))
                continue;
            bool later = false;
            for (uint32_t v = w + 1; v < dw->nwin && !later; v++)
                later = dw_eligible(dw, &r, ci, v);
            if (later)
                continue;
            LCT_CHECK_GOTO(dw_add_edges(dw, ci, w, &r), st, out);
            dw_place(dw, ci, w);
            rem -= node_cost(g, dw->cand[ci]);
            here++;
        }
        /* best fit */
        for (;;) {
            uint32_t best = DW_NONE;
            double best_key = 0;
            for (uint32_t ci = 0; ci < dw->ncand; ci++) {
                if (dw->assign[ci] >= 0)
                    continue;
                double key = fabs(node_cost(g, dw->cand[ci]) - rem);
                /* eligibility is the costly part: test it only for a new best */
                if ((best == DW_NONE || key < best_key || (tail && key == best_key)) &&
                    dw_eligible(dw, &r, ci, w)) {
                    best = ci;
                    best_key = key;
                }
            }
            if (best == DW_NONE)
                break;
            double t = node_cost(g, dw->cand[best]);
            if (here && (rem <= 0 || t > 2 * rem))
                break;
            LCT_CHECK_GOTO(dw_add_edges(dw, best, w, &r), st, out);
            dw_place(dw, best, w);
            rem -= t;
            here++;
        }
    }
    /* The tail is filled first but counts as placed last: when the memory budget is exceeded,
     * its placements (which keep expert activations alive to the end of the step) are the
     * first undone, before the a2a windows'. */
    for (uint32_t ci = 0; ci < dw->ncand; ci++)
        if (dw->assign[ci] >= (int32_t)dw->nwin_a2a)
            dw->seq[ci] = ++dw->next_seq;
out:
    free(r.bits);
    return st;
}

static lct_status_t dw_memory(dw_t *dw, double peak_before, double *ms_io, double *peak_io,
                              uint32_t *dropped_p);

/* The step the whole backward plan would take with the current assignment: the graph as
 * dw_apply left it, plus the all-reduce fill (which decides when the gradient all-reduces run,
 * and so which dW placement is best), on a copy. */
static lct_status_t dw_eval_with_fill(dw_t *dw, double peak_before, double *ms_p, double *span_p)
{
    lct_graph_t *c = NULL;
    lct_plan_ctx_t tmp = *dw->ctx;
    double ms = 0, peak = 0;
    lct_status_t st;

    uint32_t tail = dw->nwin > dw->nwin_a2a ? dw->win[dw->nwin - 1] : DW_NONE;
    LCT_CHECK(dw_eval(dw, &ms, &peak));
    if (!dw->ctx->allreduce_fill)
        return dw_sim_graph(dw->g, &dw->simcfg, ms_p, tail, span_p);
    LCT_CHECK(lct_graph_clone(dw->g, &c));
    memset(&tmp.report, 0, sizeof(tmp.report));
    tmp.report.extra_mem_bytes = peak - peak_before;
    if ((st = lct_graph_fill_adj(c)) == LCT_OK && (st = lct_pass_allreduce_fill(c, &tmp)) == LCT_OK)
        st = dw_sim_graph(c, &dw->simcfg, ms_p, tail, span_p);
    lct_graph_destroy(c);
    return st;
}

/* The greedy again with the tail window (filled first), after its memory step; kept when it
 * undid no more placements for memory than the greedy without it and its step, all-reduce fill
 * included, simulates shorter (ms_io, peak_io, dropped_p describe the greedy without the tail
 * on entry). Filling the tail changes what every a2a window takes, which can cost more than the
 * tail gains, or break the memory budget where the other did not, so the two are compared
 * whole. */
static lct_status_t dw_try_tail(dw_t *dw, double peak_before, double *ms_io, double *peak_io,
                                uint32_t *dropped_p)
{
    size_t na = ((size_t)dw->ncand + 1) * sizeof(int32_t), ns = ((size_t)dw->ncand + 1) * sizeof(uint32_t);
    int32_t *assign = malloc(na);
    uint32_t *seq = malloc(ns), next_seq = dw->next_seq, dropped = 0;
    double ms = 0, peak = 0;
    lct_status_t st = LCT_OK;
    if (!assign || !seq) {
        LCT_WARN("dw pass: out of memory trying the tail window");
        st = LCT_ERR_NOMEM;
        goto out;
    }
    memcpy(assign, dw->assign, na);
    memcpy(seq, dw->seq, ns);
    double full_without = 0, full_with = 0;
    double span = 0;
    LCT_CHECK_GOTO(dw_eval_with_fill(dw, peak_before, &full_without, &span), st, out);
    /* The tail lasts as long as the all-reduce, or longer when earlier buckets queue in front
     * of it: size it from the timeline without it, in isolated compute (1 - f per us). */
    dw->tail_rem = span * (1.0 - dw->simcfg.interference);
    for (uint32_t i = 0; i < dw->ncand; i++)
        dw->assign[i] = -1;
    LCT_CHECK_GOTO(dw_greedy(dw, true), st, out);
    LCT_CHECK_GOTO(dw_eval(dw, &ms, &peak), st, out);
    LCT_CHECK_GOTO(dw_memory(dw, peak_before, &ms, &peak, &dropped), st, out);
    LCT_CHECK_GOTO(dw_eval_with_fill(dw, peak_before, &full_with, NULL), st, out);
    LCT_DEBUG(SCHED, "dw greedy with the tail window: %u placed, %u undone for memory, %.1f us "
                     "with the all-reduce fill (without the tail: %.1f us)",
              dw_nplaced(dw), dropped, full_with, full_without);
    /* A tail that only fits the memory budget by undoing placements costs the improvement step
     * its starting point (GPT2-L on 32 V100s, before the tail was sized from the timeline: 96
     * undone, 1.28x after improvement against 1.32x without the tail): not used then. */
    if (dropped <= *dropped_p && full_with < full_without - (1e-6 * full_without + 1e-9)) {
        *ms_io = ms;
        *peak_io = peak;
        *dropped_p = dropped;
    } else {
        memcpy(dw->assign, assign, na);
        memcpy(dw->seq, seq, ns);
        dw->next_seq = next_seq;
    }
out:
    free(assign);
    free(seq);
    return st;
}

static bool dw_accept(const dw_t *dw, double peak_before, double cur, double cur_peak, double ms,
                      double peak)
{
    if (!(ms < cur - (1e-6 * cur + 1e-9)))
        return false;
    return peak - peak_before <= (double)dw->ctx->mem_budget_bytes || peak <= cur_peak;
}

/* Windows a candidate may move to, best first, at most DW_IMPROVE_OPTIONS. */
static uint32_t dw_options(const dw_t *dw, const lct_reach_t *r, uint32_t ci, int32_t old,
                           const double *room, uint32_t *opt)
{
    uint32_t k = 0;
    for (uint32_t v = 0; v < dw->nwin; v++)
        if ((int32_t)v != old && dw_eligible(dw, r, ci, v))
            opt[k++] = v;
    /* insertion sort: nearest to the old window, or (unplaced) most room left; then index */
    for (uint32_t i = 1; i < k; i++) {
        uint32_t x = opt[i], j = i;
        while (j > 0) {
            uint32_t y = opt[j - 1];
            bool before;
            if (old >= 0) {
                uint32_t dx = (uint32_t)abs((int32_t)x - old), dy = (uint32_t)abs((int32_t)y - old);
                before = dx < dy || (dx == dy && x < y);
            } else {
                before = room[x] > room[y] || (room[x] == room[y] && x < y);
            }
            if (!before)
                break;
            opt[j] = y;
            j--;
        }
        opt[j] = x;
    }
    return k < DW_IMPROVE_OPTIONS ? k : DW_IMPROVE_OPTIONS;
}

static lct_status_t dw_improve(dw_t *dw, double peak_before, double *ms_io, double *peak_io,
                               uint32_t *moves_p)
{
    lct_graph_t *g = dw->g;
    uint32_t max_evals = DW_IMPROVE_BASE_EVALS + DW_IMPROVE_EVALS_PER_CAND * dw->ncand;
    uint32_t evals = 0, moves = 0;
    double cur = *ms_io, cur_peak = *peak_io, ms, peak;
    lct_status_t st = LCT_OK;
    int32_t *save = malloc(((size_t)dw->ncand + 1) * sizeof(*save));
    uint32_t *opt = malloc(((size_t)dw->nwin + 1) * sizeof(*opt));
    double *room = malloc(((size_t)dw->nwin + 1) * sizeof(*room));
    lct_reach_t rm;
    bool have_rm = false;

    uint32_t by_size = dw->n ? DW_IMPROVE_NODE_EVALS / dw->n : DW_IMPROVE_MAX_EVALS;
    if (by_size < DW_IMPROVE_BASE_EVALS)
        by_size = DW_IMPROVE_BASE_EVALS;
    if (max_evals > by_size)
        max_evals = by_size;
    if (max_evals > DW_IMPROVE_MAX_EVALS)
        max_evals = DW_IMPROVE_MAX_EVALS;
    if (!save || !opt || !room) {
        LCT_WARN("dw pass: out of memory in the improvement step");
        st = LCT_ERR_NOMEM;
        goto out;
    }

    /* the greedy may lose to doing nothing once interference is modelled */
    if (dw_nplaced(dw)) {
        memcpy(save, dw->assign, dw->ncand * sizeof(*save));
        for (uint32_t i = 0; i < dw->ncand; i++)
            dw->assign[i] = -1;
        LCT_CHECK_GOTO(dw_eval(dw, &ms, &peak), st, out);
        evals++;
        if (dw_accept(dw, peak_before, cur, cur_peak, ms, peak)) {
            cur = ms;
            cur_peak = peak;
            moves++;
        } else {
            memcpy(dw->assign, save, dw->ncand * sizeof(*save));
        }
    }

    bool improved = true;
    while (improved && evals < max_evals) {
        improved = false;
        for (uint32_t ci = 0; ci < dw->ncand && evals < max_evals; ci++) {
            int32_t old = dw->assign[ci];
            dw->assign[ci] = -1;
            LCT_CHECK_GOTO(dw_apply(dw), st, out);
            if (old >= 0) {
                /* the graph without ci is what "unplace" would give */
                LCT_CHECK_GOTO(dw_sim(dw, &ms, &peak), st, out);
                evals++;
                if (dw_accept(dw, peak_before, cur, cur_peak, ms, peak)) {
                    cur = ms;
                    cur_peak = peak;
                    moves++;
                    improved = true;
                    continue;
                }
            }
            if (evals >= max_evals) {
                dw->assign[ci] = old;
                break;
            }
            /* Eligibility on the graph with ci unplaced, so pinned: its pins keep the options to
             * windows that can run while its stream neighbours do. Judging it without them
             * (as without its own placement) lets far moves in that each win locally but
             * lose at the step's end: GPT2-L on 16 / 32 V100s measured 1.185x / 1.270x
             * instead of 1.219x / 1.319x. */
            LCT_CHECK_GOTO(lct_reach_fill(g, &rm), st, out);
            have_rm = true;
            evals++;
            for (uint32_t w = 0; w < dw->nwin; w++)
                room[w] = node_cost(g, dw->win[w]);
            for (uint32_t j = 0; j < dw->ncand; j++)
                if (dw->assign[j] >= 0)
                    room[dw->assign[j]] -= node_cost(g, dw->cand[j]);
            uint32_t nopt = dw_options(dw, &rm, ci, old, room, opt);
            lct_reach_free(&rm);
            have_rm = false;
            bool taken = false;
            for (uint32_t k = 0; k < nopt && evals < max_evals && !taken; k++) {
                dw->assign[ci] = (int32_t)opt[k];
                LCT_CHECK_GOTO(dw_eval(dw, &ms, &peak), st, out);
                evals++;
                if (dw_accept(dw, peak_before, cur, cur_peak, ms, peak)) {
                    cur = ms;
                    cur_peak = peak;
                    dw->seq[ci] = ++dw->next_seq;
                    moves++;
                    improved = true;
                    taken = true;
                }
            }
            if (!taken)
                dw->assign[ci] = old;
        }
    }
    /* Pins are a guess about where an unplaced dW hurts least; where running free is better
     * (a pinned dW that holds a critical-path kernel back), drop them all. */
    if (dw->pins) {
        dw->pins = false;
        LCT_CHECK_GOTO(dw_eval(dw, &ms, &peak), st, out);
        evals++;
        if (dw_accept(dw, peak_before, cur, cur_peak, ms, peak)) {
            cur = ms;
            cur_peak = peak;
            moves++;
        } else {
            dw->pins = true;
        }
    }
    *ms_io = cur;
    *peak_io = cur_peak;
    *moves_p += moves;
    LCT_DEBUG(SCHED, "dw improvement: %u simulations, %u moves kept", evals, moves);
out:
    if (have_rm)
        lct_reach_free(&rm);
    free(save);
    free(opt);
    free(room);
    return st;
}

static lct_status_t dw_memory(dw_t *dw, double peak_before, double *ms_io, double *peak_io,
                              uint32_t *dropped_p)
{
    double budget = (double)dw->ctx->mem_budget_bytes, ms, peak;
    uint32_t evals = 0, dropped = 0;

    while (*peak_io - peak_before > budget) {
        uint32_t np = dw_nplaced(dw), victim = DW_NONE;
        if (!np)
            break;
        if (evals + np <= DW_MEM_MAX_EVALS) {
            double best_peak = 0;
            for (uint32_t ci = 0; ci < dw->ncand; ci++) {
                int32_t old = dw->assign[ci];
                if (old < 0)
                    continue;
                dw->assign[ci] = -1;
                lct_status_t st = dw_eval(dw, &ms, &peak);
                dw->assign[ci] = old;
                LCT_CHECK(st);
                evals++;
                if (victim == DW_NONE || peak < best_peak ||
                    (peak == best_peak && dw->seq[ci] > dw->seq[victim])) {
                    victim = ci;
                    best_peak = peak;
                }
            }
        } else {
            for (uint32_t ci = 0; ci < dw->ncand; ci++)
                if (dw->assign[ci] >= 0 && (victim == DW_NONE || dw->seq[ci] > dw->seq[victim]))
                    victim = ci;
        }
        LCT_DEBUG(SCHED, "dw memory: undoing the placement of node %u (%s)", dw->cand[victim],
                  LCT_NODE(dw->g, dw->cand[victim])->name);
        dw->assign[victim] = -1;
        dropped++;
        LCT_CHECK(dw_eval(dw, ms_io, peak_io));
    }
    *dropped_p += dropped;
    return LCT_OK;
}

static lct_status_t dw_report(dw_t *dw, lct_plan_report_t *rep)
{
    rep->windows = calloc((size_t)dw->nwin + 1, sizeof(*rep->windows));
    if (!rep->windows) {
        LCT_WARN("dw pass: out of memory writing the report");
        return LCT_ERR_NOMEM;
    }
    rep->nwindows = dw->nwin;
    rep->dw_candidates = dw->ncand;
    rep->dw_placed = 0;
    for (uint32_t w = 0; w < dw->nwin; w++) {
        lct_dw_window_t *win = &rep->windows[w];
        win->a2a = dw->win[w];
        win->tail = w >= dw->nwin_a2a;
        win->t_a2a = node_cost(dw->g, dw->win[w]);
        for (uint32_t ci = 0; ci < dw->ncand; ci++)
            win->ndw += dw->assign[ci] == (int32_t)w;
        win->dw = malloc(((size_t)win->ndw + 1) * sizeof(uint32_t));
        if (!win->dw) {
            LCT_WARN("dw pass: out of memory writing the report");
            return LCT_ERR_NOMEM;
        }
        uint32_t k = 0;
        for (uint32_t ci = 0; ci < dw->ncand; ci++)
            if (dw->assign[ci] == (int32_t)w) {
                win->dw[k++] = dw->cand[ci];
                win->t_dw += node_cost(dw->g, dw->cand[ci]);
            }
        rep->dw_placed += win->ndw;
    }
    return LCT_OK;
}

static lct_status_t dw_pass_rules(lct_graph_t *g, lct_plan_ctx_t *ctx);

/* Two rule sets (see the file comment): ours, and the paper's exactly. LANCET_DW_RULES=own or
 * paper runs that one; auto runs both, the paper's on a copy of the graph, and keeps the one
 * whose simulated step is shorter (ties: ours). The pass only adds edges, so keeping the
 * paper's result means taking the copy's edge list. */
lct_status_t lct_pass_dw(lct_graph_t *g, lct_plan_ctx_t *ctx)
{
    lct_graph_t *gp = NULL;
    lct_plan_ctx_t cp;
    lct_status_t st;

    ctx->report.dw_paper_rules = ctx->dw_rules == LCT_DW_RULES_PAPER;
    if (ctx->dw_rules != LCT_DW_RULES_AUTO)
        return dw_pass_rules(g, ctx);
    LCT_CHECK(lct_graph_clone(g, &gp));
    st = lct_graph_fill_adj(gp);
    if (st != LCT_OK) {
        lct_graph_destroy(gp);
        return st;
    }
    st = dw_pass_rules(g, ctx);
    if (st != LCT_OK) {
        lct_graph_destroy(gp);
        return st;
    }
    lct_sched_ctx_copy(&cp, ctx, LCT_DW_RULES_PAPER);
    st = dw_pass_rules(gp, &cp);
    if (st == LCT_OK && cp.report.predicted_after_us < ctx->report.predicted_after_us) {
        cp.report.dw_paper_rules = true;
        st = lct_sched_adopt_copy(g, gp, &ctx->report, &cp.report);
    } else {
        lct_sched_report_clear_dw(&cp.report);
        st = LCT_OK; /* the paper's variant failing leaves ours in force */
    }
    LCT_DEBUG(SCHED, "dw: kept the %s rules", ctx->report.dw_paper_rules ? "paper's" : "own");
    lct_graph_destroy(gp);
    return st;
}

static lct_status_t dw_pass_rules(lct_graph_t *g, lct_plan_ctx_t *ctx)
{
    lct_plan_report_t *rep = &ctx->report;
    lct_status_t st;
    dw_t dw;
    double ms0 = 0, peak0 = 0, ms = 0, peak = 0;
    uint32_t moves = 0, dropped = 0;

    if (!g->adj_valid) {
        LCT_WARN("dw pass: adjacency of graph '%s' is not current (reconstruct dependencies first)",
                 g->meta.name ? g->meta.name : "");
        return LCT_ERR_INVALID;
    }
    lct_sched_report_clear_dw(rep);
    memset(&dw, 0, sizeof(dw));
    dw.g = g;
    dw.ctx = ctx;
    dw.simcfg.interference = ctx->interference;
    dw.n = LCT_NNODES(g);
    dw.base_nedges = g->edges.len;

    LCT_CHECK_GOTO(dw_setup(&dw), st, fail);
    LCT_CHECK_GOTO(dw_sim(&dw, &ms0, &peak0), st, fail);
    ms = ms0;
    peak = peak0;
    if (dw.nwin && dw.ncand) {
        /* The memory step can always fall back to "nothing placed", so that state must keep the
         * budget on its own: pins alone that break it are not used. */
        if (dw.pins) {
            LCT_CHECK_GOTO(dw_eval(&dw, &ms, &peak), st, fail);
            if (peak - peak0 > (double)ctx->mem_budget_bytes) {
                LCT_DEBUG(SCHED, "dw pins: +%.0f bytes of peak memory over budget; not used",
                          peak - peak0);
                dw.pins = false;
            }
        }
        LCT_CHECK_GOTO(dw_greedy(&dw, false), st, fail);
        LCT_CHECK_GOTO(dw_eval(&dw, &ms, &peak), st, fail);
        LCT_DEBUG(SCHED, "dw greedy: %u of %u candidates placed, predicted %.1f -> %.1f us",
                  dw_nplaced(&dw), dw.ncand, ms0, ms);
        LCT_CHECK_GOTO(dw_memory(&dw, peak0, &ms, &peak, &dropped), st, fail);
        if (dw.nwin > dw.nwin_a2a)
            LCT_CHECK_GOTO(dw_try_tail(&dw, peak0, &ms, &peak, &dropped), st, fail);
        if (ctx->dw_improve) {
            LCT_CHECK_GOTO(dw_improve(&dw, peak0, &ms, &peak, &moves), st, fail);
            LCT_CHECK_GOTO(dw_eval(&dw, &ms, &peak), st, fail);
            /* improvement keeps the budget; this only guards against a simulator surprise */
            LCT_CHECK_GOTO(dw_memory(&dw, peak0, &ms, &peak, &dropped), st, fail);
        }
        /* the graph's edges are exactly the final assignment */
        LCT_CHECK_GOTO(dw_eval(&dw, &ms, &peak), st, fail);
    }
    LCT_CHECK_GOTO(dw_report(&dw, rep), st, fail);
    rep->improve_moves = moves;
    rep->dropped_for_memory = dropped;
    rep->predicted_before_us = ms0;
    rep->predicted_after_us = ms;
    rep->extra_mem_bytes = peak - peak0;
    LCT_INFO(SCHED,
             "dw: %u windows, %u candidates, %u placed, %u improvement moves, %u dropped for "
             "memory; predicted %.1f -> %.1f us",
             rep->nwindows, rep->dw_candidates, rep->dw_placed, moves, dropped, ms0, ms);
    dw_free(&dw);
    return LCT_OK;
fail:
    lct_sched_report_clear_dw(rep);
    /* leave the graph as it came in, so the caller's fail-open path sees the original edges */
    g->edges.len = dw.base_nedges;
    g->adj_valid = false;
    lct_graph_fill_adj(g);
    dw_free(&dw);
    return st;
}
