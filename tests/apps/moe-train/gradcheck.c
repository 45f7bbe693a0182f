/* moe-train --gradcheck: compares the backward pass with central finite differences of the
 * global mean loss (mean over ranks of each rank's mean token loss), for every parameter tensor
 * of every kind, along three perturbations:
 *   grad:  the unit direction of the analytic gradient (fd should equal |g|);
 *   rand:  a random unit direction of +-1/sqrt(n) entries (fd should equal g . u);
 *   max:   the single element with the largest |g| (fd should equal g_i).
 * The analytic gradient is the one the optimizer applies: the all-reduced sum (or, for experts,
 * the sum over all ranks' tokens) times 1 / world. Expert tensors are perturbed on every rank
 * at once along each rank's own part of the direction; the dot products are summed over ranks.
 * The loss is not differentiable where a token changes expert: a probe whose perturbation
 * changes any routing is retried with a 4x smaller step (three times), then reported as
 * skipped. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "gradcheck.h"

typedef struct {
    moe_model_t *m;
    int **routes;        /* per MoE layer, the unperturbed tok2slot */
    int *tmp;
} gc_t;

static float global_loss(moe_model_t *m)
{
    float all[4096];
    float l = moe_model_loss(m), s = 0.0f;
    if (m->world > 4096)
        moe_die("too many ranks for the gradient check");
    moe_dist_allgather_f32(l, all);
    for (int r = 0; r < m->world; r++)
        s += all[r];
    return s / (float)m->world;
}

/* 1 when some rank's routing differs from the unperturbed one */
static int routing_changed(gc_t *c)
{
    moe_model_t *m = c->m;
    double changed = 0.0;
    for (int l = 0; l < m->cfg.nl; l++) {
        if (!m->layers[l].moe)
            continue;
        moe_model_download(m, c->tmp, m->layers[l].t2s, (size_t)m->N * sizeof(int));
        if (memcmp(c->tmp, c->routes[l], (size_t)m->N * sizeof(int)))
            changed = 1.0;
    }
    moe_dist_sum_f64(&changed, 1);
    return changed > 0.0;
}

/* loss with w + h * dir on this rank's part (dir NULL: leave unchanged), w restored after */
static float probe(gc_t *c, const moe_param_t *p, const float *w, const float *dir, double h,
                   float *buf, int *skip)
{
    moe_model_t *m = c->m;
    if (dir) {
        for (size_t i = 0; i < p->n; i++)
            buf[i] = (float)((double)w[i] + h * dir[i]);
        moe_model_upload(m, p->w, buf, p->n * sizeof(float));
    }
    moe_model_forward(m, 0);
    float l = global_loss(m);
    if (routing_changed(c))
        *skip = 1;
    if (dir)
        moe_model_upload(m, p->w, w, p->n * sizeof(float));
    return l;
}

int moe_gradcheck(moe_model_t *m, double eps, double rtol, int verbose)
{
    gc_t c = {.m = m};
    const int W = m->world;
    int fails = 0, checks = 0, skips = 0;
    size_t maxn = 0;

    moe_model_set_tokens(m, 0);
    moe_model_forward(m, 1);
    moe_model_backward(m);
    float l0 = global_loss(m);

    c.routes = calloc((size_t)m->cfg.nl, sizeof *c.routes);
    c.tmp = malloc((size_t)m->N * sizeof(int));
    for (int l = 0; l < m->cfg.nl; l++) {
        if (!m->layers[l].moe)
            continue;
        c.routes[l] = malloc((size_t)m->N * sizeof(int));
        moe_model_download(m, c.routes[l], m->layers[l].t2s, (size_t)m->N * sizeof(int));
    }
    for (int i = 0; i < m->nparams; i++)
        if (m->params[i].n > maxn)
            maxn = m->params[i].n;
    float *w = malloc(maxn * sizeof *w), *g = malloc(maxn * sizeof *g);
    float *dir = malloc(maxn * sizeof *dir), *buf = malloc(maxn * sizeof *buf);
    if (!c.tmp || !c.routes || !w || !g || !dir || !buf)
        moe_die("out of memory");

    if (m->rank == 0)
        printf("gradcheck: loss %.9g, eps %g, rtol %g, %d ranks\n", l0, eps, rtol, W);

    for (int pi = 0; pi < m->nparams; pi++) {
        const moe_param_t *p = &m->params[pi];
        moe_model_download(m, w, p->w, p->n * sizeof(float));
        moe_model_download(m, g, p->g, p->n * sizeof(float));
        for (size_t i = 0; i < p->n; i++)
            g[i] /= (float)W;
        /* Non-expert gradients are identical on every rank; expert tensors are disjoint
         * parts of one tensor spread over the ranks, so their dot products sum over ranks. */
        double loc[2] = {0.0, 0.0};
        for (size_t i = 0; i < p->n; i++)
            loc[0] += (double)g[i] * g[i];
        if (p->expert)
            moe_dist_sum_f64(loc, 1);
        double gnorm = sqrt(loc[0]);
        size_t ntot = p->n * (p->expert ? (size_t)W : 1);

        for (int test = 0; test < 3; test++) {
            static const char *const tname[3] = {"grad", "rand", "max"};
            double an = 0.0;
            const float *dp = dir;
            if (test == 0) {
                if (gnorm == 0.0)
                    continue;
                for (size_t i = 0; i < p->n; i++)
                    dir[i] = (float)(g[i] / gnorm);
                an = gnorm;
            } else if (test == 1) {
                double s = 0.0;
                for (size_t i = 0; i < p->n; i++) {
                    uint64_t gi = (uint64_t)i + (p->expert ? (uint64_t)m->rank * p->n : 0);
                    uint64_t h = moe_hash64(m->cfg.seed ^ moe_hash64(((uint64_t)pi << 40) ^ gi));
                    dir[i] = (float)(((h & 1) ? 1.0 : -1.0) / sqrt((double)ntot));
                    s += (double)g[i] * dir[i];
                }
                if (p->expert)
                    moe_dist_sum_f64(&s, 1);
                an = s;
            } else {
                /* the element with the largest |g| over all ranks; ties to the lowest rank */
                size_t best = 0;
                for (size_t i = 1; i < p->n; i++)
                    if (fabsf(g[i]) > fabsf(g[best]))
                        best = i;
                int owner = 0;
                if (p->expert) {
                    double all[4096];
                    moe_dist_allgather_f64(fabs((double)g[best]), all);
                    for (int r = 1; r < W; r++)
                        if (all[r] > all[owner])
                            owner = r;
                } else {
                    moe_dist_bcast(&best, sizeof best, 0);
                }
                memset(dir, 0, p->n * sizeof *dir);
                double v = 0.0;
                if (!p->expert || owner == m->rank) {
                    dir[best] = 1.0f;
                    v = g[best];
                }
                if (p->expert)
                    moe_dist_sum_f64(&v, 1);
                if (v == 0.0)
                    continue;
                an = v;
            }
            /* shrink the step until no token changes expert, down to eps / 64 */
            int skip = 1;
            double h = eps, fd = 0.0;
            for (int tries = 0; tries < 4 && skip; tries++, h /= 4.0) {
                skip = 0;
                float lp = probe(&c, p, w, dp, h, buf, &skip);
                float lm = probe(&c, p, w, dp, -h, buf, &skip);
                fd = ((double)lp - (double)lm) / (2.0 * h);
                if (!skip)
                    break;
            }
            /* the fp32 loss moves in steps of ~|L| 2^-23, which fd sees as |L| 2^-23 / 2h;
             * allow 16 such steps */
            double atol = 16.0 * fabs((double)l0) * 0x1p-23 / (2.0 * h);
            double err = fabs(fd - an);
            int ok = err <= rtol * fabs(an) + atol;
            checks++;
            if (skip)
                skips++;
            else if (!ok)
                fails++;
            if (m->rank == 0 && (verbose || (!ok && !skip)))
                printf("gradcheck %-14s layer %2d %-4s h %.1e analytic % .6e fd % .6e err %.2e "
                       "%s\n", moe_kind_names[p->kind], p->layer, tname[test], h, an, fd, err,
                       skip ? "SKIP (routing changed)" : ok ? "ok" : "FAIL");
        }
    }
    /* the unperturbed loss again: the probes left the weights as they were */
    int skip = 0;
    float lend = probe(&c, &m->params[0], w, NULL, 0.0, buf, &skip);
    if (lend != l0) {
        if (m->rank == 0)
            printf("gradcheck: loss after probes %.9g != %.9g\n", lend, l0);
        fails++;
    }
    if (m->rank == 0)
        printf("gradcheck: %d checks, %d failed, %d skipped\n", checks, fails, skips);
    for (int l = 0; l < m->cfg.nl; l++)
        free(c.routes[l]);
    free(c.routes);
    free(c.tmp);
    free(w);
    free(g);
    free(dir);
    free(buf);
    /* too many skips would make the check meaningless */
    return fails || skips * 4 > checks ? 1 : 0;
}
