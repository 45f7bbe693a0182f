/* Unit tests of the split rules (src/sched/lct_split.c): for every kind of node the chunks'
 * footprints cover exactly the bytes of the original's footprint, the written bytes of different
 * chunks are disjoint (except a workspace a rule says every chunk rewrites), and the chunk call
 * records are the sliced calls; the rules file parser accepts the documented format and rejects
 * bad files with the line number; nodes that cannot be split say why.
 *
 * Original GEMM footprints come from the step generator's lct_gen_gemm_ranges, an implementation
 * independent of the split code. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/lct_config.h"
#include "core/lct_log.h"
#include "gen/lct_gen.h"
#include "sched/lct_split.h"

/* ------------------------------------------------------------------ byte sets */

typedef struct {
    uint64_t lo, hi;
} iv_t;

typedef struct {
    iv_t *v;
    size_t n;
} set_t;

static int iv_cmp(const void *pa, const void *pb)
{
    const iv_t *a = pa, *b = pb;
    return a->lo < b->lo ? -1 : a->lo > b->lo;
}

static void set_norm(set_t *s)
{
    if (!s->n)
        return;
    qsort(s->v, s->n, sizeof(*s->v), iv_cmp);
    size_t w = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (w && s->v[w - 1].hi >= s->v[i].lo) {
            if (s->v[i].hi > s->v[w - 1].hi)
                s->v[w - 1].hi = s->v[i].hi;
        } else {
            s->v[w++] = s->v[i];
        }
    }
    s->n = w;
}

static void set_add(set_t *s, uint64_t lo, uint64_t hi)
{
    s->v = realloc(s->v, (s->n + 1) * sizeof(*s->v));
    ck_assert_ptr_nonnull(s->v);
    s->v[s->n++] = (iv_t){lo, hi};
}

/* Bytes of ranges whose access has any bit of mask. */
static void set_from(set_t *s, const lct_range_t *r, uint32_t n, uint8_t mask)
{
    for (uint32_t i = 0; i < n; i++)
        if (r[i].access & mask)
            set_add(s, r[i].addr, r[i].addr + r[i].size);
}

static bool set_eq(set_t *a, set_t *b)
{
    set_norm(a);
    set_norm(b);
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (a->v[i].lo != b->v[i].lo || a->v[i].hi != b->v[i].hi)
            return false;
    return true;
}

static bool set_overlap(set_t *a, set_t *b)
{
    set_norm(a);
    set_norm(b);
    size_t i = 0, j = 0;
    while (i < a->n && j < b->n) {
        if (a->v[i].hi <= b->v[j].lo)
            i++;
        else if (b->v[j].hi <= a->v[i].lo)
            j++;
        else
            return true;
    }
    return false;
}

static void set_free(set_t *s)
{
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

/* Coverage and disjointness of a split of node n. allow_shared_write: bytes every chunk may
 * write (a workspace), or NULL. */
static void check_partition(const lct_node_t *n, const lct_split_t *sp, const set_t *shared)
{
    set_t all = {0}, orig = {0}, wall = {0}, worig = {0};
    set_from(&orig, n->fp.ranges, n->fp.nranges, LCT_ACC_RW);
    set_from(&worig, n->fp.ranges, n->fp.nranges, LCT_ACC_WRITE);
    set_t *wch = calloc(sp->k, sizeof(*wch));
    ck_assert_ptr_nonnull(wch);
    for (uint32_t i = 0; i < sp->k; i++) {
        ck_assert_uint_lt(sp->chunk_off[i], sp->chunk_off[i + 1]);
        for (uint32_t p = sp->chunk_off[i]; p < sp->chunk_off[i + 1]; p++) {
            const lct_split_piece_t *pc = &sp->pieces[p];
            ck_assert_uint_eq(pc->chunk, i);
            set_from(&all, pc->ranges, pc->nranges, LCT_ACC_RW);
            set_from(&wall, pc->ranges, pc->nranges, LCT_ACC_WRITE);
            for (uint32_t r = 0; r < pc->nranges; r++) {
                const lct_range_t *x = &pc->ranges[r];
                if (!(x->access & LCT_ACC_WRITE))
                    continue;
                bool sh = false;
                for (size_t s = 0; shared && s < shared->n; s++)
                    sh |= x->addr >= shared->v[s].lo && x->addr + x->size <= shared->v[s].hi;
                if (!sh)
                    set_add(&wch[i], x->addr, x->addr + x->size);
            }
        }
    }
    ck_assert_msg(set_eq(&all, &orig), "chunks of %s do not cover its footprint exactly", n->name);
    ck_assert_msg(set_eq(&wall, &worig), "chunk writes of %s differ from its writes", n->name);
    for (uint32_t i = 0; i < sp->k; i++)
        for (uint32_t j = i + 1; j < sp->k; j++)
            ck_assert_msg(!set_overlap(&wch[i], &wch[j]), "chunks %u and %u of %s write the same bytes",
                          i, j, n->name);
    for (uint32_t i = 0; i < sp->k; i++)
        set_free(&wch[i]);
    free(wch);
    set_free(&all);
    set_free(&orig);
    set_free(&wall);
    set_free(&worig);
}

/* Bytes a GEMM touches (every column of every batch of each operand), for layouts with padding
 * whose recorded footprint is the conservative span. */
static void gemm_touched(const lct_gemm_call_t *c, set_t *all, set_t *wr)
{
    struct {
        uint64_t p;
        int64_t ld, rows, cols, stride;
    } op[3] = {{c->a, c->lda, c->trans_a ? c->k : c->m, c->trans_a ? c->m : c->k, c->stride_a},
               {c->b, c->ldb, c->trans_b ? c->n : c->k, c->trans_b ? c->k : c->n, c->stride_b},
               {c->c, c->ldc, c->m, c->n, c->stride_c}};
    for (int o = 0; o < 3; o++)
        for (int64_t b = 0; b < c->batch; b++)
            for (int64_t j = 0; j < op[o].cols; j++) {
                uint64_t lo = op[o].p + (uint64_t)(b * op[o].stride + j * op[o].ld) * 4;
                set_add(all, lo, lo + (uint64_t)op[o].rows * 4);
                if (o == 2)
                    set_add(wr, lo, lo + (uint64_t)op[o].rows * 4);
            }
}

/* Union of a set with another: a |= b */
static void set_union(set_t *a, const set_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        set_add(a, b->v[i].lo, b->v[i].hi);
}

/* For padded GEMMs: every touched byte is in some chunk, no chunk reaches outside the original
 * footprint, chunk writes are disjoint and cover the touched output. */
static void check_gemm_cover(const lct_node_t *n, const lct_split_t *sp)
{
    const lct_gemm_call_t *c = &n->call.u.gemm;
    set_t touched = {0}, twr = {0}, orig = {0}, all = {0}, wall = {0};
    gemm_touched(c, &touched, &twr);
    set_from(&orig, n->fp.ranges, n->fp.nranges, LCT_ACC_RW);
    set_t *wch = calloc(sp->k, sizeof(*wch));
    for (uint32_t p = 0; p < sp->npieces; p++) {
        set_from(&all, sp->pieces[p].ranges, sp->pieces[p].nranges, LCT_ACC_RW);
        set_from(&wall, sp->pieces[p].ranges, sp->pieces[p].nranges, LCT_ACC_WRITE);
        set_from(&wch[sp->pieces[p].chunk], sp->pieces[p].ranges, sp->pieces[p].nranges,
                 LCT_ACC_WRITE);
    }
    set_t u1 = {0}, u2 = {0};
    set_union(&u1, &all);
    set_union(&u1, &touched); /* all | touched == all: touched is covered */
    set_union(&u2, &all);
    ck_assert_msg(set_eq(&u1, &u2), "a touched byte of %s is in no chunk", n->name);
    set_t u3 = {0}, u4 = {0};
    set_union(&u3, &orig);
    set_union(&u3, &all); /* orig | all == orig: nothing outside the footprint */
    set_union(&u4, &orig);
    ck_assert_msg(set_eq(&u3, &u4), "a chunk of %s reaches outside its footprint", n->name);
    set_t u5 = {0}, u6 = {0};
    set_union(&u5, &wall);
    set_union(&u5, &twr);
    set_union(&u6, &wall);
    ck_assert_msg(set_eq(&u5, &u6), "a written byte of %s is written by no chunk", n->name);
    for (uint32_t i = 0; i < sp->k; i++)
        for (uint32_t j = i + 1; j < sp->k; j++)
            ck_assert_msg(!set_overlap(&wch[i], &wch[j]), "chunks %u and %u of %s write the same bytes",
                          i, j, n->name);
    for (uint32_t i = 0; i < sp->k; i++)
        set_free(&wch[i]);
    free(wch);
    set_t *fr[] = {&touched, &twr, &orig, &all, &wall, &u1, &u2, &u3, &u4, &u5, &u6};
    for (size_t i = 0; i < sizeof(fr) / sizeof(fr[0]); i++)
        set_free(fr[i]);
}

/* ------------------------------------------------------------------ fixtures */

static lct_graph_t *g;
static lct_arena_t ar;
static lct_split_rules_t *rules;
static lct_split_ctx_t sc;
static lct_split_a2a_t a2a_tab[4];
static char msg[256];

static void setup(void)
{
    lct_log_set_stream(NULL);
    ck_assert_int_eq(lct_graph_create(&g), LCT_OK);
    g->meta.world_size = 4;
    lct_arena_init(&ar, 4096);
    ck_assert_int_eq(lct_split_rules_create(&rules), LCT_OK);
    memset(&sc, 0, sizeof(sc));
    sc.rules = rules;
    sc.launch_us = 2.0;
}

static void teardown(void)
{
    lct_graph_destroy(g);
    lct_arena_destroy(&ar);
    lct_split_rules_destroy(rules);
}

static uint32_t gemm_node(const lct_gemm_call_t *c, double cost)
{
    uint32_t id;
    ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_KERNEL, "gemm", &id), LCT_OK);
    lct_node_t *n = LCT_NODE(g, id);
    n->lib = "cublas";
    n->cost_us = cost;
    n->call.kind = LCT_CALL_GEMM;
    n->call.u.gemm = *c;
    lct_range_t r[3];
    uint32_t nr = lct_gen_gemm_ranges(c, r);
    for (uint32_t i = 0; i < nr; i++)
        ck_assert_int_eq(lct_node_add_range(g, id, r[i].addr, r[i].size, r[i].access, r[i].exact),
                         LCT_OK);
    return id;
}

static lct_gemm_call_t gemm_call(bool ta, bool tb, int64_t m, int64_t n, int64_t k, int64_t lda,
                                 int64_t ldb, int64_t ldc)
{
    lct_gemm_call_t c;
    memset(&c, 0, sizeof(c));
    c.trans_a = ta;
    c.trans_b = tb;
    c.m = m;
    c.n = n;
    c.k = k;
    c.lda = lda;
    c.ldb = ldb;
    c.ldc = ldc;
    c.batch = 1;
    c.type_a = c.type_b = c.type_c = c.compute = LCT_DTYPE_F32;
    c.alpha = 1.0;
    c.a = 0x100000;
    c.b = 0x200000;
    c.c = 0x300000;
    return c;
}

static lct_status_t split(uint32_t v, uint32_t k, const lct_split_t *follow, lct_split_t *out,
                          lct_split_why_t *why)
{
    return lct_split_node(g, v, k, &sc, follow, &ar, out, why, msg, sizeof(msg));
}

/* kernel node with 8-byte parameter words */
static uint32_t kern(const char *name, const uint64_t *words, uint32_t nw, uint32_t grid)
{
    uint32_t id;
    ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_KERNEL, name, &id), LCT_OK);
    lct_node_t *n = LCT_NODE(g, id);
    n->cost_us = 50.0;
    n->call.kind = LCT_CALL_KERNEL;
    lct_kernel_call_t *kc = &n->call.u.kernel;
    kc->grid[0] = grid;
    kc->grid[1] = kc->grid[2] = 1;
    kc->block[0] = 256;
    kc->block[1] = kc->block[2] = 1;
    kc->nparams = nw;
    kc->param_bytes = 8 * nw;
    kc->param_offset = lct_arena_alloc(&g->arena, nw * sizeof(uint32_t));
    kc->param_size = lct_arena_alloc(&g->arena, nw * sizeof(uint32_t));
    kc->param_data = lct_arena_alloc(&g->arena, 8 * nw);
    for (uint32_t i = 0; i < nw; i++) {
        kc->param_offset[i] = 8 * i;
        kc->param_size[i] = 8;
        memcpy(kc->param_data + 8 * i, &words[i], 8); /* little-endian host */
    }
    return id;
}

static uint64_t pword(const lct_call_t *c, uint32_t p)
{
    uint64_t v;
    memcpy(&v, c->u.kernel.param_data + c->u.kernel.param_offset[p], 8);
    return v;
}

static void range(uint32_t id, uint64_t addr, uint64_t size, uint8_t acc)
{
    ck_assert_int_eq(lct_node_add_range(g, id, addr, size, acc, true), LCT_OK);
}

/* ------------------------------------------------------------------ GEMMs */

START_TEST(gemm_linear_tokens)
{
    /* Y[T=40, out=24] = X[T, in=16] W^T: gemm(T, N, 24, 40, 16, W, 16, X, 16, Y, 24) */
    lct_gemm_call_t c = gemm_call(true, false, 24, 40, 16, 16, 16, 24);
    uint32_t v = gemm_node(&c, 100.0);
    for (uint32_t samples = 0; samples <= 5; samples += 5)
        for (uint32_t k = 2; k <= 8; k++) {
            sc.samples = samples;
            lct_split_t sp;
            ck_assert_int_eq(split(v, k, NULL, &sp, NULL), LCT_OK);
            ck_assert_uint_eq(sp.npieces, k);
            check_partition(LCT_NODE(g, v), &sp, NULL);
            int64_t ncols = 0;
            for (uint32_t i = 0; i < k; i++) {
                const lct_gemm_call_t *q = &sp.pieces[i].call.u.gemm;
                ck_assert_int_eq(sp.pieces[i].call.kind, LCT_CALL_GEMM);
                ck_assert_uint_eq(q->a, c.a); /* the weight is read whole */
                ck_assert_uint_eq(q->b, c.b + (uint64_t)ncols * 16 * 4);
                ck_assert_uint_eq(q->c, c.c + (uint64_t)ncols * 24 * 4);
                ck_assert_int_eq(q->m, 24);
                ck_assert_int_eq(q->k, 16);
                if (samples && k <= samples) /* whole sequences of 8 tokens */
                    ck_assert_int_eq(q->n % 8, 0);
                double want = (100.0 - 2.0) * (double)q->n / 40.0 + 2.0;
                ck_assert_double_eq_tol(sp.pieces[i].cost_us, want, 1e-9);
                ncols += q->n;
            }
            ck_assert_int_eq(ncols, 40);
        }
}
END_TEST

START_TEST(gemm_transposed_b_and_beta)
{
    /* B stored n x k with padding (ldb 32 > n 30), C read-written (beta 1) with padding */
    lct_gemm_call_t c = gemm_call(false, true, 8, 30, 12, 8, 32, 10);
    c.beta = 1.0;
    uint32_t v = gemm_node(&c, 10.0);
    lct_split_t sp;
    ck_assert_int_eq(split(v, 4, NULL, &sp, NULL), LCT_OK);
    check_gemm_cover(LCT_NODE(g, v), &sp);
    int64_t n0 = 0;
    for (uint32_t i = 0; i < 4; i++) {
        const lct_gemm_call_t *q = &sp.pieces[i].call.u.gemm;
        ck_assert_uint_eq(q->b, c.b + (uint64_t)n0 * 4); /* rows of the stored B */
        ck_assert_uint_eq(q->c, c.c + (uint64_t)n0 * 10 * 4);
        ck_assert_int_eq(q->ldb, 32);
        bool rw = false;
        for (uint32_t r = 0; r < sp.pieces[i].nranges; r++)
            rw |= sp.pieces[i].ranges[r].access == LCT_ACC_RW;
        ck_assert(rw);
        n0 += q->n;
    }
    ck_assert_int_eq(n0, 30);
}
END_TEST

START_TEST(gemm_batched_attention)
{
    /* scores: S'[j, i] = K'^T Q' per (sample, head): 3 samples x 4 heads, sl 6, hd 5 */
    lct_gemm_call_t c = gemm_call(true, false, 6, 6, 5, 5, 5, 6);
    c.batch = 12;
    c.stride_a = c.stride_b = 30;
    c.stride_c = 36;
    uint32_t v = gemm_node(&c, 40.0);
    sc.samples = 3;
    lct_split_t sp;
    ck_assert_int_eq(split(v, 3, NULL, &sp, NULL), LCT_OK);
    check_partition(LCT_NODE(g, v), &sp, NULL);
    for (uint32_t i = 0; i < 3; i++) {
        const lct_gemm_call_t *q = &sp.pieces[i].call.u.gemm;
        ck_assert_int_eq(q->batch, 4); /* one whole sample: its 4 heads */
        ck_assert_int_eq(q->n, 6);
        ck_assert_uint_eq(q->c, c.c + (uint64_t)i * 4 * 36 * 4);
    }
    /* two chunks: samples 0 | 1-2 */
    ck_assert_int_eq(split(v, 2, NULL, &sp, NULL), LCT_OK);
    ck_assert_int_eq(sp.pieces[0].call.u.gemm.batch, 4);
    ck_assert_int_eq(sp.pieces[1].call.u.gemm.batch, 8);
    check_partition(LCT_NODE(g, v), &sp, NULL);
    lct_split_why_t why;
    ck_assert_int_eq(split(v, 13, NULL, &sp, &why), LCT_ERR_UNSUPPORTED);
    ck_assert_int_eq(why, LCT_SPLIT_AXIS);
}
END_TEST

/* The generator's expert layout: P = 4 peers, capacity C = 6, el = 2 local experts, hidden 8. */
enum { P_ = 4, C_ = 6, EL_ = 2, H_ = 8 };
#define RECV 0x400000ull
#define SEND 0x500000ull
#define EH 0x600000ull
#define EA 0x700000ull
#define W1 0x800000ull
#define BLOCK ((uint64_t)C_ * EL_ * H_ * 4)

static void expert_ctx(void)
{
    memset(a2a_tab, 0, sizeof(a2a_tab));
    a2a_tab[0] = (lct_split_a2a_t){0, SEND, P_ * BLOCK, RECV, P_ * BLOCK, P_, EL_ * H_ * 4};
    sc.a2a = a2a_tab;
    sc.na2a = 1;
}

static uint32_t expert_fc1(void)
{
    int64_t N = P_ * C_;
    lct_gemm_call_t c = gemm_call(true, false, 4 * H_, N, H_, H_, EL_ * H_, 4 * H_);
    c.batch = EL_;
    c.stride_a = 4 * H_ * H_;
    c.stride_b = H_;
    c.stride_c = N * 4 * H_;
    c.a = W1;
    c.b = RECV;
    c.c = EH;
    return gemm_node(&c, 80.0);
}

START_TEST(gemm_expert_capacity_blocks)
{
    expert_ctx();
    uint32_t v = expert_fc1();
    for (uint32_t k = 2; k <= 6; k++) {
        lct_split_t sp;
        ck_assert_int_eq(split(v, k, NULL, &sp, NULL), LCT_OK);
        ck_assert_uint_eq(sp.npieces, k * EL_); /* one strided-batched GEMM per local expert */
        check_partition(LCT_NODE(g, v), &sp, NULL);
        for (uint32_t i = 0; i < k; i++) {
            uint64_t c0 = (uint64_t)i * C_ / k, c1 = (uint64_t)(i + 1) * C_ / k;
            for (uint32_t e = 0; e < EL_; e++) {
                const lct_split_piece_t *pc = &sp.pieces[sp.chunk_off[i] + e];
                const lct_gemm_call_t *q = &pc->call.u.gemm;
                ck_assert_int_eq(q->batch, P_);
                ck_assert_int_eq(q->n, (int64_t)(c1 - c0));
                ck_assert_int_eq(q->stride_a, 0);
                ck_assert_int_eq(q->stride_b, C_ * EL_ * H_);
                ck_assert_uint_eq(q->a, W1 + e * 4ull * H_ * H_ * 4);
                ck_assert_uint_eq(q->b, RECV + (e * H_ + c0 * EL_ * H_) * 4);
                /* reads the capacity slice of every peer block of the receive buffer */
                set_t got = {0}, want = {0};
                for (uint32_t r = 0; r < pc->nranges; r++)
                    if (pc->ranges[r].addr >= RECV && pc->ranges[r].addr < RECV + P_ * BLOCK)
                        set_add(&got, pc->ranges[r].addr, pc->ranges[r].addr + pc->ranges[r].size);
                for (uint32_t p = 0; p < P_; p++)
                    set_add(&want, RECV + p * BLOCK + c0 * EL_ * H_ * 4 + e * H_ * 4,
                            RECV + p * BLOCK + (c1 - 1) * EL_ * H_ * 4 + e * H_ * 4 + H_ * 4);
                ck_assert(set_eq(&got, &want));
                set_free(&got);
                set_free(&want);
            }
        }
    }
}
END_TEST

/* xorshift: the same shapes every run */
static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;
static int64_t RND(int64_t n)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return (int64_t)(rnd_state % (uint64_t)n);
}

START_TEST(gemm_random_shapes)
{
    for (int t = 0; t < 300; t++) {
        bool ta = RND(2), tb = RND(2);
        int64_t m = 1 + RND(12), n = 2 + RND(20), k = 1 + RND(12), batch = 1 + RND(4);
        int64_t ra = ta ? k : m, rb = tb ? n : k;
        lct_gemm_call_t c = gemm_call(ta, tb, m, n, k, ra + RND(3), rb + RND(3), m + RND(3));
        c.beta = RND(2) ? 0.0 : 0.5;
        c.batch = batch;
        if (batch > 1) { /* dense batches with a random gap */
            c.stride_a = ((ta ? m : k) - 1) * c.lda + ra + RND(4);
            c.stride_b = ((tb ? k : n) - 1) * c.ldb + rb + RND(4);
            c.stride_c = (n - 1) * c.ldc + m + RND(4);
        }
        uint32_t v = gemm_node(&c, 10.0);
        uint32_t kk = 2 + (uint32_t)RND(6);
        lct_split_t sp;
        lct_split_why_t why;
        lct_status_t st = split(v, kk, NULL, &sp, &why);
        uint64_t axis = batch > 1 ? (uint64_t)batch : (uint64_t)n;
        if (kk > axis) {
            ck_assert_int_eq(st, LCT_ERR_UNSUPPORTED);
            ck_assert_int_eq(why, LCT_SPLIT_AXIS);
            continue;
        }
        ck_assert_msg(st == LCT_OK, "case %d: %s", t, msg);
        check_gemm_cover(LCT_NODE(g, v), &sp);
        bool exact = true;
        for (uint32_t r = 0; r < LCT_NODE(g, v)->fp.nranges; r++)
            exact &= LCT_NODE(g, v)->fp.ranges[r].exact;
        if (exact) /* no padding: the chunks cover the footprint exactly */
            check_partition(LCT_NODE(g, v), &sp, NULL);
    }
}
END_TEST

/* ------------------------------------------------------------------ collectives */

static uint32_t coll_node(lct_coll_op_t op, uint64_t send, uint64_t recv, uint64_t count,
                          uint64_t sbytes, uint64_t rbytes)
{
    uint32_t id;
    ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_COLLECTIVE, "coll", &id), LCT_OK);
    lct_node_t *n = LCT_NODE(g, id);
    n->coll.op = op;
    n->coll.comm = 7;
    n->coll.nranks = P_;
    n->coll.dtype = LCT_DTYPE_F32;
    n->coll.count = count;
    n->coll.sendbuf = send;
    n->coll.recvbuf = recv;
    n->coll.bytes = sbytes;
    n->cost_us = 400.0;
    if (send == recv) {
        range(id, send, sbytes, LCT_ACC_RW);
    } else {
        range(id, send, sbytes, LCT_ACC_READ);
        range(id, recv, rbytes, LCT_ACC_WRITE);
    }
    return id;
}

START_TEST(a2a_peer_slices)
{
    expert_ctx(); /* slot unit: EL_ * H_ floats, C_ slots per peer block */
    uint64_t cnt = BLOCK / 4;
    uint32_t v = coll_node(LCT_COLL_ALLTOALL, SEND, RECV, cnt, P_ * BLOCK, P_ * BLOCK);
    a2a_tab[0].node = v;
    lct_curve_set_t cs;
    memset(&cs, 0, sizeof(cs));
    double xb[2] = {0, 1e6}, yu[2] = {10, 1010};
    cs.curve[LCT_COLL_ALLTOALL] = (lct_curve_t){2, xb, yu};
    cs.world_size = P_;
    sc.curves = &cs;
    for (uint32_t k = 2; k <= C_; k++) {
        lct_split_t sp;
        ck_assert_int_eq(split(v, k, NULL, &sp, NULL), LCT_OK);
        ck_assert_uint_eq(sp.npieces, k);
        check_partition(LCT_NODE(g, v), &sp, NULL);
        for (uint32_t i = 0; i < k; i++) {
            const lct_split_piece_t *pc = &sp.pieces[i];
            uint64_t c0 = (uint64_t)i * C_ / k, c1 = (uint64_t)(i + 1) * C_ / k;
            uint64_t slot = EL_ * H_ * 4, bytes = (c1 - c0) * slot;
            ck_assert_uint_eq(pc->coll.count, bytes / 4);
            ck_assert_uint_eq(pc->coll.sendbuf, SEND + c0 * slot);
            ck_assert_uint_eq(pc->coll.recvbuf, RECV + c0 * slot);
            ck_assert_uint_eq(pc->coll.bytes, P_ * bytes);
            ck_assert_uint_eq(pc->coll.npeers, P_);
            ck_assert_uint_eq(pc->nranges, 2 * P_); /* a send and a receive slice per peer */
            for (uint32_t p = 0; p < P_; p++) {
                ck_assert_int_eq(pc->coll.peers[p].peer, (int)p);
                ck_assert_uint_eq(pc->coll.peers[p].send_bytes, bytes);
                ck_assert_uint_eq(pc->coll.peers[p].recv_bytes, bytes);
            }
            ck_assert_double_eq_tol(pc->cost_us, lct_curve_eval(&cs, LCT_COLL_ALLTOALL, P_ * bytes),
                                    1e-9);
        }
    }
    lct_split_why_t why;
    lct_split_t sp;
    ck_assert_int_eq(split(v, C_ + 1, NULL, &sp, &why), LCT_ERR_UNSUPPORTED);
    ck_assert_int_eq(why, LCT_SPLIT_AXIS);
    sc.curves = NULL;
}
END_TEST

START_TEST(a2a_uneven_peers)
{
    uint32_t v = coll_node(LCT_COLL_ALLTOALL, SEND, RECV, 0, 4 * (10 + 20 + 30 + 40),
                           4 * (40 + 30 + 20 + 10));
    lct_node_t *n = LCT_NODE(g, v);
    n->coll.npeers = 4;
    n->coll.peers = lct_arena_alloc(&g->arena, 4 * sizeof(lct_peer_t));
    for (int p = 0; p < 4; p++)
        n->coll.peers[p] = (lct_peer_t){p, 4u * (10 + 10 * p), 4u * (40 - 10 * p)};
    lct_split_t sp;
    ck_assert_int_eq(split(v, 3, NULL, &sp, NULL), LCT_OK);
    check_partition(LCT_NODE(g, v), &sp, NULL);
    uint64_t tot = 0;
    for (uint32_t i = 0; i < 3; i++)
        tot += sp.pieces[i].coll.bytes;
    ck_assert_uint_eq(tot, 4 * 100);
    /* without curves a chunk costs its share of the bytes */
    ck_assert_double_eq_tol(sp.pieces[0].cost_us, 400.0 * sp.pieces[0].coll.bytes / 400.0, 1e-9);
}
END_TEST

START_TEST(count_collectives)
{
    uint32_t ar_ = coll_node(LCT_COLL_ALLREDUCE, SEND, SEND, 100, 400, 400);
    uint32_t ag = coll_node(LCT_COLL_ALLGATHER, SEND, RECV, 30, 120, 4 * 120);
    uint32_t rs = coll_node(LCT_COLL_REDUCESCATTER, SEND, RECV, 30, 4 * 120, 120);
    uint32_t bc = coll_node(LCT_COLL_BROADCAST, SEND, RECV, 50, 200, 200);
    uint32_t ids[] = {ar_, ag, rs, bc};
    for (int t = 0; t < 4; t++)
        for (uint32_t k = 2; k <= 7; k++) {
            lct_split_t sp;
            ck_assert_int_eq(split(ids[t], k, NULL, &sp, NULL), LCT_OK);
            check_partition(LCT_NODE(g, ids[t]), &sp, NULL);
            uint64_t cnt = 0;
            for (uint32_t i = 0; i < k; i++)
                cnt += sp.pieces[i].coll.count;
            ck_assert_uint_eq(cnt, LCT_NODE(g, ids[t])->coll.count);
        }
    uint32_t sr = coll_node(LCT_COLL_SENDRECV, SEND, RECV, 30, 120, 120);
    lct_split_t sp;
    lct_split_why_t why;
    ck_assert_int_eq(split(sr, 2, NULL, &sp, &why), LCT_ERR_UNSUPPORTED);
    ck_assert_int_eq(why, LCT_SPLIT_NO_RULE);
}
END_TEST

/* ------------------------------------------------------------------ memcpy / memset */

START_TEST(copy_and_set)
{
    uint32_t cp, ms;
    ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_MEMCPY, "cp", &cp), LCT_OK);
    LCT_NODE(g, cp)->call.kind = LCT_CALL_COPY;
    LCT_NODE(g, cp)->call.u.copy = (lct_copy_call_t){0x9000, 0x1000, 1000};
    range(cp, 0x1000, 1000, LCT_ACC_READ);
    range(cp, 0x9000, 1000, LCT_ACC_WRITE);
    ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_MEMSET, "ms", &ms), LCT_OK);
    LCT_NODE(g, ms)->call.kind = LCT_CALL_SET;
    LCT_NODE(g, ms)->call.u.set = (lct_set_call_t){0x20000, 0, 4, 250};
    range(ms, 0x20000, 1000, LCT_ACC_WRITE);
    for (uint32_t k = 2; k <= 8; k++) {
        lct_split_t a, b;
        ck_assert_int_eq(split(cp, k, NULL, &a, NULL), LCT_OK);
        ck_assert_int_eq(split(ms, k, NULL, &b, NULL), LCT_OK);
        check_partition(LCT_NODE(g, cp), &a, NULL);
        check_partition(LCT_NODE(g, ms), &b, NULL);
        uint64_t bytes = 0, cnt = 0;
        for (uint32_t i = 0; i < k; i++) {
            const lct_copy_call_t *x = &a.pieces[i].call.u.copy;
            ck_assert_uint_eq(x->src - 0x1000, x->dst - 0x9000);
            ck_assert_uint_eq(x->src % 8, 0); /* 1000 bytes at 8-byte granularity */
            bytes += x->bytes;
            cnt += b.pieces[i].call.u.set.count;
            ck_assert_uint_eq(b.pieces[i].call.u.set.elem_size, 4);
        }
        ck_assert_uint_eq(bytes, 1000);
        ck_assert_uint_eq(cnt, 250);
    }
}
END_TEST

/* ------------------------------------------------------------------ rule-table kernels */

START_TEST(rule_rows_layer_norm)
{
    /* (x, w, b, y, stats, T, m): T = 32 rows of m = 16 floats */
    uint64_t x = 0x10000, w = 0x20000, bb = 0x30000, y = 0x40000, stt = 0x50000;
    uint64_t words[] = {x, w, bb, y, stt, 32, 16};
    uint32_t v = kern("l3.ln1.layer_norm_fwd", words, 7, 32);
    range(v, x, 32 * 64, LCT_ACC_READ);
    range(v, w, 64, LCT_ACC_READ);
    range(v, bb, 64, LCT_ACC_READ);
    range(v, y, 32 * 64, LCT_ACC_WRITE);
    range(v, stt, 32 * 8, LCT_ACC_WRITE);
    for (uint32_t samples = 0; samples <= 4; samples += 4)
        for (uint32_t k = 2; k <= 8; k++) {
            sc.samples = samples;
            lct_split_t sp;
            ck_assert_msg(split(v, k, NULL, &sp, NULL) == LCT_OK, "%s", msg);
            check_partition(LCT_NODE(g, v), &sp, NULL);
            uint64_t r0 = 0;
            for (uint32_t i = 0; i < k; i++) {
                const lct_call_t *c = &sp.pieces[i].call;
                uint64_t rows = pword(c, 5);
                ck_assert_uint_eq(pword(c, 0), x + r0 * 64);
                ck_assert_uint_eq(pword(c, 1), w);
                ck_assert_uint_eq(pword(c, 3), y + r0 * 64);
                ck_assert_uint_eq(pword(c, 4), stt + r0 * 8);
                ck_assert_uint_eq(pword(c, 6), 16);
                ck_assert_uint_eq(c->u.kernel.grid[0], rows); /* one block per row */
                if (samples && k <= samples)
                    ck_assert_uint_eq(rows % 8, 0); /* whole sequences */
                r0 += rows;
            }
            ck_assert_uint_eq(r0, 32);
            /* the original's parameter block is untouched */
            ck_assert_uint_eq(pword(&LCT_NODE(g, v)->call, 5), 32);
        }
    sc.samples = 0;
    lct_split_t sp;
    lct_split_why_t why;
    ck_assert_int_eq(split(v, 33, NULL, &sp, &why), LCT_ERR_UNSUPPORTED);
    ck_assert_int_eq(why, LCT_SPLIT_AXIS);
}
END_TEST

START_TEST(rule_sequence_only)
{
    /* split_heads cuts whole sequences only: unknown sequence count -> not splittable */
    uint64_t words[] = {0x10000, 0x20000, 0x30000, 0x40000, 0x50000, 16, 8, 2};
    uint32_t v = kern("l0.attn.split_heads", words, 8, 4);
    range(v, 0x10000, 16 * 96, LCT_ACC_READ);
    range(v, 0x20000, 96, LCT_ACC_READ);
    range(v, 0x30000, 16 * 32, LCT_ACC_WRITE);
    range(v, 0x40000, 16 * 32, LCT_ACC_WRITE);
    range(v, 0x50000, 16 * 32, LCT_ACC_WRITE);
    lct_split_t sp;
    lct_split_why_t why;
    sc.samples = 0;
    ck_assert_int_eq(split(v, 2, NULL, &sp, &why), LCT_ERR_UNSUPPORTED);
    ck_assert_int_eq(why, LCT_SPLIT_AXIS);
    ck_assert_ptr_nonnull(strstr(msg, "sequence"));
    sc.samples = 4;
    ck_assert_int_eq(split(v, 4, NULL, &sp, NULL), LCT_OK);
    check_partition(LCT_NODE(g, v), &sp, NULL);
    ck_assert_int_eq(split(v, 5, NULL, &sp, &why), LCT_ERR_UNSUPPORTED);
    /* grid scaled: 4 blocks for 16 rows -> 1 per chunk of 4 rows */
    ck_assert_int_eq(split(v, 4, NULL, &sp, NULL), LCT_OK);
    ck_assert_uint_eq(sp.pieces[0].call.u.kernel.grid[0], 1);
}
END_TEST

START_TEST(rule_slots_dispatch_and_gate)
{
    expert_ctx();
    /* dispatch (x, plan, send, T, m, C): T = 24 tokens of H_ floats */
    uint64_t x = 0x10000, plan = 0x20000;
    uint64_t words[] = {x, plan, SEND, 24, H_, C_};
    uint32_t v = kern("l0.moe.dispatch_fwd", words, 6, 24);
    ck_assert_int_eq(lct_node_add_range(g, v, x, 24 * H_ * 4, LCT_ACC_READ, false), LCT_OK);
    range(v, plan, 24 * 12, LCT_ACC_READ);
    range(v, SEND, P_ * BLOCK, LCT_ACC_WRITE);
    for (uint32_t k = 2; k <= C_; k++) {
        lct_split_t sp;
        ck_assert_msg(split(v, k, NULL, &sp, NULL) == LCT_OK, "%s", msg);
        check_partition(LCT_NODE(g, v), &sp, NULL);
        for (uint32_t i = 0; i < k; i++) {
            const lct_split_piece_t *pc = &sp.pieces[i];
            uint64_t c0 = (uint64_t)i * C_ / k, c1 = (uint64_t)(i + 1) * C_ / k, slot = BLOCK / C_;
            ck_assert_uint_eq(pword(&pc->call, 2), SEND + c0 * slot);
            ck_assert_uint_eq(pword(&pc->call, 5), c1 - c0); /* per-chunk capacity */
            set_t got = {0}, want = {0};
            set_from(&got, pc->ranges, pc->nranges, LCT_ACC_WRITE);
            for (uint32_t p = 0; p < P_; p++)
                set_add(&want, SEND + p * BLOCK + c0 * slot, SEND + p * BLOCK + c1 * slot);
            ck_assert(set_eq(&got, &want));
            set_free(&got);
            set_free(&want);
        }
    }
    /* gate (logits, probs, plan, counts, T, E, C): the slot counters are rewritten by every
     * chunk: they are the one shared write */
    uint64_t cnts = 0x90000;
    uint64_t gw[] = {0x11000, 0x12000, 0x13000, cnts, 24, 8, C_};
    uint32_t gt = kern("l0.moe.gate_top1_fwd", gw, 7, 24);
    range(gt, 0x11000, 24 * 32, LCT_ACC_READ);
    range(gt, 0x12000, 24 * 32, LCT_ACC_WRITE);
    range(gt, 0x13000, 24 * 12, LCT_ACC_WRITE);
    range(gt, cnts, 32, LCT_ACC_WRITE);
    lct_split_t sp;
    ck_assert_int_eq(split(gt, 3, NULL, &sp, NULL), LCT_OK);
    set_t shared = {0};
    set_add(&shared, cnts, cnts + 32);
    check_partition(LCT_NODE(g, gt), &sp, &shared);
    for (uint32_t i = 0; i < 3; i++)
        ck_assert_uint_eq(pword(&sp.pieces[i].call, 6), 2);
    set_free(&shared);
}
END_TEST

START_TEST(rule_elementwise_follows_producer)
{
    expert_ctx();
    uint32_t fc1 = expert_fc1();
    uint64_t n = (uint64_t)EL_ * P_ * C_ * 4 * H_;
    uint64_t words[] = {EH, EA, n};
    uint32_t v = kern("l0.moe.relu_fwd", words, 3, (uint32_t)((n + 255) / 256));
    range(v, EH, n * 4, LCT_ACC_READ);
    range(v, EA, n * 4, LCT_ACC_WRITE);
    for (uint32_t k = 2; k <= 3; k++) {
        lct_split_t f, sp;
        ck_assert_int_eq(split(fc1, k, NULL, &f, NULL), LCT_OK);
        ck_assert_int_eq(split(v, k, &f, &sp, NULL), LCT_OK);
        check_partition(LCT_NODE(g, v), &sp, NULL);
        for (uint32_t i = 0; i < k; i++) {
            const lct_split_piece_t *pc = &sp.pieces[i];
            /* one run per (expert, peer block); the launch count follows */
            ck_assert_uint_eq(pc->launches, EL_ * P_);
            /* reads exactly what chunk i of the producer wrote */
            set_t got = {0}, want = {0};
            set_from(&got, pc->ranges, pc->nranges, LCT_ACC_READ);
            for (uint32_t q = f.chunk_off[i]; q < f.chunk_off[i + 1]; q++)
                for (uint32_t r = 0; r < f.pieces[q].nranges; r++)
                    if (f.pieces[q].ranges[r].access & LCT_ACC_WRITE)
                        set_add(&want, f.pieces[q].ranges[r].addr,
                                f.pieces[q].ranges[r].addr + f.pieces[q].ranges[r].size);
            ck_assert(set_eq(&got, &want));
            set_free(&got);
            set_free(&want);
            ck_assert_double_eq_tol(pc->cost_us,
                                    (50.0 - 2.0) / k + 2.0 * EL_ * P_, 1e-6);
        }
        /* without a producer: contiguous element ranges */
        ck_assert_int_eq(split(v, k, NULL, &sp, NULL), LCT_OK);
        check_partition(LCT_NODE(g, v), &sp, NULL);
        ck_assert_uint_eq(sp.pieces[0].launches, 1);
        ck_assert_uint_eq(pword(&sp.pieces[1].call, 0), EH + (n / k) * 4);
    }
}
END_TEST

START_TEST(not_splittable)
{
    lct_split_t sp;
    lct_split_why_t why;
    uint64_t w[] = {0x1000, 0x2000, 16};
    uint32_t unk = kern("mystery_kernel", w, 3, 16);
    range(unk, 0x1000, 64, LCT_ACC_READ);
    ck_assert_int_eq(split(unk, 2, NULL, &sp, &why), LCT_ERR_UNSUPPORTED);
    ck_assert_int_eq(why, LCT_SPLIT_NO_RULE);
    ck_assert_ptr_nonnull(strstr(msg, "mystery_kernel"));
    /* a rule exists but says no, with its reason */
    uint64_t xw[] = {0x1000, 0x2000, 0x3000, 16, 100};
    uint32_t xe = kern("head.cross_entropy_fwd", xw, 5, 16);
    ck_assert_int_eq(split(xe, 2, NULL, &sp, &why), LCT_ERR_UNSUPPORTED);
    ck_assert_int_eq(why, LCT_SPLIT_AXIS);
    ck_assert_ptr_nonnull(strstr(msg, "loss"));
    /* barriers */
    uint32_t h, e;
    ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_HOST, "host", &h), LCT_OK);
    ck_assert_int_eq(split(h, 2, NULL, &sp, &why), LCT_ERR_UNSUPPORTED);
    ck_assert_int_eq(why, LCT_SPLIT_NO_RULE);
    uint64_t lw[] = {0x1000, 0x2000, 0x3000, 0x4000, 0x5000, 16, 4};
    uint32_t ln = kern("x.layer_norm_fwd", lw, 7, 16);
    LCT_NODE(g, ln)->fp.unknown = true;
    ck_assert_int_eq(split(ln, 2, NULL, &sp, &why), LCT_ERR_UNSUPPORTED);
    ck_assert_int_eq(why, LCT_SPLIT_NO_RULE);
    ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_KERNEL, "nocall", &e), LCT_OK);
    ck_assert_int_eq(split(e, 2, NULL, &sp, &why), LCT_ERR_UNSUPPORTED);
    ck_assert_int_eq(why, LCT_SPLIT_NO_RULE);
    /* a row pointer outside the footprint */
    uint32_t bad = kern("y.layer_norm_fwd", lw, 7, 16);
    range(bad, 0x1000, 16 * 16, LCT_ACC_READ);
    ck_assert_int_eq(split(bad, 2, NULL, &sp, &why), LCT_ERR_UNSUPPORTED);
    ck_assert_int_eq(why, LCT_SPLIT_AXIS);
    /* a GEMM whose operands are not in its footprint */
    lct_gemm_call_t c = gemm_call(true, false, 4, 8, 4, 4, 4, 4);
    uint32_t gm;
    ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_KERNEL, "gm", &gm), LCT_OK);
    LCT_NODE(g, gm)->call.kind = LCT_CALL_GEMM;
    LCT_NODE(g, gm)->call.u.gemm = c;
    range(gm, 0x77000, 16, LCT_ACC_READ);
    ck_assert_int_eq(split(gm, 2, NULL, &sp, &why), LCT_ERR_UNSUPPORTED);
    ck_assert_int_eq(why, LCT_SPLIT_AXIS);
    /* transparent nodes */
    uint32_t al;
    ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_MEM_ALLOC, "alloc", &al), LCT_OK);
    ck_assert(lct_split_is_transparent(LCT_NODE(g, al)));
    ck_assert(!lct_split_is_transparent(LCT_NODE(g, h)));
    LCT_NODE(g, al)->flags |= LCT_NODE_F_EXTERNAL;
    ck_assert(!lct_split_is_transparent(LCT_NODE(g, al)));
    ck_assert_str_eq(lct_split_why_name(LCT_SPLIT_MEMORY), "memory budget");
}
END_TEST

START_TEST(ranges_normalize)
{
    lct_range_t r[] = {{100, 10, LCT_ACC_READ, 1}, {0, 50, LCT_ACC_WRITE, 1},
                       {50, 10, LCT_ACC_WRITE, 0}, {105, 20, LCT_ACC_READ, 1},
                       {40, 30, LCT_ACC_READ, 1}};
    uint32_t n = lct_split_ranges_normalize(r, 5);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(r[0].addr, 0);
    ck_assert_uint_eq(r[0].size, 60);
    ck_assert_uint_eq(r[0].exact, 0);
    ck_assert_uint_eq(r[1].addr, 40);
    ck_assert_uint_eq(r[1].access, LCT_ACC_READ);
    ck_assert_uint_eq(r[2].addr, 100);
    ck_assert_uint_eq(r[2].size, 25);
}
END_TEST

/* ------------------------------------------------------------------ rules files */

START_TEST(rules_parse_good)
{
    const char *text = "# extra rules\n"
                       "\n"
                       "rule my_norm* kind=rows rows=2 row=0,1:48 grid=rows   # trailing comment\n"
                       "rule *.layer_norm_fwd kind=none reason=fused with the next kernel here\n"
                       "rule moe_disp params=5 rows=3 row=0 slot=1 cap=4 unit=sequence grid=keep\n"
                       "rule act_* kind=elementwise rows=2 row=0,1\n";
    uint32_t before = lct_split_rules_count(rules);
    char err[256];
    ck_assert_int_eq(lct_split_rules_parse(rules, text, "extra.rules", err, sizeof(err)), LCT_OK);
    ck_assert_uint_eq(lct_split_rules_count(rules), before + 4);
    uint64_t w[] = {0x1000, 0x2000, 10};
    uint32_t v = kern("my_norm_x", w, 3, 10);
    const lct_split_rule_t *ru = lct_split_rules_find(rules, LCT_NODE(g, v));
    ck_assert_ptr_nonnull(ru);
    ck_assert_int_eq(ru->kind, LCT_RULE_ROWS);
    ck_assert_int_eq(ru->rows_param, 2);
    ck_assert_uint_eq(ru->row_mask, 3);
    ck_assert_uint_eq(ru->row_bytes[1], 48);
    ck_assert_uint_eq(ru->row_bytes[0], 0);
    ck_assert_int_eq(ru->grid, LCT_GRID_ROWS);
    ck_assert_str_eq(ru->file, "extra.rules");
    ck_assert_uint_eq(ru->line, 3);
    /* an explicit row stride (48 bytes) for parameter 1 */
    range(v, 0x1000, 10 * 16, LCT_ACC_READ);
    range(v, 0x2000, 10 * 48, LCT_ACC_WRITE);
    lct_split_t sp;
    ck_assert_msg(split(v, 5, NULL, &sp, NULL) == LCT_OK, "%s", msg);
    check_partition(LCT_NODE(g, v), &sp, NULL);
    ck_assert_uint_eq(pword(&sp.pieces[1].call, 1), 0x2000 + 2 * 48);
    ck_assert_uint_eq(sp.pieces[1].call.u.kernel.grid[0], 2);
    /* the file's rule wins over the built-in one */
    uint64_t lw[] = {0x1000, 0x2000, 0x3000, 0x4000, 0x5000, 16, 4};
    uint32_t ln = kern("l0.ln1.layer_norm_fwd", lw, 7, 16);
    ru = lct_split_rules_find(rules, LCT_NODE(g, ln));
    ck_assert_int_eq(ru->kind, LCT_RULE_NONE);
    ck_assert_str_eq(ru->reason, "fused with the next kernel here");
    lct_split_why_t why;
    ck_assert_int_eq(split(ln, 2, NULL, &sp, &why), LCT_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(msg, "extra.rules:4"));
    /* params= restricts the match */
    uint64_t dw[] = {1, 2, 3, 4};
    uint32_t d4 = kern("moe_disp", dw, 4, 1);
    ck_assert_ptr_null(lct_split_rules_find(rules, LCT_NODE(g, d4)));
    uint64_t dw5[] = {1, 2, 3, 4, 5};
    uint32_t d5 = kern("moe_disp", dw5, 5, 1);
    ru = lct_split_rules_find(rules, LCT_NODE(g, d5));
    ck_assert_ptr_nonnull(ru);
    ck_assert(ru->seq);
    ck_assert_uint_eq(ru->slot_mask, 2);
    ck_assert_int_eq(ru->cap_param, 4);
    ck_assert_int_eq(ru->grid, LCT_GRID_KEEP);
}
END_TEST

static void parse_bad(const char *text, uint32_t line, const char *needle)
{
    char err[256], want[64];
    uint32_t before = lct_split_rules_count(rules);
    ck_assert_int_eq(lct_split_rules_parse(rules, text, "bad.rules", err, sizeof(err)),
                     LCT_ERR_PARSE);
    snprintf(want, sizeof(want), "bad.rules:%u: ", line);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "'%s' does not start with '%s'", err, want);
    ck_assert_msg(strstr(err, needle) != NULL, "'%s' does not mention '%s'", err, needle);
    ck_assert_uint_eq(lct_split_rules_count(rules), before); /* nothing added */
}

START_TEST(rules_parse_bad)
{
    lct_log_set_stream(fopen("/dev/null", "w"));
    parse_bad("rule ok rows=1 row=0\nrule x rows=1 row=0 color=red\n", 2, "unknown key 'color'");
    parse_bad("rule x rows=99 row=0\n", 1, "parameter index");
    parse_bad("\n\nrule x row=0\n", 3, "rows= is required");
    parse_bad("rule x kind=elementwise rows=2\n", 1, "needs row=");
    parse_bad("rule x rows=2 slot=0\n", 1, "slot= needs cap=");
    parse_bad("rule x kind=none rows=1\n", 1, "kind=none takes no");
    parse_bad("rule x rows=2 row=0,0\n", 1, "listed twice");
    parse_bad("rule x rows=2 row=0,\n", 1, "comma");
    parse_bad("kernel x rows=2 row=0\n", 1, "expected 'rule PATTERN");
    parse_bad("rule x rows=2 row=0,5 params=3\n", 1, "params=3");
    parse_bad("rule x rows=1 row=1\n", 1, "both the row count and a pointer");
    parse_bad("rule x kind=sideways\n", 1, "kind=sideways");
    parse_bad("rule x rows=1 row=0:zz\n", 1, "row stride");
    parse_bad("rule x rows=1 slot=0:8 cap=2\n", 1, "only accepted in row=");
    parse_bad("rule x\n", 1, "says nothing");
    parse_bad("rule x rows=2 row=0 grid=diagonal\n", 1, "grid=diagonal");
    parse_bad("rule x rows=2 row=0 unit=bytes\n", 1, "unit=bytes");
    parse_bad("rule x rows\n", 1, "not key=value");
    lct_log_set_stream(NULL);
}
END_TEST

START_TEST(rules_load_file)
{
    char path[] = "/tmp/lct-split-rules-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *text = "rule filekern rows=2 row=0,1\nrule broken rows=2 row=0 oops=1\n";
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char err[256];
    lct_log_set_stream(fopen("/dev/null", "w"));
    ck_assert_int_eq(lct_split_rules_load(rules, path, err, sizeof(err)), LCT_ERR_PARSE);
    ck_assert_ptr_nonnull(strstr(err, ":2: unknown key 'oops'"));
    ck_assert_ptr_nonnull(strstr(err, path));
    ck_assert_int_eq(lct_split_rules_load(rules, "/nonexistent/dir/rules", err, sizeof(err)),
                     LCT_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/dir/rules"));
    lct_log_set_stream(NULL);
    FILE *f = fopen(path, "w");
    fputs("rule filekern rows=2 row=0,1\n", f);
    fclose(f);
    ck_assert_int_eq(lct_split_rules_load(rules, path, err, sizeof(err)), LCT_OK);
    uint64_t w[] = {1, 2, 3};
    uint32_t fk = kern("filekern", w, 3, 1);
    ck_assert_ptr_nonnull(lct_split_rules_find(rules, LCT_NODE(g, fk)));
    unlink(path);
}
END_TEST

START_TEST(ctx_fill_from_generated_graph)
{
    /* the tiny generated model: sequences and slot units are inferred */
    lct_gen_cfg_t cfg;
    ck_assert_int_eq(lct_gen_cfg_preset("gpt2-s", "v100", &cfg), LCT_OK);
    cfg.nl = 2;
    cfg.m = 32;
    cfg.nh = 2;
    cfg.sl = 8;
    cfg.b = 4;
    cfg.vocab = 64;
    cfg.world_size = 4;
    cfg.gpus_per_node = 4;
    lct_graph_t *gg;
    ck_assert_int_eq(lct_gen_graph(&cfg, &gg), LCT_OK);
    lct_split_ctx_t c2;
    memset(&c2, 0, sizeof(c2));
    c2.rules = rules;
    lct_split_a2a_t *tab = NULL;
    ck_assert_int_eq(lct_split_ctx_fill(gg, &c2, &tab), LCT_OK);
    ck_assert_uint_eq(c2.samples, 4);
    ck_assert_uint_eq(c2.na2a, 4); /* 2 forward, 2 backward */
    for (uint32_t i = 0; i < c2.na2a; i++) {
        ck_assert_uint_eq(tab[i].peers, 4);
        ck_assert_uint_eq(tab[i].unit, (uint64_t)cfg.experts_per_gpu * cfg.m * 4);
    }
    free(tab);
    lct_graph_destroy(gg);
}
END_TEST

static Suite *split_suite(void)
{
    Suite *s = suite_create("split");
    TCase *t = tcase_create("split");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, gemm_linear_tokens);
    tcase_add_test(t, gemm_transposed_b_and_beta);
    tcase_add_test(t, gemm_batched_attention);
    tcase_add_test(t, gemm_expert_capacity_blocks);
    tcase_add_test(t, gemm_random_shapes);
    tcase_add_test(t, a2a_peer_slices);
    tcase_add_test(t, a2a_uneven_peers);
    tcase_add_test(t, count_collectives);
    tcase_add_test(t, copy_and_set);
    tcase_add_test(t, rule_rows_layer_norm);
    tcase_add_test(t, rule_sequence_only);
    tcase_add_test(t, rule_slots_dispatch_and_gate);
    tcase_add_test(t, rule_elementwise_follows_producer);
    tcase_add_test(t, not_splittable);
    tcase_add_test(t, ranges_normalize);
    tcase_add_test(t, rules_parse_good);
    tcase_add_test(t, rules_parse_bad);
    tcase_add_test(t, rules_load_file);
    tcase_add_test(t, ctx_fill_from_generated_graph);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(split_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
