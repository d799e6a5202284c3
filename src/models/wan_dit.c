/*
 * wan_dit.c — the layer tree of diffusers' WanTransformer3DModel forward
 * (diffusers/models/transformers/transformer_wan.py, diffusers 0.42.1), in the order the
 * forward runs it. Ids are the module paths in the diffusers pipeline: the transformer is the
 * pipeline's `transformer`, so FlopCounterMode's `WanTransformer3DModel.blocks.3.attn1.to_q`
 * is `transformer.blocks.3.attn1.to_q` here.
 *
 * Legend: B batch, L video tokens, Lt text tokens, d = heads * head_dim (inner dim),
 * F ffn_dim, fd freq_dim, Dt text_dim, Cin/Cout channels, P = pt*ph*pw.
 *
 * Functional ops (no nn.Module of their own) get '#' ids under the module whose forward runs
 * them: `#sdpa` (the attention core, F.scaled_dot_product_attention), `#rope` (rotary
 * embedding of q and k), `#ada_table` (scale_shift_table + temb), `#norm1_modulate`,
 * `#norm3_modulate`, `#norm_out_modulate` (x * (1 + scale) + shift), `#attn1_residual`,
 * `#ffn_residual` (x + y * gate), `#attn2_residual` (x + y), `#gelu_tanh` (inside ffn.net.0).
 * Only `#sdpa` does work FlopCounterMode counts; the others count in `full` mode.
 *
 * Parameters kept in fp32 by diffusers (_keep_in_fp32_modules: time_embedder,
 * scale_shift_table, norm1, norm2, norm3) are flagged `fp32_params`.
 */
#include <stdarg.h>

#include "../checked.h"
#include "../model_internal.h"

/* WanAttention: to_q/to_k/to_v, norm_q/norm_k (RMSNorm over all heads), [rope], core, to_out.0.
 * Self-attention when kv == WM_ROWS_VIDEO (with rope), cross-attention on text otherwise. */
static void attention(wm_builder *b, int32_t block, const char *name, const wm_model_config *c,
                      wm_rows kv)
{
    const uint64_t d = c->num_attention_heads * c->attention_head_dim;
    int32_t a = wm_b_node(b, block, name, WM_OP_MODULE, WM_CAT_NONE);
    wm_b_linear(b, a, "to_q", WM_CAT_ATTN_PROJ, WM_ROWS_VIDEO, d, d, true); /* [B,L,d]x[d,d] */
    wm_b_linear(b, a, "to_k", WM_CAT_ATTN_PROJ, kv, d, d, true);            /* [B,Lk,d]x[d,d] */
    wm_b_linear(b, a, "to_v", WM_CAT_ATTN_PROJ, kv, d, d, true);            /* [B,Lk,d]x[d,d] */
    wm_b_elementwise(b, a, "norm_q", WM_OP_RMSNORM, WM_ROWS_VIDEO, d, d);   /* [B,L,d] */
    wm_b_elementwise(b, a, "norm_k", WM_OP_RMSNORM, kv, d, d);              /* [B,Lk,d] */
    if (kv == WM_ROWS_VIDEO)
        wm_b_elementwise(b, a, "#rope", WM_OP_ROPE, WM_ROWS_VIDEO, 2 * d, 0); /* q and k */
    wm_b_sdpa(b, a, "#sdpa", WM_ROWS_VIDEO, kv, c->num_attention_heads,
              c->attention_head_dim);                                      /* [B,H,L,hd] */
    wm_b_linear(b, a, "to_out.0", WM_CAT_ATTN_PROJ, WM_ROWS_VIDEO, d, d, true);
}

/* WanTransformerBlock.forward */
static void block(wm_builder *b, int32_t root, uint64_t i, const wm_model_config *c)
{
    const uint64_t d = c->num_attention_heads * c->attention_head_dim, F = c->ffn_dim;
    int32_t blk = wm_b_nodef(b, root, WM_OP_MODULE, WM_CAT_NONE, "blocks.%llu", (unsigned long long)i);
    wm_node *nd = wm_b_at(b, blk);
    if (nd) {
        nd->params = 6 * d; /* scale_shift_table (1, 6, d) */
        nd->fp32_params = true;
    }
    wm_b_elementwise(b, blk, "#ada_table", WM_OP_ADD, WM_ROWS_ONE, 6 * d, 0);
    /* 1. self-attention */
    int32_t n1 = wm_b_elementwise(b, blk, "norm1", WM_OP_LAYERNORM, WM_ROWS_VIDEO, d, 0);
    wm_b_elementwise(b, blk, "#norm1_modulate", WM_OP_MODULATE, WM_ROWS_VIDEO, d, 0);
    attention(b, blk, "attn1", c, WM_ROWS_VIDEO);
    wm_b_elementwise(b, blk, "#attn1_residual", WM_OP_GATED_ADD, WM_ROWS_VIDEO, d, 0);
    /* 2. cross-attention on the text */
    int32_t n2 = -1;
    if (c->cross_attn_norm)
        n2 = wm_b_elementwise(b, blk, "norm2", WM_OP_LAYERNORM, WM_ROWS_VIDEO, d, 2 * d);
    attention(b, blk, "attn2", c, WM_ROWS_TEXT);
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
    int32_t fp32[3] = {n1, n2, n3};
    for (int k = 0; k < 3; k++)
        if (fp32[k] >= 0)
            wm_b_at(b, fp32[k])->fp32_params = true;
}

wm_status wm_build_wan_dit(wm_builder *b, const wm_model_config *c)
{
    const uint64_t d = c->num_attention_heads * c->attention_head_dim;
    const uint64_t fd = c->freq_dim, P = c->patch_size[0] * c->patch_size[1] * c->patch_size[2];

    int32_t root = wm_b_root(b, "transformer", WM_STAGE_TRANSFORMER);
    wm_node *r = wm_b_at(b, root);
    if (r) {
        r->params = 2 * d; /* scale_shift_table (1, 2, d) */
        r->fp32_params = true;
    }
    /* 1. patch embedding: Conv3d(Cin -> d, kernel = stride = patch), one output per token */
    wm_b_conv3d(b, root, "patch_embedding", WM_CAT_PATCH_EMBED, WM_ROWS_VIDEO, c->in_channels, d,
                c->patch_size);

    /* 2. condition embedder: timestep -> temb -> 6d modulation; text -> d */
    int32_t ce = wm_b_node(b, root, "condition_embedder", WM_OP_MODULE, WM_CAT_NONE);
    wm_b_elementwise(b, ce, "timesteps_proj", WM_OP_SINUSOID, WM_ROWS_ONE, fd, 0);
    int32_t te = wm_b_node(b, ce, "time_embedder", WM_OP_MODULE, WM_CAT_NONE);
    int32_t te1 = wm_b_linear(b, te, "linear_1", WM_CAT_COND_EMBED, WM_ROWS_ONE, fd, d, true);
    int32_t tea = wm_b_elementwise(b, te, "act", WM_OP_SILU, WM_ROWS_ONE, d, 0);
    int32_t te2 = wm_b_linear(b, te, "linear_2", WM_CAT_COND_EMBED, WM_ROWS_ONE, d, d, true);
    int32_t tfp32[3] = {te1, tea, te2};
    for (int k = 0; k < 3; k++)
        if (tfp32[k] >= 0)
            wm_b_at(b, tfp32[k])->fp32_params = true;
    wm_b_elementwise(b, ce, "act_fn", WM_OP_SILU, WM_ROWS_ONE, d, 0);
    wm_b_linear(b, ce, "time_proj", WM_CAT_COND_EMBED, WM_ROWS_ONE, d, 6 * d, true);
    int32_t tx = wm_b_node(b, ce, "text_embedder", WM_OP_MODULE, WM_CAT_NONE);
    wm_b_linear(b, tx, "linear_1", WM_CAT_COND_EMBED, WM_ROWS_TEXT, c->text_dim, d, true);
    wm_b_elementwise(b, tx, "act_1", WM_OP_GELU_TANH, WM_ROWS_TEXT, d, 0);
    wm_b_linear(b, tx, "linear_2", WM_CAT_COND_EMBED, WM_ROWS_TEXT, d, d, true);

    /* 3. transformer blocks */
    for (uint64_t i = 0; i < c->num_layers; i++)
        block(b, root, i, c);

    /* 4. output norm, modulation and projection */
    wm_b_elementwise(b, root, "#ada_table", WM_OP_ADD, WM_ROWS_ONE, 2 * d, 0);
    wm_b_elementwise(b, root, "norm_out", WM_OP_LAYERNORM, WM_ROWS_VIDEO, d, 0);
    wm_b_elementwise(b, root, "#norm_out_modulate", WM_OP_MODULATE, WM_ROWS_VIDEO, d, 0);
    wm_b_linear(b, root, "proj_out", WM_CAT_HEAD, WM_ROWS_VIDEO, d, c->out_channels * P, true);
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

static uint64_t sum(bool *ok, uint64_t a, uint64_t b)
{
    uint64_t r = 0;
    if (!wm_add(a, b, &r))
        *ok = false;
    return r;
}

wm_status wm_wan_dit_closed_form(const wm_model_config *c, const wm_workload *w,
                                 const wm_geometry *g, uint64_t *flops, uint64_t *params,
                                 wm_error *err)
{
    bool ok = true;
    const uint64_t B = w->batch_size, L = g->dit_seq_len, Lt = w->text_len;
    const uint64_t d = c->num_attention_heads * c->attention_head_dim, F = c->ffn_dim;
    const uint64_t N = c->num_layers, fd = c->freq_dim, Dt = c->text_dim;
    const uint64_t P = c->patch_size[0] * c->patch_size[1] * c->patch_size[2];
    const uint64_t Cin = c->in_channels, Cout = c->out_channels;

    /* per block: B(12 L d^2 + 4 Lt d^2 + 4 L d F)  [linears]  +  B(4 L^2 d + 4 L Lt d)  [sdpa] */
    uint64_t blk = sum(&ok, sum(&ok, prod(&ok, 4, 12ull, B, L, d * d), prod(&ok, 4, 4ull, B, Lt, d * d)),
                       prod(&ok, 5, 4ull, B, L, d, F));
    if (w->mode != WM_MODE_TORCH_CPU)
        blk = sum(&ok, blk, sum(&ok, prod(&ok, 5, 4ull, B, L, L, d), prod(&ok, 5, 4ull, B, L, Lt, d)));
    /* top: 2BL d Cin P [conv] + 2B(fd d + 7 d^2) + 2B Lt(Dt d + d^2) + 2BL d Cout P */
    uint64_t top = prod(&ok, 6, 2ull, B, L, d, Cin, P);
    top = sum(&ok, top, prod(&ok, 3, 2ull, B, sum(&ok, fd * d, 7 * d * d)));
    top = sum(&ok, top, prod(&ok, 4, 2ull, B, Lt, sum(&ok, Dt * d, d * d)));
    top = sum(&ok, top, prod(&ok, 6, 2ull, B, L, d, Cout, P));
    *flops = sum(&ok, top, prod(&ok, 2, N, blk));

    /* params per block: 8(d^2 + d) [8 linears] + 4d [norm_q/norm_k x2] + 2d [norm2, affine]
     * + 2dF + F + d [ffn] + 6d [scale_shift_table] */
    uint64_t pb = 8 * (d * d + d) + 4 * d + (c->cross_attn_norm ? 2 * d : 0) + 2 * d * F + F + d + 6 * d;
    /* top: conv Cin d P + d; time embedder fd d + d + d^2 + d; time_proj 6d^2 + 6d;
     * text embedder Dt d + d + d^2 + d; proj_out d Cout P + Cout P; scale_shift_table 2d */
    uint64_t pt = Cin * d * P + d + fd * d + d + d * d + d + 6 * d * d + 6 * d + Dt * d + d +
                  d * d + d + d * Cout * P + Cout * P + 2 * d;
    *params = sum(&ok, pt, prod(&ok, 2, N, pb));
    if (!ok)
        return wm_error_set(err, WM_E_OVERFLOW, "closed form", "use a smaller workload",
                            "the closed-form count overflows");
    return WM_OK;
}

wm_status wm_expert_high_steps(const wm_model_config *c, uint64_t steps, uint64_t *high,
                               wm_error *err)
{
    (void)steps;
    *high = 0;
    return wm_error_set(err, WM_E_INPUT, "pipeline.boundary_ratio",
                        "set it to 0: two-expert (Wan2.2 A14B) pipelines are not modelled yet",
                        "%g asks for a second transformer", c->pipeline.boundary_ratio);
}
