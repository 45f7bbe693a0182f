/* The race checker of the simulated device (issue 3 §6): the ground truth for "no race".
 *
 * Invariant checked: no two operations that may run concurrently touch overlapping bytes of one
 * allocation unless both only read. Footprints come from the kernels' providers (describe), and
 * from the sizes of copies, memsets and graph memory nodes.
 *
 * Graphs: once per instantiated exec (and again after an update or set-params), every pair of
 * nodes with overlapping footprints (at least one write) must be ordered by the graph's edges.
 * Pairs are found by a sweep over all intervals sorted by (allocation, start), keeping the live
 * read and write intervals apart so that reads never compare with reads; order is answered from
 * descendant bitsets built in reverse topological order (a depth-first search above 20000
 * nodes, where the bitsets would be too large).
 *
 * Streams: happens-before is tracked with vector clocks indexed by stream id. An operation's clock
 * joins its stream's clock, the clocks of the events it waits for, the legacy stream rules and
 * what the host has observed (synchronisations, successful queries). A new operation is compared
 * with every earlier operation of another stream that it does not happen after; a graph launch
 * enters as one operation with the union of its nodes' footprints. Operations all future work
 * happens after (the host observed them) leave the window.
 *
 * On a race both operations are printed (names, streams or graph node ids, the overlapping
 * range); SIMDEV_RACE=fatal (default) then exits with status 86, warn only reports. */
#include <stdlib.h>
#include <string.h>

#include "sd_internal.h"

#define SD_RACE_EXIT 86
#define SD_WINDOW_MAX 200000
#define SD_BITSET_MAX_NODES 20000

/* ---- vector clocks ---- */

uint64_t sd_vc_get(const sd_vc_t *vc, uint32_t i)
{
    return i < vc->n ? vc->c[i] : 0;
}

static void sd_vc_grow(sd_vc_t *vc, uint32_t n)
{
    if (n <= vc->n)
        return;
    uint64_t *c = realloc(vc->c, n * sizeof(uint64_t));
    if (!c) {
        fprintf(stderr, "simdev: out of host memory\n");
        abort();
    }
    memset(c + vc->n, 0, (n - vc->n) * sizeof(uint64_t));
    vc->c = c;
    vc->n = n;
}

void sd_vc_set(sd_vc_t *vc, uint32_t i, uint64_t v)
{
    sd_vc_grow(vc, i + 1);
    vc->c[i] = v;
}

void sd_vc_join(sd_vc_t *dst, const sd_vc_t *src)
{
    sd_vc_grow(dst, src->n);
    for (uint32_t i = 0; i < src->n; i++)
        if (src->c[i] > dst->c[i])
            dst->c[i] = src->c[i];
}

void sd_vc_copy(sd_vc_t *dst, const sd_vc_t *src)
{
    if (dst == src)
        return;
    free(dst->c);
    dst->c = NULL;
    dst->n = 0;
    sd_vc_join(dst, src);
}

void sd_vc_free(sd_vc_t *vc)
{
    free(vc->c);
    vc->c = NULL;
    vc->n = 0;
}

/* ---- footprints ---- */

static int sd_iv_cmp(const void *a, const void *b)
{
    const sd_iv_t *x = a, *y = b;
    if (x->alloc != y->alloc)
        return x->alloc < y->alloc ? -1 : 1;
    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    return x->hi < y->hi ? -1 : x->hi > y->hi;
}

void sd_rset_add_iv(sd_rset_t *s, const sd_iv_t *iv, int write)
{
    if (iv->hi <= iv->lo)
        return;
    if (write)
        SD_VEC_PUSH(&s->w, *iv);
    else
        SD_VEC_PUSH(&s->r, *iv);
}

void sd_rset_add(sd_rset_t *s, uint64_t addr, uint64_t size, int write)
{
    uint64_t end = addr + size < addr ? UINT64_MAX : addr + size;
    while (addr < end) {
        sd_alloc_t *a = sd_mem_find(addr);
        sd_iv_t iv;
        if (a) {
            uint64_t aend = a->base + a->size;
            iv = (sd_iv_t){a->id, addr, end < aend ? end : aend};
        } else {
            iv = (sd_iv_t){0, addr, end};
        }
        sd_rset_add_iv(s, &iv, write);
        addr = iv.hi;
    }
}

static void sd_ivs_normalize(sd_iv_t *v, size_t *n)
{
    if (*n < 2)
        return;
    qsort(v, *n, sizeof(*v), sd_iv_cmp);
    size_t k = 0;
    for (size_t i = 1; i < *n; i++) {
        if (v[i].alloc == v[k].alloc && v[i].lo <= v[k].hi) {
            if (v[i].hi > v[k].hi)
                v[k].hi = v[i].hi;
        } else {
            v[++k] = v[i];
        }
    }
    *n = k + 1;
}

void sd_rset_normalize(sd_rset_t *s)
{
    sd_ivs_normalize(s->r.v, &s->r.n);
    sd_ivs_normalize(s->w.v, &s->w.n);
}

void sd_rset_union(sd_rset_t *dst, const sd_rset_t *src)
{
    for (size_t i = 0; i < src->r.n; i++)
        SD_VEC_PUSH(&dst->r, src->r.v[i]);
    for (size_t i = 0; i < src->w.n; i++)
        SD_VEC_PUSH(&dst->w, src->w.v[i]);
    sd_rset_normalize(dst);
}

static int sd_ivs_overlap(const sd_iv_t *x, size_t nx, const sd_iv_t *y, size_t ny, sd_iv_t *where)
{
    size_t i = 0, j = 0;
    while (i < nx && j < ny) {
        const sd_iv_t *a = &x[i], *b = &y[j];
        if (a->alloc < b->alloc || (a->alloc == b->alloc && a->hi <= b->lo))
            i++;
        else if (b->alloc < a->alloc || (a->alloc == b->alloc && b->hi <= a->lo))
            j++;
        else {
            if (where) {
                where->alloc = a->alloc;
                where->lo = a->lo > b->lo ? a->lo : b->lo;
                where->hi = a->hi < b->hi ? a->hi : b->hi;
            }
            return 1;
        }
    }
    return 0;
}

int sd_rset_conflict(const sd_rset_t *a, const sd_rset_t *b, sd_iv_t *where)
{
    return sd_ivs_overlap(a->w.v, a->w.n, b->w.v, b->w.n, where) ||
           sd_ivs_overlap(a->w.v, a->w.n, b->r.v, b->r.n, where) ||
           sd_ivs_overlap(a->r.v, a->r.n, b->w.v, b->w.n, where);
}

void sd_rset_free(sd_rset_t *s)
{
    SD_VEC_FREE(&s->r);
    SD_VEC_FREE(&s->w);
}

/* ---- reporting ---- */

static int sd_race_count;

static void sd_race_found(const char *a, const char *b, const sd_iv_t *where)
{
    sd_race_count++;
    fprintf(stderr,
            "simdev: RACE: %s and %s may run concurrently and both touch [0x%llx, 0x%llx) "
            "(%llu bytes) of allocation #%llu, at least one of them writing\n",
            a, b, (unsigned long long)where->lo, (unsigned long long)where->hi,
            (unsigned long long)(where->hi - where->lo), (unsigned long long)where->alloc);
    if (sd.race == 2) {
        fprintf(stderr, "simdev: exiting with status %d (SIMDEV_RACE=fatal; SIMDEV_RACE=warn "
                        "only reports)\n", SD_RACE_EXIT);
        fflush(stderr);
        sd.race_exit = 1;
        exit(SD_RACE_EXIT);
    }
}

/* The first node of exec x whose footprint conflicts with iv (to name it in a report). */
static const sd_xnode_t *sd_exec_node_at(CUgraphExec x, const sd_iv_t *iv, size_t *idx)
{
    sd_rset_t probe = {0};
    sd_rset_add_iv(&probe, iv, 1);
    for (size_t i = 0; i < x->n; i++)
        if (x->nodes[i].enabled && sd_rset_conflict(&x->nodes[i].rs, &probe, NULL)) {
            sd_rset_free(&probe);
            *idx = i;
            return &x->nodes[i];
        }
    sd_rset_free(&probe);
    return NULL;
}

/* ---- the stream window ---- */

typedef struct {
    uint64_t seq;
    uint32_t stream_id;
    uint64_t corr;
    const char *name;
    CUgraphExec exec;
    sd_rset_t rs;
} sd_rentry_t;

typedef SD_VEC(sd_rentry_t *) sd_rlist_t;
static SD_VEC(sd_rlist_t) sd_window; /* by stream id */

static void sd_entry_desc(const sd_rentry_t *e, const sd_iv_t *where, char *buf, size_t n)
{
    if (e->exec && e->exec->magic == SD_MAGIC_EXEC) {
        size_t idx;
        const sd_xnode_t *xn = sd_exec_node_at(e->exec, where, &idx);
        snprintf(buf, n, "graph exec %u (of graph %u) launched on stream %u (correlation %llu), "
                         "node %llu %s", e->exec->id, e->exec->graph_id, e->stream_id,
                 (unsigned long long)e->corr, xn ? (unsigned long long)xn->node_id : 0ull,
                 xn ? sd_work_name(&xn->w) : "?");
    } else {
        snprintf(buf, n, "%s on stream %u (correlation %llu)", e->name, e->stream_id,
                 (unsigned long long)e->corr);
    }
}

void sd_race_stream_op(uint32_t stream_id, uint64_t seq, const sd_vc_t *vc, sd_rset_t *rs,
                       const char *name, uint64_t corr, CUgraphExec exec)
{
    if (!sd.race || (!rs->r.n && !rs->w.n)) {
        sd_rset_free(rs);
        return;
    }
    sd_rset_normalize(rs);
    sd_rentry_t *e = sd_xcalloc(1, sizeof(*e));
    e->seq = seq;
    e->stream_id = stream_id;
    e->corr = corr;
    e->name = name;
    e->exec = exec;
    e->rs = *rs;
    memset(rs, 0, sizeof(*rs));
    for (uint32_t t = 0; t < sd_window.n; t++) {
        if (t == stream_id)
            continue;
        sd_rlist_t *l = &sd_window.v[t];
        uint64_t bound = sd_vc_get(vc, t);
        for (size_t i = l->n; i-- > 0 && l->v[i]->seq > bound;) {
            sd_iv_t where;
            if (sd_rset_conflict(&e->rs, &l->v[i]->rs, &where)) {
                char a[512], b[512];
                sd_entry_desc(l->v[i], &where, a, sizeof(a));
                sd_entry_desc(e, &where, b, sizeof(b));
                sd_race_found(a, b, &where);
            }
        }
    }
    while (sd_window.n <= stream_id) {
        sd_rlist_t empty = {0};
        SD_VEC_PUSH(&sd_window, empty);
    }
    sd_rlist_t *mine = &sd_window.v[stream_id];
    if (mine->n >= SD_WINDOW_MAX) {
        /* A program that never synchronises: forget the oldest operation of this stream. */
        sd_rset_free(&mine->v[0]->rs);
        free(mine->v[0]);
        memmove(&mine->v[0], &mine->v[1], (mine->n - 1) * sizeof(mine->v[0]));
        mine->n--;
    }
    SD_VEC_PUSH(mine, e);
}

void sd_race_prune(const sd_vc_t *host_vc)
{
    for (uint32_t t = 0; t < sd_window.n; t++) {
        sd_rlist_t *l = &sd_window.v[t];
        uint64_t bound = sd_vc_get(host_vc, t);
        size_t k = 0;
        while (k < l->n && l->v[k]->seq <= bound) {
            sd_rset_free(&l->v[k]->rs);
            free(l->v[k]);
            k++;
        }
        if (k) {
            memmove(&l->v[0], &l->v[k], (l->n - k) * sizeof(l->v[0]));
            l->n -= k;
        }
    }
}

void sd_race_exec_gone(CUgraphExec x)
{
    for (uint32_t t = 0; t < sd_window.n; t++)
        for (size_t i = 0; i < sd_window.v[t].n; i++)
            if (sd_window.v[t].v[i]->exec == x) {
                sd_window.v[t].v[i]->exec = NULL;
                sd_window.v[t].v[i]->name = "graph launch (exec since destroyed)";
            }
}

/* ---- graph execs ---- */

typedef struct {
    sd_iv_t iv;
    uint32_t node;
    int write;
} sd_item_t;

static int sd_item_cmp(const void *a, const void *b)
{
    const sd_item_t *x = a, *y = b;
    int c = sd_iv_cmp(&x->iv, &y->iv);
    if (c)
        return c;
    if (x->node != y->node)
        return x->node < y->node ? -1 : 1;
    return x->write - y->write;
}

typedef struct {
    CUgraphExec x;
    uint64_t *bits;       /* descendants, n words-per-row bitsets; NULL: use search */
    size_t words;
    uint32_t *stamp;      /* search fallback */
    uint32_t epoch;
    SD_VEC(uint32_t) stack;
} sd_reach_t;

static void sd_reach_build(sd_reach_t *R)
{
    CUgraphExec x = R->x;
    if (x->n > SD_BITSET_MAX_NODES) {
        R->stamp = sd_xcalloc(x->n, sizeof(uint32_t));
        return;
    }
    R->words = (x->n + 63) / 64;
    R->bits = sd_xcalloc(x->n * R->words, sizeof(uint64_t));
    for (size_t u = x->n; u-- > 0;) {
        uint64_t *ru = R->bits + u * R->words;
        for (size_t k = 0; k < x->nodes[u].succ.n; k++) {
            uint32_t v = x->nodes[u].succ.v[k];
            const uint64_t *rv = R->bits + (size_t)v * R->words;
            for (size_t w = 0; w < R->words; w++)
                ru[w] |= rv[w];
            ru[v / 64] |= 1ull << (v % 64);
        }
    }
}

/* Is there a path from a to b (a before b in topological order)? */
static int sd_reach(sd_reach_t *R, uint32_t a, uint32_t b)
{
    if (!R->bits && !R->stamp)
        sd_reach_build(R);
    if (R->bits)
        return (R->bits[(size_t)a * R->words + b / 64] >> (b % 64)) & 1;
    R->epoch++;
    R->stack.n = 0;
    SD_VEC_PUSH(&R->stack, a);
    while (R->stack.n) {
        uint32_t u = R->stack.v[--R->stack.n];
        const sd_xnode_t *xu = &R->x->nodes[u];
        for (size_t k = 0; k < xu->succ.n; k++) {
            uint32_t v = xu->succ.v[k];
            if (v == b)
                return 1;
            if (v < b && R->stamp[v] != R->epoch) {
                R->stamp[v] = R->epoch;
                SD_VEC_PUSH(&R->stack, v);
            }
        }
    }
    return 0;
}

static int sd_ordered(sd_reach_t *R, uint32_t a, uint32_t b)
{
    return a < b ? sd_reach(R, a, b) : sd_reach(R, b, a);
}

static void sd_xnode_desc(CUgraphExec x, uint32_t i, char *buf, size_t n)
{
    const sd_xnode_t *xn = &x->nodes[i];
    snprintf(buf, n, "%s (graph node %llu) of graph exec %u (instantiated from graph %u)",
             sd_work_name(&xn->w), (unsigned long long)xn->node_id, x->id, x->graph_id);
}

void sd_race_check_exec(CUgraphExec x)
{
    x->race_checked = 1;
    if (!sd.race)
        return;
    SD_VEC(sd_item_t) items = {0};
    for (uint32_t i = 0; i < x->n; i++) {
        const sd_xnode_t *xn = &x->nodes[i];
        if (!xn->enabled)
            continue;
        for (size_t k = 0; k < xn->rs.r.n; k++) {
            sd_item_t it = {xn->rs.r.v[k], i, 0};
            SD_VEC_PUSH(&items, it);
        }
        for (size_t k = 0; k < xn->rs.w.n; k++) {
            sd_item_t it = {xn->rs.w.v[k], i, 1};
            SD_VEC_PUSH(&items, it);
        }
    }
    if (items.n)
        qsort(items.v, items.n, sizeof(items.v[0]), sd_item_cmp);
    sd_reach_t R = {.x = x};
    SD_VEC(size_t) live_r = {0};
    SD_VEC(size_t) live_w = {0};
    int reported = 0;
    for (size_t i = 0; i < items.n && reported < 10; i++) {
        const sd_item_t *it = &items.v[i];
        /* Drop intervals that end before this one starts (or lie in another allocation). */
        for (int pass = 0; pass < 2; pass++) {
            size_t *v = pass ? live_w.v : live_r.v, *n = pass ? &live_w.n : &live_r.n, k = 0;
            for (size_t j = 0; j < *n; j++) {
                const sd_item_t *o = &items.v[v[j]];
                if (o->iv.alloc == it->iv.alloc && o->iv.hi > it->iv.lo)
                    v[k++] = v[j];
            }
            *n = k;
        }
        for (int pass = it->write ? 0 : 1; pass < 2 && reported < 10; pass++) {
            const size_t *v = pass ? live_w.v : live_r.v;
            size_t n = pass ? live_w.n : live_r.n;
            for (size_t j = 0; j < n; j++) {
                const sd_item_t *o = &items.v[v[j]];
                if (o->node == it->node || sd_ordered(&R, o->node, it->node))
                    continue;
                sd_iv_t where = {it->iv.alloc, it->iv.lo, o->iv.hi < it->iv.hi ? o->iv.hi : it->iv.hi};
                char a[512], b[512];
                sd_xnode_desc(x, o->node < it->node ? o->node : it->node, a, sizeof(a));
                sd_xnode_desc(x, o->node < it->node ? it->node : o->node, b, sizeof(b));
                sd_race_found(a, b, &where);
                reported++;
                break;
            }
        }
        if (it->write)
            SD_VEC_PUSH(&live_w, i);
        else
            SD_VEC_PUSH(&live_r, i);
    }
    if (reported >= 10)
        sd_log("graph exec %u: further races not reported", x->id);
    SD_VEC_FREE(&live_r);
    SD_VEC_FREE(&live_w);
    SD_VEC_FREE(&items);
    free(R.bits);
    free(R.stamp);
    SD_VEC_FREE(&R.stack);
}
