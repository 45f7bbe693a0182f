/* Internals of the simulated libcuda.so.1 (tests/simdev/cuda). Not an interface: only the
 * sources of this library include it. The library is compiled with __CUDA_API_VERSION_INTERNAL
 * so that cuda.h declares every exported symbol under its real name (cuMemAlloc_v2,
 * cuLaunchKernel_ptsz, the legacy cuMemAlloc, ...) and the compiler checks each definition
 * against the toolkit's prototype.
 *
 * Objects: the opaque CUDA handle types (struct CUctx_st, CUstream_st, ...) are defined here, so
 * a handle is a pointer to our struct. Each starts with a magic number checked on entry.
 *
 * Concurrency: every exported function runs under one recursive lock (sd_api_enter/exit), so
 * the state below needs no finer locking. */
#ifndef SD_INTERNAL_H
#define SD_INTERNAL_H

#include <cuda.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../simdev.h"

#define SD_MAX_DEVICES 16
#define SD_MAX_ATTRS 16

enum {
    SD_MAGIC_CTX = 0x5c7c0001u,
    SD_MAGIC_STREAM = 0x5c7c0002u,
    SD_MAGIC_EVENT = 0x5c7c0003u,
    SD_MAGIC_MODULE = 0x5c7c0004u,
    SD_MAGIC_FUNC = 0x5c7c0005u,
    SD_MAGIC_GRAPH = 0x5c7c0006u,
    SD_MAGIC_NODE = 0x5c7c0007u,
    SD_MAGIC_EXEC = 0x5c7c0008u,
    SD_MAGIC_POOL = 0x5c7c0009u,
    SD_MAGIC_DEAD = 0xdeadbeefu
};

/* ---- small utilities (sd_util.c) ---- */

#define SD_VEC(T)                                                                                  \
    struct {                                                                                       \
        T *v;                                                                                      \
        size_t n, cap;                                                                             \
    }
/* Grows *v to hold need elements; aborts the process on out-of-memory (the simulator cannot
 * continue meaningfully without its own bookkeeping). */
void sd_vec_grow(void **v, size_t *cap, size_t elem, size_t need);
#define SD_VEC_RESERVE(vec, need)                                                                  \
    sd_vec_grow((void **)&(vec)->v, &(vec)->cap, sizeof(*(vec)->v), (need))
#define SD_VEC_PUSH(vec, x)                                                                        \
    do {                                                                                           \
        SD_VEC_RESERVE((vec), (vec)->n + 1);                                                       \
        (vec)->v[(vec)->n++] = (x);                                                                \
    } while (0)
#define SD_VEC_FREE(vec)                                                                           \
    do {                                                                                           \
        free((vec)->v);                                                                            \
        (vec)->v = NULL;                                                                           \
        (vec)->n = (vec)->cap = 0;                                                                 \
    } while (0)

void *sd_xmalloc(size_t n);
void *sd_xcalloc(size_t n, size_t m);
char *sd_xstrdup(const char *s);

void sd_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sd_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- profiles (sd_profile.c) ---- */

typedef struct {
    simdev_device_info_t info;  /* exported view; strings point into this struct */
    char name[32], full_name[96];
    double graph_node_us, host_api_us, host_launch_us, host_graph_launch_us, host_sync_us;
    double copy_latency_us;
    int max_threads_per_sm, smem_per_block_optin, smem_per_sm, l2_bytes;
    int clock_khz, mem_clock_khz, mem_bus_width;
} sd_device_profile_t;

typedef struct {
    simdev_fabric_info_t info;
    char name[32], device[32];
} sd_fabric_profile_t;

/* Loads the profiles chosen by SIMDEV_DEVICE / SIMDEV_FABRIC (names or JSON paths). Returns 0,
 * or -1 after logging the exact cause. */
int sd_profile_load(sd_device_profile_t *dev, sd_fabric_profile_t *fab);

/* ---- vector clocks (sd_race.c): happens-before between stream operations ---- */

typedef struct {
    uint64_t *c;
    uint32_t n;
} sd_vc_t;

uint64_t sd_vc_get(const sd_vc_t *vc, uint32_t i);
void sd_vc_set(sd_vc_t *vc, uint32_t i, uint64_t v);
void sd_vc_join(sd_vc_t *dst, const sd_vc_t *src);
void sd_vc_copy(sd_vc_t *dst, const sd_vc_t *src);
void sd_vc_free(sd_vc_t *vc);

/* ---- footprints (sd_race.c) ---- */

/* One interval of an allocation: allocation id (0 for memory no allocation covers) and
 * [lo, hi) in device addresses. */
typedef struct {
    uint64_t alloc, lo, hi;
} sd_iv_t;

/* A footprint, normalised into sorted, merged read and write interval lists. */
typedef struct {
    SD_VEC(sd_iv_t) r;
    SD_VEC(sd_iv_t) w;
} sd_rset_t;

void sd_rset_add(sd_rset_t *s, uint64_t addr, uint64_t size, int write);
void sd_rset_add_iv(sd_rset_t *s, const sd_iv_t *iv, int write);
void sd_rset_normalize(sd_rset_t *s);
void sd_rset_union(sd_rset_t *dst, const sd_rset_t *src);
/* 1 if a and b conflict (overlap with at least one write); *where gets one overlap. */
int sd_rset_conflict(const sd_rset_t *a, const sd_rset_t *b, sd_iv_t *where);
void sd_rset_free(sd_rset_t *s);

/* ---- allocations (sd_mem.c) ---- */

enum {
    SD_ALLOC_DEVICE = 0,  /* cuMemAlloc */
    SD_ALLOC_ASYNC,       /* cuMemAllocAsync / pool */
    SD_ALLOC_GRAPH,       /* graph mem-alloc node */
    SD_ALLOC_HOST,        /* cuMemAllocHost / cuMemHostAlloc: page-locked host memory */
    SD_ALLOC_REGISTERED   /* cuMemHostRegister */
};

typedef struct sd_alloc {
    uint64_t base, size;
    uint64_t id;          /* unique, never reused: the race checker's allocation identity */
    int kind;
    int device;
    struct CUctx_st *ctx;
    void *mem;            /* backing memory to free, NULL if none (timing mode, registered) */
    int graph_refs;       /* SD_ALLOC_GRAPH: graphs / execs holding the node that owns it */
    int freeing;          /* a stream-ordered free is pending */
} sd_alloc_t;

/* The allocation containing addr, or NULL. */
sd_alloc_t *sd_mem_find(uint64_t addr);
int sd_mem_is_device(uint64_t addr);
/* Device memory for a stream-ordered or graph allocation; 0 on out-of-memory. */
CUresult sd_mem_alloc_device(int kind, struct CUctx_st *ctx, size_t size, sd_alloc_t **out);
void sd_mem_release(sd_alloc_t *a);
void sd_mem_graph_ref(uint64_t dptr, int delta);

/* ---- contexts, streams, events ---- */

struct sd_op;
struct sd_capture;

typedef struct {
    CUgraphNode node;
    CUgraphEdgeData data;
} sd_edge_t;

typedef SD_VEC(sd_edge_t) sd_edgevec_t;

struct CUctx_st {
    uint32_t magic;
    uint32_t id;
    int device;
    int primary;
    unsigned flags;
    CUresult sticky;          /* asynchronous error reported by later synchronising calls */
    struct CUstream_st *legacy;
    /* Streams destroyed with work pending: a context synchronisation still waits for it. */
    SD_VEC(struct sd_op *) orphan_tails;
    sd_vc_t orphan_vc;
};

enum { SD_STREAM_NORMAL = 0, SD_STREAM_LEGACY, SD_STREAM_PER_THREAD };

struct CUstream_st {
    uint32_t magic;
    uint32_t id;              /* dense, from 1; the activity stream id and vector-clock index */
    int kind;
    unsigned flags;
    int priority;
    struct CUctx_st *ctx;
    struct sd_op *tail;       /* last operation enqueued (held reference) */
    sd_vc_t vc;               /* what the next operation in this stream happens after */
    uint64_t seq;             /* operations of this stream with a footprint */
    /* stream capture */
    struct sd_capture *cap;
    sd_edgevec_t deps;        /* current capture dependencies */
    SD_VEC(CUgraphNode) info_nodes; /* what cuStreamGetCaptureInfo last returned */
    SD_VEC(CUgraphEdgeData) info_edata;
    SD_VEC(CUlaunchAttribute) attrs; /* cuStreamSetAttribute values */
};

struct CUevent_st {
    uint32_t magic;
    unsigned flags;
    struct CUctx_st *ctx;
    int recorded;
    struct sd_op *op;         /* latest recorded work (held), NULL: empty set of work */
    sd_vc_t vc;
    /* recorded inside a capture: the capture and its dependency set at record time */
    struct sd_capture *cap;
    uint64_t cap_id;
    sd_edgevec_t cap_deps;
};

typedef struct sd_capture {
    uint64_t id;
    CUgraph graph;
    CUstreamCaptureMode mode;
    pthread_t thread;
    CUstream origin;
    int invalidated;
    int owns_graph;           /* 0: the caller's graph (cuStreamBeginCaptureToGraph) */
    SD_VEC(CUstream) streams;
    struct sd_capture *next;
} sd_capture_t;

/* ---- modules and kernels (sd_module.c) ---- */

struct CUfunc_st {
    uint32_t magic;
    const simdev_kernel_t *k;
    struct CUmod_st *mod;
    uint32_t offset[SIMDEV_MAX_PARAMS];
    uint32_t argsize;         /* bytes of the parameter buffer */
    int max_dyn_smem;
    struct CUfunc_st *next;   /* module's list */
};

struct CUmod_st {
    uint32_t magic;
    struct CUfunc_st *funcs;
    int is_library;
};

/* A kernel launch's parameters, copied at launch / node creation as CUDA does; shared by
 * reference between graph nodes, exec nodes and pending operations (copy on set-params). */
typedef struct sd_kparams {
    int refs;
    struct CUfunc_st *func;
    uint32_t grid[3], block[3], smem;
    unsigned char *buf;
    void **ptrs;              /* ptrs[i] = buf + func->offset[i] */
    uint32_t nattrs;
    CUlaunchAttribute attrs[SD_MAX_ATTRS];
} sd_kparams_t;

const simdev_kernel_t *sd_kernel_lookup(const char *name);
struct CUfunc_st *sd_func_for(const simdev_kernel_t *k);
int sd_func_valid(CUfunction f);
/* Copies the parameters (kernelParams or the CU_LAUNCH_PARAM_BUFFER_POINTER form of extra). */
CUresult sd_kparams_new(CUfunction f, const uint32_t grid[3], const uint32_t block[3],
                        uint32_t smem, void **params, void **extra, sd_kparams_t **out);
sd_kparams_t *sd_kparams_dup(const sd_kparams_t *kp);
void sd_kparams_ref(sd_kparams_t *kp);
void sd_kparams_unref(sd_kparams_t *kp);
CUresult sd_kparams_set_attr(sd_kparams_t *kp, CUlaunchAttributeID id,
                             const CUlaunchAttributeValue *val);
void sd_kparams_get_attr(const sd_kparams_t *kp, CUlaunchAttributeID id, CUlaunchAttributeValue *val);
void sd_kparams_launch(const sd_kparams_t *kp, int device, simdev_launch_t *l);
void sd_providers_load(void);

/* ---- work items: what a stream operation or a graph node does ---- */

typedef struct {
    CUDA_MEMCPY3D p;          /* normalised: memory types are HOST or DEVICE, never UNIFIED */
    int copy_kind;            /* CUpti memcpy kind: 1 HtoD, 2 DtoH, 8 DtoD, 9 HtoH */
    uint64_t bytes;
} sd_copy_t;

typedef struct {
    CUdeviceptr dst;
    size_t pitch;
    unsigned value, elem;     /* elem: 1, 2 or 4 bytes */
    size_t width, height;     /* elements per row, rows */
} sd_memset_t;

typedef struct {
    CUgraphNodeType type;
    sd_kparams_t *kp;         /* KERNEL (held) */
    sd_copy_t copy;           /* MEMCPY */
    sd_memset_t set;          /* MEMSET */
    CUhostFn fn;              /* HOST */
    void *user;
    CUevent event;            /* EVENT_RECORD, WAIT_EVENT */
    CUdeviceptr dptr;         /* MEM_ALLOC, MEM_FREE */
    size_t bytes;
    CUDA_MEM_ALLOC_NODE_PARAMS alloc;
    CUgraph child;            /* GRAPH (owned copy) */
    CUcontext ctx;
} sd_work_t;

/* Copies take a reference on the kernel parameters; the child graph is not copied (NULL). */
void sd_work_copy(sd_work_t *dst, const sd_work_t *src);
CUresult sd_copy_from_3d(sd_copy_t *c, const CUDA_MEMCPY3D *p);
CUresult sd_copy_from_2d(sd_copy_t *c, const CUDA_MEMCPY2D *p);
CUresult sd_copy_1d(sd_copy_t *c, CUmemorytype dt, void *dsth, CUdeviceptr dstd, CUmemorytype st,
                    const void *srch, CUdeviceptr srcd, size_t n);
CUresult sd_memset_make(sd_memset_t *m, CUdeviceptr dst, size_t pitch, unsigned value, unsigned elem,
                        size_t width, size_t height);
void sd_work_clear(sd_work_t *w);
/* Cost and footprint of a work item: fills d (kernels through the provider's describe; copies
 * and memsets from their sizes). Returns CUDA_SUCCESS or CUDA_ERROR_INVALID_VALUE. */
CUresult sd_work_describe(const sd_work_t *w, int device, simdev_launch_desc_t *d, sd_rset_t *rs);
const char *sd_work_name(const sd_work_t *w);

/* ---- graphs (sd_graph.c) ---- */

struct CUgraph_st {
    uint32_t magic;
    uint32_t id;
    SD_VEC(CUgraphNode) nodes;    /* creation order */
    uint32_t next_seq;
    CUgraphNode parent;           /* child graph: the node owning it */
    int capturing;                /* capture in progress into this graph */
    int quiet;                    /* internal copy: no CUPTI notifications */
};

struct CUgraphNode_st {
    uint32_t magic;
    uint64_t id;
    uint32_t seq;                 /* position in creation order (exec-update pairing) */
    CUgraph graph;
    sd_work_t w;
    sd_edgevec_t in, out;
    CUgraphNode clone_of;         /* cuGraphClone / cuGraphNodeFindInClone */
    uint32_t mark;                /* scratch for graph walks (sd_capture.c) */
};

int sd_graph_valid(CUgraph g);
int sd_node_valid(CUgraphNode n);
/* g or one of its child graphs has a memory allocation or free node. */
int sd_graph_has_mem_nodes(CUgraph g);
CUgraph sd_graph_new(int quiet);
void sd_graph_free(CUgraph g);
/* Adds a node holding a copy of w, with the given dependencies (validated by the caller). */
CUresult sd_graph_add(CUgraph g, const sd_work_t *w, const CUgraphNode *deps,
                      const CUgraphEdgeData *edata, size_t ndeps, CUgraphNode *out);
CUresult sd_graph_clone(CUgraph src, int quiet, CUgraph *out);
/* New kernel parameters for a kernel work item (attributes kept). v1: the params struct is the
 * CUDA_KERNEL_NODE_PARAMS_v1 prefix (no kern / ctx). */
CUresult sd_kernel_set_work(sd_work_t *w, const CUDA_KERNEL_NODE_PARAMS *p, int v1);
void sd_notify(simdev_event_kind_t kind, void *graph, void *orig_graph, void *node,
               void *orig_node, void *exec);

/* ---- graph execs (sd_exec.c) ---- */

typedef struct {
    CUgraphNodeType type;
    CUgraphNode orig;             /* node of the instantiated graph (or of a child graph) */
    CUgraphNode alt;              /* matching node of the graph of the last cuGraphExecUpdate */
    uint64_t node_id;
    int enabled;
    sd_work_t w;
    simdev_launch_desc_t d;       /* cost and footprint at instantiate / set-params */
    sd_rset_t rs;
    uint32_t npred;
    SD_VEC(uint32_t) succ;
    SD_VEC(uint32_t) pred;
} sd_xnode_t;

struct CUgraphExec_st {
    uint32_t magic;
    uint32_t id;
    uint32_t graph_id;
    unsigned long long flags;
    size_t n;
    sd_xnode_t *nodes;            /* topological order */
    struct sd_op *last_launch;    /* launches of one exec are serialised */
    sd_vc_t last_vc;              /* ... and so ordered for the race checker */
    sd_rset_t footprint;          /* union of the nodes' footprints (stream-level race check) */
    int race_checked;
    CUgraph src;                  /* the graph it was instantiated from (handle only) */
    CUcontext ctx;
};

int sd_exec_valid(CUgraphExec x);

/* ---- the discrete-event simulation (sd_des.c) ---- */

enum {
    SD_OP_MARK = 0,   /* zero-duration marker: event record, empty node, graph begin/end */
    SD_OP_KERNEL,
    SD_OP_MEMCPY,
    SD_OP_MEMSET,
    SD_OP_HOST,
    SD_OP_ALLOC,
    SD_OP_FREE
};

typedef struct sd_op {
    uint64_t seq;                 /* creation order: the simulation's tie-break */
    int kind;
    int refs;
    int state;                    /* SD_ST_* */
    int device;
    struct CUctx_st *ctx;
    uint32_t stream_id;
    uint64_t corr, graph_id, node_id, exec_id;
    double t_submit, t_ready, t_start, t_end;
    double gap;                   /* latency between ready and start */
    unsigned npending;
    SD_VEC(struct sd_op *) succ;
    /* cost */
    int is_comm;
    double work;                  /* compute kernels: isolated duration (us) */
    double cap;                   /* share of the device a compute kernel can use alone */
    double rem, rate;
    double dur;                   /* fixed-duration ops */
    size_t heap_pos;
    /* what it does */
    sd_work_t w;
    void *staged;                 /* pageable host source snapshot of an async HtoD copy */
    sd_alloc_t *free_alloc;       /* SD_OP_FREE */
    const char *name;
} sd_op_t;

enum { SD_ST_WAITING = 0, SD_ST_READY, SD_ST_RUNNING, SD_ST_DONE };

sd_op_t *sd_op_new(int kind, int device);
void sd_op_ref(sd_op_t *op);
void sd_op_unref(sd_op_t *op);
/* Build an op performing w (cost from d; gap = stream launch or graph node latency). */
sd_op_t *sd_op_from_work(const sd_work_t *w, const simdev_launch_desc_t *d, int device, int in_graph);
/* op starts only after pred ends (pred may be NULL or done). */
void sd_op_after(sd_op_t *op, sd_op_t *pred);
/* All dependencies are in: schedule it. Its submit time is the host clock now. */
void sd_op_submit(sd_op_t *op);
void sd_des_run_until_op(sd_op_t *op);
void sd_des_run_until_time(double t);
void sd_des_run_all(int at_exit);
int sd_des_pending(void);

/* ---- race checker (sd_race.c) ---- */

/* A stream operation with a footprint enters the checker: compared with every earlier
 * operation it is not ordered after. rs is consumed. */
void sd_race_stream_op(uint32_t stream_id, uint64_t seq, const sd_vc_t *vc, sd_rset_t *rs,
                       const char *name, uint64_t corr, CUgraphExec exec);
/* The host observed completion up to host_vc: forget operations all future work follows. */
void sd_race_prune(const sd_vc_t *host_vc);
void sd_race_check_exec(CUgraphExec x);
void sd_race_exec_gone(CUgraphExec x);

/* ---- global state (sd_init.c) ---- */

typedef struct {
    simdev_activity_fn fn;
    void *user;
    int handle;
} sd_act_listener_t;

typedef struct {
    simdev_event_fn fn;
    void *user;
    int handle;
} sd_ev_listener_t;

typedef struct {
    pthread_mutex_t lock;
    int initialized;
    CUresult init_result;
    int compute;                  /* SIMDEV_MODE */
    int race;                     /* 0 off, 1 warn, 2 fatal (SIMDEV_RACE) */
    int ndev;
    double comm_share, interference;
    int sharing_occupancy;        /* SIMDEV_SHARING: 1 occupancy caps, 0 pure processor sharing */
    sd_device_profile_t dev;
    sd_fabric_profile_t fab;
    int profiles_loaded;
    struct CUctx_st *primary[SD_MAX_DEVICES];
    int primary_refs[SD_MAX_DEVICES];
    double host_now;              /* host virtual clock, us */
    uint64_t corr;                /* correlation id of the current API call */
    uint64_t next_node_id;
    uint32_t next_graph_id, next_exec_id, next_stream_id, next_ctx_id;
    uint64_t next_capture_id, next_alloc_id, next_op_seq;
    SD_VEC(struct CUstream_st *) streams;  /* by id (index id-1); NULL once destroyed */
    sd_capture_t *captures;
    sd_vc_t host_vc;              /* operations the host has observed complete */
    SD_VEC(sd_act_listener_t) act;
    SD_VEC(sd_ev_listener_t) ev;
    int next_handle;
    int exiting;
    int race_exit;
} sd_global_t;

extern sd_global_t sd;

/* Every exported function body runs between these: the lock, the correlation id, the host
 * clock's per-call cost and the CUPTI-style enter/exit notifications. */
void sd_api_enter(const char *name);
CUresult sd_api_exit(const char *name, CUresult r);
#define SD_API(name, call)                                                                         \
    do {                                                                                           \
        sd_api_enter(#name);                                                                       \
        CUresult r_ = (call);                                                                      \
        return sd_api_exit(#name, r_);                                                             \
    } while (0)

/* CUDA_SUCCESS if cuInit succeeded, else its error. */
CUresult sd_check_init(void);
/* The calling thread's current context, or CUDA_ERROR_INVALID_CONTEXT. */
CUresult sd_current_ctx(struct CUctx_st **out);
int sd_ctx_valid(CUcontext c);
void sd_host_advance(double us);
void sd_emit_activity(const simdev_activity_t *a);

/* ---- streams (sd_stream.c) ---- */

/* Resolves a stream handle (NULL, CU_STREAM_LEGACY, CU_STREAM_PER_THREAD or a created stream);
 * per_thread: the API variant (_ptsz / _ptds) in which NULL names the per-thread stream. */
CUresult sd_stream_resolve(CUstream h, int per_thread, CUstream *out);
/* Enqueue or capture w on s (validated). corr: the calling API's correlation id. */
CUresult sd_stream_submit(CUstream s, sd_work_t *w);
/* Host waits for everything enqueued on s so far. */
void sd_stream_host_wait(CUstream s);
void sd_ctx_host_wait(struct CUctx_st *ctx);
/* Host waits for all work of every context (cudaFree-like synchronisation). */
void sd_all_host_wait(void);
int sd_stream_valid(CUstream s);
int sd_event_valid(CUevent e);
void sd_event_set_op(CUevent e, sd_op_t *op, const sd_vc_t *vc);
sd_capture_t *sd_event_open_capture(CUevent e);
/* Ordering of a new operation on s: its dependencies (added to first) and its vector clock. */
void sd_stream_order(CUstream s, sd_op_t *first, sd_vc_t *vc);
/* Makes last the stream's tail; enters rs (consumed) into the race checker. */
void sd_stream_commit(CUstream s, sd_op_t *last, sd_vc_t *vc, sd_rset_t *rs, const char *name,
                      CUgraphExec exec);

/* ---- capture (sd_capture.c) ---- */

/* Capture rules for an API call that may not run while captures are active. Returns
 * CUDA_SUCCESS or the error to return (captures invalidated as CUDA does). */
CUresult sd_capture_check_unsafe(void);
/* Using the legacy stream of ctx while a blocking stream of ctx captures. */
CUresult sd_capture_check_legacy(struct CUctx_st *ctx);
/* Synchronising / querying ctx while one of its streams captures. */
CUresult sd_capture_check_ctx(struct CUctx_st *ctx);
void sd_capture_invalidate(sd_capture_t *c);
CUresult sd_capture_add(CUstream s, const sd_work_t *w);
CUresult sd_capture_wait_event(CUstream s, CUevent e, unsigned flags);
void sd_capture_record_event(CUstream s, CUevent e);
int sd_capture_any(void);

#endif
