/*
 * config.c — configs/wanmeter.yaml (compiled in) plus an optional user file, turned into model
 * configurations, workloads and verification settings.
 *
 * Top-level keys: defaults, models, workloads, verify_run, output (as in configs/wanmeter.yaml)
 * and, in a user file, `model:` and `workload:`: the selection (`name:`) and per-field
 * overrides applied to whatever is selected. A `models.<name>` entry may start from another
 * preset with `base: <preset>`. Every unknown key is an error naming it, with file:line:column.
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

typedef enum { F_U64, F_U64_NULLABLE, F_BOOL, F_DOUBLE, F_STRING, F_PATCH } field_kind;

typedef struct {
    const char *key;
    field_kind kind;
    size_t offset;
    size_t size; /* strings: buffer size */
} field;

#define MF(key, kind, member) {key, kind, offsetof(wm_model_config, member), sizeof(((wm_model_config *)0)->member)}
static const field model_fields[] = {
    MF("variant", F_STRING, variant),
    MF("_class_name", F_STRING, class_name),
    MF("patch_size", F_PATCH, patch_size),
    MF("num_attention_heads", F_U64, num_attention_heads),
    MF("attention_head_dim", F_U64, attention_head_dim),
    MF("in_channels", F_U64, in_channels),
    MF("out_channels", F_U64, out_channels),
    MF("text_dim", F_U64, text_dim),
    MF("freq_dim", F_U64, freq_dim),
    MF("ffn_dim", F_U64, ffn_dim),
    MF("num_layers", F_U64, num_layers),
    MF("cross_attn_norm", F_BOOL, cross_attn_norm),
    MF("qk_norm", F_STRING, qk_norm),
    MF("eps", F_DOUBLE, eps),
    MF("image_dim", F_U64_NULLABLE, image_dim),
    MF("added_kv_proj_dim", F_U64_NULLABLE, added_kv_proj_dim),
    MF("rope_max_seq_len", F_U64, rope_max_seq_len),
    MF("pos_embed_seq_len", F_U64_NULLABLE, pos_embed_seq_len),
    MF("vae_scale_factor_temporal", F_U64, vae_scale_factor_temporal),
    MF("vae_scale_factor_spatial", F_U64, vae_scale_factor_spatial),
};
#undef MF
#define N_MODEL_FIELDS (sizeof model_fields / sizeof model_fields[0])

static const field *find_field(const field *fields, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(fields[i].key, key) == 0)
            return &fields[i];
    return NULL;
}

static void join_keys(char *buf, size_t cap, const field *fields, size_t n, const char *skip)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < cap; i++) {
        if (skip && strcmp(fields[i].key, skip) == 0)
            continue;
        int k = snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", fields[i].key);
        if (k < 0)
            break;
        used += (size_t)k;
    }
}

static wm_status unknown_key(const wm_ynode *map, size_t i, const char *path, const char *known,
                             wm_error *err)
{
    char what[192];
    snprintf(what, sizeof what, "%s%s%s", path, path[0] ? "." : "", map->keys[i]);
    char fix[320];
    snprintf(fix, sizeof fix, "known keys: %s", known);
    wm_error_set(err, WM_E_INPUT, what, fix, "unknown key");
    if (err) {
        /* after a merge a mapping holds keys from several files: the item knows its own */
        const char *file = map->items[i]->file ? map->items[i]->file : map->file;
        snprintf(err->file, sizeof err->file, "%s", file ? file : "");
        err->line = map->key_lines[i];
        err->column = map->key_columns[i];
    }
    return WM_E_INPUT;
}

static wm_status set_field(const field *f, const wm_ynode *v, const char *what, void *base,
                           wm_error *err)
{
    char *dst = (char *)base + f->offset;
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
            wm_error_set(err, WM_E_INPUT, what, "use a shorter value", "longer than %zu characters",
                         f->size - 1);
            wm_ynode_mark(v, err);
            return WM_E_INPUT;
        }
        memcpy(dst, s, strlen(s) + 1);
        return WM_OK;
    }
    case F_PATCH: {
        if (v->kind != WM_Y_SEQ || v->count != 3) {
            wm_error_set(err, WM_E_INPUT, what, "write it as [t, h, w], e.g. [1, 2, 2]",
                         "must be a list of three whole numbers");
            wm_ynode_mark(v, err);
            return WM_E_INPUT;
        }
        for (size_t i = 0; i < 3; i++) {
            char w[224];
            snprintf(w, sizeof w, "%s[%zu]", what, i);
            wm_status st = wm_ynode_u64(v->items[i], w, 1, 64, (uint64_t *)dst + i, err);
            if (st != WM_OK)
                return st;
        }
        return WM_OK;
    }
    }
    return WM_E_INTERNAL;
}

/* Applies every key of `map` (except those in `skip`) to the model config. `seen` marks
 * which fields were set. */
static wm_status apply_model_map(const wm_ynode *map, const char *path, wm_model_config *out,
                                 bool seen[N_MODEL_FIELDS], wm_error *err)
{
    for (size_t i = 0; i < map->count; i++) {
        const char *key = map->keys[i];
        if (strcmp(key, "base") == 0 || strcmp(key, "name") == 0)
            continue;
        const field *f = find_field(model_fields, N_MODEL_FIELDS, key);
        if (!f) {
            char known[1024];
            join_keys(known, sizeof known, model_fields, N_MODEL_FIELDS, NULL);
            return unknown_key(map, i, path, known, err);
        }
        char what[192];
        snprintf(what, sizeof what, "%s.%s", path, key);
        wm_status s = set_field(f, map->items[i], what, out, err);
        if (s != WM_OK)
            return s;
        seen[f - model_fields] = true;
    }
    return WM_OK;
}

static wm_status expect_map(const wm_ynode *n, const char *what, wm_error *err)
{
    if (n && n->kind == WM_Y_MAP)
        return WM_OK;
    wm_error_set(err, WM_E_INPUT, what, "write it as a mapping of key: value lines",
                 "must be a mapping");
    if (n)
        wm_ynode_mark(n, err);
    return WM_E_INPUT;
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
                             bool seen[N_MODEL_FIELDS], int depth, wm_error *err)
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
    wm_status s = expect_map(p, path, err);
    if (s != WM_OK)
        return s;
    const wm_ynode *base = wm_ymap_get(p, "base");
    if (base) {
        const char *bname = NULL;
        char what[224];
        snprintf(what, sizeof what, "%s.base", path);
        if ((s = wm_ynode_string(base, what, &bname, err)) != WM_OK)
            return s;
        if (depth >= 8) {
            wm_error_set(err, WM_E_INPUT, what, "remove the cycle of base: references",
                         "base: chain is longer than 8 (a cycle?)");
            wm_ynode_mark(base, err);
            return WM_E_INPUT;
        }
        if ((s = load_preset(cfg, bname, out, seen, depth + 1, err)) != WM_OK)
            return s;
    }
    return apply_model_map(p, path, out, seen, err);
}

static const char *selected(const wm_config *cfg, const char *section, const char *fallback_key)
{
    const wm_ynode *sec = wm_ymap_get(cfg->doc->root, section);
    if (sec && sec->kind == WM_Y_SCALAR && !sec->is_null)
        return sec->value;
    const wm_ynode *name = wm_ymap_get(sec, "name");
    if (name && name->kind == WM_Y_SCALAR && !name->is_null)
        return name->value;
    const wm_ynode *def = wm_ymap_get(wm_ymap_get(cfg->doc->root, "defaults"), fallback_key);
    return def && def->kind == WM_Y_SCALAR ? def->value : NULL;
}

wm_status wm_config_model(const wm_config *cfg, const char *name, wm_model_config *out,
                          wm_error *err)
{
    if (!name)
        name = selected(cfg, "model", "model");
    if (!name)
        return wm_error_set(err, WM_E_INPUT, "defaults.model", "name a preset with --model",
                            "no model selected");
    *out = (wm_model_config){0};
    bool seen[N_MODEL_FIELDS] = {0};
    wm_status s = load_preset(cfg, name, out, seen, 0, err);
    if (s != WM_OK)
        return s;
    snprintf(out->id, sizeof out->id, "%s", name);
    const wm_ynode *pn = wm_ymap_get(wm_ymap_get(cfg->doc->root, "models"), name);
    snprintf(out->source, sizeof out->source, "preset %s (%s:%d)", name,
             pn && pn->file ? pn->file : "?", pn ? pn->line : 0);
    const wm_ynode *ov = wm_ymap_get(cfg->doc->root, "model");
    if (ov && ov->kind == WM_Y_MAP && ov->count > 0) {
        if ((s = apply_model_map(ov, "model", out, seen, err)) != WM_OK)
            return s;
        bool overrides = false;
        for (size_t i = 0; i < ov->count; i++)
            overrides |= strcmp(ov->keys[i], "name") != 0;
        if (overrides)
            snprintf(out->source, sizeof out->source,
                     "preset %s with overrides from %s:%d", name, ov->file ? ov->file : "?",
                     ov->line);
    }
    for (size_t i = 0; i < N_MODEL_FIELDS; i++)
        if (!seen[i]) {
            char what[192];
            snprintf(what, sizeof what, "models.%s.%s", name, model_fields[i].key);
            return wm_error_set(err, WM_E_INPUT, what, "add the field (as in the model's config.json)",
                                "missing");
        }
    return WM_OK;
}

/* ---- workloads ---------------------------------------------------------------------------- */

typedef enum { W_BATCH, W_STEPS, W_FRAMES, W_HEIGHT, W_WIDTH, W_TEXT, W_CFG, W_DTYPE, W_MODE, W_COUNT } wfield;
static const field workload_fields[W_COUNT] = {
    [W_BATCH] = {"batch", F_U64, offsetof(wm_workload, batch_size), 0},
    [W_STEPS] = {"steps", F_U64, offsetof(wm_workload, num_inference_steps), 0},
    [W_FRAMES] = {"frames", F_U64, offsetof(wm_workload, num_frames), 0},
    [W_HEIGHT] = {"height", F_U64, offsetof(wm_workload, height), 0},
    [W_WIDTH] = {"width", F_U64, offsetof(wm_workload, width), 0},
    [W_TEXT] = {"text_len", F_U64, offsetof(wm_workload, text_len), 0},
    [W_CFG] = {"cfg", F_BOOL, offsetof(wm_workload, cfg), 0},
    [W_DTYPE] = {"dtype", F_STRING, 0, 0},
    [W_MODE] = {"mode", F_STRING, 0, 0},
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
            join_keys(known, sizeof known, workload_fields, W_COUNT, NULL);
            return unknown_key(map, i, path, known, err);
        }
        char what[192];
        snprintf(what, sizeof what, "%s.%s", path, key);
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
        } else if ((s = set_field(f, v, what, w, err)) != WM_OK) {
            return s;
        }
        seen[f - workload_fields] = true;
    }
    return WM_OK;
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
    wm_status s = expect_map(p, path, err);
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
    wm_status s = expect_map(vr, "verify_run", err);
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
            if ((s = expect_map(v, "verify_run.accept_rel_diff", err)) != WM_OK)
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
                    return unknown_key(v, j, "verify_run.accept_rel_diff",
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
            return unknown_key(vr, i, "verify_run", known, err);
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
    static const char *const top[] = {"defaults", "models", "workloads", "verify_run",
                                      "output", "model", "workload"};
    const wm_ynode *root = cfg->doc->root;
    for (size_t i = 0; i < root->count; i++) {
        size_t k = 0;
        while (k < sizeof top / sizeof top[0] && strcmp(root->keys[i], top[k]) != 0)
            k++;
        if (k == sizeof top / sizeof top[0])
            return unknown_key(root, i, "",
                               "defaults, models, workloads, verify_run, output, model, workload",
                               err);
    }
    wm_status s;
    const char *maps[] = {"defaults", "models", "workloads", "verify_run", "output"};
    for (size_t i = 0; i < sizeof maps / sizeof maps[0]; i++) {
        const wm_ynode *n = wm_ymap_get(root, maps[i]);
        if (n && (s = expect_map(n, maps[i], err)) != WM_OK)
            return s;
    }
    const wm_ynode *defaults = wm_ymap_get(root, "defaults");
    for (size_t i = 0; defaults && i < defaults->count; i++)
        if (strcmp(defaults->keys[i], "model") && strcmp(defaults->keys[i], "workload"))
            return unknown_key(defaults, i, "defaults", "model, workload", err);
    const wm_ynode *output = wm_ymap_get(root, "output");
    for (size_t i = 0; output && i < output->count; i++)
        if (strcmp(output->keys[i], "dir"))
            return unknown_key(output, i, "output", "dir", err);
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
    wm_status s = wm_yaml_load_string(wm_default_config_yaml, wm_default_config_yaml_len,
                                      "configs/wanmeter.yaml", &cfg->doc, err);
    if (s == WM_OK && user_path) {
        wm_ydoc *user = NULL;
        s = wm_yaml_load_file(user_path, &user, err);
        if (s == WM_OK)
            s = wm_yaml_merge(cfg->doc, user, err);
        wm_yaml_free(user);
    }
    if (s == WM_OK)
        s = wm_yaml_resolve(cfg->doc, err);
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
