/* Simulated driver: global state, configuration (SIMDEV_*), initialisation, devices, contexts,
 * error names, and the simdev_* functions the other simulated libraries call.
 *
 * Devices: SIMDEV_DEVICES identical devices (default: the fabric's GPUs per node), each with the
 * selected device profile. Contexts: one primary context per device plus any created with
 * cuCtxCreate; each thread has a context stack as in CUDA. */
#include <stdlib.h>
#include <string.h>

#include "sd_internal.h"

#include <cudaProfiler.h>

sd_global_t sd = {
    .lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP,
    .next_handle = 1,
};

#define SD_CTX_STACK 32
static __thread struct CUctx_st *sd_ctx_stack[SD_CTX_STACK];
static __thread int sd_ctx_depth;

/* The trace writer (tests/simdev/trace/simdev_trace.c, linked into this library). */
void simdev_trace_install(void);

/* ---- configuration ---- */

static int sd_env_choice(const char *var, const char *const *names, int ndefault)
{
    const char *v = getenv(var);
    if (!v || !*v)
        return ndefault;
    for (int i = 0; names[i]; i++)
        if (strcmp(v, names[i]) == 0)
            return i;
    char accepted[256] = "";
    for (int i = 0; names[i]; i++) {
        strncat(accepted, i ? "|" : "", sizeof(accepted) - strlen(accepted) - 1);
        strncat(accepted, names[i], sizeof(accepted) - strlen(accepted) - 1);
    }
    sd_log("%s=%s is not valid (accepted: %s); using %s", var, v, accepted, names[ndefault]);
    return ndefault;
}

static double sd_env_num(const char *var, double dflt, double lo, double hi)
{
    const char *v = getenv(var);
    if (!v || !*v)
        return dflt;
    char *end;
    double d = strtod(v, &end);
    if (*end || end == v || !(d >= lo && d <= hi)) {
        sd_log("%s=%s is not valid (a number in [%g, %g]); using %g", var, v, lo, hi, dflt);
        return dflt;
    }
    return d;
}

/* Loads profiles and SIMDEV_* once; callable before cuInit (the other simulated libraries
 * read the profiles when they load). Returns 0 or -1 (cause logged). */
static int sd_config_load(void)
{
    if (sd.profiles_loaded)
        return sd.profiles_loaded > 0 ? 0 : -1;
    if (sd_profile_load(&sd.dev, &sd.fab)) {
        sd.profiles_loaded = -1;
        return -1;
    }
    static const char *const modes[] = {"timing", "compute", NULL};
    sd.compute = sd_env_choice("SIMDEV_MODE", modes, 1);
    static const char *const races[] = {"off", "warn", "fatal", NULL};
    sd.race = sd_env_choice("SIMDEV_RACE", races, 2);
    static const char *const sharing[] = {"fair", "occupancy", NULL};
    sd.sharing_occupancy = sd_env_choice("SIMDEV_SHARING", sharing, 1);
    int per_node = sd.fab.info.gpus_per_node < SD_MAX_DEVICES ? sd.fab.info.gpus_per_node : SD_MAX_DEVICES;
    sd.ndev = (int)sd_env_num("SIMDEV_DEVICES", per_node, 1, SD_MAX_DEVICES);
    sd.comm_share = sd_env_num("SIMDEV_COMM_SM_SHARE", sd.dev.info.comm_sm_share, 0, 0.95);
    sd.interference = sd_env_num("SIMDEV_INTERFERENCE", sd.dev.info.interference, 1, 100);
    /* Device memory other than the profile's (e.g. to time a model that would not fit). */
    sd.dev.info.mem_bytes = sd_env_num("SIMDEV_MEM_GB", sd.dev.info.mem_bytes / (1 << 30), 0.001, 1 << 20) *
                            (double)(1 << 30);
    sd.profiles_loaded = 1;
    return 0;
}

/* ---- API entry and exit, notifications ---- */

static void sd_notify_api(simdev_event_kind_t kind, const char *name, CUresult r)
{
    if (!sd.ev.n)
        return;
    simdev_event_t e = {.kind = kind, .name = name, .correlation_id = sd.corr, .result = (int)r};
    for (size_t i = 0; i < sd.ev.n; i++)
        sd.ev.v[i].fn(&e, sd.ev.v[i].user);
}

void sd_notify(simdev_event_kind_t kind, void *graph, void *orig_graph, void *node,
               void *orig_node, void *exec)
{
    if (!sd.ev.n)
        return;
    simdev_event_t e = {.kind = kind, .correlation_id = sd.corr, .graph = graph,
                        .orig_graph = orig_graph, .node = node, .orig_node = orig_node, .exec = exec};
    for (size_t i = 0; i < sd.ev.n; i++)
        sd.ev.v[i].fn(&e, sd.ev.v[i].user);
}

void sd_api_enter(const char *name)
{
    pthread_mutex_lock(&sd.lock);
    sd.corr++;
    if (sd.initialized)
        sd.host_now += sd.dev.host_api_us;
    sd_notify_api(SIMDEV_EV_API_ENTER, name, CUDA_SUCCESS);
}

CUresult sd_api_exit(const char *name, CUresult r)
{
    sd_notify_api(SIMDEV_EV_API_EXIT, name, r);
    pthread_mutex_unlock(&sd.lock);
    return r;
}

void sd_host_advance(double us)
{
    sd.host_now += us;
}

void sd_emit_activity(const simdev_activity_t *a)
{
    for (size_t i = 0; i < sd.act.n; i++)
        sd.act.v[i].fn(a, sd.act.v[i].user);
}

/* ---- init ---- */

static void sd_atexit(void)
{
    pthread_mutex_lock(&sd.lock);
    sd.exiting = 1;
    if (!sd.race_exit)
        sd_des_run_all(1);
    pthread_mutex_unlock(&sd.lock);
}

CUresult sd_check_init(void)
{
    if (!sd.initialized)
        return sd.init_result ? sd.init_result : CUDA_ERROR_NOT_INITIALIZED;
    return CUDA_SUCCESS;
}

static CUresult sd_init(unsigned flags)
{
    if (flags != 0)
        return CUDA_ERROR_INVALID_VALUE;
    if (sd.initialized)
        return CUDA_SUCCESS;
    if (sd.init_result)
        return sd.init_result;
    if (sd_config_load()) {
        sd.init_result = CUDA_ERROR_NO_DEVICE;
        return sd.init_result;
    }
    sd.initialized = 1;
    sd_providers_load();
    simdev_trace_install();
    /* After the trace writer's handler so that it runs first: pending work finishes (and
     * reports its activity) before traces are written. */
    atexit(sd_atexit);
    sd_debug("initialised: %d x %s (%s mode), fabric %s, race checker %s", sd.ndev, sd.dev.name,
             sd.compute ? "compute" : "timing", sd.fab.name,
             sd.race == 2 ? "fatal" : sd.race == 1 ? "warn" : "off");
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuInit(unsigned int Flags)
{
    SD_API(cuInit, sd_init(Flags));
}

CUresult CUDAAPI cuDriverGetVersion(int *driverVersion)
{
    if (!driverVersion)
        return CUDA_ERROR_INVALID_VALUE;
    *driverVersion = CUDA_VERSION;
    return CUDA_SUCCESS;
}

/* ---- devices ---- */

static CUresult sd_dev_check(CUdevice dev)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    return dev >= 0 && dev < sd.ndev ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE;
}

static CUresult sd_device_get(CUdevice *d, int ordinal)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!d)
        return CUDA_ERROR_INVALID_VALUE;
    if (ordinal < 0 || ordinal >= sd.ndev)
        return CUDA_ERROR_INVALID_DEVICE;
    *d = ordinal;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGet(CUdevice *device, int ordinal)
{
    SD_API(cuDeviceGet, sd_device_get(device, ordinal));
}

static CUresult sd_device_count(int *n)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!n)
        return CUDA_ERROR_INVALID_VALUE;
    *n = sd.ndev;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetCount(int *count)
{
    SD_API(cuDeviceGetCount, sd_device_count(count));
}

static CUresult sd_device_name(char *name, int len, CUdevice dev)
{
    CUresult r = sd_dev_check(dev);
    if (r)
        return r;
    if (!name || len <= 0)
        return CUDA_ERROR_INVALID_VALUE;
    snprintf(name, (size_t)len, "%s", sd.dev.full_name);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetName(char *name, int len, CUdevice dev)
{
    SD_API(cuDeviceGetName, sd_device_name(name, len, dev));
}

static CUresult sd_device_uuid(CUuuid *uuid, CUdevice dev)
{
    CUresult r = sd_dev_check(dev);
    if (r)
        return r;
    if (!uuid)
        return CUDA_ERROR_INVALID_VALUE;
    /* Stable per profile and ordinal: FNV-1a of the name, spread over 16 bytes. */
    uint64_t h = 1469598103934665603ull;
    for (const char *p = sd.dev.name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h ^= (uint64_t)dev * 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 16; i++) {
        h = (h ^ (uint64_t)i) * 1099511628211ull;
        uuid->bytes[i] = (char)(h >> 56);
    }
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetUuid(CUuuid *uuid, CUdevice dev)
{
    SD_API(cuDeviceGetUuid, sd_device_uuid(uuid, dev));
}

CUresult CUDAAPI cuDeviceGetUuid_v2(CUuuid *uuid, CUdevice dev)
{
    SD_API(cuDeviceGetUuid_v2, sd_device_uuid(uuid, dev));
}

static CUresult sd_device_total_mem(size_t *bytes, CUdevice dev)
{
    CUresult r = sd_dev_check(dev);
    if (r)
        return r;
    if (!bytes)
        return CUDA_ERROR_INVALID_VALUE;
    *bytes = (size_t)sd.dev.info.mem_bytes;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)
{
    SD_API(cuDeviceTotalMem_v2, sd_device_total_mem(bytes, dev));
}

static int sd_attr_value(CUdevice_attribute a, CUdevice dev, int *ok)
{
    const sd_device_profile_t *p = &sd.dev;
    *ok = 1;
    switch (a) {
    case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK: return 1024;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X: return 1024;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y: return 1024;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z: return 64;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X: return 2147483647;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y: return 65535;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z: return 65535;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK: return 49152;
    case CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY: return 65536;
    case CU_DEVICE_ATTRIBUTE_WARP_SIZE: return 32;
    case CU_DEVICE_ATTRIBUTE_MAX_PITCH: return 2147483647;
    case CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK: return 65536;
    case CU_DEVICE_ATTRIBUTE_CLOCK_RATE: return p->clock_khz;
    case CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT: return 512;
    case CU_DEVICE_ATTRIBUTE_GPU_OVERLAP: return 1;
    case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: return p->info.sms;
    case CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY: return 1;
    case CU_DEVICE_ATTRIBUTE_SURFACE_ALIGNMENT: return 512;
    case CU_DEVICE_ATTRIBUTE_CONCURRENT_KERNELS: return 1;
    case CU_DEVICE_ATTRIBUTE_ECC_ENABLED: return 1;
    case CU_DEVICE_ATTRIBUTE_PCI_BUS_ID: return 0x10 + dev;
    case CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID: return 0;
    case CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE: return p->mem_clock_khz;
    case CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH: return p->mem_bus_width;
    case CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE: return p->l2_bytes;
    case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR: return p->max_threads_per_sm;
    case CU_DEVICE_ATTRIBUTE_ASYNC_ENGINE_COUNT: return 2;
    case CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING: return 1;
    case CU_DEVICE_ATTRIBUTE_TEXTURE_PITCH_ALIGNMENT: return 32;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: return p->info.cc_major;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: return p->info.cc_minor;
    case CU_DEVICE_ATTRIBUTE_STREAM_PRIORITIES_SUPPORTED: return 1;
    case CU_DEVICE_ATTRIBUTE_GLOBAL_L1_CACHE_SUPPORTED: return 1;
    case CU_DEVICE_ATTRIBUTE_LOCAL_L1_CACHE_SUPPORTED: return 1;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR: return p->smem_per_sm;
    case CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR: return 65536;
    case CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY: return 0;
    case CU_DEVICE_ATTRIBUTE_MULTI_GPU_BOARD_GROUP_ID: return dev;
    case CU_DEVICE_ATTRIBUTE_SINGLE_TO_DOUBLE_PRECISION_PERF_RATIO: return 2;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_PREEMPTION_SUPPORTED: return 1;
    case CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH: return 1;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: return p->smem_per_block_optin;
    case CU_DEVICE_ATTRIBUTE_HOST_REGISTER_SUPPORTED: return 1;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCKS_PER_MULTIPROCESSOR: return 32;
    case CU_DEVICE_ATTRIBUTE_MAX_PERSISTING_L2_CACHE_SIZE: return p->l2_bytes / 2;
    case CU_DEVICE_ATTRIBUTE_RESERVED_SHARED_MEMORY_PER_BLOCK: return 1024;
    case CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED: return 1;
    case CU_DEVICE_ATTRIBUTE_CLUSTER_LAUNCH: return p->info.cc_major >= 9;
    case CU_DEVICE_ATTRIBUTE_MEM_SYNC_DOMAIN_COUNT: return p->info.cc_major >= 9 ? 4 : 1;
    default:
        if ((int)a <= 0 || a >= CU_DEVICE_ATTRIBUTE_MAX)
            *ok = 0;
        return 0;
    }
}

static CUresult sd_device_attr(int *pi, CUdevice_attribute a, CUdevice dev)
{
    CUresult r = sd_dev_check(dev);
    if (r)
        return r;
    if (!pi)
        return CUDA_ERROR_INVALID_VALUE;
    int ok;
    int v = sd_attr_value(a, dev, &ok);
    if (!ok)
        return CUDA_ERROR_INVALID_VALUE;
    *pi = v;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev)
{
    SD_API(cuDeviceGetAttribute, sd_device_attr(pi, attrib, dev));
}

static CUresult sd_device_cc(int *major, int *minor, CUdevice dev)
{
    CUresult r = sd_dev_check(dev);
    if (r)
        return r;
    if (!major || !minor)
        return CUDA_ERROR_INVALID_VALUE;
    *major = sd.dev.info.cc_major;
    *minor = sd.dev.info.cc_minor;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceComputeCapability(int *major, int *minor, CUdevice dev)
{
    SD_API(cuDeviceComputeCapability, sd_device_cc(major, minor, dev));
}

static CUresult sd_device_pci(char *id, int len, CUdevice dev)
{
    CUresult r = sd_dev_check(dev);
    if (r)
        return r;
    if (!id || len <= 0)
        return CUDA_ERROR_INVALID_VALUE;
    snprintf(id, (size_t)len, "00000000:%02X:00.0", 0x10 + dev);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetPCIBusId(char *pciBusId, int len, CUdevice dev)
{
    SD_API(cuDeviceGetPCIBusId, sd_device_pci(pciBusId, len, dev));
}

static CUresult sd_device_by_pci(CUdevice *dev, const char *id)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!dev || !id)
        return CUDA_ERROR_INVALID_VALUE;
    for (int d = 0; d < sd.ndev; d++) {
        char buf[32];
        snprintf(buf, sizeof(buf), "00000000:%02X:00.0", 0x10 + d);
        if (strcasecmp(buf, id) == 0 || strcasecmp(buf + 4, id) == 0) {
            *dev = d;
            return CUDA_SUCCESS;
        }
    }
    return CUDA_ERROR_INVALID_DEVICE;
}

CUresult CUDAAPI cuDeviceGetByPCIBusId(CUdevice *dev, const char *pciBusId)
{
    SD_API(cuDeviceGetByPCIBusId, sd_device_by_pci(dev, pciBusId));
}

static CUresult sd_can_access_peer(int *can, CUdevice dev, CUdevice peer)
{
    CUresult r = sd_dev_check(dev);
    if (!r)
        r = sd_dev_check(peer);
    if (r)
        return r;
    if (!can)
        return CUDA_ERROR_INVALID_VALUE;
    *can = dev != peer;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceCanAccessPeer(int *canAccessPeer, CUdevice dev, CUdevice peerDev)
{
    SD_API(cuDeviceCanAccessPeer, sd_can_access_peer(canAccessPeer, dev, peerDev));
}

/* ---- contexts ---- */

int sd_ctx_valid(CUcontext c)
{
    return c && c->magic == SD_MAGIC_CTX;
}

CUresult sd_current_ctx(struct CUctx_st **out)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (sd_ctx_depth == 0 || !sd_ctx_valid(sd_ctx_stack[sd_ctx_depth - 1]))
        return CUDA_ERROR_INVALID_CONTEXT;
    *out = sd_ctx_stack[sd_ctx_depth - 1];
    return CUDA_SUCCESS;
}

static struct CUctx_st *sd_ctx_new(int device, int primary, unsigned flags)
{
    struct CUctx_st *c = sd_xcalloc(1, sizeof(*c));
    c->magic = SD_MAGIC_CTX;
    c->id = ++sd.next_ctx_id;
    c->device = device;
    c->primary = primary;
    c->flags = flags;
    /* The legacy default stream of the context. */
    struct CUstream_st *s = sd_xcalloc(1, sizeof(*s));
    s->magic = SD_MAGIC_STREAM;
    s->kind = SD_STREAM_LEGACY;
    s->ctx = c;
    s->id = ++sd.next_stream_id;
    SD_VEC_PUSH(&sd.streams, s);
    c->legacy = s;
    return c;
}

static CUresult sd_primary_retain(CUcontext *pctx, CUdevice dev)
{
    CUresult r = sd_dev_check(dev);
    if (r)
        return r;
    if (!pctx)
        return CUDA_ERROR_INVALID_VALUE;
    if (!sd.primary[dev])
        sd.primary[dev] = sd_ctx_new(dev, 1, 0);
    sd.primary_refs[dev]++;
    *pctx = sd.primary[dev];
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)
{
    SD_API(cuDevicePrimaryCtxRetain, sd_primary_retain(pctx, dev));
}

static CUresult sd_primary_release(CUdevice dev)
{
    CUresult r = sd_dev_check(dev);
    if (r)
        return r;
    if (sd.primary_refs[dev] <= 0)
        return CUDA_ERROR_INVALID_CONTEXT;
    /* The context object stays (handles stay valid for the process): only the count drops,
     * after finishing its work as a release of the last reference would. */
    if (--sd.primary_refs[dev] == 0 && sd.primary[dev])
        sd_ctx_host_wait(sd.primary[dev]);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDevicePrimaryCtxRelease_v2(CUdevice dev)
{
    SD_API(cuDevicePrimaryCtxRelease_v2, sd_primary_release(dev));
}

static CUresult sd_primary_state(CUdevice dev, unsigned *flags, int *active)
{
    CUresult r = sd_dev_check(dev);
    if (r)
        return r;
    if (!flags || !active)
        return CUDA_ERROR_INVALID_VALUE;
    *flags = sd.primary[dev] ? sd.primary[dev]->flags : 0;
    *active = sd.primary_refs[dev] > 0;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDevicePrimaryCtxGetState(CUdevice dev, unsigned int *flags, int *active)
{
    SD_API(cuDevicePrimaryCtxGetState, sd_primary_state(dev, flags, active));
}

static CUresult sd_primary_set_flags(CUdevice dev, unsigned flags)
{
    CUresult r = sd_dev_check(dev);
    if (r)
        return r;
    if (!sd.primary[dev])
        sd.primary[dev] = sd_ctx_new(dev, 1, 0);
    sd.primary[dev]->flags = flags;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDevicePrimaryCtxSetFlags_v2(CUdevice dev, unsigned int flags)
{
    SD_API(cuDevicePrimaryCtxSetFlags_v2, sd_primary_set_flags(dev, flags));
}

static CUresult sd_primary_reset(CUdevice dev)
{
    CUresult r = sd_dev_check(dev);
    if (r)
        return r;
    if (sd.primary[dev])
        sd_ctx_host_wait(sd.primary[dev]);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDevicePrimaryCtxReset_v2(CUdevice dev)
{
    SD_API(cuDevicePrimaryCtxReset_v2, sd_primary_reset(dev));
}

static CUresult sd_ctx_create(CUcontext *pctx, unsigned flags, CUdevice dev)
{
    CUresult r = sd_dev_check(dev);
    if (r)
        return r;
    if (!pctx)
        return CUDA_ERROR_INVALID_VALUE;
    if (sd_ctx_depth >= SD_CTX_STACK)
        return CUDA_ERROR_OUT_OF_MEMORY;
    struct CUctx_st *c = sd_ctx_new(dev, 0, flags);
    sd_ctx_stack[sd_ctx_depth++] = c;
    *pctx = c;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
    SD_API(cuCtxCreate_v2, sd_ctx_create(pctx, flags, dev));
}

CUresult CUDAAPI cuCtxCreate_v3(CUcontext *pctx, CUexecAffinityParam *paramsArray, int numParams,
                                unsigned int flags, CUdevice dev)
{
    (void)paramsArray;
    (void)numParams;
    SD_API(cuCtxCreate_v3, sd_ctx_create(pctx, flags, dev));
}

CUresult CUDAAPI cuCtxCreate_v4(CUcontext *pctx, CUctxCreateParams *ctxCreateParams,
                                unsigned int flags, CUdevice dev)
{
    (void)ctxCreateParams;
    SD_API(cuCtxCreate_v4, sd_ctx_create(pctx, flags, dev));
}

static CUresult sd_ctx_destroy(CUcontext ctx)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!sd_ctx_valid(ctx))
        return CUDA_ERROR_INVALID_CONTEXT;
    if (ctx->primary)
        return CUDA_ERROR_INVALID_CONTEXT;
    sd_ctx_host_wait(ctx);
    for (int i = 0; i < sd_ctx_depth; i++)
        if (sd_ctx_stack[i] == ctx) {
            memmove(&sd_ctx_stack[i], &sd_ctx_stack[i + 1],
                    (size_t)(sd_ctx_depth - i - 1) * sizeof(sd_ctx_stack[0]));
            sd_ctx_depth--;
            i--;
        }
    /* Streams and events of the context become invalid handles; the context memory stays so
     * that stale handles fail the magic check instead of reading freed memory. */
    ctx->magic = SD_MAGIC_DEAD;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxDestroy_v2(CUcontext ctx)
{
    SD_API(cuCtxDestroy_v2, sd_ctx_destroy(ctx));
}

static CUresult sd_ctx_get_current(CUcontext *pctx)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!pctx)
        return CUDA_ERROR_INVALID_VALUE;
    *pctx = sd_ctx_depth ? sd_ctx_stack[sd_ctx_depth - 1] : NULL;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxGetCurrent(CUcontext *pctx)
{
    SD_API(cuCtxGetCurrent, sd_ctx_get_current(pctx));
}

static CUresult sd_ctx_set_current(CUcontext ctx)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!ctx) {
        if (sd_ctx_depth)
            sd_ctx_depth--;
        return CUDA_SUCCESS;
    }
    if (!sd_ctx_valid(ctx))
        return CUDA_ERROR_INVALID_CONTEXT;
    if (sd_ctx_depth)
        sd_ctx_stack[sd_ctx_depth - 1] = ctx;
    else
        sd_ctx_stack[sd_ctx_depth++] = ctx;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxSetCurrent(CUcontext ctx)
{
    SD_API(cuCtxSetCurrent, sd_ctx_set_current(ctx));
}

static CUresult sd_ctx_push(CUcontext ctx)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!sd_ctx_valid(ctx))
        return CUDA_ERROR_INVALID_CONTEXT;
    if (sd_ctx_depth >= SD_CTX_STACK)
        return CUDA_ERROR_OUT_OF_MEMORY;
    sd_ctx_stack[sd_ctx_depth++] = ctx;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxPushCurrent_v2(CUcontext ctx)
{
    SD_API(cuCtxPushCurrent_v2, sd_ctx_push(ctx));
}

static CUresult sd_ctx_pop(CUcontext *pctx)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!sd_ctx_depth)
        return CUDA_ERROR_INVALID_CONTEXT;
    struct CUctx_st *c = sd_ctx_stack[--sd_ctx_depth];
    if (pctx)
        *pctx = c;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxPopCurrent_v2(CUcontext *pctx)
{
    SD_API(cuCtxPopCurrent_v2, sd_ctx_pop(pctx));
}

static CUresult sd_ctx_get_device(CUdevice *dev, CUcontext ctx)
{
    CUresult r = ctx ? sd_check_init() : sd_current_ctx(&ctx);
    if (r)
        return r;
    if (!sd_ctx_valid(ctx))
        return CUDA_ERROR_INVALID_CONTEXT;
    if (!dev)
        return CUDA_ERROR_INVALID_VALUE;
    *dev = ctx->device;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxGetDevice(CUdevice *device)
{
    SD_API(cuCtxGetDevice, sd_ctx_get_device(device, NULL));
}

CUresult CUDAAPI cuCtxGetDevice_v2(CUdevice *device, CUcontext ctx)
{
    SD_API(cuCtxGetDevice_v2, sd_ctx_get_device(device, ctx));
}

static CUresult sd_ctx_sync(CUcontext ctx)
{
    CUresult r = ctx ? sd_check_init() : sd_current_ctx(&ctx);
    if (r)
        return r;
    if (!sd_ctx_valid(ctx))
        return CUDA_ERROR_INVALID_CONTEXT;
    r = sd_capture_check_ctx(ctx);
    if (r)
        return r;
    r = sd_capture_check_unsafe();
    if (r)
        return r;
    sd_ctx_host_wait(ctx);
    return ctx->sticky;
}

CUresult CUDAAPI cuCtxSynchronize(void)
{
    SD_API(cuCtxSynchronize, sd_ctx_sync(NULL));
}

CUresult CUDAAPI cuCtxSynchronize_v2(CUcontext ctx)
{
    SD_API(cuCtxSynchronize_v2, sd_ctx_sync(ctx));
}

static CUresult sd_ctx_get_flags(unsigned *flags)
{
    struct CUctx_st *c;
    CUresult r = sd_current_ctx(&c);
    if (r)
        return r;
    if (!flags)
        return CUDA_ERROR_INVALID_VALUE;
    *flags = c->flags;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxGetFlags(unsigned int *flags)
{
    SD_API(cuCtxGetFlags, sd_ctx_get_flags(flags));
}

static CUresult sd_ctx_set_flags(unsigned flags)
{
    struct CUctx_st *c;
    CUresult r = sd_current_ctx(&c);
    if (r)
        return r;
    c->flags = flags;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxSetFlags(unsigned int flags)
{
    SD_API(cuCtxSetFlags, sd_ctx_set_flags(flags));
}

static CUresult sd_ctx_get_id(CUcontext ctx, unsigned long long *id)
{
    CUresult r = ctx ? sd_check_init() : sd_current_ctx(&ctx);
    if (r)
        return r;
    if (!sd_ctx_valid(ctx))
        return CUDA_ERROR_INVALID_CONTEXT;
    if (!id)
        return CUDA_ERROR_INVALID_VALUE;
    *id = ctx->id;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxGetId(CUcontext ctx, unsigned long long *ctxId)
{
    SD_API(cuCtxGetId, sd_ctx_get_id(ctx, ctxId));
}

static CUresult sd_ctx_api_version(CUcontext ctx, unsigned *v)
{
    CUresult r = ctx ? sd_check_init() : sd_current_ctx(&ctx);
    if (r)
        return r;
    if (!v)
        return CUDA_ERROR_INVALID_VALUE;
    *v = 3020;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxGetApiVersion(CUcontext ctx, unsigned int *version)
{
    SD_API(cuCtxGetApiVersion, sd_ctx_api_version(ctx, version));
}

static CUresult sd_ctx_prio_range(int *least, int *greatest)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (least)
        *least = 0;
    if (greatest)
        *greatest = -5;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxGetStreamPriorityRange(int *leastPriority, int *greatestPriority)
{
    SD_API(cuCtxGetStreamPriorityRange, sd_ctx_prio_range(leastPriority, greatestPriority));
}

static size_t sd_limits[CU_LIMIT_MAX];

static CUresult sd_ctx_limit(CUlimit limit, size_t *get, const size_t *set)
{
    struct CUctx_st *c;
    CUresult r = sd_current_ctx(&c);
    if (r)
        return r;
    if ((int)limit < 0 || limit >= CU_LIMIT_MAX)
        return CUDA_ERROR_UNSUPPORTED_LIMIT;
    if (set) {
        sd_limits[limit] = *set;
        return CUDA_SUCCESS;
    }
    if (!get)
        return CUDA_ERROR_INVALID_VALUE;
    static const size_t dflt[CU_LIMIT_MAX] = {[CU_LIMIT_STACK_SIZE] = 1024,
                                              [CU_LIMIT_PRINTF_FIFO_SIZE] = 1 << 20,
                                              [CU_LIMIT_MALLOC_HEAP_SIZE] = 8 << 20,
                                              [CU_LIMIT_DEV_RUNTIME_PENDING_LAUNCH_COUNT] = 2048,
                                              [CU_LIMIT_MAX_L2_FETCH_GRANULARITY] = 64};
    *get = sd_limits[limit] ? sd_limits[limit] : dflt[limit];
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxGetLimit(size_t *pvalue, CUlimit limit)
{
    SD_API(cuCtxGetLimit, sd_ctx_limit(limit, pvalue, NULL));
}

CUresult CUDAAPI cuCtxSetLimit(CUlimit limit, size_t value)
{
    SD_API(cuCtxSetLimit, sd_ctx_limit(limit, NULL, &value));
}

static CUresult sd_ctx_cache_config(CUfunc_cache *get)
{
    struct CUctx_st *c;
    CUresult r = sd_current_ctx(&c);
    if (r)
        return r;
    if (get)
        *get = CU_FUNC_CACHE_PREFER_NONE;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxGetCacheConfig(CUfunc_cache *pconfig)
{
    if (!pconfig)
        return CUDA_ERROR_INVALID_VALUE;
    SD_API(cuCtxGetCacheConfig, sd_ctx_cache_config(pconfig));
}

CUresult CUDAAPI cuCtxSetCacheConfig(CUfunc_cache config)
{
    (void)config;
    SD_API(cuCtxSetCacheConfig, sd_ctx_cache_config(NULL));
}

static CUresult sd_ctx_peer(CUcontext peer)
{
    struct CUctx_st *c;
    CUresult r = sd_current_ctx(&c);
    if (r)
        return r;
    return sd_ctx_valid(peer) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT;
}

CUresult CUDAAPI cuCtxEnablePeerAccess(CUcontext peerContext, unsigned int Flags)
{
    (void)Flags;
    SD_API(cuCtxEnablePeerAccess, sd_ctx_peer(peerContext));
}

CUresult CUDAAPI cuCtxDisablePeerAccess(CUcontext peerContext)
{
    SD_API(cuCtxDisablePeerAccess, sd_ctx_peer(peerContext));
}

/* ---- error names and strings ---- */

typedef struct {
    CUresult code;
    const char *name;
} sd_errname_t;

static const sd_errname_t sd_errnames[] = {
#define SD_ERR(n) {n, #n},
#include "sd_errors.def"
#undef SD_ERR
};

#define SD_NERR (sizeof(sd_errnames) / sizeof(sd_errnames[0]))
static char sd_errstr[SD_NERR][96];

static int sd_err_index(CUresult e)
{
    for (size_t i = 0; i < SD_NERR; i++)
        if (sd_errnames[i].code == e)
            return (int)i;
    return -1;
}

CUresult CUDAAPI cuGetErrorName(CUresult error, const char **pStr)
{
    if (!pStr)
        return CUDA_ERROR_INVALID_VALUE;
    int i = sd_err_index(error);
    if (i < 0) {
        *pStr = NULL;
        return CUDA_ERROR_INVALID_VALUE;
    }
    *pStr = sd_errnames[i].name;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGetErrorString(CUresult error, const char **pStr)
{
    if (!pStr)
        return CUDA_ERROR_INVALID_VALUE;
    int i = sd_err_index(error);
    if (i < 0) {
        *pStr = NULL;
        return CUDA_ERROR_INVALID_VALUE;
    }
    pthread_mutex_lock(&sd.lock);
    if (!sd_errstr[i][0]) {
        /* The description is the name in words: CUDA_ERROR_INVALID_VALUE -> "invalid value". */
        const char *n = sd_errnames[i].name;
        if (error == CUDA_SUCCESS)
            snprintf(sd_errstr[i], sizeof(sd_errstr[i]), "no error");
        else {
            n += strncmp(n, "CUDA_ERROR_", 11) == 0 ? 11 : 5;
            size_t k = 0;
            for (; n[k] && k + 1 < sizeof(sd_errstr[i]); k++)
                sd_errstr[i][k] = n[k] == '_' ? ' ' : (char)(n[k] >= 'A' && n[k] <= 'Z' ? n[k] + 32 : n[k]);
            sd_errstr[i][k] = 0;
        }
    }
    pthread_mutex_unlock(&sd.lock);
    *pStr = sd_errstr[i];
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGetExportTable(const void **ppExportTable, const CUuuid *pExportTableId)
{
    (void)pExportTableId;
    if (ppExportTable)
        *ppExportTable = NULL;
    return CUDA_ERROR_NOT_SUPPORTED;
}

/* ---- profiler control: without an attached profiler these do nothing, as on a GPU ---- */

CUresult CUDAAPI cuProfilerInitialize(const char *configFile, const char *outputFile, CUoutput_mode outputMode)
{
    (void)configFile;
    (void)outputFile;
    (void)outputMode;
    SD_API(cuProfilerInitialize, sd_check_init());
}

CUresult CUDAAPI cuProfilerStart(void)
{
    SD_API(cuProfilerStart, sd_check_init());
}

CUresult CUDAAPI cuProfilerStop(void)
{
    SD_API(cuProfilerStop, sd_check_init());
}

/* ---- simdev_* ---- */

const simdev_device_info_t *simdev_device_info(void)
{
    pthread_mutex_lock(&sd.lock);
    int bad = sd_config_load();
    pthread_mutex_unlock(&sd.lock);
    return bad ? NULL : &sd.dev.info;
}

const simdev_fabric_info_t *simdev_fabric_info(void)
{
    pthread_mutex_lock(&sd.lock);
    int bad = sd_config_load();
    pthread_mutex_unlock(&sd.lock);
    return bad ? NULL : &sd.fab.info;
}

int simdev_compute_mode(void)
{
    pthread_mutex_lock(&sd.lock);
    int bad = sd_config_load();
    pthread_mutex_unlock(&sd.lock);
    return bad ? 1 : sd.compute;
}

double simdev_now_us(void)
{
    pthread_mutex_lock(&sd.lock);
    double t = sd.host_now;
    pthread_mutex_unlock(&sd.lock);
    return t;
}

void simdev_host_advance_us(double us)
{
    if (!(us > 0))
        return;
    pthread_mutex_lock(&sd.lock);
    sd.host_now += us;
    pthread_mutex_unlock(&sd.lock);
}

int simdev_activity_subscribe(simdev_activity_fn fn, void *user)
{
    if (!fn)
        return -1;
    pthread_mutex_lock(&sd.lock);
    sd_act_listener_t l = {fn, user, sd.next_handle++};
    SD_VEC_PUSH(&sd.act, l);
    pthread_mutex_unlock(&sd.lock);
    return l.handle;
}

void simdev_activity_unsubscribe(int handle)
{
    pthread_mutex_lock(&sd.lock);
    for (size_t i = 0; i < sd.act.n; i++)
        if (sd.act.v[i].handle == handle) {
            memmove(&sd.act.v[i], &sd.act.v[i + 1], (sd.act.n - i - 1) * sizeof(sd.act.v[0]));
            sd.act.n--;
            break;
        }
    pthread_mutex_unlock(&sd.lock);
}

int simdev_event_subscribe(simdev_event_fn fn, void *user)
{
    if (!fn)
        return -1;
    pthread_mutex_lock(&sd.lock);
    sd_ev_listener_t l = {fn, user, sd.next_handle++};
    SD_VEC_PUSH(&sd.ev, l);
    pthread_mutex_unlock(&sd.lock);
    return l.handle;
}

void simdev_event_unsubscribe(int handle)
{
    pthread_mutex_lock(&sd.lock);
    for (size_t i = 0; i < sd.ev.n; i++)
        if (sd.ev.v[i].handle == handle) {
            memmove(&sd.ev.v[i], &sd.ev.v[i + 1], (sd.ev.n - i - 1) * sizeof(sd.ev.v[0]));
            sd.ev.n--;
            break;
        }
    pthread_mutex_unlock(&sd.lock);
}
