/* lancet-info: what this build of Lancet-C knows: configuration variables, profiles, version. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "core/lct_config.h"
#include "core/lct_log.h"
#include "cost/lct_cost.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: lancet-info [--config] [--markdown] [--profiles] [--version] [--help]\n"
            "\n"
            "Shows what this build of Lancet-C knows.\n"
            "  -c, --config     every LANCET_* variable: value, where the value came from\n"
            "                   (default, environment), accepted values and documentation;\n"
            "                   problems in the environment (bad values, unknown LANCET_* names)\n"
            "                   are reported and make the exit status 1\n"
            "  -m, --markdown   with --config: a Markdown table (docs/config.md is made from it)\n"
            "  -p, --profiles   built-in device and fabric profiles\n"
            "  -v, --version    version\n"
            "  -h, --help       this text\n"
            "With no option: --version and --config. Exit status: 0 done, 1 problems in the\n"
            "environment, 2 usage error.\n");
}

/* A table cell: a '|' would end the cell (even inside backticks), so it is escaped. */
static void md_cell(const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            putchar('\\');
        putchar(*s);
    }
}

static void print_markdown(void)
{
    static const char *const types[] = {"bool", "int", "double", "enum", "string"};
    printf("| variable | type | default | accepted | meaning |\n|---|---|---|---|---|\n");
    for (int i = 0; i < LCT_CFG_COUNT; i++) {
        const lct_cfg_desc_t *d = lct_config_desc((lct_cfg_id_t)i);
        char acc[128];
        lct_config_accepted((lct_cfg_id_t)i, acc, sizeof(acc));
        printf("| `%s` | %s | `", d->name, types[d->type]);
        md_cell(d->def);
        fputs("` | ", stdout);
        md_cell(acc);
        fputs(" | ", stdout);
        md_cell(d->doc);
        fputs(" |\n", stdout);
    }
}

static void print_profiles(void)
{
    const char *devs = lct_device_profile_names();
    const char *fabs = lct_fabric_profile_names();
    char buf[256];
    printf("devices:\n");
    snprintf(buf, sizeof(buf), "%s", devs);
    for (char *s = NULL, *t = strtok_r(buf, ", ", &s); t; t = strtok_r(NULL, ", ", &s)) {
        const lct_device_profile_t *d = lct_device_profile_find(t);
        if (d)
            printf("  %-8s %3d SMs  fp32 %6.1f TFLOP/s  fp16 %6.1f TFLOP/s  %6.0f GB/s  launch %.1f us"
                   "  interference %.2f\n",
                   d->name, d->sms, d->tflops_f32, d->tflops_f16, d->mem_gbs, d->launch_us,
                   d->interference);
    }
    printf("fabrics:\n");
    snprintf(buf, sizeof(buf), "%s", fabs);
    for (char *s = NULL, *t = strtok_r(buf, ", ", &s); t; t = strtok_r(NULL, ", ", &s)) {
        const lct_fabric_profile_t *f = lct_fabric_profile_find(t);
        if (f)
            printf("  %-9s %d GPUs/node  NVLink %6.1f GB/s/GPU  network %6.1f GB/s/node"
                   "  latency %.1f/%.1f us\n",
                   f->name, f->gpus_per_node, f->nvlink_gbs, f->net_gbs_per_node, f->lat_intra_us,
                   f->lat_inter_us);
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", no_argument, NULL, 'c'},
                                         {"markdown", no_argument, NULL, 'm'},
                                         {"profiles", no_argument, NULL, 'p'},
                                         {"version", no_argument, NULL, 'v'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int config = 0, markdown = 0, profiles = 0, version = 0, c;
    while ((c = getopt_long(argc, argv, "cmpvh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = 1; break;
        case 'm': markdown = 1; break;
        case 'p': profiles = 1; break;
        case 'v': version = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "lancet-info: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (markdown && !config) {
        fprintf(stderr, "lancet-info: --markdown goes with --config\n");
        return 2;
    }
    if (!config && !profiles && !version)
        config = version = 1;
    int problems = 0;
    if (version)
        printf("lancet-c %s\n", PACKAGE_VERSION);
    if (config) {
        if (markdown) {
            lct_config_reset();
            print_markdown();
        } else {
            problems = lct_config_load();
            lct_config_print(stdout, true);
            if (problems)
                printf("%d problem(s) in the LANCET_* environment (see the warnings above)\n",
                       problems);
        }
    }
    if (profiles)
        print_profiles();
    return problems ? 1 : 0;
}
