/* Interfaces inside the simulated device (tests/simdev). Nothing in src/ or capture/ includes
 * this: liblancet never knows whether it runs on the simulated device.
 *
 * Kernel providers: CPU implementations of GPU kernels, looked up by kernel name when a program
 * calls cuModuleGetFunction on any module it loaded with cuModuleLoadData (the image bytes are not
 * interpreted). Providers come from (a) the replacement libraries (libnccl, libcublas), which
 * register theirs when loaded, and (b) shared objects named in SIMDEV_PROVIDERS (colon-separated
 * paths), which the simulated libcuda dlopens at cuInit and whose function
 *     void simdev_provider_init(void (*reg)(const simdev_kernel_t *kernels, size_t n));
 * it calls. */
#ifndef SIMDEV_H
#define SIMDEV_H

#include <stddef.h>
#include <stdint.h>

#define SIMDEV_MAX_RANGES 16
#define SIMDEV_MAX_PARAMS 32

typedef struct {
    uint64_t addr, size;   /* device addresses */
    int write;             /* 0 read, 1 write (a read-write range is listed as write) */
} simdev_range_t;

typedef struct {
    const char *name;      /* "v100", "a100", "h100" */
    int sms;
    double flops_f32;      /* FLOP/s */
    double flops_f16;      /* tensor-core FLOP/s */
    double mem_bw;         /* bytes/s */
    double launch_us;
    /* Added after the first version (append only): */
    const char *full_name; /* what cuDeviceGetName reports, e.g. "NVIDIA A100-SXM4-80GB" */
    double mem_bytes;      /* device memory */
    int cc_major, cc_minor;
    double pcie_bw;        /* host<->device copies, bytes/s */
    double comm_sm_share;  /* share of SMs one running communication kernel holds */
    double interference;   /* slowdown factor of compute while communication runs (>= 1) */
} simdev_device_info_t;

/* A node's fabric (profiles/<name>.json, chosen by SIMDEV_FABRIC). Read by the replacement NCCL
 * to time collectives; bandwidths are per direction. */
typedef struct {
    const char *name;          /* "p3dn", "p4de", "dgx-h100" */
    const char *device;        /* device profile of its GPUs */
    int gpus_per_node;
    double nvlink_bw;          /* bytes/s one GPU can send to the others of its node */
    double nvlink_latency_us;
    int nics_per_node;
    double nic_bw;             /* bytes/s of one NIC */
    double nic_latency_us;
} simdev_fabric_info_t;

/* One launch as the provider sees it. */
typedef struct {
    uint32_t grid[3], block[3];
    uint32_t smem;
    void **params;         /* as given to cuLaunchKernel: params[i] points at argument i */
    uint32_t nparams;
    int compute_mode;      /* 1: really compute on host memory; 0: timing only (no memory) */
    const simdev_device_info_t *dev;
} simdev_launch_t;

/* What a launch costs and touches (filled by describe). */
typedef struct {
    double flops;          /* floating-point operations */
    int tensor_core;       /* 1: flops run at flops_f16 (cuBLAS GEMMs with f16/bf16/tf32) */
    double bytes;          /* DRAM bytes moved */
    int is_comm;           /* communication kernel (NCCL): uses comm_start for its timing */
    uint32_t nranges;
    simdev_range_t ranges[SIMDEV_MAX_RANGES];
} simdev_launch_desc_t;

typedef struct simdev_kernel {
    const char *name;                  /* exact kernel name programs look up */
    uint32_t nparams;
    uint16_t param_size[SIMDEV_MAX_PARAMS]; /* bytes of each parameter (cuFuncGetParamInfo) */
    /* Cost and footprint of a launch; returns 0, or nonzero for invalid arguments (the launch
     * then fails with CUDA_ERROR_INVALID_VALUE). */
    int (*describe)(const simdev_launch_t *l, simdev_launch_desc_t *d);
    /* Compute mode: do the work on host memory (device pointers are host pointers there). */
    void (*run)(const simdev_launch_t *l);
    /* Communication kernels only: called when the operation becomes ready at local virtual time
     * ready_us; synchronises with the other ranks (MPI), moves the data in compute mode, and
     * returns the global start time and the duration. Nonzero return: deadlock or failure (the
     * device reports it and the launch's stream enters an error state). */
    int (*comm_start)(const simdev_launch_t *l, double ready_us, double *start_us, double *dur_us);
} simdev_kernel_t;

/* Exported by the simulated libcuda. */
void simdev_register_kernels(const simdev_kernel_t *kernels, size_t n);
const simdev_device_info_t *simdev_device_info(void);
int simdev_compute_mode(void);

/* Added after the first version: */
const simdev_fabric_info_t *simdev_fabric_info(void);
/* The CUfunction of a registered kernel (what cuModuleGetFunction on any loaded module returns),
 * without loading a module; NULL if no provider registered the name. Needs cuInit. */
void *simdev_function(const char *name);
/* Host virtual clock in microseconds (advances with API call costs and synchronisation). */
double simdev_now_us(void);
/* Charge host work to the virtual clock (e.g. a library's own host overhead). */
void simdev_host_advance_us(double us);
/* Ids used by activity records: cuptiGetGraphNodeId / cuptiGetGraphId / cuptiGetGraphExecId.
 * Never reused within a process; 0 for a handle that is not a live graph object. */
uint64_t simdev_graph_node_id(const void *cu_graph_node);
uint32_t simdev_graph_id(const void *cu_graph);
uint32_t simdev_graph_exec_id(const void *cu_graph_exec);

/* Activity of every finished operation, in completion order (used by the replacement libcupti
 * and the trace writer). kind: 0 kernel, 1 memcpy, 2 memset. graph ids are 0 outside graphs. */
typedef struct {
    int kind;
    const char *name;
    double start_us, end_us;
    uint32_t stream_id;
    uint64_t correlation_id;
    uint64_t graph_id, graph_node_id;
    uint64_t bytes;        /* memcpy / memset */
    /* Added after the first version (append only): */
    int copy_kind;         /* memcpy, as CUpti_ActivityMemcpyKind: 1 HtoD, 2 DtoH, 8 DtoD, 9 HtoH */
    int device;            /* device ordinal */
    uint32_t context_id;
    uint64_t graph_exec_id;
    uint32_t grid[3], block[3];  /* kernels: launch dimensions */
    uint32_t smem;               /* kernels: dynamic shared memory bytes */
} simdev_activity_t;

typedef void (*simdev_activity_fn)(const simdev_activity_t *a, void *user);
/* Several listeners may subscribe; returns a handle for unsubscribe. */
int simdev_activity_subscribe(simdev_activity_fn fn, void *user);
void simdev_activity_unsubscribe(int handle);

/* Driver-side notifications for the replacement CUPTI callback API (added after the first
 * version). Called synchronously, under the driver lock, on the calling thread: a listener must
 * not call back into the driver API. Handles are CUgraph / CUgraphNode / CUgraphExec. */
typedef enum {
    SIMDEV_EV_API_ENTER = 0,   /* name: the exported driver symbol ("cuLaunchKernel"), correlation_id */
    SIMDEV_EV_API_EXIT,        /* same, plus result (a CUresult) */
    SIMDEV_EV_GRAPH_CREATED,   /* graph (also for graphs made by capture and child-graph copies) */
    SIMDEV_EV_GRAPH_CLONED,    /* graph (the clone), orig_graph */
    SIMDEV_EV_GRAPH_DESTROY,   /* graph, before it is destroyed */
    SIMDEV_EV_NODE_CREATED,    /* graph, node */
    SIMDEV_EV_NODE_CLONED,     /* graph, node (in the clone), orig_node */
    SIMDEV_EV_NODE_DESTROY,    /* graph, node, before it is destroyed */
    SIMDEV_EV_EXEC_CREATED,    /* exec, graph */
    SIMDEV_EV_EXEC_DESTROY     /* exec */
} simdev_event_kind_t;

typedef struct {
    simdev_event_kind_t kind;
    const char *name;
    uint64_t correlation_id;   /* API events: the id activity records of the call's work carry */
    int result;
    void *graph, *orig_graph, *node, *orig_node, *exec;
} simdev_event_t;

typedef void (*simdev_event_fn)(const simdev_event_t *e, void *user);
int simdev_event_subscribe(simdev_event_fn fn, void *user);
void simdev_event_unsubscribe(int handle);

#endif
