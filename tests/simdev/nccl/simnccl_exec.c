/* Running a plan when the simulated device reaches it (the provider's comm_start).
 *
 * What it does, per plan:
 *   1. Agree with the peers that they are at the same operation. Plans with collectives
 *      exchange a header with every member (MPI_Iallgather); point-to-point work exchanges a
 *      header with each peer (MPI_Isend/Irecv). A header carries the sequence numbers, what the
 *      operation is (kind, count, type, operator, root; message sizes per peer) and the rank's
 *      local virtual ready time.
 *   2. If the headers disagree (rank 0 all-reduces while rank 1 all-gathers, or counts differ),
 *      report the mismatch naming every rank's sequence and operation and fail. If a header does
 *      not arrive within SIMDEV_DEADLOCK_TIMEOUT_S seconds (default 20) of wall time, read the
 *      peers' state files and report a deadlock the same way. Never wait without bound.
 *   3. The operation starts at the largest ready time of the ranks taking part (that is how the
 *      virtual clocks of the ranks synchronise) and lasts what the fabric model says.
 *   4. In compute mode, move the data with MPI (reductions on host memory).
 *
 * Invariant: the headers are matched in order per pair of ranks (MPI's non-overtaking rule on
 * the communicator's private MPI communicator), so the k-th plan that involves ranks i and j on
 * one rank meets the k-th such plan on the other. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nccl.h>

#include "../cublas/simblas_fp.h"
#include "simnccl.h"

#define TAG_HDR 7101
#define TAG_DATA 7102
#define HDR_MAGIC 0x53494d48u

typedef struct {
    uint32_t magic;
    int32_t rank;
    uint64_t seq;         /* plans run on the communicator by the sender, this one included */
    uint64_t coll_seq;    /* plans with collectives, this one included */
    uint64_t pair_seq;    /* point-to-point plans with the receiver, this one included */
    uint64_t coll_hash;   /* the collective tasks (kind, type, operator, root, count) in order */
    uint32_t ncoll;
    uint32_t nsend, nrecv;    /* point-to-point messages to / from the receiver */
    uint32_t pad;
    uint64_t send_bytes, recv_bytes;
    uint64_t send_hash, recv_hash; /* sequence of message sizes to / from the receiver */
    double ready_us;
    char desc[192];
} hdr_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdull;
}

static int is_p2p(const simnccl_task_t *t)
{
    return t->kind == SIMNCCL_SEND || t->kind == SIMNCCL_RECV;
}

static void plan_describe(const simnccl_plan_t *p, char *buf, size_t len)
{
    size_t nsend = 0, nrecv = 0, off = 0;
    int ncoll = 0;
    buf[0] = 0;
    for (uint32_t i = 0; i < p->ntasks; i++) {
        if (p->tasks[i].kind == SIMNCCL_SEND)
            nsend++;
        else if (p->tasks[i].kind == SIMNCCL_RECV)
            nrecv++;
        else if (off + 2 < len) {
            char d[160];
            simnccl_task_describe(&p->tasks[i], d, sizeof d);
            int w = snprintf(buf + off, len - off, "%s%s", ncoll ? "+" : "", d);
            if (w > 0)
                off += (size_t)w < len - off ? (size_t)w : len - off - 1;
            ncoll++;
        }
    }
    if ((nsend || nrecv) && off + 2 < len) {
        if (nsend + nrecv == 1) {
            char d[160];
            for (uint32_t i = 0; i < p->ntasks; i++)
                if (is_p2p(&p->tasks[i]))
                    simnccl_task_describe(&p->tasks[i], d, sizeof d);
            snprintf(buf + off, len - off, "%s%s", ncoll ? "+" : "", d);
        } else {
            snprintf(buf + off, len - off, "%sSendRecv(%zu sends, %zu recvs)", ncoll ? "+" : "",
                     nsend, nrecv);
        }
    }
}

static uint64_t coll_hash(const simnccl_plan_t *p, uint32_t *ncoll_p)
{
    uint64_t h = 0x1234;
    uint32_t n = 0;
    for (uint32_t i = 0; i < p->ntasks; i++) {
        const simnccl_task_t *t = &p->tasks[i];
        if (is_p2p(t))
            continue;
        h = mix(h, (uint64_t)t->kind);
        h = mix(h, (uint64_t)t->dtype);
        h = mix(h, (uint64_t)t->redop);
        h = mix(h, (uint64_t)(uint32_t)t->peer);
        h = mix(h, t->count);
        n++;
    }
    *ncoll_p = n;
    return h;
}

/* Poll until every request completed (0) or the wall-clock deadline passed (1). */
static int wait_all(MPI_Request *reqs, int n, double deadline)
{
    long spin = 0, sleep_ns = 20000;
    for (;;) {
        int done = 0;
        MPI_Testall(n, reqs, &done, MPI_STATUSES_IGNORE);
        if (done)
            return 0;
        if (now_s() > deadline)
            return 1;
        if (++spin < 64)
            continue;
        struct timespec ts = { 0, sleep_ns };
        nanosleep(&ts, NULL);
        if (sleep_ns < 1000000)
            sleep_ns += sleep_ns / 2;
    }
}

static void abandon(MPI_Request *reqs, int n)
{
    for (int i = 0; i < n; i++) {
        if (reqs[i] == MPI_REQUEST_NULL)
            continue;
        MPI_Cancel(&reqs[i]);
        MPI_Request_free(&reqs[i]);
    }
}

/* After a reported failure the program normally exits with an error. If it keeps waiting
 * somewhere (an MPI call of its own, MPI_Finalize with a peer gone), end it: a deadlock must
 * never become a silent hang. SIMDEV_DEADLOCK_EXIT_S=0 disables this. */
static void *watchdog(void *arg)
{
    double s = *(double *)arg;
    free(arg);
    struct timespec ts = { (time_t)s, (long)((s - floor(s)) * 1e9) };
    nanosleep(&ts, NULL);
    fprintf(stderr, "simnccl: process %d still running %.0f s after a reported NCCL failure; "
            "exiting with status 3\n", (int)getpid(), s);
    fflush(stderr);
    simnccl_remove_files();
    _exit(3);
    return NULL;
}

static void arm_watchdog(void)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static int armed;
    double s = simnccl_env_seconds("SIMDEV_DEADLOCK_EXIT_S", 2 * simnccl_timeout_s() + 5, 1);
    if (s <= 0)
        return;
    pthread_mutex_lock(&lock);
    if (!armed) {
        double *arg = malloc(sizeof *arg);
        pthread_t th;
        if (arg) {
            *arg = s;
            if (pthread_create(&th, NULL, watchdog, arg) == 0) {
                pthread_detach(th);
                armed = 1;
            } else {
                free(arg);
            }
        }
    }
    pthread_mutex_unlock(&lock);
}

static void read_state(const simnccl_comm_t *c, int r, char *buf, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/state.%d", c->dir, r);
    int fd = open(path, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, len - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0) {
        snprintf(buf, len, "(no state: process gone or communicator destroyed)");
        return;
    }
    buf[n] = 0;
    char *nl = strchr(buf, '\n');
    if (nl)
        *nl = 0;
}

static void report_deadlock(simnccl_comm_t *c, uint64_t seq, const char *desc, const int *waiting,
                            int nwaiting, double waited)
{
    char list[256] = "";
    size_t off = 0;
    for (int i = 0; i < nwaiting && off + 16 < sizeof list; i++)
        off += (size_t)snprintf(list + off, sizeof list - off, "%s%d", i ? "," : "", waiting[i]);
    char *out = NULL;
    size_t outlen = 0;
    FILE *f = open_memstream(&out, &outlen);
    if (!f)
        return;
    fprintf(f, "simnccl: DEADLOCK on communicator %s (%d ranks): rank %d waited %.1f s at seq %llu "
            "%s for rank(s) %s\n", c->name, c->nranks, c->rank, waited, (unsigned long long)seq,
            desc, list);
    for (int r = 0; r < c->nranks; r++) {
        int show = c->nranks <= 16 || r == c->rank;
        for (int i = 0; i < nwaiting && !show; i++)
            show = waiting[i] == r;
        if (!show)
            continue;
        char st[512], now[512];
        read_state(c, r, st, sizeof st);
        fprintf(f, "simnccl:   rank %d (world rank %d, pid %d): %s\n", r, c->world_ranks[r],
                c->pids[r], st);
        /* Not waiting here: say where that process waits instead. */
        simnccl_proc_state_read(c->pids[r], now, sizeof now);
        if (now[0] && !strstr(now, c->name))
            fprintf(f, "simnccl:     (that process now: %s)\n", now);
    }
    fclose(f);
    fputs(out, stderr);
    fflush(stderr);
    free(out);
    simnccl_set_error("deadlock on communicator %s at seq %llu %s (waiting for rank(s) %s)",
                      c->name, (unsigned long long)seq, desc, list);
}

static int coll_exchange(simnccl_comm_t *c, const simnccl_plan_t *p, uint64_t seq, double ready,
                         const char *desc, double *tmax, double deadline, double t_begin)
{
    /* [0, n): everyone's header; [n]: mine. One block, so that a request abandoned on timeout
     * can keep it (it is leaked then: MPI may still write into it). */
    hdr_t *all = calloc((size_t)c->nranks + 1, sizeof *all);
    if (!all)
        return 1;
    hdr_t mine_v;
    memset(&mine_v, 0, sizeof mine_v);
    hdr_t *mine_p = &all[c->nranks];
    mine_v.magic = HDR_MAGIC;
    mine_v.rank = c->rank;
    mine_v.seq = seq;
    mine_v.coll_seq = c->coll_seq;
    mine_v.coll_hash = coll_hash(p, &mine_v.ncoll);
    mine_v.ready_us = ready;
    snprintf(mine_v.desc, sizeof mine_v.desc, "%s", desc);
    *mine_p = mine_v;
    const hdr_t mine = mine_v;
    MPI_Request req = MPI_REQUEST_NULL;
    MPI_Iallgather(mine_p, (int)sizeof mine, MPI_BYTE, all, (int)sizeof mine, MPI_BYTE, c->mpi, &req);
    if (wait_all(&req, 1, deadline)) {
        /* A collective request cannot be cancelled; the communicator is unusable from here on.
         * Who is missing: the state files tell. */
        int *waiting = malloc((size_t)c->nranks * sizeof *waiting);
        int nw = 0;
        for (int r = 0; r < c->nranks && waiting; r++)
            if (r != c->rank)
                waiting[nw++] = r;
        report_deadlock(c, seq, desc, waiting, nw, now_s() - t_begin);
        free(waiting);
        return 1;
    }
    int bad = 0;
    for (int r = 0; r < c->nranks; r++) {
        if (all[r].magic != HDR_MAGIC || all[r].coll_seq != mine.coll_seq ||
            all[r].coll_hash != mine.coll_hash || all[r].ncoll != mine.ncoll)
            bad = 1;
        if (all[r].ready_us > *tmax)
            *tmax = all[r].ready_us;
    }
    if (bad) {
        /* Every rank sees the same headers: rank 0 prints the table, the others one line. */
        if (c->rank == 0) {
            fprintf(stderr, "simnccl: DEADLOCK (collective mismatch) on communicator %s (%d ranks): "
                    "ranks issued different collectives\n", c->name, c->nranks);
            for (int r = 0; r < c->nranks; r++) {
                if (c->nranks > 16 && all[r].coll_hash == all[0].coll_hash && r != 0)
                    continue;
                fprintf(stderr, "simnccl:   rank %d (world rank %d, pid %d): seq %llu collective %llu "
                        "%s\n", r, c->world_ranks[r], c->pids[r], (unsigned long long)all[r].seq,
                        (unsigned long long)all[r].coll_seq, all[r].desc);
            }
            fflush(stderr);
        }
        int other = c->rank == 0 ? 1 : 0;
        for (int r = 0; r < c->nranks; r++) {
            if (all[r].coll_hash != mine.coll_hash || all[r].coll_seq != mine.coll_seq) {
                other = r;
                break;
            }
        }
        simnccl_set_error("collective mismatch on communicator %s: rank %d seq %llu %s, rank %d seq "
                          "%llu %s", c->name, c->rank, (unsigned long long)seq, desc, other,
                          (unsigned long long)all[other].seq, all[other].desc);
        free(all);
        return 1;
    }
    free(all);
    return 0;
}

typedef struct {
    int peer;
    hdr_t out, in;
} pair_t;

static int p2p_exchange(simnccl_comm_t *c, const simnccl_plan_t *p, uint64_t seq, double ready,
                        const char *desc, double *tmax, double deadline, double t_begin)
{
    int n = c->nranks;
    pair_t *pairs = calloc((size_t)n, sizeof *pairs);
    int *idx = malloc((size_t)n * sizeof *idx);
    MPI_Request *reqs = malloc(2 * (size_t)n * sizeof *reqs);
    int rc = 1;
    if (!pairs || !idx || !reqs)
        goto out;
    for (int r = 0; r < n; r++)
        idx[r] = -1;
    int np = 0;
    for (uint32_t i = 0; i < p->ntasks; i++) {
        const simnccl_task_t *t = &p->tasks[i];
        if (!is_p2p(t) || t->peer == c->rank)
            continue;
        if (idx[t->peer] < 0) {
            idx[t->peer] = np;
            pair_t *q = &pairs[np++];
            q->peer = t->peer;
            q->out.magic = HDR_MAGIC;
            q->out.rank = c->rank;
            q->out.seq = seq;
            q->out.coll_seq = c->coll_seq;
            q->out.pair_seq = ++c->pair_seq[t->peer];
            q->out.ready_us = ready;
            q->out.send_hash = q->out.recv_hash = 0x77;
            snprintf(q->out.desc, sizeof q->out.desc, "%s", desc);
        }
        pair_t *q = &pairs[idx[t->peer]];
        uint64_t b = t->count * simnccl_dtype_size(t->dtype);
        if (t->kind == SIMNCCL_SEND) {
            q->out.nsend++;
            q->out.send_bytes += b;
            q->out.send_hash = mix(q->out.send_hash, b);
        } else {
            q->out.nrecv++;
            q->out.recv_bytes += b;
            q->out.recv_hash = mix(q->out.recv_hash, b);
        }
    }
    for (int i = 0; i < np; i++) {
        MPI_Irecv(&pairs[i].in, (int)sizeof(hdr_t), MPI_BYTE, pairs[i].peer, TAG_HDR, c->mpi,
                  &reqs[2 * i]);
        MPI_Isend(&pairs[i].out, (int)sizeof(hdr_t), MPI_BYTE, pairs[i].peer, TAG_HDR, c->mpi,
                  &reqs[2 * i + 1]);
    }
    if (wait_all(reqs, 2 * np, deadline)) {
        int *waiting = malloc((size_t)n * sizeof *waiting);
        int nw = 0;
        for (int i = 0; i < np && waiting; i++) {
            int flag = 0;
            if (reqs[2 * i] != MPI_REQUEST_NULL)
                MPI_Test(&reqs[2 * i], &flag, MPI_STATUS_IGNORE);
            else
                flag = 1;
            if (!flag)
                waiting[nw++] = pairs[i].peer;
        }
        abandon(reqs, 2 * np);
        report_deadlock(c, seq, desc, waiting, nw, now_s() - t_begin);
        free(waiting);
        /* Abandoned sends may still read the headers: keep them (leaked). */
        pairs = NULL;
        goto out;
    }
    rc = 0;
    for (int i = 0; i < np; i++) {
        const hdr_t *o = &pairs[i].out, *in = &pairs[i].in;
        if (in->ready_us > *tmax)
            *tmax = in->ready_us;
        if (in->magic == HDR_MAGIC && in->pair_seq == o->pair_seq && in->nsend == o->nrecv &&
            in->nrecv == o->nsend && in->send_hash == o->recv_hash && in->recv_hash == o->send_hash)
            continue;
        /* Both sides see the mismatch; each reports its view, naming both sequences. */
        fprintf(stderr, "simnccl: DEADLOCK (point-to-point mismatch) on communicator %s: "
                "rank %d seq %llu (p2p #%llu with rank %d) %s [sends %u msgs / %llu B, expects %u msgs "
                "/ %llu B]; rank %d seq %llu (p2p #%llu with rank %d) %s [sends %u msgs / %llu B, "
                "expects %u msgs / %llu B]\n", c->name, c->rank, (unsigned long long)seq,
                (unsigned long long)o->pair_seq, pairs[i].peer, desc, o->nsend,
                (unsigned long long)o->send_bytes, o->nrecv, (unsigned long long)o->recv_bytes,
                pairs[i].peer, (unsigned long long)in->seq, (unsigned long long)in->pair_seq,
                c->rank, in->desc, in->nsend, (unsigned long long)in->send_bytes, in->nrecv,
                (unsigned long long)in->recv_bytes);
        fflush(stderr);
        simnccl_set_error("point-to-point mismatch on communicator %s between rank %d (seq %llu %s) "
                          "and rank %d (seq %llu %s)", c->name, c->rank, (unsigned long long)seq,
                          desc, pairs[i].peer, (unsigned long long)in->seq, in->desc);
        rc = 1;
        break;
    }
out:
    free(pairs);
    free(idx);
    free(reqs);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Data movement (compute mode) */

typedef struct {
    MPI_Datatype mt;  /* of the wide buffer */
    size_t wsize;
    int conv;         /* 0 native, 1 float16 via float, 2 bfloat16 via float, 3 / 4 int8 /
                       * uint8 via 32-bit integers */
    int is_float;
} wide_t;

static int wide_of(int dtype, wide_t *w)
{
    memset(w, 0, sizeof *w);
    switch (dtype) {
    /* 8-bit integers reduce as 32-bit ones and are cut back (same result modulo 2^8, same
     * order): Open MPI 4.1's vectorised 8-bit sum saturates instead of wrapping. */
    case ncclInt8: w->mt = MPI_INT32_T; w->wsize = 4; w->conv = 3; break;
    case ncclUint8: w->mt = MPI_UINT32_T; w->wsize = 4; w->conv = 4; break;
    case ncclInt32: w->mt = MPI_INT32_T; w->wsize = 4; break;
    case ncclUint32: w->mt = MPI_UINT32_T; w->wsize = 4; break;
    case ncclInt64: w->mt = MPI_INT64_T; w->wsize = 8; break;
    case ncclUint64: w->mt = MPI_UINT64_T; w->wsize = 8; break;
    case ncclFloat32: w->mt = MPI_FLOAT; w->wsize = 4; w->is_float = 1; break;
    case ncclFloat64: w->mt = MPI_DOUBLE; w->wsize = 8; w->is_float = 1; break;
    case ncclFloat16: w->mt = MPI_FLOAT; w->wsize = 4; w->conv = 1; w->is_float = 1; break;
    case ncclBfloat16: w->mt = MPI_FLOAT; w->wsize = 4; w->conv = 2; w->is_float = 1; break;
    default: return 1;
    }
    return 0;
}

static void *to_wide(const void *src, size_t n, int dtype, const wide_t *w)
{
    void *dst = malloc(n * w->wsize + 1);
    if (!dst || !n)
        return dst;
    if (!w->conv) {
        memcpy(dst, src, n * w->wsize);
        return dst;
    }
    if (w->conv >= 3) {
        for (size_t i = 0; i < n; i++) {
            if (w->conv == 3)
                ((int32_t *)dst)[i] = ((const int8_t *)src)[i];
            else
                ((uint32_t *)dst)[i] = ((const uint8_t *)src)[i];
        }
        return dst;
    }
    const uint16_t *s = src;
    float *d = dst;
    for (size_t i = 0; i < n; i++)
        d[i] = dtype == ncclFloat16 ? simfp_half_to_f32(s[i]) : simfp_bf16_to_f32(s[i]);
    return dst;
}

static void from_wide(void *dst, const void *src, size_t n, int dtype, const wide_t *w)
{
    if (!w->conv) {
        memcpy(dst, src, n * w->wsize);
        return;
    }
    if (w->conv >= 3) {
        for (size_t i = 0; i < n; i++)
            ((uint8_t *)dst)[i] = (uint8_t)((const uint32_t *)src)[i];
        return;
    }
    const float *s = src;
    uint16_t *d = dst;
    for (size_t i = 0; i < n; i++)
        d[i] = dtype == ncclFloat16 ? simfp_f32_to_half(s[i]) : simfp_f32_to_bf16(s[i]);
}

/* buf[i] = buf[i] * mul / div, in the wide type. */
static void scale_wide(void *buf, size_t n, int dtype, double mul, int div)
{
    switch (dtype) {
#define SCALE(T)                                                                                \
    {                                                                                           \
        T *b = buf;                                                                             \
        for (size_t i = 0; i < n; i++)                                                          \
            b[i] = div > 1 ? (T)(b[i] / (T)div) : (T)((double)b[i] * mul);                      \
    }                                                                                           \
    break;
    case ncclInt8: SCALE(int8_t)
    case ncclUint8: SCALE(uint8_t)
    case ncclInt32: SCALE(int32_t)
    case ncclUint32: SCALE(uint32_t)
    case ncclInt64: SCALE(int64_t)
    case ncclUint64: SCALE(uint64_t)
    case ncclFloat64: SCALE(double)
    default: SCALE(float)
#undef SCALE
    }
}

static MPI_Op mpi_op(int redop)
{
    switch (redop) {
    case ncclProd: return MPI_PROD;
    case ncclMax: return MPI_MAX;
    case ncclMin: return MPI_MIN;
    default: return MPI_SUM; /* sum, avg (then divide), pre-multiplied sum */
    }
}

/* The wide type's element type for local_reduce / scale_wide: float for the 16-bit floats. */
static int wide_dtype(int dtype)
{
    if (dtype == ncclInt8)
        return ncclInt32;
    if (dtype == ncclUint8)
        return ncclUint32;
    return dtype == ncclFloat16 || dtype == ncclBfloat16 ? ncclFloat32 : dtype;
}

static int check_int(simnccl_comm_t *c, uint64_t v, const char *what)
{
    if (v <= INT_MAX)
        return 0;
    simnccl_set_error("communicator %s: %s of %llu exceeds what compute mode moves in one call",
                      c->name, what, (unsigned long long)v);
    return 1;
}

/* Reductions: all-reduce, reduce-scatter, reduce. */
static int do_reduction(simnccl_comm_t *c, const simnccl_task_t *t)
{
    wide_t w;
    if (wide_of(t->dtype, &w)) {
        simnccl_set_error("communicator %s: reductions on %s are not supported", c->name,
                          simnccl_dtype_name(t->dtype));
        return 1;
    }
    int n = c->nranks;
    size_t in_n = t->kind == SIMNCCL_REDUCESCATTER ? t->count * (size_t)n : t->count;
    size_t out_n = t->count;
    if (check_int(c, in_n, "element count"))
        return 1;
    int wdt = wide_dtype(t->dtype);
    void *in = to_wide((const void *)(uintptr_t)t->sendbuff, in_n, t->dtype, &w);
    void *out = malloc(out_n * w.wsize + 1);
    int rc = 1;
    if (!in || !out)
        goto out;
    if (t->redop >= ncclNumOps)
        scale_wide(in, in_n, wdt, t->premul, 0);
    int is_root = t->kind != SIMNCCL_REDUCE || t->peer == c->rank;
    if (n == 1) {
        memcpy(out, in, out_n * w.wsize);
    } else if (t->kind == SIMNCCL_ALLREDUCE) {
        MPI_Allreduce(in, out, (int)out_n, w.mt, mpi_op(t->redop), c->mpi);
    } else if (t->kind == SIMNCCL_REDUCESCATTER) {
        MPI_Reduce_scatter_block(in, out, (int)out_n, w.mt, mpi_op(t->redop), c->mpi);
    } else {
        MPI_Reduce(in, is_root ? out : NULL, (int)out_n, w.mt, mpi_op(t->redop), t->peer, c->mpi);
    }
    if (is_root) {
        if (t->redop == ncclAvg)
            scale_wide(out, out_n, wdt, 1.0, n);
        from_wide((void *)(uintptr_t)t->recvbuff, out, out_n, t->dtype, &w);
    }
    rc = 0;
out:
    free(in);
    free(out);
    return rc;
}

static int do_collective(simnccl_comm_t *c, const simnccl_task_t *t)
{
    if (t->kind == SIMNCCL_ALLREDUCE || t->kind == SIMNCCL_REDUCESCATTER ||
        t->kind == SIMNCCL_REDUCE)
        return do_reduction(c, t);
    int n = c->nranks, me = c->rank;
    size_t b = t->count * simnccl_dtype_size(t->dtype);
    if (check_int(c, b * (size_t)n, "byte count"))
        return 1;
    char *send = (char *)(uintptr_t)t->sendbuff;
    char *recv = (char *)(uintptr_t)t->recvbuff;
    int root = t->peer, is_root = t->peer == me;
    size_t in_b = (t->kind == SIMNCCL_ALLTOALL || (t->kind == SIMNCCL_SCATTER && is_root)) ? b * n : b;
    /* Copy the input first: in-place forms (send inside recv) then need no special cases. */
    char *tmp = NULL;
    if (t->kind != SIMNCCL_BROADCAST && !(t->kind == SIMNCCL_SCATTER && !is_root)) {
        tmp = malloc(in_b + 1);
        if (!tmp)
            return 1;
        if (in_b)
            memcpy(tmp, send, in_b);
    }
    switch (t->kind) {
    case SIMNCCL_ALLGATHER:
        if (n == 1)
            memcpy(recv, tmp, b);
        else
            MPI_Allgather(tmp, (int)b, MPI_BYTE, recv, (int)b, MPI_BYTE, c->mpi);
        break;
    case SIMNCCL_ALLTOALL:
        if (n == 1)
            memcpy(recv, tmp, b);
        else
            MPI_Alltoall(tmp, (int)b, MPI_BYTE, recv, (int)b, MPI_BYTE, c->mpi);
        break;
    case SIMNCCL_BROADCAST:
        if (is_root && send != recv && b)
            memmove(recv, send, b);
        if (n > 1)
            MPI_Bcast(recv, (int)b, MPI_BYTE, root, c->mpi);
        break;
    case SIMNCCL_GATHER:
        if (n == 1)
            memcpy(recv, tmp, b);
        else
            MPI_Gather(tmp, (int)b, MPI_BYTE, is_root ? recv : NULL, (int)b, MPI_BYTE, root, c->mpi);
        break;
    case SIMNCCL_SCATTER:
        if (n == 1)
            memcpy(recv, tmp, b);
        else
            MPI_Scatter(is_root ? tmp : NULL, (int)b, MPI_BYTE, recv, (int)b, MPI_BYTE, root, c->mpi);
        break;
    default:
        break;
    }
    free(tmp);
    return 0;
}

static int do_p2p(simnccl_comm_t *c, const simnccl_plan_t *p, double deadline)
{
    MPI_Request *reqs = malloc((2 * (size_t)p->ntasks + 1) * sizeof *reqs);
    const simnccl_task_t **self_send = malloc((p->ntasks + 1) * sizeof *self_send);
    const simnccl_task_t **self_recv = malloc((p->ntasks + 1) * sizeof *self_recv);
    int nreq = 0, ns = 0, nr = 0, rc = 1;
    if (!reqs || !self_send || !self_recv)
        goto out;
    for (uint32_t i = 0; i < p->ntasks; i++) {
        const simnccl_task_t *t = &p->tasks[i];
        if (!is_p2p(t))
            continue;
        size_t b = t->count * simnccl_dtype_size(t->dtype);
        if (check_int(c, b, "message size"))
            goto out;
        if (t->peer == c->rank) {
            if (t->kind == SIMNCCL_SEND)
                self_send[ns++] = t;
            else
                self_recv[nr++] = t;
            continue;
        }
        if (t->kind == SIMNCCL_RECV)
            MPI_Irecv((void *)(uintptr_t)t->recvbuff, (int)b, MPI_BYTE, t->peer, TAG_DATA, c->mpi,
                      &reqs[nreq++]);
    }
    for (uint32_t i = 0; i < p->ntasks; i++) {
        const simnccl_task_t *t = &p->tasks[i];
        if (t->kind != SIMNCCL_SEND || t->peer == c->rank)
            continue;
        size_t b = t->count * simnccl_dtype_size(t->dtype);
        MPI_Isend((const void *)(uintptr_t)t->sendbuff, (int)b, MPI_BYTE, t->peer, TAG_DATA, c->mpi,
                  &reqs[nreq++]);
    }
    if (ns != nr) {
        simnccl_set_error("communicator %s: rank %d sends %d messages to itself but receives %d",
                          c->name, c->rank, ns, nr);
        abandon(reqs, nreq);
        goto out;
    }
    for (int i = 0; i < ns; i++) {
        size_t sb = self_send[i]->count * simnccl_dtype_size(self_send[i]->dtype);
        size_t rb = self_recv[i]->count * simnccl_dtype_size(self_recv[i]->dtype);
        if (sb != rb) {
            simnccl_set_error("communicator %s: rank %d sends %zu bytes to itself into a receive of "
                              "%zu bytes", c->name, c->rank, sb, rb);
            abandon(reqs, nreq);
            goto out;
        }
        if (sb)
            memmove((void *)(uintptr_t)self_recv[i]->recvbuff,
                    (const void *)(uintptr_t)self_send[i]->sendbuff, sb);
    }
    if (nreq && wait_all(reqs, nreq, deadline)) {
        simnccl_set_error("communicator %s: rank %d: point-to-point data did not arrive in time",
                          c->name, c->rank);
        abandon(reqs, nreq);
        goto out;
    }
    rc = 0;
out:
    free(reqs);
    free(self_send);
    free(self_recv);
    return rc;
}

static int move_data(simnccl_comm_t *c, const simnccl_plan_t *p, double deadline)
{
    for (uint32_t i = 0; i < p->ntasks; i++) {
        if (!is_p2p(&p->tasks[i]) && do_collective(c, &p->tasks[i]))
            return 1;
    }
    return p->has_p2p ? do_p2p(c, p, deadline) : 0;
}

/* Set by the first reported deadlock or mismatch: later work on any communicator of this
 * process fails at once instead of waiting out another timeout (the program's device context is
 * in an error state by then anyway). */
static int g_failed;

int simnccl_exec_plan(simnccl_plan_t *p, double ready_us, double *start_us, double *dur_us)
{
    simnccl_comm_t *c = p->comm;
    char desc[192];
    plan_describe(p, desc, sizeof desc);
    pthread_mutex_lock(&c->lock);
    if (c->broken || __atomic_load_n(&g_failed, __ATOMIC_ACQUIRE)) {
        c->broken = 1;
        pthread_mutex_unlock(&c->lock);
        simnccl_set_error("%s on communicator %s not run: an earlier NCCL operation of this process "
                          "failed", desc, c->name);
        return 1;
    }
    uint64_t seq = ++c->seq;
    if (p->has_coll)
        c->coll_seq++;
    simnccl_state_write(c, "seq %llu %s: waiting since virtual %.3f us (collective %llu)",
                        (unsigned long long)seq, desc, ready_us, (unsigned long long)c->coll_seq);
    if (c->nranks > 1)
        simnccl_proc_state_write("waiting on communicator %s (rank %d) at seq %llu %s", c->name,
                                 c->rank, (unsigned long long)seq, desc);
    double t_begin = now_s();
    double deadline = t_begin + simnccl_timeout_s();
    double tmax = ready_us;
    int rc = 0;
    if (c->nranks > 1) {
        if (p->has_coll)
            rc = coll_exchange(c, p, seq, ready_us, desc, &tmax, deadline, t_begin);
        if (!rc && p->has_p2p)
            rc = p2p_exchange(c, p, seq, ready_us, desc, &tmax, deadline, t_begin);
    }
    if (!rc && simdev_compute_mode())
        rc = move_data(c, p, t_begin + 2 * simnccl_timeout_s());
    if (rc) {
        c->broken = 1;
        __atomic_store_n(&g_failed, 1, __ATOMIC_RELEASE);
        c->async_err = ncclRemoteError;
        simnccl_state_write(c, "seq %llu %s: FAILED (deadlock or mismatch reported)",
                            (unsigned long long)seq, desc);
        pthread_mutex_unlock(&c->lock);
        arm_watchdog();
        return 1;
    }
    if (c->nranks > 1)
        simnccl_proc_state_write("not waiting (last: communicator %s seq %llu %s, done)", c->name,
                                 (unsigned long long)seq, desc);
    double dur = simnccl_fabric_plan_us(p);
    simnccl_state_write(c, "seq %llu %s: done at virtual %.3f..%.3f us", (unsigned long long)seq,
                        desc, tmax, tmax + dur);
    pthread_mutex_unlock(&c->lock);
    *start_us = tmax;
    *dur_us = dur;
    return 0;
}
