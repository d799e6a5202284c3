/*
 * test_encoders.c — the text_encoder (umT5, src/models/umt5.c) and image_encoder (CLIP vision,
 * src/models/clip.c) stages: their trees, FLOPs per call in each counting mode, parameters,
 * calls per generation and config errors.
 *
 * Every expected number is worked out in its comment from the FlopCounterMode formulas (linear
 * 2*M*K*N, conv 2*N*prod(out)*prod(k)*Cout*Cin, attention core 4*B*Lq*Lk*(H*hd)) and, for mode
 * full, the per-element costs of docs/formulas.md (rmsnorm 4, layernorm 7 with affine, gelu 8,
 * add 1, softmax 5 per score). Hand-sized models:
 *   tiny umT5: d 8, H 2 x dk 4 (inner 8), Ff 16, 1 layer, V 10, 4 buckets, gated-gelu;
 *   tiny CLIP: D 8, H 2 (hd 4), I 16, 1 layer, image 4, patch 2 (P 4 patches, Lc 5 tokens), C 3.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "testlib.h"

#include "wanmeter.h"

/* ---- helpers -------------------------------------------------------------------------------- */

/* CLIP ViT-H/14 as in Wan-AI/Wan2.1-I2V-14B-480P-Diffusers/image_encoder/config.json */
static wm_image_encoder_config vit_h14(void)
{
    wm_image_encoder_config c = {.class_name = "CLIPVisionModel", .hidden_size = 1280,
                                 .intermediate_size = 5120, .num_hidden_layers = 32,
                                 .num_attention_heads = 16, .image_size = 224, .patch_size = 14,
                                 .num_channels = 3, .projection_dim = 1024, .hidden_act = "gelu",
                                 .layer_norm_eps = 1e-5};
    return c;
}

/* The 14B T2V preset (umT5-XXL text encoder) with the DiT cut to one tiny block, so the
 * transformer builds fast and never gets in the way; only the encoder stages are checked. */
static wm_model_config encoders_model(void)
{
    wm_model_config c = tl_preset("wan2.1-t2v-14b");
    c.num_layers = 1;
    c.has_vae = false;
    c.has_image_encoder = true;
    c.image_encoder = vit_h14();
    return c;
}

static wm_model_config tiny_model(void)
{
    wm_model_config c = encoders_model();
    c.text_encoder.d_model = 8;
    c.text_encoder.num_heads = 2;
    c.text_encoder.d_kv = 4;
    c.text_encoder.d_ff = 16;
    c.text_encoder.num_layers = 1;
    c.text_encoder.vocab_size = 10;
    c.text_encoder.relative_attention_num_buckets = 4;
    c.image_encoder.hidden_size = 8;
    c.image_encoder.num_attention_heads = 2;
    c.image_encoder.intermediate_size = 16;
    c.image_encoder.num_hidden_layers = 1;
    c.image_encoder.image_size = 4;
    c.image_encoder.patch_size = 2;
    return c;
}

static wm_workload workload(uint64_t batch, uint64_t text_len, bool cfg, wm_mode mode)
{
    return (wm_workload){.profile_id = "enc", .batch_size = batch, .num_frames = 5, .height = 32,
                         .width = 32, .num_inference_steps = 3, .text_len = text_len, .cfg = cfg,
                         .dtype = WM_DTYPE_BF16, .mode = mode};
}

static const wm_node *node_of(const tl_built *b, const char *id)
{
    int32_t i = wm_model_find(b->m, id);
    if (i < 0)
        fail_msg("no node %s", id);
    return &wm_model_nodes(b->m)[i];
}

static const wm_stage_total *stage(const tl_built *b, wm_stage s)
{
    return &wm_report_totals(b->r)->stages[s];
}

/* ---- umT5 ------------------------------------------------------------------------------------ */

static void test_umt5_tiny_modes(void **state)
{
    (void)state;
    wm_model_config c = tiny_model();
    /* B 2, Lt 3: M = 6 rows.
     * q, k, v, o: 2*6*8*8 = 768 each -> 3072; wi_0, wi_1: 2*6*8*16 = 1536 each -> 3072;
     * wo: 2*6*16*8 = 1536. Linears 7680. Attention core 4*B*Lq*Lk*inner = 4*2*3*3*8 = 576.
     * torch: 8256; torch-cpu (fused CPU SDPA counts 0): 7680.
     * full adds: layer_norm x2 4*6*8 = 192 each (384), residual x2 1*6*8 = 48 each (96),
     * act 8*6*16 = 768, gate multiply 1*6*16 = 96, softmax 5*B*H*Lq*Lk = 5*2*2*3*3 = 180,
     * final_layer_norm 192: 1716 -> 9972. */
    const struct {
        wm_mode mode;
        uint64_t flops;
    } want[] = {{WM_MODE_TORCH, 8256}, {WM_MODE_TORCH_CPU, 7680}, {WM_MODE_FULL, 9972}};
    for (size_t k = 0; k < 3; k++) {
        wm_workload w = workload(2, 3, true, want[k].mode);
        tl_built b = tl_build(&c, &w);
        assert_int_equal(tl_counts(&b, "text_encoder")->flops, want[k].flops);
        assert_int_equal(stage(&b, WM_STAGE_TEXT_ENCODER)->flops_per_call, want[k].flops);
        /* the attention core is filed under SelfAttention, as FlopCounterMode does */
        assert_int_equal(tl_counts(&b, "text_encoder.encoder.block.0.layer.0.SelfAttention")->matrix_flops,
                         want[k].mode == WM_MODE_TORCH_CPU ? 3072 : 3072 + 576);
        assert_int_equal(tl_counts(&b, "text_encoder.encoder.block.0.layer.1.DenseReluDense.wi_0")->flops,
                         1536);
        tl_unbuild(&b);
    }
    /* params: embed_tokens V*d = 80 (the tied `shared`, counted once); q, k, v, o 64 each (256);
     * relative_attention_bias 4*2 = 8; two layer_norms 8 each (16); wi_0, wi_1 128 each (256);
     * wo 128; final_layer_norm 8: 752 */
    wm_workload w = workload(2, 3, true, WM_MODE_TORCH);
    tl_built b = tl_build(&c, &w);
    assert_int_equal(stage(&b, WM_STAGE_TEXT_ENCODER)->params, 752);
    assert_int_equal(tl_counts(&b, "text_encoder.encoder.embed_tokens")->params, 80);
    assert_int_equal(wm_model_find(b.m, "text_encoder.shared"), -1);
    /* weight bytes in bf16: 2*752, plus wo kept in fp32 (_keep_in_fp32_modules): +2*128 */
    assert_int_equal(stage(&b, WM_STAGE_TEXT_ENCODER)->weight_bytes, 2 * 752 + 2 * 128);
    tl_unbuild(&b);
}

static void test_umt5_xxl_wan_facts(void **state)
{
    (void)state;
    wm_model_config c = encoders_model();
    /* per layer 2*B*Lt*(4*d*inner + 3*d*Ff) + 4*B*H*Lt^2*dk
     *   = 2*Lt*(4*4096*4096 + 3*4096*10240) + 4*64*Lt^2*64 = 385,875,968*Lt + 16,384*Lt^2.
     * Lt 512: 197,568,495,616 + 4,294,967,296 = 201,863,462,912; x 24 = 4,844,723,109,888
     * (4,741,643,894,784 linears + 103,079,215,104 attention). */
    wm_workload w = workload(1, 512, true, WM_MODE_TORCH);
    tl_built b = tl_build(&c, &w);
    const wm_stage_total *st = stage(&b, WM_STAGE_TEXT_ENCODER);
    assert_true(st->present && st->selected);
    assert_int_equal(st->flops_per_call, 4844723109888ull);
    /* CFG: prompt and negative prompt are two calls */
    assert_int_equal(st->calls, 2);
    assert_int_equal(st->flops, 2 * 4844723109888ull);
    assert_int_equal(tl_counts(&b, "text_encoder.encoder.block.23")->flops, 201863462912ull);
    assert_int_equal(tl_counts(&b, "text_encoder.encoder.block.7.layer.0.SelfAttention.q")->flops,
                     2ull * 512 * 4096 * 4096);
    /* params (UMT5EncoderModel.parameters(), WAN_FACTS §2): V*d + N*(4*d*inner + nb*H + d +
     * 3*d*Ff + d) + d = 1,050,148,864 + 24*192,948,224 + 4096 = 5,680,910,336 */
    assert_int_equal(st->params, 5680910336ull);
    /* op keys: linears without bias are aten.mm; the attention core is aten.bmm on meta (math
     * path) and nothing on the CPU (fused kernel) */
    const wm_node *q = node_of(&b, "text_encoder.encoder.block.0.layer.0.SelfAttention.q");
    const wm_node *core = node_of(&b, "text_encoder.encoder.block.0.layer.0.SelfAttention#sdpa");
    assert_string_equal(wm_node_aten(q, WM_MODE_TORCH), "aten.mm");
    assert_string_equal(wm_node_aten(core, WM_MODE_TORCH), "aten.bmm");
    assert_string_equal(wm_node_aten(core, WM_MODE_TORCH_CPU), "");
    assert_false(core->explicit_matmul);
    assert_int_equal(node_of(&b, "text_encoder")->stage, WM_STAGE_TEXT_ENCODER);
    assert_int_equal(node_of(&b, "text_encoder.encoder.block.5.layer.1.DenseReluDense.wo")->stage,
                     WM_STAGE_TEXT_ENCODER);
    tl_unbuild(&b);

    /* no CFG: one call. B 2, Lt 64, torch-cpu: linears only, 24 * 385,875,968*2*64
     * = 24 * 49,392,123,904 = 1,185,410,973,696 */
    w = workload(2, 64, false, WM_MODE_TORCH_CPU);
    b = tl_build(&c, &w);
    st = stage(&b, WM_STAGE_TEXT_ENCODER);
    assert_int_equal(st->calls, 1);
    assert_int_equal(st->flops_per_call, 1185410973696ull);
    assert_int_equal(st->flops, 1185410973696ull);
    tl_unbuild(&b);

    /* the selected-stage total carries calls x per call */
    w = workload(1, 512, true, WM_MODE_TORCH);
    w.stages = 1u << WM_STAGE_TEXT_ENCODER;
    b = tl_build(&c, &w);
    assert_int_equal(wm_report_totals(b.r)->flops, 2 * 4844723109888ull);
    tl_unbuild(&b);
}

static void test_umt5_non_gated(void **state)
{
    (void)state;
    wm_model_config c = tiny_model();
    snprintf(c.text_encoder.feed_forward_proj, sizeof c.text_encoder.feed_forward_proj, "gelu");
    /* DenseActDense: wi 2*6*8*16 = 1536, wo 1536; q, k, v, o 3072; core 576: 6720 */
    wm_workload w = workload(2, 3, true, WM_MODE_TORCH);
    tl_built b = tl_build(&c, &w);
    assert_int_equal(tl_counts(&b, "text_encoder")->flops, 6720);
    assert_int_equal(tl_counts(&b, "text_encoder.encoder.block.0.layer.1.DenseReluDense.wi")->flops, 1536);
    assert_int_equal(wm_model_find(b.m, "text_encoder.encoder.block.0.layer.1.DenseReluDense.wi_0"), -1);
    tl_unbuild(&b);
}

/* ---- CLIP --------------------------------------------------------------------------------- */

static void test_clip_tiny_modes(void **state)
{
    (void)state;
    wm_model_config c = tiny_model();
    /* B 2, 1 image each call, Lc 5: M = 10 token rows.
     * patch_embedding: 2*B*P*p^2*C*D = 2*2*4*4*3*8 = 1536;
     * q, k, v, out_proj: 2*10*8*8 = 1280 each (5120); fc1, fc2: 2*10*8*16 = 2560 each (5120);
     * attention core 4*B*Lc^2*D = 4*2*25*8 = 1600. torch 13376, torch-cpu 11776.
     * full adds: #pos_add 1*10*8 = 80, pre_layrnorm 7*10*8 = 560, layer_norm1/2 560 each,
     * two residuals 80 each, gelu 8*10*16 = 1280, softmax 5*B*H*Lc^2 = 5*2*2*25 = 500,
     * post_layernorm on the CLS row 7*2*8 = 112: 3812 -> 17188. */
    const struct {
        wm_mode mode;
        uint64_t flops;
    } want[] = {{WM_MODE_TORCH, 13376}, {WM_MODE_TORCH_CPU, 11776}, {WM_MODE_FULL, 17188}};
    for (size_t k = 0; k < 3; k++) {
        wm_workload w = workload(2, 3, true, want[k].mode);
        tl_built b = tl_build(&c, &w);
        assert_int_equal(tl_counts(&b, "image_encoder")->flops, want[k].flops);
        assert_int_equal(tl_counts(&b, "image_encoder.embeddings.patch_embedding")->flops, 1536);
        assert_int_equal(tl_counts(&b, "image_encoder.encoder.layers.0.self_attn")->matrix_flops,
                         want[k].mode == WM_MODE_TORCH_CPU ? 5120 : 5120 + 1600);
        /* once per generation, CFG or not */
        assert_int_equal(stage(&b, WM_STAGE_IMAGE_ENCODER)->calls, 1);
        tl_unbuild(&b);
    }
    /* params: class_embedding 8, patch conv 3*8*2*2 = 96 (no bias), position_embedding 5*8 = 40,
     * pre_layrnorm 16; layer: layer_norm1 16, q/k/v/out 72 each (288), layer_norm2 16,
     * fc1 8*16+16 = 144, fc2 16*8+8 = 136 (600); post_layernorm 16: 776 */
    wm_workload w = workload(2, 3, false, WM_MODE_TORCH);
    tl_built b = tl_build(&c, &w);
    assert_int_equal(stage(&b, WM_STAGE_IMAGE_ENCODER)->params, 776);
    assert_int_equal(tl_counts(&b, "image_encoder.embeddings.patch_embedding")->params, 96);
    /* diffusers loads the image encoder in fp32: 4 bytes per parameter at any dtype */
    assert_int_equal(stage(&b, WM_STAGE_IMAGE_ENCODER)->weight_bytes, 4 * 776);
    assert_int_equal(stage(&b, WM_STAGE_IMAGE_ENCODER)->calls, 1);
    tl_unbuild(&b);

    /* FLF2V (pos_embed_seq_len 2 x 257): first and last frame in one call, twice the rows */
    c.in_channels = 36;
    c.image_dim = 1280;
    c.added_kv_proj_dim = 5120;
    c.pos_embed_seq_len = 514;
    w = workload(2, 512, true, WM_MODE_TORCH); /* image-conditioned models take 512 text tokens */
    b = tl_build(&c, &w);
    assert_int_equal(tl_counts(&b, "image_encoder")->flops, 2 * 13376);
    assert_int_equal(node_of(&b, "image_encoder.encoder.layers.0.mlp.fc2")->batch_mul, 2);
    tl_unbuild(&b);
}

static void test_clip_vit_h14_wan_facts(void **state)
{
    (void)state;
    wm_model_config c = encoders_model();
    /* per image: patch conv 2*256*196*3*1280 = 385,351,680;
     * per layer 2*257*(4*1280^2 + 2*1280*5120) = 10,105,651,200 linears
     *         + 4*257^2*1280 = 338,170,880 attention;
     * 32 layers: 323,380,838,400 + 10,821,468,160.
     * meta: 385,351,680 + 323,380,838,400 + 10,821,468,160 = 334,587,658,240;
     * CPU:  385,351,680 + 323,380,838,400 = 323,766,190,080. */
    wm_workload w = workload(1, 512, true, WM_MODE_TORCH);
    tl_built b = tl_build(&c, &w);
    const wm_stage_total *st = stage(&b, WM_STAGE_IMAGE_ENCODER);
    assert_true(st->present);
    assert_int_equal(st->calls, 1);
    assert_int_equal(st->flops_per_call, 334587658240ull);
    assert_int_equal(tl_counts(&b, "image_encoder.encoder.layers.31")->flops,
                     10105651200ull + 338170880ull);
    /* params: embeddings 1280 + 3*1280*196 + 257*1280 = 1,082,880; pre/post LN 2560 each;
     * per layer 4*(1280^2+1280) + 2*2560 + (1280*5120+5120) + (5120*1280+1280) = 19,677,440;
     * total 1,082,880 + 5,120 + 32*19,677,440 = 630,766,080 */
    assert_int_equal(st->params, 630766080ull);
    const wm_node *q = node_of(&b, "image_encoder.encoder.layers.0.self_attn.q_proj");
    const wm_node *core = node_of(&b, "image_encoder.encoder.layers.0.self_attn#sdpa");
    assert_string_equal(wm_node_aten(q, WM_MODE_TORCH), "aten.addmm");
    assert_string_equal(wm_node_aten(core, WM_MODE_TORCH), "aten.bmm");
    assert_string_equal(wm_node_aten(core, WM_MODE_TORCH_CPU), "");
    assert_string_equal(wm_node_aten(node_of(&b, "image_encoder.embeddings.patch_embedding"),
                                     WM_MODE_TORCH),
                        "aten.convolution");
    assert_int_equal(core->heads, 16);
    assert_int_equal(core->head_dim, 80);
    tl_unbuild(&b);

    w.mode = WM_MODE_TORCH_CPU;
    b = tl_build(&c, &w);
    assert_int_equal(stage(&b, WM_STAGE_IMAGE_ENCODER)->flops_per_call, 323766190080ull);
    tl_unbuild(&b);
}

/* ---- --impl official -------------------------------------------------------------------- */

static void test_impl_official(void **state)
{
    (void)state;
    wm_model_config c = encoders_model();
    c.impl = WM_IMPL_OFFICIAL;
    /* the official T5 computes attention with two einsums (aten.bmm on every device): at Lt 512
     * mode torch-cpu keeps the 24 * 16,384 * 512^2 = 103,079,215,104 of attention, so the call
     * is 4,844,723,109,888 as on meta. Its weights are all bf16 (no fp32 wo): 2 * 5,680,910,336. */
    wm_workload w = workload(1, 512, true, WM_MODE_TORCH_CPU);
    tl_built b = tl_build(&c, &w);
    assert_int_equal(stage(&b, WM_STAGE_TEXT_ENCODER)->flops_per_call, 4844723109888ull);
    assert_true(node_of(&b, "text_encoder.encoder.block.0.layer.0.SelfAttention#sdpa")->explicit_matmul);
    assert_int_equal(stage(&b, WM_STAGE_TEXT_ENCODER)->weight_bytes, 2 * 5680910336ull);
    /* CLIP use_31_block, the CPU counting no attention core:
     * 385,351,680 + 31 * 10,105,651,200 = 313,660,538,880 */
    assert_int_equal(stage(&b, WM_STAGE_IMAGE_ENCODER)->flops_per_call, 313660538880ull);
    tl_unbuild(&b);

    w.mode = WM_MODE_TORCH;
    b = tl_build(&c, &w);
    /* 385,351,680 + 31 * (10,105,651,200 + 338,170,880) = 324,143,836,160 */
    assert_int_equal(stage(&b, WM_STAGE_IMAGE_ENCODER)->flops_per_call, 324143836160ull);
    assert_int_equal(wm_model_find(b.m, "image_encoder.encoder.layers.31"), -1);
    assert_int_equal(wm_model_find(b.m, "image_encoder.post_layernorm"), -1);
    /* the last block and post_norm do not run, but their weights are loaded: the stage keeps
     * all 630,766,080 parameters (19,677,440 on `encoder`, 2,560 on the root) */
    assert_int_equal(stage(&b, WM_STAGE_IMAGE_ENCODER)->params, 630766080ull);
    assert_int_equal(node_of(&b, "image_encoder.encoder")->params, 19677440);
    tl_unbuild(&b);
}

/* ---- errors ------------------------------------------------------------------------------- */

static void test_config_errors(void **state)
{
    (void)state;
    wm_model_config c = tiny_model();
    snprintf(c.text_encoder.feed_forward_proj, sizeof c.text_encoder.feed_forward_proj, "relu");
    tl_expect_invalid(&c, "text_encoder.feed_forward_proj");
    c = tiny_model();
    snprintf(c.text_encoder.class_name, sizeof c.text_encoder.class_name, "T5EncoderModel");
    tl_expect_invalid(&c, "text_encoder._class_name");
    c = tiny_model();
    c.text_encoder.d_kv = 0;
    tl_expect_invalid(&c, "text_encoder.d_kv");
    c = tiny_model();
    c.image_encoder.num_attention_heads = 3; /* 8 % 3 != 0 */
    tl_expect_invalid(&c, "image_encoder.num_attention_heads");
    c = tiny_model();
    c.image_encoder.image_size = 5; /* not a multiple of the patch 2 */
    tl_expect_invalid(&c, "image_encoder.image_size");
    c = tiny_model();
    snprintf(c.image_encoder.class_name, sizeof c.image_encoder.class_name,
             "CLIPVisionModelWithProjection");
    tl_expect_invalid(&c, "image_encoder._class_name");
    c = tiny_model();
    snprintf(c.image_encoder.hidden_act, sizeof c.image_encoder.hidden_act, "relu");
    tl_expect_invalid(&c, "image_encoder.hidden_act");
}

/* An image_encoder section in a user config turns the stage on (has_image_encoder). */
static void test_config_section(void **state)
{
    (void)state;
    wm_model_config c = tl_preset("wan2.1-t2v-14b");
    assert_true(c.has_text_encoder);
    assert_int_equal(c.text_encoder.num_layers, 24);
    assert_int_equal(c.text_encoder.vocab_size, 256384);
    assert_false(c.has_image_encoder);
    c.num_layers = 1;
    wm_workload w = workload(1, 64, true, WM_MODE_TORCH);
    tl_built b = tl_build(&c, &w);
    assert_false(stage(&b, WM_STAGE_IMAGE_ENCODER)->present);
    assert_int_equal(wm_model_find(b.m, "image_encoder"), -1);
    tl_unbuild(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_umt5_tiny_modes),
        cmocka_unit_test(test_umt5_xxl_wan_facts),
        cmocka_unit_test(test_umt5_non_gated),
        cmocka_unit_test(test_clip_tiny_modes),
        cmocka_unit_test(test_clip_vit_h14_wan_facts),
        cmocka_unit_test(test_impl_official),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_config_section),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
