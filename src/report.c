/*
 * report.c — evaluation of a layer tree for one workload: per-node FLOPs, parameters and bytes,
 * children summed into parents, and the end-to-end totals.
 *
 * Cost of one call of each op kind (B batch; M = B * rows; e bytes per activation element,
 * we bytes per weight element):
 *   linear     matrix 2*M*k*n                                   FlopCounterMode: aten.addmm
 *              (the bias add is free in FlopCounterMode's convention)
 *              read M*k*e + (k*n + n)*we, write M*n*e
 *   conv3d     matrix 2*M*prod(kernel)*Cin*Cout (M = output positions)  aten.convolution
 *              read M*prod(kernel)*Cin*e + params*we, write M*Cout*e
 *   sdpa       matrix 4*B*Lq*Lk*(H*hd) = 2*B*H*Lq*Lk*hd (QK^T) + 2*B*H*Lq*Lk*hd (PV)
 *              counted as two aten.bmm on meta (math path), as the flash/efficient SDPA op on
 *              CUDA, and NOT at all on the CPU in torch 2.13.0 (mode torch-cpu: 0);
 *              vector (full mode) 5 per score: scale, max-subtract, exp, sum, divide;
 *              read (Q + K + V) e, write O e: flash-style, the score matrix never materialised
 *   elementwise  vector = per-element cost * M * width (full mode only; FlopCounterMode: 0)
 *              read M*width*e (twice for binary ops) + params*we, write M*width*e
 * Per-element costs (docs/formulas.md): layernorm 5 (+2 with affine), rmsnorm 4, rope 3,
 * gelu_tanh 8, silu 4, sinusoid 3, modulate 2, gated_add 2, add 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checked.h"
#include "model_internal.h"

struct wm_report {
    const wm_model *m;
    wm_workload w;
    wm_geometry g;
    wm_counts *counts;
    wm_totals totals;
    char **notes;
    size_t nnotes, capnotes;
    bool official_names;
};

static uint64_t vector_cost(const wm_node *nd)
{
    switch (nd->op) {
    case WM_OP_LAYERNORM: return nd->params ? 7 : 5;
    case WM_OP_RMSNORM: return 4;
    case WM_OP_ROPE: return 3;
    case WM_OP_GELU_TANH: return 8;
    case WM_OP_SILU: return 4;
    case WM_OP_SINUSOID: return 3;
    case WM_OP_MODULATE: return 2;
    case WM_OP_GATED_ADD: return 2;
    case WM_OP_ADD: return 1;
    default: return 0;
    }
}

/* How many operand tensors of the node's full size an elementwise op reads. */
static uint64_t operands(const wm_node *nd)
{
    return nd->op == WM_OP_ADD || nd->op == WM_OP_GATED_ADD ? 2 : 1;
}

/* What a node's rows resolve to for one workload. */
typedef struct {
    uint64_t B;
    uint64_t len[WM_ROWS_COUNT]; /* per-sample lengths of the symbolic rows (ONE..IMAGE) */
    uint64_t T, h, w;            /* latent sizes, for WM_ROWS_GRID */
    wm_mode mode;
    uint64_t e;                  /* bytes per activation element */
} eval_ctx;

/* The row lengths of the report's current workload and geometry. */
static eval_ctx context(const wm_report *r)
{
    const wm_model_config *c = &r->m->cfg;
    return (eval_ctx){
        .B = r->w.batch_size,
        .len = {[WM_ROWS_ONE] = 1, [WM_ROWS_VIDEO] = r->g.dit_seq_len,
                [WM_ROWS_TEXT] = r->w.text_len,
                [WM_ROWS_IMAGE] = c->pos_embed_seq_len ? c->pos_embed_seq_len : WM_IMAGE_TOKENS},
        .T = r->g.latent_frames,
        .h = r->g.latent_height,
        .w = r->g.latent_width,
        .mode = r->w.mode,
        .e = wm_dtype_bytes(r->w.dtype),
    };
}

/* Batch and per-sample length of `rows` for node nd. A grid attention (per frame) moves the
 * frames into the batch. */
static bool resolve_rows(const wm_node *nd, wm_rows rows, const eval_ctx *x, uint64_t *batch,
                         uint64_t *len)
{
    if (!wm_mul(x->B, nd->batch_mul, batch))
        return false;
    switch (rows) {
    case WM_ROWS_FIXED:
        *len = nd->fixed_len;
        return true;
    case WM_ROWS_GRID: {
        int64_t t = (int64_t)nd->t_mul * (int64_t)x->T + nd->t_add;
        uint64_t frames = t > 0 ? (uint64_t)t : 0, hh = x->h * nd->hw_mul / nd->hw_div,
                 ww = x->w * nd->hw_mul / nd->hw_div, hw;
        if (!wm_mul(hh, ww, &hw))
            return false;
        if (nd->op == WM_OP_SDPA) {
            *len = hw;
            return wm_mul(*batch, frames, batch);
        }
        return wm_mul(frames, hw, len);
    }
    default:
        *len = x->len[rows];
        return true;
    }
}

/* The node's own work for one call. Returns false on overflow. */
static bool own_costs(const wm_node *nd, const eval_ctx *x, uint64_t we, wm_counts *c)
{
    const uint64_t e = x->e;
    uint64_t M = 0, t = 0, B = 0, len = 0;
    *c = (wm_counts){.params = nd->params};
    if (!resolve_rows(nd, nd->rows, x, &B, &len) || !wm_mul(B, len, &M) ||
        !wm_mul(nd->params, we, &c->weight_bytes))
        return false;
    switch (nd->op) {
    case WM_OP_MODULE:
        return wm_add(c->bytes_read, c->weight_bytes, &c->bytes_read);
    case WM_OP_LINEAR: {
        const uint64_t f[4] = {2, M, nd->k, nd->n};
        return wm_mul_n(&c->matrix_flops, 4, f) && wm_mul(M, nd->k, &t) && wm_mul(t, e, &t) &&
               wm_add(t, c->weight_bytes, &c->bytes_read) && wm_mul(M, nd->n, &t) &&
               wm_mul(t, e, &c->bytes_written);
    }
    case WM_OP_CONV3D: {
        const uint64_t f[7] = {2, M, nd->kernel[0], nd->kernel[1], nd->kernel[2], nd->k, nd->n};
        const uint64_t in[5] = {M, nd->kernel[0], nd->kernel[1], nd->kernel[2], nd->k};
        return wm_mul_n(&c->matrix_flops, 7, f) && wm_mul_n(&t, 5, in) && wm_mul(t, e, &t) &&
               wm_add(t, c->weight_bytes, &c->bytes_read) && wm_mul(M, nd->n, &t) &&
               wm_mul(t, e, &c->bytes_written);
    }
    case WM_OP_SDPA: {
        uint64_t kb = 0, lk = 0;
        const uint64_t lq = len, width = nd->k;
        if (!resolve_rows(nd, nd->kv_rows, x, &kb, &lk))
            return false;
        if (x->mode != WM_MODE_TORCH_CPU || nd->explicit_matmul) {
            const uint64_t f[5] = {4, B, lq, lk, width};
            if (!wm_mul_n(&c->matrix_flops, 5, f))
                return false;
        }
        if (x->mode == WM_MODE_FULL) {
            const uint64_t f[5] = {5, B, nd->heads, lq, lk};
            if (!wm_mul_n(&c->vector_flops, 5, f))
                return false;
        }
        uint64_t q = 0, kv = 0;
        const uint64_t fq[3] = {B, lq, width}, fk[4] = {2, B, lk, width};
        return wm_mul_n(&q, 3, fq) && wm_mul_n(&kv, 4, fk) && wm_add(q, kv, &t) &&
               wm_mul(t, e, &c->bytes_read) && wm_mul(q, e, &c->bytes_written);
    }
    default: { /* elementwise */
        uint64_t elems = 0;
        if (!wm_mul(M, nd->k, &elems))
            return false;
        if (x->mode == WM_MODE_FULL && !wm_mul(elems, vector_cost(nd), &c->vector_flops))
            return false;
        return wm_mul(elems, e, &t) && wm_mul(t, operands(nd), &c->bytes_read) &&
               wm_add(c->bytes_read, c->weight_bytes, &c->bytes_read) &&
               wm_mul(elems, e, &c->bytes_written);
    }
    }
}

/* Sums a child's counts into its parent (calls are per call site, not summed). */
static bool add_counts(wm_counts *dst, const wm_counts *src)
{
    return wm_add(dst->flops, src->flops, &dst->flops) &&
           wm_add(dst->matrix_flops, src->matrix_flops, &dst->matrix_flops) &&
           wm_add(dst->vector_flops, src->vector_flops, &dst->vector_flops) &&
           wm_add(dst->params, src->params, &dst->params) &&
           wm_add(dst->weight_bytes, src->weight_bytes, &dst->weight_bytes) &&
           wm_add(dst->bytes_read, src->bytes_read, &dst->bytes_read) &&
           wm_add(dst->bytes_written, src->bytes_written, &dst->bytes_written);
}

static wm_status overflow(const char *what, wm_error *err)
{
    return wm_error_set(err, WM_E_OVERFLOW, what,
                        "use a smaller batch, video or step count",
                        "the count exceeds %llu (2^63 - 1), the largest exact count wanmeter "
                        "reports",
                        (unsigned long long)WM_COUNT_MAX);
}

static wm_status validate_workload(const wm_workload *w, wm_error *err)
{
    static const char fix[] = "use a whole number >= 1";
    if (w->batch_size == 0)
        return wm_error_set(err, WM_E_INPUT, "batch", fix, "must be >= 1");
    if (w->num_inference_steps == 0)
        return wm_error_set(err, WM_E_INPUT, "steps", fix, "must be >= 1");
    if (w->text_len == 0)
        return wm_error_set(err, WM_E_INPUT, "text_len", fix, "must be >= 1");
    if ((unsigned)w->dtype >= WM_DTYPE_COUNT)
        return wm_error_set(err, WM_E_INPUT, "dtype", "use bf16, fp16 or fp32", "unknown dtype");
    if ((unsigned)w->mode >= WM_MODE_COUNT)
        return wm_error_set(err, WM_E_INPUT, "mode", "use torch, torch-cpu or full",
                            "unknown mode");
    return WM_OK;
}

/* Peak activation bytes of one forward (docs/memory.md): what stays live through the forward
 * (the residual stream, the embedded text, the latents in and out, diffusers' fp64 rope
 * tables) plus the largest transient of a block: the fp32 norm temporaries, the attention
 * phase (normed input, q, k, v, output; flash-style, no score matrix) or the FFN phase (normed
 * input, the B*L*F projection and its GELU). */
static bool peak_activation(const wm_model_config *c, const wm_workload *w, const wm_geometry *g,
                            uint64_t *out)
{
    const uint64_t B = w->batch_size, L = g->dit_seq_len, e = wm_dtype_bytes(w->dtype);
    const uint64_t d = c->num_attention_heads * c->attention_head_dim;
    uint64_t BLd, BLF, t, persist = 0, phase_norm, phase_attn, phase_ffn;
    const uint64_t lat[5] = {B, c->in_channels + c->out_channels, g->latent_frames,
                             g->latent_height, g->latent_width};
    if (!wm_mul(B, L, &t) || !wm_mul(t, d, &BLd) || !wm_mul(t, c->ffn_dim, &BLF))
        return false;
    /* residual stream, text context, rope cos+sin tables (fp64, L x head_dim), latents (fp32) */
    if (!wm_mac(&persist, BLd, e) || !wm_mul(B, w->text_len, &t) || !wm_mul(t, d, &t) ||
        !wm_mac(&persist, t, e) || !wm_mul(L, c->attention_head_dim, &t) ||
        !wm_mac(&persist, t, 2 * 8) || !wm_mul_n(&t, 5, lat) || !wm_mac(&persist, t, 4))
        return false;
    phase_norm = phase_attn = phase_ffn = 0;
    if (!wm_mac(&phase_norm, BLd, 4 + 4 + e) || !wm_mac(&phase_attn, BLd, 5 * e) ||
        !wm_mac(&phase_ffn, BLd, e) || !wm_mac(&phase_ffn, BLF, 2 * e))
        return false;
    uint64_t peak = phase_norm;
    if (phase_attn > peak)
        peak = phase_attn;
    if (phase_ffn > peak)
        peak = phase_ffn;
    return wm_add(persist, peak, out);
}

static void clear_notes(wm_report *r)
{
    for (size_t i = 0; i < r->nnotes; i++)
        free(r->notes[i]);
    r->nnotes = 0;
}

wm_status wm_report_add_note(wm_report *r, const char *note, wm_error *err)
{
    if (r->nnotes == r->capnotes) {
        size_t cap = r->capnotes ? r->capnotes * 2 : 8;
        char **n = realloc(r->notes, cap * sizeof *n);
        if (!n)
            return wm_error_set(err, WM_E_INTERNAL, "report", NULL, "out of memory");
        r->notes = n;
        r->capnotes = cap;
    }
    size_t len = strlen(note);
    char *copy = malloc(len + 1);
    if (!copy)
        return wm_error_set(err, WM_E_INTERNAL, "report", NULL, "out of memory");
    memcpy(copy, note, len + 1);
    r->notes[r->nnotes++] = copy;
    return WM_OK;
}

static wm_status add_standard_notes(wm_report *r, wm_error *err)
{
    char buf[512];
    wm_status s = WM_OK;
    const wm_workload *w = &r->w;
    if (r->g.frames_not_4n1 && (s = wm_report_add_note(r, r->g.note, err)))
        return s;
    if (r->m->cfg.impl == WM_IMPL_OFFICIAL &&
        (s = wm_report_add_note(r, "impl official: the official Wan code's counted work: text "
                                   "padded to 512 tokens for the text encoder and the "
                                   "transformer, CLIP's first 31 blocks, Wan2.2's per-token "
                                   "timestep embedding; its flash_attn kernels are invisible to "
                                   "FlopCounterMode, but their work is counted here",
                                err)))
        return s;
    if (w->mode == WM_MODE_TORCH_CPU &&
        (s = wm_report_add_note(r, "mode torch-cpu: attention cores count 0, as FlopCounterMode "
                                   "counts them on the CPU in torch 2.13.0 (the fused kernel "
                                   "aten._scaled_dot_product_flash_attention_for_cpu has no FLOP "
                                   "formula); the real work is in mode torch",
                                err)))
        return s;
    if (w->mode == WM_MODE_FULL &&
        (s = wm_report_add_note(r, "mode full: flops include elementwise vector FLOPs (norms, "
                                   "RoPE, softmax, activations, modulation, residual adds) that "
                                   "FlopCounterMode does not count; per-element costs in "
                                   "docs/formulas.md",
                                err)))
        return s;
    snprintf(buf, sizeof buf,
             "transformer: %llu forward%s per generation = %llu step%s x %llu forward%s per step "
             "(%s)",
             (unsigned long long)r->totals.forwards, r->totals.forwards == 1 ? "" : "s",
             (unsigned long long)w->num_inference_steps, w->num_inference_steps == 1 ? "" : "s",
             (unsigned long long)wm_workload_forwards_per_step(w), w->cfg ? "s" : "",
             w->cfg ? "classifier-free guidance: cond and uncond are separate calls"
                    : "no classifier-free guidance");
    if ((s = wm_report_add_note(r, buf, err)))
        return s;
    /* stages the pipeline runs that this model's preset does not describe */
    const wm_model_config *c = &r->m->cfg;
    const wm_stage_total *st = r->totals.stages;
    const bool image = c->image_dim || c->added_kv_proj_dim;
    /* A component missing from the preset; when it is there, its builder knows whether the
     * pipeline runs the stage (a T2V pipeline encodes no video). */
    const struct {
        bool missing;
        const char *text;
    } absent[] = {
        {!c->has_text_encoder,
         "text_encoder (umT5-XXL): not in this model's config; its FLOPs are not in totals.flops"},
        {image && !c->has_image_encoder,
         "image_encoder (CLIP ViT-H/14): not in this model's config; its FLOPs are not in "
         "totals.flops"},
        {!c->has_vae && !st[WM_STAGE_VAE_DECODE].present,
         "vae (encode and decode): not in this model's config; its FLOPs are not in "
         "totals.flops"},
    };
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
        if (absent[i].missing && (s = wm_report_add_note(r, absent[i].text, err)))
            return s;
    static const char *const fixed[] = {
        "kv_cache_bytes = 0: a diffusion transformer attends over the whole sequence afresh at "
        "every step and keeps no key/value cache",
        "weight_bytes: parameters at the workload dtype, except the ones kept in fp32: the "
        "transformer's time_embedder, scale_shift_table, norm1, norm2, norm3, umT5's wo, and "
        "the VAE and CLIP, which the pipelines load in fp32",
        "peak_activation_bytes: estimate for one forward with flash-style attention (no score "
        "matrix), see docs/memory.md",
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if ((s = wm_report_add_note(r, fixed[i], err)))
            return s;
    return WM_OK;
}

wm_status wm_report_evaluate(wm_report *r, const wm_workload *w, wm_error *err)
{
    const wm_model *m = r->m;
    const wm_model_config *c = &m->cfg;
    wm_status s = validate_workload(w, err);
    if (s == WM_OK)
        s = wm_geometry_compute(c, w, &r->g, err);
    if (s != WM_OK)
        return s;
    r->w = *w;
    clear_notes(r);
    memset(&r->totals, 0, sizeof r->totals);

    const eval_ctx x = context(r);
    /* How often each stage runs in one generation. */
    const uint64_t fps = wm_workload_forwards_per_step(w);
    uint64_t calls[WM_STAGE_COUNT] = {
        [WM_STAGE_TEXT_ENCODER] = fps,
        [WM_STAGE_IMAGE_ENCODER] = 1,
        /* VACE encodes its control video twice (the inactive and the reactive part) */
        [WM_STAGE_VAE_ENCODE] = c->vace_layers_count ? 2 : 1,
        [WM_STAGE_VAE_DECODE] = 1,
    };
    uint64_t high = w->num_inference_steps, forwards;
    if (c->pipeline.boundary_ratio > 0.0 &&
        (s = wm_expert_high_steps(c, w->num_inference_steps, &high, err)) != WM_OK)
        return s;
    if (!wm_mul(w->num_inference_steps, fps, &forwards) ||
        !wm_mul(high, fps, &calls[WM_STAGE_TRANSFORMER]) ||
        !wm_mul(w->num_inference_steps - high, fps, &calls[WM_STAGE_TRANSFORMER_2]))
        return overflow("steps", err);

    /* 1. Own work of every node outside repeated subtrees (blocks.1..N-1 repeat blocks.0). */
    wm_counts *cs = r->counts;
    for (size_t k = 0; k < m->live_count; k++) {
        const size_t i = (size_t)m->live[k];
        const wm_node *nd = &m->nodes[i];
        if (!own_costs(nd, &x, nd->fp32_params ? 4 : x.e, &cs[i]) ||
            !wm_add(cs[i].matrix_flops, cs[i].vector_flops, &cs[i].flops))
            return overflow(nd->id, err);
        cs[i].calls = calls[nd->stage];
    }
    /* 2. Children into parents, in reverse pre-order, still outside the repeats. */
    for (size_t k = m->live_count; k-- > 0;) {
        const wm_node *nd = &m->nodes[m->live[k]];
        if (nd->parent >= 0 && !add_counts(&cs[nd->parent], &cs[m->live[k]]))
            return overflow(m->nodes[nd->parent].id, err);
    }
    /* 3. Each repeat takes its original's counts (complete now) and adds them to its
     * ancestors, which are all live. */
    for (size_t k = 0; k < m->repeat_count; k++) {
        const size_t i = (size_t)m->repeats[k];
        const wm_node *nd = &m->nodes[i];
        memcpy(&cs[i], &cs[nd->repeat_of], nd->subtree_size * sizeof *cs);
        for (int32_t p = nd->parent; p >= 0; p = m->nodes[p].parent)
            if (!add_counts(&cs[p], &cs[i]))
                return overflow(m->nodes[p].id, err);
    }

    /* 4. Stages: the roots of each; the forward totals are the first transformer's. */
    wm_totals *t = &r->totals;
    for (size_t i = 0; i < m->count; i += m->nodes[i].subtree_size) {
        const wm_node *nd = &m->nodes[i];
        const wm_counts *ci = &cs[i];
        wm_stage_total *st = &t->stages[nd->stage];
        st->present = true;
        st->calls = calls[nd->stage];
        if (!wm_add(st->flops_per_call, ci->flops, &st->flops_per_call) ||
            !wm_add(st->params, ci->params, &st->params) ||
            !wm_add(st->weight_bytes, ci->weight_bytes, &st->weight_bytes) ||
            !wm_add(t->params, ci->params, &t->params) ||
            !wm_add(t->weight_bytes, ci->weight_bytes, &t->weight_bytes))
            return overflow("totals", err);
        if (nd->stage != WM_STAGE_TRANSFORMER)
            continue;
        if (!wm_add(t->flops_per_forward, ci->flops, &t->flops_per_forward) ||
            !wm_add(t->matrix_flops_per_forward, ci->matrix_flops, &t->matrix_flops_per_forward) ||
            !wm_add(t->vector_flops_per_forward, ci->vector_flops, &t->vector_flops_per_forward) ||
            !wm_add(t->bytes_read_per_forward, ci->bytes_read, &t->bytes_read_per_forward) ||
            !wm_add(t->bytes_written_per_forward, ci->bytes_written, &t->bytes_written_per_forward))
            return overflow("totals", err);
    }
    for (int k = 0; k < WM_STAGE_COUNT; k++) {
        wm_stage_total *st = &t->stages[k];
        if (!st->present)
            continue;
        st->selected = w->stages == 0 || (w->stages >> k & 1u);
        if (!wm_mul(st->flops_per_call, st->calls, &st->flops))
            return overflow(wm_stage_name((wm_stage)k), err);
        if ((st->selected && !wm_add(t->flops, st->flops, &t->flops)) ||
            ((k == WM_STAGE_TRANSFORMER || k == WM_STAGE_TRANSFORMER_2) &&
             !wm_add(t->transformer_flops, st->flops, &t->transformer_flops)))
            return overflow("totals.flops", err);
    }
    t->forwards = forwards;
    if (!wm_mul(t->flops_per_forward, fps, &t->flops_per_step))
        return overflow("totals.flops_per_step", err);
    if (!peak_activation(c, w, &r->g, &t->peak_activation_bytes))
        return overflow("totals.peak_activation_bytes", err);
    t->kv_cache_bytes = 0;
    return add_standard_notes(r, err);
}

wm_status wm_report_create(const wm_model *m, const wm_workload *w, wm_report **out, wm_error *err)
{
    *out = NULL;
    wm_report *r = calloc(1, sizeof *r);
    if (!r || !(r->counts = calloc(m->count ? m->count : 1, sizeof *r->counts))) {
        free(r);
        return wm_error_set(err, WM_E_INTERNAL, "report", NULL, "out of memory");
    }
    r->m = m;
    wm_status s = wm_report_evaluate(r, w, err);
    if (s != WM_OK) {
        wm_report_free(r);
        return s;
    }
    *out = r;
    return WM_OK;
}

void wm_report_free(wm_report *r)
{
    if (!r)
        return;
    clear_notes(r);
    free(r->notes);
    free(r->counts);
    free(r);
}

const wm_model *wm_report_model(const wm_report *r) { return r->m; }
const wm_workload *wm_report_workload(const wm_report *r) { return &r->w; }
const wm_geometry *wm_report_geometry(const wm_report *r) { return &r->g; }
const wm_counts *wm_report_counts(const wm_report *r) { return r->counts; }
const wm_totals *wm_report_totals(const wm_report *r) { return &r->totals; }
size_t wm_report_note_count(const wm_report *r) { return r->nnotes; }
const char *wm_report_note(const wm_report *r, size_t i) { return i < r->nnotes ? r->notes[i] : NULL; }

/* A bounded string appender for shapes: report.json renders one per node, so it avoids printf. */
typedef struct {
    char *p;
    size_t len, cap;
} shape_out;

static void sh_put(shape_out *o, const char *s)
{
    while (*s && o->len + 1 < o->cap)
        o->p[o->len++] = *s++;
    o->p[o->len] = '\0';
}

static void sh_num(shape_out *o, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[sizeof tmp - 2 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    tmp[sizeof tmp - 1] = '\0';
    sh_put(o, tmp + sizeof tmp - 1 - n);
}

/* "[a,b,c]" */
static void sh_dims(shape_out *o, int n, const uint64_t *d)
{
    sh_put(o, "[");
    for (int i = 0; i < n; i++) {
        if (i)
            sh_put(o, ",");
        sh_num(o, d[i]);
    }
    sh_put(o, "]");
}

void wm_report_node_shape(const wm_report *r, size_t i, char *buf, size_t cap)
{
    if (cap == 0)
        return;
    const wm_node *nd = &r->m->nodes[i];
    const wm_geometry *g = &r->g;
    const eval_ctx x = context(r);
    uint64_t B = 0, len = 0, kb = 0, lk = 0;
    shape_out o = {buf, 0, cap};
    buf[0] = '\0';
    if (nd->op == WM_OP_MODULE || !resolve_rows(nd, nd->rows, &x, &B, &len))
        return;
    const bool vector = nd->rows == WM_ROWS_ONE; /* per-sample vectors: [B,k] */
    switch (nd->op) {
    case WM_OP_LINEAR: /* [B,rows,k]x[k,n] */
        if (vector)
            sh_dims(&o, 2, (const uint64_t[]){B, nd->k});
        else
            sh_dims(&o, 3, (const uint64_t[]){B, len, nd->k});
        sh_put(&o, "x");
        sh_dims(&o, 2, (const uint64_t[]){nd->k, nd->n});
        break;
    case WM_OP_CONV3D:
        if (nd->rows == WM_ROWS_VIDEO) { /* the patch embedding: [B,Cin,T,h,w] -> tokens */
            sh_dims(&o, 5, (const uint64_t[]){B, nd->k, g->latent_frames, g->latent_height,
                                              g->latent_width});
            sh_put(&o, " k");
            sh_dims(&o, 3, nd->kernel);
            sh_put(&o, " -> ");
            sh_dims(&o, 5, (const uint64_t[]){B, nd->n, g->tokens_frames, g->tokens_height,
                                              g->tokens_width});
        } else if (nd->rows == WM_ROWS_GRID) { /* a VAE conv: [B,Cin] k -> its output map */
            int64_t t = (int64_t)nd->t_mul * (int64_t)x.T + nd->t_add;
            sh_dims(&o, 2, (const uint64_t[]){B, nd->k});
            sh_put(&o, " k");
            sh_dims(&o, 3, nd->kernel);
            sh_put(&o, " -> ");
            sh_dims(&o, 5, (const uint64_t[]){B, nd->n, t > 0 ? (uint64_t)t : 0,
                                              x.h * nd->hw_mul / nd->hw_div,
                                              x.w * nd->hw_mul / nd->hw_div});
        } else { /* [B,Cin] k -> [B,Cout,output positions] */
            sh_dims(&o, 2, (const uint64_t[]){B, nd->k});
            sh_put(&o, " k");
            sh_dims(&o, 3, nd->kernel);
            sh_put(&o, " -> ");
            sh_dims(&o, 3, (const uint64_t[]){B, nd->n, len});
        }
        break;
    case WM_OP_SDPA: /* q[B,H,Lq,hd] kv[B,H,Lk,hd] */
        if (!resolve_rows(nd, nd->kv_rows, &x, &kb, &lk))
            return;
        sh_put(&o, "q");
        sh_dims(&o, 4, (const uint64_t[]){B, nd->heads, len, nd->head_dim});
        sh_put(&o, " kv");
        sh_dims(&o, 4, (const uint64_t[]){kb, nd->heads, lk, nd->head_dim});
        break;
    default: /* elementwise: [B,rows,width] */
        if (vector)
            sh_dims(&o, 2, (const uint64_t[]){B, nd->k});
        else
            sh_dims(&o, 3, (const uint64_t[]){B, len, nd->k});
        break;
    }
}

void wm_report_set_official_names(wm_report *r, bool on) { r->official_names = on; }
bool wm_report_official_names(const wm_report *r) { return r->official_names; }

void wm_report_display_id(const wm_report *r, size_t i, char *buf, size_t cap)
{
    const char *id = r->m->nodes[i].id;
    if (r->official_names)
        wm_official_id(id, r->m->cfg.pipeline.boundary_ratio > 0.0, buf, cap);
    else if (cap > 0)
        snprintf(buf, cap, "%s", id);
}

void wm_report_display_name(const wm_report *r, size_t i, char *buf, size_t cap)
{
    const wm_node *nd = &r->m->nodes[i];
    if (!r->official_names || nd->parent < 0) {
        if (!r->official_names)
            snprintf(buf, cap, "%s", nd->name);
        else
            wm_report_display_id(r, i, buf, cap);
        return;
    }
    char full[512], parent[512];
    wm_report_display_id(r, i, full, sizeof full);
    wm_report_display_id(r, (size_t)nd->parent, parent, sizeof parent);
    size_t n = strlen(parent);
    const char *rel = full;
    if (strncmp(full, parent, n) == 0 && (full[n] == '.' || full[n] == '#')) {
        rel = full + n + (full[n] == '.');
    } else {
        /* a module the official code keeps elsewhere (condition_embedder's children are the
         * model's own): its path below the root */
        size_t root = (size_t)nd->parent;
        while (r->m->nodes[root].parent >= 0)
            root = (size_t)r->m->nodes[root].parent;
        wm_report_display_id(r, root, parent, sizeof parent);
        n = strlen(parent);
        if (strncmp(full, parent, n) == 0 && full[n] == '.')
            rel = full + n + 1;
    }
    snprintf(buf, cap, "%s", rel);
}
