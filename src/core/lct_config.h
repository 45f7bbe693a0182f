/* The LANCET_* configuration registry (entries in lct_config.def).
 *
 * lct_config_load() reads the environment once; afterwards the getters are cheap. A bad value logs
 * one warning naming the variable, the value and what is accepted, and the default is used. An
 * unknown LANCET_* variable logs one warning (with the closest known name). */
#ifndef LCT_CONFIG_H
#define LCT_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "lct_status.h"

typedef enum {
#define LCT_CONFIG_VAR(name, type, def, min, max, choices, doc) LCT_CFG_##name,
#include "lct_config.def"
#undef LCT_CONFIG_VAR
    LCT_CFG_COUNT
} lct_cfg_id_t;

typedef enum { LCT_CFG_BOOL, LCT_CFG_INT, LCT_CFG_DOUBLE, LCT_CFG_ENUM, LCT_CFG_STRING } lct_cfg_type_t;

typedef enum { LCT_CFG_SRC_DEFAULT, LCT_CFG_SRC_ENV, LCT_CFG_SRC_SET } lct_cfg_source_t;

typedef struct {
    const char *name;    /* full name, "LANCET_DW" */
    lct_cfg_type_t type;
    const char *def;     /* default as text */
    double min, max;     /* INT and DOUBLE range */
    const char *choices; /* ENUM: "a|b|c"; NULL otherwise */
    const char *doc;
} lct_cfg_desc_t;

/* Read every LANCET_* variable from the environment (again, if called again), then apply logging
 * settings. Never fails: bad values fall back to defaults with a warning. Returns the number of
 * problems found (bad values + unknown variables), for tests and lancet-info. */
int lct_config_load(void);

/* Set a variable from another source (command-line option, test). Returns LCT_ERR_INVALID and
 * logs the reason when the value is not accepted; the old value stays. */
lct_status_t lct_config_set(lct_cfg_id_t id, const char *value);

/* Restore every variable to its default (tests). */
void lct_config_reset(void);

bool lct_config_bool(lct_cfg_id_t id);
long lct_config_int(lct_cfg_id_t id);
double lct_config_double(lct_cfg_id_t id);
/* ENUM: index of the chosen value in CHOICES. */
int lct_config_enum(lct_cfg_id_t id);
/* STRING and ENUM (canonical spelling): never NULL; valid until the next load/set/reset. */
const char *lct_config_str(lct_cfg_id_t id);
lct_cfg_source_t lct_config_source(lct_cfg_id_t id);
const lct_cfg_desc_t *lct_config_desc(lct_cfg_id_t id);

/* Look a variable up by full name ("LANCET_DW") or short name ("DW"), case-sensitive. */
lct_status_t lct_config_find(const char *name, lct_cfg_id_t *id_p);

/* What a variable accepts, as text ("1..64", "graphs|steps", ...). */
void lct_config_accepted(lct_cfg_id_t id, char *buf, size_t n);

/* Print every variable: name, value, source, accepted values, doc (lancet-info --config). */
void lct_config_print(FILE *f, bool with_doc);

#endif
