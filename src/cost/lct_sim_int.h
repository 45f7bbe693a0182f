/* Private to src/cost: how the simulator classifies nodes, shared with the report, Chrome trace and
 * SVG writers so that a picture always shows what the simulator did. */
#ifndef LCT_SIM_INT_H
#define LCT_SIM_INT_H

#include "cost/lct_sim.h"

/* Where a node runs in the simulator. */
typedef enum {
    LCT_SIM_INSTANT, /* finishes when it starts (zero cost, empty, events, alloc/free) */
    LCT_SIM_COMPUTE, /* kernels, memcpy, memset: the processor-shared compute engine */
    LCT_SIM_COMM,    /* collectives: the processor-shared communication engine */
    LCT_SIM_HOST     /* host node with a cost: a plain delay that shares nothing */
} lct_sim_class_t;

lct_sim_class_t lct_sim_node_class(const lct_node_t *n);

/* What a node is in the pictures: one colour each. */
typedef enum {
    LCT_VIS_FORWARD,
    LCT_VIS_DX,
    LCT_VIS_DW,
    LCT_VIS_A2A,
    LCT_VIS_ALLREDUCE,
    LCT_VIS_OPTIMIZER,
    LCT_VIS_OTHER,
    LCT_VIS_COUNT
} lct_vis_role_t;

lct_vis_role_t lct_vis_role(const lct_node_t *n);
const char *lct_vis_role_label(lct_vis_role_t r); /* "forward", "dX", ... */
const char *lct_vis_role_colour(lct_vis_role_t r); /* "#rrggbb" */
/* True for an all-to-all collective (the a2a of the reports). */
bool lct_sim_is_a2a(const lct_node_t *n);

/* Rows of the picture lanes: every node that takes time gets a row of its lane (compute lane for
 * compute and host nodes, communication lane for collectives) such that nodes of one row never
 * overlap in time; rows are filled lowest first in (start, index) order. row[i] is UINT32_MAX for
 * instant nodes. row (n entries) is allocated here; the caller frees it. */
lct_status_t lct_sim_rows(const lct_graph_t *g, const lct_sim_result_t *res, uint32_t **row_p,
                          uint32_t *ncompute_rows_p, uint32_t *ncomm_rows_p);

/* Sort ids (m node indices) by (start time, index). */
lct_status_t lct_sim_sort_by_start(const lct_sim_result_t *r, uint32_t *ids, uint32_t m);

#endif
