/* Text and JSON reports of a simulated timeline. Both show the same figures: the step (makespan),
 * where communication time went (overlapped with compute or exposed), the lower bound that no
 * schedule can beat, and the exposed part of each all-to-all. */
#include <jansson.h>
#include <stdlib.h>

#include "core/lct_log.h"
#include "ir/lct_ir_json.h"
#include "cost/lct_sim_int.h"

static double pct(double part, double whole) { return whole > 0 ? 100.0 * part / whole : 0.0; }

static const char *node_name(const lct_graph_t *g, uint32_t v)
{
    return g && v < LCT_NNODES(g) ? LCT_NODE(g, v)->name : "?";
}

void lct_sim_report_text(FILE *f, const lct_graph_t *g, const lct_sim_result_t *res)
{
    if (!f || !res)
        return;
    fprintf(f, "makespan          %12.3f us\n", res->makespan);
    fprintf(f, "compute total     %12.3f us\n", res->compute_total);
    fprintf(f, "comm total        %12.3f us\n", res->comm_total);
    fprintf(f, "comm busy         %12.3f us\n", res->comm_busy);
    fprintf(f, "comm overlapped   %12.3f us  (%.1f%% of comm busy)\n", res->comm_overlapped,
            pct(res->comm_overlapped, res->comm_busy));
    fprintf(f, "comm exposed      %12.3f us  (%.1f%% of comm busy, %.1f%% of makespan)\n",
            res->comm_exposed, pct(res->comm_exposed, res->comm_busy),
            pct(res->comm_exposed, res->makespan));
    fprintf(f, "critical path     %12.3f us\n", res->critical_path);
    fprintf(f, "lower bound       %12.3f us  (makespan / lower bound = %.3f)\n", res->lower_bound,
            res->lower_bound > 0 ? res->makespan / res->lower_bound : 1.0);
    fprintf(f, "bound with interf %12.3f us  (compute + interference x comm; makespan / it = %.3f)\n",
            res->lower_bound_interference,
            res->lower_bound_interference > 0 ? res->makespan / res->lower_bound_interference : 1.0);
    fprintf(f, "peak memory       %12.3f MiB (graph allocations)\n",
            res->peak_mem_bytes / (1024.0 * 1024.0));
    fprintf(f, "all-to-all        %u\n", res->na2a);
    if (!res->na2a)
        return;
    double total = 0;
    fprintf(f, "  %8s  %12s  %12s  %12s  %12s  %6s  %s\n", "node", "start us", "end us",
            "duration us", "exposed us", "exp %", "name");
    for (uint32_t k = 0; k < res->na2a; k++) {
        uint32_t v = res->a2a_nodes[k];
        double d = res->end[v] - res->start[v];
        total += res->a2a_exposed[k];
        fprintf(f, "  %8u  %12.3f  %12.3f  %12.3f  %12.3f  %6.1f  %s\n", v, res->start[v],
                res->end[v], d, res->a2a_exposed[k], pct(res->a2a_exposed[k], d), node_name(g, v));
    }
    fprintf(f, "  all-to-all exposed in total %.3f us\n", total);
}

static int set_num(json_t *o, const char *k, double v)
{
    return json_object_set_new(o, k, json_real(v));
}

char *lct_sim_report_json(const lct_graph_t *g, const lct_sim_result_t *res)
{
    if (!res)
        return NULL;
    json_t *o = json_object(), *arr = json_array();
    char *text = NULL;
    int bad = !o || !arr;
    if (!bad) {
        bad |= json_object_set_new(o, "nodes", json_integer(res->n));
        bad |= set_num(o, "makespan_us", res->makespan);
        bad |= set_num(o, "compute_total_us", res->compute_total);
        bad |= set_num(o, "comm_total_us", res->comm_total);
        bad |= set_num(o, "comm_busy_us", res->comm_busy);
        bad |= set_num(o, "comm_overlapped_us", res->comm_overlapped);
        bad |= set_num(o, "comm_exposed_us", res->comm_exposed);
        bad |= set_num(o, "comm_exposed_fraction_of_makespan",
                       res->makespan > 0 ? res->comm_exposed / res->makespan : 0.0);
        bad |= set_num(o, "critical_path_us", res->critical_path);
        bad |= set_num(o, "lower_bound_us", res->lower_bound);
        bad |= set_num(o, "lower_bound_interference_us", res->lower_bound_interference);
        bad |= set_num(o, "peak_mem_bytes", res->peak_mem_bytes);
        double total = 0;
        for (uint32_t k = 0; k < res->na2a && !bad; k++) {
            uint32_t v = res->a2a_nodes[k];
            json_t *e = json_object();
            total += res->a2a_exposed[k];
            bad |= !e;
            if (!e)
                break;
            bad |= json_object_set_new(e, "node", json_integer(v));
            bad |= json_object_set_new(e, "name", lct_ir_json_string(node_name(g, v)));
            bad |= set_num(e, "start_us", res->start[v]);
            bad |= set_num(e, "end_us", res->end[v]);
            bad |= set_num(e, "exposed_us", res->a2a_exposed[k]);
            bad |= json_array_append_new(arr, e);
        }
        bad |= set_num(o, "a2a_exposed_total_us", total);
        bad |= json_object_set(o, "a2a", arr);
    }
    if (!bad)
        text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    if (!text)
        LCT_WARN("out of memory building the JSON report");
    json_decref(arr);
    json_decref(o);
    return text;
}
