/* Reachability: one bitset row per node holding every node reachable from it by a non-empty
 * path.
 *
 * Rows are filled in reverse topological order (g->topo), so each successor's row is complete
 * when it is merged: row(v) = union over successors w of ({w} + row(w)). n * ceil(n / 64) words;
 * 20000 nodes take 50 MB and a few tens of milliseconds. */
#include <stdlib.h>
#include <string.h>

#include "analysis/lct_analysis.h"
#include "core/lct_bitset.h"
#include "core/lct_log.h"

lct_status_t lct_reach_fill(const lct_graph_t *g, lct_reach_t *r)
{
    if (!g || !r) {
        LCT_WARN("reachability: no graph or no result");
        return LCT_ERR_INVALID;
    }
    if (!g->adj_valid) {
        LCT_WARN("reachability: adjacency of graph '%s' is not current (call lct_graph_fill_adj)",
                 g->meta.name ? g->meta.name : "");
        return LCT_ERR_INVALID;
    }
    uint32_t n = LCT_NNODES(g);
    size_t words = LCT_BITSET_WORDS((size_t)n);
    if (n && words > SIZE_MAX / sizeof(uint64_t) / n) {
        LCT_WARN("reachability: %u nodes are too many for a bitset matrix", n);
        return LCT_ERR_BUDGET;
    }
    uint64_t *bits = calloc((size_t)n * words + 1, sizeof(uint64_t));
    if (!bits) {
        LCT_WARN("reachability: out of memory for %u x %zu words", n, words);
        return LCT_ERR_NOMEM;
    }
    for (uint32_t t = n; t-- > 0;) {
        uint32_t v = g->topo[t];
        uint64_t *row = bits + (size_t)v * words;
        for (uint32_t k = g->succ_off[v]; k < g->succ_off[v + 1]; k++) {
            uint32_t w = g->succ[k];
            lct_bitset_set(row, w);
            lct_bitset_or(row, bits + (size_t)w * words, words);
        }
    }
    r->n = n;
    r->words = (uint32_t)words;
    r->bits = bits;
    return LCT_OK;
}

bool lct_reach_path(const lct_reach_t *r, uint32_t a, uint32_t b)
{
    if (!r || !r->bits || a >= r->n || b >= r->n || a == b)
        return false;
    return lct_bitset_test(r->bits + (size_t)a * r->words, b);
}

bool lct_reach_ordered(const lct_reach_t *r, uint32_t a, uint32_t b)
{
    return lct_reach_path(r, a, b) || lct_reach_path(r, b, a);
}

void lct_reach_free(lct_reach_t *r)
{
    if (!r)
        return;
    free(r->bits);
    memset(r, 0, sizeof(*r));
}
