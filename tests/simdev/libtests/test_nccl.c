/* NCCL on the simulated device, run as N MPI ranks (scripts/simrun -n N): data correctness of
 * all-reduce (sum, prod, max, min, avg, pre-multiplied sum; f32, f64, i32, u8, f16, bf16; in and
 * out of place), all-gather, reduce-scatter, broadcast, reduce, send/recv, all-to-all (ncclAlltoAll
 * and grouped send/recv as PyTorch issues it), gather, scatter, communicator split; virtual clocks
 * equal on every rank after a collective; a captured all-reduce replayed from a graph; kernel
 * names; argument errors. */
#include <math.h>
#include <string.h>

#include <mpi.h>
#include <nccl.h>

#include "../cublas/simblas_fp.h"
#include "simdev.h"
#include "simtest.h"

static int R, N;
static ncclComm_t g_comm;
static CUstream g_s;

#define NC(call)                                                                                \
    do {                                                                                        \
        ncclResult_t nc_r_ = (call);                                                            \
        ST_CHECK(nc_r_ == ncclSuccess, "%s -> %s", #call, ncclGetErrorString(nc_r_));           \
    } while (0)

static CUdeviceptr dalloc(size_t bytes)
{
    CUdeviceptr d;
    ST_CU(cuMemAlloc(&d, bytes ? bytes : 1));
    return d;
}

static void h2d(CUdeviceptr d, const void *h, size_t n)
{
    ST_CU(cuMemcpyHtoD(d, h, n));
}

static void d2h(void *h, CUdeviceptr d, size_t n)
{
    ST_CU(cuStreamSynchronize(g_s));
    ST_CU(cuMemcpyDtoH(h, d, n));
}

static void *P(CUdeviceptr d)
{
    return (void *)(uintptr_t)d;
}

/* ---- activity: names and virtual times of NCCL kernels ----------------------------------- */

typedef struct {
    int kind;
    char name[96];
    double start, end;
} act_t;
static act_t g_acts[4096];
static int g_nacts;

static void on_activity(const simdev_activity_t *a, void *u)
{
    (void)u;
    if (g_nacts < 4096) {
        act_t *x = &g_acts[g_nacts++];
        x->kind = a->kind;
        snprintf(x->name, sizeof x->name, "%s", a->name ? a->name : "");
        x->start = a->start_us;
        x->end = a->end_us;
    }
}

static const act_t *last_memset(void)
{
    for (int i = g_nacts; i-- > 0;)
        if (g_acts[i].kind == 2)
            return &g_acts[i];
    return NULL;
}

static const act_t *last_act(const char *prefix)
{
    for (int i = g_nacts; i-- > 0;)
        if (strncmp(g_acts[i].name, prefix, strlen(prefix)) == 0)
            return &g_acts[i];
    return NULL;
}

/* ---- collectives -------------------------------------------------------------------------- */

static void test_allreduce_f32(void)
{
    size_t n = 1000;
    float *h = malloc(n * 4), *o = malloc(n * 4);
    for (size_t i = 0; i < n; i++)
        h[i] = (float)(R + 1) + (float)i * 0.25f;
    CUdeviceptr s = dalloc(n * 4), r = dalloc(n * 4);
    h2d(s, h, n * 4);
    NC(ncclAllReduce(P(s), P(r), n, ncclFloat32, ncclSum, g_comm, (cudaStream_t)g_s));
    d2h(o, r, n * 4);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        double want = N * (N + 1) / 2.0 + N * (double)i * 0.25;
        bad += fabs(o[i] - want) > 1e-4 * fabs(want);
    }
    ST_CHECK(bad == 0, "allreduce sum f32: %d wrong", bad);
    const act_t *a = last_act("ncclDevKernel_");
    char want[96];
    snprintf(want, sizeof want, "ncclDevKernel_AllReduce_Sum_f32_RING_LL");
    ST_CHECK(a && strcmp(a->name, want) == 0, "allreduce kernel named %s, want %s", a ? a->name : "-", want);
    /* in place, avg */
    h2d(r, h, n * 4);
    NC(ncclAllReduce(P(r), P(r), n, ncclFloat32, ncclAvg, g_comm, (cudaStream_t)g_s));
    d2h(o, r, n * 4);
    bad = 0;
    for (size_t i = 0; i < n; i++) {
        double want_v = (N + 1) / 2.0 + (double)i * 0.25;
        bad += fabs(o[i] - want_v) > 1e-4 * fabs(want_v);
    }
    ST_CHECK(bad == 0, "allreduce avg f32 in place: %d wrong", bad);
    /* pre-multiplied sum */
    float scale = 0.5f;
    ncclRedOp_t op;
    NC(ncclRedOpCreatePreMulSum(&op, &scale, ncclFloat32, ncclScalarHostImmediate, g_comm));
    NC(ncclAllReduce(P(s), P(r), n, ncclFloat32, op, g_comm, (cudaStream_t)g_s));
    d2h(o, r, n * 4);
    bad = 0;
    for (size_t i = 0; i < n; i++) {
        double want_v = 0.5 * (N * (N + 1) / 2.0 + N * (double)i * 0.25);
        bad += fabs(o[i] - want_v) > 1e-4 * fabs(want_v);
    }
    ST_CHECK(bad == 0, "allreduce premulsum f32: %d wrong", bad);
    NC(ncclRedOpDestroy(op, g_comm));
    free(h);
    free(o);
    cuMemFree(s);
    cuMemFree(r);
}

static void test_allreduce_types(void)
{
    size_t n = 77;
    /* i32 max / min */
    int32_t hi[77], oi[77];
    for (size_t i = 0; i < n; i++)
        hi[i] = (int32_t)((R * 37 + (int)i * 11) % 101) - 50;
    CUdeviceptr d = dalloc(n * 4), e = dalloc(n * 4);
    h2d(d, hi, n * 4);
    NC(ncclAllReduce(P(d), P(e), n, ncclInt32, ncclMax, g_comm, (cudaStream_t)g_s));
    d2h(oi, e, n * 4);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t w = -1000;
        for (int q = 0; q < N; q++) {
            int32_t v = (int32_t)((q * 37 + (int)i * 11) % 101) - 50;
            w = v > w ? v : w;
        }
        bad += oi[i] != w;
    }
    ST_CHECK(bad == 0, "allreduce max i32: %d wrong", bad);
    NC(ncclAllReduce(P(d), P(e), n, ncclInt32, ncclMin, g_comm, (cudaStream_t)g_s));
    d2h(oi, e, n * 4);
    bad = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t w = 1000;
        for (int q = 0; q < N; q++) {
            int32_t v = (int32_t)((q * 37 + (int)i * 11) % 101) - 50;
            w = v < w ? v : w;
        }
        bad += oi[i] != w;
    }
    ST_CHECK(bad == 0, "allreduce min i32: %d wrong", bad);
    const act_t *a = last_act("ncclDevKernel_");
    ST_CHECK(a && strcmp(a->name, "ncclDevKernel_AllReduce_MinMax_i32_RING_LL") == 0,
             "min kernel named %s", a ? a->name : "-");
    /* f64 prod */
    double hd[77], od[77];
    for (size_t i = 0; i < n; i++)
        hd[i] = 1.0 + 0.01 * (double)(R + (int)i % 5);
    CUdeviceptr f = dalloc(n * 8);
    h2d(f, hd, n * 8);
    NC(ncclAllReduce(P(f), P(f), n, ncclFloat64, ncclProd, g_comm, (cudaStream_t)g_s));
    d2h(od, f, n * 8);
    bad = 0;
    for (size_t i = 0; i < n; i++) {
        double w = 1;
        for (int q = 0; q < N; q++)
            w *= 1.0 + 0.01 * (double)(q + (int)i % 5);
        bad += fabs(od[i] - w) > 1e-12;
    }
    ST_CHECK(bad == 0, "allreduce prod f64: %d wrong", bad);
    /* u8 sum, wrapping */
    uint8_t hu[77], ou[77];
    for (size_t i = 0; i < n; i++)
        hu[i] = (uint8_t)(200 + R + i);
    h2d(d, hu, n);
    NC(ncclAllReduce(P(d), P(e), n, ncclUint8, ncclSum, g_comm, (cudaStream_t)g_s));
    d2h(ou, e, n);
    bad = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned w = 0;
        for (int q = 0; q < N; q++)
            w += (uint8_t)(200 + q + i);
        bad += ou[i] != (uint8_t)w;
    }
    ST_CHECK(bad == 0, "allreduce sum u8: %d wrong", bad);
    /* f16 and bf16 sums of exactly representable values */
    uint16_t hh[77], oh[77];
    for (int t = 0; t < 2; t++) {
        for (size_t i = 0; i < n; i++) {
            float v = (float)(R + 1) * 0.5f + (float)i;
            hh[i] = t ? simfp_f32_to_bf16(v) : simfp_f32_to_half(v);
        }
        h2d(d, hh, n * 2);
        NC(ncclAllReduce(P(d), P(e), n, t ? ncclBfloat16 : ncclFloat16, ncclSum, g_comm, (cudaStream_t)g_s));
        d2h(oh, e, n * 2);
        bad = 0;
        for (size_t i = 0; i < n; i++) {
            double w = 0.5 * N * (N + 1) / 2.0 + (double)N * (double)i;
            double got = t ? simfp_bf16_to_f32(oh[i]) : simfp_half_to_f32(oh[i]);
            bad += fabs(got - w) > (t ? 1e-2 : 2e-3) * fabs(w) + 1e-6;
        }
        ST_CHECK(bad == 0, "allreduce sum %s: %d wrong", t ? "bf16" : "f16", bad);
    }
    cuMemFree(d);
    cuMemFree(e);
    cuMemFree(f);
}

static void test_allgather_reducescatter(void)
{
    size_t c = 37;
    float *h = malloc(c * 4), *o = malloc(c * N * 4);
    for (size_t i = 0; i < c; i++)
        h[i] = (float)(R * 100 + (int)i);
    CUdeviceptr s = dalloc(c * 4), r = dalloc(c * N * 4);
    h2d(s, h, c * 4);
    NC(ncclAllGather(P(s), P(r), c, ncclFloat32, g_comm, (cudaStream_t)g_s));
    d2h(o, r, c * N * 4);
    int bad = 0;
    for (int q = 0; q < N; q++)
        for (size_t i = 0; i < c; i++)
            bad += o[q * c + i] != (float)(q * 100 + (int)i);
    ST_CHECK(bad == 0, "allgather: %d wrong", bad);
    /* in place: own block inside recvbuff */
    h2d(r + (CUdeviceptr)(R * c * 4), h, c * 4);
    NC(ncclAllGather(P(r + (CUdeviceptr)(R * c * 4)), P(r), c, ncclFloat32, g_comm, (cudaStream_t)g_s));
    d2h(o, r, c * N * 4);
    bad = 0;
    for (int q = 0; q < N; q++)
        for (size_t i = 0; i < c; i++)
            bad += o[q * c + i] != (float)(q * 100 + (int)i);
    ST_CHECK(bad == 0, "allgather in place: %d wrong", bad);
    const act_t *a = last_act("ncclDevKernel_");
    ST_CHECK(a && strcmp(a->name, "ncclDevKernel_AllGather_RING_LL") == 0, "allgather kernel %s",
             a ? a->name : "-");

    /* reduce-scatter: input block q of rank p is p + q*1000 + i */
    size_t rc = 29;
    float *in = malloc(rc * N * 4), *out = malloc(rc * 4);
    for (int q = 0; q < N; q++)
        for (size_t i = 0; i < rc; i++)
            in[q * rc + i] = (float)(R + q * 1000 + (int)i);
    CUdeviceptr rs = dalloc(rc * N * 4), rr = dalloc(rc * 4);
    h2d(rs, in, rc * N * 4);
    NC(ncclReduceScatter(P(rs), P(rr), rc, ncclFloat32, ncclSum, g_comm, (cudaStream_t)g_s));
    d2h(out, rr, rc * 4);
    bad = 0;
    for (size_t i = 0; i < rc; i++)
        bad += out[i] != (float)(N * (N - 1) / 2 + N * (R * 1000 + (int)i));
    ST_CHECK(bad == 0, "reducescatter: %d wrong", bad);
    free(h);
    free(o);
    free(in);
    free(out);
    cuMemFree(s);
    cuMemFree(r);
    cuMemFree(rs);
    cuMemFree(rr);
}

static void test_rooted(void)
{
    size_t c = 50;
    int32_t h[50], o[50];
    int root = 1 % N;
    for (size_t i = 0; i < c; i++)
        h[i] = R == root ? 7000 + (int)i : -1;
    CUdeviceptr s = dalloc(c * 4), r = dalloc(c * 4);
    h2d(s, h, c * 4);
    ST_CU(cuMemsetD32(r, 0, c));
    NC(ncclBroadcast(P(s), P(r), c, ncclInt32, root, g_comm, (cudaStream_t)g_s));
    d2h(o, r, c * 4);
    int bad = 0;
    for (size_t i = 0; i < c; i++)
        bad += o[i] != 7000 + (int)i;
    ST_CHECK(bad == 0, "broadcast from %d: %d wrong", root, bad);
    /* reduce to the last rank */
    int rr = N - 1;
    for (size_t i = 0; i < c; i++)
        h[i] = R + (int)i;
    h2d(s, h, c * 4);
    ST_CU(cuMemsetD32(r, 0, c));
    NC(ncclReduce(P(s), P(r), c, ncclInt32, ncclSum, rr, g_comm, (cudaStream_t)g_s));
    d2h(o, r, c * 4);
    bad = 0;
    for (size_t i = 0; i < c; i++)
        bad += R == rr ? o[i] != N * (N - 1) / 2 + N * (int)i : o[i] != 0;
    ST_CHECK(bad == 0, "reduce to %d: %d wrong", rr, bad);
    /* gather / scatter at rank 0 */
    int32_t *g = calloc(c * N, 4);
    CUdeviceptr gd = dalloc(c * N * 4);
    ST_CU(cuMemsetD32(gd, 0, c * N));
    NC(ncclGather(P(s), P(gd), c, ncclInt32, 0, g_comm, (cudaStream_t)g_s));
    d2h(g, gd, c * N * 4);
    bad = 0;
    if (R == 0)
        for (int q = 0; q < N; q++)
            for (size_t i = 0; i < c; i++)
                bad += g[q * c + i] != q + (int)i;
    ST_CHECK(bad == 0, "gather: %d wrong", bad);
    if (R == 0)
        for (int q = 0; q < N; q++)
            for (size_t i = 0; i < c; i++)
                g[q * c + i] = q * 10 + (int)i;
    h2d(gd, g, c * N * 4);
    NC(ncclScatter(P(gd), P(r), c, ncclInt32, 0, g_comm, (cudaStream_t)g_s));
    d2h(o, r, c * 4);
    bad = 0;
    for (size_t i = 0; i < c; i++)
        bad += o[i] != R * 10 + (int)i;
    ST_CHECK(bad == 0, "scatter: %d wrong", bad);
    free(g);
    cuMemFree(gd);
    cuMemFree(s);
    cuMemFree(r);
}

static void test_p2p(void)
{
    size_t c = 100;
    float h[100], o[100];
    for (size_t i = 0; i < c; i++)
        h[i] = (float)(R * 1000 + (int)i);
    CUdeviceptr s = dalloc(c * 4), r = dalloc(c * 4);
    h2d(s, h, c * 4);
    int next = (R + 1) % N, prev = (R + N - 1) % N;
    NC(ncclGroupStart());
    NC(ncclSend(P(s), c, ncclFloat32, next, g_comm, (cudaStream_t)g_s));
    NC(ncclRecv(P(r), c, ncclFloat32, prev, g_comm, (cudaStream_t)g_s));
    NC(ncclGroupEnd());
    d2h(o, r, c * 4);
    int bad = 0;
    for (size_t i = 0; i < c; i++)
        bad += o[i] != (float)(prev * 1000 + (int)i);
    ST_CHECK(bad == 0, "send/recv ring: %d wrong", bad);
    const act_t *a = last_act("ncclDevKernel_");
    ST_CHECK(a && strcmp(a->name, "ncclDevKernel_SendRecv") == 0, "send/recv kernel %s", a ? a->name : "-");

    /* all-to-all as PyTorch issues it: grouped send/recv with every rank, itself included */
    size_t per = 13;
    int32_t *in = malloc(per * N * 4), *out = malloc(per * N * 4);
    for (int q = 0; q < N; q++)
        for (size_t i = 0; i < per; i++)
            in[q * per + i] = R * 10000 + q * 100 + (int)i;
    CUdeviceptr ds = dalloc(per * N * 4), dr = dalloc(per * N * 4);
    h2d(ds, in, per * N * 4);
    NC(ncclGroupStart());
    for (int q = 0; q < N; q++) {
        NC(ncclSend(P(ds + (CUdeviceptr)(q * per * 4)), per, ncclInt32, q, g_comm, (cudaStream_t)g_s));
        NC(ncclRecv(P(dr + (CUdeviceptr)(q * per * 4)), per, ncclInt32, q, g_comm, (cudaStream_t)g_s));
    }
    NC(ncclGroupEnd());
    d2h(out, dr, per * N * 4);
    bad = 0;
    for (int q = 0; q < N; q++)
        for (size_t i = 0; i < per; i++)
            bad += out[q * per + i] != q * 10000 + R * 100 + (int)i;
    ST_CHECK(bad == 0, "all-to-all by grouped send/recv: %d wrong", bad);
    /* the same with ncclAlltoAll */
    ST_CU(cuMemsetD32(dr, 0, per * N));
    NC(ncclAlltoAll(P(ds), P(dr), per, ncclInt32, g_comm, (cudaStream_t)g_s));
    d2h(out, dr, per * N * 4);
    bad = 0;
    for (int q = 0; q < N; q++)
        for (size_t i = 0; i < per; i++)
            bad += out[q * per + i] != q * 10000 + R * 100 + (int)i;
    ST_CHECK(bad == 0, "ncclAlltoAll: %d wrong", bad);
    free(in);
    free(out);
    cuMemFree(ds);
    cuMemFree(dr);
    cuMemFree(s);
    cuMemFree(r);
}

/* Ranks become ready at different virtual times (different amounts of work before the
 * collective); the collective starts at the latest and ends at the same time everywhere. */
static void test_clocks(void)
{
    size_t big = (size_t)(R + 1) << 22;
    CUdeviceptr m = dalloc(big);
    CUdeviceptr x = dalloc(4096);
    ST_CU(cuMemsetD8Async(m, 1, big, g_s));
    NC(ncclAllReduce(P(x), P(x), 1024, ncclFloat32, ncclSum, g_comm, (cudaStream_t)g_s));
    ST_CU(cuStreamSynchronize(g_s));
    const act_t *ms = last_memset();
    const act_t *ar = last_act("ncclDevKernel_AllReduce");
    ST_CHECK(ms && ar, "activities of the memset and the all-reduce not seen");
    if (!ms || !ar)
        return;
    double mine[3] = { ar->start, ar->end, ms->end }, *all = malloc(3 * (size_t)N * sizeof *all);
    MPI_Allgather(mine, 3, MPI_DOUBLE, all, 3, MPI_DOUBLE, MPI_COMM_WORLD);
    double latest = 0;
    int differ = 0;
    for (int q = 0; q < N; q++) {
        differ += all[3 * q] != all[0] || all[3 * q + 1] != all[1];
        latest = all[3 * q + 2] > latest ? all[3 * q + 2] : latest;
    }
    ST_CHECK(differ == 0, "all-reduce virtual start/end differ across ranks (mine %.3f..%.3f)", ar->start, ar->end);
    ST_CHECK(ar->start >= latest - 1e-9, "all-reduce started at %.3f before the last rank was ready (%.3f)",
             ar->start, latest);
    ST_CHECK(ar->end > ar->start, "all-reduce has no duration");
    if (N > 1)
        ST_CHECK(all[2] != all[3 * (N - 1) + 2], "the ranks' memsets ended at the same time; the test "
                 "does not exercise clock synchronisation");
    free(all);
    cuMemFree(m);
    cuMemFree(x);
}

/* A captured all-reduce is a kernel node; each replay is a new collective (new sequence). */
static void test_graph(void)
{
    size_t c = 64;
    float h[64], o[64];
    for (size_t i = 0; i < c; i++)
        h[i] = 1.0f;
    CUdeviceptr d = dalloc(c * 4);
    h2d(d, h, c * 4);
    CUgraph g;
    CUgraphExec ge;
    ST_CU(cuStreamBeginCapture(g_s, CU_STREAM_CAPTURE_MODE_GLOBAL));
    NC(ncclAllReduce(P(d), P(d), c, ncclFloat32, ncclSum, g_comm, (cudaStream_t)g_s));
    ST_CU(cuStreamEndCapture(g_s, &g));
    size_t nn = 0;
    ST_CU(cuGraphGetNodes(g, NULL, &nn));
    ST_CHECK(nn == 1, "captured all-reduce: %zu nodes", nn);
    ST_CU(cuMemcpyDtoH(o, d, c * 4));
    ST_CHECK(o[0] == 1.0f, "capture ran the all-reduce");
    ST_CU(cuGraphInstantiate(&ge, g, 0));
    ST_CU(cuGraphLaunch(ge, g_s));
    ST_CU(cuGraphLaunch(ge, g_s));
    d2h(o, d, c * 4);
    int bad = 0;
    for (size_t i = 0; i < c; i++)
        bad += o[i] != (float)(N * N);
    ST_CHECK(bad == 0, "graph all-reduce replayed twice: %d wrong (o[0] = %g, want %d)", bad, o[0], N * N);
    cuGraphExecDestroy(ge);
    cuGraphDestroy(g);
    cuMemFree(d);
}

/* A group with a collective and point-to-point work, spread over two streams: one
 * ncclDevKernel_Generic kernel, both streams joined before and after it. */
static void test_mixed_group(void)
{
    size_t c = 40;
    float h[40], o[40];
    for (size_t i = 0; i < c; i++)
        h[i] = (float)(R + 1);
    CUdeviceptr ar = dalloc(c * 4), sb = dalloc(c * 4), rb = dalloc(c * 4);
    h2d(ar, h, c * 4);
    h2d(sb, h, c * 4);
    CUstream s2;
    ST_CU(cuStreamCreate(&s2, CU_STREAM_DEFAULT));
    int next = (R + 1) % N, prev = (R + N - 1) % N;
    int before = g_nacts;
    NC(ncclGroupStart());
    NC(ncclAllReduce(P(ar), P(ar), c, ncclFloat32, ncclSum, g_comm, (cudaStream_t)g_s));
    NC(ncclSend(P(sb), c, ncclFloat32, next, g_comm, (cudaStream_t)s2));
    NC(ncclRecv(P(rb), c, ncclFloat32, prev, g_comm, (cudaStream_t)s2));
    NC(ncclGroupEnd());
    /* work on the second stream after the group waits for it */
    ST_CU(cuStreamSynchronize(s2));
    ST_CU(cuMemcpyDtoH(o, rb, c * 4));
    int bad = 0;
    for (size_t i = 0; i < c; i++)
        bad += o[i] != (float)(prev + 1);
    ST_CHECK(bad == 0, "mixed group: send/recv data %d wrong", bad);
    d2h(o, ar, c * 4);
    bad = 0;
    for (size_t i = 0; i < c; i++)
        bad += o[i] != (float)(N * (N + 1) / 2);
    ST_CHECK(bad == 0, "mixed group: all-reduce data %d wrong", bad);
    int kernels = 0;
    for (int i = before; i < g_nacts; i++)
        kernels += g_acts[i].kind == 0;
    const act_t *a = last_act("ncclDevKernel_");
    ST_CHECK(kernels == 1 && a && strcmp(a->name, "ncclDevKernel_Generic") == 0,
             "mixed group: %d kernels, last %s", kernels, a ? a->name : "-");
    cuStreamDestroy(s2);
    cuMemFree(ar);
    cuMemFree(sb);
    cuMemFree(rb);
}

/* One process, one device: ncclCommInitAll. */
static void test_init_all(void)
{
    ncclComm_t one;
    int dev = 0;
    NC(ncclCommInitAll(&one, 1, &dev));
    int v = 5, o = 0, n = 0;
    NC(ncclCommCount(one, &n));
    CUdeviceptr d = dalloc(4);
    h2d(d, &v, 4);
    NC(ncclAllReduce(P(d), P(d), 1, ncclInt32, ncclSum, one, (cudaStream_t)g_s));
    d2h(&o, d, 4);
    ST_CHECK(n == 1 && o == 5, "ncclCommInitAll: %d ranks, all-reduce gives %d", n, o);
    ncclComm_t two[2];
    int devs[2] = { 0, 0 };
    ST_CHECK(ncclCommInitAll(two, 2, devs) == ncclInvalidUsage, "ncclCommInitAll with 2 devices accepted");
    NC(ncclCommDestroy(one));
    cuMemFree(d);
}

static void test_split(void)
{
    ncclComm_t sub = NULL;
    NC(ncclCommSplit(g_comm, R % 2, R, &sub, NULL));
    if (!sub)
        return;
    int n = 0, r = -1;
    NC(ncclCommCount(sub, &n));
    NC(ncclCommUserRank(sub, &r));
    ST_CHECK(n == (N + 1 - R % 2) / 2 && r == R / 2, "split: %d ranks, rank %d", n, r);
    int32_t v = R, o = -1;
    CUdeviceptr d = dalloc(4);
    h2d(d, &v, 4);
    NC(ncclAllReduce(P(d), P(d), 1, ncclInt32, ncclSum, sub, (cudaStream_t)g_s));
    d2h(&o, d, 4);
    int want = 0;
    for (int q = R % 2; q < N; q += 2)
        want += q;
    ST_CHECK(o == want, "allreduce on split comm: %d, want %d", o, want);
    NC(ncclCommDestroy(sub));
    cuMemFree(d);
}

static void test_errors(void)
{
    CUdeviceptr d = dalloc(64);
    ST_CHECK(ncclSend(P(d), 1, ncclFloat32, N, g_comm, (cudaStream_t)g_s) == ncclInvalidArgument,
             "send to a peer out of range accepted");
    ST_CHECK(ncclAllReduce(P(d), P(d), 1, (ncclDataType_t)99, ncclSum, g_comm, (cudaStream_t)g_s) ==
             ncclInvalidArgument, "bad datatype accepted");
    ST_CHECK(ncclGroupEnd() == ncclInvalidUsage, "group end without start accepted");
    /* an error inside a group is returned by ncclGroupEnd and launches nothing */
    int before = g_nacts;
    NC(ncclGroupStart());
    ncclSend(P(d), 1, ncclFloat32, -1, g_comm, (cudaStream_t)g_s);
    ST_CHECK(ncclGroupEnd() == ncclInvalidArgument, "group with a bad call succeeded");
    ST_CU(cuStreamSynchronize(g_s));
    ST_CHECK(g_nacts == before, "failed group launched work");
    ST_CHECK(strlen(ncclGetLastError(g_comm)) > 0, "no last error text");
    ST_CHECK(ncclGetErrorString(ncclInvalidUsage) != NULL, "error string");
    int v = 0, cnt = 0, rank = -1, dev = -1;
    NC(ncclGetVersion(&v));
    ST_CHECK(v == NCCL_VERSION_CODE, "version %d", v);
    NC(ncclCommCount(g_comm, &cnt));
    NC(ncclCommUserRank(g_comm, &rank));
    NC(ncclCommCuDevice(g_comm, &dev));
    ST_CHECK(cnt == N && rank == R && dev >= 0, "count %d rank %d device %d", cnt, rank, dev);
    cuMemFree(d);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &R);
    MPI_Comm_size(MPI_COMM_WORLD, &N);
    st_rank = R;
    if (!simdev_compute_mode()) {
        if (R == 0)
            printf("test_nccl needs compute mode; skipped\n");
        MPI_Finalize();
        return 77;
    }
    int ndev = 1;
    ST_CU(cuInit(0));
    ST_CU(cuDeviceGetCount(&ndev));
    st_cuda_init(R % ndev);
    simdev_activity_subscribe(on_activity, NULL);
    ST_CU(cuStreamCreate(&g_s, CU_STREAM_DEFAULT));
    ncclUniqueId id;
    if (R == 0)
        NC(ncclGetUniqueId(&id));
    MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    cfg.commName = "test-world";
    NC(ncclCommInitRankConfig(&g_comm, N, id, R, &cfg));
    test_allreduce_f32();
    test_allreduce_types();
    test_allgather_reducescatter();
    test_rooted();
    test_p2p();
    test_clocks();
    test_graph();
    test_mixed_group();
    test_init_all();
    test_split();
    test_errors();
    NC(ncclCommFinalize(g_comm));
    NC(ncclCommDestroy(g_comm));
    int fails = st_fail, total = 0;
    MPI_Allreduce(&fails, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    int rc = st_summary();
    MPI_Finalize();
    return rc || total ? 1 : 0;
}
