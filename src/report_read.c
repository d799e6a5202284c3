/* report_read.c — report.json back into a struct (see report_read.h), with jansson. Counts are
 * read exactly with json_integer_value (json_int_t is 64-bit; report.json never holds a count
 * above WM_COUNT_MAX = INT64_MAX), never through a double. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checked.h"
#include "report_read.h"

struct wm_report_file_priv {
    json_t *doc;     /* owns every string the struct points to */
    int32_t *slots;  /* open-addressing index: module index + 1, 0 = empty */
    size_t nslots;   /* a power of two, at least twice the module count */
};

static const char fix_rewrite[] =
    "regenerate it with 'wanmeter report': the report.json it writes, or --format json";

/* ---- id index ------------------------------------------------------------------------------ */

static uint64_t hash_id(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

int32_t wm_report_file_find(const wm_report_file *f, const char *id)
{
    const struct wm_report_file_priv *p = f->priv;
    if (!p || !p->nslots)
        return -1;
    for (size_t i = hash_id(id) & (p->nslots - 1);; i = (i + 1) & (p->nslots - 1)) {
        int32_t v = p->slots[i];
        if (v == 0)
            return -1;
        if (strcmp(f->modules[v - 1].id, id) == 0)
            return v - 1;
    }
}

/* Inserts module i; false if its id is already there. */
static bool index_insert(wm_report_file *f, int32_t i)
{
    struct wm_report_file_priv *p = f->priv;
    for (size_t k = hash_id(f->modules[i].id) & (p->nslots - 1);; k = (k + 1) & (p->nslots - 1)) {
        int32_t v = p->slots[k];
        if (v == 0) {
            p->slots[k] = i + 1;
            return true;
        }
        if (strcmp(f->modules[v - 1].id, f->modules[i].id) == 0)
            return false;
    }
}

/* ---- typed field reads ------------------------------------------------------------------- */

typedef struct reader {
    const char *name; /* file name for `what` */
    wm_error *err;
} reader;

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "unknown";
}

/* "totals" + "flops" -> "totals.flops"; "" + "model" -> "model" */
static void field_path(char *out, size_t cap, const char *at, const char *key)
{
    snprintf(out, cap, "%s%s%s", at, at[0] ? "." : "", key);
}

static wm_status missing(const reader *r, const char *at, const char *key)
{
    char path[160];
    field_path(path, sizeof path, at, key);
    return wm_error_set(r->err, WM_E_INPUT, r->name, fix_rewrite, "missing field '%s'", path);
}

static wm_status bad_type(const reader *r, const char *at, const char *key, const json_t *v,
                          const char *want)
{
    char path[160];
    field_path(path, sizeof path, at, key);
    return wm_error_set(r->err, WM_E_INPUT, r->name, fix_rewrite, "field '%s' must be %s, not %s",
                        path, want, type_name(v));
}

static const char count_range[] = "a whole number from 0 to 9223372036854775807";

/* A required (or, with `optional`, defaulted-to-0) count. */
static wm_status get_count(const reader *r, const json_t *obj, const char *at, const char *key,
                           bool optional, uint64_t *out)
{
    const json_t *v = json_object_get(obj, key);
    *out = 0;
    if (!v)
        return optional ? WM_OK : missing(r, at, key);
    if (!json_is_integer(v))
        return bad_type(r, at, key, v, count_range);
    json_int_t x = json_integer_value(v);
    if (x < 0) {
        char path[160];
        field_path(path, sizeof path, at, key);
        return wm_error_set(r->err, WM_E_INPUT, r->name, fix_rewrite,
                            "field '%s' is %lld; it must be %s", path, (long long)x, count_range);
    }
    *out = (uint64_t)x;
    return WM_OK;
}

static wm_status get_string(const reader *r, const json_t *obj, const char *at, const char *key,
                            bool optional, const char **out)
{
    const json_t *v = json_object_get(obj, key);
    *out = "";
    if (!v)
        return optional ? WM_OK : missing(r, at, key);
    if (!json_is_string(v))
        return bad_type(r, at, key, v, "a string");
    *out = json_string_value(v);
    return WM_OK;
}

static wm_status get_object(const reader *r, const json_t *obj, const char *at, const char *key,
                            json_t **out)
{
    json_t *v = json_object_get(obj, key);
    *out = v;
    if (!v)
        return missing(r, at, key);
    if (!json_is_object(v))
        return bad_type(r, at, key, v, "an object");
    return WM_OK;
}

/* ---- sections ------------------------------------------------------------------------------ */

static wm_status read_model(const reader *r, const json_t *root, wm_report_file *f)
{
    json_t *m;
    wm_status s = get_object(r, root, "", "model", &m);
    if (s == WM_OK)
        s = get_string(r, m, "model", "id", false, &f->model_id);
    if (s == WM_OK)
        s = get_string(r, m, "model", "variant", false, &f->model_variant);
    if (s == WM_OK)
        s = get_count(r, m, "model", "dim", true, &f->model_dim);
    if (s == WM_OK)
        s = get_count(r, m, "model", "num_layers", true, &f->model_num_layers);
    return s;
}

static wm_status read_workload(const reader *r, const json_t *root, wm_report_file *f)
{
    json_t *o;
    wm_workload *w = &f->workload;
    const char *profile = "", *dtype = "", *mode = "";
    wm_status s = get_object(r, root, "", "workload", &o);
    if (s == WM_OK)
        s = get_string(r, o, "workload", "profile_id", false, &profile);
    if (s == WM_OK && strlen(profile) >= sizeof w->profile_id)
        s = wm_error_set(r->err, WM_E_INPUT, r->name, fix_rewrite,
                         "field 'workload.profile_id' is longer than %zu characters",
                         sizeof w->profile_id - 1);
    if (s == WM_OK)
        snprintf(w->profile_id, sizeof w->profile_id, "%s", profile);
    const struct {
        const char *key;
        uint64_t *dst;
    } nums[] = {
        {"batch_size", &w->batch_size},
        {"num_frames", &w->num_frames},
        {"height", &w->height},
        {"width", &w->width},
        {"num_inference_steps", &w->num_inference_steps},
        {"text_len", &w->text_len},
        {"forwards_per_step", &f->forwards_per_step},
    };
    for (size_t i = 0; s == WM_OK && i < sizeof nums / sizeof nums[0]; i++)
        s = get_count(r, o, "workload", nums[i].key, false, nums[i].dst);
    if (s == WM_OK) {
        const json_t *cfg = json_object_get(o, "cfg");
        if (!cfg)
            s = missing(r, "workload", "cfg");
        else if (!json_is_boolean(cfg))
            s = bad_type(r, "workload", "cfg", cfg, "true or false");
        else
            w->cfg = json_is_true(cfg);
    }
    if (s == WM_OK)
        s = get_string(r, o, "workload", "dtype", false, &dtype);
    if (s == WM_OK && !wm_dtype_parse(dtype, &w->dtype))
        s = wm_error_set(r->err, WM_E_INPUT, r->name, fix_rewrite,
                         "field 'workload.dtype' is '%s'; it must be bf16, fp16 or fp32", dtype);
    if (s == WM_OK)
        s = get_string(r, o, "workload", "mode", false, &mode);
    if (s == WM_OK && !wm_mode_parse(mode, &w->mode))
        s = wm_error_set(r->err, WM_E_INPUT, r->name, fix_rewrite,
                         "field 'workload.mode' is '%s'; it must be torch, torch-cpu or full", mode);
    return s;
}

static wm_status read_totals(const reader *r, const json_t *root, wm_report_file *f)
{
    json_t *o;
    wm_totals *t = &f->totals;
    wm_status s = get_object(r, root, "", "totals", &o);
    const struct {
        const char *key;
        uint64_t *dst;
        bool optional;
    } fields[] = {
        {"flops", &t->flops, false},
        {"transformer_flops", &t->transformer_flops, true},
        {"flops_per_forward", &t->flops_per_forward, false},
        {"flops_per_step", &t->flops_per_step, true},
        {"forwards", &t->forwards, true},
        {"matrix_flops_per_forward", &t->matrix_flops_per_forward, true},
        {"vector_flops_per_forward", &t->vector_flops_per_forward, true},
        {"params", &t->params, false},
        {"weight_bytes", &t->weight_bytes, false},
        {"peak_activation_bytes", &t->peak_activation_bytes, false},
        {"kv_cache_bytes", &t->kv_cache_bytes, true},
        {"bytes_read_per_forward", &t->bytes_read_per_forward, true},
        {"bytes_written_per_forward", &t->bytes_written_per_forward, true},
    };
    for (size_t i = 0; s == WM_OK && i < sizeof fields / sizeof fields[0]; i++)
        s = get_count(r, o, "totals", fields[i].key, fields[i].optional, fields[i].dst);
    /* "stages" (optional): per-stage totals */
    const json_t *st = json_object_get(root, "stages");
    if (s == WM_OK && st && !json_is_array(st))
        s = wm_error_set(r->err, WM_E_INPUT, r->name, fix_rewrite,
                         "field 'stages' must be an array, not %s", type_name(st));
    for (size_t i = 0; s == WM_OK && st && i < json_array_size(st); i++) {
        const json_t *e = json_array_get(st, i), *sel;
        char at[32];
        const char *id = NULL;
        wm_stage k;
        snprintf(at, sizeof at, "stages[%zu]", i);
        if (!json_is_object(e)) {
            s = wm_error_set(r->err, WM_E_INPUT, r->name, fix_rewrite,
                             "'%s' must be an object, not %s", at, type_name(e));
            break;
        }
        s = get_string(r, e, at, "id", false, &id);
        if (s == WM_OK && !wm_stage_parse(id, &k))
            s = wm_error_set(r->err, WM_E_INPUT, r->name, fix_rewrite,
                             "field '%s.id' is '%s', not a pipeline stage", at, id);
        if (s != WM_OK)
            break;
        wm_stage_total *out = &t->stages[k];
        out->present = true;
        sel = json_object_get(e, "selected");
        out->selected = !sel || json_is_true(sel);
        const struct {
            const char *key;
            uint64_t *dst;
        } counts[] = {{"calls", &out->calls}, {"flops_per_call", &out->flops_per_call},
                      {"flops", &out->flops}, {"params", &out->params},
                      {"weight_bytes", &out->weight_bytes}};
        for (size_t c = 0; s == WM_OK && c < sizeof counts / sizeof counts[0]; c++)
            s = get_count(r, e, at, counts[c].key, c >= 3, counts[c].dst);
    }
    return s;
}

static wm_status read_module(const reader *r, const json_t *o, size_t i, wm_rmodule *md)
{
    char at[48];
    snprintf(at, sizeof at, "modules[%zu]", i);
    if (!json_is_object(o))
        return wm_error_set(r->err, WM_E_INPUT, r->name, fix_rewrite,
                            "'%s' must be an object, not %s", at, type_name(o));
    wm_status s = get_string(r, o, at, "id", false, &md->id);
    if (s == WM_OK && !md->id[0])
        s = wm_error_set(r->err, WM_E_INPUT, r->name, fix_rewrite, "field '%s.id' is empty", at);
    if (s == WM_OK) {
        const json_t *p = json_object_get(o, "parent");
        if (!p)
            s = missing(r, at, "parent");
        else if (json_is_null(p))
            md->parent = NULL;
        else if (json_is_string(p))
            md->parent = json_string_value(p);
        else
            s = bad_type(r, at, "parent", p, "a module id or null");
    }
    if (s == WM_OK)
        s = get_string(r, o, at, "op", false, &md->op);
    if (s == WM_OK)
        s = get_string(r, o, at, "category", false, &md->category);
    if (s == WM_OK)
        s = get_string(r, o, at, "aten", true, &md->aten);
    if (s == WM_OK)
        s = get_string(r, o, at, "stage", true, &md->stage);
    if (s == WM_OK)
        s = get_string(r, o, at, "shape", true, &md->shape);
    const struct {
        const char *key;
        uint64_t *dst;
        bool optional;
    } nums[] = {
        {"calls", &md->calls, false},
        {"flops", &md->flops, false},
        {"matrix_flops", &md->matrix_flops, true},
        {"vector_flops", &md->vector_flops, true},
        {"params", &md->params, false},
        {"weight_bytes", &md->weight_bytes, true},
        {"bytes_read", &md->bytes_read, false},
        {"bytes_written", &md->bytes_written, false},
    };
    for (size_t k = 0; s == WM_OK && k < sizeof nums / sizeof nums[0]; k++)
        s = get_count(r, o, at, nums[k].key, nums[k].optional, nums[k].dst);
    if (s == WM_OK && !wm_mul(md->calls, md->flops, &md->generation_flops))
        s = wm_error_set(r->err, WM_E_INPUT, r->name, fix_rewrite,
                         "'%s' (%s): calls x flops exceeds 9223372036854775807", at, md->id);
    return s;
}

static wm_status read_modules(const reader *r, const json_t *root, wm_report_file *f)
{
    const json_t *arr = json_object_get(root, "modules");
    if (!arr)
        return missing(r, "", "modules");
    if (!json_is_array(arr))
        return bad_type(r, "", "modules", arr, "an array");
    size_t n = json_array_size(arr);
    if (n > (size_t)INT32_MAX / 2)
        return wm_error_set(r->err, WM_E_INPUT, r->name, NULL, "too many modules (%zu)", n);
    size_t nslots = 16;
    while (nslots < 2 * n)
        nslots *= 2;
    f->modules = calloc(n ? n : 1, sizeof *f->modules);
    f->priv->slots = calloc(nslots, sizeof *f->priv->slots);
    if (!f->modules || !f->priv->slots)
        return wm_error_set(r->err, WM_E_INTERNAL, r->name, NULL, "out of memory");
    f->priv->nslots = nslots;
    wm_status s = WM_OK;
    for (size_t i = 0; s == WM_OK && i < n; i++) {
        s = read_module(r, json_array_get(arr, i), i, &f->modules[i]);
        f->module_count = i + 1;
        if (s == WM_OK && !index_insert(f, (int32_t)i))
            s = wm_error_set(r->err, WM_E_INPUT, r->name, fix_rewrite,
                             "modules[%zu]: duplicate module id '%s'", i, f->modules[i].id);
    }
    for (size_t i = 0; i < f->module_count; i++)
        f->modules[i].leaf = true;
    for (size_t i = 0; s == WM_OK && i < f->module_count; i++) {
        wm_rmodule *md = &f->modules[i];
        md->parent_index = -1;
        if (!md->parent)
            continue;
        md->parent_index = wm_report_file_find(f, md->parent);
        if (md->parent_index < 0)
            s = wm_error_set(r->err, WM_E_INPUT, r->name, fix_rewrite,
                             "modules[%zu].parent '%s' is not the id of any module", i,
                             md->parent);
        else
            f->modules[md->parent_index].leaf = false;
    }
    return s;
}

static wm_status read_notes(const reader *r, const json_t *root, wm_report_file *f)
{
    const json_t *arr = json_object_get(root, "notes");
    if (!arr)
        return WM_OK;
    if (!json_is_array(arr))
        return bad_type(r, "", "notes", arr, "an array of strings");
    size_t n = json_array_size(arr);
    f->notes = calloc(n ? n : 1, sizeof *f->notes);
    if (!f->notes)
        return wm_error_set(r->err, WM_E_INTERNAL, r->name, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(arr, i);
        if (!json_is_string(v))
            return wm_error_set(r->err, WM_E_INPUT, r->name, fix_rewrite,
                                "'notes[%zu]' must be a string, not %s", i, type_name(v));
        f->notes[f->note_count++] = json_string_value(v);
    }
    return WM_OK;
}

/* ---- entry points --------------------------------------------------------------------------- */

wm_status wm_report_file_parse(const char *text, size_t len, const char *name,
                               wm_report_file **out, wm_error *err)
{
    *out = NULL;
    wm_report_file *f = calloc(1, sizeof *f);
    if (f)
        f->priv = calloc(1, sizeof *f->priv);
    if (!f || !f->priv) {
        free(f);
        return wm_error_set(err, WM_E_INTERNAL, name, NULL, "out of memory");
    }
    snprintf(f->name, sizeof f->name, "%s", name);
    reader r = {.name = f->name, .err = err};
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    f->priv->doc = root;
    wm_status s = WM_OK;
    if (!root) {
        s = wm_error_set(err, WM_E_INPUT, f->name,
                         "check the file, or regenerate it with 'wanmeter report'",
                         "not valid JSON at %d:%d: %s", jerr.line, jerr.column, jerr.text);
        if (err) {
            err->line = jerr.line;
            err->column = jerr.column;
        }
    } else if (!json_is_object(root)) {
        s = wm_error_set(err, WM_E_INPUT, f->name, fix_rewrite,
                         "the top level must be an object, not %s", type_name(root));
    }
    if (s == WM_OK) {
        const json_t *v = json_object_get(root, "schema_version");
        if (!v)
            s = missing(&r, "", "schema_version");
        else if (!json_is_integer(v))
            s = bad_type(&r, "", "schema_version", v, "an integer");
        else if (json_integer_value(v) != WM_SCHEMA_VERSION)
            s = wm_error_set(err, WM_E_INPUT, f->name,
                             "regenerate it with this wanmeter's 'wanmeter report', or read it "
                             "with the wanmeter that wrote it",
                             "schema_version is %lld; wanmeter %s reads schema_version %d",
                             (long long)json_integer_value(v), WM_VERSION, WM_SCHEMA_VERSION);
    }
    if (s == WM_OK)
        s = read_model(&r, root, f);
    if (s == WM_OK)
        s = read_workload(&r, root, f);
    if (s == WM_OK)
        s = read_totals(&r, root, f);
    if (s == WM_OK)
        s = read_modules(&r, root, f);
    if (s == WM_OK)
        s = read_notes(&r, root, f);
    if (s != WM_OK) {
        wm_report_file_free(f);
        return s;
    }
    *out = f;
    return WM_OK;
}

wm_status wm_report_file_read(const char *path, wm_report_file **out, wm_error *err)
{
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    wm_status s = wm_read_file(path, &text, &len, err);
    if (s != WM_OK)
        return s;
    s = wm_report_file_parse(text, len, path, out, err);
    free(text);
    return s;
}

void wm_report_file_free(wm_report_file *f)
{
    if (!f)
        return;
    if (f->priv) {
        json_decref(f->priv->doc);
        free(f->priv->slots);
        free(f->priv);
    }
    free(f->modules);
    free(f->notes);
    free(f);
}

/* ---- hotspots ------------------------------------------------------------------------------ */

typedef struct ranked {
    uint64_t flops;
    size_t order;
} ranked;

static int by_flops_desc(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->flops != y->flops)
        return x->flops > y->flops ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

wm_status wm_report_file_hotspots(const wm_report_file *f, size_t top, wm_file_hotspots *out,
                                  wm_error *err)
{
    memset(out, 0, sizeof *out);
    const size_t n = f->module_count;
    const double total = (double)f->totals.flops;
    ranked *leaves = calloc(n ? n : 1, sizeof *leaves);
    ranked *cats = calloc(n ? n : 1, sizeof *cats);            /* flops, first module */
    out->modules = calloc(top < n ? (top ? top : 1) : (n ? n : 1), sizeof *out->modules);
    out->categories = calloc(n ? n : 1, sizeof *out->categories);
    if (!leaves || !cats || !out->modules || !out->categories) {
        free(leaves);
        free(cats);
        wm_file_hotspots_free(out);
        return wm_error_set(err, WM_E_INTERNAL, "hotspots", NULL, "out of memory");
    }
    size_t nl = 0, nc = 0;
    wm_status s = WM_OK;
    for (size_t i = 0; i < n && s == WM_OK; i++) {
        const wm_rmodule *md = &f->modules[i];
        wm_stage st;
        if (!md->leaf)
            continue;
        /* a stage --stages left out of totals.flops is out of the ranking too */
        if (md->stage && wm_stage_parse(md->stage, &st) && f->totals.stages[st].present &&
            !f->totals.stages[st].selected)
            continue;
        out->leaf_count++;
        if (md->generation_flops == 0)
            continue;
        leaves[nl++] = (ranked){md->generation_flops, i};
        size_t k = 0;
        while (k < nc && strcmp(f->modules[cats[k].order].category, md->category) != 0)
            k++;
        if (k == nc)
            cats[nc++] = (ranked){0, i};
        if (!wm_add(cats[k].flops, md->generation_flops, &cats[k].flops))
            s = wm_error_set(err, WM_E_INPUT, f->name, NULL,
                             "category '%s': whole-generation FLOPs exceed 9223372036854775807",
                             md->category);
    }
    wm_file_hotspot *groups = s == WM_OK ? calloc(nl ? nl : 1, sizeof *groups) : NULL;
    if (s == WM_OK && !groups)
        s = wm_error_set(err, WM_E_INTERNAL, "hotspots", NULL, "out of memory");
    if (s == WM_OK) {
        /* group the same layer of every block: leaves in file order, first instance kept */
        size_t ng = 0;
        for (size_t i = 0; i < nl; i++) {
            char pat[256];
            wm_id_pattern(f->modules[leaves[i].order].id, pat, sizeof pat);
            size_t k = 0;
            while (k < ng && strcmp(groups[k].id, pat) != 0)
                k++;
            if (k == ng) {
                memcpy(groups[ng].id, pat, sizeof pat);
                groups[ng++].module = leaves[i].order;
            }
            groups[k].instances++;
            groups[k].flops += leaves[i].flops; /* bounded by its category's checked sum */
        }
        for (size_t i = 0; i < ng; i++)
            leaves[i] = (ranked){groups[i].flops, i};
        qsort(leaves, ng, sizeof *leaves, by_flops_desc);
        for (size_t i = 0; i < ng && i < top; i++) {
            out->modules[out->module_count] = groups[leaves[i].order];
            out->modules[out->module_count++].share =
                total > 0 ? (double)leaves[i].flops / total : 0.0;
        }
        qsort(cats, nc, sizeof *cats, by_flops_desc);
        for (size_t i = 0; i < nc; i++)
            out->categories[out->category_count++] = (wm_file_category){
                .category = f->modules[cats[i].order].category,
                .flops = cats[i].flops,
                .share = total > 0 ? (double)cats[i].flops / total : 0.0,
            };
    }
    free(groups);
    free(leaves);
    free(cats);
    if (s != WM_OK)
        wm_file_hotspots_free(out);
    return s;
}

void wm_file_hotspots_free(wm_file_hotspots *h)
{
    free(h->modules);
    free(h->categories);
    memset(h, 0, sizeof *h);
}



