/* Collective cost curves: the model of what an nccl-tests sweep gives on a fabric, piecewise-linear
 * evaluation, and the curve file.
 *
 * Invariant: every curve in a set has strictly increasing, positive, finite byte sizes and
 * positive, finite times (the model, the reader and the tests keep it), so evaluation needs no
 * checks beyond the number of points, and never reads outside [0, npoints).
 *
 * The model is the usual alpha-beta form that NCCL's own tuning model uses (a base latency, a
 * per-step latency that differs inside a node and across nodes, and the bytes on the bottleneck
 * link over its bandwidth); the formulas per collective are in docs/cost-model.md. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/lct_log.h"
#include "cost/lct_cost.h"

/* Fixed cost of any collective: kernel start and channel set-up. NCCL's tuning model uses base
 * latencies of 6.6-8.4 us for its ring protocols. */
#define COLL_BASE_US 7.0
/* Sample sizes of the modelled curves: 1 KiB .. 4 GiB, powers of two (nccl-tests -b 1K -e 4G -f 2). */
#define CURVE_MIN_LOG2 10
#define CURVE_MAX_LOG2 32
#define CURVE_NPOINTS (CURVE_MAX_LOG2 - CURVE_MIN_LOG2 + 1)
#define CURVES_FORMAT "lancet-curves"
#define CURVES_VERSION 1

void lct_curves_free(lct_curve_set_t *cs)
{
    if (!cs)
        return;
    for (int op = 0; op < LCT_COLL_COUNT; op++) {
        free(cs->curve[op].bytes);
        free(cs->curve[op].us);
        cs->curve[op].bytes = cs->curve[op].us = NULL;
        cs->curve[op].npoints = 0;
    }
}

static lct_status_t curve_alloc(lct_curve_t *c, uint32_t npoints)
{
    c->bytes = malloc(npoints * sizeof(double));
    c->us = malloc(npoints * sizeof(double));
    if (!c->bytes || !c->us) {
        free(c->bytes);
        free(c->us);
        c->bytes = c->us = NULL;
        LCT_WARN("out of memory for a curve of %u points", npoints);
        return LCT_ERR_NOMEM;
    }
    c->npoints = npoints;
    return LCT_OK;
}

/* Time in us of one collective of s bytes (send-buffer size, see docs/cost-model.md). */
static double model_time(const lct_fabric_profile_t *fab, int n, lct_coll_op_t op, double s)
{
    int g = fab->gpus_per_node < n ? fab->gpus_per_node : n;
    int nodes = (n + g - 1) / g;
    double bl = fab->nvlink_gbs * 1e3;     /* bytes per us */
    double bn = fab->net_gbs_per_node * 1e3;
    double bring = nodes == 1 ? bl : fmin(bl, bn);
    double a = fab->lat_intra_us, b = fab->lat_inter_us;
    double t = COLL_BASE_US;
    if (n <= 1)
        return t;
    switch (op) {
    case LCT_COLL_ALLTOALL: {
        /* Every peer gets s/n bytes; NVLink peers and network peers are served at once, the node's
         * NIC shared by its g GPUs. */
        double intra = s * (g - 1) / n / bl;
        double inter = nodes > 1 ? s * (n - g) / n / (bn / g) : 0.0;
        t += (g > 1 ? a : 0.0) + (nodes > 1 ? b : 0.0) + fmax(intra, inter);
        break;
    }
    case LCT_COLL_ALLREDUCE: {
        /* Ring: reduce-scatter then all-gather, 2(n-1) steps, 2(nodes-1) of them across nodes. */
        int steps = 2 * (n - 1), inter_steps = 2 * (nodes - 1);
        t += (steps - inter_steps) * a + inter_steps * b + 2.0 * (n - 1) / n * s / bring;
        break;
    }
    case LCT_COLL_ALLGATHER: {
        int steps = n - 1, inter_steps = nodes - 1;
        t += (steps - inter_steps) * a + inter_steps * b + (double)(n - 1) * s / bring;
        break;
    }
    case LCT_COLL_REDUCESCATTER: {
        int steps = n - 1, inter_steps = nodes - 1;
        t += (steps - inter_steps) * a + inter_steps * b + (double)(n - 1) / n * s / bring;
        break;
    }
    case LCT_COLL_BROADCAST: {
        /* Pipelined ring: the first chunk crosses n-1 hops, the bulk flows at ring bandwidth. */
        int steps = n - 1, inter_steps = nodes - 1;
        t += (steps - inter_steps) * a + inter_steps * b + s / bring;
        break;
    }
    case LCT_COLL_SENDRECV:
        /* One peer, assumed in another node when there is more than one (pipeline stages); the
         * NIC share of one GPU, as all GPUs of a node send at once. */
        t += nodes > 1 ? b + s / (bn / g) : a + s / bl;
        break;
    default:
        break;
    }
    return t;
}

lct_status_t lct_curves_model(const lct_fabric_profile_t *fab, int world_size, lct_curve_set_t *cs)
{
    if (!fab || !cs || fab->gpus_per_node < 1 || !(fab->nvlink_gbs > 0) ||
        !(fab->net_gbs_per_node > 0) || !(fab->lat_intra_us >= 0) || !(fab->lat_inter_us >= 0)) {
        LCT_WARN("curve model: no fabric profile, or one with a non-positive GPU count or "
                 "bandwidth or a negative latency");
        return LCT_ERR_INVALID;
    }
    if (world_size < 1) {
        LCT_WARN("curve model: world size %d (accepted: 1 or more)", world_size);
        return LCT_ERR_INVALID;
    }
    lct_curve_set_t out;
    memset(&out, 0, sizeof(out));
    out.world_size = world_size;
    for (int op = 0; op < LCT_COLL_COUNT; op++) {
        if (op == LCT_COLL_NONE)
            continue;
        lct_status_t st = curve_alloc(&out.curve[op], CURVE_NPOINTS);
        if (st != LCT_OK) {
            lct_curves_free(&out);
            return st;
        }
        for (int i = 0; i < CURVE_NPOINTS; i++) {
            double s = ldexp(1.0, CURVE_MIN_LOG2 + i);
            out.curve[op].bytes[i] = s;
            out.curve[op].us[i] = model_time(fab, world_size, (lct_coll_op_t)op, s);
        }
    }
    *cs = out;
    return LCT_OK;
}

double lct_curve_eval(const lct_curve_set_t *cs, lct_coll_op_t op, double bytes)
{
    if (!cs || (unsigned)op >= LCT_COLL_COUNT)
        return 0.0;
    const lct_curve_t *c = &cs->curve[op];
    uint32_t np = c->npoints;
    if (np == 0 || !c->bytes || !c->us)
        return 0.0;
    if (!(bytes > c->bytes[0])) /* also NaN */
        return c->us[0];
    if (bytes >= c->bytes[np - 1]) {
        /* Beyond the sweep: continue at the bandwidth of the last segment (the bandwidth-bound
         * regime). One point: scale its time with the size. The original Lancet read past the end
         * of its sample array here. */
        double slope;
        if (np == 1)
            slope = c->us[0] / c->bytes[0];
        else
            slope = (c->us[np - 1] - c->us[np - 2]) / (c->bytes[np - 1] - c->bytes[np - 2]);
        if (slope < 0) /* noisy measurements: never predict less than the largest sample */
            slope = 0;
        return c->us[np - 1] + (bytes - c->bytes[np - 1]) * slope;
    }
    /* bytes[lo] < bytes < bytes[hi] after the search; lo >= 0, hi <= np - 1. */
    uint32_t lo = 0, hi = np - 1;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (c->bytes[mid] <= bytes)
            lo = mid;
        else
            hi = mid;
    }
    double f = (bytes - c->bytes[lo]) / (c->bytes[hi] - c->bytes[lo]);
    return c->us[lo] + f * (c->us[hi] - c->us[lo]);
}

/* ---- curve file ---- */

static const char *coll_ops_accepted(void)
{
    return "all_reduce, all_gather, reduce_scatter, broadcast, all_to_all, send_recv";
}

static lct_status_t parse_curve(const char *path, const char *opname, json_t *arr, lct_curve_t *c)
{
    if (!json_is_array(arr)) {
        LCT_WARN("curve file %s: curves.%s: expected an array of [bytes, us] points", path, opname);
        return LCT_ERR_PARSE;
    }
    size_t np = json_array_size(arr);
    if (np == 0 || np > UINT32_MAX) {
        LCT_WARN("curve file %s: curves.%s: expected at least one [bytes, us] point", path, opname);
        return LCT_ERR_PARSE;
    }
    LCT_CHECK(curve_alloc(c, (uint32_t)np));
    for (size_t i = 0; i < np; i++) {
        json_t *pt = json_array_get(arr, i);
        if (!json_is_array(pt) || json_array_size(pt) != 2 || !json_is_number(json_array_get(pt, 0)) ||
            !json_is_number(json_array_get(pt, 1))) {
            LCT_WARN("curve file %s: curves.%s[%zu]: expected a point [bytes, us] of two numbers",
                     path, opname, i);
            return LCT_ERR_PARSE;
        }
        double b = json_number_value(json_array_get(pt, 0));
        double us = json_number_value(json_array_get(pt, 1));
        if (!(b > 0) || !isfinite(b)) {
            LCT_WARN("curve file %s: curves.%s[%zu][0]: bytes %g must be a positive finite number",
                     path, opname, i, b);
            return LCT_ERR_PARSE;
        }
        if (!(us > 0) || !isfinite(us)) {
            LCT_WARN("curve file %s: curves.%s[%zu][1]: time %g us must be a positive finite number",
                     path, opname, i, us);
            return LCT_ERR_PARSE;
        }
        if (i > 0 && !(b > c->bytes[i - 1])) {
            LCT_WARN("curve file %s: curves.%s[%zu][0]: bytes %.17g not greater than the previous "
                     "point's %.17g (points must be sorted by strictly increasing bytes)",
                     path, opname, i, b, c->bytes[i - 1]);
            return LCT_ERR_PARSE;
        }
        c->bytes[i] = b;
        c->us[i] = us;
    }
    return LCT_OK;
}

static lct_status_t parse_curves(const char *path, json_t *root, lct_curve_set_t *out)
{
    if (!json_is_object(root)) {
        LCT_WARN("curve file %s: top level: expected an object", path);
        return LCT_ERR_PARSE;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, "format") && strcmp(key, "version") && strcmp(key, "world_size") &&
            strcmp(key, "fabric") && strcmp(key, "curves")) {
            LCT_WARN("curve file %s: %s: unknown key (accepted: format, version, world_size, "
                     "fabric, curves)",
                     path, key);
            return LCT_ERR_PARSE;
        }
    }
    json_t *fmt = json_object_get(root, "format");
    if (fmt && (!json_is_string(fmt) || strcmp(json_string_value(fmt), CURVES_FORMAT))) {
        LCT_WARN("curve file %s: format: expected \"%s\"", path, CURVES_FORMAT);
        return LCT_ERR_PARSE;
    }
    json_t *ver = json_object_get(root, "version");
    if (!json_is_integer(ver) || json_integer_value(ver) != CURVES_VERSION) {
        LCT_WARN("curve file %s: version: expected the integer %d", path, CURVES_VERSION);
        return LCT_ERR_PARSE;
    }
    json_t *ws = json_object_get(root, "world_size");
    if (!json_is_integer(ws) || json_integer_value(ws) < 1 || json_integer_value(ws) > INT32_MAX) {
        LCT_WARN("curve file %s: world_size: expected a positive integer", path);
        return LCT_ERR_PARSE;
    }
    out->world_size = (int32_t)json_integer_value(ws);
    json_t *fab = json_object_get(root, "fabric");
    if (fab && !json_is_string(fab)) {
        LCT_WARN("curve file %s: fabric: expected a string", path);
        return LCT_ERR_PARSE;
    }
    json_t *curves = json_object_get(root, "curves");
    if (!json_is_object(curves)) {
        LCT_WARN("curve file %s: curves: expected an object mapping collective names (%s) to "
                 "point arrays",
                 path, coll_ops_accepted());
        return LCT_ERR_PARSE;
    }
    json_object_foreach(curves, key, val)
    {
        int op = lct_coll_op_parse(key);
        if (op <= LCT_COLL_NONE) {
            LCT_WARN("curve file %s: curves.%s: unknown collective (accepted: %s)", path, key,
                     coll_ops_accepted());
            return LCT_ERR_PARSE;
        }
        LCT_CHECK(parse_curve(path, key, val, &out->curve[op]));
    }
    return LCT_OK;
}

lct_status_t lct_curves_read(const char *path, lct_curve_set_t *cs)
{
    if (!path || !cs)
        return LCT_ERR_INVALID;
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        LCT_WARN("curve file %s: line %d column %d: %s", path, jerr.line, jerr.column, jerr.text);
        return jerr.line < 0 ? LCT_ERR_IO : LCT_ERR_PARSE;
    }
    lct_curve_set_t out;
    memset(&out, 0, sizeof(out));
    lct_status_t st = parse_curves(path, root, &out);
    json_decref(root);
    if (st != LCT_OK) {
        lct_curves_free(&out);
        return st;
    }
    *cs = out;
    return LCT_OK;
}

lct_status_t lct_curves_write(const char *path, const lct_curve_set_t *cs)
{
    if (!path || !cs)
        return LCT_ERR_INVALID;
    FILE *f = fopen(path, "w");
    if (!f) {
        LCT_WARN("curve file %s: cannot open for writing: %m", path);
        return LCT_ERR_IO;
    }
    /* Written by hand rather than through jansson so that each point sits on its own line. %.17g
     * round-trips every double exactly. */
    fprintf(f, "{\n  \"format\": \"%s\",\n  \"version\": %d,\n  \"world_size\": %d,\n  \"curves\": {",
            CURVES_FORMAT, CURVES_VERSION, (int)cs->world_size);
    int first = 1;
    for (int op = 0; op < LCT_COLL_COUNT; op++) {
        const lct_curve_t *c = &cs->curve[op];
        if (op == LCT_COLL_NONE || c->npoints == 0)
            continue;
        fprintf(f, "%s\n    \"%s\": [", first ? "" : ",", lct_coll_op_name((lct_coll_op_t)op));
        first = 0;
        for (uint32_t i = 0; i < c->npoints; i++)
            fprintf(f, "%s\n      [%.17g, %.17g]", i ? "," : "", c->bytes[i], c->us[i]);
        fprintf(f, "\n    ]");
    }
    fprintf(f, "%s}\n}\n", first ? "" : "\n  ");
    int werr = ferror(f);
    if (fclose(f) != 0 || werr) {
        LCT_WARN("curve file %s: write failed: %m", path);
        return LCT_ERR_IO;
    }
    return LCT_OK;
}
