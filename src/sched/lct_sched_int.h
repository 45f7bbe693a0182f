/* Helpers shared by the scheduling passes of src/sched (not part of the module's interface). */
#ifndef LCT_SCHED_INT_H
#define LCT_SCHED_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "analysis/lct_analysis.h"
#include "ir/lct_ir.h"
#include "sched/lct_sched.h"

/* The forward pipeline pass (lct_pass_pipeline.c) is part of this build. */
#define LCT_SCHED_HAVE_PIPELINE 1

/* Nodes that occupy the compute engine (the ones a dW can be "placed after"). */
bool lct_sched_is_compute(const lct_node_t *n);

/* True for the all-to-all nodes of the backward pass whose execution forms a dW window. */
bool lct_sched_is_window_a2a(const lct_node_t *n);

/* Sort node indices by (launch order, index). */
void lct_sched_sort_launch(const lct_graph_t *g, uint32_t *v, uint32_t n);

/* Backward a2a nodes sorted by (launch order, index). *a2a_p is malloc'd (NULL when none). */
lct_status_t lct_sched_windows(const lct_graph_t *g, uint32_t **a2a_p, uint32_t *n_p);

/* Keep a reachability matrix current after adding the edge u -> v: every node that reaches u
 * (and u itself) now also reaches v and everything v reaches. O(n * words). */
void lct_sched_reach_add_edge(lct_reach_t *r, uint32_t u, uint32_t v);

/* A context for planning a copy of the graph with the given dW rules: everything of src, but a
 * dW report of its own (free it with lct_sched_report_clear_dw unless adopted). */
void lct_sched_ctx_copy(lct_plan_ctx_t *dst, const lct_plan_ctx_t *src, int dw_rules);

/* Keep the plan made on a copy of g (same nodes, only edges added): g takes the copy's edge list
 * and *rep becomes *copy_rep (g's own dW report is freed). If g's adjacency cannot be rebuilt
 * (it cannot: the copy's edges were acyclic), g keeps its own edges and copy_rep is freed. */
lct_status_t lct_sched_adopt_copy(lct_graph_t *g, lct_graph_t *copy, lct_plan_report_t *rep,
                                  lct_plan_report_t *copy_rep);

/* Free the per-window arrays of the dW part of a report and zero that part. */
void lct_sched_report_clear_dw(lct_plan_report_t *r);

#endif
