/* Node cost profiles: measured durations keyed by a node signature, their file format, and the
 * filling of node costs from profiles and collective curves.
 *
 * A signature must be equal for the same operation in another step or on another rank, where the
 * buffers sit at other addresses, and differ for operations of another shape. So it hashes what
 * decides the cost (kind, name, library, the call record's shapes and scalars, footprint sizes,
 * collective op and bytes) and leaves out every address (buffers, workspaces, pointer arguments).
 *
 * Entries are kept in insertion order with a key -> index map; the file is written sorted by
 * signature, so its bytes do not depend on the order in which samples arrived. */
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/lct_hash.h"
#include "core/lct_log.h"
#include "core/lct_vec.h"
#include "cost/lct_cost.h"

#define PROFILE_FORMAT "lancet-profile"
#define PROFILE_VERSION 1
/* A kernel argument of 8 bytes at or above this value is taken for a device address: CUDA maps
 * device memory high in the 47/48-bit virtual address space, while sizes and counts that large
 * (1 TiB) do not occur as kernel scalars. */
#define ADDR_LIKE_MIN (1ull << 40)

typedef struct {
    uint64_t sig;
    double sum;
    uint64_t n;
} prof_entry_t;

struct lct_profile {
    LCT_VEC(prof_entry_t) e;
    lct_map_t index; /* sig -> position in e */
};

/* ---- signature ---- */

static uint64_t mix(uint64_t h, uint64_t v) { return lct_hash_combine(h, v); }

static uint64_t mix_double(uint64_t h, double d)
{
    uint64_t bits;
    if (d == 0)
        d = 0; /* -0.0 and 0.0 hash alike */
    memcpy(&bits, &d, sizeof(bits));
    return mix(h, bits);
}

static bool addr_in_footprint(const lct_node_t *n, uint64_t v)
{
    for (uint32_t i = 0; i < n->fp.nranges; i++)
        if (v >= n->fp.ranges[i].addr && v - n->fp.ranges[i].addr < n->fp.ranges[i].size)
            return true;
    return false;
}

static uint64_t hash_kernel_call(uint64_t h, const lct_node_t *n, const lct_kernel_call_t *k)
{
    for (int i = 0; i < 3; i++)
        h = mix(mix(h, k->grid[i]), k->block[i]);
    h = mix(mix(h, k->smem), k->nparams);
    for (uint32_t i = 0; i < k->nparams; i++) {
        uint32_t off = k->param_offset ? k->param_offset[i] : 0;
        uint32_t sz = k->param_size ? k->param_size[i] : 0;
        h = mix(h, sz);
        if (!k->param_data || off > k->param_bytes || sz > k->param_bytes - off)
            continue;
        const uint8_t *p = k->param_data + off;
        if (sz == 8) {
            uint64_t v;
            memcpy(&v, p, 8);
            if (addr_in_footprint(n, v) || v >= ADDR_LIKE_MIN) {
                h = mix(h, 0xadd7u); /* a pointer: its position counts, its value does not */
                continue;
            }
        }
        h = mix(h, lct_hash_bytes(p, sz, 0));
    }
    return h;
}

uint64_t lct_node_signature(const lct_node_t *n)
{
    uint64_t h = lct_hash_u64((uint64_t)n->kind + 1);
    h = mix(h, lct_hash_str(n->name));
    h = mix(h, lct_hash_str(n->lib));
    h = mix(h, n->mem_bytes);
    h = mix(h, n->fp.unknown);
    h = mix(h, n->fp.nranges);
    for (uint32_t i = 0; i < n->fp.nranges; i++) {
        const lct_range_t *r = &n->fp.ranges[i];
        h = mix(mix(mix(h, r->size), r->access), r->exact);
    }
    if (n->kind == LCT_NODE_COLLECTIVE) {
        const lct_coll_t *c = &n->coll;
        h = mix(mix(mix(h, c->op), c->bytes), c->count);
        h = mix(mix(mix(h, c->dtype), (uint64_t)(int64_t)c->nranks), (uint64_t)(int64_t)c->root);
        h = mix(h, c->npeers);
        for (uint32_t i = 0; i < c->npeers && c->peers; i++)
            h = mix(mix(mix(h, (uint64_t)(int64_t)c->peers[i].peer), c->peers[i].send_bytes),
                    c->peers[i].recv_bytes);
    }
    h = mix(h, n->call.kind);
    switch (n->call.kind) {
    case LCT_CALL_GEMM: {
        const lct_gemm_call_t *gm = &n->call.u.gemm;
        h = mix(mix(h, gm->trans_a), gm->trans_b);
        h = mix(mix(mix(h, (uint64_t)gm->m), (uint64_t)gm->n), (uint64_t)gm->k);
        h = mix(mix(mix(h, (uint64_t)gm->lda), (uint64_t)gm->ldb), (uint64_t)gm->ldc);
        h = mix(mix(mix(h, (uint64_t)gm->stride_a), (uint64_t)gm->stride_b),
                (uint64_t)gm->stride_c);
        h = mix(h, (uint64_t)gm->batch);
        h = mix(mix(mix(mix(h, gm->type_a), gm->type_b), gm->type_c), gm->compute);
        h = mix_double(mix_double(h, gm->alpha), gm->beta);
        h = mix(h, gm->workspace_size);
        break;
    }
    case LCT_CALL_KERNEL:
        h = hash_kernel_call(h, n, &n->call.u.kernel);
        break;
    case LCT_CALL_COPY:
        h = mix(h, n->call.u.copy.bytes);
        break;
    case LCT_CALL_SET:
        h = mix(mix(mix(h, n->call.u.set.value), n->call.u.set.elem_size), n->call.u.set.count);
        break;
    default:
        break;
    }
    return h;
}

/* ---- profile container ---- */

lct_status_t lct_profile_create(lct_profile_t **p_p)
{
    lct_profile_t *p = calloc(1, sizeof(*p));
    if (!p) {
        LCT_WARN("out of memory for a cost profile");
        return LCT_ERR_NOMEM;
    }
    lct_map_init(&p->index);
    *p_p = p;
    return LCT_OK;
}

void lct_profile_destroy(lct_profile_t *p)
{
    if (!p)
        return;
    LCT_VEC_FREE(&p->e);
    lct_map_free(&p->index);
    free(p);
}

/* Add n samples whose sum is sum. */
static lct_status_t profile_add_n(lct_profile_t *p, uint64_t sig, double sum, uint64_t n)
{
    uint64_t at;
    if (lct_map_get(&p->index, sig, &at)) {
        p->e.data[at].sum += sum;
        p->e.data[at].n += n;
        return LCT_OK;
    }
    prof_entry_t e = {sig, sum, n};
    if (LCT_VEC_PUSH(&p->e, e) != LCT_OK || lct_map_put(&p->index, sig, p->e.len - 1) != LCT_OK) {
        LCT_WARN("out of memory adding a cost profile entry");
        return LCT_ERR_NOMEM;
    }
    return LCT_OK;
}

lct_status_t lct_profile_add(lct_profile_t *p, uint64_t sig, double us)
{
    if (!p || !(us >= 0) || !isfinite(us)) {
        LCT_WARN("cost profile: sample %g us rejected (must be a finite number >= 0)", us);
        return LCT_ERR_INVALID;
    }
    return profile_add_n(p, sig, us, 1);
}

bool lct_profile_get(const lct_profile_t *p, uint64_t sig, double *us_p)
{
    uint64_t at;
    if (!p || !lct_map_get(&p->index, sig, &at))
        return false;
    if (us_p)
        *us_p = p->e.data[at].sum / (double)p->e.data[at].n;
    return true;
}

/* ---- profile file ---- */

static lct_status_t parse_sig(const char *path, size_t i, json_t *v, uint64_t *sig_p)
{
    const char *s = json_string_value(v);
    if (!s || strncmp(s, "0x", 2) != 0 || strlen(s) < 3 || strlen(s) > 18) {
        LCT_WARN("profile file %s: entries[%zu].sig: expected a string \"0x\" followed by 1 to 16 "
                 "hexadecimal digits",
                 path, i);
        return LCT_ERR_PARSE;
    }
    /* Digits only: strtoull alone would also take a sign, blanks or a second "0x". */
    uint64_t x = 0;
    for (const char *c = s + 2; *c; c++) {
        if (!isxdigit((unsigned char)*c)) {
            LCT_WARN("profile file %s: entries[%zu].sig: \"%s\" is not a hexadecimal number", path,
                     i, s);
            return LCT_ERR_PARSE;
        }
        int d = isdigit((unsigned char)*c) ? *c - '0' : tolower((unsigned char)*c) - 'a' + 10;
        x = x << 4 | (uint64_t)d;
    }
    *sig_p = x;
    return LCT_OK;
}

static lct_status_t parse_profile(const char *path, json_t *root, lct_profile_t *p)
{
    if (!json_is_object(root)) {
        LCT_WARN("profile file %s: top level: expected an object", path);
        return LCT_ERR_PARSE;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, "format") && strcmp(key, "version") && strcmp(key, "entries")) {
            LCT_WARN("profile file %s: %s: unknown key (accepted: format, version, entries)", path,
                     key);
            return LCT_ERR_PARSE;
        }
    }
    json_t *fmt = json_object_get(root, "format");
    if (fmt && (!json_is_string(fmt) || strcmp(json_string_value(fmt), PROFILE_FORMAT))) {
        LCT_WARN("profile file %s: format: expected \"%s\"", path, PROFILE_FORMAT);
        return LCT_ERR_PARSE;
    }
    json_t *ver = json_object_get(root, "version");
    if (!json_is_integer(ver) || json_integer_value(ver) != PROFILE_VERSION) {
        LCT_WARN("profile file %s: version: expected the integer %d", path, PROFILE_VERSION);
        return LCT_ERR_PARSE;
    }
    json_t *entries = json_object_get(root, "entries");
    if (!json_is_array(entries)) {
        LCT_WARN("profile file %s: entries: expected an array of {sig, us, samples} objects", path);
        return LCT_ERR_PARSE;
    }
    for (size_t i = 0; i < json_array_size(entries); i++) {
        json_t *e = json_array_get(entries, i);
        if (!json_is_object(e)) {
            LCT_WARN("profile file %s: entries[%zu]: expected an object {sig, us, samples}", path, i);
            return LCT_ERR_PARSE;
        }
        json_object_foreach(e, key, val)
        {
            if (strcmp(key, "sig") && strcmp(key, "us") && strcmp(key, "samples") &&
                strcmp(key, "name")) {
                LCT_WARN("profile file %s: entries[%zu].%s: unknown key (accepted: sig, us, "
                         "samples, name)",
                         path, i, key);
                return LCT_ERR_PARSE;
            }
        }
        uint64_t sig;
        LCT_CHECK(parse_sig(path, i, json_object_get(e, "sig"), &sig));
        json_t *us = json_object_get(e, "us");
        double t = json_is_number(us) ? json_number_value(us) : -1;
        if (!(t >= 0) || !isfinite(t)) {
            LCT_WARN("profile file %s: entries[%zu].us: expected a finite number >= 0", path, i);
            return LCT_ERR_PARSE;
        }
        json_t *ns = json_object_get(e, "samples");
        json_int_t n = 1;
        if (ns) {
            n = json_is_integer(ns) ? json_integer_value(ns) : 0;
            if (n < 1) {
                LCT_WARN("profile file %s: entries[%zu].samples: expected an integer >= 1", path, i);
                return LCT_ERR_PARSE;
            }
        }
        if (!isfinite(t * (double)n)) {
            LCT_WARN("profile file %s: entries[%zu]: us x samples (%g x %" JSON_INTEGER_FORMAT
                     ") is not a finite number",
                     path, i, t, n);
            return LCT_ERR_PARSE;
        }
        json_t *nm = json_object_get(e, "name");
        if (nm && !json_is_string(nm)) {
            LCT_WARN("profile file %s: entries[%zu].name: expected a string", path, i);
            return LCT_ERR_PARSE;
        }
        LCT_CHECK(profile_add_n(p, sig, t * (double)n, (uint64_t)n));
    }
    return LCT_OK;
}

lct_status_t lct_profile_read(const char *path, lct_profile_t **p_p)
{
    if (!path || !p_p)
        return LCT_ERR_INVALID;
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        LCT_WARN("profile file %s: line %d column %d: %s", path, jerr.line, jerr.column, jerr.text);
        return jerr.line < 0 ? LCT_ERR_IO : LCT_ERR_PARSE;
    }
    lct_profile_t *p;
    lct_status_t st = lct_profile_create(&p);
    if (st == LCT_OK) {
        st = parse_profile(path, root, p);
        if (st != LCT_OK)
            lct_profile_destroy(p);
        else
            *p_p = p;
    }
    json_decref(root);
    return st;
}

static int entry_cmp(const void *a, const void *b)
{
    uint64_t x = ((const prof_entry_t *)a)->sig, y = ((const prof_entry_t *)b)->sig;
    return x < y ? -1 : x > y;
}

lct_status_t lct_profile_write(const char *path, const lct_profile_t *p)
{
    if (!path || !p)
        return LCT_ERR_INVALID;
    prof_entry_t *sorted = NULL;
    if (p->e.len) {
        sorted = malloc(p->e.len * sizeof(*sorted));
        if (!sorted) {
            LCT_WARN("out of memory writing profile file %s", path);
            return LCT_ERR_NOMEM;
        }
        memcpy(sorted, p->e.data, p->e.len * sizeof(*sorted));
        qsort(sorted, p->e.len, sizeof(*sorted), entry_cmp);
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        LCT_WARN("profile file %s: cannot open for writing: %m", path);
        free(sorted);
        return LCT_ERR_IO;
    }
    fprintf(f, "{\n  \"format\": \"%s\",\n  \"version\": %d,\n  \"entries\": [", PROFILE_FORMAT,
            PROFILE_VERSION);
    for (size_t i = 0; i < p->e.len; i++)
        fprintf(f, "%s\n    {\"sig\": \"0x%016llx\", \"us\": %.17g, \"samples\": %llu}",
                i ? "," : "", (unsigned long long)sorted[i].sig,
                sorted[i].sum / (double)sorted[i].n, (unsigned long long)sorted[i].n);
    fprintf(f, "%s]\n}\n", p->e.len ? "\n  " : "");
    free(sorted);
    int werr = ferror(f);
    if (fclose(f) != 0 || werr) {
        LCT_WARN("profile file %s: write failed: %m", path);
        return LCT_ERR_IO;
    }
    return LCT_OK;
}

/* ---- filling node costs ---- */

bool lct_node_is_comm(const lct_node_t *n) { return n && n->kind == LCT_NODE_COLLECTIVE; }

lct_status_t lct_cost_fill(lct_graph_t *g, const lct_profile_t *profile, const lct_curve_set_t *cs)
{
    if (!g)
        return LCT_ERR_INVALID;
    uint32_t from_curve = 0, from_profile = 0, kept = 0;
    for (uint32_t i = 0; i < LCT_NNODES(g); i++) {
        lct_node_t *n = LCT_NODE(g, i);
        double us;
        if (lct_node_is_comm(n) && cs && (unsigned)n->coll.op < LCT_COLL_COUNT &&
            cs->curve[n->coll.op].npoints > 0) {
            if (n->coll.nranks > 0 && n->coll.nranks != cs->world_size)
                LCT_DEBUG(COST, "node %u: %d-rank collective costed with %d-rank curves", i,
                          n->coll.nranks, cs->world_size);
            n->cost_us = lct_curve_eval(cs, n->coll.op, (double)n->coll.bytes);
            n->cost_src = LCT_COST_CURVE;
            from_curve++;
        } else if (profile && lct_profile_get(profile, lct_node_signature(n), &us)) {
            n->cost_us = us;
            n->cost_src = LCT_COST_PROFILE;
            from_profile++;
        } else {
            kept++;
        }
    }
    LCT_INFO(COST, "costs: %u from curves, %u from the profile, %u kept", from_curve, from_profile,
             kept);
    return LCT_OK;
}
