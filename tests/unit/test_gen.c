/* Unit tests of the step-graph generator: node counts per layer type, GEMM footprints against
 * their call records, dX/dW pairs, all-to-alls, DDP buckets and their all-reduces, graph memory
 * nodes, edges and launch order, costs, configuration errors, determinism of the JSON. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/lct_log.h"
#include "cost/lct_cost.h"
#include "gen/lct_gen.h"
#include "ir/lct_ir_json.h"

/* The tiny configuration: layer 0 MoE, layer 1 dense, T = 32 tokens, E = 8 experts, capacity
 * C = 32 / 8 = 4 slots per (rank, expert), each local expert sees N = 4 * 4 = 16 tokens. A small
 * bucket cap gives several buckets. */
static lct_gen_cfg_t tiny_cfg(void)
{
    lct_gen_cfg_t c;
    ck_assert_int_eq(lct_gen_cfg_preset("gpt2-s", "a100", &c), LCT_OK);
    c.nl = 2;
    c.m = 64;
    c.nh = 2;
    c.sl = 16;
    c.b = 2;
    c.vocab = 1000;
    c.world_size = 4;
    c.bucket_bytes = 40 * 1024;
    return c;
}

static lct_graph_t *gen(const lct_gen_cfg_t *c)
{
    lct_graph_t *g = NULL;
    ck_assert_int_eq(lct_gen_graph(c, &g), LCT_OK);
    ck_assert_ptr_nonnull(g);
    return g;
}

static int find(const lct_graph_t *g, const char *name)
{
    for (uint32_t i = 0; i < LCT_NNODES(g); i++)
        if (strcmp(LCT_NODE(g, i)->name, name) == 0)
            return (int)i;
    return -1;
}

static bool is_gemm(const lct_node_t *n) { return n->call.kind == LCT_CALL_GEMM; }

/* Non-expert parameter elements of a configuration, written out from the model's definition. */
static uint64_t non_expert_params(const lct_gen_cfg_t *c)
{
    uint64_t m = (uint64_t)c->m, E = (uint64_t)c->experts_per_gpu * (uint64_t)c->world_size;
    uint64_t n = (uint64_t)c->vocab * m + 1024 * m + 2 * m; /* wte, wpe, ln_f */
    for (int l = 0; l < c->nl; l++) {
        n += 2 * m + 3 * m * m + 3 * m + m * m + m + 2 * m; /* ln_1, c_attn, c_proj, ln_2 */
        if (c->moe_every > 0 && l % c->moe_every == 0)
            n += E * m; /* gate */
        else
            n += 4 * m * m + 4 * m + 4 * m * m + m; /* c_fc, c_proj */
    }
    return n;
}

START_TEST(node_counts_per_layer_type)
{
    lct_gen_cfg_t c = tiny_cfg();
    lct_graph_t *g = gen(&c);
    /* Counted by hand from the modelled step (docs/lancet-gen.md):
     * forward  attention 10 (ln1, qkv, split, scores, softmax, pv, merge, proj, residual, ln2)
     *          + dense 4 (fc1, gelu, fc2, residual) or MoE 10 (gate gemm, gate, dispatch, a2a,
     *          fc1, relu, fc2, a2a, combine, residual); embedding 1, head 3 (ln_f, logits, loss)
     * backward dense MLP 17 (9 compute, 4 alloc, 4 free), MoE MLP 34 (12 compute, 2 a2a,
     *          10 alloc, 10 free), attention 35 (15 compute, 10 alloc, 10 free);
     *          head 10 (5 compute, 3 alloc, 2 free), embedding 2 (1 compute, 1 free) */
    int fwd[3] = {0}, bwd[3] = {0}, opt = 0, ar = 0, allocs = 0, frees = 0;
    for (uint32_t i = 0; i < LCT_NNODES(g); i++) {
        const lct_node_t *n = LCT_NODE(g, i);
        ck_assert_int_ge(n->layer, -1);
        ck_assert_int_le(n->layer, 1);
        if (n->role == LCT_ROLE_ALLREDUCE) {
            ar++;
            ck_assert_int_eq(n->phase, LCT_PHASE_BACKWARD);
            continue;
        }
        allocs += n->kind == LCT_NODE_MEM_ALLOC;
        frees += n->kind == LCT_NODE_MEM_FREE;
        if (n->phase == LCT_PHASE_FORWARD)
            fwd[n->layer + 1]++;
        else if (n->phase == LCT_PHASE_BACKWARD)
            bwd[n->layer + 1]++;
        else if (n->phase == LCT_PHASE_OPTIMIZER)
            opt++;
        else
            ck_abort_msg("node %u (%s) has no phase", i, n->name);
    }
    ck_assert_int_eq(fwd[0], 4);
    ck_assert_int_eq(fwd[1], 20);
    ck_assert_int_eq(fwd[2], 14);
    ck_assert_int_eq(bwd[0], 12);
    ck_assert_int_eq(bwd[1], 34 + 35);
    ck_assert_int_eq(bwd[2], 17 + 35);
    ck_assert_int_eq(allocs, 3 + 10 + 4 + 2 * 10);
    ck_assert_int_eq(frees, allocs);
    ck_assert_int_ge(ar, 2); /* the small cap gives several buckets */
    ck_assert_int_eq(opt, ar + 1); /* one SGD kernel per bucket, one for the experts */
    ck_assert_uint_eq(LCT_NNODES(g), 4 + 20 + 14 + 12 + 69 + 52 + ar + opt);
    /* moe ordinal: the MLP half of layer 0 (ln2 .. residual, forward and backward) */
    int moe_nodes = 0;
    for (uint32_t i = 0; i < LCT_NNODES(g); i++) {
        const lct_node_t *n = LCT_NODE(g, i);
        if (n->moe >= 0) {
            ck_assert_int_eq(n->moe, 0);
            ck_assert_int_eq(n->layer, 0);
            moe_nodes++;
        }
    }
    ck_assert_int_eq(moe_nodes, 11 + 34);
    ck_assert_int_eq(LCT_NODE(g, find(g, "l0.moe.a2a_dispatch"))->moe, 0);
    ck_assert_int_eq(LCT_NODE(g, find(g, "l1.mlp.fc1_gemm"))->moe, -1);
    lct_graph_destroy(g);

    /* a dense model has no all-to-all and no expert optimizer kernel */
    c.moe_every = 0;
    g = gen(&c);
    int a2a = 0, optn = 0;
    for (uint32_t i = 0; i < LCT_NNODES(g); i++) {
        a2a += LCT_NODE(g, i)->role == LCT_ROLE_A2A;
        optn += LCT_NODE(g, i)->phase == LCT_PHASE_OPTIMIZER;
    }
    ck_assert_int_eq(a2a, 0);
    ck_assert_int_eq(find(g, "opt.sgd_momentum.experts"), -1);
    ck_assert_int_ge(optn, 1);
    lct_graph_destroy(g);
}
END_TEST

/* Operand span written from the cuBLAS definition: column j of batch i starts at
 * base + (i * stride + j * ld) * 4. */
static void check_operand(const lct_range_t *r, uint64_t base, int64_t rows, int64_t cols,
                          int64_t ld, int64_t stride, int64_t batch, uint8_t acc)
{
    uint64_t lo = UINT64_MAX, hi = 0, touched = 0;
    for (int64_t i = 0; i < (stride ? batch : 1); i++)
        for (int64_t j = 0; j < cols; j++) {
            uint64_t a = base + (uint64_t)(i * stride + j * ld) * 4;
            lo = a < lo ? a : lo;
            hi = a + (uint64_t)rows * 4 > hi ? a + (uint64_t)rows * 4 : hi;
            touched += (uint64_t)rows * 4;
        }
    ck_assert_uint_eq(r->addr, lo);
    ck_assert_uint_eq(r->size, hi - lo);
    ck_assert_uint_eq(r->access, acc);
    /* every GEMM of this model touches its operands densely */
    ck_assert_uint_eq(touched, hi - lo);
    ck_assert_uint_eq(r->exact, 1);
}

START_TEST(gemm_footprints_match_call_records)
{
    lct_gen_cfg_t c = tiny_cfg();
    lct_graph_t *g = gen(&c);
    int ngemm = 0, nbatched = 0;
    for (uint32_t i = 0; i < LCT_NNODES(g); i++) {
        const lct_node_t *n = LCT_NODE(g, i);
        if (!is_gemm(n))
            continue;
        ngemm++;
        const lct_gemm_call_t *x = &n->call.u.gemm;
        ck_assert_str_eq(n->lib, "cublas");
        ck_assert_int_eq(n->fp.unknown, 0);
        ck_assert_uint_eq(n->fp.nranges, 3);
        ck_assert_int_eq(x->type_a, LCT_DTYPE_F32);
        ck_assert_int_eq(x->compute, LCT_DTYPE_F32);
        ck_assert_int_ge(x->lda, x->trans_a ? x->k : x->m);
        ck_assert_int_ge(x->ldb, x->trans_b ? x->n : x->k);
        ck_assert_int_ge(x->ldc, x->m);
        nbatched += x->batch > 1;
        check_operand(&n->fp.ranges[0], x->a, x->trans_a ? x->k : x->m, x->trans_a ? x->m : x->k,
                      x->lda, x->stride_a, x->batch, LCT_ACC_READ);
        check_operand(&n->fp.ranges[1], x->b, x->trans_b ? x->n : x->k, x->trans_b ? x->k : x->n,
                      x->ldb, x->stride_b, x->batch, LCT_ACC_READ);
        check_operand(&n->fp.ranges[2], x->c, x->m, x->n, x->ldc, x->stride_c, x->batch,
                      x->beta != 0.0 ? LCT_ACC_RW : LCT_ACC_WRITE);
    }
    /* per layer: 4 forward + 8 backward attention GEMMs; MoE 3 + 6, dense 2 + 4; head 1 + 2 */
    ck_assert_int_eq(ngemm, 2 * 12 + 9 + 6 + 3);
    ck_assert_int_eq(nbatched, 2 * 6 + 6); /* attention 2 + 4 per layer, experts 2 + 4 */

    /* the expert GEMM reads the received all-to-all buffer exactly */
    const lct_node_t *a2a = LCT_NODE(g, find(g, "l0.moe.a2a_dispatch"));
    const lct_node_t *fc1 = LCT_NODE(g, find(g, "l0.moe.expert_fc1_gemm"));
    ck_assert_uint_eq(fc1->fp.ranges[1].addr, a2a->coll.recvbuf);
    ck_assert_uint_eq(fc1->fp.ranges[1].size, a2a->coll.bytes);
    ck_assert_int_eq(fc1->call.u.gemm.batch, 2);
    ck_assert_int_eq(fc1->call.u.gemm.n, 16); /* N = world * C */
    /* the helper agrees with the records, and flags a strided operand with gaps as inexact */
    lct_gemm_call_t gap = fc1->call.u.gemm;
    gap.ldb = 3 * 64; /* 64 rows in columns 192 apart: holes between columns */
    gap.stride_b = 64;
    lct_range_t r[3];
    ck_assert_uint_eq(lct_gen_gemm_ranges(&gap, r), 3);
    ck_assert_uint_eq(r[1].exact, 0);
    ck_assert_uint_eq(r[1].size, (uint64_t)(64 + 15 * 192 + 64) * 4);
    lct_graph_destroy(g);
}
END_TEST

START_TEST(dx_dw_pairs)
{
    lct_gen_cfg_t c = tiny_cfg();
    lct_graph_t *g = gen(&c);
    int pairs = 0;
    for (uint32_t i = 0; i < LCT_NNODES(g); i++) {
        const lct_node_t *n = LCT_NODE(g, i);
        if (!is_gemm(n) || n->phase != LCT_PHASE_FORWARD)
            continue;
        char a[128], b[128];
        bool attn = strstr(n->name, "scores_gemm") || strstr(n->name, "pv_gemm");
        bool scores = strstr(n->name, "scores_gemm") != NULL;
        snprintf(a, sizeof(a), "%s.%s", n->name, attn ? (scores ? "dx_q" : "dx_p") : "dx");
        snprintf(b, sizeof(b), "%s.%s", n->name, attn ? (scores ? "dx_k" : "dx_v") : "dw");
        int ia = find(g, a), ib = find(g, b);
        ck_assert_msg(ia >= 0 && ib >= 0, "no backward pair for %s", n->name);
        const lct_node_t *na = LCT_NODE(g, (uint32_t)ia), *nb = LCT_NODE(g, (uint32_t)ib);
        ck_assert(is_gemm(na) && is_gemm(nb));
        ck_assert_int_eq(na->phase, LCT_PHASE_BACKWARD);
        ck_assert_int_eq(na->role, LCT_ROLE_DX);
        ck_assert_int_eq(nb->role, attn ? LCT_ROLE_DX : LCT_ROLE_DW);
        ck_assert_uint_lt(na->launch_order, nb->launch_order); /* dX first, then dW */
        ck_assert_int_eq(na->layer, n->layer);
        /* same work as the forward GEMM */
        const lct_gemm_call_t *f = &n->call.u.gemm, *x = &na->call.u.gemm, *w = &nb->call.u.gemm;
        double fl = (double)f->m * f->n * f->k * f->batch;
        ck_assert(fl == (double)x->m * x->n * x->k * x->batch);
        ck_assert(fl == (double)w->m * w->n * w->k * w->batch);
        if (!attn) {
            /* dW writes a gradient exactly the size of the weight the forward read */
            ck_assert_uint_eq(nb->fp.ranges[2].size, n->fp.ranges[0].size);
            ck_assert_uint_ne(nb->fp.ranges[2].addr, n->fp.ranges[0].addr);
            /* dX reads the weight */
            ck_assert_uint_eq(na->fp.ranges[0].addr, n->fp.ranges[0].addr);
        }
        pairs++;
    }
    ck_assert_int_eq(pairs, 2 * 4 + 3 + 2 + 1); /* attention, MoE, dense, head */
    /* bias, LayerNorm, gate-weight and embedding gradients are dW work too */
    ck_assert_int_eq(LCT_NODE(g, find(g, "l1.mlp.fc1_gemm.db"))->role, LCT_ROLE_DW);
    ck_assert_int_eq(LCT_NODE(g, find(g, "l0.ln1.layer_norm_bwd_gamma_beta"))->role, LCT_ROLE_DW);
    ck_assert_int_eq(LCT_NODE(g, find(g, "l0.moe.gate_gemm.dw"))->role, LCT_ROLE_DW);
    ck_assert_int_eq(LCT_NODE(g, find(g, "embed.embedding_bwd"))->role, LCT_ROLE_DW);
    ck_assert_int_eq(LCT_NODE(g, find(g, "l0.ln1.layer_norm_bwd"))->role, LCT_ROLE_OTHER);
    lct_graph_destroy(g);
}
END_TEST

START_TEST(all_to_alls)
{
    lct_gen_cfg_t c = tiny_cfg();
    c.nl = 4; /* MoE layers 0 and 2 */
    lct_graph_t *g = gen(&c);
    lct_gen_dims_t d = lct_gen_dims(&c);
    ck_assert_int_eq(d.experts, 8);
    ck_assert_int_eq(d.capacity, 4);
    ck_assert_int_eq(d.nmoe, 2);
    /* capacity factor 1 with E dividing T: one rank sends cf * b * sl * m * 4 bytes */
    ck_assert_uint_eq(d.a2a_bytes, 1 * 2 * 16 * 64 * 4);
    int per_moe[2][2] = {{0}}, n = 0;
    uint32_t seq = 0;
    for (uint32_t i = 0; i < LCT_NNODES(g); i++) {
        const lct_node_t *x = LCT_NODE(g, i);
        if (x->kind != LCT_NODE_COLLECTIVE || x->coll.op != LCT_COLL_ALLTOALL)
            continue;
        ck_assert_int_eq(x->role, LCT_ROLE_A2A);
        ck_assert_int_eq(x->stream, LCT_GEN_STREAM_NCCL);
        ck_assert_uint_eq(x->coll.comm, LCT_GEN_COMM_EP);
        ck_assert_uint_eq(x->coll.seq, seq++);
        ck_assert_int_eq(x->coll.nranks, 4);
        ck_assert_uint_eq(x->coll.bytes, d.a2a_bytes);
        ck_assert_uint_eq(x->coll.count * 4 * 4, d.a2a_bytes); /* per peer */
        ck_assert_int_eq(x->cost_src, LCT_COST_CURVE);
        ck_assert_int_ge(x->moe, 0);
        ck_assert_int_le(x->moe, 1);
        per_moe[x->moe][x->phase == LCT_PHASE_BACKWARD]++;
        /* the NCCL stream waits for the compute stream, the compute stream for the a2a */
        bool in = false, out = false;
        for (size_t e = 0; e < g->edges.len; e++) {
            const lct_edge_t *ed = &g->edges.data[e];
            if (ed->kind != LCT_EDGE_EVENT)
                continue;
            if (ed->dst == i && LCT_NODE(g, ed->src)->stream == LCT_GEN_STREAM_COMPUTE &&
                ed->src < i)
                in = true;
            if (ed->src == i && LCT_NODE(g, ed->dst)->stream == LCT_GEN_STREAM_COMPUTE &&
                ed->dst > i)
                out = true;
        }
        ck_assert_msg(in && out, "a2a %s lacks its event edges", x->name);
        n++;
    }
    ck_assert_int_eq(n, 4 * d.nmoe);
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(per_moe[k][0], 2);
        ck_assert_int_eq(per_moe[k][1], 2);
    }
    lct_graph_destroy(g);
}
END_TEST

/* Merge ranges [addr, addr + size) into a sorted disjoint list; returns the count. */
static int cmp_range(const void *a, const void *b)
{
    const lct_range_t *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static size_t merge(lct_range_t *r, size_t n)
{
    qsort(r, n, sizeof(*r), cmp_range);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (o && r[i].addr <= r[o - 1].addr + r[o - 1].size) {
            uint64_t end = r[i].addr + r[i].size;
            if (end > r[o - 1].addr + r[o - 1].size)
                r[o - 1].size = end - r[o - 1].addr;
        } else {
            r[o++] = r[i];
        }
    }
    return o;
}

START_TEST(all_reduces_cover_non_expert_gradients)
{
    lct_gen_cfg_t c = tiny_cfg();
    lct_graph_t *g = gen(&c);
    uint32_t nn = LCT_NNODES(g);
    lct_range_t *ar = calloc(nn, sizeof(*ar)), *gw = calloc(4 * nn, sizeof(*gw));
    size_t nar = 0, ngw = 0;
    uint64_t ar_bytes = 0;
    uint32_t seq = 0, last_ar = 0;
    lct_range_t bucket0 = {0, 0, 0, 0};
    for (uint32_t i = 0; i < nn; i++) {
        const lct_node_t *n = LCT_NODE(g, i);
        if (n->role == LCT_ROLE_ALLREDUCE) {
            ck_assert_int_eq(n->coll.op, LCT_COLL_ALLREDUCE);
            ck_assert(n->flags & LCT_NODE_F_GRAD_SYNC);
            ck_assert_uint_eq(n->coll.comm, LCT_GEN_COMM_DP);
            ck_assert_uint_eq(n->coll.seq, seq++);
            ck_assert_uint_eq(n->fp.nranges, 1);
            ck_assert_uint_eq(n->fp.ranges[0].access, LCT_ACC_RW);
            ck_assert_uint_eq(n->coll.bytes, n->fp.ranges[0].size);
            ck_assert_uint_eq(n->coll.count * 4, n->coll.bytes);
            ck_assert_uint_eq(n->coll.sendbuf, n->coll.recvbuf);
            /* every bucket but the last reaches the cap */
            if (nar == 0)
                bucket0 = n->fp.ranges[0];
            ar[nar++] = n->fp.ranges[0];
            ar_bytes += n->coll.bytes;
            last_ar = i;
            /* launched as soon as its gradients are ready: every writer of the bucket comes
             * before it, and it directly follows a gradient writer or another all-reduce */
            uint32_t last_writer = 0;
            for (uint32_t j = 0; j < nn; j++) {
                const lct_node_t *w = LCT_NODE(g, j);
                if (w->role != LCT_ROLE_DW)
                    continue;
                for (uint32_t r = 0; r < w->fp.nranges; r++)
                    if ((w->fp.ranges[r].access & LCT_ACC_WRITE) &&
                        lct_ranges_overlap(&w->fp.ranges[r], &n->fp.ranges[0]) && j > last_writer)
                        last_writer = j;
            }
            ck_assert_uint_lt(last_writer, i);
            const lct_node_t *prev = LCT_NODE(g, i - 1);
            ck_assert(prev->role == LCT_ROLE_DW || prev->role == LCT_ROLE_ALLREDUCE);
            ck_assert(lct_graph_has_edge(g, i - 1, i) || prev->role == LCT_ROLE_ALLREDUCE);
            continue;
        }
        if (n->role != LCT_ROLE_DW || strstr(n->name, "expert_"))
            continue;
        for (uint32_t r = 0; r < n->fp.nranges; r++)
            if (n->fp.ranges[r].access & LCT_ACC_WRITE)
                gw[ngw++] = n->fp.ranges[r];
    }
    ck_assert_uint_ge(nar, 2);
    for (size_t k = 0; k + 1 < nar; k++)
        ck_assert_uint_ge(ar[k].size, c.bucket_bytes);
    ck_assert_uint_eq(ar_bytes, non_expert_params(&c) * 4);
    size_t a = merge(ar, nar), b = merge(gw, ngw);
    ck_assert_uint_eq(a, b);
    for (size_t k = 0; k < a; k++) {
        ck_assert_uint_eq(ar[k].addr, gw[k].addr);
        ck_assert_uint_eq(ar[k].size, gw[k].size);
    }
    /* expert gradients are not all-reduced */
    const lct_node_t *edw = LCT_NODE(g, find(g, "l0.moe.expert_fc1_gemm.dw"));
    for (size_t k = 0; k < a; k++)
        ck_assert(!lct_ranges_overlap(&edw->fp.ranges[2], &ar[k]));
    /* the optimizer waits for the last all-reduce */
    int first_opt = find(g, "opt.sgd_momentum.bucket0");
    ck_assert_int_gt(first_opt, 0);
    bool waits = false;
    for (size_t e = 0; e < g->edges.len; e++)
        if (g->edges.data[e].src == last_ar && g->edges.data[e].dst == (uint32_t)first_opt &&
            g->edges.data[e].kind == LCT_EDGE_EVENT)
            waits = true;
    ck_assert(waits);
    /* one SGD kernel per bucket reads that bucket's gradients */
    const lct_range_t *o = &LCT_NODE(g, (uint32_t)first_opt)->fp.ranges[0];
    ck_assert_uint_eq(o->addr, bucket0.addr);
    ck_assert_uint_eq(o->size, bucket0.size);
    ck_assert_uint_eq(o->access, LCT_ACC_READ);
    free(ar);
    free(gw);
    lct_graph_destroy(g);
}
END_TEST

START_TEST(gradient_buffers_alloc_free)
{
    lct_gen_cfg_t c = tiny_cfg();
    lct_graph_t *g = gen(&c);
    uint32_t nn = LCT_NNODES(g);
    int nalloc = 0;
    for (uint32_t i = 0; i < nn; i++) {
        const lct_node_t *a = LCT_NODE(g, i);
        if (a->kind != LCT_NODE_MEM_ALLOC)
            continue;
        nalloc++;
        ck_assert_int_eq(a->phase, LCT_PHASE_BACKWARD);
        ck_assert_uint_eq(a->fp.nranges, 1);
        const lct_range_t *r = &a->fp.ranges[0];
        ck_assert_uint_eq(a->mem_bytes, r->size);
        ck_assert_uint_eq(r->addr % LCT_GEN_ALIGN, 0);
        int freed = -1, users = 0;
        bool produced = false;
        for (uint32_t j = 0; j < nn; j++) {
            const lct_node_t *n = LCT_NODE(g, j);
            if (j == i)
                continue;
            for (uint32_t k = 0; k < n->fp.nranges; k++) {
                if (!lct_ranges_overlap(&n->fp.ranges[k], r))
                    continue;
                if (n->kind == LCT_NODE_MEM_FREE) {
                    ck_assert_int_eq(freed, -1); /* freed once */
                    ck_assert_uint_eq(n->fp.ranges[k].addr, r->addr);
                    ck_assert_uint_eq(n->mem_bytes, a->mem_bytes);
                    freed = (int)j;
                    continue;
                }
                ck_assert_int_ne(n->kind, LCT_NODE_MEM_ALLOC);
                /* used only between its allocation and its free */
                ck_assert_uint_gt(j, i);
                ck_assert_msg(freed < 0, "%s used after its free", n->name);
                if (!produced)
                    ck_assert_msg(n->fp.ranges[k].access & LCT_ACC_WRITE,
                                  "%s reads %s before it is written", n->name, a->name);
                produced = true;
                users++;
            }
        }
        ck_assert_msg(freed > (int)i, "%s is never freed", a->name);
        ck_assert_int_ge(users, 2); /* a producer and a consumer */
    }
    ck_assert_int_eq(nalloc, 3 + 10 + 4 + 2 * 10);
    lct_graph_destroy(g);
}
END_TEST

START_TEST(edges_and_launch_order)
{
    lct_gen_cfg_t c = tiny_cfg();
    lct_graph_t *g = gen(&c);
    uint32_t nn = LCT_NNODES(g);
    ck_assert(g->adj_valid);
    char err[256];
    ck_assert_msg(lct_ir_verify(g, err, sizeof(err)) == LCT_OK, "%s", err);
    ck_assert_int_eq(lct_graph_fill_adj(g), LCT_OK); /* acyclic */
    int *prev = malloc(nn * sizeof(int));
    int last[2] = {-1, -1};
    for (uint32_t i = 0; i < nn; i++) {
        const lct_node_t *n = LCT_NODE(g, i);
        ck_assert_uint_eq(n->launch_order, i);
        ck_assert(n->stream == 0 || n->stream == 1);
        ck_assert(n->stream == 0 || n->kind == LCT_NODE_COLLECTIVE);
        prev[i] = last[n->stream];
        last[n->stream] = (int)i;
    }
    int nstream = 0, nevent = 0;
    for (size_t e = 0; e < g->edges.len; e++) {
        const lct_edge_t *ed = &g->edges.data[e];
        ck_assert_uint_lt(ed->src, ed->dst); /* edges follow launch order */
        if (ed->kind == LCT_EDGE_STREAM) {
            ck_assert_int_eq(LCT_NODE(g, ed->src)->stream, LCT_NODE(g, ed->dst)->stream);
            ck_assert_int_eq(prev[ed->dst], (int)ed->src); /* consecutive on its stream */
            nstream++;
        } else {
            ck_assert_int_eq(ed->kind, LCT_EDGE_EVENT);
            ck_assert_int_ne(LCT_NODE(g, ed->src)->stream, LCT_NODE(g, ed->dst)->stream);
            nevent++;
        }
    }
    ck_assert_int_eq(nstream, (int)nn - 2); /* one chain per stream */
    int ncoll = 0, na2a = 0;
    for (uint32_t i = 0; i < nn; i++) {
        ncoll += LCT_NODE(g, i)->kind == LCT_NODE_COLLECTIVE;
        na2a += LCT_NODE(g, i)->role == LCT_ROLE_A2A;
    }
    /* one wait before every collective, one after every a2a, one before the optimizer */
    ck_assert_int_eq(nevent, ncoll + na2a + 1);
    free(prev);
    lct_graph_destroy(g);
}
END_TEST

START_TEST(costs)
{
    lct_gen_cfg_t c = tiny_cfg();
    lct_graph_t *g = gen(&c);
    const lct_device_profile_t *dev = lct_device_profile_find("a100");
    ck_assert_ptr_nonnull(dev);
    int checked = 0;
    for (uint32_t i = 0; i < LCT_NNODES(g); i++) {
        const lct_node_t *n = LCT_NODE(g, i);
        ck_assert(isfinite(n->cost_us));
        if (n->kind == LCT_NODE_MEM_ALLOC || n->kind == LCT_NODE_MEM_FREE) {
            ck_assert(n->cost_us == 0.0);
            continue;
        }
        ck_assert_msg(n->cost_us > 0.0, "%s has cost %g", n->name, n->cost_us);
        if (n->kind == LCT_NODE_COLLECTIVE) {
            ck_assert_int_eq(n->cost_src, LCT_COST_CURVE);
            continue;
        }
        ck_assert_int_eq(n->cost_src, LCT_COST_MODELLED);
        ck_assert(n->cost_us >= dev->launch_us);
        if (is_gemm(n)) {
            const lct_gemm_call_t *x = &n->call.u.gemm;
            double want = 2.0 * x->m * x->n * x->k * x->batch /
                              (dev->tflops_f32 * 1e12 * dev->gemm_efficiency) * 1e6 +
                          dev->launch_us;
            ck_assert_double_eq_tol(n->cost_us, want, 1e-9 * want);
            checked++;
        } else {
            ck_assert_int_eq(n->call.kind, LCT_CALL_KERNEL);
            const lct_kernel_call_t *k = &n->call.u.kernel;
            ck_assert_uint_ge(k->nparams, 1);
            ck_assert_uint_eq(k->param_bytes, 8 * k->nparams);
            ck_assert_uint_ge(k->grid[0], 1);
            ck_assert_uint_eq(k->block[0], 256);
            /* the first parameter word is the first tensor's pointer */
            uint64_t w = 0;
            for (int j = 7; j >= 0; j--)
                w = (w << 8) | k->param_data[j];
            ck_assert_uint_eq(w, n->fp.ranges[0].addr);
        }
    }
    ck_assert_int_gt(checked, 0);
    /* collective costs come from the fabric's curves */
    lct_curve_set_t cs;
    ck_assert_int_eq(lct_curves_model(lct_fabric_profile_find("p4de"), 4, &cs), LCT_OK);
    const lct_node_t *a = LCT_NODE(g, find(g, "l0.moe.a2a_dispatch"));
    ck_assert_double_eq_tol(a->cost_us, lct_curve_eval(&cs, LCT_COLL_ALLTOALL, a->coll.bytes),
                            1e-9);
    lct_curves_free(&cs);
    /* a memory-bound kernel: bytes / achieved bandwidth + launch */
    const lct_node_t *relu = LCT_NODE(g, find(g, "l0.moe.relu_fwd"));
    double bytes = 2.0 * 2 * 16 * 256 * 4; /* read + write of [el, N, 4m] */
    ck_assert_double_eq_tol(relu->cost_us,
                            bytes / (dev->mem_gbs * 1e9 * dev->mem_efficiency) * 1e6 +
                                dev->launch_us,
                            1e-9);
    lct_graph_destroy(g);
}
END_TEST

START_TEST(bad_configs)
{
    char err[256];
    lct_gen_cfg_t c = tiny_cfg(), b;
    lct_graph_t *g = NULL;
    ck_assert_int_eq(lct_gen_cfg_validate(&c, err, sizeof(err)), LCT_OK);
    ck_assert_str_eq(err, "");
    int saved = lct_log_level;
    lct_log_level = LCT_LOG_NONE;
#define BAD_CASE(stmt, word)                                                                       \
    do {                                                                                           \
        b = c;                                                                                     \
        stmt;                                                                                      \
        ck_assert_int_eq(lct_gen_cfg_validate(&b, err, sizeof(err)), LCT_ERR_INVALID);             \
        ck_assert_msg(strstr(err, word) != NULL, "message '%s' lacks '%s'", err, word);            \
        ck_assert_msg(strstr(err, "accepted") != NULL, "message '%s' lacks what is accepted", err); \
        ck_assert_int_eq(lct_gen_graph(&b, &g), LCT_ERR_INVALID);                                  \
        ck_assert_ptr_null(g);                                                                     \
    } while (0)
    BAD_CASE(b.nh = 3, "nh: 3");
    BAD_CASE(b.nl = 0, "nl: 0");
    BAD_CASE(b.m = -5, "m: -5");
    BAD_CASE(b.rank = 4, "rank: 4");
    BAD_CASE(b.world_size = 12, "world_size: 12");
    BAD_CASE(b.gpus_per_node = 9, "gpus_per_node: 9");
    BAD_CASE(b.capacity_factor = 0.0, "capacity_factor");
    BAD_CASE(b.capacity_factor = NAN, "capacity_factor");
    BAD_CASE(snprintf(b.gate, sizeof(b.gate), "bpr"), "gate: 'bpr'");
    BAD_CASE(b.dtype = LCT_DTYPE_F16, "dtype: 'f16'");
    BAD_CASE(snprintf(b.device, sizeof(b.device), "tpu"), "device: 'tpu'");
    BAD_CASE(snprintf(b.fabric, sizeof(b.fabric), "ethernet"), "fabric: 'ethernet'");
    BAD_CASE(b.bucket_bytes = 0, "bucket_bytes: 0");
    BAD_CASE(b.experts_per_gpu = 0, "experts_per_gpu: 0");
    BAD_CASE(b.vocab = 1, "vocab: 1");
    BAD_CASE(b.sl = 100000, "sl: 100000");
    BAD_CASE((b.b = 1 << 20, b.sl = 512), "b * sl");
    BAD_CASE(b.moe_every = -1, "moe_every: -1");
#undef BAD_CASE
    ck_assert_int_eq(lct_gen_cfg_validate(NULL, err, sizeof(err)), LCT_ERR_INVALID);
    ck_assert_int_eq(lct_gen_cfg_validate(&c, NULL, 0), LCT_OK);
    b = c;
    b.nh = 3;
    ck_assert_int_eq(lct_gen_cfg_validate(&b, NULL, 0), LCT_ERR_INVALID);
    ck_assert_int_eq(lct_gen_cfg_preset("gpt2-xl", "a100", &b), LCT_ERR_INVALID);
    ck_assert_int_eq(lct_gen_cfg_preset("gpt2-s", "tpu", &b), LCT_ERR_INVALID);
    ck_assert_int_eq(lct_gen_cfg_preset(NULL, "a100", &b), LCT_ERR_INVALID);
    lct_log_level = saved;
}
END_TEST

START_TEST(presets)
{
    lct_gen_cfg_t c;
    char err[256], name[128];
    ck_assert_int_eq(lct_gen_cfg_preset("gpt2-s", "v100", &c), LCT_OK);
    ck_assert_int_eq(c.nl, 12);
    ck_assert_int_eq(c.m, 768);
    ck_assert_int_eq(c.nh, 16);
    ck_assert_int_eq(c.sl, 512);
    ck_assert_int_eq(c.b, 16);
    ck_assert_int_eq(c.vocab, 50257);
    ck_assert_int_eq(c.experts_per_gpu, 2);
    ck_assert_int_eq(c.moe_every, 2);
    ck_assert(c.capacity_factor == 1.0);
    ck_assert_uint_eq(c.bucket_bytes, 25u << 20);
    ck_assert_str_eq(c.fabric, "p3dn");
    ck_assert_int_eq(lct_gen_cfg_validate(&c, err, sizeof(err)), LCT_OK);
    ck_assert_int_eq(lct_gen_cfg_preset("GPT2-L", "V100", &c), LCT_OK);
    ck_assert_int_eq(c.nl, 24);
    ck_assert_int_eq(c.m, 1024);
    ck_assert_int_eq(c.b, 8);
    ck_assert_int_eq(lct_gen_cfg_preset("gpt2-s", "a100", &c), LCT_OK);
    ck_assert_int_eq(c.b, 48);
    ck_assert_str_eq(c.fabric, "p4de");
    ck_assert_int_eq(lct_gen_cfg_preset("gpt2-l", "a100", &c), LCT_OK);
    ck_assert_int_eq(c.b, 24);
    ck_assert_int_eq(lct_gen_cfg_preset("gpt2-l", "h100", &c), LCT_OK);
    ck_assert_int_eq(c.b, 24);
    ck_assert_str_eq(c.fabric, "dgx-h100");
    ck_assert_int_eq(lct_gen_cfg_preset("gpt2-s", "a100", &c), LCT_OK);
    c.world_size = 16;
    lct_gen_cfg_name(&c, name, sizeof(name));
    ck_assert_str_eq(name, "gpt2-s-w16-p4de-a100");
    c.nl = 2;
    lct_gen_cfg_name(&c, name, sizeof(name));
    ck_assert_str_eq(name, "gpt2-nl2-m768-nh16-w16-p4de-a100");
}
END_TEST

START_TEST(meta_and_determinism)
{
    lct_gen_cfg_t c = tiny_cfg();
    lct_graph_t *g1 = gen(&c), *g2 = gen(&c);
    ck_assert_str_eq(g1->meta.name, "gpt2-nl2-m64-nh2-w4-p4de-a100");
    ck_assert_int_eq(g1->meta.world_size, 4);
    ck_assert_int_eq(g1->meta.rank, 0);
    ck_assert_int_eq(g1->meta.gpus_per_node, 8);
    ck_assert_str_eq(g1->meta.device, "a100");
    ck_assert_str_eq(g1->meta.fabric, "p4de");
    ck_assert_ptr_nonnull(strstr(g1->meta.model, "nl=2 m=64 nh=2 sl=16 b=2 vocab=1000"));
    ck_assert_ptr_nonnull(strstr(g1->meta.model, "capacity_factor=1 gate=switch dtype=f32"));
    char *j1 = lct_ir_write_string(g1), *j2 = lct_ir_write_string(g2);
    ck_assert_ptr_nonnull(j1);
    ck_assert_ptr_nonnull(j2);
    ck_assert_str_eq(j1, j2);
    /* the file reads back into the same graph */
    lct_graph_t *r = NULL;
    char err[256];
    ck_assert_msg(lct_ir_read_string(j1, strlen(j1), &r, err, sizeof(err)) == LCT_OK, "%s", err);
    char *j3 = lct_ir_write_string(r);
    ck_assert_str_eq(j1, j3);
    free(j1);
    free(j2);
    free(j3);
    lct_graph_destroy(r);
    /* another rank: same step, rank recorded */
    c.rank = 3;
    lct_graph_t *g3 = gen(&c);
    ck_assert_int_eq(g3->meta.rank, 3);
    ck_assert_uint_eq(LCT_NNODES(g3), LCT_NNODES(g1));
    lct_graph_destroy(g1);
    lct_graph_destroy(g2);
    lct_graph_destroy(g3);
}
END_TEST

START_TEST(paper_scale)
{
    lct_gen_cfg_t c;
    ck_assert_int_eq(lct_gen_cfg_preset("gpt2-l", "a100", &c), LCT_OK);
    c.world_size = 64;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    lct_graph_t *g = gen(&c);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    lct_gen_dims_t d = lct_gen_dims(&c);
    ck_assert_int_eq(d.experts, 128);
    ck_assert_int_eq(d.capacity, 96); /* 24 * 512 / 128 */
    ck_assert_uint_eq(d.a2a_bytes, 24ull * 512 * 1024 * 4);
    int na2a = 0, nar = 0;
    uint64_t ar_bytes = 0;
    for (uint32_t i = 0; i < LCT_NNODES(g); i++) {
        na2a += LCT_NODE(g, i)->role == LCT_ROLE_A2A;
        if (LCT_NODE(g, i)->role == LCT_ROLE_ALLREDUCE) {
            nar++;
            ar_bytes += LCT_NODE(g, i)->coll.bytes;
        }
    }
    ck_assert_int_eq(na2a, 4 * 12);
    ck_assert_uint_eq(ar_bytes, non_expert_params(&c) * 4);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("gpt2-l on 64 a100: %u nodes, %zu edges, %d a2a, %d all-reduce, generated in %.2f ms\n",
           LCT_NNODES(g), g->edges.len, na2a, nar, ms);
    char err[256];
    ck_assert_msg(lct_ir_verify(g, err, sizeof(err)) == LCT_OK, "%s", err);
    lct_graph_destroy(g);
}
END_TEST


static int rnd(uint64_t *x, int n)
{
    *x = *x * 6364136223846793005ull + 1442695040888963407ull;
    return (int)((*x >> 33) % (uint64_t)n);
}

/* Invariants over many small configurations drawn from a fixed seed: the graph verifies, every
 * GEMM footprint matches its record, each MoE layer has 4 all-to-alls of E * C * m * 4 bytes,
 * all-reduces carry exactly the non-expert gradients, every allocation is freed. */
START_TEST(random_configs)
{
    uint64_t x = 0x9e3779b97f4a7c15ull;
#define RND(n) rnd(&x, (n))
    for (int it = 0; it < 60; it++) {
        lct_gen_cfg_t c;
        const char *model = RND(2) ? "gpt2-s" : "gpt2-l";
        static const char *const devices[] = {"v100", "a100", "h100"};
        ck_assert_int_eq(lct_gen_cfg_preset(model, devices[RND(3)], &c), LCT_OK);
        c.nl = 1 + RND(5);
        c.nh = 1 + RND(4);
        c.m = c.nh * (1 + RND(24));
        c.sl = 1 + RND(40);
        c.b = 1 + RND(4);
        c.vocab = 2 + RND(3000);
        c.moe_every = RND(4);
        c.experts_per_gpu = 1 + RND(4);
        c.capacity_factor = 0.25 * (1 + RND(8));
        static const int worlds[] = {1, 2, 3, 8, 16, 24};
        c.world_size = worlds[RND(6)];
        c.gpus_per_node = c.world_size < 8 && RND(2) ? c.world_size : 8;
        c.rank = RND(c.world_size);
        c.bucket_bytes = 1 + (uint64_t)RND(200000);
        char err[256];
        ck_assert_msg(lct_gen_cfg_validate(&c, err, sizeof(err)) == LCT_OK, "%s", err);
        lct_graph_t *g = gen(&c);
        ck_assert_msg(lct_ir_verify(g, err, sizeof(err)) == LCT_OK, "%s", err);
        lct_gen_dims_t d = lct_gen_dims(&c);
        ck_assert_int_ge(d.capacity * d.experts, (int64_t)(c.capacity_factor * d.tokens));
        ck_assert_int_lt((d.capacity - 1) * d.experts, (int64_t)(c.capacity_factor * d.tokens) + 1);
        int na2a = 0, nalloc = 0, nfree = 0;
        uint64_t ar = 0;
        for (uint32_t i = 0; i < LCT_NNODES(g); i++) {
            const lct_node_t *n = LCT_NODE(g, i);
            nalloc += n->kind == LCT_NODE_MEM_ALLOC;
            nfree += n->kind == LCT_NODE_MEM_FREE;
            if (n->role == LCT_ROLE_A2A) {
                na2a++;
                ck_assert_uint_eq(n->coll.bytes, d.a2a_bytes);
            }
            if (n->role == LCT_ROLE_ALLREDUCE)
                ar += n->coll.bytes;
            if (n->kind != LCT_NODE_MEM_ALLOC && n->kind != LCT_NODE_MEM_FREE)
                ck_assert(n->cost_us > 0.0);
            if (!is_gemm(n))
                continue;
            const lct_gemm_call_t *y = &n->call.u.gemm;
            check_operand(&n->fp.ranges[0], y->a, y->trans_a ? y->k : y->m,
                          y->trans_a ? y->m : y->k, y->lda, y->stride_a, y->batch, LCT_ACC_READ);
            check_operand(&n->fp.ranges[1], y->b, y->trans_b ? y->n : y->k,
                          y->trans_b ? y->k : y->n, y->ldb, y->stride_b, y->batch, LCT_ACC_READ);
            check_operand(&n->fp.ranges[2], y->c, y->m, y->n, y->ldc, y->stride_c, y->batch,
                          y->beta != 0.0 ? LCT_ACC_RW : LCT_ACC_WRITE);
        }
        ck_assert_int_eq(na2a, 4 * d.nmoe);
        ck_assert_int_eq(nalloc, nfree);
        ck_assert_uint_eq(ar, non_expert_params(&c) * 4);
        lct_graph_destroy(g);
    }
#undef RND
}
END_TEST

/* The command-line tool (run only under make check, where the build tree is known). */
static int run_tool(const char *args)
{
    const char *top = getenv("top_builddir");
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s/src/tools/lancet-gen %s >/dev/null 2>&1", top, args);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Exit status of the tool; its standard error goes to err (n bytes). */
static int run_tool_err(const char *args, char *err, size_t n)
{
    char path[] = "/tmp/lct-test-gen-err-XXXXXX", cmd[1024];
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    snprintf(cmd, sizeof(cmd), "%s/src/tools/lancet-gen %s >/dev/null 2>%s", getenv("top_builddir"),
             args, path);
    int rc = system(cmd);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t k = fread(err, 1, n - 1, f);
    err[k] = '\0';
    fclose(f);
    unlink(path);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

START_TEST(tool_exit_codes)
{
    const char *top = getenv("top_builddir");
    char path[512];
    snprintf(path, sizeof(path), "%s/src/tools/lancet-gen", top ? top : ".");
    if (!top || access(path, X_OK) != 0) {
        printf("tool_exit_codes: lancet-gen not found (run under make check)\n");
        return;
    }
    char out[] = "/tmp/lct-test-gen-XXXXXX";
    int fd = mkstemp(out);
    ck_assert_int_ge(fd, 0);
    close(fd);
    char args[768];
    snprintf(args, sizeof(args), "--nl 2 --m 64 --nh 2 --sl 16 --b 2 --world 4 -q -o %s", out);
    ck_assert_int_eq(run_tool(args), 0);
    lct_graph_t *g = NULL;
    char err[256];
    ck_assert_msg(lct_ir_read_file(out, &g, err, sizeof(err)) == LCT_OK, "%s", err);
    ck_assert_str_eq(g->meta.name, "gpt2-nl2-m64-nh2-w4-p4de-a100");
    lct_graph_destroy(g);
    unlink(out);
    ck_assert_int_eq(run_tool("--help"), 0);
    ck_assert_int_eq(run_tool(""), 2);                      /* no output named */
    ck_assert_int_eq(run_tool("--nl 0 -o /dev/null"), 2);   /* out of range */
    ck_assert_int_eq(run_tool("--nh 5 -o /dev/null"), 2);   /* does not divide m */
    ck_assert_int_eq(run_tool("--nl x -o /dev/null"), 2);   /* not a number */
    ck_assert_int_eq(run_tool("--device tpu -o /dev/null"), 2);
    ck_assert_int_eq(run_tool("--world 12 -o /dev/null"), 2);
    ck_assert_int_eq(run_tool("--frobnicate"), 2);
    ck_assert_int_eq(run_tool("--nl 1 --m 8 --nh 1 --sl 4 --b 1 -o /nonexistent/dir/x.json"), 1);
    /* messages name the option, the value and the exact accepted range */
    char msg[1024];
    ck_assert_int_eq(run_tool_err("--bucket-mb 2000000 -o /dev/null", msg, sizeof(msg)), 2);
    ck_assert_msg(strstr(msg, "--bucket-mb: '2000000' is not accepted; accepted: a number > 0 and "
                              "<= 1048576") != NULL,
                  "%s", msg);
    ck_assert_int_eq(run_tool_err("--nl 2000 -o /dev/null", msg, sizeof(msg)), 2);
    ck_assert_msg(strstr(msg, "--nl: '2000' is not accepted; accepted: an integer 1..1024") != NULL,
                  "%s", msg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gen");
    TCase *tc = tcase_create("gen");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, node_counts_per_layer_type);
    tcase_add_test(tc, gemm_footprints_match_call_records);
    tcase_add_test(tc, dx_dw_pairs);
    tcase_add_test(tc, all_to_alls);
    tcase_add_test(tc, all_reduces_cover_non_expert_gradients);
    tcase_add_test(tc, gradient_buffers_alloc_free);
    tcase_add_test(tc, edges_and_launch_order);
    tcase_add_test(tc, costs);
    tcase_add_test(tc, bad_configs);
    tcase_add_test(tc, presets);
    tcase_add_test(tc, meta_and_determinism);
    tcase_add_test(tc, paper_scale);
    tcase_add_test(tc, random_configs);
    tcase_add_test(tc, tool_exit_codes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
