/* Small helpers of the simulated driver: growable arrays, allocation that cannot fail silently,
 * and its log lines ("simdev: ..." on stderr). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "sd_internal.h"

static void sd_oom(size_t n)
{
    fprintf(stderr, "simdev: out of host memory (%zu bytes); the simulated device cannot continue\n", n);
    abort();
}

void *sd_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        sd_oom(n);
    return p;
}

void *sd_xcalloc(size_t n, size_t m)
{
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (!p)
        sd_oom(n * m);
    return p;
}

char *sd_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = sd_xmalloc(n);
    memcpy(p, s, n);
    return p;
}

void sd_vec_grow(void **v, size_t *cap, size_t elem, size_t need)
{
    if (need <= *cap)
        return;
    size_t ncap = *cap ? *cap * 2 : 8;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(*v, ncap * elem);
    if (!p)
        sd_oom(ncap * elem);
    *v = p;
    *cap = ncap;
}

static int sd_debug_on = -1;

void sd_log(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    fprintf(stderr, "simdev: %s\n", buf);
}

void sd_debug(const char *fmt, ...)
{
    if (sd_debug_on < 0) {
        const char *e = getenv("SIMDEV_LOG");
        sd_debug_on = e && strcmp(e, "debug") == 0;
    }
    if (!sd_debug_on)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    fprintf(stderr, "simdev: debug: %s\n", buf);
}
