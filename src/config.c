/*
 * config.c — configs/wanmeter.yaml (compiled in) plus an optional user file, turned into model
 * configurations, workloads and verification settings.
 *
 * Top-level keys: defaults, models, workloads, verify_run, output (as in configs/wanmeter.yaml)
 * and, in a user file, `model:` and `workload:`: the selection (`name:`) and per-field
 * overrides applied to whatever is selected. A model is sections named like the files of a
 * diffusers snapshot — transformer, vae, text_encoder, image_encoder (their config.json
 * fields) — plus pipeline; a `models.<name>` entry may start from another preset with
 * `base: <preset>`. In `model:` overrides, transformer fields may also be written without the
 * section (`model: {num_layers: 2}`, `models.x: {base: ..., num_layers: 2}`). Every unknown
 * key is an error naming it, with file:line:column.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yaml_tree.h"

extern const char wm_default_config_yaml[];
extern const size_t wm_default_config_yaml_len;

struct wm_config {
    wm_ydoc *doc;
};

/* ---- model fields: one row per config.json field ---------------------------------------- */

typedef enum {
    F_U64,          /* whole number >= 1 */
    F_U64_NULLABLE, /* whole number >= 1, or null (stored as 0) */
    F_BOOL,
    F_DOUBLE,
    F_STRING,
    F_U64_LIST,     /* [whole numbers]; count at count_offset */
    F_BOOL_LIST,
    F_DOUBLE_LIST,
} field_kind;

typedef struct {
    const char *key;
    field_kind kind;
    size_t offset;       /* within the section's struct */
    size_t size;         /* strings: buffer size; lists: capacity (elements) */
    size_t count_offset; /* lists: where the element count goes; SIZE_MAX: exactly `size` */
    bool required;       /* must be given when the section is (else the section's default) */
} field;

#define F(type, key, kind, member, req)                                                       \
    {key, kind, offsetof(type, member), sizeof(((type *)0)->member), SIZE_MAX, req}
#define FA(type, key, kind, member, req)                                                      \
    {key, kind, offsetof(type, member),                                                        \
     sizeof(((type *)0)->member) / sizeof(((type *)0)->member[0]), SIZE_MAX, req}
#define FL(type, key, kind, member, count, req)                                               \
    {key, kind, offsetof(type, member),                                                        \
     sizeof(((type *)0)->member) / sizeof(((type *)0)->member[0]), offsetof(type, count), req}

/* transformer/config.json (WanTransformer3DModel, WanVACETransformer3DModel) */
static const field transformer_fields[] = {
    F(wm_model_config, "_class_name", F_STRING, class_name, true),
    FA(wm_model_config, "patch_size", F_U64_LIST, patch_size, true),
    F(wm_model_config, "num_attention_heads", F_U64, num_attention_heads, true),
    F(wm_model_config, "attention_head_dim", F_U64, attention_head_dim, true),
    F(wm_model_config, "in_channels", F_U64, in_channels, true),
    F(wm_model_config, "out_channels", F_U64, out_channels, true),
    F(wm_model_config, "text_dim", F_U64, text_dim, true),
    F(wm_model_config, "freq_dim", F_U64, freq_dim, true),
    F(wm_model_config, "ffn_dim", F_U64, ffn_dim, true),
    F(wm_model_config, "num_layers", F_U64, num_layers, true),
    F(wm_model_config, "cross_attn_norm", F_BOOL, cross_attn_norm, true),
    F(wm_model_config, "qk_norm", F_STRING, qk_norm, true),
    F(wm_model_config, "eps", F_DOUBLE, eps, true),
    F(wm_model_config, "image_dim", F_U64_NULLABLE, image_dim, false),
    F(wm_model_config, "added_kv_proj_dim", F_U64_NULLABLE, added_kv_proj_dim, false),
    F(wm_model_config, "rope_max_seq_len", F_U64, rope_max_seq_len, true),
    F(wm_model_config, "pos_embed_seq_len", F_U64_NULLABLE, pos_embed_seq_len, false),
    FL(wm_model_config, "vace_layers", F_U64_LIST, vace_layers, vace_layers_count, false),
    F(wm_model_config, "vace_in_channels", F_U64_NULLABLE, vace_in_channels, false),
};

/* vae/config.json (AutoencoderKLWan); latents_mean/std and dropout do not change the work */
static const field vae_fields[] = {
    F(wm_vae_config, "_class_name", F_STRING, class_name, false),
    F(wm_vae_config, "base_dim", F_U64, base_dim, true),
    F(wm_vae_config, "decoder_base_dim", F_U64_NULLABLE, decoder_base_dim, false),
    F(wm_vae_config, "z_dim", F_U64, z_dim, true),
    FL(wm_vae_config, "dim_mult", F_U64_LIST, dim_mult, dim_mult_count, true),
    F(wm_vae_config, "num_res_blocks", F_U64, num_res_blocks, true),
    FL(wm_vae_config, "attn_scales", F_DOUBLE_LIST, attn_scales, attn_scales_count, false),
    FL(wm_vae_config, "temperal_downsample", F_BOOL_LIST, temperal_downsample,
       temperal_downsample_count, true),
    F(wm_vae_config, "is_residual", F_BOOL, is_residual, false),
    F(wm_vae_config, "in_channels", F_U64, in_channels, false),
    F(wm_vae_config, "out_channels", F_U64, out_channels, false),
    F(wm_vae_config, "patch_size", F_U64_NULLABLE, patch_size, false),
    F(wm_vae_config, "scale_factor_temporal", F_U64, scale_factor_temporal, false),
    F(wm_vae_config, "scale_factor_spatial", F_U64, scale_factor_spatial, false),
};

/* text_encoder/config.json (UMT5EncoderModel) */
static const field text_encoder_fields[] = {
    F(wm_text_encoder_config, "_class_name", F_STRING, class_name, false),
    F(wm_text_encoder_config, "d_model", F_U64, d_model, true),
    F(wm_text_encoder_config, "d_ff", F_U64, d_ff, true),
    F(wm_text_encoder_config, "d_kv", F_U64, d_kv, true),
    F(wm_text_encoder_config, "num_heads", F_U64, num_heads, true),
    F(wm_text_encoder_config, "num_layers", F_U64, num_layers, true),
    F(wm_text_encoder_config, "vocab_size", F_U64, vocab_size, true),
    F(wm_text_encoder_config, "relative_attention_num_buckets", F_U64,
      relative_attention_num_buckets, true),
    F(wm_text_encoder_config, "relative_attention_max_distance", F_U64,
      relative_attention_max_distance, false),
    F(wm_text_encoder_config, "feed_forward_proj", F_STRING, feed_forward_proj, true),
    F(wm_text_encoder_config, "layer_norm_epsilon", F_DOUBLE, layer_norm_epsilon, false),
};

/* image_encoder/config.json (CLIPVisionModel) */
static const field image_encoder_fields[] = {
    F(wm_image_encoder_config, "_class_name", F_STRING, class_name, false),
    F(wm_image_encoder_config, "hidden_size", F_U64, hidden_size, true),
    F(wm_image_encoder_config, "intermediate_size", F_U64, intermediate_size, true),
    F(wm_image_encoder_config, "num_hidden_layers", F_U64, num_hidden_layers, true),
    F(wm_image_encoder_config, "num_attention_heads", F_U64, num_attention_heads, true),
    F(wm_image_encoder_config, "image_size", F_U64, image_size, true),
    F(wm_image_encoder_config, "patch_size", F_U64, patch_size, true),
    F(wm_image_encoder_config, "num_channels", F_U64, num_channels, false),
    F(wm_image_encoder_config, "projection_dim", F_U64, projection_dim, false),
    F(wm_image_encoder_config, "hidden_act", F_STRING, hidden_act, false),
    F(wm_image_encoder_config, "layer_norm_eps", F_DOUBLE, layer_norm_eps, false),
};

/* pipeline settings */
static const field pipeline_fields[] = {
    F(wm_pipeline_config, "vae_scale_factor_temporal", F_U64, vae_scale_factor_temporal, true),
    F(wm_pipeline_config, "vae_scale_factor_spatial", F_U64, vae_scale_factor_spatial, true),
    F(wm_pipeline_config, "boundary_ratio", F_DOUBLE, boundary_ratio, false),
    F(wm_pipeline_config, "expand_timesteps", F_BOOL, expand_timesteps, false),
    F(wm_pipeline_config, "flow_shift", F_DOUBLE, flow_shift, false),
    F(wm_pipeline_config, "num_train_timesteps", F_U64, num_train_timesteps, false),
};
#undef F
#undef FA
#undef FL

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))
enum { S_TRANSFORMER, S_VAE, S_TEXT_ENCODER, S_IMAGE_ENCODER, S_PIPELINE, S_COUNT };
typedef struct {
    const char *name;
    const field *fields;
    size_t n;
    size_t offset;     /* of the section's struct within wm_model_config */
    size_t has_offset; /* of its `has_` flag, or SIZE_MAX when the section is required */
} section;
static const section sections[S_COUNT] = {
    [S_TRANSFORMER] = {"transformer", transformer_fields, COUNT_OF(transformer_fields), 0, SIZE_MAX},
    [S_VAE] = {"vae", vae_fields, COUNT_OF(vae_fields), offsetof(wm_model_config, vae),
               offsetof(wm_model_config, has_vae)},
    [S_TEXT_ENCODER] = {"text_encoder", text_encoder_fields, COUNT_OF(text_encoder_fields),
                        offsetof(wm_model_config, text_encoder),
                        offsetof(wm_model_config, has_text_encoder)},
    [S_IMAGE_ENCODER] = {"image_encoder", image_encoder_fields, COUNT_OF(image_encoder_fields),
                         offsetof(wm_model_config, image_encoder),
                         offsetof(wm_model_config, has_image_encoder)},
    [S_PIPELINE] = {"pipeline", pipeline_fields, COUNT_OF(pipeline_fields),
                    offsetof(wm_model_config, pipeline), SIZE_MAX},
};

/* Defaults of the optional fields (the classes' own defaults). */
static void config_defaults(wm_model_config *c)
{
    *c = (wm_model_config){0};
    snprintf(c->vae.class_name, sizeof c->vae.class_name, "AutoencoderKLWan");
    c->vae.in_channels = c->vae.out_channels = 3;
    c->vae.scale_factor_temporal = 4;
    c->vae.scale_factor_spatial = 8;
    snprintf(c->text_encoder.class_name, sizeof c->text_encoder.class_name, "UMT5EncoderModel");
    c->text_encoder.relative_attention_max_distance = 128;
    c->text_encoder.layer_norm_epsilon = 1e-6;
    snprintf(c->image_encoder.class_name, sizeof c->image_encoder.class_name, "CLIPVisionModel");
    c->image_encoder.num_channels = 3;
    snprintf(c->image_encoder.hidden_act, sizeof c->image_encoder.hidden_act, "gelu");
    c->image_encoder.layer_norm_eps = 1e-5;
    c->pipeline.flow_shift = 5.0;
    c->pipeline.num_train_timesteps = 1000;
}

/* Which fields were given, per section (a preset and its overrides add up). */
typedef struct {
    bool seen[S_COUNT][32];
    bool present[S_COUNT];
} seen_set;

/* "a.b" into out (truncated when too long: messages only). */
static void join_path(char *out, size_t cap, const char *a, const char *b)
{
    if (snprintf(out, cap, "%s.%s", a, b) < 0 && cap > 0)
        out[0] = '\0';
}

static const field *find_field(const field *fields, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(fields[i].key, key) == 0)
            return &fields[i];
    return NULL;
}

static void join_keys(char *buf, size_t cap, const field *fields, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < cap; i++) {
        int k = snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", fields[i].key);
        if (k < 0)
            break;
        used += (size_t)k;
    }
}

static wm_status bad_node(const wm_ynode *v, const char *what, const char *fix, const char *why,
                          wm_error *err)
{
    wm_error_set(err, WM_E_INPUT, what, fix, "%s", why);
    wm_ynode_mark(v, err);
    return WM_E_INPUT;
}

static wm_status set_list(const field *f, const wm_ynode *v, const char *what, char *base,
                          wm_error *err)
{
    if (v->kind != WM_Y_SEQ)
        return bad_node(v, what, "write it as a list, e.g. [1, 2, 2]", "must be a list", err);
    if (f->count_offset == SIZE_MAX && v->count != f->size) {
        char why[96], fix[96];
        snprintf(why, sizeof why, "must be a list of %zu entries", f->size);
        snprintf(fix, sizeof fix, "write %zu values, e.g. [1, 2, 2]", f->size);
        return bad_node(v, what, fix, why, err);
    }
    if (v->count > f->size) {
        char why[96];
        snprintf(why, sizeof why, "has %zu entries, more than the %zu wanmeter reads", v->count,
                 f->size);
        return bad_node(v, what, "use a shorter list", why, err);
    }
    for (size_t i = 0; i < v->count; i++) {
        char w[224];
        snprintf(w, sizeof w, "%s[%zu]", what, i);
        wm_status s;
        if (f->kind == F_U64_LIST)
            s = wm_ynode_u64(v->items[i], w, strcmp(f->key, "vace_layers") ? 1 : 0, /* block indices */
                             WM_COUNT_MAX, (uint64_t *)(base + f->offset) + i, err);
        else if (f->kind == F_BOOL_LIST)
            s = wm_ynode_bool(v->items[i], w, (bool *)(base + f->offset) + i, err);
        else
            s = wm_ynode_double(v->items[i], w, (double *)(base + f->offset) + i, err);
        if (s != WM_OK)
            return s;
    }
    if (f->count_offset != SIZE_MAX)
        *(size_t *)(base + f->count_offset) = v->count;
    return WM_OK;
}

static wm_status set_field(const field *f, const wm_ynode *v, const char *what, char *base,
                           wm_error *err)
{
    char *dst = base + f->offset;
    switch (f->kind) {
    case F_U64:
        return wm_ynode_u64(v, what, 1, WM_COUNT_MAX, (uint64_t *)dst, err);
    case F_U64_NULLABLE:
        if (v->kind == WM_Y_SCALAR && v->is_null) {
            *(uint64_t *)dst = 0;
            return WM_OK;
        }
        return wm_ynode_u64(v, what, 1, WM_COUNT_MAX, (uint64_t *)dst, err);
    case F_BOOL:
        return wm_ynode_bool(v, what, (bool *)dst, err);
    case F_DOUBLE:
        return wm_ynode_double(v, what, (double *)dst, err);
    case F_STRING: {
        const char *s = NULL;
        wm_status st = wm_ynode_string(v, what, &s, err);
        if (st != WM_OK)
            return st;
        if (strlen(s) >= f->size) {
            char why[64];
            snprintf(why, sizeof why, "longer than %zu characters", f->size - 1);
            return bad_node(v, what, "use a shorter value", why, err);
        }
        memcpy(dst, s, strlen(s) + 1);
        return WM_OK;
    }
    case F_U64_LIST:
    case F_BOOL_LIST:
    case F_DOUBLE_LIST:
        return set_list(f, v, what, base, err);
    }
    return WM_E_INTERNAL;
}

/* Applies a section's mapping (`path` names it in messages). */
static wm_status apply_section(int sec, const wm_ynode *map, const char *path, wm_model_config *out,
                               seen_set *seen, bool lenient, wm_error *err)
{
    const section *S = &sections[sec];
    char *base = (char *)out + S->offset;
    wm_status s = WM_OK;
    if (map->kind != WM_Y_MAP)
        return bad_node(map, path, "write it as a mapping of config.json fields", "must be a mapping",
                        err);
    for (size_t i = 0; i < map->count; i++) {
        const field *f = find_field(S->fields, S->n, map->keys[i]);
        if (!f && lenient)
            continue; /* a config.json holds fields that do not change the work */
        if (!f) {
            char known[1024];
            join_keys(known, sizeof known, S->fields, S->n);
            return wm_ymap_unknown_key(map, i, path, known, err);
        }
        char what[192];
        join_path(what, sizeof what, path, map->keys[i]);
        if ((s = set_field(f, map->items[i], what, base, err)) != WM_OK)
            return s;
        seen->seen[sec][f - S->fields] = true;
    }
    seen->present[sec] = true;
    return WM_OK;
}

static int section_index(const char *key)
{
    for (int k = 0; k < S_COUNT; k++)
        if (strcmp(sections[k].name, key) == 0)
            return k;
    return -1;
}

static const char model_keys[] =
    "variant, workload, base, transformer, vae, text_encoder, image_encoder, pipeline";

/* Applies a model mapping: its sections, `variant`; `base`/`name` are handled by the caller.
 * With `flat_transformer`, transformer fields may also stand at the top (a shorthand). */
static wm_status apply_model_map(const wm_ynode *map, const char *path, wm_model_config *out,
                                 seen_set *seen, bool flat_transformer, wm_error *err)
{
    wm_status s;
    for (size_t i = 0; i < map->count; i++) {
        const char *key = map->keys[i];
        const wm_ynode *v = map->items[i];
        char what[192];
        join_path(what, sizeof what, path, key);
        int sec = section_index(key);
        if (strcmp(key, "base") == 0 || strcmp(key, "name") == 0)
            continue;
        if (strcmp(key, "variant") == 0 || strcmp(key, "workload") == 0) {
            const char *text = NULL;
            bool variant = key[0] == 'v';
            char *dst = variant ? out->variant : out->workload;
            size_t cap = variant ? sizeof out->variant : sizeof out->workload;
            if ((s = wm_ynode_string(v, what, &text, err)) != WM_OK)
                return s;
            if (strlen(text) >= cap)
                return bad_node(v, what, "use a shorter name", "is too long", err);
            memcpy(dst, text, strlen(text) + 1);
        } else if (sec >= 0) {
            if ((s = apply_section(sec, v, what, out, seen, false, err)) != WM_OK)
                return s;
        } else if (flat_transformer && find_field(transformer_fields, COUNT_OF(transformer_fields), key)) {
            const field *f = find_field(transformer_fields, COUNT_OF(transformer_fields), key);
            if ((s = set_field(f, v, what, (char *)out, err)) != WM_OK)
                return s;
            seen->seen[S_TRANSFORMER][f - transformer_fields] = true;
        } else {
            char known[1200];
            if (flat_transformer) {
                char fields[1024];
                join_keys(fields, sizeof fields, transformer_fields, COUNT_OF(transformer_fields));
                snprintf(known, sizeof known, "%s, or a transformer field: %s", model_keys, fields);
            } else {
                snprintf(known, sizeof known, "%s", model_keys);
            }
            return wm_ymap_unknown_key(map, i, path, known, err);
        }
    }
    return WM_OK;
}

static void list_names(const wm_ynode *map, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; map && i < map->count && used < cap; i++) {
        int k = snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", map->keys[i]);
        if (k < 0)
            break;
        used += (size_t)k;
    }
}

/* Resolves preset `name` into `out`, following `base:` (at most 8 deep). */
static wm_status load_preset(const wm_config *cfg, const char *name, wm_model_config *out,
                             seen_set *seen, int depth, wm_error *err)
{
    const wm_ynode *models = wm_ymap_get(cfg->doc->root, "models");
    const wm_ynode *p = wm_ymap_get(models, name);
    if (!p) {
        char known[1024];
        list_names(models, known, sizeof known);
        char fix[1100];
        snprintf(fix, sizeof fix, "known models: %s", known);
        return wm_error_set(err, WM_E_INPUT, "model", fix, "unknown model '%s'", name);
    }
    char path[192];
    snprintf(path, sizeof path, "models.%s", name);
    wm_status s = wm_ynode_expect_map(p, path, err);
    if (s != WM_OK)
        return s;
    const wm_ynode *base = wm_ymap_get(p, "base");
    if (base) {
        const char *bname = NULL;
        char what[224];
        snprintf(what, sizeof what, "%s.base", path);
        if ((s = wm_ynode_string(base, what, &bname, err)) != WM_OK)
            return s;
        if (depth >= 8)
            return bad_node(base, what, "remove the cycle of base: references",
                            "base: chain is longer than 8 (a cycle?)", err);
        if ((s = load_preset(cfg, bname, out, seen, depth + 1, err)) != WM_OK)
            return s;
    }
    return apply_model_map(p, path, out, seen, true, err);
}

static const char *selected(const wm_config *cfg, const char *section_key, const char *fallback_key)
{
    const wm_ynode *sec = wm_ymap_get(cfg->doc->root, section_key);
    if (sec && sec->kind == WM_Y_SCALAR && !sec->is_null)
        return sec->value;
    const wm_ynode *name = wm_ymap_get(sec, "name");
    if (name && name->kind == WM_Y_SCALAR && !name->is_null)
        return name->value;
    const wm_ynode *def = wm_ymap_get(wm_ymap_get(cfg->doc->root, "defaults"), fallback_key);
    return def && def->kind == WM_Y_SCALAR ? def->value : NULL;
}

/* Every required field of every present section (transformer and pipeline always). */
static wm_status check_complete(const char *name, wm_model_config *out, const seen_set *seen,
                                const char *const files[S_COUNT], wm_error *err)
{
    for (int k = 0; k < S_COUNT; k++) {
        const section *S = &sections[k];
        bool present = seen->present[k] || S->has_offset == SIZE_MAX;
        if (S->has_offset != SIZE_MAX)
            *(bool *)((char *)out + S->has_offset) = seen->present[k];
        for (size_t i = 0; present && i < S->n; i++)
            if (S->fields[i].required && !seen->seen[k][i]) {
                char what[320];
                if (files && files[k])
                    snprintf(what, sizeof what, "%s", files[k]);
                else
                    snprintf(what, sizeof what, "models.%s.%s.%s", name, S->name, S->fields[i].key);
                if (files && files[k])
                    return wm_error_set(err, WM_E_INPUT, what, "use a complete config.json",
                                        "missing key '%s'", S->fields[i].key);
                return wm_error_set(err, WM_E_INPUT, what,
                                    "add the field (as in the model's config.json)", "missing");
            }
    }
    return WM_OK;
}

wm_status wm_config_model(const wm_config *cfg, const char *name, wm_model_config *out,
                          wm_error *err)
{
    if (!name)
        name = selected(cfg, "model", "model");
    if (!name)
        return wm_error_set(err, WM_E_INPUT, "defaults.model", "name a preset with --model",
                            "no model selected");
    config_defaults(out);
    seen_set seen;
    memset(&seen, 0, sizeof seen);
    wm_status s = load_preset(cfg, name, out, &seen, 0, err);
    if (s != WM_OK)
        return s;
    snprintf(out->id, sizeof out->id, "%s", name);
    const wm_ynode *pn = wm_ymap_get(wm_ymap_get(cfg->doc->root, "models"), name);
    snprintf(out->source, sizeof out->source, "preset %s (%s:%d)", name,
             pn && pn->file ? pn->file : "?", pn ? pn->line : 0);
    const wm_ynode *ov = wm_ymap_get(cfg->doc->root, "model");
    if (ov && ov->kind == WM_Y_MAP && ov->count > 0) {
        if ((s = apply_model_map(ov, "model", out, &seen, true, err)) != WM_OK)
            return s;
        bool overrides = false;
        for (size_t i = 0; i < ov->count; i++)
            overrides |= strcmp(ov->keys[i], "name") != 0;
        if (overrides)
            snprintf(out->source, sizeof out->source,
                     "preset %s with overrides from %s:%d", name, ov->file ? ov->file : "?",
                     ov->line);
    }
    return check_complete(name, out, &seen, NULL, err);
}

/* ---- a local model directory ----------------------------------------------------------------- */

/* Loads DIR/REL (JSON is YAML to libyaml) into *doc; NULL with WM_OK when optional and absent. */
static wm_status load_json(const char *dir, const char *rel, bool required, wm_ydoc **doc,
                           char *path, size_t cap, wm_error *err)
{
    *doc = NULL;
    snprintf(path, cap, "%s/%s", dir, rel);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (!required)
            return WM_OK;
        return wm_error_set(err, WM_E_INPUT, path, "point --model-dir at a diffusers snapshot",
                            "missing");
    }
    fclose(f);
    return wm_yaml_load_file(path, doc, err);
}

/* "WanImageToVideoPipeline" -> "i2v", ... (model_index.json's _class_name). */
static const char *variant_of_pipeline(const char *cls)
{
    static const struct {
        const char *cls, *variant;
    } map[] = {
        {"WanPipeline", "t2v"},         {"WanImageToVideoPipeline", "i2v"},
        {"WanVACEPipeline", "vace"},    {"WanVideoToVideoPipeline", "v2v"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(cls, map[i].cls) == 0)
            return map[i].variant;
    return "t2v";
}

/* The diffusers layout: model_index.json and one folder per component. */
static wm_status model_from_diffusers_dir(const char *dir, wm_model_config *out, wm_error *err)
{
    static const struct {
        int sec;
        const char *rel;
        bool required;
    } parts[] = {
        {S_TRANSFORMER, "transformer/config.json", true},
        {S_VAE, "vae/config.json", true},
        {S_TEXT_ENCODER, "text_encoder/config.json", true},
        {S_IMAGE_ENCODER, "image_encoder/config.json", false},
    };
    char paths[S_COUNT][4200] = {{0}};
    const char *files[S_COUNT] = {0};
    seen_set seen;
    memset(&seen, 0, sizeof seen);
    config_defaults(out);
    wm_status s = WM_OK;
    for (size_t i = 0; s == WM_OK && i < sizeof parts / sizeof parts[0]; i++) {
        wm_ydoc *doc = NULL;
        int k = parts[i].sec;
        s = load_json(dir, parts[i].rel, parts[i].required, &doc, paths[k], sizeof paths[k], err);
        if (s == WM_OK && doc) {
            files[k] = paths[k];
            s = apply_section(k, doc->root, paths[k], out, &seen, true, err);
        }
        wm_yaml_free(doc);
    }
    /* the pipeline: model_index.json (class, boundary_ratio, expand_timesteps), scheduler */
    char path[4200];
    wm_ydoc *doc = NULL;
    if (s == WM_OK)
        s = load_json(dir, "model_index.json", true, &doc, path, sizeof path, err);
    if (s == WM_OK) {
        const wm_ynode *cls = wm_ymap_get(doc->root, "_class_name");
        const char *name = NULL;
        if (!cls || wm_ynode_string(cls, "_class_name", &name, err) != WM_OK)
            s = wm_error_set(err, WM_E_INPUT, path, "use the snapshot's model_index.json",
                             "missing key '_class_name'");
        else
            snprintf(out->variant, sizeof out->variant, "%s", variant_of_pipeline(name));
        const wm_ynode *v;
        if (s == WM_OK && (v = wm_ymap_get(doc->root, "boundary_ratio")) && !v->is_null)
            s = wm_ynode_double(v, "model_index.json boundary_ratio", &out->pipeline.boundary_ratio, err);
        if (s == WM_OK && (v = wm_ymap_get(doc->root, "expand_timesteps")) && !v->is_null)
            s = wm_ynode_bool(v, "model_index.json expand_timesteps", &out->pipeline.expand_timesteps, err);
    }
    wm_yaml_free(doc);
    doc = NULL;
    if (s == WM_OK)
        s = load_json(dir, "scheduler/scheduler_config.json", false, &doc, path, sizeof path, err);
    if (s == WM_OK && doc) {
        const wm_ynode *v;
        if ((v = wm_ymap_get(doc->root, "flow_shift")) && !v->is_null)
            s = wm_ynode_double(v, "scheduler_config.json flow_shift", &out->pipeline.flow_shift, err);
        if (s == WM_OK && (v = wm_ymap_get(doc->root, "num_train_timesteps")) && !v->is_null)
            s = wm_ynode_u64(v, "scheduler_config.json num_train_timesteps", 1, 1000000,
                             &out->pipeline.num_train_timesteps, err);
    }
    wm_yaml_free(doc);
    if (s != WM_OK)
        return s;
    /* the pipeline compresses as its VAE does */
    out->pipeline.vae_scale_factor_temporal = out->vae.scale_factor_temporal;
    out->pipeline.vae_scale_factor_spatial = out->vae.scale_factor_spatial;
    seen.seen[S_PIPELINE][0] = seen.seen[S_PIPELINE][1] = true;
    return check_complete(dir, out, &seen, files, err);
}

/* The official layout: one config.json (WanModel) for the transformer; the other components
 * come from the base preset. */
static wm_status model_from_official_dir(const wm_config *cfg, const char *dir, const char *base,
                                         wm_model_config *out, wm_error *err)
{
    char path[4200];
    wm_ydoc *doc = NULL;
    wm_status s = wm_config_model(cfg, base, out, err);
    if (s == WM_OK)
        s = load_json(dir, "config.json", true, &doc, path, sizeof path, err);
    if (s != WM_OK) {
        wm_yaml_free(doc);
        return s;
    }
    const struct {
        const char *key;
        uint64_t *dst;
    } nums[] = {
        {"dim", NULL},           {"num_heads", &out->num_attention_heads},
        {"ffn_dim", &out->ffn_dim}, {"freq_dim", &out->freq_dim},
        {"in_dim", &out->in_channels}, {"out_dim", &out->out_channels},
        {"num_layers", &out->num_layers}, {"text_dim", &out->text_dim},
    };
    uint64_t dim = 0;
    for (size_t i = 0; s == WM_OK && i < sizeof nums / sizeof nums[0]; i++) {
        const wm_ynode *v = wm_ymap_get(doc->root, nums[i].key);
        bool optional = strcmp(nums[i].key, "text_dim") == 0;
        if (!v && optional)
            continue;
        if (!v)
            s = wm_error_set(err, WM_E_INPUT, path, "use the official config.json of the model",
                             "missing key '%s'", nums[i].key);
        else
            s = wm_ynode_u64(v, nums[i].key, 1, WM_COUNT_MAX, nums[i].dst ? nums[i].dst : &dim, err);
    }
    if (s == WM_OK && dim % out->num_attention_heads != 0)
        s = wm_error_set(err, WM_E_INPUT, path, "check dim and num_heads",
                         "dim %llu is not a multiple of num_heads %llu", (unsigned long long)dim,
                         (unsigned long long)out->num_attention_heads);
    const wm_ynode *v;
    if (s == WM_OK && (v = wm_ymap_get(doc->root, "eps")))
        s = wm_ynode_double(v, "eps", &out->eps, err);
    if (s == WM_OK && (v = wm_ymap_get(doc->root, "model_type"))) {
        const char *type = NULL;
        if ((s = wm_ynode_string(v, "model_type", &type, err)) == WM_OK)
            snprintf(out->variant, sizeof out->variant, "%s", type);
    }
    wm_yaml_free(doc);
    if (s != WM_OK)
        return s;
    out->attention_head_dim = dim / out->num_attention_heads;
    /* official i2v/flf2v transformers carry the image cross-attention (WAN_FACTS §9) */
    if (strcmp(out->variant, "i2v") == 0 || strcmp(out->variant, "flf2v") == 0) {
        out->image_dim = 1280;
        out->added_kv_proj_dim = dim;
        out->pos_embed_seq_len = strcmp(out->variant, "flf2v") == 0 ? 514 : 0;
    }
    return WM_OK;
}

wm_status wm_config_model_dir(const wm_config *cfg, const char *dir, const char *base,
                              wm_model_config *out, wm_error *err)
{
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/transformer/config.json", dir);
    FILE *f = fopen(probe, "rb");
    wm_status s;
    const char *layout;
    if (f) {
        fclose(f);
        layout = "diffusers snapshot";
        s = model_from_diffusers_dir(dir, out, err);
    } else {
        snprintf(probe, sizeof probe, "%s/config.json", dir);
        if (!(f = fopen(probe, "rb")))
            return wm_error_set(err, WM_E_INPUT, dir,
                                "point it at a diffusers snapshot, whose components have "
                                "transformer/config.json etc., or an official Wan checkpoint "
                                "folder with one config.json",
                                "has neither transformer/config.json nor config.json");
        fclose(f);
        layout = "official config.json";
        s = model_from_official_dir(cfg, dir, base, out, err);
    }
    if (s != WM_OK)
        return s;
    const char *slash = strrchr(dir, '/');
    const char *name = slash && slash[1] ? slash + 1 : dir;
    snprintf(out->id, sizeof out->id, "%s", name);
    snprintf(out->source, sizeof out->source, "model dir %s (%s)", dir, layout);
    out->workload[0] = '\0';
    return WM_OK;
}

/* ---- workloads ---------------------------------------------------------------------------- */

typedef enum { W_BATCH, W_STEPS, W_FRAMES, W_HEIGHT, W_WIDTH, W_TEXT, W_CFG, W_DTYPE, W_MODE, W_COUNT } wfield;
static const field workload_fields[W_COUNT] = {
    [W_BATCH] = {"batch", F_U64, offsetof(wm_workload, batch_size), 0, SIZE_MAX, true},
    [W_STEPS] = {"steps", F_U64, offsetof(wm_workload, num_inference_steps), 0, SIZE_MAX, true},
    [W_FRAMES] = {"frames", F_U64, offsetof(wm_workload, num_frames), 0, SIZE_MAX, true},
    [W_HEIGHT] = {"height", F_U64, offsetof(wm_workload, height), 0, SIZE_MAX, true},
    [W_WIDTH] = {"width", F_U64, offsetof(wm_workload, width), 0, SIZE_MAX, true},
    [W_TEXT] = {"text_len", F_U64, offsetof(wm_workload, text_len), 0, SIZE_MAX, true},
    [W_CFG] = {"cfg", F_BOOL, offsetof(wm_workload, cfg), 0, SIZE_MAX, false},
    [W_DTYPE] = {"dtype", F_STRING, 0, 0, SIZE_MAX, false},
    [W_MODE] = {"mode", F_STRING, 0, 0, SIZE_MAX, false},
};

static wm_status apply_workload_map(const wm_ynode *map, const char *path, wm_workload *w,
                                    bool seen[W_COUNT], wm_error *err)
{
    for (size_t i = 0; i < map->count; i++) {
        const char *key = map->keys[i];
        if (strcmp(key, "name") == 0)
            continue;
        const field *f = find_field(workload_fields, W_COUNT, key);
        if (!f) {
            char known[512];
            join_keys(known, sizeof known, workload_fields, W_COUNT);
            return wm_ymap_unknown_key(map, i, path, known, err);
        }
        char what[192];
        join_path(what, sizeof what, path, key);
        const wm_ynode *v = map->items[i];
        wm_status s = WM_OK;
        if (f - workload_fields == W_DTYPE || f - workload_fields == W_MODE) {
            const char *text = NULL;
            bool dtype = f - workload_fields == W_DTYPE;
            if ((s = wm_ynode_string(v, what, &text, err)) != WM_OK)
                return s;
            if (dtype ? !wm_dtype_parse(text, &w->dtype) : !wm_mode_parse(text, &w->mode)) {
                wm_error_set(err, WM_E_INPUT, what,
                             dtype ? "use bf16, fp16 or fp32" : "use torch, torch-cpu or full",
                             "unknown %s '%s'", dtype ? "dtype" : "mode", text);
                wm_ynode_mark(v, err);
                return WM_E_INPUT;
            }
        } else if ((s = set_field(f, v, what, (char *)w, err)) != WM_OK) {
            return s;
        }
        seen[f - workload_fields] = true;
    }
    return WM_OK;
}

wm_status wm_config_workload_for(const wm_config *cfg, const char *id, const wm_model_config *mc,
                                 wm_workload *out, wm_error *err)
{
    if (!id) {
        const wm_ynode *sec = wm_ymap_get(cfg->doc->root, "workload");
        const wm_ynode *name = sec && sec->kind == WM_Y_MAP ? wm_ymap_get(sec, "name") : sec;
        bool user = name && name->kind == WM_Y_SCALAR && !name->is_null;
        if (!user && mc && mc->workload[0])
            id = mc->workload;
    }
    return wm_config_workload(cfg, id, out, err);
}

wm_status wm_config_workload(const wm_config *cfg, const char *id, wm_workload *out, wm_error *err)
{
    if (!id)
        id = selected(cfg, "workload", "workload");
    if (!id)
        return wm_error_set(err, WM_E_INPUT, "defaults.workload", "name one with --workload",
                            "no workload selected");
    const wm_ynode *all = wm_ymap_get(cfg->doc->root, "workloads");
    const wm_ynode *p = wm_ymap_get(all, id);
    if (!p) {
        char known[1024], fix[1100];
        list_names(all, known, sizeof known);
        snprintf(fix, sizeof fix, "known workloads: %s", known);
        return wm_error_set(err, WM_E_INPUT, "workload", fix, "unknown workload '%s'", id);
    }
    char path[192];
    snprintf(path, sizeof path, "workloads.%s", id);
    wm_status s = wm_ynode_expect_map(p, path, err);
    if (s != WM_OK)
        return s;
    *out = (wm_workload){.cfg = true, .dtype = WM_DTYPE_BF16, .mode = WM_MODE_TORCH};
    bool seen[W_COUNT] = {0};
    if ((s = apply_workload_map(p, path, out, seen, err)) != WM_OK)
        return s;
    const wm_ynode *ov = wm_ymap_get(cfg->doc->root, "workload");
    if (ov && ov->kind == WM_Y_MAP && (s = apply_workload_map(ov, "workload", out, seen, err)) != WM_OK)
        return s;
    for (int i = 0; i <= W_TEXT; i++)
        if (!seen[i]) {
            char what[224];
            snprintf(what, sizeof what, "%s.%s", path, workload_fields[i].key);
            return wm_error_set(err, WM_E_INPUT, what, "add the field", "missing");
        }
    snprintf(out->profile_id, sizeof out->profile_id, "%s", id);
    return WM_OK;
}

/* ---- verification settings and output ------------------------------------------------------ */

wm_status wm_config_verify(const wm_config *cfg, wm_verify_settings *out, wm_error *err)
{
    const wm_ynode *vr = wm_ymap_get(cfg->doc->root, "verify_run");
    wm_status s = wm_ynode_expect_map(vr, "verify_run", err);
    if (s != WM_OK)
        return s;
    *out = (wm_verify_settings){.end2end_loop_max_forwards = 4};
    static const char *const known = "device, accept_rel_diff, end2end_loop_max_forwards";
    for (size_t i = 0; i < vr->count; i++) {
        const char *key = vr->keys[i];
        const wm_ynode *v = vr->items[i];
        if (strcmp(key, "device") == 0) {
            const char *dev = NULL;
            if ((s = wm_ynode_string(v, "verify_run.device", &dev, err)) != WM_OK)
                return s;
            if (strcmp(dev, "meta") && strcmp(dev, "cpu") && strcmp(dev, "cuda")) {
                wm_error_set(err, WM_E_INPUT, "verify_run.device", "use meta, cpu or cuda",
                             "unknown device '%s'", dev);
                wm_ynode_mark(v, err);
                return WM_E_INPUT;
            }
            snprintf(out->device, sizeof out->device, "%s", dev);
        } else if (strcmp(key, "end2end_loop_max_forwards") == 0) {
            if ((s = wm_ynode_u64(v, "verify_run.end2end_loop_max_forwards", 0, 1000000,
                                  &out->end2end_loop_max_forwards, err)) != WM_OK)
                return s;
        } else if (strcmp(key, "accept_rel_diff") == 0) {
            if ((s = wm_ynode_expect_map(v, "verify_run.accept_rel_diff", err)) != WM_OK)
                return s;
            static const char *const names[4] = {"default", "layers", "end2end", "core"};
            double *dst[4] = {&out->accept_default, &out->accept_layers, &out->accept_end2end,
                              &out->accept_core};
            bool got[4] = {0};
            for (size_t j = 0; j < v->count; j++) {
                int k = 0;
                while (k < 4 && strcmp(v->keys[j], names[k]) != 0)
                    k++;
                if (k == 4)
                    return wm_ymap_unknown_key(v, j, "verify_run.accept_rel_diff",
                                       "default, layers, end2end, core", err);
                char what[96];
                snprintf(what, sizeof what, "verify_run.accept_rel_diff.%s", names[k]);
                if ((s = wm_ynode_double(v->items[j], what, dst[k], err)) != WM_OK)
                    return s;
                if (*dst[k] < 0.0 || *dst[k] >= 1.0) {
                    wm_error_set(err, WM_E_INPUT, what, "use a fraction such as 0.05 (5%)",
                                 "must be >= 0 and < 1");
                    wm_ynode_mark(v->items[j], err);
                    return WM_E_INPUT;
                }
                got[k] = true;
            }
            for (int k = 0; k < 4; k++)
                if (!got[k]) {
                    char what[96];
                    snprintf(what, sizeof what, "verify_run.accept_rel_diff.%s", names[k]);
                    return wm_error_set(err, WM_E_INPUT, what, "add it, e.g. ${.default}",
                                        "missing");
                }
        } else {
            return wm_ymap_unknown_key(vr, i, "verify_run", known, err);
        }
    }
    if (!out->device[0])
        snprintf(out->device, sizeof out->device, "meta");
    return WM_OK;
}

const char *wm_config_output_dir(const wm_config *cfg)
{
    const wm_ynode *d = wm_ymap_get(wm_ymap_get(cfg->doc->root, "output"), "dir");
    return d && d->kind == WM_Y_SCALAR && !d->is_null && d->value[0] ? d->value
                                                                      : "tmp/profile-output";
}

size_t wm_config_model_count(const wm_config *cfg)
{
    const wm_ynode *m = wm_ymap_get(cfg->doc->root, "models");
    return m ? m->count : 0;
}
const char *wm_config_model_name(const wm_config *cfg, size_t i)
{
    const wm_ynode *m = wm_ymap_get(cfg->doc->root, "models");
    return m && i < m->count ? m->keys[i] : NULL;
}
size_t wm_config_workload_count(const wm_config *cfg)
{
    const wm_ynode *m = wm_ymap_get(cfg->doc->root, "workloads");
    return m ? m->count : 0;
}
const char *wm_config_workload_name(const wm_config *cfg, size_t i)
{
    const wm_ynode *m = wm_ymap_get(cfg->doc->root, "workloads");
    return m && i < m->count ? m->keys[i] : NULL;
}

/* ---- loading ------------------------------------------------------------------------------- */

/* Checks the shape of the merged document: known top-level keys, mappings where mappings
 * belong, every preset and workload readable (so a bad entry fails at load, not later). */
static wm_status check_document(wm_config *cfg, wm_error *err)
{
    const wm_ynode *root = cfg->doc->root;
    wm_status s = wm_ymap_check_keys(
        root, "", "defaults, models, workloads, verify_run, output, model, workload", err);
    if (s != WM_OK)
        return s;
    const char *maps[] = {"defaults", "models", "workloads", "verify_run", "output"};
    for (size_t i = 0; i < sizeof maps / sizeof maps[0]; i++) {
        const wm_ynode *n = wm_ymap_get(root, maps[i]);
        if (n && (s = wm_ynode_expect_map(n, maps[i], err)) != WM_OK)
            return s;
    }
    const wm_ynode *defaults = wm_ymap_get(root, "defaults"), *output = wm_ymap_get(root, "output");
    if ((defaults && (s = wm_ymap_check_keys(defaults, "defaults", "model, workload", err))) ||
        (output && (s = wm_ymap_check_keys(output, "output", "dir", err))))
        return s;
    for (size_t i = 0; i < wm_config_model_count(cfg); i++) {
        wm_model_config mc;
        if ((s = wm_config_model(cfg, wm_config_model_name(cfg, i), &mc, err)) != WM_OK)
            return s;
    }
    for (size_t i = 0; i < wm_config_workload_count(cfg); i++) {
        wm_workload w;
        if ((s = wm_config_workload(cfg, wm_config_workload_name(cfg, i), &w, err)) != WM_OK)
            return s;
    }
    wm_verify_settings v;
    return wm_config_verify(cfg, &v, err);
}

wm_status wm_config_load(const char *user_path, wm_config **out, wm_error *err)
{
    *out = NULL;
    wm_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return wm_error_set(err, WM_E_INTERNAL, "config", NULL, "out of memory");
    wm_status s = wm_yaml_load_layered(wm_default_config_yaml, wm_default_config_yaml_len,
                                       "configs/wanmeter.yaml", user_path, "--config", &cfg->doc,
                                       err);
    if (s == WM_OK)
        s = check_document(cfg, err);
    if (s != WM_OK) {
        wm_config_free(cfg);
        return s;
    }
    *out = cfg;
    return WM_OK;
}

void wm_config_free(wm_config *cfg)
{
    if (!cfg)
        return;
    wm_yaml_free(cfg->doc);
    free(cfg);
}
