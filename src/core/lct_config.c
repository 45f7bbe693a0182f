#include "lct_config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lct_log.h"

extern char **environ;

static const lct_cfg_desc_t descs[LCT_CFG_COUNT] = {
#define LCT_CONFIG_VAR(name, type, def, min, max, choices, doc)                                    \
    [LCT_CFG_##name] = {"LANCET_" #name, LCT_CFG_##type, def, min, max, choices, doc},
#include "lct_config.def"
#undef LCT_CONFIG_VAR
};

typedef struct {
    long i;
    double d;
    char *s; /* STRING value or canonical ENUM choice (owned) */
    lct_cfg_source_t src;
} cfg_value_t;

static cfg_value_t values[LCT_CFG_COUNT];
static int values_ready;

/* Parse text for variable id into *out; on failure fill why (what is accepted). */
static int parse_value(lct_cfg_id_t id, const char *text, cfg_value_t *out, char *why, size_t n)
{
    const lct_cfg_desc_t *d = &descs[id];
    memset(out, 0, sizeof(*out));
    switch (d->type) {
    case LCT_CFG_BOOL:
        if (!strcasecmp(text, "1") || !strcasecmp(text, "yes") || !strcasecmp(text, "on") ||
            !strcasecmp(text, "true")) {
            out->i = 1;
            return 0;
        }
        if (!strcasecmp(text, "0") || !strcasecmp(text, "no") || !strcasecmp(text, "off") ||
            !strcasecmp(text, "false")) {
            out->i = 0;
            return 0;
        }
        snprintf(why, n, "a boolean (0/1, yes/no, on/off, true/false)");
        return -1;
    case LCT_CFG_INT: {
        char *end;
        errno = 0;
        long v = strtol(text, &end, 10);
        if (errno || end == text || *end != '\0' || v < (long)d->min || v > (long)d->max) {
            snprintf(why, n, "an integer from %ld to %ld", (long)d->min, (long)d->max);
            return -1;
        }
        out->i = v;
        return 0;
    }
    case LCT_CFG_DOUBLE: {
        char *end;
        errno = 0;
        double v = strtod(text, &end);
        if (errno || end == text || *end != '\0' || !isfinite(v) || v < d->min || v > d->max) {
            snprintf(why, n, "a number from %g to %g", d->min, d->max);
            return -1;
        }
        out->d = v;
        return 0;
    }
    case LCT_CFG_ENUM: {
        const char *c = d->choices;
        int idx = 0;
        size_t len = strlen(text);
        while (c && *c) {
            const char *bar = strchr(c, '|');
            size_t clen = bar ? (size_t)(bar - c) : strlen(c);
            if (clen == len && strncasecmp(c, text, len) == 0) {
                out->i = idx;
                out->s = strndup(c, clen);
                return out->s ? 0 : -1;
            }
            idx++;
            c = bar ? bar + 1 : NULL;
        }
        snprintf(why, n, "one of %s", d->choices);
        return -1;
    }
    case LCT_CFG_STRING:
        out->s = strdup(text);
        return out->s ? 0 : -1;
    }
    return -1;
}

static void set_default(lct_cfg_id_t id)
{
    char why[128];
    cfg_value_t v;
    if (parse_value(id, descs[id].def, &v, why, sizeof(why)) != 0)
        abort(); /* a default outside its own range is a bug in lct_config.def */
    free(values[id].s);
    values[id] = v;
    values[id].src = LCT_CFG_SRC_DEFAULT;
}

void lct_config_reset(void)
{
    for (int i = 0; i < LCT_CFG_COUNT; i++)
        set_default((lct_cfg_id_t)i);
    values_ready = 1;
}

static void ensure_ready(void)
{
    if (!values_ready)
        lct_config_reset();
}

static int set_from(lct_cfg_id_t id, const char *text, lct_cfg_source_t src)
{
    char why[160];
    cfg_value_t v;
    ensure_ready();
    if (parse_value(id, text, &v, why, sizeof(why)) != 0) {
        LCT_WARN("%s='%s' is not valid: expected %s; using %s", descs[id].name, text, why,
                 values[id].src == LCT_CFG_SRC_DEFAULT ? "the default" : "the previous value");
        return -1;
    }
    free(values[id].s);
    values[id] = v;
    values[id].src = src;
    return 0;
}

lct_status_t lct_config_set(lct_cfg_id_t id, const char *value)
{
    if ((unsigned)id >= LCT_CFG_COUNT || !value)
        return LCT_ERR_INVALID;
    return set_from(id, value, LCT_CFG_SRC_SET) == 0 ? LCT_OK : LCT_ERR_INVALID;
}

lct_status_t lct_config_find(const char *name, lct_cfg_id_t *id_p)
{
    if (!name)
        return LCT_ERR_INVALID;
    for (int i = 0; i < LCT_CFG_COUNT; i++)
        if (strcmp(descs[i].name, name) == 0 || strcmp(descs[i].name + 7, name) == 0) {
            *id_p = (lct_cfg_id_t)i;
            return LCT_OK;
        }
    return LCT_ERR_NOT_FOUND;
}

/* Levenshtein distance, bounded input length; for "did you mean". */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 64;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t sub = prev + (toupper((unsigned char)a[i - 1]) != b[j - 1]);
            size_t del = row[j] + 1, ins = row[j - 1] + 1;
            row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            prev = cur;
        }
    }
    return row[lb];
}

int lct_config_load(void)
{
    int problems = 0;
    lct_config_reset();
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "LANCET_", 7) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        char name[128];
        size_t len = (size_t)(eq - *e);
        if (len >= sizeof(name))
            len = sizeof(name) - 1;
        memcpy(name, *e, len);
        name[len] = '\0';
        lct_cfg_id_t id;
        if (lct_config_find(name, &id) == LCT_OK) {
            problems += set_from(id, eq + 1, LCT_CFG_SRC_ENV) != 0;
            continue;
        }
        size_t best = 64;
        int best_i = -1;
        for (int i = 0; i < LCT_CFG_COUNT; i++) {
            size_t dist = edit_distance(name, descs[i].name);
            if (dist < best) {
                best = dist;
                best_i = i;
            }
        }
        if (best_i >= 0 && best <= 3)
            LCT_WARN("unknown variable %s ignored; did you mean %s? (lancet-info --config lists all)",
                     name, descs[best_i].name);
        else
            LCT_WARN("unknown variable %s ignored (lancet-info --config lists all)", name);
        problems++;
    }
    problems += lct_log_configure(values[LCT_CFG_LOG].s, values[LCT_CFG_LOG_SUBSYS].s,
                      values[LCT_CFG_LOG_FILE].s);
    return problems;
}

bool lct_config_bool(lct_cfg_id_t id)
{
    ensure_ready();
    return values[id].i != 0;
}

long lct_config_int(lct_cfg_id_t id)
{
    ensure_ready();
    return values[id].i;
}

double lct_config_double(lct_cfg_id_t id)
{
    ensure_ready();
    return values[id].d;
}

int lct_config_enum(lct_cfg_id_t id)
{
    ensure_ready();
    return (int)values[id].i;
}

const char *lct_config_str(lct_cfg_id_t id)
{
    ensure_ready();
    return values[id].s ? values[id].s : "";
}

lct_cfg_source_t lct_config_source(lct_cfg_id_t id)
{
    ensure_ready();
    return values[id].src;
}

const lct_cfg_desc_t *lct_config_desc(lct_cfg_id_t id)
{
    return (unsigned)id < LCT_CFG_COUNT ? &descs[id] : NULL;
}

static void format_value(lct_cfg_id_t id, char *buf, size_t n)
{
    switch (descs[id].type) {
    case LCT_CFG_BOOL:
    case LCT_CFG_INT: snprintf(buf, n, "%ld", values[id].i); break;
    case LCT_CFG_DOUBLE: snprintf(buf, n, "%g", values[id].d); break;
    default: snprintf(buf, n, "%s", values[id].s ? values[id].s : ""); break;
    }
}

void lct_config_accepted(lct_cfg_id_t id, char *buf, size_t n)
{
    const lct_cfg_desc_t *d = &descs[id];
    switch (d->type) {
    case LCT_CFG_BOOL: snprintf(buf, n, "0/1, yes/no, on/off, true/false"); break;
    case LCT_CFG_INT: snprintf(buf, n, "%ld..%ld", (long)d->min, (long)d->max); break;
    case LCT_CFG_DOUBLE: snprintf(buf, n, "%g..%g", d->min, d->max); break;
    case LCT_CFG_ENUM: snprintf(buf, n, "%s", d->choices); break;
    default: snprintf(buf, n, "text"); break;
    }
}

void lct_config_print(FILE *f, bool with_doc)
{
    static const char *const src_names[] = {"default", "environment", "set"};
    static const char *const type_names[] = {"bool", "int", "double", "enum", "string"};
    ensure_ready();
    for (int i = 0; i < LCT_CFG_COUNT; i++) {
        char val[256], acc[128];
        const lct_cfg_desc_t *d = &descs[i];
        format_value((lct_cfg_id_t)i, val, sizeof(val));
        lct_config_accepted((lct_cfg_id_t)i, acc, sizeof(acc));
        fprintf(f, "%-28s = %-12s (%s; %s %s; default '%s')\n", d->name, *val ? val : "''",
                src_names[values[i].src], type_names[d->type], acc, d->def);
        if (with_doc)
            fprintf(f, "    %s\n", d->doc);
    }
}
