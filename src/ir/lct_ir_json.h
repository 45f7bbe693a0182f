/* The step-graph file format (JSON, versioned; docs/ir-format.md), DOT output and the verifier. */
#ifndef LCT_IR_JSON_H
#define LCT_IR_JSON_H

#include <stddef.h>
#include <stdio.h>

#include "ir/lct_ir.h"

/* Parse a graph. On success *g_p is a new graph owned by the caller (lct_graph_destroy), with
 * adjacency not yet filled (lct_graph_fill_adj). On failure returns LCT_ERR_PARSE / LCT_ERR_IO /
 * LCT_ERR_NOMEM, writes a message
 * naming the location (file, line:column from jansson, or the JSON path such as
 * "nodes[12].footprint[0].size") and what was expected into err (errlen bytes, may be 0), and
 * leaves *g_p untouched. Never crashes on malformed, truncated or hostile input. */
lct_status_t lct_ir_read_file(const char *path, lct_graph_t **g_p, char *err, size_t errlen);
lct_status_t lct_ir_read_string(const char *text, size_t len, lct_graph_t **g_p, char *err,
                                size_t errlen);
/* Write a graph (all nodes, edges, costs, call records, metadata). Reading it back gives an equal
 * graph. g is only read. */
lct_status_t lct_ir_write_file(const lct_graph_t *g, const char *path);
/* Malloc'd JSON text, or NULL when out of memory. */
char *lct_ir_write_string(const lct_graph_t *g);

/* A jansson string of s (NULL: "") in which every byte that is not part of valid UTF-8 is
 * replaced by U+FFFD: names come from programs and need not be UTF-8, JSON strings must be. New
 * reference (jansson's json_t), or NULL when out of memory. */
struct json_t;
struct json_t *lct_ir_json_string(const char *s);

/* Graphviz DOT: nodes labelled with name and cost, coloured by role, edges styled by kind. */
lct_status_t lct_ir_write_dot(const lct_graph_t *g, FILE *f);

/* Check a graph: edges name existing nodes and are not self loops; acyclic; every
 * communicator's collectives are totally ordered by paths in launch (seq) order and their
 * sequence numbers are 0..n-1 without gaps; footprints well-formed (size > 0, no wrap-around,
 * valid access); enum fields in range. LCT_OK, or LCT_ERR_INVALID / LCT_ERR_CYCLE with the first
 * problem described in err. */
lct_status_t lct_ir_verify(const lct_graph_t *g, char *err, size_t errlen);

#endif
