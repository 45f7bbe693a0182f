/* Dependency reconstruction: replace the stream/event edges of a captured step by the true
 * dependencies between its operations (DESIGN.md §4, invariants 1-3).
 *
 * Invariant kept: for every pair of nodes a before b in launch order (launch_order, then index)
 * whose footprints conflict (overlapping bytes, at least one side writes; an unknown footprint
 * conflicts with everything), or where either is a barrier, or that are collectives of the same
 * communicator, the result has a path a ->* b. Every added edge goes forward in launch order, so
 * the result is acyclic before the kept SCHED edges are added back.
 *
 * Algorithm: one sweep in launch order.
 *  - Addresses are compressed to the sorted distinct range endpoints (elementary intervals). The
 *    elementary intervals are grouped into runs of equal state; a run holds the last writer of
 *    its bytes and the readers since that write (a persistent cons list, so splitting a run
 *    shares the list). Run starts are a two-level bitset, so finding the run containing a byte
 *    and stepping to the next run are a few word operations.
 *  - A node first queries all its ranges (RAW from the last writer of read bytes; WAR from the
 *    readers since the last write of written bytes; WAW from the last writer when no reader sits
 *    in between, because the readers' RAW edges already order the two writers), then updates the
 *    runs (reads append the node to the reader lists, writes collapse the runs to one with the
 *    node as writer). Older writers need no edge: they are ordered before the last writer.
 *  - A barrier ends a segment: every node of the segment without a successor gets an edge to the
 *    barrier, and every later node without a predecessor in the new segment gets an edge from it.
 *    The run state is not cleared; writers and readers older than the segment are ignored.
 *    This is a chain through the barrier with O(n) edges, not one edge per pair.
 *  - Collectives are chained per communicator (coll.comm) in launch order.
 *  - Transitive reduction (optional): a predecessor p of v is implied when another predecessor
 *    q reaches it; such a q comes after p in launch order. Online, during the sweep: every node
 *    keeps a bitset of its ancestors; v's predecessors are taken in decreasing launch order, and
 *    each one not yet in v's row is kept and merges its own row. When the n x n/64-word rows do
 *    not fit opts->reduce_mem_bytes, all candidate edges are kept during the sweep and reduced
 *    afterwards the same way on descendant rows, one block of columns at a time, so memory stays
 *    bounded whatever the graph size. The transitive reduction of a DAG is unique: both ways give
 *    the same edges. SCHED edges take no part: a scheduling pass may drop them later, and
 *    nothing true may depend on them. */
#include <ctype.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/lct_analysis.h"
#include "core/lct_bitset.h"
#include "core/lct_hash.h"
#include "core/lct_log.h"
#include "core/lct_vec.h"

#define NONE UINT32_MAX

/* Default bytes of descendant rows the reduction may hold at once (opts->reduce_mem_bytes). */
#define REDUCE_MEM_BYTES ((size_t)64 << 20)

/* Hazard classes, in priority order when one pair has several. */
enum { HZ_NONE = 0, HZ_WAR = 1, HZ_WAW = 2, HZ_RAW = 3 };

lct_deps_opts_t lct_deps_opts_default(void)
{
    lct_deps_opts_t o = {NULL, true, 0};
    return o;
}

/* ---- opaque kernel name patterns ---- */

typedef struct {
    char *buf;
    char **pat;
    uint32_t n;
} patterns_t;

static void patterns_free(patterns_t *p)
{
    free(p->buf);
    free(p->pat);
    memset(p, 0, sizeof(*p));
}

/* Split "a*, b ,c" into trimmed, non-empty patterns. */
static lct_status_t patterns_parse(const char *spec, patterns_t *p)
{
    memset(p, 0, sizeof(*p));
    if (!spec || !*spec)
        return LCT_OK;
    size_t len = strlen(spec), cap = 1;
    for (size_t i = 0; i < len; i++)
        cap += spec[i] == ',';
    p->buf = malloc(len + 1);
    p->pat = malloc(cap * sizeof(*p->pat));
    if (!p->buf || !p->pat) {
        patterns_free(p);
        return LCT_ERR_NOMEM;
    }
    memcpy(p->buf, spec, len + 1);
    char *s = p->buf;
    for (;;) {
        char *end = strchr(s, ',');
        if (end)
            *end = '\0';
        while (isspace((unsigned char)*s))
            s++;
        size_t l = strlen(s);
        while (l && isspace((unsigned char)s[l - 1]))
            s[--l] = '\0';
        if (l)
            p->pat[p->n++] = s;
        if (!end)
            break;
        s = end + 1;
    }
    return LCT_OK;
}

static bool patterns_match(const patterns_t *p, const char *name)
{
    for (uint32_t i = 0; i < p->n; i++)
        if (fnmatch(p->pat[i], name, 0) == 0)
            return true;
    return false;
}

static bool node_is_barrier(const lct_node_t *nd, const patterns_t *pat)
{
    if (nd->fp.unknown || (nd->flags & (LCT_NODE_F_OPAQUE | LCT_NODE_F_EXTERNAL)) ||
        nd->kind == LCT_NODE_HOST)
        return true;
    return nd->kind == LCT_NODE_KERNEL && patterns_match(pat, nd->name);
}

static uint8_t range_access(const lct_node_t *nd, const lct_range_t *r)
{
    /* Allocation and release change what the bytes are: order them like writes. */
    if (nd->kind == LCT_NODE_MEM_ALLOC || nd->kind == LCT_NODE_MEM_FREE)
        return LCT_ACC_WRITE;
    return r->access & LCT_ACC_RW;
}

/* ---- address runs ---- */

typedef struct {
    uint32_t reader; /* launch position */
    uint32_t next;   /* older cell or NONE */
    uint32_t mark;   /* last query (position + 1) that walked this cell */
} cell_t;

typedef struct {
    uint32_t m;       /* elementary intervals; bit m is a sentinel run start */
    uint64_t *bits;   /* run starts */
    uint64_t *sum;    /* bit w set when bits[w] != 0 */
    uint32_t *writer; /* at run starts: last writer position or NONE */
    uint32_t *rhead;  /* at run starts: readers since that write (cell index) or NONE */
    LCT_VEC(cell_t) cells;
} amap_t;

static void amap_free(amap_t *a)
{
    free(a->bits);
    free(a->sum);
    free(a->writer);
    free(a->rhead);
    LCT_VEC_FREE(&a->cells);
}

static void amap_set(amap_t *a, uint32_t p)
{
    a->bits[p >> 6] |= 1ULL << (p & 63);
    a->sum[p >> 12] |= 1ULL << ((p >> 6) & 63);
}

static void amap_clear(amap_t *a, uint32_t p)
{
    uint32_t w = p >> 6;
    a->bits[w] &= ~(1ULL << (p & 63));
    if (!a->bits[w])
        a->sum[w >> 6] &= ~(1ULL << (w & 63));
}

static bool amap_is_start(const amap_t *a, uint32_t p) { return lct_bitset_test(a->bits, p); }

/* Largest run start <= p (bit 0 is always set). */
static uint32_t amap_pred(const amap_t *a, uint32_t p)
{
    uint32_t w = p >> 6;
    uint64_t x = a->bits[w] & (~0ULL >> (63 - (p & 63)));
    if (x)
        return (w << 6) + 63 - (uint32_t)__builtin_clzll(x);
    /* previous non-empty word through the summary */
    uint32_t sw = w >> 6;
    uint64_t s = (w & 63) ? a->sum[sw] & ((1ULL << (w & 63)) - 1) : 0;
    while (!s)
        s = a->sum[--sw];
    w = (sw << 6) + 63 - (uint32_t)__builtin_clzll(s);
    return (w << 6) + 63 - (uint32_t)__builtin_clzll(a->bits[w]);
}

/* Smallest run start >= p (bit m is always set). */
static uint32_t amap_succ(const amap_t *a, uint32_t p)
{
    uint32_t w = p >> 6;
    uint64_t x = a->bits[w] & (~0ULL << (p & 63));
    if (x)
        return (w << 6) + (uint32_t)__builtin_ctzll(x);
    uint32_t sw = w >> 6;
    uint64_t s = (w & 63) == 63 ? 0 : a->sum[sw] & (~0ULL << ((w & 63) + 1));
    while (!s)
        s = a->sum[++sw];
    w = (sw << 6) + (uint32_t)__builtin_ctzll(s);
    return (w << 6) + (uint32_t)__builtin_ctzll(a->bits[w]);
}

/* Make p a run start, copying the state of the run that contained it. */
static void amap_split(amap_t *a, uint32_t p)
{
    if (p >= a->m || amap_is_start(a, p))
        return;
    uint32_t s = amap_pred(a, p);
    amap_set(a, p);
    a->writer[p] = a->writer[s];
    a->rhead[p] = a->rhead[s];
}

static lct_status_t amap_init(amap_t *a, uint32_t m)
{
    memset(a, 0, sizeof(*a));
    a->m = m;
    size_t words = (size_t)m / 64 + 1, swords = words / 64 + 1;
    a->bits = calloc(words, sizeof(uint64_t));
    a->sum = calloc(swords, sizeof(uint64_t));
    a->writer = malloc(((size_t)m + 1) * sizeof(uint32_t));
    a->rhead = malloc(((size_t)m + 1) * sizeof(uint32_t));
    if (!a->bits || !a->sum || !a->writer || !a->rhead) {
        amap_free(a);
        return LCT_ERR_NOMEM;
    }
    amap_set(a, 0);
    amap_set(a, m);
    a->writer[0] = a->rhead[0] = NONE;
    return LCT_OK;
}

/* ---- the sweep ---- */

typedef struct {
    uint32_t src, dst; /* launch positions */
    uint8_t kind;      /* lct_edge_kind_t */
    uint8_t hazard;    /* HZ_* for DATA edges */
} cand_t;

typedef struct {
    uint32_t lo, hi; /* elementary intervals [lo, hi) */
    uint8_t acc;
} crange_t;

typedef struct {
    uint32_t u; /* launch position of the predecessor */
    uint8_t kind, hazard;
    uint8_t implied; /* online reduction: another predecessor already reaches u */
} pred_t;

typedef struct {
    const lct_graph_t *g;
    uint32_t n;
    uint32_t *order;   /* position -> node index */
    uint8_t *barrier;  /* by position */
    uint32_t *rng_off; /* by position: crange_t slice */
    crange_t *rng;
    amap_t amap;
    uint32_t *mark, *slot; /* by position: dedupe of predecessors of the current node */
    uint32_t *outdeg;      /* by position: candidate out-edges so far */
    LCT_VEC(pred_t) preds;
    LCT_VEC(pred_t) sorted; /* scratch for ordering many predecessors */
    uint64_t *scratch;      /* n bits, all clear between nodes */
    LCT_VEC(cand_t) edges;  /* emitted edges (all candidates, or only kept ones when online) */
    /* Online transitive reduction: row p holds the ancestors of position p (bits < p only). */
    bool online;
    size_t words;
    uint64_t *anc;
    lct_deps_stats_t stats; /* hazard counters over all candidates */
    uint32_t ncand;
} sweep_t;

static void sweep_free(sweep_t *s)
{
    free(s->order);
    free(s->barrier);
    free(s->rng_off);
    free(s->rng);
    amap_free(&s->amap);
    free(s->mark);
    free(s->slot);
    free(s->outdeg);
    free(s->scratch);
    free(s->anc);
    LCT_VEC_FREE(&s->sorted);
    LCT_VEC_FREE(&s->preds);
    LCT_VEC_FREE(&s->edges);
}

static int cmp_u64(const void *pa, const void *pb)
{
    uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
    return a < b ? -1 : a > b;
}

static uint32_t coord_index(const uint64_t *c, uint32_t nc, uint64_t x)
{
    uint32_t lo = 0, hi = nc; /* c[lo] <= x < c[hi]; x is always present */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (c[mid] <= x)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* Launch order, barrier classification and compressed ranges. */
static lct_status_t sweep_prepare(sweep_t *s, const patterns_t *pat)
{
    const lct_graph_t *g = s->g;
    uint32_t n = s->n;
    size_t nn = (size_t)n + 1;
    s->order = malloc(nn * sizeof(uint32_t));
    s->barrier = calloc(nn, 1);
    s->rng_off = calloc(nn, sizeof(uint32_t));
    s->mark = calloc(nn, sizeof(uint32_t));
    s->slot = malloc(nn * sizeof(uint32_t));
    s->outdeg = calloc(nn, sizeof(uint32_t));
    s->words = LCT_BITSET_WORDS(nn);
    s->scratch = calloc(s->words, sizeof(uint64_t));
    if (!s->order || !s->barrier || !s->rng_off || !s->mark || !s->slot || !s->outdeg ||
        !s->scratch)
        return LCT_ERR_NOMEM;
    if (s->online) {
        s->anc = malloc(nn * s->words * sizeof(uint64_t));
        if (!s->anc)
            return LCT_ERR_NOMEM;
    }
    /* (launch_order, index) packed in one key: sorting needs no context */
    uint64_t *key = malloc(nn * sizeof(uint64_t));
    if (!key)
        return LCT_ERR_NOMEM;
    for (uint32_t i = 0; i < n; i++)
        key[i] = (uint64_t)LCT_NODE(g, i)->launch_order << 32 | i;
    qsort(key, n, sizeof(uint64_t), cmp_u64);
    for (uint32_t i = 0; i < n; i++)
        s->order[i] = (uint32_t)key[i];
    free(key);

    size_t nr = 0;
    for (uint32_t p = 0; p < n; p++) {
        const lct_node_t *nd = LCT_NODE(g, s->order[p]);
        s->barrier[p] = node_is_barrier(nd, pat);
        if (!s->barrier[p])
            nr += nd->fp.nranges;
    }
    if (nr > UINT32_MAX / 2) {
        LCT_WARN("dependency reconstruction: %zu ranges exceed the supported count", nr);
        return LCT_ERR_INVALID;
    }
    uint64_t *coord = malloc((2 * nr + 1) * sizeof(uint64_t));
    s->rng = malloc((nr + 1) * sizeof(crange_t));
    if (!coord || !s->rng) {
        free(coord);
        return LCT_ERR_NOMEM;
    }
    size_t nc = 0;
    for (uint32_t p = 0; p < n; p++) {
        const lct_node_t *nd = LCT_NODE(g, s->order[p]);
        if (s->barrier[p])
            continue;
        for (uint32_t k = 0; k < nd->fp.nranges; k++) {
            const lct_range_t *r = &nd->fp.ranges[k];
            if (r->size == 0 || r->addr + r->size < r->addr) {
                LCT_WARN("node %u (%s): range %u has size 0 or wraps around", s->order[p], nd->name,
                         k);
                free(coord);
                return LCT_ERR_INVALID;
            }
            coord[nc++] = r->addr;
            coord[nc++] = r->addr + r->size;
        }
    }
    qsort(coord, nc, sizeof(uint64_t), cmp_u64);
    uint32_t nu = 0;
    for (size_t i = 0; i < nc; i++)
        if (i == 0 || coord[i] != coord[i - 1])
            coord[nu++] = coord[i];
    size_t k = 0;
    for (uint32_t p = 0; p < n; p++) {
        const lct_node_t *nd = LCT_NODE(g, s->order[p]);
        s->rng_off[p] = (uint32_t)k;
        if (s->barrier[p])
            continue;
        for (uint32_t j = 0; j < nd->fp.nranges; j++) {
            const lct_range_t *r = &nd->fp.ranges[j];
            uint8_t acc = range_access(nd, r);
            if (!acc) /* malformed access mode: when in doubt, order */
                acc = LCT_ACC_RW;
            s->rng[k].lo = coord_index(coord, nu, r->addr);
            s->rng[k].hi = coord_index(coord, nu, r->addr + r->size);
            s->rng[k].acc = acc;
            k++;
        }
    }
    s->rng_off[n] = (uint32_t)k;
    free(coord);
    return amap_init(&s->amap, nu ? nu - 1 : 0);
}

/* Record u as a predecessor of the current node (position cur); one entry per pair, the
 * strongest reason wins: COLL over DATA over BARRIER, RAW over WAW over WAR. */
static lct_status_t pred_add(sweep_t *s, uint32_t cur, uint32_t u, uint8_t kind, uint8_t hazard)
{
    static const uint8_t rank[LCT_EDGE_KIND_COUNT] = {
        [LCT_EDGE_BARRIER] = 1, [LCT_EDGE_DATA] = 2, [LCT_EDGE_COLL] = 3};
    if (s->mark[u] == cur + 1) {
        pred_t *e = &s->preds.data[s->slot[u]];
        if (rank[kind] > rank[e->kind])
            e->kind = kind;
        if (hazard > e->hazard)
            e->hazard = hazard;
        return LCT_OK;
    }
    s->mark[u] = cur + 1;
    s->slot[u] = (uint32_t)s->preds.len;
    pred_t e = {u, kind, hazard, 0};
    return LCT_VEC_PUSH(&s->preds, e);
}

/* Hazards of the node at position cur against the live runs (writers/readers >= seg). */
static lct_status_t sweep_query(sweep_t *s, uint32_t cur, uint32_t seg)
{
    amap_t *a = &s->amap;
    for (uint32_t k = s->rng_off[cur]; k < s->rng_off[cur + 1]; k++) {
        const crange_t *r = &s->rng[k];
        amap_split(a, r->lo);
        amap_split(a, r->hi);
        for (uint32_t x = r->lo; x < r->hi; x = amap_succ(a, x + 1)) {
            uint32_t w = a->writer[x];
            bool wlive = w != NONE && w >= seg;
            if ((r->acc & LCT_ACC_READ) && wlive)
                LCT_CHECK(pred_add(s, cur, w, LCT_EDGE_DATA, HZ_RAW));
            if (!(r->acc & LCT_ACC_WRITE))
                continue;
            uint32_t c = a->rhead[x];
            bool readers = c != NONE && a->cells.data[c].reader >= seg;
            /* Cells are newest first; a cell this query already walked means the rest of the
             * (shared) list was walked too. */
            for (; c != NONE; c = a->cells.data[c].next) {
                cell_t *cl = &a->cells.data[c];
                if (cl->reader < seg || cl->mark == cur + 1)
                    break;
                cl->mark = cur + 1;
                LCT_CHECK(pred_add(s, cur, cl->reader, LCT_EDGE_DATA, HZ_WAR));
            }
            if (!readers && wlive)
                LCT_CHECK(pred_add(s, cur, w, LCT_EDGE_DATA, HZ_WAW));
        }
    }
    return LCT_OK;
}

/* The node at position cur becomes a reader, then the writer, of its ranges. */
static lct_status_t sweep_update(sweep_t *s, uint32_t cur)
{
    amap_t *a = &s->amap;
    for (uint32_t k = s->rng_off[cur]; k < s->rng_off[cur + 1]; k++) {
        const crange_t *r = &s->rng[k];
        if (r->acc != LCT_ACC_READ)
            continue;
        amap_split(a, r->lo);
        amap_split(a, r->hi);
        /* Neighbouring runs with the same reader list share the new cell: a read of a buffer
         * made of many separately written pieces adds one cell, not one per piece. */
        uint32_t prev_h = NONE, prev_cell = NONE;
        for (uint32_t x = r->lo; x < r->hi; x = amap_succ(a, x + 1)) {
            uint32_t h = a->rhead[x];
            if (h != NONE && a->cells.data[h].reader == cur)
                continue;
            if (prev_cell == NONE || h != prev_h) {
                cell_t c = {cur, h, 0};
                LCT_CHECK(LCT_VEC_PUSH(&a->cells, c));
                if (a->cells.len >= NONE) {
                    LCT_WARN("dependency reconstruction: reader lists exceed the supported size");
                    return LCT_ERR_INVALID;
                }
                prev_h = h;
                prev_cell = (uint32_t)(a->cells.len - 1);
            }
            a->rhead[x] = prev_cell;
        }
    }
    for (uint32_t k = s->rng_off[cur]; k < s->rng_off[cur + 1]; k++) {
        const crange_t *r = &s->rng[k];
        if (!(r->acc & LCT_ACC_WRITE))
            continue;
        amap_split(a, r->lo);
        amap_split(a, r->hi);
        for (uint32_t x = amap_succ(a, r->lo + 1); x < r->hi; x = amap_succ(a, x + 1))
            amap_clear(a, x);
        a->writer[r->lo] = cur;
        a->rhead[r->lo] = NONE;
    }
    return LCT_OK;
}

static int cmp_pred(const void *pa, const void *pb)
{
    uint32_t a = ((const pred_t *)pa)->u, b = ((const pred_t *)pb)->u;
    return a < b ? -1 : a > b;
}

/* Order the predecessors of cur by position: qsort when few, a bitset sweep when many (a read of
 * a buffer written in thousands of pieces has thousands of predecessors). */
static lct_status_t preds_sort(sweep_t *s, uint32_t cur)
{
    size_t np = s->preds.len;
    if (np < 16) {
        qsort(s->preds.data, np, sizeof(pred_t), cmp_pred);
        return LCT_OK;
    }
    uint32_t lo = cur;
    for (size_t i = 0; i < np; i++) {
        lct_bitset_set(s->scratch, s->preds.data[i].u);
        if (s->preds.data[i].u < lo)
            lo = s->preds.data[i].u;
    }
    LCT_CHECK(LCT_VEC_RESERVE(&s->sorted, np));
    s->sorted.len = 0;
    for (size_t w = lo >> 6; w <= (size_t)(cur >> 6); w++)
        for (uint64_t b = s->scratch[w]; b; b &= b - 1) {
            uint32_t u = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(b));
            s->sorted.data[s->sorted.len++] = s->preds.data[s->slot[u]];
        }
    for (size_t w = lo >> 6; w <= (size_t)(cur >> 6); w++)
        s->scratch[w] = 0;
    pred_t *t = s->preds.data;
    s->preds.data = s->sorted.data;
    s->sorted.data = t;
    size_t c = s->preds.cap;
    s->preds.cap = s->sorted.cap;
    s->sorted.cap = c;
    return LCT_OK;
}

/* Emit the predecessors of cur as edges, in increasing source position. Online, a predecessor
 * already reached through a later one is implied: taken in decreasing position, each kept
 * predecessor adds itself and its ancestors to cur's row (a predecessor that reaches another
 * comes earlier in launch order, so it is tested after the one it reaches has been merged). */
static lct_status_t sweep_emit(sweep_t *s, uint32_t cur)
{
    size_t np = s->preds.len;
    uint64_t *row = NULL;
    if (s->online) {
        row = s->anc + (size_t)cur * s->words;
        memset(row, 0, ((cur >> 6) + 1) * sizeof(uint64_t));
    }
    if (!np)
        return LCT_OK;
    LCT_CHECK(preds_sort(s, cur));
    if (s->online)
        for (size_t i = np; i-- > 0;) {
            pred_t *p = &s->preds.data[i];
            if (lct_bitset_test(row, p->u)) {
                p->implied = 1;
                continue;
            }
            const uint64_t *up = s->anc + (size_t)p->u * s->words;
            for (size_t w = 0; w <= (p->u >> 6); w++)
                row[w] |= up[w];
            lct_bitset_set(row, p->u);
        }
    LCT_CHECK(LCT_VEC_RESERVE(&s->edges, s->edges.len + np));
    for (size_t i = 0; i < np; i++) {
        const pred_t *p = &s->preds.data[i];
        switch (p->kind) {
        case LCT_EDGE_DATA:
            s->stats.raw += p->hazard == HZ_RAW;
            s->stats.waw += p->hazard == HZ_WAW;
            s->stats.war += p->hazard == HZ_WAR;
            break;
        case LCT_EDGE_COLL:
            s->stats.coll++;
            break;
        default:
            s->stats.barrier++;
            break;
        }
        s->outdeg[p->u]++;
        s->ncand++;
        if (p->implied)
            continue;
        cand_t e = {p->u, cur, p->kind, p->kind == LCT_EDGE_DATA ? p->hazard : HZ_NONE};
        s->edges.data[s->edges.len++] = e;
    }
    s->preds.len = 0;
    return LCT_OK;
}

static lct_status_t sweep_run(sweep_t *s)
{
    const lct_graph_t *g = s->g;
    lct_map_t last_coll; /* communicator -> position + 1 of its latest collective */
    lct_status_t st = LCT_OK;
    uint32_t seg = 0, last_barrier = NONE;
    lct_map_init(&last_coll);
    for (uint32_t cur = 0; cur < s->n; cur++) {
        const lct_node_t *nd = LCT_NODE(g, s->order[cur]);
        if (s->barrier[cur]) {
            /* Close the segment: its sinks, or the previous barrier when it is empty. */
            if (seg == cur && last_barrier != NONE)
                LCT_CHECK_GOTO(pred_add(s, cur, last_barrier, LCT_EDGE_BARRIER, HZ_NONE), st, out);
            for (uint32_t x = seg; x < cur; x++)
                if (!s->outdeg[x])
                    LCT_CHECK_GOTO(pred_add(s, cur, x, LCT_EDGE_BARRIER, HZ_NONE), st, out);
        } else {
            LCT_CHECK_GOTO(sweep_query(s, cur, seg), st, out);
        }
        if (nd->kind == LCT_NODE_COLLECTIVE) {
            uint64_t prev;
            if (lct_map_get(&last_coll, nd->coll.comm, &prev))
                LCT_CHECK_GOTO(pred_add(s, cur, (uint32_t)(prev - 1), LCT_EDGE_COLL, HZ_NONE), st,
                               out);
            LCT_CHECK_GOTO(lct_map_put(&last_coll, nd->coll.comm, (uint64_t)cur + 1), st, out);
        }
        if (!s->barrier[cur] && last_barrier != NONE) {
            /* Without a predecessor inside the segment, nothing orders it after the barrier. */
            bool inside = false;
            for (size_t i = 0; i < s->preds.len && !inside; i++)
                inside = s->preds.data[i].u >= seg;
            if (!inside)
                LCT_CHECK_GOTO(pred_add(s, cur, last_barrier, LCT_EDGE_BARRIER, HZ_NONE), st, out);
        }
        LCT_CHECK_GOTO(sweep_emit(s, cur), st, out);
        if (s->barrier[cur]) {
            last_barrier = cur;
            seg = cur + 1;
        } else {
            LCT_CHECK_GOTO(sweep_update(s, cur), st, out);
        }
    }
out:
    lct_map_free(&last_coll);
    return st;
}

/* ---- transitive reduction ---- */

/* Mark in removed[] the candidate edges implied by other paths. Edges are sorted by destination
 * position, and every edge goes to a higher position. */
static lct_status_t reduce_edges(uint32_t n, const cand_t *e, size_t ne, size_t mem,
                                 uint8_t *removed)
{
    lct_status_t st = LCT_OK;
    size_t words = LCT_BITSET_WORDS((size_t)n);
    uint32_t *off = calloc((size_t)n + 2, sizeof(uint32_t));
    uint32_t *dst = malloc((ne + 1) * sizeof(uint32_t));
    uint32_t *eid = malloc((ne + 1) * sizeof(uint32_t));
    uint64_t *rows = NULL;
    if (!off || !dst || !eid) {
        st = LCT_ERR_NOMEM;
        goto out;
    }
    /* successor lists by source; filling in edge order keeps each list sorted by destination */
    for (size_t i = 0; i < ne; i++)
        off[e[i].src + 1]++;
    for (uint32_t v = 0; v < n; v++)
        off[v + 1] += off[v];
    for (size_t i = 0; i < ne; i++) {
        uint32_t k = off[e[i].src]++;
        dst[k] = e[i].dst;
        eid[k] = (uint32_t)i;
    }
    for (uint32_t v = n; v > 0; v--)
        off[v] = off[v - 1];
    off[0] = 0;

    size_t bw = (mem ? mem : REDUCE_MEM_BYTES) / (((size_t)n ? n : 1) * sizeof(uint64_t));
    if (bw < 1)
        bw = 1;
    if (bw > words)
        bw = words;
    rows = malloc(((size_t)n * bw + 1) * sizeof(uint64_t));
    if (!rows) {
        st = LCT_ERR_NOMEM;
        goto out;
    }
    for (size_t c0 = 0; c0 < words; c0 += bw) {
        size_t cw = words - c0 < bw ? words - c0 : bw;
        uint64_t lo = (uint64_t)c0 * 64, hi = (uint64_t)(c0 + cw) * 64;
        /* A row only has bits above its own position: rows at or above hi are empty here, and
         * words below a row's own word are never read, so they are not cleared either. */
        uint32_t top = hi < n ? (uint32_t)hi : n;
        for (uint32_t u = top; u-- > 0;) {
            uint64_t *row = rows + (size_t)u * bw;
            size_t w0 = (u >> 6) > c0 ? (u >> 6) - c0 : 0;
            memset(row + w0, 0, (cw - w0) * sizeof(uint64_t));
            for (uint32_t k = off[u]; k < off[u + 1]; k++) {
                uint32_t w = dst[k];
                if (w >= hi)
                    break; /* sorted: the rest lie above the block */
                if (w >= lo) {
                    if (lct_bitset_test(row, w - lo))
                        removed[eid[k]] = 1;
                    lct_bitset_set(row, w - lo);
                }
                size_t v0 = (w >> 6) > c0 ? (w >> 6) - c0 : 0;
                const uint64_t *src = rows + (size_t)w * bw;
                for (size_t i = v0; i < cw; i++)
                    row[i] |= src[i];
            }
        }
    }
out:
    free(off);
    free(dst);
    free(eid);
    free(rows);
    return st;
}

/* ---- edge data of the original edges ---- */

typedef struct {
    uint32_t src, dst, data;
} edata_t;

static int cmp_edata(const void *pa, const void *pb)
{
    const edata_t *a = pa, *b = pb;
    if (a->src != b->src)
        return a->src < b->src ? -1 : 1;
    if (a->dst != b->dst)
        return a->dst < b->dst ? -1 : 1;
    return a->data < b->data ? -1 : a->data > b->data;
}

static uint32_t edata_find(const edata_t *d, size_t nd, uint32_t src, uint32_t dst)
{
    size_t lo = 0, hi = nd;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d[mid].src < src || (d[mid].src == src && d[mid].dst < dst))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < nd && d[lo].src == src && d[lo].dst == dst ? d[lo].data : 0;
}

/* ---- entry point ---- */

#define REBUILT_KINDS                                                                              \
    ((1u << LCT_EDGE_STREAM) | (1u << LCT_EDGE_EVENT) | (1u << LCT_EDGE_DATA) |                    \
     (1u << LCT_EDGE_COLL) | (1u << LCT_EDGE_BARRIER))

/* Allocation placement. A mem_alloc node whose only edges go to the users of its bytes has no
 * predecessor, so an executor runs it at the start of the graph and every allocation of the step
 * is live at once (invariant 6, bounded memory). It gets the predecessors of its first user (in
 * launch order) that were launched before the allocation instead: those finish before that user
 * anyway, so the allocation happens no earlier than the program allowed and no two compute nodes
 * become ordered through it that the first user did not already order. The edges are STREAM
 * edges (the allocation's place) and run forward in launch order. */
static lct_status_t place_allocs(lct_graph_t *g, uint32_t *added_p)
{
    uint32_t n = LCT_NNODES(g), added = 0;
    for (uint32_t a = 0; a < n; a++) {
        if (LCT_NODE(g, a)->kind != LCT_NODE_MEM_ALLOC)
            continue;
        uint32_t first = NONE;
        for (uint32_t i = g->succ_off[a]; i < g->succ_off[a + 1]; i++) {
            uint32_t v = g->succ[i];
            if (first == NONE || LCT_NODE(g, v)->launch_order < LCT_NODE(g, first)->launch_order ||
                (LCT_NODE(g, v)->launch_order == LCT_NODE(g, first)->launch_order && v < first))
                first = v;
        }
        if (first == NONE)
            continue;
        for (uint32_t i = g->pred_off[first]; i < g->pred_off[first + 1]; i++) {
            uint32_t p = g->pred[i];
            const lct_node_t *pn = LCT_NODE(g, p), *an = LCT_NODE(g, a);
            /* only predecessors launched before the allocation: every edge then runs forward in
             * launch order, so placements can never close a cycle among themselves */
            bool before = pn->launch_order < an->launch_order ||
                          (pn->launch_order == an->launch_order && p < a);
            if (p == a || !before || lct_graph_has_edge(g, p, a))
                continue;
            LCT_CHECK(lct_graph_add_edge(g, p, a, LCT_EDGE_STREAM));
            added++;
        }
    }
    *added_p = added;
    return LCT_OK;
}

lct_status_t lct_deps_rebuild(lct_graph_t *g, const lct_deps_opts_t *opts,
                              lct_deps_stats_t *stats_p)
{
    lct_deps_opts_t o = opts ? *opts : lct_deps_opts_default();
    lct_deps_stats_t stats;
    patterns_t pat;
    sweep_t s;
    uint8_t *removed = NULL;
    edata_t *ed = NULL;
    size_t ned = 0;
    lct_status_t st;
    memset(&stats, 0, sizeof(stats));
    memset(&s, 0, sizeof(s));
    if (!g) {
        LCT_WARN("dependency reconstruction: no graph");
        return LCT_ERR_INVALID;
    }
    LCT_CHECK(patterns_parse(o.opaque_kernels, &pat));
    s.g = g;
    s.n = LCT_NNODES(g);
    /* Reduce online when the ancestor rows fit the memory allowed, else in column blocks after
     * the sweep; both give the one transitive reduction of the DAG. */
    size_t cap = o.reduce_mem_bytes ? o.reduce_mem_bytes : REDUCE_MEM_BYTES;
    size_t nn = (size_t)s.n + 1, words = LCT_BITSET_WORDS(nn);
    s.online = o.transitive_reduction && nn * words <= cap / sizeof(uint64_t);
    LCT_CHECK_GOTO(sweep_prepare(&s, &pat), st, out);
    LCT_CHECK_GOTO(sweep_run(&s), st, out);

    size_t ne = s.edges.len;
    removed = calloc(ne + 1, 1);
    if (!removed) {
        st = LCT_ERR_NOMEM;
        goto out;
    }
    if (o.transitive_reduction && !s.online)
        LCT_CHECK_GOTO(reduce_edges(s.n, s.edges.data, ne, cap, removed), st, out);

    /* Edge data (e.g. programmatic ports) of replaced edges follows the same node pair. */
    ed = malloc((g->edges.len + 1) * sizeof(*ed));
    if (!ed) {
        st = LCT_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < g->edges.len; i++) {
        const lct_edge_t *e = &g->edges.data[i];
        if (e->data && (REBUILT_KINDS & (1u << e->kind)))
            ed[ned++] = (edata_t){e->src, e->dst, e->data};
    }
    qsort(ed, ned, sizeof(*ed), cmp_edata);

    /* New edge list: kept SCHED edges in their order, then the reconstructed ones. */
    __typeof__(g->edges) nedges = {NULL, 0, 0};
    size_t keep = 0;
    for (size_t i = 0; i < g->edges.len; i++)
        keep += !(REBUILT_KINDS & (1u << g->edges.data[i].kind));
    LCT_CHECK_GOTO(LCT_VEC_RESERVE(&nedges, keep + ne + 1), st, out);
    for (size_t i = 0; i < g->edges.len; i++)
        if (!(REBUILT_KINDS & (1u << g->edges.data[i].kind)))
            nedges.data[nedges.len++] = g->edges.data[i];
    stats = s.stats;
    for (size_t i = 0; i < ne; i++) {
        const cand_t *c = &s.edges.data[i];
        if (removed[i])
            continue;
        lct_edge_t e = {s.order[c->src], s.order[c->dst], (lct_edge_kind_t)c->kind, 0};
        e.data = edata_find(ed, ned, e.src, e.dst);
        nedges.data[nedges.len++] = e;
    }
    stats.edges_before = s.ncand;
    stats.edges_after = (uint32_t)(nedges.len - keep);
    stats.removed_by_reduction = stats.edges_before - stats.edges_after;

    /* Install, and keep the original edges should the kept SCHED edges close a cycle. */
    __typeof__(g->edges) old = g->edges;
    bool old_adj = g->adj_valid;
    g->edges = nedges;
    st = lct_graph_fill_adj(g);
    if (st != LCT_OK) {
        g->edges = old;
        LCT_VEC_FREE(&nedges);
        if (old_adj)
            (void)lct_graph_fill_adj(g);
        goto out;
    }
    LCT_VEC_FREE(&old);
    /* Place allocations; should the new edges close a cycle through kept SCHED edges, drop them:
     * the graph is still correct, only its memory is less bounded (logged). */
    size_t before_place = g->edges.len;
    uint32_t placed = 0;
    LCT_CHECK_GOTO(place_allocs(g, &placed), st, out);
    if (placed && lct_graph_fill_adj(g) != LCT_OK) {
        LCT_WARN("allocation placement would close a cycle through scheduling edges; "
                 "allocations left unplaced");
        g->edges.len = before_place;
        placed = 0;
        LCT_CHECK_GOTO(lct_graph_fill_adj(g), st, out);
    }
    stats.placement = placed;
    LCT_DEBUG(ANALYSIS, "deps: %u nodes, raw %u war %u waw %u barrier %u coll %u, %u -> %u edges",
              s.n, stats.raw, stats.war, stats.waw, stats.barrier, stats.coll, stats.edges_before,
              stats.edges_after);
    if (stats_p)
        *stats_p = stats;
out:
    free(ed);
    free(removed);
    sweep_free(&s);
    patterns_free(&pat);
    return st;
}
