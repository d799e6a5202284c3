/* report_json.c — report.json (DESIGN §5), built with jansson so the output is well-formed by
 * construction; keys keep insertion order, so identical inputs give byte-identical output. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

/* Counts never exceed WM_COUNT_MAX = INT64_MAX, so json_int_t holds them exactly. */
static json_t *u64(uint64_t v) { return json_integer((json_int_t)v); }

/* json_object_set_new that remembers a failed allocation instead of losing it. */
static void put(json_t *obj, const char *key, json_t *v, bool *ok)
{
    if (!v || json_object_set_new(obj, key, v) != 0)
        *ok = false;
}

static void push(json_t *arr, json_t *v, bool *ok)
{
    if (!v || json_array_append_new(arr, v) != 0)
        *ok = false;
}

static json_t *nullable_u64(uint64_t v) { return v ? u64(v) : json_null(); }

static json_t *model_json(const wm_model_config *c, bool *ok)
{
    json_t *m = json_object(), *cfg = json_object(), *patch = json_array();
    if (!m || !cfg || !patch) {
        json_decref(m), json_decref(cfg), json_decref(patch);
        *ok = false;
        return NULL;
    }
    put(m, "id", json_string(c->id), ok);
    put(m, "variant", json_string(c->variant), ok);
    put(m, "source", json_string(c->source), ok);
    put(m, "dim", u64(c->num_attention_heads * c->attention_head_dim), ok);
    put(m, "ffn_dim", u64(c->ffn_dim), ok);
    put(m, "num_layers", u64(c->num_layers), ok);
    put(m, "num_attention_heads", u64(c->num_attention_heads), ok);
    put(m, "attention_head_dim", u64(c->attention_head_dim), ok);
    /* the transformer's config.json, field for field */
    put(cfg, "_class_name", json_string(c->class_name), ok);
    for (int i = 0; i < 3; i++)
        push(patch, u64(c->patch_size[i]), ok);
    put(cfg, "patch_size", patch, ok);
    put(cfg, "num_attention_heads", u64(c->num_attention_heads), ok);
    put(cfg, "attention_head_dim", u64(c->attention_head_dim), ok);
    put(cfg, "in_channels", u64(c->in_channels), ok);
    put(cfg, "out_channels", u64(c->out_channels), ok);
    put(cfg, "text_dim", u64(c->text_dim), ok);
    put(cfg, "freq_dim", u64(c->freq_dim), ok);
    put(cfg, "ffn_dim", u64(c->ffn_dim), ok);
    put(cfg, "num_layers", u64(c->num_layers), ok);
    put(cfg, "cross_attn_norm", json_boolean(c->cross_attn_norm), ok);
    put(cfg, "qk_norm", json_string(c->qk_norm), ok);
    put(cfg, "eps", json_real(c->eps), ok);
    put(cfg, "image_dim", nullable_u64(c->image_dim), ok);
    put(cfg, "added_kv_proj_dim", nullable_u64(c->added_kv_proj_dim), ok);
    put(cfg, "rope_max_seq_len", u64(c->rope_max_seq_len), ok);
    put(cfg, "pos_embed_seq_len", nullable_u64(c->pos_embed_seq_len), ok);
    put(m, "config", cfg, ok);
    json_t *pipe = json_object();
    put(pipe, "vae_scale_factor_temporal", u64(c->vae_scale_factor_temporal), ok);
    put(pipe, "vae_scale_factor_spatial", u64(c->vae_scale_factor_spatial), ok);
    put(m, "pipeline", pipe, ok);
    return m;
}

static json_t *workload_json(const wm_workload *w, bool *ok)
{
    json_t *o = json_object();
    put(o, "profile_id", json_string(w->profile_id), ok);
    put(o, "batch_size", u64(w->batch_size), ok);
    put(o, "num_frames", u64(w->num_frames), ok);
    put(o, "height", u64(w->height), ok);
    put(o, "width", u64(w->width), ok);
    put(o, "num_inference_steps", u64(w->num_inference_steps), ok);
    put(o, "text_len", u64(w->text_len), ok);
    put(o, "cfg", json_boolean(w->cfg), ok);
    put(o, "forwards_per_step", u64(wm_workload_forwards_per_step(w)), ok);
    put(o, "dtype", json_string(wm_dtype_name(w->dtype)), ok);
    put(o, "mode", json_string(wm_mode_name(w->mode)), ok);
    return o;
}

static json_t *geometry_json(const wm_geometry *g, bool *ok)
{
    json_t *o = json_object(), *notes = json_array();
    put(o, "latent_frames", u64(g->latent_frames), ok);
    put(o, "latent_height", u64(g->latent_height), ok);
    put(o, "latent_width", u64(g->latent_width), ok);
    put(o, "tokens_frames", u64(g->tokens_frames), ok);
    put(o, "tokens_height", u64(g->tokens_height), ok);
    put(o, "tokens_width", u64(g->tokens_width), ok);
    put(o, "tokens_per_frame", u64(g->tokens_per_frame), ok);
    put(o, "dit_seq_len", u64(g->dit_seq_len), ok);
    put(o, "frames_not_4n1", json_boolean(g->frames_not_4n1), ok);
    put(o, "pipeline_frames", u64(g->pipeline_frames), ok);
    if (g->frames_not_4n1)
        push(notes, json_string(g->note), ok);
    put(o, "rounding_notes", notes, ok);
    return o;
}

/* The aten key FlopCounterMode files this node's own work under on the meta device. */
static const char *aten_key(const wm_node *nd, wm_mode mode)
{
    switch (nd->op) {
    case WM_OP_LINEAR: return "aten.addmm";
    case WM_OP_CONV3D: return "aten.convolution";
    case WM_OP_SDPA: return mode == WM_MODE_TORCH_CPU ? "" : "aten.bmm";
    default: return "";
    }
}

static json_t *modules_json(const wm_report *r, bool *ok)
{
    const wm_model *m = wm_report_model(r);
    const wm_node *nodes = wm_model_nodes(m);
    const wm_counts *c = wm_report_counts(r);
    const wm_mode mode = wm_report_workload(r)->mode;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < wm_model_node_count(m); i++) {
        const wm_node *nd = &nodes[i];
        json_t *o = json_object();
        char shape[256];
        wm_report_node_shape(r, i, shape, sizeof shape);
        put(o, "id", json_string(nd->id), ok);
        put(o, "parent", nd->parent >= 0 ? json_string(nodes[nd->parent].id) : json_null(), ok);
        put(o, "op", json_string(wm_op_name(nd->op)), ok);
        put(o, "category", json_string(wm_category_name(nd->category)), ok);
        put(o, "aten", json_string(aten_key(nd, mode)), ok);
        put(o, "shape", json_string(shape), ok);
        put(o, "calls", u64(c[i].calls), ok);
        put(o, "flops", u64(c[i].flops), ok);
        put(o, "matrix_flops", u64(c[i].matrix_flops), ok);
        put(o, "vector_flops", u64(c[i].vector_flops), ok);
        put(o, "params", u64(c[i].params), ok);
        put(o, "weight_bytes", u64(c[i].weight_bytes), ok);
        put(o, "bytes_read", u64(c[i].bytes_read), ok);
        put(o, "bytes_written", u64(c[i].bytes_written), ok);
        push(arr, o, ok);
    }
    if (!arr)
        *ok = false;
    return arr;
}

static json_t *totals_json(const wm_totals *t, bool *ok)
{
    json_t *o = json_object();
    put(o, "flops", u64(t->flops), ok);
    put(o, "flops_per_forward", u64(t->flops_per_forward), ok);
    put(o, "flops_per_step", u64(t->flops_per_step), ok);
    put(o, "forwards", u64(t->forwards), ok);
    put(o, "matrix_flops_per_forward", u64(t->matrix_flops_per_forward), ok);
    put(o, "vector_flops_per_forward", u64(t->vector_flops_per_forward), ok);
    put(o, "params", u64(t->params), ok);
    put(o, "weight_bytes", u64(t->weight_bytes), ok);
    put(o, "peak_activation_bytes", u64(t->peak_activation_bytes), ok);
    put(o, "kv_cache_bytes", u64(t->kv_cache_bytes), ok);
    put(o, "bytes_read_per_forward", u64(t->bytes_read_per_forward), ok);
    put(o, "bytes_written_per_forward", u64(t->bytes_written_per_forward), ok);
    return o;
}

static json_t *hotspots_json(const wm_report *r, const wm_hotspots *h, bool *ok)
{
    const wm_node *nodes = wm_model_nodes(wm_report_model(r));
    json_t *o = json_object(), *mods = json_array(), *cats = json_array();
    for (size_t i = 0; i < h->module_count; i++) {
        json_t *e = json_object();
        put(e, "id", json_string(nodes[h->modules[i].node].id), ok);
        put(e, "category", json_string(wm_category_name(nodes[h->modules[i].node].category)), ok);
        put(e, "flops", u64(h->modules[i].flops), ok);
        put(e, "share", json_real(h->modules[i].share), ok);
        push(mods, e, ok);
    }
    for (size_t i = 0; i < h->category_count && i < 5; i++) {
        json_t *e = json_object();
        put(e, "category", json_string(wm_category_name(h->categories[i].category)), ok);
        put(e, "flops", u64(h->categories[i].flops), ok);
        put(e, "share", json_real(h->categories[i].share), ok);
        push(cats, e, ok);
    }
    put(o, "modules", mods, ok);
    put(o, "categories", cats, ok);
    return o;
}

wm_status wm_report_to_json(const wm_report *r, char **out, wm_error *err)
{
    *out = NULL;
    wm_hotspots h;
    wm_status s = wm_report_hotspots(r, 10, &h, err);
    if (s != WM_OK)
        return s;
    bool ok = true;
    json_t *root = json_object(), *gen = json_object(), *notes = json_array();
    put(root, "schema_version", json_integer(WM_SCHEMA_VERSION), &ok);
    put(gen, "name", json_string("wanmeter"), &ok);
    put(gen, "version", json_string(WM_VERSION), &ok);
    put(root, "generator", gen, &ok);
    put(root, "model", model_json(wm_model_get_config(wm_report_model(r)), &ok), &ok);
    put(root, "workload", workload_json(wm_report_workload(r), &ok), &ok);
    put(root, "geometry", geometry_json(wm_report_geometry(r), &ok), &ok);
    put(root, "modules", modules_json(r, &ok), &ok);
    put(root, "totals", totals_json(wm_report_totals(r), &ok), &ok);
    put(root, "hotspots", hotspots_json(r, &h, &ok), &ok);
    for (size_t i = 0; i < wm_report_note_count(r); i++)
        push(notes, json_string(wm_report_note(r, i)), &ok);
    put(root, "notes", notes, &ok);
    char *text = ok ? json_dumps(root, JSON_INDENT(1) | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(root);
    if (!text)
        return wm_error_set(err, WM_E_INTERNAL, "report.json", NULL, "out of memory");
    /* json_dumps uses its own allocator (malloc by default); hand back a malloc'd copy with a
     * trailing newline so the caller can free() it like every other writer's output. */
    size_t len = strlen(text);
    char *copy = malloc(len + 2);
    if (copy) {
        memcpy(copy, text, len);
        copy[len] = '\n';
        copy[len + 1] = '\0';
    }
    free(text);
    if (!copy)
        return wm_error_set(err, WM_E_INTERNAL, "report.json", NULL, "out of memory");
    *out = copy;
    return WM_OK;
}

wm_status wm_reference_request_json(const wm_report *r, const char *kind, const char *device,
                                    uint64_t loop_max_forwards, char **out, wm_error *err)
{
    *out = NULL;
    const wm_model_config *c = wm_model_get_config(wm_report_model(r));
    bool ok = true;
    json_t *root = json_object(), *model = model_json(c, &ok), *e2e = json_object();
    put(root, "schema_version", json_integer(1), &ok);
    put(root, "reference", json_string(kind), &ok);
    put(root, "device", json_string(device), &ok);
    put(root, "model_id", json_string(c->id), &ok);
    /* the harness takes the config.json fields and the pipeline factors */
    put(root, "model", json_incref(json_object_get(model, "config")), &ok);
    put(root, "pipeline", json_incref(json_object_get(model, "pipeline")), &ok);
    json_decref(model);
    put(root, "workload", workload_json(wm_report_workload(r), &ok), &ok);
    put(e2e, "loop_max_forwards", u64(loop_max_forwards), &ok);
    put(root, "end2end", e2e, &ok);
    char *text = ok ? json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(root);
    if (!text)
        return wm_error_set(err, WM_E_INTERNAL, "reference request", NULL, "out of memory");
    *out = text;
    return WM_OK;
}
