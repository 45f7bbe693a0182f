/* lancet-opt: run Lancet's analyses and passes on a step-graph file.
 *
 * Reads a graph (lancet-gen output or a LANCET_DUMP from the interceptor), simulates the original
 * schedule, reconstructs dependencies, runs the passes, simulates the result and writes the
 * optimized graph, the report, a Chrome trace and an SVG timeline. Command-line options override
 * the LANCET_* environment through the one configuration registry. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis/lct_analysis.h"
#include "core/lct_config.h"
#include "core/lct_log.h"
#include "cost/lct_cost.h"
#include "cost/lct_sim.h"
#include "ir/lct_ir_json.h"
#include "sched/lct_sched.h"

static int quiet;
static struct timespec t0;

static double elapsed_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) * 1e-9;
}

static void progress(const char *what)
{
    if (!quiet)
        fprintf(stderr, "lancet-opt: [%7.3f s] %s\n", elapsed_s(), what);
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: lancet-opt GRAPH.json [options]\n"
        "\n"
        "Reconstructs the true dependencies of a step graph, runs Lancet's passes and reports the\n"
        "simulated step before and after.\n"
        "\n"
        "outputs:\n"
        "  -o, --output FILE       optimized graph (JSON)\n"
        "  --report FILE           text report (default: standard output)\n"
        "  --json FILE             report as JSON\n"
        "  --svg FILE              timeline picture, original above optimized, one time scale\n"
        "  --trace FILE            Chrome/Perfetto trace of the optimized step\n"
        "  --dot FILE              optimized graph as Graphviz DOT\n"
        "cost inputs:\n"
        "  --device NAME           device profile for interference (default: the graph's device)\n"
        "  --curves FILE           collective cost curves (JSON); default: modelled from the\n"
        "                          graph's fabric and world size when the graph names them\n"
        "  --profile FILE          measured node costs (JSON)\n"
        "passes (override LANCET_*; see lancet-info --config):\n"
        "  --no-dw                 LANCET_DW=0\n"
        "  --no-improve            LANCET_DW_IMPROVE=0 (the paper's greedy only)\n"
        "  --no-dw-tail            LANCET_DW_TAIL=0 (no dW window at the last all-reduce)\n"
        "  --no-pipeline-bwd       LANCET_PIPELINE_BWD=0 (never pipeline backward expert chains)\n"
        "  --no-opt-tail           LANCET_OPT_TAIL=0 (no optimizer deferral)\n"
        "  --dw-rules R            LANCET_DW_RULES=R: auto, own or paper (docs/passes.md)\n"
        "  --no-allreduce-fill     LANCET_ALLREDUCE_FILL=0\n"
        "  --no-pipeline           LANCET_PIPELINE=0\n"
        "  --max-chunks K          LANCET_PIPELINE_MAX_CHUNKS=K\n"
        "  --mem-budget-mb N       LANCET_MEM_BUDGET_MB=N\n"
        "  --interference F        LANCET_INTERFERENCE=F (0..1; -1: device profile)\n"
        "  --opaque PATTERNS       LANCET_OPAQUE_KERNELS=PATTERNS\n"
        "  --tutel D               Tutel-style baseline instead of Lancet's forward search: cut\n"
        "                          only each MoE layer's all-to-all .. experts .. all-to-all into\n"
        "                          D chunks (D >= 1; combine with --no-dw for Tutel alone)\n"
        "other:\n"
        "  --summary               one line of key=value figures on standard output instead of\n"
        "                          the report (for benchmark scripts)\n"
        "  -q, --quiet             no progress lines on standard error\n"
        "  -h, --help              this text\n"
        "Exit status: 0 success, 1 failure (message on standard error), 2 usage error.\n");
}

static int set_cfg(lct_cfg_id_t id, const char *value)
{
    if (lct_config_set(id, value) != LCT_OK) {
        fprintf(stderr, "lancet-opt: bad value '%s' for %s\n", value, lct_config_desc(id)->name);
        return -1;
    }
    return 0;
}

static int write_text_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "lancet-opt: cannot write '%s': %m\n", path);
        return -1;
    }
    fputs(text, f);
    if (fclose(f) != 0) {
        fprintf(stderr, "lancet-opt: cannot write '%s': %m\n", path);
        return -1;
    }
    return 0;
}

static void write_report(FILE *rf, const char *in, const lct_graph_t *orig, const lct_graph_t *opt,
                         const lct_deps_stats_t *dstats, const lct_sim_result_t *before,
                         const lct_sim_result_t *after, const lct_plan_ctx_t *ctx)
{
    fprintf(rf, "graph %s: %u nodes, %zu edges as captured; %zu after dependency reconstruction and "
                "passes\n",
            orig->meta.name ? orig->meta.name : in, LCT_NNODES(orig), orig->edges.len,
            opt->edges.len);
    fprintf(rf, "dependencies: %u RAW, %u WAR, %u WAW, %u barrier, %u collective-order edges found; "
                "%u implied edges removed\n",
            dstats->raw, dstats->war, dstats->waw, dstats->barrier, dstats->coll,
            dstats->removed_by_reduction);
    fprintf(rf, "\n%-28s %12s %12s\n", "", "original", "lancet");
    fprintf(rf, "%-28s %12.1f %12.1f\n", "step time (us)", before->makespan, after->makespan);
    fprintf(rf, "%-28s %12.1f %12.1f\n", "exposed communication (us)", before->comm_exposed,
            after->comm_exposed);
    fprintf(rf, "%-28s %12.1f %12.1f\n", "overlapped communication", before->comm_overlapped,
            after->comm_overlapped);
    fprintf(rf, "%-28s %12.1f %12.1f\n", "lower bound (us)", before->lower_bound, after->lower_bound);
    fprintf(rf, "%-28s %12.1f %12.1f\n", "  with interference (us)", before->lower_bound_interference,
            after->lower_bound_interference);
    fprintf(rf, "%-28s %12.1f %12.1f\n", "peak step memory (MiB)", before->peak_mem_bytes / 1048576.0,
            after->peak_mem_bytes / 1048576.0);
    fprintf(rf, "%-28s %12s %11.3fx\n", "speedup", "",
            after->makespan > 0 ? before->makespan / after->makespan : 0.0);
    fprintf(rf, "\n");
    lct_plan_report_text(rf, opt, ctx);
    fprintf(rf, "\n-- optimized step --\n");
    lct_sim_report_text(rf, opt, after);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'}, {"report", required_argument, NULL, 'r'},
        {"json", required_argument, NULL, 'j'},   {"svg", required_argument, NULL, 's'},
        {"trace", required_argument, NULL, 't'},  {"dot", required_argument, NULL, 'D'},
        {"device", required_argument, NULL, 'd'}, {"curves", required_argument, NULL, 'c'},
        {"profile", required_argument, NULL, 'p'}, {"no-dw", no_argument, NULL, 1},
        {"no-improve", no_argument, NULL, 2},     {"dw-rules", required_argument, NULL, 11},
        {"no-dw-tail", no_argument, NULL, 12},   {"no-pipeline-bwd", no_argument, NULL, 13},
        {"no-opt-tail", no_argument, NULL, 14},     {"no-allreduce-fill", no_argument, NULL, 3},
        {"no-pipeline", no_argument, NULL, 4},    {"max-chunks", required_argument, NULL, 5},
        {"mem-budget-mb", required_argument, NULL, 6}, {"interference", required_argument, NULL, 7},
        {"opaque", required_argument, NULL, 8},   {"summary", no_argument, NULL, 9},
        {"tutel", required_argument, NULL, 10},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    const char *out = NULL, *report = NULL, *json = NULL, *svg = NULL, *trace = NULL, *dot = NULL;
    const char *device = NULL, *curves_path = NULL, *profile_path = NULL;
    int c, rc = 1, summary = 0, tutel = 0;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    lct_config_load();
    while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'o': out = optarg; break;
        case 'r': report = optarg; break;
        case 'j': json = optarg; break;
        case 's': svg = optarg; break;
        case 't': trace = optarg; break;
        case 'D': dot = optarg; break;
        case 'd': device = optarg; break;
        case 'c': curves_path = optarg; break;
        case 'p': profile_path = optarg; break;
        case 1: bad = set_cfg(LCT_CFG_DW, "0"); break;
        case 2: bad = set_cfg(LCT_CFG_DW_IMPROVE, "0"); break;
        case 11: bad = set_cfg(LCT_CFG_DW_RULES, optarg); break;
        case 12: bad = set_cfg(LCT_CFG_DW_TAIL, "0"); break;
        case 13: bad = set_cfg(LCT_CFG_PIPELINE_BWD, "0"); break;
        case 14: bad = set_cfg(LCT_CFG_OPT_TAIL, "0"); break;
        case 3: bad = set_cfg(LCT_CFG_ALLREDUCE_FILL, "0"); break;
        case 4: bad = set_cfg(LCT_CFG_PIPELINE, "0"); break;
        case 5: bad = set_cfg(LCT_CFG_PIPELINE_MAX_CHUNKS, optarg); break;
        case 6: bad = set_cfg(LCT_CFG_MEM_BUDGET_MB, optarg); break;
        case 7: bad = set_cfg(LCT_CFG_INTERFERENCE, optarg); break;
        case 8: bad = set_cfg(LCT_CFG_OPAQUE_KERNELS, optarg); break;
        case 9: summary = 1; break;
        case 10: {
            char *end;
            long d = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || d < 1 || d > 64) {
                fprintf(stderr, "lancet-opt: bad value '%s' for --tutel (accepted: 1 to 64)\n", optarg);
                return 2;
            }
            tutel = (int)d;
            break;
        }
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (bad)
            return 2;
    }
    if (optind != argc - 1) {
        fprintf(stderr, optind >= argc ? "lancet-opt: no graph file given\n"
                                       : "lancet-opt: only one graph file is accepted\n");
        usage(stderr);
        return 2;
    }
    const char *in = argv[optind];

    lct_graph_t *orig = NULL, *opt = NULL;
    lct_curve_set_t curves;
    lct_profile_t *profile = NULL;
    lct_sim_result_t before, after;
    lct_plan_ctx_t ctx;
    int have_curves = 0, have_before = 0, have_after = 0, have_ctx = 0;
    char err[512];
    memset(&curves, 0, sizeof(curves));
    memset(&before, 0, sizeof(before));
    memset(&after, 0, sizeof(after));

    progress("reading graph");
    if (lct_ir_read_file(in, &orig, err, sizeof(err)) != LCT_OK) {
        fprintf(stderr, "lancet-opt: %s\n", err);
        goto done;
    }
    if (lct_ir_verify(orig, err, sizeof(err)) != LCT_OK) {
        fprintf(stderr, "lancet-opt: %s: graph is not valid: %s\n", in, err);
        goto done;
    }
    if (!device)
        device = orig->meta.device;
    const lct_device_profile_t *dev = NULL;
    if (device) {
        dev = lct_device_profile_find(device);
        if (!dev) {
            fprintf(stderr, "lancet-opt: unknown device '%s'; known: %s\n", device,
                    lct_device_profile_names());
            goto done;
        }
    }
    if (curves_path) {
        if (lct_curves_read(curves_path, &curves) != LCT_OK) {
            fprintf(stderr, "lancet-opt: cannot use curves '%s' (see the message above)\n",
                    curves_path);
            goto done;
        }
        have_curves = 1;
    } else if (orig->meta.fabric) {
        const lct_fabric_profile_t *fab = lct_fabric_profile_find(orig->meta.fabric);
        if (fab && lct_curves_model(fab, orig->meta.world_size, &curves) == LCT_OK)
            have_curves = 1;
    }
    if (profile_path && lct_profile_read(profile_path, &profile) != LCT_OK) {
        fprintf(stderr, "lancet-opt: cannot use profile '%s' (see the message above)\n",
                profile_path);
        goto done;
    }
    if ((profile || curves_path) &&
        lct_cost_fill(orig, profile, have_curves ? &curves : NULL) != LCT_OK) {
        fprintf(stderr, "lancet-opt: cannot fill node costs\n");
        goto done;
    }

    lct_plan_ctx_init(&ctx, dev, have_curves ? &curves : NULL);
    have_ctx = 1;
    if (tutel) {
        ctx.tutel_degree = tutel;
        ctx.pipeline = true;
    }
    lct_sim_cfg_t simcfg = {ctx.interference};

    progress("simulating the original schedule");
    if (lct_graph_fill_adj(orig) != LCT_OK || lct_sim_run(orig, &simcfg, &before) != LCT_OK) {
        fprintf(stderr, "lancet-opt: cannot simulate the original graph\n");
        goto done;
    }
    have_before = 1;

    if (lct_graph_clone(orig, &opt) != LCT_OK)
        goto done;
    double plan_t0 = elapsed_s();
    progress("reconstructing dependencies");
    lct_deps_opts_t dopts = lct_deps_opts_default();
    dopts.opaque_kernels = lct_config_str(LCT_CFG_OPAQUE_KERNELS);
    lct_deps_stats_t dstats;
    if (lct_deps_rebuild(opt, &dopts, &dstats) != LCT_OK) {
        fprintf(stderr, "lancet-opt: dependency reconstruction failed\n");
        goto done;
    }
    progress("planning");
    if (lct_plan_run(opt, &ctx) != LCT_OK) {
        fprintf(stderr, "lancet-opt: planning failed; the original graph stands\n");
        goto done;
    }
    double plan_s = elapsed_s() - plan_t0;
    if (lct_ir_verify(opt, err, sizeof(err)) != LCT_OK) {
        fprintf(stderr, "lancet-opt: optimized graph failed verification: %s\n", err);
        goto done;
    }
    progress("simulating the optimized schedule");
    if (lct_sim_run(opt, &simcfg, &after) != LCT_OK) {
        fprintf(stderr, "lancet-opt: cannot simulate the optimized graph\n");
        goto done;
    }
    have_after = 1;

    progress("writing outputs");
    if (summary)
        printf("nodes=%u makespan_before_us=%.1f exposed_before_us=%.1f makespan_after_us=%.1f "
               "exposed_after_us=%.1f lower_bound_us=%.1f lower_bound_interference_us=%.1f "
               "orig_bound_interference_us=%.1f compute_before_us=%.1f compute_after_us=%.1f "
               "comm_before_us=%.1f comm_after_us=%.1f speedup=%.4f plan_ms=%.1f "
               "dw_placed=%u windows=%u peak_mem_before_mb=%.1f peak_mem_after_mb=%.1f\n",
               LCT_NNODES(orig), before.makespan, before.comm_exposed, after.makespan,
               after.comm_exposed, after.lower_bound, after.lower_bound_interference,
               fmax(before.comm_total, before.compute_total + simcfg.interference * before.comm_total),
               before.compute_total, after.compute_total, before.comm_total, after.comm_total,
               after.makespan > 0 ? before.makespan / after.makespan : 0.0, plan_s * 1000.0,
               ctx.report.dw_placed, ctx.report.nwindows, before.peak_mem_bytes / 1048576.0,
               after.peak_mem_bytes / 1048576.0);
    FILE *rf = summary ? NULL : stdout;
    if (summary && report && !(rf = fopen(report, "w"))) {
        fprintf(stderr, "lancet-opt: cannot write '%s': %m\n", report);
        goto done;
    }
    if (!summary && report && !(rf = fopen(report, "w"))) {
        fprintf(stderr, "lancet-opt: cannot write '%s': %m\n", report);
        goto done;
    }
    if (rf) {
        write_report(rf, in, orig, opt, &dstats, &before, &after, &ctx);
        if (rf != stdout)
            fclose(rf);
    }

    if (out && lct_ir_write_file(opt, out) != LCT_OK) {
        fprintf(stderr, "lancet-opt: cannot write '%s'\n", out);
        goto done;
    }
    if (json) {
        char *plan = lct_plan_report_json(opt, &ctx);
        char *sb = lct_sim_report_json(orig, &before);
        char *sa = lct_sim_report_json(opt, &after);
        int ok = plan && sb && sa;
        if (ok) {
            size_t n = strlen(plan) + strlen(sb) + strlen(sa) + 128;
            char *all = malloc(n);
            ok = all != NULL;
            if (ok) {
                snprintf(all, n, "{\"original\": %s,\n \"optimized\": %s,\n \"plan\": %s}\n", sb, sa,
                         plan);
                ok = write_text_file(json, all) == 0;
                free(all);
            }
        }
        free(plan);
        free(sb);
        free(sa);
        if (!ok)
            goto done;
    }
    if (trace && lct_sim_write_chrome_trace(trace, opt, &after) != LCT_OK) {
        fprintf(stderr, "lancet-opt: cannot write '%s'\n", trace);
        goto done;
    }
    if (svg) {
        char title[256];
        snprintf(title, sizeof(title), "%s: original %.2f ms, lancet %.2f ms (%.3fx)",
                 orig->meta.name ? orig->meta.name : in, before.makespan / 1000.0,
                 after.makespan / 1000.0, after.makespan > 0 ? before.makespan / after.makespan : 0.0);
        if (lct_sim_write_svg(svg, title, orig, &before, opt, &after) != LCT_OK) {
            fprintf(stderr, "lancet-opt: cannot write '%s'\n", svg);
            goto done;
        }
    }
    if (dot) {
        FILE *df = fopen(dot, "w");
        if (!df || lct_ir_write_dot(opt, df) != LCT_OK) {
            fprintf(stderr, "lancet-opt: cannot write '%s': %m\n", dot);
            if (df)
                fclose(df);
            goto done;
        }
        fclose(df);
    }
    progress("done");
    rc = 0;
done:
    if (have_after)
        lct_sim_result_free(&after);
    if (have_before)
        lct_sim_result_free(&before);
    if (have_ctx)
        lct_plan_ctx_fini(&ctx);
    if (have_curves)
        lct_curves_free(&curves);
    lct_profile_destroy(profile);
    lct_graph_destroy(opt);
    lct_graph_destroy(orig);
    return rc;
}
