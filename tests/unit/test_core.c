/* Unit tests of src/core: config registry, logging, arena, vector, hash map. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/lct_arena.h"
#include "core/lct_config.h"
#include "core/lct_hash.h"
#include "core/lct_log.h"
#include "core/lct_vec.h"

/* Capture log output into a memory buffer. */
static char logbuf[8192];
static FILE *logf_;

static void log_capture_begin(void)
{
    memset(logbuf, 0, sizeof(logbuf));
    logf_ = fmemopen(logbuf, sizeof(logbuf) - 1, "w");
    lct_log_set_stream(logf_);
}

static void log_capture_end(void)
{
    fclose(logf_);
    lct_log_set_stream(NULL);
}

static void clear_lancet_env(void)
{
    extern char **environ;
    char names[64][128];
    int n = 0;
    for (char **e = environ; *e && n < 64; e++)
        if (!strncmp(*e, "LANCET_", 7)) {
            size_t l = strcspn(*e, "=");
            snprintf(names[n++], sizeof(names[0]), "%.*s", (int)l, *e);
        }
    for (int i = 0; i < n; i++)
        unsetenv(names[i]);
}

START_TEST(config_defaults)
{
    clear_lancet_env();
    ck_assert_int_eq(lct_config_load(), 0);
    ck_assert(lct_config_bool(LCT_CFG_ENABLE));
    ck_assert_int_eq(lct_config_int(LCT_CFG_PIPELINE_MAX_CHUNKS), 8);
    ck_assert_int_eq(lct_config_enum(LCT_CFG_CAPTURE), 0);
    ck_assert_str_eq(lct_config_str(LCT_CFG_CAPTURE), "graphs");
    ck_assert_int_eq(lct_config_source(LCT_CFG_DW), LCT_CFG_SRC_DEFAULT);
}
END_TEST

START_TEST(config_env_values)
{
    clear_lancet_env();
    setenv("LANCET_DW", "off", 1);
    setenv("LANCET_PIPELINE_MAX_CHUNKS", "4", 1);
    setenv("LANCET_CAPTURE", "STEPS", 1);
    setenv("LANCET_INTERFERENCE", "0.25", 1);
    ck_assert_int_eq(lct_config_load(), 0);
    ck_assert(!lct_config_bool(LCT_CFG_DW));
    ck_assert_int_eq(lct_config_int(LCT_CFG_PIPELINE_MAX_CHUNKS), 4);
    ck_assert_int_eq(lct_config_enum(LCT_CFG_CAPTURE), 1);
    ck_assert_str_eq(lct_config_str(LCT_CFG_CAPTURE), "steps");
    ck_assert_double_eq_tol(lct_config_double(LCT_CFG_INTERFERENCE), 0.25, 1e-12);
    ck_assert_int_eq(lct_config_source(LCT_CFG_DW), LCT_CFG_SRC_ENV);
}
END_TEST

START_TEST(config_bad_values_fall_back)
{
    clear_lancet_env();
    setenv("LANCET_PIPELINE_MAX_CHUNKS", "0", 1);  /* below range */
    setenv("LANCET_MEM_BUDGET_MB", "12abc", 1);    /* trailing junk */
    setenv("LANCET_CAPTURE", "everything", 1);     /* not a choice */
    setenv("LANCET_DW", "maybe", 1);               /* not a boolean */
    log_capture_begin();
    ck_assert_int_eq(lct_config_load(), 4);
    log_capture_end();
    ck_assert_int_eq(lct_config_int(LCT_CFG_PIPELINE_MAX_CHUNKS), 8);
    ck_assert_int_eq(lct_config_int(LCT_CFG_MEM_BUDGET_MB), 1024);
    ck_assert_str_eq(lct_config_str(LCT_CFG_CAPTURE), "graphs");
    ck_assert(lct_config_bool(LCT_CFG_DW));
    /* each error names the variable, the value and what is accepted */
    ck_assert_ptr_nonnull(strstr(logbuf, "LANCET_PIPELINE_MAX_CHUNKS='0' is not valid: expected an integer from 1 to 64"));
    ck_assert_ptr_nonnull(strstr(logbuf, "LANCET_CAPTURE='everything' is not valid: expected one of graphs|steps"));
    ck_assert_ptr_nonnull(strstr(logbuf, "LANCET_DW='maybe'"));
    ck_assert_ptr_nonnull(strstr(logbuf, "LANCET_MEM_BUDGET_MB='12abc'"));
    ck_assert_ptr_nonnull(strstr(logbuf, " LANCET WARN "));
}
END_TEST

START_TEST(config_unknown_variable)
{
    clear_lancet_env();
    setenv("LANCET_PIPELNE", "1", 1);
    setenv("LANCET_COMPLETELY_DIFFERENT_THING", "1", 1);
    log_capture_begin();
    ck_assert_int_eq(lct_config_load(), 2);
    log_capture_end();
    ck_assert_ptr_nonnull(strstr(logbuf, "unknown variable LANCET_PIPELNE ignored; did you mean LANCET_PIPELINE?"));
    ck_assert_ptr_nonnull(strstr(logbuf, "unknown variable LANCET_COMPLETELY_DIFFERENT_THING ignored"));
}
END_TEST

START_TEST(config_counts_log_problems)
{
    clear_lancet_env();
    setenv("LANCET_LOG_SUBSYS", "SCHED,BOGUS", 1);
    setenv("LANCET_LOG_FILE", "/nonexistent-dir/lancet.log", 1);
    log_capture_begin();
    ck_assert_int_eq(lct_config_load(), 2);
    log_capture_end();
    ck_assert_ptr_nonnull(strstr(logbuf, "LANCET_LOG_SUBSYS: unknown subsystem 'BOGUS'"));
    ck_assert_ptr_nonnull(strstr(logbuf, "LANCET_LOG_FILE: cannot open '/nonexistent-dir/lancet.log'"));
    clear_lancet_env();
    ck_assert_int_eq(lct_config_load(), 0);
}
END_TEST

START_TEST(config_set_and_find)
{
    lct_cfg_id_t id;
    clear_lancet_env();
    lct_config_load();
    ck_assert_int_eq(lct_config_find("LANCET_MEM_BUDGET_MB", &id), LCT_OK);
    ck_assert_int_eq(id, LCT_CFG_MEM_BUDGET_MB);
    ck_assert_int_eq(lct_config_find("DW", &id), LCT_OK);
    ck_assert_int_eq(id, LCT_CFG_DW);
    ck_assert_int_eq(lct_config_find("NOPE", &id), LCT_ERR_NOT_FOUND);
    log_capture_begin();
    ck_assert_int_eq(lct_config_set(LCT_CFG_MEM_BUDGET_MB, "-5"), LCT_ERR_INVALID);
    log_capture_end();
    ck_assert_int_eq(lct_config_int(LCT_CFG_MEM_BUDGET_MB), 1024);
    ck_assert_int_eq(lct_config_set(LCT_CFG_MEM_BUDGET_MB, "64"), LCT_OK);
    ck_assert_int_eq(lct_config_int(LCT_CFG_MEM_BUDGET_MB), 64);
    ck_assert_int_eq(lct_config_source(LCT_CFG_MEM_BUDGET_MB), LCT_CFG_SRC_SET);
}
END_TEST

START_TEST(config_print_lists_all)
{
    char buf[16384] = {0};
    FILE *f = fmemopen(buf, sizeof(buf) - 1, "w");
    lct_config_reset();
    lct_config_print(f, true);
    fclose(f);
    for (int i = 0; i < LCT_CFG_COUNT; i++)
        ck_assert_ptr_nonnull(strstr(buf, lct_config_desc((lct_cfg_id_t)i)->name));
    ck_assert_ptr_nonnull(strstr(buf, "graphs|steps"));
}
END_TEST

START_TEST(log_levels_and_subsys)
{
    clear_lancet_env();
    setenv("LANCET_LOG", "INFO", 1);
    setenv("LANCET_LOG_SUBSYS", "SCHED", 1);
    lct_config_load();
    lct_log_set_rank(3);
    log_capture_begin();
    LCT_INFO(SCHED, "visible %d", 1);
    LCT_INFO(IR, "hidden %d", 2);
    LCT_DEBUG(SCHED, "hidden %d", 3);
    LCT_WARN("warn always %s", "shown");
    log_capture_end();
    lct_log_set_rank(-1);
    ck_assert_ptr_nonnull(strstr(logbuf, "[3] LANCET INFO SCHED visible 1"));
    ck_assert_ptr_null(strstr(logbuf, "hidden"));
    ck_assert_ptr_nonnull(strstr(logbuf, "LANCET WARN warn always shown"));
    /* exclusion list */
    setenv("LANCET_LOG_SUBSYS", "^SCHED", 1);
    lct_config_load();
    log_capture_begin();
    LCT_INFO(SCHED, "excluded");
    LCT_INFO(IR, "included");
    log_capture_end();
    ck_assert_ptr_null(strstr(logbuf, "excluded"));
    ck_assert_ptr_nonnull(strstr(logbuf, "included"));
    unsetenv("LANCET_LOG");
    unsetenv("LANCET_LOG_SUBSYS");
    lct_config_load();
    ck_assert_int_eq(lct_log_level, LCT_LOG_WARN);
}
END_TEST

START_TEST(log_file_pattern)
{
    char dir[] = "/tmp/lct-test-core-XXXXXX", pattern[128], want[192];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    clear_lancet_env();
    lct_log_set_rank(5);
    snprintf(pattern, sizeof(pattern), "%s/log-%%p-%%r-%%%%.txt", dir);
    setenv("LANCET_LOG_FILE", pattern, 1);
    lct_config_load();
    LCT_WARN("into the file");
    snprintf(want, sizeof(want), "%s/log-%d-5-%%.txt", dir, (int)getpid());
    FILE *f = fopen(want, "r");
    ck_assert_msg(f != NULL, "%s was not created", want);
    char line[512] = "";
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
    fclose(f);
    ck_assert_ptr_nonnull(strstr(line, "[5] LANCET WARN into the file"));
    unlink(want);
    rmdir(dir);

    /* A pattern that expands past the path buffer is refused, not cut to another file name. */
    char *longp = malloc(6000);
    ck_assert_ptr_nonnull(longp);
    memset(longp, 'x', 5990);
    strcpy(longp + 5990, "%h%p");
    setenv("LANCET_LOG_FILE", longp, 1);
    free(longp);
    log_capture_begin();
    lct_config_load();
    log_capture_end();
    lct_log_set_rank(-1);
    unsetenv("LANCET_LOG_FILE");
    ck_assert_ptr_nonnull(strstr(logbuf, "LANCET_LOG_FILE: 'xxxx"));
    ck_assert_ptr_nonnull(
        strstr(logbuf, "expands to a path longer than 4095 bytes; logging to stderr"));
}
END_TEST

START_TEST(arena_basics)
{
    lct_arena_t a;
    lct_arena_init(&a, 64);
    char *s = lct_arena_strdup(&a, "hello");
    ck_assert_str_eq(s, "hello");
    unsigned char *big = lct_arena_alloc(&a, 1000); /* bigger than a chunk */
    ck_assert_ptr_nonnull(big);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(big[i], 0);
    ck_assert_int_eq(((uintptr_t)big) % 16, 0);
    ck_assert_ptr_null(lct_arena_strdup(&a, NULL));
    lct_arena_destroy(&a);
}
END_TEST

START_TEST(vec_and_map)
{
    LCT_VEC(int) v = {0};
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(LCT_VEC_PUSH(&v, i * 2), LCT_OK);
    ck_assert_uint_eq(v.len, 1000);
    ck_assert_int_eq(v.data[999], 1998);
    LCT_VEC_FREE(&v);
    lct_map_t m;
    lct_map_init(&m);
    for (uint64_t k = 0; k < 5000; k++)
        ck_assert_int_eq(lct_map_put(&m, k * 7919, k), LCT_OK);
    uint64_t val;
    ck_assert_int_eq(lct_map_get(&m, 7919 * 4999, &val), 1);
    ck_assert_uint_eq(val, 4999);
    ck_assert_int_eq(lct_map_get(&m, 3, &val), 0);
    lct_map_put(&m, 0, 42);
    ck_assert_int_eq(lct_map_get(&m, 0, &val), 1);
    ck_assert_uint_eq(val, 42);
    ck_assert_uint_eq(m.len, 5000);
    lct_map_free(&m);
    ck_assert_uint_ne(lct_hash_str("a"), lct_hash_str("b"));
    ck_assert_uint_eq(lct_hash_str("abc"), lct_hash_str("abc"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, config_defaults);
    tcase_add_test(tc, config_env_values);
    tcase_add_test(tc, config_bad_values_fall_back);
    tcase_add_test(tc, config_unknown_variable);
    tcase_add_test(tc, config_counts_log_problems);
    tcase_add_test(tc, config_set_and_find);
    tcase_add_test(tc, config_print_lists_all);
    tcase_add_test(tc, log_levels_and_subsys);
    tcase_add_test(tc, log_file_pattern);
    tcase_add_test(tc, arena_basics);
    tcase_add_test(tc, vec_and_map);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
