/* Unit tests of the step-graph file format (read/write), the verifier and the DOT writer. */
#include <check.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/lct_log.h"
#include "ir/lct_ir_json.h"

#ifndef LCT_TEST_SRCDIR
#define LCT_TEST_SRCDIR "."
#endif

static const char *srcdir(void)
{
    const char *s = getenv("top_srcdir");
    return s && *s ? s : LCT_TEST_SRCDIR;
}

static char *golden_path(const char *name)
{
    static char buf[4096];
    snprintf(buf, sizeof(buf), "%s/tests/golden/ir/%s", srcdir(), name);
    return buf;
}

static char *slurp(const char *path, size_t *len_p)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    ck_assert(b != NULL);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    if (len_p)
        *len_p = (size_t)n;
    return b;
}

/* ---------------------------------------------------------------------------------------------
 * A graph that uses every node kind, every flag, every edge kind, both footprint forms, all call
 * records, collectives with peers, addresses above 2^63 and doubles that need care. */

#define HI 0x8000000000000000ull

static lct_graph_t *build_full_graph(void)
{
    lct_graph_t *g;
    uint32_t id;
    ck_assert_int_eq(lct_graph_create(&g), LCT_OK);
    g->meta.name = (char *)lct_graph_strdup(g, "full \"quoted\" graph");
    g->meta.world_size = 4;
    g->meta.rank = 1;
    g->meta.gpus_per_node = 2;
    g->meta.device = (char *)lct_graph_strdup(g, "a100");
    g->meta.fabric = (char *)lct_graph_strdup(g, "p4de");
    g->meta.model = (char *)lct_graph_strdup(g, "gpt2-moe nl=2 m=128\nsecond line\twith tab");

    /* 0: generic kernel with a kernel call record, split chunk of node 2 */
    ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_KERNEL, "void k<float>(\"x\")", &id), LCT_OK);
    lct_node_t *n = LCT_NODE(g, id);
    n->lib = lct_graph_strdup(g, "cublas");
    n->stream = 2;
    n->launch_order = 7;
    n->flags = LCT_NODE_F_OPAQUE | LCT_NODE_F_SPLIT;
    n->cost_us = 12.345;
    n->cost_src = LCT_COST_MEASURED;
    n->phase = LCT_PHASE_FORWARD;
    n->role = LCT_ROLE_DX;
    n->layer = 3;
    n->moe = 1;
    n->parent = 2;
    n->chunk = 1;
    n->nchunks = 2;
    ck_assert_int_eq(lct_node_add_range(g, id, HI + 0x1000, 0x100, LCT_ACC_RW, false), LCT_OK);
    ck_assert_int_eq(lct_node_add_range(g, id, 0x7f0000000000, 4096, LCT_ACC_READ, true), LCT_OK);
    n = LCT_NODE(g, id);
    n->call.kind = LCT_CALL_KERNEL;
    lct_kernel_call_t *k = &n->call.u.kernel;
    k->grid[0] = 4, k->grid[1] = 2, k->grid[2] = 1;
    k->block[0] = 128, k->block[1] = 1, k->block[2] = 1;
    k->smem = 1024;
    k->nparams = 3;
    k->param_offset = lct_arena_alloc(&g->arena, 3 * sizeof(uint32_t));
    k->param_size = lct_arena_alloc(&g->arena, 3 * sizeof(uint32_t));
    k->param_offset[0] = 0, k->param_size[0] = 8;
    k->param_offset[1] = 8, k->param_size[1] = 8;
    k->param_offset[2] = 16, k->param_size[2] = 4;
    k->param_bytes = 20;
    k->param_data = lct_arena_alloc(&g->arena, 20);
    uint64_t ptr = 0xfedcba9876543210ull;
    memcpy(k->param_data, &ptr, 8);
    for (int i = 8; i < 20; i++)
        k->param_data[i] = (uint8_t)(i * 17);

    /* 1: memcpy with a copy record; byte count above 2^63 - 1 */
    lct_graph_add_node(g, LCT_NODE_MEMCPY, "memcpy", &id);
    n = LCT_NODE(g, id);
    n->call.kind = LCT_CALL_COPY;
    n->call.u.copy = (lct_copy_call_t){HI + 0x2000, 0x1000, HI};
    n->mem_bytes = UINT64_MAX;
    lct_node_add_range(g, id, 0x1000, 64, LCT_ACC_READ, true);
    lct_node_add_range(g, id, HI + 0x2000, 64, LCT_ACC_WRITE, true);

    /* 2: memset with a set record */
    lct_graph_add_node(g, LCT_NODE_MEMSET, "memset", &id);
    n = LCT_NODE(g, id);
    n->call.kind = LCT_CALL_SET;
    n->call.u.set = (lct_set_call_t){0xffffffffffff0000ull, 0xdeadbeef, 4, 1000};
    n->cost_src = LCT_COST_PROFILE;
    n->phase = LCT_PHASE_OPTIMIZER;
    lct_node_add_range(g, id, 0xffffffffffff0000ull, 4000, LCT_ACC_WRITE, true);

    /* 3: host node, unknown footprint */
    lct_graph_add_node(g, LCT_NODE_HOST, "host callback", &id);
    LCT_NODE(g, id)->fp.unknown = true;
    /* 4, 5: events; 5 is unknown with ranges (the general footprint form) */
    lct_graph_add_node(g, LCT_NODE_EVENT_RECORD, NULL, &id);
    LCT_NODE(g, id)->flags = LCT_NODE_F_EXTERNAL;
    lct_graph_add_node(g, LCT_NODE_EVENT_WAIT, "wait", &id);
    LCT_NODE(g, id)->flags = LCT_NODE_F_EXTERNAL | LCT_NODE_F_GRAD_SYNC;
    lct_node_add_range(g, id, 0, 1, LCT_ACC_READ, false);
    LCT_NODE(g, id)->fp.unknown = true;
    /* 6: empty */
    lct_graph_add_node(g, LCT_NODE_EMPTY, "", &id);
    LCT_NODE(g, id)->stream = -1;
    /* 7, 8: memory nodes */
    lct_graph_add_node(g, LCT_NODE_MEM_ALLOC, "alloc", &id);
    LCT_NODE(g, id)->mem_bytes = 1ull << 30;
    lct_node_add_range(g, id, 0x7f0000000000, 1ull << 30, LCT_ACC_WRITE, true);
    lct_graph_add_node(g, LCT_NODE_MEM_FREE, "free", &id);
    LCT_NODE(g, id)->mem_bytes = 1ull << 30;

    /* 9, 10: a2a and send/recv on one communicator; 11: broadcast on another */
    lct_graph_add_node(g, LCT_NODE_COLLECTIVE, "a2a", &id);
    n = LCT_NODE(g, id);
    n->role = LCT_ROLE_A2A;
    n->cost_src = LCT_COST_CURVE;
    n->cost_us = 250.5;
    n->lib = lct_graph_strdup(g, "nccl");
    n->coll = (lct_coll_t){LCT_COLL_ALLTOALL,
                           UINT64_MAX,
                           0,
                           4,
                           LCT_DTYPE_BF16,
                           65536,
                           HI + 0x10000,
                           HI + 0x20000,
                           -1,
                           131072,
                           4,
                           NULL};
    n->coll.peers = lct_arena_alloc(&g->arena, 4 * sizeof(lct_peer_t));
    for (int p = 0; p < 4; p++)
        n->coll.peers[p] = (lct_peer_t){p, 32768u * (unsigned)(p + 1), p == 3 ? UINT64_MAX : 7};
    lct_graph_add_node(g, LCT_NODE_COLLECTIVE, "sendrecv", &id);
    n = LCT_NODE(g, id);
    n->coll = (lct_coll_t){
        LCT_COLL_SENDRECV, UINT64_MAX, 1, 4, LCT_DTYPE_U8, 10, 0x10, 0x20, -1, 10, 2, NULL};
    n->coll.peers = lct_arena_alloc(&g->arena, 2 * sizeof(lct_peer_t));
    n->coll.peers[0] = (lct_peer_t){0, 10, 0};
    n->coll.peers[1] = (lct_peer_t){2, 0, 10};
    lct_graph_add_node(g, LCT_NODE_COLLECTIVE, "bcast", &id);
    LCT_NODE(g, id)->coll =
        (lct_coll_t){LCT_COLL_BROADCAST, 2, 0, 4, LCT_DTYPE_F64, 1, 0, 0, 3, 8, 0, NULL};

    /* 12: GEMM with a gemm record; doubles that need all 17 digits and a negative zero */
    lct_graph_add_node(g, LCT_NODE_KERNEL, "gemm", &id);
    n = LCT_NODE(g, id);
    n->role = LCT_ROLE_DW;
    n->phase = LCT_PHASE_BACKWARD;
    n->cost_us = 0.1;
    n->cost_src = LCT_COST_MODELLED;
    n->call.kind = LCT_CALL_GEMM;
    n->call.u.gemm = (lct_gemm_call_t){1,
                                       0,
                                       128,
                                       256,
                                       512,
                                       128,
                                       512,
                                       128,
                                       65536,
                                       131072,
                                       32768,
                                       4,
                                       LCT_DTYPE_F16,
                                       LCT_DTYPE_F16,
                                       LCT_DTYPE_F32,
                                       LCT_DTYPE_F32,
                                       1.0 / 3.0,
                                       -0.0,
                                       HI + 1,
                                       HI + 2,
                                       UINT64_MAX - 15,
                                       0x7f00dead0000,
                                       1ull << 22};
    /* 13: a name with non-ASCII characters, a backslash and a control character */
    lct_graph_add_node(g, LCT_NODE_KERNEL, "\xd1\x8f\xd0\xb4\xd1\x80\xd0\xbe \\ back\x01", &id);
    LCT_NODE(g, id)->cost_us = 1e-300;

    for (uint32_t i = 0; i + 1 < LCT_NNODES(g); i++)
        ck_assert_int_eq(
            lct_graph_add_edge(g, i, i + 1, (lct_edge_kind_t)(i % LCT_EDGE_KIND_COUNT)), LCT_OK);
    lct_graph_add_edge(g, 0, 1, LCT_EDGE_SCHED); /* duplicate pair, other kind */
    g->edges.data[g->edges.len - 1].data = 0xffffffffu;
    lct_graph_add_edge(g, 3, 12, LCT_EDGE_BARRIER);
    g->edges.data[g->edges.len - 1].data = 1;
    return g;
}

static void str_eq_null(const char *a, const char *b)
{
    if (!a || !b)
        ck_assert_ptr_eq(a, b);
    else
        ck_assert_str_eq(a, b);
}

/* Field by field: every member of every node, edge and the metadata. */
static void assert_graphs_equal(const lct_graph_t *a, const lct_graph_t *b)
{
    str_eq_null(a->meta.name, b->meta.name);
    str_eq_null(a->meta.device, b->meta.device);
    str_eq_null(a->meta.fabric, b->meta.fabric);
    str_eq_null(a->meta.model, b->meta.model);
    ck_assert_int_eq(a->meta.world_size, b->meta.world_size);
    ck_assert_int_eq(a->meta.rank, b->meta.rank);
    ck_assert_int_eq(a->meta.gpus_per_node, b->meta.gpus_per_node);
    ck_assert_uint_eq(a->nodes.len, b->nodes.len);
    for (uint32_t i = 0; i < LCT_NNODES(a); i++) {
        const lct_node_t *x = LCT_NODE(a, i), *y = LCT_NODE(b, i);
        ck_assert_int_eq(x->kind, y->kind);
        ck_assert_str_eq(x->name, y->name);
        ck_assert_str_eq(x->lib, y->lib);
        ck_assert_int_eq(x->stream, y->stream);
        ck_assert_uint_eq(x->launch_order, y->launch_order);
        ck_assert_uint_eq(x->flags, y->flags);
        ck_assert_int_eq(x->fp.unknown, y->fp.unknown);
        ck_assert_uint_eq(x->fp.nranges, y->fp.nranges);
        for (uint32_t r = 0; r < x->fp.nranges; r++) {
            ck_assert_uint_eq(x->fp.ranges[r].addr, y->fp.ranges[r].addr);
            ck_assert_uint_eq(x->fp.ranges[r].size, y->fp.ranges[r].size);
            ck_assert_uint_eq(x->fp.ranges[r].access, y->fp.ranges[r].access);
            ck_assert_uint_eq(x->fp.ranges[r].exact, y->fp.ranges[r].exact);
        }
        ck_assert(memcmp(&x->cost_us, &y->cost_us, sizeof(double)) == 0);
        ck_assert_int_eq(x->cost_src, y->cost_src);
        ck_assert_int_eq(x->phase, y->phase);
        ck_assert_int_eq(x->role, y->role);
        ck_assert_int_eq(x->layer, y->layer);
        ck_assert_int_eq(x->moe, y->moe);
        ck_assert_int_eq(x->parent, y->parent);
        ck_assert_uint_eq(x->chunk, y->chunk);
        ck_assert_uint_eq(x->nchunks, y->nchunks);
        ck_assert_uint_eq(x->mem_bytes, y->mem_bytes);
        const lct_coll_t *c = &x->coll, *d = &y->coll;
        ck_assert_int_eq(c->op, d->op);
        ck_assert_uint_eq(c->comm, d->comm);
        ck_assert_uint_eq(c->seq, d->seq);
        ck_assert_int_eq(c->nranks, d->nranks);
        ck_assert_int_eq(c->dtype, d->dtype);
        ck_assert_uint_eq(c->count, d->count);
        ck_assert_uint_eq(c->sendbuf, d->sendbuf);
        ck_assert_uint_eq(c->recvbuf, d->recvbuf);
        ck_assert_int_eq(c->root, d->root);
        ck_assert_uint_eq(c->bytes, d->bytes);
        ck_assert_uint_eq(c->npeers, d->npeers);
        for (uint32_t p = 0; p < c->npeers; p++) {
            ck_assert_int_eq(c->peers[p].peer, d->peers[p].peer);
            ck_assert_uint_eq(c->peers[p].send_bytes, d->peers[p].send_bytes);
            ck_assert_uint_eq(c->peers[p].recv_bytes, d->peers[p].recv_bytes);
        }
        ck_assert_int_eq(x->call.kind, y->call.kind);
        if (x->call.kind == LCT_CALL_GEMM) {
            const lct_gemm_call_t *m = &x->call.u.gemm, *o = &y->call.u.gemm;
            ck_assert_uint_eq(m->trans_a, o->trans_a);
            ck_assert_uint_eq(m->trans_b, o->trans_b);
            ck_assert(m->m == o->m && m->n == o->n && m->k == o->k);
            ck_assert(m->lda == o->lda && m->ldb == o->ldb && m->ldc == o->ldc);
            ck_assert(m->stride_a == o->stride_a && m->stride_b == o->stride_b &&
                      m->stride_c == o->stride_c && m->batch == o->batch);
            ck_assert(m->type_a == o->type_a && m->type_b == o->type_b && m->type_c == o->type_c &&
                      m->compute == o->compute);
            ck_assert(memcmp(&m->alpha, &o->alpha, sizeof(double)) == 0);
            ck_assert(memcmp(&m->beta, &o->beta, sizeof(double)) == 0);
            ck_assert(m->a == o->a && m->b == o->b && m->c == o->c);
            ck_assert(m->workspace == o->workspace && m->workspace_size == o->workspace_size);
        } else if (x->call.kind == LCT_CALL_KERNEL) {
            const lct_kernel_call_t *m = &x->call.u.kernel, *o = &y->call.u.kernel;
            ck_assert(memcmp(m->grid, o->grid, sizeof(m->grid)) == 0);
            ck_assert(memcmp(m->block, o->block, sizeof(m->block)) == 0);
            ck_assert_uint_eq(m->smem, o->smem);
            ck_assert_uint_eq(m->nparams, o->nparams);
            ck_assert(memcmp(m->param_offset, o->param_offset, m->nparams * 4) == 0);
            ck_assert(memcmp(m->param_size, o->param_size, m->nparams * 4) == 0);
            ck_assert_uint_eq(m->param_bytes, o->param_bytes);
            ck_assert(memcmp(m->param_data, o->param_data, m->param_bytes) == 0);
        } else if (x->call.kind == LCT_CALL_COPY) {
            ck_assert(memcmp(&x->call.u.copy, &y->call.u.copy, sizeof(lct_copy_call_t)) == 0);
        } else if (x->call.kind == LCT_CALL_SET) {
            const lct_set_call_t *m = &x->call.u.set, *o = &y->call.u.set;
            ck_assert(m->dst == o->dst && m->value == o->value && m->elem_size == o->elem_size &&
                      m->count == o->count);
        }
    }
    ck_assert_uint_eq(a->edges.len, b->edges.len);
    for (size_t i = 0; i < a->edges.len; i++) {
        ck_assert_uint_eq(a->edges.data[i].src, b->edges.data[i].src);
        ck_assert_uint_eq(a->edges.data[i].dst, b->edges.data[i].dst);
        ck_assert_int_eq(a->edges.data[i].kind, b->edges.data[i].kind);
        ck_assert_uint_eq(a->edges.data[i].data, b->edges.data[i].data);
    }
}

START_TEST(round_trip_full_graph)
{
    lct_graph_t *g = build_full_graph(), *h = NULL, *h2 = NULL;
    char err[512];
    ck_assert_int_eq(lct_ir_verify(g, err, sizeof(err)), LCT_OK);
    char *t1 = lct_ir_write_string(g);
    ck_assert_ptr_nonnull(t1);
    /* addresses above 2^63 as hex strings; sizes above 2^63-1 too; the rest plain integers */
    ck_assert_ptr_nonnull(strstr(t1, "\"addr\": \"0x8000000000001000\""));
    ck_assert_ptr_nonnull(strstr(t1, "\"bytes\": \"0x8000000000000000\""));
    ck_assert_ptr_nonnull(strstr(t1, "\"comm\": \"0xffffffffffffffff\""));
    ck_assert_ptr_nonnull(strstr(t1, "\"mem_bytes\": 1073741824"));
    ck_assert_ptr_nonnull(strstr(t1, "\"beta\": -0.0"));
    ck_assert_ptr_nonnull(strstr(t1, "\"cost_us\": 0.1,"));
    ck_assert_ptr_nonnull(strstr(t1, "\"param_data\": \"1032547698badcfe"));
    ck_assert_ptr_nonnull(strstr(t1, "\"footprint\": \"unknown\""));
    ck_assert_ptr_nonnull(strstr(t1, "\"footprint\": {\"unknown\": true, \"ranges\": ["));
    ck_assert_ptr_nonnull(strstr(t1, "\"flags\": [\"opaque\", \"split\"]"));
    ck_assert_int_eq(lct_ir_read_string(t1, strlen(t1), &h, err, sizeof(err)), LCT_OK);
    assert_graphs_equal(g, h);
    char *t2 = lct_ir_write_string(h);
    ck_assert_str_eq(t1, t2);

    /* through a file as well */
    char path[4096];
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof(path), "%s/test_ir_json_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(lct_ir_write_file(h, path), LCT_OK);
    ck_assert_int_eq(lct_ir_read_file(path, &h2, err, sizeof(err)), LCT_OK);
    assert_graphs_equal(g, h2);
    char *t3 = lct_ir_write_string(h2);
    ck_assert_str_eq(t1, t3);
    unlink(path);
    free(t1);
    free(t2);
    free(t3);
    lct_graph_destroy(g);
    lct_graph_destroy(h);
    lct_graph_destroy(h2);
}
END_TEST

START_TEST(json_string_lossy)
{
    json_t *j = lct_ir_json_string("ok\xff" "b\xc3\xa9");
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(j), "ok\xef\xbf\xbd" "b\xc3\xa9"); /* é kept, 0xff replaced */
    json_decref(j);
    j = lct_ir_json_string(NULL);
    ck_assert_str_eq(json_string_value(j), "");
    json_decref(j);
}
END_TEST

START_TEST(round_trip_empty_and_defaults)
{
    lct_graph_t *g, *h;
    char err[256];
    lct_graph_create(&g);
    char *t = lct_ir_write_string(g);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(lct_ir_read_string(t, strlen(t), &h, err, sizeof(err)), LCT_OK);
    assert_graphs_equal(g, h);
    free(t);
    lct_graph_destroy(h);
    lct_graph_destroy(g);

    /* a minimal node takes the defaults of lct_graph_add_node, except that a node doing work
     * without a footprint key has an unknown footprint (a barrier); an empty node's is empty */
    const char *txt =
        "{\"format\": \"lancet-step-graph\", \"version\": 1, \"meta\": {\"world_size\": 8},"
        " \"nodes\": [{\"kind\": \"kernel\"}, {\"kind\": \"collective\", \"coll\": "
        "{\"op\": \"all_reduce\", \"comm\": 5, \"seq\": 0}, \"future_key\": [1, 2]},"
        " {\"kind\": \"empty\"}, {\"kind\": \"kernel\", \"footprnt\": []}],"
        " \"future_section\": {}}";
    ck_assert_int_eq(lct_ir_read_string(txt, strlen(txt), &h, err, sizeof(err)), LCT_OK);
    lct_graph_create(&g);
    g->meta.world_size = 8;
    lct_graph_add_node(g, LCT_NODE_KERNEL, NULL, NULL);
    lct_graph_add_node(g, LCT_NODE_COLLECTIVE, NULL, NULL);
    lct_graph_add_node(g, LCT_NODE_EMPTY, NULL, NULL);
    lct_graph_add_node(g, LCT_NODE_KERNEL, NULL, NULL);
    LCT_NODE(g, 1)->coll.op = LCT_COLL_ALLREDUCE;
    LCT_NODE(g, 1)->coll.comm = 5;
    LCT_NODE(g, 0)->fp.unknown = true;
    LCT_NODE(g, 1)->fp.unknown = true;
    LCT_NODE(g, 3)->fp.unknown = true; /* misspelt key: not silently "touches nothing" */
    assert_graphs_equal(g, h);
    ck_assert(!LCT_NODE(h, 2)->fp.unknown);
    ck_assert_str_eq(LCT_NODE(h, 0)->name, "kernel");
    ck_assert_str_eq(LCT_NODE(h, 0)->lib, "generic");
    ck_assert_int_eq(LCT_NODE(h, 1)->coll.nranks, 8); /* default: the world size */
    ck_assert_int_eq(LCT_NODE(h, 1)->launch_order, 1);
    lct_graph_destroy(g);
    lct_graph_destroy(h);
}
END_TEST

START_TEST(u64_representations)
{
    lct_graph_t *h;
    char err[256];
    const char *ok = "{\"format\": \"lancet-step-graph\", \"version\": 1, \"nodes\": [{\"kind\": "
                     "\"memcpy\", \"mem_bytes\": 9223372036854775807, \"footprint\": [{\"addr\": "
                     "\"0XFFFFFFFFFFFFFFFE\", \"size\": \"0x1\", \"access\": \"w\"}, {\"addr\": "
                     "\"0x0000000000000001\", \"size\": 1, \"access\": \"r\", \"exact\": true}]}]}";
    ck_assert_int_eq(lct_ir_read_string(ok, strlen(ok), &h, err, sizeof(err)), LCT_OK);
    ck_assert_uint_eq(LCT_NODE(h, 0)->mem_bytes, (uint64_t)INT64_MAX);
    ck_assert_uint_eq(LCT_NODE(h, 0)->fp.ranges[0].addr, UINT64_MAX - 1);
    ck_assert_uint_eq(LCT_NODE(h, 0)->fp.ranges[0].size, 1);
    ck_assert_uint_eq(LCT_NODE(h, 0)->fp.ranges[0].exact, 0); /* default: conservative */
    ck_assert_uint_eq(LCT_NODE(h, 0)->fp.ranges[1].addr, 1);
    ck_assert_uint_eq(LCT_NODE(h, 0)->fp.ranges[1].exact, 1);
    lct_graph_destroy(h);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Bad inputs: each must fail with the status and a message naming the location. */

#define HDR "{\"format\": \"lancet-step-graph\", \"version\": 1, "
#define N1(node) HDR "\"nodes\": [" node "]}"
#define K(extra) N1("{\"kind\": \"kernel\", " extra "}")
#define R(range) K("\"footprint\": [" range "]")
#define C(coll) N1("{\"kind\": \"collective\", \"coll\": {" coll "}}")
#define CALL(call) K("\"call\": {" call "}")

typedef struct {
    const char *text;
    lct_status_t st;
    const char *msg;
} bad_case_t;

static const bad_case_t bad_cases[] = {
    {"", LCT_ERR_PARSE, "<string>:1:"},
    {"{", LCT_ERR_PARSE, "<string>:1:1:"},
    {"[]", LCT_ERR_PARSE, "top level: expected an object"},
    {"{\"format\": \"other\", \"version\": 1, \"nodes\": []}", LCT_ERR_PARSE,
     "format: expected \"lancet-step-graph\""},
    {"{\"version\": 1, \"nodes\": []}", LCT_ERR_PARSE, "format: missing required key"},
    {"{\"format\": \"lancet-step-graph\", \"version\": 2, \"nodes\": []}", LCT_ERR_PARSE,
     "version: 2 is not supported; this build reads versions 1 to 1"},
    {"{\"format\": \"lancet-step-graph\", \"version\": \"1\", \"nodes\": []}", LCT_ERR_PARSE,
     "version: expected an integer"},
    {HDR "\"edges\": []}", LCT_ERR_PARSE, "nodes: missing required key"},
    {HDR "\"nodes\": {}}", LCT_ERR_PARSE, "nodes: expected a list, got an object"},
    {N1("1"), LCT_ERR_PARSE, "nodes[0]: expected a node object"},
    {N1("{\"kind\": \"kernal\"}"), LCT_ERR_PARSE,
     "nodes[0].kind: expected one of kernel, memcpy, memset, host, event_record"},
    {N1("{\"name\": \"x\"}"), LCT_ERR_PARSE, "nodes[0].kind: missing required key"},
    {N1("{\"kind\": \"kernel\", \"kind\": \"empty\"}"), LCT_ERR_PARSE, "duplicate object key"},
    {N1("{\"kind\": \"empty\"}, {\"kind\": \"empty\", \"id\": 5}"), LCT_ERR_PARSE,
     "nodes[1].id: is 5 but node ids are the array indices: expected 1"},
    {K("\"stream\": 2147483648"), LCT_ERR_PARSE,
     "nodes[0].stream: expected an integer from -2147483648 to 2147483647, got 2147483648"},
    {K("\"launch_order\": -1"), LCT_ERR_PARSE,
     "nodes[0].launch_order: expected an unsigned integer"},
    {K("\"launch_order\": 4294967296"), LCT_ERR_PARSE,
     "nodes[0].launch_order: 4294967296 is out of range (at most 4294967295)"},
    {K("\"cost_us\": -1.5"), LCT_ERR_PARSE, "nodes[0].cost_us: expected a finite number >= 0"},
    {K("\"cost_us\": \"fast\""), LCT_ERR_PARSE,
     "nodes[0].cost_us: expected a finite number >= 0, got string \"fast\""},
    {K("\"cost_us\": 1e999"), LCT_ERR_PARSE, "real number overflow"},
    {K("\"layer\": -2"), LCT_ERR_PARSE, "nodes[0].layer: expected an integer from -1"},
    {K("\"role\": \"dW\""), LCT_ERR_PARSE,
     "nodes[0].role: expected one of other, dw, dx, a2a, all_reduce"},
    {K("\"phase\": 1"), LCT_ERR_PARSE, "nodes[0].phase: expected one of unknown, forward"},
    {K("\"parent\": 5"), LCT_ERR_PARSE, "nodes[0].parent: expected an integer from -1 to 0, got 5"},
    {K("\"parent\": 0"), LCT_ERR_PARSE, "nodes[0].parent: a node cannot be its own parent"},
    {K("\"chunk\": 2, \"nchunks\": 2"), LCT_ERR_PARSE,
     "nodes[0].chunk: 2 is out of range (at most 1)"},
    {K("\"nchunks\": 0"), LCT_ERR_PARSE, "nodes[0].nchunks: expected at least 1"},
    {K("\"nchunks\": 65536"), LCT_ERR_PARSE, "nodes[0].nchunks: 65536 is out of range"},
    {K("\"flags\": [\"opaque\", \"fast\"]"), LCT_ERR_PARSE,
     "nodes[0].flags[1]: expected one of opaque, external, grad_sync, split"},
    {K("\"flags\": [\"opaque\", \"opaque\"]"), LCT_ERR_PARSE,
     "nodes[0].flags[1]: flag \"opaque\" given twice"},
    {K("\"flags\": \"opaque\""), LCT_ERR_PARSE, "nodes[0].flags: expected a list"},
    {K("\"name\": 7"), LCT_ERR_PARSE, "nodes[0].name: expected a string, got 7"},
    {K("\"name\": \"a\\u0000b\""), LCT_ERR_PARSE, "<string>:1:"},
    {K("\"footprint\": \"maybe\""), LCT_ERR_PARSE, "nodes[0].footprint: expected a list of ranges"},
    {K("\"footprint\": 3"), LCT_ERR_PARSE, "nodes[0].footprint: expected a list of ranges"},
    {R("{\"addr\": 4096, \"size\": 0, \"access\": \"r\"}"), LCT_ERR_PARSE,
     "nodes[0].footprint[0].size: a range must have size > 0"},
    {R("{\"addr\": \"0xfffffffffffffff0\", \"size\": 16, \"access\": \"r\"}"), LCT_ERR_PARSE,
     "nodes[0].footprint[0].size: range at 0xfffffffffffffff0 of 0x10 bytes wraps around"},
    {R("{\"addr\": 1, \"size\": \"0xffffffffffffffff\", \"access\": \"r\"}"), LCT_ERR_PARSE,
     "nodes[0].footprint[0].size: range at 0x1 of 0xffffffffffffffff bytes wraps around"},
    {R("{\"addr\": 4096, \"size\": 16, \"access\": \"x\"}"), LCT_ERR_PARSE,
     "nodes[0].footprint[0].access: expected one of r, w, rw; got string \"x\""},
    {R("{\"addr\": \"0x\", \"size\": 16, \"access\": \"r\"}"), LCT_ERR_PARSE,
     "nodes[0].footprint[0].addr: expected an unsigned integer (a JSON integer >= 0 or a hex "
     "string"},
    {R("{\"addr\": \"0x1ffffffffffffffff\", \"size\": 16, \"access\": \"r\"}"), LCT_ERR_PARSE,
     "nodes[0].footprint[0].addr: expected an unsigned integer"},
    {R("{\"addr\": \"4096\", \"size\": 16, \"access\": \"r\"}"), LCT_ERR_PARSE,
     "nodes[0].footprint[0].addr: expected an unsigned integer"},
    {R("{\"addr\": -4096, \"size\": 16, \"access\": \"r\"}"), LCT_ERR_PARSE,
     "nodes[0].footprint[0].addr: expected an unsigned integer"},
    {R("{\"addr\": 4096.0, \"size\": 16, \"access\": \"r\"}"), LCT_ERR_PARSE,
     "nodes[0].footprint[0].addr: expected an unsigned integer"},
    {R("{\"addr\": 18446744073709551615, \"size\": 16, \"access\": \"r\"}"), LCT_ERR_PARSE,
     "write integers above 2^63-1 as hex strings"},
    {R("{\"addr\": 0, \"size\": 1, \"access\": \"r\"}, {\"addr\": 0, \"access\": \"r\"}"),
     LCT_ERR_PARSE, "nodes[0].footprint[1].size: missing required key"},
    {R("{\"addr\": 0, \"size\": 1, \"access\": \"r\", \"exact\": 1}"), LCT_ERR_PARSE,
     "nodes[0].footprint[0].exact: expected true or false, got 1"},
    {K("\"footprint\": {\"unknown\": true, \"ranges\": [{\"size\": 1}]}"), LCT_ERR_PARSE,
     "nodes[0].footprint.ranges[0].addr: missing required key"},
    {N1("{\"kind\": \"collective\"}"), LCT_ERR_PARSE, "nodes[0].coll: missing required key"},
    {C("\"op\": \"none\", \"comm\": 1, \"seq\": 0"), LCT_ERR_PARSE,
     "nodes[0].coll.op: a collective node needs an operation other than none"},
    {C("\"op\": \"all_to_all\", \"seq\": 0"), LCT_ERR_PARSE,
     "nodes[0].coll.comm: missing required key"},
    {C("\"op\": \"broadcast\", \"comm\": 1, \"seq\": 0, \"nranks\": 4, \"root\": 4"), LCT_ERR_PARSE,
     "nodes[0].coll.root: expected an integer from -1 to 3, got 4"},
    {C("\"op\": \"all_to_all\", \"comm\": 1, \"seq\": 0, \"nranks\": 0"), LCT_ERR_PARSE,
     "nodes[0].coll.nranks: expected an integer from 1"},
    {C("\"op\": \"send_recv\", \"comm\": 1, \"seq\": 0, \"nranks\": 2, \"peers\": [{\"peer\": 1}, "
       "{\"peer\": 2}]"),
     LCT_ERR_PARSE, "nodes[0].coll.peers[1].peer: expected an integer from 0 to 1, got 2"},
    {C("\"op\": \"all_reduce\", \"comm\": 1, \"seq\": 0, \"dtype\": \"fp32\""), LCT_ERR_PARSE,
     "nodes[0].coll.dtype: expected one of f32, f16, bf16"},
    {CALL("\"kind\": \"cuda\""), LCT_ERR_PARSE,
     "nodes[0].call.kind: expected one of none, gemm, kernel, copy, set"},
    {CALL("\"kind\": \"gemm\", \"m\": 1, \"n\": 1"), LCT_ERR_PARSE,
     "nodes[0].call.k: missing required key"},
    {CALL("\"kind\": \"gemm\", \"m\": 1, \"n\": 1, \"k\": 1, \"batch\": 0"), LCT_ERR_PARSE,
     "nodes[0].call.batch: expected an integer from 1"},
    {CALL("\"kind\": \"gemm\", \"m\": 1, \"n\": -1, \"k\": 1"), LCT_ERR_PARSE,
     "nodes[0].call.n: expected an integer from 0"},
    {CALL("\"kind\": \"gemm\", \"m\": 1, \"n\": 1, \"k\": 1, \"trans_a\": 256"), LCT_ERR_PARSE,
     "nodes[0].call.trans_a: 256 is out of range (at most 255)"},
    {CALL("\"kind\": \"kernel\", \"grid\": [1, 2], \"block\": [1, 1, 1]"), LCT_ERR_PARSE,
     "nodes[0].call.grid: expected a list of 3 unsigned integers"},
    {CALL("\"kind\": \"kernel\", \"grid\": [1, 1, 1], \"block\": [1, -1, 1]"), LCT_ERR_PARSE,
     "nodes[0].call.block: entry 1: expected an integer from 0 to 4294967295, got -1"},
    {CALL("\"kind\": \"kernel\", \"grid\": [1, 1, 1], \"block\": [1, 1, 1], \"param_data\": "
          "\"abc\""),
     LCT_ERR_PARSE, "nodes[0].call.param_data: expected two hex digits per byte"},
    {CALL(
         "\"kind\": \"kernel\", \"grid\": [1, 1, 1], \"block\": [1, 1, 1], \"param_data\": \"0g\""),
     LCT_ERR_PARSE, "nodes[0].call.param_data: character 1 is not a hex digit"},
    {CALL("\"kind\": \"kernel\", \"grid\": [1, 1, 1], \"block\": [1, 1, 1], \"param_data\": "
          "\"0011223344556677\", \"params\": [[0, 4], [4, 8]]"),
     LCT_ERR_PARSE,
     "nodes[0].call.params[1]: parameter bytes [4, +8) lie outside param_data (8 bytes)"},
    {CALL("\"kind\": \"kernel\", \"grid\": [1, 1, 1], \"block\": [1, 1, 1], \"params\": [[0]]"),
     LCT_ERR_PARSE, "nodes[0].call.params[0]: expected [offset, size]"},
    {CALL("\"kind\": \"set\", \"dst\": 0, \"count\": 1, \"elem_size\": 3"), LCT_ERR_PARSE,
     "nodes[0].call.elem_size: expected 1, 2 or 4, got 3"},
    {CALL("\"kind\": \"copy\", \"dst\": 0, \"src\": 0"), LCT_ERR_PARSE,
     "nodes[0].call.bytes: missing required key"},
    {HDR "\"nodes\": [{\"kind\": \"empty\"}, {\"kind\": \"empty\"}], \"edges\": [{\"src\": 0, "
         "\"dst\": 7, \"kind\": \"data\"}]}",
     LCT_ERR_PARSE, "edges[0].dst: node 7 does not exist (the graph has 2 nodes)"},
    {HDR "\"nodes\": [{\"kind\": \"empty\"}, {\"kind\": \"empty\"}], \"edges\": [{\"src\": 1, "
         "\"dst\": 0, \"kind\": \"data\"}, {\"src\": 1, \"dst\": 1, \"kind\": \"data\"}]}",
     LCT_ERR_PARSE, "edges[1].dst: self loop on node 1"},
    {HDR "\"nodes\": [{\"kind\": \"empty\"}, {\"kind\": \"empty\"}], \"edges\": [{\"src\": 0, "
         "\"dst\": 1}]}",
     LCT_ERR_PARSE, "edges[0].kind: missing required key"},
    {HDR "\"nodes\": [], \"edges\": [{\"src\": 0, \"dst\": 1, \"kind\": \"data\"}]}", LCT_ERR_PARSE,
     "edges[0]: an edge needs nodes"},
    {HDR "\"nodes\": [], \"edges\": 5}", LCT_ERR_PARSE, "edges: expected a list, got 5"},
    {HDR "\"meta\": {\"world_size\": 2, \"rank\": 2}, \"nodes\": []}", LCT_ERR_PARSE,
     "meta.rank: expected an integer from 0 to 1, got 2"},
    {HDR "\"meta\": {\"world_size\": 0}, \"nodes\": []}", LCT_ERR_PARSE,
     "meta.world_size: expected an integer from 1"},
    {HDR "\"meta\": {\"name\": 5}, \"nodes\": []}", LCT_ERR_PARSE, "meta.name: expected a string"},
    {HDR "\"meta\": [], \"nodes\": []}", LCT_ERR_PARSE, "meta: expected an object"},
    {HDR "\"nodes\": []} x", LCT_ERR_PARSE, "end of file expected"},
    {HDR "\"nodes\": [{\"kind\": \"k\xff\"}]}", LCT_ERR_PARSE, "<string>:1:"},
};

START_TEST(bad_inputs)
{
    size_t n = sizeof(bad_cases) / sizeof(bad_cases[0]);
    ck_assert_uint_ge(n, 25);
    for (size_t i = 0; i < n; i++) {
        char err[512];
        lct_graph_t *g = (lct_graph_t *)0x1; /* must stay untouched */
        lct_status_t st =
            lct_ir_read_string(bad_cases[i].text, strlen(bad_cases[i].text), &g, err, sizeof(err));
        ck_assert_msg(st == bad_cases[i].st, "case %zu: status %d, expected %d (%s)", i, st,
                      bad_cases[i].st, err);
        ck_assert_msg(strstr(err, bad_cases[i].msg) != NULL,
                      "case %zu: message \"%s\" lacks \"%s\"", i, err, bad_cases[i].msg);
        ck_assert_ptr_eq(g, (lct_graph_t *)0x1);
    }
}
END_TEST

/* Inputs that need building: too deep, too long. */
START_TEST(bad_inputs_limits)
{
    char err[512];
    lct_graph_t *g = NULL;
    size_t depth = 100000, o = 0;
    char *t = malloc(2 * depth + 256);
    o += (size_t)sprintf(t, HDR "\"nodes\": [], \"x\": ");
    for (size_t i = 0; i < depth; i++)
        t[o++] = '[';
    for (size_t i = 0; i < depth; i++)
        t[o++] = ']';
    t[o++] = '}';
    ck_assert_int_eq(lct_ir_read_string(t, o, &g, err, sizeof(err)), LCT_ERR_PARSE);
    ck_assert_ptr_nonnull(strstr(err, "maximum parsing depth"));
    free(t);

    /* a 64 KiB + 1 name */
    const char *pre = HDR "\"nodes\": [{\"kind\": \"kernel\", \"name\": \"";
    size_t nl = 65537;
    t = malloc(strlen(pre) + nl + 64);
    o = (size_t)sprintf(t, "%s", pre);
    memset(t + o, 'a', nl);
    o += nl;
    o += (size_t)sprintf(t + o, "\"}]}");
    ck_assert_int_eq(lct_ir_read_string(t, o, &g, err, sizeof(err)), LCT_ERR_PARSE);
    ck_assert_msg(strstr(err, "nodes[0].name: string of 65537 bytes is too long (at most 65536)") !=
                      NULL,
                  "%s", err);
    free(t);

    /* a parameter block over 64 KiB */
    pre = HDR "\"nodes\": [{\"kind\": \"kernel\", \"call\": {\"kind\": \"kernel\", \"grid\": "
              "[1, 1, 1], \"block\": [1, 1, 1], \"param_data\": \"";
    nl = 2 * 65536 + 2;
    t = malloc(strlen(pre) + nl + 64);
    o = (size_t)sprintf(t, "%s", pre);
    memset(t + o, '0', nl);
    o += nl;
    o += (size_t)sprintf(t + o, "\"}}]}");
    ck_assert_int_eq(lct_ir_read_string(t, o, &g, err, sizeof(err)), LCT_ERR_PARSE);
    ck_assert_msg(strstr(err, "nodes[0].call.param_data: string of 131074 bytes is too long") !=
                      NULL,
                  "%s", err);
    free(t);

    /* 33 flags */
    char buf[2048];
    o = (size_t)sprintf(buf, HDR "\"nodes\": [{\"kind\": \"kernel\", \"flags\": [");
    for (int i = 0; i < 33; i++)
        o += (size_t)sprintf(buf + o, "%s\"opaque\"", i ? ", " : "");
    o += (size_t)sprintf(buf + o, "]}]}");
    ck_assert_int_eq(lct_ir_read_string(buf, o, &g, err, sizeof(err)), LCT_ERR_PARSE);
    ck_assert_msg(strstr(err, "nodes[0].flags: list of 33 entries is too long") != NULL, "%s", err);

    /* NULL text, zero length: an error, not a crash; no error buffer: logged instead */
    ck_assert_int_eq(lct_ir_read_string(NULL, 0, &g, err, sizeof(err)), LCT_ERR_PARSE);
    lct_log_level = LCT_LOG_NONE;
    ck_assert_int_eq(lct_ir_read_string("{}", 2, &g, NULL, 0), LCT_ERR_PARSE);
    lct_log_level = LCT_LOG_WARN;
    /* a tiny error buffer is filled and terminated */
    char small[8];
    ck_assert_int_eq(lct_ir_read_string("[]", 2, &g, small, sizeof(small)), LCT_ERR_PARSE);
    ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
}
END_TEST

START_TEST(read_file_errors)
{
    char err[512];
    lct_graph_t *g = NULL;
    ck_assert_int_eq(lct_ir_read_file("/nonexistent/graph.json", &g, err, sizeof(err)), LCT_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/graph.json: cannot open"));
    ck_assert_int_eq(lct_ir_read_file("/", &g, err, sizeof(err)), LCT_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err, "/: cannot read"));
    /* a syntax error in a file names the file, line and column */
    ck_assert_int_eq(lct_ir_read_file(golden_path("bad-syntax.json"), &g, err, sizeof(err)),
                     LCT_ERR_PARSE);
    ck_assert_msg(strstr(err, "bad-syntax.json:6:") != NULL, "%s", err);
    ck_assert_ptr_null(g);
    g = build_full_graph();
    lct_log_level = LCT_LOG_NONE;
    ck_assert_int_eq(lct_ir_write_file(g, "/nonexistent/out.json"), LCT_ERR_IO);
    lct_log_level = LCT_LOG_WARN;
    lct_graph_destroy(g);
}
END_TEST

/* Golden bad files: (file, read status, verify status when read succeeds, message). */
START_TEST(golden_bad_files)
{
    static const struct {
        const char *file;
        lct_status_t read_st, verify_st;
        const char *msg;
    } cases[] = {
        {"bad-syntax.json", LCT_ERR_PARSE, LCT_OK, "bad-syntax.json:6:"},
        {"bad-version.json", LCT_ERR_PARSE, LCT_OK, "version: 3 is not supported"},
        {"bad-range-wrap.json", LCT_ERR_PARSE, LCT_OK, "nodes[1].footprint[0].size: range at"},
        {"bad-edge-index.json", LCT_ERR_PARSE, LCT_OK,
         "edges[2].src: node 9 does not exist (the graph has 3 nodes)"},
        {"bad-cycle.json", LCT_OK, LCT_ERR_CYCLE, "cycle: 1 'b' -> 2 'c' -> 1"},
        {"bad-coll-order.json", LCT_OK, LCT_ERR_INVALID,
         "communicator 0x7: collective seq 1 (node 2 'a2a-1') is not ordered after seq 0"},
        {"bad-coll-seq.json", LCT_OK, LCT_ERR_INVALID, "communicator 0x7: seq 1 is missing"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[512];
        lct_graph_t *g = NULL;
        lct_status_t st = lct_ir_read_file(golden_path(cases[i].file), &g, err, sizeof(err));
        ck_assert_msg(st == cases[i].read_st, "%s: read status %d (%s)", cases[i].file, st, err);
        if (st == LCT_OK) {
            st = lct_ir_verify(g, err, sizeof(err));
            ck_assert_msg(st == cases[i].verify_st, "%s: verify status %d (%s)", cases[i].file, st,
                          err);
            lct_graph_destroy(g);
        }
        ck_assert_msg(strstr(err, cases[i].msg) != NULL, "%s: \"%s\" lacks \"%s\"", cases[i].file,
                      err, cases[i].msg);
    }
}
END_TEST

/* The example is in the writer's own layout: reading and writing it gives it back unchanged. */
START_TEST(example_small_is_canonical)
{
    size_t len;
    char *text = slurp(golden_path("example-small.json"), &len);
    lct_graph_t *g;
    char err[512];
    ck_assert_msg(lct_ir_read_string(text, len, &g, err, sizeof(err)) == LCT_OK, "%s", err);
    ck_assert_int_eq(lct_ir_verify(g, err, sizeof(err)), LCT_OK);
    ck_assert_uint_eq(LCT_NNODES(g), 5);
    ck_assert_int_eq(LCT_NODE(g, 1)->coll.op, LCT_COLL_ALLTOALL);
    ck_assert_int_eq(LCT_NODE(g, 3)->role, LCT_ROLE_DW);
    ck_assert_int_eq(LCT_NODE(g, 4)->coll.op, LCT_COLL_ALLREDUCE);
    char *out = lct_ir_write_string(g);
    ck_assert_str_eq(out, text);
    free(out);
    free(text);
    lct_graph_destroy(g);
}
END_TEST

/* Every prefix of a valid file is an error, never a crash (the whole file less its final newline
 * is the first valid one). */
START_TEST(truncation_never_crashes)
{
    lct_graph_t *g = build_full_graph(), *h;
    char *t = lct_ir_write_string(g);
    size_t len = strlen(t);
    char err[512];
    for (size_t cut = 0; cut + 1 < len; cut++) {
        /* a private copy of exactly cut bytes, so that ASan sees any read past the end */
        char *p = malloc(cut ? cut : 1);
        memcpy(p, t, cut);
        h = NULL;
        lct_status_t st = lct_ir_read_string(p, cut, &h, err, sizeof(err));
        ck_assert_msg(st == LCT_ERR_PARSE, "cut at %zu of %zu accepted", cut, len);
        ck_assert_ptr_null(h);
        ck_assert(err[0] != '\0');
        free(p);
    }
    ck_assert_int_eq(lct_ir_read_string(t, len - 1, &h, err, sizeof(err)), LCT_OK);
    lct_graph_destroy(h);
    free(t);
    lct_graph_destroy(g);
}
END_TEST

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64*: fixed seed, same mutations on every run */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* Seeded byte flips, insertions, deletions and token splices on valid files: the reader either
 * accepts (and the result then verifies or not, writes, and reads back) or rejects with a message;
 * it never crashes. */
START_TEST(mutations_never_crash)
{
    static const char *const tokens[] = {"-1",
                                         "0",
                                         "1e999",
                                         "4294967296",
                                         "\"0xffffffffffffffff\"",
                                         "null",
                                         "[]",
                                         "{}",
                                         "\"\"",
                                         "true",
                                         "9223372036854775807",
                                         "\"unknown\"",
                                         "[[0, 8]]",
                                         "-0.0",
                                         "\"\\u00e9\"",
                                         ",",
                                         ":",
                                         "\"kind\"",
                                         "65535",
                                         "\"collective\""};
    lct_graph_t *g = build_full_graph();
    char *full = lct_ir_write_string(g);
    lct_graph_destroy(g);
    size_t elen;
    char *example = slurp(golden_path("example-small.json"), &elen);
    const char *seeds[] = {full, example};
    uint64_t s = 0x5eed1234abcdull;
    unsigned accepted = 0, rejected = 0;
    for (int iter = 0; iter < 4000; iter++) {
        const char *base = seeds[iter & 1];
        size_t blen = strlen(base);
        char *m = malloc(blen + 64);
        memcpy(m, base, blen);
        size_t len = blen;
        int nmut = 1 + (int)(rng_next(&s) % 4);
        for (int k = 0; k < nmut; k++) {
            size_t at = (size_t)(rng_next(&s) % (len ? len : 1));
            switch (rng_next(&s) % 4) {
            case 0: /* flip a byte */
                if (len)
                    m[at] = (char)(rng_next(&s) & 0xff);
                break;
            case 1: /* insert a byte */
                if (len + 1 < blen + 64) {
                    memmove(m + at + 1, m + at, len - at);
                    m[at] = (char)(rng_next(&s) & 0xff);
                    len++;
                }
                break;
            case 2: /* delete a byte */
                if (len) {
                    memmove(m + at, m + at + 1, len - at - 1);
                    len--;
                }
                break;
            default: { /* replace a few bytes with a token */
                const char *tok = tokens[rng_next(&s) % (sizeof(tokens) / sizeof(tokens[0]))];
                size_t tl = strlen(tok), del = (size_t)(rng_next(&s) % 6);
                if (del > len - at)
                    del = len - at;
                if (len - del + tl < blen + 64) {
                    memmove(m + at + tl, m + at + del, len - at - del);
                    memcpy(m + at, tok, tl);
                    len = len - del + tl;
                }
            }
            }
        }
        char *p = malloc(len ? len : 1);
        memcpy(p, m, len);
        free(m);
        char err[512];
        lct_graph_t *h = NULL;
        lct_status_t st = lct_ir_read_string(p, len, &h, err, sizeof(err));
        if (st == LCT_OK) {
            accepted++;
            char verr[512];
            lct_status_t vs = lct_ir_verify(h, verr, sizeof(verr));
            ck_assert(vs == LCT_OK || vs == LCT_ERR_INVALID || vs == LCT_ERR_CYCLE);
            char *w = lct_ir_write_string(h);
            ck_assert_ptr_nonnull(w);
            lct_graph_t *h2 = NULL;
            /* whatever was accepted writes back to text that reads again to the same text */
            ck_assert_msg(lct_ir_read_string(w, strlen(w), &h2, err, sizeof(err)) == LCT_OK, "%s",
                          err);
            char *w2 = lct_ir_write_string(h2);
            ck_assert_str_eq(w, w2);
            free(w);
            free(w2);
            lct_graph_destroy(h2);
            lct_graph_destroy(h);
        } else {
            rejected++;
            ck_assert_int_eq(st, LCT_ERR_PARSE);
            ck_assert(err[0] != '\0');
            ck_assert_ptr_null(h);
        }
        free(p);
    }
    /* both outcomes must occur, or the mutations are not exercising the reader */
    ck_assert_uint_gt(accepted, 50);
    ck_assert_uint_gt(rejected, 1000);
    free(full);
    free(example);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Verifier. */

static lct_graph_t *chain(uint32_t n)
{
    lct_graph_t *g;
    lct_graph_create(&g);
    for (uint32_t i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof(name), "n%u", i);
        lct_graph_add_node(g, LCT_NODE_KERNEL, name, NULL);
        if (i)
            lct_graph_add_edge(g, i - 1, i, LCT_EDGE_STREAM);
    }
    return g;
}

static void make_coll(lct_graph_t *g, uint32_t i, uint64_t comm, uint32_t seq)
{
    lct_node_t *n = LCT_NODE(g, i);
    n->kind = LCT_NODE_COLLECTIVE;
    n->coll.op = LCT_COLL_ALLTOALL;
    n->coll.comm = comm;
    n->coll.seq = seq;
}

static void expect_verify(lct_graph_t *g, lct_status_t st, const char *msg)
{
    char err[512];
    lct_status_t got = lct_ir_verify(g, err, sizeof(err));
    ck_assert_msg(got == st, "verify gave %d, expected %d: %s", got, st, err);
    if (msg)
        ck_assert_msg(strstr(err, msg) != NULL, "\"%s\" lacks \"%s\"", err, msg);
}

START_TEST(verify_cycle)
{
    lct_graph_t *g = chain(5);
    expect_verify(g, LCT_OK, NULL);
    lct_graph_add_edge(g, 4, 2, LCT_EDGE_DATA);
    expect_verify(g, LCT_ERR_CYCLE, "the graph has a cycle: 2 'n2' -> 3 'n3' -> 4 'n4' -> 2");
    lct_graph_destroy(g);

    /* a cycle behind which more nodes hang: the named cycle is a real one */
    g = chain(3);
    lct_graph_add_node(g, LCT_NODE_KERNEL, "tail", NULL);
    lct_graph_add_edge(g, 1, 0, LCT_EDGE_DATA);
    lct_graph_add_edge(g, 2, 3, LCT_EDGE_DATA);
    expect_verify(g, LCT_ERR_CYCLE, "cycle: 0 'n0' -> 1 'n1' -> 0");
    lct_graph_destroy(g);
}
END_TEST

START_TEST(verify_collective_order)
{
    /* 0 -> 1 -> 2 -> 3 -> 4 -> 5; collectives on comm 9 at 1 (seq 0) and 4 (seq 1) */
    lct_graph_t *g = chain(6);
    make_coll(g, 1, 9, 0);
    make_coll(g, 4, 9, 1);
    make_coll(g, 5, 10, 0); /* another communicator */
    expect_verify(g, LCT_OK, NULL);
    /* seq numbers against the path order */
    LCT_NODE(g, 1)->coll.seq = 1;
    LCT_NODE(g, 4)->coll.seq = 0;
    expect_verify(g, LCT_ERR_INVALID,
                  "communicator 0x9: collective seq 1 (node 1 'n1') is not ordered after seq 0 "
                  "(node 4 'n4') by any path");
    LCT_NODE(g, 1)->coll.seq = 0;
    LCT_NODE(g, 4)->coll.seq = 1;
    /* break the path between them: no longer totally ordered */
    lct_graph_remove_edges(g, 1u << LCT_EDGE_STREAM);
    lct_graph_add_edge(g, 0, 1, LCT_EDGE_DATA);
    lct_graph_add_edge(g, 2, 3, LCT_EDGE_DATA);
    lct_graph_add_edge(g, 3, 4, LCT_EDGE_DATA);
    lct_graph_add_edge(g, 0, 2, LCT_EDGE_DATA);
    expect_verify(g, LCT_ERR_INVALID, "collective seq 1 (node 4 'n4') is not ordered after seq 0");
    /* an indirect path restores the order */
    lct_graph_add_edge(g, 1, 3, LCT_EDGE_COLL);
    expect_verify(g, LCT_OK, NULL);
    lct_graph_destroy(g);
}
END_TEST

START_TEST(verify_collective_seq)
{
    lct_graph_t *g = chain(4);
    make_coll(g, 0, 3, 0);
    make_coll(g, 1, 3, 2);
    make_coll(g, 2, 3, 3);
    expect_verify(g, LCT_ERR_INVALID, "communicator 0x3: seq 1 is missing");
    LCT_NODE(g, 1)->coll.seq = 0;
    expect_verify(g, LCT_ERR_INVALID, "communicator 0x3: nodes 0 'n0' and 1 'n1' both have seq 0");
    LCT_NODE(g, 1)->coll.seq = 1;
    LCT_NODE(g, 2)->coll.seq = 2;
    expect_verify(g, LCT_OK, NULL);
    LCT_NODE(g, 0)->coll.seq = 5;
    expect_verify(g, LCT_ERR_INVALID, "seq 0 is missing");
    lct_graph_destroy(g);
}
END_TEST

START_TEST(verify_node_fields)
{
    lct_graph_t *g = chain(3);
    lct_node_add_range(g, 1, 0x1000, 0x10, LCT_ACC_RW, true);
    expect_verify(g, LCT_OK, NULL);
    lct_node_t *n = LCT_NODE(g, 1);
    n->fp.ranges[0].size = 0;
    expect_verify(g, LCT_ERR_INVALID, "node 1 'n1': footprint range 0 has size 0");
    n->fp.ranges[0].size = 0x10;
    n->fp.ranges[0].addr = UINT64_MAX - 8;
    expect_verify(g, LCT_ERR_INVALID, "node 1 'n1': footprint range 0 at 0xfffffffffffffff7");
    n->fp.ranges[0].addr = 0x1000;
    n->fp.ranges[0].access = 0;
    expect_verify(g, LCT_ERR_INVALID, "has access 0");
    n->fp.ranges[0].access = LCT_ACC_READ;
    n->role = LCT_ROLE_COUNT;
    expect_verify(g, LCT_ERR_INVALID, "role 5 out of range");
    n->role = LCT_ROLE_DW;
    n->cost_us = NAN;
    expect_verify(g, LCT_ERR_INVALID, "cost nan us");
    n->cost_us = 3;
    n->parent = 1;
    expect_verify(g, LCT_ERR_INVALID, "parent 1 is not another node");
    n->parent = 0;
    n->chunk = 2;
    n->nchunks = 2;
    expect_verify(g, LCT_ERR_INVALID, "chunk 2 of 2");
    n->chunk = 1;
    n->flags = 1u << 9;
    expect_verify(g, LCT_ERR_INVALID, "unknown flag bits 0x200");
    n->flags = LCT_NODE_F_SPLIT;
    n->kind = LCT_NODE_COLLECTIVE; /* a collective without an operation */
    expect_verify(g, LCT_ERR_INVALID, "collective with operation 0");
    n->coll.op = LCT_COLL_BROADCAST;
    n->coll.root = 7;
    n->coll.nranks = 4;
    expect_verify(g, LCT_ERR_INVALID, "root 7 outside the 4 ranks");
    n->coll.root = 0;
    expect_verify(g, LCT_OK, NULL);
    n->call.kind = LCT_CALL_GEMM;
    n->call.u.gemm.batch = 0;
    expect_verify(g, LCT_ERR_INVALID, "batch >= 1");
    n->call.u.gemm.batch = 1;
    expect_verify(g, LCT_OK, NULL);
    g->edges.data[0].dst = 0;
    expect_verify(g, LCT_ERR_INVALID, "edge 0: self loop on node 0");
    g->edges.data[0].dst = 77;
    expect_verify(g, LCT_ERR_INVALID, "edge 0: 0 -> 77 names a missing node");
    g->edges.data[0].dst = 1;
    g->meta.rank = 1;
    expect_verify(g, LCT_ERR_INVALID, "meta: world_size 1, rank 1");
    g->meta.rank = 0;
    lct_log_level = LCT_LOG_NONE; /* no buffer: the message goes to the log */
    n->kind = (lct_node_kind_t)42;
    ck_assert_int_eq(lct_ir_verify(g, NULL, 0), LCT_ERR_INVALID);
    lct_log_level = LCT_LOG_WARN;
    lct_graph_destroy(g);
}
END_TEST

/* A long path with collectives every few nodes on two communicators: verification stays linear
 * in practice (this would take minutes if each pair searched the whole graph). */
START_TEST(verify_large_chain)
{
    uint32_t n = 200000;
    lct_graph_t *g = chain(n);
    uint32_t seq[2] = {0, 0};
    for (uint32_t i = 0; i < n; i += 7)
        make_coll(g, i, i % 2, seq[i % 2]++);
    expect_verify(g, LCT_OK, NULL);
    lct_graph_destroy(g);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * DOT. */

START_TEST(dot_output)
{
    lct_graph_t *g = build_full_graph();
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(lct_ir_write_dot(g, f), LCT_OK);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "digraph \"full \\\"quoted\\\" graph\" {\n"));
    ck_assert_ptr_nonnull(strstr(
        buf, "  n0 [label=\"#0 void k<float>(\\\"x\\\")\\n12.35 us\", fillcolor=\"#92c5de\", "
             "peripheries=2];\n"));
    ck_assert_ptr_nonnull(strstr(buf, "  n9 [label=\"#9 a2a\\n250.50 us\", fillcolor=\"#f4a582\", "
                                      "shape=ellipse];\n"));
    ck_assert_ptr_nonnull(
        strstr(buf, "  n12 [label=\"#12 gemm\\n0.10 us\", fillcolor=\"#a6dba0\"];\n"));
    ck_assert_ptr_nonnull(strstr(buf, "  n3 [label=\"#3 host callback\\n0.00 us\", "
                                      "fillcolor=\"#e0e0e0\", peripheries=2];\n"));
    /* backslash escaped, control character dropped */
    ck_assert_ptr_nonnull(strstr(buf, "\\\\ back\\n"));
    ck_assert_ptr_nonnull(strstr(buf, "  n0 -> n1 [color=\"#808080\"];\n"));
    ck_assert_ptr_nonnull(strstr(buf, "  n1 -> n2 [color=\"#2166ac\", style=dashed];\n"));
    ck_assert_ptr_nonnull(strstr(buf, "  n2 -> n3 [color=black];\n"));
    ck_assert_ptr_nonnull(strstr(buf, "  n3 -> n4 [color=\"#b2182b\", style=bold];\n"));
    ck_assert_ptr_nonnull(strstr(buf, "  n4 -> n5 [color=\"#404040\", style=dotted];\n"));
    ck_assert_ptr_nonnull(strstr(buf, "  n5 -> n6 [color=\"#1b7837\", style=\"bold,dashed\"];\n"));
    ck_assert(len > 2 && strcmp(buf + len - 2, "}\n") == 0);
    free(buf);

    /* long names are cut */
    char name[200];
    memset(name, 'x', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    lct_graph_add_node(g, LCT_NODE_KERNEL, name, NULL);
    f = open_memstream(&buf, &len);
    lct_ir_write_dot(g, f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "xxxxx...\\n0.00 us"));
    ck_assert_ptr_null(strstr(buf, name));
    free(buf);
    lct_graph_destroy(g);
}
END_TEST

/* The writer is lenient with graphs it cannot express faithfully and the reader names the
 * problem. */
START_TEST(write_invalid_values)
{
    lct_graph_t *g = chain(2), *h = NULL;
    char err[512];
    LCT_NODE(g, 1)->cost_us = INFINITY;
    char *t = lct_ir_write_string(g);
    ck_assert_ptr_nonnull(strstr(t, "\"cost_us\": \"inf\""));
    ck_assert_int_eq(lct_ir_read_string(t, strlen(t), &h, err, sizeof(err)), LCT_ERR_PARSE);
    ck_assert_ptr_nonnull(
        strstr(err, "nodes[1].cost_us: expected a finite number >= 0, got string \"inf\""));
    free(t);
    LCT_NODE(g, 1)->cost_us = 1;
    LCT_NODE(g, 1)->role = (lct_role_t)17;
    t = lct_ir_write_string(g);
    ck_assert_int_eq(lct_ir_read_string(t, strlen(t), &h, err, sizeof(err)), LCT_ERR_PARSE);
    ck_assert_ptr_nonnull(strstr(err, "nodes[1].role: expected one of other"));
    ck_assert_ptr_nonnull(strstr(err, "got string \"?17\""));
    free(t);
    LCT_NODE(g, 1)->role = LCT_ROLE_DX;
    LCT_NODE(g, 1)->flags = 1u << 7;
    t = lct_ir_write_string(g);
    ck_assert_int_eq(lct_ir_read_string(t, strlen(t), &h, err, sizeof(err)), LCT_ERR_PARSE);
    ck_assert_ptr_nonnull(strstr(err, "nodes[1].flags[0]"));
    free(t);
    lct_graph_destroy(g);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ir_json");
    TCase *tc = tcase_create("format");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, round_trip_full_graph);
    tcase_add_test(tc, round_trip_empty_and_defaults);
    tcase_add_test(tc, json_string_lossy);
    tcase_add_test(tc, u64_representations);
    tcase_add_test(tc, bad_inputs);
    tcase_add_test(tc, bad_inputs_limits);
    tcase_add_test(tc, read_file_errors);
    tcase_add_test(tc, golden_bad_files);
    tcase_add_test(tc, example_small_is_canonical);
    tcase_add_test(tc, truncation_never_crashes);
    tcase_add_test(tc, mutations_never_crash);
    tcase_add_test(tc, write_invalid_values);
    suite_add_tcase(s, tc);
    TCase *tv = tcase_create("verify");
    tcase_set_timeout(tv, 60);
    tcase_add_test(tv, verify_cycle);
    tcase_add_test(tv, verify_collective_order);
    tcase_add_test(tv, verify_collective_seq);
    tcase_add_test(tv, verify_node_fields);
    tcase_add_test(tv, verify_large_chain);
    tcase_add_test(tv, dot_output);
    suite_add_tcase(s, tv);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
