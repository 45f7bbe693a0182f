/* Helpers shared by the scheduling passes: which nodes are compute, which a2a's form windows, and
 * incremental upkeep of a reachability matrix while a pass adds edges. */
#include "sched/lct_sched_int.h"

#include <stdlib.h>

#include "core/lct_bitset.h"
#include "core/lct_log.h"
#include "cost/lct_cost.h"

bool lct_sched_is_compute(const lct_node_t *n)
{
    return !lct_node_is_comm(n) &&
           (n->kind == LCT_NODE_KERNEL || n->kind == LCT_NODE_MEMCPY || n->kind == LCT_NODE_MEMSET);
}

bool lct_sched_is_window_a2a(const lct_node_t *n)
{
    if (n->phase != LCT_PHASE_BACKWARD || !lct_node_is_comm(n) || (n->flags & LCT_NODE_F_GRAD_SYNC))
        return false;
    return n->role == LCT_ROLE_A2A ||
           (n->kind == LCT_NODE_COLLECTIVE && n->coll.op == LCT_COLL_ALLTOALL);
}

void lct_sched_sort_launch(const lct_graph_t *g, uint32_t *v, uint32_t n)
{
    /* Insertion sort: lists are short and nearly sorted already (indices follow launch order),
     * and it needs no global context as qsort would. */
    for (uint32_t i = 1; i < n; i++) {
        uint32_t x = v[i], lx = LCT_NODE(g, x)->launch_order, j = i;
        while (j > 0) {
            uint32_t y = v[j - 1], ly = LCT_NODE(g, y)->launch_order;
            if (ly < lx || (ly == lx && y < x))
                break;
            v[j] = y;
            j--;
        }
        v[j] = x;
    }
}

lct_status_t lct_sched_windows(const lct_graph_t *g, uint32_t **a2a_p, uint32_t *n_p)
{
    uint32_t n = LCT_NNODES(g), cnt = 0;
    uint32_t *w = malloc(((size_t)n + 1) * sizeof(*w));
    if (!w) {
        LCT_WARN("out of memory listing the a2a windows of %u nodes", n);
        return LCT_ERR_NOMEM;
    }
    for (uint32_t i = 0; i < n; i++)
        if (lct_sched_is_window_a2a(LCT_NODE(g, i)))
            w[cnt++] = i;
    lct_sched_sort_launch(g, w, cnt);
    if (!cnt) {
        free(w);
        w = NULL;
    }
    *a2a_p = w;
    *n_p = cnt;
    return LCT_OK;
}

void lct_sched_reach_add_edge(lct_reach_t *r, uint32_t u, uint32_t v)
{
    uint64_t *rv = r->bits + (size_t)v * r->words;
    if (lct_bitset_test(r->bits + (size_t)u * r->words, v))
        return; /* already ordered: nothing changes */
    for (uint32_t x = 0; x < r->n; x++) {
        uint64_t *rx = r->bits + (size_t)x * r->words;
        /* rows are transitively closed: a node that reaches v already holds v's row */
        if ((x == u || lct_bitset_test(rx, u)) && !lct_bitset_test(rx, v)) {
            lct_bitset_set(rx, v);
            lct_bitset_or(rx, rv, r->words);
        }
    }
}

void lct_sched_ctx_copy(lct_plan_ctx_t *dst, const lct_plan_ctx_t *src, int dw_rules)
{
    *dst = *src;
    dst->dw_rules = dw_rules;
    dst->report.windows = NULL; /* the copy's dW report is its own */
    dst->report.nwindows = 0;
}

lct_status_t lct_sched_adopt_copy(lct_graph_t *g, lct_graph_t *copy, lct_plan_report_t *rep,
                                  lct_plan_report_t *copy_rep)
{
    __typeof__(g->edges) tmp = g->edges;
    g->edges = copy->edges;
    copy->edges = tmp;
    g->adj_valid = copy->adj_valid = false;
    lct_status_t st = lct_graph_fill_adj(g);
    if (st != LCT_OK) { /* cannot happen: the copy's edges were acyclic; put g's back */
        copy->edges = g->edges;
        g->edges = tmp;
        lct_sched_report_clear_dw(copy_rep);
        return lct_graph_fill_adj(g);
    }
    lct_sched_report_clear_dw(rep);
    *rep = *copy_rep;
    return LCT_OK;
}

void lct_sched_report_clear_dw(lct_plan_report_t *r)
{
    for (uint32_t i = 0; i < r->nwindows; i++)
        free(r->windows[i].dw);
    free(r->windows);
    r->windows = NULL;
    r->nwindows = 0;
    r->dw_candidates = r->dw_placed = r->improve_moves = r->dropped_for_memory = 0;
    r->extra_mem_bytes = 0;
}
