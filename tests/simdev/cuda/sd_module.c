/* Modules, functions and kernel providers of the simulated driver.
 *
 * A module's image is never interpreted: cuModuleGetFunction looks the name up among the kernels
 * registered by providers (simdev_register_kernels, SIMDEV_PROVIDERS). A CUfunction is our
 * struct CUfunc_st; CUkernel and CUlibrary handles are the same objects as CUfunction and
 * CUmodule (CUDA documents that a CUkernel may be passed where a CUfunction is expected).
 *
 * Kernel parameters are copied into a buffer laid out as the CUDA ABI lays out a parameter block
 * (each parameter at the next multiple of its natural alignment), so the offsets that
 * cuFuncGetParamInfo reports match the buffer form of cuLaunchKernel's extra argument. */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "sd_internal.h"

/* ---- provider registry: sorted by name ---- */

static SD_VEC(const simdev_kernel_t *) sd_kernels;
static SD_VEC(struct CUfunc_st *) sd_global_funcs; /* simdev_function(), by registry entry */
static SD_VEC(struct CUmod_st *) sd_unloaded;       /* kept: stale handles must stay readable */

static int sd_kernel_cmp(const void *a, const void *b)
{
    const simdev_kernel_t *x = *(const simdev_kernel_t *const *)a;
    const simdev_kernel_t *y = *(const simdev_kernel_t *const *)b;
    return strcmp(x->name, y->name);
}

void simdev_register_kernels(const simdev_kernel_t *kernels, size_t n)
{
    pthread_mutex_lock(&sd.lock);
    for (size_t i = 0; i < n; i++) {
        const simdev_kernel_t *k = &kernels[i];
        if (!k->name || !k->describe || k->nparams > SIMDEV_MAX_PARAMS) {
            sd_log("provider kernel #%zu (%s) ignored: needs a name, a describe function and at "
                   "most %d parameters", i, k->name ? k->name : "unnamed", SIMDEV_MAX_PARAMS);
            continue;
        }
        int replaced = 0;
        for (size_t j = 0; j < sd_kernels.n; j++)
            if (strcmp(sd_kernels.v[j]->name, k->name) == 0) {
                sd_debug("kernel %s registered again: the later provider wins", k->name);
                sd_kernels.v[j] = k;
                replaced = 1;
            }
        if (!replaced)
            SD_VEC_PUSH(&sd_kernels, k);
    }
    qsort(sd_kernels.v, sd_kernels.n, sizeof(sd_kernels.v[0]), sd_kernel_cmp);
    pthread_mutex_unlock(&sd.lock);
}

const simdev_kernel_t *sd_kernel_lookup(const char *name)
{
    size_t lo = 0, hi = sd_kernels.n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(sd_kernels.v[mid]->name, name);
        if (c == 0)
            return sd_kernels.v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void sd_provider_reg(const simdev_kernel_t *kernels, size_t n)
{
    simdev_register_kernels(kernels, n);
}

void sd_providers_load(void)
{
    const char *list = getenv("SIMDEV_PROVIDERS");
    if (!list || !*list)
        return;
    char *copy = sd_xstrdup(list), *save = NULL;
    for (char *p = strtok_r(copy, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
        void *h = dlopen(p, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            sd_log("SIMDEV_PROVIDERS: cannot load %s: %s", p, dlerror());
            continue;
        }
        void (*init)(void (*)(const simdev_kernel_t *, size_t));
        *(void **)&init = dlsym(h, "simdev_provider_init");
        if (!init) {
            sd_log("SIMDEV_PROVIDERS: %s has no simdev_provider_init", p);
            continue;
        }
        init(sd_provider_reg);
    }
    free(copy);
}

/* ---- functions ---- */

static struct CUfunc_st *sd_func_new(const simdev_kernel_t *k, struct CUmod_st *mod)
{
    struct CUfunc_st *f = sd_xcalloc(1, sizeof(*f));
    f->magic = SD_MAGIC_FUNC;
    f->k = k;
    f->mod = mod;
    f->max_dyn_smem = 49152;
    uint32_t off = 0;
    for (uint32_t i = 0; i < k->nparams; i++) {
        uint32_t sz = k->param_size[i];
        uint32_t align = sz ? (sz & -sz) : 1;
        if (align > 16)
            align = 16;
        off = (off + align - 1) & ~(align - 1);
        f->offset[i] = off;
        off += sz;
    }
    f->argsize = off;
    return f;
}

struct CUfunc_st *sd_func_for(const simdev_kernel_t *k)
{
    for (size_t i = 0; i < sd_global_funcs.n; i++)
        if (sd_global_funcs.v[i]->k == k)
            return sd_global_funcs.v[i];
    struct CUfunc_st *f = sd_func_new(k, NULL);
    SD_VEC_PUSH(&sd_global_funcs, f);
    return f;
}

int sd_func_valid(CUfunction f)
{
    return f && f->magic == SD_MAGIC_FUNC;
}

void *simdev_function(const char *name)
{
    if (!name)
        return NULL;
    pthread_mutex_lock(&sd.lock);
    const simdev_kernel_t *k = sd.initialized ? sd_kernel_lookup(name) : NULL;
    void *f = k ? sd_func_for(k) : NULL;
    pthread_mutex_unlock(&sd.lock);
    return f;
}

/* ---- kernel parameters ---- */

CUresult sd_kparams_new(CUfunction f, const uint32_t grid[3], const uint32_t block[3],
                        uint32_t smem, void **params, void **extra, sd_kparams_t **out)
{
    if (!sd_func_valid(f))
        return CUDA_ERROR_INVALID_HANDLE;
    if (!grid[0] || !grid[1] || !grid[2] || !block[0] || !block[1] || !block[2] ||
        grid[1] > 65535 || grid[2] > 65535 || grid[0] > 2147483647u || block[0] > 1024 ||
        block[1] > 1024 || block[2] > 64 ||
        (uint64_t)block[0] * block[1] * block[2] > 1024)
        return CUDA_ERROR_INVALID_VALUE;
    if (smem > (uint32_t)f->max_dyn_smem && smem > 49152)
        return CUDA_ERROR_INVALID_VALUE;
    const simdev_kernel_t *k = f->k;
    const void *ebuf = NULL;
    size_t esize = 0;
    if (extra) {
        if (params)
            return CUDA_ERROR_INVALID_VALUE;
        for (size_t i = 0; extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
            if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER)
                ebuf = extra[i + 1];
            else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE)
                esize = extra[i + 1] ? *(const size_t *)extra[i + 1] : 0;
            else
                return CUDA_ERROR_INVALID_VALUE;
        }
        if (k->nparams && (!ebuf || esize < f->argsize))
            return CUDA_ERROR_INVALID_VALUE;
    } else if (k->nparams && !params) {
        return CUDA_ERROR_INVALID_VALUE;
    }
    sd_kparams_t *kp = sd_xcalloc(1, sizeof(*kp));
    kp->refs = 1;
    kp->func = f;
    memcpy(kp->grid, grid, sizeof(kp->grid));
    memcpy(kp->block, block, sizeof(kp->block));
    kp->smem = smem;
    kp->buf = sd_xcalloc(1, f->argsize ? f->argsize : 1);
    kp->ptrs = sd_xcalloc(k->nparams ? k->nparams : 1, sizeof(void *));
    if (ebuf)
        memcpy(kp->buf, ebuf, f->argsize);
    for (uint32_t i = 0; i < k->nparams; i++) {
        kp->ptrs[i] = kp->buf + f->offset[i];
        if (params && k->param_size[i]) {
            if (!params[i]) {
                sd_kparams_unref(kp);
                return CUDA_ERROR_INVALID_VALUE;
            }
            memcpy(kp->ptrs[i], params[i], k->param_size[i]);
        }
    }
    *out = kp;
    return CUDA_SUCCESS;
}

sd_kparams_t *sd_kparams_dup(const sd_kparams_t *src)
{
    const struct CUfunc_st *f = src->func;
    sd_kparams_t *kp = sd_xcalloc(1, sizeof(*kp));
    *kp = *src;
    kp->refs = 1;
    kp->buf = sd_xcalloc(1, f->argsize ? f->argsize : 1);
    memcpy(kp->buf, src->buf, f->argsize);
    kp->ptrs = sd_xcalloc(f->k->nparams ? f->k->nparams : 1, sizeof(void *));
    for (uint32_t i = 0; i < f->k->nparams; i++)
        kp->ptrs[i] = kp->buf + f->offset[i];
    return kp;
}

void sd_kparams_ref(sd_kparams_t *kp)
{
    if (kp)
        kp->refs++;
}

void sd_kparams_unref(sd_kparams_t *kp)
{
    if (!kp || --kp->refs > 0)
        return;
    free(kp->buf);
    free(kp->ptrs);
    free(kp);
}

CUresult sd_kparams_set_attr(sd_kparams_t *kp, CUlaunchAttributeID id,
                             const CUlaunchAttributeValue *val)
{
    for (uint32_t i = 0; i < kp->nattrs; i++)
        if (kp->attrs[i].id == id) {
            kp->attrs[i].value = *val;
            return CUDA_SUCCESS;
        }
    if (kp->nattrs >= SD_MAX_ATTRS)
        return CUDA_ERROR_INVALID_VALUE;
    kp->attrs[kp->nattrs].id = id;
    kp->attrs[kp->nattrs].value = *val;
    kp->nattrs++;
    return CUDA_SUCCESS;
}

void sd_kparams_get_attr(const sd_kparams_t *kp, CUlaunchAttributeID id, CUlaunchAttributeValue *val)
{
    memset(val, 0, sizeof(*val));
    for (uint32_t i = 0; i < kp->nattrs; i++)
        if (kp->attrs[i].id == id)
            *val = kp->attrs[i].value;
}

void sd_kparams_launch(const sd_kparams_t *kp, int device, simdev_launch_t *l)
{
    (void)device;
    memset(l, 0, sizeof(*l));
    memcpy(l->grid, kp->grid, sizeof(l->grid));
    memcpy(l->block, kp->block, sizeof(l->block));
    l->smem = kp->smem;
    l->params = kp->ptrs;
    l->nparams = kp->func->k->nparams;
    l->compute_mode = sd.compute;
    l->dev = &sd.dev.info;
}

/* ---- modules ---- */

static struct CUmod_st *sd_module_new(int is_library)
{
    struct CUmod_st *m = sd_xcalloc(1, sizeof(*m));
    m->magic = SD_MAGIC_MODULE;
    m->is_library = is_library;
    return m;
}

static int sd_module_valid(const struct CUmod_st *m, int is_library)
{
    return m && m->magic == SD_MAGIC_MODULE && m->is_library == is_library;
}

static CUresult sd_module_load(CUmodule *module, const void *image, int is_library)
{
    struct CUctx_st *c;
    CUresult r = is_library ? sd_check_init() : sd_current_ctx(&c);
    if (r)
        return r;
    if (!module || !image)
        return CUDA_ERROR_INVALID_VALUE;
    *module = sd_module_new(is_library);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuModuleLoadData(CUmodule *module, const void *image)
{
    SD_API(cuModuleLoadData, sd_module_load(module, image, 0));
}

CUresult CUDAAPI cuModuleLoadDataEx(CUmodule *module, const void *image, unsigned int numOptions,
                                    CUjit_option *options, void **optionValues)
{
    (void)numOptions;
    (void)options;
    (void)optionValues;
    SD_API(cuModuleLoadDataEx, sd_module_load(module, image, 0));
}

CUresult CUDAAPI cuModuleLoadFatBinary(CUmodule *module, const void *fatCubin)
{
    SD_API(cuModuleLoadFatBinary, sd_module_load(module, fatCubin, 0));
}

static CUresult sd_module_load_file(CUmodule *module, const char *fname)
{
    if (!fname)
        return CUDA_ERROR_INVALID_VALUE;
    FILE *f = fopen(fname, "rb");
    if (!f)
        return sd_check_init() ? sd_check_init() : CUDA_ERROR_FILE_NOT_FOUND;
    fclose(f);
    return sd_module_load(module, fname, 0);
}

CUresult CUDAAPI cuModuleLoad(CUmodule *module, const char *fname)
{
    SD_API(cuModuleLoad, sd_module_load_file(module, fname));
}

static CUresult sd_module_unload(struct CUmod_st *m, int is_library)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!sd_module_valid(m, is_library))
        return CUDA_ERROR_INVALID_HANDLE;
    /* Function objects stay allocated (marked dead): graph nodes and pending launches may still
     * point at them, and a launch through a stale handle must fail cleanly. */
    for (struct CUfunc_st *f = m->funcs; f; f = f->next)
        f->magic = SD_MAGIC_DEAD;
    m->magic = SD_MAGIC_DEAD;
    SD_VEC_PUSH(&sd_unloaded, m);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuModuleUnload(CUmodule hmod)
{
    SD_API(cuModuleUnload, sd_module_unload(hmod, 0));
}

static CUresult sd_module_get_function(CUfunction *hfunc, struct CUmod_st *m, const char *name,
                                       int is_library)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!hfunc || !name)
        return CUDA_ERROR_INVALID_VALUE;
    if (!sd_module_valid(m, is_library))
        return CUDA_ERROR_INVALID_HANDLE;
    const simdev_kernel_t *k = sd_kernel_lookup(name);
    if (!k) {
        sd_debug("no provider for kernel %s", name);
        return CUDA_ERROR_NOT_FOUND;
    }
    for (struct CUfunc_st *f = m->funcs; f; f = f->next)
        if (f->k == k) {
            *hfunc = f;
            return CUDA_SUCCESS;
        }
    struct CUfunc_st *f = sd_func_new(k, m);
    f->next = m->funcs;
    m->funcs = f;
    *hfunc = f;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name)
{
    SD_API(cuModuleGetFunction, sd_module_get_function(hfunc, hmod, name, 0));
}

static CUresult sd_module_count(unsigned *count, struct CUmod_st *m, int is_library)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!count)
        return CUDA_ERROR_INVALID_VALUE;
    if (!sd_module_valid(m, is_library))
        return CUDA_ERROR_INVALID_HANDLE;
    *count = (unsigned)sd_kernels.n;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuModuleGetFunctionCount(unsigned int *count, CUmodule mod)
{
    SD_API(cuModuleGetFunctionCount, sd_module_count(count, mod, 0));
}

static CUresult sd_module_enumerate(CUfunction *out, unsigned n, struct CUmod_st *m, int is_library)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!out)
        return CUDA_ERROR_INVALID_VALUE;
    if (!sd_module_valid(m, is_library))
        return CUDA_ERROR_INVALID_HANDLE;
    for (unsigned i = 0; i < n && i < sd_kernels.n; i++) {
        r = sd_module_get_function(&out[i], m, sd_kernels.v[i]->name, is_library);
        if (r)
            return r;
    }
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuModuleEnumerateFunctions(CUfunction *functions, unsigned int numFunctions,
                                            CUmodule mod)
{
    SD_API(cuModuleEnumerateFunctions, sd_module_enumerate(functions, numFunctions, mod, 0));
}

static CUresult sd_module_global(CUdeviceptr *dptr, size_t *bytes, struct CUmod_st *m,
                                 const char *name, int is_library)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    (void)dptr;
    (void)bytes;
    if (!name)
        return CUDA_ERROR_INVALID_VALUE;
    if (!sd_module_valid(m, is_library))
        return CUDA_ERROR_INVALID_HANDLE;
    /* Providers declare no device globals. */
    return CUDA_ERROR_NOT_FOUND;
}

CUresult CUDAAPI cuModuleGetGlobal_v2(CUdeviceptr *dptr, size_t *bytes, CUmodule hmod, const char *name)
{
    SD_API(cuModuleGetGlobal_v2, sd_module_global(dptr, bytes, hmod, name, 0));
}

static CUresult sd_loading_mode(CUmoduleLoadingMode *mode)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    if (!mode)
        return CUDA_ERROR_INVALID_VALUE;
    *mode = CU_MODULE_EAGER_LOADING;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuModuleGetLoadingMode(CUmoduleLoadingMode *mode)
{
    SD_API(cuModuleGetLoadingMode, sd_loading_mode(mode));
}

/* ---- libraries and kernels (context-independent modules) ---- */

CUresult CUDAAPI cuLibraryLoadData(CUlibrary *library, const void *code, CUjit_option *jitOptions,
                                   void **jitOptionsValues, unsigned int numJitOptions,
                                   CUlibraryOption *libraryOptions, void **libraryOptionValues,
                                   unsigned int numLibraryOptions)
{
    (void)jitOptions;
    (void)jitOptionsValues;
    (void)numJitOptions;
    (void)libraryOptions;
    (void)libraryOptionValues;
    (void)numLibraryOptions;
    SD_API(cuLibraryLoadData, sd_module_load((CUmodule *)(void *)library, code, 1));
}

CUresult CUDAAPI cuLibraryUnload(CUlibrary library)
{
    SD_API(cuLibraryUnload, sd_module_unload((struct CUmod_st *)(void *)library, 1));
}

CUresult CUDAAPI cuLibraryGetKernel(CUkernel *pKernel, CUlibrary library, const char *name)
{
    SD_API(cuLibraryGetKernel, sd_module_get_function((CUfunction *)(void *)pKernel,
                                                      (struct CUmod_st *)(void *)library, name, 1));
}

CUresult CUDAAPI cuLibraryGetKernelCount(unsigned int *count, CUlibrary lib)
{
    SD_API(cuLibraryGetKernelCount, sd_module_count(count, (struct CUmod_st *)(void *)lib, 1));
}

CUresult CUDAAPI cuLibraryEnumerateKernels(CUkernel *kernels, unsigned int numKernels, CUlibrary lib)
{
    SD_API(cuLibraryEnumerateKernels,
           sd_module_enumerate((CUfunction *)(void *)kernels, numKernels,
                               (struct CUmod_st *)(void *)lib, 1));
}

CUresult CUDAAPI cuLibraryGetGlobal(CUdeviceptr *dptr, size_t *bytes, CUlibrary library, const char *name)
{
    SD_API(cuLibraryGetGlobal,
           sd_module_global(dptr, bytes, (struct CUmod_st *)(void *)library, name, 1));
}

static CUresult sd_kernel_get_function(CUfunction *pFunc, CUkernel kernel)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    CUfunction f = (CUfunction)(void *)kernel;
    if (!pFunc)
        return CUDA_ERROR_INVALID_VALUE;
    if (!sd_func_valid(f))
        return CUDA_ERROR_INVALID_HANDLE;
    *pFunc = f;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuKernelGetFunction(CUfunction *pFunc, CUkernel kernel)
{
    SD_API(cuKernelGetFunction, sd_kernel_get_function(pFunc, kernel));
}

/* ---- function queries ---- */

static CUresult sd_func_check(CUfunction f)
{
    CUresult r = sd_check_init();
    if (r)
        return r;
    return sd_func_valid(f) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

static CUresult sd_func_name(const char **name, CUfunction f)
{
    CUresult r = sd_func_check(f);
    if (r)
        return r;
    if (!name)
        return CUDA_ERROR_INVALID_VALUE;
    *name = f->k->name;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuFuncGetName(const char **name, CUfunction hfunc)
{
    SD_API(cuFuncGetName, sd_func_name(name, hfunc));
}

CUresult CUDAAPI cuKernelGetName(const char **name, CUkernel hfunc)
{
    SD_API(cuKernelGetName, sd_func_name(name, (CUfunction)(void *)hfunc));
}

static CUresult sd_func_param_info(CUfunction f, size_t idx, size_t *off, size_t *size)
{
    CUresult r = sd_func_check(f);
    if (r)
        return r;
    if (idx >= f->k->nparams)
        return CUDA_ERROR_INVALID_VALUE;
    if (off)
        *off = f->offset[idx];
    if (size)
        *size = f->k->param_size[idx];
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuFuncGetParamInfo(CUfunction func, size_t paramIndex, size_t *paramOffset,
                                    size_t *paramSize)
{
    SD_API(cuFuncGetParamInfo, sd_func_param_info(func, paramIndex, paramOffset, paramSize));
}

CUresult CUDAAPI cuKernelGetParamInfo(CUkernel kernel, size_t paramIndex, size_t *paramOffset,
                                      size_t *paramSize)
{
    SD_API(cuKernelGetParamInfo,
           sd_func_param_info((CUfunction)(void *)kernel, paramIndex, paramOffset, paramSize));
}

static CUresult sd_func_get_attr(int *pi, CUfunction_attribute a, CUfunction f)
{
    CUresult r = sd_func_check(f);
    if (r)
        return r;
    if (!pi)
        return CUDA_ERROR_INVALID_VALUE;
    int cc = sd.dev.info.cc_major * 10 + sd.dev.info.cc_minor;
    switch (a) {
    case CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *pi = 1024; break;
    case CU_FUNC_ATTRIBUTE_NUM_REGS: *pi = 32; break;
    case CU_FUNC_ATTRIBUTE_PTX_VERSION:
    case CU_FUNC_ATTRIBUTE_BINARY_VERSION: *pi = cc; break;
    case CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES: *pi = f->max_dyn_smem; break;
    case CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT: *pi = -1; break;
    default:
        if ((int)a < 0 || a >= CU_FUNC_ATTRIBUTE_MAX)
            return CUDA_ERROR_INVALID_VALUE;
        *pi = 0;
    }
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuFuncGetAttribute(int *pi, CUfunction_attribute attrib, CUfunction hfunc)
{
    SD_API(cuFuncGetAttribute, sd_func_get_attr(pi, attrib, hfunc));
}

CUresult CUDAAPI cuKernelGetAttribute(int *pi, CUfunction_attribute attrib, CUkernel kernel, CUdevice dev)
{
    (void)dev;
    SD_API(cuKernelGetAttribute, sd_func_get_attr(pi, attrib, (CUfunction)(void *)kernel));
}

static CUresult sd_func_set_attr(CUfunction f, CUfunction_attribute a, int v)
{
    CUresult r = sd_func_check(f);
    if (r)
        return r;
    if ((int)a < 0 || a >= CU_FUNC_ATTRIBUTE_MAX)
        return CUDA_ERROR_INVALID_VALUE;
    if (a == CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES) {
        if (v < 0 || v > sd.dev.smem_per_block_optin)
            return CUDA_ERROR_INVALID_VALUE;
        f->max_dyn_smem = v;
    }
    /* Other attributes (carveout, cluster shape preferences, ...) change nothing here. */
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib, int value)
{
    SD_API(cuFuncSetAttribute, sd_func_set_attr(hfunc, attrib, value));
}

CUresult CUDAAPI cuKernelSetAttribute(CUfunction_attribute attrib, int val, CUkernel kernel, CUdevice dev)
{
    (void)dev;
    SD_API(cuKernelSetAttribute, sd_func_set_attr((CUfunction)(void *)kernel, attrib, val));
}

CUresult CUDAAPI cuFuncSetCacheConfig(CUfunction hfunc, CUfunc_cache config)
{
    (void)config;
    SD_API(cuFuncSetCacheConfig, sd_func_check(hfunc));
}

CUresult CUDAAPI cuKernelSetCacheConfig(CUkernel kernel, CUfunc_cache config, CUdevice dev)
{
    (void)config;
    (void)dev;
    SD_API(cuKernelSetCacheConfig, sd_func_check((CUfunction)(void *)kernel));
}

static CUresult sd_func_module(CUmodule *hmod, CUfunction f)
{
    CUresult r = sd_func_check(f);
    if (r)
        return r;
    if (!hmod)
        return CUDA_ERROR_INVALID_VALUE;
    *hmod = f->mod;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuFuncGetModule(CUmodule *hmod, CUfunction hfunc)
{
    SD_API(cuFuncGetModule, sd_func_module(hmod, hfunc));
}

static CUresult sd_func_loaded(CUfunctionLoadingState *state, CUfunction f)
{
    CUresult r = sd_func_check(f);
    if (r)
        return r;
    if (!state)
        return CUDA_ERROR_INVALID_VALUE;
    *state = CU_FUNCTION_LOADING_STATE_LOADED;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuFuncIsLoaded(CUfunctionLoadingState *state, CUfunction function)
{
    SD_API(cuFuncIsLoaded, sd_func_loaded(state, function));
}

CUresult CUDAAPI cuFuncLoad(CUfunction function)
{
    SD_API(cuFuncLoad, sd_func_check(function));
}

/* ---- occupancy: only the thread limit is modelled (registers and shared memory are not) ---- */

static CUresult sd_occ_blocks(int *num, CUfunction f, int block, size_t smem)
{
    CUresult r = sd_func_check(f);
    if (r)
        return r;
    if (!num || block <= 0 || block > 1024)
        return CUDA_ERROR_INVALID_VALUE;
    int per_sm = sd.dev.max_threads_per_sm / block;
    if (sd.dev.smem_per_sm && smem && (int)(sd.dev.smem_per_sm / smem) < per_sm)
        per_sm = (int)(sd.dev.smem_per_sm / smem);
    *num = per_sm < 1 ? 0 : per_sm > 32 ? 32 : per_sm;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuOccupancyMaxActiveBlocksPerMultiprocessor(int *numBlocks, CUfunction func, int blockSize,
                                                             size_t dynamicSMemSize)
{
    SD_API(cuOccupancyMaxActiveBlocksPerMultiprocessor, sd_occ_blocks(numBlocks, func, blockSize, dynamicSMemSize));
}

CUresult CUDAAPI cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(int *numBlocks, CUfunction func,
                                                                      int blockSize, size_t dynamicSMemSize,
                                                                      unsigned int flags)
{
    (void)flags;
    SD_API(cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags,
           sd_occ_blocks(numBlocks, func, blockSize, dynamicSMemSize));
}

static CUresult sd_occ_block_size(int *min_grid, int *block, CUfunction f, CUoccupancyB2DSize b2smem,
                                  size_t smem, int limit)
{
    CUresult r = sd_func_check(f);
    if (r)
        return r;
    if (!min_grid || !block)
        return CUDA_ERROR_INVALID_VALUE;
    int b = limit > 0 && limit < 1024 ? limit : 1024;
    size_t s = b2smem ? b2smem(b) : smem;
    int per_sm;
    r = sd_occ_blocks(&per_sm, f, b, s);
    if (r)
        return r;
    *block = b;
    *min_grid = per_sm * sd.dev.info.sms;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuOccupancyMaxPotentialBlockSize(int *minGridSize, int *blockSize, CUfunction func,
                                                  CUoccupancyB2DSize blockSizeToDynamicSMemSize,
                                                  size_t dynamicSMemSize, int blockSizeLimit)
{
    SD_API(cuOccupancyMaxPotentialBlockSize, sd_occ_block_size(minGridSize, blockSize, func,
                                                               blockSizeToDynamicSMemSize, dynamicSMemSize,
                                                               blockSizeLimit));
}

CUresult CUDAAPI cuOccupancyMaxPotentialBlockSizeWithFlags(int *minGridSize, int *blockSize, CUfunction func,
                                                           CUoccupancyB2DSize blockSizeToDynamicSMemSize,
                                                           size_t dynamicSMemSize, int blockSizeLimit,
                                                           unsigned int flags)
{
    (void)flags;
    SD_API(cuOccupancyMaxPotentialBlockSizeWithFlags,
           sd_occ_block_size(minGridSize, blockSize, func, blockSizeToDynamicSMemSize, dynamicSMemSize,
                             blockSizeLimit));
}
