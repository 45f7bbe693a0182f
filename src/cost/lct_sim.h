/* Deterministic discrete-event timeline simulator for a step graph on one device.
 *
 * A node starts when all its predecessors have finished (a CUDA graph executor: no streams).
 * Compute nodes (kernels, memcpy, memset) share a compute engine by processor sharing: with c
 * compute nodes running, each progresses at rate 1/c of its isolated speed, and at rate
 * (1 - interference)/c while at least one communication node runs. Communication nodes
 * (collectives) share a communication engine the same way (without interference). Zero-cost nodes
 * (empty, event, host with cost 0, alloc/free) finish at once. Each node's isolated duration is
 * its cost_us. Ties are broken by node index, so results are bit-for-bit repeatable. */
#ifndef LCT_SIM_H
#define LCT_SIM_H

#include <stdio.h>

#include "cost/lct_cost.h"
#include "ir/lct_ir.h"

typedef struct {
    double interference; /* 0..1 fraction of compute throughput lost while comm runs */
} lct_sim_cfg_t;

typedef struct {
    uint32_t n;
    double *start, *end;         /* per node, us */
    double makespan;
    double compute_total;        /* sum of isolated compute costs */
    double comm_total;           /* sum of isolated communication costs */
    double comm_busy;            /* time during which at least one comm node runs */
    double comm_overlapped;      /* comm-busy time during which compute also runs */
    double comm_exposed;         /* comm-busy time with no compute running */
    double critical_path;        /* longest path under isolated costs */
    double lower_bound;          /* max(compute_total, comm_total, critical_path) */
    double lower_bound_interference; /* max(lower_bound, compute_total + f * comm_total): with
                                  * interference f no schedule of these nodes beats it either
                                  * (docs/cost-model.md) */
    uint32_t na2a;
    uint32_t *a2a_nodes;         /* all-to-all nodes in start order */
    double *a2a_exposed;         /* exposed time of each (no compute running during it) */
    double peak_mem_bytes;       /* peak of bytes live from mem_alloc to mem_free nodes */
} lct_sim_result_t;

/* Requires g->adj_valid. res is overwritten (call lct_sim_result_free afterwards). */
lct_status_t lct_sim_run(const lct_graph_t *g, const lct_sim_cfg_t *cfg, lct_sim_result_t *res);
void lct_sim_result_free(lct_sim_result_t *res);

/* Outputs. */
void lct_sim_report_text(FILE *f, const lct_graph_t *g, const lct_sim_result_t *res);
/* JSON object text (caller frees). */
char *lct_sim_report_json(const lct_graph_t *g, const lct_sim_result_t *res);
/* Chrome / Perfetto trace event JSON: compute and communication lanes. */
lct_status_t lct_sim_write_chrome_trace(const char *path, const lct_graph_t *g,
                                        const lct_sim_result_t *res);
/* SVG timeline: compute lane(s) and a communication lane, colour by role (dW, dX, a2a,
 * all-reduce, forward, other), a2a windows shaded, time axis, legend and a title line. When
 * before is not NULL, two timelines (before / after) are drawn on one time scale. */
lct_status_t lct_sim_write_svg(const char *path, const char *title, const lct_graph_t *g_before,
                               const lct_sim_result_t *before, const lct_graph_t *g_after,
                               const lct_sim_result_t *after);

#endif
