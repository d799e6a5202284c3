/*
 * test_core.c — geometry, checked arithmetic, strict parsing, the op formulas against
 * hand-computed cases, report invariants, relative differences and the tl_built-in config.
 *
 * The hand-computed model ("tiny") is WanTransformer3DModel with heads 2 x head_dim 4 (d = 8),
 * ffn 16, 1 layer, 4 in/out channels, patch (1,2,2), text_dim 12, freq_dim 6; the workload is
 * batch 2, 5 frames of 32x48 pixels (latent T = 2, h = 4, w = 6: L = 2 * 2 * 3 = 12 tokens),
 * 3 text tokens, 3 steps with guidance. Every expected number below is worked out in its
 * comment from the FlopCounterMode formulas (linear 2MKN, conv 2 N prod(out) prod(k) Cout Cin,
 * attention core 4 B H Lq Lk hd).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "testlib.h"

#include "checked.h"
#include "parse.h"
#include "wanmeter.h"

/* ---- helpers -------------------------------------------------------------------------------- */

/* Sum over the leaves of one stage of one call's FLOPs, or (stage = WM_STAGE_COUNT) over every
 * leaf of calls x FLOPs: the whole generation. */
static uint64_t leaf_sum(const tl_built *b, wm_stage stage, bool matrix_only)
{
    size_t n = wm_model_node_count(b->m);
    const wm_node *nodes = wm_model_nodes(b->m);
    const wm_counts *c = wm_report_counts(b->r);
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        bool leaf = true;
        for (size_t j = i + 1; j < n && leaf; j++)
            leaf = nodes[j].parent != (int32_t)i;
        if (!leaf || (stage != WM_STAGE_COUNT && nodes[i].stage != stage))
            continue;
        uint64_t f = matrix_only ? c[i].matrix_flops : c[i].flops;
        sum += stage == WM_STAGE_COUNT ? f * c[i].calls : f;
    }
    return sum;
}

/* ---- checked arithmetic --------------------------------------------------------------------- */

static void test_checked_edges(void **state)
{
    (void)state;
    uint64_t r = 0;
    assert_true(wm_mul(WM_COUNT_MAX, 1, &r));
    assert_true(r == WM_COUNT_MAX);
    assert_false(wm_mul(WM_COUNT_MAX, 2, &r));
    assert_false(wm_mul((uint64_t)1 << 32, (uint64_t)1 << 31, &r)); /* 2^63 > INT64_MAX */
    assert_true(wm_mul((uint64_t)1 << 31, (uint64_t)1 << 31, &r));
    assert_true(r == (uint64_t)1 << 62);
    assert_false(wm_mul(UINT64_MAX, UINT64_MAX, &r));
    assert_true(wm_add(WM_COUNT_MAX - 1, 1, &r));
    assert_true(r == WM_COUNT_MAX);
    assert_false(wm_add(WM_COUNT_MAX, 1, &r));
    assert_true(wm_mul(0, UINT64_MAX, &r) && r == 0);
    uint64_t acc = WM_COUNT_MAX - 10;
    assert_true(wm_mac(&acc, 2, 5));
    assert_true(acc == WM_COUNT_MAX);
    assert_false(wm_mac(&acc, 1, 1));
    const uint64_t f[3] = {3037000499ull, 3037000499ull, 1}; /* floor(sqrt(2^63)) squared fits */
    assert_true(wm_mul_n(&r, 3, f));
    assert_true(r == 9223372030926249001ull);
    const uint64_t g[2] = {3037000500ull, 3037000500ull};
    assert_false(wm_mul_n(&r, 2, g));
}

static void test_parse_strict(void **state)
{
    (void)state;
    wm_error err;
    uint64_t v = 7;
    assert_int_equal(wm_parse_u64("81", "--frames", 1, 100, &v, &err), WM_OK);
    assert_true(v == 81);
    const char *bad[] = {"", "-1", "+1", "1e3", "12abc", " 12", "12 ", "0x10", "101"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wm_error_clear(&err);
        assert_int_equal(wm_parse_u64(bad[i], "--frames", 1, 100, &v, &err), WM_E_INPUT);
        assert_string_equal(err.what, "--frames");
    }
    assert_int_equal(wm_parse_u64("0", "--batch", 1, 100, &v, &err), WM_E_INPUT);
    assert_int_equal(wm_parse_u64("18446744073709551615", "n", 0, UINT64_MAX, &v, &err), WM_OK);
    assert_true(v == UINT64_MAX);
    assert_int_equal(wm_parse_u64("18446744073709551616", "n", 0, UINT64_MAX, &v, &err), WM_E_INPUT);
    assert_non_null(strstr(err.why, "too large"));
    double d = 0;
    assert_int_equal(wm_parse_double("0.05", "tol", &d, &err), WM_OK);
    assert_true(d == 0.05);
    const char *bad_d[] = {"nan", "inf", "0.05x", "", " 1", "1e999"};
    for (size_t i = 0; i < sizeof bad_d / sizeof bad_d[0]; i++)
        assert_int_equal(wm_parse_double(bad_d[i], "tol", &d, &err), WM_E_INPUT);
}

/* ---- geometry -------------------------------------------------------------------------------- */

static wm_status geo(uint64_t f, uint64_t h, uint64_t w, wm_geometry *g, wm_error *err)
{
    wm_model_config c = tl_preset("wan2.1-t2v-14b");
    wm_workload wl = tl_workload("wan2-1-720p-81f");
    wl.num_frames = f;
    wl.height = h;
    wl.width = w;
    return wm_geometry_compute(&c, &wl, g, err);
}

static void test_geometry_native(void **state)
{
    (void)state;
    wm_geometry g;
    wm_error err;
    /* 81 frames 720x1280: T = 80//4+1 = 21, h = 90, w = 160, tokens 45x80 = 3600/frame */
    assert_int_equal(geo(81, 720, 1280, &g, &err), WM_OK);
    assert_true(g.latent_frames == 21 && g.latent_height == 90 && g.latent_width == 160);
    assert_true(g.tokens_per_frame == 3600 && g.dit_seq_len == 75600);
    assert_false(g.frames_not_4n1);
    assert_true(g.pipeline_frames == 81);
    /* 81 frames 480x832: 21 x 30 x 52 = 32760 */
    assert_int_equal(geo(81, 480, 832, &g, &err), WM_OK);
    assert_true(g.dit_seq_len == 32760);
    /* one frame is 4*0+1 */
    assert_int_equal(geo(1, 256, 256, &g, &err), WM_OK);
    assert_true(g.latent_frames == 1 && !g.frames_not_4n1);
}

static void test_geometry_not_4n1(void **state)
{
    (void)state;
    wm_geometry g;
    wm_error err;
    /* 4 frames: T = 3//4+1 = 1; the pipeline would use 4//4*4+1 = 5 frames (T = 2) */
    assert_int_equal(geo(4, 256, 256, &g, &err), WM_OK);
    assert_true(g.latent_frames == 1 && g.dit_seq_len == 256);
    assert_true(g.frames_not_4n1);
    assert_true(g.pipeline_frames == 5);
    assert_non_null(strstr(g.note, "not 4n+1"));
    assert_non_null(strstr(g.note, "= 5 (T = 2)"));
    /* 16 frames: T = 4, pipeline 17 frames (T = 5) */
    assert_int_equal(geo(16, 512, 512, &g, &err), WM_OK);
    assert_true(g.latent_frames == 4 && g.pipeline_frames == 17 && g.dit_seq_len == 4096);
}

static void test_geometry_errors(void **state)
{
    (void)state;
    wm_geometry g;
    wm_error err;
    wm_error_clear(&err);
    assert_int_equal(geo(81, 250, 1280, &g, &err), WM_E_INPUT);
    assert_string_equal(err.what, "height");
    assert_non_null(strstr(err.fix, "240"));
    assert_non_null(strstr(err.fix, "256"));
    assert_int_equal(geo(81, 720, 8, &g, &err), WM_E_INPUT);
    assert_string_equal(err.what, "width");
    assert_string_equal(err.fix, "use 16");
    assert_int_equal(geo(0, 720, 1280, &g, &err), WM_E_INPUT);
    assert_string_equal(err.what, "frames");
    /* 16 * 1025 pixels give 1025 token rows: more than rope_max_seq_len 1024 */
    assert_int_equal(geo(81, 16 * 1025, 1280, &g, &err), WM_E_INPUT);
    assert_non_null(strstr(err.why, "rope_max_seq_len"));
    assert_int_equal(geo(81, 16 * 1024, 1280, &g, &err), WM_OK);
}

static void test_geometry_monotonic(void **state)
{
    (void)state;
    wm_geometry a, b;
    wm_error err;
    for (uint64_t f = 1; f < 400; f++) {
        assert_int_equal(geo(f, 480, 832, &a, &err), WM_OK);
        assert_int_equal(geo(f + 1, 480, 832, &b, &err), WM_OK);
        assert_true(b.dit_seq_len >= a.dit_seq_len);
        assert_int_equal(geo(f + 4, 480, 832, &b, &err), WM_OK);
        assert_true(b.dit_seq_len > a.dit_seq_len);
    }
    for (uint64_t h = 16; h < 4096; h += 16) {
        assert_int_equal(geo(81, h, 832, &a, &err), WM_OK);
        assert_int_equal(geo(81, h + 16, 832, &b, &err), WM_OK);
        assert_true(b.dit_seq_len > a.dit_seq_len);
        assert_int_equal(geo(81, 480, h + 16, &b, &err), WM_OK);
        assert_int_equal(geo(81, 480, h, &a, &err), WM_OK);
        assert_true(b.dit_seq_len > a.dit_seq_len);
    }
}

/* ---- op formulas against hand-computed cases ------------------------------------------------ */

static void test_ops_hand_computed(void **state)
{
    (void)state;
    wm_model_config c = tl_tiny_dit();
    wm_workload w = tl_tiny_workload();
    tl_built b = tl_build(&c, &w);
    /* geometry: T = (5-1)//4+1 = 2, h = 32/8 = 4, w = 48/8 = 6, L = 2 * 2 * 3 = 12 */
    assert_true(wm_report_geometry(b.r)->dit_seq_len == 12);
    /* linear to_q: 2 * (B L = 24) * 8 * 8 = 3072 */
    assert_true(tl_counts(&b, "transformer.blocks.0.attn1.to_q")->flops == 3072);
    /* cross-attention to_k on text: 2 * (B Lt = 6) * 8 * 8 = 768 */
    assert_true(tl_counts(&b, "transformer.blocks.0.attn2.to_k")->flops == 768);
    /* ffn up: 2 * 24 * 8 * 16 = 6144 */
    assert_true(tl_counts(&b, "transformer.blocks.0.ffn.net.0.proj")->flops == 6144);
    assert_true(tl_counts(&b, "transformer.blocks.0.ffn.net.2")->flops == 6144);
    /* self-attention core: 4 * B 2 * L 12 * L 12 * d 8 = 9216 */
    assert_true(tl_counts(&b, "transformer.blocks.0.attn1#sdpa")->flops == 9216);
    /* cross-attention core: 4 * 2 * 12 * 3 * 8 = 2304 */
    assert_true(tl_counts(&b, "transformer.blocks.0.attn2#sdpa")->flops == 2304);
    /* patch embedding conv: 2 * B 2 * out positions 12 * kernel 4 * Cout 8 * Cin 4 = 6144 */
    assert_true(tl_counts(&b, "transformer.patch_embedding")->flops == 6144);
    /* time embedder: 2*2*6*8 = 192 and 2*2*8*8 = 256; time_proj 2*2*8*48 = 1536 */
    assert_true(tl_counts(&b, "transformer.condition_embedder.time_embedder.linear_1")->flops == 192);
    assert_true(tl_counts(&b, "transformer.condition_embedder.time_embedder.linear_2")->flops == 256);
    assert_true(tl_counts(&b, "transformer.condition_embedder.time_proj")->flops == 1536);
    /* text embedder: 2*2*3*12*8 = 1152 and 2*2*3*8*8 = 768 */
    assert_true(tl_counts(&b, "transformer.condition_embedder.text_embedder.linear_1")->flops == 1152);
    assert_true(tl_counts(&b, "transformer.condition_embedder.text_embedder.linear_2")->flops == 768);
    /* head: 2 * 24 * 8 * (Cout 4 * P 4) = 6144 */
    assert_true(tl_counts(&b, "transformer.proj_out")->flops == 6144);
    /* block: attn1 4*3072 + 9216 = 21504; attn2 3072+768+768+3072 + 2304 = 9984;
     * ffn 12288 -> 43776. top: 6144 + (192+256+1536+1152+768) + 6144 = 16192 */
    assert_true(tl_counts(&b, "transformer.blocks.0.attn1")->flops == 21504);
    assert_true(tl_counts(&b, "transformer.blocks.0.attn2")->flops == 9984);
    assert_true(tl_counts(&b, "transformer.blocks.0")->flops == 43776);
    const wm_totals *t = wm_report_totals(b.r);
    assert_true(t->flops_per_forward == 59968);
    assert_true(t->forwards == 6 && t->flops_per_step == 119936 && t->flops == 359808);
    /* norms and elementwise ops count 0 in the torch convention */
    assert_true(tl_counts(&b, "transformer.blocks.0.norm1")->flops == 0);
    assert_true(tl_counts(&b, "transformer.blocks.0.attn1#rope")->flops == 0);
    /* params: to_q 8*8+8 = 72; block 8*72 + 4*8 + 2*8 + (8*16+16) + (16*8+8) + 6*8 = 952;
     * top 136 + 56 + 72 + 432 + 104 + 72 + 144 + 16 = 1032 */
    assert_true(tl_counts(&b, "transformer.blocks.0.attn1.to_q")->params == 72);
    assert_true(tl_counts(&b, "transformer.blocks.0")->params == 952);
    assert_true(t->params == 1984);
    /* bytes of to_q at bf16: read 24*8*2 + 72*2 = 528, write 24*8*2 = 384 */
    assert_true(tl_counts(&b, "transformer.blocks.0.attn1.to_q")->bytes_read == 528);
    assert_true(tl_counts(&b, "transformer.blocks.0.attn1.to_q")->bytes_written == 384);
    /* flash-style attention core reads q + k + v, writes o: (24*8 + 2*24*8)*2 = 1152, 384 */
    assert_true(tl_counts(&b, "transformer.blocks.0.attn1#sdpa")->bytes_read == 1152);
    assert_true(tl_counts(&b, "transformer.blocks.0.attn1#sdpa")->bytes_written == 384);
    tl_unbuild(&b);
}

static void test_modes_hand_computed(void **state)
{
    (void)state;
    wm_model_config c = tl_tiny_dit();
    wm_workload w = tl_tiny_workload();
    w.mode = WM_MODE_TORCH_CPU;
    tl_built b = tl_build(&c, &w);
    /* torch-cpu drops the attention cores: 59968 - 9216 - 2304 = 48448 */
    assert_true(wm_report_totals(b.r)->flops_per_forward == 48448);
    assert_true(tl_counts(&b, "transformer.blocks.0.attn1#sdpa")->flops == 0);
    tl_unbuild(&b);
    w.mode = WM_MODE_FULL;
    b = tl_build(&c, &w);
    const wm_totals *t = wm_report_totals(b.r);
    assert_true(t->matrix_flops_per_forward == 59968);
    /* norm1: layernorm without affine, 5 per element over B L d = 24*8 -> 960 */
    assert_true(tl_counts(&b, "transformer.blocks.0.norm1")->vector_flops == 960);
    /* norm2 has an affine: 7 per element -> 1344 */
    assert_true(tl_counts(&b, "transformer.blocks.0.norm2")->vector_flops == 1344);
    /* softmax etc. 5 per score: 5 * B 2 * H 2 * 12 * 12 = 2880, plus the matrix part */
    assert_true(tl_counts(&b, "transformer.blocks.0.attn1#sdpa")->vector_flops == 2880);
    assert_true(tl_counts(&b, "transformer.blocks.0.attn1#sdpa")->flops == 9216 + 2880);
    /* gelu tanh 8 per element over B L F = 24*16 -> 3072 */
    assert_true(tl_counts(&b, "transformer.blocks.0.ffn.net.0#gelu_tanh")->vector_flops == 3072);
    assert_true(t->flops_per_forward == t->matrix_flops_per_forward + t->vector_flops_per_forward);
    assert_true(t->vector_flops_per_forward > 0);
    tl_unbuild(&b);
}

/* ---- report invariants on the real presets --------------------------------------------------- */

static void test_totals_are_sum_of_leaves(void **state)
{
    (void)state;
    const char *workloads[] = {"wan2-1-ci-tiny", "wan2-1-512p", "wan2-1-720p", "wan2-1-480p-81f",
                               "wan2-1-720p-81f"};
    const char *models[] = {"wan2.1-t2v-14b", "wan2.1-t2v-1.3b"};
    for (size_t mi = 0; mi < 2; mi++)
        for (size_t wi = 0; wi < 5; wi++)
            for (int mode = 0; mode < WM_MODE_COUNT; mode++) {
                wm_model_config c = tl_preset(models[mi]);
                wm_workload w = tl_workload(workloads[wi]);
                w.mode = (wm_mode)mode;
                tl_built b = tl_build(&c, &w);
                const wm_totals *t = wm_report_totals(b.r);
                assert_true(leaf_sum(&b, WM_STAGE_TRANSFORMER, false) == t->flops_per_forward);
                assert_true(leaf_sum(&b, WM_STAGE_TRANSFORMER, true) ==
                            t->matrix_flops_per_forward);
                /* the generation: every stage's leaves, each times its calls */
                assert_true(leaf_sum(&b, WM_STAGE_COUNT, false) == t->flops);
                uint64_t stages = 0;
                for (int k = 0; k < WM_STAGE_COUNT; k++)
                    stages += t->stages[k].flops;
                assert_true(stages == t->flops);
                assert_true(t->stages[WM_STAGE_TRANSFORMER].flops == t->transformer_flops);
                wm_verify_result res;
                wm_error err;
                assert_int_equal(wm_verify_core(b.r, 0.0, &res, &err), WM_OK);
                assert_true(res.count >= 8);
                assert_int_equal(res.failed, 0);
                wm_verify_result_free(&res);
                tl_unbuild(&b);
            }
}

static void test_linear_in_batch_steps_cfg(void **state)
{
    (void)state;
    wm_model_config c = tl_preset("wan2.1-t2v-14b");
    wm_workload w = tl_workload("wan2-1-480p-81f");
    tl_built one = tl_build(&c, &w);
    const wm_totals *t1 = wm_report_totals(one.r);
    uint64_t f1 = t1->transformer_flops, all1 = t1->flops, fwd1 = t1->flops_per_forward;
    w.batch_size = 3;
    tl_built three = tl_build(&c, &w);
    /* every stage is linear in the batch */
    assert_true(wm_report_totals(three.r)->transformer_flops == 3 * f1);
    assert_true(wm_report_totals(three.r)->flops == 3 * all1);
    w.batch_size = 1;
    w.num_inference_steps = 7;
    tl_built seven = tl_build(&c, &w);
    /* only the transformer runs per step */
    assert_true(wm_report_totals(seven.r)->transformer_flops * 50 == f1 * 7);
    assert_true(all1 - wm_report_totals(seven.r)->flops == f1 - f1 / 50 * 7);
    w.num_inference_steps = 50;
    w.cfg = false;
    tl_built nocfg = tl_build(&c, &w);
    /* without guidance: one forward per step, and one prompt for the text encoder */
    assert_true(wm_report_totals(nocfg.r)->transformer_flops * 2 == f1);
    assert_true(wm_report_totals(nocfg.r)->flops_per_forward == fwd1);
    for (int k = 0; k < WM_STAGE_COUNT; k++)
        if (k == WM_STAGE_TEXT_ENCODER || k == WM_STAGE_TRANSFORMER)
            assert_true(wm_report_totals(nocfg.r)->stages[k].flops * 2 == t1->stages[k].flops);
    tl_unbuild(&one);
    tl_unbuild(&three);
    tl_unbuild(&seven);
    tl_unbuild(&nocfg);
}

static void test_wan_facts_numbers(void **state)
{
    (void)state;
    /* WAN_FACTS §5.1 (e) and §5.3, derived from the diffusers source independently of wanmeter
     * and confirmed by FlopCounterMode in the verification tests. */
    wm_model_config c = tl_preset("wan2.1-t2v-14b");
    wm_workload w = tl_workload("wan2-1-720p-81f");
    tl_built b = tl_build(&c, &w);
    assert_true(wm_report_totals(b.r)->flops_per_forward == 6523436592005120ull);
    assert_true(wm_report_totals(b.r)->stages[WM_STAGE_TRANSFORMER].params == 14288491584ull);
    assert_true(tl_counts(&b, "transformer.blocks.0")->flops == 163082220339200ull);
    tl_unbuild(&b);
    w.mode = WM_MODE_TORCH_CPU;
    b = tl_build(&c, &w);
    assert_true(wm_report_totals(b.r)->flops_per_forward == 1809704741765120ull);
    tl_unbuild(&b);
    c = tl_preset("wan2.1-t2v-1.3b");
    w = tl_workload("wan2-1-480p-81f");
    b = tl_build(&c, &w);
    assert_true(wm_report_totals(b.r)->flops_per_forward == 283001787777024ull);
    assert_true(wm_report_totals(b.r)->stages[WM_STAGE_TRANSFORMER].params == 1418996800ull);
    tl_unbuild(&b);
}

static void test_overflow_is_an_error(void **state)
{
    (void)state;
    wm_model_config c = tl_preset("wan2.1-t2v-14b");
    wm_workload w = tl_workload("wan2-1-720p-81f");
    wm_model *m = NULL;
    wm_report *r = NULL;
    wm_error err;
    assert_int_equal(wm_model_build(&c, &m, &err), WM_OK);
    w.batch_size = 9999999999ull;
    wm_error_clear(&err);
    assert_int_equal(wm_report_create(m, &w, &r, &err), WM_E_OVERFLOW);
    assert_null(r);
    assert_int_equal(wm_model_find(m, err.what) >= 0, true); /* names the node */
    /* the whole generation overflows before one forward does: steps x forwards x flops */
    w.batch_size = 1;
    w.num_inference_steps = 1000000000ull;
    assert_int_equal(wm_report_create(m, &w, &r, &err), WM_E_OVERFLOW);
    wm_model_free(m);
}

static void test_model_config_errors(void **state)
{
    (void)state;
    wm_model_config c = tl_preset("wan2.1-t2v-14b");
    wm_model *m = NULL;
    wm_error err;
    c.num_layers = 0;
    assert_int_equal(wm_model_build(&c, &m, &err), WM_E_INPUT);
    assert_string_equal(err.what, "num_layers");
    c = tl_preset("wan2.1-t2v-14b");
    c.ffn_dim = (uint64_t)1 << 40;
    assert_int_equal(wm_model_build(&c, &m, &err), WM_E_INPUT);
    assert_string_equal(err.what, "ffn_dim");
    c = tl_preset("wan2.1-t2v-14b");
    c.image_dim = 1280;
    assert_int_equal(wm_model_build(&c, &m, &err), WM_E_INPUT);
    assert_null(m);
}

/* ---- relative differences, formatting, thresholds ------------------------------------------- */

static void test_rel_diff(void **state)
{
    (void)state;
    assert_true(wm_rel_diff(0, 0) == 0.0);
    assert_true(isinf(wm_rel_diff(1, 0)));
    assert_true(wm_rel_diff(0, 5) == 1.0);
    assert_true(wm_rel_diff(105, 100) == 0.05);
    assert_true(wm_rel_diff(95, 100) == 0.05);
    /* huge values: exact difference first, so one FLOP in 2^63 is not lost */
    double tiny = wm_rel_diff(WM_COUNT_MAX, WM_COUNT_MAX - 1);
    assert_true(tiny > 0.0 && tiny < 1e-18);
    assert_true(wm_rel_diff(WM_COUNT_MAX, WM_COUNT_MAX) == 0.0);
    assert_true(wm_rel_diff(0, WM_COUNT_MAX) == 1.0);
    assert_false(isnan(wm_rel_diff(UINT64_MAX, 0)));
    /* thresholds: at the tolerance passes, above fails; tolerance 0 demands equality */
    assert_true(wm_within(0.05, 0.05));
    assert_false(wm_within(0.0500001, 0.05));
    assert_true(wm_within(0.0, 0.0));
    assert_false(wm_within(tiny, 0.0));
    assert_false(wm_within(INFINITY, 0.99));
    char buf[32];
    wm_format_rel_diff(0.0, buf, sizeof buf);
    assert_string_equal(buf, "0");
    wm_format_rel_diff(INFINITY, buf, sizeof buf);
    assert_string_equal(buf, "inf");
    wm_format_rel_diff(0.05, buf, sizeof buf);
    assert_string_equal(buf, "0.05");
    wm_format_rel_diff(1.0 / 6553600.0, buf, sizeof buf);
    assert_string_equal(buf, "1.53e-07");
}

/* ---- official names (WAN_FACTS §9.7) ----------------------------------------------------------- */

static void test_official_names(void **state)
{
    (void)state;
    static const struct {
        const char *diffusers, *official;
        bool two_experts;
    } cases[] = {
        {"transformer", "model", false},
        {"transformer.patch_embedding", "model.patch_embedding", false},
        {"transformer.blocks.3.attn1.to_q", "model.blocks.3.self_attn.q", false},
        {"transformer.blocks.3.attn1.to_out.0", "model.blocks.3.self_attn.o", false},
        {"transformer.blocks.3.attn1#sdpa", "model.blocks.3.self_attn#sdpa", false},
        {"transformer.blocks.0.attn2.add_k_proj", "model.blocks.0.cross_attn.k_img", false},
        {"transformer.blocks.0.attn2.norm_added_k", "model.blocks.0.cross_attn.norm_k_img", false},
        /* the swap: diffusers norm2 is the cross-attention norm, official norm3 */
        {"transformer.blocks.0.norm2", "model.blocks.0.norm3", false},
        {"transformer.blocks.0.norm3", "model.blocks.0.norm2", false},
        {"transformer.blocks.0.ffn.net.0.proj", "model.blocks.0.ffn.0", false},
        {"transformer.blocks.0.ffn.net.0#gelu_tanh", "model.blocks.0.ffn.1", false},
        {"transformer.blocks.0.ffn.net.2", "model.blocks.0.ffn.2", false},
        {"transformer.condition_embedder.time_embedder.linear_2", "model.time_embedding.2", false},
        {"transformer.condition_embedder.time_proj", "model.time_projection.1", false},
        {"transformer.condition_embedder.text_embedder.linear_1", "model.text_embedding.0", false},
        {"transformer.condition_embedder.image_embedder.ff.net.2", "model.img_emb.proj.3", false},
        {"transformer.proj_out", "model.head.head", false},
        {"transformer.norm_out", "model.head.norm", false},
        {"transformer.blocks.1.attn1.to_k", "high_noise_model.blocks.1.self_attn.k", true},
        {"transformer_2.blocks.1.attn1.to_k", "low_noise_model.blocks.1.self_attn.k", true},
        /* VACE blocks' projections; only the top-level proj_out is the head */
        {"transformer.vace_blocks.0.proj_in", "model.vace_blocks.0.before_proj", false},
        {"transformer.vace_blocks.3.proj_out", "model.vace_blocks.3.after_proj", false},
        /* other components keep their names, their norm2/norm3 included */
        {"vae.decoder.conv_in", "vae.decoder.conv_in", false},
        {"vae.decoder.mid_block.resnets.0.norm2", "vae.decoder.mid_block.resnets.0.norm2", false},
        {"text_encoder.encoder.block.0.layer.0.SelfAttention.q",
         "text_encoder.encoder.block.0.layer.0.SelfAttention.q", false},
        {"transformers.x", "transformers.x", false},
        {"transformer.blocks.0.norm2x", "model.blocks.0.norm2x", false},
    };
    char out[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        wm_official_id(cases[i].diffusers, cases[i].two_experts, out, sizeof out);
        assert_string_equal(out, cases[i].official);
    }
    /* truncation is bounded */
    char tiny[6];
    wm_official_id("transformer.blocks.0", false, tiny, sizeof tiny);
    assert_string_equal(tiny, "model");
}

/* ---- configuration ----------------------------------------------------------------------------- */

static void test_builtin_config(void **state)
{
    (void)state;
    wm_config *cfg = NULL;
    wm_error err;
    assert_int_equal(wm_config_load(NULL, &cfg, &err), WM_OK);
    wm_verify_settings v;
    assert_int_equal(wm_config_verify(cfg, &v, &err), WM_OK);
    /* layers/end2end/core are ${.default} */
    assert_true(v.accept_default == 0.05 && v.accept_layers == 0.05 && v.accept_end2end == 0.05 &&
                v.accept_core == 0.05);
    assert_string_equal(v.device, "meta");
    assert_string_equal(wm_config_output_dir(cfg), "tmp/profile-output");
    /* presets mirror the config.json values (WAN_FACTS §2) */
    wm_model_config c;
    assert_int_equal(wm_config_model(cfg, NULL, &c, &err), WM_OK);
    assert_string_equal(c.id, "wan2.1-t2v-14b");
    assert_true(c.num_attention_heads * c.attention_head_dim == 5120 && c.ffn_dim == 13824 &&
                c.num_layers == 40 && c.in_channels == 16 && c.text_dim == 4096);
    assert_int_equal(wm_config_model(cfg, "wan2.1-t2v-1.3b", &c, &err), WM_OK);
    assert_true(c.num_attention_heads == 12 && c.ffn_dim == 8960 && c.num_layers == 30);
    assert_int_equal(wm_config_model(cfg, "wan2.1-t2v-7b", &c, &err), WM_E_INPUT);
    assert_non_null(strstr(err.fix, "wan2.1-t2v-1.3b"));
    wm_workload w;
    assert_int_equal(wm_config_workload(cfg, "wan2-1-ci-tiny", &w, &err), WM_OK);
    assert_true(w.batch_size == 1 && w.num_inference_steps == 1 && w.num_frames == 4 &&
                w.height == 256 && w.width == 256 && w.text_len == 64 && w.cfg);
    assert_int_equal(wm_config_workload(cfg, "wan2-1-720p", &w, &err), WM_OK);
    assert_true(w.num_frames == 16 && w.height == 720 && w.width == 1280 &&
                w.num_inference_steps == 50 && w.text_len == 512);
    assert_int_equal(wm_config_workload(cfg, "wan2-1-480p-81f", &w, &err), WM_OK);
    assert_true(w.num_frames == 81 && w.height == 480 && w.width == 832);
    /* the standard set is there (model presets add their native workloads after it) */
    static const char *const standard[] = {"wan2-1-ci-tiny", "wan2-1-512p", "wan2-1-720p",
                                           "wan2-1-480p-81f", "wan2-1-720p-81f"};
    assert_true(wm_config_workload_count(cfg) >= 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(wm_config_workload_name(cfg, i), standard[i]);
    wm_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checked_edges),
        cmocka_unit_test(test_parse_strict),
        cmocka_unit_test(test_geometry_native),
        cmocka_unit_test(test_geometry_not_4n1),
        cmocka_unit_test(test_geometry_errors),
        cmocka_unit_test(test_geometry_monotonic),
        cmocka_unit_test(test_ops_hand_computed),
        cmocka_unit_test(test_modes_hand_computed),
        cmocka_unit_test(test_totals_are_sum_of_leaves),
        cmocka_unit_test(test_linear_in_batch_steps_cfg),
        cmocka_unit_test(test_wan_facts_numbers),
        cmocka_unit_test(test_overflow_is_an_error),
        cmocka_unit_test(test_model_config_errors),
        cmocka_unit_test(test_rel_diff),
        cmocka_unit_test(test_official_names),
        cmocka_unit_test(test_builtin_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
