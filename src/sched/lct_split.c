/* Split rules: one node -> k chunks along the token dimension (semantics in lct_split.h and
 * docs/split-rules.md).
 *
 * Invariant kept by every rule: the chunk footprints of a node cover exactly the bytes the
 * node's footprint covers (of the ranges its call record describes), and the written bytes of two
 * chunks are disjoint unless the rule says a buffer is written whole by every chunk (a kernel
 * workspace such as a slot counter), in which case the chunks conflict and get ordered. Every
 * chunk keeps a call record from which the interceptor can issue it: a GEMM with sliced
 * pointers and n (or batch), a collective over sub-blocks, a memcpy/memset over a sub-range, or a
 * kernel whose pointer, row-count, capacity and grid parameters the rule adjusted.
 *
 * Token partition. Every token-axis cut uses the same fractions, so that chunk i of one node
 * holds exactly the tokens chunk i of the next needs: with S sequences per step known, chunk i is
 * sequences [floor(i*S/k), floor((i+1)*S/k)), scaled to whatever the node counts (tokens, batched
 * heads, softmax rows); otherwise the node's own rows are cut at floor(i*R/k). The capacity axis
 * (slots per peer block of an all-to-all, the columns of the expert GEMMs) is cut at
 * floor(i*C/k) in every peer block. */
#include "sched/lct_split.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/lct_log.h"
#include "core/lct_vec.h"

#define NONE32 UINT32_MAX

const char *lct_split_why_name(lct_split_why_t w)
{
    switch (w) {
    case LCT_SPLIT_OK:
        return "splittable";
    case LCT_SPLIT_NO_RULE:
        return "no split rule";
    case LCT_SPLIT_AXIS:
        return "axis not splittable";
    case LCT_SPLIT_MEMORY:
        return "memory budget";
    }
    return "?";
}

/* ------------------------------------------------------------------ rule table */

struct lct_split_rules {
    lct_arena_t arena;
    LCT_VEC(lct_split_rule_t) rules;
};

/* The step generator's forward kernels (docs/lancet-gen.md lists their parameters). Parameter
 * indices count the 8-byte words of the parameter block. */
typedef struct {
    const char *pattern;
    int nparams;
    lct_rule_kind_t kind;
    int rows, cap;
    uint64_t row_mask, slot_mask;
    bool seq;
    lct_grid_mode_t grid;
    const char *reason;
} builtin_rule_t;

#define B(p) (1ull << (p))
static const builtin_rule_t builtin_rules[] = {
    /* (tokens, wte, positions, x, T, m): embedding rows of the chunk's tokens */
    {"*embedding_fwd", 6, LCT_RULE_ROWS, 4, -1, B(0) | B(3), 0, false, LCT_GRID_ROWS, NULL},
    /* (x, w, b, y, stats, T, m): normalises each row over m; the reduction axis stays whole */
    {"*layer_norm_fwd", 7, LCT_RULE_ROWS, 5, -1, B(0) | B(3) | B(4), 0, false, LCT_GRID_ROWS, NULL},
    /* (qkv, bias, q, k, v, T, m, nh): q, k, v are [b, nh, sl, hd], whole sequences only */
    {"*split_heads", 8, LCT_RULE_ROWS, 5, -1, B(0) | B(2) | B(3) | B(4), 0, true, LCT_GRID_SCALE,
     NULL},
    /* (s, p, b*nh*sl rows, sl): softmax over the last axis, rows of whole sequences */
    {"*causal_softmax_fwd", 4, LCT_RULE_ROWS, 2, -1, B(0) | B(1), 0, true, LCT_GRID_ROWS, NULL},
    /* (o, ctx, T, m, nh): [b, nh, sl, hd] -> [T, m], whole sequences only */
    {"*merge_heads", 5, LCT_RULE_ROWS, 2, -1, B(0) | B(1), 0, true, LCT_GRID_SCALE, NULL},
    /* (a, b, bias, out, T, m) and (a, b, out, T, m) */
    {"*residual_add", 6, LCT_RULE_ROWS, 4, -1, B(0) | B(1) | B(3), 0, false, LCT_GRID_SCALE, NULL},
    {"*residual_add", 5, LCT_RULE_ROWS, 3, -1, B(0) | B(1) | B(2), 0, false, LCT_GRID_SCALE, NULL},
    /* (u, bias, out, T, 4m) */
    {"*bias_gelu_fwd", 5, LCT_RULE_ROWS, 3, -1, B(0) | B(2), 0, false, LCT_GRID_SCALE, NULL},
    /* (logits, probs, plan, counts, T, E, C): each chunk routes its tokens with capacity C/k per
     * expert; the slot counters are rewritten by every chunk (chunks are ordered by them) */
    {"*gate_top1_fwd", 7, LCT_RULE_ROWS, 4, 6, B(0) | B(1) | B(2), 0, false, LCT_GRID_ROWS, NULL},
    /* (x, plan, send, T, m, C): the chunk's tokens into capacity slice i of every peer block */
    {"*dispatch_fwd", 6, LCT_RULE_ROWS, 3, 5, B(0) | B(1), B(2), false, LCT_GRID_ROWS, NULL},
    /* (recv, plan, out, T, m, C): gathers the chunk's tokens back from capacity slice i */
    {"*combine_fwd", 6, LCT_RULE_ROWS, 3, 5, B(1) | B(2), B(0), false, LCT_GRID_ROWS, NULL},
    /* (in, out, n): element-wise, takes its producer's partition */
    {"*relu_fwd", 3, LCT_RULE_ELEMWISE, 2, -1, B(0) | B(1), 0, false, LCT_GRID_SCALE, NULL},
    /* (dy, y, dx, n): element-wise too (the experts' backward chain) */
    {"*relu_bwd", 4, LCT_RULE_ELEMWISE, 3, -1, B(0) | B(1) | B(2), 0, false, LCT_GRID_SCALE, NULL},
    {"*cross_entropy_fwd", -1, LCT_RULE_NONE, -1, -1, 0, 0, false, LCT_GRID_KEEP,
     "reduces over the token axis into one loss value"},
};
#undef B

lct_status_t lct_split_rules_create(lct_split_rules_t **r_p)
{
    lct_split_rules_t *r = calloc(1, sizeof(*r));
    if (!r)
        return LCT_ERR_NOMEM;
    lct_arena_init(&r->arena, 16 * 1024);
    for (size_t i = 0; i < sizeof(builtin_rules) / sizeof(builtin_rules[0]); i++) {
        const builtin_rule_t *b = &builtin_rules[i];
        lct_split_rule_t x;
        memset(&x, 0, sizeof(x));
        x.pattern = b->pattern;
        x.nparams = b->nparams;
        x.kind = b->kind;
        x.rows_param = b->rows;
        x.cap_param = b->cap;
        x.row_mask = b->row_mask;
        x.slot_mask = b->slot_mask;
        x.seq = b->seq;
        x.grid = b->grid;
        x.reason = b->reason;
        x.file = "built-in";
        x.line = 0;
        if (LCT_VEC_PUSH(&r->rules, x) != LCT_OK) {
            lct_split_rules_destroy(r);
            return LCT_ERR_NOMEM;
        }
    }
    *r_p = r;
    return LCT_OK;
}

void lct_split_rules_destroy(lct_split_rules_t *r)
{
    if (!r)
        return;
    LCT_VEC_FREE(&r->rules);
    lct_arena_destroy(&r->arena);
    free(r);
}

uint32_t lct_split_rules_count(const lct_split_rules_t *r) { return r ? (uint32_t)r->rules.len : 0; }

const lct_split_rule_t *lct_split_rules_find(const lct_split_rules_t *r, const lct_node_t *n)
{
    if (!r || !n->name)
        return NULL;
    int np = n->call.kind == LCT_CALL_KERNEL ? (int)n->call.u.kernel.nparams : -1;
    for (size_t i = 0; i < r->rules.len; i++) {
        const lct_split_rule_t *x = &r->rules.data[i];
        if (x->nparams >= 0 && x->nparams != np)
            continue;
        if (fnmatch(x->pattern, n->name, 0) == 0)
            return x;
    }
    return NULL;
}

/* ---- the rules file parser ---- */

typedef struct {
    const char *name;
    uint32_t line;
    char *err;
    size_t errlen;
} parse_t;

static lct_status_t perr(parse_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static lct_status_t perr(parse_t *p, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (p->errlen)
        snprintf(p->err, p->errlen, "%s:%u: %s", p->name, p->line, msg);
    LCT_WARN("split rules %s:%u: %s", p->name, p->line, msg);
    return LCT_ERR_PARSE;
}

/* Parse a parameter index 0..LCT_RULE_MAX_PARAMS-1 from s[0..len). */
static bool parse_index(const char *s, size_t len, int *out)
{
    if (len == 0 || len > 3)
        return false;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v >= LCT_RULE_MAX_PARAMS)
        return false;
    *out = v;
    return true;
}

static bool parse_u32(const char *s, size_t len, uint32_t *out)
{
    if (len == 0 || len > 10)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v == 0 || v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* "N[:BYTES],N..." into a mask (and explicit strides when allowed). */
static lct_status_t parse_list(parse_t *p, const char *key, const char *v, size_t vlen,
                               bool strides, uint64_t *mask, uint32_t *row_bytes)
{
    size_t i = 0;
    if (vlen == 0)
        return perr(p, "%s= needs a list of parameter indices", key);
    while (i < vlen) {
        size_t j = i;
        while (j < vlen && v[j] != ',')
            j++;
        size_t colon = i;
        while (colon < j && v[colon] != ':')
            colon++;
        int idx;
        if (!parse_index(v + i, colon - i, &idx))
            return perr(p, "%s=: '%.*s' is not a parameter index (0..%d)", key, (int)(colon - i),
                        v + i, LCT_RULE_MAX_PARAMS - 1);
        if (colon < j) {
            uint32_t bytes;
            if (!strides)
                return perr(p, "%s=: a stride (':BYTES') is only accepted in row=", key);
            if (!parse_u32(v + colon + 1, j - colon - 1, &bytes))
                return perr(p, "%s=: '%.*s' is not a row stride in bytes (1..4294967295)", key,
                            (int)(j - colon - 1), v + colon + 1);
            row_bytes[idx] = bytes;
        }
        if (*mask & (1ull << idx))
            return perr(p, "%s=: parameter %d listed twice", key, idx);
        *mask |= 1ull << idx;
        i = j + 1;
        if (j + 1 == vlen && v[j] == ',')
            return perr(p, "%s=: list ends with a comma", key);
    }
    return LCT_OK;
}

static lct_status_t parse_line(parse_t *p, lct_split_rules_t *r, char *s, lct_split_rule_t *x)
{
    memset(x, 0, sizeof(*x));
    x->nparams = -1;
    x->rows_param = -1;
    x->cap_param = -1;
    x->kind = LCT_RULE_ROWS;
    x->grid = LCT_GRID_SCALE;
    x->file = p->name;
    x->line = p->line;
    bool have_kind = false, have_grid = false;
    char *t = s;
    while (isspace((unsigned char)*t))
        t++;
    if (strncmp(t, "rule", 4) != 0 || !(isspace((unsigned char)t[4]))) {
        char word[32];
        size_t n = 0;
        while (t[n] && !isspace((unsigned char)t[n]) && n < sizeof(word) - 1) {
            word[n] = t[n];
            n++;
        }
        word[n] = '\0';
        return perr(p, "expected 'rule PATTERN key=value ...', found '%s'", word);
    }
    t += 4;
    while (isspace((unsigned char)*t))
        t++;
    char *pat = t;
    while (*t && !isspace((unsigned char)*t))
        t++;
    if (pat == t)
        return perr(p, "rule without a kernel-name pattern");
    size_t plen = (size_t)(t - pat);
    char *pcopy = lct_arena_alloc(&r->arena, plen + 1);
    if (!pcopy)
        return LCT_ERR_NOMEM;
    memcpy(pcopy, pat, plen);
    x->pattern = pcopy;
    for (;;) {
        while (isspace((unsigned char)*t))
            t++;
        if (!*t)
            break;
        char *key = t;
        while (*t && *t != '=' && !isspace((unsigned char)*t))
            t++;
        size_t klen = (size_t)(t - key);
        if (*t != '=')
            return perr(p, "'%.*s' is not key=value", (int)klen, key);
        t++;
        if (klen == 6 && strncmp(key, "reason", 6) == 0) {
            /* free text to the end of the line */
            size_t n = strlen(t);
            while (n && isspace((unsigned char)t[n - 1]))
                n--;
            if (!n)
                return perr(p, "reason= needs a text");
            char *rc = lct_arena_alloc(&r->arena, n + 1);
            if (!rc)
                return LCT_ERR_NOMEM;
            memcpy(rc, t, n);
            x->reason = rc;
            t += strlen(t);
            continue;
        }
        char *val = t;
        while (*t && !isspace((unsigned char)*t))
            t++;
        size_t vlen = (size_t)(t - val);
#define KEY(s) (klen == sizeof(s) - 1 && strncmp(key, s, klen) == 0)
#define VAL(s) (vlen == sizeof(s) - 1 && strncmp(val, s, vlen) == 0)
        if (KEY("kind")) {
            if (VAL("rows"))
                x->kind = LCT_RULE_ROWS;
            else if (VAL("elementwise"))
                x->kind = LCT_RULE_ELEMWISE;
            else if (VAL("none"))
                x->kind = LCT_RULE_NONE;
            else
                return perr(p, "kind=%.*s: expected rows, elementwise or none", (int)vlen, val);
            have_kind = true;
        } else if (KEY("rows") || KEY("cap")) {
            int idx;
            if (!parse_index(val, vlen, &idx))
                return perr(p, "%.*s=%.*s: expected a parameter index (0..%d)", (int)klen, key,
                            (int)vlen, val, LCT_RULE_MAX_PARAMS - 1);
            if (KEY("rows"))
                x->rows_param = idx;
            else
                x->cap_param = idx;
        } else if (KEY("row")) {
            LCT_CHECK(parse_list(p, "row", val, vlen, true, &x->row_mask, x->row_bytes));
        } else if (KEY("slot")) {
            LCT_CHECK(parse_list(p, "slot", val, vlen, false, &x->slot_mask, x->row_bytes));
        } else if (KEY("params")) {
            uint32_t np;
            if (!parse_u32(val, vlen, &np) || np > 4096)
                return perr(p, "params=%.*s: expected a parameter count (1..4096)", (int)vlen, val);
            x->nparams = (int)np;
        } else if (KEY("unit")) {
            if (VAL("token"))
                x->seq = false;
            else if (VAL("sequence"))
                x->seq = true;
            else
                return perr(p, "unit=%.*s: expected token or sequence", (int)vlen, val);
        } else if (KEY("grid")) {
            if (VAL("keep"))
                x->grid = LCT_GRID_KEEP;
            else if (VAL("rows"))
                x->grid = LCT_GRID_ROWS;
            else if (VAL("scale"))
                x->grid = LCT_GRID_SCALE;
            else
                return perr(p, "grid=%.*s: expected keep, rows or scale", (int)vlen, val);
            have_grid = true;
        } else {
            return perr(p, "unknown key '%.*s' (expected kind, rows, row, slot, cap, params, unit, "
                           "grid, reason)",
                        (int)klen, key);
        }
#undef KEY
#undef VAL
    }
    (void)have_grid;
    if (!have_kind && !x->row_mask && !x->slot_mask && x->rows_param < 0)
        return perr(p, "rule '%s' says nothing: give kind=none or rows= with row= / slot=",
                    x->pattern);
    if (x->kind == LCT_RULE_NONE) {
        if (x->row_mask || x->slot_mask || x->rows_param >= 0 || x->cap_param >= 0)
            return perr(p, "kind=none takes no rows=, row=, slot= or cap=");
        return LCT_OK;
    }
    if (x->rows_param < 0)
        return perr(p, "rows= is required (the %s parameter)",
                    x->kind == LCT_RULE_ELEMWISE ? "element count" : "row count");
    if (x->kind == LCT_RULE_ELEMWISE) {
        if (!x->row_mask)
            return perr(p, "kind=elementwise needs row= (the element pointers)");
        if (x->slot_mask || x->cap_param >= 0 || x->seq)
            return perr(p, "kind=elementwise takes no slot=, cap= or unit=sequence");
    } else if (!x->row_mask && !x->slot_mask) {
        return perr(p, "kind=rows needs row= or slot= (which parameters point at rows)");
    }
    if (x->slot_mask && x->cap_param < 0)
        return perr(p, "slot= needs cap= (the capacity parameter)");
    uint64_t ptrs = x->row_mask | x->slot_mask;
    if (ptrs & (1ull << x->rows_param))
        return perr(p, "parameter %d is both the row count and a pointer", x->rows_param);
    if (x->cap_param >= 0 && ((ptrs & (1ull << x->cap_param)) || x->cap_param == x->rows_param))
        return perr(p, "parameter %d is the capacity and also a pointer or the row count",
                    x->cap_param);
    if (x->row_mask & x->slot_mask)
        return perr(p, "a parameter is listed in both row= and slot=");
    if (x->nparams >= 0) {
        int hi = x->rows_param > x->cap_param ? x->rows_param : x->cap_param;
        for (int b = 0; b < LCT_RULE_MAX_PARAMS; b++)
            if (ptrs & (1ull << b))
                hi = b > hi ? b : hi;
        if (hi >= x->nparams)
            return perr(p, "parameter %d named but params=%d", hi, x->nparams);
    }
    return LCT_OK;
}

lct_status_t lct_split_rules_parse(lct_split_rules_t *r, const char *text, const char *name,
                                   char *err, size_t errlen)
{
    parse_t p = {name ? name : "rules", 0, err, err ? errlen : 0};
    LCT_VEC(lct_split_rule_t) added = {NULL, 0, 0};
    lct_status_t st = LCT_OK;
    if (p.errlen)
        err[0] = '\0';
    const char *s = text ? text : "";
    char line[1024];
    while (*s) {
        const char *e = strchr(s, '\n');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        p.line++;
        if (len >= sizeof(line)) {
            st = perr(&p, "line longer than %zu characters", sizeof(line) - 1);
            goto out;
        }
        memcpy(line, s, len);
        line[len] = '\0';
        s += len + (e ? 1 : 0);
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *t = line;
        while (isspace((unsigned char)*t))
            t++;
        if (!*t)
            continue;
        lct_split_rule_t x;
        if ((st = parse_line(&p, r, t, &x)) != LCT_OK)
            goto out;
        if (x.file == p.name) {
            char *fc = lct_arena_strdup(&r->arena, p.name);
            if (!fc) {
                st = LCT_ERR_NOMEM;
                goto out;
            }
            x.file = fc;
        }
        if ((st = LCT_VEC_PUSH(&added, x)) != LCT_OK)
            goto out;
    }
    /* The file's rules go in front, in file order. */
    if (added.len) {
        size_t old = r->rules.len;
        if ((st = LCT_VEC_RESERVE(&r->rules, old + added.len)) != LCT_OK)
            goto out;
        memmove(r->rules.data + added.len, r->rules.data, old * sizeof(*r->rules.data));
        memcpy(r->rules.data, added.data, added.len * sizeof(*added.data));
        r->rules.len = old + added.len;
    }
out:
    LCT_VEC_FREE(&added);
    return st;
}

lct_status_t lct_split_rules_load(lct_split_rules_t *r, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        if (errlen)
            snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
        LCT_WARN("split rules: cannot open '%s': %s", path, strerror(e));
        return LCT_ERR_IO;
    }
    LCT_VEC(char) buf = {NULL, 0, 0};
    char chunk[4096];
    size_t n;
    lct_status_t st = LCT_OK;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if ((st = LCT_VEC_RESERVE(&buf, buf.len + n + 1)) != LCT_OK)
            break;
        memcpy(buf.data + buf.len, chunk, n);
        buf.len += n;
    }
    if (st == LCT_OK && ferror(f)) {
        if (errlen)
            snprintf(err, errlen, "%s: read error", path);
        LCT_WARN("split rules: read error on '%s'", path);
        st = LCT_ERR_IO;
    }
    fclose(f);
    if (st == LCT_OK && (st = LCT_VEC_RESERVE(&buf, buf.len + 1)) == LCT_OK) {
        buf.data[buf.len] = '\0';
        if (strlen(buf.data) != buf.len) {
            if (errlen)
                snprintf(err, errlen, "%s: file contains a NUL byte", path);
            LCT_WARN("split rules: '%s' contains a NUL byte", path);
            st = LCT_ERR_PARSE;
        } else {
            st = lct_split_rules_parse(r, buf.data, path, err, errlen);
        }
    }
    LCT_VEC_FREE(&buf);
    return st;
}

/* ------------------------------------------------------------------ ranges */

static int range_cmp(const void *pa, const void *pb)
{
    const lct_range_t *a = pa, *b = pb;
    if (a->addr != b->addr)
        return a->addr < b->addr ? -1 : 1;
    if (a->access != b->access)
        return a->access < b->access ? -1 : 1;
    return a->size < b->size ? -1 : a->size > b->size;
}

uint32_t lct_split_ranges_normalize(lct_range_t *r, uint32_t n)
{
    if (n < 2)
        return n;
    qsort(r, n, sizeof(*r), range_cmp);
    /* merge per access class: same access, overlapping or adjacent */
    uint32_t w = 0;
    for (uint32_t i = 0; i < n; i++) {
        bool merged = false;
        for (uint32_t j = w; j-- > 0;) {
            lct_range_t *o = &r[j];
            if (o->addr + o->size < r[i].addr)
                break; /* sorted by start: nothing earlier can touch */
            if (o->access == r[i].access && o->addr + o->size >= r[i].addr) {
                uint64_t end = r[i].addr + r[i].size;
                if (end > o->addr + o->size)
                    o->size = end - o->addr;
                o->exact = o->exact && r[i].exact;
                merged = true;
                break;
            }
        }
        if (!merged)
            r[w++] = r[i];
    }
    return w;
}

/* The footprint range containing addr, or -1. */
static int range_containing(const lct_node_t *n, uint64_t addr)
{
    for (uint32_t i = 0; i < n->fp.nranges; i++) {
        const lct_range_t *x = &n->fp.ranges[i];
        if (addr >= x->addr && addr - x->addr < x->size)
            return (int)i;
    }
    return -1;
}

/* The footprint range containing all of [addr, addr + size), or -1. */
static int range_covering(const lct_node_t *n, uint64_t addr, uint64_t size)
{
    for (uint32_t i = 0; i < n->fp.nranges; i++) {
        const lct_range_t *x = &n->fp.ranges[i];
        if (addr >= x->addr && size <= x->size && addr - x->addr <= x->size - size)
            return (int)i;
    }
    return -1;
}

/* ------------------------------------------------------------------ split state */

typedef struct {
    const lct_graph_t *g;
    const lct_node_t *n;
    uint32_t v, k;
    const lct_split_ctx_t *sc;
    lct_arena_t *a;
    lct_split_why_t why;
    char *msg;
    size_t msglen;
    /* pieces under construction */
    LCT_VEC(lct_split_piece_t) pieces;
    LCT_VEC(lct_range_t) scratch;
} sp_t;

static lct_status_t sp_fail(sp_t *s, lct_split_why_t why, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static lct_status_t sp_fail(sp_t *s, lct_split_why_t why, const char *fmt, ...)
{
    s->why = why;
    if (s->msg && s->msglen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->msg, s->msglen, fmt, ap);
        va_end(ap);
    }
    return LCT_ERR_UNSUPPORTED;
}

static double base_cost(const sp_t *s)
{
    double c = s->n->cost_us - s->sc->launch_us;
    return c > 0 ? c : 0;
}

/* Boundary of chunk i of an axis of R units on the token partition. */
static uint64_t tok_bound(const sp_t *s, uint64_t R, uint32_t i)
{
    uint64_t S = s->sc->samples, k = s->k;
    if (S && R % S == 0 && k <= S)
        return (i * S / k) * (R / S);
    return (uint64_t)i * R / k;
}

static uint64_t plain_bound(uint64_t R, uint32_t k, uint32_t i) { return (uint64_t)i * R / k; }

/* Finish one piece: copy the scratch ranges (normalized) into the arena. */
static lct_status_t sp_piece(sp_t *s, lct_split_piece_t *pc)
{
    uint32_t nr = lct_split_ranges_normalize(s->scratch.data, (uint32_t)s->scratch.len);
    pc->nranges = nr;
    pc->ranges = NULL;
    if (nr) {
        pc->ranges = lct_arena_memdup(s->a, s->scratch.data, nr * sizeof(lct_range_t));
        if (!pc->ranges)
            return LCT_ERR_NOMEM;
    }
    s->scratch.len = 0;
    if (pc->launches == 0)
        pc->launches = 1;
    return LCT_VEC_PUSH(&s->pieces, *pc);
}

static lct_status_t sp_range(sp_t *s, uint64_t addr, uint64_t size, uint8_t acc, bool exact)
{
    if (size == 0)
        return LCT_OK;
    lct_range_t r = {addr, size, acc, exact ? 1 : 0};
    return LCT_VEC_PUSH(&s->scratch, r);
}

/* Keep the original ranges that no sliced operand covers (workspace, extra buffers) whole. */
static lct_status_t sp_keep_unclaimed(sp_t *s, const bool *claimed)
{
    for (uint32_t r = 0; r < s->n->fp.nranges; r++)
        if (!claimed[r]) {
            const lct_range_t *x = &s->n->fp.ranges[r];
            LCT_CHECK(sp_range(s, x->addr, x->size, x->access, x->exact));
        }
    return LCT_OK;
}

/* ------------------------------------------------------------------ GEMM */

typedef struct {
    uint64_t ptr;
    int64_t ld, rows, cols, stride, batch;
    size_t es;
} operand_t;

/* Bytes spanned by one batch of an operand. */
static uint64_t op_span(const operand_t *o)
{
    return ((uint64_t)(o->cols - 1) * (uint64_t)o->ld + (uint64_t)o->rows) * o->es;
}

static lct_status_t sp_operand(sp_t *s, const operand_t *o, uint8_t acc, bool exact)
{
    uint64_t span = op_span(o);
    bool tight = o->cols == 1 || o->ld == o->rows;
    if (o->batch > 1 && tight && (uint64_t)o->stride * o->es == span) /* batches back to back */
        return sp_range(s, o->ptr, span * (uint64_t)o->batch, acc, exact);
    for (int64_t b = 0; b < o->batch; b++) {
        uint64_t start = o->ptr + (uint64_t)b * (uint64_t)o->stride * o->es;
        LCT_CHECK(sp_range(s, start, span, acc, exact && tight));
    }
    return LCT_OK;
}

/* Original-footprint range an operand of the whole call lies in (-1: none). */
static int gemm_operand_range(const lct_node_t *n, const operand_t *o)
{
    uint64_t last = (uint64_t)(o->batch - 1) * (uint64_t)(o->stride > 0 ? o->stride : 0) * o->es;
    return range_covering(n, o->ptr, last + op_span(o));
}

static const lct_split_a2a_t *a2a_holding(const lct_split_ctx_t *sc, uint64_t addr)
{
    for (uint32_t i = 0; i < sc->na2a; i++) {
        const lct_split_a2a_t *x = &sc->a2a[i];
        if ((addr >= x->send && addr - x->send < x->send_bytes) ||
            (addr >= x->recv && addr - x->recv < x->recv_bytes))
            return x;
    }
    return NULL;
}

/* A batched GEMM whose batches do not interleave (each operand with a stride starts its next
 * batch after the end of the previous one): attention. */
static bool gemm_batches_dense(const operand_t *ops)
{
    for (int i = 0; i < 3; i++) {
        const operand_t *o = &ops[i];
        if (o->stride == 0)
            continue;
        if (o->stride < 0 || (uint64_t)o->stride * o->es < op_span(o))
            return false;
    }
    return true;
}

static void gemm_operands(const lct_gemm_call_t *c, operand_t ops[3])
{
    ops[0] = (operand_t){c->a, c->lda, c->trans_a ? c->k : c->m, c->trans_a ? c->m : c->k,
                         c->stride_a, c->batch, lct_dtype_size(c->type_a)};
    ops[1] = (operand_t){c->b, c->ldb, c->trans_b ? c->n : c->k, c->trans_b ? c->k : c->n,
                         c->stride_b, c->batch, lct_dtype_size(c->type_b)};
    ops[2] = (operand_t){c->c, c->ldc, c->m, c->n, c->stride_c, c->batch, lct_dtype_size(c->type_c)};
}

static lct_status_t gemm_piece(sp_t *s, uint16_t chunk, const lct_gemm_call_t *pc, double frac,
                               const bool *exact_in, const bool *claimed)
{
    lct_split_piece_t piece;
    memset(&piece, 0, sizeof(piece));
    piece.chunk = chunk;
    piece.kind = s->n->kind;
    piece.call.kind = LCT_CALL_GEMM;
    piece.call.u.gemm = *pc;
    operand_t ops[3];
    gemm_operands(pc, ops);
    LCT_CHECK(sp_operand(s, &ops[0], LCT_ACC_READ, exact_in[0]));
    LCT_CHECK(sp_operand(s, &ops[1], LCT_ACC_READ, exact_in[1]));
    LCT_CHECK(sp_operand(s, &ops[2], pc->beta != 0.0 ? LCT_ACC_RW : LCT_ACC_WRITE, exact_in[2]));
    LCT_CHECK(sp_keep_unclaimed(s, claimed));
    piece.cost_us = base_cost(s) * frac + s->sc->launch_us;
    return sp_piece(s, &piece);
}

static lct_status_t split_gemm(sp_t *s)
{
    const lct_gemm_call_t *c = &s->n->call.u.gemm;
    uint32_t k = s->k;
    operand_t ops[3];
    gemm_operands(c, ops);
    if (c->m < 1 || c->n < 1 || c->k < 1 || c->batch < 1)
        return sp_fail(s, LCT_SPLIT_AXIS, "GEMM with an empty dimension (m %" PRId64 " n %" PRId64
                                          " k %" PRId64 ")", c->m, c->n, c->k);
    for (int i = 0; i < 3; i++)
        if (ops[i].es == 0 || ops[i].ld < ops[i].rows || (c->batch > 1 && ops[i].stride < 0))
            return sp_fail(s, LCT_SPLIT_AXIS, "GEMM operand %c with ld %" PRId64 " below its %" PRId64
                                              " rows", "ABC"[i], ops[i].ld, ops[i].rows);
    bool claimed[64] = {false}, exact[3];
    if (s->n->fp.nranges > 64)
        return sp_fail(s, LCT_SPLIT_AXIS, "GEMM footprint of %u ranges", s->n->fp.nranges);
    for (int i = 0; i < 3; i++) {
        int r = gemm_operand_range(s->n, &ops[i]);
        if (r < 0 && !s->n->fp.unknown && s->n->fp.nranges)
            return sp_fail(s, LCT_SPLIT_AXIS, "GEMM operand %c lies outside the node's footprint",
                           "ABC"[i]);
        exact[i] = r >= 0 ? s->n->fp.ranges[r].exact : true;
        if (r >= 0)
            claimed[r] = true;
    }
    double flops = (double)c->n * (double)c->batch;

    if (c->batch > 1 && gemm_batches_dense(ops)) {
        /* Independent batches (attention heads of whole sequences): cut the batch. */
        if ((uint64_t)c->batch < k)
            return sp_fail(s, LCT_SPLIT_AXIS, "batched GEMM of %" PRId64 " batches cut %u ways",
                           c->batch, k);
        for (uint32_t i = 0; i < k; i++) {
            uint64_t b0 = tok_bound(s, (uint64_t)c->batch, i), b1 = tok_bound(s, (uint64_t)c->batch, i + 1);
            lct_gemm_call_t pc = *c;
            pc.batch = (int64_t)(b1 - b0);
            pc.a += b0 * (uint64_t)c->stride_a * ops[0].es;
            pc.b += b0 * (uint64_t)c->stride_b * ops[1].es;
            pc.c += b0 * (uint64_t)c->stride_c * ops[2].es;
            if (pc.batch == 1)
                pc.stride_a = pc.stride_b = pc.stride_c = 0;
            LCT_CHECK(gemm_piece(s, (uint16_t)i, &pc, (double)(b1 - b0) * (double)c->n / flops,
                                 exact, claimed));
        }
        return LCT_OK;
    }

    /* Columns of C: tokens, or the capacity slots of every peer block when an operand is an
     * all-to-all buffer. */
    uint64_t P = 1;
    const lct_split_a2a_t *x = a2a_holding(s->sc, c->b);
    if (!x)
        x = a2a_holding(s->sc, c->c);
    if (x && x->peers > 1 && (uint64_t)c->n % x->peers == 0)
        P = x->peers;
    bool capacity = x != NULL; /* the capacity axis is cut like the all-to-all's peer blocks */
    uint64_t Cn = (uint64_t)c->n / P;
    if (Cn < k)
        return sp_fail(s, LCT_SPLIT_AXIS, "GEMM with %" PRIu64 " columns per block cut %u ways", Cn, k);
    uint64_t colb = c->trans_b ? 1 : (uint64_t)c->ldb;
    for (uint32_t i = 0; i < k; i++) {
        uint64_t c0 = capacity ? plain_bound(Cn, k, i) : tok_bound(s, Cn, i);
        uint64_t c1 = capacity ? plain_bound(Cn, k, i + 1) : tok_bound(s, Cn, i + 1);
        lct_gemm_call_t pc = *c;
        pc.n = (int64_t)(c1 - c0);
        pc.b += c0 * colb * ops[1].es;
        pc.c += c0 * (uint64_t)c->ldc * ops[2].es;
        if (P == 1) {
            LCT_CHECK(gemm_piece(s, (uint16_t)i, &pc,
                                 (double)(c1 - c0) * (double)c->batch / flops, exact, claimed));
            continue;
        }
        /* One strided-batched GEMM over the peer blocks per batch of the original (its
         * interleaved local experts), the weight shared across blocks (stride 0). */
        for (int64_t e = 0; e < c->batch; e++) {
            lct_gemm_call_t q = pc;
            q.a = c->a + (uint64_t)e * (uint64_t)c->stride_a * ops[0].es;
            q.b = pc.b + (uint64_t)e * (uint64_t)c->stride_b * ops[1].es;
            q.c = pc.c + (uint64_t)e * (uint64_t)c->stride_c * ops[2].es;
            q.batch = (int64_t)P;
            q.stride_a = 0;
            q.stride_b = (int64_t)(Cn * colb);
            q.stride_c = (int64_t)(Cn * (uint64_t)c->ldc);
            LCT_CHECK(gemm_piece(s, (uint16_t)i, &q, (double)(c1 - c0) * (double)P / flops,
                                 exact, claimed));
        }
    }
    return LCT_OK;
}

/* ------------------------------------------------------------------ collectives */

/* A sub-range of the node's footprint: access and exactness from the range holding it. */
static lct_status_t sp_sub(sp_t *s, uint64_t addr, uint64_t size, const char *what)
{
    if (!size)
        return LCT_OK;
    int r = range_covering(s->n, addr, size);
    if (r < 0)
        return sp_fail(s, LCT_SPLIT_AXIS, "%s bytes [0x%" PRIx64 ", +%" PRIu64
                                          ") lie outside the node's footprint",
                       what, addr, size);
    const lct_range_t *x = &s->n->fp.ranges[r];
    return sp_range(s, addr, size, x->access, x->exact);
}

static double coll_cost(const sp_t *s, lct_coll_op_t op, uint64_t bytes, double frac)
{
    const lct_curve_set_t *cs = s->sc->curves;
    if (cs && (unsigned)op < LCT_COLL_COUNT && cs->curve[op].npoints > 0)
        return lct_curve_eval(cs, op, (double)bytes);
    return s->n->cost_us * frac;
}

static lct_status_t split_alltoall(sp_t *s)
{
    const lct_coll_t *c = &s->n->coll;
    size_t es = lct_dtype_size(c->dtype);
    uint32_t P = c->npeers ? c->npeers : (c->nranks > 0 ? (uint32_t)c->nranks : 1);
    uint64_t unit = es;
    for (uint32_t i = 0; i < s->sc->na2a; i++)
        if (s->sc->a2a[i].node == s->v && s->sc->a2a[i].unit)
            unit = s->sc->a2a[i].unit;
    if (!es)
        return sp_fail(s, LCT_SPLIT_AXIS, "all-to-all with element size 0");
    uint64_t *sb = calloc((size_t)P * 4 + 4, sizeof(uint64_t));
    if (!sb)
        return LCT_ERR_NOMEM;
    uint64_t *rb = sb + P, *so = rb + P, *ro = so + P;
    uint64_t tot_s = 0, tot_r = 0;
    for (uint32_t p = 0; p < P; p++) {
        sb[p] = c->npeers ? c->peers[p].send_bytes : c->count * es;
        rb[p] = c->npeers ? c->peers[p].recv_bytes : c->count * es;
        so[p] = tot_s;
        ro[p] = tot_r;
        tot_s += sb[p];
        tot_r += rb[p];
    }
    lct_status_t st = LCT_OK;
    for (uint32_t p = 0; p < P && unit > es; p++)
        if (sb[p] % unit || rb[p] % unit)
            unit = es; /* slots do not tile the blocks: cut by elements */
    for (uint32_t p = 0; p < P; p++) {
        if ((sb[p] && sb[p] / unit < s->k) || (rb[p] && rb[p] / unit < s->k)) {
            st = sp_fail(s, LCT_SPLIT_AXIS, "all-to-all block of peer %u holds fewer than %u slots",
                         p, s->k);
            goto out;
        }
        if (sb[p] % es || rb[p] % es) {
            st = sp_fail(s, LCT_SPLIT_AXIS, "all-to-all block of peer %u is not whole elements", p);
            goto out;
        }
    }
    bool inplace = c->sendbuf == c->recvbuf;
    for (uint32_t i = 0; i < s->k; i++) {
        lct_split_piece_t pc;
        memset(&pc, 0, sizeof(pc));
        pc.chunk = (uint16_t)i;
        pc.kind = s->n->kind;
        pc.coll = *c;
        pc.coll.npeers = P;
        pc.coll.peers = lct_arena_alloc(s->a, P * sizeof(lct_peer_t));
        if (!pc.coll.peers) {
            st = LCT_ERR_NOMEM;
            goto out;
        }
        uint64_t bytes = 0, first_s = 0, first_r = 0, cnt = 0;
        for (uint32_t p = 0; p < P; p++) {
            uint64_t s0 = plain_bound(sb[p] / unit, s->k, i) * unit,
                     s1 = plain_bound(sb[p] / unit, s->k, i + 1) * unit;
            uint64_t r0 = plain_bound(rb[p] / unit, s->k, i) * unit,
                     r1 = plain_bound(rb[p] / unit, s->k, i + 1) * unit;
            if (p == 0) {
                first_s = so[0] + s0;
                first_r = ro[0] + r0;
                cnt = (s1 - s0) / es;
            }
            pc.coll.peers[p].peer = c->npeers ? c->peers[p].peer : (int32_t)p;
            pc.coll.peers[p].send_bytes = s1 - s0;
            pc.coll.peers[p].recv_bytes = r1 - r0;
            bytes += s1 - s0;
            if ((st = sp_sub(s, c->sendbuf + so[p] + s0, s1 - s0, "all-to-all send")) != LCT_OK)
                goto out;
            if (!inplace &&
                (st = sp_sub(s, c->recvbuf + ro[p] + r0, r1 - r0, "all-to-all receive")) != LCT_OK)
                goto out;
        }
        pc.coll.sendbuf = c->sendbuf + first_s;
        pc.coll.recvbuf = c->recvbuf + first_r;
        pc.coll.count = cnt;
        pc.coll.bytes = bytes;
        pc.cost_us = coll_cost(s, c->op, bytes, tot_s ? (double)bytes / (double)tot_s : 1.0 / s->k);
        if ((st = sp_piece(s, &pc)) != LCT_OK)
            goto out;
    }
out:
    free(sb);
    return st;
}

/* all-reduce, broadcast (count elements both sides), all-gather (count in, P * count out),
 * reduce-scatter (P * count in, count out): chunk i takes elements [c0, c1) of count, and of
 * every peer block on the P-block side. */
static lct_status_t split_count_coll(sp_t *s)
{
    const lct_coll_t *c = &s->n->coll;
    size_t es = lct_dtype_size(c->dtype);
    uint64_t P = c->nranks > 0 ? (uint64_t)c->nranks : 1;
    if (!es || c->count < s->k)
        return sp_fail(s, LCT_SPLIT_AXIS, "collective of %" PRIu64 " elements cut %u ways", c->count,
                       s->k);
    bool gather = c->op == LCT_COLL_ALLGATHER, scatter = c->op == LCT_COLL_REDUCESCATTER;
    uint64_t send_blocks = scatter ? P : 1, recv_blocks = gather ? P : 1;
    for (uint32_t i = 0; i < s->k; i++) {
        uint64_t c0 = plain_bound(c->count, s->k, i), c1 = plain_bound(c->count, s->k, i + 1);
        lct_split_piece_t pc;
        memset(&pc, 0, sizeof(pc));
        pc.chunk = (uint16_t)i;
        pc.kind = s->n->kind;
        pc.coll = *c;
        pc.coll.npeers = 0;
        pc.coll.peers = NULL;
        pc.coll.count = c1 - c0;
        pc.coll.sendbuf = c->sendbuf + c0 * es;
        pc.coll.recvbuf = c->recvbuf + c0 * es;
        pc.coll.bytes = c->count ? c->bytes / c->count * (c1 - c0) : 0;
        if (!pc.coll.bytes)
            pc.coll.bytes = (c1 - c0) * es;
        for (uint64_t b = 0; b < send_blocks; b++)
            LCT_CHECK(sp_sub(s, c->sendbuf + (b * c->count + c0) * es, (c1 - c0) * es, "send"));
        if (c->recvbuf != c->sendbuf || gather || scatter)
            for (uint64_t b = 0; b < recv_blocks; b++)
                LCT_CHECK(sp_sub(s, c->recvbuf + (b * c->count + c0) * es, (c1 - c0) * es,
                                 "receive"));
        pc.cost_us = coll_cost(s, c->op, pc.coll.bytes, (double)(c1 - c0) / (double)c->count);
        LCT_CHECK(sp_piece(s, &pc));
    }
    return LCT_OK;
}

/* ------------------------------------------------------------------ memcpy / memset */

static uint64_t align_unit(uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t u = 16;
    while (u > 1 && ((a | b | c) & (u - 1)))
        u >>= 1;
    return u;
}

static lct_status_t split_copy(sp_t *s)
{
    const lct_copy_call_t *c = &s->n->call.u.copy;
    uint64_t u = align_unit(c->dst, c->src, c->bytes);
    if (c->bytes / u < s->k)
        return sp_fail(s, LCT_SPLIT_AXIS, "memcpy of %" PRIu64 " bytes cut %u ways", c->bytes, s->k);
    for (uint32_t i = 0; i < s->k; i++) {
        uint64_t o0 = plain_bound(c->bytes / u, s->k, i) * u, o1 = plain_bound(c->bytes / u, s->k, i + 1) * u;
        lct_split_piece_t pc;
        memset(&pc, 0, sizeof(pc));
        pc.chunk = (uint16_t)i;
        pc.kind = s->n->kind;
        pc.call.kind = LCT_CALL_COPY;
        pc.call.u.copy = (lct_copy_call_t){c->dst + o0, c->src + o0, o1 - o0};
        LCT_CHECK(sp_sub(s, c->src + o0, o1 - o0, "memcpy source"));
        LCT_CHECK(sp_sub(s, c->dst + o0, o1 - o0, "memcpy destination"));
        pc.cost_us = base_cost(s) * (double)(o1 - o0) / (double)c->bytes + s->sc->launch_us;
        LCT_CHECK(sp_piece(s, &pc));
    }
    return LCT_OK;
}

static lct_status_t split_set(sp_t *s)
{
    const lct_set_call_t *c = &s->n->call.u.set;
    uint64_t es = c->elem_size ? c->elem_size : 1;
    if (c->count < s->k)
        return sp_fail(s, LCT_SPLIT_AXIS, "memset of %" PRIu64 " elements cut %u ways", c->count, s->k);
    for (uint32_t i = 0; i < s->k; i++) {
        uint64_t e0 = plain_bound(c->count, s->k, i), e1 = plain_bound(c->count, s->k, i + 1);
        lct_split_piece_t pc;
        memset(&pc, 0, sizeof(pc));
        pc.chunk = (uint16_t)i;
        pc.kind = s->n->kind;
        pc.call.kind = LCT_CALL_SET;
        pc.call.u.set = *c;
        pc.call.u.set.dst = c->dst + e0 * es;
        pc.call.u.set.count = e1 - e0;
        LCT_CHECK(sp_sub(s, c->dst + e0 * es, (e1 - e0) * es, "memset destination"));
        pc.cost_us = base_cost(s) * (double)(e1 - e0) / (double)c->count + s->sc->launch_us;
        LCT_CHECK(sp_piece(s, &pc));
    }
    return LCT_OK;
}

/* ------------------------------------------------------------------ rule kernels */

static bool param_get(const lct_kernel_call_t *kc, int p, uint64_t *v)
{
    if (p < 0 || (uint32_t)p >= kc->nparams)
        return false;
    uint32_t off = kc->param_offset[p], sz = kc->param_size[p];
    if (sz != 1 && sz != 2 && sz != 4 && sz != 8)
        return false;
    if (off > kc->param_bytes || sz > kc->param_bytes - off)
        return false;
    uint64_t x = 0;
    for (uint32_t b = 0; b < sz; b++)
        x |= (uint64_t)kc->param_data[off + b] << (8 * b);
    *v = x;
    return true;
}

static bool param_set(lct_kernel_call_t *kc, int p, uint64_t v)
{
    uint32_t off = kc->param_offset[p], sz = kc->param_size[p];
    if (sz < 8 && v >> (8 * sz))
        return false;
    for (uint32_t b = 0; b < sz; b++)
        kc->param_data[off + b] = (uint8_t)(v >> (8 * b));
    return true;
}

/* A copy of the kernel call whose parameter block can be edited. */
static lct_status_t kcall_copy(sp_t *s, lct_call_t *dst)
{
    *dst = s->n->call;
    lct_kernel_call_t *k = &dst->u.kernel;
    if (k->param_bytes && !(k->param_data = lct_arena_memdup(s->a, k->param_data, k->param_bytes)))
        return LCT_ERR_NOMEM;
    return LCT_OK;
}

static void grid_adjust(lct_kernel_call_t *k, lct_grid_mode_t mode, uint64_t part, uint64_t whole)
{
    if (mode == LCT_GRID_KEEP || !whole)
        return;
    if (mode == LCT_GRID_ROWS && k->grid[0] == whole) {
        k->grid[0] = (uint32_t)part;
        return;
    }
    uint64_t g = ((uint64_t)k->grid[0] * part + whole - 1) / whole;
    k->grid[0] = (uint32_t)(g ? g : 1);
}

typedef struct {
    int param;
    uint64_t ptr, stride; /* row bytes (slot: slot bytes) */
    int range;
    bool slot;
    uint64_t block, peers; /* slot: bytes per peer block, blocks */
} rowp_t;

static lct_status_t split_rows(sp_t *s, const lct_split_rule_t *ru)
{
    const lct_kernel_call_t *kc = &s->n->call.u.kernel;
    uint64_t R, C = 0;
    if (!param_get(kc, ru->rows_param, &R) || R == 0)
        return sp_fail(s, LCT_SPLIT_AXIS, "rule %s:%u: row count parameter %d is missing or 0",
                       ru->file, ru->line, ru->rows_param);
    if (ru->cap_param >= 0 && (!param_get(kc, ru->cap_param, &C) || C == 0))
        return sp_fail(s, LCT_SPLIT_AXIS, "rule %s:%u: capacity parameter %d is missing or 0",
                       ru->file, ru->line, ru->cap_param);
    uint64_t S = s->sc->samples;
    if (ru->seq && !(S && R % S == 0 && s->k <= S))
        return sp_fail(s, LCT_SPLIT_AXIS, "%" PRIu64 " rows can only be cut at sequence boundaries "
                                          "(%" PRIu64 " sequences known) %u ways",
                       R, S, s->k);
    if (R < s->k)
        return sp_fail(s, LCT_SPLIT_AXIS, "%" PRIu64 " rows cut %u ways", R, s->k);
    if (C && C < s->k)
        return sp_fail(s, LCT_SPLIT_AXIS, "capacity %" PRIu64 " cut %u ways", C, s->k);
    uint32_t nr = s->n->fp.nranges;
    if (nr > 64)
        return sp_fail(s, LCT_SPLIT_AXIS, "kernel footprint of %u ranges", nr);
    rowp_t rp[LCT_RULE_MAX_PARAMS];
    int nrp = 0;
    uint32_t owners[64] = {0};  /* row/slot params pointing into each range */
    bool whole[64] = {false};   /* a pointer that is not sliced points into the range */
    for (uint32_t p = 0; p < kc->nparams && p < LCT_RULE_MAX_PARAMS; p++) {
        uint64_t v;
        bool is_row = (ru->row_mask >> p) & 1, is_slot = (ru->slot_mask >> p) & 1;
        if (!param_get(kc, (int)p, &v))
            continue;
        int r = kc->param_size[p] == 8 ? range_containing(s->n, v) : -1;
        if (!is_row && !is_slot) {
            if (r >= 0)
                whole[r] = true;
            continue;
        }
        if (r < 0)
            return sp_fail(s, LCT_SPLIT_AXIS, "rule %s:%u: parameter %u does not point into the "
                                              "node's footprint",
                           ru->file, ru->line, p);
        const lct_range_t *x = &s->n->fp.ranges[r];
        rowp_t q = {(int)p, v, 0, r, is_slot, 0, 0};
        if (is_row) {
            uint64_t avail = x->addr + x->size - v;
            q.stride = ru->row_bytes[p] ? ru->row_bytes[p] : avail / R;
            if (!q.stride || q.stride * R != avail || v != x->addr)
                return sp_fail(s, LCT_SPLIT_AXIS, "rule %s:%u: parameter %u: %" PRIu64
                                                  " bytes are not %" PRIu64 " rows",
                               ru->file, ru->line, p, x->size, R);
        } else {
            const lct_split_a2a_t *a = a2a_holding(s->sc, v);
            if (!a)
                return sp_fail(s, LCT_SPLIT_AXIS, "rule %s:%u: slot parameter %u does not point "
                                                  "at an all-to-all buffer",
                               ru->file, ru->line, p);
            uint64_t base = (v >= a->send && v - a->send < a->send_bytes) ? a->send : a->recv;
            uint64_t bytes = base == a->send ? a->send_bytes : a->recv_bytes;
            q.peers = a->peers ? a->peers : 1;
            q.block = bytes / q.peers;
            if (v != base || x->addr != base || x->size != bytes || bytes % q.peers ||
                q.block % C)
                return sp_fail(s, LCT_SPLIT_AXIS, "rule %s:%u: slot buffer of parameter %u is "
                                                  "not %" PRIu64 " peer blocks of %" PRIu64
                                                  " slots",
                               ru->file, ru->line, p, q.peers, C);
            q.stride = q.block / C;
        }
        owners[r]++;
        rp[nrp++] = q;
    }
    for (int j = 0; j < nrp; j++)
        if (owners[rp[j].range] > 1 || whole[rp[j].range])
            return sp_fail(s, LCT_SPLIT_AXIS, "rule %s:%u: parameter %d shares its buffer with "
                                              "another pointer",
                           ru->file, ru->line, rp[j].param);
    bool claimed[64] = {false};
    for (int j = 0; j < nrp; j++)
        claimed[rp[j].range] = true;
    for (uint32_t i = 0; i < s->k; i++) {
        uint64_t r0 = tok_bound(s, R, i), r1 = tok_bound(s, R, i + 1);
        uint64_t c0 = C ? plain_bound(C, s->k, i) : 0, c1 = C ? plain_bound(C, s->k, i + 1) : 0;
        if (r1 == r0)
            return sp_fail(s, LCT_SPLIT_AXIS, "chunk %u of %" PRIu64 " rows is empty", i, R);
        lct_split_piece_t pc;
        memset(&pc, 0, sizeof(pc));
        pc.chunk = (uint16_t)i;
        pc.kind = s->n->kind;
        LCT_CHECK(kcall_copy(s, &pc.call));
        lct_kernel_call_t *k2 = &pc.call.u.kernel;
        for (int j = 0; j < nrp; j++) {
            const rowp_t *q = &rp[j];
            const lct_range_t *x = &s->n->fp.ranges[q->range];
            if (!q->slot) {
                LCT_CHECK(sp_range(s, q->ptr + r0 * q->stride, (r1 - r0) * q->stride, x->access,
                                   x->exact));
                param_set(k2, q->param, q->ptr + r0 * q->stride);
            } else {
                for (uint64_t b = 0; b < q->peers; b++)
                    LCT_CHECK(sp_range(s, q->ptr + b * q->block + c0 * q->stride,
                                       (c1 - c0) * q->stride, x->access, x->exact));
                param_set(k2, q->param, q->ptr + c0 * q->stride);
            }
        }
        LCT_CHECK(sp_keep_unclaimed(s, claimed));
        if (!param_set(k2, ru->rows_param, r1 - r0) ||
            (C && !param_set(k2, ru->cap_param, c1 - c0)))
            return sp_fail(s, LCT_SPLIT_AXIS, "rule %s:%u: a count does not fit its parameter",
                           ru->file, ru->line);
        grid_adjust(k2, ru->grid, r1 - r0, R);
        pc.cost_us = base_cost(s) * (double)(r1 - r0) / (double)R + s->sc->launch_us;
        LCT_CHECK(sp_piece(s, &pc));
    }
    return LCT_OK;
}

typedef struct {
    uint64_t e0, e1;
} erun_t;

static int erun_cmp(const void *pa, const void *pb)
{
    const erun_t *a = pa, *b = pb;
    return a->e0 < b->e0 ? -1 : a->e0 > b->e0;
}

/* Element runs of each chunk taken from the producer's written bytes over [base, base + n*es):
 * runs (count per chunk in cnt, k entries) when they tile the elements exactly; else false. */
static bool follow_runs(const lct_split_t *f, uint32_t k, uint64_t base, uint64_t n, uint64_t es,
                        erun_t *runs, uint32_t *cnt, uint32_t maxruns, uint32_t *total_p)
{
    if (!f || f->k != k)
        return false;
    uint32_t total = 0;
    uint64_t lim = base + n * es;
    for (uint32_t i = 0; i < k; i++) {
        cnt[i] = 0;
        for (uint32_t p = f->chunk_off[i]; p < f->chunk_off[i + 1]; p++) {
            const lct_split_piece_t *pc = &f->pieces[p];
            for (uint32_t r = 0; r < pc->nranges; r++) {
                const lct_range_t *x = &pc->ranges[r];
                if (!(x->access & LCT_ACC_WRITE))
                    continue;
                uint64_t lo = x->addr > base ? x->addr : base;
                uint64_t hi = x->addr + x->size < lim ? x->addr + x->size : lim;
                if (lo >= hi)
                    continue;
                if ((lo - base) % es || (hi - base) % es || total >= maxruns)
                    return false;
                runs[total++] = (erun_t){(lo - base) / es, (hi - base) / es};
                cnt[i]++;
            }
        }
        /* sort and merge this chunk's runs */
        erun_t *cr = runs + total - cnt[i];
        qsort(cr, cnt[i], sizeof(*cr), erun_cmp);
        uint32_t w = 0;
        for (uint32_t j = 0; j < cnt[i]; j++) {
            if (w && cr[w - 1].e1 >= cr[j].e0) {
                if (cr[j].e1 > cr[w - 1].e1)
                    cr[w - 1].e1 = cr[j].e1;
            } else {
                cr[w++] = cr[j];
            }
        }
        total -= cnt[i] - w;
        cnt[i] = w;
        if (!w)
            return false;
    }
    /* the runs of all chunks must tile [0, n) */
    erun_t *all = malloc(total * sizeof(*all));
    if (!all)
        return false;
    memcpy(all, runs, total * sizeof(*all));
    qsort(all, total, sizeof(*all), erun_cmp);
    uint64_t at = 0;
    bool ok = true;
    for (uint32_t j = 0; j < total && ok; j++) {
        ok = all[j].e0 == at;
        at = all[j].e1;
    }
    free(all);
    *total_p = total;
    return ok && at == n;
}

static lct_status_t split_elementwise(sp_t *s, const lct_split_rule_t *ru, const lct_split_t *f)
{
    const lct_kernel_call_t *kc = &s->n->call.u.kernel;
    uint64_t n;
    if (!param_get(kc, ru->rows_param, &n) || n == 0)
        return sp_fail(s, LCT_SPLIT_AXIS, "rule %s:%u: element count parameter %d is missing or 0",
                       ru->file, ru->line, ru->rows_param);
    if (n < s->k)
        return sp_fail(s, LCT_SPLIT_AXIS, "%" PRIu64 " elements cut %u ways", n, s->k);
    rowp_t rp[LCT_RULE_MAX_PARAMS];
    int nrp = 0;
    bool claimed[64] = {false};
    if (s->n->fp.nranges > 64)
        return sp_fail(s, LCT_SPLIT_AXIS, "kernel footprint of %u ranges", s->n->fp.nranges);
    for (uint32_t p = 0; p < kc->nparams && p < LCT_RULE_MAX_PARAMS; p++) {
        uint64_t v;
        if (!((ru->row_mask >> p) & 1))
            continue;
        int r = param_get(kc, (int)p, &v) && kc->param_size[p] == 8 ? range_containing(s->n, v) : -1;
        if (r < 0)
            return sp_fail(s, LCT_SPLIT_AXIS, "rule %s:%u: parameter %u does not point into the "
                                              "node's footprint",
                           ru->file, ru->line, p);
        const lct_range_t *x = &s->n->fp.ranges[r];
        if (v != x->addr || x->size % n || claimed[r])
            return sp_fail(s, LCT_SPLIT_AXIS, "rule %s:%u: parameter %u: %" PRIu64
                                              " bytes are not %" PRIu64 " elements",
                           ru->file, ru->line, p, x->size, n);
        claimed[r] = true;
        rp[nrp++] = (rowp_t){(int)p, v, x->size / n, r, false, 0, 0};
    }
    uint32_t maxruns = 1u << 20, total = 0;
    erun_t *runs = NULL;
    uint32_t *cnt = calloc(s->k, sizeof(*cnt));
    lct_status_t st = LCT_OK;
    if (!cnt)
        return LCT_ERR_NOMEM;
    if (f) {
        uint64_t cap = 0;
        for (uint32_t p = 0; p < f->npieces; p++)
            cap += f->pieces[p].nranges;
        if (cap && cap < maxruns && (runs = malloc(cap * sizeof(*runs))) &&
            !follow_runs(f, s->k, rp[0].ptr, n, rp[0].stride, runs, cnt, (uint32_t)cap, &total)) {
            free(runs);
            runs = NULL;
        }
    }
    if (!runs) {
        /* no producer partition to follow: contiguous element ranges */
        runs = malloc(s->k * sizeof(*runs));
        if (!runs) {
            free(cnt);
            return LCT_ERR_NOMEM;
        }
        for (uint32_t i = 0; i < s->k; i++) {
            runs[i] = (erun_t){plain_bound(n, s->k, i), plain_bound(n, s->k, i + 1)};
            cnt[i] = 1;
        }
    }
    uint32_t at = 0;
    for (uint32_t i = 0; i < s->k && st == LCT_OK; i++) {
        erun_t *cr = runs + at;
        at += cnt[i];
        uint64_t elems = 0;
        lct_split_piece_t pc;
        memset(&pc, 0, sizeof(pc));
        pc.chunk = (uint16_t)i;
        pc.kind = s->n->kind;
        if ((st = kcall_copy(s, &pc.call)) != LCT_OK)
            break;
        for (uint32_t j = 0; j < cnt[i] && st == LCT_OK; j++) {
            elems += cr[j].e1 - cr[j].e0;
            for (int q = 0; q < nrp && st == LCT_OK; q++) {
                const lct_range_t *x = &s->n->fp.ranges[rp[q].range];
                st = sp_range(s, rp[q].ptr + cr[j].e0 * rp[q].stride,
                              (cr[j].e1 - cr[j].e0) * rp[q].stride, x->access, x->exact);
            }
        }
        if (st != LCT_OK)
            break;
        /* the record is the first run's launch; further runs repeat it at their offsets */
        lct_kernel_call_t *k2 = &pc.call.u.kernel;
        for (int q = 0; q < nrp; q++)
            param_set(k2, rp[q].param, rp[q].ptr + cr[0].e0 * rp[q].stride);
        if (!param_set(k2, ru->rows_param, cr[0].e1 - cr[0].e0)) {
            st = sp_fail(s, LCT_SPLIT_AXIS, "rule %s:%u: a count does not fit its parameter",
                         ru->file, ru->line);
            break;
        }
        grid_adjust(k2, ru->grid, cr[0].e1 - cr[0].e0, n);
        if ((st = sp_keep_unclaimed(s, claimed)) != LCT_OK)
            break;
        pc.launches = cnt[i];
        pc.cost_us = base_cost(s) * (double)elems / (double)n + s->sc->launch_us * cnt[i];
        st = sp_piece(s, &pc);
    }
    free(runs);
    free(cnt);
    return st;
}

/* ------------------------------------------------------------------ dispatch */

bool lct_split_is_transparent(const lct_node_t *n)
{
    if (n->flags & (LCT_NODE_F_OPAQUE | LCT_NODE_F_EXTERNAL) || n->fp.unknown)
        return false;
    switch (n->kind) {
    case LCT_NODE_EMPTY:
    case LCT_NODE_EVENT_RECORD:
    case LCT_NODE_EVENT_WAIT:
    case LCT_NODE_MEM_ALLOC:
    case LCT_NODE_MEM_FREE:
        return true;
    default:
        return false;
    }
}

lct_status_t lct_split_node(const lct_graph_t *g, uint32_t v, uint32_t k, const lct_split_ctx_t *sc,
                            const lct_split_t *follow, lct_arena_t *a, lct_split_t *out,
                            lct_split_why_t *why_p, char *msg, size_t msglen)
{
    sp_t s;
    memset(&s, 0, sizeof(s));
    s.g = g;
    s.n = LCT_NODE(g, v);
    s.v = v;
    s.k = k;
    s.sc = sc;
    s.a = a;
    s.msg = msg;
    s.msglen = msg ? msglen : 0;
    if (s.msglen)
        msg[0] = '\0';
    lct_status_t st;
    const lct_node_t *n = s.n;
    if (k < 2 || k > UINT16_MAX) {
        st = sp_fail(&s, LCT_SPLIT_AXIS, "partition count %u", k);
        goto out;
    }
    if (n->fp.unknown || (n->flags & (LCT_NODE_F_OPAQUE | LCT_NODE_F_EXTERNAL))) {
        st = sp_fail(&s, LCT_SPLIT_NO_RULE, "barrier (unknown footprint, opaque or external)");
        goto out;
    }
    switch (n->kind) {
    case LCT_NODE_KERNEL:
        if (n->call.kind == LCT_CALL_GEMM) {
            st = split_gemm(&s);
        } else if (n->call.kind == LCT_CALL_KERNEL) {
            const lct_split_rule_t *ru = lct_split_rules_find(sc->rules, n);
            if (!ru)
                st = sp_fail(&s, LCT_SPLIT_NO_RULE, "no rule for kernel '%s'", n->name);
            else if (ru->kind == LCT_RULE_NONE)
                st = sp_fail(&s, LCT_SPLIT_AXIS, "%s (rule %s:%u)",
                             ru->reason ? ru->reason : "the rule forbids splitting", ru->file,
                             ru->line);
            else if (ru->kind == LCT_RULE_ELEMWISE)
                st = split_elementwise(&s, ru, follow);
            else
                st = split_rows(&s, ru);
        } else {
            st = sp_fail(&s, LCT_SPLIT_NO_RULE, "kernel without a call record");
        }
        break;
    case LCT_NODE_MEMCPY:
        st = n->call.kind == LCT_CALL_COPY ? split_copy(&s)
                                           : sp_fail(&s, LCT_SPLIT_NO_RULE, "memcpy without a call record");
        break;
    case LCT_NODE_MEMSET:
        st = n->call.kind == LCT_CALL_SET ? split_set(&s)
                                          : sp_fail(&s, LCT_SPLIT_NO_RULE, "memset without a call record");
        break;
    case LCT_NODE_COLLECTIVE:
        switch (n->coll.op) {
        case LCT_COLL_ALLTOALL:
            st = split_alltoall(&s);
            break;
        case LCT_COLL_ALLREDUCE:
        case LCT_COLL_BROADCAST:
        case LCT_COLL_ALLGATHER:
        case LCT_COLL_REDUCESCATTER:
            st = split_count_coll(&s);
            break;
        default:
            st = sp_fail(&s, LCT_SPLIT_NO_RULE, "no rule for %s", lct_coll_op_name(n->coll.op));
            break;
        }
        break;
    default:
        st = sp_fail(&s, LCT_SPLIT_NO_RULE, "no rule for %s nodes", lct_node_kind_name(n->kind));
        break;
    }
    if (st == LCT_OK) {
        uint32_t np = (uint32_t)s.pieces.len;
        out->k = k;
        out->npieces = np;
        out->pieces = lct_arena_memdup(a, s.pieces.data, np * sizeof(lct_split_piece_t));
        out->chunk_off = lct_arena_alloc(a, (k + 1) * sizeof(uint32_t));
        if (!out->pieces || !out->chunk_off) {
            st = LCT_ERR_NOMEM;
            goto out;
        }
        uint32_t at = 0;
        for (uint32_t i = 0; i < k; i++) {
            out->chunk_off[i] = at;
            while (at < np && out->pieces[at].chunk == i)
                at++;
        }
        out->chunk_off[k] = at;
        if (at != np) {
            LCT_WARN("split of node %u (%s): pieces out of chunk order", v, n->name);
            st = LCT_ERR_INTERNAL;
        }
    }
out:
    if (st == LCT_ERR_UNSUPPORTED && s.why == LCT_SPLIT_OK)
        s.why = LCT_SPLIT_AXIS;
    if (why_p)
        *why_p = st == LCT_OK ? LCT_SPLIT_OK : s.why;
    LCT_VEC_FREE(&s.pieces);
    LCT_VEC_FREE(&s.scratch);
    return st;
}

uint32_t lct_split_follow_source(const lct_graph_t *g, uint32_t v, const lct_split_ctx_t *sc)
{
    const lct_node_t *n = LCT_NODE(g, v);
    if (n->kind != LCT_NODE_KERNEL || n->call.kind != LCT_CALL_KERNEL || !g->adj_valid)
        return NONE32;
    const lct_split_rule_t *ru = lct_split_rules_find(sc->rules, n);
    if (!ru || ru->kind != LCT_RULE_ELEMWISE)
        return NONE32;
    const lct_kernel_call_t *kc = &n->call.u.kernel;
    int first = -1;
    for (int p = 0; p < LCT_RULE_MAX_PARAMS && first < 0; p++)
        if ((ru->row_mask >> p) & 1)
            first = p;
    uint64_t ptr;
    if (first < 0 || !param_get(kc, first, &ptr))
        return NONE32;
    int r = range_containing(n, ptr);
    if (r < 0)
        return NONE32;
    const lct_range_t *in = &n->fp.ranges[r];
    uint32_t best = NONE32;
    for (uint32_t e = g->pred_off[v]; e < g->pred_off[v + 1]; e++) {
        uint32_t u = g->pred[e];
        const lct_node_t *pn = LCT_NODE(g, u);
        for (uint32_t j = 0; j < pn->fp.nranges; j++) {
            const lct_range_t *x = &pn->fp.ranges[j];
            if ((x->access & LCT_ACC_WRITE) && lct_ranges_overlap(x, in) &&
                (best == NONE32 || pn->launch_order > LCT_NODE(g, best)->launch_order))
                best = u;
        }
    }
    return best;
}

/* ------------------------------------------------------------------ context */

lct_status_t lct_split_ctx_fill(const lct_graph_t *g, lct_split_ctx_t *sc, lct_split_a2a_t **a2a_p)
{
    uint32_t n = LCT_NNODES(g), na = 0;
    for (uint32_t v = 0; v < n; v++) {
        const lct_node_t *x = LCT_NODE(g, v);
        na += x->kind == LCT_NODE_COLLECTIVE && x->coll.op == LCT_COLL_ALLTOALL;
    }
    lct_split_a2a_t *t = calloc(na ? na : 1, sizeof(*t));
    if (!t)
        return LCT_ERR_NOMEM;
    na = 0;
    for (uint32_t v = 0; v < n; v++) {
        const lct_node_t *x = LCT_NODE(g, v);
        if (x->kind != LCT_NODE_COLLECTIVE || x->coll.op != LCT_COLL_ALLTOALL)
            continue;
        const lct_coll_t *c = &x->coll;
        size_t es = lct_dtype_size(c->dtype);
        uint32_t P = c->npeers ? c->npeers : (c->nranks > 0 ? (uint32_t)c->nranks : 1);
        lct_split_a2a_t *e = &t[na++];
        e->node = v;
        e->peers = P;
        e->send = c->sendbuf;
        e->recv = c->recvbuf;
        e->unit = es;
        if (c->npeers) {
            for (uint32_t p = 0; p < c->npeers; p++) {
                e->send_bytes += c->peers[p].send_bytes;
                e->recv_bytes += c->peers[p].recv_bytes;
            }
        } else {
            e->send_bytes = e->recv_bytes = c->count * es * P;
        }
    }
    /* Slot units: a GEMM operand inside an all-to-all buffer gives its column stride. */
    sc->a2a = t;
    sc->na2a = na;
    for (uint32_t v = 0; v < n; v++) {
        const lct_node_t *x = LCT_NODE(g, v);
        if (x->call.kind == LCT_CALL_GEMM) {
            const lct_gemm_call_t *c = &x->call.u.gemm;
            for (uint32_t i = 0; i < na; i++) {
                lct_split_a2a_t *e = &t[i];
                uint64_t u = 0;
                if (!c->trans_b && (c->b == e->send || c->b == e->recv))
                    u = (uint64_t)c->ldb * lct_dtype_size(c->type_b);
                else if (c->c == e->send || c->c == e->recv)
                    u = (uint64_t)c->ldc * lct_dtype_size(c->type_c);
                if (u > e->unit && e->peers && e->send_bytes % e->peers == 0 &&
                    (e->send_bytes / e->peers) % u == 0)
                    e->unit = u;
            }
        } else if (x->call.kind == LCT_CALL_KERNEL && sc->rules) {
            const lct_split_rule_t *ru = lct_split_rules_find(sc->rules, x);
            uint64_t C, ptr;
            if (!ru || !ru->slot_mask || !param_get(&x->call.u.kernel, ru->cap_param, &C) || !C)
                continue;
            for (int p = 0; p < LCT_RULE_MAX_PARAMS; p++) {
                if (!((ru->slot_mask >> p) & 1) || !param_get(&x->call.u.kernel, p, &ptr))
                    continue;
                for (uint32_t i = 0; i < na; i++) {
                    lct_split_a2a_t *e = &t[i];
                    if ((ptr == e->send || ptr == e->recv) && e->peers &&
                        e->send_bytes % e->peers == 0 && (e->send_bytes / e->peers) % C == 0 &&
                        e->send_bytes / e->peers / C > e->unit)
                        e->unit = e->send_bytes / e->peers / C;
                }
            }
        }
    }
    /* Sequences per step: tokens (columns of the batch-1 forward GEMMs) over the sequence length
     * (columns of the first forward attention GEMM). */
    uint64_t T = 0, sl = 0, bh = 0;
    for (uint32_t v = 0; v < n && (!T || !sl); v++) {
        const lct_node_t *x = LCT_NODE(g, v);
        if (x->phase != LCT_PHASE_FORWARD || x->call.kind != LCT_CALL_GEMM)
            continue;
        const lct_gemm_call_t *c = &x->call.u.gemm;
        operand_t ops[3];
        gemm_operands(c, ops);
        if (c->batch == 1 && !T && !a2a_holding(sc, c->b) && !a2a_holding(sc, c->c))
            T = (uint64_t)c->n;
        else if (c->batch > 1 && !sl && gemm_batches_dense(ops)) {
            sl = (uint64_t)c->n;
            bh = (uint64_t)c->batch;
        }
    }
    sc->samples = 0;
    if (T && sl && T % sl == 0 && bh % (T / sl) == 0)
        sc->samples = (uint32_t)(T / sl);
    *a2a_p = t;
    return LCT_OK;
}
