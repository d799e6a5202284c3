/*
 * test_variants.c — every Wan transformer variant: image conditioning (I2V, FLF2V), the VACE
 * control branch, the per-token timestep of Wan2.2 TI2V-5B, the two Wan2.2 A14B experts and
 * their step split, the validation of their config fields, and the presets.
 *
 * The hand-computed model ("tiny") is test_core.c's: WanTransformer3DModel with heads 2 x
 * head_dim 4 (d = 8), ffn 16, 1 layer, 4 in/out channels, patch (1,2,2), text_dim 12,
 * freq_dim 6, with no other pipeline component; the workload is batch B = 2, 5 frames of 32x48
 * pixels (latent T = 2, h = 4, w = 6: L = 2 * 2 * 3 = 12 tokens), 3 text tokens (512 for the
 * image-conditioned models), 3 steps with guidance. Every expected number is worked out in its
 * comment from the FlopCounterMode formulas (linear 2MKN, conv 2 N prod(out) prod(k) Cout Cin,
 * attention core 4 B H Lq Lk hd = 4 B Lq Lk d).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "testlib.h"

#include "model_internal.h"

/* ---- helpers -------------------------------------------------------------------------------- */

/* The transformer alone: the other stages have their own tests. */
/* I2V: CLIP width Di = 6, added key/value projections from d = 8. */
static wm_model_config tiny_i2v(void)
{
    wm_model_config c = tl_tiny_dit();
    c.image_dim = 6;
    c.added_kv_proj_dim = 8;
    return c;
}

static int32_t node(const tl_built *b, const char *id)
{
    int32_t i = wm_model_find(b->m, id);
    if (i < 0)
        fail_msg("no node %s", id);
    return i;
}

static uint64_t flops_of(const tl_built *b, const char *id) { return tl_counts(b, id)->flops; }

/* Builds `c` and expects the validation error `code` naming `what`. */
static void expect_invalid(const wm_model_config *c, const char *what)
{
    tl_expect_invalid(c, what);
    wm_model *m = NULL;
    wm_error err;
    wm_error_clear(&err);
    assert_int_equal(wm_model_build(c, &m, &err), WM_E_INPUT);
    assert_true(err.fix[0] != '\0'); /* and says what to do */
}

/* The report's own invariants (containers, closed form, totals) at tolerance 0. */
static void expect_core_exact(const tl_built *b)
{
    wm_verify_result res;
    wm_error err;
    assert_int_equal(wm_verify_core(b->r, 0.0, &res, &err), WM_OK);
    for (size_t i = 0; i < res.count; i++)
        if (!res.rows[i].pass)
            fail_msg("%s: %llu vs %llu", res.rows[i].id, (unsigned long long)res.rows[i].analytic,
                     (unsigned long long)res.rows[i].reference);
    assert_int_equal(res.failed, 0);
    wm_verify_result_free(&res);
}

/* ---- image conditioning (I2V, FLF2V) ---------------------------------------------------------- */

static void test_i2v_extra_terms(void **state)
{
    (void)state;
    wm_model_config c = tiny_i2v();
    wm_workload w = tl_tiny_workload();
    w.text_len = 512; /* diffusers hard-codes 512 text tokens for image-conditioned models */
    tl_built b = tl_build(&c, &w);
    /* image embedder on Li = 257 CLIP tokens per sample:
     *   ff.net.0.proj  2 B Li Di Di = 2*2*257*6*6 = 37,008
     *   ff.net.2       2 B Li Di d  = 2*2*257*6*8 = 49,344      (norms: 0) */
    assert_true(flops_of(&b, "transformer.condition_embedder.image_embedder.ff.net.0.proj") == 37008);
    assert_true(flops_of(&b, "transformer.condition_embedder.image_embedder.ff.net.2") == 49344);
    assert_true(flops_of(&b, "transformer.condition_embedder.image_embedder") == 86352);
    /* attn2: add_k_proj, add_v_proj 2 B Li Dkv d = 2*2*257*8*8 = 65,792 each;
     *   #sdpa_img 4 B L Li d = 4*2*12*257*8 = 197,376;  #sdpa 4 B L Lt d = 4*2*12*512*8 = 393,216;
     *   to_q, to_out.0 2 B L d d = 3,072 each;  to_k, to_v 2 B Lt d d = 2*2*512*64 = 131,072 each
     *   attn2 = 3,072 + 2*131,072 + 2*65,792 + 197,376 + 393,216 + 3,072 = 990,464 */
    assert_true(flops_of(&b, "transformer.blocks.0.attn2.add_k_proj") == 65792);
    assert_true(flops_of(&b, "transformer.blocks.0.attn2.add_v_proj") == 65792);
    assert_true(flops_of(&b, "transformer.blocks.0.attn2#sdpa_img") == 197376);
    assert_true(flops_of(&b, "transformer.blocks.0.attn2#sdpa") == 393216);
    assert_true(flops_of(&b, "transformer.blocks.0.attn2.to_k") == 131072);
    assert_true(flops_of(&b, "transformer.blocks.0.attn2") == 990464);
    assert_true(flops_of(&b, "transformer.blocks.0.attn2.norm_added_k") == 0);
    /* params: image embedder norm1 2*6 + proj 36+6 + net.2 48+8 + norm2 2*8 = 126;
     * attn2 extras add_k 64+8, add_v 64+8, norm_added_k 8 = 152 */
    assert_true(tl_counts(&b, "transformer.condition_embedder.image_embedder")->params == 126);
    assert_true(tl_counts(&b, "transformer.blocks.0.attn2.add_k_proj")->params == 72);
    assert_true(tl_counts(&b, "transformer.blocks.0.attn2.norm_added_k")->params == 8);
    /* the image embedder's norms are kept in fp32 (their names contain norm1/norm2) */
    assert_true(wm_model_nodes(b.m)[node(&b, "transformer.condition_embedder.image_embedder.norm1")].fp32_params);
    assert_false(wm_model_nodes(b.m)[node(&b, "transformer.condition_embedder.image_embedder.ff.net.2")].fp32_params);
    /* the image core runs after the keys it needs, before the text core and the add */
    assert_true(node(&b, "transformer.blocks.0.attn2.norm_added_k") <
                node(&b, "transformer.blocks.0.attn2#sdpa_img"));
    assert_true(node(&b, "transformer.blocks.0.attn2#sdpa_img") < node(&b, "transformer.blocks.0.attn2#sdpa"));
    assert_true(node(&b, "transformer.blocks.0.attn2#sdpa") < node(&b, "transformer.blocks.0.attn2#img_add"));
    expect_core_exact(&b);
    tl_unbuild(&b);

    /* torch-cpu: both cores count 0: attn2 = 990,464 - 197,376 - 393,216 = 399,872 */
    w.mode = WM_MODE_TORCH_CPU;
    b = tl_build(&c, &w);
    assert_true(flops_of(&b, "transformer.blocks.0.attn2") == 399872);
    expect_core_exact(&b);
    tl_unbuild(&b);

    /* FLF2V: two images, 2 x 257 = 514 tokens with pos_embed (1, 514, Di):
     *   ff.net.0.proj 2*2*514*36 = 74,016;  #sdpa_img 4*2*12*514*8 = 394,752;
     *   image embedder params 126 + 514*6 = 3,210 */
    c.pos_embed_seq_len = 514;
    w.mode = WM_MODE_TORCH;
    b = tl_build(&c, &w);
    assert_true(flops_of(&b, "transformer.condition_embedder.image_embedder.ff.net.0.proj") == 74016);
    assert_true(flops_of(&b, "transformer.blocks.0.attn2#sdpa_img") == 394752);
    assert_true(tl_counts(&b, "transformer.condition_embedder.image_embedder")->params == 3210);
    assert_true(wm_model_find(b.m, "transformer.condition_embedder.image_embedder#pos_embed") >= 0);
    expect_core_exact(&b);
    tl_unbuild(&b);
}

static void test_i2v_needs_512_text_tokens(void **state)
{
    (void)state;
    wm_model_config c = tiny_i2v();
    wm_workload w = tl_tiny_workload(); /* 3 text tokens */
    wm_model *m = NULL;
    wm_report *r = NULL;
    wm_error err;
    assert_int_equal(wm_model_build(&c, &m, &err), WM_OK);
    wm_error_clear(&err);
    assert_int_equal(wm_report_create(m, &w, &r, &err), WM_E_INPUT);
    assert_null(r);
    assert_string_equal(err.what, "text_len");
    assert_string_equal(err.fix, "use 512");
    assert_non_null(strstr(err.why, "512"));
    wm_model_free(m);
    /* a model without an image embedder takes any length */
    c = tl_tiny_dit();
    tl_built b = tl_build(&c, &w);
    tl_unbuild(&b);
}

static void test_image_config_errors(void **state)
{
    (void)state;
    wm_model_config c = tiny_i2v();
    c.added_kv_proj_dim = 0; /* image_dim alone */
    expect_invalid(&c, "added_kv_proj_dim");
    c = tiny_i2v();
    c.image_dim = 0; /* added_kv_proj_dim alone */
    expect_invalid(&c, "image_dim");
    c = tiny_i2v();
    c.added_kv_proj_dim = 16; /* the image embedder outputs d = 8 */
    expect_invalid(&c, "added_kv_proj_dim");
    c = tiny_i2v();
    c.pos_embed_seq_len = 257; /* FLF2V's is 2 x 257 */
    expect_invalid(&c, "pos_embed_seq_len");
    c = tl_tiny_dit();
    c.pos_embed_seq_len = 514; /* without an image embedder */
    expect_invalid(&c, "pos_embed_seq_len");
    c = tl_tiny_dit();
    snprintf(c.class_name, sizeof c.class_name, "WanAnimateTransformer3DModel");
    expect_invalid(&c, "_class_name");
}

/* ---- VACE -------------------------------------------------------------------------------------- */

static wm_model_config tiny_vace(void)
{
    wm_model_config c = tl_tiny_dit();
    snprintf(c.class_name, sizeof c.class_name, "WanVACETransformer3DModel");
    c.num_layers = 3;
    c.vace_layers[0] = 0;
    c.vace_layers[1] = 2;
    c.vace_layers_count = 2;
    c.vace_in_channels = 5;
    return c;
}

static void test_vace_branch(void **state)
{
    (void)state;
    wm_model_config c = tiny_vace();
    wm_workload w = tl_tiny_workload();
    tl_built b = tl_build(&c, &w);
    /* blocks.0 (test_core's tiny block): attn1 4*3,072 + 4*2*12*12*8 = 21,504;
     * attn2 2*3,072 + 2*(2*2*3*64) + 4*2*12*3*8 = 9,984; ffn 2*(2*2*12*8*16) = 12,288
     * -> 43,776 */
    assert_true(flops_of(&b, "transformer.blocks.0") == 43776);
    /* vace_patch_embedding: 2 B L d Cv P = 2*2*12*8*5*4 = 7,680 */
    assert_true(flops_of(&b, "transformer.vace_patch_embedding") == 7680);
    /* vace block = a main block + proj_out (2 B L d d = 3,072); block 0 also proj_in (3,072) */
    assert_true(flops_of(&b, "transformer.vace_blocks.0.proj_in") == 3072);
    assert_true(flops_of(&b, "transformer.vace_blocks.0.proj_out") == 3072);
    assert_true(flops_of(&b, "transformer.vace_blocks.0") == 43776 + 6144);
    assert_true(flops_of(&b, "transformer.vace_blocks.1") == 43776 + 3072);
    assert_int_equal(wm_model_find(b.m, "transformer.vace_blocks.1.proj_in"), -1);
    assert_int_equal(wm_model_find(b.m, "transformer.vace_blocks.2"), -1);
    /* params: proj_in/proj_out 64 + 8 each; a vace block = a main block + 72 (+ 72 for 0) */
    assert_true(tl_counts(&b, "transformer.vace_blocks.1")->params ==
                tl_counts(&b, "transformer.blocks.0")->params + 72);
    /* forward order: both patch embeddings, the condition embedder, every VACE block, then the
     * main blocks, each hint added right after the main block that takes it */
    const wm_node *nodes = wm_model_nodes(b.m);
    assert_true(node(&b, "transformer.vace_patch_embedding") < node(&b, "transformer.condition_embedder"));
    assert_true(node(&b, "transformer.vace_blocks.1") < node(&b, "transformer.blocks.0"));
    int32_t b0 = node(&b, "transformer.blocks.0"), b2 = node(&b, "transformer.blocks.2");
    assert_int_equal(node(&b, "transformer#vace_hint_0"), b0 + (int32_t)nodes[b0].subtree_size);
    assert_int_equal(node(&b, "transformer#vace_hint_1"), b2 + (int32_t)nodes[b2].subtree_size);
    assert_int_equal(wm_model_find(b.m, "transformer#vace_hint_2"), -1);
    expect_core_exact(&b);
    tl_unbuild(&b);
}

static void test_vace_config_errors(void **state)
{
    (void)state;
    wm_model_config c = tiny_vace();
    c.vace_layers_count = 0;
    expect_invalid(&c, "vace_layers");
    c = tiny_vace();
    c.vace_layers[0] = 1; /* [1, 2]: no block 0 */
    expect_invalid(&c, "vace_layers");
    c = tiny_vace();
    c.vace_layers[1] = 3; /* a 3-layer model has blocks 0..2 */
    expect_invalid(&c, "vace_layers[1]");
    c = tiny_vace();
    c.vace_layers[1] = 0; /* listed twice */
    expect_invalid(&c, "vace_layers[1]");
    c = tiny_vace();
    c.vace_in_channels = 0;
    expect_invalid(&c, "vace_in_channels");
    c = tiny_vace();
    snprintf(c.class_name, sizeof c.class_name, "WanTransformer3DModel"); /* fields of VACE */
    expect_invalid(&c, "vace_layers");
    c = tiny_vace();
    c.pipeline.expand_timesteps = true; /* the VACE forward takes [B] timesteps only */
    expect_invalid(&c, "pipeline.expand_timesteps");
}

/* ---- Wan2.2 TI2V-5B: one timestep per token ---------------------------------------------------- */

static void test_ti2v_per_token_time_embedding(void **state)
{
    (void)state;
    wm_model_config c = tl_tiny_dit();
    wm_workload w = tl_tiny_workload();
    tl_built one = tl_build(&c, &w);
    /* per sample (rows B): linear_1 2 B fd d = 2*2*6*8 = 192, linear_2 2 B d d = 256,
     * time_proj 2 B d 6d = 2*2*8*48 = 1,536 */
    assert_true(flops_of(&one, "transformer.condition_embedder.time_embedder.linear_1") == 192);
    assert_true(flops_of(&one, "transformer.condition_embedder.time_embedder.linear_2") == 256);
    assert_true(flops_of(&one, "transformer.condition_embedder.time_proj") == 1536);
    c.pipeline.expand_timesteps = true;
    tl_built tok = tl_build(&c, &w);
    /* per token (rows B L = 24): linear_1 2*2*12*6*8 = 2,304, linear_2 2*2*12*8*8 = 3,072,
     * time_proj 2*2*12*8*48 = 18,432; the text embedder is unchanged: linear_1 2*2*3*12*8
     * = 1,152, linear_2 2*2*3*64 = 768 -> condition_embedder 25,728 */
    assert_true(flops_of(&tok, "transformer.condition_embedder.time_embedder.linear_1") == 2304);
    assert_true(flops_of(&tok, "transformer.condition_embedder.time_embedder.linear_2") == 3072);
    assert_true(flops_of(&tok, "transformer.condition_embedder.time_proj") == 18432);
    assert_true(flops_of(&tok, "transformer.condition_embedder") == 25728);
    /* the rest of the forward is the same */
    assert_true(flops_of(&tok, "transformer.blocks.0") == flops_of(&one, "transformer.blocks.0"));
    expect_core_exact(&tok);
    tl_unbuild(&one);
    tl_unbuild(&tok);
    /* mode full: the modulation tables are per token: #ada_table adds 1 per element of
     * [B, L, 6d] = 2*12*48 = 1,152 (per sample [B, 6d] = 96) */
    w.mode = WM_MODE_FULL;
    tok = tl_build(&c, &w);
    assert_true(tl_counts(&tok, "transformer.blocks.0#ada_table")->vector_flops == 1152);
    assert_true(tl_counts(&tok, "transformer#ada_table")->vector_flops == 2 * 12 * 16);
    tl_unbuild(&tok);
    c.pipeline.expand_timesteps = false;
    one = tl_build(&c, &w);
    assert_true(tl_counts(&one, "transformer.blocks.0#ada_table")->vector_flops == 96);
    tl_unbuild(&one);
}

static void test_ti2v_preset(void **state)
{
    (void)state;
    wm_model_config c = tl_preset("wan2.2-ti2v-5b");
    wm_workload w = tl_workload("wan2-2-ti2v-704p-121f");
    tl_built b = tl_build(&c, &w);
    /* 121 frames at 704x1280, VAE 4x16x16: latent 31x44x80, tokens 31x22x40, L = 27,280 */
    assert_true(wm_report_geometry(b.r)->dit_seq_len == 27280);
    /* WAN_FACTS §5.3: 520,654,782,726,144 per forward, of which the per-token time embedding
     * is 2 L (fd d + 7 d^2) = 2*27,280*(256*3072 + 7*3072^2) = 54,560 * 66,846,720
     * = 3,647,157,043,200 */
    assert_true(wm_report_totals(b.r)->flops_per_forward == 520654782726144ull);
    assert_true(flops_of(&b, "transformer.condition_embedder.time_embedder") +
                    flops_of(&b, "transformer.condition_embedder.time_proj") ==
                3647157043200ull);
    /* WAN_FACTS §2: 4,999,787,712 parameters */
    assert_true(wm_report_totals(b.r)->stages[WM_STAGE_TRANSFORMER].params == 4999787712ull);
    tl_unbuild(&b);
    /* the VAE compresses 16x and the patch is 2: height and width are multiples of 32 */
    wm_geometry g;
    wm_error err;
    w.height = 720;
    assert_int_equal(wm_geometry_compute(&c, &w, &g, &err), WM_E_INPUT);
    assert_string_equal(err.what, "height");
    assert_string_equal(err.fix, "use 704 or 736");
}

/* ---- Wan2.2 A14B: two experts and the step split ----------------------------------------------- */

static uint64_t high_steps(uint64_t steps, double shift, double ratio)
{
    wm_model_config c = tl_preset("wan2.2-t2v-a14b");
    c.pipeline.flow_shift = shift;
    c.pipeline.boundary_ratio = ratio;
    uint64_t high = 0;
    wm_error err;
    assert_int_equal(wm_expert_high_steps(&c, steps, &high, &err), WM_OK);
    return high;
}

static void test_expert_split(void **state)
{
    (void)state;
    /* sigma_i = 1 - i (1 - 1/1000)/steps, shifted s' = shift s / (1 + (shift - 1) s),
     * t_i = floor(1000 s'), high = #{t_i >= 1000 ratio}.
     * 50 steps, shift 3, ratio 0.875: s' >= 0.875 <=> 3s >= 0.875 + 1.75s <=> s >= 0.7
     *   <=> 1 - 0.01998 i >= 0.7 <=> i <= 15.01: i = 0..15 -> 16 (t_15 = floor(875.16) = 875) */
    assert_int_equal(high_steps(50, 3.0, 0.875), 16);
    /* ratio 0.9: 3s >= 0.9 + 1.8s <=> s >= 0.75 <=> i <= 12.51 -> 13 (t_12 = 904, t_13 = 895) */
    assert_int_equal(high_steps(50, 3.0, 0.9), 13);
    /* official A14B: 40 steps, shift 12, ratio 0.875: 12s >= 0.875 + 9.625s <=> s >= 0.36842
     *   <=> 1 - 0.024975 i >= 0.36842 <=> i <= 25.29 -> 26 (t_25 = 878, t_26 = 866) */
    assert_int_equal(high_steps(40, 12.0, 0.875), 26);
    /* no shift, 10 steps, ratio 0.5: t_5 = floor(1000 (1 - 5 * 0.0999)) = floor(500.5) = 500
     * >= 500, t_6 = 400 -> 6 */
    assert_int_equal(high_steps(10, 1.0, 0.5), 6);
    /* one step: sigma 1 -> 1 - 1e-6 (diffusers avoids log(0)) -> t = 999 */
    assert_int_equal(high_steps(1, 5.0, 0.875), 1);
    /* ratio 1: t <= 999 < 1000, every step on the low-noise expert */
    assert_int_equal(high_steps(50, 3.0, 1.0), 0);
    /* the comparison is an int64 tensor against a Python float, done in float32: 875.00000001
     * rounds to 875.0f, so t_15 = 875 still counts (a double comparison would give 15) */
    assert_int_equal(high_steps(50, 3.0, 0.87500000001), 16);
}

static void test_two_experts(void **state)
{
    (void)state;
    wm_model_config c = tl_preset("wan2.2-t2v-a14b");
    wm_workload w = tl_workload("wan2-2-a14b-720p-81f");
    tl_built b = tl_build(&c, &w);
    const wm_totals *t = wm_report_totals(b.r);
    /* 50 steps with guidance: 16 high-noise steps (test_expert_split) -> 32 calls of
     * `transformer`, 34 steps -> 68 calls of `transformer_2` */
    assert_true(t->stages[WM_STAGE_TRANSFORMER].calls == 32);
    assert_true(t->stages[WM_STAGE_TRANSFORMER_2].calls == 68);
    /* both experts are the T2V-14B transformer: WAN_FACTS §5.3 6,523,436,592,005,120 per forward
     * at 81x720x1280, 14,288,491,584 parameters each (§2) */
    assert_true(t->stages[WM_STAGE_TRANSFORMER].flops_per_call == 6523436592005120ull);
    assert_true(t->stages[WM_STAGE_TRANSFORMER_2].flops_per_call == 6523436592005120ull);
    assert_true(t->stages[WM_STAGE_TRANSFORMER_2].params == 14288491584ull);
    assert_true(t->transformer_flops == 100 * 6523436592005120ull);
    assert_true(flops_of(&b, "transformer_2.blocks.39.attn1#sdpa") ==
                flops_of(&b, "transformer.blocks.39.attn1#sdpa"));
    assert_true(wm_model_nodes(b.m)[node(&b, "transformer_2.blocks.0.attn1.to_q")].stage ==
                WM_STAGE_TRANSFORMER_2);
    tl_unbuild(&b);
    /* --impl official: the official Wan2.2 code embeds the timestep per token for every Wan2.2
     * model (WAN_FACTS §9.4, §5.3): + 2 (L - 1)(fd d + 7 d^2) = 2 * 75,599 * (256 * 5120 +
     * 7 * 5120^2) = 151,198 * 184,811,520 = 27,943,132,200,960 per forward of each expert */
    c.impl = WM_IMPL_OFFICIAL;
    tl_built off = tl_build(&c, &w);
    t = wm_report_totals(off.r);
    assert_true(t->stages[WM_STAGE_TRANSFORMER].flops_per_call == 6551379724206080ull);
    assert_true(t->stages[WM_STAGE_TRANSFORMER_2].flops_per_call == 6551379724206080ull);
    expect_core_exact(&off);
    tl_unbuild(&off);
    /* I2V-A14B: 36 input channels, no image embedder; ratio 0.9 -> 13 high steps */
    c = tl_preset("wan2.2-i2v-a14b");
    b = tl_build(&c, &w);
    assert_true(wm_report_totals(b.r)->stages[WM_STAGE_TRANSFORMER].calls == 26);
    assert_int_equal(wm_model_find(b.m, "transformer.condition_embedder.image_embedder"), -1);
    tl_unbuild(&b);
    /* one transformer when boundary_ratio is 0 */
    c.pipeline.boundary_ratio = 0.0;
    b = tl_build(&c, &w);
    assert_int_equal(wm_model_find(b.m, "transformer_2"), -1);
    assert_true(wm_report_totals(b.r)->stages[WM_STAGE_TRANSFORMER].calls == 100);
    tl_unbuild(&b);
}

static void test_pipeline_config_errors(void **state)
{
    (void)state;
    wm_model_config c = tl_tiny_dit();
    c.pipeline.boundary_ratio = 1.5;
    expect_invalid(&c, "pipeline.boundary_ratio");
    c.pipeline.boundary_ratio = NAN;
    expect_invalid(&c, "pipeline.boundary_ratio");
    c.pipeline.boundary_ratio = 0.875;
    c.pipeline.flow_shift = 0.0;
    expect_invalid(&c, "pipeline.flow_shift");
}

/* ---- presets: WAN_FACTS §2 and §5.3 ------------------------------------------------------------ */

static void test_variant_presets(void **state)
{
    (void)state;
    static const struct {
        const char *model, *workload;
        uint64_t fwd, fwd_cpu, params; /* params 0: not in WAN_FACTS */
    } cases[] = {
        {"wan2.1-i2v-14b-480p", "wan2-1-i2v-480p-81f", 1686376373944320ull, 786558869176320ull,
         16394878784ull},
        {"wan2.1-i2v-14b-720p", "wan2-1-i2v-720p-81f", 6540497070981120ull, 1810848820101120ull,
         16394878784ull},
        {"wan2.1-flf2v-14b", "wan2-1-flf2v-720p-81f", 6557495618437120ull, 1811930966917120ull,
         16395536704ull},
        {"wan2.2-t2v-a14b", "wan2-2-a14b-720p-81f", 6523436592005120ull, 1809704741765120ull,
         14288491584ull},
        {"wan2.2-ti2v-5b", "wan2-2-ti2v-704p-121f", 520654782726144ull, 241164556959744ull,
         4999787712ull},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        wm_model_config c = tl_preset(cases[i].model);
        /* each preset names its native workload */
        assert_string_equal(c.workload, cases[i].workload);
        wm_workload w = tl_workload(cases[i].workload);
        tl_built b = tl_build(&c, &w);
        const wm_totals *t = wm_report_totals(b.r);
        if (t->flops_per_forward != cases[i].fwd)
            fail_msg("%s: %llu per forward", cases[i].model, (unsigned long long)t->flops_per_forward);
        assert_true(t->stages[WM_STAGE_TRANSFORMER].params == cases[i].params);
        tl_unbuild(&b);
        w.mode = WM_MODE_TORCH_CPU;
        b = tl_build(&c, &w);
        assert_true(wm_report_totals(b.r)->flops_per_forward == cases[i].fwd_cpu);
        tl_unbuild(&b);
    }
    /* the components each preset carries */
    wm_model_config c = tl_preset("wan2.1-i2v-14b-480p");
    assert_true(c.has_image_encoder && c.has_text_encoder && c.has_vae);
    assert_true(c.image_encoder.hidden_size == 1280 && c.image_encoder.num_hidden_layers == 32 &&
                c.image_encoder.patch_size == 14 && c.image_encoder.image_size == 224);
    c = tl_preset("wan2.2-i2v-a14b");
    assert_true(!c.has_image_encoder && c.in_channels == 36 && c.image_dim == 0);
    c = tl_preset("wan2.2-ti2v-5b");
    assert_true(c.vae.z_dim == 48 && c.vae.base_dim == 160 && c.vae.decoder_base_dim == 256 &&
                c.vae.is_residual && c.vae.patch_size == 2 && c.vae.scale_factor_spatial == 16 &&
                c.pipeline.vae_scale_factor_spatial == 16 && c.pipeline.expand_timesteps);
    c = tl_preset("wan2.1-vace-14b");
    assert_true(c.vace_layers_count == 8 && c.vace_layers[7] == 35 && c.vace_in_channels == 96);
    c = tl_preset("wan2.1-vace-1.3b");
    assert_true(c.vace_layers_count == 15 && c.vace_layers[14] == 28);
    /* every preset builds, evaluates its native workload and passes its own invariants */
    wm_config *cfg = NULL;
    wm_error err;
    assert_int_equal(wm_config_load(NULL, &cfg, &err), WM_OK);
    for (size_t i = 0; i < wm_config_model_count(cfg); i++) {
        const char *name = wm_config_model_name(cfg, i);
        wm_model_config mc;
        wm_workload w;
        assert_int_equal(wm_config_model(cfg, name, &mc, &err), WM_OK);
        assert_true(mc.workload[0] != '\0');
        assert_int_equal(wm_config_workload(cfg, mc.workload, &w, &err), WM_OK);
        tl_built b = tl_build(&mc, &w);
        expect_core_exact(&b);
        tl_unbuild(&b);
    }
    wm_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_i2v_extra_terms),
        cmocka_unit_test(test_i2v_needs_512_text_tokens),
        cmocka_unit_test(test_image_config_errors),
        cmocka_unit_test(test_vace_branch),
        cmocka_unit_test(test_vace_config_errors),
        cmocka_unit_test(test_ti2v_per_token_time_embedding),
        cmocka_unit_test(test_ti2v_preset),
        cmocka_unit_test(test_expert_split),
        cmocka_unit_test(test_two_experts),
        cmocka_unit_test(test_pipeline_config_errors),
        cmocka_unit_test(test_variant_presets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
