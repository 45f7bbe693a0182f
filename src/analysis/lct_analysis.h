/* Analyses of a step graph: dependency reconstruction, reachability, ASAP/ALAP timing and the
 * critical path. All results are deterministic functions of the graph. */
#ifndef LCT_ANALYSIS_H
#define LCT_ANALYSIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ir/lct_ir.h"

typedef struct {
    /* Comma-separated fnmatch patterns of kernel names to treat as opaque (barriers), e.g. the
     * value of LANCET_OPAQUE_KERNELS; NULL or "" for none. */
    const char *opaque_kernels;
    /* Keep the result transitively reduced (default true in lct_deps_opts_default). */
    bool transitive_reduction;
    /* Working memory the transitive reduction may hold for its descendant bitsets, in bytes; it
     * works in several column blocks when the graph needs more. 0: 64 MiB. */
    size_t reduce_mem_bytes;
} lct_deps_opts_t;

typedef struct {
    uint32_t raw, war, waw;    /* data edges found before reduction, by hazard type */
    uint32_t barrier;          /* edges added because of unknown/opaque nodes */
    uint32_t coll;             /* collective-order edges */
    uint32_t removed_by_reduction;
    uint32_t edges_before, edges_after;
    uint32_t placement;        /* STREAM edges placing mem_alloc nodes before their first user */
} lct_deps_stats_t;

lct_deps_opts_t lct_deps_opts_default(void);

/* Replace every STREAM, EVENT, DATA, COLL and BARRIER edge of g by the minimal set of true
 * dependencies reconstructed from launch order (node.launch_order) and footprints:
 *  - RAW, WAR, WAW on overlapping bytes (partial overlaps included) -> DATA edge from the earlier
 *    to the later node;
 *  - a node with an unknown footprint, LCT_NODE_F_OPAQUE, LCT_NODE_F_EXTERNAL, a host node, or a
 *    kernel whose name matches opts->opaque_kernels is a barrier: ordered (BARRIER edges) after
 *    every earlier node and before every later node;
 *  - per communicator, collectives are chained in launch order (COLL edges);
 *  - mem_alloc / mem_free nodes conflict (write) with every node touching their range; a
 *    mem_alloc node also gets STREAM edges from those predecessors of its first user that were
 *    launched before it, so that allocations are not hoisted to the start of the graph (bounded
 *    memory); these edges are added after the reduction.
 * SCHED edges are kept untouched. The result is transitively reduced when asked (an edge is
 * dropped when another path already orders its ends; kinds of the kept edges are preserved).
 * Fills adjacency on success. stats_p may be NULL. */
lct_status_t lct_deps_rebuild(lct_graph_t *g, const lct_deps_opts_t *opts,
                              lct_deps_stats_t *stats_p);

/* Reachability as bitset rows: row v holds every node reachable from v by a non-empty path. */
typedef struct {
    uint32_t n, words;
    uint64_t *bits; /* n * words */
} lct_reach_t;

/* Requires g->adj_valid. On success r->bits is allocated here and owned by the caller
 * (lct_reach_free); on failure r is left untouched. */
lct_status_t lct_reach_fill(const lct_graph_t *g, lct_reach_t *r);
/* True when there is a directed path a ->* b (a != b). */
bool lct_reach_path(const lct_reach_t *r, uint32_t a, uint32_t b);
/* True when a and b are ordered either way. */
bool lct_reach_ordered(const lct_reach_t *r, uint32_t a, uint32_t b);
void lct_reach_free(lct_reach_t *r);

/* ASAP/ALAP under node costs (cost_us) with unlimited resources. */
typedef struct {
    uint32_t n;
    double *asap, *alap, *slack; /* start times (us) */
    double length;               /* critical path length (us) */
    uint32_t *crit;              /* nodes of one critical path in order */
    uint32_t ncrit;
} lct_timing_t;

/* Requires g->adj_valid. On success the arrays of t are allocated here and owned by the caller
 * (lct_timing_free); on failure t is left untouched. */
lct_status_t lct_timing_fill(const lct_graph_t *g, lct_timing_t *t);
void lct_timing_free(lct_timing_t *t);

#endif
