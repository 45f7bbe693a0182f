/* moe-train: model setup and the launch sequence of one training step.
 *
 * Conventions: all tensors are row-major fp32. A Linear(in, out) has W[out][in] and computes
 * y = x W^T + b. cuBLAS is column-major, so a row-major product C = op(A) op(B) is issued as the
 * column-major C^T = op(B)^T op(A)^T (see gemm()). Biases are added by our own kernels, and in
 * backward the input gradient (dX) and the weight gradient (dW) of every linear are separate
 * GEMMs, as frameworks launch them.
 *
 * Streams: s_main runs all computation; s_comm runs every NCCL operation (all-to-all and
 * gradient all-reduce) in one fixed order, forked from and joined back into s_main through
 * events, as PyTorch's process groups do. Under --graph the same calls are captured. */
#include "model.h"
#include "kernels_common.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const moe_kind_names[MOE_NKINDS] = {
#define MOE_KIND_NAME(id, name) name,
    MOE_KINDS(MOE_KIND_NAME)
#undef MOE_KIND_NAME
};

enum {
#define MOE_KERNEL(name, sig) MOE_K_##name,
#include "kernels.def"
#undef MOE_KERNEL
    MOE_NK
};

static const struct {
    const char *name, *sig;
} kinfo[MOE_NK] = {
#define MOE_KERNEL(name, sig) {#name, sig},
#include "kernels.def"
#undef MOE_KERNEL
};

void moe_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "moe-train: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    fflush(stderr);
    exit(1);
}

void moe_cu_check(CUresult r, const char *what, const char *file, int line)
{
    const char *name = NULL, *str = NULL;
    if (r == CUDA_SUCCESS)
        return;
    cuGetErrorName(r, &name);
    cuGetErrorString(r, &str);
    moe_die("%s:%d: %s failed: %s (%s)", file, line, what, name ? name : "?", str ? str : "?");
}

void moe_blas_check(cublasStatus_t r, const char *what, const char *file, int line)
{
    if (r != CUBLAS_STATUS_SUCCESS)
        moe_die("%s:%d: %s failed: cublas status %d", file, line, what, (int)r);
}

void moe_nccl_check(ncclResult_t r, const char *what, const char *file, int line)
{
    if (r != ncclSuccess)
        moe_die("%s:%d: %s failed: %s", file, line, what, ncclGetErrorString(r));
}

uint64_t moe_hash64(uint64_t x) { return moe_k_hash(x); }

/* Sequences follow a fixed bigram rule tok' = (5 tok + 3) mod V, with one token in eight
 * replaced by a random one, so that there is something to learn and the loss can fall. */
void moe_data_sequence(uint64_t seed, int step, int g, int T, int V, int *seq)
{
    uint64_t h = moe_hash64(seed ^ moe_hash64(((uint64_t)(uint32_t)step << 32) | (uint32_t)g));
    seq[0] = (int)(h % (uint64_t)V);
    for (int t = 1; t <= T; t++) {
        h = moe_hash64(h);
        if ((h & 7) == 0)
            seq[t] = (int)((h >> 8) % (uint64_t)V);
        else
            seq[t] = (int)((5ull * (uint64_t)seq[t - 1] + 3) % (uint64_t)V);
    }
}

/* ---- launches ------------------------------------------------------------------------ */

typedef struct {
    char tag;
    union {
        CUdeviceptr p;
        int i;
        long long l;
        float f;
    } v;
} karg_t;

#define AP(x) ((karg_t){'p', {.p = (CUdeviceptr)(x)}})
#define AI(x) ((karg_t){'i', {.i = (int)(x)}})
#define AL(x) ((karg_t){'l', {.l = (long long)(x)}})
#define AF(x) ((karg_t){'f', {.f = (float)(x)}})

/* Checks the arguments against the kernel's signature in kernels.def, so a call site that
 * passes the wrong number or kind of parameters fails at its first launch. */
static void launch(moe_model_t *m, CUstream s, int k, unsigned grid, unsigned block, karg_t *a,
                   size_t na)
{
    void *params[32];
    const char *sig = kinfo[k].sig;
    if (na != strlen(sig) || na > 32)
        moe_die("%s: %zu arguments given, signature \"%s\"", kinfo[k].name, na, sig);
    for (size_t i = 0; i < na; i++) {
        if (a[i].tag != sig[i])
            moe_die("%s: argument %zu is '%c', signature \"%s\"", kinfo[k].name, i, a[i].tag,
                    sig);
        params[i] = &a[i].v;
    }
    if (grid == 0)
        grid = 1;
    MOE_CU(cuLaunchKernel(m->fn[k], grid, 1, 1, block, 1, 1, 0, s, params, NULL));
}

#define LAUNCH(m, s, k, grid, block, ...)                                                    \
    do {                                                                                     \
        karg_t a_[] = {__VA_ARGS__};                                                         \
        launch((m), (s), MOE_K_##k, (grid), (block), a_, sizeof a_ / sizeof a_[0]);          \
    } while (0)

#define TPB 256u
/* Element-wise kernels use grid-stride loops; cap the grid so huge tensors stay cheap to launch. */
static unsigned ew_grid(size_t n)
{
    size_t g = (n + TPB - 1) / TPB;
    return (unsigned)(g > 65535 ? 65535 : (g ? g : 1));
}
static unsigned th_grid(size_t n) { return (unsigned)((n + TPB - 1) / TPB); }

static CUdeviceptr off(CUdeviceptr p, size_t elems) { return p + elems * sizeof(float); }

/* Row-major C[M x N] = alpha op(A)[M x K] op(B)[K x N] + beta C, batched with element strides
 * (batch 1: cublasGemmEx). lda/ldb/ldc are row-major leading dimensions of the stored arrays. */
static void gemm(moe_model_t *m, int ta, int tb, int M, int N, int K, CUdeviceptr A, int lda,
                 long long sA, CUdeviceptr B, int ldb, long long sB, CUdeviceptr Cm, int ldc,
                 long long sC, int batch, float beta)
{
    const float alpha = 1.0f;
    cublasOperation_t oa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, ob = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (batch == 1)
        MOE_BLAS(cublasGemmEx(m->blas, ob, oa, N, M, K, &alpha, (const void *)B, CUDA_R_32F, ldb,
                              (const void *)A, CUDA_R_32F, lda, &beta, (void *)Cm, CUDA_R_32F,
                              ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    else
        MOE_BLAS(cublasGemmStridedBatchedEx(
            m->blas, ob, oa, N, M, K, &alpha, (const void *)B, CUDA_R_32F, ldb, sB,
            (const void *)A, CUDA_R_32F, lda, sA, &beta, (void *)Cm, CUDA_R_32F, ldc, sC, batch,
            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

/* y[rows x out] = x[rows x in] W^T */
static void linear_fwd(moe_model_t *m, CUdeviceptr y, CUdeviceptr x, CUdeviceptr W, int rows,
                       int in, int out)
{
    gemm(m, 0, 1, rows, out, in, x, in, 0, W, in, 0, y, out, 0, 1, 0.0f);
}

/* dx[rows x in] = dy[rows x out] W (+ beta dx) */
static void linear_bwd_dx(moe_model_t *m, CUdeviceptr dx, CUdeviceptr dy, CUdeviceptr W,
                          int rows, int in, int out, float beta)
{
    gemm(m, 0, 0, rows, in, out, dy, out, 0, W, in, 0, dx, in, 0, 1, beta);
}

/* dW[out x in] = dy^T x */
static void linear_bwd_dw(moe_model_t *m, CUdeviceptr dW, CUdeviceptr dy, CUdeviceptr x,
                          int rows, int in, int out)
{
    gemm(m, 1, 0, out, in, rows, dy, out, 0, x, in, 0, dW, in, 0, 1, 0.0f);
}

/* ---- events: fork/join between streams ------------------------------------------------ */

static CUevent ev_next(moe_model_t *m)
{
    if (m->evnext == m->nev) {
        if (m->nev == m->evcap) {
            m->evcap = m->evcap ? 2 * m->evcap : 64;
            m->ev = realloc(m->ev, (size_t)m->evcap * sizeof *m->ev);
            if (!m->ev)
                moe_die("out of memory");
        }
        MOE_CU(cuEventCreate(&m->ev[m->nev], CU_EVENT_DISABLE_TIMING));
        m->nev++;
    }
    return m->ev[m->evnext++];
}

/* Makes `to` wait for everything issued so far on `from`. */
static void stream_dep(moe_model_t *m, CUstream from, CUstream to)
{
    CUevent e = ev_next(m);
    MOE_CU(cuEventRecord(e, from));
    MOE_CU(cuStreamWaitEvent(to, e, 0));
}

/* All-to-all as grouped point-to-point, as torch.distributed.all_to_all_single issues it:
 * peer p gets send[p * count ..], and recv[p * count ..] comes from peer p. */
static void all_to_all(moe_model_t *m, CUdeviceptr send, CUdeviceptr recv, size_t count)
{
    MOE_NCCL(ncclGroupStart());
    for (int p = 0; p < m->world; p++) {
        MOE_NCCL(ncclSend((const void *)off(send, (size_t)p * count), count, ncclFloat, p,
                          m->comm, m->s_comm));
        MOE_NCCL(ncclRecv((void *)off(recv, (size_t)p * count), count, ncclFloat, p, m->comm,
                          m->s_comm));
    }
    MOE_NCCL(ncclGroupEnd());
}

/* ---- allocation and parameters -------------------------------------------------------- */

static CUdeviceptr dalloc(moe_model_t *m, size_t bytes)
{
    CUdeviceptr p;
    if (bytes == 0)
        bytes = 4;
    MOE_CU(cuMemAlloc(&p, bytes));
    if (m->nallocs == m->alloccap) {
        m->alloccap = m->alloccap ? 2 * m->alloccap : 256;
        m->allocs = realloc(m->allocs, (size_t)m->alloccap * sizeof *m->allocs);
        if (!m->allocs)
            moe_die("out of memory");
    }
    m->allocs[m->nallocs++] = p;
    return p;
}

static CUdeviceptr falloc(moe_model_t *m, size_t elems) { return dalloc(m, elems * 4); }

typedef struct {
    moe_param_t *p;
    size_t n;
} pdecl_t;

/* Lays out the tensors of one bucket back to back and allocates weights, grads and momentum. */
static int bucket_make(moe_model_t *m, pdecl_t *d, int nd, int expert)
{
    moe_bucket_t *b = &m->buckets[m->nbuckets];
    size_t total = 0;
    for (int i = 0; i < nd; i++)
        total += d[i].n;
    b->n = total;
    b->expert = expert;
    b->w = falloc(m, total);
    b->g = falloc(m, total);
    b->v = falloc(m, total);
    size_t o = 0;
    for (int i = 0; i < nd; i++) {
        d[i].p->w = off(b->w, o);
        d[i].p->g = off(b->g, o);
        d[i].p->n = d[i].n;
        d[i].p->expert = expert;
        o += d[i].n;
        m->params[m->nparams++] = *d[i].p;
    }
    return m->nbuckets++;
}

static void init_tensor(moe_model_t *m, CUdeviceptr p, size_t n, uint64_t id, float std,
                        float cst)
{
    uint64_t seed = moe_hash64(m->cfg.seed ^ moe_hash64(id));
    LAUNCH(m, m->s_main, moe_init_param, ew_grid(n), TPB, AP(p), AL(n), AL(seed), AF(std),
           AF(cst));
}

/* Initialisation depends on the tensor's identity only (kind, layer, global expert index), so
 * every rank count and expert placement starts from the same model. */
static void init_param(moe_model_t *m, const moe_param_t *p)
{
    const float std = 0.02f, rstd = 0.02f / sqrtf(2.0f * (float)m->cfg.nl);
    float s = 0.0f, c = 0.0f;
    switch (p->kind) {
    case MOE_P_WTE: case MOE_P_QKV_W: case MOE_P_FC_W: case MOE_P_GATE_W: case MOE_P_EFC_W:
        s = std;
        break;
    case MOE_P_WPE:
        s = 0.01f;
        break;
    case MOE_P_AP_W: case MOE_P_PJ_W: case MOE_P_EPJ_W:
        s = rstd;
        break;
    case MOE_P_LNF_W: case MOE_P_LN1_W: case MOE_P_LN2_W:
        c = 1.0f;
        break;
    default:
        break;
    }
    uint64_t id = ((uint64_t)p->kind << 48) | ((uint64_t)(uint32_t)(p->layer + 1) << 24);
    if (!p->expert) {
        init_tensor(m, p->w, p->n, id | 0xffffffull, s, c);
        return;
    }
    size_t per = p->n / (size_t)m->LE;
    for (int le = 0; le < m->LE; le++) {
        uint64_t g = (uint64_t)(m->rank * m->LE + le);
        init_tensor(m, off(p->w, (size_t)le * per), per, id | g, s, c);
    }
}

static void layer_alloc(moe_model_t *m, int l)
{
    moe_layer_t *y = &m->layers[l];
    const size_t N = (size_t)m->N, C = (size_t)m->C, S = (size_t)m->S, E = (size_t)m->E;
    const size_t B = (size_t)m->cfg.b, T = (size_t)m->cfg.sl, NH = (size_t)m->cfg.nh;
    const size_t LE = (size_t)m->LE;
    y->moe = (l % 2) == 0;

#define PD(field, kind_, n_) \
    (y->field.kind = MOE_P_##kind_, y->field.layer = l, (pdecl_t){&y->field, (n_)})
    pdecl_t d[16];
    int nd = 0;
    d[nd++] = PD(ln1w, LN1_W, C);
    d[nd++] = PD(ln1b, LN1_B, C);
    d[nd++] = PD(qkvw, QKV_W, 3 * C * C);
    d[nd++] = PD(qkvb, QKV_B, 3 * C);
    d[nd++] = PD(apw, AP_W, C * C);
    d[nd++] = PD(apb, AP_B, C);
    d[nd++] = PD(ln2w, LN2_W, C);
    d[nd++] = PD(ln2b, LN2_B, C);
    if (y->moe) {
        d[nd++] = PD(gw, GATE_W, E * C);
    } else {
        d[nd++] = PD(fcw, FC_W, 4 * C * C);
        d[nd++] = PD(fcb, FC_B, 4 * C);
        d[nd++] = PD(pjw, PJ_W, 4 * C * C);
        d[nd++] = PD(pjb, PJ_B, C);
    }
    y->bucket = bucket_make(m, d, nd, 0);
    y->ebucket = -1;
    if (y->moe) {
        nd = 0;
        d[nd++] = PD(efcw, EFC_W, LE * 4 * C * C);
        d[nd++] = PD(efcb, EFC_B, LE * 4 * C);
        d[nd++] = PD(epjw, EPJ_W, LE * 4 * C * C);
        d[nd++] = PD(epjb, EPJ_B, LE * C);
        y->ebucket = bucket_make(m, d, nd, 1);
    }
#undef PD

    /* Kept per layer: what the backward reads (forward activations, and every gradient a
     * weight-gradient kernel reads, so that dW work is never held back by buffer reuse).
     * Shared by all layers (m->sc): temporaries consumed within the layer's own forward or
     * backward chain, as a caching allocator would recycle them. */
    const moe_scratch_t *sc = &m->sc;
    y->mid = falloc(m, N * C);
    y->out = falloc(m, N * C);
    y->ln1 = falloc(m, N * C);
    y->ln1m = falloc(m, N);
    y->ln1r = falloc(m, N);
    y->qkv = sc->qkv;
    y->q = falloc(m, N * C);
    y->k = falloc(m, N * C);
    y->v = falloc(m, N * C);
    y->att = falloc(m, B * NH * T * T);
    y->pre = y->att;          /* softmax in place */
    y->yh = sc->yh;
    y->aty = falloc(m, N * C);
    y->apo = sc->nc;
    y->ln2 = falloc(m, N * C);
    y->ln2m = falloc(m, N);
    y->ln2r = falloc(m, N);
    y->dmid = falloc(m, N * C);
    y->din = falloc(m, N * C);
    y->dln2 = falloc(m, N * C);
    y->daty = sc->daty;
    y->dyh = sc->dyh;
    y->datt = sc->datt;
    y->dpre = sc->datt;       /* softmax backward in place */
    y->dq = sc->dq;
    y->dk = sc->dk;
    y->dv = sc->dv;
    y->dqkv = falloc(m, N * 3 * C);
    y->dln1 = falloc(m, N * C);
    if (!y->moe) {
        y->fch = falloc(m, N * 4 * C);
        y->fcg = falloc(m, N * 4 * C);
        y->pjo = sc->nc;
        y->dfcg = sc->dnf;
        y->dfch = falloc(m, N * 4 * C);
        return;
    }
    y->glog = falloc(m, N * E);
    y->gprob = falloc(m, N * E);
    y->top1 = falloc(m, N);
    y->top1p = falloc(m, N);
    y->t2s = falloc(m, N);
    y->s2t = falloc(m, S);
    y->disp = sc->disp;
    y->recv = sc->recv;
    y->xe = falloc(m, S * C);
    y->h = falloc(m, S * 4 * C);
    y->ye = sc->ye;
    y->send = sc->send;
    y->ret = falloc(m, S * C);
    y->dret = sc->dret;
    y->drecv = sc->drecv;
    y->dye = falloc(m, S * C);
    y->dhh = sc->dhh;
    y->dh = falloc(m, S * 4 * C);
    y->dxe = sc->dxe;
    y->dsend = sc->dsend;
    y->ddisp = sc->ddisp;
    y->dprob = sc->dprob;
    y->dglog = falloc(m, N * E);
}

static void scratch_alloc(moe_model_t *m)
{
    moe_scratch_t *sc = &m->sc;
    const size_t N = (size_t)m->N, C = (size_t)m->C, S = (size_t)m->S;
    const size_t att = (size_t)m->cfg.b * m->cfg.nh * m->cfg.sl * m->cfg.sl;
    sc->qkv = falloc(m, N * 3 * C);
    sc->yh = falloc(m, N * C);
    sc->nc = falloc(m, N * C);
    sc->daty = falloc(m, N * C);
    sc->dyh = falloc(m, N * C);
    sc->datt = falloc(m, att);
    sc->dq = falloc(m, N * C);
    sc->dk = falloc(m, N * C);
    sc->dv = falloc(m, N * C);
    sc->dnf = falloc(m, N * 4 * C);
    sc->disp = falloc(m, S * C);
    sc->recv = falloc(m, S * C);
    sc->ye = falloc(m, S * C);
    sc->send = falloc(m, S * C);
    sc->dret = falloc(m, S * C);
    sc->drecv = falloc(m, S * C);
    sc->dhh = falloc(m, S * 4 * C);
    sc->dxe = falloc(m, S * C);
    sc->dsend = falloc(m, S * C);
    sc->ddisp = falloc(m, S * C);
    sc->dprob = falloc(m, N);
}

int moe_capacity(const moe_cfg_t *cfg, int world)
{
    /* per (source rank, expert): cf * tokens per rank / experts, rounded up */
    int experts = cfg->experts ? cfg->experts : 2 * world;
    int cap = (int)ceil((double)cfg->cf * cfg->b * cfg->sl / experts);
    return cap < 1 ? 1 : cap;
}

void moe_model_init(moe_model_t *m, const moe_cfg_t *cfg, int rank, int world, ncclComm_t comm,
                    const void *image)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->rank = rank;
    m->world = world;
    m->comm = comm;
    m->C = cfg->m;
    m->N = cfg->b * cfg->sl;
    m->E = cfg->experts;
    if (m->E % world)
        moe_die("--experts %d is not a multiple of the rank count %d", m->E, world);
    m->LE = m->E / world;
    if (cfg->m % cfg->nh)
        moe_die("--m %d is not a multiple of --nh %d", cfg->m, cfg->nh);
    m->hs = cfg->m / cfg->nh;
    m->cap = moe_capacity(cfg, world);
    if (cfg->chunks >= 1 && m->cap % cfg->chunks)
        moe_die("capacity %d (cf %g, %d tokens, %d experts) is not a multiple of the overlap "
                "degree %d", m->cap, cfg->cf, m->N, m->E, cfg->chunks);
    if (cfg->chunks < 1 || cfg->chunks > 8)
        moe_die("overlap degree %d outside 1..8", cfg->chunks);
    m->capc = m->cap / cfg->chunks;
    m->S = m->E * m->cap;

    MOE_CU(cuStreamCreate(&m->s_main, CU_STREAM_NON_BLOCKING));
    MOE_CU(cuStreamCreate(&m->s_comm, CU_STREAM_NON_BLOCKING));
    MOE_CU(cuModuleLoadData(&m->mod, image));
    m->fn = calloc(MOE_NK, sizeof *m->fn);
    if (!m->fn)
        moe_die("out of memory");
    for (int k = 0; k < MOE_NK; k++)
        MOE_CU(cuModuleGetFunction(&m->fn[k], m->mod, kinfo[k].name));

    MOE_BLAS(cublasCreate(&m->blas));
    MOE_BLAS(cublasSetStream(m->blas, (cudaStream_t)m->s_main));
    /* A fixed workspace keeps cuBLAS from allocating while a graph is being captured. */
    const size_t ws = 32u << 20;
    m->blas_ws = dalloc(m, ws);
    MOE_BLAS(cublasSetWorkspace(m->blas, (void *)m->blas_ws, ws));
    MOE_BLAS(cublasSetMathMode(m->blas, CUBLAS_PEDANTIC_MATH));

    const size_t N = (size_t)m->N, C = (size_t)m->C, V = (size_t)cfg->vocab;
    m->nbuckets = 0;
    m->buckets = calloc((size_t)cfg->nl * 2 + 1, sizeof *m->buckets);
    m->params = calloc((size_t)cfg->nl * 16 + 4, sizeof *m->params);
    m->layers = calloc((size_t)cfg->nl, sizeof *m->layers);
    if (!m->buckets || !m->params || !m->layers)
        moe_die("out of memory");

    pdecl_t hd[4];
    m->wte.kind = MOE_P_WTE;
    m->wpe.kind = MOE_P_WPE;
    m->lnfw.kind = MOE_P_LNF_W;
    m->lnfb.kind = MOE_P_LNF_B;
    m->wte.layer = m->wpe.layer = m->lnfw.layer = m->lnfb.layer = -1;
    hd[0] = (pdecl_t){&m->wte, V * C};
    hd[1] = (pdecl_t){&m->wpe, (size_t)cfg->sl * C};
    hd[2] = (pdecl_t){&m->lnfw, C};
    hd[3] = (pdecl_t){&m->lnfb, C};
    m->head_bucket = bucket_make(m, hd, 4, 0);
    scratch_alloc(m);
    for (int l = 0; l < cfg->nl; l++)
        layer_alloc(m, l);

    m->tok = dalloc(m, N * sizeof(int));
    m->tgt = dalloc(m, N * sizeof(int));
    m->x0 = falloc(m, N * C);
    m->lnf = falloc(m, N * C);
    m->lnfm = falloc(m, N);
    m->lnfr = falloc(m, N);
    m->logits = falloc(m, N * V);
    m->losses = falloc(m, N);
    m->loss = falloc(m, 1);
    m->dlnf = falloc(m, N * C);
    m->dresl = falloc(m, N * C);
    m->dx0 = falloc(m, N * C);
    m->h_tok = malloc(N * sizeof(int));
    m->h_tgt = malloc(N * sizeof(int));
    if (!m->h_tok || !m->h_tgt)
        moe_die("out of memory");

    for (int i = 0; i < m->nparams; i++)
        init_param(m, &m->params[i]);
    /* momentum starts at zero */
    for (int b = 0; b < m->nbuckets; b++)
        MOE_CU(cuMemsetD32Async(m->buckets[b].v, 0, m->buckets[b].n, m->s_main));
    MOE_CU(cuStreamSynchronize(m->s_main));
}

void moe_model_destroy(moe_model_t *m)
{
    MOE_CU(cuStreamSynchronize(m->s_main));
    MOE_CU(cuStreamSynchronize(m->s_comm));
    for (int i = 0; i < m->nev; i++)
        MOE_CU(cuEventDestroy(m->ev[i]));
    MOE_BLAS(cublasDestroy(m->blas));
    for (int i = 0; i < m->nallocs; i++)
        MOE_CU(cuMemFree(m->allocs[i]));
    MOE_CU(cuModuleUnload(m->mod));
    MOE_CU(cuStreamDestroy(m->s_main));
    MOE_CU(cuStreamDestroy(m->s_comm));
    free(m->ev);
    free(m->allocs);
    free(m->fn);
    free(m->buckets);
    free(m->params);
    free(m->layers);
    free(m->h_tok);
    free(m->h_tgt);
    memset(m, 0, sizeof *m);
}

void moe_model_set_tokens(moe_model_t *m, int step)
{
    const int T = m->cfg.sl;
    int *seq = malloc(((size_t)T + 1) * sizeof *seq);
    if (!seq)
        moe_die("out of memory");
    for (int i = 0; i < m->cfg.b; i++) {
        /* this rank holds sequences [rank * b, (rank + 1) * b) of the global batch */
        moe_data_sequence(m->cfg.seed, step, m->rank * m->cfg.b + i, T, m->cfg.vocab, seq);
        memcpy(m->h_tok + (size_t)i * T, seq, (size_t)T * sizeof *seq);
        memcpy(m->h_tgt + (size_t)i * T, seq + 1, (size_t)T * sizeof *seq);
    }
    free(seq);
    const size_t bytes = (size_t)m->N * sizeof(int);
    MOE_CU(cuMemcpyHtoDAsync(m->tok, m->h_tok, bytes, m->s_main));
    MOE_CU(cuMemcpyHtoDAsync(m->tgt, m->h_tgt, bytes, m->s_main));
}

/* ---- forward --------------------------------------------------------------------------- */

static void attention_fwd(moe_model_t *m, moe_layer_t *y)
{
    const int B = m->cfg.b, T = m->cfg.sl, NH = m->cfg.nh, hs = m->hs, BH = B * NH;
    const long long th = (long long)T * hs, tt = (long long)T * T;
    LAUNCH(m, m->s_main, moe_attn_split_qkv, ew_grid((size_t)m->N * m->C), TPB, AP(y->q),
           AP(y->k), AP(y->v), AP(y->qkv), AI(B), AI(T), AI(NH), AI(hs));
    /* pre[bh] = q[bh] k[bh]^T */
    gemm(m, 0, 1, T, T, hs, y->q, hs, th, y->k, hs, th, y->pre, T, tt, BH, 0.0f);
    LAUNCH(m, m->s_main, moe_attn_softmax_fwd, (unsigned)(BH * T), TPB, AP(y->att), AP(y->pre),
           AI(BH), AI(T), AF(1.0f / sqrtf((float)hs)));
    /* yh[bh] = att[bh] v[bh] */
    gemm(m, 0, 0, T, hs, T, y->att, T, tt, y->v, hs, th, y->yh, hs, th, BH, 0.0f);
    LAUNCH(m, m->s_main, moe_attn_merge_heads, ew_grid((size_t)m->N * m->C), TPB, AP(y->aty),
           AP(y->yh), AI(B), AI(T), AI(NH), AI(hs));
}

/* Expert FFN on chunk d of the expert layout [le][slot][src]: rows
 * [le][d * capc * W, (d + 1) * capc * W), batched over the local experts. */
static void experts_fwd_chunk(moe_model_t *m, moe_layer_t *y, int d)
{
    const int C = m->C, F = 4 * C, W = m->world, LE = m->LE;
    const int rows = m->capc * W;
    const size_t r0 = (size_t)d * m->capc * W;
    const long long R = (long long)m->cap * W;
    gemm(m, 0, 1, rows, F, C, off(y->xe, r0 * C), C, R * C, y->efcw.w, C, (long long)F * C,
         off(y->h, r0 * F), F, R * F, LE, 0.0f);
    LAUNCH(m, m->s_main, moe_bias_act, ew_grid((size_t)LE * rows * F), TPB, AP(off(y->h, r0 * F)),
           AP(y->efcb.w), AI(LE), AI(rows), AI(F), AI(R * F), AI(1));
    gemm(m, 0, 1, rows, C, F, off(y->h, r0 * F), F, R * F, y->epjw.w, F, (long long)C * F,
         off(y->ye, r0 * C), C, R * C, LE, 0.0f);
    LAUNCH(m, m->s_main, moe_bias_act, ew_grid((size_t)LE * rows * C), TPB,
           AP(off(y->ye, r0 * C)), AP(y->epjb.w), AI(LE), AI(rows), AI(C), AI(R * C), AI(0));
}

/* Switch MoE with capacity chunks: dispatch all-to-alls of the D chunks go out back to back on
 * s_comm; the experts of chunk d start when its a2a has arrived and overlap the a2a of chunk
 * d + 1; the combine a2a of chunk d follows the experts of chunk d (Tutel's pipelining).
 * D = 1 is the plain serial layer. */
static void moe_fwd(moe_model_t *m, moe_layer_t *y)
{
    const int N = m->N, C = m->C, E = m->E, D = m->cfg.chunks, W = m->world, LE = m->LE;
    const size_t chunk = (size_t)E * m->capc * C, peer = (size_t)LE * m->capc * C;
    CUevent a[8], b[8];

    linear_fwd(m, y->glog, y->ln2, y->gw.w, N, C, E);
    LAUNCH(m, m->s_main, moe_gate_softmax, th_grid((size_t)N), TPB, AP(y->gprob), AP(y->top1),
           AP(y->top1p), AP(y->glog), AI(N), AI(E));
    LAUNCH(m, m->s_main, moe_gate_assign, th_grid((size_t)E), TPB, AP(y->t2s), AP(y->s2t),
           AP(y->top1), AI(N), AI(E), AI(m->cap));
    LAUNCH(m, m->s_main, moe_dispatch, ew_grid((size_t)m->S * C), TPB, AP(y->disp), AP(y->ln2),
           AP(y->s2t), AI(N), AI(E), AI(m->cap), AI(D), AI(C));

    stream_dep(m, m->s_main, m->s_comm);
    for (int d = 0; d < D; d++) {
        all_to_all(m, off(y->disp, d * chunk), off(y->recv, d * chunk), peer);
        a[d] = ev_next(m);
        MOE_CU(cuEventRecord(a[d], m->s_comm));
    }
    for (int d = 0; d < D; d++) {
        MOE_CU(cuStreamWaitEvent(m->s_main, a[d], 0));
        LAUNCH(m, m->s_main, moe_recv_to_expert, ew_grid(chunk), TPB, AP(y->xe), AP(y->recv),
               AI(d), AI(D), AI(W), AI(LE), AI(m->cap), AI(C));
        experts_fwd_chunk(m, y, d);
        LAUNCH(m, m->s_main, moe_expert_to_send, ew_grid(chunk), TPB, AP(y->send), AP(y->ye),
               AI(d), AI(D), AI(W), AI(LE), AI(m->cap), AI(C));
        stream_dep(m, m->s_main, m->s_comm);
        all_to_all(m, off(y->send, d * chunk), off(y->ret, d * chunk), peer);
        b[d] = ev_next(m);
        MOE_CU(cuEventRecord(b[d], m->s_comm));
    }
    for (int d = 0; d < D; d++)
        MOE_CU(cuStreamWaitEvent(m->s_main, b[d], 0));
    LAUNCH(m, m->s_main, moe_combine, ew_grid((size_t)N * C), TPB, AP(y->out), AP(y->mid),
           AP(y->ret), AP(y->t2s), AP(y->top1p), AI(N), AI(E), AI(m->cap), AI(D), AI(C));
}

static void layer_fwd(moe_model_t *m, int l, CUdeviceptr xin)
{
    moe_layer_t *y = &m->layers[l];
    const int N = m->N, C = m->C;
    LAUNCH(m, m->s_main, moe_layernorm_fwd, (unsigned)N, TPB, AP(y->ln1), AP(y->ln1m),
           AP(y->ln1r), AP(xin), AP(y->ln1w.w), AP(y->ln1b.w), AI(N), AI(C));
    linear_fwd(m, y->qkv, y->ln1, y->qkvw.w, N, C, 3 * C);
    LAUNCH(m, m->s_main, moe_bias_act, ew_grid((size_t)N * 3 * C), TPB, AP(y->qkv),
           AP(y->qkvb.w), AI(1), AI(N), AI(3 * C), AI(0), AI(0));
    attention_fwd(m, y);
    linear_fwd(m, y->apo, y->aty, y->apw.w, N, C, C);
    LAUNCH(m, m->s_main, moe_residual_bias, ew_grid((size_t)N * C), TPB, AP(y->mid), AP(xin),
           AP(y->apo), AP(y->apb.w), AI(N), AI(C));
    LAUNCH(m, m->s_main, moe_layernorm_fwd, (unsigned)N, TPB, AP(y->ln2), AP(y->ln2m),
           AP(y->ln2r), AP(y->mid), AP(y->ln2w.w), AP(y->ln2b.w), AI(N), AI(C));
    if (y->moe) {
        moe_fwd(m, y);
        return;
    }
    linear_fwd(m, y->fch, y->ln2, y->fcw.w, N, C, 4 * C);
    LAUNCH(m, m->s_main, moe_bias_act, ew_grid((size_t)N * 4 * C), TPB, AP(y->fch),
           AP(y->fcb.w), AI(1), AI(N), AI(4 * C), AI(0), AI(0));
    LAUNCH(m, m->s_main, moe_gelu_fwd, ew_grid((size_t)N * 4 * C), TPB, AP(y->fcg), AP(y->fch),
           AI(N * 4 * C));
    linear_fwd(m, y->pjo, y->fcg, y->pjw.w, N, 4 * C, C);
    LAUNCH(m, m->s_main, moe_residual_bias, ew_grid((size_t)N * C), TPB, AP(y->out), AP(y->mid),
           AP(y->pjo), AP(y->pjb.w), AI(N), AI(C));
}

void moe_model_forward(moe_model_t *m, int with_grad)
{
    const int N = m->N, C = m->C, V = m->cfg.vocab, L = m->cfg.nl;
    m->evnext = 0;   /* a step's fork/join events are reused by the next step */
    LAUNCH(m, m->s_main, moe_embed_fwd, ew_grid((size_t)N * C), TPB, AP(m->x0), AP(m->tok),
           AP(m->wte.w), AP(m->wpe.w), AI(N), AI(m->cfg.sl), AI(C), AI(V));
    CUdeviceptr x = m->x0;
    for (int l = 0; l < L; l++) {
        layer_fwd(m, l, x);
        x = m->layers[l].out;
    }
    LAUNCH(m, m->s_main, moe_layernorm_fwd, (unsigned)N, TPB, AP(m->lnf), AP(m->lnfm),
           AP(m->lnfr), AP(x), AP(m->lnfw.w), AP(m->lnfb.w), AI(N), AI(C));
    linear_fwd(m, m->logits, m->lnf, m->wte.w, N, C, V);
    /* the gradient of this rank's mean loss; averaging over ranks happens in the update */
    LAUNCH(m, m->s_main, moe_xent, (unsigned)N, TPB, AP(m->losses), AP(m->logits), AP(m->tgt),
           AI(N), AI(V), AF(1.0f / (float)N), AI(with_grad ? 1 : 0));
    LAUNCH(m, m->s_main, moe_loss_mean, 1, TPB, AP(m->loss), AP(m->losses), AI(N));
}

/* ---- backward -------------------------------------------------------------------------- */

static void attention_bwd(moe_model_t *m, moe_layer_t *y)
{
    const int B = m->cfg.b, T = m->cfg.sl, NH = m->cfg.nh, hs = m->hs, BH = B * NH;
    const long long th = (long long)T * hs, tt = (long long)T * T;
    LAUNCH(m, m->s_main, moe_attn_split_heads, ew_grid((size_t)m->N * m->C), TPB, AP(y->dyh),
           AP(y->daty), AI(B), AI(T), AI(NH), AI(hs));
    /* datt = dyh v^T ; dv = att^T dyh */
    gemm(m, 0, 1, T, T, hs, y->dyh, hs, th, y->v, hs, th, y->datt, T, tt, BH, 0.0f);
    gemm(m, 1, 0, T, hs, T, y->att, T, tt, y->dyh, hs, th, y->dv, hs, th, BH, 0.0f);
    LAUNCH(m, m->s_main, moe_attn_softmax_bwd, (unsigned)(BH * T), TPB, AP(y->dpre), AP(y->datt),
           AP(y->att), AI(BH), AI(T), AF(1.0f / sqrtf((float)hs)));
    /* dq = dpre k ; dk = dpre^T q */
    gemm(m, 0, 0, T, hs, T, y->dpre, T, tt, y->k, hs, th, y->dq, hs, th, BH, 0.0f);
    gemm(m, 1, 0, T, hs, T, y->dpre, T, tt, y->q, hs, th, y->dk, hs, th, BH, 0.0f);
    LAUNCH(m, m->s_main, moe_attn_merge_qkv, ew_grid((size_t)m->N * m->C), TPB, AP(y->dqkv),
           AP(y->dq), AP(y->dk), AP(y->dv), AI(B), AI(T), AI(NH), AI(hs));
}

static void experts_bwd_dw(moe_model_t *m, moe_layer_t *y)
{
    const int C = m->C, F = 4 * C, W = m->world, LE = m->LE;
    const int R = m->cap * W;
    /* all capacity rows at once, so the sums run over rows in the same order for every D */
    gemm(m, 1, 0, C, F, R, y->dye, C, (long long)R * C, y->h, F, (long long)R * F, y->epjw.g, F,
         (long long)C * F, LE, 0.0f);
    LAUNCH(m, m->s_main, moe_bias_grad, th_grid((size_t)LE * C), TPB, AP(y->epjb.g), AP(y->dye),
           AI(LE), AI(R), AI(C), AI(R * C));
    gemm(m, 1, 0, F, C, R, y->dh, F, (long long)R * F, y->xe, C, (long long)R * C, y->efcw.g, C,
         (long long)F * C, LE, 0.0f);
    LAUNCH(m, m->s_main, moe_bias_grad, th_grid((size_t)LE * F), TPB, AP(y->efcb.g), AP(y->dh),
           AI(LE), AI(R), AI(F), AI(R * F));
}

static void experts_bwd_chunk(moe_model_t *m, moe_layer_t *y, int d)
{
    const int C = m->C, F = 4 * C, W = m->world, LE = m->LE, D = m->cfg.chunks;
    const int rows = m->capc * W;
    const size_t r0 = (size_t)d * m->capc * W;
    const long long R = (long long)m->cap * W;
    /* dhh = dye W2 */
    gemm(m, 0, 0, rows, F, C, off(y->dye, r0 * C), C, R * C, y->epjw.w, F, (long long)C * F,
         off(y->dhh, r0 * F), F, R * F, LE, 0.0f);
    LAUNCH(m, m->s_main, moe_relu_bwd, ew_grid((size_t)LE * rows * F), TPB, AP(off(y->dh, r0 * F)),
           AP(off(y->dhh, r0 * F)), AP(off(y->h, r0 * F)), AI(LE), AI(rows), AI(F), AI(R * F));
    /* dxe = dh W1 */
    gemm(m, 0, 0, rows, C, F, off(y->dh, r0 * F), F, R * F, y->efcw.w, C, (long long)F * C,
         off(y->dxe, r0 * C), C, R * C, LE, 0.0f);
    if (D == 1)
        experts_bwd_dw(m, y);   /* serial layer: weight gradients before the combine a2a */
}

/* Backward of moe_fwd with the same chunking: the a2a of chunk d + 1 overlaps the expert dX
 * work of chunk d. With D > 1 the expert dW GEMMs follow the last chunk and overlap the last
 * return a2a; with D = 1 they run before it, so nothing overlaps. */
static void moe_bwd(moe_model_t *m, moe_layer_t *y, CUdeviceptr dout)
{
    const int N = m->N, C = m->C, E = m->E, D = m->cfg.chunks, W = m->world, LE = m->LE;
    const size_t chunk = (size_t)E * m->capc * C, peer = (size_t)LE * m->capc * C;
    CUevent a[8], b[8];

    LAUNCH(m, m->s_main, moe_combine_bwd_data, ew_grid((size_t)m->S * C), TPB, AP(y->dret),
           AP(dout), AP(y->s2t), AP(y->top1p), AI(N), AI(E), AI(m->cap), AI(D), AI(C));
    LAUNCH(m, m->s_main, moe_combine_bwd_prob, th_grid((size_t)N), TPB, AP(y->dprob), AP(dout),
           AP(y->ret), AP(y->t2s), AI(N), AI(E), AI(m->cap), AI(D), AI(C));
    stream_dep(m, m->s_main, m->s_comm);
    for (int d = 0; d < D; d++) {
        all_to_all(m, off(y->dret, d * chunk), off(y->drecv, d * chunk), peer);
        a[d] = ev_next(m);
        MOE_CU(cuEventRecord(a[d], m->s_comm));
    }
    for (int d = 0; d < D; d++) {
        MOE_CU(cuStreamWaitEvent(m->s_main, a[d], 0));
        LAUNCH(m, m->s_main, moe_recv_to_expert, ew_grid(chunk), TPB, AP(y->dye), AP(y->drecv),
               AI(d), AI(D), AI(W), AI(LE), AI(m->cap), AI(C));
        experts_bwd_chunk(m, y, d);
        LAUNCH(m, m->s_main, moe_expert_to_send, ew_grid(chunk), TPB, AP(y->dsend), AP(y->dxe),
               AI(d), AI(D), AI(W), AI(LE), AI(m->cap), AI(C));
        stream_dep(m, m->s_main, m->s_comm);
        all_to_all(m, off(y->dsend, d * chunk), off(y->ddisp, d * chunk), peer);
        b[d] = ev_next(m);
        MOE_CU(cuEventRecord(b[d], m->s_comm));
    }
    if (D > 1)
        experts_bwd_dw(m, y);
    for (int d = 0; d < D; d++)
        MOE_CU(cuStreamWaitEvent(m->s_main, b[d], 0));
    LAUNCH(m, m->s_main, moe_dispatch_bwd, ew_grid((size_t)N * C), TPB, AP(y->dln2),
           AP(y->ddisp), AP(y->t2s), AI(N), AI(E), AI(m->cap), AI(D), AI(C));
    /* the gate: dlogits from the top-1 probability's gradient */
    LAUNCH(m, m->s_main, moe_gate_bwd, th_grid((size_t)N), TPB, AP(y->dglog), AP(y->gprob),
           AP(y->top1), AP(y->t2s), AP(y->dprob), AI(N), AI(E));
    linear_bwd_dw(m, y->gw.g, y->dglog, y->ln2, N, C, E);
    linear_bwd_dx(m, y->dln2, y->dglog, y->gw.w, N, C, E, 1.0f);
}

static void mlp_bwd(moe_model_t *m, moe_layer_t *y, CUdeviceptr dout)
{
    const int N = m->N, C = m->C, F = 4 * C;
    linear_bwd_dx(m, y->dfcg, dout, y->pjw.w, N, F, C, 0.0f);
    linear_bwd_dw(m, y->pjw.g, dout, y->fcg, N, F, C);
    LAUNCH(m, m->s_main, moe_bias_grad, th_grid((size_t)C), TPB, AP(y->pjb.g), AP(dout), AI(1),
           AI(N), AI(C), AI(0));
    LAUNCH(m, m->s_main, moe_gelu_bwd, ew_grid((size_t)N * F), TPB, AP(y->dfch), AP(y->dfcg),
           AP(y->fch), AI(N * F));
    linear_bwd_dx(m, y->dln2, y->dfch, y->fcw.w, N, C, F, 0.0f);
    linear_bwd_dw(m, y->fcw.g, y->dfch, y->ln2, N, C, F);
    LAUNCH(m, m->s_main, moe_bias_grad, th_grid((size_t)F), TPB, AP(y->fcb.g), AP(y->dfch),
           AI(1), AI(N), AI(F), AI(0));
}

static void allreduce_bucket(moe_model_t *m, int b)
{
    moe_bucket_t *k = &m->buckets[b];
    MOE_NCCL(ncclAllReduce((const void *)k->g, (void *)k->g, k->n, ncclFloat, ncclSum, m->comm,
                           m->s_comm));
}

static void layer_bwd(moe_model_t *m, int l, CUdeviceptr xin, CUdeviceptr dout)
{
    moe_layer_t *y = &m->layers[l];
    const int N = m->N, C = m->C;
    if (y->moe)
        moe_bwd(m, y, dout);
    else
        mlp_bwd(m, y, dout);
    LAUNCH(m, m->s_main, moe_layernorm_bwd_dx, (unsigned)N, TPB, AP(y->dmid), AP(dout),
           AP(y->dln2), AP(y->mid), AP(y->ln2w.w), AP(y->ln2m), AP(y->ln2r), AI(N), AI(C));
    LAUNCH(m, m->s_main, moe_layernorm_bwd_dwdb, th_grid((size_t)C), TPB, AP(y->ln2w.g),
           AP(y->ln2b.g), AP(y->dln2), AP(y->mid), AP(y->ln2m), AP(y->ln2r), AI(N), AI(C));
    linear_bwd_dx(m, y->daty, y->dmid, y->apw.w, N, C, C, 0.0f);
    linear_bwd_dw(m, y->apw.g, y->dmid, y->aty, N, C, C);
    LAUNCH(m, m->s_main, moe_bias_grad, th_grid((size_t)C), TPB, AP(y->apb.g), AP(y->dmid),
           AI(1), AI(N), AI(C), AI(0));
    attention_bwd(m, y);
    linear_bwd_dx(m, y->dln1, y->dqkv, y->qkvw.w, N, C, 3 * C, 0.0f);
    linear_bwd_dw(m, y->qkvw.g, y->dqkv, y->ln1, N, C, 3 * C);
    LAUNCH(m, m->s_main, moe_bias_grad, th_grid((size_t)3 * C), TPB, AP(y->qkvb.g), AP(y->dqkv),
           AI(1), AI(N), AI(3 * C), AI(0));
    LAUNCH(m, m->s_main, moe_layernorm_bwd_dx, (unsigned)N, TPB, AP(y->din), AP(y->dmid),
           AP(y->dln1), AP(xin), AP(y->ln1w.w), AP(y->ln1m), AP(y->ln1r), AI(N), AI(C));
    LAUNCH(m, m->s_main, moe_layernorm_bwd_dwdb, th_grid((size_t)C), TPB, AP(y->ln1w.g),
           AP(y->ln1b.g), AP(y->dln1), AP(xin), AP(y->ln1m), AP(y->ln1r), AI(N), AI(C));
    if (m->cfg.ar_layer) {
        stream_dep(m, m->s_main, m->s_comm);
        allreduce_bucket(m, y->bucket);
    }
}

void moe_model_backward(moe_model_t *m)
{
    const int N = m->N, C = m->C, V = m->cfg.vocab, L = m->cfg.nl;
    /* the logits buffer holds dlogits after moe_xent with grad = 1 */
    linear_bwd_dw(m, m->wte.g, m->logits, m->lnf, N, C, V);
    linear_bwd_dx(m, m->dlnf, m->logits, m->wte.w, N, C, V, 0.0f);
    CUdeviceptr xl = L ? m->layers[L - 1].out : m->x0;
    LAUNCH(m, m->s_main, moe_layernorm_bwd_dx, (unsigned)N, TPB, AP(m->dresl), AP(0),
           AP(m->dlnf), AP(xl), AP(m->lnfw.w), AP(m->lnfm), AP(m->lnfr), AI(N), AI(C));
    LAUNCH(m, m->s_main, moe_layernorm_bwd_dwdb, th_grid((size_t)C), TPB, AP(m->lnfw.g),
           AP(m->lnfb.g), AP(m->dlnf), AP(xl), AP(m->lnfm), AP(m->lnfr), AI(N), AI(C));
    CUdeviceptr dout = m->dresl;
    for (int l = L - 1; l >= 0; l--) {
        CUdeviceptr xin = l ? m->layers[l - 1].out : m->x0;
        layer_bwd(m, l, xin, dout);
        dout = m->layers[l].din;
    }
    /* tied embedding: adds to the LM head's weight gradient, in token order */
    LAUNCH(m, m->s_main, moe_embed_bwd_wte, th_grid((size_t)C), TPB, AP(m->wte.g), AP(m->tok),
           AP(dout), AI(N), AI(C), AI(V));
    LAUNCH(m, m->s_main, moe_embed_bwd_wpe, ew_grid((size_t)m->cfg.sl * C), TPB, AP(m->wpe.g),
           AP(dout), AI(m->cfg.b), AI(m->cfg.sl), AI(C));

    stream_dep(m, m->s_main, m->s_comm);
    if (!m->cfg.ar_layer)
        for (int l = L - 1; l >= 0; l--)
            allreduce_bucket(m, m->layers[l].bucket);
    allreduce_bucket(m, m->head_bucket);
    stream_dep(m, m->s_comm, m->s_main);
}

void moe_model_update(moe_model_t *m)
{
    /* Non-expert gradients are sums over ranks and expert gradients sums over the tokens of all
     * ranks, each of a rank's mean loss: 1 / world makes both gradients of the global mean. */
    const float scale = 1.0f / (float)m->world;
    for (int b = 0; b < m->nbuckets; b++) {
        moe_bucket_t *k = &m->buckets[b];
        LAUNCH(m, m->s_main, moe_sgd, ew_grid(k->n), TPB, AP(k->w), AP(k->v), AP(k->g), AL(k->n),
               AF(m->cfg.lr), AF(m->cfg.momentum), AF(scale));
    }
}

void moe_model_step(moe_model_t *m)
{
    moe_model_forward(m, 1);
    moe_model_backward(m);
    moe_model_update(m);
}

/* Copies are ordered on s_main: the legacy-stream cuMemcpyHtoD/DtoH do not synchronise with
 * non-blocking streams, and a pageable upload may still be in flight when they return. */
void moe_model_download(moe_model_t *m, void *host, CUdeviceptr src, size_t bytes)
{
    MOE_CU(cuMemcpyDtoHAsync(host, src, bytes, m->s_main));
    MOE_CU(cuStreamSynchronize(m->s_main));
}

void moe_model_upload(moe_model_t *m, CUdeviceptr dst, const void *host, size_t bytes)
{
    MOE_CU(cuMemcpyHtoDAsync(dst, host, bytes, m->s_main));
    MOE_CU(cuStreamSynchronize(m->s_main));
}

float moe_model_loss(moe_model_t *m)
{
    float loss = 0.0f;
    moe_model_download(m, &loss, m->loss, sizeof loss);
    return loss;
}
