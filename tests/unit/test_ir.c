/* Unit tests of the IR container: nodes, edges, adjacency, topological order, footprints, clone. */
#include <check.h>
#include <stdlib.h>

#include "core/lct_log.h"
#include "ir/lct_ir.h"

START_TEST(enum_names_round_trip)
{
    for (int k = 0; k < LCT_NODE_KIND_COUNT; k++)
        ck_assert_int_eq(lct_node_kind_parse(lct_node_kind_name((lct_node_kind_t)k)), k);
    for (int k = 0; k < LCT_COLL_COUNT; k++)
        ck_assert_int_eq(lct_coll_op_parse(lct_coll_op_name((lct_coll_op_t)k)), k);
    for (int k = 0; k < LCT_ROLE_COUNT; k++)
        ck_assert_int_eq(lct_role_parse(lct_role_name((lct_role_t)k)), k);
    ck_assert_int_eq(lct_node_kind_parse("nonsense"), -1);
    ck_assert_int_eq(lct_node_kind_parse(NULL), -1);
    ck_assert_str_eq(lct_node_kind_name((lct_node_kind_t)99), "?");
    ck_assert_uint_eq(lct_dtype_size(LCT_DTYPE_F32), 4);
    ck_assert_uint_eq(lct_dtype_size(LCT_DTYPE_BF16), 2);
}
END_TEST

START_TEST(graph_build_and_topo)
{
    lct_graph_t *g;
    uint32_t a, b, c, d;
    ck_assert_int_eq(lct_graph_create(&g), LCT_OK);
    ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_KERNEL, "a", &a), LCT_OK);
    ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_KERNEL, "b", &b), LCT_OK);
    ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_KERNEL, "c", &c), LCT_OK);
    ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_EMPTY, NULL, &d), LCT_OK);
    ck_assert_str_eq(LCT_NODE(g, d)->name, "empty");
    /* launch order deliberately not index order: c before b */
    LCT_NODE(g, c)->launch_order = 1;
    LCT_NODE(g, b)->launch_order = 2;
    ck_assert_int_eq(lct_graph_add_edge(g, a, b, LCT_EDGE_DATA), LCT_OK);
    ck_assert_int_eq(lct_graph_add_edge(g, a, c, LCT_EDGE_DATA), LCT_OK);
    ck_assert_int_eq(lct_graph_add_edge(g, a, c, LCT_EDGE_STREAM), LCT_OK); /* duplicate pair */
    ck_assert_int_eq(lct_graph_add_edge(g, b, d, LCT_EDGE_DATA), LCT_OK);
    ck_assert_int_eq(lct_graph_add_edge(g, c, d, LCT_EDGE_DATA), LCT_OK);
    ck_assert_int_eq(lct_graph_add_edge(g, a, a, LCT_EDGE_DATA), LCT_ERR_INVALID);
    ck_assert_int_eq(lct_graph_add_edge(g, a, 17, LCT_EDGE_DATA), LCT_ERR_INVALID);
    ck_assert_int_eq(lct_graph_fill_adj(g), LCT_OK);
    ck_assert_uint_eq(g->succ_off[a + 1] - g->succ_off[a], 2); /* duplicates listed once */
    ck_assert_uint_eq(g->pred_off[d + 1] - g->pred_off[d], 2);
    ck_assert_uint_eq(g->topo[0], a);
    ck_assert_uint_eq(g->topo[1], c); /* ties broken by launch order */
    ck_assert_uint_eq(g->topo[2], b);
    ck_assert_uint_eq(g->topo[3], d);
    ck_assert(lct_graph_has_edge(g, a, c));
    ck_assert(!lct_graph_has_edge(g, c, a));
    lct_graph_remove_edges(g, 1u << LCT_EDGE_STREAM);
    ck_assert_uint_eq(g->edges.len, 4);
    ck_assert(!g->adj_valid);
    lct_graph_destroy(g);
}
END_TEST

START_TEST(graph_cycle_detected)
{
    lct_graph_t *g;
    uint32_t a, b;
    lct_graph_create(&g);
    lct_graph_add_node(g, LCT_NODE_KERNEL, "a", &a);
    lct_graph_add_node(g, LCT_NODE_KERNEL, "b", &b);
    lct_graph_add_edge(g, a, b, LCT_EDGE_DATA);
    lct_graph_add_edge(g, b, a, LCT_EDGE_DATA);
    lct_log_level = LCT_LOG_NONE;
    ck_assert_int_eq(lct_graph_fill_adj(g), LCT_ERR_CYCLE);
    lct_log_level = LCT_LOG_WARN;
    ck_assert(!g->adj_valid);
    lct_graph_destroy(g);
}
END_TEST

START_TEST(footprint_conflicts)
{
    lct_graph_t *g;
    uint32_t a, b, c, u;
    lct_graph_create(&g);
    lct_graph_add_node(g, LCT_NODE_KERNEL, "a", &a);
    lct_graph_add_node(g, LCT_NODE_KERNEL, "b", &b);
    lct_graph_add_node(g, LCT_NODE_KERNEL, "c", &c);
    lct_graph_add_node(g, LCT_NODE_HOST, "u", &u);
    ck_assert_int_eq(lct_node_add_range(g, a, 0x1000, 0x100, LCT_ACC_WRITE, true), LCT_OK);
    ck_assert_int_eq(lct_node_add_range(g, b, 0x10f0, 0x10, LCT_ACC_READ, true), LCT_OK);  /* partial overlap with a, adjacent to c */
    ck_assert_int_eq(lct_node_add_range(g, c, 0x1100, 0x10, LCT_ACC_WRITE, true), LCT_OK); /* adjacent */
    ck_assert_int_eq(lct_node_add_range(g, c, 0x1000, 0x0, LCT_ACC_WRITE, true), LCT_ERR_INVALID);
    ck_assert_int_eq(lct_node_add_range(g, c, UINT64_MAX, 0x10, LCT_ACC_WRITE, true), LCT_ERR_INVALID);
    ck_assert_int_eq(lct_node_add_range(g, c, 0x1000, 0x10, 0, true), LCT_ERR_INVALID);
    LCT_NODE(g, u)->fp.unknown = true;
    ck_assert(lct_footprints_conflict(&LCT_NODE(g, a)->fp, &LCT_NODE(g, b)->fp));
    ck_assert(!lct_footprints_conflict(&LCT_NODE(g, a)->fp, &LCT_NODE(g, c)->fp));
    ck_assert(lct_footprints_conflict(&LCT_NODE(g, b)->fp, &LCT_NODE(g, c)->fp) == false);
    ck_assert(lct_footprints_conflict(&LCT_NODE(g, u)->fp, &LCT_NODE(g, c)->fp));
    /* read/read never conflicts */
    lct_node_add_range(g, c, 0x1000, 0x10, LCT_ACC_READ, true);
    ck_assert(lct_footprints_conflict(&LCT_NODE(g, a)->fp, &LCT_NODE(g, c)->fp));
    ck_assert(!lct_footprints_conflict(&LCT_NODE(g, b)->fp, &LCT_NODE(g, b)->fp));
    lct_graph_destroy(g);
}
END_TEST

START_TEST(graph_clone_is_deep)
{
    lct_graph_t *g, *c;
    uint32_t a, b;
    lct_graph_create(&g);
    g->meta.name = (char *)lct_graph_strdup(g, "orig");
    lct_graph_add_node(g, LCT_NODE_KERNEL, "a", &a);
    lct_graph_add_node(g, LCT_NODE_COLLECTIVE, "a2a", &b);
    lct_node_add_range(g, a, 0x1000, 64, LCT_ACC_RW, false);
    lct_graph_add_edge(g, a, b, LCT_EDGE_DATA);
    ck_assert_int_eq(lct_graph_clone(g, &c), LCT_OK);
    lct_graph_destroy(g); /* the clone must not point into the original's arena */
    ck_assert_str_eq(c->meta.name, "orig");
    ck_assert_str_eq(LCT_NODE(c, a)->name, "a");
    ck_assert_uint_eq(LCT_NODE(c, a)->fp.ranges[0].size, 64);
    ck_assert_uint_eq(c->edges.len, 1);
    ck_assert_int_eq(lct_graph_fill_adj(c), LCT_OK);
    lct_graph_destroy(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ir");
    TCase *tc = tcase_create("ir");
    tcase_add_test(tc, enum_names_round_trip);
    tcase_add_test(tc, graph_build_and_topo);
    tcase_add_test(tc, graph_cycle_detected);
    tcase_add_test(tc, footprint_conflicts);
    tcase_add_test(tc, graph_clone_is_deep);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
