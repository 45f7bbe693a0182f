/* Replacement libcublasLt.so.13: handles, descriptors and cublasLtMatmul on the simulated device.
 *
 * Descriptors live inside the semi-opaque structs of cublasLt.h (so cublasLt*Init_internal on
 * caller memory works too); attributes are read and written through one table per descriptor
 * kind that gives each attribute's offset and exact size, and a size mismatch is
 * CUBLAS_STATUS_INVALID_VALUE as in cuBLASLt. Supported: column-major layouts, strided batches,
 * host or device pointer mode for alpha/beta, epilogues default, relu, bias, relu+bias, gelu,
 * gelu+bias. Anything else is refused with CUBLAS_STATUS_NOT_SUPPORTED and a message. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cublasLt.h>
#include <cuda.h>

#include "simblas.h"

#define API __attribute__((visibility("default")))

#define LAYOUT_MAGIC 0x4c41594fu
#define DESC_MAGIC 0x44455343u
#define PREF_MAGIC 0x50524546u
#define HANDLE_MAGIC 0x4c54484eu
#define ALGO_MAGIC 0x414c474full

typedef struct {
    uint32_t magic;
    uint32_t type;
    int32_t order;
    int32_t batch;
    uint64_t rows, cols;
    int64_t ld;
    int64_t stride;
    int64_t plane_offset;
    uint32_t batch_mode;
} layout_t;
_Static_assert(sizeof(layout_t) <= sizeof(cublasLtMatrixLayoutOpaque_t), "layout fits");

typedef struct {
    uint32_t magic;
    int32_t compute;
    int32_t scale_type;
    int32_t pointer_mode;
    int32_t transa, transb, transc;
    int32_t fill;
    uint32_t epilogue;
    int32_t bias_type;      /* -1: unset (then D's type) */
    int32_t aux_type;
    int32_t sm_count;
    int8_t fast_accum;
    int8_t pad[7];
    uint64_t bias;
    int64_t bias_stride;
    uint64_t aux;
    int64_t aux_ld;
    int64_t aux_stride;
    int64_t alpha_vec_stride;
} desc_t;
_Static_assert(sizeof(desc_t) <= sizeof(cublasLtMatmulDescOpaque_t), "desc fits");

typedef struct {
    uint32_t magic;
    uint32_t search_mode;
    uint32_t reduction_mask;
    uint32_t align_a, align_b, align_c, align_d;
    float max_waves;
    uint64_t max_workspace;
    uint64_t impl_mask;
} pref_t;
_Static_assert(sizeof(pref_t) <= sizeof(cublasLtMatmulPreferenceOpaque_t), "pref fits");

struct cublasLtContext {
    uint32_t magic;
};

typedef struct {
    int attr;
    size_t off, size;
} attr_t;

static const attr_t g_layout_attrs[] = {
    { CUBLASLT_MATRIX_LAYOUT_TYPE, offsetof(layout_t, type), 4 },
    { CUBLASLT_MATRIX_LAYOUT_ORDER, offsetof(layout_t, order), 4 },
    { CUBLASLT_MATRIX_LAYOUT_ROWS, offsetof(layout_t, rows), 8 },
    { CUBLASLT_MATRIX_LAYOUT_COLS, offsetof(layout_t, cols), 8 },
    { CUBLASLT_MATRIX_LAYOUT_LD, offsetof(layout_t, ld), 8 },
    { CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, offsetof(layout_t, batch), 4 },
    { CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, offsetof(layout_t, stride), 8 },
    { CUBLASLT_MATRIX_LAYOUT_PLANE_OFFSET, offsetof(layout_t, plane_offset), 8 },
    { CUBLASLT_MATRIX_LAYOUT_BATCH_MODE, offsetof(layout_t, batch_mode), 4 },
};

static const attr_t g_desc_attrs[] = {
    { CUBLASLT_MATMUL_DESC_COMPUTE_TYPE, offsetof(desc_t, compute), 4 },
    { CUBLASLT_MATMUL_DESC_SCALE_TYPE, offsetof(desc_t, scale_type), 4 },
    { CUBLASLT_MATMUL_DESC_POINTER_MODE, offsetof(desc_t, pointer_mode), 4 },
    { CUBLASLT_MATMUL_DESC_TRANSA, offsetof(desc_t, transa), 4 },
    { CUBLASLT_MATMUL_DESC_TRANSB, offsetof(desc_t, transb), 4 },
    { CUBLASLT_MATMUL_DESC_TRANSC, offsetof(desc_t, transc), 4 },
    { CUBLASLT_MATMUL_DESC_FILL_MODE, offsetof(desc_t, fill), 4 },
    { CUBLASLT_MATMUL_DESC_EPILOGUE, offsetof(desc_t, epilogue), 4 },
    { CUBLASLT_MATMUL_DESC_BIAS_POINTER, offsetof(desc_t, bias), 8 },
    { CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE, offsetof(desc_t, bias_stride), 8 },
    { CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, offsetof(desc_t, aux), 8 },
    { CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, offsetof(desc_t, aux_ld), 8 },
    { CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_BATCH_STRIDE, offsetof(desc_t, aux_stride), 8 },
    { CUBLASLT_MATMUL_DESC_ALPHA_VECTOR_BATCH_STRIDE, offsetof(desc_t, alpha_vec_stride), 8 },
    { CUBLASLT_MATMUL_DESC_SM_COUNT_TARGET, offsetof(desc_t, sm_count), 4 },
    { CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_DATA_TYPE, offsetof(desc_t, aux_type), 4 },
    { CUBLASLT_MATMUL_DESC_FAST_ACCUM, offsetof(desc_t, fast_accum), 1 },
    { CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, offsetof(desc_t, bias_type), 4 },
};

static const attr_t g_pref_attrs[] = {
    { CUBLASLT_MATMUL_PREF_SEARCH_MODE, offsetof(pref_t, search_mode), 4 },
    { CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, offsetof(pref_t, max_workspace), 8 },
    { CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, offsetof(pref_t, reduction_mask), 4 },
    { CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, offsetof(pref_t, align_a), 4 },
    { CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, offsetof(pref_t, align_b), 4 },
    { CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, offsetof(pref_t, align_c), 4 },
    { CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, offsetof(pref_t, align_d), 4 },
    { CUBLASLT_MATMUL_PREF_MAX_WAVES_COUNT, offsetof(pref_t, max_waves), 4 },
    { CUBLASLT_MATMUL_PREF_IMPL_MASK, offsetof(pref_t, impl_mask), 8 },
};

#define NATTR(t) (sizeof(t) / sizeof((t)[0]))

static const attr_t *find_attr(const attr_t *tab, size_t n, int attr)
{
    for (size_t i = 0; i < n; i++)
        if (tab[i].attr == attr)
            return &tab[i];
    return NULL;
}

static cublasStatus_t attr_set(void *obj, const attr_t *tab, size_t n, const char *what, int attr,
                               const void *buf, size_t size)
{
    const attr_t *a = find_attr(tab, n, attr);
    if (!a) {
        fprintf(stderr, "simblas: %s attribute %d is not supported by the simulated cuBLASLt\n", what, attr);
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    if (!buf || size != a->size)
        return CUBLAS_STATUS_INVALID_VALUE;
    memcpy((char *)obj + a->off, buf, size);
    return CUBLAS_STATUS_SUCCESS;
}

static cublasStatus_t attr_get(const void *obj, const attr_t *tab, size_t n, int attr, void *buf,
                               size_t size, size_t *written)
{
    const attr_t *a = find_attr(tab, n, attr);
    if (!a)
        return CUBLAS_STATUS_NOT_SUPPORTED;
    if (size == 0) {
        if (!written)
            return CUBLAS_STATUS_INVALID_VALUE;
        *written = a->size;
        return CUBLAS_STATUS_SUCCESS;
    }
    if (!buf || size != a->size)
        return CUBLAS_STATUS_INVALID_VALUE;
    memcpy(buf, (const char *)obj + a->off, size);
    if (written)
        *written = size;
    return CUBLAS_STATUS_SUCCESS;
}

/* ------------------------------------------------------------------------------------------ */

API cublasStatus_t cublasLtCreate(cublasLtHandle_t *lightHandle)
{
    if (!lightHandle)
        return CUBLAS_STATUS_INVALID_VALUE;
    struct cublasLtContext *h = calloc(1, sizeof *h);
    if (!h)
        return CUBLAS_STATUS_ALLOC_FAILED;
    h->magic = HANDLE_MAGIC;
    *lightHandle = h;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasLtDestroy(cublasLtHandle_t lightHandle)
{
    if (!lightHandle || lightHandle->magic != HANDLE_MAGIC)
        return CUBLAS_STATUS_NOT_INITIALIZED;
    lightHandle->magic = 0;
    free(lightHandle);
    return CUBLAS_STATUS_SUCCESS;
}

API size_t cublasLtGetVersion(void)
{
    return CUBLAS_VERSION;
}

API size_t cublasLtGetCudartVersion(void)
{
    return 13000;
}

API cublasStatus_t cublasLtGetProperty(libraryPropertyType type, int *value)
{
    if (!value)
        return CUBLAS_STATUS_INVALID_VALUE;
    switch (type) {
    case MAJOR_VERSION: *value = CUBLAS_VER_MAJOR; break;
    case MINOR_VERSION: *value = CUBLAS_VER_MINOR; break;
    case PATCH_LEVEL: *value = CUBLAS_VER_PATCH; break;
    default: return CUBLAS_STATUS_INVALID_VALUE;
    }
    return CUBLAS_STATUS_SUCCESS;
}

API const char *cublasLtGetStatusName(cublasStatus_t status)
{
    switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "<unrecognized cublas status>";
    }
}

API const char *cublasLtGetStatusString(cublasStatus_t status)
{
    switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "an absent device architectural feature is required";
    case CUBLAS_STATUS_MAPPING_ERROR: return "an access to GPU memory space failed";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "an internal operation failed";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
    case CUBLAS_STATUS_LICENSE_ERROR: return "error detected trying to check the license";
    default: return "unknown error";
    }
}

/* ---- layouts ------------------------------------------------------------------------------ */

API cublasStatus_t cublasLtMatrixLayoutInit_internal(cublasLtMatrixLayout_t matLayout, size_t size,
                                                     cudaDataType type, uint64_t rows, uint64_t cols,
                                                     int64_t ld)
{
    if (!matLayout || size < sizeof(layout_t))
        return CUBLAS_STATUS_ALLOC_FAILED;
    layout_t *l = (layout_t *)matLayout;
    memset(matLayout, 0, size);
    l->magic = LAYOUT_MAGIC;
    l->type = (uint32_t)type;
    l->order = CUBLASLT_ORDER_COL;
    l->batch = 1;
    l->rows = rows;
    l->cols = cols;
    l->ld = ld;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *matLayout, cudaDataType type,
                                              uint64_t rows, uint64_t cols, int64_t ld)
{
    if (!matLayout)
        return CUBLAS_STATUS_INVALID_VALUE;
    cublasLtMatrixLayout_t l = malloc(sizeof *l);
    if (!l)
        return CUBLAS_STATUS_ALLOC_FAILED;
    cublasLtMatrixLayoutInit_internal(l, sizeof *l, type, rows, cols, ld);
    *matLayout = l;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t matLayout)
{
    free(matLayout);
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t matLayout,
                                                    cublasLtMatrixLayoutAttribute_t attr,
                                                    const void *buf, size_t sizeInBytes)
{
    if (!matLayout || ((layout_t *)matLayout)->magic != LAYOUT_MAGIC)
        return CUBLAS_STATUS_NOT_INITIALIZED;
    return attr_set(matLayout, g_layout_attrs, NATTR(g_layout_attrs), "matrix layout", attr, buf,
                    sizeInBytes);
}

API cublasStatus_t cublasLtMatrixLayoutGetAttribute(cublasLtMatrixLayout_t matLayout,
                                                    cublasLtMatrixLayoutAttribute_t attr, void *buf,
                                                    size_t sizeInBytes, size_t *sizeWritten)
{
    if (!matLayout || ((layout_t *)matLayout)->magic != LAYOUT_MAGIC)
        return CUBLAS_STATUS_NOT_INITIALIZED;
    return attr_get(matLayout, g_layout_attrs, NATTR(g_layout_attrs), attr, buf, sizeInBytes,
                    sizeWritten);
}

/* ---- matmul descriptors ------------------------------------------------------------------- */

API cublasStatus_t cublasLtMatmulDescInit_internal(cublasLtMatmulDesc_t matmulDesc, size_t size,
                                                   cublasComputeType_t computeType,
                                                   cudaDataType_t scaleType)
{
    if (!matmulDesc || size < sizeof(desc_t))
        return CUBLAS_STATUS_ALLOC_FAILED;
    memset(matmulDesc, 0, size);
    desc_t *d = (desc_t *)matmulDesc;
    d->magic = DESC_MAGIC;
    d->compute = computeType;
    d->scale_type = scaleType;
    d->pointer_mode = CUBLASLT_POINTER_MODE_HOST;
    d->transa = d->transb = d->transc = CUBLAS_OP_N;
    d->fill = CUBLAS_FILL_MODE_FULL;
    d->epilogue = CUBLASLT_EPILOGUE_DEFAULT;
    d->bias_type = -1;
    d->aux_type = -1;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *matmulDesc,
                                            cublasComputeType_t computeType, cudaDataType_t scaleType)
{
    if (!matmulDesc)
        return CUBLAS_STATUS_INVALID_VALUE;
    cublasLtMatmulDesc_t d = malloc(sizeof *d);
    if (!d)
        return CUBLAS_STATUS_ALLOC_FAILED;
    cublasLtMatmulDescInit_internal(d, sizeof *d, computeType, scaleType);
    *matmulDesc = d;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t matmulDesc)
{
    free(matmulDesc);
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t matmulDesc,
                                                  cublasLtMatmulDescAttributes_t attr,
                                                  const void *buf, size_t sizeInBytes)
{
    if (!matmulDesc || ((desc_t *)matmulDesc)->magic != DESC_MAGIC)
        return CUBLAS_STATUS_NOT_INITIALIZED;
    return attr_set(matmulDesc, g_desc_attrs, NATTR(g_desc_attrs), "matmul descriptor", attr, buf,
                    sizeInBytes);
}

API cublasStatus_t cublasLtMatmulDescGetAttribute(cublasLtMatmulDesc_t matmulDesc,
                                                  cublasLtMatmulDescAttributes_t attr, void *buf,
                                                  size_t sizeInBytes, size_t *sizeWritten)
{
    if (!matmulDesc || ((desc_t *)matmulDesc)->magic != DESC_MAGIC)
        return CUBLAS_STATUS_NOT_INITIALIZED;
    return attr_get(matmulDesc, g_desc_attrs, NATTR(g_desc_attrs), attr, buf, sizeInBytes,
                    sizeWritten);
}

/* ---- preferences -------------------------------------------------------------------------- */

API cublasStatus_t cublasLtMatmulPreferenceInit_internal(cublasLtMatmulPreference_t pref, size_t size)
{
    if (!pref || size < sizeof(pref_t))
        return CUBLAS_STATUS_ALLOC_FAILED;
    memset(pref, 0, size);
    pref_t *p = (pref_t *)pref;
    p->magic = PREF_MAGIC;
    p->reduction_mask = CUBLASLT_REDUCTION_SCHEME_MASK;
    p->align_a = p->align_b = p->align_c = p->align_d = 256;
    p->impl_mask = ~0ull;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *pref)
{
    if (!pref)
        return CUBLAS_STATUS_INVALID_VALUE;
    cublasLtMatmulPreference_t p = malloc(sizeof *p);
    if (!p)
        return CUBLAS_STATUS_ALLOC_FAILED;
    cublasLtMatmulPreferenceInit_internal(p, sizeof *p);
    *pref = p;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref)
{
    free(pref);
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref,
                                                        cublasLtMatmulPreferenceAttributes_t attr,
                                                        const void *buf, size_t sizeInBytes)
{
    if (!pref || ((pref_t *)pref)->magic != PREF_MAGIC)
        return CUBLAS_STATUS_NOT_INITIALIZED;
    return attr_set(pref, g_pref_attrs, NATTR(g_pref_attrs), "matmul preference", attr, buf,
                    sizeInBytes);
}

API cublasStatus_t cublasLtMatmulPreferenceGetAttribute(cublasLtMatmulPreference_t pref,
                                                        cublasLtMatmulPreferenceAttributes_t attr,
                                                        void *buf, size_t sizeInBytes,
                                                        size_t *sizeWritten)
{
    if (!pref || ((pref_t *)pref)->magic != PREF_MAGIC)
        return CUBLAS_STATUS_NOT_INITIALIZED;
    return attr_get(pref, g_pref_attrs, NATTR(g_pref_attrs), attr, buf, sizeInBytes, sizeWritten);
}

/* ---- matmul ------------------------------------------------------------------------------- */

static int epilogue_bits(uint32_t e, int *bits_p)
{
    switch (e) {
    case CUBLASLT_EPILOGUE_DEFAULT: *bits_p = SIMBLAS_EPI_NONE; return 0;
    case CUBLASLT_EPILOGUE_RELU: *bits_p = SIMBLAS_EPI_RELU; return 0;
    case CUBLASLT_EPILOGUE_BIAS: *bits_p = SIMBLAS_EPI_BIAS; return 0;
    case CUBLASLT_EPILOGUE_RELU_BIAS: *bits_p = SIMBLAS_EPI_RELU | SIMBLAS_EPI_BIAS; return 0;
    case CUBLASLT_EPILOGUE_GELU: *bits_p = SIMBLAS_EPI_GELU; return 0;
    case CUBLASLT_EPILOGUE_GELU_BIAS: *bits_p = SIMBLAS_EPI_GELU | SIMBLAS_EPI_BIAS; return 0;
    default: return 1;
    }
}

/* Fill g from descriptors; CUBLAS_STATUS_* on inconsistency. Pointers are not needed here. */
static cublasStatus_t build_gemm(const desc_t *d, const layout_t *a, const layout_t *b,
                                 const layout_t *c, const layout_t *dd, simblas_gemm_t *g)
{
    if (!d || d->magic != DESC_MAGIC || !a || !b || !dd || a->magic != LAYOUT_MAGIC ||
        b->magic != LAYOUT_MAGIC || dd->magic != LAYOUT_MAGIC || (c && c->magic != LAYOUT_MAGIC))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!c)
        c = dd;
    if (a->order != CUBLASLT_ORDER_COL || b->order != CUBLASLT_ORDER_COL ||
        c->order != CUBLASLT_ORDER_COL || dd->order != CUBLASLT_ORDER_COL || a->plane_offset ||
        b->plane_offset || c->plane_offset || dd->plane_offset || d->transc != CUBLAS_OP_N) {
        fprintf(stderr, "simblas: cublasLtMatmul supports column-major, non-planar layouts only\n");
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    if (d->pointer_mode != CUBLASLT_POINTER_MODE_HOST && d->pointer_mode != CUBLASLT_POINTER_MODE_DEVICE) {
        fprintf(stderr, "simblas: cublasLtMatmul pointer mode %d is not supported\n", d->pointer_mode);
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    int epi = 0;
    if (epilogue_bits(d->epilogue, &epi)) {
        fprintf(stderr, "simblas: cublasLtMatmul epilogue %u is not supported\n", d->epilogue);
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    memset(g, 0, sizeof *g);
    g->magic = SIMBLAS_MAGIC;
    g->transa = d->transa;
    g->transb = d->transb;
    g->m = (int64_t)(d->transa ? a->cols : a->rows);
    g->k = (int64_t)(d->transa ? a->rows : a->cols);
    int64_t kb = (int64_t)(d->transb ? b->cols : b->rows);
    g->n = (int64_t)(d->transb ? b->rows : b->cols);
    if (kb != g->k || (int64_t)dd->rows != g->m || (int64_t)dd->cols != g->n ||
        c->rows != dd->rows || c->cols != dd->cols)
        return CUBLAS_STATUS_INVALID_VALUE;
    g->atype = (int32_t)a->type;
    g->btype = (int32_t)b->type;
    g->ctype = (int32_t)c->type;
    g->dtype = (int32_t)dd->type;
    g->compute = d->compute;
    g->scale_type = d->scale_type;
    g->tf32 = d->compute == CUBLAS_COMPUTE_32F_FAST_TF32 || d->compute == CUBLAS_COMPUTE_32F_FAST_16F ||
              d->compute == CUBLAS_COMPUTE_32F_FAST_16BF;
    g->epilogue = epi;
    g->bias_type = d->bias_type >= 0 ? d->bias_type : (int32_t)dd->type;
    g->batch = dd->batch;
    if ((a->batch != g->batch && a->batch != 1) || (b->batch != g->batch && b->batch != 1) ||
        (c->batch != g->batch && c->batch != 1) || g->batch < 0)
        return CUBLAS_STATUS_INVALID_VALUE;
    g->lda = a->ld;
    g->ldb = b->ld;
    g->ldc = c->ld;
    g->ldd = dd->ld;
    /* A layout with batch count 1 is the same matrix for every batch entry. */
    g->stride_a = a->batch > 1 ? a->stride : 0;
    g->stride_b = b->batch > 1 ? b->stride : 0;
    g->stride_c = c->batch > 1 ? c->stride : 0;
    g->stride_d = dd->stride;
    g->stride_bias = d->bias_stride;
    g->bias = d->bias;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t lightHandle,
                                                  cublasLtMatmulDesc_t operationDesc,
                                                  cublasLtMatrixLayout_t Adesc,
                                                  cublasLtMatrixLayout_t Bdesc,
                                                  cublasLtMatrixLayout_t Cdesc,
                                                  cublasLtMatrixLayout_t Ddesc,
                                                  cublasLtMatmulPreference_t preference,
                                                  int requestedAlgoCount,
                                                  cublasLtMatmulHeuristicResult_t heuristicResultsArray[],
                                                  int *returnAlgoCount)
{
    if (!lightHandle || lightHandle->magic != HANDLE_MAGIC)
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (requestedAlgoCount <= 0 || !heuristicResultsArray || !returnAlgoCount)
        return CUBLAS_STATUS_INVALID_VALUE;
    if (preference && ((pref_t *)preference)->magic != PREF_MAGIC)
        return CUBLAS_STATUS_NOT_INITIALIZED;
    simblas_gemm_t g;
    cublasStatus_t st = build_gemm((const desc_t *)operationDesc, (const layout_t *)Adesc,
                                   (const layout_t *)Bdesc, (const layout_t *)Cdesc,
                                   (const layout_t *)Ddesc, &g);
    if (st != CUBLAS_STATUS_SUCCESS)
        return st;
    /* One algorithm, needing no workspace. */
    memset(&heuristicResultsArray[0], 0, sizeof heuristicResultsArray[0]);
    heuristicResultsArray[0].algo.data[0] = ALGO_MAGIC;
    heuristicResultsArray[0].workspaceSize = 0;
    heuristicResultsArray[0].state = CUBLAS_STATUS_SUCCESS;
    heuristicResultsArray[0].wavesCount = 1.0f;
    *returnAlgoCount = 1;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasLtMatmul(cublasLtHandle_t lightHandle, cublasLtMatmulDesc_t computeDesc,
                                  const void *alpha, const void *A, cublasLtMatrixLayout_t Adesc,
                                  const void *B, cublasLtMatrixLayout_t Bdesc, const void *beta,
                                  const void *C, cublasLtMatrixLayout_t Cdesc, void *D,
                                  cublasLtMatrixLayout_t Ddesc, const cublasLtMatmulAlgo_t *algo,
                                  void *workspace, size_t workspaceSizeInBytes, cudaStream_t stream)
{
    (void)algo;
    (void)workspace;
    (void)workspaceSizeInBytes;
    if (!lightHandle || lightHandle->magic != HANDLE_MAGIC)
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!alpha || !beta)
        return CUBLAS_STATUS_INVALID_VALUE;
    simblas_gemm_t g;
    const desc_t *d = (const desc_t *)computeDesc;
    cublasStatus_t st = build_gemm(d, (const layout_t *)Adesc, (const layout_t *)Bdesc,
                                   (const layout_t *)Cdesc, (const layout_t *)Ddesc, &g);
    if (st != CUBLAS_STATUS_SUCCESS)
        return st;
    if ((g.epilogue & SIMBLAS_EPI_BIAS) && !g.bias) {
        fprintf(stderr, "simblas: cublasLtMatmul with a bias epilogue and no bias pointer\n");
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    g.a = (uint64_t)(uintptr_t)A;
    g.b = (uint64_t)(uintptr_t)B;
    g.c = (uint64_t)(uintptr_t)(C ? C : D);
    g.d = (uint64_t)(uintptr_t)D;
    if (d->pointer_mode == CUBLASLT_POINTER_MODE_DEVICE) {
        g.alpha_on_device = 1;
        g.alpha_ptr = (uint64_t)(uintptr_t)alpha;
        g.beta_ptr = (uint64_t)(uintptr_t)beta;
    } else {
        g.alpha = simblas_scalar(alpha, g.scale_type);
        g.beta = simblas_scalar(beta, g.scale_type);
    }
    return (cublasStatus_t)simblas_gemm_launch(&g, stream);
}
