#include "lct_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <unistd.h>

int lct_log_level = LCT_LOG_WARN;
unsigned lct_log_subsys = LCT_SUBSYS_ALL;

static FILE *log_stream;     /* NULL: stderr */
static FILE *log_file_owned; /* opened from LANCET_LOG_FILE */
static int log_rank = -1;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"NONE", "WARN", "INFO", "DEBUG", "TRACE"};

static const char *const subsys_names[] = {
#define LCT_SUBSYS_NAME(n) #n,
    LCT_LOG_SUBSYS_LIST(LCT_SUBSYS_NAME)
#undef LCT_SUBSYS_NAME
};

void lct_log_set_rank(int rank) { log_rank = rank; }

void lct_log_set_stream(FILE *f) { log_stream = f; }

void lct_log_msg(lct_log_level_t level, unsigned subsys, const char *file, int line,
                 const char *fmt, ...)
{
    int saved_errno = errno; /* keep %m meaningful */
    char host[64];
    char msg[1024];
    char where[96] = "";
    va_list ap;

    if (gethostname(host, sizeof(host)) != 0)
        strcpy(host, "?");
    host[sizeof(host) - 1] = '\0';
    char *dot = strchr(host, '.');
    if (dot)
        *dot = '\0';
    errno = saved_errno;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (level >= LCT_LOG_DEBUG && file) {
        const char *base = strrchr(file, '/');
        snprintf(where, sizeof(where), " %s:%d", base ? base + 1 : file, line);
    }
    const char *sub = "";
    for (int i = 0; i < LCT_SUBSYS_BIT_COUNT; i++)
        if (subsys == (1u << i))
            sub = subsys_names[i];

    pthread_mutex_lock(&log_lock);
    FILE *out = log_stream ? log_stream : (log_file_owned ? log_file_owned : stderr);
    char rank[24] = "";
    if (log_rank >= 0)
        snprintf(rank, sizeof(rank), " [%d]", log_rank);
    fprintf(out, "%s:%d:%ld%s LANCET %s%s%s%s %s\n", host, (int)getpid(), (long)syscall(SYS_gettid),
            rank, level_names[level], *sub ? " " : "", sub, where, msg);
    fflush(out);
    pthread_mutex_unlock(&log_lock);
}

/* Append the n bytes at s to path (cap bytes, *o used); 0 when they do not fit with the NUL. */
static int path_append(char *path, size_t cap, size_t *o, const char *s, size_t n)
{
    if (n >= cap - *o)
        return 0;
    memcpy(path + *o, s, n);
    *o += n;
    path[*o] = '\0';
    return 1;
}

static int open_log_file(const char *pattern)
{
    char path[4096];
    size_t o = 0;
    int fits = 1;
    path[0] = '\0';
    for (const char *p = pattern; *p && fits; p++) {
        char tmp[64];
        const char *s = p;
        size_t n = 1;
        if (*p == '%' && p[1]) {
            p++;
            s = tmp;
            if (*p == 'p')
                snprintf(tmp, sizeof(tmp), "%d", (int)getpid());
            else if (*p == 'r')
                snprintf(tmp, sizeof(tmp), "%d", log_rank < 0 ? 0 : log_rank);
            else if (*p == 'h') {
                if (gethostname(tmp, sizeof(tmp)) != 0)
                    strcpy(tmp, "host");
                tmp[sizeof(tmp) - 1] = '\0';
            } else
                snprintf(tmp, sizeof(tmp), "%c", *p);
            n = strlen(tmp);
        }
        fits = path_append(path, sizeof(path), &o, s, n);
    }
    if (!fits) {
        /* A cut path would open some other file: say so and keep stderr. */
        LCT_WARN("LANCET_LOG_FILE: '%.64s...' expands to a path longer than %zu bytes; logging to "
                 "stderr",
                 pattern, sizeof(path) - 1);
        return 1;
    }
    FILE *f = fopen(path, "a");
    if (!f) {
        LCT_WARN("LANCET_LOG_FILE: cannot open '%s': %m; logging to stderr", path);
        return 1;
    }
    pthread_mutex_lock(&log_lock);
    if (log_file_owned)
        fclose(log_file_owned);
    log_file_owned = f;
    pthread_mutex_unlock(&log_lock);
    return 0;
}

int lct_log_configure(const char *level, const char *subsys, const char *file)
{
    int problems = 0;
    if (level)
        for (int i = 0; i <= LCT_LOG_TRACE; i++)
            if (strcasecmp(level, level_names[i]) == 0)
                lct_log_level = i;
    if (subsys && *subsys) {
        int exclude = subsys[0] == '^';
        unsigned mask = 0;
        char buf[256];
        snprintf(buf, sizeof(buf), "%s", subsys + exclude);
        char *save = NULL;
        for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            while (*tok == ' ')
                tok++;
            if (strcasecmp(tok, "ALL") == 0) {
                mask = LCT_SUBSYS_ALL;
                continue;
            }
            int found = 0;
            for (int i = 0; i < LCT_SUBSYS_BIT_COUNT; i++)
                if (strcasecmp(tok, subsys_names[i]) == 0) {
                    mask |= 1u << i;
                    found = 1;
                }
            if (!found) {
                problems++;
                LCT_WARN("LANCET_LOG_SUBSYS: unknown subsystem '%s' ignored; accepted: "
                         "INIT,CONFIG,IR,ANALYSIS,COST,SCHED,CAPTURE,PLUGIN,TOOLS,ALL",
                         tok);
            }
        }
        lct_log_subsys = exclude ? (LCT_SUBSYS_ALL & ~mask) : mask;
    }
    if (file && *file)
        problems += open_log_file(file);
    return problems;
}
