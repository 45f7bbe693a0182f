/* SVG timeline picture of one simulated step, or of two (before / after) on one time scale.
 *
 * Each timeline has a compute lane and a communication lane; a lane has one row per level of
 * concurrency (lct_sim_rows), capped so that a step with hundreds of concurrent kernels still
 * gives a lane of readable height (rows past the cap are drawn on the last one). Colours follow
 * the node's role; all-to-all windows are shaded across both lanes so that what runs during each
 * one is visible at a glance.
 *
 * Size stays bounded for graphs of any size: per row, a node narrower than a couple of pixels that
 * touches the previous rectangle is merged into it, so a row never holds many more rectangles
 * than it has pixels. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/lct_log.h"
#include "cost/lct_sim_int.h"

#define SVG_W 1400.0
#define MARGIN_L 120.0
#define MARGIN_R 40.0
#define PLOT_W (SVG_W - MARGIN_L - MARGIN_R)
#define TITLE_H 44.0
#define LABEL_H 24.0
#define LANE_GAP 6.0
#define AXIS_H 40.0
#define LEGEND_H 44.0
#define MAX_ROWS 16u
#define ROW_H_MAX 16.0
#define LANE_H_MAX 96.0
#define MERGE_PX 2.0  /* nodes narrower than this are merged with a touching neighbour */
#define TOUCH_PX 0.5  /* gap below which two rectangles count as touching */
#define FONT "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\""

typedef struct {
    const lct_graph_t *g;
    const lct_sim_result_t *res;
    const char *label;
    uint32_t *row;
    uint32_t nrows[2];  /* compute, comm: rows used by the simulation */
    uint32_t shown[2];  /* rows drawn */
    double row_h[2];
    double height;
} timeline_t;

typedef struct {
    double x0, x1;
    lct_vis_role_t role;
    uint32_t count, first;
    bool active;
} run_t;

static void xml_text(FILE *f, const char *s, size_t max)
{
    size_t n = 0;
    /* Cut at max bytes, but never inside a UTF-8 sequence: half a character is not XML. */
    for (; s && *s && (n < max || ((unsigned char)*s & 0xc0) == 0x80); s++, n++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            /* control characters are not allowed in XML 1.0 */
            fputc((unsigned char)*s < 0x20 ? '?' : *s, f);
        }
    }
    if (s && *s)
        fputs("...", f);
}

static void layout(timeline_t *tl)
{
    tl->height = LABEL_H + AXIS_H;
    for (int l = 0; l < 2; l++) {
        uint32_t r = tl->nrows[l] ? tl->nrows[l] : 1;
        tl->shown[l] = r < MAX_ROWS ? r : MAX_ROWS;
        double h = LANE_H_MAX / tl->shown[l];
        tl->row_h[l] = h < ROW_H_MAX ? h : ROW_H_MAX;
        tl->height += tl->row_h[l] * tl->shown[l] + LANE_GAP;
    }
}

/* A "nice" tick step (1, 2 or 5 times a power of ten) giving about eight ticks over span. */
static double tick_step(double span)
{
    double raw = span / 8.0;
    if (!(raw > 0))
        return 1.0;
    double p = pow(10.0, floor(log10(raw)));
    double m = raw / p;
    return (m <= 1.0 ? 1.0 : m <= 2.0 ? 2.0 : m <= 5.0 ? 5.0 : 10.0) * p;
}

static void emit_run(FILE *f, const timeline_t *tl, const run_t *r, double y, double h)
{
    double w = r->x1 - r->x0;
    if (w < 0.5)
        w = 0.5;
    fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"", r->x0, y,
            w, h, lct_vis_role_colour(r->role));
    if (w >= 3.0 && h >= 4.0)
        fputs(" stroke=\"#ffffff\" stroke-width=\"0.5\"", f);
    if (r->count == 1) {
        const lct_node_t *n = LCT_NODE(tl->g, r->first);
        fputs("><title>", f);
        xml_text(f, n->name, 80);
        fprintf(f, " (%s, %.1f us)</title></rect>\n", lct_vis_role_label(r->role),
                tl->res->end[r->first] - tl->res->start[r->first]);
    } else {
        fprintf(f, "><title>%u nodes</title></rect>\n", r->count);
    }
}

/* ref: the other timeline's result when this one is the "after" of a pair, else NULL. */
static lct_status_t draw_timeline(FILE *f, const timeline_t *tl, const lct_sim_result_t *ref,
                                  double y0, double tmax)
{
    const lct_graph_t *g = tl->g;
    const lct_sim_result_t *res = tl->res;
    double scale = PLOT_W / tmax;
    double lane_y[2], lane_h[2];
    lane_y[0] = y0 + LABEL_H;
    lane_h[0] = tl->row_h[0] * tl->shown[0];
    lane_y[1] = lane_y[0] + lane_h[0] + LANE_GAP;
    lane_h[1] = tl->row_h[1] * tl->shown[1];
    double bottom = lane_y[1] + lane_h[1];

    /* Heading of this timeline. */
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\" font-weight=\"bold\">", MARGIN_L,
            y0 + 16);
    xml_text(f, tl->label, 60);
    fprintf(f, ": makespan %.3f ms", res->makespan / 1e3);
    if (ref && ref->makespan > 0 && res->makespan > 0)
        fprintf(f, " (speedup %.3fx)", ref->makespan / res->makespan);
    fprintf(f, ", communication exposed %.3f ms (%.1f%% of the step), lower bound %.3f ms</text>\n",
            res->comm_exposed / 1e3,
            res->makespan > 0 ? 100.0 * res->comm_exposed / res->makespan : 0.0,
            res->lower_bound / 1e3);

    /* Lane backgrounds and labels. */
    static const char *lane_name[2] = {"compute", "comm"};
    for (int l = 0; l < 2; l++) {
        fprintf(f, "<rect x=\"%.1f\" y=\"%.2f\" width=\"%.1f\" height=\"%.2f\" fill=\"#f2f2f2\"/>\n",
                MARGIN_L, lane_y[l], PLOT_W, lane_h[l]);
        fprintf(f, "<text x=\"%.1f\" y=\"%.2f\" font-size=\"12\" text-anchor=\"end\">%s</text>\n",
                MARGIN_L - 8, lane_y[l] + fmin(lane_h[l], 24.0) / 2 + 4, lane_name[l]);
        if (tl->nrows[l] > 1)
            fprintf(f,
                    "<text x=\"%.1f\" y=\"%.2f\" font-size=\"10\" fill=\"#555555\" "
                    "text-anchor=\"end\">up to %u at once</text>\n",
                    MARGIN_L - 8, lane_y[l] + fmin(lane_h[l], 24.0) / 2 + 16, tl->nrows[l]);
    }

    /* All-to-all windows behind the nodes, across both lanes. Overlapping or touching windows
     * are drawn as their union: translucent layers would otherwise darken where they stack, and
     * a big step has thousands of them. a2a_nodes is in start order. */
    double wx0 = 0, wx1 = -1;
    for (uint32_t k = 0; k <= res->na2a; k++) {
        uint32_t v = k < res->na2a ? res->a2a_nodes[k] : 0;
        double x0 = k < res->na2a ? MARGIN_L + res->start[v] * scale : INFINITY;
        double x1 = k < res->na2a ? MARGIN_L + res->end[v] * scale : INFINITY;
        if (k < res->na2a && !(x1 > x0))
            continue;
        if (wx1 >= wx0 && x0 <= wx1 + TOUCH_PX) {
            wx1 = fmax(wx1, x1);
            continue;
        }
        if (wx1 >= wx0)
            fprintf(f,
                    "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
                    "fill=\"#D55E00\" fill-opacity=\"0.13\"/>\n",
                    wx0, lane_y[0] - 2, fmax(wx1 - wx0, 0.5), bottom - lane_y[0] + 4);
        wx0 = x0;
        wx1 = x1;
    }

    /* Nodes, per row, merged where they are too small to see one by one. */
    uint32_t m = 0, *order = malloc(((size_t)res->n + 1) * sizeof(*order));
    run_t *runs = calloc(2 * MAX_ROWS, sizeof(*runs));
    if (!order || !runs) {
        free(order);
        free(runs);
        return LCT_ERR_NOMEM;
    }
    for (uint32_t v = 0; v < res->n; v++)
        if (tl->row[v] != UINT32_MAX)
            order[m++] = v;
    lct_status_t st = lct_sim_sort_by_start(res, order, m);
    for (uint32_t k = 0; k < m && st == LCT_OK; k++) {
        uint32_t v = order[k];
        const lct_node_t *n = LCT_NODE(g, v);
        int l = lct_sim_node_class(n) == LCT_SIM_COMM;
        uint32_t r = tl->row[v] < tl->shown[l] ? tl->row[v] : tl->shown[l] - 1;
        run_t *run = &runs[l * MAX_ROWS + r];
        double x0 = MARGIN_L + res->start[v] * scale, x1 = MARGIN_L + res->end[v] * scale;
        lct_vis_role_t role = lct_vis_role(n);
        if (run->active) {
            bool touching = x0 <= run->x1 + TOUCH_PX;
            bool small = x1 - x0 < MERGE_PX || run->x1 - run->x0 < MERGE_PX;
            if (x1 <= run->x1 || (touching && small && (role == run->role || x1 - x0 < MERGE_PX))) {
                if (x1 > run->x1)
                    run->x1 = x1;
                run->count++;
                continue;
            }
            emit_run(f, tl, run, lane_y[l] + r * tl->row_h[l], tl->row_h[l]);
        }
        *run = (run_t){x0, x1, role, 1, v, true};
    }
    for (uint32_t k = 0; k < 2 * MAX_ROWS; k++)
        if (runs[k].active) {
            int l = k >= MAX_ROWS;
            uint32_t r = k % MAX_ROWS;
            emit_run(f, tl, &runs[k], lane_y[l] + r * tl->row_h[l], tl->row_h[l]);
        }
    free(order);
    free(runs);
    if (st != LCT_OK)
        return st;

    /* End of the step. */
    double xe = MARGIN_L + res->makespan * scale;
    fprintf(f,
            "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#222222\" "
            "stroke-width=\"1.2\" stroke-dasharray=\"4,3\"/>\n",
            xe, lane_y[0] - 4, xe, bottom + 4);

    /* Time axis in ms. */
    double ay = bottom + 8;
    double tmax_ms = tmax / 1e3, step = tick_step(tmax_ms);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.2f\" x2=\"%.1f\" y2=\"%.2f\" stroke=\"#333333\"/>\n",
            MARGIN_L, ay, MARGIN_L + PLOT_W, ay);
    for (int i = 0; i * step <= tmax_ms * (1 + 1e-9); i++) {
        double x = MARGIN_L + i * step * 1e3 * scale;
        fprintf(f,
                "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#333333\"/>\n"
                "<text x=\"%.2f\" y=\"%.2f\" font-size=\"11\" text-anchor=\"middle\">%g</text>\n",
                x, ay, x, ay + 5, x, ay + 18, i * step);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.2f\" font-size=\"11\" text-anchor=\"end\">time (ms)</text>\n",
            MARGIN_L - 8, ay + 18);
    return LCT_OK;
}

static void draw_legend(FILE *f, double y)
{
    double x = MARGIN_L;
    for (int r = 0; r < LCT_VIS_COUNT; r++) {
        const char *label = lct_vis_role_label((lct_vis_role_t)r);
        fprintf(f,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"14\" fill=\"%s\"/>\n"
                "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">%s</text>\n",
                x, y, lct_vis_role_colour((lct_vis_role_t)r), x + 19, y + 12, label);
        x += 34 + 7.0 * strlen(label);
    }
    fprintf(f,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"14\" fill=\"#D55E00\" "
            "fill-opacity=\"0.13\" stroke=\"#D55E00\" stroke-width=\"0.5\"/>\n"
            "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">a2a window</text>\n",
            x, y, x + 19, y + 12);
    x += 34 + 7.0 * 10;
    fprintf(f,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#222222\" "
            "stroke-width=\"1.2\" stroke-dasharray=\"4,3\"/>\n"
            "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">end of step</text>\n",
            x + 7, y - 1, x + 7, y + 15, x + 19, y + 12);
}

lct_status_t lct_sim_write_svg(const char *path, const char *title, const lct_graph_t *g_before,
                               const lct_sim_result_t *before, const lct_graph_t *g_after,
                               const lct_sim_result_t *after)
{
    if (!path || !g_after || !after || after->n != LCT_NNODES(g_after) ||
        (before && (!g_before || before->n != LCT_NNODES(g_before)))) {
        LCT_WARN("svg %s: a result that does not belong to its graph, or no result", path ? path : "?");
        return LCT_ERR_INVALID;
    }
    timeline_t tl[2];
    memset(tl, 0, sizeof(tl));
    int ntl = 0;
    lct_status_t st = LCT_OK;
    if (before)
        tl[ntl++] = (timeline_t){.g = g_before, .res = before, .label = "before"};
    tl[ntl++] = (timeline_t){.g = g_after, .res = after, .label = before ? "after" : "timeline"};
    double tmax = 0, height = TITLE_H + LEGEND_H;
    for (int i = 0; i < ntl; i++) {
        LCT_CHECK_GOTO(lct_sim_rows(tl[i].g, tl[i].res, &tl[i].row, &tl[i].nrows[0],
                                    &tl[i].nrows[1]),
                       st, out);
        layout(&tl[i]);
        height += tl[i].height + 8;
        if (tl[i].res->makespan > tmax)
            tmax = tl[i].res->makespan;
    }
    if (!(tmax > 0))
        tmax = 1.0;
    FILE *f = fopen(path, "w");
    if (!f) {
        LCT_WARN("svg %s: cannot open for writing: %m", path);
        st = LCT_ERR_IO;
        goto out;
    }
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\" %s>\n"
            "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n",
            SVG_W, height, SVG_W, height, FONT, SVG_W, height);
    fputs("<text x=\"20\" y=\"28\" font-size=\"18\" font-weight=\"bold\">", f);
    xml_text(f, title ? title : "Lancet step timeline", 160);
    fputs("</text>\n", f);
    double y = TITLE_H;
    for (int i = 0; i < ntl && st == LCT_OK; i++) {
        st = draw_timeline(f, &tl[i], i == 1 ? before : NULL, y, tmax);
        y += tl[i].height + 8;
    }
    draw_legend(f, y + 8);
    fputs("</svg>\n", f);
    int werr = ferror(f);
    if (fclose(f) != 0 || werr) {
        LCT_WARN("svg %s: write failed: %m", path);
        if (st == LCT_OK)
            st = LCT_ERR_IO;
    }
    if (st == LCT_ERR_NOMEM)
        LCT_WARN("svg %s: out of memory", path);
out:
    for (int i = 0; i < ntl; i++)
        free(tl[i].row);
    return st;
}
