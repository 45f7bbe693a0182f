/* Trace writer of the simulated device: with SIMDEV_TRACE=PREFIX, every rank writes
 *   PREFIX.rank<N>.sqlite  tables shaped like Nsight Systems' SQLite export
 *   PREFIX.rank<N>.json    Chrome / Perfetto trace-event JSON
 * when the process exits. Linked into the simulated libcuda.so.1, which calls
 * simdev_trace_install() at cuInit; depends only on simdev.h, SQLite and libc.
 *
 * Tables (times in ns of virtual time, names are ids into StringIds as in Nsight's export):
 *   StringIds(id, value)
 *   CUPTI_ACTIVITY_KIND_KERNEL(start, end, deviceId, contextId, greenContextId, streamId,
 *       correlationId, globalPid, demangledName, shortName, mangledName, launchType, cacheConfig,
 *       registersPerThread, gridX, gridY, gridZ, blockX, blockY, blockZ, staticSharedMemory,
 *       dynamicSharedMemory, localMemoryPerThread, localMemoryTotal, gridId, sharedMemoryExecuted,
 *       graphNodeId, sharedMemoryLimitConfig, graphId)
 *   CUPTI_ACTIVITY_KIND_MEMCPY(start, end, deviceId, contextId, greenContextId, streamId,
 *       correlationId, globalPid, bytes, copyKind, deprecatedSrcId, srcKind, dstKind, srcDeviceId,
 *       srcContextId, dstDeviceId, dstContextId, migrationCause, graphNodeId, virtualAddress)
 *   CUPTI_ACTIVITY_KIND_MEMSET(start, end, deviceId, contextId, greenContextId, streamId,
 *       correlationId, globalPid, value, bytes, graphNodeId, memKind)
 *   NVTX_EVENTS(start, end, eventType, rangeId, category, color, text, globalTid, endGlobalTid,
 *       textId, domainId, ...)  (created for readers; the simulated device records no NVTX ranges)
 *   ENUM_CUDA_MEMCPY_OPER(id, name, label), TARGET_INFO_GPU(id, name, ...), META_DATA_EXPORT
 * The simulated driver does not report launch dimensions with activities: grid and block
 * columns hold 0. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "simdev.h"

void simdev_trace_install(void);

typedef struct {
    int kind;
    uint32_t name_id;
    uint64_t start_ns, end_ns;
    uint32_t stream_id;
    uint64_t correlation_id;
    uint64_t graph_id, graph_node_id;
    uint64_t bytes;
    int copy_kind;
    int device;
    uint32_t context_id;
} trace_rec_t;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static trace_rec_t *g_recs;
static size_t g_nrecs, g_cap, g_dropped, g_max = 20000000;
static char **g_strings;          /* StringIds: id = index + 1 */
static size_t g_nstrings, g_strings_cap;
static uint32_t *g_str_hash;      /* open addressing: string id or 0 */
static size_t g_str_hash_cap;
static char g_prefix[4096];
static int g_installed;

static uint64_t str_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

static int str_grow(void)
{
    size_t cap = g_str_hash_cap ? 2 * g_str_hash_cap : 1024;
    uint32_t *h = calloc(cap, sizeof *h);
    if (!h)
        return -1;
    for (size_t i = 0; i < g_nstrings; i++) {
        size_t j = str_hash(g_strings[i]) & (cap - 1);
        while (h[j])
            j = (j + 1) & (cap - 1);
        h[j] = (uint32_t)(i + 1);
    }
    free(g_str_hash);
    g_str_hash = h;
    g_str_hash_cap = cap;
    return 0;
}

/* Id of s in StringIds, adding it; 0 when out of memory. Caller holds g_lock. */
static uint32_t str_id(const char *s)
{
    if (!s)
        s = "<unnamed>";
    if (2 * (g_nstrings + 1) > g_str_hash_cap && str_grow() != 0)
        return 0;
    size_t j = str_hash(s) & (g_str_hash_cap - 1);
    while (g_str_hash[j]) {
        if (strcmp(g_strings[g_str_hash[j] - 1], s) == 0)
            return g_str_hash[j];
        j = (j + 1) & (g_str_hash_cap - 1);
    }
    if (g_nstrings == g_strings_cap) {
        size_t cap = g_strings_cap ? 2 * g_strings_cap : 256;
        char **n = realloc(g_strings, cap * sizeof *n);
        if (!n)
            return 0;
        g_strings = n;
        g_strings_cap = cap;
    }
    char *copy = strdup(s);
    if (!copy)
        return 0;
    g_strings[g_nstrings++] = copy;
    g_str_hash[j] = (uint32_t)g_nstrings;
    return (uint32_t)g_nstrings;
}

static uint64_t to_ns(double us)
{
    return us <= 0 ? 0 : (uint64_t)(us * 1000.0 + 0.5);
}

static void on_activity(const simdev_activity_t *a, void *user)
{
    (void)user;
    pthread_mutex_lock(&g_lock);
    if (g_nrecs >= g_max) {
        g_dropped++;
        pthread_mutex_unlock(&g_lock);
        return;
    }
    if (g_nrecs == g_cap) {
        size_t cap = g_cap ? 2 * g_cap : 4096;
        trace_rec_t *n = realloc(g_recs, cap * sizeof *n);
        if (!n) {
            g_dropped++;
            pthread_mutex_unlock(&g_lock);
            return;
        }
        g_recs = n;
        g_cap = cap;
    }
    trace_rec_t *r = &g_recs[g_nrecs++];
    r->kind = a->kind;
    r->name_id = str_id(a->name ? a->name : a->kind == 1 ? "memcpy" : a->kind == 2 ? "memset" : NULL);
    r->start_ns = to_ns(a->start_us);
    r->end_ns = to_ns(a->end_us);
    if (r->end_ns < r->start_ns)
        r->end_ns = r->start_ns;
    r->stream_id = a->stream_id;
    r->correlation_id = a->correlation_id;
    r->graph_id = a->graph_id;
    r->graph_node_id = a->graph_node_id;
    r->bytes = a->bytes;
    r->copy_kind = a->copy_kind;
    r->device = a->device;
    r->context_id = a->context_id;
    pthread_mutex_unlock(&g_lock);
}

static int env_rank(void)
{
    const char *names[] = { "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        if (v && *v)
            return atoi(v);
    }
    return 0;
}

static int exec_sql(sqlite3 *db, const char *sql, const char *path)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "simdev trace: %s: %s\n", path, err ? err : "sqlite error");
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

static const char g_schema[] =
    "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
    "CREATE TABLE StringIds (id INTEGER NOT NULL PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE META_DATA_EXPORT (name TEXT NOT NULL, value TEXT);"
    "CREATE TABLE ENUM_CUDA_MEMCPY_OPER (id INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, "
    "label TEXT NOT NULL);"
    "CREATE TABLE TARGET_INFO_GPU (id INTEGER NOT NULL, name TEXT NOT NULL, totalMemory INTEGER, "
    "memoryBandwidth INTEGER, smCount INTEGER, computeMajor INTEGER, computeMinor INTEGER, "
    "chipName TEXT);"
    "CREATE TABLE CUPTI_ACTIVITY_KIND_KERNEL (start INTEGER NOT NULL, end INTEGER NOT NULL, "
    "deviceId INTEGER NOT NULL, contextId INTEGER NOT NULL, greenContextId INTEGER, "
    "streamId INTEGER NOT NULL, correlationId INTEGER, globalPid INTEGER, "
    "demangledName INTEGER NOT NULL REFERENCES StringIds(id), "
    "shortName INTEGER NOT NULL REFERENCES StringIds(id), mangledName INTEGER REFERENCES StringIds(id), "
    "launchType INTEGER, cacheConfig INTEGER, registersPerThread INTEGER NOT NULL, "
    "gridX INTEGER NOT NULL, gridY INTEGER NOT NULL, gridZ INTEGER NOT NULL, "
    "blockX INTEGER NOT NULL, blockY INTEGER NOT NULL, blockZ INTEGER NOT NULL, "
    "staticSharedMemory INTEGER NOT NULL, dynamicSharedMemory INTEGER NOT NULL, "
    "localMemoryPerThread INTEGER NOT NULL, localMemoryTotal INTEGER NOT NULL, "
    "gridId INTEGER NOT NULL, sharedMemoryExecuted INTEGER, graphNodeId INTEGER, "
    "sharedMemoryLimitConfig INTEGER, graphId INTEGER);"
    "CREATE TABLE CUPTI_ACTIVITY_KIND_MEMCPY (start INTEGER NOT NULL, end INTEGER NOT NULL, "
    "deviceId INTEGER NOT NULL, contextId INTEGER NOT NULL, greenContextId INTEGER, "
    "streamId INTEGER NOT NULL, correlationId INTEGER, globalPid INTEGER, bytes INTEGER NOT NULL, "
    "copyKind INTEGER NOT NULL REFERENCES ENUM_CUDA_MEMCPY_OPER(id), deprecatedSrcId INTEGER, "
    "srcKind INTEGER, dstKind INTEGER, srcDeviceId INTEGER, srcContextId INTEGER, "
    "dstDeviceId INTEGER, dstContextId INTEGER, migrationCause INTEGER, graphNodeId INTEGER, "
    "virtualAddress INTEGER);"
    "CREATE TABLE CUPTI_ACTIVITY_KIND_MEMSET (start INTEGER NOT NULL, end INTEGER NOT NULL, "
    "deviceId INTEGER NOT NULL, contextId INTEGER NOT NULL, greenContextId INTEGER, "
    "streamId INTEGER NOT NULL, correlationId INTEGER, globalPid INTEGER, value INTEGER NOT NULL, "
    "bytes INTEGER NOT NULL, graphNodeId INTEGER, memKind INTEGER);"
    "CREATE TABLE NVTX_EVENTS (start INTEGER NOT NULL, end INTEGER, eventType INTEGER NOT NULL, "
    "rangeId INTEGER, category INTEGER, color INTEGER, text TEXT, globalTid INTEGER, "
    "endGlobalTid INTEGER, textId INTEGER REFERENCES StringIds(id), domainId INTEGER, "
    "uint64Value INTEGER, int64Value INTEGER, doubleValue REAL, uint32Value INTEGER, "
    "int32Value INTEGER, floatValue REAL, jsonTextId INTEGER, jsonText TEXT);"
    "INSERT INTO ENUM_CUDA_MEMCPY_OPER VALUES (0,'CUDA_MEMCPY_OPER_UNKNOWN','Unknown'),"
    "(1,'CUDA_MEMCPY_OPER_HTOD','Host-to-Device'),(2,'CUDA_MEMCPY_OPER_DTOH','Device-to-Host'),"
    "(3,'CUDA_MEMCPY_OPER_HTOA','Host-to-Array'),(4,'CUDA_MEMCPY_OPER_ATOH','Array-to-Host'),"
    "(5,'CUDA_MEMCPY_OPER_ATOA','Array-to-Array'),(6,'CUDA_MEMCPY_OPER_ATOD','Array-to-Device'),"
    "(7,'CUDA_MEMCPY_OPER_DTOA','Device-to-Array'),(8,'CUDA_MEMCPY_OPER_DTOD','Device-to-Device'),"
    "(9,'CUDA_MEMCPY_OPER_HTOH','Host-to-Host'),(10,'CUDA_MEMCPY_OPER_PTOP','Peer-to-Peer');"
    "INSERT INTO META_DATA_EXPORT VALUES ('EXPORT_SCHEMA_VERSION','3.25.0'),"
    "('EXPORT_PRODUCER','lancet-c simulated device'),('TIME_BASE','virtual ns');";

static int write_sqlite(const char *path, uint64_t global_pid)
{
    unlink(path);
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        fprintf(stderr, "simdev trace: cannot create %s: %s\n", path, db ? sqlite3_errmsg(db) : "?");
        sqlite3_close(db);
        return -1;
    }
    int rc = -1;
    sqlite3_stmt *st_str = NULL, *st_k = NULL, *st_c = NULL, *st_s = NULL, *st_gpu = NULL;
    if (exec_sql(db, g_schema, path) || exec_sql(db, "BEGIN", path))
        goto out;
    if (sqlite3_prepare_v2(db, "INSERT INTO StringIds VALUES (?,?)", -1, &st_str, NULL) ||
        sqlite3_prepare_v2(db, "INSERT INTO CUPTI_ACTIVITY_KIND_KERNEL VALUES (?1,?2,?3,?4,NULL,?5,?6,?7,"
                           "?8,?8,?8,0,0,0,0,0,0,0,0,0,0,0,0,0,?9,0,?10,0,?11)", -1, &st_k, NULL) ||
        sqlite3_prepare_v2(db, "INSERT INTO CUPTI_ACTIVITY_KIND_MEMCPY VALUES (?1,?2,?3,?4,NULL,?5,?6,?7,"
                           "?8,?9,NULL,0,0,?3,?4,?3,?4,0,?10,0)", -1, &st_c, NULL) ||
        sqlite3_prepare_v2(db, "INSERT INTO CUPTI_ACTIVITY_KIND_MEMSET VALUES (?1,?2,?3,?4,NULL,?5,?6,?7,"
                           "0,?8,?9,0)", -1, &st_s, NULL) ||
        sqlite3_prepare_v2(db, "INSERT INTO TARGET_INFO_GPU VALUES (0,?,?,?,?,?,?,?)", -1, &st_gpu, NULL)) {
        fprintf(stderr, "simdev trace: %s: %s\n", path, sqlite3_errmsg(db));
        goto out;
    }
    for (size_t i = 0; i < g_nstrings; i++) {
        sqlite3_bind_int64(st_str, 1, (sqlite3_int64)(i + 1));
        sqlite3_bind_text(st_str, 2, g_strings[i], -1, SQLITE_STATIC);
        if (sqlite3_step(st_str) != SQLITE_DONE)
            goto step_fail;
        sqlite3_reset(st_str);
    }
    for (size_t i = 0; i < g_nrecs; i++) {
        const trace_rec_t *r = &g_recs[i];
        sqlite3_stmt *st = r->kind == 1 ? st_c : r->kind == 2 ? st_s : st_k;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)r->start_ns);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)r->end_ns);
        sqlite3_bind_int64(st, 3, r->device);
        sqlite3_bind_int64(st, 4, r->context_id);
        sqlite3_bind_int64(st, 5, r->stream_id);
        sqlite3_bind_int64(st, 6, (sqlite3_int64)r->correlation_id);
        sqlite3_bind_int64(st, 7, (sqlite3_int64)global_pid);
        if (r->kind == 1) {
            sqlite3_bind_int64(st, 8, (sqlite3_int64)r->bytes);
            sqlite3_bind_int64(st, 9, r->copy_kind);
            sqlite3_bind_int64(st, 10, (sqlite3_int64)r->graph_node_id);
        } else if (r->kind == 2) {
            sqlite3_bind_int64(st, 8, (sqlite3_int64)r->bytes);
            sqlite3_bind_int64(st, 9, (sqlite3_int64)r->graph_node_id);
        } else {
            sqlite3_bind_int64(st, 8, r->name_id);
            sqlite3_bind_int64(st, 9, (sqlite3_int64)(i + 1)); /* gridId: unique per launch */
            sqlite3_bind_int64(st, 10, (sqlite3_int64)r->graph_node_id);
            sqlite3_bind_int64(st, 11, (sqlite3_int64)r->graph_id);
        }
        if (sqlite3_step(st) != SQLITE_DONE)
            goto step_fail;
        sqlite3_reset(st);
    }
    const simdev_device_info_t *d = simdev_device_info();
    if (d) {
        sqlite3_bind_text(st_gpu, 1, d->full_name ? d->full_name : d->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st_gpu, 2, (sqlite3_int64)d->mem_bytes);
        sqlite3_bind_int64(st_gpu, 3, (sqlite3_int64)d->mem_bw);
        sqlite3_bind_int64(st_gpu, 4, d->sms);
        sqlite3_bind_int64(st_gpu, 5, d->cc_major);
        sqlite3_bind_int64(st_gpu, 6, d->cc_minor);
        sqlite3_bind_text(st_gpu, 7, d->name, -1, SQLITE_STATIC);
        if (sqlite3_step(st_gpu) != SQLITE_DONE)
            goto step_fail;
    }
    if (exec_sql(db, "COMMIT", path))
        goto out;
    rc = 0;
    goto out;
step_fail:
    fprintf(stderr, "simdev trace: %s: %s\n", path, sqlite3_errmsg(db));
out:
    sqlite3_finalize(st_str);
    sqlite3_finalize(st_k);
    sqlite3_finalize(st_c);
    sqlite3_finalize(st_s);
    sqlite3_finalize(st_gpu);
    sqlite3_close(db);
    return rc;
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static int write_json(const char *path, int rank)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "simdev trace: cannot create %s: %m\n", path);
        return -1;
    }
    fprintf(f, "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n");
    fprintf(f, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"args\":{\"name\":\"rank %d\"}}",
            rank, rank);
    /* One track per stream, named once. */
    uint32_t *seen = calloc(g_nrecs + 1, sizeof *seen);
    size_t nseen = 0;
    for (size_t i = 0; i < g_nrecs && seen; i++) {
        size_t j = 0;
        while (j < nseen && seen[j] != g_recs[i].stream_id)
            j++;
        if (j < nseen)
            continue;
        seen[nseen++] = g_recs[i].stream_id;
        fprintf(f, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%u,"
                "\"args\":{\"name\":\"stream %u\"}}", rank, g_recs[i].stream_id, g_recs[i].stream_id);
    }
    free(seen);
    for (size_t i = 0; i < g_nrecs; i++) {
        const trace_rec_t *r = &g_recs[i];
        const char *cat = r->kind == 1 ? "memcpy" : r->kind == 2 ? "memset" : "kernel";
        fprintf(f, ",\n{\"name\":");
        json_string(f, r->name_id ? g_strings[r->name_id - 1] : cat);
        fprintf(f, ",\"cat\":\"%s\",\"ph\":\"X\",\"pid\":%d,\"tid\":%u,\"ts\":%.3f,\"dur\":%.3f,"
                "\"args\":{\"correlationId\":%llu,\"graphId\":%llu,\"graphNodeId\":%llu",
                cat, rank, r->stream_id, (double)r->start_ns / 1000.0,
                (double)(r->end_ns - r->start_ns) / 1000.0, (unsigned long long)r->correlation_id,
                (unsigned long long)r->graph_id, (unsigned long long)r->graph_node_id);
        if (r->kind != 0)
            fprintf(f, ",\"bytes\":%llu", (unsigned long long)r->bytes);
        fprintf(f, "}}");
    }
    fprintf(f, "\n]}\n");
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        fprintf(stderr, "simdev trace: error writing %s\n", path);
        return -1;
    }
    return 0;
}

static int rec_cmp(const void *a, const void *b)
{
    const trace_rec_t *x = a, *y = b;
    if (x->start_ns != y->start_ns)
        return x->start_ns < y->start_ns ? -1 : 1;
    if (x->stream_id != y->stream_id)
        return x->stream_id < y->stream_id ? -1 : 1;
    return x->correlation_id < y->correlation_id ? -1 : x->correlation_id > y->correlation_id;
}

static void write_all(void)
{
    pthread_mutex_lock(&g_lock);
    int rank = env_rank();
    /* Completion order is not start order across streams; readers expect rows by start. */
    qsort(g_recs, g_nrecs, sizeof *g_recs, rec_cmp);
    char path[4200];
    snprintf(path, sizeof path, "%s.rank%d.sqlite", g_prefix, rank);
    uint64_t gpid = (uint64_t)getpid() << 24;
    int a = write_sqlite(path, gpid);
    snprintf(path, sizeof path, "%s.rank%d.json", g_prefix, rank);
    int b = write_json(path, rank);
    if (g_dropped)
        fprintf(stderr, "simdev trace: rank %d: %zu records dropped (more than %zu)\n", rank,
                g_dropped, g_max);
    if (a == 0 && b == 0 && getenv("SIMDEV_TRACE_VERBOSE"))
        fprintf(stderr, "simdev trace: rank %d: %zu records in %s.rank%d.{sqlite,json}\n", rank,
                g_nrecs, g_prefix, rank);
    pthread_mutex_unlock(&g_lock);
}

void simdev_trace_install(void)
{
    const char *p = getenv("SIMDEV_TRACE");
    if (!p || !*p)
        return;
    pthread_mutex_lock(&g_lock);
    int first = !g_installed;
    g_installed = 1;
    if (first) {
        snprintf(g_prefix, sizeof g_prefix, "%s", p);
        const char *m = getenv("SIMDEV_TRACE_MAX_EVENTS");
        if (m && *m) {
            /* digits only: strtoull would take "-5" as a huge count */
            char *end = NULL;
            unsigned long long v = m[strspn(m, "0123456789")] ? 0 : strtoull(m, &end, 10);
            if (v > 0 && v <= (unsigned long long)SIZE_MAX / 2)
                g_max = (size_t)v;
            else
                fprintf(stderr, "simdev trace: SIMDEV_TRACE_MAX_EVENTS=%s is not a positive whole "
                        "number; using %zu\n", m, g_max);
        }
    }
    pthread_mutex_unlock(&g_lock);
    if (!first)
        return;
    if (simdev_activity_subscribe(on_activity, NULL) < 0) {
        fprintf(stderr, "simdev trace: cannot subscribe to device activity; no trace\n");
        return;
    }
    atexit(write_all);
}
