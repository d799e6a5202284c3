/* model_config.c — validation of a model configuration before a tree is built from it.
 *
 * Dimensions are bounded (WM_DIM_MAX) so that structural products such as d * ffn_dim cannot
 * overflow; the bound is far above any real model (Wan2.1-14B has d = 5120). */
#include <string.h>

#include "wanmeter.h"

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
    if (strcmp(c->class_name, "WanTransformer3DModel") != 0)
        return wm_error_set(err, WM_E_INPUT, "_class_name", "use WanTransformer3DModel",
                            "'%s' is not a transformer wanmeter models", c->class_name);
    if (c->image_dim || c->added_kv_proj_dim || c->pos_embed_seq_len)
        return wm_error_set(err, WM_E_INPUT, c->image_dim ? "image_dim" : c->added_kv_proj_dim ? "added_kv_proj_dim" : "pos_embed_seq_len",
                            "set it to null: image-conditioned (I2V/FLF2V) transformers are not "
                            "modelled yet",
                            "image conditioning is not supported in this version");
    /* qk_norm is recorded but, as in diffusers, does not change the structure: norm_q and
     * norm_k are always RMSNorm over all heads. */
    if (!(c->eps > 0.0))
        return wm_error_set(err, WM_E_INPUT, "eps", "use a small positive number such as 1e-6",
                            "must be > 0");
    return WM_OK;
}
