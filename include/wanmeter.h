/*
 * wanmeter.h — the one public header of libwanmeter.
 *
 * wanmeter is an exact analytic cost model of the Wan video diffusion models: given a model
 * configuration and a workload it builds the layer tree of the diffusers pipeline and counts,
 * per module, the FLOPs that torch.utils.flop_counter.FlopCounterMode would count, the
 * parameters, and the bytes read and written.
 *
 * Ownership, once for the whole API:
 *   - A wm_model owns every node and string of its layer tree; they live until wm_model_free.
 *   - A wm_report owns its per-node counts and notes and borrows its wm_model, which must
 *     outlive it. wm_report_free releases only what the report owns.
 *   - A wm_config owns what it read; presets and workloads obtained from it are copied out
 *     by value into caller structs.
 *   - Every fallible call returns a wm_status and, when `err` is not NULL, fills it. The
 *     library never prints and never exits.
 *
 * Counts are exact unsigned 64-bit integers, bounded by WM_COUNT_MAX (the largest JSON integer
 * that every mainstream reader keeps exactly as a signed 64-bit value); going past it is an
 * overflow error naming the node, never a silent wrap. Rates and times are doubles, derived
 * from the counts at the end.
 */
#ifndef WANMETER_H
#define WANMETER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WM_VERSION "0.1.0"
#define WM_SCHEMA_VERSION 1
#define WM_COUNT_MAX ((uint64_t)INT64_MAX)

/* ---- status and errors ------------------------------------------------------------------ */

#define WM_STATUS_LIST(X)                                                                      \
    X(WM_OK, "ok")                                                                             \
    X(WM_E_INPUT, "invalid input")           /* a value, flag or config entry is not valid */ \
    X(WM_E_OVERFLOW, "overflow")             /* a count does not fit in WM_COUNT_MAX */       \
    X(WM_E_IO, "i/o error")                  /* a file could not be read or written */        \
    X(WM_E_VERIFY, "verification failed")    /* a comparison exceeded its tolerance */         \
    X(WM_E_INTERNAL, "internal error")       /* a bug in wanmeter, or out of memory */

typedef enum wm_status {
#define WM_X_ENUM(name, text) name,
    WM_STATUS_LIST(WM_X_ENUM)
#undef WM_X_ENUM
    WM_STATUS_COUNT
} wm_status;

const char *wm_status_name(wm_status s);

/* An error is a code and a message in three parts, so the CLI can print
 *   wanmeter: <what>: <why> (<fix>)
 * `what` names the field, flag, file or node; `fix` says what to do. `file`/`line`/`column`
 * locate config errors (line and column are 1-based; 0 = unknown). */
typedef struct wm_error {
    wm_status code;
    char what[192];
    char why[512];
    char fix[320];
    char file[256];
    int line;
    int column;
} wm_error;

void wm_error_clear(wm_error *err);
/* Fills `err` (when not NULL) and returns `code`. `fix` may be NULL. */
wm_status wm_error_set(wm_error *err, wm_status code, const char *what, const char *fix,
                       const char *why_fmt, ...) __attribute__((format(printf, 5, 6)));
/* Formats "<what>: <why> (<fix>)" with file:line:column in front of `what` when known. */
size_t wm_error_format(const wm_error *err, char *buf, size_t cap);

/* ---- enumerations ----------------------------------------------------------------------- */

/* Data types of weights and activations: name, bytes per element. */
#define WM_DTYPE_LIST(X)                                                                       \
    X(WM_DTYPE_BF16, "bf16", 2)                                                                \
    X(WM_DTYPE_FP16, "fp16", 2)                                                                \
    X(WM_DTYPE_FP32, "fp32", 4)

typedef enum wm_dtype {
#define WM_X_ENUM(name, text, bytes) name,
    WM_DTYPE_LIST(WM_X_ENUM)
#undef WM_X_ENUM
    WM_DTYPE_COUNT
} wm_dtype;

const char *wm_dtype_name(wm_dtype d);
unsigned wm_dtype_bytes(wm_dtype d);
bool wm_dtype_parse(const char *s, wm_dtype *out);

/* Counting modes (DESIGN §3):
 *   torch      what FlopCounterMode counts on the meta device or CUDA: matmuls, convolutions
 *              and attention cores; elementwise work counts 0.
 *   torch-cpu  what torch 2.13.0 counts on the CPU: as `torch`, but the fused CPU attention
 *              kernel has no FLOP formula there, so attention cores count 0.
 *   full       `torch` plus elementwise work (norms, RoPE, softmax, activations, modulation,
 *              residuals) as separate vector FLOPs; see docs/formulas.md for per-element costs. */
#define WM_MODE_LIST(X)                                                                        \
    X(WM_MODE_TORCH, "torch")                                                                  \
    X(WM_MODE_TORCH_CPU, "torch-cpu")                                                          \
    X(WM_MODE_FULL, "full")

typedef enum wm_mode {
#define WM_X_ENUM(name, text) name,
    WM_MODE_LIST(WM_X_ENUM)
#undef WM_X_ENUM
    WM_MODE_COUNT
} wm_mode;

const char *wm_mode_name(wm_mode m);
bool wm_mode_parse(const char *s, wm_mode *out);

/* Op kinds: one cost function each (src/ops.c), whose comment states the formula and what
 * FlopCounterMode does and does not count. Columns: enum, name, the aten key FlopCounterMode
 * records on the meta device ("" = nothing recorded). */
#define WM_OP_LIST(X)                                                                          \
    X(WM_OP_MODULE, "module", "")            /* a container: its work is its children's */    \
    X(WM_OP_LINEAR, "linear", "aten.addmm")  /* y = x W^T + b */                              \
    X(WM_OP_CONV3D, "conv3d", "aten.convolution")                                              \
    X(WM_OP_SDPA, "sdpa", "aten.bmm")        /* attention core (math path on meta) */          \
    X(WM_OP_LAYERNORM, "layernorm", "")                                                        \
    X(WM_OP_RMSNORM, "rmsnorm", "")                                                            \
    X(WM_OP_ROPE, "rope", "")                                                                  \
    X(WM_OP_GELU_TANH, "gelu_tanh", "")                                                        \
    X(WM_OP_SILU, "silu", "")                                                                  \
    X(WM_OP_SINUSOID, "sinusoid", "")        /* sinusoidal timestep projection */             \
    X(WM_OP_MODULATE, "modulate", "")        /* x * (1 + scale) + shift */                    \
    X(WM_OP_GATED_ADD, "gated_add", "")      /* x + y * gate */                               \
    X(WM_OP_ADD, "add", "")                  /* x + y */

typedef enum wm_op {
#define WM_X_ENUM(name, text, aten) name,
    WM_OP_LIST(WM_X_ENUM)
#undef WM_X_ENUM
    WM_OP_COUNT
} wm_op;

const char *wm_op_name(wm_op op);
/* The aten key FlopCounterMode files the op's own work under on the meta device, or "" for
 * work it does not count; in mode torch-cpu the attention core has none. A linear without bias
 * is aten.mm (see wm_node_aten). */
const char *wm_op_aten(wm_op op, wm_mode mode);

/* Categories a leaf's work is reported under. */
#define WM_CATEGORY_LIST(X)                                                                    \
    X(WM_CAT_NONE, "-")                      /* containers */                                  \
    X(WM_CAT_ATTN_PROJ, "attention projections")                                               \
    X(WM_CAT_ATTN_CORE, "attention core")                                                      \
    X(WM_CAT_MLP, "mlp")                                                                       \
    X(WM_CAT_PATCH_EMBED, "patch embedding")                                                   \
    X(WM_CAT_COND_EMBED, "conditioning embedders")                                             \
    X(WM_CAT_HEAD, "head")                                                                     \
    X(WM_CAT_CONV, "convolutions")           /* the VAE's convolutions */                     \
    X(WM_CAT_ELEMENTWISE, "norms/elementwise")

typedef enum wm_category {
#define WM_X_ENUM(name, text) name,
    WM_CATEGORY_LIST(WM_X_ENUM)
#undef WM_X_ENUM
    WM_CAT_COUNT
} wm_category;

const char *wm_category_name(wm_category c);

/* Pipeline stages, in the order a generation runs them. Each is a set of top-level modules
 * (roots of the layer tree) named by their diffusers pipeline path; `calls` says how often a
 * stage runs in one generation (evaluation sets it):
 *   text_encoder    forwards per step (prompt, and the negative prompt under guidance), batch B
 *   image_encoder   once (I2V/FLF2V)
 *   vae_encode      once (I2V/FLF2V/VACE conditioning)
 *   transformer     steps x forwards per step (Wan2.2 A14B: the high-noise steps)
 *   transformer_2   Wan2.2 A14B: the low-noise steps x forwards per step
 *   vae_decode      once */
#define WM_STAGE_LIST(X)                                                                       \
    X(WM_STAGE_TEXT_ENCODER, "text_encoder")                                                   \
    X(WM_STAGE_IMAGE_ENCODER, "image_encoder")                                                 \
    X(WM_STAGE_VAE_ENCODE, "vae_encode")                                                       \
    X(WM_STAGE_TRANSFORMER, "transformer")                                                     \
    X(WM_STAGE_TRANSFORMER_2, "transformer_2")                                                 \
    X(WM_STAGE_VAE_DECODE, "vae_decode")

typedef enum wm_stage {
#define WM_X_ENUM(name, text) name,
    WM_STAGE_LIST(WM_X_ENUM)
#undef WM_X_ENUM
    WM_STAGE_COUNT
} wm_stage;

const char *wm_stage_name(wm_stage s);
bool wm_stage_parse(const char *s, wm_stage *out);

/* ---- model configuration (one field per diffusers config.json field) --------------------- */

/* vae/config.json (diffusers AutoencoderKLWan). */
typedef struct wm_vae_config {
    char class_name[64];          /* "AutoencoderKLWan" */
    uint64_t base_dim;            /* encoder base channels (96; 160 for the Wan2.2 VAE) */
    uint64_t decoder_base_dim;    /* 0 = null: base_dim */
    uint64_t z_dim;               /* latent channels (16; 48) */
    uint64_t dim_mult[8];
    size_t dim_mult_count;
    uint64_t num_res_blocks;
    double attn_scales[8];
    size_t attn_scales_count;
    bool temperal_downsample[8];  /* (sic: diffusers' spelling) */
    size_t temperal_downsample_count;
    bool is_residual;             /* Wan2.2 VAE */
    uint64_t in_channels;         /* 3 */
    uint64_t out_channels;        /* 3 */
    uint64_t patch_size;          /* 0 = null; 2 for the Wan2.2 VAE (pixel patchify) */
    uint64_t scale_factor_temporal;
    uint64_t scale_factor_spatial;
} wm_vae_config;

/* text_encoder/config.json (transformers UMT5EncoderModel, UMT5Config). */
typedef struct wm_text_encoder_config {
    char class_name[64];          /* "UMT5EncoderModel" */
    uint64_t d_model, d_ff, d_kv, num_heads, num_layers, vocab_size;
    uint64_t relative_attention_num_buckets, relative_attention_max_distance;
    char feed_forward_proj[32];   /* "gated-gelu" */
    double layer_norm_epsilon;
} wm_text_encoder_config;

/* image_encoder/config.json (transformers CLIPVisionModel, CLIPVisionConfig). */
typedef struct wm_image_encoder_config {
    char class_name[64];          /* "CLIPVisionModel" */
    uint64_t hidden_size, intermediate_size, num_hidden_layers, num_attention_heads;
    uint64_t image_size, patch_size, num_channels, projection_dim;
    char hidden_act[32];          /* "gelu" */
    double layer_norm_eps;
} wm_image_encoder_config;

/* The pipeline's own settings (model_index.json, scheduler, pipeline defaults). */
typedef struct wm_pipeline_config {
    uint64_t vae_scale_factor_temporal;
    uint64_t vae_scale_factor_spatial;
    double boundary_ratio;        /* Wan2.2 A14B: two experts (transformer, transformer_2), the
                                   * switch at t >= ratio * 1000; 0 = one transformer */
    bool expand_timesteps;        /* Wan2.2 TI2V-5B: per-token timestep */
    double flow_shift;            /* scheduler shift (used for the A14B step split) */
    uint64_t num_train_timesteps; /* 1000 */
} wm_pipeline_config;

/* Which implementation's counted work to model (--impl): diffusers (default) or the official Wan
 * code, which always pads the text to 512 tokens, runs CLIP's first 31 blocks, and (Wan2.2)
 * embeds the timestep per token (WAN_FACTS §9). */
typedef enum wm_impl { WM_IMPL_DIFFUSERS, WM_IMPL_OFFICIAL } wm_impl;

/* A model: its transformer (flat fields, the transformer/config.json of the diffusers snapshot)
 * and the other components of its pipeline. A component whose `has_` flag is false is not in
 * the preset: its stage is reported as not modelled. */
typedef struct wm_model_config {
    char id[64];            /* preset name, e.g. "wan2.1-t2v-14b" */
    char variant[32];       /* "t2v", ... */
    char source[320];       /* where the numbers came from: "preset" or "file:line" */
    char workload[64];      /* the model's native workload (its pipeline defaults), or "" */
    wm_impl impl;           /* set by the caller before wm_model_build */
    /* transformer/config.json */
    char class_name[64];    /* _class_name: "WanTransformer3DModel" */
    uint64_t patch_size[3]; /* (t, h, w) */
    uint64_t num_attention_heads;
    uint64_t attention_head_dim;
    uint64_t in_channels;
    uint64_t out_channels;
    uint64_t text_dim;
    uint64_t freq_dim;
    uint64_t ffn_dim;
    uint64_t num_layers;
    bool cross_attn_norm;
    char qk_norm[32];       /* "rms_norm_across_heads" */
    double eps;
    uint64_t image_dim;          /* 0 = null (no image embedder) */
    uint64_t added_kv_proj_dim;  /* 0 = null */
    uint64_t rope_max_seq_len;
    uint64_t pos_embed_seq_len;  /* 0 = null */
    uint64_t vace_layers[64];    /* WanVACETransformer3DModel: blocks with a VACE block */
    size_t vace_layers_count;    /* 0 = not a VACE model */
    uint64_t vace_in_channels;
    /* the other components */
    bool has_vae, has_text_encoder, has_image_encoder;
    wm_vae_config vae;
    wm_text_encoder_config text_encoder;
    wm_image_encoder_config image_encoder;
    wm_pipeline_config pipeline;
} wm_model_config;

/* Checks ranges and consistency (heads × head_dim, patch sizes, ...). */
wm_status wm_model_config_validate(const wm_model_config *cfg, wm_error *err);

/* ---- workload ---------------------------------------------------------------------------- */

typedef struct wm_workload {
    char profile_id[64];
    uint64_t batch_size;
    uint64_t num_frames;          /* pixel frames */
    uint64_t height, width;       /* pixels */
    uint64_t num_inference_steps;
    uint64_t text_len;            /* text tokens fed to the transformer */
    bool cfg;                     /* classifier-free guidance: 2 DiT forwards per step */
    wm_dtype dtype;
    wm_mode mode;
    uint32_t stages;              /* bit (1 << wm_stage) per stage counted in totals.flops;
                                   * 0 = every stage the model has */
} wm_workload;

static inline uint64_t wm_workload_forwards_per_step(const wm_workload *w) { return w->cfg ? 2 : 1; }

/* ---- geometry: the only place pixels become latents and tokens --------------------------- */

typedef struct wm_geometry {
    uint64_t latent_frames;    /* T = (F - 1) // st + 1 */
    uint64_t latent_height;    /* h = H / ss */
    uint64_t latent_width;     /* w = W / ss */
    uint64_t tokens_frames;    /* T // pt */
    uint64_t tokens_height;    /* h // ph */
    uint64_t tokens_width;     /* w // pw */
    uint64_t tokens_per_frame; /* (h // ph) * (w // pw) */
    uint64_t dit_seq_len;      /* L */
    bool frames_not_4n1;       /* F is not st*n + 1 */
    uint64_t pipeline_frames;  /* what the diffusers pipeline would round F to */
    char note[320];            /* the rounding note when frames_not_4n1, else "" */
} wm_geometry;

wm_status wm_geometry_compute(const wm_model_config *cfg, const wm_workload *w, wm_geometry *g,
                              wm_error *err);

/* ---- configuration: presets, workloads, tolerances (configs/wanmeter.yaml) -------------- */

typedef struct wm_config wm_config;

/* Loads the built-in configuration and, when `user_path` is not NULL, merges that YAML file
 * over it, then resolves `${...}` interpolation. Unknown keys are errors with file:line. */
wm_status wm_config_load(const char *user_path, wm_config **out, wm_error *err);
void wm_config_free(wm_config *cfg);

/* The model preset `name` (NULL: the user file's `model.name`, else `defaults.model`), with the
 * user file's `model:` overrides applied. */
wm_status wm_config_model(const wm_config *cfg, const char *name, wm_model_config *out,
                          wm_error *err);
/* The workload `id` (NULL: the user file's `workload.name`, else `defaults.workload`), with the
 * user file's `workload:` overrides applied. Mode defaults to torch. */
wm_status wm_config_workload(const wm_config *cfg, const char *id, wm_workload *out,
                             wm_error *err);
/* A model read from a local directory: a diffusers snapshot (model_index.json,
 * transformer/config.json, vae/config.json, text_encoder/config.json, optional
 * image_encoder/config.json and scheduler/scheduler_config.json) or an official Wan checkpoint
 * folder (one config.json for the transformer; the other components come from preset `base`,
 * NULL = defaults.model). A missing file or key is an error naming the file and the key;
 * fields that do not change the work are ignored. `source` records the directory. */
wm_status wm_config_model_dir(const wm_config *cfg, const char *dir, const char *base,
                              wm_model_config *out, wm_error *err);
/* The workload for model `mc`: `id` when given, else the user file's selection, else the
 * model's native workload (its `workload:` key), else defaults.workload. */
wm_status wm_config_workload_for(const wm_config *cfg, const char *id, const wm_model_config *mc,
                                 wm_workload *out, wm_error *err);
/* Names of the presets / workloads, in file order. */
size_t wm_config_model_count(const wm_config *cfg);
const char *wm_config_model_name(const wm_config *cfg, size_t i);
size_t wm_config_workload_count(const wm_config *cfg);
const char *wm_config_workload_name(const wm_config *cfg, size_t i);

typedef struct wm_verify_settings {
    char device[16];            /* verify_run.device: meta | cpu | cuda */
    double accept_default;      /* verify_run.accept_rel_diff.* */
    double accept_layers;
    double accept_end2end;
    double accept_core;
    uint64_t end2end_loop_max_forwards;
} wm_verify_settings;

wm_status wm_config_verify(const wm_config *cfg, wm_verify_settings *out, wm_error *err);
/* output.dir: where report artifacts go (default tmp/profile-output). */
const char *wm_config_output_dir(const wm_config *cfg);

/* ---- the layer tree ---------------------------------------------------------------------- */

/* Where a node's row count comes from; resolved per workload. */
typedef enum wm_rows {
    WM_ROWS_ONE,    /* B                    (per-sample vectors: the timestep embedding) */
    WM_ROWS_VIDEO,  /* B * L                (video tokens) */
    WM_ROWS_TEXT,   /* B * Lt               (text tokens) */
    WM_ROWS_IMAGE,  /* B * Li               (image tokens) */
    WM_ROWS_FIXED,  /* B * fixed_len        (a length fixed by the model: CLIP's 257 tokens) */
    WM_ROWS_GRID,   /* B * frames * hh * ww: a VAE feature map, from the node's grid fields:
                     * frames = max(0, t_mul * T + t_add), hh = h * hw_mul / hw_div (ww alike),
                     * T, h, w the latent sizes. For an SDPA node: per-frame attention, batch
                     * B * frames, Lq = Lk = hh * ww. */
    WM_ROWS_COUNT
} wm_rows;

/* One module (or functional op, id with '#') of the forward, in pre-order: a parent always
 * comes before its children. Shape arguments are op-specific:
 *   LINEAR     rows = rows source, k = in_features, n = out_features, bias
 *   CONV3D     k = in_channels, n = out_channels, kernel/stride in `kernel`
 *   SDPA       q rows = rows source (Lq), kv = rows source of the keys (Lk), heads, head_dim
 *   elementwise: rows = rows source, k = elements per row (width)                            */
typedef struct wm_node {
    const char *id;        /* "transformer.blocks.0.attn1.to_q" */
    const char *name;      /* last path component, "to_q" or "#sdpa" */
    int32_t parent;        /* index of the parent, -1 for a root */
    int32_t depth;         /* 0 for a root */
    wm_op op;
    wm_category category;
    wm_rows rows;
    wm_rows kv_rows;       /* SDPA keys */
    uint64_t k, n;
    uint64_t heads, head_dim;
    uint64_t kernel[3];
    bool bias;
    bool fp32_params;      /* kept in fp32 by diffusers (_keep_in_fp32_modules) */
    uint64_t params;       /* this node's own parameters, children excluded */
    wm_stage stage;        /* the pipeline stage the node belongs to */
    uint32_t batch_mul;    /* rows are B * batch_mul * ... (FLF2V encodes 2 images); >= 1 */
    uint64_t fixed_len;    /* WM_ROWS_FIXED */
    int32_t t_mul, t_add;  /* WM_ROWS_GRID: frames = t_mul * T + t_add */
    uint32_t hw_mul, hw_div; /* WM_ROWS_GRID: spatial scale from the latent h, w */
    bool explicit_matmul;  /* SDPA written as two matmuls (umT5): counted on every device */
    uint32_t subtree_size; /* this node and its descendants: nodes [i, i + subtree_size) */
    int32_t repeat_of;     /* a structurally identical earlier sibling subtree (blocks.1..N-1
                            * -> blocks.0), or -1; its counts equal the original's for every
                            * workload, so evaluation copies them */
} wm_node;

/* The aten key of the node's own work: wm_op_aten, with aten.mm for a linear without bias and
 * aten.bmm for an attention written as explicit matmuls (counted in torch-cpu too). */
const char *wm_node_aten(const wm_node *nd, wm_mode mode);

typedef struct wm_model wm_model;

wm_status wm_model_build(const wm_model_config *cfg, wm_model **out, wm_error *err);
void wm_model_free(wm_model *m);
size_t wm_model_node_count(const wm_model *m);
const wm_node *wm_model_nodes(const wm_model *m);
const wm_model_config *wm_model_get_config(const wm_model *m);
/* Index of the node with this id, or -1. */
int32_t wm_model_find(const wm_model *m, const char *id);

/* ---- evaluation: counts for one workload -------------------------------------------------- */

typedef struct wm_counts {
    uint64_t calls;          /* times this call happens in one generation */
    uint64_t flops;          /* ONE call, children included: matrix + vector */
    uint64_t matrix_flops;   /* matmul / conv / attention-core FLOPs (FlopCounterMode's) */
    uint64_t vector_flops;   /* elementwise FLOPs, `full` mode only */
    uint64_t params;         /* children included */
    uint64_t weight_bytes;   /* children included, at the workload dtype (fp32 where kept) */
    uint64_t bytes_read;     /* ONE call, children included */
    uint64_t bytes_written;  /* ONE call, children included */
} wm_counts;

typedef struct wm_stage_total {
    bool present;                   /* the model has this stage */
    bool selected;                  /* counted in totals.flops */
    uint64_t calls;                 /* per generation */
    uint64_t flops_per_call;
    uint64_t flops;                 /* calls * flops_per_call */
    uint64_t params, weight_bytes;
} wm_stage_total;

typedef struct wm_totals {
    uint64_t flops;                 /* whole generation, the selected stages */
    uint64_t transformer_flops;     /* whole generation, the transformer stage(s) only */
    wm_stage_total stages[WM_STAGE_COUNT];
    uint64_t flops_per_forward;     /* one forward of the first transformer */
    uint64_t flops_per_step;        /* forwards_per_step forwards */
    uint64_t matrix_flops_per_forward;
    uint64_t vector_flops_per_forward;
    uint64_t forwards;              /* steps * forwards_per_step (both experts together) */
    uint64_t params;                /* every stage */
    uint64_t weight_bytes;
    uint64_t peak_activation_bytes; /* one forward, flash-style attention: see docs/memory.md */
    uint64_t kv_cache_bytes;        /* 0: a diffusion transformer keeps no KV cache */
    uint64_t bytes_read_per_forward;
    uint64_t bytes_written_per_forward;
} wm_totals;

typedef struct wm_report wm_report;

/* Evaluates `m` for `w`. The report borrows `m`. */
wm_status wm_report_create(const wm_model *m, const wm_workload *w, wm_report **out, wm_error *err);
/* Re-evaluates an existing report for another workload, reusing its memory (sweeps). */
wm_status wm_report_evaluate(wm_report *r, const wm_workload *w, wm_error *err);
void wm_report_free(wm_report *r);

const wm_model *wm_report_model(const wm_report *r);
const wm_workload *wm_report_workload(const wm_report *r);
const wm_geometry *wm_report_geometry(const wm_report *r);
const wm_counts *wm_report_counts(const wm_report *r); /* one per node, same order */
const wm_totals *wm_report_totals(const wm_report *r);
size_t wm_report_note_count(const wm_report *r);
const char *wm_report_note(const wm_report *r, size_t i);
/* Show module names as the official Wan code has them (--names official): the writers print
 * them instead of the diffusers ids, and report.json gains "official_id" per module (ids stay
 * diffusers paths, which verification matches). */
void wm_report_set_official_names(wm_report *r, bool on);
bool wm_report_official_names(const wm_report *r);
/* Node i's id as the writers show it, and its name relative to its parent's shown id. */
void wm_report_display_id(const wm_report *r, size_t i, char *buf, size_t cap);
void wm_report_display_name(const wm_report *r, size_t i, char *buf, size_t cap);
/* Adds a disclosure to `notes` (copied). */
wm_status wm_report_add_note(wm_report *r, const char *note, wm_error *err);

/* ---- hotspots: where the generation's FLOPs go -------------------------------------------- */

#define WM_HOTSPOT_MODULES_MAX 64

typedef struct wm_hotspot {
    char id[256];        /* the module id, with the block index as '*' when the same layer of
                          * several blocks is grouped: "transformer.blocks.*.attn1#sdpa" */
    int32_t node;        /* index of the first instance (a leaf) */
    uint32_t instances;  /* leaves grouped under `id` (40 for a layer of every 14B block) */
    uint64_t flops;      /* calls * flops, summed over the instances: the whole generation */
    double share;        /* of totals.flops */
} wm_hotspot;

typedef struct wm_category_total {
    wm_category category;
    uint64_t flops;      /* whole generation */
    double share;
} wm_category_total;

typedef struct wm_hotspots {
    size_t module_count;
    wm_hotspot modules[WM_HOTSPOT_MODULES_MAX];  /* by FLOPs, largest first; ties by tree order */
    size_t category_count;
    wm_category_total categories[WM_CAT_COUNT];  /* by FLOPs, largest first; only non-zero */
} wm_hotspots;

/* Ranks the leaves (modules and functional ops without children) by whole-generation FLOPs,
 * the same layer of every block grouped into one entry (wm_id_pattern), so the ranking says
 * which kind of layer costs most rather than listing one layer forty times. */
wm_status wm_report_hotspots(const wm_report *r, size_t top_modules, wm_hotspots *out,
                             wm_error *err);

/* The id with block indices replaced by '*': a numeric path component right after a `blocks`
 * or `block` component ("transformer.blocks.3.attn1#sdpa" -> "transformer.blocks.*.attn1#sdpa"). */
void wm_id_pattern(const char *id, char *out, size_t cap);

/* The official Wan code's name for a diffusers module id ("transformer.blocks.3.attn1.to_q" ->
 * "model.blocks.3.self_attn.q"; diffusers' norm2/norm3 are the official norm3/norm2; with two
 * experts, transformer/transformer_2 are high_noise_model/low_noise_model). Ids the official
 * code names alike pass through unchanged. */
void wm_official_id(const char *id, bool two_experts, char *out, size_t cap);

/* ---- writers: each returns a malloc'd NUL-terminated string the caller frees ----------------- */

/* report.json (DESIGN §5). Identical inputs give byte-identical output. */
wm_status wm_report_to_json(const wm_report *r, char **out, wm_error *err);
/* Human-readable shape of node i for this workload, e.g. "[1,75600,5120] x [5120,5120]^T". */
void wm_report_node_shape(const wm_report *r, size_t i, char *buf, size_t cap);

/* Readable table for a terminal: headline totals, the tree down to `depth` (0 = roots only)
 * with FLOPs per call in SI units and their share of the forward, then the hotspots. */
wm_status wm_report_to_table(const wm_report *r, int depth, char **out, wm_error *err);
/* The same content as GitHub-flavoured Markdown. */
wm_status wm_report_to_markdown(const wm_report *r, int depth, char **out, wm_error *err);
/* Every node, one CSV row each (RFC 4180 quoting), header row first. */
wm_status wm_report_to_csv(const wm_report *r, char **out, wm_error *err);
/* summary.md: headline totals, the top-10 modules and top-5 categories, the notes. */
wm_status wm_report_summary_md(const wm_report *r, char **out, wm_error *err);

/* ---- verification against the PyTorch reference (reference/wanmeter_reference.py) --------- */

/* |analytic - reference| / |reference|, computed from the exact difference. 0 when equal;
 * +infinity when the reference is 0 and the analytic value is not (never NaN). */
double wm_rel_diff(uint64_t analytic, uint64_t reference);
/* Formats a relative difference for tables: "0" when exact, "inf" for +infinity, else 3
 * significant digits ("1.53e-07", "0.05"). */
void wm_format_rel_diff(double rel, char *buf, size_t cap);
/* A comparison passes when rel_diff <= tolerance (so tolerance 0 demands exact equality). */
static inline bool wm_within(double rel_diff, double tolerance) { return rel_diff <= tolerance; }

typedef struct wm_reference wm_reference;

/* Reads a reference JSON written by the harness. */
wm_status wm_reference_load(const char *path, wm_reference **out, wm_error *err);
void wm_reference_free(wm_reference *ref);
const char *wm_reference_device(const wm_reference *ref);      /* meta | cpu | cuda */
const char *wm_reference_kind(const wm_reference *ref);        /* vendor | mirror */
const char *wm_reference_versions(const wm_reference *ref);    /* "torch X, diffusers Y" */
bool wm_reference_attention_counted(const wm_reference *ref);
uint64_t wm_reference_flops_per_forward(const wm_reference *ref);
/* The whole-generation measurement, when the harness ran one (false otherwise). `method` is
 * "loop" or "scaled_step". */
bool wm_reference_end2end(const wm_reference *ref, uint64_t *flops, const char **method,
                          uint64_t *forwards_run, uint64_t *forwards_per_generation);

/* The request the harness reads: the stage to measure, the config.json of every component
 * (`configs`; `model` repeats the transformer's), the pipeline settings, the workload, which
 * reference (`kind`: vendor | mirror) on which device (meta | cpu | cuda), and the end-to-end
 * loop limit. A malloc'd JSON string. */
wm_status wm_reference_request_json(const wm_report *r, wm_stage stage, const char *kind,
                                    const char *device, uint64_t loop_max_forwards, char **out,
                                    wm_error *err);

/* Checks that the reference measured the same model and workload as the report: the model
 * config fields, batch, text length and the latent geometry. */
wm_status wm_reference_check_matches(const wm_reference *ref, const wm_report *r, wm_error *err);

typedef enum wm_verify_kind {
    WM_VERIFY_MATCH,            /* both sides have the id */
    WM_VERIFY_MISSING_ANALYTIC, /* the reference has a module wanmeter does not */
    WM_VERIFY_MISSING_REFERENCE /* wanmeter has a module with counted work the reference lacks */
} wm_verify_kind;

typedef struct wm_verify_row {
    char *id;             /* owned by the result */
    int depth;            /* dots in the id */
    wm_verify_kind kind;
    uint64_t analytic, reference;
    double rel_diff;
    bool pass;
} wm_verify_row;

typedef struct wm_verify_result {
    wm_verify_row *rows;  /* analytic tree order, then reference-only ids */
    size_t count;
    size_t failed;
    double max_rel_diff;
} wm_verify_result;

/* Matches every module id of the reference with the report's (functional '#' ops are not
 * modules: FlopCounterMode files their work under the enclosing module, as the report's
 * parent counts do). */
wm_status wm_verify_layers(const wm_report *r, const wm_reference *ref, double tolerance,
                           wm_verify_result *out, wm_error *err);
/* The stage the reference measured (its "stage" field; transformer when absent). */
wm_stage wm_reference_stage(const wm_reference *ref);
/* The report's own invariants: every container equals the sum of its children (FLOPs, params,
 * bytes), the model equals its blocks plus its top-level modules, the tree matches the
 * closed-form totals of docs/formulas.md, and the generation totals equal per-forward ×
 * forwards. Rows are named after the invariant. */
wm_status wm_verify_core(const wm_report *r, double tolerance, wm_verify_result *out,
                         wm_error *err);
void wm_verify_result_free(wm_verify_result *res);

/* Closed forms of one WanTransformer3DModel forward (WAN_FACTS §4) under a counting mode
 * (torch or torch-cpu), and its parameter count: a second formulation the tree is checked
 * against. */
wm_status wm_wan_dit_closed_form(const wm_model_config *c, const wm_workload *w,
                                 const wm_geometry *g, uint64_t *flops, uint64_t *params,
                                 wm_error *err);

/* ---- estimate: time and memory on real GPUs (docs/performance-model.md) ------------------ */

/* The device database: GPUs, hosts and the achievable-efficiency factors (configs/devices.yaml,
 * compiled in; `user_path`, when not NULL, is merged over it). */
typedef struct wm_devices wm_devices;

wm_status wm_devices_load(const char *user_path, wm_devices **out, wm_error *err);
void wm_devices_free(wm_devices *db);
size_t wm_devices_count(const wm_devices *db);
const char *wm_devices_name(const wm_devices *db, size_t i);

/* Numeric precisions of the transformer's GEMMs and weights: name, weight bytes per parameter
 * (x10000, scales included), the device peak the GEMMs run at. bf16/fp16: 16-bit weights and
 * tensor cores. fp8: 8-bit weights with one scale per tensor. fp8-block: 8-bit weights with an
 * fp32 scale per 128x128 block (DeepSeek-style), GEMMs slower by efficiency.fp8_block_scale.
 * fp4: NVFP4, 4-bit weights with an fp8 scale per 16 values. Activations stay 16-bit. */
#define WM_PRECISION_LIST(X)                                                                   \
    X(WM_PREC_BF16, "bf16", 20000, "bf16")                                                     \
    X(WM_PREC_FP16, "fp16", 20000, "fp16")                                                     \
    X(WM_PREC_FP8, "fp8", 10000, "fp8")                                                        \
    X(WM_PREC_FP8_BLOCK, "fp8-block", 10000, "fp8")                                            \
    X(WM_PREC_FP4, "fp4", 5625, "fp4")

typedef enum wm_precision {
#define WM_X_ENUM(name, text, wb, peak) name,
    WM_PRECISION_LIST(WM_X_ENUM)
#undef WM_X_ENUM
    WM_PRECISION_COUNT
} wm_precision;

const char *wm_precision_name(wm_precision p);
bool wm_precision_parse(const char *s, wm_precision *out);

/* Attention kernels: auto (the device's default_attention_kernel), math (two matmuls with the
 * B*H*Lq*Lk score matrix written to memory, as PyTorch's math backend), fa2 (FlashAttention-2
 * and its ports: fused, Q/K/V/O traffic only), fa3 (FlashAttention-3, Hopper), fa3-fp8
 * (FlashAttention-3 with fp8 Q/K/V: fp8 peak, 1-byte Q/K/V). */
#define WM_ATTN_KERNEL_LIST(X)                                                                 \
    X(WM_ATTN_AUTO, "auto")                                                                    \
    X(WM_ATTN_MATH, "math")                                                                    \
    X(WM_ATTN_FA2, "fa2")                                                                      \
    X(WM_ATTN_FA3, "fa3")                                                                      \
    X(WM_ATTN_FA3_FP8, "fa3-fp8")

typedef enum wm_attn_kernel {
#define WM_X_ENUM(name, text) name,
    WM_ATTN_KERNEL_LIST(WM_X_ENUM)
#undef WM_X_ENUM
    WM_ATTN_KERNEL_COUNT
} wm_attn_kernel;

const char *wm_attn_kernel_name(wm_attn_kernel k);
bool wm_attn_kernel_parse(const char *s, wm_attn_kernel *out);

/* How one generation is run: on which GPU, how many, split how. gpus = dp x cfg x ulysses x
 * ring, where dp (data parallel over the batch's requests) is what is left over. */
typedef struct wm_plan {
    char device[64];
    wm_precision precision;
    wm_attn_kernel attention_kernel;
    uint64_t gpus;          /* >= 1 */
    uint64_t ulysses;       /* Ulysses sequence parallel degree (heads split), >= 1 */
    uint64_t ring;          /* Ring attention degree (sequence split, K/V passed around), >= 1 */
    bool cfg_parallel;      /* cond and uncond forwards on two GPU groups */
    bool fsdp;              /* shard the transformer and text encoder weights over the group */
    bool offload_model;     /* the transformer (and text encoder) leave the GPU between stages */
    bool t5_cpu;            /* the text encoder runs on the host CPU */
    bool convert_model_dtype; /* --impl official: hold the transformer's weights in the compute
                               * dtype instead of the checkpoint's fp32 (Wan2.2's
                               * generate.py --convert_model_dtype) */
} wm_plan;

#define WM_PLAN_INIT {.precision = WM_PREC_BF16, .attention_kernel = WM_ATTN_AUTO, .gpus = 1, \
                      .ulysses = 1, .ring = 1}

/* Checks the plan against the device and the report's model and workload: degrees that
 * multiply to at most `gpus` and divide it, heads divisible by ulysses, cfg parallel only with
 * guidance, batch divisible by the data-parallel degree, the precision's peak present (and
 * dense), the attention kernel supported on the device's architecture. */
wm_status wm_plan_validate(const wm_plan *plan, const wm_devices *db, const wm_report *r,
                           wm_error *err);

/* What bounds a node or stage. */
#define WM_BOUND_LIST(X)                                                                       \
    X(WM_BOUND_NONE, "-")                                                                      \
    X(WM_BOUND_COMPUTE, "compute")                                                             \
    X(WM_BOUND_MEMORY, "memory")                                                               \
    X(WM_BOUND_COMM, "communication")                                                          \
    X(WM_BOUND_HOST, "host")

typedef enum wm_bound {
#define WM_X_ENUM(name, text) name,
    WM_BOUND_LIST(WM_X_ENUM)
#undef WM_X_ENUM
    WM_BOUND_COUNT
} wm_bound;

const char *wm_bound_name(wm_bound b);

/* One node on one GPU, one call (containers: the sum of their leaves). */
typedef struct wm_node_time {
    double seconds;          /* max(compute, memory) + launch overhead, per call */
    double compute_seconds;  /* flops / (peak x efficiency) */
    double memory_seconds;   /* bytes / (bandwidth x efficiency.memory) */
    double flops;            /* per GPU, per call (a share under sequence parallelism) */
    double bytes;            /* per GPU, per call: reads + writes at the estimate's precision */
    double intensity;        /* flops / bytes */
    wm_bound bound;
} wm_node_time;

typedef struct wm_stage_estimate {
    bool present;            /* the model has the stage */
    bool selected;           /* counted in total_seconds (--stages) */
    bool on_host;            /* --t5-cpu: the text encoder runs on the CPU */
    uint64_t calls;          /* per generation, on one GPU (cfg parallel halves the DiT's) */
    double seconds;          /* per generation, wall clock: calls x per call + communication */
    double compute_seconds;  /* sum over calls of the compute-bound part */
    double memory_seconds;   /* sum over calls of the memory-bound part */
    double comm_seconds;     /* exposed communication (Ulysses, ring, FSDP, CFG gather) */
    double comm_bytes;       /* sent per GPU over the generation */
    double flops;            /* per GPU over the generation */
    double bytes;            /* per GPU over the generation: memory reads + writes */
    double mfu;              /* flops / (seconds x the device's 16-bit peak: bf16, fp16 with
                              * --dtype fp16) */
    wm_bound bound;          /* the largest of compute, memory, communication, host */
    uint64_t weight_bytes;   /* resident per GPU while the stage runs (sharded under fsdp) */
    uint64_t activation_bytes; /* peak activations per GPU while the stage runs */
} wm_stage_estimate;

typedef struct wm_estimate_totals {
    double total_seconds;       /* one generation (the selected stages), wall clock */
    double offload_seconds;     /* host<->GPU copies of --offload-model per generation */
    double mfu;                 /* generation FLOPs / (total_seconds x gpus x 16-bit peak) */
    double videos_per_hour;     /* batch x 3600 / total_seconds (the replicas share the batch) */
    uint64_t peak_bytes_per_gpu;/* the largest phase: weights resident + activations + runtime */
    uint64_t memory_bytes;      /* the device's memory */
    bool fits;                  /* peak_bytes_per_gpu <= memory_bytes */
    wm_stage peak_stage;        /* the phase with the peak */
    wm_attn_kernel attention_kernel; /* resolved (auto -> the device's default) */
    uint64_t dp;                /* data-parallel replicas: gpus / (cfg x ulysses x ring) */
    uint64_t group;             /* GPUs per generation: cfg x ulysses x ring */
} wm_estimate_totals;

typedef struct wm_estimate wm_estimate;

/* Estimates the report's generation under the plan. The report must count attention (mode
 * torch or full); it is borrowed and must outlive the estimate. */
wm_status wm_estimate_create(const wm_report *r, const wm_devices *db, const wm_plan *plan,
                             wm_estimate **out, wm_error *err);
void wm_estimate_free(wm_estimate *e);
const wm_report *wm_estimate_report(const wm_estimate *e);
const wm_plan *wm_estimate_plan(const wm_estimate *e);
const wm_node_time *wm_estimate_nodes(const wm_estimate *e);      /* one per node */
const wm_stage_estimate *wm_estimate_stages(const wm_estimate *e); /* WM_STAGE_COUNT */
const wm_estimate_totals *wm_estimate_totals_get(const wm_estimate *e);
size_t wm_estimate_note_count(const wm_estimate *e);
const char *wm_estimate_note(const wm_estimate *e, size_t i);

/* The device the estimate used, for writers: name, arch, memory, bandwidth, the precision's
 * peak (TFLOP/s) and the interconnect. */
typedef struct wm_device_info {
    char id[64], name[128], arch[32], interconnect[128], host[128];
    double memory_gb, memory_bandwidth_gbs, interconnect_gbs, pcie_gbs, host_cpu_tflops;
    double peak_tflops;      /* the plan's precision */
    double bf16_tflops;      /* the MFU reference: the bf16 peak (fp16 with --dtype fp16) */
} wm_device_info;
const wm_device_info *wm_estimate_device(const wm_estimate *e);
/* The same facts for a device of the database (peak_tflops = bf16); false when unknown. */
bool wm_devices_info(const wm_devices *db, const char *id, wm_device_info *out);

/* The report.json of the estimate's report with an "estimate" member (plan, device, totals,
 * stages, per-module times). */
wm_status wm_estimate_to_json(const wm_estimate *e, char **out, wm_error *err);
/* Readable table: per-stage time, bound and memory, the plan, then the per-layer tree down to
 * `depth` with times, and the layers that take the most time. */
wm_status wm_estimate_to_table(const wm_estimate *e, int depth, char **out, wm_error *err);
/* The same content as GitHub-flavoured Markdown. */
wm_status wm_estimate_to_markdown(const wm_estimate *e, int depth, char **out, wm_error *err);
/* Every node that runs, one CSV row each (RFC 4180), header first: times per call and per
 * generation, bound, arithmetic intensity, FLOPs and bytes per GPU. */
wm_status wm_estimate_to_csv(const wm_estimate *e, char **out, wm_error *err);

/* Calibration rows (bench/calibration.yaml): published end-to-end measurements with their
 * source, the estimate flags that describe how they were run, and what was measured. */
typedef struct wm_calibration_row {
    char id[64];
    char source[512];
    char *args[48];           /* `wanmeter estimate` flags, owned by the set */
    size_t argc;
    double seconds;           /* measured wall clock of one generation */
    double peak_gb;           /* measured peak memory per GPU (GB = 1e9 bytes), 0 = not given */
} wm_calibration_row;

typedef struct wm_calibration {
    wm_calibration_row *rows;
    size_t count;
    double tolerance;         /* the largest relative error accepted (0.15) */
} wm_calibration;

wm_status wm_calibration_load(const char *path, wm_calibration *out, wm_error *err);
void wm_calibration_free(wm_calibration *c);

/* ---- files -------------------------------------------------------------------------------- */

/* Creates `dir` and its parents (mode 0755), like mkdir -p. */
wm_status wm_mkdirs(const char *dir, wm_error *err);
/* Writes `len` bytes to `path` atomically: a temporary file in the same directory, fsync'd and
 * renamed over `path`, so a reader never sees a half-written file. */
wm_status wm_write_file_atomic(const char *path, const char *data, size_t len, wm_error *err);
/* Reads a whole file into a malloc'd NUL-terminated buffer. */
wm_status wm_read_file(const char *path, char **out, size_t *len, wm_error *err);

#ifdef __cplusplus
}
#endif
#endif /* WANMETER_H */
