/* Graphviz DOT output of a step graph: one box per node labelled "#id name" and its cost, filled
 * with the colour of its role; edges drawn in the style of their kind. For looking at graphs,
 * not for reading back (the JSON format is the exchange format). */
#include "lct_ir_json.h"

#include <string.h>

#include "core/lct_log.h"

/* Long kernel names (C++ templates) make unreadable boxes; the id identifies the node. */
#define DOT_NAME_MAX 60

static const char *role_fill(lct_role_t r)
{
    switch (r) {
    case LCT_ROLE_DW:
        return "#a6dba0"; /* green: weight gradients, the work Lancet moves */
    case LCT_ROLE_DX:
        return "#92c5de"; /* blue: activation gradients */
    case LCT_ROLE_A2A:
        return "#f4a582"; /* orange: all-to-all, the communication to hide */
    case LCT_ROLE_ALLREDUCE:
        return "#c2a5cf"; /* purple: gradient all-reduce */
    default:
        return "#e0e0e0";
    }
}

static const char *edge_style(lct_edge_kind_t k)
{
    switch (k) {
    case LCT_EDGE_STREAM:
        return "color=\"#808080\"";
    case LCT_EDGE_EVENT:
        return "color=\"#2166ac\", style=dashed";
    case LCT_EDGE_DATA:
        return "color=black";
    case LCT_EDGE_COLL:
        return "color=\"#b2182b\", style=bold";
    case LCT_EDGE_BARRIER:
        return "color=\"#404040\", style=dotted";
    case LCT_EDGE_SCHED:
        return "color=\"#1b7837\", style=\"bold,dashed\"";
    default:
        return "color=red";
    }
}

/* Write s inside a DOT double-quoted string: quotes and backslashes escaped, control characters
 * dropped (a newline would end the label line), cut at max bytes with "...". */
static void dot_escaped(FILE *f, const char *s, size_t max)
{
    size_t i = 0;
    /* finish a UTF-8 sequence begun before the cut */
    for (; s[i] && (i < max || ((unsigned char)s[i] & 0xc0) == 0x80); i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fputc('\\', f);
        if (c >= 0x20)
            fputc(c, f);
    }
    if (s[i])
        fputs("...", f);
}

lct_status_t lct_ir_write_dot(const lct_graph_t *g, FILE *f)
{
    fputs("digraph \"", f);
    dot_escaped(f, g->meta.name ? g->meta.name : "step", DOT_NAME_MAX);
    fputs("\" {\n  node [shape=box, style=filled, fontname=\"Helvetica\", fontsize=10];\n", f);
    for (uint32_t i = 0; i < LCT_NNODES(g); i++) {
        const lct_node_t *n = LCT_NODE(g, i);
        fprintf(f, "  n%u [label=\"#%u ", i, i);
        dot_escaped(f, n->name ? n->name : "?", DOT_NAME_MAX);
        fprintf(f, "\\n%.2f us\", fillcolor=\"%s\"", n->cost_us, role_fill(n->role));
        if (n->kind == LCT_NODE_COLLECTIVE)
            fputs(", shape=ellipse", f);
        if (n->fp.unknown || (n->flags & LCT_NODE_F_OPAQUE))
            fputs(", peripheries=2", f); /* a barrier: ordered against everything */
        fputs("];\n", f);
    }
    for (size_t i = 0; i < g->edges.len; i++) {
        const lct_edge_t *e = &g->edges.data[i];
        fprintf(f, "  n%u -> n%u [%s];\n", e->src, e->dst, edge_style(e->kind));
    }
    fputs("}\n", f);
    if (ferror(f)) {
        LCT_WARN("cannot write DOT output of step graph '%s': %m",
                 g->meta.name ? g->meta.name : "");
        return LCT_ERR_IO;
    }
    return LCT_OK;
}
