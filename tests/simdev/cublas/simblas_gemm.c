/* GEMM kernels of the replacement cuBLAS: providers (cost, footprint, host computation), kernel
 * names, and the launch through the simulated driver. Linked into libcublasLt.so.13.
 *
 * Kernel names follow cuBLAS's pattern  <arch>_<family>_<tile>_<ta><tb>[_<epilogue>]:
 *   arch     volta | ampere | sm90, from the device's compute capability
 *   family   sgemm (f32), s1688gemm_tf32 (f32 on tensor cores), h16816gemm (f16 -> f16),
 *            fp16_s16816gemm_fp32 (f16 -> f32), bf16_s16816gemm_bf16, bf16_s16816gemm_fp32, dgemm
 *   tile     64x64 | 128x64 | 128x128 from m and n
 *   ta tb    n or t: op(A), op(B)
 *   epilogue relu | bias | bias_relu | gelu | bias_gelu (cuBLASLt epilogues)
 * e.g. "ampere_sgemm_128x64_tn", "sm90_bf16_s16816gemm_bf16_128x128_nt_bias". Every combination is
 * registered when the library loads, so programs may look them up by name like any kernel.
 *
 * The footprint is exact to the extent of each operand's columns: A of batch b covers
 * [A + b*strideA, + ((cols-1)*lda + rows) elements), likewise B; C is read when beta may be
 * non-zero (device pointer mode: always), D is written; the bias vector is read. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cublasLt.h>
#include <cuda.h>

#include "simblas.h"
#include "../common/simdev_kcache.h"
#include "simblas_fp.h"
#include "simdev.h"

#define NARCH 3
#define NFAM 7
#define NTILE 3
#define NEPI 6

static const char *const g_arch[NARCH] = { "volta", "ampere", "sm90" };
static const char *const g_fam[NFAM] = {
    "sgemm", "s1688gemm_tf32", "h16816gemm", "fp16_s16816gemm_fp32",
    "bf16_s16816gemm_bf16", "bf16_s16816gemm_fp32", "dgemm",
};
static const char *const g_tile[NTILE] = { "64x64", "128x64", "128x128" };
static const int g_tile_m[NTILE] = { 64, 128, 128 };
static const int g_tile_n[NTILE] = { 64, 64, 128 };
static const char *const g_epi[NEPI] = { "", "_relu", "_bias", "_bias_relu", "_gelu", "_bias_gelu" };

static size_t type_size(int t)
{
    switch (t) {
    case CUDA_R_32F: return 4;
    case CUDA_R_64F: return 8;
    case CUDA_R_16F:
    case CUDA_R_16BF: return 2;
    default: return 0;
    }
}

double simblas_scalar(const void *p, int type)
{
    uint16_t h;
    switch (type) {
    case CUDA_R_64F: return *(const double *)p;
    case CUDA_R_16F: memcpy(&h, p, 2); return simfp_half_to_f32(h);
    case CUDA_R_16BF: memcpy(&h, p, 2); return simfp_bf16_to_f32(h);
    default: return *(const float *)p;
    }
}

static int family_of(const simblas_gemm_t *g)
{
    if (g->atype == CUDA_R_64F)
        return 6;
    if (g->atype == CUDA_R_16F)
        return g->dtype == CUDA_R_16F ? 2 : 3;
    if (g->atype == CUDA_R_16BF)
        return g->dtype == CUDA_R_16BF ? 4 : 5;
    return g->tf32 ? 1 : 0;
}

static int epi_index(int e)
{
    int bias = (e & SIMBLAS_EPI_BIAS) != 0;
    if (e & SIMBLAS_EPI_GELU)
        return bias ? 5 : 4;
    if (e & SIMBLAS_EPI_RELU)
        return bias ? 3 : 1;
    return bias ? 2 : 0;
}

static int tile_of(const simblas_gemm_t *g)
{
    if (g->m >= 128 && g->n >= 128)
        return 2;
    return g->m >= 128 || g->n >= 128 ? 1 : 0;
}

static int arch_index(void)
{
    const simdev_device_info_t *d = simdev_device_info();
    if (d && d->cc_major == 7)
        return 0;
    if (d && d->cc_major >= 9)
        return 2;
    return 1;
}

static void kernel_name(const simblas_gemm_t *g, char *buf, size_t len)
{
    snprintf(buf, len, "%s_%s_%s_%c%c%s", g_arch[arch_index()], g_fam[family_of(g)],
             g_tile[tile_of(g)], g->transa ? 't' : 'n', g->transb ? 't' : 'n',
             g_epi[epi_index(g->epilogue)]);
}

/* ------------------------------------------------------------------------------------------ */
/* Provider */

static int get_args(const simdev_launch_t *l, simblas_gemm_t *g)
{
    if (!l || l->nparams < 1 || !l->params || !l->params[0])
        return 1;
    memcpy(g, l->params[0], sizeof *g);
    return g->magic != SIMBLAS_MAGIC;
}

static int range_cmp(const void *a, const void *b)
{
    const simdev_range_t *x = a, *y = b;
    if (x->write != y->write)
        return x->write - y->write;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Merge overlapping ranges of one kind; drop reads inside writes; over the limit, merge the
 * closest neighbours of one kind (larger ranges only make the race checker stricter). */
static void ranges_finish(simdev_range_t *r, uint32_t n, simdev_launch_desc_t *d)
{
    qsort(r, n, sizeof *r, range_cmp);
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (m && r[m - 1].write == r[i].write && r[i].addr <= r[m - 1].addr + r[m - 1].size) {
            uint64_t end = r[i].addr + r[i].size;
            if (end > r[m - 1].addr + r[m - 1].size)
                r[m - 1].size = end - r[m - 1].addr;
        } else {
            r[m++] = r[i];
        }
    }
    n = m;
    m = 0;
    for (uint32_t i = 0; i < n; i++) {
        int covered = 0;
        for (uint32_t j = 0; j < n && !r[i].write; j++)
            covered |= r[j].write && r[j].addr <= r[i].addr &&
                       r[i].addr + r[i].size <= r[j].addr + r[j].size;
        if (!covered)
            r[m++] = r[i];
    }
    n = m;
    while (n > SIMDEV_MAX_RANGES) {
        uint32_t best = UINT32_MAX;
        uint64_t gap = UINT64_MAX;
        for (uint32_t i = 0; i + 1 < n; i++) {
            if (r[i].write != r[i + 1].write)
                continue;
            uint64_t gp = r[i + 1].addr - (r[i].addr + r[i].size);
            if (gp < gap) {
                gap = gp;
                best = i;
            }
        }
        if (best == UINT32_MAX)
            break;
        uint64_t end = r[best + 1].addr + r[best + 1].size;
        if (end > r[best].addr + r[best].size)
            r[best].size = end - r[best].addr;
        memmove(&r[best + 1], &r[best + 2], (n - best - 2) * sizeof *r);
        n--;
    }
    d->nranges = n;
    memcpy(d->ranges, r, n * sizeof *r);
}

/* Bytes of a column-major rows x cols matrix with leading dimension ld. */
static uint64_t mat_bytes(int64_t rows, int64_t cols, int64_t ld, size_t es)
{
    if (rows <= 0 || cols <= 0)
        return 0;
    return ((uint64_t)(cols - 1) * (uint64_t)ld + (uint64_t)rows) * es;
}

static int gemm_describe(const simdev_launch_t *l, simdev_launch_desc_t *d)
{
    simblas_gemm_t g;
    if (get_args(l, &g))
        return 1;
    memset(d, 0, sizeof *d);
    size_t ea = type_size(g.atype), eb = type_size(g.btype);
    size_t ec = type_size(g.ctype), ed = type_size(g.dtype);
    int64_t ar = g.transa ? g.k : g.m, ac = g.transa ? g.m : g.k;
    int64_t br = g.transb ? g.n : g.k, bc = g.transb ? g.k : g.n;
    uint64_t abytes = mat_bytes(ar, ac, g.lda, ea), bbytes = mat_bytes(br, bc, g.ldb, eb);
    uint64_t cbytes = mat_bytes(g.m, g.n, g.ldc, ec), dbytes = mat_bytes(g.m, g.n, g.ldd, ed);
    int reads_c = g.alpha_on_device || g.beta != 0.0;
    uint32_t cap = 5 * (uint32_t)(g.batch > 0 ? g.batch : 1), cnt = 0;
    simdev_range_t stack[80];
    simdev_range_t *r = cap <= 80 ? stack : malloc(cap * sizeof *r);
    if (!r)
        return 1;
    for (int32_t b = 0; b < g.batch; b++) {
        uint64_t ob = (uint64_t)b;
        if (abytes && g.k > 0)
            r[cnt++] = (simdev_range_t){ g.a + ob * (uint64_t)g.stride_a * ea, abytes, 0 };
        if (bbytes && g.k > 0)
            r[cnt++] = (simdev_range_t){ g.b + ob * (uint64_t)g.stride_b * eb, bbytes, 0 };
        if (cbytes && reads_c)
            r[cnt++] = (simdev_range_t){ g.c + ob * (uint64_t)g.stride_c * ec, cbytes, 0 };
        if (dbytes)
            r[cnt++] = (simdev_range_t){ g.d + ob * (uint64_t)g.stride_d * ed, dbytes, 1 };
        if ((g.epilogue & SIMBLAS_EPI_BIAS) && g.bias)
            r[cnt++] = (simdev_range_t){ g.bias + ob * (uint64_t)g.stride_bias * type_size(g.bias_type),
                                         (uint64_t)g.m * type_size(g.bias_type), 0 };
    }
    ranges_finish(r, cnt, d);
    if (r != stack)
        free(r);
    double batch = (double)g.batch;
    d->flops = 2.0 * (double)g.m * (double)g.n * (double)g.k * batch;
    /* Operands once each through DRAM (tiles are reused from cache). */
    d->bytes = batch * ((double)g.m * (double)g.k * (double)ea + (double)g.k * (double)g.n * (double)eb +
                        (double)g.m * (double)g.n * ((reads_c ? (double)ec : 0.0) + (double)ed));
    d->tensor_core = g.atype == CUDA_R_16F || g.atype == CUDA_R_16BF || (g.atype == CUDA_R_32F && g.tf32);
    d->is_comm = 0;
    return 0;
}

/* Pack op(X) into dst[r * K + p], element (r, p) of the operand as the GEMM sees it. X is stored
 * column-major; 'across' says element (r, p) sits at X[p + r * ld] (else X[r + p * ld]). */
#define DEFINE_PACK(T, NAME)                                                                    \
    static void NAME(T *dst, const void *src, int type, int64_t R, int64_t K, int64_t ld,      \
                     int across)                                                                \
    {                                                                                           \
        for (int64_t r = 0; r < R; r++) {                                                       \
            T *o = dst + r * K;                                                                 \
            for (int64_t p = 0; p < K; p++) {                                                   \
                int64_t idx = across ? p + r * ld : r + p * ld;                                 \
                switch (type) {                                                                 \
                case CUDA_R_64F: o[p] = (T)((const double *)src)[idx]; break;                   \
                case CUDA_R_16F: o[p] = (T)simfp_half_to_f32(((const uint16_t *)src)[idx]); break; \
                case CUDA_R_16BF: o[p] = (T)simfp_bf16_to_f32(((const uint16_t *)src)[idx]); break; \
                default: o[p] = (T)((const float *)src)[idx]; break;                            \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
    }

DEFINE_PACK(float, pack_f32)
DEFINE_PACK(double, pack_f64)

static float dot_f32(const float *a, const float *b, int64_t k)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t p = 0;
    for (; p + 4 <= k; p += 4) {
        s0 += a[p] * b[p];
        s1 += a[p + 1] * b[p + 1];
        s2 += a[p + 2] * b[p + 2];
        s3 += a[p + 3] * b[p + 3];
    }
    for (; p < k; p++)
        s0 += a[p] * b[p];
    return (s0 + s1) + (s2 + s3);
}

static double dot_f64(const double *a, const double *b, int64_t k)
{
    double s0 = 0, s1 = 0;
    int64_t p = 0;
    for (; p + 2 <= k; p += 2) {
        s0 += a[p] * b[p];
        s1 += a[p + 1] * b[p + 1];
    }
    for (; p < k; p++)
        s0 += a[p] * b[p];
    return s0 + s1;
}

static double load_elem(const void *base, int64_t idx, int type)
{
    switch (type) {
    case CUDA_R_64F: return ((const double *)base)[idx];
    case CUDA_R_16F: return simfp_half_to_f32(((const uint16_t *)base)[idx]);
    case CUDA_R_16BF: return simfp_bf16_to_f32(((const uint16_t *)base)[idx]);
    default: return ((const float *)base)[idx];
    }
}

static void store_elem(void *base, int64_t idx, int type, double v)
{
    switch (type) {
    case CUDA_R_64F: ((double *)base)[idx] = v; break;
    case CUDA_R_16F: ((uint16_t *)base)[idx] = simfp_f32_to_half((float)v); break;
    case CUDA_R_16BF: ((uint16_t *)base)[idx] = simfp_f32_to_bf16((float)v); break;
    default: ((float *)base)[idx] = (float)v; break;
    }
}

static double epilogue(double v, int e)
{
    if (e & SIMBLAS_EPI_RELU)
        return v > 0 ? v : 0;
    if (e & SIMBLAS_EPI_GELU) /* tanh approximation, as cuBLASLt's GELU epilogue */
        return 0.5 * v * (1.0 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
    return v;
}

#define BLK 32

static void gemm_run(const simdev_launch_t *l)
{
    simblas_gemm_t g;
    if (get_args(l, &g) || g.m <= 0 || g.n <= 0)
        return;
    double alpha = g.alpha, beta = g.beta;
    if (g.alpha_on_device) {
        alpha = simblas_scalar((const void *)(uintptr_t)g.alpha_ptr, g.scale_type);
        beta = simblas_scalar((const void *)(uintptr_t)g.beta_ptr, g.scale_type);
    }
    int wide = g.atype == CUDA_R_64F || g.compute == CUBLAS_COMPUTE_64F ||
               g.compute == CUBLAS_COMPUTE_64F_PEDANTIC;
    size_t es = wide ? sizeof(double) : sizeof(float);
    int64_t K = g.k > 0 ? g.k : 0;
    void *ap = malloc((size_t)(g.m * K) * es + es);
    void *bp = malloc((size_t)(g.n * K) * es + es);
    if (!ap || !bp) {
        fprintf(stderr, "simblas: out of host memory for a %lldx%lldx%lld GEMM\n",
                (long long)g.m, (long long)g.n, (long long)g.k);
        free(ap);
        free(bp);
        return;
    }
    size_t ea = type_size(g.atype), eb = type_size(g.btype), ec = type_size(g.ctype);
    size_t ed = type_size(g.dtype), ebias = type_size(g.bias_type);
    for (int32_t b = 0; b < g.batch; b++) {
        const char *A = (const char *)(uintptr_t)g.a + (size_t)b * (size_t)g.stride_a * ea;
        const char *B = (const char *)(uintptr_t)g.b + (size_t)b * (size_t)g.stride_b * eb;
        const char *C = (const char *)(uintptr_t)g.c + (size_t)b * (size_t)g.stride_c * ec;
        char *D = (char *)(uintptr_t)g.d + (size_t)b * (size_t)g.stride_d * ed;
        const char *bias = g.bias ? (const char *)(uintptr_t)g.bias +
                                        (size_t)b * (size_t)g.stride_bias * ebias : NULL;
        if (K > 0) {
            if (wide) {
                pack_f64(ap, A, g.atype, g.m, K, g.lda, g.transa != 0);
                pack_f64(bp, B, g.btype, g.n, K, g.ldb, g.transb == 0);
            } else {
                pack_f32(ap, A, g.atype, g.m, K, g.lda, g.transa != 0);
                pack_f32(bp, B, g.btype, g.n, K, g.ldb, g.transb == 0);
            }
        }
        for (int64_t j0 = 0; j0 < g.n; j0 += BLK) {
            for (int64_t i0 = 0; i0 < g.m; i0 += BLK) {
                int64_t j1 = j0 + BLK < g.n ? j0 + BLK : g.n, i1 = i0 + BLK < g.m ? i0 + BLK : g.m;
                for (int64_t j = j0; j < j1; j++) {
                    for (int64_t i = i0; i < i1; i++) {
                        double acc = 0;
                        if (K > 0)
                            acc = wide ? dot_f64((const double *)ap + i * K, (const double *)bp + j * K, K)
                                       : (double)dot_f32((const float *)ap + i * K,
                                                         (const float *)bp + j * K, K);
                        double v = alpha * acc;
                        /* beta == 0: C is not read (it may hold NaN), as cuBLAS specifies */
                        if (beta != 0.0)
                            v += beta * load_elem(C, i + j * g.ldc, g.ctype);
                        if ((g.epilogue & SIMBLAS_EPI_BIAS) && bias)
                            v += load_elem(bias, i, g.bias_type);
                        store_elem(D, i + j * g.ldd, g.dtype, epilogue(v, g.epilogue));
                    }
                }
            }
        }
    }
    free(ap);
    free(bp);
}

#define NPROVIDERS (NARCH * NFAM * NTILE * 4 * NEPI)
static simdev_kernel_t g_providers[NPROVIDERS];
static char g_names[NPROVIDERS][64];

__attribute__((constructor)) static void simblas_register(void)
{
    size_t i = 0;
    for (int a = 0; a < NARCH; a++)
        for (int f = 0; f < NFAM; f++)
            for (int t = 0; t < NTILE; t++)
                for (int tt = 0; tt < 4; tt++)
                    for (int e = 0; e < NEPI; e++) {
                        snprintf(g_names[i], sizeof g_names[i], "%s_%s_%s_%c%c%s", g_arch[a],
                                 g_fam[f], g_tile[t], tt & 2 ? 't' : 'n', tt & 1 ? 't' : 'n',
                                 g_epi[e]);
                        simdev_kernel_t *k = &g_providers[i];
                        k->name = g_names[i];
                        k->nparams = 1;
                        k->param_size[0] = sizeof(simblas_gemm_t);
                        k->describe = gemm_describe;
                        k->run = gemm_run;
                        k->comm_start = NULL;
                        i++;
                    }
    simdev_register_kernels(g_providers, i);
}

/* ------------------------------------------------------------------------------------------ */
/* Launch */

static simdev_kcache_t g_kernels =
    SIMDEV_KCACHE_INIT("simdev-cublas-module: kernels are provided by libcublasLt.so.13");

static int get_function(const char *name, CUfunction *fn_p)
{
    CUcontext ctx = NULL;
    if (cuCtxGetCurrent(&ctx) != CUDA_SUCCESS || !ctx) {
        fprintf(stderr, "simblas: no current CUDA context for %s\n", name);
        return CUBLAS_STATUS_NOT_INITIALIZED;
    }
    CUresult r = simdev_kcache_get(&g_kernels, ctx, name, fn_p);
    if (r != CUDA_SUCCESS) {
        fprintf(stderr, "simblas: cannot load kernel %s from the simulated driver (%d)\n", name, (int)r);
        return CUBLAS_STATUS_EXECUTION_FAILED;
    }
    return CUBLAS_STATUS_SUCCESS;
}

static int supported_combo(const simblas_gemm_t *g)
{
    if (!type_size(g->atype) || g->atype != g->btype || !type_size(g->ctype) || !type_size(g->dtype))
        return 0;
    if (g->ctype != g->dtype)
        return 0;
    if ((g->epilogue & SIMBLAS_EPI_BIAS) && !type_size(g->bias_type))
        return 0;
    return 1;
}

int simblas_gemm_launch(const simblas_gemm_t *g, void *stream)
{
    if (g->m < 0 || g->n < 0 || g->k < 0 || g->batch < 0 || g->transa < 0 || g->transa > 2 ||
        g->transb < 0 || g->transb > 2)
        return CUBLAS_STATUS_INVALID_VALUE;
    int64_t ar = g->transa ? g->k : g->m, br = g->transb ? g->n : g->k;
    if (g->lda < (ar > 1 ? ar : 1) || g->ldb < (br > 1 ? br : 1) || g->ldc < (g->m > 1 ? g->m : 1) ||
        g->ldd < (g->m > 1 ? g->m : 1))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (!supported_combo(g)) {
        fprintf(stderr, "simblas: GEMM with A type %d, B type %d, C type %d, D type %d, compute %d is "
                "not supported by the simulated cuBLAS\n", g->atype, g->btype, g->ctype, g->dtype,
                g->compute);
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    if (g->m == 0 || g->n == 0 || g->batch == 0)
        return CUBLAS_STATUS_SUCCESS; /* nothing to do: cuBLAS launches nothing either */
    char name[64];
    kernel_name(g, name, sizeof name);
    CUfunction fn = NULL;
    int st = get_function(name, &fn);
    if (st != CUBLAS_STATUS_SUCCESS)
        return st;
    int t = tile_of(g);
    int64_t gx = (g->m + g_tile_m[t] - 1) / g_tile_m[t], gy = (g->n + g_tile_n[t] - 1) / g_tile_n[t];
    unsigned gridx = (unsigned)(gx < 0x7fffffff ? gx : 0x7fffffff);
    unsigned gridy = (unsigned)(gy < 65535 ? gy : 65535);
    unsigned gridz = (unsigned)(g->batch < 65535 ? g->batch : 65535);
    simblas_gemm_t copy = *g;
    void *params[1] = { &copy };
    CUresult r = cuLaunchKernel(fn, gridx, gridy, gridz, 256, 1, 1, 0, (CUstream)stream, params, NULL);
    if (r != CUDA_SUCCESS) {
        const char *s = NULL;
        cuGetErrorName(r, &s);
        fprintf(stderr, "simblas: launch of %s failed: %s\n", name, s ? s : "?");
        return CUBLAS_STATUS_EXECUTION_FAILED;
    }
    return CUBLAS_STATUS_SUCCESS;
}
