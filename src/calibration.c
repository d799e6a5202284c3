/*
 * calibration.c — reads a calibration file: published measurements of whole generations, each
 * with its source, the `wanmeter estimate` flags that describe the run, and the measured time
 * and peak memory (bench/calibration.yaml documents the format).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yaml_tree.h"

static wm_status bad(const wm_ynode *n, const char *what, const char *fix, const char *why,
                     wm_error *err)
{
    wm_error_set(err, WM_E_INPUT, what, fix, "%s", why);
    if (n)
        wm_ynode_mark(n, err);
    return WM_E_INPUT;
}

static wm_status read_row(const wm_ynode *row, size_t i, wm_calibration_row *out, wm_error *err)
{
    char path[64], what[128];
    snprintf(path, sizeof path, "rows[%zu]", i);
    const char *v = NULL;
    wm_status s;
    if ((s = wm_ynode_expect_map(row, path, err)) ||
        (s = wm_ymap_check_keys(row, path, "id, source, settings, args, measured", err)))
        return s;
    const struct {
        const char *key;
        char *dst;
        size_t cap;
    } strings[] = {{"id", out->id, sizeof out->id}, {"source", out->source, sizeof out->source}};
    for (size_t k = 0; k < 2; k++) {
        snprintf(what, sizeof what, "%s.%s", path, strings[k].key);
        const wm_ynode *n = wm_ymap_get(row, strings[k].key);
        if (!n)
            return bad(row, what, "add it", "is missing", err);
        if ((s = wm_ynode_string(n, what, &v, err)))
            return s;
        if (!*v || strlen(v) >= strings[k].cap)
            return bad(n, what, "write a non-empty, shorter text", *v ? "is too long" : "is empty",
                       err);
        snprintf(strings[k].dst, strings[k].cap, "%s", v);
    }
    snprintf(what, sizeof what, "%s.args", path);
    const wm_ynode *args = wm_ymap_get(row, "args");
    if (!args || args->kind != WM_Y_SEQ)
        return bad(args ? args : row, what, "list the estimate flags, one string each",
                   args ? "is not a list" : "is missing", err);
    if (args->count > sizeof out->args / sizeof out->args[0])
        return bad(args, what, "use fewer flags", "has too many entries", err);
    for (size_t k = 0; k < args->count; k++) {
        if ((s = wm_ynode_string(args->items[k], what, &v, err)))
            return s;
        if (!(out->args[k] = strdup(v)))
            return wm_error_set(err, WM_E_INTERNAL, what, NULL, "out of memory");
        out->argc++;
    }
    snprintf(what, sizeof what, "%s.measured", path);
    const wm_ynode *m = wm_ymap_get(row, "measured");
    if (!m || m->kind != WM_Y_MAP)
        return bad(m ? m : row, what, "give measured: {seconds: ..., peak_gb: ...}",
                   m ? "is not a mapping" : "is missing", err);
    if ((s = wm_ymap_check_keys(m, what, "seconds, peak_gb", err)))
        return s;
    const struct {
        const char *key;
        double *dst;
        bool required;
    } nums[] = {{"seconds", &out->seconds, true}, {"peak_gb", &out->peak_gb, false}};
    for (size_t k = 0; k < 2; k++) {
        snprintf(what, sizeof what, "%s.measured.%s", path, nums[k].key);
        const wm_ynode *n = wm_ymap_get(m, nums[k].key);
        if (!n) {
            if (nums[k].required)
                return bad(m, what, "add it", "is missing", err);
            continue;
        }
        if ((s = wm_ynode_double(n, what, nums[k].dst, err)))
            return s;
        if (*nums[k].dst <= 0.0)
            return bad(n, what, "use a number above 0", "is not positive", err);
    }
    return WM_OK;
}

wm_status wm_calibration_load(const char *path, wm_calibration *out, wm_error *err)
{
    memset(out, 0, sizeof *out);
    wm_ydoc *doc = NULL;
    wm_status s = wm_yaml_load_file(path, &doc, err);
    if (s == WM_OK)
        s = wm_yaml_resolve(doc, err);
    if (s != WM_OK) {
        wm_yaml_free(doc);
        return s;
    }
    const wm_ynode *root = doc->root;
    s = wm_ymap_check_keys(root, "", "about, tolerance, rows", err);
    const wm_ynode *tol = wm_ymap_get(root, "tolerance");
    out->tolerance = 0.15;
    if (s == WM_OK && tol && (s = wm_ynode_double(tol, "tolerance", &out->tolerance, err)) == WM_OK &&
        (out->tolerance <= 0.0 || out->tolerance >= 1.0))
        s = bad(tol, "tolerance", "use a fraction such as 0.15", "is out of range", err);
    const wm_ynode *rows = wm_ymap_get(root, "rows");
    if (s == WM_OK && (!rows || rows->kind != WM_Y_SEQ || rows->count == 0))
        s = bad(rows ? rows : root, "rows", "list the measurements under rows:",
                rows ? "is not a non-empty list" : "is missing", err);
    if (s == WM_OK && !(out->rows = calloc(rows->count, sizeof *out->rows)))
        s = wm_error_set(err, WM_E_INTERNAL, "calibration", NULL, "out of memory");
    for (size_t i = 0; s == WM_OK && i < rows->count; i++) {
        s = read_row(rows->items[i], i, &out->rows[i], err);
        out->count++;
    }
    wm_yaml_free(doc);
    if (s != WM_OK)
        wm_calibration_free(out);
    return s;
}

void wm_calibration_free(wm_calibration *c)
{
    for (size_t i = 0; i < c->count; i++)
        for (size_t k = 0; k < c->rows[i].argc; k++)
            free(c->rows[i].args[k]);
    free(c->rows);
    memset(c, 0, sizeof *c);
}
