/* Memory of the simulated device.
 *
 * Compute mode: device memory is host memory (256-byte aligned), so kernels' CPU implementations
 * and copies work on it directly. Timing mode: device allocations have addresses but no backing;
 * they come from a first-fit allocator over a reserved, inaccessible address range (so they can
 * never alias host memory) and nothing reads or writes them. Page-locked host memory is always
 * real.
 *
 * Every allocation has a process-unique id; the race checker compares footprints per
 * allocation id, so memory that was freed and reused never makes two operations conflict.
 * The table is a vector sorted by base address (allocations are few; lookups are binary
 * searches). */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "sd_internal.h"

static SD_VEC(sd_alloc_t *) sd_allocs;
static double sd_used[SD_MAX_DEVICES];

/* ---- timing-mode address space ---- */

typedef struct {
    uint64_t lo, hi;
} sd_hole_t;

static SD_VEC(sd_hole_t) sd_holes;

/* Reserves inaccessible address space holding at least size bytes (one large region usually
 * serves a whole run; smaller ones are tried where the address space is limited). */
static int sd_va_reserve(uint64_t size)
{
    uint64_t want = size > (1ull << 42) ? size : 1ull << 42;
    for (uint64_t len = want; len >= size && len >= (1ull << 20); len >>= 1) {
        void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
            continue;
        uint64_t lo = ((uint64_t)(uintptr_t)p + 0xfffff) & ~0xfffffull, hi = (uint64_t)(uintptr_t)p + len;
        size_t i = 0;
        while (i < sd_holes.n && sd_holes.v[i].lo < lo)
            i++;
        sd_hole_t h = {lo, hi};
        SD_VEC_RESERVE(&sd_holes, sd_holes.n + 1);
        memmove(&sd_holes.v[i + 1], &sd_holes.v[i], (sd_holes.n - i) * sizeof(h));
        sd_holes.v[i] = h;
        sd_holes.n++;
        return 0;
    }
    sd_log("cannot reserve %llu bytes of address space for timing-mode device memory: %m",
           (unsigned long long)size);
    return -1;
}

static uint64_t sd_va_alloc(uint64_t size)
{
    size = (size + 255) & ~255ull;
    for (int attempt = 0; attempt < 2; attempt++) {
        for (size_t i = 0; i < sd_holes.n; i++) {
            sd_hole_t *h = &sd_holes.v[i];
            if (h->hi - h->lo >= size) {
                uint64_t a = h->lo;
                h->lo += size;
                if (h->lo == h->hi) {
                    memmove(h, h + 1, (sd_holes.n - i - 1) * sizeof(*h));
                    sd_holes.n--;
                }
                return a;
            }
        }
        if (attempt == 0 && sd_va_reserve(size + (1ull << 20)))
            return 0;
    }
    return 0;
}

static void sd_va_free(uint64_t a, uint64_t size)
{
    size = (size + 255) & ~255ull;
    size_t i = 0;
    while (i < sd_holes.n && sd_holes.v[i].lo < a)
        i++;
    sd_hole_t h = {a, a + size};
    SD_VEC_RESERVE(&sd_holes, sd_holes.n + 1);
    memmove(&sd_holes.v[i + 1], &sd_holes.v[i], (sd_holes.n - i) * sizeof(h));
    sd_holes.v[i] = h;
    sd_holes.n++;
    /* Merge with the neighbours. */
    if (i + 1 < sd_holes.n && sd_holes.v[i].hi == sd_holes.v[i + 1].lo) {
        sd_holes.v[i].hi = sd_holes.v[i + 1].hi;
        memmove(&sd_holes.v[i + 1], &sd_holes.v[i + 2], (sd_holes.n - i - 2) * sizeof(h));
        sd_holes.n--;
    }
    if (i > 0 && sd_holes.v[i - 1].hi == sd_holes.v[i].lo) {
        sd_holes.v[i - 1].hi = sd_holes.v[i].hi;
        memmove(&sd_holes.v[i], &sd_holes.v[i + 1], (sd_holes.n - i - 1) * sizeof(h));
        sd_holes.n--;
    }
}

/* ---- the allocation table ---- */

static size_t sd_alloc_pos(uint64_t base)
{
    size_t lo = 0, hi = sd_allocs.n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (sd_allocs.v[mid]->base < base)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void sd_alloc_insert(sd_alloc_t *a)
{
    size_t i = sd_alloc_pos(a->base);
    SD_VEC_RESERVE(&sd_allocs, sd_allocs.n + 1);
    memmove(&sd_allocs.v[i + 1], &sd_allocs.v[i], (sd_allocs.n - i) * sizeof(a));
    sd_allocs.v[i] = a;
    sd_allocs.n++;
}

sd_alloc_t *sd_mem_find(uint64_t addr)
{
    size_t i = sd_alloc_pos(addr + 1);
    if (i == 0)
        return NULL;
    sd_alloc_t *a = sd_allocs.v[i - 1];
    return addr >= a->base && addr - a->base < a->size ? a : NULL;
}

static int sd_kind_device(int kind)
{
    return kind == SD_ALLOC_DEVICE || kind == SD_ALLOC_ASYNC || kind == SD_ALLOC_GRAPH;
}

int sd_mem_is_device(uint64_t addr)
{
    sd_alloc_t *a = sd_mem_find(addr);
    return a && sd_kind_device(a->kind);
}

CUresult sd_mem_alloc_device(int kind, struct CUctx_st *ctx, size_t size, sd_alloc_t **out)
{
    if (size == 0)
        return CUDA_ERROR_INVALID_VALUE;
    int dev = ctx->device;
    double rounded = (double)((size + 255) & ~(size_t)255);
    if (sd_used[dev] + rounded > sd.dev.info.mem_bytes) {
        static int once;
        if (!once++)
            sd_log("device %d out of memory: %.0f bytes requested, %.0f of %.0f in use (%s profile; "
                   "reported once)", dev, rounded, sd_used[dev], sd.dev.info.mem_bytes, sd.dev.name);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    sd_alloc_t *a = sd_xcalloc(1, sizeof(*a));
    if (sd.compute) {
        a->mem = aligned_alloc(256, (size + 255) & ~(size_t)255);
        if (!a->mem) {
            free(a);
            return CUDA_ERROR_OUT_OF_MEMORY;
        }
        a->base = (uint64_t)(uintptr_t)a->mem;
    } else {
        a->base = sd_va_alloc(size);
        if (!a->base) {
            free(a);
            return CUDA_ERROR_OUT_OF_MEMORY;
        }
    }
    a->size = size;
    a->id = ++sd.next_alloc_id;
    a->kind = kind;
    a->device = dev;
    a->ctx = ctx;
    sd_used[dev] += rounded;
    sd_alloc_insert(a);
    *out = a;
    return CUDA_SUCCESS;
}

static CUresult sd_mem_alloc_host(struct CUctx_st *ctx, size_t size, void *existing, sd_alloc_t **out)
{
    if (size == 0)
        return CUDA_ERROR_INVALID_VALUE;
    sd_alloc_t *a = sd_xcalloc(1, sizeof(*a));
    if (existing) {
        a->base = (uint64_t)(uintptr_t)existing;
        a->kind = SD_ALLOC_REGISTERED;
        sd_alloc_t *o = sd_mem_find(a->base);
        if (o || sd_mem_find(a->base + size - 1)) {
            free(a);
            return CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED;
        }
    } else {
        a->mem = aligned_alloc(256, (size + 255) & ~(size_t)255);
        if (!a->mem) {
            free(a);
            return CUDA_ERROR_OUT_OF_MEMORY;
        }
        a->base = (uint64_t)(uintptr_t)a->mem;
        a->kind = SD_ALLOC_HOST;
    }
    a->size = size;
    a->id = ++sd.next_alloc_id;
    a->device = ctx->device;
    a->ctx = ctx;
    sd_alloc_insert(a);
    *out = a;
    return CUDA_SUCCESS;
}

void sd_mem_release(sd_alloc_t *a)
{
    size_t i = sd_alloc_pos(a->base);
    if (i < sd_allocs.n && sd_allocs.v[i] == a) {
        memmove(&sd_allocs.v[i], &sd_allocs.v[i + 1], (sd_allocs.n - i - 1) * sizeof(a));
        sd_allocs.n--;
    }
    if (sd_kind_device(a->kind)) {
        sd_used[a->device] -= (double)((a->size + 255) & ~(uint64_t)255);
        if (!sd.compute)
            sd_va_free(a->base, a->size);
    }
    free(a->mem);
    free(a);
}

void sd_mem_graph_ref(uint64_t dptr, int delta)
{
    sd_alloc_t *a = sd_mem_find(dptr);
    if (!a || a->kind != SD_ALLOC_GRAPH)
        return;
    a->graph_refs += delta;
    if (a->graph_refs <= 0) {
        /* Nothing that could still use it may be pending: run the device dry first. */
        sd_des_run_all(0);
        sd_mem_release(a);
    }
}

/* ---- cuMemAlloc / cuMemFree ---- */

static CUresult sd_mem_alloc(CUdeviceptr *dptr, size_t size)
{
    struct CUctx_st *c;
    CUresult r = sd_current_ctx(&c);
    if (r)
        return r;
    if (!dptr)
        return CUDA_ERROR_INVALID_VALUE;
    r = sd_capture_check_unsafe();
    if (r)
        return r;
    sd_alloc_t *a;
    r = sd_mem_alloc_device(SD_ALLOC_DEVICE, c, size, &a);
    if (r)
        return r;
    *dptr = a->base;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)
{
    SD_API(cuMemAlloc_v2, sd_mem_alloc(dptr, bytesize));
}

static CUresult sd_mem_alloc_pitch(CUdeviceptr *dptr, size_t *pitch, size_t width, size_t height,
                                   unsigned elem)
{
    if (!pitch || !width || !height || (elem != 4 && elem != 8 && elem != 16))
        return CUDA_ERROR_INVALID_VALUE;
    size_t p = (width + 511) & ~(size_t)511;
    CUresult r = sd_mem_alloc(dptr, p * height);
    if (!r)
        *pitch = p;
    return r;
}

CUresult CUDAAPI cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pPitch, size_t WidthInBytes,
                                    size_t Height, unsigned int ElementSizeBytes)
{
    SD_API(cuMemAllocPitch_v2, sd_mem_alloc_pitch(dptr, pPitch, WidthInBytes, Height, ElementSizeBytes));
}

static CUresult sd_mem_free(CUdeviceptr dptr)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!dptr)
        return CUDA_SUCCESS;
    r = sd_capture_check_unsafe();
    if (r)
        return r;
    sd_alloc_t *a = sd_mem_find(dptr);
    if (!a || a->base != dptr ||
        (a->kind != SD_ALLOC_DEVICE && a->kind != SD_ALLOC_ASYNC && a->kind != SD_ALLOC_GRAPH))
        return CUDA_ERROR_INVALID_VALUE;
    /* As cudaFree: the device finishes all work first (the memory may be in use). */
    sd_all_host_wait();
    /* Memory of a graph's allocation node that the graph does not free is freed by the program
     * (cuMemFree or cuMemFreeAsync, as CUDA documents). Its address belongs to the node here, so
     * it stays reserved until every graph and exec holding the node is gone. */
    if (a->kind != SD_ALLOC_GRAPH)
        sd_mem_release(a);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemFree_v2(CUdeviceptr dptr)
{
    SD_API(cuMemFree_v2, sd_mem_free(dptr));
}

/* ---- page-locked host memory ---- */

static CUresult sd_host_alloc(void **pp, size_t size)
{
    struct CUctx_st *c;
    CUresult r = sd_current_ctx(&c);
    if (r)
        return r;
    if (!pp)
        return CUDA_ERROR_INVALID_VALUE;
    r = sd_capture_check_unsafe();
    if (r)
        return r;
    sd_alloc_t *a;
    r = sd_mem_alloc_host(c, size, NULL, &a);
    if (r)
        return r;
    *pp = a->mem;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemAllocHost_v2(void **pp, size_t bytesize)
{
    SD_API(cuMemAllocHost_v2, sd_host_alloc(pp, bytesize));
}

CUresult CUDAAPI cuMemHostAlloc(void **pp, size_t bytesize, unsigned int Flags)
{
    (void)Flags;
    SD_API(cuMemHostAlloc, sd_host_alloc(pp, bytesize));
}

static CUresult sd_host_free(void *p, int registered)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    r = sd_capture_check_unsafe();
    if (r)
        return r;
    sd_alloc_t *a = sd_mem_find((uint64_t)(uintptr_t)p);
    if (!p || !a || a->base != (uint64_t)(uintptr_t)p ||
        a->kind != (registered ? SD_ALLOC_REGISTERED : SD_ALLOC_HOST))
        return registered ? CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED : CUDA_ERROR_INVALID_VALUE;
    sd_all_host_wait();
    sd_mem_release(a);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemFreeHost(void *p)
{
    SD_API(cuMemFreeHost, sd_host_free(p, 0));
}

static CUresult sd_host_register(void *p, size_t size)
{
    struct CUctx_st *c;
    CUresult r = sd_current_ctx(&c);
    if (r)
        return r;
    if (!p)
        return CUDA_ERROR_INVALID_VALUE;
    r = sd_capture_check_unsafe();
    if (r)
        return r;
    sd_alloc_t *a;
    return sd_mem_alloc_host(c, size, p, &a);
}

CUresult CUDAAPI cuMemHostRegister_v2(void *p, size_t bytesize, unsigned int Flags)
{
    (void)Flags;
    SD_API(cuMemHostRegister_v2, sd_host_register(p, bytesize));
}

CUresult CUDAAPI cuMemHostUnregister(void *p)
{
    SD_API(cuMemHostUnregister, sd_host_free(p, 1));
}

static CUresult sd_host_devptr(CUdeviceptr *pdptr, void *p, unsigned flags)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!pdptr || flags != 0)
        return CUDA_ERROR_INVALID_VALUE;
    sd_alloc_t *a = sd_mem_find((uint64_t)(uintptr_t)p);
    if (!a || sd_kind_device(a->kind))
        return CUDA_ERROR_INVALID_VALUE;
    *pdptr = (CUdeviceptr)(uintptr_t)p;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemHostGetDevicePointer_v2(CUdeviceptr *pdptr, void *p, unsigned int Flags)
{
    SD_API(cuMemHostGetDevicePointer_v2, sd_host_devptr(pdptr, p, Flags));
}

static CUresult sd_host_flags(unsigned *flags, void *p)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    sd_alloc_t *a = sd_mem_find((uint64_t)(uintptr_t)p);
    if (!flags || !a || sd_kind_device(a->kind))
        return CUDA_ERROR_INVALID_VALUE;
    *flags = CU_MEMHOSTALLOC_PORTABLE;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemHostGetFlags(unsigned int *pFlags, void *p)
{
    SD_API(cuMemHostGetFlags, sd_host_flags(pFlags, p));
}

/* ---- queries ---- */

static CUresult sd_mem_info(size_t *free_b, size_t *total)
{
    struct CUctx_st *c;
    CUresult r = sd_current_ctx(&c);
    if (r)
        return r;
    if (!free_b || !total)
        return CUDA_ERROR_INVALID_VALUE;
    *total = (size_t)sd.dev.info.mem_bytes;
    *free_b = (size_t)(sd.dev.info.mem_bytes - sd_used[c->device]);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemGetInfo_v2(size_t *free, size_t *total)
{
    SD_API(cuMemGetInfo_v2, sd_mem_info(free, total));
}

static CUresult sd_mem_range(CUdeviceptr *pbase, size_t *psize, CUdeviceptr dptr)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    sd_alloc_t *a = sd_mem_find(dptr);
    if (!a || !sd_kind_device(a->kind))
        return CUDA_ERROR_NOT_FOUND;
    if (pbase)
        *pbase = a->base;
    if (psize)
        *psize = a->size;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemGetAddressRange_v2(CUdeviceptr *pbase, size_t *psize, CUdeviceptr dptr)
{
    SD_API(cuMemGetAddressRange_v2, sd_mem_range(pbase, psize, dptr));
}

/* One attribute of a pointer; a NULL allocation answers as CUDA does for memory it does not
 * know (zeroes, with CUDA_ERROR_INVALID_VALUE for the single-attribute query). */
static CUresult sd_ptr_attr(void *data, CUpointer_attribute attr, CUdeviceptr ptr, const sd_alloc_t *a)
{
    int dev = a && sd_kind_device(a->kind);
    switch (attr) {
    case CU_POINTER_ATTRIBUTE_CONTEXT: *(CUcontext *)data = a ? a->ctx : NULL; break;
    case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
        *(unsigned *)data = !a ? 0 : dev ? CU_MEMORYTYPE_DEVICE : CU_MEMORYTYPE_HOST;
        break;
    case CU_POINTER_ATTRIBUTE_DEVICE_POINTER: *(CUdeviceptr *)data = a ? ptr : 0; break;
    case CU_POINTER_ATTRIBUTE_HOST_POINTER:
        if (dev)
            return CUDA_ERROR_INVALID_VALUE;
        *(void **)data = a ? (void *)(uintptr_t)ptr : NULL;
        break;
    case CU_POINTER_ATTRIBUTE_SYNC_MEMOPS: *(int *)data = a != NULL; break;
    case CU_POINTER_ATTRIBUTE_BUFFER_ID:
    case CU_POINTER_ATTRIBUTE_MEMORY_BLOCK_ID: *(unsigned long long *)data = a ? a->id : 0; break;
    case CU_POINTER_ATTRIBUTE_IS_MANAGED: *(int *)data = 0; break;
    case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL: *(int *)data = a ? a->device : -1; break;
    case CU_POINTER_ATTRIBUTE_IS_LEGACY_CUDA_IPC_CAPABLE: *(int *)data = 0; break;
    case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
    case CU_POINTER_ATTRIBUTE_MAPPING_BASE_ADDR: *(void **)data = a ? (void *)(uintptr_t)a->base : NULL; break;
    case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
    case CU_POINTER_ATTRIBUTE_MAPPING_SIZE: *(size_t *)data = a ? a->size : 0; break;
    case CU_POINTER_ATTRIBUTE_MAPPED: *(int *)data = a != NULL; break;
    case CU_POINTER_ATTRIBUTE_ALLOWED_HANDLE_TYPES: *(unsigned long long *)data = 0; break;
    case CU_POINTER_ATTRIBUTE_IS_GPU_DIRECT_RDMA_CAPABLE: *(int *)data = 0; break;
    case CU_POINTER_ATTRIBUTE_ACCESS_FLAGS:
        *(int *)data = a ? CU_POINTER_ATTRIBUTE_ACCESS_FLAG_READWRITE : CU_POINTER_ATTRIBUTE_ACCESS_FLAG_NONE;
        break;
    case CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE: *(void **)data = NULL; break;
    case CU_POINTER_ATTRIBUTE_IS_HW_DECOMPRESS_CAPABLE: *(int *)data = 0; break;
    default: return CUDA_ERROR_INVALID_VALUE;
    }
    return CUDA_SUCCESS;
}

static CUresult sd_pointer_get(void *data, CUpointer_attribute attr, CUdeviceptr ptr)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!data)
        return CUDA_ERROR_INVALID_VALUE;
    const sd_alloc_t *a = sd_mem_find(ptr);
    if (!a)
        return CUDA_ERROR_INVALID_VALUE;
    return sd_ptr_attr(data, attr, ptr, a);
}

CUresult CUDAAPI cuPointerGetAttribute(void *data, CUpointer_attribute attribute, CUdeviceptr ptr)
{
    SD_API(cuPointerGetAttribute, sd_pointer_get(data, attribute, ptr));
}

static CUresult sd_pointer_get_many(unsigned n, CUpointer_attribute *attrs, void **data, CUdeviceptr ptr)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!attrs || !data)
        return CUDA_ERROR_INVALID_VALUE;
    const sd_alloc_t *a = sd_mem_find(ptr);
    for (unsigned i = 0; i < n; i++) {
        if (!data[i])
            return CUDA_ERROR_INVALID_VALUE;
        r = sd_ptr_attr(data[i], attrs[i], ptr, a);
        if (r == CUDA_ERROR_INVALID_VALUE && attrs[i] == CU_POINTER_ATTRIBUTE_HOST_POINTER) {
            *(void **)data[i] = NULL;
            r = CUDA_SUCCESS;
        }
        if (r)
            return r;
    }
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuPointerGetAttributes(unsigned int numAttributes, CUpointer_attribute *attributes,
                                        void **data, CUdeviceptr ptr)
{
    SD_API(cuPointerGetAttributes, sd_pointer_get_many(numAttributes, attributes, data, ptr));
}

static CUresult sd_pointer_set(CUpointer_attribute attr, CUdeviceptr ptr)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!sd_mem_find(ptr))
        return CUDA_ERROR_INVALID_VALUE;
    return attr == CU_POINTER_ATTRIBUTE_SYNC_MEMOPS ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult CUDAAPI cuPointerSetAttribute(const void *value, CUpointer_attribute attribute, CUdeviceptr ptr)
{
    (void)value;
    SD_API(cuPointerSetAttribute, sd_pointer_set(attribute, ptr));
}

/* ---- memory pools: one default pool per device; attributes are remembered, not used ---- */

struct CUmemPoolHandle_st {
    uint32_t magic;
    int device;
    cuuint64_t threshold;
};

static struct CUmemPoolHandle_st sd_pools[SD_MAX_DEVICES];

static CUresult sd_default_pool(CUmemoryPool *pool, CUdevice dev)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!pool)
        return CUDA_ERROR_INVALID_VALUE;
    if (dev < 0 || dev >= sd.ndev)
        return CUDA_ERROR_INVALID_DEVICE;
    sd_pools[dev].magic = SD_MAGIC_POOL;
    sd_pools[dev].device = dev;
    *pool = &sd_pools[dev];
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetDefaultMemPool(CUmemoryPool *pool_out, CUdevice dev)
{
    SD_API(cuDeviceGetDefaultMemPool, sd_default_pool(pool_out, dev));
}

CUresult CUDAAPI cuDeviceGetMemPool(CUmemoryPool *pool, CUdevice dev)
{
    SD_API(cuDeviceGetMemPool, sd_default_pool(pool, dev));
}

static CUresult sd_pool_attr(CUmemoryPool pool, CUmemPool_attribute attr, void *value, int set)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!pool || pool->magic != SD_MAGIC_POOL || !value)
        return CUDA_ERROR_INVALID_VALUE;
    switch (attr) {
    case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD:
        if (set)
            pool->threshold = *(cuuint64_t *)value;
        else
            *(cuuint64_t *)value = pool->threshold;
        return CUDA_SUCCESS;
    case CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES:
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC:
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES:
        if (!set)
            *(int *)value = 1;
        return CUDA_SUCCESS;
    case CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT:
    case CU_MEMPOOL_ATTR_USED_MEM_CURRENT:
    case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH:
    case CU_MEMPOOL_ATTR_USED_MEM_HIGH:
        if (!set)
            *(cuuint64_t *)value = (cuuint64_t)sd_used[pool->device];
        return CUDA_SUCCESS;
    default:
        return CUDA_ERROR_INVALID_VALUE;
    }
}

CUresult CUDAAPI cuMemPoolSetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value)
{
    SD_API(cuMemPoolSetAttribute, sd_pool_attr(pool, attr, value, 1));
}

CUresult CUDAAPI cuMemPoolGetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value)
{
    SD_API(cuMemPoolGetAttribute, sd_pool_attr(pool, attr, value, 0));
}

static CUresult sd_pool_trim(CUmemoryPool pool)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    return pool && pool->magic == SD_MAGIC_POOL ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult CUDAAPI cuMemPoolTrimTo(CUmemoryPool pool, size_t minBytesToKeep)
{
    (void)minBytesToKeep;
    SD_API(cuMemPoolTrimTo, sd_pool_trim(pool));
}
