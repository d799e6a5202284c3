/*
 * estimate.c — time and memory of one generation on real GPUs (docs/performance-model.md).
 *
 * From the report's exact per-node counts, one roofline per node and call:
 *     t = max(flops / (peak x efficiency), bytes / (bandwidth x efficiency.memory)) + launch
 * with the peak and efficiency chosen by the kind of work (GEMM, convolution, fused attention
 * by kernel and architecture, fp32 matmul, elementwise), then per stage: calls x per-call time
 * plus the exposed communication of the parallel plan (Ulysses all-to-all, ring K/V passing,
 * FSDP all-gathers, the CFG gather), the host copies of --offload-model, and the host CPU for
 * --t5-cpu. Memory per GPU is the largest phase: the weights resident while a stage runs plus
 * its activations plus the runtime's own.
 *
 * Counts stay exact integers; per-GPU shares, rates and times are doubles derived at the end.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checked.h"
#include "devices.h"

static const char *const precision_names[WM_PRECISION_COUNT] = {
#define WM_X_NAME(name, text, wb, peak) [name] = text,
    WM_PRECISION_LIST(WM_X_NAME)
#undef WM_X_NAME
};
static const unsigned precision_weight_bytes_e4[WM_PRECISION_COUNT] = {
#define WM_X_WB(name, text, wb, peak) [name] = wb,
    WM_PRECISION_LIST(WM_X_WB)
#undef WM_X_WB
};
static const char *const precision_peaks[WM_PRECISION_COUNT] = {
#define WM_X_PEAK(name, text, wb, peak) [name] = peak,
    WM_PRECISION_LIST(WM_X_PEAK)
#undef WM_X_PEAK
};
static const char *const kernel_names[WM_ATTN_KERNEL_COUNT] = {
#define WM_X_NAME(name, text) [name] = text,
    WM_ATTN_KERNEL_LIST(WM_X_NAME)
#undef WM_X_NAME
};
static const char *const bound_names[WM_BOUND_COUNT] = {
#define WM_X_NAME(name, text) [name] = text,
    WM_BOUND_LIST(WM_X_NAME)
#undef WM_X_NAME
};

const char *wm_precision_name(wm_precision p)
{
    return (unsigned)p < WM_PRECISION_COUNT ? precision_names[p] : "?";
}

bool wm_precision_parse(const char *s, wm_precision *out)
{
    for (int i = 0; i < WM_PRECISION_COUNT; i++)
        if (strcmp(s, precision_names[i]) == 0) {
            *out = (wm_precision)i;
            return true;
        }
    return false;
}

const char *wm_attn_kernel_name(wm_attn_kernel k)
{
    return (unsigned)k < WM_ATTN_KERNEL_COUNT ? kernel_names[k] : "?";
}

bool wm_attn_kernel_parse(const char *s, wm_attn_kernel *out)
{
    for (int i = 0; i < WM_ATTN_KERNEL_COUNT; i++)
        if (strcmp(s, kernel_names[i]) == 0) {
            *out = (wm_attn_kernel)i;
            return true;
        }
    return false;
}

const char *wm_bound_name(wm_bound b)
{
    return (unsigned)b < WM_BOUND_COUNT ? bound_names[b] : "?";
}

static wm_peak peak_of(const char *name)
{
    for (int p = 0; p < WM_PEAK_COUNT; p++)
        if (strcmp(wm_peak_name((wm_peak)p), name) == 0)
            return (wm_peak)p;
    return WM_PEAK_BF16;
}

struct wm_estimate {
    const wm_report *r;
    wm_plan plan;
    wm_device_info dev;
    wm_node_time *nodes;
    wm_stage_estimate stages[WM_STAGE_COUNT];
    wm_estimate_totals totals;
    char **notes;
    size_t nnotes;
};

/* ---- plan validation ----------------------------------------------------------------------- */

/* The peak of `p` on `d` in TFLOP/s, or an error naming the device and the precision. */
static wm_status device_peak(const wm_device *d, wm_peak p, const char *why_needed, double *out,
                             wm_error *err)
{
    const wm_device_peak *pk = &d->peaks[p];
    char what[128];
    snprintf(what, sizeof what, "devices.%s.peaks.%s", d->id, wm_peak_name(p));
    if (!pk->present)
        return wm_error_set(err, WM_E_INPUT, what,
                            "choose another --precision or --device, or add the dense figure "
                            "with --devices FILE",
                            "%s has no %s peak (%s)", d->name, wm_peak_name(p), why_needed);
    if (!pk->dense) {
        wm_error_set(err, WM_E_INPUT, what,
                     "record the dense figure (datasheets print sparse ones at 2x) with "
                     "dense: true",
                     "%g TFLOP/s is a sparse (2:4 structured sparsity) figure; wanmeter models "
                     "dense work",
                     pk->tflops);
        if (err && pk->file) {
            snprintf(err->file, sizeof err->file, "%s", pk->file);
            err->line = pk->line;
        }
        return WM_E_INPUT;
    }
    *out = pk->tflops;
    return WM_OK;
}

static void divisors(uint64_t n, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (uint64_t k = 1; k <= n && used < cap; k++)
        if (n % k == 0) {
            int w = snprintf(out + used, cap - used, "%s%llu", used ? ", " : "",
                             (unsigned long long)k);
            if (w < 0)
                break;
            used += (size_t)w;
        }
}

static wm_attn_kernel resolve_kernel(const wm_plan *plan, const wm_device *d)
{
    wm_attn_kernel k = plan->attention_kernel;
    if (k == WM_ATTN_AUTO && !wm_attn_kernel_parse(d->default_kernel, &k))
        k = WM_ATTN_FA2;
    return k;
}

wm_status wm_plan_validate(const wm_plan *plan, const wm_devices *db, const wm_report *r,
                           wm_error *err)
{
    char list[512];
    const wm_device *d = wm_devices_find(db, plan->device);
    if (!d) {
        wm_devices_list(db, list, sizeof list);
        char fix[600];
        snprintf(fix, sizeof fix, "use one of: %s; or add it with --devices FILE", list);
        return wm_error_set(err, WM_E_INPUT, "--device", fix, "unknown device '%s'",
                            plan->device);
    }
    const wm_model_config *c = wm_model_get_config(wm_report_model(r));
    const wm_workload *w = wm_report_workload(r);
    if (w->mode == WM_MODE_TORCH_CPU)
        return wm_error_set(err, WM_E_INPUT, "--mode",
                            "use --mode torch or full for an estimate",
                            "mode torch-cpu counts attention cores as 0, so the attention time "
                            "would be missing");
    if (w->dtype == WM_DTYPE_FP32)
        return wm_error_set(err, WM_E_INPUT, "--dtype",
                            "use --dtype bf16 or fp16, and --precision for the GEMMs",
                            "the estimate models 16-bit activations; fp32 inference is not "
                            "modelled");
    if (plan->gpus == 0 || plan->ulysses == 0 || plan->ring == 0)
        return wm_error_set(err, WM_E_INPUT, plan->gpus == 0 ? "--gpus"
                                             : plan->ulysses == 0 ? "--ulysses" : "--ring",
                            "use a whole number >= 1", "must be >= 1");
    const uint64_t cfgp = plan->cfg_parallel ? 2 : 1;
    uint64_t group = 0;
    if (!wm_mul(plan->ulysses, plan->ring, &group) || !wm_mul(group, cfgp, &group) ||
        group > plan->gpus)
        return wm_error_set(err, WM_E_INPUT, "--gpus",
                            "use --gpus at least ulysses x ring x (2 with --cfg-parallel)",
                            "the plan needs %llu x %llu x %llu GPUs per generation but --gpus is "
                            "%llu",
                            (unsigned long long)plan->ulysses, (unsigned long long)plan->ring,
                            (unsigned long long)cfgp, (unsigned long long)plan->gpus);
    if (plan->gpus % group != 0)
        return wm_error_set(err, WM_E_INPUT, "--gpus",
                            "use a multiple of ulysses x ring x cfg: the GPUs left over form "
                            "data-parallel replicas of that size",
                            "%llu GPUs do not split into groups of %llu",
                            (unsigned long long)plan->gpus, (unsigned long long)group);
    const uint64_t dp = plan->gpus / group;
    if (w->batch_size % dp != 0)
        return wm_error_set(err, WM_E_INPUT, "--batch",
                            "use a batch that is a multiple of the data-parallel replicas, or "
                            "fewer GPUs",
                            "%llu GPUs in groups of %llu make %llu data-parallel replicas, which "
                            "a batch of %llu requests does not split evenly",
                            (unsigned long long)plan->gpus, (unsigned long long)group,
                            (unsigned long long)dp, (unsigned long long)w->batch_size);
    if (c->num_attention_heads % plan->ulysses != 0) {
        divisors(c->num_attention_heads, list, sizeof list);
        return wm_error_set(err, WM_E_INPUT, "--ulysses",
                            "use a degree that divides the heads", /* fix follows */
                            "Ulysses splits the %llu attention heads of %s over the GPUs; %llu "
                            "does not divide them (use one of %s)",
                            (unsigned long long)c->num_attention_heads, c->id,
                            (unsigned long long)plan->ulysses, list);
    }
    if (plan->cfg_parallel && !w->cfg)
        return wm_error_set(err, WM_E_INPUT, "--cfg-parallel",
                            "drop --cfg-parallel or turn guidance on with --cfg",
                            "CFG parallel runs the cond and uncond forwards on two GPU groups, "
                            "but this workload has no classifier-free guidance");
    if (plan->fsdp && plan->gpus == 1)
        return wm_error_set(err, WM_E_INPUT, "--fsdp", "drop --fsdp or use --gpus 2 or more",
                            "FSDP shards the weights over the GPUs; with one GPU there is "
                            "nothing to shard");
    const wm_geometry *g = wm_report_geometry(r);
    if (plan->ulysses * plan->ring > g->dit_seq_len)
        return wm_error_set(err, WM_E_INPUT, plan->ring > 1 ? "--ring" : "--ulysses",
                            "use fewer sequence-parallel GPUs or a longer video",
                            "ulysses x ring = %llu exceeds the %llu video tokens",
                            (unsigned long long)(plan->ulysses * plan->ring),
                            (unsigned long long)g->dit_seq_len);
    if (plan->convert_model_dtype && c->impl != WM_IMPL_OFFICIAL)
        return wm_error_set(err, WM_E_INPUT, "--convert-model-dtype",
                            "add --impl official, or drop the flag",
                            "diffusers already loads the weights in the compute dtype; the "
                            "flag changes the official code's fp32 weights");
    if (plan->t5_cpu && !c->has_text_encoder)
        return wm_error_set(err, WM_E_INPUT, "--t5-cpu", "drop --t5-cpu",
                            "the model has no text encoder stage");
    double tflops;
    wm_status s;
    char why[96];
    snprintf(why, sizeof why, "needed by --precision %s", wm_precision_name(plan->precision));
    if ((s = device_peak(d, peak_of(precision_peaks[plan->precision]), why, &tflops, err)))
        return s;
    /* the stages that do not follow --precision: 16-bit attention and text encoder, fp32 VAE
     * and CLIP (tf32 when the device has it, else fp32) */
    if ((s = device_peak(d, w->dtype == WM_DTYPE_FP16 ? WM_PEAK_FP16 : WM_PEAK_BF16,
                         "needed by the 16-bit attention and text encoder", &tflops, err)) ||
        (s = device_peak(d, WM_PEAK_FP32, "needed by the fp32 VAE and image encoder", &tflops,
                         err)) ||
        (d->peaks[WM_PEAK_TF32].present &&
         (s = device_peak(d, WM_PEAK_TF32, "used by the VAE's convolutions", &tflops, err))))
        return s;
    const wm_attn_kernel k = resolve_kernel(plan, d);
    if (k != WM_ATTN_MATH && wm_devices_attention_eff(db, k, d->arch) <= 0.0) {
        wm_devices_kernel_archs(db, k, list, sizeof list);
        return wm_error_set(err, WM_E_INPUT, "--attention-kernel",
                            "use math, or a kernel listed for this architecture in "
                            "efficiency.attention",
                            "%s runs on %s GPUs only; %s is %s", wm_attn_kernel_name(k), list,
                            d->id, d->arch);
    }
    if (k == WM_ATTN_FA3_FP8 &&
        (s = device_peak(d, WM_PEAK_FP8, "needed by --attention-kernel fa3-fp8", &tflops, err)))
        return s;
    return WM_OK;
}

/* ---- per-node roofline --------------------------------------------------------------------- */

typedef struct ctx {
    const wm_devices *db;
    const wm_device *d;
    const wm_efficiency *eff;
    const wm_plan *plan;
    const wm_model_config *c;
    const wm_workload *w;
    wm_attn_kernel kernel;
    double bw;             /* bytes/s achievable */
    double gemm;           /* GEMM efficiency on this architecture */
    double e;              /* activation bytes of the workload dtype */
    wm_peak act_peak;      /* the workload dtype's peak: bf16, or fp16 */
    wm_peak prec_peak;     /* the --precision's peak, for the transformer's GEMMs */
    double dp;             /* data-parallel replicas: work per GPU is 1/dp of the batch's */
    double sp;             /* ulysses x ring */
    bool official;
} ctx;

/* The dense peak of `p` in FLOP/s. wm_plan_validate has checked that every peak the plan uses
 * is present and dense; a device without tf32 runs the VAE's convolutions at its fp32 peak. */
static double tflops_of(const ctx *x, wm_peak p)
{
    const wm_device_peak *pk = &x->d->peaks[p];
    if (p == WM_PEAK_TF32 && !pk->present)
        pk = &x->d->peaks[WM_PEAK_FP32];
    return pk->tflops * 1e12;
}

static bool is_dit(wm_stage s) { return s == WM_STAGE_TRANSFORMER || s == WM_STAGE_TRANSFORMER_2; }
static bool fp32_stage(wm_stage s)
{
    return s == WM_STAGE_IMAGE_ENCODER || s == WM_STAGE_VAE_ENCODE || s == WM_STAGE_VAE_DECODE;
}
static bool elementwise(wm_op op)
{
    return op != WM_OP_MODULE && op != WM_OP_LINEAR && op != WM_OP_CONV3D && op != WM_OP_SDPA;
}

/* Memory traffic per rotated element of the official code's fp64 RoPE: bf16 in (2) -> fp64
 * complex copy (8) -> product with the fp64 table (8 + 8 read, 8 written) -> torch.cat copy
 * (8 + 8) -> torch.stack copy (8 + 8) -> .float() (8 + 4) = 86 bytes. */
#define OFFICIAL_ROPE_BYTES 86.0

/* Bytes per parameter the transformer's GEMM weights are stored with. */
static double dit_storage_bytes(const ctx *x)
{
    if (x->official && !x->plan->convert_model_dtype &&
        (x->plan->precision == WM_PREC_BF16 || x->plan->precision == WM_PREC_FP16))
        return 4.0; /* the official code keeps the checkpoint's fp32 and autocasts per call */
    return precision_weight_bytes_e4[x->plan->precision] / 10000.0;
}

/* Split of the node's work over the sequence-parallel GPUs: video-token rows are divided. */
static double seq_share(const ctx *x, const wm_node *nd)
{
    if (!is_dit(nd->stage) || x->sp <= 1.0)
        return 1.0;
    return nd->rows == WM_ROWS_VIDEO ? 1.0 / x->sp : 1.0;
}

/* Activation bytes one call of a leaf reads and writes at the workload dtype. The report's
 * bytes_read of a convolution counts its im2col operand (every input element once per kernel
 * tap); the memory traffic of a direct convolution is the input tensor once: output positions
 * x in_channels for the VAE's stride-1 convolutions, x the kernel volume for the transformer's
 * patchifying one (kernel = stride). */
static double activation_bytes(const wm_node *nd, const wm_counts *cn, double e)
{
    const double rw = (double)cn->bytes_read + (double)cn->bytes_written - (double)cn->weight_bytes;
    if (nd->op != WM_OP_CONV3D || !nd->k || !nd->n)
        return rw;
    const double kvol = (double)(nd->kernel[0] * nd->kernel[1] * nd->kernel[2]);
    const double M = (double)cn->matrix_flops / (2.0 * kvol * (double)nd->k * (double)nd->n);
    const double in = M * (double)nd->k * (is_dit(nd->stage) ? kvol : 1.0);
    return (in + M * (double)nd->n) * e;
}

static void leaf_time(const ctx *x, const wm_node *nd, const wm_counts *cn, wm_node_time *t)
{
    const wm_efficiency *eff = x->eff;
    const double share = seq_share(x, nd) / x->dp;
    const double act_mult = fp32_stage(nd->stage) ? 4.0 / x->e : 1.0;
    double weight_traffic = (double)cn->weight_bytes;
    double act = activation_bytes(nd, cn, x->e) * act_mult * share;
    const double flops = (double)cn->matrix_flops * share;
    double rate = 0.0; /* FLOP/s achievable for the matrix work */
    memset(t, 0, sizeof *t);

    if (nd->op == WM_OP_LINEAR || nd->op == WM_OP_CONV3D) {
        if (fp32_stage(nd->stage)) {
            rate = nd->op == WM_OP_CONV3D ? tflops_of(x, WM_PEAK_TF32) * eff->conv
                                          : tflops_of(x, WM_PEAK_FP32) * eff->fp32_matmul;
        } else if (is_dit(nd->stage) && nd->op == WM_OP_LINEAR && !nd->fp32_params) {
            rate = tflops_of(x, x->prec_peak) * x->gemm;
            if (x->plan->precision == WM_PREC_FP8_BLOCK)
                rate *= eff->fp8_block_scale;
            weight_traffic = (double)nd->params * dit_storage_bytes(x);
            if (dit_storage_bytes(x) == 4.0) /* fp32 read, 16-bit cast written and read */
                weight_traffic = (double)nd->params * 8.0;
        } else { /* text encoder, the patch embedding, the fp32-kept time embedder */
            rate = tflops_of(x, x->act_peak) * x->gemm;
        }
    } else if (nd->op == WM_OP_SDPA) {
        /* B*H*Lq*Lk score elements, from the matrix FLOPs 4*B*Lq*Lk*H*hd */
        const double scores = nd->head_dim ? flops / (4.0 * (double)nd->head_dim) : 0.0;
        if (fp32_stage(nd->stage)) {
            rate = tflops_of(x, WM_PEAK_FP32) * eff->fp32_matmul;
        } else if (nd->explicit_matmul) {
            /* umT5: two matmuls, the bf16 scores written, biased and soft-maxed in memory */
            rate = tflops_of(x, x->act_peak) * x->gemm;
            act += scores * 5.0 * x->e;
        } else if (x->kernel == WM_ATTN_MATH) {
            rate = tflops_of(x, x->act_peak) * x->gemm;
            act += scores * 16.0; /* fp32 scores: written, read and written by softmax, read */
        } else {
            const double ae = wm_devices_attention_eff(x->db, x->kernel, x->d->arch);
            if (x->kernel == WM_ATTN_FA3_FP8) {
                rate = tflops_of(x, WM_PEAK_FP8) * ae;
                act -= (double)cn->bytes_read * share * (1.0 - 1.0 / x->e); /* 1-byte Q, K, V */
            } else {
                rate = tflops_of(x, x->act_peak) * ae;
            }
        }
    }
    if (x->official && is_dit(nd->stage) && elementwise(nd->op) && nd->op != WM_OP_GELU_TANH &&
        nd->op != WM_OP_SILU) {
        /* the official code keeps the residual stream and its norms in fp32, and ropes q and k
         * in fp64 complex arithmetic (a copy in, the product, a concatenation, a stack and the
         * cast back: OFFICIAL_ROPE_BYTES per element); activations (GELU, SiLU) stay 16-bit */
        act *= nd->op == WM_OP_ROPE ? OFFICIAL_ROPE_BYTES / (2.0 * x->e) : 4.0 / x->e;
    }
    t->flops = (double)cn->flops * share;
    t->bytes = act + weight_traffic;
    if (rate > 0.0)
        t->compute_seconds = flops / rate;
    else if (elementwise(nd->op)) /* vector FLOPs (mode full) on the fp32 units */
        t->compute_seconds = (double)cn->vector_flops * share / tflops_of(x, WM_PEAK_FP32);
    t->memory_seconds = t->bytes / x->bw;
    t->bound = t->compute_seconds >= t->memory_seconds ? WM_BOUND_COMPUTE : WM_BOUND_MEMORY;
    t->seconds = fmax(t->compute_seconds, t->memory_seconds) + eff->launch_overhead_us * 1e-6;
    t->intensity = t->bytes > 0.0 ? t->flops / t->bytes : 0.0;
}

/* ---- memory ------------------------------------------------------------------------------ */

static uint64_t ceil_div(uint64_t a, uint64_t b) { return b ? (a + b - 1) / b : a; }

/* Transformer activations per GPU at their peak (docs/performance-model.md, Memory). */
static double dit_activations(const ctx *x, const wm_geometry *g)
{
    const wm_model_config *c = x->c;
    const double B = (double)x->w->batch_size / x->dp, e = x->e;
    const double Lg = (double)ceil_div(g->dit_seq_len, (uint64_t)x->sp);
    const double d = (double)(c->num_attention_heads * c->attention_head_dim);
    const double u = B * Lg * d, F = (double)c->ffn_dim;
    const double text = B * (double)x->w->text_len * d * e;
    const double latents = B * (double)(c->in_channels + c->out_channels) *
                           (double)(g->latent_frames * g->latent_height * g->latent_width) * 4.0;
    const double rope = 2.0 * (double)g->dit_seq_len * (double)c->attention_head_dim * 8.0;
    double persist, attn, ffn, norm;
    if (x->official) {
        /* fp32 residual; attention: the fp32 modulated input, q k v, the roped q in fp32 and
         * the fp64 complex copy and product of k while it is roped */
        persist = u * 4.0 + text + latents + rope;
        attn = u * (4.0 + 3.0 * e + 4.0 + 16.0);
        ffn = u * (4.0 + e) + 2.0 * B * Lg * F * e;
        norm = u * 8.0;
    } else {
        persist = u * e + text + latents + rope;
        attn = u * 5.0 * e;
        ffn = u * e + 2.0 * B * Lg * F * e;
        norm = u * (8.0 + e);
    }
    if (x->plan->ulysses > 1) /* all-to-all send and receive buffers of q, k, v, o */
        attn += u * 4.0 * e;
    if (x->plan->ring > 1) /* the K/V block in flight */
        attn += 2.0 * u * e / (double)x->plan->ulysses;
    return persist + fmax(attn, fmax(ffn, norm));
}

/* What the estimate gathers per stage in its one pass over the nodes. */
typedef struct stage_facts {
    double attn_calls;     /* self-attention cores over video tokens, per call */
    double attn_compute;   /* their compute time per call */
    double largest_act;    /* the largest leaf's activations (per VAE chunk), non-transformer */
    uint64_t fp32_params;  /* parameters kept in fp32 */
} stage_facts;

/* A leaf's activations as the other stages hold them: its inputs and outputs (fp32 stages at 4
 * bytes, umT5's scores written twice), per chunk for the VAE, which runs one latent frame
 * (decode) or four pixel frames (encode) at a time with a cache of two frames. */
static double chunk_activation(const ctx *x, const wm_geometry *g, const wm_node *nd,
                               const wm_counts *cn)
{
    const double mult = (fp32_stage(nd->stage) ? 4.0 / x->e : 1.0) / x->dp;
    double b = activation_bytes(nd, cn, x->e) * mult;
    if (nd->op == WM_OP_SDPA && nd->explicit_matmul && nd->head_dim)
        b += (double)cn->matrix_flops / (4.0 * (double)nd->head_dim) * x->e * 2.0 / x->dp;
    if (nd->rows == WM_ROWS_GRID) {
        const double frames = (double)nd->t_mul * (double)g->latent_frames + nd->t_add;
        const double chunk = (nd->t_mul > 0 ? (double)nd->t_mul : 1.0) + 2.0;
        if (frames > chunk)
            b *= chunk / frames;
    }
    return b;
}

/* Activations of a stage other than the transformer: its largest leaf's twice (the kept input
 * of a residual block and the live temporaries), plus the video tensor the VAE reads or
 * writes. */
static double other_activations(const ctx *x, wm_stage st, const stage_facts *f)
{
    double video = 0.0;
    if (st == WM_STAGE_VAE_DECODE || st == WM_STAGE_VAE_ENCODE)
        video = (double)x->w->batch_size / x->dp * 3.0 * (double)x->w->num_frames *
                (double)x->w->height * (double)x->w->width * 4.0;
    return 2.0 * f->largest_act + video;
}

/* ---- the estimate ---------------------------------------------------------------------- */

static wm_status add_note(wm_estimate *e, wm_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static wm_status add_note(wm_estimate *e, wm_error *err, const char *fmt, ...)
{
    char buf[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **n = realloc(e->notes, (e->nnotes + 1) * sizeof *n);
    if (!n)
        return wm_error_set(err, WM_E_INTERNAL, "estimate", NULL, "out of memory");
    e->notes = n;
    if (!(e->notes[e->nnotes] = strdup(buf)))
        return wm_error_set(err, WM_E_INTERNAL, "estimate", NULL, "out of memory");
    e->nnotes++;
    return WM_OK;
}

/* A byte count derived in double (shares, sums of rates) as an exact integer: false when it
 * does not fit WM_COUNT_MAX, so a huge workload is an overflow error, never a wrapped cast. */
static bool to_bytes(double v, uint64_t *out)
{
    if (!(v >= 0.0) || v >= 9.2e18)
        return false;
    *out = (uint64_t)ceil(v);
    return true;
}

static double seconds_of_bytes(double bytes, double gbs, double eff)
{
    return bytes / (gbs * 1e9 * eff);
}

wm_status wm_estimate_create(const wm_report *r, const wm_devices *db, const wm_plan *plan,
                             wm_estimate **out, wm_error *err)
{
    *out = NULL;
    wm_status s = wm_plan_validate(plan, db, r, err);
    if (s != WM_OK)
        return s;
    const wm_model *m = wm_report_model(r);
    const size_t n = wm_model_node_count(m);
    wm_estimate *e = calloc(1, sizeof *e);
    if (!e || !(e->nodes = calloc(n ? n : 1, sizeof *e->nodes))) {
        free(e);
        return wm_error_set(err, WM_E_INTERNAL, "estimate", NULL, "out of memory");
    }
    e->r = r;
    e->plan = *plan;
    const wm_device *d = wm_devices_find(db, plan->device);
    const wm_host *host = wm_devices_host(db, d->host);
    const wm_efficiency *eff = wm_devices_efficiency(db);
    const wm_model_config *c = wm_model_get_config(m);
    const wm_workload *w = wm_report_workload(r);
    const wm_geometry *g = wm_report_geometry(r);
    const wm_totals *tot = wm_report_totals(r);
    const uint64_t cfgp = plan->cfg_parallel ? 2 : 1;
    const uint64_t group = plan->ulysses * plan->ring * cfgp;
    ctx x = {
        .db = db, .d = d, .eff = eff, .plan = plan, .c = c, .w = w,
        .kernel = resolve_kernel(plan, d),
        .bw = d->memory_bandwidth_gbs * 1e9 * eff->memory,
        .gemm = wm_devices_gemm_eff(db, d->arch),
        .e = (double)wm_dtype_bytes(w->dtype),
        .act_peak = w->dtype == WM_DTYPE_FP16 ? WM_PEAK_FP16 : WM_PEAK_BF16,
        .prec_peak = peak_of(precision_peaks[plan->precision]),
        .dp = (double)(plan->gpus / group),
        .sp = (double)(plan->ulysses * plan->ring),
        .official = c->impl == WM_IMPL_OFFICIAL,
    };
    wm_estimate_totals *T = &e->totals;
    T->attention_kernel = x.kernel;
    T->dp = plan->gpus / group;
    T->group = group;
    wm_device_info *di = &e->dev;
    snprintf(di->id, sizeof di->id, "%s", d->id);
    snprintf(di->name, sizeof di->name, "%s", d->name);
    snprintf(di->arch, sizeof di->arch, "%s", d->arch);
    snprintf(di->interconnect, sizeof di->interconnect, "%s", d->interconnect_name);
    snprintf(di->host, sizeof di->host, "%s", host->name);
    di->memory_gb = d->memory_gb;
    di->memory_bandwidth_gbs = d->memory_bandwidth_gbs;
    di->interconnect_gbs = d->interconnect_gbs;
    di->pcie_gbs = d->pcie_gbs;
    di->host_cpu_tflops = host->cpu_tflops;
    di->peak_tflops = tflops_of(&x, x.prec_peak) / 1e12;
    di->bf16_tflops = tflops_of(&x, x.act_peak) / 1e12;

    /* 1. Leaves: one roofline each; containers sum their leaves. */
    const wm_node *nodes = wm_model_nodes(m);
    const wm_counts *cs = wm_report_counts(r);
    stage_facts facts[WM_STAGE_COUNT] = {{0}};
    for (size_t i = 0; i < n; i++) {
        const wm_node *nd = &nodes[i];
        stage_facts *f = &facts[nd->stage];
        if (nd->fp32_params)
            f->fp32_params += nd->params;
        if (nd->subtree_size != 1)
            continue;
        leaf_time(&x, nd, &cs[i], &e->nodes[i]);
        if (nd->op == WM_OP_SDPA && nd->rows == WM_ROWS_VIDEO && nd->kv_rows == WM_ROWS_VIDEO) {
            f->attn_calls += 1.0;
            f->attn_compute += e->nodes[i].compute_seconds;
        }
        if (!is_dit(nd->stage))
            f->largest_act = fmax(f->largest_act, chunk_activation(&x, g, nd, &cs[i]));
    }
    for (size_t i = n; i-- > 0;) {
        const wm_node *nd = &nodes[i];
        wm_node_time *t = &e->nodes[i];
        if (nd->subtree_size > 1) {
            t->intensity = t->bytes > 0.0 ? t->flops / t->bytes : 0.0;
            t->bound = t->compute_seconds >= t->memory_seconds ? WM_BOUND_COMPUTE
                                                                : WM_BOUND_MEMORY;
        }
        if (nd->parent >= 0) {
            wm_node_time *p = &e->nodes[nd->parent];
            if (nd->subtree_size == 1) {
                /* a leaf's time goes into its parent's compute or memory column */
                p->compute_seconds += t->bound == WM_BOUND_COMPUTE ? t->seconds : 0.0;
                p->memory_seconds += t->bound == WM_BOUND_MEMORY ? t->seconds : 0.0;
            } else {
                p->compute_seconds += t->compute_seconds;
                p->memory_seconds += t->memory_seconds;
            }
            p->seconds += t->seconds;
            p->flops += t->flops;
            p->bytes += t->bytes;
        }
    }

    /* 2. Stages. */
    const double ic = d->interconnect_gbs;
    const double lat = eff->collective_latency_us * 1e-6;
    const double d_model = (double)(c->num_attention_heads * c->attention_head_dim);
    const double Bg = (double)w->batch_size / x.dp;
    const double Lg = (double)g->dit_seq_len / x.sp;
    for (size_t i = 0; i < n; i += nodes[i].subtree_size) {
        wm_stage_estimate *st = &e->stages[nodes[i].stage];
        st->present = true;
        st->seconds += e->nodes[i].seconds; /* per call for now */
        st->compute_seconds += e->nodes[i].compute_seconds;
        st->memory_seconds += e->nodes[i].memory_seconds;
        st->flops += e->nodes[i].flops;
        st->bytes += e->nodes[i].bytes;
    }
    for (int k = 0; k < WM_STAGE_COUNT; k++) {
        wm_stage_estimate *st = &e->stages[k];
        const wm_stage_total *rt = &tot->stages[k];
        if (!st->present)
            continue;
        st->selected = rt->selected;
        st->calls = rt->calls;
        if (is_dit((wm_stage)k) && plan->cfg_parallel)
            st->calls = (rt->calls + 1) / 2;
        double per_call = st->seconds, comm = 0.0, comm_bytes = 0.0;
        if (k == WM_STAGE_TEXT_ENCODER && plan->t5_cpu) {
            st->on_host = true;
            per_call = st->flops / (host->cpu_tflops * 1e12);
            st->compute_seconds = per_call;
            st->memory_seconds = 0.0;
            st->bytes = 0.0;
        }
        if (is_dit((wm_stage)k)) {
            /* self-attention calls per forward: the SDPA leaves over video tokens */
            const double attn_calls = facts[k].attn_calls, attn_compute = facts[k].attn_compute;
            /* FSDP wraps each transformer block (and VACE block): one all-gather each */
            const uint64_t blocks = c->num_layers + c->vace_layers_count;
            const double local = Bg * Lg * d_model * x.e; /* one q/k/v/o shard */
            if (plan->ulysses > 1) {
                const double U = (double)plan->ulysses;
                const double b = 4.0 * local * (U - 1.0) / U * attn_calls;
                comm_bytes += b;
                comm += seconds_of_bytes(b, ic, eff->interconnect) + 4.0 * attn_calls * lat;
            }
            if (plan->ring > 1) {
                const double R = (double)plan->ring;
                const double b = (R - 1.0) * 2.0 * local / (double)plan->ulysses * attn_calls;
                comm_bytes += b;
                /* passed around the ring while the blocks already here are attended */
                const double t = seconds_of_bytes(b, ic, eff->interconnect) +
                                 (R - 1.0) * attn_calls * lat;
                comm += fmax(0.0, t - attn_compute);
            }
            if (plan->fsdp) {
                /* FSDP all-gathers each block's weights (16-bit, or the quantised bytes)
                 * before it runs, on the critical path */
                const double N = (double)plan->gpus;
                const double wb = (double)rt->params * fmin(dit_storage_bytes(&x), 2.0);
                const double b = wb * (N - 1.0) / N;
                comm_bytes += b;
                comm += seconds_of_bytes(b, ic, eff->interconnect) + (double)blocks * lat;
            }
            if (plan->cfg_parallel) {
                /* the two halves of the guidance exchange their noise predictions */
                const double b = (double)w->batch_size / x.dp * (double)c->out_channels *
                                 (double)(g->latent_frames * g->latent_height * g->latent_width) *
                                 4.0;
                comm_bytes += b;
                comm += seconds_of_bytes(b, ic, eff->interconnect) + lat;
            }
            if (plan->ulysses * plan->ring > 1) /* the output gathered from the sequence shards */
                comm += lat;
        }
        if (k == WM_STAGE_TEXT_ENCODER && plan->fsdp && !plan->t5_cpu) {
            const double N = (double)plan->gpus;
            const double b = (double)rt->weight_bytes * (N - 1.0) / N;
            comm_bytes += b;
            comm += seconds_of_bytes(b, ic, eff->interconnect) +
                    (double)c->text_encoder.num_layers * lat;
        }
        st->comm_seconds = comm * (double)st->calls;
        st->comm_bytes = comm_bytes * (double)st->calls;
        st->seconds = (per_call + comm) * (double)st->calls;
        st->compute_seconds *= (double)st->calls;
        st->memory_seconds *= (double)st->calls;
        st->flops *= (double)st->calls;
        st->bytes *= (double)st->calls;
        st->mfu = st->seconds > 0.0 && !st->on_host
                      ? st->flops / (st->seconds * di->bf16_tflops * 1e12)
                      : 0.0;
        st->bound = st->on_host ? WM_BOUND_HOST
                    : st->comm_seconds > fmax(st->compute_seconds, st->memory_seconds)
                        ? WM_BOUND_COMM
                    : st->compute_seconds >= st->memory_seconds ? WM_BOUND_COMPUTE
                                                                : WM_BOUND_MEMORY;
    }

    /* 3. Memory per GPU, phase by phase. */
    uint64_t wdev[WM_STAGE_COUNT] = {0};
    for (int k = 0; k < WM_STAGE_COUNT; k++) {
        const wm_stage_total *rt = &tot->stages[k];
        if (!rt->present)
            continue;
        double wb = (double)rt->weight_bytes;
        if (is_dit((wm_stage)k)) {
            /* the fp32-kept parameters stay 4 bytes; the rest at the stored precision */
            const uint64_t kept = facts[k].fp32_params;
            wb = (double)(rt->params - kept) * dit_storage_bytes(&x) + (double)kept * 4.0;
        }
        if (plan->fsdp && (is_dit((wm_stage)k) || k == WM_STAGE_TEXT_ENCODER)) {
            const double per_block =
                is_dit((wm_stage)k) && c->num_layers
                    ? (double)rt->params / (double)c->num_layers * fmin(dit_storage_bytes(&x), 2.0)
                    : (double)rt->weight_bytes / (double)(c->text_encoder.num_layers
                                                              ? c->text_encoder.num_layers
                                                              : 1);
            wb = wb / (double)plan->gpus + per_block; /* the shard and one gathered block */
        }
        if (k == WM_STAGE_TEXT_ENCODER && plan->t5_cpu)
            wb = 0.0;
        if (!to_bytes(wb, &wdev[k]))
            goto overflow;
        e->stages[k].weight_bytes = wdev[k];
    }
    const uint64_t runtime =
        (uint64_t)((eff->runtime_overhead_gb + (plan->gpus > 1 ? eff->collective_buffers_gb : 0.0)) *
                   1e9);
    for (int k = 0; k < WM_STAGE_COUNT; k++) {
        wm_stage_estimate *st = &e->stages[k];
        if (!st->present || (k == WM_STAGE_TEXT_ENCODER && plan->t5_cpu))
            continue;
        const double act = is_dit((wm_stage)k) ? dit_activations(&x, g)
                                                : other_activations(&x, (wm_stage)k, &facts[k]);
        if (!to_bytes(act, &st->activation_bytes))
            goto overflow;
        /* resident: the stage's own weights, the small fp32 components (VAE, CLIP), and,
         * without offload, everything else the pipeline loaded */
        uint64_t resident = wdev[k];
        for (int o = 0; o < WM_STAGE_COUNT; o++) {
            if (o == k)
                continue;
            const bool small = o == WM_STAGE_VAE_DECODE || o == WM_STAGE_VAE_ENCODE ||
                               o == WM_STAGE_IMAGE_ENCODER;
            if ((small || !plan->offload_model) && !wm_add(resident, wdev[o], &resident))
                goto overflow;
        }
        uint64_t peak = 0;
        if (!wm_add(resident, st->activation_bytes, &peak) || !wm_add(peak, runtime, &peak))
            goto overflow;
        if (peak > T->peak_bytes_per_gpu) {
            T->peak_bytes_per_gpu = peak;
            T->peak_stage = (wm_stage)k;
        }
    }
    T->memory_bytes = (uint64_t)(d->memory_gb * 1e9);
    T->fits = T->peak_bytes_per_gpu <= T->memory_bytes;

    /* 4. The generation. */
    if (plan->offload_model) {
        /* per generation: each transformer and the text encoder (on the GPU) go in and out;
         * counted with their stage (--stages) */
        double moved = 0.0;
        for (int k = 0; k < WM_STAGE_COUNT; k++)
            if (e->stages[k].present && e->stages[k].selected &&
                (is_dit((wm_stage)k) || (k == WM_STAGE_TEXT_ENCODER && !plan->t5_cpu)))
                moved += 2.0 * (double)wdev[k];
        T->offload_seconds = seconds_of_bytes(moved, d->pcie_gbs, eff->host_transfer);
    }
    for (int k = 0; k < WM_STAGE_COUNT; k++)
        if (e->stages[k].present && e->stages[k].selected)
            T->total_seconds += e->stages[k].seconds;
    T->total_seconds += T->offload_seconds;
    /* the generation's FLOPs (the whole batch, the selected stages) over what every GPU of
     * the plan could do at the bf16 peak in that time */
    T->mfu = T->total_seconds > 0.0
                 ? (double)tot->flops /
                       (T->total_seconds * (double)plan->gpus * di->bf16_tflops * 1e12)
                 : 0.0;
    T->videos_per_hour = T->total_seconds > 0.0
                             ? (double)w->batch_size * 3600.0 / T->total_seconds
                             : 0.0;

    /* 5. Notes. */
    if ((s = add_note(e, err,
                      "time: per node max(compute, memory) + %.0f us launch; compute at the "
                      "dense peak x efficiency (gemm %.2f, %s attention %.2f on %s), memory at "
                      "%.0f%% of %.0f GB/s; see docs/performance-model.md",
                      eff->launch_overhead_us, x.gemm, wm_attn_kernel_name(x.kernel),
                      x.kernel == WM_ATTN_MATH ? x.gemm
                                               : wm_devices_attention_eff(db, x.kernel, d->arch),
                      d->arch, eff->memory * 100.0, d->memory_bandwidth_gbs)))
        goto fail;
    if (x.official &&
        (s = add_note(e, err,
                      "impl official: %sthe residual stream is fp32 and RoPE runs in fp64, as "
                      "in the official Wan code",
                      plan->convert_model_dtype
                          ? "the transformer's weights are held in the compute dtype "
                            "(--convert-model-dtype); "
                          : "the transformer's weights stay in the checkpoint's fp32 and are "
                            "cast per call (autocast); ")))
        goto fail;
    if (group > 1 &&
        (s = add_note(e, err,
                      "parallel: the text encoder, image encoder and VAE run unsplit (on every "
                      "GPU, the VAE decode on one); only the transformer is split")))
        goto fail;
    if (!T->fits &&
        (s = add_note(e, err,
                      "memory: the peak of %.1f GB per GPU (%s phase) exceeds the %s's %.0f GB; "
                      "try --offload-model, --t5-cpu, --fsdp, more GPUs or a smaller precision",
                      (double)T->peak_bytes_per_gpu / 1e9, wm_stage_name(T->peak_stage), d->id,
                      d->memory_gb)))
        goto fail;
    if (x.kernel == WM_ATTN_MATH &&
        (s = add_note(e, err,
                      "attention kernel math: the score matrix (B x heads x Lq x Lk, fp32) is "
                      "written to memory; it is not in the peak memory, which assumes the "
                      "scores of one head at a time")))
        goto fail;
    *out = e;
    return WM_OK;
overflow:
    s = wm_error_set(err, WM_E_OVERFLOW, "estimate.peak_bytes_per_gpu",
                     "use a smaller batch or video",
                     "the memory per GPU exceeds %llu bytes (2^63 - 1)",
                     (unsigned long long)WM_COUNT_MAX);
fail:
    wm_estimate_free(e);
    return s;
}

void wm_estimate_free(wm_estimate *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->nnotes; i++)
        free(e->notes[i]);
    free(e->notes);
    free(e->nodes);
    free(e);
}

const wm_report *wm_estimate_report(const wm_estimate *e) { return e->r; }
const wm_plan *wm_estimate_plan(const wm_estimate *e) { return &e->plan; }
const wm_node_time *wm_estimate_nodes(const wm_estimate *e) { return e->nodes; }
const wm_stage_estimate *wm_estimate_stages(const wm_estimate *e) { return e->stages; }
const wm_estimate_totals *wm_estimate_totals_get(const wm_estimate *e) { return &e->totals; }
size_t wm_estimate_note_count(const wm_estimate *e) { return e->nnotes; }
const char *wm_estimate_note(const wm_estimate *e, size_t i)
{
    return i < e->nnotes ? e->notes[i] : NULL;
}
const wm_device_info *wm_estimate_device(const wm_estimate *e) { return &e->dev; }
