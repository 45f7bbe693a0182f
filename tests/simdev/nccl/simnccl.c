/* Replacement libnccl.so.2: the NCCL API on the simulated device.
 *
 * What this file does: communicator set-up (unique id, rendezvous, private MPI communicator),
 * group semantics, turning calls into interned plans, and launching each plan as one kernel
 * through the simulated driver (cuModuleLoadData + cuModuleGetFunction + cuLaunchKernel), so
 * that NCCL work is a kernel node when the stream is being captured, exactly as with real NCCL.
 * The kernel provider registered here declares what a plan reads and writes and, when the
 * simulated device runs it, hands it to simnccl_exec.c (clock synchronisation, deadlock
 * detection, data movement).
 *
 * Invariant: a plan is immutable once interned and lives as long as its communicator; the
 * kernel parameter is a pointer to it, so graph capture, clone and exec update copy it freely.
 *
 * Assumption (documented in docs/simdev-libs.md): every rank is an MPI process of one mpirun job
 * on this machine; a communicator's members find each other through files named after the unique
 * id in a shared-memory directory, so any subset of the world can form a communicator without the
 * others taking part. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cuda.h>
#include <nccl.h>

#include "../cublas/simblas_fp.h"
#include "simnccl.h"
#include "../common/simdev_kcache.h"

#define API __attribute__((visibility("default")))

/* ------------------------------------------------------------------------------------------ */
/* Errors */

static char g_last_error[1024];
static pthread_mutex_t g_err_lock = PTHREAD_MUTEX_INITIALIZER;

void simnccl_set_error(const char *fmt, ...)
{
    char buf[sizeof g_last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&g_err_lock);
    memcpy(g_last_error, buf, sizeof buf);
    pthread_mutex_unlock(&g_err_lock);
    char host[64] = "?";
    gethostname(host, sizeof host - 1);
    fprintf(stderr, "%s:%d NCCL WARN simnccl: %s\n", host, (int)getpid(), buf);
}

API const char *ncclGetErrorString(ncclResult_t result)
{
    switch (result) {
    case ncclSuccess: return "no error";
    case ncclUnhandledCudaError: return "unhandled cuda error (run with NCCL_DEBUG=INFO for details)";
    case ncclSystemError: return "unhandled system error (run with NCCL_DEBUG=INFO for details)";
    case ncclInternalError: return "internal error - please report this issue to the NCCL developers";
    case ncclInvalidArgument: return "invalid argument (run with NCCL_DEBUG=WARN for details)";
    case ncclInvalidUsage: return "invalid usage (run with NCCL_DEBUG=WARN for details)";
    case ncclRemoteError: return "remote process exited or there was a network error";
    case ncclInProgress: return "NCCL operation in progress";
    default: return "unknown result code";
    }
}

API const char *ncclGetLastError(ncclComm_t comm)
{
    (void)comm;
    return g_last_error;
}

API ncclResult_t ncclGetVersion(int *version)
{
    if (!version)
        return ncclInvalidArgument;
    *version = NCCL_VERSION_CODE;
    return ncclSuccess;
}

/* ------------------------------------------------------------------------------------------ */
/* Names and sizes */

static const char *const g_kind_names[SIMNCCL_NKINDS] = {
    "Send", "Recv", "AllReduce", "AllGather", "ReduceScatter",
    "Broadcast", "Reduce", "AlltoAll", "Gather", "Scatter",
};

const char *simnccl_kind_name(int kind)
{
    return kind >= 0 && kind < SIMNCCL_NKINDS ? g_kind_names[kind] : "?";
}

static const char *const g_type_short[ncclNumTypes] = {
    "i8", "u8", "i32", "u32", "i64", "u64", "f16", "f32", "f64", "bf16", "f8e4m3", "f8e5m2",
};
static const char *const g_type_long[ncclNumTypes] = {
    "int8", "uint8", "int32", "uint32", "int64", "uint64",
    "float16", "float32", "float64", "bfloat16", "float8e4m3", "float8e5m2",
};
static const size_t g_type_size[ncclNumTypes] = { 1, 1, 4, 4, 8, 8, 2, 4, 8, 2, 1, 1 };

size_t simnccl_dtype_size(int dtype)
{
    return dtype >= 0 && dtype < ncclNumTypes ? g_type_size[dtype] : 0;
}

const char *simnccl_dtype_name(int dtype)
{
    return dtype >= 0 && dtype < ncclNumTypes ? g_type_long[dtype] : "?";
}

static const char *redop_name(int op)
{
    switch (op) {
    case ncclSum: return "sum";
    case ncclProd: return "prod";
    case ncclMax: return "max";
    case ncclMin: return "min";
    case ncclAvg: return "avg";
    default: return "premulsum";
    }
}

/* The op part of NCCL's kernel names. */
static const char *redop_kernel_name(int op)
{
    switch (op) {
    case ncclSum: return "Sum";
    case ncclProd: return "Prod";
    case ncclMax:
    case ncclMin: return "MinMax";
    case ncclAvg: return "SumPostDiv";
    default: return "PreMulSum";
    }
}

void simnccl_task_describe(const simnccl_task_t *t, char *buf, size_t len)
{
    switch (t->kind) {
    case SIMNCCL_SEND:
    case SIMNCCL_RECV:
        snprintf(buf, len, "%s(count=%llu %s peer=%d)", simnccl_kind_name(t->kind),
                 (unsigned long long)t->count, simnccl_dtype_name(t->dtype), t->peer);
        break;
    case SIMNCCL_ALLREDUCE:
    case SIMNCCL_REDUCESCATTER:
        snprintf(buf, len, "%s(count=%llu %s %s)", simnccl_kind_name(t->kind),
                 (unsigned long long)t->count, simnccl_dtype_name(t->dtype), redop_name(t->redop));
        break;
    case SIMNCCL_REDUCE:
        snprintf(buf, len, "%s(count=%llu %s %s root=%d)", simnccl_kind_name(t->kind),
                 (unsigned long long)t->count, simnccl_dtype_name(t->dtype), redop_name(t->redop),
                 t->peer);
        break;
    case SIMNCCL_BROADCAST:
    case SIMNCCL_GATHER:
    case SIMNCCL_SCATTER:
        snprintf(buf, len, "%s(count=%llu %s root=%d)", simnccl_kind_name(t->kind),
                 (unsigned long long)t->count, simnccl_dtype_name(t->dtype), t->peer);
        break;
    default:
        snprintf(buf, len, "%s(count=%llu %s)", simnccl_kind_name(t->kind),
                 (unsigned long long)t->count, simnccl_dtype_name(t->dtype));
        break;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* MPI */

static int g_we_initialized_mpi;

static void finalize_mpi(void)
{
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin)
        MPI_Finalize();
}

static ncclResult_t ensure_mpi(void)
{
    int inited = 0;
    MPI_Initialized(&inited);
    if (inited)
        return ncclSuccess;
    int fin = 0;
    MPI_Finalized(&fin);
    if (fin) {
        simnccl_set_error("MPI is already finalized; cannot create a multi-rank communicator");
        return ncclSystemError;
    }
    int provided = 0;
    /* The simulated driver may run communication kernels from its own thread. */
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS) {
        simnccl_set_error("MPI_Init_thread failed");
        return ncclSystemError;
    }
    g_we_initialized_mpi = 1;
    atexit(finalize_mpi);
    return ncclSuccess;
}

static int env_world_rank(void)
{
    const char *names[] = { "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        if (v && *v)
            return atoi(v);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Unique id: magic, 16 random bytes (the key), creator pid. */

#define UID_MAGIC "SIMNCCL1"

typedef struct {
    char magic[8];
    uint8_t key[16];
    int32_t creator_pid;
} uid_body_t;

API ncclResult_t ncclGetUniqueId(ncclUniqueId *uniqueId)
{
    if (!uniqueId)
        return ncclInvalidArgument;
    uid_body_t b;
    memset(&b, 0, sizeof b);
    memcpy(b.magic, UID_MAGIC, 8);
    size_t got = 0;
    while (got < sizeof b.key) {
        ssize_t r = getrandom(b.key + got, sizeof b.key - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            simnccl_set_error("getrandom: %s", strerror(errno));
            return ncclSystemError;
        }
        got += (size_t)r;
    }
    b.creator_pid = (int32_t)getpid();
    memset(uniqueId, 0, sizeof *uniqueId);
    memcpy(uniqueId->internal, &b, sizeof b);
    return ncclSuccess;
}

/* ------------------------------------------------------------------------------------------ */
/* Shared-memory directory for rendezvous and state files */

static const char *shm_base(void)
{
    const char *e = getenv("SIMDEV_SHM_DIR");
    if (e && *e)
        return e;
    if (access("/dev/shm", W_OK) == 0)
        return "/dev/shm";
    e = getenv("TMPDIR");
    return e && *e ? e : "/tmp";
}

/* A duration in seconds from the environment: a finite number > 0 (>= 0 with allow_zero), the
 * whole value; anything else is reported once per variable and the default is used. */
double simnccl_env_seconds(const char *name, double dflt, int allow_zero)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static char warned[8][40];
    const char *e = getenv(name);
    if (!e || !*e)
        return dflt;
    char *end = NULL;
    errno = 0;
    double v = strtod(e, &end);
    while (end && (*end == ' ' || *end == '\t'))
        end++;
    if (end != e && end && !*end && !errno && isfinite(v) && v <= 1e9 && (v > 0 || (allow_zero && v == 0)))
        return v;
    pthread_mutex_lock(&lock);
    int seen = 0;
    size_t i = 0;
    for (; i < sizeof warned / sizeof warned[0] && warned[i][0]; i++)
        seen |= strcmp(warned[i], name) == 0;
    if (!seen) {
        if (i < sizeof warned / sizeof warned[0])
            snprintf(warned[i], sizeof warned[i], "%s", name);
        fprintf(stderr, "simnccl: %s=%s is not %s number of seconds; using %g\n", name, e,
                allow_zero ? "a non-negative" : "a positive", dflt);
    }
    pthread_mutex_unlock(&lock);
    return dflt;
}

double simnccl_timeout_s(void)
{
    return simnccl_env_seconds("SIMDEV_DEADLOCK_TIMEOUT_S", 20.0, 0);
}

static double init_timeout_s(void)
{
    double t = 3 * simnccl_timeout_s();
    return simnccl_env_seconds("SIMDEV_INIT_TIMEOUT_S", t < 120 ? 120 : t, 0);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    nanosleep(&ts, NULL);
}

void simnccl_state_write(simnccl_comm_t *c, const char *fmt, ...)
{
    if (c->state_fd < 0)
        return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (n > (int)sizeof buf - 2)
        n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    /* One pwrite of a line, then cut: a reader sees the old or the new line, never a mix of
     * lines of different length beyond the newline. */
    if (pwrite(c->state_fd, buf, (size_t)n, 0) == n) {
        if (ftruncate(c->state_fd, n) != 0) {
            /* a stale tail only lengthens a report line */
        }
    }
}

/* What this process is doing in NCCL right now, whatever the communicator: read by the deadlock
 * report of a peer that waits on another communicator. */
static int g_proc_fd = -1;
static pthread_mutex_t g_proc_lock = PTHREAD_MUTEX_INITIALIZER;

static void proc_path(int pid, char *buf, size_t len)
{
    snprintf(buf, len, "%s/simnccl-proc.%d", shm_base(), pid);
}

void simnccl_proc_state_write(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (n > (int)sizeof buf - 2)
        n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    pthread_mutex_lock(&g_proc_lock);
    if (g_proc_fd < 0) {
        char path[512];
        proc_path((int)getpid(), path, sizeof path);
        g_proc_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    }
    if (g_proc_fd >= 0 && pwrite(g_proc_fd, buf, (size_t)n, 0) == n && ftruncate(g_proc_fd, n) != 0) {
        /* a stale tail only lengthens a report line */
    }
    pthread_mutex_unlock(&g_proc_lock);
}

void simnccl_proc_state_read(int pid, char *buf, size_t len)
{
    char path[512];
    proc_path(pid, path, sizeof path);
    int fd = open(path, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, len - 1) : -1;
    if (fd >= 0)
        close(fd);
    buf[n > 0 ? n : 0] = 0;
    char *nl = strchr(buf, '\n');
    if (nl)
        *nl = 0;
}

static void proc_state_remove(void)
{
    pthread_mutex_lock(&g_proc_lock);
    if (g_proc_fd >= 0) {
        char path[512];
        proc_path((int)getpid(), path, sizeof path);
        unlink(path);
        close(g_proc_fd);
        g_proc_fd = -1;
    }
    pthread_mutex_unlock(&g_proc_lock);
}

/* ------------------------------------------------------------------------------------------ */
/* Communicators */

static pthread_mutex_t g_comms_lock = PTHREAD_MUTEX_INITIALIZER;
static simnccl_comm_t **g_comms;
static size_t g_ncomms, g_comms_cap;

static void comms_add(simnccl_comm_t *c)
{
    pthread_mutex_lock(&g_comms_lock);
    if (g_ncomms == g_comms_cap) {
        size_t cap = g_comms_cap ? 2 * g_comms_cap : 16;
        simnccl_comm_t **n = realloc(g_comms, cap * sizeof *n);
        if (n) {
            g_comms = n;
            g_comms_cap = cap;
        }
    }
    if (g_ncomms < g_comms_cap)
        g_comms[g_ncomms++] = c;
    pthread_mutex_unlock(&g_comms_lock);
}

static int comms_remove(simnccl_comm_t *c)
{
    int found = 0;
    pthread_mutex_lock(&g_comms_lock);
    for (size_t i = 0; i < g_ncomms; i++) {
        if (g_comms[i] == c) {
            memmove(&g_comms[i], &g_comms[i + 1], (g_ncomms - i - 1) * sizeof *g_comms);
            g_ncomms--;
            found = 1;
            break;
        }
    }
    pthread_mutex_unlock(&g_comms_lock);
    return found;
}

static void comm_remove_files(simnccl_comm_t *c)
{
    if (c->state_fd >= 0) {
        close(c->state_fd);
        c->state_fd = -1;
    }
    if (c->dir[0]) {
        char path[512];
        snprintf(path, sizeof path, "%s/state.%d", c->dir, c->rank);
        unlink(path);
        snprintf(path, sizeof path, "%s/member.%d", c->dir, c->rank);
        unlink(path);
        rmdir(c->dir); /* fails while other members' files remain: the last one removes it */
    }
}

void simnccl_remove_files(void)
{
    pthread_mutex_lock(&g_comms_lock);
    for (size_t i = 0; i < g_ncomms; i++)
        comm_remove_files(g_comms[i]);
    pthread_mutex_unlock(&g_comms_lock);
    proc_state_remove();
}

static pthread_once_t g_cleanup_once = PTHREAD_ONCE_INIT;

static void register_cleanup(void)
{
    atexit(simnccl_remove_files);
}

static simnccl_comm_t *comm_alloc(int nranks, int rank)
{
    simnccl_comm_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->world_ranks = calloc((size_t)nranks, sizeof *c->world_ranks);
    c->pids = calloc((size_t)nranks, sizeof *c->pids);
    c->pair_seq = calloc((size_t)nranks, sizeof *c->pair_seq);
    if (!c->world_ranks || !c->pids || !c->pair_seq) {
        free(c->world_ranks);
        free(c->pids);
        free(c->pair_seq);
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    c->nranks = nranks;
    c->rank = rank;
    c->mpi = MPI_COMM_NULL;
    c->state_fd = -1;
    return c;
}

static void comm_free(simnccl_comm_t *c)
{
    for (int b = 0; b < SIMNCCL_PLAN_BUCKETS; b++) {
        simnccl_plan_t *p = c->plans[b];
        while (p) {
            simnccl_plan_t *n = p->next;
            free(p);
            p = n;
        }
    }
    if (c->mpi != MPI_COMM_NULL) {
        int fin = 0;
        MPI_Finalized(&fin);
        if (!fin)
            MPI_Comm_free(&c->mpi);
    }
    pthread_mutex_destroy(&c->lock);
    free(c->world_ranks);
    free(c->pids);
    free(c->pair_seq);
    free(c);
}

static int current_device(void)
{
    CUdevice dev = 0;
    CUcontext ctx = NULL;
    if (cuCtxGetCurrent(&ctx) == CUDA_SUCCESS && ctx && cuCtxGetDevice(&dev) == CUDA_SUCCESS)
        return (int)dev;
    return 0;
}

static void hex_key(const uint8_t *key, char out[33])
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hx[key[i] >> 4];
        out[2 * i + 1] = hx[key[i] & 15];
    }
    out[32] = 0;
}

static int write_file_exclusive(const char *dir, const char *name, const char *content)
{
    char tmp[512], final[512];
    snprintf(tmp, sizeof tmp, "%s/.%s.%d", dir, name, (int)getpid());
    snprintf(final, sizeof final, "%s/%s", dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    size_t len = strlen(content);
    int ok = write(fd, content, len) == (ssize_t)len;
    close(fd);
    /* link() fails if the name exists: two processes claiming one rank are caught here. */
    int r = ok ? link(tmp, final) : -1;
    int saved = errno;
    unlink(tmp);
    errno = saved;
    return r;
}

/* Members meet: each writes member.<rank> = "<world rank> <pid>", then waits for all. */
static ncclResult_t rendezvous(simnccl_comm_t *c)
{
    char content[64];
    snprintf(content, sizeof content, "%d %d\n", c->world_rank, (int)getpid());
    if (mkdir(c->dir, 0777) != 0 && errno != EEXIST) {
        simnccl_set_error("cannot create rendezvous directory %s: %s", c->dir, strerror(errno));
        return ncclSystemError;
    }
    char name[32];
    snprintf(name, sizeof name, "member.%d", c->rank);
    if (write_file_exclusive(c->dir, name, content) != 0) {
        if (errno == EEXIST)
            simnccl_set_error("communicator %s: rank %d was claimed by two processes",
                              c->name, c->rank);
        else
            simnccl_set_error("cannot write %s/%s: %s", c->dir, name, strerror(errno));
        return errno == EEXIST ? ncclInvalidUsage : ncclSystemError;
    }
    double deadline = now_s() + init_timeout_s();
    long backoff = 200;
    for (;;) {
        int missing = -1, nmissing = 0;
        for (int r = 0; r < c->nranks; r++) {
            if (c->pids[r])
                continue;
            char path[512];
            snprintf(path, sizeof path, "%s/member.%d", c->dir, r);
            FILE *f = fopen(path, "r");
            int w = -1, pid = 0;
            if (f) {
                if (fscanf(f, "%d %d", &w, &pid) != 2)
                    pid = 0;
                fclose(f);
            }
            if (pid > 0) {
                c->world_ranks[r] = w;
                c->pids[r] = pid;
            } else {
                if (missing < 0)
                    missing = r;
                nmissing++;
            }
        }
        if (nmissing == 0)
            return ncclSuccess;
        if (now_s() > deadline) {
            simnccl_set_error("communicator %s: rank %d waited %.0f s in init for %d of %d ranks "
                              "(first missing: rank %d); did every rank call ncclCommInitRank "
                              "with the same unique id?", c->name, c->rank, init_timeout_s(),
                              nmissing, c->nranks, missing);
            return ncclSystemError;
        }
        sleep_us(backoff);
        if (backoff < 20000)
            backoff *= 2;
    }
}

static ncclResult_t comm_init(ncclComm_t *out, int nranks, ncclUniqueId id, int rank,
                              const ncclConfig_t *config)
{
    if (!out)
        return ncclInvalidArgument;
    if (nranks < 1 || rank < 0 || rank >= nranks) {
        simnccl_set_error("invalid rank %d for %d ranks", rank, nranks);
        return ncclInvalidArgument;
    }
    uid_body_t b;
    memcpy(&b, id.internal, sizeof b);
    if (memcmp(b.magic, UID_MAGIC, 8) != 0) {
        simnccl_set_error("invalid unique id (not made by ncclGetUniqueId of this library)");
        return ncclInvalidArgument;
    }
    simnccl_comm_t *c = comm_alloc(nranks, rank);
    if (!c)
        return ncclSystemError;
    hex_key(b.key, c->key);
    if (config && config->commName && config->commName != NCCL_CONFIG_UNDEF_PTR)
        snprintf(c->name, sizeof c->name, "%s", config->commName);
    else
        snprintf(c->name, sizeof c->name, "comm-%.8s", c->key);
    c->cudev = current_device();
    ncclResult_t st = ncclSuccess;

    if (nranks == 1) {
        c->world_rank = env_world_rank();
        c->world_ranks[0] = c->world_rank;
        c->pids[0] = (int)getpid();
        goto done;
    }
    if ((st = ensure_mpi()) != ncclSuccess)
        goto fail;
    int wsize = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &c->world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &wsize);
    if (nranks > wsize) {
        simnccl_set_error("communicator of %d ranks in an MPI job of %d processes: each rank must "
                          "be its own process (start the program with mpirun -n %d)",
                          nranks, wsize, nranks);
        st = ncclInvalidUsage;
        goto fail;
    }
    snprintf(c->dir, sizeof c->dir, "%s/simnccl-%s", shm_base(), c->key);
    if ((st = rendezvous(c)) != ncclSuccess)
        goto fail;
    for (int r = 0; r < nranks; r++) {
        for (int q = 0; q < r; q++) {
            if (c->world_ranks[q] == c->world_ranks[r]) {
                simnccl_set_error("communicator %s: ranks %d and %d are the same process (MPI world "
                                  "rank %d); one process can hold one rank of a communicator",
                                  c->name, q, r, c->world_ranks[r]);
                st = ncclInvalidUsage;
                goto fail;
            }
        }
    }
    MPI_Group world_group, group;
    MPI_Comm_group(MPI_COMM_WORLD, &world_group);
    MPI_Group_incl(world_group, nranks, c->world_ranks, &group);
    int tag = (int)(((uint32_t)b.key[0] << 8 | b.key[1]) & 0x7fff);
    int rc = MPI_Comm_create_group(MPI_COMM_WORLD, group, tag, &c->mpi);
    MPI_Group_free(&group);
    MPI_Group_free(&world_group);
    if (rc != MPI_SUCCESS || c->mpi == MPI_COMM_NULL) {
        simnccl_set_error("communicator %s: MPI_Comm_create_group failed", c->name);
        st = ncclSystemError;
        goto fail;
    }
    int mr = -1;
    MPI_Comm_rank(c->mpi, &mr);
    if (mr != rank) {
        simnccl_set_error("communicator %s: MPI rank %d differs from NCCL rank %d", c->name, mr, rank);
        st = ncclInternalError;
        goto fail;
    }
    /* Everyone has read every member file before anyone removes its own. */
    MPI_Barrier(c->mpi);
    {
        char path[512];
        snprintf(path, sizeof path, "%s/member.%d", c->dir, rank);
        unlink(path);
        snprintf(path, sizeof path, "%s/state.%d", c->dir, rank);
        c->state_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    }
    simnccl_state_write(c, "seq 0 (no operation yet)");

done:
    comms_add(c);
    pthread_once(&g_cleanup_once, register_cleanup);
    *out = (ncclComm_t)c;
    return ncclSuccess;
fail:
    comm_remove_files(c);
    comm_free(c);
    return st;
}

API ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId commId, int rank)
{
    return comm_init(comm, nranks, commId, rank, NULL);
}

API ncclResult_t ncclCommInitRankConfig(ncclComm_t *comm, int nranks, ncclUniqueId commId, int rank,
                                        ncclConfig_t *config)
{
    if (config && config->magic != 0xcafebeef) {
        simnccl_set_error("ncclCommInitRankConfig: config not initialised with NCCL_CONFIG_INITIALIZER");
        return ncclInvalidArgument;
    }
    return comm_init(comm, nranks, commId, rank, config);
}

/* One process, ndev ranks: only ndev == 1 is supported, because the simulated device runs every
 * communication kernel of a process on the thread that drives it, and ranks of one clique in one
 * process would wait for each other there. */
API ncclResult_t ncclCommInitAll(ncclComm_t *comms, int ndev, const int *devlist)
{
    if (!comms || ndev < 1)
        return ncclInvalidArgument;
    if (ndev > 1) {
        simnccl_set_error("ncclCommInitAll with %d devices: the simulated device supports one rank "
                          "per process; start %d processes with mpirun instead", ndev, ndev);
        return ncclInvalidUsage;
    }
    ncclUniqueId id;
    ncclResult_t st = ncclGetUniqueId(&id);
    if (st != ncclSuccess)
        return st;
    st = comm_init(&comms[0], 1, id, 0, NULL);
    if (st == ncclSuccess && devlist)
        ((simnccl_comm_t *)comms[0])->cudev = devlist[0];
    return st;
}

API ncclResult_t ncclCommSplit(ncclComm_t comm, int color, int key, ncclComm_t *newcomm,
                               ncclConfig_t *config)
{
    simnccl_comm_t *c = (simnccl_comm_t *)comm;
    if (!c || !newcomm)
        return ncclInvalidArgument;
    *newcomm = NULL;
    if (c->nranks == 1) {
        if (color == NCCL_SPLIT_NOCOLOR)
            return ncclSuccess;
        ncclUniqueId id;
        ncclResult_t st = ncclGetUniqueId(&id);
        return st != ncclSuccess ? st : comm_init(newcomm, 1, id, 0, config);
    }
    /* The parent is an MPI communicator: split it, then learn the members' world ranks. */
    MPI_Comm sub = MPI_COMM_NULL;
    int rc = MPI_Comm_split(c->mpi, color == NCCL_SPLIT_NOCOLOR ? MPI_UNDEFINED : color, key, &sub);
    if (rc != MPI_SUCCESS) {
        simnccl_set_error("ncclCommSplit: MPI_Comm_split failed");
        return ncclSystemError;
    }
    if (sub == MPI_COMM_NULL)
        return ncclSuccess;
    int n = 0, r = 0;
    MPI_Comm_size(sub, &n);
    MPI_Comm_rank(sub, &r);
    simnccl_comm_t *s = comm_alloc(n, r);
    if (!s) {
        MPI_Comm_free(&sub);
        return ncclSystemError;
    }
    s->mpi = sub;
    s->cudev = c->cudev;
    s->world_rank = c->world_rank;
    int me[2] = { c->world_rank, (int)getpid() };
    int *all = malloc(2 * (size_t)n * sizeof *all);
    uint8_t keyb[16] = { 0 };
    if (!all) {
        comm_free(s);
        return ncclSystemError;
    }
    MPI_Allgather(me, 2, MPI_INT, all, 2, MPI_INT, sub);
    for (int i = 0; i < n; i++) {
        s->world_ranks[i] = all[2 * i];
        s->pids[i] = all[2 * i + 1];
    }
    free(all);
    if (r == 0 && getrandom(keyb, sizeof keyb, 0) != (ssize_t)sizeof keyb)
        memset(keyb, 0x5a, sizeof keyb);
    MPI_Bcast(keyb, sizeof keyb, MPI_BYTE, 0, sub);
    hex_key(keyb, s->key);
    if (config && config->commName && config->commName != NCCL_CONFIG_UNDEF_PTR)
        snprintf(s->name, sizeof s->name, "%s", config->commName);
    else
        snprintf(s->name, sizeof s->name, "%.40s/split%d", c->name, color);
    snprintf(s->dir, sizeof s->dir, "%s/simnccl-%s", shm_base(), s->key);
    if (mkdir(s->dir, 0777) == 0 || errno == EEXIST) {
        char path[512];
        snprintf(path, sizeof path, "%s/state.%d", s->dir, r);
        s->state_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    }
    MPI_Barrier(sub);
    simnccl_state_write(s, "seq 0 (no operation yet)");
    comms_add(s);
    pthread_once(&g_cleanup_once, register_cleanup);
    *newcomm = (ncclComm_t)s;
    return ncclSuccess;
}

static ncclResult_t comm_check(ncclComm_t comm)
{
    simnccl_comm_t *c = (simnccl_comm_t *)comm;
    if (!c) {
        simnccl_set_error("null communicator");
        return ncclInvalidArgument;
    }
    return ncclSuccess;
}

API ncclResult_t ncclCommFinalize(ncclComm_t comm)
{
    /* Work runs to completion when the simulated device executes it: nothing is left to flush. */
    return comm_check(comm);
}

API ncclResult_t ncclCommDestroy(ncclComm_t comm)
{
    simnccl_comm_t *c = (simnccl_comm_t *)comm;
    if (!c)
        return ncclSuccess;
    if (!comms_remove(c)) {
        simnccl_set_error("ncclCommDestroy: unknown or already destroyed communicator %p", (void *)c);
        return ncclInvalidArgument;
    }
    comm_remove_files(c);
    comm_free(c);
    return ncclSuccess;
}

API ncclResult_t ncclCommAbort(ncclComm_t comm)
{
    return ncclCommDestroy(comm);
}

API ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t *asyncError)
{
    ncclResult_t st = comm_check(comm);
    if (st != ncclSuccess || !asyncError)
        return st != ncclSuccess ? st : ncclInvalidArgument;
    *asyncError = (ncclResult_t)((simnccl_comm_t *)comm)->async_err;
    return ncclSuccess;
}

API ncclResult_t ncclCommCount(const ncclComm_t comm, int *count)
{
    ncclResult_t st = comm_check(comm);
    if (st != ncclSuccess || !count)
        return st != ncclSuccess ? st : ncclInvalidArgument;
    *count = ((simnccl_comm_t *)comm)->nranks;
    return ncclSuccess;
}

API ncclResult_t ncclCommCuDevice(const ncclComm_t comm, int *device)
{
    ncclResult_t st = comm_check(comm);
    if (st != ncclSuccess || !device)
        return st != ncclSuccess ? st : ncclInvalidArgument;
    *device = ((simnccl_comm_t *)comm)->cudev;
    return ncclSuccess;
}

API ncclResult_t ncclCommUserRank(const ncclComm_t comm, int *rank)
{
    ncclResult_t st = comm_check(comm);
    if (st != ncclSuccess || !rank)
        return st != ncclSuccess ? st : ncclInvalidArgument;
    *rank = ((simnccl_comm_t *)comm)->rank;
    return ncclSuccess;
}

/* Registration is a performance hint for real NCCL; the simulated fabric needs none. */
API ncclResult_t ncclCommRegister(const ncclComm_t comm, void *buff, size_t size, void **handle)
{
    (void)buff;
    (void)size;
    if (!handle)
        return ncclInvalidArgument;
    *handle = (void *)comm;
    return comm_check(comm);
}

API ncclResult_t ncclCommDeregister(const ncclComm_t comm, void *handle)
{
    (void)handle;
    return comm_check(comm);
}

API ncclResult_t ncclMemAlloc(void **ptr, size_t size)
{
    if (!ptr)
        return ncclInvalidArgument;
    CUdeviceptr d = 0;
    CUresult r = cuMemAlloc(&d, size ? size : 1);
    if (r != CUDA_SUCCESS) {
        simnccl_set_error("ncclMemAlloc: cuMemAlloc of %zu bytes failed (%d)", size, (int)r);
        return ncclUnhandledCudaError;
    }
    *ptr = (void *)(uintptr_t)d;
    return ncclSuccess;
}

API ncclResult_t ncclMemFree(void *ptr)
{
    if (!ptr)
        return ncclSuccess;
    return cuMemFree((CUdeviceptr)(uintptr_t)ptr) == CUDA_SUCCESS ? ncclSuccess
                                                                   : ncclUnhandledCudaError;
}

API ncclResult_t ncclRedOpCreatePreMulSum(ncclRedOp_t *op, void *scalar, ncclDataType_t datatype,
                                          ncclScalarResidence_t residence, ncclComm_t comm)
{
    simnccl_comm_t *c = (simnccl_comm_t *)comm;
    if (!op || !scalar || !c)
        return ncclInvalidArgument;
    if (residence != ncclScalarHostImmediate) {
        simnccl_set_error("ncclRedOpCreatePreMulSum: only ncclScalarHostImmediate is supported");
        return ncclInvalidUsage;
    }
    double v;
    switch (datatype) {
    case ncclFloat32: v = *(const float *)scalar; break;
    case ncclFloat64: v = *(const double *)scalar; break;
    case ncclInt32: v = *(const int32_t *)scalar; break;
    case ncclUint32: v = *(const uint32_t *)scalar; break;
    case ncclInt64: v = (double)*(const int64_t *)scalar; break;
    case ncclUint64: v = (double)*(const uint64_t *)scalar; break;
    case ncclFloat16: {
        uint16_t h;
        memcpy(&h, scalar, 2);
        v = simfp_half_to_f32(h);
        break;
    }
    case ncclBfloat16: {
        uint16_t h;
        memcpy(&h, scalar, 2);
        v = simfp_bf16_to_f32(h);
        break;
    }
    default:
        simnccl_set_error("ncclRedOpCreatePreMulSum: unsupported datatype %d", (int)datatype);
        return ncclInvalidArgument;
    }
    pthread_mutex_lock(&c->lock);
    int slot = -1;
    for (int i = 0; i < SIMNCCL_MAX_PREMUL; i++) {
        if (!c->premul_live[i]) {
            slot = i;
            break;
        }
    }
    if (slot >= 0) {
        c->premul_live[slot] = 1;
        c->premul[slot] = v;
    }
    pthread_mutex_unlock(&c->lock);
    if (slot < 0) {
        simnccl_set_error("ncclRedOpCreatePreMulSum: more than %d live operators", SIMNCCL_MAX_PREMUL);
        return ncclInvalidUsage;
    }
    *op = (ncclRedOp_t)(ncclNumOps + slot);
    return ncclSuccess;
}

API ncclResult_t ncclRedOpDestroy(ncclRedOp_t op, ncclComm_t comm)
{
    simnccl_comm_t *c = (simnccl_comm_t *)comm;
    int slot = (int)op - ncclNumOps;
    if (!c || slot < 0 || slot >= SIMNCCL_MAX_PREMUL || !c->premul_live[slot])
        return ncclInvalidArgument;
    c->premul_live[slot] = 0;
    return ncclSuccess;
}

/* ------------------------------------------------------------------------------------------ */
/* Kernel names and the provider */

#define NTYPES ((int)ncclNumTypes)
#define NREDK 5 /* Sum Prod MinMax PreMulSum SumPostDiv */

static const char *const g_redk[NREDK] = { "Sum", "Prod", "MinMax", "PreMulSum", "SumPostDiv" };

static void plan_kernel_name(simnccl_plan_t *p)
{
    const simnccl_task_t *coll = NULL;
    int ncoll = 0;
    for (uint32_t i = 0; i < p->ntasks; i++) {
        int k = p->tasks[i].kind;
        if (k != SIMNCCL_SEND && k != SIMNCCL_RECV && k != SIMNCCL_ALLTOALL &&
            k != SIMNCCL_GATHER && k != SIMNCCL_SCATTER) {
            if (!coll)
                coll = &p->tasks[i];
            ncoll++;
        }
    }
    if (ncoll == 0) {
        /* point-to-point work, and NCCL's all-to-all / gather / scatter built on it */
        snprintf(p->kernel, sizeof p->kernel, "ncclDevKernel_SendRecv");
        return;
    }
    if (ncoll > 1 || p->has_p2p) {
        snprintf(p->kernel, sizeof p->kernel, "ncclDevKernel_Generic");
        return;
    }
    const char *ty = coll->dtype >= 0 && coll->dtype < NTYPES ? g_type_short[coll->dtype] : "u8";
    switch (coll->kind) {
    case SIMNCCL_ALLGATHER:
        snprintf(p->kernel, sizeof p->kernel, "ncclDevKernel_AllGather_RING_LL");
        break;
    case SIMNCCL_BROADCAST:
        snprintf(p->kernel, sizeof p->kernel, "ncclDevKernel_Broadcast_RING_LL");
        break;
    default:
        snprintf(p->kernel, sizeof p->kernel, "ncclDevKernel_%s_%s_%s_RING_LL",
                 simnccl_kind_name(coll->kind), redop_kernel_name(coll->redop), ty);
        break;
    }
}

static simnccl_plan_t *kargs_plan(const simdev_launch_t *l)
{
    if (!l || l->nparams < 1 || !l->params || !l->params[0])
        return NULL;
    simnccl_kargs_t a;
    memcpy(&a, l->params[0], sizeof a);
    return a.magic == SIMNCCL_KARGS_MAGIC ? a.plan : NULL;
}

static int range_cmp(const void *a, const void *b)
{
    const simdev_range_t *x = a, *y = b;
    if (x->write != y->write)
        return x->write - y->write;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Sort, merge overlapping or touching ranges of one kind, drop reads inside writes, and if more
 * than SIMDEV_MAX_RANGES remain, merge the closest neighbours of one kind (a larger range only
 * makes the race checker stricter, never blind). */
static void ranges_add(simdev_range_t *tmp, uint32_t *n, uint32_t cap, uint64_t addr, uint64_t size,
                       int write)
{
    if (!size || *n >= cap)
        return;
    tmp[*n].addr = addr;
    tmp[*n].size = size;
    tmp[*n].write = write;
    (*n)++;
}

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
        if (!r[i].write) {
            for (uint32_t j = 0; j < n; j++) {
                if (r[j].write && r[j].addr <= r[i].addr &&
                    r[i].addr + r[i].size <= r[j].addr + r[j].size)
                    covered = 1;
            }
        }
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
            uint64_t g = r[i + 1].addr - (r[i].addr + r[i].size);
            if (g < gap) {
                gap = g;
                best = i;
            }
        }
        if (best == UINT32_MAX)
            break; /* cannot happen with two kinds and more than 2 ranges */
        uint64_t end = r[best + 1].addr + r[best + 1].size;
        if (end > r[best].addr + r[best].size)
            r[best].size = end - r[best].addr;
        memmove(&r[best + 1], &r[best + 2], (n - best - 2) * sizeof *r);
        n--;
    }
    d->nranges = n;
    memcpy(d->ranges, r, n * sizeof *r);
}

static int nccl_describe(const simdev_launch_t *l, simdev_launch_desc_t *d)
{
    simnccl_plan_t *p = kargs_plan(l);
    if (!p)
        return 1;
    simnccl_comm_t *c = p->comm;
    int n = c->nranks, me = c->rank;
    uint32_t cap = 4 * p->ntasks + 4, cnt = 0;
    simdev_range_t stack[64];
    simdev_range_t *tmp = cap <= 64 ? stack : malloc(cap * sizeof *tmp);
    if (!tmp)
        return 1;
    double bytes = 0, flops = 0;
    for (uint32_t i = 0; i < p->ntasks; i++) {
        const simnccl_task_t *t = &p->tasks[i];
        uint64_t b = t->count * simnccl_dtype_size(t->dtype);
        uint64_t nb = b * (uint64_t)n;
        int root = t->peer == me;
        switch (t->kind) {
        case SIMNCCL_SEND: ranges_add(tmp, &cnt, cap, t->sendbuff, b, 0); bytes += (double)b; break;
        case SIMNCCL_RECV: ranges_add(tmp, &cnt, cap, t->recvbuff, b, 1); bytes += (double)b; break;
        case SIMNCCL_ALLREDUCE:
            ranges_add(tmp, &cnt, cap, t->sendbuff, b, 0);
            ranges_add(tmp, &cnt, cap, t->recvbuff, b, 1);
            bytes += 2.0 * (double)b;
            flops += (double)t->count * (n - 1);
            break;
        case SIMNCCL_ALLGATHER:
            ranges_add(tmp, &cnt, cap, t->sendbuff, b, 0);
            ranges_add(tmp, &cnt, cap, t->recvbuff, nb, 1);
            bytes += (double)(b + nb);
            break;
        case SIMNCCL_REDUCESCATTER:
            ranges_add(tmp, &cnt, cap, t->sendbuff, nb, 0);
            ranges_add(tmp, &cnt, cap, t->recvbuff, b, 1);
            bytes += (double)(b + nb);
            flops += (double)t->count * (n - 1);
            break;
        case SIMNCCL_BROADCAST:
            if (root)
                ranges_add(tmp, &cnt, cap, t->sendbuff, b, 0);
            ranges_add(tmp, &cnt, cap, t->recvbuff, b, 1);
            bytes += 2.0 * (double)b;
            break;
        case SIMNCCL_REDUCE:
            ranges_add(tmp, &cnt, cap, t->sendbuff, b, 0);
            if (root)
                ranges_add(tmp, &cnt, cap, t->recvbuff, b, 1);
            bytes += 2.0 * (double)b;
            flops += (double)t->count;
            break;
        case SIMNCCL_ALLTOALL:
            ranges_add(tmp, &cnt, cap, t->sendbuff, nb, 0);
            ranges_add(tmp, &cnt, cap, t->recvbuff, nb, 1);
            bytes += 2.0 * (double)nb;
            break;
        case SIMNCCL_GATHER:
            ranges_add(tmp, &cnt, cap, t->sendbuff, b, 0);
            if (root)
                ranges_add(tmp, &cnt, cap, t->recvbuff, nb, 1);
            bytes += (double)(root ? b + nb : b);
            break;
        case SIMNCCL_SCATTER:
            if (root)
                ranges_add(tmp, &cnt, cap, t->sendbuff, nb, 0);
            ranges_add(tmp, &cnt, cap, t->recvbuff, b, 1);
            bytes += (double)(root ? b + nb : b);
            break;
        default:
            break;
        }
    }
    memset(d, 0, sizeof *d);
    d->is_comm = 1;
    d->bytes = bytes;
    d->flops = flops;
    ranges_finish(tmp, cnt, d);
    if (tmp != stack)
        free(tmp);
    return 0;
}

static void nccl_run(const simdev_launch_t *l)
{
    /* The data moves in comm_start, where the peers meet. */
    (void)l;
}

static int nccl_comm_start(const simdev_launch_t *l, double ready_us, double *start_us,
                           double *dur_us)
{
    simnccl_plan_t *p = kargs_plan(l);
    if (!p) {
        simnccl_set_error("NCCL kernel launched with a parameter block this library did not make");
        return 1;
    }
    return simnccl_exec_plan(p, ready_us, start_us, dur_us);
}

/* Every name plan_kernel_name can produce. */
#define NPROVIDERS (3 + 3 * NREDK * NTYPES + 2)
static simdev_kernel_t g_providers[NPROVIDERS];
static char g_provider_names[NPROVIDERS][96];

static void provider_set(size_t i, const char *name)
{
    snprintf(g_provider_names[i], sizeof g_provider_names[i], "%s", name);
    simdev_kernel_t *k = &g_providers[i];
    k->name = g_provider_names[i];
    k->nparams = 1;
    k->param_size[0] = sizeof(simnccl_kargs_t);
    k->describe = nccl_describe;
    k->run = nccl_run;
    k->comm_start = nccl_comm_start;
}

__attribute__((constructor)) static void simnccl_register(void)
{
    size_t i = 0;
    char name[96];
    provider_set(i++, "ncclDevKernel_SendRecv");
    provider_set(i++, "ncclDevKernel_Generic");
    provider_set(i++, "ncclDevKernel_AllGather_RING_LL");
    provider_set(i++, "ncclDevKernel_Broadcast_RING_LL");
    static const int reducing[3] = { SIMNCCL_ALLREDUCE, SIMNCCL_REDUCESCATTER, SIMNCCL_REDUCE };
    for (int k = 0; k < 3; k++) {
        for (int o = 0; o < NREDK; o++) {
            for (int t = 0; t < NTYPES; t++) {
                snprintf(name, sizeof name, "ncclDevKernel_%s_%s_%s_RING_LL",
                         simnccl_kind_name(reducing[k]), g_redk[o], g_type_short[t]);
                provider_set(i++, name);
            }
        }
    }
    simdev_register_kernels(g_providers, i);
}

/* ------------------------------------------------------------------------------------------ */
/* Plans */

static uint64_t fnv1a(const void *data, size_t len, uint64_t h)
{
    const uint8_t *b = data;
    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static simnccl_plan_t *plan_intern(simnccl_comm_t *c, const simnccl_task_t *tasks, uint32_t n)
{
    uint64_t h = fnv1a(tasks, n * sizeof *tasks, 0xcbf29ce484222325ull);
    pthread_mutex_lock(&c->lock);
    simnccl_plan_t **bucket = &c->plans[h % SIMNCCL_PLAN_BUCKETS];
    for (simnccl_plan_t *p = *bucket; p; p = p->next) {
        if (p->hash == h && p->ntasks == n && memcmp(p->tasks, tasks, n * sizeof *tasks) == 0) {
            pthread_mutex_unlock(&c->lock);
            return p;
        }
    }
    simnccl_plan_t *p = calloc(1, sizeof *p + n * sizeof *tasks);
    if (p) {
        p->comm = c;
        p->ntasks = n;
        p->hash = h;
        memcpy(p->tasks, tasks, n * sizeof *tasks);
        for (uint32_t i = 0; i < n; i++) {
            if (tasks[i].kind == SIMNCCL_SEND || tasks[i].kind == SIMNCCL_RECV)
                p->has_p2p = 1;
            else
                p->has_coll = 1;
        }
        plan_kernel_name(p);
        p->next = *bucket;
        *bucket = p;
    }
    pthread_mutex_unlock(&c->lock);
    return p;
}

static simdev_kcache_t g_kernels =
    SIMDEV_KCACHE_INIT("simdev-nccl-module: kernels are provided by libnccl.so.2");

static ncclResult_t ensure_context(int dev)
{
    CUcontext ctx = NULL;
    if (cuCtxGetCurrent(&ctx) == CUDA_SUCCESS && ctx)
        return ncclSuccess;
    /* Like the CUDA runtime that real NCCL uses: the device's primary context. */
    CUresult r = cuInit(0);
    CUdevice d = 0;
    if (r == CUDA_SUCCESS)
        r = cuDeviceGet(&d, dev);
    if (r == CUDA_SUCCESS)
        r = cuDevicePrimaryCtxRetain(&ctx, d);
    if (r == CUDA_SUCCESS)
        r = cuCtxSetCurrent(ctx);
    if (r != CUDA_SUCCESS) {
        simnccl_set_error("no current CUDA context and the primary context of device %d failed (%d)",
                          dev, (int)r);
        return ncclUnhandledCudaError;
    }
    return ncclSuccess;
}

static ncclResult_t get_function(int dev, const char *name, CUfunction *fn_p)
{
    ncclResult_t st = ensure_context(dev);
    if (st != ncclSuccess)
        return st;
    CUcontext ctx = NULL;
    cuCtxGetCurrent(&ctx);
    CUresult r = simdev_kcache_get(&g_kernels, ctx, name, fn_p);
    if (r != CUDA_SUCCESS) {
        simnccl_set_error("cannot load kernel %s from the simulated driver (%d)", name, (int)r);
        return ncclUnhandledCudaError;
    }
    return ncclSuccess;
}

/* Launch one plan on streams[0]; other streams of the group join before and after, so that the
 * kernel depends on all of them and all of them depend on it (NCCL does the same with events). */
static ncclResult_t launch_plan(simnccl_comm_t *c, const simnccl_task_t *tasks, uint32_t n,
                                CUstream *streams, size_t nstreams)
{
    simnccl_plan_t *p = plan_intern(c, tasks, n);
    if (!p)
        return ncclSystemError;
    CUfunction fn = NULL;
    ncclResult_t st = get_function(c->cudev, p->kernel, &fn);
    if (st != ncclSuccess)
        return st;
    CUresult r = CUDA_SUCCESS;
    CUevent ev = NULL;
    if (nstreams > 1) {
        r = cuEventCreate(&ev, CU_EVENT_DISABLE_TIMING);
        for (size_t i = 1; i < nstreams && r == CUDA_SUCCESS; i++) {
            r = cuEventRecord(ev, streams[i]);
            if (r == CUDA_SUCCESS)
                r = cuStreamWaitEvent(streams[0], ev, 0);
        }
    }
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < n; i++)
        bytes += tasks[i].count * simnccl_dtype_size(tasks[i].dtype);
    unsigned channels = bytes >= (1u << 20) ? 16 : bytes >= (1u << 16) ? 4 : 1;
    simnccl_kargs_t args = { SIMNCCL_KARGS_MAGIC, p };
    void *params[1] = { &args };
    if (r == CUDA_SUCCESS)
        r = cuLaunchKernel(fn, channels, 1, 1, 512, 1, 1, 0, streams[0], params, NULL);
    if (r == CUDA_SUCCESS && nstreams > 1) {
        r = cuEventRecord(ev, streams[0]);
        for (size_t i = 1; i < nstreams && r == CUDA_SUCCESS; i++)
            r = cuStreamWaitEvent(streams[i], ev, 0);
    }
    if (ev)
        cuEventDestroy(ev);
    if (r != CUDA_SUCCESS) {
        const char *s = NULL;
        cuGetErrorName(r, &s);
        simnccl_set_error("launch of %s on communicator %s failed: %s", p->kernel, c->name,
                          s ? s : "?");
        return ncclUnhandledCudaError;
    }
    return ncclSuccess;
}

/* ------------------------------------------------------------------------------------------ */
/* Groups (per thread, as in NCCL) */

typedef struct {
    simnccl_comm_t *comm;
    CUstream stream;
    simnccl_task_t task;
} pending_t;

static __thread int t_group_depth;
static __thread pending_t *t_pending;
static __thread size_t t_npending, t_pending_cap;
static __thread ncclResult_t t_group_error;

API ncclResult_t ncclGroupStart(void)
{
    t_group_depth++;
    return ncclSuccess;
}

static ncclResult_t flush_group(void)
{
    ncclResult_t st = ncclSuccess;
    simnccl_task_t *tasks = malloc((t_npending ? t_npending : 1) * sizeof *tasks);
    CUstream *streams = malloc((t_npending ? t_npending : 1) * sizeof *streams);
    char *done = calloc(t_npending ? t_npending : 1, 1);
    if (!tasks || !streams || !done) {
        st = ncclSystemError;
        goto out;
    }
    /* Communicators in order of first use; tasks of each in call order. */
    for (size_t i = 0; i < t_npending && st == ncclSuccess; i++) {
        if (done[i])
            continue;
        simnccl_comm_t *c = t_pending[i].comm;
        uint32_t n = 0;
        size_t ns = 0;
        for (size_t j = i; j < t_npending; j++) {
            if (done[j] || t_pending[j].comm != c)
                continue;
            done[j] = 1;
            tasks[n++] = t_pending[j].task;
            size_t s = 0;
            while (s < ns && streams[s] != t_pending[j].stream)
                s++;
            if (s == ns)
                streams[ns++] = t_pending[j].stream;
        }
        st = launch_plan(c, tasks, n, streams, ns);
    }
out:
    free(tasks);
    free(streams);
    free(done);
    t_npending = 0;
    return st;
}

API ncclResult_t ncclGroupEnd(void)
{
    if (t_group_depth <= 0) {
        simnccl_set_error("ncclGroupEnd without ncclGroupStart");
        return ncclInvalidUsage;
    }
    if (--t_group_depth > 0)
        return ncclSuccess;
    ncclResult_t st = t_group_error;
    t_group_error = ncclSuccess;
    if (st != ncclSuccess) {
        t_npending = 0;
        return st;
    }
    return flush_group();
}

API ncclResult_t ncclGroupSimulateEnd(ncclSimInfo_t *simInfo)
{
    (void)simInfo;
    simnccl_set_error("ncclGroupSimulateEnd is not supported by the simulated NCCL");
    return ncclInvalidUsage;
}

static ncclResult_t enqueue(ncclComm_t comm, cudaStream_t stream, simnccl_task_t *t)
{
    simnccl_comm_t *c = (simnccl_comm_t *)comm;
    ncclResult_t st = ncclSuccess;
    if (!c) {
        simnccl_set_error("%s: null communicator", simnccl_kind_name(t->kind));
        st = ncclInvalidArgument;
    } else if (simnccl_dtype_size(t->dtype) == 0) {
        simnccl_set_error("%s: invalid datatype %d", simnccl_kind_name(t->kind), t->dtype);
        st = ncclInvalidArgument;
    } else if ((t->kind == SIMNCCL_SEND || t->kind == SIMNCCL_RECV || t->kind == SIMNCCL_BROADCAST ||
                t->kind == SIMNCCL_REDUCE || t->kind == SIMNCCL_GATHER ||
                t->kind == SIMNCCL_SCATTER) && (t->peer < 0 || t->peer >= c->nranks)) {
        simnccl_set_error("%s: peer/root %d out of range for %d ranks", simnccl_kind_name(t->kind),
                          t->peer, c->nranks);
        st = ncclInvalidArgument;
    } else if (t->redop >= ncclNumOps) {
        int slot = t->redop - ncclNumOps;
        if (slot >= SIMNCCL_MAX_PREMUL || !c->premul_live[slot]) {
            simnccl_set_error("%s: unknown reduction operator %d", simnccl_kind_name(t->kind),
                              t->redop);
            st = ncclInvalidArgument;
        } else {
            t->premul = c->premul[slot];
        }
    }
    if (st == ncclSuccess && c->broken) {
        simnccl_set_error("%s on communicator %s after an earlier failure on it",
                          simnccl_kind_name(t->kind), c->name);
        st = ncclInvalidUsage;
    }
    if (st != ncclSuccess) {
        if (t_group_depth > 0)
            t_group_error = st;
        return st;
    }
    if (t_group_depth == 0) {
        CUstream s = (CUstream)stream;
        return launch_plan(c, t, 1, &s, 1);
    }
    if (t_npending == t_pending_cap) {
        size_t cap = t_pending_cap ? 2 * t_pending_cap : 64;
        pending_t *np = realloc(t_pending, cap * sizeof *np);
        if (!np) {
            t_group_error = ncclSystemError;
            return ncclSystemError;
        }
        t_pending = np;
        t_pending_cap = cap;
    }
    pending_t *e = &t_pending[t_npending++];
    e->comm = c;
    e->stream = (CUstream)stream;
    e->task = *t;
    return ncclSuccess;
}

static simnccl_task_t make_task(int kind, const void *sb, void *rb, size_t count,
                                ncclDataType_t dt, int redop, int peer)
{
    simnccl_task_t t;
    memset(&t, 0, sizeof t); /* plans are compared bytewise */
    t.kind = kind;
    t.sendbuff = (uint64_t)(uintptr_t)sb;
    t.recvbuff = (uint64_t)(uintptr_t)rb;
    t.count = count;
    t.dtype = (int32_t)dt;
    t.redop = redop;
    t.peer = peer;
    return t;
}

API ncclResult_t ncclAllReduce(const void *sendbuff, void *recvbuff, size_t count,
                               ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
                               cudaStream_t stream)
{
    simnccl_task_t t = make_task(SIMNCCL_ALLREDUCE, sendbuff, recvbuff, count, datatype, op, -1);
    return enqueue(comm, stream, &t);
}

API ncclResult_t ncclAllGather(const void *sendbuff, void *recvbuff, size_t sendcount,
                               ncclDataType_t datatype, ncclComm_t comm, cudaStream_t stream)
{
    simnccl_task_t t = make_task(SIMNCCL_ALLGATHER, sendbuff, recvbuff, sendcount, datatype, 0, -1);
    return enqueue(comm, stream, &t);
}

API ncclResult_t ncclReduceScatter(const void *sendbuff, void *recvbuff, size_t recvcount,
                                   ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
                                   cudaStream_t stream)
{
    simnccl_task_t t = make_task(SIMNCCL_REDUCESCATTER, sendbuff, recvbuff, recvcount, datatype, op, -1);
    return enqueue(comm, stream, &t);
}

API ncclResult_t ncclBroadcast(const void *sendbuff, void *recvbuff, size_t count,
                               ncclDataType_t datatype, int root, ncclComm_t comm,
                               cudaStream_t stream)
{
    simnccl_task_t t = make_task(SIMNCCL_BROADCAST, sendbuff, recvbuff, count, datatype, 0, root);
    return enqueue(comm, stream, &t);
}

API ncclResult_t ncclBcast(void *buff, size_t count, ncclDataType_t datatype, int root,
                           ncclComm_t comm, cudaStream_t stream)
{
    return ncclBroadcast(buff, buff, count, datatype, root, comm, stream);
}

API ncclResult_t ncclReduce(const void *sendbuff, void *recvbuff, size_t count,
                            ncclDataType_t datatype, ncclRedOp_t op, int root, ncclComm_t comm,
                            cudaStream_t stream)
{
    simnccl_task_t t = make_task(SIMNCCL_REDUCE, sendbuff, recvbuff, count, datatype, op, root);
    return enqueue(comm, stream, &t);
}

API ncclResult_t ncclAlltoAll(const void *sendbuff, void *recvbuff, size_t count,
                              ncclDataType_t datatype, ncclComm_t comm, cudaStream_t stream)
{
    simnccl_task_t t = make_task(SIMNCCL_ALLTOALL, sendbuff, recvbuff, count, datatype, 0, -1);
    return enqueue(comm, stream, &t);
}

API ncclResult_t ncclGather(const void *sendbuff, void *recvbuff, size_t count,
                            ncclDataType_t datatype, int root, ncclComm_t comm, cudaStream_t stream)
{
    simnccl_task_t t = make_task(SIMNCCL_GATHER, sendbuff, recvbuff, count, datatype, 0, root);
    return enqueue(comm, stream, &t);
}

API ncclResult_t ncclScatter(const void *sendbuff, void *recvbuff, size_t count,
                             ncclDataType_t datatype, int root, ncclComm_t comm,
                             cudaStream_t stream)
{
    simnccl_task_t t = make_task(SIMNCCL_SCATTER, sendbuff, recvbuff, count, datatype, 0, root);
    return enqueue(comm, stream, &t);
}

API ncclResult_t ncclSend(const void *sendbuff, size_t count, ncclDataType_t datatype, int peer,
                          ncclComm_t comm, cudaStream_t stream)
{
    simnccl_task_t t = make_task(SIMNCCL_SEND, sendbuff, NULL, count, datatype, 0, peer);
    return enqueue(comm, stream, &t);
}

API ncclResult_t ncclRecv(void *recvbuff, size_t count, ncclDataType_t datatype, int peer,
                          ncclComm_t comm, cudaStream_t stream)
{
    simnccl_task_t t = make_task(SIMNCCL_RECV, NULL, recvbuff, count, datatype, 0, peer);
    return enqueue(comm, stream, &t);
}

/* Calls outside the subset: fail loudly, never pretend. */
#define UNSUPPORTED(name)                                                                       \
    do {                                                                                        \
        simnccl_set_error("%s is not supported by the simulated NCCL", name);                   \
        return ncclInvalidUsage;                                                                \
    } while (0)

API ncclResult_t ncclCommInitRankScalable(ncclComm_t *newcomm, int nranks, int myrank, int nId,
                                          ncclUniqueId *commIds, ncclConfig_t *config)
{
    if (nId == 1 && commIds)
        return comm_init(newcomm, nranks, commIds[0], myrank, config);
    UNSUPPORTED("ncclCommInitRankScalable with several unique ids");
}

API ncclResult_t ncclCommRevoke(ncclComm_t comm, int revokeFlags)
{
    (void)comm;
    (void)revokeFlags;
    UNSUPPORTED("ncclCommRevoke");
}

API ncclResult_t ncclCommShrink(ncclComm_t comm, int *excludeRanksList, int excludeRanksCount,
                                ncclComm_t *newcomm, ncclConfig_t *config, int shrinkFlags)
{
    (void)comm;
    (void)excludeRanksList;
    (void)excludeRanksCount;
    (void)newcomm;
    (void)config;
    (void)shrinkFlags;
    UNSUPPORTED("ncclCommShrink");
}

API ncclResult_t ncclCommWindowRegister(ncclComm_t comm, void *buff, size_t size, ncclWindow_t *win,
                                        int winFlags)
{
    (void)comm;
    (void)buff;
    (void)size;
    (void)win;
    (void)winFlags;
    UNSUPPORTED("ncclCommWindowRegister");
}

API ncclResult_t ncclCommWindowDeregister(ncclComm_t comm, ncclWindow_t win)
{
    (void)comm;
    (void)win;
    UNSUPPORTED("ncclCommWindowDeregister");
}
