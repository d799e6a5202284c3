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

/* The hand-computed transformer of the unit tests, alone (no other stage): heads 2 x head_dim 4
 * (d = 8), ffn 16, 1 layer, 4 in/out channels, patch (1,2,2), text_dim 12, freq_dim 6. */
static inline wm_model_config tl_tiny_dit(void)
{
    wm_model_config c = tl_preset("wan2.1-t2v-14b");
    c.has_text_encoder = c.has_vae = c.has_image_encoder = false;
    c.num_attention_heads = 2;
    c.attention_head_dim = 4;
    c.ffn_dim = 16;
    c.num_layers = 1;
    c.in_channels = 4;
    c.out_channels = 4;
    c.text_dim = 12;
    c.freq_dim = 6;
    return c;
}

/* Its workload: batch 2, 5 frames of 32x48 (latent T 2, h 4, w 6: L = 12), 3 text tokens, 3
 * steps with guidance. */
static inline wm_workload tl_tiny_workload(void)
{
    return (wm_workload){.profile_id = "tiny", .batch_size = 2, .num_frames = 5, .height = 32,
                         .width = 48, .num_inference_steps = 3, .text_len = 3, .cfg = true,
                         .dtype = WM_DTYPE_BF16, .mode = WM_MODE_TORCH};
}

/* Building `c` fails validation with an error naming `what`. */
static inline void tl_expect_invalid(const wm_model_config *c, const char *what)
{
    wm_model *m = NULL;
    wm_error err;
    wm_error_clear(&err);
    assert_int_equal(wm_model_build(c, &m, &err), WM_E_INPUT);
    assert_null(m);
    assert_string_equal(err.what, what);
}

#endif /* WM_TESTLIB_H */
