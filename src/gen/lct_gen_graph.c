/* Builds the step graph of one rank of a GPT-2 MoE trainer (data + expert parallel), as a
 * trainer running on a compute stream and an NCCL stream would have it captured.
 *
 * What the graph keeps true:
 *  - nodes are created in launch order (launch_order == index); each stream's nodes are chained
 *    by STREAM edges; the only cross-stream edges are the EVENT waits a trainer makes (compute ->
 *    collective before every collective, all-to-all -> next compute node for the blocking
 *    all-to-alls, last all-reduce -> first optimizer kernel);
 *  - every tensor has its own 256-byte aligned address range from one bump allocator, so that
 *    footprints (exact for GEMMs and collectives, whole-tensor for other kernels) give the true
 *    dependencies and nothing more;
 *  - backward activation gradients live between a mem_alloc node launched just before their
 *    producer and a mem_free node launched after their last consumer;
 *  - non-expert weight gradients sit in DDP buckets (reverse registration order, bucket cap
 *    cfg->bucket_bytes, gradients as views of one flat buffer per bucket); a bucket's all-reduce
 *    is launched right after the node that makes its last gradient ready, buckets in order.
 *
 * The builder is straight-line code that emits a few hundred nodes, so it keeps a sticky status
 * (gen_t.st): after the first failure every emit is a no-op and the failure is returned at the
 * end. Layout conventions (row-major tensors, nn.Linear weights [out, in], cuBLAS column-major
 * calls as PyTorch issues them) are described in docs/lancet-gen.md. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/lct_log.h"
#include "core/lct_vec.h"
#include "cost/lct_cost.h"
#include "lct_gen.h"

#define F32 4u
/* Address space the layout may use; far below wrap-around of the 64-bit space. */
#define ADDR_LIMIT (1ull << 58)
#define NONE UINT32_MAX

typedef struct {
    uint64_t addr, bytes;
} tensor_t;

typedef struct {
    char name[48];
    uint64_t bytes;
    bool expert;
    int bucket;         /* DDP bucket, -1 for expert weights */
    uint64_t offset;    /* byte offset inside the bucket's flat gradient buffer */
    tensor_t w, grad, mom;
} param_t;

typedef struct {
    tensor_t grad;      /* flat gradient buffer */
    uint32_t first, n;  /* order[first .. first+n) are its parameters */
    uint32_t pending;   /* gradients not yet ready in this step */
} bucket_t;

/* Parameters and saved forward tensors of one transformer layer. */
typedef struct {
    bool moe;
    int moe_idx;
    int ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b, ln2_w, ln2_b;
    int fc1_w, fc1_b, fc2_w, fc2_b; /* dense MLP */
    int gate_w, efc1_w, efc2_w;     /* MoE */
    tensor_t x, ln1o, st1, qkv, q, k, v, s, p, o, ctx, ao, h, ln2o, st2;
    tensor_t u, gl, f;                                                /* dense */
    tensor_t glog, probs, plan, counts, send1, recv1, eh, ea, send2, recv2, mo; /* MoE */
    tensor_t out;
} layer_t;

typedef struct {
    lct_status_t st;
    lct_graph_t *g;
    const lct_gen_cfg_t *cfg;
    lct_gen_dims_t d;
    const lct_device_profile_t *dev;
    const lct_fabric_profile_t *fab;
    lct_curve_set_t cs;
    bool cs_valid;
    uint64_t next_addr;

    /* context stamped on every emitted node */
    lct_phase_t phase;
    int layer, moe;
    char scope[32];

    uint32_t last[2];          /* last node launched on each stream */
    uint32_t wait_src;         /* collective the next compute node waits for, or NONE */
    uint32_t seq_ep, seq_dp;

    LCT_VEC(param_t) params;
    LCT_VEC(uint32_t) order;   /* non-expert parameters in bucket order */
    LCT_VEC(bucket_t) buckets;
    uint32_t next_bucket;      /* next bucket whose all-reduce is to be launched */
    LCT_VEC(uint64_t) words;   /* scratch: kernel parameter words */
    layer_t *layers;
    int wte, wpe, lnf_w, lnf_b;
    tensor_t tokens, labels, lnfo, stf, logits, loss, lse;
} gen_t;

/* ---------------------------------------------------------------- buffers and nodes */

static tensor_t buf(gen_t *G, uint64_t bytes)
{
    tensor_t t = {0, bytes};
    if (G->st)
        return t;
    uint64_t a = (G->next_addr + LCT_GEN_ALIGN - 1) & ~(uint64_t)(LCT_GEN_ALIGN - 1);
    if (bytes == 0 || bytes > ADDR_LIMIT || a + bytes > LCT_GEN_ADDR_BASE + ADDR_LIMIT) {
        LCT_WARN("gen: buffer layout needs more than %llu bytes of device address space",
                 ADDR_LIMIT);
        G->st = LCT_ERR_INVALID;
        return t;
    }
    t.addr = a;
    G->next_addr = a + bytes;
    return t;
}

static void set_scope(gen_t *G, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_scope(gen_t *G, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(G->scope, sizeof(G->scope), fmt, ap);
    va_end(ap);
}

static void edge(gen_t *G, uint32_t src, uint32_t dst, lct_edge_kind_t kind)
{
    if (!G->st && src != NONE)
        G->st = lct_graph_add_edge(G->g, src, dst, kind);
}

/* Append a node launched on `stream` with the current context and its original stream / event
 * edges. Returns its index (NONE after a failure). */
static uint32_t emit(gen_t *G, lct_node_kind_t kind, const char *op, int stream, lct_role_t role)
{
    if (G->st)
        return NONE;
    char name[96];
    snprintf(name, sizeof(name), "%s%s%s", G->scope, G->scope[0] ? "." : "", op);
    uint32_t id;
    G->st = lct_graph_add_node(G->g, kind, name, &id);
    if (G->st)
        return NONE;
    lct_node_t *n = LCT_NODE(G->g, id);
    n->stream = stream;
    n->launch_order = id;
    n->phase = G->phase;
    n->role = role;
    n->layer = G->layer;
    n->moe = G->moe;
    edge(G, G->last[stream], id, LCT_EDGE_STREAM);
    if (stream == LCT_GEN_STREAM_NCCL) {
        /* event recorded on the compute stream, waited for by the NCCL stream */
        edge(G, G->last[LCT_GEN_STREAM_COMPUTE], id, LCT_EDGE_EVENT);
    } else if (G->wait_src != NONE) {
        edge(G, G->wait_src, id, LCT_EDGE_EVENT);
        G->wait_src = NONE;
    }
    G->last[stream] = id;
    return id;
}

static void add_range(gen_t *G, uint32_t id, uint64_t addr, uint64_t bytes, uint8_t acc,
                      bool exact)
{
    if (!G->st)
        G->st = lct_node_add_range(G->g, id, addr, bytes, acc, exact);
}

/* Stream-ordered allocation of a backward gradient buffer (graph mem_alloc node). */
static tensor_t galloc(gen_t *G, const char *what, uint64_t bytes)
{
    tensor_t t = buf(G, bytes);
    char op[64];
    snprintf(op, sizeof(op), "%s.alloc", what);
    uint32_t id = emit(G, LCT_NODE_MEM_ALLOC, op, LCT_GEN_STREAM_COMPUTE, LCT_ROLE_OTHER);
    if (id != NONE) {
        LCT_NODE(G->g, id)->mem_bytes = t.bytes;
        LCT_NODE(G->g, id)->cost_src = LCT_COST_MODELLED;
        add_range(G, id, t.addr, t.bytes, LCT_ACC_WRITE, true);
    }
    return t;
}

static void gfree(gen_t *G, const char *what, tensor_t t)
{
    char op[64];
    snprintf(op, sizeof(op), "%s.free", what);
    uint32_t id = emit(G, LCT_NODE_MEM_FREE, op, LCT_GEN_STREAM_COMPUTE, LCT_ROLE_OTHER);
    if (id != NONE) {
        LCT_NODE(G->g, id)->mem_bytes = t.bytes;
        LCT_NODE(G->g, id)->cost_src = LCT_COST_MODELLED;
        add_range(G, id, t.addr, t.bytes, LCT_ACC_WRITE, true);
    }
}

static double mem_cost(const gen_t *G, double bytes)
{
    return bytes / (G->dev->mem_gbs * 1e9 * G->dev->mem_efficiency) * 1e6 + G->dev->launch_us;
}

/* ---------------------------------------------------------------- generic kernels */

typedef struct {
    gen_t *G;
    uint32_t id;
    double bytes; /* bytes the kernel moves (read-written ranges count twice) */
} kern_t;

static void k_begin(gen_t *G, kern_t *k, const char *op, lct_role_t role)
{
    k->G = G;
    k->bytes = 0;
    G->words.len = 0;
    k->id = emit(G, LCT_NODE_KERNEL, op, LCT_GEN_STREAM_COMPUTE, role);
}

static void k_word(kern_t *k, uint64_t w)
{
    if (!k->G->st && LCT_VEC_PUSH(&k->G->words, w) != LCT_OK)
        k->G->st = LCT_ERR_NOMEM;
}

/* A tensor argument: its pointer becomes a parameter word, its bytes the footprint. exact = the
 * kernel touches every byte of it (false for gathers and scatters that touch routed rows). */
static void k_arg(kern_t *k, tensor_t t, uint8_t acc, bool exact)
{
    if (k->id == NONE)
        return;
    add_range(k->G, k->id, t.addr, t.bytes, acc, exact);
    k_word(k, t.addr);
    k->bytes += (double)t.bytes * (acc == LCT_ACC_RW ? 2.0 : 1.0);
}
#define K_IN(k, t) k_arg((k), (t), LCT_ACC_READ, true)
#define K_OUT(k, t) k_arg((k), (t), LCT_ACC_WRITE, true)

/* Finish: grid of grid_x blocks of 256 threads, parameter block = the words collected. */
static uint32_t k_end(kern_t *k, uint64_t grid_x)
{
    gen_t *G = k->G;
    if (G->st || k->id == NONE)
        return NONE;
    lct_node_t *n = LCT_NODE(G->g, k->id);
    lct_kernel_call_t *kc = &n->call.u.kernel;
    n->call.kind = LCT_CALL_KERNEL;
    kc->grid[0] = (uint32_t)(grid_x < 1 ? 1 : grid_x > INT32_MAX ? INT32_MAX : grid_x);
    kc->grid[1] = kc->grid[2] = 1;
    kc->block[0] = 256;
    kc->block[1] = kc->block[2] = 1;
    kc->smem = 0;
    uint32_t nw = (uint32_t)G->words.len;
    kc->nparams = nw;
    kc->param_bytes = nw * 8u;
    if (nw) {
        kc->param_offset = lct_arena_alloc(&G->g->arena, nw * sizeof(uint32_t));
        kc->param_size = lct_arena_alloc(&G->g->arena, nw * sizeof(uint32_t));
        kc->param_data = lct_arena_alloc(&G->g->arena, nw * 8u);
        if (!kc->param_offset || !kc->param_size || !kc->param_data) {
            G->st = LCT_ERR_NOMEM;
            return NONE;
        }
        for (uint32_t i = 0; i < nw; i++) {
            kc->param_offset[i] = 8u * i;
            kc->param_size[i] = 8u;
            uint64_t w = G->words.data[i];
            for (int j = 0; j < 8; j++) /* little-endian, as the parameter block holds it */
                kc->param_data[8u * i + (uint32_t)j] = (uint8_t)(w >> (8 * j));
        }
    }
    n->cost_us = mem_cost(G, k->bytes);
    n->cost_src = LCT_COST_MODELLED;
    return k->id;
}

static uint64_t blocks_for(uint64_t elems) { return (elems + 255) / 256; }

/* ---------------------------------------------------------------- GEMMs and collectives */

typedef struct {
    bool ta, tb;
    int64_t m, n, k;
    double alpha, beta;
    uint64_t a, b, c;
    int64_t lda, ldb, ldc;
    int64_t sa, sb, sc, batch; /* strides in elements; batch 1 for a plain GEMM */
} gemm_args_t;

static uint32_t gemm(gen_t *G, const char *op, lct_role_t role, const gemm_args_t *x)
{
    uint32_t id = emit(G, LCT_NODE_KERNEL, op, LCT_GEN_STREAM_COMPUTE, role);
    if (id == NONE)
        return NONE;
    lct_node_t *n = LCT_NODE(G->g, id);
    n->lib = "cublas";
    n->call.kind = LCT_CALL_GEMM;
    lct_gemm_call_t *c = &n->call.u.gemm;
    c->trans_a = x->ta;
    c->trans_b = x->tb;
    c->m = x->m;
    c->n = x->n;
    c->k = x->k;
    c->lda = x->lda;
    c->ldb = x->ldb;
    c->ldc = x->ldc;
    c->batch = x->batch > 0 ? x->batch : 1;
    if (c->batch > 1) {
        c->stride_a = x->sa;
        c->stride_b = x->sb;
        c->stride_c = x->sc;
    }
    c->type_a = c->type_b = c->type_c = c->compute = LCT_DTYPE_F32;
    c->alpha = x->alpha;
    c->beta = x->beta;
    c->a = x->a;
    c->b = x->b;
    c->c = x->c;
    /* No cuBLAS workspace: a workspace shared by every GEMM would order all of them. */
    c->workspace = c->workspace_size = 0;
    lct_range_t r[3];
    uint32_t nr = lct_gen_gemm_ranges(c, r);
    for (uint32_t i = 0; i < nr; i++)
        add_range(G, id, r[i].addr, r[i].size, r[i].access, r[i].exact);
    double flops = 2.0 * (double)c->m * (double)c->n * (double)c->k * (double)c->batch;
    n->cost_us = flops / (G->dev->tflops_f32 * 1e12 * G->dev->gemm_efficiency) * 1e6 +
                 G->dev->launch_us;
    n->cost_src = LCT_COST_MODELLED;
    return id;
}

/* Linear layer Y[T, out] = X[T, in] W[out, in]^T as PyTorch calls cuBLAS (column-major view of
 * row-major tensors): gemm(T, N, out, T, in, W, in, X, in, Y, out). Its backward:
 * dX = dY W: gemm(N, N, in, T, out, W, in, dY, out, dX, in);
 * dW = dY^T X: gemm(N, T, in, out, T, X, in, dY, out, dW, in). */
static uint32_t linear_fwd(gen_t *G, const char *op, int64_t T, int64_t in, int64_t out,
                           tensor_t X, tensor_t W, tensor_t Y)
{
    gemm_args_t a = {true, false, out, T, in, 1.0, 0.0, W.addr, X.addr, Y.addr, in, in, out,
                     0, 0, 0, 1};
    return gemm(G, op, LCT_ROLE_OTHER, &a);
}

static uint32_t linear_dx(gen_t *G, const char *op, int64_t T, int64_t in, int64_t out,
                          tensor_t dY, tensor_t W, tensor_t dX, double beta)
{
    gemm_args_t a = {false, false, in, T, out, 1.0, beta, W.addr, dY.addr, dX.addr, in, out, in,
                     0, 0, 0, 1};
    return gemm(G, op, LCT_ROLE_DX, &a);
}

static uint32_t linear_dw(gen_t *G, const char *op, int64_t T, int64_t in, int64_t out,
                          tensor_t X, tensor_t dY, tensor_t dW)
{
    gemm_args_t a = {false, true, in, out, T, 1.0, 0.0, X.addr, dY.addr, dW.addr, in, out, in,
                     0, 0, 0, 1};
    return gemm(G, op, LCT_ROLE_DW, &a);
}

static uint32_t coll(gen_t *G, const char *op, lct_coll_op_t cop, uint64_t comm, lct_role_t role,
                     tensor_t send, tensor_t recv, uint64_t count, uint64_t bytes)
{
    uint32_t id = emit(G, LCT_NODE_COLLECTIVE, op, LCT_GEN_STREAM_NCCL, role);
    if (id == NONE)
        return NONE;
    lct_node_t *n = LCT_NODE(G->g, id);
    n->lib = "nccl";
    n->coll.op = cop;
    n->coll.comm = comm;
    n->coll.seq = comm == LCT_GEN_COMM_EP ? G->seq_ep++ : G->seq_dp++;
    n->coll.nranks = G->cfg->world_size;
    n->coll.dtype = LCT_DTYPE_F32;
    n->coll.count = count;
    n->coll.sendbuf = send.addr;
    n->coll.recvbuf = recv.addr;
    n->coll.root = -1;
    n->coll.bytes = bytes;
    if (send.addr == recv.addr) {
        add_range(G, id, send.addr, send.bytes, LCT_ACC_RW, true);
    } else {
        add_range(G, id, send.addr, send.bytes, LCT_ACC_READ, true);
        add_range(G, id, recv.addr, recv.bytes, LCT_ACC_WRITE, true);
    }
    n->cost_us = lct_curve_eval(&G->cs, cop, (double)bytes);
    n->cost_src = LCT_COST_CURVE;
    return id;
}

/* A blocking all-to-all (torch.distributed without async_op): the compute stream waits for it
 * before launching anything else. Sends count elements to each peer. */
static uint32_t a2a(gen_t *G, const char *op, tensor_t send, tensor_t recv)
{
    uint64_t per_peer = send.bytes / F32 / (uint64_t)G->cfg->world_size;
    uint32_t id = coll(G, op, LCT_COLL_ALLTOALL, LCT_GEN_COMM_EP, LCT_ROLE_A2A, send, recv,
                       per_peer, send.bytes);
    G->wait_src = id;
    return id;
}

/* ---------------------------------------------------------------- parameters and DDP buckets */

static int add_param(gen_t *G, const char *name, uint64_t elems, bool expert)
{
    param_t p;
    memset(&p, 0, sizeof(p));
    if (G->layer >= 0)
        snprintf(p.name, sizeof(p.name), "h.%d.%s", G->layer, name);
    else
        snprintf(p.name, sizeof(p.name), "%s", name);
    p.bytes = elems * F32;
    p.expert = expert;
    p.bucket = -1;
    if (!G->st && LCT_VEC_PUSH(&G->params, p) != LCT_OK)
        G->st = LCT_ERR_NOMEM;
    return (int)G->params.len - 1;
}

/* Parameters in registration order (HF GPT-2: wte, wpe, h.0 .. h.{nl-1}, ln_f). */
static void register_params(gen_t *G)
{
    const lct_gen_cfg_t *c = G->cfg;
    uint64_t m = (uint64_t)c->m, el = (uint64_t)c->experts_per_gpu;
    int npos = c->sl > LCT_GEN_POSITIONS ? c->sl : LCT_GEN_POSITIONS;
    G->layer = -1;
    G->wte = add_param(G, "wte.weight", (uint64_t)c->vocab * m, false);
    G->wpe = add_param(G, "wpe.weight", (uint64_t)npos * m, false);
    for (int l = 0; l < c->nl; l++) {
        layer_t *L = &G->layers[l];
        G->layer = l;
        L->ln1_w = add_param(G, "ln_1.weight", m, false);
        L->ln1_b = add_param(G, "ln_1.bias", m, false);
        L->qkv_w = add_param(G, "attn.c_attn.weight", 3 * m * m, false);
        L->qkv_b = add_param(G, "attn.c_attn.bias", 3 * m, false);
        L->proj_w = add_param(G, "attn.c_proj.weight", m * m, false);
        L->proj_b = add_param(G, "attn.c_proj.bias", m, false);
        L->ln2_w = add_param(G, "ln_2.weight", m, false);
        L->ln2_b = add_param(G, "ln_2.bias", m, false);
        if (L->moe) {
            L->gate_w = add_param(G, "moe.gate.weight", (uint64_t)G->d.experts * m, false);
            L->efc1_w = add_param(G, "moe.experts.fc1.weight", el * 4 * m * m, true);
            L->efc2_w = add_param(G, "moe.experts.fc2.weight", el * m * 4 * m, true);
        } else {
            L->fc1_w = add_param(G, "mlp.c_fc.weight", 4 * m * m, false);
            L->fc1_b = add_param(G, "mlp.c_fc.bias", 4 * m, false);
            L->fc2_w = add_param(G, "mlp.c_proj.weight", m * 4 * m, false);
            L->fc2_b = add_param(G, "mlp.c_proj.bias", m, false);
        }
    }
    G->layer = -1;
    G->lnf_w = add_param(G, "ln_f.weight", m, false);
    G->lnf_b = add_param(G, "ln_f.bias", m, false);
}

/* DDP: buckets filled in reverse registration order, a bucket closed once it holds at least the
 * cap; gradients are views of the bucket's flat buffer (gradient_as_bucket_view). Then the
 * address layout: weights in registration order, flat gradient buffers in bucket order, expert
 * gradients, momentum buffers in registration order. */
static void layout_params(gen_t *G)
{
    bucket_t cur = {{0, 0}, 0, 0, 0};
    for (size_t i = G->params.len; i-- > 0 && !G->st;) {
        param_t *p = &G->params.data[i];
        if (p->expert)
            continue;
        if (cur.n == 0)
            cur.first = (uint32_t)G->order.len;
        p->bucket = (int)G->buckets.len;
        p->offset = cur.grad.bytes;
        cur.grad.bytes += p->bytes;
        cur.n++;
        cur.pending++;
        if (LCT_VEC_PUSH(&G->order, (uint32_t)i) != LCT_OK)
            G->st = LCT_ERR_NOMEM;
        if (cur.grad.bytes >= G->cfg->bucket_bytes) {
            if (LCT_VEC_PUSH(&G->buckets, cur) != LCT_OK)
                G->st = LCT_ERR_NOMEM;
            cur.n = 0;
            cur.grad.bytes = 0;
            cur.pending = 0;
        }
    }
    if (cur.n && LCT_VEC_PUSH(&G->buckets, cur) != LCT_OK)
        G->st = LCT_ERR_NOMEM;
    if (G->st)
        return;
    for (size_t i = 0; i < G->params.len; i++)
        G->params.data[i].w = buf(G, G->params.data[i].bytes);
    for (size_t k = 0; k < G->buckets.len; k++) {
        bucket_t *B = &G->buckets.data[k];
        B->grad = buf(G, B->grad.bytes);
        for (uint32_t j = 0; j < B->n; j++) {
            param_t *p = &G->params.data[G->order.data[B->first + j]];
            p->grad.addr = B->grad.addr + p->offset;
            p->grad.bytes = p->bytes;
        }
    }
    for (size_t i = 0; i < G->params.len; i++)
        if (G->params.data[i].expert)
            G->params.data[i].grad = buf(G, G->params.data[i].bytes);
    for (size_t i = 0; i < G->params.len; i++)
        G->params.data[i].mom = buf(G, G->params.data[i].bytes);
}

static tensor_t pw(gen_t *G, int p) { return G->params.data[p].w; }
static tensor_t pg(gen_t *G, int p) { return G->params.data[p].grad; }

/* The node just launched made parameter p's gradient final: launch every bucket all-reduce that
 * is now complete, in bucket order (DDP keeps the same order on every rank). */
static void grad_ready(gen_t *G, int p)
{
    if (G->st || G->params.data[p].bucket < 0)
        return;
    G->buckets.data[G->params.data[p].bucket].pending--;
    while (G->next_bucket < G->buckets.len && G->buckets.data[G->next_bucket].pending == 0) {
        bucket_t *B = &G->buckets.data[G->next_bucket];
        char save[sizeof(G->scope)], op[48];
        int layer = G->layer, moe = G->moe;
        memcpy(save, G->scope, sizeof(save));
        set_scope(G, "ddp");
        G->layer = G->moe = -1;
        snprintf(op, sizeof(op), "all_reduce.bucket%u", G->next_bucket);
        uint32_t id = coll(G, op, LCT_COLL_ALLREDUCE, LCT_GEN_COMM_DP, LCT_ROLE_ALLREDUCE, B->grad,
                           B->grad, B->grad.bytes / F32, B->grad.bytes);
        if (id != NONE)
            LCT_NODE(G->g, id)->flags |= LCT_NODE_F_GRAD_SYNC;
        memcpy(G->scope, save, sizeof(save));
        G->layer = layer;
        G->moe = moe;
        G->next_bucket++;
    }
}

/* ---------------------------------------------------------------- shared kernels */

static void layer_norm_fwd(gen_t *G, tensor_t x, int w, int bias, tensor_t y, tensor_t stats)
{
    kern_t k;
    k_begin(G, &k, "layer_norm_fwd", LCT_ROLE_OTHER);
    K_IN(&k, x);
    K_IN(&k, pw(G, w));
    K_IN(&k, pw(G, bias));
    K_OUT(&k, y);
    K_OUT(&k, stats);
    k_word(&k, (uint64_t)G->d.tokens);
    k_word(&k, (uint64_t)G->cfg->m);
    k_end(&k, (uint64_t)G->d.tokens);
}

/* Input gradient of a pre-norm LayerNorm; when dres is given the kernel also adds the residual
 * branch's gradient (the two contributions to the LayerNorm input's gradient). */
static void layer_norm_bwd(gen_t *G, tensor_t dy, tensor_t x, tensor_t stats, int w,
                           const tensor_t *dres, tensor_t dx)
{
    kern_t k;
    k_begin(G, &k, "layer_norm_bwd", LCT_ROLE_OTHER);
    K_IN(&k, dy);
    K_IN(&k, x);
    K_IN(&k, stats);
    K_IN(&k, pw(G, w));
    if (dres)
        K_IN(&k, *dres);
    K_OUT(&k, dx);
    k_word(&k, (uint64_t)G->d.tokens);
    k_word(&k, (uint64_t)G->cfg->m);
    k_end(&k, (uint64_t)G->d.tokens);
}

static void layer_norm_bwd_gamma_beta(gen_t *G, tensor_t dy, tensor_t x, tensor_t stats, int w,
                                      int bias)
{
    kern_t k;
    k_begin(G, &k, "layer_norm_bwd_gamma_beta", LCT_ROLE_DW);
    K_IN(&k, dy);
    K_IN(&k, x);
    K_IN(&k, stats);
    K_OUT(&k, pg(G, w));
    K_OUT(&k, pg(G, bias));
    k_word(&k, (uint64_t)G->d.tokens);
    k_word(&k, (uint64_t)G->cfg->m);
    k_end(&k, ((uint64_t)G->cfg->m + 31) / 32);
    grad_ready(G, w);
    grad_ready(G, bias);
}

/* Bias gradient: column sums of dY[T, n]. */
static void bias_grad(gen_t *G, const char *op, tensor_t dy, int bias, int64_t n)
{
    kern_t k;
    k_begin(G, &k, op, LCT_ROLE_DW);
    K_IN(&k, dy);
    K_OUT(&k, pg(G, bias));
    k_word(&k, (uint64_t)G->d.tokens);
    k_word(&k, (uint64_t)n);
    k_end(&k, ((uint64_t)n + 31) / 32);
    grad_ready(G, bias);
}

/* out = a + b (+ bias) over [T, m]. */
static void residual_add(gen_t *G, tensor_t a, tensor_t bb, const int *bias, tensor_t out)
{
    kern_t k;
    k_begin(G, &k, "residual_add", LCT_ROLE_OTHER);
    K_IN(&k, a);
    K_IN(&k, bb);
    if (bias)
        K_IN(&k, pw(G, *bias));
    K_OUT(&k, out);
    k_word(&k, (uint64_t)G->d.tokens);
    k_word(&k, (uint64_t)G->cfg->m);
    k_end(&k, blocks_for(out.bytes / F32));
}

/* ---------------------------------------------------------------- forward */

static void attention_fwd(gen_t *G, layer_t *L)
{
    const lct_gen_cfg_t *c = G->cfg;
    int64_t T = G->d.tokens, m = c->m, sl = c->sl, hd = m / c->nh, bh = (int64_t)c->b * c->nh;
    uint64_t tm = (uint64_t)T * (uint64_t)m * F32;
    kern_t k;

    set_scope(G, "l%d.ln1", G->layer);
    L->ln1o = buf(G, tm);
    L->st1 = buf(G, (uint64_t)T * 2 * F32);
    layer_norm_fwd(G, L->x, L->ln1_w, L->ln1_b, L->ln1o, L->st1);

    set_scope(G, "l%d.attn", G->layer);
    L->qkv = buf(G, 3 * tm);
    linear_fwd(G, "qkv_gemm", T, m, 3 * m, L->ln1o, pw(G, L->qkv_w), L->qkv);
    /* bias add + split into heads [b, nh, sl, hd] (HF: split, view, permute, contiguous) */
    L->q = buf(G, tm);
    L->k = buf(G, tm);
    L->v = buf(G, tm);
    k_begin(G, &k, "split_heads", LCT_ROLE_OTHER);
    K_IN(&k, L->qkv);
    K_IN(&k, pw(G, L->qkv_b));
    K_OUT(&k, L->q);
    K_OUT(&k, L->k);
    K_OUT(&k, L->v);
    k_word(&k, (uint64_t)T);
    k_word(&k, (uint64_t)m);
    k_word(&k, (uint64_t)c->nh);
    k_end(&k, blocks_for(3 * tm / F32));
    /* scores S = Q K^T / sqrt(hd) per (sample, head): S'[j,i] = K'^T Q' in column-major */
    uint64_t ss = (uint64_t)bh * (uint64_t)sl * (uint64_t)sl * F32;
    L->s = buf(G, ss);
    gemm_args_t sc = {true, false, sl, sl, hd, 1.0 / sqrt((double)hd), 0.0, L->k.addr, L->q.addr,
                      L->s.addr, hd, hd, sl, sl * hd, sl * hd, sl * sl, bh};
    gemm(G, "scores_gemm", LCT_ROLE_OTHER, &sc);
    L->p = buf(G, ss);
    k_begin(G, &k, "causal_softmax_fwd", LCT_ROLE_OTHER);
    K_IN(&k, L->s);
    K_OUT(&k, L->p);
    k_word(&k, (uint64_t)bh * (uint64_t)sl);
    k_word(&k, (uint64_t)sl);
    k_end(&k, (uint64_t)bh * (uint64_t)sl);
    /* O = P V: O'[d,i] = V'[d,j] P'[j,i] */
    L->o = buf(G, tm);
    gemm_args_t pv = {false, false, hd, sl, sl, 1.0, 0.0, L->v.addr, L->p.addr, L->o.addr, hd, sl,
                      hd, sl * hd, sl * sl, sl * hd, bh};
    gemm(G, "pv_gemm", LCT_ROLE_OTHER, &pv);
    L->ctx = buf(G, tm);
    k_begin(G, &k, "merge_heads", LCT_ROLE_OTHER);
    K_IN(&k, L->o);
    K_OUT(&k, L->ctx);
    k_word(&k, (uint64_t)T);
    k_word(&k, (uint64_t)m);
    k_word(&k, (uint64_t)c->nh);
    k_end(&k, blocks_for(tm / F32));
    L->ao = buf(G, tm);
    linear_fwd(G, "proj_gemm", T, m, m, L->ctx, pw(G, L->proj_w), L->ao);
    L->h = buf(G, tm);
    residual_add(G, L->x, L->ao, &L->proj_b, L->h);
}

static void dense_fwd(gen_t *G, layer_t *L)
{
    int64_t T = G->d.tokens, m = G->cfg->m;
    uint64_t tm = (uint64_t)T * (uint64_t)m * F32;
    kern_t k;
    set_scope(G, "l%d.mlp", G->layer);
    L->u = buf(G, 4 * tm);
    linear_fwd(G, "fc1_gemm", T, m, 4 * m, L->ln2o, pw(G, L->fc1_w), L->u);
    L->gl = buf(G, 4 * tm);
    k_begin(G, &k, "bias_gelu_fwd", LCT_ROLE_OTHER);
    K_IN(&k, L->u);
    K_IN(&k, pw(G, L->fc1_b));
    K_OUT(&k, L->gl);
    k_word(&k, (uint64_t)T);
    k_word(&k, (uint64_t)(4 * m));
    k_end(&k, blocks_for(4 * tm / F32));
    L->f = buf(G, tm);
    linear_fwd(G, "fc2_gemm", T, 4 * m, m, L->gl, pw(G, L->fc2_w), L->f);
    L->out = buf(G, tm);
    residual_add(G, L->h, L->f, &L->fc2_b, L->out);
}

/* Expert GEMMs over the el local experts as one strided-batched call. The dispatch buffer is laid
 * out [peer rank][slot c][local expert e][m], so what a rank receives is [source rank][c][e][m]:
 * expert e's N = world * C token rows are m floats at e * m, el * m apart -- a column-major
 * matrix with ld = el * m and batch stride m. No layout copy is needed around the all-to-alls. */
static void expert_fc1(gen_t *G, const char *op, lct_role_t role, uint64_t w, uint64_t x,
                       uint64_t y)
{
    int64_t m = G->cfg->m, el = G->cfg->experts_per_gpu, N = G->d.expert_tokens;
    gemm_args_t a = {true, false, 4 * m, N, m, 1.0, 0.0, w, x, y, m, el * m, 4 * m, 4 * m * m, m,
                     N * 4 * m, el};
    gemm(G, op, role, &a);
}

static void moe_fwd(gen_t *G, layer_t *L)
{
    const lct_gen_cfg_t *c = G->cfg;
    int64_t T = G->d.tokens, m = c->m, E = G->d.experts, el = c->experts_per_gpu,
            N = G->d.expert_tokens;
    uint64_t te = (uint64_t)T * (uint64_t)E * F32, eN4m = (uint64_t)el * N * 4 * m * F32;
    kern_t k;
    set_scope(G, "l%d.moe", G->layer);
    L->glog = buf(G, te);
    linear_fwd(G, "gate_gemm", T, m, E, L->ln2o, pw(G, L->gate_w), L->glog);
    /* softmax over experts, top-1, capacity: per token expert id (i32), slot (i32, -1 when
     * dropped) and gate probability (f32); counts[E] is the kernel's slot counter workspace */
    L->probs = buf(G, te);
    L->plan = buf(G, (uint64_t)T * 3 * F32);
    L->counts = buf(G, (uint64_t)E * F32);
    k_begin(G, &k, "gate_top1_fwd", LCT_ROLE_OTHER);
    K_IN(&k, L->glog);
    K_OUT(&k, L->probs);
    K_OUT(&k, L->plan);
    K_OUT(&k, L->counts);
    k_word(&k, (uint64_t)T);
    k_word(&k, (uint64_t)E);
    k_word(&k, (uint64_t)G->d.capacity);
    k_end(&k, (uint64_t)T);
    L->send1 = buf(G, G->d.a2a_bytes);
    k_begin(G, &k, "dispatch_fwd", LCT_ROLE_OTHER);
    k_arg(&k, L->ln2o, LCT_ACC_READ, false); /* rows of the tokens kept */
    K_IN(&k, L->plan);
    K_OUT(&k, L->send1); /* every slot: unused ones are zeroed */
    k_word(&k, (uint64_t)T);
    k_word(&k, (uint64_t)m);
    k_word(&k, (uint64_t)G->d.capacity);
    k_end(&k, (uint64_t)T);
    L->recv1 = buf(G, G->d.a2a_bytes);
    a2a(G, "a2a_dispatch", L->send1, L->recv1);
    L->eh = buf(G, eN4m);
    expert_fc1(G, "expert_fc1_gemm", LCT_ROLE_OTHER, pw(G, L->efc1_w).addr, L->recv1.addr,
               L->eh.addr);
    L->ea = buf(G, eN4m);
    k_begin(G, &k, "relu_fwd", LCT_ROLE_OTHER);
    K_IN(&k, L->eh);
    K_OUT(&k, L->ea);
    k_word(&k, eN4m / F32);
    k_end(&k, blocks_for(eN4m / F32));
    L->send2 = buf(G, G->d.a2a_bytes);
    gemm_args_t f2 = {true, false, m, N, 4 * m, 1.0, 0.0, pw(G, L->efc2_w).addr, L->ea.addr,
                      L->send2.addr, 4 * m, 4 * m, el * m, m * 4 * m, N * 4 * m, m, el};
    gemm(G, "expert_fc2_gemm", LCT_ROLE_OTHER, &f2);
    L->recv2 = buf(G, G->d.a2a_bytes);
    a2a(G, "a2a_combine", L->send2, L->recv2);
    L->mo = buf(G, (uint64_t)T * (uint64_t)m * F32);
    k_begin(G, &k, "combine_fwd", LCT_ROLE_OTHER);
    k_arg(&k, L->recv2, LCT_ACC_READ, false); /* the slots holding kept tokens */
    K_IN(&k, L->plan);
    K_OUT(&k, L->mo); /* dropped tokens get zeros */
    k_word(&k, (uint64_t)T);
    k_word(&k, (uint64_t)m);
    k_word(&k, (uint64_t)G->d.capacity);
    k_end(&k, (uint64_t)T);
    L->out = buf(G, (uint64_t)T * (uint64_t)m * F32);
    residual_add(G, L->h, L->mo, NULL, L->out);
}

static void forward(gen_t *G)
{
    const lct_gen_cfg_t *c = G->cfg;
    int64_t T = G->d.tokens, m = c->m;
    uint64_t tm = (uint64_t)T * (uint64_t)m * F32;
    kern_t k;
    G->phase = LCT_PHASE_FORWARD;
    G->layer = G->moe = -1;

    G->tokens = buf(G, (uint64_t)T * F32);
    G->labels = buf(G, (uint64_t)T * F32);
    set_scope(G, "embed");
    tensor_t x = buf(G, tm);
    k_begin(G, &k, "embedding_fwd", LCT_ROLE_OTHER);
    K_IN(&k, G->tokens);
    k_arg(&k, pw(G, G->wte), LCT_ACC_READ, false); /* the rows of the tokens present */
    tensor_t pos = {pw(G, G->wpe).addr, (uint64_t)c->sl * (uint64_t)m * F32};
    K_IN(&k, pos);
    K_OUT(&k, x);
    k_word(&k, (uint64_t)T);
    k_word(&k, (uint64_t)m);
    k_end(&k, (uint64_t)T);

    for (int l = 0; l < c->nl; l++) {
        layer_t *L = &G->layers[l];
        G->layer = l;
        G->moe = -1;
        L->x = x;
        attention_fwd(G, L);
        if (L->moe)
            G->moe = L->moe_idx;
        set_scope(G, "l%d.ln2", l);
        L->ln2o = buf(G, tm);
        L->st2 = buf(G, (uint64_t)T * 2 * F32);
        layer_norm_fwd(G, L->h, L->ln2_w, L->ln2_b, L->ln2o, L->st2);
        if (L->moe)
            moe_fwd(G, L);
        else
            dense_fwd(G, L);
        x = L->out;
    }

    G->layer = G->moe = -1;
    set_scope(G, "head");
    G->lnfo = buf(G, tm);
    G->stf = buf(G, (uint64_t)T * 2 * F32);
    layer_norm_fwd(G, x, G->lnf_w, G->lnf_b, G->lnfo, G->stf);
    /* tied output projection: logits[T, V] = lnf[T, m] wte[V, m]^T */
    G->logits = buf(G, (uint64_t)T * (uint64_t)c->vocab * F32);
    linear_fwd(G, "logits_gemm", T, m, c->vocab, G->lnfo, pw(G, G->wte), G->logits);
    G->loss = buf(G, F32);
    G->lse = buf(G, (uint64_t)T * F32);
    k_begin(G, &k, "cross_entropy_fwd", LCT_ROLE_OTHER);
    K_IN(&k, G->logits);
    K_IN(&k, G->labels);
    K_OUT(&k, G->loss);
    K_OUT(&k, G->lse);
    k_word(&k, (uint64_t)T);
    k_word(&k, (uint64_t)c->vocab);
    k_end(&k, (uint64_t)T);
}

/* ---------------------------------------------------------------- backward */

/* MLP half of a dense layer. dy: gradient of the layer output; returns dh (gradient of h). */
static tensor_t dense_bwd(gen_t *G, layer_t *L, tensor_t dy)
{
    int64_t T = G->d.tokens, m = G->cfg->m;
    uint64_t tm = (uint64_t)T * (uint64_t)m * F32;
    kern_t k;
    set_scope(G, "l%d.mlp", G->layer);
    tensor_t dg = galloc(G, "d_gelu", 4 * tm);
    linear_dx(G, "fc2_gemm.dx", T, 4 * m, m, dy, pw(G, L->fc2_w), dg, 0.0);
    linear_dw(G, "fc2_gemm.dw", T, 4 * m, m, L->gl, dy, pg(G, L->fc2_w));
    grad_ready(G, L->fc2_w);
    bias_grad(G, "fc2_gemm.db", dy, L->fc2_b, m);
    tensor_t du = galloc(G, "d_fc1", 4 * tm);
    k_begin(G, &k, "bias_gelu_bwd", LCT_ROLE_OTHER);
    K_IN(&k, dg);
    K_IN(&k, L->u);
    K_IN(&k, pw(G, L->fc1_b));
    K_OUT(&k, du);
    k_word(&k, (uint64_t)T);
    k_word(&k, (uint64_t)(4 * m));
    k_end(&k, blocks_for(4 * tm / F32));
    gfree(G, "d_gelu", dg);
    set_scope(G, "l%d.mlp", G->layer);
    tensor_t dln2 = galloc(G, "d_ln2", tm);
    linear_dx(G, "fc1_gemm.dx", T, m, 4 * m, du, pw(G, L->fc1_w), dln2, 0.0);
    linear_dw(G, "fc1_gemm.dw", T, m, 4 * m, L->ln2o, du, pg(G, L->fc1_w));
    grad_ready(G, L->fc1_w);
    bias_grad(G, "fc1_gemm.db", du, L->fc1_b, 4 * m);
    gfree(G, "d_fc1", du);
    set_scope(G, "l%d.ln2", G->layer);
    tensor_t dh = galloc(G, "d_h", tm);
    layer_norm_bwd(G, dln2, L->h, L->st2, L->ln2_w, &dy, dh);
    gfree(G, "d_out", dy);
    layer_norm_bwd_gamma_beta(G, dln2, L->h, L->st2, L->ln2_w, L->ln2_b);
    gfree(G, "d_ln2", dln2);
    return dh;
}

static tensor_t moe_bwd(gen_t *G, layer_t *L, tensor_t dy)
{
    const lct_gen_cfg_t *c = G->cfg;
    int64_t T = G->d.tokens, m = c->m, E = G->d.experts, el = c->experts_per_gpu,
            N = G->d.expert_tokens;
    uint64_t tm = (uint64_t)T * (uint64_t)m * F32, eN4m = (uint64_t)el * N * 4 * m * F32;
    uint64_t ab = G->d.a2a_bytes;
    kern_t k;
    set_scope(G, "l%d.moe", G->layer);
    /* combine backward: d(expert output) scattered to the slots, d(gate prob) per token */
    tensor_t drecv2 = galloc(G, "d_recv2", ab);
    tensor_t dprob = galloc(G, "d_prob", (uint64_t)T * F32);
    k_begin(G, &k, "combine_bwd", LCT_ROLE_OTHER);
    K_IN(&k, dy);
    K_IN(&k, L->plan);
    k_arg(&k, L->recv2, LCT_ACC_READ, false);
    K_OUT(&k, drecv2);
    K_OUT(&k, dprob);
    k_word(&k, (uint64_t)T);
    k_word(&k, (uint64_t)m);
    k_word(&k, (uint64_t)G->d.capacity);
    k_end(&k, (uint64_t)T);
    tensor_t dsend2 = galloc(G, "d_send2", ab);
    a2a(G, "a2a_combine_bwd", drecv2, dsend2);
    gfree(G, "d_recv2", drecv2);
    /* expert fc2 backward: dX = dY W2, dW2 = dY^T ea, batched over the local experts */
    tensor_t dea = galloc(G, "d_expert_act", eN4m);
    gemm_args_t dx2 = {false, false, 4 * m, N, m, 1.0, 0.0, pw(G, L->efc2_w).addr, dsend2.addr,
                       dea.addr, 4 * m, el * m, 4 * m, m * 4 * m, m, N * 4 * m, el};
    gemm(G, "expert_fc2_gemm.dx", LCT_ROLE_DX, &dx2);
    gemm_args_t dw2 = {false, true, 4 * m, m, N, 1.0, 0.0, L->ea.addr, dsend2.addr,
                       pg(G, L->efc2_w).addr, 4 * m, el * m, 4 * m, N * 4 * m, m, m * 4 * m, el};
    gemm(G, "expert_fc2_gemm.dw", LCT_ROLE_DW, &dw2);
    gfree(G, "d_send2", dsend2);
    tensor_t deh = galloc(G, "d_expert_h", eN4m);
    k_begin(G, &k, "relu_bwd", LCT_ROLE_OTHER);
    K_IN(&k, dea);
    K_IN(&k, L->ea);
    K_OUT(&k, deh);
    k_word(&k, eN4m / F32);
    k_end(&k, blocks_for(eN4m / F32));
    gfree(G, "d_expert_act", dea);
    /* expert fc1 backward: dX written in the received layout, ready to be sent back */
    tensor_t drecv1 = galloc(G, "d_recv1", ab);
    gemm_args_t dx1 = {false, false, m, N, 4 * m, 1.0, 0.0, pw(G, L->efc1_w).addr, deh.addr,
                       drecv1.addr, m, 4 * m, el * m, 4 * m * m, N * 4 * m, m, el};
    gemm(G, "expert_fc1_gemm.dx", LCT_ROLE_DX, &dx1);
    gemm_args_t dw1 = {false, true, m, 4 * m, N, 1.0, 0.0, L->recv1.addr, deh.addr,
                       pg(G, L->efc1_w).addr, el * m, 4 * m, m, m, N * 4 * m, 4 * m * m, el};
    gemm(G, "expert_fc1_gemm.dw", LCT_ROLE_DW, &dw1);
    gfree(G, "d_expert_h", deh);
    tensor_t dsend1 = galloc(G, "d_send1", ab);
    a2a(G, "a2a_dispatch_bwd", drecv1, dsend1);
    gfree(G, "d_recv1", drecv1);
    tensor_t dln2 = galloc(G, "d_ln2", tm);
    k_begin(G, &k, "dispatch_bwd", LCT_ROLE_OTHER);
    k_arg(&k, dsend1, LCT_ACC_READ, false);
    K_IN(&k, L->plan);
    K_OUT(&k, dln2);
    k_word(&k, (uint64_t)T);
    k_word(&k, (uint64_t)m);
    k_word(&k, (uint64_t)G->d.capacity);
    k_end(&k, (uint64_t)T);
    gfree(G, "d_send1", dsend1);
    /* gate: softmax/top-1 backward, then the gate GEMM, accumulating into d_ln2 (beta 1) */
    tensor_t dglog = galloc(G, "d_gate_logits", (uint64_t)T * (uint64_t)E * F32);
    k_begin(G, &k, "gate_top1_bwd", LCT_ROLE_OTHER);
    K_IN(&k, dprob);
    K_IN(&k, L->probs);
    K_IN(&k, L->plan);
    K_OUT(&k, dglog);
    k_word(&k, (uint64_t)T);
    k_word(&k, (uint64_t)E);
    k_end(&k, (uint64_t)T);
    gfree(G, "d_prob", dprob);
    linear_dx(G, "gate_gemm.dx", T, m, E, dglog, pw(G, L->gate_w), dln2, 1.0);
    linear_dw(G, "gate_gemm.dw", T, m, E, L->ln2o, dglog, pg(G, L->gate_w));
    grad_ready(G, L->gate_w);
    gfree(G, "d_gate_logits", dglog);
    set_scope(G, "l%d.ln2", G->layer);
    tensor_t dh = galloc(G, "d_h", tm);
    layer_norm_bwd(G, dln2, L->h, L->st2, L->ln2_w, &dy, dh);
    gfree(G, "d_out", dy);
    layer_norm_bwd_gamma_beta(G, dln2, L->h, L->st2, L->ln2_w, L->ln2_b);
    gfree(G, "d_ln2", dln2);
    return dh;
}

/* Attention half. dh: gradient of h; returns the gradient of the layer input. */
static tensor_t attention_bwd(gen_t *G, layer_t *L, tensor_t dh)
{
    const lct_gen_cfg_t *c = G->cfg;
    int64_t T = G->d.tokens, m = c->m, sl = c->sl, hd = m / c->nh, bh = (int64_t)c->b * c->nh;
    uint64_t tm = (uint64_t)T * (uint64_t)m * F32, ss = (uint64_t)bh * sl * sl * F32;
    double scale = 1.0 / sqrt((double)hd);
    kern_t k;
    set_scope(G, "l%d.attn", G->layer);
    tensor_t dctx = galloc(G, "d_ctx", tm);
    linear_dx(G, "proj_gemm.dx", T, m, m, dh, pw(G, L->proj_w), dctx, 0.0);
    linear_dw(G, "proj_gemm.dw", T, m, m, L->ctx, dh, pg(G, L->proj_w));
    grad_ready(G, L->proj_w);
    bias_grad(G, "proj_gemm.db", dh, L->proj_b, m);
    tensor_t dO = galloc(G, "d_o", tm);
    k_begin(G, &k, "merge_heads_bwd", LCT_ROLE_OTHER);
    K_IN(&k, dctx);
    K_OUT(&k, dO);
    k_word(&k, (uint64_t)T);
    k_word(&k, (uint64_t)m);
    k_word(&k, (uint64_t)c->nh);
    k_end(&k, blocks_for(tm / F32));
    gfree(G, "d_ctx", dctx);
    /* O = P V: dP = dO V^T, dV = P^T dO */
    tensor_t dP = galloc(G, "d_p", ss);
    gemm_args_t a1 = {true, false, sl, sl, hd, 1.0, 0.0, L->v.addr, dO.addr, dP.addr, hd, hd, sl,
                      sl * hd, sl * hd, sl * sl, bh};
    gemm(G, "pv_gemm.dx_p", LCT_ROLE_DX, &a1);
    tensor_t dV = galloc(G, "d_v", tm);
    gemm_args_t a2 = {false, true, hd, sl, sl, 1.0, 0.0, dO.addr, L->p.addr, dV.addr, hd, sl, hd,
                      sl * hd, sl * sl, sl * hd, bh};
    gemm(G, "pv_gemm.dx_v", LCT_ROLE_DX, &a2);
    gfree(G, "d_o", dO);
    tensor_t dS = galloc(G, "d_s", ss);
    k_begin(G, &k, "causal_softmax_bwd", LCT_ROLE_OTHER);
    K_IN(&k, dP);
    K_IN(&k, L->p);
    K_OUT(&k, dS);
    k_word(&k, (uint64_t)bh * (uint64_t)sl);
    k_word(&k, (uint64_t)sl);
    k_end(&k, (uint64_t)bh * (uint64_t)sl);
    gfree(G, "d_p", dP);
    /* S = Q K^T * scale: dQ = scale dS K, dK = scale dS^T Q */
    tensor_t dQ = galloc(G, "d_q", tm);
    gemm_args_t a3 = {false, false, hd, sl, sl, scale, 0.0, L->k.addr, dS.addr, dQ.addr, hd, sl,
                      hd, sl * hd, sl * sl, sl * hd, bh};
    gemm(G, "scores_gemm.dx_q", LCT_ROLE_DX, &a3);
    tensor_t dK = galloc(G, "d_k", tm);
    gemm_args_t a4 = {false, true, hd, sl, sl, scale, 0.0, L->q.addr, dS.addr, dK.addr, hd, sl,
                      hd, sl * hd, sl * sl, sl * hd, bh};
    gemm(G, "scores_gemm.dx_k", LCT_ROLE_DX, &a4);
    gfree(G, "d_s", dS);
    tensor_t dqkv = galloc(G, "d_qkv", 3 * tm);
    k_begin(G, &k, "split_heads_bwd", LCT_ROLE_OTHER);
    K_IN(&k, dQ);
    K_IN(&k, dK);
    K_IN(&k, dV);
    K_OUT(&k, dqkv);
    k_word(&k, (uint64_t)T);
    k_word(&k, (uint64_t)m);
    k_word(&k, (uint64_t)c->nh);
    k_end(&k, blocks_for(3 * tm / F32));
    gfree(G, "d_q", dQ);
    gfree(G, "d_k", dK);
    gfree(G, "d_v", dV);
    tensor_t dln1 = galloc(G, "d_ln1", tm);
    linear_dx(G, "qkv_gemm.dx", T, m, 3 * m, dqkv, pw(G, L->qkv_w), dln1, 0.0);
    linear_dw(G, "qkv_gemm.dw", T, m, 3 * m, L->ln1o, dqkv, pg(G, L->qkv_w));
    grad_ready(G, L->qkv_w);
    bias_grad(G, "qkv_gemm.db", dqkv, L->qkv_b, 3 * m);
    gfree(G, "d_qkv", dqkv);
    set_scope(G, "l%d.ln1", G->layer);
    tensor_t dx = galloc(G, "d_x", tm);
    layer_norm_bwd(G, dln1, L->x, L->st1, L->ln1_w, &dh, dx);
    gfree(G, "d_h", dh);
    layer_norm_bwd_gamma_beta(G, dln1, L->x, L->st1, L->ln1_w, L->ln1_b);
    gfree(G, "d_ln1", dln1);
    return dx;
}

static void backward(gen_t *G)
{
    const lct_gen_cfg_t *c = G->cfg;
    int64_t T = G->d.tokens, m = c->m, V = c->vocab;
    uint64_t tm = (uint64_t)T * (uint64_t)m * F32;
    kern_t k;
    G->phase = LCT_PHASE_BACKWARD;
    G->layer = G->moe = -1;
    set_scope(G, "head");
    tensor_t dlogits = galloc(G, "d_logits", (uint64_t)T * (uint64_t)V * F32);
    k_begin(G, &k, "cross_entropy_bwd", LCT_ROLE_OTHER);
    K_IN(&k, G->logits);
    K_IN(&k, G->lse);
    K_IN(&k, G->labels);
    K_OUT(&k, dlogits);
    k_word(&k, (uint64_t)T);
    k_word(&k, (uint64_t)V);
    k_end(&k, (uint64_t)T);
    tensor_t dlnf = galloc(G, "d_lnf", tm);
    linear_dx(G, "logits_gemm.dx", T, m, V, dlogits, pw(G, G->wte), dlnf, 0.0);
    /* first of the tied weight's two contributions; its gradient is final after the embedding */
    linear_dw(G, "logits_gemm.dw", T, m, V, G->lnfo, dlogits, pg(G, G->wte));
    gfree(G, "d_logits", dlogits);
    tensor_t dy = galloc(G, "d_x", tm);
    tensor_t xL = c->nl > 0 ? G->layers[c->nl - 1].out : dy;
    layer_norm_bwd(G, dlnf, xL, G->stf, G->lnf_w, NULL, dy);
    layer_norm_bwd_gamma_beta(G, dlnf, xL, G->stf, G->lnf_w, G->lnf_b);
    gfree(G, "d_lnf", dlnf);

    for (int l = c->nl - 1; l >= 0; l--) {
        layer_t *L = &G->layers[l];
        G->layer = l;
        G->moe = L->moe ? L->moe_idx : -1;
        tensor_t dh = L->moe ? moe_bwd(G, L, dy) : dense_bwd(G, L, dy);
        G->moe = -1;
        dy = attention_bwd(G, L, dh);
    }

    G->layer = G->moe = -1;
    set_scope(G, "embed");
    k_begin(G, &k, "embedding_bwd", LCT_ROLE_DW);
    K_IN(&k, dy);
    K_IN(&k, G->tokens);
    k_arg(&k, pg(G, G->wte), LCT_ACC_RW, false); /* adds into the rows of the tokens present */
    K_OUT(&k, pg(G, G->wpe));                   /* every position row (unused ones zero) */
    k_word(&k, (uint64_t)T);
    k_word(&k, (uint64_t)m);
    k_end(&k, (uint64_t)T);
    grad_ready(G, G->wte);
    grad_ready(G, G->wpe);
    gfree(G, "d_x", dy);
    if (!G->st && G->next_bucket != G->buckets.len) {
        LCT_WARN("gen: %zu gradient buckets never became ready", G->buckets.len - G->next_bucket);
        G->st = LCT_ERR_INTERNAL;
    }
}

/* SGD with momentum, one multi-tensor kernel per bucket and one for the expert weights:
 * mom = mu * mom + grad; w -= lr * mom. */
static void sgd_kernel(gen_t *G, const char *op, tensor_t flat_grad, const uint32_t *idx,
                       uint32_t n)
{
    kern_t k;
    uint64_t elems = 0;
    k_begin(G, &k, op, LCT_ROLE_OTHER);
    if (flat_grad.bytes)
        K_IN(&k, flat_grad);
    for (uint32_t j = 0; j < n; j++) {
        param_t *p = &G->params.data[idx[j]];
        if (!flat_grad.bytes)
            K_IN(&k, p->grad);
        k_arg(&k, p->w, LCT_ACC_RW, true);
        k_arg(&k, p->mom, LCT_ACC_RW, true);
        k_word(&k, p->bytes / F32);
        elems += p->bytes / F32;
    }
    k_word(&k, n);
    k_end(&k, blocks_for(elems));
}

static void optimizer(gen_t *G)
{
    G->phase = LCT_PHASE_OPTIMIZER;
    G->layer = G->moe = -1;
    set_scope(G, "opt");
    /* DDP's finalize: the compute stream waits for the NCCL stream (all the all-reduces) */
    if (G->last[LCT_GEN_STREAM_NCCL] != NONE)
        G->wait_src = G->last[LCT_GEN_STREAM_NCCL];
    char op[48];
    for (size_t b = 0; b < G->buckets.len; b++) {
        bucket_t *B = &G->buckets.data[b];
        snprintf(op, sizeof(op), "sgd_momentum.bucket%zu", b);
        sgd_kernel(G, op, B->grad, G->order.data + B->first, B->n);
    }
    LCT_VEC(uint32_t) ex = {0};
    for (size_t i = 0; i < G->params.len && !G->st; i++)
        if (G->params.data[i].expert && LCT_VEC_PUSH(&ex, (uint32_t)i) != LCT_OK)
            G->st = LCT_ERR_NOMEM;
    if (ex.len) {
        tensor_t none = {0, 0};
        sgd_kernel(G, "sgd_momentum.experts", none, ex.data, (uint32_t)ex.len);
    }
    LCT_VEC_FREE(&ex);
}

static lct_status_t fill_meta(gen_t *G)
{
    const lct_gen_cfg_t *c = G->cfg;
    lct_graph_t *g = G->g;
    char name[128], model[512];
    lct_gen_cfg_name(c, name, sizeof(name));
    snprintf(model, sizeof(model),
             "gpt2-moe nl=%d m=%d nh=%d sl=%d b=%d vocab=%d moe_every=%d experts_per_gpu=%d "
             "capacity_factor=%g gate=%s dtype=%s world_size=%d gpus_per_node=%d rank=%d "
             "bucket_bytes=%" PRIu64 " device=%s fabric=%s experts=%" PRId64 " capacity=%" PRId64
             " optimizer=sgd_momentum",
             c->nl, c->m, c->nh, c->sl, c->b, c->vocab, c->moe_every, c->experts_per_gpu,
             c->capacity_factor, c->gate, lct_dtype_name(c->dtype), c->world_size,
             c->gpus_per_node, c->rank, c->bucket_bytes, G->dev->name, G->fab->name, G->d.experts,
             G->d.capacity);
    g->meta.name = (char *)lct_graph_strdup(g, name);
    g->meta.model = (char *)lct_graph_strdup(g, model);
    g->meta.device = (char *)lct_graph_strdup(g, G->dev->name);
    g->meta.fabric = (char *)lct_graph_strdup(g, G->fab->name);
    g->meta.world_size = c->world_size;
    g->meta.rank = c->rank;
    g->meta.gpus_per_node = c->gpus_per_node;
    if (!g->meta.name || !g->meta.model || !g->meta.device || !g->meta.fabric)
        return LCT_ERR_NOMEM;
    return LCT_OK;
}

lct_status_t lct_gen_graph(const lct_gen_cfg_t *cfg, lct_graph_t **g_p)
{
    char err[256];
    if (lct_gen_cfg_validate(cfg, err, sizeof(err)) != LCT_OK) {
        LCT_WARN("gen: invalid configuration: %s", err);
        return LCT_ERR_INVALID;
    }
    gen_t G;
    memset(&G, 0, sizeof(G));
    G.cfg = cfg;
    G.d = lct_gen_dims(cfg);
    G.dev = lct_device_profile_find(cfg->device);
    G.next_addr = LCT_GEN_ADDR_BASE;
    G.last[0] = G.last[1] = NONE;
    G.wait_src = NONE;
    G.fab = lct_fabric_profile_find(cfg->fabric);
    /* The curves see the nodes as configured: gpus_per_node may use fewer GPUs than a node has. */
    lct_fabric_profile_t fab = *G.fab;
    fab.gpus_per_node = cfg->gpus_per_node;
    G.st = lct_curves_model(&fab, cfg->world_size, &G.cs);
    if (G.st) {
        LCT_WARN("gen: no collective curves for fabric %s at %d ranks", cfg->fabric,
                 cfg->world_size);
        return G.st;
    }
    G.cs_valid = true;
    G.layers = calloc((size_t)cfg->nl, sizeof(*G.layers));
    if (!G.layers)
        G.st = LCT_ERR_NOMEM;
    int nmoe = 0;
    for (int l = 0; !G.st && l < cfg->nl; l++) {
        G.layers[l].moe = cfg->moe_every > 0 && l % cfg->moe_every == 0;
        G.layers[l].moe_idx = G.layers[l].moe ? nmoe++ : -1;
    }
    if (!G.st)
        G.st = lct_graph_create(&G.g);
    if (!G.st) {
        G.g->meta.world_size = cfg->world_size;
        register_params(&G);
        layout_params(&G);
        forward(&G);
        backward(&G);
        optimizer(&G);
    }
    if (!G.st)
        G.st = fill_meta(&G);
    if (!G.st)
        G.st = lct_graph_fill_adj(G.g);
    lct_status_t st = G.st;
    if (st == LCT_OK)
        *g_p = G.g;
    else
        lct_graph_destroy(G.g);
    free(G.layers);
    LCT_VEC_FREE(&G.params);
    LCT_VEC_FREE(&G.order);
    LCT_VEC_FREE(&G.buckets);
    LCT_VEC_FREE(&G.words);
    if (G.cs_valid)
        lct_curves_free(&G.cs);
    return st;
}
