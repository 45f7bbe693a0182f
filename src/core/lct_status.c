#include "lct_status.h"

const char *lct_status_str(lct_status_t st)
{
    switch (st) {
    case LCT_OK: return "success";
    case LCT_ERR_INVALID: return "invalid argument";
    case LCT_ERR_NOMEM: return "out of memory";
    case LCT_ERR_IO: return "input/output error";
    case LCT_ERR_PARSE: return "parse error";
    case LCT_ERR_UNSUPPORTED: return "not supported";
    case LCT_ERR_CYCLE: return "cycle in graph";
    case LCT_ERR_BUDGET: return "budget exceeded";
    case LCT_ERR_NOT_FOUND: return "not found";
    case LCT_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}
