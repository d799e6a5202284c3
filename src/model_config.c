/* model_config.c — validation of a model configuration before a tree is built from it.
 *
 * Dimensions are bounded (WM_DIM_MAX) so that structural products such as d * ffn_dim cannot
 * overflow; the bound is far above any real model (Wan2.1-14B has d = 5120). */
#include <stdio.h>
#include <string.h>

#include "model_internal.h"

#define WM_DIM_MAX ((uint64_t)1 << 24)
#define WM_LAYERS_MAX ((uint64_t)100000)

static wm_status dim(const char *what, uint64_t v, uint64_t max, wm_error *err)
{
    if (v == 0)
        return wm_error_set(err, WM_E_INPUT, what, "set it to a positive whole number",
                            "must be > 0");
    if (v > max)
        return wm_error_set(err, WM_E_INPUT, what, "use a realistic model dimension",
                            "%llu is larger than wanmeter's limit %llu", (unsigned long long)v,
                            (unsigned long long)max);
    return WM_OK;
}

/* Image conditioning (I2V, FLF2V): WanTimeTextImageEmbedding embeds the CLIP tokens to d, and
 * every attn2 projects them with add_k_proj/add_v_proj(added_kv_proj_dim -> d): the forward
 * runs only when added_kv_proj_dim = d. FLF2V's pos_embed is added to the first and last
 * frame's tokens viewed as one sequence of 2 x 257. */
static wm_status check_image(const wm_model_config *c, wm_error *err)
{
    const uint64_t d = c->num_attention_heads * c->attention_head_dim;
    wm_status s;
    if (!c->image_dim != !c->added_kv_proj_dim)
        return wm_error_set(err, WM_E_INPUT, c->image_dim ? "added_kv_proj_dim" : "image_dim",
                            "set both image_dim and added_kv_proj_dim (I2V/FLF2V), or neither",
                            "image_dim and added_kv_proj_dim go together: the image embedder feeds "
                            "attn2's added key/value projections");
    if (c->image_dim && ((s = dim("image_dim", c->image_dim, WM_DIM_MAX, err)) != WM_OK ||
                         (s = dim("added_kv_proj_dim", c->added_kv_proj_dim, WM_DIM_MAX, err)) != WM_OK))
        return s;
    if (c->added_kv_proj_dim && c->added_kv_proj_dim != d)
        return wm_error_set(err, WM_E_INPUT, "added_kv_proj_dim",
                            "set it to num_attention_heads x attention_head_dim",
                            "%llu differs from the model dim %llu, which the image embedder outputs",
                            (unsigned long long)c->added_kv_proj_dim, (unsigned long long)d);
    if (c->pos_embed_seq_len && !c->image_dim)
        return wm_error_set(err, WM_E_INPUT, "pos_embed_seq_len", "set it to null, or set image_dim",
                            "is only used by the image embedder");
    if (c->pos_embed_seq_len && c->pos_embed_seq_len != 2 * WM_IMAGE_TOKENS)
        return wm_error_set(err, WM_E_INPUT, "pos_embed_seq_len",
                            "use 514 (FLF2V: two CLIP images of 257 tokens) or null",
                            "%llu: diffusers adds it to 2 x 257 image tokens",
                            (unsigned long long)c->pos_embed_seq_len);
    return WM_OK;
}

/* WanVACETransformer3DModel: a VACE block after each listed main block, block 0 among them. */
static wm_status check_vace(const wm_model_config *c, bool vace, wm_error *err)
{
    if (!vace) {
        if (c->vace_layers_count || c->vace_in_channels)
            return wm_error_set(err, WM_E_INPUT,
                                c->vace_layers_count ? "vace_layers" : "vace_in_channels",
                                "remove it, or set _class_name to WanVACETransformer3DModel",
                                "is a WanVACETransformer3DModel field");
        return WM_OK;
    }
    if (!c->vace_layers_count)
        return wm_error_set(err, WM_E_INPUT, "vace_layers",
                            "list the main blocks with a VACE block, e.g. [0, 5, 10, 15, 20, 25, 30, 35]",
                            "missing for WanVACETransformer3DModel");
    wm_status s = dim("vace_in_channels", c->vace_in_channels, WM_DIM_MAX, err);
    if (s != WM_OK)
        return s;
    bool has0 = false;
    for (size_t k = 0; k < c->vace_layers_count; k++) {
        char what[48];
        snprintf(what, sizeof what, "vace_layers[%zu]", k);
        if (c->vace_layers[k] >= c->num_layers)
            return wm_error_set(err, WM_E_INPUT, what, "use block indices below num_layers",
                                "%llu is not a block of a %llu-layer model",
                                (unsigned long long)c->vace_layers[k],
                                (unsigned long long)c->num_layers);
        for (size_t j = 0; j < k; j++)
            if (c->vace_layers[j] == c->vace_layers[k])
                return wm_error_set(err, WM_E_INPUT, what, "list each block once",
                                    "%llu is listed twice", (unsigned long long)c->vace_layers[k]);
        has0 |= c->vace_layers[k] == 0;
    }
    if (!has0)
        return wm_error_set(err, WM_E_INPUT, "vace_layers", "include block 0",
                            "diffusers requires VACE layers to include layer 0");
    return WM_OK;
}

/* Pipeline settings that change the transformer's work. */
static wm_status check_pipeline(const wm_model_config *c, bool vace, wm_error *err)
{
    const wm_pipeline_config *p = &c->pipeline;
    if (!(p->boundary_ratio >= 0.0 && p->boundary_ratio <= 1.0))
        return wm_error_set(err, WM_E_INPUT, "pipeline.boundary_ratio",
                            "use 0 (one transformer) or a fraction such as 0.875 (Wan2.2 A14B)",
                            "must be >= 0 and <= 1");
    if (p->boundary_ratio > 0.0 && !(p->flow_shift > 0.0 && p->flow_shift <= 1e6))
        return wm_error_set(err, WM_E_INPUT, "pipeline.flow_shift",
                            "set the scheduler's flow_shift, e.g. 3.0",
                            "must be a positive number: the expert split depends on it");
    if (p->num_train_timesteps == 0 || p->num_train_timesteps > 1000000)
        return wm_error_set(err, WM_E_INPUT, "pipeline.num_train_timesteps",
                            "use the scheduler's value, 1000", "must be between 1 and 1000000");
    if (p->expand_timesteps && vace)
        return wm_error_set(err, WM_E_INPUT, "pipeline.expand_timesteps",
                            "set it to false for a VACE model",
                            "WanVACETransformer3DModel takes one timestep per sample");
    return WM_OK;
}

wm_status wm_model_config_validate(const wm_model_config *c, wm_error *err)
{
    wm_status s;
    const struct {
        const char *what;
        uint64_t v, max;
    } dims[] = {
        {"patch_size[0]", c->patch_size[0], 64},
        {"patch_size[1]", c->patch_size[1], 64},
        {"patch_size[2]", c->patch_size[2], 64},
        {"num_attention_heads", c->num_attention_heads, WM_DIM_MAX},
        {"attention_head_dim", c->attention_head_dim, WM_DIM_MAX},
        {"in_channels", c->in_channels, WM_DIM_MAX},
        {"out_channels", c->out_channels, WM_DIM_MAX},
        {"text_dim", c->text_dim, WM_DIM_MAX},
        {"freq_dim", c->freq_dim, WM_DIM_MAX},
        {"ffn_dim", c->ffn_dim, WM_DIM_MAX},
        {"num_layers", c->num_layers, WM_LAYERS_MAX},
        {"rope_max_seq_len", c->rope_max_seq_len, WM_DIM_MAX},
        {"pipeline.vae_scale_factor_temporal", c->pipeline.vae_scale_factor_temporal, 64},
        {"pipeline.vae_scale_factor_spatial", c->pipeline.vae_scale_factor_spatial, 64},
    };
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if ((s = dim(dims[i].what, dims[i].v, dims[i].max, err)) != WM_OK)
            return s;
    if (c->num_attention_heads * c->attention_head_dim > WM_DIM_MAX)
        return wm_error_set(err, WM_E_INPUT, "num_attention_heads",
                            "use fewer heads or a smaller attention_head_dim",
                            "num_attention_heads x attention_head_dim = %llu is larger than %llu",
                            (unsigned long long)(c->num_attention_heads * c->attention_head_dim),
                            (unsigned long long)WM_DIM_MAX);
    const bool vace = strcmp(c->class_name, "WanVACETransformer3DModel") == 0;
    if (!vace && strcmp(c->class_name, "WanTransformer3DModel") != 0)
        return wm_error_set(err, WM_E_INPUT, "_class_name",
                            "use WanTransformer3DModel or WanVACETransformer3DModel",
                            "'%s' is not a transformer wanmeter models", c->class_name);
    if ((s = check_image(c, err)) != WM_OK || (s = check_vace(c, vace, err)) != WM_OK ||
        (s = check_pipeline(c, vace, err)) != WM_OK)
        return s;
    /* qk_norm is recorded but, as in diffusers, does not change the structure: norm_q and
     * norm_k are always RMSNorm over all heads. */
    if (!(c->eps > 0.0))
        return wm_error_set(err, WM_E_INPUT, "eps", "use a small positive number such as 1e-6",
                            "must be > 0");
    return WM_OK;
}
