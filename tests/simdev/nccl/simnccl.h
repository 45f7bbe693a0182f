/* Internals of the replacement libnccl.so.2 (tests/simdev/nccl).
 *
 * A communicator is a set of ranks, each an MPI process started by mpirun on this machine. At
 * init the members meet in a rendezvous directory named after the unique id (shared memory file
 * system), learn each other's MPI world ranks and build a private MPI communicator with
 * MPI_Comm_create_group, so that only the members take part and any subset of the world works.
 *
 * Every NCCL call (or every group of calls on one communicator) becomes a "plan": the list of its
 * tasks. Plans are interned per communicator (same tasks, same plan object), so a kernel node that
 * a program captures into a CUDA graph and replays a thousand times refers to one plan, and an
 * eager training loop that repeats the same calls does not allocate per step. The plan is launched
 * as one kernel through the simulated driver; the kernel's only parameter points at the plan.
 * Sequence numbers are taken when the plan runs (comm_start), not when it is launched: a replayed
 * graph runs the same plan again with the next sequence number, as NCCL's device work would. */
#ifndef SIMNCCL_H
#define SIMNCCL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <mpi.h>

#include "simdev.h"

typedef enum {
    SIMNCCL_SEND = 0,
    SIMNCCL_RECV,
    SIMNCCL_ALLREDUCE,
    SIMNCCL_ALLGATHER,
    SIMNCCL_REDUCESCATTER,
    SIMNCCL_BROADCAST,
    SIMNCCL_REDUCE,
    SIMNCCL_ALLTOALL,
    SIMNCCL_GATHER,
    SIMNCCL_SCATTER,
    SIMNCCL_NKINDS
} simnccl_kind_t;

/* One NCCL call. count is in elements, as the API counts them (per-rank count for all-gather's
 * send side, reduce-scatter's receive side, all-to-all's per-peer block). */
typedef struct {
    int32_t kind;      /* simnccl_kind_t */
    int32_t dtype;     /* ncclDataType_t */
    int32_t redop;     /* ncclRedOp_t: built-in, or ncclNumOps + i for a pre-multiplied sum */
    int32_t peer;      /* send / recv peer, or the root of rooted collectives */
    uint64_t count;
    uint64_t sendbuff; /* device addresses */
    uint64_t recvbuff;
    double premul;     /* scalar of a ncclRedOpCreatePreMulSum op (host immediate) */
} simnccl_task_t;

typedef struct simnccl_comm simnccl_comm_t;

typedef struct simnccl_plan {
    simnccl_comm_t *comm;
    uint32_t ntasks;
    int has_coll;      /* any task other than send / recv */
    int has_p2p;
    uint64_t hash;
    struct simnccl_plan *next; /* interning chain */
    char kernel[96];   /* kernel name the plan launches */
    simnccl_task_t tasks[]; /* ntasks */
} simnccl_plan_t;

/* The kernel's single parameter, by value. */
typedef struct {
    uint64_t magic;
    simnccl_plan_t *plan;
} simnccl_kargs_t;

#define SIMNCCL_KARGS_MAGIC 0x4c43434e4d495353ull /* "SSIMNCCL" */
#define SIMNCCL_PLAN_BUCKETS 256
#define SIMNCCL_MAX_PREMUL 64

struct simnccl_comm {
    pthread_mutex_t lock;      /* interning table, sequence numbers, state */
    int nranks, rank;
    int cudev;
    int world_rank;
    int *world_ranks;          /* [nranks]: MPI world rank of each member */
    int *pids;                 /* [nranks] */
    MPI_Comm mpi;              /* MPI_COMM_NULL when nranks == 1 */
    char key[33];              /* unique id key, hex */
    char name[64];             /* for reports: config->commName or "comm-<key prefix>" */
    char dir[256];             /* rendezvous / state directory */
    int state_fd;              /* this rank's state file in dir, -1 if none */
    uint64_t seq;              /* plans run so far on this communicator */
    uint64_t coll_seq;         /* plans with collectives run so far */
    uint64_t *pair_seq;        /* [nranks]: point-to-point plans run with each peer */
    int broken;                /* a deadlock or failure was reported: later plans fail at once */
    int async_err;             /* ncclResult_t for ncclCommGetAsyncError */
    int npremul;
    double premul[SIMNCCL_MAX_PREMUL];
    int premul_live[SIMNCCL_MAX_PREMUL];
    simnccl_plan_t *plans[SIMNCCL_PLAN_BUCKETS];
};

/* simnccl_exec.c */
int simnccl_exec_plan(simnccl_plan_t *p, double ready_us, double *start_us, double *dur_us);
size_t simnccl_dtype_size(int dtype);
const char *simnccl_dtype_name(int dtype);
const char *simnccl_kind_name(int kind);
void simnccl_task_describe(const simnccl_task_t *t, char *buf, size_t len);
double simnccl_timeout_s(void);
/* SIMDEV_* durations: a bad value is reported once and dflt is used. */
double simnccl_env_seconds(const char *name, double dflt, int allow_zero);
void simnccl_state_write(simnccl_comm_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The process-wide line: what this process waits on in NCCL now, on any communicator. */
void simnccl_proc_state_write(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void simnccl_proc_state_read(int pid, char *buf, size_t len);
/* Remove this process's state and rendezvous files (at exit, and before the watchdog ends it). */
void simnccl_remove_files(void);

/* simnccl_fabric.c: virtual duration of a plan on this rank, in microseconds. */
double simnccl_fabric_plan_us(const simnccl_plan_t *p);
/* Nodes are blocks of consecutive world ranks; exposed for tests of the model. */
int simnccl_fabric_gpus_per_node(void);

/* simnccl.c: report an error for ncclGetLastError and stderr. */
void simnccl_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
