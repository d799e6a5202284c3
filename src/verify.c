/*
 * verify.c — comparison of the analytic report with the PyTorch FlopCounterMode reference
 * (reference/wanmeter_reference.py), and the report's own invariants.
 *
 * The reference JSON lists, per module id (diffusers pipeline path, `transformer.blocks.0...`),
 * the FLOPs FlopCounterMode attributed to that module during one forward; a parent's count
 * includes its descendants', as in the report. Matching is by id; an id on one side only is a
 * failure, never a skip.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checked.h"
#include "model_internal.h"

double wm_rel_diff(uint64_t analytic, uint64_t reference)
{
    if (analytic == reference)
        return 0.0;
    if (reference == 0)
        return INFINITY;
    uint64_t diff = analytic > reference ? analytic - reference : reference - analytic;
    return (double)diff / (double)reference;
}

void wm_format_rel_diff(double rel, char *buf, size_t cap)
{
    if (rel == 0.0)
        snprintf(buf, cap, "0");
    else if (isinf(rel))
        snprintf(buf, cap, "inf");
    else
        snprintf(buf, cap, "%.3g", rel);
}

/* ---- reading the reference ---------------------------------------------------------------- */

typedef struct {
    const char *id;
    uint64_t flops;
} ref_module;

struct wm_reference {
    json_t *root;
    const char *path;
    char *path_copy;
    const char *device, *kind;
    wm_stage stage;
    char versions[160];
    bool attention_counted;
    uint64_t flops_per_forward;
    ref_module *modules; /* sorted by id */
    size_t count;
    json_t *end2end;
};

static wm_status bad(const char *path, const char *fix, const char *why, wm_error *err)
{
    return wm_error_set(err, WM_E_INPUT, path, fix, "%s", why);
}

static bool get_u64(json_t *obj, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

static int by_id(const void *a, const void *b)
{
    return strcmp(((const ref_module *)a)->id, ((const ref_module *)b)->id);
}

wm_status wm_reference_load(const char *path, wm_reference **out, wm_error *err)
{
    static const char regen[] = "regenerate it with reference/wanmeter_reference.py";
    *out = NULL;
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) {
        if (jerr.line <= 0 && strstr(jerr.text, "unable to open"))
            return wm_error_set(err, WM_E_IO, path, "check the path", "%s", jerr.text);
        wm_error_set(err, WM_E_INPUT, "reference", regen, "invalid JSON: %s", jerr.text);
        if (err) {
            snprintf(err->file, sizeof err->file, "%s", path);
            err->line = jerr.line;
            err->column = jerr.column;
        }
        return WM_E_INPUT;
    }
    wm_reference *ref = calloc(1, sizeof *ref);
    if (!ref) {
        json_decref(root);
        return wm_error_set(err, WM_E_INTERNAL, path, NULL, "out of memory");
    }
    ref->root = root;
    ref->path_copy = strdup(path);
    ref->path = ref->path_copy ? ref->path_copy : "reference";
    wm_status s = WM_OK;
    uint64_t version = 0;
    json_t *kind = json_object_get(root, "kind"), *mods = json_object_get(root, "modules");
    if (!json_is_string(kind) || strcmp(json_string_value(kind), "wanmeter-reference") != 0)
        s = bad(path, regen, "not a wanmeter reference (\"kind\" is not \"wanmeter-reference\")", err);
    else if (!get_u64(root, "schema_version", &version) || version != 1)
        s = bad(path, regen, "unsupported schema_version (wanmeter reads version 1)", err);
    else if (!json_is_string(json_object_get(root, "device")) ||
             !json_is_string(json_object_get(root, "reference")))
        s = bad(path, regen, "missing \"device\" or \"reference\"", err);
    else if (!get_u64(root, "flops_per_forward", &ref->flops_per_forward))
        s = bad(path, regen, "missing or negative \"flops_per_forward\"", err);
    else if (!json_is_array(mods) || json_array_size(mods) == 0)
        s = bad(path, regen, "\"modules\" is missing or empty", err);
    if (s == WM_OK) {
        ref->device = json_string_value(json_object_get(root, "device"));
        ref->kind = json_string_value(json_object_get(root, "reference"));
        ref->attention_counted = json_is_true(json_object_get(root, "attention_counted"));
        json_t *st = json_object_get(root, "stage");
        ref->stage = WM_STAGE_TRANSFORMER;
        if (st && (!json_is_string(st) || !wm_stage_parse(json_string_value(st), &ref->stage)))
            s = bad(path, regen, "\"stage\" is not a pipeline stage", err);
        json_t *tv = json_object_get(root, "torch_version"), *dv = json_object_get(root, "diffusers_version");
        snprintf(ref->versions, sizeof ref->versions, "torch %s, diffusers %s",
                 json_is_string(tv) ? json_string_value(tv) : "?",
                 json_is_string(dv) ? json_string_value(dv) : "?");
        ref->end2end = json_object_get(root, "end2end");
        ref->count = json_array_size(mods);
        ref->modules = calloc(ref->count, sizeof *ref->modules);
        if (!ref->modules)
            s = wm_error_set(err, WM_E_INTERNAL, path, NULL, "out of memory");
    }
    for (size_t i = 0; s == WM_OK && i < ref->count; i++) {
        json_t *m = json_array_get(mods, i), *id = json_object_get(m, "id");
        if (!json_is_string(id) || !get_u64(m, "flops", &ref->modules[i].flops)) {
            char why[96];
            snprintf(why, sizeof why, "modules[%zu] lacks a string \"id\" or an integer \"flops\"", i);
            s = bad(path, regen, why, err);
            break;
        }
        ref->modules[i].id = json_string_value(id);
    }
    if (s == WM_OK) {
        qsort(ref->modules, ref->count, sizeof *ref->modules, by_id);
        for (size_t i = 1; i < ref->count; i++)
            if (strcmp(ref->modules[i - 1].id, ref->modules[i].id) == 0) {
                char why[256];
                snprintf(why, sizeof why, "module id '%s' appears twice", ref->modules[i].id);
                s = bad(path, regen, why, err);
                break;
            }
    }
    if (s != WM_OK) {
        wm_reference_free(ref);
        return s;
    }
    *out = ref;
    return WM_OK;
}

void wm_reference_free(wm_reference *ref)
{
    if (!ref)
        return;
    json_decref(ref->root);
    free(ref->modules);
    free(ref->path_copy);
    free(ref);
}

const char *wm_reference_device(const wm_reference *ref) { return ref->device; }
wm_stage wm_reference_stage(const wm_reference *ref) { return ref->stage; }
const char *wm_reference_kind(const wm_reference *ref) { return ref->kind; }
const char *wm_reference_versions(const wm_reference *ref) { return ref->versions; }
bool wm_reference_attention_counted(const wm_reference *ref) { return ref->attention_counted; }
uint64_t wm_reference_flops_per_forward(const wm_reference *ref) { return ref->flops_per_forward; }

bool wm_reference_end2end(const wm_reference *ref, uint64_t *flops, const char **method,
                          uint64_t *forwards_run, uint64_t *forwards_per_generation)
{
    json_t *e = ref->end2end, *m = json_object_get(e, "method");
    if (!json_is_object(e) || !json_is_string(m) || !get_u64(e, "flops", flops) ||
        !get_u64(e, "forwards_run", forwards_run) ||
        !get_u64(e, "forwards_per_generation", forwards_per_generation))
        return false;
    *method = json_string_value(m);
    return true;
}

static const ref_module *find_ref(const wm_reference *ref, const char *id)
{
    ref_module key = {.id = id};
    return bsearch(&key, ref->modules, ref->count, sizeof key, by_id);
}

wm_status wm_reference_check_matches(const wm_reference *ref, const wm_report *r, wm_error *err)
{
    const wm_model_config *c = wm_model_get_config(wm_report_model(r));
    const wm_workload *w = wm_report_workload(r);
    const wm_geometry *g = wm_report_geometry(r);
    json_t *model = json_object_get(ref->root, "model"), *work = json_object_get(ref->root, "workload"),
           *geo = json_object_get(ref->root, "geometry");
    /* the transformer's config fields identify the model only for a transformer reference */
    const bool dit = ref->stage == WM_STAGE_TRANSFORMER || ref->stage == WM_STAGE_TRANSFORMER_2;
    /* the text and image encoders see no video: their references carry no latent geometry */
    const bool encoder = ref->stage == WM_STAGE_TEXT_ENCODER || ref->stage == WM_STAGE_IMAGE_ENCODER;
    const struct {
        json_t *obj;
        const char *key;
        uint64_t ours;
        bool transformer_only;
    } checks[] = {
        {model, "num_attention_heads", c->num_attention_heads, true},
        {model, "attention_head_dim", c->attention_head_dim, true},
        {model, "in_channels", c->in_channels, true},
        {model, "out_channels", c->out_channels, true},
        {model, "text_dim", c->text_dim, true},
        {model, "freq_dim", c->freq_dim, true},
        {model, "ffn_dim", c->ffn_dim, true},
        {model, "num_layers", c->num_layers, true},
        {work, "batch_size", w->batch_size, false},
        {work, "text_len", w->text_len, false},
        {geo, "latent_frames", g->latent_frames, false},
        {geo, "latent_height", g->latent_height, false},
        {geo, "latent_width", g->latent_width, false},
        {geo, "dit_seq_len", g->dit_seq_len, true},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        if ((checks[i].transformer_only && !dit) || (encoder && checks[i].obj == geo))
            continue;
        uint64_t theirs = 0;
        if (!get_u64(checks[i].obj, checks[i].key, &theirs))
            return wm_error_set(err, WM_E_INPUT, ref->path,
                                "regenerate it with reference/wanmeter_reference.py",
                                "the reference lacks %s", checks[i].key);
        if (theirs != checks[i].ours)
            return wm_error_set(err, WM_E_INPUT, ref->path,
                                "measure a reference for this model and workload, or pass the "
                                "same model and workload flags",
                                "the reference has %s = %llu, this report %llu", checks[i].key,
                                (unsigned long long)theirs, (unsigned long long)checks[i].ours);
    }
    return WM_OK;
}

/* ---- results -------------------------------------------------------------------------------- */

static bool push_row(wm_verify_result *res, size_t *cap, const char *id, wm_verify_kind kind,
                     uint64_t analytic, uint64_t reference, double tolerance)
{
    if (res->count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 256;
        wm_verify_row *rows = realloc(res->rows, ncap * sizeof *rows);
        if (!rows)
            return false;
        res->rows = rows;
        *cap = ncap;
    }
    char *copy = strdup(id);
    if (!copy)
        return false;
    int depth = 0;
    for (const char *p = id; *p; p++)
        depth += *p == '.';
    double rel = kind == WM_VERIFY_MATCH ? wm_rel_diff(analytic, reference) : INFINITY;
    bool pass = kind == WM_VERIFY_MATCH && wm_within(rel, tolerance);
    res->rows[res->count++] = (wm_verify_row){
        .id = copy, .depth = depth, .kind = kind, .analytic = analytic,
        .reference = reference, .rel_diff = rel, .pass = pass};
    res->failed += !pass;
    if (rel > res->max_rel_diff)
        res->max_rel_diff = rel;
    return true;
}

void wm_verify_result_free(wm_verify_result *res)
{
    if (!res)
        return;
    for (size_t i = 0; i < res->count; i++)
        free(res->rows[i].id);
    free(res->rows);
    *res = (wm_verify_result){0};
}

wm_status wm_verify_layers(const wm_report *r, const wm_reference *ref, double tolerance,
                           wm_verify_result *out, wm_error *err)
{
    *out = (wm_verify_result){0};
    const wm_model *m = wm_report_model(r);
    const wm_node *nodes = wm_model_nodes(m);
    const wm_counts *c = wm_report_counts(r);
    const size_t n = wm_model_node_count(m);
    bool *matched = calloc(ref->count ? ref->count : 1, sizeof *matched);
    size_t cap = 0;
    bool ok = matched != NULL;
    /* Analytic side, in tree order. Functional '#' ops are not modules; modules that do no
     * counted work (norms, activations) have no FlopCounterMode entry, and are skipped unless
     * the reference lists them. */
    for (size_t i = 0; ok && i < n; i++) {
        if (strchr(nodes[i].id, '#') || nodes[i].stage != ref->stage)
            continue;
        const ref_module *rm = find_ref(ref, nodes[i].id);
        if (rm) {
            matched[rm - ref->modules] = true;
            ok = push_row(out, &cap, nodes[i].id, WM_VERIFY_MATCH, c[i].matrix_flops, rm->flops,
                          tolerance);
        } else if (c[i].matrix_flops > 0) {
            ok = push_row(out, &cap, nodes[i].id, WM_VERIFY_MISSING_REFERENCE, c[i].matrix_flops,
                          0, tolerance);
        }
    }
    for (size_t j = 0; ok && j < ref->count; j++)
        if (!matched[j])
            ok = push_row(out, &cap, ref->modules[j].id, WM_VERIFY_MISSING_ANALYTIC, 0,
                          ref->modules[j].flops, tolerance);
    free(matched);
    if (!ok) {
        wm_verify_result_free(out);
        return wm_error_set(err, WM_E_INTERNAL, "verify", NULL, "out of memory");
    }
    return WM_OK;
}

/* ---- the report's own invariants ------------------------------------------------------------ */

wm_status wm_verify_core(const wm_report *r, double tolerance, wm_verify_result *out,
                         wm_error *err)
{
    *out = (wm_verify_result){0};
    const wm_model *m = wm_report_model(r);
    const wm_node *nodes = wm_model_nodes(m);
    const wm_counts *c = wm_report_counts(r);
    const wm_totals *t = wm_report_totals(r);
    const wm_workload *w = wm_report_workload(r);
    const size_t n = wm_model_node_count(m);
    size_t cap = 0;
    bool ok = true;

    /* 1. every container = the sum of its children (plus its own parameters, the
     * scale_shift_tables), recomputed here from the children independently of the evaluator;
     * one row per count, for the container that differs most. */
    wm_counts *sums = calloc(n ? n : 1, sizeof *sums);
    if (!sums)
        return wm_error_set(err, WM_E_INTERNAL, "verify", NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        int32_t p = nodes[i].parent;
        if (p < 0)
            continue;
        if (!wm_add(sums[p].flops, c[i].flops, &sums[p].flops) ||
            !wm_add(sums[p].params, c[i].params, &sums[p].params) ||
            !wm_add(sums[p].bytes_written, c[i].bytes_written, &sums[p].bytes_written)) {
            free(sums);
            return wm_error_set(err, WM_E_OVERFLOW, nodes[p].id, NULL, "sum of children overflows");
        }
    }
    for (size_t i = 0; i < n; i++)
        sums[i].params += nodes[i].params; /* bounded: params of a node <= its total */
    static const char *const what[3] = {"flops", "params", "bytes_written"};
    for (int k = 0; ok && k < 3; k++) {
        size_t worst = SIZE_MAX;
        double worst_rel = -1.0;
        uint64_t have = 0, want = 0;
        for (size_t i = 0; i < n; i++) {
            if (nodes[i].op != WM_OP_MODULE)
                continue;
            const uint64_t h[3] = {c[i].flops, c[i].params, c[i].bytes_written};
            const uint64_t x[3] = {sums[i].flops, sums[i].params, sums[i].bytes_written};
            double rel = wm_rel_diff(h[k], x[k]);
            if (rel > worst_rel) {
                worst_rel = rel;
                worst = i;
                have = h[k];
                want = x[k];
            }
        }
        if (worst == SIZE_MAX)
            continue;
        char id[320];
        snprintf(id, sizeof id, "containers = sum of children: %s (worst: %s)", what[k],
                 nodes[worst].id);
        ok = push_row(out, &cap, id, WM_VERIFY_MATCH, have, want, tolerance);
    }
    free(sums);

    /* 2. each model = its blocks + its top-level modules (roots with children) */
    for (size_t i = 0; ok && i < n; i++) {
        if (nodes[i].parent >= 0 || nodes[i].subtree_size == 1)
            continue;
        uint64_t parts = 0;
        for (size_t j = i + 1; ok && j < n; j++)
            if (nodes[j].parent == (int32_t)i)
                ok = wm_add(parts, c[j].flops, &parts);
        char id[320];
        snprintf(id, sizeof id, "%s flops = blocks + top-level modules", nodes[i].id);
        ok = ok && push_row(out, &cap, id, WM_VERIFY_MATCH, c[i].flops, parts, tolerance);
    }

    /* 3. the tree against the closed forms (FlopCounterMode's modes; full adds vector work) */
    uint64_t cf_flops = 0, cf_params = 0;
    wm_status s = wm_wan_dit_closed_form(wm_model_get_config(m), w, wm_report_geometry(r),
                                         &cf_flops, &cf_params, err);
    if (s != WM_OK) {
        wm_verify_result_free(out);
        return s;
    }
    ok = ok && push_row(out, &cap, "matrix FLOPs per forward = closed form", WM_VERIFY_MATCH,
                        t->matrix_flops_per_forward, cf_flops, tolerance);
    ok = ok && push_row(out, &cap, "transformer params = closed form", WM_VERIFY_MATCH,
                        t->stages[WM_STAGE_TRANSFORMER].params, cf_params, tolerance);

    /* 4. generation totals = per-forward x forwards */
    uint64_t gen = 0, step = 0;
    const uint64_t fps = wm_workload_forwards_per_step(w);
    if (!wm_mul(t->flops_per_forward, fps, &step) ||
        !wm_mul(step, w->num_inference_steps, &gen)) {
        wm_verify_result_free(out);
        return wm_error_set(err, WM_E_OVERFLOW, "totals", NULL, "overflow");
    }
    ok = ok && push_row(out, &cap, "flops per step = per forward x forwards per step",
                        WM_VERIFY_MATCH, t->flops_per_step, step, tolerance);
    ok = ok && push_row(out, &cap,
                        "transformer flops per generation = per forward x steps x forwards per step",
                        WM_VERIFY_MATCH, t->transformer_flops, gen, tolerance);
    /* 5. the generation = the selected stages */
    uint64_t stages = 0;
    for (int k = 0; ok && k < WM_STAGE_COUNT; k++)
        if (t->stages[k].selected)
            ok = wm_add(stages, t->stages[k].flops, &stages);
    ok = ok && push_row(out, &cap, "flops per generation = sum of the selected stages",
                        WM_VERIFY_MATCH, t->flops, stages, tolerance);
    if (!ok) {
        wm_verify_result_free(out);
        return wm_error_set(err, WM_E_INTERNAL, "verify", NULL, "out of memory");
    }
    return WM_OK;
}
