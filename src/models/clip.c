/*
 * clip.c — the layer tree of transformers' CLIPVisionModel forward (transformers 5.23.0,
 * models/clip/modeling_clip.py), the CLIP ViT-H/14 image encoder of Wan2.1 I2V-14B and
 * FLF2V-14B. diffusers' WanImageToVideoPipeline.encode_image calls
 *     image_encoder(pixel_values, output_hidden_states=True).hidden_states[-2]
 * once per generation: one image for I2V, [image, last_image] in ONE call for FLF2V (the
 * transformer has pos_embed_seq_len = 2 x 257): batch_mul 2. hidden_states[-2] is the input of
 * the last layer, but all layers and post_layernorm still run. CLIPVisionModel has no
 * projection (CLIPVisionModelWithProjection's visual_projection is not used by diffusers).
 *
 * In transformers 5 CLIPVisionModel holds the vision tower's modules directly (no
 * `vision_model` level), so FlopCounterMode's `CLIPVisionModel.encoder.layers.3.self_attn.q_proj`
 * is `image_encoder.encoder.layers.3.self_attn.q_proj` here.
 *
 * Legend: B batch, n images per call (1 I2V, 2 FLF2V; rows carry batch_mul = n), S image_size,
 * p patch_size, C num_channels, P = (S/p)^2 patches, Lc = P + 1 tokens (CLS + patches; rows
 * FIXED), D hidden_size, H heads, hd = D / H, I intermediate_size, N num_hidden_layers.
 * ViT-H/14 at 224: P = 256, Lc = 257, D 1280, H 16, hd 80, I 5120, N 32.
 *
 * What FlopCounterMode counts (measured with torch 2.13.0 + transformers 5.23.0, eval mode):
 *   - patch_embedding: Conv2d(C -> D, k = s = p, no bias) -> aten.convolution,
 *     2 * B*n * P * p^2 * C * D (385,351,680 per image for ViT-H/14).
 *   - q_proj, k_proj, v_proj, out_proj, fc1, fc2: nn.Linear with bias -> aten.addmm.
 *   - the attention core: CLIP defaults to transformers' "sdpa" interface, so on meta the math
 *     path gives two aten.bmm (4 * B*n * Lc^2 * D, 338,170,880 per layer and image) and on the
 *     CPU the fused flash kernel counts 0: an ordinary SDPA node (explicit_matmul off), filed
 *     under `self_attn`.
 *   - 0 for the rest: class/position embeddings, pre_layrnorm, layer norms, gelu, residual
 *     adds, post_layernorm (on the pooled CLS token).
 * Per layer and image: 2 * Lc * (4 D^2 + 2 D I) + 4 Lc^2 D = 10,105,651,200 + 338,170,880.
 * Per image (ViT-H/14): 385,351,680 + 32 * 10,443,822,080 = 334,587,658,240 (meta).
 *
 * Weights: diffusers' I2V example loads the image encoder in float32 (as the reference harness
 * measures it), so every node is fp32_params; activations still use the workload dtype.
 *
 * --impl official (wan/modules/clip.py with use_31_block): the first N - 1 layers run and
 * post_norm does not; the skipped modules' weights are kept as parameters of `encoder` and of
 * the root. The official attention (flash_attn) is counted like the SDPA here. Its CLIP runs in
 * fp16: weights at the workload dtype.
 *
 * Functional ops ('#' ids, full mode only): `#pos_add` (embeddings + position_embedding),
 * `#sdpa`, `#attn_residual`, `#mlp_residual` (x + y). The class token concat is a copy.
 */
#include <stdio.h>
#include <string.h>

#include "../checked.h"
#include "../model_internal.h"

static wm_status bad_field(wm_builder *b, const char *field, const char *why)
{
    char what[96];
    snprintf(what, sizeof what, "image_encoder.%s", field);
    b->status = wm_error_set(b->err, WM_E_INPUT, what,
                             "use the snapshot's image_encoder/config.json (CLIP ViT-H/14)", "%s",
                             why);
    return b->status;
}

/* Sets a FIXED-rows node's per-sample length; returns the node. */
static int32_t fixed(wm_builder *b, int32_t i, uint64_t len)
{
    if (i >= 0)
        wm_b_at(b, i)->fixed_len = len;
    return i;
}

/* CLIPEncoderLayer: layer_norm1, self_attn, residual, layer_norm2, mlp, residual. All rows are
 * the Lc tokens of the B*n images. */
static void encoder_layer(wm_builder *b, int32_t enc, uint64_t i, const wm_image_encoder_config *c,
                          uint64_t Lc)
{
    const uint64_t D = c->hidden_size, I = c->intermediate_size, H = c->num_attention_heads;
    const wm_rows R = WM_ROWS_FIXED;
    const wm_category A = WM_CAT_ATTN_PROJ, M = WM_CAT_MLP;
    int32_t ly = wm_b_nodef(b, enc, WM_OP_MODULE, WM_CAT_NONE, "layers.%llu", (unsigned long long)i);
    fixed(b, wm_b_elementwise(b, ly, "layer_norm1", WM_OP_LAYERNORM, R, D, 2 * D), Lc); /* 0 */
    int32_t sa = wm_b_node(b, ly, "self_attn", WM_OP_MODULE, WM_CAT_NONE);
    fixed(b, wm_b_linear(b, sa, "q_proj", A, R, D, D, true), Lc);     /* [Bn,Lc,D]x[D,D] addmm */
    fixed(b, wm_b_linear(b, sa, "k_proj", A, R, D, D, true), Lc);     /* [Bn,Lc,D]x[D,D] addmm */
    fixed(b, wm_b_linear(b, sa, "v_proj", A, R, D, D, true), Lc);     /* [Bn,Lc,D]x[D,D] addmm */
    fixed(b, wm_b_sdpa(b, sa, "#sdpa", R, R, H, D / H), Lc); /* [Bn,H,Lc,hd] bmm (meta), 0 (CPU) */
    fixed(b, wm_b_linear(b, sa, "out_proj", A, R, D, D, true), Lc);   /* [Bn,Lc,D]x[D,D] addmm */
    fixed(b, wm_b_elementwise(b, ly, "#attn_residual", WM_OP_ADD, R, D, 0), Lc);      /* 0 */
    fixed(b, wm_b_elementwise(b, ly, "layer_norm2", WM_OP_LAYERNORM, R, D, 2 * D), Lc); /* 0 */
    int32_t mlp = wm_b_node(b, ly, "mlp", WM_OP_MODULE, WM_CAT_NONE);
    fixed(b, wm_b_linear(b, mlp, "fc1", M, R, D, I, true), Lc);       /* [Bn,Lc,D]x[D,I] addmm */
    /* activation_fn: hidden_act (exact gelu for ViT-H/14), costed as gelu_tanh in mode full */
    fixed(b, wm_b_elementwise(b, mlp, "activation_fn", WM_OP_GELU_TANH, R, I, 0), Lc); /* 0 */
    fixed(b, wm_b_linear(b, mlp, "fc2", M, R, I, D, true), Lc);       /* [Bn,Lc,I]x[I,D] addmm */
    fixed(b, wm_b_elementwise(b, ly, "#mlp_residual", WM_OP_ADD, R, D, 0), Lc);       /* 0 */
}

wm_status wm_build_clip_vision(wm_builder *b, const wm_model_config *cfg)
{
    const wm_image_encoder_config *c = &cfg->image_encoder;
    if (b->status != WM_OK)
        return b->status;
    if (strcmp(c->class_name, "CLIPVisionModel") != 0)
        return bad_field(b, "_class_name",
                         "only CLIPVisionModel (what WanImageToVideoPipeline loads) is modelled");
    const struct {
        const char *name;
        uint64_t v;
    } need[] = {{"hidden_size", c->hidden_size},
                {"intermediate_size", c->intermediate_size},
                {"num_attention_heads", c->num_attention_heads},
                {"image_size", c->image_size},
                {"patch_size", c->patch_size},
                {"num_channels", c->num_channels}};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (need[i].v == 0)
            return bad_field(b, need[i].name, "must be >= 1");
    if (c->hidden_size % c->num_attention_heads)
        return bad_field(b, "num_attention_heads", "must divide hidden_size");
    if (c->image_size % c->patch_size)
        return bad_field(b, "image_size", "must be a multiple of patch_size");
    static const char *const acts[] = {"gelu", "quick_gelu", "gelu_new", "gelu_pytorch_tanh"};
    bool act_ok = false;
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        act_ok = act_ok || strcmp(c->hidden_act, acts[i]) == 0;
    if (!act_ok)
        return bad_field(b, "hidden_act", "only GELU activations are modelled");
    const uint64_t D = c->hidden_size, g = c->image_size / c->patch_size;
    uint64_t P = 0, Lc = 0, pos = 0;
    if (!wm_mul(g, g, &P) || !wm_add(P, 1, &Lc) || !wm_mul(Lc, D, &pos))
        return bad_field(b, "image_size", "the token count overflows");
    /* FLF2V (the transformer embeds 2 x 257 image tokens) encodes first and last frame */
    const uint32_t images = cfg->pos_embed_seq_len ? 2 : 1;

    int32_t root = wm_b_root(b, "image_encoder", WM_STAGE_IMAGE_ENCODER); /* CLIPVisionModel */
    if (root >= 0)
        wm_b_at(b, root)->batch_mul = images; /* inherited by every node below */
    int32_t emb = wm_b_node(b, root, "embeddings", WM_OP_MODULE, WM_CAT_NONE);
    if (emb >= 0)
        wm_b_at(b, emb)->params = D; /* class_embedding (D) */
    const uint64_t kernel[3] = {1, c->patch_size, c->patch_size};
    /* [Bn,C,S,S] -> [Bn,D,S/p,S/p]: convolution */
    int32_t pe = wm_b_conv3d(b, emb, "patch_embedding", WM_CAT_PATCH_EMBED, WM_ROWS_FIXED,
                             c->num_channels, D, kernel);
    if (pe >= 0) {
        wm_node *nd = wm_b_at(b, pe);
        nd->fixed_len = P;  /* output positions: the P patches */
        nd->bias = false;   /* bias=False: drop the D bias parameters wm_b_conv3d counted */
        nd->params -= D;
    }
    /* Embedding(Lc, D) at position_ids [1, Lc]: 0 FLOPs */
    int32_t pemb = wm_b_node(b, emb, "position_embedding", WM_OP_MODULE, WM_CAT_NONE);
    if (pemb >= 0)
        wm_b_at(b, pemb)->params = pos;
    fixed(b, wm_b_elementwise(b, emb, "#pos_add", WM_OP_ADD, WM_ROWS_FIXED, D, 0), Lc); /* 0 */
    fixed(b, wm_b_elementwise(b, root, "pre_layrnorm", WM_OP_LAYERNORM, WM_ROWS_FIXED, D, 2 * D),
          Lc);                                                               /* [Bn,Lc,D] 0 */
    int32_t enc = wm_b_node(b, root, "encoder", WM_OP_MODULE, WM_CAT_NONE);  /* CLIPEncoder */
    /* The official Wan code (clip.py, use_31_block) runs all blocks but the last and returns
     * before post_norm; their weights are still loaded, so they stay in the tree as parameters
     * only: the last block's on `encoder`, the post-norm's on the root. */
    const bool official = cfg->impl == WM_IMPL_OFFICIAL && c->num_hidden_layers > 0;
    const uint64_t run = official ? c->num_hidden_layers - 1 : c->num_hidden_layers;
    for (uint64_t i = 0; i < run && b->status == WM_OK; i++)
        encoder_layer(b, enc, i, c, Lc);
    if (official) {
        /* 4 (D^2 + D) [q, k, v, out] + 4 D [2 layer norms] + 2 D I + I + D [fc1, fc2] */
        const uint64_t I = c->intermediate_size, f[3] = {2, D, I};
        uint64_t layer = 0, mlp = 0;
        if (!wm_mul(D, D, &layer) || !wm_add(layer, D, &layer) || !wm_mul(layer, 4, &layer) ||
            !wm_mul_n(&mlp, 3, f) || !wm_add(layer, mlp, &layer) || !wm_mac(&layer, D, 5) ||
            !wm_add(layer, I, &layer))
            return bad_field(b, "hidden_size", "the parameter count overflows");
        if (enc >= 0)
            wm_b_at(b, enc)->params = layer;
        if (root >= 0)
            wm_b_at(b, root)->params = 2 * D;
        return b->status;
    }
    /* pooled output: post_layernorm(last_hidden_state[:, 0, :]), [Bn,D] */
    wm_b_elementwise(b, root, "post_layernorm", WM_OP_LAYERNORM, WM_ROWS_ONE, D, 2 * D);
    /* diffusers' I2V example loads the image encoder with torch_dtype=torch.float32 */
    for (size_t i = root >= 0 ? (size_t)root : b->m->count; i < b->m->count; i++)
        b->m->nodes[i].fp32_params = true;
    return b->status;
}
