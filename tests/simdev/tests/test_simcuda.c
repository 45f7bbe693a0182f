/* Check suite of the simulated libcuda.so.1: driver semantics as CUDA documents them (memory,
 * kernels, streams, events, stream capture and its invalidation rules, graphs, exec update,
 * cuGetProcAddress), virtual time, the activity feed and the race checker.
 *
 * The simulated device lives in this process, so the suite runs without Check's fork
 * (CK_FORK=no semantics are forced). Scenarios that must end the process (a fatal race) or need
 * another mode (timing-only) re-execute this program as a child: test_simcuda --child NAME. */
#include <check.h>
#include <cuda.h>
#include <cudaProfiler.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sd_test.h"

/* Outside the Check runner (set-up, re-executed children) assertions must not use Check. */
static int g_in_check;
static char g_self[4096]; /* this program, to re-execute as a child */

#define CU_EQ(call, expect)                                                                        \
    do {                                                                                           \
        CUresult r_ = (call);                                                                      \
        if (g_in_check)                                                                            \
            ck_assert_msg(r_ == (expect), "%s returned %d, expected %d", #call, (int)r_, (int)(expect)); \
        else if (r_ != (expect)) {                                                                 \
            fprintf(stderr, "%s:%d: %s returned %d\n", __FILE__, __LINE__, #call, (int)r_);         \
            exit(2);                                                                               \
        }                                                                                          \
    } while (0)
#define CU(call) CU_EQ(call, CUDA_SUCCESS)

static CUcontext g_ctx;
static CUmodule g_mod;
static CUfunction f_fill, f_axpy, f_spin, f_comm, f_bad;

/* ---- helpers ---- */

static void fill(CUstream s, CUdeviceptr x, float v, int n)
{
    void *args[] = {&x, &v, &n};
    CU(cuLaunchKernel(f_fill, 1, 1, 1, 32, 1, 1, 0, s, args, NULL));
}

static void axpy(CUstream s, CUdeviceptr y, CUdeviceptr x, float a, int n)
{
    void *args[] = {&y, &x, &a, &n};
    CU(cuLaunchKernel(f_axpy, 1, 1, 1, 32, 1, 1, 0, s, args, NULL));
}

/* A kernel whose isolated duration is us; blocks decides how much of the device it can use. */
static void spin(CUstream s, CUdeviceptr x, double us, unsigned blocks)
{
    void *args[] = {&x, &us};
    CU(cuLaunchKernel(f_spin, blocks, 1, 1, 256, 1, 1, 0, s, args, NULL));
}

static void comm(CUstream s, CUdeviceptr x, double us)
{
    void *args[] = {&x, &us};
    CU(cuLaunchKernel(f_comm, 1, 1, 1, 32, 1, 1, 0, s, args, NULL));
}

static CUdeviceptr dalloc(size_t n)
{
    CUdeviceptr p;
    CU(cuMemAlloc(&p, n));
    return p;
}

static float dget(CUdeviceptr p, size_t i)
{
    float v;
    CU(cuMemcpyDtoH(&v, p + i * sizeof(float), sizeof(float)));
    return v;
}

static float elapsed_ms(CUevent a, CUevent b)
{
    float ms = -1;
    CU(cuEventElapsedTime(&ms, a, b));
    return ms;
}

/* Everything written to stderr between begin and end. */
static int g_saved_fd = -1;
static char g_err_path[64];

static void stderr_begin(void)
{
    snprintf(g_err_path, sizeof(g_err_path), "/tmp/simcuda-err-XXXXXX");
    int fd = mkstemp(g_err_path);
    ck_assert_int_ge(fd, 0);
    fflush(stderr);
    g_saved_fd = dup(2);
    dup2(fd, 2);
    close(fd);
}

static char *stderr_end(void)
{
    fflush(stderr);
    dup2(g_saved_fd, 2);
    close(g_saved_fd);
    FILE *f = fopen(g_err_path, "r");
    static char buf[16384];
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    buf[n] = 0;
    if (f)
        fclose(f);
    unlink(g_err_path);
    return buf;
}

/* Activity records collected while a test listens. */
#define MAX_ACT 256
static simdev_activity_t g_act[MAX_ACT];
static char g_act_names[MAX_ACT][64];
static int g_nact;

static void on_act(const simdev_activity_t *a, void *user)
{
    (void)user;
    if (g_nact < MAX_ACT) {
        g_act[g_nact] = *a;
        snprintf(g_act_names[g_nact], sizeof(g_act_names[0]), "%s", a->name);
        g_nact++;
    }
}

static void setup_env(void)
{
    static const char *vars[] = {"SIMDEV_MODE", "SIMDEV_RACE", "SIMDEV_DEVICE", "SIMDEV_FABRIC",
                                 "SIMDEV_SHARING", "SIMDEV_TRACE", "SIMDEV_PROVIDERS", "SIMDEV_DEVICES",
                                 "SIMDEV_COMM_SM_SHARE", "SIMDEV_INTERFERENCE", "SIMDEV_LOG", NULL};
    for (int i = 0; vars[i]; i++)
        unsetenv(vars[i]);
    setenv("SIMDEV_DEVICE", "a100", 1);
    setenv("SIMDEV_FABRIC", "p4de", 1);
}

static void setup_device(void)
{
    sd_test_register();
    CU(cuInit(0));
    CUdevice dev;
    CU(cuDeviceGet(&dev, 0));
    CU(cuDevicePrimaryCtxRetain(&g_ctx, dev));
    CU(cuCtxSetCurrent(g_ctx));
    static const char image[] = "not a real cubin: the simulated driver never reads it";
    CU(cuModuleLoadData(&g_mod, image));
    CU(cuModuleGetFunction(&f_fill, g_mod, "simdev_test_fill"));
    CU(cuModuleGetFunction(&f_axpy, g_mod, "simdev_test_axpy"));
    CU(cuModuleGetFunction(&f_spin, g_mod, "simdev_test_spin"));
    CU(cuModuleGetFunction(&f_comm, g_mod, "simdev_test_comm"));
    CU(cuModuleGetFunction(&f_bad, g_mod, "simdev_test_bad"));
}

/* Two branches of a graph both write x: the planted race. */
static CUgraph racy_graph(CUdeviceptr x)
{
    CUgraph g;
    CU(cuGraphCreate(&g, 0));
    CUgraphNode root, a, b;
    CU(cuGraphAddEmptyNode(&root, g, NULL, 0));
    float v1 = 1, v2 = 2;
    int n = 64;
    void *args1[] = {&x, &v1, &n}, *args2[] = {&x, &v2, &n};
    CUDA_KERNEL_NODE_PARAMS p;
    memset(&p, 0, sizeof(p));
    p.func = f_fill;
    p.gridDimX = p.gridDimY = p.gridDimZ = 1;
    p.blockDimX = 32;
    p.blockDimY = p.blockDimZ = 1;
    p.kernelParams = args1;
    CU(cuGraphAddKernelNode(&a, g, &root, 1, &p));
    p.kernelParams = args2;
    CU(cuGraphAddKernelNode(&b, g, &root, 1, &p));
    return g;
}

/* ---- device, context, errors ---- */

START_TEST(test_device)
{
    int v = 0;
    CU(cuDriverGetVersion(&v));
    ck_assert_int_eq(v, 13000);
    int n = 0;
    CU(cuDeviceGetCount(&n));
    ck_assert_int_eq(n, 8); /* p4de: 8 GPUs per node */
    CUdevice d;
    CU(cuDeviceGet(&d, 0));
    CU_EQ(cuDeviceGet(&d, 8), CUDA_ERROR_INVALID_DEVICE);
    char name[128];
    CU(cuDeviceGetName(name, sizeof(name), 0));
    ck_assert_ptr_nonnull(strstr(name, "A100"));
    CU(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0));
    ck_assert_int_eq(v, 108);
    CU(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, 0));
    ck_assert_int_eq(v, 8);
    CU(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_WARP_SIZE, 0));
    ck_assert_int_eq(v, 32);
    CU_EQ(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_MAX, 0), CUDA_ERROR_INVALID_VALUE);
    size_t mem;
    CU(cuDeviceTotalMem(&mem, 0));
    ck_assert_uint_eq(mem, 85899345920ull);
    CUuuid u0, u0b, u1;
    CU(cuDeviceGetUuid(&u0, 0));
    CU(cuDeviceGetUuid(&u0b, 0));
    CU(cuDeviceGetUuid(&u1, 1));
    ck_assert_int_eq(memcmp(&u0, &u0b, sizeof(u0)), 0);
    ck_assert_int_ne(memcmp(&u0, &u1, sizeof(u0)), 0);
    const simdev_device_info_t *di = simdev_device_info();
    ck_assert_ptr_nonnull(di);
    ck_assert_int_eq(di->sms, 108);
    ck_assert_str_eq(di->name, "a100");
    ck_assert(di->flops_f16 > di->flops_f32);
    const simdev_fabric_info_t *fi = simdev_fabric_info();
    ck_assert_ptr_nonnull(fi);
    ck_assert_int_eq(fi->gpus_per_node, 8);
    ck_assert_int_eq(fi->nics_per_node, 4);
    ck_assert_str_eq(fi->device, "a100");
    ck_assert_int_eq(simdev_compute_mode(), 1);
}
END_TEST

START_TEST(test_context)
{
    CUcontext c = NULL, c2, popped;
    CU(cuCtxGetCurrent(&c));
    ck_assert_ptr_eq(c, g_ctx);
    CU(cuCtxCreate(&c2, NULL, 0, 1));
    CU(cuCtxGetCurrent(&c));
    ck_assert_ptr_eq(c, c2);
    CUdevice d;
    CU(cuCtxGetDevice(&d));
    ck_assert_int_eq(d, 1);
    CU(cuCtxPopCurrent(&popped));
    ck_assert_ptr_eq(popped, c2);
    CU(cuCtxGetCurrent(&c));
    ck_assert_ptr_eq(c, g_ctx);
    CU(cuCtxDestroy(c2));
    CU_EQ(cuCtxPushCurrent(c2), CUDA_ERROR_INVALID_CONTEXT);
    unsigned long long id;
    CU(cuCtxGetId(g_ctx, &id));
    ck_assert_uint_gt(id, 0);
    int lo, hi;
    CU(cuCtxGetStreamPriorityRange(&lo, &hi));
    ck_assert_int_lt(hi, lo);
    CU(cuCtxSynchronize());
}
END_TEST

START_TEST(test_errors)
{
    const char *s = NULL;
    CU(cuGetErrorName(CUDA_ERROR_INVALID_VALUE, &s));
    ck_assert_str_eq(s, "CUDA_ERROR_INVALID_VALUE");
    CU(cuGetErrorString(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, &s));
    ck_assert_str_eq(s, "stream capture invalidated");
    CU(cuGetErrorString(CUDA_SUCCESS, &s));
    ck_assert_str_eq(s, "no error");
    CU_EQ(cuGetErrorName((CUresult)12345, &s), CUDA_ERROR_INVALID_VALUE);
    ck_assert_ptr_null(s);
    const void *tbl = (const void *)1;
    CUuuid id;
    memset(&id, 0, sizeof(id));
    CU_EQ(cuGetExportTable(&tbl, &id), CUDA_ERROR_NOT_SUPPORTED);
}
END_TEST

/* ---- memory ---- */

START_TEST(test_memory)
{
    enum { N = 1000 };
    size_t free0, total, free1;
    CU(cuMemGetInfo(&free0, &total));
    CUdeviceptr a = dalloc(N * sizeof(float)), b = dalloc(N * sizeof(float));
    ck_assert_uint_eq(a % 256, 0);
    CU(cuMemGetInfo(&free1, &total));
    ck_assert_uint_eq(free0 - free1, 2 * 4096);
    float h[N], r[N];
    for (int i = 0; i < N; i++)
        h[i] = (float)i * 0.5f;
    CU(cuMemcpyHtoD(a, h, sizeof(h)));
    CU(cuMemcpyDtoD(b, a, sizeof(h)));
    memset(r, 0, sizeof(r));
    CU(cuMemcpyDtoH(r, b, sizeof(r)));
    ck_assert_int_eq(memcmp(h, r, sizeof(h)), 0);
    /* Generic copy with unified addressing. */
    CU(cuMemcpy((CUdeviceptr)(uintptr_t)r, a + 4 * sizeof(float), sizeof(float)));
    ck_assert(r[0] == 2.0f);
    /* Memsets. */
    CU(cuMemsetD32(a, 0x3f800000u, N)); /* 1.0f */
    ck_assert(dget(a, N - 1) == 1.0f);
    CU(cuMemsetD8(a, 0, 4));
    ck_assert(dget(a, 0) == 0.0f);
    CU(cuMemsetD16Async(a, 0x3f80, 2, NULL)); /* bytes 80 3f 80 3f */
    unsigned char bytes[4];
    CU(cuMemcpyDtoH(bytes, a, 4));
    ck_assert_int_eq(bytes[0], 0x80);
    ck_assert_int_eq(bytes[1], 0x3f);
    CU_EQ(cuMemsetD32(a + 4, 0, N), CUDA_ERROR_INVALID_VALUE); /* past the end */
    /* Address ranges and pointer attributes. */
    CUdeviceptr base;
    size_t size;
    CU(cuMemGetAddressRange(&base, &size, a + 100));
    ck_assert_uint_eq(base, a);
    ck_assert_uint_eq(size, N * sizeof(float));
    CU_EQ(cuMemGetAddressRange(&base, &size, (CUdeviceptr)(uintptr_t)h), CUDA_ERROR_NOT_FOUND);
    unsigned type = 0;
    CU(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, a + 8));
    ck_assert_uint_eq(type, CU_MEMORYTYPE_DEVICE);
    unsigned long long id_a, id_b;
    CU(cuPointerGetAttribute(&id_a, CU_POINTER_ATTRIBUTE_BUFFER_ID, a));
    CU(cuPointerGetAttribute(&id_b, CU_POINTER_ATTRIBUTE_BUFFER_ID, b));
    ck_assert_uint_ne(id_a, id_b);
    CUcontext pc = NULL;
    CUpointer_attribute attrs[] = {CU_POINTER_ATTRIBUTE_MEMORY_TYPE, CU_POINTER_ATTRIBUTE_CONTEXT};
    void *data[] = {&type, &pc};
    CU(cuPointerGetAttributes(2, attrs, data, (CUdeviceptr)(uintptr_t)h));
    ck_assert_uint_eq(type, 0); /* unknown (pageable) host memory */
    CU_EQ(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, (CUdeviceptr)(uintptr_t)h),
          CUDA_ERROR_INVALID_VALUE);
    /* Page-locked host memory. */
    float *pinned;
    CU(cuMemAllocHost((void **)&pinned, sizeof(h)));
    CU(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, (CUdeviceptr)(uintptr_t)pinned));
    ck_assert_uint_eq(type, CU_MEMORYTYPE_HOST);
    CU(cuMemcpyDtoHAsync(pinned, b, sizeof(h), NULL));
    CU(cuStreamSynchronize(NULL));
    ck_assert(pinned[N - 1] == h[N - 1]);
    CU(cuMemFreeHost(pinned));
    /* 2D copy with pitches. */
    float grid[4][8];
    for (int i = 0; i < 32; i++)
        grid[i / 8][i % 8] = (float)i;
    CUDA_MEMCPY2D c2;
    memset(&c2, 0, sizeof(c2));
    c2.srcMemoryType = CU_MEMORYTYPE_HOST;
    c2.srcHost = grid;
    c2.srcPitch = 8 * sizeof(float);
    c2.srcXInBytes = 2 * sizeof(float);
    c2.dstMemoryType = CU_MEMORYTYPE_DEVICE;
    c2.dstDevice = b;
    c2.dstPitch = 4 * sizeof(float);
    c2.WidthInBytes = 4 * sizeof(float);
    c2.Height = 4;
    CU(cuMemcpy2D(&c2));
    ck_assert(dget(b, 0) == 2.0f);
    ck_assert(dget(b, 5) == 11.0f);
    ck_assert(dget(b, 15) == 29.0f);
    /* Stream-ordered allocation. */
    CUstream s;
    CU(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    CUdeviceptr c;
    CU(cuMemAllocAsync(&c, 1024, s));
    fill(s, c, 7.0f, 256);
    CU(cuMemcpyDtoDAsync(a, c, 1024, s));
    CU(cuMemFreeAsync(c, s));
    CU_EQ(cuMemFreeAsync(c, s), CUDA_ERROR_INVALID_VALUE); /* already being freed */
    CU(cuStreamSynchronize(s));
    ck_assert(dget(a, 255) == 7.0f);
    CU(cuStreamDestroy(s));
    CU_EQ(cuMemFree(a + 4), CUDA_ERROR_INVALID_VALUE);
    CU(cuMemFree(a));
    CU(cuMemFree(b));
    CU_EQ(cuMemAlloc(&a, 0), CUDA_ERROR_INVALID_VALUE);
    stderr_begin();
    CUresult oom = cuMemAlloc(&a, (size_t)1 << 40);
    char *err = stderr_end();
    ck_assert_int_eq(oom, CUDA_ERROR_OUT_OF_MEMORY);
    ck_assert_msg(strstr(err, "out of memory") != NULL, "stderr: %.2000s", err);
}
END_TEST

/* A pageable source of an asynchronous copy may be reused as soon as the call returns. */
START_TEST(test_async_pageable_copy)
{
    CUdeviceptr a = dalloc(16);
    CUstream s;
    CU(cuStreamCreate(&s, 0));
    CUdeviceptr big = dalloc(4);
    spin(s, big, 500, 1); /* keeps the copy waiting */
    float v = 1.0f;
    CU(cuMemcpyHtoDAsync(a, &v, sizeof(v), s));
    v = 2.0f;
    CU(cuStreamSynchronize(s));
    ck_assert(dget(a, 0) == 1.0f);
    CU(cuStreamDestroy(s));
    CU(cuMemFree(a));
    CU(cuMemFree(big));
}
END_TEST

/* ---- kernels ---- */

START_TEST(test_kernel_launch)
{
    enum { N = 100 };
    CUdeviceptr x = dalloc(N * 4), y = dalloc(N * 4);
    fill(NULL, x, 2.0f, N);
    fill(NULL, y, 1.0f, N);
    axpy(NULL, y, x, 3.0f, N);
    CU(cuCtxSynchronize());
    ck_assert(dget(y, 0) == 7.0f);
    ck_assert(dget(y, N - 1) == 7.0f);
    /* The parameter-buffer form of extra: offsets as cuFuncGetParamInfo reports them. */
    size_t off[4], sz[4];
    for (int i = 0; i < 4; i++)
        CU(cuFuncGetParamInfo(f_axpy, (size_t)i, &off[i], &sz[i]));
    ck_assert_uint_eq(off[0], 0);
    ck_assert_uint_eq(off[1], 8);
    ck_assert_uint_eq(off[2], 16);
    ck_assert_uint_eq(off[3], 20);
    ck_assert_uint_eq(sz[2], 4);
    CU_EQ(cuFuncGetParamInfo(f_axpy, 4, &off[0], &sz[0]), CUDA_ERROR_INVALID_VALUE);
    unsigned char buf[24];
    float a = -1.0f;
    int n = N;
    memcpy(buf + off[0], &y, 8);
    memcpy(buf + off[1], &x, 8);
    memcpy(buf + off[2], &a, 4);
    memcpy(buf + off[3], &n, 4);
    size_t bsz = sizeof(buf);
    void *extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, buf, CU_LAUNCH_PARAM_BUFFER_SIZE, &bsz, CU_LAUNCH_PARAM_END};
    CU(cuLaunchKernel(f_axpy, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, extra));
    /* cuLaunchKernelEx with an attribute. */
    CUlaunchAttribute at;
    memset(&at, 0, sizeof(at));
    at.id = CU_LAUNCH_ATTRIBUTE_PRIORITY;
    at.value.priority = -1;
    CUlaunchConfig cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.gridDimX = cfg.gridDimY = cfg.gridDimZ = 1;
    cfg.blockDimX = 32;
    cfg.blockDimY = cfg.blockDimZ = 1;
    cfg.attrs = &at;
    cfg.numAttrs = 1;
    void *args[] = {&y, &x, &a, &n};
    CU(cuLaunchKernelEx(&cfg, f_axpy, args, NULL));
    CU(cuCtxSynchronize());
    ck_assert(dget(y, 3) == 3.0f);
    /* Names and errors. */
    const char *name;
    CU(cuFuncGetName(&name, f_axpy));
    ck_assert_str_eq(name, "simdev_test_axpy");
    CUfunction f;
    CU_EQ(cuModuleGetFunction(&f, g_mod, "no_such_kernel"), CUDA_ERROR_NOT_FOUND);
    int bad = 1;
    void *bargs[] = {&bad};
    CU_EQ(cuLaunchKernel(f_bad, 1, 1, 1, 1, 1, 1, 0, NULL, bargs, NULL), CUDA_ERROR_INVALID_VALUE);
    CU_EQ(cuLaunchKernel(f_axpy, 0, 1, 1, 32, 1, 1, 0, NULL, args, NULL), CUDA_ERROR_INVALID_VALUE);
    CU_EQ(cuLaunchKernel(f_axpy, 1, 1, 1, 2048, 1, 1, 0, NULL, args, NULL), CUDA_ERROR_INVALID_VALUE);
    CU_EQ(cuLaunchKernel(f_axpy, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL), CUDA_ERROR_INVALID_VALUE);
    int attr;
    CU(cuFuncGetAttribute(&attr, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, f_axpy));
    ck_assert_int_eq(attr, 1024);
    CU(cuFuncSetAttribute(f_axpy, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 100000));
    /* Occupancy follows the thread limit of the profile (2048 per SM, 108 SMs). */
    int blocks, min_grid, bsize;
    CU(cuOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, f_axpy, 256, 0));
    ck_assert_int_eq(blocks, 8);
    CU(cuOccupancyMaxPotentialBlockSize(&min_grid, &bsize, f_axpy, NULL, 0, 0));
    ck_assert_int_eq(bsize, 1024);
    ck_assert_int_eq(min_grid, 216);
    CU(cuProfilerStart());
    CU(cuProfilerStop());
    ck_assert_ptr_nonnull(simdev_function("simdev_test_axpy"));
    ck_assert_ptr_null(simdev_function("no_such_kernel"));
    /* Libraries and kernels are the same objects as modules and functions. */
    CUlibrary lib;
    CUkernel k;
    CU(cuLibraryLoadData(&lib, "image", NULL, NULL, 0, NULL, NULL, 0));
    CU(cuLibraryGetKernel(&k, lib, "simdev_test_fill"));
    CU(cuKernelGetFunction(&f, k));
    CU(cuFuncGetName(&name, f));
    ck_assert_str_eq(name, "simdev_test_fill");
    CU(cuLibraryUnload(lib));
    CU(cuMemFree(x));
    CU(cuMemFree(y));
}
END_TEST

/* ---- streams, events, virtual time ---- */

START_TEST(test_event_timing)
{
    CUdeviceptr x = dalloc(4);
    CUstream s;
    CU(cuStreamCreate(&s, 0));
    CUevent e0, e1, never, notiming;
    CU(cuEventCreate(&e0, 0));
    CU(cuEventCreate(&e1, 0));
    CU(cuEventCreate(&never, 0));
    CU(cuEventCreate(&notiming, CU_EVENT_DISABLE_TIMING));
    CU(cuEventQuery(never)); /* an event never recorded stands for no work: complete */
    CU(cuEventRecord(e0, s));
    spin(s, x, 100.0, 1);
    CU(cuEventRecord(e1, s));
    /* The host has only spent API time: the kernel cannot be done. */
    CU_EQ(cuEventQuery(e1), CUDA_ERROR_NOT_READY);
    CU_EQ(cuStreamQuery(s), CUDA_ERROR_NOT_READY);
    float ms;
    CU_EQ(cuEventElapsedTime(&ms, e0, e1), CUDA_ERROR_NOT_READY);
    double t0 = simdev_now_us();
    CU(cuEventSynchronize(e1));
    ck_assert(simdev_now_us() >= t0 + 100.0);
    CU(cuEventQuery(e1));
    CU(cuStreamQuery(s));
    ms = elapsed_ms(e0, e1);
    /* A100 profile: the launch call costs the host 3.5 us (so the kernel is submitted that
     * much after the first record), the device starts it 2.5 us later, it runs 100 us. */
    ck_assert_msg(fabs(ms * 1000.0 - 106.0) < 0.01, "elapsed %f us", ms * 1000.0);
    CU_EQ(cuEventElapsedTime(&ms, e0, never), CUDA_ERROR_INVALID_HANDLE);
    CU(cuEventRecord(notiming, s));
    CU(cuStreamSynchronize(s));
    CU_EQ(cuEventElapsedTime(&ms, e0, notiming), CUDA_ERROR_INVALID_HANDLE);
    /* Polling advances the host clock until the work is done. */
    spin(s, x, 50.0, 1);
    CU(cuEventRecord(e1, s));
    int polls = 0;
    while (cuEventQuery(e1) == CUDA_ERROR_NOT_READY)
        polls++;
    ck_assert_int_gt(polls, 10);
    CU(cuEventDestroy(e0));
    CU(cuEventDestroy(e1));
    CU(cuEventDestroy(never));
    CU(cuEventDestroy(notiming));
    CU(cuStreamDestroy(s));
    CU(cuMemFree(x));
}
END_TEST

/* Two kernels on two streams, between a fork and a join event; returns the elapsed us and the
 * activity durations of the two kernels. */
static double run_pair(double us, unsigned blocks, int second_comm, double *d1, double *d2)
{
    CUdeviceptr x1 = dalloc(4), x2 = dalloc(4);
    CUstream s1, s2;
    CU(cuStreamCreate(&s1, CU_STREAM_NON_BLOCKING));
    CU(cuStreamCreate(&s2, CU_STREAM_NON_BLOCKING));
    CUevent start, fork, join, end;
    CU(cuEventCreate(&start, 0));
    CU(cuEventCreate(&fork, 0));
    CU(cuEventCreate(&join, 0));
    CU(cuEventCreate(&end, 0));
    g_nact = 0;
    int h = simdev_activity_subscribe(on_act, NULL);
    CU(cuEventRecord(start, s1));
    CU(cuEventRecord(fork, s1));
    CU(cuStreamWaitEvent(s2, fork, 0));
    spin(s1, x1, us, blocks);
    if (second_comm)
        comm(s2, x2, us);
    else
        spin(s2, x2, us, blocks);
    CU(cuEventRecord(join, s2));
    CU(cuStreamWaitEvent(s1, join, 0));
    CU(cuEventRecord(end, s1));
    CU(cuEventSynchronize(end));
    simdev_activity_unsubscribe(h);
    ck_assert_int_eq(g_nact, 2);
    unsigned long long id1;
    CU(cuStreamGetId(s1, &id1));
    for (int i = 0; i < 2; i++) {
        double d = g_act[i].end_us - g_act[i].start_us;
        if (g_act[i].stream_id == id1)
            *d1 = d;
        else
            *d2 = d;
    }
    double el = elapsed_ms(start, end) * 1000.0;
    CU(cuEventDestroy(start));
    CU(cuEventDestroy(fork));
    CU(cuEventDestroy(join));
    CU(cuEventDestroy(end));
    CU(cuStreamDestroy(s1));
    CU(cuStreamDestroy(s2));
    CU(cuMemFree(x1));
    CU(cuMemFree(x2));
    return el;
}

START_TEST(test_concurrency)
{
    double d1, d2;
    /* Small grids use a sliver of the device: the two kernels overlap completely (only the
     * host's submission of the second one, a few us, separates them). */
    double el = run_pair(100.0, 4, 0, &d1, &d2);
    ck_assert_msg(el < 120.0, "small grids: elapsed %f", el);
    ck_assert(fabs(d1 - 100.0) < 0.01 && fabs(d2 - 100.0) < 0.01);
    /* Grids that fill the device share it: each kernel slows to about twice its time, and the
     * pair takes about the sum of the work, less than the sum of the two kernels' durations. */
    el = run_pair(100.0, 10000, 0, &d1, &d2);
    ck_assert_msg(d1 > 190.0 && d1 < 200.0 && d2 > 190.0 && d2 < 200.0, "shared kernels took %f and %f", d1, d2);
    ck_assert_msg(el > 200.0 && el < d1 + d2, "full grids: elapsed %f", el);
    /* A communication kernel holds SMs and slows concurrent compute; its own time is its
     * provider's. While it runs compute progresses at (1 - 0.12) / 1.12 of full speed on the
     * A100 profile, so 100 us of work take more than 115 us but less than 100 / 0.786 us. */
    int calls = sd_test_comm_calls();
    el = run_pair(100.0, 10000, 1, &d1, &d2);
    ck_assert_int_eq(sd_test_comm_calls(), calls + 1);
    ck_assert_msg(fabs(d2 - 100.0) < 0.01, "comm took %f", d2);
    ck_assert_msg(d1 > 115.0 && d1 < 100.0 * 1.12 / 0.88, "compute beside comm took %f", d1);
}
END_TEST

START_TEST(test_stream_semantics)
{
    CUdeviceptr x = dalloc(4), y = dalloc(4), z = dalloc(4);
    CUstream blocking, nonblocking;
    CU(cuStreamCreateWithPriority(&blocking, 0, -2));
    CU(cuStreamCreate(&nonblocking, CU_STREAM_NON_BLOCKING));
    int prio;
    unsigned flags;
    CU(cuStreamGetPriority(blocking, &prio));
    ck_assert_int_eq(prio, -2);
    CU(cuStreamGetFlags(nonblocking, &flags));
    ck_assert_uint_eq(flags, CU_STREAM_NON_BLOCKING);
    unsigned long long ib, in, il;
    CU(cuStreamGetId(blocking, &ib));
    CU(cuStreamGetId(nonblocking, &in));
    CU(cuStreamGetId(NULL, &il));
    ck_assert(ib != in && ib != il && in != il);
    g_nact = 0;
    int h = simdev_activity_subscribe(on_act, NULL);
    spin(blocking, x, 100.0, 1);
    spin(nonblocking, y, 100.0, 1);
    spin(NULL, z, 10.0, 1); /* legacy stream: waits for the blocking stream only */
    CU(cuCtxSynchronize());
    simdev_activity_unsubscribe(h);
    ck_assert_int_eq(g_nact, 3);
    const simdev_activity_t *kb = NULL, *kn = NULL, *kl = NULL;
    for (int i = 0; i < 3; i++) {
        if (g_act[i].stream_id == ib)
            kb = &g_act[i];
        else if (g_act[i].stream_id == in)
            kn = &g_act[i];
        else if (g_act[i].stream_id == il)
            kl = &g_act[i];
    }
    ck_assert(kb && kn && kl);
    ck_assert(kl->start_us >= kb->end_us);
    ck_assert(kn->start_us < kb->end_us); /* the non-blocking stream ran alongside */
    ck_assert(kb->correlation_id < kn->correlation_id && kn->correlation_id < kl->correlation_id);
    ck_assert_int_eq(kb->kind, 0);
    ck_assert_uint_eq(kb->grid[0], 1);
    ck_assert_uint_eq(kb->block[0], 256);
    CU_EQ(cuLaunchHostFunc(blocking, NULL, NULL), CUDA_ERROR_INVALID_VALUE);
    CU(cuStreamQuery(blocking));
    CU(cuStreamDestroy(blocking));
    CU(cuStreamDestroy(nonblocking));
    CU(cuMemFree(x));
    CU(cuMemFree(y));
    CU(cuMemFree(z));
}
END_TEST

static int g_host_calls;
static void CUDA_CB host_fn(void *p)
{
    g_host_calls += *(int *)p;
}

START_TEST(test_host_func_and_free_sync)
{
    CUdeviceptr x = dalloc(4);
    CUstream s;
    CU(cuStreamCreate(&s, 0));
    static int inc = 5;
    g_host_calls = 0;
    spin(s, x, 200.0, 1);
    CU(cuLaunchHostFunc(s, host_fn, &inc));
    ck_assert_int_eq(g_host_calls, 0);
    double t0 = simdev_now_us();
    /* cuMemFree of memory the device still uses waits for the device, as cudaFree does. */
    CU(cuMemFree(x));
    ck_assert_int_eq(g_host_calls, 5);
    ck_assert(simdev_now_us() >= t0 + 200.0);
    CU(cuStreamDestroy(s));
}
END_TEST

/* ---- stream capture ---- */

static CUgraphNode node_by_value(CUgraph g, float value)
{
    size_t n = 0;
    CU(cuGraphGetNodes(g, NULL, &n));
    CUgraphNode nodes[32];
    ck_assert_uint_le(n, 32);
    CU(cuGraphGetNodes(g, nodes, &n));
    for (size_t i = 0; i < n; i++) {
        CUgraphNodeType t;
        CU(cuGraphNodeGetType(nodes[i], &t));
        if (t != CU_GRAPH_NODE_TYPE_KERNEL)
            continue;
        CUDA_KERNEL_NODE_PARAMS p;
        CU(cuGraphKernelNodeGetParams(nodes[i], &p));
        const char *name;
        CU(cuFuncGetName(&name, p.func));
        float v = strcmp(name, "simdev_test_fill") == 0 ? *(float *)p.kernelParams[1] : *(float *)p.kernelParams[2];
        if (v == value)
            return nodes[i];
    }
    return NULL;
}

static int has_edge(CUgraphNode *from, CUgraphNode *to, size_t n, CUgraphNode a, CUgraphNode b)
{
    for (size_t i = 0; i < n; i++)
        if (from[i] == a && to[i] == b)
            return 1;
    return 0;
}

/* Capture across two streams with fork / join: A; fork -> B on s2 and C on s1; join -> D. */
static CUgraph capture_diamond(CUdeviceptr x, CUdeviceptr y, CUdeviceptr z, CUstreamCaptureMode mode)
{
    CUstream s1, s2;
    CU(cuStreamCreate(&s1, 0));
    CU(cuStreamCreate(&s2, 0));
    CUevent fork, join;
    CU(cuEventCreate(&fork, CU_EVENT_DISABLE_TIMING));
    CU(cuEventCreate(&join, CU_EVENT_DISABLE_TIMING));
    CU(cuStreamBeginCapture(s1, mode));
    CUstreamCaptureStatus st;
    CU(cuStreamIsCapturing(s1, &st));
    ck_assert_int_eq(st, CU_STREAM_CAPTURE_STATUS_ACTIVE);
    CU(cuStreamIsCapturing(s2, &st));
    ck_assert_int_eq(st, CU_STREAM_CAPTURE_STATUS_NONE);
    fill(s1, x, 1.0f, 16);           /* A */
    CU(cuEventRecord(fork, s1));
    CU(cuStreamWaitEvent(s2, fork, 0));
    CU(cuStreamIsCapturing(s2, &st));
    ck_assert_int_eq(st, CU_STREAM_CAPTURE_STATUS_ACTIVE);
    /* The forked stream starts from A. */
    cuuint64_t id1, id2;
    CUgraph g1;
    const CUgraphNode *deps;
    const CUgraphEdgeData *ed;
    size_t nd;
    CU(cuStreamGetCaptureInfo(s2, &st, &id2, &g1, &deps, &ed, &nd));
    ck_assert_uint_eq(nd, 1);
    CUgraphNode a_node = deps[0];
    ck_assert_int_eq(ed[0].type, CU_GRAPH_DEPENDENCY_TYPE_DEFAULT);
    axpy(s2, y, x, 2.0f, 16);        /* B: y += 2 x */
    fill(s1, z, 3.0f, 16);           /* C */
    CU(cuEventRecord(join, s2));
    CU(cuStreamWaitEvent(s1, join, 0));
    axpy(s1, z, y, 4.0f, 16);        /* D: z += 4 y */
    CUgraph g2;
    CU(cuStreamGetCaptureInfo(s1, &st, &id1, &g2, &deps, NULL, &nd));
    ck_assert_uint_eq(id1, id2);
    ck_assert_ptr_eq(g1, g2);
    ck_assert_uint_eq(nd, 1);
    ck_assert_ptr_ne(deps[0], a_node);
    CUgraph g;
    CU(cuStreamEndCapture(s1, &g));
    ck_assert_ptr_eq(g, g1);
    CU(cuStreamIsCapturing(s2, &st));
    ck_assert_int_eq(st, CU_STREAM_CAPTURE_STATUS_NONE);
    CU(cuEventDestroy(fork));
    CU(cuEventDestroy(join));
    CU(cuStreamDestroy(s1));
    CU(cuStreamDestroy(s2));
    return g;
}

START_TEST(test_capture_fork_join)
{
    CUdeviceptr x = dalloc(64), y = dalloc(64), z = dalloc(64);
    CUgraph g = capture_diamond(x, y, z, CU_STREAM_CAPTURE_MODE_GLOBAL);
    size_t n = 0;
    CU(cuGraphGetNodes(g, NULL, &n));
    ck_assert_uint_eq(n, 4);
    CUgraphNode a = node_by_value(g, 1.0f), b = node_by_value(g, 2.0f), c = node_by_value(g, 3.0f),
                d = node_by_value(g, 4.0f);
    ck_assert(a && b && c && d);
    CUgraphNode from[8], to[8];
    CUgraphEdgeData ed[8];
    size_t ne = 8;
    CU(cuGraphGetEdges(g, from, to, ed, &ne));
    ck_assert_uint_eq(ne, 4);
    ck_assert(has_edge(from, to, ne, a, b) && has_edge(from, to, ne, a, c));
    ck_assert(has_edge(from, to, ne, b, d) && has_edge(from, to, ne, c, d));
    for (size_t i = 0; i < ne; i++)
        ck_assert_int_eq(ed[i].type, CU_GRAPH_DEPENDENCY_TYPE_DEFAULT);
    size_t nr = 4;
    CUgraphNode roots[4];
    CU(cuGraphGetRootNodes(g, roots, &nr));
    ck_assert_uint_eq(nr, 1);
    ck_assert_ptr_eq(roots[0], a);
    CUgraphNode deps[4];
    size_t ndep = 4;
    CU(cuGraphNodeGetDependencies(d, deps, NULL, &ndep));
    ck_assert_uint_eq(ndep, 2);
    CU(cuGraphNodeGetDependentNodes(a, deps, NULL, &ndep));
    ck_assert_uint_eq(ndep, 2);
    /* Instantiate and launch: the captured work computes. */
    CUgraphExec x1;
    CU(cuGraphInstantiate(&x1, g, 0));
    CU(cuMemsetD32(y, 0, 16));
    CU(cuGraphLaunch(x1, NULL));
    CU(cuCtxSynchronize());
    ck_assert(dget(y, 15) == 2.0f);  /* 0 + 2 * 1 */
    ck_assert(dget(z, 15) == 11.0f); /* 3 + 4 * 2 */
    CU(cuGraphLaunch(x1, NULL));
    CU(cuCtxSynchronize());
    ck_assert(dget(y, 0) == 4.0f);
    ck_assert(dget(z, 0) == 19.0f);
    CU(cuGraphExecDestroy(x1));
    CU(cuGraphDestroy(g));
    CU(cuMemFree(x));
    CU(cuMemFree(y));
    CU(cuMemFree(z));
}
END_TEST

START_TEST(test_capture_modes)
{
    CUdeviceptr x = dalloc(64), y = dalloc(64), z = dalloc(64);
    CUgraph g = capture_diamond(x, y, z, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
    size_t n = 0;
    CU(cuGraphGetNodes(g, NULL, &n));
    ck_assert_uint_eq(n, 4);
    CU(cuGraphDestroy(g));
    g = capture_diamond(x, y, z, CU_STREAM_CAPTURE_MODE_RELAXED);
    CU(cuGraphDestroy(g));
    /* Relaxed: a potentially unsafe call (allocation) is allowed and the capture goes on. */
    CUstream s;
    CU(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    CU(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_RELAXED));
    CUdeviceptr t;
    CU(cuMemAlloc(&t, 256));
    fill(s, t, 1.0f, 4);
    CU(cuStreamEndCapture(s, &g));
    ck_assert_ptr_nonnull(g);
    CU(cuGraphDestroy(g));
    CU(cuMemFree(t));
    /* Thread-local mode lets this thread swap its interaction mode to relaxed. */
    CU(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL));
    CUstreamCaptureMode mode = CU_STREAM_CAPTURE_MODE_RELAXED;
    CU(cuThreadExchangeStreamCaptureMode(&mode));
    ck_assert_int_eq(mode, CU_STREAM_CAPTURE_MODE_GLOBAL);
    CU(cuMemAlloc(&t, 256));
    CU(cuThreadExchangeStreamCaptureMode(&mode));
    CUdeviceptr t2;
    CU_EQ(cuMemAlloc(&t2, 256), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
    CUstreamCaptureStatus st;
    CU(cuStreamIsCapturing(s, &st));
    ck_assert_int_eq(st, CU_STREAM_CAPTURE_STATUS_INVALIDATED);
    CU_EQ(cuStreamEndCapture(s, &g), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
    ck_assert_ptr_null(g);
    CU(cuStreamDestroy(s));
    CU(cuMemFree(t));
    CU(cuMemFree(x));
    CU(cuMemFree(y));
    CU(cuMemFree(z));
}
END_TEST

/* Begins a capture on a fresh blocking stream with one captured kernel. */
static CUstream begin_capture(CUdeviceptr x, CUstreamCaptureMode mode)
{
    CUstream s;
    CU(cuStreamCreate(&s, 0));
    CU(cuStreamBeginCapture(s, mode));
    fill(s, x, 1.0f, 4);
    return s;
}

static void expect_invalidated(CUstream s, CUdeviceptr x)
{
    CUstreamCaptureStatus st;
    CU(cuStreamIsCapturing(s, &st));
    ck_assert_int_eq(st, CU_STREAM_CAPTURE_STATUS_INVALIDATED);
    float v = 1;
    int n = 4;
    void *args[] = {&x, &v, &n};
    CU_EQ(cuLaunchKernel(f_fill, 1, 1, 1, 32, 1, 1, 0, s, args, NULL), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
    CUgraph g = (CUgraph)1;
    CU_EQ(cuStreamEndCapture(s, &g), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
    ck_assert_ptr_null(g);
    CU(cuStreamIsCapturing(s, &st));
    ck_assert_int_eq(st, CU_STREAM_CAPTURE_STATUS_NONE);
    fill(s, x, 5.0f, 4); /* usable again, outside capture */
    CU(cuStreamSynchronize(s));
    ck_assert(dget(x, 0) == 5.0f);
    CU(cuStreamDestroy(s));
}

START_TEST(test_capture_invalidation)
{
    CUdeviceptr x = dalloc(64), t;
    CUstream s;
    /* Synchronising a capturing stream. */
    s = begin_capture(x, CU_STREAM_CAPTURE_MODE_GLOBAL);
    CU_EQ(cuStreamSynchronize(s), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
    expect_invalidated(s, x);
    /* Querying it. */
    s = begin_capture(x, CU_STREAM_CAPTURE_MODE_RELAXED);
    CU_EQ(cuStreamQuery(s), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
    expect_invalidated(s, x);
    /* Synchronising the context. */
    s = begin_capture(x, CU_STREAM_CAPTURE_MODE_RELAXED);
    CU_EQ(cuCtxSynchronize(), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
    expect_invalidated(s, x);
    /* A potentially unsafe call in global mode. */
    s = begin_capture(x, CU_STREAM_CAPTURE_MODE_GLOBAL);
    CU_EQ(cuMemAlloc(&t, 64), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
    expect_invalidated(s, x);
    /* A synchronous copy uses the legacy stream, implicitly depending on the capturing
     * blocking stream. */
    s = begin_capture(x, CU_STREAM_CAPTURE_MODE_RELAXED);
    float h = 0;
    CU_EQ(cuMemcpyDtoH(&h, x, 4), CUDA_ERROR_STREAM_CAPTURE_IMPLICIT);
    expect_invalidated(s, x);
    /* Host query of an event recorded in the capture. */
    CUevent e;
    CU(cuEventCreate(&e, 0));
    s = begin_capture(x, CU_STREAM_CAPTURE_MODE_GLOBAL);
    CU(cuEventRecord(e, s));
    CU_EQ(cuEventQuery(e), CUDA_ERROR_CAPTURED_EVENT);
    expect_invalidated(s, x);
    /* Waiting on an event recorded outside the capture, without CU_EVENT_WAIT_EXTERNAL. */
    CUstream other;
    CU(cuStreamCreate(&other, 0));
    CU(cuEventRecord(e, other));
    s = begin_capture(x, CU_STREAM_CAPTURE_MODE_GLOBAL);
    CU_EQ(cuStreamWaitEvent(s, e, 0), CUDA_ERROR_STREAM_CAPTURE_ISOLATION);
    expect_invalidated(s, x);
    /* ... with the flag it becomes an event-wait node. */
    s = begin_capture(x, CU_STREAM_CAPTURE_MODE_GLOBAL);
    CU(cuStreamWaitEvent(s, e, CU_EVENT_WAIT_EXTERNAL));
    CUgraph g;
    CU(cuStreamEndCapture(s, &g));
    CUgraphNode nodes[4];
    size_t n = 4;
    CU(cuGraphGetNodes(g, nodes, &n));
    ck_assert_uint_eq(n, 2);
    CUgraphNodeType type;
    CU(cuGraphNodeGetType(nodes[1], &type));
    ck_assert_int_eq(type, CU_GRAPH_NODE_TYPE_WAIT_EVENT);
    CU(cuGraphDestroy(g));
    CU(cuStreamDestroy(s));
    /* Joining two captures. */
    CUstream s2 = begin_capture(x, CU_STREAM_CAPTURE_MODE_GLOBAL);
    s = begin_capture(x, CU_STREAM_CAPTURE_MODE_GLOBAL);
    CU(cuEventRecord(e, s2));
    CU_EQ(cuStreamWaitEvent(s, e, 0), CUDA_ERROR_STREAM_CAPTURE_MERGE);
    CUstreamCaptureStatus st2;
    CU(cuStreamIsCapturing(s2, &st2));
    ck_assert_int_eq(st2, CU_STREAM_CAPTURE_STATUS_INVALIDATED);
    CU_EQ(cuStreamEndCapture(s2, &g), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
    CU(cuStreamDestroy(s2));
    expect_invalidated(s, x);
    /* Capture rules on the capture calls themselves. */
    CU_EQ(cuStreamBeginCapture(NULL, CU_STREAM_CAPTURE_MODE_GLOBAL), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
    s = begin_capture(x, CU_STREAM_CAPTURE_MODE_GLOBAL);
    CU_EQ(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL), CUDA_ERROR_ILLEGAL_STATE);
    CU(cuEventRecord(e, s));
    CU(cuStreamWaitEvent(other, e, 0)); /* fork */
    fill(other, x, 2.0f, 4);
    CU_EQ(cuStreamEndCapture(other, &g), CUDA_ERROR_STREAM_CAPTURE_UNMATCHED);
    CU_EQ(cuStreamEndCapture(s, &g), CUDA_ERROR_STREAM_CAPTURE_UNJOINED); /* never joined */
    ck_assert_ptr_null(g);
    CUstreamCaptureStatus st;
    CU(cuStreamIsCapturing(other, &st));
    ck_assert_int_eq(st, CU_STREAM_CAPTURE_STATUS_NONE);
    CU_EQ(cuStreamEndCapture(s, &g), CUDA_ERROR_ILLEGAL_STATE);
    CU(cuEventDestroy(e));
    CU(cuStreamDestroy(s));
    CU(cuStreamDestroy(other));
    CU(cuMemFree(x));
}
END_TEST

START_TEST(test_capture_dependencies)
{
    CUdeviceptr x = dalloc(64), y = dalloc(64);
    CUstream s;
    CU(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    CU(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
    fill(s, x, 1.0f, 4);
    /* Empty the dependency set: the next node is a second root. */
    CU(cuStreamUpdateCaptureDependencies(s, NULL, NULL, 0, CU_STREAM_SET_CAPTURE_DEPENDENCIES));
    fill(s, y, 2.0f, 4);
    CUgraph g;
    CU(cuStreamEndCapture(s, &g));
    size_t nr = 0;
    CU(cuGraphGetRootNodes(g, NULL, &nr));
    ck_assert_uint_eq(nr, 2);
    /* Capture into that graph after one of its nodes, with programmatic edge data. */
    CUgraphNode a = node_by_value(g, 1.0f);
    CUgraphEdgeData ed;
    memset(&ed, 0, sizeof(ed));
    ed.from_port = CU_GRAPH_KERNEL_NODE_PORT_PROGRAMMATIC;
    ed.type = CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC;
    CU(cuStreamBeginCaptureToGraph(s, g, &a, &ed, 1, CU_STREAM_CAPTURE_MODE_GLOBAL));
    /* The dependency set now carries edge data: the query without edge data is lossy. */
    CUstreamCaptureStatus st;
    const CUgraphNode *deps;
    size_t nd;
    CU_EQ(cuStreamGetCaptureInfo(s, &st, NULL, NULL, &deps, NULL, &nd), CUDA_ERROR_LOSSY_QUERY);
    fill(s, x, 3.0f, 4);
    CUgraph g2;
    CU(cuStreamEndCapture(s, &g2));
    ck_assert_ptr_eq(g2, g);
    CUgraphNode c = node_by_value(g, 3.0f);
    CUgraphNode from[4], to[4];
    CUgraphEdgeData eds[4];
    size_t ne = 4;
    CU(cuGraphGetEdges(g, from, to, eds, &ne));
    ck_assert_uint_eq(ne, 1);
    ck_assert_ptr_eq(from[0], a);
    ck_assert_ptr_eq(to[0], c);
    ck_assert_int_eq(eds[0].type, CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC);
    ck_assert_int_eq(eds[0].from_port, CU_GRAPH_KERNEL_NODE_PORT_PROGRAMMATIC);
    /* The legacy query cannot represent the programmatic edge. */
    CUresult (*get_edges_v1)(CUgraph, CUgraphNode *, CUgraphNode *, size_t *);
    CUdriverProcAddressQueryResult qr;
    CU(cuGetProcAddress("cuGraphGetEdges", (void **)&get_edges_v1, 12000, 0, &qr));
    ne = 4;
    CU_EQ(get_edges_v1(g, from, to, &ne), CUDA_ERROR_LOSSY_QUERY);
    CU(cuGraphDestroy(g));
    CU(cuStreamDestroy(s));
    CU(cuMemFree(x));
    CU(cuMemFree(y));
}
END_TEST

/* ---- graphs ---- */

static CUgraphNode add_spin(CUgraph g, const CUgraphNode *deps, size_t n, CUdeviceptr x, double *us, unsigned blocks)
{
    void *args[] = {&x, us};
    CUDA_KERNEL_NODE_PARAMS p;
    memset(&p, 0, sizeof(p));
    p.func = f_spin;
    p.gridDimX = blocks;
    p.gridDimY = p.gridDimZ = 1;
    p.blockDimX = 256;
    p.blockDimY = p.blockDimZ = 1;
    p.kernelParams = args;
    CUgraphNode node;
    CU(cuGraphAddKernelNode(&node, g, deps, n, &p));
    return node;
}

START_TEST(test_graph_timing_and_activity)
{
    CUdeviceptr x = dalloc(16);
    CUgraph g;
    CU(cuGraphCreate(&g, 0));
    double t100 = 100, t50 = 50;
    CUgraphNode a = add_spin(g, NULL, 0, x, &t100, 1);
    CUgraphNode b = add_spin(g, &a, 1, x + 4, &t50, 1);
    CUgraphNode c = add_spin(g, &a, 1, x + 8, &t50, 1);
    CUgraphNode bc[] = {b, c};
    CUgraphNode d = add_spin(g, bc, 2, x + 12, &t100, 1);
    (void)d;
    CUgraphExec ex;
    CU(cuGraphInstantiate(&ex, g, 0));
    CUstream s;
    CU(cuStreamCreate(&s, 0));
    CUevent e0, e1;
    CU(cuEventCreate(&e0, 0));
    CU(cuEventCreate(&e1, 0));
    g_nact = 0;
    int h = simdev_activity_subscribe(on_act, NULL);
    CU(cuEventRecord(e0, s));
    CU(cuGraphLaunch(ex, s));
    CU(cuEventRecord(e1, s));
    CU(cuStreamSynchronize(s));
    simdev_activity_unsubscribe(h);
    /* The launch costs the host 4 us (A100 profile); then the critical path 100 + 50 + 100
     * with three graph-node latencies of 0.8 us; B and C run side by side. */
    float ms = elapsed_ms(e0, e1);
    ck_assert_msg(fabs(ms * 1000.0 - 256.4) < 0.01, "graph took %f us", ms * 1000.0);
    ck_assert_int_eq(g_nact, 4);
    uint32_t gid = simdev_graph_id(g);
    ck_assert_uint_gt(gid, 0);
    int seen_b = 0;
    for (int i = 0; i < 4; i++) {
        ck_assert_uint_eq(g_act[i].graph_id, gid);
        ck_assert_uint_eq(g_act[i].graph_exec_id, simdev_graph_exec_id(ex));
        if (g_act[i].graph_node_id == simdev_graph_node_id(b)) {
            seen_b = 1;
            ck_assert(fabs(g_act[i].end_us - g_act[i].start_us - 50.0) < 1e-6);
        }
        ck_assert_uint_eq(g_act[i].correlation_id, g_act[0].correlation_id); /* one cuGraphLaunch */
    }
    ck_assert(seen_b);
    /* Two launches of one exec never overlap: the second follows the first. */
    CU(cuEventRecord(e0, s));
    CUstream s2;
    CU(cuStreamCreate(&s2, CU_STREAM_NON_BLOCKING));
    CU(cuGraphLaunch(ex, s));
    CU(cuGraphLaunch(ex, s2));
    CU(cuCtxSynchronize());
    CU(cuEventRecord(e1, s2));
    CU(cuEventSynchronize(e1));
    ck_assert(elapsed_ms(e0, e1) * 1000.0 > 2 * 250.0);
    CU(cuStreamDestroy(s2));
    CU(cuEventDestroy(e0));
    CU(cuEventDestroy(e1));
    CU(cuStreamDestroy(s));
    CU(cuGraphExecDestroy(ex));
    CU(cuGraphDestroy(g));
    CU(cuMemFree(x));
}
END_TEST

START_TEST(test_graph_api)
{
    CUdeviceptr x = dalloc(256), y = dalloc(256);
    CUgraph g, child;
    CU(cuGraphCreate(&g, 0));
    CU(cuGraphCreate(&child, 0));
    /* child: fill y with 4 */
    float four = 4;
    int n = 64;
    void *cargs[] = {&y, &four, &n};
    CUDA_KERNEL_NODE_PARAMS kp;
    memset(&kp, 0, sizeof(kp));
    kp.func = f_fill;
    kp.gridDimX = kp.gridDimY = kp.gridDimZ = 1;
    kp.blockDimX = 32;
    kp.blockDimY = kp.blockDimZ = 1;
    kp.kernelParams = cargs;
    CUgraphNode cn;
    CU(cuGraphAddKernelNode(&cn, child, NULL, 0, &kp));
    /* g: alloc -> memset(alloc) -> child -> memcpy(y -> alloc) -> copy(alloc -> x) -> free, plus a
     * host node and an event record / wait pair. */
    CUDA_MEM_ALLOC_NODE_PARAMS ap;
    memset(&ap, 0, sizeof(ap));
    ap.poolProps.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
    ap.poolProps.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    ap.poolProps.location.id = 0;
    ap.bytesize = 256;
    CUgraphNode an, mn, chn, cpn, cp2, fn, hn, en, wn, emp;
    CU(cuGraphAddMemAllocNode(&an, g, NULL, 0, &ap));
    ck_assert_uint_ne(ap.dptr, 0);
    CUDA_MEMSET_NODE_PARAMS ms;
    memset(&ms, 0, sizeof(ms));
    ms.dst = ap.dptr;
    ms.value = 0;
    ms.elementSize = 4;
    ms.width = 64;
    ms.height = 1;
    CU(cuGraphAddMemsetNode(&mn, g, &an, 1, &ms, g_ctx));
    CU(cuGraphAddChildGraphNode(&chn, g, &mn, 1, child));
    CUDA_MEMCPY3D cp;
    memset(&cp, 0, sizeof(cp));
    cp.srcMemoryType = CU_MEMORYTYPE_DEVICE;
    cp.srcDevice = y;
    cp.dstMemoryType = CU_MEMORYTYPE_DEVICE;
    cp.dstDevice = ap.dptr;
    cp.WidthInBytes = 128;
    cp.Height = cp.Depth = 1;
    CU(cuGraphAddMemcpyNode(&cpn, g, &chn, 1, &cp, g_ctx));
    cp.srcDevice = ap.dptr;
    cp.dstDevice = x;
    cp.WidthInBytes = 256;
    CU(cuGraphAddMemcpyNode(&cp2, g, &cpn, 1, &cp, g_ctx));
    CU(cuGraphAddMemFreeNode(&fn, g, &cp2, 1, ap.dptr));
    static int inc = 1;
    CUDA_HOST_NODE_PARAMS hp = {host_fn, &inc};
    CU(cuGraphAddHostNode(&hn, g, &fn, 1, &hp));
    CUevent ev;
    CU(cuEventCreate(&ev, 0));
    CU(cuGraphAddEventRecordNode(&en, g, &hn, 1, ev));
    CU(cuGraphAddEventWaitNode(&wn, g, &en, 1, ev));
    CU(cuGraphAddEmptyNode(&emp, g, NULL, 0));
    /* Types and queries. */
    CUgraphNodeType t;
    CU(cuGraphNodeGetType(an, &t));
    ck_assert_int_eq(t, CU_GRAPH_NODE_TYPE_MEM_ALLOC);
    CU(cuGraphNodeGetType(chn, &t));
    ck_assert_int_eq(t, CU_GRAPH_NODE_TYPE_GRAPH);
    CU(cuGraphNodeGetType(wn, &t));
    ck_assert_int_eq(t, CU_GRAPH_NODE_TYPE_WAIT_EVENT);
    CUdeviceptr freed;
    CU(cuGraphMemFreeNodeGetParams(fn, &freed));
    ck_assert_uint_eq(freed, ap.dptr);
    CUgraph got;
    CU(cuGraphChildGraphNodeGetGraph(chn, &got));
    ck_assert_ptr_ne(got, child); /* the node owns a copy */
    CUevent gev;
    CU(cuGraphEventRecordNodeGetEvent(en, &gev));
    ck_assert_ptr_eq(gev, ev);
    size_t nn = 0;
    CU(cuGraphGetNodes(g, NULL, &nn));
    ck_assert_uint_eq(nn, 10);
    /* Dependencies: add, duplicate; a graph with memory nodes keeps its edges and nodes. */
    CU(cuGraphAddDependencies(g, &emp, &an, NULL, 1));
    CU_EQ(cuGraphAddDependencies(g, &emp, &an, NULL, 1), CUDA_ERROR_INVALID_VALUE);
    CU_EQ(cuGraphAddDependencies(g, &emp, &emp, NULL, 1), CUDA_ERROR_INVALID_VALUE);
    stderr_begin();
    CU_EQ(cuGraphRemoveDependencies(g, &emp, &an, NULL, 1), CUDA_ERROR_INVALID_VALUE);
    CU_EQ(cuGraphDestroyNode(emp), CUDA_ERROR_INVALID_VALUE);
    CUgraph cl;
    CU_EQ(cuGraphClone(&cl, g), CUDA_ERROR_INVALID_VALUE);
    CUgraph outer;
    CU(cuGraphCreate(&outer, 0));
    CUgraphNode on;
    CU_EQ(cuGraphAddChildGraphNode(&on, outer, NULL, 0, g), CUDA_ERROR_INVALID_VALUE);
    const char *err = stderr_end();
    ck_assert_msg(strstr(err, "cuGraphClone: graph") && strstr(err, "memory allocation or free nodes"), "%s", err);
    /* Launch: the whole chain computes through graph-owned memory. */
    g_host_calls = 0;
    CUgraphExec ex;
    CU(cuGraphInstantiate(&ex, g, 0));
    CU(cuMemsetD32(x, 0, 64));
    CU(cuGraphLaunch(ex, NULL));
    CU(cuCtxSynchronize());
    ck_assert_int_eq(g_host_calls, 1);
    ck_assert(dget(x, 0) == 4.0f);
    ck_assert(dget(x, 31) == 4.0f);
    ck_assert(dget(x, 32) == 0.0f); /* the memset part that the copy did not overwrite */
    CU(cuEventQuery(ev));
    size_t ne1 = 0;
    CU(cuGraphGetEdges(g, NULL, NULL, NULL, &ne1));
    ck_assert_uint_eq(ne1, 9); /* 8 and the added emp -> alloc */
    /* One exec at a time of a graph with memory nodes. */
    CUgraphExec ex2;
    stderr_begin();
    CU_EQ(cuGraphInstantiate(&ex2, g, 0), CUDA_ERROR_INVALID_VALUE);
    err = stderr_end();
    ck_assert_msg(strstr(err, "cannot instantiate graph"), "%s", err);
    CU(cuGraphExecDestroy(ex));
    CU(cuGraphInstantiate(&ex2, g, 0));
    CU(cuGraphExecDestroy(ex2));
    /* Moved into a parent, it may be a child graph. */
    CUgraphNodeParams mp;
    memset(&mp, 0, sizeof(mp));
    mp.type = CU_GRAPH_NODE_TYPE_GRAPH;
    mp.graph.graph = g;
    mp.graph.ownership = CU_GRAPH_CHILD_GRAPH_OWNERSHIP_MOVE;
    CU(cuGraphAddNode(&on, outer, NULL, NULL, 0, &mp));
    CU_EQ(cuGraphDestroy(g), CUDA_ERROR_INVALID_VALUE); /* the parent owns it now */
    CU(cuGraphInstantiate(&ex, outer, 0));
    CU(cuMemsetD32(x, 0, 64));
    CU(cuGraphLaunch(ex, NULL));
    CU(cuCtxSynchronize());
    ck_assert(dget(x, 0) == 4.0f);
    CU(cuGraphExecDestroy(ex));
    CU(cuGraphDestroy(outer));
    /* Memory of an allocation node that its graph does not free is the program's to free, with
     * cuMemFree or cuMemFreeAsync, before the next launch. */
    CUgraph ga;
    CU(cuGraphCreate(&ga, 0));
    ap.dptr = 0;
    CU(cuGraphAddMemAllocNode(&an, ga, NULL, 0, &ap));
    CU(cuGraphInstantiate(&ex, ga, 0));
    CU(cuGraphLaunch(ex, NULL));
    CU(cuCtxSynchronize());
    CU(cuMemFree(ap.dptr));
    CU(cuGraphLaunch(ex, NULL));
    CU(cuMemFreeAsync(ap.dptr, NULL));
    CU(cuCtxSynchronize());
    CU(cuGraphExecDestroy(ex));
    CU(cuGraphDestroy(ga));
    CU(cuGraphDestroy(child));
    CU(cuEventDestroy(ev));
    CU(cuMemFree(x));
    CU(cuMemFree(y));
}
END_TEST

/* What a graph-rebuilding interceptor reads back and changes: edges with edge data in creation
 * order, dependencies, edge removal by data, clone with find-in-clone, node destruction, kernel
 * node parameters (cuFuncGetParamInfo layout, get / set round trip), capture dependencies
 * (cuStreamGetCaptureInfo_v3) and a failed capture into the caller's graph. */
START_TEST(test_graph_edges_and_params)
{
    CUdeviceptr x = dalloc(256), y = dalloc(256);
    /* The parameter layout: (float *, float, int) and (float *, const float *, float, int). */
    size_t off, sz;
    CU(cuFuncGetParamInfo(f_fill, 0, &off, &sz));
    ck_assert(off == 0 && sz == 8);
    CU(cuFuncGetParamInfo(f_fill, 1, &off, &sz));
    ck_assert(off == 8 && sz == 4);
    CU(cuFuncGetParamInfo(f_fill, 2, &off, &sz));
    ck_assert(off == 12 && sz == 4);
    CU(cuFuncGetParamInfo(f_axpy, 2, &off, &sz));
    ck_assert(off == 16 && sz == 4);
    CU_EQ(cuFuncGetParamInfo(f_fill, 3, &off, &sz), CUDA_ERROR_INVALID_VALUE);
    /* a -> b (programmatic), a -> c, b -> d, c -> d: edges come back in creation order. */
    CUgraph g;
    CU(cuGraphCreate(&g, 0));
    float va = 1, vb = 2, vc = 3, vd = 4;
    int n = 16;
    void *aa[] = {&x, &va, &n}, *ab[] = {&x, &vb, &n}, *ac[] = {&y, &vc, &n};
    CUgraphNodeParams np;
    memset(&np, 0, sizeof(np));
    np.type = CU_GRAPH_NODE_TYPE_KERNEL;
    np.kernel.func = f_fill;
    np.kernel.gridDimX = np.kernel.gridDimY = np.kernel.gridDimZ = 1;
    np.kernel.blockDimX = 32;
    np.kernel.blockDimY = np.kernel.blockDimZ = 1;
    CUgraphEdgeData prog;
    memset(&prog, 0, sizeof(prog));
    prog.from_port = CU_GRAPH_KERNEL_NODE_PORT_PROGRAMMATIC;
    prog.type = CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC;
    CUgraphNode a, b, c, d;
    np.kernel.kernelParams = aa;
    CU(cuGraphAddNode(&a, g, NULL, NULL, 0, &np));
    np.kernel.kernelParams = ab;
    CU(cuGraphAddNode(&b, g, &a, &prog, 1, &np));
    np.kernel.kernelParams = ac;
    CU(cuGraphAddNode(&c, g, &a, NULL, 1, &np));
    CUgraphNode bc[] = {b, c};
    CU(cuGraphAddEmptyNode(&d, g, bc, 2));
    (void)vd;
    CUgraphNode from[8], to[8];
    CUgraphEdgeData ed[8];
    size_t ne = 8;
    CU(cuGraphGetEdges(g, from, to, ed, &ne));
    ck_assert_uint_eq(ne, 4);
    ck_assert(from[0] == a && to[0] == b && ed[0].type == CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC &&
              ed[0].from_port == CU_GRAPH_KERNEL_NODE_PORT_PROGRAMMATIC);
    ck_assert(from[1] == a && to[1] == c && ed[1].type == CU_GRAPH_DEPENDENCY_TYPE_DEFAULT);
    ck_assert(from[2] == b && to[2] == d && from[3] == c && to[3] == d);
    ck_assert(from[4] == NULL && to[4] == NULL); /* the rest of the arrays is cleared */
    CU_EQ(cuGraphGetEdges(g, from, to, NULL, &ne), CUDA_ERROR_LOSSY_QUERY);
    CUgraphNode deps[4];
    CUgraphEdgeData ded[4];
    size_t nd = 4;
    CU(cuGraphNodeGetDependencies(b, deps, ded, &nd));
    ck_assert(nd == 1 && deps[0] == a && ded[0].type == CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC);
    nd = 4;
    CU(cuGraphNodeGetDependentNodes(a, deps, ded, &nd));
    ck_assert(nd == 2 && deps[0] == b && deps[1] == c);
    /* Removal names the edge with its data. */
    CU_EQ(cuGraphRemoveDependencies(g, &a, &b, NULL, 1), CUDA_ERROR_INVALID_VALUE);
    CU(cuGraphRemoveDependencies(g, &a, &b, &prog, 1));
    CU(cuGraphAddDependencies(g, &a, &b, &prog, 1));
    /* Clone: same edges and data; find in clone; destroying a node removes its edges. */
    CUgraph cl;
    CU(cuGraphClone(&cl, g));
    CUgraphNode cb, ca;
    CU(cuGraphNodeFindInClone(&cb, b, cl));
    CU(cuGraphNodeFindInClone(&ca, a, cl));
    nd = 4;
    CU(cuGraphNodeGetDependencies(cb, deps, ded, &nd));
    ck_assert(nd == 1 && deps[0] == ca && ded[0].type == CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC);
    CU(cuGraphDestroyNode(cb));
    ne = 0;
    CU(cuGraphGetEdges(cl, NULL, NULL, NULL, &ne));
    ck_assert_uint_eq(ne, 2);
    CU(cuGraphDestroy(cl));
    /* Kernel parameters round trip: get, set back unchanged, set a changed copy. */
    CUDA_KERNEL_NODE_PARAMS kp;
    CU(cuGraphKernelNodeGetParams(b, &kp));
    ck_assert_ptr_eq(kp.func, f_fill);
    ck_assert(*(CUdeviceptr *)kp.kernelParams[0] == x && *(float *)kp.kernelParams[1] == 2.0f &&
              *(int *)kp.kernelParams[2] == 16);
    CU(cuGraphKernelNodeSetParams(b, &kp));
    CU(cuGraphKernelNodeGetParams(b, &kp));
    ck_assert(*(float *)kp.kernelParams[1] == 2.0f && *(int *)kp.kernelParams[2] == 16);
    float v9 = 9;
    void *a9[] = {kp.kernelParams[0], &v9, kp.kernelParams[2]};
    kp.kernelParams = a9;
    CU(cuGraphKernelNodeSetParams(b, &kp));
    CUgraphExec ex;
    CU(cuGraphInstantiate(&ex, g, 0));
    CU(cuGraphLaunch(ex, NULL));
    CU(cuCtxSynchronize());
    ck_assert(dget(x, 0) == 9.0f && dget(y, 0) == 3.0f);
    CU(cuGraphExecDestroy(ex));
    /* Capture dependencies: after a fork and a join the set holds both branch tails, with data. */
    CUstream s1, s2;
    CU(cuStreamCreate(&s1, CU_STREAM_NON_BLOCKING));
    CU(cuStreamCreate(&s2, CU_STREAM_NON_BLOCKING));
    CUevent fk, jn;
    CU(cuEventCreate(&fk, CU_EVENT_DISABLE_TIMING));
    CU(cuEventCreate(&jn, CU_EVENT_DISABLE_TIMING));
    CU(cuStreamBeginCaptureToGraph(s1, g, &d, NULL, 1, CU_STREAM_CAPTURE_MODE_GLOBAL));
    CUstreamCaptureStatus st;
    cuuint64_t cid;
    CUgraph cg;
    const CUgraphNode *cdeps;
    const CUgraphEdgeData *cedata;
    size_t ncd;
    CU(cuStreamGetCaptureInfo(s1, &st, &cid, &cg, &cdeps, &cedata, &ncd));
    ck_assert(st == CU_STREAM_CAPTURE_STATUS_ACTIVE && cg == g && ncd == 1 && cdeps[0] == d);
    CU(cuEventRecord(fk, s1));
    CU(cuStreamWaitEvent(s2, fk, 0));
    fill(s1, x, 5.0f, 16);
    fill(s2, y, 6.0f, 16);
    CU(cuEventRecord(jn, s2));
    CU(cuStreamWaitEvent(s1, jn, 0));
    CUgraphNode e = node_by_value(g, 5.0f), f = node_by_value(g, 6.0f);
    ck_assert(e && f);
    CU(cuStreamGetCaptureInfo(s1, &st, NULL, NULL, &cdeps, &cedata, &ncd));
    ck_assert(ncd == 2 && cdeps[0] == e && cdeps[1] == f);
    ck_assert(cedata[0].type == CU_GRAPH_DEPENDENCY_TYPE_DEFAULT && cedata[1].type == CU_GRAPH_DEPENDENCY_TYPE_DEFAULT);
    /* Edge data on the set: the status alone can still be asked without edge data. */
    CUgraphEdgeData both[2] = {prog, prog};
    CUgraphNode ef[2] = {e, f};
    CU(cuStreamUpdateCaptureDependencies(s1, ef, both, 2, CU_STREAM_SET_CAPTURE_DEPENDENCIES));
    CU(cuStreamGetCaptureInfo(s1, &st, &cid, NULL, NULL, NULL, NULL));
    ck_assert_int_eq(st, CU_STREAM_CAPTURE_STATUS_ACTIVE);
    CU_EQ(cuStreamGetCaptureInfo(s1, &st, NULL, NULL, &cdeps, NULL, &ncd), CUDA_ERROR_LOSSY_QUERY);
    CU_EQ(cuStreamGetCaptureInfo(s1, &st, NULL, NULL, NULL, &cedata, &ncd), CUDA_ERROR_INVALID_VALUE);
    /* No node of the graph may be destroyed while capturing into it. */
    stderr_begin();
    CU_EQ(cuGraphDestroyNode(a), CUDA_ERROR_INVALID_VALUE);
    stderr_end();
    fill(s1, x, 7.0f, 16);
    CUgraph got;
    CU(cuStreamEndCapture(s1, &got));
    ck_assert_ptr_eq(got, g);
    CUgraphNode h = node_by_value(g, 7.0f);
    nd = 4;
    CU(cuGraphNodeGetDependencies(h, deps, ded, &nd));
    ck_assert(nd == 2 && deps[0] == e && deps[1] == f && ded[1].type == CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC);
    /* A capture into the caller's graph that fails gives no graph, and the caller's graph
     * stays the caller's, with what was captured so far. */
    size_t nn0 = 0, nn1 = 0;
    CU(cuGraphGetNodes(g, NULL, &nn0));
    CU(cuStreamBeginCaptureToGraph(s1, g, &h, NULL, 1, CU_STREAM_CAPTURE_MODE_GLOBAL));
    fill(s1, x, 8.0f, 16);
    CU_EQ(cuStreamSynchronize(s1), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
    got = (CUgraph)1;
    CU_EQ(cuStreamEndCapture(s1, &got), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
    ck_assert_ptr_null(got);
    CU(cuGraphGetNodes(g, NULL, &nn1));
    ck_assert_uint_eq(nn1, nn0 + 1);
    CU(cuGraphDestroy(g));
    CU(cuEventDestroy(fk));
    CU(cuEventDestroy(jn));
    CU(cuStreamDestroy(s1));
    CU(cuStreamDestroy(s2));
    CU(cuMemFree(x));
    CU(cuMemFree(y));
}
END_TEST

START_TEST(test_kernel_node_params_and_attrs)
{
    CUdeviceptr x = dalloc(64);
    CUgraph g;
    CU(cuGraphCreate(&g, 0));
    float v = 1;
    int n = 16;
    void *args[] = {&x, &v, &n};
    CUgraphNodeParams np;
    memset(&np, 0, sizeof(np));
    np.type = CU_GRAPH_NODE_TYPE_KERNEL;
    np.kernel.func = f_fill;
    np.kernel.gridDimX = np.kernel.gridDimY = np.kernel.gridDimZ = 1;
    np.kernel.blockDimX = 32;
    np.kernel.blockDimY = np.kernel.blockDimZ = 1;
    np.kernel.kernelParams = args;
    CUgraphNode a, b;
    CU(cuGraphAddNode(&a, g, NULL, NULL, 0, &np));
    v = 99; /* parameters were copied at node creation */
    CUDA_KERNEL_NODE_PARAMS p;
    CU(cuGraphKernelNodeGetParams(a, &p));
    ck_assert(*(float *)p.kernelParams[1] == 1.0f);
    ck_assert_uint_eq(p.gridDimX, 1);
    /* Attributes: set, get, copy. */
    CUkernelNodeAttrValue av;
    memset(&av, 0, sizeof(av));
    av.priority = -3;
    CU(cuGraphKernelNodeSetAttribute(a, CU_LAUNCH_ATTRIBUTE_PRIORITY, &av));
    np.kernel.kernelParams = args;
    v = 2;
    CU(cuGraphAddNode(&b, g, &a, NULL, 1, &np));
    CU(cuGraphKernelNodeCopyAttributes(b, a));
    memset(&av, 0, sizeof(av));
    CU(cuGraphKernelNodeGetAttribute(b, CU_LAUNCH_ATTRIBUTE_PRIORITY, &av));
    ck_assert_int_eq(av.priority, -3);
    /* Set params on the graph node. */
    v = 5;
    p.kernelParams = args;
    CU(cuGraphKernelNodeSetParams(b, &p));
    CU(cuGraphKernelNodeGetParams(b, &p));
    ck_assert(*(float *)p.kernelParams[1] == 5.0f);
    memset(&av, 0, sizeof(av));
    CU(cuGraphKernelNodeGetAttribute(b, CU_LAUNCH_ATTRIBUTE_PRIORITY, &av));
    ck_assert_int_eq(av.priority, -3); /* attributes survive set-params */
    CUgraphExec ex;
    CU(cuGraphInstantiate(&ex, g, 0));
    CU(cuGraphLaunch(ex, NULL));
    CU(cuCtxSynchronize());
    ck_assert(dget(x, 0) == 5.0f);
    /* Exec set-params: the exec changes, the graph does not; a launch already made keeps the
     * parameters it was launched with. */
    v = 6;
    CUDA_KERNEL_NODE_PARAMS q = p;
    q.kernelParams = args;
    CU(cuGraphExecKernelNodeSetParams(ex, b, &q));
    CU(cuGraphLaunch(ex, NULL));
    v = 7;
    CU(cuGraphExecKernelNodeSetParams(ex, b, &q));
    CU(cuCtxSynchronize());
    ck_assert(dget(x, 0) == 6.0f);
    CU(cuGraphLaunch(ex, NULL));
    CU(cuCtxSynchronize());
    ck_assert(dget(x, 0) == 7.0f);
    CU(cuGraphKernelNodeGetParams(b, &p));
    ck_assert(*(float *)p.kernelParams[1] == 5.0f);
    /* Disabled nodes do nothing. */
    CU(cuGraphNodeSetEnabled(ex, b, 0));
    unsigned en = 1;
    CU(cuGraphNodeGetEnabled(ex, b, &en));
    ck_assert_uint_eq(en, 0);
    CU(cuGraphLaunch(ex, NULL));
    CU(cuCtxSynchronize());
    ck_assert(dget(x, 0) == 1.0f);
    CU(cuGraphExecDestroy(ex));
    CU(cuGraphDestroy(g));
    CU(cuMemFree(x));
}
END_TEST

static CUgraph chain_graph(CUdeviceptr x, float v1, float v2, int extra_node)
{
    CUgraph g;
    CU(cuGraphCreate(&g, 0));
    int n = 16;
    void *a1[] = {&x, &v1, &n}, *a2[] = {&x, &v2, &n};
    CUDA_KERNEL_NODE_PARAMS p;
    memset(&p, 0, sizeof(p));
    p.func = f_fill;
    p.gridDimX = p.gridDimY = p.gridDimZ = 1;
    p.blockDimX = 32;
    p.blockDimY = p.blockDimZ = 1;
    p.kernelParams = a1;
    CUgraphNode a, b, c;
    CU(cuGraphAddKernelNode(&a, g, NULL, 0, &p));
    p.kernelParams = a2;
    CU(cuGraphAddKernelNode(&b, g, &a, 1, &p));
    if (extra_node)
        CU(cuGraphAddEmptyNode(&c, g, &b, 1));
    return g;
}

START_TEST(test_exec_update)
{
    CUdeviceptr x = dalloc(64);
    CUgraph g1 = chain_graph(x, 1, 2, 0), g2 = chain_graph(x, 3, 4, 0), g3 = chain_graph(x, 5, 6, 1);
    CUgraphExec ex;
    stderr_begin();
    CU_EQ(cuGraphInstantiate(&ex, g1, 1ull << 40), CUDA_ERROR_INVALID_VALUE);
    CU_EQ(cuGraphInstantiate(&ex, g1, CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH |
                                      CUDA_GRAPH_INSTANTIATE_FLAG_DEVICE_LAUNCH), CUDA_ERROR_INVALID_VALUE);
    stderr_end();
    CU(cuGraphInstantiate(&ex, g1, CUDA_GRAPH_INSTANTIATE_FLAG_USE_NODE_PRIORITY));
    cuuint64_t xflags = 0;
    CU(cuGraphExecGetFlags(ex, &xflags));
    ck_assert_uint_eq(xflags, CUDA_GRAPH_INSTANTIATE_FLAG_USE_NODE_PRIORITY);
    CU(cuGraphLaunch(ex, NULL));
    CU(cuCtxSynchronize());
    ck_assert(dget(x, 0) == 2.0f);
    CUgraphExecUpdateResultInfo info;
    CU(cuGraphExecUpdate(ex, g2, &info));
    ck_assert_int_eq(info.result, CU_GRAPH_EXEC_UPDATE_SUCCESS);
    CU(cuGraphLaunch(ex, NULL));
    CU(cuCtxSynchronize());
    ck_assert(dget(x, 0) == 4.0f);
    CU_EQ(cuGraphExecUpdate(ex, g3, &info), CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE);
    ck_assert_int_eq(info.result, CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED);
    CU(cuGraphLaunch(ex, NULL)); /* still the g2 parameters */
    CU(cuCtxSynchronize());
    ck_assert(dget(x, 0) == 4.0f);
    CU(cuGraphExecDestroy(ex));
    CU(cuGraphDestroy(g1));
    CU(cuGraphDestroy(g2));
    CU(cuGraphDestroy(g3));
    /* Copies: a new address updates, a new memory type (device -> host) does not. */
    static float host[16];
    CUdeviceptr y = dalloc(64), z = dalloc(64);
    CUDA_MEMCPY3D cp;
    memset(&cp, 0, sizeof(cp));
    cp.srcMemoryType = cp.dstMemoryType = CU_MEMORYTYPE_DEVICE;
    cp.srcDevice = x;
    cp.dstDevice = y;
    cp.WidthInBytes = 64;
    cp.Height = cp.Depth = 1;
    CUgraph c1, c2, c3;
    CUgraphNode cn;
    CU(cuGraphCreate(&c1, 0));
    CU(cuGraphAddMemcpyNode(&cn, c1, NULL, 0, &cp, g_ctx));
    cp.dstDevice = z;
    CU(cuGraphCreate(&c2, 0));
    CU(cuGraphAddMemcpyNode(&cn, c2, NULL, 0, &cp, g_ctx));
    cp.dstMemoryType = CU_MEMORYTYPE_HOST;
    cp.dstHost = host;
    CU(cuGraphCreate(&c3, 0));
    CU(cuGraphAddMemcpyNode(&cn, c3, NULL, 0, &cp, g_ctx));
    CU(cuGraphInstantiate(&ex, c1, 0));
    CU(cuGraphExecUpdate(ex, c2, &info));
    CU_EQ(cuGraphExecUpdate(ex, c3, &info), CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE);
    ck_assert_int_eq(info.result, CU_GRAPH_EXEC_UPDATE_ERROR_PARAMETERS_CHANGED);
    ck_assert_ptr_eq(info.errorNode, cn);
    CU(cuGraphExecDestroy(ex));
    CU(cuGraphDestroy(c1));
    CU(cuGraphDestroy(c2));
    CU(cuGraphDestroy(c3));
    /* 2D memsets: the value updates, the shape does not. */
    CUDA_MEMSET_NODE_PARAMS ms;
    memset(&ms, 0, sizeof(ms));
    ms.dst = y;
    ms.pitch = 32;
    ms.elementSize = 4;
    ms.width = 4;
    ms.height = 2;
    ms.value = 1;
    CU(cuGraphCreate(&c1, 0));
    CU(cuGraphAddMemsetNode(&cn, c1, NULL, 0, &ms, g_ctx));
    ms.value = 2;
    CU(cuGraphCreate(&c2, 0));
    CU(cuGraphAddMemsetNode(&cn, c2, NULL, 0, &ms, g_ctx));
    ms.width = 8;
    ms.height = 1;
    CU(cuGraphCreate(&c3, 0));
    CU(cuGraphAddMemsetNode(&cn, c3, NULL, 0, &ms, g_ctx));
    CU(cuGraphInstantiate(&ex, c1, 0));
    CU(cuGraphExecUpdate(ex, c2, &info));
    CU_EQ(cuGraphExecUpdate(ex, c3, &info), CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE);
    ck_assert_int_eq(info.result, CU_GRAPH_EXEC_UPDATE_ERROR_PARAMETERS_CHANGED);
    CU(cuGraphExecDestroy(ex));
    CU(cuGraphDestroy(c1));
    CU(cuGraphDestroy(c2));
    CU(cuGraphDestroy(c3));
    CU(cuMemFree(y));
    CU(cuMemFree(z));
    CU(cuMemFree(x));
}
END_TEST


/* cuGraphLaunch on a capturing stream is captured as a child-graph node. */
START_TEST(test_capture_graph_launch)
{
    CUdeviceptr x = dalloc(64);
    CUgraph inner = chain_graph(x, 1, 8, 0);
    CUgraphExec xi;
    CU(cuGraphInstantiate(&xi, inner, 0));
    CUstream s;
    CU(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    CU(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
    CU(cuGraphLaunch(xi, s));
    axpy(s, x, x, 1.0f, 16); /* x += x */
    CUgraph outer;
    CU(cuStreamEndCapture(s, &outer));
    CUgraphNode nodes[4];
    size_t n = 4;
    CU(cuGraphGetNodes(outer, nodes, &n));
    ck_assert_uint_eq(n, 2);
    CUgraphNodeType t;
    CU(cuGraphNodeGetType(nodes[0], &t));
    ck_assert_int_eq(t, CU_GRAPH_NODE_TYPE_GRAPH);
    CUgraph child;
    CU(cuGraphChildGraphNodeGetGraph(nodes[0], &child));
    size_t nc = 0;
    CU(cuGraphGetNodes(child, NULL, &nc));
    ck_assert_uint_eq(nc, 2);
    CUgraphExec xo;
    CU(cuGraphInstantiate(&xo, outer, 0));
    CU(cuGraphLaunch(xo, s));
    CU(cuStreamSynchronize(s));
    ck_assert(dget(x, 0) == 16.0f);
    CU(cuGraphExecDestroy(xo));
    CU(cuGraphExecDestroy(xi));
    CU(cuGraphDestroy(outer));
    CU(cuGraphDestroy(inner));
    CU(cuStreamDestroy(s));
    CU(cuMemFree(x));
}
END_TEST

/* Devices do not share compute: full-grid kernels on two devices both run at full speed. */
START_TEST(test_two_devices)
{
    CUcontext c1;
    CU(cuCtxCreate(&c1, NULL, 0, 1));
    CUdeviceptr x1 = dalloc(4);
    CUstream s1;
    CU(cuStreamCreate(&s1, 0));
    CU(cuCtxPopCurrent(NULL));
    CUdeviceptr x0 = dalloc(4);
    CUstream s0;
    CU(cuStreamCreate(&s0, 0));
    g_nact = 0;
    int h = simdev_activity_subscribe(on_act, NULL);
    spin(s0, x0, 100.0, 10000);
    spin(s1, x1, 100.0, 10000);
    CU(cuStreamSynchronize(s0));
    CU(cuStreamSynchronize(s1));
    simdev_activity_unsubscribe(h);
    ck_assert_int_eq(g_nact, 2);
    ck_assert(g_act[0].device != g_act[1].device);
    for (int i = 0; i < 2; i++)
        ck_assert(fabs(g_act[i].end_us - g_act[i].start_us - 100.0) < 1e-6);
    ck_assert(g_act[1].start_us < g_act[0].end_us);
    CU(cuStreamDestroy(s0));
    CU(cuStreamDestroy(s1));
    CU(cuMemFree(x0));
    CU(cuMemFree(x1));
    CU(cuCtxDestroy(c1));
}
END_TEST

/* Work of a destroyed stream still runs, and synchronising the context covers it. */
START_TEST(test_destroyed_stream)
{
    CUdeviceptr x = dalloc(64);
    CUstream s, t;
    CU(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    CU(cuStreamCreate(&t, CU_STREAM_NON_BLOCKING));
    double t0 = simdev_now_us();
    spin(s, x, 300.0, 1);
    fill(s, x, 9.0f, 16);
    CU(cuStreamDestroy(s));
    CU(cuCtxSynchronize());
    ck_assert(simdev_now_us() >= t0 + 300.0);
    ck_assert(dget(x, 0) == 9.0f);
    stderr_begin();
    fill(t, x, 1.0f, 16); /* ordered after the destroyed stream's work by the synchronisation */
    CU(cuStreamSynchronize(t));
    char *err = stderr_end();
    ck_assert_msg(strstr(err, "RACE") == NULL, "stderr: %.2000s", err);
    CU(cuStreamDestroy(t));
    CU(cuMemFree(x));
}
END_TEST

/* ---- entry points ---- */

START_TEST(test_proc_address)
{
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    ck_assert_ptr_nonnull(lib);
    void *p = NULL;
    CUdriverProcAddressQueryResult st;
    CU(cuGetProcAddress("cuMemAlloc", &p, 13000, CU_GET_PROC_ADDRESS_DEFAULT, &st));
    ck_assert_int_eq(st, CU_GET_PROC_ADDRESS_SUCCESS);
    ck_assert_ptr_eq(p, dlsym(lib, "cuMemAlloc_v2"));
    CU(cuGetProcAddress("cuMemAlloc", &p, 3000, 0, &st));
    ck_assert_ptr_eq(p, dlsym(lib, "cuMemAlloc"));
    CU(cuGetProcAddress("cuStreamBeginCapture", &p, 12000, 0, &st));
    ck_assert_ptr_eq(p, dlsym(lib, "cuStreamBeginCapture_v2"));
    CU(cuGetProcAddress("cuStreamBeginCapture", &p, 12000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, &st));
    ck_assert_ptr_eq(p, dlsym(lib, "cuStreamBeginCapture_v2_ptsz"));
    CU(cuGetProcAddress("cuGraphInstantiate", &p, 12000, 0, &st));
    ck_assert_ptr_eq(p, dlsym(lib, "cuGraphInstantiateWithFlags"));
    CU(cuGetProcAddress("cuGraphInstantiate", &p, 11000, 0, &st));
    ck_assert_ptr_eq(p, dlsym(lib, "cuGraphInstantiate_v2"));
    CU(cuGetProcAddress("cuGraphGetEdges", &p, 13000, 0, &st));
    ck_assert_ptr_eq(p, dlsym(lib, "cuGraphGetEdges_v2"));
    CU(cuGetProcAddress("cuStreamGetCaptureInfo", &p, 12030, 0, &st));
    ck_assert_ptr_eq(p, dlsym(lib, "cuStreamGetCaptureInfo_v3"));
    CU_EQ(cuGetProcAddress("cuNoSuchFunction", &p, 13000, 0, &st), CUDA_ERROR_NOT_FOUND);
    ck_assert_int_eq(st, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
    ck_assert_ptr_null(p);
    CU_EQ(cuGetProcAddress("cuLaunchKernelEx", &p, 11000, 0, &st), CUDA_ERROR_NOT_FOUND);
    ck_assert_int_eq(st, CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT);
    CU_EQ(cuGetProcAddress("cuMemAlloc", &p, 13000, 0x100, &st), CUDA_ERROR_INVALID_VALUE);
    /* The pointer works. */
    CUresult (*get_version)(int *);
    CU(cuGetProcAddress("cuDriverGetVersion", (void **)&get_version, 13000, 0, &st));
    int v = 0;
    CU(get_version(&v));
    ck_assert_int_eq(v, 13000);
    /* The legacy four-argument form. */
    CUresult (*legacy)(const char *, void **, int, cuuint64_t);
    legacy = (CUresult(*)(const char *, void **, int, cuuint64_t))dlsym(lib, "cuGetProcAddress");
    ck_assert_ptr_nonnull(legacy);
    CU(legacy("cuLaunchKernel", &p, 13000, 0));
    ck_assert_ptr_eq(p, dlsym(lib, "cuLaunchKernel"));
    dlclose(lib);
}
END_TEST

START_TEST(test_unsupported)
{
    stderr_begin();
    CUarray arr;
    CUDA_ARRAY_DESCRIPTOR desc;
    memset(&desc, 0, sizeof(desc));
    CUresult r1 = cuArrayCreate(&arr, &desc);
    CUresult r2 = cuArrayCreate(&arr, &desc);
    CUresult (*fn)(void) = NULL;
    CUdriverProcAddressQueryResult st;
    CUresult r3 = cuGetProcAddress("cuTexObjectDestroy", (void **)&fn, 13000, 0, &st);
    CUresult r4 = fn ? fn() : CUDA_ERROR_UNKNOWN;
    char *err = stderr_end();
    ck_assert_int_eq(r1, CUDA_ERROR_NOT_SUPPORTED);
    ck_assert_int_eq(r2, CUDA_ERROR_NOT_SUPPORTED);
    ck_assert_int_eq(r3, CUDA_SUCCESS);
    ck_assert_int_eq(r4, CUDA_ERROR_NOT_SUPPORTED);
    char *first = strstr(err, "cuArrayCreate_v2 is not supported");
    ck_assert_msg(first != NULL, "stderr: %.2000s", err);
    ck_assert_ptr_null(strstr(first + 1, "cuArrayCreate_v2 is not supported")); /* logged once */
    ck_assert_ptr_nonnull(strstr(err, "cuTexObjectDestroy is not supported"));
}
END_TEST

/* ---- the race checker ---- */

START_TEST(test_race_graph_warn)
{
    CUdeviceptr x = dalloc(256);
    CUgraph g = racy_graph(x);
    CUgraphExec ex;
    stderr_begin();
    CUresult r = cuGraphInstantiate(&ex, g, 0);
    char *err = stderr_end();
    ck_assert_int_eq(r, CUDA_SUCCESS); /* warn mode: reported, not fatal */
    ck_assert_msg(strstr(err, "RACE") != NULL, "stderr: %.2000s", err);
    ck_assert_ptr_nonnull(strstr(err, "simdev_test_fill (graph node"));
    char range[64];
    snprintf(range, sizeof(range), "[0x%llx, 0x%llx)", (unsigned long long)x, (unsigned long long)x + 256);
    ck_assert_msg(strstr(err, range) != NULL, "no %s in: %.2000s", range, err);
    CU(cuGraphExecDestroy(ex));
    /* Ordered, the same writes are no race; neither are writes to disjoint parts. */
    CUgraphNode nodes[3];
    size_t n = 3;
    CU(cuGraphGetNodes(g, nodes, &n));
    CU(cuGraphAddDependencies(g, &nodes[1], &nodes[2], NULL, 1));
    stderr_begin();
    CU(cuGraphInstantiate(&ex, g, 0));
    err = stderr_end();
    ck_assert_msg(strstr(err, "RACE") == NULL, "stderr: %.2000s", err);
    CU(cuGraphExecDestroy(ex));
    CU(cuGraphDestroy(g));
    /* An exec made race-free, then racy by set-params: checked again. */
    g = racy_graph(x);
    CU(cuGraphGetNodes(g, nodes, &n));
    CUDA_KERNEL_NODE_PARAMS p;
    CU(cuGraphKernelNodeGetParams(nodes[2], &p));
    CUdeviceptr x2 = x + 128;
    float v = 2;
    int cnt = 32;
    void *args[] = {&x2, &v, &cnt};
    p.kernelParams = args;
    CU(cuGraphKernelNodeSetParams(nodes[2], &p));
    cnt = 64;
    void *args1[] = {&x, &v, &cnt};
    CUDA_KERNEL_NODE_PARAMS p1;
    CU(cuGraphKernelNodeGetParams(nodes[1], &p1));
    cnt = 32;
    p1.kernelParams = args1;
    CU(cuGraphKernelNodeSetParams(nodes[1], &p1)); /* [x, x+128) and [x+128, x+256) */
    stderr_begin();
    CU(cuGraphInstantiate(&ex, g, 0));
    err = stderr_end();
    ck_assert_msg(strstr(err, "RACE") == NULL, "stderr: %.2000s", err);
    cnt = 40; /* overlaps the other half now */
    p1.kernelParams = args1;
    stderr_begin();
    CU(cuGraphExecKernelNodeSetParams(ex, nodes[1], &p1));
    err = stderr_end();
    ck_assert_msg(strstr(err, "RACE") != NULL, "stderr: %.2000s", err);
    CU(cuGraphExecDestroy(ex));
    CU(cuGraphDestroy(g));
    CU(cuMemFree(x));
}
END_TEST

START_TEST(test_race_streams_warn)
{
    CUdeviceptr x = dalloc(256), y = dalloc(256);
    CUstream s1, s2;
    CU(cuStreamCreate(&s1, CU_STREAM_NON_BLOCKING));
    CU(cuStreamCreate(&s2, CU_STREAM_NON_BLOCKING));
    CUevent e;
    CU(cuEventCreate(&e, CU_EVENT_DISABLE_TIMING));
    /* Ordered through an event: fine. Both only reading x: fine. */
    stderr_begin();
    fill(s1, x, 1.0f, 64);
    CU(cuEventRecord(e, s1));
    CU(cuStreamWaitEvent(s2, e, 0));
    fill(s2, x, 2.0f, 64);
    axpy(s1, y, x, 1.0f, 8);
    CU(cuCtxSynchronize());
    char *err = stderr_end();
    ck_assert_msg(strstr(err, "RACE") != NULL, "the axpy on s1 reads x while s2 writes it: %.2000s", err);
    stderr_begin();
    axpy(s1, y, x, 1.0f, 8);
    axpy(s2, y + 128, x, 1.0f, 8);
    CU(cuCtxSynchronize());
    /* After a host synchronisation everything earlier is ordered. */
    fill(s1, x, 3.0f, 64);
    CU(cuStreamSynchronize(s1));
    fill(s2, x, 4.0f, 64);
    CU(cuCtxSynchronize());
    err = stderr_end();
    ck_assert_msg(strstr(err, "RACE") == NULL, "stderr: %.2000s", err);
    /* Unordered writes on two streams. */
    stderr_begin();
    fill(s1, y, 1.0f, 64);
    fill(s2, y, 2.0f, 64);
    CU(cuCtxSynchronize());
    err = stderr_end();
    ck_assert_msg(strstr(err, "RACE") != NULL, "stderr: %.2000s", err);
    ck_assert_ptr_nonnull(strstr(err, "simdev_test_fill on stream"));
    CU(cuEventDestroy(e));
    CU(cuStreamDestroy(s1));
    CU(cuStreamDestroy(s2));
    CU(cuMemFree(x));
    CU(cuMemFree(y));
}
END_TEST

/* Re-executes this program: test_simcuda --child NAME, with an environment variable set;
 * returns the exit status and the child's stderr. */
static int run_child(const char *name, const char *var, const char *value, char *err, size_t errsz)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/simcuda-child-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fd, 2);
        setenv(var, value, 1);
        /* The child ends on purpose with its objects alive: no leak report under ASan. */
        setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
        execl(g_self, "test_simcuda", "--child", name, (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    ssize_t n = pread(fd, err, errsz - 1, 0);
    err[n > 0 ? n : 0] = 0;
    close(fd);
    unlink(path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

START_TEST(test_race_fatal)
{
    char err[8192];
    int rc = run_child("race", "SIMDEV_RACE", "fatal", err, sizeof(err));
    ck_assert_msg(rc == 86, "child exited %d: %.2000s", rc, err);
    ck_assert_ptr_nonnull(strstr(err, "RACE"));
    ck_assert_ptr_nonnull(strstr(err, "status 86"));
}
END_TEST

START_TEST(test_timing_mode)
{
    char err[8192];
    int rc = run_child("timing", "SIMDEV_MODE", "timing", err, sizeof(err));
    ck_assert_msg(rc == 0, "child exited %d: %.2000s", rc, err);
}
END_TEST

/* ---- children ---- */

#define CHILD_CHECK(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "child check failed at line %d: %s\n", __LINE__, #cond);                \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static int child_race(void)
{
    CUdeviceptr x;
    if (cuMemAlloc(&x, 256))
        return 2;
    CUgraph g = racy_graph(x);
    CUgraphExec ex;
    cuGraphInstantiate(&ex, g, 0);
    return 0; /* not reached when the race is caught */
}

/* Timing mode: paper-scale allocations without memory, kernels without computing, copies to
 * the host read zeros, time still passes. */
static int child_timing(void)
{
    CHILD_CHECK(simdev_compute_mode() == 0);
    CUdeviceptr big, x;
    CHILD_CHECK(cuMemAlloc(&big, (size_t)60 << 30) == CUDA_SUCCESS); /* 60 GiB of an 80 GiB A100 */
    CHILD_CHECK(cuMemAlloc(&x, (size_t)30 << 30) == CUDA_ERROR_OUT_OF_MEMORY);
    CHILD_CHECK(cuMemAlloc(&x, 1 << 20) == CUDA_SUCCESS);
    size_t fr, tot;
    CHILD_CHECK(cuMemGetInfo(&fr, &tot) == CUDA_SUCCESS && tot - fr >= ((size_t)60 << 30));
    int n = 1 << 30;
    float v = 1;
    void *args[] = {&big, &v, &n};
    CUevent e0, e1;
    cuEventCreate(&e0, 0);
    cuEventCreate(&e1, 0);
    cuEventRecord(e0, NULL);
    CHILD_CHECK(cuLaunchKernel(f_fill, 1024, 1, 1, 256, 1, 1, 0, NULL, args, NULL) == CUDA_SUCCESS);
    cuEventRecord(e1, NULL);
    float host[4] = {5, 5, 5, 5};
    CHILD_CHECK(cuMemcpyHtoD(x, host, sizeof(host)) == CUDA_SUCCESS);
    CHILD_CHECK(cuMemcpyDtoH(host, big, sizeof(host)) == CUDA_SUCCESS);
    CHILD_CHECK(host[0] == 0.0f && host[3] == 0.0f);
    float ms;
    CHILD_CHECK(cuEventElapsedTime(&ms, e0, e1) == CUDA_SUCCESS);
    /* 4 GiB written at 2039 GB/s: about 2.1 ms. */
    CHILD_CHECK(ms > 2.0f && ms < 2.3f);
    CUgraph g;
    CUstream s;
    cuStreamCreate(&s, 0);
    CHILD_CHECK(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL) == CUDA_SUCCESS);
    CHILD_CHECK(cuLaunchKernel(f_fill, 1024, 1, 1, 256, 1, 1, 0, s, args, NULL) == CUDA_SUCCESS);
    CHILD_CHECK(cuStreamEndCapture(s, &g) == CUDA_SUCCESS);
    CUgraphExec ex;
    CHILD_CHECK(cuGraphInstantiate(&ex, g, 0) == CUDA_SUCCESS);
    CHILD_CHECK(cuGraphLaunch(ex, s) == CUDA_SUCCESS);
    CHILD_CHECK(cuStreamSynchronize(s) == CUDA_SUCCESS);
    CHILD_CHECK(cuMemFree(big) == CUDA_SUCCESS);
    CHILD_CHECK(cuMemAlloc(&big, (size_t)70 << 30) == CUDA_SUCCESS); /* the space came back */
    return 0;
}

static Suite *simcuda_suite(void)
{
    Suite *s = suite_create("simcuda");
    TCase *tc = tcase_create("driver");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_device);
    tcase_add_test(tc, test_context);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_memory);
    tcase_add_test(tc, test_async_pageable_copy);
    tcase_add_test(tc, test_kernel_launch);
    tcase_add_test(tc, test_event_timing);
    tcase_add_test(tc, test_concurrency);
    tcase_add_test(tc, test_stream_semantics);
    tcase_add_test(tc, test_host_func_and_free_sync);
    tcase_add_test(tc, test_capture_fork_join);
    tcase_add_test(tc, test_capture_modes);
    tcase_add_test(tc, test_capture_invalidation);
    tcase_add_test(tc, test_capture_dependencies);
    tcase_add_test(tc, test_graph_timing_and_activity);
    tcase_add_test(tc, test_graph_api);
    tcase_add_test(tc, test_graph_edges_and_params);
    tcase_add_test(tc, test_kernel_node_params_and_attrs);
    tcase_add_test(tc, test_exec_update);
    tcase_add_test(tc, test_capture_graph_launch);
    tcase_add_test(tc, test_two_devices);
    tcase_add_test(tc, test_destroyed_stream);
    tcase_add_test(tc, test_proc_address);
    tcase_add_test(tc, test_unsupported);
    tcase_add_test(tc, test_race_graph_warn);
    tcase_add_test(tc, test_race_streams_warn);
    tcase_add_test(tc, test_race_fatal);
    tcase_add_test(tc, test_timing_mode);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    if (!realpath(argv[0], g_self))
        snprintf(g_self, sizeof(g_self), "/proc/self/exe");
    if (argc == 3 && strcmp(argv[1], "--child") == 0) {
        char *mode = getenv("SIMDEV_MODE"), *race = getenv("SIMDEV_RACE");
        char m[32] = "", rc[32] = "";
        snprintf(m, sizeof(m), "%s", mode ? mode : "");
        snprintf(rc, sizeof(rc), "%s", race ? race : "");
        setup_env();
        if (*m)
            setenv("SIMDEV_MODE", m, 1);
        setenv("SIMDEV_RACE", *rc ? rc : "warn", 1);
        setup_device();
        if (strcmp(argv[2], "race") == 0)
            return child_race();
        if (strcmp(argv[2], "timing") == 0)
            return child_timing();
        return 3;
    }
    setup_env();
    setenv("SIMDEV_MODE", "compute", 1);
    setenv("SIMDEV_RACE", "warn", 1);
    /* The simulated device lives in this process: no fork per test. */
    setenv("CK_FORK", "no", 1);
    setup_device();
    SRunner *sr = srunner_create(simcuda_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    g_in_check = 1;
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
