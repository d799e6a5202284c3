/* report_json.c — report.json (DESIGN §5) and the reference request, written with the
 * streaming writer of json_out.h: one module per line, keys in a fixed order, so identical
 * inputs give byte-identical output. */
#include <stdlib.h>
#include <string.h>

#include "json_out.h"
#include "model_internal.h"

static void u64_or_null(wm_json *j, const char *key, uint64_t v)
{
    if (v)
        wm_json_u64(j, key, v);
    else
        wm_json_null(j, key);
}

static void u64_list(wm_json *j, const char *key, const uint64_t *v, size_t n)
{
    wm_json_open(j, key, '[', true);
    for (size_t i = 0; i < n; i++)
        wm_json_u64(j, NULL, v[i]);
    wm_json_close(j);
}

/* The transformer's config.json, field for field. */
static void config_json(wm_json *j, const char *key, const wm_model_config *c)
{
    wm_json_open(j, key, '{', false);
    wm_json_str(j, "_class_name", c->class_name);
    wm_json_open(j, "patch_size", '[', true);
    for (int i = 0; i < 3; i++)
        wm_json_u64(j, NULL, c->patch_size[i]);
    wm_json_close(j);
    wm_json_u64(j, "num_attention_heads", c->num_attention_heads);
    wm_json_u64(j, "attention_head_dim", c->attention_head_dim);
    wm_json_u64(j, "in_channels", c->in_channels);
    wm_json_u64(j, "out_channels", c->out_channels);
    wm_json_u64(j, "text_dim", c->text_dim);
    wm_json_u64(j, "freq_dim", c->freq_dim);
    wm_json_u64(j, "ffn_dim", c->ffn_dim);
    wm_json_u64(j, "num_layers", c->num_layers);
    wm_json_bool(j, "cross_attn_norm", c->cross_attn_norm);
    wm_json_str(j, "qk_norm", c->qk_norm);
    wm_json_real(j, "eps", c->eps);
    u64_or_null(j, "image_dim", c->image_dim);
    u64_or_null(j, "added_kv_proj_dim", c->added_kv_proj_dim);
    wm_json_u64(j, "rope_max_seq_len", c->rope_max_seq_len);
    u64_or_null(j, "pos_embed_seq_len", c->pos_embed_seq_len);
    if (c->vace_layers_count) {
        u64_list(j, "vace_layers", c->vace_layers, c->vace_layers_count);
        wm_json_u64(j, "vace_in_channels", c->vace_in_channels);
    }
    wm_json_close(j);
}

static void pipeline_json(wm_json *j, const wm_model_config *c)
{
    wm_json_open(j, "pipeline", '{', true);
    wm_json_u64(j, "vae_scale_factor_temporal", c->pipeline.vae_scale_factor_temporal);
    wm_json_u64(j, "vae_scale_factor_spatial", c->pipeline.vae_scale_factor_spatial);
    wm_json_real(j, "boundary_ratio", c->pipeline.boundary_ratio);
    wm_json_bool(j, "expand_timesteps", c->pipeline.expand_timesteps);
    wm_json_real(j, "flow_shift", c->pipeline.flow_shift);
    wm_json_u64(j, "num_train_timesteps", c->pipeline.num_train_timesteps);
    wm_json_close(j);
}

/* vae/config.json */
static void vae_json(wm_json *j, const wm_vae_config *v)
{
    wm_json_open(j, "vae", '{', false);
    wm_json_str(j, "_class_name", v->class_name);
    wm_json_u64(j, "base_dim", v->base_dim);
    u64_or_null(j, "decoder_base_dim", v->decoder_base_dim);
    wm_json_u64(j, "z_dim", v->z_dim);
    u64_list(j, "dim_mult", v->dim_mult, v->dim_mult_count);
    wm_json_u64(j, "num_res_blocks", v->num_res_blocks);
    wm_json_open(j, "attn_scales", '[', true);
    for (size_t i = 0; i < v->attn_scales_count; i++)
        wm_json_real(j, NULL, v->attn_scales[i]);
    wm_json_close(j);
    wm_json_open(j, "temperal_downsample", '[', true);
    for (size_t i = 0; i < v->temperal_downsample_count; i++)
        wm_json_bool(j, NULL, v->temperal_downsample[i]);
    wm_json_close(j);
    wm_json_bool(j, "is_residual", v->is_residual);
    wm_json_u64(j, "in_channels", v->in_channels);
    wm_json_u64(j, "out_channels", v->out_channels);
    u64_or_null(j, "patch_size", v->patch_size);
    wm_json_u64(j, "scale_factor_temporal", v->scale_factor_temporal);
    wm_json_u64(j, "scale_factor_spatial", v->scale_factor_spatial);
    wm_json_close(j);
}

/* text_encoder/config.json */
static void text_encoder_json(wm_json *j, const wm_text_encoder_config *t)
{
    wm_json_open(j, "text_encoder", '{', false);
    wm_json_str(j, "_class_name", t->class_name);
    wm_json_u64(j, "d_model", t->d_model);
    wm_json_u64(j, "d_ff", t->d_ff);
    wm_json_u64(j, "d_kv", t->d_kv);
    wm_json_u64(j, "num_heads", t->num_heads);
    wm_json_u64(j, "num_layers", t->num_layers);
    wm_json_u64(j, "vocab_size", t->vocab_size);
    wm_json_u64(j, "relative_attention_num_buckets", t->relative_attention_num_buckets);
    wm_json_u64(j, "relative_attention_max_distance", t->relative_attention_max_distance);
    wm_json_str(j, "feed_forward_proj", t->feed_forward_proj);
    wm_json_real(j, "layer_norm_epsilon", t->layer_norm_epsilon);
    wm_json_close(j);
}

/* image_encoder/config.json */
static void image_encoder_json(wm_json *j, const wm_image_encoder_config *c)
{
    wm_json_open(j, "image_encoder", '{', false);
    wm_json_str(j, "_class_name", c->class_name);
    wm_json_u64(j, "hidden_size", c->hidden_size);
    wm_json_u64(j, "intermediate_size", c->intermediate_size);
    wm_json_u64(j, "num_hidden_layers", c->num_hidden_layers);
    wm_json_u64(j, "num_attention_heads", c->num_attention_heads);
    wm_json_u64(j, "image_size", c->image_size);
    wm_json_u64(j, "patch_size", c->patch_size);
    wm_json_u64(j, "num_channels", c->num_channels);
    wm_json_u64(j, "projection_dim", c->projection_dim);
    wm_json_str(j, "hidden_act", c->hidden_act);
    wm_json_real(j, "layer_norm_eps", c->layer_norm_eps);
    wm_json_close(j);
}

/* The components the model has, each as its config.json. */
static void components_json(wm_json *j, const wm_model_config *c)
{
    if (c->has_vae)
        vae_json(j, &c->vae);
    if (c->has_text_encoder)
        text_encoder_json(j, &c->text_encoder);
    if (c->has_image_encoder)
        image_encoder_json(j, &c->image_encoder);
}

static void workload_json(wm_json *j, const wm_workload *w)
{
    wm_json_open(j, "workload", '{', false);
    wm_json_str(j, "profile_id", w->profile_id);
    wm_json_u64(j, "batch_size", w->batch_size);
    wm_json_u64(j, "num_frames", w->num_frames);
    wm_json_u64(j, "height", w->height);
    wm_json_u64(j, "width", w->width);
    wm_json_u64(j, "num_inference_steps", w->num_inference_steps);
    wm_json_u64(j, "text_len", w->text_len);
    wm_json_bool(j, "cfg", w->cfg);
    wm_json_u64(j, "forwards_per_step", wm_workload_forwards_per_step(w));
    wm_json_str(j, "dtype", wm_dtype_name(w->dtype));
    wm_json_str(j, "mode", wm_mode_name(w->mode));
    wm_json_close(j);
}

static void model_json(wm_json *j, const wm_model_config *c)
{
    wm_json_open(j, "model", '{', false);
    wm_json_str(j, "id", c->id);
    wm_json_str(j, "variant", c->variant);
    wm_json_str(j, "source", c->source);
    wm_json_str(j, "impl", c->impl == WM_IMPL_OFFICIAL ? "official" : "diffusers");
    wm_json_u64(j, "dim", c->num_attention_heads * c->attention_head_dim); /* bounded by
                                                                           validation */
    wm_json_u64(j, "ffn_dim", c->ffn_dim);
    wm_json_u64(j, "num_layers", c->num_layers);
    wm_json_u64(j, "num_attention_heads", c->num_attention_heads);
    wm_json_u64(j, "attention_head_dim", c->attention_head_dim);
    config_json(j, "config", c);
    pipeline_json(j, c);
    components_json(j, c);
    wm_json_close(j);
}

static void geometry_json(wm_json *j, const wm_geometry *g)
{
    wm_json_open(j, "geometry", '{', false);
    wm_json_u64(j, "latent_frames", g->latent_frames);
    wm_json_u64(j, "latent_height", g->latent_height);
    wm_json_u64(j, "latent_width", g->latent_width);
    wm_json_u64(j, "tokens_frames", g->tokens_frames);
    wm_json_u64(j, "tokens_height", g->tokens_height);
    wm_json_u64(j, "tokens_width", g->tokens_width);
    wm_json_u64(j, "tokens_per_frame", g->tokens_per_frame);
    wm_json_u64(j, "dit_seq_len", g->dit_seq_len);
    wm_json_bool(j, "frames_not_4n1", g->frames_not_4n1);
    wm_json_u64(j, "pipeline_frames", g->pipeline_frames);
    wm_json_open(j, "rounding_notes", '[', false);
    if (g->frames_not_4n1)
        wm_json_str(j, NULL, g->note);
    wm_json_close(j);
    wm_json_close(j);
}

static void modules_json(wm_json *j, const wm_report *r)
{
    const wm_model *m = wm_report_model(r);
    const wm_node *nodes = wm_model_nodes(m);
    const wm_counts *c = wm_report_counts(r);
    const wm_mode mode = wm_report_workload(r)->mode;
    wm_json_open(j, "modules", '[', false);
    for (size_t i = 0; i < wm_model_node_count(m); i++) {
        const wm_node *nd = &nodes[i];
        char shape[256];
        wm_report_node_shape(r, i, shape, sizeof shape);
        wm_json_open(j, NULL, '{', true);
        wm_json_str(j, "id", nd->id);
        if (wm_report_official_names(r)) {
            char official[512];
            wm_report_display_id(r, i, official, sizeof official);
            wm_json_str(j, "official_id", official);
        }
        wm_json_str(j, "parent", nd->parent >= 0 ? nodes[nd->parent].id : NULL);
        wm_json_str(j, "stage", wm_stage_name(nd->stage));
        wm_json_str(j, "op", wm_op_name(nd->op));
        wm_json_str(j, "category", wm_category_name(nd->category));
        wm_json_str(j, "aten", wm_node_aten(nd, mode));
        wm_json_str(j, "shape", shape);
        wm_json_u64(j, "calls", c[i].calls);
        wm_json_u64(j, "flops", c[i].flops);
        wm_json_u64(j, "matrix_flops", c[i].matrix_flops);
        wm_json_u64(j, "vector_flops", c[i].vector_flops);
        wm_json_u64(j, "params", c[i].params);
        wm_json_u64(j, "weight_bytes", c[i].weight_bytes);
        wm_json_u64(j, "bytes_read", c[i].bytes_read);
        wm_json_u64(j, "bytes_written", c[i].bytes_written);
        wm_json_close(j);
    }
    wm_json_close(j);
}

static void totals_json(wm_json *j, const wm_totals *t)
{
    wm_json_open(j, "totals", '{', false);
    wm_json_u64(j, "flops", t->flops);
    wm_json_u64(j, "transformer_flops", t->transformer_flops);
    wm_json_u64(j, "flops_per_forward", t->flops_per_forward);
    wm_json_u64(j, "flops_per_step", t->flops_per_step);
    wm_json_u64(j, "forwards", t->forwards);
    wm_json_u64(j, "matrix_flops_per_forward", t->matrix_flops_per_forward);
    wm_json_u64(j, "vector_flops_per_forward", t->vector_flops_per_forward);
    wm_json_u64(j, "params", t->params);
    wm_json_u64(j, "weight_bytes", t->weight_bytes);
    wm_json_u64(j, "peak_activation_bytes", t->peak_activation_bytes);
    wm_json_u64(j, "kv_cache_bytes", t->kv_cache_bytes);
    wm_json_u64(j, "bytes_read_per_forward", t->bytes_read_per_forward);
    wm_json_u64(j, "bytes_written_per_forward", t->bytes_written_per_forward);
    wm_json_close(j);
}

/* The stages the model has, in pipeline order: calls per generation, FLOPs per call and in
 * all, and whether totals.flops counts them (--stages). */
static void stages_json(wm_json *j, const wm_totals *t)
{
    wm_json_open(j, "stages", '[', false);
    for (int k = 0; k < WM_STAGE_COUNT; k++) {
        const wm_stage_total *st = &t->stages[k];
        if (!st->present)
            continue;
        wm_json_open(j, NULL, '{', true);
        wm_json_str(j, "id", wm_stage_name((wm_stage)k));
        wm_json_u64(j, "calls", st->calls);
        wm_json_u64(j, "flops_per_call", st->flops_per_call);
        wm_json_u64(j, "flops", st->flops);
        wm_json_u64(j, "params", st->params);
        wm_json_u64(j, "weight_bytes", st->weight_bytes);
        wm_json_bool(j, "selected", st->selected);
        wm_json_close(j);
    }
    wm_json_close(j);
}

static void hotspots_json(wm_json *j, const wm_report *r, const wm_hotspots *h)
{
    const wm_node *nodes = wm_model_nodes(wm_report_model(r));
    wm_json_open(j, "hotspots", '{', false);
    wm_json_open(j, "modules", '[', false);
    for (size_t i = 0; i < h->module_count; i++) {
        wm_json_open(j, NULL, '{', true);
        wm_json_str(j, "id", h->modules[i].id);
        wm_json_u64(j, "instances", h->modules[i].instances);
        wm_json_str(j, "category", wm_category_name(nodes[h->modules[i].node].category));
        wm_json_u64(j, "flops", h->modules[i].flops);
        wm_json_real(j, "share", h->modules[i].share);
        wm_json_close(j);
    }
    wm_json_close(j);
    wm_json_open(j, "categories", '[', false);
    for (size_t i = 0; i < h->category_count && i < 5; i++) {
        wm_json_open(j, NULL, '{', true);
        wm_json_str(j, "category", wm_category_name(h->categories[i].category));
        wm_json_u64(j, "flops", h->categories[i].flops);
        wm_json_real(j, "share", h->categories[i].share);
        wm_json_close(j);
    }
    wm_json_close(j);
    wm_json_close(j);
}

static wm_status finish(wm_json *j, wm_buf *b, const char *what, char **out, wm_error *err)
{
    wm_buf_append(b, "\n", 1);
    if (j->overflow || j->depth != 0) {
        wm_buf_free(b);
        return wm_error_set(err, WM_E_INTERNAL, what, NULL, "unbalanced JSON writer");
    }
    *out = wm_buf_take(b);
    if (!*out)
        return wm_error_set(err, WM_E_INTERNAL, what, NULL, "out of memory");
    return WM_OK;
}

wm_status wm_report_json_members(wm_json *j, const wm_report *r, wm_error *err)
{
    wm_hotspots h;
    wm_status s = wm_report_hotspots(r, 10, &h, err);
    if (s != WM_OK)
        return s;
    wm_json_u64(j, "schema_version", WM_SCHEMA_VERSION);
    wm_json_open(j, "generator", '{', true);
    wm_json_str(j, "name", "wanmeter");
    wm_json_str(j, "version", WM_VERSION);
    wm_json_close(j);
    model_json(j, wm_model_get_config(wm_report_model(r)));
    workload_json(j, wm_report_workload(r));
    geometry_json(j, wm_report_geometry(r));
    modules_json(j, r);
    totals_json(j, wm_report_totals(r));
    stages_json(j, wm_report_totals(r));
    hotspots_json(j, r, &h);
    wm_json_open(j, "notes", '[', false);
    for (size_t i = 0; i < wm_report_note_count(r); i++)
        wm_json_str(j, NULL, wm_report_note(r, i));
    wm_json_close(j);
    return WM_OK;
}

wm_status wm_json_finish(wm_json *j, wm_buf *b, const char *what, char **out, wm_error *err)
{
    return finish(j, b, what, out, err);
}

wm_status wm_report_to_json(const wm_report *r, char **out, wm_error *err)
{
    *out = NULL;
    wm_buf b = {0};
    wm_json j = {.b = &b};
    /* about 350 bytes a module: one allocation instead of a dozen doublings */
    wm_buf_reserve(&b, 4096 + 400 * wm_model_node_count(wm_report_model(r)));
    wm_json_open(&j, NULL, '{', false);
    wm_status s = wm_report_json_members(&j, r, err);
    if (s != WM_OK) {
        wm_buf_free(&b);
        return s;
    }
    wm_json_close(&j);
    return finish(&j, &b, "report.json", out, err);
}

wm_status wm_reference_request_json(const wm_report *r, wm_stage stage, const char *kind,
                                    const char *device, uint64_t loop_max_forwards, char **out,
                                    wm_error *err)
{
    *out = NULL;
    const wm_model_config *c = wm_model_get_config(wm_report_model(r));
    wm_buf b = {0};
    wm_json j = {.b = &b};
    wm_json_open(&j, NULL, '{', false);
    wm_json_u64(&j, "schema_version", 1);
    wm_json_str(&j, "stage", wm_stage_name(stage));
    wm_json_str(&j, "reference", kind);
    wm_json_str(&j, "device", device);
    wm_json_str(&j, "model_id", c->id);
    config_json(&j, "model", c);
    pipeline_json(&j, c);
    wm_json_open(&j, "configs", '{', false);
    config_json(&j, "transformer", c);
    components_json(&j, c);
    wm_json_close(&j);
    workload_json(&j, wm_report_workload(r));
    wm_json_open(&j, "end2end", '{', true);
    wm_json_u64(&j, "loop_max_forwards", loop_max_forwards);
    wm_json_close(&j);
    wm_json_close(&j);
    return finish(&j, &b, "reference request", out, err);
}
