/* libFuzzer target for the step-graph reader (build: docs/ir-format.md, "Fuzzing").
 *
 * Any input: the reader must return without crashing, leaking or reading out of bounds. An
 * accepted input must also survive the verifier and the DOT writer, and its written form must
 * read back and write again to the same text (the round-trip property of the format). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/lct_log.h"
#include "ir/lct_ir_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *devnull;
    char err[512];
    lct_graph_t *g = NULL, *h = NULL;
    if (!devnull) {
        lct_log_level = LCT_LOG_NONE;
        devnull = fopen("/dev/null", "w");
    }
    if (lct_ir_read_string((const char *)data, size, &g, err, sizeof(err)) != LCT_OK) {
        if (g != NULL || err[0] == '\0')
            abort(); /* a failure must leave the output alone and explain itself */
        return 0;
    }
    (void)lct_ir_verify(g, err, sizeof(err));
    if (devnull)
        (void)lct_ir_write_dot(g, devnull);
    char *t1 = lct_ir_write_string(g);
    if (!t1 || lct_ir_read_string(t1, strlen(t1), &h, err, sizeof(err)) != LCT_OK) {
        fprintf(stderr, "written form of an accepted input does not read back: %s\n", err);
        abort();
    }
    char *t2 = lct_ir_write_string(h);
    if (!t2 || strcmp(t1, t2) != 0) {
        fprintf(stderr, "write(read(write(g))) differs from write(g)\n");
        abort();
    }
    free(t1);
    free(t2);
    lct_graph_destroy(h);
    lct_graph_destroy(g);
    return 0;
}
