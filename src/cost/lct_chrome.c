/* Chrome trace event format (also read by Perfetto and chrome://tracing) of a simulated timeline.
 *
 * One process; one thread per row of the compute lane and of the communication lane. Rows come
 * from lct_sim_rows, so complete ("X") events on one thread never overlap, which the trace
 * viewers require to draw them side by side rather than as a broken stack. Timestamps are in us,
 * the unit of the format. Zero-duration nodes are left out. */
#include <jansson.h>
#include <stdlib.h>

#include "core/lct_log.h"
#include "ir/lct_ir_json.h"
#include "cost/lct_sim_int.h"

/* Thread ids: compute rows from TID_COMPUTE, communication rows from TID_COMM, or right after the
 * last compute row when there are more compute rows than fit below TID_COMM. */
#define TID_COMPUTE 1
#define TID_COMM 10001

static json_t *jstr(const char *s)
{
    return lct_ir_json_string(s);
}

static int add_meta(json_t *ev, const char *what, int tid, const char *key, json_t *val)
{
    json_t *m = json_pack("{s:s, s:s, s:i, s:i, s:{s:o}}", "name", what, "ph", "M", "pid", 1, "tid",
                          tid, "args", key, val);
    return m ? json_array_append_new(ev, m) : -1;
}

lct_status_t lct_sim_write_chrome_trace(const char *path, const lct_graph_t *g,
                                        const lct_sim_result_t *res)
{
    if (!path || !g || !res || res->n != LCT_NNODES(g))
        return LCT_ERR_INVALID;
    uint32_t *row = NULL, ncr = 0, nmr = 0;
    LCT_CHECK(lct_sim_rows(g, res, &row, &ncr, &nmr));
    if ((uint64_t)TID_COMM + ncr + nmr > INT32_MAX) {
        LCT_WARN("trace %s: %u rows are more threads than the format holds", path, ncr + nmr);
        free(row);
        return LCT_ERR_INVALID;
    }
    int tid_comm = (int)ncr + TID_COMPUTE > TID_COMM ? (int)ncr + TID_COMPUTE : TID_COMM;
    json_t *root = json_object(), *ev = json_array();
    int bad = !root || !ev;
    char buf[64];
    if (!bad) {
        bad |= add_meta(ev, "process_name", 0, "name",
                        jstr(g->meta.name ? g->meta.name : "lancet step"));
        for (uint32_t r = 0; r < ncr + nmr && !bad; r++) {
            int comm = r >= ncr;
            uint32_t k = comm ? r - ncr : r;
            int tid = (comm ? tid_comm : TID_COMPUTE) + (int)k;
            if (k == 0)
                snprintf(buf, sizeof(buf), "%s", comm ? "communication" : "compute");
            else
                snprintf(buf, sizeof(buf), "%s %u", comm ? "communication" : "compute", k + 1);
            bad |= add_meta(ev, "thread_name", tid, "name", json_string(buf));
            bad |= add_meta(ev, "thread_sort_index", tid, "sort_index", json_integer(tid));
        }
    }
    for (uint32_t v = 0; v < res->n && !bad; v++) {
        if (row[v] == UINT32_MAX)
            continue;
        const lct_node_t *n = LCT_NODE(g, v);
        int comm = lct_sim_node_class(n) == LCT_SIM_COMM;
        json_t *args = json_pack("{s:I, s:s, s:s, s:s, s:f}", "node", (json_int_t)v, "kind",
                                 lct_node_kind_name(n->kind), "role", lct_role_name(n->role),
                                 "phase", lct_phase_name(n->phase), "cost_us", n->cost_us);
        if (args && comm) {
            bad |= json_object_set_new(args, "op", json_string(lct_coll_op_name(n->coll.op)));
            bad |= json_object_set_new(args, "bytes", json_integer((json_int_t)n->coll.bytes));
        }
        json_t *e = json_pack("{s:o, s:s, s:s, s:f, s:f, s:i, s:i, s:o}", "name", jstr(n->name),
                              "cat", lct_vis_role_label(lct_vis_role(n)), "ph", "X", "ts",
                              res->start[v], "dur", res->end[v] - res->start[v], "pid", 1, "tid",
                              (comm ? tid_comm : TID_COMPUTE) + (int)row[v], "args", args);
        bad |= !e || json_array_append_new(ev, e);
    }
    if (!bad) {
        bad |= json_object_set(root, "traceEvents", ev);
        bad |= json_object_set_new(root, "displayTimeUnit", json_string("ms"));
        bad |= json_object_set_new(
            root, "otherData",
            json_pack("{s:f, s:f, s:f}", "makespan_us", res->makespan, "comm_exposed_us",
                      res->comm_exposed, "lower_bound_us", res->lower_bound));
    }
    lct_status_t st = LCT_OK;
    if (bad) {
        LCT_WARN("out of memory building the trace for %s", path);
        st = LCT_ERR_NOMEM;
    } else if (json_dump_file(root, path, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0) {
        LCT_WARN("trace file %s: cannot write: %m", path);
        st = LCT_ERR_IO;
    }
    json_decref(ev);
    json_decref(root);
    free(row);
    return st;
}
