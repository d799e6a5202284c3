/* testlib.h — helpers the C unit tests share: presets and workloads from the built-in config,
 * and a model + report built for a test. Include after <cmocka.h>. */
#ifndef WM_TESTLIB_H
#define WM_TESTLIB_H

#include "wanmeter.h"

/* A preset of the built-in configuration. */
static inline wm_model_config tl_preset(const char *name)
{
    wm_config *cfg = NULL;
    wm_error err;
    assert_int_equal(wm_config_load(NULL, &cfg, &err), WM_OK);
    wm_model_config mc;
    assert_int_equal(wm_config_model(cfg, name, &mc, &err), WM_OK);
    wm_config_free(cfg);
    return mc;
}

/* A workload of the built-in configuration. */
static inline wm_workload tl_workload(const char *id)
{
    wm_config *cfg = NULL;
    wm_error err;
    assert_int_equal(wm_config_load(NULL, &cfg, &err), WM_OK);
    wm_workload w;
    assert_int_equal(wm_config_workload(cfg, id, &w, &err), WM_OK);
    wm_config_free(cfg);
    return w;
}

typedef struct {
    wm_model *m;
    wm_report *r;
} tl_built;

/* The model of `c` evaluated for `w`; a failure fails the test with the error. */
static inline tl_built tl_build(const wm_model_config *c, const wm_workload *w)
{
    tl_built b = {0};
    wm_error err;
    if (wm_model_build(c, &b.m, &err) != WM_OK)
        fail_msg("build: %s: %s", err.what, err.why);
    if (wm_report_create(b.m, w, &b.r, &err) != WM_OK)
        fail_msg("report: %s: %s", err.what, err.why);
    return b;
}

static inline void tl_unbuild(tl_built *b)
{
    wm_report_free(b->r);
    wm_model_free(b->m);
}

/* The counts of the node with this id (fails the test when there is none). */
static inline const wm_counts *tl_counts(const tl_built *b, const char *id)
{
    int32_t i = wm_model_find(b->m, id);
    if (i < 0)
        fail_msg("no node %s", id);
    return &wm_report_counts(b->r)[i];
}

#endif /* WM_TESTLIB_H */
