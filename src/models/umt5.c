/*
 * umt5.c — the layer tree of transformers' UMT5EncoderModel forward (transformers 5.23.0,
 * models/umt5/modeling_umt5.py), the umT5-XXL text encoder every Wan pipeline runs on the
 * prompt and, under classifier-free guidance, on the negative prompt (WanPipeline.encode_prompt:
 * two calls of batch B, each padded to max_sequence_length = the workload's text_len). Ids are
 * the pipeline's module paths: FlopCounterMode's `UMT5EncoderModel.encoder.block.3.layer.0.
 * SelfAttention.q` is `text_encoder.encoder.block.3.layer.0.SelfAttention.q` here.
 *
 * Legend: B batch, Lt text tokens (rows TEXT = B * Lt), d d_model, H num_heads, dk d_kv
 * (inner = H * dk), Ff d_ff, V vocab_size, nb relative_attention_num_buckets, N num_layers.
 *
 * Shape comments end in what FlopCounterMode records: mm (aten.mm), bmm, 0 (nothing).
 *
 * What FlopCounterMode counts (measured with torch 2.13.0 + transformers 5.23.0, eval mode):
 *   - q, k, v, o, wi_0, wi_1, wo: nn.Linear without bias -> aten.mm, 2 * B * Lt * in * out.
 *   - the attention core: transformers 5 runs umT5 through its "sdpa" attention interface
 *     (UMT5PreTrainedModel._supports_sdpa; the position bias becomes SDPA's additive float
 *     mask, scale 1.0). On meta the math path gives two aten.bmm, 4 * B * H * Lt^2 * dk; on
 *     the CPU (dropout 0 in eval mode) the fused flash kernel counts 0. So it is an ordinary
 *     SDPA node (explicit_matmul off), filed under `SelfAttention`. (In training mode dropout
 *     0.1 pushes the CPU onto the math path and bmm appears; the pipelines run in eval mode.)
 *   - everything else counts 0: the token embedding and every layer's relative position bias
 *     (nn.Embedding lookups), the T5 RMS norms, gelu_new, the gate multiply, residual adds.
 *
 * --impl official (wan/modules/t5.py, same shapes and parameters): the attention core is two
 * torch.einsum calls -> aten.bmm on every device, so `#sdpa` is explicit_matmul there and counts
 * in mode torch-cpu too; its weights are all bf16 (no fp32 `wo`). (report.c pads the text to
 * 512 tokens for it.)
 *
 * Per layer (torch mode): 2*B*Lt*(4*d*inner + 3*d*Ff) + 4*B*H*Lt^2*dk; umT5-XXL (d 4096,
 * inner 4096, Ff 10240, H 64, dk 64): 385,875,968*B*Lt + 16,384*B*Lt^2.
 *
 * Parameters follow UMT5EncoderModel.parameters(): `shared` and `encoder.embed_tokens` are one
 * tied tensor (_tied_weights_keys), counted once, on `encoder.embed_tokens` (the module the
 * forward runs); every layer owns its relative_attention_bias (nb x H). `wo` is kept in fp32
 * by transformers (_keep_in_fp32_modules = ["wo"]): flagged fp32_params.
 *
 * Functional ops ('#' ids, full mode only): `#sdpa` (the attention core), `#residual` (x + y
 * after each sub-layer), `#gate_mul` (gelu(wi_0 x) * wi_1 x, costed like an add: 1 per
 * element). Not modelled even in full mode: the position-bias mask (torch.where over
 * B*H*Lt^2 scores), the fp16-only clamps.
 */
#include <stdio.h>
#include <string.h>

#include "../checked.h"
#include "../model_internal.h"

static wm_status bad_field(wm_builder *b, const char *field, const char *why)
{
    char what[96];
    snprintf(what, sizeof what, "text_encoder.%s", field);
    b->status = wm_error_set(b->err, WM_E_INPUT, what,
                             "use the snapshot's text_encoder/config.json (umT5-XXL)", "%s", why);
    return b->status;
}

/* UMT5LayerSelfAttention: layer_norm, SelfAttention (q, k, v, relative bias, core, o), residual. */
static void self_attention_layer(wm_builder *b, int32_t blk, const wm_text_encoder_config *t,
                                 uint64_t inner, bool official)
{
    const uint64_t d = t->d_model;
    const wm_rows R = WM_ROWS_TEXT;
    const wm_category A = WM_CAT_ATTN_PROJ;
    int32_t l0 = wm_b_node(b, blk, "layer.0", WM_OP_MODULE, WM_CAT_NONE);
    wm_b_elementwise(b, l0, "layer_norm", WM_OP_RMSNORM, R, d, d);         /* [B,Lt,d] 0 */
    int32_t sa = wm_b_node(b, l0, "SelfAttention", WM_OP_MODULE, WM_CAT_NONE);
    wm_b_linear(b, sa, "q", A, R, d, inner, false);                         /* [B,Lt,d]x[d,inner] mm */
    wm_b_linear(b, sa, "k", A, R, d, inner, false);                         /* [B,Lt,d]x[d,inner] mm */
    wm_b_linear(b, sa, "v", A, R, d, inner, false);                         /* [B,Lt,d]x[d,inner] mm */
    /* compute_bias: Embedding(nb, H) looked up at [Lt, Lt] bucket ids -> [1,H,Lt,Lt]: 0 */
    int32_t rb = wm_b_node(b, sa, "relative_attention_bias", WM_OP_MODULE, WM_CAT_NONE);
    if (rb >= 0 && !wm_mul(t->relative_attention_num_buckets, t->num_heads, &wm_b_at(b, rb)->params))
        bad_field(b, "relative_attention_num_buckets", "the bias table size overflows");
    int32_t core = wm_b_sdpa(b, sa, "#sdpa", R, R, t->num_heads, t->d_kv); /* [B,H,Lt,dk] */
    if (core >= 0) /* bmm on meta, 0 on the CPU; official: two einsums, bmm on every device */
        wm_b_at(b, core)->explicit_matmul = official;
    wm_b_linear(b, sa, "o", A, R, inner, d, false);                         /* [B,Lt,inner]x[inner,d] mm */
    wm_b_elementwise(b, l0, "#residual", WM_OP_ADD, R, d, 0);              /* [B,Lt,d] 0 */
}

/* UMT5LayerFF: layer_norm, DenseReluDense (gated: wi_0, act, wi_1, gate; else wi, act), wo,
 * residual. act: gelu_new (tanh) for gated-gelu, exact gelu for gelu; both costed as gelu_tanh. */
static void feed_forward_layer(wm_builder *b, int32_t blk, const wm_text_encoder_config *t,
                               bool gated, bool official)
{
    const uint64_t d = t->d_model, F = t->d_ff;
    const wm_rows R = WM_ROWS_TEXT;
    const wm_category M = WM_CAT_MLP;
    int32_t l1 = wm_b_node(b, blk, "layer.1", WM_OP_MODULE, WM_CAT_NONE);
    wm_b_elementwise(b, l1, "layer_norm", WM_OP_RMSNORM, R, d, d);         /* [B,Lt,d] 0 */
    int32_t ff = wm_b_node(b, l1, "DenseReluDense", WM_OP_MODULE, WM_CAT_NONE);
    if (gated) {
        wm_b_linear(b, ff, "wi_0", M, R, d, F, false);                      /* [B,Lt,d]x[d,Ff] mm */
        wm_b_elementwise(b, ff, "act", WM_OP_GELU_TANH, R, F, 0);          /* [B,Lt,Ff] 0 */
        wm_b_linear(b, ff, "wi_1", M, R, d, F, false);                      /* [B,Lt,d]x[d,Ff] mm */
        wm_b_elementwise(b, ff, "#gate_mul", WM_OP_ADD, R, F, 0);          /* [B,Lt,Ff] 0 */
    } else {
        wm_b_linear(b, ff, "wi", M, R, d, F, false);                        /* [B,Lt,d]x[d,Ff] mm */
        wm_b_elementwise(b, ff, "act", WM_OP_GELU_TANH, R, F, 0);          /* [B,Lt,Ff] 0 */
    }
    int32_t wo = wm_b_linear(b, ff, "wo", M, R, F, d, false);               /* [B,Lt,Ff]x[Ff,d] mm */
    if (wo >= 0) /* transformers: _keep_in_fp32_modules = ["wo"]; the official T5 is all bf16 */
        wm_b_at(b, wo)->fp32_params = !official;
    wm_b_elementwise(b, l1, "#residual", WM_OP_ADD, R, d, 0);              /* [B,Lt,d] 0 */
}

wm_status wm_build_umt5(wm_builder *b, const wm_model_config *cfg)
{
    const wm_text_encoder_config *t = &cfg->text_encoder;
    if (b->status != WM_OK)
        return b->status;
    if (strcmp(t->class_name, "UMT5EncoderModel") != 0)
        return bad_field(b, "_class_name", "only UMT5EncoderModel is modelled");
    const struct {
        const char *name;
        uint64_t v;
    } need[] = {{"d_model", t->d_model},     {"d_kv", t->d_kv},
                {"num_heads", t->num_heads}, {"d_ff", t->d_ff},
                {"vocab_size", t->vocab_size},
                {"relative_attention_num_buckets", t->relative_attention_num_buckets}};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (need[i].v == 0)
            return bad_field(b, need[i].name, "must be >= 1");
    uint64_t inner = 0;
    if (!wm_mul(t->num_heads, t->d_kv, &inner))
        return bad_field(b, "d_kv", "num_heads * d_kv overflows");
    /* UMT5Config: "gated-gelu" -> wi_0/wi_1 with gelu_new; "gelu" -> wi with gelu */
    bool gated;
    if (strcmp(t->feed_forward_proj, "gated-gelu") == 0)
        gated = true;
    else if (strcmp(t->feed_forward_proj, "gelu") == 0)
        gated = false;
    else
        return bad_field(b, "feed_forward_proj", "only gated-gelu (umT5) and gelu are modelled");

    const bool official = cfg->impl == WM_IMPL_OFFICIAL;
    int32_t root = wm_b_root(b, "text_encoder", WM_STAGE_TEXT_ENCODER);   /* UMT5EncoderModel */
    int32_t enc = wm_b_node(b, root, "encoder", WM_OP_MODULE, WM_CAT_NONE); /* UMT5Stack */
    /* embed_tokens = shared (tied): Embedding(V, d) gathers [B,Lt] ids -> [B,Lt,d]; 0 FLOPs */
    int32_t emb = wm_b_node(b, enc, "embed_tokens", WM_OP_MODULE, WM_CAT_NONE);
    if (emb >= 0 && !wm_mul(t->vocab_size, t->d_model, &wm_b_at(b, emb)->params))
        return bad_field(b, "vocab_size", "the embedding size overflows");
    for (uint64_t i = 0; i < t->num_layers && b->status == WM_OK; i++) {
        int32_t blk = wm_b_nodef(b, enc, WM_OP_MODULE, WM_CAT_NONE, "block.%llu",
                                 (unsigned long long)i);                   /* UMT5Block */
        self_attention_layer(b, blk, t, inner, official);
        feed_forward_layer(b, blk, t, gated, official);
    }
    wm_b_elementwise(b, enc, "final_layer_norm", WM_OP_RMSNORM, WM_ROWS_TEXT, t->d_model,
                     t->d_model);                                          /* [B,Lt,d] */
    return b->status;
}
