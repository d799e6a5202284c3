/*
 * wan_dit.c — the layer tree of diffusers' Wan transformers, in the order their forwards run
 * (diffusers 0.42.1):
 *   WanTransformer3DModel      models/transformers/transformer_wan.py       (T2V, I2V, FLF2V,
 *                                                                           Wan2.2 A14B, TI2V-5B)
 *   WanVACETransformer3DModel  models/transformers/transformer_wan_vace.py  (VACE)
 * Ids are the module paths in the diffusers pipeline: the transformer is the pipeline's
 * `transformer` (the Wan2.2 A14B low-noise expert is `transformer_2`), so FlopCounterMode's
 * `WanTransformer3DModel.blocks.3.attn1.to_q` is `transformer.blocks.3.attn1.to_q` here.
 *
 * Legend: B batch, L video tokens, Lt text tokens, Li image tokens per sample (257 CLIP tokens,
 * FLF2V 514 = pos_embed_seq_len), Lτ timestep rows per sample (1, or L with expand_timesteps),
 * d = heads * head_dim (inner dim), F ffn_dim, fd freq_dim, Dt text_dim, Di image_dim,
 * Dkv added_kv_proj_dim, Cin/Cout channels, Cv vace_in_channels, P = pt*ph*pw, K VACE blocks.
 *
 * Variants, from the config:
 *   image_dim / added_kv_proj_dim (I2V, FLF2V)  condition_embedder.image_embedder on the image
 *       tokens; in every attn2 add_k_proj/add_v_proj/norm_added_k and a second attention core
 *       over the image tokens (#sdpa_img), added to the text one (#img_add) before to_out.0
 *   pos_embed_seq_len (FLF2V)  the image embedder adds pos_embed (#pos_embed) to 2 x 257 tokens
 *   pipeline.expand_timesteps (Wan2.2 TI2V-5B)  one timestep per token: the time embedding and
 *       time_proj run on B*L rows and the modulation tables are per token (with --impl official
 *       for every Wan2.2 model, the A14B experts too, as the official code does)
 *   pipeline.boundary_ratio > 0 (Wan2.2 A14B)  a second, identical tree `transformer_2`
 *   _class_name WanVACETransformer3DModel (VACE)  vace_patch_embedding, vace_blocks.0..K-1 (run
 *       before the main blocks), and after each main block listed in vace_layers the next
 *       hint add #vace_hint_k (k-th such block, k-th VACE block's hint)
 *
 * Functional ops (no nn.Module of their own) get '#' ids under the module whose forward runs
 * them: `#sdpa` (the attention core, F.scaled_dot_product_attention), `#sdpa_img` (I2V: the
 * core over the image tokens), `#img_add` (I2V: text + image attention outputs), `#rope`
 * (rotary embedding of q and k), `#ada_table` (scale_shift_table + temb), `#norm1_modulate`,
 * `#norm3_modulate`, `#norm_out_modulate` (x * (1 + scale) + shift), `#attn1_residual`,
 * `#ffn_residual` (x + y * gate), `#attn2_residual` (x + y), `#gelu_tanh` (inside ffn.net.0),
 * `#gelu` (the image embedder's exact GELU), `#pos_embed` (FLF2V), `#proj_in_residual` (VACE
 * block 0: proj_in(control) + x), `#vace_hint_k` (VACE: x + hint * scale).
 * Only `#sdpa` and `#sdpa_img` do work FlopCounterMode counts (both charged to attn2, whose
 * forward runs them); the others count in `full` mode.
 *
 * Parameters kept in fp32 by diffusers (_keep_in_fp32_modules: a parameter whose dotted name
 * has a component time_embedder, scale_shift_table, norm1, norm2 or norm3 — which includes the
 * image embedder's norm1/norm2) are flagged `fp32_params`.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "../checked.h"
#include "../model_internal.h"

static uint64_t inner_dim(const wm_model_config *c) { return c->num_attention_heads * c->attention_head_dim; }

/* One timestep per video token: diffusers with expand_timesteps (Wan2.2 TI2V-5B); the official
 * Wan2.2 code for every Wan2.2 model (WAN_FACTS §9.4), so with --impl official the A14B experts
 * (boundary_ratio > 0) too. */
static bool per_token_time(const wm_model_config *c)
{
    return c->pipeline.expand_timesteps ||
           (c->impl == WM_IMPL_OFFICIAL && c->pipeline.boundary_ratio > 0.0);
}

/* Rows of the timestep embedding: per sample, or per video token. */
static wm_rows time_rows(const wm_model_config *c) { return per_token_time(c) ? WM_ROWS_VIDEO : WM_ROWS_ONE; }

static void set_fp32(wm_builder *b, int32_t i)
{
    if (i >= 0)
        wm_b_at(b, i)->fp32_params = true;
}

/* WanAttention + WanAttnProcessor: to_q/to_k/to_v, norm_q/norm_k (RMSNorm over all heads),
 * [rope], [I2V: add_k_proj/add_v_proj/norm_added_k and the image core], core, to_out.0.
 * Self-attention when kv == WM_ROWS_VIDEO (with rope), cross-attention on the text otherwise;
 * `image` adds the image branch (attn2 of an image-conditioned model). */
static void attention(wm_builder *b, int32_t block, const char *name, const wm_model_config *c,
                      wm_rows kv, bool image)
{
    const uint64_t d = inner_dim(c), H = c->num_attention_heads, hd = c->attention_head_dim;
    int32_t a = wm_b_node(b, block, name, WM_OP_MODULE, WM_CAT_NONE);
    /* addmm 2·B·L·d², 2·B·Lk·d² each (aten.mm when the text slice is not contiguous, B > 1) */
    wm_b_linear(b, a, "to_q", WM_CAT_ATTN_PROJ, WM_ROWS_VIDEO, d, d, true); /* [B,L,d]x[d,d] */
    wm_b_linear(b, a, "to_k", WM_CAT_ATTN_PROJ, kv, d, d, true);            /* [B,Lk,d]x[d,d] */
    wm_b_linear(b, a, "to_v", WM_CAT_ATTN_PROJ, kv, d, d, true);            /* [B,Lk,d]x[d,d] */
    wm_b_elementwise(b, a, "norm_q", WM_OP_RMSNORM, WM_ROWS_VIDEO, d, d);   /* [B,L,d]  0 */
    wm_b_elementwise(b, a, "norm_k", WM_OP_RMSNORM, kv, d, d);              /* [B,Lk,d] 0 */
    if (kv == WM_ROWS_VIDEO)
        wm_b_elementwise(b, a, "#rope", WM_OP_ROPE, WM_ROWS_VIDEO, 2 * d, 0); /* q and k: 0 */
    if (image) {
        /* the image tokens' keys and values: addmm 2·B·Li·Dkv·d each */
        wm_b_linear(b, a, "add_k_proj", WM_CAT_ATTN_PROJ, WM_ROWS_IMAGE, c->added_kv_proj_dim, d,
                    true);                                                  /* [B,Li,Dkv]x[Dkv,d] */
        wm_b_linear(b, a, "add_v_proj", WM_CAT_ATTN_PROJ, WM_ROWS_IMAGE, c->added_kv_proj_dim, d,
                    true);                                                  /* [B,Li,Dkv]x[Dkv,d] */
        wm_b_elementwise(b, a, "norm_added_k", WM_OP_RMSNORM, WM_ROWS_IMAGE, d, d); /* 0 */
        /* q[B,H,L,hd] over k,v[B,H,Li,hd]: two aten.bmm on meta, 4·B·L·Li·d */
        wm_b_sdpa(b, a, "#sdpa_img", WM_ROWS_VIDEO, WM_ROWS_IMAGE, H, hd);
    }
    /* q[B,H,L,hd] over k,v[B,H,Lk,hd]: two aten.bmm on meta, 4·B·L·Lk·d */
    wm_b_sdpa(b, a, "#sdpa", WM_ROWS_VIDEO, kv, H, hd);
    if (image)
        wm_b_elementwise(b, a, "#img_add", WM_OP_ADD, WM_ROWS_VIDEO, d, 0); /* [B,L,d] 0 */
    wm_b_linear(b, a, "to_out.0", WM_CAT_ATTN_PROJ, WM_ROWS_VIDEO, d, d, true); /* 2·B·L·d² */
}

typedef enum { BLOCK_MAIN, BLOCK_VACE_FIRST, BLOCK_VACE } block_kind;

/* WanTransformerBlock.forward, or WanVACETransformerBlock.forward (the same block on the control
 * stream, with proj_in on block 0 and proj_out on every block). */
static void block(wm_builder *b, int32_t root, const char *fmt, uint64_t i, const wm_model_config *c,
                  block_kind kind)
{
    const uint64_t d = inner_dim(c), F = c->ffn_dim;
    const bool image = c->added_kv_proj_dim != 0;
    const wm_rows tr = time_rows(c);
    int32_t blk = wm_b_nodef(b, root, WM_OP_MODULE, WM_CAT_NONE, fmt, (unsigned long long)i);
    wm_node *nd = wm_b_at(b, blk);
    if (nd) {
        nd->params = 6 * d; /* scale_shift_table (1, 6, d) */
        nd->fp32_params = true;
    }
    if (kind == BLOCK_VACE_FIRST) {
        wm_b_linear(b, blk, "proj_in", WM_CAT_COND_EMBED, WM_ROWS_VIDEO, d, d, true); /* 2·B·L·d² */
        wm_b_elementwise(b, blk, "#proj_in_residual", WM_OP_ADD, WM_ROWS_VIDEO, d, 0);
    }
    /* scale_shift_table + temb: [B,6,d], or [B,L,6,d] per token */
    wm_b_elementwise(b, blk, "#ada_table", WM_OP_ADD, tr, 6 * d, 0);
    /* 1. self-attention */
    int32_t n1 = wm_b_elementwise(b, blk, "norm1", WM_OP_LAYERNORM, WM_ROWS_VIDEO, d, 0);
    wm_b_elementwise(b, blk, "#norm1_modulate", WM_OP_MODULATE, WM_ROWS_VIDEO, d, 0);
    attention(b, blk, "attn1", c, WM_ROWS_VIDEO, false);
    wm_b_elementwise(b, blk, "#attn1_residual", WM_OP_GATED_ADD, WM_ROWS_VIDEO, d, 0);
    /* 2. cross-attention on the text (and the image tokens) */
    int32_t n2 = -1;
    if (c->cross_attn_norm)
        n2 = wm_b_elementwise(b, blk, "norm2", WM_OP_LAYERNORM, WM_ROWS_VIDEO, d, 2 * d);
    attention(b, blk, "attn2", c, WM_ROWS_TEXT, image);
    wm_b_elementwise(b, blk, "#attn2_residual", WM_OP_ADD, WM_ROWS_VIDEO, d, 0);
    /* 3. feed-forward: net.0 is diffusers' GELU module (proj, then gelu tanh), net.1 dropout */
    int32_t n3 = wm_b_elementwise(b, blk, "norm3", WM_OP_LAYERNORM, WM_ROWS_VIDEO, d, 0);
    wm_b_elementwise(b, blk, "#norm3_modulate", WM_OP_MODULATE, WM_ROWS_VIDEO, d, 0);
    int32_t ffn = wm_b_node(b, blk, "ffn", WM_OP_MODULE, WM_CAT_NONE);
    int32_t net0 = wm_b_node(b, ffn, "net.0", WM_OP_MODULE, WM_CAT_NONE);
    wm_b_linear(b, net0, "proj", WM_CAT_MLP, WM_ROWS_VIDEO, d, F, true);     /* [B,L,d]x[d,F] */
    wm_b_elementwise(b, net0, "#gelu_tanh", WM_OP_GELU_TANH, WM_ROWS_VIDEO, F, 0);
    wm_b_linear(b, ffn, "net.2", WM_CAT_MLP, WM_ROWS_VIDEO, F, d, true);     /* [B,L,F]x[F,d] */
    wm_b_elementwise(b, blk, "#ffn_residual", WM_OP_GATED_ADD, WM_ROWS_VIDEO, d, 0);
    /* VACE: the hint for the main stream, addmm 2·B·L·d² */
    if (kind != BLOCK_MAIN)
        wm_b_linear(b, blk, "proj_out", WM_CAT_COND_EMBED, WM_ROWS_VIDEO, d, d, true);
    set_fp32(b, n1);
    set_fp32(b, n2);
    set_fp32(b, n3);
}

/* WanTimeTextImageEmbedding.forward: timestep -> temb -> 6d modulation; text -> d; image -> d */
static void condition_embedder(wm_builder *b, int32_t root, const wm_model_config *c)
{
    const uint64_t d = inner_dim(c), fd = c->freq_dim, Di = c->image_dim;
    const wm_rows tr = time_rows(c);
    int32_t ce = wm_b_node(b, root, "condition_embedder", WM_OP_MODULE, WM_CAT_NONE);
    wm_b_elementwise(b, ce, "timesteps_proj", WM_OP_SINUSOID, tr, fd, 0);  /* [B(,L),fd] 0 */
    int32_t te = wm_b_node(b, ce, "time_embedder", WM_OP_MODULE, WM_CAT_NONE);
    set_fp32(b, wm_b_linear(b, te, "linear_1", WM_CAT_COND_EMBED, tr, fd, d, true)); /* 2·B·Lτ·fd·d */
    set_fp32(b, wm_b_elementwise(b, te, "act", WM_OP_SILU, tr, d, 0));
    set_fp32(b, wm_b_linear(b, te, "linear_2", WM_CAT_COND_EMBED, tr, d, d, true));  /* 2·B·Lτ·d² */
    wm_b_elementwise(b, ce, "act_fn", WM_OP_SILU, tr, d, 0);
    wm_b_linear(b, ce, "time_proj", WM_CAT_COND_EMBED, tr, d, 6 * d, true);           /* 2·B·Lτ·6d² */
    int32_t tx = wm_b_node(b, ce, "text_embedder", WM_OP_MODULE, WM_CAT_NONE);
    wm_b_linear(b, tx, "linear_1", WM_CAT_COND_EMBED, WM_ROWS_TEXT, c->text_dim, d, true); /* 2·B·Lt·Dt·d */
    wm_b_elementwise(b, tx, "act_1", WM_OP_GELU_TANH, WM_ROWS_TEXT, d, 0);
    wm_b_linear(b, tx, "linear_2", WM_CAT_COND_EMBED, WM_ROWS_TEXT, d, d, true);            /* 2·B·Lt·d² */
    if (!Di)
        return;
    /* WanImageEmbedding on the CLIP tokens [B,Li,Di] (FLF2V: [2B,257,Di] viewed as [B,514,Di]) */
    int32_t ie = wm_b_node(b, ce, "image_embedder", WM_OP_MODULE, WM_CAT_NONE);
    if (c->pos_embed_seq_len) {
        if (ie >= 0)
            wm_b_at(b, ie)->params = c->pos_embed_seq_len * Di; /* pos_embed (1, 514, Di) */
        wm_b_elementwise(b, ie, "#pos_embed", WM_OP_ADD, WM_ROWS_IMAGE, Di, 0);
    }
    set_fp32(b, wm_b_elementwise(b, ie, "norm1", WM_OP_LAYERNORM, WM_ROWS_IMAGE, Di, 2 * Di));
    int32_t ff = wm_b_node(b, ie, "ff", WM_OP_MODULE, WM_CAT_NONE);
    int32_t net0 = wm_b_node(b, ff, "net.0", WM_OP_MODULE, WM_CAT_NONE);
    wm_b_linear(b, net0, "proj", WM_CAT_COND_EMBED, WM_ROWS_IMAGE, Di, Di, true); /* 2·B·Li·Di² */
    /* exact (erf) GELU, costed like the tanh one in mode full */
    wm_b_elementwise(b, net0, "#gelu", WM_OP_GELU_TANH, WM_ROWS_IMAGE, Di, 0);
    wm_b_linear(b, ff, "net.2", WM_CAT_COND_EMBED, WM_ROWS_IMAGE, Di, d, true);   /* 2·B·Li·Di·d */
    set_fp32(b, wm_b_elementwise(b, ie, "norm2", WM_OP_LAYERNORM, WM_ROWS_IMAGE, d, 2 * d));
}

/* One transformer: WanTransformer3DModel.forward or WanVACETransformer3DModel.forward. */
static void transformer(wm_builder *b, const char *id, wm_stage stage, const wm_model_config *c)
{
    const uint64_t d = inner_dim(c);
    const uint64_t P = c->patch_size[0] * c->patch_size[1] * c->patch_size[2];
    const size_t K = c->vace_layers_count;
    const wm_rows tr = time_rows(c);

    int32_t root = wm_b_root(b, id, stage);
    wm_node *r = wm_b_at(b, root);
    if (r) {
        r->params = 2 * d; /* scale_shift_table (1, 2, d) */
        r->fp32_params = true;
    }
    /* 1. patch embedding: Conv3d(Cin -> d, kernel = stride = patch), one output per token:
     * aten.convolution 2·B·L·d·Cin·P */
    wm_b_conv3d(b, root, "patch_embedding", WM_CAT_PATCH_EMBED, WM_ROWS_VIDEO, c->in_channels, d,
                c->patch_size);
    /* VACE: the control latents [B,Cv,T,h,w] the same way: 2·B·L·d·Cv·P */
    if (K)
        wm_b_conv3d(b, root, "vace_patch_embedding", WM_CAT_PATCH_EMBED, WM_ROWS_VIDEO,
                    c->vace_in_channels, d, c->patch_size);

    /* 2. condition embedder */
    condition_embedder(b, root, c);

    /* 3. VACE: every control block first (each returns a hint); 4. the transformer blocks,
     * each block listed in vace_layers followed by the next hint's add (the forward pops the
     * hints in vace_blocks order) */
    for (size_t k = 0; k < K; k++)
        block(b, root, "vace_blocks.%llu", k, c, k == 0 ? BLOCK_VACE_FIRST : BLOCK_VACE);
    size_t hints = 0;
    for (uint64_t i = 0; i < c->num_layers; i++) {
        block(b, root, "blocks.%llu", i, c, BLOCK_MAIN);
        bool vace_layer = false;
        for (size_t k = 0; k < K; k++)
            vace_layer |= c->vace_layers[k] == i;
        if (vace_layer) {
            /* the next hint in vace_blocks order: hidden_states + control_hint * scale, [B,L,d] */
            char name[32];
            snprintf(name, sizeof name, "#vace_hint_%zu", hints++);
            wm_b_elementwise(b, root, name, WM_OP_GATED_ADD, WM_ROWS_VIDEO, d, 0);
        }
    }

    /* 5. output norm, modulation ([B,2,d], or [B,L,2,d] per token) and projection */
    wm_b_elementwise(b, root, "#ada_table", WM_OP_ADD, tr, 2 * d, 0);
    wm_b_elementwise(b, root, "norm_out", WM_OP_LAYERNORM, WM_ROWS_VIDEO, d, 0);
    wm_b_elementwise(b, root, "#norm_out_modulate", WM_OP_MODULATE, WM_ROWS_VIDEO, d, 0);
    /* addmm 2·B·L·d·Cout·P */
    wm_b_linear(b, root, "proj_out", WM_CAT_HEAD, WM_ROWS_VIDEO, d, c->out_channels * P, true);
}

wm_status wm_build_wan_dit(wm_builder *b, const wm_model_config *c)
{
    transformer(b, "transformer", WM_STAGE_TRANSFORMER, c);
    /* Wan2.2 A14B: the low-noise expert, a second model with the same config */
    if (c->pipeline.boundary_ratio > 0.0)
        transformer(b, "transformer_2", WM_STAGE_TRANSFORMER_2, c);
    return b->status;
}

/* ---- closed forms (docs/formulas.md), a second formulation the tree is checked against --- */

/* Product of n uint64_t factors; clears *ok on overflow. */
static uint64_t prod(bool *ok, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    uint64_t r = 1;
    for (int i = 0; i < n; i++)
        if (!wm_mul(r, va_arg(ap, uint64_t), &r))
            *ok = false;
    va_end(ap);
    return r;
}

/* Sum of n uint64_t terms; clears *ok on overflow. */
static uint64_t sum(bool *ok, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    uint64_t r = 0;
    for (int i = 0; i < n; i++)
        if (!wm_add(r, va_arg(ap, uint64_t), &r))
            *ok = false;
    va_end(ap);
    return r;
}

wm_status wm_wan_dit_closed_form(const wm_model_config *c, const wm_workload *w,
                                 const wm_geometry *g, uint64_t *flops, uint64_t *params,
                                 wm_error *err)
{
    bool ok = true;
    const bool attn = w->mode != WM_MODE_TORCH_CPU;
    const uint64_t B = w->batch_size, L = g->dit_seq_len, Lt = w->text_len;
    const uint64_t d = inner_dim(c), F = c->ffn_dim;
    const uint64_t N = c->num_layers, fd = c->freq_dim, Dt = c->text_dim;
    const uint64_t P = c->patch_size[0] * c->patch_size[1] * c->patch_size[2];
    const uint64_t Cin = c->in_channels, Cout = c->out_channels, Cv = c->vace_in_channels;
    const uint64_t Di = c->image_dim, Dkv = c->added_kv_proj_dim, K = c->vace_layers_count;
    const uint64_t Li = Di ? (c->pos_embed_seq_len ? c->pos_embed_seq_len : WM_IMAGE_TOKENS) : 0;
    const uint64_t Ltau = per_token_time(c) ? L : 1;
    const uint64_t dd = d * d; /* bounded by validation: d <= 2^24 */

    /* per block: B(12 L d² + 4 Lt d² + 4 L d F)  [linears]  +  B(4 L² d + 4 L Lt d)  [cores]
     *   I2V: + 4 B Li Dkv d  [add_k_proj, add_v_proj]  +  4 B L Li d  [#sdpa_img] */
    uint64_t blk = sum(&ok, 3, prod(&ok, 4, 12ull, B, L, dd), prod(&ok, 4, 4ull, B, Lt, dd),
                       prod(&ok, 5, 4ull, B, L, d, F));
    blk = sum(&ok, 2, blk, prod(&ok, 5, 4ull, B, Li, Dkv, d));
    if (attn)
        blk = sum(&ok, 4, blk, prod(&ok, 5, 4ull, B, L, L, d), prod(&ok, 5, 4ull, B, L, Lt, d),
                  prod(&ok, 5, 4ull, B, L, Li, d));
    /* top: 2 B L d Cin P [conv] + 2 B Lτ (fd d + 7 d²) [time] + 2 B Lt (Dt d + d²) [text]
     *   + 2 B L d Cout P [proj_out];  I2V: + 2 B Li (Di² + Di d) [image embedder] */
    uint64_t top = sum(&ok, 5, prod(&ok, 6, 2ull, B, L, d, Cin, P),
                       prod(&ok, 4, 2ull, B, Ltau, sum(&ok, 2, fd * d, 7 * dd)),
                       prod(&ok, 4, 2ull, B, Lt, sum(&ok, 2, Dt * d, dd)),
                       prod(&ok, 6, 2ull, B, L, d, Cout, P),
                       prod(&ok, 4, 2ull, B, Li, sum(&ok, 2, Di * Di, Di * d)));
    /* VACE: 2 B L d Cv P [vace_patch_embedding] + K (block + 2 B L d² [proj_out])
     *   + 2 B L d² [proj_in of vace_blocks.0] */
    uint64_t vace = 0;
    if (K)
        vace = sum(&ok, 3, prod(&ok, 6, 2ull, B, L, d, Cv, P),
                   prod(&ok, 2, K, sum(&ok, 2, blk, prod(&ok, 4, 2ull, B, L, dd))),
                   prod(&ok, 4, 2ull, B, L, dd));
    *flops = sum(&ok, 3, top, prod(&ok, 2, N, blk), vace);

    /* params per block: 8(d² + d) [8 linears] + 4d [norm_q/norm_k x2] + 2d [norm2, affine]
     * + 2dF + F + d [ffn] + 6d [scale_shift_table]
     *   I2V: + 2(Dkv d + d) [add_k_proj, add_v_proj] + d [norm_added_k] */
    uint64_t pb = 8 * (dd + d) + 4 * d + (c->cross_attn_norm ? 2 * d : 0) + 2 * d * F + F + d +
                  6 * d + (Di ? 2 * (Dkv * d + d) + d : 0);
    /* top: conv Cin d P + d; time embedder fd d + d + d² + d; time_proj 6d² + 6d;
     * text embedder Dt d + d + d² + d; proj_out d Cout P + Cout P; scale_shift_table 2d;
     * I2V image embedder: norm1 2Di, ff Di² + Di + Di d + d, norm2 2d, FLF2V pos_embed 514 Di;
     * VACE: vace_patch_embedding Cv d P + d, K blocks + K proj_out (d² + d) + proj_in d² + d */
    uint64_t pt = Cin * d * P + d + fd * d + d + dd + d + 6 * dd + 6 * d + Dt * d + d + dd + d +
                  d * Cout * P + Cout * P + 2 * d;
    if (Di)
        pt += 2 * Di + Di * Di + Di + Di * d + d + 2 * d + c->pos_embed_seq_len * Di;
    if (K)
        pt = sum(&ok, 3, pt, Cv * d * P + d,
                 prod(&ok, 2, K + 1, dd + d));
    *params = sum(&ok, 3, pt, prod(&ok, 2, N, pb), prod(&ok, 2, K, pb));
    if (!ok)
        return wm_error_set(err, WM_E_OVERFLOW, "closed form", "use a smaller workload",
                            "the closed-form count overflows");
    return WM_OK;
}

/* ---- the Wan2.2 A14B expert split ---------------------------------------------------------- */

/* diffusers' UniPCMultistepScheduler.set_timesteps with the Wan scheduler config
 * (use_flow_sigmas, timestep_spacing linspace, no dynamic shifting, no shift_terminal,
 * final_sigmas_type zero), reproduced operation by operation in doubles:
 *   sigmas    = np.linspace(1, 1/N, steps + 1)[:-1]     numpy: i * ((1/N - 1) / steps) + 1
 *   sigmas    = shift * sigmas / (1 + (shift - 1) * sigmas)
 *   sigmas[0] -= 1e-6 if |sigmas[0] - 1| < 1e-6          (it is: shift / shift = 1)
 *   timesteps = (sigmas * N) -> torch int64              (truncation toward zero)
 * and the pipelines' `t >= boundary_timestep` with boundary_timestep = boundary_ratio * N a
 * Python float: an int64 tensor against a float scalar compares in the default dtype, float32.
 * C11 (-std=c11) contracts no a*b+c into an FMA, so every operation rounds as numpy's does. */
wm_status wm_expert_high_steps(const wm_model_config *c, uint64_t steps, uint64_t *high,
                               wm_error *err)
{
    const wm_pipeline_config *p = &c->pipeline;
    *high = 0;
    if (!(p->flow_shift > 0.0) || !isfinite(p->flow_shift))
        return wm_error_set(err, WM_E_INPUT, "pipeline.flow_shift",
                            "set the scheduler's flow_shift, e.g. 3.0",
                            "must be a positive number for the expert split");
    if (p->num_train_timesteps == 0 || steps == 0)
        return wm_error_set(err, WM_E_INPUT, steps ? "pipeline.num_train_timesteps" : "steps",
                            "use a whole number >= 1", "must be >= 1");
    const double N = (double)p->num_train_timesteps, shift = p->flow_shift;
    const double start = 1.0, stop = 1.0 / N;
    const double delta = stop - start, step = delta / (double)steps;
    const float boundary = (float)(p->boundary_ratio * N);
    uint64_t n = 0;
    for (uint64_t i = 0; i < steps; i++) {
        double y = (double)i * step;
        double s = y + start;
        double num = shift * s, den = (shift - 1.0) * s;
        den = 1.0 + den;
        s = num / den;
        if (i == 0 && fabs(s - 1.0) < 1e-6)
            s -= 1e-6;
        const double t = s * N;
        const int64_t ti = (int64_t)t; /* t in (0, N]: exact truncation */
        if ((float)ti >= boundary)
            n++;
    }
    *high = n;
    return WM_OK;
}
