/* GEMM correctness of every entry point of the replacement cuBLAS / cuBLASLt against a naive
 * column-major reference: transposes, leading dimensions larger than the rows, strided batches,
 * beta != 0 and beta == 0 (C not read: it holds NaN), f32 / f16 / bf16 / f64, host and device
 * pointer modes, cuBLASLt epilogues, capture into a graph and replay, kernel names, and the
 * errors cuBLAS defines. Runs in compute mode on one simulated device. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <cublasLt.h>
#include <cublas_v2.h>

#include "../cublas/simblas_fp.h"
#include "simdev.h"
#include "simtest.h"

/* ---- host matrices ------------------------------------------------------------------------ */

static uint64_t g_seed = 12345;

static double rnd(void)
{
    g_seed = g_seed * 6364136223846793005ull + 1442695040888963407ull;
    return (double)((g_seed >> 33) % 2001) / 1000.0 - 1.0; /* [-1, 1] in steps of 1e-3 */
}

static size_t esize(int t)
{
    return t == CUDA_R_64F ? 8 : t == CUDA_R_32F ? 4 : 2;
}

static void put(void *base, size_t i, int t, double v)
{
    switch (t) {
    case CUDA_R_64F: ((double *)base)[i] = v; break;
    case CUDA_R_32F: ((float *)base)[i] = (float)v; break;
    case CUDA_R_16F: ((uint16_t *)base)[i] = simfp_f32_to_half((float)v); break;
    default: ((uint16_t *)base)[i] = simfp_f32_to_bf16((float)v); break;
    }
}

static double get(const void *base, size_t i, int t)
{
    switch (t) {
    case CUDA_R_64F: return ((const double *)base)[i];
    case CUDA_R_32F: return ((const float *)base)[i];
    case CUDA_R_16F: return simfp_half_to_f32(((const uint16_t *)base)[i]);
    default: return simfp_bf16_to_f32(((const uint16_t *)base)[i]);
    }
}

typedef struct {
    int type;
    int64_t rows, cols, ld, stride;
    int batch;
    size_t n;         /* elements */
    void *h;          /* host copy */
    CUdeviceptr d;
} mat_t;

/* Stored matrix rows x cols (per batch entry), padding filled with a value that would show. */
static void mat_make(mat_t *m, int type, int64_t rows, int64_t cols, int64_t ld, int batch,
                     int64_t stride, double pad, int fill_nan)
{
    memset(m, 0, sizeof *m);
    m->type = type;
    m->rows = rows;
    m->cols = cols;
    m->ld = ld;
    m->batch = batch;
    m->stride = stride;
    m->n = (size_t)(stride * (batch - 1) + ld * cols + 8);
    m->h = calloc(m->n, esize(type));
    for (size_t i = 0; i < m->n; i++)
        put(m->h, i, type, pad);
    for (int b = 0; b < batch; b++)
        for (int64_t j = 0; j < cols; j++)
            for (int64_t i = 0; i < rows; i++)
                put(m->h, (size_t)(b * stride + i + j * ld), type, fill_nan ? NAN : rnd());
    ST_CU(cuMemAlloc(&m->d, m->n * esize(type)));
    ST_CU(cuMemcpyHtoD(m->d, m->h, m->n * esize(type)));
}

static void mat_free(mat_t *m)
{
    cuMemFree(m->d);
    free(m->h);
}

/* op(X)(r, c) of a stored matrix. */
static double opget(const mat_t *x, int trans, int b, int64_t r, int64_t c)
{
    int64_t i = trans ? c : r, j = trans ? r : c;
    return get(x->h, (size_t)(b * x->stride + i + j * x->ld), x->type);
}

typedef struct {
    int epi_bias, epi_relu, epi_gelu;
    const double *bias;
} epi_t;

/* D(ref) = alpha op(A) op(B) + beta C (+ epilogue), in double. */
static double *reference(const mat_t *A, int ta, const mat_t *B, int tb, const mat_t *C, int64_t m,
                         int64_t n, int64_t k, double alpha, double beta, int batch, const epi_t *e)
{
    double *r = calloc((size_t)(m * n * batch), sizeof *r);
    for (int b = 0; b < batch; b++)
        for (int64_t j = 0; j < n; j++)
            for (int64_t i = 0; i < m; i++) {
                double acc = 0;
                for (int64_t p = 0; p < k; p++)
                    acc += opget(A, ta, A->batch > 1 ? b : 0, i, p) * opget(B, tb, B->batch > 1 ? b : 0, p, j);
                double v = alpha * acc;
                if (beta != 0)
                    v += beta * get(C->h, (size_t)(b * C->stride + i + j * C->ld), C->type);
                if (e && e->epi_bias)
                    v += e->bias[i];
                if (e && e->epi_relu)
                    v = v > 0 ? v : 0;
                if (e && e->epi_gelu)
                    v = 0.5 * v * (1.0 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
                r[(size_t)(b * m * n + i + j * m)] = v;
            }
    return r;
}

/* Compare device result D against ref; padding of D must be untouched. */
static void compare(const char *what, mat_t *D, const double *ref, int64_t m, int64_t n, int batch,
                    double tol, double pad)
{
    void *out = calloc(D->n, esize(D->type));
    ST_CU(cuMemcpyDtoH(out, D->d, D->n * esize(D->type)));
    double worst = 0;
    int bad_pad = 0;
    for (int b = 0; b < batch; b++)
        for (int64_t j = 0; j < n; j++)
            for (int64_t i = 0; i < m; i++) {
                double got = get(out, (size_t)(b * D->stride + i + j * D->ld), D->type);
                double want = ref[(size_t)(b * m * n + i + j * m)];
                double err = fabs(got - want) / (1.0 + fabs(want));
                if (!(err <= worst))
                    worst = isnan(err) ? INFINITY : err;
            }
    for (size_t i = 0; i < D->n; i++) {
        int64_t b = D->stride ? (int64_t)i / D->stride : 0, off = (int64_t)i - b * D->stride;
        int inside = b < batch && off % D->ld < m && off / D->ld < n;
        if (!inside && b < batch && get(out, i, D->type) != get(D->h, i, D->type))
            bad_pad++;
        (void)pad;
    }
    ST_CHECK(worst <= tol, "%s: max relative error %g > %g", what, worst, tol);
    ST_CHECK(bad_pad == 0, "%s: %d elements outside the m x n result were written", what, bad_pad);
    free(out);
}

/* ---- kernel names seen by the device ----------------------------------------------------- */

static char g_last_kernel[128];
static int g_kernels_seen;

static void on_activity(const simdev_activity_t *a, void *user)
{
    (void)user;
    if (a->kind == 0 && a->name) {
        snprintf(g_last_kernel, sizeof g_last_kernel, "%s", a->name);
        g_kernels_seen++;
    }
}

static const char *arch(void)
{
    const simdev_device_info_t *d = simdev_device_info();
    return d && d->cc_major == 7 ? "volta" : d && d->cc_major >= 9 ? "sm90" : "ampere";
}

/* ---- cuBLAS entry points ------------------------------------------------------------------ */

enum { API_SGEMM, API_GEMMEX, API_SBATCHED, API_EXBATCHED, API_LT, API_SGEMM64, API_GEMMEX64,
       API_EXBATCHED64 };

typedef struct {
    const char *name;
    int api;
    int atype, ctype;
    cublasComputeType_t compute;
    int batch;
    double tol;
} variant_t;

static void run_case(cublasHandle_t h, cublasLtHandle_t lt, CUstream s, const variant_t *v, int ta,
                     int tb, int64_t m, int64_t n, int64_t k, double alpha, double beta, int pad)
{
    int64_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
    int64_t lda = ar + pad, ldb = br + pad + 1, ldc = m + pad;
    int batch = v->batch;
    int64_t sa = batch > 1 ? lda * ac + 5 : 0, sb = batch > 1 ? ldb * bc + 3 : 0;
    int64_t sc = batch > 1 ? ldc * n + 11 : 0;
    mat_t A, B, C;
    mat_make(&A, v->atype, ar, ac, lda, batch, sa, 1e6, 0);
    mat_make(&B, v->atype, br, bc, ldb, batch, sb, -1e6, 0);
    mat_make(&C, v->ctype, m, n, ldc, batch, sc, 7.0, beta == 0.0);
    double *ref = reference(&A, ta, &B, tb, &C, m, n, k, alpha, beta, batch, NULL);
    cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    float af = (float)alpha, bf = (float)beta;
    double ad = alpha, bd = beta;
    const void *pa = v->compute == CUBLAS_COMPUTE_64F ? (const void *)&ad : (const void *)&af;
    const void *pb = v->compute == CUBLAS_COMPUTE_64F ? (const void *)&bd : (const void *)&bf;
    cublasStatus_t st = CUBLAS_STATUS_NOT_SUPPORTED;
    void *a = (void *)(uintptr_t)A.d, *b = (void *)(uintptr_t)B.d, *c = (void *)(uintptr_t)C.d;
    mat_t D;
    int use_d = 0;
    switch (v->api) {
    case API_SGEMM:
        st = cublasSgemm(h, opa, opb, (int)m, (int)n, (int)k, &af, a, (int)lda, b, (int)ldb, &bf, c, (int)ldc);
        break;
    case API_GEMMEX:
        st = cublasGemmEx(h, opa, opb, (int)m, (int)n, (int)k, pa, a, v->atype, (int)lda, b, v->atype,
                          (int)ldb, pb, c, v->ctype, (int)ldc, v->compute, CUBLAS_GEMM_DEFAULT);
        break;
    case API_SGEMM64:
        st = cublasSgemm_v2_64(h, opa, opb, m, n, k, &af, a, lda, b, ldb, &bf, c, ldc);
        break;
    case API_GEMMEX64:
        st = cublasGemmEx_64(h, opa, opb, m, n, k, pa, a, v->atype, lda, b, v->atype, ldb, pb, c,
                             v->ctype, ldc, v->compute, CUBLAS_GEMM_DEFAULT);
        break;
    case API_EXBATCHED64:
        st = cublasGemmStridedBatchedEx_64(h, opa, opb, m, n, k, pa, a, v->atype, lda, sa, b, v->atype,
                                           ldb, sb, pb, c, v->ctype, ldc, sc, batch, v->compute,
                                           CUBLAS_GEMM_DEFAULT);
        break;
    case API_SBATCHED:
        st = cublasSgemmStridedBatched(h, opa, opb, (int)m, (int)n, (int)k, &af, a, (int)lda, sa, b,
                                       (int)ldb, sb, &bf, c, (int)ldc, sc, batch);
        break;
    case API_EXBATCHED:
        st = cublasGemmStridedBatchedEx(h, opa, opb, (int)m, (int)n, (int)k, pa, a, v->atype, (int)lda,
                                        sa, b, v->atype, (int)ldb, sb, pb, c, v->ctype, (int)ldc, sc,
                                        batch, v->compute, CUBLAS_GEMM_DEFAULT);
        break;
    case API_LT: {
        /* C and D differ; D has its own padding. */
        use_d = 1;
        mat_make(&D, v->ctype, m, n, ldc, batch, sc, 3.0, 0);
        cublasLtMatmulDesc_t desc;
        cublasLtMatrixLayout_t la, lb, lc, ld;
        cublasLtMatmulDescCreate(&desc, v->compute, v->compute == CUBLAS_COMPUTE_64F ? CUDA_R_64F : CUDA_R_32F);
        int32_t t32a = opa, t32b = opb;
        cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &t32a, sizeof t32a);
        cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &t32b, sizeof t32b);
        cublasLtMatrixLayoutCreate(&la, v->atype, (uint64_t)ar, (uint64_t)ac, lda);
        cublasLtMatrixLayoutCreate(&lb, v->atype, (uint64_t)br, (uint64_t)bc, ldb);
        cublasLtMatrixLayoutCreate(&lc, v->ctype, (uint64_t)m, (uint64_t)n, ldc);
        cublasLtMatrixLayoutCreate(&ld, v->ctype, (uint64_t)m, (uint64_t)n, ldc);
        if (batch > 1) {
            int32_t bc32 = batch;
            cublasLtMatrixLayout_t ls[4] = { la, lb, lc, ld };
            int64_t strides[4] = { sa, sb, sc, sc };
            for (int i = 0; i < 4; i++) {
                cublasLtMatrixLayoutSetAttribute(ls[i], CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &bc32, sizeof bc32);
                cublasLtMatrixLayoutSetAttribute(ls[i], CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                                 &strides[i], sizeof strides[i]);
            }
        }
        cublasLtMatmulPreference_t pref;
        cublasLtMatmulPreferenceCreate(&pref);
        uint64_t ws = 1 << 20;
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
        cublasLtMatmulHeuristicResult_t res[4];
        int nres = 0;
        cublasStatus_t hs = cublasLtMatmulAlgoGetHeuristic(lt, desc, la, lb, lc, ld, pref, 4, res, &nres);
        ST_CHECK(hs == CUBLAS_STATUS_SUCCESS && nres >= 1 && res[0].state == CUBLAS_STATUS_SUCCESS,
                 "%s: heuristic status %d, %d results", v->name, (int)hs, nres);
        st = cublasLtMatmul(lt, desc, pa, a, la, b, lb, pb, c, lc, (void *)(uintptr_t)D.d, ld,
                            nres ? &res[0].algo : NULL, NULL, 0, s);
        cublasLtMatmulPreferenceDestroy(pref);
        cublasLtMatrixLayoutDestroy(la);
        cublasLtMatrixLayoutDestroy(lb);
        cublasLtMatrixLayoutDestroy(lc);
        cublasLtMatrixLayoutDestroy(ld);
        cublasLtMatmulDescDestroy(desc);
        break;
    }
    }
    char what[160];
    snprintf(what, sizeof what, "%s %c%c m=%lld n=%lld k=%lld beta=%g", v->name, ta ? 't' : 'n',
             tb ? 't' : 'n', (long long)m, (long long)n, (long long)k, beta);
    ST_CHECK(st == CUBLAS_STATUS_SUCCESS, "%s: status %d", what, (int)st);
    ST_CU(cuStreamSynchronize(s));
    if (st == CUBLAS_STATUS_SUCCESS)
        compare(what, use_d ? &D : &C, ref, m, n, batch, v->tol, 0);
    if (use_d) {
        /* C is input only for cuBLASLt when D is another matrix */
        void *cb = calloc(C.n, esize(C.type));
        ST_CU(cuMemcpyDtoH(cb, C.d, C.n * esize(C.type)));
        ST_CHECK(memcmp(cb, C.h, C.n * esize(C.type)) == 0, "%s: C was modified", what);
        free(cb);
        mat_free(&D);
    }
    free(ref);
    mat_free(&A);
    mat_free(&B);
    mat_free(&C);
}

static void test_variants(cublasHandle_t h, cublasLtHandle_t lt, CUstream s)
{
    static const variant_t vs[] = {
        { "cublasSgemm", API_SGEMM, CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F, 1, 1e-5 },
        { "cublasGemmEx f32", API_GEMMEX, CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F, 1, 1e-5 },
        { "cublasGemmEx f32 tf32", API_GEMMEX, CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32, 1, 1e-5 },
        { "cublasGemmEx f16->f32", API_GEMMEX, CUDA_R_16F, CUDA_R_32F, CUBLAS_COMPUTE_32F, 1, 1e-5 },
        { "cublasGemmEx f16->f16", API_GEMMEX, CUDA_R_16F, CUDA_R_16F, CUBLAS_COMPUTE_32F, 1, 2e-3 },
        { "cublasGemmEx bf16->bf16", API_GEMMEX, CUDA_R_16BF, CUDA_R_16BF, CUBLAS_COMPUTE_32F, 1, 1e-2 },
        { "cublasGemmEx f64", API_GEMMEX, CUDA_R_64F, CUDA_R_64F, CUBLAS_COMPUTE_64F, 1, 1e-12 },
        { "cublasSgemmStridedBatched", API_SBATCHED, CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F, 3, 1e-5 },
        { "cublasGemmStridedBatchedEx bf16", API_EXBATCHED, CUDA_R_16BF, CUDA_R_16BF, CUBLAS_COMPUTE_32F, 4, 1e-2 },
        { "cublasGemmStridedBatchedEx f32", API_EXBATCHED, CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F, 2, 1e-5 },
        { "cublasSgemm_v2_64", API_SGEMM64, CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F, 1, 1e-5 },
        { "cublasGemmEx_64 f16->f32", API_GEMMEX64, CUDA_R_16F, CUDA_R_32F, CUBLAS_COMPUTE_32F, 1, 1e-5 },
        { "cublasGemmStridedBatchedEx_64 f32", API_EXBATCHED64, CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F, 3, 1e-5 },
        { "cublasLtMatmul f32", API_LT, CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F, 1, 1e-5 },
        { "cublasLtMatmul bf16 batched", API_LT, CUDA_R_16BF, CUDA_R_16BF, CUBLAS_COMPUTE_32F, 3, 1e-2 },
        { "cublasLtMatmul f32 batched", API_LT, CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F, 2, 1e-5 },
    };
    static const int64_t shapes[][3] = { { 5, 7, 3 }, { 33, 17, 65 }, { 1, 1, 1 }, { 130, 3, 9 }, { 6, 5, 0 } };
    for (size_t v = 0; v < sizeof vs / sizeof vs[0]; v++)
        for (int t = 0; t < 4; t++)
            for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
                double beta = (t + sh) % 2 ? 0.0 : -0.75;
                run_case(h, lt, s, &vs[v], t & 1, t >> 1, shapes[sh][0], shapes[sh][1], shapes[sh][2],
                         1.5, beta, (int)(sh % 3) + 1);
            }
}

/* ---- device pointer mode ----------------------------------------------------------------- */

static void test_device_pointer_mode(cublasHandle_t h, CUstream s)
{
    variant_t v = { "device pointer mode", API_SGEMM, CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F, 1, 1e-5 };
    mat_t A, B, C;
    int64_t m = 9, n = 4, k = 6;
    mat_make(&A, CUDA_R_32F, m, k, m, 1, 0, 0, 0);
    mat_make(&B, CUDA_R_32F, k, n, k + 2, 1, 0, 0, 0);
    mat_make(&C, CUDA_R_32F, m, n, m + 1, 1, 0, 0, 0);
    double *ref = reference(&A, 0, &B, 0, &C, m, n, k, 2.0, 0.5, 1, NULL);
    float ab[2] = { 2.0f, 0.5f };
    CUdeviceptr dab;
    ST_CU(cuMemAlloc(&dab, sizeof ab));
    ST_CU(cuMemcpyHtoD(dab, ab, sizeof ab));
    ST_CHECK(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_DEVICE) == CUBLAS_STATUS_SUCCESS, "set pointer mode");
    cublasStatus_t st = cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, (int)m, (int)n, (int)k,
                                    (const float *)(uintptr_t)dab, (const float *)(uintptr_t)A.d, (int)m,
                                    (const float *)(uintptr_t)B.d, (int)k + 2,
                                    (const float *)(uintptr_t)(dab + 4), (float *)(uintptr_t)C.d, (int)m + 1);
    ST_CHECK(st == CUBLAS_STATUS_SUCCESS, "%s: status %d", v.name, (int)st);
    ST_CU(cuStreamSynchronize(s));
    compare(v.name, &C, ref, m, n, 1, v.tol, 0);
    cublasSetPointerMode(h, CUBLAS_POINTER_MODE_HOST);
    cuMemFree(dab);
    free(ref);
    mat_free(&A);
    mat_free(&B);
    mat_free(&C);
}

/* ---- cuBLASLt epilogues ------------------------------------------------------------------- */

static void test_epilogues(cublasLtHandle_t lt, CUstream s)
{
    static const struct {
        const char *name;
        uint32_t epi;
        epi_t e;
    } cases[] = {
        { "epilogue bias", CUBLASLT_EPILOGUE_BIAS, { 1, 0, 0, NULL } },
        { "epilogue relu", CUBLASLT_EPILOGUE_RELU, { 0, 1, 0, NULL } },
        { "epilogue relu+bias", CUBLASLT_EPILOGUE_RELU_BIAS, { 1, 1, 0, NULL } },
        { "epilogue gelu+bias", CUBLASLT_EPILOGUE_GELU_BIAS, { 1, 0, 1, NULL } },
    };
    int64_t m = 12, n = 10, k = 7;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        mat_t A, B, C, D, bias;
        mat_make(&A, CUDA_R_32F, k, m, k, 1, 0, 0, 0); /* op(A) = A^T */
        mat_make(&B, CUDA_R_32F, k, n, k, 1, 0, 0, 0);
        mat_make(&C, CUDA_R_32F, m, n, m, 1, 0, 0, 0);
        mat_make(&D, CUDA_R_32F, m, n, m, 1, 0, 0, 0);
        mat_make(&bias, CUDA_R_32F, m, 1, m, 1, 0, 0, 0);
        double bv[64];
        for (int64_t i = 0; i < m; i++)
            bv[i] = get(bias.h, (size_t)i, CUDA_R_32F);
        epi_t e = cases[c].e;
        e.bias = bv;
        double *ref = reference(&A, 1, &B, 0, &C, m, n, k, 1.0, 1.0, 1, &e);
        cublasLtMatmulDesc_t desc;
        cublasLtMatrixLayout_t la, lb, lc;
        cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F);
        int32_t t = CUBLAS_OP_T;
        cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof t);
        cublasStatus_t st = cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE,
                                                           &cases[c].epi, sizeof cases[c].epi);
        ST_CHECK(st == CUBLAS_STATUS_SUCCESS, "%s: set epilogue %d", cases[c].name, (int)st);
        void *bp = (void *)(uintptr_t)bias.d;
        cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bp, sizeof bp);
        cublasLtMatrixLayoutCreate(&la, CUDA_R_32F, (uint64_t)k, (uint64_t)m, k);
        cublasLtMatrixLayoutCreate(&lb, CUDA_R_32F, (uint64_t)k, (uint64_t)n, k);
        cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, (uint64_t)m, (uint64_t)n, m);
        float one = 1.0f;
        st = cublasLtMatmul(lt, desc, &one, (void *)(uintptr_t)A.d, la, (void *)(uintptr_t)B.d, lb, &one,
                            (void *)(uintptr_t)C.d, lc, (void *)(uintptr_t)D.d, lc, NULL, NULL, 0, s);
        ST_CHECK(st == CUBLAS_STATUS_SUCCESS, "%s: status %d", cases[c].name, (int)st);
        ST_CU(cuStreamSynchronize(s));
        compare(cases[c].name, &D, ref, m, n, 1, 1e-5, 0);
        char want[96];
        snprintf(want, sizeof want, "%s_sgemm_64x64_tn_%s", arch(),
                 cases[c].epi == CUBLASLT_EPILOGUE_BIAS ? "bias" :
                 cases[c].epi == CUBLASLT_EPILOGUE_RELU ? "relu" :
                 cases[c].epi == CUBLASLT_EPILOGUE_RELU_BIAS ? "bias_relu" : "bias_gelu");
        ST_CHECK(strcmp(g_last_kernel, want) == 0, "%s: kernel %s, want %s", cases[c].name,
                 g_last_kernel, want);
        cublasLtMatrixLayoutDestroy(la);
        cublasLtMatrixLayoutDestroy(lb);
        cublasLtMatrixLayoutDestroy(lc);
        cublasLtMatmulDescDestroy(desc);
        free(ref);
        mat_free(&A);
        mat_free(&B);
        mat_free(&C);
        mat_free(&D);
        mat_free(&bias);
    }
}

/* ---- kernel names ------------------------------------------------------------------------- */

static void test_names(cublasHandle_t h, CUstream s)
{
    static const struct {
        int atype, ctype;
        cublasComputeType_t compute;
        int m, n, ta, tb;
        const char *fam, *tile;
    } cases[] = {
        { CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F, 64, 64, 0, 0, "sgemm", "64x64" },
        { CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32, 256, 64, 1, 0, "s1688gemm_tf32", "128x64" },
        { CUDA_R_16F, CUDA_R_16F, CUBLAS_COMPUTE_32F, 128, 256, 0, 1, "h16816gemm", "128x128" },
        { CUDA_R_16BF, CUDA_R_16BF, CUBLAS_COMPUTE_32F, 8, 8, 1, 1, "bf16_s16816gemm_bf16", "64x64" },
        { CUDA_R_16BF, CUDA_R_32F, CUBLAS_COMPUTE_32F, 8, 8, 0, 0, "bf16_s16816gemm_fp32", "64x64" },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int k = 4;
        mat_t A, B, C;
        mat_make(&A, cases[c].atype, cases[c].ta ? k : cases[c].m, cases[c].ta ? cases[c].m : k,
                 cases[c].ta ? k : cases[c].m, 1, 0, 0, 0);
        mat_make(&B, cases[c].atype, cases[c].tb ? cases[c].n : k, cases[c].tb ? k : cases[c].n,
                 cases[c].tb ? cases[c].n : k, 1, 0, 0, 0);
        mat_make(&C, cases[c].ctype, cases[c].m, cases[c].n, cases[c].m, 1, 0, 0, 0);
        float one = 1, zero = 0;
        int before = g_kernels_seen;
        cublasStatus_t st = cublasGemmEx(h, cases[c].ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                                         cases[c].tb ? CUBLAS_OP_T : CUBLAS_OP_N, cases[c].m, cases[c].n, k,
                                         &one, (void *)(uintptr_t)A.d, cases[c].atype, (int)A.ld,
                                         (void *)(uintptr_t)B.d, cases[c].atype, (int)B.ld, &zero,
                                         (void *)(uintptr_t)C.d, cases[c].ctype, (int)C.ld,
                                         cases[c].compute, CUBLAS_GEMM_DEFAULT);
        ST_CU(cuStreamSynchronize(s));
        char want[96];
        snprintf(want, sizeof want, "%s_%s_%s_%c%c", arch(), cases[c].fam, cases[c].tile,
                 cases[c].ta ? 't' : 'n', cases[c].tb ? 't' : 'n');
        ST_CHECK(st == CUBLAS_STATUS_SUCCESS && g_kernels_seen == before + 1 &&
                 strcmp(g_last_kernel, want) == 0, "kernel name %s (status %d, %d launches), want %s",
                 g_last_kernel, (int)st, g_kernels_seen - before, want);
        mat_free(&A);
        mat_free(&B);
        mat_free(&C);
    }
}

/* ---- capture and replay ------------------------------------------------------------------- */

static void test_capture(cublasHandle_t h, CUstream s)
{
    int64_t m = 16, n = 8, k = 5;
    mat_t A, B, C;
    mat_make(&A, CUDA_R_32F, m, k, m, 1, 0, 0, 0);
    mat_make(&B, CUDA_R_32F, k, n, k, 1, 0, 0, 0);
    mat_make(&C, CUDA_R_32F, m, n, m, 1, 0, 0, 0);
    /* Two replays of C += 0.5 A B equal one GEMM with alpha 1 and beta 1. */
    double *ref = reference(&A, 0, &B, 0, &C, m, n, k, 1.0, 1.0, 1, NULL);
    float half = 0.5f, one = 1.0f;
    CUgraph g = NULL;
    CUgraphExec ge = NULL;
    ST_CU(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
    cublasStatus_t st = cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, (int)m, (int)n, (int)k, &half,
                                    (float *)(uintptr_t)A.d, (int)m, (float *)(uintptr_t)B.d, (int)k, &one,
                                    (float *)(uintptr_t)C.d, (int)m);
    ST_CU(cuStreamEndCapture(s, &g));
    ST_CHECK(st == CUBLAS_STATUS_SUCCESS, "captured sgemm: status %d", (int)st);
    size_t nn = 0;
    ST_CU(cuGraphGetNodes(g, NULL, &nn));
    ST_CHECK(nn == 1, "captured GEMM: %zu nodes, want 1", nn);
    if (nn == 1) {
        CUgraphNode node;
        CUgraphNodeType type;
        ST_CU(cuGraphGetNodes(g, &node, &nn));
        ST_CU(cuGraphNodeGetType(node, &type));
        ST_CHECK(type == CU_GRAPH_NODE_TYPE_KERNEL, "captured GEMM node type %d", (int)type);
    }
    /* Nothing ran yet: C unchanged. */
    void *tmp = calloc(C.n, 4);
    ST_CU(cuMemcpyDtoH(tmp, C.d, C.n * 4));
    ST_CHECK(memcmp(tmp, C.h, C.n * 4) == 0, "capture executed the GEMM");
    free(tmp);
    ST_CU(cuGraphInstantiate(&ge, g, 0));
    ST_CU(cuGraphLaunch(ge, s));
    ST_CU(cuGraphLaunch(ge, s));
    ST_CU(cuStreamSynchronize(s));
    compare("captured GEMM replayed twice", &C, ref, m, n, 1, 1e-5, 0);
    cuGraphExecDestroy(ge);
    cuGraphDestroy(g);
    free(ref);
    mat_free(&A);
    mat_free(&B);
    mat_free(&C);
}

/* ---- errors ------------------------------------------------------------------------------- */

static void test_errors(cublasHandle_t h, cublasLtHandle_t lt)
{
    float one = 1;
    CUdeviceptr d;
    ST_CU(cuMemAlloc(&d, 4096));
    float *p = (float *)(uintptr_t)d;
    int before = g_kernels_seen;
    ST_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 8, 8, 8, &one, p, 7, p, 8, &one, p, 8) ==
             CUBLAS_STATUS_INVALID_VALUE, "lda < m accepted");
    ST_CHECK(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, 8, 8, 9, &one, p, 8, p, 9, &one, p, 8) ==
             CUBLAS_STATUS_INVALID_VALUE, "lda < k with transa accepted");
    ST_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, -1, 8, 8, &one, p, 8, p, 8, &one, p, 8) ==
             CUBLAS_STATUS_INVALID_VALUE, "m < 0 accepted");
    ST_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 0, 8, 8, &one, p, 1, p, 8, &one, p, 1) ==
             CUBLAS_STATUS_SUCCESS, "m == 0 refused");
    ST_CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, p, CUDA_R_8I, 4, p, CUDA_R_8I, 4,
                          &one, p, CUDA_R_32I, 4, CUBLAS_COMPUTE_32I, CUBLAS_GEMM_DEFAULT) ==
             CUBLAS_STATUS_NOT_SUPPORTED, "integer GEMM not refused");
    ST_CHECK(g_kernels_seen == before, "a refused GEMM launched %d kernels", g_kernels_seen - before);
    ST_CHECK(cublasSgemm(NULL, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, p, 1, p, 1, &one, p, 1) ==
             CUBLAS_STATUS_NOT_INITIALIZED, "null handle accepted");
    cublasMath_t mm;
    ST_CHECK(cublasSetMathMode(h, CUBLAS_TF32_TENSOR_OP_MATH) == CUBLAS_STATUS_SUCCESS &&
             cublasGetMathMode(h, &mm) == CUBLAS_STATUS_SUCCESS && mm == CUBLAS_TF32_TENSOR_OP_MATH,
             "math mode round trip");
    cublasSetMathMode(h, CUBLAS_DEFAULT_MATH);
    ST_CHECK(cublasSetWorkspace(h, p, 4096) == CUBLAS_STATUS_SUCCESS, "set workspace");

    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F);
    cublasLtMatrixLayoutCreate(&la, CUDA_R_32F, 4, 3, 4);
    cublasLtMatrixLayoutCreate(&lb, CUDA_R_32F, 3, 5, 3);
    cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, 4, 6, 4); /* n should be 5 */
    ST_CHECK(cublasLtMatmul(lt, desc, &one, p, la, p, lb, &one, p, lc, p, lc, NULL, NULL, 0, NULL) ==
             CUBLAS_STATUS_INVALID_VALUE, "mismatched Lt layouts accepted");
    int64_t wrong = 1;
    ST_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &wrong, sizeof wrong) ==
             CUBLAS_STATUS_INVALID_VALUE, "attribute of the wrong size accepted");
    int32_t tr = CUBLAS_OP_T, back = -1;
    size_t wr = 0;
    ST_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &tr, sizeof tr) ==
             CUBLAS_STATUS_SUCCESS &&
             cublasLtMatmulDescGetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &back, sizeof back, &wr) ==
             CUBLAS_STATUS_SUCCESS && back == CUBLAS_OP_T && wr == sizeof back, "Lt attribute round trip");
    uint32_t epi = CUBLASLT_EPILOGUE_DGELU_BGRAD;
    cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi);
    cublasLtMatrixLayout_t lb2;
    cublasLtMatrixLayoutCreate(&lb2, CUDA_R_32F, 5, 3, 5);
    ST_CHECK(cublasLtMatmul(lt, desc, &one, p, la, p, lb2, &one, p, la, p, la, NULL, NULL, 0, NULL) ==
             CUBLAS_STATUS_NOT_SUPPORTED, "unsupported epilogue accepted");
    cublasLtMatrixLayoutDestroy(lb2);
    cublasLtMatrixLayoutDestroy(la);
    cublasLtMatrixLayoutDestroy(lb);
    cublasLtMatrixLayoutDestroy(lc);
    cublasLtMatmulDescDestroy(desc);
    cuMemFree(d);
}

int main(void)
{
    if (!simdev_compute_mode()) {
        printf("test_gemm needs compute mode (SIMDEV_MODE=compute); skipped\n");
        return 77;
    }
    st_cuda_init(0);
    simdev_activity_subscribe(on_activity, NULL);
    CUstream s;
    ST_CU(cuStreamCreate(&s, CU_STREAM_DEFAULT));
    cublasHandle_t h;
    cublasLtHandle_t lt;
    ST_CHECK(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS, "cublasCreate");
    ST_CHECK(cublasLtCreate(&lt) == CUBLAS_STATUS_SUCCESS, "cublasLtCreate");
    ST_CHECK(cublasSetStream(h, s) == CUBLAS_STATUS_SUCCESS, "cublasSetStream");
    cudaStream_t got = NULL;
    ST_CHECK(cublasGetStream(h, &got) == CUBLAS_STATUS_SUCCESS && got == (cudaStream_t)s, "cublasGetStream");
    test_variants(h, lt, s);
    test_device_pointer_mode(h, s);
    test_epilogues(lt, s);
    test_names(h, s);
    test_capture(h, s);
    test_errors(h, lt);
    ST_CHECK(cublasDestroy(h) == CUBLAS_STATUS_SUCCESS, "cublasDestroy");
    ST_CHECK(cublasLtDestroy(lt) == CUBLAS_STATUS_SUCCESS, "cublasLtDestroy");
    return st_summary();
}
