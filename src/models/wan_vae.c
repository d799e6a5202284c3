/*
 * wan_vae.c — the layer trees of diffusers' AutoencoderKLWan
 * (diffusers/models/autoencoders/autoencoder_kl_wan.py, diffusers 0.42.1) as the Wan pipelines
 * use it, in the order its code runs them:
 *
 *   vae_decode  `vae.decode(latents)`, once per generation: roots `vae.post_quant_conv` (one
 *               call on all T latent frames) and `vae.decoder` (called once per latent frame).
 *   vae_encode  `vae.encode(video)`, only for pipelines that condition on pixels (the rule is
 *               in encode_kind below and docs/vae.md): roots `vae.encoder` (called on chunks
 *               of 1, 4, 4, ... frames) and `vae.quant_conv` (one call on the T latents).
 *
 * Both the Wan2.1 VAE (base_dim 96, z_dim 16) and the Wan2.2 VAE of TI2V-5B (is_residual,
 * base_dim 160, decoder_base_dim 256, z_dim 48, patch_size 2) are built from their config.json
 * fields; see docs/vae.md for the structure, the per-module formulas and the measured totals.
 *
 * Legend: B batch; T, h, w the latent frames, height and width of the pipeline's geometry;
 * k = len(dim_mult) stages; nrb = num_res_blocks; p = patch_size (1 when null); C channels.
 * A feature map is a GRID row source (wm_b_grid): frames t_mul*T + t_add, spatial
 * (h*hw) x (w*hw). Pixel sizes are H = 2^(k-1)*p*h (the pipeline's vae_scale_factor_spatial),
 * so every spatial size here is exact.
 *
 * Chunking. decode() runs the decoder once per latent frame and encode() runs the encoder on
 * chunks of 1, 4, 4, ... frames, each time with a feature cache: every WanCausalConv3d gets the
 * cached last frames (or, without a cache, zeros: an explicit F.pad) in front of its chunk, so
 * its output has exactly the chunk's frames. FlopCounterMode sums all chunks under the same
 * module ids, so one node per module stands for every chunk, its rows the positions summed
 * over the chunks. The chunks that differ:
 *   - the decoder's first chunk skips every upsample3d's `time_conv` (its cache slot is marked
 *     "Rep"); later chunks double their frames there: frames per later chunk go 1 -> 2 -> 4,
 *     so a stage with m frames per later chunk holds 1 + m(T-1) = m*T + 1 - m frames and its
 *     time_conv sees m(T-1) of them;
 *   - the encoder's first chunk (1 frame) only fills the downsample3d cache; a later chunk of n
 *     frames runs time_conv (kernel 3, stride 2, no padding) on [1 cached frame, n frames] and
 *     gives n/2 frames: n goes 4 -> 2 -> 1, time_conv outputs (n/2)(T-1) positions.
 * Resamples are Conv2d applied per frame (the frames folded into the batch).
 *
 * What FlopCounterMode counts (aten.convolution: 2 * positions * prod(kernel) * Cin * Cout,
 * positions = OUTPUT positions, bias free; the mid-block attention: one head over the h*w
 * positions of each frame, F.scaled_dot_product_attention, two aten.bmm on meta = 4 * B*frames
 * * (hw)^2 * C, and 0 on the CPU in torch 2.13.0 where it runs the fused
 * _scaled_dot_product_flash_attention_for_cpu). Norms (WanRMS_norm: F.normalize * scale *
 * gamma), SiLU, residual adds, the nearest upsampling, DupUp3D/AvgDown3D shortcuts (views,
 * repeat_interleave, mean), patchify/unpatchify and the final clamp count 0.
 *
 * Functional ops (ids with '#'): `#sdpa` (attention core), `#residual` (x + shortcut) and
 * `nonlinearity#2` — the second call of a residual block's one SiLU module (after norm2).
 * Modules that do no counted work are kept where they carry parameters (norms) or structure
 * (`avg_shortcut`); `resample.0` (WanUpsample, ZeroPad2d) and dropout are left out.
 */
#include <stdio.h>
#include <string.h>

#include "../checked.h"
#include "../model_internal.h"

/* Largest channel count / multiplier accepted: keeps every structural product (Cin * Cout * 27)
 * far inside 64 bits. */
#define VAE_DIM_MAX ((uint64_t)1 << 24)
#define VAE_RES_BLOCKS_MAX 64

/* A feature map: frames = t_mul * T + t_add (all chunks together), spatial (h*hw) x (w*hw). */
typedef struct {
    int32_t t_mul, t_add;
    uint32_t hw;
} vgrid;

/* The frames of a stage whose later chunks hold n frames each (the first holds 1); n = 0 is a
 * single-frame call. */
static vgrid frames(int32_t n, uint32_t hw) { return (vgrid){n, n ? 1 - n : 1, hw}; }

/* What vae.encode() is called on, if anything (see encode_kind). */
typedef enum {
    ENC_NONE,        /* text-to-video: the pipeline never encodes */
    ENC_VIDEO,       /* an F-frame video: chunks 1, 4, 4, ... -> T latent frames */
    ENC_FIRST_FRAME, /* one frame (Wan2.2 TI2V-5B image-to-video) -> 1 latent frame */
} enc_kind;

/* The derived sizes of a valid VAE config. */
typedef struct {
    size_t k;             /* stages: len(dim_mult) */
    uint64_t base, dec;   /* encoder / decoder base channels */
    uint64_t z, nrb, patch;
    uint64_t in_ch, out_ch;
    unsigned t_downs;     /* temporal downsamples: sum(temperal_downsample) */
} vae_dims;

/* ---- the rule: does this pipeline encode, and what ----------------------------------------- */

/* Which Wan pipeline the model config describes decides what vae.encode() sees:
 *   - VACE (vace_layers set, or variant "vace"): WanVACEPipeline.prepare_video_latents encodes
 *     the control video twice (inactive = video*(1-mask), reactive = video*mask), F frames each.
 *     The stage here is ONE call; the generation runs it twice (docs/vae.md).
 *   - video-to-video (variant "v2v"): WanVideoToVideoPipeline encodes the input video, F frames.
 *   - image-to-video: variant "i2v"/"flf2v", a CLIP image embedder (image_dim /
 *     added_kv_proj_dim: Wan2.1 I2V, FLF2V) or a transformer that takes more channels than it
 *     returns (the condition latents and mask concatenated: Wan2.2 I2V-A14B, in 36 / out 16).
 *     WanImageToVideoPipeline.prepare_latents encodes [image, zeros, (last image)], F frames;
 *     with expand_timesteps (Wan2.2 TI2V-5B) it encodes the image alone, 1 frame.
 *   - anything else is text-to-video (TI2V-5B's own default included): no encode. */
static enc_kind encode_kind(const wm_model_config *c)
{
    const bool vace = c->vace_layers_count > 0 || strcmp(c->variant, "vace") == 0;
    if (vace || strcmp(c->variant, "v2v") == 0)
        return ENC_VIDEO;
    const bool i2v = strcmp(c->variant, "i2v") == 0 || strcmp(c->variant, "flf2v") == 0 ||
                     c->image_dim || c->added_kv_proj_dim || c->in_channels != c->out_channels;
    if (!i2v)
        return ENC_NONE;
    return c->pipeline.expand_timesteps ? ENC_FIRST_FRAME : ENC_VIDEO;
}

/* ---- config checks -------------------------------------------------------------------------- */

static wm_status bad(wm_builder *b, const char *what, const char *fix, const char *why)
{
    if (b->status == WM_OK)
        b->status = wm_error_set(b->err, WM_E_INPUT, what, fix, "%s", why);
    return b->status;
}

/* Checks what AutoencoderKLWan.__init__ and the pipelines would reject, and that the pipeline's
 * scale factors (which make the latent geometry) are the network's. */
static wm_status check_config(wm_builder *b, const wm_model_config *c, vae_dims *v)
{
    const wm_vae_config *a = &c->vae;
    char why[256];
    if (b->status != WM_OK)
        return b->status;
    if (strcmp(a->class_name, "AutoencoderKLWan") != 0)
        return bad(b, "vae._class_name", "use AutoencoderKLWan", "is not a VAE wanmeter models");
    if (a->dim_mult_count < 1)
        return bad(b, "vae.dim_mult", "give at least one multiplier, e.g. [1, 2, 4, 4]",
                   "is empty");
    if (a->temperal_downsample_count != a->dim_mult_count - 1)
        return bad(b, "vae.temperal_downsample", "give len(dim_mult) - 1 booleans",
                   "must have one entry per downsampling stage");
    *v = (vae_dims){
        .k = a->dim_mult_count,
        .base = a->base_dim,
        .dec = a->decoder_base_dim ? a->decoder_base_dim : a->base_dim,
        .z = a->z_dim,
        .nrb = a->num_res_blocks,
        .patch = a->patch_size ? a->patch_size : 1,
        .in_ch = a->in_channels,
        .out_ch = a->out_channels,
    };
    const struct {
        const char *what;
        uint64_t value;
    } dims[] = {
        {"vae.base_dim", v->base}, {"vae.decoder_base_dim", v->dec}, {"vae.z_dim", v->z},
        {"vae.in_channels", v->in_ch}, {"vae.out_channels", v->out_ch},
    };
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if (dims[i].value == 0 || dims[i].value > VAE_DIM_MAX)
            return bad(b, dims[i].what, "use a realistic channel count", "is 0 or above 2^24");
    for (size_t i = 0; i < v->k; i++)
        if (a->dim_mult[i] == 0 || a->dim_mult[i] > VAE_DIM_MAX / v->base ||
            a->dim_mult[i] > VAE_DIM_MAX / v->dec)
            return bad(b, "vae.dim_mult", "use realistic multipliers",
                       "a stage's channels (base_dim x multiplier) are 0 or above 2^24");
    if (v->nrb == 0 || v->nrb > VAE_RES_BLOCKS_MAX)
        return bad(b, "vae.num_res_blocks", "use 1 to 64", "is out of range");
    if (v->in_ch % (v->patch * v->patch) || v->out_ch % (v->patch * v->patch))
        return bad(b, "vae.in_channels", "use multiples of patch_size^2",
                   "pixel channels are patchified p x p into the VAE's channels");
    for (size_t i = 0; i + 1 < v->k; i++)
        v->t_downs += a->temperal_downsample[i];
    const uint64_t st = (uint64_t)1 << v->t_downs, ss = ((uint64_t)1 << (v->k - 1)) * v->patch;
    if (a->scale_factor_temporal != st || c->pipeline.vae_scale_factor_temporal != st) {
        snprintf(why, sizeof why,
                 "the network compresses time by %llu (2^sum(temperal_downsample)) but "
                 "vae.scale_factor_temporal is %llu and pipeline.vae_scale_factor_temporal %llu",
                 (unsigned long long)st, (unsigned long long)a->scale_factor_temporal,
                 (unsigned long long)c->pipeline.vae_scale_factor_temporal);
        return bad(b, "vae.scale_factor_temporal", "make all three agree", why);
    }
    if (a->scale_factor_spatial != ss || c->pipeline.vae_scale_factor_spatial != ss) {
        snprintf(why, sizeof why,
                 "the network compresses space by %llu (2^(len(dim_mult)-1) x patch_size) but "
                 "vae.scale_factor_spatial is %llu and pipeline.vae_scale_factor_spatial %llu",
                 (unsigned long long)ss, (unsigned long long)a->scale_factor_spatial,
                 (unsigned long long)c->pipeline.vae_scale_factor_spatial);
        return bad(b, "vae.scale_factor_spatial", "make all three agree", why);
    }
    /* AvgDown3D / DupUp3D regroup channels: diffusers raises (asserts) unless they divide */
    for (size_t i = 0; a->is_residual && i < v->k; i++) {
        const uint64_t ein = v->base * (i ? a->dim_mult[i - 1] : 1), eout = v->base * a->dim_mult[i];
        const bool down = i + 1 < v->k, tdown = down && a->temperal_downsample[i];
        const uint64_t efac = (tdown ? 2 : 1) * (down ? 4 : 1);
        if (ein * efac % eout)
            return bad(b, "vae.dim_mult", "use multipliers whose ratios divide",
                       "an encoder stage's AvgDown3D shortcut cannot regroup its channels");
        const uint64_t din = v->dec * a->dim_mult[v->k - 1 - (i ? i - 1 : 0)],
                       dout = v->dec * a->dim_mult[v->k - 1 - i];
        const bool tup = down && a->temperal_downsample[v->k - 2 - i];
        if (down && dout * (tup ? 2 : 1) * 4 % din)
            return bad(b, "vae.dim_mult", "use multipliers whose ratios divide",
                       "a decoder stage's DupUp3D shortcut cannot regroup its channels");
    }
    return WM_OK;
}

/* ---- building blocks ------------------------------------------------------------------------ */

static int32_t module(wm_builder *b, int32_t parent, const char *name)
{
    return wm_b_node(b, parent, name, WM_OP_MODULE, WM_CAT_NONE);
}

/* The Wan pipelines' examples load the VAE in float32 (AutoencoderKLWan.from_pretrained(...,
 * torch_dtype=torch.float32)) whatever the transformer's dtype: its weights are fp32. */
static void fp32(wm_builder *b, int32_t i)
{
    if (i >= 0)
        wm_b_at(b, i)->fp32_params = true;
}

/* A convolution with kernel (kt, ks, ks) whose OUTPUT is the feature map g (a Conv2d is
 * kt = 1). FlopCounterMode: aten.convolution, 2 * B * frames * (h*hw)(w*hw) * kt*ks*ks * Cin * Cout. */
static int32_t conv(wm_builder *b, int32_t parent, const char *name, wm_category cat, vgrid g,
                    uint64_t cin, uint64_t cout, uint64_t kt, uint64_t ks)
{
    const uint64_t kernel[3] = {kt, ks, ks};
    int32_t i = wm_b_conv3d(b, parent, name, cat, WM_ROWS_GRID, cin, cout, kernel);
    wm_b_grid(b, i, g.t_mul, g.t_add, g.hw, 1);
    fp32(b, i);
    return i;
}

/* An elementwise op over the feature map g with `width` channels (FlopCounterMode: 0). */
static int32_t ew(wm_builder *b, int32_t parent, const char *name, wm_op op, vgrid g,
                  uint64_t width, uint64_t params)
{
    int32_t i = wm_b_elementwise(b, parent, name, op, WM_ROWS_GRID, width, params);
    wm_b_grid(b, i, g.t_mul, g.t_add, g.hw, 1);
    if (params)
        fp32(b, i);
    return i;
}

/* WanCausalConv3d as a root of its own (quant_conv, post_quant_conv): 1x1x1, whole tensor. */
static void root_conv(wm_builder *b, const char *id, wm_stage stage, vgrid g, uint64_t ch)
{
    int32_t i = conv(b, -1, id, WM_CAT_CONV, g, ch, ch, 1, 1); /* [B,ch,T,h,w] -> ch */
    if (i >= 0)
        wm_b_at(b, i)->stage = stage;
}

/* WanResidualBlock(in -> out) on the feature map g (its convs keep frames and size). */
static void resblock(wm_builder *b, int32_t parent, const char *name, vgrid g, uint64_t in,
                     uint64_t out)
{
    int32_t r = module(b, parent, name);
    if (in != out)
        conv(b, r, "conv_shortcut", WM_CAT_CONV, g, in, out, 1, 1); /* [B,in,t,.,.] -> out, 1x1x1 */
    ew(b, r, "norm1", WM_OP_RMSNORM, g, in, in);                     /* gamma (in,1,1,1) */
    ew(b, r, "nonlinearity", WM_OP_SILU, g, in, 0);
    conv(b, r, "conv1", WM_CAT_CONV, g, in, out, 3, 3);              /* causal 3x3x3, in -> out */
    ew(b, r, "norm2", WM_OP_RMSNORM, g, out, out);
    ew(b, r, "nonlinearity#2", WM_OP_SILU, g, out, 0);               /* same module, 2nd call */
    conv(b, r, "conv2", WM_CAT_CONV, g, out, out, 3, 3);             /* causal 3x3x3, out -> out */
    ew(b, r, "#residual", WM_OP_ADD, g, out, 0);                     /* x + h */
}

/* WanAttentionBlock(C): per frame, one head over the h*w positions. */
static void attention(wm_builder *b, int32_t parent, const char *name, vgrid g, uint64_t C)
{
    int32_t a = module(b, parent, name);
    ew(b, a, "norm", WM_OP_RMSNORM, g, C, C);                         /* [B*t,C,.,.], gamma (C,1,1) */
    conv(b, a, "to_qkv", WM_CAT_ATTN_PROJ, g, C, 3 * C, 1, 1);        /* Conv2d 1x1, C -> 3C */
    int32_t s = wm_b_sdpa(b, a, "#sdpa", WM_ROWS_GRID, WM_ROWS_GRID, 1, C); /* [B*t,1,hw,C] */
    wm_b_grid(b, s, g.t_mul, g.t_add, g.hw, 1);
    conv(b, a, "proj", WM_CAT_ATTN_PROJ, g, C, C, 1, 1);              /* Conv2d 1x1, C -> C */
    ew(b, a, "#residual", WM_OP_ADD, g, C, 0);                        /* x + identity */
}

/* WanMidBlock(C, num_layers=1): resnet, attention, resnet. */
static void mid_block(wm_builder *b, int32_t parent, vgrid g, uint64_t C)
{
    int32_t m = module(b, parent, "mid_block");
    resblock(b, m, "resnets.0", g, C, C);
    attention(b, m, "attentions.0", g, C);
    resblock(b, m, "resnets.1", g, C, C);
}

/* WanResample in a decoder up block, from feature map g to gn: upsample3d first runs
 * time_conv (C -> 2C, kernel (3,1,1)) on the frames of the later chunks, m(T-1) where g holds
 * m*T + 1 - m, then (both modes) nearest 2x and a 3x3 Conv2d C -> cout on every frame of gn. */
static void upsample(wm_builder *b, int32_t parent, const char *name, vgrid g, vgrid gn,
                     uint64_t C, uint64_t cout, bool temporal)
{
    int32_t r = module(b, parent, name);
    if (temporal)
        conv(b, r, "time_conv", WM_CAT_CONV, (vgrid){g.t_mul, -g.t_mul, g.hw}, C, 2 * C, 3, 1);
    int32_t s = module(b, r, "resample");           /* Sequential(WanUpsample, Conv2d) */
    conv(b, s, "1", WM_CAT_CONV, gn, C, cout, 1, 3); /* [B*t,C,2.,2.] -> cout, 3x3 */
}

/* WanResample in an encoder stage, from feature map g to gn: ZeroPad2d (0,1,0,1) and a 3x3
 * stride-2 Conv2d C -> C on every frame (output (h*hw/2) x (w*hw/2)), then for downsample3d
 * time_conv (kernel (3,1,1), stride 2) on [cached frame, chunk]: n/2 outputs per later chunk. */
static void downsample(wm_builder *b, int32_t parent, const char *name, vgrid g, vgrid gn,
                       uint64_t C, bool temporal)
{
    int32_t r = module(b, parent, name);
    int32_t s = module(b, r, "resample");                      /* Sequential(ZeroPad2d, Conv2d) */
    conv(b, s, "1", WM_CAT_CONV, (vgrid){g.t_mul, g.t_add, gn.hw}, C, C, 1, 3); /* stride 2 */
    if (temporal && g.t_mul / 2 > 0) /* a single-frame call never reaches time_conv */
        conv(b, r, "time_conv", WM_CAT_CONV, (vgrid){g.t_mul / 2, -(g.t_mul / 2), gn.hw}, C, C, 3, 1);
}

/* ---- vae.decode ----------------------------------------------------------------------------- */

wm_status wm_build_vae_decode(wm_builder *b, const wm_model_config *c)
{
    vae_dims v;
    if (check_config(b, c, &v) != WM_OK)
        return b->status;
    const wm_vae_config *a = &c->vae;
    const size_t k = v.k;
    /* decoder channels: dims[0] = dec * dim_mult[k-1], dims[i] = dec * dim_mult[k-i] (i >= 1) */
    uint64_t dims[9];
    dims[0] = v.dec * a->dim_mult[k - 1];
    for (size_t i = 1; i <= k; i++)
        dims[i] = v.dec * a->dim_mult[k - i];

    /* post_quant_conv: WanCausalConv3d(z, z, 1) on the whole latent [B,z,T,h,w] */
    root_conv(b, "vae.post_quant_conv", WM_STAGE_VAE_DECODE, frames(1, 1), v.z);

    int32_t dec = wm_b_root(b, "vae.decoder", WM_STAGE_VAE_DECODE);
    int32_t m = 1; /* frames per later chunk at the current stage */
    vgrid g = frames(m, 1);
    conv(b, dec, "conv_in", WM_CAT_CONV, g, v.z, dims[0], 3, 3);   /* [B,z,T,h,w] -> dims[0] */
    mid_block(b, dec, g, dims[0]);
    for (size_t i = 0; i < k; i++) {
        uint64_t in = dims[i];
        const uint64_t out = dims[i + 1];
        if (i > 0 && !a->is_residual)
            in /= 2; /* the previous upsampler halved the channels */
        const bool up = i + 1 < k;
        const bool tup = up && a->temperal_downsample[k - 2 - i]; /* temperal_upsample[i] */
        const int32_t mn = tup ? 2 * m : m;
        const vgrid gn = frames(mn, up ? g.hw * 2 : g.hw);
        int32_t blk = wm_b_nodef(b, dec, WM_OP_MODULE, WM_CAT_NONE, "up_blocks.%zu", i);
        for (uint64_t j = 0; j <= v.nrb; j++) { /* num_res_blocks + 1 resnets */
            char name[32];
            snprintf(name, sizeof name, "resnets.%llu", (unsigned long long)j);
            resblock(b, blk, name, g, j ? out : in, out);
        }
        if (a->is_residual && up) {
            /* WanResidualUpBlock: upsampler keeps the channels; x + DupUp3D(block input) */
            upsample(b, blk, "upsampler", g, gn, out, out, tup);
            module(b, blk, "avg_shortcut");                 /* DupUp3D: repeat_interleave */
            ew(b, blk, "#residual", WM_OP_ADD, gn, out, 0);
        } else if (up) {
            upsample(b, blk, "upsamplers.0", g, gn, out, out / 2, tup); /* C -> C/2 */
        }
        m = mn;
        g = gn;
    }
    ew(b, dec, "norm_out", WM_OP_RMSNORM, g, dims[k], dims[k]);
    ew(b, dec, "nonlinearity", WM_OP_SILU, g, dims[k], 0);
    conv(b, dec, "conv_out", WM_CAT_CONV, g, dims[k], v.out_ch, 3, 3); /* -> out_channels */
    /* then (outside any module) unpatchify and clamp to [-1, 1]: no counted work */
    return b->status;
}

/* ---- vae.encode ----------------------------------------------------------------------------- */

/* `scale in attn_scales` (exact, as Python compares the floats). WanEncoder3d would add a
 * WanAttentionBlock after each resnet of a stage whose scale (1, 1/2, 1/4, ...) is listed, but
 * the chunked encode cannot call it; the decoder ignores attn_scales. */
static bool has_scale(const wm_vae_config *a, double scale)
{
    for (size_t i = 0; i < a->attn_scales_count; i++)
        if (a->attn_scales[i] == scale)
            return true;
    return false;
}

wm_status wm_build_vae_encode(wm_builder *b, const wm_model_config *c)
{
    const enc_kind kind = encode_kind(c);
    vae_dims v;
    if (kind == ENC_NONE || check_config(b, c, &v) != WM_OK)
        return b->status;
    const wm_vae_config *a = &c->vae;
    const size_t k = v.k;
    if (kind == ENC_VIDEO && v.t_downs != 2)
        return bad(b, "vae.temperal_downsample", "use exactly two temporal downsamples",
                   "AutoencoderKLWan._encode takes chunks of 1, 4, 4, ... frames, which only "
                   "map to the pipeline's latent frames with a temporal factor of 4");
    /* encoder channels: dims[0] = base, dims[i] = base * dim_mult[i-1] */
    uint64_t dims[9];
    dims[0] = v.base;
    for (size_t i = 1; i <= k; i++)
        dims[i] = v.base * a->dim_mult[i - 1];

    int32_t enc = wm_b_root(b, "vae.encoder", WM_STAGE_VAE_ENCODE);
    int32_t n = kind == ENC_VIDEO ? 4 : 0; /* frames per later chunk (0: one frame in all) */
    vgrid g = frames(n, 1u << (k - 1));     /* pixels (patchified): 2^(k-1) h x 2^(k-1) w */
    conv(b, enc, "conv_in", WM_CAT_CONV, g, v.in_ch, dims[0], 3, 3); /* [B,in,F',H/p,W/p] */
    size_t idx = 0; /* down_blocks index (Wan2.1: one flat list of resnets and resamples) */
    double scale = 1.0;
    for (size_t i = 0; i < k; i++) {
        uint64_t in = dims[i];
        const uint64_t out = dims[i + 1];
        const bool down = i + 1 < k, tdown = down && a->temperal_downsample[i];
        const int32_t nn = tdown ? n / 2 : n;
        const vgrid gn = frames(nn, down ? g.hw / 2 : g.hw);
        if (a->is_residual) {
            /* WanResidualDownBlock: resnets, downsampler, x + AvgDown3D(block input) */
            int32_t blk = wm_b_nodef(b, enc, WM_OP_MODULE, WM_CAT_NONE, "down_blocks.%zu", i);
            for (uint64_t j = 0; j < v.nrb; j++, in = out) {
                char name[32];
                snprintf(name, sizeof name, "resnets.%llu", (unsigned long long)j);
                resblock(b, blk, name, g, in, out);
            }
            if (down)
                downsample(b, blk, "downsampler", g, gn, out, tdown);
            module(b, blk, "avg_shortcut"); /* AvgDown3D: view, permute, mean */
            ew(b, blk, "#residual", WM_OP_ADD, gn, out, 0);
        } else {
            char name[32];
            if (has_scale(a, scale))
                return bad(b, "vae.attn_scales", "use [], as every Wan VAE does",
                           "diffusers cannot encode with it: the chunked encode passes feat_cache "
                           "to every down block, and WanAttentionBlock.forward takes none "
                           "(measured: TypeError)");
            for (uint64_t j = 0; j < v.nrb; j++, in = out) {
                snprintf(name, sizeof name, "down_blocks.%zu", idx++);
                resblock(b, enc, name, g, in, out);
            }
            if (down) {
                snprintf(name, sizeof name, "down_blocks.%zu", idx++);
                downsample(b, enc, name, g, gn, out, tdown);
                scale /= 2.0;
            }
        }
        n = nn;
        g = gn;
    }
    mid_block(b, enc, g, dims[k]);
    ew(b, enc, "norm_out", WM_OP_RMSNORM, g, dims[k], dims[k]);
    ew(b, enc, "nonlinearity", WM_OP_SILU, g, dims[k], 0);
    conv(b, enc, "conv_out", WM_CAT_CONV, g, dims[k], 2 * v.z, 3, 3); /* -> mean and logvar */

    /* quant_conv: WanCausalConv3d(2z, 2z, 1) on the concatenated chunks [B,2z,T,h,w] */
    root_conv(b, "vae.quant_conv", WM_STAGE_VAE_ENCODE, g, 2 * v.z);
    return b->status;
}
