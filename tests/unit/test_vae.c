/*
 * test_vae.c — the AutoencoderKLWan layer trees (src/models/wan_vae.c): parameters, the FLOPs of
 * single modules worked out by hand, the stage totals of WAN_FACTS §7, which pipelines encode,
 * the counting modes and the config errors.
 *
 * Hand-computed cases use batch 1, F = 5 frames of 16 x 16 pixels: latent T = (5-1)//4+1 = 2,
 * h = w = 16/8 = 2 (hw = 4 positions per latent frame). FlopCounterMode's formulas: a conv is
 * 2 * output positions * prod(kernel) * Cin * Cout; the VAE attention (one head, per frame) is
 * 4 * B * frames * (positions per frame)^2 * C. Frames through the decoder: T at the latent
 * size, 2T-1 after the first upsample3d, 4T-3 after the second; time_conv only sees the frames
 * of the chunks after the first: T-1, then 2(T-1). Through the encoder: 4T-3 pixel frames,
 * 2T-1 after the first downsample3d, T after the second; time_conv outputs 2(T-1), then T-1.
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

/* The T2V-14B preset as an image-to-video pipeline (variant i2v: the rule's simplest trigger). */
static wm_model_config i2v_model(void)
{
    wm_model_config c = tl_preset("wan2.1-t2v-14b");
    snprintf(c.variant, sizeof c.variant, "i2v");
    return c;
}

/* The Wan2.2 VAE of TI2V-5B (WAN_FACTS §7): base 160, decoder base 256, z 48, residual blocks,
 * pixels patchified 2 x 2 (3 -> 12 channels), 16 x spatial compression. */
static void wan22_vae(wm_model_config *c)
{
    wm_vae_config *v = &c->vae;
    v->base_dim = 160;
    v->decoder_base_dim = 256;
    v->z_dim = 48;
    v->is_residual = true;
    v->in_channels = v->out_channels = 12;
    v->patch_size = 2;
    v->scale_factor_spatial = 16;
    c->pipeline.vae_scale_factor_spatial = 16;
}

static wm_workload work(uint64_t frames, uint64_t h, uint64_t w, wm_mode mode)
{
    return (wm_workload){.profile_id = "vae", .batch_size = 1, .num_frames = frames, .height = h,
                         .width = w, .num_inference_steps = 1, .text_len = 512, .cfg = true,
                         .dtype = WM_DTYPE_BF16, .mode = mode};
}

static uint64_t flops(const tl_built *b, const char *id) { return tl_counts(b, id)->flops; }

static const wm_stage_total *stage(const tl_built *b, wm_stage s)
{
    return &wm_report_totals(b->r)->stages[s];
}

/* ---- parameters: the module's own count, by formula ------------------------------------------ */

/* Conv with bias: Cin * Cout * prod(kernel) + Cout. */
static uint64_t pconv(uint64_t i, uint64_t o, uint64_t k) { return i * o * k + o; }
/* WanResidualBlock: norm1 gamma (in), conv1 3x3x3, norm2 gamma (out), conv2, 1x1x1 shortcut. */
static uint64_t pres(uint64_t i, uint64_t o)
{
    return pconv(i, o, 27) + pconv(o, o, 27) + i + o + (i != o ? pconv(i, o, 1) : 0);
}
/* WanAttentionBlock: norm gamma (C), to_qkv Conv2d 1x1 C -> 3C, proj Conv2d 1x1 C -> C. */
static uint64_t pattn(uint64_t C) { return C + pconv(C, 3 * C, 1) + pconv(C, C, 1); }
static uint64_t pmid(uint64_t C) { return 2 * pres(C, C) + pattn(C); }

static void test_params_wan21(void **state)
{
    (void)state;
    wm_model_config c = i2v_model();
    wm_workload w = work(5, 16, 16, WM_MODE_TORCH);
    tl_built b = tl_build(&c, &w);
    /* decoder: conv_in 16->384; mid 384; up0: 3 res 384, time_conv 384->768 (3,1,1), Conv2d
     * 384->192; up1: res 192->384 + 2 res 384, the same upsample3d; up2: 3 res 192, Conv2d
     * 192->96; up3: 3 res 96; norm_out 96; conv_out 96->3 */
    const uint64_t dec = pconv(16, 384, 27) + pmid(384) + 3 * pres(384, 384) + pconv(384, 768, 3) +
                         pconv(384, 192, 9) + pres(192, 384) + 2 * pres(384, 384) +
                         pconv(384, 768, 3) + pconv(384, 192, 9) + 3 * pres(192, 192) +
                         pconv(192, 96, 9) + 3 * pres(96, 96) + 96 + pconv(96, 3, 27);
    /* encoder: conv_in 3->96; 2 res 96, Conv2d s2 96; res 96->192, res 192, Conv2d s2 192 +
     * time_conv 192 (3,1,1); res 192->384, res 384, Conv2d s2 384 + time_conv 384; 2 res 384;
     * mid 384; norm_out 384; conv_out 384->32 */
    const uint64_t enc = pconv(3, 96, 27) + 2 * pres(96, 96) + pconv(96, 96, 9) + pres(96, 192) +
                         pres(192, 192) + pconv(192, 192, 9) + pconv(192, 192, 3) +
                         pres(192, 384) + pres(384, 384) + pconv(384, 384, 9) +
                         pconv(384, 384, 3) + 2 * pres(384, 384) + pmid(384) + 384 +
                         pconv(384, 32, 27);
    assert_true(dec == 73295331ull); /* WAN_FACTS §2, and torch's count of vae.decoder */
    assert_true(enc == 53595872ull); /* WAN_FACTS §2, and torch's count of vae.encoder */
    assert_true(tl_counts(&b, "vae.decoder")->params == dec);
    assert_true(tl_counts(&b, "vae.encoder")->params == enc);
    assert_true(tl_counts(&b, "vae.post_quant_conv")->params == pconv(16, 16, 1)); /* 272 */
    assert_true(tl_counts(&b, "vae.quant_conv")->params == pconv(32, 32, 1));      /* 1,056 */
    /* encode + decode roots = AutoencoderKLWan's parameters, 126,892,531 (WAN_FACTS §2) */
    assert_true(stage(&b, WM_STAGE_VAE_ENCODE)->params + stage(&b, WM_STAGE_VAE_DECODE)->params ==
                126892531ull);
    /* the VAE runs in float32 in the pipelines: 4 bytes per weight under a bf16 workload */
    assert_true(stage(&b, WM_STAGE_VAE_DECODE)->weight_bytes == 4 * (dec + 272));
    tl_unbuild(&b);
}

static void test_params_wan22(void **state)
{
    (void)state;
    wm_model_config c = i2v_model();
    wan22_vae(&c);
    c.pipeline.expand_timesteps = false; /* a full-video encode (rule: variant i2v) */
    wm_workload w = work(5, 32, 32, WM_MODE_TORCH);
    tl_built b = tl_build(&c, &w);
    /* encoder (residual down blocks, channels 160,160,320,640,640): conv_in 12->160; block 0:
     * 2 res 160, Conv2d s2 160; block 1: res 160->320, res 320, Conv2d s2 + time_conv 320;
     * block 2: res 320->640, res 640, Conv2d s2 + time_conv 640; block 3: 2 res 640; mid 640;
     * norm_out 640; conv_out 640->96. AvgDown3D shortcuts have no parameters. */
    const uint64_t enc = pconv(12, 160, 27) + 2 * pres(160, 160) + pconv(160, 160, 9) +
                         pres(160, 320) + pres(320, 320) + pconv(320, 320, 9) +
                         pconv(320, 320, 3) + pres(320, 640) + pres(640, 640) +
                         pconv(640, 640, 9) + pconv(640, 640, 3) + 2 * pres(640, 640) +
                         pmid(640) + 640 + pconv(640, 96, 27);
    /* decoder (residual up blocks, channels 1024,1024,1024,512,256): conv_in 48->1024; mid
     * 1024; up0 and up1: 3 res 1024, time_conv 1024->2048, Conv2d 1024->1024 (the upsampler
     * keeps the channels); up2: res 1024->512, 2 res 512, Conv2d 512->512; up3: res 512->256,
     * 2 res 256; norm_out 256; conv_out 256->12. DupUp3D shortcuts have no parameters. */
    const uint64_t up01 = 3 * pres(1024, 1024) + pconv(1024, 2048, 3) + pconv(1024, 1024, 9);
    const uint64_t dec = pconv(48, 1024, 27) + pmid(1024) + 2 * up01 + pres(1024, 512) +
                         2 * pres(512, 512) + pconv(512, 512, 9) + pres(512, 256) +
                         2 * pres(256, 256) + 256 + pconv(256, 12, 27);
    assert_true(enc == 149627776ull); /* torch 2.13.0 counts of the diffusers 0.42.1 module */
    assert_true(dec == 555049228ull);
    assert_true(tl_counts(&b, "vae.encoder")->params == enc);
    assert_true(tl_counts(&b, "vae.decoder")->params == dec);
    /* + quant_conv 96->96 and post_quant_conv 48->48: 704,688,668 in all */
    assert_true(stage(&b, WM_STAGE_VAE_ENCODE)->params + stage(&b, WM_STAGE_VAE_DECODE)->params ==
                704688668ull);
    tl_unbuild(&b);
}

/* ---- FLOPs of single modules ------------------------------------------------------------------ */

static void test_decode_modules_by_hand(void **state)
{
    (void)state;
    wm_model_config c = tl_preset("wan2.1-t2v-14b");
    wm_workload w = work(5, 16, 16, WM_MODE_TORCH); /* T = 2, h = w = 2 */
    tl_built b = tl_build(&c, &w);
    /* post_quant_conv 1x1x1 16->16 on T*hw = 8 positions: 2*8*16*16 */
    assert_true(flops(&b, "vae.post_quant_conv") == 4096);
    /* conv_in 3x3x3 16->384 on 8 positions: 2*8*27*16*384 */
    assert_true(flops(&b, "vae.decoder.conv_in") == 2654208);
    /* mid attention per frame: to_qkv 2*8*384*1152, core 4*2 frames*4^2*384, proj 2*8*384^2 */
    assert_true(flops(&b, "vae.decoder.mid_block.attentions.0.to_qkv") == 7077888);
    assert_true(flops(&b, "vae.decoder.mid_block.attentions.0#sdpa") == 49152);
    assert_true(flops(&b, "vae.decoder.mid_block.attentions.0.proj") == 2359296);
    assert_true(flops(&b, "vae.decoder.mid_block.attentions.0") == 7077888 + 49152 + 2359296);
    /* up0 time_conv 384->768 (3,1,1): the second chunk only, (T-1)*hw = 4 positions:
     * 2*4*3*384*768; then Conv2d 3x3 384->192 on 2T-1 = 3 frames of 4x4: 2*48*9*384*192 */
    assert_true(flops(&b, "vae.decoder.up_blocks.0.upsamplers.0.time_conv") == 7077888);
    assert_true(flops(&b, "vae.decoder.up_blocks.0.upsamplers.0.resample.1") == 63700992);
    /* up1 resnets.0 shortcut 1x1x1 192->384 on 3 frames of 16: 2*48*192*384 */
    assert_true(flops(&b, "vae.decoder.up_blocks.1.resnets.0.conv_shortcut") == 7077888);
    /* up1 time_conv on 2(T-1) = 2 frames of 4x4 = 32 positions: 2*32*3*384*768 */
    assert_true(flops(&b, "vae.decoder.up_blocks.1.upsamplers.0.time_conv") == 56623104);
    /* conv_out 96->3 on 4T-3 = 5 frames of 16x16: 2*1280*27*96*3 */
    assert_true(flops(&b, "vae.decoder.conv_out") == 19906560);
    /* norms and SiLU count nothing in mode torch */
    assert_true(flops(&b, "vae.decoder.norm_out") == 0);
    assert_true(flops(&b, "vae.decoder.up_blocks.3.resnets.0.nonlinearity#2") == 0);
    /* the stage is one call of both roots */
    assert_true(stage(&b, WM_STAGE_VAE_DECODE)->calls == 1);
    assert_true(stage(&b, WM_STAGE_VAE_DECODE)->flops_per_call ==
                flops(&b, "vae.post_quant_conv") + flops(&b, "vae.decoder"));
    assert_false(stage(&b, WM_STAGE_VAE_ENCODE)->present); /* T2V never encodes */
    tl_unbuild(&b);
}

static void test_encode_modules_by_hand(void **state)
{
    (void)state;
    wm_model_config c = i2v_model();
    wm_workload w = work(5, 16, 16, WM_MODE_TORCH); /* chunks of 1 and 4 frames, T = 2 */
    tl_built b = tl_build(&c, &w);
    /* conv_in 3->96 on 4T-3 = 5 frames of 16x16: 2*1280*27*3*96 */
    assert_true(flops(&b, "vae.encoder.conv_in") == 19906560);
    /* down_blocks.2: ZeroPad2d + Conv2d 3x3 stride 2, 96->96, 5 frames of 8x8: 2*320*9*96*96 */
    assert_true(flops(&b, "vae.encoder.down_blocks.2.resample.1") == 53084160);
    /* down_blocks.5.time_conv 192->192 (3,1,1) stride 2: [cached frame + 4] -> 2 frames for
     * the second chunk, at 4x4: 2*32*3*192*192 */
    assert_true(flops(&b, "vae.encoder.down_blocks.5.time_conv") == 7077888);
    /* down_blocks.8.time_conv 384: [cached + 2] -> 1 frame at 2x2: 2*4*3*384*384 */
    assert_true(flops(&b, "vae.encoder.down_blocks.8.time_conv") == 3538944);
    /* mid attention on T = 2 latent frames, as in the decoder */
    assert_true(flops(&b, "vae.encoder.mid_block.attentions.0#sdpa") == 49152);
    /* conv_out 384->32 on 8 positions: 2*8*27*384*32; quant_conv 32->32: 2*8*32*32 */
    assert_true(flops(&b, "vae.encoder.conv_out") == 5308416);
    assert_true(flops(&b, "vae.quant_conv") == 16384);
    assert_true(stage(&b, WM_STAGE_VAE_ENCODE)->calls == 1);
    tl_unbuild(&b);
}

static void test_one_latent_frame(void **state)
{
    (void)state;
    wm_model_config c = i2v_model();
    wm_workload w = work(4, 16, 16, WM_MODE_TORCH); /* T = 1: one chunk in both directions */
    tl_built b = tl_build(&c, &w);
    /* no chunk after the first: every time_conv is skipped */
    assert_true(flops(&b, "vae.decoder.up_blocks.0.upsamplers.0.time_conv") == 0);
    assert_true(flops(&b, "vae.decoder.up_blocks.1.upsamplers.0.time_conv") == 0);
    assert_true(flops(&b, "vae.encoder.down_blocks.5.time_conv") == 0);
    /* the encoder sees 4T-3 = 1 of the 4 frames ((4-1)//4 = 0 more chunks):
     * conv_in 2*256*27*3*96; decoder conv_out on 1 frame of 16x16: 2*256*27*96*3 */
    assert_true(flops(&b, "vae.encoder.conv_in") == 3981312);
    assert_true(flops(&b, "vae.decoder.conv_out") == 3981312);
    tl_unbuild(&b);
}

static void test_wan22_modules_by_hand(void **state)
{
    (void)state;
    wm_model_config c = tl_preset("wan2.1-t2v-14b");
    wan22_vae(&c);
    wm_workload w = work(9, 32, 32, WM_MODE_TORCH); /* T = 3, h = w = 32/16 = 2 */
    tl_built b = tl_build(&c, &w);
    /* up0 upsampler: time_conv 1024->2048 on (T-1)*4 = 8 positions: 2*8*3*1024*2048; Conv2d
     * 1024->1024 on 2T-1 = 5 frames of 4x4: 2*80*9*1024*1024 */
    assert_true(flops(&b, "vae.decoder.up_blocks.0.upsampler.time_conv") == 100663296);
    assert_true(flops(&b, "vae.decoder.up_blocks.0.upsampler.resample.1") == 1509949440);
    /* DupUp3D shortcut: no counted work */
    assert_true(flops(&b, "vae.decoder.up_blocks.0.avg_shortcut") == 0);
    assert_true(tl_counts(&b, "vae.decoder.up_blocks.0.avg_shortcut")->params == 0);
    /* conv_out 256->12 on 4T-3 = 9 frames of 16x16 (before unpatchify): 2*2304*27*256*12 */
    assert_true(flops(&b, "vae.decoder.conv_out") == 382205952);
    tl_unbuild(&b);
}

/* ---- stage totals (WAN_FACTS §7; measured with FlopCounterMode, tests/verify/test_vae.py) ---- */

static void test_decode_totals(void **state)
{
    (void)state;
    const struct {
        uint64_t frames, height, width;
        wm_mode mode;
        uint64_t flops;
    } cases[] = {
        /* 21 x 90 x 160 latents: 632,529,771,724,800 conv + 6,688,604,160,000 attention */
        {81, 720, 1280, WM_MODE_TORCH, 639218375884800ull},
        {81, 720, 1280, WM_MODE_TORCH_CPU, 632529771724800ull},
        {81, 480, 832, WM_MODE_TORCH, 275352205639680ull},
        {81, 480, 832, WM_MODE_TORCH_CPU, 274096234414080ull},
    };
    wm_model_config c = tl_preset("wan2.1-t2v-14b");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        wm_workload w = work(cases[i].frames, cases[i].height, cases[i].width, cases[i].mode);
        tl_built b = tl_build(&c, &w);
        assert_true(stage(&b, WM_STAGE_VAE_DECODE)->flops_per_call == cases[i].flops);
        /* the attention of 720p: 4 * 21 frames * 14400^2 * 384 */
        if (i == 0)
            assert_true(flops(&b, "vae.decoder.mid_block.attentions.0#sdpa") == 6688604160000ull);
        tl_unbuild(&b);
    }
    /* Wan2.2 VAE, 121 x 704 x 1280 (latent 31 x 44 x 80) */
    wan22_vae(&c);
    wm_workload w = work(121, 704, 1280, WM_MODE_TORCH);
    tl_built b = tl_build(&c, &w);
    assert_true(stage(&b, WM_STAGE_VAE_DECODE)->flops_per_call == 2011137824030720ull);
    tl_unbuild(&b);
}

static void test_encode_totals(void **state)
{
    (void)state;
    wm_model_config c = i2v_model();
    wm_workload w = work(81, 720, 1280, WM_MODE_TORCH);
    tl_built b = tl_build(&c, &w);
    assert_true(stage(&b, WM_STAGE_VAE_ENCODE)->flops_per_call == 381674137190400ull);
    tl_unbuild(&b);
    w = work(81, 480, 832, WM_MODE_TORCH);
    b = tl_build(&c, &w);
    assert_true(stage(&b, WM_STAGE_VAE_ENCODE)->flops_per_call == 163749702205440ull);
    tl_unbuild(&b);
}

/* ---- modes ---------------------------------------------------------------------------------- */

static void test_modes(void **state)
{
    (void)state;
    wm_model_config c = tl_preset("wan2.1-t2v-14b");
    wm_workload w = work(5, 16, 16, WM_MODE_TORCH_CPU);
    tl_built b = tl_build(&c, &w);
    /* the CPU's fused attention has no FLOP formula in torch 2.13.0 */
    assert_true(flops(&b, "vae.decoder.mid_block.attentions.0#sdpa") == 0);
    assert_true(flops(&b, "vae.decoder.mid_block.attentions.0") == 7077888 + 2359296);
    tl_unbuild(&b);
    w.mode = WM_MODE_FULL;
    b = tl_build(&c, &w);
    /* full: norm_out (RMS norm, 4 per element) over 5 frames * 256 positions * 96 channels,
     * SiLU 4 per element; the attention core adds 5 per score: 5 * 2 frames * 4 * 4 */
    assert_true(tl_counts(&b, "vae.decoder.norm_out")->vector_flops == 4ull * 1280 * 96);
    assert_true(tl_counts(&b, "vae.decoder.nonlinearity")->vector_flops == 4ull * 1280 * 96);
    assert_true(tl_counts(&b, "vae.decoder.mid_block.attentions.0#sdpa")->vector_flops == 160);
    assert_true(tl_counts(&b, "vae.decoder.conv_out")->vector_flops == 0);
    tl_unbuild(&b);
}

/* ---- which pipelines encode ----------------------------------------------------------------- */

static bool encodes(wm_model_config c)
{
    wm_workload w = work(5, 32, 32, WM_MODE_TORCH);
    tl_built b = tl_build(&c, &w);
    bool present = stage(&b, WM_STAGE_VAE_ENCODE)->present;
    tl_unbuild(&b);
    return present;
}

static void test_encode_rule(void **state)
{
    (void)state;
    /* the presets: T2V and TI2V-5B (text-to-video) never encode; I2V, FLF2V, VACE and Wan2.2
     * I2V-A14B (36 input channels, no CLIP) do */
    assert_false(encodes(tl_preset("wan2.1-t2v-14b")));
    assert_false(encodes(tl_preset("wan2.1-t2v-1.3b")));
    assert_false(encodes(tl_preset("wan2.2-ti2v-5b")));
    assert_true(encodes(tl_preset("wan2.1-i2v-14b-480p")));
    assert_true(encodes(tl_preset("wan2.1-flf2v-14b")));
    assert_true(encodes(tl_preset("wan2.1-vace-1.3b")));
    assert_true(encodes(tl_preset("wan2.2-i2v-a14b")));
    /* each trigger alone */
    wm_model_config c = tl_preset("wan2.1-t2v-14b");
    c.in_channels = 36; /* condition latents + mask concatenated */
    assert_true(encodes(c));
    c = tl_preset("wan2.1-t2v-14b");
    snprintf(c.variant, sizeof c.variant, "v2v");
    assert_true(encodes(c));
}

static void test_ti2v_image_mode_encodes_one_frame(void **state)
{
    (void)state;
    wm_model_config c = tl_preset("wan2.2-ti2v-5b");
    snprintf(c.variant, sizeof c.variant, "i2v"); /* WanImageToVideoPipeline, expand_timesteps */
    wm_workload w = work(9, 32, 32, WM_MODE_TORCH); /* T = 3, but only the image is encoded */
    tl_built b = tl_build(&c, &w);
    /* conv_in 12->160 on 1 frame of 16x16 (32 pixels patchified by 2): 2*256*27*12*160 */
    assert_true(flops(&b, "vae.encoder.conv_in") == 26542080);
    /* a single chunk never reaches a time_conv: none is tl_built */
    assert_int_equal(wm_model_find(b.m, "vae.encoder.down_blocks.1.downsampler.time_conv"), -1);
    assert_true(wm_model_find(b.m, "vae.encoder.down_blocks.1.downsampler.resample.1") >= 0);
    /* quant_conv 96->96 on 1 latent frame of 2x2: 2*4*96*96 */
    assert_true(flops(&b, "vae.quant_conv") == 73728);
    tl_unbuild(&b);
}

/* ---- config errors ---------------------------------------------------------------------------- */

static void test_config_errors(void **state)
{
    (void)state;
    wm_model_config c = tl_preset("wan2.1-t2v-14b");
    c.vae.scale_factor_spatial = 16; /* the network compresses by 8 */
    tl_expect_invalid(&c, "vae.scale_factor_spatial");
    c = tl_preset("wan2.1-t2v-14b");
    c.pipeline.vae_scale_factor_temporal = 8;
    tl_expect_invalid(&c, "vae.scale_factor_temporal");
    c = tl_preset("wan2.1-t2v-14b");
    c.vae.temperal_downsample_count = 2;
    tl_expect_invalid(&c, "vae.temperal_downsample");
    c = tl_preset("wan2.1-t2v-14b");
    snprintf(c.vae.class_name, sizeof c.vae.class_name, "AutoencoderKL");
    tl_expect_invalid(&c, "vae._class_name");
    c = tl_preset("wan2.1-t2v-14b");
    c.vae.in_channels = 13;
    c.vae.patch_size = 2;
    tl_expect_invalid(&c, "vae.in_channels");
    /* an encoder stage with attention cannot run chunked in diffusers (WanAttentionBlock takes
     * no feat_cache); the decoder ignores attn_scales */
    c = i2v_model();
    c.vae.attn_scales[0] = 0.5;
    c.vae.attn_scales_count = 1;
    tl_expect_invalid(&c, "vae.attn_scales");
    snprintf(c.variant, sizeof c.variant, "t2v");
    wm_model *m = NULL;
    wm_error err;
    assert_int_equal(wm_model_build(&c, &m, &err), WM_OK);
    wm_model_free(m);
    /* encoding 4-frame chunks needs two temporal downsamples */
    c = i2v_model();
    c.vae.temperal_downsample[1] = false;
    c.vae.scale_factor_temporal = 2;
    c.pipeline.vae_scale_factor_temporal = 2;
    tl_expect_invalid(&c, "vae.temperal_downsample");
    /* ... a decode alone is fine with one */
    c = tl_preset("wan2.1-t2v-14b");
    c.vae.temperal_downsample[1] = false;
    c.vae.scale_factor_temporal = 2;
    c.pipeline.vae_scale_factor_temporal = 2;
    wm_workload w = work(5, 16, 16, WM_MODE_TORCH); /* T = (5-1)//2+1 = 3 */
    tl_built b = tl_build(&c, &w);
    /* temperal_downsample [false, false, true] reversed: up0 is the only upsample3d; its
     * time_conv sees T-1 = 2 frames of 2x2: 2*8*3*384*768 */
    assert_true(flops(&b, "vae.decoder.up_blocks.0.upsamplers.0.time_conv") == 14155776);
    assert_int_equal(wm_model_find(b.m, "vae.decoder.up_blocks.1.upsamplers.0.time_conv"), -1);
    tl_unbuild(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_wan21),
        cmocka_unit_test(test_params_wan22),
        cmocka_unit_test(test_decode_modules_by_hand),
        cmocka_unit_test(test_encode_modules_by_hand),
        cmocka_unit_test(test_one_latent_frame),
        cmocka_unit_test(test_wan22_modules_by_hand),
        cmocka_unit_test(test_decode_totals),
        cmocka_unit_test(test_encode_totals),
        cmocka_unit_test(test_modes),
        cmocka_unit_test(test_encode_rule),
        cmocka_unit_test(test_ti2v_image_mode_encodes_one_frame),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
