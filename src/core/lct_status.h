/* Status codes and the check macros every internal function uses.
 *
 * Internal functions return lct_status_t. The function that first detects an error logs its exact
 * cause (LCT_WARN or LCT_ERROR); callers propagate with LCT_CHECK and add context at debug level. */
#ifndef LCT_STATUS_H
#define LCT_STATUS_H

typedef enum {
    LCT_OK = 0,
    LCT_ERR_INVALID,     /* bad argument or bad input data */
    LCT_ERR_NOMEM,       /* allocation failed */
    LCT_ERR_IO,          /* a file could not be read or written */
    LCT_ERR_PARSE,       /* malformed input file */
    LCT_ERR_UNSUPPORTED, /* valid request this build cannot serve */
    LCT_ERR_CYCLE,       /* a graph that must be acyclic is not */
    LCT_ERR_BUDGET,      /* a memory or time budget would be exceeded */
    LCT_ERR_NOT_FOUND,   /* a looked-up item does not exist */
    LCT_ERR_INTERNAL     /* a bug: an invariant of our own was broken */
} lct_status_t;

/* A static, human-readable name of a status ("invalid argument", ...). Never NULL. */
const char *lct_status_str(lct_status_t st);

#define LCT_CHECK(call)                                                                            \
    do {                                                                                           \
        lct_status_t lct_check_st_ = (call);                                                       \
        if (lct_check_st_ != LCT_OK)                                                               \
            return lct_check_st_;                                                                  \
    } while (0)

#define LCT_CHECK_GOTO(call, st, label)                                                            \
    do {                                                                                           \
        (st) = (call);                                                                             \
        if ((st) != LCT_OK)                                                                        \
            goto label;                                                                            \
    } while (0)

#endif
