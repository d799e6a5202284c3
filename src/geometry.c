/* geometry.c — the only place where pixels become latents and tokens.
 *
 *   latent frames  T = (F - 1) // st + 1        st = vae_scale_factor_temporal (4)
 *   latent size    h = H / ss, w = W / ss       ss = vae_scale_factor_spatial (8)
 *   tokens         L = (T // pt) * (h // ph) * (w // pw)   patch (pt, ph, pw) = (1, 2, 2)
 *
 * This is what diffusers' WanPipeline.prepare_latents and the official Wan code compute for a
 * given frame count. When F is not st*n + 1 the diffusers pipeline first rounds F down to
 * F // st * st + 1 (its warning says "nearest"); wanmeter keeps the formula above, as a direct
 * transformer call does, and says so in the report. H and W must be multiples of ss * ph (16;
 * 32 for Wan2.2 TI2V-5B, whose VAE compresses 16x), as the diffusers pipelines require; anything
 * else is an error naming the nearest valid values.
 *
 * Image-conditioned transformers (I2V, FLF2V: image_dim set) need exactly 512 text tokens:
 * diffusers' WanAttnProcessor takes the last 512 context tokens as the text and the ones before
 * them as the image tokens (a hard-coded 512, the umT5 context length). */
#include <stdio.h>

#include "checked.h"
#include "wanmeter.h"

/* diffusers WanAttnProcessor: `image_context_length = encoder_hidden_states.shape[1] - 512` */
#define WM_I2V_TEXT_TOKENS 512

static wm_status check_multiple(const char *what, uint64_t v, uint64_t q, wm_error *err)
{
    if (v % q == 0)
        return WM_OK;
    uint64_t lo = v / q * q, hi = lo + q;
    char fix[160];
    if (lo == 0)
        snprintf(fix, sizeof fix, "use %llu", (unsigned long long)hi);
    else
        snprintf(fix, sizeof fix, "use %llu or %llu", (unsigned long long)lo,
                 (unsigned long long)hi);
    return wm_error_set(err, WM_E_INPUT, what, fix, "%llu is not a multiple of %llu",
                        (unsigned long long)v, (unsigned long long)q);
}

wm_status wm_geometry_compute(const wm_model_config *cfg, const wm_workload *w, wm_geometry *g,
                              wm_error *err)
{
    const uint64_t st = cfg->pipeline.vae_scale_factor_temporal, ss = cfg->pipeline.vae_scale_factor_spatial;
    const uint64_t pt = cfg->patch_size[0], ph = cfg->patch_size[1], pw = cfg->patch_size[2];
    *g = (wm_geometry){0};
    if (w->num_frames == 0)
        return wm_error_set(err, WM_E_INPUT, "frames", "use 1 or more, e.g. 81", "must be >= 1");
    uint64_t qh, qw;
    if (!wm_mul(ss, ph, &qh) || !wm_mul(ss, pw, &qw))
        return wm_error_set(err, WM_E_OVERFLOW, "vae_scale_factor_spatial", NULL,
                            "scale factor times patch size overflows");
    wm_status s;
    if ((s = check_multiple("height", w->height, qh, err)) || (s = check_multiple("width", w->width, qw, err)))
        return s;
    if (w->height == 0 || w->width == 0)
        return wm_error_set(err, WM_E_INPUT, w->height == 0 ? "height" : "width", "use a positive multiple of 16",
                            "must be > 0");

    if (cfg->image_dim && w->text_len != WM_I2V_TEXT_TOKENS)
        return wm_error_set(err, WM_E_INPUT, "text_len", "use 512",
                            "%llu: an image-conditioned model (image_dim set) needs exactly %d text "
                            "tokens, which diffusers' attention processor hard-codes to split the "
                            "image tokens from the text",
                            (unsigned long long)w->text_len, WM_I2V_TEXT_TOKENS);

    g->latent_frames = (w->num_frames - 1) / st + 1;
    g->latent_height = w->height / ss;
    g->latent_width = w->width / ss;
    g->tokens_frames = g->latent_frames / pt;
    g->tokens_height = g->latent_height / ph;
    g->tokens_width = g->latent_width / pw;
    if (g->tokens_frames == 0)
        return wm_error_set(err, WM_E_INPUT, "frames", "use more frames",
                            "%llu frames give %llu latent frames, fewer than the temporal patch %llu",
                            (unsigned long long)w->num_frames, (unsigned long long)g->latent_frames,
                            (unsigned long long)pt);
    /* diffusers' rotary embedding holds rope_max_seq_len positions per axis; a longer axis
     * cannot run. */
    const uint64_t axes[3] = {g->tokens_frames, g->tokens_height, g->tokens_width};
    static const char *const axis_what[3] = {"frames", "height", "width"};
    for (int i = 0; i < 3; i++)
        if (axes[i] > cfg->rope_max_seq_len)
            return wm_error_set(err, WM_E_INPUT, axis_what[i], "use a smaller value",
                                "gives %llu token positions on that axis, more than the model's "
                                "rope_max_seq_len %llu",
                                (unsigned long long)axes[i], (unsigned long long)cfg->rope_max_seq_len);
    if (!wm_mul(g->tokens_height, g->tokens_width, &g->tokens_per_frame) ||
        !wm_mul(g->tokens_per_frame, g->tokens_frames, &g->dit_seq_len))
        return wm_error_set(err, WM_E_OVERFLOW, "geometry", "use a smaller video",
                            "the token count overflows 64 bits");

    g->frames_not_4n1 = (w->num_frames - 1) % st != 0;
    g->pipeline_frames = g->frames_not_4n1 ? w->num_frames / st * st + 1 : w->num_frames;
    if (g->frames_not_4n1)
        snprintf(g->note, sizeof g->note,
                 "frames %llu is not %llun+1: latent frames T = (F-1)//%llu+1 = %llu as a direct "
                 "transformer call computes it; the diffusers pipeline would first round frames "
                 "to F//%llu*%llu+1 = %llu (T = %llu)",
                 (unsigned long long)w->num_frames, (unsigned long long)st, (unsigned long long)st,
                 (unsigned long long)g->latent_frames, (unsigned long long)st,
                 (unsigned long long)st, (unsigned long long)g->pipeline_frames,
                 (unsigned long long)((g->pipeline_frames - 1) / st + 1));
    return WM_OK;
}
