/* lancet-gen: write the step graph of one of the Lancet paper's GPT-2 MoE models (one rank's
 * training step: forward, backward with separate dX/dW GEMMs, bucketed gradient all-reduce,
 * optimizer) as a JSON graph file and/or Graphviz DOT. See docs/lancet-gen.md. */
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/lct_log.h"
#include "cost/lct_cost.h"
#include "gen/lct_gen.h"
#include "ir/lct_ir_json.h"

#define PROG "lancet-gen"
#define EXIT_USAGE 2

static void usage(FILE *f)
{
    fprintf(f,
            "usage: " PROG " [options] -o FILE.json [--dot FILE.dot]\n"
            "\n"
            "Write the step graph of one rank of a GPT-2 MoE training step (every second MLP a\n"
            "top-1 switch MoE, experts Linear(m,4m)-ReLU-Linear(4m,m), expert + data parallel,\n"
            "fp32, SGD with momentum) with modelled costs, footprints and library call records.\n"
            "\n"
            "model (a preset first, then any field overridden):\n"
            "  --model NAME           gpt2-s (nl 12, m 768, nh 16) or gpt2-l (nl 24, m 1024,\n"
            "                         nh 16); default gpt2-s\n"
            "  --nl N                 layers (1..1024)\n"
            "  --m N                  hidden size (1..65536, a multiple of nh)\n"
            "  --nh N                 attention heads (a divisor of m)\n"
            "  --sl N                 sequence length (1..65536); default 512\n"
            "  --b N                  samples per GPU; default the paper's batch for the model on\n"
            "                         the device (V100: S 16, L 8; A100/H100: S 48, L 24)\n"
            "  --vocab N              vocabulary size (2..4194304); default 50257\n"
            "  --moe-every N          layer l is MoE when l %% N == 0 (0: no MoE); default 2\n"
            "  --experts-per-gpu N    local experts per rank (1..64); default 2\n"
            "  --capacity-factor X    expert capacity factor (0 < X <= 64); default 1.0\n"
            "cluster:\n"
            "  --world N              ranks (1..65536); default 8\n"
            "  --gpus-per-node N      GPUs used per node (1..the fabric's); default the fabric's\n"
            "  --rank R               rank whose step is written (0..N-1); default 0\n"
            "  --device NAME          v100, a100 or h100; default a100\n"
            "  --fabric NAME          p3dn, p4de or dgx-h100; default the device's cluster\n"
            "                         (v100: p3dn, a100: p4de, h100: dgx-h100)\n"
            "  --bucket-mb X          DDP gradient bucket cap in MiB (> 0); default 25\n"
            "output:\n"
            "  -o, --output FILE      graph file (JSON); '-' writes to standard output\n"
            "  --dot FILE             Graphviz DOT of the graph; '-' writes to standard output\n"
            "  -q, --quiet            no summary line on standard error\n"
            "  -h, --help             this text\n"
            "\n"
            "A summary line (nodes, edges, all-to-alls, all-reduces, total compute and\n"
            "communication time) goes to standard error. Exit status: 0 done, 1 failed to write,\n"
            "2 usage error.\n"
            "\n"
            "examples:\n"
            "  " PROG " --model gpt2-l --device a100 --world 64 -o gpt2-l-w64.json\n"
            "  " PROG " --model gpt2-s --device v100 --world 16 --fabric p3dn -o s16.json\n"
            "  " PROG " --nl 2 --m 64 --nh 2 --sl 16 --b 2 --world 4 -o tiny.json --dot tiny.dot\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, PROG ": ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see " PROG " --help)\n");
    return EXIT_USAGE;
}

/* Integer option value; -1 on a syntax error (reported). */
static int parse_int(const char *opt, const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < lo || v > hi) {
        usage_error("%s: '%s' is not accepted; accepted: an integer %ld..%ld", opt, s, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_double(const char *opt, const char *s, double lo_excl, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !(v > lo_excl && v <= hi)) {
        usage_error("%s: '%s' is not accepted; accepted: a number > %.15g and <= %.15g", opt, s,
                    lo_excl, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* Validation messages start with the configuration field; name the option instead. */
static const char *field_option(const char *msg, size_t *skip_p)
{
    static const struct {
        const char *field, *opt;
    } map[] = {
        {"nl", "--nl"},
        {"m", "--m"},
        {"nh", "--nh"},
        {"sl", "--sl"},
        {"b", "--b"},
        {"vocab", "--vocab"},
        {"moe_every", "--moe-every"},
        {"experts_per_gpu", "--experts-per-gpu"},
        {"capacity_factor", "--capacity-factor"},
        {"world_size", "--world"},
        {"gpus_per_node", "--gpus-per-node"},
        {"rank", "--rank"},
        {"bucket_bytes", "--bucket-mb (in bytes)"},
        {"device", "--device"},
        {"fabric", "--fabric"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        size_t n = strlen(map[i].field);
        if (strncmp(msg, map[i].field, n) == 0 && msg[n] == ':') {
            *skip_p = n;
            return map[i].opt;
        }
    }
    *skip_p = 0;
    return NULL;
}

enum {
    OPT_MODEL = 256,
    OPT_NL,
    OPT_M,
    OPT_NH,
    OPT_SL,
    OPT_B,
    OPT_VOCAB,
    OPT_MOE_EVERY,
    OPT_EXPERTS,
    OPT_CF,
    OPT_WORLD,
    OPT_GPN,
    OPT_RANK,
    OPT_DEVICE,
    OPT_FABRIC,
    OPT_BUCKET,
    OPT_DOT,
};

typedef struct {
    int set;
    int v;
} iopt_t;

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, OPT_MODEL},
        {"nl", required_argument, NULL, OPT_NL},
        {"m", required_argument, NULL, OPT_M},
        {"nh", required_argument, NULL, OPT_NH},
        {"sl", required_argument, NULL, OPT_SL},
        {"b", required_argument, NULL, OPT_B},
        {"vocab", required_argument, NULL, OPT_VOCAB},
        {"moe-every", required_argument, NULL, OPT_MOE_EVERY},
        {"experts-per-gpu", required_argument, NULL, OPT_EXPERTS},
        {"capacity-factor", required_argument, NULL, OPT_CF},
        {"world", required_argument, NULL, OPT_WORLD},
        {"gpus-per-node", required_argument, NULL, OPT_GPN},
        {"rank", required_argument, NULL, OPT_RANK},
        {"device", required_argument, NULL, OPT_DEVICE},
        {"fabric", required_argument, NULL, OPT_FABRIC},
        {"bucket-mb", required_argument, NULL, OPT_BUCKET},
        {"output", required_argument, NULL, 'o'},
        {"dot", required_argument, NULL, OPT_DOT},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *model = "gpt2-s", *device = "a100", *fabric = NULL, *out = NULL, *dot = NULL;
    iopt_t nl = {0, 0}, m = {0, 0}, nh = {0, 0}, sl = {0, 0}, b = {0, 0}, vocab = {0, 0},
           moe_every = {0, 0}, experts = {0, 0}, world = {0, 0}, gpn = {0, 0}, rank = {0, 0};
    double cf = 0, bucket_mb = 0;
    int quiet = 0, c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:qh", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case OPT_MODEL: model = optarg; break;
        case OPT_DEVICE: device = optarg; break;
        case OPT_FABRIC: fabric = optarg; break;
        case 'o': out = optarg; break;
        case OPT_DOT: dot = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return 0;
        case OPT_NL: bad = parse_int("--nl", optarg, 1, 1024, &nl.v); nl.set = 1; break;
        case OPT_M: bad = parse_int("--m", optarg, 1, 65536, &m.v); m.set = 1; break;
        case OPT_NH: bad = parse_int("--nh", optarg, 1, 65536, &nh.v); nh.set = 1; break;
        case OPT_SL: bad = parse_int("--sl", optarg, 1, 65536, &sl.v); sl.set = 1; break;
        case OPT_B: bad = parse_int("--b", optarg, 1, 1 << 20, &b.v); b.set = 1; break;
        case OPT_VOCAB: bad = parse_int("--vocab", optarg, 2, 1 << 22, &vocab.v); vocab.set = 1; break;
        case OPT_MOE_EVERY:
            bad = parse_int("--moe-every", optarg, 0, 1024, &moe_every.v);
            moe_every.set = 1;
            break;
        case OPT_EXPERTS:
            bad = parse_int("--experts-per-gpu", optarg, 1, 64, &experts.v);
            experts.set = 1;
            break;
        case OPT_CF: bad = parse_double("--capacity-factor", optarg, 0.0, 64.0, &cf); break;
        case OPT_WORLD: bad = parse_int("--world", optarg, 1, 65536, &world.v); world.set = 1; break;
        case OPT_GPN:
            bad = parse_int("--gpus-per-node", optarg, 1, 65536, &gpn.v);
            gpn.set = 1;
            break;
        case OPT_RANK: bad = parse_int("--rank", optarg, 0, 65535, &rank.v); rank.set = 1; break;
        case OPT_BUCKET:
            bad = parse_double("--bucket-mb", optarg, 0.0, 1048576.0, &bucket_mb);
            break;
        case ':':
            return usage_error("option %s needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
        if (bad)
            return EXIT_USAGE;
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (!out && !dot)
        return usage_error("no output: give -o FILE.json and/or --dot FILE.dot");
    if (out && dot && strcmp(out, "-") == 0 && strcmp(dot, "-") == 0)
        return usage_error("-o and --dot cannot both write to standard output");

    /* Presets log their own warning; make the usage error the only message. */
    int saved_level = lct_log_level;
    lct_log_level = LCT_LOG_NONE;
    lct_gen_cfg_t cfg;
    lct_status_t st = lct_gen_cfg_preset(model, "a100", &cfg);
    lct_log_level = saved_level;
    if (st != LCT_OK)
        return usage_error("--model: '%s' is not accepted; accepted: gpt2-s, gpt2-l", model);
    lct_log_level = LCT_LOG_NONE;
    st = lct_gen_cfg_preset(model, device, &cfg);
    lct_log_level = saved_level;
    if (st != LCT_OK)
        return usage_error("--device: '%s' is not accepted; accepted: %s", device,
                           lct_device_profile_names());
    if (fabric) {
        const lct_fabric_profile_t *fp = lct_fabric_profile_find(fabric);
        if (!fp)
            return usage_error("--fabric: '%s' is not accepted; accepted: %s", fabric,
                               lct_fabric_profile_names());
        snprintf(cfg.fabric, sizeof(cfg.fabric), "%s", fp->name);
        if (!gpn.set)
            cfg.gpus_per_node = fp->gpus_per_node;
    }
    if (nl.set) cfg.nl = nl.v;
    if (m.set) cfg.m = m.v;
    if (nh.set) cfg.nh = nh.v;
    if (sl.set) cfg.sl = sl.v;
    if (b.set) cfg.b = b.v;
    if (vocab.set) cfg.vocab = vocab.v;
    if (moe_every.set) cfg.moe_every = moe_every.v;
    if (experts.set) cfg.experts_per_gpu = experts.v;
    if (cf > 0) cfg.capacity_factor = cf;
    if (world.set) cfg.world_size = world.v;
    if (gpn.set) cfg.gpus_per_node = gpn.v;
    if (rank.set) cfg.rank = rank.v;
    if (bucket_mb > 0) {
        double bytes = floor(bucket_mb * 1048576.0 + 0.5);
        cfg.bucket_bytes = bytes < 1.0 ? 1 : (uint64_t)bytes;
    }
    char err[256];
    if (lct_gen_cfg_validate(&cfg, err, sizeof(err)) != LCT_OK) {
        size_t skip;
        const char *opt = field_option(err, &skip);
        if (opt)
            return usage_error("%s%s", opt, err + skip);
        return usage_error("%s", err);
    }

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    lct_graph_t *g = NULL;
    st = lct_gen_graph(&cfg, &g);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (st != LCT_OK) {
        fprintf(stderr, PROG ": generating the graph failed: %s\n", lct_status_str(st));
        return 1;
    }
    int rc = 0;
    if (out) {
        if (strcmp(out, "-") == 0) {
            char *text = lct_ir_write_string(g);
            if (!text || fputs(text, stdout) == EOF || fflush(stdout) != 0) {
                fprintf(stderr, PROG ": cannot write the graph to standard output\n");
                rc = 1;
            }
            free(text);
        } else if (lct_ir_write_file(g, out) != LCT_OK) {
            fprintf(stderr, PROG ": cannot write %s\n", out);
            rc = 1;
        }
    }
    if (dot && rc == 0) {
        FILE *f = strcmp(dot, "-") == 0 ? stdout : fopen(dot, "w");
        if (!f) {
            fprintf(stderr, PROG ": cannot open %s: %s\n", dot, strerror(errno));
            rc = 1;
        } else {
            st = lct_ir_write_dot(g, f);
            if (f != stdout ? fclose(f) != 0 : fflush(f) != 0)
                st = LCT_ERR_IO;
            if (st != LCT_OK) {
                fprintf(stderr, PROG ": cannot write %s\n", dot);
                rc = 1;
            }
        }
    }
    if (!quiet) {
        uint32_t na2a = 0, nar = 0;
        double comp = 0, comm = 0;
        for (uint32_t i = 0; i < LCT_NNODES(g); i++) {
            const lct_node_t *n = LCT_NODE(g, i);
            if (n->kind == LCT_NODE_COLLECTIVE) {
                comm += n->cost_us;
                na2a += n->coll.op == LCT_COLL_ALLTOALL;
                nar += n->coll.op == LCT_COLL_ALLREDUCE;
            } else {
                comp += n->cost_us;
            }
        }
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        fprintf(stderr,
                PROG ": %s: %u nodes, %zu edges, %u all-to-all, %u all-reduce, compute %.1f us, "
                "communication %.1f us (generated in %.1f ms)\n",
                g->meta.name, LCT_NNODES(g), g->edges.len, na2a, nar, comp, comm, ms);
    }
    lct_graph_destroy(g);
    return rc;
}
