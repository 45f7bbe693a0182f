/* ASAP / ALAP start times, slack and one critical path with unlimited resources.
 *
 * asap(v) = max over predecessors p of asap(p) + cost(p), 0 for sources.
 * tail(v) = cost(v) + max over successors s of tail(s): the longest path starting at v.
 * length  = max over v of tail(v); alap(v) = length - tail(v); slack = alap - asap.
 * The critical path starts at the lowest-index source with tail == length and follows, at each
 * step, the lowest-index successor s with cost(v) + tail(s) == tail(v). That sum is the very
 * floating-point expression tail(v) was taken from, so the walk needs no tolerance.
 * O(n + e). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/lct_analysis.h"
#include "core/lct_log.h"

lct_status_t lct_timing_fill(const lct_graph_t *g, lct_timing_t *t)
{
    if (!g || !t) {
        LCT_WARN("timing: no graph or no result");
        return LCT_ERR_INVALID;
    }
    if (!g->adj_valid) {
        LCT_WARN("timing: adjacency of graph '%s' is not current (call lct_graph_fill_adj)",
                 g->meta.name ? g->meta.name : "");
        return LCT_ERR_INVALID;
    }
    uint32_t n = LCT_NNODES(g);
    for (uint32_t v = 0; v < n; v++) {
        double c = LCT_NODE(g, v)->cost_us;
        if (!isfinite(c) || c < 0) {
            LCT_WARN("timing: node %u (%s) has cost %g us; costs must be finite and >= 0", v,
                     LCT_NODE(g, v)->name, c);
            return LCT_ERR_INVALID;
        }
    }
    size_t nn = (size_t)n + 1;
    double *asap = calloc(nn, sizeof(double)), *alap = calloc(nn, sizeof(double));
    double *slack = calloc(nn, sizeof(double)), *tail = calloc(nn, sizeof(double));
    uint32_t *crit = malloc(nn * sizeof(uint32_t));
    if (!asap || !alap || !slack || !tail || !crit) {
        free(asap);
        free(alap);
        free(slack);
        free(tail);
        free(crit);
        return LCT_ERR_NOMEM;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t v = g->topo[i];
        double s = 0;
        for (uint32_t k = g->pred_off[v]; k < g->pred_off[v + 1]; k++) {
            uint32_t p = g->pred[k];
            double f = asap[p] + LCT_NODE(g, p)->cost_us;
            if (f > s)
                s = f;
        }
        asap[v] = s;
    }
    double length = 0;
    for (uint32_t i = n; i-- > 0;) {
        uint32_t v = g->topo[i];
        double m = 0;
        for (uint32_t k = g->succ_off[v]; k < g->succ_off[v + 1]; k++)
            if (tail[g->succ[k]] > m)
                m = tail[g->succ[k]];
        tail[v] = LCT_NODE(g, v)->cost_us + m;
        if (tail[v] > length)
            length = tail[v];
    }
    for (uint32_t v = 0; v < n; v++) {
        alap[v] = length - tail[v];
        slack[v] = alap[v] - asap[v];
        if (slack[v] < 0) /* rounding only: asap + tail <= length holds exactly in reals */
            slack[v] = 0;
    }
    uint32_t ncrit = 0, v = UINT32_MAX;
    for (uint32_t u = 0; u < n && v == UINT32_MAX; u++)
        if (g->pred_off[u] == g->pred_off[u + 1] && tail[u] == length)
            v = u;
    while (v != UINT32_MAX) {
        crit[ncrit++] = v;
        uint32_t next = UINT32_MAX;
        double c = LCT_NODE(g, v)->cost_us;
        /* succ lists are sorted by index: the first match is the lowest index */
        for (uint32_t k = g->succ_off[v]; k < g->succ_off[v + 1] && next == UINT32_MAX; k++)
            if (c + tail[g->succ[k]] == tail[v])
                next = g->succ[k];
        v = next;
    }
    free(tail);
    t->n = n;
    t->asap = asap;
    t->alap = alap;
    t->slack = slack;
    t->length = length;
    t->crit = crit;
    t->ncrit = ncrit;
    return LCT_OK;
}

void lct_timing_free(lct_timing_t *t)
{
    if (!t)
        return;
    free(t->asap);
    free(t->alap);
    free(t->slack);
    free(t->crit);
    memset(t, 0, sizeof(*t));
}
