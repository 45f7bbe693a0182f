/* The step-graph file format: JSON reader and writer (docs/ir-format.md is the reference).
 *
 * Reader: jansson parses the text into a document, then we walk it keeping a path buffer
 * ("nodes[12].footprint[0]") so that every semantic error names its location and what is
 * accepted. Invariant: nothing read from the file is trusted before it is checked; every count is
 * the length of an array actually present and below a cap, every index is compared with the node
 * count, every enum word is looked up, every address range is checked for wrap-around. The graph
 * is built privately and handed out only when the whole file validated.
 *
 * Writer: the text is emitted by hand, not through jansson, so the layout is ours and stable: one
 * node or edge per line, keys in a fixed order, addresses as hex strings, doubles in the shortest
 * form that reads back to the same value. Hence write(read(write(g))) == write(g) byte for byte.
 * The writer is lenient (a dump of a broken graph is still useful for debugging): values that the
 * reader would reject are written in a visible form ("?12" for an enum out of range, "nan") and
 * the reader then names them. */
#include "lct_ir_json.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/lct_log.h"

#define LCT_IR_FORMAT_NAME "lancet-step-graph"

/* Caps on what one file may ask for. They are far above real step graphs (a GPT2-L step on 64
 * GPUs has a few thousand nodes) and keep a hostile file from making us allocate per a number it
 * states rather than per bytes it contains. */
#define RD_MAX_NODES 10000000u
#define RD_MAX_EDGES 100000000u
#define RD_MAX_RANGES (1u << 20)
#define RD_MAX_PEERS (1u << 20)
#define RD_MAX_PARAMS 65536u
#define RD_MAX_PARAM_BYTES 65536u
#define RD_MAX_STR 65536u
#define RD_MAX_MODEL_STR (1u << 20)
#define RD_MAX_WORLD (1 << 24)

/* ---------------------------------------------------------------------------------------------
 * Enum words, generated from lct_ir.def. */

typedef struct {
    const char *const *words;
    int n;
} wordlist_t;

#define WORDLIST(a) ((wordlist_t){(a), (int)(sizeof(a) / sizeof((a)[0]))})

static const char *const kind_words[] = {
#define LCT_IR_NODE_KIND(id, s) s,
#include "lct_ir.def"
#undef LCT_IR_NODE_KIND
};
static const char *const coll_words[] = {
#define LCT_IR_COLL(id, s) s,
#include "lct_ir.def"
#undef LCT_IR_COLL
};
static const char *const edge_words[] = {
#define LCT_IR_EDGE_KIND(id, s) s,
#include "lct_ir.def"
#undef LCT_IR_EDGE_KIND
};
static const char *const phase_words[] = {
#define LCT_IR_PHASE(id, s) s,
#include "lct_ir.def"
#undef LCT_IR_PHASE
};
static const char *const role_words[] = {
#define LCT_IR_ROLE(id, s) s,
#include "lct_ir.def"
#undef LCT_IR_ROLE
};
static const char *const cost_src_words[] = {
#define LCT_IR_COST_SRC(id, s) s,
#include "lct_ir.def"
#undef LCT_IR_COST_SRC
};
static const char *const dtype_words[] = {
#define LCT_IR_DTYPE(id, s, b) s,
#include "lct_ir.def"
#undef LCT_IR_DTYPE
};
static const char *const call_words[] = {
#define LCT_IR_CALL(id, s) s,
#include "lct_ir.def"
#undef LCT_IR_CALL
};
/* Bit i of lct_node_t.flags is spelled flag_words[i] (LCT_NODE_F_* in lct_ir.h). */
static const char *const flag_words[] = {"opaque", "external", "grad_sync", "split"};
/* Index = LCT_ACC_* value; 0 is not a valid access. */
static const char *const access_words[] = {"", "r", "w", "rw"};

/* ---------------------------------------------------------------------------------------------
 * Reader. */

#define RD_PATH_MAX 256

typedef struct {
    const char *file; /* file name for messages, NULL when reading a string */
    char *err;
    size_t errlen;
    char path[RD_PATH_MAX]; /* JSON path of the value being read */
    size_t plen;
    uint32_t nnodes; /* length of the nodes array, for index checks */
    int32_t world_size;
} rd_t;

/* Report an error at path[.key]: into err when the caller gave room, else as a warning, so that
 * the cause is shown exactly once. */
static lct_status_t rd_fail(rd_t *r, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static lct_status_t rd_fail(rd_t *r, const char *key, const char *fmt, ...)
{
    char msg[640], where[RD_PATH_MAX + 80];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (key)
        snprintf(where, sizeof(where), "%s%s%s", r->path, r->plen ? "." : "", key);
    else
        snprintf(where, sizeof(where), "%s", r->plen ? r->path : "top level");
    if (r->errlen)
        snprintf(r->err, r->errlen, "%s%s%s: %s", r->file ? r->file : "", r->file ? ": " : "",
                 where, msg);
    else
        LCT_WARN("%s%s%s: %s", r->file ? r->file : "", r->file ? ": " : "", where, msg);
    LCT_DEBUG(IR, "step graph rejected at %s: %s", where, msg);
    return LCT_ERR_PARSE;
}

static size_t rd_push(rd_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t rd_push(rd_t *r, const char *fmt, ...)
{
    size_t old = r->plen;
    if (old < sizeof(r->path) - 1) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(r->path + old, sizeof(r->path) - old, fmt, ap);
        va_end(ap);
        if (n > 0)
            r->plen = old + (size_t)n < sizeof(r->path) - 1 ? old + (size_t)n : sizeof(r->path) - 1;
    }
    return old;
}

static size_t rd_push_key(rd_t *r, const char *key)
{
    return rd_push(r, "%s%s", r->plen ? "." : "", key);
}

static void rd_pop(rd_t *r, size_t old)
{
    r->plen = old;
    r->path[old] = '\0';
}

/* A short printable description of a JSON value for messages. */
static const char *rd_describe(const json_t *v, char *buf, size_t n)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "a list";
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    case JSON_NULL:
        return "null";
    case JSON_INTEGER:
        snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    case JSON_REAL:
        snprintf(buf, n, "%.17g", json_real_value(v));
        return buf;
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v), o = 0;
        char tmp[48];
        for (size_t i = 0; i < len && o < sizeof(tmp) - 4; i++)
            tmp[o++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
        if (o < len)
            tmp[o++] = '.', tmp[o++] = '.', tmp[o++] = '.';
        tmp[o] = '\0';
        snprintf(buf, n, "string \"%s\"", tmp);
        return buf;
    }
    }
    return "?";
}

/* Look up key; a null value counts as absent (so "device": null means no device profile). */
static lct_status_t rd_get(rd_t *r, json_t *obj, const char *key, bool required, json_t **v_p)
{
    json_t *v = json_object_get(obj, key);
    if (v && json_is_null(v))
        v = NULL;
    if (!v && required)
        return rd_fail(r, key, "missing required key");
    *v_p = v;
    return LCT_OK;
}

/* "0x" followed by 1 to 16 hex digits, upper or lower case. */
static bool parse_hex_u64(const char *s, size_t len, uint64_t *out)
{
    if (len < 3 || len > 18 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
        return false;
    uint64_t x = 0;
    for (size_t i = 2; i < len; i++) {
        char c = s[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return false;
        x = (x << 4) | d;
    }
    *out = x;
    return true;
}

/* Unsigned integer up to max: a JSON integer >= 0, or a hex string for values past 2^63 - 1
 * (jansson's integers are signed 64-bit). */
static lct_status_t rd_u64(rd_t *r, json_t *obj, const char *key, bool required, uint64_t def,
                           uint64_t max, uint64_t *out)
{
    json_t *v = NULL;
    char d[96];
    uint64_t x = 0;
    LCT_CHECK(rd_get(r, obj, key, required, &v));
    if (!v) {
        *out = def;
        return LCT_OK;
    }
    if (json_is_integer(v) && json_integer_value(v) >= 0)
        x = (uint64_t)json_integer_value(v);
    else if (!json_is_string(v) || !parse_hex_u64(json_string_value(v), json_string_length(v), &x))
        return rd_fail(r, key,
                       "expected an unsigned integer (a JSON integer >= 0 or a hex string "
                       "\"0x...\" of 1 to 16 digits), got %s",
                       rd_describe(v, d, sizeof(d)));
    if (x > max)
        return rd_fail(r, key, "%" PRIu64 " is out of range (at most %" PRIu64 ")", x, max);
    *out = x;
    return LCT_OK;
}

static lct_status_t rd_u32(rd_t *r, json_t *obj, const char *key, bool required, uint32_t def,
                           uint32_t max, uint32_t *out)
{
    uint64_t x;
    LCT_CHECK(rd_u64(r, obj, key, required, def, max, &x));
    *out = (uint32_t)x;
    return LCT_OK;
}

static lct_status_t rd_i64(rd_t *r, json_t *obj, const char *key, bool required, int64_t def,
                           int64_t min, int64_t max, int64_t *out)
{
    json_t *v = NULL;
    char d[96];
    LCT_CHECK(rd_get(r, obj, key, required, &v));
    if (!v) {
        *out = def;
        return LCT_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return rd_fail(r, key, "expected an integer from %" PRId64 " to %" PRId64 ", got %s", min,
                       max, rd_describe(v, d, sizeof(d)));
    *out = json_integer_value(v);
    return LCT_OK;
}

static lct_status_t rd_i32(rd_t *r, json_t *obj, const char *key, bool required, int32_t def,
                           int32_t min, int32_t max, int32_t *out)
{
    int64_t x;
    LCT_CHECK(rd_i64(r, obj, key, required, def, min, max, &x));
    *out = (int32_t)x;
    return LCT_OK;
}

/* A finite number >= min (JSON integers are accepted). */
static lct_status_t rd_f64(rd_t *r, json_t *obj, const char *key, bool required, double def,
                           double min, double *out)
{
    json_t *v = NULL;
    char d[96];
    LCT_CHECK(rd_get(r, obj, key, required, &v));
    if (!v) {
        *out = def;
        return LCT_OK;
    }
    double x = json_is_number(v) ? json_number_value(v) : NAN;
    if (!isfinite(x) || x < min) {
        if (isinf(min))
            return rd_fail(r, key, "expected a finite number, got %s",
                           rd_describe(v, d, sizeof(d)));
        return rd_fail(r, key, "expected a finite number >= %g, got %s", min,
                       rd_describe(v, d, sizeof(d)));
    }
    *out = x;
    return LCT_OK;
}

static lct_status_t rd_bool(rd_t *r, json_t *obj, const char *key, bool required, bool def,
                            bool *out)
{
    json_t *v = NULL;
    char d[96];
    LCT_CHECK(rd_get(r, obj, key, required, &v));
    if (!v) {
        *out = def;
        return LCT_OK;
    }
    if (!json_is_boolean(v))
        return rd_fail(r, key, "expected true or false, got %s", rd_describe(v, d, sizeof(d)));
    *out = json_is_true(v);
    return LCT_OK;
}

/* A string of at most maxlen bytes; *out is jansson's copy (valid while the document lives) or
 * NULL when absent. */
static lct_status_t rd_str(rd_t *r, json_t *obj, const char *key, bool required, size_t maxlen,
                           const char **out)
{
    json_t *v = NULL;
    char d[96];
    LCT_CHECK(rd_get(r, obj, key, required, &v));
    if (!v) {
        *out = NULL;
        return LCT_OK;
    }
    if (!json_is_string(v))
        return rd_fail(r, key, "expected a string, got %s", rd_describe(v, d, sizeof(d)));
    if (json_string_length(v) > maxlen)
        return rd_fail(r, key, "string of %zu bytes is too long (at most %zu)",
                       json_string_length(v), maxlen);
    *out = json_string_value(v);
    return LCT_OK;
}

static void words_join(wordlist_t wl, char *buf, size_t n)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < wl.n && o < n; i++) {
        if (!wl.words[i][0])
            continue;
        int k = snprintf(buf + o, n - o, "%s%s", o ? ", " : "", wl.words[i]);
        if (k < 0)
            break;
        o += (size_t)k;
    }
}

static int words_find(wordlist_t wl, const char *s)
{
    for (int i = 0; i < wl.n; i++)
        if (wl.words[i][0] && strcmp(s, wl.words[i]) == 0)
            return i;
    return -1;
}

/* Check a JSON value against a word list; key only names it in messages. */
static lct_status_t rd_word_value(rd_t *r, const char *key, json_t *v, wordlist_t wl, int *out)
{
    char d[96], acc[256];
    int i = json_is_string(v) ? words_find(wl, json_string_value(v)) : -1;
    if (i < 0) {
        words_join(wl, acc, sizeof(acc));
        return rd_fail(r, key, "expected one of %s; got %s", acc, rd_describe(v, d, sizeof(d)));
    }
    *out = i;
    return LCT_OK;
}

static lct_status_t rd_word(rd_t *r, json_t *obj, const char *key, bool required, int def,
                            wordlist_t wl, int *out)
{
    json_t *v = NULL;
    LCT_CHECK(rd_get(r, obj, key, required, &v));
    if (!v) {
        *out = def;
        return LCT_OK;
    }
    return rd_word_value(r, key, v, wl, out);
}

/* The value at key must be a list (of at most max entries) or absent. */
static lct_status_t rd_list(rd_t *r, json_t *obj, const char *key, bool required, size_t max,
                            json_t **v_p)
{
    json_t *v = NULL;
    char d[96];
    LCT_CHECK(rd_get(r, obj, key, required, &v));
    if (v && !json_is_array(v))
        return rd_fail(r, key, "expected a list, got %s", rd_describe(v, d, sizeof(d)));
    if (v && json_array_size(v) > max)
        return rd_fail(r, key, "list of %zu entries is too long (at most %zu)", json_array_size(v),
                       max);
    *v_p = v;
    return LCT_OK;
}

static lct_status_t rd_expect_object(rd_t *r, json_t *v, const char *what)
{
    char d[96];
    if (!json_is_object(v))
        return rd_fail(r, NULL, "expected %s, got %s", what, rd_describe(v, d, sizeof(d)));
    return LCT_OK;
}

static lct_status_t rd_meta(rd_t *r, lct_graph_t *g, json_t *root)
{
    json_t *m = NULL;
    const char *s;
    LCT_CHECK(rd_get(r, root, "meta", false, &m));
    if (!m)
        return LCT_OK;
    size_t old = rd_push_key(r, "meta");
    LCT_CHECK(rd_expect_object(r, m, "an object {\"name\", \"world_size\", ...}"));
    LCT_CHECK(rd_i32(r, m, "world_size", false, 1, 1, RD_MAX_WORLD, &g->meta.world_size));
    LCT_CHECK(rd_i32(r, m, "rank", false, 0, 0, g->meta.world_size - 1, &g->meta.rank));
    LCT_CHECK(rd_i32(r, m, "gpus_per_node", false, 1, 1, RD_MAX_WORLD, &g->meta.gpus_per_node));
    const char *keys[] = {"name", "device", "fabric", "model"};
    char **dst[] = {&g->meta.name, &g->meta.device, &g->meta.fabric, &g->meta.model};
    for (int i = 0; i < 4; i++) {
        LCT_CHECK(rd_str(r, m, keys[i], false, i == 3 ? RD_MAX_MODEL_STR : RD_MAX_STR, &s));
        if (s && !(*dst[i] = (char *)lct_graph_strdup(g, s)))
            return LCT_ERR_NOMEM;
    }
    r->world_size = g->meta.world_size;
    rd_pop(r, old);
    return LCT_OK;
}

static lct_status_t rd_range(rd_t *r, json_t *v, lct_range_t *out)
{
    uint64_t addr, size;
    int acc;
    bool exact;
    LCT_CHECK(rd_expect_object(r, v, "a range {\"addr\", \"size\", \"access\", \"exact\"}"));
    LCT_CHECK(rd_u64(r, v, "addr", true, 0, UINT64_MAX, &addr));
    LCT_CHECK(rd_u64(r, v, "size", true, 0, UINT64_MAX, &size));
    if (size == 0)
        return rd_fail(r, "size", "a range must have size > 0");
    if (size > UINT64_MAX - addr)
        return rd_fail(r, "size",
                       "range at 0x%" PRIx64 " of 0x%" PRIx64 " bytes wraps around the end of the "
                       "64-bit address space",
                       addr, size);
    LCT_CHECK(rd_word(r, v, "access", true, 0, WORDLIST(access_words), &acc));
    LCT_CHECK(rd_bool(r, v, "exact", false, false, &exact));
    *out = (lct_range_t){addr, size, (uint8_t)acc, exact ? 1 : 0};
    return LCT_OK;
}

static lct_status_t rd_ranges(rd_t *r, lct_graph_t *g, json_t *list, lct_footprint_t *fp)
{
    char d[96];
    if (!json_is_array(list))
        return rd_fail(r, NULL, "expected a list of ranges, got %s",
                       rd_describe(list, d, sizeof(d)));
    size_t n = json_array_size(list);
    if (n > RD_MAX_RANGES)
        return rd_fail(r, NULL, "%zu ranges are too many (at most %u)", n, RD_MAX_RANGES);
    if (!n)
        return LCT_OK;
    lct_range_t *rs = lct_arena_alloc(&g->arena, n * sizeof(*rs));
    if (!rs)
        return LCT_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        size_t old = rd_push(r, "[%zu]", i);
        LCT_CHECK(rd_range(r, json_array_get(list, i), &rs[i]));
        rd_pop(r, old);
    }
    fp->ranges = rs;
    fp->nranges = (uint32_t)n;
    return LCT_OK;
}

/* "footprint": a list of ranges (known), the string "unknown", or the general form
 * {"unknown": bool, "ranges": [...]} for an unknown footprint that still lists ranges. */
static lct_status_t rd_footprint(rd_t *r, lct_graph_t *g, json_t *node, lct_footprint_t *fp)
{
    json_t *v = NULL, *list = NULL;
    char d[96];
    bool unknown;
    LCT_CHECK(rd_get(r, node, "footprint", false, &v));
    if (!v) {
        /* No footprint key on a node that does work (a misspelt key, a hand-written file): the
         * bytes it touches are not known, so it is a barrier (DESIGN.md §4.2: when in doubt,
         * order). Empty and event nodes touch nothing. */
        json_t *kind = json_object_get(node, "kind");
        const char *ks = json_is_string(kind) ? json_string_value(kind) : "";
        fp->unknown = strcmp(ks, "empty") != 0 && strcmp(ks, "event_record") != 0 &&
                      strcmp(ks, "event_wait") != 0;
        return LCT_OK;
    }
    size_t old = rd_push_key(r, "footprint");
    if (json_is_string(v)) {
        if (strcmp(json_string_value(v), "unknown") != 0)
            return rd_fail(r, NULL,
                           "expected a list of ranges, \"unknown\" or {\"unknown\": bool, "
                           "\"ranges\": [...]}; got %s",
                           rd_describe(v, d, sizeof(d)));
        fp->unknown = true;
    } else if (json_is_array(v)) {
        LCT_CHECK(rd_ranges(r, g, v, fp));
    } else if (json_is_object(v)) {
        LCT_CHECK(rd_bool(r, v, "unknown", false, false, &unknown));
        fp->unknown = unknown;
        LCT_CHECK(rd_get(r, v, "ranges", false, &list));
        if (list) {
            size_t o2 = rd_push_key(r, "ranges");
            LCT_CHECK(rd_ranges(r, g, list, fp));
            rd_pop(r, o2);
        }
    } else {
        return rd_fail(r, NULL,
                       "expected a list of ranges, \"unknown\" or {\"unknown\": bool, \"ranges\": "
                       "[...]}; got %s",
                       rd_describe(v, d, sizeof(d)));
    }
    rd_pop(r, old);
    return LCT_OK;
}

static lct_status_t rd_coll(rd_t *r, lct_graph_t *g, json_t *c, lct_coll_t *co)
{
    int w;
    json_t *peers = NULL;
    LCT_CHECK(rd_expect_object(r, c, "an object {\"op\", \"comm\", \"seq\", ...}"));
    LCT_CHECK(rd_word(r, c, "op", true, 0, WORDLIST(coll_words), &w));
    co->op = (lct_coll_op_t)w;
    LCT_CHECK(rd_u64(r, c, "comm", true, 0, UINT64_MAX, &co->comm));
    LCT_CHECK(rd_u32(r, c, "seq", true, 0, UINT32_MAX, &co->seq));
    LCT_CHECK(rd_i32(r, c, "nranks", false, r->world_size, 1, INT32_MAX, &co->nranks));
    LCT_CHECK(rd_word(r, c, "dtype", false, LCT_DTYPE_F32, WORDLIST(dtype_words), &w));
    co->dtype = (lct_dtype_t)w;
    LCT_CHECK(rd_u64(r, c, "count", false, 0, UINT64_MAX, &co->count));
    LCT_CHECK(rd_u64(r, c, "sendbuf", false, 0, UINT64_MAX, &co->sendbuf));
    LCT_CHECK(rd_u64(r, c, "recvbuf", false, 0, UINT64_MAX, &co->recvbuf));
    LCT_CHECK(rd_i32(r, c, "root", false, -1, -1, co->nranks - 1, &co->root));
    LCT_CHECK(rd_u64(r, c, "bytes", false, 0, UINT64_MAX, &co->bytes));
    LCT_CHECK(rd_list(r, c, "peers", false, RD_MAX_PEERS, &peers));
    co->npeers = 0;
    co->peers = NULL;
    if (peers && json_array_size(peers)) {
        size_t n = json_array_size(peers);
        lct_peer_t *p = lct_arena_alloc(&g->arena, n * sizeof(*p));
        if (!p)
            return LCT_ERR_NOMEM;
        size_t old = rd_push_key(r, "peers");
        for (size_t i = 0; i < n; i++) {
            json_t *pv = json_array_get(peers, i);
            size_t o2 = rd_push(r, "[%zu]", i);
            LCT_CHECK(
                rd_expect_object(r, pv, "an object {\"peer\", \"send_bytes\", \"recv_bytes\"}"));
            LCT_CHECK(rd_i32(r, pv, "peer", true, 0, 0, co->nranks - 1, &p[i].peer));
            LCT_CHECK(rd_u64(r, pv, "send_bytes", false, 0, UINT64_MAX, &p[i].send_bytes));
            LCT_CHECK(rd_u64(r, pv, "recv_bytes", false, 0, UINT64_MAX, &p[i].recv_bytes));
            rd_pop(r, o2);
        }
        rd_pop(r, old);
        co->peers = p;
        co->npeers = (uint32_t)n;
    }
    return LCT_OK;
}

/* A list of exactly three unsigned 32-bit integers (grid or block dimensions). */
static lct_status_t rd_dim3(rd_t *r, json_t *obj, const char *key, uint32_t out[3])
{
    json_t *v = NULL;
    char d[96];
    LCT_CHECK(rd_get(r, obj, key, true, &v));
    if (!json_is_array(v) || json_array_size(v) != 3)
        return rd_fail(r, key, "expected a list of 3 unsigned integers [x, y, z], got %s",
                       rd_describe(v, d, sizeof(d)));
    for (size_t i = 0; i < 3; i++) {
        json_t *x = json_array_get(v, i);
        if (!json_is_integer(x) || json_integer_value(x) < 0 ||
            json_integer_value(x) > (json_int_t)UINT32_MAX)
            return rd_fail(r, key, "entry %zu: expected an integer from 0 to %u, got %s", i,
                           UINT32_MAX, rd_describe(x, d, sizeof(d)));
        out[i] = (uint32_t)json_integer_value(x);
    }
    return LCT_OK;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static lct_status_t rd_kernel_call(rd_t *r, lct_graph_t *g, json_t *c, lct_kernel_call_t *k)
{
    const char *hex;
    json_t *params = NULL;
    char d[96];
    LCT_CHECK(rd_dim3(r, c, "grid", k->grid));
    LCT_CHECK(rd_dim3(r, c, "block", k->block));
    LCT_CHECK(rd_u32(r, c, "smem", false, 0, UINT32_MAX, &k->smem));
    LCT_CHECK(rd_str(r, c, "param_data", false, 2 * (size_t)RD_MAX_PARAM_BYTES, &hex));
    size_t hlen = hex ? strlen(hex) : 0;
    if (hlen % 2)
        return rd_fail(r, "param_data", "expected two hex digits per byte, got an odd count (%zu)",
                       hlen);
    k->param_bytes = (uint32_t)(hlen / 2);
    k->param_data = NULL;
    if (k->param_bytes) {
        k->param_data = lct_arena_alloc(&g->arena, k->param_bytes);
        if (!k->param_data)
            return LCT_ERR_NOMEM;
        for (uint32_t i = 0; i < k->param_bytes; i++) {
            int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
            if (hi < 0 || lo < 0)
                return rd_fail(r, "param_data", "character %u is not a hex digit",
                               hi < 0 ? 2 * i : 2 * i + 1);
            k->param_data[i] = (uint8_t)(hi << 4 | lo);
        }
    }
    LCT_CHECK(rd_list(r, c, "params", false, RD_MAX_PARAMS, &params));
    k->nparams = 0;
    k->param_offset = k->param_size = NULL;
    if (params && json_array_size(params)) {
        size_t n = json_array_size(params);
        k->param_offset = lct_arena_alloc(&g->arena, n * sizeof(uint32_t));
        k->param_size = lct_arena_alloc(&g->arena, n * sizeof(uint32_t));
        if (!k->param_offset || !k->param_size)
            return LCT_ERR_NOMEM;
        size_t old = rd_push_key(r, "params");
        for (size_t i = 0; i < n; i++) {
            json_t *p = json_array_get(params, i), *o = json_array_get(p, 0),
                   *s = json_array_get(p, 1);
            size_t o2 = rd_push(r, "[%zu]", i);
            if (!json_is_array(p) || json_array_size(p) != 2 || !json_is_integer(o) ||
                !json_is_integer(s) || json_integer_value(o) < 0 || json_integer_value(s) <= 0)
                return rd_fail(r, NULL,
                               "expected [offset, size] with offset >= 0 and size > 0, got %s",
                               rd_describe(p, d, sizeof(d)));
            json_int_t off = json_integer_value(o), sz = json_integer_value(s);
            if (off > (json_int_t)k->param_bytes || sz > (json_int_t)k->param_bytes - off)
                return rd_fail(r, NULL,
                               "parameter bytes [%" JSON_INTEGER_FORMAT ", +%" JSON_INTEGER_FORMAT
                               ") lie outside param_data (%u bytes)",
                               off, sz, k->param_bytes);
            k->param_offset[i] = (uint32_t)off;
            k->param_size[i] = (uint32_t)sz;
            rd_pop(r, o2);
        }
        rd_pop(r, old);
        k->nparams = (uint32_t)n;
    }
    return LCT_OK;
}

static lct_status_t rd_gemm_call(rd_t *r, json_t *c, lct_gemm_call_t *m)
{
    uint64_t u;
    int w;
    LCT_CHECK(rd_u64(r, c, "trans_a", false, 0, 255, &u));
    m->trans_a = (uint8_t)u;
    LCT_CHECK(rd_u64(r, c, "trans_b", false, 0, 255, &u));
    m->trans_b = (uint8_t)u;
    LCT_CHECK(rd_i64(r, c, "m", true, 0, 0, INT64_MAX, &m->m));
    LCT_CHECK(rd_i64(r, c, "n", true, 0, 0, INT64_MAX, &m->n));
    LCT_CHECK(rd_i64(r, c, "k", true, 0, 0, INT64_MAX, &m->k));
    LCT_CHECK(rd_i64(r, c, "lda", false, 0, 0, INT64_MAX, &m->lda));
    LCT_CHECK(rd_i64(r, c, "ldb", false, 0, 0, INT64_MAX, &m->ldb));
    LCT_CHECK(rd_i64(r, c, "ldc", false, 0, 0, INT64_MAX, &m->ldc));
    LCT_CHECK(rd_i64(r, c, "stride_a", false, 0, INT64_MIN, INT64_MAX, &m->stride_a));
    LCT_CHECK(rd_i64(r, c, "stride_b", false, 0, INT64_MIN, INT64_MAX, &m->stride_b));
    LCT_CHECK(rd_i64(r, c, "stride_c", false, 0, INT64_MIN, INT64_MAX, &m->stride_c));
    LCT_CHECK(rd_i64(r, c, "batch", false, 1, 1, INT64_MAX, &m->batch));
    static const char *const tkeys[] = {"type_a", "type_b", "type_c", "compute"};
    lct_dtype_t *tv[] = {&m->type_a, &m->type_b, &m->type_c, &m->compute};
    for (int i = 0; i < 4; i++) {
        LCT_CHECK(rd_word(r, c, tkeys[i], false, LCT_DTYPE_F32, WORDLIST(dtype_words), &w));
        *tv[i] = (lct_dtype_t)w;
    }
    LCT_CHECK(rd_f64(r, c, "alpha", false, 1.0, -INFINITY, &m->alpha));
    LCT_CHECK(rd_f64(r, c, "beta", false, 0.0, -INFINITY, &m->beta));
    LCT_CHECK(rd_u64(r, c, "a", false, 0, UINT64_MAX, &m->a));
    LCT_CHECK(rd_u64(r, c, "b", false, 0, UINT64_MAX, &m->b));
    LCT_CHECK(rd_u64(r, c, "c", false, 0, UINT64_MAX, &m->c));
    LCT_CHECK(rd_u64(r, c, "workspace", false, 0, UINT64_MAX, &m->workspace));
    LCT_CHECK(rd_u64(r, c, "workspace_size", false, 0, UINT64_MAX, &m->workspace_size));
    return LCT_OK;
}

static lct_status_t rd_call(rd_t *r, lct_graph_t *g, json_t *c, lct_call_t *call)
{
    int w;
    uint32_t es;
    LCT_CHECK(
        rd_expect_object(r, c, "an object {\"kind\": \"gemm\"|\"kernel\"|\"copy\"|\"set\", ...}"));
    LCT_CHECK(rd_word(r, c, "kind", true, 0, WORDLIST(call_words), &w));
    memset(call, 0, sizeof(*call));
    call->kind = (lct_call_kind_t)w;
    switch (call->kind) {
    case LCT_CALL_GEMM:
        return rd_gemm_call(r, c, &call->u.gemm);
    case LCT_CALL_KERNEL:
        return rd_kernel_call(r, g, c, &call->u.kernel);
    case LCT_CALL_COPY:
        LCT_CHECK(rd_u64(r, c, "dst", true, 0, UINT64_MAX, &call->u.copy.dst));
        LCT_CHECK(rd_u64(r, c, "src", true, 0, UINT64_MAX, &call->u.copy.src));
        LCT_CHECK(rd_u64(r, c, "bytes", true, 0, UINT64_MAX, &call->u.copy.bytes));
        return LCT_OK;
    case LCT_CALL_SET:
        LCT_CHECK(rd_u64(r, c, "dst", true, 0, UINT64_MAX, &call->u.set.dst));
        LCT_CHECK(rd_u32(r, c, "value", false, 0, UINT32_MAX, &call->u.set.value));
        LCT_CHECK(rd_u32(r, c, "elem_size", false, 1, 4, &es));
        if (es != 1 && es != 2 && es != 4)
            return rd_fail(r, "elem_size", "expected 1, 2 or 4, got %u", es);
        call->u.set.elem_size = es;
        LCT_CHECK(rd_u64(r, c, "count", true, 0, UINT64_MAX, &call->u.set.count));
        return LCT_OK;
    default:
        return LCT_OK;
    }
}

static lct_status_t rd_flags(rd_t *r, json_t *node, uint32_t *flags)
{
    json_t *v = NULL;
    int w;
    LCT_CHECK(rd_list(r, node, "flags", false, 32, &v));
    *flags = 0;
    if (!v)
        return LCT_OK;
    size_t old = rd_push_key(r, "flags");
    for (size_t i = 0; i < json_array_size(v); i++) {
        size_t o2 = rd_push(r, "[%zu]", i);
        LCT_CHECK(rd_word_value(r, NULL, json_array_get(v, i), WORDLIST(flag_words), &w));
        if (*flags & (1u << w))
            return rd_fail(r, NULL, "flag \"%s\" given twice", flag_words[w]);
        *flags |= 1u << w;
        rd_pop(r, o2);
    }
    rd_pop(r, old);
    return LCT_OK;
}

static lct_status_t rd_node(rd_t *r, lct_graph_t *g, json_t *v, uint32_t idx)
{
    int w;
    int64_t x;
    uint32_t id;
    const char *name, *lib;
    json_t *sub = NULL;
    LCT_CHECK(rd_expect_object(r, v, "a node object {\"kind\", \"name\", ...}"));
    LCT_CHECK(rd_word(r, v, "kind", true, 0, WORDLIST(kind_words), &w));
    LCT_CHECK(rd_i64(r, v, "id", false, idx, 0, UINT32_MAX, &x));
    if (x != idx)
        return rd_fail(r, "id", "is %" PRId64 " but node ids are the array indices: expected %u", x,
                       idx);
    LCT_CHECK(rd_str(r, v, "name", false, RD_MAX_STR, &name));
    LCT_CHECK(rd_str(r, v, "lib", false, RD_MAX_STR, &lib));
    LCT_CHECK(lct_graph_add_node(g, (lct_node_kind_t)w, name, &id));
    lct_node_t *n = LCT_NODE(g, id);
    if (lib && !(n->lib = lct_graph_strdup(g, lib)))
        return LCT_ERR_NOMEM;
    LCT_CHECK(rd_i32(r, v, "stream", false, 0, INT32_MIN, INT32_MAX, &n->stream));
    LCT_CHECK(rd_u32(r, v, "launch_order", false, idx, UINT32_MAX, &n->launch_order));
    LCT_CHECK(rd_flags(r, v, &n->flags));
    LCT_CHECK(rd_footprint(r, g, v, &n->fp));
    LCT_CHECK(rd_f64(r, v, "cost_us", false, 0.0, 0.0, &n->cost_us));
    LCT_CHECK(rd_word(r, v, "cost_src", false, LCT_COST_NONE, WORDLIST(cost_src_words), &w));
    n->cost_src = (lct_cost_src_t)w;
    LCT_CHECK(rd_word(r, v, "phase", false, LCT_PHASE_UNKNOWN, WORDLIST(phase_words), &w));
    n->phase = (lct_phase_t)w;
    LCT_CHECK(rd_word(r, v, "role", false, LCT_ROLE_OTHER, WORDLIST(role_words), &w));
    n->role = (lct_role_t)w;
    LCT_CHECK(rd_i32(r, v, "layer", false, -1, -1, INT32_MAX, &n->layer));
    LCT_CHECK(rd_i32(r, v, "moe", false, -1, -1, INT32_MAX, &n->moe));
    LCT_CHECK(rd_i32(r, v, "parent", false, -1, -1, (int32_t)r->nnodes - 1, &n->parent));
    if (n->parent == (int32_t)idx)
        return rd_fail(r, "parent", "a node cannot be its own parent");
    uint64_t ch, nch;
    LCT_CHECK(rd_u64(r, v, "nchunks", false, 1, UINT16_MAX, &nch));
    if (nch == 0)
        return rd_fail(r, "nchunks", "expected at least 1");
    LCT_CHECK(rd_u64(r, v, "chunk", false, 0, nch - 1, &ch));
    n->chunk = (uint16_t)ch;
    n->nchunks = (uint16_t)nch;
    LCT_CHECK(rd_u64(r, v, "mem_bytes", false, 0, UINT64_MAX, &n->mem_bytes));

    LCT_CHECK(rd_get(r, v, "coll", n->kind == LCT_NODE_COLLECTIVE, &sub));
    if (sub) {
        size_t old = rd_push_key(r, "coll");
        LCT_CHECK(rd_coll(r, g, sub, &n->coll));
        if (n->kind == LCT_NODE_COLLECTIVE && n->coll.op == LCT_COLL_NONE)
            return rd_fail(r, "op", "a collective node needs an operation other than none");
        rd_pop(r, old);
    }
    LCT_CHECK(rd_get(r, v, "call", false, &sub));
    if (sub) {
        size_t old = rd_push_key(r, "call");
        LCT_CHECK(rd_call(r, g, sub, &n->call));
        rd_pop(r, old);
    }
    return LCT_OK;
}

static lct_status_t rd_edge(rd_t *r, lct_graph_t *g, json_t *v)
{
    uint32_t src, dst, data;
    int w;
    LCT_CHECK(rd_expect_object(r, v, "an edge object {\"src\", \"dst\", \"kind\"}"));
    if (r->nnodes == 0)
        return rd_fail(r, NULL, "an edge needs nodes, and the graph has none");
    LCT_CHECK(rd_u32(r, v, "src", true, 0, UINT32_MAX, &src));
    if (src >= r->nnodes)
        return rd_fail(r, "src", "node %u does not exist (the graph has %u nodes)", src, r->nnodes);
    LCT_CHECK(rd_u32(r, v, "dst", true, 0, UINT32_MAX, &dst));
    if (dst >= r->nnodes)
        return rd_fail(r, "dst", "node %u does not exist (the graph has %u nodes)", dst, r->nnodes);
    if (src == dst)
        return rd_fail(r, "dst", "self loop on node %u", src);
    LCT_CHECK(rd_word(r, v, "kind", true, 0, WORDLIST(edge_words), &w));
    LCT_CHECK(rd_u32(r, v, "data", false, 0, UINT32_MAX, &data));
    LCT_CHECK(lct_graph_add_edge(g, src, dst, (lct_edge_kind_t)w));
    g->edges.data[g->edges.len - 1].data = data;
    return LCT_OK;
}

static lct_status_t rd_graph(rd_t *r, json_t *root, lct_graph_t *g)
{
    json_t *v = NULL, *nodes = NULL, *edges = NULL;
    char d[96];
    int64_t version;
    LCT_CHECK(rd_expect_object(r, root, "an object {\"format\", \"version\", \"nodes\", ...}"));
    LCT_CHECK(rd_get(r, root, "format", true, &v));
    if (!json_is_string(v) || strcmp(json_string_value(v), LCT_IR_FORMAT_NAME) != 0)
        return rd_fail(r, "format", "expected \"" LCT_IR_FORMAT_NAME "\", got %s",
                       rd_describe(v, d, sizeof(d)));
    LCT_CHECK(rd_get(r, root, "version", true, &v));
    if (!json_is_integer(v))
        return rd_fail(r, "version", "expected an integer, got %s", rd_describe(v, d, sizeof(d)));
    version = json_integer_value(v);
    if (version < 1 || version > LCT_IR_FORMAT_VERSION)
        return rd_fail(r, "version",
                       "%" PRId64 " is not supported; this build reads versions 1 to %d", version,
                       LCT_IR_FORMAT_VERSION);
    LCT_CHECK(rd_meta(r, g, root));
    LCT_CHECK(rd_list(r, root, "nodes", true, RD_MAX_NODES, &nodes));
    LCT_CHECK(rd_list(r, root, "edges", false, RD_MAX_EDGES, &edges));
    r->nnodes = (uint32_t)json_array_size(nodes);
    LCT_CHECK(LCT_VEC_RESERVE(&g->nodes, r->nnodes ? r->nnodes : 1));
    for (uint32_t i = 0; i < r->nnodes; i++) {
        size_t old = rd_push(r, "nodes[%u]", i);
        LCT_CHECK(rd_node(r, g, json_array_get(nodes, i), i));
        rd_pop(r, old);
    }
    if (edges && json_array_size(edges)) {
        LCT_CHECK(LCT_VEC_RESERVE(&g->edges, json_array_size(edges)));
        for (size_t i = 0; i < json_array_size(edges); i++) {
            size_t old = rd_push(r, "edges[%zu]", i);
            LCT_CHECK(rd_edge(r, g, json_array_get(edges, i)));
            rd_pop(r, old);
        }
    }
    return LCT_OK;
}

/* Parse text (len bytes, not necessarily NUL-terminated); file names the source in messages. */
static lct_status_t rd_text(const char *text, size_t len, const char *file, lct_graph_t **g_p,
                            char *err, size_t errlen)
{
    rd_t r;
    json_error_t je;
    lct_graph_t *g = NULL;
    lct_status_t st;
    memset(&r, 0, sizeof(r));
    r.file = file;
    r.err = err;
    r.errlen = errlen;
    r.world_size = 1;
    if (err && errlen)
        err[0] = '\0';
    else
        r.errlen = 0;
    if (!text && len)
        return rd_fail(&r, NULL, "no text");
    json_t *root = json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        if (json_error_code(&je) == json_error_out_of_memory)
            return LCT_ERR_NOMEM;
        /* jansson's integers are signed 64-bit; say how to write bigger ones. */
        const char *hint = strstr(je.text, "too big") ? " (write integers above 2^63-1 as hex "
                                                        "strings \"0x...\")"
                                                      : "";
        if (r.errlen)
            snprintf(err, errlen, "%s:%d:%d: %s%s", file ? file : "<string>", je.line, je.column,
                     je.text, hint);
        else
            LCT_WARN("%s:%d:%d: %s%s", file ? file : "<string>", je.line, je.column, je.text, hint);
        return LCT_ERR_PARSE;
    }
    LCT_CHECK_GOTO(lct_graph_create(&g), st, out);
    st = rd_graph(&r, root, g);
    if (st == LCT_ERR_NOMEM)
        rd_fail(&r, NULL, "out of memory");
out:
    json_decref(root);
    if (st != LCT_OK) {
        lct_graph_destroy(g);
        return st;
    }
    *g_p = g;
    return LCT_OK;
}

lct_status_t lct_ir_read_string(const char *text, size_t len, lct_graph_t **g_p, char *err,
                                size_t errlen)
{
    return rd_text(text, len, NULL, g_p, err, errlen);
}

lct_status_t lct_ir_read_file(const char *path, lct_graph_t **g_p, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    lct_status_t st = LCT_OK;
    if (err && errlen)
        err[0] = '\0';
    if (!f) {
        int e = errno;
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
        else
            LCT_WARN("%s: cannot open: %s", path, strerror(e));
        return LCT_ERR_IO;
    }
    for (;;) {
        if (cap - len < 65536) {
            size_t ncap = cap ? cap * 2 : 1 << 16;
            char *nb = ncap > cap ? realloc(buf, ncap) : NULL;
            if (!nb) {
                st = LCT_ERR_NOMEM;
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t k = fread(buf + len, 1, cap - len, f);
        len += k;
        if (k == 0) {
            if (ferror(f)) {
                int e = errno;
                if (err && errlen)
                    snprintf(err, errlen, "%s: cannot read: %s", path, strerror(e));
                else
                    LCT_WARN("%s: cannot read: %s", path, strerror(e));
                st = LCT_ERR_IO;
            }
            break;
        }
    }
    fclose(f);
    if (st == LCT_ERR_NOMEM) {
        if (err && errlen)
            snprintf(err, errlen, "%s: out of memory reading %zu bytes", path, len);
        else
            LCT_WARN("%s: out of memory reading %zu bytes", path, len);
    }
    if (st == LCT_OK)
        st = rd_text(buf, len, path, g_p, err, errlen);
    free(buf);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * Writer. */

typedef struct {
    char *p;
    size_t len, cap;
    bool oom;
} sb_t;

static bool sb_grow(sb_t *b, size_t extra)
{
    if (b->oom)
        return false;
    if (b->len + extra + 1 <= b->cap)
        return true;
    size_t ncap = b->cap ? b->cap : 4096;
    while (ncap < b->len + extra + 1) {
        if (ncap > SIZE_MAX / 2) {
            b->oom = true;
            return false;
        }
        ncap *= 2;
    }
    char *np = realloc(b->p, ncap);
    if (!np) {
        b->oom = true;
        return false;
    }
    b->p = np;
    b->cap = ncap;
    return true;
}

static void sb_putn(sb_t *b, const char *s, size_t n)
{
    if (!sb_grow(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(sb_t *b, const char *s) { sb_putn(b, s, strlen(s)); }

static void sb_printf(sb_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sb_t *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        sb_putn(b, tmp, (size_t)n);
        return;
    }
    if (!sb_grow(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 when invalid. As strict as
 * jansson's check (no overlong forms, no surrogates, nothing above U+10FFFF) so that whatever we
 * write it reads back. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

struct json_t *lct_ir_json_string(const char *s)
{
    if (!s)
        s = "";
    size_t n = strlen(s), o = 0;
    /* every invalid byte grows to the 3 bytes of U+FFFD */
    char *buf = n < (SIZE_MAX - 1) / 3 ? malloc(n * 3 + 1) : NULL;
    if (!buf)
        return NULL;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_len(u + i, n - i);
        if (k) {
            memcpy(buf + o, s + i, k);
            o += k;
            i += k;
        } else {
            memcpy(buf + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    buf[o] = '\0';
    json_t *j = json_stringn(buf, o);
    free(buf);
    return j;
}

/* A JSON string. Bytes that are not valid UTF-8 cannot be expressed in JSON; they become
 * U+FFFD (the only case where reading back does not give the same bytes). */
static void w_str(sb_t *b, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    sb_putn(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sb_putn(b, e, 2);
            i++;
        } else if (c < 0x20) {
            switch (c) {
            case '\n':
                sb_puts(b, "\\n");
                break;
            case '\t':
                sb_puts(b, "\\t");
                break;
            case '\r':
                sb_puts(b, "\\r");
                break;
            default:
                sb_printf(b, "\\u%04x", c);
            }
            i++;
        } else {
            size_t k = utf8_len(u + i, n - i);
            if (k == 0) {
                sb_puts(b, "\\ufffd");
                i++;
            } else {
                sb_putn(b, s + i, k);
                i += k;
            }
        }
    }
    sb_putn(b, "\"", 1);
}

/* Every field but an object's first goes through here: ", \"key\": ". */
static void w_key(sb_t *b, const char *key) { sb_printf(b, ", \"%s\": ", key); }

/* Addresses and ids: always hex strings. */
static void w_hex(sb_t *b, const char *key, uint64_t x)
{
    w_key(b, key);
    sb_printf(b, "\"0x%" PRIx64 "\"", x);
}

/* Sizes and counts: plain integers, hex strings past what jansson's signed integers hold. */
static void w_u64(sb_t *b, const char *key, uint64_t x)
{
    w_key(b, key);
    if (x <= (uint64_t)INT64_MAX)
        sb_printf(b, "%" PRIu64, x);
    else
        sb_printf(b, "\"0x%" PRIx64 "\"", x);
}

static void w_i64(sb_t *b, const char *key, int64_t x)
{
    w_key(b, key);
    sb_printf(b, "%" PRId64, x);
}

/* The shortest of %.15g .. %.17g that reads back to x, always with a '.' or an exponent so that
 * it reads as a real; non-finite values (invalid in the file) as visible strings. */
static void w_f64(sb_t *b, const char *key, double x)
{
    char tmp[40];
    w_key(b, key);
    if (isnan(x)) {
        sb_puts(b, "\"nan\"");
        return;
    }
    if (isinf(x)) {
        sb_puts(b, x > 0 ? "\"inf\"" : "\"-inf\"");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, x);
        if (strtod(tmp, NULL) == x)
            break;
    }
    /* The host program may have set a locale whose decimal point is not '.' (snprintf and
     * strtod above both follow it); JSON always uses '.'. */
    const char *dp = localeconv()->decimal_point;
    if (dp && dp[0] && dp[0] != '.' && !dp[1]) {
        char *q = strchr(tmp, dp[0]);
        if (q)
            *q = '.';
    }
    sb_puts(b, tmp);
    if (!strpbrk(tmp, ".eE"))
        sb_puts(b, ".0");
}

static void w_wordval(sb_t *b, wordlist_t wl, int v)
{
    if (v >= 0 && v < wl.n && wl.words[v][0])
        sb_printf(b, "\"%s\"", wl.words[v]);
    else
        sb_printf(b, "\"?%d\"", v);
}

static void w_word(sb_t *b, const char *key, wordlist_t wl, int v)
{
    w_key(b, key);
    w_wordval(b, wl, v);
}

static void w_range(sb_t *b, const lct_range_t *r)
{
    sb_printf(b, "{\"addr\": \"0x%" PRIx64 "\"", r->addr);
    w_u64(b, "size", r->size);
    w_word(b, "access", WORDLIST(access_words), r->access);
    w_key(b, "exact");
    sb_puts(b, r->exact ? "true}" : "false}");
}

static void w_ranges(sb_t *b, const lct_footprint_t *fp)
{
    sb_puts(b, "[");
    for (uint32_t i = 0; fp->ranges && i < fp->nranges; i++) {
        if (i)
            sb_puts(b, ", ");
        w_range(b, &fp->ranges[i]);
    }
    sb_puts(b, "]");
}

static void w_footprint(sb_t *b, const lct_footprint_t *fp)
{
    w_key(b, "footprint");
    if (!fp->unknown) {
        w_ranges(b, fp);
    } else if (!fp->nranges) {
        sb_puts(b, "\"unknown\"");
    } else {
        sb_puts(b, "{\"unknown\": true, \"ranges\": ");
        w_ranges(b, fp);
        sb_puts(b, "}");
    }
}

/* Is the collective record what lct_graph_add_node leaves (so it need not be written)? */
static bool coll_is_default(const lct_coll_t *c, int32_t world_size)
{
    return c->op == LCT_COLL_NONE && c->comm == 0 && c->seq == 0 && c->nranks == world_size &&
           c->dtype == 0 && c->count == 0 && c->sendbuf == 0 && c->recvbuf == 0 && c->root == -1 &&
           c->bytes == 0 && c->npeers == 0;
}

static void w_coll(sb_t *b, const lct_coll_t *c)
{
    w_key(b, "coll");
    sb_puts(b, "{\"op\": ");
    w_wordval(b, WORDLIST(coll_words), c->op);
    w_hex(b, "comm", c->comm);
    w_u64(b, "seq", c->seq);
    w_i64(b, "nranks", c->nranks);
    w_word(b, "dtype", WORDLIST(dtype_words), c->dtype);
    w_u64(b, "count", c->count);
    w_hex(b, "sendbuf", c->sendbuf);
    w_hex(b, "recvbuf", c->recvbuf);
    w_i64(b, "root", c->root);
    w_u64(b, "bytes", c->bytes);
    if (c->npeers && c->peers) {
        w_key(b, "peers");
        sb_puts(b, "[");
        for (uint32_t i = 0; i < c->npeers; i++) {
            sb_printf(b, "%s{\"peer\": %" PRId32, i ? ", " : "", c->peers[i].peer);
            w_u64(b, "send_bytes", c->peers[i].send_bytes);
            w_u64(b, "recv_bytes", c->peers[i].recv_bytes);
            sb_puts(b, "}");
        }
        sb_puts(b, "]");
    }
    sb_puts(b, "}");
}

static void w_dim3(sb_t *b, const char *key, const uint32_t d[3])
{
    w_key(b, key);
    sb_printf(b, "[%u, %u, %u]", d[0], d[1], d[2]);
}

static void w_call(sb_t *b, const lct_call_t *c)
{
    w_key(b, "call");
    sb_puts(b, "{\"kind\": ");
    w_wordval(b, WORDLIST(call_words), c->kind);
    switch (c->kind) {
    case LCT_CALL_GEMM: {
        const lct_gemm_call_t *m = &c->u.gemm;
        w_u64(b, "trans_a", m->trans_a);
        w_u64(b, "trans_b", m->trans_b);
        w_i64(b, "m", m->m);
        w_i64(b, "n", m->n);
        w_i64(b, "k", m->k);
        w_i64(b, "lda", m->lda);
        w_i64(b, "ldb", m->ldb);
        w_i64(b, "ldc", m->ldc);
        w_i64(b, "stride_a", m->stride_a);
        w_i64(b, "stride_b", m->stride_b);
        w_i64(b, "stride_c", m->stride_c);
        w_i64(b, "batch", m->batch);
        w_word(b, "type_a", WORDLIST(dtype_words), m->type_a);
        w_word(b, "type_b", WORDLIST(dtype_words), m->type_b);
        w_word(b, "type_c", WORDLIST(dtype_words), m->type_c);
        w_word(b, "compute", WORDLIST(dtype_words), m->compute);
        w_f64(b, "alpha", m->alpha);
        w_f64(b, "beta", m->beta);
        w_hex(b, "a", m->a);
        w_hex(b, "b", m->b);
        w_hex(b, "c", m->c);
        w_hex(b, "workspace", m->workspace);
        w_u64(b, "workspace_size", m->workspace_size);
        break;
    }
    case LCT_CALL_KERNEL: {
        const lct_kernel_call_t *k = &c->u.kernel;
        w_dim3(b, "grid", k->grid);
        w_dim3(b, "block", k->block);
        w_u64(b, "smem", k->smem);
        w_key(b, "params");
        sb_puts(b, "[");
        for (uint32_t i = 0; k->param_offset && k->param_size && i < k->nparams; i++)
            sb_printf(b, "%s[%u, %u]", i ? ", " : "", k->param_offset[i], k->param_size[i]);
        sb_puts(b, "]");
        w_key(b, "param_data");
        sb_puts(b, "\"");
        for (uint32_t i = 0; k->param_data && i < k->param_bytes; i++)
            sb_printf(b, "%02x", k->param_data[i]);
        sb_puts(b, "\"");
        break;
    }
    case LCT_CALL_COPY:
        w_hex(b, "dst", c->u.copy.dst);
        w_hex(b, "src", c->u.copy.src);
        w_u64(b, "bytes", c->u.copy.bytes);
        break;
    case LCT_CALL_SET:
        w_hex(b, "dst", c->u.set.dst);
        w_u64(b, "value", c->u.set.value);
        w_u64(b, "elem_size", c->u.set.elem_size);
        w_u64(b, "count", c->u.set.count);
        break;
    default:
        break;
    }
    sb_puts(b, "}");
}

static void w_flags(sb_t *b, uint32_t flags)
{
    w_key(b, "flags");
    sb_puts(b, "[");
    bool first = true;
    for (unsigned bit = 0; bit < 32; bit++) {
        if (!(flags & (1u << bit)))
            continue;
        sb_puts(b, first ? "" : ", ");
        first = false;
        if (bit < sizeof(flag_words) / sizeof(flag_words[0]))
            sb_printf(b, "\"%s\"", flag_words[bit]);
        else
            sb_printf(b, "\"?bit%u\"", bit);
    }
    sb_puts(b, "]");
}

/* One node on one line. Fields at their defaults are left out where that keeps lines short
 * without hiding anything a reader of the file cares about. */
static void w_node(sb_t *b, const lct_graph_t *g, uint32_t i)
{
    const lct_node_t *n = LCT_NODE(g, i);
    sb_printf(b, "    {\"id\": %u", i);
    w_word(b, "kind", WORDLIST(kind_words), n->kind);
    if (n->name) {
        w_key(b, "name");
        w_str(b, n->name);
    }
    if (n->lib) {
        w_key(b, "lib");
        w_str(b, n->lib);
    }
    w_i64(b, "stream", n->stream);
    w_u64(b, "launch_order", n->launch_order);
    if (n->flags)
        w_flags(b, n->flags);
    w_word(b, "phase", WORDLIST(phase_words), n->phase);
    w_word(b, "role", WORDLIST(role_words), n->role);
    if (n->layer != -1)
        w_i64(b, "layer", n->layer);
    if (n->moe != -1)
        w_i64(b, "moe", n->moe);
    w_f64(b, "cost_us", n->cost_us);
    w_word(b, "cost_src", WORDLIST(cost_src_words), n->cost_src);
    w_footprint(b, &n->fp);
    if (n->parent != -1)
        w_i64(b, "parent", n->parent);
    if (n->chunk != 0)
        w_u64(b, "chunk", n->chunk);
    if (n->nchunks != 1)
        w_u64(b, "nchunks", n->nchunks);
    if (n->mem_bytes)
        w_u64(b, "mem_bytes", n->mem_bytes);
    if (n->kind == LCT_NODE_COLLECTIVE || !coll_is_default(&n->coll, g->meta.world_size))
        w_coll(b, &n->coll);
    if (n->call.kind != LCT_CALL_NONE)
        w_call(b, &n->call);
    sb_puts(b, "}");
}

static void w_meta(sb_t *b, const lct_graph_meta_t *m)
{
    sb_puts(b, "  \"meta\": {");
    if (m->name) {
        sb_puts(b, "\"name\": ");
        w_str(b, m->name);
        sb_puts(b, ", ");
    }
    sb_printf(b, "\"world_size\": %" PRId32, m->world_size);
    w_i64(b, "rank", m->rank);
    w_i64(b, "gpus_per_node", m->gpus_per_node);
    const char *keys[] = {"device", "fabric", "model"};
    const char *vals[] = {m->device, m->fabric, m->model};
    for (int i = 0; i < 3; i++)
        if (vals[i]) {
            w_key(b, keys[i]);
            w_str(b, vals[i]);
        }
    sb_puts(b, "},\n");
}

char *lct_ir_write_string(const lct_graph_t *g)
{
    sb_t b = {NULL, 0, 0, false};
    sb_printf(&b, "{\n  \"format\": \"%s\",\n  \"version\": %d,\n", LCT_IR_FORMAT_NAME,
              LCT_IR_FORMAT_VERSION);
    w_meta(&b, &g->meta);
    sb_puts(&b, g->nodes.len ? "  \"nodes\": [\n" : "  \"nodes\": [");
    for (uint32_t i = 0; i < LCT_NNODES(g); i++) {
        w_node(&b, g, i);
        sb_puts(&b, i + 1 < LCT_NNODES(g) ? ",\n" : "\n  ");
    }
    sb_puts(&b, g->edges.len ? "],\n  \"edges\": [\n" : "],\n  \"edges\": [");
    for (size_t i = 0; i < g->edges.len; i++) {
        const lct_edge_t *e = &g->edges.data[i];
        sb_printf(&b, "    {\"src\": %u, \"dst\": %u", e->src, e->dst);
        w_word(&b, "kind", WORDLIST(edge_words), e->kind);
        if (e->data)
            w_u64(&b, "data", e->data);
        sb_puts(&b, i + 1 < g->edges.len ? "},\n" : "}\n  ");
    }
    sb_puts(&b, "]\n}\n");
    if (b.oom) {
        free(b.p);
        LCT_WARN("out of memory writing step graph '%s'", g->meta.name ? g->meta.name : "");
        return NULL;
    }
    return b.p;
}

lct_status_t lct_ir_write_file(const lct_graph_t *g, const char *path)
{
    char *text = lct_ir_write_string(g);
    if (!text)
        return LCT_ERR_NOMEM;
    size_t len = strlen(text);
    FILE *f = fopen(path, "w");
    if (!f) {
        LCT_WARN("cannot open %s for writing: %m", path);
        free(text);
        return LCT_ERR_IO;
    }
    size_t k = fwrite(text, 1, len, f);
    int werr = k != len || ferror(f);
    if (fclose(f) != 0 || werr) {
        LCT_WARN("cannot write %s: %m", path);
        free(text);
        return LCT_ERR_IO;
    }
    free(text);
    return LCT_OK;
}
