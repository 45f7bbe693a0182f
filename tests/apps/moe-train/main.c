/* moe-train: train a GPT-2 mixture-of-experts model with expert and data parallelism on one GPU
 * per rank (MPI ranks, NCCL communicator), printing each step's loss and time.
 *
 *   mpirun -n 4 moe-train --nl 2 --m 64 --nh 4 --sl 32 --b 2 --vocab 256 --steps 20
 *
 * See --help and docs/moe-train.md. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "gradcheck.h"
#include "model.h"

extern const unsigned char moe_kernels_fatbin[];
extern const unsigned long moe_kernels_fatbin_len;

typedef struct {
    moe_cfg_t cfg;
    int steps, warmup, graph, gradcheck, verbose;
    double gc_eps, gc_rtol;
    const char *json;
    char overlap[32];
} opts_t;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: moe-train [options]   (one process per GPU, e.g. under mpirun)\n"
            "model:\n"
            "  --nl N            layers (every layer with index %% 2 == 0 is MoE) [2]\n"
            "  --m N             model width [64]\n"
            "  --nh N            attention heads [4]\n"
            "  --sl N            sequence length [32]\n"
            "  --b N             sequences per rank [2]\n"
            "  --vocab N         vocabulary size [256]\n"
            "  --experts N       global experts, a multiple of the rank count [2 per rank]\n"
            "  --cf X            capacity factor [1.0]\n"
            "training:\n"
            "  --steps N         timed steps [10]\n"
            "  --warmup N        untimed steps before them [0]\n"
            "  --seed N          weights and data [1234]\n"
            "  --lr X            learning rate [0.05]\n"
            "  --momentum X      SGD momentum [0.9]\n"
            "  --graph | --eager capture one step into a CUDA graph and replay it, or launch\n"
            "                    every step [--eager]\n"
            "  --overlap MODE    none: all-to-all then experts, serial; tutel:D: pipeline the\n"
            "                    all-to-all with the expert FFN in D capacity chunks [none]\n"
            "  --allreduce MODE  end: gradient all-reduces after the backward; layer: each\n"
            "                    layer's bucket as soon as its backward is done [end]\n"
            "output:\n"
            "  --json FILE       write a summary (rank 0)\n"
            "  --gradcheck       compare gradients with finite differences and exit\n"
            "  --gc-eps X        finite-difference step [1e-2]\n"
            "  --gc-rtol X       relative tolerance [5e-2]\n"
            "  --verbose         print every gradient-check probe\n");
}

static int g_rank;

/* A bad command line is the same on every rank: each says nothing but rank 0, and all leave
 * through MPI_Finalize (an exit without it makes mpirun wait and then report an abort). */
static void __attribute__((format(printf, 1, 2), noreturn)) usage_error(const char *fmt, ...)
{
    va_list ap;
    if (g_rank == 0) {
        va_start(ap, fmt);
        fprintf(stderr, "moe-train: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
    }
    moe_dist_finalize();
    exit(2);
}

static long parse_int(const char *flag, const char *v, long lo, long hi)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < lo || x > hi)
        usage_error("%s: '%s' is not an integer in [%ld, %ld]", flag, v, lo, hi);
    return x;
}

static double parse_real(const char *flag, const char *v, double lo, double hi)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || *end || end == v || !(x >= lo && x <= hi))
        usage_error("%s: '%s' is not a number in [%g, %g]", flag, v, lo, hi);
    return x;
}

static void parse(int argc, char **argv, opts_t *o, int rank, int world)
{
    moe_cfg_t *c = &o->cfg;
    memset(o, 0, sizeof *o);
    *c = (moe_cfg_t){.nl = 2, .m = 64, .nh = 4, .sl = 32, .b = 2, .vocab = 256, .experts = 0,
                     .cf = 1.0f, .chunks = 1, .ar_layer = 0, .lr = 0.05f, .momentum = 0.9f,
                     .seed = 1234};
    o->steps = 10;
    o->gc_eps = 1e-2;
    o->gc_rtol = 5e-2;
    strcpy(o->overlap, "none");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define FLAG(name) (!strcmp(a, name) && (v || (usage_error("%s needs a value", name), 0)) && ++i)
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            if (rank == 0)
                usage(stdout);
            moe_dist_finalize();
            exit(0);
        } else if (FLAG("--nl"))
            c->nl = (int)parse_int(a, v, 1, 4096);
        else if (FLAG("--m"))
            c->m = (int)parse_int(a, v, 1, 1 << 16);
        else if (FLAG("--nh"))
            c->nh = (int)parse_int(a, v, 1, 1024);
        else if (FLAG("--sl"))
            c->sl = (int)parse_int(a, v, 1, 1 << 16);
        else if (FLAG("--b"))
            c->b = (int)parse_int(a, v, 1, 1 << 16);
        else if (FLAG("--vocab"))
            c->vocab = (int)parse_int(a, v, 2, 1 << 24);
        else if (FLAG("--experts"))
            c->experts = (int)parse_int(a, v, 1, 1 << 16);
        else if (FLAG("--cf"))
            c->cf = (float)parse_real(a, v, 1e-3, 1e6);
        else if (FLAG("--steps"))
            o->steps = (int)parse_int(a, v, 0, 1 << 24);
        else if (FLAG("--warmup"))
            o->warmup = (int)parse_int(a, v, 0, 1 << 24);
        else if (FLAG("--seed"))
            c->seed = (uint64_t)parse_int(a, v, 0, 0x7fffffffffffffffL);
        else if (FLAG("--lr"))
            c->lr = (float)parse_real(a, v, 0.0, 1e3);
        else if (FLAG("--momentum"))
            c->momentum = (float)parse_real(a, v, 0.0, 1.0);
        else if (!strcmp(a, "--graph"))
            o->graph = 1;
        else if (!strcmp(a, "--eager"))
            o->graph = 0;
        else if (FLAG("--overlap")) {
            if (!strcmp(v, "none"))
                c->chunks = 1;
            else if (!strncmp(v, "tutel:", 6))
                c->chunks = (int)parse_int(a, v + 6, 1, 8);
            else
                usage_error("--overlap: '%s' is neither none nor tutel:D", v);
            snprintf(o->overlap, sizeof o->overlap, "%s", v);
        } else if (FLAG("--allreduce")) {
            if (!strcmp(v, "end"))
                c->ar_layer = 0;
            else if (!strcmp(v, "layer"))
                c->ar_layer = 1;
            else
                usage_error("--allreduce: '%s' is neither end nor layer", v);
        } else if (FLAG("--json"))
            o->json = v;
        else if (!strcmp(a, "--gradcheck"))
            o->gradcheck = 1;
        else if (FLAG("--gc-eps"))
            o->gc_eps = parse_real(a, v, 1e-8, 1.0);
        else if (FLAG("--gc-rtol"))
            o->gc_rtol = parse_real(a, v, 0.0, 1.0);
        else if (!strcmp(a, "--verbose"))
            o->verbose = 1;
        else
            usage_error("unknown option '%s' (see --help)", a);
#undef FLAG
    }
    if (!c->experts)
        c->experts = 2 * world;
    if (c->experts % world)
        usage_error("--experts %d is not a multiple of the rank count %d", c->experts, world);
    if (c->m % c->nh)
        usage_error("--m %d is not a multiple of --nh %d", c->m, c->nh);
    /* Kernels and cuBLAS take element counts as int: every tensor must stay below 2^31
     * elements (counted in double, before any int product can overflow). */
    {
        const double b = c->b, sl = c->sl, C = c->m, V = c->vocab, E = c->experts, N = b * sl;
        const double S = E * fmax(1.0, ceil((double)c->cf * N / E));
        const double sizes[] = {N * V, N * 4 * C, b * c->nh * sl * sl, S * 4 * C, V * C,
                                E / world * 4 * C * C};
        double big = 0;
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            big = fmax(big, sizes[i]);
        if (big > INT_MAX)
            usage_error("configuration too large: a tensor of %.0f elements (kernels and cuBLAS "
                        "take int sizes, at most %d)", big, INT_MAX);
    }
    int cap = moe_capacity(c, world);
    if (cap % c->chunks)
        usage_error("capacity %d (cf %g, %d tokens, %d experts) is not a multiple of the overlap "
                    "degree %d", cap, (double)c->cf, c->b * c->sl, c->experts, c->chunks);
}

static void write_json(const opts_t *o, const moe_model_t *m, const float *loss,
                       const float *ms, int n)
{
    FILE *f = fopen(o->json, "w");
    if (!f)
        moe_die("cannot write %s: %s", o->json, strerror(errno));
    const moe_cfg_t *c = &o->cfg;
    double sum = 0.0;
    int timed = 0;
    for (int i = o->warmup; i < n; i++, timed++)
        sum += ms[i];
    fprintf(f, "{\n  \"program\": \"moe-train\",\n");
    fprintf(f, "  \"config\": {\"nl\": %d, \"m\": %d, \"nh\": %d, \"sl\": %d, \"b\": %d, "
               "\"vocab\": %d, \"experts\": %d, \"cf\": %.9g, \"seed\": %llu, \"lr\": %.9g, "
               "\"momentum\": %.9g, \"mode\": \"%s\", \"overlap\": \"%s\", "
               "\"allreduce\": \"%s\"},\n",
            c->nl, c->m, c->nh, c->sl, c->b, c->vocab, c->experts, (double)c->cf,
            (unsigned long long)c->seed, (double)c->lr, (double)c->momentum,
            o->graph ? "graph" : "eager", o->overlap, c->ar_layer ? "layer" : "end");
    fprintf(f, "  \"world\": %d, \"tokens_per_rank\": %d, \"experts_per_rank\": %d, "
               "\"capacity\": %d,\n", m->world, m->N, m->LE, m->cap);
    fprintf(f, "  \"warmup\": %d, \"steps\": %d,\n", o->warmup, timed);
    fprintf(f, "  \"mean_step_ms\": %.6f,\n", timed ? sum / timed : 0.0);
    fprintf(f, "  \"final_loss\": %.9g,\n", n ? (double)loss[n - 1] : 0.0);
    fprintf(f, "  \"loss\": [");
    for (int i = 0; i < n; i++)
        fprintf(f, "%s%.9g", i ? ", " : "", (double)loss[i]);
    fprintf(f, "],\n  \"step_ms\": [");
    for (int i = 0; i < n; i++)
        fprintf(f, "%s%.6f", i ? ", " : "", (double)ms[i]);
    fprintf(f, "]\n}\n");
    if (fclose(f))
        moe_die("cannot write %s: %s", o->json, strerror(errno));
}

int main(int argc, char **argv)
{
    int rank, world, local;
    opts_t o;
    CUdevice dev;
    CUcontext ctx;
    int ndev;

    moe_dist_init(&argc, &argv, &rank, &world, &local);
    g_rank = rank;
    parse(argc, argv, &o, rank, world);

    MOE_CU(cuInit(0));
    MOE_CU(cuDeviceGetCount(&ndev));
    if (ndev < 1)
        moe_die("no CUDA device");
    MOE_CU(cuDeviceGet(&dev, local % ndev));
    /* the primary context: the one the CUDA runtime inside cuBLAS and NCCL uses */
    MOE_CU(cuDevicePrimaryCtxRetain(&ctx, dev));
    MOE_CU(cuCtxSetCurrent(ctx));

    ncclUniqueId id;
    ncclComm_t comm;
    if (rank == 0)
        MOE_NCCL(ncclGetUniqueId(&id));
    moe_dist_bcast(&id, sizeof id, 0);
    MOE_NCCL(ncclCommInitRank(&comm, world, id, rank));

    moe_model_t *m = calloc(1, sizeof *m);
    if (!m)
        moe_die("out of memory");
    moe_model_init(m, &o.cfg, rank, world, comm, moe_kernels_fatbin);
    if (rank == 0)
        printf("moe-train: %d ranks, nl %d m %d nh %d sl %d b %d vocab %d, %d experts (%d per "
               "rank), capacity %d, %s, overlap %s, allreduce %s\n",
               world, o.cfg.nl, o.cfg.m, o.cfg.nh, o.cfg.sl, o.cfg.b, o.cfg.vocab, m->E, m->LE,
               m->cap, o.graph ? "graph" : "eager", o.overlap,
               o.cfg.ar_layer ? "layer" : "end");

    int rc = 0;
    if (o.gradcheck) {
        rc = moe_gradcheck(m, o.gc_eps, o.gc_rtol, o.verbose);
        goto done;
    }

    const int n = o.warmup + o.steps;
    float *loss = calloc((size_t)n + 1, sizeof *loss), *ms = calloc((size_t)n + 1, sizeof *ms);
    float *all = calloc((size_t)world, sizeof *all);
    if (!loss || !ms || !all)
        moe_die("out of memory");
    CUevent t0, t1;
    MOE_CU(cuEventCreate(&t0, CU_EVENT_DEFAULT));
    MOE_CU(cuEventCreate(&t1, CU_EVENT_DEFAULT));
    CUgraph graph = NULL;
    CUgraphExec exec = NULL;

    for (int s = 0; s < n; s++) {
        /* the batch goes into the same device buffers every step, before the step's work */
        moe_model_set_tokens(m, s);
        if (o.graph && !exec) {
            MOE_CU(cuStreamBeginCapture(m->s_main, CU_STREAM_CAPTURE_MODE_GLOBAL));
            moe_model_step(m);
            MOE_CU(cuStreamEndCapture(m->s_main, &graph));
            MOE_CU(cuGraphInstantiate(&exec, graph, 0));
        }
        MOE_CU(cuEventRecord(t0, m->s_main));
        if (o.graph)
            MOE_CU(cuGraphLaunch(exec, m->s_main));
        else
            moe_model_step(m);
        MOE_CU(cuEventRecord(t1, m->s_main));
        MOE_CU(cuEventSynchronize(t1));
        MOE_CU(cuEventElapsedTime(&ms[s], t0, t1));
        /* the global mean loss, summed in rank order so every rank prints the same value */
        float l = moe_model_loss(m), sum = 0.0f;
        moe_dist_allgather_f32(l, all);
        for (int r = 0; r < world; r++)
            sum += all[r];
        loss[s] = sum / (float)world;
        if (rank == 0) {
            printf("step %d loss %.9g time_ms %.3f%s\n", s, (double)loss[s], (double)ms[s],
                   s < o.warmup ? " warmup" : "");
            fflush(stdout);
        }
    }
    if (rank == 0) {
        double sum = 0.0;
        for (int s = o.warmup; s < n; s++)
            sum += ms[s];
        printf("mean step time %.3f ms over %d steps\n", o.steps ? sum / o.steps : 0.0, o.steps);
        if (o.json)
            write_json(&o, m, loss, ms, n);
    }
    if (exec)
        MOE_CU(cuGraphExecDestroy(exec));
    if (graph)
        MOE_CU(cuGraphDestroy(graph));
    MOE_CU(cuEventDestroy(t0));
    MOE_CU(cuEventDestroy(t1));
    free(loss);
    free(ms);
    free(all);
done:
    moe_model_destroy(m);
    free(m);
    MOE_NCCL(ncclCommDestroy(comm));
    MOE_CU(cuDevicePrimaryCtxRelease(dev));
    moe_dist_finalize();
    return rc;
}
