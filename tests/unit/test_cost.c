/* Unit tests of the cost model: built-in profiles, collective curves (model, evaluation at and
 * beyond both ends, files), node signatures, cost profiles and cost filling. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/lct_log.h"
#include "cost/lct_cost.h"

static char tmpdir[64];

static void setup(void)
{
    strcpy(tmpdir, "/tmp/lct-test-cost-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static const char *tmp_path(const char *name)
{
    static char buf[256];
    snprintf(buf, sizeof(buf), "%s/%s", tmpdir, name);
    return buf;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* Log output of the last call, to check that errors name their place. */
static char logbuf[4096];
static FILE *logf_;
static void log_capture(void)
{
    logf_ = fmemopen(logbuf, sizeof(logbuf) - 1, "w");
    memset(logbuf, 0, sizeof(logbuf));
    lct_log_set_stream(logf_);
}
static void log_release(void)
{
    fflush(logf_);
    lct_log_set_stream(NULL);
    fclose(logf_);
}

/* ---- profiles ---- */

START_TEST(device_profiles_lookup)
{
    const lct_device_profile_t *v = lct_device_profile_find("v100");
    const lct_device_profile_t *a = lct_device_profile_find("A100");
    const lct_device_profile_t *h = lct_device_profile_find("H100");
    ck_assert_ptr_nonnull(v);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(v->sms, 80);
    ck_assert_int_eq(a->sms, 108);
    ck_assert_int_eq(h->sms, 132);
    ck_assert_double_eq(v->tflops_f16, 125.0);
    ck_assert_double_eq(a->tflops_tf32, 156.0);
    ck_assert_double_eq(a->mem_gbs, 2039.0);
    ck_assert_double_eq(h->tflops_f16, 989.0);
    ck_assert_double_eq(h->mem_gbs, 3350.0);
    ck_assert_double_eq(v->tflops_tf32, 0.0);
    const lct_device_profile_t *all[] = {v, a, h};
    for (int i = 0; i < 3; i++) {
        ck_assert(all[i]->gemm_efficiency >= 0.6 && all[i]->gemm_efficiency <= 0.9);
        ck_assert(all[i]->interference > 0 && all[i]->interference < 0.5);
        ck_assert(all[i]->comm_sm_share > 0 && all[i]->comm_sm_share < 0.5);
        ck_assert(all[i]->launch_us > 0 && all[i]->launch_us < 10);
        ck_assert_uint_ge(all[i]->mem_bytes, 32ull << 30);
    }
    ck_assert_ptr_null(lct_device_profile_find("t4"));
    ck_assert_ptr_null(lct_device_profile_find(""));
    ck_assert_ptr_null(lct_device_profile_find(NULL));
}
END_TEST

START_TEST(fabric_profiles_lookup)
{
    const lct_fabric_profile_t *p3 = lct_fabric_profile_find("P3DN");
    const lct_fabric_profile_t *p4 = lct_fabric_profile_find("p4de");
    const lct_fabric_profile_t *dh = lct_fabric_profile_find("DGX-H100");
    ck_assert_ptr_nonnull(p3);
    ck_assert_ptr_nonnull(p4);
    ck_assert_ptr_nonnull(dh);
    ck_assert_int_eq(p3->gpus_per_node, 8);
    ck_assert_double_eq(p3->net_gbs_per_node, 12.5);
    ck_assert_double_eq(p4->net_gbs_per_node, 50.0);
    ck_assert_double_eq(dh->net_gbs_per_node, 400.0);
    ck_assert(p3->nvlink_gbs < p4->nvlink_gbs && p4->nvlink_gbs < dh->nvlink_gbs);
    ck_assert(p3->lat_inter_us > p3->lat_intra_us);
    ck_assert_ptr_null(lct_fabric_profile_find("p5"));
}
END_TEST

/* Every name in the list resolves, and the list names as many profiles as resolve. */
static void check_names(const char *list, int device)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", list);
    int count = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        if (device)
            ck_assert_ptr_nonnull(lct_device_profile_find(tok));
        else
            ck_assert_ptr_nonnull(lct_fabric_profile_find(tok));
        count++;
    }
    ck_assert_int_eq(count, 3);
}

START_TEST(profile_name_lists)
{
    check_names(lct_device_profile_names(), 1);
    check_names(lct_fabric_profile_names(), 0);
    ck_assert_ptr_nonnull(strstr(lct_fabric_profile_names(), "dgx-h100"));
}
END_TEST

/* ---- curve evaluation ---- */

/* Arrays of exactly np elements, so that a read past the end is caught by the sanitizer build. */
static void set_curve(lct_curve_set_t *cs, lct_coll_op_t op, uint32_t np, const double *b,
                      const double *us)
{
    lct_curve_t *c = &cs->curve[op];
    c->npoints = np;
    c->bytes = malloc(np * sizeof(double));
    c->us = malloc(np * sizeof(double));
    memcpy(c->bytes, b, np * sizeof(double));
    memcpy(c->us, us, np * sizeof(double));
}

START_TEST(curve_eval_ends_and_inside)
{
    lct_curve_set_t cs;
    memset(&cs, 0, sizeof(cs));
    const double b[] = {1000, 2000, 4000}, us[] = {10, 20, 25};
    set_curve(&cs, LCT_COLL_ALLTOALL, 3, b, us);
    ck_assert_double_eq(lct_curve_eval(&cs, LCT_COLL_ALLTOALL, 1), 10);     /* below: clamped */
    ck_assert_double_eq(lct_curve_eval(&cs, LCT_COLL_ALLTOALL, 0), 10);
    ck_assert_double_eq(lct_curve_eval(&cs, LCT_COLL_ALLTOALL, -5), 10);
    ck_assert_double_eq(lct_curve_eval(&cs, LCT_COLL_ALLTOALL, NAN), 10);
    ck_assert_double_eq(lct_curve_eval(&cs, LCT_COLL_ALLTOALL, 1000), 10);  /* at first */
    ck_assert_double_eq(lct_curve_eval(&cs, LCT_COLL_ALLTOALL, 1500), 15);  /* inside */
    ck_assert_double_eq(lct_curve_eval(&cs, LCT_COLL_ALLTOALL, 2000), 20);  /* at a sample */
    ck_assert_double_eq(lct_curve_eval(&cs, LCT_COLL_ALLTOALL, 3000), 22.5);
    ck_assert_double_eq(lct_curve_eval(&cs, LCT_COLL_ALLTOALL, 4000), 25);  /* at last */
    /* Above the last sample: the last segment's slope (5 us per 2000 bytes) continues. This is
     * where the original implementation read past the end of its arrays. */
    ck_assert_double_eq(lct_curve_eval(&cs, LCT_COLL_ALLTOALL, 4001), 25.0025);
    ck_assert_double_eq(lct_curve_eval(&cs, LCT_COLL_ALLTOALL, 8000), 35);
    ck_assert_double_eq(lct_curve_eval(&cs, LCT_COLL_ALLTOALL, 4000 + 2e9), 25 + 5e6);
    /* A curve that is not there costs nothing; an invalid op too. */
    ck_assert_double_eq(lct_curve_eval(&cs, LCT_COLL_ALLREDUCE, 4000), 0);
    ck_assert_double_eq(lct_curve_eval(&cs, (lct_coll_op_t)99, 4000), 0);
    ck_assert_double_eq(lct_curve_eval(NULL, LCT_COLL_ALLTOALL, 4000), 0);
    lct_curves_free(&cs);
    ck_assert_uint_eq(cs.curve[LCT_COLL_ALLTOALL].npoints, 0);
    ck_assert_ptr_null(cs.curve[LCT_COLL_ALLTOALL].bytes);
}
END_TEST

START_TEST(curve_eval_one_point_and_noisy_tail)
{
    lct_curve_set_t cs;
    memset(&cs, 0, sizeof(cs));
    const double b1[] = {1000}, us1[] = {10};
    set_curve(&cs, LCT_COLL_ALLREDUCE, 1, b1, us1);
    ck_assert_double_eq(lct_curve_eval(&cs, LCT_COLL_ALLREDUCE, 10), 10);
    ck_assert_double_eq(lct_curve_eval(&cs, LCT_COLL_ALLREDUCE, 1000), 10);
    ck_assert_double_eq(lct_curve_eval(&cs, LCT_COLL_ALLREDUCE, 3000), 30); /* same bandwidth */
    /* Measured curves can dip at the end; beyond it the time never goes below the last sample. */
    const double b2[] = {1000, 2000}, us2[] = {10, 8};
    set_curve(&cs, LCT_COLL_BROADCAST, 2, b2, us2);
    ck_assert_double_eq(lct_curve_eval(&cs, LCT_COLL_BROADCAST, 1500), 9);
    ck_assert_double_eq(lct_curve_eval(&cs, LCT_COLL_BROADCAST, 1e12), 8);
    lct_curves_free(&cs);
}
END_TEST

/* Many points: the binary search lands in the right segment everywhere. */
START_TEST(curve_eval_many_points)
{
    lct_curve_set_t cs;
    memset(&cs, 0, sizeof(cs));
    double b[100], us[100];
    for (int i = 0; i < 100; i++) {
        b[i] = 100.0 * (i + 1);
        us[i] = (i % 2) ? 5.0 : 1.0;
    }
    set_curve(&cs, LCT_COLL_ALLGATHER, 100, b, us);
    for (int i = 0; i < 99; i++) {
        double mid = 100.0 * (i + 1) + 50.0;
        ck_assert_double_eq_tol(lct_curve_eval(&cs, LCT_COLL_ALLGATHER, mid), 3.0, 1e-12);
        ck_assert_double_eq(lct_curve_eval(&cs, LCT_COLL_ALLGATHER, b[i]), us[i]);
    }
    lct_curves_free(&cs);
}
END_TEST

/* ---- curve model ---- */

START_TEST(curve_model_formulas)
{
    const lct_fabric_profile_t *p4 = lct_fabric_profile_find("p4de");
    lct_curve_set_t cs;
    ck_assert_int_eq(lct_curves_model(p4, 64, &cs), LCT_OK);
    ck_assert_int_eq(cs.world_size, 64);
    ck_assert_uint_eq(cs.curve[LCT_COLL_NONE].npoints, 0);
    for (int op = 1; op < LCT_COLL_COUNT; op++) {
        const lct_curve_t *c = &cs.curve[op];
        ck_assert_uint_eq(c->npoints, 23);
        ck_assert_double_eq(c->bytes[0], 1024.0);
        ck_assert_double_eq(c->bytes[22], 4294967296.0);
        for (uint32_t i = 1; i < c->npoints; i++) {
            ck_assert(c->bytes[i] == 2 * c->bytes[i - 1]);
            ck_assert(c->us[i] > c->us[i - 1]);
        }
        ck_assert(c->us[0] > 0);
    }
    /* a2a of 1 GiB on 8 nodes x 8 GPUs: 56/64 of it leaves the node through a NIC of 50 GB/s
     * shared by 8 GPUs; 7/64 crosses NVLink at 240 GB/s meanwhile; latencies 7 + 0.8 + 10. */
    double s = 1073741824.0;
    double inter = s * 56.0 / 64.0 / (50e3 / 8.0), expect = 7.0 + 0.8 + 10.0 + inter;
    ck_assert_double_eq_tol(lct_curve_eval(&cs, LCT_COLL_ALLTOALL, s), expect, 1e-6 * expect);
    /* ring all-reduce: 2(n-1)/n of the buffer at min(NVLink, NIC) = 50 GB/s, 2(n-1) steps of which
     * 2(N-1) cross nodes. */
    double ar = 7.0 + (126 - 14) * 0.8 + 14 * 10.0 + 2.0 * 63.0 / 64.0 * s / 50e3;
    ck_assert_double_eq_tol(lct_curve_eval(&cs, LCT_COLL_ALLREDUCE, s), ar, 1e-6 * ar);
    /* more than the largest sample: extrapolated at the same bandwidth */
    double big = lct_curve_eval(&cs, LCT_COLL_ALLTOALL, 4.0 * 4294967296.0);
    double expect_big = 7.0 + 0.8 + 10.0 + 4.0 * 4294967296.0 * 56.0 / 64.0 / (50e3 / 8.0);
    ck_assert_double_eq_tol(big, expect_big, 1e-6 * expect_big);
    lct_curves_free(&cs);

    /* One node: NVLink only. */
    ck_assert_int_eq(lct_curves_model(p4, 8, &cs), LCT_OK);
    expect = 7.0 + 0.8 + s * 7.0 / 8.0 / 240e3;
    ck_assert_double_eq_tol(lct_curve_eval(&cs, LCT_COLL_ALLTOALL, s), expect, 1e-6 * expect);
    lct_curves_free(&cs);

    /* p3dn is slower than p4de for the same a2a on 16 GPUs, and one rank costs only the base. */
    lct_curve_set_t c3, c4;
    ck_assert_int_eq(lct_curves_model(lct_fabric_profile_find("p3dn"), 16, &c3), LCT_OK);
    ck_assert_int_eq(lct_curves_model(p4, 16, &c4), LCT_OK);
    ck_assert(lct_curve_eval(&c3, LCT_COLL_ALLTOALL, 1 << 24) >
              3.0 * lct_curve_eval(&c4, LCT_COLL_ALLTOALL, 1 << 24));
    lct_curves_free(&c3);
    lct_curves_free(&c4);
    ck_assert_int_eq(lct_curves_model(p4, 1, &cs), LCT_OK);
    ck_assert_double_eq(cs.curve[LCT_COLL_ALLREDUCE].us[0], cs.curve[LCT_COLL_ALLREDUCE].us[22]);
    lct_curves_free(&cs);

    memset(&cs, 0x5a, sizeof(cs));
    lct_curve_set_t keep = cs;
    ck_assert_int_eq(lct_curves_model(p4, 0, &cs), LCT_ERR_INVALID);
    ck_assert_int_eq(lct_curves_model(NULL, 8, &cs), LCT_ERR_INVALID);
    ck_assert_mem_eq(&cs, &keep, sizeof(cs)); /* untouched on failure */
}
END_TEST

/* ---- curve files ---- */

START_TEST(curve_file_round_trip)
{
    lct_curve_set_t a, b;
    ck_assert_int_eq(lct_curves_model(lct_fabric_profile_find("dgx-h100"), 32, &a), LCT_OK);
    const char *p = tmp_path("curves.json");
    ck_assert_int_eq(lct_curves_write(p, &a), LCT_OK);
    ck_assert_int_eq(lct_curves_read(p, &b), LCT_OK);
    ck_assert_int_eq(b.world_size, 32);
    for (int op = 0; op < LCT_COLL_COUNT; op++) {
        ck_assert_uint_eq(a.curve[op].npoints, b.curve[op].npoints);
        for (uint32_t i = 0; i < a.curve[op].npoints; i++) {
            ck_assert(a.curve[op].bytes[i] == b.curve[op].bytes[i]); /* exact */
            ck_assert(a.curve[op].us[i] == b.curve[op].us[i]);
        }
    }
    lct_curves_free(&a);
    lct_curves_free(&b);

    /* A hand-written file with one curve, no format key. */
    write_text(p, "{\"version\": 1, \"world_size\": 4, \"fabric\": \"lab\",\n"
                  " \"curves\": {\"all_to_all\": [[1024, 9.5], [1e6, 100]]}}\n");
    ck_assert_int_eq(lct_curves_read(p, &b), LCT_OK);
    ck_assert_uint_eq(b.curve[LCT_COLL_ALLTOALL].npoints, 2);
    ck_assert_uint_eq(b.curve[LCT_COLL_ALLREDUCE].npoints, 0);
    ck_assert_double_eq(lct_curve_eval(&b, LCT_COLL_ALLTOALL, 1024), 9.5);
    lct_curves_free(&b);
}
END_TEST

static void expect_bad_curves(const char *text, lct_status_t want, const char *msg)
{
    const char *p = tmp_path("bad.json");
    lct_curve_set_t cs;
    memset(&cs, 0x77, sizeof(cs));
    lct_curve_set_t keep = cs;
    write_text(p, text);
    log_capture();
    lct_status_t st = lct_curves_read(p, &cs);
    log_release();
    ck_assert_int_eq(st, want);
    ck_assert_mem_eq(&cs, &keep, sizeof(cs));
    ck_assert_msg(strstr(logbuf, p) != NULL, "error does not name the file: %s", logbuf);
    ck_assert_msg(strstr(logbuf, msg) != NULL, "error lacks '%s': %s", msg, logbuf);
}

START_TEST(curve_file_errors)
{
    const char *head = "{\"version\": 1, \"world_size\": 8, \"curves\": ";
    char buf[512];
#define BAD(curves, msg)                                                                           \
    do {                                                                                           \
        snprintf(buf, sizeof(buf), "%s%s}", head, curves);                                         \
        expect_bad_curves(buf, LCT_ERR_PARSE, msg);                                                \
    } while (0)
    BAD("{\"all_to_all\": [[2048, 1], [1024, 2]]}", "curves.all_to_all[1][0]");
    BAD("{\"all_to_all\": [[2048, 1], [2048, 2]]}", "strictly increasing");
    BAD("{\"all_to_all\": [[-1, 1]]}", "curves.all_to_all[0][0]");
    BAD("{\"all_to_all\": [[0, 1]]}", "positive");
    BAD("{\"all_reduce\": [[1024, 0]]}", "curves.all_reduce[0][1]");
    BAD("{\"all_reduce\": [[1024, -3]]}", "positive");
    BAD("{\"all_reduce\": [[1024, 3, 4]]}", "curves.all_reduce[0]");
    BAD("{\"all_reduce\": [[1024, \"3\"]]}", "two numbers");
    BAD("{\"all_reduce\": []}", "at least one");
    BAD("{\"all_reduce\": 5}", "expected an array");
    BAD("{\"alltoall\": [[1024, 3]]}", "unknown collective (accepted: all_reduce");
    BAD("{\"none\": [[1024, 3]]}", "curves.none");
    BAD("[]", "curves: expected an object");
#undef BAD
    expect_bad_curves("{\"world_size\": 8, \"curves\": {}}", LCT_ERR_PARSE, "version");
    expect_bad_curves("{\"version\": 2, \"world_size\": 8, \"curves\": {}}", LCT_ERR_PARSE,
                      "version");
    expect_bad_curves("{\"version\": 1, \"curves\": {}}", LCT_ERR_PARSE, "world_size");
    expect_bad_curves("{\"version\": 1, \"world_size\": 0, \"curves\": {}}", LCT_ERR_PARSE,
                      "world_size");
    expect_bad_curves("{\"format\": \"x\", \"version\": 1, \"world_size\": 8, \"curves\": {}}",
                      LCT_ERR_PARSE, "format");
    expect_bad_curves("{\"version\": 1, \"world_size\": 8, \"curves\": {}, \"extra\": 1}",
                      LCT_ERR_PARSE, "extra: unknown key");
    expect_bad_curves("{\"version\": 1, \"world_size\": 8, \"curves\": {\"all_to", LCT_ERR_PARSE,
                      "line 1");
    expect_bad_curves("[1, 2]", LCT_ERR_PARSE, "top level");
    expect_bad_curves("", LCT_ERR_PARSE, "line");

    lct_curve_set_t cs;
    log_capture();
    lct_status_t st = lct_curves_read(tmp_path("missing.json"), &cs);
    log_release();
    ck_assert_int_eq(st, LCT_ERR_IO);
    ck_assert_ptr_nonnull(strstr(logbuf, "missing.json"));
    lct_curve_set_t empty;
    memset(&empty, 0, sizeof(empty));
    log_capture();
    st = lct_curves_write(tmp_path("no/such/dir.json"), &empty);
    log_release();
    ck_assert_int_eq(st, LCT_ERR_IO);
}
END_TEST

/* ---- signatures ---- */

static uint32_t add_gemm(lct_graph_t *g, const char *name, int64_t m, uint64_t base)
{
    uint32_t id;
    ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_KERNEL, name, &id), LCT_OK);
    lct_node_t *n = LCT_NODE(g, id);
    n->lib = "cublas";
    n->call.kind = LCT_CALL_GEMM;
    lct_gemm_call_t *gm = &n->call.u.gemm;
    gm->m = m;
    gm->n = 256;
    gm->k = 512;
    gm->lda = m;
    gm->ldb = 512;
    gm->ldc = m;
    gm->batch = 1;
    gm->alpha = 1.0;
    gm->beta = 0.0;
    gm->a = base;
    gm->b = base + 0x100000;
    gm->c = base + 0x200000;
    gm->workspace = base + 0x300000;
    gm->workspace_size = 4096;
    ck_assert_int_eq(lct_node_add_range(g, id, gm->a, (uint64_t)m * 512 * 4, LCT_ACC_READ, true),
                     LCT_OK);
    ck_assert_int_eq(lct_node_add_range(g, id, gm->c, (uint64_t)m * 256 * 4, LCT_ACC_WRITE, true),
                     LCT_OK);
    return id;
}

/* A generic kernel with two parameters: a pointer (inside its footprint) and a scalar. */
static uint32_t add_kernel(lct_graph_t *g, uint64_t ptr, uint64_t scalar)
{
    uint32_t id;
    ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_KERNEL, "relu_kernel", &id), LCT_OK);
    ck_assert_int_eq(lct_node_add_range(g, id, ptr, 1 << 20, LCT_ACC_RW, false), LCT_OK);
    lct_node_t *n = LCT_NODE(g, id);
    lct_kernel_call_t *k = &n->call.u.kernel;
    n->call.kind = LCT_CALL_KERNEL;
    k->grid[0] = 128;
    k->block[0] = 256;
    k->nparams = 2;
    k->param_offset = lct_arena_alloc(&g->arena, 2 * sizeof(uint32_t));
    k->param_size = lct_arena_alloc(&g->arena, 2 * sizeof(uint32_t));
    k->param_bytes = 16;
    k->param_data = lct_arena_alloc(&g->arena, 16);
    k->param_offset[0] = 0;
    k->param_size[0] = 8;
    k->param_offset[1] = 8;
    k->param_size[1] = 8;
    memcpy(k->param_data, &ptr, 8);
    memcpy(k->param_data + 8, &scalar, 8);
    return id;
}

START_TEST(signature_ignores_addresses)
{
    lct_graph_t *g;
    ck_assert_int_eq(lct_graph_create(&g), LCT_OK);
    uint32_t a = add_gemm(g, "sgemm_128x64", 1024, 0x7f0000000000ull);
    uint32_t b = add_gemm(g, "sgemm_128x64", 1024, 0x7f4000000000ull); /* other buffers */
    uint32_t c = add_gemm(g, "sgemm_128x64", 2048, 0x7f0000000000ull); /* other shape */
    uint32_t d = add_gemm(g, "sgemm_256x64", 1024, 0x7f0000000000ull); /* other kernel */
    LCT_NODE(g, b)->stream = 3;
    LCT_NODE(g, b)->launch_order = 77;
    uint64_t sa = lct_node_signature(LCT_NODE(g, a));
    ck_assert_uint_eq(sa, lct_node_signature(LCT_NODE(g, b)));
    ck_assert_uint_ne(sa, lct_node_signature(LCT_NODE(g, c)));
    ck_assert_uint_ne(sa, lct_node_signature(LCT_NODE(g, d)));
    LCT_NODE(g, b)->call.u.gemm.workspace_size = 8192;
    ck_assert_uint_ne(sa, lct_node_signature(LCT_NODE(g, b)));
    LCT_NODE(g, b)->call.u.gemm.workspace_size = 4096;
    LCT_NODE(g, b)->lib = "cublasLt";
    ck_assert_uint_ne(sa, lct_node_signature(LCT_NODE(g, b)));

    /* Generic kernels: pointer arguments do not count, scalar arguments do. */
    uint32_t k1 = add_kernel(g, 0x7f1000000000ull, 4096);
    uint32_t k2 = add_kernel(g, 0x7f2000000000ull, 4096);
    uint32_t k3 = add_kernel(g, 0x7f1000000000ull, 8192);
    ck_assert_uint_eq(lct_node_signature(LCT_NODE(g, k1)), lct_node_signature(LCT_NODE(g, k2)));
    ck_assert_uint_ne(lct_node_signature(LCT_NODE(g, k1)), lct_node_signature(LCT_NODE(g, k3)));

    /* Collectives: op and bytes count, buffers and sequence numbers do not. */
    uint32_t x, y;
    ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_COLLECTIVE, "a2a", &x), LCT_OK);
    ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_COLLECTIVE, "a2a", &y), LCT_OK);
    lct_node_t *nx = LCT_NODE(g, x), *ny = LCT_NODE(g, y);
    nx->coll.op = ny->coll.op = LCT_COLL_ALLTOALL;
    nx->coll.bytes = ny->coll.bytes = 1 << 20;
    nx->coll.sendbuf = 0x7f0000001000ull;
    ny->coll.sendbuf = 0x7f0000900000ull;
    nx->coll.seq = 1;
    ny->coll.seq = 5;
    ck_assert_uint_eq(lct_node_signature(nx), lct_node_signature(ny));
    ny->coll.bytes = 1 << 21;
    ck_assert_uint_ne(lct_node_signature(nx), lct_node_signature(ny));
    ny->coll.bytes = 1 << 20;
    ny->coll.op = LCT_COLL_ALLREDUCE;
    ck_assert_uint_ne(lct_node_signature(nx), lct_node_signature(ny));
    lct_graph_destroy(g);
}
END_TEST

/* ---- cost profile ---- */

START_TEST(profile_mean_and_round_trip)
{
    lct_profile_t *p, *q;
    double us;
    ck_assert_int_eq(lct_profile_create(&p), LCT_OK);
    ck_assert(!lct_profile_get(p, 42, &us));
    ck_assert_int_eq(lct_profile_add(p, 42, 10.0), LCT_OK);
    ck_assert_int_eq(lct_profile_add(p, 42, 20.0), LCT_OK);
    ck_assert_int_eq(lct_profile_add(p, 0xffffffffffffffffull, 3.25), LCT_OK);
    ck_assert_int_eq(lct_profile_add(p, 7, 0.0), LCT_OK);
    ck_assert_int_eq(lct_profile_add(p, 7, -1.0), LCT_ERR_INVALID);
    ck_assert_int_eq(lct_profile_add(p, 7, NAN), LCT_ERR_INVALID);
    ck_assert(lct_profile_get(p, 42, &us));
    ck_assert_double_eq(us, 15.0);
    for (uint64_t s = 1000; s < 3000; s++) /* growth of the index */
        ck_assert_int_eq(lct_profile_add(p, s * 0x9e3779b97f4a7c15ull, (double)s), LCT_OK);
    const char *path = tmp_path("profile.json");
    ck_assert_int_eq(lct_profile_write(path, p), LCT_OK);
    ck_assert_int_eq(lct_profile_read(path, &q), LCT_OK);
    ck_assert(lct_profile_get(q, 42, &us));
    ck_assert_double_eq(us, 15.0);
    ck_assert(lct_profile_get(q, 0xffffffffffffffffull, &us));
    ck_assert_double_eq(us, 3.25);
    ck_assert(lct_profile_get(q, 7, &us));
    ck_assert_double_eq(us, 0.0);
    for (uint64_t s = 1000; s < 3000; s++) {
        ck_assert(lct_profile_get(q, s * 0x9e3779b97f4a7c15ull, &us));
        ck_assert_double_eq(us, (double)s);
    }
    /* The sample count travels with the mean: one more sample weighs as one of three. */
    ck_assert_int_eq(lct_profile_add(q, 42, 45.0), LCT_OK);
    ck_assert(lct_profile_get(q, 42, &us));
    ck_assert_double_eq(us, 25.0);
    /* Same content, same bytes, whatever the insertion order. */
    const char *path2 = tmp_path("profile2.json");
    lct_profile_t *r;
    ck_assert_int_eq(lct_profile_create(&r), LCT_OK);
    for (uint64_t s = 2999; s >= 1000; s--)
        ck_assert_int_eq(lct_profile_add(r, s * 0x9e3779b97f4a7c15ull, (double)s), LCT_OK);
    ck_assert_int_eq(lct_profile_add(r, 7, 0.0), LCT_OK);
    ck_assert_int_eq(lct_profile_add(r, 0xffffffffffffffffull, 3.25), LCT_OK);
    ck_assert_int_eq(lct_profile_add(r, 42, 20.0), LCT_OK);
    ck_assert_int_eq(lct_profile_add(r, 42, 10.0), LCT_OK);
    ck_assert_int_eq(lct_profile_write(path2, r), LCT_OK);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", path, path2);
    ck_assert_int_eq(system(cmd), 0);
    lct_profile_destroy(p);
    lct_profile_destroy(q);
    lct_profile_destroy(r);
}
END_TEST

static void expect_bad_profile(const char *text, const char *msg)
{
    const char *p = tmp_path("badprof.json");
    lct_profile_t *out = (lct_profile_t *)0x1;
    write_text(p, text);
    log_capture();
    lct_status_t st = lct_profile_read(p, &out);
    log_release();
    ck_assert_int_eq(st, LCT_ERR_PARSE);
    ck_assert_ptr_eq(out, (lct_profile_t *)0x1);
    ck_assert_msg(strstr(logbuf, msg) != NULL, "error lacks '%s': %s", msg, logbuf);
}

START_TEST(profile_file_errors)
{
    expect_bad_profile("{\"version\": 1, \"entries\": [{\"sig\": \"12\", \"us\": 1}]}",
                       "entries[0].sig");
    expect_bad_profile("{\"version\": 1, \"entries\": [{\"sig\": \"0xzz\", \"us\": 1}]}",
                       "not a hexadecimal");
    expect_bad_profile("{\"version\": 1, \"entries\": [{\"sig\": \"0x12345678901234567\", \"us\": 1}]}",
                       "1 to 16");
    expect_bad_profile("{\"version\": 1, \"entries\": [{\"sig\": 18, \"us\": 1}]}", "entries[0].sig");
    /* only hex digits after "0x": no sign, no blank, no second prefix */
    expect_bad_profile("{\"version\": 1, \"entries\": [{\"sig\": \"0x-1\", \"us\": 1}]}",
                       "\"0x-1\" is not a hexadecimal");
    expect_bad_profile("{\"version\": 1, \"entries\": [{\"sig\": \"0x 12\", \"us\": 1}]}",
                       "\"0x 12\" is not a hexadecimal");
    expect_bad_profile("{\"version\": 1, \"entries\": [{\"sig\": \"0x0x12\", \"us\": 1}]}",
                       "\"0x0x12\" is not a hexadecimal");
    expect_bad_profile("{\"version\": 1, \"entries\": [{\"sig\": \"0x+5\", \"us\": 1}]}",
                       "\"0x+5\" is not a hexadecimal");
    /* a mean that is finite but whose sum over the samples is not */
    expect_bad_profile("{\"version\": 1, \"entries\": [{\"sig\": \"0x1\", \"us\": 1e300, "
                       "\"samples\": 9000000000000000000}]}",
                       "entries[0]: us x samples");
    expect_bad_profile("{\"version\": 1, \"entries\": [{\"sig\": \"0x1\", \"us\": -1}]}",
                       "entries[0].us");
    expect_bad_profile("{\"version\": 1, \"entries\": [{\"sig\": \"0x1\"}]}", "entries[0].us");
    expect_bad_profile(
        "{\"version\": 1, \"entries\": [{\"sig\": \"0x1\", \"us\": 1}, {\"sig\": \"0x2\", \"us\": 1, "
        "\"samples\": 0}]}",
        "entries[1].samples");
    expect_bad_profile("{\"version\": 1, \"entries\": [{\"sig\": \"0x1\", \"us\": 1, \"x\": 0}]}",
                       "entries[0].x: unknown key");
    expect_bad_profile("{\"version\": 1, \"entries\": {}}", "entries: expected an array");
    expect_bad_profile("{\"entries\": []}", "version");
    expect_bad_profile("{\"version\": 1, \"entries\": [", "line");
    lct_profile_t *out;
    ck_assert_int_eq(lct_profile_read(tmp_path("nope.json"), &out), LCT_ERR_IO);
    /* either case of hex digits */
    write_text(tmp_path("case.json"),
               "{\"version\": 1, \"entries\": [{\"sig\": \"0xAbC09f\", \"us\": 2.5}]}");
    ck_assert_int_eq(lct_profile_read(tmp_path("case.json"), &out), LCT_OK);
    double us = 0;
    ck_assert(lct_profile_get(out, 0xabc09full, &us));
    ck_assert_double_eq(us, 2.5);
    lct_profile_destroy(out);
}
END_TEST

/* ---- cost filling ---- */

START_TEST(cost_fill_sources)
{
    lct_graph_t *g;
    ck_assert_int_eq(lct_graph_create(&g), LCT_OK);
    uint32_t k1 = add_gemm(g, "gemm", 1024, 0x7f0000000000ull);
    uint32_t k2 = add_gemm(g, "gemm", 4096, 0x7f0000000000ull); /* not profiled */
    uint32_t a2a, ar, bc;
    ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_COLLECTIVE, "a2a", &a2a), LCT_OK);
    ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_COLLECTIVE, "ar", &ar), LCT_OK);
    ck_assert_int_eq(lct_graph_add_node(g, LCT_NODE_COLLECTIVE, "bcast", &bc), LCT_OK);
    LCT_NODE(g, a2a)->coll.op = LCT_COLL_ALLTOALL;
    LCT_NODE(g, a2a)->coll.bytes = 1500;
    LCT_NODE(g, ar)->coll.op = LCT_COLL_ALLREDUCE;
    LCT_NODE(g, ar)->coll.bytes = 1 << 20;
    LCT_NODE(g, bc)->coll.op = LCT_COLL_BROADCAST; /* no curve for it: profile */
    LCT_NODE(g, bc)->coll.bytes = 64;
    LCT_NODE(g, k2)->cost_us = 5.0;
    LCT_NODE(g, k2)->cost_src = LCT_COST_MODELLED;
    ck_assert(lct_node_is_comm(LCT_NODE(g, a2a)));
    ck_assert(!lct_node_is_comm(LCT_NODE(g, k1)));

    /* Nothing to fill from: nothing changes. */
    ck_assert_int_eq(lct_cost_fill(g, NULL, NULL), LCT_OK);
    ck_assert_double_eq(LCT_NODE(g, k2)->cost_us, 5.0);
    ck_assert_int_eq(LCT_NODE(g, k1)->cost_src, LCT_COST_NONE);

    lct_profile_t *p;
    ck_assert_int_eq(lct_profile_create(&p), LCT_OK);
    ck_assert_int_eq(lct_profile_add(p, lct_node_signature(LCT_NODE(g, k1)), 12.0), LCT_OK);
    ck_assert_int_eq(lct_profile_add(p, lct_node_signature(LCT_NODE(g, bc)), 9.0), LCT_OK);
    ck_assert_int_eq(lct_profile_add(p, lct_node_signature(LCT_NODE(g, a2a)), 1e6), LCT_OK);
    lct_curve_set_t cs;
    memset(&cs, 0, sizeof(cs));
    const double b[] = {1000, 2000}, us[] = {10, 20};
    set_curve(&cs, LCT_COLL_ALLTOALL, 2, b, us);
    set_curve(&cs, LCT_COLL_ALLREDUCE, 2, b, us);
    ck_assert_int_eq(lct_cost_fill(g, p, &cs), LCT_OK);
    ck_assert_double_eq(LCT_NODE(g, k1)->cost_us, 12.0);
    ck_assert_int_eq(LCT_NODE(g, k1)->cost_src, LCT_COST_PROFILE);
    ck_assert_double_eq(LCT_NODE(g, k2)->cost_us, 5.0);
    ck_assert_int_eq(LCT_NODE(g, k2)->cost_src, LCT_COST_MODELLED);
    ck_assert_double_eq(LCT_NODE(g, a2a)->cost_us, 15.0); /* the curve wins for collectives */
    ck_assert_int_eq(LCT_NODE(g, a2a)->cost_src, LCT_COST_CURVE);
    ck_assert_double_eq(LCT_NODE(g, ar)->cost_us, 20.0 + (1048576.0 - 2000.0) * 0.01);
    ck_assert_int_eq(LCT_NODE(g, ar)->cost_src, LCT_COST_CURVE);
    ck_assert_double_eq(LCT_NODE(g, bc)->cost_us, 9.0);
    ck_assert_int_eq(LCT_NODE(g, bc)->cost_src, LCT_COST_PROFILE);
    ck_assert_int_eq(lct_cost_fill(NULL, p, &cs), LCT_ERR_INVALID);
    lct_curves_free(&cs);
    lct_profile_destroy(p);
    lct_graph_destroy(g);
}
END_TEST

static Suite *cost_suite(void)
{
    Suite *s = suite_create("cost");
    TCase *tc = tcase_create("profiles");
    tcase_add_test(tc, device_profiles_lookup);
    tcase_add_test(tc, fabric_profiles_lookup);
    tcase_add_test(tc, profile_name_lists);
    suite_add_tcase(s, tc);
    tc = tcase_create("curves");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, curve_eval_ends_and_inside);
    tcase_add_test(tc, curve_eval_one_point_and_noisy_tail);
    tcase_add_test(tc, curve_eval_many_points);
    tcase_add_test(tc, curve_model_formulas);
    tcase_add_test(tc, curve_file_round_trip);
    tcase_add_test(tc, curve_file_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("profile");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, signature_ignores_addresses);
    tcase_add_test(tc, profile_mean_and_round_trip);
    tcase_add_test(tc, profile_file_errors);
    tcase_add_test(tc, cost_fill_sources);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cost_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
