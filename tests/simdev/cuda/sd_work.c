/* Work items: the one description of what a stream operation or a graph node does (kernel,
 * copy, memset, host function, event record / wait, memory allocation / free, empty). Streams,
 * capture, graphs and execs all build and copy these; the simulation turns them into
 * operations. This file also normalises copies (1D, 2D, 3D, unified addressing) and derives
 * the cost and footprint of each item. */
#include <stdlib.h>
#include <string.h>

#include "sd_internal.h"

void sd_work_copy(sd_work_t *dst, const sd_work_t *src)
{
    *dst = *src;
    dst->child = NULL;
    sd_kparams_ref(dst->kp);
}

void sd_work_clear(sd_work_t *w)
{
    sd_kparams_unref(w->kp);
    w->kp = NULL;
}

const char *sd_work_name(const sd_work_t *w)
{
    switch (w->type) {
    case CU_GRAPH_NODE_TYPE_KERNEL:
        return w->kp && w->kp->func ? w->kp->func->k->name : "kernel";
    case CU_GRAPH_NODE_TYPE_MEMCPY:
        switch (w->copy.copy_kind) {
        case 1: return "memcpy HtoD";
        case 2: return "memcpy DtoH";
        case 8: return "memcpy DtoD";
        default: return "memcpy HtoH";
        }
    case CU_GRAPH_NODE_TYPE_MEMSET: return "memset";
    case CU_GRAPH_NODE_TYPE_HOST: return "host function";
    case CU_GRAPH_NODE_TYPE_EVENT_RECORD: return "event record";
    case CU_GRAPH_NODE_TYPE_WAIT_EVENT: return "event wait";
    case CU_GRAPH_NODE_TYPE_MEM_ALLOC: return "memory allocation";
    case CU_GRAPH_NODE_TYPE_MEM_FREE: return "memory free";
    case CU_GRAPH_NODE_TYPE_GRAPH: return "child graph";
    case CU_GRAPH_NODE_TYPE_EMPTY: return "empty node";
    default: return "node";
    }
}

/* ---- copies ---- */

/* Bytes from the first to one past the last byte a side of a 3D copy touches. */
static uint64_t sd_copy_extent(const CUDA_MEMCPY3D *p, size_t pitch, size_t height)
{
    pitch = pitch ? pitch : p->WidthInBytes;
    height = height ? height : p->Height;
    return (uint64_t)(p->Depth - 1) * pitch * height + (uint64_t)(p->Height - 1) * pitch + p->WidthInBytes;
}

static uint64_t sd_copy_offset(size_t x, size_t y, size_t z, size_t pitch, size_t height, size_t width,
                               size_t h)
{
    pitch = pitch ? pitch : width;
    height = height ? height : h;
    return x + (uint64_t)y * pitch + (uint64_t)z * pitch * height;
}

static CUresult sd_copy_side(CUmemorytype *type, const void **host, CUdeviceptr *dev)
{
    switch (*type) {
    case CU_MEMORYTYPE_HOST:
        return *host ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
    case CU_MEMORYTYPE_DEVICE:
        return *dev ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
    case CU_MEMORYTYPE_UNIFIED:
        if (!*dev)
            return CUDA_ERROR_INVALID_VALUE;
        if (sd_mem_is_device(*dev)) {
            *type = CU_MEMORYTYPE_DEVICE;
        } else {
            *type = CU_MEMORYTYPE_HOST;
            *host = (const void *)(uintptr_t)*dev;
            *dev = 0;
        }
        return CUDA_SUCCESS;
    default:
        /* CUDA arrays are not simulated. */
        return CUDA_ERROR_NOT_SUPPORTED;
    }
}

/* A device-side range must lie inside one device allocation. */
static CUresult sd_check_device_range(CUdeviceptr p, uint64_t n)
{
    sd_alloc_t *a = sd_mem_find(p);
    if (!a || a->kind == SD_ALLOC_HOST || a->kind == SD_ALLOC_REGISTERED) {
        /* Page-locked host memory may be used through its device pointer. */
        if (a && p + n <= a->base + a->size)
            return CUDA_SUCCESS;
        return CUDA_ERROR_INVALID_VALUE;
    }
    return p + n <= a->base + a->size ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult sd_copy_from_3d(sd_copy_t *c, const CUDA_MEMCPY3D *in)
{
    memset(c, 0, sizeof(*c));
    c->p = *in;
    CUDA_MEMCPY3D *p = &c->p;
    if (!p->WidthInBytes || !p->Height || !p->Depth)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = sd_copy_side(&p->srcMemoryType, &p->srcHost, &p->srcDevice);
    if (!r)
        r = sd_copy_side(&p->dstMemoryType, (const void **)&p->dstHost, &p->dstDevice);
    if (r)
        return r;
    if ((p->srcPitch && p->srcPitch < p->WidthInBytes) || (p->dstPitch && p->dstPitch < p->WidthInBytes))
        return CUDA_ERROR_INVALID_VALUE;
    if (p->srcMemoryType == CU_MEMORYTYPE_DEVICE) {
        uint64_t off = sd_copy_offset(p->srcXInBytes, p->srcY, p->srcZ, p->srcPitch, p->srcHeight,
                                      p->WidthInBytes, p->Height);
        r = sd_check_device_range(p->srcDevice + off, sd_copy_extent(p, p->srcPitch, p->srcHeight));
        if (r)
            return r;
    }
    if (p->dstMemoryType == CU_MEMORYTYPE_DEVICE) {
        uint64_t off = sd_copy_offset(p->dstXInBytes, p->dstY, p->dstZ, p->dstPitch, p->dstHeight,
                                      p->WidthInBytes, p->Height);
        r = sd_check_device_range(p->dstDevice + off, sd_copy_extent(p, p->dstPitch, p->dstHeight));
        if (r)
            return r;
    }
    int sh = p->srcMemoryType == CU_MEMORYTYPE_HOST, dh = p->dstMemoryType == CU_MEMORYTYPE_HOST;
    c->copy_kind = sh && !dh ? 1 : !sh && dh ? 2 : !sh && !dh ? 8 : 9;
    c->bytes = (uint64_t)p->WidthInBytes * p->Height * p->Depth;
    return CUDA_SUCCESS;
}

CUresult sd_copy_from_2d(sd_copy_t *c, const CUDA_MEMCPY2D *in)
{
    CUDA_MEMCPY3D p;
    memset(&p, 0, sizeof(p));
    p.srcXInBytes = in->srcXInBytes;
    p.srcY = in->srcY;
    p.srcMemoryType = in->srcMemoryType;
    p.srcHost = in->srcHost;
    p.srcDevice = in->srcDevice;
    p.srcArray = in->srcArray;
    p.srcPitch = in->srcPitch;
    p.dstXInBytes = in->dstXInBytes;
    p.dstY = in->dstY;
    p.dstMemoryType = in->dstMemoryType;
    p.dstHost = in->dstHost;
    p.dstDevice = in->dstDevice;
    p.dstArray = in->dstArray;
    p.dstPitch = in->dstPitch;
    p.WidthInBytes = in->WidthInBytes;
    p.Height = in->Height;
    p.Depth = 1;
    return sd_copy_from_3d(c, &p);
}

CUresult sd_copy_1d(sd_copy_t *c, CUmemorytype dt, void *dsth, CUdeviceptr dstd, CUmemorytype st,
                    const void *srch, CUdeviceptr srcd, size_t n)
{
    CUDA_MEMCPY3D p;
    memset(&p, 0, sizeof(p));
    p.srcMemoryType = st;
    p.srcHost = srch;
    p.srcDevice = srcd;
    p.dstMemoryType = dt;
    p.dstHost = dsth;
    p.dstDevice = dstd;
    p.WidthInBytes = n;
    p.Height = 1;
    p.Depth = 1;
    return sd_copy_from_3d(c, &p);
}

static void sd_copy_footprint(const sd_copy_t *c, sd_rset_t *rs)
{
    const CUDA_MEMCPY3D *p = &c->p;
    uint64_t soff = sd_copy_offset(p->srcXInBytes, p->srcY, p->srcZ, p->srcPitch, p->srcHeight,
                                   p->WidthInBytes, p->Height);
    uint64_t doff = sd_copy_offset(p->dstXInBytes, p->dstY, p->dstZ, p->dstPitch, p->dstHeight,
                                   p->WidthInBytes, p->Height);
    uint64_t src = p->srcMemoryType == CU_MEMORYTYPE_HOST ? (uint64_t)(uintptr_t)p->srcHost : p->srcDevice;
    uint64_t dst = p->dstMemoryType == CU_MEMORYTYPE_HOST ? (uint64_t)(uintptr_t)p->dstHost : p->dstDevice;
    /* Host memory counts only where the driver knows it (page-locked or registered). */
    if (p->srcMemoryType == CU_MEMORYTYPE_DEVICE || sd_mem_find(src + soff))
        sd_rset_add(rs, src + soff, sd_copy_extent(p, p->srcPitch, p->srcHeight), 0);
    if (p->dstMemoryType == CU_MEMORYTYPE_DEVICE || sd_mem_find(dst + doff))
        sd_rset_add(rs, dst + doff, sd_copy_extent(p, p->dstPitch, p->dstHeight), 1);
}

/* ---- memsets ---- */

CUresult sd_memset_make(sd_memset_t *m, CUdeviceptr dst, size_t pitch, unsigned value, unsigned elem,
                        size_t width, size_t height)
{
    memset(m, 0, sizeof(*m));
    if (!dst || (elem != 1 && elem != 2 && elem != 4) || (dst % elem) != 0)
        return CUDA_ERROR_INVALID_VALUE;
    if (!width || !height)
        return CUDA_ERROR_INVALID_VALUE;
    if (height > 1 && pitch < width * elem)
        return CUDA_ERROR_INVALID_VALUE;
    m->dst = dst;
    m->pitch = height > 1 ? pitch : width * elem;
    m->value = value;
    m->elem = elem;
    m->width = width;
    m->height = height;
    return sd_check_device_range(dst, (uint64_t)(height - 1) * m->pitch + (uint64_t)width * elem);
}

/* ---- cost and footprint ---- */

CUresult sd_work_describe(const sd_work_t *w, int device, simdev_launch_desc_t *d, sd_rset_t *rs)
{
    memset(d, 0, sizeof(*d));
    switch (w->type) {
    case CU_GRAPH_NODE_TYPE_KERNEL: {
        simdev_launch_t l;
        sd_kparams_launch(w->kp, device, &l);
        const simdev_kernel_t *k = w->kp->func->k;
        if (k->describe(&l, d) != 0)
            return CUDA_ERROR_INVALID_VALUE;
        if (d->nranges > SIMDEV_MAX_RANGES)
            d->nranges = SIMDEV_MAX_RANGES;
        if (rs)
            for (uint32_t i = 0; i < d->nranges; i++)
                sd_rset_add(rs, d->ranges[i].addr, d->ranges[i].size, d->ranges[i].write);
        return CUDA_SUCCESS;
    }
    case CU_GRAPH_NODE_TYPE_MEMCPY:
        d->bytes = 2.0 * (double)w->copy.bytes;
        if (rs)
            sd_copy_footprint(&w->copy, rs);
        return CUDA_SUCCESS;
    case CU_GRAPH_NODE_TYPE_MEMSET: {
        const sd_memset_t *m = &w->set;
        d->bytes = (double)m->elem * m->width * m->height;
        if (rs)
            for (size_t y = 0; y < m->height; y++)
                sd_rset_add(rs, m->dst + y * m->pitch, (uint64_t)m->width * m->elem, 1);
        return CUDA_SUCCESS;
    }
    case CU_GRAPH_NODE_TYPE_MEM_ALLOC:
    case CU_GRAPH_NODE_TYPE_MEM_FREE:
        /* Allocation and release "write" the whole block: every user must be ordered with them. */
        if (rs && w->dptr && w->bytes)
            sd_rset_add(rs, w->dptr, w->bytes, 1);
        return CUDA_SUCCESS;
    default:
        return CUDA_SUCCESS;
    }
}
