/* Logging: levels, subsystems, one line per message prefixed "host:pid:tid [rank] LANCET LEVEL".
 *
 * The level is checked before any formatting. TRACE is compiled out unless LCT_ENABLE_TRACE is
 * defined. Settings come from LANCET_LOG, LANCET_LOG_SUBSYS and LANCET_LOG_FILE through
 * lct_config_load(); before that the level is WARN to stderr. */
#ifndef LCT_LOG_H
#define LCT_LOG_H

#include <stdio.h>

typedef enum {
    LCT_LOG_NONE = 0,
    LCT_LOG_WARN = 1,
    LCT_LOG_INFO = 2,
    LCT_LOG_DEBUG = 3,
    LCT_LOG_TRACE = 4
} lct_log_level_t;

#define LCT_LOG_SUBSYS_LIST(X)                                                                     \
    X(INIT) X(CONFIG) X(IR) X(ANALYSIS) X(COST) X(SCHED) X(CAPTURE) X(PLUGIN) X(TOOLS)

enum {
#define LCT_SUBSYS_BIT(n) LCT_SUBSYS_BIT_##n,
    LCT_LOG_SUBSYS_LIST(LCT_SUBSYS_BIT)
#undef LCT_SUBSYS_BIT
    LCT_SUBSYS_BIT_COUNT
};
#define LCT_SUBSYS(n) (1u << LCT_SUBSYS_BIT_##n)
#define LCT_SUBSYS_ALL ((1u << LCT_SUBSYS_BIT_COUNT) - 1)

extern int lct_log_level;
extern unsigned lct_log_subsys;

void lct_log_msg(lct_log_level_t level, unsigned subsys, const char *file, int line,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Apply LANCET_LOG / LANCET_LOG_SUBSYS / LANCET_LOG_FILE (called by lct_config_load). Returns the
 * number of problems warned about (unknown subsystems, a log file that cannot be opened). */
int lct_log_configure(const char *level, const char *subsys, const char *file);
/* The rank shown in the prefix; -1 (default) shows no rank. */
void lct_log_set_rank(int rank);
/* Redirect output (tests); NULL restores stderr. */
void lct_log_set_stream(FILE *f);

/* Warnings are shown for every subsystem; lower levels only for the enabled ones. */
#define LCT_WARN(...)                                                                              \
    do {                                                                                           \
        if (lct_log_level >= LCT_LOG_WARN)                                                         \
            lct_log_msg(LCT_LOG_WARN, 0, __FILE__, __LINE__, __VA_ARGS__);                         \
    } while (0)
#define LCT_LOG_AT_(lvl, sub, ...)                                                                 \
    do {                                                                                           \
        if (lct_log_level >= (lvl) && (lct_log_subsys & LCT_SUBSYS(sub)))                          \
            lct_log_msg((lvl), LCT_SUBSYS(sub), __FILE__, __LINE__, __VA_ARGS__);                  \
    } while (0)
#define LCT_INFO(sub, ...) LCT_LOG_AT_(LCT_LOG_INFO, sub, __VA_ARGS__)
#define LCT_DEBUG(sub, ...) LCT_LOG_AT_(LCT_LOG_DEBUG, sub, __VA_ARGS__)
#ifdef LCT_ENABLE_TRACE
#define LCT_TRACE(sub, ...) LCT_LOG_AT_(LCT_LOG_TRACE, sub, __VA_ARGS__)
#else
#define LCT_TRACE(sub, ...) ((void)0)
#endif

#endif
